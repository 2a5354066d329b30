//! The static schema of the directory resources that accept OData queries: which properties exist, which are returned
//! without `$select`, and which `$filter` operators, `$orderby` and `$search` each supports in which Graph tier
//! (entra-apis.md §1.1, §1.3, §1.6).

use std::fmt;
use std::ops::BitOr;

/// The EDM type of a property (of its elements, for a collection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Bool,
    /// A GUID carried as a string, like `id`.
    Guid,
    DateTime,
    Int,
}

impl Kind {
    pub(crate) fn edm_name(self) -> &'static str {
        match self {
            Kind::String => "Edm.String",
            Kind::Bool => "Edm.Boolean",
            Kind::Guid => "Edm.Guid",
            Kind::DateTime => "Edm.DateTimeOffset",
            Kind::Int => "Edm.Int64",
        }
    }
}

/// A set of `$filter` operators. For a collection property the set describes what the `any` lambda body may do with
/// an element, plus [`Ops::ANY`] for the lambda itself.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Ops(u16);

impl Ops {
    pub const NONE: Ops = Ops(0);
    pub const EQ: Ops = Ops(1);
    pub const NE: Ops = Ops(1 << 1);
    pub const NOT: Ops = Ops(1 << 2);
    pub const IN: Ops = Ops(1 << 3);
    pub const STARTS_WITH: Ops = Ops(1 << 4);
    pub const ENDS_WITH: Ops = Ops(1 << 5);
    /// `ge` and `le` (and, by our choice, `gt` and `lt`, which Graph's docs do not list for directory objects).
    pub const GE_LE: Ops = Ops(1 << 6);
    /// `eq null` (and `ne null`, which also needs [`Ops::NE`]).
    pub const NULL: Ops = Ops(1 << 7);
    pub const ANY: Ops = Ops(1 << 8);

    const NAMES: [(Ops, &'static str); 9] = [
        (Ops::EQ, "eq"),
        (Ops::NE, "ne"),
        (Ops::NOT, "not"),
        (Ops::IN, "in"),
        (Ops::STARTS_WITH, "startsWith"),
        (Ops::ENDS_WITH, "endsWith"),
        (Ops::GE_LE, "ge/le"),
        (Ops::NULL, "eq null"),
        (Ops::ANY, "any"),
    ];

    pub const fn union(self, other: Ops) -> Ops {
        Ops(self.0 | other.0)
    }

    pub const fn contains(self, other: Ops) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    const fn of(list: &[Ops]) -> Ops {
        let mut all = Ops::NONE;
        let mut i = 0;
        while i < list.len() {
            all = all.union(list[i]);
            i += 1;
        }
        all
    }
}

impl BitOr for Ops {
    type Output = Ops;
    fn bitor(self, other: Ops) -> Ops {
        self.union(other)
    }
}

impl fmt::Debug for Ops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(Ops::NAMES.iter().filter(|(op, _)| self.contains(*op)).map(|(_, name)| name)).finish()
    }
}

/// In which tier a feature works: not at all, always, or only in advanced-query mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    None,
    Default,
    Advanced,
}

/// How `$search` matches a property (entra-apis.md §1.6 "`$search` grammar").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchKind {
    None,
    /// Split into words (spaces, symbols, lower→upper case changes, digits); every searched word must start a word.
    Tokenized,
    /// `startswith` semantics on the whole value.
    Prefix,
}

/// A property as the schema knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    /// Graph's spelling; this is the only name that ever leaves this crate.
    pub name: &'static str,
    pub kind: Kind,
    pub collection: bool,
    /// Returned when the request has no `$select`.
    pub default_select: bool,
    /// Operators allowed in the default tier.
    pub filter: Ops,
    /// Further operators allowed only in advanced-query mode.
    pub advanced_filter: Ops,
    pub orderby: Tier,
    pub search: SearchKind,
}

impl Property {
    const fn new(name: &'static str, kind: Kind, filter: Ops, advanced_filter: Ops) -> Property {
        Property {
            name,
            kind,
            collection: false,
            default_select: false,
            filter,
            advanced_filter,
            orderby: Tier::None,
            search: SearchKind::None,
        }
    }
    const fn default_select(mut self) -> Property {
        self.default_select = true;
        self
    }
    const fn collection(mut self) -> Property {
        self.collection = true;
        self
    }
    const fn orderby(mut self, tier: Tier) -> Property {
        self.orderby = tier;
        self
    }
    const fn search(mut self, kind: SearchKind) -> Property {
        self.search = kind;
        self
    }
}

/// A directory resource that accepts OData queries.
#[derive(Debug)]
pub struct Resource {
    /// URL segment, e.g. `"users"`.
    pub name: &'static str,
    /// Entity name used in Graph's messages, e.g. `"User"`.
    pub entity: &'static str,
    pub properties: &'static [Property],
}

