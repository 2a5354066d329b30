//! Attribute metadata (RFC 7643 §2.2, §7) and the resource schemas Ward serves: User with the Enterprise User
//! extension, and Group. Attribute names resolve case-insensitively (RFC 7643 §2.1), plain, dotted
//! (`name.familyName`) or URN-qualified (`urn:…:enterprise:2.0:User:employeeNumber`).

mod definitions;

pub use definitions::{COMMON_ATTRIBUTES, ENTERPRISE_USER_SCHEMA, GROUP, GROUP_SCHEMA, USER, USER_SCHEMA};

/// RFC 7643 §2.3: the data type of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Reference,
    Complex,
    Binary,
}

impl AttributeType {
    /// The spelling in a Schema resource, e.g. `"dateTime"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeType::String => "string",
            AttributeType::Boolean => "boolean",
            AttributeType::Decimal => "decimal",
            AttributeType::Integer => "integer",
            AttributeType::DateTime => "dateTime",
            AttributeType::Reference => "reference",
            AttributeType::Complex => "complex",
            AttributeType::Binary => "binary",
        }
    }

    /// Whether values are text compared with the string operators (`co`, `sw`, `ew`, ordering by code point).
    pub(crate) fn is_textual(self) -> bool {
        matches!(self, AttributeType::String | AttributeType::Reference | AttributeType::Binary)
    }
}

/// RFC 7643 §7 `mutability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

/// RFC 7643 §7 `returned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

/// RFC 7643 §7 `uniqueness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// Where an attribute's values live. Not part of SCIM: it tells PATCH and write validation which attribute the
/// caller keeps outside the resource document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// In the resource's JSON document.
    Document,
    /// Group membership: too large for the document (100k+ members), so PATCH reports it as
    /// [`MemberChange`](crate::MemberChange)s and writes return it as a list of ids.
    ExternalMembers,
}

/// One attribute definition (RFC 7643 §7). Built as `const` data with the builder methods below.
#[derive(Debug)]
pub struct Attribute {
    pub name: &'static str,
    pub kind: AttributeType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [Attribute],
    pub description: &'static str,
    pub storage: Storage,
}

impl Attribute {
    /// RFC 7643 §7 defaults: single-valued, optional, case-insensitive, readWrite, returned by default, not unique.
    pub const fn new(name: &'static str, kind: AttributeType, description: &'static str) -> Self {
        Attribute {
            name,
            kind,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            reference_types: &[],
            sub_attributes: &[],
            description,
            storage: Storage::Document,
        }
    }

    pub const fn string(name: &'static str, description: &'static str) -> Self {
        Self::new(name, AttributeType::String, description)
    }

    pub const fn complex(name: &'static str, sub_attributes: &'static [Attribute], description: &'static str) -> Self {
        Attribute { sub_attributes, ..Self::new(name, AttributeType::Complex, description) }
    }

    pub const fn reference(name: &'static str, reference_types: &'static [&'static str], description: &'static str) -> Self {
        Attribute { reference_types, ..Self::new(name, AttributeType::Reference, description) }
    }

    pub const fn multi_valued(self) -> Self {
        Attribute { multi_valued: true, ..self }
    }

    pub const fn required(self) -> Self {
        Attribute { required: true, ..self }
    }

    pub const fn case_exact(self) -> Self {
        Attribute { case_exact: true, ..self }
    }

    pub const fn mutability(self, mutability: Mutability) -> Self {
        Attribute { mutability, ..self }
    }

    pub const fn returned(self, returned: Returned) -> Self {
        Attribute { returned, ..self }
    }

    pub const fn uniqueness(self, uniqueness: Uniqueness) -> Self {
        Attribute { uniqueness, ..self }
    }

    pub const fn canonical_values(self, canonical_values: &'static [&'static str]) -> Self {
        Attribute { canonical_values, ..self }
    }

    pub const fn storage(self, storage: Storage) -> Self {
        Attribute { storage, ..self }
    }

