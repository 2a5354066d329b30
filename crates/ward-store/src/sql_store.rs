//! The store's logic and SQL, written once for both backends. Every statement here is accepted by
//! SQLite and PostgreSQL alike (`$n` placeholders, `RETURNING`, `ON CONFLICT`, `WITH RECURSIVE`).

use crate::sql::{Db, Row, Tx, args, from_micros, micros};
use async_trait::async_trait;
use serde_json::{Value, json};
use time::OffsetDateTime;
use ward_core::audit::{AuditQuery, AuditRecord};
use ward_core::change::{ChangeEvent, ChangeType};
use ward_core::ids::{ObjectId, ObjectKind, TenantId};
use ward_core::index::ObjectQuery;
use ward_core::store::{
    DeviceApproval, DeviceCodeStatus, Link, ListQuery, LockoutPolicy, Redeemed, Relation, Store, StoreError, StoreResult, StoredAuthMethod,
    StoredCredential, StoredDeviceCode, StoredGrant, StoredHandle, StoredObject, StoredSession, StoredSigningKey, WriteOp,
};
use ward_core::tenant::Tenant;
use ward_core::validate::DomainName;

pub struct SqlStore {
    db: Box<dyn Db>,
}

impl SqlStore {
    pub fn new(db: Box<dyn Db>) -> Self {
        SqlStore { db }
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn parse_doc(text: &str) -> StoreResult<Value> {
    serde_json::from_str(text).map_err(corrupt)
}

fn tenant_from(doc: &str) -> StoreResult<Tenant> {
    serde_json::from_str(doc).map_err(corrupt)
}

fn parse_id(s: &str) -> StoreResult<ObjectId> {
    s.parse().map_err(|_| corrupt(format!("bad object id {s}")))
}

fn parse_kind(s: &str) -> StoreResult<ObjectKind> {
    ObjectKind::parse(s).ok_or_else(|| corrupt(format!("bad object kind {s}")))
}

/// Is `$3` (the new member) `$2` (the group) or one of its ancestors? One recursive walk up the
/// `member` links, inside the write transaction.
///
/// `up CROSS JOIN links` makes SQLite walk from the few ancestors into the member index rather than
/// scan `links` at each step (found by the membership benchmark: without it, adding a link cost
/// time proportional to the whole table). PostgreSQL plans a CROSS JOIN with WHERE freely.
pub(crate) const CYCLE_CHECK: &str = "WITH RECURSIVE up(id) AS ( \
                             SELECT CAST($2 AS TEXT) \
                             UNION \
                             SELECT l.group_id FROM up CROSS JOIN links l \
                             WHERE l.member_id = up.id AND l.tenant_id = $1 AND l.relation = 'member' \
                         ) SELECT 1 FROM up WHERE id = $3 LIMIT 1";

const OBJECT_COLUMNS: &str = "tenant_id, kind, id, doc, version, deleted_at";

fn object_from(row: &Row) -> StoreResult<StoredObject> {
    Ok(StoredObject {
        tenant_id: row.text(0)?.parse().map_err(|_| corrupt("bad tenant id"))?,
        kind: parse_kind(&row.text(1)?)?,
        id: parse_id(&row.text(2)?)?,
        doc: parse_doc(&row.text(3)?)?,
        version: row.int(4)?,
        deleted_at: row.opt_int(5)?.map(from_micros).transpose()?,
    })
}

fn link_from(row: &Row) -> StoreResult<Link> {
    Ok(Link { group: parse_id(&row.text(0)?)?, member: parse_id(&row.text(1)?)?, member_kind: parse_kind(&row.text(2)?)? })
}

fn not_found(kind: impl ToString, id: impl ToString) -> StoreError {
    StoreError::NotFound { kind: kind.to_string(), id: id.to_string() }
}

/// Re-labels a bare unique violation from the driver with the key that collided.
fn with_key(key: &Option<String>) -> impl Fn(StoreError) -> StoreError + '_ {
    move |e| match e {
        StoreError::UniqueViolation(_) => StoreError::UniqueViolation(key.clone().unwrap_or_default()),
        other => other,
    }
}

async fn append_feed(
    tx: &mut dyn Tx,
    tenant: TenantId,
    subject_kind: &str,
    subject_id: String,
    change: ChangeType,
    payload: Value,
    at: i64,
) -> StoreResult<i64> {
    let rows = tx
        .rows(
            "INSERT INTO change_feed (tenant_id, subject_kind, subject_id, change, payload, occurred_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING position",
            args![tenant.to_string(), subject_kind, subject_id, change.as_str(), payload.to_string(), at],
        )
        .await?;
    rows.first().ok_or_else(|| corrupt("no position returned"))?.int(0)
}

async fn insert_signing_key(tx: &mut dyn Tx, key: &StoredSigningKey) -> StoreResult<()> {
    tx.exec(
        "INSERT INTO signing_keys (kid, alg, public_jwk, sealed_private, created_at, retire_at) VALUES ($1, $2, $3, $4, $5, $6)",
        args![
            key.kid.clone(),
            key.alg.clone(),
            key.public_jwk.to_string(),
            key.sealed_private.clone(),
            micros(key.created_at),
            key.retire_at.map(micros)
        ],
    )
    .await
    .map(|_| ())
}

fn parse_uuid(s: &str) -> StoreResult<uuid::Uuid> {
    uuid::Uuid::parse_str(s).map_err(|_| corrupt(format!("bad uuid {s}")))
}

fn parse_tenant(s: &str) -> StoreResult<TenantId> {
    s.parse().map_err(|_| corrupt(format!("bad tenant id {s}")))
}

fn session_from(r: &Row) -> StoreResult<StoredSession> {
    Ok(StoredSession {
        id: parse_uuid(&r.text(0)?)?,
        tenant_id: parse_tenant(&r.text(1)?)?,
        user_id: parse_id(&r.text(2)?)?,
        secret_hash: r.text(3)?,
        auth_time: from_micros(r.int(4)?)?,
        amr: r.text(5)?,
        expires_at: from_micros(r.int(6)?)?,
        ended_at: r.opt_int(7)?.map(from_micros).transpose()?,
        idle_until: r.opt_int(8)?.map(from_micros).transpose()?,
        persistent: r.int(9)? != 0,
        sign_in_risk: r.text(10)?,
        sign_in_request: r.text(11)?,
    })
}

fn grant_from(r: &Row) -> StoreResult<StoredGrant> {
    let session = match r.0.get(2) {
        Some(crate::sql::Val::Text(s)) => Some(parse_uuid(s)?),
        _ => None,
    };
    Ok(StoredGrant {
        id: parse_uuid(&r.text(0)?)?,
        tenant_id: parse_tenant(&r.text(1)?)?,
        session_id: session,
        client_id: parse_uuid(&r.text(3)?)?,
        user_id: parse_id(&r.text(4)?)?,
        created_at: from_micros(r.int(5)?)?,
        expires_at: from_micros(r.int(6)?)?,
        revoked_at: r.opt_int(7)?.map(from_micros).transpose()?,
    })
}

fn handle_from(r: &Row) -> StoreResult<StoredHandle> {
    Ok(StoredHandle {
        hash: r.text(0)?,
        tenant_id: parse_tenant(&r.text(1)?)?,
        kind: r.text(2)?,
        grant_id: parse_uuid(&r.text(3)?)?,
        expires_at: from_micros(r.int(4)?)?,
        used_at: r.opt_int(5)?.map(from_micros).transpose()?,
        doc: parse_doc(&r.text(6)?)?,
    })
}

fn opt_text(r: &Row, i: usize) -> StoreResult<Option<String>> {
    match r.0.get(i) {
        Some(crate::sql::Val::Text(s)) => Ok(Some(s.clone())),
        Some(crate::sql::Val::Null) | None => Ok(None),
        Some(other) => Err(corrupt(format!("column {i}: expected text, got {other:?}"))),
    }
}

fn device_from(r: &Row) -> StoreResult<StoredDeviceCode> {
    Ok(StoredDeviceCode {
        device_hash: r.text(0)?,
        tenant_id: parse_tenant(&r.text(1)?)?,
        user_code: r.text(2)?,
        client_id: parse_uuid(&r.text(3)?)?,
        doc: parse_doc(&r.text(4)?)?,
        created_at: from_micros(r.int(5)?)?,
        expires_at: from_micros(r.int(6)?)?,
        last_poll_at: r.opt_int(7)?.map(from_micros).transpose()?,
        status: DeviceCodeStatus::parse(&r.text(8)?).ok_or_else(|| corrupt("bad device code status"))?,
        user_id: opt_text(r, 9)?.map(|s| parse_id(&s)).transpose()?,
        auth_time: r.opt_int(10)?.map(from_micros).transpose()?,
        amr: opt_text(r, 11)?,
        grant_id: opt_text(r, 12)?.map(|s| parse_uuid(&s)).transpose()?,
    })
}

async fn insert_grant(tx: &mut dyn Tx, grant: &StoredGrant) -> StoreResult<()> {
    tx.exec(
        "INSERT INTO oauth_grants (id, tenant_id, session_id, client_id, user_id, created_at, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![
            grant.id.to_string(),
            grant.tenant_id.to_string(),
            grant.session_id.map(|s| s.to_string()),
            grant.client_id.to_string(),
            grant.user_id.to_string(),
            micros(grant.created_at),
            micros(grant.expires_at),
            grant.revoked_at.map(micros)
        ],
    )
    .await
    .map(|_| ())
}

