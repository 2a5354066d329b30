//! SCIM 2.0 under `/scim/v2/{tenant}/` (RFC 7643/7644, and Entra's provisioning client as
//! entra-apis.md §4 describes it): `Users`, `Groups`, `Bulk` and the discovery resources. The
//! protocol core is `ward-scim`; this module authenticates, reads and writes the one directory,
//! and answers in SCIM's shapes (`application/scim+json`, errors with `scimType`).
//!
//! Who may call: a tenant's SCIM token (`ward scim token create`), or a Ward access token for
//! Ward's API issued to an application in the URL's tenant with the permissions Graph would ask
//! for the same change (`User.ReadWrite.All` for users, `Group.ReadWrite.All` for groups; reads
//! also with the read permissions).

mod bulk;
mod groups;
mod list;
pub(crate) mod mapping;
mod users;

use crate::AppState;
use crate::layers::RequestId;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;
use ward_core::DirectoryError;
use ward_core::tenant::Tenant;
use ward_scim::ScimError;

/// Most operations in one Bulk request, and the largest body any SCIM request may have (the
/// server's body limit, so what is advertised is what holds).
pub const BULK_MAX_OPERATIONS: usize = 1000;
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;
/// Most resources in one page (`count` above it gets this many, RFC 7644 §3.4.2.4).
pub const MAX_PAGE: usize = 1000;
pub const DEFAULT_PAGE: usize = 100;

pub const CONTENT_TYPE: &str = "application/scim+json";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/scim/v2/{tenant}/ServiceProviderConfig", get(service_provider_config))
        .route("/scim/v2/{tenant}/Schemas", get(schemas))
        .route("/scim/v2/{tenant}/Schemas/{id}", get(schema))
        .route("/scim/v2/{tenant}/ResourceTypes", get(resource_types))
        .route("/scim/v2/{tenant}/ResourceTypes/{id}", get(resource_type))
        .route("/scim/v2/{tenant}/Bulk", post(bulk::bulk))
        .route("/scim/v2/{tenant}/Me", axum::routing::any(not_implemented))
        .route("/scim/v2/{tenant}/.search", post(not_implemented))
        .merge(users::routes())
        .merge(groups::routes())
}

/// A handler's result as the response: the resource, or the SCIM error.
pub(super) fn answer(result: Result<Response, ScimError>) -> Response {
    result.unwrap_or_else(|e| error_response(&e))
}

/// A SCIM error as a response.
pub fn error_response(e: &ScimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (status, e.to_json().to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"ward-scim\", error=\"invalid_token\""));
    }
    r
}

