//! Identity Protection through Graph against the real binary (issue 8, first part): an ISV
//! confirms a user compromised, Ward raises the user's risk, revokes what they hold, and a
//! risk-based conditional access policy meets their next sign-in; dismissing clears the risk and
//! keeps the history. Permissions and bad input.

mod common;
use common::signin::*;
use common::{Server, http, ok, run, stderr, ward};
use serde_json::{Value, json};

const RISKY: &str = "/v1.0/identityProtection/riskyUsers";
const DETECTIONS: &str = "/v1.0/identityProtection/riskDetections";

async fn user_id(s: &Setup, token: &str) -> String {
    let (status, u) = call(s, token, "GET", &format!("/v1.0/users/{}", s.upn), None).await;
    assert_eq!(status, 200, "{u}");
    u["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn confirm_compromised_revokes_and_meets_risk_based_access_then_dismiss_clears_it() {
    let s = setup();
    for permission in
        ["IdentityRiskyUser.ReadWrite.All", "IdentityRiskEvent.Read.All", "User.Read.All", "Policy.ReadWrite.ConditionalAccess"]
    {
        s.grant_web(permission);
    }
    let token = s.web_app_token().await;
    let id = user_id(&s, &token).await;
    let (status, none) = call(&s, &token, "GET", RISKY, None).await;
    assert_eq!((status, none["value"].clone()), (200, json!([])), "nobody is at risk yet");

    // Megan signs in and holds a refresh token.
    let mut b = Browser::new();
    let web = s.authorize_url(&s.web, WEB_REDIRECT, "openid offline_access", false);
    let code = s.sign_in(&mut b, &web, WEB_REDIRECT).await;
    let exchange = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WEB_REDIRECT)];
    let (_, t) = s.token(&exchange, Some((&s.web, &s.web_secret))).await;
    let refresh = t["refresh_token"].as_str().unwrap().to_string();

    // A policy: high user risk is blocked.
    let policy = json!({"displayName": "Block high user risk", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}, "userRiskLevels": ["high"]},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}});
    let (status, p) = call(&s, &token, "POST", "/v1.0/identity/conditionalAccess/policies", Some(policy)).await;
    assert_eq!(status, 201, "{p}");
    // Not at risk: the policy does not apply.
    s.sign_in(&mut Browser::new(), &web, WEB_REDIRECT).await;

    // The ISV's detection confirms the compromise.
    let (status, body) = call(&s, &token, "POST", &format!("{RISKY}/confirmCompromised"), Some(json!({ "userIds": [id] }))).await;
    assert_eq!(status, 204, "{body}");
    let (_, r) = call(&s, &token, "GET", &format!("{RISKY}/{id}"), None).await;
    assert_eq!(
        (r["riskLevel"].as_str(), r["riskState"].as_str(), r["riskDetail"].as_str()),
        (Some("high"), Some("confirmedCompromised"), Some("adminConfirmedUserCompromised")),
        "{r}"
    );
    assert_eq!(r["userPrincipalName"], json!(s.upn));
    let (_, list) = call(&s, &token, "GET", RISKY, None).await;
    assert_eq!(list["value"].as_array().unwrap().len(), 1, "{list}");
    let both = format!("{RISKY}?$filter=riskLevel eq 'high' and riskState eq 'confirmedCompromised'");
    let (_, high) = call(&s, &token, "GET", &both, None).await;
    assert_eq!(high["value"][0]["id"], json!(id), "{high}");
    let (_, low) = call(&s, &token, "GET", &format!("{RISKY}?$filter=riskLevel eq 'low'"), None).await;
    assert_eq!(low["value"], json!([]), "{low}");
    // An application acting on its own is a partner reporting what it detected.
    let (_, detections) = call(&s, &token, "GET", DETECTIONS, None).await;
    let d = &detections["value"][0];
    assert_eq!(
        (d["riskEventType"].as_str(), d["userId"].as_str(), d["riskLevel"].as_str()),
        (Some("investigationsThreatIntelligence"), Some(id.as_str()), Some("high")),
        "{detections}"
    );
    let info = d["additionalInfo"].as_str().unwrap();
    assert!(info.contains("partnerReportedCompromise") && info.contains("Web Portal"), "{info}");
    let (status, one) = call(&s, &token, "GET", &format!("{DETECTIONS}/{}", d["id"].as_str().unwrap()), None).await;
    assert_eq!((status, one["id"].clone()), (200, d["id"].clone()));

    // What Megan held stops working, and signing in again meets the policy.
    let (status, e) = s.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)], Some((&s.web, &s.web_secret))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    let page = b.get(&web).await;
    let page = if page.body.contains("name=\"username\"") {
        b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await
    } else {
        page
    };
    let page = match page.location.clone() {
        Some(loc) if loc.starts_with('/') => b.get(&format!("{}{loc}", s.base())).await,
        _ => page,
    };
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("AADSTS53003"), "{}", page.body);

    // Dismissed: risk none, history kept, the policy no longer applies.
    let (status, _) = call(&s, &token, "POST", &format!("{RISKY}/dismiss"), Some(json!({ "userIds": [id] }))).await;
    assert_eq!(status, 204);
    let (_, r) = call(&s, &token, "GET", &format!("{RISKY}/{id}"), None).await;
    assert_eq!(
        (r["riskLevel"].as_str(), r["riskState"].as_str(), r["riskDetail"].as_str()),
        (Some("none"), Some("dismissed"), Some("adminDismissedAllRiskForUser"))
    );
    let (_, h) = call(&s, &token, "GET", &format!("{RISKY}/{id}/history"), None).await;
    let states: Vec<&str> = h["value"].as_array().unwrap().iter().map(|i| i["riskState"].as_str().unwrap()).collect();
    assert_eq!(states, vec!["confirmedCompromised", "dismissed"], "{h}");
    let (_, detections) = call(&s, &token, "GET", DETECTIONS, None).await;
    assert_eq!(detections["value"][0]["riskState"], json!("dismissed"), "{detections}");
    s.sign_in(&mut Browser::new(), &web, WEB_REDIRECT).await;
}

