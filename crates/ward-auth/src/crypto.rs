//! Small primitives shared by the grants: random handles, their stored hashes, keyed MACs and
//! constant-time comparison. All from aws-lc-rs.

use aws_lc_rs::rand::SecureRandom;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A fresh random value of 256 bits, base64url: codes, refresh tokens, session cookies.
pub fn random_handle() -> Result<String, aws_lc_rs::error::Unspecified> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// What the store keeps of a handle: its SHA-256, base64url.
pub fn handle_hash(handle: &str) -> String {
    sha256_b64(handle.as_bytes())
}

pub fn sha256_b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

/// Equal, without revealing where two values first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// A MAC key for one purpose, derived from the key-encryption key so every node agrees on it.
#[derive(Clone)]
pub struct MacKey(aws_lc_rs::hmac::Key);

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey(…)")
    }
}

impl MacKey {
    pub fn from_bytes(bytes: &[u8]) -> MacKey {
        MacKey(aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, bytes))
    }

    /// HMAC-SHA256 of the parts, each length-prefixed so no two lists sign alike; base64url.
    pub fn sign(&self, parts: &[&str]) -> String {
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&self.0);
        for p in parts {
            ctx.update(&(p.len() as u64).to_be_bytes());
            ctx.update(p.as_bytes());
        }
        URL_SAFE_NO_PAD.encode(ctx.sign().as_ref())
    }

    /// HMAC-SHA256 of `data`, raw.
    pub fn tag(&self, data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(aws_lc_rs::hmac::sign(&self.0, data).as_ref());
        out
    }

    pub fn verify(&self, parts: &[&str], tag: &str) -> bool {
        constant_time_eq(self.sign(parts).as_bytes(), tag.as_bytes())
    }
}

/// PKCE (RFC 7636 §4.1): 43 to 128 characters of `[A-Za-z0-9-._~]`.
pub fn valid_pkce_value(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6: does BASE64URL(SHA256(verifier)) equal the challenge?
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    constant_time_eq(sha256_b64(verifier.as_bytes()).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_the_rfc_7636_example() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(valid_pkce_value(verifier));
        assert!(pkce_s256_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!pkce_s256_matches(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"));
        assert!(!valid_pkce_value("short"));
        assert!(!valid_pkce_value(&"a".repeat(129)));
        assert!(!valid_pkce_value(&format!("{}+", "a".repeat(50))));
    }

    #[test]
    fn macs_bind_every_part() {
        let k = MacKey::from_bytes(b"k");
        let tag = k.sign(&["csrf", "abc"]);
        assert!(k.verify(&["csrf", "abc"], &tag));
        assert!(!k.verify(&["csrf", "abd"], &tag));
        assert!(!k.verify(&["csrfa", "bc"], &tag), "length prefixes keep parts apart");
        assert!(!MacKey::from_bytes(b"other").verify(&["csrf", "abc"], &tag));
        assert_ne!(random_handle().unwrap(), random_handle().unwrap());
        assert_eq!(random_handle().unwrap().len(), 43);
    }
}
