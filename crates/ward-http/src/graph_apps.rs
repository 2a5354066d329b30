//! Graph's application-registration surface: `/v1.0/applications` (with `addPassword`,
//! `removePassword`, `addKey`, `removeKey`), `/v1.0/servicePrincipals` (with their
//! `appRoleAssignments`) and `/v1.0/oauth2PermissionGrants`. Callers present Ward-issued bearer
//! tokens for `https://graph.microsoft.com`: app-only tokens need the application permission
//! `Application.ReadWrite.All` (reads also accept `Directory.Read.All`); delegated tokens need the
//! scope and, to write, a signed-in user who administers applications.

// Helpers here return a ready `Response` as their error, for the handler to send as is.
#![allow(clippy::result_large_err)]

use crate::AppState;
use crate::error::{directory_error, graph_error};
use crate::layers::RequestId;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use uuid::Uuid;
use ward_auth::introspect::Caller;
use ward_core::app::{Application, Platform, ServicePrincipal};
use ward_core::{DirectoryError, ObjectId};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1.0/applications", get(list_applications).post(create_application))
        .route("/v1.0/applications/{id}", get(get_application).patch(patch_application).delete(delete_application))
        .route("/v1.0/applications/{id}/addPassword", post(add_password))
        .route("/v1.0/applications/{id}/removePassword", post(remove_password))
        .route("/v1.0/applications/{id}/addKey", post(add_key))
        .route("/v1.0/applications/{id}/removeKey", post(remove_key))
        .route("/v1.0/servicePrincipals", get(list_service_principals).post(create_service_principal))
        .route("/v1.0/servicePrincipals/{id}", get(get_service_principal).patch(patch_service_principal).delete(delete_service_principal))
        .route("/v1.0/servicePrincipals/{id}/appRoleAssignments", get(list_app_role_assignments).post(create_app_role_assignment))
        .route("/v1.0/servicePrincipals/{id}/appRoleAssignments/{assignment}", delete(delete_app_role_assignment))
        .route("/v1.0/oauth2PermissionGrants", get(list_grants).post(create_grant))
        .route("/v1.0/oauth2PermissionGrants/{id}", delete(delete_grant))
}

