//! Identity Protection's real-time detectors on the sign-in path, through the services, against
//! the real (SQLite) store with a manual clock: sequences of password sign-ins from chosen
//! addresses that must raise each detection, and sequences that must not (a learning user, the
//! usual place, slow travel, a user's own typos); what is stored, and the session's sign-in risk.

use std::net::IpAddr;
use std::sync::Arc;
use time::Duration;
use ward_auth::signin::SignInError;
use ward_auth::{Kek, KeyRing, TokenService};
use ward_core::ObjectId;
use ward_core::clock::{Clock, ManualClock};
use ward_core::tenant::Tenant;
use ward_core::user::NewUser;
use ward_directory::{Directory, NewUserRequest};
use ward_risk::{CidrSet, Feeds, LeakedPasswords, RiskState};

const PASSWORD: &str = "correct horse battery staple 7";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0";
/// Addresses whose countries the embedded table knows.
const US: &str = "8.8.8.8";
const US_AGAIN: &str = "8.8.4.4";
const JAPAN: &str = "1.0.16.1";

mod services;

struct F {
    dir: Arc<Directory>,
    tokens: TokenService,
    clock: Arc<ManualClock>,
    tenant: Tenant,
    kek: String,
    _tmp: tempfile::TempDir,
}

async fn fixture() -> F {
    let s = services::start().await;
    F { dir: s.dir, tokens: s.tokens, clock: s.clock, tenant: s.tenant, kek: s.kek, _tmp: s.tmp }
}

impl F {
    async fn user(&self, name: &str, password: &str) -> ObjectId {
        let upn = format!("{name}@{}", self.tenant.initial_domain().as_str());
        let user = NewUser { user_principal_name: upn, display_name: name.into(), ..Default::default() };
        self.dir
            .create_user(self.tenant.id, NewUserRequest { user, password: Some(password.into()), ..Default::default() })
            .await
            .unwrap()
            .id
    }

    fn upn(&self, name: &str) -> String {
        format!("{name}@{}", self.tenant.initial_domain().as_str())
    }

    /// A password sign-in from `ip` with Firefox: the session's sign-in risk, or the error.
    async fn sign_in(&self, name: &str, password: &str, ip: &str) -> Result<String, SignInError> {
        let ip: IpAddr = ip.parse().unwrap();
        let upn = self.upn(name);
        let work = self.tokens.password_sign_in(&self.tenant, &upn, password);
        let result = ward_auth::signin::from_source(Some(ip), "req-1", Some(FIREFOX), None, work).await;
        self.tokens.flush_sign_in_profiles().await;
        result.map(|s| s.session.sign_in_risk)
    }