/// A SCIM resource (or message) with its status and headers.
pub fn resource_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Some(version) = body.pointer("/meta/version").and_then(Value::as_str)
        && let Ok(v) = HeaderValue::from_str(version)
    {
        r.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Some(location) = body.pointer("/meta/location").and_then(Value::as_str)
        && let Ok(v) = HeaderValue::from_str(location)
    {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// A directory error in SCIM's terms. Storage failures say nothing of their cause.
pub fn directory_error(e: &DirectoryError, rid: &str) -> ScimError {
    match e {
        DirectoryError::Invalid { field, message } => ScimError::invalid_value(format!("{}: {message}", mapping::scim_attribute(field))),
        DirectoryError::UnverifiedDomain(d) => {
            ScimError::invalid_value(format!("userName must be a user principal name in one of this tenant's domains; '{d}' is not one"))
        }
        DirectoryError::DuplicateUserPrincipalName => ScimError::uniqueness("a user with this userName already exists"),
        DirectoryError::NotFound { .. } => ScimError::not_found("the resource does not exist"),
        DirectoryError::MembershipCycle { member, group } => {
            ScimError::invalid_value(format!("adding '{member}' to '{group}' would create a membership cycle"))
        }
        DirectoryError::Conflict => ScimError::new(409, None, "the resource was changed by another request; retry"),
        DirectoryError::Forbidden(m) => ScimError::new(403, None, m.clone()),
        DirectoryError::AlreadyMember { .. } | DirectoryError::NotMember { .. } => ScimError::invalid_value(e.to_string()),
        DirectoryError::StorageUnavailable(_) | DirectoryError::Internal(_) => {
            tracing::error!(request_id = rid, error = %e, "SCIM request failed");
            ScimError::new(500, None, format!("an internal error occurred (request id {rid})"))
        }
        other => ScimError::invalid_value(other.to_string()),
    }
}

/// Who presents the bearer token.
#[derive(Clone)]
pub enum Principal {
    /// One of the tenant's SCIM tokens.
    Token(ward_directory::scim_tokens::ScimToken),
    /// An application with a Ward access token (app-only).
    App(Arc<ward_auth::introspect::Caller>),
}

/// The resource family an operation touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Users,
    Groups,
}

/// A SCIM request's context: tenant, principal, request id, base URL.
#[derive(Clone)]
pub(crate) struct Scim {
    pub state: AppState,
    pub tenant: Arc<Tenant>,
    pub principal: Principal,
    pub rid: String,
    pub ip: Option<std::net::IpAddr>,
    /// `{public_url}/scim/v2/{tenant as in the URL}`.
    pub base: String,
}

impl axum::extract::FromRequestParts<AppState> for Scim {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, Response> {
        let rid = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let key = parts.uri.path().strip_prefix("/scim/v2/").and_then(|rest| rest.split('/').next()).unwrap_or_default().to_string();
        let tenant = match state.directory.resolve_tenant(&key).await {
            Ok(t) => Arc::new(t),
            Err(DirectoryError::NotFound { .. }) => return Err(error_response(&ScimError::not_found("no such tenant"))),
            Err(e) => return Err(error_response(&directory_error(&e, &rid))),
        };
        let ip = crate::client_ip::peer(&parts.extensions).map(|p| crate::client_ip::resolve(p, &parts.headers, &state.trusted_proxies));
        let principal = match authenticate(state, &tenant, &parts.headers, &rid).await {
            Ok(p) => p,
            Err(e) => {
                // Failed credentials count against the address, as at the token endpoint: guessing
                // from one address is slowed to the per-address limit.
                if e.status == 401
                    && let Some(ip) = ip
                    && let Err(wait) = state.rate_limit.take(ip, std::time::Instant::now())
                {
                    return Err(too_many(wait, "too many failed authentications from this address"));
                }
                return Err(error_response(&e));
            }
        };
        let scim = Scim { state: state.clone(), tenant, principal, rid, ip, base: format!("{}/scim/v2/{}", state.public_url, key) };
        scim.throttle(1).map_err(|wait| too_many(wait, "too many requests from this caller"))?;
        Ok(scim)
    }
}

async fn authenticate(state: &AppState, tenant: &Tenant, headers: &HeaderMap, rid: &str) -> Result<Principal, ScimError> {
    let unauthenticated = || ScimError::new(401, None, "a valid bearer token is required");
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string())
        .ok_or_else(unauthenticated)?;
    if token.starts_with(ward_directory::scim_tokens::SCIM_TOKEN_PREFIX) {
        return match state.directory.authenticate_scim_token(tenant.id, &token).await {
            Ok(Some(t)) => Ok(Principal::Token(t)),
            Ok(None) => Err(unauthenticated()),
            Err(e) => Err(directory_error(&e, rid)),
        };
    }
    match state.tokens.graph_caller(&token).await {
        // A token of another tenant is no credential here (and says nothing about this one).
        Ok(Some(c)) if c.tenant.id == tenant.id => Ok(Principal::App(Arc::new(c))),
        Ok(_) => Err(unauthenticated()),
        Err(e) => {
            tracing::warn!(request_id = rid, error = %e.description, "SCIM token check failed");
            Err(ScimError::new(503, None, "the token could not be checked; retry"))
        }
    }
}

/// 429 with `Retry-After`, in SCIM's shape.
pub(super) fn too_many(wait: u64, why: &str) -> Response {
    let mut r = error_response(&ScimError::new(429, None, format!("{why}; retry after {wait} seconds")));
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
    r
}

