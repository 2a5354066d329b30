//! Password sign-ins per second on one core, beside raw Argon2id on that core in the same run.
//!
//! - The real `ward serve` (release build) pinned to core 0, on the embedded SQLite store, with the
//!   per-address limit off (one load generator is one address).
//! - One sign-in is what a browser does: a form POST to `/{tenant}/login` (username, password, the
//!   CSRF token and cookie of a sign-in page fetched once per connection, `continue` = an authorize
//!   URL with PKCE), which answers 303 with a new session cookie; then the authorize GET with that
//!   cookie, which answers 302 to the app with a code. A sign-in counts when the code arrives.
//! - Raw: Argon2id verifications per second with Ward's parameters, through
//!   `ward_directory::secrets::verify_password`, by this binary run under `taskset -c 0`.
//! - Target (issue 5): sign-ins per second ≥ 90 % of the raw rate.
//!
//! ```text
//! cargo build --release -p ward -p ward-bench
//! taskset -c 1 target/release/ward-bench signin [--seconds 10] [--connections 4]
//! ```

use crate::tokens::{check_taskset, cpu_seconds, fail, form, read_response_with_head, serve_ward, ward_binary, ward_cli};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const PASSWORD: &str = "Correct-Horse-Battery-Staple-42";
const REDIRECT: &str = "http://127.0.0.1:8400/callback";

/// `ward-bench raw-argon2 SECONDS`: prints the verification rate and the share of the core it got.
pub fn raw_argon2_main(args: &[String]) {
    let seconds: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let hash = ward_directory::secrets::hash_password(PASSWORD, &ward_directory::SystemRng).expect("a hash");
    let (c0, t0) = (cpu_seconds("self"), Instant::now());
    let mut n = 0u64;
    while t0.elapsed().as_secs_f64() < seconds {
        assert!(std::hint::black_box(ward_directory::secrets::verify_password(PASSWORD, &hash)));
        n += 1;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    println!("{:.2} {:.3}", n as f64 / elapsed, (cpu_seconds("self") - c0) / elapsed);
}

fn raw_on_core0(seconds: f64) -> (f64, f64) {
    let me = std::env::current_exe().expect("own path");
    let out = std::process::Command::new("taskset")
        .args(["-c", "0"])
        .arg(me)
        .args(["raw-argon2", &seconds.to_string()])
        .output()
        .unwrap_or_else(|e| fail(&format!("taskset could not run raw-argon2: {e}")));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut f = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    match (f.next().flatten(), f.next().flatten()) {
        (Some(rate), Some(share)) => (rate, share),
        _ => fail(&format!("raw-argon2 printed no rate: {text}")),
    }
}

struct Options {
    seconds: f64,
    warmup: f64,
    connections: usize,
}

fn options(args: &[String]) -> Options {
    let mut o = Options { seconds: 10.0, warmup: 2.0, connections: 4 };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| fail(&format!("{a} needs a value")));
        match a.as_str() {
            "--seconds" => o.seconds = value().parse().unwrap_or_else(|_| fail("--seconds: a number")),
            "--warmup" => o.warmup = value().parse().unwrap_or_else(|_| fail("--warmup: a number")),
            "--connections" => o.connections = value().parse().unwrap_or_else(|_| fail("--connections: a number")),
            other => fail(&format!("unknown option {other}")),
        }
    }
    o
}

/// `Set-Cookie` values by cookie name (whatever prefix Ward gives its names).
fn cookie(head: &str, suffix: &str) -> Option<String> {
    head.lines()
        .filter_map(|l| l.strip_prefix("set-cookie:").or_else(|| l.strip_prefix("Set-Cookie:")))
        .map(|v| v.trim().split(';').next().unwrap_or("").to_string())
        .find(|pair| pair.split('=').next().is_some_and(|n| n.ends_with(suffix)))
}

fn location(head: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("location").then(|| value.trim().to_string())
    })
}

fn attr(html: &str, name: &str) -> Option<String> {
    let i = html.find(&format!("name=\"{name}\" value=\""))? + name.len() + 15;
    Some(html[i..i + html[i..].find('"')?].replace("&amp;", "&").replace("&#39;", "'").replace("&quot;", "\""))
}

async fn send(stream: &mut TcpStream, buf: &mut Vec<u8>, request: String) -> (u16, String, Vec<u8>) {
    stream.write_all(request.as_bytes()).await.unwrap_or_else(|e| fail(&format!("write: {e}")));
    read_response_with_head(stream, buf).await.unwrap_or_else(|e| fail(&format!("read: {e}")))
}

