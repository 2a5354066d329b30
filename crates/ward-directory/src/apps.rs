//! Applications and their service principals (minimal: the OAuth issue extends them), and client
//! secrets, which are shown once and stored only as SHA-256 hashes.

use crate::{Directory, Result, decode, encode, secrets};
use time::Duration;
use uuid::Uuid;
use ward_core::DirectoryError;
use ward_core::app::{Application, KeyCredential, MAX_KEY_CREDENTIALS, PasswordCredential, ServicePrincipal};
use ward_core::ids::{ObjectId, ObjectKind, TenantId};
use ward_core::permissions::{
    AppRoleAssignment, GRAPH_APP_ID, GRAPH_DISPLAY_NAME, GRAPH_PERMISSIONS, GRAPH_RESOURCE_URI, OAuth2PermissionGrant, Permission, Resource,
};
use ward_core::store::{ListQuery, StoredCredential, WriteOp};

pub(crate) const CLIENT_SECRET: &str = "client_secret";

/// A client as the token endpoint sees it. Holds hashes, never secrets.
#[derive(Clone, Debug)]
pub struct ClientRecord {
    pub app: Application,
    pub secrets: Vec<(PasswordCredential, String)>,
    pub service_principal: Option<ServicePrincipal>,
}

impl ClientRecord {
    /// Constant-time against every stored secret of the app. A secret that matches only an
    /// expired (or not yet valid) credential is reported as `Expired`, so the caller can say so.
    pub fn check_secret(&self, presented: &str, now: time::OffsetDateTime) -> SecretCheck {
        let mut outcome = SecretCheck::Invalid;
        for (c, hash) in &self.secrets {
            if secrets::verify_client_secret(presented, hash) {
                let live = c.start_date_time <= now && now < c.end_date_time;
                outcome = if live || outcome == SecretCheck::Valid { SecretCheck::Valid } else { SecretCheck::Expired };
            }
        }
        outcome
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretCheck {
    Valid,
    Expired,
    Invalid,
    UnknownClient,
}

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
        self.create_application_with(tenant, display_name, |_| Ok(())).await
    }

    /// Registers an application configured by `configure` (redirect URIs, signing algorithm:
    /// the setters validate) before anything is written.
    pub async fn create_application_with(
        &self,
        tenant: TenantId,
        display_name: &str,
        configure: impl FnOnce(&mut Application) -> Result<()>,
    ) -> Result<(Application, ServicePrincipal)> {
        self.tenant(tenant).await?;
        let (mut app, sp, mut ops) = self.new_application_ops(tenant, display_name)?;
        configure(&mut app)?;
        if let Some(WriteOp::Insert { doc, .. }) = ops.first_mut() {
            *doc = encode(&app)?;
        }
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
        ops.push(crate::registrations::app_update(&updated, stored.version)?);
        self.commit(tenant, ops).await?;
        Ok((credential, secret))
    }

