//! The PostgreSQL backend, for many stateless nodes sharing one database.

use crate::sql::{Arg, Db, Migration, Row, Tx, Val, map_err};
use async_trait::async_trait;
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{Column, PgPool, Postgres, Row as _, Transaction, TypeInfo, ValueRef};
use std::time::Duration;
use ward_core::store::{StoreError, StoreResult};

pub static MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "directory", sql: include_str!("../migrations/postgres/0001_directory.sql") },
    Migration { version: 2, name: "signing_keys", sql: include_str!("../migrations/postgres/0002_signing_keys.sql") },
    Migration { version: 3, name: "sign_in", sql: include_str!("../migrations/postgres/0003_sign_in.sql") },
    Migration { version: 4, name: "client_assertions", sql: include_str!("../migrations/postgres/0004_client_assertions.sql") },
    Migration { version: 5, name: "device_codes", sql: include_str!("../migrations/postgres/0005_device_codes.sql") },
    Migration { version: 6, name: "object_index", sql: include_str!("../migrations/postgres/0006_object_index.sql") },
    Migration { version: 7, name: "audit_log", sql: include_str!("../migrations/postgres/0007_audit_log.sql") },
    Migration { version: 8, name: "live_objects", sql: include_str!("../migrations/postgres/0008_live_objects.sql") },
    Migration { version: 9, name: "auth_methods", sql: include_str!("../migrations/postgres/0009_auth_methods.sql") },
    Migration { version: 10, name: "sessions_by_user", sql: include_str!("../migrations/postgres/0010_sessions_by_user.sql") },
    Migration { version: 11, name: "lockouts", sql: include_str!("../migrations/postgres/0011_lockouts.sql") },
    Migration { version: 12, name: "session_idle", sql: include_str!("../migrations/postgres/0012_session_idle.sql") },
    Migration { version: 13, name: "familiar_sources", sql: include_str!("../migrations/postgres/0013_familiar_sources.sql") },
    Migration { version: 14, name: "sign_in_log", sql: include_str!("../migrations/postgres/0014_sign_in_log.sql") },
    Migration { version: 15, name: "sign_in_risk", sql: include_str!("../migrations/postgres/0015_sign_in_risk.sql") },
    Migration { version: 16, name: "sign_in_request", sql: include_str!("../migrations/postgres/0016_sign_in_request.sql") },
];

/// The advisory lock every write transaction takes: writes, and so change-feed positions, are
/// serialized in commit order across all nodes.
const WRITE_LOCK: i64 = 0x5741_5244; // "WARD"

pub struct PostgresDb {
    pool: PgPool,
}

impl PostgresDb {
    pub async fn open(url: &str) -> StoreResult<PostgresDb> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {}", redact(&e.to_string()))))?;
        Ok(PostgresDb { pool })
    }
}

/// Driver errors can echo the URL; never let a password reach a log.
fn redact(message: &str) -> String {
    message
        .split_whitespace()
        .map(|w| if w.contains("://") && w.contains('@') { "<database-url>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

fn bind<'q>(
    mut q: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    for a in args {
        q = match a {
            Arg::Int(v) => q.bind(v),
            Arg::Text(v) => q.bind(v),
        };
    }
    q
}

fn decode(row: &PgRow) -> StoreResult<Row> {
    let mut out = Vec::with_capacity(row.columns().len());
    for (i, col) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(i).map_err(map_err)?;
        if raw.is_null() {
            out.push(Val::Null);
            continue;
        }
        let v = match col.type_info().name() {
            "INT8" => Val::Int(row.try_get::<i64, _>(i).map_err(map_err)?),
            "INT4" => Val::Int(row.try_get::<i32, _>(i).map_err(map_err)? as i64),
            "TEXT" | "VARCHAR" => Val::Text(row.try_get::<String, _>(i).map_err(map_err)?),
            other => return Err(StoreError::Corrupt(format!("unexpected column type {other}"))),
        };
        out.push(v);
    }
    Ok(Row(out))
}

struct PgTx(Transaction<'static, Postgres>);

#[async_trait]
impl Tx for PgTx {
    async fn exec(&mut self, sql: &'static str, args: Vec<Arg>) -> StoreResult<u64> {
        let r = bind(sqlx::query(sql), args).execute(&mut *self.0).await.map_err(map_err)?;
        Ok(r.rows_affected())
    }
    async fn rows(&mut self, sql: &'static str, args: Vec<Arg>) -> StoreResult<Vec<Row>> {
        let rows = bind(sqlx::query(sql), args).fetch_all(&mut *self.0).await.map_err(map_err)?;
        rows.iter().map(decode).collect()
    }
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.0.commit().await.map_err(map_err)
    }
}

#[async_trait]
impl Db for PostgresDb {
    fn name(&self) -> &'static str {
        "postgres"
    }
    async fn begin_write(&self) -> StoreResult<Box<dyn Tx>> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITE_LOCK).execute(&mut *tx).await.map_err(map_err)?;
        Ok(Box::new(PgTx(tx)))
    }
    async fn rows(&self, sql: &'static str, args: Vec<Arg>) -> StoreResult<Vec<Row>> {
        let rows = bind(sqlx::query(sql), args).fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(decode).collect()
    }
    async fn rows_assembled(&self, sql: crate::sql::Assembled, args: Vec<Arg>) -> StoreResult<Vec<Row>> {
        let rows = bind(sqlx::query(sqlx::AssertSqlSafe(sql.into_string())), args).fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(decode).collect()
    }
    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_redacted_from_errors() {
        let m = super::redact("error connecting to postgres://ward:s3cret@db:5432/ward: refused");
        assert!(!m.contains("s3cret"), "{m}");
    }
}
