//! Graph list requests over the store's property index: OData options (parsed by `ward-odata`)
//! become an [`ObjectQuery`]; pages are keyset pages; `@odata.nextLink` carries an opaque
//! `$skiptoken` that names where the page ended and is MAC-bound to the query it belongs to, so a
//! client can neither forge a position nor move a token to another query.

use super::{Graph, views};
use crate::error::graph_error;
use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use ward_core::ObjectKind;
use ward_core::ids::ObjectId;
use ward_core::index::{self, Cond, IndexType, Keyset, ObjectQuery, Test};
use ward_odata::{CmpOp, Direction, Expr, ODataError, Query, RawOptions, Resource, SearchExpr, SearchKind};

/// Page size without `$top` (Graph's default for directory lists).
pub const DEFAULT_PAGE: u32 = 100;

/// What a list is over.
pub struct ListSpec {
    pub resource: &'static Resource,
    pub kind: ObjectKind,
    /// The path after `/v1.0/`, for `@odata.nextLink` (and the token's binding).
    pub path: &'static str,
    /// The `@odata.context` entity set (`users`, `directory/deletedItems/microsoft.graph.user`).
    pub set: &'static str,
    pub deleted: bool,
}

/// Properties every object of the kind has: the only ones Ward orders by (a keyset over a
/// property index cannot place objects that lack the property).
fn always_present(kind: ObjectKind) -> &'static [&'static str] {
    match kind {
        ObjectKind::User => &["displayName", "userPrincipalName", "mailNickname", "createdDateTime", "userType"],
        ObjectKind::Group => &["displayName", "mailNickname", "createdDateTime"],
        _ => &[],
    }
}

fn unsupported(message: String) -> ODataError {
    ODataError { code: ODataError::UNSUPPORTED_QUERY, message }
}

fn clause_error(resource: &Resource, property: &str) -> ODataError {
    unsupported(format!(
        "Unsupported or invalid query filter clause specified for property '{property}' of resource '{}'.",
        resource.entity
    ))
}

/// One OData literal as index text for `property`.
fn index_value(resource: &Resource, kind: ObjectKind, property: &str, v: &ward_odata::Value) -> Result<String, ODataError> {
    let p = index::property(kind, property).ok_or_else(|| clause_error(resource, property))?;
    use ward_odata::Value as V;
    let text = match (p.ty, v) {
        (IndexType::Text, V::String(s)) => Some(index::normalize_text(s)),
        (IndexType::Text, V::Guid(g)) => Some(g.clone()),
        (IndexType::Bool, V::Bool(b)) => Some(b.to_string()),
        (IndexType::DateTime, V::DateTime(s)) => index::normalize(IndexType::DateTime, &json!(s)),
        _ => None,
    };
    text.ok_or_else(|| clause_error(resource, property))
}

fn ids(resource: &Resource, values: &[&ward_odata::Value]) -> Result<Vec<ObjectId>, ODataError> {
    values
        .iter()
        .map(|v| match v {
            ward_odata::Value::Guid(g) => g.parse::<ObjectId>().map_err(|_| clause_error(resource, "id")),
            _ => Err(clause_error(resource, "id")),
        })
        .collect()
}