#[tokio::test]
async fn permissions_and_bad_input() {
    let s = setup();
    s.grant_web("User.Read.All");
    let reader = s.web_app_token().await;
    let id = user_id(&s, &reader).await;
    for (method, path, body) in [
        ("GET", RISKY.to_string(), None),
        ("POST", format!("{RISKY}/confirmCompromised"), Some(json!({ "userIds": [id] }))),
        ("GET", DETECTIONS.to_string(), None),
    ] {
        let (status, e) = call(&s, &reader, method, &path, body).await;
        assert_eq!((status, e["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")), "{path}: {e}");
    }
    s.grant_web("IdentityRiskyUser.Read.All");
    let only_read = s.web_app_token().await;
    assert_eq!(call(&s, &only_read, "GET", RISKY, None).await.0, 200);
    assert_eq!(call(&s, &only_read, "POST", &format!("{RISKY}/dismiss"), Some(json!({ "userIds": [id] }))).await.0, 403);
    s.grant_web("IdentityRiskyUser.ReadWrite.All");
    let writer = s.web_app_token().await;
    let many: Vec<Value> = (0..61).map(|_| json!(id)).collect();
    for body in
        [json!({}), json!({ "userIds": [] }), json!({ "userIds": [5] }), json!({ "userIds": ["not-an-id"] }), json!({ "userIds": many })]
    {
        let (status, e) = call(&s, &writer, "POST", &format!("{RISKY}/confirmCompromised"), Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {e}");
    }
    let ghost = "00000000-0000-0000-0000-0000000000aa";
    let (status, _) = call(&s, &writer, "POST", &format!("{RISKY}/confirmCompromised"), Some(json!({ "userIds": [id, ghost] }))).await;
    assert_eq!(status, 404);
    let (_, r) = call(&s, &writer, "GET", RISKY, None).await;
    assert_eq!(r["value"], json!([]), "one unknown user: nobody changed");
    assert_eq!(call(&s, &writer, "GET", &format!("{RISKY}/{id}"), None).await.0, 404, "never at risk");
    for query in ["$filter=riskLevel gt 'high'", "$filter=riskLevel eq high", "$top=0", "$top=501", "$skiptoken=not-ours", "$select=id"] {
        let (status, e) = call(&s, &writer, "GET", &format!("{RISKY}?{query}"), None).await;
        assert_eq!(status, 400, "{query}: {e}");
    }
    assert_eq!(call(&s, &writer, "GET", &format!("{RISKY}/not-an-id"), None).await.0, 400);
    assert_eq!(call(&s, &writer, "GET", &format!("{RISKY}?$filter=createdDateTime eq 'x'"), None).await.0, 400);
}

/// A user at risk who changes their own password in a session that proved MFA is remediated
/// (Identity Protection's "secured password change"); one whose session proved only a password
/// is not.
#[tokio::test]
async fn a_secured_password_change_remediates_the_user() {
    let s = setup();
    s.grant_web("IdentityRiskyUser.ReadWrite.All");
    s.grant_web("User.Read.All");
    let token = s.web_app_token().await;
    let id = user_id(&s, &token).await;
    let secret = s.enroll_authenticator(&mut Browser::new()).await;
    // A second person with a password only.
    let ola_id = create_ola(&s);
    let (status, _) = call(&s, &token, "POST", &format!("{RISKY}/confirmCompromised"), Some(json!({ "userIds": [id, ola_id] }))).await;
    assert_eq!(status, 204);

    let portal = format!("/{}/mysecurityinfo", s.tid);
    // Megan: password, then her authenticator's code, then the change.
    let mut b = Browser::new();
    let page = b.get(&format!("{}{portal}", s.base())).await;
    let otp = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert!(otp.body.contains("one-time-code"), "{}", otp.body);
    let signed = b.submit(&s.base(), &otp, &[("code", &app_code(&secret, 1))]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    change_password(&s, &mut b, PASSWORD, "Fresh-Meadow-Compass-4").await;
    let (_, r) = call(&s, &token, "GET", &format!("{RISKY}/{id}"), None).await;
    assert_eq!(
        (r["riskLevel"].as_str(), r["riskState"].as_str(), r["riskDetail"].as_str()),
        (Some("none"), Some("remediated"), Some("userPerformedSecuredPasswordChange")),
        "{r}"
    );

    // Ola: a password alone proves nothing about who changed it.
    let mut b = Browser::new();
    let page = b.get(&format!("{}{portal}", s.base())).await;
    let signed = b.submit(&s.base(), &page, &[("username", "ola@defaultdirectory.ward.local"), ("password", OLA_PASSWORD)]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    change_password(&s, &mut b, OLA_PASSWORD, "Ola-New-Lighthouse-9").await;
    let (_, r) = call(&s, &token, "GET", &format!("{RISKY}/{ola_id}"), None).await;
    assert_eq!((r["riskLevel"].as_str(), r["riskState"].as_str()), (Some("high"), Some("confirmedCompromised")), "{r}");
}

/// The signed-in person changes their password on the change page, back to their security info.
async fn change_password(s: &Setup, b: &mut Browser, current: &str, new: &str) {
    let url = format!("{}/{}/changepassword?continue=/{}/mysecurityinfo", s.base(), s.tid, s.tid);
    let form = b.get(&url).await;
    let done = b.submit(&s.base(), &form, &[("current", current), ("new", new), ("confirm", new)]).await;
    assert_eq!(done.status, 303, "{}", done.body);
}

/// Writes the geolocation fixtures: a city database (MaxMind's shape) and an ASN database
/// (ip-location-db's shape) for three documentation networks: Paris and Lyon on one French
/// network, Tokyo on a Japanese one.
fn write_geo_fixtures(dir: &std::path::Path) {
    let net = |s: &str| s.parse::<ipnet::IpNet>().unwrap();
    let city = |name: &str, country: &str, lat: f64, lon: f64| {
        json!({"city": {"names": {"en": name}}, "country": {"iso_code": country},
               "location": {"latitude": lat, "longitude": lon, "accuracy_radius": 20}})
    };
    let cities = [
        (net("192.0.2.0/24"), city("Paris", "FR", 48.8566, 2.3522)),
        (net("198.51.100.0/24"), city("Lyon", "FR", 45.764, 4.8357)),
        (net("203.0.113.0/24"), city("Tokyo", "JP", 35.6762, 139.6503)),
    ];
    std::fs::write(dir.join("city.mmdb"), ward_risk::mmdb_writer::write("GeoLite2-City", 6, &cities)).unwrap();
    let orange = json!({"autonomous_system_number": 3215, "autonomous_system_organization": "Orange"});
    let ntt = json!({"autonomous_system_number": 2914, "autonomous_system_organization": "NTT"});
    let networks = [(net("192.0.2.0/24"), orange.clone()), (net("198.51.100.0/24"), orange), (net("203.0.113.0/24"), ntt)];
    std::fs::write(dir.join("asn.mmdb"), ward_risk::mmdb_writer::write("GeoLite2-ASN", 6, &networks)).unwrap();
}

/// The newest sign-in log record of the user `id`.
async fn last_sign_in(s: &Setup, token: &str, id: &str) -> Value {
    let (status, log) = call(s, token, "GET", &format!("/v1.0/auditLogs/signIns?$top=1&$filter=userId eq '{id}'"), None).await;
    assert_eq!(status, 200, "{log}");
    log["value"][0].clone()
}

/// Sign-ins through a trusted proxy from chosen addresses, located by the administrator's MMDB
/// files: the usual city and a nearby one raise nothing; Tokyo half a minute after Lyon raises
/// unfamiliar properties and impossible travel, which a sign-in risk policy blocks; the sign-in
/// log, riskDetections and riskyUsers show it. The anonymizer feed is reloaded while Ward runs, and
/// a broken feed file keeps the previous one.
#[tokio::test]
async fn sign_ins_from_chosen_addresses_raise_detections_that_risk_policies_act_on() {
    let mut s = setup();
    let d = s._dir.path().to_path_buf();
    write_geo_fixtures(&d);
    std::fs::write(d.join("anonymous.txt"), "# no anonymizers yet\n").unwrap();
    restart_with(
        &mut s,
        "trusted_proxies = [\"127.0.0.1/32\"]\ngeoip_files = [\"city.mmdb\", \"asn.mmdb\"]\nanonymous_ips_file = \"anonymous.txt\"\n\
         risk_feeds_reload_seconds = 1\nrisk_learning_days = 0\nrisk_learning_sign_ins = 2\n",
    );
    for permission in [
        "User.Read.All",
        "IdentityRiskyUser.Read.All",
        "IdentityRiskEvent.Read.All",
        "AuditLog.Read.All",
        "Policy.ReadWrite.ConditionalAccess",
    ] {
        s.grant_web(permission);
    }
    let token = s.web_app_token().await;
    let id = user_id(&s, &token).await;
    let web = s.authorize_url(&s.web, WEB_REDIRECT, "openid", false);

    // Learning, then the usual city and a nearby one on the same network: nothing.
    for _ in 0..2 {
        s.sign_in(&mut Browser::from_address("192.0.2.10"), &web, WEB_REDIRECT).await;
    }
    s.sign_in(&mut Browser::from_address("192.0.2.77"), &web, WEB_REDIRECT).await;
    let usual = last_sign_in(&s, &token, &id).await;
    assert_eq!((usual["riskLevelDuringSignIn"].as_str(), usual["location"]["city"].as_str()), (Some("none"), Some("Paris")), "{usual}");
    s.sign_in(&mut Browser::from_address("198.51.100.5"), &web, WEB_REDIRECT).await;
    let lyon = last_sign_in(&s, &token, &id).await;
    assert_eq!(lyon["riskLevelDuringSignIn"], "none", "390 km on the same network: {lyon}");
    let (_, none) = call(&s, &token, "GET", DETECTIONS, None).await;
    assert_eq!(none["value"], json!([]), "{none}");

    // A policy blocks high sign-in risk; Tokyo at once is blocked.
    let policy = json!({"displayName": "Block high sign-in risk", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}, "signInRiskLevels": ["high"]},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}});
    assert_eq!(call(&s, &token, "POST", "/v1.0/identity/conditionalAccess/policies", Some(policy)).await.0, 201);
    let mut tokyo = Browser::from_address("203.0.113.40");
    let page = tokyo.get(&web).await;
    let page = tokyo.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    let page = tokyo.get(&format!("{}{}", s.base(), page.location.clone().unwrap())).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("AADSTS53003"), "{}", page.body);
    let blocked = last_sign_in(&s, &token, &id).await;
    assert_eq!(blocked["riskLevelDuringSignIn"], "high", "{blocked}");
    assert_eq!(blocked["riskEventTypes_v2"], json!(["unfamiliarFeatures", "impossibleTravel"]), "{blocked}");
    assert_eq!(blocked["status"]["errorCode"], 53003);
    let (_, found) = call(&s, &token, "GET", DETECTIONS, None).await;
    let mut kinds: Vec<&str> = found["value"].as_array().unwrap().iter().map(|d| d["riskEventType"].as_str().unwrap()).collect();
    kinds.sort();
    assert_eq!(kinds, ["impossibleTravel", "newCountry", "unfamiliarFeatures"], "{found}");
    let unfamiliar = found["value"].as_array().unwrap().iter().find(|d| d["riskEventType"] == "unfamiliarFeatures").unwrap();
    assert_eq!(
        (unfamiliar["ipAddress"].as_str(), unfamiliar["location"]["city"].as_str(), unfamiliar["detectionTimingType"].as_str()),
        (Some("203.0.113.40"), Some("Tokyo"), Some("realtime")),
        "{unfamiliar}"
    );
    assert_eq!(unfamiliar["userId"], json!(id));
    let (_, risky) = call(&s, &token, "GET", &format!("{RISKY}/{id}"), None).await;
    assert_eq!(risky["riskState"], "atRisk", "{risky}");

    // The anonymizer feed changes while Ward runs: Paris's network is now on it.
    std::fs::write(d.join("anonymous.txt"), "192.0.2.0/24\n").unwrap();
    wait_for_log(&s, "\"anonymous_ranges\":1").await;
    s.sign_in(&mut Browser::from_address("192.0.2.10"), &web, WEB_REDIRECT).await;
    let anonymous = last_sign_in(&s, &token, &id).await;
    assert_eq!(
        (anonymous["riskLevelDuringSignIn"].as_str(), anonymous["riskEventTypes_v2"].clone()),
        (Some("medium"), json!(["anonymizedIPAddress"])),
        "medium is not blocked by the high-risk policy: {anonymous}"
    );
    // The city database changes too: Paris's network is now Marseille's.
    let net = |t: &str| t.parse::<ipnet::IpNet>().unwrap();
    let marseille = json!({"city": {"names": {"en": "Marseille"}}, "country": {"iso_code": "FR"},
                           "location": {"latitude": 43.2965, "longitude": 5.3698, "accuracy_radius": 20}});
    std::fs::write(d.join("city.mmdb"), ward_risk::mmdb_writer::write("GeoLite2-City", 6, &[(net("192.0.2.0/24"), marseille)])).unwrap();
    wait_for_log_count(&s, "Identity Protection feeds loaded", 3).await;
    s.sign_in(&mut Browser::from_address("192.0.2.12"), &web, WEB_REDIRECT).await;
    assert_eq!(last_sign_in(&s, &token, &id).await["location"]["city"], "Marseille");
    // A broken file is refused; the feed loaded before stays.
    std::fs::write(d.join("anonymous.txt"), "192.0.2.0/24\nnot a network\n").unwrap();
    wait_for_log(&s, "reloading Identity Protection feeds failed").await;
    s.sign_in(&mut Browser::from_address("192.0.2.11"), &web, WEB_REDIRECT).await;
    assert_eq!(last_sign_in(&s, &token, &id).await["riskEventTypes_v2"], json!(["anonymizedIPAddress"]));

    // The offline pass, on demand, reads the feeds too: the broken file stops it, naming the line.
    let refused = run(ward(&d).args(["risk", "scan", "--hours", "1", "--data-dir", "data"]));
    assert!(stderr(&refused).contains("anonymous_ips_file") && stderr(&refused).contains("line 2"), "{}", stderr(&refused));
    // Mended, it reads the hour's sign-ins and finds nothing the real-time detectors did not
    // already store.
    std::fs::write(d.join("anonymous.txt"), "192.0.2.0/24\n").unwrap();
    let scan = cli(&d, &["risk", "scan", "--hours", "1", "--json"]);
    assert!(scan["records"].as_u64().unwrap() >= 6, "{scan}");
    assert_eq!(scan["stored"], 0, "{scan}");
    let (_, after) = call(&s, &token, "GET", DETECTIONS, None).await;
    assert_eq!(after["value"].as_array().unwrap().len(), 6, "three from Tokyo, three anonymizer sign-ins: {after}");
    let refused = run(ward(&d).args(["risk", "scan", "--hours", "0", "--data-dir", "data"]));
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("--hours must be between 1 and 720"), "{}", stderr(&refused));
}

