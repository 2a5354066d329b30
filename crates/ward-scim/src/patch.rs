//! PATCH (RFC 7644 §3.5.2): parsing a PatchOp body, then applying its operations in order and atomically to a
//! resource's JSON — the caller's document is never touched, a failing operation leaves nothing applied.
//!
//! Accepted alongside the RFC, because Entra sends them (entra-apis.md §4.2): `op` in any case (`Replace`),
//! the `Operations` key in any case, `"True"`/`"False"` for booleans, path-less `replace` whose value has dotted
//! (`name.givenName`) and URN-qualified keys, and `remove` of `members` with a `value` array (removes only those).
//!
//! Group membership never passes through the document: operations on the [`Storage::ExternalMembers`] attribute
//! come back as an ordered list of [`MemberChange`]s, and the write-only `password` as a [`PasswordChange`].

mod document;
pub(crate) mod members;

use serde_json::{Map, Value};

use crate::PATCH_OP_URN;
use crate::error::{ScimError, echo};
use crate::filter::{get_in_map, get_key};
use crate::path::PatchPath;
use crate::schema::{AttributePath, Mutability, ResourceSchema, Returned, Storage};
use crate::value::{check_single_primary, json_kind};

pub use members::MemberChange;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOp {
    Add,
    Replace,
    Remove,
}

impl PatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            PatchOp::Add => "add",
            PatchOp::Replace => "replace",
            PatchOp::Remove => "remove",
        }
    }
}

/// One operation, checked: `add`/`replace` carry a value (an object when there is no path), `remove` a path.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    /// Position in the request's `Operations`, for error details.
    pub index: usize,
    pub op: PatchOp,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// A parsed PatchOp request body.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    pub operations: Vec<PatchOperation>,
}

/// A change to the write-only `password` (never stored in, nor returned from, the document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordChange {
    Set(String),
    Clear,
}

/// The result of [`apply_patch`].
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOutcome {
    /// The new document (without members or password).
    pub resource: Value,
    /// Whether `resource` differs from the input document.
    pub resource_changed: bool,
    /// Membership changes, in request order, for the caller to apply after the document.
    pub member_changes: Vec<MemberChange>,
    /// The last password change in the request, if any.
    pub password: Option<PasswordChange>,
}

impl PatchOutcome {
    /// Whether anything at all changes (Entra retries operations; a no-op PATCH still succeeds).
    pub fn is_noop(&self) -> bool {
        !self.resource_changed && self.member_changes.is_empty() && self.password.is_none()
    }
}

impl PatchRequest {
    /// Parses a PatchOp body (RFC 7644 §3.5.2) against `schema`: `schemas` must list the PatchOp URN, paths must
    /// resolve (`invalidPath`), `remove` needs a path (`noTarget`), `add`/`replace` a value (`invalidValue`).
    pub fn parse(body: &Value, schema: &ResourceSchema) -> Result<PatchRequest, ScimError> {
        let Value::Object(_) = body else {
            return Err(ScimError::invalid_syntax(format!("a PATCH body must be a JSON object, found {}", json_kind(body))));
        };
        let lists_patch_op = get_key(body, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|urns| urns.iter().any(|urn| urn.as_str().is_some_and(|urn| urn.eq_ignore_ascii_case(PATCH_OP_URN))));
        if !lists_patch_op {
            return Err(ScimError::invalid_syntax(format!("a PATCH body's 'schemas' must contain \"{PATCH_OP_URN}\"")));
        }
        let Some(Value::Array(raw_operations)) = get_key(body, "Operations") else {
            return Err(ScimError::invalid_syntax("a PATCH body needs an 'Operations' array"));
        };
        let mut operations = Vec::with_capacity(raw_operations.len());
        for (index, raw) in raw_operations.iter().enumerate() {
            parse_operation(index, raw, schema, &mut operations).map_err(|error| error.context(format!("Operations[{index}]")))?;
        }
        Ok(PatchRequest { operations })
    }
}

fn parse_operation(index: usize, raw: &Value, schema: &ResourceSchema, out: &mut Vec<PatchOperation>) -> Result<(), ScimError> {
    if !raw.is_object() {
        return Err(ScimError::invalid_syntax(format!("an operation must be an object, found {}", json_kind(raw))));
    }
    let op = match get_key(raw, "op").and_then(Value::as_str) {
        Some(name) if name.eq_ignore_ascii_case("add") => PatchOp::Add,
        Some(name) if name.eq_ignore_ascii_case("replace") => PatchOp::Replace,
        Some(name) if name.eq_ignore_ascii_case("remove") => PatchOp::Remove,
        Some(name) => return Err(ScimError::invalid_syntax(format!("unknown op '{}' (expected add, replace or remove)", echo(name)))),
        None => return Err(ScimError::invalid_syntax("'op' is missing (expected add, replace or remove)")),
    };
    let path_text = match get_key(raw, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => Some(text.trim()),
        Some(other) => return Err(ScimError::invalid_path(format!("'path' must be a string, found {}", json_kind(other)))),
    };
    let value = get_key(raw, "value").cloned();
    if op != PatchOp::Remove && value.is_none() {
        return Err(ScimError::invalid_value(format!("{} requires a 'value'", op.as_str())));
    }
    // A path naming a whole extension (`urn:…:enterprise:2.0:User`) is the same as a path-less operation whose
    // value has that URN as its key; removing it removes each of its attributes.
    if let Some(extension) = path_text.and_then(|text| schema.extension(text)) {
        if op == PatchOp::Remove {
            for attribute in extension.attributes {
                let path = PatchPath::attribute(AttributePath::new(Some(extension), attribute));
                out.push(PatchOperation { index, op, path: Some(path), value: None });
            }
        } else {
            let wrapped = Value::Object(Map::from_iter([(extension.id.to_owned(), value.unwrap_or(Value::Null))]));
            out.push(PatchOperation { index, op, path: None, value: Some(wrapped) });
        }
        return Ok(());
    }
    let path = path_text.map(|text| PatchPath::parse(text, schema)).transpose()?;
    match (&path, op, &value) {
        (None, PatchOp::Remove, _) => return Err(ScimError::no_target("remove requires a 'path' (RFC 7644 §3.5.2.2)")),
        (None, _, Some(value)) if !value.is_object() => {
            return Err(ScimError::invalid_value(format!(
                "{} without a 'path' needs an object of attributes as its value, found {}",
                op.as_str(),
                json_kind(value)
            )));
        }
        _ => {}
    }
    let value = if op == PatchOp::Remove { value.filter(|value| !value.is_null()) } else { value };
    out.push(PatchOperation { index, op, path, value });
    Ok(())
}

