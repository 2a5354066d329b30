//! `ward serve`: open (and if empty, initialize) the store, bind, serve until SIGTERM or SIGINT,
//! then drain in-flight requests. Background jobs: purge of deleted items past 30 days and of
//! expired sign-in state, signing-key rotation.

use crate::cli::{open_directory_with, open_keyring, print_init};
use crate::config::Config;
use anyhow::{Context, Result};
use axum::extract::ConnectInfo;
use clap::Args;
use ipnet::IpNet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use ward_core::DirectoryError;
use ward_directory::{Directory, InitRequest};
use ward_http::{AppState, Limits};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is logged).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// The URL people and clients use to reach Ward.
    #[arg(long)]
    public_url: Option<String>,
    /// PEM certificate chain: serve HTTPS.
    #[arg(long)]
    tls_cert: Option<std::path::PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long)]
    tls_key: Option<std::path::PathBuf>,
    /// A proxy whose X-Forwarded-For / Forwarded headers are believed (CIDR or address; repeatable).
    #[arg(long = "trusted-proxy")]
    trusted_proxies: Vec<IpNet>,
    /// Name of the first tenant, when the store is empty.
    #[arg(long)]
    tenant_name: Option<String>,
}

impl ServeArgs {
    pub fn flags(&self, flags: &mut serde_json::Map<String, serde_json::Value>) {
        if let Some(v) = self.listen {
            flags.insert("listen".into(), v.to_string().into());
        }
        if let Some(v) = &self.public_url {
            flags.insert("public_url".into(), v.clone().into());
        }
        if let Some(v) = &self.tls_cert {
            flags.insert("tls_cert".into(), v.display().to_string().into());
        }
        if let Some(v) = &self.tls_key {
            flags.insert("tls_key".into(), v.display().to_string().into());
        }
        if !self.trusted_proxies.is_empty() {
            flags.insert("trusted_proxies".into(), self.trusted_proxies.iter().map(|n| n.to_string()).collect::<Vec<_>>().into());
        }
        if let Some(v) = &self.tenant_name {
            flags.insert("tenant_name".into(), v.clone().into());
        }
    }
}

pub async fn run(config: Config) -> Result<()> {
    let started = std::time::Instant::now();
    let directory = open_directory_with(&config, false).await?;
    let listener = TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let bound = listener.local_addr()?;
    let public_url = config.public_url(Some(bound));

    if directory.tenants().await?.is_empty() {
        match directory.initialize(InitRequest { tenant_name: config.tenant_name.clone() }).await {
            Ok(outcome) => print_init(&outcome, &public_url, false)?,
            // Another node initialized the shared store first: nothing to print here.
            Err(DirectoryError::AlreadyInitialized(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }

    let keys = open_keyring(&config, &directory).await?;
    // Stores initialized before Ward's API was a resource get it now.
    for tenant in directory.tenants().await? {
        directory.ensure_builtin_resource(tenant.id).await?;
    }
    let fido_metadata = match &config.fido_metadata_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read fido_metadata_file {}", path.display()))?;
            let parsed = ward_auth::passkeys::Fido2Metadata::parse(&text)
                .map_err(|e| anyhow::anyhow!("fido_metadata_file {}: {e}", path.display()))?;
            tracing::info!(models = parsed.entries.len(), "FIDO metadata loaded");
            Some(Arc::new(parsed))
        }
        None => None,
    };
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().context("installing the metrics recorder")?;
    metrics::gauge!("ward_build_info", "version" => env!("CARGO_PKG_VERSION"), "store" => directory.store().backend()).set(1.0);
    let tokens = Arc::new(
        ward_auth::TokenService::new(directory.clone(), keys.clone(), &public_url)
            .with_fido_metadata(fido_metadata)
            .with_risk_settings(config.risk_settings()),
    );
    // Identity Protection's feeds: a bad file stops start-up; later changes are picked up.
    crate::risk_feeds::install(crate::risk_feeds::load(&config)?, &tokens, &directory, &config);
    let feeds = tokio::spawn(crate::risk_feeds::watch(config.clone(), tokens.clone(), directory.clone()));
    let state = AppState {
        directory: directory.clone(),
        keys: keys.clone(),
        tokens: tokens.clone(),
        trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        public_url: public_url.clone().into(),
        metrics: Some(metrics),
        rate_limit: Arc::new(ward_http::rate_limit::RateLimiter::new(config.auth_rate_limit)),
        graph_throttle: Arc::new(ward_http::rate_limit::TokenBuckets::new(
            f64::from(config.graph_rate_limit),
            f64::from(config.graph_rate_limit) * 10.0,
        )),
        scim_group_names: Default::default(),
    };
    let limits = Limits { max_body_bytes: config.max_body_bytes, request_timeout: Duration::from_secs(config.request_timeout_seconds) };
    let app = ward_http::router(state, limits);

    let jobs = tokio::spawn(hourly_jobs(directory.clone(), keys));
    let scans = tokio::spawn(offline_risk_scans(directory.clone(), tokens.clone(), config.risk_offline_scan_minutes));
    let shutdown = shutdown_signal();
    tracing::info!(
        address = %bound,
        public_url,
        store = %config.store_location()?.describe(),
        tls = config.tls_cert.is_some(),
        startup_ms = started.elapsed().as_millis() as u64,
        "listening"
    );
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            let acceptor = crate::tls::acceptor(cert, key)?;
            crate::tls::serve(listener, acceptor, app, shutdown, grace).await?;
        }
        _ => {
            let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(shutdown);
            server.await.context("serving HTTP")?;
        }
    }
    jobs.abort();
    feeds.abort();
    scans.abort();
    // Sign-in records and profile updates still queued are stored before the process ends.
    tokens.flush_sign_in_log().await;
    tokens.flush_sign_in_profiles().await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM (orchestrators) or SIGINT (Ctrl-C). The handlers are installed when this is called,
