//! PATCH (RFC 7644 §3.5.2) with Entra's exact bodies (entra-apis.md §4.2), default and `aadOptscim062020`.

use serde_json::{Value, json};
use ward_scim::{
    GROUP, MemberChange, PasswordChange, PatchOutcome, PatchPath, PatchRequest, ResourceSchema, ScimError, ScimType, USER, apply_patch,
};

use super::{bjensen, kind};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn patch_with(resource: &Value, body: Value, schema: &ResourceSchema) -> Result<PatchOutcome, ScimError> {
    let request = PatchRequest::parse(&body, schema)?;
    apply_patch(resource, &request, schema)
}

fn patch(resource: &Value, operations: Value) -> Result<PatchOutcome, ScimError> {
    patch_with(resource, json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations }), &USER)
}

fn patched(resource: &Value, operations: Value) -> Value {
    patch(resource, operations.clone()).unwrap_or_else(|error| panic!("{operations}: {error}")).resource
}

fn patch_error(resource: &Value, operations: Value) -> ScimError {
    patch(resource, operations.clone()).expect_err(&operations.to_string())
}

fn group() -> Value {
    json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g1", "displayName": "displayName" })
}

fn group_changes(body: Value) -> Vec<MemberChange> {
    let outcome = patch_with(&group(), body, &GROUP).unwrap();
    assert_eq!(outcome.resource, group(), "members never enter the document");
    outcome.member_changes
}

/// A user as Entra creates it (entra-apis.md §4.2), stored.
fn entra_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "2441309d85324e7793ae",
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee",
        "active": true,
        "name": { "formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName" }
    })
}

#[test]
fn entra_default_update_user() {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com" },
            { "op": "Replace", "path": "name.familyName", "value": "updatedFamilyName" },
            { "op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "Eqpj" }
        ]
    });
    // The user has no work email yet: the element is created.
    let outcome = patch_with(&entra_user(), body.clone(), &USER).unwrap();
    let user = outcome.resource;
    assert_eq!(user["emails"], json!([{ "type": "work", "value": "updatedEmail@microsoft.com" }]));
    assert_eq!(user["name"]["familyName"], "updatedFamilyName");
    assert_eq!(user["name"]["givenName"], "givenName");
    assert_eq!(user[ENTERPRISE]["employeeNumber"], "Eqpj");
    assert!(user["schemas"].as_array().unwrap().contains(&json!(ENTERPRISE)));
    assert!(outcome.resource_changed);
    // bjensen has one: it is updated in place, the home email untouched.
    let user = patch_with(&bjensen(), body, &USER).unwrap().resource;
    assert_eq!(
        user["emails"],
        json!([{ "value": "updatedEmail@microsoft.com", "type": "work", "primary": true }, { "value": "babs@jensen.org", "type": "home" }])
    );
}

#[test]
fn entra_disable_with_a_string_and_the_compliant_boolean() {
    let disabled = patched(&entra_user(), json!([{ "op": "Replace", "path": "active", "value": "False" }]));
    assert_eq!(disabled["active"], json!(false));
    let disabled = patched(&entra_user(), json!([{ "op": "replace", "path": "active", "value": false }]));
    assert_eq!(disabled["active"], json!(false));
    let enabled = patched(&disabled, json!([{ "op": "Replace", "path": "active", "value": "True" }]));
    assert_eq!(enabled["active"], json!(true));
    let error = patch_error(&entra_user(), json!([{ "op": "Replace", "path": "active", "value": "Nope" }]));
    assert_eq!(kind(&error), (400, Some(ScimType::InvalidValue)));
    assert!(error.detail.contains("'active'"), "{}", error.detail);
}

#[test]
fn entra_single_valued_add_in_both_cases() {
    for op in ["Add", "add", "ADD"] {
        let user = patched(&entra_user(), json!([{ "op": op, "path": "nickName", "value": "Babs" }]));
        assert_eq!(user["nickName"], "Babs");
    }
}

