//! Public keys that clients register to authenticate with signed assertions (RFC 7523,
//! `private_key_jwt`): X.509 certificates, as Entra takes them, or bare JWKs. Only the public key
//! is used (no chain is built: the registration is the trust). Parsing is strict and bounded;
//! verifying signatures is the token service's business.

use crate::error::DirectoryError;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use time::OffsetDateTime;

/// A public key in the form the verifier takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// `RSAPublicKey` DER (PKCS #1).
    Rsa(Vec<u8>),
    /// A P-256 point, uncompressed (`04 ‖ x ‖ y`).
    P256(Vec<u8>),
    /// 32 bytes.
    Ed25519(Vec<u8>),
}

/// A registered certificate, read.
#[derive(Clone, Debug)]
pub struct Certificate {
    pub key: PublicKey,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

const MAX_KEY_BYTES: usize = 16 * 1024;

fn bad(why: impl Into<String>) -> DirectoryError {
    DirectoryError::invalid("keyCredentials", why.into())
}

/// One DER element: (tag, content, rest).
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), DirectoryError> {
    let err = || bad("the certificate is not valid DER");
    let (&tag, rest) = input.split_first().ok_or_else(err)?;
    let (&first, rest) = rest.split_first().ok_or_else(err)?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 3 || rest.len() < n {
            return Err(err());
        }
        (rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize), &rest[n..])
    };
    if rest.len() < len {
        return Err(err());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

fn expect(tag: u8, input: &[u8]) -> Result<(&[u8], &[u8]), DirectoryError> {
    let (t, content, rest) = tlv(input)?;
    if t != tag {
        return Err(bad("the certificate is not an X.509 certificate"));
    }
    Ok((content, rest))
}

fn der_time(tag: u8, content: &[u8]) -> Result<OffsetDateTime, DirectoryError> {
    let text = std::str::from_utf8(content).map_err(|_| bad("bad certificate time"))?;
    let (year, rest) = match tag {
        0x17 if text.len() == 13 => {
            let yy: i32 = text[..2].parse().map_err(|_| bad("bad certificate time"))?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        0x18 if text.len() == 15 => (text[..4].parse().map_err(|_| bad("bad certificate time"))?, &text[4..]),
        _ => return Err(bad("bad certificate time")),
    };
    let n = |i: usize| rest.get(i..i + 2).and_then(|s| s.parse::<u8>().ok()).ok_or_else(|| bad("bad certificate time"));
    if !rest.ends_with('Z') {
        return Err(bad("bad certificate time"));
    }
    let month = time::Month::try_from(n(0)?).map_err(|_| bad("bad certificate time"))?;
    let date = time::Date::from_calendar_date(year, month, n(2)?).map_err(|_| bad("bad certificate time"))?;
    let t = time::Time::from_hms(n(4)?, n(6)?, n(8)?).map_err(|_| bad("bad certificate time"))?;
    Ok(date.with_time(t).assume_utc())
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// Reads `SubjectPublicKeyInfo` (its content, without the outer SEQUENCE header).
fn spki(content: &[u8]) -> Result<PublicKey, DirectoryError> {
    let (alg, rest) = expect(0x30, content)?;
    let (bits, _) = expect(0x03, rest)?;
    let (&unused, key) = bits.split_first().ok_or_else(|| bad("empty public key"))?;
    if unused != 0 {
        return Err(bad("bad public key"));
    }
    let (oid, params) = expect(0x06, alg)?;
    match oid {
        OID_RSA => {
            // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
            let (seq, _) = expect(0x30, key)?;
            let (modulus, _) = expect(0x02, seq)?;
            let bits = modulus.iter().skip_while(|b| **b == 0).count() * 8;
            if bits < 2048 {
                return Err(bad("RSA keys must have at least 2048 bits"));
            }
            Ok(PublicKey::Rsa(key.to_vec()))
        }
        OID_EC => {
            let (curve, _) = expect(0x06, params)?;
            if curve != OID_P256 || key.len() != 65 || key[0] != 4 {
                return Err(bad("only P-256 elliptic-curve keys are accepted"));
            }
            Ok(PublicKey::P256(key.to_vec()))
        }
        OID_ED25519 if key.len() == 32 => Ok(PublicKey::Ed25519(key.to_vec())),
        _ => Err(bad("the key must be RSA (2048 bits or more), P-256 or Ed25519")),
    }
}

/// Reads an X.509 certificate (DER): its public key and validity.
pub fn parse_certificate(der: &[u8]) -> Result<Certificate, DirectoryError> {
    if der.len() > MAX_KEY_BYTES {
        return Err(bad("the certificate is too large"));
    }
    let (cert, trailing) = expect(0x30, der)?;
    if !trailing.is_empty() {
        return Err(bad("trailing data after the certificate"));
    }
    let (tbs, _) = expect(0x30, cert)?;
    let mut rest = tbs;
    let (tag, _, after) = tlv(rest)?;
    if tag == 0xa0 {
        rest = after; // version
    }
    let (_, rest) = expect(0x02, rest)?; // serial
    let (_, rest) = expect(0x30, rest)?; // signature algorithm
    let (_, rest) = expect(0x30, rest)?; // issuer
    let (validity, rest) = expect(0x30, rest)?;
    let (_, rest) = expect(0x30, rest)?; // subject
    let (key, _) = expect(0x30, rest)?;
    let (t1, nb, v_rest) = tlv(validity)?;
    let (t2, na, _) = tlv(v_rest)?;
    Ok(Certificate { key: spki(key)?, not_before: der_time(t1, nb)?, not_after: der_time(t2, na)? })
}

/// Reads a certificate given as PEM or as base64 DER (Graph's `keyCredential.key`).
pub fn certificate_der(text: &str) -> Result<Vec<u8>, DirectoryError> {
    let body: String = if text.contains("-----BEGIN CERTIFICATE-----") {
        let start = text.find("-----BEGIN CERTIFICATE-----").unwrap_or(0) + "-----BEGIN CERTIFICATE-----".len();
        let end = text.find("-----END CERTIFICATE-----").ok_or_else(|| bad("unterminated PEM certificate"))?;
        text.get(start..end).ok_or_else(|| bad("bad PEM"))?.chars().filter(|c| !c.is_whitespace()).collect()
    } else {
        text.chars().filter(|c| !c.is_whitespace()).collect()
    };
    if body.len() > MAX_KEY_BYTES * 2 {
        return Err(bad("the certificate is too large"));
    }
    STANDARD.decode(body).map_err(|_| bad("the certificate is not base64"))
}

fn b64u(jwk: &serde_json::Value, member: &str) -> Result<Vec<u8>, DirectoryError> {
    let v = jwk.get(member).and_then(|v| v.as_str()).ok_or_else(|| bad(format!("the JWK has no '{member}'")))?;
    URL_SAFE_NO_PAD.decode(v).map_err(|_| bad(format!("the JWK's '{member}' is not base64url")))
}

fn der_integer(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = if trimmed.first().is_some_and(|b| b & 0x80 != 0) { vec![0] } else { vec![] };
    content.extend(trimmed);
    let mut out = vec![0x02];
    out.extend(der_len(content.len()));
    out.extend(content);
    out
}

fn der_len(n: usize) -> Vec<u8> {
    match n {
        0..0x80 => vec![n as u8],
        0x80..0x100 => vec![0x81, n as u8],
        _ => vec![0x82, (n >> 8) as u8, n as u8],
    }
}

/// Reads a public JWK (RFC 7517): RSA (≥ 2048 bits), EC P-256 or OKP Ed25519. Refuses a JWK with
/// private members, so a private key is never stored by mistake.
pub fn parse_jwk(jwk: &serde_json::Value) -> Result<PublicKey, DirectoryError> {
    if jwk.to_string().len() > MAX_KEY_BYTES {
        return Err(bad("the JWK is too large"));
    }
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        if jwk.get(private).is_some() {
            return Err(bad("the JWK holds a private key; register the public key only"));
        }
    }
    match (jwk.get("kty").and_then(|v| v.as_str()), jwk.get("crv").and_then(|v| v.as_str())) {
        (Some("RSA"), _) => {
            let n = b64u(jwk, "n")?;
            let e = b64u(jwk, "e")?;
            if n.iter().skip_while(|b| **b == 0).count() * 8 < 2048 || e.is_empty() || e.len() > 8 {
                return Err(bad("RSA keys must have at least 2048 bits"));
            }
            let mut content = der_integer(&n);
            content.extend(der_integer(&e));
            let mut der = vec![0x30];
            der.extend(der_len(content.len()));
            der.extend(content);
            Ok(PublicKey::Rsa(der))
        }
        (Some("EC"), Some("P-256")) => {
            let (x, y) = (b64u(jwk, "x")?, b64u(jwk, "y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(bad("a P-256 key has 32-byte coordinates"));
            }
            Ok(PublicKey::P256([&[4u8][..], &x, &y].concat()))
        }
        (Some("OKP"), Some("Ed25519")) => {
            let x = b64u(jwk, "x")?;
            if x.len() != 32 {
                return Err(bad("an Ed25519 key is 32 bytes"));
            }
            Ok(PublicKey::Ed25519(x))
        }
        _ => Err(bad("the JWK must be RSA, EC P-256 or OKP Ed25519")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_are_read_strictly() {
        let ec = serde_json::json!({ "kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode([1u8; 32]), "y": URL_SAFE_NO_PAD.encode([2u8; 32]) });
        assert!(matches!(parse_jwk(&ec).unwrap(), PublicKey::P256(p) if p.len() == 65 && p[0] == 4));
        let mut private = ec.clone();
        private["d"] = serde_json::json!("AAAA");
        assert!(parse_jwk(&private).is_err());
        let small = serde_json::json!({ "kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xc3u8; 128]), "e": "AQAB" });
        assert!(parse_jwk(&small).is_err(), "1024-bit RSA");
        let rsa = serde_json::json!({ "kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xc3u8; 256]), "e": "AQAB" });
        let PublicKey::Rsa(der) = parse_jwk(&rsa).unwrap() else { panic!() };
        // SEQUENCE { INTEGER (0x00-prefixed, 257 bytes), INTEGER 65537 }
        assert_eq!(&der[..8], &[0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01]);
        assert_eq!(&der[der.len() - 5..], &[0x02, 0x03, 0x01, 0x00, 0x01]);
        assert!(parse_jwk(&serde_json::json!({ "kty": "oct", "k": "AAAA" })).is_err());
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        for input in [&b""[..], &[0x30, 0x82, 0xff, 0xff][..], &[0x30, 0x03, 0x02, 0x01, 0x01][..], &[0x04, 0x00][..]] {
            assert!(parse_certificate(input).is_err());
        }
        assert!(certificate_der("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----").is_err());
    }
}