    fn later(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// The event types of the user's stored detections, in the order raised.
    async fn detections(&self, user: ObjectId) -> Vec<String> {
        let mut all = self.dir.risk_detections(self.tenant.id, None, 500).await.unwrap();
        all.retain(|d| d.detection.user == user);
        all.sort_by_key(|d| (d.detection.detected_at, d.detection.event_type.as_str().to_string()));
        all.iter().map(|d| d.detection.event_type.as_str().to_string()).collect()
    }

    /// Signs in from the usual place often enough, over long enough, for every detector to
    /// have learnt (travel's defaults: 14 days and 10 sign-ins).
    async fn learn(&self, name: &str, password: &str) {
        for _ in 0..11 {
            assert_eq!(self.sign_in(name, password, US).await.unwrap(), "none");
            self.later(Duration::days(2));
        }
    }
}

#[tokio::test]
async fn a_new_country_and_impossible_travel_are_detected_once_the_profile_has_learnt() {
    let f = fixture().await;
    let alice = f.user("alice", PASSWORD).await;
    // Still learning: Japan the day after the first sign-in is nothing yet.
    let bob = f.user("bob", PASSWORD).await;
    assert_eq!(f.sign_in("bob", PASSWORD, US).await.unwrap(), "none");
    f.later(Duration::days(1));
    assert_eq!(f.sign_in("bob", PASSWORD, JAPAN).await.unwrap(), "none", "a learning profile judges nothing");
    assert!(f.detections(bob).await.is_empty());

    f.learn("alice", PASSWORD).await;
    assert_eq!(f.sign_in("alice", PASSWORD, US_AGAIN).await.unwrap(), "none", "the usual country, another address");
    f.later(Duration::minutes(30));
    let risk = f.sign_in("alice", PASSWORD, JAPAN).await.unwrap();
    assert_eq!(risk, "high unfamiliarFeatures impossibleTravel", "10,000 km in half an hour");
    assert_eq!(f.detections(alice).await, ["impossibleTravel", "newCountry", "unfamiliarFeatures"]);
    let (stored, _) = f.dir.user_risk(f.tenant.id, alice).await.unwrap();
    assert_eq!(stored.risk.state, RiskState::AtRisk);
    assert!(stored.risk.level >= ward_risk::RiskLevel::Medium, "{:?}", stored.risk);
}

#[tokio::test]
async fn slow_travel_is_not_travel_and_the_usual_place_is_not_unfamiliar() {
    let f = fixture().await;
    let carol = f.user("carol", PASSWORD).await;
    f.learn("carol", PASSWORD).await;
    for _ in 0..3 {
        f.later(Duration::hours(3));
        assert_eq!(f.sign_in("carol", PASSWORD, US).await.unwrap(), "none");
    }
    // A day later in Japan: a plane could do it; the country is still new to her.
    f.later(Duration::hours(24));
    let risk = f.sign_in("carol", PASSWORD, JAPAN).await.unwrap();
    assert_eq!(risk, "medium unfamiliarFeatures", "no travel detection for a plausible journey");
    assert_eq!(f.detections(carol).await, ["newCountry", "unfamiliarFeatures"]);
}

#[tokio::test]
async fn a_password_spray_is_raised_for_the_account_it_found() {
    let f = fixture().await;
    let sprayed = "Winter-2026-Welcome!";
    let mut victims = Vec::new();
    for name in ["dan", "eve", "fay", "gus"] {
        victims.push(f.user(name, PASSWORD).await);
    }
    let found = f.user("hal", sprayed).await;
    let attacker = "203.0.113.7";
    for name in ["dan", "eve", "fay", "gus"] {
        assert!(matches!(f.sign_in(name, sprayed, attacker).await, Err(SignInError::BadCredentials)));
    }
    let risk = f.sign_in("hal", sprayed, attacker).await.unwrap();
    assert_eq!(risk, "high passwordSpray");
    assert_eq!(f.detections(found).await, ["passwordSpray"]);
    for v in victims {
        assert!(f.detections(v).await.is_empty(), "accounts the spray did not get in are not flagged");
    }
    // The same password from another network is that network's first try: no spray.
    let ivy = f.user("ivy", sprayed).await;
    assert_eq!(f.sign_in("ivy", sprayed, "198.51.100.20").await.unwrap(), "none");
    assert!(f.detections(ivy).await.is_empty());
}

/// A spray spread thin: four networks, two or three accounts from each (under the one-network
/// threshold everywhere); the tenth account, whose password it is, is caught from a fifth.
#[tokio::test]
async fn a_password_spray_from_a_few_networks_is_raised() {
    let f = fixture().await;
    let sprayed = "Winter-2026-Welcome!";
    let names = ["ada", "bo", "cy", "di", "ed", "fo", "gi", "hu", "io"];
    for name in names {
        f.user(name, PASSWORD).await;
    }
    let found = f.user("jo", sprayed).await;
    for (i, name) in names.iter().enumerate() {
        let ip = format!("{}.{}", ["203.0.113", "198.51.100", "192.0.2", "100.64.7"][i % 4], 10 + i);
        assert!(f.sign_in(name, sprayed, &ip).await.is_err());
    }
    assert_eq!(f.sign_in("jo", sprayed, "100.65.1.1").await.unwrap(), "high passwordSpray");
    let stored = f.dir.risk_detections(f.tenant.id, None, 50).await.unwrap();
    let d = stored.iter().find(|d| d.detection.user == found).unwrap();
    assert_eq!(d.detection.info("networks"), Some(&serde_json::json!(4)));
}

#[tokio::test]
async fn brute_force_is_raised_and_a_users_own_typos_are_not() {
    let f = fixture().await;
    let jon = f.user("jon", PASSWORD).await;
    let attacker = "198.51.100.9";
    for i in 0..10 {
        let wrong = format!("guess number {i}");
        assert!(f.sign_in("jon", &wrong, attacker).await.is_err());
    }
    // Locked for a minute after ten failures; the attacker waits it out and finds the password.
    assert!(matches!(f.sign_in("jon", PASSWORD, attacker).await, Err(SignInError::Locked { .. })));
    f.later(Duration::seconds(61));
    let risk = f.sign_in("jon", PASSWORD, attacker).await.unwrap();
    assert!(risk.starts_with("medium") && risk.contains("investigationsThreatIntelligence"), "{risk}");
    let stored = f.dir.risk_detections(f.tenant.id, None, 50).await.unwrap();
    let d = stored.iter().find(|d| d.detection.user == jon).unwrap();
    assert_eq!(d.detection.risk_reasons(), ["bruteForce"]);

    let kim = f.user("kim", PASSWORD).await;
    for wrong in ["correct horse battery staple", "correct horse battery staple 8"] {
        assert!(f.sign_in("kim", wrong, "192.0.2.50").await.is_err());
    }
    assert_eq!(f.sign_in("kim", PASSWORD, "192.0.2.50").await.unwrap(), "none", "two typos are not an attack");
    assert!(f.detections(kim).await.is_empty());
}

#[tokio::test]
async fn feeds_flag_anonymizers_malicious_addresses_and_leaked_passwords() {
    let f = fixture().await;
    let leaked = "Summer-Of-Leaks-2024";
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, leaked.as_bytes());
    let hex: String = sha1.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    f.tokens.set_risk_feeds(Arc::new(Feeds {
        anonymous_ips: CidrSet::parse("# exit nodes\n185.220.101.0/24\n").unwrap(),
        malicious_ips: CidrSet::parse("45.155.205.0/24\n").unwrap(),
        leaked_passwords: Arc::new(LeakedPasswords::parse(&format!("{hex}\n")).unwrap()),
    }));
    let lea = f.user("lea", PASSWORD).await;
    assert_eq!(f.sign_in("lea", PASSWORD, "185.220.101.33").await.unwrap(), "medium anonymizedIPAddress");
    f.later(Duration::minutes(5));
    assert_eq!(f.sign_in("lea", PASSWORD, "45.155.205.2").await.unwrap(), "high maliciousIPAddress");
    f.later(Duration::minutes(5));
    assert_eq!(f.sign_in("lea", PASSWORD, "45.155.206.2").await.unwrap(), "none", "next door is not on the feed");
    assert_eq!(f.detections(lea).await, ["anonymizedIPAddress", "maliciousIPAddress"]);

