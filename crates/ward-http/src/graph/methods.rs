//! Authentication methods in Graph's shapes: `/users/{id}/authentication/…` for administrators and
//! apps, `/me/authentication/…` for a signed-in person's own. Ward has passwords and authenticator
//! apps (software OATH) so far. Secrets never leave: `secretKey` is always null.

use super::{Graph, attempt, no_content};
use crate::graph_authz::Op;
use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use ward_core::roles::{AUTHENTICATION_ADMINISTRATOR, GLOBAL_ADMINISTRATOR, PRIVILEGED_AUTHENTICATION_ADMINISTRATOR};
use ward_core::store::StoredAuthMethod;
use ward_core::user::User;

/// Graph's fixed id of a user's password method.
const PASSWORD_METHOD_ID: &str = "28c10230-6103-485e-b985-444c60001490";

pub fn routes() -> Router<crate::AppState> {
    Router::new()
        .route("/v1.0/users/{id}/authentication/methods", get(list_for_user))
        .route("/v1.0/users/{id}/authentication/passwordMethods", get(passwords_for_user))
        .route("/v1.0/users/{id}/authentication/softwareOathMethods", get(oath_for_user))
        .route("/v1.0/users/{id}/authentication/softwareOathMethods/{method}", get(one_for_user).delete(remove_for_user))
        .route("/v1.0/users/{id}/authentication/methods/{method}/resetPassword", axum::routing::post(reset_password))
        .route("/v1.0/users/{id}/authentication/passwordMethods/{method}/resetPassword", axum::routing::post(reset_password))
        .route("/v1.0/users/{id}/authentication/operations/{operation}", get(operation))
        .route("/v1.0/users/{id}/authentication/fido2Methods", get(fido_for_user))
        .route("/v1.0/users/{id}/authentication/fido2Methods/{method}", get(one_fido_for_user).delete(remove_fido_for_user))
        .route("/v1.0/users/{id}/authentication/temporaryAccessPassMethods", get(taps_for_user).post(issue_tap))
        .route("/v1.0/users/{id}/authentication/temporaryAccessPassMethods/{method}", get(one_tap).delete(remove_tap))
        .route("/v1.0/me/authentication/methods", get(list_mine))
        .route("/v1.0/me/authentication/passwordMethods", get(passwords_mine))
        .route("/v1.0/me/authentication/softwareOathMethods", get(oath_mine))
        .route("/v1.0/me/authentication/softwareOathMethods/{method}", get(one_mine).delete(remove_mine))
        .route("/v1.0/me/authentication/fido2Methods", get(fido_mine))
        .route("/v1.0/me/authentication/fido2Methods/{method}", get(one_fido_mine).delete(remove_fido_mine))
        .route("/v1.0/policies/authenticationMethodsPolicy", get(policy))
        .route(
            "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/{config}",
            get(policy_config).patch(patch_policy_config),
        )
}

#[derive(Clone, Copy, PartialEq)]
enum Which {
    All,
    Passwords,
    Oath,
    Passes,
    Fido,
}

/// The kinds of method that can be read and removed one by one: how the store names them, how
/// Graph names their collection, and their Graph view.
#[derive(Clone, Copy)]
struct Kind {
    store: &'static str,
    set: &'static str,
    view: fn(&StoredAuthMethod) -> Value,
}

const OATH: Kind = Kind { store: ward_auth::mfa::TOTP, set: "softwareOathMethods", view: oath_view };
const FIDO: Kind = Kind { store: ward_auth::passkeys::FIDO2, set: "fido2Methods", view: fido_view };
const PASS: Kind =
    Kind { store: ward_auth::mfa::TAP, set: "temporaryAccessPassMethods", view: |m| tap_view(m, time::OffsetDateTime::now_utc(), None) };

/// A passkey or security key as Graph shows it (`fido2AuthenticationMethod`).
fn fido_view(m: &StoredAuthMethod) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.fido2AuthenticationMethod",
        "id": m.id.to_string(),
        "displayName": m.doc["displayName"],
        "createdDateTime": m.doc["createdDateTime"],
        "aaGuid": m.doc["aaGuid"],
        "model": m.doc["model"],
        "attestationCertificates": [],
        "attestationLevel": m.doc["attestationLevel"],
    })
}

