//! Users, with Graph's property names and Entra's validation rules (reference/entra-apis.md §1.1).

use crate::error::DirectoryError;
use crate::ids::ObjectId;
use crate::tenant::Tenant;
use crate::validate::{self, UserPrincipalName};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum UserType {
    #[default]
    Member,
    Guest,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: ObjectId,
    pub user_principal_name: UserPrincipalName,
    pub display_name: String,
    pub mail_nickname: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    #[serde(default)]
    pub other_mails: Vec<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub employee_id: Option<String>,
    pub employee_type: Option<String>,
    pub usage_location: Option<String>,
    pub user_type: UserType,
    pub account_enabled: bool,
    pub on_premises_immutable_id: Option<String>,
    #[serde(default)]
    pub business_phones: Vec<String>,
    #[serde(default)]
    pub mobile_phone: Option<String>,
    #[serde(default)]
    pub office_location: Option<String>,
    #[serde(default)]
    pub preferred_language: Option<String>,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub deleted_date_time: Option<OffsetDateTime>,
    /// Tokens and sessions issued before this instant are invalid (`revokeSignInSessions`).
    #[serde(with = "time::serde::rfc3339")]
    pub sign_in_sessions_valid_from_date_time: OffsetDateTime,
    /// The `manager` relationship, kept on the user (one manager at most).
    #[serde(default)]
    pub manager_id: Option<ObjectId>,
    /// `passwordProfile.forceChangePasswordNextSignIn`; the password itself lives apart, hashed.
    #[serde(default)]
    pub force_change_password_next_sign_in: bool,
    /// SCIM's `externalId`: the provisioning client's own id for the user (RFC 7643 §3.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// What SCIM sent that no Graph property holds (the SCIM layer's document, kept as sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim: Option<serde_json::Value>,
}

/// The properties a caller supplies to create a user; validated by [`User::create`].
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUser {
    pub user_principal_name: String,
    pub display_name: String,
    pub mail_nickname: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    #[serde(default)]
    pub other_mails: Vec<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub employee_id: Option<String>,
    pub employee_type: Option<String>,
    pub usage_location: Option<String>,
    pub user_type: Option<UserType>,
    pub account_enabled: Option<bool>,
    pub on_premises_immutable_id: Option<String>,
    #[serde(default)]
    pub business_phones: Vec<String>,
    pub mobile_phone: Option<String>,
    pub office_location: Option<String>,
    pub preferred_language: Option<String>,
    pub company_name: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    /// Set by SCIM only: never read from a Graph body.
    #[serde(skip)]
    pub external_id: Option<String>,
    #[serde(skip)]
    pub scim: Option<serde_json::Value>,
}

/// A partial update. A field left out is unchanged; `null` (or `""` for text) clears it where the
/// property can be cleared.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserPatch {
    pub user_principal_name: Option<String>,
    pub display_name: Option<String>,
    pub mail_nickname: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub given_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub surname: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub mail: Option<Option<String>>,
    pub other_mails: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub job_title: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub department: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub employee_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub employee_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub usage_location: Option<Option<String>>,
    pub user_type: Option<UserType>,
    pub account_enabled: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    pub on_premises_immutable_id: Option<Option<String>>,
    pub business_phones: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub mobile_phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub office_location: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub preferred_language: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub company_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub city: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub state: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub country: Option<Option<String>>,
    /// Set by SCIM only: never read from a Graph body.
    #[serde(skip)]
    pub external_id: Option<Option<String>>,
    #[serde(skip)]
    pub scim: Option<Option<serde_json::Value>>,
}

/// Distinguishes a field that is absent (`None`) from one set to `null` (`Some(None)`).
pub fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

const MAX_OTHER_MAILS: usize = 20;

fn other_mails(values: &[String]) -> Result<Vec<String>, DirectoryError> {
    if values.len() > MAX_OTHER_MAILS {
        return Err(DirectoryError::invalid("otherMails", format!("at most {MAX_OTHER_MAILS} addresses")));
    }
    values.iter().map(|m| validate::email("otherMails", m)).collect()
}

