//! Password spray against brute force against a person mistyping, in real time and offline, and
//! the counters' memory bounds.

use crate::*;

const T0: &str = "2024-06-20T09:00:00Z";
const SPRAYED: PasswordFingerprint = PasswordFingerprint(0xdead_beef);

fn counters() -> SourceCounters {
    SourceCounters::new(&SpraySettings::default())
}

/// A successful password sign-in by `who` from `addr` at `when`, with `password`.
fn password_sign_in(who: ObjectId, addr: &str, password: PasswordFingerprint, when: OffsetDateTime) -> SignInFacts {
    let mut f = sign_in(who, LONDON, when);
    f.ip = Some(ip(addr));
    f.password_fingerprint = Some(password);
    f
}

fn evaluate_with(counters: &SourceCounters, facts: &SignInFacts) -> SignInEvaluation {
    let settings = Settings::default();
    let profile = learnt_profile(facts.user, LONDON, 10, facts.at - Duration::hours(2));
    evaluate_sign_in(facts, &profile, &Feeds::empty(), counters, &settings)
}

#[test]
fn one_password_against_many_accounts_from_one_network_is_a_spray_and_its_success_is_high() {
    let mut c = counters();
    let t0 = at(T0);
    // Twenty accounts, one password, addresses rotating within a /24; two names match no user.
    for i in 0..20u8 {
        let account = if i < 18 { AccountKey::User(user(10 + i)) } else { AccountKey::UnknownName(u64::from(i)) };
        c.record_failure(ip(&format!("198.51.100.{i}")), account, SPRAYED, t0 + Duration::seconds(i64::from(i)));
    }
    let s = c.assess(ip("198.51.100.200"), t0 + Duration::minutes(1)).expect("a spray");
    assert_eq!((s.failures, s.accounts.len(), s.distinct_passwords, s.widest_password_reach), (20, 20, 1, 20));
    assert_eq!(s.source.network().to_string(), "198.51.100.0/24");
    assert!(c.assess(ip("198.51.101.1"), t0 + Duration::minutes(1)).is_none(), "another network");

    let victim = password_sign_in(user(99), "198.51.100.77", SPRAYED, t0 + Duration::minutes(2));
    let e = evaluate_with(&c, &victim);
    assert_eq!(types(&e), ["passwordSpray"]);
    let d = &e.detections[0];
    assert_eq!((d.level, d.timing, d.user), (RiskLevel::High, DetectionTiming::Realtime, user(99)));
    assert_eq!(d.info("sourceNetwork"), Some(&serde_json::json!("198.51.100.0/24")));
    assert_eq!(d.ip, Some(ip("198.51.100.77")));
    assert_eq!(e.sign_in_risk, RiskLevel::High);

    // The same user, same network, own different password: not the spray's.
    let own = password_sign_in(user(99), "198.51.100.77", PasswordFingerprint(42), t0 + Duration::minutes(2));
    assert!(evaluate_with(&c, &own).detections.is_empty());
    // An hour and more later the spray has left the window.
    let late = password_sign_in(user(99), "198.51.100.77", SPRAYED, t0 + Duration::minutes(62));
    assert!(evaluate_with(&c, &late).detections.is_empty());
}

#[test]
fn many_users_mistyping_behind_one_nat_is_not_a_spray() {
    let mut c = counters();
    let t0 = at(T0);
    for i in 0..40u8 {
        // Each person types their own wrong password, some twice.
        for k in 0..2 {
            c.record_failure(
                ip("203.0.113.10"),
                AccountKey::User(user(i)),
                PasswordFingerprint(1000 + u64::from(i)),
                t0 + Duration::seconds(i64::from(k)),
            );
        }
    }
    assert!(c.assess(ip("203.0.113.10"), t0 + Duration::minutes(1)).is_none());
    let e = evaluate_with(&c, &password_sign_in(user(3), "203.0.113.10", PasswordFingerprint(7), t0 + Duration::minutes(1)));
    assert!(e.detections.is_empty(), "{:?}", types(&e));
}

#[test]
fn a_person_mistyping_three_times_then_succeeding_raises_nothing() {
    let mut c = counters();
    let t0 = at(T0);
    for (k, typo) in [11, 12, 13].into_iter().enumerate() {
        c.record_failure(ip(LONDON.ip), AccountKey::User(user(1)), PasswordFingerprint(typo), t0 + Duration::seconds(10 * k as i64));
    }
    assert!(c.assess(ip(LONDON.ip), t0 + Duration::minutes(1)).is_none());
    assert!(c.assess_account(user(1), t0 + Duration::minutes(1)).is_none());
    let e = evaluate_with(&c, &password_sign_in(user(1), LONDON.ip, PasswordFingerprint(1), t0 + Duration::minutes(1)));
    assert!(e.detections.is_empty(), "{:?}", types(&e));
}

