//! One risk detection (Graph's `riskDetection`, entra-apis.md §3.2) as the detectors produce it,
//! and the detections that come from people rather than from sign-ins: an administrator
//! confirming a compromise, a partner reporting one.

use crate::vocabulary::{Activity, DetectionTiming, RiskDetail, RiskEventType, RiskLevel, RiskState};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::net::IpAddr;
use time::OffsetDateTime;
use ward_core::ObjectId;

/// Where a sign-in came from, as far as geolocation knows: Graph's `signInLocation`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInLocation {
    pub city: Option<String>,
    pub state: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country_or_region: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// A risk detection. The caller gives it an id when it stores it; `state` and `detail` change
/// when the user's risk is dismissed or remediated (see `RiskTransition::settle_open_detections`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Detection {
    pub event_type: RiskEventType,
    pub level: RiskLevel,
    pub timing: DetectionTiming,
    pub activity: Activity,
    pub user: ObjectId,
    /// When Ward noticed.
    #[serde(with = "time::serde::rfc3339")]
    pub detected_at: OffsetDateTime,
    /// When the risky thing happened (the sign-in; for a user detection, the report).
    #[serde(with = "time::serde::rfc3339")]
    pub activity_at: OffsetDateTime,
    pub ip: Option<IpAddr>,
    pub location: Option<SignInLocation>,
    /// Graph's `additionalInfo` as key/value pairs; values are JSON because Entra's are
    /// (`riskReasons` is an array). Graph sends the list encoded as a string: see
    /// [`Detection::additional_info_json`].
    pub additional_info: Vec<(String, Value)>,
    /// The sign-in's request and correlation ids; `None` for user detections.
    pub request_id: Option<String>,
    pub correlation_id: Option<String>,
    pub state: RiskState,
    pub detail: RiskDetail,
    #[serde(with = "time::serde::rfc3339")]
    pub last_updated_at: OffsetDateTime,
}

impl Detection {
    /// A new detection, at risk, noticed when it happened.
    pub fn new(event_type: RiskEventType, level: RiskLevel, timing: DetectionTiming, user: ObjectId, at: OffsetDateTime) -> Detection {
        Detection {
            activity: event_type.activity(),
            event_type,
            level,
            timing,
            user,
            detected_at: at,
            activity_at: at,
            ip: None,
            location: None,
            additional_info: Vec::new(),
            request_id: None,
            correlation_id: None,
            state: RiskState::AtRisk,
            detail: RiskDetail::None,
            last_updated_at: at,
        }
    }

    /// Adds one `additionalInfo` pair.
    pub fn with_info(mut self, key: &str, value: Value) -> Detection {
        self.additional_info.push((key.to_string(), value));
        self
    }

    /// The value of an `additionalInfo` key.
    pub fn info(&self, key: &str) -> Option<&Value> {
        self.additional_info.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The `riskReasons` listed in `additionalInfo`.
    pub fn risk_reasons(&self) -> Vec<&str> {
        self.info("riskReasons").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
    }

    /// `additionalInfo` as Graph sends it: a JSON array of `{"Key", "Value"}` objects, itself
    /// encoded as a string (§3.2).
    pub fn additional_info_json(&self) -> String {
        let items: Vec<Value> = self.additional_info.iter().map(|(k, v)| json!({ "Key": k, "Value": v })).collect();
        Value::Array(items).to_string()
    }

    /// The detection after the user's risk was dismissed, remediated or confirmed: only a
    /// detection still at risk changes.
    pub fn settled(mut self, state: RiskState, detail: RiskDetail, now: OffsetDateTime) -> Detection {
        if self.state == RiskState::AtRisk {
            self.state = state;
            self.detail = detail;
            if matches!(state, RiskState::Dismissed | RiskState::Remediated | RiskState::ConfirmedSafe) {
                self.level = RiskLevel::None;
            }
            self.last_updated_at = now;
        }
        self
    }
}

/// The detection recorded when an administrator confirms a user compromised (§3.1
/// `confirmCompromised`: "plus an offline `adminConfirmedUserCompromised` risk detection").
pub fn admin_confirmed_compromise(user: ObjectId, now: OffsetDateTime) -> Detection {
    Detection::new(RiskEventType::AdminConfirmedUserCompromised, RiskLevel::High, DetectionTiming::Offline, user, now)
}

/// A compromise reported by a partner (for example a Shared Signals transmitter or a
/// threat-intelligence provider). Entra has no dedicated type; it is threat intelligence about
/// the user, so `investigationsThreatIntelligence` with `riskReasons: ["partnerReportedCompromise"]`
/// and the reporter's name under `reportedBy`. High: a partner only reports what it saw.
pub fn partner_reported_compromise(user: ObjectId, partner: &str, reported_at: OffsetDateTime, now: OffsetDateTime) -> Detection {
    let mut d = Detection::new(RiskEventType::InvestigationsThreatIntelligence, RiskLevel::High, DetectionTiming::Offline, user, now)
        .with_info("riskReasons", json!(["partnerReportedCompromise"]))
        .with_info("reportedBy", json!(partner));
    d.activity = Activity::User;
    d.activity_at = reported_at;
    d
}

/// The user's password was found in the administrator's leaked-password file when they signed
/// in with it (`leakedCredentials`, a user detection, high: whoever holds the file may hold the
/// password). At password set the caller refuses the password instead; no detection is due,
/// because it never becomes a credential.
pub fn leaked_credentials(user: ObjectId, at: OffsetDateTime) -> Detection {
    Detection::new(RiskEventType::LeakedCredentials, RiskLevel::High, DetectionTiming::Realtime, user, at)
        .with_info("riskReasons", json!(["passwordInLeakedPasswordFile"]))
}
