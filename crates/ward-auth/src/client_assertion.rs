//! Client authentication with a signed assertion (RFC 7523 §2.2 and §3, OpenID Connect Core §9
//! `private_key_jwt`), as Entra takes it: a JWT signed with a key the application registered
//! (certificate or JWK), `iss` = `sub` = the client id, `aud` = the token endpoint, short-lived,
//! with a `jti` accepted once on any node.

use crate::crypto::sha256_b64;
use crate::error::OAuthError;
use crate::keys::parse_jwt;
use crate::token::TokenService;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use time::Duration;
use ward_core::app::KeyCredential;
use ward_core::client_key::{PublicKey, certificate_der, parse_certificate, parse_jwk};
use ward_core::tenant::Tenant;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest lifetime an assertion may claim (Entra's libraries make ten-minute ones).
const MAX_ASSERTION_LIFETIME: Duration = Duration::hours(1);
const CLOCK_SKEW: i64 = 300;

fn failed(message: &str) -> OAuthError {
    OAuthError::invalid_client(700027, format!("Client assertion failed: {message}"))
}

/// The public key of a registered credential and the thumbprints a JWS header may name it by.
fn material(c: &KeyCredential) -> Option<(PublicKey, Vec<String>)> {
    if c.key_type == KeyCredential::JWK {
        let jwk: Value = serde_json::from_str(&c.key).ok()?;
        let mut names = vec![c.key_id.to_string()];
        if let Some(kid) = jwk.get("kid").and_then(Value::as_str) {
            names.push(kid.to_string());
        }
        return Some((parse_jwk(&jwk).ok()?, names));
    }
    let der = certificate_der(&c.key).ok()?;
    let cert = parse_certificate(&der).ok()?;
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
    let names = vec![
        c.key_id.to_string(),
        URL_SAFE_NO_PAD.encode(sha1.as_ref()),
        sha256_b64(&der),
        // Some clients put the hex or base64 thumbprint in `kid`.
        sha1.as_ref().iter().map(|b| format!("{b:02X}")).collect(),
        STANDARD.encode(sha1.as_ref()),
    ];
    Some((cert.key, names))
}

pub(crate) fn verifies(key: &PublicKey, alg: &str, input: &[u8], sig: &[u8]) -> bool {
    match (key, alg) {
        (PublicKey::Rsa(der), "RS256") => UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).verify(input, sig).is_ok(),
        (PublicKey::P256(point), "ES256") => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(input, sig).is_ok(),
        (PublicKey::Ed25519(raw), "EdDSA") => UnparsedPublicKey::new(&ED25519, raw).verify(input, sig).is_ok(),
        _ => false,
    }
}

/// The client id an assertion names (`sub`), read before it is verified, for requests that leave
/// `client_id` out (RFC 7523 §3.1 makes it optional).
pub fn unverified_subject(assertion: &str) -> Option<String> {
    parse_jwt(assertion)?.claims.get("sub")?.as_str().map(str::to_string)
}

