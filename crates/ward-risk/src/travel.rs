//! Atypical and impossible travel: the speed a user would have needed between two successful
//! sign-ins, judged against the profile's recent sign-ins in real time and over a user's
//! recorded sign-ins offline.

use crate::detection::Detection;
use crate::geo::Position;
use crate::profile::{SignInOutcome, SignInProfile};
use crate::settings::{Settings, TravelSettings};
use crate::signin::SignInFacts;
use crate::vocabulary::{DetectionTiming, RiskEventType, RiskLevel};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A place at a time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Waypoint {
    pub at: OffsetDateTime,
    pub position: Position,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TravelVerdict {
    Plausible,
    /// Faster than an airliner: `unlikelyTravel`, medium.
    Unlikely,
    /// Faster than anything a passenger can take: `impossibleTravel`, high.
    Impossible,
}

/// How two waypoints compare.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TravelJudgement {
    /// The least distance between the two, uncertainties taken off.
    pub distance_km: f64,
    pub elapsed_hours: f64,
    pub speed_kmh: f64,
    pub verdict: TravelVerdict,
}

/// Judges the trip between two waypoints, in either order. Below `min_distance_km` (after the
/// uncertainties) a trip is always plausible, however quick.
pub fn judge_travel(from: &Waypoint, to: &Waypoint, settings: &TravelSettings) -> TravelJudgement {
    let distance_km = from.position.least_distance_km(&to.position);
    let elapsed = (to.at - from.at).abs().max(settings.min_elapsed);
    let elapsed_hours = elapsed.as_seconds_f64() / 3600.0;
    let speed_kmh = distance_km / elapsed_hours;
    let verdict = if distance_km < settings.min_distance_km {
        TravelVerdict::Plausible
    } else if speed_kmh >= settings.impossible_speed_kmh {
        TravelVerdict::Impossible
    } else if speed_kmh >= settings.unlikely_speed_kmh {
        TravelVerdict::Unlikely
    } else {
        TravelVerdict::Plausible
    };
    TravelJudgement { distance_km, elapsed_hours, speed_kmh, verdict }
}

/// Whether travel is judged for this profile yet: after the learning period or the learning
/// sign-ins, whichever comes first (Entra: "first 14 days or 10 sign-ins").
pub fn travel_learnt(profile: &SignInProfile, now: OffsetDateTime, settings: &TravelSettings) -> bool {
    profile.first_sign_in_at.is_some()
        && (profile.learning_for(now) >= settings.learning_period || profile.sign_ins >= settings.learning_sign_ins)
}

/// The travel detection for a sign-in against the profile's recent successful sign-ins, if any:
/// the fastest trip from any of them decides. Not judged while learning, without a position,
/// or from a country and network the user has each used often (their VPN or second office).
pub(crate) fn travel_check(
    facts: &SignInFacts,
    profile: &SignInProfile,
    settings: &TravelSettings,
    timing: DetectionTiming,
) -> Option<Detection> {
    if !travel_learnt(profile, facts.at, settings) {
        return None;
    }
    let here = Waypoint { at: facts.at, position: facts.position(settings)? };
    let familiar_country = facts.country_code().is_some_and(|c| profile.country_established(&c, settings.established_sightings));
    let familiar_network = facts.asn.is_none_or(|asn| profile.network_established(asn, settings.established_sightings));
    if familiar_country && familiar_network {
        return None;
    }
    let (previous, judgement) = profile
        .recent
        .iter()
        .filter_map(|r| Some((r, judge_travel(&Waypoint { at: r.at, position: r.position(settings)? }, &here, settings))))
        .max_by(|a, b| a.1.verdict.cmp(&b.1.verdict).then(a.1.speed_kmh.total_cmp(&b.1.speed_kmh)))?;
    let (event_type, level) = match judgement.verdict {
        TravelVerdict::Plausible => return None,
        TravelVerdict::Unlikely => (RiskEventType::UnlikelyTravel, RiskLevel::Medium),
        TravelVerdict::Impossible => (RiskEventType::ImpossibleTravel, RiskLevel::High),
    };
    let related_location = json!({
        "clientCity": previous.city,
        "clientCountryCode": previous.country,
        "latitude": previous.latitude,
        "longitude": previous.longitude,
    });
    let mut d = facts
        .detection(event_type, level, timing)
        .with_info("relatedEventTimeInUtc", json!(previous.at.format(&Rfc3339).unwrap_or_default()))
        .with_info("relatedLocation", related_location)
        .with_info("distanceKm", json!(judgement.distance_km.round()))
        .with_info("speedKmh", json!(judgement.speed_kmh.round()));
    if let Some(ip) = previous.ip {
        d = d.with_info("relatedClientIp", json!(ip.to_string()));
    }
    Some(d)
}

/// The offline pass over one user's recorded successful sign-ins (any order): replays them
/// through the profile as the real-time path would, so the rules are the same, and reports the
/// travel detections as `offline`, noticed `now`. Start from the user's profile as it stood
/// before the first of them, or from a default profile whose `first_sign_in_at` says since when
/// the user is known (otherwise the first 14 days of the records are a learning period).
pub fn detect_travel(start: &SignInProfile, sign_ins: &[SignInFacts], settings: &Settings, now: OffsetDateTime) -> Vec<Detection> {
    let mut ordered: Vec<&SignInFacts> = sign_ins.iter().collect();
    ordered.sort_by_key(|f| f.at);
    let mut profile = start.clone();
    let mut detections = Vec::new();
    for facts in ordered {
        let found = travel_check(facts, &profile, &settings.travel, DetectionTiming::Offline);
        let risk = found.as_ref().map_or(RiskLevel::None, |d| d.level);
        profile = profile.update(facts, SignInOutcome { success: true, risk, mfa_performed: false }, &settings.profile);
        if let Some(mut d) = found {
            d.detected_at = now;
            d.last_updated_at = now;
            detections.push(d);
        }
    }
    detections
}