/// `?` for handlers that answer with a `Response` either way: the error is the response.
macro_rules! attempt {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

/// Global Administrator, Application Administrator, Cloud Application Administrator.
const APP_ADMIN_ROLES: [&str; 3] =
    [ward_core::roles::GLOBAL_ADMINISTRATOR, "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "158c047a-c907-4556-b7ef-446551a6b5f7"];

struct Ctx {
    state: AppState,
    caller: Caller,
    rid: String,
}

impl Ctx {
    fn fail(&self, e: &DirectoryError) -> Response {
        directory_error(e, &self.rid)
    }
    fn bad(&self, message: &str) -> Response {
        graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", "invalid_value", message, &self.rid)
    }
    fn context(&self, what: &str) -> String {
        format!("{}/v1.0/$metadata#{what}", self.state.public_url)
    }
}

async fn ctx(state: AppState, parts: &axum::http::request::Parts, rid: RequestId, write: bool) -> Result<Ctx, Response> {
    let caller = crate::graph::authenticate(&state, &parts.headers, &rid.0).await?;
    crate::graph::throttle(&state, &caller, &parts.method, &parts.uri, &rid.0)?;
    let allowed: &[&str] = if write { &["Application.ReadWrite.All"] } else { &["Application.ReadWrite.All", "Directory.Read.All"] };
    let denied = || {
        graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "access_denied",
            "Insufficient privileges to complete the operation.",
            &rid.0,
        )
    };
    match &caller.user {
        None if caller.roles.iter().any(|r| allowed.contains(&r.as_str())) => {}
        Some(user) if caller.scopes.iter().any(|s| allowed.contains(&s.as_str())) => {
            if write {
                let roles = state.directory.roles_of(caller.tenant.id, user.id).await.map_err(|e| directory_error(&e, &rid.0))?;
                if !roles.iter().any(|r| APP_ADMIN_ROLES.contains(&r.as_str())) {
                    return Err(denied());
                }
            }
        }
        _ => return Err(denied()),
    }
    Ok(Ctx { state, caller, rid: rid.0 })
}

/// A caller allowed to read registrations (the extractor runs `ctx`).
struct Reader(Ctx);
/// A caller allowed to change registrations.
struct Writer(Ctx);

impl axum::extract::FromRequestParts<AppState> for Reader {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, Response> {
        let rid = parts.extensions.get::<RequestId>().cloned().unwrap_or(RequestId(String::new()));
        ctx(state.clone(), parts, rid, false).await.map(Reader)
    }
}

impl axum::extract::FromRequestParts<AppState> for Writer {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, Response> {
        let rid = parts.extensions.get::<RequestId>().cloned().unwrap_or(RequestId(String::new()));
        ctx(state.clone(), parts, rid, true).await.map(Writer)
    }
}

fn parse_id(c: &Ctx, id: &str) -> Result<ObjectId, Response> {
    id.parse::<ObjectId>().map_err(|e| c.fail(&e))
}

/// `$top` (1–999, default 100) and `$skiptoken` (the last id of the previous page).
fn paging(c: &Ctx, q: &HashMap<String, String>) -> Result<(u32, Option<ObjectId>), Response> {
    for k in q.keys() {
        if !matches!(k.as_str(), "$top" | "$skiptoken" | "$filter") {
            return Err(graph_error(
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                "invalid_value",
                &format!("Query option '{}' is not supported here.", ward_core::validate::clip(k)),
                &c.rid,
            ));
        }
    }
    let top = match q.get("$top") {
        Some(t) => t.parse::<u32>().ok().filter(|n| (1..=999).contains(n)).ok_or_else(|| c.bad("$top must be between 1 and 999."))?,
        None => 100,
    };
    let after = q.get("$skiptoken").map(|s| parse_id(c, s)).transpose()?;
    Ok((top, after))
}

fn collection(c: &Ctx, what: &str, path: &str, items: Vec<Value>, top: u32, last: Option<ObjectId>) -> Response {
    let mut body = json!({ "@odata.context": c.context(what), "value": items });
    if let Some(last) = last {
        body["@odata.nextLink"] = json!(format!("{}/v1.0/{path}?$top={top}&$skiptoken={last}", c.state.public_url));
    }
    Json(body).into_response()
}

fn entity(c: &Ctx, what: &str, mut v: Value, status: StatusCode) -> Response {
    v["@odata.context"] = json!(c.context(&format!("{what}/$entity")));
    (status, Json(v)).into_response()
}

/// An application as Graph shows it: certificates' key material is not returned.
fn app_view(app: &Application) -> Value {
    let mut v = serde_json::to_value(app).unwrap_or_default();
    if let Some(keys) = v.get_mut("keyCredentials").and_then(Value::as_array_mut) {
        for k in keys {
            k["key"] = Value::Null;
        }
    }
    v
}

fn body_object(c: &Ctx, body: &[u8]) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(c.bad("The request body must be a JSON object.")),
    }
}

fn strings(c: &Ctx, v: &Value, what: &str) -> Result<Vec<String>, Response> {
    v.as_array()
        .ok_or_else(|| c.bad(&format!("{what} must be an array of strings.")))?
        .iter()
        .map(|s| s.as_str().map(str::to_string).ok_or_else(|| c.bad(&format!("{what} must be an array of strings."))))
        .collect()
}

fn redirect_uris(c: &Ctx, v: &Value, what: &str) -> Result<Vec<String>, Response> {
    let Some(obj) = v.as_object() else { return Err(c.bad(&format!("{what} must be an object."))) };
    for k in obj.keys() {
        if !matches!(k.as_str(), "redirectUris" | "homePageUrl" | "logoutUrl") {
            return Err(c.bad(&format!("Property '{}' of {what} is not supported.", ward_core::validate::clip(k))));
        }
    }
    obj.get("redirectUris").map(|r| strings(c, r, &format!("{what}.redirectUris"))).transpose().map(Option::unwrap_or_default)
}

