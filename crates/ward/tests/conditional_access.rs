//! Conditional access through Graph against the real binary: policies and named locations in
//! Graph's exact shapes (what a GET returns goes back in), refusals with 400, permissions, the
//! audit log, and a thousand policies in one tenant.

mod common;
use common::signin::*;
use common::*;
use serde_json::{Value, json};

struct Api {
    s: Setup,
    token: String,
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        call(&self.s, &self.token, method, path, body).await
    }
}

async fn call(s: &Setup, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = http().request(method.parse().unwrap(), format!("{}{path}", s.base())).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
}

async fn api(permission: &str) -> Api {
    let s = setup();
    s.grant_web(permission);
    let token = s.web_app_token().await;
    Api { s, token }
}

const POLICIES: &str = "/v1.0/identity/conditionalAccess/policies";
const LOCATIONS: &str = "/v1.0/identity/conditionalAccess/namedLocations";

fn hq() -> Value {
    json!({
        "@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "HQ egress", "isTrusted": true,
        "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"},
                     {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "2001:db8::/48"}]
    })
}

fn mfa_off_network(location: &str) -> Value {
    json!({
        "id": "0a31b9ab-be62-4f1b-b4a7-523940eb9f54", "templateId": null, "displayName": "Require MFA off-network", "description": null,
        "createdDateTime": "2025-05-15T14:11:02.0356168Z", "modifiedDateTime": null, "state": "enabledForReportingButNotEnforced",
        "conditions": {
            "userRiskLevels": [], "signInRiskLevels": ["high", "medium"], "servicePrincipalRiskLevels": [], "insiderRiskLevels": null,
            "clientAppTypes": ["all"], "platforms": {"includePlatforms": ["all"], "excludePlatforms": ["iOS"]},
            "locations": {"includeLocations": ["All"], "excludeLocations": ["AllTrusted", location]},
            "devices": {"deviceFilter": {"mode": "exclude", "rule": "device.extensionAttribute1 -eq \"SAW\""}},
            "clientApplications": null, "authenticationFlows": null,
            "applications": {"includeApplications": ["All"], "excludeApplications": [], "includeUserActions": [],
                             "includeAuthenticationContextClassReferences": [], "applicationFilter": null},
            "users": {"includeUsers": ["All"], "excludeUsers": [], "includeGroups": [], "excludeGroups": [],
                      "includeRoles": ["62e90394-69f5-4237-9190-012177145e10"], "excludeRoles": [],
                      "includeGuestsOrExternalUsers": null, "excludeGuestsOrExternalUsers": null}
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"], "customAuthenticationFactors": [], "termsOfUse": [],
                          "authenticationStrength@odata.context": "https://graph.microsoft.com/v1.0/$metadata#identity/conditionalAccess/policies('0a31b9ab')/grantControls/authenticationStrength/$entity",
                          "authenticationStrength": null},
        "sessionControls": {"signInFrequency": {"isEnabled": true, "type": "hours", "value": 4, "authenticationType": "primaryAndSecondaryAuthentication", "frequencyInterval": "timeBased"},
                            "persistentBrowser": null, "applicationEnforcedRestrictions": null, "cloudAppSecurity": null, "disableResilienceDefaults": null}
    })
}

/// What a client would compare after a round trip: the policy without the properties the
/// server sets.
fn content(v: &Value) -> Value {
    let mut v = v.clone();
    for k in ["id", "createdDateTime", "modifiedDateTime", "templateId", "@odata.context"] {
        v.as_object_mut().unwrap().remove(k);
    }
    v["grantControls"].as_object_mut().unwrap().retain(|k, _| !k.contains('@'));
    v
}

