//! Ward's person-facing pages in a real browser: Debian's chromium, driven by playwright-core
//! (`interop/browser/sign_in.mjs`), against a real `ward serve`. The script opens the authorize URL
//! of a web app, checks the sign-in page (language, title, labelled fields, Ward's own stylesheet,
//! no request to any other origin, no console error or CSP violation), signs in wrongly with the
//! keyboard and sees the alert, signs in, consents, lands on the app's redirect listener with a
//! code and the state (so the CSP's form-action really lets the browser follow Ward's redirect),
//! then comes back for single sign-on. A second script, `sign_in_methods.mjs`, adds an
//! authenticator app and a passkey (CDP virtual authenticator) and signs in with each, sees a
//! passkey without user verification refused, and locks an account out. A third,
//! `conditional_access.mjs`, sees a policy requiring MFA step a password-only sign-in up to the
//! authenticator app's code. All leave screenshots in `<target>/browser/` for a person to look at.
//!
//! The script starts the app's redirect listener itself and prints its URI as the first line; the
//! test registers the app for that URI with `ward app create` and answers with the app id on the
//! script's standard input.
//!
//! Chromium (/usr/bin/chromium, or WARD_CHROMIUM) and playwright-core (pinned in
//! interop/browser/package-lock.json) are installed by `interop/install`, which ./scripts/test
//! runs. Without them this test says so loudly and passes, unless `CI=true` or
//! `WARD_TEST_REQUIRE_INTEROP` is set: then it fails.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// False (after a loud message) when a prerequisite is not installed and the test may be skipped.
fn installed(what: &str, marker: &Path) -> bool {
    if marker.exists() {
        return true;
    }
    let msg = format!(
        "{what} is not installed ({} is missing): run `interop/install` (./scripts/test does) to install \
         Debian's chromium and the playwright-core pinned in interop/browser/",
        marker.display()
    );
    let required = std::env::var("CI").is_ok_and(|v| v == "true") || std::env::var_os("WARD_TEST_REQUIRE_INTEROP").is_some();
    assert!(!required, "{msg}");
    eprintln!("\n**********\nSKIPPED: {msg}\n**********\n");
    false
}

/// Reads a child's pipe to the end on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Stops the script (and so its browser) and fails with everything it and Ward said.
fn abort(child: &mut Child, why: &str, out: &str, log: &str) -> ! {
    let _ = child.kill();
    let _ = child.wait();
    panic!("{why}\n--- script output\n{out}--- ward log\n{log}");
}

