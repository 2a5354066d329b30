//! Groups and their memberships: create, read, update, delete, restore; members and owners;
//! memberOf and the transitive questions (answered by the membership cache).

use crate::{Directory, Result, decode, encode, link_error, retry_on_conflict};
use ward_core::DirectoryError;
use ward_core::group::{Group, GroupPatch, NewGroup};
use ward_core::ids::{ObjectId, ObjectKind, TenantId};
use ward_core::membership::MEMBER_GROUPS_LIMIT;
use ward_core::store::{Link, ListQuery, Relation, StoredObject, WriteOp};

/// A directory object as met through a relationship: its kind and its document.
#[derive(Clone, Debug, PartialEq)]
pub struct DirectoryObject {
    pub kind: ObjectKind,
    pub id: ObjectId,
    pub doc: serde_json::Value,
}

impl From<StoredObject> for DirectoryObject {
    fn from(o: StoredObject) -> Self {
        DirectoryObject { kind: o.kind, id: o.id, doc: o.doc }
    }
}

impl Directory {
    pub async fn create_group(&self, tenant: TenantId, input: NewGroup) -> Result<Group> {
        let t = self.tenant(tenant).await?;
        let group = Group::create(input, self.new_id(), &t, self.clock.now())?;
        self.commit(tenant, vec![WriteOp::Insert { kind: ObjectKind::Group, id: group.id, unique_key: None, doc: encode(&group)? }])
            .await?;
        Ok(group)
    }

    pub async fn group(&self, tenant: TenantId, id: ObjectId) -> Result<Group> {
        self.load(tenant, ObjectKind::Group, id).await.map(|(g, _)| g)
    }

    pub async fn groups(&self, tenant: TenantId, after: Option<ObjectId>, limit: u32) -> Result<Vec<Group>> {
        let rows = self.store.objects(tenant, ObjectKind::Group, &ListQuery { deleted: false, after, limit }).await?;
        rows.iter().map(decode).collect()
    }

    pub async fn deleted_groups(&self, tenant: TenantId, after: Option<ObjectId>, limit: u32) -> Result<Vec<Group>> {
        let rows = self.store.objects(tenant, ObjectKind::Group, &ListQuery { deleted: true, after, limit }).await?;
        rows.iter().map(decode).collect()
    }

    pub async fn update_group(&self, tenant: TenantId, id: ObjectId, patch: GroupPatch) -> Result<Group> {
        let patch = &patch;
        retry_on_conflict(move || async move {
            let (mut group, stored): (Group, _) = self.load(tenant, ObjectKind::Group, id).await?;
            if !group.apply(patch.clone())? {
                return Ok(group);
            }
            let op =
                WriteOp::Update { kind: ObjectKind::Group, id, unique_key: None, doc: encode(&group)?, expected_version: stored.version };
            self.commit(tenant, vec![op]).await?;
            Ok(group)
        })
        .await
    }

    /// Graph's `PATCH /groups/{id}` with `members@odata.bind`: the property changes and the new
    /// members in one unit of work.
    pub async fn update_group_with_members(
        &self,
        tenant: TenantId,
        id: ObjectId,
        patch: GroupPatch,
        members: &[ObjectId],
    ) -> Result<Group> {
        let patch = &patch;
        retry_on_conflict(move || async move {
            let (mut group, stored): (Group, _) = self.load(tenant, ObjectKind::Group, id).await?;
            let mut ops = Vec::new();
            if group.apply(patch.clone())? {
                ops.push(WriteOp::Update {
                    kind: ObjectKind::Group,
                    id,
                    unique_key: None,
                    doc: encode(&group)?,
                    expected_version: stored.version,
                });
            }
            for m in members {
                ops.push(self.link_op(tenant, &group, Relation::Member, *m).await?);
            }
            if ops.is_empty() {
                return Ok(group);
            }
            let first = members.first().copied().unwrap_or(id);
            self.commit_store(tenant, ops).await.map_err(|e| link_error(e, id, first, "members"))?;
            Ok(group)
        })
        .await
    }

