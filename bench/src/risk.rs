//! Identity Protection's real-time detectors on the sign-in path (issue 8): what they add to a
//! sign-in, with a large recorded history in the store.
//!
//! - A SQLite store (the embedded default) with `--users` users (default 10,000), each with a
//!   learnt sign-in profile, and `--sign-ins` records in the sign-in log (default 1,000,000, over
//!   30 days, in Graph's `signIn` shape).
//! - Feeds of realistic size: 20,000 anonymizer ranges, 20,000 malicious ranges, 1,000,000
//!   leaked-password digests, an MMDB city + ASN database of 50,000 networks; the node's failure
//!   counters warmed with 50,000 wrong passwords from 5,000 networks.
//! - Sign-ins: a user from their usual network 99.5 % of the time; otherwise from an anonymizer,
//!   the other side of the world, or after a spray. Each timed on its own: everything the
//!   detectors add to the sign-in (facts and geolocation, the profile read, the detectors, storing
//!   detections and the user's risk when there are some, the verdict kept, the profile update
//!   queued); the profile writer runs beside it on the same runtime, as on a server.
//! - Target: p99 ≤ 200 µs over all sign-ins. The risky ones (a detection written and fsynced)
//!   are reported apart.
//! - Also: the offline pass over the last 24 hours of the log.
//!
//! ```text
//! cargo build --release -p ward-bench
//! taskset -c 1 target/release/ward-bench risk [--users 10000] [--sign-ins 1000000] [--evaluations 20000]
//! ```

use crate::policy::Rng;
use crate::tokens::fail;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ward_core::ObjectId;
use ward_core::sign_in_log::SignInRecord;
use ward_core::tenant::Tenant;
use ward_core::user::{NewUser, User};
use ward_directory::NewUserRequest;
use ward_risk::{CidrSet, Feeds, LeakedPasswords, SignInProfile};

const TARGET_P99_US: f64 = 200.0;
const PASSWORD: &str = "correct horse battery staple 7";

struct Options {
    users: usize,
    sign_ins: usize,
    evaluations: usize,
}

fn options(args: &[String]) -> Options {
    let mut o = Options { users: 10_000, sign_ins: 1_000_000, evaluations: 20_000 };
    let usage = "usage: ward-bench risk [--users N] [--sign-ins N] [--evaluations N]";
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = |name: &str| -> usize {
            it.next().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or_else(|| fail(&format!("{name} needs a positive number")))
        };
        match a.as_str() {
            "--users" => o.users = number("--users").max(100),
            "--sign-ins" => o.sign_ins = number("--sign-ins"),
            "--evaluations" => o.evaluations = number("--evaluations").max(100),
            other => fail(&format!("unknown option '{other}'; {usage}")),
        }
    }
    o
}

/// The user's usual network: a /24 of 10.0.0.0/8 seen through the MMDB below as one of 50,000
/// city networks. Addresses in 100.64.0.0/10 stand for the far side of the world.
fn home(i: usize) -> Ipv4Addr {
    let n = (i % 50_000) as u32;
    Ipv4Addr::from(0x0A00_0000 | (n << 8) | 7)
}

fn far_away(rng: &mut Rng) -> Ipv4Addr {
    Ipv4Addr::from(0x6440_0000 | (rng.below(1 << 16) as u32) << 6 | 9)
}

fn anonymizer(rng: &mut Rng) -> Ipv4Addr {
    // The anonymizer feed holds 20,000 /28s in 198.18.0.0/15.
    Ipv4Addr::from(0xC612_0000 | ((rng.below(20_000) as u32) << 4) | 3)
}