/// Waits (at most 20 s) for the server's log to contain `needle`.
async fn wait_for_log(s: &Setup, needle: &str) {
    wait_for_log_count(s, needle, 1).await;
}

/// Waits (at most 20 s) for the server's log to contain `needle` `times` times.
async fn wait_for_log_count(s: &Setup, needle: &str, times: usize) {
    for _ in 0..200 {
        if s.server.stderr.lock().unwrap().matches(needle).count() >= times {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the server never logged {needle} {times} times: {}", s.server.stderr.lock().unwrap());
}

/// A risky sign-in meets a policy asking MFA for medium and high sign-in risk: the person
/// proves it with their authenticator app, gets in, and what MFA can clear of their risk is
/// remediated (userPassedMFADrivenByRiskBasedPolicy).
#[tokio::test]
async fn mfa_on_a_risky_sign_in_remediates_it() {
    let mut s = setup();
    let d = s._dir.path().to_path_buf();
    restart_with(&mut s, LEARNING_FAST);
    for permission in ["User.Read.All", "IdentityRiskyUser.Read.All", "Policy.ReadWrite.ConditionalAccess", "AuditLog.Read.All"] {
        s.grant_web(permission);
    }
    // The second factor only when a policy asks for it.
    ok(ward(&d).args(["tenant", "set", "--security-defaults", "false", "--data-dir", "data"]));
    let token = s.web_app_token().await;
    let id = user_id(&s, &token).await;
    let secret = s.enroll_authenticator(&mut Browser::from_address("8.8.8.8")).await;
    let web = s.authorize_url(&s.web, WEB_REDIRECT, "openid", false);
    for _ in 0..2 {
        s.sign_in(&mut Browser::from_address("8.8.8.8"), &web, WEB_REDIRECT).await;
    }
    // Reading the sign-in log waits for what the sign-ins taught to be stored.
    assert_eq!(last_sign_in(&s, &token, &id).await["riskLevelDuringSignIn"], "none");
    let policy = json!({"displayName": "MFA for risky sign-ins", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]},
                       "signInRiskLevels": ["medium", "high"]},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}});
    assert_eq!(call(&s, &token, "POST", "/v1.0/identity/conditionalAccess/policies", Some(policy)).await.0, 201);

    // From Japan a minute later: the policy asks for the code.
    let mut b = Browser::from_address("1.0.16.1");
    let page = b.get(&web).await;
    let page = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    let page = b.get(&format!("{}{}", s.base(), page.location.clone().unwrap())).await;
    assert!(page.body.contains("one-time-code"), "{} {:?} {}", page.status, page.location, page.body);
    let (_, risky) = call(&s, &token, "GET", &format!("{RISKY}/{id}"), None).await;
    assert_eq!(risky["riskState"], "atRisk", "{risky}");
    let done = b.submit(&s.base(), &page, &[("code", &app_code(&secret, 1))]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let code = s.sign_in(&mut b, &web, WEB_REDIRECT).await;
    assert!(!code.is_empty());
    let record = last_sign_in(&s, &token, &id).await;
    assert_eq!(
        (record["riskLevelDuringSignIn"].as_str(), record["riskState"].as_str(), record["riskDetail"].as_str()),
        (Some("high"), Some("remediated"), Some("userPassedMFADrivenByRiskBasedPolicy")),
        "{record}"
    );
    let (_, risky) = call(&s, &token, "GET", &format!("{RISKY}/{id}"), None).await;
    assert_eq!(
        (risky["riskLevel"].as_str(), risky["riskState"].as_str(), risky["riskDetail"].as_str()),
        (Some("none"), Some("remediated"), Some("userPassedMFADrivenByRiskBasedPolicy")),
        "{risky}"
    );
}

