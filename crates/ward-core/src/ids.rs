//! Typed identifiers. Every directory object has a GUID, as in Graph; the kind travels beside it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! guid_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Lower-case hyphenated, as Graph writes GUIDs.
                write!(f, "{}", self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = crate::DirectoryError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                // Graph accepts only the hyphenated 36-character form.
                if s.len() != 36 {
                    return Err(crate::DirectoryError::invalid("id", format!("'{}' is not a GUID", crate::validate::clip(s))));
                }
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| crate::DirectoryError::invalid("id", format!("'{}' is not a GUID", crate::validate::clip(s))))
            }
        }
    };
}

guid_type!(
    /// A tenant (directory) id.
    TenantId
);
guid_type!(
    /// The id of any directory object: user, group, application, service principal, role assignment.
    ObjectId
);

/// What a directory object is. Stored beside every object and every membership edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ObjectKind {
    User,
    Group,
    Application,
    ServicePrincipal,
    RoleAssignment,
    AppRoleAssignment,
    /// A delegated-permission grant (user or admin consent): Graph's `oAuth2PermissionGrant`.
    OAuth2PermissionGrant,
    /// Graph's `conditionalAccessPolicy`.
    ConditionalAccessPolicy,
    /// Graph's `namedLocation` (IP ranges or countries).
    NamedLocation,
    /// Graph's `device`: a registered device, its compliance, and the key it proves itself with.
    Device,
    /// A long-lived SCIM provisioning token of a tenant: its name and its last use (its hash is a
    /// credential).
    ScimToken,
    /// Identity Protection's risk of a user (Graph's `riskyUser`; id = the user's id), with its
    /// history.
    RiskyUser,
    /// Graph's `riskDetection`.
    RiskDetection,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 13] = [
        ObjectKind::User,
        ObjectKind::Group,
        ObjectKind::Application,
        ObjectKind::ServicePrincipal,
        ObjectKind::RoleAssignment,
        ObjectKind::AppRoleAssignment,
        ObjectKind::OAuth2PermissionGrant,
        ObjectKind::ConditionalAccessPolicy,
        ObjectKind::NamedLocation,
        ObjectKind::Device,
        ObjectKind::ScimToken,
        ObjectKind::RiskyUser,
        ObjectKind::RiskDetection,
    ];

    /// The name stored in the database and written in the change feed.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::User => "user",
            ObjectKind::Group => "group",
            ObjectKind::Application => "application",
            ObjectKind::ServicePrincipal => "servicePrincipal",
            ObjectKind::RoleAssignment => "roleAssignment",
            ObjectKind::AppRoleAssignment => "appRoleAssignment",
            ObjectKind::OAuth2PermissionGrant => "oAuth2PermissionGrant",
            ObjectKind::ConditionalAccessPolicy => "conditionalAccessPolicy",
            ObjectKind::NamedLocation => "namedLocation",
            ObjectKind::Device => "device",
            ObjectKind::ScimToken => "scimToken",
            ObjectKind::RiskyUser => "riskyUser",
            ObjectKind::RiskDetection => "riskDetection",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// May this kind be a member of a group?
    pub fn can_be_member(self) -> bool {
        matches!(self, ObjectKind::User | ObjectKind::Group | ObjectKind::ServicePrincipal)
    }

    /// Can objects of this kind be soft-deleted and restored?
    pub fn is_restorable(self) -> bool {
        matches!(self, ObjectKind::User | ObjectKind::Group)
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_parse_only_in_hyphenated_form() {
        let id: ObjectId = "6e9b3f0a-7c1d-4f7e-9a53-1b2c3d4e5f60".parse().unwrap();
        assert_eq!(id.to_string(), "6e9b3f0a-7c1d-4f7e-9a53-1b2c3d4e5f60");
        assert!("6e9b3f0a7c1d4f7e9a531b2c3d4e5f60".parse::<ObjectId>().is_err());
        assert!("not-a-guid".parse::<ObjectId>().is_err());
        let upper: ObjectId = "6E9B3F0A-7C1D-4F7E-9A53-1B2C3D4E5F60".parse().unwrap();
        assert_eq!(upper, id);
    }

    #[test]
    fn kinds_round_trip_through_their_stored_names() {
        for kind in ObjectKind::ALL {
            assert_eq!(ObjectKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ObjectKind::parse("printer"), None);
        // ALL must name every variant: this match stops compiling when one is added, and the
        // position check fails until ALL lists it.
        let position = |k: ObjectKind| match k {
            ObjectKind::User => 0,
            ObjectKind::Group => 1,
            ObjectKind::Application => 2,
            ObjectKind::ServicePrincipal => 3,
            ObjectKind::RoleAssignment => 4,
            ObjectKind::AppRoleAssignment => 5,
            ObjectKind::OAuth2PermissionGrant => 6,
            ObjectKind::ConditionalAccessPolicy => 7,
            ObjectKind::NamedLocation => 8,
            ObjectKind::Device => 9,
            ObjectKind::ScimToken => 10,
            ObjectKind::RiskyUser => 11,
            ObjectKind::RiskDetection => 12,
        };
        for (i, kind) in ObjectKind::ALL.iter().enumerate() {
            assert_eq!(position(*kind), i);
        }
        assert_eq!(ObjectKind::ALL.len(), 13);
    }
}
