//! What applies to directory objects of any kind: `memberOf`, `transitiveMemberOf`,
//! `getMemberGroups`, `checkMemberGroups`, `getMemberObjects` (on users, groups, service
//! principals, `directoryObjects` and `/me`), the deleted-items container, directory roles and
//! role assignments.

use super::list::{ListSpec, odata_error, respond};
use super::{Activity, Graph, attempt, no_content, views};
use crate::error::graph_error;
use crate::graph_authz::Op;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use ward_core::group::Group;
use ward_core::roles::BUILT_IN_ROLES;
use ward_core::user::User;
use ward_core::{DirectoryError, ObjectId, ObjectKind};
use ward_directory::DirectoryObject;

pub fn routes() -> Router<crate::AppState> {
    let mut r = Router::new();
    for base in ["users", "groups", "servicePrincipals", "directoryObjects"] {
        r = r
            .route(&format!("/v1.0/{base}/{{id}}/getMemberGroups"), post(get_member_groups))
            .route(&format!("/v1.0/{base}/{{id}}/checkMemberGroups"), post(check_member_groups))
            .route(&format!("/v1.0/{base}/{{id}}/getMemberObjects"), post(get_member_objects));
        let relationships: &[&str] = if base == "groups" { &RELATIONSHIPS } else { &RELATIONSHIPS[..2] };
        for rel in relationships {
            r = r
                .route(&format!("/v1.0/{base}/{{id}}/{rel}"), get(relationship))
                .route(&format!("/v1.0/{base}/{{id}}/{rel}/{{seg}}"), get(relationship))
                .route(&format!("/v1.0/{base}/{{id}}/{rel}/{{seg}}/{{seg2}}"), get(relationship));
        }
    }
    for rel in &RELATIONSHIPS[..2] {
        r = r
            .route(&format!("/v1.0/me/{rel}"), get(relationship))
            .route(&format!("/v1.0/me/{rel}/{{seg}}"), get(relationship))
            .route(&format!("/v1.0/me/{rel}/{{seg}}/{{seg2}}"), get(relationship));
    }
    r.route("/v1.0/me/getMemberGroups", post(my_member_groups))
        .route("/v1.0/me/checkMemberGroups", post(my_check_member_groups))
        .route("/v1.0/me/getMemberObjects", post(my_member_objects))
        .route("/v1.0/directoryObjects/{id}", get(directory_object))
        .route("/v1.0/directoryObjects/getByIds", post(get_by_ids))
        .route("/v1.0/directory/deletedItems/microsoft.graph.user", get(deleted_users))
        .route("/v1.0/directory/deletedItems/graph.user", get(deleted_users))
        .route("/v1.0/directory/deletedItems/microsoft.graph.group", get(deleted_groups))
        .route("/v1.0/directory/deletedItems/graph.group", get(deleted_groups))
        .route("/v1.0/directory/deletedItems/{id}", get(deleted_item).delete(purge_item))
        .route("/v1.0/directory/deletedItems/{id}/restore", post(restore_item))
        .route("/v1.0/directoryRoles", get(directory_roles))
        .route("/v1.0/directoryRoles/{id}", get(directory_role))
        .route("/v1.0/directoryRoles/{id}/members", get(directory_role_members))
        .route("/v1.0/roleManagement/directory/roleDefinitions", get(role_definitions))
        .route("/v1.0/roleManagement/directory/roleAssignments", get(role_assignments).post(create_role_assignment))
        .route("/v1.0/roleManagement/directory/roleAssignments/{id}", delete(delete_role_assignment))
}

/// The object a relationship path names, with the operation that reads it.
async fn subject(g: &Graph, uri: &axum::http::Uri, key: &str) -> Result<(ObjectId, Op), Response> {
    let base = uri.path().trim_start_matches("/v1.0/").split('/').next().unwrap_or_default();
    let (id, kind) = match base {
        "users" => (g.state.directory.user(g.tenant(), key).await.map_err(|e| g.fail(&e))?.id, ObjectKind::User),
        _ => {
            let id = g.parse_id(key)?;
            let o = g.state.directory.directory_object(g.tenant(), id).await.map_err(|e| g.fail(&e))?;
            let expected = match base {
                "groups" => Some(ObjectKind::Group),
                "servicePrincipals" => Some(ObjectKind::ServicePrincipal),
                _ => None,
            };
            if expected.is_some_and(|k| k != o.kind) {
                return Err(g.not_found(key));
            }
            (id, o.kind)
        }
    };
    Ok((id, if kind == ObjectKind::User { Op::ReadUsers } else { Op::ReadGroups }))
}

