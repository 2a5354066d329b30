//! The person-facing half of OpenID Connect: discovery, the authorization endpoint with its
//! sign-in and consent pages, sign-out; and the client-facing endpoints that go with them:
//! UserInfo, introspection (RFC 7662) and revocation (RFC 7009).
//!
//! Pages are plain HTML forms. Every form carries a CSRF token: an HMAC, under a key derived from
//! the key-encryption key, of the form's purpose and a random anti-forgery cookie (SameSite=Lax,
//! HttpOnly). Redirects go only to redirect URIs registered for the client, or to Ward's own
//! authorize URL of the same tenant.

// Helpers here return a ready `Response` as their error, for the handler to send as is.
#![allow(clippy::result_large_err)]

use crate::AppState;
use crate::oauth::{client_auth, form_params, no_store_json, oauth_error, reply};
use crate::pages::{escape, page};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use ward_auth::OAuthError;
use ward_auth::authorize::{AuthorizeFailure, AuthorizeOutcome, ValidAuthorize};
use ward_auth::signin::SignInError;
use ward_core::store::StoredSession;
use ward_core::user::User;

pub(crate) const SESSION_COOKIE: &str = "ward_session";
pub(crate) const CSRF_COOKIE: &str = "ward_csrf";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(discovery))
        .route("/{tenant}/.well-known/openid-configuration", get(discovery))
        .route("/{tenant}/consent", post(consent))
        .route("/{tenant}/oauth2/v2.0/logout", get(logout).post(logout_confirmed))
        .route("/oidc/userinfo", get(userinfo).post(userinfo))
        .route("/{tenant}/oauth2/deviceauth", get(device_page))
        .route("/{tenant}/oauth2/deviceauth/confirm", post(device_confirmed))
}

/// The routes that check passwords, secrets or guessable codes, or that may look through the
/// tenant's registrations (authorize resolves resources named by identifier URI): behind the
/// per-address limit.
pub fn limited_routes() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/{tenant}/login", post(login))
        .route("/{tenant}/oauth2/v2.0/introspect", post(introspect))
        .route("/{tenant}/oauth2/v2.0/revoke", post(revoke))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(devicecode))
        .route("/{tenant}/oauth2/deviceauth", post(device_code_entered))
}

async fn discovery(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    let t = match state.directory.resolve_tenant(&tenant).await {
        Ok(t) => t,
        Err(e) if e.code() == ward_core::ErrorCode::NotFound => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_tenant",
                &format!("Tenant '{}' not found.", ward_core::validate::clip(&tenant)),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "tenant look-up failed");
            return oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "The directory is unavailable.");
        }
    };
    let base = &state.public_url;
    let tid = t.id;
    let doc = json!({
        "issuer": state.tokens.issuer(&t),
        "authorization_endpoint": format!("{base}/{tid}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/{tid}/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/{tid}/discovery/v2.0/keys"),
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "end_session_endpoint": format!("{base}/{tid}/oauth2/v2.0/logout"),
        "introspection_endpoint": format!("{base}/{tid}/oauth2/v2.0/introspect"),
        "revocation_endpoint": format!("{base}/{tid}/oauth2/v2.0/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "device_authorization_endpoint": format!("{base}/{tid}/oauth2/v2.0/devicecode"),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "auth_time", "nonce", "amr", "acr", "sid", "oid", "tid", "name", "preferred_username", "given_name", "family_name", "email", "ver"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "request_uri_parameter_supported": false,
        "request_parameter_supported": false,
        "claims_parameter_supported": false,
        "frontchannel_logout_supported": false,
        "tenant_region_scope": null,
        "cloud_instance_name": base.trim_start_matches("https://").trim_start_matches("http://"),
    });
    ([(header::CACHE_CONTROL, "public, max-age=3600")], axum::Json(doc)).into_response()
}

/// A cookie of Ward's. Over https its name carries the `__Host-` prefix (RFC 6265bis §4.1.3.2:
/// Secure, Path=/, no Domain), so a sibling subdomain or a plain-HTTP attacker cannot plant one;
/// the unprefixed name is then not read at all.
pub(crate) fn cookie<'a>(state: &AppState, headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let name = cookie_name(state, name);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name.as_str())
        .map(|(_, v)| v)
}

pub(crate) fn cookie_name(state: &AppState, name: &str) -> String {
    if state.public_url.starts_with("https://") { format!("__Host-{name}") } else { name.to_string() }
}

pub(crate) fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let secure = if state.public_url.starts_with("https://") { "; Secure" } else { "" };
    let name = cookie_name(state, name);
    let age = max_age.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}{age}")).unwrap_or(HeaderValue::from_static(""))
}

/// The anti-forgery cookie: the request's, or a fresh one to set.
pub(crate) fn csrf_binding(state: &AppState, headers: &HeaderMap) -> (String, bool) {
    match cookie(state, headers, CSRF_COOKIE).filter(|v| v.len() == 43) {
        Some(v) => (v.to_string(), false),
        None => (ward_auth::crypto::random_handle().unwrap_or_default(), true),
    }
}

