//! `/identity/conditionalAccess/policies` and `/namedLocations` in Graph's shapes (entra-apis.md
//! §2): create, list, read, update (a PATCH merges into the stored policy, and the whole result
//! is checked), delete. Writes are audited in the same transaction.

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
    Router::new()
        .route("/v1.0/identity/conditionalAccess/policies", get(list_policies).post(create_policy))
        .route("/v1.0/identity/conditionalAccess/policies/{id}", get(get_policy).patch(patch_policy).delete(delete_policy))
        .route("/v1.0/identity/conditionalAccess/namedLocations", get(list_locations).post(create_location))
        .route("/v1.0/identity/conditionalAccess/namedLocations/{id}", get(get_location).patch(patch_location).delete(delete_location))
}

const POLICIES: &str = "identity/conditionalAccess/policies";
const LOCATIONS: &str = "identity/conditionalAccess/namedLocations";

fn object(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

async fn list_policies(g: Graph) -> Response {
    attempt!(g.require(Op::ReadConditionalAccess).await);
    let policies = attempt!(g.state.directory.ca_policies(g.tenant()).await.map_err(|e| g.fail(&e)));
    let value: Vec<Value> = policies.iter().map(ward_policy::policy_json).collect();
    Json(json!({ "@odata.context": g.context(POLICIES), "value": value })).into_response()
}

async fn get_policy(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::ReadConditionalAccess).await);
    let oid = attempt!(g.parse_id(&id));
    let policy = attempt!(g.state.directory.ca_policy(g.tenant(), oid).await.map_err(|e| g.fail(&e)));
    g.entity(POLICIES, object(ward_policy::policy_json(&policy)), StatusCode::OK)
}

async fn create_policy(g: Graph, body: axum::body::Bytes) -> Response {
    attempt!(g.require(Op::WriteConditionalAccess).await);
    let body = Value::Object(attempt!(g.object(&body)));
    let directory = g.state.directory.clone();
    let tenant = g.tenant();
    let work = async move {
        let policy = directory.check_ca_policy(tenant, None, &body).await?;
        directory.create_ca_policy(tenant, policy).await
    };
    let created = attempt!(g.write(Activity("Policy", "Add conditional access policy", "Add"), None, work).await);
    g.entity(POLICIES, object(ward_policy::policy_json(&created)), StatusCode::CREATED)
}

async fn patch_policy(g: Graph, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    attempt!(g.require(Op::WriteConditionalAccess).await);
    let oid = attempt!(g.parse_id(&id));
    let body = Value::Object(attempt!(g.object(&body)));
    let directory = g.state.directory.clone();
    let tenant = g.tenant();
    let work = async move {
        let policy = directory.check_ca_policy(tenant, Some(oid), &body).await?;
        directory.update_ca_policy(tenant, oid, policy).await
    };
    attempt!(g.write(Activity("Policy", "Update conditional access policy", "Update"), Some(oid.to_string()), work).await);
    no_content()
}

async fn delete_policy(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::WriteConditionalAccess).await);
    let oid = attempt!(g.parse_id(&id));
    let work = g.state.directory.delete_ca_policy(g.tenant(), oid);
    attempt!(g.write(Activity("Policy", "Delete conditional access policy", "Delete"), Some(oid.to_string()), work).await);
    no_content()
}

async fn list_locations(g: Graph) -> Response {
    attempt!(g.require(Op::ReadConditionalAccess).await);
    let locations = attempt!(g.state.directory.named_locations(g.tenant()).await.map_err(|e| g.fail(&e)));
    let value: Vec<Value> = locations.iter().map(ward_policy::location_json).collect();
    Json(json!({ "@odata.context": g.context(LOCATIONS), "value": value })).into_response()
}

async fn get_location(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::ReadConditionalAccess).await);
    let oid = attempt!(g.parse_id(&id));
    let location = attempt!(g.state.directory.named_location(g.tenant(), oid).await.map_err(|e| g.fail(&e)));
    g.entity(LOCATIONS, object(ward_policy::location_json(&location)), StatusCode::OK)
}

async fn create_location(g: Graph, body: axum::body::Bytes) -> Response {
    attempt!(g.require(Op::WriteConditionalAccess).await);
    let body = Value::Object(attempt!(g.object(&body)));
    let directory = g.state.directory.clone();
    let tenant = g.tenant();
    let work = async move { directory.create_named_location(tenant, &body).await };
    let created = attempt!(g.write(Activity("Policy", "Add named location", "Add"), None, work).await);
    g.entity(LOCATIONS, object(ward_policy::location_json(&created)), StatusCode::CREATED)
}

async fn patch_location(g: Graph, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    attempt!(g.require(Op::WriteConditionalAccess).await);
    let oid = attempt!(g.parse_id(&id));
    let body = Value::Object(attempt!(g.object(&body)));
    let directory = g.state.directory.clone();
    let tenant = g.tenant();
    let work = async move { directory.update_named_location(tenant, oid, &body).await };
    attempt!(g.write(Activity("Policy", "Update named location", "Update"), Some(oid.to_string()), work).await);
    no_content()
}

async fn delete_location(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::WriteConditionalAccess).await);
    let oid = attempt!(g.parse_id(&id));
    let work = g.state.directory.delete_named_location(g.tenant(), oid);
    attempt!(g.write(Activity("Policy", "Delete named location", "Delete"), Some(oid.to_string()), work).await);
    no_content()
}
