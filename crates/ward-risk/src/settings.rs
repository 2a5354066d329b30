//! The detectors' thresholds, each with its default and the reason for it. Entra documents its
//! learning periods (entra-apis.md §3.2 catalogue) but not its thresholds; where Ward had to
//! choose, the comment says what the choice trades.

use time::Duration;

/// Every threshold the detectors and the risk model read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    pub unfamiliar: UnfamiliarSettings,
    pub travel: TravelSettings,
    pub spray: SpraySettings,
    pub profile: ProfileLimits,
    pub user_risk: UserRiskSettings,
}

/// Unfamiliar sign-in properties (`unfamiliarFeatures`, `newCountry`).
#[derive(Clone, Debug, PartialEq)]
pub struct UnfamiliarSettings {
    /// Entra learns for at least 5 days before it calls a property unfamiliar.
    pub learning_period: Duration,
    /// And Ward also wants this many successful sign-ins, so that a user who signed in once on
    /// day one is not judged on day six against a profile of one sign-in. Both must hold.
    pub learning_sign_ins: u32,
}

impl Default for UnfamiliarSettings {
    fn default() -> Self {
        UnfamiliarSettings { learning_period: Duration::days(5), learning_sign_ins: 5 }
    }
}

/// Atypical and impossible travel (`unlikelyTravel`, `impossibleTravel`).
#[derive(Clone, Debug, PartialEq)]
pub struct TravelSettings {
    /// Entra's atypical travel learns for the first 14 days or 10 sign-ins, whichever comes
    /// first; Ward does the same (learning ends at either).
    pub learning_period: Duration,
    pub learning_sign_ins: u32,
    /// Below this distance (after the locations' uncertainties are taken off) travel is never
    /// judged: neighbouring cities, a mobile network's exit in the next region.
    pub min_distance_km: f64,
    /// Faster than an airliner cruises (≈ 900 km/h): `unlikelyTravel`, medium. No allowance is
    /// made for airports, so a real trip is never slower than this rule assumes.
    pub unlikely_speed_kmh: f64,
    /// Faster than anything a passenger can take: `impossibleTravel`, high. In practice two
    /// places at once, which is a stolen credential or a VPN.
    pub impossible_speed_kmh: f64,
    /// The uncertainty of coordinates that come without an accuracy radius.
    pub default_uncertainty_km: f64,
    /// A sign-in whose country and network (ASN) the user has each used this many times is
    /// not judged for travel: it is the user's own VPN or second office, the false positive
    /// Entra's atypical travel learns to ignore.
    pub established_sightings: u32,
    /// Sign-ins closer together than this count as this far apart, so that speed stays finite.
    pub min_elapsed: Duration,
}

impl Default for TravelSettings {
    fn default() -> Self {
        TravelSettings {
            learning_period: Duration::days(14),
            learning_sign_ins: 10,
            min_distance_km: 500.0,
            unlikely_speed_kmh: 900.0,
            impossible_speed_kmh: 5_000.0,
            default_uncertainty_km: 50.0,
            established_sightings: 3,
            min_elapsed: Duration::minutes(1),
        }
    }
}

/// Password spray and brute force, and the memory their counters may use.
#[derive(Clone, Debug, PartialEq)]
pub struct SpraySettings {
    /// How far back failed attempts count.
    pub window: Duration,
    /// A spray: one password (fingerprint) tried against at least this many distinct accounts
    /// from one source network within the window. Distinct users rarely type the same wrong
    /// password, so a shared NAT full of mistyping users does not look like a spray.
    pub accounts_per_password: usize,
    /// Brute force: at least this many distinct wrong passwords against one account within the
    /// window, from anywhere. Distinct, so that a phone retrying a stale password every minute
    /// is not brute force, and a person mistyping three times is far below it.
    pub brute_force_distinct_passwords: usize,
    /// A source is a network, not an address: attackers rotate addresses within a /24 or a /64.
    pub source_prefix_v4: u8,
    pub source_prefix_v6: u8,
    /// At most this many source networks are tracked; beyond it the least recently active are
    /// forgotten (in two generations, so each costs O(1)).
    pub max_sources: usize,
    /// The most recent failures kept per source network.
    pub max_failures_per_source: usize,
    /// At most this many accounts' failures are tracked (for brute force).
    pub max_accounts: usize,
    pub max_failures_per_account: usize,
    /// A spray from a few networks (each under `accounts_per_password`): one password tried
    /// against at least this many distinct accounts within the window, from at least two
    /// networks. Twice the one-network threshold by default: spread thin, a spray must be wider
    /// to tell from coincidence.
    pub distributed_accounts_per_password: usize,
    /// At most this many passwords' failures are tracked (for sprays from a few networks), and
    /// the most recent failures kept per password.
    pub max_passwords: usize,
    pub max_failures_per_password: usize,
}

impl Default for SpraySettings {
    fn default() -> Self {
        SpraySettings {
            window: Duration::hours(1),
            accounts_per_password: 5,
            brute_force_distinct_passwords: 10,
            source_prefix_v4: 24,
            source_prefix_v6: 64,
            max_sources: 10_000,
            max_failures_per_source: 128,
            max_accounts: 20_000,
            max_failures_per_account: 64,
            distributed_accounts_per_password: 10,
            max_passwords: 10_000,
            max_failures_per_password: 128,
        }
    }
}

/// How much of a user's past the sign-in profile keeps. With the defaults the profile is a few
/// kilobytes of JSON, whatever the number of sign-ins.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileLimits {
    pub countries: usize,
    /// Autonomous systems (ASNs).
    pub networks: usize,
    pub devices: usize,
    /// Browser and operating-system families ("Chrome on Windows").
    pub browsers: usize,
    /// The last successful sign-ins kept with their location, for travel.
    pub recent_sign_ins: usize,
}

impl Default for ProfileLimits {
    fn default() -> Self {
        ProfileLimits { countries: 16, networks: 32, devices: 16, browsers: 8, recent_sign_ins: 8 }
    }
}

/// User risk: aggregation and decay.
#[derive(Clone, Debug, PartialEq)]
pub struct UserRiskSettings {
    /// A low or medium contribution loses one level per period after it was detected (medium:
    /// low after 30 days, gone after 60). High ones never decay: they wait for an administrator
    /// or a remediation, as in Entra.
    pub decay_period: Duration,
    /// Two medium contributions of different kinds within this window make the user high.
    pub corroboration_window: Duration,
    /// The contributions kept per user (the weakest and oldest go first).
    pub max_contributions: usize,
}

impl Default for UserRiskSettings {
    fn default() -> Self {
        UserRiskSettings { decay_period: Duration::days(30), corroboration_window: Duration::days(7), max_contributions: 32 }
    }
}
