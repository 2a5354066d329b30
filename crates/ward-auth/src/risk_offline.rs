//! Identity Protection's offline pass (issue 8): hindsight over the recorded sign-ins of a time
//! window, across every node that wrote them.
//!
//! - **Travel** over every successful sign-in, those that used a session as well as those that
//!   checked a password: a session cookie replayed from the far side of the world shows here,
//!   where the real-time detectors (which run when a first factor is checked) never see it.
//!   The user's stored profile says whether they are learnt, where they usually are, and where
//!   their recent password and passkey sign-ins were.
//! - **Password spray** over the failed and successful password sign-ins of all nodes: one
//!   node's counters see only what reached that node. The log keeps nothing of passwords, so
//!   every failure from a network counts as the same password: many accounts failing from one
//!   network, then one getting in from it, is the finding.
//!
//! Brute force is left to the real-time path: without the passwords' fingerprints, ten guesses
//! and a person's ten typos look alike in the log.
//!
//! Each pass also stores the decay of users' risk (low and medium contributions lose a level a
//! month), so `riskyUsers` shows what conditional access already acts on.
//!
//! A detection already stored for the same user and kind within ten minutes of the same
//! activity (by the real-time path, or an earlier pass over an overlapping window) is not stored
//! again, so passes may overlap freely.

use std::collections::HashMap;
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};
use ward_core::sign_in_log::SignInQuery;
use ward_core::{ObjectId, TenantId};
use ward_directory::Directory;
use ward_risk::{AccountKey, Detection, PasswordAttempt, PasswordFingerprint, Settings, SignInFacts, SignInProfile};

/// Records read per tenant and pass at most (newest first): a bound on one pass's memory.
pub const MAX_RECORDS: usize = 200_000;
/// Two detections of one kind for one user this close in activity time are the same finding.
const SAME_FINDING: Duration = Duration::minutes(10);
/// AADSTS50126: a wrong password (or unknown name).
const BAD_PASSWORD: i64 = 50126;

/// What a pass found and stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanReport {
    pub records: usize,
    pub found: usize,
    pub stored: usize,
    /// Users whose risk decayed (stored with a history item).
    pub decayed: usize,
}

