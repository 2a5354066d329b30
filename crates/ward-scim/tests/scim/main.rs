//! ward-scim's tests, one binary: RFC 7643/7644 examples and Entra's exact requests (entra-apis.md §4.2) as
//! fixtures, each module covering one area.

mod bulk;
mod discovery;
mod filter;
mod patch;
mod resource;

use serde_json::{Value, json};
use ward_scim::{ScimError, ScimType};

/// RFC 7643 §8.2 (full User) with the §8.3 Enterprise User extension. The certificate is cut to valid base64
/// (the RFC elides it with "...").
pub fn bjensen() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "701984",
        "userName": "bjensen@example.com",
        "name": {
            "formatted": "Ms. Barbara J Jensen, III",
            "familyName": "Jensen",
            "givenName": "Barbara",
            "middleName": "Jane",
            "honorificPrefix": "Ms.",
            "honorificSuffix": "III"
        },
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "profileUrl": "https://login.example.com/bjensen",
        "emails": [
            { "value": "bjensen@example.com", "type": "work", "primary": true },
            { "value": "babs@jensen.org", "type": "home" }
        ],
        "addresses": [
            {
                "type": "work",
                "streetAddress": "100 Universal City Plaza",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "USA",
                "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
                "primary": true
            },
            {
                "type": "home",
                "streetAddress": "456 Hollywood Blvd",
                "locality": "Hollywood",
                "region": "CA",
                "postalCode": "91608",
                "country": "USA",
                "formatted": "456 Hollywood Blvd\nHollywood, CA 91608 USA"
            }
        ],
        "phoneNumbers": [
            { "value": "555-555-5555", "type": "work" },
            { "value": "555-555-4444", "type": "mobile" }
        ],
        "ims": [{ "value": "someaimhandle", "type": "aim" }],
        "photos": [
            { "value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo" },
            { "value": "https://photos.example.com/profilephoto/72930000000Ccne/T", "type": "thumbnail" }
        ],
        "userType": "Employee",
        "title": "Tour Guide",
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "America/Los_Angeles",
        "active": true,
        "password": "t1meMa$heen",
        "groups": [
            { "value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "$ref": "https://example.com/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides" },
            { "value": "fc348aa8-3835-40eb-a20b-c726e15c55b5", "$ref": "https://example.com/v2/Groups/fc348aa8-3835-40eb-a20b-c726e15c55b5", "display": "Employees" },
            { "value": "71ddacd2-a8e7-49b8-a5db-ae50d0a5bfd7", "$ref": "https://example.com/v2/Groups/71ddacd2-a8e7-49b8-a5db-ae50d0a5bfd7", "display": "US Employees" }
        ],
        "x509Certificates": [{ "value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx" }],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "organization": "Universal Studios",
            "division": "Theme Park",
            "department": "Tour Operations",
            "manager": { "value": "26118915-6090-4610-87e4-49d8ca9f808d", "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith" }
        },
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"3694e05e9dff591\"",
            "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
        }
    })
}

/// A second user unlike bjensen in every way the RFC's filter examples test.
pub fn jomalley() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "c3a26dd3-27a0-4dec-a2ac-ce211e105f97",
        "userName": "Jo.OMalley",
        "name": { "familyName": "O'Malley", "givenName": "Jo" },
        "userType": "Intern",
        "active": false,
        "emails": [{ "value": "jo@omalley.example.org", "type": "home" }],
        "ims": [{ "value": "jo@foo.com", "type": "xmpp" }],
        "meta": { "resourceType": "User", "created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T05:42:34+02:00" }
    })
}

/// An error's status and scimType, for compact assertions.
pub fn kind(error: &ScimError) -> (u16, Option<ScimType>) {
    (error.status, error.scim_type)
}

#[test]
fn error_body_has_status_as_a_string() {
    let error = ScimError::uniqueness("userName 'bjensen@example.com' is already in use");
    assert_eq!(
        error.to_json(),
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "scimType": "uniqueness",
            "detail": "userName 'bjensen@example.com' is already in use",
            "status": "409"
        })
    );
    let not_found = ScimError::not_found("Resource 2819c223 not found").to_json();
    assert_eq!(not_found["status"], "404");
    assert!(not_found.get("scimType").is_none());
    assert_eq!(ScimError::payload_too_large("too big").status, 413);
    assert_eq!(ScimError::precondition_failed("version").status, 412);
    assert_eq!(kind(&ScimError::sensitive("pii")), (403, Some(ScimType::Sensitive)));
    for (scim_type, spelling) in [(ScimType::InvalidVers, "invalidVers"), (ScimType::TooMany, "tooMany"), (ScimType::NoTarget, "noTarget")]
    {
        assert_eq!(serde_json::to_value(scim_type).unwrap(), spelling);
        assert_eq!(scim_type.as_str(), spelling);
    }
}
