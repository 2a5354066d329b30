//! `ward serve` end to end: the real binary on 127.0.0.1 port 0.

mod common;
use common::*;
use std::process::Stdio;

#[tokio::test]
async fn an_empty_store_is_initialized_once_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut server = Server::start(d, &["--data-dir", "data"]);
    let printed = server.wait_for_stdout("Client secret:");
    assert!(printed.contains("Password:"), "{printed}");
    assert!(printed.contains(&format!("http://localhost:{}", server.addr.port())));
    let c = http();
    assert_eq!(c.get(server.url("/healthz")).send().await.unwrap().text().await.unwrap(), "ok\n");
    let ready: serde_json::Value = c.get(server.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    let page = c.get(server.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Default Directory"));
    // The start page leads a person to their tenant's sign-in, which works.
    let portal = page.split("<a href=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_string();
    assert!(portal.ends_with("/mysecurityinfo"), "{portal}");
    let sign_in = c.get(server.url(&portal)).send().await.unwrap().text().await.unwrap();
    assert!(sign_in.contains("<h1>Sign in</h1>") && sign_in.contains("name=\"username\""), "{sign_in}");
    let metrics = c.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"ward_http_requests_total{method="GET",route="/healthz",status="200"}"#), "{metrics}");
    assert!(metrics.contains("ward_build_info"));
    // Credentials never reach the log.
    let secret_line = printed.lines().find(|l| l.contains("Client secret:")).unwrap();
    let secret = secret_line.split_whitespace().last().unwrap();
    assert!(!server.log().contains(secret));
    // SIGTERM: a clean stop.
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(server.log().contains("\"stopped\""));
    // A second start on the same data directory prints no credentials.
    let again = Server::start(d, &["--data-dir", "data"]);
    assert!(again.stdout.lock().unwrap().is_empty());
    assert_eq!(c.get(again.url("/healthz")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn https_with_a_certificate_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(d.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(d.join("key.pem"), key.serialize_pem()).unwrap();
    let server = Server::start(d, &["--data-dir", "data", "--tls-cert", "cert.pem", "--tls-key", "key.pem"]);
    assert!(server.log().contains("\"tls\":true"));
    let trusted = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/healthz", server.addr.port());
    let r = trusted.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok\n");
    server.wait_for_stdout("https://localhost:");
    // Over https, Ward's cookies are `__Host-` cookies: Secure, Path=/, no Domain.
    let app = json(&ok(ward(d).args([
        "app",
        "create",
        "--json",
        "--name",
        "Web",
        "--redirect-uri",
        "https://app.example.com/cb",
        "--data-dir",
        "data",
    ])));
    let tid = json(&ok(ward(d).args(["tenant", "list", "--json", "--data-dir", "data"])))["value"][0]["id"].as_str().unwrap().to_string();
    let authorize = format!(
        "https://localhost:{}/{tid}/oauth2/v2.0/authorize?client_id={}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&response_type=code&scope=openid",
        server.addr.port(),
        app["appId"].as_str().unwrap()
    );
    let r = trusted.get(&authorize).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let set = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(set.starts_with("__Host-ward_csrf=") && set.contains("; Secure") && set.contains("Path=/") && !set.contains("Domain"), "{set}");
    // A client that does not trust the certificate is refused; plain HTTP gets no answer.
    assert!(http().get(&url).send().await.is_err());
    assert!(http().get(format!("http://127.0.0.1:{}/healthz", server.addr.port())).send().await.is_err());
}

#[test]
fn tls_misconfiguration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("empty.pem"), "").unwrap();
    let o =
        run(ward(d).args(["serve", "--data-dir", "data", "--listen", "127.0.0.1:0", "--tls-cert", "empty.pem", "--tls-key", "empty.pem"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no PEM certificate"), "{}", stderr(&o));
    let o = run(ward(d).args(["serve", "--data-dir", "data", "--listen", "127.0.0.1:0", "--tls-cert", "empty.pem"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("go together"));
}

#[test]
fn fido_metadata_that_is_not_trusted_or_not_metadata_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let serve =
        |file: &str| run(ward(d).args(["serve", "--data-dir", "data", "--listen", "127.0.0.1:0"]).env("WARD_FIDO_METADATA_FILE", file));
    std::fs::write(d.join("forged.jwt"), "eyJhbGciOiJFUzI1NiJ9.eyJlbnRyaWVzIjpbXX0.c2ln").unwrap();
    let o = serve("forged.jwt");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("did not verify against the FIDO roots"), "{}", stderr(&o));
    std::fs::write(d.join("bad.json"), r#"{"entries":[{"aaguid":"not-a-guid"}]}"#).unwrap();
    let o = serve("bad.json");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("aaguid is not a GUID"), "{}", stderr(&o));
    let o = serve("missing.json");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot read fido_metadata_file"), "{}", stderr(&o));
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let trusting = Server::start(d, &["--data-dir", "a", "--trusted-proxy", "127.0.0.1/32"]);
    let other = Server::start(d, &["--data-dir", "b"]);
    for s in [&trusting, &other] {
        http().get(s.url("/healthz")).header("x-forwarded-for", "1.1.1.1, 198.51.100.7").send().await.unwrap();
    }
    trusting.wait_for_log("\"client_ip\":\"198.51.100.7\"");
    let log = other.wait_for_log("\"path\":\"/healthz\"");
    assert!(log.contains("\"client_ip\":\"127.0.0.1\"") && !log.contains("198.51.100.7"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_writes_safely_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d, &["--data-dir", "data"]);
    // Four importers at once, beside the running server.
    let mut children = Vec::new();
    for batch in 0..4 {
        let lines: String = (0..25)
            .map(|i| {
                format!("{{\"userPrincipalName\": \"b{batch}u{i}@defaultdirectory.ward.local\", \"displayName\": \"B{batch} U{i}\"}}\n")
            })
            .collect();
        std::fs::write(d.join(format!("batch{batch}.jsonl")), lines).unwrap();
        children.push(
            ward(d)
                .args(["user", "import", "--data-dir", "data", "--file", &format!("batch{batch}.jsonl")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 25);
    }
    let users = json(&ok(ward(d).args(["user", "list", "--json", "--data-dir", "data"])));
    assert_eq!(users["value"].as_array().unwrap().len(), 101);
    let ready = http().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_nodes_share_one_postgresql() {
    let Some(pg) = ward_testkit::postgres_required() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = json(&ok(ward(d).args(["init", "--json", "--database-url", pg.url(), "--tenant-name", "Fabrikam"])));
    // Without a shared key-encryption key a node refuses to start, and says what to do.
    let o = run(ward(d).args(["serve", "--database-url", pg.url(), "--listen", "127.0.0.1:0"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("key_encryption_key"), "{}", stderr(&o));
    // Every node reads the same key from a file named in ward.toml.
    std::fs::write(d.join("kek"), "q0cFtJNmtRRuhbxK3Qy3BPUqugldLUN2PCvfSYj3xW0=\n").unwrap();
    std::fs::write(d.join("ward.toml"), "key_encryption_key_file = \"kek\"\n").unwrap();
    let a = Server::start(d, &["--database-url", pg.url()]);
    let b = Server::start(d, &["--database-url", pg.url()]);
    assert!(a.stdout.lock().unwrap().is_empty() && b.stdout.lock().unwrap().is_empty(), "already initialized: no credentials");
    for node in [&a, &b] {
        let ready: serde_json::Value = http().get(node.url("/readyz")).send().await.unwrap().json().await.unwrap();
        assert_eq!(ready["store"], "postgres");
        let page = http().get(node.url("/")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(out["tenant_id"].as_str().unwrap()));
    }
    assert!(!a.log().contains("s3cret") && a.log().contains("postgres://"));
    // One key set for all nodes.
    let jwks_a = http().get(a.url("/discovery/v2.0/keys")).send().await.unwrap().text().await.unwrap();
    let jwks_b = http().get(b.url("/discovery/v2.0/keys")).send().await.unwrap().text().await.unwrap();
    assert_eq!(jwks_a, jwks_b);
    assert_eq!(json(&jwks_a)["keys"].as_array().unwrap().len(), 3);
    // A write through one surface is seen by every other.
    ok(ward(d).args(["user", "create", "--database-url", pg.url(), "--upn", "pat@fabrikam.ward.local"]));
    let listed = json(&ok(ward(d).args(["user", "list", "--json", "--database-url", pg.url()])));
    assert_eq!(listed["value"].as_array().unwrap().len(), 2);
    // When the database goes away, readiness says so (and liveness does not).
    drop(pg);
    let r = http().get(a.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(http().get(a.url("/healthz")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn signing_keys_are_sealed_published_and_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d, &["--data-dir", "data"]);
    let kek_file = d.join("data").join("ward.kek");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&kek_file).unwrap().permissions().mode() & 0o777, 0o600);
    let tenant =
        json(&ok(ward(d).args(["tenant", "list", "--json", "--data-dir", "data"])))["value"][0]["id"].as_str().unwrap().to_string();
    let jwks: serde_json::Value =
        http().get(server.url(&format!("/{tenant}/discovery/v2.0/keys"))).send().await.unwrap().json().await.unwrap();
    let kids: Vec<String> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect();
    assert_eq!(kids.len(), 3);
    // The private halves are not in the database in clear: the kid-bound ciphertext is all there is.
    let db = std::fs::read(d.join("data").join("ward.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains("\"d\":"));
    drop(server);

    let rotated = ok(ward(d).args(["keys", "rotate", "--alg", "ES256", "--data-dir", "data"]));
    assert!(rotated.contains("rotated ES256"));
    let listed = json(&ok(ward(d).args(["keys", "list", "--json", "--data-dir", "data"])));
    let keys = listed["value"].as_array().unwrap();
    assert_eq!(keys.len(), 4);
    assert_eq!(keys.iter().filter(|k| k["retireAt"].is_number()).count(), 1, "the superseded ES256 key retires later");
    let again = Server::start(d, &["--data-dir", "data"]);
    let jwks: serde_json::Value = http().get(again.url("/discovery/v2.0/keys")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 4, "old and new both published");
    let o = run(ward(d).args(["keys", "rotate", "--alg", "HS256", "--data-dir", "data"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown algorithm 'HS256'"));
    drop(again);

    // A different key-encryption key cannot open them: start-up stops with a clear reason.
    std::fs::write(&kek_file, "q0cFtJNmtRRuhbxK3Qy3BPUqugldLUN2PCvfSYj3xW0=").unwrap();
    let o = run(ward(d).args(["serve", "--data-dir", "data", "--listen", "127.0.0.1:0"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("key-encryption key"), "{}", stderr(&o));
    std::fs::write(&kek_file, "too-short").unwrap();
    let o = run(ward(d).args(["keys", "list", "--data-dir", "data"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("ward.kek"), "{}", stderr(&o));
}

/// A SIGTERM sent the moment the server says it listens stops it cleanly (exit 0): the signal
/// handlers are in place before "listening" is logged. (They used to be installed on the first
/// poll of the shutdown future, after it: a test that stopped a server at once under load saw
/// it killed by the signal instead.)
#[test]
fn a_sigterm_right_after_listening_is_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &[]);
    for _ in 0..5 {
        let mut server = Server::start(dir.path(), &["--data-dir", "data"]);
        let status = server.terminate();
        assert!(status.success(), "{status:?}\n{}", server.log());
    }
}
