//! The change feed: one row for every directory write, appended in the same transaction as the
//! write, with a position that only grows. Provisioning, Shared Signals and revocation fan-out
//! consume it; per-node caches catch up from it.

use crate::ids::TenantId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What happened to the subject of a change-feed row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeType {
    Created,
    Updated,
    /// Soft-deleted: restorable for 30 days.
    Deleted,
    Restored,
    /// Gone for good.
    Purged,
    LinkAdded,
    LinkRemoved,
    /// A secret was set or removed; the row never carries the secret.
    CredentialChanged,
}

impl ChangeType {
    pub const ALL: [ChangeType; 8] = [
        ChangeType::Created,
        ChangeType::Updated,
        ChangeType::Deleted,
        ChangeType::Restored,
        ChangeType::Purged,
        ChangeType::LinkAdded,
        ChangeType::LinkRemoved,
        ChangeType::CredentialChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Created => "created",
            ChangeType::Updated => "updated",
            ChangeType::Deleted => "deleted",
            ChangeType::Restored => "restored",
            ChangeType::Purged => "purged",
            ChangeType::LinkAdded => "linkAdded",
            ChangeType::LinkRemoved => "linkRemoved",
            ChangeType::CredentialChanged => "credentialChanged",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// One row of the change feed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEvent {
    /// Strictly increasing across the whole store, in commit order.
    pub position: i64,
    pub tenant_id: TenantId,
    /// `tenant`, or an [`crate::ObjectKind`] name.
    pub subject_kind: String,
    pub subject_id: String,
    pub change: ChangeType,
    /// The object's new document for created/updated/deleted/restored; the link for link changes.
    pub payload: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
}