    /// The sub-attribute called `name` (case-insensitive, RFC 7643 §2.1).
    pub fn sub_attribute(&self, name: &str) -> Option<&'static Attribute> {
        // `sub_attributes` is `&'static`, so the element borrows outlive `self`.
        let subs: &'static [Attribute] = self.sub_attributes;
        subs.iter().find(|sub| sub.name.eq_ignore_ascii_case(name))
    }

    /// Whether this is a multi-valued complex attribute with a `primary` sub-attribute (RFC 7643 §2.4).
    pub(crate) fn has_primary(&self) -> bool {
        self.multi_valued && self.sub_attribute("primary").is_some()
    }
}

/// One schema (RFC 7643 §7): a URN and its attributes.
#[derive(Debug)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [Attribute],
}

impl Schema {
    pub fn attribute(&self, name: &str) -> Option<&'static Attribute> {
        let attributes: &'static [Attribute] = self.attributes;
        attributes.iter().find(|attribute| attribute.name.eq_ignore_ascii_case(name))
    }
}

/// A schema extension of a resource type (RFC 7643 §6 `schemaExtensions`).
#[derive(Debug)]
pub struct SchemaExtension {
    pub schema: &'static Schema,
    pub required: bool,
}

/// A resource type (RFC 7643 §6) with everything needed to resolve its attribute names.
#[derive(Debug)]
pub struct ResourceSchema {
    /// `"User"`, `"Group"`: the ResourceType id and name, and `meta.resourceType`.
    pub name: &'static str,
    /// `"/Users"`.
    pub endpoint: &'static str,
    pub description: &'static str,
    pub core: &'static Schema,
    pub extensions: &'static [SchemaExtension],
    /// URNs accepted in `schemas` although they define no attribute (Entra's
    /// `http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group`).
    pub tolerated_schemas: &'static [&'static str],
}

/// A resolved attribute reference: `attribute` or `attribute.subAttribute`, in the core schema or an extension.
#[derive(Debug, Clone, Copy)]
pub struct AttributePath {
    /// `Some` for an extension attribute, whose value lives under the extension URN's key.
    pub extension: Option<&'static Schema>,
    pub attribute: &'static Attribute,
    pub sub_attribute: Option<&'static Attribute>,
}

impl PartialEq for AttributePath {
    fn eq(&self, other: &Self) -> bool {
        let same_schema = match (self.extension, other.extension) {
            (None, None) => true,
            (Some(a), Some(b)) => std::ptr::eq(a, b),
            _ => false,
        };
        let same_sub = match (self.sub_attribute, other.sub_attribute) {
            (None, None) => true,
            (Some(a), Some(b)) => std::ptr::eq(a, b),
            _ => false,
        };
        same_schema && same_sub && std::ptr::eq(self.attribute, other.attribute)
    }
}

impl AttributePath {
    pub fn new(extension: Option<&'static Schema>, attribute: &'static Attribute) -> Self {
        AttributePath { extension, attribute, sub_attribute: None }
    }

    /// The attribute the path ends at: the sub-attribute if there is one.
    pub fn leaf(&self) -> &'static Attribute {
        self.sub_attribute.unwrap_or(self.attribute)
    }

    /// The same path without its sub-attribute.
    pub fn without_sub_attribute(&self) -> Self {
        AttributePath { sub_attribute: None, ..*self }
    }

    /// The same path ending at `sub`.
    pub fn with_sub_attribute(&self, sub: &'static Attribute) -> Self {
        AttributePath { sub_attribute: Some(sub), ..*self }
    }

    /// The schema's spelling: `name.familyName`, or `urn:…:enterprise:2.0:User:manager.value` for an extension.
    pub fn canonical(&self) -> String {
        let mut text = String::new();
        if let Some(extension) = self.extension {
            text.push_str(extension.id);
            text.push(':');
        }
        text.push_str(self.attribute.name);
        if let Some(sub) = self.sub_attribute {
            text.push('.');
            text.push_str(sub.name);
        }
        text
    }
}

