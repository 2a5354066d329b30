//! Applications and service principals: client secrets, redirect URIs by platform.

use crate::error::DirectoryError;
use crate::ids::{ObjectId, TenantId};
use crate::validate;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Describes a client secret without the secret: its hash lives apart, in the credential store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    pub key_id: Uuid,
    pub display_name: Option<String>,
    /// The first three characters of the secret, as Graph shows them.
    pub hint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub start_date_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end_date_time: OffsetDateTime,
}

/// A public key a client signs assertions with (Graph's `keyCredential`): an X.509 certificate
/// (`AsymmetricX509Cert`, `key` = base64 DER) or, as Ward's extension, a JWK (`Jwk`, `key` = the
/// JWK's JSON). Public material only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCredential {
    pub key_id: Uuid,
    pub display_name: Option<String>,
    #[serde(rename = "type")]
    pub key_type: String,
    pub usage: String,
    /// Base64 of the certificate's SHA-1 thumbprint, as Graph shows it (certificates only).
    pub custom_key_identifier: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub start_date_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end_date_time: OffsetDateTime,
    pub key: String,
}

impl KeyCredential {
    pub const CERTIFICATE: &'static str = "AsymmetricX509Cert";
    pub const JWK: &'static str = "Jwk";
}

/// Entra's limit on key credentials per application is well above what clients use; Ward keeps
/// it small so that an assertion is checked against few keys.
pub const MAX_KEY_CREDENTIALS: usize = 16;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub id: ObjectId,
    /// The client id.
    pub app_id: Uuid,
    pub display_name: String,
    pub sign_in_audience: String,
    #[serde(default)]
    pub password_credentials: Vec<PasswordCredential>,
    #[serde(default)]
    pub key_credentials: Vec<KeyCredential>,
    /// URIs that name this application as a resource, e.g. `api://{appId}`.
    #[serde(default)]
    pub identifier_uris: Vec<String>,
    /// The API this application exposes: its delegated permissions.
    #[serde(default)]
    pub api: ApiApplication,
    /// Roles this application defines; those allowed for `Application` are application
    /// permissions other apps can be granted.
    #[serde(default)]
    pub app_roles: Vec<AppRole>,
    /// The permissions this application needs (its static consent list, used by `/.default`).
    /// Grants nothing by itself.
    #[serde(default)]
    pub required_resource_access: Vec<RequiredResourceAccess>,
    #[serde(default)]
    pub web: RedirectSettings,
    #[serde(default)]
    pub public_client: RedirectSettings,
    #[serde(default)]
    pub spa: RedirectSettings,
    /// Ward's extension: the algorithm of the tokens issued to this client (`RS256` when unset,
    /// as Entra signs; `ES256` or `EdDSA` for clients that prefer them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_signing_algorithm: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
}

/// The signing algorithms an application may choose.
pub const TOKEN_SIGNING_ALGORITHMS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

impl Application {
    /// Sets the algorithm of this client's tokens; `None` returns to the default (RS256).
    pub fn set_token_signing_algorithm(&mut self, alg: Option<&str>) -> Result<(), DirectoryError> {
        self.token_signing_algorithm = match alg {
            None => None,
            Some(a) => Some(
                TOKEN_SIGNING_ALGORITHMS
                    .iter()
                    .find(|known| known.eq_ignore_ascii_case(a))
                    .ok_or_else(|| {
                        DirectoryError::invalid(
                            "tokenSigningAlgorithm",
                            format!("'{}' is not one of RS256, ES256, EdDSA", validate::clip(a)),
                        )
                    })?
                    .to_string(),
            ),
        };
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: ObjectId,
    pub app_id: Uuid,
    pub display_name: String,
    pub account_enabled: bool,
    pub service_principal_type: String,
    pub app_owner_organization_id: TenantId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
}

impl Application {
    pub fn create(display_name: &str, id: ObjectId, app_id: Uuid, now: OffsetDateTime) -> Result<Application, DirectoryError> {
        Ok(Application {
            id,
            app_id,
            display_name: validate::required_text("displayName", display_name, 256)?,
            sign_in_audience: "AzureADMyOrg".into(),
            password_credentials: Vec::new(),
            key_credentials: Vec::new(),
            identifier_uris: Vec::new(),
            api: ApiApplication::default(),
            app_roles: Vec::new(),
            required_resource_access: Vec::new(),
            web: RedirectSettings::default(),
            public_client: RedirectSettings::default(),
            spa: RedirectSettings::default(),
            token_signing_algorithm: None,
            created_date_time: now,
        })
    }

