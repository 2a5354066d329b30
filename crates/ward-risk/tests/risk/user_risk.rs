//! The user-risk lifecycle: how detections raise it, corroboration, decay, and every way out.

use crate::*;

const T0: &str = "2024-06-01T12:00:00Z";

fn detection(event: RiskEventType, level: RiskLevel, when: OffsetDateTime) -> Detection {
    Detection::new(event, level, DetectionTiming::Realtime, user(1), when)
}

fn settings() -> UserRiskSettings {
    UserRiskSettings::default()
}

fn alice() -> UserRisk {
    UserRisk::new(user(1))
}

#[test]
fn a_high_sign_in_detection_makes_the_user_medium_and_writes_history() {
    let d = detection(RiskEventType::ImpossibleTravel, RiskLevel::High, at(T0));
    let t = alice().apply_detection(&d, &settings());
    assert_eq!((t.risk.level, t.risk.state, t.risk.detail), (RiskLevel::Medium, RiskState::AtRisk, RiskDetail::None));
    assert_eq!(t.risk.last_updated, Some(at(T0)));
    let h = t.history.expect("a visible change");
    assert_eq!(
        (h.level, h.state, h.risk_event_types.clone(), h.initiated_by),
        (RiskLevel::Medium, RiskState::AtRisk, vec![RiskEventType::ImpossibleTravel], None)
    );
    assert!(t.settlement.is_none() && t.detection.is_none());
}

#[test]
fn a_low_sign_in_anomaly_leaves_the_user_alone() {
    let t = alice().apply_detection(&detection(RiskEventType::UnfamiliarFeatures, RiskLevel::Low, at(T0)), &settings());
    assert_eq!(t.risk, alice());
    assert!(t.history.is_none());
}

#[test]
fn known_passwords_count_in_full() {
    let leaked = leaked_credentials(user(1), at(T0));
    assert_eq!(alice().apply_detection(&leaked, &settings()).risk.level, RiskLevel::High);
    let spray = detection(RiskEventType::PasswordSpray, RiskLevel::High, at(T0));
    assert_eq!(alice().apply_detection(&spray, &settings()).risk.level, RiskLevel::High);
    let brute = detection(RiskEventType::InvestigationsThreatIntelligence, RiskLevel::Medium, at(T0))
        .with_info("riskReasons", serde_json::json!(["bruteForce"]));
    assert_eq!(alice().apply_detection(&brute, &settings()).risk.level, RiskLevel::Medium);
    let partner = partner_reported_compromise(user(1), "Contoso SOC", at(T0) - Duration::hours(3), at(T0));
    assert_eq!(alice().apply_detection(&partner, &settings()).risk.level, RiskLevel::High);
}

#[test]
fn two_medium_contributions_of_different_kinds_within_a_week_make_the_user_high() {
    let s = settings();
    let travel = detection(RiskEventType::ImpossibleTravel, RiskLevel::High, at(T0));
    let malicious = detection(RiskEventType::MaliciousIpAddress, RiskLevel::High, at(T0) + Duration::days(3));
    let after_travel = alice().apply_detection(&travel, &s).risk;
    assert_eq!(after_travel.apply_detection(&malicious, &s).risk.level, RiskLevel::High);
    // The same kind twice is one story told twice.
    let again = detection(RiskEventType::ImpossibleTravel, RiskLevel::High, at(T0) + Duration::days(3));
    assert_eq!(after_travel.apply_detection(&again, &s).risk.level, RiskLevel::Medium);
    // Ten days apart is two stories.
    let late = detection(RiskEventType::MaliciousIpAddress, RiskLevel::High, at(T0) + Duration::days(10));
    assert_eq!(after_travel.apply_detection(&late, &s).risk.level, RiskLevel::Medium);
}

