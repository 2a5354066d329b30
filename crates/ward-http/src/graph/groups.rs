//! `/v1.0/groups`: list (OData), read, create (with `members@odata.bind` / `owners@odata.bind`),
//! update (with `members@odata.bind`), delete, and the `members` / `owners` references.

use super::list::{ListSpec, count, respond};
use super::{Activity, Graph, attempt, no_content, views};
use crate::graph_authz::Op;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get};
use serde_json::{Map, Value};
use ward_core::ObjectKind;
use ward_core::group::{Group, GroupPatch, NewGroup};

pub fn routes() -> Router<crate::AppState> {
    Router::new()
        .route("/v1.0/groups", get(list_groups).post(create_group))
        .route("/v1.0/groups/$count", get(count_groups))
        .route("/v1.0/groups/{id}", get(get_group).patch(patch_group).delete(delete_group))
        .route("/v1.0/groups/{id}/members/$ref", axum::routing::post(add_member))
        .route("/v1.0/groups/{id}/owners/$ref", axum::routing::post(add_owner))
        .route("/v1.0/groups/{id}/members/{seg}/$ref", delete(remove_member))
        .route("/v1.0/groups/{id}/owners/{seg}/$ref", delete(remove_owner))
}

pub const GROUPS: ListSpec =
    ListSpec { resource: &ward_odata::GROUP, kind: ObjectKind::Group, path: "groups", set: "groups", deleted: false };

const WRITABLE: [&str; 8] =
    ["displayName", "description", "mailNickname", "mailEnabled", "securityEnabled", "groupTypes", "isAssignableToRole", "visibility"];
const READ_ONLY: [&str; 6] = ["id", "createdDateTime", "deletedDateTime", "mail", "proxyAddresses", "membershipRule"];

/// A group body without its `…@odata.bind` lists, which come back apart.
struct Body {
    props: Map<String, Value>,
    members: Vec<ward_core::ObjectId>,
    owners: Vec<ward_core::ObjectId>,
}

fn group_body(g: &Graph, mut body: Map<String, Value>) -> Result<Body, Response> {
    let members = body.remove("members@odata.bind").map(|v| g.binds(&v, "members@odata.bind")).transpose()?.unwrap_or_default();
    let owners = body.remove("owners@odata.bind").map(|v| g.binds(&v, "owners@odata.bind")).transpose()?.unwrap_or_default();
    body.remove("@odata.type");
    for k in body.keys() {
        if READ_ONLY.contains(&k.as_str()) {
            return Err(g.bad(&format!("Property '{k}' is read-only and cannot be set.")));
        }
        if !WRITABLE.contains(&k.as_str()) {
            return Err(g.bad(&format!(
                "Property '{}' does not exist on type 'microsoft.graph.group' or is not supported by Ward.",
                ward_core::validate::clip(k)
            )));
        }
    }
    Ok(Body { props: body, members, owners })
}

fn typed<T: serde::de::DeserializeOwned>(g: &Graph, body: Map<String, Value>) -> Result<T, Response> {
    serde_json::from_value(Value::Object(body))
        .map_err(|e| g.bad(&format!("A property has a value of the wrong type or is not writable here: {e}.")))
}

