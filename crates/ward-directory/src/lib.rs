//! Ward's directory service: the one way in for directory writes, whatever surface they come from
//! (Graph, SCIM, the CLI, the admin portal). It validates through `ward-core`, commits each
//! operation as one unit of work (with its change-feed rows) through the `Store` port, and
//! answers transitive-membership questions from a per-node cache kept current by the change feed.

mod apps;
pub mod audit;
mod bootstrap;
pub mod devices;
mod groups;
mod membership_cache;
pub mod policies;
mod provisioning;
mod registrations;
pub mod risk;
mod roles;
pub mod scim_tokens;
pub mod secrets;
mod users;

pub use apps::{ClientRecord, SecretCheck};
pub use bootstrap::{InitOutcome, InitRequest};
pub use groups::DirectoryObject;
pub use membership_cache::MembershipCache;
pub use policies::{WhatIf, WhatIfSubject};
pub use provisioning::MemberDelta;
pub use users::NewUserRequest;

use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;
use ward_core::clock::{Clock, Rng};
use ward_core::ids::{ObjectId, ObjectKind, TenantId};
use ward_core::store::{Store, StoreError, StoredObject, WriteOp};
use ward_core::tenant::Tenant;
use ward_core::validate::DomainName;
use ward_core::{DirectoryError, RESTORE_WINDOW};

pub type Result<T> = std::result::Result<T, DirectoryError>;

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        // Microsecond precision: what the store keeps, so a value read back compares equal.
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000).unwrap_or(now)
    }
}

/// The operating system's CSPRNG, through aws-lc-rs.
pub struct SystemRng;

impl Rng for SystemRng {
    fn uuid(&self) -> Uuid {
        let mut b = [0u8; 16];
        self.fill(&mut b);
        uuid::Builder::from_random_bytes(b).into_uuid()
    }

    fn fill(&self, buf: &mut [u8]) {
        use aws_lc_rs::rand::SecureRandom;
        // The system RNG failing is not something a request can recover from.
        aws_lc_rs::rand::SystemRandom::new().fill(buf).expect("the operating system's random number generator failed");
    }
}

/// How many times an update retries after losing an optimistic-concurrency race.
const UPDATE_ATTEMPTS: usize = 5;

pub struct Directory {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    membership: MembershipCache,
    /// Passwords known to have leaked (the administrator's file): refused when set.
    leaked_passwords: std::sync::RwLock<Option<Arc<ward_risk::LeakedPasswords>>>,
}

