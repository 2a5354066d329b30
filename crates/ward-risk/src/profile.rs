//! A user's sign-in profile: what the real-time detectors compare a sign-in with. Bounded (the
//! familiar countries, networks, devices and browsers, and the last few sign-ins' locations),
//! stored by the caller as one JSON document per user and replaced after each sign-in by
//! [`SignInProfile::update`], so that no detector ever reads the sign-in history.

use crate::geo::{Position, country_position};
use crate::settings::{ProfileLimits, TravelSettings};
use crate::signin::SignInFacts;
use crate::vocabulary::RiskLevel;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use time::OffsetDateTime;

/// Something the user has used: when first and last, and how often.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Familiar<T> {
    pub value: T,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    pub count: u32,
}

/// A successful sign-in remembered for travel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentSignIn {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub ip: Option<IpAddr>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub accuracy_km: Option<f64>,
}

impl RecentSignIn {
    /// Its coordinates, or else its country's approximate position.
    pub fn position(&self, settings: &TravelSettings) -> Option<Position> {
        locate(self.latitude, self.longitude, self.accuracy_km, self.country.as_deref(), settings)
    }
}

/// Coordinates when valid (with their accuracy, or the default uncertainty), else the country.
pub(crate) fn locate(
    latitude: Option<f64>,
    longitude: Option<f64>,
    accuracy_km: Option<f64>,
    country: Option<&str>,
    settings: &TravelSettings,
) -> Option<Position> {
    let from_coordinates = match (latitude, longitude) {
        (Some(lat), Some(lon)) => Position::new(lat, lon, accuracy_km.unwrap_or(settings.default_uncertainty_km)),
        _ => None,
    };
    from_coordinates.or_else(|| country.and_then(country_position))
}

/// How a sign-in ended, which decides whether it may teach the profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignInOutcome {
    /// The sign-in completed (every factor, every policy).
    pub success: bool,
    /// The sign-in risk it was evaluated at.
    pub risk: RiskLevel,
    /// The user passed multi-factor authentication during it.
    pub mfa_performed: bool,
}

impl SignInOutcome {
    /// Only a completed sign-in teaches, and only one that was not risky or whose risk the user
    /// cleared with MFA: otherwise an attacker's first successful sign-in would make the
    /// attacker's country, network and device familiar.
    pub fn teaches(&self) -> bool {
        self.success && (self.risk <= RiskLevel::Low || self.mfa_performed)
    }
}

/// What the detectors know about a user's habits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SignInProfile {
    /// The first sign-in the profile learnt from: the learning periods count from it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub first_sign_in_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_sign_in_at: Option<OffsetDateTime>,
    /// Successful sign-ins learnt from (saturating).
    pub sign_ins: u32,
    /// ISO 3166-1 alpha-2 codes, upper case.
    pub countries: Vec<Familiar<String>>,
    /// Autonomous system numbers.
    pub networks: Vec<Familiar<u32>>,
    pub devices: Vec<Familiar<String>>,
    /// See [`browser_family`].
    pub browsers: Vec<Familiar<String>>,
    /// Oldest first.
    pub recent: Vec<RecentSignIn>,
}

/// Device ids longer than this are cut (they are GUIDs; the bound keeps a hostile value from
/// growing the document).
const MAX_VALUE_LEN: usize = 128;

impl SignInProfile {
    /// The profile after a sign-in. A sign-in that does not teach (see
    /// [`SignInOutcome::teaches`]) leaves it unchanged. Each list keeps at most its limit: when
    /// a new value arrives at a full list, the least recently seen value goes.
    pub fn update(&self, facts: &SignInFacts, outcome: SignInOutcome, limits: &ProfileLimits) -> SignInProfile {
        let mut p = self.clone();
        if !outcome.teaches() {
            return p;
        }
        let at = facts.at;
        p.first_sign_in_at = Some(p.first_sign_in_at.map_or(at, |f| f.min(at)));
        p.last_sign_in_at = Some(p.last_sign_in_at.map_or(at, |l| l.max(at)));
        p.sign_ins = p.sign_ins.saturating_add(1);
        if let Some(c) = facts.country_code() {
            remember(&mut p.countries, c, at, limits.countries);
        }
        if let Some(asn) = facts.asn {
            remember(&mut p.networks, asn, at, limits.networks);
        }
        if let Some(d) = facts.device() {
            remember(&mut p.devices, d, at, limits.devices);
        }
        if let Some(b) = facts.user_agent.as_deref().map(browser_family) {
            remember(&mut p.browsers, b, at, limits.browsers);
        }
        if limits.recent_sign_ins > 0 {
            let recent = RecentSignIn {
                at,
                ip: facts.ip,
                country: facts.country_code(),
                city: facts.city.as_deref().map(clip),
                latitude: facts.latitude,
                longitude: facts.longitude,
                accuracy_km: facts.accuracy_km,
            };
            let i = p.recent.partition_point(|r| r.at <= at);
            p.recent.insert(i, recent);
            let excess = p.recent.len().saturating_sub(limits.recent_sign_ins);
            p.recent.drain(..excess);
        }
        p
    }

