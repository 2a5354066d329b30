//! `sortBy` and `sortOrder` (RFC 7644 §3.4.2.3): resources ordered by one attribute as its type compares —
//! strings honouring `caseExact`, `dateTime` chronologically, numbers numerically, `false` before `true`. A
//! multi-valued attribute sorts by its primary value, else its first. Resources without a value sort last in
//! ascending order and first in descending order, as the RFC says.

use std::cmp::Ordering;

use serde_json::Value;

use crate::datetime::parse_instant;
use crate::error::{ScimError, echo};
use crate::filter::{as_boolean, compare_strings, get_key};
use crate::schema::{AttributePath, AttributeType, ResourceSchema, Returned};
use crate::value::is_primary;

/// `sortOrder`; `ascending` when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

impl SortOrder {
    /// Parses `ascending`/`descending` (case-insensitive); anything else is 400 `invalidValue`.
    pub fn parse(text: Option<&str>) -> Result<SortOrder, ScimError> {
        match text.map(str::trim) {
            None | Some("") => Ok(SortOrder::Ascending),
            Some(text) if text.eq_ignore_ascii_case("ascending") => Ok(SortOrder::Ascending),
            Some(text) if text.eq_ignore_ascii_case("descending") => Ok(SortOrder::Descending),
            Some(text) => Err(ScimError::invalid_value(format!("sortOrder must be 'ascending' or 'descending', not '{}'", echo(text)))),
        }
    }
}

/// A resolved `sortBy`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SortKey {
    pub path: AttributePath,
}

impl SortKey {
    /// Resolves `sortBy`. A complex multi-valued attribute sorts by its `value`; other complex attributes and
    /// write-only ones cannot be sorted on (400 `invalidValue`).
    pub fn parse(sort_by: &str, schema: &ResourceSchema) -> Result<SortKey, ScimError> {
        let sort_by = sort_by.trim();
        let Some(mut path) = schema.resolve(sort_by) else {
            return Err(ScimError::invalid_value(format!("sortBy: unknown attribute '{}' for {}", echo(sort_by), schema.name)));
        };
        if path.leaf().returned == Returned::Never || path.attribute.returned == Returned::Never {
            return Err(ScimError::invalid_value(format!("sortBy: '{path}' is write-only")));
        }
        if path.leaf().kind == AttributeType::Complex {
            match path.attribute.sub_attribute("value") {
                Some(value) if path.attribute.multi_valued => path = path.with_sub_attribute(value),
                _ => return Err(ScimError::invalid_value(format!("sortBy: '{path}' is complex; sort by one of its sub-attributes"))),
            }
        }
        Ok(SortKey { path })
    }
}

/// Ascending order of two resources by `key`, resources without a value last.
pub fn compare_for_sort(left: &Value, right: &Value, key: &SortKey) -> Ordering {
    let (left, right) = (sort_value(left, &key.path), sort_value(right, &key.path));
    match (left, right) {
        (Some(left), Some(right)) => compare_typed(left, right, &key.path),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// [`compare_for_sort`] in `order`: descending is the exact reverse, so missing values come first.
pub fn compare_in_order(left: &Value, right: &Value, key: &SortKey, order: SortOrder) -> Ordering {
    let ascending = compare_for_sort(left, right, key);
    if order == SortOrder::Descending { ascending.reverse() } else { ascending }
}

/// The value a resource sorts by: for a multi-valued attribute, the primary element's (else the first's).
fn sort_value<'v>(resource: &'v Value, path: &AttributePath) -> Option<&'v Value> {
    let container = match path.extension {
        Some(extension) => get_key(resource, extension.id)?,
        None => resource,
    };
    let mut value = get_key(container, path.attribute.name)?;
    if let Value::Array(items) = value {
        let items: Vec<&Value> = items.iter().filter(|item| !item.is_null()).collect();
        value = items.iter().find(|item| is_primary(item)).or_else(|| items.first()).copied()?;
    }
    if let Some(sub) = path.sub_attribute {
        value = get_key(value, sub.name)?;
    }
    match value {
        Value::Null => None,
        Value::String(text) if text.is_empty() => None,
        value => Some(value),
    }
}

fn compare_typed(left: &Value, right: &Value, path: &AttributePath) -> Ordering {
    let leaf = path.leaf();
    match leaf.kind {
        AttributeType::DateTime => match (left.as_str().and_then(parse_instant), right.as_str().and_then(parse_instant)) {
            (Some(left), Some(right)) => left.cmp(&right),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => compare_text(left, right, leaf.case_exact),
        },
        AttributeType::Integer | AttributeType::Decimal => match (left.as_f64(), right.as_f64()) {
            (Some(left), Some(right)) => left.partial_cmp(&right).unwrap_or(Ordering::Equal),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        },
        AttributeType::Boolean => as_boolean(left).cmp(&as_boolean(right)),
        _ => compare_text(left, right, leaf.case_exact),
    }
}

fn compare_text(left: &Value, right: &Value, case_exact: bool) -> Ordering {
    match (left.as_str(), right.as_str()) {
        (Some(left), Some(right)) => compare_strings(left, right, case_exact),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}
