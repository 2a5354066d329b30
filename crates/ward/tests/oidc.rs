//! OpenID Connect end to end against the real binary, the way a browser and a client app use it:
//! discovery, the sign-in and consent pages (forms, CSRF, cookies), the code flow with PKCE for a
//! native app and with a secret for a web app, tokens verified against the published JWKS, user
//! info, refresh rotation, introspection, revocation and sign-out.

mod common;
use common::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

const PASSWORD: &str = "Corr3ct-Horse-Battery";
const NATIVE_REDIRECT: &str = "http://127.0.0.1/native-callback";
const WEB_REDIRECT: &str = "http://localhost:8400/signin-oidc";
const VERIFIER: &str = "x8WwXJ7-tQkL0pN3vR6sU9yZ2bE5hK8mP1qT4wA7dG0jF3c";

struct Setup {
    _dir: tempfile::TempDir,
    server: Server,
    tid: String,
    upn: String,
    native: String,
    web: String,
    web_secret: String,
    admin: (String, String),
}

fn cli(d: &Path, args: &[&str]) -> Value {
    json(&ok(ward(d).args(args).args(["--data-dir", "data"])))
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let init = init(d, &[]);
    let tid = init["tenant_id"].as_str().unwrap().to_string();
    let upn = "megan@defaultdirectory.ward.local".to_string();
    std::fs::write(d.join("pw"), format!("{PASSWORD}\n")).unwrap();
    cli(
        d,
        &[
            "user",
            "create",
            "--json",
            "--upn",
            &upn,
            "--display-name",
            "Megan Bowen",
            "--mail",
            "megan@contoso.example",
            "--password-file",
            "pw",
        ],
    );
    ok(ward(d).args(["tenant", "set", "--users-can-consent-to-apps", "true", "--data-dir", "data"]));
    let native = cli(d, &["app", "create", "--json", "--name", "Native Tool", "--public-redirect-uri", NATIVE_REDIRECT]);
    let web = cli(d, &["app", "create", "--json", "--name", "Web Portal", "--redirect-uri", WEB_REDIRECT]);
    let web_id = web["appId"].as_str().unwrap().to_string();
    let secret = cli(d, &["app", "add-secret", &web_id, "--json"]);
    let server = Server::start(d, &["--data-dir", "data"]);
    Setup {
        _dir: dir,
        server,
        tid,
        upn,
        native: native["appId"].as_str().unwrap().to_string(),
        web: web_id,
        web_secret: secret["secretText"].as_str().unwrap().to_string(),
        admin: (init["admin_upn"].as_str().unwrap().to_string(), init["admin_password"].as_str().unwrap().to_string()),
    }
}

/// A person's browser: keeps cookies, follows nothing by itself.
struct Browser {
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    body: String,
    csp: Option<String>,
}

impl Page {
    /// The page's (one) form: its action and fields.
    fn form(&self) -> (String, Vec<(String, String)>) {
        let start = self.body.find("<form").unwrap_or_else(|| panic!("no form in: {}", self.body));
        let form = &self.body[start..self.body[start..].find("</form>").unwrap() + start];
        let attr = |tag: &str, name: &str| {
            let key = format!("{name}=\"");
            tag.find(&key).map(|i| unescape(&tag[i + key.len()..][..tag[i + key.len()..].find('"').unwrap()]))
        };
        let action = attr(&form[..form.find('>').unwrap()], "action").unwrap();
        let mut fields = Vec::new();
        for part in form.split("<input").skip(1) {
            let tag = &part[..part.find('>').unwrap()];
            if let (Some(n), v) = (attr(tag, "name"), attr(tag, "value")) {
                fields.push((n, v.unwrap_or_default()));
            }
        }
        (action, fields)
    }
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

impl Browser {
    fn new() -> Browser {
        let client = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { client, cookies: HashMap::new() }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let cookie: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let r = req.header("cookie", cookie.join("; ")).send().await.unwrap();
        for c in r.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax"), "{c}");
            let (k, v) = c.split(';').next().unwrap().split_once('=').unwrap();
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.into(), v.into());
            }
        }
        let header = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string());
        let (status, location, csp) = (r.status().as_u16(), header("location"), header("content-security-policy"));
        Page { status, location, csp, body: r.text().await.unwrap() }
    }

    async fn get(&mut self, url: &str) -> Page {
        let req = self.client.get(url);
        self.send(req).await
    }

    async fn submit(&mut self, base: &str, page: &Page, fill: &[(&str, &str)]) -> Page {
        let (action, mut fields) = page.form();
        for (k, v) in fill {
            fields.retain(|(n, _)| n != k);
            fields.push((k.to_string(), v.to_string()));
        }
        let req = self.client.post(format!("{base}{action}")).form(&fields);
        self.send(req).await
    }
}