    // A leaked password is a user detection: it raises the user's risk, not the sign-in's, and
    // the next sign-in with it does not raise it again.
    let max = f.user("max", leaked).await;
    assert_eq!(f.sign_in("max", leaked, US).await.unwrap(), "none");
    f.later(Duration::minutes(1));
    f.sign_in("max", leaked, US).await.unwrap();
    assert_eq!(f.detections(max).await, ["leakedCredentials"]);
    let (stored, _) = f.dir.user_risk(f.tenant.id, max).await.unwrap();
    assert_eq!((stored.risk.level, stored.risk.state), (ward_risk::RiskLevel::High, RiskState::AtRisk));
}

/// The profile survives the process: a second service over the same store (another node, or a
/// restart) knows the user's habits.
#[tokio::test]
async fn profiles_are_stored_and_shared() {
    let f = fixture().await;
    let ned = f.user("ned", PASSWORD).await;
    f.learn("ned", PASSWORD).await;
    let keys = Arc::new(KeyRing::open(f.dir.store().clone(), Kek::from_base64(&f.kek).unwrap(), f.clock.clone()).await.unwrap());
    let other = TokenService::new(f.dir.clone(), keys, "https://id.example.com");
    let ip: IpAddr = JAPAN.parse().unwrap();
    let upn = f.upn("ned");
    let work = other.password_sign_in(&f.tenant, &upn, PASSWORD);
    let s = ward_auth::signin::from_source(Some(ip), "req-2", Some(FIREFOX), None, work).await.unwrap();
    assert!(s.session.sign_in_risk.contains("unfamiliarFeatures"), "{}", s.session.sign_in_risk);
    assert_eq!(f.detections(ned).await, ["newCountry", "unfamiliarFeatures"]);
}

