//! RFC 6749 §4.4: the client credentials grant, as Entra's v2.0 token endpoint answers it: the
//! client authenticates (`client_secret_basic` or `client_secret_post`, RFC 6749 §2.3.1) and asks
//! for `<resource>/.default`; the token carries the application permissions granted to it.

use crate::decision::{Subject, decide, graph_app_roles};
use crate::error::OAuthError;
use crate::keys::Alg;
use crate::token::{AccessToken, ClientFacts, ResolvedTenant, TokenService};
use std::sync::Arc;
use uuid::Uuid;
use ward_core::permissions::{GRAPH_APP_ID, GRAPH_RESOURCE_URI};
use ward_directory::SecretCheck;

/// How the client presented its secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// No client authentication: a public client.
    None,
    /// A signed client assertion (RFC 7523).
    PrivateKeyJwt,
}

#[derive(Clone, Debug)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Option<String>,
    /// A client assertion (`client_assertion`, its type already checked).
    pub assertion: Option<String>,
    pub method: AuthMethod,
}

impl ClientCredentials {
    /// A client that names itself and presents nothing else (a public client).
    pub fn public(client_id: impl Into<String>) -> Self {
        ClientCredentials { client_id: client_id.into(), client_secret: None, assertion: None, method: AuthMethod::None }
    }

    pub fn secret(client_id: impl Into<String>, secret: impl Into<String>, method: AuthMethod) -> Self {
        ClientCredentials { client_id: client_id.into(), client_secret: Some(secret.into()), assertion: None, method }
    }

    pub fn assertion(client_id: impl Into<String>, assertion: impl Into<String>) -> Self {
        ClientCredentials {
            client_id: client_id.into(),
            client_secret: None,
            assertion: Some(assertion.into()),
            method: AuthMethod::PrivateKeyJwt,
        }
    }

    fn presents_credential(&self) -> bool {
        self.client_secret.is_some() || self.assertion.is_some()
    }
}

/// The resource `<resource>/.default` names: `None` for Ward's API (the common, cached case),
/// else the reference to look up (an appId, `api://…`, or another identifier URI).
fn resource_of(scope: &str) -> Result<Option<&str>, OAuthError> {
    let mut parts = scope.split_whitespace();
    let (Some(only), None) = (parts.next(), parts.next()) else {
        return Err(OAuthError::invalid_scope(1002012, "Client credential flows must ask for exactly one scope: <resource>/.default."));
    };
    let Some(resource) = only.strip_suffix("/.default") else {
        return Err(OAuthError::invalid_scope(
            1002012,
            format!(
                "The provided value for scope {} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
                ward_core::validate::clip(only)
            ),
        ));
    };
    let resource = resource.trim_end_matches('/');
    if resource.eq_ignore_ascii_case(GRAPH_RESOURCE_URI) || resource.eq_ignore_ascii_case(GRAPH_APP_ID) {
        return Ok(None);
    }
    if resource.is_empty() || resource.len() > 256 {
        return Err(OAuthError::invalid_scope(500011, "The resource principal named in the scope was not found in the tenant."));
    }
    Ok(Some(resource))
}

impl TokenService {
    /// Authenticates a client at the token endpoint. A secret or assertion presented must be valid;
    /// presenting neither is enough only when `secret_required` is false (a public client proving itself by PKCE or by the
    /// refresh token bound to it). Returns the client's facts, record present.
    pub(crate) async fn authenticate_client(
        &self,
        resolved: &ResolvedTenant,
        client: &ClientCredentials,
        secret_required: bool,
    ) -> Result<(Uuid, Arc<ClientFacts>), OAuthError> {
        let client_id = Uuid::parse_str(&client.client_id).map_err(|_| {
            OAuthError::invalid_client(
                700016,
                format!("Application with identifier '{}' was not found in the directory.", ward_core::validate::clip(&client.client_id)),
            )
        })?;
        if secret_required && !client.presents_credential() {
            return Err(OAuthError::invalid_client(
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ));
        }
        let facts = self.client_facts(resolved, client_id).await?;
        let Some(record) = &facts.record else {
            return Err(OAuthError::invalid_client(
                700016,
                format!("Application with identifier '{client_id}' was not found in the directory."),
            ));
        };
        if let Some(assertion) = client.assertion.as_deref() {
            self.check_client_assertion(&resolved.tenant, client_id, &record.app.key_credentials, assertion).await?;
        } else if let Some(secret) = client.client_secret.as_deref() {
            match record.check_secret(secret, self.directory.now()) {
                SecretCheck::Valid => {}
                SecretCheck::Expired => {
                    return Err(OAuthError::invalid_client(
                        7000222,
                        format!("The provided client secret keys for app '{client_id}' are expired."),
                    ));
                }
                SecretCheck::Invalid | SecretCheck::UnknownClient => {
                    return Err(OAuthError::invalid_client(7000215, "Invalid client secret provided."));
                }
            }
        }
        Ok((client_id, facts))
    }

