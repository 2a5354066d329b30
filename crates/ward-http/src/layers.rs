//! What every request passes through, in one layer: a request id, the access log and metrics,
//! the per-address rate limit on the routes that need it, the body limit, the timeout, panic
//! catching, and the security headers. One layer on purpose: each `from_fn` or tower layer costs a
//! boxed service clone or another nested future per request, and the token endpoint counts them.

use crate::client_ip::{peer, resolve};
use crate::error::graph_error;
use crate::{AppState, Limits};
use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use futures_util::FutureExt;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// The server-assigned id of a request, echoed as `request-id` and written in every log line.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub fn apply(app: Router, state: AppState, limits: Limits) -> Router {
    let per = PerRequest {
        trusted: state.trusted_proxies.clone(),
        rate_limit: state.rate_limit.clone(),
        max_body_bytes: limits.max_body_bytes,
        timeout: limits.request_timeout,
    };
    app.layer(middleware::from_fn_with_state(per, around))
}

/// What the per-request layer needs (two `Arc`s and the limits, not the whole state).
#[derive(Clone)]
struct PerRequest {
    trusted: Arc<Vec<ipnet::IpNet>>,
    rate_limit: Arc<crate::rate_limit::RateLimiter>,
    max_body_bytes: usize,
    timeout: Duration,
}

/// A client may send `client-request-id` to correlate; it is echoed only when it looks like an id.
fn acceptable_client_id(v: &HeaderValue) -> Option<HeaderValue> {
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')).then(|| v.clone())
}

async fn around(State(per): State<PerRequest>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut id_text = [0u8; 36];
    let id_text: &str = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut id_text);
    let id = HeaderValue::from_str(id_text).expect("a UUID is a header value");
    let client_id = request.headers().get("client-request-id").and_then(acceptable_client_id);
    request.extensions_mut().insert(RequestId(id_text.to_string()));

    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| intern(p.as_str()));
    let client = peer(request.extensions()).map(|ip| resolve(ip, request.headers(), &per.trusted));
    // Access logs never carry query strings or bodies: they can carry secrets.
    let path = tracing::enabled!(tracing::Level::INFO).then(|| request.uri().path().to_string());

    let limited = match client {
        Some(ip) if crate::rate_limit::is_limited(&method, route) => per.rate_limit.take(ip, Instant::now()).err().map(|wait| (ip, wait)),
        _ => None,
    };
    let mut response = match limited {
        Some((ip, wait)) => crate::rate_limit::too_many(ip, wait),
        None => {
            let headers = request.headers();
            let agent = headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string);
            let device = device_token(headers);
            ward_auth::signin::from_source(client, id_text, agent.as_deref(), device.as_deref(), handle(&per, request, next, id_text)).await
        }
    };

    let status = response.status();
    let elapsed = started.elapsed();
    metrics::counter!("ward_http_requests_total", "method" => method_label(&method), "route" => route, "status" => status_label(status))
        .increment(1);
    metrics::histogram!("ward_http_request_duration_seconds", "method" => method_label(&method), "route" => route)
        .record(elapsed.as_secs_f64());
    if let Some(path) = path {
        tracing::info!(
            request_id = id_text,
            client_ip = client.map(|c| c.to_string()).unwrap_or_default(),
            %method,
            path,
            status = status.as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    }

    security_headers(&mut response);
    let headers = response.headers_mut();
    headers.insert(HeaderName::from_static("client-request-id"), client_id.unwrap_or_else(|| id.clone()));
    headers.insert(HeaderName::from_static("request-id"), id);
    response
}

tokio::task_local! {
    /// The id of the request being handled, for pages that show it (error pages' correlation id).
    static REQUEST_ID: String;
}

/// The current request's id, when called while handling one.
pub(crate) fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// The most of an over-limit body read (and dropped) after answering 413, and for how long.
const DRAIN_MAX: u64 = 16 * 1024 * 1024;
const DRAIN_FOR: Duration = Duration::from_secs(5);