/// An administrator's new password for a user at risk remediates them
/// (adminGeneratedTemporaryPassword); a profile change without a password does not.
#[tokio::test]
async fn an_administrators_password_reset_remediates_the_user() {
    let s = setup();
    for permission in ["User.ReadWrite.All", "IdentityRiskyUser.ReadWrite.All"] {
        s.grant_web(permission);
    }
    let token = s.web_app_token().await;
    let id = user_id(&s, &token).await;
    let (status, _) = call(&s, &token, "POST", &format!("{RISKY}/confirmCompromised"), Some(json!({ "userIds": [id] }))).await;
    assert_eq!(status, 204);
    let user = format!("/v1.0/users/{id}");
    assert_eq!(call(&s, &token, "PATCH", &user, Some(json!({ "jobTitle": "Analyst" }))).await.0, 204);
    let (_, r) = call(&s, &token, "GET", &format!("{RISKY}/{id}"), None).await;
    assert_eq!(r["riskState"], "confirmedCompromised", "{r}");
    let reset = json!({ "passwordProfile": { "password": "Temporary-Lantern-71", "forceChangePasswordNextSignIn": true } });
    assert_eq!(call(&s, &token, "PATCH", &user, Some(reset)).await.0, 204);
    let (_, r) = call(&s, &token, "GET", &format!("{RISKY}/{id}"), None).await;
    assert_eq!(
        (r["riskLevel"].as_str(), r["riskState"].as_str(), r["riskDetail"].as_str()),
        (Some("none"), Some("remediated"), Some("adminGeneratedTemporaryPassword")),
        "{r}"
    );
}

