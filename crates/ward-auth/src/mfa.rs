//! The second factor of a sign-in, and enrolling it: authenticator apps (TOTP) so far.
//!
//! A password that checks out for a user who has an authenticator app does not start a session:
//! it yields a *pending* sign-in — sealed under the key-encryption key, bound to the tenant, the
//! browser's anti-forgery cookie and ten minutes — that only a valid code turns into a session.
//! Wrong codes count towards the account's lockout; a code's time step is accepted once, across
//! nodes (the store refuses a step at or before the last one used).

use crate::signin::{PERSISTENT_IDLE, PERSISTENT_LIFETIME, SESSION_IDLE, SESSION_LIFETIME, SignInError, SignedIn};
use crate::token::TokenService;
use crate::totp;
use serde_json::json;
use time::Duration;
use ward_core::ObjectId;
use ward_core::store::{StoredAuthMethod, StoredSession};
use ward_core::tenant::Tenant;
use ward_core::user::User;

/// How long a person has to type the code after their password.
pub const PENDING_LIFETIME: Duration = Duration::minutes(10);
/// How long an enrollment may take between showing the QR code and confirming a code.
pub const ENROLLMENT_LIFETIME: Duration = Duration::minutes(15);
pub const TOTP: &str = "totp";
const MAX_METHODS: usize = 10;

/// A password checked, a second factor due.
pub struct Pending {
    /// Sealed: goes into the code form.
    pub token: String,
    pub user: User,
}

/// An authenticator app being added: the secret for the QR code and the sealed state that comes
/// back with the first code.
pub struct Enrollment {
    pub secret_base32: String,
    pub uri: String,
    pub token: String,
}

#[derive(Debug, PartialEq)]
pub enum EnrollError {
    Expired,
    WrongCode,
    TooMany,
    Unavailable,
    /// The tenant's authentication methods policy does not enable the method for this user.
    NotEnabled,
    /// Conditional access does not let this person register security information now.
    Conditional(u32, &'static str),
}

impl TokenService {
    /// Does the tenant's authentication methods policy enable a method (its `targets`) for `user`?
    pub async fn method_enabled(
        &self,
        tenant: &Tenant,
        user: ObjectId,
        targets: &ward_core::auth_methods_policy::MethodTargets,
    ) -> Result<bool, SignInError> {
        if !targets.enabled {
            return Ok(false);
        }
        let groups = self.directory.get_member_groups(tenant.id, user, false).await.map_err(|_| SignInError::Unavailable)?;
        let groups: Vec<uuid::Uuid> = groups.iter().map(ObjectId::as_uuid).collect();
        Ok(targets.applies_to(&groups))
    }

    /// The user's authenticator apps.
    pub async fn totp_methods(&self, tenant: &Tenant, user: ObjectId) -> Result<Vec<StoredAuthMethod>, SignInError> {
        let all = self.directory.store().auth_methods(tenant.id, user).await.map_err(|e| {
            tracing::error!(error = %e, "reading authentication methods failed");
            SignInError::Unavailable
        })?;
        Ok(all.into_iter().filter(|m| m.kind == TOTP).collect())
    }

    /// After a good password: a session at once, or, when the user has a second factor, a
    /// pending sign-in for it.
    /// `amr` says how the first step was made: `pwd`, or `tap mfa` for a Temporary Access Pass
    /// (which is enough on its own, as in Entra).
    pub async fn after_password(
        &self,
        tenant: &Tenant,
        user: User,
        amr: &str,
        binding: &str,
        persistent: bool,
    ) -> Result<Result<SignedIn, Pending>, SignInError> {
        // With security defaults off, the second factor is asked for only when conditional
        // access requires it (`step_up`).
        if amr != "pwd" || !tenant.settings.security_defaults || self.totp_methods(tenant, user.id).await?.is_empty() {
            return self.start_session(tenant, user, amr, persistent).await.map(Ok);
        }
        let now = self.directory.now();
        // The password's sign-in risk goes with the pending sign-in to the session the code starts.
        // With when the password was checked: the code completes that sign-in.
        let sign_in = crate::signin::take_assessment().map(crate::risk::Completing::from).unwrap_or_default();
        let checked_at = sign_in.checked.unwrap_or(now);
        let claims = json!({
            "tid": tenant.id, "uid": user.id, "at": now.unix_timestamp(), "exp": (now + PENDING_LIFETIME).unix_timestamp(), "kmsi": persistent,
            "risk": sign_in.risk, "rid": sign_in.request, "checked": (checked_at.unix_timestamp_nanos() / 1_000).to_string(),
        });
        let token =
            self.keys.seal_secret(&format!("pending sign-in:{binding}"), claims.to_string().as_bytes()).ok_or(SignInError::Unavailable)?;
        Ok(Err(Pending { token, user }))
    }

