//! `/Users` (RFC 7644 §3.3–§3.6): list and search, read, create, replace, patch, delete; and
//! Entra's provisioning sequence (find by `userName eq`, create, `Replace` ops, `active` as the
//! string "False", delete). Soft delete is `active=false`: the user stays, disabled, its sessions
//! and refresh tokens revoked; DELETE moves it to Graph's deleted items (then 404 here).

use super::list::{self, ListParams};
use super::mapping::{self, user_resource};
use super::{Family, Scim, answer, if_match, if_match_header, if_none_match, json_body, not_modified, resource_response};
use crate::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use ward_core::user::User;
use ward_core::{DirectoryError, ObjectId, ObjectKind};
use ward_directory::NewUserRequest;
use ward_scim::{PasswordChange, PatchRequest, Projection, ScimError, USER, WriteMode, apply_patch, normalize_for_write};

pub(super) const ADD: (&str, &str, &str) = ("UserManagement", "Add user", "Add");
const UPDATE: (&str, &str, &str) = ("UserManagement", "Update user", "Update");
const DELETE: (&str, &str, &str) = ("UserManagement", "Delete user", "Delete");
/// Writes retried when another request changed the user between read and write.
const ATTEMPTS: usize = 3;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/scim/v2/{tenant}/Users", get(list).post(create))
        .route("/scim/v2/{tenant}/Users/.search", post(search))
        .route("/scim/v2/{tenant}/Users/{id}", get(read).put(replace).patch(patch).delete(remove))
}

pub(super) async fn read_body(body: Body) -> Result<Value, ScimError> {
    let bytes = axum::body::to_bytes(body, super::MAX_PAYLOAD_BYTES)
        .await
        .map_err(|_| ScimError::payload_too_large(format!("the body is larger than {} bytes", super::MAX_PAYLOAD_BYTES)))?;
    json_body(&bytes)
}

/// A resource id from the URL; anything that is not one of ours is simply not found.
pub(super) fn resource_id(id: &str) -> Result<ObjectId, ScimError> {
    id.parse::<ObjectId>().map_err(|_| ScimError::not_found(format!("no resource has the id '{}'", ward_core::validate::clip(id))))
}

fn reference(value: &str) -> Result<ObjectId, ScimError> {
    value
        .parse::<ObjectId>()
        .map_err(|_| ScimError::invalid_value(format!("'{}' is not the id of a user", ward_core::validate::clip(value))))
}

/// The user as a resource, with its groups when the projection wants them.
async fn render(scim: &Scim, user: &User, version: i64, with_groups: bool) -> Result<Value, ScimError> {
    let groups = if with_groups {
        let links = scim
            .state
            .directory
            .store()
            .links_of_member(scim.tenant.id, ward_core::store::Relation::Member, user.id)
            .await
            .map_err(|e| super::directory_error(&e.into(), &scim.rid))?;
        Some(links.into_iter().map(|l| l.group).collect::<Vec<_>>())
    } else {
        None
    };
    Ok(user_resource(user, version, &scim.base, groups.as_deref()))
}

async fn load(scim: &Scim, id: ObjectId) -> Result<(User, i64), ScimError> {
    scim.state.directory.user_versioned(scim.tenant.id, id).await.map_err(|e| super::directory_error(&e, &scim.rid))
}

fn decode(o: &ward_core::store::StoredObject) -> Result<User, ScimError> {
    serde_json::from_value(o.doc.clone()).map_err(|e| ScimError::new(500, None, format!("a stored user does not decode: {e}")))
}

async fn list(scim: Scim, RawQuery(query): RawQuery) -> Response {
    answer(
        async {
            scim.require(Family::Users, false)?;
            let params = ListParams::from_query(query.as_deref(), &USER)?;
            respond_list(&scim, params).await
        }
        .await,
    )
}

async fn search(scim: Scim, body: Body) -> Response {
    answer(
        async {
            scim.require(Family::Users, false)?;
            let params = ListParams::from_search(&read_body(body).await?, &USER)?;
            respond_list(&scim, params).await
        }
        .await,
    )
}

