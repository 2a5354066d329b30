//! Tenants: a directory with its verified domains and settings.

use crate::error::DirectoryError;
use crate::ids::TenantId;
use crate::validate::{self, DomainName};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedDomain {
    pub name: DomainName,
    /// The `<name>.ward.local` domain every tenant starts with; it cannot be removed.
    pub is_initial: bool,
    /// The domain new users get when none is named.
    pub is_default: bool,
}

/// Tenant-wide settings. Defaults are the safe choice.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TenantSettings {
    /// May ordinary users consent to applications on their own behalf? Off by default.
    pub users_can_consent_to_apps: bool,
    /// May ordinary users register applications? Off by default.
    pub users_can_register_apps: bool,
    /// Minimum length and banned words for passwords set in this tenant.
    #[serde(default)]
    pub password_policy: crate::password_policy::PasswordPolicy,
    /// Which sign-in methods are enabled, for whom (Graph's authenticationMethodsPolicy).
    #[serde(default)]
    pub auth_methods: crate::auth_methods_policy::AuthMethodsPolicy,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: TenantId,
    pub display_name: String,
    pub verified_domains: Vec<VerifiedDomain>,
    #[serde(default)]
    pub settings: TenantSettings,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
}

impl Tenant {
    pub fn new(id: TenantId, display_name: &str, now: OffsetDateTime) -> Result<Tenant, DirectoryError> {
        let display_name = validate::required_text("displayName", display_name, 256)?;
        let initial = DomainName::initial_for(&display_name)?;
        Ok(Tenant {
            id,
            display_name,
            verified_domains: vec![VerifiedDomain { name: initial, is_initial: true, is_default: true }],
            settings: TenantSettings::default(),
            created_date_time: now,
        })
    }

    pub fn initial_domain(&self) -> &DomainName {
        self.verified_domains.iter().find(|d| d.is_initial).map(|d| &d.name).unwrap_or(&self.verified_domains[0].name)
    }

    pub fn default_domain(&self) -> &DomainName {
        self.verified_domains.iter().find(|d| d.is_default).map(|d| &d.name).unwrap_or(self.initial_domain())
    }

    pub fn is_verified(&self, domain: &DomainName) -> bool {
        self.verified_domains.iter().any(|d| &d.name == domain)
    }

    /// Adds a verified domain (uniqueness across tenants is the store's to enforce).
    pub fn add_domain(&mut self, domain: DomainName) -> Result<(), DirectoryError> {
        if self.is_verified(&domain) {
            return Err(DirectoryError::DuplicateDomain(domain.to_string()));
        }
        if self.verified_domains.len() >= 900 {
            return Err(DirectoryError::invalid("domain", "a tenant can have at most 900 domains"));
        }
        self.verified_domains.push(VerifiedDomain { name: domain, is_initial: false, is_default: false });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn a_new_tenant_has_one_initial_default_domain() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let mut t = Tenant::new(TenantId::from_uuid(Uuid::nil()), "Contoso Ltd", now).unwrap();
        assert_eq!(t.initial_domain().as_str(), "contosoltd.ward.local");
        assert_eq!(t.default_domain(), t.initial_domain());
        t.add_domain(DomainName::parse("contoso.example").unwrap()).unwrap();
        assert!(t.is_verified(&DomainName::parse("CONTOSO.example").unwrap()));
        assert!(t.add_domain(DomainName::parse("contoso.example").unwrap()).is_err());
        assert!(!t.settings.users_can_consent_to_apps);
        assert!(Tenant::new(TenantId::from_uuid(Uuid::nil()), "  ", now).is_err());
    }
}