#[test]
fn many_distinct_passwords_against_one_account_is_brute_force_from_anywhere() {
    let mut c = counters();
    let t0 = at(T0);
    for i in 0..12u64 {
        // A botnet: every attempt from a different network.
        c.record_failure(
            ip(&format!("100.{i}.0.1")),
            AccountKey::User(user(5)),
            PasswordFingerprint(500 + i),
            t0 + Duration::seconds(i as i64),
        );
    }
    let b = c.assess_account(user(5), t0 + Duration::minutes(1)).expect("brute force");
    assert_eq!((b.failures, b.distinct_passwords), (12, 12));
    for i in 0..12u64 {
        assert!(c.assess(ip(&format!("100.{i}.0.1")), t0).is_none(), "no single source sprays");
    }
    // The owner signing in from home, laptop and usual network, after the failures: not flagged.
    let owner = password_sign_in(user(5), LONDON.ip, PasswordFingerprint(1), t0 + Duration::minutes(1));
    assert!(evaluate_with(&c, &owner).detections.is_empty());
    // The right password from elsewhere: flagged.
    let mut intruder = password_sign_in(user(5), "100.200.0.1", PasswordFingerprint(1), t0 + Duration::minutes(1));
    (intruder.asn, intruder.device_id, intruder.user_agent) = (Some(64_500), None, Some("python-requests/2.31".into()));
    let e = evaluate_with(&c, &intruder);
    assert_eq!(types(&e), ["unfamiliarFeatures", "investigationsThreatIntelligence"]);
    let brute = &e.detections[1];
    assert_eq!((brute.level, brute.risk_reasons()), (RiskLevel::Medium, vec!["bruteForce"]));
}

#[test]
fn a_device_retrying_a_stale_password_is_not_brute_force() {
    let mut c = counters();
    let t0 = at(T0);
    for i in 0..60 {
        c.record_failure(ip(LONDON.ip), AccountKey::User(user(1)), PasswordFingerprint(77), t0 + Duration::seconds(i * 50));
    }
    assert!(c.assess_account(user(1), t0 + Duration::minutes(50)).is_none());
    assert!(c.assess(ip(LONDON.ip), t0 + Duration::minutes(50)).is_none());
}

#[test]
fn ipv6_sources_are_grouped_by_their_64() {
    let mut c = counters();
    let t0 = at(T0);
    for i in 0..6u16 {
        c.record_failure(ip(&format!("2001:db8:1:2::{i:x}")), AccountKey::User(user(i as u8)), SPRAYED, t0);
    }
    assert!(c.assess(ip("2001:db8:1:2:ffff::1"), t0).is_some());
    assert!(c.assess(ip("2001:db8:1:3::1"), t0).is_none());
}

#[test]
fn memory_stays_bounded_under_a_flood_and_an_active_spray_is_still_seen() {
    let settings = SpraySettings { max_sources: 1_000, max_failures_per_source: 16, max_accounts: 500, ..SpraySettings::default() };
    let mut c = SourceCounters::new(&settings);
    let t0 = at(T0);
    let mut rng = XorShift(7);
    for i in 0..50_000u32 {
        let when = t0 + Duration::milliseconds(i64::from(i));
        let flood = std::net::Ipv4Addr::from(rng.next_u64() as u32);
        c.record_failure(flood.into(), AccountKey::User(user((i % 250) as u8)), PasswordFingerprint(rng.next_u64()), when);
        if i % 100 == 0 {
            // The sprayer keeps working through the flood.
            c.record_failure(ip("192.0.2.1"), AccountKey::UnknownName(u64::from(i)), SPRAYED, when);
        }
        assert!(c.tracked_sources() <= 1_000);
        assert!(c.tracked_accounts() <= 500);
    }
    let s = c.assess(ip("192.0.2.1"), t0 + Duration::seconds(50)).expect("the spray survives the flood");
    assert_eq!(s.failures, 16, "the per-source bound");
}

