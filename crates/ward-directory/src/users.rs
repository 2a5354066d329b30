//! Users: create, read (by id or userPrincipalName), update, disable, revoke sessions, delete,
//! restore, manager, password.

use crate::{Directory, Result, decode, encode, retry_on_conflict, secrets};
use ward_core::DirectoryError;
use ward_core::ids::{ObjectId, ObjectKind, TenantId};
use ward_core::store::{ListQuery, StoredCredential, WriteOp};
use ward_core::user::{NewUser, User, UserPatch};
use ward_core::validate::UserPrincipalName;

pub(crate) const PASSWORD: &str = "password";

/// A user to create, with an optional initial password (`passwordProfile` in Graph).
#[derive(Clone, Debug, Default)]
pub struct NewUserRequest {
    pub user: NewUser,
    pub password: Option<String>,
    pub force_change_password_next_sign_in: bool,
}

impl Directory {
    pub async fn create_user(&self, tenant: TenantId, request: NewUserRequest) -> Result<User> {
        let t = self.tenant(tenant).await?;
        let mut user = User::create(request.user, self.new_id(), &t, self.clock.now())?;
        user.force_change_password_next_sign_in = request.force_change_password_next_sign_in;
        let mut ops =
            vec![WriteOp::Insert { kind: ObjectKind::User, id: user.id, unique_key: Some(user.unique_key()), doc: encode(&user)? }];
        if let Some(password) = request.password {
            ops.push(self.password_op(&t, &user, &password).await?);
        }
        self.commit(tenant, ops).await?;
        Ok(user)
    }

    /// The write that sets a password: hashed with Argon2id off the async workers.
    /// The tenant's password policy applies, with the user's own names as banned words.
    pub(crate) async fn password_op(&self, tenant: &ward_core::tenant::Tenant, user: &User, password: &str) -> Result<WriteOp> {
        let personal = [
            user.user_principal_name.alias(),
            user.display_name.as_str(),
            user.given_name.as_deref().unwrap_or(""),
            user.surname.as_deref().unwrap_or(""),
        ];
        ward_core::password_policy::check(&tenant.settings.password_policy, password, &personal)?;
        if self.is_leaked(password) {
            return Err(DirectoryError::invalid("password", "this password is in a list of leaked passwords; choose another"));
        }
        let user = user.id;
        let hash = secrets::hash_password_off_thread(password, self.rng.as_ref()).await?;
        Ok(WriteOp::SetCredential {
            object_kind: ObjectKind::User,
            credential: StoredCredential {
                object_id: user,
                kind: PASSWORD.into(),
                key_id: String::new(),
                secret_hash: hash,
                expires_at: None,
            },
        })
    }

    /// Finds a live user by id or by userPrincipalName (case-insensitive), as Graph addresses them.
    pub async fn user(&self, tenant: TenantId, key: &str) -> Result<User> {
        self.user_record(tenant, key).await.map(|(u, _)| u)
    }

    async fn user_record(&self, tenant: TenantId, key: &str) -> Result<(User, i64)> {
        let stored = match key.parse::<ObjectId>() {
            Ok(id) => self.store.object(tenant, ObjectKind::User, id).await?.filter(|o| o.deleted_at.is_none()),
            Err(_) => match UserPrincipalName::parse(key) {
                Ok(upn) => self.store.object_by_key(tenant, ObjectKind::User, &User::upn_key(&upn)).await?,
                Err(_) => None,
            },
        };
        let stored = stored.ok_or_else(|| DirectoryError::not_found(ObjectKind::User, ward_core::validate::clip(key)))?;
        Ok((decode(&stored)?, stored.version))
    }

    /// Live users in id order, `limit` at a time after `after`.
    pub async fn users(&self, tenant: TenantId, after: Option<ObjectId>, limit: u32) -> Result<Vec<User>> {
        let rows = self.store.objects(tenant, ObjectKind::User, &ListQuery { deleted: false, after, limit }).await?;
        rows.iter().map(decode).collect()
    }

