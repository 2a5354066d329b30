//! Conditional access where Ward issues: the tenant's policies, compiled once per change-feed
//! position, evaluated for every interactive sign-in and every token (refresh, device code,
//! on-behalf-of, client credentials). Emergency-access accounts are evaluated and never enforced.

use crate::error::OAuthError;
use crate::token::TokenService;
use std::sync::Arc;
use uuid::Uuid;
use ward_core::app::ServicePrincipal;
use ward_core::tenant::Tenant;
use ward_core::user::{User, UserType};
use ward_core::{ObjectId, TenantId};
use ward_policy::{BuiltInControl, ClientAppType, Decision, DeviceFact, Evaluation, Facts, Need, PolicySet, Subject};

/// How a user's token is being asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// The authorize endpoint, in the person's browser.
    Interactive,
    Refresh,
    DeviceCode,
    OnBehalfOf,
}

/// A conditional access evaluation and what it decides for this request.
pub struct Access {
    /// `None` when the tenant has no active policy (nothing was evaluated).
    pub evaluation: Option<Evaluation>,
    /// The policies evaluated (to name them in the sign-in log).
    pub set: Option<Arc<PolicySet>>,
    /// The registered device the request proved it comes from (its Graph document).
    pub device: Option<serde_json::Value>,
    pub decision: Decision,
    /// The user is an emergency-access account: the decision above is `Allow` whatever the
    /// policies said (`evaluation` has what they said).
    pub emergency: bool,
    /// The sign-in's risk as its session holds it (see [`crate::risk`]); empty if not judged.
    pub sign_in_risk: String,
    /// The session proved MFA: a risky sign-in was remediated by it.
    pub mfa: bool,
    /// The request that checked the sign-in's first factor (the log's `originalRequestId`).
    pub sign_in_request: String,
}

impl Access {
    fn allow() -> Access {
        Access {
            evaluation: None,
            set: None,
            decision: Decision::Allow,
            emergency: false,
            device: None,
            sign_in_risk: String::new(),
            mfa: false,
            sign_in_request: String::new(),
        }
    }

    /// The non-interactive answer for a decision other than `Allow` (token endpoint): Entra's
    /// errors and `AADSTS` codes.
    pub fn token_error(&self, resource: &str) -> Option<OAuthError> {
        match &self.decision {
            Decision::Allow => None,
            Decision::Block => Some(OAuthError::invalid_grant(
                53003,
                "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
            )),
            Decision::DeviceRequired(BuiltInControl::DomainJoinedDevice) => Some(OAuthError::invalid_grant(
                53001,
                "Device is not in required device state: domain_joined. Conditional Access policy requires a domain joined device.",
            )),
            Decision::DeviceRequired(_) => Some(OAuthError::invalid_grant(
                53000,
                "Device is not in required device state: compliant. Conditional Access policy requires a compliant device, and the device is not compliant.",
            )),
            Decision::Interrupt(needs) => Some(match needs.first() {
                Some(Need::PasswordChange) => {
                    OAuthError::other(400, "interaction_required", 50142, "Password change is required due to a conditional access policy.")
                }
                _ => OAuthError::other(
                    400,
                    "interaction_required",
                    50076,
                    format!(
                        "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{resource}'."
                    ),
                ),
            }),
        }
    }
}

/// Longest a device token may live: it is a bearer proof while it lives.
const MAX_DEVICE_TOKEN_LIFETIME: i64 = 600;
const DEVICE_CLOCK_SKEW: i64 = 60;

/// The country an address was delegated to (ISO 3166-1 alpha-2), from the Regional Internet
/// Registries' data embedded in the binary; none for private, loopback and unallocated addresses.
pub fn country_of(ip: std::net::IpAddr) -> Option<&'static str> {
    // An IPv4 client seen through an IPv6 socket (`::ffff:a.b.c.d`) is the IPv4 address.
    iptocc::country_code(ip.to_canonical())
}

fn unavailable(e: ward_core::DirectoryError) -> OAuthError {
    tracing::error!(error = %e, "reading conditional access policies failed");
    OAuthError::temporarily_unavailable()
}