impl TokenService {
    /// Checks a client assertion for `client_id` against the application's registered keys.
    pub(crate) async fn check_client_assertion(
        &self,
        tenant: &Tenant,
        client_id: uuid::Uuid,
        keys: &[KeyCredential],
        assertion: &str,
    ) -> Result<(), OAuthError> {
        let jwt = parse_jwt(assertion).ok_or_else(|| failed("it is not a signed JWT."))?;
        let alg = jwt.header.get("alg").and_then(Value::as_str).unwrap_or("none");
        let named: Vec<&str> = ["kid", "x5t", "x5t#S256"].iter().filter_map(|h| jwt.header.get(*h).and_then(Value::as_str)).collect();
        let now = self.directory.now();
        let mut found = false;
        for c in keys.iter().filter(|c| c.start_date_time <= now + Duration::seconds(CLOCK_SKEW) && now < c.end_date_time) {
            let Some((key, names)) = material(c) else { continue };
            if !named.is_empty() && !named.iter().any(|n| names.iter().any(|k| k == n)) {
                continue;
            }
            if verifies(&key, alg, jwt.signing_input.as_bytes(), &jwt.signature) {
                found = true;
                break;
            }
        }
        if !found {
            return Err(OAuthError::invalid_client(
                700027,
                format!("Client assertion failed signature validation: no live key registered for application '{client_id}' verifies it."),
            ));
        }
        let c = &jwt.claims;
        let text = |k: &str| c.get(k).and_then(Value::as_str);
        let id = client_id.to_string();
        if text("iss") != Some(id.as_str()) || text("sub") != Some(id.as_str()) {
            return Err(failed("'iss' and 'sub' must both be the client id."));
        }
        // The audience is this tenant's token endpoint (by id or a verified domain) or its issuer.
        let base = self.public_url();
        let mut accepted = vec![self.issuer(tenant), format!("{base}/{}/oauth2/v2.0/token", tenant.id)];
        accepted.extend(tenant.verified_domains.iter().map(|d| format!("{base}/{}/oauth2/v2.0/token", d.name.as_str())));
        let audiences: Vec<&str> = match c.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !audiences.iter().any(|a| accepted.iter().any(|x| x.eq_ignore_ascii_case(a))) {
            return Err(OAuthError::invalid_client(700021, "Client assertion audience claim does not match this token endpoint."));
        }
        let t = now.unix_timestamp();
        let num = |k: &str| c.get(k).and_then(Value::as_i64);
        let exp = num("exp").ok_or_else(|| failed("it has no 'exp'."))?;
        if exp <= t - CLOCK_SKEW || num("nbf").is_some_and(|nbf| nbf > t + CLOCK_SKEW) {
            return Err(OAuthError::invalid_client(700024, "Client assertion is not within its valid time range."));
        }
        if exp - t > MAX_ASSERTION_LIFETIME.whole_seconds() {
            return Err(OAuthError::invalid_client(700024, "Client assertion lives longer than one hour."));
        }
        let jti = text("jti").filter(|j| !j.is_empty() && j.len() <= 256).ok_or_else(|| failed("it has no usable 'jti'."))?;
        let expires = time::OffsetDateTime::from_unix_timestamp(exp + CLOCK_SKEW).map_err(|_| failed("bad 'exp'."))?;
        let first =
            self.directory.store().remember_assertion(&sha256_b64(format!("{id}|{jti}").as_bytes()), expires).await.map_err(|e| {
                tracing::error!(error = %e, "recording a client assertion failed");
                OAuthError::temporarily_unavailable()
            })?;
        if !first {
            return Err(OAuthError::invalid_client(700025, "Client assertion was used before (its jti was seen)."));
        }
        Ok(())
    }
}

/// The audience Graph's `addKey`/`removeKey` proofs are made for.
pub const KEY_PROOF_AUDIENCE: &str = "00000002-0000-0000-c000-000000000000";

impl TokenService {
    /// Graph's `addKey`/`removeKey` proof of possession: a JWT signed with one of the application's
    /// current keys, `iss` = the application's object id, `aud` = `00000002-0000-0000-c000-000000000000`,
    /// valid for at most ten minutes.
    pub fn check_key_proof(&self, app: &ward_core::app::Application, proof: &str) -> Result<(), OAuthError> {
        let bad = |m: &str| OAuthError::invalid_request(50012, format!("The proof of possession is not valid: {m}"));
        let jwt = parse_jwt(proof).ok_or_else(|| bad("it is not a signed JWT."))?;
        let alg = jwt.header.get("alg").and_then(Value::as_str).unwrap_or("none");
        let now = self.directory.now();
        let signed = app
            .key_credentials
            .iter()
            .filter(|c| c.start_date_time <= now && now < c.end_date_time)
            .filter_map(material)
            .any(|(key, _)| verifies(&key, alg, jwt.signing_input.as_bytes(), &jwt.signature));
        if !signed {
            return Err(bad("no current key of the application signed it."));
        }
        let c = &jwt.claims;
        if c.get("iss").and_then(Value::as_str) != Some(app.id.to_string().as_str())
            || c.get("aud").and_then(Value::as_str) != Some(KEY_PROOF_AUDIENCE)
        {
            return Err(bad("wrong issuer or audience."));
        }
        let t = now.unix_timestamp();
        let exp = c.get("exp").and_then(Value::as_i64).ok_or_else(|| bad("no exp."))?;
        if exp <= t || exp - t > 600 + CLOCK_SKEW || c.get("nbf").and_then(Value::as_i64).is_some_and(|nbf| nbf > t + CLOCK_SKEW) {
            return Err(bad("expired, not yet valid, or valid for longer than ten minutes."));
        }
        Ok(())
    }
}
