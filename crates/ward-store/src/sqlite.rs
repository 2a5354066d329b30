//! The SQLite backend: one file in the data directory, WAL, full fsync on commit.
//!
//! Statements run on the calling thread (rusqlite), not on a driver thread behind a channel: a
//! read from SQLite's page cache takes microseconds, less than the two context switches a hand-off
//! costs (the sign-in benchmark counted ~80 switches a sign-in with one per statement). What can
//! wait long leaves the async workers: a commit (its fsync), a write lock held by another process,
//! and the directory's assembled queries, which may walk many index rows.

use crate::sql::{Arg, Db, Migration, Row, Tx, Val};
use async_trait::async_trait;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, ffi};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use ward_core::store::{StoreError, StoreResult};

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
    Migration { version: 15, name: "sign_in_risk", sql: include_str!("../migrations/sqlite/0015_sign_in_risk.sql") },
    Migration { version: 16, name: "sign_in_request", sql: include_str!("../migrations/sqlite/0016_sign_in_request.sql") },
];

/// How long a write waits for another process (the CLI beside a running server) to release
/// the database's write lock.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// Idle read connections kept open; more are opened when more statements run at once.
const KEEP_READERS: usize = 8;

pub struct SqliteDb {
    inner: Arc<Inner>,
    /// The WAL index (`ward.db-shm`), opened read-only on first use.
    shm_path: PathBuf,
    shm: Mutex<Option<(std::fs::File, u64)>>,
}

struct Inner {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    /// The one connection that writes, between transactions.
    writer: Mutex<Option<Connection>>,
    /// One write transaction at a time in this process, waiting in turn (FIFO) instead of in
    /// SQLite's busy handler, which sleeps.
    write_turn: Arc<Semaphore>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Opens a connection with the settings every connection needs. Connections, once open, stay
/// open for the life of the store, so the WAL index does too.
fn connect(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(map_err)?;
    conn.busy_timeout(LOCK_WAIT).map_err(map_err)?;
    // FULL: an acknowledged write survives power loss, not only a crash of the process.
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;").map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

impl SqliteDb {
    pub async fn open(path: &Path) -> StoreResult<SqliteDb> {
        // The first connection switches the file to WAL before any other connection exists.
        let writer = connect(path)?;
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(map_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!("SQLite refused WAL mode for {} (it stays in {mode})", path.display())));
        }
        let inner = Inner {
            path: path.to_path_buf(),
            readers: Mutex::new(Vec::new()),
            writer: Mutex::new(Some(writer)),
            write_turn: Arc::new(Semaphore::new(1)),
        };
        let mut shm_path = path.as_os_str().to_owned();
        shm_path.push("-shm");
        Ok(SqliteDb { inner: Arc::new(inner), shm_path: shm_path.into(), shm: Mutex::new(None) })
    }
}

/// How long a read on an async worker waits for a lock (only WAL recovery by another process
/// takes one) before it moves off the worker to wait the full [`LOCK_WAIT`].
const READ_LOCK_WAIT_ON_WORKER: Duration = Duration::from_millis(20);

impl Inner {
    /// Runs `f` on an idle read connection (opening one if none is idle), waiting at most
    /// `lock_wait` for a lock.
    fn read_waiting<R>(&self, lock_wait: Duration, f: impl FnOnce(&Connection) -> StoreResult<R>) -> StoreResult<R> {
        let idle = locked(&self.readers).pop();
        let conn = match idle {
            Some(c) => c,
            None => connect(&self.path)?,
        };
        conn.busy_timeout(lock_wait).map_err(map_err)?;
        let result = f(&conn);
        let mut readers = locked(&self.readers);
        if readers.len() < KEEP_READERS {
            readers.push(conn);
        }
        result
    }
}

/// Maps a driver error: constraint violations become typed errors, everything else means the
/// store is unavailable.
fn map_err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => return StoreError::UniqueViolation(String::new()),
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => return StoreError::NotFound { kind: "object".into(), id: String::new() },
            _ => {}
        }
    }
    if is_busy(&e) {
        return StoreError::Unavailable(format!("{LOCKED}{e}"));
    }
    StoreError::Unavailable(e.to_string())
}

/// How a lock held elsewhere reads once mapped, so a read can tell it from other failures.
const LOCKED: &str = "the database is locked by another connection: ";

fn is_locked(e: &StoreError) -> bool {
    matches!(e, StoreError::Unavailable(m) if m.starts_with(LOCKED))
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy)
}

