//! The document half of PATCH: `add`, `replace` and `remove` on a resource's JSON object (RFC 7644 §3.5.2.1–3),
//! with mutability (RFC 7643 §2.2), value types (§2.3) and primary values (§2.4) enforced.
//!
//! Decisions where the RFC is silent or Entra differs:
//! - `replace` (or `add`) of `attr[type eq "t"].sub` when no value has type `t` creates `{type: "t", sub: value}`
//!   instead of failing with `noTarget`: Entra sends `Replace emails[type eq "work"].value` for a user who has no
//!   work email yet. Any other filter matching nothing is `noTarget`.
//! - `add` of a value already present (same `value`, same `type` when both have one) merges into it: a no-op when
//!   identical, so Entra's retries succeed.
//! - `remove` of `attr` with a `value` array removes only the listed values (Entra's member-removal shape,
//!   generalised); removing something absent succeeds.
//! - a value left with nothing but `type`/`primary`/`display` after a sub-attribute is removed is dropped.
//! - `null` as a value unassigns (RFC 7643 §2.5), with the same checks as `remove`; `add` of `[]` changes nothing,
//!   `replace` with `[]` clears.
//! - writing a read-only attribute with the value it already has is a no-op, not a `mutability` error.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::PatchOp;
use crate::error::ScimError;
use crate::filter::{Filter, compare_strings, element_matches, get_in_map, get_key, type_selection};
use crate::path::PatchPath;
use crate::schema::{Attribute, AttributePath, AttributeType, Mutability};
use crate::value::{coerce_single, coerce_value, is_primary};

type Object = Map<String, Value>;

/// Moves a key spelled differently (`UserName`) to the schema's spelling, so later reads and writes hit one key.
fn canonicalise_key(map: &mut Object, name: &str) {
    if map.contains_key(name) {
        return;
    }
    if let Some(existing) = map.keys().find(|key| key.eq_ignore_ascii_case(name)).cloned()
        && let Some(value) = map.remove(&existing)
    {
        map.insert(name.to_owned(), value);
    }
}

/// The object holding `target`'s attribute: the document itself, or the extension's object (created, and its URN
/// added to `schemas`, when `create`).
fn container_mut<'d>(document: &'d mut Object, target: &AttributePath, create: bool) -> Option<&'d mut Object> {
    let Some(extension) = target.extension else { return Some(document) };
    canonicalise_key(document, extension.id);
    if create {
        if !document.get(extension.id).is_some_and(Value::is_object) {
            document.insert(extension.id.to_owned(), Value::Object(Map::new()));
        }
        if let Some(Value::Array(urns)) = document.get_mut("schemas")
            && !urns.iter().any(|urn| urn.as_str().is_some_and(|urn| urn.eq_ignore_ascii_case(extension.id)))
        {
            urns.push(Value::from(extension.id));
        }
    }
    document.get_mut(extension.id).and_then(Value::as_object_mut)
}

/// The current value at `target` (for a single-valued path), if any.
fn current<'d>(document: &'d Object, target: &AttributePath) -> Option<&'d Value> {
    let container = match target.extension {
        Some(extension) => get_in_map(document, extension.id)?.as_object()?,
        None => document,
    };
    let value = get_in_map(container, target.attribute.name).filter(|value| !value.is_null())?;
    match target.sub_attribute {
        None => Some(value),
        Some(sub) => get_key(value, sub.name).filter(|value| !value.is_null()),
    }
}

fn is_read_only(target: &AttributePath) -> bool {
    target.attribute.mutability == Mutability::ReadOnly || target.leaf().mutability == Mutability::ReadOnly
}

fn is_immutable(target: &AttributePath) -> bool {
    target.attribute.mutability == Mutability::Immutable || target.leaf().mutability == Mutability::Immutable
}