/// Applies Graph properties to an application; anything unknown or read-only is refused by name.
async fn apply(c: &Ctx, app: &mut Application, props: &Map<String, Value>, creating: bool) -> Result<(), Response> {
    for (k, v) in props {
        let r: Result<(), DirectoryError> = match k.as_str() {
            "displayName" if !creating => v
                .as_str()
                .ok_or_else(|| DirectoryError::invalid("displayName", "must be a string"))
                .and_then(|s| ward_core::validate::required_text("displayName", s, 256))
                .map(|s| app.display_name = s),
            "displayName" => Ok(()),
            "signInAudience" => match v.as_str() {
                Some("AzureADMyOrg") => Ok(()),
                _ => Err(DirectoryError::invalid("signInAudience", "Ward registers single-tenant applications (AzureADMyOrg) only")),
            },
            "web" => app.set_redirect_uris(Platform::Web, &redirect_uris(c, v, "web")?),
            "spa" => app.set_redirect_uris(Platform::Spa, &redirect_uris(c, v, "spa")?),
            "publicClient" => app.set_redirect_uris(Platform::PublicClient, &redirect_uris(c, v, "publicClient")?),
            "tokenSigningAlgorithm" => app.set_token_signing_algorithm(v.as_str()),
            "identifierUris" => {
                let uris = strings(c, v, "identifierUris")?;
                for uri in &uris {
                    let ok_form = uri.len() <= 256
                        && (uri.starts_with("api://") && uri.len() > 6
                            || url::Url::parse(uri)
                                .ok()
                                .filter(|u| u.scheme() == "https")
                                .and_then(|u| u.host_str().map(str::to_string))
                                .is_some_and(|host| {
                                    c.caller.tenant.verified_domains.iter().any(|d| {
                                        host.eq_ignore_ascii_case(d.name.as_str())
                                            || host.to_ascii_lowercase().ends_with(&format!(".{}", d.name.as_str()))
                                    })
                                }));
                    if !ok_form {
                        return Err(c.bad(&format!(
                            "identifierUris: '{}' must be api://… or https:// on a verified domain of this tenant.",
                            ward_core::validate::clip(uri)
                        )));
                    }
                    // `api://{guid}` names the application with that appId: only that one may claim it.
                    if let Some(guid) = uri.strip_prefix("api://").and_then(|g| Uuid::parse_str(g.trim_end_matches('/')).ok())
                        && guid != app.app_id
                    {
                        return Err(c.bad(&format!("identifierUris: '{uri}' names another application's appId.")));
                    }
                    match c.state.directory.application_by_identifier_uri(c.caller.tenant.id, uri).await {
                        Ok(Some(other)) if other.app_id != app.app_id => {
                            return Err(graph_error(
                                StatusCode::BAD_REQUEST,
                                "Request_BadRequest",
                                "conflict",
                                &format!("Another application already uses the identifier URI '{uri}'."),
                                &c.rid,
                            ));
                        }
                        Ok(_) => {}
                        Err(e) => return Err(c.fail(&e)),
                    }
                }
                app.identifier_uris = uris;
                Ok(())
            }
            "api" => {
                let scopes = v.get("oauth2PermissionScopes").cloned().unwrap_or(json!([]));
                if v.as_object()
                    .is_some_and(|o| o.keys().any(|k| !matches!(k.as_str(), "oauth2PermissionScopes" | "requestedAccessTokenVersion")))
                {
                    return Err(c.bad("Only api.oauth2PermissionScopes (and requestedAccessTokenVersion) are supported."));
                }
                let Some(list) = scopes.as_array() else { return Err(c.bad("api.oauth2PermissionScopes must be an array.")) };
                let keep_uris = app.identifier_uris.clone();
                app.api.oauth2_permission_scopes.clear();
                let mut result = Ok(());
                for s in list {
                    let id = s.get("id").and_then(Value::as_str).and_then(|i| Uuid::parse_str(i).ok()).unwrap_or_else(Uuid::new_v4);
                    let value = s.get("value").and_then(Value::as_str).unwrap_or_default();
                    let admin = s.get("type").and_then(Value::as_str) == Some("Admin");
                    let description = s.get("adminConsentDescription").and_then(Value::as_str).unwrap_or(value);
                    result = app.expose_scope(id, value, admin, description);
                    if let (Ok(()), Some(false)) = (&result, s.get("isEnabled").and_then(Value::as_bool))
                        && let Some(last) = app.api.oauth2_permission_scopes.last_mut()
                    {
                        last.is_enabled = false;
                    }
                    if result.is_err() {
                        break;
                    }
                }
                if !keep_uris.is_empty() {
                    app.identifier_uris = keep_uris;
                }
                result
            }
            "appRoles" => {
                let Some(list) = v.as_array() else { return Err(c.bad("appRoles must be an array.")) };
                let keep_uris = app.identifier_uris.clone();
                app.app_roles.clear();
                let mut result = Ok(());
                for r in list {
                    let members: Vec<&str> = r
                        .get("allowedMemberTypes")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    if members != ["Application"] {
                        return Err(
                            c.bad("appRoles: only allowedMemberTypes [\"Application\"] (application permissions) are supported so far.")
                        );
                    }
                    let id = r.get("id").and_then(Value::as_str).and_then(|i| Uuid::parse_str(i).ok()).unwrap_or_else(Uuid::new_v4);
                    let value = r.get("value").and_then(Value::as_str).unwrap_or_default();
                    let description = r.get("description").or_else(|| r.get("displayName")).and_then(Value::as_str).unwrap_or(value);
                    result = app.define_app_role(id, value, description);
                    if result.is_err() {
                        break;
                    }
                    if r.get("isEnabled").and_then(Value::as_bool) == Some(false)
                        && let Some(last) = app.app_roles.last_mut()
                    {
                        last.is_enabled = false;
                    }
                }
                if !keep_uris.is_empty() {
                    app.identifier_uris = keep_uris;
                }
                result
            }
            "requiredResourceAccess" => {
                let parsed: Vec<ward_core::app::RequiredResourceAccess> = match serde_json::from_value(v.clone()) {
                    Ok(p) => p,
                    Err(_) => return Err(c.bad("requiredResourceAccess must be [{resourceAppId, resourceAccess: [{id, type}]}].")),
                };
                for r in &parsed {
                    let resource = match c.state.directory.resource(c.caller.tenant.id, &r.resource_app_id.to_string()).await {
                        Ok(Some((res, _))) => res,
                        Ok(None) => {
                            return Err(
                                c.bad(&format!("requiredResourceAccess: no resource with appId {} in this tenant.", r.resource_app_id))
                            );
                        }
                        Err(e) => return Err(c.fail(&e)),
                    };
                    for a in &r.resource_access {
                        let known = match a.access_type.as_str() {
                            "Scope" => {
                                resource.scopes.iter().any(|s| s.id == a.id)
                                    || ward_core::permissions::GRAPH_PERMISSIONS
                                        .iter()
                                        .any(|p| resource.is_graph() && p.scope_id == Some(a.id.to_string().as_str()))
                            }
                            "Role" => resource.app_roles.iter().any(|(id, _)| *id == a.id),
                            _ => false,
                        };
                        if !known {
                            return Err(c.bad(&format!(
                                "requiredResourceAccess: {} {} is not a permission of {}.",
                                a.access_type, a.id, resource.display_name
                            )));
                        }
                    }
                }
                app.required_resource_access = parsed;
                Ok(())
            }
            "id" | "appId" | "createdDateTime" | "passwordCredentials" | "keyCredentials" => {
                Err(DirectoryError::invalid("property", format!("'{k}' is read-only here (use addPassword / addKey for credentials)")))
            }
            other => Err(DirectoryError::invalid(
                "property",
                format!(
                    "Property '{}' does not exist on type 'microsoft.graph.application' or is not supported by Ward.",
                    ward_core::validate::clip(other)
                ),
            )),
        };
        r.map_err(|e| c.fail(&e))?;
    }
    Ok(())
}

