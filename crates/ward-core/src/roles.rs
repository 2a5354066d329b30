//! Built-in directory roles, with Entra's role template ids so that role assignments written by
//! Entra tooling mean the same here.

use crate::ids::{ObjectId, ObjectKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuiltInRole {
    pub template_id: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
}

pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";

pub const BUILT_IN_ROLES: [BuiltInRole; 12] = [
    BuiltInRole {
        template_id: GLOBAL_ADMINISTRATOR,
        display_name: "Global Administrator",
        description: "Can manage all aspects of the directory and the services that use it.",
    },
    BuiltInRole {
        template_id: "e8611ab8-c189-46e8-94e1-60213ab1f814",
        display_name: "Privileged Role Administrator",
        description: "Can manage role assignments and all aspects of privileged access.",
    },
    BuiltInRole {
        template_id: "fe930be7-5e62-47db-91af-98c3a49a38b1",
        display_name: "User Administrator",
        description: "Can manage all aspects of users and groups, including resetting passwords for limited admins.",
    },
    BuiltInRole {
        template_id: "fdd7a751-b60b-444a-984c-02652fe8fa1c",
        display_name: "Groups Administrator",
        description: "Members of this role can create and manage groups, group settings and naming policies.",
    },
    BuiltInRole {
        template_id: "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        display_name: "Application Administrator",
        description: "Can create and manage all aspects of app registrations and enterprise apps.",
    },
    BuiltInRole {
        template_id: "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
        display_name: "Conditional Access Administrator",
        description: "Can manage conditional access policies.",
    },
    BuiltInRole {
        template_id: "194ae4cb-b126-40b2-bd5b-6091b380977d",
        display_name: "Security Administrator",
        description: "Can read security information and reports, and manage security configuration.",
    },
    BuiltInRole {
        template_id: "5d6b6bb7-de71-4623-b4af-96380a352509",
        display_name: "Security Reader",
        description: "Can read security information and reports.",
    },
    BuiltInRole {
        template_id: "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
        display_name: "Global Reader",
        description: "Can read everything that a Global Administrator can, but not update anything.",
    },
    BuiltInRole {
        template_id: AUTHENTICATION_ADMINISTRATOR,
        display_name: "Authentication Administrator",
        description: "Can see and manage the authentication methods of non-administrators.",
    },
    BuiltInRole {
        template_id: PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
        display_name: "Privileged Authentication Administrator",
        description: "Can see and manage the authentication methods of any user.",
    },
    BuiltInRole {
        template_id: AUTHENTICATION_POLICY_ADMINISTRATOR,
        display_name: "Authentication Policy Administrator",
        description: "Can create and manage the authentication methods policy and password protection policy.",
    },
];

pub const AUTHENTICATION_ADMINISTRATOR: &str = "c4e39bd9-1100-46d3-8c65-fb160da0071f";
pub const PRIVILEGED_AUTHENTICATION_ADMINISTRATOR: &str = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13";
pub const AUTHENTICATION_POLICY_ADMINISTRATOR: &str = "0526716b-113d-4c15-b2c8-68e3c22b9f80";

/// Finds a built-in role by template id (case-insensitive) or by display name.
pub fn find_role(key: &str) -> Option<&'static BuiltInRole> {
    BUILT_IN_ROLES.iter().find(|r| r.template_id.eq_ignore_ascii_case(key) || r.display_name.eq_ignore_ascii_case(key))
}

/// A directory role held by a user or service principal, tenant-wide (`directoryScopeId` "/").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignment {
    pub id: ObjectId,
    pub role_definition_id: String,
    pub principal_id: ObjectId,
    pub principal_kind: ObjectKind,
    pub directory_scope_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
}

impl RoleAssignment {
    /// The key under which a principal holds a role at most once.
    pub fn unique_key(role_template_id: &str, principal: ObjectId) -> String {
        format!("role:{}:{principal}", role_template_id.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_distinct_built_in_roles() {
        let mut ids: Vec<_> = BUILT_IN_ROLES.iter().map(|r| r.template_id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 12);
        assert_eq!(find_role("global administrator").unwrap().template_id, GLOBAL_ADMINISTRATOR);
        assert_eq!(find_role("FE930BE7-5E62-47DB-91AF-98C3A49A38B1").unwrap().display_name, "User Administrator");
        assert!(find_role("Billing Administrator").is_none());
    }
}
