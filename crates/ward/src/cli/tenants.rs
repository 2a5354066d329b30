//! `ward tenant …` and `ward role …`: tenants and their domains; built-in directory roles.

use super::{open_directory, tenant};
use crate::config::Config;
use anyhow::Result;
use clap::Subcommand;
use serde_json::json;
use ward_core::ObjectId;
use ward_core::roles::{BUILT_IN_ROLES, find_role};

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// List tenants with their domains.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a domain to a tenant. Ward cannot check DNS offline: adding it is the administrator's
    /// statement that the organisation owns it. A domain belongs to one tenant at most.
    AddDomain {
        domain: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Change tenant settings; those not given stay as they are.
    Set {
        /// May users consent to low-risk permissions (sign-in, own profile) for themselves?
        #[arg(long)]
        users_can_consent_to_apps: Option<bool>,
        /// May users register applications?
        #[arg(long)]
        users_can_register_apps: Option<bool>,
        /// Shortest password allowed (8 to 64).
        #[arg(long)]
        password_min_length: Option<u32>,
        /// Words no password may be built on, comma-separated (the organisation's names, products,
        /// places; 4 to 16 characters each). Replaces the list; "" empties it.
        #[arg(long)]
        banned_password_words: Option<String>,
        /// After the username, say whether the account exists and show only the methods it has
        /// (usability), instead of the same password page for every name (the default: no name
        /// can be probed).
        #[arg(long)]
        sign_in_reveals_accounts: Option<bool>,
        /// Security defaults: ask every sign-in for the second factor the person has (on by
        /// default). Off, conditional access policies decide when to ask.
        #[arg(long)]
        security_defaults: Option<bool>,
        /// Emergency-access accounts (ids or UPNs, comma-separated): conditional access is never
        /// enforced for them, and each of their sign-ins is logged. Replaces the list; "" empties it.
        #[arg(long)]
        emergency_access_accounts: Option<String>,
        /// Identity Protection: a user at risk who registers a passkey in a session that proved
        /// MFA is remediated (off by default: the password stays usable).
        #[arg(long)]
        passkey_registration_remediates_risk: Option<bool>,
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// The built-in directory roles.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Assign a role (template id or display name) to a user (id or UPN) or service principal (id).
    Assign {
        role: String,
        principal: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List role assignments.
    Assignments {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove a role assignment by its id.
    Remove {
        id: ObjectId,
        #[arg(long)]
        tenant: Option<String>,
    },
}

pub async fn tenants(config: &Config, command: TenantCommand) -> Result<()> {
    let directory = open_directory(config).await?;
    match command {
        TenantCommand::List { json } => {
            let all = directory.tenants().await?;
            if json {
                println!("{}", json!({ "value": all }));
            } else {
                for t in &all {
                    let domains: Vec<_> = t.verified_domains.iter().map(|d| d.name.to_string()).collect();
                    println!("{}  {}  {}", t.id, t.display_name, domains.join(","));
                }
            }
        }
        TenantCommand::AddDomain { domain, tenant: key } => {
            let t = tenant(&directory, key.as_deref()).await?;
            let updated = directory.add_domain(t, &domain).await?;
            println!(
                "{} now has domains: {}",
                updated.display_name,
                updated.verified_domains.iter().map(|d| d.name.to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        TenantCommand::Set {
            users_can_consent_to_apps,
            users_can_register_apps,
            password_min_length,
            banned_password_words,
            sign_in_reveals_accounts,
            security_defaults,
            emergency_access_accounts,
            passkey_registration_remediates_risk,
            tenant: key,
        } => {
            let t = tenant(&directory, key.as_deref()).await?;
            let mut settings = directory.resolve_tenant(&t.to_string()).await?.settings;
            if let Some(v) = users_can_consent_to_apps {
                settings.users_can_consent_to_apps = v;
            }
            if let Some(v) = users_can_register_apps {
                settings.users_can_register_apps = v;
            }
            if let Some(v) = sign_in_reveals_accounts {
                settings.sign_in_reveals_accounts = v;
            }
            if let Some(v) = security_defaults {
                settings.security_defaults = v;
            }
            if let Some(v) = passkey_registration_remediates_risk {
                settings.passkey_registration_remediates_risk = v;
            }
            if let Some(list) = emergency_access_accounts {
                let mut ids = Vec::new();
                for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    ids.push(directory.user(t, name).await?.id);
                }
                ids.sort();
                ids.dedup();
                settings.emergency_access_accounts = ids;
            }
            if password_min_length.is_some() || banned_password_words.is_some() {
                let min = password_min_length.unwrap_or(settings.password_policy.min_length);
                let words: Vec<String> = match &banned_password_words {
                    Some(list) => list.split(',').map(|w| w.trim().to_string()).filter(|w| !w.is_empty()).collect(),
                    None => settings.password_policy.banned_words.clone(),
                };
                settings.password_policy = ward_core::password_policy::PasswordPolicy::validated(min, &words)?;
            }
            let updated = directory.set_tenant_settings(t, settings).await?;
            println!("{}", json!({ "id": updated.id, "settings": updated.settings }));
        }
    }
    Ok(())
}

pub async fn roles(config: &Config, command: RoleCommand) -> Result<()> {
    match command {
        RoleCommand::List { json } => {
            if json {
                let value: Vec<_> = BUILT_IN_ROLES
                    .iter()
                    .map(|r| json!({ "id": r.template_id, "displayName": r.display_name, "description": r.description }))
                    .collect();
                println!("{}", json!({ "value": value }));
            } else {
                for r in BUILT_IN_ROLES.iter() {
                    println!("{}  {}", r.template_id, r.display_name);
                }
            }
        }
        RoleCommand::Assign { role, principal, tenant: key } => {
            let directory = open_directory(config).await?;
            let t = tenant(&directory, key.as_deref()).await?;
            let principal_id = match principal.parse::<ObjectId>() {
                Ok(id) => id,
                Err(_) => directory.user(t, &principal).await?.id,
            };
            let a = directory.assign_role(t, &role, principal_id).await?;
            let name = find_role(&a.role_definition_id).map(|r| r.display_name).unwrap_or_default();
            println!("assigned {name} to {principal_id} (assignment {})", a.id);
        }
        RoleCommand::Assignments { tenant: key, json } => {
            let directory = open_directory(config).await?;
            let t = tenant(&directory, key.as_deref()).await?;
            let all = directory.role_assignments(t).await?;
            if json {
                println!("{}", json!({ "value": all }));
            } else {
                for a in &all {
                    let name = find_role(&a.role_definition_id).map(|r| r.display_name).unwrap_or("?");
                    println!("{}  {}  {} {}", a.id, name, a.principal_kind, a.principal_id);
                }
            }
        }
        RoleCommand::Remove { id, tenant: key } => {
            let directory = open_directory(config).await?;
            let t = tenant(&directory, key.as_deref()).await?;
            directory.remove_role_assignment(t, id).await?;
            println!("removed role assignment {id}");
        }
    }
    Ok(())
}
