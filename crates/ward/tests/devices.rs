//! Devices end to end: a management app registers a device with its key and sets its compliance
//! (no other app may); a policy requiring a compliant device lets the browser in only with a
//! valid proof from that device; forged, expired, misaddressed proofs and disabled devices are an
//! unregistered device.

mod common;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::signin::*;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

/// An app of its own with one application permission of Ward's API, and its token.
async fn app_with(s: &Setup, name: &str, permission: &str) -> String {
    let d = s._dir.path();
    let app = json(&ok(ward(d).args(["app", "create", "--json", "--name", name, "--data-dir", "data"])));
    let id = app["appId"].as_str().unwrap().to_string();
    let secret =
        json(&ok(ward(d).args(["app", "add-secret", &id, "--json", "--data-dir", "data"])))["secretText"].as_str().unwrap().to_string();
    ok(ward(d).args(["app", "grant", &id, permission, "--data-dir", "data"]));
    let form = [("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")];
    let (status, t) = s.token(&form, Some((&id, &secret))).await;
    assert_eq!(status, 200, "{t}");
    t["access_token"].as_str().unwrap().to_string()
}

struct DeviceKey {
    signer: EncodingKey,
    jwk: Value,
}

fn device_key() -> DeviceKey {
    let key = rcgen::KeyPair::generate().unwrap(); // ECDSA P-256
    let point = key.public_key_raw();
    assert_eq!((point.len(), point[0]), (65, 4));
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])});
    DeviceKey { signer: EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(), jwk }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A device's proof: `iss` = `sub` = its deviceId, `aud` = `{public url}/{tenant}`.
fn proof(key: &DeviceKey, device_id: &str, audience: &str, lifetime: i64, issued: i64) -> String {
    let claims = json!({"iss": device_id, "sub": device_id, "aud": audience, "iat": issued, "exp": issued + lifetime});
    encode(&Header::new(Algorithm::ES256), &claims, &key.signer).unwrap()
}

