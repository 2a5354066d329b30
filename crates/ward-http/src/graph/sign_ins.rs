//! `/v1.0/auditLogs/signIns`: the sign-in log, newest first, with the filters administrators and
//! SIEM connectors use (time range, user, app, status, conditional access status), paged with a
//! skip token bound to the query. Records of this node still queued are stored before reading.

use super::audit::{LogPaging, instant, literal, split_and, unsupported_with};
use super::{Graph, attempt};
use crate::graph_authz::Op;
use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use ward_core::sign_in_log::SignInQuery;

pub fn routes() -> Router<crate::AppState> {
    Router::new()
        .route("/v1.0/auditLogs/signIns", get(list))
        .route("/v1.0/auditLogs/signIns/confirmSafe", post(confirm_safe))
        .route("/v1.0/auditLogs/signIns/confirmCompromised", post(confirm_compromised))
        .route("/v1.0/auditLogs/signIns/{id}", get(one))
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
    let paging = attempt!(LogPaging::of(&g, &options, "auditLogs/signIns"));
    let mut q = SignInQuery { limit: paging.top + 1, before: paging.before, ..Default::default() };
    if let Some(f) = &options.filter {
        attempt!(filter(&g, f, &mut q));
    }
    let mut records = attempt!(g.state.tokens.sign_ins(g.tenant(), &q).await.map_err(|e| g.fail(&e.into())));
    let more = records.len() as u32 > paging.top;
    records.truncate(paging.top as usize);
    let position = records.last().and_then(|r| {
        let at = time::OffsetDateTime::parse(r["createdDateTime"].as_str()?, &time::format_description::well_known::Rfc3339).ok()?;
        Some(((at.unix_timestamp_nanos() / 1_000) as i64, r["id"].as_str()?.to_string()))
    });
    let mut body = json!({ "@odata.context": g.context("auditLogs/signIns"), "value": records });
    if more && let Some(last) = position {
        body["@odata.nextLink"] = json!(paging.next_link(&g, &options, last));
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

/// Graph's signIn `confirmSafe` and `confirmCompromised` with `{"requestIds": [...]}` (the ids of
/// user sign-ins in the log, 1 to 60): every one must be found, or nothing changes (`404`).
async fn confirm(g: Graph, body: axum::body::Bytes, safe: bool) -> Response {
    attempt!(g.require(Op::WriteSignInRisk).await);
    let b = attempt!(g.object(&body));
    let Some(serde_json::Value::Array(ids)) = b.get("requestIds") else {
        return g.bad("The body must have requestIds, a list of sign-in ids.");
    };
    if ids.is_empty() || ids.len() > ward_directory::risk::MAX_USERS_PER_ACTION {
        return g.bad(&format!("requestIds must name 1 to {} sign-ins.", ward_directory::risk::MAX_USERS_PER_ACTION));
    }
    let mut sign_ins = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(wanted) = id.as_str().and_then(|s| s.parse::<uuid::Uuid>().ok()) else {
            return g.bad("requestIds must be sign-in ids (GUIDs).");
        };
        let q = SignInQuery { id: Some(wanted), limit: 1, ..Default::default() };
        let found = attempt!(g.state.tokens.sign_ins(g.tenant(), &q).await.map_err(|e| g.fail(&e.into())));
        let Some(record) = found.into_iter().next() else { return g.not_found(&wanted.to_string()) };
        let Some(user) = record["userId"].as_str().and_then(|u| u.parse().ok()) else {
            return g.bad(&format!("The sign-in {wanted} is not a user's."));
        };
        // Its detections carry the request that checked the first factor (real time) or this
        // record's own (the offline pass).
        let requests = ["originalRequestId", "correlationId"].iter().filter_map(|k| record[*k].as_str()).map(str::to_string).collect();
        sign_ins.push((user, requests));
    }
    let (tenant, by, directory) = (g.tenant(), g.caller.user.as_ref().map(|u| u.id), g.state.directory.clone());
    let work = async move { directory.confirm_sign_ins(tenant, &sign_ins, safe, by).await };
    let activity = if safe {
        super::Activity("IdentityProtection", "Confirm sign-in safe", "Update")
    } else {
        super::Activity("IdentityProtection", "Confirm sign-in compromised", "Update")
    };
    match g.write(activity, None, work).await {
        Ok(()) => axum::http::StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

async fn confirm_safe(g: Graph, body: axum::body::Bytes) -> Response {
    confirm(g, body, true).await
}

async fn confirm_compromised(g: Graph, body: axum::body::Bytes) -> Response {
    confirm(g, body, false).await
}
