//! The layers every request passes through, outermost first: panic catching, request id,
//! access log and metrics, security headers, timeout, body limit.

use crate::client_ip::{peer, resolve};
use crate::error::graph_error;
use crate::{AppState, Limits};
use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// The server-assigned id of a request, echoed as `request-id` and written in every log line.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub fn apply(app: Router, state: AppState, limits: Limits) -> Router {
    app.layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout))
        .layer(middleware::from_fn_with_state(
            PerRequest { trusted: state.trusted_proxies.clone(), rate_limit: state.rate_limit.clone() },
            around,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// A client may send `client-request-id` to correlate; it is echoed only when it looks like an id.
fn acceptable_client_id(v: &HeaderValue) -> Option<HeaderValue> {
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')).then(|| v.clone())
}

/// Every request, in one layer (each `from_fn` layer costs a boxed service clone per request):
/// a request id, then the access log and metrics, then the security headers.
/// What the per-request layer needs (two `Arc`s, not the whole state).
#[derive(Clone)]
struct PerRequest {
    trusted: std::sync::Arc<Vec<ipnet::IpNet>>,
    rate_limit: std::sync::Arc<crate::rate_limit::RateLimiter>,
}

async fn around(State(per): State<PerRequest>, mut request: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    let client_id = request.headers().get("client-request-id").and_then(acceptable_client_id);
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = observe(&per, request, next).await;
    security_headers(&mut response);
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(HeaderName::from_static("request-id"), v.clone());
        headers.insert(HeaderName::from_static("client-request-id"), client_id.unwrap_or(v));
    }
    response
}

/// One access-log line and two metrics per request. Never logs query strings or bodies: they can
/// carry secrets.
async fn observe(per: &PerRequest, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let path = request.uri().path().to_string();
    let request_id = request.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
    let client = peer(request.extensions()).map(|ip| resolve(ip, request.headers(), &per.trusted));
    // The per-address limit, on the routes that need it (one layer for everything: each extra
    // layer costs a boxed service clone per request).
    let limited = match client {
        Some(ip) if crate::rate_limit::is_limited(&method, &route) => per.rate_limit.take(ip, Instant::now()).err().map(|wait| (ip, wait)),
        _ => None,
    };
    let response = match limited {
        Some((ip, wait)) => crate::rate_limit::too_many(ip, wait),
        None => next.run(request).await,
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    metrics::counter!("ward_http_requests_total", "method" => method.to_string(), "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("ward_http_request_duration_seconds", "method" => method.to_string(), "route" => route)
        .record(elapsed.as_secs_f64());
    tracing::info!(
        request_id,
        client_ip = client.map(|c| c.to_string()).unwrap_or_default(),
        %method,
        path,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    response
}

fn security_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
}

fn panic_response(_err: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a request handler panicked");
    graph_error(StatusCode::INTERNAL_SERVER_ERROR, "generalException", "internal", "An internal error occurred.", "").into_response()
}
