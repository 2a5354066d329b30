//! The second step of a sign-in (a code from an authenticator app) and "My security info", where
//! a signed-in person adds and removes their authenticator apps.

use crate::AppState;
use crate::device_pages::device_continue;
use crate::oidc::{
    CSRF_COOKIE, SESSION_COOKIE, cookie, csrf_binding, error_page, form_csp, form_fields, html, parse_continue, self_only_csp, set_cookie,
};
use crate::pages::escape;
use crate::signin_pages::{SignInForm, sign_in_form};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ward_auth::mfa::EnrollError;
use ward_auth::signin::{SignInError, SignedIn};
use ward_core::store::StoredSession;
use ward_core::tenant::Tenant;
use ward_core::user::User;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/mysecurityinfo", get(security_info))
        .route("/{tenant}/mysecurityinfo/authenticator", get(add_authenticator).post(confirm_authenticator))
        .route("/{tenant}/mysecurityinfo/remove", post(remove_method))
        .route("/{tenant}/mysecurityinfo/verify", get(verify))
        .route("/{tenant}/mysecurityinfo/signouteverywhere", post(sign_out_everywhere))
}

/// Where the password-change page sends the browser back to.
pub fn change_password_url(tenant: &str, cont: &str) -> String {
    format!("/{tenant}/changepassword?{}", serde_urlencoded::to_string([("continue", cont)]).unwrap_or_default())
}

/// Behind the per-address limit: it checks codes.
pub fn limited_routes() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/login/otp", post(login_otp))
        .route("/{tenant}/changepassword", get(change_password_page).post(change_password))
}

pub fn portal_url(tenant: &str) -> String {
    format!("/{tenant}/mysecurityinfo")
}

/// Where a person verifies with their second factor before changing their security info.
fn verify_url(tenant: &str) -> String {
    format!("/{tenant}/mysecurityinfo/verify")
}

/// The second factor asked for before a change of security info: the authenticator app's code
/// (the session is upgraded and the browser sent back to the page), or, for someone whose only
/// second factor is a passkey, signing in again with it.
async fn verify(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap) -> Response {
    let (t, session, user) = match signed_in(&state, &tenant, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let back = portal_url(&tenant);
    if !state.tokens.needs_stronger_sign_in(&t, &user, &session).await.unwrap_or(true) {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, back)]).into_response();
    }
    let (binding, fresh) = csrf_binding(&state, &headers);
    match state.tokens.step_up(&t, &session, &user, &binding).await {
        Ok(Some(pending)) => otp_page(&state, &tenant, &back, &pending.token, (&binding, fresh), None, StatusCode::OK, self_only_csp()),
        Ok(None) => error_page(403, "Verify it's you", "To change your security info, sign out, then sign in again with your passkey."),
        Err(_) => unavailable(),
    }
}

/// A session cookie for `signed_in`, and the browser sent on to `cont`.
pub(crate) fn signed_in_response(state: &AppState, signed_in: &SignedIn, cont: &str) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, cont.to_string())]).into_response();
    response.headers_mut().append(header::SET_COOKIE, session_cookie(state, signed_in));
    response
}

/// The session cookie: kept across browser restarts only when the person chose to stay signed in.
pub(crate) fn session_cookie(state: &AppState, signed_in: &SignedIn) -> HeaderValue {
    // Until the session ends, counted from now (its sign-in may be older: a step-up, a code).
    let now = state.directory.now();
    let max_age = signed_in.session.persistent.then(|| (signed_in.session.expires_at - now).whole_seconds().max(0));
    set_cookie(state, SESSION_COOKIE, &signed_in.cookie, max_age)
}

pub(crate) fn unavailable() -> Response {
    error_page(503, "We can't sign you in", "Ward cannot sign you in right now. Try again shortly.")
}