/// A filter as a store condition. `element` is set inside a lambda: the collection whose element
/// the body tests.
fn cond(resource: &Resource, kind: ObjectKind, e: &Expr, element: Option<&'static str>) -> Result<Cond, ODataError> {
    let prop = |name: &'static str, test: Test| -> Result<Cond, ODataError> {
        let p = index::property(kind, name).ok_or_else(|| clause_error(resource, name))?;
        if p.multi && element != Some(name) {
            return Err(clause_error(resource, name));
        }
        Ok(Cond::Prop { property: p.name, test })
    };
    let value = |name: &str, v: &ward_odata::Value| index_value(resource, kind, name, v);
    Ok(match e {
        Expr::Compare { property: "id", op, value: v } if element.is_none() => match op {
            CmpOp::Eq => Cond::Ids(ids(resource, &[v])?),
            CmpOp::Ne => Cond::Not(Box::new(Cond::Ids(ids(resource, &[v])?))),
            _ => return Err(clause_error(resource, "id")),
        },
        Expr::In { property: "id", values } if element.is_none() => Cond::Ids(ids(resource, &values.iter().collect::<Vec<_>>())?),
        Expr::Compare { property, op, value: ward_odata::Value::Null } => match op {
            CmpOp::Eq => Cond::Not(Box::new(prop(property, Test::Present)?)),
            CmpOp::Ne => prop(property, Test::Present)?,
            _ => return Err(clause_error(resource, property)),
        },
        Expr::Compare { property, op, value: v } => {
            let v = value(property, v)?;
            match op {
                CmpOp::Eq => prop(property, Test::Eq(v))?,
                CmpOp::Ne if element.is_none() => Cond::Not(Box::new(prop(property, Test::Eq(v))?)),
                CmpOp::Ne => return Err(clause_error(resource, property)),
                CmpOp::Ge => prop(property, Test::Range { low: Some((v, true)), high: None })?,
                CmpOp::Gt => prop(property, Test::Range { low: Some((v, false)), high: None })?,
                CmpOp::Le => prop(property, Test::Range { low: None, high: Some((v, true)) })?,
                CmpOp::Lt => prop(property, Test::Range { low: None, high: Some((v, false)) })?,
            }
        }
        Expr::In { property, values } => {
            let values = values.iter().map(|v| value(property, v)).collect::<Result<Vec<_>, _>>()?;
            prop(property, Test::In(values))?
        }
        Expr::StartsWith { property, prefix } => prop(property, Test::Prefix(index::normalize_text(prefix)))?,
        Expr::EndsWith { property, suffix } => prop(property, Test::Suffix(index::normalize_text(suffix)))?,
        Expr::Any { collection, body } if element.is_none() => {
            // Each test inside the lambda is "some element passes"; a conjunction or negation
            // inside would need one element to pass several tests, which the index cannot say.
            fn simple(e: &Expr) -> bool {
                match e {
                    Expr::Or(a, b) => simple(a) && simple(b),
                    Expr::Not(_) | Expr::And(..) | Expr::Any { .. } => false,
                    Expr::Compare { op, .. } => *op != CmpOp::Ne,
                    _ => true,
                }
            }
            if !simple(body) {
                return Err(unsupported(format!(
                    "Ward answers lambdas on '{collection}' with eq, in, ge, le, startsWith, endsWith and or; not, ne and and inside any() are not supported."
                )));
            }
            cond(resource, kind, body, Some(collection))?
        }
        Expr::Any { collection, .. } => return Err(clause_error(resource, collection)),
        Expr::Not(inner) => Cond::Not(Box::new(cond(resource, kind, inner, element)?)),
        Expr::And(a, b) => Cond::And(vec![cond(resource, kind, a, element)?, cond(resource, kind, b, element)?]),
        Expr::Or(a, b) => Cond::Or(vec![cond(resource, kind, a, element)?, cond(resource, kind, b, element)?]),
    })
}

/// `$search` as a store condition: tokenized properties match when every word of the text starts
/// a word of the value; the others by prefix.
fn search_cond(resource: &Resource, kind: ObjectKind, s: &SearchExpr) -> Result<Cond, ODataError> {
    Ok(match s {
        SearchExpr::Term { property, text } => {
            let schema = resource.property(property).ok_or_else(|| clause_error(resource, property))?;
            let p = index::property(kind, schema.name).ok_or_else(|| clause_error(resource, property))?;
            match (schema.search, p.tokens) {
                (SearchKind::Tokenized, Some(tokens)) => {
                    let words = index::tokens(text);
                    if words.is_empty() {
                        Cond::Or(vec![])
                    } else {
                        Cond::And(words.into_iter().map(|w| Cond::Prop { property: tokens, test: Test::Prefix(w) }).collect())
                    }
                }
                _ => Cond::Prop { property: p.name, test: Test::Prefix(index::normalize_text(text)) },
            }
        }
        SearchExpr::And(a, b) => Cond::And(vec![search_cond(resource, kind, a)?, search_cond(resource, kind, b)?]),
        SearchExpr::Or(a, b) => Cond::Or(vec![search_cond(resource, kind, a)?, search_cond(resource, kind, b)?]),
    })
}

