//! Directory role assignments: built-in roles held by users and service principals.

use crate::{Directory, Result, decode, encode};
use ward_core::DirectoryError;
use ward_core::ids::{ObjectId, ObjectKind, TenantId};
use ward_core::roles::{RoleAssignment, find_role};
use ward_core::store::{ListQuery, WriteOp};

impl Directory {
    /// Assigns a built-in role (by template id or display name) to a user or service principal.
    pub async fn assign_role(&self, tenant: TenantId, role: &str, principal: ObjectId) -> Result<RoleAssignment> {
        let op = self.role_assignment_op(tenant, role, principal).await?;
        let WriteOp::Insert { doc, .. } = &op else { unreachable!("role_assignment_op inserts") };
        let assignment: RoleAssignment = serde_json::from_value(doc.clone()).map_err(|e| DirectoryError::Internal(e.to_string()))?;
        self.commit(tenant, vec![op]).await?;
        Ok(assignment)
    }

    pub(crate) async fn role_assignment_op(&self, tenant: TenantId, role: &str, principal: ObjectId) -> Result<WriteOp> {
        let role = find_role(role).ok_or_else(|| {
            DirectoryError::invalid("roleDefinitionId", format!("'{}' is not a built-in role", ward_core::validate::clip(role)))
        })?;
        let target = self.directory_object(tenant, principal).await?;
        self.role_assignment_insert(role.template_id, principal, target.kind)
    }

    pub(crate) fn role_assignment_insert(&self, template_id: &str, principal: ObjectId, kind: ObjectKind) -> Result<WriteOp> {
        if !matches!(kind, ObjectKind::User | ObjectKind::ServicePrincipal) {
            return Err(DirectoryError::invalid("principalId", "roles are assigned to users and service principals"));
        }
        let assignment = RoleAssignment {
            id: self.new_id(),
            role_definition_id: template_id.to_string(),
            principal_id: principal,
            principal_kind: kind,
            directory_scope_id: "/".into(),
            created_date_time: self.clock.now(),
        };
        Ok(WriteOp::Insert {
            kind: ObjectKind::RoleAssignment,
            id: assignment.id,
            unique_key: Some(RoleAssignment::unique_key(template_id, principal)),
            doc: encode(&assignment)?,
        })
    }

    pub async fn role_assignments(&self, tenant: TenantId) -> Result<Vec<RoleAssignment>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.store.objects(tenant, ObjectKind::RoleAssignment, &ListQuery { deleted: false, after, limit: 1000 }).await?;
            let Some(last) = page.last() else { return Ok(out) };
            after = Some(last.id);
            for o in &page {
                out.push(decode(o)?);
            }
        }
    }

    /// The built-in roles (template ids) a principal holds.
    pub async fn roles_of(&self, tenant: TenantId, principal: ObjectId) -> Result<Vec<String>> {
        Ok(self.role_assignments(tenant).await?.into_iter().filter(|a| a.principal_id == principal).map(|a| a.role_definition_id).collect())
    }

    pub async fn remove_role_assignment(&self, tenant: TenantId, assignment: ObjectId) -> Result<()> {
        self.load::<RoleAssignment>(tenant, ObjectKind::RoleAssignment, assignment).await?;
        self.commit(tenant, vec![WriteOp::Purge { kind: ObjectKind::RoleAssignment, id: assignment }]).await?;
        Ok(())
    }

    /// The purges of a principal's role assignments, to go in the same unit of work as its purge.
    pub(crate) async fn role_assignment_purges(&self, tenant: TenantId, principal: ObjectId) -> Result<Vec<WriteOp>> {
        Ok(self
            .role_assignments(tenant)
            .await?
            .into_iter()
            .filter(|a| a.principal_id == principal)
            .map(|a| WriteOp::Purge { kind: ObjectKind::RoleAssignment, id: a.id })
            .collect())
    }
}