async fn list_applications(Reader(c): Reader, Query(q): Query<HashMap<String, String>>) -> Response {
    let (top, after) = attempt!(paging(&c, &q));
    match c.state.directory.applications(c.caller.tenant.id, after, top).await {
        Ok(apps) => {
            let last = (apps.len() as u32 == top).then(|| apps.last().map(|a| a.id)).flatten();
            collection(&c, "applications", "applications", apps.iter().map(app_view).collect(), top, last)
        }
        Err(e) => c.fail(&e),
    }
}

async fn create_application(Writer(c): Writer, body: axum::body::Bytes) -> Response {
    let props = attempt!(body_object(&c, &body));
    let Some(name) = props.get("displayName").and_then(Value::as_str) else { return c.bad("displayName is required.") };
    // Validate everything against a scratch copy first, so nothing is written when a property is wrong.
    let mut scratch =
        attempt!(Application::create(name, ObjectId::from_uuid(Uuid::nil()), Uuid::nil(), c.state.directory.now()).map_err(|e| c.fail(&e)));
    if let Err(r) = apply(&c, &mut scratch, &props, true).await {
        return r;
    }
    let created = c
        .state
        .directory
        .register_application(c.caller.tenant.id, name, |app| {
            let (id, app_id) = (app.id, app.app_id);
            *app = Application {
                id,
                app_id,
                identifier_uris: scratch.identifier_uris.iter().map(|u| u.replace(&Uuid::nil().to_string(), &app_id.to_string())).collect(),
                ..scratch
            };
            Ok(())
        })
        .await;
    match created {
        Ok(app) => {
            tracing::info!(tenant = %c.caller.tenant.id, app = %app.app_id, by = %c.caller.app_id, "application registered");
            entity(&c, "applications", app_view(&app), StatusCode::CREATED)
        }
        Err(e) => c.fail(&e),
    }
}

