//! Client-credentials throughput over loopback with keep-alive: the real `ward serve` (release
//! build, pinned to core 0 with `taskset`) against load from this process (run it pinned to core 1),
//! beside the raw RS256 signing rate of one core measured in the same run.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use ward_auth::{Alg, SigningKey};

const CONNECTIONS: usize = 32;
const WARMUP: Duration = Duration::from_secs(2);
const MEASURE: Duration = Duration::from_secs(10);

fn raw_signing_rate(alg: Alg) -> f64 {
    let key = SigningKey::generate(alg).expect("a key");
    let claims = serde_json::json!({ "aud": "https://graph.microsoft.com", "iss": "https://id.example.com/t/v2.0", "exp": 4_000_000_000u64, "roles": ["User.Read.All"] });
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(3) {
        std::hint::black_box(key.sign_jwt("at+jwt", &claims).expect("signs"));
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

pub async fn run() {
    let ward = std::env::current_exe().expect("own path").with_file_name("ward");
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let init = Command::new(&ward).args(["init", "--json", "--data-dir"]).arg(tmp.path()).output().expect("ward init runs");
    let init: serde_json::Value = serde_json::from_slice(&init.stdout).expect("init prints JSON");
    let mut server = Command::new("taskset")
        .args(["-c", "0"])
        .arg(&ward)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "warn,ward::serve=info", "--data-dir"])
        .arg(tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ward serve starts (needs taskset, from util-linux)");
    let addr = {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(server.stderr.take().expect("stderr")).lines();
        loop {
            let line = lines.next().expect("server log").expect("utf-8");
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["message"] == "listening" {
                break v["address"].as_str().expect("address").to_string();
            }
        }
    };
    let url = format!("http://{addr}/{}/oauth2/v2.0/token", init["tenant_id"].as_str().expect("tenant"));
    let form = [
        ("grant_type", "client_credentials".to_string()),
        ("client_id", init["client_id"].as_str().expect("id").to_string()),
        ("client_secret", init["client_secret"].as_str().expect("secret").to_string()),
        ("scope", "https://graph.microsoft.com/.default".to_string()),
    ];
    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(CONNECTIONS).build().expect("client");
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + WARMUP + MEASURE;
    let mut workers = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, url, form, ok, failed) = (client.clone(), url.clone(), form.clone(), ok.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let r = client.post(&url).form(&form).send().await;
                let good = match r {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                };
                if Instant::now() > started + WARMUP {
                    if good {
                        ok.fetch_add(1, Ordering::Relaxed)
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed)
                    };
                }
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let _ = server.kill();
    let _ = server.wait();
    let rate = ok.load(Ordering::Relaxed) as f64 / MEASURE.as_secs_f64();
    let raw_rs = raw_signing_rate(Alg::RS256);
    let raw_es = raw_signing_rate(Alg::ES256);
    println!("client credentials over loopback, keep-alive, {CONNECTIONS} connections, server on core 0 (SQLite)");
    println!("  RS256 tokens/s via the token endpoint   {rate:>10.0}   ({} failed)", failed.load(Ordering::Relaxed));
    println!(
        "  raw RS256 signatures/s, one core        {raw_rs:>10.0}   => endpoint at {:.0} % of raw (target ≥ 85 %)",
        rate / raw_rs * 100.0
    );
    println!("  raw ES256 signatures/s, one core        {raw_es:>10.0}   (ES256 per application is not selectable yet)");
}
