//! Client-credentials throughput over loopback with keep-alive, in one run:
//!
//! - the real `ward serve` (release build, pinned to core 0 with `taskset`), one RS256 and one
//!   ES256 application (`ward app create --signing-alg`), `POST /{tenant}/oauth2/v2.0/token`;
//! - the peer, npm `oidc-provider` (pinned in `bench/peers/oidc-provider/package-lock.json`),
//!   pinned to core 0 the same way (`taskset -c 0 node server.js`), one client, JWT access tokens
//!   signed RS256 or ES256 (chosen by the `resource` parameter);
//! - raw JWT signing (Ward's own `sign_jwt`, aws-lc-rs) on core 0, before and after the servers.
//!
//! The load comes from this process (run it pinned to core 1): a small HTTP/1.1 client over plain
//! tokio sockets, `--connections` keep-alive connections with one request in flight on each, the
//! same pre-built request bytes every time. Each target gets a warm-up, then a measured window;
//! the CPU time the server process and this process used in the window is read from `/proc`, so
//! the report shows whether the server's core was the one saturated.
//!
//! ```text
//! npm ci --prefix bench/peers/oidc-provider
//! cargo build --release -p ward -p ward-bench
//! taskset -c 1 target/release/ward-bench tokens [--seconds 10] [--warmup 2] [--connections 32] [--skip-peer]
//! ```

use crate::summarize;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ward_auth::{Alg, SigningKey};

const ES256_TARGET: f64 = 15_000.0;
const RS256_SHARE_TARGET: f64 = 85.0;
const PEER_MULTIPLE_TARGET: f64 = 6.0;
const RAW_SECONDS: f64 = 3.0;

struct Options {
    seconds: u64,
    warmup: u64,
    connections: usize,
    skip_peer: bool,
    /// The load generator never sleeps: it polls its sockets instead of waiting in `epoll_wait`.
    busy_poll: bool,
}

fn options(args: &[String]) -> Options {
    let mut o = Options { seconds: 10, warmup: 2, connections: 32, skip_peer: false, busy_poll: false };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = |name: &str| -> u64 {
            it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| fail(&format!("{name} needs a positive number")))
        };
        match a.as_str() {
            "--seconds" => o.seconds = number("--seconds").max(1),
            "--warmup" => o.warmup = number("--warmup"),
            "--connections" => o.connections = number("--connections").max(1) as usize,
            "--skip-peer" => o.skip_peer = true,
            "--busy-poll" => o.busy_poll = true,
            other => fail(&format!(
                "unknown option '{other}'; usage: ward-bench tokens [--seconds N] [--warmup N] [--connections N] [--skip-peer] [--busy-poll]"
            )),
        }
    }
    o
}

pub(crate) fn fail(message: &str) -> ! {
    // The benchmark that failed, whichever uses these helpers.
    eprintln!("ward-bench {}: {message}", std::env::args().nth(1).unwrap_or_default());
    std::process::exit(2);
}

// ---------------------------------------------------------------------------------------------
// Raw signing: `ward-bench raw-sign ALG SECONDS` is run as a child under `taskset -c 0`, so the
// rate is that of the core the servers run on.

fn parse_alg(s: &str) -> Alg {
    match s {
        "RS256" => Alg::RS256,
        "ES256" => Alg::ES256,
        "EdDSA" => Alg::EdDSA,
        other => fail(&format!("unknown algorithm {other}")),
    }
}