/// After a good password: the session, or the code page when the person has an authenticator app.
pub(crate) async fn after_password(
    state: &AppState,
    tenant_key: &str,
    tenant: &Tenant,
    (user, amr): (User, &str),
    headers: &HeaderMap,
    (cont, stay): (&str, bool),
    csp: HeaderValue,
) -> Response {
    let (binding, fresh) = csrf_binding(state, headers);
    match state.tokens.after_password(tenant, user, amr, &binding, stay).await {
        Ok(Ok(signed_in)) => signed_in_response(state, &signed_in, cont),
        Ok(Err(pending)) => otp_page(state, tenant_key, cont, &pending.token, (&binding, fresh), None, StatusCode::OK, csp),
        Err(_) => unavailable(),
    }
}

/// Conditional access asks the signed-in person for more before the app gets its code: their
/// authenticator app's code (the session is upgraded), a sign-in with a passkey, or a new
/// password; then the same authorize request again (`here`).
pub(crate) async fn step_up(
    state: &AppState,
    tenant_key: &str,
    req: &ward_auth::authorize::ValidAuthorize,
    here: &str,
    headers: &HeaderMap,
    (session, user): &(StoredSession, User),
    need: ward_policy::Need,
) -> Response {
    use ward_policy::{Need, StrengthLevel};
    let again = format!("{here}&prompt=login");
    let passkey = |why: &str| {
        let body = format!(
            "<p>{why}</p><p><a href=\"{again}\">Sign in again with a passkey or security key</a></p>\
<p>No passkey yet? <a href=\"{portal}\">Add one in My security info</a>, then come back.</p>",
            why = escape(why),
            again = escape(&again),
            portal = escape(&portal_url(tenant_key)),
        );
        html(StatusCode::FORBIDDEN, "More verification needed", &body)
    };
    match need {
        Need::Strength(StrengthLevel::Multifactor) => {
            let (binding, fresh) = csrf_binding(state, headers);
            match state.tokens.step_up(&req.tenant, session, user, &binding).await {
                Ok(Some(pending)) => {
                    otp_page(state, tenant_key, here, &pending.token, (&binding, fresh), None, StatusCode::OK, form_csp(&req.redirect_uri))
                }
                Ok(None) => {
                    passkey("Your organization requires a second verification for this app, and your account has no authenticator app.")
                }
                Err(_) => unavailable(),
            }
        }
        Need::Strength(_) => passkey("Your organization requires a passkey or security key for this app."),
        Need::PasswordChange => (StatusCode::SEE_OTHER, [(header::LOCATION, change_password_url(tenant_key, here))]).into_response(),
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn otp_page(
    state: &AppState,
    tenant: &str,
    cont: &str,
    pending: &str,
    (binding, fresh): (&str, bool),
    error: Option<&str>,
    status: StatusCode,
    csp: HeaderValue,
) -> Response {
    let token = state.tokens.csrf_token("otp", binding);
    let error = error.map(|e| format!("<p role=\"alert\" class=\"error\" id=\"error\">{}</p>", escape(e))).unwrap_or_default();
    let described = if error.is_empty() { "" } else { " aria-describedby=\"error\"" };
    let body = format!(
        "<p>Enter the code shown by the authenticator app on your phone.</p>{error}\
<form method=\"post\" action=\"/{tenant}/login/otp\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\
<input type=\"hidden\" name=\"continue\" value=\"{cont}\">\
<input type=\"hidden\" name=\"pending\" value=\"{pending}\">\
<label for=\"code\">Code</label>\
<input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" autocomplete=\"one-time-code\" pattern=\"[0-9 ]{{6,7}}\" maxlength=\"7\" required autofocus{described}>\
<button type=\"submit\">Verify</button></form>",
        tenant = escape(tenant),
        cont = escape(cont),
        pending = escape(pending),
    );
    let mut response = html(status, "Enter code", &body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    if fresh {
        h.append(header::SET_COOKIE, set_cookie(state, CSRF_COOKIE, binding, None));
    }
    response
}

/// Where a sign-in may continue, with the policy its forms need: this tenant's authorize request
/// (whose redirect URI the browser will follow), its device-code page, or its security-info page.
pub(crate) async fn continuation(state: &AppState, tenant: &str, cont: &str) -> Option<(Tenant, HeaderValue)> {
    if let Some(params) = parse_continue(tenant, cont) {
        let req = state.tokens.validate_authorize(tenant, &params).await.ok()?;
        return Some(((*req.tenant).clone(), form_csp(&req.redirect_uri)));
    }
    if device_continue(tenant, cont).is_some() || cont == portal_url(tenant) {
        let t = state.directory.resolve_tenant(tenant).await.ok()?;
        return Some((t, self_only_csp()));
    }
    None
}

async fn login_otp(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = match form_fields(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let binding = cookie(&state, &headers, CSRF_COOKIE).unwrap_or("").to_string();
    if !state.tokens.check_csrf("otp", &binding, get("csrf_token")) {
        return error_page(403, "We can't sign you in", "This form has expired or did not come from this site. Go back and try again.");
    }
    let cont = get("continue");
    let Some((t, csp)) = continuation(&state, &tenant, cont).await else {
        return error_page(400, "We can't sign you in", "The sign-in request is not valid.");
    };
    let again = |error: &str, status: StatusCode| {
        otp_page(&state, &tenant, cont, get("pending"), (&binding, false), Some(error), status, csp.clone())
    };
    match state.tokens.second_factor(&t, get("pending"), &binding, get("code")).await {
        Ok(signed_in) => signed_in_response(&state, &signed_in, cont),
        Err(SignInError::BadCode) => {
            again("That code is not right, or was used already. Enter the code your app shows now.", StatusCode::UNAUTHORIZED)
        }
        Err(SignInError::Locked { until }) => {
            let wait = (until - state.directory.now()).whole_seconds().max(1);
            let mut r = again(&format!("Too many wrong codes. Try again in {wait} seconds."), StatusCode::TOO_MANY_REQUESTS);
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
            r
        }
        Err(SignInError::Expired | SignInError::BadCredentials) => {
            error_page(400, "We can't sign you in", "This sign-in took too long or was not started here. Sign in again.")
        }
        Err(SignInError::Disabled) => error_page(403, "We can't sign you in", "Your account is disabled. Contact your administrator."),
        Err(SignInError::Unavailable) => unavailable(),
    }
}

/// The sign-in form that leads to the security-info page (no application involved).
fn portal_sign_in_form(
    state: &AppState,
    tenant: &str,
    t: &Tenant,
    headers: &HeaderMap,
    hint: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let cont = portal_url(tenant);
    let form = SignInForm { tenant, app: None, org: t, cont: &cont, hint, error, status, csp: self_only_csp() };
    sign_in_form(state, headers, form)
}

pub(crate) async fn portal_sign_in(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    username: &str,
    password: &str,
    stay: bool,
) -> Response {
    let Ok(t) = state.directory.resolve_tenant(tenant).await else {
        return error_page(400, "We can't sign you in", "This page names no tenant Ward knows.");
    };
    match state.tokens.check_password(&t, username, password).await {
        Ok(checked) => after_password(state, tenant, &t, checked, headers, (&portal_url(tenant), stay), self_only_csp()).await,
        Err(SignInError::BadCredentials) => portal_sign_in_form(
            state,
            tenant,
            &t,
            headers,
            username,
            Some("Your username or password is incorrect."),
            StatusCode::UNAUTHORIZED,
        ),
        Err(SignInError::Locked { until }) => {
            let wait = (until - state.directory.now()).whole_seconds().max(1);
            let message = format!("Your account is temporarily locked after too many failed attempts. Try again in {wait} seconds.");
            let mut r = portal_sign_in_form(state, tenant, &t, headers, username, Some(&message), StatusCode::TOO_MANY_REQUESTS);
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
            r
        }
        Err(SignInError::Disabled) => error_page(403, "We can't sign you in", "Your account is disabled. Contact your administrator."),
        Err(_) => unavailable(),
    }
}

/// The signed-in person of a security-info page, or the sign-in form that leads back to it.
pub(crate) async fn signed_in(state: &AppState, tenant: &str, headers: &HeaderMap) -> Result<(Tenant, StoredSession, User), Response> {
    let Ok(t) = state.directory.resolve_tenant(tenant).await else {
        return Err(error_page(404, "Not found", "This page names no tenant Ward knows."));
    };
    let session = match cookie(state, headers, SESSION_COOKIE) {
        Some(c) => state.tokens.session(&t, c).await.map_err(|_| unavailable())?,
        None => None,
    };
    match session {
        Some((s, u)) => Ok((t, s, u)),
        None => Err(portal_sign_in_form(state, tenant, &t, headers, "", None, StatusCode::OK)),
    }
}

/// A CSRF token for the security-info forms: bound to the browser's cookie and to the session.
pub(crate) fn portal_token(state: &AppState, headers: &HeaderMap, session: &StoredSession) -> (String, String, bool) {
    let (binding, fresh) = csrf_binding(state, headers);
    (state.tokens.csrf_token(&format!("securityinfo:{}", session.id), &binding), binding, fresh)
}

pub(crate) fn portal_check(state: &AppState, headers: &HeaderMap, session: &StoredSession, token: &str) -> bool {
    let binding = cookie(state, headers, CSRF_COOKIE).unwrap_or("");
    state.tokens.check_csrf(&format!("securityinfo:{}", session.id), binding, token)
}

/// The form fields a signed-in person posted from a security-info page.
type Fields = Vec<(String, String)>;

/// A POST from a security-info form: who is signed in, and the form's fields once its CSRF token
/// (bound to the browser and the session) checks out. `title` heads the refusal page.
async fn portal_post(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
    title: &str,
) -> Result<(Tenant, StoredSession, User, Fields), Response> {
    let (t, session, user) = signed_in(state, tenant, headers).await?;
    let fields = form_fields(headers, body)?;
    let token = fields.iter().find(|(n, _)| n == "csrf_token").map(|(_, v)| v.as_str()).unwrap_or("");
    if !portal_check(state, headers, &session, token) {
        return Err(error_page(403, title, "This form has expired or did not come from this site. Go back and try again."));
    }
    Ok((t, session, user, fields))
}

pub(crate) fn with_cookie(state: &AppState, mut response: Response, binding: &str, fresh: bool) -> Response {
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, self_only_csp());
    if fresh {
        response.headers_mut().append(header::SET_COOKIE, set_cookie(state, CSRF_COOKIE, binding, None));
    }
    response
}

async fn security_info(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap) -> Response {
    let (t, session, user) = match signed_in(&state, &tenant, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let methods = match state.directory.store().auth_methods(t.id, user.id).await {
        Ok(m) => m.into_iter().filter(|m| m.kind == ward_auth::mfa::TOTP || m.kind == ward_auth::passkeys::FIDO2).collect::<Vec<_>>(),
        Err(_) => return unavailable(),
    };
    let (token, binding, fresh) = portal_token(&state, &headers, &session);
    let rows: String = methods
        .iter()
        .map(|m| {
            let passkey = m.kind == ward_auth::passkeys::FIDO2;
            let name = m.doc["displayName"].as_str().unwrap_or(if passkey { "Passkey" } else { "Authenticator app" });
            let added = m.created_at.date();
            let what = if passkey { "passkey" } else { "authenticator app" };
            format!(
                "<li><strong>{name}</strong> <span class=\"muted\">{what}, added {added}</span>\
<form method=\"post\" action=\"/{tenant}/mysecurityinfo/remove\" class=\"inline\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{token}\"><input type=\"hidden\" name=\"id\" value=\"{id}\">\
<button type=\"submit\" class=\"secondary\" aria-label=\"Remove {name}\">Remove</button></form></li>",
                name = escape(name),
                tenant = escape(&tenant),
                id = m.id,
            )
        })
        .collect();
    let list = if rows.is_empty() { "<p>You sign in with your password only.</p>".to_string() } else { format!("<ul>{rows}</ul>") };
    let recent = match state.directory.store().sessions_of(t.id, user.id, 10).await {
        Ok(r) => r,
        Err(_) => return unavailable(),
    };
    let now = state.directory.now();
    // To the microsecond, as sessions are judged.
    let micros = |t: time::OffsetDateTime| t.unix_timestamp_nanos() / 1_000;
    let valid_from = micros(user.sign_in_sessions_valid_from_date_time);
    let recent: String = recent
        .iter()
        .map(|r| {
            let methods: Vec<&str> = r
                .amr
                .split_whitespace()
                .filter_map(|m| match m {
                    "pwd" => Some("password"),
                    "otp" => Some("authenticator app code"),
                    "fido" => Some("passkey"),
                    "tap" => Some("temporary access pass"),
                    _ => None,
                })
                .collect();
            let state_text = if r.id == session.id {
                "this browser"
            } else if r.ended_at.is_some() {
                "signed out"
            } else if r.expires_at <= now || micros(r.auth_time) < valid_from {
                "ended"
            } else {
                "active"
            };
            let when = r.auth_time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
            format!(
                "<tr><td><time datetime=\"{when}\">{when}</time></td><td>{}</td><td>{state_text}</td></tr>",
                escape(&methods.join(", "))
            )
        })
        .collect();
    let body = format!(
        "<p>Signed in as <strong>{upn}</strong> ({org}).</p><h2>Sign-in methods</h2>\
<ul><li><strong>Password</strong></li></ul>{list}\
<p><a href=\"/{tenant}/mysecurityinfo/authenticator\">Add an authenticator app</a></p>\
<p><a href=\"/{tenant}/mysecurityinfo/passkey\">Add a passkey</a></p>\
<p><a href=\"/{tenant}/changepassword?continue=%2F{tenant}%2Fmysecurityinfo\">Change your password</a></p>\
<h2>Recent sign-ins</h2><table><thead><tr><th scope=\"col\">When (UTC)</th><th scope=\"col\">With</th><th scope=\"col\">Session</th></tr></thead><tbody>{recent}</tbody></table>\
<form method=\"post\" action=\"/{tenant}/mysecurityinfo/signouteverywhere\"><input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\
<button type=\"submit\" class=\"secondary\">Sign out everywhere</button></form>\
<p class=\"muted\">Signs you out on every device and stops every application's access until you sign in again there.</p>",
        upn = escape(user.user_principal_name.as_str()),
        org = escape(&t.display_name),
        tenant = escape(&tenant),
    );
    with_cookie(&state, html(StatusCode::OK, "My security info", &body), &binding, fresh)
}

/// The QR code of an `otpauth://` URI as inline SVG, rendered here (no external service sees the
/// secret).
fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M).ok()?;
    Some(code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(220, 220).quiet_zone(true).build())
}

fn enrollment_page(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    session: &StoredSession,
    e: &ward_auth::mfa::Enrollment,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let Some(svg) = qr_svg(&e.uri) else { return unavailable() };
    let (token, binding, fresh) = portal_token(state, headers, session);
    let error = error.map(|m| format!("<p role=\"alert\" class=\"error\" id=\"error\">{}</p>", escape(m))).unwrap_or_default();
    let described = if error.is_empty() { "" } else { " aria-describedby=\"error\"" };
    // The secret in groups of four, for typing into an app by hand.
    let grouped: Vec<String> = e.secret_base32.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    let body = format!(
        "<p>Scan this code with an authenticator app (Microsoft Authenticator, Google Authenticator, 1Password, …).</p>\
<figure role=\"img\" aria-label=\"QR code for your authenticator app\">{svg}</figure>\
<p>Can't scan it? Enter this key in the app: <code id=\"secret\">{secret}</code></p>{error}\
<form method=\"post\" action=\"/{tenant}/mysecurityinfo/authenticator\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\
<input type=\"hidden\" name=\"enrollment\" value=\"{enrollment}\">\
<label for=\"name\">Name it</label><input id=\"name\" name=\"name\" type=\"text\" maxlength=\"64\" value=\"Authenticator app\">\
<label for=\"code\">Code from the app</label>\
<input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" autocomplete=\"one-time-code\" maxlength=\"7\" required{described}>\
<button type=\"submit\">Add</button></form><p><a href=\"/{tenant}/mysecurityinfo\">Cancel</a></p>",
        secret = escape(&grouped.join(" ")),
        tenant = escape(tenant),
        enrollment = escape(&e.token),
    );
    let mut response = with_cookie(state, html(status, "Add an authenticator app", &body), &binding, fresh);
    // The page holds a secret: never cached anywhere.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn add_authenticator(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap) -> Response {
    let (t, session, user) = match signed_in(&state, &tenant, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !state.tokens.method_enabled(&t, user.id, &t.settings.auth_methods.software_oath).await.unwrap_or(false) {
        return error_page(403, "Add an authenticator app", "Your organisation does not allow authenticator apps for your account.");
    }
    if state.tokens.needs_stronger_sign_in(&t, &user, &session).await.unwrap_or(true) {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, verify_url(&tenant))]).into_response();
    }
    // Said before the app is set up, not only when it is saved.
    if let Err((code, message)) = state.tokens.may_register_security_info(&t, &user, &session).await {
        return error_page(403, "Add an authenticator app", &format!("{message} (AADSTS{code})"));
    }
    match state.tokens.begin_totp_enrollment(&t, &user, &session) {
        Some(e) => enrollment_page(&state, &tenant, &headers, &session, &e, None, StatusCode::OK),
        None => unavailable(),
    }
}

