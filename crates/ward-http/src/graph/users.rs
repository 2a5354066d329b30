//! `/v1.0/users` and `/v1.0/me`: list (OData), read by id or userPrincipalName, create, update,
//! delete, `manager`, `directReports`, `revokeSignInSessions`.

use super::list::{ListSpec, count, respond};
use super::{Activity, Graph, attempt, no_content, views};
use crate::graph_authz::Op;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Map, Value, json};
use ward_core::ObjectKind;
use ward_core::index::{Cond, ObjectQuery, Test};
use ward_core::user::{NewUser, User, UserPatch};
use ward_directory::NewUserRequest;

pub fn routes() -> Router<crate::AppState> {
    Router::new()
        .route("/v1.0/users", get(list_users).post(create_user))
        .route("/v1.0/users/$count", get(count_users))
        .route("/v1.0/users/{id}", get(get_user).patch(patch_user).delete(delete_user))
        .route("/v1.0/users/{id}/manager", get(get_manager))
        .route("/v1.0/users/{id}/manager/$ref", put(set_manager).delete(remove_manager))
        .route("/v1.0/users/{id}/directReports", get(direct_reports))
        .route("/v1.0/users/{id}/revokeSignInSessions", post(revoke_sessions))
        .route("/v1.0/me", get(get_me))
        .route("/v1.0/me/manager", get(get_my_manager))
        .route("/v1.0/me/directReports", get(my_direct_reports))
}

pub const USERS: ListSpec = ListSpec { resource: &ward_odata::USER, kind: ObjectKind::User, path: "users", set: "users", deleted: false };

/// Properties Graph lets a client set on a user (besides `passwordProfile`).
const WRITABLE: [&str; 24] = [
    "userPrincipalName",
    "displayName",
    "mailNickname",
    "givenName",
    "surname",
    "mail",
    "otherMails",
    "jobTitle",
    "department",
    "employeeId",
    "employeeType",
    "usageLocation",
    "userType",
    "accountEnabled",
    "onPremisesImmutableId",
    "businessPhones",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "companyName",
    "city",
    "state",
    "country",
    "passwordProfile",
];
const READ_ONLY: [&str; 7] = [
    "id",
    "createdDateTime",
    "deletedDateTime",
    "signInSessionsValidFromDateTime",
    "refreshTokensValidFromDateTime",
    "proxyAddresses",
    "@odata.type",
];

/// Splits a user body into its properties and its password profile, refusing unknown and
/// read-only properties by name.
/// A new password and whether it must be changed at next sign-in.
type PasswordProfile = Option<(String, bool)>;

fn user_body(g: &Graph, mut body: Map<String, Value>) -> Result<(Map<String, Value>, PasswordProfile), Response> {
    for k in body.keys() {
        if READ_ONLY.contains(&k.as_str()) && k != "@odata.type" {
            return Err(g.bad(&format!("Property '{k}' is read-only and cannot be set.")));
        }
        if !WRITABLE.contains(&k.as_str()) && k != "@odata.type" {
            return Err(g.bad(&format!(
                "Property '{}' does not exist on type 'microsoft.graph.user' or is not supported by Ward.",
                ward_core::validate::clip(k)
            )));
        }
    }
    body.remove("@odata.type");
    let password = match body.remove("passwordProfile") {
        None | Some(Value::Null) => None,
        Some(Value::Object(p)) => {
            for k in p.keys() {
                if !matches!(k.as_str(), "password" | "forceChangePasswordNextSignIn" | "forceChangePasswordNextSignInWithMfa") {
                    return Err(g.bad(&format!("Property 'passwordProfile.{}' is not supported.", ward_core::validate::clip(k))));
                }
            }
            let Some(pw) = p.get("password").and_then(Value::as_str) else {
                return Err(g.bad("passwordProfile.password is required."));
            };
            let force = p.get("forceChangePasswordNextSignIn").and_then(Value::as_bool).unwrap_or(false)
                || p.get("forceChangePasswordNextSignInWithMfa").and_then(Value::as_bool).unwrap_or(false);
            Some((pw.to_string(), force))
        }
        Some(_) => return Err(g.bad("passwordProfile must be an object.")),
    };
    Ok((body, password))
}

fn typed<T: serde::de::DeserializeOwned>(g: &Graph, body: Map<String, Value>) -> Result<T, Response> {
    serde_json::from_value(Value::Object(body)).map_err(|e| g.bad(&format!("A property has a value of the wrong type: {e}.")))
}