    /// Everything the token endpoint needs to know about a client, read together: the
    /// application, its secrets' hashes, and its service principal in this tenant.
    pub async fn client_record(&self, tenant: TenantId, client_id: Uuid) -> Result<Option<ClientRecord>> {
        let app = match self.application_by_app_id(tenant, client_id).await {
            Ok(app) => app,
            Err(DirectoryError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut secrets = Vec::with_capacity(app.password_credentials.len());
        for c in &app.password_credentials {
            if let Some(stored) = self.store.credential(tenant, app.id, CLIENT_SECRET, &c.key_id.to_string()).await? {
                secrets.push((c.clone(), stored.secret_hash));
            }
        }
        let service_principal = match self.service_principal_by_app_id(tenant, client_id).await {
            Ok(sp) => Some(sp),
            Err(DirectoryError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        Ok(Some(ClientRecord { app, secrets, service_principal }))
    }

    /// Checks a presented client secret for an application (by client id).
    pub async fn check_client_secret(&self, tenant: TenantId, client_id: Uuid, presented: &str) -> Result<SecretCheck> {
        Ok(match self.client_record(tenant, client_id).await? {
            Some(record) => record.check_secret(presented, self.clock.now()),
            None => SecretCheck::UnknownClient,
        })
    }

    /// True only for a live secret of the application.
    pub async fn verify_client_secret(&self, tenant: TenantId, client_id: Uuid, presented: &str) -> Result<bool> {
        Ok(self.check_client_secret(tenant, client_id, presented).await? == SecretCheck::Valid)
    }
}

/// Every application permission of Ward's API.
pub(crate) fn application_permissions() -> impl Iterator<Item = &'static Permission> {
    GRAPH_PERMISSIONS.iter().filter(|p| p.app_role_id.is_some())
}

impl Directory {
    fn builtin_resource(&self, tenant: TenantId) -> Result<ServicePrincipal> {
        let app_id = Uuid::parse_str(GRAPH_APP_ID).map_err(|e| DirectoryError::Internal(e.to_string()))?;
        Ok(ServicePrincipal {
            id: self.new_id(),
            app_id,
            display_name: GRAPH_DISPLAY_NAME.into(),
            account_enabled: true,
            service_principal_type: "Application".into(),
            app_owner_organization_id: tenant,
            created_date_time: self.clock.now(),
        })
    }

    pub(crate) fn builtin_resource_op(&self, tenant: TenantId) -> Result<(ServicePrincipal, WriteOp)> {
        let sp = self.builtin_resource(tenant)?;
        let op = WriteOp::Insert {
            kind: ObjectKind::ServicePrincipal,
            id: sp.id,
            unique_key: Some(format!("spappid:{}", sp.app_id)),
            doc: encode(&sp)?,
        };
        Ok((sp, op))
    }

    /// The service principal of Ward's built-in API resource in `tenant`, created if missing
    /// (stores initialized before it existed). Safe to call from many nodes at once.
    pub async fn ensure_builtin_resource(&self, tenant: TenantId) -> Result<ServicePrincipal> {
        let app_id = Uuid::parse_str(GRAPH_APP_ID).map_err(|e| DirectoryError::Internal(e.to_string()))?;
        if let Ok(sp) = self.service_principal_by_app_id(tenant, app_id).await {
            return Ok(sp);
        }
        let (sp, op) = self.builtin_resource_op(tenant)?;
        match self.commit(tenant, vec![op]).await {
            Ok(_) => Ok(sp),
            Err(DirectoryError::Conflict) => self.service_principal_by_app_id(tenant, app_id).await,
            Err(e) => Err(e),
        }
    }

    pub(crate) fn app_role_assignment_op(
        &self,
        principal: ObjectId,
        resource: &ServicePrincipal,
        role_id: Uuid,
    ) -> Result<(AppRoleAssignment, WriteOp)> {
        let assignment = AppRoleAssignment {
            id: self.new_id(),
            principal_id: principal,
            principal_type: "ServicePrincipal".into(),
            resource_id: resource.id,
            resource_app_id: resource.app_id,
            app_role_id: role_id,
            created_date_time: self.clock.now(),
        };
        let op = WriteOp::Insert {
            kind: ObjectKind::AppRoleAssignment,
            id: assignment.id,
            unique_key: Some(AppRoleAssignment::unique_key(principal, resource.id, role_id)),
            doc: encode(&assignment)?,
        };
        Ok((assignment, op))
    }

    /// Grants (as admin consent) an application permission of Ward's API to a service principal.
    pub async fn grant_app_role(&self, tenant: TenantId, principal: ObjectId, permission: &str) -> Result<AppRoleAssignment> {
        self.grant_app_role_on(tenant, principal, GRAPH_APP_ID, permission).await
    }

    /// Grants (as admin consent) an application permission (by value or id) that `resource_ref`
    /// defines — Ward's API or an application's own roles — to a service principal.
    pub async fn grant_app_role_on(
        &self,
        tenant: TenantId,
        principal: ObjectId,
        resource_ref: &str,
        role: &str,
    ) -> Result<AppRoleAssignment> {
        let (resource, resource_sp) = self.resource(tenant, resource_ref).await?.ok_or_else(|| {
            DirectoryError::invalid("resourceId", format!("no resource named '{}' in this tenant", ward_core::validate::clip(resource_ref)))
        })?;
        let (role_id, _) = resource.app_role(role).ok_or_else(|| {
            DirectoryError::invalid(
                "appRoleId",
                format!("'{}' is not an application permission of {}", ward_core::validate::clip(role), resource.display_name),
            )
        })?;
        self.load::<ServicePrincipal>(tenant, ObjectKind::ServicePrincipal, principal).await?;
        let (assignment, op) = self.app_role_assignment_op(principal, &resource_sp, role_id)?;
        self.commit_store(tenant, vec![op]).await.map_err(|e| match e {
            ward_core::store::StoreError::UniqueViolation(_) => DirectoryError::AlreadyMember { relation: "appRoleAssignments" },
            other => other.into(),
        })?;
        Ok(assignment)
    }

    /// The application permissions a service principal holds on a resource (by appId): one indexed
    /// look-up per permission the resource defines, so the cost does not grow with the tenant.
    pub async fn app_roles_of(&self, tenant: TenantId, principal: ObjectId, resource_app_id: Uuid) -> Result<Vec<AppRoleAssignment>> {
        let Some((resource, resource_sp)) = self.resource(tenant, &resource_app_id.to_string()).await? else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for (role, _) in &resource.app_roles {
            let key = AppRoleAssignment::unique_key(principal, resource_sp.id, *role);
            if let Some(stored) = self.store.object_by_key(tenant, ObjectKind::AppRoleAssignment, &key).await? {
                out.push(decode(&stored)?);
            }
        }
        Ok(out)
    }
}

impl Directory {
    /// Graph's `addKey`: registers a certificate (PEM or base64 DER) or a public JWK that the
    /// application signs client assertions with. A certificate's own validity bounds the key's;
    /// a JWK is valid for `lifetime` (at most 730 days, like secrets).
    pub async fn add_client_key(
        &self,
        tenant: TenantId,
        app_object_id: ObjectId,
        material: &str,
        display_name: Option<&str>,
        lifetime: Duration,
    ) -> Result<KeyCredential> {
        use ward_core::client_key::{certificate_der, parse_certificate, parse_jwk};
        let (mut app, stored): (Application, _) = self.load(tenant, ObjectKind::Application, app_object_id).await?;
        if app.key_credentials.len() >= MAX_KEY_CREDENTIALS {
            return Err(DirectoryError::invalid("keyCredentials", format!("an application has at most {MAX_KEY_CREDENTIALS} keys")));
        }
        let now = self.clock.now();
        let trimmed = material.trim();
        let credential = if trimmed.starts_with('{') {
            let jwk: serde_json::Value =
                serde_json::from_str(trimmed).map_err(|_| DirectoryError::invalid("keyCredentials", "the key is not valid JSON"))?;
            parse_jwk(&jwk)?;
            if lifetime <= Duration::ZERO || lifetime > MAX_SECRET_LIFETIME {
                return Err(DirectoryError::invalid("endDateTime", "a key must expire within 730 days"));
            }
            KeyCredential {
                key_id: self.rng.uuid(),
                display_name: ward_core::validate::optional_text("displayName", display_name, 256)?,
                key_type: KeyCredential::JWK.into(),
                usage: "Verify".into(),
                custom_key_identifier: None,
                start_date_time: now,
                end_date_time: now + lifetime,
                key: jwk.to_string(),
            }
        } else {
            let der = certificate_der(trimmed)?;
            let cert = parse_certificate(&der)?;
            if cert.not_after <= now {
                return Err(DirectoryError::invalid("keyCredentials", "the certificate has expired"));
            }
            use base64::Engine;
            let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
            KeyCredential {
                key_id: self.rng.uuid(),
                display_name: ward_core::validate::optional_text("displayName", display_name, 256)?,
                key_type: KeyCredential::CERTIFICATE.into(),
                usage: "Verify".into(),
                custom_key_identifier: Some(base64::engine::general_purpose::STANDARD.encode(sha1.as_ref())),
                start_date_time: cert.not_before,
                end_date_time: cert.not_after.min(now + MAX_SECRET_LIFETIME),
                key: base64::engine::general_purpose::STANDARD.encode(&der),
            }
        };
        app.key_credentials.push(credential.clone());
        let op = crate::registrations::app_update(&app, stored.version)?;
        self.commit(tenant, vec![op]).await?;
        Ok(credential)
    }

    /// Enables or disables a service principal: a disabled one gets no tokens.
    pub async fn set_service_principal_enabled(&self, tenant: TenantId, id: ObjectId, enabled: bool) -> Result<ServicePrincipal> {
        let (mut sp, stored): (ServicePrincipal, _) = self.load(tenant, ObjectKind::ServicePrincipal, id).await?;
        sp.account_enabled = enabled;
        let op = WriteOp::Update {
            kind: ObjectKind::ServicePrincipal,
            id,
            unique_key: Some(format!("spappid:{}", sp.app_id)),
            doc: encode(&sp)?,
            expected_version: stored.version,
        };
        self.commit(tenant, vec![op]).await?;
        Ok(sp)
    }
}

impl Directory {
    /// Records consent to delegated permissions of a resource (Ward's API, or an application that
    /// exposes one) for a client: for one user (`Principal`, the user's own consent) or for
    /// everyone (`AllPrincipals`, an administrator's). Adds to what was granted before; one grant
    /// object per client, resource and principal. OpenID Connect scopes belong to Ward's API.
    pub async fn grant_delegated(
        &self,
        tenant: TenantId,
        client: ObjectId,
        resource_ref: &str,
        principal: Option<ObjectId>,
        scopes: &[&str],
    ) -> Result<OAuth2PermissionGrant> {
        let (resource, _) = self.resource(tenant, resource_ref).await?.ok_or_else(|| {
            DirectoryError::invalid("resourceId", format!("no resource named '{}' in this tenant", ward_core::validate::clip(resource_ref)))
        })?;
        let mut values = Vec::with_capacity(scopes.len());
        for scope in scopes {
            let oidc = resource.is_graph() && ward_core::permissions::OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(scope));
            let value = match resource.scope(scope) {
                Some(s) => s.value.clone(),
                None if oidc => scope.to_ascii_lowercase(),
                None => {
                    return Err(DirectoryError::invalid(
                        "scope",
                        format!("'{}' is not a delegated permission of {}", ward_core::validate::clip(scope), resource.display_name),
                    ));
                }
            };
            values.push(value);
        }
        if values.is_empty() {
            return Err(DirectoryError::invalid("scope", "no permissions to grant"));
        }
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        self.load::<ServicePrincipal>(tenant, ObjectKind::ServicePrincipal, client).await?;
        let key = OAuth2PermissionGrant::unique_key(client, resource.service_principal, principal);
        for _ in 0..3 {
            let existing = self.store.object_by_key(tenant, ObjectKind::OAuth2PermissionGrant, &key).await?;
            let (grant, op) = match existing {
                Some(stored) => {
                    let mut grant: OAuth2PermissionGrant = decode(&stored)?;
                    let mut all: Vec<&str> = grant.scopes().collect();
                    for v in &values {
                        if !all.iter().any(|s| s.eq_ignore_ascii_case(v)) {
                            all.push(v);
                        }
                    }
                    grant.scope = all.join(" ");
                    let op = WriteOp::Update {
                        kind: ObjectKind::OAuth2PermissionGrant,
                        id: grant.id,
                        unique_key: Some(key.clone()),
                        doc: encode(&grant)?,
                        expected_version: stored.version,
                    };
                    (grant, op)
                }
                None => {
                    let grant = OAuth2PermissionGrant {
                        id: self.new_id(),
                        client_id: client,
                        consent_type: if principal.is_some() {
                            OAuth2PermissionGrant::PRINCIPAL
                        } else {
                            OAuth2PermissionGrant::ALL_PRINCIPALS
                        }
                        .to_string(),
                        principal_id: principal,
                        resource_id: resource.service_principal,
                        scope: values.join(" "),
                    };
                    let op = WriteOp::Insert {
                        kind: ObjectKind::OAuth2PermissionGrant,
                        id: grant.id,
                        unique_key: Some(key.clone()),
                        doc: encode(&grant)?,
                    };
                    (grant, op)
                }
            };
            // Two consents racing: the loser reads the winner's grant and adds to it.
            match self.commit(tenant, vec![op]).await {
                Ok(_) => return Ok(grant),
                Err(DirectoryError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(DirectoryError::Conflict)
    }

    /// The delegated permissions a client holds for a user on the given resources (service
    /// principal ids): the administrator's grants for everyone and the user's own. Two exact-key
    /// look-ups per resource.
    pub async fn delegated_grants(
        &self,
        tenant: TenantId,
        client: ObjectId,
        user: ObjectId,
        resources: &[ObjectId],
    ) -> Result<Vec<OAuth2PermissionGrant>> {
        let mut out = Vec::new();
        for resource in resources {
            for principal in [None, Some(user)] {
                let key = OAuth2PermissionGrant::unique_key(client, *resource, principal);
                if let Some(stored) = self.store.object_by_key(tenant, ObjectKind::OAuth2PermissionGrant, &key).await? {
                    out.push(decode(&stored)?);
                }
            }
        }
        Ok(out)
    }
}

impl Directory {
    /// The application that names itself by `uri` (one of its `identifierUris`), if any: a scan of
    /// the tenant's registrations, for the rare forms other than `api://{appId}`.
    pub async fn application_by_identifier_uri(&self, tenant: TenantId, uri: &str) -> Result<Option<Application>> {
        let uri = uri.trim_end_matches('/');
        let mut after = None;
        loop {
            let page = self.applications(tenant, after, 500).await?;
            let Some(last) = page.last() else { return Ok(None) };
            after = Some(last.id);
            if let Some(found) =
                page.into_iter().find(|a| a.identifier_uris.iter().any(|u| u.trim_end_matches('/').eq_ignore_ascii_case(uri)))
            {
                return Ok(Some(found));
            }
        }
    }

    /// Finds a resource by how clients name it: Ward's API (`https://graph.microsoft.com` or its
    /// appId), or an application by appId, `api://{appId}`, or one of its identifier URIs.
    pub async fn resource(&self, tenant: TenantId, reference: &str) -> Result<Option<(Resource, ServicePrincipal)>> {
        let reference = reference.trim_end_matches('/');
        if reference.eq_ignore_ascii_case(GRAPH_RESOURCE_URI) || reference.eq_ignore_ascii_case(GRAPH_APP_ID) {
            let sp = self.ensure_builtin_resource(tenant).await?;
            return Ok(Some((Resource::graph(sp.id), sp)));
        }
        let by_id = reference.strip_prefix("api://").unwrap_or(reference);
        let app = match Uuid::parse_str(by_id) {
            Ok(app_id) => match self.application_by_app_id(tenant, app_id).await {
                Ok(a) => Some(a),
                Err(DirectoryError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            },
            Err(_) => None,
        };
        let app = match app {
            Some(a) => Some(a),
            None => self.application_by_identifier_uri(tenant, reference).await?,
        };
        let Some(app) = app else { return Ok(None) };
        let sp = match self.service_principal_by_app_id(tenant, app.app_id).await {
            Ok(sp) => sp,
            Err(DirectoryError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some((app.as_resource(sp.id), sp)))
    }
}
