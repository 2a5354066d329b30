//! Graph's directory surface under `/v1.0`: users, groups, their relationships, deleted items and
//! directory roles, with Graph's OData query options, paging and errors. Every handler reads the
//! caller from a Ward-issued bearer token and checks one operation of [`crate::graph_authz`]
//! before it reaches the directory.

// Helpers here return a ready `Response` as their error, for the handler to send as is.
#![allow(clippy::result_large_err)]

mod audit;
mod branding;
mod conditional_access;
mod delta;
mod devices;
mod groups;
mod list;
mod methods;
mod objects;
mod risk;
mod sign_ins;
mod users;
mod views;

use crate::AppState;
use crate::error::{directory_error, graph_error};
use crate::graph_authz::{Op, allows, needs_user_roles};
use crate::layers::RequestId;
use axum::Json;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use ward_auth::introspect::Caller;
use ward_core::{DirectoryError, ObjectId};

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(users::routes())
        .merge(groups::routes())
        .merge(objects::routes())
        .merge(audit::routes())
        .merge(delta::routes())
        .merge(methods::routes())
        .merge(branding::routes())
        .merge(conditional_access::routes())
        .merge(sign_ins::routes())
        .merge(devices::routes())
        .merge(risk::routes())
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
pub(crate) use attempt;

/// The caller of a Graph request: a live Ward token for Graph, in the tenant it names.
pub(crate) struct Graph {
    pub state: AppState,
    pub caller: Caller,
    pub rid: String,
    /// The client's address (believed from proxies only when they are trusted), for the audit log.
    pub ip: Option<std::net::IpAddr>,
    /// `Prefer: include-unknown-enum-members`: enum members past `unknownFutureValue` are shown
    /// as they are (else as `unknownFutureValue`).
    pub unknown_enum_members: bool,
}

/// Does the request's `Prefer` header (any of them, comma-separated) hold `token`?
pub(crate) fn prefers(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case(token))
}

/// An activity of the directory audit log: category, Graph's activity name, operation type.
pub(crate) struct Activity(pub &'static str, pub &'static str, pub &'static str);

impl axum::extract::FromRequestParts<AppState> for Graph {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, Response> {
        let rid = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let caller = authenticate(state, &parts.headers, &rid).await?;
        throttle(state, &caller, &parts.method, &parts.uri, &rid)?;
        let ip = crate::client_ip::peer(&parts.extensions).map(|p| crate::client_ip::resolve(p, &parts.headers, &state.trusted_proxies));
        let unknown_enum_members = prefers(&parts.headers, "include-unknown-enum-members");
        Ok(Graph { state: state.clone(), caller, rid, ip, unknown_enum_members })
    }
}

/// Who is calling, as the audit log shows it.
pub(crate) fn initiated_by(caller: &Caller, ip: Option<std::net::IpAddr>) -> Value {
    let ip = ip.map(|i| i.to_string());
    let app = json!({ "appId": caller.app_id.to_string(), "displayName": Value::Null, "servicePrincipalId": Value::Null });
    match &caller.user {
        Some(u) => json!({
            "user": { "id": u.id.to_string(), "userPrincipalName": u.user_principal_name.as_str(), "displayName": u.display_name, "ipAddress": ip },
            "app": app,
        }),
        None => {
            let mut app = app;
            app["ipAddress"] = json!(ip);
            json!({ "user": Value::Null, "app": app })
        }
    }
}

pub(crate) async fn authenticate(state: &AppState, headers: &HeaderMap, rid: &str) -> Result<Caller, Response> {
    let unauthenticated = |message: &str| {
        let mut r = graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", "unauthenticated", message, rid);
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"ward\", error=\"invalid_token\""));
        r
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string())
        .ok_or_else(|| unauthenticated("Access token is empty."))?;
    match state.tokens.graph_caller(&token).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(unauthenticated("Access token validation failure: invalid, expired, revoked, or not for this API.")),
        Err(e) => Err(graph_error(StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable", "storage_unavailable", &e.description, rid)),
    }
}