/// Where a form may send the browser after it posts: Ward itself and the client's redirect URI
/// (browsers apply `form-action` to the redirects that follow a submission).
pub(crate) fn form_csp(redirect_uri: &str) -> HeaderValue {
    let origin = url::Url::parse(redirect_uri)
        .ok()
        .map(|u| match u.scheme() {
            "http" | "https" => u.origin().ascii_serialization(),
            scheme => format!("{scheme}:"),
        })
        .filter(|o| o.bytes().all(|b| b.is_ascii_graphic() && b != b';' && b != b','))
        .unwrap_or_default();
    HeaderValue::from_str(&format!("default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self' {origin}"))
        .unwrap_or(HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"))
}

pub(crate) fn html(status: StatusCode, title: &str, body: &str) -> Response {
    (status, Html(page(title, body))).into_response()
}

/// A page that says what went wrong, with what support needs to find it in the logs: the request
/// (correlation) id, which is also the `request-id` header and the `request_id` of the log line,
/// and the time.
pub(crate) fn error_page(status: u16, title: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let when = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    let details = match (crate::layers::current_request_id(), when) {
        (Some(id), Some(when)) => format!(
            "<details><summary>Details for your administrator</summary><dl><dt>Correlation ID</dt><dd><code id=\"correlation-id\">{}</code></dd>\
<dt>Time (UTC)</dt><dd><time datetime=\"{when}\">{when}</time></dd></dl></details>",
            escape(&id)
        ),
        _ => String::new(),
    };
    html(status, title, &format!("<p role=\"alert\" class=\"error\">{}</p>{details}", escape(message)))
}

pub(crate) fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => error_page(400, "We can't sign you in", "The redirect URI cannot be used."),
    }
}

fn failure(f: AuthorizeFailure) -> Response {
    match f {
        AuthorizeFailure::Page(p) => error_page(p.status, p.title, &p.message),
        AuthorizeFailure::Redirect(r) => redirect(&r.location()),
    }
}

fn query_params(query: Option<&str>) -> Result<Vec<(String, String)>, Response> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or(""))
        .ok()
        .filter(|p| p.len() <= crate::oauth::MAX_PARAMS)
        .ok_or_else(|| error_page(400, "We can't sign you in", "The request's query is not valid."))
}

/// The authorize URL to come back to after signing in or consenting, minus what was just done
/// (`prompt=login`, `max_age` after a sign-in; `prompt=consent` after consent).
fn continue_url(tenant: &str, params: &[(String, String)], drop_prompt: bool) -> String {
    let kept: Vec<&(String, String)> = params.iter().filter(|(k, _)| !(drop_prompt && (k == "prompt" || k == "max_age"))).collect();
    format!("/{tenant}/oauth2/v2.0/authorize?{}", serde_urlencoded::to_string(kept).unwrap_or_default())
}

/// Accepts only this tenant's authorize URL as a place to go back to: never an open redirect.
pub(crate) fn parse_continue(tenant: &str, value: &str) -> Option<Vec<(String, String)>> {
    let query = value.strip_prefix(&format!("/{tenant}/oauth2/v2.0/authorize?"))?;
    serde_urlencoded::from_str(query).ok()
}

async fn current_session(state: &AppState, req: &ValidAuthorize, headers: &HeaderMap) -> Result<Option<(StoredSession, User)>, Response> {
    match cookie(state, headers, SESSION_COOKIE) {
        Some(c) => state.tokens.session(&req.tenant, c).await.map_err(|e| error_page(e.status, "We can't sign you in", &e.description)),
        None => Ok(None),
    }
}

async fn authorize(State(state): State<AppState>, Path(tenant): Path<String>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let params = match query_params(query.as_deref()) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let req = match state.tokens.validate_authorize(&tenant, &params).await {
        Ok(r) => r,
        Err(f) => return failure(f),
    };
    let session = match current_session(&state, &req, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    // No code for a person who must first choose a new password.
    if session.as_ref().is_some_and(|(_, u)| u.force_change_password_next_sign_in) {
        let here = continue_url(&tenant, &params, true);
        return (StatusCode::SEE_OTHER, [(header::LOCATION, crate::mfa_pages::change_password_url(&tenant, &here))]).into_response();
    }
    match state.tokens.authorize(&req, session.as_ref()).await {
        Ok(AuthorizeOutcome::Redirect(location)) => redirect(&location),
        Ok(AuthorizeOutcome::SignIn) => sign_in_page(&state, &tenant, &req, &params, &headers, None, StatusCode::OK),
        Ok(AuthorizeOutcome::Consent { ask, admin, for_organization }) => {
            let session_id = session.as_ref().map(|(s, _)| s.id).unwrap_or_default();
            consent_page(&state, &tenant, &req, &params, &headers, &ask, &admin, for_organization, session_id)
        }
        Err(f) => failure(f),
    }
}

fn sign_in_page(
    state: &AppState,
    tenant: &str,
    req: &ValidAuthorize,
    params: &[(String, String)],
    headers: &HeaderMap,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let form = SignInForm {
        tenant,
        app: Some(&req.app.display_name),
        org: &req.tenant,
        cont: &continue_url(tenant, params, true),
        hint: req.login_hint.as_deref().unwrap_or(""),
        error,
        status,
        csp: form_csp(&req.redirect_uri),
    };
    sign_in_form(state, headers, form)
}

pub(crate) struct SignInForm<'a> {
    pub(crate) tenant: &'a str,
    pub(crate) app: Option<&'a str>,
    pub(crate) org: &'a ward_core::tenant::Tenant,
    pub(crate) cont: &'a str,
    /// The username: empty on the first page (which asks for it), given on the second.
    pub(crate) hint: &'a str,
    pub(crate) error: Option<&'a str>,
    pub(crate) status: StatusCode,
    pub(crate) csp: HeaderValue,
}

