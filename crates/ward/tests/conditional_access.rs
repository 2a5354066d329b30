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

fn settings(s: &Setup, args: &[&str]) {
    ok(ward(s._dir.path()).args(["tenant", "set"]).args(args).args(["--data-dir", "data"]));
}

async fn id_claims(s: &Setup, code: &str) -> Value {
    let exchange = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", WEB_REDIRECT)];
    let (status, t) = s.token(&exchange, Some((&s.web, &s.web_secret))).await;
    assert_eq!(status, 200, "{t}");
    s.verify(t["id_token"].as_str().unwrap(), &s.web, "JWT").await
}

/// A policy requiring MFA for one app: with security defaults off, the password alone signs in to
/// another app; the same browser going to that app is asked for the authenticator code first, and
/// its tokens say so. A silent request cannot step up: `interaction_required`.
#[tokio::test]
async fn a_policy_requiring_mfa_for_one_app_steps_the_sign_in_up_to_the_authenticator_code() {
    let a = api("Policy.ReadWrite.ConditionalAccess").await;
    let s = &a.s;
    settings(s, &["--security-defaults", "false"]);
    let secret = s.enroll_authenticator(&mut Browser::new()).await;
    let policy = json!({"displayName": "MFA for the web portal", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": [s.web]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}});
    assert_eq!(a.call("POST", POLICIES, Some(policy)).await.0, 201);

    let mut b = Browser::new();
    let native = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid", true);
    let code = s.sign_in(&mut b, &native, NATIVE_REDIRECT).await;
    let (status, t) = s.redeem_native(&code).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(s.verify(t["id_token"].as_str().unwrap(), &s.native, "JWT").await["amr"], json!(["pwd"]), "no code asked for the other app");

    let web = s.authorize_url(&s.web, WEB_REDIRECT, "openid", false);
    let page = b.get(&web).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("autocomplete=\"one-time-code\""), "the code form: {}", page.body);
    let wrong = b.submit(&s.base(), &page, &[("code", "000000")]).await;
    assert_eq!(wrong.status, 401);
    let stepped = b.submit(&s.base(), &wrong, &[("code", &app_code(&secret, 1))]).await;
    assert_eq!(stepped.status, 303, "{}", stepped.body);
    let code = s.sign_in(&mut b, &web, WEB_REDIRECT).await;
    assert_eq!(id_claims(s, &code).await["amr"], json!(["pwd", "otp", "mfa"]));

    // Another browser's password-only session is asked again; silently (prompt=none, consent
    // given above) no page can be shown, so the app gets an error.
    let mut fresh = Browser::new();
    s.sign_in(&mut fresh, &native, NATIVE_REDIRECT).await;
    let silent = fresh.get(&format!("{web}&prompt=none")).await;
    let loc = silent.location.unwrap_or_default();
    assert!(loc.starts_with(WEB_REDIRECT) && loc.contains("error=interaction_required") && loc.contains("AADSTS50076"), "{loc}");
    let page = fresh.get(&web).await;
    assert!(page.body.contains("one-time-code"), "a new password-only session is asked again");
    // Signed out everywhere meanwhile: the step-up does not bring the session back.
    s.grant_web("User.ReadWrite.All");
    let writer = s.web_app_token().await;
    let (status, _) = call(s, &writer, "POST", &format!("/v1.0/users/{}/revokeSignInSessions", s.upn), None).await;
    assert_eq!(status, 200);
    let late = fresh.submit(&s.base(), &page, &[("code", &app_code(&secret, 2))]).await;
    assert_eq!(late.status, 400, "{}", late.body);
    assert!(!late.location.is_some_and(|l| l.contains("authorize")));
}

/// A named location blocks client credentials for one service principal; another app from the
/// same place, and the same app while the policy is report-only, get their tokens.
#[tokio::test]
async fn a_named_location_blocks_client_credentials_for_one_service_principal() {
    let a = api("Policy.ReadWrite.ConditionalAccess").await;
    let s = &a.s;
    let d = s._dir.path();
    let other = json(&ok(ward(d).args(["app", "create", "--json", "--name", "Other Daemon", "--data-dir", "data"])));
    let other_id = other["appId"].as_str().unwrap().to_string();
    let other_secret = json(&ok(ward(d).args(["app", "add-secret", &other_id, "--json", "--data-dir", "data"])))["secretText"]
        .as_str()
        .unwrap()
        .to_string();
    let sp = &s.web_sp;
    let loopback = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Loopback", "ipRanges": [{"cidrAddress": "127.0.0.0/24"}]});
    let (status, location) = a.call("POST", LOCATIONS, Some(loopback)).await;
    assert_eq!(status, 201, "{location}");
    let policy = json!({"displayName": "Daemon only from elsewhere", "state": "enabled",
        "conditions": {"clientApplications": {"includeServicePrincipals": [sp]}, "applications": {"includeApplications": ["All"]},
                       "locations": {"includeLocations": [location["id"]]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}});
    let (status, created) = a.call("POST", POLICIES, Some(policy)).await;
    assert_eq!(status, 201, "{created}");
    let form = [("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")];
    let (status, e) = s.token(&form, Some((&s.web, &s.web_secret))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    assert!(e["error_description"].as_str().unwrap().starts_with("AADSTS53003"), "{e}");
    let (status, t) = s.token(&form, Some((&other_id, &other_secret))).await;
    assert_eq!(status, 200, "another service principal: {t}");
    // Report-only: evaluated, not enforced.
    let pid = created["id"].as_str().unwrap();
    let (status, _) = a.call("PATCH", &format!("{POLICIES}/{pid}"), Some(json!({"state": "enabledForReportingButNotEnforced"}))).await;
    assert_eq!(status, 204);
    let (status, t) = s.token(&form, Some((&s.web, &s.web_secret))).await;
    assert_eq!(status, 200, "report-only blocks nothing: {t}");
}

/// A block for everyone: the browser gets Entra's page and code, a refresh token stops working,
/// report-only changes nothing, and the emergency-access account still signs in.
#[tokio::test]
async fn block_policies_stop_sign_ins_and_refreshes_but_not_the_emergency_account() {
    let a = api("Policy.ReadWrite.ConditionalAccess").await;
    let s = &a.s;
    let mut b = Browser::new();
    let web = s.authorize_url(&s.web, WEB_REDIRECT, "openid offline_access", false);
    let code = s.sign_in(&mut b, &web, WEB_REDIRECT).await;
    let exchange = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WEB_REDIRECT)];
    let (_, t) = s.token(&exchange, Some((&s.web, &s.web_secret))).await;
    let refresh = t["refresh_token"].as_str().unwrap().to_string();

    let block = |state: &str| {
        json!({"displayName": "Block everyone", "state": state,
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": [s.web]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}})
    };
    let (status, report_only) = a.call("POST", POLICIES, Some(block("enabledForReportingButNotEnforced"))).await;
    assert_eq!(status, 201);
    s.sign_in(&mut Browser::new(), &web, WEB_REDIRECT).await;
    let (status, t) = s.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)], Some((&s.web, &s.web_secret))).await;
    assert_eq!(status, 200, "report-only: {t}");
    let refresh = t["refresh_token"].as_str().unwrap().to_string();

    let rid = report_only["id"].as_str().unwrap();
    assert_eq!(a.call("PATCH", &format!("{POLICIES}/{rid}"), Some(json!({"state": "enabled"}))).await.0, 204);
    let page = b.get(&web).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("AADSTS53003"), "{}", page.body);
    let silent = b.get(&format!("{web}&prompt=none")).await;
    let loc = silent.location.unwrap_or_default();
    assert!(
        loc.starts_with(WEB_REDIRECT) && loc.contains("error=access_denied") && loc.contains("AADSTS53003"),
        "silently, the app hears it: {loc}"
    );
    let (status, e) = s.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)], Some((&s.web, &s.web_secret))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    assert!(e["error_description"].as_str().unwrap().starts_with("AADSTS53003"), "{e}");

    // The administrator made an emergency-access account: evaluated, never enforced.
    settings(s, &["--emergency-access-accounts", &s.admin.0]);
    let mut admin = Browser::new();
    let page = admin.get(&web).await;
    let page = admin.submit(&s.base(), &page, &[("username", &s.admin.0), ("password", &s.admin.1)]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let next = admin.get(&format!("{}{}", s.base(), page.location.unwrap())).await;
    assert_ne!(next.status, 403, "{}", next.body);
    assert!(s.server.wait_for_log("emergency-access account signing in").contains("conditional access not enforced"));
}