/// The order of a query: what `$orderby` asks, or else the property a top-level condition ranges
/// over (so the page is read in index order and costs its own size), or else id.
fn order(kind: ObjectKind, q: &Query, c: &Cond) -> Result<(Option<&'static str>, bool), ODataError> {
    let present = always_present(kind);
    match q.orderby.as_slice() {
        [] => {}
        [(p, dir)] => {
            return match present.iter().find(|x| *x == p) {
                Some(p) => Ok((Some(*p), *dir == Direction::Desc)),
                None => Err(unsupported(format!("Ward sorts by {} only; '{p}' is not supported in $orderby.", present.join(", ")))),
            };
        }
        _ => return Err(unsupported("Ward sorts by one property at a time.".into())),
    }
    let ranges = |c: &Cond| match c {
        Cond::Prop { property, test: Test::Eq(_) | Test::Prefix(_) | Test::Range { .. } | Test::In(_) } => {
            present.iter().find(|p| *p == property).copied()
        }
        _ => None,
    };
    let driver = match c {
        Cond::And(items) => items.iter().find_map(ranges),
        other => ranges(other),
    };
    Ok((driver, false))
}

/// The query string without `$skiptoken`, options in a fixed order, re-encoded: the base of
/// `@odata.nextLink` and what a token is bound to.
fn canonical(raw: &RawOptions) -> String {
    let mut out = Vec::new();
    for (name, v) in [
        ("$select", &raw.select),
        ("$filter", &raw.filter),
        ("$orderby", &raw.orderby),
        ("$top", &raw.top),
        ("$count", &raw.count),
        ("$search", &raw.search),
    ] {
        if let Some(v) = v {
            out.push(format!("{name}={}", encode(v)));
        }
    }
    out.join("&")
}

/// A query-string value, percent-encoded (`$` option names are written as they are).
pub fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// Where a page ended, and whether the query was an advanced one (so later pages need not repeat
/// the header, as Graph's page iterators may not).
struct Position {
    keyset: Keyset,
    advanced: bool,
}

fn mint(g: &Graph, spec: &ListSpec, canonical: &str, p: &Position) -> String {
    let payload = json!({ "v": p.keyset.value, "i": p.keyset.id.to_string(), "a": p.advanced });
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    let mac = g.state.keys.mac_key("graph skiptoken").sign(&[g.tenant().to_string().as_str(), spec.path, canonical, &payload]);
    format!("{payload}.{mac}")
}

fn redeem(g: &Graph, spec: &ListSpec, canonical: &str, token: &str) -> Result<Position, ODataError> {
    let invalid = || ODataError { code: ODataError::BAD_REQUEST, message: "The $skiptoken is not valid for this request.".into() };
    let (payload, mac) = token.split_once('.').ok_or_else(invalid)?;
    if !g.state.keys.mac_key("graph skiptoken").verify(&[g.tenant().to_string().as_str(), spec.path, canonical, payload], mac) {
        return Err(invalid());
    }
    let v: Value = URL_SAFE_NO_PAD.decode(payload).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(invalid)?;
    let id = v["i"].as_str().and_then(|i| i.parse::<ObjectId>().ok()).ok_or_else(invalid)?;
    Ok(Position { keyset: Keyset { value: v["v"].as_str().map(str::to_string), id }, advanced: v["a"].as_bool().unwrap_or(false) })
}

pub fn odata_error(g: &Graph, e: ODataError) -> Response {
    graph_error(StatusCode::BAD_REQUEST, e.code, "invalid_query", &e.message, &g.rid)
}

pub fn eventual(headers: &HeaderMap) -> bool {
    headers.get("consistencylevel").and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"))
}

/// A parsed list request.
pub struct Planned {
    pub query: Query,
    pub object_query: ObjectQuery,
    canonical: String,
    first_page: bool,
}

