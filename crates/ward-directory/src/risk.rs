//! Identity Protection's state in the directory (issue 8): each user's risk (`riskyUser`, with
//! its history) and the risk detections, as objects of the store, so every change is one unit of
//! work with its change-feed row (Shared Signals reads the feed) and its audit record. The rules
//! are `ward-risk`'s; this module reads, applies and writes.

use crate::{Directory, Result, decode, encode};
use serde::{Deserialize, Serialize};
use ward_core::index::{Cond, ObjectQuery, Test};
use ward_core::store::{ListQuery, WriteOp};
use ward_core::user::User;
use ward_core::{DirectoryError, ObjectId, ObjectKind, TenantId};
use ward_risk::{Detection, RiskState, RiskTransition, RiskyUserHistoryItem, UserRisk};

/// Most users one `confirmCompromised` or `dismiss` names (Graph's limit for these actions).
pub const MAX_USERS_PER_ACTION: usize = 60;
/// History items kept per user, newest last.
const MAX_HISTORY: usize = 200;

/// A user's risk as stored: the state `ward-risk` keeps, and its history.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredRisk {
    pub risk: UserRisk,
    #[serde(default)]
    pub history: Vec<RiskyUserHistoryItem>,
}

/// A detection with the id it is stored under.
#[derive(Clone, Debug)]
pub struct StoredDetection {
    pub id: ObjectId,
    pub detection: Detection,
}

/// The write that stores a user's risk: an update of the version read, or the first insert.
fn stored_risk_op(user: ObjectId, stored: &StoredRisk, version: Option<i64>) -> Result<WriteOp> {
    let (id, doc) = (risk_id(user), encode(stored)?);
    Ok(match version {
        Some(v) => WriteOp::Update { kind: ObjectKind::RiskyUser, id, unique_key: None, doc, expected_version: v },
        None => WriteOp::Insert { kind: ObjectKind::RiskyUser, id, unique_key: None, doc },
    })
}

/// The id a user's risk is stored under. Object ids are unique across kinds in a tenant, so it
/// cannot be the user's own; it is derived from it, one to one.
fn risk_id(user: ObjectId) -> ObjectId {
    ObjectId::from_uuid(uuid::Uuid::from_u128(user.as_uuid().as_u128() ^ 0x5249_534b_5553_4552_0000_0000_0000_0000))
}

impl Directory {
    /// The user's risk (none if Identity Protection never saw them), and its version if stored.
    pub async fn user_risk(&self, tenant: TenantId, user: ObjectId) -> Result<(StoredRisk, Option<i64>)> {
        match self.store.object(tenant, ObjectKind::RiskyUser, risk_id(user)).await? {
            Some(o) => Ok((decode(&o)?, Some(o.version))),
            None => Ok((StoredRisk { risk: UserRisk::new(user), history: Vec::new() }, None)),
        }
    }

    /// The writes a risk transition makes: its detection, the user's open detections settled,
    /// the stored risk with the history item. For a unit of work the caller commits.
    async fn risk_change_ops(
        &self,
        tenant: TenantId,
        user: ObjectId,
        change: RiskTransition,
        stored: &mut StoredRisk,
        risk_version: Option<i64>,
        now: time::OffsetDateTime,
    ) -> Result<Vec<WriteOp>> {
        let mut ops = Vec::new();
        if let Some(settlement) = change.settlement {
            for (id, detection, version) in self.detections_of(tenant, user).await? {
                if detection.state != RiskState::AtRisk {
                    continue;
                }
                let settled = settlement.apply(detection.clone(), now);
                if settled == detection {
                    continue;
                }
                ops.push(WriteOp::Update {
                    kind: ObjectKind::RiskDetection,
                    id,
                    unique_key: None,
                    doc: encode(&settled)?,
                    expected_version: version,
                });
            }
        }
        if let Some(detection) = &change.detection {
            ops.push(WriteOp::Insert { kind: ObjectKind::RiskDetection, id: self.new_id(), unique_key: None, doc: encode(detection)? });
        }
        stored.risk = change.risk;
        if let Some(item) = change.history {
            stored.history.push(item);
            let excess = stored.history.len().saturating_sub(MAX_HISTORY);
            stored.history.drain(..excess);
        }
        ops.push(stored_risk_op(user, stored, risk_version)?);
        Ok(ops)
    }

