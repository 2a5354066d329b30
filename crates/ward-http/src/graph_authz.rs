//! Who may call which directory operation of the Graph API: the permission table, mirrored in
//! `docs/graph.md`. App-only tokens are authorized by their `roles` (application permissions);
//! delegated tokens by their `scp`, and, for operations an ordinary member cannot perform, also
//! by the signed-in user's directory roles (Graph intersects the app's permission with what the
//! user may do).

use ward_auth::introspect::Caller;
use ward_core::roles::{
    AUTHENTICATION_ADMINISTRATOR, AUTHENTICATION_POLICY_ADMINISTRATOR, GLOBAL_ADMINISTRATOR, PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
};

const USER_ADMINISTRATOR: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";
const GROUPS_ADMINISTRATOR: &str = "fdd7a751-b60b-444a-984c-02652fe8fa1c";
const PRIVILEGED_ROLE_ADMINISTRATOR: &str = "e8611ab8-c189-46e8-94e1-60213ab1f814";
const SECURITY_ADMINISTRATOR: &str = "194ae4cb-b126-40b2-bd5b-6091b380977d";
const SECURITY_READER: &str = "5d6b6bb7-de71-4623-b4af-96380a352509";
const GLOBAL_READER: &str = "f2ef992c-3afb-46b9-b7cf-a126ee74c451";
const CONDITIONAL_ACCESS_ADMINISTRATOR: &str = "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9";

/// A directory operation of the Graph surface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `GET /me` and the signed-in user's own memberships.
    ReadMe,
    /// `GET /users`, `/users/{id}` and their relationships.
    ReadUsers,
    /// `POST/PATCH/DELETE /users…`, restore, `revokeSignInSessions`, `manager`.
    WriteUsers,
    /// `GET /groups`, `/groups/{id}` and their members and owners.
    ReadGroups,
    /// `POST/PATCH/DELETE /groups…`, restore.
    WriteGroups,
    /// `members/$ref` and `owners/$ref` add and remove.
    WriteMembers,
    /// `GET /directoryRoles`, `roleManagement/directory/roleDefinitions|roleAssignments`.
    ReadRoles,
    /// Role assignments: create and remove.
    WriteRoles,
    /// `GET /auditLogs/directoryAudits`.
    ReadAudit,
    /// Another user's authentication methods: list and read.
    ReadMethods,
    /// Another user's authentication methods: remove.
    WriteMethods,
    /// The signed-in user's own methods (`/me/authentication/…`): list and read.
    ReadMyMethods,
    /// The signed-in user's own methods: remove.
    WriteMyMethods,
    /// `GET /policies/authenticationMethodsPolicy` and its configurations.
    ReadMethodsPolicy,
    /// `PATCH` of a configuration of the authentication methods policy.
    WriteMethodsPolicy,
    /// `GET /organization/{id}/branding` and its logo.
    ReadBranding,
    /// `PATCH` of the branding, `PUT` of its logo.
    WriteBranding,
    /// `GET /identity/conditionalAccess/policies|namedLocations`.
    ReadConditionalAccess,
    /// Conditional access policies and named locations: create, update, delete.
    WriteConditionalAccess,
    /// `GET /devices`.
    ReadDevices,
    /// Devices: register, update (compliance only by their management app), delete.
    WriteDevices,
    /// `GET /identityProtection/riskyUsers` (and history).
    ReadRiskyUsers,
    /// `confirmCompromised`, `dismiss`.
    WriteRiskyUsers,
    /// `GET /identityProtection/riskDetections`.
    ReadRiskDetections,
    /// `POST /auditLogs/signIns/confirmSafe`, `confirmCompromised`.
    WriteSignInRisk,
}

pub struct Rule {
    /// Application permissions that allow the operation app-only.
    pub app: &'static [&'static str],
    /// Delegated permissions that allow it on a user's behalf.
    pub delegated: &'static [&'static str],
    /// For delegated calls, the directory roles the user must also hold (`None`: any member).
    pub user_roles: Option<&'static [&'static str]>,
}