/// What the second page offers when the tenant lets sign-in reveal accounts: the methods this
/// account has. Without it, every name gets the same page (password, or a passkey).
#[derive(Clone, Copy, Default)]
pub(crate) struct AccountMethods {
    pub(crate) password: bool,
    pub(crate) passkey: bool,
}

/// Where "Use another account" goes: the same continuation, without the username an app suggested.
fn other_account_url(tenant: &str, cont: &str) -> String {
    match parse_continue(tenant, cont) {
        Some(params) => {
            let kept: Vec<(String, String)> = params.into_iter().filter(|(k, _)| k != "login_hint").collect();
            format!("/{tenant}/oauth2/v2.0/authorize?{}", serde_urlencoded::to_string(kept).unwrap_or_default())
        }
        None => cont.to_string(),
    }
}

/// The sign-in pages, username first: the first asks for the name (or a passkey, which needs none);
/// the second, for the password of that name (or its passkey). A form that posts both at once (a
/// password manager's, or a script's) is answered as the second.
pub(crate) fn sign_in_form(state: &AppState, headers: &HeaderMap, f: SignInForm<'_>) -> Response {
    sign_in_form_with(state, headers, f, None)
}

pub(crate) fn sign_in_form_with(state: &AppState, headers: &HeaderMap, f: SignInForm<'_>, methods: Option<AccountMethods>) -> Response {
    let (binding, fresh) = csrf_binding(state, headers);
    let token = state.tokens.csrf_token("signin", &binding);
    let error = f.error.map(|e| format!("<p role=\"alert\" class=\"error\" id=\"error\">{}</p>", escape(e))).unwrap_or_default();
    let described = if error.is_empty() { "" } else { " aria-describedby=\"error\"" };
    let to = f.app.map(|a| format!("<p>to continue to <strong>{}</strong></p>", escape(a))).unwrap_or_default();
    let branding = &f.org.settings.branding;
    let tenant = escape(f.tenant);
    let cont = escape(f.cont);
    let methods = methods.unwrap_or(AccountMethods { password: true, passkey: true });
    let passkey_label = if f.hint.is_empty() || !methods.password { "Sign in with a passkey" } else { "Sign in with a passkey instead" };
    let passkey = if methods.passkey {
        format!(
            "<p role=\"alert\" class=\"error\" id=\"passkey-error\" hidden></p>\
<button type=\"button\" class=\"secondary\" id=\"passkey-signin\" hidden data-tenant=\"{tenant}\" data-csrf=\"{token}\" data-continue=\"{cont}\">{passkey_label}</button>"
        )
    } else {
        String::new()
    };
    let form = if f.hint.is_empty() {
        format!(
            "<form method=\"post\" action=\"/{tenant}/login\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\
<input type=\"hidden\" name=\"continue\" value=\"{cont}\">\
<label for=\"username\">Username</label>\
<input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username webauthn\" autocapitalize=\"none\" spellcheck=\"false\" required autofocus{placeholder}{described}>\
<button type=\"submit\">Next</button></form>",
            placeholder = branding.username_hint_text.as_deref().map(|h| format!(" placeholder=\"{}\"", escape(h))).unwrap_or_default(),
        )
    } else {
        let secret = if methods.password {
            format!(
                "<label for=\"password\">Password</label>\
<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required autofocus{described}>\
<p><input type=\"checkbox\" id=\"stay_signed_in\" name=\"stay_signed_in\" value=\"on\"> <label for=\"stay_signed_in\" class=\"inline\">Stay signed in on this device</label></p>\
<button type=\"submit\">Sign in</button>"
            )
        } else {
            "<p>This account has no password. Sign in with its passkey.</p>".to_string()
        };
        format!(
            "<p>Signing in as <strong id=\"signing-in-as\">{hint}</strong>. <a href=\"{other}\">Use another account</a></p>\
<form method=\"post\" action=\"/{tenant}/login\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\
<input type=\"hidden\" name=\"continue\" value=\"{cont}\">\
<input type=\"hidden\" name=\"username\" value=\"{hint}\" autocomplete=\"username\">{secret}</form>",
            hint = escape(f.hint),
            other = escape(&other_account_url(f.tenant, f.cont)),
        )
    };
    let body = format!(
        "{to}{error}{form}{passkey}{text}<p class=\"muted\">Signing in to {org}.</p><script src=\"/static/passkey.js\" defer></script>",
        org = escape(&f.org.display_name),
        text = branding.sign_in_page_text.as_deref().map(|t| format!("<p class=\"brand-text\">{}</p>", escape(t))).unwrap_or_default(),
    );
    let title = if f.hint.is_empty() { "Sign in" } else { "Enter password" };
    let mut response = (f.status, Html(crate::pages::branded_page(title, &body, Some(f.org)))).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, f.csp);
    if fresh {
        h.append(header::SET_COOKIE, set_cookie(state, CSRF_COOKIE, &binding, None));
    }
    response
}