impl TokenService {
    /// The user's risk for conditional access (Identity Protection's level), read only when an
    /// active policy looks at it.
    async fn user_risk_fact(
        &self,
        set: &ward_policy::PolicySet,
        tenant: ward_core::TenantId,
        user: ObjectId,
    ) -> Result<Option<ward_policy::RiskLevel>, ward_core::DirectoryError> {
        if !set.needs_user_risk() {
            return Ok(None);
        }
        let level = self.directory.user_risk_level(tenant, user).await?;
        Ok(crate::risk::policy_level(level))
    }
    /// The registered device the request proves it comes from: a JWS (`ES256`, `RS256` or
    /// `EdDSA`) signed with the key the device was registered with, `iss` = `sub` = its deviceId,
    /// `aud` = `{public url}/{tenant id}`, at most ten minutes long and not expired. Anything else
    /// (no token, a bad one, a disabled or unknown device) is an unregistered device.
    pub(crate) async fn proven_device(&self, tenant: &Tenant) -> Option<(serde_json::Value, ward_policy::device_filter::DeviceAttributes)> {
        let token = crate::signin::current_device_token()?;
        let refused = |why: &str| {
            tracing::info!(tenant = %tenant.id, reason = why, "device token refused: treated as an unregistered device");
            None
        };
        let Some(jwt) = crate::keys::parse_jwt(&token) else { return refused("not a JWS") };
        let alg = jwt.header.get("alg").and_then(serde_json::Value::as_str).unwrap_or_default();
        let claim = |k: &str| jwt.claims.get(k);
        let Some(device_id) = claim("iss").and_then(|v| v.as_str()).and_then(|s| s.parse::<Uuid>().ok()) else { return refused("iss") };
        if claim("sub").and_then(|v| v.as_str()) != Some(device_id.to_string().as_str()) {
            return refused("sub");
        }
        if claim("aud").and_then(|v| v.as_str()) != Some(format!("{}/{}", self.public_url(), tenant.id).as_str()) {
            return refused("aud");
        }
        let now = self.directory.now().unix_timestamp();
        let (Some(iat), Some(exp)) = (claim("iat").and_then(|v| v.as_i64()), claim("exp").and_then(|v| v.as_i64())) else {
            return refused("iat/exp");
        };
        let lifetime = exp.checked_sub(iat);
        if exp <= now
            || iat > now + DEVICE_CLOCK_SKEW
            || exp > now + MAX_DEVICE_TOKEN_LIFETIME + DEVICE_CLOCK_SKEW
            || lifetime.is_none_or(|l| !(1..=MAX_DEVICE_TOKEN_LIFETIME).contains(&l))
        {
            return refused("lifetime");
        }
        let doc = match self.directory.device_by_device_id(tenant.id, device_id).await {
            Ok(Some(d)) => d,
            Ok(None) => return refused("no such device"),
            Err(e) => {
                tracing::error!(error = %e, "reading a device failed");
                return None;
            }
        };
        if doc.get("accountEnabled").and_then(serde_json::Value::as_bool) != Some(true) {
            return refused("device disabled");
        }
        let key = ward_directory::devices::registered_key(&doc).and_then(|jwk| ward_core::client_key::parse_jwk(&jwk).ok());
        let Some(key) = key else { return refused("no key") };
        if !crate::client_assertion::verifies(&key, alg, jwt.signing_input.as_bytes(), &jwt.signature) {
            return refused("signature");
        }
        let attributes = ward_policy::device_attributes(&doc);
        Some((doc, attributes))
    }

    /// May the signed-in person register security information now (Entra's user action
    /// `urn:user:registersecurityinfo`), with the methods of their session? `Err` with Entra's
    /// code and a sentence for the person when a policy blocks it or asks for more first (a
    /// second factor: a Temporary Access Pass counts).
    pub async fn may_register_security_info(
        &self,
        tenant: &Tenant,
        user: &User,
        session: &ward_core::store::StoredSession,
    ) -> Result<(), (u32, &'static str)> {
        self.may_change_security_info(tenant, user, &session.amr, &session.sign_in_risk).await
    }