impl Scim {
    /// The principal's share of the tenant's request budget (Graph's throttle, `graph_rate_limit`
    /// units a second per caller and tenant): a request costs 1, a Bulk request more by its size.
    /// `Err(seconds)` to wait.
    pub fn throttle(&self, cost: u32) -> Result<(), u64> {
        let who = match &self.principal {
            Principal::Token(t) => t.id.as_uuid(),
            Principal::App(c) => c.app_id,
        };
        self.state.graph_throttle.take((self.tenant.id, who), f64::from(cost), std::time::Instant::now()).inspect_err(|_| {
            tracing::warn!(tenant = %self.tenant.id, caller = %who, "SCIM throttled");
        })
    }

    /// May the principal do this? SCIM tokens provision both families; applications need the
    /// Graph permission for the same change, app-only.
    pub fn require(&self, family: Family, write: bool) -> Result<(), ScimError> {
        let allowed: &[&str] = match (family, write) {
            (Family::Users, false) => &["User.Read.All", "User.ReadWrite.All", "Directory.Read.All"],
            (Family::Users, true) => &["User.ReadWrite.All"],
            (Family::Groups, false) => &["Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All"],
            (Family::Groups, true) => &["Group.ReadWrite.All"],
        };
        match &self.principal {
            Principal::Token(_) => Ok(()),
            Principal::App(c) if c.user.is_none() && c.roles.iter().any(|r| allowed.contains(&r.as_str())) => Ok(()),
            Principal::App(_) => Err(ScimError::new(
                403,
                None,
                format!("the application needs the application permission {} (app-only) for this request", allowed.last().unwrap_or(&"")),
            )),
        }
    }

    /// Who is calling, as the audit log shows it.
    fn initiated_by(&self) -> Value {
        let ip = self.ip.map(|i| i.to_string());
        match &self.principal {
            Principal::Token(t) => json!({
                "user": Value::Null,
                "app": { "appId": Value::Null, "displayName": format!("SCIM token '{}'", t.display_name), "servicePrincipalId": Value::Null, "scimTokenId": t.id.to_string(), "ipAddress": ip },
            }),
            Principal::App(c) => crate::graph::initiated_by(c, self.ip),
        }
    }

