//! Geolocation and network owner of an address from MaxMind DB (`.mmdb`) files: MaxMind's
//! GeoIP2/GeoLite2 City, Country and ASN databases, and the flat records of the ip-location-db
//! project. The caller reads the files; this module only decodes bytes, so it stays pure.
//!
//! Decoding is lenient field by field: a missing field, an unknown one or one of the wrong
//! type leaves that fact unknown and never fails the look-up, because a database is a third
//! party's file and the sign-in must go on without it.

use std::fmt;
use std::net::IpAddr;

use maxminddb::PathElement::{Index, Key};
use maxminddb::{LookupResult, PathElement, Reader};
use serde::de::{Deserialize, Deserializer, Visitor};

/// The largest database accepted: far above any real geolocation database, it bounds what a
/// wrong path (a disk image, a log) can cost.
pub const MAX_DATABASE_BYTES: usize = 1 << 30;

/// Longer names than this are not place or network names but noise, and are dropped.
const MAX_NAME_CHARS: usize = 200;

/// What the databases know of an address. Every fact is optional.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GeoFacts {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    /// The largest subdivision (state, province, region), in English.
    pub state: Option<String>,
    /// In English.
    pub city: Option<String>,
    /// Degrees, in [-90, 90]; present exactly when `longitude` is.
    pub latitude: Option<f64>,
    /// Degrees, in [-180, 180].
    pub longitude: Option<f64>,
    /// The radius around the coordinates the address is likely within, from the database that
    /// gave the coordinates.
    pub accuracy_km: Option<f64>,
    pub asn: Option<u32>,
    pub as_organization: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GeoError {
    #[error("geolocation database {name}: {size} bytes is more than the limit of {MAX_DATABASE_BYTES}")]
    TooLarge { name: String, size: usize },
    #[error("geolocation database {name}: not a readable MaxMind DB file: {reason}")]
    Unreadable { name: String, reason: String },
}

impl GeoError {
    /// A stable code for logs and the admin API.
    pub fn code(&self) -> &'static str {
        "invalidGeoDatabase"
    }

    /// The name the caller gave the database at fault.
    pub fn database(&self) -> &str {
        match self {
            GeoError::TooLarge { name, .. } | GeoError::Unreadable { name, .. } => name,
        }
    }
}

/// One or more opened databases, consulted in the order given.
pub struct GeoIp {
    databases: Vec<(String, Reader<Vec<u8>>)>,
}

impl fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (name, reader) in &self.databases {
            list.entry(&format_args!("{name} ({})", reader.metadata().database_type));
        }
        list.finish()
    }
}

impl GeoIp {
    /// Opens databases from their bytes (the caller reads the files); the name is for errors.
    /// Only the metadata is checked here: the tree and the data are read, with bounds checks,
    /// at look-up.
    pub fn from_databases(dbs: Vec<(String, Vec<u8>)>) -> Result<GeoIp, GeoError> {
        let mut databases = Vec::with_capacity(dbs.len());
        for (name, bytes) in dbs {
            if bytes.len() > MAX_DATABASE_BYTES {
                return Err(GeoError::TooLarge { name, size: bytes.len() });
            }
            match Reader::from_source(bytes) {
                Ok(reader) => databases.push((name, reader)),
                Err(error) => return Err(GeoError::Unreadable { name, reason: error.to_string() }),
            }
        }
        Ok(GeoIp { databases })
    }

    /// Walks every database's whole search tree and data section (the MaxMind DB format's own
    /// verification): what a loader calls before swapping a new file in, so a corrupt or
    /// truncated file is refused instead of silently locating nothing. Linear in the size.
    pub fn verify(&self) -> Result<(), GeoError> {
        for (name, reader) in &self.databases {
            reader.verify().map_err(|e| GeoError::Unreadable { name: name.clone(), reason: e.to_string() })?;
        }
        Ok(())
    }