fn my_id(g: &Graph) -> Result<ObjectId, Response> {
    g.caller.user.as_ref().map(|u| u.id).ok_or_else(|| g.bad("/me request is only valid with delegated authentication flow."))
}

/// A directory role as Graph's `directoryRole` (Ward uses the template id as the role's id).
fn role_view(template: &str) -> Option<Map<String, Value>> {
    let r = BUILT_IN_ROLES.iter().find(|r| r.template_id == template)?;
    let v = json!({
        "@odata.type": "#microsoft.graph.directoryRole",
        "id": r.template_id,
        "displayName": r.display_name,
        "description": r.description,
        "roleTemplateId": r.template_id,
    });
    v.as_object().cloned()
}

/// A heterogeneous relationship list, in id order, paged with `$top` and an opaque `$skiptoken`.
pub(crate) fn related(g: &Graph, path: &str, found: Result<Vec<DirectoryObject>, DirectoryError>, raw: Option<&str>) -> Response {
    let found = attempt!(found.map_err(|e| g.fail(&e)));
    let items: Vec<Map<String, Value>> = found.iter().map(views::directory_object).collect();
    page(g, path, items, raw)
}

/// A property name a client may `$select` on a heterogeneous list (checked, never echoed raw).
fn selectable(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn page(g: &Graph, path: &str, mut items: Vec<Map<String, Value>>, raw: Option<&str>) -> Response {
    let options = attempt!(ward_odata::split_query(raw).map_err(|e| odata_error(g, e)));
    if options.filter.is_some() || options.orderby.is_some() || options.search.is_some() {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "invalid_query",
            "Ward answers relationship lists with $select, $top and $count; $filter, $orderby and $search are not supported here yet.",
            &g.rid,
        );
    }
    let select: Option<Vec<String>> = match options.select.as_deref() {
        None => None,
        Some(list) => {
            let names: Vec<String> = list.split(',').map(|n| n.trim().to_string()).collect();
            if let Some(bad) = names.iter().find(|n| !selectable(n)) {
                return g.bad(&format!("'{}' is not a property name.", ward_core::validate::clip(bad)));
            }
            Some(names)
        }
    };
    let top = match options.top.as_deref() {
        None => super::list::DEFAULT_PAGE as usize,
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=999).contains(&n) => n,
            _ => {
                return g.bad(&format!(
                    "Invalid page size specified: '{}'. Must be between 1 and 999 inclusive.",
                    ward_core::validate::clip(t)
                ));
            }
        },
    };
    let key = g.state.keys.mac_key("graph skiptoken");
    let tenant = g.tenant().to_string();
    let canonical = format!("{}|{top}", options.select.as_deref().unwrap_or(""));
    let id_of = |m: &Map<String, Value>| m.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    items.sort_by_key(|m| id_of(m));
    let total = items.len();
    let after = match options.skiptoken.as_deref() {
        None => None,
        Some(t) => {
            let valid = t
                .split_once('.')
                .filter(|(p, mac)| key.verify(&[&tenant, path, "related", &canonical, p], mac))
                .and_then(|(p, _)| URL_SAFE_NO_PAD.decode(p).ok().and_then(|b| String::from_utf8(b).ok()));
            match valid {
                Some(last) => Some(last),
                None => return g.bad("The $skiptoken is not valid for this request."),
            }
        }
    };
    if let Some(last) = &after {
        items.retain(|m| id_of(m).as_str() > last.as_str());
    }
    let more = items.len() > top;
    items.truncate(top);
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(g.context("directoryObjects")));
    if options.count.as_deref() == Some("true") && after.is_none() {
        body.insert("@odata.count".into(), json!(total));
    }
    if more && let Some(last) = items.last() {
        let payload = URL_SAFE_NO_PAD.encode(id_of(last));
        let token = format!("{payload}.{}", key.sign(&[&tenant, path, "related", &canonical, &payload]));
        let select = options.select.as_deref().map(|s| format!("$select={}&", super::list::encode(s))).unwrap_or_default();
        let link = format!("{}/v1.0/{path}?{select}$top={top}&$skiptoken={}", g.state.public_url, super::list::encode(&token));
        body.insert("@odata.nextLink".into(), json!(link));
    }
    let items = items.into_iter().map(|m| match &select {
        None => Value::Object(m),
        Some(names) => {
            let mut out = Map::new();
            for k in ["@odata.type", "id"] {
                if let Some(v) = m.get(k) {
                    out.insert(k.into(), v.clone());
                }
            }
            for n in names {
                out.insert(n.clone(), m.get(n).cloned().unwrap_or(Value::Null));
            }
            Value::Object(out)
        }
    });
    body.insert("value".into(), Value::Array(items.collect()));
    Json(Value::Object(body)).into_response()
}

