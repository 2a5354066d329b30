//! Passkeys in the browser: adding one on the security-info page, and signing in with one from the
//! sign-in page without typing a name. The ceremony runs in `/static/passkey.js` (served by Ward,
//! allowed by the pages' `script-src 'self'`); these endpoints answer it in JSON.

use crate::AppState;
use crate::mfa_pages::{continuation, portal_check, portal_token, portal_url, signed_in, with_cookie};
use crate::oidc::{CSRF_COOKIE, cookie, form_fields, html};
use crate::pages::escape;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use ward_auth::passkeys::PasskeyError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/mysecurityinfo/passkey", get(add_passkey_page).post(finish_registration))
        .route("/{tenant}/mysecurityinfo/passkey/options", post(begin_registration))
        .route("/static/passkey.js", get(script))
}

/// Sign-in endpoints: rate-limited with the other sign-in posts.
pub fn limited_routes() -> Router<AppState> {
    Router::new().route("/{tenant}/login/passkey/options", post(begin_sign_in)).route("/{tenant}/login/passkey", post(finish_sign_in))
}

fn json_error(status: StatusCode, message: &str) -> Response {
    let mut r = (status, axum::Json(json!({ "error": message }))).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn answer(e: PasskeyError) -> Response {
    match e {
        PasskeyError::Expired => json_error(StatusCode::BAD_REQUEST, "This request took too long or was used already. Try again."),
        PasskeyError::Refused(why) => json_error(StatusCode::UNAUTHORIZED, why),
        PasskeyError::NotEnabled => json_error(StatusCode::FORBIDDEN, "Your organisation does not allow passkeys for your account."),
        PasskeyError::KeyNotPermitted => json_error(StatusCode::FORBIDDEN, "Your organisation does not allow this kind of security key."),
        PasskeyError::AttestationRequired => json_error(
            StatusCode::FORBIDDEN,
            "Your organisation only accepts security keys it can verify, and this one could not be verified.",
        ),
        PasskeyError::UnknownCredential => json_error(StatusCode::UNAUTHORIZED, "This passkey is not registered with this organisation."),
        PasskeyError::Disabled => json_error(StatusCode::FORBIDDEN, "Your account is disabled. Contact your administrator."),
        PasskeyError::TooMany => json_error(StatusCode::CONFLICT, "You have as many passkeys as allowed. Remove one first."),
        PasskeyError::Unavailable => json_error(StatusCode::SERVICE_UNAVAILABLE, "Ward cannot do this right now. Try again shortly."),
        PasskeyError::Conditional(code, message) => json_error(StatusCode::FORBIDDEN, &format!("{message} (AADSTS{code})")),
    }
}

fn options_response(options: serde_json::Value, state: String) -> Response {
    let mut r = axum::Json(json!({ "options": options, "state": state })).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

type Fields = Vec<(String, String)>;

fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or("")
}

/// A signed-in person's JSON call from the security-info pages, its CSRF token checked.
async fn portal_call(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(ward_core::tenant::Tenant, ward_core::store::StoredSession, ward_core::user::User, Fields), Response> {
    let (t, session, user) =
        signed_in(state, tenant, headers).await.map_err(|_| json_error(StatusCode::UNAUTHORIZED, "Sign in again, then try again."))?;
    let fields = form_fields(headers, body).map_err(|_| json_error(StatusCode::BAD_REQUEST, "The request is not valid."))?;
    if !portal_check(state, headers, &session, field(&fields, "csrf_token")) {
        return Err(json_error(StatusCode::FORBIDDEN, "This page has expired. Reload it and try again."));
    }
    // Adding a way to sign in needs the strongest sign-in the person has: someone holding only a
    // password must not be able to add their own passkey to an account protected by more.
    if state.tokens.needs_stronger_sign_in(&t, &user, &session).await.map_err(|_| answer(PasskeyError::Unavailable))? {
        return Err(json_error(
            StatusCode::FORBIDDEN,
            "Verify with your authenticator app (on My security info) or sign in again with your passkey before adding another.",
        ));
    }
    Ok((t, session, user, fields))
}

async fn add_passkey_page(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap) -> Response {
    let (_t, session, _user) = match signed_in(&state, &tenant, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (token, binding, fresh) = portal_token(&state, &headers, &session);
    let body = format!(
        "<p>A passkey lets you sign in with your device's screen lock or a security key, without a password. \
It cannot be phished: it only works on this site.</p>\
<p role=\"alert\" class=\"error\" id=\"passkey-error\" hidden></p>\
<form id=\"passkey-register\" data-tenant=\"{tenant}\" data-csrf=\"{token}\" data-done=\"{done}\">\
<label for=\"name\">Name it</label><input id=\"name\" name=\"name\" type=\"text\" maxlength=\"64\" value=\"Passkey\" aria-describedby=\"passkey-error\">\
<button type=\"submit\">Create a passkey</button></form>\
<noscript><p class=\"error\">Adding a passkey needs JavaScript: your browser talks to your authenticator.</p></noscript>\
<p><a href=\"{done}\">Cancel</a></p><script src=\"/static/passkey.js\" defer></script>",
        tenant = escape(&tenant),
        done = escape(&portal_url(&tenant)),
    );
    let mut response = with_cookie(&state, html(StatusCode::OK, "Add a passkey", &body), &binding, fresh);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn begin_registration(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let (t, session, user, _fields) = match portal_call(&state, &tenant, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let binding = cookie(&state, &headers, CSRF_COOKIE).unwrap_or("");
    match state.tokens.begin_passkey_registration(&t, &user, &session, binding).await {
        Ok((options, sealed)) => options_response(options, sealed),
        Err(e) => answer(e),
    }
}

async fn finish_registration(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let (t, session, user, fields) = match portal_call(&state, &tenant, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let binding = cookie(&state, &headers, CSRF_COOKIE).unwrap_or("");
    match state
        .tokens
        .finish_passkey_registration(
            &t,
            &user,
            &session,
            binding,
            field(&fields, "state"),
            field(&fields, "credential"),
            field(&fields, "name"),
        )
        .await
    {
        Ok(m) => axum::Json(json!({ "id": m.id, "location": portal_url(&tenant) })).into_response(),
        Err(e) => answer(e),
    }
}

/// The sign-in page's call: where the sign-in continues must be one of this tenant's own pages.
async fn sign_in_call(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(ward_core::tenant::Tenant, Fields), Response> {
    let fields = form_fields(headers, body).map_err(|_| json_error(StatusCode::BAD_REQUEST, "The request is not valid."))?;
    let binding = cookie(state, headers, CSRF_COOKIE).unwrap_or("");
    if !state.tokens.check_csrf("signin", binding, field(&fields, "csrf_token")) {
        return Err(json_error(StatusCode::FORBIDDEN, "This page has expired. Reload it and try again."));
    }
    let Some((t, _csp)) = continuation(state, tenant, field(&fields, "continue")).await else {
        return Err(json_error(StatusCode::BAD_REQUEST, "The sign-in request is not valid."));
    };
    Ok((t, fields))
}

async fn begin_sign_in(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let (t, _fields) = match sign_in_call(&state, &tenant, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let binding = cookie(&state, &headers, CSRF_COOKIE).unwrap_or("");
    match state.tokens.begin_passkey_sign_in(&t, binding) {
        Ok((options, sealed)) => options_response(options, sealed),
        Err(e) => answer(e),
    }
}

async fn finish_sign_in(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let (t, fields) = match sign_in_call(&state, &tenant, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let binding = cookie(&state, &headers, CSRF_COOKIE).unwrap_or("");
    let stay = field(&fields, "stay_signed_in") == "on";
    match state.tokens.finish_passkey_sign_in(&t, binding, field(&fields, "state"), field(&fields, "credential"), stay).await {
        Ok(signed_in) => {
            let mut r = axum::Json(json!({ "location": field(&fields, "continue") })).into_response();
            r.headers_mut().append(header::SET_COOKIE, crate::mfa_pages::session_cookie(&state, &signed_in));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => answer(e),
    }
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("passkey.js"),
    )
        .into_response()
}
