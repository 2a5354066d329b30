//! The store's sign-in and account state beside the directory: authentication methods, lockout
//! counters and the audit log. Free functions over the backend, called by `SqlStore`'s `Store`
//! implementation.

use crate::sql::{Db, Tx, args, from_micros, micros};
use serde_json::Value;
use time::OffsetDateTime;
use ward_core::audit::{AuditQuery, AuditRecord};
use ward_core::ids::{ObjectId, TenantId};
use ward_core::store::{LockoutPolicy, StoreError, StoreResult, StoredAuthMethod};

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn parse_doc(text: &str) -> StoreResult<Value> {
    serde_json::from_str(text).map_err(corrupt)
}

pub(crate) async fn locked_until(db: &dyn Db, tenant: TenantId, key: &str, now: OffsetDateTime) -> StoreResult<Option<OffsetDateTime>> {
    let rows = db
        .rows(
            "SELECT locked_until FROM lockouts WHERE tenant_id = $1 AND key = $2 AND locked_until > $3",
            args![tenant.to_string(), key, micros(now)],
        )
        .await?;
    match rows.first() {
        Some(r) => r.opt_int(0)?.map(from_micros).transpose(),
        None => Ok(None),
    }
}

pub(crate) async fn lockouts(
    db: &dyn Db,
    tenant: TenantId,
    keys: &[&str],
    familiar: Option<(ObjectId, &str, OffsetDateTime)>,
    now: OffsetDateTime,
) -> StoreResult<(Vec<(String, Option<OffsetDateTime>)>, Option<OffsetDateTime>)> {
    if keys.is_empty() || keys.len() > 3 {
        return Err(StoreError::Corrupt(format!("lockouts: {} keys asked for (1 to 3)", keys.len())));
    }
    // Unused slots repeat the first key, and no familiar network matches an empty user id: the
    // same statement serves every call. The second part's rows say `familiar` in the key column.
    let k = |i: usize| keys.get(i).copied().unwrap_or(keys[0]);
    let (user, network, since) = match familiar {
        Some((u, n, s)) => (u.to_string(), n, micros(s)),
        None => (String::new(), "", i64::MAX),
    };
    let rows = db
        .rows(
            "SELECT key, locked_until FROM lockouts WHERE tenant_id = $1 AND key IN ($2, $3, $4) \
             UNION ALL \
             SELECT 'familiar', last_seen FROM familiar_sources WHERE tenant_id = $1 AND user_id = $5 AND source = $6 AND last_seen >= $7",
            args![tenant.to_string(), k(0), k(1), k(2), user, network, since],
        )
        .await?;
    let at = micros(now);
    let (mut counters, mut seen) = (Vec::new(), None);
    for r in &rows {
        let key = r.text(0)?;
        if key == "familiar" {
            seen = r.opt_int(1)?.map(from_micros).transpose()?;
        } else {
            counters.push((key, r.opt_int(1)?.filter(|l| *l > at).map(from_micros).transpose()?));
        }
    }
    Ok((counters, seen))
}

pub(crate) async fn record_lockout_failure(
    db: &dyn Db,
    tenant: TenantId,
    key: &str,
    now: OffsetDateTime,
    p: &LockoutPolicy,
) -> StoreResult<Option<OffsetDateTime>> {
    let mut tx = db.begin_write().await?;
    let rows =
        tx.rows("SELECT failures, updated_at FROM lockouts WHERE tenant_id = $1 AND key = $2", args![tenant.to_string(), key]).await?;
    let earlier = match rows.first() {
        Some(r) if from_micros(r.int(1)?)? + p.forget > now => r.int(0)?,
        _ => 0,
    };
    let failures = earlier + 1;
    let locked_until = (failures >= i64::from(p.threshold)).then(|| {
        let doublings = (failures - i64::from(p.threshold)).min(16) as u32;
        now + (p.first * 2i32.pow(doublings)).min(p.max)
    });
    tx.exec(
        "INSERT INTO lockouts (tenant_id, key, failures, locked_until, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, key) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until, updated_at = excluded.updated_at",
        args![tenant.to_string(), key, failures, locked_until.map(micros), micros(now)],
    )
    .await?;
    tx.commit().await?;
    Ok(locked_until)
}

pub(crate) async fn clear_lockout(db: &dyn Db, tenant: TenantId, key: &str) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    tx.exec("DELETE FROM lockouts WHERE tenant_id = $1 AND key = $2", args![tenant.to_string(), key]).await?;
    tx.commit().await
}

pub(crate) async fn purge_lockouts(db: &dyn Db, cutoff: OffsetDateTime) -> StoreResult<u64> {
    let mut tx = db.begin_write().await?;
    let n = tx.exec("DELETE FROM lockouts WHERE updated_at < $1", args![micros(cutoff)]).await?;
    tx.commit().await?;
    Ok(n)
}

