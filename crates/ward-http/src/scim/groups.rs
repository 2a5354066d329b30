//! `/Groups` (RFC 7644 §3.3–§3.6): Ward security groups. Members are users or groups, by id.
//! Entra's shapes: create without members, add and remove members by PATCH (both removal
//! styles), `excludedAttributes=members`, PATCH answered 204. A group's `displayName` is unique
//! among groups for SCIM (Entra matches groups by it): a duplicate is 409 `uniqueness`.

use super::list::{self, ListParams};
use super::mapping::{etag, group_resource};
use super::users::{read_body, resource_id};
use super::{Family, Scim, answer, if_match, if_match_header, if_none_match, not_modified, resource_response};
use crate::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use ward_core::group::{Group, GroupPatch, NewGroup};
use ward_core::index::{Cond, ObjectQuery, Test};
use ward_core::{DirectoryError, ObjectId, ObjectKind};
use ward_directory::MemberDelta;
use ward_scim::{GROUP, MemberChange, PatchRequest, Projection, ScimError, WriteMode, apply_patch, normalize_for_write};

const ADD: (&str, &str, &str) = ("GroupManagement", "Add group", "Add");
const UPDATE: (&str, &str, &str) = ("GroupManagement", "Update group", "Update");
const DELETE: (&str, &str, &str) = ("GroupManagement", "Delete group", "Delete");
const ATTEMPTS: usize = 3;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/scim/v2/{tenant}/Groups", get(list).post(create))
        .route("/scim/v2/{tenant}/Groups/.search", post(search))
        .route("/scim/v2/{tenant}/Groups/{id}", get(read).put(replace).patch(patch).delete(remove))
}

type Members = Vec<(ObjectId, ObjectKind)>;

/// The group's live members (not those in deleted items), with their kinds.
async fn members(scim: &Scim, id: ObjectId) -> Result<Members, ScimError> {
    let live = scim.state.directory.members(scim.tenant.id, id).await.map_err(|e| super::directory_error(&e, &scim.rid))?;
    Ok(live.into_iter().map(|o| (o.id, o.kind)).collect())
}

/// SCIM members are users and groups: anything else (a service principal) is refused.
async fn only_users_and_groups(scim: &Scim, ids: &[ObjectId]) -> Result<(), ScimError> {
    for id in ids {
        match scim.state.directory.member_kind(scim.tenant.id, *id).await.map_err(|e| super::directory_error(&e, &scim.rid))? {
            Some(ObjectKind::User | ObjectKind::Group) => {}
            Some(_) => return Err(ScimError::invalid_value(format!("members: '{id}' is neither a user nor a group"))),
            None => return Err(ScimError::invalid_value(format!("members: no user or group has the id '{id}'"))),
        }
    }
    Ok(())
}

fn ids(m: &Members) -> Vec<ObjectId> {
    m.iter().map(|(id, _)| *id).collect()
}

async fn load(scim: &Scim, id: ObjectId) -> Result<(Group, i64, Members), ScimError> {
    let (g, v) = scim.state.directory.group_versioned(scim.tenant.id, id).await.map_err(|e| super::directory_error(&e, &scim.rid))?;
    let m = members(scim, id).await?;
    Ok((g, v, m))
}

fn decode(o: &ward_core::store::StoredObject) -> Result<Group, ScimError> {
    serde_json::from_value(o.doc.clone()).map_err(|e| ScimError::new(500, None, format!("a stored group does not decode: {e}")))
}

/// The resource; `members` listed only when the projection includes them (the version always
/// reflects them).
fn render(scim: &Scim, g: &Group, version: i64, m: &Members, with_members: bool) -> Value {
    let mut r = group_resource(g, version, &scim.base, with_members.then_some(m.as_slice()));
    if !with_members && let Some(meta) = r.get_mut("meta") {
        meta["version"] = Value::String(etag(version, Some(&ids(m))));
    }
    r
}

