//! Validation of a resource body for POST (create) and PUT (replace) (RFC 7644 §3.3, §3.5.1): the body becomes a
//! canonical document — schema spellings of every name, typed values, no read-only attributes — with group
//! members and the password handed back separately, since neither is stored in the document.
//!
//! Decisions where the RFC is silent:
//! - an unknown attribute or sub-attribute is 400 `invalidSyntax` ("did not conform to the request schema",
//!   RFC 7644 §3.12); a value of the wrong type is 400 `invalidValue`; a missing required attribute is
//!   `invalidValue` ("a required value was missing");
//! - read-only attributes (`id`, `meta`, `groups`, read-only sub-attributes) are ignored, as RFC 7643 §2.2 allows
//!   for PUT and Entra needs for POST (it sends `"meta": {"resourceType": "User"}`);
//! - `schemas` must list the core schema; an unknown URN is `invalidSyntax`, except Entra's group URN, which is
//!   accepted and dropped (it defines nothing); an extension's URN is added when its attributes are present;
//! - a dotted name (`name.givenName`) is not a body attribute and is refused; URN-qualified names are accepted.

use serde_json::{Map, Value};

use crate::error::{ScimError, echo};
use crate::filter::get_key;
use crate::patch::members::member_ids;
use crate::schema::{AttributePath, AttributeType, Mutability, ResourceSchema, Returned, Storage};
use crate::value::{coerce_value, json_kind};

/// Whether the body creates a resource or replaces `current` (the stored full representation, without members).
#[derive(Debug, Clone, Copy)]
pub enum WriteMode<'a> {
    Create,
    Replace { current: &'a Value },
}

/// A validated body.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteDocument {
    /// The canonical document: `schemas` and the client-writable attributes, without `members` and `password`.
    pub resource: Value,
    /// The member ids when the body has a `members` attribute (`Some(vec![])` for `"members": []`); `None` when it
    /// has none, which for a PUT the caller must decide how to read.
    pub members: Option<Vec<String>>,
    /// The write-only password, for the caller to hash; never part of `resource`.
    pub password: Option<String>,
}

/// Validates and canonicalises a POST or PUT body for `schema`.
pub fn normalize_for_write(body: &Value, schema: &ResourceSchema, mode: WriteMode<'_>) -> Result<WriteDocument, ScimError> {
    let Value::Object(members) = body else {
        return Err(ScimError::invalid_syntax(format!("a {} must be a JSON object, found {}", schema.name, json_kind(body))));
    };
    let mut schemas = declared_schemas(body, schema)?;
    let mut written = Written { document: Map::new(), members: None, password: None };
    for (key, value) in members {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(extension) = schema.extension(key) {
            match value {
                Value::Null => continue,
                Value::Object(extension_members) => {
                    for (name, value) in extension_members {
                        let Some(attribute) = extension.attribute(name) else {
                            return Err(ScimError::invalid_syntax(format!("unknown attribute '{}' in {}", echo(name), extension.id)));
                        };
                        written.write(AttributePath::new(Some(extension), attribute), value)?;
                    }
                }
                other => return Err(ScimError::invalid_value(format!("'{}' must be an object, found {}", extension.id, json_kind(other)))),
            }
            continue;
        }
        let path = match schema.resolve(key) {
            Some(path) if path.sub_attribute.is_none() => path,
            Some(path) => {
                return Err(ScimError::invalid_syntax(format!(
                    "'{}' is a path, not an attribute: send \"{}\": {{\"{}\": …}}",
                    echo(key),
                    path.attribute.name,
                    path.leaf().name
                )));
            }
            None => return Err(ScimError::invalid_syntax(format!("unknown attribute '{}' for {}", echo(key), schema.name))),
        };
        written.write(path, value)?;
    }
    if let WriteMode::Replace { current } = mode {
        keep_immutable(&mut written.document, current, schema)?;
    }
    check_required(&written.document, schema)?;
    for extension in schema.extensions {
        if written.document.contains_key(extension.schema.id) && !schemas.contains(&extension.schema.id) {
            schemas.push(extension.schema.id);
        }
    }
    written.document.insert("schemas".to_owned(), Value::from(schemas));
    Ok(WriteDocument { resource: Value::Object(written.document), members: written.members, password: written.password })
}

