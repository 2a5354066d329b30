//! A user's risk (Graph's `riskyUser`, entra-apis.md §3.1): how detections raise it, how it
//! decays, and the administrator's and the user's ways out (confirm compromised, dismiss,
//! confirm safe, remediate). Every transition is pure and returns the new state with the
//! history item Graph's `riskyUser/history` shows; the caller stores both.
//!
//! Rules:
//! - a detection contributes to user risk at a level: user detections (`leakedCredentials`, a
//!   partner's report) and detections that mean the password is known (`passwordSpray`, brute
//!   force) at their own level; other sign-in detections one level lower (an impossible trip,
//!   high for the sign-in, makes the user medium; a low sign-in anomaly leaves the user alone);
//! - the user's level is the highest contribution, and high when two medium-or-higher
//!   contributions of different kinds fall within the corroboration window of each other;
//! - low and medium contributions decay one level per decay period; high ones never do, nor
//!   does a confirmed compromise: they wait for an administrator or a remediation;
//! - a detection that is no longer at risk (already settled by MFA, say) is not applied.

use crate::detection::{Detection, admin_confirmed_compromise};
use crate::settings::UserRiskSettings;
use crate::vocabulary::{Activity, RiskDetail, RiskEventType, RiskLevel, RiskState};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use ward_core::ObjectId;

/// What one detection adds to the user's risk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contribution {
    pub event_type: RiskEventType,
    pub level: RiskLevel,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// MFA on a risky sign-in proves who was there; it clears this contribution. It does not
    /// clear one that means the password is known to someone else.
    pub remediable_by_mfa: bool,
}

/// A user's risk, stored by the caller as one document per user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRisk {
    pub user: ObjectId,
    pub level: RiskLevel,
    pub state: RiskState,
    pub detail: RiskDetail,
    /// Graph's `riskLastUpdatedDateTime`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_updated: Option<OffsetDateTime>,
    pub contributions: Vec<Contribution>,
}

/// How the user cleared their risk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remediation {
    SecuredPasswordChange,
    SecuredPasswordReset,
    AdminGeneratedTemporaryPassword,
    /// MFA required by a risk-based policy.
    MfaDrivenByRiskBasedPolicy,
    /// A passkey registered in a session that proved MFA, where the tenant lets that remediate.
    PasskeyRegistration,
}

impl Remediation {
    fn detail(self) -> RiskDetail {
        match self {
            Remediation::SecuredPasswordChange => RiskDetail::UserPerformedSecuredPasswordChange,
            Remediation::SecuredPasswordReset => RiskDetail::UserPerformedSecuredPasswordReset,
            Remediation::AdminGeneratedTemporaryPassword => RiskDetail::AdminGeneratedTemporaryPassword,
            Remediation::MfaDrivenByRiskBasedPolicy => RiskDetail::UserPassedMfaDrivenByRiskBasedPolicy,
            Remediation::PasskeyRegistration => RiskDetail::UserRegisteredPasskey,
        }
    }
}

/// One entry of `riskyUser/history`: the user's risk after a change, and what changed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskyUserHistoryItem {
    pub user: ObjectId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub level: RiskLevel,
    pub state: RiskState,
    pub detail: RiskDetail,
    /// `activity.riskEventTypes`: the detections behind the change (empty for an action).
    pub risk_event_types: Vec<RiskEventType>,
    /// `activity.detail`.
    pub activity_detail: RiskDetail,
    /// `initiatedBy`: the administrator or user who acted; `None` when Ward did.
    pub initiated_by: Option<ObjectId>,
}

/// How the user's open detections (those still at risk) change with a transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub state: RiskState,
    pub detail: RiskDetail,
    /// Only sign-in detections that MFA can clear (an MFA remediation); else all.
    pub only_remediable_by_mfa: bool,
    /// Only the detections of the sign-ins at these instants (to the microsecond); empty: all.
    pub sign_ins: Vec<OffsetDateTime>,
}

