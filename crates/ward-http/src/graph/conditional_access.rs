//! `/identity/conditionalAccess/policies` and `/namedLocations` in Graph's shapes (entra-apis.md
//! §2): create, list, read, update (a PATCH merges into the stored policy, and the whole result
//! is checked), delete. Writes are audited in the same transaction.

use super::{Activity, Graph, attempt, no_content};
use crate::graph_authz::Op;
use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

pub fn routes() -> Router<crate::AppState> {
    Router::new()
        .route("/v1.0/identity/conditionalAccess/policies", get(list_policies).post(create_policy))
        .route("/v1.0/identity/conditionalAccess/policies/{id}", get(get_policy).patch(patch_policy).delete(delete_policy))
        .route("/v1.0/identity/conditionalAccess/namedLocations", get(list_locations).post(create_location))
        .route("/v1.0/identity/conditionalAccess/namedLocations/{id}", get(get_location).patch(patch_location).delete(delete_location))
        .route("/v1.0/identity/conditionalAccess/evaluate", axum::routing::post(evaluate))
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

/// `Prefer: ward.allow-lockout`: create or enable a policy even though it would lock out the
/// caller or every Global Administrator.
fn forced(headers: &HeaderMap) -> bool {
    super::prefers(headers, "ward.allow-lockout")
}

/// Refuses a policy that would lock out the caller or every Global Administrator (unless forced).
async fn no_lockout(
    directory: &ward_directory::Directory,
    tenant: ward_core::TenantId,
    policy: &ward_policy::Policy,
    replacing: Option<ward_core::ObjectId>,
    (caller, ip, force): (Option<ward_core::ObjectId>, Option<std::net::IpAddr>, bool),
) -> Result<(), ward_core::DirectoryError> {
    if force {
        return Ok(());
    }
    match directory
        .lockout(
            tenant,
            ward_directory::policies::Change::Policy { policy, replacing },
            caller,
            ip.map(|i| (i, ward_auth::access::country_of(i))),
        )
        .await?
    {
        None => Ok(()),
        Some(who) => Err(ward_core::DirectoryError::invalid(
            "state",
            format!(
                "enabled, this policy would block {who} from Ward's API from this address: exclude an administrator or an emergency-access account, or send 'Prefer: ward.allow-lockout' to go ahead"
            ),
        )),
    }
}

async fn create_policy(g: Graph, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    attempt!(g.require(Op::WriteConditionalAccess).await);
    let body = Value::Object(attempt!(g.object(&body)));
    let directory = g.state.directory.clone();
    let tenant = g.tenant();
    let who = (g.caller.user.as_ref().map(|u| u.id), g.ip, forced(&headers));
    let work = async move {
        let policy = directory.check_ca_policy(tenant, None, &body).await?;
        no_lockout(&directory, tenant, &policy, None, who).await?;
        directory.create_ca_policy(tenant, policy).await
    };
    let created = attempt!(g.write(Activity("Policy", "Add conditional access policy", "Add"), None, work).await);
    g.entity(POLICIES, object(ward_policy::policy_json(&created)), StatusCode::CREATED)
}

async fn patch_policy(g: Graph, Path(id): Path<String>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    attempt!(g.require(Op::WriteConditionalAccess).await);
    let oid = attempt!(g.parse_id(&id));
    let body = Value::Object(attempt!(g.object(&body)));
    let directory = g.state.directory.clone();
    let tenant = g.tenant();
    let who = (g.caller.user.as_ref().map(|u| u.id), g.ip, forced(&headers));
    let work = async move {
        let policy = directory.check_ca_policy(tenant, Some(oid), &body).await?;
        no_lockout(&directory, tenant, &policy, Some(oid), who).await?;
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

async fn create_location(g: Graph, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    attempt!(g.require(Op::WriteConditionalAccess).await);
    let body = Value::Object(attempt!(g.object(&body)));
    let directory = g.state.directory.clone();
    let tenant = g.tenant();
    let (caller, ip, force) = (g.caller.user.as_ref().map(|u| u.id), g.ip, forced(&headers));
    let work = async move {
        // A new trusted location joins `AllTrusted` in every policy naming it: guarded too.
        if !force && let Ok(new) = ward_policy::parse_location(&body) {
            let from = ip.map(|i| (i, ward_auth::access::country_of(i)));
            if let Some(who) = directory.lockout(tenant, ward_directory::policies::Change::Location(&new), caller, from).await? {
                return Err(ward_core::DirectoryError::invalid(
                    "isTrusted",
                    format!(
                        "this location would let the policies block {who} from Ward's API from this address; send 'Prefer: ward.allow-lockout' to go ahead"
                    ),
                ));
            }
        }
        directory.create_named_location(tenant, &body).await
    };
    let created = attempt!(g.write(Activity("Policy", "Add named location", "Add"), None, work).await);
    g.entity(LOCATIONS, object(ward_policy::location_json(&created)), StatusCode::CREATED)
}

async fn patch_location(g: Graph, Path(id): Path<String>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    attempt!(g.require(Op::WriteConditionalAccess).await);
    let oid = attempt!(g.parse_id(&id));
    let body = Value::Object(attempt!(g.object(&body)));
    let directory = g.state.directory.clone();
    let tenant = g.tenant();
    let (caller, ip, force) = (g.caller.user.as_ref().map(|u| u.id), g.ip, forced(&headers));
    let work = async move {
        let checked = directory.check_named_location(tenant, oid, &body).await?;
        // Changing a location changes every policy that names it: the same lockout guard.
        let from = ip.map(|i| (i, ward_auth::access::country_of(i)));
        if !force && let Some(who) = directory.lockout(tenant, ward_directory::policies::Change::Location(&checked.0), caller, from).await?
        {
            return Err(ward_core::DirectoryError::invalid(
                "ipRanges",
                format!(
                    "changed so, this location would let the policies block {who} from Ward's API from this address; send 'Prefer: ward.allow-lockout' to go ahead"
                ),
            ));
        }
        directory.update_named_location(tenant, checked).await
    };
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

/// Reads Graph's `evaluate` body (entra-apis.md §2.8) into a what-if sign-in.
fn what_if(body: &serde_json::Map<String, Value>) -> Result<(ward_directory::WhatIf, bool), String> {
    use ward_directory::{WhatIf, WhatIfSubject};
    let known = ["signInIdentity", "signInContext", "signInConditions", "appliedPoliciesOnly"];
    if let Some(k) = body.keys().find(|k| !known.contains(&k.as_str()) && !k.starts_with('@')) {
        return Err(format!("Property '{}' is not part of an evaluate request.", ward_core::validate::clip(k)));
    }
    let kind = |v: &Value| v.get("@odata.type").and_then(Value::as_str).map(|t| t.trim_start_matches("#microsoft.graph.").to_string());
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let identity = body.get("signInIdentity").ok_or("signInIdentity is required.")?;
    let subject = match kind(identity).as_deref() {
        Some("userSignIn") => WhatIfSubject::User(text(identity, "userId").ok_or("signInIdentity.userId is required.")?),
        Some("servicePrincipalSignIn") => WhatIfSubject::ServicePrincipal(
            text(identity, "servicePrincipalId")
                .and_then(|s| s.parse().ok())
                .ok_or("signInIdentity.servicePrincipalId must be an object id.")?,
        ),
        _ => return Err("signInIdentity must be a #microsoft.graph.userSignIn or #microsoft.graph.servicePrincipalSignIn.".into()),
    };
    let context = body.get("signInContext").ok_or("signInContext is required.")?;
    let (applications, user_action) = match kind(context).as_deref() {
        Some("applicationContext") => {
            let apps =
                context.get("includeApplications").and_then(Value::as_array).ok_or("signInContext.includeApplications is required.")?;
            let apps: Option<Vec<String>> = apps.iter().map(|a| a.as_str().map(str::to_string)).collect();
            (apps.ok_or("includeApplications must be a list of appIds.")?, None)
        }
        Some("userActionContext") => {
            let action = match text(context, "userAction").as_deref() {
                Some("registerSecurityInformation") => "urn:user:registersecurityinfo",
                Some("registerOrJoinDevices") => "urn:user:registerdevice",
                _ => return Err("userAction must be registerSecurityInformation or registerOrJoinDevices.".into()),
            };
            (Vec::new(), Some(action.to_string()))
        }
        _ => return Err("signInContext must be a #microsoft.graph.applicationContext or #microsoft.graph.userActionContext.".into()),
    };
    let conditions = body.get("signInConditions").cloned().unwrap_or(Value::Null);
    let enumerated = |k: &str| -> Result<Option<Value>, String> {
        match conditions.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v @ Value::String(_)) => Ok(Some(v.clone())),
            Some(_) => Err(format!("signInConditions.{k} must be a string.")),
        }
    };
    let parse = |k: &str, what: &str| -> Result<Option<Value>, String> { enumerated(k).map_err(|e| format!("{e} ({what})")) };
    macro_rules! level {
        ($k:expr) => {
            match parse($k, "a risk level")? {
                None => None,
                Some(v) => Some(
                    serde_json::from_value::<ward_policy::RiskLevel>(v)
                        .map_err(|_| format!("signInConditions.{} is not a risk level.", $k))?,
                ),
            }
        };
    }
    let platform = match parse("devicePlatform", "a platform")? {
        None => None,
        Some(v) => {
            Some(serde_json::from_value::<ward_policy::Platform>(v).map_err(|_| "signInConditions.devicePlatform is not a platform.")?)
        }
    };
    let client_app_type = match parse("clientAppType", "a client app type")? {
        None => None,
        Some(v) => Some(
            serde_json::from_value::<ward_policy::ClientAppType>(v)
                .map_err(|_| "signInConditions.clientAppType is not a client app type.")?,
        ),
    };
    let ip = match text(&conditions, "ipAddress") {
        None => None,
        Some(s) => Some(s.parse().map_err(|_| "signInConditions.ipAddress is not an IP address.")?),
    };
    // The country given, else the one the address was delegated to.
    let country = text(&conditions, "country")
        .map(|c| c.to_ascii_uppercase())
        .or_else(|| ip.and_then(ward_auth::access::country_of).map(str::to_string));
    let device = match conditions.get("deviceInfo") {
        None | Some(Value::Null) => None,
        Some(d) => Some(Some(ward_policy::device_attributes(d))),
    };
    let device_code_flow = conditions
        .get("authenticationFlow")
        .and_then(|f| f.get("transferMethod"))
        .and_then(Value::as_str)
        .map(|t| t.contains("deviceCodeFlow"));
    let input = WhatIf {
        subject,
        applications,
        user_action,
        client_app_type,
        platform,
        ip,
        country,
        sign_in_risk: level!("signInRiskLevel"),
        user_risk: level!("userRiskLevel"),
        service_principal_risk: level!("servicePrincipalRiskLevel"),
        device,
        device_code_flow,
        amr: Vec::new(),
    };
    let applied_only = body.get("appliedPoliciesOnly").and_then(Value::as_bool).unwrap_or(false);
    Ok((input, applied_only))
}

/// `POST /identity/conditionalAccess/evaluate` (What If): every policy (or only those that would
/// apply) with `policyApplies` and `analysisReasons`.
async fn evaluate(g: Graph, body: axum::body::Bytes) -> Response {
    attempt!(g.require(Op::ReadConditionalAccess).await);
    let body = attempt!(g.object(&body));
    let (input, applied_only) = match what_if(&body) {
        Ok(v) => v,
        Err(e) => return g.bad(&e),
    };
    let (policies, evaluation) = attempt!(g.state.directory.what_if(g.tenant(), &input).await.map_err(|e| g.fail(&e)));
    let value: Vec<Value> = evaluation
        .policies
        .iter()
        .filter(|o| !applied_only || o.applies)
        .map(|o| {
            let mut v = ward_policy::policy_json(&policies[o.index]);
            v["policyApplies"] = json!(o.applies);
            v["analysisReasons"] = json!(o.reasons.graph());
            v
        })
        .collect();
    Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.whatIfAnalysisResult)",
        "value": value,
    }))
    .into_response()
}
