//! SCIM user creates per second on the embedded SQLite store (issue 7, item 8): through Bulk
//! (target ≥ 2,000/s) and one request each (target ≥ 500/s).
//!
//! - The real `ward serve` (release build) pinned to core 0, SQLite with `synchronous=FULL`, a
//!   SCIM token from `ward scim token create`, the per-caller throttle off; the load generator
//!   on core 1.
//! - Each user is what Entra's provisioning client creates (entra-apis.md §4.2: userName,
//!   externalId, active, a work email, name, the enterprise extension's employeeNumber and
//!   department), each with a userName of its own.
//! - `single`: `--connections` keep-alive connections, each POSTing `/Users` one at a time; a
//!   create counts when its 201 arrives inside the window.
//! - `bulk`: the same, each request a `/Bulk` of `--batch` POSTs; a create counts when its
//!   operation's status is 201 in a response that arrives inside the window.
//! - Afterwards the bench checks through SCIM that the store holds every user it was told was
//!   created (`totalResults`), so nothing acknowledged was lost.
//!
//! ```text
//! cargo build --release -p ward -p ward-bench
//! taskset -c 1 target/release/ward-bench scim [--mode single|bulk|both] [--connections 4] [--batch 200] [--seconds 10] [--warmup 2]
//! ```

use crate::tokens::{check_taskset, cpu_seconds, fail, read_response_with_head, serve_ward, ward_binary, ward_cli};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

struct Options {
    seconds: f64,
    warmup: f64,
    connections: usize,
    batch: usize,
    mode: String,
}

fn options(args: &[String]) -> Options {
    let mut o = Options { seconds: 10.0, warmup: 2.0, connections: 4, batch: 200, mode: "both".into() };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| fail(&format!("{a} needs a value")));
        match a.as_str() {
            "--seconds" => o.seconds = value().parse().unwrap_or_else(|_| fail("--seconds: a number")),
            "--warmup" => o.warmup = value().parse().unwrap_or_else(|_| fail("--warmup: a number")),
            "--connections" => o.connections = value().parse().unwrap_or_else(|_| fail("--connections: a number")),
            "--batch" => o.batch = value().parse().unwrap_or_else(|_| fail("--batch: a number")),
            "--mode" => o.mode = value().clone(),
            other => fail(&format!("unknown option {other}")),
        }
    }
    if !["single", "bulk", "both"].contains(&o.mode.as_str()) {
        fail("--mode: single, bulk or both");
    }
    o
}

/// Entra's create-user body for user number `n`.
fn user(n: u64, domain: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": format!("hr-{n:08}"),
        "userName": format!("u{n:08}@{domain}"),
        "active": true,
        "emails": [{ "primary": true, "type": "work", "value": format!("u{n:08}@mail.example") }],
        "meta": { "resourceType": "User" },
        "name": { "formatted": format!("Given{n} Family{n}"), "familyName": format!("Family{n}"), "givenName": format!("Given{n}") },
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "employeeNumber": format!("{n:08}"), "department": "Sales" },
        "roles": []
    })
}

struct Target {
    addr: SocketAddr,
    tenant: String,
    token: String,
    domain: String,
}

fn request(t: &Target, method: &str, path: &str, body: &str) -> String {
    format!(
        "{method} /scim/v2/{}/{path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n{body}",
        t.tenant,
        t.addr,
        t.token,
        body.len()
    )
}

/// One connection: requests until `until`; creates confirmed inside [from, until) and latencies.
async fn worker(t: Arc<Target>, next: Arc<AtomicU64>, batch: Option<usize>, from: Instant, until: Instant) -> (u64, Vec<Duration>) {
    let mut stream = TcpStream::connect(t.addr).await.unwrap_or_else(|e| fail(&format!("connect: {e}")));
    stream.set_nodelay(true).ok();
    let mut buf = Vec::new();
    let (mut done, mut latencies) = (0u64, Vec::new());
    loop {
        let started = Instant::now();
        if started >= until {
            return (done, latencies);
        }
        let (req, expected) = match batch {
            None => {
                let n = next.fetch_add(1, Ordering::Relaxed);
                (request(&t, "POST", "Users", &user(n, &t.domain).to_string()), 1)
            }
            Some(size) => {
                let first = next.fetch_add(size as u64, Ordering::Relaxed);
                let ops: Vec<Value> = (first..first + size as u64)
                    .map(|n| json!({ "method": "POST", "path": "/Users", "bulkId": format!("b{n}"), "data": user(n, &t.domain) }))
                    .collect();
                let body = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops });
                (request(&t, "POST", "Bulk", &body.to_string()), size)
            }
        };
        stream.write_all(req.as_bytes()).await.unwrap_or_else(|e| fail(&format!("write: {e}")));
        let (status, _, body) = read_response_with_head(&mut stream, &mut buf).await.unwrap_or_else(|e| fail(&format!("read: {e}")));
        let created = match batch {
            None if status == 201 => 1,
            None => fail(&format!("a create answered {status}: {}", String::from_utf8_lossy(&body))),
            Some(_) => {
                let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                let ops = v["Operations"].as_array().cloned().unwrap_or_default();
                let ok = ops.iter().filter(|o| o["status"] == json!("201")).count();
                if status != 200 || ok != expected {
                    fail(&format!(
                        "a Bulk of {expected} creates answered {status} with {ok} created: {}",
                        String::from_utf8_lossy(&body[..body.len().min(600)])
                    ));
                }
                ok as u64
            }
        };
        let finished = Instant::now();
        if finished >= from && finished < until {
            done += created;
            latencies.push(finished - started);
        }
    }
}

