//! The one decision point: every token issuance asks here, whatever the grant. Today it knows
//! app-only issuance (client credentials); the user grants and conditional access extend it
//! rather than adding a second path.

use crate::error::OAuthError;
use ward_core::app::ServicePrincipal;
use ward_core::permissions::{AppRoleAssignment, GRAPH_PERMISSIONS, graph_app_role};

/// Who a token is for, with what the directory says was granted to it.
pub enum Subject<'a> {
    /// App-only: the client's service principal, acting as itself, and its application
    /// permissions on the resource asked for.
    App { service_principal: &'a ServicePrincipal, granted: &'a [AppRoleAssignment] },
}

/// What may be issued: the permissions that were granted, nothing more.
#[derive(Debug, PartialEq)]
pub struct Grant {
    pub roles: Vec<String>,
}

/// Pure over what the caller read, so it is the same decision whether the facts came from the
/// store or from a cache.
pub fn decide(subject: Subject<'_>) -> Result<Grant, OAuthError> {
    match subject {
        Subject::App { service_principal: sp, granted } => {
            if !sp.account_enabled {
                return Err(OAuthError::unauthorized_client(7000112, format!("Application '{}' is disabled.", sp.app_id)));
            }
            let mut roles: Vec<String> =
                granted.iter().filter_map(|a| graph_app_role(&a.app_role_id.to_string())).map(|p| p.value.to_string()).collect();
            // Stable order, as listed in the permission table.
            roles.sort_by_key(|r| GRAPH_PERMISSIONS.iter().position(|p| p.value == r));
            roles.dedup();
            Ok(Grant { roles })
        }
    }
}
