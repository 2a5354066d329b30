//! Identity Protection through Graph against the real binary (issue 8, first part): an ISV
//! confirms a user compromised, Ward raises the user's risk, revokes what they hold, and a
//! risk-based conditional access policy meets their next sign-in; dismissing clears the risk and
//! keeps the history. Permissions and bad input.

mod common;
use common::signin::*;
use serde_json::{Value, json};

const RISKY: &str = "/v1.0/identityProtection/riskyUsers";
const DETECTIONS: &str = "/v1.0/identityProtection/riskDetections";

async fn user_id(s: &Setup, token: &str) -> String {
    let (status, u) = call(s, token, "GET", &format!("/v1.0/users/{}", s.upn), None).await;
    assert_eq!(status, 200, "{u}");
    u["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn confirm_compromised_revokes_and_meets_risk_based_access_then_dismiss_clears_it() {
    let s = setup();
    for permission in
        ["IdentityRiskyUser.ReadWrite.All", "IdentityRiskEvent.Read.All", "User.Read.All", "Policy.ReadWrite.ConditionalAccess"]
    {
        s.grant_web(permission);
    }
    let token = s.web_app_token().await;
    let id = user_id(&s, &token).await;
    let (status, none) = call(&s, &token, "GET", RISKY, None).await;
    assert_eq!((status, none["value"].clone()), (200, json!([])), "nobody is at risk yet");

    // Megan signs in and holds a refresh token.
    let mut b = Browser::new();
    let web = s.authorize_url(&s.web, WEB_REDIRECT, "openid offline_access", false);
    let code = s.sign_in(&mut b, &web, WEB_REDIRECT).await;
    let exchange = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WEB_REDIRECT)];
    let (_, t) = s.token(&exchange, Some((&s.web, &s.web_secret))).await;
    let refresh = t["refresh_token"].as_str().unwrap().to_string();

    // A policy: high user risk is blocked.
    let policy = json!({"displayName": "Block high user risk", "state": "enabled",
        "conditions": {"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}, "userRiskLevels": ["high"]},
        "grantControls": {"operator": "OR", "builtInControls": ["block"]}});
    let (status, p) = call(&s, &token, "POST", "/v1.0/identity/conditionalAccess/policies", Some(policy)).await;
    assert_eq!(status, 201, "{p}");
    // Not at risk: the policy does not apply.
    s.sign_in(&mut Browser::new(), &web, WEB_REDIRECT).await;

    // The ISV's detection confirms the compromise.
    let (status, body) = call(&s, &token, "POST", &format!("{RISKY}/confirmCompromised"), Some(json!({ "userIds": [id] }))).await;
    assert_eq!(status, 204, "{body}");
    let (_, r) = call(&s, &token, "GET", &format!("{RISKY}/{id}"), None).await;
    assert_eq!(
        (r["riskLevel"].as_str(), r["riskState"].as_str(), r["riskDetail"].as_str()),
        (Some("high"), Some("confirmedCompromised"), Some("adminConfirmedUserCompromised")),
        "{r}"
    );
    assert_eq!(r["userPrincipalName"], json!(s.upn));
    let (_, list) = call(&s, &token, "GET", RISKY, None).await;
    assert_eq!(list["value"].as_array().unwrap().len(), 1, "{list}");
    let both = format!("{RISKY}?$filter=riskLevel eq 'high' and riskState eq 'confirmedCompromised'");
    let (_, high) = call(&s, &token, "GET", &both, None).await;
    assert_eq!(high["value"][0]["id"], json!(id), "{high}");
    let (_, low) = call(&s, &token, "GET", &format!("{RISKY}?$filter=riskLevel eq 'low'"), None).await;
    assert_eq!(low["value"], json!([]), "{low}");
    let (_, detections) = call(&s, &token, "GET", DETECTIONS, None).await;
    let d = &detections["value"][0];
    assert_eq!(
        (d["riskEventType"].as_str(), d["userId"].as_str()),
        (Some("adminConfirmedUserCompromised"), Some(id.as_str())),
        "{detections}"
    );
    let (status, one) = call(&s, &token, "GET", &format!("{DETECTIONS}/{}", d["id"].as_str().unwrap()), None).await;
    assert_eq!((status, one["id"].clone()), (200, d["id"].clone()));

    // What Megan held stops working, and signing in again meets the policy.
    let (status, e) = s.token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)], Some((&s.web, &s.web_secret))).await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")), "{e}");
    let page = b.get(&web).await;
    let page = if page.body.contains("name=\"username\"") {
        b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await
    } else {
        page
    };
    let page = match page.location.clone() {
        Some(loc) if loc.starts_with('/') => b.get(&format!("{}{loc}", s.base())).await,
        _ => page,
    };
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("AADSTS53003"), "{}", page.body);

    // Dismissed: risk none, history kept, the policy no longer applies.
    let (status, _) = call(&s, &token, "POST", &format!("{RISKY}/dismiss"), Some(json!({ "userIds": [id] }))).await;
    assert_eq!(status, 204);
    let (_, r) = call(&s, &token, "GET", &format!("{RISKY}/{id}"), None).await;
    assert_eq!(
        (r["riskLevel"].as_str(), r["riskState"].as_str(), r["riskDetail"].as_str()),
        (Some("none"), Some("dismissed"), Some("adminDismissedAllRiskForUser"))
    );
    let (_, h) = call(&s, &token, "GET", &format!("{RISKY}/{id}/history"), None).await;
    let states: Vec<&str> = h["value"].as_array().unwrap().iter().map(|i| i["riskState"].as_str().unwrap()).collect();
    assert_eq!(states, vec!["confirmedCompromised", "dismissed"], "{h}");
    let (_, detections) = call(&s, &token, "GET", DETECTIONS, None).await;
    assert_eq!(detections["value"][0]["riskState"], json!("dismissed"), "{detections}");
    s.sign_in(&mut Browser::new(), &web, WEB_REDIRECT).await;
}