/// not when the future is first polled: it is called before "listening" is announced, so a
/// signal sent as soon as the server says it listens drains it instead of killing the process
/// (seen as a test's SIGTERM right after start-up, under load).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = [SignalKind::terminate(), SignalKind::interrupt()].map(|kind| match signal(kind) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for a shutdown signal");
            None
        }
    });
    async move {
        let [term, int] = handlers;
        let wait = |s: Option<tokio::signal::unix::Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! { _ = wait(term) => {}, _ = wait(int) => {} }
        tracing::info!("shutting down: draining in-flight requests");
    }
}

/// At start and hourly: purge deleted items older than 30 days; rotate signing keys past their
/// age. Safe on many nodes at once.
async fn hourly_jobs(directory: Arc<Directory>, keys: Arc<ward_auth::KeyRing>) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        match keys.rotate_due(ward_auth::keyring::ROTATION_AGE).await {
            Ok(rotated) if rotated.is_empty() => {}
            Ok(rotated) => tracing::info!(?rotated, "scheduled signing-key rotation"),
            Err(e) => tracing::warn!(error = %e, "scheduled signing-key rotation failed; will retry"),
        }
        match directory.purge_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged deleted items past the 30-day window"),
            Err(e) => tracing::warn!(error = %e, "purge of deleted items failed; will retry"),
        }
        // Expired sessions, codes, refresh tokens and grants: kept a day past expiry for support.
        match directory.store().purge_expired_auth(directory.now() - time::Duration::days(1)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged expired sessions and grants"),
            Err(e) => tracing::warn!(error = %e, "purge of expired sessions failed; will retry"),
        }
    }
}

/// Every `minutes`: Identity Protection's offline detectors over the sign-ins recorded since the
/// last pass, with ten minutes of overlap; the first pass, a minute after start, reads the last
/// day (what happened while this node was down; findings already stored, by any node, are not
/// stored again).
async fn offline_risk_scans(directory: Arc<Directory>, tokens: Arc<ward_auth::TokenService>, minutes: u64) {
    if minutes == 0 {
        return;
    }
    let period = Duration::from_secs(minutes * 60);
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(60), period);
    let mut since = directory.now() - time::Duration::days(1);
    loop {
        every.tick().await;
        let until = directory.now();
        let feeds = tokens.risk().feeds();
        match ward_auth::risk_offline::scan(&directory, tokens.risk().settings(), &feeds, since, until).await {
            Ok(r) => {
                if r.stored > 0 || r.decayed > 0 {
                    tracing::info!(records = r.records, stored = r.stored, decayed = r.decayed, "offline risk pass");
                }
                // A tenant that failed keeps the window open: the next pass reads it again (what
                // the others stored is not stored twice).
                if r.failed_tenants == 0 {
                    since = until - time::Duration::minutes(10);
                }
            }
            Err(e) => tracing::warn!(error = %e, "offline risk pass failed; the next pass covers this window too"),
        }
    }
}

/// Makes the peer address available to handlers on connections we accept ourselves (TLS).
pub fn with_peer<B>(peer: SocketAddr) -> impl Fn(axum::http::Request<B>) -> axum::http::Request<B> + Clone {
    move |mut req| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    }
}
