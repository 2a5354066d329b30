//! The organisation's branding of its sign-in pages, in Graph's shape:
//! `/organization/{id}/branding` (background colour, sign-in page text, username hint) and its
//! `bannerLogo` stream (PNG or JPEG).

use super::{Activity, Graph, attempt, no_content};
use crate::graph_authz::Op;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub fn routes() -> Router<crate::AppState> {
    Router::new()
        .route("/v1.0/organization/{id}/branding", get(read).patch(patch))
        .route("/v1.0/organization/{id}/branding/bannerLogo", get(read_logo).put(put_logo))
}

/// The caller's own organisation only: another tenant's id is not found.
fn own(g: &Graph, id: &str) -> Result<(), Response> {
    if id.eq_ignore_ascii_case(&g.tenant().to_string()) { Ok(()) } else { Err(g.not_found(id)) }
}

async fn read(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::ReadBranding).await);
    attempt!(own(&g, &id));
    Json(g.caller.tenant.settings.branding.to_json()).into_response()
}

async fn write(g: &Graph, change: impl FnOnce(&mut ward_core::tenant::Branding) -> Result<(), ward_core::DirectoryError>) -> Response {
    let tenant = attempt!(g.state.directory.resolve_tenant(&g.tenant().to_string()).await.map_err(|e| g.fail(&e)));
    let mut settings = tenant.settings.clone();
    if let Err(e) = change(&mut settings.branding) {
        return g.fail(&e);
    }
    let work = g.state.directory.set_tenant_settings(tenant.id, settings);
    match g.write(Activity("Policy", "Update organizational branding", "Update"), Some(tenant.id.to_string()), work).await {
        Ok(_) => no_content(),
        Err(r) => r,
    }
}

async fn patch(g: Graph, Path(id): Path<String>, body: Bytes) -> Response {
    attempt!(g.require(Op::WriteBranding).await);
    attempt!(own(&g, &id));
    let body = attempt!(g.object(&body));
    write(&g, |b| b.patch(&body)).await
}

async fn read_logo(g: Graph, Path(id): Path<String>) -> Response {
    attempt!(g.require(Op::ReadBranding).await);
    attempt!(own(&g, &id));
    let b = &g.caller.tenant.settings.branding;
    match (
        b.banner_logo.as_deref().and_then(|l| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, l).ok()),
        &b.banner_logo_type,
    ) {
        (Some(bytes), Some(kind)) => ([(header::CONTENT_TYPE, kind.clone())], bytes).into_response(),
        _ => g.not_found("bannerLogo"),
    }
}

/// `PUT …/bannerLogo` with the image as the body (`image/png` or `image/jpeg`).
async fn put_logo(g: Graph, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    attempt!(g.require(Op::WriteBranding).await);
    attempt!(own(&g, &id));
    let kind = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !kind.starts_with("image/") {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, g.bad("The logo must be sent as image/png or image/jpeg.")).into_response();
    }
    write(&g, |b| b.set_logo(&body)).await
}
