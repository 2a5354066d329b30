//! The device authorization grant (RFC 8628): a device without a browser shows a short code; the
//! person enters it at Ward's device page on another device, signs in there and approves; the
//! device, polling the token endpoint, then receives tokens. The approval passes the same consent
//! policy and decision point as the code flow.

use crate::crypto::{handle_hash, random_handle};
use crate::error::OAuthError;
use crate::grants::client_credentials::ClientCredentials;
use crate::token::{ACCESS_TOKEN_LIFETIME, AccessToken, TokenService};
use aws_lc_rs::rand::SecureRandom;
use serde::Serialize;
use serde_json::{Value, json};
use time::Duration;
use uuid::Uuid;
use ward_core::app::Application;
use ward_core::permissions::{GRAPH_APP_ID, OIDC_SCOPES, Resource, Scope, graph_scope};
use ward_core::store::{DeviceApproval, DeviceCodeStatus, StoreError, StoredDeviceCode, StoredGrant, StoredSession};
use ward_core::tenant::Tenant;
use ward_core::user::User;

/// Entra's device codes live fifteen minutes; devices poll every five seconds.
pub const DEVICE_CODE_LIFETIME: Duration = Duration::minutes(15);
pub const POLL_INTERVAL: Duration = Duration::seconds(5);
/// RFC 8628 §6.1: consonants only, no vowels (no words), no look-alikes; 20^8 ≈ 2^34.6 codes.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Wrong user codes a person may enter before the device page stops taking them for a while.
pub const MAX_USER_CODE_FAILURES: u32 = 10;

/// RFC 8628 §3.2.
#[derive(Clone, Debug, Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
    pub message: String,
}

/// What the device page shows about a pending code.
pub struct PendingDevice {
    pub app: Application,
    pub permissions: Vec<Scope>,
    pub resource: Resource,
    pub user_code: String,
}

/// The person's answer, as far as it went.
pub enum DeviceDecision {
    Approved,
    Denied,
    /// Consent only an administrator can give is missing.
    NeedsAdmin(Vec<Scope>),
}

fn random_user_code() -> Result<String, OAuthError> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut out = String::with_capacity(8);
    while out.len() < 8 {
        let mut b = [0u8; 1];
        rng.fill(&mut b).map_err(|_| OAuthError::temporarily_unavailable())?;
        // Rejection sampling keeps every letter equally likely.
        if (b[0] as usize) < 240 {
            out.push(USER_CODE_ALPHABET[b[0] as usize % 20] as char);
        }
    }
    Ok(out)
}

/// `bcdf-ghjk`, `BCDFGHJK`, ` BCDF GHJK ` → `BCDFGHJK`; anything else → None.
pub fn normalize_user_code(input: &str) -> Option<String> {
    let code: String = input.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == 8 && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b))).then_some(code)
}

fn display(code: &str) -> String {
    format!("{}-{}", &code[..4], &code[4..])
}

fn resource_of(doc: &Value) -> Option<Uuid> {
    doc.get("resource").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())
}