#[test]
fn entra_compliant_path_less_replace_with_dotted_and_urn_keys() {
    let user = patched(
        &entra_user(),
        json!([
            { "op": "replace", "path": "emails[type eq \"work\"].value", "value": "x@contoso.com" },
            { "op": "replace", "value": {
                "displayName": "Bjfe",
                "name.givenName": "Kkom",
                "name.familyName": "Unua",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"
            } }
        ]),
    );
    assert_eq!(user["displayName"], "Bjfe");
    assert_eq!(user["name"], json!({ "formatted": "givenName familyName", "givenName": "Kkom", "familyName": "Unua" }));
    assert_eq!(user[ENTERPRISE]["employeeNumber"], "Aklq");
    assert_eq!(user["emails"][0]["value"], "x@contoso.com");
}

#[test]
fn operations_key_and_op_are_case_insensitive() {
    let outcome = patch_with(
        &entra_user(),
        json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "operations": [{ "OP": "REPLACE", "Path": "title", "Value": "Boss" }] }),
        &USER,
    )
    .unwrap();
    assert_eq!(outcome.resource["title"], "Boss");
}

#[test]
fn entra_manager_as_a_bare_id_replaces_the_manager() {
    let path = format!("{ENTERPRISE}:manager");
    let user = patched(&bjensen(), json!([{ "op": "Replace", "path": path, "value": "new-manager-id" }]));
    assert_eq!(user[ENTERPRISE]["manager"], json!({ "value": "new-manager-id" }));
    let user = patched(&entra_user(), json!([{ "op": "add", "path": path, "value": { "value": "m1" } }]));
    assert_eq!(user[ENTERPRISE]["manager"], json!({ "value": "m1" }));
    let removed = patched(&user, json!([{ "op": "remove", "path": path }]));
    assert!(removed.get(ENTERPRISE).is_none());
}

#[test]
fn entra_group_member_add_and_both_removal_styles() {
    let patch_op = |operations: Value| json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations });
    assert_eq!(
        group_changes(patch_op(json!([{ "op": "Add", "path": "members", "value": [{ "$ref": null, "value": "f648f8d5ea4e4cd38e9c" }] }]))),
        [MemberChange::Add(vec!["f648f8d5ea4e4cd38e9c".into()])]
    );
    // Default mode: remove with a value array removes exactly those, never everyone.
    assert_eq!(
        group_changes(patch_op(
            json!([{ "op": "Remove", "path": "members", "value": [{ "$ref": null, "value": "f648f8d5ea4e4cd38e9c" }] }])
        )),
        [MemberChange::Remove(vec!["f648f8d5ea4e4cd38e9c".into()])]
    );
    // Compliant mode: the member is selected in the path.
    assert_eq!(
        group_changes(patch_op(json!([{ "op": "remove", "path": "members[value eq \"7f4bc1a3-0000\"]" }]))),
        [MemberChange::Remove(vec!["7f4bc1a3-0000".into()])]
    );
    assert_eq!(
        group_changes(patch_op(json!([{ "op": "remove", "path": "members[value eq \"a\" or value eq \"b\"]" }]))),
        [MemberChange::Remove(vec!["a".into(), "b".into()])]
    );
    assert_eq!(group_changes(patch_op(json!([{ "op": "remove", "path": "members" }]))), [MemberChange::RemoveAll]);
}

#[test]
fn member_changes_keep_order_and_merge_neighbours() {
    let changes = group_changes(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            { "op": "add", "path": "members", "value": [{ "value": "a" }, { "value": "b" }] },
            { "op": "add", "value": { "members": [{ "value": "b" }, { "value": "c" }] } },
            { "op": "remove", "path": "members[value eq \"a\"]" },
            { "op": "replace", "path": "members", "value": [{ "value": "z" }] },
            { "op": "replace", "value": { "members": [] } }
        ]
    }));
    assert_eq!(
        changes,
        [
            MemberChange::Add(vec!["a".into(), "b".into(), "c".into()]),
            MemberChange::Remove(vec!["a".into()]),
            MemberChange::ReplaceAll(vec!["z".into()]),
            MemberChange::ReplaceAll(vec![]),
        ]
    );
}

#[test]
fn a_hundred_thousand_members_in_one_patch() {
    let members: Vec<Value> = (0..100_000).map(|index| json!({ "value": format!("user-{}", index % 60_000) })).collect();
    let changes = group_changes(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            { "op": "Add", "path": "members", "value": members },
            { "op": "Add", "path": "members", "value": [{ "value": "user-0" }, { "value": "late" }] }
        ]
    }));
    let [MemberChange::Add(ids)] = changes.as_slice() else { panic!("one merged Add: {:?}", changes.len()) };
    assert_eq!(ids.len(), 60_001);
    assert_eq!((ids[0].as_str(), ids[59_999].as_str(), ids[60_000].as_str()), ("user-0", "user-59999", "late"));
}

