//! A per-node, per-tenant cache of the membership graph, kept current by the change feed.
//!
//! Each read first asks the store for the tenant's feed head (one indexed query) and, when the
//! cache is behind, replays the missing rows before answering, so a read always sees every write
//! committed before it began, on this node or any other. The first read of a tenant loads a
//! snapshot; the feed position is taken *before* the snapshot and the replay is idempotent, so a
//! write that races the load is applied either way.

use crate::Result;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::RwLock;
use ward_core::change::{ChangeEvent, ChangeType};
use ward_core::ids::{ObjectId, ObjectKind, TenantId};
use ward_core::membership::MembershipGraph;
use ward_core::store::{ListQuery, Relation, Store};

#[derive(Default)]
struct TenantGraph {
    graph: MembershipGraph,
    position: i64,
    loaded: bool,
}

pub struct MembershipCache {
    store: Arc<dyn Store>,
    tenants: Mutex<HashMap<TenantId, Arc<RwLock<TenantGraph>>>>,
}

const PAGE: u32 = 5_000;

impl MembershipCache {
    pub fn new(store: Arc<dyn Store>) -> Self {
        MembershipCache { store, tenants: Mutex::new(HashMap::new()) }
    }

    fn entry(&self, tenant: TenantId) -> Arc<RwLock<TenantGraph>> {
        let mut map = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(tenant).or_default().clone()
    }

    /// Runs `f` over the tenant's graph once it reflects every committed write.
    pub async fn read<T>(&self, tenant: TenantId, f: impl FnOnce(&MembershipGraph) -> T) -> Result<T> {
        let entry = self.entry(tenant);
        let head = self.store.feed_head(Some(tenant)).await?;
        {
            let current = entry.read().await;
            if current.loaded && current.position >= head {
                return Ok(f(&current.graph));
            }
        }
        let mut state = entry.write().await;
        if !state.loaded {
            self.load(tenant, &mut state).await?;
        }
        self.catch_up(tenant, &mut state).await?;
        let state = state.downgrade();
        Ok(f(&state.graph))
    }

    async fn load(&self, tenant: TenantId, state: &mut TenantGraph) -> Result<()> {
        let position = self.store.feed_head(Some(tenant)).await?;
        let mut graph = MembershipGraph::new();
        for deleted in [false, true] {
            let mut after = None;
            loop {
                let page = self.store.objects(tenant, ObjectKind::Group, &ListQuery { deleted, after, limit: PAGE }).await?;
                let Some(last) = page.last() else { break };
                after = Some(last.id);
                for g in &page {
                    let security = g.doc.get("securityEnabled").and_then(|v| v.as_bool()).unwrap_or(false);
                    graph.upsert_group(g.id, security, !deleted);
                }
            }
        }
        for link in self.store.all_links(tenant, Relation::Member).await? {
            graph.add_member(link.group, link.member, link.member_kind);
        }
        tracing::debug!(%tenant, groups = graph.group_count(), position, "membership graph loaded");
        *state = TenantGraph { graph, position, loaded: true };
        Ok(())
    }

    async fn catch_up(&self, tenant: TenantId, state: &mut TenantGraph) -> Result<()> {
        loop {
            let rows = self.store.feed(Some(tenant), state.position, PAGE).await?;
            let Some(last) = rows.last() else { return Ok(()) };
            state.position = last.position;
            for row in &rows {
                apply(&mut state.graph, row);
            }
        }
    }
}

fn apply(graph: &mut MembershipGraph, row: &ChangeEvent) {
    let Ok(subject) = row.subject_id.parse::<ObjectId>() else { return };
    let is_group = row.subject_kind == ObjectKind::Group.as_str();
    let security = || row.payload["doc"]["securityEnabled"].as_bool().unwrap_or(false);
    let member = || -> Option<(ObjectId, ObjectKind)> {
        if row.payload["relation"].as_str() != Some(Relation::Member.as_str()) {
            return None;
        }
        let id = row.payload["memberId"].as_str()?.parse().ok()?;
        let kind = ObjectKind::parse(row.payload["memberKind"].as_str()?)?;
        Some((id, kind))
    };
    match row.change {
        ChangeType::Created | ChangeType::Updated | ChangeType::Restored if is_group => graph.upsert_group(subject, security(), true),
        ChangeType::Deleted if is_group => graph.upsert_group(subject, security(), false),
        ChangeType::Purged => graph.remove_object(subject),
        ChangeType::LinkAdded => {
            if let Some((id, kind)) = member() {
                graph.add_member(subject, id, kind);
            }
        }
        ChangeType::LinkRemoved => {
            if let Some((id, _)) = member() {
                graph.remove_member(subject, id);
            }
        }
        _ => {}
    }
}