impl std::fmt::Display for AttributePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.canonical())
    }
}

impl ResourceSchema {
    /// Every schema of this resource type: the core schema first, then the extensions.
    pub fn schemas(&self) -> impl Iterator<Item = &'static Schema> + '_ {
        std::iter::once(self.core).chain(self.extensions.iter().map(|extension| extension.schema))
    }

    /// The extension whose URN is exactly `urn` (case-insensitive).
    pub fn extension(&self, urn: &str) -> Option<&'static Schema> {
        self.extensions.iter().map(|extension| extension.schema).find(|schema| schema.id.eq_ignore_ascii_case(urn))
    }

    /// A top-level attribute of the core schema or a common attribute (`id`, `externalId`, `meta`, `schemas`).
    pub fn core_attribute(&self, name: &str) -> Option<&'static Attribute> {
        self.core.attribute(name).or_else(|| COMMON_ATTRIBUTES.iter().find(|attribute| attribute.name.eq_ignore_ascii_case(name)))
    }

    /// Resolves `attrPath` (RFC 7644 §3.10: `[URI ":"] ATTRNAME *1subAttr`), case-insensitively. `None` when the
    /// schema has no such attribute, or the sub-attribute does not belong to a complex attribute.
    pub fn resolve(&self, text: &str) -> Option<AttributePath> {
        let (extension, rest) = self.split_urn(text)?;
        let (name, sub_name) = match rest.split_once('.') {
            Some((name, sub)) => (name, Some(sub)),
            None => (rest, None),
        };
        let attribute = match extension {
            Some(schema) => schema.attribute(name)?,
            None => self.core_attribute(name)?,
        };
        let sub_attribute = match sub_name {
            Some(sub) => Some(attribute.sub_attribute(sub)?),
            None => None,
        };
        Some(AttributePath { extension, attribute, sub_attribute })
    }

    /// Splits a leading schema URN off `text`: `(None, text)` when there is none or it is the core schema's,
    /// `(Some(extension), rest)` for an extension. `None` for a URN this resource type does not know.
    fn split_urn<'t>(&self, text: &'t str) -> Option<(Option<&'static Schema>, &'t str)> {
        if !text.get(..4).is_some_and(|head| head.eq_ignore_ascii_case("urn:")) {
            return Some((None, text));
        }
        for schema in self.schemas() {
            let Some(head) = text.get(..schema.id.len()) else { continue };
            if head.eq_ignore_ascii_case(schema.id) && text.as_bytes().get(schema.id.len()) == Some(&b':') {
                let rest = &text[schema.id.len() + 1..];
                let extension = (!std::ptr::eq(schema, self.core)).then_some(schema);
                return Some((extension, rest));
            }
        }
        None
    }

    /// Whether `urn` may appear in a resource's `schemas` (core, extension or tolerated), case-insensitively.
    pub fn knows_schema_urn(&self, urn: &str) -> bool {
        self.schemas().any(|schema| schema.id.eq_ignore_ascii_case(urn))
            || self.tolerated_schemas.iter().any(|t| t.eq_ignore_ascii_case(urn))
    }

    /// The attribute kept outside the document ([`Storage::ExternalMembers`]), if this resource type has one.
    pub fn external_members(&self) -> Option<&'static Attribute> {
        self.core.attributes.iter().find(|attribute| attribute.storage == Storage::ExternalMembers)
    }

    /// Every top-level attribute with the extension it belongs to: common attributes, core, then extensions.
    pub(crate) fn all_attributes(&self) -> impl Iterator<Item = AttributePath> + '_ {
        let common = COMMON_ATTRIBUTES.iter().map(|attribute| AttributePath::new(None, attribute));
        let core = self.core.attributes.iter().map(|attribute| AttributePath::new(None, attribute));
        let extensions = self.extensions.iter().flat_map(|extension| {
            extension.schema.attributes.iter().map(move |attribute| AttributePath::new(Some(extension.schema), attribute))
        });
        common.chain(core).chain(extensions)
    }
}
