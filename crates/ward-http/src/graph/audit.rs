//! `/v1.0/auditLogs/directoryAudits`: the directory audit log, newest first, with the filters
//! administrators and SIEM connectors use (time range, category, activity, result, target), paged
//! with an opaque skip token bound to the query.

use super::{Graph, attempt};
use crate::error::graph_error;
use crate::graph_authz::Op;
use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use ward_core::audit::AuditQuery;

pub fn routes() -> Router<crate::AppState> {
    Router::new().route("/v1.0/auditLogs/directoryAudits", get(list)).route("/v1.0/auditLogs/directoryAudits/{id}", get(one))
}

const SUPPORTED: &str = "Ward filters directory audits with clauses joined by 'and': activityDateTime ge|gt|le|lt <date>, \
                         category eq '…', activityDisplayName eq '…', result eq '…', targetResources/any(t:t/id eq '<id>').";

pub(super) fn unsupported_with(g: &Graph, supported: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", "invalid_query", supported, &g.rid)
}

fn unsupported(g: &Graph) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", "invalid_query", SUPPORTED, &g.rid)
}

/// A quoted OData string literal (`'it''s'`), whole.
pub(super) fn literal(s: &str) -> Option<String> {
    let inner = s.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    let unescaped = inner.replace("''", "'");
    (!unescaped.contains('\'') || inner.matches('\'').count() % 2 == 0).then_some(unescaped)
}

pub(super) fn instant(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s.trim(), &Rfc3339).ok()
}

/// `$filter` as an [`AuditQuery`]. Values are only ever bound, never part of a statement.
fn filter(g: &Graph, text: &str, q: &mut AuditQuery) -> Result<(), Response> {
    for clause in split_and(text) {
        if let Some(inner) = clause.strip_prefix("targetResources/any(").and_then(|r| r.strip_suffix(')')) {
            // targetResources/any(x:x/id eq 'guid')
            let (var, test) = inner.split_once(':').ok_or_else(|| unsupported(g))?;
            let rest = test.trim().strip_prefix(&format!("{}/id", var.trim())).ok_or_else(|| unsupported(g))?;
            let id = rest.trim().strip_prefix("eq").and_then(literal).ok_or_else(|| unsupported(g))?;
            q.target_id = Some(id.parse().map_err(|_| g.bad(&format!("Invalid object identifier '{}'.", ward_core::validate::clip(&id))))?);
            continue;
        }
        let words: Vec<&str> = clause.splitn(3, ' ').collect();
        match words.as_slice() {
            [field, op, value] if field.eq_ignore_ascii_case("activityDateTime") => {
                let t = instant(value)
                    .ok_or_else(|| g.bad(&format!("'{}' is not a date and time (RFC 3339).", ward_core::validate::clip(value))))?;
                match op.to_ascii_lowercase().as_str() {
                    "ge" => q.since = Some(t),
                    "gt" => q.since = Some(t + time::Duration::MICROSECOND),
                    "le" => q.until = Some(t),
                    "lt" => q.until = Some(t - time::Duration::MICROSECOND),
                    _ => return Err(unsupported(g)),
                }
            }
            [field, op, value] if op.eq_ignore_ascii_case("eq") => {
                let v = literal(value).ok_or_else(|| unsupported(g))?;
                match field.to_ascii_lowercase().as_str() {
                    "category" => q.category = Some(v),
                    "activitydisplayname" => q.activity = Some(v),
                    "result" => q.result = Some(v),
                    _ => return Err(unsupported(g)),
                }
            }
            _ => return Err(unsupported(g)),
        }
    }
    Ok(())
}

/// Splits at top-level ` and ` (outside quotes and parentheses).
pub(super) fn split_and(text: &str) -> Vec<String> {
    let (mut out, mut current, mut depth, mut quoted) = (Vec::new(), String::new(), 0i32, false);
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            quoted = !quoted;
        } else if !quoted && c == '(' {
            depth += 1;
        } else if !quoted && c == ')' {
            depth -= 1;
        } else if !quoted && depth == 0 && c == ' ' {
            let rest: String = chars[i..].iter().take(5).collect();
            if rest.eq_ignore_ascii_case(" and ") {
                out.push(std::mem::take(&mut current).trim().to_string());
                i += 5;
                continue;
            }
        }
        current.push(c);
        i += 1;
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

