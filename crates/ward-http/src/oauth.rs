//! The OAuth 2.0 / OpenID Connect surface, Entra-shaped: the JWK Set at
//! `/{tenant}/discovery/v2.0/keys` (and tenant-independent `/discovery/v2.0/keys`, as Entra's
//! `common` keys) and the token endpoint `/{tenant}/oauth2/v2.0/token` (client credentials so far).
//! Discovery and authorize arrive with the user grants, so the discovery document never
//! advertises an endpoint that does not exist.

use crate::AppState;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::json;
use ward_auth::OAuthError;
use ward_auth::grants::client_credentials::{AuthMethod, ClientCredentials};
use ward_core::ErrorCode;

/// The token endpoint: behind the per-address limit.
pub fn limited_routes() -> Router<AppState> {
    Router::new().route("/{tenant}/oauth2/v2.0/token", post(token))
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/discovery/v2.0/keys", get(common_keys)).route("/{tenant}/discovery/v2.0/keys", get(tenant_keys))
}

/// OAuth's own error shape (RFC 6749 §5.2), which every endpoint here answers with.
pub fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(json!({ "error": error, "error_description": description }))).into_response()
}

async fn jwks(state: &AppState) -> Response {
    match state.keys.jwks().await {
        // Relying parties cache the set; a day-long overlap of retiring keys covers the hour.
        Ok(set) => ([(header::CACHE_CONTROL, "public, max-age=3600")], Json(set)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read signing keys");
            oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "The signing keys cannot be read right now.")
        }
    }
}

async fn common_keys(State(state): State<AppState>) -> Response {
    jwks(&state).await
}

async fn tenant_keys(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    match state.directory.resolve_tenant(&tenant).await {
        Ok(_) => jwks(&state).await,
        Err(e) if e.code() == ErrorCode::NotFound => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_tenant", &format!("Tenant '{}' not found.", ward_core::validate::clip(&tenant)))
        }
        Err(e) => {
            tracing::error!(error = %e, "tenant look-up failed");
            oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "The directory is unavailable.")
        }
    }
}

pub(crate) fn reply(e: OAuthError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = oauth_error(status, e.error, &e.description);
    if status == StatusCode::UNAUTHORIZED {
        // RFC 6749 §5.2: a 401 names the scheme the client may use.
        response.headers_mut().insert(header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Basic realm=\"ward\""));
    }
    response
}

/// Percent-decoding of `application/x-www-form-urlencoded` (`+` is a space), for the credentials
/// inside HTTP Basic (RFC 6749 §2.3.1 encodes them before Base64).
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `Authorization: Basic …` as (client_id, client_secret).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let bad = || OAuthError::invalid_client(7000216, "The Authorization header is not valid HTTP Basic credentials.");
    let text = value.to_str().map_err(|_| bad())?;
    let (scheme, encoded) = text.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(Some((form_decode(id).ok_or_else(bad)?, form_decode(secret).ok_or_else(bad)?)))
}

/// More parameters than any OAuth or form request here needs; refused before anything else.
pub(crate) const MAX_PARAMS: usize = 64;

/// RFC 6749 §3.2: form-encoded, each parameter at most once.
pub(crate) fn form_params(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")));
    if !form {
        return Err(OAuthError::invalid_request(900144, "The request body must be application/x-www-form-urlencoded."));
    }
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request(900144, "The request body is not valid form encoding."))?;
    if params.len() > MAX_PARAMS {
        return Err(OAuthError::invalid_request(900144, format!("At most {MAX_PARAMS} parameters are accepted.")));
    }
    let mut seen = std::collections::HashSet::with_capacity(params.len());
    for (k, _) in &params {
        if !seen.insert(k.as_str()) {
            return Err(OAuthError::invalid_request(
                90015,
                format!("The parameter '{}' is included more than once.", ward_core::validate::clip(k)),
            ));
        }
    }
    Ok(params)
}