/// An administrator confirms a user compromised with a delegated token: recorded as
/// `adminConfirmedUserCompromised`, initiated by them. Without a role that may, refused.
#[tokio::test]
async fn an_administrator_confirms_a_compromise_on_their_own_behalf() {
    let s = setup();
    let d = s._dir.path().to_path_buf();
    let ola_id = create_ola(&s);
    ok(ward(&d).args(["app", "consent", &s.native, "--scope", "openid IdentityRiskyUser.ReadWrite.All", "--data-dir", "data"]));
    let confirm = json!({ "userIds": [ola_id] });
    let megan = delegated_token(&s).await;
    let (status, e) = call(&s, &megan, "POST", &format!("{RISKY}/confirmCompromised"), Some(confirm.clone())).await;
    assert_eq!(status, 403, "the permission without a role that may: {e}");
    ok(ward(&d).args(["role", "assign", "Security Administrator", &s.upn, "--data-dir", "data"]));
    let megan = delegated_token(&s).await;
    let (status, e) = call(&s, &megan, "POST", &format!("{RISKY}/confirmCompromised"), Some(confirm)).await;
    assert_eq!(status, 204, "{e}");
    let (_, detections) = call(&s, &megan, "GET", DETECTIONS, None).await;
    assert_eq!(detections["error"]["code"], "Authorization_RequestDenied", "detections need IdentityRiskEvent.Read.All: {detections}");
    let (_, h) = call(&s, &megan, "GET", &format!("{RISKY}/{ola_id}/history"), None).await;
    let megan_id = cli(&d, &["user", "show", &s.upn, "--json"])["id"].clone();
    assert_eq!(h["value"][0]["initiatedBy"], megan_id, "{h}");
    assert_eq!(h["value"][0]["riskDetail"], "adminConfirmedUserCompromised", "{h}");
    s.grant_web("IdentityRiskEvent.Read.All");
    let app = s.web_app_token().await;
    let (_, detections) = call(&s, &app, "GET", DETECTIONS, None).await;
    assert_eq!(detections["value"][0]["riskEventType"], "adminConfirmedUserCompromised", "{detections}");
}

