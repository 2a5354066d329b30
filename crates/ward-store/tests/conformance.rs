//! The store conformance suite: every case runs against SQLite and against a throwaway PostgreSQL.
//! Both backends must behave the same; where they do not, the case fails for one of them.

use serde_json::json;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;
use ward_core::audit::{AuditQuery, AuditRecord};
use ward_core::change::ChangeType;
use ward_core::ids::{ObjectId, ObjectKind, TenantId};
use ward_core::index::{Cond, Keyset, ObjectQuery, Test};
use ward_core::store::{
    DeviceApproval, DeviceCodeStatus, Link, ListQuery, LockoutPolicy, Redeemed, Relation, Store, StoreError, StoredAuthMethod,
    StoredCredential, StoredDeviceCode, StoredGrant, StoredHandle, StoredSession, StoredSigningKey, WriteOp,
};
use ward_core::tenant::Tenant;
use ward_core::validate::DomainName;

type S = Arc<dyn Store>;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn oid() -> ObjectId {
    ObjectId::from_uuid(Uuid::new_v4())
}

async fn tenant(store: &S, name: &str) -> TenantId {
    let id = TenantId::from_uuid(Uuid::new_v4());
    let t = Tenant::new(id, name, now()).unwrap();
    store.commit(id, now(), vec![WriteOp::CreateTenant(t)]).await.unwrap();
    id
}

fn insert(kind: ObjectKind, id: ObjectId, key: Option<&str>) -> WriteOp {
    WriteOp::Insert { kind, id, unique_key: key.map(String::from), doc: json!({ "id": id, "n": 1 }) }
}

fn member(group: ObjectId, m: ObjectId, kind: ObjectKind) -> WriteOp {
    WriteOp::AddLink { relation: Relation::Member, link: Link { group, member: m, member_kind: kind } }
}

async fn tenants_and_domains(store: S) {
    let a = tenant(&store, "Alpha").await;
    assert_eq!(store.tenant(a).await.unwrap().unwrap().display_name, "Alpha");
    let by_domain = store.tenant_by_domain(&DomainName::parse("ALPHA.ward.local").unwrap()).await.unwrap();
    assert_eq!(by_domain.unwrap().id, a);
    // A second tenant that claims the same initial domain is refused, and nothing of it is left.
    let b = TenantId::from_uuid(Uuid::new_v4());
    let err = store.commit(b, now(), vec![WriteOp::CreateTenant(Tenant::new(b, "alpha", now()).unwrap())]).await.unwrap_err();
    assert_eq!(err, StoreError::DomainTaken("alpha.ward.local".into()));
    assert!(store.tenant(b).await.unwrap().is_none());
    assert_eq!(store.feed_head(Some(b)).await.unwrap(), 0);
    // Adding a domain.
    let mut t = store.tenant(a).await.unwrap().unwrap();
    t.add_domain(DomainName::parse("alpha.example").unwrap()).unwrap();
    store.commit(a, now(), vec![WriteOp::UpdateTenant(t)]).await.unwrap();
    let found = store.tenant_by_domain(&DomainName::parse("alpha.example").unwrap()).await.unwrap();
    assert_eq!(found.unwrap().id, a);
    assert!(store.tenants().await.unwrap().iter().any(|t| t.id == a));
}

async fn objects_and_unique_keys(store: S) {
    let t = tenant(&store, "Objects").await;
    let u = oid();
    store.commit(t, now(), vec![insert(ObjectKind::User, u, Some("upn:adele@objects.ward.local"))]).await.unwrap();
    let got = store.object(t, ObjectKind::User, u).await.unwrap().unwrap();
    assert_eq!((got.version, got.deleted_at, got.doc["n"].as_i64()), (1, None, Some(1)));
    assert!(store.object(t, ObjectKind::Group, u).await.unwrap().is_none(), "kind is part of the look-up");
    assert_eq!(store.any_object(t, u).await.unwrap().unwrap().kind, ObjectKind::User);
    assert!(store.any_object(t, oid()).await.unwrap().is_none());
    let by_key = store.object_by_key(t, ObjectKind::User, "upn:adele@objects.ward.local").await.unwrap().unwrap();
    assert_eq!(by_key.id, u);
    let err = store.commit(t, now(), vec![insert(ObjectKind::User, oid(), Some("upn:adele@objects.ward.local"))]).await.unwrap_err();
    assert_eq!(err, StoreError::UniqueViolation("upn:adele@objects.ward.local".into()));
    // Another tenant may use the same key.
    let other = tenant(&store, "Objects Two").await;
    store.commit(other, now(), vec![insert(ObjectKind::User, oid(), Some("upn:adele@objects.ward.local"))]).await.unwrap();
    assert!(store.object(other, ObjectKind::User, u).await.unwrap().is_none(), "tenants are isolated");
    // Unknown tenant.
    let ghost = TenantId::from_uuid(Uuid::new_v4());
    assert!(matches!(store.commit(ghost, now(), vec![insert(ObjectKind::User, oid(), None)]).await, Err(StoreError::NotFound { .. })));
}

async fn optimistic_updates(store: S) {
    let t = tenant(&store, "Updates").await;
    let u = oid();
    store.commit(t, now(), vec![insert(ObjectKind::User, u, Some("upn:a@updates.ward.local"))]).await.unwrap();
    let update = |v: i64, key: &str| WriteOp::Update {
        kind: ObjectKind::User,
        id: u,
        unique_key: Some(key.into()),
        doc: json!({ "v": v }),
        expected_version: v,
    };
    store.commit(t, now(), vec![update(1, "upn:b@updates.ward.local")]).await.unwrap();
    assert_eq!(store.commit(t, now(), vec![update(1, "upn:c@updates.ward.local")]).await, Err(StoreError::VersionConflict));
    let got = store.object(t, ObjectKind::User, u).await.unwrap().unwrap();
    assert_eq!((got.version, got.doc["v"].as_i64()), (2, Some(1)));
    assert!(store.object_by_key(t, ObjectKind::User, "upn:a@updates.ward.local").await.unwrap().is_none(), "old key released");
    assert!(store.object_by_key(t, ObjectKind::User, "upn:b@updates.ward.local").await.unwrap().is_some());
    let missing = WriteOp::Update { kind: ObjectKind::User, id: oid(), unique_key: None, doc: json!({}), expected_version: 1 };
    assert!(matches!(store.commit(t, now(), vec![missing]).await, Err(StoreError::NotFound { .. })));
}