fn show(g: &Graph, group: &Group, select: Option<&[&'static str]>, status: StatusCode) -> Response {
    g.entity("groups", views::project(views::group(group), &ward_odata::GROUP, select), status)
}

async fn list_groups(g: Graph, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    attempt!(g.require(Op::ReadGroups).await);
    respond::<Group>(&g, &GROUPS, q.as_deref(), &headers, views::group).await
}

async fn count_groups(g: Graph, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    attempt!(g.require(Op::ReadGroups).await);
    count(&g, &GROUPS, q.as_deref(), &headers).await
}

async fn get_group(g: Graph, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    attempt!(g.require(Op::ReadGroups).await);
    let id = attempt!(g.parse_id(&id));
    let raw = attempt!(ward_odata::split_query(q.as_deref()).map_err(|e| super::list::odata_error(&g, e)));
    if raw.filter.is_some() || raw.orderby.is_some() || raw.top.is_some() || raw.search.is_some() {
        return g.bad("Only $select applies to a single object.");
    }
    let options = ward_odata::QueryOptions { select: raw.select.as_deref(), ..Default::default() };
    let select = attempt!(ward_odata::parse(&ward_odata::GROUP, &options).map(|q| q.select).map_err(|e| super::list::odata_error(&g, e)));
    match g.state.directory.group(g.tenant(), id).await {
        Ok(group) => show(&g, &group, select.as_deref(), StatusCode::OK),
        Err(e) => g.fail(&e),
    }
}

async fn create_group(g: Graph, body: Bytes) -> Response {
    attempt!(g.require(Op::WriteGroups).await);
    let body = attempt!(group_body(&g, attempt!(g.object(&body))));
    for required in ["displayName", "mailEnabled", "mailNickname", "securityEnabled"] {
        if body.props.get(required).is_none_or(Value::is_null) {
            return g.bad(&format!("Invalid value specified for property '{required}' of resource 'Group'."));
        }
    }
    let input: NewGroup = attempt!(typed(&g, body.props));
    let work = g.state.directory.create_group_with(g.tenant(), input, &body.members, &body.owners);
    match g.write(Activity("GroupManagement", "Add group", "Add"), None, work).await {
        Ok(group) => show(&g, &group, None, StatusCode::CREATED),
        Err(r) => r,
    }
}

async fn patch_group(g: Graph, Path(id): Path<String>, body: Bytes) -> Response {
    let id = attempt!(g.parse_id(&id));
    let body = attempt!(group_body(&g, attempt!(g.object(&body))));
    if !body.owners.is_empty() {
        return g.bad("owners@odata.bind is accepted on create only; use POST /groups/{id}/owners/$ref.");
    }
    if !body.props.is_empty() {
        attempt!(g.require(Op::WriteGroups).await);
    }
    if !body.members.is_empty() {
        attempt!(g.require(Op::WriteMembers).await);
    }
    if body.props.is_empty() && body.members.is_empty() {
        attempt!(g.require(Op::WriteGroups).await);
    }
    if body.props.keys().any(|k| matches!(k.as_str(), "mailEnabled" | "groupTypes" | "isAssignableToRole")) {
        return g.bad("mailEnabled, groupTypes and isAssignableToRole are set when a group is created and cannot change.");
    }
    let patch: GroupPatch = attempt!(typed(&g, body.props));
    let work = g.state.directory.update_group_with_members(g.tenant(), id, patch, &body.members);
    match g.write(Activity("GroupManagement", "Update group", "Update"), Some(id.to_string()), work).await {
        Ok(_) => no_content(),
        Err(r) => r,
    }
}

async fn delete_group(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::WriteGroups).await);
    let id = attempt!(g.parse_id(&id));
    match g
        .write(Activity("GroupManagement", "Delete group", "Delete"), Some(id.to_string()), g.state.directory.delete_group(g.tenant(), id))
        .await
    {
        Ok(()) => no_content(),
        Err(r) => r,
    }
}

async fn add_member(g: Graph, Path(id): Path<String>, body: Bytes) -> Response {
    attempt!(g.require(Op::WriteMembers).await);
    let id = attempt!(g.parse_id(&id));
    let body = attempt!(g.object(&body));
    let member = attempt!(g.reference(body.get("@odata.id")));
    let work = g.state.directory.add_member(g.tenant(), id, member);
    match g.write(Activity("GroupManagement", "Add member to group", "Assign"), Some(id.to_string()), work).await {
        Ok(()) => no_content(),
        Err(r) => r,
    }
}

async fn add_owner(g: Graph, Path(id): Path<String>, body: Bytes) -> Response {
    attempt!(g.require(Op::WriteMembers).await);
    let id = attempt!(g.parse_id(&id));
    let body = attempt!(g.object(&body));
    let owner = attempt!(g.reference(body.get("@odata.id")));
    let work = g.state.directory.add_owner(g.tenant(), id, owner);
    match g.write(Activity("GroupManagement", "Add owner to group", "Assign"), Some(id.to_string()), work).await {
        Ok(()) => no_content(),
        Err(r) => r,
    }
}

async fn remove_member(g: Graph, Path((id, member)): Path<(String, String)>) -> Response {
    attempt!(g.require(Op::WriteMembers).await);
    let (id, member) = (attempt!(g.parse_id(&id)), attempt!(g.parse_id(&member)));
    let work = g.state.directory.remove_member(g.tenant(), id, member);
    match g.write(Activity("GroupManagement", "Remove member from group", "Unassign"), Some(id.to_string()), work).await {
        Ok(()) => no_content(),
        Err(r) => r,
    }
}

async fn remove_owner(g: Graph, Path((id, owner)): Path<(String, String)>) -> Response {
    attempt!(g.require(Op::WriteMembers).await);
    let (id, owner) = (attempt!(g.parse_id(&id)), attempt!(g.parse_id(&owner)));
    let work = g.state.directory.remove_owner(g.tenant(), id, owner);
    match g.write(Activity("GroupManagement", "Remove owner from group", "Unassign"), Some(id.to_string()), work).await {
        Ok(()) => no_content(),
        Err(r) => r,
    }
}
