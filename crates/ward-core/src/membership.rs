//! The transitive membership engine: memberOf, transitiveMemberOf, transitiveMembers,
//! getMemberGroups and checkMemberGroups over the directory's membership graph, in memory.
//!
//! The graph mirrors the store's `member` links and each group's security flag and deletion
//! state. A soft-deleted group confers no membership and is not walked through until restored.
//! Every update is idempotent, so a cache can be loaded from a snapshot and then replay the
//! change feed from a position at or before the snapshot and still converge.

use crate::error::DirectoryError;
use crate::ids::{ObjectId, ObjectKind};
use std::collections::{HashMap, HashSet, VecDeque};

/// Graph caps getMemberGroups at 11,000 ids and answers `Directory_ResultSizeLimitExceeded` above.
pub const MEMBER_GROUPS_LIMIT: usize = 11_000;
/// checkMemberGroups takes at most 20 group ids.
pub const CHECK_MEMBER_GROUPS_MAX: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct GroupState {
    security_enabled: bool,
    live: bool,
}

#[derive(Clone, Debug, Default)]
pub struct MembershipGraph {
    /// member -> the groups it is a direct member of
    parents: HashMap<ObjectId, Vec<ObjectId>>,
    /// group -> its direct members
    children: HashMap<ObjectId, Vec<(ObjectId, ObjectKind)>>,
    groups: HashMap<ObjectId, GroupState>,
}

impl MembershipGraph {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// Records a group's flags; `live` is false while it sits in deleted items.
    pub fn upsert_group(&mut self, group: ObjectId, security_enabled: bool, live: bool) {
        self.groups.insert(group, GroupState { security_enabled, live });
    }

    /// Forgets an object for good (purge), with every edge into and out of it.
    pub fn remove_object(&mut self, id: ObjectId) {
        self.groups.remove(&id);
        if let Some(groups) = self.parents.remove(&id) {
            for g in groups {
                if let Some(kids) = self.children.get_mut(&g) {
                    kids.retain(|(m, _)| *m != id);
                }
            }
        }
        if let Some(kids) = self.children.remove(&id) {
            for (m, _) in kids {
                if let Some(ps) = self.parents.get_mut(&m) {
                    ps.retain(|g| *g != id);
                }
            }
        }
    }

    pub fn add_member(&mut self, group: ObjectId, member: ObjectId, kind: ObjectKind) {
        let ps = self.parents.entry(member).or_default();
        if !ps.contains(&group) {
            ps.push(group);
            self.children.entry(group).or_default().push((member, kind));
        }
    }

    pub fn remove_member(&mut self, group: ObjectId, member: ObjectId) {
        if let Some(ps) = self.parents.get_mut(&member) {
            ps.retain(|g| *g != group);
        }
        if let Some(kids) = self.children.get_mut(&group) {
            kids.retain(|(m, _)| *m != member);
        }
    }

    fn is_live_group(&self, id: &ObjectId) -> Option<GroupState> {
        self.groups.get(id).copied().filter(|g| g.live)
    }

    /// The live groups `object` is directly a member of.
    pub fn member_of(&self, object: ObjectId) -> Vec<ObjectId> {
        self.parents.get(&object).map(|ps| ps.iter().copied().filter(|g| self.is_live_group(g).is_some()).collect()).unwrap_or_default()
    }

    /// Would adding `member` to `group` close a loop? True when they are the same, or when
    /// `group` already sits (transitively, deleted groups included) inside `member`.
    pub fn would_create_cycle(&self, group: ObjectId, member: ObjectId) -> bool {
        if group == member {
            return true;
        }
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([group]);
        while let Some(next) = queue.pop_front() {
            for parent in self.parents.get(&next).into_iter().flatten() {
                if *parent == member {
                    return true;
                }
                if seen.insert(*parent) {
                    queue.push_back(*parent);
                }
            }
        }
        false
    }

    /// Every live group `object` belongs to, directly or through nesting (breadth-first, nearest
    /// first). With `security_enabled_only`, groups that are not security-enabled are walked
    /// through but not returned. More than `limit` results is an error, as in Graph.
    pub fn transitive_groups(&self, object: ObjectId, security_enabled_only: bool, limit: usize) -> Result<Vec<ObjectId>, DirectoryError> {
        let mut out = Vec::new();
        let mut seen: HashSet<ObjectId> = HashSet::new();
        let mut queue = VecDeque::from([object]);
        while let Some(next) = queue.pop_front() {
            for parent in self.parents.get(&next).into_iter().flatten() {
                let Some(state) = self.is_live_group(parent) else { continue };
                if !seen.insert(*parent) {
                    continue;
                }
                if state.security_enabled || !security_enabled_only {
                    if out.len() == limit {
                        return Err(DirectoryError::ResultSizeLimitExceeded { limit });
                    }
                    out.push(*parent);
                }
                queue.push_back(*parent);
            }
        }
        Ok(out)
    }

    /// Every member of `group`, directly or through nested live groups, each once.
    pub fn transitive_members(&self, group: ObjectId) -> Vec<(ObjectId, ObjectKind)> {
        let mut out = Vec::new();
        let mut seen = HashSet::from([group]);
        let mut queue = VecDeque::from([group]);
        while let Some(next) = queue.pop_front() {
            for (member, kind) in self.children.get(&next).into_iter().flatten() {
                if *kind == ObjectKind::Group && self.is_live_group(member).is_none() {
                    continue;
                }
                if seen.insert(*member) {
                    out.push((*member, *kind));
                    if *kind == ObjectKind::Group {
                        queue.push_back(*member);
                    }
                }
            }
        }
        out
    }

