//! What the OpenID Connect and sign-in-method tests share: a Ward with a person, a native and a
//! web app; a browser that keeps cookies and follows nothing by itself; the code flow's helpers.

use super::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

pub const PASSWORD: &str = "Corr3ct-Horse-Battery";
pub const NATIVE_REDIRECT: &str = "http://127.0.0.1/native-callback";
pub const WEB_REDIRECT: &str = "http://localhost:8400/signin-oidc";
pub const VERIFIER: &str = "x8WwXJ7-tQkL0pN3vR6sU9yZ2bE5hK8mP1qT4wA7dG0jF3c";

pub struct Setup {
    pub _dir: tempfile::TempDir,
    pub server: Server,
    pub tid: String,
    pub upn: String,
    pub native: String,
    pub web: String,
    /// The web app's service principal (object id).
    pub web_sp: String,
    pub web_secret: String,
    pub admin: (String, String),
}

pub fn cli(d: &Path, args: &[&str]) -> Value {
    json(&ok(ward(d).args(args).args(["--data-dir", "data"])))
}

pub fn setup() -> Setup {
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
        web_sp: web["servicePrincipalId"].as_str().unwrap().to_string(),
        web_secret: secret["secretText"].as_str().unwrap().to_string(),
        admin: (init["admin_upn"].as_str().unwrap().to_string(), init["admin_password"].as_str().unwrap().to_string()),
    }
}

/// A person's browser: keeps cookies, follows nothing by itself.
pub struct Browser {
    pub client: reqwest::Client,
    pub cookies: HashMap<String, String>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub csp: Option<String>,
}

impl Page {
    /// The page's (one) form: its action and fields.
    pub fn form(&self) -> (String, Vec<(String, String)>) {
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

pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

impl Browser {
    pub fn new() -> Browser {
        let client = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { client, cookies: HashMap::new() }
    }

    /// A browser whose requests come through a trusted proxy from `address`, with Firefox's
    /// user agent (the proxy's `X-Forwarded-For`).
    pub fn from_address(address: &str) -> Browser {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", address.parse().unwrap());
        headers.insert("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0".parse().unwrap());
        let client =
            reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).default_headers(headers).build().unwrap();
        Browser { client, cookies: HashMap::new() }
    }

    pub async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
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

    pub async fn get(&mut self, url: &str) -> Page {
        let req = self.client.get(url);
        self.send(req).await
    }

    pub async fn submit(&mut self, base: &str, page: &Page, fill: &[(&str, &str)]) -> Page {
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
    pub fn base(&self) -> String {
        format!("http://{}", self.server.addr)
    }
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}{path}", self.base(), self.tid)
    }
    pub fn authorize_url(&self, client: &str, redirect: &str, scope: &str, pkce: bool) -> String {
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
    pub async fn sign_in(&self, b: &mut Browser, authorize: &str, redirect: &str) -> String {
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

    /// Signs `b` in to "My security info" and adds an authenticator app (its code of time step 0
    /// proves it); returns the app's secret, for [`app_code`] with later steps.
    pub async fn enroll_authenticator(&self, b: &mut Browser) -> String {
        let portal = format!("{}/{}/mysecurityinfo", self.base(), self.tid);
        let page = b.get(&portal).await;
        let page = b.submit(&self.base(), &page, &[("username", &self.upn), ("password", PASSWORD)]).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let page = b.get(&format!("{portal}/authenticator")).await;
        let secret = between(&page.body, "<code id=\"secret\">", "</code>").to_string();
        let done = b.submit(&self.base(), &page, &[("code", &app_code(&secret, 0)), ("name", "phone")]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        secret
    }

    /// Grants the web app one of Graph's application permissions (the CLI, beside the server).
    pub fn grant_web(&self, permission: &str) {
        ok(ward(self._dir.path()).args(["app", "grant", &self.web, permission, "--data-dir", "data"]));
    }

    /// The web app's app-only Graph token, with whatever it was granted so far.
    pub async fn web_app_token(&self) -> String {
        let form = [("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")];
        let (status, t) = self.token(&form, Some((&self.web, &self.web_secret))).await;
        assert_eq!(status, 200, "{t}");
        t["access_token"].as_str().unwrap().to_string()
    }

    /// GETs `path_and_query` from the server with a bearer token, as JSON.
    pub async fn get_json(&self, path_and_query: &str, token: &str) -> Value {
        http().get(format!("{}{path_and_query}", self.base())).bearer_auth(token).send().await.unwrap().json().await.unwrap()
    }

    /// A device asks the native app's sign-in with `scope`: the device authorization answer.
    pub async fn device_start(&self, scope: &str) -> Value {
        let r = http()
            .post(self.url("/oauth2/v2.0/devicecode"))
            .form(&[("client_id", self.native.as_str()), ("scope", scope)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// The device's poll of the token endpoint with the code from [`Setup::device_start`].
    pub async fn device_poll(&self, start: &Value) -> (u16, Value) {
        let poll = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", self.native.as_str()),
            ("device_code", start["device_code"].as_str().unwrap()),
        ];
        self.token(&poll, None).await
    }

    /// Follows a signed-in browser from `page` (a redirect) through any consent to the native
    /// client's redirect URI; returns that URI with its query.
    pub async fn follow_to_client(&self, b: &mut Browser, mut page: Page) -> String {
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
    pub async fn redeem_native(&self, code: &str) -> (u16, Value) {
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", self.native.as_str()),
            ("code", code),
            ("redirect_uri", NATIVE_REDIRECT),
            ("code_verifier", VERIFIER),
        ];
        self.token(&form, None).await
    }

    pub async fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> (u16, Value) {
        let mut req = http().post(self.url("/oauth2/v2.0/token")).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    pub async fn verify(&self, token: &str, audience: &str, typ: &str) -> Value {
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

/// The `code` parameter of a redirect to a client.
/// A Graph call with a bearer token: the status and the JSON answer (`null` when empty).
pub async fn call(s: &Setup, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = http().request(method.parse().unwrap(), format!("{}{path}", s.base())).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
}

pub fn code_of(location: &str) -> String {
    let q: Vec<(String, String)> = serde_urlencoded::from_str(location.split_once('?').map_or("", |(_, q)| q)).unwrap();
    q.into_iter().find(|(k, _)| k == "code").map(|(_, v)| v).unwrap_or_else(|| panic!("no code in {location}"))
}

/// The code an authenticator app would show now for a secret in base32 (as the page shows it).
pub fn app_code(secret_base32: &str, offset_steps: i64) -> String {
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
pub fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start} in {text}")) + start.len();
    &text[from..from + text[from..].find(end).unwrap()]
}
