//! Ward's directory domain: typed ids, entities and their validation, the transitive membership
//! engine, error codes, and the ports (`Store`, `Clock`, `Rng`) the rest of Ward plugs into.
//!
//! Pure: no I/O, no async runtime, no clock. Everything here is testable with plain unit tests.

pub mod app;
pub mod audit;
pub mod auth_methods_policy;
pub mod auth_strength;
pub mod change;
pub mod client_key;
pub mod clock;
pub mod error;
pub mod group;
pub mod ids;
pub mod index;
pub mod membership;
pub mod net;
pub mod password_policy;
pub mod permissions;
pub mod roles;
pub mod sign_in_log;
pub mod store;
pub mod tenant;
pub mod user;
pub mod validate;

pub use error::{DirectoryError, ErrorCode};
pub use ids::{ObjectId, ObjectKind, TenantId};

/// How long a soft-deleted user or group can be restored before it is purged (Entra: 30 days).
pub const RESTORE_WINDOW: time::Duration = time::Duration::days(30);
