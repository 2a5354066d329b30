//! Identity Protection's offline pass (issue 8): hindsight over the recorded sign-ins of a time
//! window, across every node that wrote them.
//!
//! **Travel** over every successful sign-in, those that used a session as well as those that
//! checked a password: a session cookie replayed from the far side of the world shows here,
//! where the real-time detectors (which run when a first factor is checked) never see it. The
//! user's stored profile says whether they are learnt, where they usually are, and where their
//! recent password and passkey sign-ins were. Addresses on the anonymizer feed are not judged
//! (their location says nothing about the user), as in real time.
//!
//! Password spray and brute force are left to the real-time path: the log keeps nothing of
//! passwords, and does not say which successful sign-ins checked one, so from the log alone a
//! spray looks like an office's typos followed by its people opening their apps.
//!
//! Each pass also stores the decay of users' risk (low and medium contributions lose a level a
//! month), so `riskyUsers` shows what conditional access already acts on.
//!
//! A finding of the same kind for the same user within ten minutes of the same activity as one
//! already stored (by the real-time path, an earlier pass, or another node's pass at the same
//! moment: the check is inside the unit of work that stores) or as another of the same pass is
//! stored once, so passes may overlap freely and every node may run them.

use std::collections::HashMap;
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};
use ward_core::sign_in_log::SignInQuery;
use ward_core::{ObjectId, TenantId};
use ward_directory::Directory;
use ward_risk::{Detection, Feeds, Settings, SignInFacts, SignInProfile};

/// Records read per tenant and pass at most (newest first): a bound on one pass's memory.
pub const MAX_RECORDS: usize = 200_000;
/// Two detections of one kind for one user this close in activity time are the same finding.
const SAME_FINDING: Duration = Duration::minutes(10);

/// What a pass found and stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanReport {
    pub records: usize,
    pub found: usize,
    pub stored: usize,
    /// Users whose risk decayed (stored with a history item).
    pub decayed: usize,
    /// Tenants whose pass failed (logged).
    pub failed_tenants: usize,
}

/// Runs the offline detectors over the sign-ins recorded in `[since, until)` in every tenant. A
/// tenant whose pass fails is logged and skipped; the others go on.
pub async fn scan(
    directory: &Directory,
    settings: &Settings,
    feeds: &Feeds,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> ward_directory::Result<ScanReport> {
    let mut report = ScanReport::default();
    for tenant in directory.tenants().await? {
        if let Err(e) = scan_tenant(directory, tenant.id, settings, feeds, (since, until), &mut report).await {
            tracing::error!(tenant = %tenant.id, error = %e, "the offline risk pass failed for a tenant");
            report.failed_tenants += 1;
        }
    }
    Ok(report)
}

async fn scan_tenant(
    directory: &Directory,
    tenant: TenantId,
    settings: &Settings,
    feeds: &Feeds,
    (since, until): (OffsetDateTime, OffsetDateTime),
    report: &mut ScanReport,
) -> ward_directory::Result<()> {
    let records = read_window(directory, tenant, since, until).await?;
    report.records += records.len();
    let now = directory.now();
    let found = travel(directory, tenant, &records, settings, feeds, now).await?;
    report.found += found.len();
    let mut by_user: HashMap<ObjectId, Vec<Detection>> = HashMap::new();
    for d in found {
        let mine = by_user.entry(d.user).or_default();
        // One story told by several records of one session: stored once.
        if !mine.iter().any(|m| same_finding(m, &d)) {
            mine.push(d);
        }
    }
    for (user, detections) in by_user {
        report.stored += directory.record_detections_once(tenant, user, &detections, SAME_FINDING).await?;
    }
    report.decayed += directory.decay_risks(tenant).await?;
    Ok(())
}

fn same_finding(a: &Detection, b: &Detection) -> bool {
    a.event_type == b.event_type && (a.activity_at - b.activity_at).abs() <= SAME_FINDING
}

/// One recorded sign-in, as the offline detectors read it.
struct Recorded {
    at: OffsetDateTime,
    user: Option<ObjectId>,
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
    feeds: &Feeds,
    now: OffsetDateTime,
) -> ward_directory::Result<Vec<Detection>> {
    let mut by_user: HashMap<ObjectId, Vec<SignInFacts>> = HashMap::new();
    for r in records.iter().filter(|r| r.error == 0 && r.interactive && !feeds.anonymous_ips.contains(r.ip)) {
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
