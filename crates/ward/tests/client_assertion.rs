//! private_key_jwt (RFC 7523) end to end: an application registers a certificate or a public JWK
//! with `ward app add-key`, then authenticates at the token endpoint with assertions signed by
//! jsonwebtoken. Replays, wrong audiences, expired or over-long assertions, other keys and
//! unsigned tokens are refused.

mod common;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

struct Setup {
    dir: tempfile::TempDir,
    server: Server,
    tid: String,
    app: String,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let init = init(dir.path(), &[]);
    let app = json(&ok(ward(dir.path()).args(["app", "create", "--json", "--name", "Daemon", "--data-dir", "data"])));
    let app = app["appId"].as_str().unwrap().to_string();
    ok(ward(dir.path()).args(["app", "grant", &app, "User.Read.All", "--data-dir", "data"]));
    let server = Server::start(dir.path(), &["--data-dir", "data"]);
    Setup { tid: init["tenant_id"].as_str().unwrap().to_string(), dir, server, app }
}

impl Setup {
    fn token_url(&self) -> String {
        self.server.url(&format!("/{}/oauth2/v2.0/token", self.tid))
    }
    /// The audience a client uses: the token endpoint at the server's public URL.
    fn audience(&self) -> String {
        format!("http://localhost:{}/{}/oauth2/v2.0/token", self.server.addr.port(), self.tid)
    }
    fn add_key(&self, name: &str, contents: &[u8]) -> Value {
        std::fs::write(self.dir.path().join(name), contents).unwrap();
        json(&ok(ward(self.dir.path()).args(["app", "add-key", &self.app, "--file", name, "--json", "--data-dir", "data"])))
    }
    fn claims(&self, aud: &str, lifetime: i64) -> Value {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        json!({ "iss": self.app, "sub": self.app, "aud": aud, "iat": now, "nbf": now, "exp": now + lifetime, "jti": uuid::Uuid::new_v4() })
    }
    async fn token(&self, assertion: &str) -> (u16, Value) {
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion),
        ];
        let r = http().post(self.token_url()).form(&form).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

fn aadsts(v: &Value) -> &str {
    v["error_description"].as_str().unwrap().split(':').next().unwrap()
}

