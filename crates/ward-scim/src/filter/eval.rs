//! Evaluation of a parsed [`Filter`] on a resource's JSON (RFC 7644 §3.4.2.2):
//!
//! - a multi-valued attribute matches when **any** of its values matches;
//! - `ne` is the negation of `eq` (true when **no** value equals, including when the attribute is absent), so
//!   `emails.type ne "work"` keeps users without a work email;
//! - strings compare case-insensitively unless the attribute is `caseExact`; `dateTime` chronologically; numbers
//!   numerically; booleans also accept Entra's `"True"`/`"False"` strings in stored data;
//! - `pr` is true for a value that is non-null and not an empty string, array or object;
//! - `eq null` is true when the attribute has no value, `ne null` when it has one.
//!
//! Keys are looked up exactly first, then case-insensitively (RFC 7643 §2.1), so stored documents need not be
//! canonicalised for filtering to work.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::{CompareOp, CompareValue, Filter};
use crate::datetime::parse_instant;
use crate::schema::{Attribute, AttributePath, AttributeType};

pub(crate) fn matches(resource: &Value, filter: &Filter) -> bool {
    evaluate(resource, filter, None)
}

/// Whether one value of a multi-valued (or single complex) attribute satisfies a bracketed filter.
pub(crate) fn element_matches(element: &Value, filter: &Filter) -> bool {
    evaluate(element, filter, Some(element))
}

fn evaluate(root: &Value, filter: &Filter, element: Option<&Value>) -> bool {
    match filter {
        Filter::Compare { path, op, value } => {
            let values = values_in_scope(root, element, path);
            compare_values(&values, path.leaf(), *op, value)
        }
        Filter::Present { path } => values_in_scope(root, element, path).into_iter().any(is_present),
        Filter::ValuePath { path, filter } => {
            let mut elements = Vec::new();
            collect_values(root, &path.without_sub_attribute(), &mut elements);
            elements.into_iter().any(|value| evaluate(root, filter, Some(value)))
        }
        Filter::Not(inner) => !evaluate(root, inner, element),
        Filter::And(left, right) => evaluate(root, left, element) && evaluate(root, right, element),
        Filter::Or(left, right) => evaluate(root, left, element) || evaluate(root, right, element),
    }
}

fn values_in_scope<'v>(root: &'v Value, element: Option<&'v Value>, path: &AttributePath) -> Vec<&'v Value> {
    let mut values = Vec::new();
    match (element, path.sub_attribute) {
        (Some(element), Some(sub)) => flatten(get_key(element, sub.name), &mut values),
        _ => collect_values(root, path, &mut values),
    }
    values
}

/// `object[name]`, exactly or else case-insensitively.
pub(crate) fn get_key<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    get_in_map(value.as_object()?, name)
}

/// `object[name]`, exactly or else case-insensitively.
pub(crate) fn get_in_map<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    object.get(name).or_else(|| object.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value))
}

fn flatten<'v>(value: Option<&'v Value>, out: &mut Vec<&'v Value>) {
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => out.extend(items.iter().filter(|item| !item.is_null())),
        Some(value) => out.push(value),
    }
}

/// Every non-null value at `path` in a resource: one per element of a multi-valued attribute.
fn collect_values<'v>(resource: &'v Value, path: &AttributePath, out: &mut Vec<&'v Value>) {
    let container = match path.extension {
        Some(extension) => get_key(resource, extension.id),
        None => Some(resource),
    };
    let Some(container) = container else { return };
    let attribute = get_key(container, path.attribute.name);
    match path.sub_attribute {
        None => flatten(attribute, out),
        Some(sub) => {
            let mut elements = Vec::new();
            flatten(attribute, &mut elements);
            for element in elements {
                flatten(get_key(element, sub.name), out);
            }
        }
    }
}

fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(members) => members.values().any(is_present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn compare_values(values: &[&Value], leaf: &Attribute, op: CompareOp, expected: &CompareValue) -> bool {
    match (expected, op) {
        (CompareValue::Null, CompareOp::Eq) => values.is_empty(),
        (CompareValue::Null, _) => !values.is_empty(),
        (_, CompareOp::Ne) => !values.iter().any(|actual| compare_one(actual, leaf, CompareOp::Eq, expected)),
        _ => values.iter().any(|actual| compare_one(actual, leaf, op, expected)),
    }
}

/// A stored boolean, accepting the strings Entra sends for `active` in case a document kept them.
pub(crate) fn as_boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Some(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn compare_one(actual: &Value, leaf: &Attribute, op: CompareOp, expected: &CompareValue) -> bool {
    match (leaf.kind, expected) {
        (AttributeType::Boolean, CompareValue::Boolean(flag)) => op == CompareOp::Eq && as_boolean(actual) == Some(*flag),
        (AttributeType::Integer | AttributeType::Decimal, CompareValue::Number(number)) => {
            actual.as_f64().and_then(|actual| actual.partial_cmp(number)).is_some_and(|ordering| ordering_satisfies(ordering, op))
        }
        (AttributeType::DateTime, CompareValue::String(text)) => match (actual.as_str().and_then(parse_instant), parse_instant(text)) {
            (Some(actual), Some(expected)) => ordering_satisfies(actual.cmp(&expected), op),
            _ => false,
        },
        (kind, CompareValue::String(text)) if kind.is_textual() => {
            actual.as_str().is_some_and(|actual| string_satisfies(actual, text, op, leaf.case_exact))
        }
        _ => false,
    }
}

fn ordering_satisfies(ordering: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn fold(text: &str, case_exact: bool) -> Cow<'_, str> {
    if case_exact { Cow::Borrowed(text) } else { Cow::Owned(text.to_lowercase()) }
}

fn string_satisfies(actual: &str, expected: &str, op: CompareOp, case_exact: bool) -> bool {
    let (actual, expected) = (fold(actual, case_exact), fold(expected, case_exact));
    match op {
        CompareOp::Co => actual.contains(expected.as_ref()),
        CompareOp::Sw => actual.starts_with(expected.as_ref()),
        CompareOp::Ew => actual.ends_with(expected.as_ref()),
        _ => ordering_satisfies(actual.cmp(&expected), op),
    }
}

/// Orders two strings as the attribute compares them (case-insensitively unless `caseExact`).
pub(crate) fn compare_strings(left: &str, right: &str, case_exact: bool) -> Ordering {
    fold(left, case_exact).cmp(&fold(right, case_exact))
}