#[test]
fn group_display_name_replace_and_member_errors() {
    let body = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{ "op": "Replace", "path": "displayName", "value": "Renamed" }] });
    let outcome = patch_with(&group(), body, &GROUP).unwrap();
    assert_eq!(outcome.resource["displayName"], "Renamed");
    assert!(outcome.member_changes.is_empty());
    let error_of = |operations: Value| {
        patch_with(&group(), json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations }), &GROUP)
            .unwrap_err()
    };
    let error = error_of(json!([{ "op": "remove", "path": "members[display eq \"Babs\"]" }]));
    assert_eq!(kind(&error), (400, Some(ScimType::InvalidFilter)));
    assert!(error.detail.contains("by id"), "{}", error.detail);
    assert_eq!(kind(&error_of(json!([{ "op": "add", "path": "members", "value": [{ "value": 42 }] }]))).1, Some(ScimType::InvalidValue));
    assert_eq!(kind(&error_of(json!([{ "op": "add", "path": "members", "value": [{ "display": "x" }] }]))).1, Some(ScimType::InvalidValue));
    assert_eq!(kind(&error_of(json!([{ "op": "replace", "path": "members.value", "value": "x" }]))).1, Some(ScimType::InvalidPath));
    assert_eq!(kind(&error_of(json!([{ "op": "remove", "path": "displayName" }]))).1, Some(ScimType::Mutability));
}

#[test]
fn a_failing_operation_leaves_nothing_applied() {
    let original = bjensen();
    let before = original.clone();
    let error = patch_error(
        &original,
        json!([
            { "op": "replace", "path": "displayName", "value": "Changed" },
            { "op": "replace", "path": "id", "value": "another-id" }
        ]),
    );
    assert_eq!(kind(&error), (400, Some(ScimType::Mutability)));
    assert!(error.detail.starts_with("Operations[1] (replace id)"), "{}", error.detail);
    assert_eq!(original, before);
    assert_eq!(patched(&original, json!([{ "op": "replace", "path": "displayName", "value": "Changed" }]))["displayName"], "Changed");
}

#[test]
fn mutability_is_enforced() {
    let user = bjensen();
    for operations in [
        json!([{ "op": "remove", "path": "userName" }]),
        json!([{ "op": "replace", "path": "userName", "value": null }]),
        json!([{ "op": "remove", "path": "id" }]),
        json!([{ "op": "add", "path": "groups", "value": [{ "value": "g" }] }]),
        json!([{ "op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z" }]),
        json!([{ "op": "replace", "value": { "id": "other" } }]),
        json!([{ "op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName", "value": "X" }]),
    ] {
        let error = patch_error(&user, operations.clone());
        assert_eq!(kind(&error), (400, Some(ScimType::Mutability)), "{operations}: {error}");
    }
    // Echoing a read-only value unchanged is not an error.
    let same = patch(&user, json!([{ "op": "replace", "path": "id", "value": "2819c223-7f76-453a-919d-413861904646" }])).unwrap();
    assert!(same.is_noop());
}

#[test]
fn no_target_and_path_errors() {
    let user = bjensen();
    let cases = [
        (json!([{ "op": "remove" }]), ScimType::NoTarget),
        (json!([{ "op": "replace", "path": "addresses[type eq \"other\"]", "value": { "locality": "X" } }]), ScimType::NoTarget),
        (json!([{ "op": "replace", "path": "emails[value eq \"nobody@x\"].type", "value": "home" }]), ScimType::NoTarget),
        (json!([{ "op": "replace", "path": "nickname2", "value": "x" }]), ScimType::InvalidPath),
        (json!([{ "op": "replace", "path": "emails[type eq \"work\"", "value": "x" }]), ScimType::InvalidPath),
        (json!([{ "op": "replace", "path": "name.nope", "value": "x" }]), ScimType::InvalidPath),
        (json!([{ "op": "replace", "value": { "nope": "x" } }]), ScimType::InvalidPath),
        (json!([{ "op": "replace", "path": "title" }]), ScimType::InvalidValue),
        (json!([{ "op": "replace", "value": "x" }]), ScimType::InvalidValue),
        (json!([{ "op": "merge", "path": "title", "value": "x" }]), ScimType::InvalidSyntax),
    ];
    for (operations, expected) in cases {
        let error = patch_error(&user, operations.clone());
        assert_eq!(kind(&error), (400, Some(expected)), "{operations}: {error}");
    }
    let error = patch_with(&user, json!({ "Operations": [] }), &USER).unwrap_err();
    assert_eq!(kind(&error), (400, Some(ScimType::InvalidSyntax)));
}

