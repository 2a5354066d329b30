//! PATCH paths (RFC 7644 §3.5.2: `PATH = attrPath / valuePath [subAttr]`): `members`, `name.familyName`,
//! `addresses[type eq "work"]`, `members[value eq "2819c223"]`, `emails[type eq "work"].value`, and URN-qualified
//! forms such as `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`.

use crate::error::{ScimError, ScimType};
use crate::filter::{Filter, Parser};
use crate::schema::{AttributePath, ResourceSchema};

/// A parsed PATCH path.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute, with the sub-attribute when the path names one (`name.familyName`,
    /// `emails[type eq "work"].value`).
    pub target: AttributePath,
    /// The value selection filter of `attr[…]`, evaluated on each value of `target.attribute`.
    pub filter: Option<Filter>,
}

impl PatchPath {
    /// Parses `text` against `schema`. Unknown attributes and malformed paths are 400 `invalidPath`.
    pub fn parse(text: &str, schema: &ResourceSchema) -> Result<PatchPath, ScimError> {
        let parsed = Parser::new(text, schema).and_then(Parser::parse_patch_path);
        let (target, filter) = parsed.map_err(|error| error.retyped(ScimType::InvalidPath))?;
        Ok(PatchPath { target, filter })
    }

    /// A path without a filter.
    pub fn attribute(target: AttributePath) -> PatchPath {
        PatchPath { target, filter: None }
    }
}

impl std::fmt::Display for PatchPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let attribute = self.target.without_sub_attribute();
        match (&self.filter, self.target.sub_attribute) {
            (None, _) => write!(f, "{}", self.target),
            (Some(_), None) => write!(f, "{attribute}[…]"),
            (Some(_), Some(sub)) => write!(f, "{attribute}[…].{}", sub.name),
        }
    }
}