    pub async fn delete_group(&self, tenant: TenantId, id: ObjectId) -> Result<()> {
        self.soft_delete(tenant, ObjectKind::Group, id).await
    }

    pub async fn restore_group(&self, tenant: TenantId, id: ObjectId) -> Result<Group> {
        let restored = self.restore(tenant, ObjectKind::Group, id, |_| Ok(None)).await?;
        decode(&restored)
    }

    /// Resolves a live directory object of any kind by id.
    pub async fn directory_object(&self, tenant: TenantId, id: ObjectId) -> Result<DirectoryObject> {
        let found = self.store.any_object(tenant, id).await?.filter(|o| o.deleted_at.is_none());
        found.map(Into::into).ok_or_else(|| DirectoryError::NotFound { kind: None, id: id.to_string() })
    }

    async fn link(&self, tenant: TenantId, relation: Relation, group_id: ObjectId, member_id: ObjectId) -> Result<()> {
        let group = self.group(tenant, group_id).await?;
        let op = self.link_op(tenant, &group, relation, member_id).await?;
        self.commit_store(tenant, vec![op]).await.map_err(|e| link_error(e, group_id, member_id, relation.property()))?;
        Ok(())
    }

    /// The write that links `member_id` to `group` (checked: kinds, Microsoft 365 nesting).
    pub(crate) async fn link_op(&self, tenant: TenantId, group: &Group, relation: Relation, member_id: ObjectId) -> Result<WriteOp> {
        let group_id = group.id;
        let member = self.directory_object(tenant, member_id).await?;
        let allowed = match relation {
            Relation::Member => member.kind.can_be_member(),
            Relation::Owner => matches!(member.kind, ObjectKind::User | ObjectKind::ServicePrincipal),
        };
        if !allowed {
            return Err(DirectoryError::invalid(
                "@odata.id",
                format!("a {} cannot be one of the {} of a group", member.kind, relation.property()),
            ));
        }
        if relation == Relation::Member && member.kind == ObjectKind::Group && group.is_unified() {
            return Err(DirectoryError::invalid("@odata.id", "Microsoft 365 groups cannot have groups as members"));
        }
        Ok(WriteOp::AddLink { relation, link: Link { group: group_id, member: member_id, member_kind: member.kind } })
    }

    /// Creates a group with its first members and owners (Graph's `members@odata.bind` and
    /// `owners@odata.bind`), all in one unit of work: either all of it exists or none.
    pub async fn create_group_with(&self, tenant: TenantId, input: NewGroup, members: &[ObjectId], owners: &[ObjectId]) -> Result<Group> {
        let t = self.tenant(tenant).await?;
        let group = Group::create(input, self.new_id(), &t, self.clock.now())?;
        let mut ops = vec![WriteOp::Insert { kind: ObjectKind::Group, id: group.id, unique_key: None, doc: encode(&group)? }];
        for (relation, ids) in [(Relation::Member, members), (Relation::Owner, owners)] {
            for id in ids {
                ops.push(self.link_op(tenant, &group, relation, *id).await?);
            }
        }
        let first = members.first().or(owners.first()).copied().unwrap_or(group.id);
        self.commit_store(tenant, ops).await.map_err(|e| link_error(e, group.id, first, "members"))?;
        Ok(group)
    }

    /// Adds several members at once (Graph's `members@odata.bind` on PATCH): all or none.
    pub async fn add_members(&self, tenant: TenantId, group_id: ObjectId, members: &[ObjectId]) -> Result<()> {
        let group = self.group(tenant, group_id).await?;
        let mut ops = Vec::with_capacity(members.len());
        for id in members {
            ops.push(self.link_op(tenant, &group, Relation::Member, *id).await?);
        }
        let first = members.first().copied().unwrap_or(group_id);
        self.commit_store(tenant, ops).await.map_err(|e| link_error(e, group_id, first, "members"))?;
        Ok(())
    }

    async fn unlink(&self, tenant: TenantId, relation: Relation, group_id: ObjectId, member_id: ObjectId) -> Result<()> {
        self.group(tenant, group_id).await?;
        let op = WriteOp::RemoveLink { relation, group: group_id, member: member_id };
        self.commit_store(tenant, vec![op]).await.map_err(|e| link_error(e, group_id, member_id, relation.property()))?;
        Ok(())
    }

