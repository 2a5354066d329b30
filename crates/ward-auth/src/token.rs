//! Issuing access tokens: JWTs (RFC 9068, `typ: at+jwt`) with Entra's claims.

use crate::decision::Grant;
use crate::error::OAuthError;
use crate::grants::client_credentials::AuthMethod;
use crate::keyring::{KeyRing, TOKEN_MAX_LIFETIME};
use crate::keys::Alg;
use base64::Engine;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::Duration;
use uuid::Uuid;
use ward_core::app::ServicePrincipal;
use ward_core::permissions::AppRoleAssignment;
use ward_core::tenant::Tenant;
use ward_core::{ObjectId, TenantId};
use ward_directory::ClientRecord;
use ward_directory::Directory;

/// The claims of an app-only access token, serialized straight from borrowed fields.
#[derive(Serialize)]
struct AppClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    tid: TenantId,
    oid: ward_core::ObjectId,
    sub: ward_core::ObjectId,
    azp: Uuid,
    appid: Uuid,
    azpacr: &'a str,
    appidacr: &'a str,
    idtyp: &'a str,
    ver: &'a str,
    uti: &'a str,
    jti: Uuid,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    roles: &'a [String],
}

/// Entra's default access-token lifetime is 60 to 90 minutes; Ward issues 60.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::hours(1);
const _: () = assert!(ACCESS_TOKEN_LIFETIME.whole_seconds() <= TOKEN_MAX_LIFETIME.whole_seconds());

/// The token endpoint's success body (RFC 6749 §5.1, with Entra's `ext_expires_in`).
#[derive(Clone, Debug, Serialize)]
pub struct AccessToken {
    pub token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub expires_in: i64,
    pub ext_expires_in: i64,
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

pub struct TokenService {
    pub(crate) directory: Arc<Directory>,
    pub(crate) keys: Arc<KeyRing>,
    public_url: String,
    clients: Mutex<HashMap<(TenantId, Uuid), Arc<ClientFacts>>>,
    /// `{tenant}` as written in URLs (id or domain) → the tenant, as of a feed position.
    tenants: Mutex<HashMap<String, CachedTenant>>,
    pub(crate) lockout: Mutex<crate::signin::Lockout>,
    pub(crate) csrf: crate::crypto::MacKey,
    /// Wrong user codes entered per browser session on the device page (node-local).
    pub(crate) device_failures: Mutex<HashMap<Uuid, u32>>,
    /// FIDO metadata from the administrator's file, if any.
    pub(crate) fido_metadata: crate::passkeys::SharedMetadata,
    /// Directory reads every sign-in repeats, each as of the feed position it was read at: a
    /// request that has just read the same position may use it (every directory change moves
    /// the position, so nothing stale is served).
    pub(crate) at_head: Mutex<HeadCache>,
    /// Where every decided sign-in is recorded.
    pub(crate) sign_in_log: crate::sign_in_log::SignInLog,
    /// Identity Protection at sign-in.
    pub(crate) risk: crate::risk::RiskEngine,
}

/// See [`TokenService::at_head`].
#[derive(Default)]
pub(crate) struct HeadCache {
    /// Ward's own API as a resource, per tenant.
    pub(crate) graph: HashMap<TenantId, (i64, ward_core::permissions::Resource)>,
    /// Delegated grants of a client for a user on a set of resources.
    #[allow(clippy::type_complexity)]
    pub(crate) consents: HashMap<(TenantId, ObjectId, ObjectId, Vec<ObjectId>), (i64, Vec<ward_core::permissions::OAuth2PermissionGrant>)>,
    /// Users as read after the sign-in that checked their password, for the session check of the
    /// authorize request that follows it. Any change to a user (disabled, "sign out everywhere")
    /// moves the feed, so an entry is never used past one.
    pub(crate) users: HashMap<(TenantId, ObjectId), (i64, ward_core::user::User)>,
    /// Each tenant's conditional access policies and named locations, compiled.
    pub(crate) policies: HashMap<TenantId, (i64, Arc<ward_policy::PolicySet>)>,
}

impl HeadCache {
    /// Entries kept at most; past this the cache starts again empty.
    pub(crate) const MAX: usize = 10_000;
}

impl TokenService {
    /// Remembers `user` as read at feed position `head` of its tenant (read after the position
    /// was, so never older than it).
    pub fn remember_user(&self, tenant: TenantId, head: i64, user: &ward_core::user::User) {
        let mut cache = self.at_head.lock().unwrap_or_else(|e| e.into_inner());
        if cache.users.len() >= HeadCache::MAX {
            cache.users.clear();
        }
        cache.users.insert((tenant, user.id), (head, user.clone()));
    }

