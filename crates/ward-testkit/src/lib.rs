//! Test harness: a throwaway PostgreSQL cluster started from the machine's own server binaries
//! (`/usr/lib/postgresql/15/bin`, or `WARD_TEST_PG_BIN`), listening on a Unix socket in a temporary
//! directory, so tests never fight over ports.
//!
//! `initdb` runs once per machine into a cached template; each cluster is a copy of it. As root
//! (CI), the cluster runs as the `postgres` user through `runuser`, since PostgreSQL refuses root.
//!
//! With `CI=true` a missing PostgreSQL is a failure, never a skip: see [`postgres_required`].

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEFAULT_BIN: &str = "/usr/lib/postgresql/15/bin";
const PORT: u16 = 5432;

pub struct TempPostgres {
    url: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

fn bin_dir() -> PathBuf {
    std::env::var_os("WARD_TEST_PG_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(DEFAULT_BIN))
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// Runs a PostgreSQL program, as `postgres` when we are root.
fn pg_command(program: &str) -> Command {
    let path = bin_dir().join(program);
    if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

fn chown_postgres(path: &Path) -> Result<(), String> {
    if running_as_root() {
        let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(path).status().map_err(|e| e.to_string())?;
        if !ok.success() {
            return Err(format!("chown postgres {} failed", path.display()));
        }
    }
    Ok(())
}

fn template_dir() -> PathBuf {
    std::env::temp_dir().join("ward-test-pg15-template")
}

/// `initdb` once; concurrent test processes race harmlessly through an atomic rename.
fn ensure_template() -> Result<PathBuf, String> {
    let template = template_dir();
    if template.join("PG_VERSION").exists() {
        return Ok(template);
    }
    let staging = std::env::temp_dir().join(format!("ward-test-pg15-staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| e.to_string())?;
    chown_postgres(&staging)?;
    let out = pg_command("initdb")
        .args(["-D"])
        .arg(&staging)
        .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
        .output()
        .map_err(|e| format!("cannot run initdb from {}: {e}", bin_dir().display()))?;
    if !out.status.success() {
        return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    if std::fs::rename(&staging, &template).is_err() {
        // Another process won the race; its template is as good as ours.
        let _ = std::fs::remove_dir_all(&staging);
    }
    Ok(template)
}

impl TempPostgres {
    /// Starts a fresh, empty cluster. Errors say why it could not (binaries missing, initdb failed).
    pub fn start() -> Result<TempPostgres, String> {
        let template = ensure_template()?;
        let dir = tempfile::Builder::new().prefix("ward-pg-").tempdir().map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        let ok = Command::new("cp").arg("-a").arg(&template).arg(&data).status().map_err(|e| e.to_string())?;
        if !ok.success() {
            return Err("copying the PostgreSQL template failed".into());
        }
        let socket = dir.path().join("sock");
        std::fs::create_dir_all(&socket).map_err(|e| e.to_string())?;
        if running_as_root() {
            Command::new("chmod").arg("0755").arg(dir.path()).status().map_err(|e| e.to_string())?;
        }
        chown_postgres(dir.path())?;
        let log = std::fs::File::create(dir.path().join("postgres.log")).map_err(|e| e.to_string())?;
        let child = pg_command("postgres")
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&socket)
            .args(["-p", &PORT.to_string(), "-c", "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=50"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start postgres: {e}"))?;
        let url = format!("postgres://postgres@localhost/postgres?host={}&port={PORT}", socket.display());
        let mut pg = TempPostgres { url, child: Some(child), dir };
        pg.wait_ready(&socket)?;
        Ok(pg)
    }

    fn wait_ready(&mut self, socket: &Path) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = Command::new(bin_dir().join("pg_isready"))
                .arg("-h")
                .arg(socket)
                .args(["-p", &PORT.to_string(), "-U", "postgres", "-q"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                let log = std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default();
                return Err(format!("postgres exited ({status}): {log}"));
            }
            if Instant::now() > deadline {
                return Err("postgres did not become ready within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A `postgres://` URL for sqlx (and `ward --database-url`).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        // Through `runuser` our child is not the postmaster, so stop the cluster by its data
        // directory: immediate mode, which takes every backend down with it.
        let _ = pg_command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "-t", "20"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Is a PostgreSQL suite allowed to skip? Only outside CI. In CI (`CI=true`) a missing server is a
/// failure: this returns the cluster or panics with the reason.
pub fn postgres_required() -> Option<TempPostgres> {
    match TempPostgres::start() {
        Ok(pg) => Some(pg),
        Err(why) => {
            let in_ci = std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false);
            if in_ci || std::env::var_os("WARD_TEST_REQUIRE_POSTGRES").is_some() {
                panic!("PostgreSQL is required here (CI=true) but could not start: {why}");
            }
            eprintln!("SKIPPED: PostgreSQL unavailable ({why}); set CI=true to make this a failure");
            None
        }
    }
}
