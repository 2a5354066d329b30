//! Named locations (§2.6): `ipNamedLocation` and `countryNamedLocation`, and an index that finds
//! every location an address falls in with one binary search.

use crate::parse::{MAX_NAME_LEN, PolicyError, strip_annotations};
use ipnet::IpNet;
use serde_json::{Value, json};
use std::net::IpAddr;

/// Most ranges in one `ipNamedLocation` (Entra's limit).
pub const MAX_RANGES: usize = 2000;

#[derive(Clone, Debug, PartialEq)]
pub struct NamedLocation {
    pub id: String,
    pub display_name: String,
    pub created_date_time: Option<String>,
    pub modified_date_time: Option<String>,
    pub kind: LocationKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LocationKind {
    Ip { is_trusted: bool, ranges: Vec<IpNet> },
    Country { countries: Vec<String>, include_unknown: bool },
}

impl NamedLocation {
    pub fn is_trusted(&self) -> bool {
        matches!(self.kind, LocationKind::Ip { is_trusted: true, .. })
    }
}

const IP_TYPE: &str = "#microsoft.graph.ipNamedLocation";
const COUNTRY_TYPE: &str = "#microsoft.graph.countryNamedLocation";

fn bad(message: impl Into<String>) -> PolicyError {
    PolicyError(message.into())
}

/// Reads a named location from a request body. `@odata.type` says which kind (required); the
/// properties of the other kind, and unknown ones, are refused.
pub fn parse_location(body: &Value) -> Result<NamedLocation, PolicyError> {
    let Some(obj) = body.as_object() else { return Err(bad("The request body must be a namedLocation object.")) };
    let kind = obj.get("@odata.type").and_then(Value::as_str).map(|t| t.trim_start_matches('#').trim_start_matches("microsoft.graph."));
    let mut plain = body.clone();
    strip_annotations(&mut plain);
    let Some(map) = plain.as_object() else { return Err(bad("The request body must be a namedLocation object.")) };
    let allowed: &[&str] = match kind {
        Some("ipNamedLocation") => &["displayName", "isTrusted", "ipRanges"],
        Some("countryNamedLocation") => &["displayName", "countriesAndRegions", "countryLookupMethod", "includeUnknownCountriesAndRegions"],
        _ => return Err(bad(format!("@odata.type must be {IP_TYPE} or {COUNTRY_TYPE}."))),
    };
    const READ_ONLY: [&str; 3] = ["id", "createdDateTime", "modifiedDateTime"];
    if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str()) && !READ_ONLY.contains(&k.as_str())) {
        return Err(bad(format!("Property '{}' does not exist on this kind of named location.", k.chars().take(64).collect::<String>())));
    }
    let display_name = match map.get("displayName") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= MAX_NAME_LEN => s.clone(),
        _ => return Err(bad(format!("displayName must be a string of 1 to {MAX_NAME_LEN} characters."))),
    };
    let flag = |name: &str| match map.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(format!("{name} must be true or false."))),
    };
    let kind = if kind == Some("ipNamedLocation") {
        let Some(Value::Array(items)) = map.get("ipRanges") else { return Err(bad("ipRanges must be a list of ranges.")) };
        if items.is_empty() || items.len() > MAX_RANGES {
            return Err(bad(format!("ipRanges must have 1 to {MAX_RANGES} ranges.")));
        }
        // The ranges' own @odata.type (iPv4CidrRange / iPv6CidrRange) must agree with the address.
        let typed = body.get("ipRanges").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut ranges = Vec::with_capacity(items.len());
        for (item, raw) in items.iter().zip(typed) {
            let cidr = item.get("cidrAddress").and_then(Value::as_str).ok_or_else(|| bad("Every range needs a cidrAddress."))?;
            if item.as_object().is_some_and(|o| o.len() != 1) {
                return Err(bad("A range has only cidrAddress."));
            }
            let net: IpNet =
                cidr.parse().map_err(|_| bad(format!("'{}' is not a CIDR range.", cidr.chars().take(64).collect::<String>())))?;
            if net.prefix_len() <= 8 {
                return Err(bad(format!("'{cidr}': a range must be longer than /8.")));
            }
            if let IpNet::V6(v6) = net {
                let mapped: ipnet::Ipv6Net = "::ffff:0:0/96".parse().map_err(|_| bad("internal"))?;
                if v6.contains(&mapped) || mapped.contains(&v6) {
                    return Err(bad(format!("'{cidr}' covers IPv4-mapped addresses: name IPv4 ranges as IPv4.")));
                }
            }
            if net.trunc() != net {
                return Err(bad(format!("'{cidr}' has host bits set; the range is {}.", net.trunc())));
            }
            match (raw.get("@odata.type").and_then(Value::as_str), net) {
                (None, _)
                | (Some("#microsoft.graph.iPv4CidrRange"), IpNet::V4(_))
                | (Some("#microsoft.graph.iPv6CidrRange"), IpNet::V6(_)) => {}
                (Some(t), _) => return Err(bad(format!("'{cidr}' is not a range of type {}.", t.chars().take(64).collect::<String>()))),
            }
            ranges.push(net);
        }
        LocationKind::Ip { is_trusted: flag("isTrusted")?, ranges }
    } else {
        let Some(Value::Array(items)) = map.get("countriesAndRegions") else {
            return Err(bad("countriesAndRegions must be a list of ISO 3166-1 alpha-2 codes."));
        };
        let mut countries = Vec::with_capacity(items.len());
        for c in items {
            match c.as_str() {
                Some(s) if s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()) => countries.push(s.to_string()),
                _ => return Err(bad("countriesAndRegions must be upper-case ISO 3166-1 alpha-2 codes, such as \"US\".")),
            }
        }
        match map.get("countryLookupMethod") {
            None | Some(Value::Null) => {}
            Some(Value::String(m)) if m == "clientIpAddress" => {}
            Some(Value::String(m)) if m == "authenticatorAppGps" => {
                return Err(bad("countryLookupMethod authenticatorAppGps is not supported: Ward has no authenticator app."));
            }
            Some(_) => return Err(bad("countryLookupMethod must be clientIpAddress.")),
        }
        let include_unknown = flag("includeUnknownCountriesAndRegions")?;
        if countries.is_empty() && !include_unknown {
            return Err(bad("countriesAndRegions must not be empty."));
        }
        LocationKind::Country { countries, include_unknown }
    };
    Ok(NamedLocation { id: String::new(), display_name, created_date_time: None, modified_date_time: None, kind })
}

