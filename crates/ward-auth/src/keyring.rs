//! The key ring: the store's signing keys, opened with the KEK and kept in memory on each node.
//!
//! Every algorithm has one current key (the newest that is not retiring). Rotation makes a new
//! current key; the one it supersedes stays published in JWKS until every token it signed has
//! expired (`TOKEN_MAX_LIFETIME`), then is deleted. Nodes re-read the (tiny) key table at most
//! every `REFRESH` so a rotation on one node reaches the others' JWKS and signers.

use crate::kek::Kek;
use crate::keys::{Alg, KeyError, SigningKey};
use serde_json::{Value, json};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use tokio::sync::RwLock;
use ward_core::clock::Clock;
use ward_core::store::{Store, StoreError, StoredSigningKey};

/// No token Ward signs lives longer than this (access and ID tokens are shorter still).
pub const TOKEN_MAX_LIFETIME: Duration = Duration::hours(24);
/// Scheduled rotation age of a current key.
pub const ROTATION_AGE: Duration = Duration::days(30);
const REFRESH: Duration = Duration::seconds(60);

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("no current {0} signing key")]
    NoKey(&'static str),
}

struct Entry {
    stored: StoredSigningKey,
    key: Arc<SigningKey>,
}

struct Loaded {
    entries: Vec<Entry>,
    at: OffsetDateTime,
}

pub struct KeyRing {
    store: Arc<dyn Store>,
    kek: Kek,
    clock: Arc<dyn Clock>,
    loaded: RwLock<Loaded>,
}

impl KeyRing {
    /// Opens the ring, creating a first key for any algorithm that has none. Fails (clearly) when
    /// the KEK does not open the stored keys.
    pub async fn open(store: Arc<dyn Store>, kek: Kek, clock: Arc<dyn Clock>) -> Result<KeyRing, KeyRingError> {
        let now = clock.now();
        let existing = store.signing_keys().await?;
        for alg in Alg::ALL {
            if !existing.iter().any(|k| k.alg == alg.as_str() && k.retire_at.is_none()) {
                let key = SigningKey::generate(alg)?;
                store.add_first_signing_key(stored(&key, &kek, now)?).await?;
            }
        }
        let ring = KeyRing { store, kek, clock, loaded: RwLock::new(Loaded { entries: Vec::new(), at: OffsetDateTime::UNIX_EPOCH }) };
        ring.reload().await?;
        Ok(ring)
    }