#[test]
fn paths_parse_into_attribute_filter_and_sub_attribute() {
    let path = PatchPath::parse("emails[type eq \"work\"].value", &USER).unwrap();
    assert_eq!(path.target.canonical(), "emails.value");
    assert!(path.filter.is_some());
    let path = PatchPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", &USER).unwrap();
    assert_eq!(path.target.canonical(), format!("{ENTERPRISE}:manager.value"));
    let path = PatchPath::parse("members[value eq \"2819c223\"]", &GROUP).unwrap();
    assert_eq!(path.target.canonical(), "members");
    let path = PatchPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName", &USER).unwrap();
    assert_eq!(path.target.canonical(), "name.familyName");
    assert!(path.filter.is_none());
    for bad in ["", "emails[", "emails[type eq \"work\"] extra", "urn:unknown:schema:attr", "name.familyName.x"] {
        assert_eq!(kind(&PatchPath::parse(bad, &USER).unwrap_err()).1, Some(ScimType::InvalidPath), "{bad}");
    }
}

#[test]
fn adding_a_primary_value_clears_the_others() {
    let user = patched(
        &bjensen(),
        json!([{ "op": "add", "path": "emails", "value": [{ "value": "new@example.com", "type": "other", "primary": true }] }]),
    );
    let emails = user["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 3);
    assert_eq!(emails.iter().filter(|email| email["primary"] == json!(true)).count(), 1);
    assert_eq!(emails[2]["primary"], json!(true));
    let error = patch_error(
        &bjensen(),
        json!([{ "op": "add", "path": "emails", "value": [{ "value": "a@x", "primary": true }, { "value": "b@x", "primary": true }] }]),
    );
    assert_eq!(kind(&error), (400, Some(ScimType::InvalidValue)));
    let user = patched(&bjensen(), json!([{ "op": "replace", "path": "emails[type eq \"home\"].primary", "value": true }]));
    assert_eq!(user["emails"][0]["primary"], json!(false));
    assert_eq!(user["emails"][1]["primary"], json!(true));
}

#[test]
fn add_and_remove_are_idempotent() {
    let user = bjensen();
    let again =
        patch(&user, json!([{ "op": "add", "path": "emails", "value": [{ "value": "BABS@jensen.org", "type": "home" }] }])).unwrap();
    assert_eq!(again.resource["emails"].as_array().unwrap().len(), 2);
    let missing = patch(&user, json!([{ "op": "remove", "path": "emails[value eq \"nobody@x\"]" }])).unwrap();
    assert!(missing.is_noop());
    let missing = patch(&user, json!([{ "op": "remove", "path": "nickName" }, { "op": "remove", "path": "nickName" }])).unwrap();
    assert!(missing.resource.get("nickName").is_none());
    let same = patch(&user, json!([{ "op": "replace", "path": "title", "value": "Tour Guide" }])).unwrap();
    assert!(same.is_noop());
}

#[test]
fn remove_forms() {
    let user = bjensen();
    let no_home = patched(&user, json!([{ "op": "remove", "path": "emails[type eq \"home\"]" }]));
    assert_eq!(no_home["emails"], json!([{ "value": "bjensen@example.com", "type": "work", "primary": true }]));
    let no_work_value = patched(&user, json!([{ "op": "remove", "path": "emails[type eq \"work\"].value" }]));
    assert_eq!(
        no_work_value["emails"],
        json!([{ "value": "babs@jensen.org", "type": "home" }]),
        "a value left with only labels is dropped"
    );
    let no_emails = patched(&user, json!([{ "op": "remove", "path": "emails" }]));
    assert!(no_emails.get("emails").is_none());
    let listed = patched(&user, json!([{ "op": "remove", "path": "phoneNumbers", "value": [{ "value": "555-555-4444" }] }]));
    assert_eq!(listed["phoneNumbers"], json!([{ "value": "555-555-5555", "type": "work" }]));
    let no_family = patched(&user, json!([{ "op": "remove", "path": "name.familyName" }]));
    assert!(no_family["name"].get("familyName").is_none());
    let no_extension = patched(&user, json!([{ "op": "remove", "path": ENTERPRISE }]));
    assert!(no_extension.get(ENTERPRISE).is_none());
    assert_eq!(no_extension["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:User"]));
}

