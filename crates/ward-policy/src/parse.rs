//! Reading a policy sent to the API (POST, or PATCH merged into the stored one), with Entra's
//! rules on what may be combined, and writing it back in Graph's shape.

use crate::device_filter;
use crate::model::*;
use serde_json::{Map, Value};

/// Why a policy or named location was refused: Graph answers 400 `BadRequest` with this message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn bad(message: impl Into<String>) -> PolicyError {
    PolicyError(message.into())
}

/// Longest accepted `displayName` and `description`.
pub const MAX_NAME_LEN: usize = 256;
pub const MAX_DESCRIPTION_LEN: usize = 1024;
/// Most ids in any one include or exclude list.
pub const MAX_LIST_LEN: usize = 1000;

/// Removes OData annotations (`@odata.type`, `…@odata.context`) at every depth.
pub fn strip_annotations(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|k, _| !k.contains('@'));
            map.values_mut().for_each(strip_annotations);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_annotations),
        _ => {}
    }
}

/// Merges a PATCH body into a stored document (JSON merge patch, RFC 7396): objects merge key by
/// key, anything else (lists included) replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing) if v.is_object() && existing.is_object() => merge(existing, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// Reads and checks a policy. `location_exists` says whether a named location id is known in
/// the tenant. The read-only properties (`id`, dates, `templateId`) are read but left for the
/// caller to overwrite.
pub fn parse_policy(mut body: Value, location_exists: &dyn Fn(&str) -> bool) -> Result<Policy, PolicyError> {
    if !body.is_object() {
        return Err(bad("The request body must be a conditionalAccessPolicy object."));
    }
    strip_annotations(&mut body);
    let policy: Policy = serde_json::from_value(body).map_err(|e| bad(format!("Invalid conditionalAccessPolicy: {e}.")))?;
    check_policy(&policy, location_exists)?;
    Ok(policy)
}

/// Reads a policy as stored (written by [`policy_json`] after [`parse_policy`] accepted it).
pub fn stored_policy(doc: &Value) -> Result<Policy, PolicyError> {
    let mut doc = doc.clone();
    strip_annotations(&mut doc);
    serde_json::from_value(doc).map_err(|e| bad(format!("A stored policy does not decode: {e}.")))
}

fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36 && b.iter().enumerate().all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

fn ids(name: &str, values: &[String], keywords: &[&str]) -> Result<(), PolicyError> {
    if values.len() > MAX_LIST_LEN {
        return Err(bad(format!("{name} has more than {MAX_LIST_LEN} entries.")));
    }
    for v in values {
        if !is_guid(v) && !keywords.contains(&v.as_str()) {
            let allowed = if keywords.is_empty() { String::new() } else { format!(" or one of {}", keywords.join(", ")) };
            return Err(bad(format!("{name}: '{}' is not an object id{allowed}.", clip(v))));
        }
    }
    Ok(())
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

const GUEST_TYPES: [&str; 6] =
    ["internalGuest", "b2bCollaborationGuest", "b2bCollaborationMember", "b2bDirectConnectUser", "otherExternalUser", "serviceProvider"];

fn flags<'a>(name: &str, value: &'a str, allowed: &[&str]) -> Result<Vec<&'a str>, PolicyError> {
    let parts: Vec<&str> = value.split(',').map(str::trim).collect();
    if parts.iter().any(|p| !allowed.contains(p)) {
        return Err(bad(format!("{name} must be a comma-separated list of {}.", allowed.join(", "))));
    }
    Ok(parts)
}

fn check_guests(name: &str, g: &Option<GuestsOrExternalUsers>) -> Result<(), PolicyError> {
    let Some(g) = g else { return Ok(()) };
    flags(name, &g.guest_or_external_user_types, &GUEST_TYPES)?;
    if let Some(t) = &g.external_tenants {
        match t.membership_kind.as_str() {
            "all" if t.members.is_empty() => {}
            "enumerated" if !t.members.is_empty() => ids(&format!("{name}.externalTenants.members"), &t.members, &[])?,
            _ => return Err(bad(format!("{name}.externalTenants: membershipKind 'all' without members, or 'enumerated' with them."))),
        }
    }
    Ok(())
}

