//! The directory audit log: who changed what, when, and whether it worked, in the shape of
//! Graph's `directoryAudit` (`/v1.0/auditLogs/directoryAudits`). A successful change is recorded
//! in the same transaction as the change itself; a refused one is recorded on its own.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// How long audit records are kept (Entra keeps directory audits 30 days with P1/P2).
pub const RETENTION: time::Duration = time::Duration::days(30);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub activity_date_time: OffsetDateTime,
    /// `UserManagement`, `GroupManagement`, `RoleManagement`, `ApplicationManagement`.
    pub category: String,
    /// What was done, e.g. `Add user`, `Add member to group`.
    pub activity_display_name: String,
    /// `Add`, `Update`, `Delete`, `Assign`, `Unassign`.
    pub operation_type: String,
    /// `success` or `failure`.
    pub result: String,
    pub result_reason: String,
    /// The request id of the call that made the change.
    pub correlation_id: String,
    pub logged_by_service: String,
    /// `{"app": {...}, "user": {...}}` as Graph shows the initiator.
    pub initiated_by: Value,
    /// `[{"id", "displayName", "type", "userPrincipalName"}]`.
    pub target_resources: Vec<Value>,
}

impl AuditRecord {
    /// The ids of the targets, for finding the records about one object.
    pub fn target_ids(&self) -> Vec<String> {
        self.target_resources.iter().filter_map(|t| t.get("id").and_then(Value::as_str)).map(str::to_string).collect()
    }
}

/// What the caller of a write is doing, set around the write by the surface that received it.
#[derive(Clone, Debug)]
pub struct AuditContext {
    pub initiated_by: Value,
    pub category: &'static str,
    pub activity: &'static str,
    pub operation_type: &'static str,
    pub correlation_id: String,
}

/// A page of audit records, newest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditQuery {
    /// Records strictly older than this position (`activityDateTime` in microseconds, id).
    pub before: Option<(i64, Uuid)>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    pub category: Option<String>,
    pub activity: Option<String>,
    pub result: Option<String>,
    pub target_id: Option<Uuid>,
    /// One record by its id.
    pub id: Option<Uuid>,
    pub limit: u32,
}