/// Applies `request` to `resource` (the current full SCIM representation, without members) atomically.
pub fn apply_patch(resource: &Value, request: &PatchRequest, schema: &ResourceSchema) -> Result<PatchOutcome, ScimError> {
    let Value::Object(original) = resource else {
        return Err(ScimError::new(500, None, "the stored resource is not a JSON object"));
    };
    let mut state = State { document: original.clone(), member_changes: Vec::new(), password: None };
    for operation in &request.operations {
        apply_operation(&mut state, operation, schema).map_err(|error| {
            let path = operation.path.as_ref().map(|path| format!(" {path}")).unwrap_or_default();
            error.context(format!("Operations[{}] ({}{path})", operation.index, operation.op.as_str()))
        })?;
    }
    check_primaries(&state.document, schema)?;
    let resource_changed = &state.document != original;
    Ok(PatchOutcome {
        resource: Value::Object(state.document),
        resource_changed,
        member_changes: state.member_changes,
        password: state.password,
    })
}

struct State {
    document: Map<String, Value>,
    member_changes: Vec<MemberChange>,
    password: Option<PasswordChange>,
}

fn apply_operation(state: &mut State, operation: &PatchOperation, schema: &ResourceSchema) -> Result<(), ScimError> {
    match (&operation.path, operation.op) {
        (Some(path), op) => apply_to_target(state, op, path, operation.value.as_ref()),
        (None, op) => {
            let Some(Value::Object(attributes)) = &operation.value else {
                return Err(ScimError::no_target("the operation has neither a path nor an object value"));
            };
            for (key, value) in attributes {
                if key.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                if let Some(extension) = schema.extension(key) {
                    let Value::Object(extension_attributes) = value else {
                        return Err(ScimError::invalid_value(format!("'{}' must be an object, found {}", extension.id, json_kind(value))));
                    };
                    for (name, value) in extension_attributes {
                        let path = resolve_key(schema, &format!("{}:{name}", extension.id), name)?;
                        apply_to_target(state, op, &path, Some(value))?;
                    }
                    continue;
                }
                let path = resolve_key(schema, key, key)?;
                apply_to_target(state, op, &path, Some(value))?;
            }
            Ok(())
        }
    }
}

/// A key of a path-less value (`displayName`, `name.givenName`, `urn:…:User:employeeNumber`) as a path.
fn resolve_key(schema: &ResourceSchema, key: &str, shown: &str) -> Result<PatchPath, ScimError> {
    schema
        .resolve(key)
        .map(PatchPath::attribute)
        .ok_or_else(|| ScimError::invalid_path(format!("unknown attribute '{}' for {}", echo(shown), schema.name)))
}

fn apply_to_target(state: &mut State, op: PatchOp, path: &PatchPath, value: Option<&Value>) -> Result<(), ScimError> {
    let attribute = path.target.attribute;
    if attribute.storage == Storage::ExternalMembers {
        return members::apply(&mut state.member_changes, op, path, value);
    }
    if attribute.returned == Returned::Never && attribute.mutability == Mutability::WriteOnly {
        state.password = Some(password_change(op, path, value)?);
        return Ok(());
    }
    match (op, value) {
        (PatchOp::Remove, value) => document::remove(&mut state.document, path, value),
        (_, Some(value)) => document::set(&mut state.document, op, path, value),
        (_, None) => Err(ScimError::invalid_value(format!("{} requires a 'value'", op.as_str()))),
    }
}

fn password_change(op: PatchOp, path: &PatchPath, value: Option<&Value>) -> Result<PasswordChange, ScimError> {
    if path.filter.is_some() || path.target.sub_attribute.is_some() {
        return Err(ScimError::invalid_path(format!("'{}' has no sub-attributes or values to filter", path.target.attribute.name)));
    }
    match (op, value) {
        (PatchOp::Remove, _) | (_, None | Some(Value::Null)) => Ok(PasswordChange::Clear),
        (_, Some(Value::String(password))) => Ok(PasswordChange::Set(password.clone())),
        (_, Some(other)) => Err(ScimError::invalid_value(format!("'password' is a string, found {}", json_kind(other)))),
    }
}

/// RFC 7643 §2.4 over the whole result: at most one `primary: true` per multi-valued attribute.
fn check_primaries(document: &Map<String, Value>, schema: &ResourceSchema) -> Result<(), ScimError> {
    for path in schema.all_attributes().filter(|path| path.attribute.has_primary()) {
        let container = match path.extension {
            Some(extension) => get_in_map(document, extension.id).and_then(Value::as_object),
            None => Some(document),
        };
        if let Some(Value::Array(items)) = container.and_then(|container| get_in_map(container, path.attribute.name)) {
            check_single_primary(path.attribute, items, &path.canonical())?;
        }
    }
    Ok(())
}
