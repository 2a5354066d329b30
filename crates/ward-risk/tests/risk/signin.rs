//! The real-time detectors through `evaluate_sign_in`: unfamiliar properties, travel, the
//! address feeds and leaked passwords, and how they make the sign-in risk.

use crate::*;

const NOW: &str = "2024-06-20T09:00:00Z";

fn alice_profile() -> SignInProfile {
    // Ten daily sign-ins from London, the last one an hour before NOW.
    learnt_profile(user(1), LONDON, 10, at(NOW) - Duration::hours(1))
}

#[test]
fn the_usual_sign_in_raises_nothing() {
    let e = evaluate(&sign_in(user(1), LONDON, at(NOW)), &alice_profile());
    assert!(e.detections.is_empty(), "{:?}", types(&e));
    assert_eq!(e.sign_in_risk, RiskLevel::None);
}

#[test]
fn another_city_of_the_same_country_and_network_raises_nothing() {
    let e = evaluate(&sign_in(user(1), MANCHESTER, at(NOW)), &alice_profile());
    assert!(e.detections.is_empty(), "{:?}", types(&e));
}

#[test]
fn a_new_network_alone_is_unfamiliar_and_low() {
    let mut f = sign_in(user(1), LONDON, at(NOW));
    f.asn = Some(5089);
    let e = evaluate(&f, &alice_profile());
    assert_eq!(types(&e), ["unfamiliarFeatures"]);
    assert_eq!(e.detections[0].level, RiskLevel::Low);
    assert_eq!(e.detections[0].risk_reasons(), ["UnfamiliarASN"]);
    assert_eq!(e.sign_in_risk, RiskLevel::Low);
}

#[test]
fn a_new_country_and_network_is_medium_and_also_a_new_country_detection() {
    // Paris is 344 km from London: too near for travel, so only unfamiliarity speaks.
    let e = evaluate(&sign_in(user(1), PARIS, at(NOW)), &alice_profile());
    assert_eq!(types(&e), ["unfamiliarFeatures", "newCountry"]);
    let unfamiliar = &e.detections[0];
    assert_eq!(unfamiliar.level, RiskLevel::Medium);
    assert_eq!(unfamiliar.risk_reasons(), ["UnfamiliarLocation", "UnfamiliarASN"]);
    assert_eq!(unfamiliar.timing, DetectionTiming::Realtime);
    let new_country = &e.detections[1];
    assert_eq!((new_country.level, new_country.timing), (RiskLevel::Low, DetectionTiming::Offline));
    assert_eq!(new_country.info("country"), Some(&serde_json::json!("FR")));
    assert_eq!(e.sign_in_risk, RiskLevel::Medium, "the offline-typed newCountry does not feed the sign-in risk");
}

#[test]
fn a_new_device_is_low_and_a_new_device_with_a_new_browser_is_medium() {
    let mut f = sign_in(user(1), LONDON, at(NOW));
    f.device_id = Some("phone-7".into());
    let e = evaluate(&f, &alice_profile());
    assert_eq!((types(&e), e.detections[0].level), (vec!["unfamiliarFeatures"], RiskLevel::Low));

    f.user_agent = Some(SAFARI_IPHONE.into());
    let e = evaluate(&f, &alice_profile());
    assert_eq!(e.detections[0].level, RiskLevel::Medium);
    assert_eq!(e.detections[0].risk_reasons(), ["UnfamiliarDevice", "UnfamiliarBrowser"]);
}

#[test]
fn a_new_browser_alone_raises_nothing() {
    let mut f = sign_in(user(1), LONDON, at(NOW));
    f.user_agent = Some(SAFARI_IPHONE.into());
    assert!(evaluate(&f, &alice_profile()).detections.is_empty());
}

#[test]
fn a_known_device_from_home_raises_nothing_even_without_a_user_agent() {
    let mut f = sign_in(user(1), LONDON, at(NOW));
    f.user_agent = None;
    assert!(evaluate(&f, &alice_profile()).detections.is_empty());
}

#[test]
fn nothing_is_unfamiliar_during_the_learning_period() {
    // Two days of history: a new country, network and device are not judged yet.
    let young = learnt_profile(user(1), LONDON, 3, at(NOW) - Duration::hours(1));
    let mut f = sign_in(user(1), PARIS, at(NOW));
    f.device_id = Some("unknown".into());
    assert!(evaluate(&f, &young).detections.is_empty());

    // Five days old but only two sign-ins: both conditions must hold.
    let mut sparse = SignInProfile::default();
    for day in [6, 1] {
        sparse = sparse.update(&sign_in(user(1), LONDON, at(NOW) - Duration::days(day)), clean(), &ProfileLimits::default());
    }
    assert!(!unfamiliar_learnt(&sparse, at(NOW), &Settings::default()));
    assert!(evaluate(&f, &sparse).detections.is_empty());
    assert!(unfamiliar_learnt(&alice_profile(), at(NOW), &Settings::default()));
}

