//! The tenant's authentication methods policy: which sign-in methods are enabled, for whom, and
//! the settings of each, in the shape of Graph's `authenticationMethodsPolicy`.
//!
//! Ward's defaults differ from Entra's in one place: passkeys (FIDO2) are enabled for everyone,
//! because a phishing-resistant method should be the easy one to pick up. Attestation and key
//! restrictions are off until an administrator turns them on.

use crate::error::DirectoryError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

/// The target id meaning every user of the tenant.
pub const ALL_USERS: &str = "all_users";
/// At most this many include or exclude targets per method, and AAGUIDs per restriction list.
const MAX_TARGETS: usize = 50;
const MAX_AAGUIDS: usize = 500;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthMethodsPolicy {
    pub fido2: Fido2Config,
    pub software_oath: MethodTargets,
    pub temporary_access_pass: MethodTargets,
}

/// Whether a method is on, and for whom: users in any include target (a group, transitively, or
/// `all_users`) and in no exclude target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MethodTargets {
    pub enabled: bool,
    pub include: Vec<String>,
    pub exclude: Vec<Uuid>,
}

impl Default for MethodTargets {
    fn default() -> Self {
        MethodTargets { enabled: true, include: vec![ALL_USERS.into()], exclude: Vec::new() }
    }
}

