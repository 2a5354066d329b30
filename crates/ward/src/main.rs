//! `ward`: the Ward server and its administration CLI.
//!
//! Exit codes: 0 success, 1 a failed operation (the message, with its stable code, on stderr),
//! 2 a usage error.

mod cli;
mod config;
mod logging;
mod risk_feeds;
mod serve;
mod tls;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "ward", version, about = "Ward: a self-hostable Zero Trust identity platform")]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Configuration file (default: ./ward.toml when present).
    #[arg(long, global = true, env = "WARD_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory of the embedded SQLite store.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// postgres://… to use PostgreSQL instead of the embedded store.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Log format: text or json.
    #[arg(long, global = true, value_enum)]
    log_format: Option<config::LogFormat>,
    /// Log filter, e.g. info or ward=debug.
    #[arg(long, global = true)]
    log_level: Option<String>,
}

// Parsed once at start-up; the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (initializing an empty store first).
    Serve(serve::ServeArgs),
    /// Initialize an empty store: a tenant, a Global Administrator and an automation app.
    Init(cli::InitArgs),
    /// Manage users.
    #[command(subcommand)]
    User(cli::UserCommand),
    /// Manage groups and their members.
    #[command(subcommand)]
    Group(cli::GroupCommand),
    /// Tenants and their domains.
    #[command(subcommand)]
    Tenant(cli::TenantCommand),
    /// Built-in directory roles and their assignments.
    #[command(subcommand)]
    Role(cli::RoleCommand),
    /// Client applications: register, secrets, permissions of Ward's API.
    #[command(subcommand)]
    App(cli::AppCommand),
    /// Conditional access: explain what the policies would do to a sign-in (what-if).
    #[command(subcommand)]
    Policy(cli::PolicyCommand),
    /// SCIM provisioning: the tenant's SCIM tokens.
    #[command(subcommand)]
    Scim(cli::ScimCommand),
    /// Identity Protection: run the offline detectors over recorded sign-ins.
    #[command(subcommand)]
    Risk(cli::RiskCommand),
    /// Token-signing keys: list, rotate.
    #[command(subcommand)]
    Keys(cli::KeysCommand),
    /// Show the effective configuration (secrets redacted) and any warnings.
    Config {
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<ward_core::DirectoryError>() {
                Some(d) => eprintln!("error[{}]: {d}", d.code().as_str()),
                None => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut flags = serde_json::Map::new();
    let g = &cli.global;
    if let Some(v) = &g.data_dir {
        flags.insert("data_dir".into(), v.display().to_string().into());
    }
    if let Some(v) = &g.database_url {
        flags.insert("database_url".into(), v.clone().into());
    }
    if let Some(v) = g.log_format {
        flags.insert("log_format".into(), serde_json::to_value(v)?);
    }
    if let Some(v) = &g.log_level {
        flags.insert("log_level".into(), v.clone().into());
    }
    if let Command::Serve(args) = &cli.command {
        args.flags(&mut flags);
    }
    if let Command::Init(args) = &cli.command {
        args.flags(&mut flags);
    }
    let loaded = config::load(g.config.as_deref(), flags)?;
    let config = loaded.config;
    logging::init(&config)?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    match cli.command {
        Command::Serve(_) => serve::run(config).await,
        Command::Init(args) => cli::init(&config, args).await,
        Command::User(cmd) => cli::user(&config, cmd).await,
        Command::Group(cmd) => cli::group(&config, cmd).await,
        Command::Tenant(cmd) => cli::tenants(&config, cmd).await,
        Command::Role(cmd) => cli::roles(&config, cmd).await,
        Command::App(cmd) => cli::apps(&config, cmd).await,
        Command::Policy(cmd) => cli::policies(&config, cmd).await,
        Command::Scim(cmd) => cli::scim(&config, cmd).await,
        Command::Keys(cmd) => cli::keys(&config, cmd).await,
        Command::Risk(cmd) => cli::risk(&config, cmd).await,
        Command::Config { json } => cli::show_config(&config, &loaded.warnings, json),
    }
}
