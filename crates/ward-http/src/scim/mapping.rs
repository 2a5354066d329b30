//! One directory, two surfaces: a Ward user or group as a SCIM resource, and a SCIM resource as
//! the Graph properties it sets (the table is in docs/scim.md).
//!
//! Graph properties are the truth. What SCIM sends that no Graph property holds (a home email, a
//! nickname, `ims`, the rest of an address...) is kept as sent in the user's `scim` document, and
//! a resource is that document with every mapped attribute overlaid from the user as it is now,
//! so a change made through Graph shows through SCIM at once, and the reverse.
//!
//! A multi-valued attribute maps through one of its entries: `emails` through the `work` entry
//! (else the primary, else the first) to `mail`; `phoneNumbers` through `work` to
//! `businessPhones` and `mobile` to `mobilePhone`; `addresses` through `work` (else the primary,
//! else the first) to `city`, `state` and `country`.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use ward_core::ObjectId;
use ward_core::group::Group;
use ward_core::user::{User, UserPatch};
use ward_scim::{ENTERPRISE_USER_URN, GROUP_URN, ScimError, USER_URN};

/// The most a user's kept SCIM document may take, serialized.
pub const MAX_KEPT_BYTES: usize = 64 * 1024;

/// The entry of a multi-valued attribute a Graph property stands for.
fn pick(list: &[Value], kind: &str, fall_back: bool) -> Option<usize> {
    let of_kind = |v: &Value| v.get("type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(kind));
    list.iter().position(of_kind).or_else(|| {
        if !fall_back {
            return None;
        }
        list.iter().position(|v| v.get("primary") == Some(&Value::Bool(true))).or(if list.is_empty() { None } else { Some(0) })
    })
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

fn set(m: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(v) => {
            m.insert(key.to_string(), v);
        }
        None => {
            m.remove(key);
        }
    }
}

fn opt(v: &Option<String>) -> Option<Value> {
    v.clone().map(Value::String)
}

/// Sub-attributes that make an entry of a multi-valued attribute say something.
const CONTENT: [&str; 8] = ["value", "display", "formatted", "streetAddress", "locality", "region", "postalCode", "country"];

/// Writes `fields` into the entry of `attribute` that `kind` picks, creating it when a field has
/// a value and there is none, and dropping it when it no longer says anything.
fn overlay(r: &mut Map<String, Value>, attribute: &str, kind: &str, fall_back: bool, fields: &[(&str, Option<Value>)]) {
    let mut list = match r.remove(attribute) {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    match pick(&list, kind, fall_back) {
        Some(i) => {
            if let Some(Value::Object(entry)) = list.get_mut(i) {
                for (k, v) in fields {
                    set(entry, k, v.clone());
                }
                if !CONTENT.iter().any(|k| entry.get(*k).is_some_and(|v| !v.is_null())) {
                    list.remove(i);
                }
            }
        }
        None if fields.iter().any(|(_, v)| v.is_some()) => {
            let mut entry = Map::new();
            entry.insert("type".into(), json!(kind));
            for (k, v) in fields {
                set(&mut entry, k, v.clone());
            }
            if attribute == "emails" && !list.iter().any(|v| v.get("primary") == Some(&Value::Bool(true))) {
                entry.insert("primary".into(), Value::Bool(true));
            }
            list.push(Value::Object(entry));
        }
        None => {}
    }
    if !list.is_empty() {
        r.insert(attribute.to_string(), Value::Array(list));
    }
}

/// A weak entity tag from the stored version (and, for a group, its members).
pub fn etag(version: i64, members: Option<&[ObjectId]>) -> String {
    match members {
        None => format!("W/\"{version}\""),
        Some(ids) => {
            let mut sorted: Vec<&ObjectId> = ids.iter().collect();
            sorted.sort();
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for id in sorted {
                for b in id.to_string().bytes() {
                    h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
                }
            }
            format!("W/\"{version}-{h:016x}\"")
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> Value {
    t.format(&Rfc3339).map(Value::String).unwrap_or(Value::Null)
}

/// The SCIM resource of `u`. `groups`: its direct groups, when asked for.
pub fn user_resource(u: &User, version: i64, base: &str, groups: Option<&[ObjectId]>) -> Value {
    let mut r = match &u.scim {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let last_modified = r.remove("meta").and_then(|m| m.get("lastModified").cloned());
    for server_owned in ["id", "schemas", "groups", "password"] {
        r.remove(server_owned);
    }
    set(&mut r, "userName", Some(json!(u.user_principal_name.as_str())));
    set(&mut r, "externalId", opt(&u.external_id));
    set(&mut r, "displayName", Some(json!(u.display_name)));
    set(&mut r, "title", opt(&u.job_title));
    set(&mut r, "userType", opt(&u.employee_type));
    set(&mut r, "preferredLanguage", opt(&u.preferred_language));
    set(&mut r, "active", Some(Value::Bool(u.account_enabled)));
    let mut name = match r.remove("name") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    set(&mut name, "givenName", opt(&u.given_name));
    set(&mut name, "familyName", opt(&u.surname));
    if !name.is_empty() {
        r.insert("name".into(), Value::Object(name));
    }
    overlay(&mut r, "emails", "work", true, &[("value", opt(&u.mail))]);
    overlay(&mut r, "phoneNumbers", "work", false, &[("value", u.business_phones.first().map(|p| json!(p)))]);
    overlay(&mut r, "phoneNumbers", "mobile", false, &[("value", opt(&u.mobile_phone))]);
    overlay(&mut r, "addresses", "work", true, &[("locality", opt(&u.city)), ("region", opt(&u.state)), ("country", opt(&u.country))]);
    let mut enterprise = match r.remove(ENTERPRISE_USER_URN) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    set(&mut enterprise, "employeeNumber", opt(&u.employee_id));
    set(&mut enterprise, "department", opt(&u.department));
    set(&mut enterprise, "organization", opt(&u.company_name));
    set(&mut enterprise, "manager", u.manager_id.map(|m| json!({ "value": m.to_string(), "$ref": format!("{base}/Users/{m}") })));
    let mut schemas = vec![json!(USER_URN)];
    if !enterprise.is_empty() {
        schemas.push(json!(ENTERPRISE_USER_URN));
        r.insert(ENTERPRISE_USER_URN.into(), Value::Object(enterprise));
    }
    if let Some(ids) = groups {
        let list: Vec<Value> =
            ids.iter().map(|g| json!({ "value": g.to_string(), "$ref": format!("{base}/Groups/{g}"), "type": "direct" })).collect();
        r.insert("groups".into(), Value::Array(list));
    }
    r.insert("schemas".into(), Value::Array(schemas));
    r.insert("id".into(), json!(u.id.to_string()));
    r.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": rfc3339(u.created_date_time),
            "lastModified": last_modified.unwrap_or_else(|| rfc3339(u.created_date_time)),
            "location": format!("{base}/Users/{}", u.id),
            "version": etag(version, None),
        }),
    );
    Value::Object(r)
}

/// The SCIM resource of `g`; `members` with their kinds, when asked for.
pub fn group_resource(g: &Group, version: i64, base: &str, members: Option<&[(ObjectId, ward_core::ObjectKind)]>) -> Value {
    let mut r = Map::new();
    r.insert("schemas".into(), json!([GROUP_URN]));
    r.insert("id".into(), json!(g.id.to_string()));
    set(&mut r, "externalId", opt(&g.external_id));
    r.insert("displayName".into(), json!(g.display_name));
    let ids: Option<Vec<ObjectId>> = members.map(|m| m.iter().map(|(id, _)| *id).collect());
    if let Some(members) = members {
        let list: Vec<Value> = members
            .iter()
            .map(|(id, kind)| {
                let (endpoint, ty) = if *kind == ward_core::ObjectKind::Group { ("Groups", "Group") } else { ("Users", "User") };
                json!({ "value": id.to_string(), "$ref": format!("{base}/{endpoint}/{id}"), "type": ty })
            })
            .collect();
        r.insert("members".into(), Value::Array(list));
    }
    r.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": rfc3339(g.created_date_time),
            "lastModified": rfc3339(g.created_date_time),
            "location": format!("{base}/Groups/{}", g.id),
            "version": etag(version, ids.as_deref()),
        }),
    );
    Value::Object(r)
}

