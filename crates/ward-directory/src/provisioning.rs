//! What SCIM needs beyond Graph's operations: reads that carry the object's version (its ETag),
//! and writes applied at exactly a version, so a PATCH is computed from the state it changes and
//! `If-Match` holds (RFC 7644 §3.14). A write at a version that moved fails with
//! [`DirectoryError::Conflict`]; the caller reads again and recomputes, or answers 412.

use crate::{Directory, Result, encode, link_error};
use std::collections::HashSet;
use ward_core::group::{Group, GroupPatch, NewGroup};
use ward_core::store::{Relation, WriteOp};
use ward_core::user::{User, UserPatch};
use ward_core::{DirectoryError, ObjectId, ObjectKind, TenantId};

/// How a write changes a group's direct members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberDelta {
    Add(Vec<ObjectId>),
    Remove(Vec<ObjectId>),
    RemoveAll,
    ReplaceAll(Vec<ObjectId>),
}

impl Directory {
    /// A live user by id, with its version.
    pub async fn user_versioned(&self, tenant: TenantId, id: ObjectId) -> Result<(User, i64)> {
        let (user, stored) = self.load::<User>(tenant, ObjectKind::User, id).await?;
        Ok((user, stored.version))
    }

    /// A live group by id, with its version.
    pub async fn group_versioned(&self, tenant: TenantId, id: ObjectId) -> Result<(Group, i64)> {
        let (group, stored) = self.load::<Group>(tenant, ObjectKind::Group, id).await?;
        Ok((group, stored.version))
    }

    /// The live user `id` names, to be a manager (not of themselves).
    async fn manager_for(&self, tenant: TenantId, of: Option<ObjectId>, id: ObjectId) -> Result<ObjectId> {
        if of == Some(id) {
            return Err(DirectoryError::invalid("manager", "a user cannot be their own manager"));
        }
        let (manager, _) = self.load::<User>(tenant, ObjectKind::User, id).await.map_err(|e| match e {
            DirectoryError::NotFound { .. } => DirectoryError::invalid("manager", format!("no user has the id {id}")),
            other => other,
        })?;
        Ok(manager.id)
    }

    /// Creates a user with its manager and password, in one unit of work.
    pub async fn create_user_versioned(
        &self,
        tenant: TenantId,
        request: crate::NewUserRequest,
        manager: Option<ObjectId>,
    ) -> Result<(User, i64)> {
        let t = self.tenant(tenant).await?;
        let mut user = User::create(request.user, self.new_id(), &t, self.now())?;
        if let Some(m) = manager {
            user.manager_id = Some(self.manager_for(tenant, Some(user.id), m).await?);
        }
        let mut ops =
            vec![WriteOp::Insert { kind: ObjectKind::User, id: user.id, unique_key: Some(user.unique_key()), doc: encode(&user)? }];
        if let Some(password) = request.password {
            ops.push(self.password_op(&t, &user, &password).await?);
        }
        self.commit(tenant, ops).await?;
        Ok((user, 1))
    }

    /// Creates many users in one unit of work (SCIM Bulk): each checked on its own (a refused
    /// one is reported in its place and not written), the rest committed together, each with its
    /// own audit record under `ctx`. The outer error is the commit's (a userName taken, by
    /// another user or twice in the batch): then nothing was written, and the caller can create
    /// them one by one to learn which.
    pub async fn create_users_batch(
        &self,
        tenant: TenantId,
        items: Vec<(crate::NewUserRequest, Option<ObjectId>)>,
        ctx: &ward_core::audit::AuditContext,
    ) -> Result<Vec<Result<User>>> {
        let t = self.tenant(tenant).await?;
        let now = self.now();
        let mut ops = Vec::new();
        let mut out = Vec::with_capacity(items.len());
        for (request, manager) in items {
            let prepared = async {
                let mut user = User::create(request.user, self.new_id(), &t, now)?;
                if let Some(m) = manager {
                    user.manager_id = Some(self.manager_for(tenant, Some(user.id), m).await?);
                }
                let mut mine =
                    vec![WriteOp::Insert { kind: ObjectKind::User, id: user.id, unique_key: Some(user.unique_key()), doc: encode(&user)? }];
                if let Some(password) = &request.password {
                    mine.push(self.password_op(&t, &user, password).await?);
                }
                Ok::<_, DirectoryError>((user, mine))
            }
            .await;
            match prepared {
                Ok((user, mine)) => {
                    let record = crate::audit::record(ctx, now, crate::audit::targets(&mine), "success", "");
                    ops.extend(mine);
                    ops.push(WriteOp::Audit(record));
                    out.push(Ok(user));
                }
                Err(e) => out.push(Err(e)),
            }
        }
        if !ops.is_empty() {
            self.store.commit(tenant, now, ops).await?;
        }
        Ok(out)
    }