async fn soft_delete_restore_purge(store: S) {
    let t = tenant(&store, "Deletes").await;
    let (u, g) = (oid(), oid());
    let key = "upn:a@deletes.ward.local";
    store
        .commit(t, now(), vec![insert(ObjectKind::User, u, Some(key)), insert(ObjectKind::Group, g, None), member(g, u, ObjectKind::User)])
        .await
        .unwrap();
    store
        .commit(
            t,
            now(),
            vec![WriteOp::SetCredential {
                object_kind: ObjectKind::User,
                credential: StoredCredential {
                    object_id: u,
                    kind: "password".into(),
                    key_id: String::new(),
                    secret_hash: "h".into(),
                    expires_at: None,
                },
            }],
        )
        .await
        .unwrap();
    store
        .commit(t, now(), vec![WriteOp::SoftDelete { kind: ObjectKind::User, id: u, at: now(), doc: json!({ "deleted": true }) }])
        .await
        .unwrap();
    let live = store.objects(t, ObjectKind::User, &ListQuery { limit: 100, ..Default::default() }).await.unwrap();
    assert!(live.is_empty());
    let deleted = store.objects(t, ObjectKind::User, &ListQuery { deleted: true, limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].deleted_at, Some(now()));
    assert_eq!(store.count_objects(t, ObjectKind::User, true).await.unwrap(), 1);
    assert!(store.object_by_key(t, ObjectKind::User, key).await.unwrap().is_none());
    // The key is free while deleted; restore then conflicts until it is free again.
    let squatter = oid();
    store.commit(t, now(), vec![insert(ObjectKind::User, squatter, Some(key))]).await.unwrap();
    let restore = WriteOp::Restore { kind: ObjectKind::User, id: u, unique_key: Some(key.into()), doc: json!({ "deleted": false }) };
    assert_eq!(store.commit(t, now(), vec![restore.clone()]).await, Err(StoreError::UniqueViolation(key.into())));
    store.commit(t, now(), vec![WriteOp::Purge { kind: ObjectKind::User, id: squatter }]).await.unwrap();
    store.commit(t, now(), vec![restore]).await.unwrap();
    assert_eq!(store.links_of_member(t, Relation::Member, u).await.unwrap().len(), 1, "memberships survive a soft delete");
    // Purge takes links and credentials with it.
    let later = now() + time::Duration::days(31);
    store.commit(t, now(), vec![WriteOp::SoftDelete { kind: ObjectKind::User, id: u, at: now(), doc: json!({}) }]).await.unwrap();
    let due = store.deleted_before(later, 100).await.unwrap();
    assert!(due.contains(&(t, ObjectKind::User, u)));
    assert!(!store.deleted_before(now(), 100).await.unwrap().contains(&(t, ObjectKind::User, u)));
    store.commit(t, now(), vec![WriteOp::Purge { kind: ObjectKind::User, id: u }]).await.unwrap();
    assert!(store.object(t, ObjectKind::User, u).await.unwrap().is_none());
    assert!(store.links_of_group(t, Relation::Member, g).await.unwrap().is_empty());
    assert!(store.credential(t, u, "password", "").await.unwrap().is_none());
}

async fn links_and_cycles(store: S) {
    let t = tenant(&store, "Links").await;
    let (u, a, b, c) = (oid(), oid(), oid(), oid());
    store
        .commit(
            t,
            now(),
            vec![
                insert(ObjectKind::User, u, None),
                insert(ObjectKind::Group, a, None),
                insert(ObjectKind::Group, b, None),
                insert(ObjectKind::Group, c, None),
                member(a, u, ObjectKind::User),
                member(b, a, ObjectKind::Group),
                member(c, b, ObjectKind::Group),
            ],
        )
        .await
        .unwrap();
    assert_eq!(store.commit(t, now(), vec![member(a, u, ObjectKind::User)]).await, Err(StoreError::AlreadyLinked));
    assert_eq!(store.commit(t, now(), vec![member(a, c, ObjectKind::Group)]).await, Err(StoreError::Cycle), "c ⊃ b ⊃ a");
    assert_eq!(store.commit(t, now(), vec![member(a, a, ObjectKind::Group)]).await, Err(StoreError::Cycle));
    assert!(matches!(store.commit(t, now(), vec![member(a, oid(), ObjectKind::User)]).await, Err(StoreError::NotFound { .. })));
    assert!(
        matches!(store.commit(t, now(), vec![member(u, a, ObjectKind::Group)]).await, Err(StoreError::NotFound { .. })),
        "a user is not a group"
    );
    assert!(
        matches!(store.commit(t, now(), vec![member(c, u, ObjectKind::Group)]).await, Err(StoreError::NotFound { .. })),
        "kind must match"
    );
    // Soft-deleted groups still count for cycles: restoring one must not create a loop.
    store.commit(t, now(), vec![WriteOp::SoftDelete { kind: ObjectKind::Group, id: b, at: now(), doc: json!({}) }]).await.unwrap();
    assert_eq!(store.commit(t, now(), vec![member(a, c, ObjectKind::Group)]).await, Err(StoreError::Cycle));
    assert!(
        matches!(store.commit(t, now(), vec![member(b, u, ObjectKind::User)]).await, Err(StoreError::NotFound { .. })),
        "no links to deleted"
    );
    let members: Vec<_> = store.links_of_group(t, Relation::Member, c).await.unwrap().iter().map(|l| l.member).collect();
    assert_eq!(members, vec![b]);
    let of: Vec<_> = store.links_of_member(t, Relation::Member, u).await.unwrap().iter().map(|l| l.group).collect();
    assert_eq!(of, vec![a]);
    assert_eq!(store.all_links(t, Relation::Member).await.unwrap().len(), 3);
    let remove = WriteOp::RemoveLink { relation: Relation::Member, group: a, member: u };
    store.commit(t, now(), vec![remove.clone()]).await.unwrap();
    assert_eq!(store.commit(t, now(), vec![remove]).await, Err(StoreError::NotLinked));
    // Owners are a separate relation and never close cycles.
    let owner = WriteOp::AddLink { relation: Relation::Owner, link: Link { group: a, member: u, member_kind: ObjectKind::User } };
    store.commit(t, now(), vec![owner]).await.unwrap();
    assert_eq!(store.links_of_group(t, Relation::Owner, a).await.unwrap().len(), 1);
    assert!(store.links_of_group(t, Relation::Member, a).await.unwrap().is_empty());
}

