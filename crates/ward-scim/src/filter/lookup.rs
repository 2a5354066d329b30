//! Recognises the filters a store can answer by index look-up instead of scanning: `attr eq "text"` and `and`s of
//! such, which is everything Entra sends (entra-apis.md §4.2: only `eq` and `and`, on the matching attributes).

use super::{CompareOp, CompareValue, Filter};
use crate::schema::{AttributePath, AttributeType};

/// One `attribute eq "value"` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equality<'f> {
    /// The schema's spelling of the attribute: `userName`, `externalId`, `displayName`, `name.familyName`,
    /// `emails.value` (for `emails eq "x"`, `emails.value eq "x"` and `emails[value eq "x"]`),
    /// `emails[type eq "work"].value` (for `emails[type eq "work"].value eq "x"` and
    /// `emails[type eq "work" and value eq "x"]`; the type is lower-cased, `type` not being caseExact), or
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`.
    pub attribute: String,
    pub value: &'f str,
    /// Whether the attribute compares case-sensitively; when false the store must compare case-insensitively.
    pub case_exact: bool,
}

pub(super) fn as_equalities(filter: &Filter) -> Option<Vec<Equality<'_>>> {
    match filter {
        Filter::And(left, right) => {
            let mut terms = as_equalities(left)?;
            terms.extend(as_equalities(right)?);
            Some(terms)
        }
        Filter::Compare { .. } => Some(vec![plain_equality(filter)?]),
        Filter::ValuePath { path, filter } => Some(vec![value_path_equality(path, filter)?]),
        _ => None,
    }
}

/// `path eq "text"` on a textual attribute.
fn plain_equality(filter: &Filter) -> Option<Equality<'_>> {
    let Filter::Compare { path, op: CompareOp::Eq, value: CompareValue::String(value) } = filter else {
        return None;
    };
    let leaf = path.leaf();
    matches!(leaf.kind, AttributeType::String | AttributeType::Reference).then(|| Equality {
        attribute: path.canonical(),
        value,
        case_exact: leaf.case_exact,
    })
}

/// `attr[sub eq "x"]` or `attr[type eq "t" and sub eq "x"]` (either order).
fn value_path_equality<'f>(path: &AttributePath, filter: &'f Filter) -> Option<Equality<'f>> {
    match filter {
        Filter::Compare { .. } => plain_equality(filter),
        Filter::And(left, right) => {
            let (type_value, value_filter) = match (type_selection(left), type_selection(right)) {
                (Some(type_value), None) => (type_value, right.as_ref()),
                (None, Some(type_value)) => (type_value, left.as_ref()),
                _ => return None,
            };
            let value_term = plain_equality(value_filter)?;
            let Filter::Compare { path: value_path, .. } = value_filter else { return None };
            let type_attribute = path.attribute.sub_attribute("type")?;
            let type_value = if type_attribute.case_exact { type_value.to_owned() } else { type_value.to_lowercase() };
            let quoted = serde_json::Value::from(type_value).to_string();
            let attribute = format!("{}[type eq {quoted}].{}", path.canonical(), value_path.leaf().name);
            Some(Equality { attribute, ..value_term })
        }
        _ => None,
    }
}

/// The `"t"` of `type eq "t"` inside brackets.
pub(crate) fn type_selection(filter: &Filter) -> Option<&str> {
    match filter {
        Filter::Compare { path, op: CompareOp::Eq, value: CompareValue::String(value) } if path.leaf().name == "type" => Some(value),
        _ => None,
    }
}