/// The client's credentials, from HTTP Basic or the body (RFC 6749 §2.3.1), never both. A client
/// that sends only `client_id` is a public client; whether that suffices is the grant's call.
pub(crate) fn client_auth(headers: &HeaderMap, params: &[(String, String)]) -> Result<ClientCredentials, OAuthError> {
    let get = |k: &str| params.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone());
    let assertion = match (get("client_assertion_type"), get("client_assertion")) {
        (None, None) => None,
        (Some(t), Some(a)) if t == ward_auth::client_assertion::ASSERTION_TYPE => Some(a),
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                50027,
                format!("client_assertion_type must be {}.", ward_auth::client_assertion::ASSERTION_TYPE),
            ));
        }
        _ => return Err(OAuthError::invalid_request(900144, "client_assertion and client_assertion_type go together.")),
    };
    let basic = basic_credentials(headers)?;
    let methods = usize::from(basic.is_some()) + usize::from(get("client_secret").is_some()) + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            7000219,
            "Use one client authentication method: HTTP Basic, client_secret, or client_assertion.",
        ));
    }
    if let Some((id, secret)) = basic {
        if get("client_id").is_some_and(|body_id| body_id != id) {
            return Err(OAuthError::invalid_request(700016, "client_id in the body differs from the one in the Authorization header."));
        }
        return Ok(ClientCredentials::secret(id, secret, AuthMethod::ClientSecretBasic));
    }
    if let Some(assertion) = assertion {
        // RFC 7523 §3.1: client_id may be left out; the assertion's subject names the client.
        let named = ward_auth::client_assertion::unverified_subject(&assertion);
        let id = match (get("client_id"), named) {
            (Some(id), Some(sub)) if id != sub => {
                return Err(OAuthError::invalid_request(700016, "client_id differs from the client assertion's subject."));
            }
            (Some(id), _) | (None, Some(id)) => id,
            (None, None) => return Err(OAuthError::invalid_client(700027, "Client assertion failed: it names no client.")),
        };
        return Ok(ClientCredentials::assertion(id, assertion));
    }
    let id = get("client_id")
        .ok_or_else(|| OAuthError::invalid_request(900144, "The request body must contain the following parameter: 'client_id'."))?;
    Ok(match get("client_secret") {
        Some(secret) => ClientCredentials::secret(id, secret, AuthMethod::ClientSecretPost),
        None => ClientCredentials::public(id),
    })
}

/// A JSON answer that must not be cached (tokens, introspection).
pub(crate) fn no_store_json(body: impl serde::Serialize) -> Response {
    // Sized for a token response (a signed JWT or two) so the buffer is not regrown as it fills.
    let mut bytes = Vec::with_capacity(2048);
    match serde_json::to_writer(&mut bytes, &body) {
        Ok(()) => ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")], bytes)
            .into_response(),
        Err(_) => oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "The response could not be written."),
    }
}

async fn token(State(state): State<AppState>, Path(tenant): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let params = form_params(&headers, &body)?;
        let get = |k: &str| params.iter().find(|(name, _)| name == k).map(|(_, v)| v.as_str());
        let client = client_auth(&headers, &params)?;
        let t = &state.tokens;
        match get("grant_type") {
            Some("client_credentials") => t.client_credentials(&tenant, client, get("scope")).await,
            Some("authorization_code") => {
                t.authorization_code(&tenant, client, get("code"), get("redirect_uri"), get("code_verifier")).await
            }
            Some("refresh_token") => t.refresh_token(&tenant, client, get("refresh_token"), get("scope")).await,
            Some("urn:ietf:params:oauth:grant-type:device_code" | "device_code") => {
                t.device_code_grant(&tenant, client, get("device_code")).await
            }
            Some(ward_auth::grants::obo::JWT_BEARER) => {
                t.on_behalf_of(&tenant, client, get("assertion"), get("scope"), get("requested_token_use")).await
            }
            Some(other) => Err(OAuthError::unsupported_grant_type(
                70003,
                format!("The app requested an unsupported grant type '{}'.", ward_core::validate::clip(other)),
            )),
            None => Err(OAuthError::invalid_request(900144, "The request body must contain the following parameter: 'grant_type'.")),
        }
    }
    .await;
    match result {
        Ok(token) => no_store_json(token),
        Err(e) => reply(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_of_basic_credentials() {
        assert_eq!(form_decode("a%2Bb+c%3A").as_deref(), Some("a+b c:"));
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%4"), None);
        let mut h = HeaderMap::new();
        let encoded = base64::engine::general_purpose::STANDARD.encode("my%20id:s%3Acret");
        h.insert(header::AUTHORIZATION, format!("Basic {encoded}").parse().unwrap());
        assert_eq!(basic_credentials(&h).unwrap(), Some(("my id".to_string(), "s:cret".to_string())));
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert!(basic_credentials(&h).is_err());
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert!(basic_credentials(&h).is_err());
    }
}
