//! The store ports: what the directory needs from storage, whatever the backend.
//!
//! Writes are units of work: a list of [`WriteOp`]s committed in one transaction, each appending
//! its own change-feed row in that same transaction. There is no way to write without the feed.

use crate::change::ChangeEvent;
use crate::error::DirectoryError;
use crate::ids::{ObjectId, ObjectKind, TenantId};
use crate::tenant::Tenant;
use crate::validate::DomainName;
use async_trait::async_trait;
use time::OffsetDateTime;

/// A relationship between a group and another directory object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Relation {
    Member,
    Owner,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Member => "member",
            Relation::Owner => "owner",
        }
    }
    /// Graph's property name, for error messages.
    pub fn property(self) -> &'static str {
        match self {
            Relation::Member => "members",
            Relation::Owner => "owners",
        }
    }
}

/// `member` (or `owner`) of `group`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Link {
    pub group: ObjectId,
    pub member: ObjectId,
    pub member_kind: ObjectKind,
}

/// An object as stored: its JSON document, a version for optimistic concurrency, deletion time.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredObject {
    pub tenant_id: TenantId,
    pub kind: ObjectKind,
    pub id: ObjectId,
    pub doc: serde_json::Value,
    pub version: i64,
    pub deleted_at: Option<OffsetDateTime>,
}

/// A hashed secret (password hash, client-secret hash). Never the secret itself.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredCredential {
    pub object_id: ObjectId,
    pub kind: String,
    pub key_id: String,
    pub secret_hash: String,
    pub expires_at: Option<OffsetDateTime>,
}

/// One step of a unit of work.
#[derive(Clone, Debug)]
pub enum WriteOp {
    CreateTenant(Tenant),
    /// Replaces the tenant document; new domains must not belong to another tenant.
    UpdateTenant(Tenant),
    Insert {
        kind: ObjectKind,
        id: ObjectId,
        unique_key: Option<String>,
        doc: serde_json::Value,
    },
    /// Fails with [`StoreError::VersionConflict`] unless the stored version is `expected_version`.
    Update {
        kind: ObjectKind,
        id: ObjectId,
        unique_key: Option<String>,
        doc: serde_json::Value,
        expected_version: i64,
    },
    SoftDelete {
        kind: ObjectKind,
        id: ObjectId,
        at: OffsetDateTime,
        doc: serde_json::Value,
    },
    Restore {
        kind: ObjectKind,
        id: ObjectId,
        unique_key: Option<String>,
        doc: serde_json::Value,
    },
    /// Removes the object, its links in both directions and its credentials.
    Purge {
        kind: ObjectKind,
        id: ObjectId,
    },
    /// A directory audit record (no change-feed row: it is about the other ops, not a change).
    Audit(crate::audit::AuditRecord),
    /// Both ends must exist and be live; a `Member` link between groups that would close a cycle
    /// is refused with [`StoreError::Cycle`].
    AddLink {
        relation: Relation,
        link: Link,
    },
    RemoveLink {
        relation: Relation,
        group: ObjectId,
        member: ObjectId,
    },
    SetCredential {
        object_kind: ObjectKind,
        credential: StoredCredential,
    },
    RemoveCredential {
        object_kind: ObjectKind,
        object_id: ObjectId,
        kind: String,
        key_id: String,
    },
}

/// A token-signing key as stored: the private half sealed under the key-encryption key.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSigningKey {
    pub kid: String,
    pub alg: String,
    pub public_jwk: serde_json::Value,
    pub sealed_private: String,
    pub created_at: OffsetDateTime,
    /// Set when a newer key took over; the key stays published until then, so tokens it signed
    /// still verify, and is deleted after.
    pub retire_at: Option<OffsetDateTime>,
}

/// A person's sign-in at Ward (the browser's single sign-on session). The cookie holds a random
/// secret; the store holds only its SHA-256.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSession {
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    pub user_id: ObjectId,
    pub secret_hash: String,
    pub auth_time: OffsetDateTime,
    /// Space-separated authentication methods (RFC 8176), e.g. `pwd`.
    pub amr: String,
    pub expires_at: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
    /// The session also ends when this passes without use (it slides while in use, never past
    /// `expires_at`); `None` for no idle limit.
    pub idle_until: Option<OffsetDateTime>,
    /// The person chose to stay signed in: the cookie outlives the browser.
    pub persistent: bool,
    /// The risk of the sign-in that started the session (Identity Protection's real-time
    /// detectors): its level followed by the detections' `riskEventType`s, space-separated, e.g.
    /// `medium unfamiliarFeatures`; empty when nothing was judged.
    pub sign_in_risk: String,
    /// The id of the request that checked the sign-in's first factor (its detections' requestId,
    /// its log records' originalRequestId); empty when not known.
    pub sign_in_request: String,
}

