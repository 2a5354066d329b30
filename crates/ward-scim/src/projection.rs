//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9) over the `returned` characteristic (RFC 7643
//! §7): `always` attributes (`id`, and `schemas`) are never excluded, `never` attributes (`password`) are never
//! included, `request` attributes only when named in `attributes`, `default` ones unless excluded. `meta` is
//! `default` (RFC 7643 §3.1: all its sub-attributes are "returned default"), so it can be excluded.
//!
//! Names are comma-separated attribute paths, plain, dotted or URN-qualified; a bare extension URN selects the
//! whole extension. An unknown name is 400 `invalidValue`. When both parameters are given, `attributes` selects
//! and `excludedAttributes` then removes from that selection.

use serde_json::{Map, Value};

use crate::error::{ScimError, echo};
use crate::schema::{Attribute, AttributePath, ResourceSchema, Returned, Schema};

/// One name from a list.
#[derive(Debug, Clone, Copy)]
enum Selected {
    Attribute(AttributePath),
    Extension(&'static Schema),
}

impl Selected {
    /// Whether this name covers the whole top-level attribute `path` (not just a sub-attribute of it).
    fn covers(&self, path: &AttributePath) -> bool {
        match self {
            Selected::Attribute(selected) => selected.sub_attribute.is_none() && *selected == path.without_sub_attribute(),
            Selected::Extension(extension) => path.extension.is_some_and(|own| std::ptr::eq(own, *extension)),
        }
    }

    /// The sub-attribute this name selects within top-level `path`, if it names one.
    fn sub_attribute_of(&self, path: &AttributePath) -> Option<&'static Attribute> {
        match self {
            Selected::Attribute(selected) if selected.without_sub_attribute() == path.without_sub_attribute() => selected.sub_attribute,
            _ => None,
        }
    }
}

/// A parsed pair of `attributes` / `excludedAttributes` parameters.
#[derive(Debug, Clone)]
pub struct Projection {
    /// `Some` when `attributes` was given: only these (plus `always` ones).
    included: Option<Vec<Selected>>,
    excluded: Vec<Selected>,
}

impl Projection {
    pub fn parse(attributes: Option<&str>, excluded_attributes: Option<&str>, schema: &ResourceSchema) -> Result<Projection, ScimError> {
        let included = attributes.map(|list| parse_list(list, "attributes", schema)).transpose()?.filter(|list| !list.is_empty());
        let excluded = excluded_attributes.map(|list| parse_list(list, "excludedAttributes", schema)).transpose()?.unwrap_or_default();
        Ok(Projection { included, excluded })
    }

    /// Whether top-level `attribute` (e.g. `"members"`) appears in the output at all, so the caller can skip
    /// loading what will not be returned (Entra's `excludedAttributes=members`).
    pub fn includes(&self, attribute: &str, schema: &ResourceSchema) -> bool {
        schema.resolve(attribute).is_some_and(|path| self.selection(&path.without_sub_attribute()).is_some())
    }

