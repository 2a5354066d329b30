//! Discovery documents (RFC 7643 §5–7): shape, camelCase values, no nulls, and drift against the committed
//! contract `contracts/discovery.json` (regenerate with `WARD_WRITE_CONTRACTS=1 cargo test -p ward-scim`).

use serde_json::{Value, json};
use ward_scim::{
    AuthenticationScheme, BulkSupport, ServiceProviderConfig, list_response, resource_type_document, resource_type_documents,
    schema_document, schema_documents,
};

const BASE: &str = "https://ward.example/scim/v2/";

fn attribute<'v>(attributes: &'v Value, name: &str) -> &'v Value {
    attributes.as_array().unwrap().iter().find(|attribute| attribute["name"] == name).unwrap_or_else(|| panic!("no attribute {name}"))
}

fn assert_no_nulls(value: &Value, at: &str) {
    match value {
        Value::Null => panic!("null at {at}"),
        Value::Array(items) => items.iter().enumerate().for_each(|(index, item)| assert_no_nulls(item, &format!("{at}[{index}]"))),
        Value::Object(members) => members.iter().for_each(|(key, member)| assert_no_nulls(member, &format!("{at}.{key}"))),
        _ => {}
    }
}

#[test]
fn user_schema_states_rfc_characteristics() {
    let user = schema_document("urn:ietf:params:scim:schemas:core:2.0:User", BASE).unwrap();
    assert_eq!(user["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:Schema"]));
    assert_eq!(
        user["meta"],
        json!({ "resourceType": "Schema", "location": "https://ward.example/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User" })
    );
    let attributes = &user["attributes"];
    assert_eq!(
        attribute(attributes, "userName"),
        &json!({
            "name": "userName", "type": "string", "multiValued": false,
            "description": "Unique identifier for the User, typically used to sign in. REQUIRED.",
            "required": true, "caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": "server"
        })
    );
    let password = attribute(attributes, "password");
    assert_eq!((&password["mutability"], &password["returned"]), (&json!("writeOnly"), &json!("never")));
    assert_eq!(attribute(attributes, "groups")["mutability"], "readOnly");
    let emails = attribute(attributes, "emails");
    assert_eq!(emails["multiValued"], true);
    assert_eq!(attribute(&emails["subAttributes"], "type")["canonicalValues"], json!(["work", "home", "other"]));
    assert_eq!(attribute(&emails["subAttributes"], "primary")["type"], "boolean");
    assert_eq!(attribute(attributes, "profileUrl")["referenceTypes"], json!(["external"]));
    assert_eq!(attribute(&attribute(attributes, "x509Certificates")["subAttributes"], "value")["type"], "binary");
    let name_subs = attribute(attributes, "name")["subAttributes"].as_array().unwrap().len();
    assert_eq!(name_subs, 6);
    assert_eq!(attributes.as_array().unwrap().len(), 21);
    // Common attributes are not part of any schema (RFC 7643 §3.1).
    assert!(attributes.as_array().unwrap().iter().all(|attribute| attribute["name"] != "id"));
}

#[test]
fn enterprise_and_group_schemas() {
    let enterprise = schema_document("URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER", BASE).unwrap();
    let manager = attribute(&enterprise["attributes"], "manager");
    assert_eq!(manager["type"], "complex");
    assert_eq!(attribute(&manager["subAttributes"], "$ref")["referenceTypes"], json!(["User"]));
    assert_eq!(attribute(&manager["subAttributes"], "displayName")["mutability"], "readOnly");
    for name in ["employeeNumber", "costCenter", "organization", "division", "department"] {
        assert_eq!(attribute(&enterprise["attributes"], name)["type"], "string");
    }
    let group = schema_document("urn:ietf:params:scim:schemas:core:2.0:Group", BASE).unwrap();
    let members = attribute(&group["attributes"], "members");
    let member_subs: Vec<&str> = members["subAttributes"].as_array().unwrap().iter().map(|sub| sub["name"].as_str().unwrap()).collect();
    assert_eq!(member_subs, ["value", "$ref", "display", "type"]);
    assert_eq!(attribute(&group["attributes"], "displayName")["required"], true);
    assert!(schema_document("urn:example:nothing", BASE).is_none());
    let all = schema_documents(BASE);
    assert_eq!(
        all.iter().map(|schema| schema["id"].as_str().unwrap()).collect::<Vec<_>>(),
        [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:core:2.0:Group",
        ]
    );
    all.iter().for_each(|schema| assert_no_nulls(schema, "schema"));
}

#[test]
fn resource_types() {
    let user = resource_type_document("user", BASE).unwrap();
    assert_eq!(
        user,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users", "description": "User Account",
            "schema": "urn:ietf:params:scim:schemas:core:2.0:User",
            "schemaExtensions": [{ "schema": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "required": false }],
            "meta": { "resourceType": "ResourceType", "location": "https://ward.example/scim/v2/ResourceTypes/User" }
        })
    );
    let group = resource_type_document("Group", BASE).unwrap();
    assert_eq!(group["endpoint"], "/Groups");
    assert!(group.get("schemaExtensions").is_none());
    assert_eq!(resource_type_documents(BASE).len(), 2);
}

#[test]
fn service_provider_config_states_what_it_is_given() {
    let config = ServiceProviderConfig {
        documentation_uri: Some("https://ward.example/docs/scim".into()),
        patch: true,
        bulk: Some(BulkSupport { max_operations: 1000, max_payload_size: 1_048_576 }),
        filter_max_results: Some(200),
        sort: true,
        etag: false,
        change_password: false,
        authentication_schemes: vec![AuthenticationScheme::oauth_bearer_token()],
    };
    let document = config.to_json(BASE);
    assert_eq!(document["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]));
    assert_eq!(document["patch"], json!({ "supported": true }));
    assert_eq!(document["bulk"], json!({ "supported": true, "maxOperations": 1000, "maxPayloadSize": 1_048_576 }));
    assert_eq!(document["filter"], json!({ "supported": true, "maxResults": 200 }));
    assert_eq!(document["etag"], json!({ "supported": false }));
    assert_eq!(document["authenticationSchemes"][0]["type"], "oauthbearertoken");
    assert_eq!(document["meta"]["location"], "https://ward.example/scim/v2/ServiceProviderConfig");
    assert_no_nulls(&document, "config");
    let without_bulk = ServiceProviderConfig { bulk: None, ..config }.to_json(BASE);
    assert_eq!(without_bulk["bulk"], json!({ "supported": false, "maxOperations": 0, "maxPayloadSize": 0 }));
}

#[test]
fn list_response_envelope() {
    assert_eq!(
        list_response(vec![json!({ "id": "a" })], 7, 3),
        json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 7, "startIndex": 3, "itemsPerPage": 1, "Resources": [{ "id": "a" }] })
    );
    assert_eq!(list_response(vec![], 0, 1)["Resources"], json!([]));
}

#[test]
fn committed_discovery_contract_matches_the_code() {
    let current = json!({ "Schemas": schema_documents(BASE), "ResourceTypes": resource_type_documents(BASE) });
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts/discovery.json");
    let rendered = format!("{}\n", serde_json::to_string_pretty(&current).unwrap());
    if std::env::var_os("WARD_WRITE_CONTRACTS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    // Compared as JSON values, so the check holds whether or not serde_json preserves key order in this build.
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default()).unwrap_or(Value::Null);
    assert!(
        committed == current,
        "{} differs from the discovery documents the code renders; rerun with WARD_WRITE_CONTRACTS=1 and review the diff",
        path.display()
    );
}
