//! Application registrations as Graph manages them (`/applications`, `/servicePrincipals`,
//! `/oauth2PermissionGrants`, app role assignments): the registration and its service principal
//! are separate objects here, as in Entra; deleting an application takes its home service
//! principal and everything granted to or by it along.

use crate::apps::CLIENT_SECRET;
use crate::{Directory, Result, decode, encode};
use uuid::Uuid;
use ward_core::DirectoryError;
use ward_core::app::{Application, ServicePrincipal};
use ward_core::ids::{ObjectId, ObjectKind, TenantId};
use ward_core::permissions::{AppRoleAssignment, OAuth2PermissionGrant};
use ward_core::store::{ListQuery, StoredObject, WriteOp};

/// Replaces an application's document, under optimistic concurrency.
pub(crate) fn app_update(app: &Application, version: i64) -> Result<WriteOp> {
    Ok(WriteOp::Update {
        kind: ObjectKind::Application,
        id: app.id,
        unique_key: Some(format!("appid:{}", app.app_id)),
        doc: encode(app)?,
        expected_version: version,
    })
}

impl Directory {
    /// Graph's `POST /applications`: the registration only; its service principal comes with
    /// `POST /servicePrincipals`.
    pub async fn register_application(
        &self,
        tenant: TenantId,
        display_name: &str,
        configure: impl FnOnce(&mut Application) -> Result<()>,
    ) -> Result<Application> {
        self.tenant(tenant).await?;
        let now = self.clock.now();
        let mut app = Application::create(display_name, self.new_id(), self.rng.uuid(), now)?;
        configure(&mut app)?;
        let op = WriteOp::Insert {
            kind: ObjectKind::Application,
            id: app.id,
            unique_key: Some(format!("appid:{}", app.app_id)),
            doc: encode(&app)?,
        };
        self.commit(tenant, vec![op]).await?;
        Ok(app)
    }

    pub async fn application(&self, tenant: TenantId, id: ObjectId) -> Result<Application> {
        Ok(self.load::<Application>(tenant, ObjectKind::Application, id).await?.0)
    }

    /// Changes an application with `change`, under optimistic concurrency.
    pub async fn update_application(
        &self,
        tenant: TenantId,
        id: ObjectId,
        change: impl FnOnce(&mut Application) -> Result<()>,
    ) -> Result<Application> {
        let (mut app, stored): (Application, StoredObject) = self.load(tenant, ObjectKind::Application, id).await?;
        let app_id = app.app_id;
        change(&mut app)?;
        if app.app_id != app_id || app.id != id {
            return Err(DirectoryError::invalid("appId", "appId and id are read-only"));
        }
        self.commit(tenant, vec![app_update(&app, stored.version)?]).await?;
        Ok(app)
    }

    /// Graph's `removePassword`.
    pub async fn remove_client_secret(&self, tenant: TenantId, id: ObjectId, key_id: Uuid) -> Result<()> {
        let (mut app, stored): (Application, StoredObject) = self.load(tenant, ObjectKind::Application, id).await?;
        let before = app.password_credentials.len();
        app.password_credentials.retain(|c| c.key_id != key_id);
        if app.password_credentials.len() == before {
            return Err(DirectoryError::NotFound { kind: None, id: key_id.to_string() });
        }
        let ops = vec![
            WriteOp::RemoveCredential {
                object_kind: ObjectKind::Application,
                object_id: id,
                kind: CLIENT_SECRET.into(),
                key_id: key_id.to_string(),
            },
            app_update(&app, stored.version)?,
        ];
        self.commit(tenant, ops).await?;
        Ok(())
    }

    /// Graph's `removeKey`.
    pub async fn remove_client_key(&self, tenant: TenantId, id: ObjectId, key_id: Uuid) -> Result<()> {
        let (mut app, stored): (Application, StoredObject) = self.load(tenant, ObjectKind::Application, id).await?;
        let before = app.key_credentials.len();
        app.key_credentials.retain(|c| c.key_id != key_id);
        if app.key_credentials.len() == before {
            return Err(DirectoryError::NotFound { kind: None, id: key_id.to_string() });
        }
        self.commit(tenant, vec![app_update(&app, stored.version)?]).await?;
        Ok(())
    }

    /// Graph's `DELETE /applications/{id}`: the registration, its home service principal, and the
    /// grants and assignments that name that principal, in one unit of work.
    pub async fn delete_application(&self, tenant: TenantId, id: ObjectId) -> Result<()> {
        let app = self.application(tenant, id).await?;
        let mut ops = Vec::new();
        if let Ok(sp) = self.service_principal_by_app_id(tenant, app.app_id).await {
            ops.extend(self.service_principal_purges(tenant, sp.id).await?);
        }
        ops.push(WriteOp::Purge { kind: ObjectKind::Application, id });
        self.commit(tenant, ops).await?;
        Ok(())
    }

