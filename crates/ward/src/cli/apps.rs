//! `ward app …`: register client applications, give them secrets, grant them Ward's API
//! permissions (admin consent), disable them.

use super::{all_pages, open_directory, tenant};
use crate::config::Config;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::json;
use uuid::Uuid;
use ward_core::TenantId;
use ward_core::app::{Application, Platform};
use ward_core::permissions::GRAPH_PERMISSIONS;
use ward_directory::Directory;

#[derive(Subcommand, Debug)]
pub enum AppCommand {
    /// Register an application (and its service principal).
    Create {
        #[arg(long)]
        name: String,
        /// A redirect URI of a web app (confidential client: authenticates with a secret). Repeatable.
        #[arg(long = "redirect-uri")]
        web: Vec<String>,
        /// A redirect URI of a native or desktop app (public client: PKCE, no secret). Repeatable.
        #[arg(long = "public-redirect-uri")]
        public: Vec<String>,
        /// A redirect URI of a single-page app (public client, short-lived refresh tokens). Repeatable.
        #[arg(long = "spa-redirect-uri")]
        spa: Vec<String>,
        /// The algorithm of tokens issued to this app: RS256 (default), ES256 or EdDSA.
        #[arg(long)]
        signing_alg: Option<String>,
        /// Expose a delegated permission of this app's own API (e.g. access_as_user; append
        /// ":admin" for one only administrators may consent to). Repeatable. Gives the app the
        /// identifier URI api://{appId}.
        #[arg(long = "expose-scope")]
        expose: Vec<String>,
        /// Define an application permission of this app's own API (an app role other apps can be
        /// granted, e.g. Orders.ReadWrite.All). Repeatable.
        #[arg(long = "app-role")]
        app_roles: Vec<String>,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List applications.
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Add a client secret, shown once; stored only as a SHA-256 hash.
    AddSecret {
        /// The application's client id (appId).
        app: Uuid,
        /// Lifetime in days (at most 730).
        #[arg(long, default_value_t = 180)]
        days: i64,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Register a certificate (PEM or DER) or a public JWK (JSON) the application signs client
    /// assertions with (private_key_jwt, RFC 7523): Graph's addKey.
    AddKey {
        app: Uuid,
        /// The certificate or JWK file.
        #[arg(long)]
        file: std::path::PathBuf,
        /// Lifetime in days for a JWK (a certificate's own validity applies to it).
        #[arg(long, default_value_t = 365)]
        days: i64,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Grant an application permission of Ward's API (e.g. User.Read.All): admin consent.
    Grant {
        app: Uuid,
        permission: String,
        /// The resource defining the permission: Ward's API by default, or an application's
        /// appId or identifier URI.
        #[arg(long, default_value = "https://graph.microsoft.com")]
        resource: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Grant delegated permissions of Ward's API to an application for every user (admin consent),
    /// e.g. `--scope "User.Read.All Group.Read.All"`.
    Consent {
        app: Uuid,
        #[arg(long)]
        scope: String,
        /// The resource the permissions belong to: Ward's API by default, or an application's
        /// appId or identifier URI (e.g. api://{appId}).
        #[arg(long, default_value = "https://graph.microsoft.com")]
        resource: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// The permissions Ward's API offers.
    Permissions,
    /// Stop (or with --enable, resume) token issuance to an application.
    Disable {
        app: Uuid,
        #[arg(long)]
        enable: bool,
        #[arg(long)]
        tenant: Option<String>,
    },
}

async fn application(directory: &Directory, t: TenantId, client_id: Uuid) -> Result<Application> {
    Ok(directory.application_by_app_id(t, client_id).await?)
}

pub async fn apps(config: &Config, command: AppCommand) -> Result<()> {
    if let AppCommand::Permissions = command {
        for p in GRAPH_PERMISSIONS {
            let kinds = match (p.app_role_id.is_some(), p.scope_id.is_some()) {
                (true, true) => "application, delegated",
                (true, false) => "application",
                _ => "delegated",
            };
            println!("{:<36} {:<24} {}", p.value, kinds, p.description);
        }
        return Ok(());
    }
    let directory = open_directory(config).await?;
    match command {
        AppCommand::Create { name, web, public, spa, signing_alg, expose, app_roles, tenant: key, json } => {
            let t = tenant(&directory, key.as_deref()).await?;
            let (app, sp) = directory
                .create_application_with(t, &name, |app| {
                    app.set_redirect_uris(Platform::Web, &web)?;
                    app.set_redirect_uris(Platform::PublicClient, &public)?;
                    app.set_redirect_uris(Platform::Spa, &spa)?;
                    for e in &expose {
                        let (value, admin) = match e.strip_suffix(":admin") {
                            Some(v) => (v, true),
                            None => (e.as_str(), false),
                        };
                        let description = format!("Access {} as the signed-in user ({value})", app.display_name);
                        app.expose_scope(Uuid::new_v4(), value, admin, &description)?;
                    }
                    for role in &app_roles {
                        let description = format!("{role} on {}", app.display_name);
                        app.define_app_role(Uuid::new_v4(), role, &description)?;
                    }
                    app.set_token_signing_algorithm(signing_alg.as_deref())
                })
                .await?;
            if json {
                println!(
                    "{}",
                    json!({ "appId": app.app_id, "id": app.id, "servicePrincipalId": sp.id, "displayName": app.display_name, "identifierUris": app.identifier_uris })
                );
            } else {
                println!("registered {} with client id {}", app.display_name, app.app_id);
            }
        }
        AppCommand::List { tenant: key, json } => {
            let t = tenant(&directory, key.as_deref()).await?;
            let all = all_pages(|a: &Application| a.id, |after| directory.applications(t, after, 500)).await?;
            if json {
                println!("{}", json!({ "value": all }));
            } else {
                for a in &all {
                    println!("{}  {}  {} secret(s)", a.app_id, a.display_name, a.password_credentials.len());
                }
            }
        }
        AppCommand::AddSecret { app, days, description, tenant: key, json } => {
            let t = tenant(&directory, key.as_deref()).await?;
            let a = application(&directory, t, app).await?;
            let (credential, secret) = directory.add_client_secret(t, a.id, description.as_deref(), time::Duration::days(days)).await?;
            if json {
                println!(
                    "{}",
                    json!({ "keyId": credential.key_id, "secretText": secret, "endDateTime": credential.end_date_time.unix_timestamp() })
                );
            } else {
                println!("client secret (shown only now): {secret}");
                println!("expires: {}", credential.end_date_time);
            }
        }
        AppCommand::AddKey { app, file, days, description, tenant: key, json } => {
            let t = tenant(&directory, key.as_deref()).await?;
            let a = application(&directory, t, app).await?;
            let meta = std::fs::metadata(&file).with_context(|| format!("cannot read {}", file.display()))?;
            if meta.len() > 64 * 1024 {
                bail!("{} is larger than 64 KiB; a certificate or JWK is a few KiB", file.display());
            }
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            // DER certificates arrive as bytes; PEM and JWK as text.
            let material = match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD.encode(e.into_bytes())
                }
            };
            let credential = directory.add_client_key(t, a.id, &material, description.as_deref(), time::Duration::days(days)).await?;
            if json {
                println!(
                    "{}",
                    json!({ "keyId": credential.key_id, "type": credential.key_type, "customKeyIdentifier": credential.custom_key_identifier, "endDateTime": credential.end_date_time.unix_timestamp() })
                );
            } else {
                println!(
                    "registered {} key {} for {app}, valid until {}",
                    credential.key_type, credential.key_id, credential.end_date_time
                );
            }
        }
        AppCommand::Grant { app, permission, resource, tenant: key } => {
            let t = tenant(&directory, key.as_deref()).await?;
            let sp = directory.service_principal_by_app_id(t, app).await?;
            directory.grant_app_role_on(t, sp.id, &resource, &permission).await?;
            println!("granted {permission} to {app}");
        }
        AppCommand::Disable { app, enable, tenant: key } => {
            let t = tenant(&directory, key.as_deref()).await?;
            let sp = directory.service_principal_by_app_id(t, app).await?;
            directory.set_service_principal_enabled(t, sp.id, enable).await?;
            println!("{} {app}", if enable { "enabled" } else { "disabled" });
        }
        AppCommand::Consent { app, scope, resource, tenant: key } => {
            let t = tenant(&directory, key.as_deref()).await?;
            let sp = directory.service_principal_by_app_id(t, app).await?;
            let scopes: Vec<&str> = scope.split_whitespace().collect();
            let grant = directory.grant_delegated(t, sp.id, &resource, None, &scopes).await?;
            println!("granted {} to {app} for every user", grant.scope);
        }
        AppCommand::Permissions => bail!("handled above"),
    }
    Ok(())
}
