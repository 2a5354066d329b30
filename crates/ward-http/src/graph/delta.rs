//! Delta queries (`/users/delta`, `/groups/delta`): a first round lists every live object and
//! ends with an `@odata.deltaLink`; each later round returns what changed since, read from the
//! change feed: changed objects whole, deleted ones as `@removed` (`changed` while restorable,
//! `deleted` once purged), and for groups the membership changes as `members@delta`. Tokens are
//! opaque and MAC-bound to the tenant, the resource and the `$select`.

use super::{Graph, attempt, views};
use crate::graph_authz::Op;
use axum::Json;
use axum::Router;
use axum::extract::RawQuery;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use ward_core::change::ChangeType;
use ward_core::group::Group;
use ward_core::store::ListQuery;
use ward_core::user::User;
use ward_core::{ObjectId, ObjectKind};
use ward_odata::Resource;

pub fn routes() -> Router<crate::AppState> {
    Router::new()
        .route("/v1.0/users/delta", get(users_delta))
        .route("/v1.0/users/delta()", get(users_delta))
        .route("/v1.0/groups/delta", get(groups_delta))
        .route("/v1.0/groups/delta()", get(groups_delta))
}

/// Objects per page unless `Prefer: odata.maxpagesize=N` asks otherwise.
const PAGE: usize = 100;
/// Feed rows read at a time while collecting a page of changes.
const FEED_BATCH: u32 = 500;

struct Kind {
    kind: ObjectKind,
    resource: &'static Resource,
    path: &'static str,
}

const USERS: Kind = Kind { kind: ObjectKind::User, resource: &ward_odata::USER, path: "users/delta" };
const GROUPS: Kind = Kind { kind: ObjectKind::Group, resource: &ward_odata::GROUP, path: "groups/delta" };

async fn users_delta(g: Graph, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    attempt!(g.require(Op::ReadUsers).await);
    delta(&g, &USERS, q.as_deref(), &headers).await
}

async fn groups_delta(g: Graph, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    attempt!(g.require(Op::ReadGroups).await);
    delta(&g, &GROUPS, q.as_deref(), &headers).await
}

/// Where a round stands.
enum State {
    /// Listing live objects after `after`; the round started at feed position `head`.
    Initial { head: i64, after: Option<ObjectId> },
    /// Reading the feed after `position`.
    Changes { position: i64 },
}

fn page_size(headers: &HeaderMap) -> usize {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("odata.maxpagesize=").and_then(|n| n.trim().parse::<usize>().ok()))
        .map_or(PAGE, |n| n.clamp(1, 999))
}

fn mint(g: &Graph, k: &Kind, select: &str, state: &State) -> String {
    let payload = match state {
        State::Initial { head, after } => json!({ "m": "i", "h": head, "a": after.map(|a| a.to_string()) }),
        State::Changes { position } => json!({ "m": "c", "p": position }),
    };
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    let mac = g.state.keys.mac_key("graph delta").sign(&[&g.tenant().to_string(), k.path, select, &payload]);
    format!("{payload}.{mac}")
}

fn redeem(g: &Graph, k: &Kind, select: &str, token: &str) -> Option<State> {
    let (payload, mac) = token.split_once('.')?;
    if !g.state.keys.mac_key("graph delta").verify(&[&g.tenant().to_string(), k.path, select, payload], mac) {
        return None;
    }
    let v: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    match v["m"].as_str()? {
        "i" => Some(State::Initial {
            head: v["h"].as_i64()?,
            after: match v["a"].as_str() {
                Some(a) => Some(a.parse().ok()?),
                None => None,
            },
        }),
        "c" => Some(State::Changes { position: v["p"].as_i64()? }),
        _ => None,
    }
}

