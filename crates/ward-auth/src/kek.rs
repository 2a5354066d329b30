//! The key-encryption key (KEK): AES-256-GCM over every private signing key before it reaches the
//! store. The ciphertext is bound to its key id (associated data), so a row copied onto another
//! key id does not decrypt. Format: `v1.<base64url(nonce ‖ ciphertext ‖ tag)>`.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KekError {
    #[error("the key-encryption key must be 32 bytes, base64-encoded (got {0} bytes)")]
    BadLength(usize),
    #[error("the key-encryption key is not valid base64")]
    NotBase64,
    #[error("a signing key does not decrypt: the key-encryption key is not the one it was stored with, or the row was altered")]
    WrongKeyOrTampered,
    #[error("the operating system's random number generator failed")]
    Random,
}

pub struct Kek {
    key: LessSafeKey,
    /// For keys derived from this one (CSRF tokens and other MACs), never used to seal.
    derive: aws_lc_rs::hmac::Key,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(…)")
    }
}

impl Kek {
    pub const LEN: usize = 32;

    pub fn from_bytes(bytes: &[u8]) -> Result<Kek, KekError> {
        if bytes.len() != Self::LEN {
            return Err(KekError::BadLength(bytes.len()));
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| KekError::BadLength(bytes.len()))?;
        Ok(Kek { key: LessSafeKey::new(unbound), derive: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, bytes) })
    }

    /// Standard or URL-safe base64, padded or not, surrounding white space ignored.
    pub fn from_base64(text: &str) -> Result<Kek, KekError> {
        let text = text.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| KekError::NotBase64)?;
        Kek::from_bytes(&bytes)
    }

    /// A fresh random KEK, base64 (standard alphabet), for `ward` to write on first start.
    pub fn generate_base64() -> Result<String, KekError> {
        let mut bytes = [0u8; Self::LEN];
        SystemRandom::new().fill(&mut bytes).map_err(|_| KekError::Random)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    /// A MAC key for `label`, the same on every node that shares this KEK.
    pub fn derive_mac_key(&self, label: &str) -> crate::crypto::MacKey {
        let tag = aws_lc_rs::hmac::sign(&self.derive, format!("ward derived key: {label}").as_bytes());
        crate::crypto::MacKey::from_bytes(tag.as_ref())
    }

    pub fn seal(&self, associated: &str, plaintext: &[u8]) -> Result<String, KekError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| KekError::Random)?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(associated.as_bytes()), &mut buf)
            .map_err(|_| KekError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("v1.{}", URL_SAFE_NO_PAD.encode(out)))
    }

    pub fn open(&self, associated: &str, sealed: &str) -> Result<Vec<u8>, KekError> {
        let body = sealed.strip_prefix("v1.").ok_or(KekError::WrongKeyOrTampered)?;
        let mut bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| KekError::WrongKeyOrTampered)?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(KekError::WrongKeyOrTampered);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[..NONCE_LEN]);
        let plain = self
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(associated.as_bytes()), &mut bytes[NONCE_LEN..])
            .map_err(|_| KekError::WrongKeyOrTampered)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_bound_to_its_key_id() {
        let kek = Kek::from_base64(&Kek::generate_base64().unwrap()).unwrap();
        let sealed = kek.seal("kid-1", b"private key").unwrap();
        assert!(sealed.starts_with("v1.") && !sealed.contains("private"));
        assert_eq!(kek.open("kid-1", &sealed).unwrap(), b"private key");
        assert_eq!(kek.open("kid-2", &sealed), Err(KekError::WrongKeyOrTampered), "bound to the kid");
        let other = Kek::from_base64(&Kek::generate_base64().unwrap()).unwrap();
        assert_eq!(other.open("kid-1", &sealed), Err(KekError::WrongKeyOrTampered), "another KEK");
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(kek.open("kid-1", &String::from_utf8(tampered).unwrap()), Err(KekError::WrongKeyOrTampered));
        assert_eq!(kek.open("kid-1", "v1.AAAA"), Err(KekError::WrongKeyOrTampered));
        assert_ne!(kek.seal("kid-1", b"x").unwrap(), kek.seal("kid-1", b"x").unwrap(), "fresh nonce each time");
    }

    #[test]
    fn refuses_keys_of_the_wrong_size() {
        assert_eq!(Kek::from_base64("c2hvcnQ=").unwrap_err(), KekError::BadLength(5));
        assert_eq!(Kek::from_base64("not base64 !!").unwrap_err(), KekError::NotBase64);
        let urlsafe = URL_SAFE_NO_PAD.encode([7u8; 32]);
        assert!(Kek::from_base64(&urlsafe).is_ok());
    }
}