async fn insert_handle(tx: &mut dyn Tx, h: &StoredHandle) -> StoreResult<()> {
    tx.exec(
        "INSERT INTO oauth_handles (hash, tenant_id, kind, grant_id, expires_at, used_at, doc) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            h.hash.clone(),
            h.tenant_id.to_string(),
            h.kind.clone(),
            h.grant_id.to_string(),
            micros(h.expires_at),
            h.used_at.map(micros),
            h.doc.to_string()
        ],
    )
    .await
    .map(|_| ())
}

async fn object_state(tx: &mut dyn Tx, tenant: TenantId, id: ObjectId) -> StoreResult<Option<(ObjectKind, bool)>> {
    let rows =
        tx.rows("SELECT kind, deleted_at FROM objects WHERE tenant_id = $1 AND id = $2", args![tenant.to_string(), id.to_string()]).await?;
    match rows.first() {
        None => Ok(None),
        Some(r) => Ok(Some((parse_kind(&r.text(0)?)?, r.opt_int(1)?.is_none()))),
    }
}

async fn sync_domains(tx: &mut dyn Tx, tenant: &Tenant) -> StoreResult<()> {
    let tid = tenant.id.to_string();
    let existing: Vec<String> = tx
        .rows("SELECT domain FROM tenant_domains WHERE tenant_id = $1", args![tid.clone()])
        .await?
        .iter()
        .map(|r| r.text(0))
        .collect::<StoreResult<_>>()?;
    for d in &tenant.verified_domains {
        let name = d.name.as_str();
        if !existing.iter().any(|e| e == name) {
            tx.exec("INSERT INTO tenant_domains (domain, tenant_id) VALUES ($1, $2)", args![name, tid.clone()]).await.map_err(
                |e| match e {
                    StoreError::UniqueViolation(_) => StoreError::DomainTaken(name.to_string()),
                    other => other,
                },
            )?;
        }
    }
    for e in existing {
        if !tenant.verified_domains.iter().any(|d| d.name.as_str() == e) {
            tx.exec("DELETE FROM tenant_domains WHERE domain = $1 AND tenant_id = $2", args![e, tid.clone()]).await?;
        }
    }
    Ok(())
}