async fn confirm_authenticator(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let (t, session, user, fields) = match portal_post(&state, &tenant, &headers, &body, "Not saved").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
    match state.tokens.finish_totp_enrollment(&t, &user, &session, get("enrollment"), get("code"), get("name")).await {
        Ok(_) => (StatusCode::SEE_OTHER, [(header::LOCATION, portal_url(&tenant))]).into_response(),
        // The same enrollment again (the app already set up keeps its secret), with the error.
        Err(EnrollError::WrongCode) => match state.tokens.reopen_totp_enrollment(&t, &user, &session, get("enrollment")) {
            Some(e) => {
                let msg = "That code is not right. Check the app's clock and enter the code it shows now.";
                enrollment_page(&state, &tenant, &headers, &session, &e, Some(msg), StatusCode::UNPROCESSABLE_ENTITY)
            }
            None => error_page(400, "Not saved", "This took too long. Start adding the app again."),
        },
        Err(EnrollError::Expired) => error_page(400, "Not saved", "This took too long. Start adding the app again."),
        Err(EnrollError::TooMany) => error_page(400, "Not saved", "You have as many sign-in methods as Ward allows. Remove one first."),
        Err(EnrollError::Unavailable) => unavailable(),
        Err(EnrollError::NotEnabled) => {
            error_page(403, "Not saved", "Your organisation does not allow authenticator apps for your account.")
        }
        Err(EnrollError::Conditional(code, message)) => error_page(403, "Not saved", &format!("{message} (AADSTS{code})")),
    }
}