/// Megan's delegated token for the native app, with IdentityRiskyUser.ReadWrite.All.
async fn delegated_token(s: &Setup) -> String {
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid https://graph.microsoft.com/IdentityRiskyUser.ReadWrite.All", true);
    let code = s.sign_in(&mut Browser::new(), &authorize, NATIVE_REDIRECT).await;
    let (status, t) = s.redeem_native(&code).await;
    assert_eq!(status, 200, "{t}");
    t["access_token"].as_str().unwrap().to_string()
}

/// A password spray through the sign-in page, from one network behind a trusted proxy: four
/// accounts fail with one password, the fifth, whose password it is, gets in, and that sign-in
/// carries `passwordSpray` (high) to the log, the detections and a policy blocking high risk.
#[tokio::test]
async fn a_password_spray_through_the_sign_in_page_is_caught() {
    let mut s = setup();
    let d = s._dir.path().to_path_buf();
    restart_with(&mut s, "trusted_proxies = [\"127.0.0.1/32\"]\n");
    let sprayed = "Spring-2026-Welcome!";
    std::fs::write(d.join("pw-sprayed"), format!("{sprayed}\n")).unwrap();
    for name in ["ana", "ben", "cai", "dev"] {
        cli(
            &d,
            &[
                "user",
                "create",
                "--json",
                "--upn",
                &format!("{name}@defaultdirectory.ward.local"),
                "--display-name",
                name,
                "--password-file",
                "pw",
            ],
        );
    }
    let found = cli(
        &d,
        &["user", "create", "--json", "--upn", "eli@defaultdirectory.ward.local", "--display-name", "Eli", "--password-file", "pw-sprayed"],
    );
    for permission in ["IdentityRiskEvent.Read.All", "AuditLog.Read.All", "Policy.ReadWrite.ConditionalAccess"] {
        s.grant_web(permission);
    }
    let token = s.web_app_token().await;
    let policy = json!({"displayName": "Block high sign-in risk", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}, "signInRiskLevels": ["high"]},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}});
    assert_eq!(call(&s, &token, "POST", "/v1.0/identity/conditionalAccess/policies", Some(policy)).await.0, 201);
    let web = s.authorize_url(&s.web, WEB_REDIRECT, "openid", false);
    for (i, name) in ["ana", "ben", "cai", "dev"].iter().enumerate() {
        let mut b = Browser::from_address(&format!("203.0.113.{}", 10 + i));
        let page = b.get(&web).await;
        let wrong =
            b.submit(&s.base(), &page, &[("username", &format!("{name}@defaultdirectory.ward.local")), ("password", sprayed)]).await;
        assert_eq!(wrong.status, 401);
    }
    let mut b = Browser::from_address("203.0.113.99");
    let page = b.get(&web).await;
    let page = b.submit(&s.base(), &page, &[("username", "eli@defaultdirectory.ward.local"), ("password", sprayed)]).await;
    let page = b.get(&format!("{}{}", s.base(), page.location.clone().unwrap())).await;
    assert!(page.status == 403 && page.body.contains("AADSTS53003"), "{} {}", page.status, page.body);
    let eli = found["id"].as_str().unwrap();
    let record = last_sign_in(&s, &token, eli).await;
    assert_eq!(
        (record["riskLevelDuringSignIn"].as_str(), record["riskEventTypes_v2"].clone()),
        (Some("high"), json!(["passwordSpray"])),
        "{record}"
    );
    let (_, detections) = call(&s, &token, "GET", DETECTIONS, None).await;
    let users: Vec<&str> = detections["value"].as_array().unwrap().iter().map(|d| d["userId"].as_str().unwrap()).collect();
    assert_eq!(users, [eli], "only the account the spray found: {detections}");
}

/// Someone at risk adds no sign-in method from a session that proved only a password: whoever
/// stole the password could otherwise add their own second factor and remediate with it. A
/// Temporary Access Pass from an administrator opens the way.
#[tokio::test]
async fn a_person_at_risk_adds_no_method_without_mfa() {
    let s = setup();
    for permission in ["User.Read.All", "IdentityRiskyUser.ReadWrite.All", "UserAuthenticationMethod.ReadWrite.All"] {
        s.grant_web(permission);
    }
    let token = s.web_app_token().await;
    let id = user_id(&s, &token).await;
    let (status, _) = call(&s, &token, "POST", &format!("{RISKY}/confirmCompromised"), Some(json!({ "userIds": [id] }))).await;
    assert_eq!(status, 204);
    let portal = format!("{}/{}/mysecurityinfo", s.base(), s.tid);
    let mut b = Browser::new();
    let page = b.get(&portal).await;
    let signed = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let refused = b.get(&format!("{portal}/authenticator")).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("AADSTS53004") && refused.body.contains("Temporary Access Pass"), "{}", refused.body);

    let (status, tap) = call(
        &s,
        &token,
        "POST",
        &format!("/v1.0/users/{id}/authentication/temporaryAccessPassMethods"),
        Some(json!({"lifetimeInMinutes": 60})),
    )
    .await;
    assert_eq!(status, 201, "{tap}");
    let mut b = Browser::new();
    let page = b.get(&portal).await;
    let signed = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", tap["temporaryAccessPass"].as_str().unwrap())]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let add = b.get(&format!("{portal}/authenticator")).await;
    assert_eq!(add.status, 200, "the pass's session (MFA) may: {}", add.body);
}

