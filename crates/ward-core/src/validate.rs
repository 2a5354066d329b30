//! Parsing of the directory's constrained strings at the edge: user principal names, domain names,
//! display names, mail nicknames, e-mail addresses, country codes. Past the edge these are types,
//! not raw strings.
//!
//! Limits follow Entra (reference/entra-apis.md §1.1, §1.3): a UPN is at most 113 characters,
//! 64 before the `@` and 48 after; displayName 256; mailNickname 64; givenName and surname 64;
//! jobTitle 128; department 64; employeeId 16.

use crate::error::DirectoryError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Shortens hostile input before it is echoed in an error message.
pub fn clip(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control())
}

/// A free-text property: trimmed is not empty (when required), at most `max` characters, no
/// control characters.
pub fn text(field: &'static str, value: &str, max: usize) -> Result<String, DirectoryError> {
    let count = value.chars().count();
    if count > max {
        return Err(DirectoryError::invalid(field, format!("must be at most {max} characters (got {count})")));
    }
    if has_control(value) {
        return Err(DirectoryError::invalid(field, "must not contain control characters"));
    }
    Ok(value.to_string())
}

/// Like [`text`] but refuses empty or blank values.
pub fn required_text(field: &'static str, value: &str, max: usize) -> Result<String, DirectoryError> {
    if value.trim().is_empty() {
        return Err(DirectoryError::invalid(field, "is required and cannot be empty"));
    }
    text(field, value, max)
}

