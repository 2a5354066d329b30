//! Bulk (RFC 7644 §3.7): parsing, limits, bulkId references, ordering with forward references and cycles.

use std::collections::HashMap;

use serde_json::{Value, json};
use ward_scim::{
    BulkMethod, BulkOperationResult, BulkRequest, ScimError, ScimType, bulk_id_references, bulk_response, execution_order, resolve_bulk_ids,
};

use super::kind;

fn request(operations: Value) -> Value {
    json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": 1, "Operations": operations })
}

fn post_user(bulk_id: &str) -> Value {
    json!({ "method": "POST", "path": "/Users", "bulkId": bulk_id, "data": { "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": bulk_id } })
}

fn post_group(bulk_id: &str, member_bulk_ids: &[&str]) -> Value {
    let members: Vec<Value> = member_bulk_ids.iter().map(|id| json!({ "type": "Group", "value": format!("bulkId:{id}") })).collect();
    json!({ "method": "POST", "path": "/Groups", "bulkId": bulk_id, "data": { "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": bulk_id, "members": members } })
}

fn parse(body: Value) -> Result<BulkRequest, ScimError> {
    BulkRequest::parse(&body, 100)
}

/// The shape of entra-apis.md §4.6, with the PATCH placed *before* the POST it references.
#[test]
fn forward_references_run_after_what_they_reference() {
    let parsed = parse(request(json!([
        { "method": "patch", "path": "/Groups/e9e30dba", "version": "W/\"4weymrEsh5O6cAEK\"",
          "data": { "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{ "op": "add", "path": "members", "value": [{ "value": "bulkId:qwerty" }] }] } },
        post_user("qwerty"),
        { "method": "DELETE", "path": "/Users/b7c14771" }
    ])))
    .unwrap();
    assert_eq!(parsed.fail_on_errors, Some(1));
    assert_eq!(parsed.operations[0].method, BulkMethod::Patch);
    assert_eq!(parsed.operations[0].version.as_deref(), Some("W/\"4weymrEsh5O6cAEK\""));
    assert_eq!(parsed.operations[2].resource_id.as_deref(), Some("b7c14771"));
    assert_eq!(bulk_id_references(&parsed.operations[0]), ["qwerty"]);
    let plan = execution_order(&parsed);
    assert_eq!(plan.order, [1, 0, 2]);
    assert!(plan.unresolvable.is_empty());
}

#[test]
fn cycles_and_unknown_bulk_ids_fail_with_409_without_blocking_the_rest() {
    let parsed = parse(request(json!([
        post_group("ytrewq", &["qwerty"]),
        post_group("qwerty", &["ytrewq"]),
        post_user("alice"),
        post_group("lonely", &["nobody"]),
        post_group("dependent", &["lonely"]),
        post_group("selfish", &["selfish"])
    ])))
    .unwrap();
    let plan = execution_order(&parsed);
    assert_eq!(plan.order, [2]);
    let failed: Vec<usize> = plan.unresolvable.iter().map(|(index, _)| *index).collect();
    assert_eq!(failed, [0, 1, 3, 4, 5]);
    for (index, error) in &plan.unresolvable {
        assert_eq!(kind(error), (409, Some(ScimType::InvalidValue)), "{index}: {error}");
    }
    assert!(plan.unresolvable[0].1.detail.contains("circular"));
    assert!(plan.unresolvable[2].1.detail.contains("'nobody'"));
}

#[test]
fn references_are_found_in_paths_and_substituted() {
    let mut parsed = parse(request(json!([
        post_user("qwerty"),
        { "method": "PUT", "path": "/Groups/bulkId:grp", "data": { "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G", "members": [{ "value": "bulkId:qwerty" }] } },
        post_group("grp", &[])
    ])))
    .unwrap();
    let put = &mut parsed.operations[1];
    assert_eq!(bulk_id_references(put), ["grp", "qwerty"]);
    let resolved = HashMap::from([("qwerty".to_owned(), "u-1".to_owned()), ("grp".to_owned(), "g-1".to_owned())]);
    resolve_bulk_ids(put, &resolved).unwrap();
    assert_eq!(put.path, "/Groups/g-1");
    assert_eq!(put.resource_id.as_deref(), Some("g-1"));
    assert_eq!(put.data.as_ref().unwrap()["members"][0]["value"], "u-1");
    let mut unresolved = parse(request(json!([{ "method": "DELETE", "path": "/Users/bulkId:gone" }]))).unwrap();
    let error = resolve_bulk_ids(&mut unresolved.operations[0], &HashMap::new()).unwrap_err();
    assert_eq!(kind(&error), (409, Some(ScimType::InvalidValue)));
}

#[test]
fn malformed_requests_and_limits() {
    let too_many: Vec<Value> = (0..101).map(|index| post_user(&format!("u{index}"))).collect();
    assert_eq!(kind(&parse(request(Value::from(too_many))).unwrap_err()), (413, None));
    let cases = [
        (request(json!([post_user("dup"), post_user("dup")])), ScimType::InvalidValue),
        (request(json!([{ "method": "POST", "path": "/Users", "data": {} }])), ScimType::InvalidSyntax),
        (request(json!([{ "method": "GET", "path": "/Users/1" }])), ScimType::InvalidSyntax),
        (request(json!([{ "method": "PUT", "path": "/Users" , "data": {} }])), ScimType::InvalidSyntax),
        (request(json!([{ "method": "POST", "path": "/Users/1", "bulkId": "x", "data": {} }])), ScimType::InvalidSyntax),
        (request(json!([{ "method": "PATCH", "path": "/Users/1" }])), ScimType::InvalidSyntax),
        (json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [] }), ScimType::InvalidSyntax),
        (
            json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": -1, "Operations": [] }),
            ScimType::InvalidValue,
        ),
    ];
    for (body, expected) in cases {
        let error = parse(body.clone()).expect_err(&body.to_string());
        assert_eq!(kind(&error), (400, Some(expected)), "{body}: {error}");
    }
    let lower_case = parse(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "operations": [{ "method": "delete", "path": "/Groups/g" }] })).unwrap();
    assert_eq!(lower_case.operations[0].method, BulkMethod::Delete);
    assert_eq!(lower_case.fail_on_errors, None);
}

#[test]
fn response_entries() {
    let parsed = parse(request(json!([post_user("qwerty"), { "method": "DELETE", "path": "/Users/b7c14771" }]))).unwrap();
    let created = BulkOperationResult::success(
        &parsed.operations[0],
        201,
        Some("https://example.com/v2/Users/92b725cd".into()),
        Some("W/\"4weymrEsh5O6cAEK\"".into()),
    );
    let failed = BulkOperationResult::failure(&parsed.operations[1], None, &ScimError::not_found("Resource b7c14771 not found"));
    assert_eq!(
        bulk_response(&[created, failed]),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"],
            "Operations": [
                { "method": "POST", "bulkId": "qwerty", "version": "W/\"4weymrEsh5O6cAEK\"", "location": "https://example.com/v2/Users/92b725cd", "status": "201" },
                { "method": "DELETE", "status": "404", "response": {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "detail": "Resource b7c14771 not found", "status": "404" } }
            ]
        })
    );
}