fn geo_database(networks: usize) -> (Vec<u8>, Vec<u8>) {
    let mut cities = Vec::with_capacity(networks + 1);
    let mut asns = Vec::with_capacity(networks + 1);
    for n in 0..networks {
        let net: ipnet::IpNet = format!("{}/24", Ipv4Addr::from(0x0A00_0000 | ((n as u32) << 8))).parse().unwrap();
        let (lat, lon) = (40.0 + (n % 100) as f64 * 0.1, -5.0 + (n % 97) as f64 * 0.1);
        cities.push((
            net,
            json!({"city": {"names": {"en": format!("City {}", n % 500)}}, "country": {"iso_code": "FR"},
                                  "location": {"latitude": lat, "longitude": lon, "accuracy_radius": 20}}),
        ));
        asns.push((net, json!({"autonomous_system_number": 64_512 + (n % 1000), "autonomous_system_organization": "Example"})));
    }
    let far: ipnet::IpNet = "100.64.0.0/10".parse().unwrap();
    cities.push((
        far,
        json!({"city": {"names": {"en": "Tokyo"}}, "country": {"iso_code": "JP"},
                             "location": {"latitude": 35.68, "longitude": 139.65, "accuracy_radius": 50}}),
    ));
    asns.push((far, json!({"autonomous_system_number": 2914, "autonomous_system_organization": "Far"})));
    (ward_risk::mmdb_writer::write("Bench-City", 6, &cities), ward_risk::mmdb_writer::write("Bench-ASN", 6, &asns))
}

fn feeds(rng: &mut Rng) -> Feeds {
    let mut anonymous = String::new();
    for n in 0..20_000u32 {
        anonymous.push_str(&format!("{}/28\n", Ipv4Addr::from(0xC612_0000 | (n << 4))));
    }
    let mut malicious = String::new();
    for n in 0..20_000u32 {
        malicious.push_str(&format!("{}/32\n", Ipv4Addr::from(0xCB00_7100 ^ (n.wrapping_mul(2_654_435_761) | 0x2000_0000))));
    }
    let mut leaked = String::with_capacity(41 * 1_000_000);
    for _ in 0..1_000_000 {
        leaked.push_str(&format!("{:016X}{:016X}{:08X}\n", rng.next(), rng.next(), rng.next() as u32));
    }
    Feeds {
        anonymous_ips: CidrSet::parse(&anonymous).unwrap(),
        malicious_ips: CidrSet::parse(&malicious).unwrap(),
        leaked_passwords: Arc::new(LeakedPasswords::parse(&leaked).unwrap()),
    }
}

/// A learnt profile: 20 sign-ins over the last 60 days from the user's usual network.
fn learnt_profile(tokens: &ward_auth::TokenService, user: ObjectId, i: usize, now: time::OffsetDateTime) -> SignInProfile {
    let mut p = SignInProfile::default();
    let limits = tokens.risk().settings().profile.clone();
    for k in 0..20 {
        let mut f = ward_risk::SignInFacts::new(user, now - time::Duration::days(60) + time::Duration::days(3 * k));
        f.ip = Some(IpAddr::V4(home(i)));
        f.place(tokens.locate(IpAddr::V4(home(i))));
        f.user_agent = Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36".into());
        p = p.update(&f, ward_risk::SignInOutcome { success: true, risk: ward_risk::RiskLevel::None, mfa_performed: false }, &limits);
    }
    p
}