/// The Graph properties a (validated, canonical) SCIM user sets, and what is kept as sent.
#[derive(Debug, Default)]
pub struct UserFields {
    pub user_principal_name: String,
    pub display_name: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub job_title: Option<String>,
    pub employee_type: Option<String>,
    pub preferred_language: Option<String>,
    pub account_enabled: Option<bool>,
    pub business_phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub employee_id: Option<String>,
    pub department: Option<String>,
    pub company_name: Option<String>,
    pub external_id: Option<String>,
    /// `manager.value` of the enterprise extension.
    pub manager: Option<String>,
    /// The resource as sent, without what the server owns, with this write's time.
    pub scim: Value,
}

fn entry_field(r: &Value, attribute: &str, kind: &str, fall_back: bool, field: &str) -> Option<String> {
    let list = r.get(attribute)?.as_array()?;
    text(list.get(pick(list, kind, fall_back)?)?.get(field))
}

pub fn user_fields(r: &Value, now: OffsetDateTime) -> Result<UserFields, ScimError> {
    let user_name = text(r.get("userName")).ok_or_else(|| ScimError::invalid_value("userName is required"))?;
    let name = r.get("name");
    let given = text(name.and_then(|n| n.get("givenName")));
    let family = text(name.and_then(|n| n.get("familyName")));
    // Graph requires a display name; SCIM does not: take the most specific name there is.
    let display_name = text(r.get("displayName"))
        .filter(|d| !d.trim().is_empty())
        .or_else(|| text(name.and_then(|n| n.get("formatted"))).filter(|d| !d.trim().is_empty()))
        .or_else(|| {
            let joined = [given.as_deref(), family.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
            (!joined.trim().is_empty()).then_some(joined)
        })
        .unwrap_or_else(|| user_name.split('@').next().unwrap_or(&user_name).to_string());
    let enterprise = r.get(ENTERPRISE_USER_URN);
    let ent = |k: &str| text(enterprise.and_then(|e| e.get(k)));
    let mut scim = r.as_object().cloned().unwrap_or_default();
    for server_owned in ["id", "meta", "schemas", "groups", "password"] {
        scim.remove(server_owned);
    }
    scim.insert("meta".into(), json!({ "lastModified": rfc3339(now) }));
    // What is kept beside the Graph properties is bounded, so a client cannot park megabytes on
    // every user (a hundred emails and addresses fit many times over).
    let scim = Value::Object(scim);
    let kept = scim.to_string().len();
    if kept > MAX_KEPT_BYTES {
        return Err(ScimError::invalid_value(format!("the user is too large: {kept} bytes, at most {MAX_KEPT_BYTES}")));
    }
    Ok(UserFields {
        user_principal_name: user_name,
        display_name,
        given_name: given,
        surname: family,
        mail: entry_field(r, "emails", "work", true, "value"),
        job_title: text(r.get("title")),
        employee_type: text(r.get("userType")),
        preferred_language: text(r.get("preferredLanguage")),
        account_enabled: r.get("active").and_then(Value::as_bool),
        business_phone: entry_field(r, "phoneNumbers", "work", false, "value"),
        mobile_phone: entry_field(r, "phoneNumbers", "mobile", false, "value"),
        city: entry_field(r, "addresses", "work", true, "locality"),
        state: entry_field(r, "addresses", "work", true, "region"),
        country: entry_field(r, "addresses", "work", true, "country"),
        employee_id: ent("employeeNumber"),
        department: ent("department"),
        company_name: ent("organization"),
        external_id: text(r.get("externalId")),
        manager: text(enterprise.and_then(|e| e.get("manager")).and_then(|m| m.get("value"))),
        scim,
    })
}

impl UserFields {
    pub fn new_user(&self) -> ward_core::user::NewUser {
        ward_core::user::NewUser {
            user_principal_name: self.user_principal_name.clone(),
            display_name: self.display_name.clone(),
            given_name: self.given_name.clone(),
            surname: self.surname.clone(),
            mail: self.mail.clone(),
            job_title: self.job_title.clone(),
            employee_type: self.employee_type.clone(),
            preferred_language: self.preferred_language.clone(),
            account_enabled: self.account_enabled,
            business_phones: self.business_phone.iter().cloned().collect(),
            mobile_phone: self.mobile_phone.clone(),
            city: self.city.clone(),
            state: self.state.clone(),
            country: self.country.clone(),
            employee_id: self.employee_id.clone(),
            department: self.department.clone(),
            company_name: self.company_name.clone(),
            external_id: self.external_id.clone(),
            scim: Some(self.scim.clone()),
            ..Default::default()
        }
    }

    /// Every mapped property set to what the resource says (absent clears), as a replace does.
    /// `active` absent leaves the account as it is: a client that omits it is not re-enabling.
    pub fn patch(&self) -> UserPatch {
        UserPatch {
            user_principal_name: Some(self.user_principal_name.clone()),
            display_name: Some(self.display_name.clone()),
            given_name: Some(self.given_name.clone()),
            surname: Some(self.surname.clone()),
            mail: Some(self.mail.clone()),
            job_title: Some(self.job_title.clone()),
            employee_type: Some(self.employee_type.clone()),
            preferred_language: Some(self.preferred_language.clone()),
            account_enabled: self.account_enabled,
            business_phones: Some(self.business_phone.iter().cloned().collect()),
            mobile_phone: Some(self.mobile_phone.clone()),
            city: Some(self.city.clone()),
            state: Some(self.state.clone()),
            country: Some(self.country.clone()),
            employee_id: Some(self.employee_id.clone()),
            department: Some(self.department.clone()),
            company_name: Some(self.company_name.clone()),
            external_id: Some(self.external_id.clone()),
            scim: Some(Some(self.scim.clone())),
            ..Default::default()
        }
    }
}

/// The SCIM attribute a Graph property's validation error is about, for the error's detail.
pub fn scim_attribute(graph_property: &str) -> &'static str {
    match graph_property {
        "userPrincipalName" => "userName",
        "displayName" => "displayName",
        "givenName" => "name.givenName",
        "surname" => "name.familyName",
        "mail" => "emails[type eq \"work\"].value",
        "jobTitle" => "title",
        "employeeType" => "userType",
        "preferredLanguage" => "preferredLanguage",
        "businessPhones" => "phoneNumbers[type eq \"work\"].value",
        "mobilePhone" => "phoneNumbers[type eq \"mobile\"].value",
        "city" => "addresses[type eq \"work\"].locality",
        "state" => "addresses[type eq \"work\"].region",
        "country" => "addresses[type eq \"work\"].country",
        "employeeId" => "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        "department" => "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "companyName" => "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization",
        "externalId" => "externalId",
        _ => "the resource",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_from(resource: Value) -> User {
        let f = user_fields(&resource, OffsetDateTime::UNIX_EPOCH).unwrap();
        let mut tenant =
            ward_core::tenant::Tenant::new(ward_core::TenantId::from_uuid(uuid::Uuid::from_u128(1)), "Contoso", OffsetDateTime::UNIX_EPOCH)
                .unwrap();
        tenant.add_domain(ward_core::validate::DomainName::parse("contoso.example").unwrap()).unwrap();
        User::create(f.new_user(), ObjectId::from_uuid(uuid::Uuid::from_u128(2)), &tenant, OffsetDateTime::UNIX_EPOCH).unwrap()
    }

    /// What SCIM sent comes back as sent; the mapped values come from the user, so a Graph change
    /// shows in the entry the property maps through, and clearing it drops that entry alone.
    #[test]
    fn extras_round_trip_and_graph_values_overlay_their_entries() {
        let sent = json!({
            "userName": "ann@contoso.example",
            "nickName": "Annie",
            "name": { "formatted": "Dr Ann Lee", "givenName": "Ann", "familyName": "Lee", "honorificPrefix": "Dr" },
            "emails": [{ "value": "ann@home.example", "type": "home" }, { "value": "ann@work.example", "type": "work", "primary": true }],
            "phoneNumbers": [{ "value": "+1 555 0100", "type": "work" }, { "value": "+1 555 0199", "type": "mobile" }],
            "addresses": [{ "type": "work", "streetAddress": "1 Main St", "locality": "Springfield", "country": "US" }],
            ENTERPRISE_USER_URN: { "employeeNumber": "42", "costCenter": "CC-7", "department": "Sales" }
        });
        let mut user = user_from(sent.clone());
        assert_eq!(user.mail.as_deref(), Some("ann@work.example"));
        assert_eq!((user.business_phones.clone(), user.mobile_phone.as_deref()), (vec!["+1 555 0100".to_string()], Some("+1 555 0199")));
        assert_eq!(
            (user.city.as_deref(), user.country.as_deref(), user.employee_id.as_deref()),
            (Some("Springfield"), Some("US"), Some("42"))
        );
        let r = user_resource(&user, 3, "https://id.example/scim/v2/t", None);
        for key in ["nickName", "name", "emails", "phoneNumbers", "addresses"] {
            assert_eq!(r[key], sent[key], "{key}");
        }
        assert_eq!(r[ENTERPRISE_USER_URN]["costCenter"], json!("CC-7"));
        assert_eq!(r["meta"]["version"], json!("W/\"3\""));

        // Graph changes mail and clears the mobile number and the city.
        user.mail = Some("ann.lee@work.example".into());
        user.mobile_phone = None;
        user.city = None;
        let r = user_resource(&user, 4, "https://id.example/scim/v2/t", None);
        assert_eq!(r["emails"][1]["value"], json!("ann.lee@work.example"));
        assert_eq!(r["emails"][0]["value"], json!("ann@home.example"), "the home address is not Graph's");
        assert_eq!(r["phoneNumbers"], json!([{ "value": "+1 555 0100", "type": "work" }]));
        assert_eq!(r["addresses"][0], json!({ "type": "work", "streetAddress": "1 Main St", "country": "US" }));
    }

    /// Without a work entry, mail maps through the primary email; a Graph mail on a user SCIM
    /// never gave one appears as a new work entry.
    #[test]
    fn mail_falls_back_to_the_primary_email_and_is_added_when_missing() {
        let user = user_from(json!({
            "userName": "bo@contoso.example",
            "emails": [{ "value": "bo@a.example", "type": "other" }, { "value": "bo@b.example", "type": "home", "primary": true }]
        }));
        assert_eq!(user.mail.as_deref(), Some("bo@b.example"));
        let mut bare = user_from(json!({ "userName": "cy@contoso.example" }));
        assert_eq!(bare.display_name, "cy", "a display name Graph requires, from the user name");
        bare.mail = Some("cy@contoso.example".into());
        let r = user_resource(&bare, 1, "b", None);
        assert_eq!(r["emails"], json!([{ "type": "work", "value": "cy@contoso.example", "primary": true }]));
    }

    #[test]
    fn group_etags_change_with_membership_only() {
        let a = ObjectId::from_uuid(uuid::Uuid::from_u128(10));
        let b = ObjectId::from_uuid(uuid::Uuid::from_u128(11));
        assert_eq!(etag(5, Some(&[a, b])), etag(5, Some(&[b, a])), "order does not matter");
        assert_ne!(etag(5, Some(&[a])), etag(5, Some(&[a, b])));
        assert_ne!(etag(5, Some(&[a])), etag(6, Some(&[a])));
    }
}