fn check_policy(p: &Policy, location_exists: &dyn Fn(&str) -> bool) -> Result<(), PolicyError> {
    let name_len = p.display_name.chars().count();
    if p.display_name.trim().is_empty() || name_len > MAX_NAME_LEN {
        return Err(bad(format!("displayName must have 1 to {MAX_NAME_LEN} characters.")));
    }
    if p.description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_LEN) {
        return Err(bad(format!("description must have at most {MAX_DESCRIPTION_LEN} characters.")));
    }
    let c = &p.conditions;
    if c.insider_risk_levels.is_some() {
        return Err(bad("insiderRiskLevels is not supported: Ward has no insider-risk signal."));
    }
    let levels = c.sign_in_risk_levels.iter().chain(&c.user_risk_levels).chain(&c.service_principal_risk_levels);
    if levels.clone().any(|l| *l == RiskLevel::Hidden) {
        return Err(bad("'hidden' is a risk level Graph reports, not one a policy can name."));
    }
    if levels.clone().any(|l| *l == RiskLevel::None) {
        return Err(bad("A policy names risk levels to act on: low, medium or high ('none' would take in everyone not at risk)."));
    }
    let apps = c.applications.as_ref().ok_or_else(|| bad("conditions.applications is required."))?;
    match (&c.users, &c.client_applications) {
        (None, None) => return Err(bad("conditions.users or conditions.clientApplications is required.")),
        (Some(_), Some(_)) => return Err(bad("A policy targets users or workload identities (clientApplications), not both.")),
        (Some(u), None) => {
            ids("includeUsers", &u.include_users, &["All", "None", "GuestsOrExternalUsers"])?;
            ids("excludeUsers", &u.exclude_users, &["GuestsOrExternalUsers"])?;
            ids("includeGroups", &u.include_groups, &[])?;
            ids("excludeGroups", &u.exclude_groups, &[])?;
            ids("includeRoles", &u.include_roles, &[])?;
            ids("excludeRoles", &u.exclude_roles, &[])?;
            check_guests("includeGuestsOrExternalUsers", &u.include_guests_or_external_users)?;
            check_guests("excludeGuestsOrExternalUsers", &u.exclude_guests_or_external_users)?;
            if u.include_users.is_empty()
                && u.include_groups.is_empty()
                && u.include_roles.is_empty()
                && u.include_guests_or_external_users.is_none()
            {
                return Err(bad(
                    "conditions.users must include someone (includeUsers, includeGroups, includeRoles or guests); use 'None' for no one.",
                ));
            }
        }
        (None, Some(sp)) => {
            ids("includeServicePrincipals", &sp.include_service_principals, &["ServicePrincipalsInMyTenant"])?;
            ids("excludeServicePrincipals", &sp.exclude_service_principals, &[])?;
            if sp.service_principal_filter.is_some() {
                return Err(bad("servicePrincipalFilter is not supported: Ward has no custom security attributes."));
            }
            if sp.include_service_principals.is_empty() {
                return Err(bad("conditions.clientApplications.includeServicePrincipals must not be empty."));
            }
            let only_block =
                p.grant_controls.as_ref().is_some_and(|g| g.built_in_controls == [BuiltInControl::Block]) && p.session_controls.is_none();
            if !only_block {
                return Err(bad("A policy for workload identities can only block."));
            }
        }
    }
    // Office365 and MicrosoftAdminPortals name Microsoft's own apps, which Ward does not have:
    // accepted, such a policy would silently match nothing.
    ids("includeApplications", &apps.include_applications, &["All", "None"])?;
    ids("excludeApplications", &apps.exclude_applications, &[])?;
    for a in &apps.include_user_actions {
        if a != "urn:user:registersecurityinfo" {
            return Err(bad(format!(
                "includeUserActions: '{}' is not supported; Ward has the user action urn:user:registersecurityinfo.",
                clip(a)
            )));
        }
    }
    for r in &apps.include_authentication_context_class_references {
        let n = r.strip_prefix('c').and_then(|n| n.parse::<u8>().ok());
        if !n.is_some_and(|n| (1..=99).contains(&n)) || r.starts_with("c0") {
            return Err(bad(format!("includeAuthenticationContextClassReferences: '{}' is not c1 to c99.", clip(r))));
        }
    }
    if apps.application_filter.is_some() {
        return Err(bad("applicationFilter is not supported: Ward has no custom security attributes."));
    }
    let targets = [
        !apps.include_applications.is_empty(),
        !apps.include_user_actions.is_empty(),
        !apps.include_authentication_context_class_references.is_empty(),
    ];
    if targets.iter().filter(|t| **t).count() != 1 {
        return Err(bad(
            "conditions.applications must name exactly one of includeApplications, includeUserActions or includeAuthenticationContextClassReferences.",
        ));
    }
    if !apps.include_user_actions.is_empty() && p.state == PolicyState::EnabledForReportingButNotEnforced {
        return Err(bad("A policy for user actions cannot be report-only."));
    }
    if let Some(pl) = &c.platforms
        && pl.include_platforms.is_empty()
    {
        return Err(bad("conditions.platforms.includePlatforms must not be empty."));
    }
    if let Some(l) = &c.locations {
        ids("includeLocations", &l.include_locations, &["All", "AllTrusted"])?;
        ids("excludeLocations", &l.exclude_locations, &["AllTrusted"])?;
        if l.include_locations.is_empty() {
            return Err(bad("conditions.locations.includeLocations must not be empty."));
        }
        for id in l.include_locations.iter().chain(&l.exclude_locations).filter(|i| is_guid(i)) {
            if !location_exists(id) {
                return Err(bad(format!("The named location '{id}' does not exist.")));
            }
        }
    }
    if let Some(f) = c.devices.as_ref().and_then(|d| d.device_filter.as_ref()) {
        device_filter::parse(&f.rule).map_err(|e| bad(format!("deviceFilter.rule: {e}.")))?;
    }
    if let Some(f) = &c.authentication_flows {
        // Ward has no authentication transfer: a policy on it would otherwise match every sign-in.
        flags("authenticationFlows.transferMethods", &f.transfer_methods, &["deviceCodeFlow"])?;
    }
    check_controls(p, apps)
}