/// The named location as Graph returns it.
pub fn location_json(l: &NamedLocation) -> Value {
    match &l.kind {
        LocationKind::Ip { is_trusted, ranges } => json!({
            "@odata.type": IP_TYPE,
            "id": l.id,
            "displayName": l.display_name,
            "createdDateTime": l.created_date_time,
            "modifiedDateTime": l.modified_date_time,
            "isTrusted": is_trusted,
            "ipRanges": ranges.iter().map(|r| json!({
                "@odata.type": if r.addr().is_ipv4() { "#microsoft.graph.iPv4CidrRange" } else { "#microsoft.graph.iPv6CidrRange" },
                "cidrAddress": r.to_string(),
            })).collect::<Vec<_>>(),
        }),
        LocationKind::Country { countries, include_unknown } => json!({
            "@odata.type": COUNTRY_TYPE,
            "id": l.id,
            "displayName": l.display_name,
            "createdDateTime": l.created_date_time,
            "modifiedDateTime": l.modified_date_time,
            "countriesAndRegions": countries,
            "countryLookupMethod": "clientIpAddress",
            "includeUnknownCountriesAndRegions": include_unknown,
        }),
    }
}

/// Every IP range of a set of named locations, per location merged into sorted disjoint
/// intervals of one address line (IPv4 mapped into IPv6 as `::ffff:a.b.c.d`): an address's
/// locations are one binary search per IP location, and memory stays linear in the ranges
/// whatever they overlap.
#[derive(Clone, Debug, Default)]
pub struct IpIndex {
    /// (location index, its intervals `(first, last)` ascending and disjoint).
    per_location: Vec<(u32, Vec<(u128, u128)>)>,
}