impl Directory {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, rng: Arc<dyn Rng>) -> Directory {
        let membership = MembershipCache::new(store.clone());
        Directory { store, clock, rng, membership, leaked_passwords: std::sync::RwLock::new(None) }
    }

    /// With the system clock and random source.
    pub fn system(store: Arc<dyn Store>) -> Directory {
        Directory::new(store, Arc::new(SystemClock), Arc::new(SystemRng))
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Replaces the list of leaked passwords new passwords are checked against (`None`: none).
    pub fn set_leaked_passwords(&self, list: Option<Arc<ward_risk::LeakedPasswords>>) {
        *self.leaked_passwords.write().unwrap_or_else(|e| e.into_inner()) = list;
    }

    /// Is `password` in the leaked-password list? (SHA-1, as such lists are published.)
    pub(crate) fn is_leaked(&self, password: &str) -> bool {
        let list = self.leaked_passwords.read().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(list) = list else { return false };
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, password.as_bytes());
        let Ok(sha1) = <[u8; 20]>::try_from(digest.as_ref()) else { return false };
        list.contains(&sha1)
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    fn new_id(&self) -> ObjectId {
        ObjectId::from_uuid(self.rng.uuid())
    }

    async fn commit(&self, tenant: TenantId, ops: Vec<WriteOp>) -> Result<i64> {
        Ok(self.commit_store(tenant, ops).await?)
    }

    /// Every directory write ends here: inside an audited call ([`audited`]), the unit of work
    /// also records who did it, in the same transaction.
    pub(crate) async fn commit_store(&self, tenant: TenantId, mut ops: Vec<WriteOp>) -> std::result::Result<i64, StoreError> {
        let now = self.clock.now();
        if let Ok(ctx) = AUDIT.try_with(Clone::clone)
            && !ops.is_empty()
        {
            ops.push(WriteOp::Audit(audit::record(&ctx, now, audit::targets(&ops), "success", "")));
        }
        self.store.commit(tenant, now, ops).await
    }

    // ---- tenants ----------------------------------------------------------------------------

    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        Ok(self.store.tenants().await?)
    }

    /// Resolves `{tenant}` as Entra does: the tenant id (GUID) or one of its verified domains.
    pub async fn resolve_tenant(&self, key: &str) -> Result<Tenant> {
        let found = match key.parse::<TenantId>() {
            Ok(id) => self.store.tenant(id).await?,
            Err(_) => match DomainName::parse(key) {
                Ok(domain) => self.store.tenant_by_domain(&domain).await?,
                Err(_) => None,
            },
        };
        found.ok_or_else(|| DirectoryError::NotFound { kind: None, id: ward_core::validate::clip(key) })
    }

    /// The only tenant, for single-tenant deployments and the CLI's default.
    pub async fn default_tenant(&self) -> Result<Tenant> {
        let mut all = self.store.tenants().await?;
        match all.len() {
            0 => Err(DirectoryError::NotFound { kind: None, id: "tenant (run `ward init` first)".into() }),
            _ => Ok(all.remove(0)),
        }
    }

    pub async fn add_domain(&self, tenant: TenantId, domain: &str) -> Result<Tenant> {
        let domain = DomainName::parse(domain)?;
        let mut t = self.store.tenant(tenant).await?.ok_or_else(|| DirectoryError::NotFound { kind: None, id: tenant.to_string() })?;
        t.add_domain(domain)?;
        self.commit(tenant, vec![WriteOp::UpdateTenant(t.clone())]).await?;
        Ok(t)
    }

    /// Replaces a tenant's settings (whether users may consent to or register applications).
    pub async fn set_tenant_settings(&self, tenant: TenantId, settings: ward_core::tenant::TenantSettings) -> Result<Tenant> {
        let mut t = self.tenant(tenant).await?;
        t.settings = settings;
        self.commit(tenant, vec![WriteOp::UpdateTenant(t.clone())]).await?;
        Ok(t)
    }

    async fn tenant(&self, id: TenantId) -> Result<Tenant> {
        self.store.tenant(id).await?.ok_or_else(|| DirectoryError::NotFound { kind: None, id: id.to_string() })
    }

    // ---- shared object plumbing ------------------------------------------------------------

    async fn load<T: serde::de::DeserializeOwned>(&self, tenant: TenantId, kind: ObjectKind, id: ObjectId) -> Result<(T, StoredObject)> {
        let stored = self.store.object(tenant, kind, id).await?.filter(|o| o.deleted_at.is_none());
        let stored = stored.ok_or_else(|| DirectoryError::not_found(kind, id))?;
        Ok((decode(&stored)?, stored))
    }

    /// Moves an object to deleted items (restorable for 30 days).
    async fn soft_delete(&self, tenant: TenantId, kind: ObjectKind, id: ObjectId) -> Result<()> {
        self.soft_delete_at(tenant, kind, id, None).await
    }

    /// Moves an object to deleted items; with `expected`, only if it is still at that version
    /// (checked in the same unit of work: a write in between makes it [`DirectoryError::Conflict`]).
    pub(crate) async fn soft_delete_at(&self, tenant: TenantId, kind: ObjectKind, id: ObjectId, expected: Option<i64>) -> Result<()> {
        let stored = self.store.object(tenant, kind, id).await?.filter(|o| o.deleted_at.is_none());
        let stored = stored.ok_or_else(|| DirectoryError::not_found(kind, id))?;
        let now = self.clock.now();
        let mut ops = Vec::new();
        if let Some(version) = expected {
            if stored.version != version {
                return Err(DirectoryError::Conflict);
            }
            // The unchanged object at that version: fails the unit of work if it moved since.
            let unique_key = stored
                .doc
                .get("userPrincipalName")
                .and_then(|v| v.as_str())
                .and_then(|upn| ward_core::validate::UserPrincipalName::parse(upn).ok().map(|u| ward_core::user::User::upn_key(&u)));
            ops.push(WriteOp::Update {
                kind,
                id,
                unique_key: unique_key.filter(|_| kind == ObjectKind::User),
                doc: stored.doc.clone(),
                expected_version: version,
            });
        }
        let mut doc = stored.doc;
        doc["deletedDateTime"] =
            serde_json::to_value(now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()).unwrap_or_default();
        ops.push(WriteOp::SoftDelete { kind, id, at: now, doc });
        self.commit(tenant, ops).await?;
        Ok(())
    }

    /// Brings an object back from deleted items, if it was deleted less than 30 days ago.
    async fn restore(
        &self,
        tenant: TenantId,
        kind: ObjectKind,
        id: ObjectId,
        unique_key: impl Fn(&StoredObject) -> Result<Option<String>>,
    ) -> Result<StoredObject> {
        let stored = self.store.object(tenant, kind, id).await?.ok_or_else(|| DirectoryError::not_found(kind, id))?;
        let Some(deleted_at) = stored.deleted_at else {
            return Err(DirectoryError::NotDeleted(id.to_string()));
        };
        if self.clock.now() - deleted_at > RESTORE_WINDOW {
            return Err(DirectoryError::RestoreWindowExpired(id.to_string()));
        }
        let key = unique_key(&stored)?;
        let mut doc = stored.doc.clone();
        doc["deletedDateTime"] = serde_json::Value::Null;
        self.commit(tenant, vec![WriteOp::Restore { kind, id, unique_key: key, doc: doc.clone() }]).await?;
        Ok(StoredObject { doc, deleted_at: None, version: stored.version + 1, ..stored })
    }

    /// Permanently deletes an object that is in deleted items (Graph's `deletedItems` DELETE).
    pub async fn purge_deleted(&self, tenant: TenantId, id: ObjectId) -> Result<()> {
        let stored = self.store.any_object(tenant, id).await?.ok_or_else(|| DirectoryError::NotFound { kind: None, id: id.to_string() })?;
        if stored.deleted_at.is_none() {
            return Err(DirectoryError::NotDeleted(id.to_string()));
        }
        let mut ops = self.role_assignment_purges(tenant, id).await?;
        ops.push(WriteOp::Purge { kind: stored.kind, id });
        self.commit(tenant, ops).await?;
        Ok(())
    }

    /// Purges everything deleted more than 30 days ago; returns how many objects went.
    pub async fn purge_expired(&self) -> Result<usize> {
        let cutoff = self.clock.now() - RESTORE_WINDOW;
        self.store.purge_audit(self.clock.now() - ward_core::audit::RETENTION).await?;
        self.store.purge_sign_ins(self.clock.now() - ward_core::sign_in_log::RETENTION).await?;
        self.store.purge_lockouts(self.clock.now() - time::Duration::days(1)).await?;
        self.store.purge_sources(self.clock.now() - time::Duration::days(90)).await?;
        // A user not seen for half a year is learnt again from scratch.
        self.store.purge_sign_in_profiles(self.clock.now() - time::Duration::days(180)).await?;
        let mut purged = 0;
        loop {
            let due = self.store.deleted_before(cutoff, 500).await?;
            if due.is_empty() {
                return Ok(purged);
            }
            for (tenant, kind, id) in due {
                let mut ops = self.role_assignment_purges(tenant, id).await?;
                ops.push(WriteOp::Purge { kind, id });
                match self.commit(tenant, ops).await {
                    Ok(_) => purged += 1,
                    // Another node purged it first.
                    Err(DirectoryError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

tokio::task_local! {
    static AUDIT: ward_core::audit::AuditContext;
}

/// Runs `work` as the audited activity `ctx`: each unit of work it commits carries an audit record.
pub async fn audited<F: std::future::Future>(ctx: ward_core::audit::AuditContext, work: F) -> F::Output {
    AUDIT.scope(ctx, work).await
}

fn decode<T: serde::de::DeserializeOwned>(stored: &StoredObject) -> Result<T> {
    serde_json::from_value(stored.doc.clone())
        .map_err(|e| DirectoryError::Internal(format!("stored {} {} does not decode: {e}", stored.kind, stored.id)))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| DirectoryError::Internal(e.to_string()))
}

/// Runs `attempt` again when it lost an optimistic-concurrency race.
async fn retry_on_conflict<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(DirectoryError::Conflict) if tries + 1 < UPDATE_ATTEMPTS => tries += 1,
            other => return other,
        }
    }
}

/// Maps a store error with the ids the caller knows, for a message a person can act on.
fn link_error(e: StoreError, group: ObjectId, member: ObjectId, relation: &'static str) -> DirectoryError {
    match e {
        StoreError::Cycle => DirectoryError::MembershipCycle { group: group.to_string(), member: member.to_string() },
        StoreError::AlreadyLinked => DirectoryError::AlreadyMember { relation },
        StoreError::NotLinked => DirectoryError::NotMember { relation, member: member.to_string(), of: group.to_string() },
        other => other.into(),
    }
}

impl Directory {
    /// One page of objects of the query's kind, decoded, each with its place in the order (the
    /// keyset a next page starts after). Queries run on the store's property index
    /// (`ward_core::index`); the caller has checked that every property in the query is indexed.
    pub async fn query<T: serde::de::DeserializeOwned>(
        &self,
        tenant: TenantId,
        query: &ward_core::index::ObjectQuery,
    ) -> Result<Vec<(T, ward_core::index::Keyset)>> {
        let rows = self.store.query_objects(tenant, query).await?;
        rows.into_iter().map(|(o, value)| Ok((decode(&o)?, ward_core::index::Keyset { value, id: o.id }))).collect()
    }

    /// How many objects match the query's condition.
    pub async fn count(&self, tenant: TenantId, query: &ward_core::index::ObjectQuery) -> Result<i64> {
        Ok(self.store.count_matching(tenant, query).await?)
    }
}