#[test]
fn london_then_new_york_an_hour_later_is_impossible_three_hours_later_unlikely_eight_hours_later_plausible() {
    let profile = alice_profile(); // last sign-in: London, NOW - 1h
    let last = at(NOW) - Duration::hours(1);
    let travel = |hours: i64| {
        let e = evaluate(&sign_in(user(1), NEW_YORK, last + Duration::hours(hours)), &profile);
        e.detections.into_iter().find(|d| matches!(d.event_type, RiskEventType::ImpossibleTravel | RiskEventType::UnlikelyTravel))
    };
    let one = travel(1).expect("5,470 km in an hour");
    assert_eq!((one.event_type.as_str(), one.level), ("impossibleTravel", RiskLevel::High));
    assert_eq!(one.info("relatedEventTimeInUtc"), Some(&serde_json::json!("2024-06-20T08:00:00Z")));
    assert_eq!(one.info("relatedLocation").unwrap()["clientCity"], "London");
    let three = travel(3).expect("1,820 km/h");
    assert_eq!((three.event_type.as_str(), three.level), ("unlikelyTravel", RiskLevel::Medium));
    assert!(travel(8).is_none(), "684 km/h is a flight");
}

#[test]
fn slow_or_short_trips_raise_no_travel() {
    let profile = alice_profile();
    let last = at(NOW) - Duration::hours(1);
    // 300 km in two hours.
    let york = Place { country: "GB", city: "York", lat: 53.9590, lon: -1.0815, asn: 2856, ip: "81.2.71.1" };
    let e = evaluate(&sign_in(user(1), york, last + Duration::hours(2)), &profile);
    assert!(e.detections.is_empty(), "{:?}", types(&e));
    // London to Paris in five minutes: under 500 km is never judged.
    let e = evaluate(&sign_in(user(1), PARIS, last + Duration::minutes(5)), &profile);
    assert!(!types(&e).iter().any(|t| t.contains("Travel")), "{:?}", types(&e));
}

#[test]
fn travel_is_not_judged_while_learning_but_ten_sign_ins_end_the_learning_early() {
    let last = at(NOW) - Duration::hours(1);
    let young = learnt_profile(user(1), LONDON, 3, last);
    let e = evaluate(&sign_in(user(1), NEW_YORK, last + Duration::hours(1)), &young);
    assert!(!types(&e).iter().any(|t| t.contains("Travel")));

    // Ten sign-ins within two days: learnt, although 14 days have not passed.
    let mut busy = SignInProfile::default();
    for i in 0..10 {
        busy = busy.update(&sign_in(user(1), LONDON, last - Duration::hours(4 * i)), clean(), &ProfileLimits::default());
    }
    let e = evaluate(&sign_in(user(1), NEW_YORK, last + Duration::hours(1)), &busy);
    assert!(types(&e).contains(&"impossibleTravel"));
}

#[test]
fn a_vpn_country_and_network_the_user_uses_often_is_not_travel() {
    let last = at(NOW) - Duration::hours(1);
    let mut p = learnt_profile(user(1), LONDON, 10, last - Duration::days(1));
    for i in 0..3 {
        p = p.update(&sign_in(user(1), NEW_YORK, last - Duration::days(5) - Duration::hours(i)), clean(), &ProfileLimits::default());
    }
    p = p.update(&sign_in(user(1), LONDON, last), clean(), &ProfileLimits::default());
    let e = evaluate(&sign_in(user(1), NEW_YORK, last + Duration::minutes(30)), &p);
    assert!(e.detections.is_empty(), "{:?}", types(&e));
    // The same country from another network is judged.
    let mut other = sign_in(user(1), NEW_YORK, last + Duration::minutes(30));
    other.asn = Some(16509);
    assert!(types(&evaluate(&other, &p)).contains(&"impossibleTravel"));
}