    pub fn audit_context(&self, activity: (&'static str, &'static str, &'static str)) -> ward_core::audit::AuditContext {
        ward_core::audit::AuditContext {
            initiated_by: self.initiated_by(),
            category: activity.0,
            activity: activity.1,
            operation_type: activity.2,
            correlation_id: self.rid.clone(),
        }
    }

    /// Runs a directory write as an audited activity (Graph's activity names): the record is
    /// written with the change; a refused write is recorded as a failure.
    pub async fn write<T>(
        &self,
        activity: (&'static str, &'static str, &'static str),
        target: Option<String>,
        work: impl std::future::Future<Output = Result<T, DirectoryError>>,
    ) -> Result<T, DirectoryError> {
        let ctx = self.audit_context(activity);
        let result = ward_directory::audited(ctx.clone(), work).await;
        if let Err(e) = &result
            && !matches!(e, DirectoryError::Conflict)
        {
            let reason = match e.code() {
                ward_core::ErrorCode::Internal | ward_core::ErrorCode::StorageUnavailable => "internal error".to_string(),
                _ => e.to_string(),
            };
            let targets = target.map(|t| vec![json!({ "id": t, "type": Value::Null, "displayName": Value::Null })]).unwrap_or_default();
            if let Err(failed) = self.state.directory.audit_failure(self.tenant.id, &ctx, targets, &reason).await {
                tracing::warn!(request_id = self.rid, error = %failed, "could not record a failed write in the audit log");
            }
        }
        result
    }
}

/// A request body as JSON: at most [`MAX_PAYLOAD_BYTES`], an object.
pub fn json_body(body: &[u8]) -> Result<Value, ScimError> {
    if body.len() > MAX_PAYLOAD_BYTES {
        return Err(ScimError::payload_too_large(format!("the body is larger than {MAX_PAYLOAD_BYTES} bytes")));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| ScimError::invalid_syntax(format!("the body is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(ScimError::invalid_syntax("the body must be a JSON object"));
    }
    Ok(v)
}

/// 412: the resource moved past the version the client named (RFC 7644 §3.14).
pub fn stale() -> ScimError {
    ScimError::precondition_failed("the resource has changed since the version in If-Match")
}

/// DELETE of a user or group at `version` (its ETag `current`), honouring `If-Match` inside the
/// write's unit of work; audited as `activity`.
pub(crate) async fn delete_guarded(
    scim: &Scim,
    kind: ward_core::ObjectKind,
    id: ward_core::ObjectId,
    version: i64,
    current: &str,
    given: Option<&str>,
    activity: (&'static str, &'static str, &'static str),
) -> Result<(), ScimError> {
    let pinned = if_match(given, current);
    if pinned == Some(false) {
        return Err(stale());
    }
    let work = scim.state.directory.delete_at(scim.tenant.id, kind, id, pinned.map(|_| version));
    scim.write(activity, Some(id.to_string()), work).await.map_err(|e| match e {
        DirectoryError::Conflict => stale(),
        other => directory_error(&other, &scim.rid),
    })
}

/// The `If-Match` header's value, if any.
pub fn if_match_header(headers: &HeaderMap) -> Option<String> {
    headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// `If-Match` (RFC 7644 §3.14, RFC 7232 §3.1), or a Bulk operation's `version`: `None` when
/// there is none; otherwise whether `current` satisfies it.
pub fn if_match(given: Option<&str>, current: &str) -> Option<bool> {
    let v = given?;
    Some(v.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == current.trim_start_matches("W/")))
}

/// `If-None-Match` on a read: whether it names `current` (answer 304).
pub fn if_none_match(headers: &HeaderMap, current: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == current.trim_start_matches("W/")))
}

pub fn not_modified(etag: &str) -> Response {
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(v) = HeaderValue::from_str(etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// What Ward supports, as RFC 7643 §5 asks a service provider to say.
pub fn service_provider_config_json(base: &str) -> Value {
    ward_scim::ServiceProviderConfig {
        documentation_uri: None,
        patch: true,
        bulk: Some(ward_scim::BulkSupport { max_operations: BULK_MAX_OPERATIONS, max_payload_size: MAX_PAYLOAD_BYTES }),
        filter_max_results: Some(MAX_PAGE),
        sort: true,
        etag: true,
        change_password: true,
        authentication_schemes: vec![ward_scim::AuthenticationScheme::oauth_bearer_token()],
    }
    .to_json(base)
}

async fn service_provider_config(scim: Scim) -> Response {
    resource_response(StatusCode::OK, &service_provider_config_json(&scim.base))
}

async fn schemas(scim: Scim) -> Response {
    let all = ward_scim::schema_documents(&scim.base);
    let n = all.len();
    resource_response(StatusCode::OK, &ward_scim::list_response(all, n, 1))
}

async fn schema(scim: Scim, Path((_, id)): Path<(String, String)>) -> Response {
    match ward_scim::schema_document(&id, &scim.base) {
        Some(doc) => resource_response(StatusCode::OK, &doc),
        None => error_response(&ScimError::not_found(format!("no schema '{}'", ward_core::validate::clip(&id)))),
    }
}

async fn resource_types(scim: Scim) -> Response {
    let all = ward_scim::resource_type_documents(&scim.base);
    let n = all.len();
    resource_response(StatusCode::OK, &ward_scim::list_response(all, n, 1))
}

async fn resource_type(scim: Scim, Path((_, id)): Path<(String, String)>) -> Response {
    match ward_scim::resource_type_document(&id, &scim.base) {
        Some(doc) => resource_response(StatusCode::OK, &doc),
        None => error_response(&ScimError::not_found(format!("no resource type '{}'", ward_core::validate::clip(&id)))),
    }
}

async fn not_implemented(_scim: Scim) -> Response {
    error_response(&ScimError::not_implemented("this endpoint is not supported; use /Users and /Groups"))
}