async fn remove_method(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let (t, session, user, fields) = match portal_post(&state, &tenant, &headers, &body, "Not removed").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    // Removing a method is changing security info: the same second factor and policies as adding.
    if state.tokens.needs_stronger_sign_in(&t, &user, &session).await.unwrap_or(true) {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, verify_url(&tenant))]).into_response();
    }
    if let Err((code, message)) = state.tokens.may_register_security_info(&t, &user, &session).await {
        return error_page(403, "Not removed", &format!("{message} (AADSTS{code})"));
    }
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let Ok(id) = get("id").parse::<uuid::Uuid>() else { return error_page(400, "Not removed", "No such sign-in method.") };
    match state.tokens.remove_method(&t, &user, id).await {
        Ok(true) => (StatusCode::SEE_OTHER, [(header::LOCATION, portal_url(&tenant))]).into_response(),
        Ok(false) => error_page(404, "Not removed", "No such sign-in method."),
        Err(_) => unavailable(),
    }
}

/// A place a password change may send the browser back to: this tenant's authorize request, its
/// device-code page or its security-info page (never elsewhere).
async fn change_continue(state: &AppState, tenant: &str, cont: &str) -> bool {
    continuation(state, tenant, cont).await.is_some()
}

#[allow(clippy::too_many_arguments)]
fn change_form(
    state: &AppState,
    tenant: &str,
    headers: &HeaderMap,
    session: &StoredSession,
    cont: &str,
    forced: bool,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let (token, binding, fresh) = portal_token(state, headers, session);
    let error = error.map(|m| format!("<p role=\"alert\" class=\"error\" id=\"error\">{}</p>", escape(m))).unwrap_or_default();
    let described = if error.is_empty() { "" } else { " aria-describedby=\"error\"" };
    let why = if forced { "<p>Your administrator asks you to choose a new password before you go on.</p>" } else { "" };
    let body = format!(
        "{why}{error}<form method=\"post\" action=\"/{tenant}/changepassword\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{token}\"><input type=\"hidden\" name=\"continue\" value=\"{cont}\">\
<label for=\"current\">Current password</label><input id=\"current\" name=\"current\" type=\"password\" autocomplete=\"current-password\" required{described}>\
<label for=\"new\">New password</label><input id=\"new\" name=\"new\" type=\"password\" autocomplete=\"new-password\" minlength=\"8\" required{described}>\
<label for=\"confirm\">Confirm the new password</label><input id=\"confirm\" name=\"confirm\" type=\"password\" autocomplete=\"new-password\" required>\
<button type=\"submit\">Change password</button></form>\
<p class=\"muted\">At least eight characters with three of: lower case, upper case, digits, symbols; not built on a common password, a banned word or your name.</p>",
        tenant = escape(tenant),
        cont = escape(cont),
    );
    with_cookie(state, html(status, "Change your password", &body), &binding, fresh)
}