/// One connection's loop: a sign-in page once, then sign-ins until `until`. Returns the sign-ins
/// completed inside the window [from, until) and their latencies.
async fn worker(
    addr: SocketAddr,
    tenant: String,
    authorize: String,
    username: String,
    from: Instant,
    until: Instant,
) -> (u64, Vec<Duration>) {
    let mut stream = TcpStream::connect(addr).await.unwrap_or_else(|e| fail(&format!("connect: {e}")));
    stream.set_nodelay(true).ok();
    let mut buf = Vec::new();
    let get = |path: &str, cookie: &str| format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\r\n");
    let (status, head, body) = send(&mut stream, &mut buf, get(&authorize, "")).await;
    let page = String::from_utf8_lossy(&body).to_string();
    let (Some(csrf), Some(cont), Some(csrf_cookie)) = (attr(&page, "csrf_token"), attr(&page, "continue"), cookie(&head, "ward_csrf"))
    else {
        fail(&format!("the authorize URL did not answer a sign-in form ({status}): {}", &page[..page.len().min(400)]))
    };
    let body = form(&[("csrf_token", &csrf), ("continue", &cont), ("username", &username), ("password", PASSWORD)]);
    let post = format!(
        "POST /{tenant}/login HTTP/1.1\r\nHost: {addr}\r\nCookie: {csrf_cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (mut done, mut latencies) = (0u64, Vec::new());
    loop {
        let started = Instant::now();
        if started >= until {
            return (done, latencies);
        }
        let (status, head, _) = send(&mut stream, &mut buf, post.clone()).await;
        let (Some(session), Some(next)) = (cookie(&head, "ward_session"), location(&head)) else {
            fail(&format!("the sign-in was not accepted ({status}): {head}"))
        };
        let (status, head, _) = send(&mut stream, &mut buf, get(&next, &format!("{csrf_cookie}; {session}"))).await;
        let to_app = location(&head).unwrap_or_default();
        if status != 302 || !to_app.starts_with(REDIRECT) || !to_app.contains("code=") {
            fail(&format!("the authorize request after sign-in did not answer a code ({status}): {to_app}"));
        }
        // Throughput: completions inside the window, whenever they started.
        let finished = Instant::now();
        if finished >= from && finished < until {
            done += 1;
            latencies.push(finished - started);
        }
    }
}

pub async fn run(args: &[String]) {
    let o = options(args);
    check_taskset();
    let ward = ward_binary();
    let data = tempfile::tempdir().expect("a temp dir");
    let init = ward_cli(&ward, data.path(), &["init", "--json"]);
    let tenant = init["tenant_id"].as_str().expect("tenant").to_string();
    let domain = init["admin_upn"].as_str().expect("admin").split('@').nth(1).expect("domain").to_string();
    let username = format!("bench@{domain}");
    let pw_file = data.path().join("pw");
    std::fs::write(&pw_file, format!("{PASSWORD}\n")).expect("password file");
    ward_cli(
        &ward,
        data.path(),
        &["user", "create", "--upn", &username, "--display-name", "Bench", "--password-file", pw_file.to_str().expect("path")],
    );
    let app = ward_cli(&ward, data.path(), &["app", "create", "--json", "--name", "bench-native", "--public-redirect-uri", REDIRECT]);
    let client = app["appId"].as_str().expect("appId").to_string();
    ward_cli(&ward, data.path(), &["app", "consent", &client, "--scope", "openid"]);
    let (server, addr) = serve_ward(&ward, data.path(), &[("WARD_AUTH_RATE_LIMIT", "0")]);
    // S256 of "bench-verifier-…": any valid challenge; the code is not redeemed here.
    let authorize = format!(
        "/{tenant}/oauth2/v2.0/authorize?client_id={client}&redirect_uri={}&response_type=code&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        "http%3A%2F%2F127.0.0.1%3A8400%2Fcallback"
    );

    let raw_before = raw_on_core0(5.0);
    let start = Instant::now();
    let from = start + Duration::from_secs_f64(o.warmup);
    let until = from + Duration::from_secs_f64(o.seconds);
    let server_pid = server.pid().to_string();
    let mut tasks = Vec::new();
    for _ in 0..o.connections {
        tasks.push(tokio::spawn(worker(addr, tenant.clone(), authorize.clone(), username.clone(), from, until)));
    }
    tokio::time::sleep_until(tokio::time::Instant::from_std(from)).await;
    let (s0, g0, t0) = (cpu_seconds(&server_pid), cpu_seconds("self"), Instant::now());
    tokio::time::sleep_until(tokio::time::Instant::from_std(until)).await;
    let (s1, g1, t1) = (cpu_seconds(&server_pid), cpu_seconds("self"), Instant::now());
    let (mut done, mut latencies) = (0u64, Vec::new());
    for t in tasks {
        let (n, l) = t.await.expect("a worker");
        done += n;
        latencies.extend(l);
    }
    let raw_after = raw_on_core0(5.0);
    drop(server);

    let window = (t1 - t0).as_secs_f64();
    let rate = done as f64 / o.seconds;
    let raw = (raw_before.0 + raw_after.0) / 2.0;
    let (p50, p99) = crate::summarize(latencies);
    println!("ward-bench signin: password sign-ins (form POST → session → authorize → code), ward serve pinned to core 0");
    println!("  connections {}, window {:.1} s after {:.1} s warm-up", o.connections, o.seconds, o.warmup);
    println!(
        "  raw Argon2id verify on core 0: {:.1}/s before, {:.1}/s after (core share {:.2}, {:.2})",
        raw_before.0, raw_after.0, raw_before.1, raw_after.1
    );
    println!("  sign-ins: {done} in the window = {rate:.1}/s; latency p50 {:.1} ms, p99 {:.1} ms", p50 / 1000.0, p99 / 1000.0);
    println!("  server CPU {:.0} % of a core, load generator {:.0} %", (s1 - s0) / window * 100.0, (g1 - g0) / window * 100.0);
    let share = rate / raw * 100.0;
    let verdict = if share >= 90.0 { "met" } else { "NOT met" };
    println!("  sign-ins / raw Argon2id = {share:.1} % (target ≥ 90 %: {verdict})");
    if raw_before.1 < 0.95 || raw_after.1 < 0.95 {
        println!("  warning: the raw measurement did not get all of core 0; the machine was busy");
    }
}
