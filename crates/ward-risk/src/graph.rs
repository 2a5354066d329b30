//! Graph's JSON for Identity Protection (entra-apis.md §3.1, §3.2): `riskyUser`,
//! `riskyUserHistoryItem` and `riskDetection`, built from this crate's types and the user's
//! names, which the caller reads from the directory.

use crate::detection::Detection;
use crate::user_risk::{RiskyUserHistoryItem, UserRisk};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use ward_core::ObjectId;

/// Graph's `source` for detections the identity provider itself raised (the documented example
/// value; clients filter on it).
pub const DETECTION_SOURCE: &str = "activeDirectory";

/// The user a risk document is about, as Graph names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserLabel<'a> {
    pub id: ObjectId,
    pub display_name: Option<&'a str>,
    pub principal_name: Option<&'a str>,
}

/// A `riskyUser` (§3.1): `id` is the user's id.
pub fn risky_user_json(user: &UserLabel<'_>, risk: &UserRisk, is_deleted: bool) -> Value {
    json!({
        "id": user.id.to_string(),
        "isDeleted": is_deleted,
        "isProcessing": false,
        "riskLastUpdatedDateTime": instant(risk.last_updated),
        "riskLevel": risk.level.as_str(),
        "riskState": risk.state.as_str(),
        "riskDetail": risk.detail.as_str(),
        "userDisplayName": user.display_name,
        "userPrincipalName": user.principal_name,
    })
}

/// A `riskyUserHistoryItem` (§3.1): the `riskyUser` fields as they were after the change, plus
/// `userId`, `initiatedBy` and `activity`. `id` is the history item's own id, given by the
/// caller.
pub fn history_item_json(id: &str, user: &UserLabel<'_>, item: &RiskyUserHistoryItem, is_deleted: bool) -> Value {
    let types: Vec<&str> = item.risk_event_types.iter().map(|t| t.as_str()).collect();
    json!({
        "id": id,
        "isDeleted": is_deleted,
        "isProcessing": false,
        "riskLastUpdatedDateTime": instant(Some(item.at)),
        "riskLevel": item.level.as_str(),
        "riskState": item.state.as_str(),
        "riskDetail": item.detail.as_str(),
        "userDisplayName": user.display_name,
        "userPrincipalName": user.principal_name,
        "userId": user.id.to_string(),
        "initiatedBy": item.initiated_by.map(|by| by.to_string()),
        "activity": {
            // `eventTypes` is the deprecated enum-typed twin of `riskEventTypes`.
            "eventTypes": types,
            "riskEventTypes": types,
            "detail": item.activity_detail.as_str(),
        },
    })
}

/// A `riskDetection` (§3.2). `additionalInfo` is a JSON string, as Graph sends it; a
/// dismissed or remediated detection shows level `none`.
pub fn risk_detection_json(id: &str, user: &UserLabel<'_>, detection: &Detection) -> Value {
    json!({
        "id": id,
        "requestId": detection.request_id,
        "correlationId": detection.correlation_id,
        "riskEventType": detection.event_type.as_str(),
        "riskState": detection.state.as_str(),
        "riskLevel": detection.level.as_str(),
        "riskDetail": detection.detail.as_str(),
        "source": DETECTION_SOURCE,
        "detectionTimingType": detection.timing,
        "activity": detection.activity,
        "tokenIssuerType": "AzureAD",
        "ipAddress": detection.ip.map(|ip| crate::feeds::canonical(ip).to_string()),
        "activityDateTime": instant(Some(detection.activity_at)),
        "detectedDateTime": instant(Some(detection.detected_at)),
        "lastUpdatedDateTime": instant(Some(detection.last_updated_at)),
        "userId": user.id.to_string(),
        "userDisplayName": user.display_name,
        "userPrincipalName": user.principal_name,
        "additionalInfo": detection.additional_info_json(),
        "location": location_json(detection),
    })
}

fn location_json(detection: &Detection) -> Value {
    let Some(l) = &detection.location else { return Value::Null };
    let mut out = Map::new();
    out.insert("city".into(), json!(l.city));
    out.insert("state".into(), json!(l.state));
    out.insert("countryOrRegion".into(), json!(l.country_or_region));
    let coordinates = match (l.latitude, l.longitude) {
        (Some(latitude), Some(longitude)) => json!({ "latitude": latitude, "longitude": longitude, "altitude": Value::Null }),
        _ => Value::Null,
    };
    out.insert("geoCoordinates".into(), coordinates);
    Value::Object(out)
}

/// An instant as Graph writes it: RFC 3339 in UTC (`2024-03-01T10:12:00Z`).
fn instant(at: Option<OffsetDateTime>) -> Value {
    at.and_then(|t| t.to_offset(time::UtcOffset::UTC).format(&Rfc3339).ok()).map_or(Value::Null, Value::String)
}