fn record(tenant: ward_core::TenantId, users: &[User], rng: &mut Rng, now: time::OffsetDateTime, age_secs: i64) -> SignInRecord {
    let i = rng.below(users.len());
    let u = &users[i];
    let created = now - time::Duration::seconds(age_secs);
    let id = uuid::Uuid::from_u128(u128::from(rng.next()) << 64 | u128::from(rng.next()));
    let failed = rng.below(20) == 0;
    let doc = json!({
        "id": id.to_string(), "createdDateTime": created.format(&time::format_description::well_known::Rfc3339).unwrap(),
        "userDisplayName": u.display_name, "userPrincipalName": u.user_principal_name.as_str(), "userId": u.id.to_string(),
        "appId": "00000003-0000-0000-c000-000000000000", "appDisplayName": "Web Portal", "ipAddress": home(i).to_string(),
        "clientAppUsed": "Browser", "correlationId": id.to_string(), "conditionalAccessStatus": "notApplied", "isInteractive": true,
        "authenticationRequirement": "singleFactorAuthentication", "riskDetail": "none", "riskLevelAggregated": "none",
        "riskLevelDuringSignIn": "none", "riskState": "none", "riskEventTypes_v2": [],
        "status": {"errorCode": if failed { 50126 } else { 0 }, "failureReason": "Other.", "additionalDetails": null},
        "location": {"city": "City", "state": null, "countryOrRegion": "FR", "geoCoordinates": {"latitude": 45.0, "longitude": 2.0}},
        "appliedConditionalAccessPolicies": [],
    });
    SignInRecord {
        tenant_id: tenant,
        id,
        created,
        user_id: Some(u.id),
        app_id: None,
        error_code: if failed { 50126 } else { 0 },
        conditional_access_status: "notApplied".into(),
        doc,
    }
}