impl MethodTargets {
    /// Is the method enabled for a user who is (transitively) in `groups`?
    pub fn applies_to(&self, groups: &[Uuid]) -> bool {
        if !self.enabled || self.exclude.iter().any(|g| groups.contains(g)) {
            return false;
        }
        self.include.iter().any(|t| t == ALL_USERS || t.parse::<Uuid>().is_ok_and(|g| groups.contains(&g)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Enforcement {
    Allow,
    Block,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Fido2Config {
    pub targets: MethodTargets,
    pub self_service_registration: bool,
    /// Registration requires an attestation that chains to a root in the FIDO metadata.
    pub attestation_enforced: bool,
    pub restrictions_enforced: bool,
    pub enforcement: Enforcement,
    pub aaguids: Vec<Uuid>,
}

impl Default for Fido2Config {
    fn default() -> Self {
        Fido2Config {
            targets: MethodTargets::default(),
            self_service_registration: true,
            attestation_enforced: false,
            restrictions_enforced: false,
            enforcement: Enforcement::Block,
            aaguids: Vec::new(),
        }
    }
}

impl Fido2Config {
    /// Does the key restriction let an authenticator of `aaguid` be registered or used?
    pub fn aaguid_permitted(&self, aaguid: Uuid) -> bool {
        if !self.restrictions_enforced {
            return true;
        }
        let listed = self.aaguids.contains(&aaguid);
        match self.enforcement {
            Enforcement::Allow => listed,
            Enforcement::Block => !listed,
        }
    }
}

/// The Graph ids of the configurations Ward has.
pub const CONFIG_IDS: [&str; 3] = ["Fido2", "SoftwareOath", "TemporaryAccessPass"];

fn targets_json(t: &MethodTargets) -> (Value, Value) {
    let include: Vec<Value> =
        t.include.iter().map(|id| json!({ "targetType": "group", "id": id, "isRegistrationRequired": false })).collect();
    let exclude: Vec<Value> = t.exclude.iter().map(|id| json!({ "targetType": "group", "id": id })).collect();
    (Value::Array(include), Value::Array(exclude))
}

fn state(enabled: bool) -> &'static str {
    if enabled { "enabled" } else { "disabled" }
}

impl AuthMethodsPolicy {
    /// One configuration in Graph's shape, by its id (case-insensitive, as Graph).
    pub fn config_json(&self, id: &str) -> Option<Value> {
        let id = CONFIG_IDS.iter().find(|c| c.eq_ignore_ascii_case(id))?;
        Some(match *id {
            "Fido2" => {
                let f = &self.fido2;
                let (include, exclude) = targets_json(&f.targets);
                json!({
                    "@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration",
                    "id": "Fido2",
                    "state": state(f.targets.enabled),
                    "isSelfServiceRegistrationAllowed": f.self_service_registration,
                    "isAttestationEnforced": f.attestation_enforced,
                    "keyRestrictions": {
                        "isEnforced": f.restrictions_enforced,
                        "enforcementType": f.enforcement,
                        "aaGuids": f.aaguids,
                    },
                    "includeTargets": include,
                    "excludeTargets": exclude,
                })
            }
            "SoftwareOath" => {
                let (include, exclude) = targets_json(&self.software_oath);
                json!({
                    "@odata.type": "#microsoft.graph.softwareOathAuthenticationMethodConfiguration",
                    "id": "SoftwareOath",
                    "state": state(self.software_oath.enabled),
                    "includeTargets": include,
                    "excludeTargets": exclude,
                })
            }
            _ => {
                let (include, exclude) = targets_json(&self.temporary_access_pass);
                json!({
                    "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration",
                    "id": "TemporaryAccessPass",
                    "state": state(self.temporary_access_pass.enabled),
                    "includeTargets": include,
                    "excludeTargets": exclude,
                })
            }
        })
    }

    /// The whole policy in Graph's shape.
    pub fn to_json(&self) -> Value {
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#policies/authenticationMethodsPolicy",
            "id": "authenticationMethodsPolicy",
            "displayName": "Authentication Methods Policy",
            "description": "The tenant-wide policy that controls which authentication methods are allowed in the tenant, authentication method registration requirements, and self-service password reset settings",
            "policyVersion": "1.5",
            "authenticationMethodConfigurations": CONFIG_IDS.iter().filter_map(|id| self.config_json(id)).collect::<Vec<_>>(),
        })
    }

    /// Applies a Graph PATCH of one configuration. Unknown or read-only properties, wrong types and
    /// unknown enum values are refused by name; nothing changes unless all of the patch is valid.
    pub fn patch(&mut self, id: &str, body: &Value) -> Result<(), DirectoryError> {
        let id = *CONFIG_IDS
            .iter()
            .find(|c| c.eq_ignore_ascii_case(id))
            .ok_or_else(|| DirectoryError::NotFound { kind: None, id: id.to_string() })?;
        let obj = body.as_object().ok_or_else(|| invalid("The request body must be a JSON object."))?;
        let mut next = self.clone();
        for (key, value) in obj {
            if key.starts_with('@') || key.contains("@odata.") {
                continue;
            }
            match (id, key.as_str()) {
                (_, "id") if value.as_str().is_some_and(|v| v.eq_ignore_ascii_case(id)) => {}
                (_, "state") => {
                    let enabled = match value.as_str() {
                        Some("enabled") => true,
                        Some("disabled") => false,
                        _ => return Err(invalid("state must be 'enabled' or 'disabled'.")),
                    };
                    next.targets_mut(id).enabled = enabled;
                }
                (_, "includeTargets") => next.targets_mut(id).include = include_targets(value)?,
                (_, "excludeTargets") => next.targets_mut(id).exclude = exclude_targets(value)?,
                ("Fido2", "isSelfServiceRegistrationAllowed") => next.fido2.self_service_registration = boolean(key, value)?,
                ("Fido2", "isAttestationEnforced") => next.fido2.attestation_enforced = boolean(key, value)?,
                ("Fido2", "keyRestrictions") => {
                    let r = value.as_object().ok_or_else(|| invalid("keyRestrictions must be an object."))?;
                    for (k, v) in r {
                        match k.as_str() {
                            "isEnforced" => next.fido2.restrictions_enforced = boolean(k, v)?,
                            "enforcementType" => {
                                next.fido2.enforcement = match v.as_str() {
                                    Some("allow") => Enforcement::Allow,
                                    Some("block") => Enforcement::Block,
                                    _ => return Err(invalid("keyRestrictions.enforcementType must be 'allow' or 'block'.")),
                                }
                            }
                            "aaGuids" => {
                                let list = v.as_array().ok_or_else(|| invalid("keyRestrictions.aaGuids must be an array."))?;
                                if list.len() > MAX_AAGUIDS {
                                    return Err(invalid(&format!("keyRestrictions.aaGuids holds at most {MAX_AAGUIDS} values.")));
                                }
                                let mut aaguids = Vec::with_capacity(list.len());
                                for a in list {
                                    let g = a
                                        .as_str()
                                        .and_then(|s| s.parse::<Uuid>().ok())
                                        .ok_or_else(|| invalid("Each AAGUID must be a GUID."))?;
                                    if !aaguids.contains(&g) {
                                        aaguids.push(g);
                                    }
                                }
                                next.fido2.aaguids = aaguids;
                            }
                            k if k.starts_with('@') => {}
                            other => return Err(invalid(&format!("Property '{other}' does not exist on keyRestrictions."))),
                        }
                    }
                }
                (_, other) => return Err(invalid(&format!("Property '{other}' cannot be set on the {id} configuration."))),
            }
        }
        if next.fido2.restrictions_enforced && next.fido2.enforcement == Enforcement::Allow && next.fido2.aaguids.is_empty() {
            return Err(invalid("An allow list of AAGUIDs that is enforced must name at least one AAGUID."));
        }
        *self = next;
        Ok(())
    }

    fn targets_mut(&mut self, id: &str) -> &mut MethodTargets {
        match id {
            "Fido2" => &mut self.fido2.targets,
            "SoftwareOath" => &mut self.software_oath,
            _ => &mut self.temporary_access_pass,
        }
    }
}

fn invalid(message: &str) -> DirectoryError {
    DirectoryError::Invalid { field: "authenticationMethodConfiguration", message: message.into() }
}

fn boolean(key: &str, v: &Value) -> Result<bool, DirectoryError> {
    v.as_bool().ok_or_else(|| invalid(&format!("{key} must be true or false.")))
}

fn target_list(value: &Value) -> Result<Vec<String>, DirectoryError> {
    let list = value.as_array().ok_or_else(|| invalid("Targets must be an array."))?;
    if list.len() > MAX_TARGETS {
        return Err(invalid(&format!("At most {MAX_TARGETS} targets are allowed.")));
    }
    list.iter()
        .map(|t| {
            let o = t.as_object().ok_or_else(|| invalid("Each target must be an object."))?;
            match o.get("targetType").and_then(Value::as_str) {
                None | Some("group") => {}
                Some(_) => return Err(invalid("targetType must be 'group'.")),
            }
            let id = o.get("id").and_then(Value::as_str).ok_or_else(|| invalid("Each target needs an id."))?;
            Ok(id.to_string())
        })
        .collect()
}

fn include_targets(value: &Value) -> Result<Vec<String>, DirectoryError> {
    let mut out = Vec::new();
    for id in target_list(value)? {
        let id = if id == ALL_USERS {
            id
        } else {
            id.parse::<Uuid>().map_err(|_| invalid("A target id must be a group id or 'all_users'."))?.to_string()
        };
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

fn exclude_targets(value: &Value) -> Result<Vec<Uuid>, DirectoryError> {
    let mut out = Vec::new();
    for id in target_list(value)? {
        let g = id.parse::<Uuid>().map_err(|_| invalid("An exclude target must be a group id."))?;
        if !out.contains(&g) {
            out.push(g);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_enable_every_method_for_everyone() {
        let p = AuthMethodsPolicy::default();
        assert!(p.fido2.targets.applies_to(&[]));
        assert!(p.software_oath.applies_to(&[]));
        assert!(p.fido2.aaguid_permitted(Uuid::new_v4()));
        let j = p.to_json();
        assert_eq!(j["authenticationMethodConfigurations"].as_array().map(Vec::len), Some(3));
        assert_eq!(j["authenticationMethodConfigurations"][0]["keyRestrictions"]["enforcementType"], "block");
    }

    #[test]
    fn targets_include_groups_and_exclusions_win() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut p = AuthMethodsPolicy::default();
        p.patch(
            "fido2",
            &json!({ "includeTargets": [{ "targetType": "group", "id": a.to_string() }], "excludeTargets": [{ "id": b.to_string() }] }),
        )
        .unwrap();
        assert!(p.fido2.targets.applies_to(&[a]));
        assert!(!p.fido2.targets.applies_to(&[]));
        assert!(!p.fido2.targets.applies_to(&[a, b]));
        p.patch("Fido2", &json!({ "state": "disabled" })).unwrap();
        assert!(!p.fido2.targets.applies_to(&[a]));
    }

    #[test]
    fn key_restrictions_allow_and_block() {
        let (good, bad) = (Uuid::new_v4(), Uuid::new_v4());
        let mut p = AuthMethodsPolicy::default();
        p.patch("Fido2", &json!({ "keyRestrictions": { "isEnforced": true, "enforcementType": "block", "aaGuids": [bad.to_string()] } }))
            .unwrap();
        assert!(p.fido2.aaguid_permitted(good));
        assert!(!p.fido2.aaguid_permitted(bad));
        p.patch("Fido2", &json!({ "keyRestrictions": { "enforcementType": "allow", "aaGuids": [good.to_string()] } })).unwrap();
        assert!(p.fido2.aaguid_permitted(good));
        assert!(!p.fido2.aaguid_permitted(bad));
    }

    #[test]
    fn bad_patches_change_nothing() {
        let mut p = AuthMethodsPolicy::default();
        let before = p.clone();
        for bad in [
            json!({ "state": "on" }),
            json!({ "isAttestationEnforced": "true" }),
            json!({ "keyRestrictions": { "enforcementType": "deny" } }),
            json!({ "keyRestrictions": { "aaGuids": ["not-a-guid"] } }),
            json!({ "keyRestrictions": { "isEnforced": true, "enforcementType": "allow", "aaGuids": [] } }),
            json!({ "includeTargets": [{ "targetType": "user", "id": "all_users" }] }),
            json!({ "includeTargets": [{ "id": "everyone" }] }),
            json!({ "state": "disabled", "colour": "blue" }),
            json!([1]),
        ] {
            assert!(p.patch("Fido2", &bad).is_err(), "{bad}");
            assert_eq!(p, before, "{bad}");
        }
        assert!(p.patch("SoftwareOath", &json!({ "isAttestationEnforced": true })).is_err());
        assert!(p.patch("Sms", &json!({ "state": "enabled" })).is_err());
        // Annotations are ignored.
        p.patch(
            "SoftwareOath",
            &json!({ "@odata.type": "#microsoft.graph.softwareOathAuthenticationMethodConfiguration", "state": "disabled" }),
        )
        .unwrap();
        assert!(!p.software_oath.enabled);
    }
}