async fn list(g: Graph, RawQuery(raw): RawQuery) -> Response {
    attempt!(g.require(Op::ReadAudit).await);
    let options = attempt!(ward_odata::split_query(raw.as_deref()).map_err(|e| super::list::odata_error(&g, e)));
    if options.select.is_some() || options.orderby.is_some() || options.search.is_some() || options.count.is_some() {
        return unsupported(&g);
    }
    let paging = attempt!(LogPaging::of(&g, &options, "auditLogs/directoryAudits"));
    // One more than the page: whether a next page exists, without an empty last one.
    let mut q = AuditQuery { limit: paging.top + 1, before: paging.before, ..Default::default() };
    if let Some(f) = &options.filter {
        attempt!(filter(&g, f, &mut q));
    }
    let mut records = attempt!(g.state.directory.audit_records(g.tenant(), &q).await.map_err(|e| g.fail(&e)));
    let more = records.len() as u32 > paging.top;
    records.truncate(paging.top as usize);
    let last = records.last().map(|r| ((r.activity_date_time.unix_timestamp_nanos() / 1_000) as i64, r.id.to_string()));
    let mut body = json!({ "@odata.context": g.context("auditLogs/directoryAudits"), "value": records });
    if more && let Some(last) = last {
        body["@odata.nextLink"] = json!(paging.next_link(&g, &options, last));
    }
    Json(body).into_response()
}

/// Paging of a log read newest first (the audit log, the sign-in log): `$top` (1 to 999, 100 by
/// default) and a `$skiptoken` holding the last record's position (time in microseconds, id),
/// MAC-bound to the tenant, the log and the query, so it cannot be altered or moved.
pub(super) struct LogPaging {
    pub top: u32,
    pub before: Option<(i64, uuid::Uuid)>,
    resource: &'static str,
    canonical: String,
}

impl LogPaging {
    pub fn of(g: &Graph, options: &ward_odata::RawOptions, resource: &'static str) -> Result<LogPaging, Response> {
        let top = match options.top.as_deref() {
            None => 100,
            Some(t) => match t.parse::<u32>() {
                Ok(n) if (1..=999).contains(&n) => n,
                _ => {
                    return Err(g.bad(&format!(
                        "Invalid page size specified: '{}'. Must be between 1 and 999 inclusive.",
                        ward_core::validate::clip(t)
                    )));
                }
            },
        };
        let canonical = format!("{}|{}", options.filter.as_deref().unwrap_or(""), top);
        let mut paging = LogPaging { top, before: None, resource, canonical };
        if let Some(token) = options.skiptoken.as_deref() {
            let key = g.state.keys.mac_key("graph skiptoken");
            let tenant = g.tenant().to_string();
            let position = token
                .split_once('.')
                .filter(|(p, mac)| key.verify(&[&tenant, resource, &paging.canonical, p], mac))
                .and_then(|(p, _)| URL_SAFE_NO_PAD.decode(p).ok())
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| Some((v["at"].as_i64()?, v["id"].as_str()?.parse().ok()?)));
            match position {
                Some(p) => paging.before = Some(p),
                None => return Err(g.bad("The $skiptoken is not valid for this request.")),
            }
        }
        Ok(paging)
    }

    /// The next page's link, after the record at `(at, id)`.
    pub fn next_link(&self, g: &Graph, options: &ward_odata::RawOptions, (at, id): (i64, String)) -> String {
        let key = g.state.keys.mac_key("graph skiptoken");
        let tenant = g.tenant().to_string();
        let payload = URL_SAFE_NO_PAD.encode(json!({ "at": at, "id": id }).to_string());
        let token = format!("{payload}.{}", key.sign(&[&tenant, self.resource, &self.canonical, &payload]));
        let filter = options.filter.as_deref().map(|f| format!("$filter={}&", super::list::encode(f))).unwrap_or_default();
        format!("{}/v1.0/{}?{filter}$top={}&$skiptoken={}", g.state.public_url, self.resource, self.top, super::list::encode(&token))
    }
}

async fn one(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::ReadAudit).await);
    let Ok(wanted) = id.parse::<uuid::Uuid>() else { return g.not_found(&id) };
    let q = AuditQuery { id: Some(wanted), limit: 1, ..Default::default() };
    let found = attempt!(g.state.directory.audit_records(g.tenant(), &q).await.map_err(|e| g.fail(&e)));
    match found.first() {
        Some(r) => {
            let mut v = json!(r);
            v["@odata.context"] = json!(g.context("auditLogs/directoryAudits/$entity"));
            Json(v).into_response()
        }
        None => g.not_found(&id),
    }
}