    /// Graph's `POST /servicePrincipals {"appId"}`: the application's service principal here.
    pub async fn create_service_principal(&self, tenant: TenantId, app_id: Uuid) -> Result<ServicePrincipal> {
        let app = self.application_by_app_id(tenant, app_id).await?;
        let sp = app.home_service_principal(self.new_id(), tenant, self.clock.now());
        let op = WriteOp::Insert {
            kind: ObjectKind::ServicePrincipal,
            id: sp.id,
            unique_key: Some(format!("spappid:{}", sp.app_id)),
            doc: encode(&sp)?,
        };
        self.commit(tenant, vec![op]).await?;
        Ok(sp)
    }

    pub async fn service_principal(&self, tenant: TenantId, id: ObjectId) -> Result<ServicePrincipal> {
        Ok(self.load::<ServicePrincipal>(tenant, ObjectKind::ServicePrincipal, id).await?.0)
    }

    pub async fn service_principals(&self, tenant: TenantId, after: Option<ObjectId>, limit: u32) -> Result<Vec<ServicePrincipal>> {
        let rows = self.store.objects(tenant, ObjectKind::ServicePrincipal, &ListQuery { deleted: false, after, limit }).await?;
        rows.iter().map(decode).collect()
    }

    /// Graph's `DELETE /servicePrincipals/{id}`: with what was granted to or by it. Ward's own API
    /// cannot be deleted.
    pub async fn delete_service_principal(&self, tenant: TenantId, id: ObjectId) -> Result<()> {
        let sp = self.service_principal(tenant, id).await?;
        if sp.app_id.to_string() == ward_core::permissions::GRAPH_APP_ID {
            return Err(DirectoryError::invalid("id", "Ward's own API cannot be deleted"));
        }
        let ops = self.service_principal_purges(tenant, id).await?;
        self.commit(tenant, ops).await?;
        Ok(())
    }

    /// Purges of a service principal and of the consent records and role assignments naming it.
    async fn service_principal_purges(&self, tenant: TenantId, sp: ObjectId) -> Result<Vec<WriteOp>> {
        let mut ops = self.role_assignment_purges(tenant, sp).await?;
        for g in self.all_of::<OAuth2PermissionGrant>(tenant, ObjectKind::OAuth2PermissionGrant).await? {
            if g.client_id == sp || g.resource_id == sp {
                ops.push(WriteOp::Purge { kind: ObjectKind::OAuth2PermissionGrant, id: g.id });
            }
        }
        for a in self.all_of::<AppRoleAssignment>(tenant, ObjectKind::AppRoleAssignment).await? {
            if a.principal_id == sp || a.resource_id == sp {
                ops.push(WriteOp::Purge { kind: ObjectKind::AppRoleAssignment, id: a.id });
            }
        }
        ops.push(WriteOp::Purge { kind: ObjectKind::ServicePrincipal, id: sp });
        Ok(ops)
    }

    pub(crate) async fn all_of<T: serde::de::DeserializeOwned>(&self, tenant: TenantId, kind: ObjectKind) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.store.objects(tenant, kind, &ListQuery { deleted: false, after, limit: 1000 }).await?;
            let Some(last) = page.last() else { return Ok(out) };
            after = Some(last.id);
            for o in &page {
                out.push(decode(o)?);
            }
        }
    }

    /// Graph's `GET /oauth2PermissionGrants`, optionally only those of one client.
    pub async fn oauth2_permission_grants(&self, tenant: TenantId, client: Option<ObjectId>) -> Result<Vec<OAuth2PermissionGrant>> {
        let all: Vec<OAuth2PermissionGrant> = self.all_of(tenant, ObjectKind::OAuth2PermissionGrant).await?;
        Ok(all.into_iter().filter(|g| client.is_none_or(|c| g.client_id == c)).collect())
    }

    /// Graph's `DELETE /oauth2PermissionGrants/{id}`: withdraws consent.
    pub async fn delete_oauth2_permission_grant(&self, tenant: TenantId, id: ObjectId) -> Result<()> {
        self.load::<OAuth2PermissionGrant>(tenant, ObjectKind::OAuth2PermissionGrant, id).await?;
        self.commit(tenant, vec![WriteOp::Purge { kind: ObjectKind::OAuth2PermissionGrant, id }]).await?;
        Ok(())
    }

    /// Graph's `GET /servicePrincipals/{id}/appRoleAssignments`.
    pub async fn app_role_assignments_of(&self, tenant: TenantId, principal: ObjectId) -> Result<Vec<AppRoleAssignment>> {
        let all: Vec<AppRoleAssignment> = self.all_of(tenant, ObjectKind::AppRoleAssignment).await?;
        Ok(all.into_iter().filter(|a| a.principal_id == principal).collect())
    }

    /// Graph's `DELETE …/appRoleAssignments/{id}`.
    pub async fn delete_app_role_assignment(&self, tenant: TenantId, principal: ObjectId, id: ObjectId) -> Result<()> {
        let (a, _): (AppRoleAssignment, StoredObject) = self.load(tenant, ObjectKind::AppRoleAssignment, id).await?;
        if a.principal_id != principal {
            return Err(DirectoryError::not_found(ObjectKind::AppRoleAssignment, id));
        }
        self.commit(tenant, vec![WriteOp::Purge { kind: ObjectKind::AppRoleAssignment, id }]).await?;
        Ok(())
    }
}
