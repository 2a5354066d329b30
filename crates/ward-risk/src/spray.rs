//! Password spray (one source, many accounts, few passwords) and brute force (one account, many
//! passwords): bounded in-memory counters of recent failed password attempts that the sign-in
//! path updates and consults in O(1), and the same rules as an offline pass over recorded
//! attempts.
//!
//! Like Entra's `passwordSpray` ("triggered when a password spray attack has been successfully
//! performed"), a detection is raised for the account whose password the attack found, not for
//! every account it tried: those credentials are still unknown to the attacker, and flagging
//! them would bury the one that matters. The accounts tried are in [`SprayAssessment`] for
//! alerting and throttling. Entra has no brute-force `riskEventType`; Ward reports a brute force
//! that ended in the right password as `investigationsThreatIntelligence` with
//! `riskReasons: ["bruteForce"]`.

use crate::detection::Detection;
use crate::settings::SpraySettings;
use crate::vocabulary::{DetectionTiming, RiskEventType, RiskLevel};
use ipnet::IpNet;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use time::OffsetDateTime;
use ward_core::ObjectId;

/// A short keyed hash of a tried password, computed by the caller (for example the first 8
/// bytes of HMAC-SHA-256 under a per-deployment key). It must not depend on the account, so
/// that the same password tried against two accounts has the same fingerprint. Never the
/// password, never an unkeyed hash of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PasswordFingerprint(pub u64);

/// The account an attempt named: a user, or a name that matches no user (which still counts
/// towards a spray's breadth), by a caller-chosen hash of the lower-cased name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccountKey {
    User(ObjectId),
    UnknownName(u64),
}

/// The network an attempt came from: its address truncated to the configured prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SourceNetwork(IpNet);

impl SourceNetwork {
    pub fn of(addr: IpAddr, settings: &SpraySettings) -> SourceNetwork {
        let addr = crate::feeds::canonical(addr);
        let prefix = match addr {
            IpAddr::V4(_) => settings.source_prefix_v4.min(32),
            IpAddr::V6(_) => settings.source_prefix_v6.min(128),
        };
        // The prefix is clamped to the address family's width, so `new` cannot fail.
        SourceNetwork(IpNet::new(addr, prefix).map(|n| n.trunc()).unwrap_or_else(|_| IpNet::from(addr)))
    }

    pub fn network(&self) -> IpNet {
        self.0
    }
}

/// A source network currently spraying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SprayAssessment {
    pub source: SourceNetwork,
    /// Failed attempts within the window (up to the per-source bound).
    pub failures: usize,
    /// The distinct accounts tried, sorted.
    pub accounts: Vec<AccountKey>,
    pub distinct_passwords: usize,
    /// The most accounts any one password was tried against.
    pub widest_password_reach: usize,
}

/// An account currently under brute force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BruteForceAssessment {
    pub user: ObjectId,
    pub failures: usize,
    pub distinct_passwords: usize,
}

#[derive(Clone, Copy, Debug)]
struct SourceFailure {
    at: i64,
    account: AccountKey,
    password: PasswordFingerprint,
}

#[derive(Clone, Copy, Debug)]
struct AccountFailure {
    at: i64,
    password: PasswordFingerprint,
}

#[derive(Clone, Copy, Debug)]
struct PasswordFailure {
    at: i64,
    account: AccountKey,
    source: SourceNetwork,
}

/// One password tried from a few networks: the accounts and networks it failed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpreadSpray {
    pub accounts: usize,
    pub networks: usize,
}

/// Recent failed password attempts, per source network and per account, in bounded memory:
/// at most `max_sources × max_failures_per_source` and `max_accounts ×
/// max_failures_per_account` entries (about 50 MB at the defaults under a flood, a few
/// kilobytes normally). Every method takes `now`.
#[derive(Debug)]
pub struct SourceCounters {
    settings: SpraySettings,
    sources: Generations<SourceNetwork, VecDeque<SourceFailure>>,
    accounts: Generations<ObjectId, VecDeque<AccountFailure>>,
    passwords: Generations<PasswordFingerprint, VecDeque<PasswordFailure>>,
}

