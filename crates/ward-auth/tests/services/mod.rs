//! What the service-level tests share: Ward's directory and token service over a fresh SQLite
//! store, with a manual clock and an initialized tenant.

use std::sync::Arc;
use time::OffsetDateTime;
use ward_auth::{Kek, KeyRing, TokenService};
use ward_core::clock::ManualClock;
use ward_core::tenant::Tenant;
use ward_directory::{Directory, InitRequest, SystemRng};

pub struct Services {
    pub dir: Arc<Directory>,
    pub tokens: TokenService,
    pub clock: Arc<ManualClock>,
    pub tenant: Tenant,
    /// The key-encryption key (base64), for another node over the same store (not every test
    /// file starts one).
    #[allow(dead_code)]
    pub kek: String,
    pub tmp: tempfile::TempDir,
}

pub async fn start() -> Services {
    let tmp = tempfile::tempdir().unwrap();
    let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let store = ward_store::open(&ward_store::StoreLocation::Sqlite(tmp.path().join("ward.db")), start).await.unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let dir = Arc::new(Directory::new(store.clone(), clock.clone(), Arc::new(SystemRng)));
    let kek = Kek::generate_base64().unwrap();
    let keys = Arc::new(KeyRing::open(store, Kek::from_base64(&kek).unwrap(), clock.clone()).await.unwrap());
    let tokens = TokenService::new(dir.clone(), keys, "https://id.example.com");
    let tenant = dir.initialize(InitRequest::default()).await.unwrap().tenant;
    Services { dir, tokens, clock, tenant, kek, tmp }
}
