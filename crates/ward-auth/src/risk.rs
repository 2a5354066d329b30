//! Identity Protection at sign-in (issue 8): once a first factor checks out (a password or a
//! passkey), the real-time detectors of `ward-risk` judge the sign-in against the user's profile,
//! the administrator's address feeds and this node's counters of recent failures. What they find
//! is stored at once (detections and the user's risk, one unit of work) and becomes the session's
//! sign-in risk, which conditional access's `signInRiskLevels` reads at every authorize request of
//! the session. The profile learns from the sign-in when the session starts, through a background
//! writer, so a sign-in never waits for that write.
//!
//! Cost on the sign-in path: one point read (the profile), an MMDB look-up when configured, and
//! the detectors' few microseconds; a write only when something was detected.

use crate::crypto::MacKey;
use crate::sign_in_log::Batches;
use crate::token::TokenService;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use ward_core::store::Store;
use ward_core::tenant::Tenant;
use ward_core::user::User;
use ward_core::{ObjectId, TenantId};
use ward_risk::{
    AccountKey, Feeds, GeoIp, PasswordFingerprint, RiskLevel, Settings, SignInFacts, SignInOutcome, SignInProfile, SourceCounters,
};

/// What the detectors concluded about the sign-in being handled, kept for the session it starts.
#[derive(Clone, Debug)]
pub(crate) struct Assessment {
    /// The session's `sign_in_risk`: the level, then the detections' event types.
    pub(crate) risk: String,
    pub(crate) facts: SignInFacts,
}

/// The sign-in a new session completes, as far as Identity Protection is concerned.
#[derive(Clone, Debug, Default)]
pub(crate) struct Completing {
    /// The session's `sign_in_risk`.
    pub(crate) risk: String,
    /// The id of the request that checked the first factor (the detections' requestId).
    pub(crate) request: String,
    /// When the first factor was checked: the session's auth_time, the detections' activity time.
    pub(crate) checked: Option<time::OffsetDateTime>,
    /// What was known of the sign-in, for the profile (else read again from this request).
    pub(crate) facts: Option<SignInFacts>,
}

impl From<Assessment> for Completing {
    fn from(a: Assessment) -> Completing {
        Completing {
            risk: a.risk,
            request: a.facts.request_id.clone().unwrap_or_default(),
            checked: Some(a.facts.at),
            facts: Some(a.facts),
        }
    }
}

/// A sign-in to learn from, queued for the profile writer.
#[derive(Clone)]
struct ProfileUpdate {
    tenant: TenantId,
    user: ObjectId,
    facts: SignInFacts,
    outcome: SignInOutcome,
}

/// How long the profile writer gathers sign-ins before storing what they taught: long, so that
/// its commits seldom take the store's one writer from the sign-ins themselves (a lesson needs
/// no hurry; reading the sign-in log stores what is pending at once).
const PROFILE_LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// Identity Protection's state on one node: thresholds, feeds, geolocation, failure counters,
/// and the profile writer.
pub struct RiskEngine {
    settings: Settings,
    feeds: RwLock<Arc<Feeds>>,
    geo: RwLock<Option<Arc<GeoIp>>>,
    counters: Mutex<SourceCounters>,
    /// Keys the fingerprints of tried passwords: the same password gives the same fingerprint
    /// on every account and node, and nothing without the key.
    fingerprint: MacKey,
    profiles: Batches<ProfileUpdate>,
}