#[test]
fn without_coordinates_travel_falls_back_to_country_positions() {
    let country_only = |place: Place, when| {
        let mut f = sign_in(user(1), place, when);
        (f.latitude, f.longitude, f.city) = (None, None, None);
        f
    };
    let last = at(NOW) - Duration::hours(1);
    let mut p = SignInProfile::default();
    for i in (0..10).rev() {
        p = p.update(&country_only(LONDON, last - Duration::days(i)), clean(), &ProfileLimits::default());
    }
    let e = evaluate(&country_only(SYDNEY, last + Duration::hours(2)), &p);
    assert!(types(&e).contains(&"impossibleTravel"), "{:?}", types(&e));
    // Great Britain and France overlap once their radii are taken off: never travel.
    let e = evaluate(&country_only(PARIS, last + Duration::minutes(10)), &p);
    assert!(!types(&e).iter().any(|t| t.contains("Travel")), "{:?}", types(&e));
}

#[test]
fn feeds_flag_anonymous_and_malicious_addresses_and_an_anonymizer_is_not_travel() {
    let settings = Settings::default();
    let feeds = Feeds {
        anonymous_ips: CidrSet::parse("185.220.100.0/22\n").unwrap(),
        malicious_ips: CidrSet::parse("45.155.205.0/24\n").unwrap(),
        leaked_passwords: Default::default(),
    };
    let counters = SourceCounters::new(&settings.spray);
    let profile = alice_profile();
    let mut tor = sign_in(user(1), NEW_YORK, at(NOW));
    tor.ip = Some(ip("185.220.101.7"));
    let e = evaluate_sign_in(&tor, &profile, &feeds, &counters, &settings);
    assert!(types(&e).contains(&"anonymizedIPAddress"));
    assert!(!types(&e).iter().any(|t| t.contains("Travel")), "an exit node's location says nothing: {:?}", types(&e));
    let anonymous = e.detections.iter().find(|d| d.event_type == RiskEventType::AnonymizedIpAddress).unwrap();
    assert_eq!(anonymous.level, RiskLevel::Medium);

    let mut bad = sign_in(user(1), LONDON, at(NOW));
    bad.ip = Some(ip("::ffff:45.155.205.99"));
    let e = evaluate_sign_in(&bad, &profile, &feeds, &counters, &settings);
    assert_eq!(types(&e), ["maliciousIPAddress"]);
    assert_eq!(e.sign_in_risk, RiskLevel::High);
}

#[test]
fn a_leaked_password_is_a_user_detection_that_does_not_raise_the_sign_in_risk() {
    let settings = Settings::default();
    let sha1 = sha1_from_hex("5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8").unwrap();
    let feeds = Feeds {
        leaked_passwords: std::sync::Arc::new(LeakedPasswords::parse("5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8\n").unwrap()),
        ..Feeds::empty()
    };
    let counters = SourceCounters::new(&settings.spray);
    let mut f = sign_in(user(1), LONDON, at(NOW));
    f.password_sha1 = Some(sha1);
    let e = evaluate_sign_in(&f, &alice_profile(), &feeds, &counters, &settings);
    assert_eq!(types(&e), ["leakedCredentials"]);
    assert_eq!((e.detections[0].activity, e.detections[0].level), (Activity::User, RiskLevel::High));
    assert_eq!(e.sign_in_risk, RiskLevel::None);
    f.password_sha1 = Some(sha1_from_hex("7C4A8D09CA3762AF61E59520943DC26494F8941B").unwrap());
    assert!(evaluate_sign_in(&f, &alice_profile(), &feeds, &counters, &settings).detections.is_empty());
}

#[test]
fn detections_carry_the_sign_ins_address_location_and_ids() {
    let e = evaluate(&sign_in(user(1), PARIS, at(NOW)), &alice_profile());
    let d = &e.detections[0];
    assert_eq!(d.user, user(1));
    assert_eq!(d.ip, Some(ip(PARIS.ip)));
    assert_eq!((d.detected_at, d.activity_at), (at(NOW), at(NOW)));
    assert_eq!(d.request_id.as_deref(), Some("req-1"));
    let location = d.location.as_ref().unwrap();
    assert_eq!((location.city.as_deref(), location.country_or_region.as_deref()), (Some("Paris"), Some("FR")));
    assert_eq!(d.info("userAgent"), Some(&serde_json::json!(CHROME_WINDOWS)));
    assert_eq!((d.state, d.detail), (RiskState::AtRisk, RiskDetail::None));
}

#[test]
fn debug_output_keeps_nothing_of_the_password() {
    let mut f = SignInFacts::new(user(7), OffsetDateTime::UNIX_EPOCH);
    f.password_sha1 = Some([0xAB; 20]);
    f.password_fingerprint = Some(PasswordFingerprint(0x1234_5678_9ABC_DEF0));
    let shown = format!("{f:?}");
    assert!(
        shown.contains("(redacted)")
            && !shown.to_lowercase().contains("ab, ")
            && !shown.contains("171")
            && !shown.contains("1311768467463790320"),
        "{shown}"
    );
}