/// Two instants equal to the microsecond (what stores keep).
fn same_instant(a: OffsetDateTime, b: OffsetDateTime) -> bool {
    a.unix_timestamp_nanos() / 1_000 == b.unix_timestamp_nanos() / 1_000
}

impl Settlement {
    /// The detection after the settlement (unchanged if it is not concerned).
    pub fn apply(&self, detection: Detection, now: OffsetDateTime) -> Detection {
        if self.only_remediable_by_mfa && !remediable_by_mfa(&detection) {
            return detection;
        }
        if !self.sign_ins.is_empty() && !self.sign_ins.iter().any(|at| same_instant(*at, detection.activity_at)) {
            return detection;
        }
        detection.settled(self.state, self.detail, now)
    }
}

/// The outcome of a transition.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskTransition {
    pub risk: UserRisk,
    /// Set when the level, state or detail changed.
    pub history: Option<RiskyUserHistoryItem>,
    /// What to do to the user's open detections.
    pub settlement: Option<Settlement>,
    /// A detection the transition itself raised, for the caller to store.
    pub detection: Option<Detection>,
}

impl UserRisk {
    /// A user without risk.
    pub fn new(user: ObjectId) -> UserRisk {
        UserRisk {
            user,
            level: RiskLevel::None,
            state: RiskState::None,
            detail: RiskDetail::None,
            last_updated: None,
            contributions: Vec::new(),
        }
    }

    /// Applies a detection of this user (see the module's rules).
    pub fn apply_detection(&self, detection: &Detection, settings: &UserRiskSettings) -> RiskTransition {
        let now = detection.detected_at;
        if detection.state != RiskState::AtRisk || detection.user != self.user {
            return self.unchanged();
        }
        if detection.event_type == RiskEventType::AdminConfirmedUserCompromised {
            let mut t = self.confirm_compromised(now, None);
            t.detection = None;
            return t;
        }
        let level = contribution_level(detection);
        if level == RiskLevel::None {
            return self.unchanged();
        }
        let mut next = self.clone();
        next.contributions.push(Contribution {
            event_type: detection.event_type.clone(),
            level,
            at: detection.activity_at,
            remediable_by_mfa: remediable_by_mfa(detection),
        });
        next.prune(now, settings);
        if next.state != RiskState::ConfirmedCompromised {
            next.level = assessed_level(&next.contributions, now, settings);
            next.state = RiskState::AtRisk;
            next.detail = RiskDetail::None;
        }
        self.changed_to(next, now, vec![detection.event_type.clone()], RiskDetail::None, None, None)
    }

    /// The administrator confirms the user compromised: high, `confirmedCompromised`,
    /// `adminConfirmedUserCompromised`, and an `adminConfirmedUserCompromised` detection.
    pub fn confirm_compromised(&self, now: OffsetDateTime, by: Option<ObjectId>) -> RiskTransition {
        let event_types = vec![RiskEventType::AdminConfirmedUserCompromised];
        let mut t = self.compromised(RiskDetail::AdminConfirmedUserCompromised, now, now, by, event_types, None);
        t.detection = Some(admin_confirmed_compromise(self.user, now));
        t
    }

    /// High and `confirmedCompromised` with `detail`, by a high contribution at `at` that MFA
    /// cannot clear.
    fn compromised(
        &self,
        detail: RiskDetail,
        at: OffsetDateTime,
        now: OffsetDateTime,
        by: Option<ObjectId>,
        event_types: Vec<RiskEventType>,
        settlement: Option<Settlement>,
    ) -> RiskTransition {
        let mut next = self.clone();
        next.contributions.push(Contribution {
            event_type: RiskEventType::AdminConfirmedUserCompromised,
            level: RiskLevel::High,
            at,
            remediable_by_mfa: false,
        });
        next.level = RiskLevel::High;
        next.state = RiskState::ConfirmedCompromised;
        next.detail = detail;
        self.changed_to(next, now, event_types, detail, by, settlement)
    }