/// What-if through Graph's `evaluate` and `ward policy what-if`: per policy, whether it applies
/// and why not; what is not given is `notEnoughInformation`; bad input is a 400.
#[tokio::test]
async fn what_if_explains_each_policy_through_graph_and_the_cli() {
    let a = api("Policy.ReadWrite.ConditionalAccess").await;
    let s = &a.s;
    // The one administrator keeps access as an emergency account, so a block for everyone may be enabled.
    settings(s, &["--emergency-access-accounts", &s.admin.0]);
    let (_, hq) = a.call("POST", LOCATIONS, Some(hq())).await;
    let outside = json!({"displayName": "Block outside HQ", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]},
                       "locations": {"includeLocations": ["All"], "excludeLocations": [hq["id"]]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}});
    let admins = json!({"displayName": "MFA for administrators", "state": "enabledForReportingButNotEnforced",
        "conditions": {"users": {"includeRoles": ["62e90394-69f5-4237-9190-012177145e10"]}, "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}});
    let off = json!({"displayName": "Switched off", "state": "disabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}});
    for p in [outside, admins, off] {
        assert_eq!(a.call("POST", POLICIES, Some(p)).await.0, 201);
    }
    let ask = |user: &str, ip: Option<&str>, applied_only: bool| {
        let mut conditions = json!({"devicePlatform": "windows", "clientAppType": "browser"});
        if let Some(ip) = ip {
            conditions["ipAddress"] = json!(ip);
        }
        json!({"signInIdentity": {"@odata.type": "#microsoft.graph.userSignIn", "userId": user},
               "signInContext": {"@odata.type": "#microsoft.graph.applicationContext", "includeApplications": [s.native]},
               "signInConditions": conditions, "appliedPoliciesOnly": applied_only})
    };
    let by_name = |v: &Value| -> std::collections::HashMap<String, (bool, String)> {
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["displayName"].as_str().unwrap().to_string(),
                    (p["policyApplies"].as_bool().unwrap(), p["analysisReasons"].as_str().unwrap().to_string()),
                )
            })
            .collect()
    };
    const EVALUATE: &str = "/v1.0/identity/conditionalAccess/evaluate";
    let (status, inside) = a.call("POST", EVALUATE, Some(ask(&s.upn, Some("203.0.113.5"), false))).await;
    assert_eq!(status, 200, "{inside}");
    assert!(inside["@odata.context"].as_str().unwrap().ends_with("Collection(microsoft.graph.whatIfAnalysisResult)"));
    let r = by_name(&inside);
    assert_eq!(r["Block outside HQ"], (false, "location".to_string()));
    assert_eq!(r["MFA for administrators"], (false, "users".to_string()));
    assert_eq!(r["Switched off"], (false, "policyNotEnabled".to_string()));
    let (_, elsewhere) = a.call("POST", EVALUATE, Some(ask(&s.upn, Some("198.51.100.5"), false))).await;
    assert_eq!(by_name(&elsewhere)["Block outside HQ"], (true, "notSet".to_string()));
    assert!(elsewhere["value"][0].get("conditions").is_some(), "each result is the whole policy");
    let (_, unknown) = a.call("POST", EVALUATE, Some(ask(&s.upn, None, false))).await;
    assert_eq!(by_name(&unknown)["Block outside HQ"], (false, "notEnoughInformation".to_string()));
    let (_, applied) = a.call("POST", EVALUATE, Some(ask(&s.admin.0, Some("198.51.100.5"), true))).await;
    let mut names: Vec<String> = by_name(&applied).into_keys().collect();
    names.sort();
    assert_eq!(names, ["Block outside HQ", "MFA for administrators"], "only what applies, the administrator's role included");

    let mut bad = ask(&s.upn, None, false);
    bad["signInConditions"]["devicePlatform"] = json!("amiga");
    assert_eq!(a.call("POST", EVALUATE, Some(bad)).await.0, 400);
    let mut bad = ask(&s.upn, None, false);
    bad.as_object_mut().unwrap().remove("signInIdentity");
    assert_eq!(a.call("POST", EVALUATE, Some(bad)).await.0, 400);
    let mut bad = ask(&s.upn, None, false);
    bad["signInConditions"]["ipAddress"] = json!("300.1.1.1");
    assert_eq!(a.call("POST", EVALUATE, Some(bad)).await.0, 400);
    assert_eq!(a.call("POST", EVALUATE, Some(ask("nobody@defaultdirectory.ward.local", None, false))).await.0, 404);
    let reader = api("User.Read.All").await;
    assert_eq!(reader.call("POST", EVALUATE, Some(ask(&reader.s.upn, None, false))).await.0, 403);

    // The same from the command line, beside the running server.
    let d = s._dir.path();
    let out =
        ok(ward(d).args(["policy", "what-if", "--user", &s.admin.0, "--app", &s.native, "--ip", "198.51.100.5", "--data-dir", "data"]));
    assert!(out.contains("failure") && out.contains("Block outside HQ") && out.contains("applies; not met: [\"block\"]"), "{out}");
    assert!(out.contains("reportOnlyInterrupted") && out.contains("MFA for administrators"), "{out}");
    assert!(out.trim_end().ends_with("outcome: block"), "{out}");
    let out = json(&ok(ward(d).args([
        "policy",
        "what-if",
        "--user",
        &s.upn,
        "--app",
        &s.native,
        "--ip",
        "203.0.113.9",
        "--json",
        "--data-dir",
        "data",
    ])));
    assert_eq!(out["outcome"], "allow");
    let bad = run(ward(d).args(["policy", "what-if", "--user", &s.upn, "--app", &s.native, "--platform", "amiga", "--data-dir", "data"]));
    assert!(!bad.status.success() && stderr(&bad).contains("--platform: 'amiga'"), "{}", stderr(&bad));
    let unknown = "0a0a0a0a-0000-4000-8000-000000000000";
    let bad = run(ward(d).args(["policy", "what-if", "--user", &s.upn, "--app", &s.native, "--device", unknown, "--data-dir", "data"]));
    assert!(!bad.status.success() && stderr(&bad).contains("no device with deviceId"), "{}", stderr(&bad));
    // Policies from a file: what Graph refuses, the command line refuses too.
    std::fs::write(d.join("broken.json"), "{ not json").unwrap();
    let bad = run(ward(d).args(["policy", "create", "--file", "broken.json", "--data-dir", "data"]));
    assert!(!bad.status.success() && stderr(&bad).contains("is not JSON"), "{}", stderr(&bad));
    std::fs::write(d.join("odd.json"), r#"{"displayName": "x", "state": "sometimes", "conditions": {}}"#).unwrap();
    let bad = run(ward(d).args(["policy", "create", "--file", "odd.json", "--data-dir", "data"]));
    assert!(!bad.status.success() && stderr(&bad).contains("unknown variant `sometimes`"), "{}", stderr(&bad));
    let listed = ok(ward(d).args(["policy", "list", "--data-dir", "data"]));
    assert_eq!(listed.lines().count(), 3, "nothing was added: {listed}");
}

/// A policy that would lock out every Global Administrator, or the administrator creating it, is
/// refused unless forced; an emergency-access account keeps the door open.
#[tokio::test]
async fn policies_that_would_lock_administrators_out_are_refused_unless_forced() {
    let a = api("Policy.ReadWrite.ConditionalAccess").await;
    let s = &a.s;
    let d = s._dir.path();
    let block_all = |state: &str| {
        json!({"displayName": "Block everything", "state": state,
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}})
    };
    let (status, e) = a.call("POST", POLICIES, Some(block_all("enabled"))).await;
    assert_eq!(status, 400, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("every Global Administrator"), "{e}");
    // Report-only and disabled policies lock nobody out; enabling one later is checked too.
    let (status, report) = a.call("POST", POLICIES, Some(block_all("enabledForReportingButNotEnforced"))).await;
    assert_eq!(status, 201, "{report}");
    let rid = report["id"].as_str().unwrap().to_string();
    let (status, _) = a.call("PATCH", &format!("{POLICIES}/{rid}"), Some(json!({"state": "enabled"}))).await;
    assert_eq!(status, 400);
    // Forced, it goes through.
    let forced = http()
        .patch(format!("{}{POLICIES}/{rid}", s.base()))
        .bearer_auth(&a.token)
        .header("Prefer", "return=minimal, ward.allow-lockout")
        .json(&json!({"state": "enabled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(forced.status(), 204);
    assert_eq!(a.call("DELETE", &format!("{POLICIES}/{rid}"), None).await.0, 204);
    // Changing a named location changes the policies naming it: guarded the same way.
    let here =
        json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Here", "ipRanges": [{"cidrAddress": "127.0.0.0/24"}]});
    let (_, here) = a.call("POST", LOCATIONS, Some(here)).await;
    let lid = here["id"].as_str().unwrap().to_string();
    let mut outside = block_all("enabled");
    outside["conditions"]["locations"] = json!({"includeLocations": ["All"], "excludeLocations": [lid]});
    let (status, kept_here) = a.call("POST", POLICIES, Some(outside)).await;
    assert_eq!(status, 201, "from here nobody is blocked: {kept_here}");
    let elsewhere = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "ipRanges": [{"cidrAddress": "203.0.113.0/24"}]});
    let (status, e) = a.call("PATCH", &format!("{LOCATIONS}/{lid}"), Some(elsewhere)).await;
    assert_eq!(status, 400, "moving the exception away would lock everyone out: {e}");
    assert_eq!(a.call("DELETE", &format!("{POLICIES}/{}", kept_here["id"].as_str().unwrap()), None).await.0, 204);
    // An emergency-access account that is a Global Administrator keeps the tenant reachable.
    settings(s, &["--emergency-access-accounts", &s.admin.0]);
    let (status, kept) = a.call("POST", POLICIES, Some(block_all("enabled"))).await;
    assert_eq!(status, 201, "{kept}");
    assert_eq!(a.call("DELETE", &format!("{POLICIES}/{}", kept["id"].as_str().unwrap()), None).await.0, 204);

    // A Conditional Access Administrator (delegated) may not lock themselves out, even when
    // other administrators keep access.
    ok(ward(d).args(["app", "consent", &s.native, "--scope", "openid Policy.ReadWrite.ConditionalAccess", "--data-dir", "data"]));
    ok(ward(d).args(["role", "assign", "Conditional Access Administrator", &s.upn, "--data-dir", "data"]));
    let mut b = Browser::new();
    let authorize =
        s.authorize_url(&s.native, NATIVE_REDIRECT, "openid https://graph.microsoft.com/Policy.ReadWrite.ConditionalAccess", true);
    let code = s.sign_in(&mut b, &authorize, NATIVE_REDIRECT).await;
    let (status, t) = s.redeem_native(&code).await;
    assert_eq!(status, 200, "{t}");
    let megan = t["access_token"].as_str().unwrap().to_string();
    let mut me_only = block_all("enabled");
    me_only["conditions"]["users"] = json!({"includeUsers": ["All"], "excludeUsers": [json(&ok(ward(d).args(["user", "show", &s.admin.0, "--json", "--data-dir", "data"])))["id"]]});
    let (status, e) = call(s, &megan, "POST", POLICIES, Some(me_only.clone())).await;
    assert_eq!(status, 400, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("block you"), "{e}");
    let mut exempt = block_all("enabled");
    let megan_id = json(&ok(ward(d).args(["user", "show", &s.upn, "--json", "--data-dir", "data"])))["id"].clone();
    exempt["conditions"]["users"] = json!({"includeUsers": ["All"], "excludeUsers": [megan_id]});
    let (status, e) = call(s, &megan, "POST", POLICIES, Some(exempt)).await;
    assert_eq!(status, 201, "excluding themselves, and the emergency account keeps the others' door open: {e}");
}

/// Every attempt is in the sign-in log: a wrong password, a success with a report-only policy's
/// result beside it, a block; with Graph's filters and paging.
#[tokio::test]
async fn the_sign_in_log_records_every_attempt_with_the_policies_applied() {
    let a = api("Policy.ReadWrite.ConditionalAccess").await;
    let s = &a.s;
    s.grant_web("AuditLog.Read.All");
    let reader = s.web_app_token().await;
    let report_only = json!({"displayName": "Would block the portal", "state": "enabledForReportingButNotEnforced",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": [s.web]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}});
    let (_, policy) = a.call("POST", POLICIES, Some(report_only)).await;
    let pid = policy["id"].as_str().unwrap().to_string();

    let web = s.authorize_url(&s.web, WEB_REDIRECT, "openid", false);
    let mut b = Browser::new();
    let page = b.get(&web).await;
    let wrong = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", "not-the-password")]).await;
    assert_eq!(wrong.status, 401);
    s.sign_in(&mut b, &web, WEB_REDIRECT).await;
    let (status, log) = call(s, &reader, "GET", "/v1.0/auditLogs/signIns", None).await;
    assert_eq!(status, 200, "{log}");
    let records = log["value"].as_array().unwrap();
    let ok = records.iter().find(|r| r["status"]["errorCode"] == 0 && r["appId"] == s.web.as_str()).unwrap_or_else(|| panic!("{log}"));
    assert_eq!(ok["userPrincipalName"], s.upn.as_str());
    assert_eq!(
        (ok["isInteractive"].clone(), ok["clientAppUsed"].clone(), ok["ipAddress"].clone()),
        (json!(true), json!("Browser"), json!("127.0.0.1"))
    );
    assert_eq!(ok["conditionalAccessStatus"], "notApplied", "report-only is never enforced");
    let applied = ok["appliedConditionalAccessPolicies"].as_array().unwrap();
    assert_eq!(applied.len(), 1);
    assert_eq!((applied[0]["id"].as_str(), applied[0]["result"].as_str()), (Some(pid.as_str()), Some("reportOnlyFailure")));
    assert_eq!(applied[0]["enforcedGrantControls"], json!(["Block"]));
    let failed = records.iter().find(|r| r["status"]["errorCode"] == 50126).unwrap_or_else(|| panic!("{log}"));
    assert_eq!(failed["userPrincipalName"], s.upn.as_str());
    // A password typed into the name field is not kept.
    let mut other = Browser::new();
    let page = other.get(&web).await;
    let oops = other.submit(&s.base(), &page, &[("username", "Sup3r-Secret!"), ("password", "x")]).await;
    assert_eq!(oops.status, 401);
    let (_, log) = call(s, &reader, "GET", "/v1.0/auditLogs/signIns?$filter=status/errorCode%20eq%2050126", None).await;
    assert!(!log.to_string().contains("Sup3r-Secret"), "{log}");
    assert!(failed["correlationId"].as_str().is_some_and(|c| c.len() == 36));

    // Enforced, the same policy blocks, and the log says which policy did.
    assert_eq!(a.call("PATCH", &format!("{POLICIES}/{pid}"), Some(json!({"state": "enabled"}))).await.0, 204);
    assert_eq!(b.get(&web).await.status, 403);
    let failures = "/v1.0/auditLogs/signIns?$filter=status/errorCode%20ne%200";
    let (_, log) = call(s, &reader, "GET", failures, None).await;
    let codes: Vec<i64> = log["value"].as_array().unwrap().iter().map(|r| r["status"]["errorCode"].as_i64().unwrap()).collect();
    assert_eq!(codes, [53003, 50126, 50126], "newest first, failures only");
    let blocked = &log["value"][0];
    assert_eq!(blocked["conditionalAccessStatus"], "failure");
    assert_eq!(blocked["appliedConditionalAccessPolicies"][0]["result"], "failure");

    // Filters and paging.
    let user_id = blocked["userId"].as_str().unwrap();
    let (_, mine) = call(
        s,
        &reader,
        "GET",
        &format!("/v1.0/auditLogs/signIns?$filter=userId%20eq%20'{user_id}'%20and%20conditionalAccessStatus%20eq%20'failure'"),
        None,
    )
    .await;
    assert_eq!(mine["value"].as_array().unwrap().len(), 1, "{mine}");
    let (_, first) = call(s, &reader, "GET", "/v1.0/auditLogs/signIns?$top=1", None).await;
    let next = first["@odata.nextLink"].as_str().unwrap().replace(&s.server.url(""), "").replace("http://localhost", "");
    let next = &next[next.find("/v1.0").unwrap()..];
    let (status, second) = call(s, &reader, "GET", next, None).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["value"][0]["id"], first["value"][0]["id"]);
    let id = first["value"][0]["id"].as_str().unwrap();
    let (status, one) = call(s, &reader, "GET", &format!("/v1.0/auditLogs/signIns/{id}"), None).await;
    assert_eq!((status, one["id"].as_str()), (200, Some(id)));
    assert_eq!(call(s, &reader, "GET", "/v1.0/auditLogs/signIns?$filter=riskState%20eq%20'none'", None).await.0, 400);
    assert_eq!(call(s, &reader, "GET", &next.replace("skiptoken=", "skiptoken=x"), None).await.0, 400);
    assert_eq!(a.call("GET", "/v1.0/auditLogs/signIns", None).await.0, 403, "reading the log needs AuditLog.Read.All");
}

/// The user action "register security information": a policy that allows it only from a trusted
/// location stops adding an authenticator app elsewhere, at the page and when it would be saved.
#[tokio::test]
async fn registering_security_info_follows_its_user_action_policy() {
    let a = api("Policy.ReadWrite.ConditionalAccess").await;
    let s = &a.s;
    let portal = format!("{}/{}/mysecurityinfo", s.base(), s.tid);
    let mut b = Browser::new();
    let page = b.get(&portal).await;
    let page = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!(page.status, 303);
    // An enrollment started before the policy...
    let started = b.get(&format!("{portal}/authenticator")).await;
    assert_eq!(started.status, 200);
    let secret = between(&started.body, "<code id=\"secret\">", "</code>").to_string();

    let (_, hq) = a.call("POST", LOCATIONS, Some(hq())).await;
    let only_hq = json!({"displayName": "Register security info at HQ only", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeUserActions": ["urn:user:registersecurityinfo"]},
                       "locations": {"includeLocations": ["All"], "excludeLocations": [hq["id"]]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}});
    let (status, policy) = a.call("POST", POLICIES, Some(only_hq)).await;
    assert_eq!(status, 201, "{policy}");
    // ...is not saved, and a new one is not started, from here (not HQ).
    let done = b.submit(&s.base(), &started, &[("code", &app_code(&secret, 0)), ("name", "phone")]).await;
    assert_eq!(done.status, 403, "{}", done.body);
    assert!(done.body.contains("AADSTS53003"), "{}", done.body);
    let page = b.get(&format!("{portal}/authenticator")).await;
    assert_eq!(page.status, 403);
    assert!(b.get(&portal).await.body.contains("You sign in with your password only."), "nothing was added");
    // Signing in to apps is not the user action: still fine.
    s.sign_in(&mut Browser::new(), &s.authorize_url(&s.native, NATIVE_REDIRECT, "openid", true), NATIVE_REDIRECT).await;
    // From HQ (here, once HQ includes this address) it works.
    let here = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "ipRanges": [{"cidrAddress": "127.0.0.0/24"}]});
    assert_eq!(a.call("PATCH", &format!("{LOCATIONS}/{}", hq["id"].as_str().unwrap()), Some(here)).await.0, 204);
    let page = b.get(&format!("{portal}/authenticator")).await;
    assert_eq!(page.status, 200);
    let secret = between(&page.body, "<code id=\"secret\">", "</code>").to_string();
    let done = b.submit(&s.base(), &page, &[("code", &app_code(&secret, 0)), ("name", "phone")]).await;
    assert_eq!(done.status, 303, "{}", done.body);
}

/// Records still queued when the server is stopped are stored before it exits.
#[tokio::test]
async fn a_stopped_server_keeps_the_sign_ins_it_had_queued() {
    let mut s = setup();
    let mut b = Browser::new();
    let page = b.get(&s.authorize_url(&s.native, NATIVE_REDIRECT, "openid", true)).await;
    let wrong = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", "not-it")]).await;
    assert_eq!(wrong.status, 401);
    assert!(s.server.terminate().success());
    s.server = Server::start(s._dir.path(), &["--data-dir", "data"]);
    s.grant_web("AuditLog.Read.All");
    let log = s.get_json("/v1.0/auditLogs/signIns?$filter=status/errorCode%20eq%2050126", &s.web_app_token().await).await;
    assert_eq!(log["value"].as_array().map(Vec::len), Some(1), "{log}");
}

/// With security defaults off a password alone signs in to "My security info", but changing the
/// security info of someone who has a second factor asks for it first: a password thief can
/// neither add their own method nor remove the person's.
#[tokio::test]
async fn changing_security_info_needs_the_second_factor_the_person_has() {
    let s = setup();
    settings(&s, &["--security-defaults", "false"]);
    let secret = s.enroll_authenticator(&mut Browser::new()).await;
    let portal = format!("{}/{}/mysecurityinfo", s.base(), s.tid);
    let mut thief = Browser::new();
    let page = thief.get(&portal).await;
    let page = thief.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!(page.status, 303, "the password alone signs in (security defaults off)");
    let add = thief.get(&format!("{portal}/authenticator")).await;
    assert_eq!(add.location.as_deref(), Some(format!("/{}/mysecurityinfo/verify", s.tid).as_str()));
    let listing = thief.get(&portal).await;
    let removal = thief.submit(&s.base(), &listing, &[]).await;
    assert_eq!(removal.location.as_deref(), Some(format!("/{}/mysecurityinfo/verify", s.tid).as_str()), "{}", removal.body);
    assert!(!thief.get(&portal).await.body.contains("You sign in with your password only."), "the app is still there");
    // The person, with their code, goes on.
    let verify = thief.get(&format!("{portal}/verify")).await;
    assert!(verify.body.contains("one-time-code"), "{}", verify.body);
    let wrong = thief.submit(&s.base(), &verify, &[("code", "000000")]).await;
    assert_eq!(wrong.status, 401);
    let done = thief.submit(&s.base(), &wrong, &[("code", &app_code(&secret, 1))]).await;
    assert_eq!(done.location.as_deref(), Some(format!("/{}/mysecurityinfo", s.tid).as_str()), "{}", done.body);
    assert_eq!(thief.get(&format!("{portal}/authenticator")).await.status, 200);
}

/// Countries come from the client's address (data embedded in Ward, through a trusted proxy
/// here): a country location blocks a service principal from one country and not another, and
/// the sign-in log and what-if say which country.
#[tokio::test]
async fn a_country_location_blocks_by_the_clients_address() {
    let mut s = setup();
    assert!(s.server.terminate().success());
    s.server = Server::start(s._dir.path(), &["--data-dir", "data", "--trusted-proxy", "127.0.0.1/32"]);
    s.grant_web("Policy.ReadWrite.ConditionalAccess");
    s.grant_web("AuditLog.Read.All");
    let admin = s.web_app_token().await;
    let us = json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "United States", "countriesAndRegions": ["US"]});
    let (status, location) = call(&s, &admin, "POST", LOCATIONS, Some(us)).await;
    assert_eq!(status, 201, "{location}");
    let policy = json!({"displayName": "Daemon not from the US", "state": "enabled",
        "conditions": {"clientApplications": {"includeServicePrincipals": [s.web_sp]}, "applications": {"includeApplications": ["All"]},
                       "locations": {"includeLocations": [location["id"]]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}});
    assert_eq!(call(&s, &admin, "POST", POLICIES, Some(policy)).await.0, 201);
    let token_from = |address: &'static str| {
        let request = http()
            .post(s.url("/oauth2/v2.0/token"))
            .basic_auth(&s.web, Some(&s.web_secret))
            .header("X-Forwarded-For", address)
            .form(&[("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")]);
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, e) = token_from("8.8.8.8").await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    assert!(e["error_description"].as_str().unwrap().starts_with("AADSTS53003"));
    let (status, t) = token_from("1.0.16.1").await;
    assert_eq!(status, 200, "an address of Japan: {t}");
    let (_, log) = call(&s, &admin, "GET", "/v1.0/auditLogs/signIns?$filter=status/errorCode%20eq%2053003", None).await;
    assert_eq!(log["value"][0]["location"]["countryOrRegion"], "US", "{log}");
    assert_eq!(log["value"][0]["ipAddress"], "8.8.8.8");
    let out = ok(ward(s._dir.path()).args([
        "policy",
        "what-if",
        "--service-principal",
        &s.web_sp,
        "--app",
        "00000003-0000-0000-c000-000000000000",
        "--ip",
        "8.8.8.8",
        "--data-dir",
        "data",
    ]));
    assert!(out.trim_end().ends_with("outcome: block"), "{out}");
}