/// Users the store holds, through SCIM.
async fn total(t: &Target) -> u64 {
    let mut stream = TcpStream::connect(t.addr).await.unwrap_or_else(|e| fail(&format!("connect: {e}")));
    let req = format!("GET /scim/v2/{}/Users?count=0 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\r\n", t.tenant, t.addr, t.token);
    stream.write_all(req.as_bytes()).await.unwrap_or_else(|e| fail(&format!("write: {e}")));
    let mut buf = Vec::new();
    let (_, _, body) = read_response_with_head(&mut stream, &mut buf).await.unwrap_or_else(|e| fail(&format!("read: {e}")));
    serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["totalResults"].as_u64()).unwrap_or_else(|| fail("no totalResults"))
}

async fn measure(o: &Options, batch: Option<usize>) {
    let ward = ward_binary();
    let data = tempfile::tempdir().expect("a temp dir");
    let init = ward_cli(&ward, data.path(), &["init", "--json"]);
    let tenant = init["tenant_id"].as_str().expect("tenant").to_string();
    let domain = init["admin_upn"].as_str().expect("admin").split('@').nth(1).expect("domain").to_string();
    let token = ward_cli(&ward, data.path(), &["scim", "token", "create", "--name", "bench", "--json"]);
    let token = token["secret"].as_str().expect("secret").to_string();
    // The per-caller throttle would measure itself (graph_rate_limit, 800 a second by default).
    let (server, addr) = serve_ward(&ward, data.path(), &[("WARD_GRAPH_RATE_LIMIT", "0")]);
    let t = Arc::new(Target { addr, tenant, token, domain });
    let before = total(&t).await;

    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let from = start + Duration::from_secs_f64(o.warmup);
    let until = from + Duration::from_secs_f64(o.seconds);
    let server_pid = server.pid().to_string();
    let mut tasks = Vec::new();
    for _ in 0..o.connections {
        tasks.push(tokio::spawn(worker(t.clone(), next.clone(), batch, from, until)));
    }
    tokio::time::sleep_until(tokio::time::Instant::from_std(from)).await;
    let (s0, g0, t0) = (cpu_seconds(&server_pid), cpu_seconds("self"), Instant::now());
    tokio::time::sleep_until(tokio::time::Instant::from_std(until)).await;
    let (s1, g1, t1) = (cpu_seconds(&server_pid), cpu_seconds("self"), Instant::now());
    let (mut done, mut latencies) = (0u64, Vec::new());
    for task in tasks {
        let (n, l) = task.await.expect("a worker");
        done += n;
        latencies.extend(l);
    }
    // Every create that was acknowledged (in the window or not) is in the store.
    let acknowledged = next.load(Ordering::Relaxed);
    let after = total(&t).await;
    let db_bytes = std::fs::metadata(data.path().join("ward.db")).map(|m| m.len()).unwrap_or(0);
    drop(server);

    let window = (t1 - t0).as_secs_f64();
    let rate = done as f64 / o.seconds;
    let (p50, p99) = crate::summarize(latencies);
    let (what, target) = match batch {
        None => ("one request each".to_string(), 500.0),
        Some(b) => (format!("Bulk of {b}"), 2000.0),
    };
    println!("ward-bench scim: user creates, {what}, {} connections, ward serve pinned to core 0", o.connections);
    println!("  window {:.1} s after {:.1} s warm-up", o.seconds, o.warmup);
    println!("  creates: {done} in the window = {rate:.0}/s; request latency p50 {:.1} ms, p99 {:.1} ms", p50 / 1000.0, p99 / 1000.0);
    println!("  server CPU {:.0} % of a core, load generator {:.0} %", (s1 - s0) / window * 100.0, (g1 - g0) / window * 100.0);
    println!(
        "  store: {} users after (+{} from the load, {} acknowledged), ward.db {:.1} MB",
        after,
        after - before,
        acknowledged,
        db_bytes as f64 / 1e6
    );
    if after - before < acknowledged {
        fail("the store holds fewer users than were acknowledged");
    }
    let verdict = if rate >= target { "met" } else { "NOT met" };
    println!("  target ≥ {target:.0}/s: {verdict}");
}

pub async fn run(args: &[String]) {
    let o = options(args);
    check_taskset();
    if o.mode != "bulk" {
        measure(&o, None).await;
    }
    if o.mode != "single" {
        measure(&o, Some(o.batch)).await;
    }
}