    /// The administrator dismisses all the user's risk: level none, `dismissed`,
    /// `adminDismissedAllRiskForUser`; the open detections are dismissed too. The history
    /// before it stays (it is the caller's record).
    pub fn dismiss(&self, now: OffsetDateTime, by: Option<ObjectId>) -> RiskTransition {
        self.cleared(RiskState::Dismissed, RiskDetail::AdminDismissedAllRiskForUser, now, by)
    }

    /// The administrator confirms the user safe. Graph has no user-level detail for it; the
    /// nearest is `adminConfirmedSigninSafe`, which is what the detections get.
    pub fn confirm_safe(&self, now: OffsetDateTime, by: Option<ObjectId>) -> RiskTransition {
        self.cleared(RiskState::ConfirmedSafe, RiskDetail::AdminConfirmedSigninSafe, now, by)
    }

    /// The user (or an administrator's temporary password) remediated the risk. A secure
    /// password change or reset clears everything, a confirmed compromise included. MFA clears
    /// only what MFA can: the contributions of sign-in anomalies; it leaves a known password
    /// (leaked, sprayed, confirmed compromised) at risk, and does nothing to a confirmed
    /// compromise.
    pub fn remediate(&self, how: Remediation, now: OffsetDateTime, by: Option<ObjectId>, settings: &UserRiskSettings) -> RiskTransition {
        if how != Remediation::MfaDrivenByRiskBasedPolicy {
            return self.cleared(RiskState::Remediated, how.detail(), now, by);
        }
        if self.state == RiskState::ConfirmedCompromised {
            return self.unchanged();
        }
        let mut next = self.clone();
        next.contributions.retain(|c| !c.remediable_by_mfa);
        let settlement =
            Settlement { state: RiskState::Remediated, detail: how.detail(), only_remediable_by_mfa: true, sign_ins: Vec::new() };
        if next.contributions.is_empty() {
            next.level = RiskLevel::None;
            next.state = RiskState::Remediated;
            next.detail = how.detail();
        } else {
            next.level = assessed_level(&next.contributions, now, settings);
        }
        self.changed_to(next, now, Vec::new(), how.detail(), by, Some(settlement))
    }

    /// MFA completed the sign-in made at `sign_in_at`: what that sign-in's own detections added
    /// is cleared, if MFA can clear it (`userPassedMFADrivenByRiskBasedPolicy`); the user's other
    /// detections, of earlier sign-ins that never proved MFA, stay. A user left with nothing is
    /// remediated. Nothing changes for a confirmed compromise.
    pub fn remediate_sign_in(&self, sign_in_at: OffsetDateTime, now: OffsetDateTime, settings: &UserRiskSettings) -> RiskTransition {
        if self.state != RiskState::AtRisk {
            return self.unchanged();
        }
        let detail = RiskDetail::UserPassedMfaDrivenByRiskBasedPolicy;
        let mut next = self.clone();
        next.contributions.retain(|c| !(c.remediable_by_mfa && same_instant(c.at, sign_in_at)));
        if next.contributions.len() == self.contributions.len() {
            return self.unchanged();
        }
        let settlement = Settlement { state: RiskState::Remediated, detail, only_remediable_by_mfa: true, sign_ins: vec![sign_in_at] };
        if next.contributions.is_empty() {
            next.level = RiskLevel::None;
            next.state = RiskState::Remediated;
            next.detail = detail;
        } else {
            next.level = assessed_level(&next.contributions, now, settings);
        }
        let mut t = self.changed_to(next, now, Vec::new(), detail, None, Some(settlement));
        if t.history.is_none() {
            t.history = Some(t.risk.history_item(now, Vec::new(), detail, None));
        }
        t
    }