/// One authorization of a client by a user: the chain of a code, the refresh tokens rotated
/// from it, and the access tokens they bought (which carry its id as `sid`). Revoking it ends
/// all of them.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredGrant {
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    /// The browser session it came from, if any: ending that session revokes the grant.
    pub session_id: Option<uuid::Uuid>,
    pub client_id: uuid::Uuid,
    pub user_id: ObjectId,
    pub created_at: OffsetDateTime,
    /// When nothing it issued can still be valid; it may be purged after.
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

/// A single-use handle of a grant (authorization code, refresh token, device code), stored by
/// the SHA-256 of its value, with what redeeming it needs in `doc`.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredHandle {
    pub hash: String,
    pub tenant_id: TenantId,
    /// `code`, `refresh`, …
    pub kind: String,
    pub grant_id: uuid::Uuid,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    pub doc: serde_json::Value,
}

/// What redeeming a handle found.
#[derive(Clone, Debug, PartialEq)]
pub enum Redeemed {
    /// It was unused; now it is used (and its replacement, if any, stored).
    Fresh(StoredHandle),
    /// It had been used before: its grant is now revoked.
    Replayed(StoredHandle),
    Unknown,
}

/// A device authorization request (RFC 8628).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredDeviceCode {
    pub device_hash: String,
    pub tenant_id: TenantId,
    /// Normalized: upper case, no separator.
    pub user_code: String,
    pub client_id: uuid::Uuid,
    /// What the token endpoint needs: scopes asked for, whether the client is public.
    pub doc: serde_json::Value,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub last_poll_at: Option<OffsetDateTime>,
    pub status: DeviceCodeStatus,
    pub user_id: Option<ObjectId>,
    pub auth_time: Option<OffsetDateTime>,
    pub amr: Option<String>,
    pub grant_id: Option<uuid::Uuid>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceCodeStatus {
    Pending,
    Approved,
    Denied,
    Redeemed,
}

impl DeviceCodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceCodeStatus::Pending => "pending",
            DeviceCodeStatus::Approved => "approved",
            DeviceCodeStatus::Denied => "denied",
            DeviceCodeStatus::Redeemed => "redeemed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [DeviceCodeStatus::Pending, DeviceCodeStatus::Approved, DeviceCodeStatus::Denied, DeviceCodeStatus::Redeemed]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// Who approved a device code, and how they had signed in.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceApproval {
    pub user_id: ObjectId,
    pub auth_time: OffsetDateTime,
    pub amr: String,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ListQuery {
    /// List the deleted-items container instead of live objects.
    pub deleted: bool,
    /// Keyset paging: objects with an id greater than this.
    pub after: Option<ObjectId>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    #[error("unique key already taken: {0}")]
    UniqueViolation(String),
    #[error("domain already belongs to a tenant: {0}")]
    DomainTaken(String),
    #[error("tenant already exists")]
    TenantExists,
    #[error("{kind} {id} not found")]
    NotFound { kind: String, id: String },
    #[error("version conflict")]
    VersionConflict,
    #[error("already linked")]
    AlreadyLinked,
    #[error("not linked")]
    NotLinked,
    #[error("membership cycle")]
    Cycle,
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A query the store cannot answer (an unindexed property): a bug in the caller.
    #[error("invalid query: {0}")]
    Invalid(String),
}

