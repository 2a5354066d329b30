//! The one decision point: every token issuance asks here, whatever the grant. Today it knows
//! app-only issuance (client credentials); the user grants and conditional access extend it
//! rather than adding a second path.

use crate::error::OAuthError;
use uuid::Uuid;
use ward_core::TenantId;
use ward_core::app::ServicePrincipal;
use ward_core::permissions::{GRAPH_PERMISSIONS, graph_app_role};
use ward_directory::Directory;

/// Who a token is for.
pub enum Subject<'a> {
    /// App-only: the client's service principal, acting as itself.
    App(&'a ServicePrincipal),
}

/// What may be issued: the permissions that were granted, nothing more.
#[derive(Debug, PartialEq)]
pub struct Grant {
    pub roles: Vec<String>,
}

pub async fn decide(directory: &Directory, tenant: TenantId, subject: Subject<'_>, resource_app_id: Uuid) -> Result<Grant, OAuthError> {
    match subject {
        Subject::App(sp) => {
            if !sp.account_enabled {
                return Err(OAuthError::unauthorized_client(7000112, format!("Application '{}' is disabled.", sp.app_id)));
            }
            let assignments = directory.app_roles_of(tenant, sp.id, resource_app_id).await.map_err(|e| {
                tracing::error!(error = %e, "reading app role assignments failed");
                OAuthError::temporarily_unavailable()
            })?;
            let mut roles: Vec<String> =
                assignments.iter().filter_map(|a| graph_app_role(&a.app_role_id.to_string())).map(|p| p.value.to_string()).collect();
            // Stable order, as listed in the permission table.
            roles.sort_by_key(|r| GRAPH_PERMISSIONS.iter().position(|p| p.value == r));
            roles.dedup();
            Ok(Grant { roles })
        }
    }
}