/// JWT signatures per second on the current core, through Ward's `SigningKey::sign_jwt`
/// (header and claims serialization, base64url, the signature).
pub fn raw_signing_rate(alg: Alg, seconds: f64) -> f64 {
    // The key as the server holds it: generated, sealed under a KEK, opened from PKCS#8.
    let kek = ward_auth::Kek::from_base64(&ward_auth::Kek::generate_base64().expect("a KEK")).expect("a KEK");
    let generated = SigningKey::generate(alg).expect("a key");
    let key = SigningKey::open(&generated.kid, alg, &generated.seal(&kek).expect("sealed"), &kek).expect("opened");
    let claims = serde_json::json!({
        "aud": "https://graph.microsoft.com", "iss": "https://id.example.com/00000000-0000-0000-0000-000000000000/v2.0",
        "iat": 1_800_000_000u64, "nbf": 1_800_000_000u64, "exp": 1_800_003_600u64,
        "appid": "11111111-1111-1111-1111-111111111111", "oid": "22222222-2222-2222-2222-222222222222",
        "sub": "22222222-2222-2222-2222-222222222222", "tid": "00000000-0000-0000-0000-000000000000",
        "roles": ["User.Read.All"], "ver": "2.0", "uti": "abcdefghijklmnopqrstuv",
    });
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        std::hint::black_box(key.sign_jwt("at+jwt", &claims).expect("signs"));
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// The `raw-sign` subcommand: prints the rate as a bare number.
pub fn raw_sign_main(args: &[String]) {
    let alg = parse_alg(args.first().map(String::as_str).unwrap_or("RS256"));
    let seconds = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(RAW_SECONDS);
    let (c0, t0) = (cpu_seconds("self"), Instant::now());
    let rate = raw_signing_rate(alg, seconds);
    let share = (cpu_seconds("self") - c0) / t0.elapsed().as_secs_f64();
    println!("{rate:.1} {share:.3}");
}

/// The rate, and the share of core 0 the measuring process got (below ~0.97: something else ran
/// there, and the rate is low).
fn raw_on_core0(alg: Alg) -> (f64, f64) {
    let me = std::env::current_exe().expect("own path");
    let out = Command::new("taskset")
        .args(["-c", "0"])
        .arg(me)
        .args(["raw-sign", alg_name(alg), &RAW_SECONDS.to_string()])
        .output()
        .unwrap_or_else(|e| fail(&format!("taskset could not run raw-sign: {e}")));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut f = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    match (f.next().flatten(), f.next().flatten()) {
        (Some(rate), Some(share)) => (rate, share),
        _ => fail(&format!("raw-sign printed no rate: {text}")),
    }
}

fn alg_name(alg: Alg) -> &'static str {
    match alg {
        Alg::RS256 => "RS256",
        Alg::ES256 => "ES256",
        Alg::EdDSA => "EdDSA",
    }
}

// ---------------------------------------------------------------------------------------------
// Prerequisites, checked before anything runs.

pub(crate) fn ward_binary() -> PathBuf {
    let ward = std::env::current_exe().expect("own path").with_file_name("ward");
    if !ward.exists() {
        fail(&format!("{} not found: build it with `cargo build --release -p ward -p ward-bench`", ward.display()));
    }
    ward
}

pub(crate) fn check_taskset() {
    if Command::new("taskset").args(["-c", "0", "true"]).status().map(|s| !s.success()).unwrap_or(true) {
        fail("`taskset -c 0` does not work here (it comes with util-linux; two cores are needed)");
    }
}