fn check_controls(p: &Policy, apps: &Applications) -> Result<(), PolicyError> {
    let grant = p.grant_controls.as_ref();
    let controls = grant.map(|g| g.built_in_controls.as_slice()).unwrap_or(&[]);
    let strength = grant.and_then(|g| g.authentication_strength.as_ref());
    if let Some(g) = grant {
        if !g.custom_authentication_factors.is_empty() || !g.terms_of_use.is_empty() {
            return Err(bad("customAuthenticationFactors and termsOfUse are not supported by Ward."));
        }
        if controls.contains(&BuiltInControl::ApprovedApplication) || controls.contains(&BuiltInControl::CompliantApplication) {
            return Err(bad("approvedApplication and compliantApplication need app protection, which Ward does not have."));
        }
        if controls.contains(&BuiltInControl::Block) && (controls.len() > 1 || strength.is_some()) {
            return Err(bad("block cannot be combined with other controls."));
        }
        if let Some(s) = strength {
            if !STRENGTHS.iter().any(|(id, _)| *id == s.id) {
                return Err(bad(format!("authenticationStrength '{}' is not one of the built-in strengths.", clip(&s.id))));
            }
            if controls.contains(&BuiltInControl::Mfa) {
                return Err(bad("mfa and authenticationStrength cannot both be required."));
            }
        }
        if controls.is_empty() && strength.is_none() {
            return Err(bad("grantControls must name at least one control."));
        }
        if controls.contains(&BuiltInControl::PasswordChange) {
            let with_mfa = controls.contains(&BuiltInControl::Mfa) || strength.is_some();
            let c = &p.conditions;
            let all_apps = apps.include_applications == ["All"] && apps.exclude_applications.is_empty();
            let other_conditions = !c.sign_in_risk_levels.is_empty()
                || !c.client_app_types.is_empty()
                || c.platforms.is_some()
                || c.locations.is_some()
                || c.devices.is_some();
            if g.operator != Operator::And || !with_mfa || c.user_risk_levels.is_empty() || !all_apps || other_conditions {
                return Err(bad(
                    "passwordChange needs mfa under AND, userRiskLevels, all applications without exclusions, and no conditions besides users, applications and user risk.",
                ));
            }
        }
    }
    let session = p.session_controls.as_ref();
    if let Some(s) = session {
        if s.application_enforced_restrictions.as_ref().is_some_and(|e| e.is_enabled)
            || s.cloud_app_security.as_ref().is_some_and(|v| !v.is_null())
        {
            return Err(bad("applicationEnforcedRestrictions and cloudAppSecurity are not supported by Ward."));
        }
        if let Some(b) = &s.persistent_browser
            && b.is_enabled
        {
            if b.mode.is_none() {
                return Err(bad("persistentBrowser.mode is required when it is enabled."));
            }
            if apps.include_applications != ["All"] {
                return Err(bad("persistentBrowser needs the policy to apply to all applications."));
            }
        }
        if let Some(f) = &s.sign_in_frequency
            && f.is_enabled
        {
            match (f.frequency_interval.unwrap_or(FrequencyInterval::TimeBased), f.kind, f.value) {
                (FrequencyInterval::TimeBased, Some(FrequencyUnit::Hours), Some(v)) if (1..=23).contains(&v) => {}
                (FrequencyInterval::TimeBased, Some(FrequencyUnit::Days), Some(v)) if (1..=365).contains(&v) => {}
                (FrequencyInterval::EveryTime, None, None) => {}
                _ => {
                    return Err(bad(
                        "signInFrequency: timeBased needs type hours (1 to 23) or days (1 to 365) and a value; everyTime takes neither.",
                    ));
                }
            }
        }
    }
    let session_effect = session.is_some_and(|s| {
        s.persistent_browser.as_ref().is_some_and(|b| b.is_enabled) || s.sign_in_frequency.as_ref().is_some_and(|f| f.is_enabled)
    });
    if grant.is_none() && !session_effect {
        return Err(bad("A policy needs grantControls or an enabled session control."));
    }
    Ok(())
}

/// The policy as Graph returns it.
pub fn policy_json(p: &Policy) -> Value {
    let mut p = p.clone();
    if let Some(s) = p.grant_controls.as_mut().and_then(|g| g.authentication_strength.as_mut())
        && let Some((_, name)) = STRENGTHS.iter().find(|(id, _)| *id == s.id)
    {
        s.display_name = Some(name.to_string());
        s.policy_type = Some("builtIn".into());
        s.requirements_satisfied = Some("mfa".into());
    }
    if let Some(u) = p.conditions.users.as_mut() {
        for g in [&mut u.include_guests_or_external_users, &mut u.exclude_guests_or_external_users].into_iter().flatten() {
            if let Some(t) = g.external_tenants.as_mut() {
                t.odata_type = if t.membership_kind == "all" {
                    "#microsoft.graph.conditionalAccessAllExternalTenants".into()
                } else {
                    "#microsoft.graph.conditionalAccessEnumeratedExternalTenants".into()
                };
            }
        }
    }
    serde_json::to_value(&p).unwrap_or(Value::Object(Map::new()))
}