fn scopes_of(doc: &Value) -> Vec<String> {
    doc.get("scopes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

impl TokenService {
    /// RFC 8628 §3.1–3.2: starts a device authorization for a client.
    pub async fn device_authorization(
        &self,
        tenant_key: &str,
        client: ClientCredentials,
        scope: Option<&str>,
    ) -> Result<DeviceAuthorization, OAuthError> {
        let resolved = self.tenant(tenant_key).await?;
        let (client_id, facts) = self.authenticate_client(&resolved, &client, false).await?;
        let record = facts.record.as_ref().ok_or_else(OAuthError::temporarily_unavailable)?;
        let is_public = !record.app.public_client.redirect_uris.is_empty();
        let authenticated = client.client_secret.is_some() || client.assertion.is_some();
        if !is_public && !authenticated {
            return Err(OAuthError::invalid_client(
                7000218,
                "This client is confidential: it must authenticate to start a device authorization.",
            ));
        }
        let scope =
            scope.ok_or_else(|| OAuthError::invalid_request(900144, "The request body must contain the following parameter: 'scope'."))?;
        let wanted = self.resolve_scopes(&resolved, scope).await?;
        let mut scopes: Vec<&str> = wanted.oidc.iter().chain(wanted.api.iter()).map(|p| p.value.as_str()).collect();
        if wanted.default && wanted.resource.is_graph() && !scopes.contains(&"User.Read") {
            scopes.push("User.Read");
        }
        let resource = wanted.resource.app_id;
        let now = self.directory.now();
        let device_code = random_handle().map_err(|_| OAuthError::temporarily_unavailable())?;
        let verification_uri = format!("{}/{}/oauth2/deviceauth", self.public_url(), resolved.tenant.id);
        for _ in 0..5 {
            let user_code = random_user_code()?;
            let stored = StoredDeviceCode {
                device_hash: handle_hash(&device_code),
                tenant_id: resolved.tenant.id,
                user_code: user_code.clone(),
                client_id,
                doc: json!({ "scopes": scopes, "resource": resource, "public": !authenticated }),
                created_at: now,
                expires_at: now + DEVICE_CODE_LIFETIME,
                last_poll_at: None,
                status: DeviceCodeStatus::Pending,
                user_id: None,
                auth_time: None,
                amr: None,
                grant_id: None,
            };
            match self.directory.store().create_device_code(&stored).await {
                Ok(()) => {
                    let shown = display(&user_code);
                    return Ok(DeviceAuthorization {
                        verification_uri_complete: format!("{verification_uri}?user_code={shown}"),
                        message: format!(
                            "To sign in, use a web browser to open the page {verification_uri} and enter the code {shown} to authenticate."
                        ),
                        device_code,
                        user_code: shown,
                        verification_uri,
                        expires_in: DEVICE_CODE_LIFETIME.whole_seconds(),
                        interval: POLL_INTERVAL.whole_seconds(),
                    });
                }
                Err(StoreError::UniqueViolation(_)) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "storing a device code failed");
                    return Err(OAuthError::temporarily_unavailable());
                }
            }
        }
        Err(OAuthError::temporarily_unavailable())
    }

    /// RFC 8628 §3.4–3.5: the device polls.
    pub async fn device_code_grant(
        &self,
        tenant_key: &str,
        client: ClientCredentials,
        device_code: Option<&str>,
    ) -> Result<AccessToken, OAuthError> {
        let resolved = self.tenant(tenant_key).await?;
        let device_code = device_code
            .ok_or_else(|| OAuthError::invalid_request(900144, "The request body must contain the following parameter: 'device_code'."))?;
        let now = self.directory.now();
        let unknown = || OAuthError::invalid_grant(70000, "The device code is not valid.");
        if device_code.len() > 128 {
            return Err(unknown());
        }
        let hash = handle_hash(device_code);
        let polled = self.directory.store().poll_device_code(&hash, now).await.map_err(|e| {
            tracing::error!(error = %e, "reading a device code failed");
            OAuthError::temporarily_unavailable()
        })?;
        let public = polled.as_ref().is_some_and(|d| d.doc.get("public").and_then(Value::as_bool).unwrap_or(false));
        // An unknown (or purged) code: whoever asks learns only that it is not valid.
        let (client_id, facts) = self.authenticate_client(&resolved, &client, !public && polled.is_some()).await?;
        let Some(device) = polled.filter(|d| d.tenant_id == resolved.tenant.id && d.client_id == client_id) else { return Err(unknown()) };
        if device.expires_at <= now {
            return Err(OAuthError::other(400, "expired_token", 70020, "The device code has expired; start again."));
        }
        match device.status {
            DeviceCodeStatus::Pending => {
                if device.last_poll_at.is_some_and(|last| now - last < POLL_INTERVAL) {
                    return Err(OAuthError::other(400, "slow_down", 70016, "Polling too fast; wait the interval between requests."));
                }
                return Err(OAuthError::other(400, "authorization_pending", 70016, "The user has not yet finished signing in."));
            }
            DeviceCodeStatus::Denied => return Err(OAuthError::access_denied(70019, "The user declined the sign-in request.")),
            DeviceCodeStatus::Redeemed => {
                let placeholder = self.device_grant(&resolved.tenant, &device, now)?;
                let _ = self.directory.store().redeem_device_code(&hash, &placeholder, None).await;
                return Err(OAuthError::invalid_grant(54005, "The device code was already redeemed; what it issued has been revoked."));
            }
            DeviceCodeStatus::Approved => {}
        }
        let record = facts.record.as_ref().ok_or_else(OAuthError::temporarily_unavailable)?;
        let sp = record.service_principal.clone().ok_or_else(|| {
            OAuthError::unauthorized_client(7000229, "The client application is missing its service principal in the tenant.")
        })?;
        let (Some(user_id), Some(auth_time), Some(amr)) = (device.user_id, device.auth_time, device.amr.clone()) else {
            return Err(unknown());
        };
        let resource_app = resource_of(&device.doc);
        let (user, scopes, resource) =
            self.decide_for_user(&resolved, &sp, user_id, resource_app, &scopes_of(&device.doc), auth_time).await?;
        let signed_in = (amr.as_str(), Some(auth_time.unix_timestamp()));
        self.enforce_for_user(&resolved, &user, &sp, public, &resource, signed_in, crate::access::Flow::DeviceCode).await?;
        let mut grant = self.device_grant(&resolved.tenant, &device, now)?;
        let (refresh, handle) =
            self.first_refresh(&resolved.tenant, grant.id, client_id, public, resource.app_id, &scopes, auth_time, &amr)?;
        // The grant lives as long as its refresh token can.
        if let Some(h) = &handle {
            grant.expires_at = grant.expires_at.max(h.expires_at);
        }
        let redeemed = self.directory.store().redeem_device_code(&hash, &grant, handle.as_ref()).await.map_err(|e| {
            tracing::error!(error = %e, "redeeming a device code failed");
            OAuthError::temporarily_unavailable()
        })?;
        if !redeemed {
            return Err(OAuthError::invalid_grant(54005, "The device code was already redeemed; what it issued has been revoked."));
        }
        let method = if public { crate::grants::client_credentials::AuthMethod::None } else { client.method };
        let alg = record.app.token_signing_algorithm.as_deref().and_then(crate::keys::Alg::parse).unwrap_or(crate::keys::Alg::RS256);
        self.issue_for(
            &resolved,
            &sp,
            &user,
            grant.id,
            &resource.audience,
            &scopes,
            auth_time.unix_timestamp(),
            &amr,
            None,
            refresh,
            method,
            alg,
        )
        .await
    }

    fn device_grant(&self, tenant: &Tenant, device: &StoredDeviceCode, now: time::OffsetDateTime) -> Result<StoredGrant, OAuthError> {
        Ok(StoredGrant {
            id: Uuid::new_v4(),
            tenant_id: tenant.id,
            // The device's grant is its own: signing out of the browser that approved it does not end it.
            session_id: None,
            client_id: device.client_id,
            user_id: device.user_id.ok_or_else(OAuthError::temporarily_unavailable)?,
            created_at: now,
            expires_at: now + ACCESS_TOKEN_LIFETIME,
            revoked_at: None,
        })
    }

    /// The device page: what a user code asks for, if it is pending.
    pub async fn pending_device(&self, tenant: &Tenant, session: &StoredSession, input: &str) -> Result<Option<PendingDevice>, OAuthError> {
        let failures = *self.device_failures.lock().unwrap_or_else(|e| e.into_inner()).get(&session.id).unwrap_or(&0);
        if failures >= MAX_USER_CODE_FAILURES {
            return Err(OAuthError::other(429, "slow_down", 70016, "Too many wrong codes. Sign out and try again later."));
        }
        let found = match normalize_user_code(input) {
            Some(code) => self.directory.store().device_code_by_user_code(tenant.id, &code).await.map_err(|e| {
                tracing::error!(error = %e, "reading a device code failed");
                OAuthError::temporarily_unavailable()
            })?,
            None => None,
        };
        let now = self.directory.now();
        let Some(device) = found.filter(|d| d.status == DeviceCodeStatus::Pending && d.expires_at > now) else {
            let mut map = self.device_failures.lock().unwrap_or_else(|e| e.into_inner());
            if map.len() > 100_000 {
                map.clear();
            }
            *map.entry(session.id).or_insert(0) += 1;
            return Ok(None);
        };
        let app =
            self.directory.application_by_app_id(tenant.id, device.client_id).await.map_err(|_| OAuthError::temporarily_unavailable())?;
        let unavailable = |_| OAuthError::temporarily_unavailable();
        let (graph, _) =
            self.directory.resource(tenant.id, GRAPH_APP_ID).await.map_err(unavailable)?.ok_or_else(OAuthError::temporarily_unavailable)?;
        let resource = match resource_of(&device.doc) {
            Some(r) if r != graph.app_id => self
                .directory
                .resource(tenant.id, &r.to_string())
                .await
                .map_err(unavailable)?
                .map(|(r, _)| r)
                .ok_or_else(OAuthError::temporarily_unavailable)?,
            _ => graph.clone(),
        };
        let permissions = scopes_of(&device.doc)
            .iter()
            .filter_map(|v| {
                graph_scope(v)
                    .filter(|p| OIDC_SCOPES.contains(&p.value))
                    .map(|p| Scope::of(p, graph.service_principal))
                    .or_else(|| resource.scope(v).cloned())
            })
            .collect();
        Ok(Some(PendingDevice { app, permissions, resource, user_code: device.user_code }))
    }

    /// The person approves or denies a pending code on the device page.
    pub async fn decide_device(
        &self,
        tenant: &Tenant,
        session: &StoredSession,
        user: &User,
        user_code: &str,
        approve: bool,
    ) -> Result<Option<DeviceDecision>, OAuthError> {
        let Some(pending) = self.pending_device(tenant, session, user_code).await? else { return Ok(None) };
        let now = self.directory.now();
        let store_err = |e: StoreError| {
            tracing::error!(error = %e, "deciding a device code failed");
            OAuthError::temporarily_unavailable()
        };
        if !approve {
            self.directory.store().decide_device_code(tenant.id, &pending.user_code, None, now).await.map_err(store_err)?;
            return Ok(Some(DeviceDecision::Denied));
        }
        let sp = self
            .directory
            .service_principal_by_app_id(tenant.id, pending.app.app_id)
            .await
            .map_err(|_| OAuthError::temporarily_unavailable())?;
        let mut resources: Vec<ward_core::ObjectId> = pending.permissions.iter().map(|s| s.resource).collect();
        resources.sort();
        resources.dedup();
        let consented = self
            .directory
            .delegated_grants(tenant.id, sp.id, user.id, &resources)
            .await
            .map_err(|_| OAuthError::temporarily_unavailable())?;
        let missing: Vec<Scope> = pending.permissions.iter().filter(|s| !s.consented(&consented)).cloned().collect();
        if !missing.is_empty() {
            let policy = self.consent_policy(tenant, user).await?;
            let (mine, admin): (Vec<_>, Vec<_>) = missing.into_iter().partition(|p| policy.allows(p));
            if !admin.is_empty() {
                return Ok(Some(DeviceDecision::NeedsAdmin(admin)));
            }
            self.record_consent(tenant, sp.id, &pending.resource, Some(user.id), mine.iter()).await?;
        }
        let approval = DeviceApproval { user_id: user.id, auth_time: session.auth_time, amr: session.amr.clone() };
        let changed =
            self.directory.store().decide_device_code(tenant.id, &pending.user_code, Some(approval), now).await.map_err(store_err)?;
        Ok(changed.then_some(DeviceDecision::Approved))
    }
}
