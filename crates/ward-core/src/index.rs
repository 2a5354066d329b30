//! What the store indexes so directory queries (Graph `$filter`, `$orderby`, `$search`) run on
//! indexes rather than on documents, and the query shape the store answers.
//!
//! Each indexed property of an object becomes rows `(property, value)` beside the object, written
//! in the same transaction as the object. Values are normalized here, once, for both writing and
//! querying: text is lower-cased (the directory compares case-insensitively), instants are a fixed-
//! width UTC form (so text order is time order), booleans are `true`/`false`. A property marked
//! `tokens` is also indexed word by word under `{name}~` for `$search`.
//!
//! Property names in a query are `&'static str` from the tables below: nothing a client sends can
//! reach the store as a name.

use crate::ids::{ObjectId, ObjectKind};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexType {
    Text,
    Bool,
    DateTime,
}

#[derive(Clone, Copy, Debug)]
pub struct IndexedProperty {
    pub name: &'static str,
    pub ty: IndexType,
    /// A collection (`otherMails`, `groupTypes`): one row per element.
    pub multi: bool,
    /// Also indexed word by word under `tokens` (for `$search`).
    pub tokens: Option<&'static str>,
}

const fn text(name: &'static str) -> IndexedProperty {
    IndexedProperty { name, ty: IndexType::Text, multi: false, tokens: None }
}
const fn texts(name: &'static str) -> IndexedProperty {
    IndexedProperty { name, ty: IndexType::Text, multi: true, tokens: None }
}
const fn flag(name: &'static str) -> IndexedProperty {
    IndexedProperty { name, ty: IndexType::Bool, multi: false, tokens: None }
}
const fn instant(name: &'static str) -> IndexedProperty {
    IndexedProperty { name, ty: IndexType::DateTime, multi: false, tokens: None }
}
const fn words(name: &'static str, tokens: &'static str) -> IndexedProperty {
    IndexedProperty { name, ty: IndexType::Text, multi: false, tokens: Some(tokens) }
}

/// Values longer than this are not indexed (no Graph property that is filtered on comes close:
/// the longest, displayName, is 256 characters).
pub const MAX_VALUE_BYTES: usize = 1024;
/// At most this many rows per collection property.
pub const MAX_VALUES: usize = 100;

pub static USER: &[IndexedProperty] = &[
    text("userPrincipalName"),
    words("displayName", "displayName~"),
    text("givenName"),
    text("surname"),
    text("mail"),
    text("mailNickname"),
    texts("otherMails"),
    texts("proxyAddresses"),
    texts("businessPhones"),
    text("mobilePhone"),
    text("preferredLanguage"),
    text("jobTitle"),
    text("department"),
    text("companyName"),
    text("employeeId"),
    text("employeeType"),
    text("usageLocation"),
    text("userType"),
    text("onPremisesImmutableId"),
    text("officeLocation"),
    text("city"),
    text("state"),
    text("country"),
    flag("accountEnabled"),
    instant("createdDateTime"),
    // Not a Graph property: the `manager` relationship, kept on the user, for `directReports`.
    text("managerId"),
    // Not a Graph property: SCIM's `externalId`, which provisioning clients look users up by.
    text("externalId"),
];

pub static GROUP: &[IndexedProperty] = &[
    words("displayName", "displayName~"),
    words("description", "description~"),
    text("mail"),
    text("mailNickname"),
    texts("groupTypes"),
    texts("proxyAddresses"),
    text("visibility"),
    text("membershipRule"),
    flag("mailEnabled"),
    flag("securityEnabled"),
    flag("isAssignableToRole"),
    instant("createdDateTime"),
    // Not a Graph property: SCIM's `externalId`.
    text("externalId"),
];

/// A risk detection's user, to find a user's detections (Identity Protection's history and
/// dismissal).
pub static RISK_DETECTION: &[IndexedProperty] = &[text("user")];

/// The indexed properties of a kind (none for kinds that are not queried by property).
pub fn indexed(kind: ObjectKind) -> &'static [IndexedProperty] {
    match kind {
        ObjectKind::User => USER,
        ObjectKind::Group => GROUP,
        ObjectKind::RiskDetection => RISK_DETECTION,
        _ => &[],
    }
}

/// The indexed property `name` of `kind`, or a token property (`displayName~`).
pub fn property(kind: ObjectKind, name: &str) -> Option<&'static IndexedProperty> {
    indexed(kind).iter().find(|p| p.name == name)
}

pub fn normalize_text(s: &str) -> String {
    s.to_lowercase()
}

