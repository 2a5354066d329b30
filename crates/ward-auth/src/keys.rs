//! Signing keys and the compact JWS (RFC 7515) they produce. RS256 (RSA-2048), ES256 (P-256) and
//! EdDSA (Ed25519), generated with aws-lc-rs; the parsed key pair is kept in memory so signing
//! costs only the signature. Public halves are published as JWKs (RFC 7517/7518/8037).

use crate::kek::{Kek, KekError};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Alg {
    RS256,
    ES256,
    EdDSA,
}

impl Alg {
    pub const ALL: [Alg; 3] = [Alg::RS256, Alg::ES256, Alg::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Alg> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KeyError {
    #[error("key generation failed")]
    Generate,
    #[error("stored key {0} is not a valid {1} private key")]
    Corrupt(String, &'static str),
    #[error("signing failed")]
    Sign,
    #[error(transparent)]
    Kek(#[from] KekError),
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private signing key, ready to sign.
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    pair: Pair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({} {})", self.alg.as_str(), self.kid)
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl SigningKey {
    /// A new key. Its `kid` is the RFC 7638 thumbprint of its public JWK, so it says nothing but
    /// identifies the key exactly.
    pub fn generate(alg: Alg) -> Result<SigningKey, KeyError> {
        let pair = match alg {
            Alg::RS256 => Pair::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?),
            Alg::ES256 => Pair::Ec(EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| KeyError::Generate)?),
            Alg::EdDSA => Pair::Ed(Ed25519KeyPair::generate().map_err(|_| KeyError::Generate)?),
        };
        let mut key = SigningKey { kid: String::new(), alg, pair };
        key.kid = key.thumbprint();
        Ok(key)
    }

    fn pkcs8(&self) -> Result<Vec<u8>, KeyError> {
        Ok(match &self.pair {
            Pair::Rsa(p) => AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(p).map_err(|_| KeyError::Generate)?.as_ref().to_vec(),
            Pair::Ec(p) => p.to_pkcs8v1().map_err(|_| KeyError::Generate)?.as_ref().to_vec(),
            Pair::Ed(p) => p.to_pkcs8().map_err(|_| KeyError::Generate)?.as_ref().to_vec(),
        })
    }

    /// The private key, sealed under the KEK and bound to this key's id.
    pub fn seal(&self, kek: &Kek) -> Result<String, KeyError> {
        Ok(kek.seal(&self.kid, &self.pkcs8()?)?)
    }

    pub fn open(kid: &str, alg: Alg, sealed: &str, kek: &Kek) -> Result<SigningKey, KeyError> {
        let der = kek.open(kid, sealed)?;
        let corrupt = || KeyError::Corrupt(kid.to_string(), alg.as_str());
        let pair = match alg {
            Alg::RS256 => Pair::Rsa(RsaKeyPair::from_pkcs8(&der).map_err(|_| corrupt())?),
            Alg::ES256 => Pair::Ec(EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der).map_err(|_| corrupt())?),
            Alg::EdDSA => Pair::Ed(Ed25519KeyPair::from_pkcs8(&der).map_err(|_| corrupt())?),
        };
        let key = SigningKey { kid: kid.to_string(), alg, pair };
        if key.thumbprint() != kid {
            return Err(corrupt());
        }
        Ok(key)
    }

    /// The members of the public JWK that its thumbprint covers (RFC 7638 §3.2), in order.
    fn required_members(&self) -> Value {
        match &self.pair {
            Pair::Rsa(p) => {
                let public = p.public_key();
                json!({ "e": b64(public.exponent().big_endian_without_leading_zero()), "kty": "RSA", "n": b64(public.modulus().big_endian_without_leading_zero()) })
            }
            Pair::Ec(p) => {
                // Uncompressed point: 0x04 ‖ x ‖ y.
                let point = p.public_key().as_ref();
                json!({ "crv": "P-256", "kty": "EC", "x": b64(&point[1..33]), "y": b64(&point[33..65]) })
            }
            Pair::Ed(p) => json!({ "crv": "Ed25519", "kty": "OKP", "x": b64(p.public_key().as_ref()) }),
        }
    }

    fn thumbprint(&self) -> String {
        // serde_json writes object keys sorted, which is the lexicographic order RFC 7638 asks.
        let canonical = self.required_members().to_string();
        b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// The public JWK, as published in JWKS.
    pub fn public_jwk(&self) -> Value {
        let mut jwk = self.required_members();
        jwk["kid"] = json!(self.kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!(self.alg.as_str());
        jwk
    }

    /// Signs `claims` as a compact JWS with `typ` (e.g. `JWT`, `at+jwt`) and this key's `kid`.
    pub fn sign_jwt<C: serde::Serialize + ?Sized>(&self, typ: &str, claims: &C) -> Result<String, KeyError> {
        let header = serde_json::to_vec(&json!({ "alg": self.alg.as_str(), "kid": self.kid, "typ": typ })).map_err(|_| KeyError::Sign)?;
        let claims = serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?;
        let mut out = String::with_capacity((header.len() + claims.len()) * 4 / 3 + 400);
        URL_SAFE_NO_PAD.encode_string(&header, &mut out);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&claims, &mut out);
        let signature = match &self.pair {
            Pair::Rsa(p) => {
                let mut sig = vec![0u8; p.public_modulus_len()];
                p.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), out.as_bytes(), &mut sig).map_err(|_| KeyError::Sign)?;
                sig
            }
            Pair::Ec(p) => p.sign(&SystemRandom::new(), out.as_bytes()).map_err(|_| KeyError::Sign)?.as_ref().to_vec(),
            Pair::Ed(p) => p.sign(out.as_bytes()).as_ref().to_vec(),
        };
        out.push('.');
        out.push_str(&b64(&signature));
        Ok(out)
    }
}

impl SigningKey {
    /// Checks a signature made by this key over `input`.
    pub fn verify(&self, input: &[u8], sig: &[u8]) -> bool {
        use aws_lc_rs::signature::{ED25519, KeyPair, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
        match &self.pair {
            Pair::Rsa(p) => UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, p.public_key().as_ref()).verify(input, sig).is_ok(),
            Pair::Ec(p) => UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, p.public_key().as_ref()).verify(input, sig).is_ok(),
            Pair::Ed(p) => UnparsedPublicKey::new(&ED25519, p.public_key().as_ref()).verify(input, sig).is_ok(),
        }
    }
}