async fn respond_list(scim: &Scim, p: ListParams) -> Result<Response, ScimError> {
    let (page, total) =
        list::select(scim, ObjectKind::User, &p, &USER, |o| Ok(user_resource(&decode(o)?, o.version, &scim.base, None))).await?;
    let with_groups = p.projection.includes("groups", &USER);
    let mut resources = Vec::with_capacity(page.len());
    for o in &page {
        resources.push(p.projection.apply(&render(scim, &decode(o)?, o.version, with_groups).await?, &USER));
    }
    Ok(resource_response(StatusCode::OK, &ward_scim::list_response(resources, total, p.start_index)))
}

fn projection(query: Option<&str>) -> Result<Projection, ScimError> {
    let p = ListParams::from_query(query, &USER)?;
    Ok(p.projection)
}

async fn read(scim: Scim, Path((_, id)): Path<(String, String)>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    answer(
        async {
            scim.require(Family::Users, false)?;
            let projection = projection(query.as_deref())?;
            let (user, version) = load(&scim, resource_id(&id)?).await?;
            let tag = mapping::etag(version, None);
            if if_none_match(&headers, &tag) {
                return Ok(not_modified(&tag));
            }
            let r = render(&scim, &user, version, projection.includes("groups", &USER)).await?;
            Ok(resource_response(StatusCode::OK, &projection.apply(&r, &USER)))
        }
        .await,
    )
}

/// What a create body asks the directory for: the user, its password, its manager.
pub(super) fn prepare_create(scim: &Scim, body: &Value) -> Result<(NewUserRequest, Option<ObjectId>), ScimError> {
    let doc = normalize_for_write(body, &USER, WriteMode::Create)?;
    let fields = mapping::user_fields(&doc.resource, scim.state.directory.now())?;
    let manager = fields.manager.as_deref().map(reference).transpose()?;
    Ok((NewUserRequest { user: fields.new_user(), password: doc.password, force_change_password_next_sign_in: false }, manager))
}

/// POST: creates the user a body describes.
pub(super) async fn create_op(scim: &Scim, body: &Value) -> Result<(User, i64), ScimError> {
    scim.require(Family::Users, true)?;
    let (request, manager) = prepare_create(scim, body)?;
    let work = scim.state.directory.create_user_versioned(scim.tenant.id, request, manager);
    scim.write(ADD, None, work).await.map_err(|e| super::directory_error(&e, &scim.rid))
}

async fn create(scim: Scim, RawQuery(query): RawQuery, body: Body) -> Response {
    answer(
        async {
            let projection = projection(query.as_deref())?;
            let (user, version) = create_op(&scim, &read_body(body).await?).await?;
            let r = render(&scim, &user, version, projection.includes("groups", &USER)).await?;
            Ok(resource_response(StatusCode::CREATED, &projection.apply(&r, &USER)))
        }
        .await,
    )
}

/// What a write computes from the user as it is: the fields to set, the manager and password.
struct Change {
    fields: mapping::UserFields,
    manager: Option<Option<ObjectId>>,
    password: Option<String>,
}

/// Provisioning does not touch administrators: a user who holds a directory role is changed,
/// disabled or deleted through Graph by someone privileged enough, never by a SCIM token or a
/// provisioning app (whose `User.ReadWrite.All` Entra likewise bars from privileged users).
async fn refuse_role_holders(scim: &Scim, id: ObjectId) -> Result<(), ScimError> {
    let roles = scim.state.directory.roles_of(scim.tenant.id, id).await.map_err(|e| super::directory_error(&e, &scim.rid))?;
    if roles.is_empty() {
        return Ok(());
    }
    Err(ScimError::new(403, None, "this user holds a directory role: change them through Graph as a privileged administrator"))
}

/// Reads the user, checks `If-Match`, computes the change from the current resource, writes it
/// at that version; again (up to [`ATTEMPTS`]) when another write came between, unless the
/// client pinned a version.
async fn write_user(
    scim: &Scim,
    id: ObjectId,
    given: Option<&str>,
    compute: impl Fn(&Value) -> Result<Option<Change>, ScimError>,
) -> Result<(User, i64), ScimError> {
    refuse_role_holders(scim, id).await?;
    for attempt in 1..=ATTEMPTS {
        let (user, version) = load(scim, id).await?;
        let pinned = if_match(given, &mapping::etag(version, None));
        if pinned == Some(false) {
            return Err(super::stale());
        }
        let current = user_resource(&user, version, &scim.base, None);
        let Some(change) = compute(&current)? else { return Ok((user, version)) };
        let work = scim.state.directory.update_user_at(
            scim.tenant.id,
            id,
            version,
            change.fields.patch(),
            change.manager,
            change.password.as_deref(),
        );
        match scim.write(UPDATE, Some(id.to_string()), work).await {
            Ok(done) => return Ok(done),
            Err(DirectoryError::Conflict) if pinned.is_some() => {
                return Err(super::stale());
            }
            Err(DirectoryError::Conflict) if attempt < ATTEMPTS => continue,
            Err(e) => return Err(super::directory_error(&e, &scim.rid)),
        }
    }
    Err(super::directory_error(&DirectoryError::Conflict, &scim.rid))
}

