//! The membership half of PATCH: operations on Group `members` become [`MemberChange`]s instead of edits to a
//! document that could hold 100k+ members.
//!
//! Accepted forms (RFC 7644 §3.5.2 and Entra, entra-apis.md §4.2):
//! - `add` `members` with `[{"value": id}…]`, or path-less `add` with a `members` key → [`MemberChange::Add`];
//! - `remove` `members` without a value → [`MemberChange::RemoveAll`];
//! - `remove` `members` **with** a `value` array (Entra's default, not RFC) → [`MemberChange::Remove`] of exactly
//!   those ids — never all members;
//! - `remove` `members[value eq "id"]`, or an `or` of such (Entra's compliant mode) → [`MemberChange::Remove`];
//! - `replace` `members` (with a path or path-less) → [`MemberChange::ReplaceAll`].

use std::collections::HashSet;

use serde_json::Value;

use super::PatchOp;
use crate::error::ScimError;
use crate::filter::{CompareOp, CompareValue, Filter, get_key};
use crate::path::PatchPath;
use crate::value::json_kind;

/// One change to a group's membership, to be applied in order. Ids are as sent (the caller resolves them and
/// decides what an unknown id means); each list is free of duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    /// Add these members; ones already present are a no-op (RFC 7644 §3.5.2.1).
    Add(Vec<String>),
    /// Remove these members; ones not present are a no-op.
    Remove(Vec<String>),
    RemoveAll,
    /// Make the membership exactly these members.
    ReplaceAll(Vec<String>),
}

pub(super) fn apply(changes: &mut Vec<MemberChange>, op: PatchOp, path: &PatchPath, value: Option<&Value>) -> Result<(), ScimError> {
    let attribute = path.target.attribute.name;
    if let Some(sub) = path.target.sub_attribute {
        return Err(ScimError::invalid_path(format!(
            "'{attribute}.{}' cannot be changed; use '{attribute}' or '{attribute}[value eq \"id\"]'",
            sub.name
        )));
    }
    let change = match (op, &path.filter, value) {
        (PatchOp::Remove, Some(filter), _) => MemberChange::Remove(filter_ids(filter, attribute)?),
        (PatchOp::Remove, None, None | Some(Value::Null)) => MemberChange::RemoveAll,
        (PatchOp::Remove, None, Some(listed)) => MemberChange::Remove(member_ids(listed, attribute)?),
        (_, Some(_), _) => {
            return Err(ScimError::invalid_path(format!(
                "{} of '{attribute}' takes no filter; list the members in the value",
                op.as_str()
            )));
        }
        (PatchOp::Add, None, None | Some(Value::Null)) => return Ok(()),
        (PatchOp::Add, None, Some(listed)) => MemberChange::Add(member_ids(listed, attribute)?),
        (PatchOp::Replace, None, None | Some(Value::Null)) => MemberChange::ReplaceAll(Vec::new()),
        (PatchOp::Replace, None, Some(listed)) => MemberChange::ReplaceAll(member_ids(listed, attribute)?),
    };
    push(changes, change);
    Ok(())
}

/// Appends `change`, merging it into the previous change of the same kind (Entra sends one op per member).
fn push(changes: &mut Vec<MemberChange>, change: MemberChange) {
    match (changes.last_mut(), change) {
        (_, MemberChange::Add(ids) | MemberChange::Remove(ids)) if ids.is_empty() => {}
        (Some(MemberChange::Add(previous)), MemberChange::Add(ids)) | (Some(MemberChange::Remove(previous)), MemberChange::Remove(ids)) => {
            previous.extend(ids);
            *previous = without_duplicates(std::mem::take(previous));
        }
        (_, change) => changes.push(change),
    }
}

/// `[{"value": "id"}, …]` (or one such object) → ids, in order, without duplicates. `$ref`, `display` and `type`
/// are ignored: the id is what identifies a member.
pub(crate) fn member_ids(listed: &Value, attribute: &str) -> Result<Vec<String>, ScimError> {
    let items: Vec<&Value> = match listed {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![listed],
        other => {
            return Err(ScimError::invalid_value(format!(
                "'{attribute}' expects an array of {{\"value\": id}} objects, found {}",
                json_kind(other)
            )));
        }
    };
    let mut ids: Vec<String> = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let id = match get_key(item, "value") {
            Some(Value::String(id)) if !id.trim().is_empty() => id,
            Some(Value::String(_)) => return Err(ScimError::invalid_value(format!("'{attribute}[{index}].value' is empty"))),
            Some(other) => {
                return Err(ScimError::invalid_value(format!("'{attribute}[{index}].value' must be a string, found {}", json_kind(other))));
            }
            None => return Err(ScimError::invalid_value(format!("'{attribute}[{index}]' has no 'value' (the member's id)"))),
        };
        ids.push(id.clone());
    }
    Ok(without_duplicates(ids))
}

/// `value eq "a"` or `value eq "a" or value eq "b" …` → the ids; any other filter is `invalidFilter`.
fn filter_ids(filter: &Filter, attribute: &str) -> Result<Vec<String>, ScimError> {
    fn collect<'f>(filter: &'f Filter, ids: &mut Vec<&'f str>) -> bool {
        match filter {
            Filter::Compare { path, op: CompareOp::Eq, value: CompareValue::String(id) } if path.leaf().name == "value" => {
                ids.push(id);
                true
            }
            Filter::Or(left, right) => collect(left, ids) && collect(right, ids),
            _ => false,
        }
    }
    let mut ids = Vec::new();
    if !collect(filter, &mut ids) {
        return Err(ScimError::invalid_filter(format!(
            "members can only be selected by id: use '{attribute}[value eq \"id\"]', optionally joined with 'or'"
        )));
    }
    let unique = without_duplicates(ids.into_iter().map(str::to_owned).collect());
    if unique.iter().any(|id| id.trim().is_empty()) {
        return Err(ScimError::invalid_filter(format!("'{attribute}[value eq \"\"]' names no member: the id is empty")));
    }
    Ok(unique)
}

/// `ids` in first-appearance order without repeats, in linear time (an Entra PATCH may list thousands of members).
fn without_duplicates(ids: Vec<String>) -> Vec<String> {
    let mut seen: HashSet<String> = HashSet::with_capacity(ids.len());
    ids.into_iter().filter(|id| seen.insert(id.clone())).collect()
}
