//! `ward risk scan`: Identity Protection's offline detectors over the sign-ins recorded in a
//! recent window, on demand (the server also runs them every `risk_offline_scan_minutes`).

use super::open_directory;
use crate::config::Config;
use anyhow::{Result, bail};
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand, Debug)]
pub enum RiskCommand {
    /// Run the offline detectors (travel over every successful sign-in) over the last `--hours`
    /// of sign-ins, and store the decay of users' risk.
    Scan {
        /// How far back to look, in hours (1 to 720).
        #[arg(long, default_value_t = 24)]
        hours: i64,
        #[arg(long)]
        json: bool,
    },
}

pub async fn risk(config: &Config, command: RiskCommand) -> Result<()> {
    let RiskCommand::Scan { hours, json } = command;
    if !(1..=720).contains(&hours) {
        bail!("--hours must be between 1 and 720");
    }
    let directory = open_directory(config).await?;
    let until = directory.now();
    let since = until - time::Duration::hours(hours);
    let feeds = crate::risk_feeds::load(config)?.feeds;
    let report = ward_auth::risk_offline::scan(&directory, &config.risk_settings(), &feeds, since, until).await?;
    if json {
        println!(
            "{}",
            json!({ "records": report.records, "found": report.found, "stored": report.stored, "decayed": report.decayed, "failedTenants": report.failed_tenants })
        );
    } else {
        println!(
            "{} sign-ins read, {} findings, {} new detections stored, {} users' risk decayed",
            report.records, report.found, report.stored, report.decayed
        );
    }
    Ok(())
}