/// The first page answered: the second page for that name. Unless the tenant lets sign-in reveal
/// accounts, nothing is looked up, so every name gets the same page as fast.
async fn username_step(state: &AppState, tenant: &str, headers: &HeaderMap, cont: &str, username: &str) -> Response {
    let username = username.trim();
    let (t, csp, app) = if let Some(params) = parse_continue(tenant, cont) {
        match state.tokens.validate_authorize(tenant, &params).await {
            Ok(req) => ((*req.tenant).clone(), form_csp(&req.redirect_uri), Some(req.app.display_name.clone())),
            Err(f) => return failure(f),
        }
    } else if device_continue(tenant, cont).is_some() || cont == crate::mfa_pages::portal_url(tenant) {
        match state.directory.resolve_tenant(tenant).await {
            Ok(t) => (t, self_only_csp(), None),
            Err(_) => return error_page(400, "We can't sign you in", "This page names no tenant Ward knows."),
        }
    } else {
        return error_page(400, "We can't sign you in", "The sign-in request is not valid.");
    };
    macro_rules! form {
        ($hint:expr, $error:expr, $status:expr) => {
            SignInForm { tenant, app: app.as_deref(), org: &t, cont, hint: $hint, error: $error, status: $status, csp: csp.clone() }
        };
    }
    if username.is_empty() || username.len() > 113 {
        return sign_in_form(state, headers, form!("", Some("Enter your username."), StatusCode::BAD_REQUEST));
    }
    if !t.settings.sign_in_reveals_accounts {
        return sign_in_form(state, headers, form!(username, None, StatusCode::OK));
    }
    let user = match state.directory.user(t.id, username).await {
        Ok(u) => u,
        Err(e) if matches!(e.code(), ward_core::ErrorCode::NotFound | ward_core::ErrorCode::InvalidValue) => {
            let message = "We couldn't find an account with that username. Check it, or use another account.";
            return sign_in_form(state, headers, form!("", Some(message), StatusCode::UNAUTHORIZED));
        }
        Err(_) => return error_page(503, "We can't sign you in", "Ward cannot sign you in right now. Try again shortly."),
    };
    let store = state.directory.store();
    let (Ok(password), Ok(methods)) = (store.credential(t.id, user.id, "password", "").await, store.auth_methods(t.id, user.id).await)
    else {
        return error_page(503, "We can't sign you in", "Ward cannot sign you in right now. Try again shortly.");
    };
    let now = state.directory.now();
    let has = AccountMethods {
        // A Temporary Access Pass is typed where the password goes.
        password: password.is_some() || methods.iter().any(|m| m.kind == ward_auth::mfa::TAP && ward_auth::mfa::tap_usable(m, now)),
        passkey: methods.iter().any(|m| m.kind == ward_auth::passkeys::FIDO2),
    };
    let has = if has.password || has.passkey { has } else { AccountMethods { password: true, passkey: false } };
    sign_in_form_with(state, headers, form!(username, None, StatusCode::OK), Some(has))
}

#[allow(clippy::too_many_arguments)]
fn consent_page(
    state: &AppState,
    tenant: &str,
    req: &ValidAuthorize,
    params: &[(String, String)],
    headers: &HeaderMap,
    ask: &[ward_core::permissions::Scope],
    admin: &[ward_core::permissions::Scope],
    for_organization: bool,
    session_id: uuid::Uuid,
) -> Response {
    let list = |ps: &[ward_core::permissions::Scope]| {
        ps.iter()
            .map(|p| format!("<li>{} <span class=\"muted\">({})</span></li>", escape(&p.description), escape(&p.value)))
            .collect::<String>()
    };
    if !admin.is_empty() {
        let body = format!(
            "<p><strong>{app}</strong> needs permission that only an administrator can grant:</p><ul>{items}</ul>\
<p>Ask an administrator of {org} to grant it (<code>ward app consent</code>), then try again.</p>",
            app = escape(&req.app.display_name),
            items = list(admin),
            org = escape(&req.tenant.display_name),
        );
        return html(StatusCode::FORBIDDEN, "Need admin approval", &body);
    }
    let (binding, fresh) = csrf_binding(state, headers);
    // Bound to the browser's cookie and to this sign-in: a planted cookie alone forges nothing.
    let token = state.tokens.csrf_token(&format!("consent:{session_id}"), &binding);
    let body = format!(
        "<p><strong>{app}</strong> would like to:</p><ul>{items}</ul>\
<p class=\"muted\">Accepting lets this app use your data as its terms and privacy statement describe. You can withdraw it later.</p>\
<form method=\"post\" action=\"/{tenant}/consent\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\
<input type=\"hidden\" name=\"continue\" value=\"{cont}\">\
{org}<button type=\"submit\" name=\"consent\" value=\"accept\">Accept</button>\
<button type=\"submit\" name=\"consent\" value=\"deny\" class=\"secondary\">Cancel</button></form>",
        app = escape(&req.app.display_name),
        items = list(ask),
        tenant = escape(tenant),
        cont = escape(&continue_url(tenant, params, false)),
        org = if for_organization {
            "<p><input type=\"checkbox\" id=\"organization\" name=\"organization\" value=\"on\"> <label for=\"organization\" class=\"inline\">Consent on behalf of your organisation</label></p>"
        } else {
            ""
        },
    );
    let mut response = html(StatusCode::OK, "Permissions requested", &body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, form_csp(&req.redirect_uri));
    if fresh {
        h.append(header::SET_COOKIE, set_cookie(state, CSRF_COOKIE, &binding, None));
    }
    response
}