impl SourceCounters {
    pub fn new(settings: &SpraySettings) -> SourceCounters {
        let window = settings.window.whole_seconds().max(1);
        SourceCounters {
            settings: settings.clone(),
            sources: Generations::new(settings.max_sources, window),
            accounts: Generations::new(settings.max_accounts, window),
            passwords: Generations::new(settings.max_passwords, window),
        }
    }

    /// Records a wrong password for `account` from `source`.
    pub fn record_failure(&mut self, source: IpAddr, account: AccountKey, password: PasswordFingerprint, now: OffsetDateTime) {
        let at = now.unix_timestamp();
        let oldest = at - self.settings.window.whole_seconds();
        let key = SourceNetwork::of(source, &self.settings);
        let ring = self.sources.entry(key, at);
        push_bounded(ring, SourceFailure { at, account, password }, self.settings.max_failures_per_source, |f| f.at < oldest);
        if let AccountKey::User(user) = account {
            let ring = self.accounts.entry(user, at);
            push_bounded(ring, AccountFailure { at, password }, self.settings.max_failures_per_account, |f| f.at < oldest);
        }
        let ring = self.passwords.entry(password, at);
        push_bounded(ring, PasswordFailure { at, account, source: key }, self.settings.max_failures_per_password, |f| f.at < oldest);
    }

    /// `password` tried, within the window, against other accounts than `except` from more than
    /// one network: how many accounts, how many networks (`None` when from one network or
    /// none: that is [`Self::accounts_tried_with`]'s case).
    pub fn spread_of(&self, password: PasswordFingerprint, except: AccountKey, now: OffsetDateTime) -> Option<SpreadSpray> {
        let oldest = now.unix_timestamp() - self.settings.window.whole_seconds();
        let recent: Vec<&PasswordFailure> =
            self.passwords.get(&password)?.iter().filter(|f| f.at >= oldest && f.account != except).collect();
        let mut accounts: Vec<AccountKey> = recent.iter().map(|f| f.account).collect();
        accounts.sort_unstable();
        accounts.dedup();
        let mut networks: Vec<IpNet> = recent.iter().map(|f| f.source.network()).collect();
        networks.sort_unstable();
        networks.dedup();
        (networks.len() > 1).then_some(SpreadSpray { accounts: accounts.len(), networks: networks.len() })
    }

    /// The source's network if it is spraying now: some password tried against at least
    /// `accounts_per_password` distinct accounts within the window.
    pub fn assess(&self, source: IpAddr, now: OffsetDateTime) -> Option<SprayAssessment> {
        let key = SourceNetwork::of(source, &self.settings);
        let oldest = now.unix_timestamp() - self.settings.window.whole_seconds();
        let recent: Vec<&SourceFailure> = self.sources.get(&key)?.iter().filter(|f| f.at >= oldest).collect();
        let mut pairs: Vec<(PasswordFingerprint, AccountKey)> = recent.iter().map(|f| (f.password, f.account)).collect();
        pairs.sort_unstable();
        pairs.dedup();
        let mut widest = 0;
        let mut distinct_passwords = 0;
        for run in pairs.chunk_by(|a, b| a.0 == b.0) {
            distinct_passwords += 1;
            widest = widest.max(run.len());
        }
        if widest < self.settings.accounts_per_password {
            return None;
        }
        let mut accounts: Vec<AccountKey> = pairs.iter().map(|(_, a)| *a).collect();
        accounts.sort_unstable();
        accounts.dedup();
        Some(SprayAssessment { source: key, failures: recent.len(), accounts, distinct_passwords, widest_password_reach: widest })
    }