#[test]
fn the_offline_pass_sees_a_success_that_came_before_the_spray_was_visible() {
    let t0 = at(T0);
    let attempt = |secs: i64, account: AccountKey, password: PasswordFingerprint, correct: bool| PasswordAttempt {
        at: t0 + Duration::seconds(secs),
        ip: ip("198.51.100.9"),
        account,
        password,
        correct,
        request_id: Some(format!("req-{secs}")),
        correlation_id: None,
    };
    // The second try hit; the other eight came after it.
    let mut attempts = vec![attempt(0, AccountKey::User(user(1)), SPRAYED, false), attempt(1, AccountKey::User(user(2)), SPRAYED, true)];
    for i in 0..8u8 {
        attempts.push(attempt(10 + i64::from(i), AccountKey::User(user(20 + i)), SPRAYED, false));
    }
    // Elsewhere, a brute force that ended in the right password, and an honest user.
    for i in 0..10u64 {
        attempts.push(PasswordAttempt {
            ip: ip(&format!("100.64.{i}.1")),
            ..attempt(100 + i as i64, AccountKey::User(user(50)), PasswordFingerprint(900 + i), false)
        });
    }
    attempts.push(PasswordAttempt { ip: ip("100.64.99.1"), ..attempt(200, AccountKey::User(user(50)), PasswordFingerprint(1), true) });
    attempts.push(PasswordAttempt { ip: ip("192.0.2.50"), ..attempt(300, AccountKey::User(user(60)), PasswordFingerprint(61), false) });
    attempts.push(PasswordAttempt { ip: ip("192.0.2.50"), ..attempt(301, AccountKey::User(user(60)), PasswordFingerprint(62), true) });

    let now = at("2024-06-21T00:00:00Z");
    let mut found = detect_password_attacks(attempts.into_iter().rev(), &SpraySettings::default(), now);
    found.sort_by_key(|d| d.user);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!((found[0].user, found[0].event_type.as_str(), found[0].level), (user(2), "passwordSpray", RiskLevel::High));
    assert_eq!((found[0].timing, found[0].detected_at, found[0].activity_at), (DetectionTiming::Offline, now, t0 + Duration::seconds(1)));
    assert_eq!(found[0].request_id.as_deref(), Some("req-1"));
    assert_eq!(found[0].info("accountsTried"), Some(&serde_json::json!(10)));
    assert_eq!((found[1].user, found[1].risk_reasons()), (user(50), vec!["bruteForce"]));
}

#[test]
fn quiet_sources_are_forgotten_once_the_window_has_passed() {
    let mut c = counters();
    let t0 = at(T0);
    for i in 0..100u8 {
        c.record_failure(ip(&format!("10.{i}.0.1")), AccountKey::User(user(i)), PasswordFingerprint(1), t0);
    }
    assert_eq!((c.tracked_sources(), c.tracked_accounts()), (100, 100));
    // Half a window later the old entries are still held: they may still count.
    c.record_failure(ip("192.0.2.1"), AccountKey::User(user(200)), PasswordFingerprint(1), t0 + Duration::minutes(30));
    assert_eq!(c.tracked_sources(), 101);
    // Two windows later none of them can count any more, and none is held.
    c.record_failure(ip("192.0.2.1"), AccountKey::User(user(200)), PasswordFingerprint(1), t0 + Duration::hours(3));
    assert_eq!((c.tracked_sources(), c.tracked_accounts()), (1, 1));
}

#[test]
fn one_password_spread_over_a_few_networks_is_a_spray_once_wide_enough() {
    let mut c = counters();
    let t0 = at(T0);
    // Three networks, three accounts or two: under the one-network threshold everywhere.
    for (n, net) in ["198.51.100", "203.0.113", "192.0.2"].iter().enumerate() {
        for i in 0..(if n == 2 { 2u8 } else { 3 }) {
            let who = AccountKey::User(user(40 + n as u8 * 3 + i));
            c.record_failure(ip(&format!("{net}.{}", 10 + i)), who, SPRAYED, t0 + Duration::seconds(i64::from(i)));
        }
    }
    let found = user(70);
    let eight_then_found = evaluate_with(&c, &password_sign_in(found, "198.51.100.77", SPRAYED, t0 + Duration::minutes(2)));
    assert_eq!(eight_then_found.sign_in_risk, RiskLevel::None, "eight accounts and this one: under the spread threshold of ten");
    c.record_failure(ip("203.0.113.50"), AccountKey::UnknownName(9), SPRAYED, t0 + Duration::minutes(3));
    let spread = c.spread_of(SPRAYED, AccountKey::User(found), t0 + Duration::minutes(4)).unwrap();
    assert_eq!(spread, SpreadSpray { accounts: 9, networks: 3 });
    let e = evaluate_with(&c, &password_sign_in(found, "198.51.100.77", SPRAYED, t0 + Duration::minutes(4)));
    assert_eq!(e.sign_in_risk, RiskLevel::High);
    let d = &e.detections[0];
    assert_eq!((d.event_type.clone(), d.info("networks")), (RiskEventType::PasswordSpray, Some(&serde_json::json!(3))));
    // Another password, or the window gone by: nothing.
    let other = evaluate_with(&c, &password_sign_in(found, "198.51.100.77", PasswordFingerprint(7), t0 + Duration::minutes(4)));
    assert_eq!(other.sign_in_risk, RiskLevel::None);
    let later = evaluate_with(&c, &password_sign_in(found, "198.51.100.77", SPRAYED, t0 + Duration::hours(2)));
    assert_eq!(later.sign_in_risk, RiskLevel::None);
    // From one network only, however many: the one-network rule's case, not this one.
    let mut one = counters();
    for i in 0..4u8 {
        one.record_failure(ip(&format!("198.51.100.{i}")), AccountKey::User(user(80 + i)), SPRAYED, t0);
    }
    assert_eq!(one.spread_of(SPRAYED, AccountKey::User(found), t0), None);
}
