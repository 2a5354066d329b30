//! `/v1.0/identityProtection`: `riskyUsers` (list, get, `history`), `confirmCompromised` and
//! `dismiss`, and `riskDetections` (entra-apis.md §3.1, §3.2). Lists are in id order, paged
//! with `$top` (default 100, at most 500) and a `$skiptoken` in `@odata.nextLink`; riskyUsers
//! take `$filter` with equalities on riskLevel, riskState, riskDetail and userPrincipalName.

use super::{Activity, Graph, attempt, no_content};
use crate::graph_authz::Op;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use ward_core::{DirectoryError, ObjectId};
use ward_risk::UserLabel;

pub fn routes() -> Router<crate::AppState> {
    Router::new()
        .route("/v1.0/identityProtection/riskyUsers", get(list_risky_users))
        .route("/v1.0/identityProtection/riskyUsers/confirmCompromised", post(confirm_compromised))
        .route("/v1.0/identityProtection/riskyUsers/dismiss", post(dismiss))
        .route("/v1.0/identityProtection/riskyUsers/{id}", get(get_risky_user))
        .route("/v1.0/identityProtection/riskyUsers/{id}/history", get(history))
        .route("/v1.0/identityProtection/riskDetections", get(list_detections))
        .route("/v1.0/identityProtection/riskDetections/{id}", get(get_detection))
}

const SUPPORTED: &str = "Ward filters riskyUsers with clauses joined by 'and': riskLevel eq '…', riskState eq '…', riskDetail eq '…', \
                         userPrincipalName eq '…'.";

/// A `riskyUsers` `$filter`: equalities on the properties clients filter on, joined by `and`.
fn risky_filter(g: &Graph, text: &str) -> Result<Vec<(&'static str, String)>, Response> {
    let unsupported = || super::audit::unsupported_with(g, SUPPORTED);
    let mut out = Vec::new();
    for clause in super::audit::split_and(text) {
        let words: Vec<&str> = clause.splitn(3, ' ').collect();
        let [field, op, value] = words.as_slice() else { return Err(unsupported()) };
        if !op.eq_ignore_ascii_case("eq") {
            return Err(unsupported());
        }
        let property = match field.to_ascii_lowercase().as_str() {
            "risklevel" => "riskLevel",
            "riskstate" => "riskState",
            "riskdetail" => "riskDetail",
            "userprincipalname" => "userPrincipalName",
            _ => return Err(unsupported()),
        };
        out.push((property, super::audit::literal(value).ok_or_else(unsupported)?));
    }
    Ok(out)
}

fn matches(v: &Value, filter: &[(&'static str, String)]) -> bool {
    filter.iter().all(|(k, want)| v.get(*k).and_then(Value::as_str).is_some_and(|have| have.eq_ignore_ascii_case(want)))
}

type Paging = (u32, Option<ObjectId>, Vec<(&'static str, String)>);

/// `$top` and `$skiptoken` (the last id of the previous page), and for riskyUsers `$filter`;
/// anything else is refused.
fn paging(g: &Graph, query: Option<&str>, filterable: bool) -> Result<Paging, Response> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or("")).map_err(|_| g.bad("The query string does not parse."))?;
    let (mut top, mut after, mut filter) = (100u32, None, Vec::new());
    for (k, v) in pairs {
        match k.as_str() {
            "$filter" if filterable => filter = risky_filter(g, &v)?,
            "$top" => top = v.parse::<u32>().ok().filter(|n| (1..=500).contains(n)).ok_or_else(|| g.bad("$top must be 1 to 500."))?,
            "$skiptoken" => after = Some(v.parse::<ObjectId>().map_err(|_| g.bad("The $skiptoken is not one Ward gave."))?),
            other => {
                return Err(g.bad(&format!(
                    "The query option '{}' is not supported here; page with $top and @odata.nextLink.",
                    ward_core::validate::clip(other)
                )));
            }
        }
    }
    Ok((top, after, filter))
}

/// A page; `more`: the id to continue after, when there may be more.
fn page(g: &Graph, set: &str, path: &str, value: Vec<Value>, top: u32, more: Option<ObjectId>, filter: Option<&str>) -> Response {
    let mut body = json!({ "@odata.context": g.context(set), "value": value });
    if let Some(last) = more {
        let filter = filter
            .map(|f| format!("&$filter={}", url::form_urlencoded::byte_serialize(f.as_bytes()).collect::<String>()))
            .unwrap_or_default();
        body["@odata.nextLink"] =
            json!(format!("{}/v1.0/identityProtection/{path}?$top={top}&$skiptoken={last}{filter}", g.state.public_url));
    }
    Json(body).into_response()
}

/// The `$filter` text of a query, as sent, for the next link.
fn filter_text(query: Option<&str>) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or("")).ok()?;
    pairs.into_iter().find(|(k, _)| k == "$filter").map(|(_, v)| v)
}