    /// The account if it is under brute force now: at least `brute_force_distinct_passwords`
    /// distinct wrong passwords within the window, from any source.
    pub fn assess_account(&self, user: ObjectId, now: OffsetDateTime) -> Option<BruteForceAssessment> {
        let oldest = now.unix_timestamp() - self.settings.window.whole_seconds();
        let mut passwords: Vec<PasswordFingerprint> =
            self.accounts.get(&user)?.iter().filter(|f| f.at >= oldest).map(|f| f.password).collect();
        let failures = passwords.len();
        passwords.sort_unstable();
        passwords.dedup();
        (passwords.len() >= self.settings.brute_force_distinct_passwords).then_some(BruteForceAssessment {
            user,
            failures,
            distinct_passwords: passwords.len(),
        })
    }

    /// How many distinct accounts other than `except` failed with `password` from the
    /// source's network within the window.
    pub fn accounts_tried_with(&self, source: IpAddr, password: PasswordFingerprint, except: AccountKey, now: OffsetDateTime) -> usize {
        let key = SourceNetwork::of(source, &self.settings);
        let oldest = now.unix_timestamp() - self.settings.window.whole_seconds();
        let Some(ring) = self.sources.get(&key) else { return 0 };
        let mut accounts: Vec<AccountKey> =
            ring.iter().filter(|f| f.at >= oldest && f.password == password && f.account != except).map(|f| f.account).collect();
        accounts.sort_unstable();
        accounts.dedup();
        accounts.len()
    }

    /// Source networks currently held (at most `max_sources`).
    pub fn tracked_sources(&self) -> usize {
        self.sources.len()
    }

    /// Accounts currently held (at most `max_accounts`).
    pub fn tracked_accounts(&self) -> usize {
        self.accounts.len()
    }
}

fn push_bounded<T>(ring: &mut VecDeque<T>, item: T, max: usize, expired: impl Fn(&T) -> bool) {
    while ring.front().is_some_and(&expired) {
        ring.pop_front();
    }
    while !ring.is_empty() && ring.len() >= max {
        ring.pop_front();
    }
    if max > 0 {
        ring.push_back(item);
    }
}

/// A bounded map that forgets the least recently written keys in O(1): writes go to the
/// current generation (a key found in the previous one moves over); when the current
/// generation is full, or older than the window, it becomes the previous one and the old
/// previous one is dropped. Age rotation never drops data younger than the window, because
/// everything in the previous generation was last written before the current one started.
#[derive(Debug)]
struct Generations<K, V> {
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
    started: i64,
    per_generation: usize,
    max_age: i64,
}

impl<K: Eq + Hash + Copy, V: Default> Generations<K, V> {
    fn new(capacity: usize, max_age: i64) -> Self {
        Generations { current: HashMap::new(), previous: HashMap::new(), started: i64::MIN, per_generation: (capacity / 2).max(1), max_age }
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.current.get(key).or_else(|| self.previous.get(key))
    }

    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    fn rotate(&mut self, now: i64) {
        self.previous = std::mem::take(&mut self.current);
        self.started = now;
    }

    fn entry(&mut self, key: K, now: i64) -> &mut V {
        let age = now.saturating_sub(self.started);
        if age >= self.max_age.saturating_mul(2) {
            self.previous.clear();
            self.current.clear();
            self.started = now;
        } else if age >= self.max_age {
            self.rotate(now);
        }
        if !self.current.contains_key(&key) {
            let value = self.previous.remove(&key).unwrap_or_default();
            if self.current.len() >= self.per_generation {
                self.rotate(now);
            }
            self.current.insert(key, value);
        }
        self.current.entry(key).or_default()
    }
}

/// One recorded password attempt, for the offline pass.
#[derive(Clone, Debug, PartialEq)]
pub struct PasswordAttempt {
    pub at: OffsetDateTime,
    pub ip: IpAddr,
    pub account: AccountKey,
    pub password: PasswordFingerprint,
    /// The password was the account's.
    pub correct: bool,
    pub request_id: Option<String>,
    pub correlation_id: Option<String>,
}