    /// Merges what each database knows of `ip`: for each fact the first database that has it
    /// wins. Latitude, longitude and accuracy travel together, from the first database with
    /// valid coordinates, so that one place is never made of two databases' halves. An
    /// IPv4-mapped IPv6 address is looked up as the IPv4 address. An address no database
    /// holds gets the default (empty) facts.
    pub fn lookup(&self, ip: IpAddr) -> GeoFacts {
        let ip = ip.to_canonical();
        let mut facts = GeoFacts::default();
        for (_, reader) in &self.databases {
            // An IPv6 address in an IPv4-only database is an error here: nothing to learn.
            let Ok(found) = reader.lookup(ip) else { continue };
            if !found.has_data() {
                continue;
            }
            fill(&mut facts.country, || first(&found, COUNTRY, country_code));
            fill(&mut facts.state, || first(&found, STATE, name));
            fill(&mut facts.city, || first(&found, CITY, name));
            fill(&mut facts.asn, || first(&found, ASN, asn));
            fill(&mut facts.as_organization, || first(&found, AS_ORGANIZATION, name));
            if facts.latitude.is_none() {
                let latitude = first(&found, LATITUDE, number).filter(|l| (-90.0..=90.0).contains(l));
                let longitude = first(&found, LONGITUDE, number).filter(|l| (-180.0..=180.0).contains(l));
                if let (Some(latitude), Some(longitude)) = (latitude, longitude) {
                    facts.latitude = Some(latitude);
                    facts.longitude = Some(longitude);
                    facts.accuracy_km = first(&found, ACCURACY, number).filter(|km| *km >= 0.0);
                }
            }
        }
        facts
    }

    pub fn database_count(&self) -> usize {
        self.databases.len()
    }
}

type Paths = &'static [&'static [PathElement<'static>]];

// MaxMind's nested shape first, then ip-location-db's flat one.
const COUNTRY: Paths = &[&[Key("country"), Key("iso_code")], &[Key("country_code")]];
const STATE: Paths = &[&[Key("subdivisions"), Index(0), Key("names"), Key("en")], &[Key("state1")]];
const CITY: Paths = &[&[Key("city"), Key("names"), Key("en")], &[Key("city")]];
const LATITUDE: Paths = &[&[Key("location"), Key("latitude")], &[Key("latitude")]];
const LONGITUDE: Paths = &[&[Key("location"), Key("longitude")], &[Key("longitude")]];
const ACCURACY: Paths = &[&[Key("location"), Key("accuracy_radius")]];
const ASN: Paths = &[&[Key("autonomous_system_number")]];
const AS_ORGANIZATION: Paths = &[&[Key("autonomous_system_organization")]];

fn fill<T>(slot: &mut Option<T>, find: impl FnOnce() -> Option<T>) {
    if slot.is_none() {
        *slot = find();
    }
}

/// The first of `paths` whose value decodes and converts; a decoding error (a wrong type on
/// the way, a corrupt record) only means this path has nothing.
fn first<T>(found: &LookupResult<'_, Vec<u8>>, paths: Paths, convert: fn(Scalar) -> Option<T>) -> Option<T> {
    paths.iter().find_map(|path| found.decode_path::<Scalar>(path).ok().flatten().and_then(convert))
}

/// A leaf value of whatever type the database used; maps, arrays, booleans and bytes are
/// refused, which `first` takes as "nothing here".
enum Scalar {
    Text(String),
    Whole(u64),
    Real(f64),
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Scalar, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl Visitor<'_> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a number")
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Whole(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(u64::try_from(v).map_or(Scalar::Real(v as f64), Scalar::Whole))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Scalar, E> {
        if v.is_finite() { Ok(Scalar::Real(v)) } else { Err(E::custom("not a finite number")) }
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_owned()))
    }
}

/// A place or network name: trimmed, not empty, not absurdly long.
fn name(value: Scalar) -> Option<String> {
    match value {
        Scalar::Text(text) => {
            let text = text.trim();
            (!text.is_empty() && text.chars().count() <= MAX_NAME_CHARS).then(|| text.to_owned())
        }
        Scalar::Whole(_) | Scalar::Real(_) => None,
    }
}

/// Two ASCII letters, upper-cased.
fn country_code(value: Scalar) -> Option<String> {
    match value {
        Scalar::Text(text) if text.len() == 2 && text.bytes().all(|b| b.is_ascii_alphabetic()) => Some(text.to_ascii_uppercase()),
        _ => None,
    }
}