    /// [`Self::may_register_security_info`] for a sign-in known by its methods (`amr`) and risk
    /// (as a session keeps it; empty when not known): a delegated token at Graph's `/me`.
    pub async fn may_change_security_info(
        &self,
        tenant: &Tenant,
        user: &User,
        amr: &str,
        sign_in_risk: &str,
    ) -> Result<(), (u32, &'static str)> {
        let unavailable = (90033, "Ward cannot check your organization's policies right now. Try again shortly.");
        // Identity Protection: a person at risk, or in a risky sign-in, adds a method only from a
        // session that proved MFA (a Temporary Access Pass, or a method they already had).
        // Otherwise whoever holds a stolen password could add their own second factor and, with
        // it, remediate the very risk their sign-in raised.
        let mfa = amr.split_whitespace().any(|a| a == "mfa");
        if !mfa {
            let risky_sign_in = crate::risk::session_risk_level(sign_in_risk).is_some_and(|l| l >= ward_policy::RiskLevel::Medium);
            let user_level = self.directory.user_risk_level(tenant.id, user.id).await.map_err(|_| unavailable)?;
            if risky_sign_in || user_level != "none" {
                tracing::warn!(tenant = %tenant.id, user = %user.id, user_risk = user_level, "registering security info refused: at risk without MFA");
                return Err((
                    53004,
                    "Your account or this sign-in is at risk: ask your administrator for a Temporary Access Pass to add a sign-in method.",
                ));
            }
        }
        let head = self.tenant(&tenant.id.to_string()).await.map_err(|_| unavailable)?.head;
        let set = self.policy_set(tenant.id, head).await.map_err(|_| unavailable)?;
        if !set.is_active() {
            return Ok(());
        }
        let groups: Vec<String> = if set.needs_groups() {
            self.directory
                .get_member_groups(tenant.id, user.id, false)
                .await
                .map_err(|_| unavailable)?
                .iter()
                .map(ObjectId::to_string)
                .collect()
        } else {
            Vec::new()
        };
        let roles: Vec<String> =
            if set.needs_roles() { self.directory.roles_of(tenant.id, user.id).await.map_err(|_| unavailable)? } else { Vec::new() };
        let user_risk = self.user_risk_fact(&set, tenant.id, user.id).await.map_err(|_| unavailable)?;
        let id = user.id.to_string();
        let amr: Vec<&str> = amr.split_whitespace().collect();
        let (ip, _) = crate::signin::current_request();
        let device = self.proven_device(tenant).await;
        let facts = Facts {
            subject: Subject::User { id: &id, groups: &groups, roles: &roles, guest: user.user_type == UserType::Guest },
            applications: &[],
            user_action: Some("urn:user:registersecurityinfo"),
            client_app_type: Some(ClientAppType::Browser),
            platform: crate::signin::current_platform(),
            ip,
            country: ip.and_then(country_of),
            sign_in_risk: crate::risk::session_risk_level(sign_in_risk),
            user_risk,
            device: match &device {
                Some((_, a)) => DeviceFact::Registered(a),
                None => DeviceFact::Unregistered,
            },
            device_code_flow: Some(false),
            amr: &amr,
            password_changed: false,
            complete: true,
        };
        let decision = set.evaluate(&facts).decision;
        if tenant.settings.emergency_access_accounts.contains(&user.id) {
            return Ok(());
        }
        match decision {
            Decision::Allow => Ok(()),
            Decision::Block | Decision::DeviceRequired(_) => {
                tracing::info!(tenant = %tenant.id, user = %user.id, "registering security info refused by conditional access");
                Err((53003, "Your organization's policies do not let you add sign-in methods from here."))
            }
            Decision::Interrupt(_) => Err((
                50076,
                "Your organization asks for a second verification before you add a sign-in method: sign in again with a method you already have, or with a Temporary Access Pass from your administrator.",
            )),
        }
    }

    /// The tenant's policies and named locations as of feed position `head`, compiled.
    pub(crate) async fn policy_set(&self, tenant: TenantId, head: i64) -> Result<Arc<PolicySet>, OAuthError> {
        if let Some((at, set)) = self.at_head.lock().unwrap_or_else(|e| e.into_inner()).policies.get(&tenant)
            && *at == head
        {
            return Ok(set.clone());
        }
        let policies = self.directory.ca_policies(tenant).await.map_err(unavailable)?;
        let locations = self.directory.named_locations(tenant).await.map_err(unavailable)?;
        let set = Arc::new(PolicySet::new(&policies, locations));
        let mut cache = self.at_head.lock().unwrap_or_else(|e| e.into_inner());
        if cache.policies.len() >= crate::token::HeadCache::MAX {
            cache.policies.clear();
        }
        cache.policies.insert(tenant, (head, set.clone()));
        Ok(set)
    }