pub(crate) fn form_fields(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, Response> {
    form_params(headers, body).map_err(|e| error_page(400, "We can't sign you in", &e.description))
}

async fn login(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = match form_fields(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let binding = cookie(&state, &headers, CSRF_COOKIE).unwrap_or("");
    if !state.tokens.check_csrf("signin", binding, get("csrf_token")) {
        return error_page(403, "We can't sign you in", "This form has expired or did not come from this site. Go back and try again.");
    }
    // The first page posts a name only: the second page asks for its password.
    if get("password").is_empty() {
        return username_step(&state, &tenant, &headers, get("continue"), get("username")).await;
    }
    // "Stay signed in": the session cookie outlives the browser, and the session lasts longer.
    let stay = get("stay_signed_in") == "on";
    if let Some(user_code) = device_continue(&tenant, get("continue")) {
        return device_sign_in(&state, &tenant, &headers, (get("username"), get("password"), stay), &user_code).await;
    }
    if get("continue") == crate::mfa_pages::portal_url(&tenant) {
        return crate::mfa_pages::portal_sign_in(&state, &tenant, &headers, get("username"), get("password"), stay).await;
    }
    let Some(params) = parse_continue(&tenant, get("continue")) else {
        return error_page(400, "We can't sign you in", "The sign-in request is not valid.");
    };
    let req = match state.tokens.validate_authorize(&tenant, &params).await {
        Ok(r) => r,
        Err(f) => return failure(f),
    };
    let result = state.tokens.check_password(&req.tenant, get("username"), get("password")).await;
    // Shown again after a failure, the form keeps what the person typed as their name.
    let mut req = req;
    req.login_hint = Some(get("username").to_string());
    match result {
        Ok(checked) => {
            let csp = form_csp(&req.redirect_uri);
            crate::mfa_pages::after_password(&state, &tenant, &req.tenant, checked, &headers, (get("continue"), stay), csp).await
        }
        Err(SignInError::BadCredentials) => sign_in_page(
            &state,
            &tenant,
            &req,
            &params,
            &headers,
            Some("Your username or password is incorrect."),
            StatusCode::UNAUTHORIZED,
        ),
        Err(SignInError::Disabled) => sign_in_page(
            &state,
            &tenant,
            &req,
            &params,
            &headers,
            Some("Your account is disabled. Contact your administrator."),
            StatusCode::FORBIDDEN,
        ),
        Err(SignInError::Locked { until }) => {
            let wait = (until - state.directory.now()).whole_seconds().max(1);
            let mut r = sign_in_page(
                &state,
                &tenant,
                &req,
                &params,
                &headers,
                Some(&format!("Your account is temporarily locked after too many failed attempts. Try again in {wait} seconds.")),
                StatusCode::TOO_MANY_REQUESTS,
            );
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
            r
        }
        Err(SignInError::Unavailable) => error_page(503, "We can't sign you in", "Ward cannot sign you in right now. Try again shortly."),
        // Not answers to a password.
        Err(SignInError::BadCode | SignInError::Expired) => error_page(400, "We can't sign you in", "The sign-in request is not valid."),
    }
}

async fn consent(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = match form_fields(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let binding = cookie(&state, &headers, CSRF_COOKIE).unwrap_or("");
    let Some(params) = parse_continue(&tenant, get("continue")) else {
        return error_page(400, "We can't record your consent", "The request is not valid.");
    };
    let req = match state.tokens.validate_authorize(&tenant, &params).await {
        Ok(r) => r,
        Err(f) => return failure(f),
    };
    let session = match current_session(&state, &req, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return redirect(get("continue")),
        Err(r) => return r,
    };
    if !state.tokens.check_csrf(&format!("consent:{}", session.0.id), binding, get("csrf_token")) {
        return error_page(
            403,
            "We can't record your consent",
            "This form has expired or did not come from this site. Go back and try again.",
        );
    }
    if get("consent") != "accept" {
        let denied = ward_auth::authorize::ErrorRedirect {
            redirect_uri: req.redirect_uri.clone(),
            state: req.state.clone(),
            error: OAuthError::access_denied(65004, "The user declined to consent to access the app."),
        };
        return redirect(&denied.location());
    }
    match state.tokens.authorize(&req, Some(&session)).await {
        Ok(AuthorizeOutcome::Consent { ask, admin, for_organization }) if admin.is_empty() => {
            let everyone = for_organization && get("organization") == "on";
            if let Err(f) = state.tokens.consent(&req, &session.1, &ask, everyone).await {
                return failure(f);
            }
            tracing::info!(tenant = %req.tenant.id, user = %session.1.id, client = %req.app.app_id, for_organization = everyone, "consent recorded");
            redirect(&continue_url(&tenant, &params, false).replace("prompt=consent", "prompt=none"))
        }
        Ok(AuthorizeOutcome::Consent { .. }) => {
            error_page(403, "Need admin approval", "Only an administrator can grant what this app asks.")
        }
        Ok(AuthorizeOutcome::Redirect(location)) => redirect(&location),
        Ok(AuthorizeOutcome::SignIn) => redirect(get("continue")),
        Err(f) => failure(f),
    }
}

/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). With an `id_token_hint` Ward
/// issued for this browser's session, sign-out is immediate; otherwise the person confirms it
/// with a form, so another site cannot sign them out. `post_logout_redirect_uri` is followed
/// only when it is registered for the client the hint names.
async fn logout(State(state): State<AppState>, Path(tenant): Path<String>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let params = match query_params(query.as_deref()) {
        Ok(p) => p,
        Err(r) => return r,
    };
    logout_with(&state, &tenant, &params, &headers, false).await
}

async fn logout_confirmed(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = match form_fields(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let binding = cookie(&state, &headers, CSRF_COOKIE).unwrap_or("");
    let confirmed = state.tokens.check_csrf("logout", binding, get("csrf_token"));
    logout_with(&state, &tenant, &fields, &headers, confirmed).await
}

async fn logout_with(state: &AppState, tenant: &str, params: &[(String, String)], headers: &HeaderMap, confirmed: bool) -> Response {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let t = match state.directory.resolve_tenant(tenant).await {
        Ok(t) => t,
        Err(_) => return error_page(400, "Sign out", "This sign-out request names no tenant Ward knows."),
    };
    let session = match cookie(state, headers, SESSION_COOKIE) {
        Some(c) => state.tokens.session(&t, c).await.ok().flatten(),
        None => None,
    };
    let hint = match get("id_token_hint") {
        Some(h) => state.tokens.id_token_hint(&t, h).await,
        None => None,
    };
    // Where to go after: only a redirect URI registered for the hinted client.
    let back = match (get("post_logout_redirect_uri"), &hint) {
        (Some(uri), Some(h)) if h.app.redirect_platform(uri).is_some() => {
            let mut p = vec![];
            if let Some(s) = get("state") {
                p.push(("state", s.to_string()));
            }
            Some(if p.is_empty() { uri.to_string() } else { ward_auth::authorize::with_query(uri, &p) })
        }
        _ => None,
    };
    let hint_matches = match (&hint, &session) {
        (Some(h), Some((s, _))) => h.session_id == Some(s.id),
        (Some(_), None) => true,
        _ => false,
    };
    if let Some((s, _)) = &session
        && !(hint_matches || confirmed)
    {
        let (binding, fresh) = csrf_binding(state, headers);
        let token = state.tokens.csrf_token("logout", &binding);
        let hidden: String = params
            .iter()
            .filter(|(k, _)| k != "csrf_token")
            .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(k), escape(v)))
            .collect();
        let _ = s;
        let body = format!(
            "<p>Do you want to sign out of Ward? Apps that use your Ward sign-in will ask you to sign in again.</p>\
<form method=\"post\" action=\"/{tenant}/oauth2/v2.0/logout\"><input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">{hidden}\
<button type=\"submit\">Sign out</button></form>",
            tenant = escape(tenant),
        );
        let mut response = html(StatusCode::OK, "Sign out", &body);
        if let Some(uri) = &back {
            response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, form_csp(uri));
        }
        if fresh {
            response.headers_mut().append(header::SET_COOKIE, set_cookie(state, CSRF_COOKIE, &binding, None));
        }
        return response;
    }
    if let Some((s, user)) = &session {
        if let Err(e) = state.tokens.end_session(s).await {
            return error_page(e.status, "Sign out", &e.description);
        }
        tracing::info!(tenant = %t.id, user = %user.id, session = %s.id, "signed out");
    }
    let mut response = match back {
        Some(uri) => redirect(&uri),
        None => html(StatusCode::OK, "You have signed out", "<p>You have signed out of Ward. You can close this window.</p>"),
    };
    response.headers_mut().append(header::SET_COOKIE, set_cookie(state, SESSION_COOKIE, "", Some(0)));
    response
}