    /// Adds a user, group (nesting) or service principal to a group. A nesting that would close a
    /// cycle is refused with `membership_cycle`.
    pub async fn add_member(&self, tenant: TenantId, group: ObjectId, member: ObjectId) -> Result<()> {
        self.link(tenant, Relation::Member, group, member).await
    }

    pub async fn remove_member(&self, tenant: TenantId, group: ObjectId, member: ObjectId) -> Result<()> {
        self.unlink(tenant, Relation::Member, group, member).await
    }

    pub async fn add_owner(&self, tenant: TenantId, group: ObjectId, owner: ObjectId) -> Result<()> {
        self.link(tenant, Relation::Owner, group, owner).await
    }

    pub async fn remove_owner(&self, tenant: TenantId, group: ObjectId, owner: ObjectId) -> Result<()> {
        self.unlink(tenant, Relation::Owner, group, owner).await
    }

    async fn live_objects(&self, tenant: TenantId, ids: impl IntoIterator<Item = ObjectId>) -> Result<Vec<DirectoryObject>> {
        let mut out = Vec::new();
        for id in ids {
            if let Some(o) = self.store.any_object(tenant, id).await?.filter(|o| o.deleted_at.is_none()) {
                out.push(o.into());
            }
        }
        Ok(out)
    }

    /// Direct members of a group (live objects only).
    pub async fn members(&self, tenant: TenantId, group: ObjectId) -> Result<Vec<DirectoryObject>> {
        self.group(tenant, group).await?;
        let links = self.store.links_of_group(tenant, Relation::Member, group).await?;
        self.live_objects(tenant, links.into_iter().map(|l| l.member)).await
    }

    pub async fn owners(&self, tenant: TenantId, group: ObjectId) -> Result<Vec<DirectoryObject>> {
        self.group(tenant, group).await?;
        let links = self.store.links_of_group(tenant, Relation::Owner, group).await?;
        self.live_objects(tenant, links.into_iter().map(|l| l.member)).await
    }

    /// Every member of a group, through nested groups, each once.
    pub async fn transitive_members(&self, tenant: TenantId, group: ObjectId) -> Result<Vec<DirectoryObject>> {
        self.group(tenant, group).await?;
        let ids = self.membership.read(tenant, |g| g.transitive_members(group)).await?;
        self.live_objects(tenant, ids.into_iter().map(|(id, _)| id)).await
    }

    /// The groups an object is directly a member of.
    pub async fn member_of(&self, tenant: TenantId, object: ObjectId) -> Result<Vec<DirectoryObject>> {
        self.directory_object(tenant, object).await?;
        let ids = self.membership.read(tenant, |g| g.member_of(object)).await?;
        self.live_objects(tenant, ids).await
    }

    pub async fn transitive_member_of(&self, tenant: TenantId, object: ObjectId) -> Result<Vec<DirectoryObject>> {
        self.directory_object(tenant, object).await?;
        let ids = self.membership.read(tenant, |g| g.transitive_groups(object, false, usize::MAX)).await??;
        self.live_objects(tenant, ids).await
    }

    /// Graph's `getMemberGroups`: ids of every group the object is in, transitively; at most
    /// 11,000, beyond which the answer is `Directory_ResultSizeLimitExceeded`.
    pub async fn get_member_groups(&self, tenant: TenantId, object: ObjectId, security_enabled_only: bool) -> Result<Vec<ObjectId>> {
        self.directory_object(tenant, object).await?;
        self.membership.read(tenant, |g| g.transitive_groups(object, security_enabled_only, MEMBER_GROUPS_LIMIT)).await?
    }

    /// Graph's `checkMemberGroups`: which of (at most 20) `group_ids` the object is in, transitively.
    pub async fn check_member_groups(&self, tenant: TenantId, object: ObjectId, group_ids: &[ObjectId]) -> Result<Vec<ObjectId>> {
        self.directory_object(tenant, object).await?;
        self.membership.read(tenant, |g| g.check_member_groups(object, group_ids)).await?
    }
}