    /// Conditional access for a user's sign-in to `client` (a token for `resource_app`), with the
    /// methods used so far (`amr`, space-separated).
    #[allow(clippy::too_many_arguments)]
    pub async fn access_for_user(
        &self,
        tenant: &Tenant,
        head: i64,
        user: &User,
        client: &ServicePrincipal,
        public: bool,
        resource_app: Option<Uuid>,
        (amr, sign_in_risk, sign_in_request): (&str, &str, &str),
        flow: Flow,
    ) -> Result<Access, OAuthError> {
        let set = self.policy_set(tenant.id, head).await?;
        let mfa = amr.split_whitespace().any(|a| a == "mfa");
        if !set.is_active() {
            let (sign_in_risk, sign_in_request) = (sign_in_risk.to_string(), sign_in_request.to_string());
            return Ok(Access { sign_in_risk, mfa, sign_in_request, ..Access::allow() });
        }
        let groups: Vec<String> = if set.needs_groups() {
            let mut g: Vec<String> = self
                .directory
                .get_member_groups(tenant.id, user.id, false)
                .await
                .map_err(unavailable)?
                .iter()
                .map(ObjectId::to_string)
                .collect();
            g.sort();
            g
        } else {
            Vec::new()
        };
        let roles: Vec<String> = if set.needs_roles() {
            let mut r: Vec<String> = self
                .directory
                .roles_of(tenant.id, user.id)
                .await
                .map_err(unavailable)?
                .into_iter()
                .map(|r| r.to_ascii_lowercase())
                .collect();
            r.sort();
            r
        } else {
            Vec::new()
        };
        let user_risk = self.user_risk_fact(&set, tenant.id, user.id).await.map_err(unavailable)?;
        let id = user.id.to_string();
        let client_app = client.app_id.to_string();
        let resource = resource_app.map(|r| r.to_string()).unwrap_or_else(|| ward_core::permissions::GRAPH_APP_ID.to_string());
        let apps = [client_app.as_str(), resource.as_str()];
        let amr: Vec<&str> = amr.split_whitespace().collect();
        let (ip, _) = crate::signin::current_request();
        let device = self.proven_device(tenant).await;
        let facts = Facts {
            subject: Subject::User { id: &id, groups: &groups, roles: &roles, guest: user.user_type == UserType::Guest },
            applications: &apps,
            user_action: None,
            client_app_type: Some(if public { ClientAppType::MobileAppsAndDesktopClients } else { ClientAppType::Browser }),
            platform: crate::signin::current_platform(),
            ip,
            country: ip.and_then(country_of),
            sign_in_risk: crate::risk::session_risk_level(sign_in_risk),
            user_risk,
            device: match &device {
                Some((_, attributes)) => DeviceFact::Registered(attributes),
                None => DeviceFact::Unregistered,
            },
            device_code_flow: Some(flow == Flow::DeviceCode),
            amr: &amr,
            password_changed: false,
            complete: true,
        };
        let evaluation = set.evaluate(&facts);
        let emergency = tenant.settings.emergency_access_accounts.contains(&user.id);
        let decision = if emergency {
            tracing::warn!(tenant = %tenant.id, user = %user.id, would = ?evaluation.decision, "emergency-access account signing in: conditional access not enforced");
            Decision::Allow
        } else {
            evaluation.decision.clone()
        };
        if decision != Decision::Allow {
            tracing::info!(tenant = %tenant.id, user = %user.id, client = %client.app_id, ?flow, ?decision, "conditional access did not allow");
        }
        Ok(Access {
            evaluation: Some(evaluation),
            set: Some(set),
            decision,
            emergency,
            device: device.map(|d| d.0),
            sign_in_risk: sign_in_risk.to_string(),
            mfa,
            sign_in_request: sign_in_request.to_string(),
        })
    }