async fn list(scim: Scim, RawQuery(query): RawQuery) -> Response {
    answer(
        async {
            scim.require(Family::Groups, false)?;
            respond_list(&scim, ListParams::from_query(query.as_deref(), &GROUP)?).await
        }
        .await,
    )
}

async fn search(scim: Scim, body: Body) -> Response {
    answer(
        async {
            scim.require(Family::Groups, false)?;
            respond_list(&scim, ListParams::from_search(&read_body(body).await?, &GROUP)?).await
        }
        .await,
    )
}

async fn respond_list(scim: &Scim, p: ListParams) -> Result<Response, ScimError> {
    let (page, total) =
        list::select(scim, ObjectKind::Group, &p, &GROUP, |o| Ok(group_resource(&decode(o)?, o.version, &scim.base, None))).await?;
    let with_members = p.projection.includes("members", &GROUP);
    let mut resources = Vec::with_capacity(page.len());
    for o in &page {
        let m = members(scim, o.id).await?;
        resources.push(p.projection.apply(&render(scim, &decode(o)?, o.version, &m, with_members), &GROUP));
    }
    Ok(resource_response(StatusCode::OK, &ward_scim::list_response(resources, total, p.start_index)))
}

fn projection(query: Option<&str>) -> Result<(Projection, bool), ScimError> {
    let asked = query.is_some_and(|q| q.contains("ttributes="));
    Ok((ListParams::from_query(query, &GROUP)?.projection, asked))
}

async fn read(scim: Scim, Path((_, id)): Path<(String, String)>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    answer(
        async {
            scim.require(Family::Groups, false)?;
            let (projection, _) = projection(query.as_deref())?;
            let (g, version, m) = load(&scim, resource_id(&id)?).await?;
            let tag = etag(version, Some(&ids(&m)));
            if if_none_match(&headers, &tag) {
                return Ok(not_modified(&tag));
            }
            let r = render(&scim, &g, version, &m, projection.includes("members", &GROUP));
            Ok(resource_response(StatusCode::OK, &projection.apply(&r, &GROUP)))
        }
        .await,
    )
}

/// Member references of a write: ids of this directory.
fn member_ids(values: &[String]) -> Result<Vec<ObjectId>, ScimError> {
    values
        .iter()
        .map(|v| {
            v.parse::<ObjectId>().map_err(|_| {
                ScimError::invalid_value(format!("members: '{}' is not the id of a user or group", ward_core::validate::clip(v)))
            })
        })
        .collect()
}

/// Entra finds groups by `displayName`, so SCIM keeps it unique among groups (any case).
async fn unique_name(scim: &Scim, name: &str, except: Option<ObjectId>) -> Result<(), ScimError> {
    let q = ObjectQuery {
        kind: ObjectKind::Group,
        deleted: false,
        cond: Cond::Prop { property: "displayName", test: Test::Eq(ward_core::index::normalize_text(name)) },
        order_by: None,
        descending: false,
        after: None,
        limit: 2,
    };
    let found =
        scim.state.directory.store().query_objects(scim.tenant.id, &q).await.map_err(|e| super::directory_error(&e.into(), &scim.rid))?;
    if found.iter().any(|(o, _)| Some(o.id) != except) {
        return Err(ScimError::uniqueness(format!("a group named '{}' already exists", ward_core::validate::clip(name))));
    }
    Ok(())
}

fn text(r: &Value, k: &str) -> Option<String> {
    r.get(k).and_then(Value::as_str).map(str::to_string)
}

/// A mail nickname from a display name: the characters Graph allows, at most 64.
fn nickname(display_name: &str) -> String {
    let n: String = display_name.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).take(64).collect();
    let n = n.trim_matches('.').to_string();
    if n.is_empty() { "group".into() } else { n }
}

/// A member that does not exist is the request's fault, not a missing group.
fn member_error(scim: &Scim, e: DirectoryError, group: Option<ObjectId>) -> ScimError {
    match e {
        DirectoryError::NotFound { ref id, .. } if group.is_none_or(|g| *id != g.to_string()) => {
            ScimError::invalid_value(format!("members: no user or group has the id '{id}'"))
        }
        other => super::directory_error(&other, &scim.rid),
    }
}