/// `add` or `replace` of `value` at `path`.
pub(super) fn set(document: &mut Object, op: PatchOp, path: &PatchPath, value: &Value) -> Result<(), ScimError> {
    let target = &path.target;
    let attribute = target.attribute;
    if value.is_null() {
        return remove(document, path, None);
    }
    if is_read_only(target) {
        if path.filter.is_none() && current(document, target) == Some(value) {
            return Ok(());
        }
        return Err(ScimError::mutability(format!("'{target}' is read-only")));
    }
    let location = target.canonical();
    if is_immutable(target)
        && path.filter.is_none()
        && let Some(existing) = current(document, target)
    {
        if *existing != coerce_value(target.leaf(), value, &location)? {
            return Err(ScimError::mutability(format!("'{target}' is immutable and already has a value")));
        }
        return Ok(());
    }
    let container = container_mut(document, target, true).ok_or_else(|| ScimError::new(500, None, "extension object missing"))?;
    canonicalise_key(container, attribute.name);
    match (&path.filter, target.sub_attribute) {
        (Some(filter), sub) => set_selected(container, op, attribute, filter, sub, value, &location),
        (None, None) if attribute.multi_valued => set_all_values(container, op, attribute, value, &location),
        // A bare id for `manager` (Entra) names a different manager: it replaces, it does not merge.
        (None, None) if attribute.kind == AttributeType::Complex && !value.is_string() => {
            merge_object(container, attribute, value, &location)
        }
        (None, None) => {
            container.insert(attribute.name.to_owned(), coerce_single(attribute, value, &location)?);
            Ok(())
        }
        (None, Some(sub)) if attribute.multi_valued => {
            let coerced = coerce_value(sub, value, &location)?;
            let items = array_mut(container, attribute.name);
            if items.is_empty() {
                items.push(Value::Object(Map::from_iter([(sub.name.to_owned(), coerced)])));
            } else {
                for item in items.iter_mut() {
                    set_key(item, sub.name, coerced.clone());
                }
            }
            let touched: Vec<usize> = (0..items.len()).collect();
            settle_primary(items, &touched);
            Ok(())
        }
        (None, Some(sub)) => {
            let coerced = coerce_value(sub, value, &location)?;
            set_key(object_value_slot(container, attribute.name), sub.name, coerced);
            Ok(())
        }
    }
}

/// `add`/`replace` of a whole multi-valued attribute: `add` appends (merging values already present), `replace`
/// swaps the whole list. A single value is accepted where an array is expected, as one element.
fn set_all_values(
    container: &mut Object,
    op: PatchOp,
    attribute: &'static Attribute,
    value: &Value,
    location: &str,
) -> Result<(), ScimError> {
    let listed = if value.is_array() { value.clone() } else { Value::Array(vec![value.clone()]) };
    let Value::Array(new_items) = coerce_value(attribute, &listed, location)? else {
        return Err(ScimError::new(500, None, "coercing an array did not yield an array"));
    };
    if op == PatchOp::Replace {
        if new_items.is_empty() {
            container.remove(attribute.name);
        } else {
            container.insert(attribute.name.to_owned(), Value::Array(new_items));
        }
        return Ok(());
    }
    if new_items.is_empty() {
        return Ok(());
    }
    let items = array_mut(container, attribute.name);
    let mut touched = Vec::with_capacity(new_items.len());
    for item in new_items {
        match items.iter().position(|existing| same_value(attribute, existing, &item)) {
            Some(index) => {
                merge_into(&mut items[index], item);
                touched.push(index);
            }
            None => {
                items.push(item);
                touched.push(items.len() - 1);
            }
        }
    }
    settle_primary(items, &touched);
    Ok(())
}

/// `add`/`replace` of a single complex attribute: the given sub-attributes replace theirs, others are kept
/// (RFC 7644 §3.5.2.3).
fn merge_object(container: &mut Object, attribute: &'static Attribute, value: &Value, location: &str) -> Result<(), ScimError> {
    let coerced = coerce_single(attribute, value, location)?;
    merge_into(object_value_slot(container, attribute.name), coerced);
    Ok(())
}