    /// Conditional access for a user's token at the token endpoint: `Err` with Entra's error when
    /// the policies do not allow it, or when the sign-in (`auth_time`, when known) is older than
    /// their sign-in frequency.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn enforce_for_user(
        &self,
        resolved: &crate::token::ResolvedTenant,
        user: &User,
        client: &ServicePrincipal,
        public: bool,
        resource: &ward_core::permissions::Resource,
        (amr, auth_time): (&str, Option<i64>),
        flow: Flow,
    ) -> Result<(), OAuthError> {
        // A token request is no new sign-in: no sign-in risk of its own.
        let access =
            self.access_for_user(&resolved.tenant, resolved.head, user, client, public, Some(resource.app_id), (amr, "", ""), flow).await?;
        let now = self.directory.now().unix_timestamp();
        let too_old = access.decision == Decision::Allow
            && !access.emergency
            && matches!(
                (access.evaluation.as_ref().and_then(|e| e.session.sign_in_frequency_secs), auth_time),
                (Some(limit), Some(at)) if now.saturating_sub(at) > i64::try_from(limit).unwrap_or(i64::MAX)
            );
        let refused = if too_old {
            Some(OAuthError::invalid_grant(
                70044,
                "The session has expired or is invalid due to sign-in frequency checks by conditional access.",
            ))
        } else {
            access.token_error(&resource.display_name)
        };
        let code = refused.as_ref().and_then(|e| e.description.strip_prefix("AADSTS")?.split(':').next()?.parse::<u32>().ok());
        self.log_sign_in(SignInEvent {
            tenant: resolved.tenant.id,
            user: Some(user),
            attempted_name: None,
            service_principal: None,
            app: Some((client.app_id, client.display_name.as_str())),
            resource: Some((resource.app_id.to_string(), resource.display_name.as_str())),
            interactive: false,
            public,
            error: refused.as_ref().map(|e| (code.unwrap_or(0), e.description.as_str())),
            interrupted: false,
            access: Some(&access),
        });
        refused.map_or(Ok(()), Err)
    }

    /// Conditional access for a device-code sign-in the person is about to approve in their
    /// browser (the device's app, as a native client, for the resource it asked for): asked here,
    /// a step-up can happen in the browser, before the device polls.
    pub async fn device_access(
        &self,
        tenant: &Tenant,
        session: &ward_core::store::StoredSession,
        user: &User,
        pending: &crate::grants::device::PendingDevice,
    ) -> Result<Access, OAuthError> {
        let head = self.tenant(&tenant.id.to_string()).await?.head;
        let sp = self
            .directory
            .service_principal_by_app_id(tenant.id, pending.app.app_id)
            .await
            .map_err(|_| OAuthError::temporarily_unavailable())?;
        self.access_for_user(
            tenant,
            head,
            user,
            &sp,
            true,
            Some(pending.resource.app_id),
            (&session.amr, &session.sign_in_risk, &session.sign_in_request),
            Flow::DeviceCode,
        )
        .await
    }

    /// Conditional access for a workload identity's token (client credentials).
    pub async fn access_for_app(
        &self,
        tenant: &Tenant,
        head: i64,
        sp: &ServicePrincipal,
        resource_app: &str,
    ) -> Result<Access, OAuthError> {
        let set = self.policy_set(tenant.id, head).await?;
        if !set.is_active() {
            return Ok(Access::allow());
        }
        let id = sp.id.to_string();
        let apps = [resource_app];
        let (ip, _) = crate::signin::current_request();
        let facts = Facts {
            subject: Subject::ServicePrincipal { id: &id, risk: None },
            applications: &apps,
            user_action: None,
            client_app_type: None,
            platform: None,
            ip,
            country: ip.and_then(country_of),
            sign_in_risk: None,
            user_risk: None,
            device: DeviceFact::Unregistered,
            device_code_flow: Some(false),
            amr: &[],
            password_changed: false,
            complete: true,
        };
        let evaluation = set.evaluate(&facts);
        let decision = evaluation.decision.clone();
        if decision != Decision::Allow {
            tracing::info!(tenant = %tenant.id, service_principal = %sp.id, ?decision, "conditional access did not allow a workload identity");
        }
        Ok(Access {
            evaluation: Some(evaluation),
            set: Some(set),
            decision,
            emergency: false,
            device: None,
            sign_in_risk: String::new(),
            mfa: false,
            sign_in_request: String::new(),
        })
    }
}