#[tokio::test]
async fn a_registered_certificate_authenticates_its_client_once_per_assertion() {
    let s = setup();
    let key = rcgen::KeyPair::generate().unwrap(); // ECDSA P-256
    let cert = rcgen::CertificateParams::new(vec!["daemon.example".into()]).unwrap().self_signed(&key).unwrap();
    let registered = s.add_key("daemon.pem", cert.pem().as_bytes());
    assert_eq!(registered["type"], "AsymmetricX509Cert");
    let signer = EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
    let sign = |claims: &Value, header: Header| encode(&header, claims, &signer).unwrap();

    // With the certificate's thumbprint in x5t, as Microsoft's libraries send it.
    let mut header = Header::new(Algorithm::ES256);
    header.x5t = Some({
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.der()).as_ref())
    });
    let assertion = sign(&s.claims(&s.audience(), 600), header);
    let (status, t) = s.token(&assertion).await;
    assert_eq!(status, 200, "{t}");
    let claims = decode_claims(t["access_token"].as_str().unwrap());
    assert_eq!((claims["azpacr"].as_str(), claims["roles"][0].as_str()), (Some("2"), Some("User.Read.All")));
    // The same assertion again: a replay.
    let (status, e) = s.token(&assertion).await;
    assert_eq!((status, e["error"].as_str(), aadsts(&e)), (401, Some("invalid_client"), "AADSTS700025"));
    // No key hint: every live key is tried.
    let (status, _) = s.token(&sign(&s.claims(&s.audience(), 600), Header::new(Algorithm::ES256))).await;
    assert_eq!(status, 200);
    // Another audience, too long a life, already expired.
    let (_, e) = s.token(&sign(&s.claims("https://elsewhere.example/token", 600), Header::new(Algorithm::ES256))).await;
    assert_eq!(aadsts(&e), "AADSTS700021");
    let (_, e) = s.token(&sign(&s.claims(&s.audience(), 7200), Header::new(Algorithm::ES256))).await;
    assert_eq!(aadsts(&e), "AADSTS700024");
    let (_, e) = s.token(&sign(&s.claims(&s.audience(), -600), Header::new(Algorithm::ES256))).await;
    assert_eq!(aadsts(&e), "AADSTS700024");
    // Signed by a key that was never registered.
    let stranger = rcgen::KeyPair::generate().unwrap();
    let forged = encode(
        &Header::new(Algorithm::ES256),
        &s.claims(&s.audience(), 600),
        &EncodingKey::from_ec_pem(stranger.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let (status, e) = s.token(&forged).await;
    assert_eq!((status, aadsts(&e)), (401, "AADSTS700027"));
    // Unsigned (`alg: none`), and a tampered payload.
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!("{}.{}.", b64(&json!({ "alg": "none", "typ": "JWT" })), b64(&s.claims(&s.audience(), 600)));
    assert_eq!(aadsts(&s.token(&none).await.1), "AADSTS700027");
    let good = sign(&s.claims(&s.audience(), 600), Header::new(Algorithm::ES256));
    let parts: Vec<&str> = good.split('.').collect();
    let mut other = s.claims(&s.audience(), 600);
    other["jti"] = json!("chosen");
    let tampered = format!("{}.{}.{}", parts[0], b64(&other), parts[2]);
    assert_eq!(aadsts(&s.token(&tampered).await.1), "AADSTS700027");
    // Another client's id in iss/sub does not borrow this client's key.
    let mut claims = s.claims(&s.audience(), 600);
    claims["iss"] = json!(uuid::Uuid::new_v4());
    let (status, _) = s.token(&sign(&claims, Header::new(Algorithm::ES256))).await;
    assert_eq!(status, 401);
    // Secret and assertion together: refused.
    let r = http()
        .post(s.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
            ("client_secret", "x"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", &sign(&s.claims(&s.audience(), 600), Header::new(Algorithm::ES256))),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn a_registered_jwk_authenticates_and_private_or_weak_keys_are_refused() {
    let s = setup();
    let key = rcgen::KeyPair::generate().unwrap();
    let point = key.public_key_raw(); // 04 || x || y
    use base64::Engine;
    let b = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let jwk = json!({ "kty": "EC", "crv": "P-256", "x": b(&point[1..33]), "y": b(&point[33..65]), "kid": "daemon-1" });
    assert_eq!(s.add_key("daemon.jwk", jwk.to_string().as_bytes())["type"], "Jwk");
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("daemon-1".into());
    let signer = EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap();
    let (status, t) = s.token(&encode(&header, &s.claims(&s.audience(), 300), &signer).unwrap()).await;
    assert_eq!(status, 200, "{t}");
    // A kid that names no registered key is not tried against the others.
    header.kid = Some("someone-else".into());
    let (status, _) = s.token(&encode(&header, &s.claims(&s.audience(), 300), &signer).unwrap()).await;
    assert_eq!(status, 401);
    // Registration refuses private keys, weak keys and junk, with a stable error code.
    let mut private = jwk.clone();
    private["d"] = json!(b(&[7u8; 32]));
    for (name, body) in [
        ("private.jwk", private.to_string()),
        ("weak.jwk", json!({ "kty": "RSA", "n": b(&[0xc1u8; 128]), "e": "AQAB" }).to_string()),
        ("junk.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_string()),
    ] {
        std::fs::write(s.dir.path().join(name), body).unwrap();
        fails_with(ward(s.dir.path()).args(["app", "add-key", &s.app, "--file", name, "--data-dir", "data"]), "invalid_value");
    }
}

fn decode_claims(token: &str) -> Value {
    use base64::Engine;
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}
