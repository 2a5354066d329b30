//! The token endpoint end to end: `ward init`'s automation app gets app-only tokens for Ward's
//! API, verifiable against the published JWKS; every RFC 6749 §5.2 error where it belongs.

mod common;
use common::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde_json::Value;

struct Setup {
    dir: tempfile::TempDir,
    server: Server,
    init: Value,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let init = init(dir.path(), &[]);
    let server = Server::start(dir.path(), &["--data-dir", "data"]);
    Setup { dir, server, init }
}

impl Setup {
    fn token_url(&self) -> String {
        self.server.url(&format!("/{}/oauth2/v2.0/token", self.init["tenant_id"].as_str().unwrap()))
    }
    fn id(&self) -> &str {
        self.init["client_id"].as_str().unwrap()
    }
    fn secret(&self) -> &str {
        self.init["client_secret"].as_str().unwrap()
    }
    async fn post(&self, url: &str, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = http().post(url).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, r.json().await.unwrap(), headers)
    }
}

async fn verify(setup: &Setup, token: &str) -> Value {
    let jwks: JwkSet = http().get(setup.server.url("/discovery/v2.0/keys")).send().await.unwrap().json().await.unwrap();
    let header = decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the signing key is published");
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&["https://graph.microsoft.com"]);
    // The issuer follows the public URL the server runs with (here the default, on its port).
    let issuer = format!("http://localhost:{}/{}/v2.0", setup.server.addr.port(), setup.init["tenant_id"].as_str().unwrap());
    v.set_issuer(&[issuer]);
    decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &v).expect("the token verifies against JWKS").claims
}

