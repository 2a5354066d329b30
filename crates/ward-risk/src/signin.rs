//! The real-time detectors: what is known about a sign-in once its first factor is verified,
//! and [`evaluate_sign_in`], which compares it with the user's profile, the address feeds and
//! the failure counters, and returns the detections and the sign-in risk for conditional
//! access. Its cost is bounded by the profile's and counters' limits, never by history.

use crate::detection::{Detection, SignInLocation, leaked_credentials};
use crate::feeds::Feeds;
use crate::geo::Position;
use crate::leaked::Sha1Digest;
use crate::profile::{SignInProfile, browser_family, clip, locate};
use crate::settings::{Settings, TravelSettings};
use crate::spray::{AccountKey, PasswordFingerprint, SourceCounters, SourceNetwork, brute_force_detection, spray_detection};
use crate::travel::travel_check;
use crate::vocabulary::{Activity, DetectionTiming, RiskEventType, RiskLevel};
use serde_json::json;
use std::net::IpAddr;
use time::OffsetDateTime;
use ward_core::ObjectId;

/// A sign-in attempt as the detectors see it. Location fields come from the caller's
/// geolocation (an MMDB or the embedded country table); any may be missing. Its `Debug` leaves
/// out what is derived from the password.
#[derive(Clone, PartialEq)]
pub struct SignInFacts {
    pub user: ObjectId,
    pub at: OffsetDateTime,
    pub ip: Option<IpAddr>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub state: Option<String>,
    pub city: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// The geolocation's accuracy radius, when it gives one.
    pub accuracy_km: Option<f64>,
    /// The autonomous system the address belongs to.
    pub asn: Option<u32>,
    /// A registered device's id, when the sign-in proved one.
    pub device_id: Option<String>,
    pub user_agent: Option<String>,
    /// Set when the first factor was a password (and it was right): its fingerprint for the
    /// spray counters and its SHA-1 for the leaked-password file. `None` for passwordless.
    pub password_fingerprint: Option<PasswordFingerprint>,
    pub password_sha1: Option<Sha1Digest>,
    pub request_id: Option<String>,
    pub correlation_id: Option<String>,
}

impl std::fmt::Debug for SignInFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |present: bool| if present { Some("(redacted)") } else { None };
        f.debug_struct("SignInFacts")
            .field("user", &self.user)
            .field("at", &self.at)
            .field("ip", &self.ip)
            .field("country", &self.country)
            .field("state", &self.state)
            .field("city", &self.city)
            .field("latitude", &self.latitude)
            .field("longitude", &self.longitude)
            .field("accuracy_km", &self.accuracy_km)
            .field("asn", &self.asn)
            .field("device_id", &self.device_id)
            .field("user_agent", &self.user_agent)
            .field("password_fingerprint", &redacted(self.password_fingerprint.is_some()))
            .field("password_sha1", &redacted(self.password_sha1.is_some()))
            .field("request_id", &self.request_id)
            .field("correlation_id", &self.correlation_id)
            .finish()
    }
}

impl SignInFacts {
    /// A sign-in with nothing known but who and when.
    pub fn new(user: ObjectId, at: OffsetDateTime) -> SignInFacts {
        SignInFacts {
            user,
            at,
            ip: None,
            country: None,
            state: None,
            city: None,
            latitude: None,
            longitude: None,
            accuracy_km: None,
            asn: None,
            device_id: None,
            user_agent: None,
            password_fingerprint: None,
            password_sha1: None,
            request_id: None,
            correlation_id: None,
        }
    }

    /// Takes the location and network a geolocation look-up found for the address.
    pub fn place(&mut self, found: crate::geoip::GeoFacts) {
        self.country = found.country;
        self.state = found.state;
        self.city = found.city;
        self.latitude = found.latitude;
        self.longitude = found.longitude;
        self.accuracy_km = found.accuracy_km;
        self.asn = found.asn;
    }