impl Resource {
    /// Graph matches property names case-insensitively (`DisplayName` works); the schema's spelling is returned.
    pub fn property(&self, name: &str) -> Option<&'static Property> {
        self.properties.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Properties returned without `$select`, in schema order (`id` first).
    pub fn default_select(&self) -> Vec<&'static str> {
        self.properties.iter().filter(|p| p.default_select).map(|p| p.name).collect()
    }

    /// "Could not find a property named 'x' on type 'microsoft.graph.user'." — the OData library's wording.
    pub(crate) fn unknown_property(&self, name: &str) -> String {
        let mut entity = self.entity.chars();
        let lowered: String = entity.next().map(|c| c.to_ascii_lowercase()).into_iter().chain(entity).collect();
        format!("Could not find a property named '{}' on type 'microsoft.graph.{lowered}'.", crate::error::echo(name))
    }
}

use Kind::{Bool, DateTime, Guid, String as Str};
use SearchKind::{Prefix, Tokenized};
use Tier::{Advanced, Default};

// Operator sets, named after Graph's per-property annotations ("Supports $filter (eq, ne, not, ge, le, in, startsWith,
// and eq on null values)"). Graph puts `ne` and `not` in advanced mode everywhere, and `endsWith` too (§1.6).
const NEGATION: Ops = Ops::of(&[Ops::NE, Ops::NOT]);
/// id: eq, ne, not, in.
const KEY: Ops = Ops::of(&[Ops::EQ, Ops::IN]);
/// eq, ne, not, ge, le, in, startsWith, eq null — the common string annotation.
const TEXT: Ops = Ops::of(&[Ops::EQ, Ops::IN, Ops::GE_LE, Ops::STARTS_WITH, Ops::NULL]);
/// userPrincipalName, onPremisesImmutableId: as TEXT but without eq null (the property is never null).
const TEXT_NOT_NULL: Ops = Ops::of(&[Ops::EQ, Ops::IN, Ops::GE_LE, Ops::STARTS_WITH]);
/// Booleans: eq, ne, not, in.
const FLAG: Ops = Ops::of(&[Ops::EQ, Ops::IN]);
/// Collections of strings (otherMails, proxyAddresses, businessPhones): any(x: x eq/ge/le/startsWith …), not.
const STRINGS: Ops = Ops::of(&[Ops::ANY, Ops::EQ, Ops::GE_LE, Ops::STARTS_WITH]);
const ADV_ENDS: Ops = Ops::of(&[Ops::NE, Ops::NOT, Ops::ENDS_WITH]);
/// Collections have no `ne`; `not` and `endsWith` are advanced-only.
const ADV_STRINGS_ENDS: Ops = Ops::of(&[Ops::NOT, Ops::ENDS_WITH]);
/// createdDateTime: eq, ne, not, ge, le, in — but only in advanced mode: §1.6 quotes Graph refusing it as a non-indexed
/// property in the default tier. We apply the same to users (the reference is silent there).
const WHEN: Ops = Ops::of(&[Ops::EQ, Ops::NE, Ops::NOT, Ops::GE_LE, Ops::IN]);

const fn text(name: &'static str) -> Property {
    Property::new(name, Str, TEXT, NEGATION)
}

/// Microsoft Graph v1.0 `user` (entra-apis.md §1.1). `$orderby` beyond displayName and userPrincipalName is advanced
/// only (§1.6); we allow it on every indexed single-valued string and on createdDateTime.
pub static USER: Resource = Resource {
    name: "users",
    entity: "User",
    properties: &[
        Property::new("id", Guid, KEY, NEGATION).default_select(),
        Property::new("businessPhones", Str, STRINGS, Ops::NOT).collection().default_select(),
        text("displayName").default_select().orderby(Default).search(Tokenized),
        text("givenName").default_select().orderby(Advanced).search(Prefix),
        text("jobTitle").default_select().orderby(Advanced),
        Property::new("mail", Str, TEXT, ADV_ENDS).default_select().orderby(Advanced).search(Prefix),
        text("mobilePhone").default_select().orderby(Advanced),
        text("officeLocation").default_select().orderby(Advanced),
        text("preferredLanguage").default_select().orderby(Advanced),
        text("surname").default_select().orderby(Advanced).search(Prefix),
        Property::new("userPrincipalName", Str, TEXT_NOT_NULL, ADV_ENDS).default_select().orderby(Default).search(Prefix),
        Property::new("accountEnabled", Bool, FLAG, NEGATION),
        text("city").orderby(Advanced),
        text("companyName").orderby(Advanced),
        text("country").orderby(Advanced),
        Property::new("createdDateTime", DateTime, Ops::NONE, WHEN).orderby(Advanced),
        text("department").orderby(Advanced),
        text("employeeId").orderby(Advanced),
        // Graph's annotation for employeeType omits "eq on null values".
        Property::new("employeeType", Str, TEXT_NOT_NULL, NEGATION).orderby(Advanced),
        text("mailNickname").orderby(Advanced).search(Prefix),
        Property::new("onPremisesImmutableId", Str, KEY.union(Ops::GE_LE), NEGATION),
        // otherMails also supports `in` on its elements; endsWith is advanced-only (§1.6).
        Property::new("otherMails", Str, STRINGS.union(Ops::IN), ADV_STRINGS_ENDS).collection(),
        Property::new("proxyAddresses", Str, STRINGS, ADV_STRINGS_ENDS).collection(),
        text("state").orderby(Advanced),
        text("usageLocation").orderby(Advanced),
        // userType: eq, ne, not, in, eq null — no range or prefix operators in Graph's annotation.
        Property::new("userType", Str, Ops::of(&[Ops::EQ, Ops::IN, Ops::NULL]), NEGATION).orderby(Advanced),
    ],
};