    /// Users in deleted items.
    pub async fn deleted_users(&self, tenant: TenantId, after: Option<ObjectId>, limit: u32) -> Result<Vec<User>> {
        let rows = self.store.objects(tenant, ObjectKind::User, &ListQuery { deleted: true, after, limit }).await?;
        rows.iter().map(decode).collect()
    }

    /// Read-modify-write with optimistic concurrency, retried when another writer got there first.
    async fn modify_user(&self, tenant: TenantId, key: &str, change: impl Fn(&mut User) -> Result<bool>) -> Result<User> {
        let change = &change;
        retry_on_conflict(move || async move {
            let (mut user, version) = self.user_record(tenant, key).await?;
            if !change(&mut user)? {
                return Ok(user);
            }
            let op = WriteOp::Update {
                kind: ObjectKind::User,
                id: user.id,
                unique_key: Some(user.unique_key()),
                doc: encode(&user)?,
                expected_version: version,
            };
            self.commit(tenant, vec![op]).await?;
            Ok(user)
        })
        .await
    }

    pub async fn update_user(&self, tenant: TenantId, key: &str, patch: UserPatch) -> Result<User> {
        let t = self.tenant(tenant).await?;
        self.modify_user(tenant, key, |u| u.apply(patch.clone(), &t)).await
    }

    /// Graph's `PATCH /users/{id}`: properties and, with `passwordProfile`, a new password (and
    /// whether it must be changed at next sign-in), in one unit of work.
    pub async fn update_user_with_password(
        &self,
        tenant: TenantId,
        key: &str,
        patch: UserPatch,
        password: Option<(String, bool)>,
    ) -> Result<User> {
        let t = self.tenant(tenant).await?;
        let (patch, password, t) = (&patch, &password, &t);
        retry_on_conflict(move || async move {
            let (mut user, version) = self.user_record(tenant, key).await?;
            let mut changed = user.apply(patch.clone(), t)?;
            let mut ops = Vec::new();
            if let Some((pw, force)) = password {
                ops.push(self.password_op(t, &user, pw).await?);
                ops.extend(self.remediation_ops(tenant, user.id, ward_risk::Remediation::AdminGeneratedTemporaryPassword).await?);
                if user.force_change_password_next_sign_in != *force {
                    user.force_change_password_next_sign_in = *force;
                    changed = true;
                }
            }
            if changed {
                ops.push(WriteOp::Update {
                    kind: ObjectKind::User,
                    id: user.id,
                    unique_key: Some(user.unique_key()),
                    doc: encode(&user)?,
                    expected_version: version,
                });
            }
            if !ops.is_empty() {
                self.commit(tenant, ops).await?;
            }
            Ok(user)
        })
        .await
    }

    /// Disables sign-in and invalidates every session and refresh token issued so far.
    pub async fn disable_user(&self, tenant: TenantId, key: &str) -> Result<User> {
        let now = self.clock.now();
        self.modify_user(tenant, key, |u| {
            u.account_enabled = false;
            u.sign_in_sessions_valid_from_date_time = now;
            Ok(true)
        })
        .await
    }

    /// Graph's `revokeSignInSessions`: tokens and sessions issued before now stop working.
    pub async fn revoke_sign_in_sessions(&self, tenant: TenantId, key: &str) -> Result<User> {
        let now = self.clock.now();
        self.modify_user(tenant, key, |u| {
            u.sign_in_sessions_valid_from_date_time = now;
            Ok(true)
        })
        .await
    }

    /// Sets (or with `None` clears) the user's manager.
    pub async fn set_manager(&self, tenant: TenantId, key: &str, manager: Option<&str>) -> Result<User> {
        let manager_id = match manager {
            Some(m) => Some(self.user(tenant, m).await?.id),
            None => None,
        };
        self.modify_user(tenant, key, |u| {
            if manager_id == Some(u.id) {
                return Err(DirectoryError::invalid("manager", "a user cannot be their own manager"));
            }
            let changed = u.manager_id != manager_id;
            u.manager_id = manager_id;
            Ok(changed)
        })
        .await
    }