/// Binds `args` the way the SQL is written for both dialects: `$n` is the n-th argument, wherever
/// and however often it appears; SQLite itself numbers named parameters by first appearance.
fn bind(stmt: &mut rusqlite::Statement<'_>, args: &[Arg]) -> StoreResult<()> {
    for i in 1..=stmt.parameter_count() {
        // `$n` and `?n` by number; a bare `?` by position; any other name is a mistake in our SQL.
        let n = match stmt.parameter_name(i) {
            None => i,
            Some(name) => name
                .strip_prefix(['$', '?'])
                .and_then(|d| d.parse::<usize>().ok())
                .ok_or_else(|| StoreError::Unavailable(format!("statement parameter {name} is not numbered")))?,
        };
        let arg = n
            .checked_sub(1)
            .and_then(|k| args.get(k))
            .ok_or_else(|| StoreError::Unavailable(format!("statement parameter ${n} has no argument")))?;
        match arg {
            Arg::Int(v) => stmt.raw_bind_parameter(i, v),
            Arg::Text(v) => stmt.raw_bind_parameter(i, v.as_deref()),
        }
        .map_err(map_err)?;
    }
    Ok(())
}

fn query(conn: &Connection, sql: &str, args: &[Arg]) -> StoreResult<Vec<Row>> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    bind(&mut stmt, args)?;
    let columns = stmt.column_count();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(map_err)? {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            values.push(match r.get_ref(i).map_err(map_err)? {
                ValueRef::Null => Val::Null,
                ValueRef::Integer(n) => Val::Int(n),
                ValueRef::Real(f) => Val::Text(f.to_string()),
                ValueRef::Text(t) | ValueRef::Blob(t) => {
                    Val::Text(String::from_utf8(t.to_vec()).map_err(|_| StoreError::Corrupt(format!("column {i} is not UTF-8")))?)
                }
            });
        }
        out.push(Row(values));
    }
    Ok(out)
}

fn exec(conn: &Connection, sql: &str, args: &[Arg]) -> StoreResult<u64> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    bind(&mut stmt, args)?;
    let mut rows = stmt.raw_query();
    while rows.next().map_err(map_err)?.is_some() {}
    drop(rows);
    Ok(conn.changes())
}

async fn off_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> StoreResult<R> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Unavailable(format!("a store task failed: {e}")))
}

/// A write transaction: the writer connection, taken out of its slot, and this process's turn to
/// write. Dropped without `commit`, it rolls back and puts the connection back.
struct SqliteTx {
    conn: Option<Connection>,
    inner: Arc<Inner>,
    turn: Option<OwnedSemaphorePermit>,
}

impl SqliteTx {
    fn conn(&self) -> StoreResult<&Connection> {
        self.conn.as_ref().ok_or_else(|| StoreError::Unavailable("the transaction has ended".into()))
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // A connection whose rollback failed is closed instead (closing rolls back).
            if conn.is_autocommit() || conn.execute_batch("ROLLBACK").is_ok() {
                *locked(&self.inner.writer) = Some(conn);
            }
        }
        // `turn` is released after this, with the connection back in its slot.
    }
}

#[async_trait]
impl Tx for SqliteTx {
    async fn exec(&mut self, sql: &'static str, args: Vec<Arg>) -> StoreResult<u64> {
        exec(self.conn()?, sql, &args)
    }
    async fn rows(&mut self, sql: &'static str, args: Vec<Arg>) -> StoreResult<Vec<Row>> {
        query(self.conn()?, sql, &args)
    }
    async fn commit(mut self: Box<Self>) -> StoreResult<()> {
        let conn = self.conn.take().ok_or_else(|| StoreError::Unavailable("the transaction has ended".into()))?;
        let (inner, turn) = (self.inner.clone(), self.turn.take());
        // The fsync happens here, off the async workers. The connection goes back to its slot
        // before the turn is released, so the next writer finds it.
        off_thread(move || {
            let result = conn.execute_batch("COMMIT").map_err(map_err);
            if conn.is_autocommit() || conn.execute_batch("ROLLBACK").is_ok() {
                *locked(&inner.writer) = Some(conn);
            }
            drop(turn);
            result
        })
        .await?
    }
}