    /// Conditional access asks a signed-in person for a second factor: the code form's state when
    /// they have an authenticator app (the session it upgrades is replaced once the code is
    /// right), `None` when they have none.
    pub async fn step_up(
        &self,
        tenant: &Tenant,
        session: &StoredSession,
        user: &User,
        binding: &str,
    ) -> Result<Option<Pending>, SignInError> {
        if self.totp_methods(tenant, user.id).await?.is_empty() {
            return Ok(None);
        }
        let now = self.directory.now();
        let claims = json!({
            "tid": tenant.id, "uid": user.id, "at": now.unix_timestamp(), "exp": (now + PENDING_LIFETIME).unix_timestamp(),
            "kmsi": session.persistent, "sid": session.id,
        });
        let token =
            self.keys.seal_secret(&format!("pending sign-in:{binding}"), claims.to_string().as_bytes()).ok_or(SignInError::Unavailable)?;
        Ok(Some(Pending { token, user: user.clone() }))
    }

    /// Must the signed-in person verify with a second factor before changing their security info?
    /// Yes when they have one (an authenticator app or a passkey) and their session did not use
    /// it: someone holding only the password must not add their own method, or remove the
    /// person's, on an account protected by more.
    pub async fn needs_stronger_sign_in(&self, tenant: &Tenant, user: &User, session: &StoredSession) -> Result<bool, SignInError> {
        if session.amr.split_whitespace().any(|a| a == "mfa") {
            return Ok(false);
        }
        let methods = self.directory.store().auth_methods(tenant.id, user.id).await.map_err(|_| SignInError::Unavailable)?;
        Ok(methods.iter().any(|m| m.kind == TOTP || m.kind == crate::passkeys::FIDO2))
    }

    /// The second step: a code from one of the user's authenticator apps.
    pub async fn second_factor(&self, tenant: &Tenant, pending: &str, binding: &str, code: &str) -> Result<SignedIn, SignInError> {
        let now = self.directory.now();
        let opened = self
            .keys
            .open_secret(&format!("pending sign-in:{binding}"), pending)
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        let Some(claims) = opened else { return Err(SignInError::Expired) };
        let (Some(tid), Some(uid), Some(exp)) = (claims["tid"].as_str(), claims["uid"].as_str(), claims["exp"].as_i64()) else {
            return Err(SignInError::Expired);
        };
        if tid != tenant.id.to_string() || exp <= now.unix_timestamp() {
            return Err(SignInError::Expired);
        }
        let key = (tenant.id, format!("user:{uid}"));
        if let Some(until) = self.locked_until(&key, now).await {
            return Err(SignInError::Locked { until });
        }
        let user = match self.directory.user(tenant.id, uid).await {
            Ok(u) => u,
            Err(e) if e.code() == ward_core::ErrorCode::NotFound => return Err(SignInError::Expired),
            Err(_) => return Err(SignInError::Unavailable),
        };
        if !user.account_enabled {
            return Err(SignInError::Disabled);
        }
        // A step-up upgrades a session that must still be live: not ended, not expired, not
        // from before "sign out everywhere".
        let upgraded = match claims["sid"].as_str().and_then(|s| s.parse::<uuid::Uuid>().ok()) {
            None => None,
            Some(sid) => {
                let found = self.directory.store().session_by_id(tenant.id, sid).await.map_err(|_| SignInError::Unavailable)?;
                let micros = |t: time::OffsetDateTime| t.unix_timestamp_nanos() / 1_000;
                let live = found.filter(|s| {
                    s.user_id == user.id
                        && s.ended_at.is_none()
                        && s.expires_at > now
                        && s.idle_until.is_none_or(|i| i > now)
                        && micros(s.auth_time) >= micros(user.sign_in_sessions_valid_from_date_time)
                });
                Some(live.ok_or(SignInError::Expired)?)
            }
        };
        for m in self.totp_methods(tenant, user.id).await? {
            let Some(secret) = m.secret_sealed.as_deref().and_then(|s| self.keys.open_secret(&format!("totp:{}", m.id), s)) else {
                continue;
            };
            if let Some(step) = totp::verify(&secret, code, now.unix_timestamp(), m.last_step) {
                let fresh = self.directory.store().use_otp_step(tenant.id, m.id, step).await.map_err(|_| SignInError::Unavailable)?;
                if fresh {
                    self.clear_failures(&key).await;
                    let persistent = claims["kmsi"].as_bool() == Some(true);
                    // A step-up replaces the session it upgraded, keeping when the person signed in
                    // and when that sign-in ends: the second factor does not make the first fresh.
                    let kept = upgraded.as_ref().map(|s| (s.auth_time, s.expires_at));
                    // The sign-in's risk stays with it: the upgraded session's, or the password's;
                    // and so does when it was made (the password's check).
                    let sign_in = match &upgraded {
                        Some(s) => crate::risk::Completing {
                            risk: s.sign_in_risk.clone(),
                            request: s.sign_in_request.clone(),
                            ..Default::default()
                        },
                        None => {
                            // When the password was checked: the sign-in's time. It must be there,
                            // in the last ten minutes (with a minute for clocks between nodes),
                            // and not before the user's sessions were revoked.
                            let checked = claims["checked"]
                                .as_str()
                                .and_then(|c| c.parse::<i128>().ok())
                                .and_then(|us| time::OffsetDateTime::from_unix_timestamp_nanos(us * 1_000).ok())
                                .filter(|t| *t <= now + Duration::minutes(1) && *t > now - PENDING_LIFETIME)
                                .ok_or(SignInError::Expired)?;
                            use crate::grants::user::micros;
                            if micros(checked) < micros(user.sign_in_sessions_valid_from_date_time) {
                                return Err(SignInError::Expired);
                            }
                            crate::risk::Completing {
                                risk: claims["risk"].as_str().unwrap_or_default().to_string(),
                                request: claims["rid"].as_str().unwrap_or_default().to_string(),
                                checked: Some(checked),
                                facts: None,
                            }
                        }
                    };
                    let signed_in = self.start_session_from(tenant, user, "pwd otp mfa", persistent, kept, Some(sign_in)).await?;
                    if let Some(old) = &upgraded
                        && let Err(e) = self.directory.store().end_session(old.id, now).await
                    {
                        tracing::warn!(error = %e, "could not end the session a step-up replaced");
                    }
                    return Ok(signed_in);
                }
            }
        }
        self.record_failure(key, now).await;
        tracing::info!(tenant = %tenant.id, "sign-in failed: wrong one-time code");
        Err(SignInError::BadCode)
    }