/// A finite number, also from text (databases converted from CSV store numbers as strings).
fn number(value: Scalar) -> Option<f64> {
    match value {
        Scalar::Whole(whole) => Some(whole as f64),
        Scalar::Real(real) => Some(real),
        Scalar::Text(text) => text.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
    }
}

/// An AS number, also as text with or without the `AS` prefix; AS0 means "none" (RFC 7607).
fn asn(value: Scalar) -> Option<u32> {
    let whole = match value {
        Scalar::Whole(whole) => u32::try_from(whole).ok(),
        Scalar::Text(text) => {
            let text = text.trim();
            let digits = text.strip_prefix("AS").or_else(|| text.strip_prefix("as")).unwrap_or(text);
            digits.parse::<u32>().ok()
        }
        Scalar::Real(_) => None,
    };
    whole.filter(|n| *n != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmdb_writer;
    use ipnet::IpNet;
    use serde_json::{Value, json};

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn open(dbs: &[(&str, Vec<u8>)]) -> GeoIp {
        GeoIp::from_databases(dbs.iter().map(|(name, bytes)| (name.to_string(), bytes.clone())).collect()).unwrap()
    }

    fn maxmind_city(country: &str, state: &str, city: &str, latitude: f64, longitude: f64, radius: u32) -> Value {
        json!({
            "city": { "geoname_id": 5375480, "names": { "en": city, "de": format!("{city} (de)") } },
            "continent": { "code": "NA", "names": { "en": "North America" } },
            "country": { "iso_code": country, "names": { "en": "Somewhere" } },
            "location": { "latitude": latitude, "longitude": longitude, "accuracy_radius": radius, "time_zone": "America/Los_Angeles" },
            "subdivisions": [ { "iso_code": "XX", "names": { "en": state } }, { "names": { "en": "A county" } } ],
            "traits": { "is_anycast": false },
        })
    }

    /// A GeoIP2-City-shaped IPv6 database with IPv4 and IPv6 networks.
    fn city_database() -> Vec<u8> {
        mmdb_writer::write(
            "GeoIP2-City",
            6,
            &[
                (net("81.2.69.0/24"), maxmind_city("GB", "England", "London", 51.5142, -0.0931, 10)),
                (net("2001:db8:1::/48"), maxmind_city("US", "California", "Mountain View", 37.386, -122.0838, 1000)),
            ],
        )
    }

    fn asn_database() -> Vec<u8> {
        mmdb_writer::write(
            "GeoLite2-ASN",
            6,
            &[
                (
                    net("81.2.0.0/16"),
                    json!({ "autonomous_system_number": 20712, "autonomous_system_organization": "Andrews & Arnold Ltd" }),
                ),
                (net("2001:db8::/32"), json!({ "autonomous_system_number": 15169, "autonomous_system_organization": "Google LLC" })),
            ],
        )
    }

    #[test]
    fn the_reader_sees_the_written_city_records() {
        let reader = Reader::from_source(city_database()).unwrap();
        assert_eq!(reader.metadata().database_type, "GeoIP2-City");
        let found = reader.lookup(ip("81.2.69.160")).unwrap();
        // Not `geoip2::City`: it wants `accuracy_radius` as uint16, and the writer makes uint32.
        let text = |path: &[PathElement<'_>]| found.decode_path::<String>(path).unwrap();
        assert_eq!(text(&[Key("city"), Key("names"), Key("en")]).as_deref(), Some("London"));
        assert_eq!(text(&[Key("country"), Key("iso_code")]).as_deref(), Some("GB"));
        assert_eq!(text(&[Key("subdivisions"), Index(0), Key("names"), Key("en")]).as_deref(), Some("England"));
        assert_eq!(found.decode_path::<f64>(&[Key("location"), Key("latitude")]).unwrap(), Some(51.5142));
        let found = reader.lookup(ip("2001:db8:1::5")).unwrap();
        let iso: Option<String> = found.decode_path(&[Key("country"), Key("iso_code")]).unwrap();
        assert_eq!(iso.as_deref(), Some("US"));
        assert!(!reader.lookup(ip("81.2.70.1")).unwrap().has_data());
    }

    #[test]
    fn city_shape_gives_every_geographic_fact() {
        let geo = open(&[("city", city_database())]);
        assert_eq!(geo.database_count(), 1);
        let london = GeoFacts {
            country: Some("GB".into()),
            state: Some("England".into()),
            city: Some("London".into()),
            latitude: Some(51.5142),
            longitude: Some(-0.0931),
            accuracy_km: Some(10.0),
            asn: None,
            as_organization: None,
        };
        assert_eq!(geo.lookup(ip("81.2.69.160")), london);
        let mountain_view = geo.lookup(ip("2001:db8:1:2::1"));
        assert_eq!(mountain_view.city.as_deref(), Some("Mountain View"));
        assert_eq!(mountain_view.state.as_deref(), Some("California"));
        assert_eq!(mountain_view.accuracy_km, Some(1000.0));
    }

    #[test]
    fn ipv4_mapped_ipv6_is_looked_up_as_ipv4() {
        let geo = open(&[("city", city_database())]);
        assert_eq!(geo.lookup(ip("::ffff:81.2.69.160")).city.as_deref(), Some("London"));
        let v4_only = mmdb_writer::write("flat", 4, &[(net("81.2.69.0/24"), json!({ "country_code": "GB" }))]);
        let geo = open(&[("v4", v4_only)]);
        assert_eq!(geo.lookup(ip("::ffff:81.2.69.1")).country.as_deref(), Some("GB"));
    }

    #[test]
    fn unknown_and_private_addresses_have_no_facts() {
        let geo = open(&[("city", city_database()), ("asn", asn_database())]);
        for address in ["81.3.0.1", "10.0.0.1", "127.0.0.1", "::1", "fe80::1", "2001:db9::1", "0.0.0.0"] {
            assert_eq!(geo.lookup(ip(address)), GeoFacts::default(), "{address}");
        }
        // An IPv6 address against an IPv4-only database is not an error, just unknown.
        let v4_only = mmdb_writer::write("flat", 4, &[(net("0.0.0.0/0"), json!({ "country_code": "GB" }))]);
        assert_eq!(open(&[("v4", v4_only)]).lookup(ip("2001:db8::1")), GeoFacts::default());
        assert_eq!(open(&[]).lookup(ip("81.2.69.160")), GeoFacts::default());
    }

    #[test]
    fn flat_shape_of_ip_location_db() {
        let v4 = mmdb_writer::write(
            "dbip-city-ipv4",
            4,
            &[(
                net("1.0.0.0/24"),
                json!({ "country_code": "au", "state1": "Queensland", "state2": "", "city": "South Brisbane", "postcode": "4101",
                        "latitude": -27.4748, "longitude": 153.017, "timezone": "Australia/Brisbane" }),
            )],
        );
        // Databases converted from CSV can hold every field as text.
        let v6 = mmdb_writer::write(
            "dbip-city-ipv6",
            6,
            &[(
                net("2a00:1450::/32"),
                json!({ "country_code": "IE", "state1": "Leinster", "city": "Dublin", "latitude": "53.3498", "longitude": "-6.2603" }),
            )],
        );
        let geo = open(&[("v4", v4), ("v6", v6)]);
        let brisbane = geo.lookup(ip("1.0.0.1"));
        assert_eq!(brisbane.country.as_deref(), Some("AU"));
        assert_eq!(brisbane.state.as_deref(), Some("Queensland"));
        assert_eq!(brisbane.city.as_deref(), Some("South Brisbane"));
        assert_eq!((brisbane.latitude, brisbane.longitude, brisbane.accuracy_km), (Some(-27.4748), Some(153.017), None));
        let dublin = geo.lookup(ip("2a00:1450:4001::1"));
        assert_eq!((dublin.country.as_deref(), dublin.city.as_deref()), (Some("IE"), Some("Dublin")));
        assert_eq!((dublin.latitude, dublin.longitude), (Some(53.3498), Some(-6.2603)));
    }

    #[test]
    fn asn_shapes_of_maxmind_and_ip_location_db() {
        let reader = Reader::from_source(asn_database()).unwrap();
        let record: maxminddb::geoip2::Asn<'_> = reader.lookup(ip("81.2.3.4")).unwrap().decode().unwrap().unwrap();
        assert_eq!(record.autonomous_system_number, Some(20712));

        let geo = open(&[("asn", asn_database())]);
        let facts = geo.lookup(ip("2001:db8:ffff::1"));
        assert_eq!((facts.asn, facts.as_organization.as_deref()), (Some(15169), Some("Google LLC")));
        assert_eq!(facts.country, None);

        let text_numbers = mmdb_writer::write(
            "asn-ipv4",
            4,
            &[
                (net("1.1.1.0/24"), json!({ "autonomous_system_number": "AS13335", "autonomous_system_organization": "Cloudflare, Inc." })),
                (net("1.1.2.0/24"), json!({ "autonomous_system_number": "0", "autonomous_system_organization": " " })),
            ],
        );
        let geo = open(&[("asn", text_numbers)]);
        assert_eq!(geo.lookup(ip("1.1.1.1")).asn, Some(13335));
        assert_eq!(geo.lookup(ip("1.1.2.1")), GeoFacts::default());
    }

    #[test]
    fn city_and_asn_databases_merge_and_the_first_wins() {
        let geo = open(&[("city", city_database()), ("asn", asn_database())]);
        let facts = geo.lookup(ip("81.2.69.160"));
        assert_eq!(facts.city.as_deref(), Some("London"));
        assert_eq!((facts.asn, facts.as_organization.as_deref()), (Some(20712), Some("Andrews & Arnold Ltd")));
        // Outside the city database's network, the ASN database still answers.
        let facts = geo.lookup(ip("81.2.1.1"));
        assert_eq!((facts.city, facts.asn), (None, Some(20712)));

        let country_only = mmdb_writer::write("GeoLite2-Country", 6, &[(net("81.2.0.0/16"), json!({ "country": { "iso_code": "FR" } }))]);
        let geo = open(&[("country", country_only.clone()), ("city", city_database())]);
        let facts = geo.lookup(ip("81.2.69.160"));
        assert_eq!((facts.country.as_deref(), facts.city.as_deref()), (Some("FR"), Some("London")));
        let geo = open(&[("city", city_database()), ("country", country_only)]);
        assert_eq!(geo.lookup(ip("81.2.69.160")).country.as_deref(), Some("GB"));
    }

    #[test]
    fn the_longest_prefix_wins() {
        let db = mmdb_writer::write(
            "flat",
            6,
            &[
                (net("203.0.113.0/24"), json!({ "city": "Wide" })),
                (net("203.0.113.128/25"), json!({ "city": "Narrow" })),
                (net("203.0.0.0/16"), json!({ "city": "Wider, inserted last" })),
            ],
        );
        let geo = open(&[("flat", db)]);
        assert_eq!(geo.lookup(ip("203.0.113.200")).city.as_deref(), Some("Narrow"));
        assert_eq!(geo.lookup(ip("203.0.113.1")).city.as_deref(), Some("Wide"));
        assert_eq!(geo.lookup(ip("203.0.1.1")).city.as_deref(), Some("Wider, inserted last"));
    }

    #[test]
    fn invalid_coordinates_and_countries_are_dropped() {
        let db = mmdb_writer::write(
            "flat",
            4,
            &[
                (net("192.0.2.1/32"), json!({ "country_code": "USA", "city": "Far North", "latitude": 90.5, "longitude": 10.0 })),
                (
                    net("192.0.2.2/32"),
                    json!({ "country_code": "U1", "location": { "latitude": 10.0, "longitude": -180.5, "accuracy_radius": 5 } }),
                ),
                (net("192.0.2.3/32"), json!({ "country_code": "nz", "latitude": "north", "longitude": 174.7 })),
                (net("192.0.2.4/32"), json!({ "latitude": -90, "longitude": 180, "location": { "accuracy_radius": -1.5 } })),
            ],
        );
        let geo = open(&[("flat", db)]);
        let expect_no_place = |address: &str| {
            let facts = geo.lookup(ip(address));
            assert_eq!((facts.latitude, facts.longitude, facts.accuracy_km), (None, None, None), "{address}");
            facts
        };
        assert_eq!(expect_no_place("192.0.2.1").city.as_deref(), Some("Far North"));
        assert_eq!(expect_no_place("192.0.2.1").country, None);
        assert_eq!(expect_no_place("192.0.2.2").country, None);
        assert_eq!(expect_no_place("192.0.2.3").country.as_deref(), Some("NZ"));
        let pole = geo.lookup(ip("192.0.2.4"));
        assert_eq!((pole.latitude, pole.longitude, pole.accuracy_km), (Some(-90.0), Some(180.0), None));
    }

    #[test]
    fn wrong_types_are_ignored_field_by_field() {
        let db = mmdb_writer::write(
            "odd",
            6,
            &[(
                net("198.51.100.0/24"),
                json!({
                    "country": { "iso_code": 826 },
                    "subdivisions": { "names": { "en": "not an array" } },
                    "city": { "names": ["London"] },
                    "location": { "latitude": true, "longitude": [1.0] },
                    "latitude": 48.85, "longitude": 2.35,
                    "autonomous_system_number": 4294967296_u64,
                    "autonomous_system_organization": { "en": "nested" },
                    "country_code": "fr",
                }),
            )],
        );
        let facts = open(&[("odd", db)]).lookup(ip("198.51.100.7"));
        let expected = GeoFacts { country: Some("FR".into()), latitude: Some(48.85), longitude: Some(2.35), ..GeoFacts::default() };
        assert_eq!(facts, expected);
    }

    #[test]
    fn unreadable_databases_are_refused_by_name() {
        let good = city_database();
        let truncated = good[..good.len() - 20].to_vec();
        for (bad, what) in [(truncated, "truncated"), (b"not a database".to_vec(), "garbage"), (Vec::new(), "empty")] {
            let error = GeoIp::from_databases(vec![("good".into(), good.clone()), ("bad.mmdb".into(), bad)]).unwrap_err();
            assert!(matches!(error, GeoError::Unreadable { .. }), "{what}: {error}");
            assert_eq!(error.database(), "bad.mmdb");
            assert_eq!(error.code(), "invalidGeoDatabase");
            assert!(error.to_string().contains("bad.mmdb"), "{error}");
        }
    }

    #[test]
    fn verify_refuses_a_corrupt_tree_that_opens() {
        let good = city_database();
        assert_eq!(open(&[("city.mmdb", good.clone())]).verify(), Ok(()));
        // A search tree pointing past the data: the metadata still reads, the file still opens.
        let mut bad = good.clone();
        bad[..8].fill(0xFF);
        let geo = GeoIp::from_databases(vec![("bad.mmdb".into(), bad)]).expect("opens: only the metadata is read");
        let error = geo.verify().unwrap_err();
        assert_eq!(error.database(), "bad.mmdb", "{error}");
    }

    #[test]
    fn one_geoip_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<GeoIp>();
        assert_eq!(format!("{:?}", open(&[("city.mmdb", city_database())])), "[city.mmdb (GeoIP2-City)]");
    }

    #[test]
    fn databases_over_a_gibibyte_are_refused() {
        // Zeroed memory is mapped lazily: this costs no gibibyte of RAM.
        let huge = vec![0_u8; MAX_DATABASE_BYTES + 1];
        let error = GeoIp::from_databases(vec![("huge".into(), huge)]).unwrap_err();
        assert_eq!(error, GeoError::TooLarge { name: "huge".into(), size: MAX_DATABASE_BYTES + 1 });
    }

    #[test]
    fn corrupt_bytes_never_panic_a_lookup() {
        let good = mmdb_writer::write("GeoIP2-City", 6, &[(net("81.2.69.0/24"), maxmind_city("GB", "England", "London", 51.5, -0.1, 10))]);
        let addresses = [ip("81.2.69.1"), ip("81.2.70.1"), ip("2001:db8::1"), ip("::ffff:81.2.69.1")];
        for position in 0..good.len() {
            for replacement in [0x00, 0xFF, 0x1D, 0x5F, 0xE0] {
                let mut bytes = good.clone();
                bytes[position] = replacement;
                if let Ok(geo) = GeoIp::from_databases(vec![("corrupt".into(), bytes)]) {
                    for address in addresses {
                        let _ = geo.lookup(address);
                    }
                }
            }
        }
    }
}
