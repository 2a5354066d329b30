//! `ward group …`

use super::{all_pages, open_directory, print_object, tenant};
use crate::config::Config;
use anyhow::{Result, bail};
use clap::Subcommand;
use serde_json::json;
use ward_core::group::{Group, NewGroup, UNIFIED};
use ward_core::ids::{ObjectId, TenantId};
use ward_directory::Directory;

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Create a security group (or, with --m365, a Microsoft 365 group).
    Create {
        #[arg(long)]
        name: String,
        /// Defaults to the name without spaces and punctuation.
        #[arg(long)]
        mail_nickname: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// A Microsoft 365 group (groupTypes ["Unified"], mail-enabled).
        #[arg(long)]
        m365: bool,
        /// The group can be assigned directory roles (set only at creation).
        #[arg(long)]
        role_assignable: bool,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List groups (or those in deleted items).
    List {
        #[arg(long)]
        deleted: bool,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Add a member: a user (id or UPN), a group (id or name) or a service principal (id).
    AddMember {
        group: String,
        member: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    RemoveMember {
        group: String,
        member: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List members; --transitive expands nested groups.
    Members {
        group: String,
        #[arg(long)]
        transitive: bool,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Move a group to deleted items (restorable for 30 days).
    Delete {
        group: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    Restore {
        id: ObjectId,
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// A group by id, or by display name when exactly one group has it.
async fn find_group(directory: &Directory, t: TenantId, key: &str) -> Result<Group> {
    if let Ok(id) = key.parse::<ObjectId>() {
        return Ok(directory.group(t, id).await?);
    }
    let mut matches = all_pages(|g: &Group| g.id, |after| directory.groups(t, after, 1000)).await?;
    matches.retain(|g| g.display_name == key);
    match matches.len() {
        0 => {
            Err(ward_core::DirectoryError::NotFound { kind: Some(ward_core::ObjectKind::Group), id: ward_core::validate::clip(key) }.into())
        }
        1 => Ok(matches.remove(0)),
        n => bail!("{n} groups are named '{key}'; use the group's id"),
    }
}

/// A member by id, a user by UPN, or a group by name.
async fn find_member(directory: &Directory, t: TenantId, key: &str) -> Result<ObjectId> {
    if let Ok(id) = key.parse::<ObjectId>() {
        return Ok(id);
    }
    if key.contains('@') {
        return Ok(directory.user(t, key).await?.id);
    }
    Ok(find_group(directory, t, key).await?.id)
}

fn default_nickname(name: &str) -> String {
    let nick: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(64).collect();
    if nick.is_empty() { "group".into() } else { nick }
}

fn summary(o: &ward_directory::DirectoryObject) -> String {
    let name = o.doc.get("userPrincipalName").or_else(|| o.doc.get("displayName")).and_then(|v| v.as_str()).unwrap_or("");
    format!("{}  {}  {}", o.id, o.kind, name)
}

pub async fn group(config: &Config, command: GroupCommand) -> Result<()> {
    let directory = open_directory(config).await?;
    match command {
        GroupCommand::Create { name, mail_nickname, description, m365, role_assignable, tenant: t, json } => {
            let t = tenant(&directory, t.as_deref()).await?;
            let input = NewGroup {
                mail_nickname: mail_nickname.unwrap_or_else(|| default_nickname(&name)),
                display_name: name,
                description,
                mail_enabled: m365,
                security_enabled: true,
                group_types: if m365 { vec![UNIFIED.into()] } else { vec![] },
                is_assignable_to_role: role_assignable,
                visibility: None,
                external_id: None,
            };
            let g = directory.create_group(t, input).await?;
            print_object(&serde_json::to_value(&g)?, json);
        }
        GroupCommand::List { deleted, tenant: t, json } => {
            let t = tenant(&directory, t.as_deref()).await?;
            let d = &*directory;
            let all = all_pages(
                |g: &Group| g.id,
                move |after| async move { if deleted { d.deleted_groups(t, after, 500).await } else { d.groups(t, after, 500).await } },
            )
            .await?;
            if json {
                println!("{}", json!({ "value": all }));
            } else {
                for g in &all {
                    let kind = if g.is_unified() { "microsoft365" } else { "security" };
                    println!("{}  {}  {}", g.id, g.display_name, kind);
                }
            }
        }
        GroupCommand::AddMember { group, member, tenant: t } => {
            let t = tenant(&directory, t.as_deref()).await?;
            let g = find_group(&directory, t, &group).await?;
            let m = find_member(&directory, t, &member).await?;
            directory.add_member(t, g.id, m).await?;
            println!("added {m} to {}", g.display_name);
        }
        GroupCommand::RemoveMember { group, member, tenant: t } => {
            let t = tenant(&directory, t.as_deref()).await?;
            let g = find_group(&directory, t, &group).await?;
            let m = find_member(&directory, t, &member).await?;
            directory.remove_member(t, g.id, m).await?;
            println!("removed {m} from {}", g.display_name);
        }
        GroupCommand::Members { group, transitive, tenant: t, json } => {
            let t = tenant(&directory, t.as_deref()).await?;
            let g = find_group(&directory, t, &group).await?;
            let members = if transitive { directory.transitive_members(t, g.id).await? } else { directory.members(t, g.id).await? };
            if json {
                let value: Vec<_> = members.iter().map(|m| json!({ "id": m.id, "kind": m.kind, "object": m.doc })).collect();
                println!("{}", json!({ "value": value }));
            } else {
                for m in &members {
                    println!("{}", summary(m));
                }
            }
        }
        GroupCommand::Delete { group, tenant: t } => {
            let t = tenant(&directory, t.as_deref()).await?;
            let g = find_group(&directory, t, &group).await?;
            directory.delete_group(t, g.id).await?;
            println!("deleted {} ({}); restorable for 30 days", g.display_name, g.id);
        }
        GroupCommand::Restore { id, tenant: t } => {
            let t = tenant(&directory, t.as_deref()).await?;
            let g = directory.restore_group(t, id).await?;
            println!("restored {} ({})", g.display_name, g.id);
        }
    }
    Ok(())
}
