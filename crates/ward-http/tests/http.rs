//! The router in process (`tower::ServiceExt::oneshot`), no sockets.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;
use ward_directory::{Directory, InitRequest};
use ward_http::{AppState, ClientIp, Limits};

async fn state(tenant_name: &str) -> (AppState, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let store =
        ward_store::open(&ward_store::StoreLocation::Sqlite(tmp.path().join("ward.db")), time::OffsetDateTime::now_utc()).await.unwrap();
    let directory = Arc::new(Directory::system(store.clone()));
    let kek = ward_auth::Kek::from_base64(&ward_auth::Kek::generate_base64().unwrap()).unwrap();
    let keys = Arc::new(ward_auth::KeyRing::open(store, kek, Arc::new(ward_directory::SystemClock)).await.unwrap());
    let tokens = Arc::new(ward_auth::TokenService::new(directory.clone(), keys.clone(), "http://localhost:8080"));
    directory.initialize(InitRequest { tenant_name: tenant_name.into() }).await.unwrap();
    let state = AppState {
        directory,
        keys,
        tokens,
        trusted_proxies: Arc::new(vec!["10.0.0.0/8".parse().unwrap()]),
        public_url: "http://localhost:8080".into(),
        metrics: None,
        rate_limit: Arc::new(ward_http::rate_limit::RateLimiter::new(0)),
        graph_throttle: Arc::new(ward_http::rate_limit::TokenBuckets::new(0.0, 0.0)),
        scim_group_names: Default::default(),
    };
    (state, tmp)
}

fn app(state: AppState, peer: &str) -> Router {
    ward_http::router(state, Limits::default()).layer(MockConnectInfo(peer.parse::<SocketAddr>().unwrap()))
}