    /// Starts a browser session; `persistent` when the person chose to stay signed in.
    pub(crate) async fn start_session(&self, tenant: &Tenant, user: User, amr: &str, persistent: bool) -> Result<SignedIn, SignInError> {
        self.start_session_from(tenant, user, amr, persistent, None, None).await
    }

    /// [`Self::start_session`], keeping a step-up's earlier sign-in time and end when given, and
    /// with the sign-in it completes when given; else the verdict this request's first factor
    /// left (see [`crate::risk`]).
    async fn start_session_from(
        &self,
        tenant: &Tenant,
        user: User,
        amr: &str,
        persistent: bool,
        kept: Option<(time::OffsetDateTime, time::OffsetDateTime)>,
        sign_in: Option<crate::risk::Completing>,
    ) -> Result<SignedIn, SignInError> {
        let sign_in = sign_in.or_else(|| crate::signin::take_assessment().map(crate::risk::Completing::from)).unwrap_or_default();
        let crate::risk::Completing { risk: sign_in_risk, request: sign_in_request, checked, facts } = sign_in;
        let now = self.directory.now();
        // The person authenticated when their first factor was checked (a step-up keeps the
        // sign-in it upgrades): that is the sign-in's time, which its detections carry too.
        let step_up = kept.is_some();
        let kept = kept.or_else(|| checked.map(|at| (at, at + if persistent { PERSISTENT_LIFETIME } else { SESSION_LIFETIME })));
        let cookie = crate::crypto::random_handle().map_err(|_| SignInError::Unavailable)?;
        let session = StoredSession {
            id: uuid::Uuid::new_v4(),
            tenant_id: tenant.id,
            user_id: user.id,
            secret_hash: crate::crypto::handle_hash(&cookie),
            auth_time: kept.map_or(now, |k| k.0),
            amr: amr.into(),
            expires_at: kept.map_or(now + if persistent { PERSISTENT_LIFETIME } else { SESSION_LIFETIME }, |k| k.1),
            ended_at: None,
            idle_until: Some(now + if persistent { PERSISTENT_IDLE } else { SESSION_IDLE }),
            persistent,
            sign_in_risk,
            sign_in_request,
        };
        self.directory.store().create_session(&session).await.map_err(|e| {
            tracing::error!(error = %e, "creating the session failed");
            SignInError::Unavailable
        })?;
        // A step-up is the same sign-in: nothing new to learn from, but its MFA may remediate.
        self.sign_in_completed(tenant, user.id, (&session.sign_in_risk, session.auth_time), amr, facts, !step_up).await;
        tracing::info!(tenant = %tenant.id, user = %user.id, session = %session.id, amr, "signed in");
        Ok(SignedIn { cookie, session, user })
    }