#[tokio::test]
async fn a_compliant_registered_device_proves_itself_and_only_its_manager_sets_compliance() {
    let s = setup();
    s.grant_web("Policy.ReadWrite.ConditionalAccess");
    let admin = s.web_app_token().await;
    let mdm = app_with(&s, "Device Manager", "Device.ReadWrite.All").await;
    let other_mdm = app_with(&s, "Another Manager", "Device.ReadWrite.All").await;
    let reader = app_with(&s, "Inventory", "Device.Read.All").await;
    let discovery = s.get_json(&format!("/{}/v2.0/.well-known/openid-configuration", s.tid), "").await;
    let audience = discovery["issuer"].as_str().unwrap().trim_end_matches("/v2.0").to_string();

    // Registered by the management app, with the device's public key.
    let key = device_key();
    let device_id = "6f1e1c0a-2b3c-4d5e-8f90-a1b2c3d4e5f6";
    let register = json!({"deviceId": device_id, "displayName": "MEGAN-LAPTOP", "operatingSystem": "Windows", "operatingSystemVersion": "10.0.22631",
        "trustType": "AzureAd", "extensionAttributes": {"extensionAttribute1": "SAW"},
        "alternativeSecurityIds": [{"type": 2, "key": STANDARD.encode(key.jwk.to_string())}]});
    let (status, device) = call(&s, &mdm, "POST", "/v1.0/devices", Some(register.clone())).await;
    assert_eq!(status, 201, "{device}");
    let id = device["id"].as_str().unwrap().to_string();
    assert_eq!(device["alternativeSecurityIds"][0]["key"], Value::Null, "the key is not shown back");
    assert_eq!(device["isCompliant"], Value::Null);
    assert_eq!(call(&s, &mdm, "POST", "/v1.0/devices", Some(register.clone())).await.0, 400, "one registration per deviceId");
    let (status, listed) = call(&s, &reader, "GET", "/v1.0/devices", None).await;
    assert_eq!((status, listed["value"][0]["displayName"].as_str()), (200, Some("MEGAN-LAPTOP")));
    let mut second = register.clone();
    second["deviceId"] = json!("8f1e1c0a-2b3c-4d5e-8f90-a1b2c3d4e5f6");
    assert_eq!(call(&s, &mdm, "POST", "/v1.0/devices", Some(second)).await.0, 201);
    let (_, first) = call(&s, &reader, "GET", "/v1.0/devices?$top=1", None).await;
    let next = first["@odata.nextLink"].as_str().unwrap();
    let (_, rest) = call(&s, &reader, "GET", &next[next.find("/v1.0").unwrap()..], None).await;
    assert_eq!((first["value"].as_array().unwrap().len(), rest["value"].as_array().unwrap().len()), (1, 1));
    assert_ne!(first["value"][0]["id"], rest["value"][0]["id"]);
    assert!(rest.get("@odata.nextLink").is_none());
    assert_eq!(call(&s, &reader, "GET", "/v1.0/devices?$top=0", None).await.0, 400);
    assert_eq!(call(&s, &reader, "PATCH", &format!("/v1.0/devices/{id}"), Some(json!({"displayName": "x"}))).await.0, 403);
    let mut private = register.clone();
    private["deviceId"] = json!("7f1e1c0a-2b3c-4d5e-8f90-a1b2c3d4e5f6");
    let mut with_d = key.jwk.clone();
    with_d["d"] = json!("AAAA");
    private["alternativeSecurityIds"][0]["key"] = json!(STANDARD.encode(with_d.to_string()));
    assert_eq!(call(&s, &mdm, "POST", "/v1.0/devices", Some(private)).await.0, 400, "a private key is refused");
    assert_eq!(call(&s, &mdm, "PATCH", &format!("/v1.0/devices/{id}"), Some(json!({"trustType": "Moon"}))).await.0, 400);

    let policy = json!({"displayName": "Portal only from compliant devices", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": [s.web]}},
        "grantControls": {"operator": "OR", "builtInControls": ["compliantDevice"]}});
    assert_eq!(call(&s, &admin, "POST", "/v1.0/identity/conditionalAccess/policies", Some(policy)).await.0, 201);

    let web = s.authorize_url(&s.web, WEB_REDIRECT, "openid", false);
    let mut b = Browser::new();
    let page = b.get(&web).await;
    let page = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!(page.status, 303);
    let denied = b.get(&web).await;
    assert_eq!(denied.status, 403, "no device proof: {}", denied.body);
    assert!(denied.body.contains("AADSTS53000"), "{}", denied.body);
    b.cookies.insert("ward_device".into(), proof(&key, device_id, &audience, 300, now()));
    assert_eq!(b.get(&web).await.status, 403, "registered, but not compliant yet");

    // Compliance: the managing app, not another one; a delegated or read-only caller neither.
    let (status, e) = call(&s, &other_mdm, "PATCH", &format!("/v1.0/devices/{id}"), Some(json!({"isCompliant": true}))).await;
    assert_eq!((status, e["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")), "the registering app manages it: {e}");
    assert_eq!(call(&s, &mdm, "PATCH", &format!("/v1.0/devices/{id}"), Some(json!({"isCompliant": true, "isManaged": true}))).await.0, 204);
    let (status, _) = call(&s, &other_mdm, "PATCH", &format!("/v1.0/devices/{id}"), Some(json!({"isCompliant": false}))).await;
    assert_eq!(status, 403, "another management app cannot change it");
    for (method, body) in [("PATCH", Some(json!({"extensionAttributes": {"extensionAttribute1": "x"}}))), ("DELETE", None)] {
        assert_eq!(call(&s, &other_mdm, method, &format!("/v1.0/devices/{id}"), body).await.0, 403, "{method} by another app");
    }
    assert_eq!(
        call(&s, &mdm, "PATCH", &format!("/v1.0/devices/{id}"), Some(json!({"trustType": "ServerAd"}))).await.0,
        400,
        "trust type is fixed"
    );
    let (_, read) = call(&s, &reader, "GET", &format!("/v1.0/devices/{id}"), None).await;
    assert_eq!((read["isCompliant"].clone(), read["mdmAppId"].is_string()), (json!(true), true));

    let code = s.sign_in(&mut b, &web, WEB_REDIRECT).await;
    assert!(!code.is_empty());
    // What-if with the registered device: its compliance as the registry has it.
    let what_if = |extra: &[&str]| {
        let mut args = vec!["policy", "what-if", "--user", s.upn.as_str(), "--app", s.web.as_str(), "--data-dir", "data"];
        args.extend_from_slice(extra);
        ok(ward(s._dir.path()).args(args))
    };
    assert!(what_if(&["--device", device_id]).trim_end().ends_with("outcome: allow"));
    assert!(what_if(&[]).contains("outcome: denied: requires compliantDevice"), "{}", what_if(&[]));

    // Proofs that do not count: another key, expired, too long, for another tenant.
    let stranger = device_key();
    for (what, token) in [
        ("another key", proof(&stranger, device_id, &audience, 300, now())),
        ("expired", proof(&key, device_id, &audience, 300, now() - 600)),
        ("too long", proof(&key, device_id, &audience, 3600, now())),
        (
            "another tenant",
            proof(&key, device_id, &format!("{}/00000000-0000-0000-0000-000000000001", audience.rsplit_once('/').unwrap().0), 300, now()),
        ),
        ("not a token", "garbage".to_string()),
        ("a lifetime that overflows", {
            let claims = json!({"iss": device_id, "sub": device_id, "aud": audience, "iat": -1, "exp": i64::MAX});
            encode(&Header::new(Algorithm::ES256), &claims, &key.signer).unwrap()
        }),
    ] {
        b.cookies.insert("ward_device".into(), token);
        assert_eq!(b.get(&web).await.status, 403, "{what}");
    }
    // A disabled device proves nothing either.
    b.cookies.insert("ward_device".into(), proof(&key, device_id, &audience, 300, now()));
    assert_ne!(b.get(&web).await.status, 403);
    assert_eq!(call(&s, &mdm, "PATCH", &format!("/v1.0/devices/{id}"), Some(json!({"accountEnabled": false}))).await.0, 204);
    assert_eq!(b.get(&web).await.status, 403, "disabled device");

    // The sign-in log names the device.
    s.grant_web("AuditLog.Read.All");
    let log = s.get_json("/v1.0/auditLogs/signIns?$filter=status/errorCode%20eq%200", &s.web_app_token().await).await;
    let with_device =
        log["value"].as_array().unwrap().iter().find(|r| r["deviceDetail"]["deviceId"] == device_id).unwrap_or_else(|| panic!("{log}"));
    assert_eq!(
        (with_device["deviceDetail"]["isCompliant"].clone(), with_device["deviceDetail"]["trustType"].clone()),
        (json!(true), json!("AzureAd"))
    );
}