fn line(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn bounds(net: &IpNet) -> (u128, u128) {
    (line(net.network()), line(net.broadcast()))
}

impl IpIndex {
    pub fn new(locations: &[NamedLocation]) -> IpIndex {
        let mut per_location = Vec::new();
        for (i, l) in locations.iter().enumerate() {
            let LocationKind::Ip { ranges, .. } = &l.kind else { continue };
            let mut spans: Vec<(u128, u128)> = ranges.iter().map(bounds).collect();
            spans.sort_unstable();
            let mut merged: Vec<(u128, u128)> = Vec::with_capacity(spans.len());
            for (lo, hi) in spans {
                match merged.last_mut() {
                    Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                    _ => merged.push((lo, hi)),
                }
            }
            per_location.push((i as u32, merged));
        }
        IpIndex { per_location }
    }

    /// The locations `addr` falls in (indices into the set the index was built from), ascending.
    pub fn locations_of(&self, addr: IpAddr) -> Vec<u32> {
        let x = line(addr);
        self.per_location
            .iter()
            .filter(|(_, spans)| {
                let k = spans.partition_point(|(lo, _)| *lo <= x);
                k > 0 && spans[k - 1].1 >= x
            })
            .map(|(i, _)| *i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(name: &str, trusted: bool, ranges: &[&str]) -> NamedLocation {
        NamedLocation {
            id: name.into(),
            display_name: name.into(),
            created_date_time: None,
            modified_date_time: None,
            kind: LocationKind::Ip { is_trusted: trusted, ranges: ranges.iter().map(|r| r.parse().unwrap()).collect() },
        }
    }

    #[test]
    fn the_index_finds_every_covering_location_and_no_other() {
        let set = vec![
            ip("hq", true, &["203.0.113.0/24", "2001:db8::/48"]),
            ip("floor", false, &["203.0.113.128/25"]),
            ip("lab", false, &["198.51.100.0/24", "203.0.113.200/32"]),
        ];
        let index = IpIndex::new(&set);
        let names = |a: &str| {
            let mut v: Vec<&str> = index.locations_of(a.parse().unwrap()).iter().map(|i| set[*i as usize].id.as_str()).collect();
            v.sort();
            v
        };
        assert_eq!(names("203.0.113.1"), ["hq"]);
        assert_eq!(names("203.0.113.129"), ["floor", "hq"]);
        assert_eq!(names("203.0.113.200"), ["floor", "hq", "lab"]);
        assert_eq!(names("203.0.113.255"), ["floor", "hq"]);
        assert_eq!(names("203.0.114.0"), Vec::<&str>::new());
        assert_eq!(names("203.0.112.255"), Vec::<&str>::new());
        assert_eq!(names("198.51.100.77"), ["lab"]);
        assert_eq!(names("2001:db8:0:ffff::1"), ["hq"]);
        assert_eq!(names("2001:db8:1::1"), Vec::<&str>::new());
        assert_eq!(names("::ffff:203.0.113.5"), ["hq"], "a v4-mapped address is the v4 address");
        assert_eq!(names("255.255.255.255"), Vec::<&str>::new());
        assert!(IpIndex::new(&[]).locations_of("10.0.0.1".parse().unwrap()).is_empty());
    }

    #[test]
    fn the_index_agrees_with_a_scan_over_random_ranges() {
        let mut seed = 0x2545f4914f6cdd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut set = Vec::new();
        for i in 0..40 {
            let ranges: Vec<String> = (0..5)
                .map(|_| {
                    let prefix = 16 + (next() % 17) as u8;
                    let addr = std::net::Ipv4Addr::from(0x0a00_0000 | (next() as u32 & 0x00ff_ffff));
                    IpNet::new(addr.into(), prefix).unwrap().trunc().to_string()
                })
                .collect();
            let refs: Vec<&str> = ranges.iter().map(String::as_str).collect();
            set.push(ip(&format!("l{i}"), false, &refs));
        }
        let index = IpIndex::new(&set);
        for _ in 0..2000 {
            let addr: IpAddr = std::net::Ipv4Addr::from(0x0a00_0000 | (next() as u32 & 0x00ff_ffff)).into();
            let found: Vec<u32> = index.locations_of(addr);
            let expected: Vec<u32> = set
                .iter()
                .enumerate()
                .filter(|(_, l)| matches!(&l.kind, LocationKind::Ip { ranges, .. } if ranges.iter().any(|r| r.contains(&addr))))
                .map(|(i, _)| i as u32)
                .collect();
            assert_eq!(found, expected, "{addr}");
        }
    }

    #[test]
    fn named_locations_are_read_strictly() {
        let ok = parse_location(&json!({
            "@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "HQ", "isTrusted": true,
            "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"},
                         {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "2001:db8::/48"}]
        }))
        .unwrap();
        assert!(ok.is_trusted());
        let back = location_json(&ok);
        assert_eq!(back["ipRanges"][1]["@odata.type"], "#microsoft.graph.iPv6CidrRange");
        assert_eq!(parse_location(&back).unwrap().kind, ok.kind, "what a GET returns can be sent back");
        let country = parse_location(&json!({
            "@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "Embargoed",
            "countriesAndRegions": ["KP", "IR"], "countryLookupMethod": "clientIpAddress", "includeUnknownCountriesAndRegions": false
        }))
        .unwrap();
        assert_eq!(country.kind, LocationKind::Country { countries: vec!["KP".into(), "IR".into()], include_unknown: false });
        let refused = [
            json!({"displayName": "no type", "ipRanges": [{"cidrAddress": "203.0.113.0/24"}]}),
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "wide", "ipRanges": [{"cidrAddress": "10.0.0.0/8"}]}),
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "all v4", "ipRanges": [{"cidrAddress": "::ffff:0:0/96"}]}),
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "v6 over v4", "ipRanges": [{"cidrAddress": "::/9"}]}),
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "host bits", "ipRanges": [{"cidrAddress": "203.0.113.7/24"}]}),
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "bad", "ipRanges": [{"cidrAddress": "203.0.113.0/33"}]}),
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "mislabelled",
                   "ipRanges": [{"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "203.0.113.0/24"}]}),
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "none", "ipRanges": []}),
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "mixed", "ipRanges": [{"cidrAddress": "203.0.113.0/24"}], "countriesAndRegions": ["US"]}),
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "", "ipRanges": [{"cidrAddress": "203.0.113.0/24"}]}),
            json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "flag", "isTrusted": "yes", "ipRanges": [{"cidrAddress": "203.0.113.0/24"}]}),
            json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "lower", "countriesAndRegions": ["us"]}),
            json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "gps", "countriesAndRegions": ["US"], "countryLookupMethod": "authenticatorAppGps"}),
            json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "displayName": "empty", "countriesAndRegions": []}),
            json!([1, 2]),
        ];
        for body in refused {
            assert!(parse_location(&body).is_err(), "{body}");
        }
        let many: Vec<Value> = (0..=MAX_RANGES).map(|i| json!({"cidrAddress": format!("10.{}.{}.0/24", i / 256, i % 256)})).collect();
        let too_many = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "many", "ipRanges": many});
        assert!(parse_location(&too_many).is_err());
    }
}