#[test]
fn admin_confirmed_compromise_is_high_raises_its_detection_and_never_decays() {
    let s = settings();
    let by = user(200);
    let t = alice().confirm_compromised(at(T0), Some(by));
    assert_eq!(
        (t.risk.level, t.risk.state, t.risk.detail),
        (RiskLevel::High, RiskState::ConfirmedCompromised, RiskDetail::AdminConfirmedUserCompromised)
    );
    let h = t.history.unwrap();
    assert_eq!((h.initiated_by, h.activity_detail), (Some(by), RiskDetail::AdminConfirmedUserCompromised));
    let d = t.detection.expect("the adminConfirmedUserCompromised detection");
    assert_eq!(
        (d.event_type.as_str(), d.level, d.timing, d.user),
        ("adminConfirmedUserCompromised", RiskLevel::High, DetectionTiming::Offline, user(1))
    );

    let compromised = t.risk;
    assert_eq!(compromised.decay(at(T0) + Duration::days(400), &s).risk, compromised);
    let more = compromised.apply_detection(&detection(RiskEventType::UnlikelyTravel, RiskLevel::Medium, at(T0) + Duration::days(1)), &s);
    assert_eq!((more.risk.level, more.risk.state), (RiskLevel::High, RiskState::ConfirmedCompromised));
    assert!(more.history.is_none());
    let mfa = compromised.remediate(Remediation::MfaDrivenByRiskBasedPolicy, at(T0) + Duration::days(1), Some(user(1)), &s);
    assert_eq!(mfa.risk, compromised, "MFA does not undo a confirmed compromise");
    let reset = compromised.remediate(Remediation::SecuredPasswordReset, at(T0) + Duration::days(1), Some(user(1)), &s);
    assert_eq!(
        (reset.risk.level, reset.risk.state, reset.risk.detail),
        (RiskLevel::None, RiskState::Remediated, RiskDetail::UserPerformedSecuredPasswordReset)
    );

    // The detection route leads to the same state.
    let via_detection = alice().apply_detection(&admin_confirmed_compromise(user(1), at(T0)), &s);
    assert_eq!((via_detection.risk.state, via_detection.risk.level), (RiskState::ConfirmedCompromised, RiskLevel::High));
}

#[test]
fn dismiss_clears_the_risk_settles_open_detections_and_keeps_the_history() {
    let s = settings();
    let mut history: Vec<RiskyUserHistoryItem> = Vec::new();
    let leaked = leaked_credentials(user(1), at(T0));
    let t = alice().apply_detection(&leaked, &s);
    history.extend(t.history.clone());
    let t = t.risk.dismiss(at(T0) + Duration::hours(1), Some(user(200)));
    assert_eq!(
        (t.risk.level, t.risk.state, t.risk.detail),
        (RiskLevel::None, RiskState::Dismissed, RiskDetail::AdminDismissedAllRiskForUser)
    );
    assert!(t.risk.contributions.is_empty());
    history.extend(t.history.clone());
    assert_eq!(history.len(), 2);
    assert_eq!((history[0].level, history[0].state), (RiskLevel::High, RiskState::AtRisk), "the earlier entry is untouched");
    assert_eq!(
        (history[1].level, history[1].activity_detail, history[1].initiated_by),
        (RiskLevel::None, RiskDetail::AdminDismissedAllRiskForUser, Some(user(200)))
    );

    let settled = t.settlement.unwrap().apply(leaked.clone(), at(T0) + Duration::hours(1));
    assert_eq!(
        (settled.state, settled.detail, settled.level),
        (RiskState::Dismissed, RiskDetail::AdminDismissedAllRiskForUser, RiskLevel::None)
    );

    // A dismissed detection does not count again; a new one makes the user at risk again.
    let dismissed = t.risk;
    assert_eq!(dismissed.apply_detection(&settled, &s).risk, dismissed);
    let fresh = dismissed.apply_detection(&detection(RiskEventType::MaliciousIpAddress, RiskLevel::High, at(T0) + Duration::days(2)), &s);
    assert_eq!((fresh.risk.level, fresh.risk.state, fresh.risk.detail), (RiskLevel::Medium, RiskState::AtRisk, RiskDetail::None));
}

#[test]
fn confirm_safe_clears_the_risk() {
    let s = settings();
    let risky = alice().apply_detection(&detection(RiskEventType::ImpossibleTravel, RiskLevel::High, at(T0)), &s).risk;
    let t = risky.confirm_safe(at(T0) + Duration::hours(2), Some(user(200)));
    assert_eq!(
        (t.risk.level, t.risk.state, t.risk.detail),
        (RiskLevel::None, RiskState::ConfirmedSafe, RiskDetail::AdminConfirmedSigninSafe)
    );
    assert_eq!(t.risk.last_updated, Some(at(T0) + Duration::hours(2)));
}