/// Runs `script` from interop/browser against a fresh Ward: the script prints its redirect URI,
/// the test registers a web app for it and answers with the app id, then waits for the script's
/// checks. `base` turns the server's address into the URL the browser uses; `extra` adds inputs.
fn run_script(script: &str, base: impl Fn(std::net::SocketAddr) -> String, extra: impl Fn(&Path) -> Vec<(String, String)>) {
    let chromium = std::env::var_os("WARD_CHROMIUM").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromium".into());
    let script_dir = repo().join("interop/browser");
    if !installed("Debian's chromium", &chromium)
        || !installed("playwright-core", &script_dir.join("node_modules/playwright-core/package.json"))
    {
        return;
    }
    // Next to the build's other products: target/browser/ by default (ignored by git).
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("browser");

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let init = init(d, &[]);
    let field = |name: &str| init[name].as_str().unwrap_or_else(|| panic!("`ward init --json` has no {name}: {init}")).to_string();
    let extra = extra(d);
    let server = Server::start(d, &["--data-dir", "data"]);
    let base = base(server.addr);

    let started = Instant::now();
    let mut child = Command::new("node")
        .arg(script)
        .current_dir(&script_dir)
        .env("WARD_URL", &base)
        .env("WARD_TENANT", field("tenant_id"))
        .env("WARD_USERNAME", field("admin_upn"))
        .env("WARD_PASSWORD", field("admin_password"))
        .env("WARD_SCREENSHOT_DIR", &shots)
        .env("WARD_CHROMIUM", &chromium)
        .env("NO_COLOR", "1")
        .env("FORCE_COLOR", "0")
        .envs(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node (Node.js 20 or newer is needed): {e}"));
    let err = drain(child.stderr.take().unwrap());
    // Standard output line by line: the first line is the redirect URI, the rest the checks.
    let out = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = {
        let out = out.clone();
        let pipe = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                out.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        })
    };
    let mut stdin = child.stdin.take().unwrap();
    macro_rules! fail {
        ($($why:tt)*) => {
            abort(&mut child, &format!($($why)*), &out.lock().unwrap(), &server.log())
        };
    }

    // The app, registered for the listener the script started.
    let first = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(line) => line,
        Err(_) => fail!("interop/browser/{script} printed no redirect URI within 60 s"),
    };
    let Some(redirect_uri) =
        serde_json::from_str::<serde_json::Value>(&first).ok().and_then(|v| v["redirect_uri"].as_str().map(String::from))
    else {
        fail!("the script's first line is not {{\"redirect_uri\": …}}: {first}")
    };
    let create = ["app", "create", "--json", "--name", "Browser test app", "--redirect-uri", &redirect_uri, "--data-dir", "data"];
    let app = json(&ok(ward(d).args(create)));
    let app_id = app["appId"].as_str().unwrap_or_else(|| panic!("`ward app create --json` has no appId: {app}"));
    writeln!(stdin, "{}", serde_json::json!({ "client_id": app_id })).expect("the script reads its standard input");
    drop(stdin);

    let deadline = started + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            fail!("interop/browser/{script} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    reader.join().unwrap();
    let err = err.join().unwrap();
    let out = out.lock().unwrap().clone();
    println!("browser/{script} ({:.1} s):\n{out}{err}", started.elapsed().as_secs_f64());
    assert!(
        status.success(),
        "browser/{script} failed ({status}) against {base}\n--- stdout\n{out}--- stderr\n{err}--- ward log\n{}",
        server.log()
    );
}

#[test]
fn sign_in_consent_and_single_sign_on_in_chromium() {
    // 127.0.0.1, not the public localhost URL: Ward listens on IPv4 loopback only.
    run_script("sign_in.mjs", |addr| format!("http://{addr}"), |_| Vec::new());
}

/// `sign_in_methods.mjs`: an authenticator app added then used to sign in with a code; a passkey
/// registered with a CDP virtual authenticator then used to sign in without a name; the same
/// authenticator with user verification off refused; an account locked after ten wrong passwords.
/// WebAuthn needs a domain as its relying party, so the browser uses http://localhost:PORT (the
/// public URL) and maps localhost to 127.0.0.1 itself.
#[test]
fn sign_in_methods_authenticator_app_passkey_and_lockout_in_chromium() {
    run_script(
        "sign_in_methods.mjs",
        |addr| format!("http://localhost:{}", addr.port()),
        |d| {
            let created = json(&ok(ward(d).args([
                "user",
                "create",
                "--json",
                "--upn",
                "locky@defaultdirectory.ward.local",
                "--display-name",
                "Locky",
                "--generate-password",
                "--data-dir",
                "data",
            ])));
            let password = created["generatedPassword"].as_str().unwrap_or_else(|| panic!("no generatedPassword: {created}")).to_string();
            vec![("WARD_LOCKOUT_USERNAME".into(), "locky@defaultdirectory.ward.local".into()), ("WARD_LOCKOUT_PASSWORD".into(), password)]
        },
    );
}

/// `conditional_access.mjs`: with security defaults off and a policy (created with
/// `ward policy create`) requiring MFA for every app, a password-only session that has an
/// authenticator app is asked for its code on the authorize request before the app gets a code.
#[test]
fn conditional_access_steps_a_sign_in_up_to_the_authenticator_code_in_chromium() {
    run_script(
        "conditional_access.mjs",
        |addr| format!("http://{addr}"),
        |d| {
            ok(ward(d).args(["tenant", "set", "--security-defaults", "false", "--data-dir", "data"]));
            let policy = serde_json::json!({"displayName": "MFA for every app", "state": "enabled",
                "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
                "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}});
            std::fs::write(d.join("policy.json"), policy.to_string()).unwrap();
            let created = json(&ok(ward(d).args(["policy", "create", "--file", "policy.json", "--data-dir", "data"])));
            assert_eq!(created["state"], "enabled", "{created}");
            Vec::new()
        },
    );
}