async fn get_application(Reader(c): Reader, Path(id): Path<String>) -> Response {
    let id = attempt!(parse_id(&c, &id));
    match c.state.directory.application(c.caller.tenant.id, id).await {
        Ok(app) => entity(&c, "applications", app_view(&app), StatusCode::OK),
        Err(e) => c.fail(&e),
    }
}

async fn patch_application(Writer(c): Writer, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    let (id, props) = (attempt!(parse_id(&c, &id)), attempt!(body_object(&c, &body)));
    let read = attempt!(c.state.directory.application(c.caller.tenant.id, id).await.map_err(|e| c.fail(&e)));
    let mut app = read.clone();
    if let Err(r) = apply(&c, &mut app, &props, false).await {
        return r;
    }
    // `apply` may have awaited: if the application changed meanwhile (a key removed, a secret
    // added), writing this copy would undo that; the client retries on 409.
    match c
        .state
        .directory
        .update_application(c.caller.tenant.id, id, |stored| {
            if *stored != read {
                return Err(DirectoryError::Conflict);
            }
            *stored = app;
            Ok(())
        })
        .await
    {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => c.fail(&e),
    }
}

async fn delete_application(Writer(c): Writer, Path(id): Path<String>) -> Response {
    let id = attempt!(parse_id(&c, &id));
    match c.state.directory.delete_application(c.caller.tenant.id, id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => c.fail(&e),
    }
}

async fn add_password(Writer(c): Writer, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    let (id, props) = (attempt!(parse_id(&c, &id)), attempt!(body_object(&c, &body)));
    let cred = props.get("passwordCredential").cloned().unwrap_or(json!({}));
    let name = cred.get("displayName").and_then(Value::as_str);
    let now = c.state.directory.now();
    let lifetime = match cred.get("endDateTime").and_then(Value::as_str) {
        Some(end) => match time::OffsetDateTime::parse(end, &time::format_description::well_known::Rfc3339) {
            Ok(end) => end - now,
            Err(_) => return c.bad("passwordCredential.endDateTime is not an ISO 8601 date-time."),
        },
        None => time::Duration::days(730),
    };
    match c.state.directory.add_client_secret(c.caller.tenant.id, id, name, lifetime).await {
        Ok((credential, secret)) => {
            let mut v = serde_json::to_value(&credential).unwrap_or_default();
            v["secretText"] = json!(secret);
            v["customKeyIdentifier"] = Value::Null;
            entity(&c, "microsoft.graph.passwordCredential", v, StatusCode::OK)
        }
        Err(e) => c.fail(&e),
    }
}

fn key_id(c: &Ctx, props: &Map<String, Value>) -> Result<Uuid, Response> {
    props.get("keyId").and_then(Value::as_str).and_then(|k| Uuid::parse_str(k).ok()).ok_or_else(|| c.bad("keyId (a GUID) is required."))
}

async fn remove_password(Writer(c): Writer, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    let (id, props) = (attempt!(parse_id(&c, &id)), attempt!(body_object(&c, &body)));
    let key = attempt!(key_id(&c, &props));
    match c.state.directory.remove_client_secret(c.caller.tenant.id, id, key).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => c.fail(&e),
    }
}

/// Needs a proof signed by a current key when the application has one (Graph's rule); the first
/// key of an application is added on the caller's `Application.ReadWrite.All` alone.
fn check_proof(c: &Ctx, app: &Application, props: &Map<String, Value>) -> Result<(), Response> {
    let now = c.state.directory.now();
    if !app.key_credentials.iter().any(|k| k.start_date_time <= now && now < k.end_date_time) {
        return Ok(());
    }
    let proof = props
        .get("proof")
        .and_then(Value::as_str)
        .ok_or_else(|| c.bad("proof is required: a JWT signed with one of the application's current keys."))?;
    c.state.tokens.check_key_proof(app, proof).map_err(|e| c.bad(&e.description))
}