    /// The service principal that represents this application in its home tenant.
    pub fn home_service_principal(&self, id: ObjectId, tenant: TenantId, now: OffsetDateTime) -> ServicePrincipal {
        ServicePrincipal {
            id,
            app_id: self.app_id,
            display_name: self.display_name.clone(),
            account_enabled: true,
            service_principal_type: "Application".into(),
            app_owner_organization_id: tenant,
            created_date_time: now,
        }
    }
}

/// Graph's `apiApplication`: the delegated permissions an application exposes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiApplication {
    #[serde(default)]
    pub oauth2_permission_scopes: Vec<PermissionScope>,
}

/// Graph's `requiredResourceAccess`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredResourceAccess {
    pub resource_app_id: Uuid,
    pub resource_access: Vec<ResourceAccess>,
}

/// One permission in `requiredResourceAccess`: `Scope` (delegated) or `Role` (application).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceAccess {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub access_type: String,
}

/// Graph's `appRole`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    pub id: Uuid,
    pub value: String,
    pub display_name: String,
    pub description: String,
    /// `Application` (an application permission) and/or `User`.
    pub allowed_member_types: Vec<String>,
    pub is_enabled: bool,
}

/// Graph's `permissionScope`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionScope {
    pub id: Uuid,
    pub value: String,
    /// `User` (users may consent) or `Admin`.
    #[serde(rename = "type")]
    pub consent_type: String,
    pub admin_consent_display_name: String,
    pub admin_consent_description: String,
    pub is_enabled: bool,
}

impl Application {
    /// Exposes a delegated permission (`access_as_user`, `Files.Read`, …) and, if the application has
    /// no identifier URI yet, gives it `api://{appId}`.
    pub fn expose_scope(&mut self, id: Uuid, value: &str, admin_only: bool, description: &str) -> Result<(), DirectoryError> {
        let ok = !value.is_empty()
            && value.len() <= 120
            && !value.starts_with('.')
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            return Err(DirectoryError::invalid(
                "oauth2PermissionScopes",
                format!("'{}' is not a valid permission value", validate::clip(value)),
            ));
        }
        if crate::permissions::OIDC_SCOPES.contains(&value)
            || self.api.oauth2_permission_scopes.iter().any(|s| s.value.eq_ignore_ascii_case(value))
        {
            return Err(DirectoryError::invalid("oauth2PermissionScopes", format!("'{value}' is already defined")));
        }
        self.api.oauth2_permission_scopes.push(PermissionScope {
            id,
            value: value.to_string(),
            consent_type: if admin_only { "Admin" } else { "User" }.to_string(),
            admin_consent_display_name: validate::required_text("adminConsentDisplayName", description, 256)?,
            admin_consent_description: validate::required_text("adminConsentDescription", description, 1024)?,
            is_enabled: true,
        });
        if self.identifier_uris.is_empty() {
            self.identifier_uris.push(format!("api://{}", self.app_id));
        }
        Ok(())
    }

    /// Defines an application permission (an app role other applications can be granted), e.g.
    /// `Orders.ReadWrite.All`. Gives the application `api://{appId}` if it has no identifier URI.
    pub fn define_app_role(&mut self, id: Uuid, value: &str, description: &str) -> Result<(), DirectoryError> {
        let ok = !value.is_empty() && value.len() <= 120 && !value.starts_with('.') && value.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(DirectoryError::invalid("appRoles", format!("'{}' is not a valid role value", validate::clip(value))));
        }
        if self.app_roles.iter().any(|r| r.value.eq_ignore_ascii_case(value) || r.id == id) {
            return Err(DirectoryError::invalid("appRoles", format!("'{value}' is already defined")));
        }
        self.app_roles.push(AppRole {
            id,
            value: value.to_string(),
            display_name: validate::required_text("displayName", description, 256)?,
            description: validate::required_text("description", description, 1024)?,
            allowed_member_types: vec!["Application".into()],
            is_enabled: true,
        });
        if self.identifier_uris.is_empty() {
            self.identifier_uris.push(format!("api://{}", self.app_id));
        }
        Ok(())
    }

    /// This application as a resource (its service principal in the tenant is `sp`), with its
    /// enabled scopes.
    pub fn as_resource(&self, sp: ObjectId) -> crate::permissions::Resource {
        crate::permissions::Resource {
            app_id: self.app_id,
            service_principal: sp,
            audience: self.app_id.to_string(),
            display_name: self.display_name.clone(),
            scopes: self
                .api
                .oauth2_permission_scopes
                .iter()
                .filter(|s| s.is_enabled)
                .map(|s| crate::permissions::Scope {
                    id: s.id,
                    value: s.value.clone(),
                    description: s.admin_consent_description.clone(),
                    admin_only: s.consent_type == "Admin",
                    resource: sp,
                })
                .collect(),
            app_roles: self
                .app_roles
                .iter()
                .filter(|r| r.is_enabled && r.allowed_member_types.iter().any(|t| t == "Application"))
                .map(|r| (r.id, r.value.clone()))
                .collect(),
        }
    }
}

