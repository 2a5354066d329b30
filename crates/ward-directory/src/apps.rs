//! Applications and their service principals (minimal: the OAuth issue extends them), and client
//! secrets, which are shown once and stored only as SHA-256 hashes.

use crate::{Directory, Result, decode, encode, secrets};
use time::Duration;
use uuid::Uuid;
use ward_core::DirectoryError;
use ward_core::app::{Application, PasswordCredential, ServicePrincipal};
use ward_core::ids::{ObjectId, ObjectKind, TenantId};
use ward_core::store::{ListQuery, StoredCredential, WriteOp};

pub(crate) const CLIENT_SECRET: &str = "client_secret";

/// Entra's longest recommended client-secret lifetime.
pub const MAX_SECRET_LIFETIME: Duration = Duration::days(730);

impl Directory {
    pub(crate) fn new_application_ops(
        &self,
        tenant: TenantId,
        display_name: &str,
    ) -> Result<(Application, ServicePrincipal, Vec<WriteOp>)> {
        let now = self.clock.now();
        let app = Application::create(display_name, self.new_id(), self.rng.uuid(), now)?;
        let sp = app.home_service_principal(self.new_id(), tenant, now);
        let ops = vec![
            WriteOp::Insert {
                kind: ObjectKind::Application,
                id: app.id,
                unique_key: Some(format!("appid:{}", app.app_id)),
                doc: encode(&app)?,
            },
            WriteOp::Insert {
                kind: ObjectKind::ServicePrincipal,
                id: sp.id,
                unique_key: Some(format!("spappid:{}", sp.app_id)),
                doc: encode(&sp)?,
            },
        ];
        Ok((app, sp, ops))
    }

    /// Registers an application and creates its service principal in the same unit of work.
    pub async fn create_application(&self, tenant: TenantId, display_name: &str) -> Result<(Application, ServicePrincipal)> {
        self.tenant(tenant).await?;
        let (app, sp, ops) = self.new_application_ops(tenant, display_name)?;
        self.commit(tenant, ops).await?;
        Ok((app, sp))
    }

    pub async fn application_by_app_id(&self, tenant: TenantId, app_id: Uuid) -> Result<Application> {
        let stored = self.store.object_by_key(tenant, ObjectKind::Application, &format!("appid:{app_id}")).await?;
        decode(&stored.ok_or_else(|| DirectoryError::not_found(ObjectKind::Application, app_id))?)
    }

    pub async fn service_principal_by_app_id(&self, tenant: TenantId, app_id: Uuid) -> Result<ServicePrincipal> {
        let stored = self.store.object_by_key(tenant, ObjectKind::ServicePrincipal, &format!("spappid:{app_id}")).await?;
        decode(&stored.ok_or_else(|| DirectoryError::not_found(ObjectKind::ServicePrincipal, app_id))?)
    }

    pub async fn applications(&self, tenant: TenantId, after: Option<ObjectId>, limit: u32) -> Result<Vec<Application>> {
        let rows = self.store.objects(tenant, ObjectKind::Application, &ListQuery { deleted: false, after, limit }).await?;
        rows.iter().map(decode).collect()
    }

    /// Builds a new client secret for `app`: the updated application (with the credential's
    /// description), the secret (to show once), and the ops that store it hashed.
    pub(crate) fn new_secret_ops(
        &self,
        app: &Application,
        display_name: Option<&str>,
        lifetime: Duration,
    ) -> Result<(Application, PasswordCredential, String, Vec<WriteOp>)> {
        if lifetime <= Duration::ZERO || lifetime > MAX_SECRET_LIFETIME {
            return Err(DirectoryError::invalid("endDateTime", "a client secret must expire within 730 days"));
        }
        let now = self.clock.now();
        let secret = secrets::generate_client_secret(self.rng.as_ref());
        let credential = PasswordCredential {
            key_id: self.rng.uuid(),
            display_name: ward_core::validate::optional_text("displayName", display_name, 256)?,
            hint: secret.chars().take(3).collect(),
            start_date_time: now,
            end_date_time: now + lifetime,
        };
        let mut updated = app.clone();
        updated.password_credentials.push(credential.clone());
        let ops = vec![WriteOp::SetCredential {
            object_kind: ObjectKind::Application,
            credential: StoredCredential {
                object_id: app.id,
                kind: CLIENT_SECRET.into(),
                key_id: credential.key_id.to_string(),
                secret_hash: secrets::hash_client_secret(&secret),
                expires_at: Some(credential.end_date_time),
            },
        }];
        Ok((updated, credential, secret, ops))
    }

    /// Graph's `addPassword`: a new client secret, returned once and stored only as a hash.
    pub async fn add_client_secret(
        &self,
        tenant: TenantId,
        app_object_id: ObjectId,
        display_name: Option<&str>,
        lifetime: Duration,
    ) -> Result<(PasswordCredential, String)> {
        let (app, stored): (Application, _) = self.load(tenant, ObjectKind::Application, app_object_id).await?;
        let (updated, credential, secret, mut ops) = self.new_secret_ops(&app, display_name, lifetime)?;
        ops.push(WriteOp::Update {
            kind: ObjectKind::Application,
            id: app.id,
            unique_key: Some(format!("appid:{}", app.app_id)),
            doc: encode(&updated)?,
            expected_version: stored.version,
        });
        self.commit(tenant, ops).await?;
        Ok((credential, secret))
    }

    /// Checks a presented client secret for an application (by client id): constant-time, and an
    /// expired secret never matches.
    pub async fn verify_client_secret(&self, tenant: TenantId, client_id: Uuid, presented: &str) -> Result<bool> {
        let app = match self.application_by_app_id(tenant, client_id).await {
            Ok(app) => app,
            Err(DirectoryError::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let now = self.clock.now();
        let mut matched = false;
        for c in app.password_credentials.iter().filter(|c| c.end_date_time > now && c.start_date_time <= now) {
            if let Some(stored) = self.store.credential(tenant, app.id, CLIENT_SECRET, &c.key_id.to_string()).await? {
                matched |= secrets::verify_client_secret(presented, &stored.secret_hash);
            }
        }
        Ok(matched)
    }
}
