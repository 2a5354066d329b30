//! The sign-in profile: what teaches it, its bounds and eviction, and its stored form.

use crate::*;

const T0: &str = "2024-06-01T00:00:00Z";

#[test]
fn only_completed_sign_ins_that_were_not_risky_or_passed_mfa_teach() {
    let f = sign_in(user(1), PARIS, at(T0));
    let limits = ProfileLimits::default();
    let empty = SignInProfile::default();
    let failed = SignInOutcome { success: false, risk: RiskLevel::None, mfa_performed: true };
    assert_eq!(empty.update(&f, failed, &limits), empty);
    let risky = SignInOutcome { success: true, risk: RiskLevel::Medium, mfa_performed: false };
    assert_eq!(empty.update(&f, risky, &limits), empty, "an attacker's sign-in must not become familiar");
    let cleared = SignInOutcome { success: true, risk: RiskLevel::High, mfa_performed: true };
    let taught = empty.update(&f, cleared, &limits);
    assert!(taught.knows_country("FR") && taught.knows_country("fr") && taught.knows_network(PARIS.asn) && taught.knows_device("laptop-1"));
    assert!(taught.knows_browser("Chrome on Windows"));
    assert_eq!((taught.sign_ins, taught.first_sign_in_at, taught.recent.len()), (1, Some(at(T0)), 1));
    let low = SignInOutcome { success: true, risk: RiskLevel::Low, mfa_performed: false };
    assert_eq!(taught.update(&f, low, &limits).sign_ins, 2);
}

#[test]
fn repeated_values_are_counted_not_duplicated() {
    let p = learnt_profile(user(1), LONDON, 7, at(T0));
    assert_eq!(p.countries.len(), 1);
    let gb = &p.countries[0];
    assert_eq!((gb.value.as_str(), gb.count, gb.first_seen, gb.last_seen), ("GB", 7, at(T0) - Duration::days(6), at(T0)));
    assert_eq!(p.sign_ins, 7);
}

#[test]
fn a_full_list_forgets_the_least_recently_seen_value() {
    let limits = ProfileLimits { countries: 3, networks: 3, devices: 3, browsers: 3, recent_sign_ins: 3 };
    let mut p = SignInProfile::default();
    let visit = |p: &SignInProfile, country: &str, asn: u32, hours: i64| {
        let mut f = sign_in(user(1), LONDON, at(T0) + Duration::hours(hours));
        f.country = Some(country.into());
        f.asn = Some(asn);
        p.update(&f, clean(), &limits)
    };
    p = visit(&p, "GB", 1, 0);
    p = visit(&p, "FR", 2, 1);
    p = visit(&p, "DE", 3, 2);
    p = visit(&p, "GB", 1, 3); // GB is now the most recent; FR the least
    p = visit(&p, "ES", 4, 4);
    let countries: Vec<&str> = p.countries.iter().map(|f| f.value.as_str()).collect();
    assert_eq!(countries.len(), 3);
    assert!(p.knows_country("GB") && p.knows_country("DE") && p.knows_country("ES") && !p.knows_country("FR"), "{countries:?}");
    assert!(!p.knows_network(2) && p.knows_network(1));
    let times: Vec<OffsetDateTime> = p.recent.iter().map(|r| r.at).collect();
    assert_eq!(times, [at(T0) + Duration::hours(2), at(T0) + Duration::hours(3), at(T0) + Duration::hours(4)]);
}

#[test]
fn recent_sign_ins_stay_in_time_order_whatever_order_they_arrive_in() {
    let limits = ProfileLimits::default();
    let mut p = SignInProfile::default();
    for h in [5, 1, 9, 3, 7, 2, 8, 6, 4, 0, 10] {
        p = p.update(&sign_in(user(1), LONDON, at(T0) + Duration::hours(h)), clean(), &limits);
    }
    let hours: Vec<i64> = p.recent.iter().map(|r| (r.at - at(T0)).whole_hours()).collect();
    assert_eq!(hours, [3, 4, 5, 6, 7, 8, 9, 10]);
    assert_eq!((p.first_sign_in_at, p.last_sign_in_at), (Some(at(T0)), Some(at(T0) + Duration::hours(10))));
}

#[test]
fn bad_inputs_do_not_grow_the_profile() {
    let mut f = sign_in(user(1), LONDON, at(T0));
    f.country = Some("Atlantis".into());
    f.device_id = Some("x".repeat(10_000));
    f.city = Some("y".repeat(10_000));
    let p = SignInProfile::default().update(&f, clean(), &ProfileLimits::default());
    assert!(p.countries.is_empty(), "not an ISO code");
    assert_eq!(p.devices[0].value.len(), 128);
    assert_eq!(p.recent[0].city.as_ref().unwrap().len(), 128);
}

#[test]
fn random_sign_ins_keep_every_bound_and_the_latest_values() {
    let limits = ProfileLimits::default();
    let mut rng = XorShift(0x1234_5678);
    let mut p = SignInProfile::default();
    for i in 0..3_000i64 {
        let mut f = sign_in(user(1), LONDON, at(T0) + Duration::minutes(i));
        let letter = |n: u64| char::from(b'A' + n as u8);
        let country = format!("{}{}", letter(rng.below(26)), letter(rng.below(26)));
        f.country = Some(country.clone());
        f.asn = Some(rng.below(500) as u32);
        f.device_id = Some(format!("device-{}", rng.below(100)));
        f.user_agent = Some(
            ["curl/8", CHROME_WINDOWS, SAFARI_IPHONE, "python-requests/2", "okhttp/4", "Wget/1", "Go-http-client/2", "MSAL", "x"]
                [rng.below(9) as usize]
                .into(),
        );
        p = p.update(&f, clean(), &limits);
        assert!(p.countries.len() <= limits.countries && p.networks.len() <= limits.networks);
        assert!(p.devices.len() <= limits.devices && p.browsers.len() <= limits.browsers && p.recent.len() <= limits.recent_sign_ins);
        assert!(p.knows_country(&country) && p.knows_network(f.asn.unwrap()), "the value just seen is always kept");
        let mut values: Vec<&String> = p.countries.iter().map(|c| &c.value).collect();
        values.sort();
        values.dedup();
        assert_eq!(values.len(), p.countries.len(), "no duplicates");
    }
    assert_eq!(p.sign_ins, 3_000);
    let stored = serde_json::to_string(&p).unwrap();
    assert!(stored.len() < 12_000, "one small document per user: {} bytes", stored.len());
    let back: SignInProfile = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, p);
}

#[test]
fn the_stored_document_is_camel_case_with_rfc3339_times_and_tolerates_missing_fields() {
    let p = SignInProfile::default().update(&sign_in(user(1), LONDON, at(T0)), clean(), &ProfileLimits::default());
    let doc = serde_json::to_value(&p).unwrap();
    assert_eq!(doc["firstSignInAt"], "2024-06-01T00:00:00Z");
    assert_eq!(doc["countries"][0]["lastSeen"], "2024-06-01T00:00:00Z");
    assert_eq!(doc["recent"][0]["latitude"], LONDON.lat);
    let old: SignInProfile = serde_json::from_str(r#"{"signIns": 4}"#).unwrap();
    assert_eq!((old.sign_ins, old.first_sign_in_at), (4, None));
}
