//! Queries (RFC 7644 §3.4.2, §3.4.3): the parameters of `GET /Users` and `POST /Users/.search`,
//! and which stored objects a filter can match. A filter that pins an indexed attribute with
//! `eq` (`userName`, `externalId`, `displayName`, `id`: what Entra matches on) is answered from
//! the store's index; any other filter is evaluated on every live resource of the tenant, up to
//! [`MAX_SCAN`], beyond which it is refused with `tooMany`.

use super::{DEFAULT_PAGE, MAX_PAGE, Scim};
use serde_json::Value;
use ward_core::index::{Cond, ObjectQuery, Test};
use ward_core::store::{ListQuery, StoredObject};
use ward_core::{ObjectId, ObjectKind};
use ward_scim::{Filter, Projection, ResourceSchema, ScimError, SortKey, SortOrder};

/// The most resources a filter the index cannot answer is evaluated on.
pub const MAX_SCAN: usize = 100_000;

pub struct ListParams {
    pub filter: Option<Filter>,
    pub sort: Option<(SortKey, SortOrder)>,
    /// The sort attribute alone, to keep of each match while scanning.
    pub sort_projection: Option<Projection>,
    /// 1-based.
    pub start_index: usize,
    pub count: usize,
    pub projection: Projection,
}

fn number(name: &str, v: &str) -> Result<i64, ScimError> {
    v.trim().parse::<i64>().map_err(|_| ScimError::invalid_value(format!("{name} must be an integer")))
}

/// The parameters as sent, before they are checked.
#[derive(Default)]
struct Raw<'a> {
    filter: Option<&'a str>,
    sort_by: Option<&'a str>,
    sort_order: Option<&'a str>,
    start_index: Option<i64>,
    count: Option<i64>,
    attributes: Option<&'a str>,
    excluded: Option<&'a str>,
}

impl ListParams {
    fn build(raw: Raw<'_>, schema: &ResourceSchema) -> Result<ListParams, ScimError> {
        let filter = raw.filter.filter(|f| !f.trim().is_empty()).map(|f| Filter::parse(f, schema)).transpose()?;
        let sort_by = raw.sort_by.filter(|s| !s.trim().is_empty());
        let sort = match sort_by {
            Some(s) => Some((SortKey::parse(s, schema)?, SortOrder::parse(raw.sort_order)?)),
            None => None,
        };
        Ok(ListParams {
            filter,
            sort,
            sort_projection: sort_by.map(|s| Projection::parse(Some(s), None, schema)).transpose()?,
            // RFC 7644 §3.4.2.4: below 1 is 1; a negative count is 0; we return at most MAX_PAGE.
            start_index: raw.start_index.unwrap_or(1).max(1) as usize,
            count: raw.count.unwrap_or(DEFAULT_PAGE as i64).clamp(0, MAX_PAGE as i64) as usize,
            projection: Projection::parse(raw.attributes, raw.excluded, schema)?,
        })
    }

    /// From the query string of a GET.
    pub fn from_query(query: Option<&str>, schema: &ResourceSchema) -> Result<ListParams, ScimError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|e| ScimError::invalid_value(format!("the query string does not parse: {e}")))?;
        let get = |name: &str| pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let start = get("startIndex").map(|v| number("startIndex", v)).transpose()?;
        let count = get("count").map(|v| number("count", v)).transpose()?;
        let raw = Raw {
            filter: get("filter"),
            sort_by: get("sortBy"),
            sort_order: get("sortOrder"),
            start_index: start,
            count,
            attributes: get("attributes"),
            excluded: get("excludedAttributes"),
        };
        Self::build(raw, schema)
    }

    /// From a `SearchRequest` body (RFC 7644 §3.4.3).
    pub fn from_search(body: &Value, schema: &ResourceSchema) -> Result<ListParams, ScimError> {
        let declared = body.get("schemas").and_then(Value::as_array).is_some_and(|s| s.iter().any(|u| u == ward_scim::SEARCH_REQUEST_URN));
        if !declared {
            return Err(ScimError::invalid_syntax(format!("schemas must contain {}", ward_scim::SEARCH_REQUEST_URN)));
        }
        let text = |k: &str| -> Result<Option<String>, ScimError> {
            match body.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Array(a)) if k.ends_with("ttributes") => {
                    let names: Option<Vec<&str>> = a.iter().map(Value::as_str).collect();
                    names.map(|n| Some(n.join(","))).ok_or_else(|| ScimError::invalid_value(format!("{k} must be a list of names")))
                }
                Some(_) => Err(ScimError::invalid_value(format!("{k} has the wrong type"))),
            }
        };
        let int = |k: &str| -> Result<Option<i64>, ScimError> {
            match body.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(|| ScimError::invalid_value(format!("{k} must be an integer"))),
            }
        };
        let (filter, sort_by, sort_order) = (text("filter")?, text("sortBy")?, text("sortOrder")?);
        let (attributes, excluded) = (text("attributes")?, text("excludedAttributes")?);
        let raw = Raw {
            filter: filter.as_deref(),
            sort_by: sort_by.as_deref(),
            sort_order: sort_order.as_deref(),
            start_index: int("startIndex")?,
            count: int("count")?,
            attributes: attributes.as_deref(),
            excluded: excluded.as_deref(),
        };
        Self::build(raw, schema)
    }
}