/// The user's names for a risk document (none once the user is gone: `isDeleted`).
async fn label(g: &Graph, id: ObjectId) -> (Option<ward_core::user::User>, bool) {
    match g.state.directory.user(g.tenant(), &id.to_string()).await {
        Ok(u) => (Some(u), false),
        Err(_) => (None, true),
    }
}

fn user_label(id: ObjectId, user: &Option<ward_core::user::User>) -> UserLabel<'_> {
    UserLabel {
        id,
        display_name: user.as_ref().map(|u| u.display_name.as_str()),
        principal_name: user.as_ref().map(|u| u.user_principal_name.as_str()),
    }
}

/// Hides enum members past `unknownFutureValue` (`riskDetail` and a history item's
/// `activity.detail`) from a client that did not ask for them, as Graph does.
fn evolvable(g: &Graph, mut v: Value) -> Value {
    if g.unknown_enum_members {
        return v;
    }
    let hide = |x: &mut Value| {
        let known = x.as_str().and_then(|s| serde_json::from_value::<ward_risk::RiskDetail>(json!(s)).ok());
        if known.is_some_and(ward_risk::RiskDetail::evolvable) {
            *x = json!("unknownFutureValue");
        }
    };
    if let Some(d) = v.get_mut("riskDetail") {
        hide(d);
    }
    if let Some(d) = v.get_mut("activity").and_then(|a| a.get_mut("detail")) {
        hide(d);
    }
    v
}

/// Risky users a scan reads at most for one page of a filtered list (the rest follows the link).
const SCAN: u32 = 5_000;

async fn list_risky_users(g: Graph, RawQuery(query): RawQuery) -> Response {
    attempt!(g.require(Op::ReadRiskyUsers).await);
    let (top, mut after, filter) = attempt!(paging(&g, query.as_deref(), true));
    let (mut value, mut scanned, mut more) = (Vec::new(), 0u32, None);
    'pages: loop {
        let risks = attempt!(g.state.directory.risky_users(g.tenant(), after, top).await.map_err(|e| g.fail(&e)));
        let full = risks.len() == top as usize;
        for r in &risks {
            scanned += 1;
            after = Some(r.risk.user);
            let (user, deleted) = label(&g, r.risk.user).await;
            let v = evolvable(&g, ward_risk::risky_user_json(&user_label(r.risk.user, &user), &r.risk, deleted));
            if matches(&v, &filter) {
                value.push(v);
            }
            if value.len() == top as usize || scanned >= SCAN {
                more = after;
                break 'pages;
            }
        }
        if !full {
            break;
        }
    }
    page(&g, "identityProtection/riskyUsers", "riskyUsers", value, top, more, filter_text(query.as_deref()).as_deref())
}

async fn get_risky_user(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::ReadRiskyUsers).await);
    let id = attempt!(g.parse_id(&id));
    let (stored, version) = attempt!(g.state.directory.user_risk(g.tenant(), id).await.map_err(|e| g.fail(&e)));
    if version.is_none() {
        return g.not_found(&id.to_string());
    }
    let (user, deleted) = label(&g, id).await;
    let Value::Object(v) = evolvable(&g, ward_risk::risky_user_json(&user_label(id, &user), &stored.risk, deleted)) else {
        return g.not_found(&id.to_string());
    };
    g.entity("identityProtection/riskyUsers", v, axum::http::StatusCode::OK)
}

