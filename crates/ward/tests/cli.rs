//! The `ward` CLI end to end: the real binary on a temporary data directory.

mod common;
use common::*;
use std::io::Write;

#[test]
fn init_prints_one_json_object_and_refuses_a_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let out = init(dir.path(), &["--tenant-name", "Contoso", "--public-url", "https://id.contoso.example/"]);
    for key in ["tenant_id", "tenant_domain", "issuer", "base_url", "admin_upn", "admin_password", "client_id", "client_secret"] {
        assert!(out[key].as_str().is_some_and(|v| !v.is_empty()), "{key} missing in {out}");
    }
    let tenant = out["tenant_id"].as_str().unwrap();
    assert_eq!(out["tenant_domain"], "contoso.ward.local");
    assert_eq!(out["admin_upn"], "admin@contoso.ward.local");
    assert_eq!(out["base_url"], "https://id.contoso.example");
    assert_eq!(out["issuer"], format!("https://id.contoso.example/{tenant}/v2.0"));
    // Nothing changes the second time, and the command says so.
    let before = ok(ward(dir.path()).args(["user", "list", "--json", "--data-dir", "data"]));
    let err = fails_with(ward(dir.path()).args(["init", "--json", "--data-dir", "data", "--tenant-name", "Other"]), "already_initialized");
    assert!(err.contains("nothing was changed"));
    let after = ok(ward(dir.path()).args(["user", "list", "--json", "--data-dir", "data"]));
    assert_eq!(before, after);
    assert_eq!(json(&after)["value"].as_array().unwrap().len(), 1);
}

#[test]
fn a_user_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d, &[]);
    std::fs::write(d.join("pw"), "Str0ng-Passw0rd!\n").unwrap();
    let created = json(&ok(ward(d).args([
        "user",
        "create",
        "--data-dir",
        "data",
        "--json",
        "--upn",
        "Adele@defaultdirectory.ward.local",
        "--display-name",
        "Adele Vance",
        "--job-title",
        "Engineer",
        "--usage-location",
        "gb",
        "--password-file",
        "pw",
    ])));
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["usageLocation"], "GB");
    assert!(created.get("password").is_none() && !created.to_string().contains("Str0ng"));
    let shown = json(&ok(ward(d).args(["user", "show", "adele@DefaultDirectory.ward.local", "--json", "--data-dir", "data"])));
    assert_eq!(shown["id"], id.as_str());
    let updated = json(&ok(ward(d).args([
        "user",
        "update",
        &id,
        "--data-dir",
        "data",
        "--json",
        "--department",
        "R&D",
        "--patch",
        r#"{"otherMails": ["adele@example.com"], "jobTitle": null}"#,
    ])));
    assert_eq!(updated["department"], "R&D");
    assert_eq!(updated["otherMails"][0], "adele@example.com");
    assert!(updated["jobTitle"].is_null());
    ok(ward(d).args(["user", "disable", &id, "--data-dir", "data"]));
    let disabled = json(&ok(ward(d).args(["user", "show", &id, "--json", "--data-dir", "data"])));
    assert_eq!(disabled["accountEnabled"], false);
    assert!(disabled["signInSessionsValidFromDateTime"].as_str().unwrap() > created["signInSessionsValidFromDateTime"].as_str().unwrap());
    ok(ward(d).args(["user", "delete", &id, "--data-dir", "data"]));
    fails_with(ward(d).args(["user", "show", &id, "--data-dir", "data"]), "not_found");
    let deleted = json(&ok(ward(d).args(["user", "list", "--deleted", "--json", "--data-dir", "data"])));
    assert_eq!(deleted["value"][0]["id"], id.as_str());
    assert!(deleted["value"][0]["deletedDateTime"].is_string());
    let restored = json(&ok(ward(d).args(["user", "restore", &id, "--json", "--data-dir", "data"])));
    assert!(restored["deletedDateTime"].is_null());
    fails_with(ward(d).args(["user", "restore", &id, "--data-dir", "data"]), "not_deleted");
}

