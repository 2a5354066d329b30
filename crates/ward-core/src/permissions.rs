//! Ward's own APIs as a built-in resource, named and numbered as Microsoft Graph's permissions so
//! that tokens, consent records and unmodified Graph clients mean the same thing here.
//! Application permissions become `roles` in app-only tokens; delegated ones become `scp`.
//!
//! The identifiers are Microsoft Graph's; re-check them against Graph's permissions reference
//! before relying on an id that an external tool wrote.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ids::ObjectId;

/// The appId of Microsoft Graph, which Ward's built-in resource reuses.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// What clients put in front of `/.default` to ask for Ward's APIs.
pub const GRAPH_RESOURCE_URI: &str = "https://graph.microsoft.com";
pub const GRAPH_DISPLAY_NAME: &str = "Microsoft Graph";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    pub value: &'static str,
    /// The application permission (app role) id, when the permission exists for apps.
    pub app_role_id: Option<&'static str>,
    /// The delegated permission (scope) id, when it exists for users.
    pub scope_id: Option<&'static str>,
    pub description: &'static str,
}

pub const GRAPH_PERMISSIONS: &[Permission] = &[
    // The OpenID Connect scopes are delegated permissions of Graph in Entra, consented like any other.
    Permission { value: "openid", app_role_id: None, scope_id: Some("37f7f235-527c-4136-accd-4a02d197296e"), description: "Sign you in." },
    Permission {
        value: "profile",
        app_role_id: None,
        scope_id: Some("14dad69e-099b-42c9-810b-d002981feec1"),
        description: "View your basic profile.",
    },
    Permission {
        value: "email",
        app_role_id: None,
        scope_id: Some("64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0"),
        description: "View your email address.",
    },
    Permission {
        value: "offline_access",
        app_role_id: None,
        scope_id: Some("7427e0e9-2fba-42fe-b0c0-848c9e6a8182"),
        description: "Keep access to data you have given it access to.",
    },
    Permission {
        value: "User.Read",
        app_role_id: None,
        scope_id: Some("e1fe6dd8-ba31-4d61-89e7-88639da4683d"),
        description: "Sign in and read the signed-in user's profile.",
    },
    Permission {
        value: "User.Read.All",
        app_role_id: Some("df021288-bdef-4463-88db-98f22de89214"),
        scope_id: Some("a154be20-db9c-4678-8ab7-66f6cc099a59"),
        description: "Read all users' full profiles.",
    },
    Permission {
        value: "User.ReadWrite.All",
        app_role_id: Some("741f803b-c850-494e-b5df-cde7c675a1ca"),
        scope_id: Some("204e0828-b5ca-4ad8-b9f3-f32a958e7cc4"),
        description: "Read and write all users' full profiles.",
    },
    Permission {
        value: "Group.Read.All",
        app_role_id: Some("5b567255-7703-4780-807c-7be8301ae99b"),
        scope_id: Some("5f8c59db-677d-491f-a6b8-5f174b11ec1d"),
        description: "Read all groups.",
    },
    Permission {
        value: "Group.ReadWrite.All",
        app_role_id: Some("62a82d76-70ea-41e2-9197-370581804d09"),
        scope_id: Some("4e46008b-f24c-477d-8fff-7bb4ec7aafe0"),
        description: "Read and write all groups.",
    },
    Permission {
        value: "GroupMember.ReadWrite.All",
        app_role_id: Some("dbaae8cf-10b5-4b86-a4a1-f871c94c6695"),
        scope_id: Some("f81125ac-d3b7-4573-a3b2-7099cc39df9e"),
        description: "Read and write all group memberships.",
    },
    Permission {
        value: "Directory.Read.All",
        app_role_id: Some("7ab1d382-f21e-4acd-a863-ba3e13f7da61"),
        scope_id: Some("06da0dbc-49e2-44d2-8312-53f166ab848a"),
        description: "Read directory data.",
    },
    Permission {
        value: "UserAuthenticationMethod.Read",
        app_role_id: None,
        scope_id: Some("1f6b61c5-2f65-4135-9c9f-31c0f8d32b52"),
        description: "Read your authentication methods.",
    },
    Permission {
        value: "UserAuthenticationMethod.ReadWrite",
        app_role_id: None,
        scope_id: Some("48971fc1-70d7-4245-af77-0beb29b53ee2"),
        description: "Read and write your authentication methods.",
    },
    Permission {
        value: "UserAuthenticationMethod.Read.All",
        app_role_id: Some("38d9df27-64da-44fd-b7c5-a6fbac20248f"),
        scope_id: Some("aec28ec7-4d02-4e8c-b864-50163aea77eb"),
        description: "Read all users' authentication methods.",
    },
    Permission {
        value: "UserAuthenticationMethod.ReadWrite.All",
        app_role_id: Some("50483e42-d915-4231-9639-7fdb7fd190e5"),
        scope_id: Some("b7887744-6746-4312-813d-72daeaee7e2d"),
        description: "Read and write all users' authentication methods.",
    },
    Permission {
        value: "RoleManagement.Read.Directory",
        app_role_id: Some("483bed4a-2ad3-4361-a73b-c83ccdbdc53c"),
        scope_id: Some("741c54c3-0c1e-44a1-818b-3f97ab4e8c83"),
        description: "Read your organization's directory role assignments and definitions.",
    },
    Permission {
        value: "RoleManagement.ReadWrite.Directory",
        app_role_id: Some("9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8"),
        scope_id: Some("d01b97e9-cbc0-49fe-810a-750afd5527a3"),
        description: "Read and write your organization's directory role assignments and definitions.",
    },
    Permission {
        value: "Application.ReadWrite.All",
        app_role_id: Some("1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9"),
        scope_id: Some("bdfbf15f-ee85-4955-8675-146e8e5296b5"),
        description: "Read and write all applications.",
    },
    Permission {
        value: "Organization.Read.All",
        app_role_id: Some("498476ce-e0fe-48b0-b801-37ba7e2685c6"),
        scope_id: Some("4908d5b9-3fb2-4b1e-9336-1888b7937185"),
        description: "Read organization information.",
    },
    Permission {
        value: "Organization.ReadWrite.All",
        app_role_id: Some("292d869f-3427-49a8-9dab-8c70152b74e9"),
        scope_id: Some("46ca0847-7e6b-426e-9775-ea810a948356"),
        description: "Read and write organization information.",
    },
    Permission {
        value: "Device.Read.All",
        app_role_id: Some("7438b122-aefc-4978-80ed-43db9fcc7715"),
        scope_id: Some("11d4cd79-5ba5-460f-803f-e22c8ab85ccd"),
        description: "Read all devices.",
    },
    Permission {
        value: "Device.ReadWrite.All",
        app_role_id: Some("1138cb37-bd11-4084-a2b7-9f71582aeddb"),
        scope_id: None,
        description: "Read and write devices, their compliance included (device management apps).",
    },
    Permission {
        value: "Policy.Read.All",
        app_role_id: Some("246dd0d5-5bd0-4def-940b-0421030a5b68"),
        scope_id: Some("572fea84-0151-49b2-9301-11cb16974376"),
        description: "Read your organization's policies.",
    },
    Permission {
        value: "Policy.ReadWrite.AuthenticationMethod",
        app_role_id: Some("29c18626-4985-4dcd-85c0-193eef327366"),
        scope_id: Some("7e823077-d88e-468f-a337-e18f1f0e6c7c"),
        description: "Read and write your organization's authentication method policies.",
    },
    Permission {
        value: "Policy.ReadWrite.ConditionalAccess",
        app_role_id: Some("01c0a623-fc9b-48e9-b794-0756f8e8f067"),
        scope_id: Some("ad902697-1014-4ef5-81ef-2b4301988e8c"),
        description: "Read and write your organization's conditional access policies.",
    },
    Permission {
        value: "IdentityRiskyUser.Read.All",
        app_role_id: Some("dc5007c0-2d7d-4c42-879c-2dab87571379"),
        scope_id: Some("d04bb851-cb7c-4146-97c7-ca3e71baf56c"),
        description: "Read all identity risky user information.",
    },
    Permission {
        value: "IdentityRiskyUser.ReadWrite.All",
        app_role_id: Some("656f6061-f9fe-4807-9708-6a2e0934df76"),
        scope_id: Some("e0a7cdbb-08b0-4697-8264-0069786e9674"),
        description: "Read and write all risky user information.",
    },
    Permission {
        value: "IdentityRiskEvent.Read.All",
        app_role_id: Some("6e472fd1-ad78-48da-a0f0-97ab2c6b769e"),
        scope_id: Some("8f6a01e7-0391-4ee5-aa22-a3af122cef27"),
        description: "Read all identity risk event information.",
    },
    Permission {
        value: "IdentityRiskEvent.ReadWrite.All",
        app_role_id: Some("db06fb33-1953-4b7b-a2ac-f1e2c854f7ae"),
        scope_id: Some("9e4862a5-b68f-479e-848a-4e07e25c9916"),
        description: "Read and write all risk detection information.",
    },
    Permission {
        value: "AuditLog.Read.All",
        app_role_id: Some("b0afded3-3588-46d8-8b3d-9842eff778da"),
        scope_id: Some("e4c9e354-4dc5-45b8-9e7c-e1393b0b1a20"),
        description: "Read all audit log data.",
    },
];