    /// Applies `patch`, a manager change and a new password to the user at `version`, in one
    /// unit of work. Returns the user and its new version.
    pub async fn update_user_at(
        &self,
        tenant: TenantId,
        id: ObjectId,
        version: i64,
        patch: UserPatch,
        manager: Option<Option<ObjectId>>,
        password: Option<&str>,
    ) -> Result<(User, i64)> {
        let t = self.tenant(tenant).await?;
        let (mut user, stored) = self.load::<User>(tenant, ObjectKind::User, id).await?;
        if stored.version != version {
            return Err(DirectoryError::Conflict);
        }
        let was_enabled = user.account_enabled;
        let mut changed = user.apply(patch, &t)?;
        if let Some(m) = manager {
            let m = match m {
                Some(m) if user.manager_id == Some(m) => Some(m),
                Some(m) => Some(self.manager_for(tenant, Some(id), m).await?),
                None => None,
            };
            changed |= user.manager_id != m;
            user.manager_id = m;
        }
        if was_enabled && !user.account_enabled {
            // A provisioning client disables a leaver: what they hold stops working now.
            user.sign_in_sessions_valid_from_date_time = self.now();
        }
        let mut ops = Vec::new();
        if let Some(pw) = password {
            ops.push(self.password_op(&t, &user, pw).await?);
            user.force_change_password_next_sign_in = false;
            // A new password is a change of the user: its version moves, and the write holds
            // only at the version it was computed from.
            changed = true;
        }
        if changed {
            ops.push(WriteOp::Update {
                kind: ObjectKind::User,
                id,
                unique_key: Some(user.unique_key()),
                doc: encode(&user)?,
                expected_version: version,
            });
        }
        if ops.is_empty() {
            return Ok((user, version));
        }
        self.commit(tenant, ops).await?;
        Ok((user, if changed { version + 1 } else { version }))
    }

    /// Creates a group with its first members, in one unit of work.
    pub async fn create_group_versioned(&self, tenant: TenantId, input: NewGroup, members: &[ObjectId]) -> Result<(Group, i64)> {
        Ok((self.create_group_with(tenant, input, members, &[]).await?, 1))
    }

    /// Applies `patch` and the member changes, in order, to the group at `version`, in one unit
    /// of work. Adding a member already there and removing one that is not are no-ops
    /// (RFC 7644 §3.5.2: a client that retries must not fail).
    pub async fn update_group_at(
        &self,
        tenant: TenantId,
        id: ObjectId,
        version: i64,
        patch: GroupPatch,
        deltas: &[MemberDelta],
    ) -> Result<(Group, i64)> {
        let (mut group, stored) = self.load::<Group>(tenant, ObjectKind::Group, id).await?;
        if stored.version != version {
            return Err(DirectoryError::Conflict);
        }
        let changed = group.apply(patch)?;
        let before: HashSet<ObjectId> =
            if deltas.is_empty() { HashSet::new() } else { self.live_member_ids(tenant, id).await?.into_iter().collect() };
        let mut members = before.clone();
        for delta in deltas {
            match delta {
                MemberDelta::Add(ids) => members.extend(ids.iter().copied()),
                MemberDelta::Remove(ids) => ids.iter().for_each(|m| {
                    members.remove(m);
                }),
                MemberDelta::RemoveAll => members.clear(),
                MemberDelta::ReplaceAll(ids) => members = ids.iter().copied().collect(),
            }
        }
        let mut added: Vec<ObjectId> = members.difference(&before).copied().collect();
        added.sort();
        let mut removed: Vec<ObjectId> = before.difference(&members).copied().collect();
        removed.sort();
        if !changed && added.is_empty() && removed.is_empty() {
            return Ok((group, version));
        }
        // The group's version moves with every change, members included, and the write holds
        // only at the version it was computed from: two writers never interleave their deltas.
        let mut ops =
            vec![WriteOp::Update { kind: ObjectKind::Group, id, unique_key: None, doc: encode(&group)?, expected_version: version }];
        for m in &added {
            ops.push(self.link_op(tenant, &group, Relation::Member, *m).await?);
        }
        for m in &removed {
            ops.push(WriteOp::RemoveLink { relation: Relation::Member, group: id, member: *m });
        }
        let first = added.first().or(removed.first()).copied().unwrap_or(id);
        self.commit_store(tenant, ops).await.map_err(|e| match link_error(e, id, first, "members") {
            // Another writer (Graph) linked or unlinked the same member in between.
            DirectoryError::AlreadyMember { .. } | DirectoryError::NotMember { .. } => DirectoryError::Conflict,
            other => other,
        })?;
        Ok((group, version + 1))
    }

    /// The ids of a group's direct members that are live (not in deleted items).
    pub async fn live_member_ids(&self, tenant: TenantId, id: ObjectId) -> Result<Vec<ObjectId>> {
        Ok(self.members(tenant, id).await?.into_iter().map(|o| o.id).collect())
    }

    /// Moves a user or group to deleted items if it is still at `version` (SCIM's `If-Match`).
    pub async fn delete_at(&self, tenant: TenantId, kind: ObjectKind, id: ObjectId, version: Option<i64>) -> Result<()> {
        self.soft_delete_at(tenant, kind, id, version).await
    }

    /// The ids of a group's direct members.
    pub async fn member_ids(&self, tenant: TenantId, id: ObjectId) -> Result<Vec<ObjectId>> {
        self.load::<serde_json::Value>(tenant, ObjectKind::Group, id).await?;
        Ok(self.store.links_of_group(tenant, Relation::Member, id).await?.into_iter().map(|l| l.member).collect())
    }

    /// The live user or group `id` is, for resolving a SCIM member reference.
    pub async fn member_kind(&self, tenant: TenantId, id: ObjectId) -> Result<Option<ObjectKind>> {
        Ok(self.store.any_object(tenant, id).await?.filter(|o| o.deleted_at.is_none()).map(|o| o.kind))
    }
}
