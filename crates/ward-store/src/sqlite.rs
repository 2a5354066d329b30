//! The SQLite backend: one file in the data directory, WAL, full fsync on commit.

use crate::sql::{Arg, Db, Migration, Row, Tx, Val, map_err};
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row as _, Sqlite, SqlitePool, Transaction, TypeInfo, ValueRef};
use std::path::Path;
use std::time::Duration;
use ward_core::store::StoreResult;

pub static MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "directory", sql: include_str!("../migrations/sqlite/0001_directory.sql") },
    Migration { version: 2, name: "signing_keys", sql: include_str!("../migrations/sqlite/0002_signing_keys.sql") },
    Migration { version: 3, name: "sign_in", sql: include_str!("../migrations/sqlite/0003_sign_in.sql") },
    Migration { version: 4, name: "client_assertions", sql: include_str!("../migrations/sqlite/0004_client_assertions.sql") },
    Migration { version: 5, name: "device_codes", sql: include_str!("../migrations/sqlite/0005_device_codes.sql") },
    Migration { version: 6, name: "object_index", sql: include_str!("../migrations/sqlite/0006_object_index.sql") },
    Migration { version: 7, name: "audit_log", sql: include_str!("../migrations/sqlite/0007_audit_log.sql") },
    Migration { version: 8, name: "live_objects", sql: include_str!("../migrations/sqlite/0008_live_objects.sql") },
    Migration { version: 9, name: "auth_methods", sql: include_str!("../migrations/sqlite/0009_auth_methods.sql") },
    Migration { version: 10, name: "sessions_by_user", sql: include_str!("../migrations/sqlite/0010_sessions_by_user.sql") },
    Migration { version: 11, name: "lockouts", sql: include_str!("../migrations/sqlite/0011_lockouts.sql") },
    Migration { version: 12, name: "session_idle", sql: include_str!("../migrations/sqlite/0012_session_idle.sql") },
    Migration { version: 13, name: "familiar_sources", sql: include_str!("../migrations/sqlite/0013_familiar_sources.sql") },
    Migration { version: 14, name: "sign_in_log", sql: include_str!("../migrations/sqlite/0014_sign_in_log.sql") },
];

pub struct SqliteDb {
    pool: SqlitePool,
    /// The WAL index (`ward.db-shm`), opened read-only on first use.
    shm_path: std::path::PathBuf,
    shm: std::sync::Mutex<Option<(std::fs::File, u64)>>,
}

impl SqliteDb {
    pub async fn open(path: &Path) -> StoreResult<SqliteDb> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged write survives power loss, not only a crash of the process.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Other processes (the CLI beside a running server) wait for the write lock.
            .busy_timeout(Duration::from_secs(10));
        // Connections, once open, stay open (no idle timeout, no maximum lifetime), so the WAL
        // index lives as long as this store. (Not `min_connections`: its background connect races
        // the first connection's switch to WAL mode, which SQLite answers with "database is locked".)
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .idle_timeout(None)
            // sqlx would otherwise retire connections after 30 minutes; the last one closing lets
            // SQLite delete and later recreate the WAL index.
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(map_err)?;
        let mut shm_path = path.as_os_str().to_owned();
        shm_path.push("-shm");
        Ok(SqliteDb { pool, shm_path: shm_path.into(), shm: std::sync::Mutex::new(None) })
    }
}

fn bind<'q>(
    mut q: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments> {
    for a in args {
        q = match a {
            Arg::Int(v) => q.bind(v),
            Arg::Text(v) => q.bind(v),
        };
    }
    q
}

fn decode(row: &SqliteRow) -> StoreResult<Row> {
    let mut out = Vec::with_capacity(row.columns().len());
    for i in 0..row.columns().len() {
        let raw = row.try_get_raw(i).map_err(map_err)?;
        if raw.is_null() {
            out.push(Val::Null);
            continue;
        }
        let v = match raw.type_info().name() {
            "INTEGER" => Val::Int(row.try_get::<i64, _>(i).map_err(map_err)?),
            _ => Val::Text(row.try_get::<String, _>(i).map_err(map_err)?),
        };
        out.push(v);
    }
    Ok(Row(out))
}

