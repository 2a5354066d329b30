//! The sign-in log: one record per sign-in attempt or token request Ward decided (Graph's
//! `signIn`), and how it is queried.

use crate::ids::{ObjectId, TenantId};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// How long records are kept (Entra keeps sign-ins for 30 days with a P1 licence).
pub const RETENTION: time::Duration = time::Duration::days(30);

#[derive(Clone, Debug, PartialEq)]
pub struct SignInRecord {
    pub tenant_id: TenantId,
    pub id: Uuid,
    pub created: OffsetDateTime,
    pub user_id: Option<ObjectId>,
    /// The client application (appId).
    pub app_id: Option<Uuid>,
    /// 0 on success, else the `AADSTS` code.
    pub error_code: i64,
    /// `success`, `failure` or `notApplied`.
    pub conditional_access_status: String,
    /// The whole record in Graph's `signIn` shape.
    pub doc: Value,
}

/// Which records to read, newest first.
#[derive(Clone, Debug, Default)]
pub struct SignInQuery {
    /// Records strictly older than this position (`createdDateTime` in microseconds, id).
    pub before: Option<(i64, Uuid)>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    pub user_id: Option<ObjectId>,
    pub app_id: Option<Uuid>,
    /// `Some(true)`: only successes (error code 0); `Some(false)`: only failures.
    pub succeeded: Option<bool>,
    pub error_code: Option<i64>,
    pub conditional_access_status: Option<String>,
    pub id: Option<Uuid>,
    pub limit: u32,
}