async fn add_key(Writer(c): Writer, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    let (id, props) = (attempt!(parse_id(&c, &id)), attempt!(body_object(&c, &body)));
    let app = attempt!(c.state.directory.application(c.caller.tenant.id, id).await.map_err(|e| c.fail(&e)));
    if let Err(r) = check_proof(&c, &app, &props) {
        return r;
    }
    let Some(key) = props.get("keyCredential").and_then(|k| k.get("key")).and_then(Value::as_str) else {
        return c.bad("keyCredential.key (the base64 certificate) is required.");
    };
    let name = props.get("keyCredential").and_then(|k| k.get("displayName")).and_then(Value::as_str);
    match c.state.directory.add_client_key(c.caller.tenant.id, id, key, name, time::Duration::days(365)).await {
        Ok(credential) => {
            let mut v = serde_json::to_value(&credential).unwrap_or_default();
            v["key"] = Value::Null;
            entity(&c, "microsoft.graph.keyCredential", v, StatusCode::OK)
        }
        Err(e) => c.fail(&e),
    }
}

async fn remove_key(Writer(c): Writer, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    let (id, props) = (attempt!(parse_id(&c, &id)), attempt!(body_object(&c, &body)));
    let app = attempt!(c.state.directory.application(c.caller.tenant.id, id).await.map_err(|e| c.fail(&e)));
    let key = attempt!(key_id(&c, &props));
    // removeKey always needs proof (Graph's rule): only a holder of a current key may remove one.
    let Some(proof) = props.get("proof").and_then(Value::as_str) else { return c.bad("proof is required.") };
    if let Err(e) = c.state.tokens.check_key_proof(&app, proof) {
        return c.bad(&e.description);
    }
    match c.state.directory.remove_client_key(c.caller.tenant.id, id, key).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => c.fail(&e),
    }
}

fn sp_view(sp: &ServicePrincipal) -> Value {
    let mut v = serde_json::to_value(sp).unwrap_or_default();
    v["servicePrincipalNames"] = json!([sp.app_id.to_string()]);
    v
}

async fn list_service_principals(Reader(c): Reader, Query(q): Query<HashMap<String, String>>) -> Response {
    let (top, after) = attempt!(paging(&c, &q));
    match c.state.directory.service_principals(c.caller.tenant.id, after, top).await {
        Ok(sps) => {
            let last = (sps.len() as u32 == top).then(|| sps.last().map(|s| s.id)).flatten();
            collection(&c, "servicePrincipals", "servicePrincipals", sps.iter().map(sp_view).collect(), top, last)
        }
        Err(e) => c.fail(&e),
    }
}

async fn create_service_principal(Writer(c): Writer, body: axum::body::Bytes) -> Response {
    let props = attempt!(body_object(&c, &body));
    if props.keys().any(|k| k != "appId") {
        return c.bad("Only appId can be given when creating a service principal.");
    }
    let Some(app_id) = props.get("appId").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()) else {
        return c.bad("appId (a GUID) is required.");
    };
    match c.state.directory.create_service_principal(c.caller.tenant.id, app_id).await {
        Ok(sp) => entity(&c, "servicePrincipals", sp_view(&sp), StatusCode::CREATED),
        Err(e) => c.fail(&e),
    }
}

async fn get_service_principal(Reader(c): Reader, Path(id): Path<String>) -> Response {
    let id = attempt!(parse_id(&c, &id));
    match c.state.directory.service_principal(c.caller.tenant.id, id).await {
        Ok(sp) => entity(&c, "servicePrincipals", sp_view(&sp), StatusCode::OK),
        Err(e) => c.fail(&e),
    }
}

async fn patch_service_principal(Writer(c): Writer, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    let (id, props) = (attempt!(parse_id(&c, &id)), attempt!(body_object(&c, &body)));
    if props.keys().any(|k| k != "accountEnabled") {
        return c.bad("Only accountEnabled can be changed on a service principal here.");
    }
    let Some(enabled) = props.get("accountEnabled").and_then(Value::as_bool) else { return c.bad("accountEnabled must be true or false.") };
    match c.state.directory.set_service_principal_enabled(c.caller.tenant.id, id, enabled).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => c.fail(&e),
    }
}

async fn delete_service_principal(Writer(c): Writer, Path(id): Path<String>) -> Response {
    let id = attempt!(parse_id(&c, &id));
    match c.state.directory.delete_service_principal(c.caller.tenant.id, id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => c.fail(&e),
    }
}

