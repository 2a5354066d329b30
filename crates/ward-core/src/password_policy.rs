//! The tenant password policy, in the way Entra's password protection judges a password: after
//! length and character classes, the password is normalized (lower case, common character
//! substitutions undone), every banned term found in it scores one point and every other character
//! one point, and it needs five points. Banned terms are a shipped list of common passwords and
//! words, the tenant's own words, and the user's own names. A password one edit away from a banned
//! term is refused too.

use crate::error::DirectoryError;
use serde::{Deserialize, Serialize};

pub const MIN_LENGTH_FLOOR: u32 = 8;
pub const MIN_LENGTH_CEILING: u32 = 64;
pub const MAX_LENGTH: usize = 256;
/// Points a password needs (Entra's threshold).
pub const MIN_SCORE: usize = 5;
pub const MAX_BANNED_WORDS: usize = 1000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PasswordPolicy {
    pub min_length: u32,
    /// The tenant's own banned words (its name, products, places), 4 to 16 characters each.
    pub banned_words: Vec<String>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy { min_length: MIN_LENGTH_FLOOR, banned_words: Vec::new() }
    }
}

impl PasswordPolicy {
    /// Checks a policy an administrator sets.
    pub fn validated(min_length: u32, banned_words: &[String]) -> Result<PasswordPolicy, DirectoryError> {
        if !(MIN_LENGTH_FLOOR..=MIN_LENGTH_CEILING).contains(&min_length) {
            return Err(DirectoryError::invalid("minLength", format!("must be between {MIN_LENGTH_FLOOR} and {MIN_LENGTH_CEILING}")));
        }
        if banned_words.len() > MAX_BANNED_WORDS {
            return Err(DirectoryError::invalid("bannedWords", format!("at most {MAX_BANNED_WORDS} words")));
        }
        let mut words = Vec::new();
        for w in banned_words {
            let w = w.trim();
            if !(4..=16).contains(&w.chars().count()) {
                return Err(DirectoryError::invalid("bannedWords", format!("'{}' must have 4 to 16 characters", crate::validate::clip(w))));
            }
            let n = normalize(w);
            if !words.contains(&n) {
                words.push(n);
            }
        }
        Ok(PasswordPolicy { min_length, banned_words: words })
    }
}

/// Common passwords and the words they are built from, normalized. Short on purpose: what makes
/// a password weak is mostly one of these plus a few characters, and the scoring catches those.
const COMMON: &[&str] = &[
    "password",
    "passwort",
    "pass",
    "qwerty",
    "qwertz",
    "azerty",
    "asdf",
    "zxcv",
    "1234",
    "2345",
    "3456",
    "4567",
    "5678",
    "6789",
    "7890",
    "0000",
    "1111",
    "2222",
    "3333",
    "4444",
    "5555",
    "6666",
    "7777",
    "8888",
    "9999",
    "1212",
    "1313",
    "6969",
    "abcd",
    "abc123",
    "letmein",
    "welcome",
    "admin",
    "administrator",
    "root",
    "login",
    "master",
    "secret",
    "changeme",
    "default",
    "guest",
    "test",
    "user",
    "iloveyou",
    "love",
    "lovely",
    "sunshine",
    "princess",
    "dragon",
    "monkey",
    "shadow",
    "superman",
    "batman",
    "football",
    "baseball",
    "soccer",
    "hockey",
    "basketball",
    "michael",
    "jennifer",
    "jordan",
    "thomas",
    "charlie",
    "robert",
    "daniel",
    "hunter",
    "ranger",
    "buster",
    "tigger",
    "ginger",
    "pepper",
    "cookie",
    "cheese",
    "chocolate",
    "flower",
    "summer",
    "winter",
    "spring",
    "autumn",
    "monday",
    "friday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "starwars",
    "whatever",
    "freedom",
    "trustno",
    "hello",
    "killer",
    "access",
    "mustang",
    "harley",
    "matrix",
    "purple",
    "orange",
    "yellow",
    "silver",
    "golden",
    "diamond",
    "computer",
    "internet",
    "google",
    "microsoft",
    "windows",
    "apple",
    "samsung",
    "office",
    "company",
    "business",
    "money",
    "qazwsx",
    "zaq1",
    "1qaz",
    "passw",
    "letme",
    "welc",
    "hallo",
    "bonjour",
    "ciao",
    "hola",
    "ninja",
    "pokemon",
    "naruto",
    "family",
    "blessed",
    "angel",
    "jesus",
    "christ",
    "god",
    "heaven",
    "soleil",
    "amour",
    "mother",
    "father",
    "baby",
    "babygirl",
    "sweet",
    "honey",
    "lucky",
    "happy",
    "smile",
    "music",
    "player",
    "gamer",
    "games",
    "minecraft",
    "fortnite",
    "liverpool",
    "chelsea",
    "arsenal",
    "barcelona",
    "madrid",
    "juventus",
    "yankees",
    "cowboys",
    "eagles",
    "lakers",
    "london",
    "paris",
    "berlin",
    "america",
    "canada",
    "france",
    "germany",
    "india",
    "china",
    "russia",
    "spain",
    "italy",
    "mexico",
    "brasil",
    "brazil",
    "australia",
];

/// Lower case, with the substitutions people use to dodge lists undone.
pub fn normalize(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| match c {
            '@' | '4' => 'a',
            '0' => 'o',
            '1' | '!' | '|' => 'l',
            '3' => 'e',
            '$' | '5' => 's',
            '7' | '+' => 't',
            '8' => 'b',
            '9' => 'g',
            other => other,
        })
        .collect()
}