/// Graph's `web`, `publicClient` and `spa` settings: where authorization responses may go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectSettings {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

/// Which platform a redirect URI was registered under. A `web` client is confidential (it
/// authenticates at the token endpoint); `publicClient` and `spa` clients cannot keep a secret,
/// so they must use PKCE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Platform {
    Web,
    PublicClient,
    Spa,
}

impl Platform {
    pub fn is_public(self) -> bool {
        !matches!(self, Platform::Web)
    }
}

/// Entra's limit on a redirect URI's length.
pub const MAX_REDIRECT_URI_LEN: usize = 256;
/// Entra's limit on redirect URIs per application.
pub const MAX_REDIRECT_URIS: usize = 256;

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Checks a redirect URI for registration: absolute, no fragment, no credentials, no wildcard;
/// `https`, or `http` on a loopback host (RFC 8252 §7.3); native clients may also use a
/// private-use scheme in reverse-DNS form (RFC 8252 §7.1), e.g. `com.example.app:/callback`.
pub fn validate_redirect_uri(platform: Platform, uri: &str) -> Result<String, DirectoryError> {
    let bad = |why: &str| DirectoryError::invalid("redirectUris", format!("'{}' {why}", validate::clip(uri)));
    if uri.len() > MAX_REDIRECT_URI_LEN {
        return Err(bad("is longer than 256 characters"));
    }
    if uri.contains('*') {
        return Err(bad("contains a wildcard; redirect URIs are matched exactly"));
    }
    let url = url::Url::parse(uri).map_err(|_| bad("is not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(bad("must not contain a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain credentials"));
    }
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(bad("must use https (http is allowed only for localhost, 127.0.0.1 and [::1])")),
        scheme if platform == Platform::PublicClient && scheme.contains('.') => {}
        _ => return Err(bad("must use https, loopback http, or (for public clients) a reverse-DNS private-use scheme")),
    }
    Ok(uri.to_string())
}

/// Does `presented` match `registered`? Exactly, character for character, with one exception from
/// RFC 8252 §7.3: a native (public) client's loopback redirect may use any port, since the
/// operating system hands it one at run time.
fn redirect_matches(platform: Platform, registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    if platform != Platform::PublicClient {
        return false;
    }
    let (Ok(r), Ok(p)) = (url::Url::parse(registered), url::Url::parse(presented)) else { return false };
    r.scheme() == "http"
        && p.scheme() == "http"
        && is_loopback(&r)
        && r.host() == p.host()
        && r.path() == p.path()
        && r.query() == p.query()
        && p.fragment().is_none()
        && p.username().is_empty()
        && p.password().is_none()
}