fn peer_dir() -> PathBuf {
    std::env::var_os("WARD_BENCH_PEER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("peers").join("oidc-provider"))
}

/// Node ≥ 20 on PATH and the pinned oidc-provider installed in the peer directory; returns the
/// node version and the installed oidc-provider version.
fn check_peer(dir: &Path) -> (String, String) {
    let install = format!("npm ci --prefix {}", dir.display());
    let node = Command::new("node").arg("--version").output();
    let node = match node {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => fail(&format!(
            "`node` was not found on PATH: the oidc-provider peer needs Node.js ≥ 20 (e.g. `apt-get install nodejs npm`), then `{install}`; or pass --skip-peer"
        )),
    };
    let major: u32 = node.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if major < 20 {
        fail(&format!("node {node} is too old for the oidc-provider peer: Node.js ≥ 20 is needed"));
    }
    let read = |p: PathBuf| -> Option<serde_json::Value> { serde_json::from_slice(&std::fs::read(p).ok()?).ok() };
    let wanted = read(dir.join("package.json"))
        .and_then(|v| v["dependencies"]["oidc-provider"].as_str().map(str::to_string))
        .unwrap_or_else(|| fail(&format!("{} has no package.json naming oidc-provider", dir.display())));
    let installed = read(dir.join("node_modules/oidc-provider/package.json"))
        .and_then(|v| v["version"].as_str().map(str::to_string))
        .unwrap_or_else(|| fail(&format!("the npm package oidc-provider is not installed for the peer: run `{install}`")));
    if installed != wanted {
        fail(&format!("oidc-provider {installed} is installed but {wanted} is pinned: run `{install}`"));
    }
    (node, installed)
}

// ---------------------------------------------------------------------------------------------
// The servers.

pub(crate) struct Server {
    child: Child,
    /// Lines the server wrote to stderr after start-up (warnings), kept for the report.
    pub(crate) said: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keep_lines(from: impl BufRead + Send + 'static, said: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in from.lines().map_while(Result::ok) {
            let mut said = said.lock().expect("lock");
            if said.len() < 20 {
                said.push(line);
            }
        }
    });
}

struct WardSetup {
    server: Server,
    addr: SocketAddr,
    tenant: String,
    /// (alg, client id, secret)
    apps: Vec<(Alg, String, String)>,
}

pub(crate) fn ward_cli(ward: &Path, data: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(ward).args(args).arg("--data-dir").arg(data).output().expect("ward runs");
    if !out.status.success() {
        fail(&format!("`ward {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)));
    }
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

fn start_ward(ward: &Path, data: &Path) -> WardSetup {
    let init = ward_cli(ward, data, &["init", "--json"]);
    let tenant = init["tenant_id"].as_str().expect("tenant").to_string();
    let mut apps = Vec::new();
    for alg in [Alg::RS256, Alg::ES256] {
        let name = format!("bench-{}", alg_name(alg));
        let app = ward_cli(ward, data, &["app", "create", "--json", "--name", &name, "--signing-alg", alg_name(alg)]);
        let id = app["appId"].as_str().expect("appId").to_string();
        // An application permission, so the token carries a `roles` claim as a real one would.
        ward_cli(ward, data, &["app", "grant", &id, "User.Read.All"]);
        let secret = ward_cli(ward, data, &["app", "add-secret", &id, "--json"]);
        apps.push((alg, id, secret["secretText"].as_str().expect("secretText").to_string()));
    }
    // The per-address limit would measure itself: one load generator is one address.
    let (server, addr) = serve_ward(ward, data, &[("WARD_AUTH_RATE_LIMIT", "0")]);
    WardSetup { server, addr, tenant, apps }
}

/// `ward serve` on `data`, pinned to core 0, listening on a loopback port of its choosing, with
/// `env` set; returns once it logs that it listens.
pub(crate) fn serve_ward(ward: &Path, data: &Path, env: &[(&str, &str)]) -> (Server, SocketAddr) {
    let mut child = Command::new("taskset")
        .args(["-c", "0"])
        .arg(ward)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "warn,ward::serve=info", "--data-dir"])
        .arg(data)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ward serve starts");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let addr = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            fail("ward serve exited before listening");
        }
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"] == "listening" {
            break v["address"].as_str().expect("address").parse().expect("a socket address");
        }
    };
    let said = Arc::new(Mutex::new(Vec::new()));
    keep_lines(stderr, said.clone());
    (Server { child, said }, addr)
}

struct PeerSetup {
    server: Server,
    addr: SocketAddr,
    info: serde_json::Value,
}

fn start_peer(dir: &Path) -> PeerSetup {
    let mut child = Command::new("taskset")
        .args(["-c", "0", "node", "server.js"])
        .current_dir(dir)
        .env("NODE_ENV", "production")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("`taskset -c 0 node server.js` did not start in {}: {e}", dir.display())));
    let said = Arc::new(Mutex::new(Vec::new()));
    keep_lines(std::io::BufReader::new(child.stderr.take().expect("stderr")), said.clone());
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("peer stdout");
    let info: serde_json::Value = serde_json::from_str(&first).unwrap_or_else(|_| {
        std::thread::sleep(Duration::from_millis(200));
        fail(&format!("the oidc-provider peer did not start: {}", said.lock().expect("lock").join("\n")))
    });
    let addr = info["listening"].as_str().expect("listening").parse().expect("a socket address");
    PeerSetup { server: Server { child, said }, addr, info }
}

