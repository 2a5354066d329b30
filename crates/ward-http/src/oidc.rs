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
        .route("/{tenant}/oauth2/deviceauth", get(crate::device_pages::device_page))
        .route("/{tenant}/oauth2/deviceauth/confirm", post(crate::device_pages::device_confirmed))
}

/// The routes that check passwords, secrets or guessable codes, or that may look through the
/// tenant's registrations (authorize resolves resources named by identifier URI): behind the
/// per-address limit.
pub fn limited_routes() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/{tenant}/login", post(crate::signin_pages::login))
        .route("/{tenant}/oauth2/v2.0/introspect", post(introspect))
        .route("/{tenant}/oauth2/v2.0/revoke", post(revoke))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(devicecode))
        .route("/{tenant}/oauth2/deviceauth", post(crate::device_pages::device_code_entered))
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

pub(crate) fn failure(f: AuthorizeFailure) -> Response {
    match f {
        AuthorizeFailure::Page(p) => error_page(p.status, p.title, &p.message),
        AuthorizeFailure::Redirect(r) => redirect(&r.location()),
    }
}

pub(crate) fn query_params(query: Option<&str>) -> Result<Vec<(String, String)>, Response> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or(""))
        .ok()
        .filter(|p| p.len() <= crate::oauth::MAX_PARAMS)
        .ok_or_else(|| error_page(400, "We can't sign you in", "The request's query is not valid."))
}

/// The authorize URL to come back to after signing in or consenting, minus what was just done
/// (`prompt=login`, `max_age` after a sign-in; `prompt=consent` after consent).
pub(crate) fn continue_url(tenant: &str, params: &[(String, String)], drop_prompt: bool) -> String {
    let kept: Vec<&(String, String)> = params.iter().filter(|(k, _)| !(drop_prompt && (k == "prompt" || k == "max_age"))).collect();
    format!("/{tenant}/oauth2/v2.0/authorize?{}", serde_urlencoded::to_string(kept).unwrap_or_default())
}

/// A redirect that also sets the session cookie again: kept across browser restarts (`Max-Age`)
/// or only for this browser session, as a policy's persistent-browser control says.
fn redirect_persisting(state: &AppState, headers: &HeaderMap, location: &str, persistent: bool, max_age: i64) -> Response {
    let mut response = redirect(location);
    if let Some(c) = cookie(state, headers, SESSION_COOKIE) {
        response.headers_mut().append(header::SET_COOKIE, set_cookie(state, SESSION_COOKIE, c, persistent.then_some(max_age)));
    }
    response
}

/// Conditional access said no: what the person reads, with Entra's code for their administrator.
fn access_denied_page(code: u32, message: &str) -> Response {
    error_page(
        403,
        "You cannot access this right now",
        &format!("{message} If you think this is wrong, give your administrator this code: AADSTS{code}."),
    )
}

/// Accepts only this tenant's authorize URL as a place to go back to: never an open redirect.
pub(crate) fn parse_continue(tenant: &str, value: &str) -> Option<Vec<(String, String)>> {
    let query = value.strip_prefix(&format!("/{tenant}/oauth2/v2.0/authorize?"))?;
    serde_urlencoded::from_str(query).ok()
}

async fn current_session(state: &AppState, req: &ValidAuthorize, headers: &HeaderMap) -> Result<Option<(StoredSession, User)>, Response> {
    match cookie(state, headers, SESSION_COOKIE) {
        Some(c) => state
            .tokens
            .session_at(&req.tenant, Some(req.head), c)
            .await
            .map_err(|e| error_page(e.status, "We can't sign you in", &e.description)),
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
        Ok(AuthorizeOutcome::RedirectPersisting { location, persistent, max_age }) => {
            redirect_persisting(&state, &headers, &location, persistent, max_age)
        }
        Ok(AuthorizeOutcome::SignIn) => crate::signin_pages::sign_in_page(&state, &tenant, &req, &params, &headers, None, StatusCode::OK),
        Ok(AuthorizeOutcome::StepUp(need)) => match &session {
            Some(s) => crate::mfa_pages::step_up(&state, &tenant, &req, &continue_url(&tenant, &params, true), &headers, s, need).await,
            None => error_page(503, "We can't sign you in", "Ward cannot sign you in right now. Try again shortly."),
        },
        Ok(AuthorizeOutcome::Denied { code, message }) => access_denied_page(code, message),
        Ok(AuthorizeOutcome::Consent { ask, admin, for_organization }) => {
            let session_id = session.as_ref().map(|(s, _)| s.id).unwrap_or_default();
            consent_page(&state, &tenant, &req, &params, &headers, &ask, &admin, for_organization, session_id)
        }
        Err(f) => failure(f),
    }
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
        Ok(AuthorizeOutcome::RedirectPersisting { location, persistent, max_age }) => {
            redirect_persisting(&state, &headers, &location, persistent, max_age)
        }
        Ok(AuthorizeOutcome::SignIn | AuthorizeOutcome::StepUp(_)) => redirect(get("continue")),
        Ok(AuthorizeOutcome::Denied { code, message }) => access_denied_page(code, message),
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

pub(crate) fn self_only_csp() -> HeaderValue {
    HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
}
