//! The one decision point: every token issuance asks here, whatever the grant — client
//! credentials, authorization code, refresh token, and what comes after. Conditional access
//! extends this function rather than adding a second path.

use crate::error::OAuthError;
use time::OffsetDateTime;
use ward_core::app::ServicePrincipal;
use ward_core::permissions::{AppRoleAssignment, GRAPH_PERMISSIONS, OAuth2PermissionGrant, Scope};
use ward_core::user::User;

/// Who a token is for, with what the directory says was granted to it.
pub enum Subject<'a> {
    /// App-only: the client's service principal, acting as itself, and its application
    /// permissions on the resource asked for.
    App {
        service_principal: &'a ServicePrincipal,
        granted: &'a [AppRoleAssignment],
        /// The application permissions the resource defines, (id, value), in its order.
        defined: &'a [(uuid::Uuid, String)],
    },
    /// Delegated: a user, through a client, asking for delegated permissions. `authenticated_at`
    /// is when the user signed in (the session's `auth_time`).
    User {
        user: &'a User,
        service_principal: &'a ServicePrincipal,
        consented: &'a [OAuth2PermissionGrant],
        requested: &'a [Scope],
        authenticated_at: OffsetDateTime,
    },
}

/// What may be issued: the permissions that were granted, nothing more.
#[derive(Debug, PartialEq)]
pub struct Grant {
    /// Application permissions (`roles`), for app-only tokens.
    pub roles: Vec<String>,
    /// Delegated permissions (`scp`), for user tokens, in the order asked.
    pub scopes: Vec<String>,
}

/// Pure over what the caller read, so it is the same decision whether the facts came from the
/// store or from a cache.
pub fn decide(subject: Subject<'_>) -> Result<Grant, OAuthError> {
    match subject {
        Subject::App { service_principal: sp, granted, defined } => {
            if !sp.account_enabled {
                return Err(OAuthError::unauthorized_client(7000112, format!("Application '{}' is disabled.", sp.app_id)));
            }
            // In the resource's own order; a grant of a role it no longer defines counts for nothing.
            let roles: Vec<String> =
                defined.iter().filter(|(id, _)| granted.iter().any(|a| a.app_role_id == *id)).map(|(_, v)| v.clone()).collect();
            Ok(Grant { roles, scopes: Vec::new() })
        }
        Subject::User { user, service_principal: sp, consented, requested, authenticated_at } => {
            if !sp.account_enabled {
                return Err(OAuthError::unauthorized_client(7000112, format!("Application '{}' is disabled.", sp.app_id)));
            }
            if !user.account_enabled {
                return Err(OAuthError::invalid_grant(50057, "The user account is disabled."));
            }
            // `signInSessionsValidFromDateTime`: sign-ins before it (and all they led to) are void.
            // To the microsecond (what the store keeps): a sign-in made earlier in the same second
            // as "revoke sessions" or a confirmed compromise is void too.
            let micros = |t: time::OffsetDateTime| t.unix_timestamp_nanos() / 1_000;
            if micros(authenticated_at) < micros(user.sign_in_sessions_valid_from_date_time) {
                return Err(OAuthError::invalid_grant(
                    50173,
                    "The provided grant has expired due to it being revoked; the user must sign in again.",
                ));
            }
            let missing: Vec<&str> = requested.iter().filter(|s| !s.consented(consented)).map(|s| s.value.as_str()).collect();
            if !missing.is_empty() {
                return Err(OAuthError::consent_required(
                    65001,
                    format!(
                        "The user or administrator has not consented to use the application with ID '{}' for: {}.",
                        sp.app_id,
                        missing.join(" ")
                    ),
                ));
            }
            let mut scopes: Vec<String> = Vec::with_capacity(requested.len());
            for s in requested {
                if !scopes.contains(&s.value) {
                    scopes.push(s.value.clone());
                }
            }
            Ok(Grant { roles: Vec::new(), scopes })
        }
    }
}

/// Ward's API's application permissions, (id, value), in the permission table's order.
pub fn graph_app_roles() -> &'static [(uuid::Uuid, String)] {
    static ROLES: std::sync::OnceLock<Vec<(uuid::Uuid, String)>> = std::sync::OnceLock::new();
    ROLES.get_or_init(|| {
        GRAPH_PERMISSIONS
            .iter()
            .filter_map(|p| p.app_role_id.and_then(|id| uuid::Uuid::parse_str(id).ok()).map(|id| (id, p.value.to_string())))
            .collect()
    })
}
