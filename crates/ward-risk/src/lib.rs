//! Identity Protection (entra-apis.md §3): the risk detections Ward raises during and after
//! sign-in, the bounded per-user profile and per-source counters the real-time detectors read,
//! the address feeds and the leaked-password file they consult, the user-risk lifecycle, and
//! Graph's JSON for all of it. Pure: no I/O, no clock (time is an argument), no async.
//!
//! The sign-in path: build [`SignInFacts`] once the first factor is verified, call
//! [`evaluate_sign_in`] with the user's [`SignInProfile`], the [`Feeds`] and the
//! [`SourceCounters`]; feed `sign_in_risk` to conditional access; store the detections and
//! apply them to the user's [`UserRisk`]; when the sign-in ends, store
//! [`SignInProfile::update`]'s result. A wrong password goes to
//! [`SourceCounters::record_failure`] instead.

mod detection;
mod feeds;
pub mod geo;
pub mod geoip;
mod graph;
mod leaked;
#[cfg(any(test, feature = "mmdb-writer"))]
pub mod mmdb_writer;
mod profile;
mod settings;
mod signin;
mod spray;
pub mod travel;
mod user_risk;
mod vocabulary;

pub use detection::{Detection, SignInLocation, admin_confirmed_compromise, leaked_credentials, partner_reported_compromise};
pub use feeds::{CidrSet, FeedError, Feeds, canonical};
pub use geoip::{GeoError, GeoFacts, GeoIp};
pub use graph::{DETECTION_SOURCE, UserLabel, history_item_json, risk_detection_json, risky_user_json};
pub use leaked::{LeakedFileError, LeakedPasswords, LeakedPasswordsBuilder, Sha1Digest, sha1_from_hex};
pub use profile::{Familiar, RecentSignIn, SignInOutcome, SignInProfile, browser_family};
pub use settings::{ProfileLimits, Settings, SpraySettings, TravelSettings, UnfamiliarSettings, UserRiskSettings};
pub use signin::{SignInEvaluation, SignInFacts, evaluate_sign_in, unfamiliar_learnt};
pub use spray::{
    AccountKey, BruteForceAssessment, PasswordAttempt, PasswordFingerprint, SourceCounters, SourceNetwork, SprayAssessment, SpreadSpray,
    detect_password_attacks,
};
pub use travel::{TravelJudgement, TravelVerdict, Waypoint, detect_travel, judge_travel, travel_learnt};
pub use user_risk::{Contribution, Remediation, RiskTransition, RiskyUserHistoryItem, Settlement, UserRisk, contribution_level};
pub use vocabulary::{Activity, DetectionTiming, RiskDetail, RiskEventType, RiskLevel, RiskState};