pub(crate) async fn remember_source(db: &dyn Db, tenant: TenantId, user: ObjectId, source: &str, at: OffsetDateTime) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    tx.exec(
        "INSERT INTO familiar_sources (tenant_id, user_id, source, last_seen) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id, user_id, source) DO UPDATE SET last_seen = excluded.last_seen",
        args![tenant.to_string(), user.to_string(), source, micros(at)],
    )
    .await?;
    tx.commit().await
}

pub(crate) async fn purge_sources(db: &dyn Db, cutoff: OffsetDateTime) -> StoreResult<u64> {
    let mut tx = db.begin_write().await?;
    let n = tx.exec("DELETE FROM familiar_sources WHERE last_seen < $1", args![micros(cutoff)]).await?;
    tx.commit().await?;
    Ok(n)
}

pub(crate) async fn sign_in_profile(db: &dyn Db, tenant: TenantId, user: ObjectId) -> StoreResult<Option<String>> {
    let rows = db
        .rows("SELECT doc FROM sign_in_profiles WHERE tenant_id = $1 AND user_id = $2", args![tenant.to_string(), user.to_string()])
        .await?;
    rows.first().map(|r| r.text(0)).transpose()
}

pub(crate) async fn save_sign_in_profiles(db: &dyn Db, profiles: &[(TenantId, ObjectId, String, OffsetDateTime)]) -> StoreResult<()> {
    if profiles.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    for (tenant, user, doc, at) in profiles {
        tx.exec(
            "INSERT INTO sign_in_profiles (tenant_id, user_id, doc, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
            args![tenant.to_string(), user.to_string(), doc.clone(), micros(*at)],
        )
        .await?;
    }
    tx.commit().await
}

pub(crate) async fn purge_sign_in_profiles(db: &dyn Db, cutoff: OffsetDateTime) -> StoreResult<u64> {
    let mut tx = db.begin_write().await?;
    let n = tx.exec("DELETE FROM sign_in_profiles WHERE updated_at < $1", args![micros(cutoff)]).await?;
    tx.commit().await?;
    Ok(n)
}

pub(crate) async fn add_auth_method(db: &dyn Db, m: &StoredAuthMethod) -> StoreResult<()> {
    let mut tx = db.begin_write().await?;
    tx.exec(
        "INSERT INTO auth_methods (tenant_id, id, user_id, kind, doc, secret_sealed, last_step, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![
            m.tenant_id.to_string(),
            m.id.to_string(),
            m.user_id.to_string(),
            m.kind.clone(),
            m.doc.to_string(),
            m.secret_sealed.clone(),
            m.last_step,
            micros(m.created_at)
        ],
    )
    .await?;
    tx.commit().await
}

pub(crate) async fn auth_methods(db: &dyn Db, tenant: TenantId, user: ObjectId) -> StoreResult<Vec<StoredAuthMethod>> {
    let rows = db
        .rows(
            "SELECT id, kind, doc, secret_sealed, last_step, created_at FROM auth_methods WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at, id",
            args![tenant.to_string(), user.to_string()],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredAuthMethod {
                id: r.text(0)?.parse().map_err(corrupt)?,
                tenant_id: tenant,
                user_id: user,
                kind: r.text(1)?,
                doc: parse_doc(&r.text(2)?)?,
                secret_sealed: r.opt_text(3)?,
                last_step: r.opt_int(4)?,
                created_at: from_micros(r.int(5)?)?,
            })
        })
        .collect()
}

pub(crate) async fn remove_auth_method(db: &dyn Db, tenant: TenantId, user: ObjectId, id: uuid::Uuid) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let n = tx
        .exec(
            "DELETE FROM auth_methods WHERE tenant_id = $1 AND user_id = $2 AND id = $3",
            args![tenant.to_string(), user.to_string(), id.to_string()],
        )
        .await?;
    tx.commit().await?;
    Ok(n == 1)
}

pub(crate) async fn use_otp_step(db: &dyn Db, tenant: TenantId, id: uuid::Uuid, step: i64) -> StoreResult<bool> {
    let mut tx = db.begin_write().await?;
    let n = tx
        .exec(
            "UPDATE auth_methods SET last_step = $3 WHERE tenant_id = $1 AND id = $2 AND (last_step IS NULL OR last_step < $3)",
            args![tenant.to_string(), id.to_string(), step],
        )
        .await?;
    tx.commit().await?;
    Ok(n == 1)
}