/// Groups (and, for users and service principals, directory roles) an object belongs to.
async fn memberships(g: &Graph, id: ObjectId, transitive: bool) -> Result<Vec<Map<String, Value>>, Response> {
    let groups = if transitive {
        g.state.directory.transitive_member_of(g.tenant(), id).await
    } else {
        g.state.directory.member_of(g.tenant(), id).await
    };
    let mut out: Vec<Map<String, Value>> = groups.map_err(|e| g.fail(&e))?.iter().map(views::directory_object).collect();
    let roles = g.state.directory.roles_of(g.tenant(), id).await.map_err(|e| g.fail(&e))?;
    out.extend(roles.iter().filter_map(|r| role_view(r)));
    Ok(out)
}

/// The relationships Ward serves as lists.
const RELATIONSHIPS: [&str; 5] = ["memberOf", "transitiveMemberOf", "members", "transitiveMembers", "owners"];

/// An OData type cast (`microsoft.graph.user`, or its short form `graph.user`) as the
/// `@odata.type` it keeps.
fn cast(segment: &str) -> Option<&'static str> {
    let name = segment.strip_prefix("microsoft.graph.").or_else(|| segment.strip_prefix("graph."))?;
    Some(match name {
        "user" => "#microsoft.graph.user",
        "group" => "#microsoft.graph.group",
        "servicePrincipal" => "#microsoft.graph.servicePrincipal",
        "directoryRole" => "#microsoft.graph.directoryRole",
        _ => return None,
    })
}

/// `GET /v1.0/{users|groups|servicePrincipals|directoryObjects|me}/[{id}/]{relationship}[/{cast}][/$count]`.
async fn relationship(g: Graph, uri: axum::http::Uri, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let path = uri.path().trim_start_matches("/v1.0/").to_string();
    let segments: Vec<&str> = path.split('/').collect();
    let (id, op, rest) = if segments.first() == Some(&"me") {
        attempt!(g.require(Op::ReadMe).await);
        (attempt!(my_id(&g)), None, &segments[1..])
    } else {
        let Some(key) = segments.get(1) else { return g.not_found(&path) };
        let key = percent_decoded(key);
        let (id, op) = attempt!(subject(&g, &uri, &key).await);
        (id, Some(op), &segments[2..])
    };
    let Some((rel, tail)) = rest.split_first().filter(|(r, _)| RELATIONSHIPS.contains(r)) else { return g.not_found(&path) };
    let (cast, count) = match tail {
        [] => (None, false),
        ["$count"] => (None, true),
        [c] => (Some(attempt!(cast(c).ok_or_else(|| g.not_found(&path)))), false),
        [c, "$count"] => (Some(attempt!(cast(c).ok_or_else(|| g.not_found(&path)))), true),
        _ => return g.not_found(&path),
    };
    let group_side = matches!(*rel, "members" | "transitiveMembers" | "owners");
    if let Some(op) = op {
        attempt!(g.require(if group_side { Op::ReadGroups } else { op }).await);
    }
    let mut items = if group_side {
        let found = match *rel {
            "members" => g.state.directory.members(g.tenant(), id).await,
            "transitiveMembers" => g.state.directory.transitive_members(g.tenant(), id).await,
            _ => g.state.directory.owners(g.tenant(), id).await,
        };
        attempt!(found.map_err(|e| g.fail(&e))).iter().map(views::directory_object).collect()
    } else {
        attempt!(memberships(&g, id, *rel == "transitiveMemberOf").await)
    };
    if let Some(t) = cast {
        items.retain(|m| m.get("@odata.type").and_then(Value::as_str) == Some(t));
    }
    if count {
        if !super::list::eventual(&headers) {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                "invalid_query",
                "$count is not currently supported.",
                &g.rid,
            );
        }
        return ([(axum::http::header::CONTENT_TYPE, "text/plain")], items.len().to_string()).into_response();
    }
    page(&g, &path, items, q.as_deref())
}