/// The body limit, the timeout and panic catching around the handler.
async fn handle(per: &PerRequest, mut request: Request, next: Next, request_id: &str) -> Response {
    // SCIM clients get SCIM's error shape (RFC 7644 §3.12), everyone else Graph's.
    let scim = request.uri().path().starts_with("/scim/");
    let too_large = || {
        if scim {
            return crate::scim::error_response(&ward_scim::ScimError::payload_too_large(format!(
                "the request body is larger than {} bytes",
                per.max_body_bytes
            )));
        }
        graph_error(StatusCode::PAYLOAD_TOO_LARGE, "requestBodyTooLarge", "payload_too_large", "The request body is too large.", request_id)
    };
    match request.headers().get(header::CONTENT_LENGTH).map(|v| v.to_str().ok().and_then(|s| s.parse::<u64>().ok())) {
        // The declared length is what hyper delivers, no more: nothing to wrap.
        Some(Some(len)) if len <= per.max_body_bytes as u64 => {}
        Some(Some(len)) => {
            // Read and drop a body up to a few times the limit while the 413 goes out (a lingering
            // close), so a client still writing it gets the answer rather than a broken pipe.
            if len <= DRAIN_MAX {
                let body = request.into_body();
                tokio::spawn(async move {
                    let mut body = body.into_data_stream();
                    let drain = async { while let Some(Ok(_)) = futures_util::StreamExt::next(&mut body).await {} };
                    let _ = tokio::time::timeout(DRAIN_FOR, drain).await;
                });
            }
            return too_large();
        }
        Some(None) => {
            return graph_error(StatusCode::BAD_REQUEST, "BadRequest", "invalid_request", "Content-Length is not a number.", request_id);
        }
        // Chunked: counted as it arrives; extractors answer 413 past the limit.
        None => request = request.map(|body| Body::new(http_body_util::Limited::new(body, per.max_body_bytes))),
    }
    let run = REQUEST_ID.scope(request_id.to_string(), AssertUnwindSafe(next.run(request)).catch_unwind());
    match tokio::time::timeout(per.timeout, run).await {
        Ok(Ok(response)) => response,
        Ok(Err(_panic)) => {
            tracing::error!(request_id, "a request handler panicked");
            if scim {
                return crate::scim::error_response(&ward_scim::ScimError::new(
                    500,
                    None,
                    format!("an internal error occurred (request id {request_id})"),
                ));
            }
            graph_error(StatusCode::INTERNAL_SERVER_ERROR, "generalException", "internal", "An internal error occurred.", request_id)
        }
        Err(_elapsed) if scim => crate::scim::error_response(&ward_scim::ScimError::new(408, None, "the request took too long")),
        Err(_elapsed) => graph_error(StatusCode::REQUEST_TIMEOUT, "timeout", "timeout", "The request took too long.", request_id),
    }
}

/// Route templates as `'static` metric labels: the router's templates are a fixed, small set.
fn intern(route: &str) -> &'static str {
    static ROUTES: OnceLock<RwLock<HashMap<Box<str>, &'static str>>> = OnceLock::new();
    let routes = ROUTES.get_or_init(Default::default);
    if let Some(r) = routes.read().unwrap_or_else(|e| e.into_inner()).get(route) {
        return r;
    }
    let mut w = routes.write().unwrap_or_else(|e| e.into_inner());
    w.entry(route.into()).or_insert_with(|| Box::leak(route.to_string().into_boxed_str()))
}

fn method_label(method: &Method) -> metrics::SharedString {
    match *method {
        Method::GET => "GET".into(),
        Method::POST => "POST".into(),
        Method::PATCH => "PATCH".into(),
        Method::PUT => "PUT".into(),
        Method::DELETE => "DELETE".into(),
        Method::HEAD => "HEAD".into(),
        Method::OPTIONS => "OPTIONS".into(),
        // Clients choose other methods' names: one label for all of them keeps the series bounded.
        _ => "other".into(),
    }
}

fn status_label(status: StatusCode) -> metrics::SharedString {
    match status.as_u16() {
        200 => "200".into(),
        201 => "201".into(),
        204 => "204".into(),
        302 => "302".into(),
        303 => "303".into(),
        400 => "400".into(),
        401 => "401".into(),
        403 => "403".into(),
        404 => "404".into(),
        429 => "429".into(),
        500 => "500".into(),
        other => other.to_string().into(),
    }
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

/// A device's proof of itself: header `X-Ward-Device` (apps), else cookie `ward_device` (browsers,
/// set by the device's agent). Verified, if at all, where conditional access reads it.
fn device_token(headers: &axum::http::HeaderMap) -> Option<String> {
    if let Some(v) = headers.get("x-ward-device").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_string());
    }
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == "ward_device")
        .map(|(_, value)| value.to_string())
}
