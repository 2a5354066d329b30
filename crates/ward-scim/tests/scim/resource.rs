//! POST/PUT bodies (RFC 7644 §3.3, §3.5.1), `attributes`/`excludedAttributes` (§3.9) and `sortBy` (§3.4.2.3).

use std::cmp::Ordering;

use serde_json::{Value, json};
use ward_scim::{
    GROUP, Projection, ScimError, ScimType, SortKey, SortOrder, USER, WriteDocument, WriteMode, compare_for_sort, compare_in_order,
    normalize_for_write, project,
};

use super::{bjensen, jomalley, kind};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn create_user(body: Value) -> Result<WriteDocument, ScimError> {
    normalize_for_write(&body, &USER, WriteMode::Create)
}

fn refused(body: Value) -> ScimError {
    create_user(body.clone()).expect_err(&body.to_string())
}

#[test]
fn entra_create_user_body() {
    let written = create_user(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "active": true,
        "emails": [{ "primary": true, "type": "work", "value": "Test_User_11bb@testuser.com" }],
        "meta": { "resourceType": "User" },
        "name": { "formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName" },
        "roles": []
    }))
    .unwrap();
    assert_eq!(
        written.resource,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
            "active": true,
            "emails": [{ "primary": true, "type": "work", "value": "Test_User_11bb@testuser.com" }],
            "name": { "formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName" }
        })
    );
    assert_eq!((written.members, written.password), (None, None));
}

#[test]
fn entra_create_group_body_with_microsoft_schema() {
    let written = normalize_for_write(
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName",
            "meta": { "resourceType": "Group" }
        }),
        &GROUP,
        WriteMode::Create,
    )
    .unwrap();
    assert_eq!(
        written.resource,
        json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName" })
    );
    assert_eq!(written.members, None);
    let with_members = normalize_for_write(
        &json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G", "members": [{ "value": "u1", "display": "Babs" }, { "value": "u2" }] }),
        &GROUP,
        WriteMode::Create,
    )
    .unwrap();
    assert_eq!(with_members.members, Some(vec!["u1".to_owned(), "u2".to_owned()]));
    assert!(with_members.resource.get("members").is_none());
    let missing_name =
        normalize_for_write(&json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"] }), &GROUP, WriteMode::Create).unwrap_err();
    assert_eq!(kind(&missing_name), (400, Some(ScimType::InvalidValue)));
}

#[test]
fn the_rfc_full_user_normalises_without_read_only_attributes_or_password() {
    let written = create_user(bjensen()).unwrap();
    let resource = &written.resource;
    for read_only in ["id", "meta", "groups", "password"] {
        assert!(resource.get(read_only).is_none(), "{read_only}");
    }
    assert_eq!(written.password.as_deref(), Some("t1meMa$heen"));
    assert_eq!(
        resource[ENTERPRISE]["manager"],
        json!({ "value": "26118915-6090-4610-87e4-49d8ca9f808d", "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d" })
    );
    assert_eq!(resource["emails"], bjensen()["emails"]);
    assert_eq!(resource["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE]));
}

#[test]
fn names_are_canonicalised_and_booleans_coerced() {
    let written = create_user(json!({
        "SCHEMAS": ["URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER"],
        "USERNAME": "alice",
        "Name": { "GivenName": "Alice" },
        "Active": "False",
        "emails": [{ "Value": "a@x", "PRIMARY": "true" }],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": { "Department": "R&D" },
        "urn:ietf:params:scim:schemas:core:2.0:User:title": "Engineer"
    }))
    .unwrap();
    assert_eq!(
        written.resource,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "userName": "alice",
            "name": { "givenName": "Alice" },
            "active": false,
            "emails": [{ "value": "a@x", "primary": true }],
            ENTERPRISE: { "department": "R&D" },
            "title": "Engineer"
        })
    );
}