async fn change_feed_is_atomic_and_ordered(store: S) {
    let t = tenant(&store, "Feed").await;
    let start = store.feed_head(None).await.unwrap();
    let (u, g) = (oid(), oid());
    let pos = store
        .commit(
            t,
            now(),
            vec![
                insert(ObjectKind::User, u, Some("upn:f@feed.ward.local")),
                insert(ObjectKind::Group, g, None),
                member(g, u, ObjectKind::User),
            ],
        )
        .await
        .unwrap();
    let rows = store.feed(Some(t), 0, 100).await.unwrap();
    let kinds: Vec<_> = rows.iter().map(|r| (r.subject_kind.as_str(), r.change)).collect();
    assert_eq!(
        kinds,
        vec![
            ("tenant", ChangeType::Created),
            ("user", ChangeType::Created),
            ("group", ChangeType::Created),
            ("group", ChangeType::LinkAdded)
        ]
    );
    assert_eq!(rows.last().unwrap().position, pos);
    assert!(rows.windows(2).all(|w| w[0].position < w[1].position));
    assert!(rows[1].position > start);
    assert_eq!(rows[3].payload["memberId"], json!(u));
    // A unit of work that fails half-way leaves neither objects nor feed rows.
    let head = store.feed_head(Some(t)).await.unwrap();
    let fresh = oid();
    let err = store.commit(t, now(), vec![insert(ObjectKind::User, fresh, None), member(g, u, ObjectKind::User)]).await.unwrap_err();
    assert_eq!(err, StoreError::AlreadyLinked);
    assert!(store.object(t, ObjectKind::User, fresh).await.unwrap().is_none());
    assert_eq!(store.feed_head(Some(t)).await.unwrap(), head);
    // Paging and the all-tenant view.
    let page = store.feed(Some(t), rows[1].position, 2).await.unwrap();
    assert_eq!(page.iter().map(|r| r.position).collect::<Vec<_>>(), vec![rows[2].position, rows[3].position]);
    assert!(store.feed(None, start, 1000).await.unwrap().iter().any(|r| r.tenant_id == t));
    assert!(store.feed_head(None).await.unwrap() >= pos);
}

async fn credentials_are_never_in_the_feed(store: S) {
    let t = tenant(&store, "Creds").await;
    let u = oid();
    store.commit(t, now(), vec![insert(ObjectKind::User, u, None)]).await.unwrap();
    let cred = |hash: &str| WriteOp::SetCredential {
        object_kind: ObjectKind::User,
        credential: StoredCredential {
            object_id: u,
            kind: "password".into(),
            key_id: String::new(),
            secret_hash: hash.into(),
            expires_at: Some(now() + time::Duration::days(1)),
        },
    };
    store.commit(t, now(), vec![cred("$argon2id$first")]).await.unwrap();
    store.commit(t, now(), vec![cred("$argon2id$second")]).await.unwrap();
    let got = store.credential(t, u, "password", "").await.unwrap().unwrap();
    assert_eq!(got.secret_hash, "$argon2id$second");
    assert_eq!(got.expires_at, Some(now() + time::Duration::days(1)));
    let feed = store.feed(Some(t), 0, 100).await.unwrap();
    assert!(feed.iter().all(|r| !r.payload.to_string().contains("argon2id")));
    assert_eq!(feed.iter().filter(|r| r.change == ChangeType::CredentialChanged).count(), 2);
    let remove = WriteOp::RemoveCredential { object_kind: ObjectKind::User, object_id: u, kind: "password".into(), key_id: String::new() };
    store.commit(t, now(), vec![remove.clone()]).await.unwrap();
    assert!(matches!(store.commit(t, now(), vec![remove]).await, Err(StoreError::NotFound { .. })));
    let ghost = WriteOp::SetCredential {
        object_kind: ObjectKind::User,
        credential: StoredCredential {
            object_id: oid(),
            kind: "password".into(),
            key_id: String::new(),
            secret_hash: "x".into(),
            expires_at: None,
        },
    };
    assert!(matches!(store.commit(t, now(), vec![ghost]).await, Err(StoreError::NotFound { .. })));
}

async fn keyset_paging(store: S) {
    let t = tenant(&store, "Paging").await;
    let ops: Vec<_> = (0..25).map(|_| insert(ObjectKind::Group, oid(), None)).collect();
    store.commit(t, now(), ops).await.unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.objects(t, ObjectKind::Group, &ListQuery { after, limit: 10, deleted: false }).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = Some(page.last().unwrap().id);
        seen.extend(page.into_iter().map(|o| o.id));
    }
    assert_eq!(seen.len(), 25);
    let mut sorted = seen.clone();
    sorted.sort_by_key(|id| id.to_string());
    assert_eq!(seen, sorted);
    assert_eq!(store.count_objects(t, ObjectKind::Group, false).await.unwrap(), 25);
}

fn user_doc(id: ObjectId, name: &str, upn: &str, enabled: bool, other: &[&str]) -> serde_json::Value {
    json!({ "id": id, "displayName": name, "userPrincipalName": upn, "accountEnabled": enabled, "otherMails": other,
            "createdDateTime": "2026-11-27T00:00:00Z" })
}

/// Every page of a query, following its keyset.
async fn all_pages(store: &S, t: TenantId, mut q: ObjectQuery) -> Vec<String> {
    let mut names = Vec::new();
    loop {
        let page = store.query_objects(t, &q).await.unwrap();
        let Some((last, value)) = page.last().cloned() else { return names };
        q.after = Some(Keyset { value, id: last.id });
        names.extend(page.into_iter().map(|(o, _)| o.doc["displayName"].as_str().unwrap().to_string()));
    }
}

