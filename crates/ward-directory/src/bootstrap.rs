//! `ward init`: a tenant, its first Global Administrator (with a generated password), and an
//! automation application whose client secret holds admin rights, all in one unit of work.

use crate::{Directory, Result, encode, secrets};
use uuid::Uuid;
use ward_core::DirectoryError;
use ward_core::ids::{ObjectId, ObjectKind, TenantId};
use ward_core::roles::GLOBAL_ADMINISTRATOR;
use ward_core::store::{StoreError, WriteOp};
use ward_core::tenant::Tenant;
use ward_core::user::{NewUser, User};

pub const DEFAULT_TENANT_NAME: &str = "Default Directory";
pub const AUTOMATION_APP_NAME: &str = "Ward automation";

#[derive(Clone, Debug)]
pub struct InitRequest {
    pub tenant_name: String,
}

impl Default for InitRequest {
    fn default() -> Self {
        InitRequest { tenant_name: DEFAULT_TENANT_NAME.into() }
    }
}

/// What `ward init` prints once. The password and the secret are not stored anywhere in clear.
#[derive(Clone, Debug)]
pub struct InitOutcome {
    pub tenant: Tenant,
    pub admin_user_id: ObjectId,
    pub admin_upn: String,
    pub admin_password: String,
    pub client_id: Uuid,
    pub client_secret: String,
    pub service_principal_id: ObjectId,
}

impl Directory {
    /// Initializes an empty store. On a store that has a tenant already, changes nothing and
    /// answers `already_initialized`.
    pub async fn initialize(&self, request: InitRequest) -> Result<InitOutcome> {
        if let Some(existing) = self.store.tenants().await?.first() {
            return Err(DirectoryError::AlreadyInitialized(existing.id.to_string()));
        }
        let now = self.clock.now();
        let tenant = Tenant::new(TenantId::from_uuid(self.rng.uuid()), &request.tenant_name, now)?;
        let admin_upn = format!("admin@{}", tenant.initial_domain());
        let admin_password = secrets::generate_password(self.rng.as_ref());
        let admin = User::create(
            NewUser { user_principal_name: admin_upn.clone(), display_name: "Administrator".into(), ..Default::default() },
            self.new_id(),
            &tenant,
            now,
        )?;
        let (app, sp, app_ops) = self.new_application_ops(tenant.id, AUTOMATION_APP_NAME)?;
        let (app_with_secret, _credential, client_secret, secret_ops) =
            self.new_secret_ops(&app, Some("created by ward init"), crate::apps::MAX_SECRET_LIFETIME)?;

        let mut ops = vec![
            WriteOp::CreateTenant(tenant.clone()),
            WriteOp::Insert { kind: ObjectKind::User, id: admin.id, unique_key: Some(admin.unique_key()), doc: encode(&admin)? },
            self.password_op(&tenant, &admin, &admin_password).await?,
            self.role_assignment_insert(GLOBAL_ADMINISTRATOR, admin.id, ObjectKind::User)?,
        ];
        // The application is inserted with its secret's description already in place.
        for op in app_ops {
            ops.push(match op {
                WriteOp::Insert { kind: ObjectKind::Application, id, unique_key, .. } => {
                    WriteOp::Insert { kind: ObjectKind::Application, id, unique_key, doc: encode(&app_with_secret)? }
                }
                other => other,
            });
        }
        ops.extend(secret_ops);
        ops.push(self.role_assignment_insert(GLOBAL_ADMINISTRATOR, sp.id, ObjectKind::ServicePrincipal)?);
        // Ward's API as a resource, and admin consent for the automation app to all of it.
        let (resource, resource_op) = self.builtin_resource_op(tenant.id)?;
        ops.push(resource_op);
        for permission in crate::apps::application_permissions() {
            let role = permission
                .app_role_id
                .and_then(|id| Uuid::parse_str(id).ok())
                .ok_or_else(|| DirectoryError::Internal("an application permission without an id".into()))?;
            ops.push(self.app_role_assignment_op(sp.id, &resource, role)?.1);
        }

        match self.store.commit(tenant.id, now, ops).await {
            Ok(_) => {}
            // Another node initialized the same store a moment ago.
            Err(StoreError::DomainTaken(_)) | Err(StoreError::TenantExists) => {
                let existing = self.store.tenants().await?.first().map(|t| t.id.to_string()).unwrap_or_default();
                return Err(DirectoryError::AlreadyInitialized(existing));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(InitOutcome {
            admin_user_id: admin.id,
            admin_upn,
            admin_password,
            client_id: app.app_id,
            client_secret,
            service_principal_id: sp.id,
            tenant,
        })
    }
}