/// What a request costs in Graph's resource units (entra-apis.md §1.9): list reads of users 2,
/// members 3, transitive members 5, checkMemberGroups 4, getMemberGroups and memberOf 2,
/// anything else 1; `$select` and a `$top` under 20 take one off; never below 1.
pub(crate) fn resource_units(method: &axum::http::Method, uri: &axum::http::Uri) -> u32 {
    let path = uri.path();
    let last = path.rsplit('/').next().unwrap_or_default();
    let base: u32 = match (method.as_str(), last) {
        ("GET", "members") => 3,
        ("GET", "transitiveMembers") => 5,
        ("POST", "checkMemberGroups") => 4,
        ("POST", "getMemberGroups") | ("GET", "memberOf") | ("GET", "transitiveMemberOf") => 2,
        ("GET", "users") | ("GET", "applications") | ("GET", "groups") => 2,
        _ => 1,
    };
    let query = uri.query().unwrap_or_default();
    let has = |name: &str| {
        query
            .split('&')
            .any(|p| p.split('=').next().is_some_and(|k| k.eq_ignore_ascii_case(name) || k.eq_ignore_ascii_case(&name.replace('$', "%24"))))
    };
    let small_top = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .any(|(k, v)| (k.eq_ignore_ascii_case("$top") || k.eq_ignore_ascii_case("%24top")) && v.parse::<u32>().is_ok_and(|n| n < 20));
    base.saturating_sub(u32::from(has("$select"))).saturating_sub(u32::from(small_top)).max(1)
}

/// Graph's throttling: a token bucket of resource units per application and tenant. Over it, 429
/// with `Retry-After` in Graph's envelope, as Graph's SDK retry handlers expect.
pub(crate) fn throttle(
    state: &AppState,
    caller: &Caller,
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    rid: &str,
) -> Result<(), Response> {
    let cost = resource_units(method, uri);
    match state.graph_throttle.take((caller.tenant.id, caller.app_id), f64::from(cost), std::time::Instant::now()) {
        Ok(()) => Ok(()),
        Err(wait) => {
            tracing::warn!(app_id = %caller.app_id, tenant = %caller.tenant.id, "graph throttled");
            let mut r = graph_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "throttled",
                &format!("Too many requests from this application. Retry after {wait} seconds."),
                rid,
            );
            let h = r.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(wait));
            h.insert("x-ms-resource-unit", HeaderValue::from(cost));
            h.insert("x-ms-throttle-scope", HeaderValue::from_static("Tenant_Application/ReadWrite"));
            h.insert("x-ms-throttle-information", HeaderValue::from_static("ResourceUnitLimitExceeded"));
            Err(r)
        }
    }
}

impl Graph {
    pub fn tenant(&self) -> ward_core::TenantId {
        self.caller.tenant.id
    }

    /// Refuses the request unless the token allows `op` (and, delegated, the user's roles do).
    pub async fn require(&self, op: Op) -> Result<(), Response> {
        if matches!(op, Op::ReadMe | Op::ReadMyMethods | Op::WriteMyMethods) && self.caller.user.is_none() {
            return Err(self.bad("/me request is only valid with delegated authentication flow."));
        }
        let roles = match (&self.caller.user, needs_user_roles(&self.caller, op)) {
            (Some(user), true) => self.state.directory.roles_of(self.tenant(), user.id).await.map_err(|e| self.fail(&e))?,
            _ => Vec::new(),
        };
        if allows(&self.caller, op, &roles) { Ok(()) } else { Err(self.denied()) }
    }

    fn initiated_by(&self) -> Value {
        initiated_by(&self.caller, self.ip)
    }

    /// Runs a directory write as an audited activity: the record is written with the change;
    /// a refused write is recorded as a failure against `target`.
    pub async fn write<T>(
        &self,
        activity: Activity,
        target: Option<String>,
        work: impl std::future::Future<Output = Result<T, DirectoryError>>,
    ) -> Result<T, Response> {
        let ctx = ward_core::audit::AuditContext {
            initiated_by: self.initiated_by(),
            category: activity.0,
            activity: activity.1,
            operation_type: activity.2,
            correlation_id: self.rid.clone(),
        };
        match ward_directory::audited(ctx.clone(), work).await {
            Ok(v) => Ok(v),
            Err(e) => {
                let reason = match e.code() {
                    ward_core::ErrorCode::Internal | ward_core::ErrorCode::StorageUnavailable => "internal error".to_string(),
                    _ => e.to_string(),
                };
                let targets = target.map(|t| vec![json!({ "id": t, "type": Value::Null, "displayName": Value::Null })]).unwrap_or_default();
                if let Err(failed) = self.state.directory.audit_failure(self.tenant(), &ctx, targets, &reason).await {
                    tracing::warn!(request_id = self.rid, error = %failed, "could not record a failed write in the audit log");
                }
                Err(self.fail(&e))
            }
        }
    }