    /// Starts adding an authenticator app for the signed-in `user` of `session`.
    pub fn begin_totp_enrollment(&self, tenant: &Tenant, user: &User, session: &StoredSession) -> Option<Enrollment> {
        let secret = totp::generate_secret()?;
        let now = self.directory.now();
        let state = json!({ "secret": totp::base32(&secret), "uid": user.id, "exp": (now + ENROLLMENT_LIFETIME).unix_timestamp() });
        let token = self.keys.seal_secret(&format!("totp enrollment:{}:{}", tenant.id, session.id), state.to_string().as_bytes())?;
        let issuer = tenant.display_name.replace(':', " ");
        Some(Enrollment {
            secret_base32: totp::base32(&secret),
            uri: totp::otpauth_uri(&issuer, user.user_principal_name.as_str(), &secret),
            token,
        })
    }

    /// The enrollment `token` started (same secret, same token), while it is still valid.
    pub fn reopen_totp_enrollment(&self, tenant: &Tenant, user: &User, session: &StoredSession, token: &str) -> Option<Enrollment> {
        let secret = self.enrollment_secret(tenant, user, session, token).ok()?;
        let issuer = tenant.display_name.replace(':', " ");
        Some(Enrollment {
            secret_base32: totp::base32(&secret),
            uri: totp::otpauth_uri(&issuer, user.user_principal_name.as_str(), &secret),
            token: token.to_string(),
        })
    }

    fn enrollment_secret(&self, tenant: &Tenant, user: &User, session: &StoredSession, token: &str) -> Result<Vec<u8>, EnrollError> {
        let now = self.directory.now();
        let state = self
            .keys
            .open_secret(&format!("totp enrollment:{}:{}", tenant.id, session.id), token)
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .ok_or(EnrollError::Expired)?;
        if state["uid"].as_str() != Some(user.id.to_string().as_str()) || state["exp"].as_i64().is_none_or(|e| e <= now.unix_timestamp()) {
            return Err(EnrollError::Expired);
        }
        decode_base32(state["secret"].as_str().unwrap_or_default()).ok_or(EnrollError::Expired)
    }

    /// Confirms an enrollment with the app's first code; the method is saved with that step used.
    pub async fn finish_totp_enrollment(
        &self,
        tenant: &Tenant,
        user: &User,
        session: &StoredSession,
        token: &str,
        code: &str,
        display_name: &str,
    ) -> Result<StoredAuthMethod, EnrollError> {
        let now = self.directory.now();
        let secret = self.enrollment_secret(tenant, user, session, token)?;
        if !self.method_enabled(tenant, user.id, &tenant.settings.auth_methods.software_oath).await.map_err(|_| EnrollError::Unavailable)? {
            return Err(EnrollError::NotEnabled);
        }
        if self.needs_stronger_sign_in(tenant, user, session).await.map_err(|_| EnrollError::Unavailable)? {
            return Err(EnrollError::Conditional(50076, "Verify with your authenticator app or passkey before adding another method."));
        }
        if let Err((code, message)) = self.may_register_security_info(tenant, user, session).await {
            return Err(EnrollError::Conditional(code, message));
        }
        let step = totp::verify(&secret, code, now.unix_timestamp(), None).ok_or(EnrollError::WrongCode)?;
        let existing = self.directory.store().auth_methods(tenant.id, user.id).await.map_err(|_| EnrollError::Unavailable)?;
        if existing.len() >= MAX_METHODS {
            return Err(EnrollError::TooMany);
        }
        let id = uuid::Uuid::new_v4();
        let name = display_name.trim();
        let name = if name.is_empty() { "Authenticator app" } else { name };
        let name: String = name.chars().take(64).collect();
        let method = StoredAuthMethod {
            id,
            tenant_id: tenant.id,
            user_id: user.id,
            kind: TOTP.into(),
            doc: json!({ "displayName": name, "createdDateTime": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default() }),
            secret_sealed: Some(self.keys.seal_secret(&format!("totp:{id}"), &secret).ok_or(EnrollError::Unavailable)?),
            last_step: Some(step),
            created_at: now,
        };
        self.directory.store().add_auth_method(&method).await.map_err(|_| EnrollError::Unavailable)?;
        tracing::info!(tenant = %tenant.id, user = %user.id, method = %id, "authenticator app added");
        self.audit_security_info(tenant, user, "User registered security info", TOTP).await;
        Ok(method)
    }

