//! On-behalf-of (Entra's form of RFC 7523 §2.1): an API that received a user's access token asks
//! for a token to call another API as that user. `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`,
//! `requested_token_use=on_behalf_of`, `assertion=<the token it received>`. The API must
//! authenticate, the token must be live and addressed to it, and the API must hold consent for
//! the downstream permissions; the new token belongs to the same grant (`sid`), so revoking the
//! user's sign-in revokes it too.

use crate::error::OAuthError;
use crate::grants::client_credentials::ClientCredentials;
use crate::keys::Alg;
use crate::token::{AccessToken, TokenService};
use serde_json::Value;
use uuid::Uuid;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn bad_assertion(message: &str) -> OAuthError {
    OAuthError::invalid_grant(50013, format!("Assertion failed: {message}"))
}

impl TokenService {
    pub async fn on_behalf_of(
        &self,
        tenant_key: &str,
        client: ClientCredentials,
        assertion: Option<&str>,
        scope: Option<&str>,
        requested_token_use: Option<&str>,
    ) -> Result<AccessToken, OAuthError> {
        if requested_token_use != Some("on_behalf_of") {
            return Err(OAuthError::invalid_request(900144, "The jwt-bearer grant needs requested_token_use=on_behalf_of."));
        }
        let resolved = self.tenant(tenant_key).await?;
        let (client_id, facts) = self.authenticate_client(&resolved, &client, true).await?;
        let record = facts.record.as_ref().ok_or_else(OAuthError::temporarily_unavailable)?;
        let sp = record.service_principal.clone().ok_or_else(|| {
            OAuthError::unauthorized_client(7000229, "The client application is missing its service principal in the tenant.")
        })?;
        let assertion = assertion
            .ok_or_else(|| OAuthError::invalid_request(900144, "The request body must contain the following parameter: 'assertion'."))?;
        let scope =
            scope.ok_or_else(|| OAuthError::invalid_request(900144, "The request body must contain the following parameter: 'scope'."))?;
        // The incoming token: Ward's, live, a user's, and addressed to this API.
        let live = self
            .live_access_token(&resolved.tenant, assertion, Some(&client_id.to_string()))
            .await?
            .ok_or_else(|| bad_assertion("the token is not a live access token of this tenant addressed to the calling application."))?;
        let user = live.user.as_ref().ok_or_else(|| bad_assertion("on-behalf-of needs a user's token, not an application's."))?;
        let claims = &live.claims;
        let grant_id =
            claims.get("sid").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(|| bad_assertion("no grant."))?;
        self.live_grant(grant_id).await?;
        let issued_at = claims.get("iat").and_then(Value::as_i64).ok_or_else(|| bad_assertion("no iat."))?;
        let amr: Vec<&str> =
            claims.get("amr").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();

        let wanted = self.resolve_scopes(&resolved, scope).await?;
        if wanted.resource.app_id == client_id {
            return Err(OAuthError::invalid_scope(70011, "On-behalf-of asks for another resource than the caller itself."));
        }
        let mut scopes: Vec<String> = wanted.api.iter().map(|s| s.value.clone()).collect();
        if wanted.default {
            // Whatever the API was granted on the resource, for this user or for everyone.
            let grants = self
                .directory
                .delegated_grants(resolved.tenant.id, sp.id, user.id, &[wanted.resource.service_principal])
                .await
                .map_err(|_| OAuthError::temporarily_unavailable())?;
            for v in grants.iter().flat_map(|g| g.scopes()) {
                if wanted.resource.scope(v).is_some() && !scopes.iter().any(|s| s.eq_ignore_ascii_case(v)) {
                    scopes.push(v.to_string());
                }
            }
        }
        if scopes.is_empty() {
            return Err(OAuthError::invalid_grant(65001, "The application has no consent for any permission of that resource."));
        }
        // The incoming token says when it was issued in whole seconds: taken as the end of that
        // second, as Ward's API judges its own tokens' `iat` (their grant, to the microsecond).
        let issued = time::OffsetDateTime::from_unix_timestamp(issued_at).map_err(|_| bad_assertion("a bad iat."))?
            + time::Duration::nanoseconds(999_999_000);
        let (user, granted, resource) =
            self.decide_for_user(&resolved, &sp, user.id, Some(wanted.resource.app_id), &scopes, issued).await?;
        // The downstream API's policies apply to the user, with the methods of their sign-in.
        // The incoming access token does not say when the person signed in: no frequency check.
        self.enforce_for_user(&resolved, &user, &sp, false, &resource, (&amr.join(" "), None), crate::access::Flow::OnBehalfOf).await?;
        let alg = record.app.token_signing_algorithm.as_deref().and_then(Alg::parse).unwrap_or(Alg::RS256);
        self.issue_for(
            &resolved,
            &sp,
            &user,
            grant_id,
            &resource.audience,
            &granted,
            issued_at,
            &amr.join(" "),
            None,
            None,
            client.method,
            alg,
        )
        .await
    }
}
