//! Generating, hashing and checking secrets. Passwords are hashed with Argon2id (OWASP
//! parameters); client secrets are high-entropy, so SHA-256 suffices and keeps token issuance fast.
//! Hashes only ever leave this module; comparisons are constant-time.

use argon2::password_hash::{PasswordHasher, phc::PasswordHash};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use ward_core::DirectoryError;
use ward_core::clock::Rng;

/// Argon2id, m = 19 MiB, t = 2, p = 1 (OWASP Password Storage Cheat Sheet).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Entra's strong-password rule: 8 to 256 characters, at least three of lower case, upper case,
/// digits and symbols. (The tenant password policy of the sign-in issue builds on this.)
pub fn check_password_strength(password: &str) -> Result<(), DirectoryError> {
    let len = password.chars().count();
    if !(8..=256).contains(&len) {
        return Err(DirectoryError::invalid("passwordProfile.password", "must have 8 to 256 characters"));
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|b| **b).count() < 3 {
        return Err(DirectoryError::invalid(
            "passwordProfile.password",
            "must contain three of: lower-case letters, upper-case letters, digits, symbols",
        ));
    }
    Ok(())
}

pub fn hash_password(password: &str, rng: &dyn Rng) -> Result<String, DirectoryError> {
    let mut salt = [0u8; 16];
    rng.fill(&mut salt);
    argon2()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DirectoryError::Internal(format!("password hashing failed: {e}")))
}

/// Was `stored` made with the current algorithm and parameters (Argon2id, m=19456, t=2, p=1)?
pub fn is_current_hash(stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(h) => {
            let param = |name: &str| h.params.get_str(name).and_then(|v| v.parse::<u32>().ok());
            h.algorithm.as_str() == "argon2id" && param("m") == Some(19_456) && param("t") == Some(2) && param("p") == Some(1)
        }
        Err(_) => false,
    }
}

/// Checks `password` against a stored PHC string, with the algorithm, version and parameters the
/// string names (so hashes made before a parameter change still verify, and are then rehashed).
/// The 19 MiB of Argon2 memory is taken from [`with_argon2_memory`] instead of being allocated and
/// zeroed for every check. The comparison of the outputs is constant-time.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else { return false };
    let Ok(version) = parsed.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    let blocks = params.block_count();
    let hasher = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let salt: &[u8] = salt;
    let computed = with_argon2_memory(blocks, |memory| hasher.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory));
    computed.is_ok() && aws_lc_rs::constant_time::verify_slices_are_equal(&out, expected.as_bytes()).is_ok()
}

/// Runs `f` over `blocks` Argon2 blocks of memory kept between checks: at most one buffer per
/// core (as many as [`argon2_slots`] lets run at once), each reused rather than allocated and
/// zeroed again. Every block is written before it is read in Argon2's first pass, so leftovers of
/// an earlier check never enter a result; they stay in this process's memory, as freed memory
/// would. Buffers for unusually large parameters (over 64 MiB) are not kept.
fn with_argon2_memory<R>(blocks: usize, f: impl FnOnce(&mut [argon2::Block]) -> R) -> R {
    static POOL: std::sync::Mutex<Vec<Vec<argon2::Block>>> = std::sync::Mutex::new(Vec::new());
    const KEEP_AT_MOST: usize = 64 * 1024; // blocks of 1 KiB
    let taken = POOL.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let mut memory = taken.unwrap_or_default();
    if memory.len() < blocks {
        memory.resize(blocks, argon2::Block::default());
    }
    let result = f(&mut memory[..blocks]);
    if memory.len() <= KEEP_AT_MOST {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < cores() {
            pool.push(memory);
        }
    }
    result
}

/// `verify_password` on a blocking thread: an Argon2id check takes ~20 ms of CPU, which must not
/// stall the async workers serving other requests.
/// At most one check per core runs at a time (each takes 19 MiB and ~20 ms); the rest wait their
/// turn without holding memory.
pub async fn verify_password_off_thread(password: &str, stored: String) -> bool {
    let Ok(_slot) = argon2_slots().acquire().await else { return false };
    let password = password.to_string();
    tokio::task::spawn_blocking(move || verify_password(&password, &stored)).await.unwrap_or(false)
}

/// One Argon2id computation per core at a time, hashing and checking alike.
fn argon2_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(cores()))
}

/// The cores this process may use, read once: `available_parallelism` reads the cgroup's files
/// on every call (several opens a password check, seen in the sign-in benchmark's profile).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
}

/// `hash_password` on a blocking thread (the salt is drawn here, from `rng`), for the same reason.
/// The caller has checked the password against the tenant's policy.
pub async fn hash_password_off_thread(password: &str, rng: &dyn Rng) -> Result<String, DirectoryError> {
    let mut salt = [0u8; 16];
    rng.fill(&mut salt);
    let _slot = argon2_slots().acquire().await.map_err(|_| DirectoryError::Internal("password hashing is shutting down".into()))?;
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        argon2()
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| DirectoryError::Internal(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| DirectoryError::Internal(format!("password hashing failed: {e}")))?
}

/// A hash to verify against when there is no real one (unknown user, no password), so that every
/// failed sign-in costs the same Argon2id work and timing does not tell which names exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password that is never anyone's", &crate::SystemRng).unwrap_or_default())
}