#[test]
fn bodies_that_do_not_conform_are_refused() {
    let user = |extra: Value| {
        let mut body = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "alice" });
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    let cases = [
        (user(json!({ "favouriteColour": "blue" })), ScimType::InvalidSyntax, "favouriteColour"),
        (user(json!({ "name": { "nick": "x" } })), ScimType::InvalidSyntax, "nick"),
        (user(json!({ "name.givenName": "x" })), ScimType::InvalidSyntax, "name.givenName"),
        (user(json!({ "schemas": ["urn:example:unknown"] })), ScimType::InvalidSyntax, "urn:example:unknown"),
        (user(json!({ "schemas": [ENTERPRISE] })), ScimType::InvalidSyntax, "urn:ietf:params:scim:schemas:core:2.0:User"),
        (user(json!({ "schemas": "urn:ietf:params:scim:schemas:core:2.0:User" })), ScimType::InvalidSyntax, "schemas"),
        (user(json!({ "userName": "" })), ScimType::InvalidValue, "userName"),
        (user(json!({ "userName": null })), ScimType::InvalidValue, "userName"),
        (user(json!({ "emails": { "value": "a@x" } })), ScimType::InvalidValue, "'emails' is multi-valued"),
        (user(json!({ "active": "yes" })), ScimType::InvalidValue, "'active'"),
        (
            user(json!({ "emails": [{ "value": "a@x", "primary": true }, { "value": "b@x", "primary": true }] })),
            ScimType::InvalidValue,
            "primary",
        ),
        (user(json!({ "username": "bob" })), ScimType::InvalidSyntax, "twice"),
        (user(json!({ "meta": { "created": "whenever" } })), ScimType::InvalidValue, "never"),
    ];
    for (body, expected, mentions) in cases {
        let Err(error) = create_user(body.clone()) else {
            // `meta` is read-only, so even a nonsensical one is ignored.
            assert_eq!(mentions, "never", "{body} was accepted");
            continue;
        };
        assert_eq!(kind(&error), (400, Some(expected)), "{body}: {error}");
        assert!(error.detail.contains(mentions), "{body}: {}", error.detail);
    }
    assert_eq!(kind(&refused(json!([]))).1, Some(ScimType::InvalidSyntax));
}

#[test]
fn replace_keeps_immutable_values_and_ignores_read_only_ones() {
    let current = bjensen();
    let body = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "ignored", "userName": "bjensen@example.com", "groups": [] });
    let written = normalize_for_write(&body, &USER, WriteMode::Replace { current: &current }).unwrap();
    assert_eq!(written.resource, json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bjensen@example.com" }));
}

#[test]
fn projection_defaults_never_return_the_password() {
    let projected = project(&bjensen(), None, None, &USER).unwrap();
    assert!(projected.get("password").is_none());
    assert_eq!(projected["groups"], bjensen()["groups"]);
    assert_eq!(projected["meta"], bjensen()["meta"]);
    assert_eq!(projected[ENTERPRISE], bjensen()[ENTERPRISE]);
}