#[tokio::test]
async fn permissions_and_bad_input() {
    let s = setup();
    s.grant_web("User.Read.All");
    let reader = s.web_app_token().await;
    let id = user_id(&s, &reader).await;
    for (method, path, body) in [
        ("GET", RISKY.to_string(), None),
        ("POST", format!("{RISKY}/confirmCompromised"), Some(json!({ "userIds": [id] }))),
        ("GET", DETECTIONS.to_string(), None),
    ] {
        let (status, e) = call(&s, &reader, method, &path, body).await;
        assert_eq!((status, e["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")), "{path}: {e}");
    }
    s.grant_web("IdentityRiskyUser.Read.All");
    let only_read = s.web_app_token().await;
    assert_eq!(call(&s, &only_read, "GET", RISKY, None).await.0, 200);
    assert_eq!(call(&s, &only_read, "POST", &format!("{RISKY}/dismiss"), Some(json!({ "userIds": [id] }))).await.0, 403);
    s.grant_web("IdentityRiskyUser.ReadWrite.All");
    let writer = s.web_app_token().await;
    let many: Vec<Value> = (0..61).map(|_| json!(id)).collect();
    for body in
        [json!({}), json!({ "userIds": [] }), json!({ "userIds": [5] }), json!({ "userIds": ["not-an-id"] }), json!({ "userIds": many })]
    {
        let (status, e) = call(&s, &writer, "POST", &format!("{RISKY}/confirmCompromised"), Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {e}");
    }
    let ghost = "00000000-0000-0000-0000-0000000000aa";
    let (status, _) = call(&s, &writer, "POST", &format!("{RISKY}/confirmCompromised"), Some(json!({ "userIds": [id, ghost] }))).await;
    assert_eq!(status, 404);
    let (_, r) = call(&s, &writer, "GET", RISKY, None).await;
    assert_eq!(r["value"], json!([]), "one unknown user: nobody changed");
    assert_eq!(call(&s, &writer, "GET", &format!("{RISKY}/{id}"), None).await.0, 404, "never at risk");
    for query in ["$filter=riskLevel gt 'high'", "$filter=riskLevel eq high", "$top=0", "$top=501", "$skiptoken=not-ours", "$select=id"] {
        let (status, e) = call(&s, &writer, "GET", &format!("{RISKY}?{query}"), None).await;
        assert_eq!(status, 400, "{query}: {e}");
    }
    assert_eq!(call(&s, &writer, "GET", &format!("{RISKY}/not-an-id"), None).await.0, 400);
    assert_eq!(call(&s, &writer, "GET", &format!("{RISKY}?$filter=createdDateTime eq 'x'"), None).await.0, 400);
}

/// A user at risk who changes their own password in a session that proved MFA is remediated
/// (Identity Protection's "secured password change"); one whose session proved only a password
/// is not.
#[tokio::test]
async fn a_secured_password_change_remediates_the_user() {
    let s = setup();
    s.grant_web("IdentityRiskyUser.ReadWrite.All");
    s.grant_web("User.Read.All");
    let token = s.web_app_token().await;
    let id = user_id(&s, &token).await;
    let secret = s.enroll_authenticator(&mut Browser::new()).await;
    // A second person with a password only.
    std::fs::write(s._dir.path().join("pw-ola"), "Ola-Harbour-Lantern-8\n").unwrap();
    let ola = cli(
        s._dir.path(),
        &["user", "create", "--json", "--upn", "ola@defaultdirectory.ward.local", "--display-name", "Ola", "--password-file", "pw-ola"],
    );
    let ola_id = ola["id"].as_str().unwrap().to_string();
    let (status, _) = call(&s, &token, "POST", &format!("{RISKY}/confirmCompromised"), Some(json!({ "userIds": [id, ola_id] }))).await;
    assert_eq!(status, 204);

    let portal = format!("/{}/mysecurityinfo", s.tid);
    // Megan: password, then her authenticator's code, then the change.
    let mut b = Browser::new();
    let page = b.get(&format!("{}{portal}", s.base())).await;
    let otp = b.submit(&s.base(), &page, &[("username", &s.upn), ("password", PASSWORD)]).await;
    assert!(otp.body.contains("one-time-code"), "{}", otp.body);
    let signed = b.submit(&s.base(), &otp, &[("code", &app_code(&secret, 1))]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    change_password(&s, &mut b, PASSWORD, "Fresh-Meadow-Compass-4").await;
    let (_, r) = call(&s, &token, "GET", &format!("{RISKY}/{id}"), None).await;
    assert_eq!(
        (r["riskLevel"].as_str(), r["riskState"].as_str(), r["riskDetail"].as_str()),
        (Some("none"), Some("remediated"), Some("userPerformedSecuredPasswordChange")),
        "{r}"
    );

    // Ola: a password alone proves nothing about who changed it.
    let mut b = Browser::new();
    let page = b.get(&format!("{}{portal}", s.base())).await;
    let signed =
        b.submit(&s.base(), &page, &[("username", "ola@defaultdirectory.ward.local"), ("password", "Ola-Harbour-Lantern-8")]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    change_password(&s, &mut b, "Ola-Harbour-Lantern-8", "Ola-New-Lighthouse-9").await;
    let (_, r) = call(&s, &token, "GET", &format!("{RISKY}/{ola_id}"), None).await;
    assert_eq!((r["riskLevel"].as_str(), r["riskState"].as_str()), (Some("high"), Some("confirmedCompromised")), "{r}");
}

/// The signed-in person changes their password on the change page, back to their security info.
async fn change_password(s: &Setup, b: &mut Browser, current: &str, new: &str) {
    let url = format!("{}/{}/changepassword?continue=/{}/mysecurityinfo", s.base(), s.tid, s.tid);
    let form = b.get(&url).await;
    let done = b.submit(&s.base(), &form, &[("current", current), ("new", new), ("confirm", new)]).await;
    assert_eq!(done.status, 303, "{}", done.body);
}