    pub async fn remove_method(&self, tenant: &Tenant, user: &User, id: uuid::Uuid) -> Result<bool, SignInError> {
        let methods = self.directory.store().auth_methods(tenant.id, user.id).await.map_err(|_| SignInError::Unavailable)?;
        let kind = methods.iter().find(|m| m.id == id).map(|m| m.kind.clone()).unwrap_or_default();
        let removed = self.directory.store().remove_auth_method(tenant.id, user.id, id).await.map_err(|_| SignInError::Unavailable)?;
        if removed {
            self.audit_security_info(tenant, user, "User deleted security info", &kind).await;
        }
        Ok(removed)
    }

    /// Writes the audit record of a change to a person's own sign-in methods (Entra's "User
    /// registered security info" and "User deleted security info"), initiated by that person.
    pub(crate) async fn audit_security_info(&self, tenant: &Tenant, user: &User, activity: &'static str, kind: &str) {
        let (ip, request_id) = crate::signin::current_request();
        let who = json!({ "id": user.id, "userPrincipalName": user.user_principal_name.as_str(), "displayName": user.display_name, "ipAddress": ip.map(|i| i.to_string()) });
        let ctx = ward_core::audit::AuditContext {
            initiated_by: json!({ "user": who, "app": null }),
            category: "UserManagement",
            activity,
            operation_type: if activity.contains("deleted") { "Delete" } else { "Add" },
            correlation_id: request_id,
        };
        let target = json!({ "id": user.id, "type": "User", "displayName": user.display_name, "userPrincipalName": user.user_principal_name.as_str(),
            "modifiedProperties": [{ "displayName": "authenticationMethod", "oldValue": null, "newValue": kind }] });
        if let Err(e) = self.directory.audit_success(tenant.id, &ctx, vec![target]).await {
            tracing::warn!(error = %e, "could not record a security-info change in the audit log");
        }
    }
}

fn decode_base32(s: &str) -> Option<Vec<u8>> {
    let (mut out, mut buffer, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// Why a password change was refused.
#[derive(Debug, PartialEq)]
pub enum ChangeError {
    WrongCurrent,
    Locked {
        until: time::OffsetDateTime,
    },
    /// The new password breaks the tenant's policy; the message says how.
    Policy(String),
    Unavailable,
}

impl TokenService {
    /// A signed-in person changes their own password: the current one is checked (with the
    /// account's lockout), the new one against the tenant's policy; "change at next sign-in" is
    /// then cleared.
    /// `secured`: the session proved more than a password (MFA): the change then remediates the
    /// user's risk.
    pub async fn change_own_password(
        &self,
        tenant: &Tenant,
        user: &User,
        current: &str,
        new: &str,
        secured: bool,
    ) -> Result<(), ChangeError> {
        let now = self.directory.now();
        let key = (tenant.id, format!("user:{}", user.id));
        if let Some(until) = self.locked_until(&key, now).await {
            return Err(ChangeError::Locked { until });
        }
        let ok = self.directory.verify_password(tenant.id, user.id, current).await.map_err(|_| ChangeError::Unavailable)?;
        if !ok {
            self.record_failure(key, now).await;
            return Err(ChangeError::WrongCurrent);
        }
        self.clear_failures(&key).await;
        match self.directory.set_own_password(tenant.id, user.id, new, secured).await {
            Ok(()) => {
                tracing::info!(tenant = %tenant.id, user = %user.id, "password changed by its user");
                Ok(())
            }
            Err(e) if e.code() == ward_core::ErrorCode::InvalidValue => Err(ChangeError::Policy(e.to_string())),
            Err(_) => Err(ChangeError::Unavailable),
        }
    }
}

pub const TAP: &str = "tap";
/// Temporary Access Pass lifetimes an administrator may choose (Entra's range), in minutes.
pub const TAP_MIN_MINUTES: i64 = 10;
pub const TAP_MAX_MINUTES: i64 = 43_200;
const TAP_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
const TAP_LENGTH: usize = 16;

/// A Temporary Access Pass as issued: the pass itself is shown once, here, and kept only hashed.
pub struct IssuedPass {
    pub method: StoredAuthMethod,
    pub pass: String,
}

/// Is a pass usable at `now` (started, not expired)?
pub fn tap_usable(m: &StoredAuthMethod, now: time::OffsetDateTime) -> bool {
    let start =
        m.doc["startDateTime"].as_str().and_then(|s| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok());
    let minutes = m.doc["lifetimeInMinutes"].as_i64().unwrap_or(0);
    start.is_some_and(|s| s <= now && now < s + Duration::minutes(minutes))
}

impl TokenService {
    /// Issues a pass for `user` (replacing any earlier one: one at a time, as in Entra).
    pub async fn issue_tap(
        &self,
        tenant: &Tenant,
        user: &User,
        start: Option<time::OffsetDateTime>,
        lifetime_minutes: i64,
        usable_once: bool,
    ) -> Result<IssuedPass, EnrollError> {
        if !(TAP_MIN_MINUTES..=TAP_MAX_MINUTES).contains(&lifetime_minutes) {
            return Err(EnrollError::Expired);
        }
        if !self
            .method_enabled(tenant, user.id, &tenant.settings.auth_methods.temporary_access_pass)
            .await
            .map_err(|_| EnrollError::Unavailable)?
        {
            return Err(EnrollError::NotEnabled);
        }
        let now = self.directory.now();
        let start = start.unwrap_or(now).max(now - Duration::minutes(1));
        // Uniform letters: bytes past the last whole multiple of the alphabet are drawn again.
        let limit = 256 - 256 % TAP_ALPHABET.len();
        let mut pass = String::with_capacity(TAP_LENGTH);
        while pass.len() < TAP_LENGTH {
            let mut raw = [0u8; 32];
            aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), &mut raw).map_err(|_| EnrollError::Unavailable)?;
            pass.extend(raw.iter().filter(|b| (**b as usize) < limit).map(|b| TAP_ALPHABET[*b as usize % TAP_ALPHABET.len()] as char));
            pass.truncate(TAP_LENGTH);
        }
        let store = self.directory.store();
        for old in store.auth_methods(tenant.id, user.id).await.map_err(|_| EnrollError::Unavailable)?.into_iter().filter(|m| m.kind == TAP)
        {
            store.remove_auth_method(tenant.id, user.id, old.id).await.map_err(|_| EnrollError::Unavailable)?;
        }
        let rfc = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let method = StoredAuthMethod {
            id: uuid::Uuid::new_v4(),
            tenant_id: tenant.id,
            user_id: user.id,
            kind: TAP.into(),
            doc: json!({ "createdDateTime": rfc(now), "startDateTime": rfc(start), "lifetimeInMinutes": lifetime_minutes, "isUsableOnce": usable_once }),
            // A random pass: its SHA-256 is enough (nothing to guess from), as for client secrets.
            secret_sealed: Some(ward_directory::secrets::hash_client_secret(&pass)),
            last_step: None,
            created_at: now,
        };
        store.add_auth_method(&method).await.map_err(|_| EnrollError::Unavailable)?;
        tracing::info!(tenant = %tenant.id, user = %user.id, "temporary access pass issued");
        Ok(IssuedPass { method, pass })
    }

    /// Signs in with a Temporary Access Pass in place of the password: true when `presented` is
    /// the user's usable pass (a one-time pass is gone after this, on every node).
    pub(crate) async fn redeem_tap(&self, tenant: &Tenant, user: &User, presented: &str) -> bool {
        let now = self.directory.now();
        let store = self.directory.store();
        let Ok(methods) = store.auth_methods(tenant.id, user.id).await else { return false };
        if !methods.iter().any(|m| m.kind == TAP)
            || !self.method_enabled(tenant, user.id, &tenant.settings.auth_methods.temporary_access_pass).await.unwrap_or(false)
        {
            return false;
        }
        for m in methods.into_iter().filter(|m| m.kind == TAP) {
            let Some(hash) = m.secret_sealed.as_deref() else { continue };
            if !tap_usable(&m, now) || !ward_directory::secrets::verify_client_secret(presented, hash) {
                continue;
            }
            if m.doc["isUsableOnce"].as_bool() == Some(true) {
                return store.remove_auth_method(tenant.id, user.id, m.id).await.unwrap_or(false);
            }
            return true;
        }
        false
    }
}