async fn history(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::ReadRiskyUsers).await);
    let id = attempt!(g.parse_id(&id));
    let (stored, version) = attempt!(g.state.directory.user_risk(g.tenant(), id).await.map_err(|e| g.fail(&e)));
    if version.is_none() {
        return g.not_found(&id.to_string());
    }
    let (user, deleted) = label(&g, id).await;
    let label = user_label(id, &user);
    // A history item's id: the user's and its place in the history (Graph's ids are opaque).
    let value: Vec<Value> = stored
        .history
        .iter()
        .enumerate()
        .map(|(i, item)| evolvable(&g, ward_risk::history_item_json(&format!("{id}{i:04}"), &label, item, deleted)))
        .collect();
    Json(json!({ "@odata.context": g.context("identityProtection/riskyUsers/history"), "value": value })).into_response()
}

/// `{"userIds": [...]}`: every id a user of this tenant.
fn user_ids(g: &Graph, body: &[u8]) -> Result<Vec<ObjectId>, Response> {
    let b = g.object(body)?;
    let Some(Value::Array(ids)) = b.get("userIds") else { return Err(g.bad("The body must have userIds, a list of user ids.")) };
    if ids.is_empty() || ids.len() > ward_directory::risk::MAX_USERS_PER_ACTION {
        return Err(g.bad(&format!("userIds must name 1 to {} users.", ward_directory::risk::MAX_USERS_PER_ACTION)));
    }
    ids.iter().map(|v| v.as_str().ok_or_else(|| g.bad("userIds must be strings.")).and_then(|s| g.parse_id(s))).collect()
}

async fn act(g: Graph, body: Bytes, activity: Activity, confirm: bool) -> Response {
    attempt!(g.require(Op::WriteRiskyUsers).await);
    let ids = attempt!(user_ids(&g, &body));
    let by = g.caller.user.as_ref().map(|u| u.id);
    let tenant = g.tenant();
    // An application acting on its own reports what it detected: a partner's report.
    let partner = match &g.caller.user {
        Some(_) => None,
        None => Some(match g.state.directory.service_principal_by_app_id(tenant, g.caller.app_id).await {
            Ok(sp) => sp.display_name,
            Err(_) => g.caller.app_id.to_string(),
        }),
    };
    let directory = g.state.directory.clone();
    let work = async move {
        if confirm {
            directory.confirm_compromised(tenant, &ids, by, partner.as_deref()).await
        } else {
            directory.dismiss_risk(tenant, &ids, by).await
        }
    };
    match g.write(activity, None, work).await {
        Ok(()) => no_content(),
        Err(r) => r,
    }
}

async fn confirm_compromised(g: Graph, body: Bytes) -> Response {
    act(g, body, Activity("IdentityProtection", "Confirm user compromised", "Update"), true).await
}

async fn dismiss(g: Graph, body: Bytes) -> Response {
    act(g, body, Activity("IdentityProtection", "Dismiss user risk", "Update"), false).await
}

async fn list_detections(g: Graph, RawQuery(query): RawQuery) -> Response {
    attempt!(g.require(Op::ReadRiskDetections).await);
    let (top, after, _) = attempt!(paging(&g, query.as_deref(), false));
    let found = attempt!(g.state.directory.risk_detections(g.tenant(), after, top).await.map_err(|e| g.fail(&e)));
    let mut value = Vec::with_capacity(found.len());
    for d in &found {
        let (user, _) = label(&g, d.detection.user).await;
        value.push(evolvable(&g, ward_risk::risk_detection_json(&d.id.to_string(), &user_label(d.detection.user, &user), &d.detection)));
    }
    let more = found.last().map(|d| d.id).filter(|_| found.len() == top as usize);
    page(&g, "identityProtection/riskDetections", "riskDetections", value, top, more, None)
}

async fn get_detection(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::ReadRiskDetections).await);
    let id = attempt!(g.parse_id(&id));
    let d = match g.state.directory.risk_detection(g.tenant(), id).await {
        Ok(d) => d,
        Err(DirectoryError::NotFound { .. }) => return g.not_found(&id.to_string()),
        Err(e) => return g.fail(&e),
    };
    let (user, _) = label(&g, d.detection.user).await;
    let Value::Object(v) =
        evolvable(&g, ward_risk::risk_detection_json(&id.to_string(), &user_label(d.detection.user, &user), &d.detection))
    else {
        return g.not_found(&id.to_string());
    };
    g.entity("identityProtection/riskDetections", v, axum::http::StatusCode::OK)
}