async fn introspect(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let params = form_params(&headers, &body)?;
        let client = client_auth(&headers, &params)?;
        let token = params.iter().find(|(k, _)| k == "token").map(|(_, v)| v.as_str());
        state.tokens.introspect(&tenant, client, token).await
    }
    .await;
    match result {
        Ok(v) => no_store_json(v),
        Err(e) => reply(e),
    }
}

async fn revoke(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let params = form_params(&headers, &body)?;
        let client = client_auth(&headers, &params)?;
        let token = params.iter().find(|(k, _)| k == "token").map(|(_, v)| v.as_str());
        state.tokens.revoke(&tenant, client, token).await
    }
    .await;
    match result {
        Ok(()) => no_store_json(json!({})),
        Err(e) => reply(e),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let unauthorized = |error: &str, description: &str| {
        let mut r = (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": error, "error_description": description }))).into_response();
        let challenge =
            if error.is_empty() { "Bearer".to_string() } else { format!("Bearer error=\"{error}\", error_description=\"{description}\"") };
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r
    };
    let Some(token) = bearer(&headers) else { return unauthorized("invalid_request", "A bearer access token is required.") };
    match state.tokens.userinfo(token).await {
        Ok(Some(claims)) => no_store_json(claims),
        Ok(None) => unauthorized("invalid_token", "The access token is invalid, expired or revoked."),
        Err(e) => reply(e),
    }
}

// ---- device authorization (RFC 8628) ------------------------------------------------------

async fn devicecode(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let params = form_params(&headers, &body)?;
        let client = client_auth(&headers, &params)?;
        let scope = params.iter().find(|(k, _)| k == "scope").map(|(_, v)| v.as_str());
        state.tokens.device_authorization(&tenant, client, scope).await
    }
    .await;
    match result {
        Ok(v) => no_store_json(v),
        Err(e) => reply(e),
    }
}

