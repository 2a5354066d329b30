//! Bulk (RFC 7644 §3.7): parsing a BulkRequest, the `bulkId:` cross-references between its operations (§3.7.2),
//! an execution order in which each operation runs after the ones whose bulkIds it uses — forward references
//! included — and the BulkResponse envelope. Executing operations is the caller's job.
//!
//! Decisions: a structurally invalid request (bad `schemas`, an operation without `method`/`path`, a POST without
//! `bulkId`, duplicate bulkIds) fails as a whole with 400; too many operations is 413 (§3.7.4). An operation whose
//! bulkId references cannot be resolved — unknown bulkId, a cycle (§3.7.1 lets the service provider give up on
//! circular references with 409), or a dependency that failed — fails on its own with 409 `invalidValue`.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::error::{ScimError, ScimType, echo};
use crate::filter::get_key;
use crate::value::json_kind;
use crate::{BULK_REQUEST_URN, BULK_RESPONSE_URN};

const BULK_ID_PREFIX: &str = "bulkId:";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkMethod {
    Post,
    Put,
    Patch,
    Delete,
}

impl BulkMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkMethod::Post => "POST",
            BulkMethod::Put => "PUT",
            BulkMethod::Patch => "PATCH",
            BulkMethod::Delete => "DELETE",
        }
    }
}

/// One operation of a BulkRequest.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOperation {
    /// Position in the request's `Operations`.
    pub index: usize,
    pub method: BulkMethod,
    /// As sent, e.g. `/Users` or `/Groups/bulkId:qwerty`.
    pub path: String,
    /// The endpoint part of `path`: `/Users`.
    pub endpoint: String,
    /// The id part of `path` (absent for POST); may be `bulkId:…` until resolved.
    pub resource_id: Option<String>,
    pub bulk_id: Option<String>,
    /// The ETag to match (`If-Match`), when sent.
    pub version: Option<String>,
    /// The body of the POST, PUT or PATCH.
    pub data: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    /// Stop after this many errors (RFC 7644 §3.7.3); `None` means keep going.
    pub fail_on_errors: Option<u64>,
    pub operations: Vec<BulkOperation>,
}

impl BulkRequest {
    /// Parses a BulkRequest body. `max_operations` is the advertised `bulk.maxOperations`; the payload size is
    /// checked by the caller on the raw bytes.
    pub fn parse(body: &Value, max_operations: usize) -> Result<BulkRequest, ScimError> {
        if !body.is_object() {
            return Err(ScimError::invalid_syntax(format!("a BulkRequest must be a JSON object, found {}", json_kind(body))));
        }
        let lists_urn = get_key(body, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|urns| urns.iter().any(|urn| urn.as_str().is_some_and(|urn| urn.eq_ignore_ascii_case(BULK_REQUEST_URN))));
        if !lists_urn {
            return Err(ScimError::invalid_syntax(format!("a BulkRequest's 'schemas' must contain \"{BULK_REQUEST_URN}\"")));
        }
        let fail_on_errors = match get_key(body, "failOnErrors") {
            None | Some(Value::Null) => None,
            Some(value) => match value.as_u64() {
                Some(count) if count >= 1 => Some(count),
                _ => return Err(ScimError::invalid_value("'failOnErrors' must be a positive integer")),
            },
        };
        let Some(Value::Array(raw_operations)) = get_key(body, "Operations") else {
            return Err(ScimError::invalid_syntax("a BulkRequest needs an 'Operations' array"));
        };
        if raw_operations.len() > max_operations {
            return Err(ScimError::payload_too_large(format!(
                "the request has {} operations; maxOperations is {max_operations}",
                raw_operations.len()
            )));
        }
        let mut operations: Vec<BulkOperation> = Vec::with_capacity(raw_operations.len());
        for (index, raw) in raw_operations.iter().enumerate() {
            let operation = parse_operation(index, raw).map_err(|error| error.context(format!("Operations[{index}]")))?;
            if let Some(bulk_id) = &operation.bulk_id
                && operations.iter().any(|earlier| earlier.bulk_id.as_ref() == Some(bulk_id))
            {
                return Err(ScimError::invalid_value(format!("Operations[{index}]: bulkId '{}' is used twice", echo(bulk_id))));
            }
            operations.push(operation);
        }
        Ok(BulkRequest { fail_on_errors, operations })
    }
}

