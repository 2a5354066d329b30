//! Time-based one-time passwords (RFC 6238 over RFC 4226): 160-bit secrets, HMAC-SHA1, 30-second
//! steps, six digits — what every authenticator app implements. A code is accepted one step either
//! side of now (clock drift), and the step it matched is returned so the caller can refuse that
//! step, and any earlier one, from then on.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;
/// Steps either side of now a code may come from.
pub const WINDOW: i64 = 1;
pub const SECRET_BYTES: usize = 20;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding, as authenticator apps expect in `otpauth://` URIs.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for b in bytes {
        buffer = (buffer << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

pub fn generate_secret() -> Option<[u8; SECRET_BYTES]> {
    let mut secret = [0u8; SECRET_BYTES];
    SystemRandom::new().fill(&mut secret).ok()?;
    Some(secret)
}

/// The `otpauth://` URI an authenticator app reads from the QR code.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    // RFC 3986 percent-encoding of everything but the unreserved characters.
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        enc(issuer),
        enc(account),
        base32(secret),
        enc(issuer)
    )
}

/// The code for time step `step` (RFC 4226 §5.3: dynamic truncation).
pub fn code_at(secret: &[u8], step: i64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &step.to_be_bytes());
    let mac = mac.as_ref();
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let binary = (u32::from(mac[offset] & 0x7f) << 24)
        | (u32::from(mac[offset + 1]) << 16)
        | (u32::from(mac[offset + 2]) << 8)
        | u32::from(mac[offset + 3]);
    binary % 10u32.pow(digits)
}

pub fn step_of(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The step `code` matches, within [`WINDOW`] steps of `now` and after `after` (the last step this
/// secret accepted), or `None`. Every candidate is compared, in constant time.
pub fn verify(secret: &[u8], code: &str, unix_seconds: i64, after: Option<i64>) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(unix_seconds);
    let mut found = None;
    for step in now - WINDOW..=now + WINDOW {
        let expected = format!("{:0width$}", code_at(secret, step, DIGITS), width = DIGITS as usize);
        let same = aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), code.as_bytes()).is_ok();
        if same && after.is_none_or(|last| step > last) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 (its seed is the ASCII "12345678901234567890").
    #[test]
    fn rfc_6238_test_vectors() {
        let seed = b"12345678901234567890";
        for (t, code) in [(59, 94287082), (1111111109, 7081804), (1111111111, 14050471), (1234567890, 89005924), (2000000000, 69279037)] {
            assert_eq!(code_at(seed, step_of(t), 8), code, "T={t}");
        }
        assert_eq!(code_at(seed, step_of(59), 6), 287082);
    }

    #[test]
    fn base32_is_rfc_4648_without_padding() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"12345678901234567890"), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn codes_are_accepted_one_step_either_side_and_never_twice() {
        let secret = b"12345678901234567890";
        let now = 1_800_000_015;
        let code = |step: i64| format!("{:06}", code_at(secret, step, 6));
        let s = step_of(now);
        assert_eq!(verify(secret, &code(s), now, None), Some(s));
        assert_eq!(verify(secret, &code(s - 1), now, None), Some(s - 1));
        assert_eq!(verify(secret, &code(s + 1), now, None), Some(s + 1));
        assert_eq!(verify(secret, &code(s - 2), now, None), None, "too old");
        assert_eq!(verify(secret, &code(s + 2), now, None), None, "too far ahead");
        // Once a step is used, it and every earlier one are refused.
        assert_eq!(verify(secret, &code(s), now, Some(s)), None);
        assert_eq!(verify(secret, &code(s - 1), now, Some(s)), None);
        assert_eq!(verify(secret, &code(s + 1), now, Some(s)), Some(s + 1));
        // Malformed codes.
        for bad in ["", "12345", "1234567", "12a456", "１２３４５６"] {
            assert_eq!(verify(secret, bad, now, None), None, "{bad}");
        }
        assert_eq!(verify(secret, &format!(" {} ", code(s)), now, None), Some(s), "surrounding spaces are forgiven");
        assert_eq!(verify(b"another secret......", &code(s), now, None), None);
    }

    #[test]
    fn the_uri_names_issuer_account_and_parameters() {
        let uri = otpauth_uri("Contoso Ltd", "adele@contoso.example", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/Contoso%20Ltd:adele%40contoso.example?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Contoso%20Ltd&algorithm=SHA1&digits=6&period=30"
        );
    }
}
