//! `ward policy …`: conditional access from the command line. `what-if` explains, policy by
//! policy, what the tenant's policies would do to a sign-in, with the evaluator enforcement uses.

use super::{open_directory, tenant};
use crate::config::Config;
use anyhow::{Result, anyhow};
use clap::Subcommand;
use serde_json::json;
use ward_directory::{WhatIf, WhatIfSubject};
use ward_policy::{Decision, PolicyResult};

#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// List the conditional access policies (Graph's JSON with --json).
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Create a policy from a file holding Graph's conditionalAccessPolicy JSON (checked as Graph
    /// checks it). The command line works on the store directly, beside the server: it is the
    /// way back in when policies lock every administrator out, so it has no lockout guard.
    Create {
        /// The policy's JSON (`-` for standard input).
        #[arg(long)]
        file: std::path::PathBuf,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Delete a policy by its id.
    Delete {
        id: ward_core::ObjectId,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// What the conditional access policies would do to a sign-in, and why, policy by policy.
    /// What is not given is unknown: a policy that depends on it says so.
    WhatIf {
        /// The user (id or userPrincipalName); or --service-principal.
        #[arg(long, conflicts_with = "service_principal", required_unless_present = "service_principal")]
        user: Option<String>,
        /// A workload identity (service principal object id) signing in with client credentials.
        #[arg(long)]
        service_principal: Option<ward_core::ObjectId>,
        /// The application (appId) signed in to; repeat for the client and its resource.
        #[arg(long = "app", required = true)]
        apps: Vec<String>,
        /// The client's IP address.
        #[arg(long)]
        ip: Option<std::net::IpAddr>,
        /// The country of the IP address (ISO 3166-1 alpha-2).
        #[arg(long)]
        country: Option<String>,
        /// android, iOS, windows, windowsPhone, macOS, linux.
        #[arg(long)]
        platform: Option<String>,
        /// browser, mobileAppsAndDesktopClients, exchangeActiveSync, other.
        #[arg(long)]
        client_app_type: Option<String>,
        /// none, low, medium, high.
        #[arg(long)]
        sign_in_risk: Option<String>,
        #[arg(long)]
        user_risk: Option<String>,
        /// A registered device (its deviceId): its properties, as the registry has them.
        #[arg(long, conflicts_with_all = ["device_compliant", "device_trust_type"])]
        device: Option<uuid::Uuid>,
        /// The device is registered and compliant (true) or not (false); unset: unknown.
        #[arg(long)]
        device_compliant: Option<bool>,
        /// Registered device's trust type: AzureAD, ServerAD or Workplace.
        #[arg(long)]
        device_trust_type: Option<String>,
        /// Methods already used, e.g. "pwd otp mfa" (default: none yet).
        #[arg(long, default_value = "")]
        amr: String,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn enumerated<T: serde::de::DeserializeOwned>(name: &str, value: Option<String>) -> Result<Option<T>> {
    value.map(|v| serde_json::from_value(json!(v)).map_err(|_| anyhow!("--{name}: '{v}' is not a value Graph knows"))).transpose()
}

pub async fn policies(config: &Config, command: PolicyCommand) -> Result<()> {
    let directory = open_directory(config).await?;
    match command {
        PolicyCommand::List { tenant: key, json } => {
            let t = tenant(&directory, key.as_deref()).await?;
            let all = directory.ca_policies(t).await?;
            if json {
                println!("{}", json!({ "value": all.iter().map(ward_policy::policy_json).collect::<Vec<_>>() }));
            } else {
                for p in &all {
                    println!("{}  {:<36}  {}", p.id, json!(p.state).as_str().unwrap_or_default(), p.display_name);
                }
            }
        }
        PolicyCommand::Create { file, tenant: key } => {
            let t = tenant(&directory, key.as_deref()).await?;
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file).map_err(|e| anyhow!("cannot read {}: {e}", file.display()))?
            };
            let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| anyhow!("{} is not JSON: {e}", file.display()))?;
            let policy = directory.check_ca_policy(t, None, &body).await?;
            let created = directory.create_ca_policy(t, policy).await?;
            println!("{}", ward_policy::policy_json(&created));
        }
        PolicyCommand::Delete { id, tenant: key } => {
            let t = tenant(&directory, key.as_deref()).await?;
            directory.delete_ca_policy(t, id).await?;
            println!("deleted {id}");
        }
        PolicyCommand::WhatIf {
            user,
            service_principal,
            apps,
            ip,
            country,
            platform,
            client_app_type,
            sign_in_risk,
            user_risk,
            device,
            device_compliant,
            device_trust_type,
            amr,
            tenant: key,
            json,
        } => {
            let t = tenant(&directory, key.as_deref()).await?;
            let subject = match (user, service_principal) {
                (Some(u), _) => WhatIfSubject::User(u),
                (None, Some(sp)) => WhatIfSubject::ServicePrincipal(sp),
                (None, None) => return Err(anyhow!("--user or --service-principal is required")),
            };
            let device = match (device, device_compliant, device_trust_type) {
                (Some(id), _, _) => {
                    let doc =
                        directory.device_by_device_id(t, id).await?.ok_or_else(|| anyhow!("no device with deviceId {id} is registered"))?;
                    Some(Some(ward_policy::device_attributes(&doc)))
                }
                (None, None, None) => None,
                (None, compliant, trust) => Some(Some(ward_policy::device_filter::DeviceAttributes {
                    is_compliant: compliant,
                    is_managed: compliant,
                    trust_type: trust,
                    ..Default::default()
                })),
            };
            let input = WhatIf {
                subject,
                applications: apps,
                user_action: None,
                client_app_type: enumerated("client-app-type", client_app_type)?,
                platform: enumerated("platform", platform)?,
                ip,
                country: country.map(|c| c.to_ascii_uppercase()).or_else(|| ip.and_then(ward_auth::access::country_of).map(str::to_string)),
                sign_in_risk: enumerated("sign-in-risk", sign_in_risk)?,
                user_risk: enumerated("user-risk", user_risk)?,
                service_principal_risk: None,
                device,
                device_code_flow: None,
                amr: amr.split_whitespace().map(str::to_string).collect(),
            };
            let (all, evaluation) = directory.what_if(t, &input).await?;
            let outcome = match &evaluation.decision {
                Decision::Allow => "allow".to_string(),
                Decision::Block => "block".to_string(),
                Decision::DeviceRequired(c) => format!("denied: requires {}", json!(c).as_str().unwrap_or("a device")),
                Decision::Interrupt(needs) => format!("the person must first: {needs:?}"),
            };
            if json {
                let value: Vec<_> = evaluation
                    .policies
                    .iter()
                    .map(|o| {
                        let mut v = ward_policy::policy_json(&all[o.index]);
                        v["policyApplies"] = json!(o.applies);
                        v["analysisReasons"] = json!(o.reasons.graph());
                        v["result"] = json!(o.result.graph());
                        v
                    })
                    .collect();
                println!("{}", json!({ "outcome": outcome, "value": value }));
            } else {
                for o in &evaluation.policies {
                    let p = &all[o.index];
                    let why = if o.applies {
                        match o.result {
                            PolicyResult::Success | PolicyResult::ReportOnlySuccess => "applies; its controls are met".to_string(),
                            _ => format!("applies; not met: {}", json!(o.unmet)),
                        }
                    } else {
                        format!("does not apply ({})", o.reasons.graph())
                    };
                    println!("{:<24} {:<40} {why}", o.result.graph(), p.display_name);
                }
                println!("outcome: {outcome}");
            }
        }
    }
    Ok(())
}