async fn apply(tx: &mut dyn Tx, tenant: TenantId, at: i64, op: WriteOp) -> StoreResult<i64> {
    let tid = tenant.to_string();
    match op {
        WriteOp::CreateTenant(t) => {
            let doc = serde_json::to_value(&t).map_err(corrupt)?;
            tx.exec(
                "INSERT INTO tenants (id, doc, created_at) VALUES ($1, $2, $3)",
                args![t.id.to_string(), doc.to_string(), micros(t.created_date_time)],
            )
            .await
            .map_err(|e| match e {
                StoreError::UniqueViolation(_) => StoreError::TenantExists,
                other => other,
            })?;
            sync_domains(tx, &t).await?;
            append_feed(tx, t.id, "tenant", t.id.to_string(), ChangeType::Created, json!({ "doc": doc }), at).await
        }
        WriteOp::UpdateTenant(t) => {
            let doc = serde_json::to_value(&t).map_err(corrupt)?;
            let n = tx.exec("UPDATE tenants SET doc = $2 WHERE id = $1", args![t.id.to_string(), doc.to_string()]).await?;
            if n == 0 {
                return Err(not_found("tenant", t.id));
            }
            sync_domains(tx, &t).await?;
            append_feed(tx, t.id, "tenant", t.id.to_string(), ChangeType::Updated, json!({ "doc": doc }), at).await
        }
        WriteOp::Insert { kind, id, unique_key, doc } => {
            tx.exec(
                "INSERT INTO objects (tenant_id, id, kind, unique_key, doc, version, deleted_at) VALUES ($1, $2, $3, $4, $5, 1, NULL)",
                args![tid.clone(), id.to_string(), kind.as_str(), unique_key.clone(), doc.to_string()],
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound { .. } => not_found("tenant", tenant),
                other => with_key(&unique_key)(other),
            })?;
            crate::query::reindex(tx, tenant, kind, &id.to_string(), Some(&doc)).await?;
            append_feed(tx, tenant, kind.as_str(), id.to_string(), ChangeType::Created, json!({ "doc": doc }), at).await
        }
        WriteOp::Update { kind, id, unique_key, doc, expected_version } => {
            let n = tx
                .exec(
                    "UPDATE objects SET doc = $4, unique_key = $5, version = version + 1 \
                     WHERE tenant_id = $1 AND id = $2 AND kind = $3 AND version = $6 AND deleted_at IS NULL",
                    args![tid.clone(), id.to_string(), kind.as_str(), doc.to_string(), unique_key.clone(), expected_version],
                )
                .await
                .map_err(with_key(&unique_key))?;
            if n == 0 {
                return match object_state(tx, tenant, id).await? {
                    Some((k, true)) if k == kind => Err(StoreError::VersionConflict),
                    _ => Err(not_found(kind, id)),
                };
            }
            crate::query::reindex(tx, tenant, kind, &id.to_string(), Some(&doc)).await?;
            append_feed(tx, tenant, kind.as_str(), id.to_string(), ChangeType::Updated, json!({ "doc": doc }), at).await
        }
        WriteOp::SoftDelete { kind, id, at: deleted_at, doc } => {
            let n = tx
                .exec(
                    "UPDATE objects SET deleted_at = $4, doc = $5, version = version + 1 \
                     WHERE tenant_id = $1 AND id = $2 AND kind = $3 AND deleted_at IS NULL",
                    args![tid.clone(), id.to_string(), kind.as_str(), micros(deleted_at), doc.to_string()],
                )
                .await?;
            if n == 0 {
                return Err(not_found(kind, id));
            }
            crate::query::reindex(tx, tenant, kind, &id.to_string(), Some(&doc)).await?;
            append_feed(tx, tenant, kind.as_str(), id.to_string(), ChangeType::Deleted, json!({ "doc": doc }), at).await
        }
        WriteOp::Restore { kind, id, unique_key, doc } => {
            let n = tx
                .exec(
                    "UPDATE objects SET deleted_at = NULL, doc = $4, unique_key = $5, version = version + 1 \
                     WHERE tenant_id = $1 AND id = $2 AND kind = $3 AND deleted_at IS NOT NULL",
                    args![tid.clone(), id.to_string(), kind.as_str(), doc.to_string(), unique_key.clone()],
                )
                .await
                .map_err(with_key(&unique_key))?;
            if n == 0 {
                return Err(not_found(kind, id));
            }
            crate::query::reindex(tx, tenant, kind, &id.to_string(), Some(&doc)).await?;
            append_feed(tx, tenant, kind.as_str(), id.to_string(), ChangeType::Restored, json!({ "doc": doc }), at).await
        }
        WriteOp::Purge { kind, id } => {
            let oid = id.to_string();
            tx.exec("DELETE FROM links WHERE tenant_id = $1 AND (group_id = $2 OR member_id = $2)", args![tid.clone(), oid.clone()])
                .await?;
            tx.exec("DELETE FROM credentials WHERE tenant_id = $1 AND object_id = $2", args![tid.clone(), oid.clone()]).await?;
            let n = tx
                .exec("DELETE FROM objects WHERE tenant_id = $1 AND id = $2 AND kind = $3", args![tid.clone(), oid.clone(), kind.as_str()])
                .await?;
            if n == 0 {
                return Err(not_found(kind, id));
            }
            crate::query::reindex(tx, tenant, kind, &oid, None).await?;
            append_feed(tx, tenant, kind.as_str(), oid, ChangeType::Purged, json!({}), at).await
        }
        WriteOp::AddLink { relation, link } => {
            match object_state(tx, tenant, link.group).await? {
                Some((ObjectKind::Group, true)) => {}
                _ => return Err(not_found(ObjectKind::Group, link.group)),
            }
            match object_state(tx, tenant, link.member).await? {
                Some((k, true)) if k == link.member_kind => {}
                _ => return Err(not_found(link.member_kind, link.member)),
            }
            if relation == Relation::Member && link.member_kind == ObjectKind::Group {
                // The new edge closes a loop when the group already sits, at any depth, inside
                // the member (deleted groups included: restoring one must not create a cycle).
                let hit = tx.rows(CYCLE_CHECK, args![tid.clone(), link.group.to_string(), link.member.to_string()]).await?;
                if !hit.is_empty() {
                    return Err(StoreError::Cycle);
                }
            }
            tx.exec(
                "INSERT INTO links (tenant_id, relation, group_id, member_id, member_kind) VALUES ($1, $2, $3, $4, $5)",
                args![tid.clone(), relation.as_str(), link.group.to_string(), link.member.to_string(), link.member_kind.as_str()],
            )
            .await
            .map_err(|e| match e {
                StoreError::UniqueViolation(_) => StoreError::AlreadyLinked,
                other => other,
            })?;
            let payload = json!({ "relation": relation.as_str(), "memberId": link.member, "memberKind": link.member_kind });
            append_feed(tx, tenant, ObjectKind::Group.as_str(), link.group.to_string(), ChangeType::LinkAdded, payload, at).await
        }
        WriteOp::RemoveLink { relation, group, member } => {
            let rows = tx
                .rows(
                    "DELETE FROM links WHERE tenant_id = $1 AND relation = $2 AND group_id = $3 AND member_id = $4 RETURNING member_kind",
                    args![tid.clone(), relation.as_str(), group.to_string(), member.to_string()],
                )
                .await?;
            let Some(row) = rows.first() else { return Err(StoreError::NotLinked) };
            let payload = json!({ "relation": relation.as_str(), "memberId": member, "memberKind": row.text(0)? });
            append_feed(tx, tenant, ObjectKind::Group.as_str(), group.to_string(), ChangeType::LinkRemoved, payload, at).await
        }
        WriteOp::SetCredential { object_kind, credential: c } => {
            tx.exec(
                "INSERT INTO credentials (tenant_id, object_id, kind, key_id, secret_hash, expires_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (tenant_id, object_id, kind, key_id) \
                 DO UPDATE SET secret_hash = excluded.secret_hash, expires_at = excluded.expires_at, updated_at = excluded.updated_at",
                args![tid.clone(), c.object_id.to_string(), c.kind.clone(), c.key_id.clone(), c.secret_hash, c.expires_at.map(micros), at],
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound { .. } => not_found(object_kind, c.object_id),
                other => other,
            })?;
            // The feed says that a secret changed, never what it is.
            let payload = json!({ "credential": c.kind, "keyId": c.key_id, "removed": false });
            append_feed(tx, tenant, object_kind.as_str(), c.object_id.to_string(), ChangeType::CredentialChanged, payload, at).await
        }
        WriteOp::RemoveCredential { object_kind, object_id, kind, key_id } => {
            let n = tx
                .exec(
                    "DELETE FROM credentials WHERE tenant_id = $1 AND object_id = $2 AND kind = $3 AND key_id = $4",
                    args![tid.clone(), object_id.to_string(), kind.clone(), key_id.clone()],
                )
                .await?;
            if n == 0 {
                return Err(not_found("credential", key_id));
            }
            let payload = json!({ "credential": kind, "keyId": key_id, "removed": true });
            append_feed(tx, tenant, object_kind.as_str(), object_id.to_string(), ChangeType::CredentialChanged, payload, at).await
        }
        WriteOp::Audit(record) => {
            crate::accounts::insert_audit(tx, tenant, &record).await?;
            Ok(0)
        }
    }
}