pub fn plan(g: &Graph, spec: &ListSpec, raw_query: Option<&str>, headers: &HeaderMap) -> Result<Planned, ODataError> {
    let raw = ward_odata::split_query(raw_query)?;
    let canonical = canonical(&raw);
    let position = raw.skiptoken.as_deref().map(|t| redeem(g, spec, &canonical, t)).transpose()?;
    let advanced_before = position.as_ref().is_some_and(|p| p.advanced);
    let query = ward_odata::parse(spec.resource, &raw.as_options(eventual(headers) || advanced_before))?;
    let mut parts = Vec::new();
    if let Some(f) = &query.filter {
        parts.push(cond(spec.resource, spec.kind, f, None)?);
    }
    if let Some(s) = &query.search {
        parts.push(search_cond(spec.resource, spec.kind, &s.clauses)?);
    }
    let c = match parts.len() {
        0 => Cond::All,
        1 => parts.remove(0),
        _ => Cond::And(parts),
    };
    let (order_by, descending) = order(spec.kind, &query, &c)?;
    let first_page = position.is_none();
    let object_query = ObjectQuery {
        kind: spec.kind,
        deleted: spec.deleted,
        cond: c,
        order_by,
        descending,
        after: position.map(|p| p.keyset),
        limit: query.top.unwrap_or(DEFAULT_PAGE),
    };
    Ok(Planned { query, object_query, canonical, first_page })
}

/// Runs a list request and answers it in Graph's shape.
pub async fn respond<T: serde::de::DeserializeOwned>(
    g: &Graph,
    spec: &ListSpec,
    raw_query: Option<&str>,
    headers: &HeaderMap,
    view: impl Fn(&T) -> Map<String, Value>,
) -> Response {
    let p = match plan(g, spec, raw_query, headers) {
        Ok(p) => p,
        Err(e) => return odata_error(g, e),
    };
    // One more than the page: whether a next page exists, without an empty last one.
    let top = p.object_query.limit;
    let probe = ObjectQuery { limit: top + 1, ..p.object_query.clone() };
    let mut items = match g.state.directory.query::<T>(g.tenant(), &probe).await {
        Ok(r) => r,
        Err(e) => return g.fail(&e),
    };
    let more = items.len() as u32 > top;
    items.truncate(top as usize);
    let last = items.last().map(|(_, k)| k.clone());
    let mut body = Map::new();
    let set = match &p.query.select {
        Some(names) => format!("{}({})", spec.set, names.join(",")),
        None => spec.set.to_string(),
    };
    body.insert("@odata.context".into(), json!(g.context(&set)));
    if p.query.count && p.first_page {
        match g.state.directory.count(g.tenant(), &p.object_query).await {
            Ok(n) => {
                body.insert("@odata.count".into(), json!(n));
            }
            Err(e) => return g.fail(&e),
        }
    }
    let select = p.query.select.as_deref();
    let value: Vec<Value> = items.iter().map(|(i, _)| Value::Object(views::project(view(i), spec.resource, select))).collect();
    body.insert("value".into(), Value::Array(value));
    if let (true, Some(keyset)) = (more, last) {
        let token = mint(g, spec, &p.canonical, &Position { keyset, advanced: p.query.advanced });
        let sep = if p.canonical.is_empty() { "" } else { "&" };
        let link = format!("{}/v1.0/{}?{}{sep}$skiptoken={}", g.state.public_url, spec.path, p.canonical, encode(&token));
        body.insert("@odata.nextLink".into(), json!(link));
    }
    Json(Value::Object(body)).into_response()
}