    /// A user remembered at exactly `head`, if any.
    pub(crate) fn user_at(&self, tenant: TenantId, id: ObjectId, head: i64) -> Option<ward_core::user::User> {
        let cache = self.at_head.lock().unwrap_or_else(|e| e.into_inner());
        cache.users.get(&(tenant, id)).filter(|(at, _)| *at == head).map(|(_, u)| u.clone())
    }
}

/// A tenant as this node last read it: at feed position `head`, when the store's change token
/// (if it has one) was `token`.
#[derive(Clone)]
struct CachedTenant {
    tenant: Arc<Tenant>,
    head: i64,
    token: Option<[u8; 48]>,
}

/// A tenant resolved for one request, with its feed head read once for every cache check.
pub(crate) struct ResolvedTenant {
    pub(crate) tenant: Arc<Tenant>,
    pub(crate) head: i64,
}

/// What the directory says about a client and its grants on Ward's API (the only resource so
/// far), as of a change-feed position of its tenant.
pub(crate) struct ClientFacts {
    position: i64,
    pub(crate) record: Option<ClientRecord>,
    pub(crate) granted: Vec<AppRoleAssignment>,
}

/// A bound on cached clients per node; past it the cache starts over.
const MAX_CACHED_CLIENTS: usize = 10_000;

impl TokenService {
    pub fn new(directory: Arc<Directory>, keys: Arc<KeyRing>, public_url: &str) -> Self {
        TokenService {
            sign_in_log: crate::sign_in_log::SignInLog::new(directory.store().clone()),
            risk: crate::risk::RiskEngine::new(
                directory.store().clone(),
                keys.mac_key("password fingerprint"),
                ward_risk::Settings::default(),
            ),
            directory,
            public_url: public_url.trim_end_matches('/').to_string(),
            clients: Mutex::new(HashMap::new()),
            tenants: Mutex::new(HashMap::new()),
            lockout: Mutex::new(Default::default()),
            csrf: keys.mac_key("csrf"),
            device_failures: Mutex::new(HashMap::new()),
            fido_metadata: None,
            at_head: Mutex::new(HeadCache::default()),
            keys,
        }
    }

    /// Uses these detector thresholds instead of the defaults (the server's configuration).
    pub fn with_risk_settings(mut self, settings: ward_risk::Settings) -> Self {
        let fingerprint = self.keys.mac_key("password fingerprint");
        self.risk = crate::risk::RiskEngine::new(self.directory.store().clone(), fingerprint, settings);
        self
    }

    /// Uses FIDO metadata (authenticator models, attestation roots) loaded from a file.
    pub fn with_fido_metadata(mut self, metadata: Option<Arc<crate::passkeys::Fido2Metadata>>) -> Self {
        self.fido_metadata = metadata;
        self
    }

    /// The externally visible base URL, without a trailing slash.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The issuer of a tenant's v2.0 tokens.
    pub fn issuer(&self, tenant: &Tenant) -> String {
        format!("{}/{}/v2.0", self.public_url, tenant.id)
    }

