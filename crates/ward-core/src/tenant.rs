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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// The organisation's look on its sign-in pages.
    #[serde(default)]
    pub branding: Branding,
    /// After the username, tell whether the account exists and offer only its own methods (off by
    /// default: every name then gets the same page, so none can be probed).
    pub sign_in_reveals_accounts: bool,
    /// Entra's security defaults: every sign-in of someone with a second factor asks for it (on
    /// by default). Off, a second factor is asked for when a conditional access policy requires it.
    pub security_defaults: bool,
    /// Emergency-access ("break glass") accounts: conditional access is evaluated and recorded for
    /// them but never enforced, and every sign-in of theirs is logged as a warning.
    pub emergency_access_accounts: Vec<crate::ObjectId>,
    /// Identity Protection: a user at risk who registers a passkey in a session that proved MFA
    /// is remediated, as by a secured password change (off by default: the password stays
    /// usable, so only a tenant that has moved its people off passwords should turn it on).
    pub passkey_registration_remediates_risk: bool,
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            users_can_consent_to_apps: false,
            users_can_register_apps: false,
            password_policy: Default::default(),
            auth_methods: Default::default(),
            branding: Default::default(),
            sign_in_reveals_accounts: false,
            security_defaults: true,
            emergency_access_accounts: Vec::new(),
            passkey_registration_remediates_risk: false,
        }
    }
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

/// What a tenant's sign-in pages show of the organisation (Graph's `organizationalBranding`):
/// a background colour, a banner logo, a text under the form and a hint in the username field.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Branding {
    /// `#rrggbb`.
    pub background_color: Option<String>,
    pub sign_in_page_text: Option<String>,
    pub username_hint_text: Option<String>,
    /// The banner logo, base64 (PNG or JPEG only: an SVG could carry script).
    pub banner_logo: Option<String>,
    pub banner_logo_type: Option<String>,
}

/// The largest banner logo accepted (Entra's limit for the banner logo is 10 KB; Ward allows more
/// room for high-resolution images).
pub const MAX_LOGO_BYTES: usize = 50 * 1024;

impl Branding {
    /// Applies a Graph PATCH: `backgroundColor`, `signInPageText` (≤ 1,024 characters),
    /// `usernameHintText` (≤ 64); null clears. All or nothing.
    pub fn patch(&mut self, body: &serde_json::Map<String, serde_json::Value>) -> Result<(), DirectoryError> {
        let mut next = self.clone();
        for (k, v) in body {
            if k.starts_with('@') || k.contains("@odata.") || k == "id" {
                continue;
            }
            let text = |limit: usize| -> Result<Option<String>, DirectoryError> {
                match v {
                    serde_json::Value::Null => Ok(None),
                    serde_json::Value::String(s) if s.chars().count() <= limit => Ok((!s.trim().is_empty()).then(|| s.clone())),
                    serde_json::Value::String(_) => {
                        Err(DirectoryError::invalid("branding", format!("{k} is longer than {limit} characters.")))
                    }
                    _ => Err(DirectoryError::invalid("branding", format!("{k} must be a string."))),
                }
            };
            match k.as_str() {
                "backgroundColor" => {
                    let c = text(7)?;
                    if let Some(c) = &c
                        && !(c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit()))
                    {
                        return Err(DirectoryError::invalid("branding", "backgroundColor must be a colour like #1f6feb."));
                    }
                    next.background_color = c.map(|c| c.to_ascii_lowercase());
                }
                "signInPageText" => next.sign_in_page_text = text(1024)?,
                "usernameHintText" => next.username_hint_text = text(64)?,
                other => {
                    return Err(DirectoryError::invalid(
                        "branding",
                        format!("Property '{}' cannot be set on branding.", crate::validate::clip(other)),
                    ));
                }
            }
        }
        *self = next;
        Ok(())
    }

    /// Sets the banner logo from an upload: PNG or JPEG by its magic bytes, at most [`MAX_LOGO_BYTES`].
    pub fn set_logo(&mut self, bytes: &[u8]) -> Result<(), DirectoryError> {
        let kind = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "image/png"
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            "image/jpeg"
        } else {
            return Err(DirectoryError::invalid("bannerLogo", "The logo must be a PNG or JPEG image."));
        };
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(DirectoryError::invalid("bannerLogo", format!("The logo is larger than {} KB.", MAX_LOGO_BYTES / 1024)));
        }
        self.banner_logo = Some(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes));
        self.banner_logo_type = Some(kind.into());
        Ok(())
    }

    /// Graph's view (the logo is a stream of its own).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#branding",
            "id": "0",
            "backgroundColor": self.background_color,
            "signInPageText": self.sign_in_page_text,
            "usernameHintText": self.username_hint_text,
        })
    }
}

#[cfg(test)]
mod branding_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn branding_accepts_graphs_properties_and_refuses_the_rest_whole() {
        let mut b = Branding::default();
        let ok = json!({ "backgroundColor": "#1F6FEB", "signInPageText": "Contoso staff only.", "usernameHintText": "you@contoso.com" });
        b.patch(ok.as_object().unwrap()).unwrap();
        assert_eq!(b.background_color.as_deref(), Some("#1f6feb"));
        let before = b.clone();
        for bad in [
            json!({ "backgroundColor": "red" }),
            json!({ "backgroundColor": "#12345g" }),
            json!({ "backgroundColor": "#123456\"}" }),
            json!({ "signInPageText": "x".repeat(1025) }),
            json!({ "usernameHintText": 5 }),
            json!({ "signInPageText": "fine", "squareLogo": "x" }),
        ] {
            assert!(b.patch(bad.as_object().unwrap()).is_err(), "{bad}");
            assert_eq!(b, before);
        }
        b.patch(json!({ "signInPageText": null }).as_object().unwrap()).unwrap();
        assert_eq!(b.sign_in_page_text, None);
    }

    #[test]
    fn logos_are_png_or_jpeg_and_small() {
        let mut b = Branding::default();
        assert!(b.set_logo(b"<svg onload=alert(1)>").is_err());
        assert!(b.set_logo(&[b"\x89PNG\r\n\x1a\n".as_slice(), &vec![0; MAX_LOGO_BYTES]].concat()).is_err());
        b.set_logo(b"\x89PNG\r\n\x1a\n....").unwrap();
        assert_eq!(b.banner_logo_type.as_deref(), Some("image/png"));
    }
}
