//! Durability: SIGKILL `ward user import` in the middle of a stream of writes, then prove that
//! every acknowledged write survived and that no half-written object or orphan change-feed row
//! exists. On SQLite and on PostgreSQL.

mod common;
use common::*;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use ward_core::ObjectKind;
use ward_core::change::ChangeType;
use ward_core::store::{ListQuery, Store};
use ward_core::user::User;

/// Streams users into `ward user import` and kills it after `kill_after` acknowledgements.
/// Returns the acknowledged ids.
fn import_and_kill(workdir: &std::path::Path, store_args: &[&str], prefix: &str, kill_after: usize) -> Vec<String> {
    let mut child = ward(workdir)
        .args(["user", "import"])
        .args(store_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let prefix_owned = prefix.to_string();
    // The writer keeps the importer busy until it is killed (then its writes fail: fine).
    let writer = std::thread::spawn(move || {
        for i in 0..100_000 {
            let line = format!(
                "{{\"userPrincipalName\": \"{prefix_owned}{i}@defaultdirectory.ward.local\", \"displayName\": \"User {i}\", \"jobTitle\": \"Crash test\"}}\n"
            );
            if stdin.write_all(line.as_bytes()).is_err() {
                return;
            }
        }
    });
    let mut acked = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while acked.len() < kill_after {
        let line = lines.next().expect("the importer acknowledges lines").unwrap();
        let v = json(&line);
        acked.push(v["id"].as_str().unwrap_or_else(|| panic!("unexpected failure: {line}")).to_string());
    }
    child.kill().unwrap(); // SIGKILL, mid-stream
    child.wait().unwrap();
    writer.join().unwrap();
    acked
}

async fn check_consistent(store: &dyn Store, acked: &[String]) {
    let tenant = store.tenants().await.unwrap()[0].id;
    // Every object decodes: nothing half-written.
    let mut ids = HashSet::new();
    let mut after = None;
    loop {
        let page = store.objects(tenant, ObjectKind::User, &ListQuery { deleted: false, after, limit: 1000 }).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for o in page {
            let user: User = serde_json::from_value(o.doc.clone()).expect("a whole user document");
            assert_eq!(user.id, o.id);
            ids.insert(o.id.to_string());
        }
    }
    for id in acked {
        assert!(ids.contains(id), "acknowledged user {id} was lost");
    }
    // Exactly one `created` row per user, and no row for a user that does not exist.
    let mut created = HashSet::new();
    let mut position = 0;
    loop {
        let rows = store.feed(Some(tenant), position, 1000).await.unwrap();
        let Some(last) = rows.last() else { break };
        position = last.position;
        for r in rows.iter().filter(|r| r.subject_kind == "user") {
            assert!(ids.contains(&r.subject_id), "orphan change-feed row for {}", r.subject_id);
            if r.change == ChangeType::Created {
                assert!(created.insert(r.subject_id.clone()), "two created rows for {}", r.subject_id);
            }
        }
    }
    assert_eq!(created, ids, "every user has its created row");
}

async fn crash_rounds(workdir: &std::path::Path, store_args: &[&str], location: ward_store::StoreLocation) {
    let mut acked = Vec::new();
    for (round, kill_after) in [40usize, 150, 7].into_iter().enumerate() {
        acked.extend(import_and_kill(workdir, store_args, &format!("r{round}u"), kill_after));
        let store = ward_store::open(&location, time::OffsetDateTime::now_utc()).await.unwrap();
        check_consistent(store.as_ref(), &acked).await;
    }
    // The store is still fully usable afterwards.
    ok(ward(workdir).args(["user", "create", "--upn", "after@defaultdirectory.ward.local"]).args(store_args));
}

#[tokio::test]
async fn sigkill_loses_no_acknowledged_write_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d, &[]);
    crash_rounds(d, &["--data-dir", "data"], ward_store::StoreLocation::Sqlite(d.join("data").join("ward.db"))).await;
}

#[tokio::test]
async fn sigkill_loses_no_acknowledged_write_on_postgres() {
    let Some(pg) = ward_testkit::postgres_required() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(ward(d).args(["init", "--database-url", pg.url()]));
    crash_rounds(d, &["--database-url", pg.url()], ward_store::StoreLocation::Postgres(pg.url().to_string())).await;
}
