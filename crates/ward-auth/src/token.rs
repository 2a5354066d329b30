//! Issuing access tokens: JWTs (RFC 9068, `typ: at+jwt`) with Entra's claims.

use crate::decision::Grant;
use crate::error::OAuthError;
use crate::grants::client_credentials::AuthMethod;
use crate::keyring::{KeyRing, TOKEN_MAX_LIFETIME};
use crate::keys::Alg;
use base64::Engine;
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use time::Duration;
use ward_core::app::ServicePrincipal;
use ward_core::tenant::Tenant;
use ward_directory::Directory;

/// Entra's default access-token lifetime is 60 to 90 minutes; Ward issues 60.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::hours(1);
const _: () = assert!(ACCESS_TOKEN_LIFETIME.whole_seconds() <= TOKEN_MAX_LIFETIME.whole_seconds());

/// The token endpoint's success body (RFC 6749 §5.1, with Entra's `ext_expires_in`).
#[derive(Clone, Debug, Serialize)]
pub struct AccessToken {
    pub token_type: &'static str,
    pub expires_in: i64,
    pub ext_expires_in: i64,
    pub access_token: String,
}

pub struct TokenService {
    pub(crate) directory: Arc<Directory>,
    keys: Arc<KeyRing>,
    public_url: String,
}

impl TokenService {
    pub fn new(directory: Arc<Directory>, keys: Arc<KeyRing>, public_url: &str) -> Self {
        TokenService { directory, keys, public_url: public_url.trim_end_matches('/').to_string() }
    }

    /// The issuer of a tenant's v2.0 tokens.
    pub fn issuer(&self, tenant: &Tenant) -> String {
        format!("{}/{}/v2.0", self.public_url, tenant.id)
    }

    pub(crate) async fn tenant(&self, key: &str) -> Result<Tenant, OAuthError> {
        self.directory.resolve_tenant(key).await.map_err(|e| match e.code() {
            ward_core::ErrorCode::NotFound => {
                OAuthError::invalid_request(90002, format!("Tenant '{}' not found.", ward_core::validate::clip(key)))
            }
            _ => {
                tracing::error!(error = %e, "tenant look-up failed");
                OAuthError::temporarily_unavailable()
            }
        })
    }

    pub(crate) async fn issue_app_token(
        &self,
        tenant: &Tenant,
        sp: &ServicePrincipal,
        audience: &str,
        grant: Grant,
        method: AuthMethod,
        alg: Alg,
    ) -> Result<AccessToken, OAuthError> {
        let now = self.directory.now();
        let exp = now + ACCESS_TOKEN_LIFETIME;
        let mut uti = [0u8; 16];
        aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), &mut uti)
            .map_err(|_| OAuthError::temporarily_unavailable())?;
        let uti = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uti);
        // `azpacr`/`appidacr`: "1" for a shared secret (a certificate or assertion will be "2").
        let client_acr = match method {
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => "1",
        };
        let mut claims = json!({
            "aud": audience,
            "iss": self.issuer(tenant),
            "iat": now.unix_timestamp(),
            "nbf": now.unix_timestamp(),
            "exp": exp.unix_timestamp(),
            "tid": tenant.id,
            "oid": sp.id,
            "sub": sp.id,
            "azp": sp.app_id,
            "appid": sp.app_id,
            "azpacr": client_acr,
            "appidacr": client_acr,
            "idtyp": "app",
            "ver": "2.0",
            "uti": uti,
            "jti": uuid::Uuid::new_v4(),
        });
        if !grant.roles.is_empty() {
            claims["roles"] = json!(grant.roles);
        }
        let key = self.keys.signer(alg).await.map_err(|e| {
            tracing::error!(error = %e, "no signing key");
            OAuthError::temporarily_unavailable()
        })?;
        let access_token = key.sign_jwt("at+jwt", &claims).map_err(|e| {
            tracing::error!(error = %e, "signing failed");
            OAuthError::temporarily_unavailable()
        })?;
        let lifetime = ACCESS_TOKEN_LIFETIME.whole_seconds();
        Ok(AccessToken { token_type: "Bearer", expires_in: lifetime, ext_expires_in: lifetime, access_token })
    }
}