/// `GET /users/$count`: a plain number, only in advanced mode (Graph refuses it otherwise).
pub async fn count(g: &Graph, spec: &ListSpec, raw_query: Option<&str>, headers: &HeaderMap) -> Response {
    if !eventual(headers) {
        return graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", "invalid_query", "$count is not currently supported.", &g.rid);
    }
    let p = match plan(g, spec, raw_query, headers) {
        Ok(p) => p,
        Err(e) => return odata_error(g, e),
    };
    match g.state.directory.count(g.tenant(), &p.object_query).await {
        Ok(n) => ([(header::CONTENT_TYPE, "text/plain")], n.to_string()).into_response(),
        Err(e) => g.fail(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(resource: &'static Resource, filter: &str, advanced: bool) -> Result<Cond, ODataError> {
        let q = ward_odata::parse(
            resource,
            &ward_odata::QueryOptions {
                filter: Some(filter),
                count: advanced.then_some("true"),
                consistency_eventual: advanced,
                ..Default::default()
            },
        )?;
        cond(resource, if resource.name == "users" { ObjectKind::User } else { ObjectKind::Group }, q.filter.as_ref().unwrap(), None)
    }

    #[test]
    fn filters_become_index_conditions_with_normalized_values() {
        let c = parse(&ward_odata::USER, "startswith(displayName,'AdE') and accountEnabled eq true", false).unwrap();
        assert_eq!(
            c,
            Cond::And(vec![
                Cond::Prop { property: "displayName", test: Test::Prefix("ade".into()) },
                Cond::Prop { property: "accountEnabled", test: Test::Eq("true".into()) },
            ])
        );
        let c = parse(&ward_odata::USER, "otherMails/any(m:m eq 'A@X.example')", false).unwrap();
        assert_eq!(c, Cond::Prop { property: "otherMails", test: Test::Eq("a@x.example".into()) });
        let c = parse(&ward_odata::USER, "jobTitle eq null", false).unwrap();
        assert_eq!(c, Cond::Not(Box::new(Cond::Prop { property: "jobTitle", test: Test::Present })));
        let c = parse(&ward_odata::USER, "createdDateTime ge 2026-01-01T01:00:00+01:00", true).unwrap();
        assert_eq!(
            c,
            Cond::Prop {
                property: "createdDateTime",
                test: Test::Range { low: Some(("2026-01-01T00:00:00.000000Z".into(), true)), high: None }
            }
        );
        let id = "0b5ea3a8-8d4f-4c1e-9a3e-2a6f4b1e7c00";
        assert_eq!(parse(&ward_odata::USER, &format!("id eq {id}"), false).unwrap(), Cond::Ids(vec![id.parse().unwrap()]));
        let c = parse(&ward_odata::GROUP, "groupTypes/any(c:c eq 'Unified')", false).unwrap();
        assert_eq!(c, Cond::Prop { property: "groupTypes", test: Test::Eq("unified".into()) });
    }

    #[test]
    fn lambdas_the_index_cannot_answer_are_refused_not_guessed() {
        let e = parse(&ward_odata::USER, "otherMails/any(m:startswith(m,'a') and endswith(m,'b'))", true).unwrap_err();
        assert_eq!(e.code, ODataError::UNSUPPORTED_QUERY);
    }

    #[test]
    fn a_range_on_an_always_present_property_orders_the_page() {
        let q = ward_odata::parse(
            &ward_odata::USER,
            &ward_odata::QueryOptions { filter: Some("startswith(displayName,'a')"), ..Default::default() },
        )
        .unwrap();
        let c = cond(&ward_odata::USER, ObjectKind::User, q.filter.as_ref().unwrap(), None).unwrap();
        assert_eq!(order(ObjectKind::User, &q, &c).unwrap(), (Some("displayName"), false));
        let q = ward_odata::parse(
            &ward_odata::USER,
            &ward_odata::QueryOptions { filter: Some("startswith(jobTitle,'a')"), ..Default::default() },
        )
        .unwrap();
        let c = cond(&ward_odata::USER, ObjectKind::User, q.filter.as_ref().unwrap(), None).unwrap();
        assert_eq!(order(ObjectKind::User, &q, &c).unwrap(), (None, false), "jobTitle can be null: order by id");
    }

    #[test]
    fn every_filterable_property_of_the_schemas_is_indexed() {
        for (resource, kind) in [(&ward_odata::USER, ObjectKind::User), (&ward_odata::GROUP, ObjectKind::Group)] {
            for p in resource.properties.iter().filter(|p| p.name != "id") {
                if !p.filter.union(p.advanced_filter).is_empty() || p.search != SearchKind::None {
                    let indexed = index::property(kind, p.name);
                    assert!(indexed.is_some(), "{}.{} is filterable but not indexed", resource.name, p.name);
                    assert_eq!(indexed.unwrap().multi, p.collection, "{}.{}", resource.name, p.name);
                }
                if p.search == SearchKind::Tokenized {
                    assert!(index::property(kind, p.name).unwrap().tokens.is_some(), "{}.{} needs tokens", resource.name, p.name);
                }
            }
        }
    }
}
