//! Conditional access policies and named locations, stored as directory objects in Graph's JSON:
//! every change is in the change feed (so caches keyed by the feed position see it at once) and,
//! inside an audited call, in the audit log, in the same transaction.

use crate::{Directory, Result};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use ward_core::store::WriteOp;
use ward_core::{DirectoryError, ObjectId, ObjectKind, TenantId};
use ward_policy::{NamedLocation, Policy, PolicyError, location_json, merge, parse_location, parse_policy, policy_json, stored_policy};

/// Most policies and named locations per tenant. Entra stops at 195 policies; Ward evaluates a
/// thousand in well under a millisecond (docs/benchmarks.md), so the cap is only against abuse.
pub const MAX_POLICIES: usize = 5_000;
pub const MAX_LOCATIONS: usize = 1_000;
/// Most IP ranges over all of a tenant's named locations (each holds at most 2,000).
pub const MAX_TENANT_RANGES: usize = 50_000;

fn refused(e: PolicyError) -> DirectoryError {
    DirectoryError::invalid("body", e.0)
}

impl Directory {
    fn stamp(&self) -> String {
        self.clock.now().format(&Rfc3339).unwrap_or_default()
    }

    /// Every policy of the tenant, in id order.
    pub async fn ca_policies(&self, tenant: TenantId) -> Result<Vec<Policy>> {
        let docs: Vec<Value> = self.all_of(tenant, ObjectKind::ConditionalAccessPolicy).await?;
        docs.iter().map(|d| stored_policy(d).map_err(|e| DirectoryError::Internal(e.0))).collect()
    }

    pub async fn ca_policy(&self, tenant: TenantId, id: ObjectId) -> Result<Policy> {
        let (doc, _) = self.load::<Value>(tenant, ObjectKind::ConditionalAccessPolicy, id).await?;
        stored_policy(&doc).map_err(|e| DirectoryError::Internal(e.0))
    }

    /// Every named location of the tenant, in id order.
    pub async fn named_locations(&self, tenant: TenantId) -> Result<Vec<NamedLocation>> {
        let docs: Vec<Value> = self.all_of(tenant, ObjectKind::NamedLocation).await?;
        docs.iter().map(stored_location).collect()
    }

    pub async fn named_location(&self, tenant: TenantId, id: ObjectId) -> Result<NamedLocation> {
        let (doc, _) = self.load::<Value>(tenant, ObjectKind::NamedLocation, id).await?;
        stored_location(&doc)
    }

    /// Checks a policy sent to Graph (`body`, or `patch` merged into the stored one when `id` is
    /// given) against the tenant's named locations. Nothing is written.
    pub async fn check_ca_policy(&self, tenant: TenantId, id: Option<ObjectId>, body: &Value) -> Result<Policy> {
        let locations = self.named_locations(tenant).await?;
        let exists = |l: &str| locations.iter().any(|n| n.id.eq_ignore_ascii_case(l));
        let mut doc = match id {
            Some(id) => policy_json(&self.ca_policy(tenant, id).await?),
            None => Value::Object(Default::default()),
        };
        merge(&mut doc, body);
        let mut policy = parse_policy(doc, &exists).map_err(refused)?;
        if let Some(id) = id {
            // Read-only properties keep their stored values whatever the request said.
            let stored = self.ca_policy(tenant, id).await?;
            policy.id = stored.id;
            policy.created_date_time = stored.created_date_time;
            policy.template_id = stored.template_id;
        }
        Ok(policy)
    }

    /// Stores a new policy (checked by [`Self::check_ca_policy`]).
    pub async fn create_ca_policy(&self, tenant: TenantId, mut policy: Policy) -> Result<Policy> {
        if self.store.count_objects(tenant, ObjectKind::ConditionalAccessPolicy, false).await? >= MAX_POLICIES as i64 {
            return Err(DirectoryError::invalid("body", format!("A tenant has at most {MAX_POLICIES} conditional access policies.")));
        }
        let id = self.new_id();
        policy.id = id.to_string();
        policy.created_date_time = Some(self.stamp());
        policy.modified_date_time = None;
        policy.template_id = None;
        let op = WriteOp::Insert { kind: ObjectKind::ConditionalAccessPolicy, id, unique_key: None, doc: policy_json(&policy) };
        self.commit(tenant, vec![op]).await?;
        Ok(policy)
    }

    /// Replaces a stored policy with `policy` (the stored one with a PATCH merged in and checked).
    pub async fn update_ca_policy(&self, tenant: TenantId, id: ObjectId, mut policy: Policy) -> Result<()> {
        let (_, stored) = self.load::<Value>(tenant, ObjectKind::ConditionalAccessPolicy, id).await?;
        policy.modified_date_time = Some(self.stamp());
        let op = WriteOp::Update {
            kind: ObjectKind::ConditionalAccessPolicy,
            id,
            unique_key: None,
            doc: policy_json(&policy),
            expected_version: stored.version,
        };
        self.commit(tenant, vec![op]).await?;
        Ok(())
    }

