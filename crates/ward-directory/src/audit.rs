//! Audit records for directory writes: what a unit of work touched, in Graph's `directoryAudit`
//! terms, and the reads of the log.

use crate::{Directory, Result};
use serde_json::{Value, json};
use time::OffsetDateTime;
use ward_core::ObjectKind;
use ward_core::audit::{AuditContext, AuditQuery, AuditRecord};
use ward_core::ids::TenantId;
use ward_core::store::WriteOp;

fn type_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::User => "User",
        ObjectKind::Group => "Group",
        ObjectKind::Application => "Application",
        ObjectKind::ServicePrincipal => "ServicePrincipal",
        ObjectKind::RoleAssignment => "RoleAssignment",
        ObjectKind::AppRoleAssignment => "AppRoleAssignment",
        ObjectKind::OAuth2PermissionGrant => "OAuth2PermissionGrant",
        ObjectKind::ConditionalAccessPolicy => "Policy",
        ObjectKind::NamedLocation => "NamedLocation",
        ObjectKind::Device => "Device",
        ObjectKind::ScimToken => "ScimToken",
        ObjectKind::RiskyUser => "RiskyUser",
        ObjectKind::RiskDetection => "RiskDetection",
    }
}

fn target(id: String, kind: Option<ObjectKind>, doc: Option<&Value>) -> Value {
    let text = |k: &str| doc.and_then(|d| d.get(k)).cloned().unwrap_or(Value::Null);
    json!({
        "id": id,
        "type": kind.map(type_name).unwrap_or("DirectoryObject"),
        "displayName": text("displayName"),
        "userPrincipalName": text("userPrincipalName"),
    })
}

/// The objects a unit of work touched, each once, in the order first touched.
pub fn targets(ops: &[WriteOp]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut push = |t: Value| {
        if !out.iter().any(|o| o["id"] == t["id"]) {
            out.push(t);
        }
    };
    for op in ops {
        match op {
            WriteOp::Insert { kind, id, doc, .. }
            | WriteOp::Update { kind, id, doc, .. }
            | WriteOp::SoftDelete { kind, id, doc, .. }
            | WriteOp::Restore { kind, id, doc, .. } => {
                if *kind == ObjectKind::RoleAssignment {
                    // The principal and the role are what an administrator looks for.
                    if let Some(p) = doc.get("principalId").and_then(Value::as_str) {
                        push(target(p.to_string(), None, None));
                    }
                    if let Some(r) = doc.get("roleDefinitionId").and_then(Value::as_str) {
                        push(json!({ "id": r, "type": "Role", "displayName": Value::Null, "userPrincipalName": Value::Null }));
                    }
                } else {
                    push(target(id.to_string(), Some(*kind), Some(doc)));
                }
            }
            WriteOp::Purge { kind, id } => push(target(id.to_string(), Some(*kind), None)),
            WriteOp::AddLink { link, .. } => {
                push(target(link.group.to_string(), Some(ObjectKind::Group), None));
                push(target(link.member.to_string(), Some(link.member_kind), None));
            }
            WriteOp::RemoveLink { group, member, .. } => {
                push(target(group.to_string(), Some(ObjectKind::Group), None));
                push(target(member.to_string(), None, None));
            }
            WriteOp::SetCredential { object_kind, credential } => push(target(credential.object_id.to_string(), Some(*object_kind), None)),
            WriteOp::RemoveCredential { object_kind, object_id, .. } => push(target(object_id.to_string(), Some(*object_kind), None)),
            WriteOp::CreateTenant(_) | WriteOp::UpdateTenant(_) | WriteOp::Audit(_) => {}
        }
    }
    out
}

pub fn record(ctx: &AuditContext, at: OffsetDateTime, targets: Vec<Value>, result: &str, reason: &str) -> AuditRecord {
    AuditRecord {
        id: uuid::Uuid::new_v4(),
        activity_date_time: at,
        category: ctx.category.into(),
        activity_display_name: ctx.activity.into(),
        operation_type: ctx.operation_type.into(),
        result: result.into(),
        result_reason: reason.into(),
        correlation_id: ctx.correlation_id.clone(),
        logged_by_service: "Core Directory".into(),
        initiated_by: ctx.initiated_by.clone(),
        target_resources: targets,
    }
}

impl Directory {
    /// Records an activity that was refused (its change, if any, was not made).
    /// Records an activity that happened outside the directory's own writes (a sign-in method
    /// registered or removed), right after it did.
    pub async fn audit_success(&self, tenant: TenantId, ctx: &AuditContext, targets: Vec<Value>) -> Result<()> {
        let r = record(ctx, self.clock.now(), targets, "success", "");
        self.store.commit(tenant, self.clock.now(), vec![WriteOp::Audit(r)]).await?;
        Ok(())
    }

    pub async fn audit_failure(&self, tenant: TenantId, ctx: &AuditContext, targets: Vec<Value>, reason: &str) -> Result<()> {
        let r = record(ctx, self.clock.now(), targets, "failure", reason);
        self.store.commit(tenant, self.clock.now(), vec![WriteOp::Audit(r)]).await?;
        Ok(())
    }

    /// Audit records, newest first.
    pub async fn audit_records(&self, tenant: TenantId, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        Ok(self.store.audit_records(tenant, query).await?)
    }
}