/// Microsoft Graph v1.0 `group` (entra-apis.md §1.3). The reference has no default `$select` set for groups; Graph
/// returns every non-Exchange property, so all listed here are default.
pub static GROUP: Resource = Resource {
    name: "groups",
    entity: "Group",
    properties: &[
        Property::new("id", Guid, KEY, NEGATION).default_select(),
        Property::new("createdDateTime", DateTime, Ops::NONE, WHEN).default_select().orderby(Advanced),
        // description: eq, ne, not, ge, le, startsWith (no `in`, no eq null in Graph's annotation).
        Property::new("description", Str, Ops::of(&[Ops::EQ, Ops::GE_LE, Ops::STARTS_WITH]), NEGATION).default_select().search(Tokenized),
        text("displayName").default_select().orderby(Default).search(Tokenized),
        // groupTypes: eq and not only, through the lambda: groupTypes/any(c:c eq 'Unified').
        Property::new("groupTypes", Str, Ops::of(&[Ops::ANY, Ops::EQ]), Ops::NOT).collection().default_select(),
        Property::new("isAssignableToRole", Bool, Ops::EQ, NEGATION).default_select(),
        // §1.6 lists mail among the endsWith properties without naming a resource; we allow it on groups too.
        Property::new("mail", Str, TEXT, ADV_ENDS).default_select().orderby(Advanced).search(Prefix),
        Property::new("mailEnabled", Bool, Ops::EQ, NEGATION).default_select(),
        text("mailNickname").default_select().orderby(Advanced).search(Prefix),
        Property::new("membershipRule", Str, Ops::of(&[Ops::EQ, Ops::GE_LE, Ops::STARTS_WITH]), NEGATION).default_select(),
        Property::new("proxyAddresses", Str, STRINGS, ADV_STRINGS_ENDS).collection().default_select(),
        Property::new("securityEnabled", Bool, FLAG, NEGATION).default_select(),
        Property::new("visibility", Str, Ops::of(&[Ops::EQ, Ops::IN, Ops::GE_LE, Ops::NULL]), NEGATION).default_select(),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_consistent() {
        for resource in [&USER, &GROUP] {
            assert_eq!(resource.properties[0].name, "id", "{}: id comes first", resource.name);
            for (i, p) in resource.properties.iter().enumerate() {
                let dup = resource.properties[..i].iter().any(|q| q.name.eq_ignore_ascii_case(p.name));
                assert!(!dup, "{}.{} listed twice", resource.name, p.name);
                assert_eq!(
                    p.filter.union(p.advanced_filter).contains(Ops::ANY),
                    p.collection,
                    "{}.{}: ANY iff collection",
                    resource.name,
                    p.name
                );
                assert_eq!(p.filter.0 & p.advanced_filter.0, 0, "{}.{}: an op is in one tier only", resource.name, p.name);
                assert!(!p.collection || p.orderby == Tier::None, "{}.{}: collections cannot be sorted", resource.name, p.name);
            }
        }
    }

    #[test]
    fn user_default_select_is_graphs_v1_set() {
        let mut names = USER.default_select();
        names.sort_unstable();
        let mut expected = vec![
            "id",
            "businessPhones",
            "displayName",
            "givenName",
            "jobTitle",
            "mail",
            "mobilePhone",
            "officeLocation",
            "preferredLanguage",
            "surname",
            "userPrincipalName",
        ];
        expected.sort_unstable();
        assert_eq!(names, expected);
    }

    #[test]
    fn lookup_is_case_insensitive_and_returns_schema_spelling() {
        assert_eq!(USER.property("DISPLAYNAME").map(|p| p.name), Some("displayName"));
        assert_eq!(GROUP.property("grouptypes").map(|p| p.name), Some("groupTypes"));
        assert!(USER.property("groupTypes").is_none());
        assert_eq!(USER.unknown_property("foo"), "Could not find a property named 'foo' on type 'microsoft.graph.user'.");
    }

    #[test]
    fn ops_set_operations_and_debug() {
        let ops = Ops::EQ | Ops::ENDS_WITH;
        assert!(ops.contains(Ops::EQ) && ops.contains(Ops::ENDS_WITH) && !ops.contains(Ops::NE));
        assert!(!ops.contains(Ops::EQ | Ops::NE));
        assert!(Ops::NONE.is_empty() && !ops.is_empty());
        assert_eq!(format!("{ops:?}"), r#"{"eq", "endsWith"}"#);
    }
}
