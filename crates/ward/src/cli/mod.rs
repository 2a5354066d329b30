//! The administration CLI: `ward init`, `ward user …`, `ward group …`, `ward config`. It works on
//! the same store as the server, safely while the server runs: every write is one transaction,
//! and running servers catch up through the change feed.

mod apps;
mod groups;
mod keys;
mod policies;
mod risk;
mod scim;
mod tenants;
mod users;

pub use apps::{AppCommand, apps};
pub use groups::{GroupCommand, group};
pub use keys::{KeysCommand, keys, open_keyring};
pub use policies::{PolicyCommand, policies};
pub use risk::{RiskCommand, risk};
pub use scim::{ScimCommand, scim};
pub use tenants::{RoleCommand, TenantCommand, roles, tenants};
pub use users::{UserCommand, user};

use crate::config::Config;
use anyhow::Result;
use clap::Args;
use serde_json::json;
use std::sync::Arc;
use ward_core::TenantId;
use ward_directory::{Directory, InitOutcome, InitRequest};

pub async fn open_directory(config: &Config) -> Result<Arc<Directory>> {
    open_directory_with(config, true).await
}

/// [`open_directory`]; `leaked`: read the leaked-password list too (the server reads it with
/// Identity Protection's other feeds instead).
pub async fn open_directory_with(config: &Config, leaked: bool) -> Result<Arc<Directory>> {
    let location = config.store_location()?;
    let store = ward_store::open(&location, time::OffsetDateTime::now_utc())
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the store at {}: {e}", location.describe()))?;
    let directory = Directory::system(store);
    // The server and the command line refuse the same leaked passwords.
    if leaked && let Some(path) = &config.leaked_passwords_file {
        let list = crate::risk_feeds::leaked_passwords(path)?;
        tracing::info!(passwords = list.len(), "leaked-password list loaded");
        directory.set_leaked_passwords(Some(Arc::new(list)));
    }
    Ok(Arc::new(directory))
}

/// Reads every page of a keyset-paged directory listing.
pub async fn all_pages<T, F, Fut>(id: impl Fn(&T) -> ward_core::ObjectId, mut page: F) -> Result<Vec<T>>
where
    F: FnMut(Option<ward_core::ObjectId>) -> Fut,
    Fut: std::future::Future<Output = ward_directory::Result<Vec<T>>>,
{
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let batch = page(after).await?;
        let Some(last) = batch.last() else { return Ok(all) };
        after = Some(id(last));
        all.extend(batch);
    }
}

/// `--tenant` (id or verified domain), or the only tenant there is.
pub async fn tenant(directory: &Directory, key: Option<&str>) -> Result<TenantId> {
    Ok(match key {
        Some(k) => directory.resolve_tenant(k).await?.id,
        None => directory.default_tenant().await?.id,
    })
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The tenant's display name; its initial domain is derived from it (`<name>.ward.local`).
    #[arg(long)]
    tenant_name: Option<String>,
    /// The URL people and clients will use to reach Ward (for the issuer printed).
    #[arg(long)]
    public_url: Option<String>,
    /// Print exactly one JSON object.
    #[arg(long)]
    json: bool,
}

impl InitArgs {
    pub fn flags(&self, flags: &mut serde_json::Map<String, serde_json::Value>) {
        if let Some(v) = &self.tenant_name {
            flags.insert("tenant_name".into(), v.clone().into());
        }
        if let Some(v) = &self.public_url {
            flags.insert("public_url".into(), v.clone().into());
        }
    }
}

pub async fn init(config: &Config, args: InitArgs) -> Result<()> {
    let directory = open_directory(config).await?;
    let outcome = directory.initialize(InitRequest { tenant_name: config.tenant_name.clone() }).await?;
    print_init(&outcome, &config.public_url(None), args.json)
}

/// Prints the one-time credentials: the only time the password and the secret are ever shown.
pub fn print_init(o: &InitOutcome, public_url: &str, as_json: bool) -> Result<()> {
    let issuer = format!("{public_url}/{}/v2.0", o.tenant.id);
    if as_json {
        let out = json!({
            "tenant_id": o.tenant.id,
            "tenant_name": o.tenant.display_name,
            "tenant_domain": o.tenant.initial_domain().as_str(),
            "issuer": issuer,
            "base_url": public_url,
            "admin_upn": o.admin_upn,
            "admin_password": o.admin_password,
            "client_id": o.client_id,
            "client_secret": o.client_secret,
        });
        println!("{out}");
    } else {
        println!("Ward is initialized. Keep these; the password and the secret are shown only this once.");
        println!();
        println!("  Open:             {public_url}");
        println!("  Tenant:           {} ({})", o.tenant.display_name, o.tenant.id);
        println!("  Domain:           {}", o.tenant.initial_domain());
        println!("  Issuer:           {issuer}");
        println!("  Administrator:    {}", o.admin_upn);
        println!("  Password:         {}", o.admin_password);
        println!("  Automation app:   client id {}", o.client_id);
        println!("  Client secret:    {}", o.client_secret);
        println!();
    }
    Ok(())
}

pub fn show_config(config: &Config, warnings: &[String], as_json: bool) -> Result<()> {
    let mut value = serde_json::to_value(config)?;
    if config.database_url.is_some() {
        value["database_url"] = json!(config.store_location()?.describe());
    }
    if config.key_encryption_key.is_some() {
        value["key_encryption_key"] = json!("<set>");
    }
    if as_json {
        println!("{}", json!({ "config": value, "warnings": warnings }));
    } else {
        for (k, v) in value.as_object().into_iter().flatten() {
            println!("{k} = {v}");
        }
        for w in warnings {
            println!("# warning: {w}");
        }
    }
    Ok(())
}

/// Prints `value` as JSON, or as `key: value` lines for people.
pub fn print_object(value: &serde_json::Value, as_json: bool) {
    if as_json {
        println!("{value}");
        return;
    }
    for (k, v) in value.as_object().into_iter().flatten() {
        if v.is_null() || v.as_array().is_some_and(|a| a.is_empty()) {
            continue;
        }
        match v.as_str() {
            Some(s) => println!("{k}: {s}"),
            None => println!("{k}: {v}"),
        }
    }
}
