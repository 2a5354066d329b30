//! What a client can ask about, or do to, the tokens Ward gave it: introspection (RFC 7662),
//! revocation (RFC 7009), and the UserInfo endpoint (OpenID Connect Core §5.3). A token is live
//! only while its signature, times and issuer hold, its grant is not revoked, and its user may
//! still sign in.

use crate::crypto::handle_hash;
use crate::error::OAuthError;
use crate::grants::client_credentials::ClientCredentials;
use crate::grants::user::pairwise_subject;
use crate::token::TokenService;
use serde_json::{Value, json};
use uuid::Uuid;
use ward_core::permissions::GRAPH_RESOURCE_URI;
use ward_core::tenant::Tenant;
use ward_core::user::User;

/// A verified access token of Ward's and who it is for.
pub struct LiveToken {
    pub claims: Value,
    pub user: Option<User>,
}

impl TokenService {
    /// Verifies an access token Ward issued in `tenant` (for `audience`, when given) and checks it
    /// is still live.
    pub async fn live_access_token(&self, tenant: &Tenant, token: &str, audience: Option<&str>) -> Result<Option<LiveToken>, OAuthError> {
        let Some((header, claims)) = self.keys.verify_jwt(token).await else { return Ok(None) };
        let now = self.directory.now().unix_timestamp();
        let num = |k: &str| claims.get(k).and_then(Value::as_i64);
        if header.get("typ").and_then(Value::as_str) != Some("at+jwt")
            || claims.get("iss").and_then(Value::as_str) != Some(self.issuer(tenant).as_str())
            || audience.is_some_and(|a| claims.get("aud").and_then(Value::as_str) != Some(a))
            || num("exp").is_none_or(|exp| exp <= now)
            || num("nbf").is_some_and(|nbf| nbf > now + 300)
        {
            return Ok(None);
        }
        let unavailable = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "checking a token failed");
            OAuthError::temporarily_unavailable()
        };
        if claims.get("idtyp").and_then(Value::as_str) != Some("user") {
            // App-only: live while its service principal is enabled.
            let Some(app_id) = claims.get("appid").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()) else { return Ok(None) };
            return match self.directory.service_principal_by_app_id(tenant.id, app_id).await {
                Ok(sp) if sp.account_enabled => Ok(Some(LiveToken { claims, user: None })),
                Ok(_) => Ok(None),
                Err(e) if e.code() == ward_core::ErrorCode::NotFound => Ok(None),
                Err(e) => Err(unavailable(&e)),
            };
        }
        let Some(grant_id) = claims.get("sid").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()) else { return Ok(None) };
        let grant = match self.directory.store().grant(grant_id).await.map_err(|e| unavailable(&e))? {
            Some(g) if g.revoked_at.is_none() && g.tenant_id == tenant.id => g,
            _ => return Ok(None),
        };
        let Some(oid) = claims.get("oid").and_then(Value::as_str) else { return Ok(None) };
        let user = match self.directory.user(tenant.id, oid).await {
            Ok(u) => u,
            Err(e) if e.code() == ward_core::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(unavailable(&e)),
        };
        // Sessions revoked after the grant began void it, to the microsecond: `iat` says only the
        // second, and a compromise confirmed later in that second must still end the token.
        let iat = num("iat").unwrap_or(0);
        let valid_from = user.sign_in_sessions_valid_from_date_time;
        let micros = |t: time::OffsetDateTime| t.unix_timestamp_nanos() / 1_000;
        if !user.account_enabled || iat < valid_from.unix_timestamp() || micros(grant.created_at) < micros(valid_from) {
            return Ok(None);
        }
        // The client it was issued to must still be enabled and present.
        let Some(client) = claims.get("azp").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()) else { return Ok(None) };
        match self.directory.service_principal_by_app_id(tenant.id, client).await {
            Ok(sp) if sp.account_enabled => {}
            Ok(_) => return Ok(None),
            Err(e) if e.code() == ward_core::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(unavailable(&e)),
        }
        Ok(Some(LiveToken { claims, user: Some(user) }))
    }

    /// RFC 7662. Only the client a token was issued to learns anything about it; to everyone else
    /// every token is `{"active": false}`.
    pub async fn introspect(&self, tenant_key: &str, client: ClientCredentials, token: Option<&str>) -> Result<Value, OAuthError> {
        let resolved = self.tenant(tenant_key).await?;
        let (client_id, _) = self.authenticate_client(&resolved, &client, true).await?;
        let token =
            token.ok_or_else(|| OAuthError::invalid_request(900144, "The request body must contain the following parameter: 'token'."))?;
        let inactive = json!({ "active": false });
        if token.contains('.') {
            let Some(live) = self.live_access_token(&resolved.tenant, token, None).await? else { return Ok(inactive) };
            let c = &live.claims;
            if c.get("azp").and_then(Value::as_str) != Some(client_id.to_string().as_str()) {
                return Ok(inactive);
            }
            let mut out = json!({
                "active": true,
                "token_type": "Bearer",
                "client_id": client_id,
                "iss": c["iss"], "aud": c["aud"], "sub": c["sub"], "exp": c["exp"], "iat": c["iat"], "nbf": c["nbf"], "jti": c["jti"],
            });
            if let Some(scp) = c.get("scp") {
                out["scope"] = scp.clone();
            }
            if let Some(user) = &live.user {
                out["username"] = json!(user.user_principal_name.as_str());
            }
            if let Some(roles) = c.get("roles") {
                out["roles"] = roles.clone();
            }
            return Ok(out);
        }
        if token.len() > 128 {
            return Ok(inactive);
        }
        let Some(handle) = self.directory.store().handle(&handle_hash(token)).await.map_err(|_| OAuthError::temporarily_unavailable())?
        else {
            return Ok(inactive);
        };
        let now = self.directory.now();
        let owner = handle.doc.get("client_id").and_then(Value::as_str) == Some(client_id.to_string().as_str());
        if handle.kind != "refresh"
            || handle.tenant_id != resolved.tenant.id
            || !owner
            || handle.used_at.is_some()
            || handle.expires_at <= now
        {
            return Ok(inactive);
        }
        let Ok(grant) = self.live_grant(handle.grant_id).await else { return Ok(inactive) };
        // Its user must still be able to use it: enabled, and not signed out everywhere (or
        // confirmed compromised) since the grant began, to the microsecond.
        let user = match self.directory.user(resolved.tenant.id, &grant.user_id.to_string()).await {
            Ok(u) => u,
            Err(e) if e.code() == ward_core::ErrorCode::NotFound => return Ok(inactive),
            Err(_) => return Err(OAuthError::temporarily_unavailable()),
        };
        let micros = |t: time::OffsetDateTime| t.unix_timestamp_nanos() / 1_000;
        if !user.account_enabled || micros(grant.created_at) < micros(user.sign_in_sessions_valid_from_date_time) {
            return Ok(inactive);
        }
        Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": client_id,
            "scope": handle.doc.get("scopes").and_then(Value::as_array).map(|s| s.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")),
            "sub": pairwise_subject(&resolved.tenant.id, &grant.user_id, &client_id),
            "exp": handle.expires_at.unix_timestamp(),
            "iss": self.issuer(&resolved.tenant),
        }))
    }

    /// RFC 7009: revokes the grant behind a refresh token or access token of the calling client.
    /// Unknown, foreign or already revoked tokens are answered the same way (success).
    pub async fn revoke(&self, tenant_key: &str, client: ClientCredentials, token: Option<&str>) -> Result<(), OAuthError> {
        let resolved = self.tenant(tenant_key).await?;
        // Public clients identify themselves by client_id alone; confidential ones must authenticate.
        let facts = {
            let (_, facts) = self.authenticate_client(&resolved, &client, false).await?;
            facts
        };
        let record = facts.record.as_ref().ok_or_else(OAuthError::temporarily_unavailable)?;
        if client.client_secret.is_none()
            && client.assertion.is_none()
            && (!record.secrets.is_empty() || !record.app.key_credentials.is_empty())
        {
            return Err(OAuthError::invalid_client(7000218, "This client must authenticate to revoke tokens."));
        }
        let client_id = record.app.app_id;
        let token =
            token.ok_or_else(|| OAuthError::invalid_request(900144, "The request body must contain the following parameter: 'token'."))?;
        let grant_id = if token.contains('.') {
            match self.keys.verify_jwt(token).await {
                Some((_, c))
                    if c.get("azp").and_then(Value::as_str) == Some(client_id.to_string().as_str())
                        && c.get("tid").and_then(Value::as_str) == Some(resolved.tenant.id.to_string().as_str()) =>
                {
                    c.get("sid").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())
                }
                _ => None,
            }
        } else if token.len() <= 128 {
            match self.directory.store().handle(&handle_hash(token)).await.map_err(|_| OAuthError::temporarily_unavailable())? {
                Some(h)
                    if h.tenant_id == resolved.tenant.id
                        && h.doc.get("client_id").and_then(Value::as_str) == Some(client_id.to_string().as_str()) =>
                {
                    Some(h.grant_id)
                }
                _ => None,
            }
        } else {
            None
        };
        if let Some(id) = grant_id {
            self.directory.store().revoke_grant(id, self.directory.now()).await.map_err(|e| {
                tracing::error!(error = %e, "revoking a grant failed");
                OAuthError::temporarily_unavailable()
            })?;
            tracing::info!(tenant = %resolved.tenant.id, grant = %id, "grant revoked by its client");
        }
        Ok(())
    }

    /// A live access token for Ward's own API, in the tenant its `tid` names.
    async fn live_graph_token(&self, token: &str) -> Result<Option<(crate::token::ResolvedTenant, LiveToken)>, OAuthError> {
        let Some(parsed) = crate::keys::parse_jwt(token) else { return Ok(None) };
        let Some(tid) = parsed.claims.get("tid").and_then(Value::as_str).map(str::to_string) else { return Ok(None) };
        let resolved = match self.tenant(&tid).await {
            Ok(r) => r,
            Err(e) if e.status == 503 => return Err(e),
            Err(_) => return Ok(None),
        };
        Ok(self.live_access_token(&resolved.tenant, token, Some(GRAPH_RESOURCE_URI)).await?.map(|live| (resolved, live)))
    }

    /// OpenID Connect Core §5.3: claims about the user a live access token (with `openid`) is for.
    /// `None` means the token is not acceptable (the caller answers 401 `invalid_token`).
    pub async fn userinfo(&self, token: &str) -> Result<Option<Value>, OAuthError> {
        let Some((_, live)) = self.live_graph_token(token).await? else { return Ok(None) };
        let (Some(user), Some(scp)) = (&live.user, live.claims.get("scp").and_then(Value::as_str)) else { return Ok(None) };
        let scopes: Vec<&str> = scp.split_whitespace().collect();
        if !scopes.contains(&"openid") {
            return Ok(None);
        }
        let mut out = json!({ "sub": live.claims["sub"] });
        if scopes.contains(&"profile") {
            out["name"] = json!(user.display_name);
            out["preferred_username"] = json!(user.user_principal_name.as_str());
            if let Some(g) = &user.given_name {
                out["given_name"] = json!(g);
            }
            if let Some(f) = &user.surname {
                out["family_name"] = json!(f);
            }
        }
        if scopes.contains(&"email")
            && let Some(mail) = &user.mail
        {
            out["email"] = json!(mail);
        }
        Ok(Some(out))
    }
}