#[tokio::test]
async fn the_automation_app_gets_verifiable_app_only_tokens() {
    let s = setup();
    // client_secret_basic
    let (status, body, headers) = s
        .post(
            &s.token_url(),
            &[("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")],
            Some((s.id(), s.secret())),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let claims = verify(&s, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["tid"], s.init["tenant_id"]);
    assert_eq!(claims["appid"], s.id());
    assert_eq!(claims["azp"], s.id());
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["ver"], "2.0");
    assert_eq!(claims["oid"], claims["sub"]);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);
    let roles: Vec<&str> = claims["roles"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    for r in ["User.ReadWrite.All", "Group.ReadWrite.All", "IdentityRiskyUser.ReadWrite.All", "AuditLog.Read.All"] {
        assert!(roles.contains(&r), "{r} in {roles:?}");
    }
    assert!(!roles.contains(&"User.Read"), "delegated permissions are never roles");
    assert!(claims["uti"].is_string() && claims["jti"].is_string());

    // client_secret_post, Graph's appId as the resource, the tenant addressed by its domain.
    let by_domain = s.server.url(&format!("/{}/oauth2/v2.0/token", s.init["tenant_domain"].as_str().unwrap()));
    let (status, body, _) = s
        .post(
            &by_domain,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", s.id()),
                ("client_secret", s.secret()),
                ("scope", "00000003-0000-0000-c000-000000000000/.default"),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let again = verify(&s, body["access_token"].as_str().unwrap()).await;
    assert_ne!(again["jti"], claims["jti"]);
}

#[tokio::test]
async fn token_endpoint_errors_follow_rfc6749() {
    let s = setup();
    let url = s.token_url();
    let scope = ("scope", "https://graph.microsoft.com/.default");
    let cc = ("grant_type", "client_credentials");
    let expect = |(status, body, _): (u16, Value, reqwest::header::HeaderMap), want_status: u16, code: &str, aadsts: &str| {
        assert_eq!(status, want_status, "{body}");
        assert_eq!(body["error"], code, "{body}");
        assert!(body["error_description"].as_str().unwrap().starts_with(aadsts), "{body}");
    };
    // invalid_client: wrong secret (401 with WWW-Authenticate), unknown client, no secret.
    let wrong = s.post(&url, &[cc, scope], Some((s.id(), "not-the-secret"))).await;
    assert!(wrong.2.get("www-authenticate").is_some());
    expect(wrong, 401, "invalid_client", "AADSTS7000215");
    expect(
        s.post(&url, &[cc, scope], Some(("6b1f6c8e-0000-4000-8000-000000000000", s.secret()))).await,
        401,
        "invalid_client",
        "AADSTS700016",
    );
    expect(s.post(&url, &[cc, scope], Some(("not-a-guid", s.secret()))).await, 401, "invalid_client", "AADSTS700016");
    expect(s.post(&url, &[cc, scope, ("client_id", s.id())], None).await, 401, "invalid_client", "AADSTS7000218");
    // invalid_request: missing grant_type, client_id, two auth methods, duplicates, wrong tenant.
    expect(s.post(&url, &[scope], Some((s.id(), s.secret()))).await, 400, "invalid_request", "AADSTS900144");
    expect(s.post(&url, &[cc, scope], None).await, 400, "invalid_request", "AADSTS900144");
    expect(
        s.post(&url, &[cc, scope, ("client_secret", s.secret())], Some((s.id(), s.secret()))).await,
        400,
        "invalid_request",
        "AADSTS7000219",
    );
    expect(s.post(&url, &[cc, cc, scope], Some((s.id(), s.secret()))).await, 400, "invalid_request", "AADSTS90015");
    let other_tenant = s.server.url("/6b1f6c8e-0000-4000-8000-000000000000/oauth2/v2.0/token");
    expect(s.post(&other_tenant, &[cc, scope], Some((s.id(), s.secret()))).await, 400, "invalid_request", "AADSTS90002");
    // unsupported_grant_type
    expect(
        s.post(&url, &[("grant_type", "password"), scope], Some((s.id(), s.secret()))).await,
        400,
        "unsupported_grant_type",
        "AADSTS70003",
    );
    // invalid_scope: not .default, two scopes, unknown resource; missing scope is invalid_request.
    expect(s.post(&url, &[cc, ("scope", "User.Read")], Some((s.id(), s.secret()))).await, 400, "invalid_scope", "AADSTS1002012");
    expect(
        s.post(&url, &[cc, ("scope", "https://graph.microsoft.com/.default openid")], Some((s.id(), s.secret()))).await,
        400,
        "invalid_scope",
        "AADSTS1002012",
    );
    expect(
        s.post(&url, &[cc, ("scope", "api://unknown/.default")], Some((s.id(), s.secret()))).await,
        400,
        "invalid_scope",
        "AADSTS500011",
    );
    expect(s.post(&url, &[cc], Some((s.id(), s.secret()))).await, 400, "invalid_request", "AADSTS900144");
    // Not form-encoded.
    let r = http()
        .post(&url)
        .basic_auth(s.id(), Some(s.secret()))
        .json(&serde_json::json!({ "grant_type": "client_credentials" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    // A malformed Authorization header.
    let r = http().post(&url).header("authorization", "Basic %%%").form(&[cc, scope]).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // The endpoint is POST only.
    assert_eq!(http().get(&url).send().await.unwrap().status(), 405);
    // None of these left a secret in the log.
    assert!(!s.server.log().contains(s.secret()));
}

#[tokio::test]
async fn an_isv_app_gets_exactly_the_permissions_it_was_granted() {
    let s = setup();
    let d = s.dir.path();
    let app = json(&ok(ward(d).args(["app", "create", "--name", "Contoso Security", "--json", "--data-dir", "data"])));
    let client_id = app["appId"].as_str().unwrap().to_string();
    let secret = json(&ok(ward(d).args(["app", "add-secret", &client_id, "--days", "30", "--json", "--data-dir", "data"])));
    let secret = secret["secretText"].as_str().unwrap().to_string();
    let form = [("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")];
    // Registered but not consented: a token with no roles at all.
    let (status, body, _) = s.post(&s.token_url(), &form, Some((&client_id, &secret))).await;
    assert_eq!(status, 200, "{body}");
    assert!(verify(&s, body["access_token"].as_str().unwrap()).await.get("roles").is_none());
    // The running server sees the CLI's grants on the next request.
    ok(ward(d).args(["app", "grant", &client_id, "User.Read.All", "--data-dir", "data"]));
    ok(ward(d).args(["app", "grant", &client_id, "IdentityRiskyUser.ReadWrite.All", "--data-dir", "data"]));
    fails_with(ward(d).args(["app", "grant", &client_id, "User.Read", "--data-dir", "data"]), "invalid_value");
    fails_with(ward(d).args(["app", "grant", &client_id, "User.Read.All", "--data-dir", "data"]), "already_member");
    let (_, body, _) = s.post(&s.token_url(), &form, Some((&client_id, &secret))).await;
    let claims = verify(&s, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["roles"], serde_json::json!(["User.Read.All", "IdentityRiskyUser.ReadWrite.All"]));
    // Disabled: refused on the next request; enabled again: served again.
    ok(ward(d).args(["app", "disable", &client_id, "--data-dir", "data"]));
    let (status, body, _) = s.post(&s.token_url(), &form, Some((&client_id, &secret))).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "unauthorized_client"));
    ok(ward(d).args(["app", "disable", &client_id, "--enable", "--data-dir", "data"]));
    assert_eq!(s.post(&s.token_url(), &form, Some((&client_id, &secret))).await.0, 200);
    // Secrets are refused beyond 730 days, and the list shows none in clear.
    fails_with(ward(d).args(["app", "add-secret", &client_id, "--days", "731", "--data-dir", "data"]), "invalid_value");
    let listed = ok(ward(d).args(["app", "list", "--json", "--data-dir", "data"]));
    assert!(!listed.contains(&secret));
    assert!(ok(ward(d).args(["app", "permissions"])).contains("AuditLog.Read.All"));
}

#[tokio::test]
async fn the_token_endpoint_limits_each_address() {
    let dir = tempfile::tempdir().unwrap();
    let init = init(dir.path(), &[]);
    std::fs::write(dir.path().join("ward.toml"), "auth_rate_limit = 2\n").unwrap();
    let server = Server::start(dir.path(), &["--data-dir", "data"]);
    let url = server.url(&format!("/{}/oauth2/v2.0/token", init["tenant_id"].as_str().unwrap()));
    let form = [("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")];
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = http()
            .post(&url)
            .basic_auth(init["client_id"].as_str().unwrap(), Some(init["client_secret"].as_str().unwrap()))
            .form(&form)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().get("retry-after").is_some());
            let body: Value = r.json().await.unwrap();
            assert!(body["error_description"].as_str().unwrap().starts_with("AADSTS50196"));
        }
    }
    assert_eq!(&statuses[..4], &[200, 200, 200, 200], "a burst of twice the rate");
    assert!(statuses[4..].contains(&429), "{statuses:?}");
    // Pages that only read are not limited.
    for _ in 0..10 {
        assert_eq!(http().get(server.url("/discovery/v2.0/keys")).send().await.unwrap().status(), 200);
    }
}

#[tokio::test]
async fn forms_with_too_many_parameters_are_refused_at_once() {
    let s = setup();
    let mut form: Vec<(String, String)> = (0..5000).map(|i| (format!("p{i}"), String::new())).collect();
    form.push(("grant_type".into(), "client_credentials".into()));
    let r = http().post(s.token_url()).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}