/// Identity Protection knows a user's devices by the proofs they sign in with: once learnt, a
/// sign-in from another registered device is an unfamiliar property (`UnfamiliarDevice`), and one
/// from the usual device is not.
#[tokio::test]
async fn a_sign_in_from_an_unfamiliar_device_is_detected() {
    let mut s = setup();
    let d = s._dir.path().to_path_buf();
    std::fs::write(d.join("ward.toml"), "risk_learning_days = 0\nrisk_learning_sign_ins = 2\n").unwrap();
    assert!(s.server.terminate().success());
    s.server = Server::start(&d, &["--data-dir", "data"]);
    for permission in ["AuditLog.Read.All", "IdentityRiskEvent.Read.All"] {
        s.grant_web(permission);
    }
    let reader = s.web_app_token().await;
    let mdm = app_with(&s, "Device Manager", "Device.ReadWrite.All").await;
    let discovery = s.get_json(&format!("/{}/v2.0/.well-known/openid-configuration", s.tid), "").await;
    let audience = discovery["issuer"].as_str().unwrap().trim_end_matches("/v2.0").to_string();
    let mut devices = Vec::new();
    for (device_id, name) in [("1a1e1c0a-2b3c-4d5e-8f90-a1b2c3d4e5f6", "MEGAN-LAPTOP"), ("2b1e1c0a-2b3c-4d5e-8f90-a1b2c3d4e5f6", "KIOSK-7")]
    {
        let key = device_key();
        let register = json!({"deviceId": device_id, "displayName": name, "operatingSystem": "Windows", "trustType": "AzureAd",
            "alternativeSecurityIds": [{"type": 2, "key": STANDARD.encode(key.jwk.to_string())}]});
        assert_eq!(call(&s, &mdm, "POST", "/v1.0/devices", Some(register)).await.0, 201);
        devices.push((device_id, key));
    }
    let web = s.authorize_url(&s.web, WEB_REDIRECT, "openid", false);
    // Signs in through the web app with a device's proof, and returns the sign-in log's record
    // (reading the log also waits for what the sign-in taught the profile).
    let sign_in_with = |device: usize| {
        let mut b = Browser::new();
        let (device_id, key) = &devices[device];
        b.cookies.insert("ward_device".into(), proof(key, device_id, &audience, 300, now()));
        let (s, web, reader) = (&s, &web, &reader);
        async move {
            s.sign_in(&mut b, web, WEB_REDIRECT).await;
            let filter = format!("/v1.0/auditLogs/signIns?$top=1&$filter=appId eq '{}'", s.web);
            let (status, log) = call(s, reader, "GET", &filter, None).await;
            assert_eq!(status, 200, "{log}");
            log["value"][0].clone()
        }
    };
    for _ in 0..2 {
        assert_eq!(sign_in_with(0).await["riskLevelDuringSignIn"], "none");
    }
    let kiosk = sign_in_with(1).await;
    assert_eq!(
        (kiosk["riskLevelDuringSignIn"].as_str(), kiosk["riskEventTypes_v2"].clone()),
        (Some("low"), json!(["unfamiliarFeatures"])),
        "{kiosk}"
    );
    let (_, found) = call(&s, &reader, "GET", "/v1.0/identityProtection/riskDetections", None).await;
    let info = found["value"][0]["additionalInfo"].as_str().unwrap_or_default().to_string();
    assert!(info.contains("UnfamiliarDevice") && !info.contains("UnfamiliarLocation"), "{found}");
    assert_eq!(sign_in_with(0).await["riskLevelDuringSignIn"], "none", "the usual device");
}