/// An administrator reviews risky sign-ins in the log: one confirmed safe clears what it added
/// (the user `confirmedSafe`); one confirmed compromised makes the user high risk and ends what
/// they hold. Unknown and malformed ids and sign-ins of no user are refused, and so is a caller
/// without the permission.
#[tokio::test]
async fn logged_sign_ins_are_confirmed_safe_or_compromised() {
    let mut s = setup();
    restart_with(&mut s, LEARNING_FAST);
    for permission in ["User.Read.All", "IdentityRiskyUser.Read.All", "IdentityRiskEvent.Read.All", "AuditLog.Read.All"] {
        s.grant_web(permission);
    }
    let reader = s.web_app_token().await;
    let id = user_id(&s, &reader).await;
    let web = s.authorize_url(&s.web, WEB_REDIRECT, "openid offline_access", false);
    for _ in 0..2 {
        s.sign_in(&mut Browser::from_address("8.8.8.8"), &web, WEB_REDIRECT).await;
        assert_eq!(last_sign_in(&s, &reader, &id).await["riskLevelDuringSignIn"], "none");
    }
    s.sign_in(&mut Browser::from_address("1.0.16.1"), &web, WEB_REDIRECT).await;
    let first = last_sign_in(&s, &reader, &id).await;
    assert_eq!(first["riskLevelDuringSignIn"], "high", "{first}");
    let (_, risky) = call(&s, &reader, "GET", &format!("{RISKY}/{id}"), None).await;
    assert_eq!(risky["riskState"], "atRisk", "{risky}");

    // Without the permission: refused.
    let safe = json!({ "requestIds": [first["id"]] });
    let (status, e) = call(&s, &reader, "POST", "/v1.0/auditLogs/signIns/confirmSafe", Some(safe.clone())).await;
    assert_eq!(status, 403, "{e}");
    s.grant_web("IdentityRiskEvent.ReadWrite.All");
    let admin = s.web_app_token().await;
    // A sign-in of nobody: a name that is no user's.
    let mut stranger = Browser::new();
    let page = stranger.get(&web).await;
    let wrong = stranger.submit(&s.base(), &page, &[("username", "nobody@defaultdirectory.ward.local"), ("password", "guess-1")]).await;
    assert_eq!(wrong.status, 401);
    let (_, log) = call(&s, &admin, "GET", "/v1.0/auditLogs/signIns?$top=100", None).await;
    let nobody = log["value"].as_array().unwrap().iter().find(|r| r["userId"] == "").expect("nobody's sign-in")["id"].clone();
    let many: Vec<Value> = (0..61).map(|_| first["id"].clone()).collect();
    for (body, expected) in [
        (json!({}), 400),
        (json!({ "requestIds": [] }), 400),
        (json!({ "requestIds": ["not-a-guid"] }), 400),
        (json!({ "requestIds": many }), 400),
        (json!({ "requestIds": [nobody] }), 400),
        (json!({ "requestIds": [first["id"], "00000000-0000-0000-0000-0000000000aa"] }), 404),
    ] {
        let (status, e) = call(&s, &admin, "POST", "/v1.0/auditLogs/signIns/confirmSafe", Some(body.clone())).await;
        assert_eq!(status, expected, "{body}: {e}");
    }
    let (_, unchanged) = call(&s, &reader, "GET", &format!("{RISKY}/{id}"), None).await;
    assert_eq!(unchanged["riskState"], "atRisk", "a refused request changes nothing: {unchanged}");

    // Safe: what that sign-in added is gone.
    assert_eq!(call(&s, &admin, "POST", "/v1.0/auditLogs/signIns/confirmSafe", Some(safe)).await.0, 204);
    let (_, r) = call(&s, &reader, "GET", &format!("{RISKY}/{id}"), None).await;
    assert_eq!(
        (r["riskLevel"].as_str(), r["riskState"].as_str(), r["riskDetail"].as_str()),
        (Some("none"), Some("confirmedSafe"), Some("adminConfirmedSigninSafe")),
        "{r}"
    );
    let (_, detections) = call(&s, &reader, "GET", DETECTIONS, None).await;
    assert!(detections["value"].as_array().unwrap().iter().all(|d| d["riskState"] == "confirmedSafe"), "{detections}");

    // Another sign-in from Japan holds a refresh token; confirmed compromised, it stops working.
    let mut b = Browser::from_address("1.0.16.2");
    let code = s.sign_in(&mut b, &web, WEB_REDIRECT).await;
    let exchange = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WEB_REDIRECT)];
    let (_, t) = s.token(&exchange, Some((&s.web, &s.web_secret))).await;
    let refresh = t["refresh_token"].as_str().unwrap().to_string();
    let second = last_sign_in(&s, &reader, &id).await;
    assert_ne!(second["id"], first["id"]);
    let introspect = |token: String| {
        let s = &s;
        async move {
            let r = http().post(s.url("/oauth2/v2.0/introspect")).basic_auth(&s.web, Some(&s.web_secret)).form(&[("token", token)]);
            r.send().await.unwrap().json::<Value>().await.unwrap()["active"].clone()
        }
    };
    assert_eq!(introspect(refresh.clone()).await, true);
    let compromised = json!({ "requestIds": [second["id"]] });
    assert_eq!(call(&s, &admin, "POST", "/v1.0/auditLogs/signIns/confirmCompromised", Some(compromised)).await.0, 204);
    assert_eq!(introspect(refresh.clone()).await, false, "introspection says so too");
    let (_, r) = call(&s, &reader, "GET", &format!("{RISKY}/{id}"), None).await;
    assert_eq!(
        (r["riskLevel"].as_str(), r["riskState"].as_str(), r["riskDetail"].as_str()),
        (Some("high"), Some("confirmedCompromised"), Some("adminConfirmedSigninCompromised")),
        "{r}"
    );
    let (status, e) = s.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)], Some((&s.web, &s.web_secret))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    let (_, h) = call(&s, &reader, "GET", &format!("{RISKY}/{id}/history"), None).await;
    let states: Vec<&str> = h["value"].as_array().unwrap().iter().map(|i| i["riskState"].as_str().unwrap()).collect();
    assert_eq!(states.last(), Some(&"confirmedCompromised"), "{h}");
    assert!(states.contains(&"confirmedSafe"), "{h}");
}

