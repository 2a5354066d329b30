//! Ward's Identity Protection, from the outside: each detector on sequences that must raise it
//! and sequences that must not, the travel arithmetic, the feeds and the leaked-password file,
//! the spray counters, the user-risk lifecycle and Graph's JSON. One test binary (house style).

mod feeds;
mod graph;
mod leaked;
mod profile;
mod signin;
mod spray;
mod travel;
mod user_risk;

use std::net::IpAddr;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use ward_core::ObjectId;
use ward_risk::*;

pub fn at(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap()
}

pub fn user(n: u8) -> ObjectId {
    format!("{n:02x}111111-1111-1111-1111-111111111111").parse().unwrap()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub const CHROME_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36";
pub const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

/// A place: country, city, coordinates, an ISP's ASN and an address there.
#[derive(Clone, Copy)]
pub struct Place {
    pub country: &'static str,
    pub city: &'static str,
    pub lat: f64,
    pub lon: f64,
    pub asn: u32,
    pub ip: &'static str,
}

pub const LONDON: Place = Place { country: "GB", city: "London", lat: 51.5074, lon: -0.1278, asn: 2856, ip: "81.2.69.160" };
pub const MANCHESTER: Place = Place { country: "GB", city: "Manchester", lat: 53.4808, lon: -2.2426, asn: 2856, ip: "81.2.70.10" };
pub const PARIS: Place = Place { country: "FR", city: "Paris", lat: 48.8566, lon: 2.3522, asn: 3215, ip: "90.84.1.1" };
pub const NEW_YORK: Place = Place { country: "US", city: "New York", lat: 40.7128, lon: -74.0060, asn: 7922, ip: "73.1.2.3" };
pub const SYDNEY: Place = Place { country: "AU", city: "Sydney", lat: -33.8688, lon: 151.2093, asn: 1221, ip: "1.128.0.1" };
pub const TOKYO: Place = Place { country: "JP", city: "Tokyo", lat: 35.6762, lon: 139.6503, asn: 2516, ip: "106.128.0.1" };

/// A sign-in by `who` at `place` and `when`, from the user's laptop.
pub fn sign_in(who: ObjectId, place: Place, when: OffsetDateTime) -> SignInFacts {
    let mut f = SignInFacts::new(who, when);
    f.ip = Some(ip(place.ip));
    f.country = Some(place.country.into());
    f.city = Some(place.city.into());
    f.latitude = Some(place.lat);
    f.longitude = Some(place.lon);
    f.asn = Some(place.asn);
    f.device_id = Some("laptop-1".into());
    f.user_agent = Some(CHROME_WINDOWS.into());
    f.request_id = Some("req-1".into());
    f
}

pub fn clean() -> SignInOutcome {
    SignInOutcome { success: true, risk: RiskLevel::None, mfa_performed: false }
}

/// A profile that learnt from `count` daily sign-ins at `place`, the last one at `last`.
pub fn learnt_profile(who: ObjectId, place: Place, count: i64, last: OffsetDateTime) -> SignInProfile {
    let mut p = SignInProfile::default();
    for i in (0..count).rev() {
        p = p.update(&sign_in(who, place, last - Duration::days(i)), clean(), &ProfileLimits::default());
    }
    p
}

pub fn evaluate(facts: &SignInFacts, profile: &SignInProfile) -> SignInEvaluation {
    let settings = Settings::default();
    evaluate_sign_in(facts, profile, &Feeds::empty(), &SourceCounters::new(&settings.spray), &settings)
}

pub fn types(e: &SignInEvaluation) -> Vec<&str> {
    e.detections.iter().map(|d| d.event_type.as_str()).collect()
}

/// A tiny deterministic generator for property tests.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