/// Runs the offline detectors over the sign-ins recorded in `[since, until)` in every tenant.
pub async fn scan(
    directory: &Directory,
    settings: &Settings,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> ward_directory::Result<ScanReport> {
    let mut report = ScanReport::default();
    for tenant in directory.tenants().await? {
        let records = read_window(directory, tenant.id, since, until).await?;
        report.records += records.len();
        let now = directory.now();
        let mut found = travel(directory, tenant.id, &records, settings, now).await?;
        found.extend(spray(&records, settings, now));
        report.found += found.len();
        let mut by_user: HashMap<ObjectId, Vec<Detection>> = HashMap::new();
        for d in found {
            by_user.entry(d.user).or_default().push(d);
        }
        for (user, detections) in by_user {
            let known = directory.detections_of_user(tenant.id, user).await?;
            let fresh: Vec<Detection> = detections
                .into_iter()
                .filter(|d| !known.iter().any(|k| k.event_type == d.event_type && (k.activity_at - d.activity_at).abs() <= SAME_FINDING))
                .collect();
            report.stored += directory.record_detections(tenant.id, user, &fresh).await?;
        }
        report.decayed += directory.decay_risks(tenant.id).await?;
    }
    Ok(report)
}

/// One recorded sign-in, as the offline detectors read it.
struct Recorded {
    at: OffsetDateTime,
    user: Option<ObjectId>,
    name: String,
    ip: IpAddr,
    error: i64,
    interactive: bool,
    country: Option<String>,
    city: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    correlation: Option<String>,
}

fn recorded(doc: &serde_json::Value) -> Option<Recorded> {
    let at = OffsetDateTime::parse(doc["createdDateTime"].as_str()?, &time::format_description::well_known::Rfc3339).ok()?;
    let ip: IpAddr = doc["ipAddress"].as_str()?.parse().ok()?;
    let text = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    Some(Recorded {
        at,
        user: doc["userId"].as_str().and_then(|u| u.parse().ok()),
        name: doc["userPrincipalName"].as_str().unwrap_or_default().to_ascii_lowercase(),
        ip,
        error: doc["status"]["errorCode"].as_i64().unwrap_or(-1),
        interactive: doc["isInteractive"].as_bool() == Some(true),
        country: text(&doc["location"]["countryOrRegion"]),
        city: text(&doc["location"]["city"]),
        latitude: doc["location"]["geoCoordinates"]["latitude"].as_f64(),
        longitude: doc["location"]["geoCoordinates"]["longitude"].as_f64(),
        correlation: text(&doc["correlationId"]),
    })
}

/// The window's records, oldest first (at most [`MAX_RECORDS`], the newest kept).
async fn read_window(
    directory: &Directory,
    tenant: TenantId,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> ward_directory::Result<Vec<Recorded>> {
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let q = SignInQuery { since: Some(since), until: Some(until), before, limit: 1000, ..Default::default() };
        let page = directory.store().sign_ins(tenant, &q).await?;
        let Some(last) = page.last() else { break };
        let at =
            last["createdDateTime"].as_str().and_then(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok());
        let id = last["id"].as_str().and_then(|i| i.parse().ok());
        let full = page.len() == 1000;
        all.extend(page.iter().filter_map(recorded));
        match (at, id) {
            (Some(at), Some(id)) if full && all.len() < MAX_RECORDS => before = Some(((at.unix_timestamp_nanos() / 1000) as i64, id)),
            _ => break,
        }
    }
    all.reverse();
    Ok(all)
}

async fn travel(
    directory: &Directory,
    tenant: TenantId,
    records: &[Recorded],
    settings: &Settings,
    now: OffsetDateTime,
) -> ward_directory::Result<Vec<Detection>> {
    let mut by_user: HashMap<ObjectId, Vec<SignInFacts>> = HashMap::new();
    for r in records.iter().filter(|r| r.error == 0 && r.interactive) {
        let Some(user) = r.user else { continue };
        let mut f = SignInFacts::new(user, r.at);
        f.ip = Some(r.ip);
        f.country = r.country.clone();
        f.city = r.city.clone();
        f.latitude = r.latitude;
        f.longitude = r.longitude;
        f.correlation_id = r.correlation.clone();
        f.request_id = r.correlation.clone();
        by_user.entry(user).or_default().push(f);
    }
    let mut found = Vec::new();
    for (user, sign_ins) in by_user {
        // The stored profile: whether the user is learnt, where they usually are, and their last
        // sign-ins with a password or passkey, before and during the window (travel is judged
        // both ways in time). A user never profiled is still learning: nothing to judge.
        let start: SignInProfile = match directory.store().sign_in_profile(tenant, user).await? {
            Some(doc) => serde_json::from_str(&doc).unwrap_or_default(),
            None => continue,
        };
        found.extend(ward_risk::detect_travel(&start, &sign_ins, settings, now));
    }
    Ok(found)
}

fn spray(records: &[Recorded], settings: &Settings, now: OffsetDateTime) -> Vec<Detection> {
    let attempts = records.iter().filter(|r| r.interactive && (r.error == 0 || r.error == BAD_PASSWORD)).map(|r| PasswordAttempt {
        at: r.at,
        ip: r.ip,
        account: match r.user {
            Some(u) => AccountKey::User(u),
            None => AccountKey::UnknownName(name_key(&r.name)),
        },
        password: PasswordFingerprint(0),
        correct: r.error == 0,
        request_id: r.correlation.clone(),
        correlation_id: r.correlation.clone(),
    });
    // Brute force needs distinct passwords, which the log cannot tell: only spray is kept.
    let mut spray_only = settings.spray.clone();
    spray_only.brute_force_distinct_passwords = usize::MAX;
    ward_risk::detect_password_attacks(attempts, &spray_only, now)
}

/// A stable key for a name that matches no user.
fn name_key(name: &str) -> u64 {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.as_bytes());
    u64::from_be_bytes(digest.as_ref()[..8].try_into().unwrap_or([0; 8]))
}