fn manager_of(resource: &Value) -> Option<String> {
    resource
        .pointer("/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User/manager/value")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// PUT: replaces the user's attributes with the body's.
pub(super) async fn replace_op(scim: &Scim, id: ObjectId, body: &Value, given: Option<&str>) -> Result<(User, i64), ScimError> {
    scim.require(Family::Users, true)?;
    let now = scim.state.directory.now();
    write_user(scim, id, given, |current| {
        let doc = normalize_for_write(body, &USER, WriteMode::Replace { current })?;
        let fields = mapping::user_fields(&doc.resource, now)?;
        let manager = Some(fields.manager.as_deref().map(reference).transpose()?);
        Ok(Some(Change { fields, manager, password: doc.password }))
    })
    .await
}

async fn replace(scim: Scim, Path((_, id)): Path<(String, String)>, RawQuery(query): RawQuery, headers: HeaderMap, body: Body) -> Response {
    answer(
        async {
            let projection = projection(query.as_deref())?;
            let id = resource_id(&id)?;
            let body = read_body(body).await?;
            let (user, version) = replace_op(&scim, id, &body, if_match_header(&headers).as_deref()).await?;
            let r = render(&scim, &user, version, projection.includes("groups", &USER)).await?;
            Ok(resource_response(StatusCode::OK, &projection.apply(&r, &USER)))
        }
        .await,
    )
}

/// PATCH: applies the operations to the user as it is.
pub(super) async fn patch_op(scim: &Scim, id: ObjectId, body: &Value, given: Option<&str>) -> Result<(User, i64), ScimError> {
    scim.require(Family::Users, true)?;
    let request = PatchRequest::parse(body, &USER)?;
    let now = scim.state.directory.now();
    write_user(scim, id, given, |current| {
        let outcome = apply_patch(current, &request, &USER)?;
        if outcome.is_noop() {
            return Ok(None);
        }
        let password = match outcome.password {
            Some(PasswordChange::Set(p)) => Some(p),
            Some(PasswordChange::Clear) => return Err(ScimError::mutability("a password can be replaced, not removed")),
            None => None,
        };
        let fields = mapping::user_fields(&outcome.resource, now)?;
        let before = manager_of(current);
        let manager = if fields.manager != before { Some(fields.manager.as_deref().map(reference).transpose()?) } else { None };
        Ok(Some(Change { fields, manager, password }))
    })
    .await
}

async fn patch(scim: Scim, Path((_, id)): Path<(String, String)>, RawQuery(query): RawQuery, headers: HeaderMap, body: Body) -> Response {
    answer(
        async {
            let projection = projection(query.as_deref())?;
            let id = resource_id(&id)?;
            let body = read_body(body).await?;
            let (user, version) = patch_op(&scim, id, &body, if_match_header(&headers).as_deref()).await?;
            let r = render(&scim, &user, version, projection.includes("groups", &USER)).await?;
            Ok(resource_response(StatusCode::OK, &projection.apply(&r, &USER)))
        }
        .await,
    )
}

/// DELETE: to Graph's deleted items (restorable there for 30 days); 404 here from now on.
pub(super) async fn delete_op(scim: &Scim, id: ObjectId, given: Option<&str>) -> Result<(), ScimError> {
    scim.require(Family::Users, true)?;
    let (_, version) = load(scim, id).await?;
    refuse_role_holders(scim, id).await?;
    super::delete_guarded(scim, ObjectKind::User, id, version, &mapping::etag(version, None), given, DELETE).await
}

async fn remove(scim: Scim, Path((_, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    answer(
        async {
            delete_op(&scim, resource_id(&id)?, if_match_header(&headers).as_deref()).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        .await,
    )
}

/// The resource of a user just written, for a Bulk response's `location` and `version`.
pub(super) fn written(scim: &Scim, user: &User, version: i64) -> Value {
    user_resource(user, version, &scim.base, None)
}