// ---------------------------------------------------------------------------------------------
// The load generator.

pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b as char),
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(k, &mut out);
        out.push('=');
        enc(v, &mut out);
    }
    out
}

fn post_request(addr: SocketAddr, path: &str, body: &str) -> Arc<[u8]> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
    .into()
}

/// Reads one HTTP/1.1 response (Content-Length or chunked body) from `stream`; returns the status
/// and the body. `buf` carries bytes across calls (there are none left over without pipelining).
pub(crate) async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u16, Vec<u8>)> {
    read_response_with_head(stream, buf).await.map(|(status, _, body)| (status, body))
}

/// As [`read_response`], with the response head too (as sent: cookie values are case-sensitive).
pub(crate) async fn read_response_with_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u16, String, Vec<u8>)> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let raw_head = std::str::from_utf8(&buf[..head_end]).map_err(|_| bad("non-UTF-8 head"))?.to_string();
    let head = raw_head.to_ascii_lowercase();
    let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| bad("no status"))?;
    let header = |name: &str| head.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()));
    let body = if let Some(len) = header("content-length:") {
        let len: usize = len.parse().map_err(|_| bad("bad content-length"))?;
        while buf.len() < head_end + len {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed mid-body"));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        body
    } else if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
        // Decode chunks as they arrive: size line, data, CRLF; a zero size ends the body.
        let mut body = Vec::new();
        let mut at = head_end;
        loop {
            let line_end = loop {
                if let Some(i) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                    break at + i;
                }
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed mid-chunk"));
                }
                buf.extend_from_slice(&chunk[..n]);
            };
            let size_text = std::str::from_utf8(&buf[at..line_end]).map_err(|_| bad("chunk size"))?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).map_err(|_| bad("chunk size"))?;
            let need = line_end + 2 + size + 2;
            while buf.len() < need {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed mid-chunk"));
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
            at = need;
            if size == 0 {
                break;
            }
        }
        buf.drain(..at);
        body
    } else {
        return Err(bad("response without a length"));
    };
    if header("connection:").is_some_and(|v| v.contains("close")) {
        return Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "server closed the connection"));
    }
    Ok((status, raw_head, body))
}

struct Load {
    ok: u64,
    failed: u64,
    latencies: Vec<Duration>,
    window: Duration,
    sample: Option<Vec<u8>>,
    first_failure: Option<String>,
    /// CPU seconds used in the window by the server process and by this process, per second.
    server_cpu: f64,
    loadgen_cpu: f64,
    /// Busy share of core 0 and core 1 in the window, whoever used them.
    core_busy: [f64; 2],
}

/// utime + stime of a process, in seconds (USER_HZ is 100 on Linux).
pub(crate) fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime is field 14 and stime 15 of the whole line; `rest` starts at field 3.
    (tick(11) + tick(12)) / 100.0
}

/// Busy and total jiffies of one CPU, from /proc/stat.
pub(crate) fn cpu_jiffies(cpu: usize) -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let name = format!("cpu{cpu}");
    let Some(line) = stat.lines().find(|l| l.split_whitespace().next() == Some(name.as_str())) else { return (0.0, 0.0) };
    let v: Vec<f64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    let total: f64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}