/// One decided sign-in or token request, for the sign-in log.
pub struct SignInEvent<'a> {
    pub tenant: TenantId,
    pub user: Option<&'a User>,
    /// The name typed, when no such user exists.
    pub attempted_name: Option<&'a str>,
    /// A workload identity's own sign-in (client credentials).
    pub service_principal: Option<&'a ServicePrincipal>,
    /// The client application: appId and name.
    pub app: Option<(Uuid, &'a str)>,
    /// The resource the token is for: appId and name.
    pub resource: Option<(String, &'a str)>,
    pub interactive: bool,
    /// A public client (native or single-page app).
    pub public: bool,
    /// 0 and `None` on success; else the `AADSTS` code and why.
    pub error: Option<(u32, &'a str)>,
    /// The person was asked for more (MFA, a new password): not yet success or failure.
    pub interrupted: bool,
    pub access: Option<&'a Access>,
}

fn stamp(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl TokenService {
    /// Records a decided sign-in (queued: see [`crate::sign_in_log`]).
    pub fn log_sign_in(&self, e: SignInEvent) {
        use serde_json::{Value, json};
        use ward_policy::PolicyResult;
        let now = self.directory.now();
        let (ip, request_id) = crate::signin::current_request();
        let platform = crate::signin::current_platform().map(|p| json!(p)).unwrap_or(json!(""));
        let mut applied = Vec::new();
        let (mut enforced_any, mut all_met, mut multifactor) = (false, true, false);
        let emergency = e.access.is_some_and(|a| a.emergency);
        if let Some(access) = e.access
            && let (Some(ev), Some(set)) = (&access.evaluation, &access.set)
        {
            for o in &ev.policies {
                let Some(s) = set.summary(o.index) else { continue };
                let enforced = matches!(o.result, PolicyResult::Success | PolicyResult::Failure | PolicyResult::Interrupted);
                if enforced && !emergency {
                    enforced_any = true;
                    all_met &= o.result == PolicyResult::Success;
                    multifactor |= s.grant_controls.iter().any(|c| c == "Mfa" || c == "RequireAuthenticationStrength");
                }
                applied.push(json!({
                    "id": s.id,
                    "displayName": s.display_name,
                    "enforcedGrantControls": if o.applies { json!(s.grant_controls) } else { json!([]) },
                    "enforcedSessionControls": if o.applies { json!(s.session_controls) } else { json!([]) },
                    "result": o.result.graph(),
                }));
            }
        }
        let ca_status = match (enforced_any, all_met) {
            (false, _) => "notApplied",
            (true, true) => "success",
            (true, false) => "failure",
        };
        let (code, reason) = e.error.unwrap_or((0, ""));
        let status = json!({
            "errorCode": code,
            "failureReason": if code == 0 { "Other." } else { reason },
            "additionalDetails": if e.interrupted {
                json!("The person was asked to complete more verification.")
            } else if emergency {
                json!("Emergency-access account: conditional access was evaluated, not enforced.")
            } else {
                Value::Null
            },
        });
        let user_id = e.user.map(|u| u.id);
        let id = Uuid::new_v4();
        let sign_in_risk = e.access.map(|a| a.sign_in_risk.as_str()).unwrap_or_default();
        let risk_level = sign_in_risk.split_whitespace().next().unwrap_or("none");
        let risk_events = crate::risk::session_risk_events(sign_in_risk);
        let remediated = e.access.is_some_and(|a| a.mfa) && risk_level != "none";
        let place = ip.map(|ip| self.locate(ip)).unwrap_or_default();
        let location = json!({
            "city": place.city, "state": place.state, "countryOrRegion": place.country,
            "geoCoordinates": match (place.latitude, place.longitude) {
                (Some(latitude), Some(longitude)) => json!({ "latitude": latitude, "longitude": longitude }),
                _ => Value::Null,
            },
        });
        let client_app_used = match (e.service_principal.is_some(), e.public) {
            (true, _) => Value::Null,
            (false, true) => json!("Mobile Apps and Desktop clients"),
            (false, false) => json!("Browser"),
        };
        let doc = json!({
            "id": id.to_string(),
            "createdDateTime": stamp(now),
            "userDisplayName": e.user.map(|u| u.display_name.clone()),
            "userPrincipalName": e.user.map(|u| u.user_principal_name.as_str().to_string()).or(e.attempted_name.map(str::to_string)),
            "userId": user_id.map(|u| u.to_string()).unwrap_or_default(),
            "appId": e.app.map(|a| a.0.to_string()),
            "appDisplayName": e.app.map(|a| a.1.to_string()),
            "servicePrincipalId": e.service_principal.map(|s| s.id.to_string()),
            "servicePrincipalName": e.service_principal.map(|s| s.display_name.clone()),
            "ipAddress": ip.map(|i| i.to_string()),
            "clientAppUsed": client_app_used,
            "correlationId": request_id,
            "originalRequestId": e.access.map(|a| a.sign_in_request.as_str()).filter(|r| !r.is_empty()).unwrap_or(request_id.as_str()),
            "conditionalAccessStatus": ca_status,
            "isInteractive": e.interactive,
            "authenticationRequirement": if multifactor { "multiFactorAuthentication" } else { "singleFactorAuthentication" },
            "riskDetail": if remediated { "userPassedMFADrivenByRiskBasedPolicy" } else { "none" },
            "riskLevelAggregated": risk_level,
            "riskLevelDuringSignIn": risk_level,
            "riskState": match (risk_level, remediated) {
                ("none", _) => "none",
                (_, true) => "remediated",
                _ => "atRisk",
            },
            "riskEventTypes_v2": risk_events,
            "resourceId": e.resource.as_ref().map(|r| r.0.clone()),
            "resourceDisplayName": e.resource.as_ref().map(|r| r.1.to_string()),
            "status": status,
            "deviceDetail": match e.access.and_then(|a| a.device.as_ref()) {
                Some(d) => json!({
                    "deviceId": d["deviceId"], "displayName": d["displayName"], "operatingSystem": d["operatingSystem"], "browser": "",
                    "isCompliant": d["isCompliant"].as_bool().unwrap_or(false), "isManaged": d["isManaged"].as_bool().unwrap_or(false),
                    "trustType": d["trustType"],
                }),
                None => json!({
                    "deviceId": "", "displayName": "", "operatingSystem": platform, "browser": "",
                    "isCompliant": false, "isManaged": false, "trustType": "",
                }),
            },
            "location": location,
            "appliedConditionalAccessPolicies": applied,
        });
        self.sign_in_log.record(ward_core::sign_in_log::SignInRecord {
            tenant_id: e.tenant,
            id,
            created: now,
            user_id,
            app_id: e.app.map(|a| a.0).or(e.service_principal.map(|s| s.app_id)),
            error_code: i64::from(code),
            conditional_access_status: ca_status.into(),
            doc,
        });
    }

    /// Stores every sign-in record queued so far (at shutdown).
    pub async fn flush_sign_in_log(&self) {
        self.sign_in_log.flush().await;
    }

    /// Sign-in records, newest first; this node's queued records are stored first.
    pub async fn sign_ins(
        &self,
        tenant: TenantId,
        query: &ward_core::sign_in_log::SignInQuery,
    ) -> Result<Vec<serde_json::Value>, ward_core::store::StoreError> {
        self.sign_in_log.flush().await;
        // What those sign-ins taught their users' profiles is stored by now too.
        self.risk.flush_profiles().await;
        self.directory.store().sign_ins(tenant, query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_come_from_the_address_ipv4_mapped_included() {
        let at = |s: &str| country_of(s.parse().unwrap());
        assert_eq!(at("8.8.8.8"), Some("US"));
        assert_eq!(at("::ffff:8.8.8.8"), Some("US"), "an IPv4 client on an IPv6 socket");
        assert_eq!(at("1.0.16.1"), Some("JP"));
        assert_eq!(at("127.0.0.1"), None);
        assert_eq!(at("10.1.2.3"), None);
    }
}
