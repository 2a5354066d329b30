//! The OAuth 2.0 / OpenID Connect surface, Entra-shaped. So far: the JWK Set at
//! `/{tenant}/discovery/v2.0/keys` (and tenant-independent `/discovery/v2.0/keys`, as Entra's
//! `common` keys). Discovery, authorize and token arrive with their grants.

use crate::AppState;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use ward_core::ErrorCode;

pub fn routes() -> Router<AppState> {
    Router::new().route("/discovery/v2.0/keys", get(common_keys)).route("/{tenant}/discovery/v2.0/keys", get(tenant_keys))
}

/// OAuth's own error shape (RFC 6749 §5.2), which every endpoint here answers with.
pub fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(json!({ "error": error, "error_description": description }))).into_response()
}

async fn jwks(state: &AppState) -> Response {
    match state.keys.jwks().await {
        // Relying parties cache the set; a day-long overlap of retiring keys covers the hour.
        Ok(set) => ([(header::CACHE_CONTROL, "public, max-age=3600")], Json(set)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read signing keys");
            oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "The signing keys cannot be read right now.")
        }
    }
}

async fn common_keys(State(state): State<AppState>) -> Response {
    jwks(&state).await
}

async fn tenant_keys(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    match state.directory.resolve_tenant(&tenant).await {
        Ok(_) => jwks(&state).await,
        Err(e) if e.code() == ErrorCode::NotFound => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_tenant", &format!("Tenant '{}' not found.", ward_core::validate::clip(&tenant)))
        }
        Err(e) => {
            tracing::error!(error = %e, "tenant look-up failed");
            oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "The directory is unavailable.")
        }
    }
}