fn parse_operation(index: usize, raw: &Value) -> Result<BulkOperation, ScimError> {
    if !raw.is_object() {
        return Err(ScimError::invalid_syntax(format!("an operation must be an object, found {}", json_kind(raw))));
    }
    let text = |key: &str| -> Result<Option<String>, ScimError> {
        match get_key(raw, key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(ScimError::invalid_syntax(format!("'{key}' must be a string, found {}", json_kind(other)))),
        }
    };
    let method = match text("method")?.as_deref() {
        Some(method) if method.eq_ignore_ascii_case("POST") => BulkMethod::Post,
        Some(method) if method.eq_ignore_ascii_case("PUT") => BulkMethod::Put,
        Some(method) if method.eq_ignore_ascii_case("PATCH") => BulkMethod::Patch,
        Some(method) if method.eq_ignore_ascii_case("DELETE") => BulkMethod::Delete,
        Some(method) => {
            return Err(ScimError::invalid_syntax(format!("unknown method '{}' (expected POST, PUT, PATCH or DELETE)", echo(method))));
        }
        None => return Err(ScimError::invalid_syntax("'method' is required")),
    };
    let Some(path) = text("path")? else {
        return Err(ScimError::invalid_syntax("'path' is required"));
    };
    let trimmed = path.trim_end_matches('/');
    let segments: Vec<&str> = trimmed.strip_prefix('/').map(|rest| rest.split('/').collect()).unwrap_or_default();
    let (endpoint, resource_id) = match (method, segments.as_slice()) {
        (BulkMethod::Post, [endpoint]) if !endpoint.is_empty() => (format!("/{endpoint}"), None),
        (BulkMethod::Post, _) => {
            return Err(ScimError::invalid_syntax(format!("a POST path names an endpoint such as /Users, not '{}'", echo(&path))));
        }
        (_, [endpoint, id]) if !endpoint.is_empty() && !id.is_empty() => (format!("/{endpoint}"), Some((*id).to_owned())),
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "a {} path names a resource such as /Users/{{id}}, not '{}'",
                method.as_str(),
                echo(&path)
            )));
        }
    };
    let bulk_id = text("bulkId")?;
    if method == BulkMethod::Post && bulk_id.as_deref().is_none_or(|id| id.trim().is_empty()) {
        return Err(ScimError::invalid_syntax("a POST needs a 'bulkId' (RFC 7644 §3.7)"));
    }
    let data = get_key(raw, "data").filter(|data| !data.is_null()).cloned();
    if method != BulkMethod::Delete && data.is_none() {
        return Err(ScimError::invalid_syntax(format!("a {} needs 'data'", method.as_str())));
    }
    Ok(BulkOperation { index, method, path, endpoint, resource_id, bulk_id, version: text("version")?, data })
}