    /// An administrator confirms the sign-ins made at `sign_ins` safe (Graph's signIn
    /// `confirmSafe`): what their anomalies added is cleared and those detections are settled
    /// `confirmedSafe` (`adminConfirmedSigninSafe`); a user at risk left with nothing is
    /// `confirmedSafe`. Like MFA, it does not clear what says the password is known (leaked,
    /// sprayed, brute-forced) or a confirmed compromise: the sign-in was the user, the password
    /// may still be someone else's too. Other sign-ins' detections stay.
    pub fn confirm_sign_in_safe(
        &self,
        sign_ins: &[OffsetDateTime],
        now: OffsetDateTime,
        by: Option<ObjectId>,
        settings: &UserRiskSettings,
    ) -> RiskTransition {
        let detail = RiskDetail::AdminConfirmedSigninSafe;
        let mut next = self.clone();
        next.contributions.retain(|c| !(c.remediable_by_mfa && sign_ins.iter().any(|at| same_instant(c.at, *at))));
        if next.state == RiskState::AtRisk {
            if next.contributions.is_empty() {
                next.level = RiskLevel::None;
                next.state = RiskState::ConfirmedSafe;
                next.detail = detail;
            } else {
                next.level = assessed_level(&next.contributions, now, settings);
            }
        }
        let settlement = Settlement { state: RiskState::ConfirmedSafe, detail, only_remediable_by_mfa: true, sign_ins: sign_ins.to_vec() };
        let mut t = self.changed_to(next, now, Vec::new(), detail, by, Some(settlement));
        if t.history.is_none() {
            // An administrator's action is history even when it changes nothing visible.
            t.history = Some(t.risk.history_item(now, Vec::new(), detail, by));
        }
        t
    }

    /// An administrator confirms the sign-ins made at `sign_ins` compromised (Graph's signIn
    /// `confirmCompromised`; none known: `now`): the user's risk becomes high and
    /// `confirmedCompromised` (`adminConfirmedSigninCompromised`), and those sign-ins' detections
    /// are settled the same way.
    pub fn confirm_sign_in_compromised(&self, sign_ins: &[OffsetDateTime], now: OffsetDateTime, by: Option<ObjectId>) -> RiskTransition {
        let detail = RiskDetail::AdminConfirmedSigninCompromised;
        let at = sign_ins.iter().copied().max().unwrap_or(now);
        let settled = if sign_ins.is_empty() { vec![at] } else { sign_ins.to_vec() };
        let settlement = Settlement { state: RiskState::ConfirmedCompromised, detail, only_remediable_by_mfa: false, sign_ins: settled };
        let mut t = self.compromised(detail, at, now, by, Vec::new(), Some(settlement));
        if t.history.is_none() {
            t.history = Some(t.risk.history_item(now, Vec::new(), detail, by));
        }
        t
    }

    /// The risk at `now` after decay. A user whose contributions have all decayed is no longer
    /// at risk (state and detail `none`).
    pub fn decay(&self, now: OffsetDateTime, settings: &UserRiskSettings) -> RiskTransition {
        if self.state != RiskState::AtRisk {
            return self.unchanged();
        }
        let mut next = self.clone();
        next.level = assessed_level(&next.contributions, now, settings);
        if next.level == RiskLevel::None {
            next.state = RiskState::None;
            next.detail = RiskDetail::None;
            next.contributions.clear();
        }
        self.changed_to(next, now, Vec::new(), RiskDetail::None, None, None)
    }

    fn cleared(&self, state: RiskState, detail: RiskDetail, now: OffsetDateTime, by: Option<ObjectId>) -> RiskTransition {
        let mut next = self.clone();
        next.contributions.clear();
        next.level = RiskLevel::None;
        next.state = state;
        next.detail = detail;
        let settlement = Settlement { state, detail, only_remediable_by_mfa: false, sign_ins: Vec::new() };
        let mut t = self.changed_to(next, now, Vec::new(), detail, by, Some(settlement));
        if t.history.is_none() {
            // An administrator's action is history even when it changes nothing visible.
            t.history = Some(t.risk.history_item(now, Vec::new(), detail, by));
        }
        t
    }