async fn property_index_queries(store: S) {
    let t = tenant(&store, "Query").await;
    let other = tenant(&store, "Other").await;
    let names = ["Adele Vance", "adam Smith", "Alex Wilber", "Bianca Pisani", "Ádám Kovács", "Megan Bowen", "Lee Gu"];
    let mut ids = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let id = oid();
        ids.push(id);
        let other_mails: Vec<&str> = if i % 2 == 0 { vec!["shared@x.example"] } else { vec![] };
        let doc = user_doc(id, n, &format!("u{i}@query.ward.local"), i != 3, &other_mails);
        store.commit(t, now(), vec![WriteOp::Insert { kind: ObjectKind::User, id, unique_key: None, doc }]).await.unwrap();
    }
    // Another tenant's look-alike is never seen.
    let stranger = oid();
    let doc = user_doc(stranger, "Adele Impostor", "x@other.ward.local", true, &[]);
    store.commit(other, now(), vec![WriteOp::Insert { kind: ObjectKind::User, id: stranger, unique_key: None, doc }]).await.unwrap();

    let q = |cond: Cond, order_by: Option<&'static str>, limit: u32| ObjectQuery {
        kind: ObjectKind::User,
        deleted: false,
        cond,
        order_by,
        descending: false,
        after: None,
        limit,
    };
    let prefix = |p: &str| Cond::Prop { property: "displayName", test: Test::Prefix(p.into()) };
    // A prefix, case-insensitive, paged two at a time by displayName: every match once, in order.
    let got = all_pages(&store, t, q(prefix("ad"), Some("displayName"), 2)).await;
    assert_eq!(got, vec!["adam Smith", "Adele Vance"]);
    let got = all_pages(&store, t, q(prefix("a"), Some("displayName"), 1)).await;
    assert_eq!(got, vec!["adam Smith", "Adele Vance", "Alex Wilber"], "byte order: 'á' sorts after ASCII");
    // Descending.
    let mut desc = q(Cond::All, Some("displayName"), 3);
    desc.descending = true;
    let got = all_pages(&store, t, desc).await;
    assert_eq!(got.len(), names.len());
    assert_eq!(got.first().map(String::as_str), Some("Ádám Kovács"));
    // By id, with conditions on other properties and on collections.
    let enabled_with_shared = Cond::And(vec![
        Cond::Prop { property: "accountEnabled", test: Test::Eq("true".into()) },
        Cond::Prop { property: "otherMails", test: Test::Eq("shared@x.example".into()) },
    ]);
    let mut got = all_pages(&store, t, q(enabled_with_shared.clone(), None, 2)).await;
    got.sort();
    assert_eq!(got, vec!["Adele Vance", "Alex Wilber", "Lee Gu", "Ádám Kovács"]);
    assert_eq!(store.count_matching(t, &q(enabled_with_shared, None, 1)).await.unwrap(), 4);
    // not / or / in / suffix / tokens.
    let not_a = Cond::Not(Box::new(prefix("a")));
    assert_eq!(store.count_matching(t, &q(not_a, None, 1)).await.unwrap(), 4);
    let either = Cond::Or(vec![prefix("lee"), Cond::Prop { property: "userPrincipalName", test: Test::Eq("u3@query.ward.local".into()) }]);
    let mut got = all_pages(&store, t, q(either, None, 10)).await;
    got.sort();
    assert_eq!(got, vec!["Bianca Pisani", "Lee Gu"]);
    let suffix = Cond::Prop { property: "displayName", test: Test::Suffix("_".into()) };
    assert_eq!(store.count_matching(t, &q(suffix, None, 1)).await.unwrap(), 0, "LIKE wildcards in a value are literal");
    let word = Cond::Prop { property: "displayName~", test: Test::Prefix("bow".into()) };
    assert_eq!(all_pages(&store, t, q(word, None, 10)).await, vec!["Megan Bowen"]);
    let none_of = Cond::Prop { property: "displayName", test: Test::In(vec![]) };
    assert_eq!(store.count_matching(t, &q(none_of, None, 1)).await.unwrap(), 0);

    // The index follows updates, deletion, restore and purge.
    let adele = ids[0];
    let renamed = user_doc(adele, "Zoe Renamed", "u0@query.ward.local", true, &[]);
    let op = WriteOp::Update { kind: ObjectKind::User, id: adele, unique_key: None, doc: renamed.clone(), expected_version: 1 };
    store.commit(t, now(), vec![op]).await.unwrap();
    assert_eq!(all_pages(&store, t, q(prefix("ad"), Some("displayName"), 5)).await, vec!["adam Smith"]);
    assert_eq!(all_pages(&store, t, q(prefix("zoe"), Some("displayName"), 5)).await, vec!["Zoe Renamed"]);
    store.commit(t, now(), vec![WriteOp::SoftDelete { kind: ObjectKind::User, id: adele, at: now(), doc: renamed.clone() }]).await.unwrap();
    assert!(all_pages(&store, t, q(prefix("zoe"), Some("displayName"), 5)).await.is_empty());
    let mut deleted = q(prefix("zoe"), Some("displayName"), 5);
    deleted.deleted = true;
    assert_eq!(all_pages(&store, t, deleted.clone()).await, vec!["Zoe Renamed"]);
    store.commit(t, now(), vec![WriteOp::Purge { kind: ObjectKind::User, id: adele }]).await.unwrap();
    assert!(all_pages(&store, t, deleted).await.is_empty());

    // Properties outside the index are refused, not scanned.
    let secret = Cond::Prop { property: "passwordProfile", test: Test::Present };
    assert!(matches!(store.query_objects(t, &q(secret, None, 1)).await, Err(StoreError::Invalid(_))));
}

fn audit(at_secs: i64, activity: &str, result: &str, target: ObjectId) -> WriteOp {
    WriteOp::Audit(AuditRecord {
        id: Uuid::new_v4(),
        activity_date_time: OffsetDateTime::from_unix_timestamp(at_secs).unwrap(),
        category: "UserManagement".into(),
        activity_display_name: activity.into(),
        operation_type: "Add".into(),
        result: result.into(),
        result_reason: String::new(),
        correlation_id: "r".into(),
        logged_by_service: "Core Directory".into(),
        initiated_by: json!({ "app": { "appId": "a" } }),
        target_resources: vec![json!({ "id": target.to_string() })],
    })
}

async fn audit_records_filter_page_and_expire(store: S) {
    let t = tenant(&store, "Audit").await;
    let other = tenant(&store, "Elsewhere").await;
    let (a, b) = (oid(), oid());
    let base = now().unix_timestamp();
    let ops = vec![
        audit(base - 30, "Add user", "success", a),
        audit(base - 20, "Update user", "failure", a),
        audit(base - 10, "Add user", "success", b),
    ];
    // Audit rows have no feed position: the commit answers the feed head as it was.
    let head = store.feed_head(Some(t)).await.unwrap();
    assert_eq!(store.commit(t, now(), ops).await.unwrap(), 0);
    assert_eq!(store.feed_head(Some(t)).await.unwrap(), head);
    store.commit(other, now(), vec![audit(base, "Add user", "success", a)]).await.unwrap();

    let q = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = AuditQuery { limit: 10, ..Default::default() };
        f(&mut q);
        q
    };
    let names = |r: Vec<AuditRecord>| r.into_iter().map(|r| r.activity_display_name).collect::<Vec<_>>();
    assert_eq!(
        names(store.audit_records(t, &q(&|_| {})).await.unwrap()),
        vec!["Add user", "Update user", "Add user"],
        "newest first, this tenant only"
    );
    assert_eq!(store.audit_records(t, &q(&|q| q.target_id = Some(a.as_uuid()))).await.unwrap().len(), 2);
    assert_eq!(store.audit_records(t, &q(&|q| q.result = Some("failure".into()))).await.unwrap().len(), 1);
    assert_eq!(store.audit_records(t, &q(&|q| q.activity = Some("Add user".into()))).await.unwrap().len(), 2);
    let since = OffsetDateTime::from_unix_timestamp(base - 25).unwrap();
    assert_eq!(store.audit_records(t, &q(&|q| q.since = Some(since))).await.unwrap().len(), 2);
    // Keyset paging, one at a time.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .audit_records(
                t,
                &q(&|q| {
                    q.limit = 1;
                    q.before = before;
                }),
            )
            .await
            .unwrap();
        let Some(r) = page.first() else { break };
        before = Some(((r.activity_date_time.unix_timestamp_nanos() / 1000) as i64, r.id));
        seen.push(r.id);
    }
    assert_eq!(seen.len(), 3);
    // Expiry.
    assert_eq!(store.purge_audit(OffsetDateTime::from_unix_timestamp(base - 15).unwrap()).await.unwrap(), 2);
    assert_eq!(store.audit_records(t, &q(&|_| {})).await.unwrap().len(), 1);
}