/// Graph keeps one business phone number.
fn business_phones(values: &[String]) -> Result<Vec<String>, DirectoryError> {
    if values.len() > 1 {
        return Err(DirectoryError::invalid("businessPhones", "only one number can be set"));
    }
    values.iter().map(|v| validate::required_text("businessPhones", v, 64)).collect()
}

/// An IETF language tag such as `en-US`: letters, digits and hyphens, at most 35 characters.
fn language(value: Option<&str>) -> Result<Option<String>, DirectoryError> {
    let value = validate::optional_text("preferredLanguage", value, 35)?;
    if let Some(v) = &value
        && !v.split('-').all(|part| !part.is_empty() && part.len() <= 8 && part.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err(DirectoryError::invalid("preferredLanguage", "must be a language tag such as 'en-US'"));
    }
    Ok(value)
}

fn immutable_id(value: Option<&str>) -> Result<Option<String>, DirectoryError> {
    let value = validate::optional_text("onPremisesImmutableId", value, 256)?;
    if let Some(v) = &value
        && (v.contains('$') || v.contains('_'))
    {
        return Err(DirectoryError::invalid("onPremisesImmutableId", "'$' and '_' are not allowed"));
    }
    Ok(value)
}

/// SCIM's `externalId`: any text the client chooses, kept exactly (it is case-exact), bounded.
pub fn external_id(value: Option<&str>) -> Result<Option<String>, DirectoryError> {
    match value {
        Some(v) if v.len() > 256 || v.chars().any(char::is_control) => {
            Err(DirectoryError::invalid("externalId", "at most 256 characters, and no control characters"))
        }
        Some(v) => Ok(Some(v.to_string())),
        None => Ok(None),
    }
}

fn upn_in_tenant(raw: &str, tenant: &Tenant) -> Result<UserPrincipalName, DirectoryError> {
    let upn = UserPrincipalName::parse(raw)?;
    let domain = upn.domain();
    if !tenant.is_verified(&domain) {
        return Err(DirectoryError::UnverifiedDomain(domain.to_string()));
    }
    Ok(upn)
}

impl User {
    /// The key under which the store keeps UPNs unique per tenant.
    pub fn unique_key(&self) -> String {
        Self::upn_key(&self.user_principal_name)
    }

    pub fn upn_key(upn: &UserPrincipalName) -> String {
        format!("upn:{}", upn.key())
    }

    /// Validates `input` against Entra's rules and the tenant's verified domains.
    pub fn create(input: NewUser, id: ObjectId, tenant: &Tenant, now: OffsetDateTime) -> Result<User, DirectoryError> {
        let upn = upn_in_tenant(&input.user_principal_name, tenant)?;
        let mail_nickname = match input.mail_nickname.as_deref() {
            Some(n) => validate::mail_nickname(n, true)?,
            None => validate::mail_nickname(upn.alias(), true)?,
        };
        Ok(User {
            id,
            display_name: validate::required_text("displayName", &input.display_name, 256)?,
            mail_nickname,
            given_name: validate::optional_text("givenName", input.given_name.as_deref(), 64)?,
            surname: validate::optional_text("surname", input.surname.as_deref(), 64)?,
            mail: input.mail.as_deref().filter(|m| !m.is_empty()).map(|m| validate::email("mail", m)).transpose()?,
            other_mails: other_mails(&input.other_mails)?,
            job_title: validate::optional_text("jobTitle", input.job_title.as_deref(), 128)?,
            department: validate::optional_text("department", input.department.as_deref(), 64)?,
            employee_id: validate::optional_text("employeeId", input.employee_id.as_deref(), 16)?,
            employee_type: validate::optional_text("employeeType", input.employee_type.as_deref(), 64)?,
            usage_location: input.usage_location.as_deref().filter(|u| !u.is_empty()).map(validate::usage_location).transpose()?,
            user_type: input.user_type.unwrap_or_default(),
            account_enabled: input.account_enabled.unwrap_or(true),
            on_premises_immutable_id: immutable_id(input.on_premises_immutable_id.as_deref())?,
            business_phones: business_phones(&input.business_phones)?,
            mobile_phone: validate::optional_text("mobilePhone", input.mobile_phone.as_deref(), 64)?,
            office_location: validate::optional_text("officeLocation", input.office_location.as_deref(), 128)?,
            preferred_language: language(input.preferred_language.as_deref())?,
            company_name: validate::optional_text("companyName", input.company_name.as_deref(), 64)?,
            city: validate::optional_text("city", input.city.as_deref(), 128)?,
            state: validate::optional_text("state", input.state.as_deref(), 128)?,
            country: validate::optional_text("country", input.country.as_deref(), 128)?,
            user_principal_name: upn,
            created_date_time: now,
            deleted_date_time: None,
            sign_in_sessions_valid_from_date_time: now,
            manager_id: None,
            force_change_password_next_sign_in: false,
            external_id: external_id(input.external_id.as_deref())?,
            scim: input.scim,
        })
    }