pub(crate) async fn audit_records(db: &dyn Db, tenant: TenantId, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
    let (before_at, before_id) = match q.before {
        Some((at, id)) => (Some(at), Some(id.to_string())),
        None => (None, None),
    };
    let rows = db
        .rows(
            "SELECT doc FROM audit_log WHERE tenant_id = $1 \
             AND ($2 IS NULL OR at < $2 OR (at = $2 AND id < $3)) \
             AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at <= $5) \
             AND ($6 IS NULL OR category = $6) AND ($7 IS NULL OR activity = $7) AND ($8 IS NULL OR result = $8) \
             AND ($9 IS NULL OR targets LIKE $9) AND ($11 IS NULL OR id = $11) \
             ORDER BY at DESC, id DESC LIMIT $10",
            args![
                tenant.to_string(),
                before_at,
                before_id,
                q.since.map(micros),
                q.until.map(micros),
                q.category.clone(),
                q.activity.clone(),
                q.result.clone(),
                q.target_id.map(|t| format!("% {t} %")),
                i64::from(q.limit.clamp(1, 1000)),
                q.id.map(|i| i.to_string())
            ],
        )
        .await?;
    rows.iter().map(|r| serde_json::from_str(&r.text(0)?).map_err(corrupt)).collect()
}

pub(crate) async fn record_sign_ins(db: &dyn Db, records: &[ward_core::sign_in_log::SignInRecord]) -> StoreResult<()> {
    if records.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    for r in records {
        tx.exec(
            "INSERT INTO sign_in_log (tenant_id, id, at, user_id, app_id, error_code, ca_status, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            args![
                r.tenant_id.to_string(),
                r.id.to_string(),
                micros(r.created),
                r.user_id.map(|u| u.to_string()).unwrap_or_default(),
                r.app_id.map(|a| a.to_string()).unwrap_or_default(),
                r.error_code,
                r.conditional_access_status.clone(),
                r.doc.to_string()
            ],
        )
        .await?;
    }
    tx.commit().await
}

pub(crate) async fn sign_ins(
    db: &dyn Db,
    tenant: TenantId,
    q: &ward_core::sign_in_log::SignInQuery,
) -> StoreResult<Vec<serde_json::Value>> {
    let (before_at, before_id) = match q.before {
        Some((at, id)) => (Some(at), Some(id.to_string())),
        None => (None, None),
    };
    let rows = db
        .rows(
            "SELECT doc FROM sign_in_log WHERE tenant_id = $1 \
             AND ($2 IS NULL OR at < $2 OR (at = $2 AND id < $3)) \
             AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at <= $5) \
             AND ($6 IS NULL OR user_id = $6) AND ($7 IS NULL OR app_id = $7) \
             AND ($8 IS NULL OR ($8 = 1 AND error_code = 0) OR ($8 = 0 AND error_code <> 0)) \
             AND ($9 IS NULL OR error_code = $9) AND ($10 IS NULL OR ca_status = $10) AND ($12 IS NULL OR id = $12) \
             ORDER BY at DESC, id DESC LIMIT $11",
            args![
                tenant.to_string(),
                before_at,
                before_id,
                q.since.map(micros),
                q.until.map(micros),
                q.user_id.map(|u| u.to_string()),
                q.app_id.map(|a| a.to_string()),
                q.succeeded.map(i64::from),
                q.error_code,
                q.conditional_access_status.clone(),
                i64::from(q.limit.clamp(1, 1000)),
                q.id.map(|i| i.to_string())
            ],
        )
        .await?;
    rows.iter().map(|r| serde_json::from_str(&r.text(0)?).map_err(corrupt)).collect()
}

pub(crate) async fn purge_sign_ins(db: &dyn Db, cutoff: OffsetDateTime) -> StoreResult<u64> {
    let mut tx = db.begin_write().await?;
    let n = tx.exec("DELETE FROM sign_in_log WHERE at < $1", args![micros(cutoff)]).await?;
    tx.commit().await?;
    Ok(n)
}

pub(crate) async fn purge_audit(db: &dyn Db, cutoff: OffsetDateTime) -> StoreResult<u64> {
    let mut tx = db.begin_write().await?;
    let n = tx.exec("DELETE FROM audit_log WHERE at < $1", args![micros(cutoff)]).await?;
    tx.commit().await?;
    Ok(n)
}

pub(crate) async fn insert_audit(tx: &mut dyn Tx, tenant: TenantId, r: &AuditRecord) -> StoreResult<()> {
    let targets = format!(" {} ", r.target_ids().join(" "));
    let doc = serde_json::to_string(r).map_err(corrupt)?;
    tx.exec(
        "INSERT INTO audit_log (tenant_id, id, at, category, activity, result, targets, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![
            tenant.to_string(),
            r.id.to_string(),
            micros(r.activity_date_time),
            r.category.clone(),
            r.activity_display_name.clone(),
            r.result.clone(),
            targets,
            doc
        ],
    )
    .await?;
    Ok(())
}