async fn list_app_role_assignments(Reader(c): Reader, Path(id): Path<String>) -> Response {
    let id = attempt!(parse_id(&c, &id));
    if let Err(e) = c.state.directory.service_principal(c.caller.tenant.id, id).await {
        return c.fail(&e);
    }
    match c.state.directory.app_role_assignments_of(c.caller.tenant.id, id).await {
        Ok(list) => {
            let items = list.iter().map(|a| serde_json::to_value(a).unwrap_or_default()).collect();
            collection(&c, &format!("servicePrincipals('{id}')/appRoleAssignments"), "", items, 0, None)
        }
        Err(e) => c.fail(&e),
    }
}

async fn create_app_role_assignment(Writer(c): Writer, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    let (id, props) = (attempt!(parse_id(&c, &id)), attempt!(body_object(&c, &body)));
    let text = |k: &str| props.get(k).and_then(Value::as_str).unwrap_or_default();
    if text("principalId") != id.to_string() {
        return c.bad("principalId must be the service principal in the URL.");
    }
    let resource = attempt!(parse_id(&c, text("resourceId")));
    let resource_sp = attempt!(c.state.directory.service_principal(c.caller.tenant.id, resource).await.map_err(|e| c.fail(&e)));
    let role = text("appRoleId");
    match c.state.directory.grant_app_role_on(c.caller.tenant.id, id, &resource_sp.app_id.to_string(), role).await {
        Ok(a) => {
            tracing::info!(tenant = %c.caller.tenant.id, principal = %id, role = %a.app_role_id, by = %c.caller.app_id, "application permission granted");
            entity(&c, "servicePrincipals/appRoleAssignments", serde_json::to_value(&a).unwrap_or_default(), StatusCode::CREATED)
        }
        Err(e) => c.fail(&e),
    }
}

async fn delete_app_role_assignment(Writer(c): Writer, Path((id, assignment)): Path<(String, String)>) -> Response {
    let (id, assignment) = (attempt!(parse_id(&c, &id)), attempt!(parse_id(&c, &assignment)));
    match c.state.directory.delete_app_role_assignment(c.caller.tenant.id, id, assignment).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => c.fail(&e),
    }
}

async fn list_grants(Reader(c): Reader, Query(q): Query<HashMap<String, String>>) -> Response {
    // `$filter=clientId eq '{id}'`, the one filter Graph's clients use here.
    let client = match q.get("$filter") {
        None => None,
        Some(f) => {
            let id = f.strip_prefix("clientId eq '").and_then(|r| r.strip_suffix('\''));
            match id.map(|i| i.parse::<ObjectId>()) {
                Some(Ok(i)) => Some(i),
                _ => {
                    return graph_error(
                        StatusCode::BAD_REQUEST,
                        "Request_UnsupportedQuery",
                        "invalid_value",
                        "Only $filter=clientId eq '{id}' is supported.",
                        &c.rid,
                    );
                }
            }
        }
    };
    match c.state.directory.oauth2_permission_grants(c.caller.tenant.id, client).await {
        Ok(list) => collection(
            &c,
            "oauth2PermissionGrants",
            "",
            list.iter().map(|g| serde_json::to_value(g).unwrap_or_default()).collect(),
            0,
            None,
        ),
        Err(e) => c.fail(&e),
    }
}

async fn create_grant(Writer(c): Writer, body: axum::body::Bytes) -> Response {
    let props = attempt!(body_object(&c, &body));
    let text = |k: &str| props.get(k).and_then(Value::as_str).map(str::to_string);
    let (Some(client), Some(resource), Some(scope)) = (text("clientId"), text("resourceId"), text("scope")) else {
        return c.bad("clientId, resourceId and scope are required.");
    };
    let (client, resource) = (attempt!(parse_id(&c, &client)), attempt!(parse_id(&c, &resource)));
    let principal = match (text("consentType").as_deref(), text("principalId")) {
        (Some("AllPrincipals"), None) => None,
        (Some("Principal"), Some(p)) => match parse_id(&c, &p) {
            Ok(p) => Some(p),
            Err(r) => return r,
        },
        _ => return c.bad("consentType is AllPrincipals (without principalId) or Principal (with principalId)."),
    };
    let resource_sp = attempt!(c.state.directory.service_principal(c.caller.tenant.id, resource).await.map_err(|e| c.fail(&e)));
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    match c.state.directory.grant_delegated(c.caller.tenant.id, client, &resource_sp.app_id.to_string(), principal, &scopes).await {
        Ok(g) => {
            tracing::info!(tenant = %c.caller.tenant.id, client = %client, scope = %g.scope, by = %c.caller.app_id, "delegated permissions granted");
            entity(&c, "oauth2PermissionGrants", serde_json::to_value(&g).unwrap_or_default(), StatusCode::CREATED)
        }
        Err(e) => c.fail(&e),
    }
}

