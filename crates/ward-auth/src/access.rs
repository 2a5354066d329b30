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
#[derive(Debug)]
pub struct Access {
    /// `None` when the tenant has no active policy (nothing was evaluated).
    pub evaluation: Option<Evaluation>,
    pub decision: Decision,
    /// The user is an emergency-access account: the decision above is `Allow` whatever the
    /// policies said (`evaluation` has what they said).
    pub emergency: bool,
}

impl Access {
    fn allow() -> Access {
        Access { evaluation: None, decision: Decision::Allow, emergency: false }
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

fn unavailable(e: ward_core::DirectoryError) -> OAuthError {
    tracing::error!(error = %e, "reading conditional access policies failed");
    OAuthError::temporarily_unavailable()
}

impl TokenService {
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
        amr: &str,
        flow: Flow,
    ) -> Result<Access, OAuthError> {
        let set = self.policy_set(tenant.id, head).await?;
        if !set.is_active() {
            return Ok(Access::allow());
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
        let id = user.id.to_string();
        let client_app = client.app_id.to_string();
        let resource = resource_app.map(|r| r.to_string()).unwrap_or_else(|| ward_core::permissions::GRAPH_APP_ID.to_string());
        let apps = [client_app.as_str(), resource.as_str()];
        let amr: Vec<&str> = amr.split_whitespace().collect();
        let (ip, _) = crate::signin::current_request();
        let facts = Facts {
            subject: Subject::User { id: &id, groups: &groups, roles: &roles, guest: user.user_type == UserType::Guest },
            applications: &apps,
            user_action: None,
            client_app_type: Some(if public { ClientAppType::MobileAppsAndDesktopClients } else { ClientAppType::Browser }),
            platform: crate::signin::current_platform(),
            ip,
            // No geolocation yet: every address is of an unknown country.
            country: None,
            // No risk detections yet: every sign-in and user is at risk "none".
            sign_in_risk: None,
            user_risk: None,
            // No device registry yet: every device is unregistered.
            device: DeviceFact::Unregistered,
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
        Ok(Access { evaluation: Some(evaluation), decision, emergency })
    }

    /// Conditional access for a user's token at the token endpoint: `Err` with Entra's error when
    /// the policies do not allow it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn enforce_for_user(
        &self,
        resolved: &crate::token::ResolvedTenant,
        user: &User,
        client: &ServicePrincipal,
        public: bool,
        resource: &ward_core::permissions::Resource,
        amr: &str,
        flow: Flow,
    ) -> Result<(), OAuthError> {
        let access = self.access_for_user(&resolved.tenant, resolved.head, user, client, public, Some(resource.app_id), amr, flow).await?;
        access.token_error(&resource.display_name).map_or(Ok(()), Err)
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
            country: None,
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
        Ok(Access { evaluation: Some(evaluation), decision, emergency: false })
    }
}