    /// Applies a partial update, validating every changed property. Returns whether anything changed.
    pub fn apply(&mut self, patch: UserPatch, tenant: &Tenant) -> Result<bool, DirectoryError> {
        let before = self.clone();
        if let Some(upn) = patch.user_principal_name {
            self.user_principal_name = upn_in_tenant(&upn, tenant)?;
        }
        if let Some(name) = patch.display_name {
            self.display_name = validate::required_text("displayName", &name, 256)?;
        }
        if let Some(nick) = patch.mail_nickname {
            self.mail_nickname = validate::mail_nickname(&nick, true)?;
        }
        let text = |field, v: Option<String>, max| validate::optional_text(field, v.as_deref(), max);
        if let Some(v) = patch.given_name {
            self.given_name = text("givenName", v, 64)?;
        }
        if let Some(v) = patch.surname {
            self.surname = text("surname", v, 64)?;
        }
        if let Some(v) = patch.mail {
            self.mail = v.filter(|m| !m.is_empty()).map(|m| validate::email("mail", &m)).transpose()?;
        }
        if let Some(v) = patch.other_mails {
            self.other_mails = other_mails(&v)?;
        }
        if let Some(v) = patch.job_title {
            self.job_title = text("jobTitle", v, 128)?;
        }
        if let Some(v) = patch.department {
            self.department = text("department", v, 64)?;
        }
        if let Some(v) = patch.employee_id {
            self.employee_id = text("employeeId", v, 16)?;
        }
        if let Some(v) = patch.employee_type {
            self.employee_type = text("employeeType", v, 64)?;
        }
        if let Some(v) = patch.usage_location {
            self.usage_location = v.filter(|u| !u.is_empty()).map(|u| validate::usage_location(&u)).transpose()?;
        }
        if let Some(v) = patch.user_type {
            self.user_type = v;
        }
        if let Some(v) = patch.account_enabled {
            self.account_enabled = v;
        }
        if let Some(v) = patch.on_premises_immutable_id {
            self.on_premises_immutable_id = immutable_id(v.as_deref())?;
        }
        if let Some(v) = patch.business_phones {
            self.business_phones = business_phones(&v)?;
        }
        if let Some(v) = patch.mobile_phone {
            self.mobile_phone = text("mobilePhone", v, 64)?;
        }
        if let Some(v) = patch.office_location {
            self.office_location = text("officeLocation", v, 128)?;
        }
        if let Some(v) = patch.preferred_language {
            self.preferred_language = language(v.as_deref())?;
        }
        if let Some(v) = patch.company_name {
            self.company_name = text("companyName", v, 64)?;
        }
        if let Some(v) = patch.city {
            self.city = text("city", v, 128)?;
        }
        if let Some(v) = patch.state {
            self.state = text("state", v, 128)?;
        }
        if let Some(v) = patch.country {
            self.country = text("country", v, 128)?;
        }
        if let Some(v) = patch.external_id {
            self.external_id = external_id(v.as_deref())?;
        }
        if let Some(v) = patch.scim {
            self.scim = v;
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

    fn new_user(upn: &str) -> NewUser {
        NewUser { user_principal_name: upn.into(), display_name: "Adele Vance".into(), ..Default::default() }
    }

    fn id() -> ObjectId {
        ObjectId::from_uuid(Uuid::from_u128(7))
    }

    #[test]
    fn creates_with_defaults_derived_from_the_upn() {
        let u = User::create(new_user("AdeleV@contoso.ward.local"), id(), &tenant(), OffsetDateTime::UNIX_EPOCH).unwrap();
        assert_eq!(u.mail_nickname, "AdeleV");
        assert!(u.account_enabled);
        assert_eq!(u.user_type, UserType::Member);
        assert_eq!(u.sign_in_sessions_valid_from_date_time, u.created_date_time);
    }

    #[test]
    fn refuses_a_domain_the_tenant_has_not_verified() {
        let err = User::create(new_user("adele@fabrikam.example"), id(), &tenant(), OffsetDateTime::UNIX_EPOCH).unwrap_err();
        assert_eq!(err, DirectoryError::UnverifiedDomain("fabrikam.example".into()));
    }

    #[test]
    fn refuses_oversized_and_malformed_properties() {
        let t = tenant();
        let cases: Vec<(&str, NewUser)> = vec![
            ("displayName", NewUser { display_name: "x".repeat(257), ..new_user("a@contoso.ward.local") }),
            ("displayName", NewUser { display_name: "".into(), ..new_user("a@contoso.ward.local") }),
            ("givenName", NewUser { given_name: Some("g".repeat(65)), ..new_user("a@contoso.ward.local") }),
            ("jobTitle", NewUser { job_title: Some("j".repeat(129)), ..new_user("a@contoso.ward.local") }),
            ("employeeId", NewUser { employee_id: Some("1".repeat(17)), ..new_user("a@contoso.ward.local") }),
            ("usageLocation", NewUser { usage_location: Some("ZZ".into()), ..new_user("a@contoso.ward.local") }),
            ("mail", NewUser { mail: Some("not-mail".into()), ..new_user("a@contoso.ward.local") }),
            ("otherMails", NewUser { other_mails: vec!["x".into()], ..new_user("a@contoso.ward.local") }),
            ("onPremisesImmutableId", NewUser { on_premises_immutable_id: Some("a$b".into()), ..new_user("a@contoso.ward.local") }),
        ];
        for (field, input) in cases {
            match User::create(input, id(), &t, OffsetDateTime::UNIX_EPOCH) {
                Err(DirectoryError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected Invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn patch_distinguishes_absent_from_null() {
        let t = tenant();
        let mut u = User::create(
            NewUser { job_title: Some("Engineer".into()), department: Some("R&D".into()), ..new_user("a@contoso.ward.local") },
            id(),
            &t,
            OffsetDateTime::UNIX_EPOCH,
        )
        .unwrap();
        let patch: UserPatch = serde_json::from_str(r#"{"jobTitle": null}"#).unwrap();
        assert!(u.apply(patch, &t).unwrap());
        assert_eq!(u.job_title, None);
        assert_eq!(u.department.as_deref(), Some("R&D"));
        let nothing: UserPatch = serde_json::from_str("{}").unwrap();
        assert!(!u.apply(nothing, &t).unwrap());
        let bad: UserPatch = serde_json::from_str(r#"{"displayName": ""}"#).unwrap();
        assert!(u.apply(bad, &t).is_err());
        assert!(serde_json::from_str::<UserPatch>(r#"{"passwordHash": "x"}"#).is_err(), "unknown fields are refused");
    }

    #[test]
    fn stored_documents_round_trip() {
        let u = User::create(new_user("a@contoso.ward.local"), id(), &tenant(), OffsetDateTime::UNIX_EPOCH).unwrap();
        let json = serde_json::to_string(&u).unwrap();
        assert!(json.contains("\"userPrincipalName\":\"a@contoso.ward.local\""));
        assert_eq!(serde_json::from_str::<User>(&json).unwrap(), u);
    }
}