    pub async fn client_credentials(
        &self,
        tenant_key: &str,
        client: ClientCredentials,
        scope: Option<&str>,
    ) -> Result<AccessToken, OAuthError> {
        let resolved = self.tenant(tenant_key).await?;
        let (client_id, facts) = self.authenticate_client(&resolved, &client, true).await?;
        let record = facts.record.as_ref().ok_or_else(OAuthError::temporarily_unavailable)?;
        // Authenticated; now what it asks for.
        let scope =
            scope.ok_or_else(|| OAuthError::invalid_request(900144, "The request body must contain the following parameter: 'scope'."))?;
        let named = resource_of(scope)?;
        let Some(sp) = &record.service_principal else {
            return Err(OAuthError::unauthorized_client(
                7000229,
                format!("The client application {client_id} is missing service principal in the tenant."),
            ));
        };
        let (grant, audience, resource_app) = match named {
            None => (
                decide(Subject::App { service_principal: sp, granted: &facts.granted, defined: graph_app_roles() })?,
                GRAPH_RESOURCE_URI.to_string(),
                None,
            ),
            Some(reference) => {
                let unavailable = |e: ward_core::DirectoryError| {
                    tracing::error!(error = %e, "resolving a resource failed");
                    OAuthError::temporarily_unavailable()
                };
                let (resource, _) =
                    self.directory.resource(resolved.tenant.id, reference).await.map_err(unavailable)?.ok_or_else(|| {
                        OAuthError::invalid_scope(
                            500011,
                            format!("The resource principal named {} was not found in the tenant.", ward_core::validate::clip(reference)),
                        )
                    })?;
                let granted = self.directory.app_roles_of(resolved.tenant.id, sp.id, resource.app_id).await.map_err(unavailable)?;
                (
                    decide(Subject::App { service_principal: sp, granted: &granted, defined: &resource.app_roles })?,
                    resource.audience,
                    Some(resource.app_id),
                )
            }
        };
        let resource_app = resource_app.map(|a| a.to_string()).unwrap_or_else(|| ward_core::permissions::GRAPH_APP_ID.to_string());
        let access = self.access_for_app(&resolved.tenant, resolved.head, sp, &resource_app).await?;
        let refused = access.token_error(&audience);
        // A workload identity's token that no policy (enforced or report-only) applied to is not
        // recorded one by one: daemons ask for thousands. Refusals and policy decisions are.
        let applied = access.evaluation.as_ref().is_some_and(|e| e.policies.iter().any(|o| o.applies));
        if refused.is_some() || applied {
            self.log_sign_in(crate::access::SignInEvent {
                tenant: resolved.tenant.id,
                user: None,
                attempted_name: None,
                service_principal: Some(sp),
                app: Some((sp.app_id, sp.display_name.as_str())),
                resource: Some((resource_app.clone(), audience.as_str())),
                interactive: false,
                public: false,
                error: refused.as_ref().map(|_| (53003, "Access has been blocked by Conditional Access policies.")),
                interrupted: false,
                access: Some(&access),
            });
        }
        if let Some(e) = refused {
            return Err(e);
        }
        let alg = record.app.token_signing_algorithm.as_deref().and_then(Alg::parse).unwrap_or(Alg::RS256);
        self.issue_app_token(&resolved.tenant, sp, &audience, grant, client.method, alg).await
    }
}