#[tokio::test]
async fn policies_and_named_locations_round_trip_in_graphs_shapes() {
    let a = api("Policy.ReadWrite.ConditionalAccess").await;
    let (status, location) = a.call("POST", LOCATIONS, Some(hq())).await;
    assert_eq!(status, 201, "{location}");
    let lid = location["id"].as_str().unwrap().to_string();
    assert_eq!(location["@odata.type"], "#microsoft.graph.ipNamedLocation");
    assert_eq!(location["ipRanges"][1]["cidrAddress"], "2001:db8::/48");
    assert!(location["createdDateTime"].is_string() && location["modifiedDateTime"].is_null());

    // A policy as a GET elsewhere returned it, annotations, read-only properties and all.
    let sent = mfa_off_network(&lid);
    let (status, created) = a.call("POST", POLICIES, Some(sent.clone())).await;
    assert_eq!(status, 201, "{created}");
    let pid = created["id"].as_str().unwrap().to_string();
    assert_ne!(pid, "0a31b9ab-be62-4f1b-b4a7-523940eb9f54", "the id is the server's");
    assert_ne!(created["createdDateTime"], sent["createdDateTime"]);
    assert_eq!(content(&created), content(&sent), "what went in comes out");
    let (status, read) = a.call("GET", &format!("{POLICIES}/{pid}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(content(&read), content(&sent));
    assert!(read["@odata.context"].as_str().unwrap().ends_with("identity/conditionalAccess/policies/$entity"));
    // And what this GET returned goes back in as is.
    let (status, again) = a.call("POST", POLICIES, Some(read.clone())).await;
    assert_eq!(status, 201, "{again}");

    // PATCH merges: the state and one condition change, the rest stays; read-only stays.
    let patch = json!({"state": "enabled", "id": "00000000-0000-0000-0000-000000000001", "conditions": {"signInRiskLevels": ["high"]}});
    let (status, _) = a.call("PATCH", &format!("{POLICIES}/{pid}"), Some(patch)).await;
    assert_eq!(status, 204);
    let (_, patched) = a.call("GET", &format!("{POLICIES}/{pid}"), None).await;
    assert_eq!(patched["id"], pid.as_str());
    assert_eq!(patched["state"], "enabled");
    assert_eq!(patched["conditions"]["signInRiskLevels"], json!(["high"]));
    assert_eq!(patched["conditions"]["platforms"], sent["conditions"]["platforms"]);
    assert_eq!(patched["createdDateTime"], created["createdDateTime"]);
    assert!(patched["modifiedDateTime"].is_string());
    // A PATCH that would make the policy invalid changes nothing.
    let (status, e) = a
        .call(
            "PATCH",
            &format!("{POLICIES}/{pid}"),
            Some(json!({"grantControls": {"operator": "OR", "builtInControls": ["block", "mfa"]}})),
        )
        .await;
    assert_eq!(status, 400, "{e}");
    let (_, unchanged) = a.call("GET", &format!("{POLICIES}/{pid}"), None).await;
    assert_eq!(unchanged["grantControls"]["builtInControls"], json!(["mfa"]));

    let (status, list) = a.call("GET", POLICIES, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["value"].as_array().unwrap().len(), 2);
    let (_, locations) = a.call("GET", LOCATIONS, None).await;
    assert_eq!(locations["value"][0]["id"], lid.as_str());

    // Named locations: PATCH needs its @odata.type; a used or trusted location stays.
    let (status, _) = a.call("PATCH", &format!("{LOCATIONS}/{lid}"), Some(json!({"displayName": "HQ"}))).await;
    assert_eq!(status, 400);
    let untrust = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "isTrusted": false});
    let (status, _) = a.call("PATCH", &format!("{LOCATIONS}/{lid}"), Some(untrust)).await;
    assert_eq!(status, 204);
    let (_, l) = a.call("GET", &format!("{LOCATIONS}/{lid}"), None).await;
    assert_eq!((l["isTrusted"].clone(), l["displayName"].clone()), (json!(false), json!("HQ egress")));
    let (status, e) = a.call("DELETE", &format!("{LOCATIONS}/{lid}"), None).await;
    assert_eq!(status, 400, "in use by the policies: {e}");
    for p in list["value"].as_array().unwrap() {
        let (status, _) = a.call("DELETE", &format!("{POLICIES}/{}", p["id"].as_str().unwrap()), None).await;
        assert_eq!(status, 204);
    }
    let (status, _) = a.call("GET", &format!("{POLICIES}/{pid}"), None).await;
    assert_eq!(status, 404);
    let (status, _) = a.call("DELETE", &format!("{LOCATIONS}/{lid}"), None).await;
    assert_eq!(status, 204);

    // Every write is in the audit log.
    a.s.grant_web("AuditLog.Read.All");
    let token = a.s.web_app_token().await;
    let log = a.s.get_json("/v1.0/auditLogs/directoryAudits", &token).await;
    let activities: Vec<&str> = log["value"].as_array().unwrap().iter().filter_map(|r| r["activityDisplayName"].as_str()).collect();
    for expected in [
        "Add named location",
        "Add conditional access policy",
        "Update conditional access policy",
        "Delete conditional access policy",
        "Delete named location",
    ] {
        assert!(activities.contains(&expected), "{expected} missing from {activities:?}");
    }
}