/// `attr[filter]` or `attr[filter].sub`.
fn set_selected(
    container: &mut Object,
    op: PatchOp,
    attribute: &'static Attribute,
    filter: &Filter,
    sub: Option<&'static Attribute>,
    value: &Value,
    location: &str,
) -> Result<(), ScimError> {
    let no_target = || ScimError::no_target(format!("no value of '{}' matches the filter", attribute.name));
    if !attribute.multi_valued {
        if !container.get(attribute.name).is_some_and(|current| element_matches(current, filter)) {
            return Err(no_target());
        }
        return match sub {
            Some(sub) => {
                set_key(object_value_slot(container, attribute.name), sub.name, coerce_value(sub, value, location)?);
                Ok(())
            }
            None => merge_object(container, attribute, value, location),
        };
    }
    let items = array_mut(container, attribute.name);
    let matched: Vec<usize> = items.iter().enumerate().filter(|(_, item)| element_matches(item, filter)).map(|(index, _)| index).collect();
    if matched.is_empty() {
        let (Some(sub), Some(type_value)) = (sub, type_selection(filter)) else {
            return Err(no_target());
        };
        let element =
            Map::from_iter([("type".to_owned(), Value::from(type_value)), (sub.name.to_owned(), coerce_value(sub, value, location)?)]);
        items.push(Value::Object(element));
        let touched = [items.len() - 1];
        settle_primary(items, &touched);
        return Ok(());
    }
    let replacement = match sub {
        Some(sub) => coerce_value(sub, value, location)?,
        None => coerce_single(attribute, value, location)?,
    };
    for &index in &matched {
        match (sub, op) {
            (Some(sub), _) => set_key(&mut items[index], sub.name, replacement.clone()),
            (None, PatchOp::Replace) => items[index] = replacement.clone(),
            (None, _) => merge_into(&mut items[index], replacement.clone()),
        }
    }
    settle_primary(items, &matched);
    Ok(())
}

/// `remove` at `path`; `listed` is Entra's `value` array for a multi-valued attribute without a filter.
pub(super) fn remove(document: &mut Object, path: &PatchPath, listed: Option<&Value>) -> Result<(), ScimError> {
    let target = &path.target;
    let attribute = target.attribute;
    if is_read_only(target) {
        return Err(ScimError::mutability(format!("'{target}' is read-only and cannot be removed")));
    }
    if attribute.required && target.sub_attribute.is_none() && path.filter.is_none() {
        return Err(ScimError::mutability(format!("'{target}' is required and cannot be removed")));
    }
    if is_immutable(target) && current(document, target).is_some() {
        return Err(ScimError::mutability(format!("'{target}' is immutable and cannot be removed")));
    }
    let Some(container) = container_mut(document, target, false) else {
        return Ok(());
    };
    canonicalise_key(container, attribute.name);
    let name = attribute.name;
    match (&path.filter, target.sub_attribute) {
        (None, None) => {
            let removed_listed = match (listed, container.get_mut(name)) {
                (Some(listed), Some(Value::Array(items))) => {
                    let listed: Vec<&Value> = match listed {
                        Value::Array(values) => values.iter().collect(),
                        other => vec![other],
                    };
                    items.retain(|existing| !listed.iter().any(|candidate| same_value(attribute, existing, candidate)));
                    true
                }
                _ => false,
            };
            if !removed_listed {
                container.remove(name);
            }
        }
        (None, Some(sub)) => match container.get_mut(name) {
            Some(Value::Array(items)) => {
                items.iter_mut().for_each(|item| remove_key(item, sub.name));
                prune(items);
            }
            Some(object @ Value::Object(_)) => remove_key(object, sub.name),
            _ => {}
        },
        (Some(filter), sub) => {
            let single_matches = container.get(name).is_some_and(|value| value.is_object() && element_matches(value, filter));
            match container.get_mut(name) {
                Some(Value::Array(items)) => match sub {
                    None => items.retain(|item| !element_matches(item, filter)),
                    Some(sub) => {
                        items.iter_mut().filter(|item| element_matches(item, filter)).for_each(|item| remove_key(item, sub.name));
                        prune(items);
                    }
                },
                Some(object) if single_matches => match sub {
                    Some(sub) => remove_key(object, sub.name),
                    // Emptied here, dropped by the emptiness check below.
                    None => *object = Value::Null,
                },
                _ => {}
            }
        }
    }
    let now_empty = match container.get(name) {
        Some(Value::Array(items)) => items.is_empty(),
        Some(Value::Object(members)) => members.is_empty(),
        Some(Value::Null) => true,
        _ => false,
    };
    if now_empty {
        container.remove(name);
    }
    if let Some(extension) = target.extension
        && document.get(extension.id).and_then(Value::as_object).is_some_and(Map::is_empty)
    {
        document.remove(extension.id);
        if let Some(Value::Array(urns)) = document.get_mut("schemas") {
            urns.retain(|urn| !urn.as_str().is_some_and(|urn| urn.eq_ignore_ascii_case(extension.id)));
        }
    }
    Ok(())
}