/// A successful interactive sign-in to an app, as the authorize endpoint logs it.
fn app_sign_in(tenant: ward_core::TenantId, user: &ward_core::user::User) -> ward_auth::access::SignInEvent<'_> {
    ward_auth::access::SignInEvent {
        tenant,
        user: Some(user),
        attempted_name: None,
        service_principal: None,
        app: None,
        resource: None,
        interactive: true,
        public: false,
        error: None,
        interrupted: false,
        access: None,
    }
}

/// Another node over the same store (same key-encryption key): its own failure counters, the
/// same profiles and sign-in log.
async fn second_node(f: &F) -> TokenService {
    let keys = Arc::new(KeyRing::open(f.dir.store().clone(), Kek::from_base64(&f.kek).unwrap(), f.clock.clone()).await.unwrap());
    TokenService::new(f.dir.clone(), keys, "https://id.example.com")
}

/// The offline pass finds what the real-time path could not: a session used from the far side
/// of the world (no password checked, so no real-time judgement), recorded by two nodes: stored
/// once. A session used through an anonymizer is not travel. A second pass over the same window,
/// or one running beside it, stores nothing new.
#[tokio::test]
async fn the_offline_pass_finds_replayed_sessions_once() {
    let f = fixture().await;
    let settings = ward_risk::Settings::default();
    let feeds = Feeds { anonymous_ips: CidrSet::parse("185.220.101.0/24\n").unwrap(), ..Feeds::empty() };
    let start = f.clock.now();
    let olga = f.user("olga", PASSWORD).await;
    f.learn("olga", PASSWORD).await;
    let window_start = f.clock.now();
    assert_eq!(f.sign_in("olga", PASSWORD, US).await.unwrap(), "none");
    let user = f.dir.user(f.tenant.id, &olga.to_string()).await.unwrap();
    let other = second_node(&f).await;
    let replay =
        |node: &'static str, ip: &'static str| {
            let (event, tokens) = (app_sign_in(f.tenant.id, &user), if node == "this" { &f.tokens } else { &other });
            ward_auth::signin::from_source(Some(ip.parse().unwrap()), "req-replay", Some(FIREFOX), None, async move {
                tokens.log_sign_in(event)
            })
        };
    // Ten minutes later her session is used from Japan, at two apps, through both nodes; and
    // through an anonymizer (whose location says nothing).
    f.later(Duration::minutes(10));
    replay("this", JAPAN).await;
    f.later(Duration::minutes(1));
    replay("other", JAPAN).await;
    replay("this", "185.220.101.4").await;
    other.flush_sign_in_log().await;
    f.tokens.flush_sign_in_log().await;
    assert!(f.detections(olga).await.is_empty(), "nothing in real time");

    f.later(Duration::minutes(1));
    let until = f.clock.now();
    let (first, second) = tokio::join!(
        ward_auth::risk_offline::scan(&f.dir, &settings, &feeds, window_start, until),
        ward_auth::risk_offline::scan(&f.dir, &settings, &feeds, window_start, until)
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.stored + second.stored, 1, "two passes at once, two records of one replay: {first:?} {second:?}");
    assert_eq!(f.detections(olga).await, ["impossibleTravel"]);
    let stored = f.dir.risk_detections(f.tenant.id, None, 50).await.unwrap();
    assert!(stored.iter().all(|d| d.detection.timing == ward_risk::DetectionTiming::Offline && d.detection.ip == JAPAN.parse().ok()));
    let (risk, _) = f.dir.user_risk(f.tenant.id, olga).await.unwrap();
    assert_eq!(risk.risk.state, RiskState::AtRisk);
    let again = ward_auth::risk_offline::scan(&f.dir, &settings, &feeds, start, until).await.unwrap();
    assert_eq!(again.stored, 0, "the same findings are not stored twice: {again:?}");
    // An administrator confirms the logged sign-in safe: its request id reaches the offline finding.
    f.dir.confirm_sign_ins(f.tenant.id, &[(olga, vec!["req-replay".into()])], true, None).await.unwrap();
    let (risk, _) = f.dir.user_risk(f.tenant.id, olga).await.unwrap();
    assert_eq!((risk.risk.state, risk.risk.level), (RiskState::ConfirmedSafe, ward_risk::RiskLevel::None));
}

