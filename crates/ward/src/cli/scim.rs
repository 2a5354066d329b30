//! `ward scim token create|list|revoke`: a tenant's long-lived SCIM tokens (the "Secret Token"
//! an HR system or Entra's provisioning client is given). The secret is printed once, at
//! creation; Ward keeps only its SHA-256. Creating and revoking are recorded in the audit log.

use super::{open_directory, tenant};
use crate::config::Config;
use anyhow::Result;
use clap::Subcommand;
use serde_json::json;
use ward_core::ObjectId;

#[derive(Subcommand, Debug)]
pub enum ScimCommand {
    /// SCIM provisioning tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token; its secret is shown this once.
    Create {
        /// A name that says who holds it, e.g. "Workday".
        #[arg(long)]
        name: String,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List the tokens with their last use (never their secrets).
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: the next request that presents it is refused.
    Revoke {
        id: ObjectId,
        #[arg(long)]
        tenant: Option<String>,
    },
}

fn audit(activity: &'static str, operation: &'static str) -> ward_core::audit::AuditContext {
    ward_core::audit::AuditContext {
        initiated_by: json!({ "user": null, "app": { "appId": null, "displayName": "ward command line", "servicePrincipalId": null } }),
        category: "ApplicationManagement",
        activity,
        operation_type: operation,
        correlation_id: uuid::Uuid::new_v4().to_string(),
    }
}

pub async fn scim(config: &Config, command: ScimCommand) -> Result<()> {
    let directory = open_directory(config).await?;
    let ScimCommand::Token(command) = command;
    match command {
        TokenCommand::Create { name, tenant: key, json } => {
            let t = tenant(&directory, key.as_deref()).await?;
            let (token, secret) = ward_directory::audited(audit("Add SCIM token", "Add"), directory.create_scim_token(t, &name)).await?;
            if json {
                println!("{}", json!({ "id": token.id.to_string(), "displayName": token.display_name, "secret": secret }));
            } else {
                println!("created SCIM token {} ({})", token.id, token.display_name);
                println!("secret (shown once; Ward keeps only its hash): {secret}");
            }
        }
        TokenCommand::List { tenant: key, json } => {
            let t = tenant(&directory, key.as_deref()).await?;
            let all = directory.scim_tokens(t).await?;
            if json {
                println!("{}", json!({ "value": all }));
            } else {
                for token in &all {
                    let used = token.last_used_date_time.map(|t| t.to_string()).unwrap_or_else(|| "never used".into());
                    println!("{}  {:<32}  created {}  last used {}", token.id, token.display_name, token.created_date_time, used);
                }
            }
        }
        TokenCommand::Revoke { id, tenant: key } => {
            let t = tenant(&directory, key.as_deref()).await?;
            ward_directory::audited(audit("Revoke SCIM token", "Delete"), directory.revoke_scim_token(t, id)).await?;
            println!("revoked {id}");
        }
    }
    Ok(())
}
