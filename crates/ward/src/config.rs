//! Configuration, layered: built-in defaults → `ward.toml` → `WARD_*` environment → flags.
//! Any secret may instead come from a file named by `<key>_file` (`WARD_DATABASE_URL_FILE`), so
//! it never has to sit in the environment or on a command line. Unknown keys are warned about.

use anyhow::{Context, Result, bail};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::{Figment, Provider};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Where the embedded store (`ward.db`) lives.
    pub data_dir: PathBuf,
    /// `postgres://…` to share one PostgreSQL among many nodes; empty for the embedded SQLite.
    pub database_url: Option<String>,
    pub database_url_file: Option<PathBuf>,
    /// 32 bytes, base64: seals token-signing keys at rest. With SQLite it defaults to a file
    /// Ward creates beside the store; with PostgreSQL it is required, the same on every node.
    pub key_encryption_key: Option<String>,
    pub key_encryption_key_file: Option<PathBuf>,
    pub listen: SocketAddr,
    /// The URL people and clients use to reach Ward; issuers and links are built from it.
    pub public_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Peers whose `X-Forwarded-For` / `Forwarded` are believed.
    #[serde(deserialize_with = "list_or_string")]
    pub trusted_proxies: Vec<IpNet>,
    pub log_format: LogFormat,
    pub log_level: String,
    /// The first tenant's name when Ward initializes an empty store.
    pub tenant_name: String,
    pub max_body_bytes: usize,
    pub request_timeout_seconds: u64,
    pub shutdown_grace_seconds: u64,
    /// Requests per second one client address may make to the endpoints that check passwords and
    /// secrets (token, sign-in, introspection, revocation, device codes), with bursts of twice
    /// that; 0 turns the limit off (benchmarks, or a gateway that limits instead).
    pub auth_rate_limit: u32,
    /// Graph throttling: resource units per second each application may spend in a tenant (Graph
    /// counts a user list as 2, a member list 3, …), with bursts of ten seconds' worth; 0 turns it
    /// off. The default, 800, is Graph's own for a large tenant (8,000 per 10 s).
    pub graph_rate_limit: u32,
    /// FIDO metadata (the MDS3 BLOB as the FIDO Alliance publishes it, or its JSON payload): names
    /// authenticator models and holds the attestation roots tenants that enforce attestation need.
    /// Read at start; never downloaded.
    pub fido_metadata_file: Option<PathBuf>,
    /// Passwords known to have leaked, as SHA-1 (a plain list of 40-hex digests, or the
    /// "SUFFIX:COUNT" lines of a k-anonymity range file): a new password in it is refused. Read
    /// at start.
    pub leaked_passwords_file: Option<PathBuf>,
    /// Identity Protection's address feeds: CIDR ranges, one per line (`#` comments): anonymizers
    /// (Tor exits, anonymizing VPNs) raise `anonymizedIPAddress`, malicious addresses
    /// `maliciousIPAddress`.
    pub anonymous_ips_file: Option<PathBuf>,
    pub malicious_ips_file: Option<PathBuf>,
    /// MaxMind DB files (GeoIP2/GeoLite2 City or ASN shape, or ip-location-db's): city,
    /// coordinates and network (ASN) of sign-in addresses. Without them, countries come from the
    /// table embedded in the binary.
    #[serde(deserialize_with = "paths_list")]
    pub geoip_files: Vec<PathBuf>,
    /// How often the feed files above (and leaked_passwords_file) are checked for changes and
    /// reloaded, in seconds; 0: only at start and on SIGHUP.
    pub risk_feeds_reload_seconds: u64,
    /// The learning period of the unfamiliar-properties and travel detectors (days and sign-ins
    /// before a user's habits are judged); unset: each detector's default (5 days and 5 sign-ins,
    /// 14 days and 10 sign-ins).
    pub risk_learning_days: Option<u32>,
    pub risk_learning_sign_ins: Option<u32>,
    /// Distinct wrong passwords on one account within the hour before the right one that make
    /// it a brute force.
    pub risk_brute_force_passwords: usize,
    /// Accounts one password is tried against from one network within the hour that make it a
    /// password spray (twice as many when from a few networks).
    pub risk_spray_accounts: usize,
    /// How often the offline detectors pass over the sign-in log, in minutes; 0: never (`ward
    /// risk scan` runs them on demand).
    pub risk_offline_scan_minutes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("ward-data"),
            database_url: None,
            database_url_file: None,
            key_encryption_key: None,
            key_encryption_key_file: None,
            listen: "127.0.0.1:8080".parse().expect("a valid default address"),
            public_url: None,
            tls_cert: None,
            tls_key: None,
            trusted_proxies: Vec::new(),
            log_format: LogFormat::Text,
            log_level: "info".into(),
            tenant_name: ward_directory::InitRequest::default().tenant_name,
            max_body_bytes: 1024 * 1024,
            request_timeout_seconds: 30,
            shutdown_grace_seconds: 30,
            auth_rate_limit: 50,
            graph_rate_limit: 800,
            fido_metadata_file: None,
            leaked_passwords_file: None,
            anonymous_ips_file: None,
            malicious_ips_file: None,
            geoip_files: Vec::new(),
            risk_feeds_reload_seconds: 60,
            risk_learning_days: None,
            risk_learning_sign_ins: None,
            risk_brute_force_passwords: ward_risk::SpraySettings::default().brute_force_distinct_passwords,
            risk_spray_accounts: ward_risk::SpraySettings::default().accounts_per_password,
            risk_offline_scan_minutes: 15,
        }
    }
}