    pub async fn delete_ca_policy(&self, tenant: TenantId, id: ObjectId) -> Result<()> {
        self.load::<Value>(tenant, ObjectKind::ConditionalAccessPolicy, id).await?;
        self.commit(tenant, vec![WriteOp::Purge { kind: ObjectKind::ConditionalAccessPolicy, id }]).await?;
        Ok(())
    }

    /// Refuses a location whose ranges would take the tenant past [`MAX_TENANT_RANGES`].
    async fn ranges_fit(&self, tenant: TenantId, location: &NamedLocation) -> Result<()> {
        let count = |l: &NamedLocation| match &l.kind {
            ward_policy::LocationKind::Ip { ranges, .. } => ranges.len(),
            ward_policy::LocationKind::Country { .. } => 0,
        };
        let others: usize =
            self.named_locations(tenant).await?.iter().filter(|l| !l.id.eq_ignore_ascii_case(&location.id)).map(count).sum();
        if others + count(location) > MAX_TENANT_RANGES {
            return Err(DirectoryError::invalid(
                "ipRanges",
                format!("a tenant's named locations hold at most {MAX_TENANT_RANGES} IP ranges"),
            ));
        }
        Ok(())
    }

    /// Graph's `POST /identity/conditionalAccess/namedLocations`.
    pub async fn create_named_location(&self, tenant: TenantId, body: &Value) -> Result<NamedLocation> {
        let mut location = parse_location(body).map_err(refused)?;
        self.ranges_fit(tenant, &location).await?;
        if self.store.count_objects(tenant, ObjectKind::NamedLocation, false).await? >= MAX_LOCATIONS as i64 {
            return Err(DirectoryError::invalid("body", format!("A tenant has at most {MAX_LOCATIONS} named locations.")));
        }
        let id = self.new_id();
        location.id = id.to_string();
        location.created_date_time = Some(self.stamp());
        let op = WriteOp::Insert { kind: ObjectKind::NamedLocation, id, unique_key: None, doc: location_json(&location) };
        self.commit(tenant, vec![op]).await?;
        Ok(location)
    }

    /// A `PATCH …/namedLocations/{id}` merged into the stored location and checked
    /// (`@odata.type` is required and must not change kind), with the version it was read at.
    /// Nothing is written.
    pub async fn check_named_location(&self, tenant: TenantId, id: ObjectId, patch: &Value) -> Result<(NamedLocation, i64)> {
        let (mut doc, stored) = self.load::<Value>(tenant, ObjectKind::NamedLocation, id).await?;
        let kind = doc.get("@odata.type").cloned();
        if patch.get("@odata.type") != kind.as_ref() {
            return Err(DirectoryError::invalid("@odata.type", "must be given and name the location's own kind"));
        }
        merge(&mut doc, patch);
        let mut location = parse_location(&doc).map_err(refused)?;
        let before = stored_location(&stored.doc)?;
        location.id = before.id;
        location.created_date_time = before.created_date_time;
        self.ranges_fit(tenant, &location).await?;
        Ok((location, stored.version))
    }

    /// Stores a location checked by [`Self::check_named_location`], unless it changed since.
    pub async fn update_named_location(&self, tenant: TenantId, (mut location, version): (NamedLocation, i64)) -> Result<()> {
        let id: ObjectId = location.id.parse().map_err(|_| DirectoryError::Internal("a named location without an id".into()))?;
        location.modified_date_time = Some(self.stamp());
        let op = WriteOp::Update {
            kind: ObjectKind::NamedLocation,
            id,
            unique_key: None,
            doc: location_json(&location),
            expected_version: version,
        };
        self.commit(tenant, vec![op]).await?;
        Ok(())
    }

    /// Graph's `DELETE …/namedLocations/{id}`: refused while trusted (un-trust it first, as Entra
    /// asks) or while a policy names it.
    pub async fn delete_named_location(&self, tenant: TenantId, id: ObjectId) -> Result<()> {
        let location = self.named_location(tenant, id).await?;
        if location.is_trusted() {
            return Err(DirectoryError::invalid("isTrusted", "a trusted location must be marked untrusted before it is deleted"));
        }
        let key = id.to_string();
        let used = self.ca_policies(tenant).await?.into_iter().find(|p| {
            p.conditions
                .locations
                .as_ref()
                .is_some_and(|l| l.include_locations.iter().chain(&l.exclude_locations).any(|x| x.eq_ignore_ascii_case(&key)))
        });
        if let Some(p) = used {
            return Err(DirectoryError::invalid("id", format!("the location is used by the policy '{}' ({})", p.display_name, p.id)));
        }
        self.commit(tenant, vec![WriteOp::Purge { kind: ObjectKind::NamedLocation, id }]).await?;
        Ok(())
    }
}