impl Setup {
    fn base(&self) -> String {
        format!("http://{}", self.server.addr)
    }
    fn url(&self, path: &str) -> String {
        format!("{}/{}{path}", self.base(), self.tid)
    }
    fn authorize_url(&self, client: &str, redirect: &str, scope: &str, pkce: bool) -> String {
        let mut p = vec![
            ("client_id", client.to_string()),
            ("redirect_uri", redirect.to_string()),
            ("response_type", "code".into()),
            ("scope", scope.into()),
            ("state", "st-42".into()),
            ("nonce", "nonce-7".into()),
        ];
        if pkce {
            use base64::Engine;
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, VERIFIER.as_bytes()).as_ref());
            p.push(("code_challenge", challenge));
            p.push(("code_challenge_method", "S256".into()));
        }
        format!("{}?{}", self.url("/oauth2/v2.0/authorize"), serde_urlencoded::to_string(p).unwrap())
    }

    /// Signs in through the page (and consents if asked); returns the code the client receives.
    async fn sign_in(&self, b: &mut Browser, authorize: &str, redirect: &str) -> String {
        let mut page = b.get(authorize).await;
        loop {
            if let Some(loc) = page.location.clone() {
                if loc.starts_with(redirect) {
                    let q: Vec<(String, String)> = serde_urlencoded::from_str(loc.split_once('?').unwrap().1).unwrap();
                    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                    assert_eq!(get("state").as_deref(), Some("st-42"));
                    return get("code").unwrap_or_else(|| panic!("no code: {loc}"));
                }
                let next = if loc.starts_with('/') { format!("{}{loc}", self.base()) } else { loc };
                page = b.get(&next).await;
            } else if page.body.contains("name=\"username\"") {
                page = b.submit(&self.base(), &page, &[("username", &self.upn), ("password", PASSWORD)]).await;
            } else if page.body.contains("name=\"consent\"") {
                page = b.submit(&self.base(), &page, &[("consent", "accept")]).await;
            } else {
                panic!("unexpected page {}: {}", page.status, page.body);
            }
        }
    }

    /// Follows a signed-in browser from `page` (a redirect) through any consent to the native
    /// client's redirect URI; returns that URI with its query.
    async fn follow_to_client(&self, b: &mut Browser, mut page: Page) -> String {
        loop {
            match page.location.clone() {
                Some(l) if l.starts_with(NATIVE_REDIRECT) => return l,
                Some(l) => page = b.get(&format!("{}{l}", self.base())).await,
                None if page.body.contains("name=\"consent\"") => page = b.submit(&self.base(), &page, &[("consent", "accept")]).await,
                None => panic!("the flow should go on to the application: {}", page.body),
            }
        }
    }

    /// The native (public, PKCE) client redeems `code` at the token endpoint.
    async fn redeem_native(&self, code: &str) -> (u16, Value) {
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", self.native.as_str()),
            ("code", code),
            ("redirect_uri", NATIVE_REDIRECT),
            ("code_verifier", VERIFIER),
        ];
        self.token(&form, None).await
    }

    async fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (u16, Value) {
        let mut req = http().post(self.url("/oauth2/v2.0/token")).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn verify(&self, token: &str, audience: &str, typ: &str) -> Value {
        let discovery: Value = http().get(self.url("/v2.0/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        let jwks: JwkSet = http().get(discovery["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
        let header = decode_header(token).unwrap();
        assert_eq!(header.typ.as_deref(), Some(typ));
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&[audience]);
        v.set_issuer(&[discovery["issuer"].as_str().unwrap()]);
        let key = DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
        decode::<Value>(token, &key, &v).expect("verifies against the published keys").claims
    }
}

#[tokio::test]
async fn discovery_describes_this_tenant_and_only_what_exists() {
    let s = setup();
    for path in ["/v2.0/.well-known/openid-configuration", "/.well-known/openid-configuration"] {
        let doc: Value = http().get(s.url(path)).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["issuer"], format!("http://localhost:{}/{}/v2.0", s.server.addr.port(), s.tid));
        assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        // Every endpoint advertised answers something other than 404.
        for key in [
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
            "end_session_endpoint",
            "introspection_endpoint",
            "revocation_endpoint",
        ] {
            let url = doc[key].as_str().unwrap().replace("localhost", "127.0.0.1");
            let status = http().get(&url).send().await.unwrap().status().as_u16();
            assert_ne!(status, 404, "{key} {url}");
        }
    }
    // By verified domain too; an unknown tenant is a clear error.
    let r = http().get(format!("{}/defaultdirectory.ward.local/v2.0/.well-known/openid-configuration", s.base())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http().get(format!("{}/nowhere.example/v2.0/.well-known/openid-configuration", s.base())).send().await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn a_native_app_signs_a_person_in_with_pkce() {
    let s = setup();
    let mut b = Browser::new();
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid profile email offline_access User.Read", true);
    // The sign-in page: a real form, a CSRF token, a CSP that lets the form lead to the client.
    let page = b.get(&authorize).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<label for=\"username\">") && page.body.contains("Native Tool"));
    assert!(page.csp.as_deref().unwrap().contains("form-action 'self' http://127.0.0.1"), "{:?}", page.csp);
    // Wrong password: the page again, with an error and no session.
    let wrong = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", "nope")]).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("role=\"alert\"") && !b.cookies.contains_key("ward_session"));
    // A forged form (no valid CSRF token) is refused.
    let forged = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD), ("csrf_token", "forged")]).await;
    assert_eq!(forged.status, 403);
    let mut stranger = Browser::new();
    let replayed_form = stranger.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!(replayed_form.status, 403, "a CSRF token is bound to its browser's cookie");

    let code = s.sign_in(&mut b, &authorize, NATIVE_REDIRECT).await;
    let (status, t) = s.redeem_native(&code).await;
    assert_eq!(status, 200, "{t}");
    let id = s.verify(t["id_token"].as_str().unwrap(), &s.native, "JWT").await;
    assert_eq!(id["nonce"], "nonce-7");
    assert_eq!(id["preferred_username"], s.upn);
    assert_eq!(id["email"], "megan@contoso.example");
    let at = s.verify(t["access_token"].as_str().unwrap(), "https://graph.microsoft.com", "at+jwt").await;
    assert_eq!(at["scp"], "openid profile email User.Read");
    assert_eq!(at["sub"], id["sub"]);
    // User info.
    let info: Value = http()
        .get(format!("{}/oidc/userinfo", s.base()))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], id["sub"]);
    assert_eq!(info["name"], "Megan Bowen");
    let r = http().get(format!("{}/oidc/userinfo", s.base())).bearer_auth("not.a.token").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));

    // Single sign-on: the second app visit needs no password, and no consent again.
    let again = b.get(&authorize).await;
    assert!(again.location.as_deref().unwrap().starts_with(&format!("{NATIVE_REDIRECT}?code=")));

    // A replayed code is refused and revokes what it issued.
    let (status, e) = s.redeem_native(&code).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    let (_, e) = s
        .token(&[("grant_type", "refresh_token"), ("client_id", &s.native), ("refresh_token", t["refresh_token"].as_str().unwrap())], None)
        .await;
    assert_eq!(e["error"], "invalid_grant");
}