/// A Temporary Access Pass as Graph shows it (the pass itself only in the answer that issues it).
fn tap_view(m: &StoredAuthMethod, now: time::OffsetDateTime, pass: Option<&str>) -> Value {
    let usable = ward_auth::mfa::tap_usable(m, now);
    json!({
        "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
        "id": m.id.to_string(),
        "temporaryAccessPass": pass,
        "createdDateTime": m.doc["createdDateTime"],
        "startDateTime": m.doc["startDateTime"],
        "lifetimeInMinutes": m.doc["lifetimeInMinutes"],
        "isUsableOnce": m.doc["isUsableOnce"],
        "isUsable": usable,
        "methodUsabilityReason": if usable { "EnabledByPolicy" } else { "Expired" },
    })
}

fn oath_view(m: &StoredAuthMethod) -> Value {
    json!({ "@odata.type": "#microsoft.graph.softwareOathAuthenticationMethod", "id": m.id.to_string(), "secretKey": Value::Null })
}

fn password_view() -> Value {
    json!({ "@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": PASSWORD_METHOD_ID, "password": Value::Null, "createdDateTime": Value::Null })
}

/// The user whose methods another caller asks about, once the caller may: an Authentication
/// Administrator only for users without directory roles (Entra's rule), the privileged roles for
/// anyone; apps by their permission.
async fn target(g: &Graph, key: &str, op: Op) -> Result<User, Response> {
    g.require(op).await?;
    let user = g.state.directory.user(g.tenant(), key).await.map_err(|e| g.fail(&e))?;
    // Administrators acting on their own methods through these routes meet the rules of `/me`: a
    // change needs the second factor they have (a stolen password must not strip their account).
    if op == Op::WriteMethods
        && let Some(me) = &g.caller.user
        && me.id == user.id
    {
        second_factor_used(g, &user).await?;
    }
    if let Some(me) = &g.caller.user
        && me.id != user.id
    {
        let mine = g.state.directory.roles_of(g.tenant(), me.id).await.map_err(|e| g.fail(&e))?;
        let privileged = mine.iter().any(|r| r == GLOBAL_ADMINISTRATOR || r == PRIVILEGED_AUTHENTICATION_ADMINISTRATOR);
        if !privileged && mine.iter().any(|r| r == AUTHENTICATION_ADMINISTRATOR) {
            let theirs = g.state.directory.roles_of(g.tenant(), user.id).await.map_err(|e| g.fail(&e))?;
            if !theirs.is_empty() {
                return Err(g.denied());
            }
        }
    }
    Ok(user)
}

async fn me(g: &Graph, op: Op) -> Result<User, Response> {
    g.require(op).await?;
    let Some(u) = &g.caller.user else { return Err(g.bad("/me request is only valid with delegated authentication flow.")) };
    g.state.directory.user(g.tenant(), &u.id.to_string()).await.map_err(|e| g.fail(&e))
}

async fn oath_methods(g: &Graph, user: &User) -> Result<Vec<StoredAuthMethod>, Response> {
    methods_of(g, user, ward_auth::mfa::TOTP).await
}

async fn methods_of(g: &Graph, user: &User, kind: &str) -> Result<Vec<StoredAuthMethod>, Response> {
    let all = g.state.directory.store().auth_methods(g.tenant(), user.id).await.map_err(|e| g.fail(&e.into()))?;
    Ok(all.into_iter().filter(|m| m.kind == kind).collect())
}

