//! The sign-in pages, username first: the first page asks for the name (or a passkey, which needs
//! none), the second for that name's password; the form post that checks it and goes on to the
//! second factor, the application, the device page or the security-info page.

use crate::AppState;
use crate::device_pages::{device_continue, device_sign_in};
use crate::oidc::{
    CSRF_COOKIE, continue_url, cookie, csrf_binding, error_page, failure, form_csp, form_fields, parse_continue, self_only_csp, set_cookie,
};
use crate::pages::escape;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use ward_auth::authorize::ValidAuthorize;
use ward_auth::signin::SignInError;

pub(crate) fn sign_in_page(
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

pub(crate) async fn login(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
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
            // The authorize request this sign-in continues with checks the session's user: as
            // read here, while nothing in the tenant has changed.
            state.tokens.remember_user(req.tenant.id, req.head, &checked.0);
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
