//! The directory service against the real (SQLite) store, with a manual clock.

use serde_json::json;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use ward_core::clock::{Clock, ManualClock};
use ward_core::group::{NewGroup, UNIFIED};
use ward_core::ids::{ObjectId, ObjectKind, TenantId};
use ward_core::roles::GLOBAL_ADMINISTRATOR;
use ward_core::store::{Link, Relation, Store, WriteOp};
use ward_core::user::{NewUser, UserPatch};
use ward_core::{DirectoryError, ErrorCode};
use ward_directory::{Directory, InitRequest, NewUserRequest, SystemRng};

struct Fixture {
    dir: Directory,
    clock: Arc<ManualClock>,
    tenant: TenantId,
    store: Arc<dyn Store>,
    _tmp: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let store = ward_store::open(&ward_store::StoreLocation::Sqlite(tmp.path().join("ward.db")), start).await.unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let dir = Directory::new(store.clone(), clock.clone(), Arc::new(SystemRng));
    let tenant = dir.initialize(InitRequest { tenant_name: "Contoso".into() }).await.unwrap().tenant.id;
    Fixture { dir, clock, tenant, store, _tmp: tmp }
}

fn user(upn: &str) -> NewUserRequest {
    NewUserRequest {
        user: NewUser { user_principal_name: upn.into(), display_name: upn.into(), ..Default::default() },
        ..Default::default()
    }
}

fn security_group(name: &str) -> NewGroup {
    NewGroup { display_name: name.into(), mail_nickname: name.into(), security_enabled: true, ..Default::default() }
}

#[tokio::test]
async fn initialize_creates_an_admin_and_an_automation_app_once() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ward_store::open(&ward_store::StoreLocation::Sqlite(tmp.path().join("ward.db")), OffsetDateTime::now_utc()).await.unwrap();
    let dir = Directory::system(store.clone());
    let out = dir.initialize(InitRequest::default()).await.unwrap();
    let t = out.tenant.id;
    assert_eq!(out.admin_upn, "admin@defaultdirectory.ward.local");
    let admin = dir.user(t, &out.admin_upn.to_uppercase()).await.unwrap();
    assert!(dir.verify_password(t, admin.id, &out.admin_password).await.unwrap());
    assert!(!dir.verify_password(t, admin.id, "wrong-Password-1").await.unwrap());
    assert_eq!(dir.roles_of(t, admin.id).await.unwrap(), vec![GLOBAL_ADMINISTRATOR.to_string()]);
    assert_eq!(dir.roles_of(t, out.service_principal_id).await.unwrap(), vec![GLOBAL_ADMINISTRATOR.to_string()]);
    assert!(dir.verify_client_secret(t, out.client_id, &out.client_secret).await.unwrap());
    assert!(!dir.verify_client_secret(t, out.client_id, "not-the-secret").await.unwrap());
    assert!(!dir.verify_client_secret(t, uuid::Uuid::new_v4(), &out.client_secret).await.unwrap());
    let app = dir.application_by_app_id(t, out.client_id).await.unwrap();
    assert_eq!(app.password_credentials.len(), 1);
    assert_eq!(app.password_credentials[0].hint, out.client_secret[..3]);
    // Neither secret is stored or fed in clear.
    let feed = store.feed(None, 0, 1000).await.unwrap();
    let text = serde_json::to_string(&feed.iter().map(|r| &r.payload).collect::<Vec<_>>()).unwrap();
    assert!(!text.contains(&out.admin_password) && !text.contains(&out.client_secret));
    // A second init changes nothing.
    let head = store.feed_head(None).await.unwrap();
    let again = dir.initialize(InitRequest { tenant_name: "Other".into() }).await.unwrap_err();
    assert_eq!(again.code(), ErrorCode::AlreadyInitialized);
    assert_eq!(store.feed_head(None).await.unwrap(), head);
    assert_eq!(dir.tenants().await.unwrap().len(), 1);
}

