//! The protocol core of SCIM 2.0 (RFC 7643 schema, RFC 7644 protocol) as Microsoft Entra's provisioning client
//! speaks it (entra-apis.md §4): attribute schemas and discovery documents, filters, PATCH, write validation,
//! `attributes`/`excludedAttributes`, sorting and Bulk. Pure: no I/O, no clock, no HTTP types — the HTTP layer
//! maps requests in and [`ScimError`]s out, the store answers look-ups.
//!
//! Group membership is never part of a resource document here: PATCH returns it as [`MemberChange`]s and writes
//! return it as a list of ids, so a group with 100k members costs what its change costs.

mod bulk;
mod datetime;
mod discovery;
mod error;
mod filter;
mod patch;
mod path;
mod projection;
mod resource;
mod schema;
mod sort;
mod value;

pub use bulk::{
    BulkMethod, BulkOperation, BulkOperationResult, BulkRequest, ExecutionPlan, bulk_id_references, bulk_response, execution_order,
    resolve_bulk_ids,
};
pub use discovery::{
    AuthenticationScheme, BulkSupport, RESOURCE_TYPES, ServiceProviderConfig, attribute_json, list_response, resource_type_document,
    resource_type_documents, resource_type_json, schema_document, schema_documents, schema_json,
};
pub use error::{ScimError, ScimType};
pub use filter::{CompareOp, CompareValue, Equality, Filter};
pub use patch::{MemberChange, PasswordChange, PatchOp, PatchOperation, PatchOutcome, PatchRequest, apply_patch};
pub use path::PatchPath;
pub use projection::{Projection, project};
pub use resource::{WriteDocument, WriteMode, normalize_for_write};
pub use schema::{
    Attribute, AttributePath, AttributeType, COMMON_ATTRIBUTES, ENTERPRISE_USER_SCHEMA, GROUP, GROUP_SCHEMA, Mutability, ResourceSchema,
    Returned, Schema, SchemaExtension, Storage, USER, USER_SCHEMA, Uniqueness,
};
pub use sort::{SortKey, SortOrder, compare_for_sort, compare_in_order};

/// RFC 7643 §4.1.
pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// RFC 7643 §4.3.
pub const ENTERPRISE_USER_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// RFC 7643 §4.2.
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// What Entra adds to a group's `schemas` (entra-apis.md §4.2); it defines no attributes.
pub const MICROSOFT_GROUP_URN: &str = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";
/// RFC 7644 §3.12.
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// RFC 7644 §3.5.2.
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// RFC 7644 §3.4.2.
pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// RFC 7644 §3.4.3 (`POST /.search`).
pub const SEARCH_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// RFC 7644 §3.7.
pub const BULK_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// RFC 7643 §7.
pub const SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
/// RFC 7643 §6.
pub const RESOURCE_TYPE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// RFC 7643 §5.
pub const SERVICE_PROVIDER_CONFIG_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

/// Longest accepted filter (or PATCH path), in bytes.
pub const MAX_FILTER_LEN: usize = 4_096;
/// Deepest accepted nesting of parentheses, `not` and `[ ]` in a filter.
pub const MAX_FILTER_DEPTH: usize = 32;