/// `WARD_TRUSTED_PROXIES=10.0.0.0/8,192.168.0.0/16` as well as a TOML array.
fn list_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        One(String),
    }
    let items = match Raw::deserialize(d)? {
        Raw::List(v) => v,
        Raw::One(s) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
    };
    items
        .iter()
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| serde::de::Error::custom(format!("'{s}' is not an IP address or CIDR range")))
        })
        .collect()
}

/// A list of paths as a TOML array or a comma-separated string (`WARD_GEOIP_FILES=a.mmdb,b.mmdb`).
fn paths_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<PathBuf>),
        One(String),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::List(v) => v,
        Raw::One(s) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(PathBuf::from).collect(),
    })
}

/// Keys a person may set; anything else is a typo worth a warning.
const KNOWN_KEYS: &[&str] = &[
    "data_dir",
    "database_url",
    "database_url_file",
    "key_encryption_key",
    "key_encryption_key_file",
    "listen",
    "public_url",
    "tls_cert",
    "tls_key",
    "trusted_proxies",
    "log_format",
    "log_level",
    "tenant_name",
    "max_body_bytes",
    "request_timeout_seconds",
    "fido_metadata_file",
    "leaked_passwords_file",
    "anonymous_ips_file",
    "malicious_ips_file",
    "geoip_files",
    "risk_feeds_reload_seconds",
    "risk_learning_days",
    "risk_learning_sign_ins",
    "risk_brute_force_passwords",
    "risk_spray_accounts",
    "risk_offline_scan_minutes",
    "shutdown_grace_seconds",
    "auth_rate_limit",
    "graph_rate_limit",
];

/// Environment variables under `WARD_` that are not configuration keys.
const NOT_CONFIG: &[&str] = &["config"];

pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// Loads the layers. `flags` holds only the flags given on the command line.
pub fn load(config_file: Option<&Path>, flags: serde_json::Map<String, serde_json::Value>) -> Result<Loaded> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    let mut warnings = Vec::new();
    match config_file {
        Some(path) => {
            if !path.exists() {
                bail!("the configuration file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        None => {
            if Path::new("ward.toml").exists() {
                figment = figment.merge(Toml::file_exact("ward.toml"));
            }
        }
    }
    let env = Env::prefixed("WARD_").filter(|k| !NOT_CONFIG.contains(&k.as_str()) && !k.as_str().starts_with("test_"));
    figment = figment.merge(env).merge(Serialized::globals(flags));

    for (_, dict) in figment.data().context("reading configuration")? {
        for key in dict.keys() {
            if !KNOWN_KEYS.contains(&key.as_str()) {
                warnings.push(format!("unknown configuration key '{key}' is ignored"));
            }
        }
    }
    let mut config: Config = figment.extract().map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    if let Some(path) = &config.database_url_file {
        let url = std::fs::read_to_string(path).with_context(|| format!("reading database_url_file {}", path.display()))?;
        config.database_url = Some(url.trim().to_string());
    }
    if let Some(path) = &config.key_encryption_key_file {
        let key = std::fs::read_to_string(path).with_context(|| format!("reading key_encryption_key_file {}", path.display()))?;
        config.key_encryption_key = Some(key.trim().to_string());
    }
    if config.tls_cert.is_some() != config.tls_key.is_some() {
        bail!("tls_cert and tls_key go together: give both or neither");
    }
    if let Some(url) = &config.public_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        bail!("public_url must start with http:// or https://");
    }
    if config.risk_brute_force_passwords < 2 || config.risk_spray_accounts < 2 {
        bail!("risk_brute_force_passwords and risk_spray_accounts must be at least 2");
    }
    Ok(Loaded { config, warnings })
}