#[test]
fn replace_forms_from_rfc_7644() {
    let user = bjensen();
    // §3.5.2.3: replace all values of the work address.
    let address = json!({ "type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood", "region": "CA", "postalCode": "91608", "country": "US", "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": true });
    let moved = patched(&user, json!([{ "op": "replace", "path": "addresses[type eq \"work\"]", "value": address }]));
    assert_eq!(moved["addresses"][0], address);
    assert_eq!(moved["addresses"][1]["type"], "home");
    // §3.5.2.3: replace the street address of the work address only.
    let street =
        patched(&user, json!([{ "op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave" }]));
    assert_eq!(street["addresses"][0]["streetAddress"], "1010 Broadway Ave");
    assert_eq!(street["addresses"][0]["locality"], "Hollywood");
    // Replacing a whole multi-valued attribute.
    let replaced = patched(&user, json!([{ "op": "replace", "path": "emails", "value": [{ "value": "only@x.org", "type": "work" }] }]));
    assert_eq!(replaced["emails"], json!([{ "value": "only@x.org", "type": "work" }]));
    // Replacing a complex attribute merges (unlisted sub-attributes stay).
    let name = patched(&user, json!([{ "op": "replace", "path": "name", "value": { "givenName": "Babs" } }]));
    assert_eq!(name["name"]["givenName"], "Babs");
    assert_eq!(name["name"]["familyName"], "Jensen");
    // A whole extension by its URN.
    let extension = patched(&user, json!([{ "op": "replace", "path": ENTERPRISE, "value": { "department": "Sales" } }]));
    assert_eq!(extension[ENTERPRISE]["department"], "Sales");
    assert_eq!(extension[ENTERPRISE]["costCenter"], "4130");
}

#[test]
fn values_are_type_checked() {
    let user = bjensen();
    for (operations, mentions) in [
        (json!([{ "op": "replace", "path": "title", "value": 7 }]), "'title'"),
        (json!([{ "op": "add", "path": "emails", "value": "x@y" }]), "'emails[0]'"),
        (json!([{ "op": "add", "path": "emails", "value": [{ "value": "x@y", "kind": "work" }] }]), "kind"),
        (json!([{ "op": "replace", "path": "emails[type eq \"work\"].primary", "value": "yes" }]), "primary"),
        (json!([{ "op": "replace", "path": "x509Certificates", "value": [{ "value": "not base64!" }] }]), "x509Certificates"),
    ] {
        let error = patch_error(&user, operations.clone());
        assert!(matches!(error.scim_type, Some(ScimType::InvalidValue | ScimType::InvalidSyntax)), "{operations}: {error}");
        assert!(error.detail.contains(mentions), "{operations}: {}", error.detail);
    }
}

#[test]
fn the_password_is_reported_not_stored() {
    let outcome = patch(&entra_user(), json!([{ "op": "replace", "path": "password", "value": "n3w-Secret" }])).unwrap();
    assert_eq!(outcome.password, Some(PasswordChange::Set("n3w-Secret".into())));
    assert!(outcome.resource.get("password").is_none());
    assert!(!outcome.resource_changed);
    assert!(!outcome.is_noop());
}

#[test]
fn keys_stored_in_another_case_are_updated_not_duplicated() {
    let stored = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "u", "UserName": "a", "DisplayName": "Old" });
    let user = patched(&stored, json!([{ "op": "replace", "path": "displayname", "value": "New" }]));
    assert_eq!(user["displayName"], "New");
    assert!(user.get("DisplayName").is_none());
}