pub fn rule(op: Op) -> Rule {
    const READ_USERS: &[&str] = &["User.Read.All", "User.ReadWrite.All", "Directory.Read.All"];
    const READ_GROUPS: &[&str] = &["Group.Read.All", "Group.ReadWrite.All", "GroupMember.ReadWrite.All", "Directory.Read.All"];
    match op {
        Op::ReadMe => {
            Rule { app: &[], delegated: &["User.Read", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All"], user_roles: None }
        }
        Op::ReadUsers => Rule { app: READ_USERS, delegated: READ_USERS, user_roles: None },
        Op::WriteUsers => Rule {
            app: &["User.ReadWrite.All"],
            delegated: &["User.ReadWrite.All"],
            user_roles: Some(&[GLOBAL_ADMINISTRATOR, USER_ADMINISTRATOR]),
        },
        Op::ReadGroups => Rule { app: READ_GROUPS, delegated: READ_GROUPS, user_roles: None },
        Op::WriteGroups => Rule {
            app: &["Group.ReadWrite.All"],
            delegated: &["Group.ReadWrite.All"],
            user_roles: Some(&[GLOBAL_ADMINISTRATOR, GROUPS_ADMINISTRATOR, USER_ADMINISTRATOR]),
        },
        Op::WriteMembers => Rule {
            app: &["GroupMember.ReadWrite.All", "Group.ReadWrite.All"],
            delegated: &["GroupMember.ReadWrite.All", "Group.ReadWrite.All"],
            user_roles: Some(&[GLOBAL_ADMINISTRATOR, GROUPS_ADMINISTRATOR, USER_ADMINISTRATOR]),
        },
        Op::ReadRoles => {
            const READ: &[&str] = &["RoleManagement.Read.Directory", "RoleManagement.ReadWrite.Directory", "Directory.Read.All"];
            Rule { app: READ, delegated: READ, user_roles: None }
        }
        Op::WriteRoles => Rule {
            app: &["RoleManagement.ReadWrite.Directory"],
            delegated: &["RoleManagement.ReadWrite.Directory"],
            user_roles: Some(&[GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR]),
        },
        Op::ReadMethods => Rule {
            app: &["UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All"],
            delegated: &["UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All"],
            user_roles: Some(&[GLOBAL_ADMINISTRATOR, PRIVILEGED_AUTHENTICATION_ADMINISTRATOR, AUTHENTICATION_ADMINISTRATOR, GLOBAL_READER]),
        },
        Op::WriteMethods => Rule {
            app: &["UserAuthenticationMethod.ReadWrite.All"],
            delegated: &["UserAuthenticationMethod.ReadWrite.All"],
            user_roles: Some(&[GLOBAL_ADMINISTRATOR, PRIVILEGED_AUTHENTICATION_ADMINISTRATOR, AUTHENTICATION_ADMINISTRATOR]),
        },
        Op::ReadMyMethods => Rule {
            app: &[],
            delegated: &[
                "UserAuthenticationMethod.Read",
                "UserAuthenticationMethod.ReadWrite",
                "UserAuthenticationMethod.Read.All",
                "UserAuthenticationMethod.ReadWrite.All",
            ],
            user_roles: None,
        },
        Op::WriteMyMethods => Rule {
            app: &[],
            delegated: &["UserAuthenticationMethod.ReadWrite", "UserAuthenticationMethod.ReadWrite.All"],
            user_roles: None,
        },
        Op::ReadAudit => Rule {
            app: &["AuditLog.Read.All"],
            delegated: &["AuditLog.Read.All"],
            user_roles: Some(&[GLOBAL_ADMINISTRATOR, GLOBAL_READER, SECURITY_ADMINISTRATOR, SECURITY_READER]),
        },
        Op::ReadMethodsPolicy => Rule {
            app: &["Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"],
            delegated: &["Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"],
            user_roles: Some(&[
                GLOBAL_ADMINISTRATOR,
                AUTHENTICATION_POLICY_ADMINISTRATOR,
                GLOBAL_READER,
                SECURITY_ADMINISTRATOR,
                SECURITY_READER,
            ]),
        },
        Op::WriteMethodsPolicy => Rule {
            app: &["Policy.ReadWrite.AuthenticationMethod"],
            delegated: &["Policy.ReadWrite.AuthenticationMethod"],
            user_roles: Some(&[GLOBAL_ADMINISTRATOR, AUTHENTICATION_POLICY_ADMINISTRATOR]),
        },
        Op::ReadBranding => Rule {
            app: &["Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All"],
            delegated: &["User.Read", "Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All"],
            user_roles: None,
        },
        Op::WriteBranding => Rule {
            app: &["Organization.ReadWrite.All"],
            delegated: &["Organization.ReadWrite.All"],
            user_roles: Some(&[GLOBAL_ADMINISTRATOR]),
        },
        Op::ReadConditionalAccess => Rule {
            app: &["Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"],
            delegated: &["Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"],
            user_roles: Some(&[
                GLOBAL_ADMINISTRATOR,
                CONDITIONAL_ACCESS_ADMINISTRATOR,
                SECURITY_ADMINISTRATOR,
                SECURITY_READER,
                GLOBAL_READER,
            ]),
        },
        Op::WriteConditionalAccess => Rule {
            app: &["Policy.ReadWrite.ConditionalAccess"],
            delegated: &["Policy.ReadWrite.ConditionalAccess"],
            user_roles: Some(&[GLOBAL_ADMINISTRATOR, CONDITIONAL_ACCESS_ADMINISTRATOR, SECURITY_ADMINISTRATOR]),
        },
        Op::ReadDevices => Rule {
            app: &["Device.Read.All", "Device.ReadWrite.All", "Directory.Read.All"],
            delegated: &["Device.Read.All", "Directory.Read.All"],
            user_roles: None,
        },
        Op::WriteDevices => Rule { app: &["Device.ReadWrite.All"], delegated: &[], user_roles: None },
        Op::ReadRiskyUsers => Rule {
            app: &["IdentityRiskyUser.Read.All", "IdentityRiskyUser.ReadWrite.All"],
            delegated: &["IdentityRiskyUser.Read.All", "IdentityRiskyUser.ReadWrite.All"],
            user_roles: Some(&[GLOBAL_ADMINISTRATOR, SECURITY_ADMINISTRATOR, SECURITY_READER, GLOBAL_READER]),
        },
        Op::WriteRiskyUsers => Rule {
            app: &["IdentityRiskyUser.ReadWrite.All"],
            delegated: &["IdentityRiskyUser.ReadWrite.All"],
            user_roles: Some(&[GLOBAL_ADMINISTRATOR, SECURITY_ADMINISTRATOR]),
        },
        Op::ReadRiskDetections => Rule {
            app: &["IdentityRiskEvent.Read.All"],
            delegated: &["IdentityRiskEvent.Read.All"],
            user_roles: Some(&[GLOBAL_ADMINISTRATOR, SECURITY_ADMINISTRATOR, SECURITY_READER, GLOBAL_READER]),
        },
        Op::WriteSignInRisk => Rule {
            app: &["IdentityRiskEvent.ReadWrite.All"],
            delegated: &["IdentityRiskyUser.ReadWrite.All"],
            user_roles: Some(&[GLOBAL_ADMINISTRATOR, SECURITY_ADMINISTRATOR]),
        },
    }
}

/// Does the token allow `op`? `user_roles` are the signed-in user's directory role template ids
/// (ignored for app-only tokens).
pub fn allows(caller: &Caller, op: Op, user_roles: &[String]) -> bool {
    let r = rule(op);
    match &caller.user {
        None => caller.roles.iter().any(|role| r.app.contains(&role.as_str())),
        Some(_) => {
            caller.scopes.iter().any(|s| r.delegated.contains(&s.as_str()))
                && r.user_roles.is_none_or(|needed| user_roles.iter().any(|have| needed.contains(&have.as_str())))
        }
    }
}

/// Does `op` need the signed-in user's roles to decide (so the caller should look them up)?
pub fn needs_user_roles(caller: &Caller, op: Op) -> bool {
    caller.user.is_some() && rule(op).user_roles.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use time::OffsetDateTime;
    use uuid::Uuid;
    use ward_core::TenantId;
    use ward_core::tenant::Tenant;
    use ward_core::user::{NewUser, User};

    fn caller(delegated: bool, permissions: &[&str]) -> Caller {
        let tenant = Tenant::new(TenantId::from_uuid(Uuid::from_u128(1)), "Contoso", OffsetDateTime::UNIX_EPOCH).unwrap();
        let user = delegated.then(|| {
            let input = NewUser {
                user_principal_name: format!("ann@{}", tenant.initial_domain()),
                display_name: "Ann".into(),
                ..Default::default()
            };
            User::create(input, ward_core::ObjectId::from_uuid(Uuid::from_u128(2)), &tenant, OffsetDateTime::UNIX_EPOCH).unwrap()
        });
        let list: Vec<String> = permissions.iter().map(|p| p.to_string()).collect();
        Caller {
            tenant: Arc::new(tenant),
            app_id: Uuid::from_u128(3),
            user,
            roles: if delegated { vec![] } else { list.clone() },
            scopes: if delegated { list } else { vec![] },
            amr: vec![],
        }
    }

    #[test]
    fn app_only_calls_need_an_application_permission_for_the_operation() {
        assert!(allows(&caller(false, &["User.Read.All"]), Op::ReadUsers, &[]));
        assert!(!allows(&caller(false, &["User.Read.All"]), Op::WriteUsers, &[]));
        assert!(!allows(&caller(false, &["User.Read.All"]), Op::ReadGroups, &[]));
        assert!(allows(&caller(false, &["GroupMember.ReadWrite.All"]), Op::WriteMembers, &[]));
        assert!(!allows(&caller(false, &["GroupMember.ReadWrite.All"]), Op::WriteGroups, &[]));
        assert!(!allows(&caller(false, &["User.ReadWrite.All"]), Op::ReadMe, &[]), "no /me without a user");
        // A delegated permission name in `roles` means nothing.
        assert!(!allows(&caller(false, &["User.Read"]), Op::ReadUsers, &[]));
        assert!(!allows(&caller(false, &[]), Op::ReadUsers, &[]));
    }

    #[test]
    fn delegated_writes_need_the_scope_and_an_administrator_role() {
        let c = caller(true, &["User.ReadWrite.All"]);
        assert!(needs_user_roles(&c, Op::WriteUsers));
        assert!(!allows(&c, Op::WriteUsers, &[]), "an ordinary member cannot, whatever the app may");
        assert!(!allows(&c, Op::WriteUsers, &[GROUPS_ADMINISTRATOR.to_string()]));
        assert!(allows(&c, Op::WriteUsers, &[USER_ADMINISTRATOR.to_string()]));
        assert!(allows(&c, Op::WriteUsers, &[GLOBAL_ADMINISTRATOR.to_string()]));
        // The role without the scope is not enough either.
        assert!(!allows(&caller(true, &["User.Read"]), Op::WriteUsers, &[GLOBAL_ADMINISTRATOR.to_string()]));
        // Reads need no role.
        assert!(!needs_user_roles(&caller(true, &["User.Read.All"]), Op::ReadUsers));
        assert!(allows(&caller(true, &["User.Read.All"]), Op::ReadUsers, &[]));
        assert!(allows(&caller(true, &["User.Read"]), Op::ReadMe, &[]));
        assert!(!allows(&caller(true, &["User.Read"]), Op::ReadUsers, &[]));
        assert!(!allows(&caller(true, &["RoleManagement.ReadWrite.Directory"]), Op::WriteRoles, &[USER_ADMINISTRATOR.to_string()]));
        assert!(allows(
            &caller(true, &["RoleManagement.ReadWrite.Directory"]),
            Op::WriteRoles,
            &[PRIVILEGED_ROLE_ADMINISTRATOR.to_string()]
        ));
    }
}

#[cfg(test)]
mod docs {
    use super::*;
    use ward_core::roles::BUILT_IN_ROLES;

    const OPS: [Op; 25] = [
        Op::ReadMe,
        Op::ReadUsers,
        Op::WriteUsers,
        Op::ReadGroups,
        Op::WriteGroups,
        Op::WriteMembers,
        Op::ReadRoles,
        Op::WriteRoles,
        Op::ReadAudit,
        Op::ReadMethods,
        Op::WriteMethods,
        Op::ReadMyMethods,
        Op::WriteMyMethods,
        Op::ReadMethodsPolicy,
        Op::WriteMethodsPolicy,
        Op::ReadBranding,
        Op::WriteBranding,
        Op::ReadConditionalAccess,
        Op::WriteConditionalAccess,
        Op::ReadDevices,
        Op::WriteDevices,
        Op::ReadRiskyUsers,
        Op::WriteRiskyUsers,
        Op::ReadRiskDetections,
        Op::WriteSignInRisk,
    ];

    fn cell(list: &[&str]) -> String {
        if list.is_empty() { "—".into() } else { list.join(", ") }
    }

    /// docs/graph.md shows the permission table; it must say what the code does.
    #[test]
    fn the_documented_permission_table_is_the_one_in_code() {
        let doc = include_str!("../../../docs/graph.md");
        for op in OPS {
            let r = rule(op);
            let roles: Vec<&str> = r
                .user_roles
                .unwrap_or(&[])
                .iter()
                .map(|id| BUILT_IN_ROLES.iter().find(|b| b.template_id == *id).map(|b| b.display_name).unwrap_or("?"))
                .collect();
            let row = format!("| {op:?} | {} | {} | {} |", cell(r.app), cell(r.delegated), cell(&roles));
            assert!(doc.contains(&row), "docs/graph.md lacks the row:\n{row}");
        }
    }
}