/// The normalized forms of the common list (digits in it are normalized like a password's).
fn common_normalized() -> &'static [String] {
    static LIST: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        let mut v: Vec<String> = COMMON.iter().map(|w| normalize(w)).filter(|w| w.chars().count() >= 3).collect();
        v.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
        v.dedup();
        v
    })
}

fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let (mut i, mut j, mut edits) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            i += 1;
            j += 1;
            continue;
        }
        edits += 1;
        if edits > 1 {
            return false;
        }
        match a.len().cmp(&b.len()) {
            std::cmp::Ordering::Greater => i += 1,
            std::cmp::Ordering::Less => j += 1,
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    edits + (a.len() - i) + (b.len() - j) <= 1
}

/// Entra's score: each banned term found (longest first, not overlapping) one point, each other
/// character one point.
///
/// Terms of five characters or more also match with one character different (`fabr1kam` is
/// `fabrlkam` normalized, one letter from `fabrikam`).
pub fn score(password: &str, banned: &[String]) -> usize {
    const USED: char = '\u{0}';
    let mut rest: Vec<char> = normalize(password).chars().collect();
    let mut points = 0;
    for term in banned {
        let term: Vec<char> = term.chars().collect();
        if term.is_empty() || term.len() > rest.len() {
            continue;
        }
        let fuzzy = term.len() >= 5;
        let mut at = 0;
        while at + term.len() <= rest.len() {
            let window = &rest[at..at + term.len()];
            let differing = window.iter().zip(&term).filter(|(a, b)| a != b).count();
            if !window.contains(&USED) && (differing == 0 || (fuzzy && differing == 1)) {
                rest.splice(at..at + term.len(), [USED]);
                points += 1;
            }
            at += 1;
        }
    }
    points + rest.iter().filter(|c| **c != USED).count()
}

/// Checks `password` against the policy. `personal` are the user's own names (UPN alias, given
/// name, surname, display name words); terms under four characters are ignored.
pub fn check(policy: &PasswordPolicy, password: &str, personal: &[&str]) -> Result<(), DirectoryError> {
    let field = "passwordProfile.password";
    let len = password.chars().count();
    let min = policy.min_length.max(MIN_LENGTH_FLOOR) as usize;
    if len < min || len > MAX_LENGTH {
        return Err(DirectoryError::invalid(field, format!("must have {min} to {MAX_LENGTH} characters")));
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|b| **b).count() < 3 {
        return Err(DirectoryError::invalid(field, "must contain three of: lower-case letters, upper-case letters, digits, symbols"));
    }
    let mut banned: Vec<String> = common_normalized().to_vec();
    banned.extend(policy.banned_words.iter().map(|w| normalize(w)));
    for p in personal {
        for word in p.split(|c: char| !c.is_alphanumeric()) {
            if word.chars().count() >= 4 {
                banned.push(normalize(word));
            }
        }
    }
    banned.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
    banned.dedup();
    let normalized = normalize(password);
    if banned.iter().any(|t| t.chars().count() >= 4 && within_one_edit(&normalized, t)) || score(password, &banned) < MIN_SCORE {
        return Err(DirectoryError::invalid(
            field,
            "is too easy to guess: it is, or is mostly, a common password, a banned word or your name",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: &str) -> bool {
        check(&PasswordPolicy::default(), p, &["adele", "Adele Vance"]).is_ok()
    }

    #[test]
    fn common_passwords_and_their_disguises_are_refused() {
        // Each scores under five: the banned word is one point, each other character one.
        for weak in ["Password1!", "P@ssw0rd!", "Qwerty12!", "Summer26!", "Letmein!1", "Vance!1B", "Pa$$word", "Adele#V1"] {
            assert!(!ok(weak), "{weak} should be refused");
        }
    }

    #[test]
    fn passwords_with_enough_of_their_own_pass() {
        for strong in ["Correct-Horse-Battery-9", "Tr0mbone&Lantern", "Kx7#mQ2vLp", "Password-Glacier-Otter-42"] {
            assert!(ok(strong), "{strong} should pass");
        }
    }

    #[test]
    fn the_scoring_is_entras() {
        let banned = vec!["password".to_string()];
        assert_eq!(score("Password", &banned), 1);
        assert_eq!(score("Password123!", &banned), 5, "1 for the word, 4 for '123!' normalized to 'lle' plus '!'");
        assert_eq!(score("xPasswordPasswordx", &banned), 4);
    }

    #[test]
    fn tenant_words_length_and_classes() {
        let policy = PasswordPolicy::validated(8, &["Contoso".into(), "Fabrikam".into()]).unwrap();
        assert!(check(&policy, "C0nt0so!26", &[]).is_err(), "a tenant word in disguise");
        assert!(check(&policy, "Fabr1kam!26", &[]).is_err(), "one letter off a tenant word");
        assert!(check(&PasswordPolicy::default(), "C0nt0so!26", &[]).is_ok(), "not banned elsewhere");
        let long = PasswordPolicy::validated(12, &[]).unwrap();
        assert!(check(&long, "Tr0mbone&Lan", &[]).is_ok());
        assert!(check(&long, "Tr0mbone&La", &[]).is_err(), "under the tenant's 12 characters");
        assert!(check(&policy, "alllowercaseandlong", &[]).is_err(), "one character class");
        assert!(check(&policy, "Tr0mbone&Lantern", &[]).is_ok());
        assert!(PasswordPolicy::validated(7, &[]).is_err());
        assert!(PasswordPolicy::validated(8, &["abc".into()]).is_err());
        assert!(within_one_edit("pasword", "password") && within_one_edit("passwerd", "password") && !within_one_edit("pwd", "password"));
    }
}