fn percent_decoded(s: &str) -> String {
    url::form_urlencoded::parse(format!("k={}", s.replace('+', "%2B")).as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// `GET /directoryObjects/{id}`: any live object, with its type.
async fn directory_object(g: Graph, Path(key): Path<String>) -> Response {
    let id = attempt!(g.parse_id(&key));
    let o = attempt!(g.state.directory.directory_object(g.tenant(), id).await.map_err(|e| g.fail(&e)));
    attempt!(g.require(if o.kind == ObjectKind::User { Op::ReadUsers } else { Op::ReadGroups }).await);
    g.entity("directoryObjects", views::directory_object(&o), StatusCode::OK)
}

/// `POST /directoryObjects/getByIds`: up to 1,000 ids, optionally of some types; unknown ids are
/// left out, as Graph does.
async fn get_by_ids(g: Graph, body: Bytes) -> Response {
    // Checked before any look-up, so a caller without them learns nothing about which ids exist.
    attempt!(g.require(Op::ReadUsers).await);
    attempt!(g.require(Op::ReadGroups).await);
    let body = attempt!(g.object(&body));
    let Some(ids) = body.get("ids").and_then(Value::as_array) else { return g.bad("ids (an array of object ids) is required.") };
    if ids.len() > 1000 {
        return g.bad("getByIds accepts at most 1000 ids.");
    }
    let types: Option<Vec<String>> =
        body.get("types").and_then(Value::as_array).map(|t| t.iter().filter_map(Value::as_str).map(|s| s.to_ascii_lowercase()).collect());
    let mut out = Vec::new();
    for v in ids {
        let id = attempt!(g.parse_id(v.as_str().unwrap_or_default()));
        let Ok(o) = g.state.directory.directory_object(g.tenant(), id).await else { continue };
        let view = views::directory_object(&o);
        let type_name = view
            .get("@odata.type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim_start_matches("#microsoft.graph.")
            .to_ascii_lowercase();
        if types.as_ref().is_some_and(|t| !t.contains(&type_name)) {
            continue;
        }
        out.push(Value::Object(view));
    }
    Json(json!({ "@odata.context": g.context("directoryObjects"), "value": out })).into_response()
}

/// `securityEnabledOnly` from a getMemberGroups / getMemberObjects body (required by Graph).
fn security_only(g: &Graph, body: &[u8]) -> Result<bool, Response> {
    let body = g.object(body)?;
    for k in body.keys() {
        if k != "securityEnabledOnly" {
            return Err(g.bad(&format!("Property '{}' is not a parameter of this action.", ward_core::validate::clip(k))));
        }
    }
    body.get("securityEnabledOnly").and_then(Value::as_bool).ok_or_else(|| g.bad("securityEnabledOnly (a boolean) is required."))
}

async fn member_groups(g: &Graph, id: ObjectId, body: &[u8]) -> Response {
    let only = attempt!(security_only(g, body));
    match g.state.directory.get_member_groups(g.tenant(), id, only).await {
        Ok(ids) => g.strings(ids),
        Err(e) => g.fail(&e),
    }
}

async fn member_objects(g: &Graph, id: ObjectId, body: &[u8]) -> Response {
    let only = attempt!(security_only(g, body));
    let groups = attempt!(g.state.directory.get_member_groups(g.tenant(), id, only).await.map_err(|e| g.fail(&e)));
    let roles = attempt!(g.state.directory.roles_of(g.tenant(), id).await.map_err(|e| g.fail(&e)));
    let mut value: Vec<String> = groups.iter().map(ToString::to_string).collect();
    value.extend(roles);
    Json(json!({ "@odata.context": g.context("Collection(Edm.String)"), "value": value })).into_response()
}

async fn check_groups(g: &Graph, id: ObjectId, body: &[u8]) -> Response {
    let body = attempt!(g.object(body));
    let Some(list) = body.get("groupIds").and_then(Value::as_array) else { return g.bad("groupIds (an array of group ids) is required.") };
    if list.len() > 20 {
        return g.bad("checkMemberGroups accepts at most 20 groupIds.");
    }
    let mut ids = Vec::with_capacity(list.len());
    for v in list {
        ids.push(attempt!(g.parse_id(v.as_str().unwrap_or_default())));
    }
    match g.state.directory.check_member_groups(g.tenant(), id, &ids).await {
        Ok(found) => g.strings(found),
        Err(e) => g.fail(&e),
    }
}

async fn get_member_groups(g: Graph, uri: axum::http::Uri, Path(key): Path<String>, body: Bytes) -> Response {
    let (id, op) = attempt!(subject(&g, &uri, &key).await);
    attempt!(g.require(op).await);
    member_groups(&g, id, &body).await
}

async fn get_member_objects(g: Graph, uri: axum::http::Uri, Path(key): Path<String>, body: Bytes) -> Response {
    let (id, op) = attempt!(subject(&g, &uri, &key).await);
    attempt!(g.require(op).await);
    member_objects(&g, id, &body).await
}

async fn check_member_groups(g: Graph, uri: axum::http::Uri, Path(key): Path<String>, body: Bytes) -> Response {
    let (id, op) = attempt!(subject(&g, &uri, &key).await);
    attempt!(g.require(op).await);
    check_groups(&g, id, &body).await
}

async fn my_member_groups(g: Graph, body: Bytes) -> Response {
    attempt!(g.require(Op::ReadMe).await);
    let id = attempt!(my_id(&g));
    member_groups(&g, id, &body).await
}

async fn my_member_objects(g: Graph, body: Bytes) -> Response {
    attempt!(g.require(Op::ReadMe).await);
    let id = attempt!(my_id(&g));
    member_objects(&g, id, &body).await
}

async fn my_check_member_groups(g: Graph, body: Bytes) -> Response {
    attempt!(g.require(Op::ReadMe).await);
    let id = attempt!(my_id(&g));
    check_groups(&g, id, &body).await
}

// ----- deleted items

const DELETED_USERS: ListSpec = ListSpec {
    resource: &ward_odata::USER,
    kind: ObjectKind::User,
    path: "directory/deletedItems/microsoft.graph.user",
    set: "directory/deletedItems/microsoft.graph.user",
    deleted: true,
};
const DELETED_GROUPS: ListSpec = ListSpec {
    resource: &ward_odata::GROUP,
    kind: ObjectKind::Group,
    path: "directory/deletedItems/microsoft.graph.group",
    set: "directory/deletedItems/microsoft.graph.group",
    deleted: true,
};

async fn deleted_users(g: Graph, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    attempt!(g.require(Op::ReadUsers).await);
    respond::<User>(&g, &DELETED_USERS, q.as_deref(), &headers, views::user).await
}

async fn deleted_groups(g: Graph, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    attempt!(g.require(Op::ReadGroups).await);
    respond::<Group>(&g, &DELETED_GROUPS, q.as_deref(), &headers, views::group).await
}

/// A deleted user or group, with the operations that read and change it.
async fn deleted(g: &Graph, key: &str) -> Result<(ward_core::store::StoredObject, Op, Op), Response> {
    let id = g.parse_id(key)?;
    let stored = g.state.directory.store().any_object(g.tenant(), id).await.map_err(|e| g.fail(&e.into()))?;
    match stored {
        Some(o) if o.deleted_at.is_some() && o.kind == ObjectKind::User => Ok((o, Op::ReadUsers, Op::WriteUsers)),
        Some(o) if o.deleted_at.is_some() && o.kind == ObjectKind::Group => Ok((o, Op::ReadGroups, Op::WriteGroups)),
        _ => Err(g.not_found(key)),
    }
}

fn deleted_view(o: &ward_core::store::StoredObject) -> Map<String, Value> {
    let mut v = match o.kind {
        ObjectKind::User => serde_json::from_value::<User>(o.doc.clone()).map(|u| views::user(&u)).unwrap_or_default(),
        _ => serde_json::from_value::<Group>(o.doc.clone()).map(|gr| views::group(&gr)).unwrap_or_default(),
    };
    let odata_type = if o.kind == ObjectKind::User { "#microsoft.graph.user" } else { "#microsoft.graph.group" };
    v.insert("@odata.type".into(), json!(odata_type));
    v
}

async fn deleted_item(g: Graph, Path(key): Path<String>) -> Response {
    let (o, read, _) = attempt!(deleted(&g, &key).await);
    attempt!(g.require(read).await);
    g.entity("directory/deletedItems", deleted_view(&o), StatusCode::OK)
}

async fn restore_item(g: Graph, Path(key): Path<String>) -> Response {
    let (o, _, write) = attempt!(deleted(&g, &key).await);
    attempt!(g.require(write).await);
    let restored = match o.kind {
        ObjectKind::User => {
            let work = g.state.directory.restore_user(g.tenant(), o.id);
            g.write(Activity("UserManagement", "Restore user", "Update"), Some(o.id.to_string()), work).await.map(|u| views::user(&u))
        }
        _ => {
            let work = g.state.directory.restore_group(g.tenant(), o.id);
            g.write(Activity("GroupManagement", "Restore group", "Update"), Some(o.id.to_string()), work).await.map(|gr| views::group(&gr))
        }
    };
    match restored {
        Ok(mut v) => {
            let odata_type = if o.kind == ObjectKind::User { "#microsoft.graph.user" } else { "#microsoft.graph.group" };
            v.insert("@odata.type".into(), json!(odata_type));
            g.entity("directoryObjects", v, StatusCode::OK)
        }
        Err(r) => r,
    }
}

async fn purge_item(g: Graph, Path(key): Path<String>) -> Response {
    let (o, _, write) = attempt!(deleted(&g, &key).await);
    attempt!(g.require(write).await);
    let activity = if o.kind == ObjectKind::User {
        Activity("UserManagement", "Hard delete user", "Delete")
    } else {
        Activity("GroupManagement", "Hard delete group", "Delete")
    };
    match g.write(activity, Some(o.id.to_string()), g.state.directory.purge_deleted(g.tenant(), o.id)).await {
        Ok(()) => no_content(),
        Err(r) => r,
    }
}

// ----- directory roles and role assignments

async fn directory_roles(g: Graph) -> Response {
    attempt!(g.require(Op::ReadRoles).await);
    let value: Vec<Value> = BUILT_IN_ROLES.iter().filter_map(|r| role_view(r.template_id)).map(Value::Object).collect();
    Json(json!({ "@odata.context": g.context("directoryRoles"), "value": value })).into_response()
}

async fn directory_role(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::ReadRoles).await);
    match role_view(&id.to_ascii_lowercase()) {
        Some(v) => g.entity("directoryRoles", v, StatusCode::OK),
        None => g.not_found(&id),
    }
}

async fn directory_role_members(g: Graph, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    attempt!(g.require(Op::ReadRoles).await);
    let id = id.to_ascii_lowercase();
    if role_view(&id).is_none() {
        return g.not_found(&id);
    }
    let assignments = attempt!(g.state.directory.role_assignments(g.tenant()).await.map_err(|e| g.fail(&e)));
    let mut members = Vec::new();
    for a in assignments.iter().filter(|a| a.role_definition_id == id) {
        if let Ok(o) = g.state.directory.directory_object(g.tenant(), a.principal_id).await {
            members.push(o);
        }
    }
    related(&g, &format!("directoryRoles/{id}/members"), Ok(members), q.as_deref())
}

async fn role_definitions(g: Graph) -> Response {
    attempt!(g.require(Op::ReadRoles).await);
    let value: Vec<Value> = BUILT_IN_ROLES
        .iter()
        .map(|r| {
            json!({
                "id": r.template_id,
                "templateId": r.template_id,
                "displayName": r.display_name,
                "description": r.description,
                "isBuiltIn": true,
                "isEnabled": true,
            })
        })
        .collect();
    Json(json!({ "@odata.context": g.context("roleManagement/directory/roleDefinitions"), "value": value })).into_response()
}

fn assignment_view(a: &ward_core::roles::RoleAssignment) -> Value {
    json!({
        "id": a.id.to_string(),
        "principalId": a.principal_id.to_string(),
        "roleDefinitionId": a.role_definition_id,
        "directoryScopeId": a.directory_scope_id,
    })
}

/// `$filter=principalId eq '…'` or `roleDefinitionId eq '…'`: the filters Graph clients use here.
fn assignment_filter(g: &Graph, q: Option<&str>) -> Result<Option<(&'static str, String)>, Response> {
    let raw = ward_odata::split_query(q).map_err(|e| odata_error(g, e))?;
    if raw.select.is_some() || raw.orderby.is_some() || raw.search.is_some() || raw.top.is_some() || raw.skiptoken.is_some() {
        return Err(g.bad("Role assignments accept $filter on principalId or roleDefinitionId only."));
    }
    let Some(f) = raw.filter else { return Ok(None) };
    for field in ["principalId", "roleDefinitionId"] {
        if let Some(rest) = f.trim().strip_prefix(field).map(str::trim_start).and_then(|r| r.strip_prefix("eq ")) {
            let v = rest.trim().trim_matches('\'');
            if !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
                return Ok(Some((field, v.to_ascii_lowercase())));
            }
        }
    }
    Err(graph_error(
        StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
        "invalid_query",
        "Role assignments accept $filter=principalId eq '{id}' or roleDefinitionId eq '{id}'.",
        &g.rid,
    ))
}