/// Behind a trusted proxy on this host, learning from two sign-ins.
const LEARNING_FAST: &str = "trusted_proxies = [\"127.0.0.1/32\"]\nrisk_learning_days = 0\nrisk_learning_sign_ins = 2\n";

/// Restarts the server with `toml` as its `ward.toml`.
fn restart_with(s: &mut Setup, toml: &str) {
    let d = s._dir.path().to_path_buf();
    std::fs::write(d.join("ward.toml"), toml).unwrap();
    assert!(s.server.terminate().success());
    s.server = Server::start(&d, &["--data-dir", "data"]);
}

/// An administrator's own account is no way around the rules for people at risk: no Temporary
/// Access Pass or password reset for oneself, and removing one's own second factor needs it, on
/// the administrators' routes as on `/me`. For someone else, the same calls work.
#[tokio::test]
async fn administrators_get_no_passes_or_resets_for_themselves() {
    let s = setup();
    let d = s._dir.path().to_path_buf();
    let ola = create_ola(&s);
    s.enroll_authenticator(&mut Browser::new()).await;
    ok(ward(&d).args([
        "app",
        "consent",
        &s.native,
        "--scope",
        "openid UserAuthenticationMethod.ReadWrite.All User.ReadWrite.All",
        "--data-dir",
        "data",
    ]));
    for role in ["Authentication Administrator", "User Administrator"] {
        ok(ward(&d).args(["role", "assign", role, &s.upn, "--data-dir", "data"]));
    }
    // Megan with her password only (security defaults off: no code asked).
    ok(ward(&d).args(["tenant", "set", "--security-defaults", "false", "--data-dir", "data"]));
    let scope = "openid https://graph.microsoft.com/UserAuthenticationMethod.ReadWrite.All https://graph.microsoft.com/User.ReadWrite.All";
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, scope, true);
    let code = s.sign_in(&mut Browser::new(), &authorize, NATIVE_REDIRECT).await;
    let (status, t) = s.redeem_native(&code).await;
    assert_eq!(status, 200, "{t}");
    let megan = t["access_token"].as_str().unwrap().to_string();
    let me = cli(&d, &["user", "show", &s.upn, "--json"])["id"].as_str().unwrap().to_string();
    let tap = json!({"lifetimeInMinutes": 60});
    let path = |who: &str, rest: &str| format!("/v1.0/users/{who}/authentication/{rest}");
    let (status, e) = call(&s, &megan, "POST", &path(&me, "temporaryAccessPassMethods"), Some(tap.clone())).await;
    assert_eq!(status, 403, "no pass for oneself: {e}");
    let (status, e) =
        call(&s, &megan, "POST", &path(&me, "methods/28c10230-6103-485e-b985-444c60001490/resetPassword"), Some(json!({}))).await;
    assert_eq!(status, 403, "no reset of one's own password: {e}");
    let (status, e) =
        call(&s, &megan, "PATCH", &format!("/v1.0/users/{me}"), Some(json!({"passwordProfile": {"password": "Brand-New-Lantern-55"}})))
            .await;
    assert_eq!(status, 403, "nor through the user's passwordProfile: {e}");
    let (_, apps) = call(&s, &megan, "GET", &path(&me, "softwareOathMethods"), None).await;
    let app_id = apps["value"][0]["id"].as_str().unwrap().to_string();
    let (status, e) = call(&s, &megan, "DELETE", &path(&me, &format!("softwareOathMethods/{app_id}")), None).await;
    assert_eq!(status, 403, "her authenticator stays: the token proved only her password: {e}");
    // For Ola, an administrator may.
    let (status, e) = call(&s, &megan, "POST", &path(&ola, "temporaryAccessPassMethods"), Some(tap)).await;
    assert_eq!(status, 201, "{e}");
    let (status, e) =
        call(&s, &megan, "POST", &path(&ola, "methods/28c10230-6103-485e-b985-444c60001490/resetPassword"), Some(json!({}))).await;
    assert_eq!(status, 202, "{e}");
}

/// A second person, Ola, with a password only (`OLA_PASSWORD`); her id.
fn create_ola(s: &Setup) -> String {
    std::fs::write(s._dir.path().join("pw-ola"), format!("{OLA_PASSWORD}\n")).unwrap();
    let args =
        ["user", "create", "--json", "--upn", "ola@defaultdirectory.ward.local", "--display-name", "Ola", "--password-file", "pw-ola"];
    cli(s._dir.path(), &args)["id"].as_str().unwrap().to_string()
}

const OLA_PASSWORD: &str = "Ola-Harbour-Lantern-8";
