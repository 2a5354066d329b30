//! Graph's risk vocabulary (entra-apis.md §3.1, §3.2): `riskEventType`, `activity`,
//! `detectionTimingType`, `riskLevel`, `riskState` and `riskDetail`, with their exact spellings.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// What a detection found: Graph's `riskEventType`. Open, because Entra adds values regularly
/// (§3.2 implementation note): an unknown incoming value is kept verbatim in `Other`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RiskEventType {
    /// Unfamiliar sign-in properties: a country, network or device the user has not used.
    UnfamiliarFeatures,
    /// Atypical travel: two sign-ins farther apart than a plane could fly in the time between.
    UnlikelyTravel,
    /// Impossible travel: the same, at a speed nothing flies (Graph lists it beside the MCAS name).
    ImpossibleTravel,
    McasImpossibleTravel,
    /// A country the user has never signed in from.
    NewCountry,
    /// An address on the administrator's anonymizer feed (Tor, anonymizing VPNs).
    AnonymizedIpAddress,
    /// An address on the administrator's malicious-address feed.
    MaliciousIpAddress,
    /// A password guessed by a spray: one source, many accounts, few passwords.
    PasswordSpray,
    /// The user's password is in the administrator's file of leaked passwords.
    LeakedCredentials,
    AdminConfirmedUserCompromised,
    /// Threat intelligence; Ward uses it, with `riskReasons`, for brute force and for a
    /// compromise a partner reported.
    InvestigationsThreatIntelligence,
    /// "Additional risk detected".
    Generic,
    NationStateIp,
    AnomalousToken,
    TokenIssuerAnomaly,
    SuspiciousBrowser,
    RiskyIpAddress,
    McasFinSuspiciousFileAccess,
    SuspiciousInboxForwarding,
    McasSuspiciousInboxManipulationRules,
    AnomalousUserActivity,
    AttackerInTheMiddle,
    AttemptedPrtAccess,
    SuspiciousApiTraffic,
    SuspiciousSendingPatterns,
    UserReportedSuspiciousActivity,
    MalwareInfectedIpAddress,
    SuspiciousIpAddress,
    /// A value this version does not know, kept as received.
    Other(String),
}

/// Every known event type with its Graph spelling and whether it is about a user rather than a
/// sign-in (§3.2, the two catalogue tables). Some spellings are irregular (`attackerinTheMiddle`).
const EVENT_TYPES: &[(RiskEventType, &str, Activity)] = &[
    (RiskEventType::UnfamiliarFeatures, "unfamiliarFeatures", Activity::SignIn),
    (RiskEventType::UnlikelyTravel, "unlikelyTravel", Activity::SignIn),
    (RiskEventType::ImpossibleTravel, "impossibleTravel", Activity::SignIn),
    (RiskEventType::McasImpossibleTravel, "mcasImpossibleTravel", Activity::SignIn),
    (RiskEventType::NewCountry, "newCountry", Activity::SignIn),
    (RiskEventType::AnonymizedIpAddress, "anonymizedIPAddress", Activity::SignIn),
    (RiskEventType::MaliciousIpAddress, "maliciousIPAddress", Activity::SignIn),
    (RiskEventType::PasswordSpray, "passwordSpray", Activity::SignIn),
    (RiskEventType::LeakedCredentials, "leakedCredentials", Activity::User),
    (RiskEventType::AdminConfirmedUserCompromised, "adminConfirmedUserCompromised", Activity::SignIn),
    (RiskEventType::InvestigationsThreatIntelligence, "investigationsThreatIntelligence", Activity::SignIn),
    (RiskEventType::Generic, "generic", Activity::SignIn),
    (RiskEventType::NationStateIp, "nationStateIP", Activity::SignIn),
    (RiskEventType::AnomalousToken, "anomalousToken", Activity::SignIn),
    (RiskEventType::TokenIssuerAnomaly, "tokenIssuerAnomaly", Activity::SignIn),
    (RiskEventType::SuspiciousBrowser, "suspiciousBrowser", Activity::SignIn),
    (RiskEventType::RiskyIpAddress, "riskyIPAddress", Activity::SignIn),
    (RiskEventType::McasFinSuspiciousFileAccess, "mcasFinSuspiciousFileAccess", Activity::SignIn),
    (RiskEventType::SuspiciousInboxForwarding, "suspiciousInboxForwarding", Activity::SignIn),
    (RiskEventType::McasSuspiciousInboxManipulationRules, "mcasSuspiciousInboxManipulationRules", Activity::SignIn),
    (RiskEventType::AnomalousUserActivity, "anomalousUserActivity", Activity::User),
    (RiskEventType::AttackerInTheMiddle, "attackerinTheMiddle", Activity::User),
    (RiskEventType::AttemptedPrtAccess, "attemptedPrtAccess", Activity::User),
    (RiskEventType::SuspiciousApiTraffic, "suspiciousAPITraffic", Activity::User),
    (RiskEventType::SuspiciousSendingPatterns, "suspiciousSendingPatterns", Activity::User),
    (RiskEventType::UserReportedSuspiciousActivity, "userReportedSuspiciousActivity", Activity::User),
    (RiskEventType::MalwareInfectedIpAddress, "malwareInfectedIPAddress", Activity::User),
    (RiskEventType::SuspiciousIpAddress, "suspiciousIPAddress", Activity::User),
];