    /// Resolves `{tenant}` and its change-feed head. When the store can tell cheaply that nothing
    /// was committed since this node last read them (SQLite's WAL index, any process), no query at
    /// all; else one indexed query when nothing in the tenant changed, two when something did.
    pub(crate) async fn tenant(&self, key: &str) -> Result<ResolvedTenant, OAuthError> {
        let unavailable = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "tenant look-up failed");
            OAuthError::temporarily_unavailable()
        };
        // The token first: a commit after this point changes it, so what is cached below is
        // never trusted past a write.
        let token = self.directory.store().change_token();
        let cached = self.tenants.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned();
        if let Some(c) = cached {
            if token.is_some() && c.token == token {
                return Ok(ResolvedTenant { tenant: c.tenant, head: c.head });
            }
            let head = self.directory.store().feed_head(Some(c.tenant.id)).await.map_err(|e| unavailable(&e))?;
            if head == c.head {
                self.remember(key, CachedTenant { token, ..c.clone() });
                return Ok(ResolvedTenant { tenant: c.tenant, head });
            }
        }
        let found = self.directory.resolve_tenant(key).await.map_err(|e| match e.code() {
            ward_core::ErrorCode::NotFound => {
                OAuthError::invalid_request(90002, format!("Tenant '{}' not found.", ward_core::validate::clip(key)))
            }
            _ => unavailable(&e),
        })?;
        // The head first, then the tenant read again: what is cached is never older than its tag.
        let head = self.directory.store().feed_head(Some(found.id)).await.map_err(|e| unavailable(&e))?;
        let tenant = self.directory.store().tenant(found.id).await.map_err(|e| unavailable(&e))?.unwrap_or(found);
        let tenant = Arc::new(tenant);
        self.remember(key, CachedTenant { tenant: tenant.clone(), head, token });
        Ok(ResolvedTenant { tenant, head })
    }

    fn remember(&self, key: &str, entry: CachedTenant) {
        let mut cache = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED_CLIENTS && !cache.contains_key(key) {
            cache.clear();
        }
        cache.insert(key.to_string(), entry);
    }

    /// The client's record and grants, from this node's cache when nothing in the tenant changed
    /// since they were read (the head comes with the resolved tenant), else from the store.
    /// Any write in the tenant — a secret removed, a grant revoked, a client disabled — makes the
    /// next request read again, so the cache never outlives a change.
    pub(crate) async fn client_facts(&self, resolved: &ResolvedTenant, client_id: Uuid) -> Result<Arc<ClientFacts>, OAuthError> {
        let unavailable = |e: ward_core::DirectoryError| {
            tracing::error!(error = %e, "reading the client failed");
            OAuthError::temporarily_unavailable()
        };
        let (tenant, head) = (&resolved.tenant, resolved.head);
        let key = (tenant.id, client_id);
        if let Some(facts) = self.clients.lock().unwrap_or_else(|e| e.into_inner()).get(&key)
            && facts.position == head
        {
            return Ok(facts.clone());
        }
        let record = self.directory.client_record(tenant.id, client_id).await.map_err(unavailable)?;
        let granted = match record.as_ref().and_then(|r| r.service_principal.as_ref()) {
            Some(sp) => {
                let graph = Uuid::parse_str(ward_core::permissions::GRAPH_APP_ID).map_err(|_| OAuthError::temporarily_unavailable())?;
                self.directory.app_roles_of(tenant.id, sp.id, graph).await.map_err(unavailable)?
            }
            None => Vec::new(),
        };
        // Tagged with the head read *before* the facts: a write racing this read moves the head,
        // so the next request reads again.
        let facts = Arc::new(ClientFacts { position: head, record, granted });
        let mut cache = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED_CLIENTS {
            cache.clear();
        }
        cache.insert(key, facts.clone());
        Ok(facts)
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
        // One draw for both identifiers: `uti` (base64url) and `jti` (a v4 UUID).
        let mut random = [0u8; 32];
        aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), &mut random)
            .map_err(|_| OAuthError::temporarily_unavailable())?;
        let uti = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&random[..16]);
        let jti = uuid::Builder::from_random_bytes(random[16..].try_into().unwrap_or_default()).into_uuid();
        // `azpacr`/`appidacr`: "1" for a shared secret (a certificate or assertion will be "2").
        let client_acr = match method {
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => "1",
            AuthMethod::None => "0",
            AuthMethod::PrivateKeyJwt => "2",
        };
        let issuer = self.issuer(tenant);
        let claims = AppClaims {
            aud: audience,
            iss: &issuer,
            iat: now.unix_timestamp(),
            nbf: now.unix_timestamp(),
            exp: exp.unix_timestamp(),
            tid: tenant.id,
            oid: sp.id,
            sub: sp.id,
            azp: sp.app_id,
            appid: sp.app_id,
            azpacr: client_acr,
            appidacr: client_acr,
            idtyp: "app",
            ver: "2.0",
            uti: &uti,
            jti,
            roles: &grant.roles,
        };
        let key = self.keys.signer(alg).await.map_err(|e| {
            tracing::error!(error = %e, "no signing key");
            OAuthError::temporarily_unavailable()
        })?;
        let access_token = key.sign_jwt("at+jwt", &claims).map_err(|e| {
            tracing::error!(error = %e, "signing failed");
            OAuthError::temporarily_unavailable()
        })?;
        let lifetime = ACCESS_TOKEN_LIFETIME.whole_seconds();
        Ok(AccessToken {
            token_type: "Bearer",
            scope: None,
            expires_in: lifetime,
            ext_expires_in: lifetime,
            access_token,
            refresh_token: None,
            id_token: None,
        })
    }
}