/// Whether two values of a multi-valued attribute are "the same value": same `value` sub-attribute (compared as the
/// attribute compares it) and, when both carry one, the same `type`; without a `value` sub-attribute, equal JSON.
fn same_value(attribute: &Attribute, existing: &Value, candidate: &Value) -> bool {
    let Some(value_attribute) = attribute.sub_attribute("value").filter(|_| attribute.kind == AttributeType::Complex) else {
        return existing == candidate;
    };
    let same_payload = match (get_key(existing, "value"), get_key(candidate, "value")) {
        (Some(Value::String(left)), Some(Value::String(right))) => {
            compare_strings(left, right, value_attribute.case_exact) == Ordering::Equal
        }
        (Some(left), Some(right)) => left == right,
        _ => return existing == candidate,
    };
    let same_type = match (get_key(existing, "type"), get_key(candidate, "type")) {
        (Some(Value::String(left)), Some(Value::String(right))) => left.eq_ignore_ascii_case(right),
        (Some(left), Some(right)) => left == right,
        _ => true,
    };
    same_payload && same_type
}

/// When a value touched by this operation became primary, the others stop being primary (RFC 7643 §2.4). Two
/// touched primaries are left for the final check to refuse.
fn settle_primary(items: &mut [Value], touched: &[usize]) {
    if !touched.iter().any(|&index| items.get(index).is_some_and(is_primary)) {
        return;
    }
    for (index, item) in items.iter_mut().enumerate() {
        if !touched.contains(&index) && is_primary(item) {
            set_key(item, "primary", Value::Bool(false));
        }
    }
}

/// Drops values left with nothing but labels (`type`, `primary`, `display`) after a sub-attribute was removed.
fn prune(items: &mut Vec<Value>) {
    items.retain(|item| match item {
        Value::Object(members) => members
            .iter()
            .any(|(key, value)| !value.is_null() && !["type", "primary", "display"].iter().any(|label| key.eq_ignore_ascii_case(label))),
        _ => true,
    });
}

fn array_mut<'c>(container: &'c mut Object, name: &str) -> &'c mut Vec<Value> {
    let slot = container.entry(name.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    match slot {
        Value::Array(items) => items,
        _ => unreachable!("the slot was just made an array"),
    }
}

fn object_value_slot<'c>(container: &'c mut Object, name: &str) -> &'c mut Value {
    let slot = container.entry(name.to_owned()).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot
}

/// Sets `object[name]` (replacing a differently-cased key) when `target` is an object.
fn set_key(target: &mut Value, name: &str, value: Value) {
    if let Value::Object(members) = target {
        canonicalise_key(members, name);
        members.insert(name.to_owned(), value);
    }
}

fn remove_key(target: &mut Value, name: &str) {
    if let Value::Object(members) = target {
        canonicalise_key(members, name);
        members.remove(name);
    }
}

/// Copies `new`'s members over `existing`'s when both are objects; otherwise `new` replaces `existing`.
fn merge_into(existing: &mut Value, new: Value) {
    match (existing, new) {
        (Value::Object(existing), Value::Object(new)) => {
            for (key, value) in new {
                canonicalise_key(existing, &key);
                existing.insert(key, value);
            }
        }
        (existing, new) => *existing = new,
    }
}
