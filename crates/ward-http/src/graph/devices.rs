//! `/v1.0/devices`: the device registry conditional access reads (compliance, trust type,
//! extension attributes). Compliance is written only by a device management app (app-only,
//! `Device.ReadWrite.All`), and only by the one that manages the device.

use super::{Activity, Graph, attempt, no_content};
use crate::graph_authz::Op;
use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

pub fn routes() -> Router<crate::AppState> {
    Router::new().route("/v1.0/devices", get(list).post(create)).route("/v1.0/devices/{id}", get(one).patch(patch).delete(remove))
}

/// The device as Graph shows it: the registered key is not repeated.
fn view(mut d: Value) -> serde_json::Map<String, Value> {
    if let Some(ids) = d.get_mut("alternativeSecurityIds").and_then(Value::as_array_mut) {
        for id in ids {
            id["key"] = Value::Null;
        }
    }
    match d {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// The calling app, when it calls on its own (app-only): only such a caller manages devices.
fn manager(g: &Graph) -> Option<uuid::Uuid> {
    g.caller.user.is_none().then_some(g.caller.app_id)
}

/// `GET /devices`: pages of `$top` (1 to 999, 100 by default) in id order; `@odata.nextLink`
/// carries the last id as its `$skiptoken`.
async fn list(g: Graph, axum::extract::RawQuery(raw): axum::extract::RawQuery) -> Response {
    attempt!(g.require(Op::ReadDevices).await);
    let mut top: u32 = 100;
    let mut after = None;
    for (k, v) in serde_urlencoded::from_str::<Vec<(String, String)>>(raw.as_deref().unwrap_or("")).unwrap_or_default() {
        match k.as_str() {
            "$top" => match v.parse::<u32>() {
                Ok(n) if (1..=999).contains(&n) => top = n,
                _ => return g.bad("Invalid page size specified: must be between 1 and 999 inclusive."),
            },
            "$skiptoken" => after = Some(attempt!(g.parse_id(&v))),
            _ => return g.bad("Ward pages devices with $top and $skiptoken only."),
        }
    }
    let mut page = attempt!(g.state.directory.devices(g.tenant(), after, top + 1).await.map_err(|e| g.fail(&e)));
    let more = page.len() > top as usize;
    page.truncate(top as usize);
    let last = page.last().and_then(|d| d["id"].as_str()).map(str::to_string);
    let value: Vec<Value> = page.into_iter().map(|d| Value::Object(view(d))).collect();
    let mut body = json!({ "@odata.context": g.context("devices"), "value": value });
    if more && let Some(last) = last {
        body["@odata.nextLink"] = json!(format!("{}/v1.0/devices?$top={top}&$skiptoken={last}", g.state.public_url));
    }
    Json(body).into_response()
}

async fn one(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::ReadDevices).await);
    let oid = attempt!(g.parse_id(&id));
    let d = attempt!(g.state.directory.device(g.tenant(), oid).await.map_err(|e| g.fail(&e)));
    g.entity("devices", view(d), StatusCode::OK)
}

async fn create(g: Graph, body: axum::body::Bytes) -> Response {
    attempt!(g.require(Op::WriteDevices).await);
    let body = attempt!(g.object(&body));
    let work = g.state.directory.create_device(g.tenant(), &body, manager(&g));
    let created = attempt!(g.write(Activity("Device", "Add device", "Add"), None, work).await);
    g.entity("devices", view(created), StatusCode::CREATED)
}

async fn patch(g: Graph, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    attempt!(g.require(Op::WriteDevices).await);
    let oid = attempt!(g.parse_id(&id));
    let body = attempt!(g.object(&body));
    let work = g.state.directory.update_device(g.tenant(), oid, &body, manager(&g));
    attempt!(g.write(Activity("Device", "Update device", "Update"), Some(oid.to_string()), work).await);
    no_content()
}

async fn remove(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::WriteDevices).await);
    let oid = attempt!(g.parse_id(&id));
    let work = g.state.directory.delete_device(g.tenant(), oid, manager(&g));
    attempt!(g.write(Activity("Device", "Delete device", "Delete"), Some(oid.to_string()), work).await);
    no_content()
}