async fn delete_grant(Writer(c): Writer, Path(id): Path<String>) -> Response {
    let id = attempt!(parse_id(&c, &id));
    match c.state.directory.delete_oauth2_permission_grant(c.caller.tenant.id, id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => c.fail(&e),
    }
}

/// The audit activity of a write to the registration API, from its method and route.
fn activity(method: &axum::http::Method, route: &str) -> Option<crate::graph::Activity> {
    use crate::graph::Activity;
    const APPS: &str = "ApplicationManagement";
    let last = route.rsplit('/').next().unwrap_or_default();
    Some(match (method.as_str(), route) {
        ("POST", "/v1.0/applications") => Activity(APPS, "Add application", "Add"),
        ("PATCH", "/v1.0/applications/{id}") => Activity(APPS, "Update application", "Update"),
        ("DELETE", "/v1.0/applications/{id}") => Activity(APPS, "Delete application", "Delete"),
        ("POST", _) if matches!(last, "addPassword" | "removePassword" | "addKey" | "removeKey") => {
            Activity(APPS, "Update application – Certificates and secrets management", "Update")
        }
        ("POST", "/v1.0/servicePrincipals") => Activity(APPS, "Add service principal", "Add"),
        ("PATCH", "/v1.0/servicePrincipals/{id}") => Activity(APPS, "Update service principal", "Update"),
        ("DELETE", "/v1.0/servicePrincipals/{id}") => Activity(APPS, "Remove service principal", "Delete"),
        ("POST", "/v1.0/servicePrincipals/{id}/appRoleAssignments") => {
            Activity(APPS, "Add app role assignment to service principal", "Assign")
        }
        ("DELETE", "/v1.0/servicePrincipals/{id}/appRoleAssignments/{assignment}") => {
            Activity(APPS, "Remove app role assignment from service principal", "Unassign")
        }
        ("POST", "/v1.0/oauth2PermissionGrants") => Activity(APPS, "Add delegated permission grant", "Add"),
        ("DELETE", "/v1.0/oauth2PermissionGrants/{id}") => Activity(APPS, "Remove delegated permission grant", "Delete"),
        _ => return None,
    })
}

/// Around every write of the registration API: the change carries its audit record; a write the
/// directory refused (4xx other than authentication and permission, or 5xx) is recorded as failed.
pub async fn audit_writes(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = request.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_default();
    let Some(crate::graph::Activity(category, name, operation)) = activity(request.method(), &route) else {
        return next.run(request).await;
    };
    let rid = request.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    // The handler authenticates and authorizes; this only needs to know who it is, when it is someone.
    let Ok(caller) = crate::graph::authenticate(&state, request.headers(), &rid).await else { return next.run(request).await };
    let ip = crate::client_ip::peer(request.extensions()).map(|p| crate::client_ip::resolve(p, request.headers(), &state.trusted_proxies));
    let target = request.uri().path().split('/').nth(3).filter(|s| Uuid::parse_str(s).is_ok()).map(str::to_string);
    let ctx = ward_core::audit::AuditContext {
        initiated_by: crate::graph::initiated_by(&caller, ip),
        category,
        activity: name,
        operation_type: operation,
        correlation_id: rid.clone(),
    };
    let response = ward_directory::audited(ctx.clone(), next.run(request)).await;
    let status = response.status();
    if (status.is_client_error() && !matches!(status.as_u16(), 401 | 403 | 429)) || status.is_server_error() {
        let targets = target.map(|t| vec![json!({ "id": t, "type": Value::Null, "displayName": Value::Null })]).unwrap_or_default();
        let reason = format!("HTTP {}", status.as_u16());
        if let Err(e) = state.directory.audit_failure(caller.tenant.id, &ctx, targets, &reason).await {
            tracing::warn!(request_id = rid, error = %e, "could not record a failed write in the audit log");
        }
    }
    response
}