/// The index property each equality-filterable SCIM attribute is found by.
fn indexed_property(kind: ObjectKind, attribute: &str) -> Option<&'static str> {
    match (kind, attribute) {
        (ObjectKind::User, "userName") => Some("userPrincipalName"),
        (_, "externalId") => Some("externalId"),
        (_, "displayName") => Some("displayName"),
        _ => None,
    }
}

/// Where the objects a filter can match come from.
enum Source {
    /// Nothing more to read.
    Done,
    /// One object by id.
    One(ObjectId),
    /// An indexed property's equality, a page at a time.
    Index { property: &'static str, value: String, after: Option<ward_core::index::Keyset> },
    /// Every live object of the kind, a page at a time.
    All { after: Option<ObjectId> },
}

/// The stored objects a filter can match (a superset: the caller evaluates the filter on each),
/// a page at a time, so a scan holds one page of documents, not the tenant.
struct Candidates {
    kind: ObjectKind,
    source: Source,
    read: usize,
}

const PAGE: u32 = 500;

impl Candidates {
    fn new(kind: ObjectKind, filter: Option<&Filter>) -> Candidates {
        let mut source = Source::All { after: None };
        if let Some(equalities) = filter.and_then(Filter::as_equalities) {
            for eq in &equalities {
                if eq.attribute == "id" {
                    source = match eq.value.parse::<ObjectId>() {
                        Ok(id) => Source::One(id),
                        Err(_) => Source::Done,
                    };
                    break;
                }
                if let Some(property) = indexed_property(kind, &eq.attribute) {
                    source = Source::Index { property, value: ward_core::index::normalize_text(eq.value), after: None };
                    break;
                }
            }
        }
        Candidates { kind, source, read: 0 }
    }