pub fn graph_app_role(value_or_id: &str) -> Option<&'static Permission> {
    GRAPH_PERMISSIONS.iter().find(|p| {
        p.app_role_id.is_some()
            && (p.value.eq_ignore_ascii_case(value_or_id) || p.app_role_id.is_some_and(|id| id.eq_ignore_ascii_case(value_or_id)))
    })
}

/// A delegated permission of Ward's API by name (case-insensitive), e.g. `User.Read`.
pub fn graph_scope(value: &str) -> Option<&'static Permission> {
    GRAPH_PERMISSIONS.iter().find(|p| p.scope_id.is_some() && p.value.eq_ignore_ascii_case(value))
}

/// A delegated permission as a request carries it: of Ward's API or of an application that
/// exposes an API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// The permission's id (Graph's scope id, or the application's `permissionScope.id`).
    pub id: Uuid,
    pub value: String,
    pub description: String,
    /// Only an administrator may consent to it.
    pub admin_only: bool,
    /// The resource's service principal in the tenant (what consent records point at).
    pub resource: ObjectId,
}

impl Scope {
    pub fn of(p: &Permission, resource: ObjectId) -> Scope {
        Scope {
            id: p.scope_id.and_then(|id| Uuid::parse_str(id).ok()).unwrap_or_default(),
            value: p.value.to_string(),
            description: p.description.to_string(),
            admin_only: p.requires_admin_consent(),
            resource,
        }
    }