    pub fn denied(&self) -> Response {
        graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "access_denied",
            "Insufficient privileges to complete the operation.",
            &self.rid,
        )
    }

    /// `403` with a sentence of why (the caller may do this, but not here, not to this target).
    pub fn forbidden(&self, message: &str) -> Response {
        graph_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied", "access_denied", message, &self.rid)
    }

    pub fn fail(&self, e: &DirectoryError) -> Response {
        directory_error(e, &self.rid)
    }

    pub fn bad(&self, message: &str) -> Response {
        graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", "invalid_value", message, &self.rid)
    }

    pub fn not_found(&self, id: &str) -> Response {
        graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            "not_found",
            &format!(
                "Resource '{}' does not exist or one of its queried reference-property objects are not present.",
                ward_core::validate::clip(id)
            ),
            &self.rid,
        )
    }

    pub fn context(&self, what: &str) -> String {
        format!("{}/v1.0/$metadata#{what}", self.state.public_url)
    }

    /// `201`/`200` with one entity and its `@odata.context`.
    pub fn entity(&self, set: &str, mut v: Map<String, Value>, status: StatusCode) -> Response {
        v.insert("@odata.context".into(), json!(self.context(&format!("{set}/$entity"))));
        (status, Json(Value::Object(v))).into_response()
    }

    /// A string collection (`getMemberGroups`, `checkMemberGroups`).
    pub fn strings(&self, ids: impl IntoIterator<Item = ObjectId>) -> Response {
        let value: Vec<String> = ids.into_iter().map(|i| i.to_string()).collect();
        Json(json!({ "@odata.context": self.context("Collection(Edm.String)"), "value": value })).into_response()
    }

    /// A request body that must be a JSON object.
    pub fn object(&self, body: &[u8]) -> Result<Map<String, Value>, Response> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(self.bad("The request body must be a JSON object.")),
            Err(e) => Err(self.bad(&format!("The request body is not valid JSON: {e}."))),
        }
    }

    pub fn parse_id(&self, id: &str) -> Result<ObjectId, Response> {
        id.parse::<ObjectId>().map_err(|_| {
            graph_error(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                "invalid_value",
                &format!("Invalid object identifier '{}'.", ward_core::validate::clip(id)),
                &self.rid,
            )
        })
    }

    /// The object id at the end of an `@odata.id` reference (`https://…/directoryObjects/{id}`,
    /// `…/users/{id}`, `…/groups/{id}`), or a bare id.
    pub fn reference(&self, v: Option<&Value>) -> Result<ObjectId, Response> {
        let Some(text) = v.and_then(Value::as_str) else {
            return Err(self.bad("A reference must be a string '@odata.id': 'https://…/v1.0/directoryObjects/{id}'."));
        };
        let last = text.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
        let last = last.strip_prefix("directoryObjects(").map(|s| s.trim_end_matches(')').trim_matches('\'')).unwrap_or(last);
        self.parse_id(last)
    }

    /// The ids of a `…@odata.bind` list: at most 20, all-or-nothing (Graph's limit).
    pub fn binds(&self, v: &Value, what: &str) -> Result<Vec<ObjectId>, Response> {
        let Some(items) = v.as_array() else { return Err(self.bad(&format!("{what} must be an array of references."))) };
        if items.len() > 20 {
            return Err(self.bad(&format!("{what} accepts at most 20 references per request.")));
        }
        let mut ids = Vec::with_capacity(items.len());
        for item in items {
            let id = self.reference(Some(item))?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }
}

/// `204 No Content`.
pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::resource_units;
    use axum::http::{Method, Uri};

    #[test]
    fn requests_cost_graphs_resource_units() {
        let ru = |m: Method, u: &str| resource_units(&m, &u.parse::<Uri>().unwrap());
        assert_eq!(ru(Method::GET, "/v1.0/users"), 2);
        assert_eq!(ru(Method::GET, "/v1.0/users?$select=id"), 1);
        assert_eq!(ru(Method::GET, "/v1.0/users?%24select=id&%24top=5"), 1, "never below 1");
        assert_eq!(ru(Method::GET, "/v1.0/groups/x/members"), 3);
        assert_eq!(ru(Method::GET, "/v1.0/groups/x/transitiveMembers?$top=10"), 4);
        assert_eq!(ru(Method::POST, "/v1.0/users/x/checkMemberGroups"), 4);
        assert_eq!(ru(Method::POST, "/v1.0/users/x/getMemberGroups"), 2);
        assert_eq!(ru(Method::PATCH, "/v1.0/users/x"), 1);
        assert_eq!(ru(Method::GET, "/v1.0/users?$top=50"), 2);
    }
}