impl RiskEventType {
    /// Graph's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            RiskEventType::Other(s) => s,
            known => EVENT_TYPES.iter().find(|(t, _, _)| t == known).map(|(_, s, _)| *s).unwrap_or("generic"),
        }
    }

    /// Reads Graph's spelling; an unknown value becomes `Other`. Exact match: Graph's enum
    /// members are case-sensitive.
    pub fn parse(s: &str) -> RiskEventType {
        EVENT_TYPES.iter().find(|(_, name, _)| *name == s).map(|(t, _, _)| t.clone()).unwrap_or_else(|| RiskEventType::Other(s.to_string()))
    }

    /// Whether the catalogue lists it as a sign-in or a user detection (unknown: sign-in).
    pub fn activity(&self) -> Activity {
        EVENT_TYPES.iter().find(|(t, _, _)| t == self).map(|(_, _, a)| *a).unwrap_or(Activity::SignIn)
    }
}

impl fmt::Display for RiskEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RiskEventType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RiskEventType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(RiskEventType::parse(&s))
    }
}

/// Graph's `activity`: what the detection is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Activity {
    #[serde(rename = "signin")]
    SignIn,
    #[serde(rename = "user")]
    User,
}

/// Graph's `detectionTimingType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DetectionTiming {
    NotDefined,
    /// During the sign-in, in time to feed conditional access.
    Realtime,
    NearRealtime,
    /// After the fact, from recorded activity.
    Offline,
}

/// Graph's `riskLevel`, ordered `None < Low < Medium < High`. Graph's `hidden` (a tenant without
/// the licence) has no meaning here: Ward always shows its own risk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RiskLevel {
    #[default]
    None,
    Low,
    Medium,
    High,
}

impl RiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::None => "none",
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }

    /// One level lower (`None` stays `None`).
    pub fn lowered(self) -> RiskLevel {
        self.lowered_by(1)
    }

    /// `steps` levels lower, not below `None`.
    pub fn lowered_by(self, steps: u32) -> RiskLevel {
        let rank = (self as u32).saturating_sub(steps);
        [RiskLevel::None, RiskLevel::Low, RiskLevel::Medium, RiskLevel::High][rank.min(3) as usize]
    }
}

/// Graph's `riskState` (§3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RiskState {
    #[default]
    None,
    ConfirmedSafe,
    Remediated,
    Dismissed,
    AtRisk,
    ConfirmedCompromised,
}

impl RiskState {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskState::None => "none",
            RiskState::ConfirmedSafe => "confirmedSafe",
            RiskState::Remediated => "remediated",
            RiskState::Dismissed => "dismissed",
            RiskState::AtRisk => "atRisk",
            RiskState::ConfirmedCompromised => "confirmedCompromised",
        }
    }
}