    /// One user's risk changed by `transition` from the state as it is now, in one unit of work
    /// (tried again on a concurrent change); nothing is written when nothing visible changes.
    /// Whether something was.
    async fn change_risk(
        &self,
        tenant: TenantId,
        user: ObjectId,
        transition: impl Fn(&UserRisk, time::OffsetDateTime) -> RiskTransition,
    ) -> Result<bool> {
        let transition = &transition;
        crate::retry_on_conflict(|| async move {
            let (mut stored, version) = self.user_risk(tenant, user).await?;
            let now = self.now();
            let change = transition(&stored.risk, now);
            if change.history.is_none() {
                return Ok(false);
            }
            let ops = self.risk_change_ops(tenant, user, change, &mut stored, version, now).await?;
            self.commit(tenant, ops).await?;
            Ok(true)
        })
        .await
    }

    /// The writes that remediate the user's risk when they are at risk (none otherwise): the
    /// user did `how` themselves.
    pub(crate) async fn remediation_ops(&self, tenant: TenantId, user: ObjectId, how: ward_risk::Remediation) -> Result<Vec<WriteOp>> {
        let (mut stored, version) = self.user_risk(tenant, user).await?;
        if !matches!(stored.risk.state, RiskState::AtRisk | RiskState::ConfirmedCompromised) {
            return Ok(Vec::new());
        }
        let now = self.now();
        let change = stored.risk.remediate(how, now, Some(user), &ward_risk::UserRiskSettings::default());
        self.risk_change_ops(tenant, user, change, &mut stored, version, now).await
    }

    /// Stores the detections one sign-in raised for a user and applies each to the user's risk,
    /// in one unit of work. A user detection of a kind the user is already at risk for (the same
    /// leaked password met again at the next sign-in) is not stored again. Returns how many were
    /// stored.
    pub async fn record_detections(&self, tenant: TenantId, user: ObjectId, detections: &[Detection]) -> Result<usize> {
        self.record_detections_inner(tenant, user, detections, None).await
    }

    /// [`Self::record_detections`] for findings that may have been stored already (an offline
    /// pass over a window an earlier pass, or another node's, also read): one of the same kind
    /// whose activity is within `within` of a stored one's is left out, checked inside the unit
    /// of work that stores (two passes at once: the second retries and sees the first's).
    pub async fn record_detections_once(
        &self,
        tenant: TenantId,
        user: ObjectId,
        detections: &[Detection],
        within: time::Duration,
    ) -> Result<usize> {
        self.record_detections_inner(tenant, user, detections, Some(within)).await
    }

    async fn record_detections_inner(
        &self,
        tenant: TenantId,
        user: ObjectId,
        detections: &[Detection],
        once_within: Option<time::Duration>,
    ) -> Result<usize> {
        let mine: Vec<&Detection> = detections.iter().filter(|d| d.user == user).collect();
        if mine.is_empty() {
            return Ok(0);
        }
        let mine = &mine;
        crate::retry_on_conflict(|| async move {
            let (mut stored, version) = self.user_risk(tenant, user).await?;
            let known = match once_within {
                Some(_) => self.detections_of_user(tenant, user).await?,
                None => Vec::new(),
            };
            let settings = ward_risk::UserRiskSettings::default();
            let mut ops = Vec::new();
            for d in mine.iter() {
                let at_risk = matches!(stored.risk.state, RiskState::AtRisk | RiskState::ConfirmedCompromised);
                if d.activity == ward_risk::Activity::User
                    && at_risk
                    && stored.risk.contributions.iter().any(|c| c.event_type == d.event_type)
                {
                    continue;
                }
                // The stored detections (the first thousand) and the risk's own contributions (the
                // most recent ones, whatever the number of detections).
                if let Some(within) = once_within
                    && (known.iter().any(|k| k.event_type == d.event_type && (k.activity_at - d.activity_at).abs() <= within)
                        || stored.risk.contributions.iter().any(|c| c.event_type == d.event_type && (c.at - d.activity_at).abs() <= within))
                {
                    continue;
                }
                ops.push(WriteOp::Insert { kind: ObjectKind::RiskDetection, id: self.new_id(), unique_key: None, doc: encode(*d)? });
                let change = stored.risk.apply_detection(d, &settings);
                stored.risk = change.risk;
                stored.history.extend(change.history);
            }
            if ops.is_empty() {
                return Ok(0);
            }
            let stored_count = ops.len();
            let excess = stored.history.len().saturating_sub(MAX_HISTORY);
            stored.history.drain(..excess);
            ops.push(stored_risk_op(user, &stored, version)?);
            self.commit(tenant, ops).await?;
            Ok(stored_count)
        })
        .await
    }