fn view(k: &Kind, doc: &Value, select: Option<&[&'static str]>) -> Option<Map<String, Value>> {
    let full = match k.kind {
        ObjectKind::User => views::user(&serde_json::from_value::<User>(doc.clone()).ok()?),
        _ => views::group(&serde_json::from_value::<Group>(doc.clone()).ok()?),
    };
    Some(views::project(full, k.resource, select))
}

fn removed(id: &str, reason: &str) -> Value {
    json!({ "id": id, "@removed": { "reason": reason } })
}

fn member_ref(member: &str, kind: &str, removed: bool) -> Value {
    let odata_type = match kind {
        "user" => "#microsoft.graph.user",
        "group" => "#microsoft.graph.group",
        "servicePrincipal" => "#microsoft.graph.servicePrincipal",
        _ => "#microsoft.graph.directoryObject",
    };
    let mut v = json!({ "@odata.type": odata_type, "id": member });
    if removed {
        v["@removed"] = json!({ "reason": "deleted" });
    }
    v
}

async fn delta(g: &Graph, k: &Kind, raw: Option<&str>, headers: &HeaderMap) -> Response {
    // `$deltatoken` is delta's own option: taken out before the common OData options are read.
    let is_deltatoken =
        |p: &&str| p.split('=').next().is_some_and(|n| n.eq_ignore_ascii_case("$deltatoken") || n.eq_ignore_ascii_case("%24deltatoken"));
    let others: Vec<&str> = raw.unwrap_or_default().split('&').filter(|p| !is_deltatoken(p)).collect();
    let others = others.join("&");
    let options = attempt!(ward_odata::split_query(Some(&others)).map_err(|e| super::list::odata_error(g, e)));
    if options.filter.is_some() || options.orderby.is_some() || options.search.is_some() || options.top.is_some() || options.count.is_some()
    {
        return crate::error::graph_error(
            axum::http::StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "invalid_query",
            "Ward's delta queries accept $select (and Prefer: odata.maxpagesize); $filter, $top, $orderby, $search and $count are not supported on delta.",
            &g.rid,
        );
    }
    let select_text = options.select.clone().unwrap_or_default();
    let parsed = ward_odata::QueryOptions { select: options.select.as_deref(), ..Default::default() };
    let select = attempt!(ward_odata::parse(k.resource, &parsed).map(|q| q.select).map_err(|e| super::list::odata_error(g, e)));
    let deltatoken = raw.unwrap_or_default().split('&').find(is_deltatoken).map(|p| {
        let v = p.split_once('=').map(|(_, v)| v).unwrap_or_default();
        url::form_urlencoded::parse(format!("v={v}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
    });
    let store = g.state.directory.store();
    let tenant = g.tenant();
    let invalid = || g.bad("The delta or skip token is not valid for this request.");
    let state = match (deltatoken.as_deref(), options.skiptoken.as_deref()) {
        (Some(_), Some(_)) => return g.bad("Use either $deltatoken or $skiptoken."),
        // Only future changes: a delta link that starts now.
        (Some("latest"), None) => {
            let head = attempt!(store.feed_head(Some(tenant)).await.map_err(|e| g.fail(&e.into())));
            return finish(g, k, &select_text, Vec::new(), None, State::Changes { position: head });
        }
        (Some(t), None) | (None, Some(t)) => attempt!(redeem(g, k, &select_text, t).ok_or_else(invalid)),
        (None, None) => State::Initial { head: attempt!(store.feed_head(Some(tenant)).await.map_err(|e| g.fail(&e.into()))), after: None },
    };
    let size = page_size(headers);
    match state {
        State::Initial { head, after } => {
            let query = ListQuery { deleted: false, after, limit: size as u32 + 1 };
            let mut rows = attempt!(store.objects(tenant, k.kind, &query).await.map_err(|e| g.fail(&e.into())));
            let more = rows.len() > size;
            rows.truncate(size);
            let mut items = Vec::with_capacity(rows.len());
            for o in &rows {
                let Some(mut v) = view(k, &o.doc, select.as_deref()) else { continue };
                if k.kind == ObjectKind::Group {
                    let members = attempt!(
                        store.links_of_group(tenant, ward_core::store::Relation::Member, o.id).await.map_err(|e| g.fail(&e.into()))
                    );
                    let refs: Vec<Value> =
                        members.iter().map(|l| member_ref(&l.member.to_string(), l.member_kind.as_str(), false)).collect();
                    v.insert("members@delta".into(), Value::Array(refs));
                }
                items.push(Value::Object(v));
            }
            let next = if more { Some(State::Initial { head, after: rows.last().map(|o| o.id) }) } else { None };
            finish(g, k, &select_text, items, next, State::Changes { position: head })
        }
        State::Changes { position } => {
            // Collect up to `size` distinct objects of this kind, in the order they first changed.
            let mut order: Vec<String> = Vec::new();
            let mut members: std::collections::HashMap<String, Vec<Value>> = std::collections::HashMap::new();
            let mut consumed = position;
            let mut exhausted = false;
            'read: loop {
                let batch = attempt!(store.feed(Some(tenant), consumed, FEED_BATCH).await.map_err(|e| g.fail(&e.into())));
                if batch.is_empty() {
                    exhausted = true;
                    break;
                }
                for e in &batch {
                    if e.subject_kind == k.kind.as_str() && e.change != ChangeType::CredentialChanged {
                        let new = !order.contains(&e.subject_id);
                        if new && order.len() == size {
                            break 'read;
                        }
                        if new {
                            order.push(e.subject_id.clone());
                        }
                        if matches!(e.change, ChangeType::LinkAdded | ChangeType::LinkRemoved) && e.payload["relation"] == "member" {
                            let member = e.payload["memberId"].as_str().unwrap_or_default();
                            let kind = e.payload["memberKind"].as_str().unwrap_or_default();
                            members.entry(e.subject_id.clone()).or_default().push(member_ref(
                                member,
                                kind,
                                e.change == ChangeType::LinkRemoved,
                            ));
                        }
                    }
                    consumed = e.position;
                }
                if (batch.len() as u32) < FEED_BATCH {
                    exhausted = true;
                    break;
                }
            }
            let mut items = Vec::with_capacity(order.len());
            for id in &order {
                let Ok(oid) = id.parse::<ObjectId>() else { continue };
                let found = attempt!(store.object(tenant, k.kind, oid).await.map_err(|e| g.fail(&e.into())));
                let item = match found {
                    None => removed(id, "deleted"),
                    Some(o) if o.deleted_at.is_some() => removed(id, "changed"),
                    Some(o) => match view(k, &o.doc, select.as_deref()) {
                        Some(mut v) => {
                            if let Some(m) = members.remove(id) {
                                v.insert("members@delta".into(), Value::Array(m));
                            }
                            Value::Object(v)
                        }
                        None => continue,
                    },
                };
                items.push(item);
            }
            let next = (!exhausted).then_some(State::Changes { position: consumed });
            finish(g, k, &select_text, items, next, State::Changes { position: consumed })
        }
    }
}

/// One page: a `nextLink` while the round goes on, else the `deltaLink` for the next round.
fn finish(g: &Graph, k: &Kind, select: &str, items: Vec<Value>, next: Option<State>, done: State) -> Response {
    let base = format!("{}/v1.0/{}?", g.state.public_url, k.path);
    let select_part = if select.is_empty() { String::new() } else { format!("$select={}&", super::list::encode(select)) };
    let mut body = json!({ "@odata.context": g.context(k.resource.name), "value": items });
    match next {
        Some(state) => {
            body["@odata.nextLink"] = json!(format!("{base}{select_part}$skiptoken={}", super::list::encode(&mint(g, k, select, &state))))
        }
        None => {
            body["@odata.deltaLink"] = json!(format!("{base}{select_part}$deltatoken={}", super::list::encode(&mint(g, k, select, &done))))
        }
    }
    Json(body).into_response()
}