#[tokio::test]
async fn users_are_unique_by_upn_without_regard_to_case() {
    let f = fixture().await;
    let adele = f.dir.create_user(f.tenant, user("Adele@contoso.ward.local")).await.unwrap();
    let dup = f.dir.create_user(f.tenant, user("ADELE@CONTOSO.WARD.LOCAL")).await.unwrap_err();
    assert_eq!(dup.code(), ErrorCode::DuplicateUserPrincipalName);
    assert_eq!(f.dir.user(f.tenant, "adele@Contoso.ward.local").await.unwrap().id, adele.id);
    assert_eq!(f.dir.user(f.tenant, &adele.id.to_string()).await.unwrap().user_principal_name.as_str(), "Adele@contoso.ward.local");
    let unverified = f.dir.create_user(f.tenant, user("x@fabrikam.example")).await.unwrap_err();
    assert_eq!(unverified.code(), ErrorCode::UnverifiedDomain);
    f.dir.add_domain(f.tenant, "contoso.example").await.unwrap();
    f.dir.create_user(f.tenant, user("x@contoso.example")).await.unwrap();
    // Renaming onto a taken UPN is refused too.
    let bob = f.dir.create_user(f.tenant, user("bob@contoso.ward.local")).await.unwrap();
    let rename = UserPatch { user_principal_name: Some("ADELE@contoso.ward.local".into()), ..Default::default() };
    assert_eq!(f.dir.update_user(f.tenant, &bob.id.to_string(), rename).await.unwrap_err().code(), ErrorCode::DuplicateUserPrincipalName);
    let unknown = f.dir.user(f.tenant, &ObjectId::from_uuid(uuid::Uuid::new_v4()).to_string()).await.unwrap_err();
    assert_eq!(unknown.code(), ErrorCode::NotFound);
    assert_eq!(f.dir.user(f.tenant, "not a upn or id").await.unwrap_err().code(), ErrorCode::NotFound);
}

#[tokio::test]
async fn weak_initial_passwords_are_refused_before_anything_is_written() {
    let f = fixture().await;
    let head = f.store.feed_head(Some(f.tenant)).await.unwrap();
    let req = NewUserRequest { password: Some("password".into()), ..user("weak@contoso.ward.local") };
    assert_eq!(f.dir.create_user(f.tenant, req).await.unwrap_err().code(), ErrorCode::InvalidValue);
    assert_eq!(f.store.feed_head(Some(f.tenant)).await.unwrap(), head);
    assert!(f.dir.user(f.tenant, "weak@contoso.ward.local").await.is_err());
}

#[tokio::test]
async fn disable_revokes_sessions_and_update_validates() {
    let f = fixture().await;
    let u = f.dir.create_user(f.tenant, user("carol@contoso.ward.local")).await.unwrap();
    f.clock.advance(Duration::minutes(5));
    let disabled = f.dir.disable_user(f.tenant, "carol@contoso.ward.local").await.unwrap();
    assert!(!disabled.account_enabled);
    assert_eq!(disabled.sign_in_sessions_valid_from_date_time, f.clock.now());
    assert!(disabled.sign_in_sessions_valid_from_date_time > u.created_date_time);
    let patch: UserPatch = serde_json::from_value(json!({ "jobTitle": "Engineer", "usageLocation": "gb" })).unwrap();
    let updated = f.dir.update_user(f.tenant, &u.id.to_string(), patch).await.unwrap();
    assert_eq!((updated.job_title.as_deref(), updated.usage_location.as_deref()), (Some("Engineer"), Some("GB")));
    let oversized: UserPatch = serde_json::from_value(json!({ "displayName": "x".repeat(300) })).unwrap();
    assert_eq!(f.dir.update_user(f.tenant, &u.id.to_string(), oversized).await.unwrap_err().code(), ErrorCode::InvalidValue);
    let boss = f.dir.create_user(f.tenant, user("boss@contoso.ward.local")).await.unwrap();
    let managed = f.dir.set_manager(f.tenant, &u.id.to_string(), Some("boss@contoso.ward.local")).await.unwrap();
    assert_eq!(managed.manager_id, Some(boss.id));
    assert!(f.dir.set_manager(f.tenant, &u.id.to_string(), Some(&u.id.to_string())).await.is_err());
}