/// The fixed-width UTC form of an instant: `2026-11-27T04:30:00.000000Z`.
pub fn normalize_instant(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// One JSON value as index text, or `None` when it is not of the property's type.
pub fn normalize(ty: IndexType, v: &Value) -> Option<String> {
    match (ty, v) {
        (IndexType::Text, Value::String(s)) => Some(normalize_text(s)),
        (IndexType::Bool, Value::Bool(b)) => Some(b.to_string()),
        (IndexType::DateTime, Value::String(s)) => OffsetDateTime::parse(s, &Rfc3339).ok().map(normalize_instant),
        _ => None,
    }
}

/// Words of a display name as Graph's `$search` sees them: split at anything that is not a letter
/// or digit, where lower case turns to upper case, and between letters and digits; lower-cased.
pub fn tokens(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut prev: Option<char> = None;
    for c in s.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            prev = None;
            continue;
        }
        if let Some(p) = prev {
            let case_turn = p.is_lowercase() && c.is_uppercase();
            let digit_turn = p.is_numeric() != c.is_numeric();
            if (case_turn || digit_turn) && !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        }
        current.extend(c.to_lowercase());
        prev = Some(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out.sort();
    out.dedup();
    out
}

/// The index rows of one object document (Graph property names).
pub fn entries(kind: ObjectKind, doc: &Value) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for p in indexed(kind) {
        let Some(v) = doc.get(p.name) else { continue };
        let values: Vec<&Value> = match (p.multi, v) {
            (true, Value::Array(items)) => items.iter().take(MAX_VALUES).collect(),
            (false, Value::Null) | (true, _) => continue,
            (false, v) => vec![v],
        };
        let mut seen: Vec<String> = Vec::new();
        for v in values {
            if let Some(n) = normalize(p.ty, v).filter(|n| n.len() <= MAX_VALUE_BYTES)
                && !seen.contains(&n)
            {
                if let (Some(tp), Some(raw)) = (p.tokens, v.as_str()) {
                    out.extend(tokens(raw).into_iter().map(|t| (tp, t)));
                }
                seen.push(n.clone());
                out.push((p.name, n));
            }
        }
    }
    out
}

/// A test on the index values of one property (values already normalized).
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    Eq(String),
    In(Vec<String>),
    /// Bounds with their inclusiveness.
    Range {
        low: Option<(String, bool)>,
        high: Option<(String, bool)>,
    },
    Prefix(String),
    Suffix(String),
    /// The property has a value.
    Present,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    All,
    Ids(Vec<ObjectId>),
    /// Some value of the property passes the test.
    Prop {
        property: &'static str,
        test: Test,
    },
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

/// Where the previous page ended: the sort value (when ordered by a property) and the id.
#[derive(Clone, Debug, PartialEq)]
pub struct Keyset {
    pub value: Option<String>,
    pub id: ObjectId,
}

/// One page of objects of a kind matching `cond`.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectQuery {
    pub kind: ObjectKind,
    /// The deleted-items container instead of live objects.
    pub deleted: bool,
    pub cond: Cond,
    /// Order by this single-valued indexed property, then id; `None` orders by id. Objects
    /// without a value for it are not listed, so order only by properties every object has.
    pub order_by: Option<&'static str>,
    pub descending: bool,
    pub after: Option<Keyset>,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_split_where_graph_splits() {
        assert_eq!(tokens("Adele Vance"), vec!["adele", "vance"]);
        assert_eq!(tokens("MeganBowen"), vec!["bowen", "megan"]);
        assert_eq!(tokens("team42-Ops_west"), vec!["42", "ops", "team", "west"]);
        assert_eq!(tokens("ÉLODIE dupont"), vec!["dupont", "élodie"]);
        assert!(tokens(" -- ").is_empty());
    }

    #[test]
    fn entries_normalize_and_skip_what_is_not_indexable() {
        let doc = json!({
            "displayName": "Adele Vance",
            "userPrincipalName": "AdeleV@Contoso.example",
            "otherMails": ["A@x.example", "a@X.example", "b@x.example"],
            "accountEnabled": true,
            "createdDateTime": "2026-11-27T04:30:00+01:00",
            "jobTitle": null,
            "department": "x".repeat(MAX_VALUE_BYTES + 1),
            "surname": 42,
        });
        let e = entries(ObjectKind::User, &doc);
        let has = |p: &str, v: &str| e.iter().any(|(ep, ev)| *ep == p && ev == v);
        assert!(has("userPrincipalName", "adelev@contoso.example"));
        assert!(has("displayName", "adele vance"));
        assert!(has("displayName~", "adele") && has("displayName~", "vance"));
        assert!(has("otherMails", "a@x.example") && has("otherMails", "b@x.example"));
        assert_eq!(e.iter().filter(|(p, _)| *p == "otherMails").count(), 2, "duplicates after normalizing are one row");
        assert!(has("accountEnabled", "true"));
        assert!(has("createdDateTime", "2026-11-27T03:30:00.000000Z"));
        assert!(!e.iter().any(|(p, _)| matches!(*p, "jobTitle" | "department" | "surname")));
        assert!(entries(ObjectKind::Application, &doc).is_empty());
    }

    #[test]
    fn instants_sort_as_text_in_time_order() {
        let a = normalize(IndexType::DateTime, &json!("2026-01-01T00:00:00Z")).unwrap();
        let b = normalize(IndexType::DateTime, &json!("2026-01-01T00:00:00.5Z")).unwrap();
        let c = normalize(IndexType::DateTime, &json!("2026-01-01T00:00:01Z")).unwrap();
        assert!(a < b && b < c, "{a} {b} {c}");
    }
}