async fn role_assignments(g: Graph, RawQuery(q): RawQuery) -> Response {
    attempt!(g.require(Op::ReadRoles).await);
    let filter = attempt!(assignment_filter(&g, q.as_deref()));
    let all = attempt!(g.state.directory.role_assignments(g.tenant()).await.map_err(|e| g.fail(&e)));
    let value: Vec<Value> = all
        .iter()
        .filter(|a| match &filter {
            Some(("principalId", v)) => a.principal_id.to_string() == *v,
            Some((_, v)) => a.role_definition_id == *v,
            None => true,
        })
        .map(assignment_view)
        .collect();
    Json(json!({ "@odata.context": g.context("roleManagement/directory/roleAssignments"), "value": value })).into_response()
}

async fn create_role_assignment(g: Graph, body: Bytes) -> Response {
    attempt!(g.require(Op::WriteRoles).await);
    let body = attempt!(g.object(&body));
    for k in body.keys() {
        if !matches!(k.as_str(), "principalId" | "roleDefinitionId" | "directoryScopeId" | "@odata.type") {
            return g.bad(&format!("Property '{}' is not supported on a role assignment.", ward_core::validate::clip(k)));
        }
    }
    if body.get("directoryScopeId").and_then(Value::as_str).is_some_and(|s| s != "/") {
        return g.bad("Ward assigns directory roles at the tenant scope only (directoryScopeId '/').");
    }
    let principal = attempt!(g.parse_id(body.get("principalId").and_then(Value::as_str).unwrap_or_default()));
    let Some(role) = body.get("roleDefinitionId").and_then(Value::as_str) else { return g.bad("roleDefinitionId is required.") };
    let role = role.to_ascii_lowercase();
    let work = g.state.directory.assign_role(g.tenant(), &role, principal);
    match g.write(Activity("RoleManagement", "Add member to role", "Assign"), Some(principal.to_string()), work).await {
        Ok(a) => {
            let mut v = assignment_view(&a);
            v["@odata.context"] = json!(g.context("roleManagement/directory/roleAssignments/$entity"));
            (StatusCode::CREATED, Json(v)).into_response()
        }
        Err(r) => r,
    }
}

async fn delete_role_assignment(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::WriteRoles).await);
    let id = attempt!(g.parse_id(&id));
    let work = g.state.directory.remove_role_assignment(g.tenant(), id);
    match g.write(Activity("RoleManagement", "Remove member from role", "Unassign"), Some(id.to_string()), work).await {
        Ok(()) => no_content(),
        Err(r) => r,
    }
}