struct SqliteTx(Transaction<'static, Sqlite>);

#[async_trait]
impl Tx for SqliteTx {
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
impl Db for SqliteDb {
    fn name(&self) -> &'static str {
        "sqlite"
    }
    async fn begin_write(&self) -> StoreResult<Box<dyn Tx>> {
        // IMMEDIATE takes the write lock now, so a transaction never fails late on lock upgrade.
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?;
        Ok(Box::new(SqliteTx(tx)))
    }
    async fn rows(&self, sql: &'static str, args: Vec<Arg>) -> StoreResult<Vec<Row>> {
        let rows = bind(sqlx::query(sql), args).fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(decode).collect()
    }
    async fn rows_assembled(&self, sql: crate::sql::Assembled, args: Vec<Arg>) -> StoreResult<Vec<Row>> {
        let rows = bind(sqlx::query(sqlx::AssertSqlSafe(sql.into_string())), args).fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(decode).collect()
    }
    /// The WAL-index header (https://www.sqlite.org/walformat.html §2.2.1): every committing
    /// writer, in any process, updates it (change counter, last frame, checksums), writing its
    /// second copy and then its first. Two equal copies are a consistent header; unequal ones
    /// (a commit in progress) or an unreadable file say "don't know".
    fn change_token(&self) -> Option<[u8; 48]> {
        use std::os::unix::fs::{FileExt, MetadataExt};
        // SQLite deletes and recreates the file when the last connection closes and a new one
        // opens: a handle on the old file would read a header that never changes again, so the
        // handle must still be the file at the path.
        let current = std::fs::metadata(&self.shm_path).ok()?.ino();
        let mut guard = self.shm.lock().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_none_or(|(_, ino)| *ino != current) {
            *guard = std::fs::File::open(&self.shm_path).ok().and_then(|f| Some((f.metadata().ok()?.ino(), f))).map(|(ino, f)| (f, ino));
        }
        let (file, ino) = guard.as_ref()?;
        if *ino != current {
            return None;
        }
        let mut buf = [0u8; 96];
        if file.read_exact_at(&mut buf, 0).is_err() {
            *guard = None;
            return None;
        }
        let (first, second) = buf.split_at(48);
        // An empty WAL (`mxFrame`, bytes 16..20, zero) has a header rebuilt the same way every time
        // the index is recreated: it cannot tell one empty state from another, so say "don't know".
        if first != second || first[16..20] == [0, 0, 0, 0] {
            return None;
        }
        let mut token: [u8; 48] = first.try_into().ok()?;
        // Bind the token to this index file too.
        for (i, b) in ino.to_le_bytes().iter().enumerate() {
            token[4 + i % 4] ^= b;
        }
        Some(token)
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cycle check must look ancestors up through the member index. A plan that scans `links`
    /// makes every nesting cost time proportional to the whole table (seen at 100k groups).
    #[tokio::test]
    async fn the_cycle_check_searches_the_member_index() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("ward.db")).await.unwrap();
        crate::migrate::migrate(&db, 0).await.unwrap();
        let sql: &'static str = Box::leak(format!("EXPLAIN QUERY PLAN {}", crate::sql_store::CYCLE_CHECK).into_boxed_str());
        let rows = db.rows(sql, crate::sql::args!["t", "g", "m"]).await.unwrap();
        let plan: Vec<String> = rows.iter().filter_map(|r| r.0.last().cloned()).map(|v| format!("{v:?}")).collect();
        // All three columns: a search on (tenant_id, relation) alone walks every link of the tenant.
        let full_key = "SEARCH l USING COVERING INDEX links_by_member (tenant_id=? AND relation=? AND member_id=?)";
        assert!(plan.iter().any(|step| step.contains(full_key)), "{plan:#?}");
        assert!(!plan.iter().any(|step| step.contains("SCAN l")), "{plan:#?}");
    }

    /// A later page of an index-ordered list must start in the index where the last one ended
    /// (found by the directory benchmark: with the keyset as a mere filter, page k stepped over
    /// k pages of index rows first).
    #[tokio::test]
    async fn later_pages_start_at_the_keyset_in_the_index() {
        use ward_core::ObjectKind;
        use ward_core::index::{Cond, Keyset, ObjectQuery, Test};
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("ward.db")).await.unwrap();
        crate::migrate::migrate(&db, 0).await.unwrap();
        let tenant = ward_core::TenantId::from_uuid(uuid::Uuid::from_u128(1));
        let after = Some(Keyset { value: Some("member".into()), id: ward_core::ObjectId::from_uuid(uuid::Uuid::from_u128(2)) });
        let plan_of = |test: Test, descending: bool| {
            let q = ObjectQuery {
                kind: ObjectKind::User,
                deleted: false,
                cond: Cond::Prop { property: "userType", test },
                order_by: Some("userType"),
                descending,
                after: after.clone(),
                limit: 100,
            };
            let (sql, args) = crate::query::select(tenant, &q, false).unwrap();
            let explain =
                crate::sql::Assembled::from_fragments(vec![std::borrow::Cow::Owned(format!("EXPLAIN QUERY PLAN {}", sql.as_str()))]);
            (explain, args)
        };
        for (test, descending, wanted) in [
            (Test::Eq("member".into()), false, "value=? AND id>?"),
            (Test::Eq("member".into()), true, "value=? AND id<?"),
            (Test::Prefix("m".into()), false, "(value,id)>(?,?) AND value<?"),
            (Test::Prefix("m".into()), true, "value>? AND (value,id)<(?,?)"),
        ] {
            let (sql, args) = plan_of(test.clone(), descending);
            let rows = db.rows_assembled(sql, args).await.unwrap();
            let plan: Vec<String> = rows.iter().filter_map(|r| r.0.last().cloned()).map(|v| format!("{v:?}")).collect();
            assert!(
                plan.iter().any(|step| step.contains("SEARCH d USING PRIMARY KEY") && step.contains(wanted)),
                "{test:?} {descending}: {plan:#?}"
            );
        }
    }
}
