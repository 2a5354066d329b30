//! The `$filter` lexer: OData literals (`'it''s'`, integers, bare GUIDs, bare DateTimeOffsets), names and
//! punctuation, each with its byte offset so errors can say where.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::error::{ODataError, echo};

/// An RFC 3339 timestamp as a UTC instant; `None` when malformed or when moving it to UTC leaves years 0–9999.
pub(crate) fn parse_datetime(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()?.checked_to_offset(UtcOffset::UTC)
}

/// Whether `bytes` starts with a hyphenated GUID that is not glued to further word characters.
pub(super) fn is_guid(bytes: &[u8]) -> bool {
    bytes.len() >= 36
        && bytes[..36].iter().enumerate().all(|(i, b)| if matches!(i, 8 | 13 | 18 | 23) { *b == b'-' } else { b.is_ascii_hexdigit() })
        && !bytes.get(36).is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// Words the grammar owns; they can never be property names, so a misplaced one is a syntax error.
const RESERVED: [&str; 13] = ["and", "or", "not", "eq", "ne", "ge", "le", "gt", "lt", "in", "true", "false", "null"];

pub(super) fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

#[derive(Debug, PartialEq)]
pub(super) enum Token<'a> {
    Word(&'a str),
    Str(String),
    Int(i64),
    Guid(&'a str),
    DateTime(String),
    Open,
    Close,
    Comma,
    Slash,
    Colon,
    End,
}

/// Splits `text` into tokens with their byte offsets; the last token is always `End`.
pub(super) fn tokenize(text: &str) -> Result<Vec<(Token<'_>, usize)>, ODataError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    loop {
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let Some(&first) = bytes.get(i) else {
            tokens.push((Token::End, i));
            return Ok(tokens);
        };
        let rest = &text[i..];
        let (token, len) = match first {
            b'(' => (Token::Open, 1),
            b')' => (Token::Close, 1),
            b',' => (Token::Comma, 1),
            b'/' => (Token::Slash, 1),
            b':' => (Token::Colon, 1),
            b'\'' => string_literal(text, i)?,
            _ if is_guid(rest.as_bytes()) => (Token::Guid(&rest[..36]), 36),
            b'0'..=b'9' | b'-' => number_or_datetime(text, i)?,
            b'A'..=b'Z' | b'a'..=b'z' | b'_' => {
                let len = rest.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
                (Token::Word(&rest[..len]), len)
            }
            _ => {
                let c = rest.chars().next().unwrap_or_default();
                return Err(ODataError::syntax(text, i, format!("unexpected character '{c}'")));
            }
        };
        tokens.push((token, i));
        i += len;
    }
}

/// `'it''s'` → `it's`. Returns the token and how many bytes it spans.
fn string_literal(text: &str, start: usize) -> Result<(Token<'static>, usize), ODataError> {
    let mut value = String::new();
    let mut rest = &text[start + 1..];
    let mut len = 1;
    loop {
        let Some(quote) = rest.find('\'') else {
            return Err(ODataError::syntax(text, start, "unterminated string literal"));
        };
        value.push_str(&rest[..quote]);
        len += quote + 1;
        if rest[quote + 1..].starts_with('\'') {
            value.push('\'');
            len += 1;
            rest = &rest[quote + 2..];
        } else {
            return Ok((Token::Str(value), len));
        }
    }
}

/// An integer (`-12`), or a bare DateTimeOffset (`2024-01-01T00:00:00Z`) when it starts with `dddd-`.
fn number_or_datetime(text: &str, start: usize) -> Result<(Token<'static>, usize), ODataError> {
    let rest = &text[start..];
    let bytes = rest.as_bytes();
    if bytes.len() > 4 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-' {
        let len = rest.bytes().take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'+' | b'-')).count();
        let literal = &rest[..len];
        let normalized = parse_datetime(literal).and_then(|t| t.format(&Rfc3339).ok());
        return match normalized {
            Some(value) => Ok((Token::DateTime(value), len)),
            None => Err(ODataError::syntax(text, start, format!("invalid DateTimeOffset literal '{}'", echo(literal)))),
        };
    }
    let sign = usize::from(bytes[0] == b'-');
    let len = sign + bytes[sign..].iter().take_while(|b| b.is_ascii_digit()).count();
    if len == sign {
        return Err(ODataError::syntax(text, start, "unexpected character '-'"));
    }
    if bytes.get(len).is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.')) {
        return Err(ODataError::syntax(text, start, "invalid number literal"));
    }
    match rest[..len].parse() {
        Ok(n) => Ok((Token::Int(n), len)),
        Err(_) => Err(ODataError::syntax(text, start, "integer literal out of range")),
    }
}
