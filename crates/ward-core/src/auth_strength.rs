//! The built-in authentication strengths conditional access can require, computed from the
//! methods a sign-in used (its `amr`, RFC 8176 values plus Entra's): multifactor, passwordless
//! MFA and phishing-resistant MFA.

/// A built-in authentication strength, with Entra's policy ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strength {
    Multifactor,
    PasswordlessMfa,
    PhishingResistantMfa,
}

impl Strength {
    pub const ALL: [Strength; 3] = [Strength::Multifactor, Strength::PasswordlessMfa, Strength::PhishingResistantMfa];

    /// `authenticationStrengthPolicy` ids of Entra's built-in strengths.
    pub fn policy_id(self) -> &'static str {
        match self {
            Strength::Multifactor => "00000000-0000-0000-0000-000000000002",
            Strength::PasswordlessMfa => "00000000-0000-0000-0000-000000000003",
            Strength::PhishingResistantMfa => "00000000-0000-0000-0000-000000000004",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Strength::Multifactor => "Multifactor authentication",
            Strength::PasswordlessMfa => "Passwordless MFA",
            Strength::PhishingResistantMfa => "Phishing-resistant MFA",
        }
    }
}

/// Which strengths a sign-in with these `amr` values meets.
///
/// - multifactor: two factors (`mfa`), or a method that is multifactor by itself (`fido`, `hwk`
///   with user verification, a Temporary Access Pass: `tap`);
/// - passwordless MFA: a multifactor method without a password in the sign-in (FIDO2/passkeys,
///   Windows Hello);
/// - phishing-resistant MFA: bound to the origin (FIDO2/passkeys `fido`, hardware keys `hwk`,
///   certificate-based `x509` … with `mfa`).
pub fn met(amr: &[&str]) -> Vec<Strength> {
    let has = |v: &str| amr.contains(&v);
    let origin_bound = has("fido") || has("hwk") || (has("x509") && has("mfa"));
    let multifactor = has("mfa") || has("tap") || origin_bound;
    let passwordless = (has("fido") || has("hwk") || has("wia")) && !has("pwd");
    let mut out = Vec::new();
    if multifactor {
        out.push(Strength::Multifactor);
    }
    if passwordless && multifactor {
        out.push(Strength::PasswordlessMfa);
    }
    if origin_bound {
        out.push(Strength::PhishingResistantMfa);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Strength::*;

    #[test]
    fn strengths_follow_the_methods_used() {
        assert_eq!(met(&["pwd"]), vec![]);
        assert_eq!(met(&["pwd", "otp", "mfa"]), vec![Multifactor]);
        assert_eq!(met(&["tap", "mfa"]), vec![Multifactor]);
        assert_eq!(met(&["fido"]), vec![Multifactor, PasswordlessMfa, PhishingResistantMfa]);
        assert_eq!(
            met(&["pwd", "hwk", "mfa"]),
            vec![Multifactor, PhishingResistantMfa],
            "a security key after a password is not passwordless"
        );
        assert_eq!(met(&["otp"]), vec![], "one factor");
        assert_eq!(Strength::PhishingResistantMfa.policy_id(), "00000000-0000-0000-0000-000000000004");
    }
}
