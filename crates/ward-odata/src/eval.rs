//! An in-memory reference for [`Expr`] and [`Search`] over a JSON document in Graph's property names: the semantics
//! the SQL executor must reproduce, usable directly for small lists and as the oracle in tests.
//!
//! Directory string comparison is case-insensitive (Graph's directory collation), so strings are compared after
//! lower-casing; a missing property and JSON `null` are the same thing.

use std::cmp::Ordering;

use serde_json::Value as Json;

use crate::filter::{CmpOp, Expr, Value, parse_datetime};
use crate::schema::{Resource, SearchKind};
use crate::search::{Search, SearchExpr};

/// Whether `doc` (e.g. `{"displayName": "Adele", "otherMails": ["a@x"]}`) satisfies `expr`.
pub fn eval(expr: &Expr, doc: &Json) -> bool {
    eval_with(expr, &|name| doc.get(name))
}

fn eval_with<'d>(expr: &Expr, get: &dyn Fn(&str) -> Option<&'d Json>) -> bool {
    match expr {
        Expr::Compare { property, op, value } => compare(get(property), *op, value),
        Expr::In { property, values } => {
            let actual = get(property);
            values.iter().any(|value| compare(actual, CmpOp::Eq, value))
        }
        Expr::StartsWith { property, prefix } => text(get(property)).is_some_and(|s| s.starts_with(&fold(prefix))),
        Expr::EndsWith { property, suffix } => text(get(property)).is_some_and(|s| s.ends_with(&fold(suffix))),
        Expr::Any { collection, body } => match get(collection) {
            Some(Json::Array(elements)) => {
                elements.iter().any(|element| eval_with(body, &|name| if name == *collection { Some(element) } else { get(name) }))
            }
            _ => false,
        },
        Expr::Not(inner) => !eval_with(inner, get),
        Expr::And(left, right) => eval_with(left, get) && eval_with(right, get),
        Expr::Or(left, right) => eval_with(left, get) || eval_with(right, get),
    }
}

fn fold(text: &str) -> String {
    text.to_lowercase()
}

fn text(actual: Option<&Json>) -> Option<String> {
    actual.and_then(Json::as_str).map(fold)
}

/// `ne` is true when the values differ, including when the document has no value (or one of another type).
fn compare(actual: Option<&Json>, op: CmpOp, value: &Value) -> bool {
    let actual = actual.filter(|v| !v.is_null());
    if *value == Value::Null {
        return match op {
            CmpOp::Eq => actual.is_none(),
            CmpOp::Ne => actual.is_some(),
            _ => false,
        };
    }
    let ordering = actual.and_then(|actual| order(actual, value));
    match op {
        CmpOp::Eq => ordering == Some(Ordering::Equal),
        CmpOp::Ne => ordering != Some(Ordering::Equal),
        CmpOp::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => ordering == Some(Ordering::Greater),
        CmpOp::Lt => ordering == Some(Ordering::Less),
    }
}

/// How the document's value orders against the literal; `None` when they cannot be compared.
fn order(actual: &Json, value: &Value) -> Option<Ordering> {
    match (actual, value) {
        (Json::String(s), Value::String(v) | Value::Guid(v)) => Some(fold(s).cmp(&fold(v))),
        (Json::String(s), Value::DateTime(v)) => Some(parse_datetime(s)?.cmp(&parse_datetime(v)?)),
        (Json::Bool(b), Value::Bool(v)) => Some(b.cmp(v)),
        (Json::Number(n), Value::Int(v)) => Some(n.as_i64()?.cmp(v)),
        _ => None,
    }
}

/// Whether `doc` matches `search` on `resource` (the resource says how each property is matched).
pub fn eval_search(search: &Search, resource: &Resource, doc: &Json) -> bool {
    search_with(&search.clauses, resource, doc)
}

fn search_with(expr: &SearchExpr, resource: &Resource, doc: &Json) -> bool {
    match expr {
        SearchExpr::Term { property, text } => {
            let kind = resource.property(property).map_or(SearchKind::None, |p| p.search);
            let values: Vec<&str> = match doc.get(property) {
                Some(Json::String(s)) => vec![s],
                Some(Json::Array(items)) => items.iter().filter_map(Json::as_str).collect(),
                _ => Vec::new(),
            };
            values.into_iter().any(|value| term_matches(kind, value, text))
        }
        SearchExpr::And(left, right) => search_with(left, resource, doc) && search_with(right, resource, doc),
        SearchExpr::Or(left, right) => search_with(left, resource, doc) || search_with(right, resource, doc),
    }
}

fn term_matches(kind: SearchKind, value: &str, text: &str) -> bool {
    match kind {
        SearchKind::None => false,
        SearchKind::Prefix => fold(value).starts_with(&fold(text)),
        // Every searched word must start some word of the value, in any order.
        SearchKind::Tokenized => {
            let words = tokens(value);
            let wanted = tokens(text);
            !wanted.is_empty() && wanted.iter().all(|w| words.iter().any(|word| word.starts_with(w.as_str())))
        }
    }
}