impl Config {
    /// The public base URL without a trailing slash; by default derived from the listen address.
    pub fn public_url(&self, bound: Option<SocketAddr>) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_string();
        }
        let scheme = if self.tls_cert.is_some() { "https" } else { "http" };
        let addr = bound.unwrap_or(self.listen);
        // `localhost` is a secure context in browsers (passkeys need one); 0.0.0.0 is not an address to visit.
        let host = if addr.ip().is_loopback() || addr.ip().is_unspecified() { "localhost".to_string() } else { addr.ip().to_string() };
        let host = if addr.is_ipv6() && host != "localhost" { format!("[{host}]") } else { host };
        format!("{scheme}://{host}:{}", addr.port())
    }

    /// The key-encryption key: configured, or for the embedded store a `ward.kek` file beside it,
    /// created (mode 0600) on first use.
    pub fn kek(&self) -> Result<ward_auth::Kek> {
        if let Some(text) = &self.key_encryption_key {
            return ward_auth::Kek::from_base64(text).map_err(|e| anyhow::anyhow!("key_encryption_key: {e}"));
        }
        if self.database_url.is_some() {
            bail!(
                "with a database_url, set key_encryption_key (or key_encryption_key_file / WARD_KEY_ENCRYPTION_KEY_FILE): \
                 32 random bytes in base64, the same on every node (e.g. `head -c 32 /dev/urandom | base64`)"
            );
        }
        let path = self.data_dir.join("ward.kek");
        if !path.exists() {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::create_dir_all(&self.data_dir).with_context(|| format!("creating {}", self.data_dir.display()))?;
            let fresh = ward_auth::Kek::generate_base64().map_err(|e| anyhow::anyhow!("{e}"))?;
            // create_new: two processes starting together cannot both write one.
            match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
                Ok(mut f) => f.write_all(fresh.as_bytes()).with_context(|| format!("writing {}", path.display()))?,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        ward_auth::Kek::from_base64(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Identity Protection's detector thresholds, the defaults with what is configured.
    pub fn risk_settings(&self) -> ward_risk::Settings {
        let mut s = ward_risk::Settings::default();
        if let Some(days) = self.risk_learning_days {
            s.unfamiliar.learning_period = time::Duration::days(i64::from(days));
            s.travel.learning_period = time::Duration::days(i64::from(days));
        }
        if let Some(n) = self.risk_learning_sign_ins {
            s.unfamiliar.learning_sign_ins = n;
            s.travel.learning_sign_ins = n;
        }
        s.spray.brute_force_distinct_passwords = self.risk_brute_force_passwords;
        s.spray.accounts_per_password = self.risk_spray_accounts;
        // Spread over a few networks, a spray must be twice as wide to tell from coincidence.
        s.spray.distributed_accounts_per_password = 2 * self.risk_spray_accounts;
        s
    }

    pub fn store_location(&self) -> Result<ward_store::StoreLocation> {
        ward_store::StoreLocation::from_config(&self.data_dir, self.database_url.as_deref()).map_err(|e| anyhow::anyhow!(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_url_defaults_to_a_visitable_address() {
        let c = Config::default();
        assert_eq!(c.public_url(None), "http://localhost:8080");
        assert_eq!(c.public_url(Some("0.0.0.0:9000".parse().unwrap())), "http://localhost:9000");
        let tls = Config { tls_cert: Some("c".into()), tls_key: Some("k".into()), ..Config::default() };
        assert_eq!(tls.public_url(Some("192.0.2.4:443".parse().unwrap())), "https://192.0.2.4:443");
        let explicit = Config { public_url: Some("https://id.example.com/".into()), ..Config::default() };
        assert_eq!(explicit.public_url(None), "https://id.example.com");
    }
}