async fn body_text(response: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn health_and_readiness() {
    let (state, _tmp) = state("Contoso").await;
    let r = app(state.clone(), "127.0.0.1:1").oneshot(Request::get("/healthz").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body_text(r).await, "ok\n");
    let r = app(state, "127.0.0.1:1").oneshot(Request::get("/readyz").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&body_text(r).await).unwrap();
    assert_eq!(json["store"], "sqlite");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_security_headers() {
    let (state, _tmp) = state("Contoso").await;
    let req = Request::get("/healthz").header("client-request-id", "abc-123").body(Body::empty()).unwrap();
    let r = app(state.clone(), "127.0.0.1:1").oneshot(req).await.unwrap();
    let id = r.headers()["request-id"].to_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    assert_eq!(r.headers()["client-request-id"], "abc-123");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    // A hostile correlation id is not echoed back.
    let req = Request::get("/healthz").header("client-request-id", "<script>alert(1)</script>").body(Body::empty()).unwrap();
    let r = app(state, "127.0.0.1:1").oneshot(req).await.unwrap();
    assert_eq!(r.headers()["client-request-id"], r.headers()["request-id"]);
}

#[tokio::test]
async fn unknown_paths_answer_in_graphs_error_envelope() {
    let (state, _tmp) = state("Contoso").await;
    let r = app(state, "127.0.0.1:1").oneshot(Request::get("/nothing/here").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let request_id = r.headers()["request-id"].to_str().unwrap().to_string();
    let json: serde_json::Value = serde_json::from_str(&body_text(r).await).unwrap();
    assert_eq!(json["error"]["code"], "Request_ResourceNotFound");
    assert_eq!(json["error"]["innerError"]["request-id"], request_id.as_str());
    assert!(json["error"]["innerError"]["date"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let (state, _tmp) = state("Contoso").await;
    let limits = Limits { max_body_bytes: 1024, ..Limits::default() };
    let app = ward_http::router(state, limits).layer(MockConnectInfo("127.0.0.1:1".parse::<SocketAddr>().unwrap()));
    let req = Request::post("/healthz").header("content-length", "4096").body(Body::from(vec![b'x'; 4096])).unwrap();
    let r = app.oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// A router of probe routes under Ward's per-request layer.
fn probes(state: AppState, limits: Limits) -> Router {
    let app = Router::new()
        .route(
            "/boom",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("a handler bug");
                }
                "unreachable"
            }),
        )
        .route("/slow", get(|| async { tokio::time::sleep(std::time::Duration::from_secs(30)).await }))
        .route("/echo", axum::routing::post(|body: String| async move { body.len().to_string() }));
    ward_http::with_request_layer(app, state, limits).layer(MockConnectInfo("127.0.0.1:1".parse::<SocketAddr>().unwrap()))
}

#[tokio::test]
async fn a_panicking_handler_answers_500_in_graphs_envelope_with_its_request_id() {
    let (state, _tmp) = state("Contoso").await;
    let r = probes(state, Limits::default()).oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let request_id = r.headers()["request-id"].to_str().unwrap().to_string();
    let json: serde_json::Value = serde_json::from_str(&body_text(r).await).unwrap();
    assert_eq!(json["error"]["code"], "generalException");
    assert_eq!(json["error"]["innerError"]["request-id"], request_id.as_str());
    assert!(!json.to_string().contains("a handler bug"), "the panic message stays in the server: {json}");
}

#[tokio::test]
async fn a_handler_past_the_timeout_answers_408() {
    let (state, _tmp) = state("Contoso").await;
    let limits = Limits { request_timeout: std::time::Duration::from_millis(50), ..Limits::default() };
    let r = probes(state, limits).oneshot(Request::get("/slow").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(r.headers().contains_key("request-id"));
}

#[tokio::test]
async fn a_body_without_content_length_is_counted_as_it_arrives() {
    let (state, _tmp) = state("Contoso").await;
    let limits = Limits { max_body_bytes: 1024, ..Limits::default() };
    // No Content-Length header: the limit must be applied while reading.
    let r = probes(state.clone(), limits).oneshot(Request::post("/echo").body(Body::from(vec![b'x'; 4096])).unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = probes(state.clone(), limits).oneshot(Request::post("/echo").body(Body::from(vec![b'x'; 1000])).unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body_text(r).await, "1000");
    // A declared length over the limit is refused before the body is read.
    let req = Request::post("/echo").header("content-length", "4096").body(Body::from(vec![b'x'; 4096])).unwrap();
    let r = probes(state, limits).oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let json: serde_json::Value = serde_json::from_str(&body_text(r).await).unwrap();
    assert_eq!(json["error"]["code"], "requestBodyTooLarge");
}

#[tokio::test]
async fn the_start_page_escapes_what_it_shows() {
    let (state, _tmp) = state("Contoso <script>alert(1)</script>").await;
    let r = app(state, "127.0.0.1:1").oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
    let html = body_text(r).await;
    assert!(html.contains("Contoso &lt;script&gt;"), "{html}");
    assert!(!html.contains("<script>"));
    assert!(html.contains("http://localhost:8080/"));
    assert!(html.contains("contososcriptalert1script.ward.local"));
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().unwrap();
    let (mut state, _tmp) = state("Contoso").await;
    state.metrics = Some(recorder);
    app(state.clone(), "127.0.0.1:1").oneshot(Request::get("/healthz").body(Body::empty()).unwrap()).await.unwrap();
    let r = app(state, "127.0.0.1:1").oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    let text = body_text(r).await;
    assert!(text.contains(r#"ward_http_requests_total{method="GET",route="/healthz",status="200"} 1"#), "{text}");
    assert!(text.contains("ward_http_request_duration_seconds"));
}

async fn echo_ip(ClientIp(ip): ClientIp, State(_): State<AppState>) -> String {
    ip.to_string()
}

async fn client_ip_of(state: &AppState, peer: &str, xff: Option<&str>) -> String {
    let probe =
        Router::new().route("/ip", get(echo_ip)).with_state(state.clone()).layer(MockConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    let mut req = Request::get("/ip");
    if let Some(v) = xff {
        req = req.header("x-forwarded-for", v);
    }
    body_text(probe.oneshot(req.body(Body::empty()).unwrap()).await.unwrap()).await
}

#[tokio::test]
async fn the_client_ip_extractor_believes_only_trusted_proxies() {
    let (state, _tmp) = state("Contoso").await;
    assert_eq!(client_ip_of(&state, "10.1.2.3:5000", Some("198.51.100.7")).await, "198.51.100.7");
    assert_eq!(client_ip_of(&state, "10.1.2.3:5000", Some("1.1.1.1, 198.51.100.7")).await, "198.51.100.7");
    assert_eq!(client_ip_of(&state, "203.0.113.5:5000", Some("198.51.100.7")).await, "203.0.113.5");
    assert_eq!(client_ip_of(&state, "10.1.2.3:5000", None).await, "10.1.2.3");
}

#[tokio::test]
async fn jwks_is_served_per_tenant_by_id_or_domain() {
    let (state, _tmp) = state("Contoso").await;
    let tenant = state.directory.default_tenant().await.unwrap().id;
    let mut sets = Vec::new();
    for path in
        ["/discovery/v2.0/keys".to_string(), format!("/{tenant}/discovery/v2.0/keys"), "/contoso.ward.local/discovery/v2.0/keys".into()]
    {
        let r = app(state.clone(), "127.0.0.1:1").oneshot(Request::get(&path).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let set: serde_json::Value = serde_json::from_str(&body_text(r).await).unwrap();
        assert_eq!(set["keys"].as_array().unwrap().len(), 3);
        sets.push(set);
    }
    assert!(sets.windows(2).all(|w| w[0] == w[1]));
    let r = app(state, "127.0.0.1:1")
        .oneshot(Request::get("/fabrikam.example/discovery/v2.0/keys").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let err: serde_json::Value = serde_json::from_str(&body_text(r).await).unwrap();
    assert_eq!(err["error"], "invalid_tenant");
}
