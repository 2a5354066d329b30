//! The discovery documents (RFC 7644 §4, RFC 7643 §5–7): `/Schemas`, `/ResourceTypes` and
//! `/ServiceProviderConfig`, rendered from the same attribute definitions the rest of the crate enforces, plus the
//! `ListResponse` envelope (RFC 7644 §3.4.2). Values are camelCase and absent values are omitted, as Entra's
//! schema discovery expects (entra-apis.md §4.2).

use serde_json::{Map, Value, json};

use crate::schema::{Attribute, AttributeType, GROUP, ResourceSchema, Schema, USER};
use crate::{LIST_RESPONSE_URN, RESOURCE_TYPE_URN, SCHEMA_URN, SERVICE_PROVIDER_CONFIG_URN};

/// The resource types Ward serves, in `/ResourceTypes` order.
pub static RESOURCE_TYPES: [&ResourceSchema; 2] = [&USER, &GROUP];

fn base(base_url: &str) -> &str {
    base_url.trim_end_matches('/')
}

/// One attribute definition as in RFC 7643 §7 / §8.7.
pub fn attribute_json(attribute: &Attribute) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), Value::from(attribute.name));
    out.insert("type".into(), Value::from(attribute.kind.as_str()));
    out.insert("multiValued".into(), Value::from(attribute.multi_valued));
    out.insert("description".into(), Value::from(attribute.description));
    out.insert("required".into(), Value::from(attribute.required));
    out.insert("caseExact".into(), Value::from(attribute.case_exact));
    out.insert("mutability".into(), Value::from(attribute.mutability.as_str()));
    out.insert("returned".into(), Value::from(attribute.returned.as_str()));
    out.insert("uniqueness".into(), Value::from(attribute.uniqueness.as_str()));
    if !attribute.canonical_values.is_empty() {
        out.insert("canonicalValues".into(), Value::from(attribute.canonical_values));
    }
    if attribute.kind == AttributeType::Reference {
        out.insert("referenceTypes".into(), Value::from(attribute.reference_types));
    }
    if attribute.kind == AttributeType::Complex {
        out.insert("subAttributes".into(), Value::Array(attribute.sub_attributes.iter().map(attribute_json).collect()));
    }
    Value::Object(out)
}

/// A Schema resource (RFC 7643 §7) with its `meta.location` under `base_url` (e.g. `https://host/scim/v2`).
pub fn schema_json(schema: &Schema, base_url: &str) -> Value {
    json!({
        "schemas": [SCHEMA_URN],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attributes.iter().map(attribute_json).collect::<Vec<_>>(),
        "meta": { "resourceType": "Schema", "location": format!("{}/Schemas/{}", base(base_url), schema.id) },
    })
}

/// Every schema of every resource type, without duplicates: User, Enterprise User, Group.
pub fn schema_documents(base_url: &str) -> Vec<Value> {
    let mut seen: Vec<&str> = Vec::new();
    let mut documents = Vec::new();
    for schema in RESOURCE_TYPES.iter().flat_map(|resource_type| resource_type.schemas()) {
        if !seen.contains(&schema.id) {
            seen.push(schema.id);
            documents.push(schema_json(schema, base_url));
        }
    }
    documents
}

/// `GET /Schemas/{id}`: the schema whose URN is `id` (case-insensitive).
pub fn schema_document(id: &str, base_url: &str) -> Option<Value> {
    RESOURCE_TYPES
        .iter()
        .flat_map(|resource_type| resource_type.schemas())
        .find(|schema| schema.id.eq_ignore_ascii_case(id))
        .map(|schema| schema_json(schema, base_url))
}

/// A ResourceType resource (RFC 7643 §6).
pub fn resource_type_json(resource_type: &ResourceSchema, base_url: &str) -> Value {
    let mut out = json!({
        "schemas": [RESOURCE_TYPE_URN],
        "id": resource_type.name,
        "name": resource_type.name,
        "endpoint": resource_type.endpoint,
        "description": resource_type.description,
        "schema": resource_type.core.id,
        "meta": { "resourceType": "ResourceType", "location": format!("{}/ResourceTypes/{}", base(base_url), resource_type.name) },
    });
    if !resource_type.extensions.is_empty() {
        out["schemaExtensions"] = resource_type
            .extensions
            .iter()
            .map(|extension| json!({ "schema": extension.schema.id, "required": extension.required }))
            .collect();
    }
    out
}