    /// The country, upper case, if it looks like an ISO code (two letters).
    pub fn country_code(&self) -> Option<String> {
        let c = self.country.as_deref()?.trim();
        (c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic())).then(|| c.to_ascii_uppercase())
    }

    pub(crate) fn device(&self) -> Option<String> {
        self.device_id.as_deref().map(clip).filter(|d| !d.is_empty())
    }

    /// Where the sign-in was: coordinates if valid, else the country's approximate position.
    pub fn position(&self, settings: &TravelSettings) -> Option<Position> {
        locate(self.latitude, self.longitude, self.accuracy_km, self.country_code().as_deref(), settings)
    }

    /// A detection about this sign-in, stamped with its address, location and ids.
    pub fn detection(&self, event_type: RiskEventType, level: RiskLevel, timing: DetectionTiming) -> Detection {
        let mut d = Detection::new(event_type, level, timing, self.user, self.at);
        d.ip = self.ip;
        d.request_id = self.request_id.clone();
        d.correlation_id = self.correlation_id.clone();
        let location = SignInLocation {
            city: self.city.clone(),
            state: self.state.clone(),
            country_or_region: self.country_code(),
            latitude: self.latitude,
            longitude: self.longitude,
        };
        if location != SignInLocation::default() {
            d.location = Some(location);
        }
        if let Some(ua) = &self.user_agent {
            d = d.with_info("userAgent", json!(ua));
        }
        d
    }
}

/// What the real-time detectors found.
#[derive(Clone, Debug, PartialEq)]
pub struct SignInEvaluation {
    /// Sign-in and user detections, to be stored; the user ones also go to the user's risk.
    pub detections: Vec<Detection>,
    /// The sign-in risk for conditional access: the highest level among the real-time sign-in
    /// detections. Offline-typed ones (`newCountry`) and user detections (`leakedCredentials`)
    /// feed the user's risk instead.
    pub sign_in_risk: RiskLevel,
}

/// Evaluates a sign-in whose first factor was verified, before conditional access. Rules:
/// - an address on the anonymizer feed → `anonymizedIPAddress`, medium; on the malicious feed
///   → `maliciousIPAddress`, high;
/// - once the profile has learnt (5 days and 5 sign-ins by default), each of country, network
///   (ASN) and device the profile does not know is unfamiliar; a new browser family counts too,
///   but only beside another → `unfamiliarFeatures`, low for one, medium for two or more
///   (a new country nearly always brings a new network, so it alone is medium), with Entra's
///   `riskReasons`; a new country also → `newCountry`, low, offline-typed;
/// - travel (see [`crate::travel`]) → `unlikelyTravel` medium or `impossibleTravel` high; not
///   judged from an anonymizer, whose location says nothing about the user;
/// - a password tried from the same source network against enough other accounts within the
///   window, or from a few networks against twice as many → `passwordSpray`, high; enough distinct wrong passwords on this account within the
///   window → brute force (`investigationsThreatIntelligence`, `riskReasons: ["bruteForce"]`),
///   medium, unless the sign-in comes from the user's usual network and device or browser;
/// - the password in the leaked-password file → `leakedCredentials`, high (a user detection).
pub fn evaluate_sign_in(
    facts: &SignInFacts,
    profile: &SignInProfile,
    feeds: &Feeds,
    counters: &SourceCounters,
    settings: &Settings,
) -> SignInEvaluation {
    let mut detections = Vec::new();
    let anonymous = facts.ip.is_some_and(|ip| feeds.anonymous_ips.contains(ip));
    if anonymous {
        detections.push(facts.detection(RiskEventType::AnonymizedIpAddress, RiskLevel::Medium, DetectionTiming::Realtime));
    }
    if facts.ip.is_some_and(|ip| feeds.malicious_ips.contains(ip)) {
        detections.push(facts.detection(RiskEventType::MaliciousIpAddress, RiskLevel::High, DetectionTiming::Realtime));
    }
    detections.extend(unfamiliar(facts, profile, settings));
    if !anonymous && let Some(d) = travel_check(facts, profile, &settings.travel, DetectionTiming::Realtime) {
        detections.push(d);
    }
    if let Some(password) = facts.password_fingerprint {
        if let Some(ip) = facts.ip {
            let me = AccountKey::User(facts.user);
            let others = counters.accounts_tried_with(ip, password, me, facts.at);
            if others + 1 >= settings.spray.accounts_per_password {
                let source = SourceNetwork::of(ip, &settings.spray);
                detections.push(stamp(spray_detection(facts.user, facts.at, source, others + 1), facts));
            } else if let Some(spread) = counters.spread_of(password, me, facts.at)
                && spread.accounts + 1 >= settings.spray.distributed_accounts_per_password
            {
                // The same password failed on many accounts from a few networks, then opened this
                // one: a spray spread thin.
                let source = SourceNetwork::of(ip, &settings.spray);
                let found =
                    spray_detection(facts.user, facts.at, source, spread.accounts + 1).with_info("networks", json!(spread.networks));
                detections.push(stamp(found, facts));
            }
        }
        if let Some(b) = counters.assess_account(facts.user, facts.at)
            && !looks_like_the_user(facts, profile, settings)
        {
            detections.push(stamp(brute_force_detection(facts.user, facts.at, b.distinct_passwords), facts));
        }
    }
    if facts.password_sha1.is_some_and(|sha1| feeds.leaked_passwords.contains(&sha1)) {
        let mut d = leaked_credentials(facts.user, facts.at);
        d.request_id = facts.request_id.clone();
        d.correlation_id = facts.correlation_id.clone();
        detections.push(d);
    }
    let sign_in_risk = detections
        .iter()
        .filter(|d| d.activity == Activity::SignIn && d.timing == DetectionTiming::Realtime)
        .map(|d| d.level)
        .max()
        .unwrap_or(RiskLevel::None);
    SignInEvaluation { detections, sign_in_risk }
}