#[tokio::test]
async fn soft_delete_restore_within_thirty_days_then_purge() {
    let f = fixture().await;
    let u = f.dir.create_user(f.tenant, user("dave@contoso.ward.local")).await.unwrap();
    let g = f.dir.create_group(f.tenant, security_group("Staff")).await.unwrap();
    f.dir.add_member(f.tenant, g.id, u.id).await.unwrap();
    f.dir.delete_user(f.tenant, &u.id.to_string()).await.unwrap();
    assert_eq!(f.dir.user(f.tenant, &u.id.to_string()).await.unwrap_err().code(), ErrorCode::NotFound);
    let deleted = f.dir.deleted_users(f.tenant, None, 10).await.unwrap();
    assert_eq!(deleted.iter().map(|u| u.id).collect::<Vec<_>>(), vec![u.id]);
    assert!(deleted[0].deleted_date_time.is_some());
    assert!(f.dir.members(f.tenant, g.id).await.unwrap().is_empty(), "deleted users are not listed as members");
    f.clock.advance(Duration::days(29));
    let back = f.dir.restore_user(f.tenant, u.id).await.unwrap();
    assert_eq!(back.deleted_date_time, None);
    assert_eq!(f.dir.members(f.tenant, g.id).await.unwrap().len(), 1, "memberships come back with the user");
    assert_eq!(f.dir.restore_user(f.tenant, u.id).await.unwrap_err().code(), ErrorCode::NotDeleted);
    // Deleted again, and left past the window.
    f.dir.delete_group(f.tenant, g.id).await.unwrap();
    f.dir.delete_user(f.tenant, &u.id.to_string()).await.unwrap();
    f.clock.advance(Duration::days(31));
    assert_eq!(f.dir.restore_user(f.tenant, u.id).await.unwrap_err().code(), ErrorCode::RestoreWindowExpired);
    assert_eq!(f.dir.purge_expired().await.unwrap(), 2);
    assert!(f.store.object(f.tenant, ObjectKind::User, u.id).await.unwrap().is_none());
    assert!(f.store.object(f.tenant, ObjectKind::Group, g.id).await.unwrap().is_none());
    assert_eq!(f.dir.purge_expired().await.unwrap(), 0);
}

#[tokio::test]
async fn permanent_delete_only_from_deleted_items() {
    let f = fixture().await;
    let u = f.dir.create_user(f.tenant, user("pam@contoso.ward.local")).await.unwrap();
    f.dir.assign_role(f.tenant, "Global Reader", u.id).await.unwrap();
    assert_eq!(f.dir.purge_deleted(f.tenant, u.id).await.unwrap_err().code(), ErrorCode::NotDeleted);
    f.dir.delete_user(f.tenant, "pam@contoso.ward.local").await.unwrap();
    f.dir.purge_deleted(f.tenant, u.id).await.unwrap();
    assert!(f.store.object(f.tenant, ObjectKind::User, u.id).await.unwrap().is_none());
    assert!(f.dir.roles_of(f.tenant, u.id).await.unwrap().is_empty(), "its role assignments went with it");
    assert_eq!(f.dir.restore_user(f.tenant, u.id).await.unwrap_err().code(), ErrorCode::NotFound);
}

#[tokio::test]
async fn a_restored_upn_that_was_reused_conflicts() {
    let f = fixture().await;
    let u = f.dir.create_user(f.tenant, user("erin@contoso.ward.local")).await.unwrap();
    f.dir.delete_user(f.tenant, "erin@contoso.ward.local").await.unwrap();
    f.dir.create_user(f.tenant, user("Erin@contoso.ward.local")).await.unwrap();
    assert_eq!(f.dir.restore_user(f.tenant, u.id).await.unwrap_err().code(), ErrorCode::DuplicateUserPrincipalName);
}