/// What an `id_token_hint` at sign-out says, once verified: which client, which browser session.
pub struct IdTokenHint {
    pub app: ward_core::app::Application,
    pub session_id: Option<Uuid>,
}

impl TokenService {
    /// Verifies an ID token Ward issued in `tenant`, expired or not (RP-Initiated Logout §2 allows
    /// an expired hint), and finds its client and the session it came from.
    pub async fn id_token_hint(&self, tenant: &Tenant, token: &str) -> Option<IdTokenHint> {
        let (header, claims) = self.keys.verify_jwt(token).await?;
        if header.get("typ").and_then(Value::as_str) != Some("JWT")
            || claims.get("iss").and_then(Value::as_str) != Some(self.issuer(tenant).as_str())
        {
            return None;
        }
        let client = claims.get("aud").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())?;
        let app = self.directory.application_by_app_id(tenant.id, client).await.ok()?;
        let grant = claims.get("sid").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok());
        let session_id = match grant {
            Some(g) => self.directory.store().grant(g).await.ok().flatten().and_then(|g| g.session_id),
            None => None,
        };
        Some(IdTokenHint { app, session_id })
    }
}

/// Who calls a resource API of Ward's (Graph-shaped) with a bearer token.
pub struct Caller {
    pub tenant: std::sync::Arc<Tenant>,
    /// The client application (`azp`).
    pub app_id: Uuid,
    /// The user, for delegated tokens.
    pub user: Option<User>,
    /// Application permissions (app-only tokens).
    pub roles: Vec<String>,
    /// Delegated permissions (user tokens).
    pub scopes: Vec<String>,
    /// How the user signed in (`amr`), for delegated tokens.
    pub amr: Vec<String>,
}

impl TokenService {
    /// Checks a bearer token presented to Ward's own API: issued by Ward for
    /// `https://graph.microsoft.com`, live, in the tenant its `tid` names.
    pub async fn graph_caller(&self, token: &str) -> Result<Option<Caller>, OAuthError> {
        let Some((resolved, live)) = self.live_graph_token(token).await? else { return Ok(None) };
        let list = |k: &str| -> Vec<String> {
            match live.claims.get(k) {
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
                Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
                _ => Vec::new(),
            }
        };
        let Some(app_id) = live.claims.get("azp").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()) else { return Ok(None) };
        Ok(Some(Caller {
            tenant: resolved.tenant.clone(),
            app_id,
            roles: list("roles"),
            scopes: list("scp"),
            amr: list("amr"),
            user: live.user,
        }))
    }
}
