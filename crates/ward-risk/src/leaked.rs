//! The administrator's file of leaked passwords, as SHA-1 digests: parsing (Have I Been Pwned's
//! formats and a plain list) and a look-up. The caller hashes the password it holds at sign-in
//! or password set and passes the digest; SHA-1 here is an index into a public list, not a
//! protection.

use thiserror::Error;

/// A SHA-1 digest.
pub type Sha1Digest = [u8; 20];

/// Why a line of the leaked-password file was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LeakedFileError {
    #[error("line {line}: {reason}")]
    Malformed { line: usize, reason: &'static str },
    #[error("line {line}: a 35-character suffix needs a 5-character prefix line before it")]
    SuffixWithoutPrefix { line: usize },
}

impl LeakedFileError {
    /// A stable code for logs and the admin API.
    pub fn code(&self) -> &'static str {
        "invalidLeakedPasswordFile"
    }

    /// The 1-based line the error is on.
    pub fn line(&self) -> usize {
        match self {
            LeakedFileError::Malformed { line, .. } | LeakedFileError::SuffixWithoutPrefix { line } => *line,
        }
    }
}

/// A sorted, deduplicated set of SHA-1 digests: 20 bytes a password, binary search to look up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeakedPasswords {
    digests: Vec<Sha1Digest>,
}

impl LeakedPasswords {
    /// Parses a whole file; see [`LeakedPasswordsBuilder::push_line`] for the formats.
    pub fn parse(text: &str) -> Result<LeakedPasswords, LeakedFileError> {
        let mut builder = LeakedPasswordsBuilder::new();
        for line in text.lines() {
            builder.push_line(line)?;
        }
        Ok(builder.finish())
    }

    pub fn contains(&self, sha1: &Sha1Digest) -> bool {
        self.digests.binary_search(sha1).is_ok()
    }

    /// The same look-up from a 40-character hex digest (either case); `None` if it is not one.
    pub fn contains_hex(&self, sha1_hex: &str) -> Option<bool> {
        sha1_from_hex(sha1_hex).map(|d| self.contains(&d))
    }

    pub fn len(&self) -> usize {
        self.digests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }
}

/// Builds the set a line at a time, so that a caller can stream a large file without holding
/// its text.
#[derive(Debug, Default)]
pub struct LeakedPasswordsBuilder {
    digests: Vec<Sha1Digest>,
    /// The current range's 5 hex characters, as the first 2.5 bytes of a digest.
    prefix: Option<[u8; 5]>,
    line: usize,
    min_count: u64,
}

impl LeakedPasswordsBuilder {
    pub fn new() -> LeakedPasswordsBuilder {
        LeakedPasswordsBuilder::default()
    }

    /// Keeps only passwords seen at least `min_count` times (when the file has counts), to
    /// trade coverage for memory. Lines without a count are always kept.
    pub fn with_min_count(mut self, min_count: u64) -> LeakedPasswordsBuilder {
        self.min_count = min_count;
        self
    }

    /// Starts a range, as when a range file's name (`5BAA6.txt`) gives the prefix.
    pub fn begin_range(&mut self, prefix: &str) -> Result<(), LeakedFileError> {
        let p = prefix.trim();
        match hex_nibbles::<5>(p) {
            Some(n) => {
                self.prefix = Some(n);
                Ok(())
            }
            None => Err(LeakedFileError::Malformed { line: self.line, reason: "a range prefix is 5 hex characters" }),
        }
    }

    /// One line of the file. Accepted, after trimming (blank lines and `#` comments skipped):
    /// - `HASH` or `HASH:COUNT`: a full 40-hex SHA-1 (a plain list, or HIBP's ordered file);
    /// - `PREFIX`: 5 hex characters alone, starting a range;
    /// - `SUFFIX:COUNT` or `SUFFIX`: 35 hex characters, completing the current range's prefix
    ///   (HIBP's range API and downloader format).
    ///
    /// A count of 0 is HIBP's padding and is skipped. Hex may be either case.
    pub fn push_line(&mut self, line: &str) -> Result<(), LeakedFileError> {
        self.line += 1;
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            return Ok(());
        }
        let (hex, count) = match text.split_once(':') {
            Some((h, c)) => {
                let c = c.trim();
                if c.is_empty() || !c.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(self.malformed("the count after ':' is not a number"));
                }
                (h.trim(), Some(c.parse::<u64>().unwrap_or(u64::MAX)))
            }
            None => (text, None),
        };
        // Padding (count 0) and passwords rarer than asked for are syntax-checked, not kept.
        let keep = count.is_none_or(|c| c != 0 && c >= self.min_count);
        match hex.len() {
            40 => {
                let nibbles = hex_nibbles::<40>(hex).ok_or_else(|| self.malformed("not a hex SHA-1"))?;
                if keep {
                    self.digests.push(pack(&nibbles));
                }
            }
            35 => {
                let suffix = hex_nibbles::<35>(hex).ok_or_else(|| self.malformed("not a hex SHA-1 suffix"))?;
                let prefix = self.prefix.ok_or(LeakedFileError::SuffixWithoutPrefix { line: self.line })?;
                if keep {
                    let mut all = [0u8; 40];
                    all[..5].copy_from_slice(&prefix);
                    all[5..].copy_from_slice(&suffix);
                    self.digests.push(pack(&all));
                }
            }
            5 if count.is_none() => {
                self.prefix = Some(hex_nibbles::<5>(hex).ok_or_else(|| self.malformed("not a hex range prefix"))?);
            }
            _ => return Err(self.malformed("expected a 40-hex SHA-1, a 5-hex prefix or a 35-hex suffix")),
        }
        Ok(())
    }

    /// The set: sorted and deduplicated.
    pub fn finish(mut self) -> LeakedPasswords {
        self.digests.sort_unstable();
        self.digests.dedup();
        self.digests.shrink_to_fit();
        LeakedPasswords { digests: self.digests }
    }

    fn malformed(&self, reason: &'static str) -> LeakedFileError {
        LeakedFileError::Malformed { line: self.line, reason }
    }
}

/// A 40-character hex SHA-1 (either case) as bytes.
pub fn sha1_from_hex(hex: &str) -> Option<Sha1Digest> {
    hex_nibbles::<40>(hex.trim()).map(|n| pack(&n))
}

fn hex_nibbles<const N: usize>(s: &str) -> Option<[u8; N]> {
    let bytes = s.as_bytes();
    if bytes.len() != N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = (*b as char).to_digit(16)? as u8;
    }
    Some(out)
}

fn pack(nibbles: &[u8; 40]) -> Sha1Digest {
    let mut out = [0u8; 20];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nibbles[2 * i] << 4) | nibbles[2 * i + 1];
    }
    out
}