#[tokio::test]
async fn nested_membership_and_cycles() {
    let f = fixture().await;
    let t = f.tenant;
    let u = f.dir.create_user(t, user("frank@contoso.ward.local")).await.unwrap();
    let a = f.dir.create_group(t, security_group("A")).await.unwrap();
    let b = f.dir.create_group(t, security_group("B")).await.unwrap();
    let c = f.dir.create_group(t, security_group("C")).await.unwrap();
    let m365 =
        f.dir.create_group(t, NewGroup { mail_enabled: true, group_types: vec![UNIFIED.into()], ..security_group("Team") }).await.unwrap();
    let m365_no_sec = f
        .dir
        .create_group(
            t,
            NewGroup { mail_enabled: true, security_enabled: false, group_types: vec![UNIFIED.into()], ..security_group("Chat") },
        )
        .await
        .unwrap();
    f.dir.add_member(t, a.id, u.id).await.unwrap();
    f.dir.add_member(t, b.id, a.id).await.unwrap();
    f.dir.add_member(t, c.id, b.id).await.unwrap();
    f.dir.add_member(t, m365.id, u.id).await.unwrap();
    f.dir.add_member(t, m365_no_sec.id, u.id).await.unwrap();

    let all = f.dir.get_member_groups(t, u.id, false).await.unwrap();
    assert_eq!(all.len(), 5);
    let security = f.dir.get_member_groups(t, u.id, true).await.unwrap();
    assert!(!security.contains(&m365_no_sec.id) && security.contains(&c.id) && security.len() == 4);
    let checked = f.dir.check_member_groups(t, u.id, &[c.id, m365_no_sec.id, ObjectId::from_uuid(uuid::Uuid::new_v4())]).await.unwrap();
    assert_eq!(checked, vec![c.id, m365_no_sec.id], "in the order asked");
    // Nearest first: one member per level here, so the order is fixed.
    let members: Vec<_> = f.dir.transitive_members(t, c.id).await.unwrap().iter().map(|o| o.id).collect();
    assert_eq!(members, vec![b.id, a.id, u.id]);
    let direct: Vec<_> = f.dir.member_of(t, u.id).await.unwrap().iter().map(|o| o.id).collect();
    assert_eq!(direct.len(), 3);
    assert_eq!(f.dir.transitive_member_of(t, a.id).await.unwrap().len(), 2);

    match f.dir.add_member(t, a.id, c.id).await.unwrap_err() {
        DirectoryError::MembershipCycle { group, member } => assert_eq!((group, member), (a.id.to_string(), c.id.to_string())),
        other => panic!("expected a cycle error, got {other:?}"),
    }
    assert_eq!(f.dir.add_member(t, a.id, a.id).await.unwrap_err().code(), ErrorCode::MembershipCycle);
    assert_eq!(f.dir.add_member(t, a.id, u.id).await.unwrap_err().code(), ErrorCode::AlreadyMember);
    assert_eq!(f.dir.add_member(t, m365.id, a.id).await.unwrap_err().code(), ErrorCode::InvalidValue, "M365 groups do not nest");
    let ghost = ObjectId::from_uuid(uuid::Uuid::new_v4());
    assert_eq!(f.dir.add_member(t, a.id, ghost).await.unwrap_err().code(), ErrorCode::NotFound);
    assert_eq!(f.dir.remove_member(t, a.id, ghost).await.unwrap_err().code(), ErrorCode::NotMember);

    // A deleted group drops out of everyone's transitive groups, and comes back on restore.
    f.dir.delete_group(t, b.id).await.unwrap();
    let mut remaining = f.dir.get_member_groups(t, u.id, true).await.unwrap();
    remaining.sort();
    let mut expected = vec![a.id, m365.id];
    expected.sort();
    assert_eq!(remaining, expected);
    f.dir.restore_group(t, b.id).await.unwrap();
    assert_eq!(f.dir.get_member_groups(t, u.id, true).await.unwrap().len(), 4);
    f.dir.remove_member(t, b.id, a.id).await.unwrap();
    assert_eq!(f.dir.get_member_groups(t, u.id, true).await.unwrap().len(), 2);
}

