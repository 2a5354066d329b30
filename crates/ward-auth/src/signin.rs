//! Password sign-in and the browser session it starts. The session cookie carries 256 random
//! bits; the store keeps only their SHA-256. Failed attempts lock an account out for a while
//! (Entra's smart-lockout shape: ten failures, then a lock that doubles), per node.

use crate::crypto::handle_hash;
use crate::error::OAuthError;
use crate::token::TokenService;
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};
use ward_core::TenantId;
use ward_core::store::{LockoutPolicy, StoredSession};
use ward_core::tenant::Tenant;
use ward_core::user::User;

/// How long a sign-in lasts before the person must sign in again (without "stay signed in": the
/// cookie also ends with the browser).
pub const SESSION_LIFETIME: Duration = Duration::hours(12);
/// … and after how long without use it ends.
pub const SESSION_IDLE: Duration = Duration::hours(2);
/// With "stay signed in": the cookie outlives the browser, for this long at most…
pub const PERSISTENT_LIFETIME: Duration = Duration::days(30);
/// … and ends after this long without use.
pub const PERSISTENT_IDLE: Duration = Duration::days(7);
/// The idle expiry is written back at most this often per session (not on every request).
const TOUCH_EVERY: Duration = Duration::minutes(5);
/// Failures allowed before the account locks.
pub const LOCKOUT_THRESHOLD: u32 = 10;
/// The first lock; each further failure doubles it, up to an hour.
pub const LOCKOUT_FIRST: Duration = Duration::seconds(60);
const LOCKOUT_MAX: Duration = Duration::hours(1);
/// Failures older than this no longer count towards a lock.
const LOCKOUT_FORGET: Duration = Duration::hours(1);
/// Failures from one network (IPv4 /24, IPv6 /64), whatever the accounts, that lock the network:
/// password spraying from one place stops there.
pub const SOURCE_THRESHOLD: u32 = 50;
const SOURCE_FIRST: Duration = Duration::minutes(5);
/// A network a user signed in from within this long is familiar to them: failures from it are
/// counted apart from failures elsewhere, so an attacker elsewhere cannot lock them out there.
pub const FAMILIAR_FOR: Duration = Duration::days(90);

/// What the HTTP layer knows of the request being handled.
#[derive(Clone, Default)]
struct Source {
    ip: Option<std::net::IpAddr>,
    request_id: String,
    user_agent: Option<String>,
    /// A device's signed proof of itself (cookie `ward_device` or header `X-Ward-Device`).
    device_token: Option<String>,
    /// Identity Protection's verdict on a sign-in this request made, for the session it starts.
    assessment: std::sync::Arc<std::sync::Mutex<Option<crate::risk::Assessment>>>,
}

tokio::task_local! {
    static SOURCE: Source;
}

/// Longest device token kept for a request.
const MAX_DEVICE_TOKEN: usize = 4096;

/// Longest user agent kept for a request (conditional access reads the platform from it).
const MAX_USER_AGENT: usize = 512;

/// Runs `work` with `ip` as the client address sign-ins see, `request_id` as the correlation id
/// of what it records, and the request's `User-Agent` (set by the HTTP layer per request).
pub async fn from_source<F: std::future::Future>(
    ip: Option<std::net::IpAddr>,
    request_id: &str,
    user_agent: Option<&str>,
    device_token: Option<&str>,
    work: F,
) -> F::Output {
    let source = Source {
        ip,
        request_id: request_id.to_string(),
        user_agent: user_agent.map(|a| a.chars().take(MAX_USER_AGENT).collect()),
        device_token: device_token.filter(|t| t.len() <= MAX_DEVICE_TOKEN).map(str::to_string),
        assessment: Default::default(),
    };
    SOURCE.scope(source, work).await
}

/// The client address and request id of the request being handled, if known.
pub(crate) fn current_request() -> (Option<std::net::IpAddr>, String) {
    SOURCE.try_with(|s| (s.ip, s.request_id.clone())).unwrap_or_default()
}