/// The `schemas` list in canonical spelling, core first, tolerated URNs dropped.
fn declared_schemas(body: &Value, schema: &ResourceSchema) -> Result<Vec<&'static str>, ScimError> {
    let Some(Value::Array(urns)) = get_key(body, "schemas") else {
        return Err(ScimError::invalid_syntax(format!("'schemas' must be an array listing \"{}\"", schema.core.id)));
    };
    let mut declared = vec![schema.core.id];
    let mut has_core = false;
    for urn in urns {
        let Some(urn) = urn.as_str() else {
            return Err(ScimError::invalid_syntax(format!("'schemas' must contain strings, found {}", json_kind(urn))));
        };
        if urn.eq_ignore_ascii_case(schema.core.id) {
            has_core = true;
        } else if let Some(extension) = schema.extension(urn) {
            if !declared.contains(&extension.id) {
                declared.push(extension.id);
            }
        } else if !schema.knows_schema_urn(urn) {
            return Err(ScimError::invalid_syntax(format!("unknown schema '{}' for {}", echo(urn), schema.name)));
        }
    }
    if !has_core {
        return Err(ScimError::invalid_syntax(format!("'schemas' must contain \"{}\"", schema.core.id)));
    }
    Ok(declared)
}

struct Written {
    document: Map<String, Value>,
    members: Option<Vec<String>>,
    password: Option<String>,
}

impl Written {
    fn write(&mut self, path: AttributePath, value: &Value) -> Result<(), ScimError> {
        let attribute = path.attribute;
        let location = path.canonical();
        if value.is_null() || attribute.mutability == Mutability::ReadOnly {
            return Ok(());
        }
        if attribute.storage == Storage::ExternalMembers {
            if self.members.is_some() {
                return Err(duplicate(&location));
            }
            self.members = Some(member_ids(value, attribute.name)?);
            return Ok(());
        }
        if attribute.returned == Returned::Never && attribute.mutability == Mutability::WriteOnly {
            let Value::String(password) = value else {
                return Err(ScimError::invalid_value(format!("'{location}' is a string, found {}", json_kind(value))));
            };
            if self.password.is_some() {
                return Err(duplicate(&location));
            }
            self.password = Some(password.clone());
            return Ok(());
        }
        let coerced = coerce_value(attribute, value, &location)?;
        // RFC 7643 §2.5: an empty array is the same as no value (Entra sends `"roles": []`).
        if coerced.as_array().is_some_and(Vec::is_empty) {
            return Ok(());
        }
        let container = match path.extension {
            Some(extension) => {
                let slot = self.document.entry(extension.id.to_owned()).or_insert_with(|| Value::Object(Map::new()));
                match slot {
                    Value::Object(members) => members,
                    _ => return Err(ScimError::new(500, None, "extension slot is not an object")),
                }
            }
            None => &mut self.document,
        };
        if container.contains_key(attribute.name) {
            return Err(duplicate(&location));
        }
        container.insert(attribute.name.to_owned(), coerced);
        Ok(())
    }
}

fn duplicate(location: &str) -> ScimError {
    ScimError::invalid_syntax(format!("'{location}' is given twice (attribute names are case-insensitive)"))
}

/// RFC 7643 §7 `required`: present and, for text, not blank.
fn check_required(document: &Map<String, Value>, schema: &ResourceSchema) -> Result<(), ScimError> {
    let with_extensions = schema.all_attributes().filter(|path| path.extension.is_none_or(|extension| document.contains_key(extension.id)));
    for path in with_extensions.filter(|path| path.attribute.required && path.attribute.mutability != Mutability::ReadOnly) {
        let container = match path.extension {
            Some(extension) => document.get(extension.id),
            None => None,
        };
        let value = match container {
            Some(container) => get_key(container, path.attribute.name),
            None => document.get(path.attribute.name),
        };
        let missing = match value {
            None | Some(Value::Null) => true,
            Some(Value::String(text)) => text.trim().is_empty() && path.attribute.kind == AttributeType::String,
            Some(Value::Array(items)) => items.is_empty(),
            Some(_) => false,
        };
        if missing {
            return Err(ScimError::invalid_value(format!("'{}' is required for a {}", path.canonical(), schema.name)));
        }
    }
    Ok(())
}

/// RFC 7643 §2.2 `immutable`: on PUT an immutable attribute keeps its stored value; a different value is refused.
fn keep_immutable(document: &mut Map<String, Value>, current: &Value, schema: &ResourceSchema) -> Result<(), ScimError> {
    for path in schema.all_attributes().filter(|path| path.attribute.mutability == Mutability::Immutable) {
        let stored = match path.extension {
            Some(extension) => get_key(current, extension.id).and_then(|container| get_key(container, path.attribute.name)),
            None => get_key(current, path.attribute.name),
        };
        let Some(stored) = stored.filter(|value| !value.is_null()) else { continue };
        let container = match path.extension {
            Some(extension) => {
                let slot = document.entry(extension.id.to_owned()).or_insert_with(|| Value::Object(Map::new()));
                match slot {
                    Value::Object(members) => members,
                    _ => continue,
                }
            }
            None => &mut *document,
        };
        match container.get(path.attribute.name) {
            None => {
                container.insert(path.attribute.name.to_owned(), stored.clone());
            }
            Some(sent) if sent == stored => {}
            Some(_) => return Err(ScimError::mutability(format!("'{}' is immutable and cannot be changed", path.canonical()))),
        }
    }
    Ok(())
}
