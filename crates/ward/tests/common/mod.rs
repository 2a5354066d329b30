//! Helpers for tests that run the real `ward` binary: hermetic commands (own data directory, own
//! working directory, no inherited WARD_* settings) and a server on 127.0.0.1 port 0.
#![allow(dead_code)]

pub mod signin;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn ward_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ward"))
}

/// A `ward` command that sees only what the test gives it.
pub fn ward(workdir: &Path) -> Command {
    let mut c = Command::new(ward_bin());
    c.current_dir(workdir);
    for (k, _) in std::env::vars() {
        if k.starts_with("WARD_") {
            c.env_remove(k);
        }
    }
    c.env("NO_COLOR", "1");
    c
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("ward runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs and expects success; returns stdout.
pub fn ok(cmd: &mut Command) -> String {
    let o = run(cmd);
    assert!(o.status.success(), "command failed: {:?}\nstdout: {}\nstderr: {}", cmd, stdout(&o), stderr(&o));
    stdout(&o)
}

/// Runs and expects failure with exit code 1 and `error[code]` on stderr.
pub fn fails_with(cmd: &mut Command, code: &str) -> String {
    let o = run(cmd);
    assert_eq!(o.status.code(), Some(1), "expected exit 1 from {:?}\nstdout: {}\nstderr: {}", cmd, stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&format!("error[{code}]")), "expected error[{code}] from {cmd:?}, got: {err}");
    err
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not one JSON value ({e}): {text}"))
}

/// `ward init --json` in `data_dir`; returns its one JSON object.
pub fn init(workdir: &Path, extra: &[&str]) -> serde_json::Value {
    let out = ok(ward(workdir).args(["init", "--json", "--data-dir", "data"]).args(extra));
    json(&out)
}

/// A running `ward serve`, stopped (SIGKILL) when dropped unless stopped first.
pub struct Server {
    pub child: Child,
    pub addr: std::net::SocketAddr,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `ward serve --listen 127.0.0.1:0 --log-format json <args>` and waits for "listening".
    pub fn start(workdir: &Path, args: &[&str]) -> Server {
        let mut child = ward(workdir)
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ward serve starts");
        let out = Arc::new(Mutex::new(String::new()));
        let err = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let out = out.clone();
            let pipe = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    out.lock().unwrap().push_str(&(line + "\n"));
                }
            });
        }
        {
            let err = err.clone();
            let pipe = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    // Record the line before announcing it, so the log holds it once start() returns.
                    err.lock().unwrap().push_str(&format!("{line}\n"));
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                        && v["message"] == "listening"
                    {
                        let _ = tx.send(v["address"].as_str().unwrap_or_default().to_string());
                    }
                }
            });
        }
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a.parse().expect("a socket address in the log"),
            Err(_) => {
                let _ = child.kill();
                panic!("ward serve did not start listening; stderr:\n{}", err.lock().unwrap());
            }
        };
        Server { child, addr, stdout: out, stderr: err }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "ward serve did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until standard output contains `needle` (it is read by its own thread).
    pub fn wait_for_stdout(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.stdout.lock().unwrap().clone();
            if out.contains(needle) {
                return out;
            }
            assert!(Instant::now() < deadline, "stdout never contained {needle:?}:\n{out}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the log contains `needle` (log lines are written asynchronously).
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(Instant::now() < deadline, "log never contained {needle:?}:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(20)).build().unwrap()
}

/// An app-only token for Graph from the tenant's token endpoint: its status and body.
pub async fn client_token(server: &Server, tid: &str, id: &str, secret: &str) -> (u16, serde_json::Value) {
    let r = http()
        .post(server.url(&format!("/{tid}/oauth2/v2.0/token")))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}