async fn listing(g: &Graph, user: &User, which: Which) -> Response {
    let mut value = Vec::new();
    if matches!(which, Which::All | Which::Passwords) {
        let has_password = g.state.directory.store().credential(g.tenant(), user.id, "password", "").await.map_err(|e| g.fail(&e.into()));
        if attempt!(has_password).is_some() {
            value.push(password_view());
        }
    }
    if matches!(which, Which::All | Which::Oath) {
        value.extend(attempt!(oath_methods(g, user).await).iter().map(oath_view));
    }
    if matches!(which, Which::All | Which::Fido) {
        value.extend(attempt!(methods_of(g, user, FIDO.store).await).iter().map(fido_view));
    }
    if matches!(which, Which::All | Which::Passes) {
        let now = g.state.directory.now();
        value.extend(attempt!(methods_of(g, user, ward_auth::mfa::TAP).await).iter().map(|m| tap_view(m, now, None)));
    }
    let set = match which {
        Which::All => "authenticationMethods",
        Which::Passwords => "passwordAuthenticationMethods",
        Which::Oath => "softwareOathAuthenticationMethods",
        Which::Passes => "temporaryAccessPassAuthenticationMethods",
        Which::Fido => "fido2AuthenticationMethods",
    };
    Json(json!({ "@odata.context": g.context(&format!("users('{}')/authentication/{set}", user.id)), "value": value })).into_response()
}

async fn one(g: &Graph, user: &User, kind: Kind, method: &str) -> Response {
    let found = attempt!(methods_of(g, user, kind.store).await).into_iter().find(|m| m.id.to_string() == method.to_ascii_lowercase());
    match found {
        Some(m) => {
            let Value::Object(mut v) = (kind.view)(&m) else { return g.not_found(method) };
            v.remove("@odata.type");
            g.entity(&format!("users('{}')/authentication/{}", user.id, kind.set), v, StatusCode::OK)
        }
        None => g.not_found(method),
    }
}

/// The audit record of an administrator's (or app's) change to someone's sign-in methods.
async fn audit(g: &Graph, user: &User, activity: &'static str, kind: &str) {
    let ctx = ward_core::audit::AuditContext {
        initiated_by: g.initiated_by(),
        category: "UserManagement",
        activity,
        operation_type: if activity.contains("deleted") { "Delete" } else { "Add" },
        correlation_id: g.rid.clone(),
    };
    let target = json!({ "id": user.id, "type": "User", "displayName": user.display_name, "userPrincipalName": user.user_principal_name.as_str(),
        "modifiedProperties": [{ "displayName": "authenticationMethod", "oldValue": null, "newValue": kind }] });
    if let Err(e) = g.state.directory.audit_success(g.tenant(), &ctx, vec![target]).await {
        tracing::warn!(request_id = g.rid, error = %e, "could not record a security-info change in the audit log");
    }
}

async fn remove(g: &Graph, user: &User, kind: Kind, method: &str) -> Response {
    let Ok(id) = method.parse::<uuid::Uuid>() else { return g.not_found(method) };
    let found = attempt!(methods_of(g, user, kind.store).await).iter().any(|m| m.id == id);
    if !found {
        return g.not_found(method);
    }
    match g.state.directory.store().remove_auth_method(g.tenant(), user.id, id).await {
        Ok(true) => {
            tracing::info!(tenant = %g.tenant(), user = %user.id, method = %id, kind = kind.store, "authentication method removed through Graph");
            audit(g, user, "Admin deleted security info", kind.store).await;
            no_content()
        }
        Ok(false) => g.not_found(method),
        Err(e) => g.fail(&e.into()),
    }
}

async fn list_for_user(g: Graph, Path(id): Path<String>) -> Response {
    let user = attempt!(target(&g, &id, Op::ReadMethods).await);
    listing(&g, &user, Which::All).await
}
async fn passwords_for_user(g: Graph, Path(id): Path<String>) -> Response {
    let user = attempt!(target(&g, &id, Op::ReadMethods).await);
    listing(&g, &user, Which::Passwords).await
}
async fn oath_for_user(g: Graph, Path(id): Path<String>) -> Response {
    let user = attempt!(target(&g, &id, Op::ReadMethods).await);
    listing(&g, &user, Which::Oath).await
}
async fn one_for_user(g: Graph, Path((id, method)): Path<(String, String)>) -> Response {
    let user = attempt!(target(&g, &id, Op::ReadMethods).await);
    one(&g, &user, OATH, &method).await
}
async fn remove_for_user(g: Graph, Path((id, method)): Path<(String, String)>) -> Response {
    let user = attempt!(target(&g, &id, Op::WriteMethods).await);
    remove(&g, &user, OATH, &method).await
}
async fn list_mine(g: Graph) -> Response {
    let user = attempt!(me(&g, Op::ReadMyMethods).await);
    listing(&g, &user, Which::All).await
}
async fn passwords_mine(g: Graph) -> Response {
    let user = attempt!(me(&g, Op::ReadMyMethods).await);
    listing(&g, &user, Which::Passwords).await
}
async fn oath_mine(g: Graph) -> Response {
    let user = attempt!(me(&g, Op::ReadMyMethods).await);
    listing(&g, &user, Which::Oath).await
}
async fn one_mine(g: Graph, Path(method): Path<String>) -> Response {
    let user = attempt!(me(&g, Op::ReadMyMethods).await);
    one(&g, &user, OATH, &method).await
}
async fn remove_mine(g: Graph, Path(method): Path<String>) -> Response {
    let user = attempt!(me(&g, Op::WriteMyMethods).await);
    attempt!(second_factor_used(&g, &user).await);
    remove(&g, &user, OATH, &method).await
}