impl RiskEngine {
    pub(crate) fn new(store: Arc<dyn Store>, fingerprint: MacKey, settings: Settings) -> RiskEngine {
        let limits = settings.profile.clone();
        RiskEngine {
            counters: Mutex::new(SourceCounters::new(&settings.spray)),
            settings,
            feeds: RwLock::new(Arc::new(Feeds::empty())),
            geo: RwLock::new(None),
            fingerprint,
            profiles: Batches::with_sink(
                "sign-in profiles",
                PROFILE_LINGER,
                Arc::new(move |batch: Vec<ProfileUpdate>| {
                    let (store, limits) = (store.clone(), limits.clone());
                    Box::pin(async move { learn(store.as_ref(), batch, &limits).await })
                }),
            ),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn feeds(&self) -> Arc<Feeds> {
        self.feeds.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn geo(&self) -> Option<Arc<GeoIp>> {
        self.geo.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) async fn flush_profiles(&self) {
        self.profiles.flush().await;
    }

    fn password_fingerprint(&self, password: &str) -> PasswordFingerprint {
        let tag = self.fingerprint.tag(password.as_bytes());
        PasswordFingerprint(u64::from_be_bytes(tag[..8].try_into().unwrap_or([0; 8])))
    }
}

/// The profile writer's sink: each user's updates applied in order to their stored profile,
/// all saved in one transaction.
async fn learn(store: &dyn Store, batch: Vec<ProfileUpdate>, limits: &ward_risk::ProfileLimits) -> ward_core::store::StoreResult<()> {
    let mut order: Vec<(TenantId, ObjectId)> = Vec::new();
    let mut by_user: HashMap<(TenantId, ObjectId), Vec<ProfileUpdate>> = HashMap::new();
    for u in batch {
        let key = (u.tenant, u.user);
        if !by_user.contains_key(&key) {
            order.push(key);
        }
        by_user.entry(key).or_default().push(u);
    }
    let mut saved = Vec::with_capacity(order.len());
    for key in order {
        let mut profile = read_profile(store, key.0, key.1).await?;
        let mut last = None;
        for u in by_user.remove(&key).unwrap_or_default() {
            profile = profile.update(&u.facts, u.outcome, limits);
            last = Some(u.facts.at);
        }
        let doc = serde_json::to_string(&profile).map_err(|e| ward_core::store::StoreError::Corrupt(e.to_string()))?;
        saved.push((key.0, key.1, doc, last.unwrap_or_else(time::OffsetDateTime::now_utc)));
    }
    store.save_sign_in_profiles(&saved).await
}

/// A user's stored profile; an unreadable document is learnt again from nothing.
async fn read_profile(store: &dyn Store, tenant: TenantId, user: ObjectId) -> ward_core::store::StoreResult<SignInProfile> {
    Ok(match store.sign_in_profile(tenant, user).await? {
        Some(doc) => serde_json::from_str(&doc).unwrap_or_else(|e| {
            tracing::warn!(tenant = %tenant, user = %user, error = %e, "a stored sign-in profile does not parse: learning again");
            SignInProfile::default()
        }),
        None => SignInProfile::default(),
    })
}

/// The level part of a session's `sign_in_risk`, for conditional access (`None` when nothing
/// was judged).
pub fn session_risk_level(sign_in_risk: &str) -> Option<ward_policy::RiskLevel> {
    policy_level(sign_in_risk.split_whitespace().next()?)
}

/// A risk level in Graph's words (`none`, `low`, …) as conditional access knows it.
pub(crate) fn policy_level(name: &str) -> Option<ward_policy::RiskLevel> {
    serde_json::from_value(serde_json::Value::String(name.into())).ok()
}

/// The event types part of a session's `sign_in_risk`.
pub fn session_risk_events(sign_in_risk: &str) -> Vec<&str> {
    sign_in_risk.split_whitespace().skip(1).collect()
}

impl TokenService {
    pub fn risk(&self) -> &RiskEngine {
        &self.risk
    }

    /// Replaces the address feeds and leaked-password list the detectors consult (the server
    /// loads them from the administrator's files, and again when the files change).
    pub fn set_risk_feeds(&self, feeds: Arc<Feeds>) {
        *self.risk.feeds.write().unwrap_or_else(|e| e.into_inner()) = feeds;
    }

    /// Replaces the geolocation databases (`None`: countries from the embedded table only).
    pub fn set_geoip(&self, geo: Option<Arc<GeoIp>>) {
        *self.risk.geo.write().unwrap_or_else(|e| e.into_inner()) = geo;
    }

    /// Where an address is: the administrator's geolocation databases, with the country from the
    /// table embedded in the binary when they do not say.
    pub fn locate(&self, ip: std::net::IpAddr) -> ward_risk::GeoFacts {
        let ip = ward_risk::canonical(ip);
        let mut found = self.risk.geo().map(|g| g.lookup(ip)).unwrap_or_default();
        if found.country.is_none() {
            found.country = crate::access::country_of(ip).map(str::to_string);
        }
        found
    }

    /// What is known of the request being handled, for the detectors: address, location,
    /// network, proven device, browser; with the password when it was the first factor.
    pub async fn sign_in_facts(&self, tenant: &Tenant, user: ObjectId, password: Option<&str>) -> SignInFacts {
        let (ip, request_id) = crate::signin::current_request();
        let mut facts = SignInFacts::new(user, self.directory.now());
        facts.ip = ip.map(ward_risk::canonical);
        if let Some(ip) = facts.ip {
            facts.place(self.locate(ip));
        }
        if crate::signin::current_device_token().is_some() {
            facts.device_id = self.proven_device(tenant).await.and_then(|(doc, _)| doc["deviceId"].as_str().map(str::to_string));
        }
        facts.user_agent = crate::signin::current_user_agent();
        if let Some(p) = password {
            facts.password_fingerprint = Some(self.risk.password_fingerprint(p));
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, p.as_bytes());
            facts.password_sha1 = digest.as_ref().try_into().ok();
        }
        facts.request_id = (!request_id.is_empty()).then(|| request_id.clone());
        facts.correlation_id = facts.request_id.clone();
        facts
    }

    /// Judges a sign-in whose first factor just checked out, stores what was found, and keeps
    /// the verdict for the session this request starts. Never fails the sign-in: a detection
    /// that cannot be stored is logged, and the sign-in risk still reaches conditional access.
    pub async fn assess_sign_in(&self, tenant: &Tenant, user: &User, password: Option<&str>) -> RiskLevel {
        let facts = self.sign_in_facts(tenant, user.id, password).await;
        let profile = read_profile(self.directory.store().as_ref(), tenant.id, user.id).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "reading a sign-in profile failed: judged as a new user");
            SignInProfile::default()
        });
        let feeds = self.risk.feeds();
        let evaluation = {
            let counters = self.risk.counters.lock().unwrap_or_else(|e| e.into_inner());
            ward_risk::evaluate_sign_in(&facts, &profile, &feeds, &counters, &self.risk.settings)
        };
        if !evaluation.detections.is_empty() {
            let kinds: Vec<&str> = evaluation.detections.iter().map(|d| d.event_type.as_str()).collect();
            tracing::info!(tenant = %tenant.id, user = %user.id, risk = evaluation.sign_in_risk.as_str(), detections = ?kinds, "risk detected at sign-in");
            if let Err(e) = self.directory.record_detections(tenant.id, user.id, &evaluation.detections).await {
                tracing::error!(error = %e, "storing risk detections failed");
            }
        }
        let mut risk = evaluation.sign_in_risk.as_str().to_string();
        for d in &evaluation.detections {
            let realtime = d.activity == ward_risk::Activity::SignIn && d.timing == ward_risk::DetectionTiming::Realtime;
            if realtime && !risk.split(' ').any(|t| t == d.event_type.as_str()) {
                risk.push(' ');
                risk.push_str(d.event_type.as_str());
            }
        }
        // What goes on to the session and the profile keeps nothing of the password.
        let facts = SignInFacts { password_fingerprint: None, password_sha1: None, ..facts };
        crate::signin::keep_assessment(Assessment { risk, facts });
        evaluation.sign_in_risk
    }

    /// A wrong password: counted for the spray and brute-force detectors (node-local, bounded).
    pub fn count_password_failure(&self, user: Option<ObjectId>, typed_name: &str, password: &str) {
        let (Some(ip), _) = crate::signin::current_request() else { return };
        let account = match user {
            Some(u) => AccountKey::User(u),
            None => {
                let tag = self.risk.fingerprint.tag(format!("name:{}", typed_name.trim().to_lowercase()).as_bytes());
                AccountKey::UnknownName(u64::from_be_bytes(tag[..8].try_into().unwrap_or([0; 8])))
            }
        };
        let fingerprint = self.risk.password_fingerprint(password);
        let now = self.directory.now();
        self.risk.counters.lock().unwrap_or_else(|e| e.into_inner()).record_failure(ip, account, fingerprint, now);
    }

    /// A session starts for the sign-in made at `sign_in_at`: the profile learns from it (in the
    /// background, when `learn`), and a risky sign-in completed with MFA remediates its own
    /// detections (Entra's `userPassedMFADrivenByRiskBasedPolicy`), not those of other sign-ins.
    pub async fn sign_in_completed(
        &self,
        tenant: &Tenant,
        user: ObjectId,
        (risk, sign_in_at): (&str, time::OffsetDateTime),
        amr: &str,
        facts: Option<SignInFacts>,
        learn: bool,
    ) {
        let level = risk.split_whitespace().next().and_then(|l| serde_json::from_value(serde_json::Value::String(l.into())).ok());
        let level: RiskLevel = level.unwrap_or_default();
        let mfa = amr.split_whitespace().any(|a| a == "mfa");
        if learn {
            let facts = match facts {
                Some(f) => f,
                None => self.sign_in_facts(tenant, user, None).await,
            };
            let outcome = SignInOutcome { success: true, risk: level, mfa_performed: mfa };
            self.risk.profiles.record(ProfileUpdate { tenant: tenant.id, user, facts, outcome });
        }
        if mfa
            && level > RiskLevel::None
            && let Err(e) = self.directory.remediate_sign_in(tenant.id, user, sign_in_at).await
        {
            tracing::error!(error = %e, "remediating a risky sign-in after MFA failed");
        }
    }

    /// Stores every profile update queued so far (tests, shutdown).
    pub async fn flush_sign_in_profiles(&self) {
        self.risk.profiles.flush().await;
    }
}