    /// Is it among what `grants` consented to?
    pub fn consented(&self, grants: &[OAuth2PermissionGrant]) -> bool {
        grants.iter().any(|g| g.resource_id == self.resource && g.covers(&self.value))
    }
}

/// A resource a token can be for: Ward's API (Graph-named) or an application exposing an API.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub app_id: Uuid,
    /// Its service principal in the tenant.
    pub service_principal: ObjectId,
    /// What tokens for it carry as `aud`.
    pub audience: String,
    pub display_name: String,
    /// The delegated permissions it offers.
    pub scopes: Vec<Scope>,
    /// The application permissions it offers: (app role id, value).
    pub app_roles: Vec<(Uuid, String)>,
}

impl Resource {
    /// Ward's own API, whose service principal in the tenant is `sp`.
    pub fn graph(sp: ObjectId) -> Resource {
        Resource {
            app_id: Uuid::parse_str(GRAPH_APP_ID).unwrap_or_default(),
            service_principal: sp,
            audience: GRAPH_RESOURCE_URI.to_string(),
            display_name: GRAPH_DISPLAY_NAME.to_string(),
            scopes: GRAPH_PERMISSIONS
                .iter()
                .filter(|p| p.scope_id.is_some() && !OIDC_SCOPES.contains(&p.value))
                .map(|p| Scope::of(p, sp))
                .collect(),
            app_roles: GRAPH_PERMISSIONS
                .iter()
                .filter_map(|p| p.app_role_id.and_then(|id| Uuid::parse_str(id).ok()).map(|id| (id, p.value.to_string())))
                .collect(),
        }
    }

    pub fn is_graph(&self) -> bool {
        self.app_id.to_string() == GRAPH_APP_ID
    }