/// Graph's `riskDetail` (§3.1): why the state is what it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RiskDetail {
    #[default]
    None,
    AdminGeneratedTemporaryPassword,
    UserPerformedSecuredPasswordChange,
    UserPerformedSecuredPasswordReset,
    AdminConfirmedSigninSafe,
    AiConfirmedSigninSafe,
    #[serde(rename = "userPassedMFADrivenByRiskBasedPolicy")]
    UserPassedMfaDrivenByRiskBasedPolicy,
    AdminDismissedAllRiskForUser,
    AdminConfirmedSigninCompromised,
    Hidden,
    AdminConfirmedUserCompromised,
    /// Only sent with `Prefer: include-unknown-enum-members`.
    #[serde(rename = "m365DAdminDismissedDetection")]
    M365DAdminDismissedDetection,
    /// Ward's own, for a tenant that lets a passkey registration remediate: the user at risk
    /// registered a passkey in a session that proved MFA. Graph has no such value: like Graph's
    /// newer members, only sent with `Prefer: include-unknown-enum-members`
    /// (`unknownFutureValue` otherwise).
    #[serde(rename = "userRegisteredPasskey")]
    UserRegisteredPasskey,
}

impl RiskDetail {
    /// Graph's spelling (the same as serde's).
    pub fn as_str(self) -> &'static str {
        match self {
            RiskDetail::None => "none",
            RiskDetail::AdminGeneratedTemporaryPassword => "adminGeneratedTemporaryPassword",
            RiskDetail::UserPerformedSecuredPasswordChange => "userPerformedSecuredPasswordChange",
            RiskDetail::UserPerformedSecuredPasswordReset => "userPerformedSecuredPasswordReset",
            RiskDetail::AdminConfirmedSigninSafe => "adminConfirmedSigninSafe",
            RiskDetail::AiConfirmedSigninSafe => "aiConfirmedSigninSafe",
            RiskDetail::UserPassedMfaDrivenByRiskBasedPolicy => "userPassedMFADrivenByRiskBasedPolicy",
            RiskDetail::AdminDismissedAllRiskForUser => "adminDismissedAllRiskForUser",
            RiskDetail::AdminConfirmedSigninCompromised => "adminConfirmedSigninCompromised",
            RiskDetail::Hidden => "hidden",
            RiskDetail::AdminConfirmedUserCompromised => "adminConfirmedUserCompromised",
            RiskDetail::M365DAdminDismissedDetection => "m365DAdminDismissedDetection",
            RiskDetail::UserRegisteredPasskey => "userRegisteredPasskey",
        }
    }

    /// A member past Graph's `unknownFutureValue`: shown only to clients that ask for them.
    pub fn evolvable(self) -> bool {
        matches!(self, RiskDetail::M365DAdminDismissedDetection | RiskDetail::UserRegisteredPasskey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_event_type_round_trips_through_its_graph_spelling() {
        for (t, name, _) in EVENT_TYPES {
            assert_eq!(t.as_str(), *name);
            assert_eq!(&RiskEventType::parse(name), t);
            assert_eq!(serde_json::to_value(t).unwrap(), serde_json::json!(name));
        }
        let unknown: RiskEventType = serde_json::from_value(serde_json::json!("somethingNew")).unwrap();
        assert_eq!(unknown, RiskEventType::Other("somethingNew".into()));
        assert_eq!(unknown.as_str(), "somethingNew");
    }

    #[test]
    fn serde_spellings_match_as_str() {
        let details = [
            RiskDetail::None,
            RiskDetail::AdminGeneratedTemporaryPassword,
            RiskDetail::UserPerformedSecuredPasswordChange,
            RiskDetail::UserPerformedSecuredPasswordReset,
            RiskDetail::AdminConfirmedSigninSafe,
            RiskDetail::AiConfirmedSigninSafe,
            RiskDetail::UserPassedMfaDrivenByRiskBasedPolicy,
            RiskDetail::AdminDismissedAllRiskForUser,
            RiskDetail::AdminConfirmedSigninCompromised,
            RiskDetail::Hidden,
            RiskDetail::AdminConfirmedUserCompromised,
            RiskDetail::M365DAdminDismissedDetection,
            RiskDetail::UserRegisteredPasskey,
        ];
        for d in details {
            assert_eq!(serde_json::to_value(d).unwrap(), serde_json::json!(d.as_str()));
        }
        for s in [
            RiskState::None,
            RiskState::ConfirmedSafe,
            RiskState::Remediated,
            RiskState::Dismissed,
            RiskState::AtRisk,
            RiskState::ConfirmedCompromised,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        for l in [RiskLevel::None, RiskLevel::Low, RiskLevel::Medium, RiskLevel::High] {
            assert_eq!(serde_json::to_value(l).unwrap(), serde_json::json!(l.as_str()));
        }
    }
}