    async fn reload(&self) -> Result<(), KeyRingError> {
        let rows = self.store.signing_keys().await?;
        let mut loaded = self.loaded.write().await;
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            // Keys already open stay as they are: opening RSA keys is not free.
            if let Some(e) = loaded.entries.iter().find(|e| e.stored.kid == row.kid) {
                entries.push(Entry { stored: row, key: e.key.clone() });
                continue;
            }
            let alg = Alg::parse(&row.alg).ok_or_else(|| KeyError::Corrupt(row.kid.clone(), "known"))?;
            let key = Arc::new(SigningKey::open(&row.kid, alg, &row.sealed_private, &self.kek)?);
            entries.push(Entry { stored: row, key });
        }
        *loaded = Loaded { entries, at: self.clock.now() };
        Ok(())
    }

    async fn fresh(&self) -> Result<tokio::sync::RwLockReadGuard<'_, Loaded>, KeyRingError> {
        if self.clock.now() - self.loaded.read().await.at > REFRESH {
            self.reload().await?;
        }
        Ok(self.loaded.read().await)
    }

    /// The current key for `alg`.
    pub async fn signer(&self, alg: Alg) -> Result<Arc<SigningKey>, KeyRingError> {
        let loaded = self.fresh().await?;
        loaded
            .entries
            .iter()
            .rev()
            .find(|e| e.stored.alg == alg.as_str() && e.stored.retire_at.is_none())
            .map(|e| e.key.clone())
            .ok_or(KeyRingError::NoKey(alg.as_str()))
    }

    /// The JWK Set: every key that is current or still retiring.
    pub async fn jwks(&self) -> Result<Value, KeyRingError> {
        let now = self.clock.now();
        let loaded = self.fresh().await?;
        let keys: Vec<&Value> =
            loaded.entries.iter().filter(|e| e.stored.retire_at.is_none_or(|r| r > now)).map(|e| &e.stored.public_jwk).collect();
        Ok(json!({ "keys": keys }))
    }

    /// Verifies a JWT that Ward signed: the `kid` must name a published key, the header's `alg`
    /// must be that key's (so `none` or a swapped algorithm never verifies), and the signature must
    /// hold. Returns the header and claims; the caller checks issuer, audience and times.
    pub async fn verify_jwt(&self, token: &str) -> Option<(Value, Value)> {
        let parsed = crate::keys::parse_jwt(token)?;
        let kid = parsed.header.get("kid")?.as_str()?;
        let alg = parsed.header.get("alg")?.as_str()?;
        let now = self.clock.now();
        let find = |loaded: &Loaded| {
            loaded.entries.iter().find(|e| e.stored.kid == kid && e.stored.retire_at.is_none_or(|r| r > now)).map(|e| e.key.clone())
        };
        let (found, loaded_at) = {
            let loaded = self.fresh().await.ok()?;
            (find(&loaded), loaded.at)
        };
        let key = match found {
            Some(k) => k,
            // Perhaps a key another node created since this one last looked: look again, at most
            // every few seconds, so unknown kids cannot make every request read the store.
            None if now - loaded_at > Duration::seconds(5) => {
                self.reload().await.ok()?;
                find(&*self.loaded.read().await)?
            }
            None => return None,
        };
        if key.alg.as_str() != alg || !key.verify(parsed.signing_input.as_bytes(), &parsed.signature) {
            return None;
        }
        Some((parsed.header, parsed.claims))
    }

    /// A MAC key for `label`, derived from the key-encryption key (the same on every node).
    pub fn mac_key(&self, label: &str) -> crate::crypto::MacKey {
        self.kek.derive_mac_key(label)
    }

    /// Seals `plaintext` under the key-encryption key, bound to `associated` (AES-256-GCM).
    pub fn seal_secret(&self, associated: &str, plaintext: &[u8]) -> Option<String> {
        self.kek.seal(associated, plaintext).ok()
    }

    /// Opens what [`KeyRing::seal_secret`] sealed with the same `associated`; `None` if altered or not ours.
    pub fn open_secret(&self, associated: &str, sealed: &str) -> Option<Vec<u8>> {
        self.kek.open(associated, sealed).ok()
    }

    /// Every stored key with its state, for `ward keys list`.
    pub async fn describe(&self) -> Result<Vec<StoredSigningKey>, KeyRingError> {
        self.reload().await?;
        Ok(self
            .loaded
            .read()
            .await
            .entries
            .iter()
            .map(|e| StoredSigningKey { sealed_private: String::new(), ..e.stored.clone() })
            .collect())
    }

    /// Makes a new current key for `alg`; the old one retires once its tokens have expired.
    pub async fn rotate(&self, alg: Alg) -> Result<String, KeyRingError> {
        let now = self.clock.now();
        let key = SigningKey::generate(alg)?;
        let kid = key.kid.clone();
        self.store.rotate_signing_key(stored(&key, &self.kek, now)?, now + TOKEN_MAX_LIFETIME, now).await?;
        self.reload().await?;
        tracing::info!(alg = alg.as_str(), kid, "rotated signing key");
        Ok(kid)
    }

    /// Rotates every algorithm whose current key is older than `max_age`.
    pub async fn rotate_due(&self, max_age: Duration) -> Result<Vec<String>, KeyRingError> {
        let now = self.clock.now();
        let due: Vec<Alg> = {
            let loaded = self.fresh().await?;
            Alg::ALL
                .into_iter()
                .filter(|alg| {
                    loaded
                        .entries
                        .iter()
                        .rev()
                        .find(|e| e.stored.alg == alg.as_str() && e.stored.retire_at.is_none())
                        .is_none_or(|e| now - e.stored.created_at >= max_age)
                })
                .collect()
        };
        let mut rotated = Vec::new();
        for alg in due {
            rotated.push(self.rotate(alg).await?);
        }
        Ok(rotated)
    }
}

fn stored(key: &SigningKey, kek: &Kek, now: OffsetDateTime) -> Result<StoredSigningKey, KeyError> {
    Ok(StoredSigningKey {
        kid: key.kid.clone(),
        alg: key.alg.as_str().to_string(),
        public_jwk: key.public_jwk(),
        sealed_private: key.seal(kek)?,
        created_at: now,
        retire_at: None,
    })
}