    /// An application permission by value or id.
    pub fn app_role(&self, value_or_id: &str) -> Option<(Uuid, &str)> {
        self.app_roles
            .iter()
            .find(|(id, v)| v.eq_ignore_ascii_case(value_or_id) || id.to_string().eq_ignore_ascii_case(value_or_id))
            .map(|(id, v)| (*id, v.as_str()))
    }

    pub fn scope(&self, value: &str) -> Option<&Scope> {
        self.scopes.iter().find(|s| s.value.eq_ignore_ascii_case(value))
    }
}

/// The OpenID Connect scopes: they shape the ID token and refresh token, not the access token's
/// audience.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

impl Permission {
    /// Whether only an administrator may consent: anything tenant-wide (`*.All`) or about policy,
    /// as Entra's defaults have it. Users may consent to signing in and reading their own profile.
    /// Tenant-wide data, policies, roles and authentication methods: only an administrator may
    /// consent (as in Entra).
    pub fn requires_admin_consent(&self) -> bool {
        self.value.ends_with(".All")
            || ["Policy.", "RoleManagement.", "UserAuthenticationMethod."].iter().any(|p| self.value.starts_with(p))
    }
}

/// Delegated permissions granted to a client on a resource: for every user (`AllPrincipals`,
/// admin consent) or for one (`Principal`, that user's consent). Graph's `oAuth2PermissionGrant`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2PermissionGrant {
    pub id: ObjectId,
    /// The client's service principal.
    pub client_id: ObjectId,
    /// `AllPrincipals` or `Principal`.
    pub consent_type: String,
    pub principal_id: Option<ObjectId>,
    /// The resource's service principal.
    pub resource_id: ObjectId,
    /// Space-separated permission values.
    pub scope: String,
}

impl OAuth2PermissionGrant {
    pub const ALL_PRINCIPALS: &'static str = "AllPrincipals";
    pub const PRINCIPAL: &'static str = "Principal";

    pub fn unique_key(client: ObjectId, resource: ObjectId, principal: Option<ObjectId>) -> String {
        match principal {
            Some(p) => format!("oauth2grant:{client}:{resource}:{p}"),
            None => format!("oauth2grant:{client}:{resource}:all"),
        }
    }

    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split_whitespace()
    }

    pub fn covers(&self, value: &str) -> bool {
        self.scopes().any(|s| s.eq_ignore_ascii_case(value))
    }
}

/// An application permission granted (admin consent) to a service principal on a resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAssignment {
    pub id: ObjectId,
    pub principal_id: ObjectId,
    pub principal_type: String,
    /// The resource's service principal in this tenant.
    pub resource_id: ObjectId,
    pub resource_app_id: Uuid,
    pub app_role_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
}

impl AppRoleAssignment {
    pub fn unique_key(principal: ObjectId, resource: ObjectId, role: Uuid) -> String {
        format!("approle:{principal}:{resource}:{role}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_ids_are_unique_guids() {
        let mut ids: Vec<&str> = GRAPH_PERMISSIONS.iter().flat_map(|p| [p.app_role_id, p.scope_id]).flatten().collect();
        for id in &ids {
            assert!(Uuid::parse_str(id).is_ok(), "{id}");
        }
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
        assert_eq!(graph_app_role("user.read.all").unwrap().value, "User.Read.All");
        assert_eq!(graph_app_role("62A82D76-70EA-41E2-9197-370581804D09").unwrap().value, "Group.ReadWrite.All");
        assert!(graph_app_role("User.Read").is_none(), "delegated only");
        assert_eq!(graph_scope("user.read").unwrap().value, "User.Read");
        assert!(graph_scope("openid").is_some());
        assert!(!graph_scope("User.Read").unwrap().requires_admin_consent());
        assert!(graph_scope("User.Read.All").unwrap().requires_admin_consent());
        assert!(graph_scope("Policy.ReadWrite.ConditionalAccess").unwrap().requires_admin_consent());
        assert!(graph_scope("RoleManagement.ReadWrite.Directory").unwrap().requires_admin_consent());
        assert!(graph_scope("UserAuthenticationMethod.ReadWrite").unwrap().requires_admin_consent());
    }
}