/// Removing one's own method with a delegated token: when the person has a second factor, the
/// sign-in behind the token must have used it (as on "My security info"): a password alone must
/// not strip an account of its protection. And the tenant's conditional access policies on
/// registering security information apply, as on the pages.
async fn second_factor_used(g: &Graph, user: &User) -> Result<(), Response> {
    if let Err((code, message)) = g.state.tokens.may_change_security_info(&g.caller.tenant, user, &g.caller.amr.join(" "), "").await {
        return Err(g.forbidden(&format!("{message} (AADSTS{code})")));
    }
    if g.caller.amr.iter().any(|a| a == "mfa") {
        return Ok(());
    }
    let methods = g.state.directory.store().auth_methods(g.tenant(), user.id).await.map_err(|e| g.fail(&e.into()))?;
    if methods.iter().any(|m| m.kind == ward_auth::mfa::TOTP || m.kind == ward_auth::passkeys::FIDO2) {
        return Err(crate::error::graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "forbidden",
            "Removing a sign-in method needs a sign-in that used your second factor.",
            &g.rid,
        ));
    }
    Ok(())
}

async fn fido_for_user(g: Graph, Path(id): Path<String>) -> Response {
    let user = attempt!(target(&g, &id, Op::ReadMethods).await);
    listing(&g, &user, Which::Fido).await
}
async fn one_fido_for_user(g: Graph, Path((id, method)): Path<(String, String)>) -> Response {
    let user = attempt!(target(&g, &id, Op::ReadMethods).await);
    one(&g, &user, FIDO, &method).await
}
async fn remove_fido_for_user(g: Graph, Path((id, method)): Path<(String, String)>) -> Response {
    let user = attempt!(target(&g, &id, Op::WriteMethods).await);
    remove(&g, &user, FIDO, &method).await
}
async fn fido_mine(g: Graph) -> Response {
    let user = attempt!(me(&g, Op::ReadMyMethods).await);
    listing(&g, &user, Which::Fido).await
}
async fn one_fido_mine(g: Graph, Path(method): Path<String>) -> Response {
    let user = attempt!(me(&g, Op::ReadMyMethods).await);
    one(&g, &user, FIDO, &method).await
}
async fn remove_fido_mine(g: Graph, Path(method): Path<String>) -> Response {
    let user = attempt!(me(&g, Op::WriteMyMethods).await);
    attempt!(second_factor_used(&g, &user).await);
    remove(&g, &user, FIDO, &method).await
}

const RESET_ACTIVITY: &str = "Reset user password";