/// POST: creates the group a body describes, with its first members.
pub(super) async fn create_op(scim: &Scim, body: &Value) -> Result<(Group, i64), ScimError> {
    scim.require(Family::Groups, true)?;
    let doc = normalize_for_write(body, &GROUP, WriteMode::Create)?;
    let name = text(&doc.resource, "displayName").ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
    let _turn = scim.state.scim_group_names.lock().await;
    unique_name(scim, &name, None).await?;
    let initial = member_ids(doc.members.as_deref().unwrap_or_default())?;
    only_users_and_groups(scim, &initial).await?;
    let input = NewGroup {
        display_name: name.clone(),
        mail_nickname: nickname(&name),
        security_enabled: true,
        external_id: text(&doc.resource, "externalId"),
        ..Default::default()
    };
    let work = scim.state.directory.create_group_versioned(scim.tenant.id, input, &initial);
    scim.write(ADD, None, work).await.map_err(|e| member_error(scim, e, None))
}

async fn create(scim: Scim, RawQuery(query): RawQuery, body: Body) -> Response {
    answer(
        async {
            let (projection, _) = projection(query.as_deref())?;
            let (g, version) = create_op(&scim, &read_body(body).await?).await?;
            let m = members(&scim, g.id).await?;
            let r = render(&scim, &g, version, &m, projection.includes("members", &GROUP));
            Ok(resource_response(StatusCode::CREATED, &projection.apply(&r, &GROUP)))
        }
        .await,
    )
}

/// A write computed from the group as it is, at its version (see users.rs).
async fn write_group(
    scim: &Scim,
    id: ObjectId,
    given: Option<&str>,
    compute: impl Fn(&Value) -> Result<Option<(GroupPatch, Vec<MemberDelta>)>, ScimError>,
) -> Result<(), ScimError> {
    for attempt in 1..=ATTEMPTS {
        let (g, version, m) = load(scim, id).await?;
        let pinned = if_match(given, &etag(version, Some(&ids(&m))));
        if pinned == Some(false) {
            return Err(super::stale());
        }
        let current = group_resource(&g, version, &scim.base, None);
        let Some((patch, deltas)) = compute(&current)? else { return Ok(()) };
        for delta in &deltas {
            if let MemberDelta::Add(ids) | MemberDelta::ReplaceAll(ids) = delta {
                only_users_and_groups(scim, ids).await?;
            }
        }
        let renaming = patch.display_name.as_ref().filter(|name| !name.eq_ignore_ascii_case(&g.display_name));
        let _turn = match renaming {
            Some(name) => {
                let turn = scim.state.scim_group_names.lock().await;
                unique_name(scim, name, Some(id)).await?;
                Some(turn)
            }
            None => None,
        };
        let work = scim.state.directory.update_group_at(scim.tenant.id, id, version, patch, &deltas);
        match scim.write(UPDATE, Some(id.to_string()), work).await {
            Ok(_) => return Ok(()),
            Err(DirectoryError::Conflict) if pinned.is_some() => {
                return Err(super::stale());
            }
            Err(DirectoryError::Conflict) if attempt < ATTEMPTS => continue,
            Err(e) => return Err(member_error(scim, e, Some(id))),
        }
    }
    Err(super::directory_error(&DirectoryError::Conflict, &scim.rid))
}