impl From<StoreError> for DirectoryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UniqueViolation(key) if key.starts_with("upn:") => DirectoryError::DuplicateUserPrincipalName,
            StoreError::UniqueViolation(key) if key.starts_with("role:") => DirectoryError::AlreadyMember { relation: "roleAssignments" },
            StoreError::UniqueViolation(_) | StoreError::VersionConflict => DirectoryError::Conflict,
            StoreError::DomainTaken(d) => DirectoryError::DuplicateDomain(d),
            StoreError::TenantExists => DirectoryError::Conflict,
            StoreError::NotFound { kind, id } => DirectoryError::NotFound { kind: ObjectKind::parse(&kind), id },
            StoreError::AlreadyLinked => DirectoryError::AlreadyMember { relation: "members" },
            StoreError::NotLinked => DirectoryError::NotMember { relation: "members", member: String::new(), of: String::new() },
            StoreError::Cycle => DirectoryError::MembershipCycle { group: String::new(), member: String::new() },
            StoreError::Unavailable(m) => DirectoryError::StorageUnavailable(m),
            StoreError::Corrupt(m) => DirectoryError::Internal(m),
            StoreError::Invalid(m) => DirectoryError::Internal(m),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// How failures turn into locks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LockoutPolicy {
    pub threshold: u32,
    pub first: time::Duration,
    pub max: time::Duration,
    /// Failures older than this are forgotten.
    pub forget: time::Duration,
}

/// An authentication method of a user besides the password (an authenticator app so far).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAuthMethod {
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    pub user_id: ObjectId,
    /// `totp`.
    pub kind: String,
    /// What is shown about it (display name and the like), in Graph's property names.
    pub doc: serde_json::Value,
    /// A secret that must be read back (a TOTP seed), sealed under the key-encryption key.
    pub secret_sealed: Option<String>,
    /// The last one-time-code time step accepted.
    pub last_step: Option<i64>,
    pub created_at: OffsetDateTime,
}