/// The right password after someone else's failures is still the user when it comes from a
/// network the user uses often (the travel rule's `established_sightings`) on a device or
/// browser the user knows; brute force is not raised then.
fn looks_like_the_user(facts: &SignInFacts, profile: &SignInProfile, settings: &Settings) -> bool {
    let usual_network = facts.asn.is_some_and(|asn| profile.network_established(asn, settings.travel.established_sightings));
    let known_device = facts.device().is_some_and(|d| profile.knows_device(&d));
    let known_browser = facts.user_agent.as_deref().is_some_and(|ua| profile.knows_browser(&browser_family(ua)));
    usual_network && (known_device || known_browser)
}

/// A detector's finding with the sign-in's address, location and ids added.
fn stamp(found: Detection, facts: &SignInFacts) -> Detection {
    let mut d = facts.detection(found.event_type.clone(), found.level, found.timing);
    d.additional_info.extend(found.additional_info);
    d
}

/// Whether unfamiliar properties are judged yet: both the learning period and the learning
/// sign-ins must be behind the profile.
pub fn unfamiliar_learnt(profile: &SignInProfile, now: OffsetDateTime, settings: &Settings) -> bool {
    let s = &settings.unfamiliar;
    profile.first_sign_in_at.is_some() && profile.learning_for(now) >= s.learning_period && profile.sign_ins >= s.learning_sign_ins
}

fn unfamiliar(facts: &SignInFacts, profile: &SignInProfile, settings: &Settings) -> Vec<Detection> {
    if !unfamiliar_learnt(profile, facts.at, settings) {
        return Vec::new();
    }
    let country = facts.country_code().filter(|c| !profile.knows_country(c));
    let mut reasons = Vec::new();
    if country.is_some() {
        reasons.push("UnfamiliarLocation");
    }
    if facts.asn.is_some_and(|asn| !profile.knows_network(asn)) {
        reasons.push("UnfamiliarASN");
    }
    if facts.device().is_some_and(|d| !profile.knows_device(&d)) {
        reasons.push("UnfamiliarDevice");
    }
    // A new country nearly always comes with a new network, which an address-only deployment
    // (no ASN database) cannot see: it counts for two.
    let mut strength = reasons.len() + usize::from(country.is_some());
    if strength > 0 && facts.user_agent.as_deref().is_some_and(|ua| !profile.knows_browser(&browser_family(ua))) {
        reasons.push("UnfamiliarBrowser");
        strength += 1;
    }
    if strength == 0 {
        return Vec::new();
    }
    let level = if strength >= 2 { RiskLevel::Medium } else { RiskLevel::Low };
    let mut found =
        vec![facts.detection(RiskEventType::UnfamiliarFeatures, level, DetectionTiming::Realtime).with_info("riskReasons", json!(reasons))];
    if let Some(c) = country {
        found.push(facts.detection(RiskEventType::NewCountry, RiskLevel::Low, DetectionTiming::Offline).with_info("country", json!(c)));
    }
    found
}