/// A low or medium risk loses a level a month: conditional access sees the decayed level at
/// once, and the offline pass stores it (with history), until the user is no longer at risk.
/// Every change is in the change feed, for Shared Signals.
#[tokio::test]
async fn user_risk_decays_and_every_change_is_in_the_change_feed() {
    let f = fixture().await;
    f.tokens.set_risk_feeds(Arc::new(Feeds { anonymous_ips: CidrSet::parse("185.220.101.0/24\n").unwrap(), ..Feeds::empty() }));
    let uma = f.user("uma", PASSWORD).await;
    let head = f.dir.store().feed_head(Some(f.tenant.id)).await.unwrap();
    assert_eq!(f.sign_in("uma", PASSWORD, "185.220.101.9").await.unwrap(), "medium anonymizedIPAddress");
    let feed = f.dir.store().feed(Some(f.tenant.id), head, 100).await.unwrap();
    let kinds: Vec<String> = feed.iter().map(|e| e.subject_kind.clone()).collect();
    assert!(kinds.contains(&"riskDetection".to_string()) && kinds.contains(&"riskyUser".to_string()), "{kinds:?}");

    let level = |f: &F| {
        let (dir, tenant) = (f.dir.clone(), f.tenant.id);
        async move { dir.user_risk_level(tenant, uma).await.unwrap() }
    };
    let scan = |f: &F| {
        let (dir, now) = (f.dir.clone(), f.clock.now());
        async move {
            ward_auth::risk_offline::scan(&dir, &ward_risk::Settings::default(), &Feeds::empty(), now - Duration::hours(1), now)
                .await
                .unwrap()
        }
    };
    // A medium sign-in anomaly weighs low on the user's risk (it says little about the account).
    assert_eq!(level(&f).await, "low");
    f.later(Duration::days(20));
    assert_eq!((scan(&f).await.decayed, level(&f).await), (0, "low"), "not yet a month");
    f.later(Duration::days(11));
    assert_eq!(level(&f).await, "none", "decayed for conditional access before any pass stores it");
    let (stored, _) = f.dir.user_risk(f.tenant.id, uma).await.unwrap();
    assert_eq!((stored.risk.level, stored.risk.state), (ward_risk::RiskLevel::Low, RiskState::AtRisk));
    assert_eq!(scan(&f).await.decayed, 1);
    let (stored, _) = f.dir.user_risk(f.tenant.id, uma).await.unwrap();
    assert_eq!((stored.risk.level, stored.risk.state), (ward_risk::RiskLevel::None, RiskState::None));
    let levels: Vec<&str> = stored.history.iter().map(|h| h.level.as_str()).collect();
    assert_eq!(levels, ["low", "none"], "the history keeps every step");
    assert_eq!(scan(&f).await.decayed, 0);
}