async fn drive(addr: SocketAddr, request: Arc<[u8]>, server_pid: u32, o: &Options) -> Load {
    struct Conn {
        ok: u64,
        failed: u64,
        latencies: Vec<Duration>,
        sample: Option<Vec<u8>>,
        first_failure: Option<String>,
    }
    let start = Instant::now();
    let from = start + Duration::from_secs(o.warmup);
    let until = from + Duration::from_secs(o.seconds);
    let mut tasks = Vec::new();
    for _ in 0..o.connections {
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Conn { ok: 0, failed: 0, latencies: Vec::new(), sample: None, first_failure: None };
            let mut stream: Option<TcpStream> = None;
            let mut buf = Vec::with_capacity(8 * 1024);
            while Instant::now() < until {
                let sent = Instant::now();
                if stream.is_none() {
                    match TcpStream::connect(addr).await {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            stream = Some(s);
                            buf.clear();
                        }
                        Err(e) => {
                            c.failed += 1;
                            c.first_failure.get_or_insert_with(|| format!("connect: {e}"));
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let s = stream.as_mut().expect("connected");
                let result = match s.write_all(&request).await {
                    Ok(()) => read_response(s, &mut buf).await,
                    Err(e) => Err(e),
                };
                let done = Instant::now();
                let counted = done >= from && done <= until;
                match result {
                    Ok((200, body)) => {
                        if c.sample.is_none() {
                            c.sample = Some(body);
                        }
                        if counted {
                            c.ok += 1;
                            c.latencies.push(done - sent);
                        }
                    }
                    Ok((status, body)) => {
                        c.failed += u64::from(counted);
                        c.first_failure.get_or_insert_with(|| format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
                    }
                    Err(e) => {
                        c.failed += u64::from(counted);
                        c.first_failure.get_or_insert_with(|| format!("{e}"));
                        stream = None;
                    }
                }
            }
            c
        }));
    }
    if o.busy_poll {
        // One task that always has work: the runtime's only worker then polls its sockets with
        // zero-timeout `epoll_wait` calls instead of sleeping in it, so a response written by the
        // server finds no sleeping reader to wake (on loopback the writer pays for that wake-up,
        // which over a network the client's own machine would pay).
        tokio::spawn(async move {
            while Instant::now() < until {
                tokio::task::yield_now().await;
            }
        });
    }
    let server = server_pid.to_string();
    tokio::time::sleep_until(from.into()).await;
    let (s0, g0, t0, c00, c10) = (cpu_seconds(&server), cpu_seconds("self"), Instant::now(), cpu_jiffies(0), cpu_jiffies(1));
    tokio::time::sleep_until(until.into()).await;
    let (s1, g1, t1, c01, c11) = (cpu_seconds(&server), cpu_seconds("self"), Instant::now(), cpu_jiffies(0), cpu_jiffies(1));
    let busy = |a: (f64, f64), b: (f64, f64)| if b.1 > a.1 { (b.0 - a.0) / (b.1 - a.1) } else { 0.0 };
    let mut load = Load {
        ok: 0,
        failed: 0,
        latencies: Vec::new(),
        window: until - from,
        sample: None,
        first_failure: None,
        server_cpu: (s1 - s0) / (t1 - t0).as_secs_f64(),
        loadgen_cpu: (g1 - g0) / (t1 - t0).as_secs_f64(),
        core_busy: [busy(c00, c01), busy(c10, c11)],
    };
    for t in tasks {
        let c = t.await.expect("a connection task");
        load.ok += c.ok;
        load.failed += c.failed;
        load.latencies.extend(c.latencies);
        if load.sample.is_none() {
            load.sample = c.sample;
        }
        if load.first_failure.is_none() {
            load.first_failure = c.first_failure;
        }
    }
    load
}

/// What the access token in a token response is: "JWT <alg> (typ <typ>)" or "opaque".
fn describe_token(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let Some(token) = v["access_token"].as_str() else { return "no access_token in the response".into() };
    let parts: Vec<&str> = token.split('.').collect();
    let header =
        (parts.len() == 3).then(|| b64url_decode(parts[0])).flatten().and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok());
    match header {
        Some(h) => format!("JWT {} (typ {}, {} B)", h["alg"].as_str().unwrap_or("?"), h["typ"].as_str().unwrap_or("-"), token.len()),
        None => format!("opaque ({} chars)", token.len()),
    }
}

fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------

struct Row {
    name: String,
    alg: Alg,
    load: Load,
}

impl Row {
    fn rate(&self) -> f64 {
        self.load.ok as f64 / self.load.window.as_secs_f64()
    }

    /// CPU that neither the server nor the load generator used on the two cores in the window:
    /// other processes (a build, say), which make the figure unreliable.
    fn others(&self) -> f64 {
        let l = &self.load;
        (l.core_busy[0] - l.server_cpu).max(0.0) + (l.core_busy[1] - l.loadgen_cpu).max(0.0)
    }
}

pub(crate) fn thousands(x: f64) -> String {
    let n = x.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 { format!("-{out}") } else { out }
}

pub async fn run(args: &[String]) {
    let o = options(args);
    check_taskset();
    let ward = ward_binary();
    let peer = (!o.skip_peer).then(|| {
        let dir = peer_dir();
        let versions = check_peer(&dir);
        (dir, versions)
    });

    eprintln!("raw signing on core 0 (before)…");
    let raw_before = [raw_on_core0(Alg::RS256), raw_on_core0(Alg::ES256)];

    let mut rows = Vec::new();
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let w = start_ward(&ward, tmp.path());
    let path = format!("/{}/oauth2/v2.0/token", w.tenant);
    for (alg, id, secret) in &w.apps {
        eprintln!("ward {} …", alg_name(*alg));
        let body = form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ]);
        let load = drive(w.addr, post_request(w.addr, &path, &body), w.server.pid(), &o).await;
        rows.push(Row { name: format!("ward {}", env!("CARGO_PKG_VERSION")), alg: *alg, load });
    }
    let ward_said = w.server.said.lock().expect("lock").clone();
    drop(w);

    let mut peer_said = Vec::new();
    let mut peer_versions = None;
    if let Some((dir, versions)) = &peer {
        let p = start_peer(dir);
        let info = &p.info;
        let token_path = info["token_endpoint"].as_str().expect("token_endpoint");
        let token_path = token_path.split_once("//").and_then(|(_, r)| r.split_once('/')).map(|(_, p)| format!("/{p}")).expect("a path");
        for alg in [Alg::RS256, Alg::ES256] {
            eprintln!("oidc-provider {} …", alg_name(alg));
            let resource = info["resources"][alg_name(alg)].as_str().expect("resource");
            let body = form(&[
                ("grant_type", "client_credentials"),
                ("client_id", info["client_id"].as_str().expect("client_id")),
                ("client_secret", info["client_secret"].as_str().expect("client_secret")),
                ("scope", info["scope"].as_str().expect("scope")),
                ("resource", resource),
            ]);
            let load = drive(p.addr, post_request(p.addr, &token_path, &body), p.server.pid(), &o).await;
            rows.push(Row { name: format!("oidc-provider {}", versions.1), alg, load });
        }
        peer_said = p.server.said.lock().expect("lock").clone();
        peer_versions = Some(versions.clone());
    }

    eprintln!("raw signing on core 0 (after)…");
    let raw_after = [raw_on_core0(Alg::RS256), raw_on_core0(Alg::ES256)];
    let raw = |alg: Alg| {
        let i = usize::from(alg != Alg::RS256);
        (raw_before[i].0 + raw_after[i].0) / 2.0
    };

    // ----- report
    println!(
        "client credentials over loopback, HTTP/1.1 keep-alive, {} connections (one request in flight each), {} s measured after {} s warm-up per target",
        o.connections, o.seconds, o.warmup
    );
    println!("servers pinned to core 0 (`taskset -c 0`), load from this process (run it under `taskset -c 1`)");
    println!(
        "load generator: {}",
        if o.busy_poll {
            "busy-polling (--busy-poll: never sleeps, so the servers' responses wake no one)"
        } else {
            "sleeps in epoll_wait between responses (each response wakes it: on loopback the server's write pays that wake-up)"
        }
    );
    if let Some((node, version)) = &peer_versions {
        println!("peer: npm oidc-provider {version} on node {node}, client_secret_post, JWT access tokens via a resource indicator");
    }
    println!();
    println!("raw JWT signing on core 0 (Ward's sign_jwt, aws-lc-rs), before / after the servers ran (share of core 0 it got):");
    let mut worst_other: f64 = 0.0;
    for (i, alg) in [Alg::RS256, Alg::ES256].into_iter().enumerate() {
        println!(
            "  {}  {:>7} ({:.0} %) / {:>7} ({:.0} %)  mean {:>7} signatures/s",
            alg_name(alg),
            thousands(raw_before[i].0),
            raw_before[i].1 * 100.0,
            thousands(raw_after[i].0),
            raw_after[i].1 * 100.0,
            thousands(raw(alg))
        );
        worst_other = worst_other.max(1.0 - raw_before[i].1).max(1.0 - raw_after[i].1);
    }
    println!();
    println!(
        "{:<22} {:<6} {:>9} {:>8} {:>8} {:>8} {:>7} {:>7} {:>8} {:>8}  token",
        "server", "alg", "tokens/s", "% raw", "p50 ms", "p99 ms", "failed", "srv CPU", "load CPU", "others"
    );
    for r in &rows {
        let (p50, p99) = if r.load.latencies.is_empty() { (f64::NAN, f64::NAN) } else { summarize(r.load.latencies.clone()) };
        println!(
            "{:<22} {:<6} {:>9} {:>7.1}% {:>8.2} {:>8.2} {:>7} {:>6.0}% {:>7.0}% {:>7.0}%  {}",
            r.name,
            alg_name(r.alg),
            thousands(r.rate()),
            r.rate() / raw(r.alg) * 100.0,
            p50 / 1000.0,
            p99 / 1000.0,
            r.load.failed,
            r.load.server_cpu * 100.0,
            r.load.loadgen_cpu * 100.0,
            r.others() * 100.0,
            r.load.sample.as_deref().map(describe_token).unwrap_or_else(|| "no successful response".into()),
        );
        if let Some(f) = &r.load.first_failure {
            println!("    first failure: {}", f.chars().take(300).collect::<String>());
        }
    }
    println!();
    let find = |prefix: &str, alg: Alg| rows.iter().find(|r| r.name.starts_with(prefix) && r.alg == alg).map(Row::rate);
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    if let Some(es) = find("ward", Alg::ES256) {
        println!("target ES256 ≥ {} tokens/s on one core: {} ({})", thousands(ES256_TARGET), thousands(es), verdict(es >= ES256_TARGET));
        if let Some(peer_es) = find("oidc-provider", Alg::ES256) {
            let x = es / peer_es;
            println!(
                "target ES256 ≥ {PEER_MULTIPLE_TARGET}× oidc-provider ES256 on this machine: {x:.1}× ({})",
                verdict(x >= PEER_MULTIPLE_TARGET)
            );
        }
    }
    if let Some(rs) = find("ward", Alg::RS256) {
        let share = rs / raw(Alg::RS256) * 100.0;
        println!(
            "target RS256 ≥ {RS256_SHARE_TARGET} % of raw RSA-2048 signing (same run): {share:.1} % ({})",
            verdict(share >= RS256_SHARE_TARGET)
        );
        if let Some(peer_rs) = find("oidc-provider", Alg::RS256) {
            println!("ward RS256 / oidc-provider RS256: {:.1}×", rs / peer_rs);
        }
    }
    for r in &rows {
        worst_other = worst_other.max(r.others());
    }
    println!(
        "interference: at most {:.0} % of a core used by other processes during a measurement{}",
        worst_other * 100.0,
        if worst_other > 0.05 { " — the machine was busy: figures are low, run again when it is idle" } else { "" }
    );
    for (who, said) in [("ward", &ward_said), ("oidc-provider", &peer_said)] {
        for line in said.iter().take(5) {
            println!("{who} logged: {}", line.chars().take(200).collect::<String>());
        }
    }
}