/// `POST …/methods/{passwordMethodId}/resetPassword`: `{}` for a password Ward generates (returned
/// once, in this answer) or `{"newPassword": "…"}` (judged by the tenant's password policy). Either
/// way the person must choose their own at the next sign-in. 202, with the operation's `Location`.
async fn reset_password(g: Graph, Path((id, method)): Path<(String, String)>, body: axum::body::Bytes) -> Response {
    let user = attempt!(target(&g, &id, Op::WriteMethods).await);
    // An administrator's reset is for someone else (it remediates Identity Protection's risk).
    if g.caller.user.as_ref().is_some_and(|me| me.id == user.id) {
        return g.forbidden("Your own password is changed with your current one (the change-password page), not reset.");
    }
    if !method.eq_ignore_ascii_case(PASSWORD_METHOD_ID) {
        return g.not_found(&method);
    }
    let body = if body.iter().all(u8::is_ascii_whitespace) { serde_json::Map::new() } else { attempt!(g.object(&body)) };
    let mut given = None;
    for (k, v) in &body {
        match (k.as_str(), v) {
            ("newPassword", Value::String(p)) => given = Some(p.clone()),
            ("newPassword", Value::Null) => {}
            ("newPassword", _) => return g.bad("newPassword must be a string."),
            (k, _) if k.starts_with('@') => {}
            (k, _) => return g.bad(&format!("Property '{}' is not valid for resetPassword.", ward_core::validate::clip(k))),
        }
    }
    let generated = given.is_none();
    let password = given.unwrap_or_else(|| ward_directory::secrets::generate_password(&ward_directory::SystemRng));
    let uid = user.id.to_string();
    let work = g.state.directory.set_password(g.tenant(), &uid, &password, true);
    attempt!(g.write(super::Activity("UserManagement", RESET_ACTIVITY, "Update"), Some(uid.clone()), work).await);
    let location = format!("{}/v1.0/users/{uid}/authentication/operations/{}", g.state.public_url, g.rid);
    let answer = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.passwordResetResponse",
        "newPassword": if generated { Value::String(password) } else { Value::Null },
    });
    let mut r = (StatusCode::ACCEPTED, Json(answer)).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&location) {
        r.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    r.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    r
}

/// `GET …/authentication/operations/{id}`: a password reset's operation, found by its correlation
/// id in the audit log (so every node can answer it). Resets complete at once: `succeeded`.
async fn operation(g: Graph, Path((id, operation)): Path<(String, String)>) -> Response {
    let user = attempt!(target(&g, &id, Op::ReadMethods).await);
    let query = ward_core::audit::AuditQuery {
        activity: Some(RESET_ACTIVITY.into()),
        target_id: Some(user.id.as_uuid()),
        result: Some("success".into()),
        limit: 100,
        ..Default::default()
    };
    let records = attempt!(g.state.directory.audit_records(g.tenant(), &query).await.map_err(|e| g.fail(&e)));
    match records.iter().find(|r| r.correlation_id == operation) {
        Some(r) => {
            let at = r.activity_date_time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
            Json(json!({
                "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{}')/authentication/operations/$entity", user.id),
                "id": operation, "status": "succeeded", "statusDetail": Value::Null,
                "createdDateTime": at, "lastActionDateTime": at, "resourceLocation": Value::Null,
            }))
            .into_response()
        }
        None => g.not_found(&operation),
    }
}

/// `GET /policies/authenticationMethodsPolicy`: the tenant's policy, with every configuration.
async fn policy(g: Graph) -> Response {
    attempt!(g.require(Op::ReadMethodsPolicy).await);
    Json(g.caller.tenant.settings.auth_methods.to_json()).into_response()
}

async fn policy_config(g: Graph, Path(config): Path<String>) -> Response {
    attempt!(g.require(Op::ReadMethodsPolicy).await);
    match g.caller.tenant.settings.auth_methods.config_json(&config) {
        Some(Value::Object(mut v)) => {
            v.insert(
                "@odata.context".into(),
                json!("https://graph.microsoft.com/v1.0/$metadata#policies/authenticationMethodsPolicy/authenticationMethodConfigurations/$entity"),
            );
            Json(Value::Object(v)).into_response()
        }
        _ => g.not_found(&config),
    }
}

/// `PATCH …/authenticationMethodConfigurations/{id}`: all of the patch or none of it; 204.
async fn patch_policy_config(g: Graph, Path(config): Path<String>, body: axum::body::Bytes) -> Response {
    attempt!(g.require(Op::WriteMethodsPolicy).await);
    let body = attempt!(g.object(&body));
    let tenant = attempt!(g.state.directory.resolve_tenant(&g.tenant().to_string()).await.map_err(|e| g.fail(&e)));
    let mut settings = tenant.settings.clone();
    if let Err(e) = settings.auth_methods.patch(&config, &Value::Object(body)) {
        return g.fail(&e);
    }
    let work = g.state.directory.set_tenant_settings(tenant.id, settings);
    match g.write(super::Activity("Policy", "Update authentication methods policy", "Update"), Some(config.clone()), work).await {
        Ok(_) => no_content(),
        Err(r) => r,
    }
}