#[test]
fn bad_input_is_refused_with_a_stable_code() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d, &[]);
    let create = |upn: &str| {
        let mut c = ward(d);
        c.args(["user", "create", "--data-dir", "data", "--upn", upn]);
        c
    };
    fails_with(&mut create("not-a-upn"), "invalid_value");
    fails_with(&mut create("a b@defaultdirectory.ward.local"), "invalid_value");
    fails_with(&mut create(&format!("{}@defaultdirectory.ward.local", "x".repeat(65))), "invalid_value");
    fails_with(&mut create("someone@fabrikam.example"), "unverified_domain");
    ok(&mut create("dup@defaultdirectory.ward.local"));
    fails_with(&mut create("DUP@defaultdirectory.ward.local"), "duplicate_user_principal_name");
    let long_name = "n".repeat(257);
    fails_with(create("long@defaultdirectory.ward.local").args(["--display-name", &long_name]), "invalid_value");
    fails_with(ward(d).args(["user", "show", "00000000-0000-4000-8000-000000000000", "--data-dir", "data"]), "not_found");
    fails_with(
        ward(d).args(["user", "update", "dup@defaultdirectory.ward.local", "--data-dir", "data", "--usage-location", "XX"]),
        "invalid_value",
    );
    // A weak password is refused and nothing is created.
    std::fs::write(d.join("weak"), "password").unwrap();
    fails_with(create("weak@defaultdirectory.ward.local").args(["--password-file", "weak"]), "invalid_value");
    fails_with(ward(d).args(["user", "show", "weak@defaultdirectory.ward.local", "--data-dir", "data"]), "not_found");
    // Malformed patch JSON is a clear error, not a panic.
    let o = run(ward(d).args(["user", "update", "dup@defaultdirectory.ward.local", "--data-dir", "data", "--patch", "{not json"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--patch"));
    // Usage errors exit 2.
    assert_eq!(run(ward(d).args(["user", "frobnicate"])).status.code(), Some(2));
}

#[test]
fn groups_nest_and_refuse_cycles() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d, &[]);
    ok(ward(d).args(["user", "create", "--data-dir", "data", "--upn", "ann@defaultdirectory.ward.local"]));
    for name in ["Sales", "All Staff"] {
        ok(ward(d).args(["group", "create", "--data-dir", "data", "--name", name]));
    }
    ok(ward(d).args(["group", "add-member", "Sales", "ann@defaultdirectory.ward.local", "--data-dir", "data"]));
    ok(ward(d).args(["group", "add-member", "All Staff", "Sales", "--data-dir", "data"]));
    fails_with(ward(d).args(["group", "add-member", "Sales", "All Staff", "--data-dir", "data"]), "membership_cycle");
    fails_with(ward(d).args(["group", "add-member", "Sales", "Sales", "--data-dir", "data"]), "membership_cycle");
    fails_with(ward(d).args(["group", "add-member", "Sales", "ann@defaultdirectory.ward.local", "--data-dir", "data"]), "already_member");
    let direct = json(&ok(ward(d).args(["group", "members", "All Staff", "--json", "--data-dir", "data"])));
    assert_eq!(direct["value"].as_array().unwrap().len(), 1);
    let all = json(&ok(ward(d).args(["group", "members", "All Staff", "--transitive", "--json", "--data-dir", "data"])));
    let kinds: Vec<_> = all["value"].as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, vec!["group", "user"]);
    ok(ward(d).args(["group", "remove-member", "Sales", "ann@defaultdirectory.ward.local", "--data-dir", "data"]));
    fails_with(ward(d).args(["group", "remove-member", "Sales", "ann@defaultdirectory.ward.local", "--data-dir", "data"]), "not_member");
    fails_with(ward(d).args(["group", "create", "--data-dir", "data", "--name", "Bad", "--mail-nickname", "a.b"]), "invalid_value");
    fails_with(ward(d).args(["group", "members", "Nope", "--data-dir", "data"]), "not_found");
}