    /// The next page; `None` when there are no more. More than [`MAX_SCAN`] in all is `tooMany`.
    async fn next_page(&mut self, scim: &Scim) -> Result<Option<Vec<StoredObject>>, ScimError> {
        let store = scim.state.directory.store();
        let tenant = scim.tenant.id;
        let fail = |e: ward_core::store::StoreError| super::directory_error(&e.into(), &scim.rid);
        let page = match &mut self.source {
            Source::Done => return Ok(None),
            Source::One(id) => {
                let found = store.object(tenant, self.kind, *id).await.map_err(fail)?;
                self.source = Source::Done;
                found.filter(|o| o.deleted_at.is_none()).into_iter().collect()
            }
            Source::Index { property, value, after } => {
                let q = ObjectQuery {
                    kind: self.kind,
                    deleted: false,
                    cond: Cond::Prop { property, test: Test::Eq(value.clone()) },
                    order_by: None,
                    descending: false,
                    after: after.clone(),
                    limit: PAGE,
                };
                let rows = store.query_objects(tenant, &q).await.map_err(fail)?;
                *after = rows.last().map(|(o, v)| ward_core::index::Keyset { value: v.clone(), id: o.id });
                if rows.len() < PAGE as usize {
                    self.source = Source::Done;
                }
                rows.into_iter().map(|(o, _)| o).collect::<Vec<_>>()
            }
            Source::All { after } => {
                let rows =
                    store.objects(tenant, self.kind, &ListQuery { deleted: false, after: *after, limit: PAGE }).await.map_err(fail)?;
                *after = rows.last().map(|o| o.id);
                if rows.len() < PAGE as usize {
                    self.source = Source::Done;
                }
                rows
            }
        };
        self.read += page.len();
        if self.read > MAX_SCAN {
            return Err(too_many());
        }
        Ok((!page.is_empty()).then_some(page))
    }
}

/// What a filtered or sorted list keeps of each match while it scans: the id, the version, and
/// the sort attribute alone (a small document for `compare_in_order`), not the resource.
struct Match {
    id: ObjectId,
    sort_doc: Value,
}

/// Sorts the matches and returns the ids of the page asked for, and how many matched.
fn keep(id: ObjectId, resource: &Value, p: &ListParams, schema: &ResourceSchema) -> Match {
    Match { id, sort_doc: p.sort_projection.as_ref().map(|s| s.apply(resource, schema)).unwrap_or(Value::Null) }
}

fn page_of(mut matched: Vec<Match>, p: &ListParams) -> (Vec<ObjectId>, usize) {
    if let Some((key, order)) = &p.sort {
        matched.sort_by(|a, b| ward_scim::compare_in_order(&a.sort_doc, &b.sort_doc, key, *order).then_with(|| a.id.cmp(&b.id)));
    }
    let total = matched.len();
    (matched.into_iter().skip(p.start_index - 1).take(p.count).map(|m| m.id).collect(), total)
}

fn too_many() -> ScimError {
    ScimError::too_many(format!(
        "the filter would be evaluated on more than {MAX_SCAN} resources; filter with eq on userName, externalId, displayName or id"
    ))
}

/// The stored objects of the page a list request asks for, and how many match in all. Without
/// a filter or a sort, a page in id order; otherwise a scan a page of documents at a time, where
/// `resource` renders each for the filter and of each match only its id and sort value are kept.
pub async fn select(
    scim: &Scim,
    kind: ObjectKind,
    p: &ListParams,
    schema: &ResourceSchema,
    resource: impl Fn(&StoredObject) -> Result<Value, ScimError>,
) -> Result<(Vec<StoredObject>, usize), ScimError> {
    if p.filter.is_none() && p.sort.is_none() {
        return page_in_order(scim, kind, p.start_index, p.count).await;
    }
    let mut source = Candidates::new(kind, p.filter.as_ref());
    let mut matched = Vec::new();
    while let Some(objects) = source.next_page(scim).await? {
        for o in &objects {
            let r = resource(o)?;
            if p.filter.as_ref().is_none_or(|f| f.matches(&r)) {
                matched.push(keep(o.id, &r, p, schema));
            }
        }
    }
    let (ids, total) = page_of(matched, p);
    let store = scim.state.directory.store();
    let mut page = Vec::with_capacity(ids.len());
    for id in ids {
        let found = store.object(scim.tenant.id, kind, id).await.map_err(|e| super::directory_error(&e.into(), &scim.rid))?;
        // Deleted since the scan: left out of the page.
        page.extend(found.filter(|o| o.deleted_at.is_none()));
    }
    Ok((page, total))
}

/// One page of live objects in id order, without a filter: the objects from `start_index` on,
/// and how many there are in all.
async fn page_in_order(scim: &Scim, kind: ObjectKind, start_index: usize, count: usize) -> Result<(Vec<StoredObject>, usize), ScimError> {
    let store = scim.state.directory.store();
    let fail = |e: ward_core::store::StoreError| super::directory_error(&e.into(), &scim.rid);
    let total = store.count_objects(scim.tenant.id, kind, false).await.map_err(fail)? as usize;
    if start_index > total || count == 0 {
        return Ok((Vec::new(), total));
    }
    let mut skip = start_index - 1;
    let mut out = Vec::new();
    let mut after = None;
    while out.len() < count {
        let page = store.objects(scim.tenant.id, kind, &ListQuery { deleted: false, after, limit: 1000 }).await.map_err(fail)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for o in page {
            if skip > 0 {
                skip -= 1;
            } else if out.len() < count {
                out.push(o);
            }
        }
    }
    Ok((out, total))
}
