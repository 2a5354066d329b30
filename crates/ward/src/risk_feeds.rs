//! Identity Protection's inputs from the administrator's files: the anonymizer and malicious
//! address feeds, the geolocation databases and the leaked-password list. Read at start (a bad
//! file stops start-up, naming the file and line), then watched: when a file changes (its size or
//! modification time) or on SIGHUP, everything is read again and swapped in whole; a bad file
//! then keeps what was loaded and says why in the log.

use crate::config::Config;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use ward_risk::{CidrSet, Feeds, GeoIp, LeakedPasswords};

/// Everything loaded from the files, ready to swap in.
pub struct Loaded {
    pub feeds: Arc<Feeds>,
    pub geo: Option<Arc<GeoIp>>,
}

/// The leaked-password list (also what the command line refuses new passwords against).
pub fn leaked_passwords(path: &Path) -> Result<LeakedPasswords> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read leaked_passwords_file {}", path.display()))?;
    LeakedPasswords::parse(&text).map_err(|e| anyhow::anyhow!("leaked_passwords_file {}: {e}", path.display()))
}

fn cidrs(key: &str, path: &Option<PathBuf>) -> Result<CidrSet> {
    let Some(path) = path else { return Ok(CidrSet::default()) };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {key} {}", path.display()))?;
    CidrSet::parse(&text).map_err(|e| anyhow::anyhow!("{key} {}: {e}", path.display()))
}

pub fn load(config: &Config) -> Result<Loaded> {
    let leaked = match &config.leaked_passwords_file {
        Some(path) => leaked_passwords(path)?,
        None => LeakedPasswords::default(),
    };
    let feeds = Feeds {
        anonymous_ips: cidrs("anonymous_ips_file", &config.anonymous_ips_file)?,
        malicious_ips: cidrs("malicious_ips_file", &config.malicious_ips_file)?,
        leaked_passwords: Arc::new(leaked),
    };
    let geo = if config.geoip_files.is_empty() {
        None
    } else {
        let mut dbs = Vec::new();
        for path in &config.geoip_files {
            let len = std::fs::metadata(path).with_context(|| format!("cannot read geoip file {}", path.display()))?.len();
            if len > ward_risk::geoip::MAX_DATABASE_BYTES as u64 {
                anyhow::bail!("geoip file {} is larger than 1 GiB", path.display());
            }
            let bytes = std::fs::read(path).with_context(|| format!("cannot read geoip file {}", path.display()))?;
            dbs.push((path.display().to_string(), bytes));
        }
        let geo = GeoIp::from_databases(dbs).map_err(|e| anyhow::anyhow!("geoip file: {e}"))?;
        geo.verify().map_err(|e| anyhow::anyhow!("geoip file: {e}"))?;
        Some(Arc::new(geo))
    };
    Ok(Loaded { feeds: Arc::new(feeds), geo })
}

/// Puts what was loaded to use: the detectors' feeds and geolocation, and the list new
/// passwords are checked against.
pub fn install(loaded: Loaded, tokens: &ward_auth::TokenService, directory: &ward_directory::Directory, config: &Config) {
    let f = &loaded.feeds;
    tracing::info!(
        anonymous_ranges = f.anonymous_ips.range_count(),
        malicious_ranges = f.malicious_ips.range_count(),
        leaked_passwords = f.leaked_passwords.len(),
        geoip_databases = loaded.geo.as_ref().map_or(0, |g| g.database_count()),
        "Identity Protection feeds loaded"
    );
    directory.set_leaked_passwords(config.leaked_passwords_file.is_some().then(|| f.leaked_passwords.clone()));
    tokens.set_risk_feeds(loaded.feeds);
    tokens.set_geoip(loaded.geo);
}

/// What identifies the files' current contents cheaply: size and modification time of each.
fn stamps(config: &Config) -> Vec<Option<(u64, SystemTime)>> {
    let paths = [&config.leaked_passwords_file, &config.anonymous_ips_file, &config.malicious_ips_file];
    paths
        .into_iter()
        .flatten()
        .chain(&config.geoip_files)
        .map(|p| std::fs::metadata(p).ok().and_then(|m| Some((m.len(), m.modified().ok()?))))
        .collect()
}

/// Reloads when the files change (checked every `risk_feeds_reload_seconds`) or on SIGHUP.
pub async fn watch(config: Config, tokens: Arc<ward_auth::TokenService>, directory: Arc<ward_directory::Directory>) {
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP: feeds reload on change only");
            None
        }
    };
    let every = (config.risk_feeds_reload_seconds > 0).then(|| Duration::from_secs(config.risk_feeds_reload_seconds));
    let mut seen = stamps(&config);
    loop {
        let forced = tokio::select! {
            _ = async { match every { Some(d) => tokio::time::sleep(d).await, None => std::future::pending().await } } => false,
            _ = async { match hangup.as_mut() { Some(h) => { h.recv().await; }, None => std::future::pending::<()>().await } } => true,
        };
        let now = stamps(&config);
        if !forced && now == seen {
            continue;
        }
        seen = now;
        // Reading a large MMDB takes a while: off the async workers.
        let cfg = config.clone();
        match tokio::task::spawn_blocking(move || load(&cfg)).await {
            Ok(Ok(loaded)) => install(loaded, &tokens, &directory, &config),
            Ok(Err(e)) => {
                tracing::error!(error = %format!("{e:#}"), "reloading Identity Protection feeds failed: the previous ones stay in use")
            }
            Err(e) => tracing::error!(error = %e, "reloading Identity Protection feeds failed"),
        }
    }
}