#[tokio::test]
async fn owners_and_roles() {
    let f = fixture().await;
    let t = f.tenant;
    let u = f.dir.create_user(t, user("gina@contoso.ward.local")).await.unwrap();
    let g = f.dir.create_group(t, security_group("Owned")).await.unwrap();
    let other = f.dir.create_group(t, security_group("Other")).await.unwrap();
    f.dir.add_owner(t, g.id, u.id).await.unwrap();
    assert_eq!(f.dir.owners(t, g.id).await.unwrap()[0].id, u.id);
    assert_eq!(f.dir.add_owner(t, g.id, other.id).await.unwrap_err().code(), ErrorCode::InvalidValue);
    assert!(f.dir.members(t, g.id).await.unwrap().is_empty());
    let ra = f.dir.assign_role(t, "User Administrator", u.id).await.unwrap();
    assert_eq!(ra.role_definition_id, "fe930be7-5e62-47db-91af-98c3a49a38b1");
    assert_eq!(f.dir.assign_role(t, "user administrator", u.id).await.unwrap_err().code(), ErrorCode::AlreadyMember);
    assert_eq!(f.dir.assign_role(t, "Billing Administrator", u.id).await.unwrap_err().code(), ErrorCode::InvalidValue);
    assert_eq!(f.dir.assign_role(t, "Global Reader", g.id).await.unwrap_err().code(), ErrorCode::InvalidValue);
    f.dir.remove_role_assignment(t, ra.id).await.unwrap();
    assert!(f.dir.roles_of(t, u.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_cap_of_11000_groups_is_an_error() {
    let f = fixture().await;
    let t = f.tenant;
    let u = f.dir.create_user(t, user("hank@contoso.ward.local")).await.unwrap();
    let mut ops = Vec::new();
    for i in 0..11_001 {
        let id = ObjectId::from_uuid(uuid::Uuid::new_v4());
        let doc = json!({ "id": id, "securityEnabled": i % 2 == 0 });
        ops.push(WriteOp::Insert { kind: ObjectKind::Group, id, unique_key: None, doc });
        ops.push(WriteOp::AddLink { relation: Relation::Member, link: Link { group: id, member: u.id, member_kind: ObjectKind::User } });
    }
    f.store.commit(t, f.clock.now(), ops).await.unwrap();
    let err = f.dir.get_member_groups(t, u.id, false).await.unwrap_err();
    assert_eq!(err.code().graph_code(), "Directory_ResultSizeLimitExceeded");
    assert_eq!(f.dir.get_member_groups(t, u.id, true).await.unwrap().len(), 5_501);
}

#[tokio::test]
async fn two_nodes_see_each_others_writes_at_once() {
    let f = fixture().await;
    let t = f.tenant;
    let other_node = Directory::new(f.store.clone(), f.clock.clone(), Arc::new(SystemRng));
    let u = f.dir.create_user(t, user("ivy@contoso.ward.local")).await.unwrap();
    let g = f.dir.create_group(t, security_group("Ops")).await.unwrap();
    assert!(other_node.get_member_groups(t, u.id, false).await.unwrap().is_empty(), "warms the other node's cache");
    f.dir.add_member(t, g.id, u.id).await.unwrap();
    assert_eq!(other_node.get_member_groups(t, u.id, false).await.unwrap(), vec![g.id]);
    other_node.remove_member(t, g.id, u.id).await.unwrap();
    assert!(f.dir.get_member_groups(t, u.id, false).await.unwrap().is_empty());
}

#[tokio::test]
async fn every_write_lands_in_the_change_feed() {
    let f = fixture().await;
    let t = f.tenant;
    let before = f.store.feed_head(Some(t)).await.unwrap();
    let u = f.dir.create_user(t, user("jill@contoso.ward.local")).await.unwrap();
    let g = f.dir.create_group(t, security_group("Feed")).await.unwrap();
    f.dir.add_member(t, g.id, u.id).await.unwrap();
    f.dir.update_user(t, "jill@contoso.ward.local", UserPatch { job_title: Some(Some("CFO".into())), ..Default::default() }).await.unwrap();
    f.dir.delete_user(t, "jill@contoso.ward.local").await.unwrap();
    let rows = f.store.feed(Some(t), before, 100).await.unwrap();
    let seen: Vec<_> = rows.iter().map(|r| (r.subject_kind.clone(), r.change.as_str())).collect();
    assert_eq!(
        seen,
        vec![
            ("user".to_string(), "created"),
            ("group".to_string(), "created"),
            ("group".to_string(), "linkAdded"),
            ("user".to_string(), "updated"),
            ("user".to_string(), "deleted"),
        ]
    );
    assert_eq!(rows[3].payload["doc"]["jobTitle"], json!("CFO"));
}

/// A password hashed with older (weaker) Argon2 parameters is hashed again with the current ones
/// the next time it is used successfully, and keeps working.
#[tokio::test]
async fn passwords_are_rehashed_with_current_parameters_at_sign_in() {
    use argon2::password_hash::PasswordHasher;
    let f = fixture().await;
    let u = f.dir.create_user(f.tenant, user("rehash@contoso.ward.local")).await.unwrap();
    // Planted as an older Ward would have stored it: Argon2id with m=4096, t=1.
    let weak = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, argon2::Params::new(4096, 1, 1, None).unwrap())
        .hash_password_with_salt(b"Correct-Horse-Battery-9", b"0123456789abcdef")
        .unwrap()
        .to_string();
    assert!(!ward_directory::secrets::is_current_hash(&weak));
    let credential = ward_core::store::StoredCredential {
        object_id: u.id,
        kind: "password".into(),
        key_id: String::new(),
        secret_hash: weak,
        expires_at: None,
    };
    f.store.commit(f.tenant, f.clock.now(), vec![WriteOp::SetCredential { object_kind: ObjectKind::User, credential }]).await.unwrap();

    assert!(!f.dir.verify_password(f.tenant, u.id, "wrong").await.unwrap());
    let still_old = f.store.credential(f.tenant, u.id, "password", "").await.unwrap().unwrap();
    assert!(!ward_directory::secrets::is_current_hash(&still_old.secret_hash), "a failed check changes nothing");
    assert!(f.dir.verify_password(f.tenant, u.id, "Correct-Horse-Battery-9").await.unwrap());
    let now = f.store.credential(f.tenant, u.id, "password", "").await.unwrap().unwrap();
    assert!(ward_directory::secrets::is_current_hash(&now.secret_hash), "{}", now.secret_hash);
    assert!(f.dir.verify_password(f.tenant, u.id, "Correct-Horse-Battery-9").await.unwrap());
}

/// SCIM's directory operations stay inside their tenant: a token of one tenant is nobody in
/// another, another tenant's user is no manager and no member here, and a revoked token or a
/// tampered one is refused. The token's hash is never in the change feed.
#[tokio::test]
async fn provisioning_stays_inside_its_tenant() {
    let f = fixture().await;
    let other = TenantId::from_uuid(uuid::Uuid::new_v4());
    let now = f.clock.now();
    f.store.commit(other, now, vec![WriteOp::CreateTenant(ward_core::tenant::Tenant::new(other, "Fabrikam", now).unwrap())]).await.unwrap();
    let (token, secret) = f.dir.create_scim_token(f.tenant, "HR").await.unwrap();
    assert_eq!(f.dir.authenticate_scim_token(f.tenant, &secret).await.unwrap().map(|t| t.id), Some(token.id));
    assert!(f.dir.authenticate_scim_token(other, &secret).await.unwrap().is_none(), "another tenant's token");
    let mut tampered = secret.clone();
    tampered.pop();
    tampered.push(if secret.ends_with('A') { 'B' } else { 'A' });
    assert!(f.dir.authenticate_scim_token(f.tenant, &tampered).await.unwrap().is_none());
    let feed = f.store.feed(None, 0, 10_000).await.unwrap();
    let hash = ward_directory::secrets::hash_client_secret(&secret);
    assert!(!serde_json::to_string(&feed.iter().map(|e| e.payload.clone()).collect::<Vec<_>>()).unwrap().contains(&hash[7..]));

    let theirs = f.dir.create_user(other, user("eve@fabrikam.ward.local")).await.unwrap();
    let (mine, v) = f.dir.create_user_versioned(f.tenant, user("ann@contoso.ward.local"), None).await.unwrap();
    let err = f.dir.update_user_at(f.tenant, mine.id, v, UserPatch::default(), Some(Some(theirs.id)), None).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidValue, "{err}");
    let err = f.dir.create_user_versioned(f.tenant, user("bob@contoso.ward.local"), Some(theirs.id)).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidValue, "{err}");
    let (g, gv) = f.dir.create_group_versioned(f.tenant, security_group("Sales"), &[]).await.unwrap();
    let err = f
        .dir
        .update_group_at(f.tenant, g.id, gv, Default::default(), &[ward_directory::MemberDelta::Add(vec![theirs.id])])
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert!(f.dir.member_ids(f.tenant, g.id).await.unwrap().is_empty());

    f.dir.revoke_scim_token(f.tenant, token.id).await.unwrap();
    assert!(f.dir.authenticate_scim_token(f.tenant, &secret).await.unwrap().is_none(), "revoked");
}