    /// What of top-level `path` to return: `None` for nothing, `Some(None)` for all of it, `Some(Some(subs))` for
    /// only those sub-attributes.
    fn selection(&self, path: &AttributePath) -> Option<Option<Vec<&'static Attribute>>> {
        let attribute = path.attribute;
        match attribute.returned {
            Returned::Never => return None,
            Returned::Always => return Some(None),
            Returned::Default | Returned::Request => {}
        }
        if self.excluded.iter().any(|selected| selected.covers(path)) {
            return None;
        }
        let excluded_subs: Vec<&'static Attribute> = self.excluded.iter().filter_map(|selected| selected.sub_attribute_of(path)).collect();
        let keep_all_but_excluded = || {
            if excluded_subs.is_empty() {
                return Some(None);
            }
            let kept: Vec<&'static Attribute> = attribute
                .sub_attributes
                .iter()
                .filter(|sub| sub.returned == Returned::Always || !excluded_subs.iter().any(|excluded| std::ptr::eq(*excluded, *sub)))
                .collect();
            Some(Some(kept))
        };
        match &self.included {
            None if attribute.returned == Returned::Request => None,
            None => keep_all_but_excluded(),
            Some(included) if included.iter().any(|selected| selected.covers(path)) => keep_all_but_excluded(),
            Some(included) => {
                let subs: Vec<&'static Attribute> = included
                    .iter()
                    .filter_map(|selected| selected.sub_attribute_of(path))
                    .filter(|sub| !excluded_subs.iter().any(|excluded| std::ptr::eq(*excluded, *sub)))
                    .collect();
                (!subs.is_empty()).then_some(Some(subs))
            }
        }
    }

    /// The projected copy of `resource` (a full representation; keys may be in any case).
    pub fn apply(&self, resource: &Value, schema: &ResourceSchema) -> Value {
        let Value::Object(members) = resource else { return resource.clone() };
        let mut out = Map::new();
        for (key, value) in members {
            if key.eq_ignore_ascii_case("schemas") {
                out.insert("schemas".to_owned(), value.clone());
            } else if let Some(extension) = schema.extension(key) {
                let Value::Object(extension_members) = value else { continue };
                let mut projected = Map::new();
                for (name, value) in extension_members {
                    if let Some(attribute) = extension.attribute(name) {
                        self.project_attribute(AttributePath::new(Some(extension), attribute), value, &mut projected);
                    }
                }
                if !projected.is_empty() {
                    out.insert(extension.id.to_owned(), Value::Object(projected));
                }
            } else if let Some(attribute) = schema.core_attribute(key) {
                self.project_attribute(AttributePath::new(None, attribute), value, &mut out);
            }
        }
        Value::Object(out)
    }

    fn project_attribute(&self, path: AttributePath, value: &Value, out: &mut Map<String, Value>) {
        let Some(selection) = self.selection(&path) else { return };
        let attribute = path.attribute;
        let projected = match &selection {
            Some(subs) => keep_sub_attributes(value, |name| subs.iter().any(|sub| sub.name.eq_ignore_ascii_case(name))),
            None => keep_sub_attributes(value, |name| attribute.sub_attribute(name).is_none_or(|sub| sub.returned != Returned::Never)),
        };
        let empty = match &projected {
            Value::Null => true,
            Value::Array(items) => items.is_empty(),
            Value::Object(members) => members.is_empty(),
            _ => false,
        };
        if !empty {
            out.insert(attribute.name.to_owned(), projected);
        }
    }
}

/// `value` with only the sub-attributes `keep` accepts, in each element of an array; emptied elements dropped.
fn keep_sub_attributes(value: &Value, keep: impl Fn(&str) -> bool + Copy) -> Value {
    match value {
        Value::Object(members) => {
            Value::Object(members.iter().filter(|(name, _)| keep(name)).map(|(name, value)| (name.clone(), value.clone())).collect())
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| keep_sub_attributes(item, keep))
                .filter(|item| !matches!(item, Value::Object(members) if members.is_empty()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn parse_list(list: &str, parameter: &str, schema: &ResourceSchema) -> Result<Vec<Selected>, ScimError> {
    let mut selected = Vec::new();
    for name in list.split(',').map(str::trim).filter(|name| !name.is_empty()) {
        let item = match (schema.extension(name), schema.resolve(name)) {
            (Some(extension), _) => Selected::Extension(extension),
            (None, Some(path)) => Selected::Attribute(path),
            (None, None) => {
                return Err(ScimError::invalid_value(format!("{parameter}: unknown attribute '{}' for {}", echo(name), schema.name)));
            }
        };
        selected.push(item);
    }
    Ok(selected)
}

/// [`Projection::parse`] then [`Projection::apply`].
pub fn project(
    resource: &Value,
    attributes: Option<&str>,
    excluded_attributes: Option<&str>,
    schema: &ResourceSchema,
) -> Result<Value, ScimError> {
    Ok(Projection::parse(attributes, excluded_attributes, schema)?.apply(resource, schema))
}