pub async fn run(args: &[String]) {
    let o = options(args);
    let tmp = tempfile::tempdir().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let store = ward_store::open(&ward_store::StoreLocation::Sqlite(tmp.path().join("ward.db")), now).await.unwrap();
    let directory = Arc::new(ward_directory::Directory::system(store.clone()));
    let kek = ward_auth::Kek::from_base64(&ward_auth::Kek::generate_base64().unwrap()).unwrap();
    let keys = Arc::new(ward_auth::KeyRing::open(store.clone(), kek, Arc::new(ward_directory::SystemClock)).await.unwrap());
    let tokens = Arc::new(ward_auth::TokenService::new(directory.clone(), keys, "https://id.example.com"));
    let tenant: Tenant = directory.initialize(ward_directory::InitRequest::default()).await.unwrap().tenant;
    let mut rng = Rng(0x5741_5244_5249_534b);

    let started = Instant::now();
    let (city, asn) = geo_database(50_000);
    let geo = ward_risk::GeoIp::from_databases(vec![("city".into(), city), ("asn".into(), asn)]).unwrap();
    tokens.set_geoip(Some(Arc::new(geo)));
    tokens.set_risk_feeds(Arc::new(feeds(&mut rng)));
    let ctx = ward_core::audit::AuditContext {
        initiated_by: json!({"app": {"displayName": "ward-bench"}}),
        category: "UserManagement",
        activity: "Add user",
        operation_type: "Add",
        correlation_id: "bench".into(),
    };
    let mut users = Vec::with_capacity(o.users);
    for chunk in (0..o.users).collect::<Vec<_>>().chunks(1000) {
        let items = chunk
            .iter()
            .map(|i| {
                let upn = format!("user{i}@{}", tenant.initial_domain().as_str());
                (
                    NewUserRequest {
                        user: NewUser { user_principal_name: upn, display_name: format!("User {i}"), ..Default::default() },
                        ..Default::default()
                    },
                    None,
                )
            })
            .collect();
        for u in directory.create_users_batch(tenant.id, items, &ctx).await.unwrap() {
            users.push(u.unwrap());
        }
    }
    let mut profiles = Vec::with_capacity(users.len());
    for (i, u) in users.iter().enumerate() {
        let p = learnt_profile(&tokens, u.id, i, now);
        profiles.push((tenant.id, u.id, serde_json::to_string(&p).unwrap(), now));
    }
    for chunk in profiles.chunks(1000) {
        store.save_sign_in_profiles(chunk).await.unwrap();
    }
    let thirty_days = 30 * 24 * 3600;
    let mut batch = Vec::with_capacity(1000);
    for n in 0..o.sign_ins {
        let age = thirty_days - (n as i64 * thirty_days / o.sign_ins.max(1) as i64);
        batch.push(record(tenant.id, &users, &mut rng, now, age));
        if batch.len() == 1000 {
            store.record_sign_ins(&batch).await.unwrap();
            batch.clear();
        }
    }
    store.record_sign_ins(&batch).await.unwrap();
    for n in 0..50_000 {
        let ip = IpAddr::V4(Ipv4Addr::from(0xAC10_0000 | ((n % 5000) as u32) << 8 | 5));
        ward_auth::signin::from_source(Some(ip), "warm", None, None, async {
            tokens.count_password_failure(None, &format!("nobody{n}@example.com"), &format!("guess {}", n % 300));
        })
        .await;
    }
    let db_mb = std::fs::metadata(tmp.path().join("ward.db")).map(|m| m.len() as f64 / 1e6).unwrap_or(0.0);
    println!(
        "store: {} users with learnt profiles, {} recorded sign-ins ({db_mb:.0} MB + WAL), feeds and counters loaded in {:.0} s",
        users.len(),
        o.sign_ins,
        started.elapsed().as_secs_f64()
    );

    // The timed sign-ins.
    let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36";
    let (mut all, mut quiet, mut risky) = (Vec::new(), Vec::new(), Vec::new());
    let warmup = 1_000;
    for n in 0..(o.evaluations + warmup) {
        let i = rng.below(users.len());
        let user = &users[i];
        let ip = match rng.below(1000) {
            0 | 1 => IpAddr::V4(anonymizer(&mut rng)),
            2 | 3 => IpAddr::V4(far_away(&mut rng)),
            4 => IpAddr::V4(Ipv4Addr::from(0xAC10_0000 | (rng.below(5000) as u32) << 8 | 5)),
            _ => IpAddr::V4(home(i)),
        };
        let request_id = format!("bench-{n}");
        let tokens = &tokens;
        let tenant = &tenant;
        let took = ward_auth::signin::from_source(Some(ip), &request_id, Some(ua), None, async move {
            let t = Instant::now();
            let level = tokens.assess_sign_in(tenant, user, Some(PASSWORD)).await;
            let risk = level.as_str();
            tokens.sign_in_completed(tenant, user.id, (risk, time::OffsetDateTime::now_utc()), "pwd", None, true).await;
            (t.elapsed(), level != ward_risk::RiskLevel::None)
        })
        .await;
        if n >= warmup {
            all.push(took.0);
            if took.1 { risky.push(took.0) } else { quiet.push(took.0) }
        }
    }
    tokens.flush_sign_in_profiles().await;
    let show = |name: &str, v: &[Duration]| {
        if v.is_empty() {
            return;
        }
        let (p50, p99) = crate::summarize(v.to_vec());
        let mut s = v.to_vec();
        s.sort();
        let p999 = s[((s.len() as f64 - 1.0) * 0.999).round() as usize].as_secs_f64() * 1e6;
        println!("  {name:<28} {:>7} sign-ins   p50 {p50:>8.1} µs   p99 {p99:>8.1} µs   p99.9 {p999:>8.1} µs", v.len());
    };
    println!("what the detectors add to a sign-in:");
    show("all", &all);
    show("no detection", &quiet);
    show("with detections (stored)", &risky);
    let (_, p99) = crate::summarize(all);
    println!("target: p99 ≤ {TARGET_P99_US} µs over all sign-ins → {}", if p99 <= TARGET_P99_US { "met" } else { "NOT met" });

    let t = Instant::now();
    let feeds = tokens.risk().feeds();
    let report = ward_auth::risk_offline::scan(
        &directory,
        tokens.risk().settings(),
        &feeds,
        now - time::Duration::hours(24),
        now + time::Duration::minutes(1),
    )
    .await
    .unwrap();
    println!(
        "offline pass over the last 24 hours: {} records read, {} findings, {} stored, in {:.2} s",
        report.records,
        report.found,
        report.stored,
        t.elapsed().as_secs_f64()
    );
}