pub fn resource_type_documents(base_url: &str) -> Vec<Value> {
    RESOURCE_TYPES.iter().map(|resource_type| resource_type_json(resource_type, base_url)).collect()
}

/// `GET /ResourceTypes/{name}` (case-insensitive).
pub fn resource_type_document(name: &str, base_url: &str) -> Option<Value> {
    RESOURCE_TYPES
        .iter()
        .find(|resource_type| resource_type.name.eq_ignore_ascii_case(name))
        .map(|resource_type| resource_type_json(resource_type, base_url))
}

/// RFC 7644 §3.4.2: `{"schemas":[ListResponse], "totalResults", "startIndex", "itemsPerPage", "Resources"}`.
pub fn list_response(resources: Vec<Value>, total_results: usize, start_index: usize) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_URN],
        "totalResults": total_results,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// An entry of `authenticationSchemes` (RFC 7643 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticationScheme {
    /// `"oauthbearertoken"`, `"httpbasic"`, `"oauth2"`…
    pub kind: String,
    pub name: String,
    pub description: String,
    pub spec_uri: Option<String>,
    pub documentation_uri: Option<String>,
    pub primary: bool,
}

impl AuthenticationScheme {
    /// Bearer tokens (RFC 6750), how Entra authenticates (entra-apis.md §4.1).
    pub fn oauth_bearer_token() -> Self {
        AuthenticationScheme {
            kind: "oauthbearertoken".into(),
            name: "OAuth Bearer Token".into(),
            description: "Authentication via OAuth 2.0 Bearer Token".into(),
            spec_uri: Some("https://www.rfc-editor.org/info/rfc6750".into()),
            documentation_uri: None,
            primary: true,
        }
    }
}

/// What the service provider supports (RFC 7643 §5), stated by the HTTP layer so the document cannot claim more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceProviderConfig {
    pub documentation_uri: Option<String>,
    pub patch: bool,
    /// `Some` when Bulk is supported.
    pub bulk: Option<BulkSupport>,
    /// `Some(maxResults)` when filtering is supported.
    pub filter_max_results: Option<usize>,
    pub sort: bool,
    pub etag: bool,
    pub change_password: bool,
    pub authentication_schemes: Vec<AuthenticationScheme>,
}

/// Bulk limits (RFC 7643 §5 `bulk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkSupport {
    pub max_operations: usize,
    pub max_payload_size: usize,
}

impl ServiceProviderConfig {
    pub fn to_json(&self, base_url: &str) -> Value {
        let bulk = self.bulk.map_or_else(
            || json!({ "supported": false, "maxOperations": 0, "maxPayloadSize": 0 }),
            |bulk| json!({ "supported": true, "maxOperations": bulk.max_operations, "maxPayloadSize": bulk.max_payload_size }),
        );
        let filter = self.filter_max_results.map_or_else(
            || json!({ "supported": false, "maxResults": 0 }),
            |max_results| json!({ "supported": true, "maxResults": max_results }),
        );
        let schemes: Vec<Value> = self
            .authentication_schemes
            .iter()
            .map(|scheme| {
                let mut out =
                    json!({ "type": scheme.kind, "name": scheme.name, "description": scheme.description, "primary": scheme.primary });
                if let Some(uri) = &scheme.spec_uri {
                    out["specUri"] = Value::from(uri.as_str());
                }
                if let Some(uri) = &scheme.documentation_uri {
                    out["documentationUri"] = Value::from(uri.as_str());
                }
                out
            })
            .collect();
        let mut out = json!({
            "schemas": [SERVICE_PROVIDER_CONFIG_URN],
            "patch": { "supported": self.patch },
            "bulk": bulk,
            "filter": filter,
            "changePassword": { "supported": self.change_password },
            "sort": { "supported": self.sort },
            "etag": { "supported": self.etag },
            "authenticationSchemes": schemes,
            "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{}/ServiceProviderConfig", base(base_url)) },
        });
        if let Some(uri) = &self.documentation_uri {
            out["documentationUri"] = Value::from(uri.as_str());
        }
        out
    }
}