async fn change_password_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: HeaderMap,
) -> Response {
    let (_, session, user) = match signed_in(&state, &tenant, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let cont = params.iter().find(|(k, _)| k == "continue").map(|(_, v)| v.clone()).unwrap_or_else(|| portal_url(&tenant));
    if !change_continue(&state, &tenant, &cont).await {
        return error_page(400, "Not changed", "This link does not lead anywhere Ward knows.");
    }
    change_form(&state, &tenant, &headers, &session, &cont, user.force_change_password_next_sign_in, None, StatusCode::OK)
}

async fn change_password(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let (t, session, user, fields) = match portal_post(&state, &tenant, &headers, &body, "Not changed").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let cont = get("continue");
    if !change_continue(&state, &tenant, cont).await {
        return error_page(400, "Not changed", "This link does not lead anywhere Ward knows.");
    }
    let forced = user.force_change_password_next_sign_in;
    let again = |m: &str, status: StatusCode| change_form(&state, &tenant, &headers, &session, cont, forced, Some(m), status);
    if get("new") != get("confirm") {
        return again("The two new passwords differ.", StatusCode::UNPROCESSABLE_ENTITY);
    }
    let secured = session.amr.split_whitespace().any(|m| m == "mfa");
    match state.tokens.change_own_password(&t, &user, get("current"), get("new"), secured).await {
        Ok(()) => (StatusCode::SEE_OTHER, [(header::LOCATION, cont.to_string())]).into_response(),
        Err(ward_auth::mfa::ChangeError::WrongCurrent) => again("Your current password is incorrect.", StatusCode::UNAUTHORIZED),
        Err(ward_auth::mfa::ChangeError::Policy(m)) => again(&format!("Choose another password: {m}"), StatusCode::UNPROCESSABLE_ENTITY),
        Err(ward_auth::mfa::ChangeError::Locked { until }) => {
            let wait = (until - state.directory.now()).whole_seconds().max(1);
            again(&format!("Too many wrong passwords. Try again in {wait} seconds."), StatusCode::TOO_MANY_REQUESTS)
        }
        Err(ward_auth::mfa::ChangeError::Unavailable) => unavailable(),
    }
}

/// Ends every session of the person and every token issued from them: the directory's
/// `signInSessionsValidFromDateTime` moves to now (honoured at the next request on every node),
/// and this browser's session ends at once.
async fn sign_out_everywhere(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let (t, session, user, _) = match portal_post(&state, &tenant, &headers, &body, "Not signed out").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if state.directory.revoke_sign_in_sessions(t.id, &user.id.to_string()).await.is_err()
        || state.tokens.end_session(&session).await.is_err()
    {
        return unavailable();
    }
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, portal_url(&tenant))]).into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", Some(0)));
    response
}