/// The user code a device-page continuation carries (possibly empty), if `value` is one.
pub(crate) fn device_continue(tenant: &str, value: &str) -> Option<String> {
    let rest = value.strip_prefix(&format!("/{tenant}/oauth2/deviceauth"))?;
    if rest.is_empty() {
        return Some(String::new());
    }
    let query = rest.strip_prefix('?')?;
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    Some(params.into_iter().find(|(k, _)| k == "user_code").map(|(_, v)| v).unwrap_or_default())
}

pub(crate) fn device_url(tenant: &str, user_code: &str) -> String {
    if user_code.is_empty() {
        format!("/{tenant}/oauth2/deviceauth")
    } else {
        format!("/{tenant}/oauth2/deviceauth?{}", serde_urlencoded::to_string([("user_code", user_code)]).unwrap_or_default())
    }
}

pub(crate) fn self_only_csp() -> HeaderValue {
    HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
}

async fn device_sign_in(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    (username, password, stay): (&str, &str, bool),
    user_code: &str,
) -> Response {
    let t = match state.directory.resolve_tenant(tenant).await {
        Ok(t) => t,
        Err(_) => return error_page(400, "We can't sign you in", "This page names no tenant Ward knows."),
    };
    let cont = device_url(tenant, user_code);
    let again = |error: &str, status: StatusCode| {
        let form = SignInForm { tenant, app: None, org: &t, cont: &cont, hint: username, error: Some(error), status, csp: self_only_csp() };
        sign_in_form(state, headers, form)
    };
    match state.tokens.check_password(&t, username, password).await {
        Ok(checked) => crate::mfa_pages::after_password(state, tenant, &t, checked, headers, (&cont, stay), self_only_csp()).await,
        Err(SignInError::BadCredentials) => again("Your username or password is incorrect.", StatusCode::UNAUTHORIZED),
        Err(SignInError::Disabled) => again("Your account is disabled. Contact your administrator.", StatusCode::FORBIDDEN),
        Err(SignInError::Locked { until }) => {
            let wait = (until - state.directory.now()).whole_seconds().max(1);
            let mut r = again(
                &format!("Your account is temporarily locked after too many failed attempts. Try again in {wait} seconds."),
                StatusCode::TOO_MANY_REQUESTS,
            );
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
            r
        }
        Err(SignInError::Unavailable) => error_page(503, "We can't sign you in", "Ward cannot sign you in right now. Try again shortly."),
        // Not answers to a password.
        Err(SignInError::BadCode | SignInError::Expired) => error_page(400, "We can't sign you in", "The sign-in request is not valid."),
    }
}

/// The signed-in person on a device page, or the sign-in form that leads back to it.
async fn device_session(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    user_code: &str,
) -> Result<(ward_core::tenant::Tenant, StoredSession, User), Response> {
    let t = state
        .directory
        .resolve_tenant(tenant)
        .await
        .map_err(|_| error_page(400, "Sign in on your device", "This page names no tenant Ward knows."))?;
    let session = match cookie(state, headers, SESSION_COOKIE) {
        Some(c) => state.tokens.session(&t, c).await.map_err(|e| error_page(e.status, "Sign in on your device", &e.description))?,
        None => None,
    };
    match session {
        Some((s, u)) => Ok((t, s, u)),
        None => {
            let cont = device_url(tenant, user_code);
            let form =
                SignInForm { tenant, app: None, org: &t, cont: &cont, hint: "", error: None, status: StatusCode::OK, csp: self_only_csp() };
            Err(sign_in_form(state, headers, form))
        }
    }
}

fn with_csrf_cookie(state: &AppState, mut response: Response, binding: &str, fresh: bool) -> Response {
    if fresh {
        response.headers_mut().append(header::SET_COOKIE, set_cookie(state, CSRF_COOKIE, binding, None));
    }
    response
}