#[async_trait]
impl Store for SqlStore {
    fn change_token(&self) -> Option<[u8; 48]> {
        self.db.change_token()
    }

    fn backend(&self) -> &'static str {
        self.db.name()
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db.rows("SELECT 1", vec![]).await.map(|_| ())
    }

    async fn commit(&self, tenant: TenantId, at: OffsetDateTime, ops: Vec<WriteOp>) -> StoreResult<i64> {
        if ops.is_empty() {
            return self.feed_head(Some(tenant)).await;
        }
        let mut tx = self.db.begin_write().await?;
        let at = micros(at);
        let mut last = 0;
        for op in ops {
            // An error drops `tx`, which rolls back everything this unit of work did.
            let position = apply(tx.as_mut(), tenant, at, op).await?;
            // Audit records have no feed position.
            if position > 0 {
                last = position;
            }
        }
        tx.commit().await?;
        Ok(last)
    }

    async fn tenants(&self) -> StoreResult<Vec<Tenant>> {
        let rows = self.db.rows("SELECT doc FROM tenants ORDER BY created_at, id", vec![]).await?;
        rows.iter().map(|r| tenant_from(&r.text(0)?)).collect()
    }

    async fn tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>> {
        let rows = self.db.rows("SELECT doc FROM tenants WHERE id = $1", args![id.to_string()]).await?;
        rows.first().map(|r| tenant_from(&r.text(0)?)).transpose()
    }

    async fn tenant_by_domain(&self, domain: &DomainName) -> StoreResult<Option<Tenant>> {
        let rows = self
            .db
            .rows("SELECT t.doc FROM tenant_domains d JOIN tenants t ON t.id = d.tenant_id WHERE d.domain = $1", args![domain.as_str()])
            .await?;
        rows.first().map(|r| tenant_from(&r.text(0)?)).transpose()
    }

    async fn object(&self, tenant: TenantId, kind: ObjectKind, id: ObjectId) -> StoreResult<Option<StoredObject>> {
        const SQL: &str =
            "SELECT tenant_id, kind, id, doc, version, deleted_at FROM objects WHERE tenant_id = $1 AND id = $2 AND kind = $3";
        debug_assert!(SQL.contains(OBJECT_COLUMNS));
        let rows = self.db.rows(SQL, args![tenant.to_string(), id.to_string(), kind.as_str()]).await?;
        rows.first().map(object_from).transpose()
    }

    async fn any_object(&self, tenant: TenantId, id: ObjectId) -> StoreResult<Option<StoredObject>> {
        let rows = self
            .db
            .rows(
                "SELECT tenant_id, kind, id, doc, version, deleted_at FROM objects WHERE tenant_id = $1 AND id = $2",
                args![tenant.to_string(), id.to_string()],
            )
            .await?;
        rows.first().map(object_from).transpose()
    }

    async fn object_by_key(&self, tenant: TenantId, kind: ObjectKind, unique_key: &str) -> StoreResult<Option<StoredObject>> {
        let rows = self
            .db
            .rows(
                "SELECT tenant_id, kind, id, doc, version, deleted_at FROM objects \
                 WHERE tenant_id = $1 AND unique_key = $2 AND kind = $3 AND deleted_at IS NULL",
                args![tenant.to_string(), unique_key, kind.as_str()],
            )
            .await?;
        rows.first().map(object_from).transpose()
    }

    async fn objects(&self, tenant: TenantId, kind: ObjectKind, query: &ListQuery) -> StoreResult<Vec<StoredObject>> {
        let after = query.after.map(|a| a.to_string()).unwrap_or_default();
        let limit = i64::from(query.limit.clamp(1, 10_000));
        let sql = if query.deleted {
            "SELECT tenant_id, kind, id, doc, version, deleted_at FROM objects \
             WHERE tenant_id = $1 AND kind = $2 AND id > $3 AND deleted_at IS NOT NULL ORDER BY id LIMIT $4"
        } else {
            "SELECT tenant_id, kind, id, doc, version, deleted_at FROM objects \
             WHERE tenant_id = $1 AND kind = $2 AND id > $3 AND deleted_at IS NULL ORDER BY id LIMIT $4"
        };
        let rows = self.db.rows(sql, args![tenant.to_string(), kind.as_str(), after, limit]).await?;
        rows.iter().map(object_from).collect()
    }

    async fn locked_until(&self, tenant: TenantId, key: &str, now: OffsetDateTime) -> StoreResult<Option<OffsetDateTime>> {
        crate::accounts::locked_until(self.db.as_ref(), tenant, key, now).await
    }
    async fn lockouts(
        &self,
        tenant: TenantId,
        keys: &[&str],
        familiar: Option<(ObjectId, &str, OffsetDateTime)>,
        now: OffsetDateTime,
    ) -> StoreResult<(Vec<(String, Option<OffsetDateTime>)>, Option<OffsetDateTime>)> {
        crate::accounts::lockouts(self.db.as_ref(), tenant, keys, familiar, now).await
    }
    async fn record_lockout_failure(
        &self,
        tenant: TenantId,
        key: &str,
        now: OffsetDateTime,
        p: &LockoutPolicy,
    ) -> StoreResult<Option<OffsetDateTime>> {
        crate::accounts::record_lockout_failure(self.db.as_ref(), tenant, key, now, p).await
    }
    async fn clear_lockout(&self, tenant: TenantId, key: &str) -> StoreResult<()> {
        crate::accounts::clear_lockout(self.db.as_ref(), tenant, key).await
    }
    async fn purge_lockouts(&self, cutoff: OffsetDateTime) -> StoreResult<u64> {
        crate::accounts::purge_lockouts(self.db.as_ref(), cutoff).await
    }
    async fn remember_source(&self, tenant: TenantId, user: ObjectId, source: &str, at: OffsetDateTime) -> StoreResult<()> {
        crate::accounts::remember_source(self.db.as_ref(), tenant, user, source, at).await
    }
    async fn purge_sources(&self, cutoff: OffsetDateTime) -> StoreResult<u64> {
        crate::accounts::purge_sources(self.db.as_ref(), cutoff).await
    }
    async fn sign_in_profile(&self, tenant: TenantId, user: ObjectId) -> StoreResult<Option<String>> {
        crate::accounts::sign_in_profile(self.db.as_ref(), tenant, user).await
    }
    async fn save_sign_in_profiles(&self, profiles: &[(TenantId, ObjectId, String, OffsetDateTime)]) -> StoreResult<()> {
        crate::accounts::save_sign_in_profiles(self.db.as_ref(), profiles).await
    }
    async fn purge_sign_in_profiles(&self, cutoff: OffsetDateTime) -> StoreResult<u64> {
        crate::accounts::purge_sign_in_profiles(self.db.as_ref(), cutoff).await
    }
    async fn add_auth_method(&self, m: &StoredAuthMethod) -> StoreResult<()> {
        crate::accounts::add_auth_method(self.db.as_ref(), m).await
    }
    async fn auth_methods(&self, tenant: TenantId, user: ObjectId) -> StoreResult<Vec<StoredAuthMethod>> {
        crate::accounts::auth_methods(self.db.as_ref(), tenant, user).await
    }
    async fn remove_auth_method(&self, tenant: TenantId, user: ObjectId, id: uuid::Uuid) -> StoreResult<bool> {
        crate::accounts::remove_auth_method(self.db.as_ref(), tenant, user, id).await
    }
    async fn use_otp_step(&self, tenant: TenantId, id: uuid::Uuid, step: i64) -> StoreResult<bool> {
        crate::accounts::use_otp_step(self.db.as_ref(), tenant, id, step).await
    }
    async fn audit_records(&self, tenant: TenantId, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        crate::accounts::audit_records(self.db.as_ref(), tenant, q).await
    }
    async fn purge_audit(&self, cutoff: OffsetDateTime) -> StoreResult<u64> {
        crate::accounts::purge_audit(self.db.as_ref(), cutoff).await
    }
    async fn record_sign_ins(&self, records: &[ward_core::sign_in_log::SignInRecord]) -> StoreResult<()> {
        crate::accounts::record_sign_ins(self.db.as_ref(), records).await
    }
    async fn sign_ins(&self, tenant: TenantId, q: &ward_core::sign_in_log::SignInQuery) -> StoreResult<Vec<serde_json::Value>> {
        crate::accounts::sign_ins(self.db.as_ref(), tenant, q).await
    }
    async fn purge_sign_ins(&self, cutoff: OffsetDateTime) -> StoreResult<u64> {
        crate::accounts::purge_sign_ins(self.db.as_ref(), cutoff).await
    }

    async fn query_objects(&self, tenant: TenantId, query: &ObjectQuery) -> StoreResult<Vec<(StoredObject, Option<String>)>> {
        let (sql, args) = crate::query::select(tenant, query, false)?;
        let rows = self.db.rows_assembled(sql, args).await?;
        rows.iter().map(|r| Ok((object_from(r)?, r.opt_text(6)?))).collect()
    }

    async fn count_matching(&self, tenant: TenantId, query: &ObjectQuery) -> StoreResult<i64> {
        let (sql, args) = crate::query::select(tenant, query, true)?;
        let rows = self.db.rows_assembled(sql, args).await?;
        rows.first().ok_or_else(|| corrupt("no count"))?.int(0)
    }

    async fn count_objects(&self, tenant: TenantId, kind: ObjectKind, deleted: bool) -> StoreResult<i64> {
        let sql = if deleted {
            "SELECT COUNT(*) FROM objects WHERE tenant_id = $1 AND kind = $2 AND deleted_at IS NOT NULL"
        } else {
            "SELECT COUNT(*) FROM objects WHERE tenant_id = $1 AND kind = $2 AND deleted_at IS NULL"
        };
        let rows = self.db.rows(sql, args![tenant.to_string(), kind.as_str()]).await?;
        rows.first().ok_or_else(|| corrupt("no count"))?.int(0)
    }

    async fn links_of_group(&self, tenant: TenantId, relation: Relation, group: ObjectId) -> StoreResult<Vec<Link>> {
        let rows = self
            .db
            .rows(
                "SELECT group_id, member_id, member_kind FROM links WHERE tenant_id = $1 AND relation = $2 AND group_id = $3 ORDER BY member_id",
                args![tenant.to_string(), relation.as_str(), group.to_string()],
            )
            .await?;
        rows.iter().map(link_from).collect()
    }

    async fn links_of_member(&self, tenant: TenantId, relation: Relation, member: ObjectId) -> StoreResult<Vec<Link>> {
        let rows = self
            .db
            .rows(
                "SELECT group_id, member_id, member_kind FROM links WHERE tenant_id = $1 AND relation = $2 AND member_id = $3 ORDER BY group_id",
                args![tenant.to_string(), relation.as_str(), member.to_string()],
            )
            .await?;
        rows.iter().map(link_from).collect()
    }

    async fn all_links(&self, tenant: TenantId, relation: Relation) -> StoreResult<Vec<Link>> {
        let rows = self
            .db
            .rows(
                "SELECT group_id, member_id, member_kind FROM links WHERE tenant_id = $1 AND relation = $2",
                args![tenant.to_string(), relation.as_str()],
            )
            .await?;
        rows.iter().map(link_from).collect()
    }

    async fn credential(&self, tenant: TenantId, object: ObjectId, kind: &str, key_id: &str) -> StoreResult<Option<StoredCredential>> {
        let rows = self
            .db
            .rows(
                "SELECT secret_hash, expires_at FROM credentials WHERE tenant_id = $1 AND object_id = $2 AND kind = $3 AND key_id = $4",
                args![tenant.to_string(), object.to_string(), kind, key_id],
            )
            .await?;
        rows.first()
            .map(|r| {
                Ok(StoredCredential {
                    object_id: object,
                    kind: kind.to_string(),
                    key_id: key_id.to_string(),
                    secret_hash: r.text(0)?,
                    expires_at: r.opt_int(1)?.map(from_micros).transpose()?,
                })
            })
            .transpose()
    }

    async fn feed_head(&self, tenant: Option<TenantId>) -> StoreResult<i64> {
        let rows = match tenant {
            Some(t) => self.db.rows("SELECT MAX(position) FROM change_feed WHERE tenant_id = $1", args![t.to_string()]).await?,
            None => self.db.rows("SELECT MAX(position) FROM change_feed", vec![]).await?,
        };
        Ok(rows.first().map(|r| r.opt_int(0)).transpose()?.flatten().unwrap_or(0))
    }

    async fn feed(&self, tenant: Option<TenantId>, after: i64, limit: u32) -> StoreResult<Vec<ChangeEvent>> {
        let limit = i64::from(limit.clamp(1, 10_000));
        let rows = match tenant {
            Some(t) => {
                self.db
                    .rows(
                        "SELECT position, tenant_id, subject_kind, subject_id, change, payload, occurred_at FROM change_feed \
                         WHERE tenant_id = $1 AND position > $2 ORDER BY position LIMIT $3",
                        args![t.to_string(), after, limit],
                    )
                    .await?
            }
            None => {
                self.db
                    .rows(
                        "SELECT position, tenant_id, subject_kind, subject_id, change, payload, occurred_at FROM change_feed \
                         WHERE position > $1 ORDER BY position LIMIT $2",
                        args![after, limit],
                    )
                    .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(ChangeEvent {
                    position: r.int(0)?,
                    tenant_id: r.text(1)?.parse().map_err(|_| corrupt("bad tenant id"))?,
                    subject_kind: r.text(2)?,
                    subject_id: r.text(3)?,
                    change: ChangeType::parse(&r.text(4)?).ok_or_else(|| corrupt("bad change type"))?,
                    payload: parse_doc(&r.text(5)?)?,
                    occurred_at: from_micros(r.int(6)?)?,
                })
            })
            .collect()
    }

    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        let rows = self
            .db
            .rows("SELECT kid, alg, public_jwk, sealed_private, created_at, retire_at FROM signing_keys ORDER BY created_at, kid", vec![])
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredSigningKey {
                    kid: r.text(0)?,
                    alg: r.text(1)?,
                    public_jwk: parse_doc(&r.text(2)?)?,
                    sealed_private: r.text(3)?,
                    created_at: from_micros(r.int(4)?)?,
                    retire_at: r.opt_int(5)?.map(from_micros).transpose()?,
                })
            })
            .collect()
    }

    async fn add_first_signing_key(&self, key: StoredSigningKey) -> StoreResult<bool> {
        let mut tx = self.db.begin_write().await?;
        let current = tx.rows("SELECT kid FROM signing_keys WHERE alg = $1 AND retire_at IS NULL", args![key.alg.clone()]).await?;
        if !current.is_empty() {
            return Ok(false);
        }
        insert_signing_key(tx.as_mut(), &key).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn rotate_signing_key(&self, key: StoredSigningKey, retire_previous_at: OffsetDateTime, now: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.exec("DELETE FROM signing_keys WHERE retire_at IS NOT NULL AND retire_at < $1", args![micros(now)]).await?;
        tx.exec(
            "UPDATE signing_keys SET retire_at = $2 WHERE alg = $1 AND retire_at IS NULL",
            args![key.alg.clone(), micros(retire_previous_at)],
        )
        .await?;
        insert_signing_key(tx.as_mut(), &key).await?;
        tx.commit().await
    }

    async fn deleted_before(&self, cutoff: OffsetDateTime, limit: u32) -> StoreResult<Vec<(TenantId, ObjectKind, ObjectId)>> {
        let rows = self
            .db
            .rows(
                "SELECT tenant_id, kind, id FROM objects WHERE deleted_at IS NOT NULL AND deleted_at < $1 ORDER BY deleted_at LIMIT $2",
                args![micros(cutoff), i64::from(limit.clamp(1, 10_000))],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.text(0)?.parse().map_err(|_| corrupt("bad tenant id"))?, parse_kind(&r.text(1)?)?, parse_id(&r.text(2)?)?)))
            .collect()
    }

    async fn create_session(&self, session: &StoredSession) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.exec(
            "INSERT INTO sign_in_sessions (id, tenant_id, user_id, secret_hash, auth_time, amr, expires_at, ended_at, idle_until, persistent, sign_in_risk, sign_in_request) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            args![
                session.id.to_string(),
                session.tenant_id.to_string(),
                session.user_id.to_string(),
                session.secret_hash.clone(),
                micros(session.auth_time),
                session.amr.clone(),
                micros(session.expires_at),
                session.ended_at.map(micros),
                session.idle_until.map(micros),
                i64::from(session.persistent),
                session.sign_in_risk.clone(),
                session.sign_in_request.clone()
            ],
        )
        .await?;
        tx.commit().await
    }

    async fn session_by_secret_hash(&self, secret_hash: &str) -> StoreResult<Option<StoredSession>> {
        let rows = self
            .db
            .rows(
                "SELECT id, tenant_id, user_id, secret_hash, auth_time, amr, expires_at, ended_at, idle_until, persistent, sign_in_risk, sign_in_request FROM sign_in_sessions WHERE secret_hash = $1",
                args![secret_hash],
            )
            .await?;
        rows.first().map(session_from).transpose()
    }

    async fn session_by_id(&self, tenant: TenantId, id: uuid::Uuid) -> StoreResult<Option<StoredSession>> {
        let rows = self
            .db
            .rows(
                "SELECT id, tenant_id, user_id, secret_hash, auth_time, amr, expires_at, ended_at, idle_until, persistent, sign_in_risk, sign_in_request FROM sign_in_sessions WHERE id = $1 AND tenant_id = $2",
                args![id.to_string(), tenant.to_string()],
            )
            .await?;
        rows.first().map(session_from).transpose()
    }

    async fn sessions_of(&self, tenant: TenantId, user: ObjectId, limit: u32) -> StoreResult<Vec<StoredSession>> {
        let rows = self
            .db
            .rows(
                "SELECT id, tenant_id, user_id, secret_hash, auth_time, amr, expires_at, ended_at, idle_until, persistent, sign_in_risk, sign_in_request FROM sign_in_sessions \
                 WHERE tenant_id = $1 AND user_id = $2 ORDER BY auth_time DESC, id DESC LIMIT $3",
                args![tenant.to_string(), user.to_string(), i64::from(limit.clamp(1, 100))],
            )
            .await?;
        rows.iter().map(session_from).collect()
    }

    async fn touch_session(&self, id: uuid::Uuid, idle_until: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.exec(
            "UPDATE sign_in_sessions SET idle_until = CASE WHEN $2 < expires_at THEN $2 ELSE expires_at END \
             WHERE id = $1 AND ended_at IS NULL AND idle_until IS NOT NULL AND idle_until < $2",
            args![id.to_string(), micros(idle_until)],
        )
        .await?;
        tx.commit().await
    }

    async fn set_session_persistence(&self, id: uuid::Uuid, persistent: bool, idle_until: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.exec(
            "UPDATE sign_in_sessions SET persistent = $2, idle_until = CASE WHEN $3 < expires_at THEN $3 ELSE expires_at END \
             WHERE id = $1 AND ended_at IS NULL",
            args![id.to_string(), i64::from(persistent), micros(idle_until)],
        )
        .await?;
        tx.commit().await
    }

    async fn end_session(&self, id: uuid::Uuid, at: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.exec("UPDATE sign_in_sessions SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL", args![id.to_string(), micros(at)]).await?;
        tx.exec("UPDATE oauth_grants SET revoked_at = $2 WHERE session_id = $1 AND revoked_at IS NULL", args![id.to_string(), micros(at)])
            .await?;
        tx.commit().await
    }

    async fn create_grant(&self, grant: &StoredGrant, first: &StoredHandle) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        insert_grant(tx.as_mut(), grant).await?;
        insert_handle(tx.as_mut(), first).await?;
        tx.commit().await
    }

    async fn grant(&self, id: uuid::Uuid) -> StoreResult<Option<StoredGrant>> {
        let rows = self
            .db
            .rows(
                "SELECT id, tenant_id, session_id, client_id, user_id, created_at, expires_at, revoked_at FROM oauth_grants WHERE id = $1",
                args![id.to_string()],
            )
            .await?;
        rows.first().map(grant_from).transpose()
    }

    async fn revoke_grant(&self, id: uuid::Uuid, at: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.exec("UPDATE oauth_grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", args![id.to_string(), micros(at)]).await?;
        tx.commit().await
    }

    async fn handle(&self, hash: &str) -> StoreResult<Option<StoredHandle>> {
        let rows = self
            .db
            .rows("SELECT hash, tenant_id, kind, grant_id, expires_at, used_at, doc FROM oauth_handles WHERE hash = $1", args![hash])
            .await?;
        rows.first().map(handle_from).transpose()
    }

    async fn redeem_handle(&self, hash: &str, at: OffsetDateTime, replacement: Option<&StoredHandle>) -> StoreResult<Redeemed> {
        let mut tx = self.db.begin_write().await?;
        let rows = tx
            .rows("SELECT hash, tenant_id, kind, grant_id, expires_at, used_at, doc FROM oauth_handles WHERE hash = $1", args![hash])
            .await?;
        let Some(found) = rows.first().map(handle_from).transpose()? else { return Ok(Redeemed::Unknown) };
        if found.used_at.is_some() {
            tx.exec(
                "UPDATE oauth_grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                args![found.grant_id.to_string(), micros(at)],
            )
            .await?;
            tx.commit().await?;
            return Ok(Redeemed::Replayed(found));
        }
        tx.exec("UPDATE oauth_handles SET used_at = $2 WHERE hash = $1", args![hash, micros(at)]).await?;
        if let Some(next) = replacement {
            insert_handle(tx.as_mut(), next).await?;
            tx.exec(
                "UPDATE oauth_grants SET expires_at = $2 WHERE id = $1 AND expires_at < $2",
                args![next.grant_id.to_string(), micros(next.expires_at)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Redeemed::Fresh(found))
    }

    async fn remember_assertion(&self, hash: &str, expires_at: OffsetDateTime) -> StoreResult<bool> {
        let mut tx = self.db.begin_write().await?;
        let n = tx
            .exec(
                "INSERT INTO client_assertions (hash, expires_at) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING",
                args![hash, micros(expires_at)],
            )
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn create_device_code(&self, d: &StoredDeviceCode) -> StoreResult<()> {
        let mut tx = self.db.begin_write().await?;
        tx.exec(
            "INSERT INTO device_codes (device_hash, tenant_id, user_code, client_id, doc, created_at, expires_at, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            args![
                d.device_hash.clone(),
                d.tenant_id.to_string(),
                d.user_code.clone(),
                d.client_id.to_string(),
                d.doc.to_string(),
                micros(d.created_at),
                micros(d.expires_at),
                d.status.as_str()
            ],
        )
        .await?;
        tx.commit().await
    }

    async fn device_code_by_user_code(&self, tenant: TenantId, user_code: &str) -> StoreResult<Option<StoredDeviceCode>> {
        let rows = self
            .db
            .rows(
                "SELECT device_hash, tenant_id, user_code, client_id, doc, created_at, expires_at, last_poll_at, status, user_id, auth_time, amr, grant_id \
                 FROM device_codes WHERE tenant_id = $1 AND user_code = $2",
                args![tenant.to_string(), user_code],
            )
            .await?;
        rows.first().map(device_from).transpose()
    }

    async fn decide_device_code(
        &self,
        tenant: TenantId,
        user_code: &str,
        approval: Option<DeviceApproval>,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut tx = self.db.begin_write().await?;
        let n = match approval {
            Some(a) => {
                tx.exec(
                    "UPDATE device_codes SET status = 'approved', user_id = $3, auth_time = $4, amr = $5 \
                     WHERE tenant_id = $1 AND user_code = $2 AND status = 'pending' AND expires_at > $6",
                    args![tenant.to_string(), user_code, a.user_id.to_string(), micros(a.auth_time), a.amr, micros(now)],
                )
                .await?
            }
            None => {
                tx.exec(
                    "UPDATE device_codes SET status = 'denied' WHERE tenant_id = $1 AND user_code = $2 AND status = 'pending' AND expires_at > $3",
                    args![tenant.to_string(), user_code, micros(now)],
                )
                .await?
            }
        };
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn poll_device_code(&self, device_hash: &str, now: OffsetDateTime) -> StoreResult<Option<StoredDeviceCode>> {
        let mut tx = self.db.begin_write().await?;
        let rows = tx
            .rows(
                "SELECT device_hash, tenant_id, user_code, client_id, doc, created_at, expires_at, last_poll_at, status, user_id, auth_time, amr, grant_id \
                 FROM device_codes WHERE device_hash = $1",
                args![device_hash],
            )
            .await?;
        let Some(found) = rows.first().map(device_from).transpose()? else { return Ok(None) };
        tx.exec("UPDATE device_codes SET last_poll_at = $2 WHERE device_hash = $1", args![device_hash, micros(now)]).await?;
        tx.commit().await?;
        Ok(Some(found))
    }

    async fn redeem_device_code(&self, device_hash: &str, grant: &StoredGrant, refresh: Option<&StoredHandle>) -> StoreResult<bool> {
        let mut tx = self.db.begin_write().await?;
        let rows = tx.rows("SELECT status, grant_id FROM device_codes WHERE device_hash = $1", args![device_hash]).await?;
        let Some(row) = rows.first() else { return Ok(false) };
        match row.text(0)?.as_str() {
            "approved" => {}
            "redeemed" => {
                if let Some(previous) = opt_text(row, 1)? {
                    tx.exec(
                        "UPDATE oauth_grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                        args![previous, micros(grant.created_at)],
                    )
                    .await?;
                    tx.commit().await?;
                }
                return Ok(false);
            }
            _ => return Ok(false),
        }
        tx.exec(
            "UPDATE device_codes SET status = 'redeemed', grant_id = $2 WHERE device_hash = $1",
            args![device_hash, grant.id.to_string()],
        )
        .await?;
        insert_grant(tx.as_mut(), grant).await?;
        if let Some(h) = refresh {
            insert_handle(tx.as_mut(), h).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn purge_expired_auth(&self, cutoff: OffsetDateTime) -> StoreResult<u64> {
        let mut tx = self.db.begin_write().await?;
        let c = micros(cutoff);
        let mut n = tx.exec("DELETE FROM oauth_handles WHERE expires_at < $1", args![c]).await?;
        n += tx.exec("DELETE FROM oauth_grants WHERE expires_at < $1", args![c]).await?;
        n += tx.exec("DELETE FROM sign_in_sessions WHERE expires_at < $1", args![c]).await?;
        n += tx.exec("DELETE FROM client_assertions WHERE expires_at < $1", args![c]).await?;
        n += tx.exec("DELETE FROM device_codes WHERE expires_at < $1", args![c]).await?;
        tx.commit().await?;
        Ok(n)
    }
}
