//! Type-checking and coercion of client-supplied attribute values (RFC 7643 §2.3), shared by resource writes and
//! PATCH: sub-attribute names are canonicalised, Entra's `"True"`/`"False"` become booleans and its bare manager id
//! becomes `{"value": id}`, read-only sub-attributes are dropped (RFC 7643 §2.2), nulls are unassigned (§2.5), and
//! anything else of the wrong type is 400 `invalidValue` naming where it was.

use serde_json::{Map, Value};

use crate::datetime::parse_instant;
use crate::error::{ScimError, echo};
use crate::filter::{as_boolean, get_key};
use crate::schema::{Attribute, AttributeType, Mutability};

pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks and canonicalises a whole attribute value (an array for a multi-valued attribute). `location` names the
/// value in error details, e.g. `emails` or `urn:…:User:manager`.
pub(crate) fn coerce_value(attribute: &'static Attribute, value: &Value, location: &str) -> Result<Value, ScimError> {
    if !attribute.multi_valued {
        return coerce_single(attribute, value, location);
    }
    let Value::Array(items) = value else {
        return Err(ScimError::invalid_value(format!("'{location}' is multi-valued: expected an array, found {}", json_kind(value))));
    };
    let mut coerced = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        if item.is_null() {
            return Err(ScimError::invalid_value(format!("'{location}[{index}]' is null")));
        }
        coerced.push(coerce_single(attribute, item, &format!("{location}[{index}]"))?);
    }
    check_single_primary(attribute, &coerced, location)?;
    Ok(Value::Array(coerced))
}

/// Checks one value (one element of a multi-valued attribute).
pub(crate) fn coerce_single(attribute: &'static Attribute, value: &Value, location: &str) -> Result<Value, ScimError> {
    let mismatch = |expected: &str| {
        ScimError::invalid_value(format!("'{location}' is {}: expected {expected}, found {}", attribute.kind.as_str(), json_kind(value)))
    };
    match attribute.kind {
        AttributeType::Complex => match value {
            Value::Object(members) => coerce_complex(attribute, members, location).map(Value::Object),
            // Entra sends the enterprise `manager` as the bare id of the manager; it means `{"value": id}`.
            Value::String(id) if !attribute.multi_valued && attribute.sub_attribute("value").is_some() => {
                Ok(Value::Object(Map::from_iter([("value".to_owned(), Value::from(id.as_str()))])))
            }
            _ => Err(mismatch("an object")),
        },
        AttributeType::String | AttributeType::Reference => value.as_str().map(|_| value.clone()).ok_or_else(|| mismatch("a string")),
        AttributeType::Binary => match value.as_str() {
            Some(text) if is_base64(text) => Ok(value.clone()),
            Some(_) => Err(ScimError::invalid_value(format!("'{location}' is binary: expected base64 text"))),
            None => Err(mismatch("base64 text")),
        },
        AttributeType::Boolean => as_boolean(value).map(Value::Bool).ok_or_else(|| mismatch("true or false")),
        AttributeType::Integer => match value {
            Value::Number(number) if number.is_i64() || number.is_u64() => Ok(value.clone()),
            Value::Number(number) if number.as_f64().is_some_and(|n| n.fract() == 0.0 && n.abs() < 9.0e15) => {
                Ok(Value::from(number.as_f64().unwrap_or_default() as i64))
            }
            _ => Err(mismatch("an integer")),
        },
        AttributeType::Decimal => value.as_f64().map(|_| value.clone()).ok_or_else(|| mismatch("a number")),
        AttributeType::DateTime => match value.as_str() {
            Some(text) if parse_instant(text).is_some() => Ok(value.clone()),
            Some(text) => Err(ScimError::invalid_value(format!(
                "'{location}' is a dateTime: '{}' is not an RFC 3339 date-time such as \"2011-05-13T04:42:34Z\"",
                echo(text)
            ))),
            None => Err(mismatch("an RFC 3339 date-time string")),
        },
    }
}

fn coerce_complex(attribute: &'static Attribute, members: &Map<String, Value>, location: &str) -> Result<Map<String, Value>, ScimError> {
    let mut coerced = Map::new();
    for (key, value) in members {
        let Some(sub) = attribute.sub_attribute(key) else {
            return Err(ScimError::invalid_syntax(format!("'{location}' has no sub-attribute '{}'", echo(key))));
        };
        if coerced.contains_key(sub.name) {
            return Err(ScimError::invalid_syntax(format!("'{location}.{}' is given twice (names are case-insensitive)", sub.name)));
        }
        if value.is_null() || sub.mutability == Mutability::ReadOnly {
            continue;
        }
        coerced.insert(sub.name.to_owned(), coerce_value(sub, value, &format!("{location}.{}", sub.name))?);
    }
    Ok(coerced)
}

/// RFC 7643 §2.4: "The primary attribute value "true" MUST appear no more than once."
pub(crate) fn check_single_primary(attribute: &Attribute, values: &[Value], location: &str) -> Result<(), ScimError> {
    if !attribute.has_primary() {
        return Ok(());
    }
    let primaries = values.iter().filter(|value| is_primary(value)).count();
    if primaries > 1 {
        return Err(ScimError::invalid_value(format!(
            "{primaries} values of '{location}' are primary; at most one may be (RFC 7643 §2.4)"
        )));
    }
    Ok(())
}

pub(crate) fn is_primary(value: &Value) -> bool {
    get_key(value, "primary").and_then(as_boolean) == Some(true)
}

/// Standard or URL-safe base64, padding optional, line breaks allowed (certificates are often wrapped).
fn is_base64(text: &str) -> bool {
    let mut padding = 0;
    for byte in text.bytes() {
        match byte {
            b'=' => padding += 1,
            b'\r' | b'\n' | b' ' => {}
            _ if padding > 0 => return false,
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'-' | b'_' => {}
            _ => return false,
        }
    }
    padding <= 2
}
