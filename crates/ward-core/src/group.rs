//! Groups: security groups and Microsoft 365 ("Unified") groups, with Graph's creation rules
//! (reference/entra-apis.md §1.3).

use crate::error::DirectoryError;
use crate::ids::ObjectId;
use crate::tenant::Tenant;
use crate::user::double_option;
use crate::validate;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub const UNIFIED: &str = "Unified";
pub const DYNAMIC_MEMBERSHIP: &str = "DynamicMembership";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Visibility {
    Public,
    Private,
    HiddenMembership,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: ObjectId,
    pub display_name: String,
    pub description: Option<String>,
    pub mail_nickname: String,
    pub mail: Option<String>,
    pub mail_enabled: bool,
    pub security_enabled: bool,
    pub group_types: Vec<String>,
    pub is_assignable_to_role: bool,
    pub visibility: Visibility,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub deleted_date_time: Option<OffsetDateTime>,
    /// SCIM's `externalId` (RFC 7643 §3.1); not a Graph property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewGroup {
    pub display_name: String,
    pub description: Option<String>,
    pub mail_nickname: String,
    pub mail_enabled: bool,
    pub security_enabled: bool,
    #[serde(default)]
    pub group_types: Vec<String>,
    #[serde(default)]
    pub is_assignable_to_role: bool,
    pub visibility: Option<Visibility>,
    /// Set by SCIM only: never read from a Graph body.
    #[serde(skip)]
    pub external_id: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupPatch {
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub description: Option<Option<String>>,
    pub mail_nickname: Option<String>,
    pub security_enabled: Option<bool>,
    pub visibility: Option<Visibility>,
    /// Set by SCIM only: never read from a Graph body.
    #[serde(skip)]
    pub external_id: Option<Option<String>>,
}

impl Group {
    pub fn is_unified(&self) -> bool {
        self.group_types.iter().any(|t| t == UNIFIED)
    }

    pub fn create(input: NewGroup, id: ObjectId, tenant: &Tenant, now: OffsetDateTime) -> Result<Group, DirectoryError> {
        for t in &input.group_types {
            match t.as_str() {
                UNIFIED => {}
                DYNAMIC_MEMBERSHIP => {
                    return Err(DirectoryError::invalid("groupTypes", "dynamic membership is not supported yet"));
                }
                other => {
                    return Err(DirectoryError::invalid("groupTypes", format!("unknown group type '{}'", validate::clip(other))));
                }
            }
        }
        let unified = input.group_types.iter().any(|t| t == UNIFIED);
        if input.group_types.len() > 1 {
            return Err(DirectoryError::invalid("groupTypes", "a group type may be given only once"));
        }
        if unified && !input.mail_enabled {
            return Err(DirectoryError::invalid("mailEnabled", "a Microsoft 365 group (groupTypes [\"Unified\"]) must be mail-enabled"));
        }
        if !unified && input.mail_enabled {
            return Err(DirectoryError::invalid(
                "mailEnabled",
                "mail-enabled security groups and distribution groups cannot be created; use groupTypes [\"Unified\"]",
            ));
        }
        if !unified && !input.security_enabled {
            return Err(DirectoryError::invalid("securityEnabled", "a group that is not a Microsoft 365 group must be security-enabled"));
        }
        if input.is_assignable_to_role && !input.security_enabled {
            return Err(DirectoryError::invalid("isAssignableToRole", "a role-assignable group must be security-enabled"));
        }
        let visibility = match input.visibility {
            Some(Visibility::HiddenMembership) if !unified => {
                return Err(DirectoryError::invalid("visibility", "HiddenMembership is only for Microsoft 365 groups"));
            }
            Some(v) => v,
            None if unified => Visibility::Public,
            None => Visibility::Private,
        };
        let mail_nickname = validate::mail_nickname(&input.mail_nickname, false)?;
        let mail = unified.then(|| format!("{mail_nickname}@{}", tenant.default_domain()));
        Ok(Group {
            id,
            display_name: validate::required_text("displayName", &input.display_name, 256)?,
            description: validate::optional_text("description", input.description.as_deref(), 1024)?,
            mail,
            mail_nickname,
            mail_enabled: input.mail_enabled,
            security_enabled: input.security_enabled,
            group_types: input.group_types,
            is_assignable_to_role: input.is_assignable_to_role,
            visibility,
            created_date_time: now,
            deleted_date_time: None,
            external_id: crate::user::external_id(input.external_id.as_deref())?,
        })
    }

    pub fn apply(&mut self, patch: GroupPatch) -> Result<bool, DirectoryError> {
        let before = self.clone();
        if let Some(v) = patch.display_name {
            self.display_name = validate::required_text("displayName", &v, 256)?;
        }
        if let Some(v) = patch.description {
            self.description = validate::optional_text("description", v.as_deref(), 1024)?;
        }
        if let Some(v) = patch.mail_nickname {
            self.mail_nickname = validate::mail_nickname(&v, false)?;
        }
        if let Some(v) = patch.security_enabled {
            if !v && !self.is_unified() {
                return Err(DirectoryError::invalid(
                    "securityEnabled",
                    "a group that is not a Microsoft 365 group must stay security-enabled",
                ));
            }
            if !v && self.is_assignable_to_role {
                return Err(DirectoryError::invalid("securityEnabled", "a role-assignable group must stay security-enabled"));
            }
            self.security_enabled = v;
        }
        if let Some(v) = patch.visibility {
            if v == Visibility::HiddenMembership {
                return Err(DirectoryError::invalid("visibility", "HiddenMembership can only be set when the group is created"));
            }
            self.visibility = v;
        }
        if let Some(v) = patch.external_id {
            self.external_id = crate::user::external_id(v.as_deref())?;
        }
        Ok(*self != before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use uuid::Uuid;

    fn tenant() -> Tenant {
        Tenant::new(TenantId::from_uuid(Uuid::nil()), "Contoso", OffsetDateTime::UNIX_EPOCH).unwrap()
    }

    fn security(name: &str) -> NewGroup {
        NewGroup { display_name: name.into(), mail_nickname: name.replace(' ', ""), security_enabled: true, ..Default::default() }
    }

    fn create(input: NewGroup) -> Result<Group, DirectoryError> {
        Group::create(input, ObjectId::from_uuid(Uuid::from_u128(1)), &tenant(), OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn security_and_microsoft_365_groups() {
        let g = create(security("Finance")).unwrap();
        assert_eq!(g.visibility, Visibility::Private);
        assert_eq!(g.mail, None);
        let m365 = create(NewGroup { mail_enabled: true, group_types: vec![UNIFIED.into()], ..security("Team") }).unwrap();
        assert!(m365.is_unified());
        assert_eq!(m365.visibility, Visibility::Public);
        assert_eq!(m365.mail.as_deref(), Some("Team@contoso.ward.local"));
    }

    #[test]
    fn refuses_kinds_graph_cannot_create() {
        let distribution = NewGroup { mail_enabled: true, security_enabled: false, ..security("D") };
        assert!(create(distribution).is_err());
        let neither = NewGroup { security_enabled: false, ..security("N") };
        assert!(create(neither).is_err());
        let unified_no_mail = NewGroup { group_types: vec![UNIFIED.into()], ..security("U") };
        assert!(create(unified_no_mail).is_err());
        let dynamic = NewGroup { group_types: vec![DYNAMIC_MEMBERSHIP.into()], ..security("Dyn") };
        assert!(create(dynamic).is_err());
        let bad_type = NewGroup { group_types: vec!["Other".into()], ..security("O") };
        assert!(create(bad_type).is_err());
        let bad_nick = NewGroup { mail_nickname: "sales.team".into(), ..security("S") };
        assert!(create(bad_nick).is_err());
        let hidden = NewGroup { visibility: Some(Visibility::HiddenMembership), ..security("H") };
        assert!(create(hidden).is_err());
    }

    #[test]
    fn security_groups_stay_security_enabled() {
        let mut g = create(security("Finance")).unwrap();
        assert!(g.apply(GroupPatch { security_enabled: Some(false), ..Default::default() }).is_err());
        assert!(g.apply(GroupPatch { description: Some(Some("Money".into())), ..Default::default() }).unwrap());
        assert_eq!(g.description.as_deref(), Some("Money"));
    }
}