async fn taps_for_user(g: Graph, Path(id): Path<String>) -> Response {
    let user = attempt!(target(&g, &id, Op::ReadMethods).await);
    listing(&g, &user, Which::Passes).await
}

async fn one_tap(g: Graph, Path((id, method)): Path<(String, String)>) -> Response {
    let user = attempt!(target(&g, &id, Op::ReadMethods).await);
    let found =
        attempt!(methods_of(&g, &user, ward_auth::mfa::TAP).await).into_iter().find(|m| m.id.to_string() == method.to_ascii_lowercase());
    match found {
        Some(m) => match tap_view(&m, g.state.directory.now(), None) {
            Value::Object(v) => g.entity(&format!("users('{}')/authentication/temporaryAccessPassMethods", user.id), v, StatusCode::OK),
            _ => g.not_found(&method),
        },
        None => g.not_found(&method),
    }
}

/// `POST …/temporaryAccessPassMethods`: `{startDateTime?, lifetimeInMinutes? (10–43,200, default 60), isUsableOnce?}`;
/// the answer is the only place the pass appears.
async fn issue_tap(g: Graph, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    let user = attempt!(target(&g, &id, Op::WriteMethods).await);
    // A pass is someone else's word for who a person is: never one's own (with it, a stolen
    // password would become MFA, and MFA lets a person at risk add methods and remediate).
    if g.caller.user.as_ref().is_some_and(|me| me.id == user.id) {
        return g.forbidden("A Temporary Access Pass is issued by another administrator, not to oneself.");
    }
    let body = attempt!(g.object(&body));
    for k in body.keys() {
        if !matches!(k.as_str(), "startDateTime" | "lifetimeInMinutes" | "isUsableOnce" | "@odata.type") {
            return g.bad(&format!("Property '{}' cannot be set on a Temporary Access Pass.", ward_core::validate::clip(k)));
        }
    }
    let minutes = match body.get("lifetimeInMinutes") {
        None | Some(Value::Null) => 60,
        Some(v) => match v.as_i64().filter(|m| (ward_auth::mfa::TAP_MIN_MINUTES..=ward_auth::mfa::TAP_MAX_MINUTES).contains(m)) {
            Some(m) => m,
            None => return g.bad("lifetimeInMinutes must be between 10 and 43200."),
        },
    };
    let start = match body.get("startDateTime").and_then(Value::as_str) {
        None => None,
        Some(s) => match time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
            Ok(t) => Some(t),
            Err(_) => return g.bad("startDateTime must be a date and time (RFC 3339)."),
        },
    };
    let once = body.get("isUsableOnce").and_then(Value::as_bool).unwrap_or(false);
    let issued = g.state.tokens.issue_tap(&g.caller.tenant, &user, start, minutes, once).await;
    if issued.is_ok() {
        audit(&g, &user, "Admin registered security info", ward_auth::mfa::TAP).await;
    }
    match issued {
        Ok(issued) => match tap_view(&issued.method, g.state.directory.now(), Some(&issued.pass)) {
            Value::Object(v) => {
                g.entity(&format!("users('{}')/authentication/temporaryAccessPassMethods", user.id), v, StatusCode::CREATED)
            }
            _ => g.bad("The pass could not be issued."),
        },
        Err(ward_auth::mfa::EnrollError::NotEnabled) => {
            g.bad("The authentication methods policy does not enable Temporary Access Pass for this user.")
        }
        Err(_) => g.bad("The pass could not be issued."),
    }
}

async fn remove_tap(g: Graph, Path((id, method)): Path<(String, String)>) -> Response {
    let user = attempt!(target(&g, &id, Op::WriteMethods).await);
    remove(&g, &user, PASS, &method).await
}