/// An optional free-text property; an empty string clears it, as Graph treats `""` on PATCH.
pub fn optional_text(field: &'static str, value: Option<&str>, max: usize) -> Result<Option<String>, DirectoryError> {
    match value {
        None => Ok(None),
        Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

/// A DNS domain name, stored lower-case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(s: &str) -> Result<Self, DirectoryError> {
        let lower = s.trim_end_matches('.').to_ascii_lowercase();
        let bad = |why: &str| DirectoryError::invalid("domain", format!("'{}' is not a valid domain name: {why}", clip(s)));
        if lower.is_empty() || lower.len() > 253 {
            return Err(bad("it must have 1 to 253 characters"));
        }
        let labels: Vec<&str> = lower.split('.').collect();
        if labels.len() < 2 {
            return Err(bad("it needs at least two labels, like contoso.example"));
        }
        for label in &labels {
            if label.is_empty() || label.len() > 63 {
                return Err(bad("each label must have 1 to 63 characters"));
            }
            if !label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                return Err(bad("only letters, digits and '-' are allowed"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(bad("a label cannot start or end with '-'"));
            }
        }
        if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
            return Err(bad("the last label cannot be numeric"));
        }
        Ok(DomainName(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The initial domain of a new tenant: `<slug>.ward.local`, from its display name.
    pub fn initial_for(tenant_name: &str) -> Result<Self, DirectoryError> {
        let slug: String = tenant_name.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).take(40).collect();
        if slug.is_empty() {
            return Err(DirectoryError::invalid(
                "displayName",
                "a tenant name needs at least one ASCII letter or digit to derive its initial domain",
            ));
        }
        DomainName::parse(&format!("{slug}.ward.local"))
    }
}

impl TryFrom<String> for DomainName {
    type Error = DirectoryError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        DomainName::parse(&s)
    }
}

impl From<DomainName> for String {
    fn from(d: DomainName) -> String {
        d.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `alias@domain`, unique per tenant without regard to case. The original spelling is kept for
/// display; [`UserPrincipalName::key`] is what uniqueness and look-ups use.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserPrincipalName {
    value: String,
    at: usize,
}

impl UserPrincipalName {
    pub const MAX_LEN: usize = 113;
    pub const MAX_ALIAS: usize = 64;
    pub const MAX_DOMAIN: usize = 48;

    pub fn parse(s: &str) -> Result<Self, DirectoryError> {
        let bad = |why: &str| DirectoryError::invalid("userPrincipalName", format!("'{}' is not valid: {why}", clip(s)));
        if s.len() > Self::MAX_LEN {
            return Err(bad("it must have at most 113 characters"));
        }
        let Some(at) = s.rfind('@') else {
            return Err(bad("it must have the form alias@domain"));
        };
        let (alias, domain) = (&s[..at], &s[at + 1..]);
        if alias.is_empty() || alias.len() > Self::MAX_ALIAS {
            return Err(bad("the part before '@' must have 1 to 64 characters"));
        }
        if domain.len() > Self::MAX_DOMAIN {
            return Err(bad("the part after '@' must have at most 48 characters"));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || "'.-_!#^~".contains(c);
        if let Some(c) = alias.chars().find(|c| !allowed(*c)) {
            return Err(bad(&format!("the character {c:?} is not allowed before '@'")));
        }
        if alias.starts_with('.') || alias.ends_with('.') || alias.contains("..") {
            return Err(bad("the part before '@' cannot start or end with '.', or contain '..'"));
        }
        DomainName::parse(domain).map_err(|_| bad("the part after '@' is not a domain name"))?;
        Ok(UserPrincipalName { value: s.to_string(), at })
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }

    pub fn alias(&self) -> &str {
        &self.value[..self.at]
    }

    pub fn domain(&self) -> DomainName {
        // Checked in `parse`.
        DomainName(self.value[self.at + 1..].trim_end_matches('.').to_ascii_lowercase())
    }

    /// The case-insensitive key under which the UPN is unique within a tenant.
    pub fn key(&self) -> String {
        self.value.to_ascii_lowercase()
    }
}

impl TryFrom<String> for UserPrincipalName {
    type Error = DirectoryError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        UserPrincipalName::parse(&s)
    }
}

impl From<UserPrincipalName> for String {
    fn from(u: UserPrincipalName) -> String {
        u.value
    }
}

impl fmt::Display for UserPrincipalName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// A mailNickname: at most 64 ASCII characters, none of `@ ( ) \ [ ] " ; : < > ,` or space.
/// Groups also refuse `.` (Graph's rule for groups).
pub fn mail_nickname(value: &str, allow_dot: bool) -> Result<String, DirectoryError> {
    if value.is_empty() || value.len() > 64 {
        return Err(DirectoryError::invalid("mailNickname", "must have 1 to 64 characters"));
    }
    let forbidden = "@()\\[]\";:<>, ";
    if let Some(c) = value.chars().find(|c| !c.is_ascii() || c.is_ascii_control() || forbidden.contains(*c) || (!allow_dot && *c == '.')) {
        return Err(DirectoryError::invalid("mailNickname", format!("the character {c:?} is not allowed")));
    }
    Ok(value.to_string())
}

/// An SMTP address (`local@domain`), at most 256 characters.
pub fn email(field: &'static str, value: &str) -> Result<String, DirectoryError> {
    let bad = || DirectoryError::invalid(field, format!("'{}' is not an e-mail address", clip(value)));
    if value.len() > 256 || has_control(value) || value.contains(char::is_whitespace) {
        return Err(bad());
    }
    let (local, domain) = value.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return Err(bad());
    }
    DomainName::parse(domain).map_err(|_| bad())?;
    Ok(value.to_string())
}

/// ISO 3166-1 alpha-2 country codes, for `usageLocation`.
const COUNTRY_CODES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT \
MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW \
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG \
UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// `usageLocation`: an ISO 3166-1 alpha-2 code, upper-case.
pub fn usage_location(value: &str) -> Result<String, DirectoryError> {
    let upper = value.to_ascii_uppercase();
    if upper.len() == 2 && COUNTRY_CODES.split(' ').any(|c| c == upper) {
        Ok(upper)
    } else {
        Err(DirectoryError::invalid("usageLocation", format!("'{}' is not an ISO 3166-1 alpha-2 country code", clip(value))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upn_accepts_entras_alias_characters() {
        let upn = UserPrincipalName::parse("Adele.Vance'O_k!#^~-1@Contoso.Example").unwrap();
        assert_eq!(upn.alias(), "Adele.Vance'O_k!#^~-1");
        assert_eq!(upn.domain().as_str(), "contoso.example");
        assert_eq!(upn.key(), "adele.vance'o_k!#^~-1@contoso.example");
        assert_eq!(upn.as_str(), "Adele.Vance'O_k!#^~-1@Contoso.Example");
    }

    #[test]
    fn upn_refuses_malformed_values() {
        for bad in [
            "",
            "no-at-sign",
            "@contoso.example",
            "adele@",
            "adele@localhost",
            "adèle@contoso.example",
            "ad ele@contoso.example",
            "adele..v@contoso.example",
            ".adele@contoso.example",
            "adele@contoso..example",
            "a\u{0}b@contoso.example",
            "adele@-contoso.example",
        ] {
            let err = UserPrincipalName::parse(bad).unwrap_err();
            assert_eq!(err.code().as_str(), "invalid_value", "{bad:?} should be refused");
        }
    }

    #[test]
    fn upn_length_limits_are_entras() {
        let alias64 = "a".repeat(64);
        assert!(UserPrincipalName::parse(&format!("{alias64}@contoso.example")).is_ok());
        assert!(UserPrincipalName::parse(&format!("{alias64}a@contoso.example")).is_err());
        let long_domain = format!("{}.example", "d".repeat(41)); // 49 characters
        assert!(UserPrincipalName::parse(&format!("a@{long_domain}")).is_err());
        assert!(UserPrincipalName::parse(&"x".repeat(10_000)).is_err());
    }

    #[test]
    fn domains_are_lower_cased_and_checked() {
        assert_eq!(DomainName::parse("Contoso.Example.").unwrap().as_str(), "contoso.example");
        for bad in ["contoso", "contoso_x.example", "-a.example", "a.123", "", &"a".repeat(64)] {
            assert!(DomainName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(DomainName::initial_for("Default Directory").unwrap().as_str(), "defaultdirectory.ward.local");
        assert!(DomainName::initial_for("日本").is_err());
    }

    #[test]
    fn text_limits_and_control_characters() {
        assert!(required_text("displayName", "  ", 256).is_err());
        assert!(required_text("displayName", &"é".repeat(256), 256).is_ok());
        assert!(required_text("displayName", &"é".repeat(257), 256).is_err());
        assert!(text("jobTitle", "a\nb", 128).is_err());
        assert_eq!(optional_text("jobTitle", Some(""), 128).unwrap(), None);
    }

    #[test]
    fn mail_nicknames_follow_graph_rules() {
        assert!(mail_nickname("AdeleV", true).is_ok());
        assert!(mail_nickname("adele.v", true).is_ok());
        assert!(mail_nickname("sales.team", false).is_err());
        assert!(mail_nickname("a b", true).is_err());
        assert!(mail_nickname("a@b", true).is_err());
        assert!(mail_nickname(&"n".repeat(65), true).is_err());
    }

    #[test]
    fn emails_and_countries() {
        assert!(email("mail", "adele@contoso.example").is_ok());
        assert!(email("mail", "adele").is_err());
        assert!(email("mail", "a@b@contoso.example").is_err());
        assert_eq!(usage_location("gb").unwrap(), "GB");
        assert!(usage_location("XX").is_err());
        assert!(usage_location("GBR").is_err());
    }
}
