//! `ward user …`

use super::{all_pages, open_directory, print_object, tenant};
use crate::config::Config;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::json;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use ward_core::ObjectId;
use ward_core::user::{NewUser, User, UserPatch, UserType};
use ward_directory::{NewUserRequest, secrets};

#[derive(clap::Args, Debug, Default)]
pub struct UserFields {
    #[arg(long)]
    display_name: Option<String>,
    #[arg(long)]
    mail_nickname: Option<String>,
    #[arg(long)]
    given_name: Option<String>,
    #[arg(long)]
    surname: Option<String>,
    #[arg(long)]
    mail: Option<String>,
    #[arg(long)]
    job_title: Option<String>,
    #[arg(long)]
    department: Option<String>,
    #[arg(long)]
    employee_id: Option<String>,
    #[arg(long)]
    employee_type: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[arg(long)]
    usage_location: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user.
    Create {
        #[arg(long)]
        upn: String,
        #[command(flatten)]
        fields: UserFields,
        /// Create a guest (userType Guest).
        #[arg(long)]
        guest: bool,
        /// Create with sign-in disabled.
        #[arg(long)]
        disabled: bool,
        /// Read the initial password from a file (`/dev/stdin` to pipe it); never from the command line.
        #[arg(long, conflicts_with = "generate_password")]
        password_file: Option<PathBuf>,
        /// Generate a strong initial password and print it once.
        #[arg(long)]
        generate_password: bool,
        /// The user must change the password at first sign-in.
        #[arg(long)]
        force_change_password: bool,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List users (or those in deleted items).
    List {
        #[arg(long)]
        deleted: bool,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one user, by id or userPrincipalName.
    Show {
        user: String,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Update properties of a user.
    Update {
        user: String,
        #[arg(long)]
        upn: Option<String>,
        #[command(flatten)]
        fields: UserFields,
        #[arg(long)]
        account_enabled: Option<bool>,
        /// The manager, by id or userPrincipalName.
        #[arg(long, conflicts_with = "clear_manager")]
        manager: Option<String>,
        #[arg(long)]
        clear_manager: bool,
        /// Any other properties, as Graph JSON: '{"otherMails": ["a@example.com"]}'.
        #[arg(long)]
        patch: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Disable sign-in and revoke every session and refresh token.
    Disable {
        user: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Move a user to deleted items (restorable for 30 days).
    Delete {
        user: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Restore a user from deleted items, by id.
    Restore {
        id: ObjectId,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Create users from JSON lines (Graph's user shape, optional passwordProfile), one
    /// transaction each; prints one JSON line per input line once it is committed.
    Import {
        /// Read from this file instead of standard input.
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// Lines longer than this are refused rather than parsed.
const MAX_IMPORT_LINE: usize = 64 * 1024;

fn fields_patch(f: UserFields) -> UserPatch {
    UserPatch {
        display_name: f.display_name,
        mail_nickname: f.mail_nickname,
        given_name: f.given_name.map(Some),
        surname: f.surname.map(Some),
        mail: f.mail.map(Some),
        job_title: f.job_title.map(Some),
        department: f.department.map(Some),
        employee_id: f.employee_id.map(Some),
        employee_type: f.employee_type.map(Some),
        usage_location: f.usage_location.map(Some),
        ..Default::default()
    }
}

fn user_json(u: &User) -> serde_json::Value {
    serde_json::to_value(u).unwrap_or_default()
}

fn read_secret_file(path: &PathBuf) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

pub async fn user(config: &Config, command: UserCommand) -> Result<()> {
    let directory = open_directory(config).await?;
    match command {
        UserCommand::Create { upn, fields, guest, disabled, password_file, generate_password, force_change_password, tenant: t, json } => {
            let t = tenant(&directory, t.as_deref()).await?;
            let display_name = fields.display_name.clone().unwrap_or_else(|| upn.split('@').next().unwrap_or(&upn).to_string());
            let mut generated = None;
            let password = match (password_file, generate_password) {
                (Some(path), _) => Some(read_secret_file(&path)?),
                (None, true) => {
                    let p = secrets::generate_password(&ward_directory::SystemRng);
                    generated = Some(p.clone());
                    Some(p)
                }
                (None, false) => None,
            };
            let new = NewUser {
                user_principal_name: upn,
                display_name,
                mail_nickname: fields.mail_nickname,
                given_name: fields.given_name,
                surname: fields.surname,
                mail: fields.mail,
                job_title: fields.job_title,
                department: fields.department,
                employee_id: fields.employee_id,
                employee_type: fields.employee_type,
                usage_location: fields.usage_location,
                user_type: guest.then_some(UserType::Guest),
                account_enabled: Some(!disabled),
                ..Default::default()
            };
            let request = NewUserRequest { user: new, password, force_change_password_next_sign_in: force_change_password };
            let created = directory.create_user(t, request).await?;
            let mut out = user_json(&created);
            if let Some(p) = generated {
                out["generatedPassword"] = json!(p);
            }
            print_object(&out, json);
        }
        UserCommand::List { deleted, tenant: t, json } => {
            let t = tenant(&directory, t.as_deref()).await?;
            let d = &*directory;
            let all = all_pages(
                |u: &User| u.id,
                move |after| async move { if deleted { d.deleted_users(t, after, 500).await } else { d.users(t, after, 500).await } },
            )
            .await?;
            if json {
                println!("{}", json!({ "value": all.iter().map(user_json).collect::<Vec<_>>() }));
            } else {
                for u in &all {
                    let state = if u.account_enabled { "enabled" } else { "disabled" };
                    println!("{}  {}  {}  {}", u.id, u.user_principal_name, u.display_name, state);
                }
            }
        }
        UserCommand::Show { user, tenant: t, json } => {
            let t = tenant(&directory, t.as_deref()).await?;
            print_object(&user_json(&directory.user(t, &user).await?), json);
        }
        UserCommand::Update { user, upn, fields, account_enabled, manager, clear_manager, patch, tenant: t, json } => {
            let t = tenant(&directory, t.as_deref()).await?;
            let mut changes = fields_patch(fields);
            changes.user_principal_name = upn;
            changes.account_enabled = account_enabled;
            if let Some(raw) = patch {
                let extra: UserPatch = serde_json::from_str(&raw).context("--patch is not a valid user patch")?;
                changes = merge(changes, extra);
            }
            let mut updated = directory.update_user(t, &user, changes).await?;
            if manager.is_some() || clear_manager {
                updated = directory.set_manager(t, &updated.id.to_string(), manager.as_deref()).await?;
            }
            print_object(&user_json(&updated), json);
        }
        UserCommand::Disable { user, tenant: t } => {
            let t = tenant(&directory, t.as_deref()).await?;
            let u = directory.disable_user(t, &user).await?;
            println!("disabled {} and revoked its sessions", u.user_principal_name);
        }
        UserCommand::Delete { user, tenant: t } => {
            let t = tenant(&directory, t.as_deref()).await?;
            let u = directory.user(t, &user).await?;
            directory.delete_user(t, &u.id.to_string()).await?;
            println!("deleted {} ({}); restorable for 30 days with `ward user restore {}`", u.user_principal_name, u.id, u.id);
        }
        UserCommand::Restore { id, tenant: t, json } => {
            let t = tenant(&directory, t.as_deref()).await?;
            print_object(&user_json(&directory.restore_user(t, id).await?), json);
        }
        UserCommand::Import { file, tenant: t } => {
            let t = tenant(&directory, t.as_deref()).await?;
            let reader: Box<dyn BufRead> = match file {
                Some(path) => {
                    Box::new(std::io::BufReader::new(std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?))
                }
                None => Box::new(std::io::BufReader::new(std::io::stdin())),
            };
            let failed = import(&directory, t, reader).await?;
            if failed > 0 {
                bail!("{failed} line(s) were not imported");
            }
        }
    }
    Ok(())
}

/// Fields set in `extra` win over those in `base`.
fn merge(base: UserPatch, extra: UserPatch) -> UserPatch {
    UserPatch {
        user_principal_name: extra.user_principal_name.or(base.user_principal_name),
        display_name: extra.display_name.or(base.display_name),
        mail_nickname: extra.mail_nickname.or(base.mail_nickname),
        given_name: extra.given_name.or(base.given_name),
        surname: extra.surname.or(base.surname),
        mail: extra.mail.or(base.mail),
        other_mails: extra.other_mails.or(base.other_mails),
        job_title: extra.job_title.or(base.job_title),
        department: extra.department.or(base.department),
        employee_id: extra.employee_id.or(base.employee_id),
        employee_type: extra.employee_type.or(base.employee_type),
        usage_location: extra.usage_location.or(base.usage_location),
        user_type: extra.user_type.or(base.user_type),
        account_enabled: extra.account_enabled.or(base.account_enabled),
        on_premises_immutable_id: extra.on_premises_immutable_id.or(base.on_premises_immutable_id),
        business_phones: extra.business_phones.or(base.business_phones),
        mobile_phone: extra.mobile_phone.or(base.mobile_phone),
        office_location: extra.office_location.or(base.office_location),
        preferred_language: extra.preferred_language.or(base.preferred_language),
        company_name: extra.company_name.or(base.company_name),
        city: extra.city.or(base.city),
        state: extra.state.or(base.state),
        country: extra.country.or(base.country),
        external_id: extra.external_id.or(base.external_id),
        scim: extra.scim.or(base.scim),
    }
}

fn parse_import_line(line: &str) -> Result<NewUserRequest, ward_core::DirectoryError> {
    use ward_core::DirectoryError;
    let mut value: serde_json::Value = serde_json::from_str(line).map_err(|e| DirectoryError::invalid("line", format!("not JSON: {e}")))?;
    let profile = value.as_object_mut().and_then(|o| o.remove("passwordProfile"));
    let user: NewUser = serde_json::from_value(value).map_err(|e| DirectoryError::invalid("line", e.to_string()))?;
    let (password, force) = match profile {
        None | Some(serde_json::Value::Null) => (None, false),
        Some(p) => (
            p.get("password").and_then(|v| v.as_str()).map(String::from),
            p.get("forceChangePasswordNextSignIn").and_then(|v| v.as_bool()).unwrap_or(false),
        ),
    };
    Ok(NewUserRequest { user, password, force_change_password_next_sign_in: force })
}

/// Reads one line of at most `max` bytes (newline excluded). A longer line is consumed to its end
/// and reported as `Err(len)` without ever being held in memory whole. `Ok(None)` at end of input.
fn read_bounded_line(reader: &mut dyn BufRead, max: usize) -> std::io::Result<Option<Result<String, usize>>> {
    let mut buf = Vec::new();
    let mut seen = 0usize;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok((seen > 0).then(|| finish(buf, seen, max)));
        }
        let (part, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        seen += part.len();
        if buf.len() <= max {
            buf.extend_from_slice(&part[..part.len().min(max + 1 - buf.len())]);
        }
        let used = done.unwrap_or(chunk.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(Some(finish(buf, seen, max)));
        }
    }
}

fn finish(buf: Vec<u8>, seen: usize, max: usize) -> Result<String, usize> {
    if seen > max {
        return Err(seen);
    }
    Ok(String::from_utf8_lossy(&buf).trim_end_matches('\r').to_string())
}

/// Returns how many lines failed. Each acknowledgement is flushed only after its commit.
async fn import(directory: &ward_directory::Directory, t: ward_core::TenantId, mut reader: Box<dyn BufRead>) -> Result<usize> {
    let mut failed = 0;
    let stdout = std::io::stdout();
    let mut n = 0;
    while let Some(line) = read_bounded_line(reader.as_mut(), MAX_IMPORT_LINE).context("reading input")? {
        n += 1;
        let result = match line {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => match parse_import_line(&line) {
                Ok(request) => directory.create_user(t, request).await,
                Err(e) => Err(e),
            },
            Err(len) => Err(ward_core::DirectoryError::invalid("line", format!("{len} bytes is longer than {MAX_IMPORT_LINE}"))),
        };
        let out = match result {
            Ok(u) => json!({ "line": n, "id": u.id, "userPrincipalName": u.user_principal_name }),
            Err(e) => {
                failed += 1;
                json!({ "line": n, "error": { "code": e.code().as_str(), "message": e.to_string() } })
            }
        };
        let mut lock = stdout.lock();
        writeln!(lock, "{out}")?;
        lock.flush()?;
    }
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &str, max: usize) -> Vec<Result<String, usize>> {
        let mut reader: Box<dyn BufRead> = Box::new(std::io::BufReader::with_capacity(4, input.as_bytes()));
        std::iter::from_fn(|| read_bounded_line(reader.as_mut(), max).unwrap()).collect()
    }

    #[test]
    fn bounded_lines() {
        assert_eq!(lines("ab\r\ncd\n\nlast", 8), vec![Ok("ab".into()), Ok("cd".into()), Ok(String::new()), Ok("last".into())]);
        assert_eq!(lines("0123456789\nok\n", 8), vec![Err(10), Ok("ok".into())]);
        assert_eq!(lines("12345678\n", 8), vec![Ok("12345678".into())]);
        assert_eq!(lines("", 8), vec![]);
    }
}
