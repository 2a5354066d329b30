//! The grants that issue tokens for a user: authorization code with PKCE (RFC 6749 §4.1, RFC 7636)
//! and refresh token with rotation (RFC 6749 §6, RFC 9700 §4.14.2). Both pass the one decision
//! point again at redemption, so a user disabled, a session revoked or consent withdrawn since the
//! code or the last refresh stops issuance.

use crate::crypto::{handle_hash, pkce_s256_matches, random_handle, sha256_b64, valid_pkce_value};
use crate::decision::{Subject, decide};
use crate::error::OAuthError;
use crate::grants::client_credentials::{AuthMethod, ClientCredentials};
use crate::keys::Alg;
use crate::token::{ACCESS_TOKEN_LIFETIME, AccessToken, ResolvedTenant, TokenService};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use ward_core::app::ServicePrincipal;
use ward_core::permissions::{OIDC_SCOPES, Resource, Scope, graph_scope};
use ward_core::store::{Redeemed, StoredHandle};
use ward_core::user::User;

/// Entra's refresh tokens last 90 days (24 hours for single-page apps, which cannot keep them safe).
pub const REFRESH_TOKEN_LIFETIME: Duration = Duration::days(90);
pub const SPA_REFRESH_TOKEN_LIFETIME: Duration = Duration::hours(24);

/// What a code or refresh token carries for its redemption.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct HandleDoc {
    client_id: Uuid,
    #[serde(default)]
    redirect_uri: Option<String>,
    public: bool,
    scopes: Vec<String>,
    /// The resource's appId (Ward's API when absent).
    #[serde(default)]
    resource: Option<Uuid>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    code_challenge: Option<String>,
    auth_time: i64,
    /// The same to the microsecond (a revocation in the same second must still reach it); absent
    /// from handles issued before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth_time_us: Option<i64>,
    amr: String,
}

impl HandleDoc {
    /// When the user authenticated, as precisely as the handle knows.
    fn authenticated_at(&self) -> Result<OffsetDateTime, OAuthError> {
        let at = match self.auth_time_us {
            Some(us) => OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000),
            // Handles from before: the end of their second, as whole seconds were compared then.
            None => OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.auth_time) * 1_000_000_000 + 999_999_000),
        };
        at.map_err(|_| OAuthError::temporarily_unavailable())
    }
}

/// A time to the microsecond, as handles keep it.
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

fn bad_code() -> OAuthError {
    OAuthError::invalid_grant(70000, "The provided authorization code is invalid, expired or was issued to another client.")
}

fn bad_refresh() -> OAuthError {
    OAuthError::invalid_grant(9002313, "The provided refresh token is invalid, expired, revoked or was issued to another client.")
}

/// The pairwise subject of a user for a client (Entra's v2.0 `sub`): stable per user and client,
/// different across clients, revealing neither.
pub fn pairwise_subject(tenant: &ward_core::TenantId, user: &ward_core::ObjectId, client: &Uuid) -> String {
    sha256_b64(format!("{tenant}|{user}|{client}").as_bytes())
}

/// The handle being redeemed, with what it was read with.
struct Redemption<'a> {
    resolved: &'a ResolvedTenant,
    sp: &'a ServicePrincipal,
    user: &'a User,
    handle: &'a StoredHandle,
    doc: &'a HandleDoc,
    hash: &'a str,
    spa: bool,
}

/// What issuing needs to know about one user grant.
struct Issue<'a> {
    resolved: &'a ResolvedTenant,
    sp: &'a ServicePrincipal,
    user: &'a User,
    grant_id: Uuid,
    audience: &'a str,
    scopes: &'a [String],
    auth_time: i64,
    amr: &'a str,
    nonce: Option<&'a str>,
    refresh_token: Option<String>,
    method: AuthMethod,
    alg: Alg,
}