async fn list_users(g: Graph, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    attempt!(g.require(Op::ReadUsers).await);
    respond::<User>(&g, &USERS, q.as_deref(), &headers, views::user).await
}

async fn count_users(g: Graph, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    attempt!(g.require(Op::ReadUsers).await);
    count(&g, &USERS, q.as_deref(), &headers).await
}

/// `$select` on a single user.
fn selected(g: &Graph, q: Option<&str>) -> Result<Option<Vec<&'static str>>, Response> {
    let raw = ward_odata::split_query(q).map_err(|e| super::list::odata_error(g, e))?;
    if raw.filter.is_some() || raw.orderby.is_some() || raw.top.is_some() || raw.search.is_some() || raw.skiptoken.is_some() {
        return Err(g.bad("Only $select applies to a single object."));
    }
    let options = ward_odata::QueryOptions { select: raw.select.as_deref(), ..Default::default() };
    ward_odata::parse(&ward_odata::USER, &options).map(|q| q.select).map_err(|e| super::list::odata_error(g, e))
}

fn show(g: &Graph, u: &User, select: Option<&[&'static str]>, status: StatusCode) -> Response {
    g.entity("users", views::project(views::user(u), &ward_odata::USER, select), status)
}

async fn get_user(g: Graph, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    attempt!(g.require(Op::ReadUsers).await);
    let select = attempt!(selected(&g, q.as_deref()));
    match g.state.directory.user(g.tenant(), &id).await {
        Ok(u) => show(&g, &u, select.as_deref(), StatusCode::OK),
        Err(e) => g.fail(&e),
    }
}

/// The signed-in user of a delegated token (Graph refuses `/me` app-only).
fn me(g: &Graph) -> Result<User, Response> {
    g.caller.user.clone().ok_or_else(|| g.bad("/me request is only valid with delegated authentication flow."))
}

async fn get_me(g: Graph, RawQuery(q): RawQuery) -> Response {
    attempt!(g.require(Op::ReadMe).await);
    let user = attempt!(me(&g));
    let select = attempt!(selected(&g, q.as_deref()));
    // The token's copy may be older than the directory's.
    match g.state.directory.user(g.tenant(), &user.id.to_string()).await {
        Ok(u) => show(&g, &u, select.as_deref(), StatusCode::OK),
        Err(e) => g.fail(&e),
    }
}

async fn create_user(g: Graph, body: Bytes) -> Response {
    attempt!(g.require(Op::WriteUsers).await);
    let (props, password) = attempt!(user_body(&g, attempt!(g.object(&body))));
    for required in ["accountEnabled", "displayName", "mailNickname", "userPrincipalName"] {
        if props.get(required).is_none_or(Value::is_null) {
            return g.bad(&format!("Invalid value specified for property '{required}' of resource 'User'."));
        }
    }
    let Some((password, force)) = password else {
        return g.bad("Invalid value specified for property 'passwordProfile' of resource 'User'.");
    };
    let user: NewUser = attempt!(typed(&g, props));
    let request = NewUserRequest { user, password: Some(password), force_change_password_next_sign_in: force };
    match g.write(Activity("UserManagement", "Add user", "Add"), None, g.state.directory.create_user(g.tenant(), request)).await {
        Ok(u) => show(&g, &u, None, StatusCode::CREATED),
        Err(r) => r,
    }
}

async fn patch_user(g: Graph, Path(id): Path<String>, body: Bytes) -> Response {
    attempt!(g.require(Op::WriteUsers).await);
    let (props, password) = attempt!(user_body(&g, attempt!(g.object(&body))));
    let patch: UserPatch = attempt!(typed(&g, props));
    // An administrator's new password is for someone else: set for oneself it would pass for an
    // administrator's reset (which remediates Identity Protection's risk) on the strength of
    // whatever this token's sign-in proved. One's own password changes on the change page.
    if password.is_some()
        && let Some(me) = &g.caller.user
        && g.state.directory.user(g.tenant(), &id).await.is_ok_and(|u| u.id == me.id)
    {
        return g.forbidden("Your own password is changed with your current one (the change-password page), not reset.");
    }
    let activity = if password.is_some() { "Update user and reset password" } else { "Update user" };
    let work = g.state.directory.update_user_with_password(g.tenant(), &id, patch, password);
    match g.write(Activity("UserManagement", activity, "Update"), Some(id.clone()), work).await {
        Ok(_) => no_content(),
        Err(r) => r,
    }
}

async fn delete_user(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::WriteUsers).await);
    match g
        .write(Activity("UserManagement", "Delete user", "Delete"), Some(id.clone()), g.state.directory.delete_user(g.tenant(), &id))
        .await
    {
        Ok(()) => no_content(),
        Err(r) => r,
    }
}

