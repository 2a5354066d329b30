//! Ward's HTTP surface: the router, the layers every request passes through (request id,
//! tracing, metrics, body limit, timeout, panic catching), the client-IP extractor, and the
//! mapping of errors to each protocol's envelope. Handlers stay thin: extract, authorize, call
//! one service, map the result.

pub mod client_ip;
mod device_pages;
pub mod error;
pub(crate) mod graph;
mod graph_apps;
mod graph_authz;
mod layers;
mod mfa_pages;
pub mod oauth;
pub mod oidc;
mod ops;
mod pages;
mod passkey_pages;
pub mod rate_limit;
pub mod scim;
mod signin_pages;

use axum::Router;
use ipnet::IpNet;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::time::Duration;
use ward_directory::Directory;

pub use client_ip::ClientIp;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub directory: Arc<Directory>,
    /// Token-signing keys (JWKS, and the signers of the token endpoint).
    pub keys: Arc<ward_auth::KeyRing>,
    pub tokens: Arc<ward_auth::TokenService>,
    /// Peers whose `X-Forwarded-For` / `Forwarded` headers are believed.
    pub trusted_proxies: Arc<Vec<IpNet>>,
    /// The externally visible base URL, e.g. `https://id.example.com` (no trailing slash).
    pub public_url: Arc<str>,
    pub metrics: Option<PrometheusHandle>,
    /// Per-address limit on the endpoints that check secrets and passwords.
    pub rate_limit: Arc<rate_limit::RateLimiter>,
    /// Graph throttling: resource units per application and tenant (Graph's own model).
    pub graph_throttle: Arc<rate_limit::TokenBuckets<(ward_core::TenantId, uuid::Uuid)>>,
    /// SCIM group creates and renames take this turn, so a name's uniqueness check and its write
    /// are not interleaved on this node (nodes of one store can still race; see docs/scim.md).
    pub scim_group_names: Arc<tokio::sync::Mutex<()>>,
}

/// Limits applied to every request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_body_bytes: 1024 * 1024, request_timeout: Duration::from_secs(30) }
    }
}

/// The one per-request layer (request id, access log and metrics, rate limit, body limit, timeout,
/// panic catching, security headers) over a router assembled elsewhere; `router` applies it to Ward's.
pub fn with_request_layer(app: Router, state: AppState, limits: Limits) -> Router {
    layers::apply(app, state, limits)
}

/// The whole application.
pub fn router(state: AppState, limits: Limits) -> Router {
    let app = Router::new()
        .merge(ops::routes())
        .merge(oauth::routes())
        .merge(oidc::routes())
        .merge(graph_apps::routes().route_layer(axum::middleware::from_fn_with_state(state.clone(), graph_apps::audit_writes)))
        .merge(graph::routes())
        .merge(scim::routes())
        .merge(oauth::limited_routes())
        .merge(oidc::limited_routes())
        .merge(mfa_pages::limited_routes())
        .merge(mfa_pages::routes())
        .merge(passkey_pages::limited_routes())
        .merge(passkey_pages::routes())
        .merge(pages::routes())
        .fallback(error::not_found)
        .with_state(state.clone());
    layers::apply(app, state, limits)
}