#[tokio::test]
async fn a_web_app_authenticates_rotates_introspects_revokes_and_signs_out() {
    let s = setup();
    let mut b = Browser::new();
    let authorize = s.authorize_url(&s.web, WEB_REDIRECT, "openid profile offline_access User.Read", false);
    let code = s.sign_in(&mut b, &authorize, WEB_REDIRECT).await;
    let exchange = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WEB_REDIRECT)];
    // A confidential client must authenticate.
    let (status, e) = s.token(&[&exchange[..], &[("client_id", s.web.as_str())]].concat(), None).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")));
    let (status, t) = s.token(&exchange, Some((&s.web, &s.web_secret))).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(s.verify(t["access_token"].as_str().unwrap(), "https://graph.microsoft.com", "at+jwt").await["azpacr"], "1");

    // Rotation, then reuse detection.
    let rt1 = t["refresh_token"].as_str().unwrap();
    let (status, t2) = s.token(&[("grant_type", "refresh_token"), ("refresh_token", rt1)], Some((&s.web, &s.web_secret))).await;
    assert_eq!(status, 200, "{t2}");
    let rt2 = t2["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2);
    let introspect = |token: String| {
        let s = &s;
        async move {
            let r = http()
                .post(s.url("/oauth2/v2.0/introspect"))
                .basic_auth(&s.web, Some(&s.web_secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let live = introspect(t2["access_token"].as_str().unwrap().to_string()).await;
    assert_eq!((live["active"].as_bool(), live["username"].as_str()), (Some(true), Some(s.upn.as_str())));
    assert_eq!(introspect(rt2.to_string()).await["active"], true);
    assert_eq!(introspect(rt1.to_string()).await["active"], false, "spent");
    let r = http().post(s.url("/oauth2/v2.0/introspect")).form(&[("token", rt2), ("client_id", &s.web)]).send().await.unwrap();
    assert_eq!(r.status(), 401, "introspection needs client authentication");

    let (_, e) = s.token(&[("grant_type", "refresh_token"), ("refresh_token", rt1)], Some((&s.web, &s.web_secret))).await;
    assert_eq!(e["error"], "invalid_grant");
    let (_, e) = s.token(&[("grant_type", "refresh_token"), ("refresh_token", rt2)], Some((&s.web, &s.web_secret))).await;
    assert_eq!(e["error"], "invalid_grant", "reuse revoked the family");
    assert_eq!(introspect(t2["access_token"].as_str().unwrap().to_string()).await["active"], false);

    // A new grant (single sign-on, no password), then revocation by the client.
    let code = s.sign_in(&mut b, &authorize, WEB_REDIRECT).await;
    let (_, t3) = s
        .token(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", WEB_REDIRECT)], Some((&s.web, &s.web_secret)))
        .await;
    let r = http()
        .post(s.url("/oauth2/v2.0/revoke"))
        .basic_auth(&s.web, Some(&s.web_secret))
        .form(&[("token", t3["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(introspect(t3["access_token"].as_str().unwrap().to_string()).await["active"], false);

    // Sign-out. Without a hint it must be confirmed (no cross-site sign-out); an unregistered
    // post-logout URI is never followed.
    let code = s.sign_in(&mut b, &authorize, WEB_REDIRECT).await;
    let (_, t4) = s
        .token(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", WEB_REDIRECT)], Some((&s.web, &s.web_secret)))
        .await;
    let confirm = b.get(&s.url("/oauth2/v2.0/logout")).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("Sign out"));
    assert!(b.cookies.contains_key("ward_session"), "not signed out by a plain GET");
    let id_token = t4["id_token"].as_str().unwrap();
    let evil = format!("{}?id_token_hint={id_token}&post_logout_redirect_uri=https://evil.example/&state=z", s.url("/oauth2/v2.0/logout"));
    let out = b.get(&evil).await;
    assert_eq!((out.status, out.location), (200, None), "not an open redirect");
    assert!(!b.cookies.contains_key("ward_session"));
    let (_, e) = s
        .token(&[("grant_type", "refresh_token"), ("refresh_token", t4["refresh_token"].as_str().unwrap())], Some((&s.web, &s.web_secret)))
        .await;
    assert_eq!(e["error"], "invalid_grant", "signing out ends the session's grants");
    // After sign-out, the sign-in page comes back.
    let page = b.get(&authorize).await;
    assert!(page.body.contains("name=\"username\""));
    // With a registered URI and a valid hint, the browser goes back to the app.
    let code = s.sign_in(&mut b, &authorize, WEB_REDIRECT).await;
    let (_, t5) = s
        .token(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", WEB_REDIRECT)], Some((&s.web, &s.web_secret)))
        .await;
    let back = format!(
        "{}?id_token_hint={}&post_logout_redirect_uri={}&state=z",
        s.url("/oauth2/v2.0/logout"),
        t5["id_token"].as_str().unwrap(),
        WEB_REDIRECT
    );
    let out = b.get(&back).await;
    assert_eq!(out.location.as_deref(), Some(format!("{WEB_REDIRECT}?state=z").as_str()));
}

#[tokio::test]
async fn authorize_errors_go_to_the_person_or_to_the_registered_uri_never_elsewhere() {
    let s = setup();
    let mut b = Browser::new();
    // Unregistered redirect URI: an error page, no redirect.
    let page = b.get(&s.authorize_url(&s.web, "https://evil.example/cb", "openid", false)).await;
    assert_eq!((page.status, page.location.as_deref()), (400, None));
    assert!(page.body.contains("AADSTS50011"));
    // The error page names its correlation id: the request id of the response and of the log line.
    let r = http().get(s.authorize_url(&s.web, "https://evil.example/cb", "openid", false)).send().await.unwrap();
    let id = r.headers()["request-id"].to_str().unwrap().to_string();
    let body = r.text().await.unwrap();
    assert!(body.contains(&format!("<code id=\"correlation-id\">{id}</code>")), "{body}");
    let log = s.server.wait_for_log(&id);
    let line = log.lines().find(|l| l.contains(&id)).unwrap();
    assert!(line.contains("\"status\":400"), "the log line carries the same id: {line}");
    // Unknown client: an error page.
    let page = b.get(&s.authorize_url("5d6a7a9e-0000-4000-8000-000000000000", WEB_REDIRECT, "openid", false)).await;
    assert_eq!((page.status, page.location.as_deref()), (400, None));
    // A public client without PKCE: the error goes back to its registered URI.
    let page = b.get(&s.authorize_url(&s.native, NATIVE_REDIRECT, "openid", false)).await;
    let loc = page.location.unwrap();
    assert!(loc.starts_with(&format!("{NATIVE_REDIRECT}?error=invalid_request")) && loc.contains("state=st-42"), "{loc}");
    // Unknown scope.
    let loc = b.get(&s.authorize_url(&s.web, WEB_REDIRECT, "openid Mail.Send", false)).await.location.unwrap();
    assert!(loc.contains("error=invalid_scope"), "{loc}");
    // Declining consent.
    let authorize = s.authorize_url(&s.web, WEB_REDIRECT, "openid User.Read", false);
    let page = b.get(&authorize).await;
    let consent = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    let consent = b.get(&format!("{}{}", s.base(), consent.location.unwrap())).await;
    assert!(consent.body.contains("Permissions requested"), "{}", consent.body);
    let declined = b.submit(&s.base(), &consent, &[("consent", "deny")]).await;
    assert!(declined.location.unwrap().starts_with(&format!("{WEB_REDIRECT}?error=access_denied")));
    // Admin-only permissions cannot be consented to by the user...
    let read_all = s.authorize_url(&s.web, WEB_REDIRECT, "openid User.Read.All", false);
    let page = b.get(&read_all).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("Need admin approval"));
    // ...until an administrator consents for everyone: then no consent page at all.
    ok(ward(s._dir.path()).args(["app", "consent", &s.web, "--scope", "openid User.Read.All", "--data-dir", "data"]));
    let page = b.get(&read_all).await;
    assert!(page.location.as_deref().unwrap_or_default().starts_with(&format!("{WEB_REDIRECT}?code=")), "{}", page.body);
}

#[tokio::test]
async fn an_app_can_choose_es256_or_eddsa_for_its_tokens() {
    let s = setup();
    let d = s._dir.path();
    fails_with(ward(d).args(["app", "create", "--data-dir", "data", "--name", "Bad", "--signing-alg", "HS256"]), "invalid_value");
    for (alg, jwt_alg) in [("ES256", Algorithm::ES256), ("EdDSA", Algorithm::EdDSA)] {
        let app = cli(d, &["app", "create", "--json", "--name", alg, "--signing-alg", alg]);
        let id = app["appId"].as_str().unwrap();
        let secret = cli(d, &["app", "add-secret", id, "--json"]);
        let (status, t) = s
            .token(
                &[("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")],
                Some((id, secret["secretText"].as_str().unwrap())),
            )
            .await;
        assert_eq!(status, 200, "{t}");
        let token = t["access_token"].as_str().unwrap();
        let header = decode_header(token).unwrap();
        assert_eq!(header.alg, jwt_alg);
        let jwks: JwkSet = http().get(s.url("/discovery/v2.0/keys")).send().await.unwrap().json().await.unwrap();
        let mut v = Validation::new(jwt_alg);
        v.set_audience(&["https://graph.microsoft.com"]);
        let key = DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
        assert_eq!(decode::<Value>(token, &key, &v).unwrap().claims["appid"], id);
        // Another algorithm's verifier refuses it.
        let rs_key = jwks.keys.iter().find(|k| k.common.key_algorithm == Some(jsonwebtoken::jwk::KeyAlgorithm::RS256)).unwrap();
        assert!(decode::<Value>(token, &DecodingKey::from_jwk(rs_key).unwrap(), &Validation::new(Algorithm::RS256)).is_err());
    }
}

#[tokio::test]
async fn a_device_signs_in_through_the_code_page() {
    let s = setup();
    let r = http()
        .post(s.url("/oauth2/v2.0/devicecode"))
        .form(&[("client_id", s.native.as_str()), ("scope", "openid profile offline_access User.Read")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let start: Value = r.json().await.unwrap();
    let user_code = start["user_code"].as_str().unwrap();
    assert!(start["message"].as_str().unwrap().contains(user_code));
    let verification = start["verification_uri"].as_str().unwrap().replace("localhost", "127.0.0.1");

    // On the phone: the page asks for a sign-in first, then the code.
    let mut b = Browser::new();
    let page = b.get(&verification).await;
    assert!(page.body.contains("name=\"username\""), "{}", page.body);
    let page = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!(page.status, 303);
    let entry = b.get(&format!("{}{}", s.base(), page.location.unwrap())).await;
    assert!(entry.body.contains("<label for=\"user_code\">"));
    // A wrong code says so.
    let wrong = b.submit(&s.base(), &entry, &[("user_code", "BCDF-GHJK")]).await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.body.contains("role=\"alert\""));
    let confirm = b.submit(&s.base(), &entry, &[("user_code", user_code)]).await;
    assert!(confirm.body.contains("Native Tool"), "{}", confirm.body);
    // A confirmation without its CSRF token does nothing.
    let forged = b.submit(&s.base(), &confirm, &[("decision", "approve"), ("csrf_token", "x")]).await;
    assert_eq!(forged.status, 403);
    let done = b.submit(&s.base(), &confirm, &[("decision", "approve")]).await;
    assert!(done.body.contains("You have signed in on your device"), "{}", done.body);

    // The device polls and gets its tokens, once.
    let poll = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", s.native.as_str()),
        ("device_code", start["device_code"].as_str().unwrap()),
    ];
    let (status, t) = s.token(&poll, None).await;
    assert_eq!(status, 200, "{t}");
    let id = s.verify(t["id_token"].as_str().unwrap(), &s.native, "JWT").await;
    assert_eq!(id["preferred_username"], s.upn);
    let (_, e) = s.token(&poll, None).await;
    assert!(matches!(e["error"].as_str(), Some("invalid_grant" | "slow_down")), "{e}");
}

#[tokio::test]
async fn an_api_calls_another_on_behalf_of_the_signed_in_user() {
    let s = setup();
    let d = s._dir.path();
    // A middle-tier API that exposes `access_as_user`, with a secret, and consent (for everyone)
    // to read the user's profile from Ward's API.
    let api = cli(d, &["app", "create", "--json", "--name", "Orders API", "--expose-scope", "access_as_user"]);
    let api_id = api["appId"].as_str().unwrap().to_string();
    assert_eq!(api["identifierUris"], serde_json::json!([format!("api://{api_id}")]));
    let api_secret = cli(d, &["app", "add-secret", &api_id, "--json"])["secretText"].as_str().unwrap().to_string();
    // The native app signs the user in for the API.
    let mut b = Browser::new();
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, &format!("openid api://{api_id}/access_as_user"), true);
    let code = s.sign_in(&mut b, &authorize, NATIVE_REDIRECT).await;
    let (status, t) = s.redeem_native(&code).await;
    assert_eq!(status, 200, "{t}");
    let for_api = t["access_token"].as_str().unwrap().to_string();
    let claims = s.verify(&for_api, &api_id, "at+jwt").await;
    assert_eq!(claims["scp"], "openid access_as_user");

    let obo = |assertion: String, scope: &'static str| {
        let s = &s;
        let (id, secret) = (api_id.clone(), api_secret.clone());
        async move {
            s.token(
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("requested_token_use", "on_behalf_of"),
                    ("assertion", &assertion),
                    ("scope", scope),
                ],
                Some((&id, &secret)),
            )
            .await
        }
    };
    // Without the API's consent to call Ward's API: refused.
    let (status, e) = obo(for_api.clone(), "https://graph.microsoft.com/User.Read").await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    ok(ward(d).args(["app", "consent", &api_id, "--scope", "User.Read", "--data-dir", "data"]));
    let (status, t) = obo(for_api.clone(), "https://graph.microsoft.com/.default").await;
    assert_eq!(status, 200, "{t}");
    let downstream = s.verify(t["access_token"].as_str().unwrap(), "https://graph.microsoft.com", "at+jwt").await;
    assert_eq!(downstream["scp"], "User.Read");
    assert_eq!(downstream["azp"], api_id.as_str());
    assert_eq!(
        (downstream["oid"].clone(), downstream["sid"].clone()),
        (claims["oid"].clone(), claims["sid"].clone()),
        "same user, same grant"
    );
    assert!(t.get("refresh_token").is_none());

    // A token addressed elsewhere (here: the downstream one) is not an assertion for this API.
    let (_, e) = obo(t["access_token"].as_str().unwrap().to_string(), "https://graph.microsoft.com/User.Read").await;
    assert_eq!(e["error"], "invalid_grant");
    // requested_token_use is required.
    let (status, _) = s
        .token(
            &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &for_api), ("scope", "User.Read")],
            Some((&api_id, &api_secret)),
        )
        .await;
    assert_eq!(status, 400);
    // Another client cannot use a token addressed to the API.
    let (status, _) = s
        .token(
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("requested_token_use", "on_behalf_of"),
                ("assertion", &for_api),
                ("scope", "User.Read"),
            ],
            Some((&s.web, &s.web_secret)),
        )
        .await;
    assert_eq!(status, 400);
    // Signing out ends the grant the assertion belongs to: on-behalf-of stops too.
    let confirm = b.get(&s.url("/oauth2/v2.0/logout")).await;
    b.submit(&s.base(), &confirm, &[]).await;
    let (_, e) = obo(for_api, "https://graph.microsoft.com/User.Read").await;
    assert_eq!(e["error"], "invalid_grant");
}

#[tokio::test]
async fn an_administrator_consents_for_the_organisation_on_the_consent_page() {
    let s = setup();
    ok(ward(s._dir.path()).args(["tenant", "set", "--users-can-consent-to-apps", "false", "--data-dir", "data"]));
    let authorize = s.authorize_url(&s.web, WEB_REDIRECT, "openid User.Read", false);
    // An ordinary user cannot consent at all now.
    let mut user = Browser::new();
    let page = user.get(&authorize).await;
    let page = user.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    let page = user.get(&format!("{}{}", s.base(), page.location.unwrap())).await;
    assert_eq!(page.status, 403, "{}", page.body);
    // The administrator sees the organisation-wide choice and takes it.
    let mut admin = Browser::new();
    let page = admin.get(&authorize).await;
    let page = admin.submit(&s.base(), &page, &[("username", &s.admin.0), ("password", &s.admin.1)]).await;
    let consent = admin.get(&format!("{}{}", s.base(), page.location.unwrap())).await;
    assert!(consent.body.contains("Consent on behalf of your organisation"), "{}", consent.body);
    let done = admin.submit(&s.base(), &consent, &[("consent", "accept"), ("organization", "on")]).await;
    assert!(done.location.is_some());
    // Now the ordinary user gets straight through, without a consent page.
    let page = user.get(&authorize).await;
    assert!(page.location.as_deref().unwrap_or_default().starts_with(&format!("{WEB_REDIRECT}?code=")), "{}", page.body);
}

#[tokio::test]
async fn delegated_graph_calls_need_the_scope_and_for_writes_an_application_administrator() {
    let s = setup();
    let d = s._dir.path();
    let token_for = |who: (String, String)| {
        let s = &s;
        async move {
            let mut b = Browser::new();
            let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid Application.ReadWrite.All", true);
            let mut page = b.get(&authorize).await;
            let code = loop {
                if let Some(loc) = page.location.clone() {
                    if loc.starts_with(NATIVE_REDIRECT) {
                        let q: Vec<(String, String)> = serde_urlencoded::from_str(loc.split_once('?').unwrap().1).unwrap();
                        break q.into_iter().find(|(k, _)| k == "code").unwrap().1;
                    }
                    page = b.get(&format!("{}{loc}", s.base())).await;
                } else if page.body.contains("name=\"username\"") {
                    page = b.submit(&s.base(), &page, &[("username", &who.0), ("password", &who.1)]).await;
                } else if page.body.contains("name=\"consent\"") {
                    page = b.submit(&s.base(), &page, &[("consent", "accept")]).await;
                } else {
                    return Err(page.status);
                }
            };
            let (_, t) = s.redeem_native(&code).await;
            Ok(t["access_token"].as_str().unwrap().to_string())
        }
    };
    let graph = |token: String, method: &'static str, body: Option<Value>| {
        let url = s.server.url("/v1.0/applications");
        async move {
            let mut req = http().request(method.parse().unwrap(), url).bearer_auth(token);
            if let Some(b) = body {
                req = req.json(&b);
            }
            req.send().await.unwrap().status().as_u16()
        }
    };
    // An ordinary user cannot consent to an admin-only permission.
    assert_eq!(token_for((s.upn.clone(), PASSWORD.into())).await, Err(403));
    // The Global Administrator can, for themselves, and may then read and write registrations.
    let admin = token_for(s.admin.clone()).await.unwrap();
    assert_eq!(graph(admin.clone(), "GET", None).await, 200);
    assert_eq!(graph(admin, "POST", Some(serde_json::json!({ "displayName": "By the admin" }))).await, 201);
    // With the permission granted to the client for everyone, the ordinary user's token carries the
    // scope: enough to read, not to write (they administer no applications).
    ok(ward(d).args(["app", "consent", &s.native, "--scope", "openid Application.ReadWrite.All", "--data-dir", "data"]));
    let user = token_for((s.upn.clone(), PASSWORD.into())).await.unwrap();
    assert_eq!(graph(user.clone(), "GET", None).await, 200);
    assert_eq!(graph(user, "POST", Some(serde_json::json!({ "displayName": "By a user" }))).await, 403);
}

#[tokio::test]
async fn a_consent_form_is_bound_to_the_sign_in_it_was_shown_to() {
    let s = setup();
    let mut b = Browser::new();
    let authorize = s.authorize_url(&s.web, WEB_REDIRECT, "openid User.Read", false);
    let page = b.get(&authorize).await;
    let page = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    let consent = b.get(&format!("{}{}", s.base(), page.location.unwrap())).await;
    assert!(consent.body.contains("Permissions requested"));
    // The same browser (same anti-forgery cookie) signs in again: a new session.
    let again = b.get(&format!("{authorize}&prompt=login")).await;
    let page = b.submit(&s.base(), &again, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!(page.status, 303);
    // The form shown to the first session is refused in the second.
    let stale = b.submit(&s.base(), &consent, &[("consent", "accept")]).await;
    assert_eq!(stale.status, 403, "{}", stale.body);
}

/// Graph's directory API on a user's behalf: the token's scopes, intersected with what the
/// signed-in user may do (a directory role), decide; and the audit log names the user.
#[tokio::test]
async fn delegated_graph_calls_need_the_scope_and_the_users_role() {
    let s = setup();
    let d = s._dir.path();
    // An administrator consents, for everyone, to the native tool writing users.
    ok(ward(d).args(["app", "consent", &s.native, "--scope", "openid User.ReadWrite.All", "--data-dir", "data"]));
    let other = cli(d, &["user", "create", "--json", "--upn", "lee@defaultdirectory.ward.local", "--display-name", "Lee Gu"]);
    let other_id = other["id"].as_str().unwrap().to_string();
    let mut b = Browser::new();
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid https://graph.microsoft.com/User.ReadWrite.All", true);
    let code = s.sign_in(&mut b, &authorize, NATIVE_REDIRECT).await;
    let (status, t) = s.redeem_native(&code).await;
    assert_eq!(status, 200, "{t}");
    let token = t["access_token"].as_str().unwrap().to_string();
    let graph = |method: &str, path: &str, body: Option<Value>| {
        let mut req = http().request(method.parse().unwrap(), format!("{}{path}", s.base())).bearer_auth(&token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // Reading is allowed to any member with the scope; /me is Megan.
    let (status, me) = graph("GET", "/v1.0/me", None).await;
    assert_eq!((status, me["userPrincipalName"].as_str()), (200, Some(s.upn.as_str())));
    assert_eq!(graph("GET", "/v1.0/users", None).await.0, 200);
    // Writing someone else needs a role Megan does not hold, whatever the app was granted.
    let patch = serde_json::json!({ "jobTitle": "Promoted" });
    let (status, e) = graph("PATCH", &format!("/v1.0/users/{other_id}"), Some(patch.clone())).await;
    assert_eq!((status, e["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")));
    // Made User Administrator, the same token may (roles are read at each call).
    ok(ward(d).args(["role", "assign", "User Administrator", &s.upn, "--data-dir", "data"]));
    assert_eq!(graph("PATCH", &format!("/v1.0/users/{other_id}"), Some(patch)).await.0, 204);
    // Groups were not consented: no group writes, role or not.
    let group = serde_json::json!({ "displayName": "G", "mailEnabled": false, "mailNickname": "g", "securityEnabled": true });
    assert_eq!(graph("POST", "/v1.0/groups", Some(group)).await.0, 403);
    let (status, log) = graph("GET", "/v1.0/auditLogs/directoryAudits", None).await;
    assert_eq!(status, 403, "reading the audit log needs AuditLog.Read.All: {log}");
    // An app granted AuditLog.Read.All sees who did it: Megan, through the native tool, from here.
    ok(ward(d).args(["app", "grant", &s.web, "AuditLog.Read.All", "--data-dir", "data"]));
    let form = [("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")];
    let (status, t) = s.token(&form, Some((&s.web, &s.web_secret))).await;
    assert_eq!(status, 200, "{t}");
    let log: Value = http()
        .get(format!("{}/v1.0/auditLogs/directoryAudits", s.base()))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let update = &log["value"][0];
    assert_eq!(update["activityDisplayName"], "Update user", "{log}");
    assert_eq!(update["initiatedBy"]["user"]["userPrincipalName"], s.upn.as_str());
    assert_eq!(update["initiatedBy"]["user"]["ipAddress"], "127.0.0.1");
    assert_eq!(update["initiatedBy"]["app"]["appId"], s.native.as_str());
    assert_eq!(update["targetResources"][0]["id"], other_id.as_str());
}

/// The `code` parameter of a redirect to a client.
fn code_of(location: &str) -> String {
    let q: Vec<(String, String)> = serde_urlencoded::from_str(location.split_once('?').map_or("", |(_, q)| q)).unwrap();
    q.into_iter().find(|(k, _)| k == "code").map(|(_, v)| v).unwrap_or_else(|| panic!("no code in {location}"))
}

/// The code an authenticator app would show now for a secret in base32 (as the page shows it).
fn app_code(secret_base32: &str, offset_steps: i64) -> String {
    let clean: String = secret_base32.chars().filter(|c| !c.is_whitespace()).collect();
    let mut bytes = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in clean.bytes() {
        let v = if c.is_ascii_uppercase() { c - b'A' } else { c - b'2' + 26 };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
        }
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    format!("{:06}", ward_auth::totp::code_at(&bytes, ward_auth::totp::step_of(now) + offset_steps, 6))
}

/// Between two element markers, e.g. the secret in `<code id="secret">…</code>`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start} in {text}")) + start.len();
    &text[from..from + text[from..].find(end).unwrap()]
}

/// An authenticator app added on "My security info", then asked for at every sign-in: codes are
/// accepted once, wrong ones refused, and the tokens say a second factor was used.
#[tokio::test]
async fn authenticator_app_enrollment_and_sign_in_with_a_code() {
    let s = setup();
    let portal = format!("{}/{}/mysecurityinfo", s.base(), s.tid);
    let mut b = Browser::new();
    // Not signed in: the page is the sign-in form, which leads back to it.
    let page = b.get(&portal).await;
    assert!(page.body.contains("name=\"username\""), "{}", page.body);
    let page = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some(format!("/{}/mysecurityinfo", s.tid).as_str())));
    let page = b.get(&portal).await;
    assert!(page.body.contains("You sign in with your password only."), "{}", page.body);

    // Add an app: a QR code drawn here, the key to type, and a first code to prove it works.
    let page = b.get(&format!("{portal}/authenticator")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<svg") && page.body.contains("aria-label=\"QR code"), "the QR code is inline SVG");
    let secret = between(&page.body, "<code id=\"secret\">", "</code>").to_string();
    let wrong = b.submit(&s.base(), &page, &[("code", "000000")]).await;
    assert_eq!(wrong.status, 422);
    assert_eq!(between(&wrong.body, "<code id=\"secret\">", "</code>"), secret, "the same secret after a wrong code");
    let mut stranger = Browser::new();
    let forged = stranger.submit(&s.base(), &page, &[("code", &app_code(&secret, 0))]).await;
    assert_ne!(forged.status, 303, "another browser cannot finish this enrollment");
    let done = b.submit(&s.base(), &wrong, &[("code", &app_code(&secret, 0)), ("name", "Megan's phone")]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let page = b.get(&portal).await;
    assert!(page.body.contains("Megan&#39;s phone") || page.body.contains("Megan's phone"), "{}", page.body);
    // The registration is in the audit log, as the person's own doing.
    ok(ward(s._dir.path()).args(["app", "grant", &s.web, "AuditLog.Read.All", "--data-dir", "data"]));
    let form = [("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")];
    let (_, t) = s.token(&form, Some((&s.web, &s.web_secret))).await;
    let filter = "activityDisplayName eq 'User registered security info'";
    let audits: serde_json::Value = http()
        .get(format!("{}/v1.0/auditLogs/directoryAudits?{}", s.base(), serde_urlencoded::to_string([("$filter", filter)]).unwrap()))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(audits["value"][0]["initiatedBy"]["user"]["userPrincipalName"], s.upn.as_str(), "{audits}");
    assert_eq!(audits["value"][0]["targetResources"][0]["modifiedProperties"][0]["newValue"], "totp", "{audits}");

    // Signing in to an application now takes a code after the password.
    let mut b2 = Browser::new();
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid profile", true);
    let page = b2.get(&authorize).await;
    let otp = b2.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!(otp.status, 200);
    assert!(otp.body.contains("autocomplete=\"one-time-code\""), "{}", otp.body);
    assert!(!b2.cookies.keys().any(|k| k.contains("ward_session")), "no session before the code");
    // The code used at enrollment (same time step) is refused: each step is accepted once.
    let replayed = b2.submit(&s.base(), &otp, &[("code", &app_code(&secret, 0))]).await;
    assert_eq!(replayed.status, 401, "{}", replayed.body);
    // A tampered pending sign-in is refused outright.
    let tampered = b2.submit(&s.base(), &otp, &[("pending", "v1.AAAA"), ("code", &app_code(&secret, 1))]).await;
    assert_eq!(tampered.status, 400);
    // The next step's code (the app is a little ahead): accepted, and the flow goes on.
    let accepted = b2.submit(&s.base(), &otp, &[("code", &app_code(&secret, 1))]).await;
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    let loc = s.follow_to_client(&mut b2, accepted).await;
    assert!(loc.starts_with(NATIVE_REDIRECT), "{loc}");
    let code = code_of(&loc);
    let (status, t) = s.redeem_native(&code).await;
    assert_eq!(status, 200, "{t}");
    let id = s.verify(t["id_token"].as_str().unwrap(), &s.native, "JWT").await;
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]), "{id}");

    // Graph's authentication-methods API shows both methods (never a secret) to an app allowed to.
    let d = s._dir.path();
    let methods_url = format!("{}/v1.0/users/{}/authentication/methods", s.base(), s.upn);
    let form = [("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")];
    let (_, t) = s.token(&form, Some((&s.web, &s.web_secret))).await;
    let r = http().get(&methods_url).bearer_auth(t["access_token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(r.status(), 403, "no permission yet");
    ok(ward(d).args(["app", "grant", &s.web, "UserAuthenticationMethod.Read.All", "--data-dir", "data"]));
    let (_, t) = s.token(&form, Some((&s.web, &s.web_secret))).await;
    let reader = t["access_token"].as_str().unwrap().to_string();
    let methods: serde_json::Value = http().get(&methods_url).bearer_auth(&reader).send().await.unwrap().json().await.unwrap();
    let types: Vec<&str> = methods["value"].as_array().unwrap().iter().map(|m| m["@odata.type"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["#microsoft.graph.passwordAuthenticationMethod", "#microsoft.graph.softwareOathAuthenticationMethod"]);
    assert_eq!(methods["value"][1]["secretKey"], serde_json::Value::Null);
    assert!(!methods.to_string().contains(&secret.replace(' ', "")), "the secret never leaves");
    let oath_id = methods["value"][1]["id"].as_str().unwrap().to_string();
    let one = format!("{}/v1.0/users/{}/authentication/softwareOathMethods/{oath_id}", s.base(), s.upn);
    assert_eq!(http().get(&one).bearer_auth(&reader).send().await.unwrap().status(), 200);
    assert_eq!(http().delete(&one).bearer_auth(&reader).send().await.unwrap().status(), 403, "reading is not removing");

    // Removed, the app is no longer asked for.
    let page = b.get(&portal).await;
    let removed = b.submit(&s.base(), &page, &[]).await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert!(b.get(&portal).await.body.contains("You sign in with your password only."));
    let mut b3 = Browser::new();
    let page = b3.get(&authorize).await;
    let after = b3.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!(after.status, 303, "password only again: {}", after.body);
}

/// The tenant's password policy, a forced change at the first sign-in (before any code is issued),
/// and changing one's own password from "My security info".
#[tokio::test]
async fn password_policy_forced_change_and_self_service_change() {
    let s = setup();
    let d = s._dir.path();
    ok(ward(d).args(["tenant", "set", "--banned-password-words", "Contoso,Fabrikam", "--data-dir", "data"]));
    // A password built on a banned word, or on a common one, is refused wherever it is set.
    std::fs::write(d.join("weak"), "Fabr1kam!26\n").unwrap();
    let refused = ward(d)
        .args([
            "user",
            "create",
            "--upn",
            "weak@defaultdirectory.ward.local",
            "--display-name",
            "Weak",
            "--password-file",
            "weak",
            "--data-dir",
            "data",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "a banned word");
    std::fs::write(d.join("first"), "Initial-Glacier-Otter-7\n").unwrap();
    ok(ward(d).args([
        "user",
        "create",
        "--upn",
        "newbie@defaultdirectory.ward.local",
        "--display-name",
        "Nora Newbie",
        "--password-file",
        "first",
        "--force-change-password",
        "--data-dir",
        "data",
    ]));

    // Signing in to an application: the password works, then the change comes before any code.
    let mut b = Browser::new();
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid", true);
    let page = b.get(&authorize).await;
    let page =
        b.submit(&s.base(), &page, &[("username", "newbie@defaultdirectory.ward.local"), ("password", "Initial-Glacier-Otter-7")]).await;
    assert_eq!(page.status, 303);
    let page = b.get(&format!("{}{}", s.base(), page.location.unwrap())).await;
    let change = page.location.clone().expect("sent to change the password");
    assert!(change.starts_with(&format!("/{}/changepassword?continue=", s.tid)), "{change}");
    let form = b.get(&format!("{}{change}", s.base())).await;
    assert!(form.body.contains("asks you to choose a new password"), "{}", form.body);
    // Refused: mismatch, wrong current, the user's own name, a common password.
    let fill = |current: &str, new: &str, confirm: &str| {
        vec![("current", current.to_string()), ("new", new.to_string()), ("confirm", confirm.to_string())]
    };
    for (fields, status) in [
        (fill("Initial-Glacier-Otter-7", "Brand-New-Lantern-5", "Brand-New-Lantern-6"), 422),
        (fill("wrong", "Brand-New-Lantern-5", "Brand-New-Lantern-5"), 401),
        (fill("Initial-Glacier-Otter-7", "Newbie!6X", "Newbie!6X"), 422),
        (fill("Initial-Glacier-Otter-7", "Password1!", "Password1!"), 422),
    ] {
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = b.submit(&s.base(), &form, &refs).await;
        assert_eq!(r.status, status, "{fields:?}: {}", r.body);
    }
    let done = b
        .submit(
            &s.base(),
            &form,
            &[("current", "Initial-Glacier-Otter-7"), ("new", "Brand-New-Lantern-5"), ("confirm", "Brand-New-Lantern-5")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    // Back to the application: now the flow goes on (consent, then the code).
    let loc = s.follow_to_client(&mut b, done).await;
    assert!(loc.contains("code="), "{loc}");
    // The old password no longer works; the new one does.
    let mut b2 = Browser::new();
    let page = b2.get(&authorize).await;
    let old =
        b2.submit(&s.base(), &page, &[("username", "newbie@defaultdirectory.ward.local"), ("password", "Initial-Glacier-Otter-7")]).await;
    assert_eq!(old.status, 401);
    let new = b2.submit(&s.base(), &page, &[("username", "newbie@defaultdirectory.ward.local"), ("password", "Brand-New-Lantern-5")]).await;
    assert_eq!(new.status, 303);
}

/// "My security info" lists recent sign-ins, and "Sign out everywhere" ends every session and
/// every application's refresh token at once.
#[tokio::test]
async fn recent_sign_ins_and_sign_out_everywhere() {
    let s = setup();
    let portal = format!("{}/{}/mysecurityinfo", s.base(), s.tid);
    // Browser A signs in to an application (a refresh token), browser B to the portal.
    let mut a = Browser::new();
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid offline_access", true);
    let code = s.sign_in(&mut a, &authorize, NATIVE_REDIRECT).await;
    let (status, t) = s.redeem_native(&code).await;
    assert_eq!(status, 200, "{t}");
    let refresh = t["refresh_token"].as_str().unwrap().to_string();
    let mut b = Browser::new();
    let page = b.get(&portal).await;
    b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    let page = b.get(&portal).await;
    assert!(page.body.contains("Recent sign-ins"), "{}", page.body);
    assert_eq!(page.body.matches("<tr><td><time").count(), 2, "{}", page.body);
    assert!(page.body.contains(">this browser<") && page.body.contains(">active<"), "{}", page.body);

    // A signs out everywhere from its portal page.
    let page = a.get(&portal).await;
    let (action, _) = page.form();
    assert!(action.ends_with("/mysecurityinfo/remove") || action.ends_with("/signouteverywhere"), "{action}");
    let form_start = page.body.find("signouteverywhere").unwrap();
    let only_that =
        Page { status: 200, location: None, csp: None, body: page.body[page.body[..form_start].rfind("<form").unwrap()..].to_string() };
    let done = a.submit(&s.base(), &only_that, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    // Both browsers are signed out, and the application's refresh token is dead.
    assert!(a.get(&portal).await.body.contains("name=\"username\""));
    assert!(b.get(&portal).await.body.contains("name=\"username\""));
    let (status, e) = s.token(&[("grant_type", "refresh_token"), ("client_id", &s.native), ("refresh_token", &refresh)], None).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
}

/// A Temporary Access Pass lets a person without a password sign in, once, and counts as a strong
/// sign-in; the pass is shown only when issued.
#[tokio::test]
async fn temporary_access_pass_signs_in_a_passwordless_user_once() {
    let s = setup();
    let d = s._dir.path();
    let upn = "pat@defaultdirectory.ward.local";
    ok(ward(d).args(["user", "create", "--upn", upn, "--display-name", "Pat Passwordless", "--data-dir", "data"]));
    ok(ward(d).args(["app", "grant", &s.web, "UserAuthenticationMethod.ReadWrite.All", "--data-dir", "data"]));
    let form = [("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")];
    let (_, t) = s.token(&form, Some((&s.web, &s.web_secret))).await;
    let admin = t["access_token"].as_str().unwrap().to_string();
    let taps = format!("{}/v1.0/users/{upn}/authentication/temporaryAccessPassMethods", s.base());
    let bad = http().post(&taps).bearer_auth(&admin).json(&serde_json::json!({ "lifetimeInMinutes": 5 })).send().await.unwrap();
    assert_eq!(bad.status(), 400, "under Entra's ten minutes");
    let r = http()
        .post(&taps)
        .bearer_auth(&admin)
        .json(&serde_json::json!({ "lifetimeInMinutes": 60, "isUsableOnce": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let issued: serde_json::Value = r.json().await.unwrap();
    let pass = issued["temporaryAccessPass"].as_str().unwrap().to_string();
    assert_eq!(pass.len(), 16);
    assert_eq!(issued["isUsable"], true);
    let listed: serde_json::Value = http().get(&taps).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["value"][0]["temporaryAccessPass"], serde_json::Value::Null, "shown only when issued");

    // The pass in the password field: signed in, strongly.
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid", true);
    let mut b = Browser::new();
    let page = b.get(&authorize).await;
    let wrong = b.submit(&s.base(), &page, &[("username", upn), ("password", "not-the-pass-000")]).await;
    assert_eq!(wrong.status, 401);
    let signed = b.submit(&s.base(), &page, &[("username", upn), ("password", &pass)]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let loc = s.follow_to_client(&mut b, signed).await;
    let code = code_of(&loc);
    let (status, t) = s.redeem_native(&code).await;
    assert_eq!(status, 200, "{t}");
    let id = s.verify(t["id_token"].as_str().unwrap(), &s.native, "JWT").await;
    assert_eq!(id["amr"], serde_json::json!(["tap", "mfa"]));
    // Used once: gone.
    let mut b2 = Browser::new();
    let page = b2.get(&authorize).await;
    let again = b2.submit(&s.base(), &page, &[("username", upn), ("password", &pass)]).await;
    assert_eq!(again.status, 401, "a one-time pass works once");
    let listed: serde_json::Value = http().get(&taps).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["value"], serde_json::json!([]));
}

#[tokio::test]
async fn username_first_then_the_password_and_no_name_can_be_probed_unless_the_tenant_allows() {
    let s = setup();
    let d = s._dir.path();
    let authorize = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid", true);
    let mut b = Browser::new();
    let first = b.get(&authorize).await;
    assert_eq!(first.status, 200);
    assert!(first.body.contains(">Next</button>") && !first.body.contains("type=\"password\""), "{}", first.body);
    // The name alone: the password page, for a real name and a made-up one alike (nothing looked up).
    let second = b.submit(&s.base(), &first, &[("username", &s.upn)]).await;
    assert_eq!(second.status, 200);
    assert!(second.body.contains(&format!("<strong id=\"signing-in-as\">{}</strong>", s.upn)), "{}", second.body);
    assert!(second.body.contains("type=\"password\""));
    let nobody = b.submit(&s.base(), &first, &[("username", "nobody@defaultdirectory.ward.local")]).await;
    assert_eq!(nobody.status, 200);
    let strip = |body: &str, name: &str| body.replace(name, "NAME").split("csrf_token\" value=\"").next().unwrap().to_string();
    assert_eq!(strip(&second.body, &s.upn), strip(&nobody.body, "nobody@defaultdirectory.ward.local"), "the same page for any name");
    let empty = b.submit(&s.base(), &first, &[("username", " ")]).await;
    assert_eq!(empty.status, 400);
    // A wrong password keeps the name; the right one signs in.
    let wrong = b.submit(&s.base(), &second, &[("password", "not-it")]).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("signing-in-as") && wrong.body.contains("role=\"alert\""), "{}", wrong.body);
    let signed = b.submit(&s.base(), &wrong, &[("password", PASSWORD)]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    // An app's login_hint skips the first page; "Use another account" drops the hint.
    let hinted = format!("{authorize}&login_hint={}", s.upn.replace('@', "%40"));
    let page = Browser::new().get(&hinted).await;
    assert!(page.body.contains("signing-in-as"), "{}", page.body);
    let other = between(&page.body, "<a href=\"", "\">Use another account");
    assert!(other.contains("/oauth2/v2.0/authorize?") && !other.contains("login_hint"), "{other}");

    // A tenant that prefers usability: an unknown name is said to be unknown, and a passwordless
    // account is offered its passkey, not a password field.
    ok(ward(d).args(["tenant", "set", "--sign-in-reveals-accounts", "true", "--data-dir", "data"]));
    let mut b = Browser::new();
    let first = b.get(&authorize).await;
    let unknown = b.submit(&s.base(), &first, &[("username", "nobody@defaultdirectory.ward.local")]).await;
    assert_eq!(unknown.status, 401);
    assert!(unknown.body.contains("couldn&#39;t find an account"), "{}", unknown.body);
    let known = b.submit(&s.base(), &first, &[("username", &s.upn)]).await;
    assert_eq!(known.status, 200);
    assert!(known.body.contains("type=\"password\"") && !known.body.contains("passkey-signin"), "password only: {}", known.body);
}

#[tokio::test]
async fn a_device_sign_in_asks_for_the_authenticator_code_too() {
    let s = setup();
    // Megan adds an authenticator app (its code of this time step).
    let portal = format!("{}/{}/mysecurityinfo", s.base(), s.tid);
    let mut b = Browser::new();
    let page = b.get(&portal).await;
    b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    let page = b.get(&format!("{portal}/authenticator")).await;
    let secret = between(&page.body, "<code id=\"secret\">", "</code>").to_string();
    assert_eq!(b.submit(&s.base(), &page, &[("code", &app_code(&secret, 0))]).await.status, 303);

    // A device asks for a sign-in; on the phone, the password is not enough: the code page follows.
    let r = http()
        .post(s.url("/oauth2/v2.0/devicecode"))
        .form(&[("client_id", s.native.as_str()), ("scope", "openid profile")])
        .send()
        .await
        .unwrap();
    let start: Value = r.json().await.unwrap();
    let verification = start["verification_uri"].as_str().unwrap().replace("localhost", "127.0.0.1");
    let mut phone = Browser::new();
    let page = phone.get(&verification).await;
    let otp = phone.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!(otp.status, 200);
    assert!(otp.body.contains("autocomplete=\"one-time-code\""), "{}", otp.body);
    let wrong = phone.submit(&s.base(), &otp, &[("code", "000000")]).await;
    assert_eq!(wrong.status, 401);
    let signed = phone.submit(&s.base(), &otp, &[("code", &app_code(&secret, 1))]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let entry = phone.get(&format!("{}{}", s.base(), signed.location.unwrap())).await;
    assert!(entry.body.contains("<label for=\"user_code\">"), "{}", entry.body);
    let confirm = phone.submit(&s.base(), &entry, &[("user_code", start["user_code"].as_str().unwrap())]).await;
    let done = phone.submit(&s.base(), &confirm, &[("decision", "approve")]).await;
    assert!(done.body.contains("You have signed in on your device"), "{}", done.body);
    let poll = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", s.native.as_str()),
        ("device_code", start["device_code"].as_str().unwrap()),
    ];
    let (status, t) = s.token(&poll, None).await;
    assert_eq!(status, 200, "{t}");
    let id = s.verify(t["id_token"].as_str().unwrap(), &s.native, "JWT").await;
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]), "{id}");
}