async fn manager_of(g: &Graph, user: &str) -> Response {
    let u = attempt!(g.state.directory.user(g.tenant(), user).await.map_err(|e| g.fail(&e)));
    let Some(manager) = u.manager_id else { return g.not_found(&format!("{}/manager", u.id)) };
    match g.state.directory.user(g.tenant(), &manager.to_string()).await {
        Ok(m) => {
            let mut v = views::project(views::user(&m), &ward_odata::USER, None);
            v.insert("@odata.type".into(), json!("#microsoft.graph.user"));
            g.entity("directoryObjects", v, StatusCode::OK)
        }
        Err(e) => g.fail(&e),
    }
}

async fn get_manager(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::ReadUsers).await);
    manager_of(&g, &id).await
}

async fn get_my_manager(g: Graph) -> Response {
    attempt!(g.require(Op::ReadMe).await);
    let user = attempt!(me(&g));
    manager_of(&g, &user.id.to_string()).await
}

async fn set_manager(g: Graph, Path(id): Path<String>, body: Bytes) -> Response {
    attempt!(g.require(Op::WriteUsers).await);
    let body = attempt!(g.object(&body));
    let manager = attempt!(g.reference(body.get("@odata.id")));
    let manager = manager.to_string();
    let work = g.state.directory.set_manager(g.tenant(), &id, Some(&manager));
    match g.write(Activity("UserManagement", "Set user manager", "Update"), Some(id.clone()), work).await {
        Ok(_) => no_content(),
        Err(r) => r,
    }
}

async fn remove_manager(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::WriteUsers).await);
    let work = g.state.directory.set_manager(g.tenant(), &id, None);
    match g.write(Activity("UserManagement", "Remove user manager", "Update"), Some(id.clone()), work).await {
        Ok(_) => no_content(),
        Err(r) => r,
    }
}

/// Users whose manager is `user`, found through the index (at most 999, like one Graph page).
async fn reports_of(g: &Graph, user: &str) -> Response {
    let u = attempt!(g.state.directory.user(g.tenant(), user).await.map_err(|e| g.fail(&e)));
    let query = ObjectQuery {
        kind: ObjectKind::User,
        deleted: false,
        cond: Cond::Prop { property: "managerId", test: Test::Eq(u.id.to_string()) },
        order_by: Some("displayName"),
        descending: false,
        after: None,
        limit: 999,
    };
    match g.state.directory.query::<User>(g.tenant(), &query).await {
        Ok(reports) => {
            let value: Vec<Value> = reports
                .iter()
                .map(|(r, _)| {
                    let mut v = views::project(views::user(r), &ward_odata::USER, None);
                    v.insert("@odata.type".into(), json!("#microsoft.graph.user"));
                    Value::Object(v)
                })
                .collect();
            Json(json!({ "@odata.context": g.context("directoryObjects"), "value": value })).into_response()
        }
        Err(e) => g.fail(&e),
    }
}

async fn direct_reports(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::ReadUsers).await);
    reports_of(&g, &id).await
}

async fn my_direct_reports(g: Graph) -> Response {
    attempt!(g.require(Op::ReadMe).await);
    let user = attempt!(me(&g));
    reports_of(&g, &user.id.to_string()).await
}

async fn revoke_sessions(g: Graph, Path(id): Path<String>) -> Response {
    // Signed-in users may revoke their own sessions; anyone else's needs the write permission.
    let own = g.caller.user.as_ref().is_some_and(|u| u.id.to_string() == id || u.user_principal_name.as_str().eq_ignore_ascii_case(&id));
    attempt!(g.require(if own { Op::ReadMe } else { Op::WriteUsers }).await);
    let work = g.state.directory.revoke_sign_in_sessions(g.tenant(), &id);
    match g.write(Activity("UserManagement", "Revoke sign-in sessions", "Update"), Some(id.clone()), work).await {
        Ok(_) => Json(json!({ "@odata.context": g.context("Edm.Boolean"), "value": true })).into_response(),
        Err(r) => r,
    }
}