impl TokenService {
    /// Re-reads the user, the resource and the client's consent, and asks the decision point
    /// again. Scopes the resource no longer offers fall away.
    pub(crate) async fn decide_for_user(
        &self,
        resolved: &ResolvedTenant,
        sp: &ServicePrincipal,
        user_id: ward_core::ObjectId,
        resource_app: Option<Uuid>,
        scopes: &[String],
        authenticated_at: OffsetDateTime,
    ) -> Result<(User, Vec<String>, Resource), OAuthError> {
        let unavailable = |e: ward_core::DirectoryError| {
            tracing::error!(error = %e, "reading the directory failed");
            OAuthError::temporarily_unavailable()
        };
        let user = match self.directory.user(resolved.tenant.id, &user_id.to_string()).await {
            Ok(u) => u,
            Err(e) if e.code() == ward_core::ErrorCode::NotFound => {
                return Err(OAuthError::invalid_grant(50034, "The user account does not exist in the directory."));
            }
            Err(e) => return Err(unavailable(e)),
        };
        let tenant = resolved.tenant.id;
        let (graph, _) = self
            .directory
            .resource(tenant, ward_core::permissions::GRAPH_APP_ID)
            .await
            .map_err(unavailable)?
            .ok_or_else(OAuthError::temporarily_unavailable)?;
        let resource = match resource_app {
            Some(app) if app != graph.app_id => self
                .directory
                .resource(tenant, &app.to_string())
                .await
                .map_err(unavailable)?
                .map(|(r, _)| r)
                .ok_or_else(|| OAuthError::invalid_grant(500011, "The resource this grant was for no longer exists."))?,
            _ => graph.clone(),
        };
        let mut requested: Vec<Scope> = Vec::with_capacity(scopes.len());
        for value in scopes {
            let oidc = graph_scope(value).filter(|p| OIDC_SCOPES.contains(&p.value)).map(|p| Scope::of(p, graph.service_principal));
            if let Some(s) = oidc.or_else(|| resource.scope(value).cloned()) {
                requested.push(s);
            }
        }
        let mut resources = vec![graph.service_principal, resource.service_principal];
        resources.dedup();
        let consented = self.directory.delegated_grants(tenant, sp.id, user.id, &resources).await.map_err(unavailable)?;
        let grant =
            decide(Subject::User { user: &user, service_principal: sp, consented: &consented, requested: &requested, authenticated_at })
                .map_err(|e| {
                    if e.error == "consent_required" {
                        OAuthError::invalid_grant(65001, e.description.split_once(": ").map(|x| x.1).unwrap_or_default())
                    } else {
                        e
                    }
                })?;
        Ok((user, grant.scopes, resource))
    }

