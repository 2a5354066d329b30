//! OAuth 2.0 errors (RFC 6749 §5.2), with Entra's `AADSTS` code leading the description so that
//! clients written for Entra recognise them.

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    pub status: u16,
    /// RFC 6749 §5.2 code.
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    /// Any other registered error code (RFC 8628 §3.5's `authorization_pending`, `slow_down`,
    /// `expired_token`, …).
    pub fn other(status: u16, error: &'static str, aadsts: u32, message: impl AsRef<str>) -> Self {
        Self::new(status, error, aadsts, message)
    }

    fn new(status: u16, error: &'static str, aadsts: u32, message: impl AsRef<str>) -> Self {
        OAuthError { status, error, description: format!("AADSTS{aadsts}: {}", message.as_ref()) }
    }

    /// RFC 6749 §5.2: invalid_request — a required parameter is missing, repeated or malformed.
    pub fn invalid_request(aadsts: u32, message: impl AsRef<str>) -> Self {
        Self::new(400, "invalid_request", aadsts, message)
    }

    /// RFC 6749 §5.2: invalid_client — client authentication failed (401).
    pub fn invalid_client(aadsts: u32, message: impl AsRef<str>) -> Self {
        Self::new(401, "invalid_client", aadsts, message)
    }

    /// RFC 6749 §5.2: unauthorized_client — this client may not use this grant.
    pub fn unauthorized_client(aadsts: u32, message: impl AsRef<str>) -> Self {
        Self::new(400, "unauthorized_client", aadsts, message)
    }

    /// RFC 6749 §5.2: unsupported_grant_type.
    pub fn unsupported_grant_type(aadsts: u32, message: impl AsRef<str>) -> Self {
        Self::new(400, "unsupported_grant_type", aadsts, message)
    }

    /// RFC 6749 §5.2: invalid_scope.
    pub fn invalid_scope(aadsts: u32, message: impl AsRef<str>) -> Self {
        Self::new(400, "invalid_scope", aadsts, message)
    }

    /// RFC 6749 §5.2: invalid_grant — the code, refresh token or assertion is invalid, expired,
    /// revoked, or was issued to another client or for another redirect URI.
    pub fn invalid_grant(aadsts: u32, message: impl AsRef<str>) -> Self {
        Self::new(400, "invalid_grant", aadsts, message)
    }

    /// RFC 6749 §4.1.2.1: the person (or policy) refused.
    pub fn access_denied(aadsts: u32, message: impl AsRef<str>) -> Self {
        Self::new(400, "access_denied", aadsts, message)
    }

    /// OpenID Connect Core §3.1.2.6: consent is missing and cannot be asked for now.
    pub fn consent_required(aadsts: u32, message: impl AsRef<str>) -> Self {
        Self::new(400, "consent_required", aadsts, message)
    }

    /// OpenID Connect Core §3.1.2.6: `prompt=none` but nobody is signed in.
    pub fn login_required(aadsts: u32, message: impl AsRef<str>) -> Self {
        Self::new(400, "login_required", aadsts, message)
    }

    /// The service cannot answer now (store or keys unavailable). The detail goes to the log.
    pub fn temporarily_unavailable() -> Self {
        Self::new(503, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
    }
}