async fn sign_in_records_filter_page_and_expire(store: S) {
    use ward_core::sign_in_log::{SignInQuery, SignInRecord};
    let t = tenant(&store, "Sign-ins").await;
    let other = tenant(&store, "Elsewhere").await;
    let (alice, bob) = (oid(), oid());
    let app = uuid::Uuid::new_v4();
    let base = now().unix_timestamp();
    let record = |tenant: TenantId, secs: i64, user: ObjectId, code: i64, ca: &str| SignInRecord {
        tenant_id: tenant,
        id: uuid::Uuid::new_v4(),
        created: OffsetDateTime::from_unix_timestamp(base + secs).unwrap(),
        user_id: Some(user),
        app_id: Some(app),
        error_code: code,
        conditional_access_status: ca.into(),
        doc: serde_json::json!({ "n": secs }),
    };
    store
        .record_sign_ins(&[
            record(t, -30, alice, 0, "notApplied"),
            record(t, -20, alice, 53003, "failure"),
            record(t, -10, bob, 0, "success"),
            record(other, 0, alice, 0, "success"),
        ])
        .await
        .unwrap();
    let q = |f: &dyn Fn(&mut SignInQuery)| {
        let mut q = SignInQuery { limit: 10, ..Default::default() };
        f(&mut q);
        q
    };
    let ns = |v: Vec<serde_json::Value>| v.iter().map(|d| d["n"].as_i64().unwrap()).collect::<Vec<_>>();
    assert_eq!(ns(store.sign_ins(t, &q(&|_| {})).await.unwrap()), vec![-10, -20, -30], "newest first, this tenant only");
    assert_eq!(ns(store.sign_ins(t, &q(&|q| q.user_id = Some(alice))).await.unwrap()), vec![-20, -30]);
    assert_eq!(ns(store.sign_ins(t, &q(&|q| q.succeeded = Some(false))).await.unwrap()), vec![-20]);
    assert_eq!(ns(store.sign_ins(t, &q(&|q| q.succeeded = Some(true))).await.unwrap()), vec![-10, -30]);
    assert_eq!(ns(store.sign_ins(t, &q(&|q| q.error_code = Some(53003))).await.unwrap()), vec![-20]);
    assert_eq!(ns(store.sign_ins(t, &q(&|q| q.conditional_access_status = Some("success".into()))).await.unwrap()), vec![-10]);
    assert_eq!(ns(store.sign_ins(t, &q(&|q| q.app_id = Some(uuid::Uuid::new_v4()))).await.unwrap()), Vec::<i64>::new());
    let since = OffsetDateTime::from_unix_timestamp(base - 25).unwrap();
    assert_eq!(ns(store.sign_ins(t, &q(&|q| q.since = Some(since))).await.unwrap()), vec![-10, -20]);
    // Keyset paging: the position of the second record leaves the third.
    let first_two = store.sign_ins(t, &q(&|q| q.limit = 2)).await.unwrap();
    assert_eq!(ns(first_two), vec![-10, -20]);
    let page = store.sign_ins(t, &q(&|q| q.before = Some(((base - 20) * 1_000_000, uuid::Uuid::nil())))).await.unwrap();
    assert_eq!(ns(page), vec![-30]);
    assert_eq!(store.purge_sign_ins(OffsetDateTime::from_unix_timestamp(base - 15).unwrap()).await.unwrap(), 2);
    assert_eq!(ns(store.sign_ins(t, &q(&|_| {})).await.unwrap()), vec![-10]);
}

async fn auth_methods_and_one_time_steps(store: S) {
    let t = tenant(&store, "Methods").await;
    let other = tenant(&store, "Other methods").await;
    let (user, id) = (oid(), Uuid::new_v4());
    let m = StoredAuthMethod {
        id,
        tenant_id: t,
        user_id: user,
        kind: "totp".into(),
        doc: json!({ "displayName": "Phone" }),
        secret_sealed: Some("sealed".into()),
        last_step: Some(10),
        created_at: now(),
    };
    store.add_auth_method(&m).await.unwrap();
    assert_eq!(store.auth_methods(t, user).await.unwrap(), vec![m.clone()]);
    assert!(store.auth_methods(other, user).await.unwrap().is_empty());
    // Each step once, and never one at or before the last used.
    assert!(!store.use_otp_step(t, id, 10).await.unwrap());
    assert!(!store.use_otp_step(t, id, 9).await.unwrap());
    assert!(store.use_otp_step(t, id, 11).await.unwrap());
    assert!(!store.use_otp_step(t, id, 11).await.unwrap());
    assert!(!store.use_otp_step(other, id, 12).await.unwrap(), "another tenant cannot touch it");
    assert!(!store.remove_auth_method(t, oid(), id).await.unwrap(), "only its user's");
    assert!(store.remove_auth_method(t, user, id).await.unwrap());
    assert!(store.auth_methods(t, user).await.unwrap().is_empty());
}

async fn lockout_counters(store: S) {
    let t = tenant(&store, "Lockouts").await;
    let policy = LockoutPolicy {
        threshold: 3,
        first: time::Duration::seconds(60),
        max: time::Duration::seconds(200),
        forget: time::Duration::hours(1),
    };
    let at = |s: i64| now() + time::Duration::seconds(s);
    assert_eq!(store.record_lockout_failure(t, "user:a", at(0), &policy).await.unwrap(), None);
    assert_eq!(store.record_lockout_failure(t, "user:a", at(1), &policy).await.unwrap(), None);
    assert_eq!(store.record_lockout_failure(t, "user:a", at(2), &policy).await.unwrap(), Some(at(62)), "the third locks");
    assert_eq!(store.locked_until(t, "user:a", at(10)).await.unwrap(), Some(at(62)));
    assert_eq!(store.locked_until(t, "user:a", at(70)).await.unwrap(), None, "the lock passes");
    assert_eq!(store.record_lockout_failure(t, "user:a", at(70), &policy).await.unwrap(), Some(at(190)), "then doubles");
    assert_eq!(store.record_lockout_failure(t, "user:a", at(71), &policy).await.unwrap(), Some(at(271)), "up to the most");
    assert_eq!(store.locked_until(t, "user:b", at(10)).await.unwrap(), None);
    // All of a sign-in's counters in one read: those that exist, with their locks in force.
    store.record_lockout_failure(t, "source:x", at(71), &policy).await.unwrap();
    let (mut got, seen) = store.lockouts(t, &["user:a", "user:b", "source:x"], None, at(80)).await.unwrap();
    got.sort();
    assert_eq!(got, vec![("source:x".to_string(), None), ("user:a".to_string(), Some(at(271)))]);
    assert_eq!(seen, None);
    assert_eq!(store.lockouts(t, &["user:b"], None, at(80)).await.unwrap(), (vec![], None));
    assert!(store.lockouts(t, &[], None, at(80)).await.is_err());
    // Old failures are forgotten; a success clears.
    assert_eq!(store.record_lockout_failure(t, "user:a", at(71 + 3601), &policy).await.unwrap(), None);
    store.clear_lockout(t, "user:a").await.unwrap();
    assert_eq!(store.purge_lockouts(at(100_000)).await.unwrap(), 1, "source:x, idle");
    store.record_lockout_failure(t, "user:c", at(0), &policy).await.unwrap();
    assert_eq!(store.purge_lockouts(at(100_000)).await.unwrap(), 1);
}