    /// `grant_type=authorization_code`.
    pub async fn authorization_code(
        &self,
        tenant_key: &str,
        client: ClientCredentials,
        code: Option<&str>,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
    ) -> Result<AccessToken, OAuthError> {
        let resolved = self.tenant(tenant_key).await?;
        let code =
            code.ok_or_else(|| OAuthError::invalid_request(900144, "The request body must contain the following parameter: 'code'."))?;
        if code.len() > 128 {
            return Err(bad_code());
        }
        let hash = handle_hash(code);
        let handle = self.read_handle(&hash).await?;
        // Client authentication comes first: a confidential client must prove itself even to learn
        // that a code is bad.
        let doc = handle.as_ref().and_then(|h| serde_json::from_value::<HandleDoc>(h.doc.clone()).ok());
        let public = doc.as_ref().is_some_and(|d| d.public);
        let (client_id, facts) = self.authenticate_client(&resolved, &client, !public).await?;
        let (Some(handle), Some(doc)) = (handle, doc) else { return Err(bad_code()) };
        if handle.kind != "code" || handle.tenant_id != resolved.tenant.id || doc.client_id != client_id {
            return Err(bad_code());
        }
        let now = self.directory.now();
        if handle.expires_at <= now {
            return Err(OAuthError::invalid_grant(70008, "The provided authorization code has expired."));
        }
        if redirect_uri != doc.redirect_uri.as_deref() {
            return Err(OAuthError::invalid_grant(50148, "The redirect_uri does not match the one the authorization code was issued for."));
        }
        match (&doc.code_challenge, code_verifier) {
            (Some(challenge), Some(verifier)) if valid_pkce_value(verifier) && pkce_s256_matches(verifier, challenge) => {}
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    501481,
                    "The code_verifier does not match the code_challenge supplied in the authorization request.",
                ));
            }
            (Some(_), None) => {
                return Err(OAuthError::invalid_grant(50148, "The request must contain the code_verifier for this code (PKCE)."));
            }
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(50148, "A code_verifier was sent for a code issued without code_challenge."));
            }
            (None, None) => {}
        }
        let record = facts.record.as_ref().ok_or_else(OAuthError::temporarily_unavailable)?;
        let sp = record.service_principal.clone().ok_or_else(|| {
            OAuthError::unauthorized_client(7000229, "The client application is missing its service principal in the tenant.")
        })?;
        let user_id = self.live_grant(handle.grant_id).await?.user_id;
        let (user, scopes, resource) =
            self.decide_for_user(&resolved, &sp, user_id, doc.resource, &doc.scopes, doc.authenticated_at()?).await?;
        let spa = record.app.spa.redirect_uris.iter().any(|u| Some(u.as_str()) == doc.redirect_uri.as_deref());
        let nonce = doc.nonce.clone();
        let redemption = Redemption { resolved: &resolved, sp: &sp, user: &user, handle: &handle, doc: &doc, hash: &hash, spa };
        self.redeem_and_issue(redemption, &scopes, &resource, nonce.as_deref(), &client, record, "authorization code", bad_code).await
    }

    /// `grant_type=refresh_token`: the presented token is spent and a new one returned; presenting a
    /// spent one again revokes the whole grant (RFC 9700 §4.14.2).
    pub async fn refresh_token(
        &self,
        tenant_key: &str,
        client: ClientCredentials,
        token: Option<&str>,
        scope: Option<&str>,
    ) -> Result<AccessToken, OAuthError> {
        let resolved = self.tenant(tenant_key).await?;
        let token = token.ok_or_else(|| {
            OAuthError::invalid_request(900144, "The request body must contain the following parameter: 'refresh_token'.")
        })?;
        if token.len() > 128 {
            return Err(bad_refresh());
        }
        let hash = handle_hash(token);
        let handle = self.read_handle(&hash).await?;
        let doc = handle.as_ref().and_then(|h| serde_json::from_value::<HandleDoc>(h.doc.clone()).ok());
        let public = doc.as_ref().is_some_and(|d| d.public);
        let (client_id, facts) = self.authenticate_client(&resolved, &client, !public).await?;
        let (Some(handle), Some(doc)) = (handle, doc) else { return Err(bad_refresh()) };
        if handle.kind != "refresh" || handle.tenant_id != resolved.tenant.id || doc.client_id != client_id {
            return Err(bad_refresh());
        }
        if handle.used_at.is_some() {
            // Reuse: revoke before answering, so the thief and the victim both start over.
            let _ = self.redeem(&hash, None).await?;
            tracing::warn!(tenant = %resolved.tenant.id, grant = %handle.grant_id, "refresh token reused: grant revoked");
            return Err(OAuthError::invalid_grant(54005, "The refresh token was already used; every token of its grant has been revoked."));
        }
        if handle.expires_at <= self.directory.now() {
            return Err(OAuthError::invalid_grant(700082, "The refresh token has expired due to inactivity."));
        }
        let user_id = self.live_grant(handle.grant_id).await?.user_id;
        // A narrower scope may be asked for (RFC 6749 §6); never a wider one.
        let mut scopes = doc.scopes.clone();
        if let Some(asked) = scope {
            let wanted = self.resolve_scopes(&resolved, asked).await?;
            let same_resource = doc.resource.is_none_or(|r| r == wanted.resource.app_id) || (wanted.api.is_empty() && !wanted.default);
            if !same_resource {
                return Err(OAuthError::invalid_scope(70011, "A refresh token is for the resource it was issued for."));
            }
            if !wanted.default {
                let asked: Vec<&str> = wanted.oidc.iter().chain(wanted.api.iter()).map(|p| p.value.as_str()).collect();
                if let Some(extra) = asked.iter().find(|a| !doc.scopes.iter().any(|s| s.eq_ignore_ascii_case(a))) {
                    return Err(OAuthError::invalid_scope(70011, format!("The scope {extra} was not granted to this refresh token.")));
                }
                scopes.retain(|s| asked.iter().any(|a| a.eq_ignore_ascii_case(s)) || s == "offline_access");
            }
        }
        let record = facts.record.as_ref().ok_or_else(OAuthError::temporarily_unavailable)?;
        let sp = record.service_principal.clone().ok_or_else(|| {
            OAuthError::unauthorized_client(7000229, "The client application is missing its service principal in the tenant.")
        })?;
        let (user, granted, resource) =
            self.decide_for_user(&resolved, &sp, user_id, doc.resource, &scopes, doc.authenticated_at()?).await?;
        // Policies are evaluated again at every refresh, from where the refresh comes from.
        self.enforce_for_user(&resolved, &user, &sp, doc.public, &resource, (&doc.amr, Some(doc.auth_time)), crate::access::Flow::Refresh)
            .await?;
        let spa = handle.doc.get("spa").and_then(|v| v.as_bool()).unwrap_or(false);
        let redemption = Redemption { resolved: &resolved, sp: &sp, user: &user, handle: &handle, doc: &doc, hash: &hash, spa };
        self.redeem_and_issue(redemption, &granted, &resource, None, &client, record, "refresh token", bad_refresh).await
    }

    /// Spends the presented handle (storing its rotated successor in the same transaction) and
    /// issues; a handle spent before is a replay, and its grant is revoked by the store.
    #[allow(clippy::too_many_arguments)]
    async fn redeem_and_issue(
        &self,
        r: Redemption<'_>,
        scopes: &[String],
        resource: &Resource,
        nonce: Option<&str>,
        client: &ClientCredentials,
        record: &ward_directory::ClientRecord,
        what: &str,
        unknown: fn() -> OAuthError,
    ) -> Result<AccessToken, OAuthError> {
        let (refresh, replacement) = self.next_refresh(r.handle, r.doc, scopes, r.spa)?;
        match self.redeem(r.hash, replacement.as_ref()).await? {
            Redeemed::Fresh(_) => {}
            Redeemed::Replayed(_) => {
                tracing::warn!(tenant = %r.resolved.tenant.id, grant = %r.handle.grant_id, "{what} replayed: grant revoked");
                return Err(OAuthError::invalid_grant(
                    54005,
                    format!("The {what} was already used; every token of its grant has been revoked."),
                ));
            }
            Redeemed::Unknown => return Err(unknown()),
        }
        let method = if client.client_secret.is_some() || client.assertion.is_some() { client.method } else { AuthMethod::None };
        self.issue_user_tokens(Issue {
            resolved: r.resolved,
            sp: r.sp,
            user: r.user,
            grant_id: r.handle.grant_id,
            audience: &resource.audience,
            scopes,
            auth_time: r.doc.auth_time,
            amr: &r.doc.amr,
            nonce,
            refresh_token: refresh,
            method,
            alg: record.app.token_signing_algorithm.as_deref().and_then(Alg::parse).unwrap_or(Alg::RS256),
        })
        .await
    }

    async fn read_handle(&self, hash: &str) -> Result<Option<StoredHandle>, OAuthError> {
        self.directory.store().handle(hash).await.map_err(|e| {
            tracing::error!(error = %e, "reading a grant handle failed");
            OAuthError::temporarily_unavailable()
        })
    }

    async fn redeem(&self, hash: &str, replacement: Option<&StoredHandle>) -> Result<Redeemed, OAuthError> {
        self.directory.store().redeem_handle(hash, self.directory.now(), replacement).await.map_err(|e| {
            tracing::error!(error = %e, "redeeming a grant handle failed");
            OAuthError::temporarily_unavailable()
        })
    }

    /// The grant, which must exist and not be revoked (by a replay, a sign-out or an administrator).
    pub(crate) async fn live_grant(&self, grant_id: Uuid) -> Result<ward_core::store::StoredGrant, OAuthError> {
        let grant = self.directory.store().grant(grant_id).await.map_err(|e| {
            tracing::error!(error = %e, "reading a grant failed");
            OAuthError::temporarily_unavailable()
        })?;
        match grant {
            Some(g) if g.revoked_at.is_none() => Ok(g),
            _ => Err(OAuthError::invalid_grant(50173, "The grant has been revoked; the user must sign in again.")),
        }
    }

    /// The first refresh token of a new grant (device flow), when `offline_access` was granted.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn first_refresh(
        &self,
        tenant: &ward_core::tenant::Tenant,
        grant_id: Uuid,
        client_id: Uuid,
        public: bool,
        resource: Uuid,
        scopes: &[String],
        authenticated_at: OffsetDateTime,
        amr: &str,
    ) -> Result<(Option<String>, Option<StoredHandle>), OAuthError> {
        let doc = HandleDoc {
            client_id,
            redirect_uri: None,
            public,
            scopes: Vec::new(),
            resource: Some(resource),
            nonce: None,
            code_challenge: None,
            auth_time: authenticated_at.unix_timestamp(),
            auth_time_us: Some(micros(authenticated_at)),
            amr: amr.to_string(),
        };
        let from = StoredHandle {
            hash: String::new(),
            tenant_id: tenant.id,
            kind: "device".into(),
            grant_id,
            expires_at: self.directory.now(),
            used_at: None,
            doc: json!({}),
        };
        self.next_refresh(&from, &doc, scopes, false)
    }

    /// Issues a user's tokens for a grant (the device flow's way in).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn issue_for(
        &self,
        resolved: &ResolvedTenant,
        sp: &ServicePrincipal,
        user: &User,
        grant_id: Uuid,
        audience: &str,
        scopes: &[String],
        auth_time: i64,
        amr: &str,
        nonce: Option<&str>,
        refresh_token: Option<String>,
        method: AuthMethod,
        alg: Alg,
    ) -> Result<AccessToken, OAuthError> {
        self.issue_user_tokens(Issue { resolved, sp, user, grant_id, audience, scopes, auth_time, amr, nonce, refresh_token, method, alg })
            .await
    }

    /// The refresh token to hand out (when `offline_access` was granted) and its stored form.
    fn next_refresh(
        &self,
        from: &StoredHandle,
        doc: &HandleDoc,
        scopes: &[String],
        spa: bool,
    ) -> Result<(Option<String>, Option<StoredHandle>), OAuthError> {
        if !scopes.iter().any(|s| s == "offline_access") {
            return Ok((None, None));
        }
        let now = self.directory.now();
        // A single-page app's refresh tokens end 24 hours after the sign-in, however often they
        // rotate; others last 90 days from their last use.
        let expires_at = if spa {
            let signed_in = OffsetDateTime::from_unix_timestamp(doc.auth_time).map_err(|_| OAuthError::temporarily_unavailable())?;
            (now + SPA_REFRESH_TOKEN_LIFETIME).min(signed_in + SPA_REFRESH_TOKEN_LIFETIME)
        } else {
            now + REFRESH_TOKEN_LIFETIME
        };
        if expires_at <= now {
            return Ok((None, None));
        }
        let token = random_handle().map_err(|_| OAuthError::temporarily_unavailable())?;
        let mut next = HandleDoc { redirect_uri: None, nonce: None, code_challenge: None, ..doc.clone() };
        next.scopes = scopes.to_vec();
        let mut stored_doc = serde_json::to_value(&next).map_err(|_| OAuthError::temporarily_unavailable())?;
        stored_doc["spa"] = json!(spa);
        let handle = StoredHandle {
            hash: handle_hash(&token),
            tenant_id: from.tenant_id,
            kind: "refresh".into(),
            grant_id: from.grant_id,
            expires_at,
            used_at: None,
            doc: stored_doc,
        };
        Ok((Some(token), Some(handle)))
    }

    async fn issue_user_tokens(&self, i: Issue<'_>) -> Result<AccessToken, OAuthError> {
        let now = self.directory.now();
        let tenant = &i.resolved.tenant;
        let exp = now + ACCESS_TOKEN_LIFETIME;
        let sub = pairwise_subject(&tenant.id, &i.user.id, &i.sp.app_id);
        let client_acr = match i.method {
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => "1",
            AuthMethod::None => "0",
            AuthMethod::PrivateKeyJwt => "2",
        };
        let mut uti = [0u8; 16];
        aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), &mut uti)
            .map_err(|_| OAuthError::temporarily_unavailable())?;
        let has = |v: &str| i.scopes.iter().any(|s| s == v);
        let scp: Vec<&str> = i.scopes.iter().map(String::as_str).filter(|s| *s != "offline_access").collect();
        let amr: Vec<&str> = i.amr.split_whitespace().collect();
        let access = json!({
            "aud": i.audience,
            "iss": self.issuer(tenant),
            "iat": now.unix_timestamp(),
            "nbf": now.unix_timestamp(),
            "exp": exp.unix_timestamp(),
            "tid": tenant.id,
            "oid": i.user.id,
            "sub": sub,
            "azp": i.sp.app_id,
            "appid": i.sp.app_id,
            "azpacr": client_acr,
            "appidacr": client_acr,
            "idtyp": "user",
            "scp": scp.join(" "),
            "name": i.user.display_name,
            "preferred_username": i.user.user_principal_name.as_str(),
            "amr": amr,
            "sid": i.grant_id,
            "ver": "2.0",
            "uti": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uti),
            "jti": Uuid::new_v4(),
        });
        let key = self.keys.signer(i.alg).await.map_err(|e| {
            tracing::error!(error = %e, "no signing key");
            OAuthError::temporarily_unavailable()
        })?;
        let sign = |typ: &str, claims: &serde_json::Value| {
            key.sign_jwt(typ, claims).map_err(|e| {
                tracing::error!(error = %e, "signing failed");
                OAuthError::temporarily_unavailable()
            })
        };
        let access_token = sign("at+jwt", &access)?;
        let id_token = if has("openid") {
            let mut id = json!({
                "aud": i.sp.app_id,
                "iss": self.issuer(tenant),
                "iat": now.unix_timestamp(),
                "nbf": now.unix_timestamp(),
                "exp": exp.unix_timestamp(),
                "sub": sub,
                "oid": i.user.id,
                "tid": tenant.id,
                "auth_time": i.auth_time,
                "amr": amr,
                "acr": "1",
                "sid": i.grant_id,
                "ver": "2.0",
                "uti": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uti),
            });
            if let Some(nonce) = i.nonce {
                id["nonce"] = json!(nonce);
            }
            if has("profile") {
                id["name"] = json!(i.user.display_name);
                id["preferred_username"] = json!(i.user.user_principal_name.as_str());
            }
            if has("email")
                && let Some(mail) = &i.user.mail
            {
                id["email"] = json!(mail);
            }
            Some(sign("JWT", &id)?)
        } else {
            None
        };
        let lifetime = ACCESS_TOKEN_LIFETIME.whole_seconds();
        let mut scope: Vec<&str> = i.scopes.iter().map(String::as_str).collect();
        scope.retain(|s| *s != "offline_access" || i.refresh_token.is_some());
        Ok(AccessToken {
            token_type: "Bearer",
            scope: Some(scope.join(" ")),
            expires_in: lifetime,
            ext_expires_in: lifetime,
            access_token,
            refresh_token: i.refresh_token,
            id_token,
        })
    }
}