/// An offline pass over recorded attempts (any order), for a caller that records attempts with
/// their password fingerprints (Ward's sign-in log does not, so its own offline pass leaves spray
/// and brute force to the real-time path): a correct password that, from the same
/// source network within the window either side, was also tried against enough other
/// accounts → `passwordSpray`, high; a correct password after enough distinct wrong ones on the
/// account within the window before it → brute force, medium. Hindsight is what the offline
/// pass adds: it also catches the correct guess made before the spray became visible. Having no
/// profile, it cannot tell the owner's own sign-in after someone else's failures (which the
/// real-time path spares), so its brute-force findings deserve a look before they count.
pub fn detect_password_attacks(
    attempts: impl IntoIterator<Item = PasswordAttempt>,
    settings: &SpraySettings,
    now: OffsetDateTime,
) -> Vec<Detection> {
    let mut attempts: Vec<PasswordAttempt> = attempts.into_iter().collect();
    attempts.sort_by_key(|a| a.at);
    let window = settings.window;
    let mut by_source_password: HashMap<(SourceNetwork, PasswordFingerprint), Vec<(OffsetDateTime, AccountKey)>> = HashMap::new();
    let mut by_user: HashMap<ObjectId, Vec<(OffsetDateTime, PasswordFingerprint)>> = HashMap::new();
    for a in attempts.iter().filter(|a| !a.correct) {
        by_source_password.entry((SourceNetwork::of(a.ip, settings), a.password)).or_default().push((a.at, a.account));
        if let AccountKey::User(u) = a.account {
            by_user.entry(u).or_default().push((a.at, a.password));
        }
    }
    let mut detections = Vec::new();
    for a in attempts.iter().filter(|a| a.correct) {
        let AccountKey::User(user) = a.account else { continue };
        let source = SourceNetwork::of(a.ip, settings);
        if let Some(tries) = by_source_password.get(&(source, a.password)) {
            let from = tries.partition_point(|(t, _)| *t < a.at - window);
            let to = tries.partition_point(|(t, _)| *t <= a.at + window);
            let mut others: Vec<AccountKey> = tries[from..to].iter().map(|(_, acc)| *acc).filter(|acc| *acc != a.account).collect();
            others.sort_unstable();
            others.dedup();
            if others.len() + 1 >= settings.accounts_per_password {
                detections.push(attempt_detection(a, spray_detection(user, a.at, source, others.len() + 1), now));
            }
        }
        if let Some(tries) = by_user.get(&user) {
            let from = tries.partition_point(|(t, _)| *t < a.at - window);
            let to = tries.partition_point(|(t, _)| *t <= a.at);
            let mut passwords: Vec<PasswordFingerprint> = tries[from..to].iter().map(|(_, p)| *p).collect();
            passwords.sort_unstable();
            passwords.dedup();
            if passwords.len() >= settings.brute_force_distinct_passwords {
                detections.push(attempt_detection(a, brute_force_detection(user, a.at, passwords.len()), now));
            }
        }
    }
    detections
}

fn attempt_detection(a: &PasswordAttempt, found: Detection, now: OffsetDateTime) -> Detection {
    let mut d = found;
    d.timing = DetectionTiming::Offline;
    d.detected_at = now;
    d.last_updated_at = now;
    d.ip = Some(a.ip);
    d.request_id = a.request_id.clone();
    d.correlation_id = a.correlation_id.clone();
    d
}

/// `passwordSpray`, high: the user's password was found by a spray from `source`.
pub(crate) fn spray_detection(user: ObjectId, at: OffsetDateTime, source: SourceNetwork, accounts_tried: usize) -> Detection {
    Detection::new(RiskEventType::PasswordSpray, RiskLevel::High, DetectionTiming::Realtime, user, at)
        .with_info("sourceNetwork", json!(source.network().to_string()))
        .with_info("accountsTried", json!(accounts_tried))
}

/// Brute force, medium: a person who forgot their password can also try ten before the right
/// one; MFA tells the two apart.
pub(crate) fn brute_force_detection(user: ObjectId, at: OffsetDateTime, distinct_passwords: usize) -> Detection {
    Detection::new(RiskEventType::InvestigationsThreatIntelligence, RiskLevel::Medium, DetectionTiming::Realtime, user, at)
        .with_info("riskReasons", json!(["bruteForce"]))
        .with_info("distinctPasswordsTried", json!(distinct_passwords))
}