/// Graph's tokenizer as documented: words split at spaces and symbols, at a lower→upper case change and between
/// letters and digits; lower-cased.
fn tokens(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous: Option<char> = None;
    for c in text.chars() {
        let boundary = match previous {
            _ if !c.is_alphanumeric() => true,
            Some(p) => (p.is_lowercase() && c.is_uppercase()) || (p.is_numeric() != c.is_numeric()),
            None => false,
        };
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        if c.is_alphanumeric() {
            current.extend(c.to_lowercase());
            previous = Some(c);
        } else {
            previous = None;
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::{GROUP, USER};

    fn doc() -> Json {
        json!({
            "id": "0B5EA3A8-4F2C-4D1E-9A7B-3C2D1E0F9A8B",
            "displayName": "Adele Vance",
            "mail": "AdeleV@Contoso.com",
            "jobTitle": null,
            "accountEnabled": true,
            "createdDateTime": "2024-01-01T00:00:00.5Z",
            "otherMails": ["adele@fabrikam.com", "av@example.org"],
            "proxyAddresses": [],
        })
    }

    /// Parses in advanced mode (every operator allowed) and evaluates against [`doc`].
    fn holds(filter: &str) -> bool {
        let expr = crate::filter::parse(&USER, filter, true).unwrap_or_else(|e| panic!("{filter}: {e}"));
        eval(&expr, &doc())
    }

    #[test]
    fn comparisons_are_case_insensitive_on_strings() {
        assert!(holds("displayName eq 'adele vance'"));
        assert!(!holds("displayName eq 'Adele'"));
        assert!(holds("displayName ne 'Adele'"));
        assert!(!holds("displayName ne 'ADELE VANCE'"));
        assert!(holds("displayName ge 'adele'") && holds("displayName gt 'ADELE'") && holds("displayName le 'b'"));
        assert!(holds("displayName lt 'Adele Vancf'") && !holds("displayName lt 'adele vance'"));
        assert!(holds("id eq 0b5ea3a8-4f2c-4d1e-9a7b-3c2d1e0f9a8b"));
        assert!(holds("accountEnabled eq true") && !holds("accountEnabled eq false"));
    }

    #[test]
    fn missing_and_null_values() {
        assert!(holds("jobTitle eq null") && holds("givenName eq null") && !holds("displayName eq null"));
        assert!(holds("displayName ne null") && !holds("jobTitle ne null"));
        assert!(holds("givenName ne 'x'"), "ne on a missing value is true");
        assert!(!holds("givenName eq 'x'") && !holds("givenName ge 'a'") && !holds("startswith(givenName,'')"));
        assert!(holds("not(startswith(givenName,'a'))"));
    }

    #[test]
    fn datetimes_compare_as_instants() {
        // Lexically "…00Z" sorts after "…00.5Z"; as instants it is earlier.
        assert!(holds("createdDateTime gt 2024-01-01T00:00:00Z"));
        assert!(!holds("createdDateTime lt 2024-01-01T01:00:00+01:00"));
        assert!(holds("createdDateTime le 2024-01-01T01:00:01+01:00"));
    }

    #[test]
    fn in_prefix_suffix_and_boolean_logic() {
        assert!(holds("displayName in ('x', 'ADELE VANCE')") && !holds("displayName in ('x', 'y')"));
        assert!(holds("startswith(displayName,'adE')") && !holds("startswith(displayName,'Vance')"));
        assert!(holds("endswith(mail,'@contoso.COM')") && !holds("endswith(mail,'@fabrikam.com')"));
        assert!(holds("displayName eq 'x' or accountEnabled eq true"));
        assert!(!holds("displayName eq 'x' and accountEnabled eq true"));
        assert!(holds("not (displayName eq 'x' and accountEnabled eq true)"));
    }

    #[test]
    fn any_ranges_over_array_elements() {
        assert!(holds("otherMails/any(m:m eq 'AV@example.org')"));
        assert!(holds("otherMails/any(m:endswith(m,'@fabrikam.com'))"));
        assert!(!holds("otherMails/any(m:m eq 'adelev@contoso.com')"));
        assert!(!holds("proxyAddresses/any(p:startswith(p,'smtp:'))"), "empty array");
        assert!(!holds("businessPhones/any(p:p eq '1')"), "missing array");
        assert!(holds("not otherMails/any(m:startswith(m,'zz'))"));
    }

    #[test]
    fn search_semantics() {
        let group = json!({ "displayName": "Contoso SharePoint Office365 Video", "description": "One Drive", "mail": "video@contoso.com" });
        let user = json!({ "displayName": "Alex Guthrie", "mail": "AlexW@contoso.com", "otherMails": ["x"] });
        let search = |resource: &Resource, text: &str, doc: &Json| {
            eval_search(&crate::search::parse(resource, text).unwrap_or_else(|e| panic!("{text}: {e}")), resource, doc)
        };
        assert!(search(&USER, r#""displayName:guthr""#, &user));
        assert!(!search(&USER, r#""displayName:uthrie""#, &user), "tokens match from their start");
        assert!(search(&GROUP, r#""displayName:video contoso""#, &group), "any order");
        assert!(search(&GROUP, r#""displayName:point""#, &group), "lower→upper case change splits SharePoint");
        assert!(search(&GROUP, r#""displayName:365""#, &group), "digits split Office365");
        assert!(!search(&GROUP, r#""displayName:video teams""#, &group), "every word must match");
        assert!(search(&USER, r#""mail:ALEXW@""#, &user) && !search(&USER, r#""mail:contoso""#, &user), "prefix on mail");
        let combined = r#""description:One" AND ("displayName:Drive" OR "displayName:Video")"#;
        assert!(search(&GROUP, combined, &group));
        assert!(!search(&GROUP, r#""description:Two" OR "mail:audio""#, &group));
    }
}
