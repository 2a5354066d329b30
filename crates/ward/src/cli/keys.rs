//! `ward keys …`: the token-signing keys.

use crate::config::Config;
use anyhow::{Result, bail};
use clap::Subcommand;
use serde_json::json;
use std::sync::Arc;
use ward_auth::{Alg, KeyRing};
use ward_directory::Directory;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List signing keys: algorithm, key id, created, and when a superseded key retires.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Make a new current key (all algorithms, or one); superseded keys stay published until every
    /// token they signed has expired.
    Rotate {
        /// RS256, ES256 or EdDSA.
        #[arg(long)]
        alg: Option<String>,
    },
}

pub async fn open_keyring(config: &Config, directory: &Directory) -> Result<Arc<KeyRing>> {
    let kek = config.kek()?;
    let ring = KeyRing::open(directory.store().clone(), kek, Arc::new(ward_directory::SystemClock)).await?;
    Ok(Arc::new(ring))
}

pub async fn keys(config: &Config, command: KeysCommand) -> Result<()> {
    let directory = super::open_directory(config).await?;
    let ring = open_keyring(config, &directory).await?;
    match command {
        KeysCommand::List { json } => {
            let keys = ring.describe().await?;
            if json {
                let value: Vec<_> = keys
                    .iter()
                    .map(|k| json!({ "kid": k.kid, "alg": k.alg, "createdAt": k.created_at.unix_timestamp(), "retireAt": k.retire_at.map(|r| r.unix_timestamp()) }))
                    .collect();
                println!("{}", json!({ "value": value }));
            } else {
                for k in &keys {
                    let state = match k.retire_at {
                        None => "current".to_string(),
                        Some(at) => format!("retiring at {at}"),
                    };
                    println!("{:<6} {}  created {}  {state}", k.alg, k.kid, k.created_at);
                }
            }
        }
        KeysCommand::Rotate { alg } => {
            let algs = match alg {
                None => Alg::ALL.to_vec(),
                Some(a) => match Alg::parse(&a) {
                    Some(a) => vec![a],
                    None => bail!("unknown algorithm '{a}': use RS256, ES256 or EdDSA"),
                },
            };
            for a in algs {
                let kid = ring.rotate(a).await?;
                println!("rotated {}: new key {kid}", a.as_str());
            }
        }
    }
    Ok(())
}