async fn device_page(State(state): State<AppState>, Path(tenant): Path<String>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let params = match query_params(query.as_deref()) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let user_code = params.iter().find(|(k, _)| k == "user_code").map(|(_, v)| v.clone()).unwrap_or_default();
    if let Err(r) = device_session(&state, &tenant, &headers, &user_code).await {
        return r;
    }
    code_entry_page(&state, &tenant, &headers, &user_code, None)
}

fn code_entry_page(state: &AppState, tenant: &str, headers: &HeaderMap, user_code: &str, error: Option<&str>) -> Response {
    let (binding, fresh) = csrf_binding(state, headers);
    let token = state.tokens.csrf_token("device", &binding);
    let error_html = error.map(|e| format!("<p role=\"alert\" class=\"error\" id=\"error\">{}</p>", escape(e))).unwrap_or_default();
    let described = if error.is_some() { " aria-describedby=\"error\"" } else { "" };
    let body = format!(
        "<p>Enter the code shown on your device or app.</p>{error_html}\
<form method=\"post\" action=\"/{tenant}/oauth2/deviceauth\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\
<label for=\"user_code\">Code</label>\
<input id=\"user_code\" name=\"user_code\" type=\"text\" autocomplete=\"one-time-code\" autocapitalize=\"characters\" spellcheck=\"false\" required value=\"{code}\"{described}>\
<button type=\"submit\">Next</button></form>",
        tenant = escape(tenant),
        code = escape(user_code),
    );
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    with_csrf_cookie(state, html(status, "Sign in on your device", &body), &binding, fresh)
}

async fn device_code_entered(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = match form_fields(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let binding = cookie(&state, &headers, CSRF_COOKIE).unwrap_or("");
    if !state.tokens.check_csrf("device", binding, get("csrf_token")) {
        return error_page(403, "Sign in on your device", "This form has expired or did not come from this site. Go back and try again.");
    }
    let (t, session, _) = match device_session(&state, &tenant, &headers, get("user_code")).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let pending = match state.tokens.pending_device(&t, &session, get("user_code")).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return code_entry_page(
                &state,
                &tenant,
                &headers,
                get("user_code"),
                Some("That code is not valid, or it has expired. Check it and try again."),
            );
        }
        Err(e) => return error_page(e.status, "Sign in on your device", &e.description),
    };
    let (binding, fresh) = csrf_binding(&state, &headers);
    let token = state.tokens.csrf_token(&format!("device-confirm:{}", session.id), &binding);
    let items: String = pending
        .permissions
        .iter()
        .map(|p| format!("<li>{} <span class=\"muted\">({})</span></li>", escape(&p.description), escape(&p.value)))
        .collect();
    let body = format!(
        "<p>Are you trying to sign in to <strong>{app}</strong> on another device? Continue only if you started this there.</p>\
<p>It will be able to:</p><ul>{items}</ul>\
<form method=\"post\" action=\"/{tenant}/oauth2/deviceauth/confirm\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\
<input type=\"hidden\" name=\"user_code\" value=\"{code}\">\
<button type=\"submit\" name=\"decision\" value=\"approve\">Continue</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Cancel</button></form>",
        app = escape(&pending.app.display_name),
        tenant = escape(&tenant),
        code = escape(&pending.user_code),
    );
    with_csrf_cookie(&state, html(StatusCode::OK, "Sign in on your device", &body), &binding, fresh)
}

async fn device_confirmed(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = match form_fields(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let binding = cookie(&state, &headers, CSRF_COOKIE).unwrap_or("");
    let (t, session, user) = match device_session(&state, &tenant, &headers, get("user_code")).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !state.tokens.check_csrf(&format!("device-confirm:{}", session.id), binding, get("csrf_token")) {
        return error_page(403, "Sign in on your device", "This form has expired or did not come from this site. Go back and try again.");
    }
    use ward_auth::grants::device::DeviceDecision;
    match state.tokens.decide_device(&t, &session, &user, get("user_code"), get("decision") == "approve").await {
        Ok(Some(DeviceDecision::Approved)) => {
            tracing::info!(tenant = %t.id, user = %user.id, "device sign-in approved");
            html(StatusCode::OK, "You're signed in", "<p>You have signed in on your device. You can close this window.</p>")
        }
        Ok(Some(DeviceDecision::Denied)) => {
            html(StatusCode::OK, "Sign-in cancelled", "<p>Nothing was signed in. You can close this window.</p>")
        }
        Ok(Some(DeviceDecision::NeedsAdmin(ps))) => {
            let items: String = ps
                .iter()
                .map(|p| format!("<li>{} <span class=\"muted\">({})</span></li>", escape(&p.description), escape(&p.value)))
                .collect();
            html(
                StatusCode::FORBIDDEN,
                "Need admin approval",
                &format!("<p>The app needs permission that only an administrator can grant:</p><ul>{items}</ul>"),
            )
        }
        Ok(None) => {
            code_entry_page(&state, &tenant, &headers, "", Some("That code is not valid, or it has expired. Check it and try again."))
        }
        Err(e) => error_page(e.status, "Sign in on your device", &e.description),
    }
}