    fn unchanged(&self) -> RiskTransition {
        RiskTransition { risk: self.clone(), history: None, settlement: None, detection: None }
    }

    fn changed_to(
        &self,
        mut next: UserRisk,
        now: OffsetDateTime,
        event_types: Vec<RiskEventType>,
        activity_detail: RiskDetail,
        by: Option<ObjectId>,
        settlement: Option<Settlement>,
    ) -> RiskTransition {
        let visible_change = (next.level, next.state, next.detail) != (self.level, self.state, self.detail);
        let history = visible_change.then(|| {
            next.last_updated = Some(now);
            next.history_item(now, event_types, activity_detail, by)
        });
        RiskTransition { risk: next, history, settlement, detection: None }
    }

    fn history_item(
        &self,
        at: OffsetDateTime,
        risk_event_types: Vec<RiskEventType>,
        activity_detail: RiskDetail,
        by: Option<ObjectId>,
    ) -> RiskyUserHistoryItem {
        RiskyUserHistoryItem {
            user: self.user,
            at,
            level: self.level,
            state: self.state,
            detail: self.detail,
            risk_event_types,
            activity_detail,
            initiated_by: by,
        }
    }

    /// Keeps at most `max_contributions`, dropping the weakest (after decay), then the oldest.
    fn prune(&mut self, now: OffsetDateTime, settings: &UserRiskSettings) {
        while self.contributions.len() > settings.max_contributions.max(1) {
            let weakest =
                self.contributions.iter().enumerate().min_by_key(|(_, c)| (effective_level(c, now, settings), c.at)).map(|(i, _)| i);
            match weakest {
                Some(i) => self.contributions.remove(i),
                None => break,
            };
        }
    }
}

/// What a detection adds to user risk (see the module's rules).
pub fn contribution_level(detection: &Detection) -> RiskLevel {
    if detection.activity == Activity::User
        || exposes_password(detection)
        || detection.event_type == RiskEventType::AdminConfirmedUserCompromised
    {
        detection.level
    } else {
        detection.level.lowered()
    }
}

/// A spray or a brute force that found the password: the password is known, whoever signed in.
fn exposes_password(detection: &Detection) -> bool {
    detection.event_type == RiskEventType::PasswordSpray
        || (detection.event_type == RiskEventType::InvestigationsThreatIntelligence && detection.risk_reasons().contains(&"bruteForce"))
}

fn remediable_by_mfa(detection: &Detection) -> bool {
    detection.activity == Activity::SignIn
        && !exposes_password(detection)
        && detection.event_type != RiskEventType::AdminConfirmedUserCompromised
}

/// A contribution's level at `now`: high stays high; low and medium lose a level per period.
fn effective_level(c: &Contribution, now: OffsetDateTime, settings: &UserRiskSettings) -> RiskLevel {
    if c.level == RiskLevel::High {
        return RiskLevel::High;
    }
    let period = settings.decay_period.whole_seconds().max(1);
    let age = (now - c.at).whole_seconds().max(0);
    c.level.lowered_by(u32::try_from(age / period).unwrap_or(u32::MAX))
}

/// The user's level from the contributions at `now` (see the module's rules).
fn assessed_level(contributions: &[Contribution], now: OffsetDateTime, settings: &UserRiskSettings) -> RiskLevel {
    let strongest = contributions.iter().map(|c| effective_level(c, now, settings)).max().unwrap_or(RiskLevel::None);
    let strong: Vec<&Contribution> = contributions.iter().filter(|c| c.level >= RiskLevel::Medium).collect();
    let corroborated = strong
        .iter()
        .enumerate()
        .any(|(i, a)| strong[i + 1..].iter().any(|b| a.event_type != b.event_type && (a.at - b.at).abs() <= settings.corroboration_window));
    if corroborated { RiskLevel::High } else { strongest }
}
