//! Applications and service principals, minimal for now: the OAuth issue extends them.

use crate::error::DirectoryError;
use crate::ids::{ObjectId, TenantId};
use crate::validate;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Describes a client secret without the secret: its hash lives apart, in the credential store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    pub key_id: Uuid,
    pub display_name: Option<String>,
    /// The first three characters of the secret, as Graph shows them.
    pub hint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub start_date_time: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end_date_time: OffsetDateTime,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub id: ObjectId,
    /// The client id.
    pub app_id: Uuid,
    pub display_name: String,
    pub sign_in_audience: String,
    #[serde(default)]
    pub password_credentials: Vec<PasswordCredential>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: ObjectId,
    pub app_id: Uuid,
    pub display_name: String,
    pub account_enabled: bool,
    pub service_principal_type: String,
    pub app_owner_organization_id: TenantId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_date_time: OffsetDateTime,
}

impl Application {
    pub fn create(display_name: &str, id: ObjectId, app_id: Uuid, now: OffsetDateTime) -> Result<Application, DirectoryError> {
        Ok(Application {
            id,
            app_id,
            display_name: validate::required_text("displayName", display_name, 256)?,
            sign_in_audience: "AzureADMyOrg".into(),
            password_credentials: Vec::new(),
            created_date_time: now,
        })
    }

    /// The service principal that represents this application in its home tenant.
    pub fn home_service_principal(&self, id: ObjectId, tenant: TenantId, now: OffsetDateTime) -> ServicePrincipal {
        ServicePrincipal {
            id,
            app_id: self.app_id,
            display_name: self.display_name.clone(),
            account_enabled: true,
            service_principal_type: "Application".into(),
            app_owner_organization_id: tenant,
            created_date_time: now,
        }
    }
}
