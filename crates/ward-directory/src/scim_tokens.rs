//! Long-lived SCIM provisioning tokens of a tenant (issue 7, item 5): what an HR system or Entra's
//! provisioning client is given as its "Secret Token". Generated here and shown once; stored as
//! SHA-256 only, as a credential of the token (never in its document or the change feed); listed
//! with their last use; revoked by deletion. Every create and revoke is a directory write, so it
//! is audited and in the change feed.

use crate::{Directory, Result, decode, encode, secrets};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use ward_core::store::{StoredCredential, WriteOp};
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

/// The credential kind under which a token's hash is kept (the credentials table, which the
/// change feed mentions without the hash; the token's document holds no secret).
const CREDENTIAL: &str = "scimToken";

/// `ward_scim_<token id, 32 hex>.<secret>` → the id and the whole token.
fn token_id(presented: &str) -> Option<ObjectId> {
    let rest = presented.strip_prefix(SCIM_TOKEN_PREFIX)?;
    let (id, _) = rest.split_once('.')?;
    uuid::Uuid::try_parse(id).ok().filter(|u| u.simple().to_string() == id).map(ObjectId::from_uuid)
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
        let token = ScimToken { id: self.new_id(), display_name: name, created_date_time: self.now(), last_used_date_time: None };
        let secret = format!("{SCIM_TOKEN_PREFIX}{}.{}", token.id.as_uuid().simple(), secrets::generate_client_secret(&*self.rng));
        let credential = StoredCredential {
            object_id: token.id,
            kind: CREDENTIAL.into(),
            key_id: String::new(),
            secret_hash: secrets::hash_client_secret(&secret),
            expires_at: None,
        };
        self.commit(
            tenant,
            vec![
                WriteOp::Insert { kind: ObjectKind::ScimToken, id: token.id, unique_key: None, doc: encode(&token)? },
                WriteOp::SetCredential { object_kind: ObjectKind::ScimToken, credential },
            ],
        )
        .await?;
        Ok((token, secret))
    }

    pub async fn scim_tokens(&self, tenant: TenantId) -> Result<Vec<ScimToken>> {
        self.all_of(tenant, ObjectKind::ScimToken).await
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
        if presented.len() > 200 {
            return Ok(None);
        }
        let Some(id) = token_id(presented) else { return Ok(None) };
        let Some(credential) = self.store.credential(tenant, id, CREDENTIAL, "").await? else { return Ok(None) };
        if !secrets::verify_client_secret(presented, &credential.secret_hash) {
            return Ok(None);
        }
        let Some(stored) = self.store.object(tenant, ObjectKind::ScimToken, id).await?.filter(|o| o.deleted_at.is_none()) else {
            return Ok(None);
        };
        let mut token: ScimToken = decode(&stored)?;
        let now = self.now();
        if token.last_used_date_time.is_none_or(|t| now - t >= LAST_USE_RESOLUTION) {
            token.last_used_date_time = Some(now);
            let op = WriteOp::Update {
                kind: ObjectKind::ScimToken,
                id,
                unique_key: None,
                doc: encode(&token)?,
                expected_version: stored.version,
            };
            // A concurrent request recording the same use wins the race: that is the same fact.
            match self.commit(tenant, vec![op]).await {
                Ok(_) | Err(DirectoryError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(token))
    }
}
