//! Long-lived SCIM provisioning tokens of a tenant (issue 7, item 5): what an HR system or Entra's
//! provisioning client is given as its "Secret Token". Generated here and shown once; stored as
//! SHA-256 only; looked up by that hash; listed with their last use; revoked by deletion. Every
//! create and revoke is a directory write, so it is audited and in the change feed.

use crate::{Directory, Result, decode, encode, secrets};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use ward_core::store::WriteOp;
use ward_core::{DirectoryError, ObjectId, ObjectKind, TenantId};

/// At most this many live tokens per tenant.
pub const MAX_SCIM_TOKENS: i64 = 50;
/// Every token starts with this, so a leaked one is recognisable (secret scanners, logs).
pub const SCIM_TOKEN_PREFIX: &str = "ward_scim_";
/// A token's last use is written at most this often (a write per request would put every SCIM
/// call into the change feed).
const LAST_USE_RESOLUTION: time::Duration = time::Duration::minutes(5);

/// A token as listed: never its secret, never its hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimToken {
    pub id: ObjectId,
    pub display_name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_used_date_time: Option<OffsetDateTime>,
}

/// The stored document: the listing plus the hash.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredScimToken {
    #[serde(flatten)]
    token: ScimToken,
    secret_hash: String,
}

fn key_of(hash: &str) -> String {
    format!("scimtoken:{hash}")
}

impl Directory {
    /// Creates a token named `name`; returns it and its secret, which is not kept.
    pub async fn create_scim_token(&self, tenant: TenantId, name: &str) -> Result<(ScimToken, String)> {
        let name = ward_core::validate::required_text("displayName", name, 128)?;
        if self.store.count_objects(tenant, ObjectKind::ScimToken, false).await? >= MAX_SCIM_TOKENS {
            return Err(DirectoryError::invalid(
                "scimToken",
                format!("a tenant has at most {MAX_SCIM_TOKENS} SCIM tokens; revoke one first"),
            ));
        }
        let secret = format!("{SCIM_TOKEN_PREFIX}{}", secrets::generate_client_secret(&*self.rng));
        let hash = secrets::hash_client_secret(&secret);
        let token = ScimToken { id: self.new_id(), display_name: name, created_date_time: self.now(), last_used_date_time: None };
        let doc = encode(&StoredScimToken { token: token.clone(), secret_hash: hash.clone() })?;
        self.commit(tenant, vec![WriteOp::Insert { kind: ObjectKind::ScimToken, id: token.id, unique_key: Some(key_of(&hash)), doc }])
            .await?;
        Ok((token, secret))
    }

    pub async fn scim_tokens(&self, tenant: TenantId) -> Result<Vec<ScimToken>> {
        let stored: Vec<StoredScimToken> = self.all_of(tenant, ObjectKind::ScimToken).await?;
        Ok(stored.into_iter().map(|s| s.token).collect())
    }

    /// Revokes a token: the next request that presents it is refused.
    pub async fn revoke_scim_token(&self, tenant: TenantId, id: ObjectId) -> Result<()> {
        self.load::<serde_json::Value>(tenant, ObjectKind::ScimToken, id).await?;
        self.commit(tenant, vec![WriteOp::Purge { kind: ObjectKind::ScimToken, id }]).await?;
        Ok(())
    }

    /// The live token `presented` is, if any, with its last use brought up to date (to within
    /// five minutes). Anything that is not a token of this tenant is `None`.
    pub async fn authenticate_scim_token(&self, tenant: TenantId, presented: &str) -> Result<Option<ScimToken>> {
        if !presented.starts_with(SCIM_TOKEN_PREFIX) || presented.len() > 200 {
            return Ok(None);
        }
        let hash = secrets::hash_client_secret(presented);
        let Some(stored) = self.store.object_by_key(tenant, ObjectKind::ScimToken, &key_of(&hash)).await? else { return Ok(None) };
        if stored.deleted_at.is_some() {
            return Ok(None);
        }
        let mut doc: StoredScimToken = decode(&stored)?;
        // The lookup was by hash; compare again in constant time all the same.
        if !secrets::verify_client_secret(presented, &doc.secret_hash) {
            return Ok(None);
        }
        let now = self.now();
        if doc.token.last_used_date_time.is_none_or(|t| now - t >= LAST_USE_RESOLUTION) {
            doc.token.last_used_date_time = Some(now);
            let op = WriteOp::Update {
                kind: ObjectKind::ScimToken,
                id: stored.id,
                unique_key: Some(key_of(&doc.secret_hash)),
                doc: encode(&doc)?,
                expected_version: stored.version,
            };
            // A concurrent request recording the same use wins the race: that is the same fact.
            match self.commit(tenant, vec![op]).await {
                Ok(_) | Err(DirectoryError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(doc.token))
    }
}