#[test]
fn mfa_remediates_sign_in_anomalies_but_not_a_leaked_password() {
    let s = settings();
    let travel = detection(RiskEventType::ImpossibleTravel, RiskLevel::High, at(T0));
    let only_travel = alice().apply_detection(&travel, &s).risk;
    let t = only_travel.remediate(Remediation::MfaDrivenByRiskBasedPolicy, at(T0) + Duration::minutes(1), Some(user(1)), &s);
    assert_eq!(
        (t.risk.level, t.risk.state, t.risk.detail),
        (RiskLevel::None, RiskState::Remediated, RiskDetail::UserPassedMfaDrivenByRiskBasedPolicy)
    );

    let leaked = leaked_credentials(user(1), at(T0));
    let both = only_travel.apply_detection(&leaked, &s).risk;
    let t = both.remediate(Remediation::MfaDrivenByRiskBasedPolicy, at(T0) + Duration::minutes(1), Some(user(1)), &s);
    assert_eq!((t.risk.level, t.risk.state), (RiskLevel::High, RiskState::AtRisk), "the password is still known");
    let settlement = t.settlement.unwrap();
    assert_eq!(settlement.apply(travel.clone(), at(T0)).state, RiskState::Remediated);
    assert_eq!(settlement.apply(leaked.clone(), at(T0)).state, RiskState::AtRisk);

    let changed = both.remediate(Remediation::SecuredPasswordChange, at(T0) + Duration::minutes(5), Some(user(1)), &s);
    assert_eq!(
        (changed.risk.level, changed.risk.state, changed.risk.detail),
        (RiskLevel::None, RiskState::Remediated, RiskDetail::UserPerformedSecuredPasswordChange)
    );
    assert_eq!(changed.settlement.unwrap().apply(leaked, at(T0)).state, RiskState::Remediated);
    let temporary = both.remediate(Remediation::AdminGeneratedTemporaryPassword, at(T0), Some(user(200)), &s);
    assert_eq!(temporary.risk.detail, RiskDetail::AdminGeneratedTemporaryPassword);
}

#[test]
fn medium_risk_decays_a_level_per_period_and_high_risk_waits() {
    let s = settings();
    let medium = alice().apply_detection(&detection(RiskEventType::MaliciousIpAddress, RiskLevel::High, at(T0)), &s).risk;
    assert_eq!(medium.level, RiskLevel::Medium);
    let day = |n: i64| at(T0) + Duration::days(n);
    let t = medium.decay(day(29), &s);
    assert!(t.history.is_none() && t.risk == medium);
    let t = medium.decay(day(30), &s);
    assert_eq!(t.risk.level, RiskLevel::Low);
    assert_eq!(t.history.as_ref().unwrap().initiated_by, None);
    let low = t.risk;
    let t = low.decay(day(60), &s);
    assert_eq!((t.risk.level, t.risk.state, t.risk.detail), (RiskLevel::None, RiskState::None, RiskDetail::None));

    let high = alice().apply_detection(&leaked_credentials(user(1), at(T0)), &s).risk;
    assert_eq!(high.decay(day(365), &s).risk.level, RiskLevel::High);
    // A corroborated high is high for good too.
    let corroborated = medium.apply_detection(&detection(RiskEventType::ImpossibleTravel, RiskLevel::High, day(1)), &s).risk;
    assert_eq!(corroborated.level, RiskLevel::High);
    assert_eq!(corroborated.decay(day(365), &s).risk.level, RiskLevel::High);
}