/// The persistent-browser session control: "never" turns a stay-signed-in session into one the
/// browser forgets when it closes; "always" keeps one the person did not ask to keep.
#[tokio::test]
async fn the_persistent_browser_control_sets_the_session_cookie_again() {
    let a = api("Policy.ReadWrite.ConditionalAccess").await;
    let s = &a.s;
    let control = |mode: &str| {
        json!({"displayName": format!("Browser {mode}"), "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}},
        "sessionControls": {"persistentBrowser": {"isEnabled": true, "mode": mode}}})
    };
    let (_, never) = a.call("POST", POLICIES, Some(control("never"))).await;
    let web = s.authorize_url(&s.native, NATIVE_REDIRECT, "openid", true);
    // The session cookie an authorize request with this browser's cookies sets, if any.
    let session_cookie = |b: &Browser| {
        let cookies: Vec<String> = b.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let request = b.client.get(&web).header("cookie", cookies.join("; "));
        async move {
            let r = request.send().await.unwrap();
            assert!(r.headers().get("location").is_some_and(|l| l.to_str().unwrap().starts_with(NATIVE_REDIRECT)));
            r.headers().get_all("set-cookie").iter().map(|c| c.to_str().unwrap().to_string()).find(|c| c.starts_with("ward_session="))
        }
    };
    let mut b = Browser::new();
    let page = b.get(&web).await;
    let signed = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD), ("stay_signed_in", "on")]).await;
    assert_eq!(signed.status, 303);
    s.sign_in(&mut b, &web, NATIVE_REDIRECT).await;
    let again = session_cookie(&b).await;
    assert!(again.is_none(), "already made non-persistent by the sign-in's own authorize request: {again:?}");
    // Switched to "always": a session the person did not keep is kept.
    assert_eq!(a.call("DELETE", &format!("{POLICIES}/{}", never["id"].as_str().unwrap()), None).await.0, 204);
    assert_eq!(a.call("POST", POLICIES, Some(control("always"))).await.0, 201);
    let kept = session_cookie(&b).await.expect("the cookie is set again");
    assert!(kept.contains("Max-Age="), "{kept}");
    assert!(session_cookie(&b).await.is_none(), "once persistent, nothing more to do");
}