#[test]
fn attributes_selects_and_always_attributes_stay() {
    let user = bjensen();
    assert_eq!(
        project(&user, Some("userName"), None, &USER).unwrap(),
        json!({ "schemas": user["schemas"], "id": user["id"], "userName": "bjensen@example.com" })
    );
    let subs = project(&user, Some("name.givenName, emails.value,password"), None, &USER).unwrap();
    assert_eq!(subs["name"], json!({ "givenName": "Barbara" }));
    assert_eq!(subs["emails"], json!([{ "value": "bjensen@example.com" }, { "value": "babs@jensen.org" }]));
    assert!(subs.get("password").is_none());
    let extension = project(&user, Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"), None, &USER).unwrap();
    assert_eq!(extension[ENTERPRISE], json!({ "employeeNumber": "701984" }));
    let whole_extension = project(&user, Some(ENTERPRISE), None, &USER).unwrap();
    assert_eq!(whole_extension[ENTERPRISE], user[ENTERPRISE]);
}

#[test]
fn excluded_attributes_remove_all_but_always_attributes() {
    let user = bjensen();
    let projected = project(
        &user,
        None,
        Some("emails,meta,id,name.givenName,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"),
        &USER,
    )
    .unwrap();
    assert!(projected.get("emails").is_none());
    assert!(projected.get("meta").is_none());
    assert_eq!(projected["id"], user["id"], "id is returned always");
    assert!(projected["name"].get("givenName").is_none());
    assert_eq!(projected["name"]["familyName"], "Jensen");
    assert!(projected[ENTERPRISE].get("manager").is_none());
    assert_eq!(projected[ENTERPRISE]["costCenter"], "4130");
    let error = project(&user, Some("favouriteColour"), None, &USER).unwrap_err();
    assert_eq!(kind(&error), (400, Some(ScimType::InvalidValue)));
}

#[test]
fn entra_excludes_group_members() {
    let projection = Projection::parse(None, Some("members"), &GROUP).unwrap();
    assert!(!projection.includes("members", &GROUP));
    assert!(projection.includes("displayName", &GROUP));
    assert!(Projection::parse(None, None, &GROUP).unwrap().includes("members", &GROUP));
    assert!(!Projection::parse(Some("displayName"), None, &GROUP).unwrap().includes("members", &GROUP));
    let group = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g", "displayName": "G", "members": [{ "value": "u1" }] });
    assert!(projection.apply(&group, &GROUP).get("members").is_none());
}

#[test]
fn sorting_follows_type_and_case_exactness_with_missing_values_last() {
    let users = [
        json!({ "userName": "bravo", "meta": { "lastModified": "2011-05-13T04:42:34Z" } }),
        json!({ "userName": "Alpha", "meta": { "lastModified": "2011-05-13T05:42:34+02:00" } }),
        json!({ "userName": "charlie" }),
    ];
    let by_name = SortKey::parse("userName", &USER).unwrap();
    assert_eq!(compare_for_sort(&users[1], &users[0], &by_name), Ordering::Less, "case-insensitive: Alpha < bravo");
    let mut sorted: Vec<&Value> = users.iter().collect();
    let by_modified = SortKey::parse("meta.lastModified", &USER).unwrap();
    sorted.sort_by(|a, b| compare_for_sort(a, b, &by_modified));
    assert_eq!(sorted.iter().map(|user| user["userName"].as_str().unwrap()).collect::<Vec<_>>(), ["Alpha", "bravo", "charlie"]);
    sorted.sort_by(|a, b| compare_in_order(a, b, &by_modified, SortOrder::Descending));
    assert_eq!(sorted.iter().map(|user| user["userName"].as_str().unwrap()).collect::<Vec<_>>(), ["charlie", "bravo", "Alpha"]);
    // Case-exact: "B" < "a" by code point.
    let by_external_id = SortKey::parse("externalId", &USER).unwrap();
    assert_eq!(compare_for_sort(&json!({ "externalId": "B" }), &json!({ "externalId": "a" }), &by_external_id), Ordering::Less);
}

#[test]
fn multi_valued_attributes_sort_by_their_primary_value() {
    let by_email = SortKey::parse("emails", &USER).unwrap();
    assert_eq!(by_email.path.canonical(), "emails.value");
    let primary_last = json!({ "emails": [{ "value": "a@x" }, { "value": "z@x", "primary": true }] });
    let plain = json!({ "emails": [{ "value": "m@x" }] });
    assert_eq!(compare_for_sort(&plain, &primary_last, &by_email), Ordering::Less);
    assert_eq!(compare_for_sort(&bjensen(), &jomalley(), &by_email), Ordering::Less);
    assert_eq!(SortOrder::parse(Some("DESCENDING")).unwrap(), SortOrder::Descending);
    assert_eq!(SortOrder::parse(None).unwrap(), SortOrder::Ascending);
    assert_eq!(kind(&SortOrder::parse(Some("sideways")).unwrap_err()).1, Some(ScimType::InvalidValue));
    for bad in ["password", "name", "nope"] {
        assert_eq!(kind(&SortKey::parse(bad, &USER).unwrap_err()).1, Some(ScimType::InvalidValue), "{bad}");
    }
}
