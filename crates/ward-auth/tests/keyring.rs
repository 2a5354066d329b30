//! The key ring over the real (SQLite) store, with a manual clock.

use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use ward_auth::keyring::{KeyRing, ROTATION_AGE, TOKEN_MAX_LIFETIME};
use ward_auth::{Alg, Kek};
use ward_core::clock::ManualClock;
use ward_core::store::Store;

fn kek(b64: &str) -> Kek {
    Kek::from_base64(b64).unwrap()
}

async fn store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    ward_store::open(&ward_store::StoreLocation::Sqlite(dir.path().join("ward.db")), OffsetDateTime::now_utc()).await.unwrap()
}

fn kids(jwks: &serde_json::Value) -> Vec<String> {
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn keys_are_created_sealed_published_and_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let secret = Kek::generate_base64().unwrap();
    let clock = Arc::new(ManualClock::new(OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()));
    let ring = KeyRing::open(store.clone(), kek(&secret), clock.clone()).await.unwrap();

    let jwks = ring.jwks().await.unwrap();
    let algs: Vec<_> = jwks["keys"].as_array().unwrap().iter().map(|k| k["alg"].as_str().unwrap().to_string()).collect();
    assert_eq!(algs.len(), 3);
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(algs.iter().any(|a| a == alg), "{alg} published");
    }
    assert!(!jwks.to_string().contains("\"d\""), "no private member is published");
    for k in store.signing_keys().await.unwrap() {
        assert!(k.sealed_private.starts_with("v1."), "sealed at rest");
    }

    // A second node (or a restart) with the same KEK reuses the keys.
    let again = KeyRing::open(store.clone(), kek(&secret), clock.clone()).await.unwrap();
    assert_eq!(kids(&again.jwks().await.unwrap()), kids(&jwks));
    // With another KEK it refuses to start, clearly.
    let wrong = KeyRing::open(store.clone(), kek(&Kek::generate_base64().unwrap()), clock.clone()).await.err().unwrap();
    assert!(wrong.to_string().contains("key-encryption key"), "{wrong}");

    // Rotation: the new key signs; the old stays published until its tokens have expired.
    let old = ring.signer(Alg::ES256).await.unwrap().kid.clone();
    let new = ring.rotate(Alg::ES256).await.unwrap();
    assert_ne!(old, new);
    assert_eq!(ring.signer(Alg::ES256).await.unwrap().kid, new);
    let published = kids(&ring.jwks().await.unwrap());
    assert!(published.contains(&old) && published.contains(&new));
    clock.advance(TOKEN_MAX_LIFETIME + Duration::seconds(1));
    let published = kids(&ring.jwks().await.unwrap());
    assert!(!published.contains(&old) && published.contains(&new), "retired after the longest token lifetime");
    // The other node sees the rotation once it refreshes.
    clock.advance(Duration::minutes(2));
    assert_eq!(again.signer(Alg::ES256).await.unwrap().kid, new);

    // Scheduled rotation touches only keys past their age.
    assert!(ring.rotate_due(ROTATION_AGE).await.unwrap().is_empty());
    clock.advance(ROTATION_AGE);
    assert_eq!(ring.rotate_due(ROTATION_AGE).await.unwrap().len(), 3);
    // Rotations delete keys whose retirement has passed: the first ES256 key is gone from the store.
    assert!(!store.signing_keys().await.unwrap().iter().any(|k| k.kid == old));
}
