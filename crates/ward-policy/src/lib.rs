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

/// A device's properties as filters and device controls read them, from Graph's JSON: a stored
/// `device` (extension attributes under `extensionAttributes`) or a what-if `deviceInfo` (at the
/// top level). Graph's device says `AzureAd` / `ServerAd`; rules and controls say `AzureAD` /
/// `ServerAD`.
pub fn device_attributes(d: &serde_json::Value) -> device_filter::DeviceAttributes {
    use serde_json::Value;
    let text = |k: &str| d.get(k).and_then(Value::as_str).map(str::to_string);
    let list = |k: &str| {
        d.get(k).and_then(Value::as_array).map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default()
    };
    let mut extension_attributes: [Option<String>; 15] = Default::default();
    for (i, slot) in extension_attributes.iter_mut().enumerate() {
        let name = format!("extensionAttribute{}", i + 1);
        *slot =
            d.get("extensionAttributes").and_then(|e| e.get(&name)).or_else(|| d.get(&name)).and_then(Value::as_str).map(str::to_string);
    }
    device_filter::DeviceAttributes {
        device_id: text("deviceId"),
        display_name: text("displayName"),
        manufacturer: text("manufacturer"),
        model: text("model"),
        operating_system: text("operatingSystem"),
        operating_system_version: text("operatingSystemVersion"),
        enrollment_profile_name: text("enrollmentProfileName"),
        extension_attributes,
        device_ownership: text("deviceOwnership"),
        is_compliant: d.get("isCompliant").and_then(Value::as_bool),
        is_managed: d.get("isManaged").and_then(Value::as_bool),
        mdm_app_id: text("mdmAppId"),
        physical_ids: list("physicalIds"),
        system_labels: list("systemLabels"),
        profile_type: text("profileType"),
        trust_type: text("trustType").map(|t| match t.as_str() {
            "AzureAd" => "AzureAD".to_string(),
            "ServerAd" => "ServerAD".to_string(),
            _ => t,
        }),
    }
}

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