/// The bulkIds an operation references, in its path and anywhere in its data, in first-appearance order.
/// Linear in the data: a hostile operation with tens of thousands of distinct references costs a set
/// insertion each, not a scan of those found so far.
pub fn bulk_id_references(operation: &BulkOperation) -> Vec<String> {
    fn walk<'a>(value: &'a Value, seen: &mut std::collections::HashSet<&'a str>, found: &mut Vec<String>) {
        match value {
            Value::String(text) => {
                if let Some(id) = text.strip_prefix(BULK_ID_PREFIX)
                    && seen.insert(id)
                {
                    found.push(id.to_owned());
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, seen, found)),
            Value::Object(members) => members.values().for_each(|member| walk(member, seen, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    if let Some(id) = operation.resource_id.as_deref()
        && let Some(id) = id.strip_prefix(BULK_ID_PREFIX)
    {
        found.push(id.to_owned());
    }
    let mut seen: std::collections::HashSet<&str> = found.iter().map(String::as_str).collect::<Vec<_>>().into_iter().collect();
    if let Some(data) = &operation.data {
        let mut more = Vec::new();
        walk(data, &mut seen, &mut more);
        found.extend(more);
    }
    found
}

/// The 409 for a bulkId reference that cannot be resolved.
fn unresolved(bulk_id: &str, why: &str) -> ScimError {
    ScimError::conflict(Some(ScimType::InvalidValue), format!("bulkId '{}' {why}", echo(bulk_id)))
}

/// Replaces every `bulkId:x` (in the path's id and in data) by the id `resolved` maps `x` to.
pub fn resolve_bulk_ids(operation: &mut BulkOperation, resolved: &HashMap<String, String>) -> Result<(), ScimError> {
    fn walk(value: &mut Value, resolved: &HashMap<String, String>) -> Result<(), ScimError> {
        match value {
            Value::String(text) => {
                if let Some(id) = text.strip_prefix(BULK_ID_PREFIX) {
                    let Some(resource_id) = resolved.get(id) else {
                        return Err(unresolved(id, "does not name a resource created in this request"));
                    };
                    *text = resource_id.clone();
                }
                Ok(())
            }
            Value::Array(items) => items.iter_mut().try_for_each(|item| walk(item, resolved)),
            Value::Object(members) => members.values_mut().try_for_each(|member| walk(member, resolved)),
            _ => Ok(()),
        }
    }
    if let Some(id) = &mut operation.resource_id {
        let mut value = Value::from(id.as_str());
        walk(&mut value, resolved)?;
        if let Value::String(resolved_id) = value {
            operation.path = format!("{}/{resolved_id}", operation.endpoint);
            *id = resolved_id;
        }
    }
    if let Some(data) = &mut operation.data {
        walk(data, resolved)?;
    }
    Ok(())
}

/// The order to run a request's operations in.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionPlan {
    /// Operation indexes, each after every operation whose bulkId it references; otherwise in request order.
    pub order: Vec<usize>,
    /// Operations that cannot run, with the 409 to report for each, in request order.
    pub unresolvable: Vec<(usize, ScimError)>,
}

/// Orders `request` so references resolve (RFC 7644 §3.7.2 allows a reference before the POST that defines it).
pub fn execution_order(request: &BulkRequest) -> ExecutionPlan {
    let count = request.operations.len();
    let defined_by: HashMap<&str, usize> =
        request.operations.iter().filter_map(|operation| operation.bulk_id.as_deref().map(|id| (id, operation.index))).collect();
    let mut dependencies: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut failed: Vec<Option<ScimError>> = vec![None; count];
    for (position, operation) in request.operations.iter().enumerate() {
        for id in bulk_id_references(operation) {
            match defined_by.get(id.as_str()) {
                Some(&defining) => dependencies[position].push(defining),
                None => {
                    failed[position].get_or_insert_with(|| unresolved(&id, "is not defined by any POST in this request"));
                }
            }
        }
    }
    // Kahn's algorithm, always taking the lowest ready index so independent operations keep request order.
    let mut done = vec![false; count];
    let mut order = Vec::with_capacity(count);
    loop {
        let ready = (0..count).find(|&position| {
            !done[position]
                && failed[position].is_none()
                && dependencies[position].iter().all(|&dependency| done[dependency] && dependency != position)
        });
        if let Some(position) = ready {
            done[position] = true;
            order.push(position);
            continue;
        }
        // Nothing is ready: what remains either depends on a failed operation or sits in a cycle.
        let mut progressed = false;
        for position in 0..count {
            if done[position] || failed[position].is_some() {
                continue;
            }
            if let Some(&blocked_by) = dependencies[position].iter().find(|&&dependency| failed[dependency].is_some()) {
                let id = request.operations[blocked_by].bulk_id.clone().unwrap_or_default();
                failed[position] = Some(unresolved(&id, "belongs to an operation that cannot run"));
                progressed = true;
            }
        }
        if progressed {
            continue;
        }
        for position in 0..count {
            if !done[position] && failed[position].is_none() {
                let id = request.operations[position].bulk_id.clone().unwrap_or_default();
                failed[position] = Some(unresolved(&id, "is part of a circular reference between operations (RFC 7644 §3.7.1)"));
            }
        }
        break;
    }
    let unresolvable = failed.into_iter().enumerate().filter_map(|(position, error)| error.map(|error| (position, error))).collect();
    ExecutionPlan { order, unresolvable }
}

/// One entry of a BulkResponse (RFC 7644 §3.7.3).
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOperationResult {
    pub method: BulkMethod,
    pub bulk_id: Option<String>,
    pub version: Option<String>,
    /// The resource's URL; absent for a failed POST.
    pub location: Option<String>,
    pub status: u16,
    /// The SCIM error body for a failure (or, optionally, the resource).
    pub response: Option<Value>,
}

impl BulkOperationResult {
    pub fn success(operation: &BulkOperation, status: u16, location: Option<String>, version: Option<String>) -> Self {
        BulkOperationResult { method: operation.method, bulk_id: operation.bulk_id.clone(), version, location, status, response: None }
    }

    pub fn failure(operation: &BulkOperation, location: Option<String>, error: &ScimError) -> Self {
        BulkOperationResult {
            method: operation.method,
            bulk_id: operation.bulk_id.clone(),
            version: None,
            location,
            status: error.status,
            response: Some(error.to_json()),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut out = json!({ "method": self.method.as_str(), "status": self.status.to_string() });
        for (key, value) in [("bulkId", &self.bulk_id), ("version", &self.version), ("location", &self.location)] {
            if let Some(value) = value {
                out[key] = Value::from(value.as_str());
            }
        }
        if let Some(response) = &self.response {
            out["response"] = response.clone();
        }
        out
    }
}

/// `{"schemas":[BulkResponse], "Operations":[…]}`.
pub fn bulk_response(results: &[BulkOperationResult]) -> Value {
    json!({ "schemas": [BULK_RESPONSE_URN], "Operations": results.iter().map(BulkOperationResult::to_json).collect::<Vec<_>>() })
}