impl Application {
    /// The platform under which `presented` is registered, if it is.
    pub fn redirect_platform(&self, presented: &str) -> Option<Platform> {
        [(Platform::Web, &self.web), (Platform::Spa, &self.spa), (Platform::PublicClient, &self.public_client)]
            .into_iter()
            .find(|(platform, settings)| settings.redirect_uris.iter().any(|r| redirect_matches(*platform, r, presented)))
            .map(|(platform, _)| platform)
    }

    /// Replaces the redirect URIs of one platform, validated.
    pub fn set_redirect_uris(&mut self, platform: Platform, uris: &[String]) -> Result<(), DirectoryError> {
        let mut checked = Vec::with_capacity(uris.len());
        for uri in uris {
            let uri = validate_redirect_uri(platform, uri)?;
            if !checked.contains(&uri) {
                checked.push(uri);
            }
        }
        let settings = match platform {
            Platform::Web => &mut self.web,
            Platform::PublicClient => &mut self.public_client,
            Platform::Spa => &mut self.spa,
        };
        settings.redirect_uris = checked;
        let total = self.web.redirect_uris.len() + self.public_client.redirect_uris.len() + self.spa.redirect_uris.len();
        if total > MAX_REDIRECT_URIS {
            return Err(DirectoryError::invalid("redirectUris", "an application has at most 256 redirect URIs"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> Application {
        Application::create("app", ObjectId::from_uuid(Uuid::nil()), Uuid::nil(), OffsetDateTime::UNIX_EPOCH).unwrap()
    }

    #[test]
    fn redirect_uris_must_be_https_or_loopback() {
        for ok in ["https://app.example.com/cb", "http://localhost:8080/cb", "http://127.0.0.1/cb", "http://[::1]:9/cb"] {
            assert!(validate_redirect_uri(Platform::Web, ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example.com/cb",
            "https://*.example.com/cb",
            "https://app.example.com/cb#frag",
            "https://user:pw@app.example.com/cb",
            "/relative",
            "javascript:alert(1)",
            "com.example.app:/cb",
        ] {
            assert!(validate_redirect_uri(Platform::Web, bad).is_err(), "{bad}");
        }
        assert!(validate_redirect_uri(Platform::PublicClient, "com.example.app:/cb").is_ok());
        assert!(validate_redirect_uri(Platform::PublicClient, "javascript:alert(1)").is_err());
        let long = format!("https://example.com/{}", "a".repeat(250));
        assert!(validate_redirect_uri(Platform::Web, &long).is_err());
    }

    #[test]
    fn redirect_uris_match_exactly_except_a_native_clients_loopback_port() {
        let mut a = app();
        a.set_redirect_uris(Platform::Web, &["https://app.example.com/cb".into(), "http://localhost:5000/cb".into()]).unwrap();
        a.set_redirect_uris(Platform::PublicClient, &["http://127.0.0.1/native".into()]).unwrap();
        assert_eq!(a.redirect_platform("https://app.example.com/cb"), Some(Platform::Web));
        for miss in [
            "https://app.example.com/cb/",
            "https://app.example.com/CB",
            "https://app.example.com/cb?x=1",
            "https://app.example.com.evil.com/cb",
            "http://localhost:5001/cb",
            "https://APP.example.com/cb",
        ] {
            assert_eq!(a.redirect_platform(miss), None, "{miss}");
        }
        assert_eq!(a.redirect_platform("http://127.0.0.1:53123/native"), Some(Platform::PublicClient));
        assert_eq!(a.redirect_platform("http://127.0.0.1:53123/other"), None);
        assert_eq!(a.redirect_platform("http://localhost:53123/native"), None, "another host is another URI");
    }
}