/// The device platform the request's user agent names, if any.
pub(crate) fn current_platform() -> Option<ward_policy::Platform> {
    SOURCE.try_with(|s| s.user_agent.as_deref().and_then(ward_policy::platform_of)).ok().flatten()
}

/// The request's user agent, if any (bounded).
pub(crate) fn current_user_agent() -> Option<String> {
    SOURCE.try_with(|s| s.user_agent.clone()).ok().flatten()
}

/// Keeps Identity Protection's verdict on this request's sign-in for the session it starts.
pub(crate) fn keep_assessment(assessment: crate::risk::Assessment) {
    let _ = SOURCE.try_with(|s| *s.assessment.lock().unwrap_or_else(|e| e.into_inner()) = Some(assessment));
}

/// The verdict kept by [`keep_assessment`] in this request, taken (a session uses it once).
pub(crate) fn take_assessment() -> Option<crate::risk::Assessment> {
    SOURCE.try_with(|s| s.assessment.lock().unwrap_or_else(|e| e.into_inner()).take()).ok().flatten()
}

/// The device token the request carries, if any (not yet verified).
pub(crate) fn current_device_token() -> Option<String> {
    SOURCE.try_with(|s| s.device_token.clone()).ok().flatten()
}

/// The network an address belongs to, as smart lockout counts it: IPv4 /24, IPv6 /64.
pub fn network_of(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network_of(std::net::IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn current_network() -> Option<String> {
    SOURCE.try_with(|s| s.ip).ok().flatten().map(network_of)
}

/// Keys counted in the store (seen by every node): accounts and networks.
fn shared_key(key: &str) -> bool {
    key.starts_with("user:") || key.starts_with("source:")
}
const MAX_TRACKED: usize = 100_000;

#[derive(Debug)]
pub enum SignInError {
    /// Unknown user or wrong password: the same answer for both.
    BadCredentials,
    Locked {
        until: OffsetDateTime,
    },
    Disabled,
    Unavailable,
    /// A wrong one-time code.
    BadCode,
    /// The pending sign-in (password checked, code due) is unknown, altered or too old.
    Expired,
}

pub struct SignedIn {
    /// The cookie value: shown to the browser only.
    pub cookie: String,
    pub session: StoredSession,
    pub user: User,
}

#[derive(Default)]
pub(crate) struct Lockout {
    failures: HashMap<(TenantId, String), (u32, OffsetDateTime)>,
}

fn decoy_hash() -> &'static str {
    ward_directory::secrets::decoy_hash()
}

impl TokenService {
    /// Lockout keys: `user:{id}` for accounts (counted in the store, so every node sees every
    /// failure), `name:{typed name}` for names that match no account (counted on this node only:
    /// nothing to protect, and an attacker's made-up names must not fill the store; they still
    /// lock as accounts do, so a lock says nothing about whether a name exists).
    pub(crate) async fn locked_until(&self, key: &(TenantId, String), now: OffsetDateTime) -> Option<OffsetDateTime> {
        if shared_key(&key.1) {
            return self.directory.store().locked_until(key.0, &key.1, now).await.ok().flatten();
        }
        let map = self.lockout.lock().unwrap_or_else(|e| e.into_inner());
        map.failures.get(key).filter(|(n, until)| *n >= LOCKOUT_THRESHOLD && *until > now).map(|(_, until)| *until)
    }

    pub(crate) async fn clear_failures(&self, key: &(TenantId, String)) {
        if shared_key(&key.1) {
            if let Err(e) = self.directory.store().clear_lockout(key.0, &key.1).await {
                tracing::warn!(error = %e, "could not clear a lockout counter");
            }
            return;
        }
        self.lockout.lock().unwrap_or_else(|e| e.into_inner()).failures.remove(key);
    }

    pub(crate) async fn record_failure(&self, key: (TenantId, String), now: OffsetDateTime) {
        if shared_key(&key.1) {
            let policy = if key.1.starts_with("source:") {
                LockoutPolicy { threshold: SOURCE_THRESHOLD, first: SOURCE_FIRST, max: LOCKOUT_MAX, forget: LOCKOUT_FORGET }
            } else {
                LockoutPolicy { threshold: LOCKOUT_THRESHOLD, first: LOCKOUT_FIRST, max: LOCKOUT_MAX, forget: LOCKOUT_FORGET }
            };
            if let Err(e) = self.directory.store().record_lockout_failure(key.0, &key.1, now, &policy).await {
                tracing::warn!(error = %e, "could not count a failed sign-in");
            }
            return;
        }
        let mut map = self.lockout.lock().unwrap_or_else(|e| e.into_inner());
        if map.failures.len() >= MAX_TRACKED {
            map.failures.clear();
        }
        let entry = map.failures.entry(key).or_insert((0, now));
        entry.0 += 1;
        if entry.0 >= LOCKOUT_THRESHOLD {
            let doublings = (entry.0 - LOCKOUT_THRESHOLD).min(6);
            entry.1 = now + (LOCKOUT_FIRST * 2i32.pow(doublings)).min(LOCKOUT_MAX);
        }
    }

    /// Signs a person in with their user principal name and password, starting a session, whatever
    /// other methods they have (the password-only path; pages use [`Self::check_password`] and
    /// [`Self::after_password`]).
    pub async fn password_sign_in(&self, tenant: &Tenant, username: &str, password: &str) -> Result<SignedIn, SignInError> {
        let (user, amr) = self.check_password(tenant, username, password).await?;
        self.start_session(tenant, user, amr, false).await
    }

    /// Checks a user principal name and password (with lockout, and the same work for unknown names).
    /// A Temporary Access Pass is accepted in the password's place; the second value is the `amr`
    /// the step earns: `pwd`, or `tap mfa`.
    pub async fn check_password(&self, tenant: &Tenant, username: &str, password: &str) -> Result<(User, &'static str), SignInError> {
        let result = self.check_password_unlogged(tenant, username, password).await;
        let failure = match &result {
            Err(SignInError::BadCredentials) => Some((50126, "Error validating credentials due to invalid username or password.")),
            Err(SignInError::Locked { .. }) => Some((50053, "The account is locked after too many failed sign-in attempts.")),
            Err(SignInError::Disabled) => Some((50057, "The user account is disabled.")),
            _ => None,
        };
        if let Some(error) = failure {
            // The account, when the name is one (never said to the person; recorded for administrators).
            let user = match self.directory.user(tenant.id, username.trim()).await {
                Ok(u) if username.len() <= 113 => Some(u),
                _ => None,
            };
            // What was typed is kept only when it is a name of this tenant's domains: a password
            // typed into the name field must not end up in the log.
            let typed = username.trim();
            let plausible = typed.rsplit_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && typed.len() <= 113
                    && tenant.verified_domains.iter().any(|d| d.name.as_str().eq_ignore_ascii_case(domain))
            });
            let typed = if plausible { typed.to_string() } else { "(not a user name of this organization)".to_string() };
            self.log_sign_in(crate::access::SignInEvent {
                tenant: tenant.id,
                user: user.as_ref(),
                attempted_name: user.is_none().then_some(typed.as_str()),
                service_principal: None,
                app: None,
                resource: None,
                interactive: true,
                public: false,
                error: Some(error),
                interrupted: false,
                access: None,
            });
        }
        result
    }

    async fn check_password_unlogged(&self, tenant: &Tenant, username: &str, password: &str) -> Result<(User, &'static str), SignInError> {
        let now = self.directory.now();
        let unavailable = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "sign-in: directory unavailable");
            SignInError::Unavailable
        };
        // No name longer than a UPN can be is looked up or remembered (the lockout map holds names).
        if username.trim().is_empty() || username.len() > 113 || username.contains('/') || password.len() > 256 {
            let _ = ward_directory::secrets::verify_password_off_thread(password.get(..256).unwrap_or(""), decoy_hash().to_string()).await;
            return Err(SignInError::BadCredentials);
        }
        let user = {
            match self.directory.user(tenant.id, username.trim()).await {
                Ok(u) => Some(u),
                Err(e) if e.code() == ward_core::ErrorCode::NotFound || e.code() == ward_core::ErrorCode::InvalidValue => None,
                Err(e) => return Err(unavailable(&e)),
            }
        };
        // The counters this sign-in may meet, read at once: the network's and both of the account's.
        let network = current_network();
        let network_key = network.as_ref().map(|n| (tenant.id, format!("source:{n}")));
        let account_keys = user.as_ref().map(|u| (format!("user:{}", u.id), format!("user:{}:familiar", u.id)));
        let mut shared: Vec<&str> = Vec::with_capacity(3);
        shared.extend(network_key.as_ref().map(|k| k.1.as_str()));
        if let Some((plain, familiar)) = &account_keys {
            shared.extend([plain.as_str(), familiar.as_str()]);
        }
        let familiar_query = match (&user, &network) {
            (Some(u), Some(n)) => Some((u.id, n.as_str(), now - FAMILIAR_FOR)),
            _ => None,
        };
        let (counters, last_seen_here) = if shared.is_empty() {
            (Vec::new(), None)
        } else {
            self.directory.store().lockouts(tenant.id, &shared, familiar_query, now).await.map_err(|e| unavailable(&e))?
        };
        let counter = |key: &str| counters.iter().find(|(k, _)| k == key);
        // A network that has failed too often, across accounts, is refused whatever it sends.
        if let Some(k) = &network_key
            && let Some(until) = counter(&k.1).and_then(|(_, lock)| *lock)
        {
            tracing::info!(tenant = %tenant.id, network = %k.1, "sign-in refused: the network is locked out");
            return Err(SignInError::Locked { until });
        }
        // One lockout counter per account, however it was named (UPN in any case, or object id),
        // and a separate one for the networks the person usually signs in from.
        let familiar = last_seen_here.is_some();
        let key = (
            tenant.id,
            match &user {
                Some(u) if familiar => format!("user:{}:familiar", u.id),
                Some(u) => format!("user:{}", u.id),
                None => format!("name:{}", username.trim().to_ascii_lowercase()),
            },
        );
        let lock = if shared_key(&key.1) { counter(&key.1).and_then(|(_, lock)| *lock) } else { self.locked_until(&key, now).await };
        if let Some(until) = lock {
            return Err(SignInError::Locked { until });
        }
        let mut amr = "pwd";
        let ok = match &user {
            Some(u) => {
                let by_password = self.directory.verify_password(tenant.id, u.id, password).await.map_err(|e| unavailable(&e))?;
                by_password || {
                    let by_pass = self.redeem_tap(tenant, u, password).await;
                    if by_pass {
                        amr = "tap mfa";
                    }
                    by_pass
                }
            }
            None => {
                let _ = ward_directory::secrets::verify_password_off_thread(password, decoy_hash().to_string()).await;
                false
            }
        };
        let user_id = user.as_ref().map(|u| u.id);
        let Some(user) = user.filter(|_| ok) else {
            self.count_password_failure(user_id, username, password);
            self.record_failure(key, now).await;
            if let Some(k) = network_key {
                self.record_failure(k, now).await;
            }
            tracing::info!(tenant = %tenant.id, "sign-in failed: bad credentials");
            return Err(SignInError::BadCredentials);
        };
        // Only a counter that exists needs clearing: most sign-ins follow no failure.
        if !shared_key(&key.1) || counter(&key.1).is_some() {
            self.clear_failures(&key).await;
        }
        if !user.account_enabled {
            return Err(SignInError::Disabled);
        }
        // Identity Protection's real-time detectors (a Temporary Access Pass is not a password
        // to fingerprint or look up in the leaked list).
        self.assess_sign_in(tenant, &user, (amr == "pwd").then_some(password)).await;
        // Written at most daily per network: a sign-in from a known place costs no write.
        if let Some(n) = &network
            && last_seen_here.is_none_or(|t| t < now - Duration::days(1))
            && let Err(e) = self.directory.store().remember_source(tenant.id, user.id, n, now).await
        {
            tracing::warn!(error = %e, "could not remember the network of a sign-in");
        }
        Ok((user, amr))
    }

    /// The live session a cookie names in this tenant, with its user as the directory has them now.
    pub async fn session(&self, tenant: &Tenant, cookie: &str) -> Result<Option<(StoredSession, User)>, OAuthError> {
        self.session_at(tenant, None, cookie).await
    }

    /// [`Self::session`], for a request that resolved its tenant at feed position `head`: the
    /// user comes from [`Self::remember_user`]'s cache when remembered at that very position.
    pub async fn session_at(&self, tenant: &Tenant, head: Option<i64>, cookie: &str) -> Result<Option<(StoredSession, User)>, OAuthError> {
        if cookie.len() != 43 {
            return Ok(None);
        }
        let unavailable = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "reading the session failed");
            OAuthError::temporarily_unavailable()
        };
        let Some(session) = self.directory.store().session_by_secret_hash(&handle_hash(cookie)).await.map_err(|e| unavailable(&e))? else {
            return Ok(None);
        };
        let now = self.directory.now();
        if session.tenant_id != tenant.id || session.ended_at.is_some() || session.expires_at <= now {
            return Ok(None);
        }
        if let Some(idle_until) = session.idle_until {
            if idle_until <= now {
                return Ok(None);
            }
            let idle = if session.persistent { PERSISTENT_IDLE } else { SESSION_IDLE };
            if idle_until < now + idle - TOUCH_EVERY
                && let Err(e) = self.directory.store().touch_session(session.id, now + idle).await
            {
                tracing::warn!(error = %e, "could not extend a session's idle expiry");
            }
        }
        let cached = head.and_then(|h| self.user_at(tenant.id, session.user_id, h));
        let user = match cached {
            Some(u) => u,
            None => match self.directory.user(tenant.id, &session.user_id.to_string()).await {
                Ok(u) => {
                    if let Some(h) = head {
                        self.remember_user(tenant.id, h, &u);
                    }
                    u
                }
                Err(e) if e.code() == ward_core::ErrorCode::NotFound => return Ok(None),
                Err(e) => return Err(unavailable(&e)),
            },
        };
        // To the microsecond (what the store keeps): a session begun earlier in the same second as
        // "sign out everywhere" must end too.
        let micros = |t: OffsetDateTime| t.unix_timestamp_nanos() / 1_000;
        if !user.account_enabled || micros(session.auth_time) < micros(user.sign_in_sessions_valid_from_date_time) {
            return Ok(None);
        }
        Ok(Some((session, user)))
    }

    /// Signs out: ends the session and revokes every grant that came from it.
    pub async fn end_session(&self, session: &StoredSession) -> Result<(), OAuthError> {
        self.directory.store().end_session(session.id, self.directory.now()).await.map_err(|e| {
            tracing::error!(error = %e, "ending the session failed");
            OAuthError::temporarily_unavailable()
        })
    }

    /// A CSRF token for a form of `purpose`, bound to the browser's anti-forgery cookie.
    pub fn csrf_token(&self, purpose: &str, binding: &str) -> String {
        self.csrf.sign(&[purpose, binding])
    }

    pub fn check_csrf(&self, purpose: &str, binding: &str, token: &str) -> bool {
        !binding.is_empty() && self.csrf.verify(&[purpose, binding], token)
    }
}