    /// MFA completed the sign-in made at `sign_in_at`: its own detections are remediated (see
    /// [`ward_risk::UserRisk::remediate_sign_in`]), in one unit of work; nothing is written when
    /// nothing changes.
    pub async fn remediate_sign_in(&self, tenant: TenantId, user: ObjectId, sign_in_at: time::OffsetDateTime) -> Result<()> {
        let settings = ward_risk::UserRiskSettings::default();
        self.change_risk(tenant, user, |risk, now| risk.remediate_sign_in(sign_in_at, now, &settings)).await.map(|_| ())
    }

    /// The user remediated their risk themselves (`how`), in its own unit of work: nothing
    /// changes for a user not at risk.
    pub async fn remediate_risk(&self, tenant: TenantId, user: ObjectId, how: ward_risk::Remediation) -> Result<()> {
        crate::retry_on_conflict(|| async move {
            let ops = self.remediation_ops(tenant, user, how).await?;
            if !ops.is_empty() {
                self.commit(tenant, ops).await?;
            }
            Ok(())
        })
        .await
    }

    /// The user's risk level in Graph's words (`none` when Identity Protection never saw them),
    /// for conditional access's `userRiskLevels`.
    /// The level is as of now: decay since the stored change counts even before a pass stores it.
    pub async fn user_risk_level(&self, tenant: TenantId, user: ObjectId) -> Result<&'static str> {
        let (stored, _) = self.user_risk(tenant, user).await?;
        let now = self.now();
        Ok(stored.risk.decay(now, &ward_risk::UserRiskSettings::default()).risk.level.as_str())
    }

    /// Stores what time has done to the risk of users at risk (their contributions decay): a
    /// history item for each whose level changed, a user whose risk is all gone no longer at risk.
    /// Returns how many changed. (Run with the offline pass.)
    pub async fn decay_risks(&self, tenant: TenantId) -> Result<usize> {
        let settings = ward_risk::UserRiskSettings::default();
        let (mut after, mut changed) = (None, 0);
        loop {
            let page = self.risky_users(tenant, after, 500).await?;
            let Some(last) = page.last() else { return Ok(changed) };
            after = Some(last.risk.user);
            for r in page.iter().filter(|r| r.risk.state == RiskState::AtRisk) {
                let user = r.risk.user;
                if r.risk.decay(self.now(), &settings).history.is_none() {
                    continue;
                }
                changed += usize::from(self.change_risk(tenant, user, |risk, now| risk.decay(now, &settings)).await?);
            }
        }
    }

    /// Users Identity Protection has seen, `limit` after the one `after` names (their order is
    /// that of their stored risk).
    pub async fn risky_users(&self, tenant: TenantId, after: Option<ObjectId>, limit: u32) -> Result<Vec<StoredRisk>> {
        let query = ListQuery { deleted: false, after: after.map(risk_id), limit };
        let page = self.store.objects(tenant, ObjectKind::RiskyUser, &query).await?;
        page.iter().map(decode).collect()
    }

    /// Risk detections in id order (random ids: a stable order to page through, not time order).
    pub async fn risk_detections(&self, tenant: TenantId, after: Option<ObjectId>, limit: u32) -> Result<Vec<StoredDetection>> {
        let page = self.store.objects(tenant, ObjectKind::RiskDetection, &ListQuery { deleted: false, after, limit }).await?;
        page.iter().map(|o| Ok(StoredDetection { id: o.id, detection: decode(&o.clone())? })).collect()
    }

    pub async fn risk_detection(&self, tenant: TenantId, id: ObjectId) -> Result<StoredDetection> {
        let (detection, _) = self.load::<Detection>(tenant, ObjectKind::RiskDetection, id).await?;
        Ok(StoredDetection { id, detection })
    }

    /// A user's stored detections (at most 1,000), in no particular order.
    pub async fn detections_of_user(&self, tenant: TenantId, user: ObjectId) -> Result<Vec<Detection>> {
        Ok(self.detections_of(tenant, user).await?.into_iter().map(|(_, d, _)| d).collect())
    }

    /// A user's detections (at most 1,000).
    async fn detections_of(&self, tenant: TenantId, user: ObjectId) -> Result<Vec<(ObjectId, Detection, i64)>> {
        let q = ObjectQuery {
            kind: ObjectKind::RiskDetection,
            deleted: false,
            cond: Cond::Prop { property: "user", test: Test::Eq(ward_core::index::normalize_text(&user.to_string())) },
            order_by: None,
            descending: false,
            after: None,
            limit: 1000,
        };
        let rows = self.store.query_objects(tenant, &q).await?;
        rows.into_iter().map(|(o, _)| Ok((o.id, decode(&o)?, o.version))).collect()
    }

    /// Graph's `confirmCompromised`: each user's risk becomes high and confirmed compromised, and
    /// every session and refresh token the user holds stops working, in the same unit of work.
    /// `by`: the administrator (a delegated call), recorded as an `adminConfirmedUserCompromised`
    /// detection; `partner`: the application that reported it on its own (an app-only call, an
    /// ISV's detection), recorded as threat intelligence, `partnerReportedCompromise`, naming it.
    pub async fn confirm_compromised(
        &self,
        tenant: TenantId,
        users: &[ObjectId],
        by: Option<ObjectId>,
        partner: Option<&str>,
    ) -> Result<()> {
        let confirm = |risk: &UserRisk, now| {
            let mut t = risk.confirm_compromised(now, by);
            if let Some(p) = partner {
                t.detection = Some(ward_risk::partner_reported_compromise(risk.user, p, now, now));
            }
            t
        };
        self.risk_action(tenant, users, confirm, true).await
    }

    /// Graph's `dismiss`: each user's risk is dismissed (level none), their open detections with
    /// it; the history stays.
    pub async fn dismiss_risk(&self, tenant: TenantId, users: &[ObjectId], by: Option<ObjectId>) -> Result<()> {
        self.risk_action(tenant, users, |risk, now| risk.dismiss(now, by), false).await
    }

    /// Graph's signIn `confirmSafe` / `confirmCompromised`: for each logged sign-in (its user and
    /// the request ids its detections may carry: the request that checked its first factor, and
    /// its own), that sign-in's detections are settled and the user's risk follows (see
    /// [`ward_risk::UserRisk::confirm_sign_in_safe`] and `confirm_sign_in_compromised`). A sign-in
    /// confirmed compromised also ends every session and refresh token the user holds: whoever
    /// made it may hold one. All users are checked to exist before anything changes; then each
    /// user's sign-ins are one unit of work (a safe sign-in without detections adds a history item
    /// only).
    pub async fn confirm_sign_ins(
        &self,
        tenant: TenantId,
        sign_ins: &[(ObjectId, Vec<String>)],
        safe: bool,
        by: Option<ObjectId>,
    ) -> Result<()> {
        if sign_ins.is_empty() || sign_ins.len() > MAX_USERS_PER_ACTION {
            return Err(DirectoryError::invalid("requestIds", format!("name 1 to {MAX_USERS_PER_ACTION} sign-ins")));
        }
        // One unit of work per user, with all of that user's sign-ins named (each once).
        let mut per_user: Vec<(ObjectId, Vec<String>)> = Vec::new();
        for (user, requests) in sign_ins {
            self.load::<User>(tenant, ObjectKind::User, *user).await?;
            let requests = requests.iter().filter(|r| !r.is_empty()).cloned();
            match per_user.iter_mut().find(|(u, _)| u == user) {
                Some((_, all)) => all.extend(requests),
                None => per_user.push((*user, requests.collect())),
            }
        }
        for (user, requests) in &per_user {
            let (user, requests) = (*user, requests.as_slice());
            crate::retry_on_conflict(|| async move {
                let (mut account, stored_user) = self.load::<User>(tenant, ObjectKind::User, user).await?;
                let (mut stored, version) = self.user_risk(tenant, user).await?;
                let now = self.now();
                let mut instants: Vec<time::OffsetDateTime> = self
                    .detections_of(tenant, user)
                    .await?
                    .into_iter()
                    .filter(|(_, d, _)| d.request_id.as_deref().is_some_and(|r| requests.iter().any(|q| q == r)))
                    .map(|(_, d, _)| d.activity_at)
                    .collect();
                instants.sort();
                instants.dedup();
                let change = if safe {
                    stored.risk.confirm_sign_in_safe(&instants, now, by, &ward_risk::UserRiskSettings::default())
                } else {
                    stored.risk.confirm_sign_in_compromised(&instants, now, by)
                };
                let mut ops = self.risk_change_ops(tenant, user, change, &mut stored, version, now).await?;
                if !safe {
                    account.sign_in_sessions_valid_from_date_time = now;
                    ops.push(WriteOp::Update {
                        kind: ObjectKind::User,
                        id: user,
                        unique_key: Some(account.unique_key()),
                        doc: encode(&account)?,
                        expected_version: stored_user.version,
                    });
                }
                self.commit(tenant, ops).await.map(|_| ())
            })
            .await?;
        }
        Ok(())
    }

    async fn risk_action(
        &self,
        tenant: TenantId,
        users: &[ObjectId],
        transition: impl Fn(&UserRisk, time::OffsetDateTime) -> RiskTransition,
        revoke: bool,
    ) -> Result<()> {
        if users.is_empty() || users.len() > MAX_USERS_PER_ACTION {
            return Err(DirectoryError::invalid("userIds", format!("name 1 to {MAX_USERS_PER_ACTION} users")));
        }
        // All named users must exist before anything changes.
        for id in users {
            self.load::<User>(tenant, ObjectKind::User, *id).await?;
        }
        let transition = &transition;
        for id in users {
            crate::retry_on_conflict(|| async move { self.risk_action_for(tenant, *id, transition, revoke).await }).await?;
        }
        Ok(())
    }

    /// One user's risk change, in one unit of work, from the state as it is now.
    async fn risk_action_for(
        &self,
        tenant: TenantId,
        id: ObjectId,
        transition: &impl Fn(&UserRisk, time::OffsetDateTime) -> RiskTransition,
        revoke: bool,
    ) -> Result<()> {
        {
            let (mut user, stored_user) = self.load::<User>(tenant, ObjectKind::User, id).await?;
            let user_version = stored_user.version;
            let now = self.now();
            let (mut stored, risk_version) = self.user_risk(tenant, user.id).await?;
            let change = transition(&stored.risk, now);
            let mut ops = self.risk_change_ops(tenant, user.id, change, &mut stored, risk_version, now).await?;
            if revoke {
                user.sign_in_sessions_valid_from_date_time = now;
                ops.push(WriteOp::Update {
                    kind: ObjectKind::User,
                    id: user.id,
                    unique_key: Some(user.unique_key()),
                    doc: encode(&user)?,
                    expected_version: user_version,
                });
            }
            self.commit(tenant, ops).await?;
        }
        Ok(())
    }
}