/// Storage for the whole directory. Implemented for SQLite and PostgreSQL; one conformance suite
/// holds both to the same behaviour.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// A cheap, synchronous token that changes whenever any transaction commits to the store, from
    /// any process; `None` when the backend cannot tell without a query (then ask the store).
    /// Lets hot paths skip reading the change-feed head when nothing was written.
    fn change_token(&self) -> Option<[u8; 48]> {
        None
    }
    async fn ping(&self) -> StoreResult<()>;

    /// Applies `ops` in order in one transaction; each appends its change-feed row. Returns the
    /// position of the last row written.
    async fn commit(&self, tenant: TenantId, at: OffsetDateTime, ops: Vec<WriteOp>) -> StoreResult<i64>;

    async fn tenants(&self) -> StoreResult<Vec<Tenant>>;
    async fn tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>>;
    async fn tenant_by_domain(&self, domain: &DomainName) -> StoreResult<Option<Tenant>>;

    /// Live or deleted.
    async fn object(&self, tenant: TenantId, kind: ObjectKind, id: ObjectId) -> StoreResult<Option<StoredObject>>;
    /// Any kind, live or deleted: for `directoryObjects/{id}`-style look-ups.
    async fn any_object(&self, tenant: TenantId, id: ObjectId) -> StoreResult<Option<StoredObject>>;
    /// Live objects only.
    async fn object_by_key(&self, tenant: TenantId, kind: ObjectKind, unique_key: &str) -> StoreResult<Option<StoredObject>>;
    /// In id order.
    async fn objects(&self, tenant: TenantId, kind: ObjectKind, query: &ListQuery) -> StoreResult<Vec<StoredObject>>;
    async fn count_objects(&self, tenant: TenantId, kind: ObjectKind, deleted: bool) -> StoreResult<i64>;
    /// One page of objects matching a query over the property index, in the query's order, each
    /// with its sort value (for the next page's keyset).
    async fn query_objects(&self, tenant: TenantId, query: &crate::index::ObjectQuery) -> StoreResult<Vec<(StoredObject, Option<String>)>>;
    /// Until when `key` is locked out, if it is.
    async fn locked_until(&self, tenant: TenantId, key: &str, now: OffsetDateTime) -> StoreResult<Option<OffsetDateTime>>;
    /// The counters among `keys` (at most three) that exist, each with its lock if still in force,
    /// and, for `familiar` = (user, network, since), when that user last signed in from that
    /// network: one read for everything a password sign-in checks.
    async fn lockouts(
        &self,
        tenant: TenantId,
        keys: &[&str],
        familiar: Option<(ObjectId, &str, OffsetDateTime)>,
        now: OffsetDateTime,
    ) -> StoreResult<(Vec<(String, Option<OffsetDateTime>)>, Option<OffsetDateTime>)>;
    /// Counts one more failure for `key` (one transaction, so nodes count together): from the
    /// `threshold`-th on, a lock of `first` that doubles with each further failure, up to `max`.
    /// Failures older than `forget` no longer count. Returns the lock, if any.
    async fn record_lockout_failure(
        &self,
        tenant: TenantId,
        key: &str,
        now: OffsetDateTime,
        policy: &LockoutPolicy,
    ) -> StoreResult<Option<OffsetDateTime>>;
    async fn clear_lockout(&self, tenant: TenantId, key: &str) -> StoreResult<()>;
    /// Drops counters idle since `cutoff`.
    async fn purge_lockouts(&self, cutoff: OffsetDateTime) -> StoreResult<u64>;
    /// Remembers that `user` signed in from network `source` at `at`.
    async fn remember_source(&self, tenant: TenantId, user: ObjectId, source: &str, at: OffsetDateTime) -> StoreResult<()>;
    /// Forgets networks not seen since `cutoff`.
    async fn purge_sources(&self, cutoff: OffsetDateTime) -> StoreResult<u64>;
    /// A user's most recent sign-in sessions, newest first.
    /// A user's sign-in profile document (Identity Protection), if one was saved.
    async fn sign_in_profile(&self, tenant: TenantId, user: ObjectId) -> StoreResult<Option<String>>;
    /// Saves sign-in profile documents (tenant, user, document, when), in one transaction.
    async fn save_sign_in_profiles(&self, profiles: &[(TenantId, ObjectId, String, OffsetDateTime)]) -> StoreResult<()>;
    /// Deletes profiles not updated since `cutoff`.
    async fn purge_sign_in_profiles(&self, cutoff: OffsetDateTime) -> StoreResult<u64>;
    async fn sessions_of(&self, tenant: TenantId, user: ObjectId, limit: u32) -> StoreResult<Vec<StoredSession>>;
    async fn add_auth_method(&self, method: &StoredAuthMethod) -> StoreResult<()>;
    async fn auth_methods(&self, tenant: TenantId, user: ObjectId) -> StoreResult<Vec<StoredAuthMethod>>;
    /// Removes one method of `user`; false when there was none.
    async fn remove_auth_method(&self, tenant: TenantId, user: ObjectId, id: uuid::Uuid) -> StoreResult<bool>;
    /// Marks the one-time code of `step` used: false when that step or a later one already was
    /// (one atomic update, so two nodes cannot both accept a code).
    async fn use_otp_step(&self, tenant: TenantId, id: uuid::Uuid, step: i64) -> StoreResult<bool>;
    /// Audit records, newest first, with the query's filters.
    async fn audit_records(&self, tenant: TenantId, query: &crate::audit::AuditQuery) -> StoreResult<Vec<crate::audit::AuditRecord>>;
    /// Removes audit records older than `cutoff`; returns how many.
    async fn purge_audit(&self, cutoff: OffsetDateTime) -> StoreResult<u64>;
    /// Writes sign-in records, all in one transaction.
    async fn record_sign_ins(&self, records: &[crate::sign_in_log::SignInRecord]) -> StoreResult<()>;
    /// Sign-in records (their documents), newest first, with the query's filters.
    async fn sign_ins(&self, tenant: TenantId, query: &crate::sign_in_log::SignInQuery) -> StoreResult<Vec<serde_json::Value>>;
    /// Removes sign-in records older than `cutoff`; returns how many.
    async fn purge_sign_ins(&self, cutoff: OffsetDateTime) -> StoreResult<u64>;
    /// How many objects match the query's condition (its order, keyset and limit aside).
    async fn count_matching(&self, tenant: TenantId, query: &crate::index::ObjectQuery) -> StoreResult<i64>;

    /// Direct members (or owners) of `group`.
    async fn links_of_group(&self, tenant: TenantId, relation: Relation, group: ObjectId) -> StoreResult<Vec<Link>>;
    /// Groups `member` is directly linked to.
    async fn links_of_member(&self, tenant: TenantId, relation: Relation, member: ObjectId) -> StoreResult<Vec<Link>>;
    async fn all_links(&self, tenant: TenantId, relation: Relation) -> StoreResult<Vec<Link>>;

    async fn credential(&self, tenant: TenantId, object: ObjectId, kind: &str, key_id: &str) -> StoreResult<Option<StoredCredential>>;

    /// The position of the newest change-feed row (0 when empty), for one tenant or all.
    async fn feed_head(&self, tenant: Option<TenantId>) -> StoreResult<i64>;
    /// Rows after `after`, oldest first.
    async fn feed(&self, tenant: Option<TenantId>, after: i64, limit: u32) -> StoreResult<Vec<ChangeEvent>>;

    /// All signing keys, oldest first.
    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>>;
    /// Adds `key` unless a current (not retiring) key of its algorithm exists, atomically, so
    /// nodes starting together agree on one key. Returns whether it was added.
    async fn add_first_signing_key(&self, key: StoredSigningKey) -> StoreResult<bool>;
    /// Makes `key` the current key of its algorithm: the keys it supersedes retire at
    /// `retire_previous_at`; keys whose retirement is before `now` are deleted.
    async fn rotate_signing_key(&self, key: StoredSigningKey, retire_previous_at: OffsetDateTime, now: OffsetDateTime) -> StoreResult<()>;

    async fn create_session(&self, session: &StoredSession) -> StoreResult<()>;
    async fn session_by_secret_hash(&self, secret_hash: &str) -> StoreResult<Option<StoredSession>>;
    /// A session by its id, in `tenant`.
    async fn session_by_id(&self, tenant: TenantId, id: uuid::Uuid) -> StoreResult<Option<StoredSession>>;
    /// Slides a live session's idle expiry to `idle_until` (never past its absolute expiry).
    async fn touch_session(&self, id: uuid::Uuid, idle_until: OffsetDateTime) -> StoreResult<()>;
    /// Ends a session and revokes every grant that came from it, in one transaction.
    async fn end_session(&self, id: uuid::Uuid, at: OffsetDateTime) -> StoreResult<()>;
    /// Makes a live session persistent or not (a policy's persistent-browser control), with the
    /// idle limit that goes with it (never past its absolute end).
    async fn set_session_persistence(&self, id: uuid::Uuid, persistent: bool, idle_until: OffsetDateTime) -> StoreResult<()>;

    /// Stores a new grant with its first handle (the authorization code), in one transaction.
    async fn create_grant(&self, grant: &StoredGrant, first: &StoredHandle) -> StoreResult<()>;
    async fn grant(&self, id: uuid::Uuid) -> StoreResult<Option<StoredGrant>>;
    async fn revoke_grant(&self, id: uuid::Uuid, at: OffsetDateTime) -> StoreResult<()>;
    async fn handle(&self, hash: &str) -> StoreResult<Option<StoredHandle>>;
    /// Marks the handle used and stores `replacement` (a rotated refresh token) in the same
    /// transaction, extending its grant's expiry to cover it. A handle used before is a replay:
    /// its grant is revoked in that transaction, and nothing is stored.
    async fn redeem_handle(&self, hash: &str, at: OffsetDateTime, replacement: Option<&StoredHandle>) -> StoreResult<Redeemed>;
    /// Records a client assertion's identity until it expires. Returns false when it was recorded
    /// before (a replay), atomically across nodes.
    async fn remember_assertion(&self, hash: &str, expires_at: OffsetDateTime) -> StoreResult<bool>;
    /// Stores a new device code. A user code already in use in the tenant is a `UniqueViolation`.
    async fn create_device_code(&self, code: &StoredDeviceCode) -> StoreResult<()>;
    async fn device_code_by_user_code(&self, tenant: TenantId, user_code: &str) -> StoreResult<Option<StoredDeviceCode>>;
    /// Approves (`Some`) or denies (`None`) a pending, unexpired device code. Returns whether it was
    /// pending.
    async fn decide_device_code(
        &self,
        tenant: TenantId,
        user_code: &str,
        approval: Option<DeviceApproval>,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Reads a device code for the token endpoint and records the poll. Returns it as it was
    /// before this poll.
    async fn poll_device_code(&self, device_hash: &str, now: OffsetDateTime) -> StoreResult<Option<StoredDeviceCode>>;
    /// Redeems an approved device code once: marks it redeemed and stores its new grant (and first
    /// refresh token) in one transaction. A second redemption revokes that grant and returns false.
    async fn redeem_device_code(&self, device_hash: &str, grant: &StoredGrant, refresh: Option<&StoredHandle>) -> StoreResult<bool>;
    /// Deletes sessions, handles and grants that expired before `cutoff`. Returns how many rows went.
    async fn purge_expired_auth(&self, cutoff: OffsetDateTime) -> StoreResult<u64>;

    /// Objects soft-deleted before `cutoff`, due to be purged.
    async fn deleted_before(&self, cutoff: OffsetDateTime, limit: u32) -> StoreResult<Vec<(TenantId, ObjectKind, ObjectId)>>;
}