#[tokio::test]
async fn bad_policies_and_locations_get_400_and_permissions_are_checked() {
    let a = api("Policy.ReadWrite.ConditionalAccess").await;
    let good = || {
        json!({"displayName": "p", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}})
    };
    let mut cases = Vec::new();
    let mut v = good();
    v["state"] = json!("sometimes");
    cases.push(("unknown state", v));
    let mut v = good();
    v["grantControls"]["builtInControls"] = json!(["mfa", "unknownFutureValue"]);
    cases.push(("unknown control", v));
    let mut v = good();
    v["conditions"]["locations"] = json!({"includeLocations": ["11111111-2222-3333-4444-555555555555"]});
    cases.push(("no such location", v));
    let mut v = good();
    v["conditions"]["devices"] = json!({"deviceFilter": {"mode": "include", "rule": "device.trustType -eq \"Moon\""}});
    cases.push(("bad device rule", v));
    let mut v = good();
    v["unexpected"] = json!(1);
    cases.push(("unknown property", v));
    for (what, body) in cases {
        let (status, e) = a.call("POST", POLICIES, Some(body)).await;
        assert_eq!(status, 400, "{what}: {e}");
        assert!(e["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {e}");
    }
    let wide =
        json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "wide", "ipRanges": [{"cidrAddress": "10.0.0.0/8"}]});
    assert_eq!(a.call("POST", LOCATIONS, Some(wide)).await.0, 400);
    let (status, _) = a.call("GET", &format!("{POLICIES}/not-a-guid"), None).await;
    assert_eq!(status, 400);
    let (status, _) = a.call("GET", &format!("{POLICIES}/11111111-2222-3333-4444-555555555555"), None).await;
    assert_eq!(status, 404);
    // Nothing was written by the refusals.
    assert_eq!(a.call("GET", POLICIES, None).await.1["value"], json!([]));

    // Read-only permission: reads, no writes; no permission: neither.
    let reader = api("Policy.Read.All").await;
    assert_eq!(reader.call("GET", POLICIES, None).await.0, 200);
    assert_eq!(reader.call("POST", POLICIES, Some(good())).await.0, 403);
    assert_eq!(reader.call("POST", LOCATIONS, Some(hq())).await.0, 403);
    let nobody = api("User.Read.All").await;
    assert_eq!(nobody.call("GET", POLICIES, None).await.0, 403);
    assert_eq!(nobody.call("GET", LOCATIONS, None).await.0, 403);
}

/// Entra stops at 195 policies; Ward keeps and serves a thousand.
#[tokio::test]
async fn a_thousand_policies_in_one_tenant() {
    let a = api("Policy.ReadWrite.ConditionalAccess").await;
    let base = a.s.base();
    let token = a.token.clone();
    let bodies: Vec<Value> = (0..1000)
        .map(|i| json!({"displayName": format!("policy {i:04}"), "state": "enabledForReportingButNotEnforced",
            "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}, "signInRiskLevels": ["high"]},
            "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}}))
        .collect();
    let client = http();
    let mut created = 0;
    for chunk in bodies.chunks(25) {
        let mut sends = tokio::task::JoinSet::new();
        for b in chunk {
            sends.spawn(client.post(format!("{base}{POLICIES}")).bearer_auth(&token).json(b).send());
        }
        while let Some(r) = sends.join_next().await {
            assert_eq!(r.unwrap().unwrap().status().as_u16(), 201);
            created += 1;
        }
    }
    assert_eq!(created, 1000);
    let (status, list) = a.call("GET", POLICIES, None).await;
    assert_eq!(status, 200);
    let mut names: Vec<&str> = list["value"].as_array().unwrap().iter().map(|p| p["displayName"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names.len(), 1000);
    assert_eq!((names[0], names[999]), ("policy 0000", "policy 0999"));
}