    /// The subset of `candidates` that `object` belongs to, transitively, in the order given.
    pub fn check_member_groups(&self, object: ObjectId, candidates: &[ObjectId]) -> Result<Vec<ObjectId>, DirectoryError> {
        if candidates.len() > CHECK_MEMBER_GROUPS_MAX {
            return Err(DirectoryError::invalid("groupIds", format!("at most {CHECK_MEMBER_GROUPS_MAX} group ids")));
        }
        let all: HashSet<ObjectId> = self.transitive_groups(object, false, usize::MAX)?.into_iter().collect();
        let mut out: Vec<ObjectId> = Vec::new();
        for c in candidates {
            if all.contains(c) && !out.contains(c) {
                out.push(*c);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn id(n: u128) -> ObjectId {
        ObjectId::from_uuid(Uuid::from_u128(n))
    }

    /// user 1 ∈ group 10 ∈ group 11 ∈ group 12; group 20 (not security-enabled) ∋ user 1;
    /// group 11 ∈ group 21.
    fn sample() -> MembershipGraph {
        let mut g = MembershipGraph::new();
        for n in [10, 11, 12, 21] {
            g.upsert_group(id(n), true, true);
        }
        g.upsert_group(id(20), false, true);
        g.add_member(id(10), id(1), ObjectKind::User);
        g.add_member(id(11), id(10), ObjectKind::Group);
        g.add_member(id(12), id(11), ObjectKind::Group);
        g.add_member(id(21), id(11), ObjectKind::Group);
        g.add_member(id(20), id(1), ObjectKind::User);
        g
    }

    #[test]
    fn transitive_groups_walk_nesting_nearest_first() {
        let g = sample();
        assert_eq!(g.transitive_groups(id(1), false, 100).unwrap(), vec![id(10), id(20), id(11), id(12), id(21)]);
        assert_eq!(g.transitive_groups(id(1), true, 100).unwrap(), vec![id(10), id(11), id(12), id(21)]);
        assert_eq!(g.member_of(id(1)), vec![id(10), id(20)]);
    }

    #[test]
    fn the_cap_is_an_error_not_a_truncation() {
        let g = sample();
        assert_eq!(g.transitive_groups(id(1), false, 5).unwrap().len(), 5);
        assert_eq!(g.transitive_groups(id(1), false, 4), Err(DirectoryError::ResultSizeLimitExceeded { limit: 4 }));
    }

    #[test]
    fn deleted_groups_confer_nothing_until_restored() {
        let mut g = sample();
        g.upsert_group(id(11), true, false);
        assert_eq!(g.transitive_groups(id(1), false, 100).unwrap(), vec![id(10), id(20)]);
        assert_eq!(g.transitive_members(id(12)), vec![]);
        g.upsert_group(id(11), true, true);
        assert_eq!(g.transitive_groups(id(1), true, 100).unwrap().len(), 4);
    }

    #[test]
    fn cycles_are_detected_through_any_depth() {
        let g = sample();
        assert!(g.would_create_cycle(id(10), id(10)));
        assert!(g.would_create_cycle(id(10), id(12)), "12 contains 11 contains 10");
        assert!(g.would_create_cycle(id(11), id(21)));
        assert!(!g.would_create_cycle(id(12), id(21)));
        assert!(!g.would_create_cycle(id(12), id(1)));
    }

    #[test]
    fn transitive_members_and_check_member_groups() {
        let g = sample();
        let members = g.transitive_members(id(12));
        assert_eq!(members, vec![(id(11), ObjectKind::Group), (id(10), ObjectKind::Group), (id(1), ObjectKind::User)]);
        assert_eq!(g.check_member_groups(id(1), &[id(21), id(99), id(21), id(10)]).unwrap(), vec![id(21), id(10)]);
        let too_many: Vec<_> = (0..21).map(id).collect();
        assert!(g.check_member_groups(id(1), &too_many).is_err());
    }

    #[test]
    fn updates_are_idempotent_and_purge_drops_edges() {
        let mut g = sample();
        g.add_member(id(10), id(1), ObjectKind::User);
        assert_eq!(g.transitive_members(id(10)).len(), 1);
        g.remove_member(id(10), id(1));
        g.remove_member(id(10), id(1));
        assert_eq!(g.transitive_groups(id(1), false, 100).unwrap(), vec![id(20)]);
        g.remove_object(id(11));
        assert_eq!(g.transitive_members(id(12)), vec![]);
        assert!(!g.would_create_cycle(id(10), id(12)));
    }

    #[test]
    fn diamonds_are_reported_once() {
        let mut g = MembershipGraph::new();
        for n in [10, 11, 12] {
            g.upsert_group(id(n), true, true);
        }
        g.add_member(id(10), id(1), ObjectKind::User);
        g.add_member(id(11), id(1), ObjectKind::User);
        g.add_member(id(12), id(10), ObjectKind::Group);
        g.add_member(id(12), id(11), ObjectKind::Group);
        assert_eq!(g.transitive_groups(id(1), false, 100).unwrap(), vec![id(10), id(11), id(12)]);
        assert_eq!(g.transitive_members(id(12)).len(), 3);
    }
}
