//! The device authorization pages (RFC 8628): the person signs in on a phone or computer, types the
//! code the device shows, and approves or denies it.

use crate::AppState;
use crate::oidc::{
    CSRF_COOKIE, SESSION_COOKIE, cookie, csrf_binding, error_page, form_fields, html, query_params, self_only_csp, set_cookie,
};
use crate::pages::escape;
use crate::signin_pages::{SignInForm, sign_in_form};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use ward_auth::signin::SignInError;
use ward_core::store::StoredSession;
use ward_core::user::User;

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

pub(crate) async fn device_sign_in(
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

pub(crate) async fn device_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
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

pub(crate) async fn device_code_entered(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = match form_fields(&headers, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or("");
    let binding = cookie(&state, &headers, CSRF_COOKIE).unwrap_or("");
    if !state.tokens.check_csrf("device", binding, get("csrf_token")) {
        return error_page(403, "Sign in on your device", "This form has expired or did not come from this site. Go back and try again.");
    }
    let (t, session, user) = match device_session(&state, &tenant, &headers, get("user_code")).await {
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
    // Conditional access here, in the browser, where the person can still be asked for more.
    let access = match state.tokens.device_access(&t, &session, &user, &pending).await {
        Ok(a) => a,
        Err(e) => return error_page(e.status, "Sign in on your device", &e.description),
    };
    match &access.decision {
        ward_policy::Decision::Allow => {}
        ward_policy::Decision::Interrupt(needs)
            if needs.first() == Some(&ward_policy::Need::Strength(ward_policy::StrengthLevel::Multifactor)) =>
        {
            let (binding, fresh) = csrf_binding(&state, &headers);
            let back = device_url(&tenant, &pending.user_code);
            return match state.tokens.step_up(&t, &session, &user, &binding).await {
                Ok(Some(p)) => {
                    crate::mfa_pages::otp_page(&state, &tenant, &back, &p.token, (&binding, fresh), None, StatusCode::OK, self_only_csp())
                }
                Ok(None) => error_page(
                    403,
                    "Sign in on your device",
                    "Your organization requires a second verification for this app, and your account has no authenticator app. Sign in again with a passkey.",
                ),
                Err(_) => error_page(503, "Sign in on your device", "Ward cannot sign you in right now. Try again shortly."),
            };
        }
        _ => {
            let why = access.token_error(&pending.resource.display_name).map(|e| e.description).unwrap_or_default();
            return error_page(403, "You cannot access this right now", &why);
        }
    }
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

pub(crate) async fn device_confirmed(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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
