//! The client credentials grant against the real (SQLite) store, with a manual clock: expiry,
//! disabled clients, other tenants, and tokens that carry only what was granted.

use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use ward_auth::grants::client_credentials::{AuthMethod, ClientCredentials};
use ward_auth::{Kek, KeyRing, TokenService};
use ward_core::clock::{Clock, ManualClock};
use ward_core::ids::TenantId;
use ward_core::store::WriteOp;
use ward_core::tenant::Tenant;
use ward_directory::{Directory, InitRequest, SystemRng};

struct Fixture {
    dir: Arc<Directory>,
    tokens: TokenService,
    clock: Arc<ManualClock>,
    _tmp: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let store = ward_store::open(&ward_store::StoreLocation::Sqlite(tmp.path().join("ward.db")), start).await.unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let dir = Arc::new(Directory::new(store.clone(), clock.clone(), Arc::new(SystemRng)));
    let keys = Arc::new(KeyRing::open(store, Kek::from_base64(&Kek::generate_base64().unwrap()).unwrap(), clock.clone()).await.unwrap());
    let tokens = TokenService::new(dir.clone(), keys, "https://id.example.com/");
    Fixture { dir, tokens, clock, _tmp: tmp }
}

fn creds(id: Uuid, secret: &str) -> ClientCredentials {
    ClientCredentials::secret(id.to_string(), secret, AuthMethod::ClientSecretPost)
}

const SCOPE: Option<&str> = Some("https://graph.microsoft.com/.default");

fn claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn tokens_carry_only_what_was_granted() {
    let f = fixture().await;
    let tenant = f.dir.initialize(InitRequest::default()).await.unwrap().tenant;
    let (app, sp) = f.dir.create_application(tenant.id, "Partner").await.unwrap();
    let (_, secret) = f.dir.add_client_secret(tenant.id, app.id, None, Duration::days(30)).await.unwrap();
    let t = f.tokens.client_credentials(&tenant.id.to_string(), creds(app.app_id, &secret), SCOPE).await.unwrap();
    let c = claims(&t.access_token);
    assert!(c.get("roles").is_none(), "no consent, no roles: {c}");
    assert_eq!(c["iss"], format!("https://id.example.com/{}/v2.0", tenant.id));
    f.dir.grant_app_role(tenant.id, sp.id, "User.Read.All").await.unwrap();
    f.dir.grant_app_role(tenant.id, sp.id, "IdentityRiskyUser.ReadWrite.All").await.unwrap();
    assert!(f.dir.grant_app_role(tenant.id, sp.id, "User.Read.All").await.is_err(), "granted once");
    assert!(f.dir.grant_app_role(tenant.id, sp.id, "User.Read").await.is_err(), "delegated only");
    let t = f.tokens.client_credentials(&tenant.id.to_string(), creds(app.app_id, &secret), SCOPE).await.unwrap();
    assert_eq!(claims(&t.access_token)["roles"], serde_json::json!(["User.Read.All", "IdentityRiskyUser.ReadWrite.All"]));
}

#[tokio::test]
async fn expired_secrets_disabled_clients_and_other_tenants_are_refused() {
    let f = fixture().await;
    let tenant = f.dir.initialize(InitRequest::default()).await.unwrap().tenant;
    let (app, sp) = f.dir.create_application(tenant.id, "Short-lived").await.unwrap();
    let (_, secret) = f.dir.add_client_secret(tenant.id, app.id, None, Duration::days(1)).await.unwrap();
    let tid = tenant.id.to_string();
    f.tokens.client_credentials(&tid, creds(app.app_id, &secret), SCOPE).await.unwrap();

    // Disabled: unauthorized_client, whatever the secret.
    f.dir.set_service_principal_enabled(tenant.id, sp.id, false).await.unwrap();
    let e = f.tokens.client_credentials(&tid, creds(app.app_id, &secret), SCOPE).await.unwrap_err();
    assert_eq!((e.status, e.error), (400, "unauthorized_client"));
    assert!(e.description.starts_with("AADSTS7000112"));
    f.dir.set_service_principal_enabled(tenant.id, sp.id, true).await.unwrap();

    // Expired: invalid_client, and said so.
    f.clock.advance(Duration::days(1) + Duration::seconds(1));
    let e = f.tokens.client_credentials(&tid, creds(app.app_id, &secret), SCOPE).await.unwrap_err();
    assert_eq!((e.status, e.error), (401, "invalid_client"));
    assert!(e.description.starts_with("AADSTS7000222"), "{}", e.description);

    // A client of one tenant is unknown at another.
    let other = TenantId::from_uuid(Uuid::new_v4());
    f.dir
        .store()
        .commit(other, f.clock.now(), vec![WriteOp::CreateTenant(Tenant::new(other, "Other Org", f.clock.now()).unwrap())])
        .await
        .unwrap();
    let (_, fresh) = f.dir.add_client_secret(tenant.id, app.id, None, Duration::days(1)).await.unwrap();
    f.tokens.client_credentials(&tid, creds(app.app_id, &fresh), SCOPE).await.unwrap();
    let e = f.tokens.client_credentials(&other.to_string(), creds(app.app_id, &fresh), SCOPE).await.unwrap_err();
    assert_eq!((e.status, e.error), (401, "invalid_client"));
    assert!(e.description.starts_with("AADSTS700016"));
    // Over-long secret lifetimes are refused at creation.
    assert!(f.dir.add_client_secret(tenant.id, app.id, None, Duration::days(731)).await.is_err());
}