async fn familiar_sources(store: S) {
    let t = tenant(&store, "Familiar").await;
    let (alice, bob) = (oid(), oid());
    let at = |d: i64| now() + time::Duration::days(d);
    let seen = |user, network: &'static str, since| {
        let store = store.clone();
        async move { store.lockouts(t, &["user:x"], Some((user, network, since)), since).await.unwrap().1 }
    };
    assert_eq!(seen(alice, "198.51.100.0/24", at(-90)).await, None);
    store.remember_source(t, alice, "198.51.100.0/24", at(0)).await.unwrap();
    store.remember_source(t, alice, "198.51.100.0/24", at(10)).await.unwrap();
    assert_eq!(seen(alice, "198.51.100.0/24", at(5)).await, Some(at(10)), "the later sighting counts");
    assert_eq!(seen(alice, "198.51.100.0/24", at(11)).await, None);
    assert_eq!(seen(bob, "198.51.100.0/24", at(0)).await, None, "per user");
    assert_eq!(seen(alice, "203.0.113.0/24", at(0)).await, None, "per network");
    assert_eq!(store.purge_sources(at(5)).await.unwrap(), 0);
    assert_eq!(store.purge_sources(at(11)).await.unwrap(), 1);
}

async fn sign_in_profiles(store: S) {
    let (t, u) = (tenant(&store, "Profiles").await, tenant(&store, "Profiles 2").await);
    let (alice, bob) = (oid(), oid());
    let at = |d: i64| now() + time::Duration::days(d);
    assert_eq!(store.sign_in_profile(t, alice).await.unwrap(), None);
    store.save_sign_in_profiles(&[]).await.unwrap();
    store
        .save_sign_in_profiles(&[(t, alice, r#"{"signIns":1}"#.into(), at(0)), (t, bob, r#"{"signIns":7}"#.into(), at(10))])
        .await
        .unwrap();
    store.save_sign_in_profiles(&[(t, alice, r#"{"signIns":2}"#.into(), at(1))]).await.unwrap();
    assert_eq!(store.sign_in_profile(t, alice).await.unwrap().as_deref(), Some(r#"{"signIns":2}"#), "the later save replaces");
    assert_eq!(store.sign_in_profile(u, alice).await.unwrap(), None, "per tenant");
    assert_eq!(store.purge_sign_in_profiles(at(5)).await.unwrap(), 1, "alice's, saved at day 1");
    assert_eq!(store.sign_in_profile(t, alice).await.unwrap(), None);
    assert_eq!(store.sign_in_profile(t, bob).await.unwrap().as_deref(), Some(r#"{"signIns":7}"#));
}

async fn concurrent_writers_get_distinct_increasing_positions(store: S) {
    let t = tenant(&store, "Concurrent").await;
    let mut handles = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut positions = Vec::new();
            for _ in 0..10 {
                positions.push(store.commit(t, now(), vec![insert(ObjectKind::Group, oid(), None)]).await.unwrap());
            }
            positions
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        let mine = h.await.unwrap();
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "each writer sees its own writes in order");
        all.extend(mine);
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 80);
    let feed = store.feed(Some(t), 0, 1000).await.unwrap();
    assert_eq!(feed.len(), 81);
    assert_eq!(store.count_objects(t, ObjectKind::Group, false).await.unwrap(), 80);
}

fn signing_key(kid: &str, alg: &str, at: OffsetDateTime) -> StoredSigningKey {
    StoredSigningKey {
        kid: kid.into(),
        alg: alg.into(),
        public_jwk: json!({ "kid": kid, "kty": "OKP" }),
        sealed_private: format!("v1.sealed-{kid}"),
        created_at: at,
        retire_at: None,
    }
}

async fn signing_keys_rotate_and_retire(store: S) {
    let t0 = now();
    assert!(store.add_first_signing_key(signing_key("a1", "EdDSA", t0)).await.unwrap());
    assert!(!store.add_first_signing_key(signing_key("a2", "EdDSA", t0)).await.unwrap(), "one first key per algorithm");
    assert!(store.add_first_signing_key(signing_key("r1", "RS256", t0)).await.unwrap());
    let day = time::Duration::days(1);
    store.rotate_signing_key(signing_key("a3", "EdDSA", t0 + day), t0 + day * 2, t0 + day).await.unwrap();
    let keys = store.signing_keys().await.unwrap();
    let kids: Vec<_> = keys.iter().map(|k| (k.kid.as_str(), k.retire_at)).collect();
    assert_eq!(kids, vec![("a1", Some(t0 + day * 2)), ("r1", None), ("a3", None)]);
    assert_eq!(keys[0].public_jwk["kid"], "a1");
    assert_eq!(keys[0].sealed_private, "v1.sealed-a1");
    // A later rotation deletes keys whose retirement has passed.
    store.rotate_signing_key(signing_key("a4", "EdDSA", t0 + day * 3), t0 + day * 4, t0 + day * 3).await.unwrap();
    let kids: Vec<_> = store.signing_keys().await.unwrap().into_iter().map(|k| k.kid).collect();
    assert_eq!(kids, vec!["r1", "a3", "a4"]);
    assert!(store.add_first_signing_key(signing_key("r1", "ES256", t0)).await.is_err(), "kids are unique");
}

async fn grants_and_single_use_handles(store: S) {
    let t = tenant(&store, "Grants").await;
    let user = oid();
    let session = StoredSession {
        id: Uuid::new_v4(),
        tenant_id: t,
        user_id: user,
        secret_hash: "session-hash".into(),
        auth_time: now(),
        amr: "pwd".into(),
        expires_at: now() + time::Duration::hours(8),
        ended_at: None,
        idle_until: Some(now() + time::Duration::hours(1)),
        persistent: true,
        sign_in_risk: "medium unfamiliarFeatures".into(),
        sign_in_request: "req-7".into(),
    };
    store.create_session(&session).await.unwrap();
    assert_eq!(store.session_by_secret_hash("session-hash").await.unwrap(), Some(session.clone()));
    assert_eq!(store.session_by_secret_hash("other").await.unwrap(), None);
    // The idle expiry slides forward, never back, never past the absolute expiry.
    let idle = |s: Option<StoredSession>| s.unwrap().idle_until.unwrap();
    store.touch_session(session.id, now() + time::Duration::hours(2)).await.unwrap();
    assert_eq!(idle(store.session_by_secret_hash("session-hash").await.unwrap()), now() + time::Duration::hours(2));
    store.touch_session(session.id, now() + time::Duration::minutes(30)).await.unwrap();
    assert_eq!(idle(store.session_by_secret_hash("session-hash").await.unwrap()), now() + time::Duration::hours(2));
    store.touch_session(session.id, now() + time::Duration::hours(20)).await.unwrap();
    assert_eq!(idle(store.session_by_secret_hash("session-hash").await.unwrap()), session.expires_at);
    store.touch_session(session.id, now() + time::Duration::hours(1)).await.unwrap();
    // By id, in its tenant only.
    assert_eq!(store.session_by_id(t, session.id).await.unwrap().map(|s| s.id), Some(session.id));
    assert_eq!(store.session_by_id(TenantId::from_uuid(Uuid::new_v4()), session.id).await.unwrap(), None);
    // A policy's persistent-browser control: persistence and the idle limit with it, never past
    // the absolute end.
    store.set_session_persistence(session.id, false, now() + time::Duration::minutes(45)).await.unwrap();
    let changed = store.session_by_id(t, session.id).await.unwrap().unwrap();
    assert_eq!((changed.persistent, changed.idle_until), (false, Some(now() + time::Duration::minutes(45))));
    store.set_session_persistence(session.id, true, now() + time::Duration::days(7)).await.unwrap();
    let changed = store.session_by_id(t, session.id).await.unwrap().unwrap();
    assert_eq!((changed.persistent, changed.idle_until), (true, Some(session.expires_at)));
    store.touch_session(session.id, now() + time::Duration::hours(1)).await.unwrap();
    let session = store.session_by_secret_hash("session-hash").await.unwrap().unwrap();

    let grant = |session_id| StoredGrant {
        id: Uuid::new_v4(),
        tenant_id: t,
        session_id,
        client_id: Uuid::new_v4(),
        user_id: user,
        created_at: now(),
        expires_at: now() + time::Duration::hours(1),
        revoked_at: None,
    };
    let handle = |hash: &str, kind: &str, g: &StoredGrant, hours| StoredHandle {
        hash: hash.into(),
        tenant_id: t,
        kind: kind.into(),
        grant_id: g.id,
        expires_at: now() + time::Duration::hours(hours),
        used_at: None,
        doc: json!({ "scope": "openid" }),
    };
    let g = grant(Some(session.id));
    store.create_grant(&g, &handle("code-1", "code", &g, 1)).await.unwrap();
    assert_eq!(store.grant(g.id).await.unwrap(), Some(g.clone()));

    // Redeeming stores the rotated handle and stretches the grant to cover it, in one go.
    let refresh = handle("refresh-1", "refresh", &g, 24 * 90);
    let Redeemed::Fresh(code) = store.redeem_handle("code-1", now(), Some(&refresh)).await.unwrap() else { panic!("fresh") };
    assert_eq!(code.doc, json!({ "scope": "openid" }));
    assert_eq!(store.handle("refresh-1").await.unwrap().unwrap().used_at, None);
    assert_eq!(store.grant(g.id).await.unwrap().unwrap().expires_at, refresh.expires_at);
    assert_eq!(store.redeem_handle("nope", now(), None).await.unwrap(), Redeemed::Unknown);

    // A second redemption is a replay: the grant is revoked, and nothing new is stored.
    let later = handle("refresh-x", "refresh", &g, 1);
    assert!(matches!(store.redeem_handle("code-1", now(), Some(&later)).await.unwrap(), Redeemed::Replayed(_)));
    assert_eq!(store.grant(g.id).await.unwrap().unwrap().revoked_at, Some(now()));
    assert_eq!(store.handle("refresh-x").await.unwrap(), None);

    // Ending a session revokes the grants that came from it, and only those.
    let g2 = grant(Some(session.id));
    let g3 = grant(None);
    store.create_grant(&g2, &handle("code-2", "code", &g2, 1)).await.unwrap();
    store.create_grant(&g3, &handle("code-3", "code", &g3, 1)).await.unwrap();
    store.end_session(session.id, now()).await.unwrap();
    assert_eq!(store.session_by_secret_hash("session-hash").await.unwrap().unwrap().ended_at, Some(now()));
    assert!(store.grant(g2.id).await.unwrap().unwrap().revoked_at.is_some());
    assert!(store.grant(g3.id).await.unwrap().unwrap().revoked_at.is_none());
    store.revoke_grant(g3.id, now()).await.unwrap();
    assert!(store.grant(g3.id).await.unwrap().unwrap().revoked_at.is_some());

    // Device codes: pending until decided once, redeemed once; a second redemption revokes.
    let device = StoredDeviceCode {
        device_hash: "device-1".into(),
        tenant_id: t,
        user_code: "BCDFGHJK".into(),
        client_id: Uuid::new_v4(),
        doc: json!({ "scopes": ["openid"] }),
        created_at: now(),
        expires_at: now() + time::Duration::minutes(15),
        last_poll_at: None,
        status: DeviceCodeStatus::Pending,
        user_id: None,
        auth_time: None,
        amr: None,
        grant_id: None,
    };
    store.create_device_code(&device).await.unwrap();
    let clash = StoredDeviceCode { device_hash: "device-2".into(), ..device.clone() };
    assert!(matches!(store.create_device_code(&clash).await, Err(StoreError::UniqueViolation(_))), "user codes are unique per tenant");
    assert_eq!(store.device_code_by_user_code(t, "BCDFGHJK").await.unwrap().unwrap(), device);
    assert_eq!(store.poll_device_code("device-1", now()).await.unwrap().unwrap().last_poll_at, None);
    assert_eq!(store.poll_device_code("device-1", now()).await.unwrap().unwrap().last_poll_at, Some(now()));
    let approval = DeviceApproval { user_id: user, auth_time: now(), amr: "pwd".into() };
    assert!(
        !store.decide_device_code(t, "BCDFGHJK", Some(approval.clone()), now() + time::Duration::minutes(16)).await.unwrap(),
        "expired"
    );
    assert!(store.decide_device_code(t, "BCDFGHJK", Some(approval.clone()), now()).await.unwrap());
    assert!(!store.decide_device_code(t, "BCDFGHJK", None, now()).await.unwrap(), "decided once");
    let approved = store.device_code_by_user_code(t, "BCDFGHJK").await.unwrap().unwrap();
    assert_eq!((approved.status, approved.user_id, approved.amr.as_deref()), (DeviceCodeStatus::Approved, Some(user), Some("pwd")));
    let dg = grant(None);
    assert!(store.redeem_device_code("device-1", &dg, Some(&handle("refresh-d", "refresh", &dg, 24))).await.unwrap());
    assert!(store.handle("refresh-d").await.unwrap().is_some());
    let again = grant(None);
    assert!(!store.redeem_device_code("device-1", &again, None).await.unwrap());
    assert!(store.grant(dg.id).await.unwrap().unwrap().revoked_at.is_some(), "a second redemption revokes the first grant");
    assert!(store.grant(again.id).await.unwrap().is_none());

    // A client assertion is accepted once.
    assert!(store.remember_assertion("jti-1", now() + time::Duration::minutes(10)).await.unwrap());
    assert!(!store.remember_assertion("jti-1", now() + time::Duration::minutes(10)).await.unwrap());

    // Purging takes what expired, with the handles of purged grants.
    let removed = store.purge_expired_auth(now() + time::Duration::hours(2)).await.unwrap();
    assert!(removed >= 5, "{removed}");
    assert!(store.remember_assertion("jti-1", now() + time::Duration::hours(3)).await.unwrap(), "purged after expiry");
    assert_eq!(store.grant(g2.id).await.unwrap(), None);
    assert_eq!(store.handle("code-2").await.unwrap(), None);
    assert!(store.grant(g.id).await.unwrap().is_some(), "stretched by its refresh token");
    assert!(store.handle("refresh-1").await.unwrap().is_some());
    assert!(store.session_by_secret_hash("session-hash").await.unwrap().is_some());
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let location = ward_store::StoreLocation::Sqlite(dir.path().join("ward.db"));
                    let store = ward_store::open(&location, super::now()).await.unwrap();
                    assert_eq!(store.backend(), "sqlite");
                    super::$case(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(pg) = ward_testkit::postgres_required() else { return };
                    let location = ward_store::StoreLocation::Postgres(pg.url().to_string());
                    let store = ward_store::open(&location, super::now()).await.unwrap();
                    assert_eq!(store.backend(), "postgres");
                    super::$case(store).await;
                }
            )*
        }
    };
}

conformance!(
    tenants_and_domains,
    objects_and_unique_keys,
    optimistic_updates,
    soft_delete_restore_purge,
    links_and_cycles,
    change_feed_is_atomic_and_ordered,
    credentials_are_never_in_the_feed,
    keyset_paging,
    property_index_queries,
    audit_records_filter_page_and_expire,
    sign_in_records_filter_page_and_expire,
    auth_methods_and_one_time_steps,
    lockout_counters,
    familiar_sources,
    sign_in_profiles,
    concurrent_writers_get_distinct_increasing_positions,
    signing_keys_rotate_and_retire,
    grants_and_single_use_handles,
);

/// Opening a store twice (two nodes, or a restart) applies migrations once and agrees on them.
#[tokio::test]
async fn reopening_is_idempotent_and_refuses_an_unknown_migration() {
    let dir = tempfile::tempdir().unwrap();
    let location = ward_store::StoreLocation::Sqlite(dir.path().join("ward.db"));
    let first = ward_store::open(&location, now()).await.unwrap();
    let t = tenant(&first, "Reopen").await;
    drop(first);
    let second = ward_store::open(&location, now()).await.unwrap();
    assert!(second.tenant(t).await.unwrap().is_some());
    drop(second);
    // Simulate a store migrated by a newer Ward.
    let db = rusqlite::Connection::open(dir.path().join("ward.db")).unwrap();
    db.execute("INSERT INTO ward_migrations (version, name, checksum, applied_at) VALUES (999, 'future', 'x', 0)", []).unwrap();
    drop(db);
    let err = ward_store::open(&location, now()).await.err().expect("a newer store is refused");
    assert!(err.to_string().contains("newer"), "{err}");
}

/// SQLite tells, without a query, whether anything committed since it last looked — writes by
/// another process included (here: a second store on the same file, as the CLI beside a server).
#[tokio::test]
async fn sqlite_change_token_moves_with_every_commit_from_any_connection() {
    let dir = tempfile::tempdir().unwrap();
    let location = ward_store::StoreLocation::Sqlite(dir.path().join("ward.db"));
    let server = ward_store::open(&location, now()).await.unwrap();
    let cli = ward_store::open(&location, now()).await.unwrap();
    let t = tenant(&server, "Tokens").await;
    let before = server.change_token().expect("a token once the WAL index exists");
    // Reads change nothing.
    server.feed_head(Some(t)).await.unwrap();
    cli.objects(t, ObjectKind::User, &ListQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(server.change_token(), Some(before));
    // A commit from the other store does.
    cli.commit(t, now(), vec![insert(ObjectKind::User, oid(), None)]).await.unwrap();
    let after = server.change_token().unwrap();
    assert_ne!(after, before);
    // And from this one, every time.
    server.commit(t, now(), vec![insert(ObjectKind::User, oid(), None)]).await.unwrap();
    let latest = server.change_token().unwrap();
    assert_ne!(latest, after);
    // Without the WAL index at its path (SQLite removes it when the last connection closes), the
    // answer is "don't know", never a stale token.
    let shm = dir.path().join("ward.db-shm");
    std::fs::rename(&shm, dir.path().join("moved")).unwrap();
    assert_eq!(server.change_token(), None);
    std::fs::rename(dir.path().join("moved"), &shm).unwrap();
    assert_eq!(server.change_token(), Some(latest));
}

/// A store written before the property index existed (migration 6) gets every existing object
/// indexed by the migration itself, in its transaction: upgrading loses no object from queries.
#[tokio::test]
async fn the_index_migration_indexes_objects_written_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let location = ward_store::StoreLocation::Sqlite(dir.path().join("ward.db"));
    let store = ward_store::open(&location, now()).await.unwrap();
    let t = tenant(&store, "Upgrade").await;
    let mut ops = Vec::new();
    for i in 0..1_200 {
        let id = oid();
        ops.push(WriteOp::Insert {
            kind: ObjectKind::User,
            id,
            unique_key: None,
            doc: user_doc(id, &format!("Old User {i:04}"), "x@y", true, &[]),
        });
    }
    store.commit(t, now(), ops).await.unwrap();
    drop(store);
    // Back to the state of a store from before migration 6.
    let db = rusqlite::Connection::open(dir.path().join("ward.db")).unwrap();
    db.execute_batch("DROP TABLE object_index; DELETE FROM ward_migrations WHERE version = 6;").unwrap();
    drop(db);

    let store = ward_store::open(&location, now()).await.unwrap();
    let q = ObjectQuery {
        kind: ObjectKind::User,
        deleted: false,
        cond: Cond::Prop { property: "displayName", test: Test::Prefix("old user".into()) },
        order_by: Some("displayName"),
        descending: false,
        after: None,
        limit: 10,
    };
    assert_eq!(store.count_matching(t, &q).await.unwrap(), 1_200, "every object written before the index is found");
    let page = store.query_objects(t, &q).await.unwrap();
    assert_eq!(page[0].0.doc["displayName"], "Old User 0000");
}