#[test]
fn detections_of_another_user_or_already_settled_are_ignored_and_contributions_are_bounded() {
    let s = UserRiskSettings { max_contributions: 4, ..settings() };
    let mut other = detection(RiskEventType::ImpossibleTravel, RiskLevel::High, at(T0));
    other.user = user(2);
    assert_eq!(alice().apply_detection(&other, &s).risk, alice());
    let mut risk = alice();
    for i in 0..20 {
        risk = risk.apply_detection(&detection(RiskEventType::UnlikelyTravel, RiskLevel::High, at(T0) + Duration::hours(i)), &s).risk;
    }
    assert_eq!(risk.contributions.len(), 4);
    let stored = serde_json::to_string(&risk).unwrap();
    assert_eq!(serde_json::from_str::<UserRisk>(&stored).unwrap(), risk);
}

#[test]
fn mfa_on_one_sign_in_clears_only_that_sign_ins_detections() {
    let s = settings();
    // An attacker's sign-in from an anonymizer, never MFA'd; the next day, the user's own risky
    // sign-in, completed with MFA.
    let attacker = detection(RiskEventType::AnonymizedIpAddress, RiskLevel::High, at(T0));
    let own = detection(RiskEventType::UnfamiliarFeatures, RiskLevel::High, at(T0) + Duration::days(1));
    let risk = alice().apply_detection(&attacker, &s).risk.apply_detection(&own, &s).risk;
    let t = risk.remediate_sign_in(own.activity_at, at(T0) + Duration::days(1), &s);
    assert_eq!(t.risk.state, RiskState::AtRisk, "the attacker's sign-in is still there");
    assert_eq!(t.risk.contributions.len(), 1);
    assert_eq!(t.risk.contributions[0].event_type, RiskEventType::AnonymizedIpAddress);
    let settlement = t.settlement.expect("the sign-in's detections are settled");
    assert_eq!(settlement.apply(own.clone(), at(T0)).state, RiskState::Remediated);
    assert_eq!(settlement.apply(attacker.clone(), at(T0)).state, RiskState::AtRisk, "another sign-in's stays");
    // Its own sign-in cleared too: nothing left, remediated.
    let t = t.risk.remediate_sign_in(attacker.activity_at, at(T0) + Duration::days(2), &s);
    assert_eq!(
        (t.risk.level, t.risk.state, t.risk.detail),
        (RiskLevel::None, RiskState::Remediated, RiskDetail::UserPassedMfaDrivenByRiskBasedPolicy)
    );
    // A sign-in that raised nothing changes nothing; a known password is not MFA's to clear.
    assert!(t.risk.remediate_sign_in(at(T0), at(T0), &s).history.is_none());
    let spray = detection(RiskEventType::PasswordSpray, RiskLevel::High, at(T0));
    let sprayed = alice().apply_detection(&spray, &s).risk;
    assert!(sprayed.remediate_sign_in(at(T0), at(T0), &s).history.is_none());
}

#[test]
fn a_sign_in_confirmed_safe_keeps_what_says_the_password_is_known() {
    let s = settings();
    let t = at(T0);
    let odd = detection(RiskEventType::UnfamiliarFeatures, RiskLevel::High, t);
    let mut leaked = leaked_credentials(user(1), t);
    leaked.activity_at = t;
    let risk = alice().apply_detection(&odd, &s).risk.apply_detection(&leaked, &s).risk;
    let change = risk.confirm_sign_in_safe(&[t], t + Duration::hours(1), Some(user(9)), &s);
    assert_eq!((change.risk.state, change.risk.level), (RiskState::AtRisk, RiskLevel::High), "the leaked password stays");
    assert_eq!(change.risk.contributions.len(), 1);
    let settlement = change.settlement.clone().unwrap();
    assert_eq!(settlement.apply(odd.clone(), t).state, RiskState::ConfirmedSafe);
    assert_eq!(settlement.apply(leaked.clone(), t).state, RiskState::AtRisk);
    assert_eq!(change.history.unwrap().initiated_by, Some(user(9)));
    // Only anomalies: the user is confirmed safe.
    let only_odd = alice().apply_detection(&odd, &s).risk;
    let change = only_odd.confirm_sign_in_safe(&[t], t + Duration::hours(1), None, &s);
    assert_eq!(
        (change.risk.state, change.risk.level, change.risk.detail),
        (RiskState::ConfirmedSafe, RiskLevel::None, RiskDetail::AdminConfirmedSigninSafe)
    );
}