#[test]
fn import_acknowledges_each_committed_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d, &[]);
    let mut child = ward(d)
        .args(["user", "import", "--data-dir", "data"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = [
        r#"{"userPrincipalName": "u1@defaultdirectory.ward.local", "displayName": "One", "passwordProfile": {"password": "Str0ng-Passw0rd!", "forceChangePasswordNextSignIn": true}}"#.to_string(),
        "not json".to_string(),
        r#"{"userPrincipalName": "u1@defaultdirectory.ward.local", "displayName": "Again"}"#.to_string(),
        r#"{"userPrincipalName": "u2@defaultdirectory.ward.local", "displayName": "Two", "unknownProperty": 1}"#.to_string(),
        format!(r#"{{"userPrincipalName": "u3@defaultdirectory.ward.local", "displayName": "{}"}}"#, "x".repeat(70_000)),
        r#"{"userPrincipalName": "u4@defaultdirectory.ward.local", "displayName": "Four"}"#.to_string(),
    ];
    {
        let mut stdin = child.stdin.take().unwrap();
        for l in &lines {
            writeln!(stdin, "{l}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "some lines failed");
    let acks: Vec<serde_json::Value> = stdout(&out).lines().map(json).collect();
    assert_eq!(acks.len(), 6);
    assert!(acks[0]["id"].is_string());
    assert_eq!(acks[1]["error"]["code"], "invalid_value");
    assert_eq!(acks[2]["error"]["code"], "duplicate_user_principal_name");
    assert_eq!(acks[3]["error"]["code"], "invalid_value");
    assert_eq!(acks[4]["error"]["code"], "invalid_value");
    assert_eq!(acks[5]["userPrincipalName"], "u4@defaultdirectory.ward.local");
    assert!(stderr(&out).contains("4 line(s) were not imported"));
    let u1 = json(&ok(ward(d).args(["user", "show", "u1@defaultdirectory.ward.local", "--json", "--data-dir", "data"])));
    assert_eq!(u1["forceChangePasswordNextSignIn"], true);
}

#[test]
fn configuration_layers_defaults_file_environment_flags() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("ward.toml"),
        "data_dir = \"from-file\"\ntenant_name = \"File Tenant\"\nlog_level = \"warn\"\ntrusted_proxies = [\"10.0.0.0/8\"]\nlisten_adress = \"typo\"\n",
    )
    .unwrap();
    std::fs::write(d.join("db-url"), "postgres://ward:s3cret@db.internal:5432/ward\n").unwrap();
    let show = |cmd: &mut std::process::Command| {
        let o = run(cmd.args(["config", "--json"]));
        assert!(o.status.success(), "{}", stderr(&o));
        (json(&stdout(&o)), stderr(&o))
    };
    // File over defaults; the typo is reported.
    let (c, log) = show(&mut ward(d));
    assert_eq!(c["config"]["data_dir"], "from-file");
    assert_eq!(c["config"]["tenant_name"], "File Tenant");
    assert_eq!(c["config"]["listen"], "127.0.0.1:8080");
    assert_eq!(c["config"]["trusted_proxies"][0], "10.0.0.0/8");
    assert!(c["warnings"][0].as_str().unwrap().contains("listen_adress"));
    assert!(log.contains("listen_adress"), "warned in the log too: {log}");
    // Environment over the file; secrets from *_FILE, never echoed.
    let (c, _) = show(
        ward(d)
            .env("WARD_TENANT_NAME", "Env Tenant")
            .env("WARD_TRUSTED_PROXIES", "192.0.2.0/24, 198.51.100.1")
            .env("WARD_DATABASE_URL_FILE", d.join("db-url")),
    );
    assert_eq!(c["config"]["tenant_name"], "Env Tenant");
    assert_eq!(c["config"]["trusted_proxies"][1], "198.51.100.1/32");
    assert!(!c.to_string().contains("s3cret"), "{c}");
    assert!(c["config"]["database_url"].as_str().unwrap().contains("db.internal"));
    // Flags over the environment.
    let (c, _) = show(ward(d).env("WARD_DATA_DIR", "from-env").args(["--data-dir", "from-flag"]));
    assert_eq!(c["config"]["data_dir"], "from-flag");
    let (c, _) = show(ward(d).env("WARD_DATA_DIR", "from-env"));
    assert_eq!(c["config"]["data_dir"], "from-env");
    // Bad values are errors, not silence.
    let o = run(ward(d).env("WARD_TRUSTED_PROXIES", "not-a-cidr").args(["config"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not-a-cidr"));
    let o = run(ward(d).args(["--config", "missing.toml", "config"]));
    assert_eq!(o.status.code(), Some(1));
    std::fs::write(d.join("broken.toml"), "data_dir = [").unwrap();
    assert_eq!(run(ward(d).args(["--config", "broken.toml", "config"])).status.code(), Some(1));
}

#[test]
fn domains_and_roles() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = init(d, &[]);
    fails_with(ward(d).args(["user", "create", "--data-dir", "data", "--upn", "kim@contoso.example"]), "unverified_domain");
    ok(ward(d).args(["tenant", "add-domain", "Contoso.Example", "--data-dir", "data"]));
    fails_with(ward(d).args(["tenant", "add-domain", "contoso.example", "--data-dir", "data"]), "duplicate_domain");
    fails_with(ward(d).args(["tenant", "add-domain", "not_a_domain", "--data-dir", "data"]), "invalid_value");
    ok(ward(d).args(["user", "create", "--data-dir", "data", "--upn", "kim@contoso.example"]));
    // The tenant is addressable by its new domain.
    ok(ward(d).args(["user", "show", "kim@contoso.example", "--tenant", "contoso.example", "--data-dir", "data"]));
    fails_with(ward(d).args(["user", "list", "--tenant", "fabrikam.example", "--data-dir", "data"]), "not_found");
    let roles = json(&ok(ward(d).args(["role", "list", "--json"])));
    assert_eq!(roles["value"].as_array().unwrap().len(), 12);
    ok(ward(d).args(["role", "assign", "Security Reader", "kim@contoso.example", "--data-dir", "data"]));
    fails_with(ward(d).args(["role", "assign", "security reader", "kim@contoso.example", "--data-dir", "data"]), "already_member");
    fails_with(ward(d).args(["role", "assign", "Chief Wizard", "kim@contoso.example", "--data-dir", "data"]), "invalid_value");
    let assignments = json(&ok(ward(d).args(["role", "assignments", "--json", "--data-dir", "data"])));
    let list = assignments["value"].as_array().unwrap();
    // The admin and the automation app's service principal are Global Administrators from init.
    assert_eq!(list.iter().filter(|a| a["roleDefinitionId"] == "62e90394-69f5-4237-9190-012177145e10").count(), 2);
    assert!(list.iter().any(|a| a["roleDefinitionId"] == "5d6b6bb7-de71-4623-b4af-96380a352509"));
    assert!(out["client_id"].is_string());
}

/// A leaked-password list (the administrator's file of SHA-1 digests, in either published
/// format): a password in it is refused when set, by the command line and by Graph alike; a
/// malformed file stops start-up with the line it is on.
#[tokio::test]
async fn passwords_on_the_leaked_list_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let init = init(d, &[]);
    let leaked = "Leaked-Passw0rd-2026!";
    let sha1: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, leaked.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    std::fs::write(d.join("leaked.txt"), format!("{}\n{sha1}\n", "0".repeat(40))).unwrap();
    std::fs::write(d.join("ward.toml"), "leaked_passwords_file = \"leaked.txt\"\n").unwrap();
    std::fs::write(d.join("pw"), format!("{leaked}\n")).unwrap();
    let domain = init["admin_upn"].as_str().unwrap().split('@').nth(1).unwrap().to_string();
    let create = |alias: &str, pw: &str| {
        let mut c = ward(d);
        c.args([
            "user",
            "create",
            "--upn",
            &format!("{alias}@{domain}"),
            "--display-name",
            alias,
            "--password-file",
            pw,
            "--data-dir",
            "data",
        ]);
        c
    };
    let err = fails_with(&mut create("lee", "pw"), "invalid_value");
    assert!(err.contains("leaked"), "{err}");
    std::fs::write(d.join("pw2"), "Not-On-Any-List-2026!\n").unwrap();
    ok(&mut create("lee", "pw2"));

    let server = Server::start(d, &["--data-dir", "data"]);
    let tid = init["tenant_id"].as_str().unwrap();
    let (_, t) = client_token(&server, tid, init["client_id"].as_str().unwrap(), init["client_secret"].as_str().unwrap()).await;
    let token = t["access_token"].as_str().unwrap();
    let body = |pw: &str| {
        serde_json::json!({ "accountEnabled": true, "displayName": "Kim", "mailNickname": "kim", "userPrincipalName": format!("kim@{domain}"),
            "passwordProfile": { "password": pw, "forceChangePasswordNextSignIn": false } })
    };
    let r = http().post(server.url("/v1.0/users")).bearer_auth(token).json(&body(leaked)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("leaked"));
    let r = http().post(server.url("/v1.0/users")).bearer_auth(token).json(&body("Not-On-Any-List-2026!")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    drop(server);

    std::fs::write(d.join("leaked.txt"), format!("{sha1}\nnot a digest\n")).unwrap();
    let out = run(ward(d).args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"]));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("leaked_passwords_file") && stderr(&out).contains('2'), "{}", stderr(&out));
}

/// Identity Protection's feed files and thresholds: a bad one stops start-up, naming the file and
/// the line (or the key), and nothing starts listening.
#[test]
fn bad_risk_feeds_and_thresholds_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d, &[]);
    let serve = |config: &str| {
        std::fs::write(d.join("ward.toml"), config).unwrap();
        let out = run(ward(d).args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"]));
        assert!(!out.status.success(), "{config}");
        stderr(&out)
    };
    std::fs::write(d.join("anonymous.txt"), "# Tor exits\n185.220.101.0/24\n185.220.999.0/24\n").unwrap();
    let err = serve("anonymous_ips_file = \"anonymous.txt\"\n");
    assert!(err.contains("anonymous_ips_file") && err.contains("line 3"), "{err}");
    std::fs::write(d.join("malicious.txt"), "10.0.0.0/33\n").unwrap();
    let err = serve("malicious_ips_file = \"malicious.txt\"\n");
    assert!(err.contains("malicious_ips_file") && err.contains("line 1"), "{err}");
    std::fs::write(d.join("city.mmdb"), b"not a MaxMind database at all").unwrap();
    let err = serve("geoip_files = [\"city.mmdb\"]\n");
    assert!(err.contains("geoip file") && err.contains("city.mmdb"), "{err}");
    let err = serve("geoip_files = [\"missing.mmdb\"]\n");
    assert!(err.contains("missing.mmdb"), "{err}");
    let err = serve("risk_spray_accounts = 1\n");
    assert!(err.contains("risk_spray_accounts"), "{err}");
    let err = serve("risk_learning_days = -3\n");
    assert!(err.contains("risk_learning_days"), "{err}");
}
