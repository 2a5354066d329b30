//! Errors on the wire. Directory errors become Graph's envelope
//! `{"error": {"code", "message", "innerError": {"request-id", "date"}}}` with Graph's codes and
//! statuses; Ward's own stable code rides along as `innerError.wardCode`. Internal errors carry a
//! generic message: the detail goes to the log with the request id.

use crate::layers::RequestId;
use axum::Json;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use ward_core::{DirectoryError, ErrorCode};

pub fn graph_error(status: StatusCode, graph_code: &str, ward_code: &str, message: &str, request_id: &str) -> Response {
    let date = OffsetDateTime::now_utc().replace_nanosecond(0).ok().and_then(|d| d.format(&Rfc3339).ok()).unwrap_or_default();
    let body = json!({
        "error": {
            "code": graph_code,
            "message": message,
            "innerError": { "date": date, "request-id": request_id, "client-request-id": request_id, "wardCode": ward_code },
        }
    });
    (status, Json(body)).into_response()
}

/// Maps a directory error to Graph's envelope.
pub fn directory_error(err: &DirectoryError, request_id: &str) -> Response {
    let code = err.code();
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match code {
        ErrorCode::Internal | ErrorCode::StorageUnavailable => {
            tracing::error!(request_id, error = %err, "request failed");
            "An internal error occurred. Quote the request id when reporting it.".to_string()
        }
        _ => err.to_string(),
    };
    graph_error(status, code.graph_code(), code.as_str(), &message, request_id)
}

pub async fn not_found(request: Request) -> Response {
    let id = request.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let path = ward_core::validate::clip(request.uri().path());
    graph_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", ErrorCode::NotFound.as_str(), &format!("No resource at '{path}'."), &id)
}
