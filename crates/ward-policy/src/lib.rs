//! Conditional access (entra-apis.md §2): the policy and named-location model in Graph's JSON
//! shapes, and one evaluator `(policies, sign-in facts) -> decision` with a per-policy
//! explanation, serving enforcement, report-only and what-if alike. Pure: no I/O, no clock.

pub mod device_filter;
mod eval;
mod locations;
mod model;
mod parse;

pub use eval::{
    Decision, DeviceFact, Evaluation, Facts, Need, PolicyOutcome, PolicyResult, PolicySet, PolicySummary, Reasons, SessionEffect,
    StrengthLevel, Subject,
};
pub use locations::{IpIndex, LocationKind, MAX_RANGES, NamedLocation, location_json, parse_location};
pub use model::*;
pub use parse::{MAX_LIST_LEN, PolicyError, merge, parse_policy, policy_json, stored_policy, strip_annotations};

/// The device platform a `User-Agent` names (an unverified signal, as in Entra), if any.
pub fn platform_of(user_agent: &str) -> Option<Platform> {
    let has = |s: &str| user_agent.contains(s);
    if has("Windows Phone") {
        Some(Platform::WindowsPhone)
    } else if has("Android") {
        Some(Platform::Android)
    } else if has("iPhone") || has("iPad") || has("iPod") {
        Some(Platform::IOs)
    } else if has("Windows") {
        Some(Platform::Windows)
    } else if has("Macintosh") || has("Mac OS X") {
        Some(Platform::MacOs)
    } else if has("Linux") || has("X11") || has("CrOS") {
        Some(Platform::Linux)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_come_from_user_agents() {
        let cases = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36", Some(Platform::Windows)),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", Some(Platform::IOs)),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36", Some(Platform::Android)),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15", Some(Platform::MacOs)),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36", Some(Platform::Linux)),
            ("Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) Edge/15.14977", Some(Platform::WindowsPhone)),
            ("python-requests/2.32", None),
        ];
        for (agent, platform) in cases {
            assert_eq!(platform_of(agent), platform, "{agent}");
        }
    }
}