/// Graph's /me methods: removing one's own authenticator app with a token from a password-only
/// sign-in is refused while the person has a second factor; with a token whose sign-in used it,
/// it goes.
#[tokio::test]
async fn removing_ones_own_method_through_graph_needs_the_second_factor() {
    let s = setup();
    let d = s._dir.path();
    let secret = s.enroll_authenticator(&mut Browser::new()).await;
    ok(ward(d).args(["app", "consent", &s.native, "--scope", "openid UserAuthenticationMethod.ReadWrite", "--data-dir", "data"]));
    let authorize =
        s.authorize_url(&s.native, NATIVE_REDIRECT, "openid https://graph.microsoft.com/UserAuthenticationMethod.ReadWrite", true);
    let s = &s;
    let token_after = |code: String| async move {
        let (status, t) = s.redeem_native(&code).await;
        assert_eq!(status, 200, "{t}");
        t["access_token"].as_str().unwrap().to_string()
    };
    // Security defaults off: the password alone signs in, and its token cannot remove the app.
    settings(s, &["--security-defaults", "false"]);
    let weak = token_after(s.sign_in(&mut Browser::new(), &authorize, NATIVE_REDIRECT).await).await;
    let (_, methods) = call(s, &weak, "GET", "/v1.0/me/authentication/softwareOathMethods", None).await;
    let id = methods["value"][0]["id"].as_str().unwrap_or_else(|| panic!("{methods}")).to_string();
    let path = format!("/v1.0/me/authentication/softwareOathMethods/{id}");
    let (status, e) = call(s, &weak, "DELETE", &path, None).await;
    assert_eq!((status, e["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")), "{e}");
    // Security defaults on: the sign-in asks for the code, and that token may.
    settings(s, &["--security-defaults", "true"]);
    let mut b = Browser::new();
    let page = b.get(&authorize).await;
    let otp = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    let done = b.submit(&s.base(), &otp, &[("code", &app_code(&secret, 1))]).await;
    let strong =
        token_after(s.follow_to_client(&mut b, done).await.split("code=").nth(1).unwrap().split('&').next().unwrap().to_string()).await;
    // A policy on registering security information applies here as on the pages.
    s.grant_web("Policy.ReadWrite.ConditionalAccess");
    let admin = s.web_app_token().await;
    let nowhere = json!({"displayName": "No security info changes", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeUserActions": ["urn:user:registersecurityinfo"]}},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}});
    let (status, policy) = call(s, &admin, "POST", POLICIES, Some(nowhere)).await;
    assert_eq!(status, 201, "{policy}");
    let (status, e) = call(s, &strong, "DELETE", &path, None).await;
    assert_eq!(status, 403, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("AADSTS53003"), "{e}");
    assert_eq!(call(s, &admin, "DELETE", &format!("{POLICIES}/{}", policy["id"].as_str().unwrap()), None).await.0, 204);
    assert_eq!(call(s, &strong, "DELETE", &path, None).await.0, 204);
}

/// A device-code sign-in under a policy requiring MFA, with security defaults off: the password
/// signs in on the phone, the code entered there is met by the step-up (the authenticator's
/// code), and the device gets tokens that say so. A block for the device's app stops it there.
#[tokio::test]
async fn a_device_code_sign_in_steps_up_in_the_browser() {
    let a = api("Policy.ReadWrite.ConditionalAccess").await;
    let s = &a.s;
    settings(s, &["--security-defaults", "false"]);
    let secret = s.enroll_authenticator(&mut Browser::new()).await;
    let mfa = json!({"displayName": "MFA for the native tool", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": [s.native]}},
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}});
    let (_, policy) = a.call("POST", POLICIES, Some(mfa)).await;
    let start = s.device_start("openid").await;
    let code = start["user_code"].as_str().unwrap();
    let verification = start["verification_uri"].as_str().unwrap().replace("localhost", "127.0.0.1");
    let mut phone = Browser::new();
    let page = phone.get(&verification).await;
    let signed = phone.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert_eq!(signed.status, 303, "the password alone signs in (security defaults off)");
    let entry = phone.get(&format!("{}{}", s.base(), signed.location.unwrap())).await;
    let otp = phone.submit(&s.base(), &entry, &[("user_code", code)]).await;
    assert!(otp.body.contains("autocomplete=\"one-time-code\""), "the step-up, before the device is approved: {}", otp.body);
    let stepped = phone.submit(&s.base(), &otp, &[("code", &app_code(&secret, 1))]).await;
    assert_eq!(stepped.status, 303, "{}", stepped.body);
    let entry = phone.get(&format!("{}{}", s.base(), stepped.location.unwrap())).await;
    let confirm = phone.submit(&s.base(), &entry, &[("user_code", code)]).await;
    let done = phone.submit(&s.base(), &confirm, &[("decision", "approve")]).await;
    assert!(done.body.contains("You have signed in on your device"), "{}", done.body);
    let (status, t) = s.device_poll(&start).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(s.verify(t["id_token"].as_str().unwrap(), &s.native, "JWT").await["amr"], json!(["pwd", "otp", "mfa"]));

    // Blocked for the app: the phone says so, with Entra's code.
    let block = json!({"state": "enabled", "grantControls": {"operator": "OR", "builtInControls": ["block"]}});
    assert_eq!(a.call("PATCH", &format!("{POLICIES}/{}", policy["id"].as_str().unwrap()), Some(block)).await.0, 204);
    let start = s.device_start("openid").await;
    let entry = phone.get(&verification).await;
    let refused = phone.submit(&s.base(), &entry, &[("user_code", start["user_code"].as_str().unwrap())]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("AADSTS53003"), "{}", refused.body);
}