#[async_trait]
impl Db for SqliteDb {
    fn name(&self) -> &'static str {
        "sqlite"
    }
    async fn begin_write(&self) -> StoreResult<Box<dyn Tx>> {
        let turn =
            self.inner.write_turn.clone().acquire_owned().await.map_err(|_| StoreError::Unavailable("the store is closing".into()))?;
        let idle = locked(&self.inner.writer).take();
        let conn = match idle {
            Some(c) => c,
            None => connect(&self.inner.path)?,
        };
        // IMMEDIATE takes the write lock now, so a transaction never fails late on lock upgrade.
        // Within this process the turn makes the lock free; only another process can hold it, and
        // then the wait happens off the async workers.
        conn.busy_timeout(Duration::ZERO).map_err(map_err)?;
        let began = conn.execute_batch("BEGIN IMMEDIATE");
        let conn = match began {
            Ok(()) => conn,
            Err(e) if is_busy(&e) => {
                let (conn, began) = off_thread(move || {
                    let began = conn.busy_timeout(LOCK_WAIT).and_then(|()| conn.execute_batch("BEGIN IMMEDIATE"));
                    (conn, began)
                })
                .await?;
                began.map_err(map_err)?;
                conn
            }
            Err(e) => {
                *locked(&self.inner.writer) = Some(conn);
                return Err(map_err(e));
            }
        };
        conn.busy_timeout(LOCK_WAIT).map_err(map_err)?;
        Ok(Box::new(SqliteTx { conn: Some(conn), inner: self.inner.clone(), turn: Some(turn) }))
    }
    async fn rows(&self, sql: &'static str, args: Vec<Arg>) -> StoreResult<Vec<Row>> {
        match self.inner.read_waiting(READ_LOCK_WAIT_ON_WORKER, |conn| query(conn, sql, &args)) {
            Err(e) if is_locked(&e) => {
                let inner = self.inner.clone();
                off_thread(move || inner.read_waiting(LOCK_WAIT, |conn| query(conn, sql, &args))).await?
            }
            other => other,
        }
    }
    async fn rows_assembled(&self, sql: crate::sql::Assembled, args: Vec<Arg>) -> StoreResult<Vec<Row>> {
        let inner = self.inner.clone();
        let sql = sql.into_string();
        off_thread(move || inner.read_waiting(LOCK_WAIT, |conn| query(conn, &sql, &args))).await?
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

    /// `$n` is the n-th argument wherever it appears, repeated or out of order (SQLite alone would
    /// number `$2 … $1` by first appearance).
    #[tokio::test]
    async fn numbered_parameters_bind_by_number() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&dir.path().join("ward.db")).await.unwrap();
        let rows = db.rows("SELECT $2, $1, $2 || $1, $3", crate::sql::args!["a", "b", None::<i64>]).await.unwrap();
        assert_eq!(rows[0].0, vec![Val::Text("b".into()), Val::Text("a".into()), Val::Text("ba".into()), Val::Null]);
        let missing = db.rows("SELECT $1, $2", crate::sql::args!["only one"]).await;
        assert!(matches!(missing, Err(StoreError::Unavailable(ref m)) if m.contains("$2")), "{missing:?}");
        let named = db.rows("SELECT :tenant", crate::sql::args!["x"]).await;
        assert!(matches!(named, Err(StoreError::Unavailable(ref m)) if m.contains(":tenant")), "{named:?}");
    }

    /// Another process holding the write lock (the CLI beside a running server) makes a write
    /// wait for it, off the async workers, instead of failing at once; and writers of this process
    /// take turns.
    #[tokio::test]
    async fn a_write_waits_for_another_process_and_writers_take_turns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ward.db");
        let db = SqliteDb::open(&path).await.unwrap();
        let mut tx = db.begin_write().await.unwrap();
        tx.exec("CREATE TABLE t (n INTEGER)", vec![]).await.unwrap();
        tx.commit().await.unwrap();

        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (1);").unwrap();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            held.recv().unwrap();
            other.execute_batch("COMMIT").unwrap();
        });
        let waiting = tokio::spawn(async move {
            let mut tx = db.begin_write().await.unwrap();
            // It began after the other process committed, so it sees that row.
            let n = tx.rows("SELECT count(*) FROM t", vec![]).await.unwrap()[0].int(0).unwrap();
            tx.exec("INSERT INTO t VALUES (2)", vec![]).await.unwrap();
            tx.commit().await.unwrap();
            (db, n)
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "the write did not wait for the other process's lock");
        release.send(()).unwrap();
        let (db, seen) = waiting.await.unwrap();
        holder.join().unwrap();
        assert_eq!(seen, 1);

        // Two writers of this process: the second begins once the first has ended (rolled back).
        let first = db.begin_write().await.unwrap();
        let db = Arc::new(db);
        let second = tokio::spawn({
            let db = db.clone();
            async move {
                let mut tx = db.begin_write().await.unwrap();
                tx.exec("INSERT INTO t VALUES (3)", vec![]).await.unwrap();
                tx.commit().await.unwrap();
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!second.is_finished());
        drop(first);
        second.await.unwrap();
        let rows = db.rows("SELECT n FROM t ORDER BY n", vec![]).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.int(0).unwrap()).collect::<Vec<_>>(), vec![1, 2, 3]);
    }

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