fn stored_location(doc: &Value) -> Result<NamedLocation> {
    let mut l = parse_location(doc).map_err(|e| DirectoryError::Internal(format!("a stored named location does not decode: {}", e.0)))?;
    let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
    l.id = text("id").unwrap_or_default();
    l.created_date_time = text("createdDateTime");
    l.modified_date_time = text("modifiedDateTime");
    Ok(l)
}

/// A change the lockout guard weighs: a policy created or replaced, or a named location changed.
pub enum Change<'a> {
    Policy { policy: &'a Policy, replacing: Option<ObjectId> },
    Location(&'a NamedLocation),
}

/// Who a what-if sign-in is for.
#[derive(Clone, Debug)]
pub enum WhatIfSubject {
    /// A user by object id or userPrincipalName.
    User(String),
    ServicePrincipal(ObjectId),
}

/// A sign-in to explain (Graph's `evaluate` input, or `ward policy what-if`): what is not given
/// is unknown, and a policy that depends on it is `notEnoughInformation`.
#[derive(Clone, Debug)]
pub struct WhatIf {
    pub subject: WhatIfSubject,
    /// appIds the sign-in is for.
    pub applications: Vec<String>,
    /// `urn:user:registersecurityinfo` or `urn:user:registerdevice`.
    pub user_action: Option<String>,
    pub client_app_type: Option<ward_policy::ClientAppType>,
    pub platform: Option<ward_policy::Platform>,
    pub ip: Option<std::net::IpAddr>,
    pub country: Option<String>,
    pub sign_in_risk: Option<ward_policy::RiskLevel>,
    pub user_risk: Option<ward_policy::RiskLevel>,
    pub service_principal_risk: Option<ward_policy::RiskLevel>,
    /// `None`: unknown; `Some(None)`: an unregistered device.
    pub device: Option<Option<ward_policy::device_filter::DeviceAttributes>>,
    pub device_code_flow: Option<bool>,
    /// Methods already used (`amr`): empty asks what would be required of a fresh sign-in.
    pub amr: Vec<String>,
}

impl Directory {
    /// Evaluates the tenant's policies for a sign-in that has not happened, with the same
    /// evaluator enforcement uses: every policy, why it applies or not, and the outcome.
    pub async fn what_if(&self, tenant: TenantId, input: &WhatIf) -> Result<(Vec<Policy>, ward_policy::Evaluation)> {
        use ward_policy::{DeviceFact, Facts, PolicySet, Subject};
        let policies = self.ca_policies(tenant).await?;
        let set = PolicySet::new(&policies, self.named_locations(tenant).await?);
        let (id, groups, roles, guest) = match &input.subject {
            WhatIfSubject::User(key) => {
                let user = self.user(tenant, key).await?;
                let mut groups: Vec<String> =
                    self.get_member_groups(tenant, user.id, false).await?.iter().map(ObjectId::to_string).collect();
                groups.sort();
                let mut roles: Vec<String> = self.roles_of(tenant, user.id).await?.into_iter().map(|r| r.to_ascii_lowercase()).collect();
                roles.sort();
                (user.id.to_string(), groups, roles, user.user_type == ward_core::user::UserType::Guest)
            }
            WhatIfSubject::ServicePrincipal(id) => {
                self.service_principal(tenant, *id).await?;
                (id.to_string(), Vec::new(), Vec::new(), false)
            }
        };
        let subject = match input.subject {
            WhatIfSubject::User(_) => Subject::User { id: &id, groups: &groups, roles: &roles, guest },
            WhatIfSubject::ServicePrincipal(_) => Subject::ServicePrincipal { id: &id, risk: input.service_principal_risk },
        };
        let apps: Vec<String> = input.applications.iter().map(|a| a.to_ascii_lowercase()).collect();
        let apps: Vec<&str> = apps.iter().map(String::as_str).collect();
        let amr: Vec<&str> = input.amr.iter().map(String::as_str).collect();
        let facts = Facts {
            subject,
            applications: &apps,
            user_action: input.user_action.as_deref(),
            client_app_type: input.client_app_type,
            platform: input.platform,
            ip: input.ip,
            country: input.country.as_deref(),
            sign_in_risk: input.sign_in_risk,
            user_risk: input.user_risk,
            device: match &input.device {
                None => DeviceFact::Unknown,
                Some(None) => DeviceFact::Unregistered,
                Some(Some(d)) => DeviceFact::Registered(d),
            },
            device_code_flow: input.device_code_flow,
            amr: &amr,
            password_changed: false,
            complete: false,
        };
        let evaluation = set.evaluate(&facts);
        Ok((policies, evaluation))
    }
}

impl Directory {
    /// Would the tenant's policies, with `candidate` in place of the policy `replacing` (or added),
    /// lock out the caller (`caller`, for a delegated call) or every Global Administrator, signing
    /// in to Ward's own API from `ip`? A block, or a device nobody has, is a lockout; asking for
    /// MFA is not. Emergency-access accounts are never enforced, so they are never locked out.
    /// Returns what would be locked out.
    pub async fn lockout(
        &self,
        tenant: TenantId,
        change: Change<'_>,
        caller: Option<ObjectId>,
        from: Option<(std::net::IpAddr, Option<&str>)>,
    ) -> Result<Option<String>> {
        let (ip, country) = (from.map(|f| f.0), from.and_then(|f| f.1));
        use ward_policy::{Decision, PolicySet, PolicyState};
        let mut policies = self.ca_policies(tenant).await?;
        let mut locations = self.named_locations(tenant).await?;
        match change {
            Change::Policy { policy, replacing } => {
                if policy.state != PolicyState::Enabled {
                    return Ok(None);
                }
                let key = replacing.map(|r| r.to_string());
                policies.retain(|p| Some(&p.id) != key.as_ref());
                policies.push(policy.clone());
            }
            Change::Location(l) => {
                locations.retain(|x| !x.id.eq_ignore_ascii_case(&l.id));
                locations.push(l.clone());
            }
        }
        let set = PolicySet::new(&policies, locations);
        let emergency = self.resolve_tenant(&tenant.to_string()).await?.settings.emergency_access_accounts;
        let assignments = self.role_assignments(tenant).await?;
        let admins: Vec<ObjectId> = assignments
            .iter()
            .filter(|a| a.role_definition_id == ward_core::roles::GLOBAL_ADMINISTRATOR && a.principal_kind == ObjectKind::User)
            .map(|a| a.principal_id)
            .collect();
        let locked = |who: ObjectId| {
            let set = &set;
            let assignments = &assignments;
            let emergency = &emergency;
            async move {
                // Someone deleted or disabled cannot sign in at all; an emergency account that
                // can is never enforced.
                let user = match self.user(tenant, &who.to_string()).await {
                    Ok(u) => u,
                    Err(e) if e.code() == ward_core::ErrorCode::NotFound => return Ok::<bool, DirectoryError>(true),
                    Err(e) => return Err(e),
                };
                if !user.account_enabled {
                    return Ok(true);
                }
                if emergency.contains(&who) {
                    return Ok(false);
                }
                let mut groups: Vec<String> = self.get_member_groups(tenant, who, false).await?.iter().map(ObjectId::to_string).collect();
                groups.sort();
                let mut roles: Vec<String> =
                    assignments.iter().filter(|a| a.principal_id == who).map(|a| a.role_definition_id.to_ascii_lowercase()).collect();
                roles.sort();
                let id = who.to_string();
                let apps = [ward_core::permissions::GRAPH_APP_ID];
                // Locked out when no way in is left: neither from a browser nor from an app.
                let mut blocked_everywhere = true;
                for client_app_type in [ward_policy::ClientAppType::Browser, ward_policy::ClientAppType::MobileAppsAndDesktopClients] {
                    let facts = ward_policy::Facts {
                        subject: ward_policy::Subject::User {
                            id: &id,
                            groups: &groups,
                            roles: &roles,
                            guest: user.user_type == ward_core::user::UserType::Guest,
                        },
                        applications: &apps,
                        user_action: None,
                        client_app_type: Some(client_app_type),
                        platform: None,
                        ip,
                        country,
                        sign_in_risk: None,
                        user_risk: None,
                        device: ward_policy::DeviceFact::Unregistered,
                        device_code_flow: Some(false),
                        amr: &[],
                        password_changed: false,
                        complete: true,
                    };
                    if !matches!(set.evaluate(&facts).decision, Decision::Block | Decision::DeviceRequired(_)) {
                        blocked_everywhere = false;
                    }
                }
                Ok(blocked_everywhere)
            }
        };
        if let Some(me) = caller
            && locked(me).await?
        {
            return Ok(Some("you".into()));
        }
        let mut all_locked = !admins.is_empty();
        for a in &admins {
            if !locked(*a).await? {
                all_locked = false;
                break;
            }
        }
        Ok(all_locked.then(|| "every Global Administrator".into()))
    }
}