    pub fn knows_country(&self, country: &str) -> bool {
        self.countries.iter().any(|f| f.value.eq_ignore_ascii_case(country))
    }

    pub fn knows_network(&self, asn: u32) -> bool {
        self.networks.iter().any(|f| f.value == asn)
    }

    pub fn knows_device(&self, device_id: &str) -> bool {
        self.devices.iter().any(|f| f.value == device_id)
    }

    pub fn knows_browser(&self, family: &str) -> bool {
        self.browsers.iter().any(|f| f.value == family)
    }

    /// Whether the country was used at least `sightings` times.
    pub fn country_established(&self, country: &str, sightings: u32) -> bool {
        self.countries.iter().any(|f| f.value.eq_ignore_ascii_case(country) && f.count >= sightings)
    }

    pub fn network_established(&self, asn: u32, sightings: u32) -> bool {
        self.networks.iter().any(|f| f.value == asn && f.count >= sightings)
    }

    /// How long the profile has been learning, at `now`.
    pub fn learning_for(&self, now: OffsetDateTime) -> time::Duration {
        self.first_sign_in_at.map_or(time::Duration::ZERO, |f| now - f)
    }
}

fn remember<T: PartialEq>(list: &mut Vec<Familiar<T>>, value: T, at: OffsetDateTime, limit: usize) {
    if let Some(f) = list.iter_mut().find(|f| f.value == value) {
        f.first_seen = f.first_seen.min(at);
        f.last_seen = f.last_seen.max(at);
        f.count = f.count.saturating_add(1);
        return;
    }
    if limit == 0 {
        return;
    }
    while list.len() >= limit {
        // The least recently seen goes; among equals, the least used.
        let Some((oldest, _)) = list.iter().enumerate().min_by_key(|(_, f)| (f.last_seen, f.count)) else { break };
        list.remove(oldest);
    }
    list.push(Familiar { value, first_seen: at, last_seen: at, count: 1 });
}

pub(crate) fn clip(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(MAX_VALUE_LEN) {
        Some((cut, _)) => s[..cut].to_string(),
        None => s.to_string(),
    }
}

/// A user agent reduced to its browser and operating-system families ("Chrome on Windows"),
/// which change when a different person or tool signs in and not when a browser updates.
/// Something that is no browser is named by its first product token ("python-requests").
pub fn browser_family(user_agent: &str) -> String {
    let ua = user_agent.trim();
    let has = |s: &str| ua.contains(s);
    let os = if has("Windows") {
        "Windows"
    } else if has("iPhone") || has("iPad") || has("iPod") {
        "iOS"
    } else if has("Android") {
        "Android"
    } else if has("CrOS") {
        "ChromeOS"
    } else if has("Macintosh") || has("Mac OS X") {
        "macOS"
    } else if has("Linux") {
        "Linux"
    } else {
        "other"
    };
    let browser = if has("Edg/") || has("Edge/") || has("EdgA/") || has("EdgiOS/") {
        "Edge"
    } else if has("OPR/") || has("Opera") {
        "Opera"
    } else if has("SamsungBrowser/") {
        "Samsung Internet"
    } else if has("Firefox/") || has("FxiOS/") {
        "Firefox"
    } else if has("Chrome/") || has("CriOS/") || has("Chromium/") {
        "Chrome"
    } else if has("Safari/") {
        "Safari"
    } else {
        let token = ua.split([' ', '/']).next().unwrap_or("");
        let token: String = token.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.').take(32).collect();
        return if token.is_empty() { "unknown".to_string() } else { token };
    };
    format!("{browser} on {os}")
}

#[cfg(test)]
mod tests {
    use super::browser_family;

    #[test]
    fn browser_families_ignore_versions_and_tell_tools_apart() {
        let chrome_win = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36";
        let chrome_win_next =
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36";
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36 Edg/127.0.2651.74";
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        let android = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Mobile Safari/537.36";
        let firefox_mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(browser_family(chrome_win), "Chrome on Windows");
        assert_eq!(browser_family(chrome_win), browser_family(chrome_win_next));
        assert_eq!(browser_family(edge), "Edge on Windows");
        assert_eq!(browser_family(iphone), "Safari on iOS");
        assert_eq!(browser_family(android), "Chrome on Android");
        assert_eq!(browser_family(firefox_mac), "Firefox on macOS");
        assert_eq!(browser_family("python-requests/2.31.0"), "python-requests");
        assert_eq!(browser_family("curl/8.5.0"), "curl");
        assert_eq!(browser_family(""), "unknown");
    }
}