/// 204 as Entra expects, unless the client asked for attributes (then the resource).
async fn after_write(scim: &Scim, id: ObjectId, projection: &Projection, asked: bool, always_body: bool) -> Result<Response, ScimError> {
    if !asked && !always_body {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let (g, version, m) = load(scim, id).await?;
    let r = render(scim, &g, version, &m, projection.includes("members", &GROUP));
    Ok(resource_response(StatusCode::OK, &projection.apply(&r, &GROUP)))
}

/// PUT: replaces the group's name and external id, and its members when the body has them.
pub(super) async fn replace_op(scim: &Scim, id: ObjectId, body: &Value, given: Option<&str>) -> Result<(), ScimError> {
    scim.require(Family::Groups, true)?;
    write_group(scim, id, given, |current| {
        let doc = normalize_for_write(body, &GROUP, WriteMode::Replace { current })?;
        let name = text(&doc.resource, "displayName").ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
        let patch = GroupPatch { display_name: Some(name), external_id: Some(text(&doc.resource, "externalId")), ..Default::default() };
        // A replace without `members` leaves them as they are (a client replacing the
        // membership sends it, `[]` included).
        let deltas = match &doc.members {
            Some(list) => vec![MemberDelta::ReplaceAll(member_ids(list)?)],
            None => Vec::new(),
        };
        Ok(Some((patch, deltas)))
    })
    .await
}

async fn replace(scim: Scim, Path((_, id)): Path<(String, String)>, RawQuery(query): RawQuery, headers: HeaderMap, body: Body) -> Response {
    answer(
        async {
            let (projection, asked) = projection(query.as_deref())?;
            let id = resource_id(&id)?;
            let body = read_body(body).await?;
            replace_op(&scim, id, &body, if_match_header(&headers).as_deref()).await?;
            after_write(&scim, id, &projection, asked, true).await
        }
        .await,
    )
}

/// PATCH: applies the operations, members included, to the group as it is.
pub(super) async fn patch_op(scim: &Scim, id: ObjectId, body: &Value, given: Option<&str>) -> Result<(), ScimError> {
    scim.require(Family::Groups, true)?;
    let request = PatchRequest::parse(body, &GROUP)?;
    write_group(scim, id, given, |current| {
        let outcome = apply_patch(current, &request, &GROUP)?;
        if outcome.is_noop() {
            return Ok(None);
        }
        let r = &outcome.resource;
        let patch = GroupPatch {
            display_name: text(r, "displayName").filter(|n| Some(n.as_str()) != current.get("displayName").and_then(Value::as_str)),
            external_id: (r.get("externalId") != current.get("externalId")).then(|| text(r, "externalId")),
            ..Default::default()
        };
        if r.get("displayName").is_none() {
            return Err(ScimError::mutability("displayName is required and cannot be removed"));
        }
        let deltas = outcome
            .member_changes
            .iter()
            .map(|c| {
                Ok(match c {
                    MemberChange::Add(v) => MemberDelta::Add(member_ids(v)?),
                    MemberChange::Remove(v) => MemberDelta::Remove(member_ids(v)?),
                    MemberChange::RemoveAll => MemberDelta::RemoveAll,
                    MemberChange::ReplaceAll(v) => MemberDelta::ReplaceAll(member_ids(v)?),
                })
            })
            .collect::<Result<Vec<_>, ScimError>>()?;
        Ok(Some((patch, deltas)))
    })
    .await
}

async fn patch(scim: Scim, Path((_, id)): Path<(String, String)>, RawQuery(query): RawQuery, headers: HeaderMap, body: Body) -> Response {
    answer(
        async {
            let (projection, asked) = projection(query.as_deref())?;
            let id = resource_id(&id)?;
            let body = read_body(body).await?;
            patch_op(&scim, id, &body, if_match_header(&headers).as_deref()).await?;
            after_write(&scim, id, &projection, asked, false).await
        }
        .await,
    )
}

/// DELETE: to Graph's deleted items; 404 here from now on.
pub(super) async fn delete_op(scim: &Scim, id: ObjectId, given: Option<&str>) -> Result<(), ScimError> {
    scim.require(Family::Groups, true)?;
    let (_, version, m) = load(scim, id).await?;
    super::delete_guarded(scim, ObjectKind::Group, id, version, &etag(version, Some(&ids(&m))), given, DELETE).await
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

/// The group as it is now, for a Bulk response's `location` and `version`.
pub(super) async fn written(scim: &Scim, id: ObjectId) -> Result<Value, ScimError> {
    let (g, version, m) = load(scim, id).await?;
    Ok(render(scim, &g, version, &m, false))
}