/// SHA-256 of a high-entropy secret, as stored: `sha256:<hex>`.
pub fn hash_client_secret(secret: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Constant-time check of a presented client secret against its stored hash.
pub fn verify_client_secret(presented: &str, stored: &str) -> bool {
    let computed = hash_client_secret(presented);
    aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_bytes(), stored.as_bytes()).is_ok()
}

/// A client secret: 30 random bytes, URL-safe base64 (40 characters, 240 bits).
pub fn generate_client_secret(rng: &dyn Rng) -> String {
    let mut bytes = [0u8; 30];
    rng.fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A one-time administrator password: 20 characters from an unambiguous alphabet, with every
/// character class present so it passes [`check_password_strength`]. About 113 bits.
pub fn generate_password(rng: &dyn Rng) -> String {
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    const SYMBOL: &[u8] = b"-_.!~";
    let all: Vec<u8> = [LOWER, UPPER, DIGIT, SYMBOL].concat();
    let pick = |set: &[u8]| -> u8 {
        // Rejection sampling: no modulo bias.
        let limit = 256 - (256 % set.len());
        loop {
            let mut b = [0u8; 1];
            rng.fill(&mut b);
            if (b[0] as usize) < limit {
                return set[b[0] as usize % set.len()];
            }
        }
    };
    let mut out: Vec<u8> = vec![pick(LOWER), pick(UPPER), pick(DIGIT), pick(SYMBOL)];
    while out.len() < 20 {
        out.push(pick(&all));
    }
    // Shuffle so the class-guaranteed characters are not always first (Fisher–Yates).
    for i in (1..out.len()).rev() {
        let j = loop {
            let mut b = [0u8; 1];
            rng.fill(&mut b);
            let limit = 256 - (256 % (i + 1));
            if (b[0] as usize) < limit {
                break b[0] as usize % (i + 1);
            }
        };
        out.swap(i, j);
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;

    #[test]
    fn generated_passwords_are_strong_and_distinct() {
        let rng = SystemRng;
        let a = generate_password(&rng);
        let b = generate_password(&rng);
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        check_password_strength(&a).unwrap();
    }

    #[test]
    fn password_strength_rules() {
        assert!(check_password_strength("Sh0rt!").is_err());
        assert!(check_password_strength("alllowercaseletters").is_err());
        assert!(check_password_strength("lower-and-symbols").is_err());
        assert!(check_password_strength("Lower1upper").is_ok());
        assert!(check_password_strength(&"Aa1".repeat(90)).is_err());
    }

    #[test]
    fn argon2id_hashes_verify_and_refuse() {
        let rng = SystemRng;
        let hash = hash_password("Correct-Horse-1", &rng).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_password("Correct-Horse-1", &hash));
        assert!(!verify_password("correct-horse-1", &hash));
        assert!(!verify_password("Correct-Horse-1", "not a hash"));
        assert_ne!(hash, hash_password("Correct-Horse-1", &rng).unwrap(), "salted");
    }

    /// The pooled-memory check agrees with the argon2 crate's own, for hashes of other parameters,
    /// versions and variants too, and leftovers of a previous check in the reused memory (from a
    /// larger one and from the same size) change nothing.
    #[test]
    fn pooled_check_agrees_with_the_library() {
        use argon2::password_hash::PasswordVerifier;
        let salt = b"sixteen byte slt";
        let make = |algorithm, version, m, t, p| {
            let hasher = Argon2::new(algorithm, version, Params::new(m, t, p, None).unwrap());
            hasher.hash_password_with_salt(b"Pooled-Memory-7", salt).unwrap().to_string()
        };
        let hashes = [
            make(Algorithm::Argon2id, Version::V0x13, 19_456, 2, 1),
            make(Algorithm::Argon2id, Version::V0x13, 8_192, 1, 2),
            make(Algorithm::Argon2i, Version::V0x13, 4_096, 3, 1),
            make(Algorithm::Argon2d, Version::V0x10, 4_096, 2, 1),
            make(Algorithm::Argon2id, Version::V0x13, 19_456, 2, 1).replace("19456", "19455"),
        ];
        for _round in 0..2 {
            for hash in &hashes {
                for attempt in ["Pooled-Memory-7", "pooled-memory-7", ""] {
                    let library = PasswordHash::new(hash).is_ok_and(|h| argon2().verify_password(attempt.as_bytes(), &h).is_ok());
                    assert_eq!(verify_password(attempt, hash), library, "{hash} with {attempt:?}");
                    assert_eq!(library, attempt == "Pooled-Memory-7" && !hash.contains("19455"), "{hash}");
                }
            }
        }
        let truncated = &hashes[0][..hashes[0].len() - 4];
        assert!(!verify_password("Pooled-Memory-7", truncated));
    }

    #[test]
    fn client_secrets_are_hashed_and_checked() {
        let rng = SystemRng;
        let secret = generate_client_secret(&rng);
        assert_eq!(secret.len(), 40);
        let stored = hash_client_secret(&secret);
        assert!(stored.starts_with("sha256:") && !stored.contains(&secret));
        assert!(verify_client_secret(&secret, &stored));
        assert!(!verify_client_secret(&format!("{secret}x"), &stored));
        assert!(!verify_client_secret("", &stored));
    }
}
