//! Graph's JSON shapes for `riskyUser`, its history and `riskDetection` (entra-apis.md §3.1,
//! §3.2), compared whole.

use crate::*;
use serde_json::json;

const ALEX: &str = "c5c7ef0c-0000-4000-8000-000000000001";

fn alex() -> UserLabel<'static> {
    UserLabel { id: ALEX.parse().unwrap(), display_name: Some("Alex Wilber"), principal_name: Some("alexw@contoso.com") }
}

#[test]
fn a_risky_user_has_graphs_shape() {
    let mut risk = UserRisk::new(alex().id);
    let leaked = leaked_credentials(alex().id, at("2024-03-01T10:12:00Z"));
    risk = risk.apply_detection(&leaked, &UserRiskSettings::default()).risk;
    assert_eq!(
        risky_user_json(&alex(), &risk, false),
        json!({
            "id": ALEX,
            "isDeleted": false,
            "isProcessing": false,
            "riskLastUpdatedDateTime": "2024-03-01T10:12:00Z",
            "riskLevel": "high",
            "riskState": "atRisk",
            "riskDetail": "none",
            "userDisplayName": "Alex Wilber",
            "userPrincipalName": "alexw@contoso.com"
        })
    );
    let never = risky_user_json(&alex(), &UserRisk::new(alex().id), true);
    assert_eq!(
        (never["riskLastUpdatedDateTime"].clone(), never["riskLevel"].clone(), never["isDeleted"].clone()),
        (json!(null), json!("none"), json!(true))
    );
}

#[test]
fn a_dismissal_in_history_has_graphs_shape() {
    let admin: ObjectId = "68ca8ec0-11f8-456b-a785-70d9936650d5".parse().unwrap();
    let risk = UserRisk::new(alex().id)
        .apply_detection(&leaked_credentials(alex().id, at("2024-03-01T10:12:00Z")), &UserRiskSettings::default())
        .risk;
    let t = risk.dismiss(at("2024-03-02T08:00:00Z"), Some(admin));
    assert_eq!(risky_user_json(&alex(), &t.risk, false)["riskLevel"], "none");
    assert_eq!(
        history_item_json("h-2", &alex(), &t.history.unwrap(), false),
        json!({
            "id": "h-2",
            "isDeleted": false,
            "isProcessing": false,
            "riskLastUpdatedDateTime": "2024-03-02T08:00:00Z",
            "riskLevel": "none",
            "riskState": "dismissed",
            "riskDetail": "adminDismissedAllRiskForUser",
            "userDisplayName": "Alex Wilber",
            "userPrincipalName": "alexw@contoso.com",
            "userId": ALEX,
            "initiatedBy": "68ca8ec0-11f8-456b-a785-70d9936650d5",
            "activity": { "eventTypes": [], "riskEventTypes": [], "detail": "adminDismissedAllRiskForUser" }
        })
    );
}

#[test]
fn a_risk_detection_has_graphs_shape_with_additional_info_as_a_string() {
    let mut f = sign_in(alex().id, NEW_YORK, at("2024-03-01T10:00:00Z"));
    f.ip = Some(ip("::ffff:73.1.2.3"));
    f.user_agent = Some("Mozilla/5.0 ...".into());
    f.correlation_id = Some("corr-9".into());
    f.state = Some("New York".into());
    let d = f.detection(RiskEventType::UnlikelyTravel, RiskLevel::Medium, DetectionTiming::Realtime);
    assert_eq!(
        risk_detection_json("det-1", &alex(), &d),
        json!({
            "id": "det-1",
            "requestId": "req-1",
            "correlationId": "corr-9",
            "riskEventType": "unlikelyTravel",
            "riskState": "atRisk",
            "riskLevel": "medium",
            "riskDetail": "none",
            "source": "activeDirectory",
            "detectionTimingType": "realtime",
            "activity": "signin",
            "tokenIssuerType": "AzureAD",
            "ipAddress": "73.1.2.3",
            "activityDateTime": "2024-03-01T10:00:00Z",
            "detectedDateTime": "2024-03-01T10:00:00Z",
            "lastUpdatedDateTime": "2024-03-01T10:00:00Z",
            "userId": ALEX,
            "userDisplayName": "Alex Wilber",
            "userPrincipalName": "alexw@contoso.com",
            "additionalInfo": "[{\"Key\":\"userAgent\",\"Value\":\"Mozilla/5.0 ...\"}]",
            "location": {
                "city": "New York",
                "state": "New York",
                "countryOrRegion": "US",
                "geoCoordinates": { "latitude": 40.7128, "longitude": -74.006, "altitude": null }
            }
        })
    );
}

#[test]
fn a_settled_detection_shows_level_none_and_a_user_detection_has_no_sign_in_ids() {
    let leaked = leaked_credentials(alex().id, at("2024-03-01T10:12:00Z"));
    let dismissed = leaked.settled(RiskState::Dismissed, RiskDetail::AdminDismissedAllRiskForUser, at("2024-03-02T00:00:00Z"));
    let v = risk_detection_json("det-2", &alex(), &dismissed);
    assert_eq!(
        (v["riskLevel"].clone(), v["riskState"].clone(), v["riskDetail"].clone()),
        (json!("none"), json!("dismissed"), json!("adminDismissedAllRiskForUser"))
    );
    assert_eq!((v["activity"].clone(), v["requestId"].clone(), v["location"].clone()), (json!("user"), json!(null), json!(null)));
    assert_eq!(v["lastUpdatedDateTime"], "2024-03-02T00:00:00Z");
    let info: serde_json::Value = serde_json::from_str(v["additionalInfo"].as_str().unwrap()).unwrap();
    assert_eq!(info, json!([{ "Key": "riskReasons", "Value": ["passwordInLeakedPasswordFile"] }]));
}