    /// Sets a new password (administrator reset) and whether it must be changed at next sign-in.
    /// An administrator's new password for a user at risk remediates them (Entra's
    /// adminGeneratedTemporaryPassword): whoever knew the old one no longer gets in with it.
    pub async fn set_password(&self, tenant: TenantId, key: &str, password: &str, force_change: bool) -> Result<()> {
        let how = ward_risk::Remediation::AdminGeneratedTemporaryPassword;
        self.set_password_with(tenant, key, password, force_change, Some(how)).await
    }

    /// A person sets their own new password (the change at next sign-in is then done).
    /// `secured`: they proved more than a password this session (MFA), which makes it Identity
    /// Protection's "secured password change": a user at risk is remediated in the same unit of
    /// work.
    pub async fn set_own_password(&self, tenant: TenantId, user: ObjectId, password: &str, secured: bool) -> Result<()> {
        let how = secured.then_some(ward_risk::Remediation::SecuredPasswordChange);
        self.set_password_with(tenant, &user.to_string(), password, false, how).await
    }

    /// The new password (hashed once), `forceChangePasswordNextSignIn` as given, and the risk
    /// remediation, in one unit of work, tried again on a concurrent change (a risk detection
    /// landing at the same moment, say).
    async fn set_password_with(
        &self,
        tenant: TenantId,
        key: &str,
        password: &str,
        force_change: bool,
        remediation: Option<ward_risk::Remediation>,
    ) -> Result<()> {
        let t = self.tenant(tenant).await?;
        let (user, _) = self.user_record(tenant, key).await?;
        let password_op = &self.password_op(&t, &user, password).await?;
        retry_on_conflict(|| async move {
            let (user, version) = self.user_record(tenant, key).await?;
            let mut ops = vec![password_op.clone()];
            if let Some(how) = remediation {
                ops.extend(self.remediation_ops(tenant, user.id, how).await?);
            }
            if user.force_change_password_next_sign_in != force_change {
                let updated = User { force_change_password_next_sign_in: force_change, ..user.clone() };
                ops.push(WriteOp::Update {
                    kind: ObjectKind::User,
                    id: user.id,
                    unique_key: Some(updated.unique_key()),
                    doc: encode(&updated)?,
                    expected_version: version,
                });
            }
            self.commit(tenant, ops).await.map(|_| ())
        })
        .await
    }

    /// Checks a password against the stored Argon2id hash. The sign-in pipeline builds on this.
    pub async fn verify_password(&self, tenant: TenantId, user: ObjectId, password: &str) -> Result<bool> {
        match self.store.credential(tenant, user, PASSWORD, "").await? {
            Some(c) => {
                let stale = !secrets::is_current_hash(&c.secret_hash);
                let ok = secrets::verify_password_off_thread(password, c.secret_hash.clone()).await;
                if ok && stale {
                    // Hashed with older parameters: hashed again now that the password is at hand.
                    let hash = secrets::hash_password_off_thread(password, self.rng.as_ref()).await?;
                    let op =
                        WriteOp::SetCredential { object_kind: ObjectKind::User, credential: StoredCredential { secret_hash: hash, ..c } };
                    if let Err(e) = self.commit(tenant, vec![op]).await {
                        tracing::warn!(error = %e, "could not store a password hashed again with current parameters");
                    }
                }
                Ok(ok)
            }
            // No password: the same work as a wrong one, so timing does not tell.
            None => {
                let _ = secrets::verify_password_off_thread(password, secrets::decoy_hash().to_string()).await;
                Ok(false)
            }
        }
    }

    pub async fn delete_user(&self, tenant: TenantId, key: &str) -> Result<()> {
        let user = self.user(tenant, key).await?;
        self.soft_delete(tenant, ObjectKind::User, user.id).await
    }

    /// Restores a user from deleted items. Fails with `duplicate_user_principal_name` when another
    /// user took the UPN meanwhile.
    pub async fn restore_user(&self, tenant: TenantId, id: ObjectId) -> Result<User> {
        let restored = self
            .restore(tenant, ObjectKind::User, id, |stored| {
                let user: User = decode(stored)?;
                Ok(Some(user.unique_key()))
            })
            .await?;
        decode(&restored)
    }
}
