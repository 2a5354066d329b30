//! `/v1.0/auditLogs/signIns`: the sign-in log, newest first, with the filters administrators and
//! SIEM connectors use (time range, user, app, status, conditional access status), paged with a
//! skip token bound to the query. Records of this node still queued are stored before reading.

use super::audit::{instant, literal, split_and, unsupported_with};
use super::{Graph, attempt};
use crate::graph_authz::Op;
use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use ward_core::sign_in_log::SignInQuery;

pub fn routes() -> Router<crate::AppState> {
    Router::new().route("/v1.0/auditLogs/signIns", get(list)).route("/v1.0/auditLogs/signIns/{id}", get(one))
}

const SUPPORTED: &str = "Ward filters sign-ins with clauses joined by 'and': createdDateTime ge|gt|le|lt <date>, userId eq '…', \
                         appId eq '…', status/errorCode eq <n>, status/errorCode ne 0, conditionalAccessStatus eq '…'.";

fn filter(g: &Graph, text: &str, q: &mut SignInQuery) -> Result<(), Response> {
    let unsupported = || unsupported_with(g, SUPPORTED);
    for clause in split_and(text) {
        let words: Vec<&str> = clause.splitn(3, ' ').collect();
        let [field, op, value] = words.as_slice() else { return Err(unsupported()) };
        let (field, op) = (field.to_ascii_lowercase(), op.to_ascii_lowercase());
        match (field.as_str(), op.as_str()) {
            ("createddatetime", _) => {
                let t = instant(value)
                    .ok_or_else(|| g.bad(&format!("'{}' is not a date and time (RFC 3339).", ward_core::validate::clip(value))))?;
                match op.as_str() {
                    "ge" => q.since = Some(t),
                    "gt" => q.since = Some(t + time::Duration::MICROSECOND),
                    "le" => q.until = Some(t),
                    "lt" => q.until = Some(t - time::Duration::MICROSECOND),
                    _ => return Err(unsupported()),
                }
            }
            ("userid", "eq") => {
                let v = literal(value).ok_or_else(unsupported)?;
                q.user_id = Some(v.parse().map_err(|_| g.bad(&format!("Invalid object identifier '{}'.", ward_core::validate::clip(&v))))?);
            }
            ("appid", "eq") => {
                let v = literal(value).ok_or_else(unsupported)?;
                q.app_id =
                    Some(v.parse().map_err(|_| g.bad(&format!("Invalid application identifier '{}'.", ward_core::validate::clip(&v))))?);
            }
            ("status/errorcode", "eq") => q.error_code = Some(value.trim().parse().map_err(|_| unsupported())?),
            ("status/errorcode", "ne") if value.trim() == "0" => q.succeeded = Some(false),
            ("conditionalaccessstatus", "eq") => {
                let v = literal(value).ok_or_else(unsupported)?;
                if !matches!(v.as_str(), "success" | "failure" | "notApplied") {
                    return Err(g.bad("conditionalAccessStatus is success, failure or notApplied."));
                }
                q.conditional_access_status = Some(v);
            }
            _ => return Err(unsupported()),
        }
    }
    Ok(())
}

async fn list(g: Graph, RawQuery(raw): RawQuery) -> Response {
    attempt!(g.require(Op::ReadAudit).await);
    let options = attempt!(ward_odata::split_query(raw.as_deref()).map_err(|e| super::list::odata_error(&g, e)));
    if options.select.is_some() || options.orderby.is_some() || options.search.is_some() || options.count.is_some() {
        return unsupported_with(&g, SUPPORTED);
    }
    let top = match options.top.as_deref() {
        None => 100,
        Some(t) => match t.parse::<u32>() {
            Ok(n) if (1..=999).contains(&n) => n,
            _ => {
                return g.bad(&format!(
                    "Invalid page size specified: '{}'. Must be between 1 and 999 inclusive.",
                    ward_core::validate::clip(t)
                ));
            }
        },
    };
    let mut q = SignInQuery { limit: top + 1, ..Default::default() };
    if let Some(f) = &options.filter {
        attempt!(filter(&g, f, &mut q));
    }
    let canonical = format!("{}|{}", options.filter.as_deref().unwrap_or(""), top);
    let key = g.state.keys.mac_key("graph skiptoken");
    let tenant = g.tenant().to_string();
    if let Some(token) = options.skiptoken.as_deref() {
        let position = token
            .split_once('.')
            .filter(|(p, mac)| key.verify(&[&tenant, "auditLogs/signIns", &canonical, p], mac))
            .and_then(|(p, _)| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| Some((v["at"].as_i64()?, v["id"].as_str()?.parse().ok()?)));
        match position {
            Some(p) => q.before = Some(p),
            None => return g.bad("The $skiptoken is not valid for this request."),
        }
    }
    let mut records = attempt!(g.state.tokens.sign_ins(g.tenant(), &q).await.map_err(|e| g.fail(&e.into())));
    let more = records.len() as u32 > top;
    records.truncate(top as usize);
    let mut body = json!({ "@odata.context": g.context("auditLogs/signIns"), "value": records });
    let position = records.last().and_then(|r| {
        let at = time::OffsetDateTime::parse(r["createdDateTime"].as_str()?, &time::format_description::well_known::Rfc3339).ok()?;
        Some(((at.unix_timestamp_nanos() / 1_000) as i64, r["id"].as_str()?.to_string()))
    });
    if more && let Some((at, id)) = position {
        let payload = URL_SAFE_NO_PAD.encode(json!({ "at": at, "id": id }).to_string());
        let token = format!("{payload}.{}", key.sign(&[&tenant, "auditLogs/signIns", &canonical, &payload]));
        let filter = options.filter.as_deref().map(|f| format!("$filter={}&", super::list::encode(f))).unwrap_or_default();
        body["@odata.nextLink"] =
            json!(format!("{}/v1.0/auditLogs/signIns?{filter}$top={top}&$skiptoken={}", g.state.public_url, super::list::encode(&token)));
    }
    Json(body).into_response()
}

async fn one(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::ReadAudit).await);
    let Ok(wanted) = id.parse::<uuid::Uuid>() else { return g.not_found(&id) };
    let q = SignInQuery { id: Some(wanted), limit: 1, ..Default::default() };
    let found = attempt!(g.state.tokens.sign_ins(g.tenant(), &q).await.map_err(|e| g.fail(&e.into())));
    match found.into_iter().next() {
        Some(mut v) => {
            v["@odata.context"] = json!(g.context("auditLogs/signIns/$entity"));
            Json(v).into_response()
        }
        None => g.not_found(&id),
    }
}