/// A compact JWS split and decoded, not yet verified.
pub struct ParsedJwt<'a> {
    pub header: Value,
    pub claims: Value,
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
}

/// Splits a compact JWS. Refuses anything that is not three base64url parts of JSON objects.
pub fn parse_jwt(token: &str) -> Option<ParsedJwt<'_>> {
    if token.len() > 16 * 1024 {
        return None;
    }
    let mut parts = token.split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    if !header.is_object() || !claims.is_object() {
        return None;
    }
    Some(ParsedJwt { header, claims, signing_input: &token[..h.len() + 1 + c.len()], signature: URL_SAFE_NO_PAD.decode(s).ok()? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::Jwk};

    fn kek() -> Kek {
        Kek::from_base64(&Kek::generate_base64().unwrap()).unwrap()
    }

    fn verify(token: &str, jwk: &Value, alg: Algorithm) -> Result<Value, jsonwebtoken::errors::Error> {
        let jwk: Jwk = serde_json::from_value(jwk.clone()).unwrap();
        let key = DecodingKey::from_jwk(&jwk)?;
        let mut v = Validation::new(alg);
        v.set_audience(&["api://test"]);
        v.set_required_spec_claims(&["exp", "aud"]);
        decode::<Value>(token, &key, &v).map(|d| d.claims)
    }

    fn claims() -> Value {
        json!({ "aud": "api://test", "exp": 4_000_000_000u64, "sub": "x" })
    }

    /// An independent verifier (jsonwebtoken) accepts what we sign, through the JWK we publish.
    #[test]
    fn every_algorithm_signs_what_an_independent_verifier_accepts() {
        for (alg, jwt_alg) in [(Alg::RS256, Algorithm::RS256), (Alg::ES256, Algorithm::ES256), (Alg::EdDSA, Algorithm::EdDSA)] {
            let key = SigningKey::generate(alg).unwrap();
            let token = key.sign_jwt("at+jwt", &claims()).unwrap();
            let header = decode_header(&token).unwrap();
            assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(verify(&token, &key.public_jwk(), jwt_alg).unwrap()["sub"], "x", "{alg:?}");
            // Another key of the same kind does not verify it.
            let other = SigningKey::generate(alg).unwrap();
            assert!(verify(&token, &other.public_jwk(), jwt_alg).is_err(), "{alg:?}: wrong key accepted");
            // A changed payload does not verify.
            let parts: Vec<&str> = token.split('.').collect();
            let forged = format!(
                "{}.{}.{}",
                parts[0],
                b64(json!({ "aud": "api://test", "exp": 4_000_000_000u64, "sub": "admin" }).to_string().as_bytes()),
                parts[2]
            );
            assert!(verify(&forged, &key.public_jwk(), jwt_alg).is_err(), "{alg:?}: tampered payload accepted");
        }
    }

    #[test]
    fn sealed_keys_reopen_to_the_same_key_and_refuse_another_kek() {
        let kek = kek();
        for alg in Alg::ALL {
            let key = SigningKey::generate(alg).unwrap();
            let sealed = key.seal(&kek).unwrap();
            let reopened = SigningKey::open(&key.kid, alg, &sealed, &kek).unwrap();
            assert_eq!(reopened.public_jwk(), key.public_jwk());
            assert!(matches!(SigningKey::open(&key.kid, alg, &sealed, &self::kek()), Err(KeyError::Kek(_))));
            let other = SigningKey::generate(alg).unwrap();
            assert!(SigningKey::open(&other.kid, alg, &sealed, &kek).is_err(), "a sealed key under another kid");
        }
    }

    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        let key = SigningKey::generate(Alg::RS256).unwrap();
        let jwk: Jwk = serde_json::from_value(key.public_jwk()).unwrap();
        let theirs = jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256).unwrap();
        assert_eq!(theirs, key.kid);
        assert_eq!(key.public_jwk()["use"], "sig");
        assert!(key.public_jwk().get("d").is_none(), "no private member in the public JWK");
    }
}
