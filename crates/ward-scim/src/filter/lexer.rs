//! Tokens of the filter and PATCH path grammars (RFC 7644 §3.4.2.2, §3.5.2): words (attribute paths, operators,
//! keywords, bare literals), JSON strings with their escapes, and the four brackets.

use crate::error::{ScimError, echo};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// A run of characters up to whitespace, a bracket or a quote: `userName`, `eq`, `true`, `12`, `.value`.
    Word(String),
    /// A JSON string literal, unescaped.
    String(String),
    OpenParen,
    CloseParen,
    OpenBracket,
    CloseBracket,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    /// Byte offset in the input.
    pub start: usize,
    /// Whether whitespace came right before this token (`emails[…].value` has none before `.value`).
    pub after_space: bool,
}

/// The character position (what a person counts) of `byte_offset` in `text`.
pub(crate) fn char_position(text: &str, byte_offset: usize) -> usize {
    text.get(..byte_offset).map_or(byte_offset, |head| head.chars().count()) + 1
}

pub(crate) fn syntax_error(text: &str, byte_offset: usize, what: impl std::fmt::Display) -> ScimError {
    ScimError::invalid_filter(format!("{what} at position {} in '{}'", char_position(text, byte_offset), echo(text)))
}

pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, ScimError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut after_space = false;
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            after_space = true;
            continue;
        }
        let kind = match c {
            '(' | ')' | '[' | ']' => {
                chars.next();
                match c {
                    '(' => TokenKind::OpenParen,
                    ')' => TokenKind::CloseParen,
                    '[' => TokenKind::OpenBracket,
                    _ => TokenKind::CloseBracket,
                }
            }
            '"' => {
                chars.next();
                TokenKind::String(json_string(text, start, &mut chars)?)
            }
            _ => {
                let mut end = start;
                while let Some(&(offset, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"') {
                        break;
                    }
                    end = offset + c.len_utf8();
                    chars.next();
                }
                TokenKind::Word(text[start..end].to_owned())
            }
        };
        tokens.push(Token { kind, start, after_space });
        after_space = false;
    }
    Ok(tokens)
}

/// The rest of a JSON string (RFC 8259 §7) whose opening quote is at `start`.
fn json_string(text: &str, start: usize, chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Result<String, ScimError> {
    let mut value = String::new();
    loop {
        let Some((offset, c)) = chars.next() else {
            return Err(syntax_error(text, start, "unterminated string"));
        };
        match c {
            '"' => return Ok(value),
            '\\' => {
                let Some((_, escape)) = chars.next() else {
                    return Err(syntax_error(text, start, "unterminated string"));
                };
                match escape {
                    '"' => value.push('"'),
                    '\\' => value.push('\\'),
                    '/' => value.push('/'),
                    'b' => value.push('\u{8}'),
                    'f' => value.push('\u{c}'),
                    'n' => value.push('\n'),
                    'r' => value.push('\r'),
                    't' => value.push('\t'),
                    'u' => value.push(unicode_escape(text, offset, chars)?),
                    other => return Err(syntax_error(text, offset, format!("unknown escape '\\{other}' in a string"))),
                }
            }
            c if u32::from(c) < 0x20 => return Err(syntax_error(text, offset, "control character in a string")),
            c => value.push(c),
        }
    }
}

fn unicode_escape(text: &str, offset: usize, chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Result<char, ScimError> {
    let high = hex4(text, offset, chars)?;
    if !(0xD800..0xDC00).contains(&high) {
        return char::from_u32(high).ok_or_else(|| syntax_error(text, offset, "invalid \\u escape"));
    }
    // A high surrogate must be followed by `\uDC00`–`\uDFFF`.
    let low = match (chars.next(), chars.next()) {
        (Some((_, '\\')), Some((_, 'u'))) => hex4(text, offset, chars)?,
        _ => return Err(syntax_error(text, offset, "unpaired surrogate in a \\u escape")),
    };
    if !(0xDC00..0xE000).contains(&low) {
        return Err(syntax_error(text, offset, "unpaired surrogate in a \\u escape"));
    }
    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)).ok_or_else(|| syntax_error(text, offset, "invalid \\u escape"))
}

fn hex4(text: &str, offset: usize, chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Result<u32, ScimError> {
    let mut code = 0;
    for _ in 0..4 {
        let digit = chars
            .next()
            .and_then(|(_, c)| c.to_digit(16))
            .ok_or_else(|| syntax_error(text, offset, "a \\u escape needs four hex digits"))?;
        code = code * 16 + digit;
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::{TokenKind, tokenize};

    fn kinds(text: &str) -> Vec<TokenKind> {
        tokenize(text).unwrap().into_iter().map(|token| token.kind).collect()
    }

    #[test]
    fn value_path_with_sub_attribute_splits_at_brackets() {
        let word = |w: &str| TokenKind::Word(w.to_owned());
        assert_eq!(
            kinds(r#"emails[type eq "work"].value eq "a@b""#),
            vec![
                word("emails"),
                TokenKind::OpenBracket,
                word("type"),
                word("eq"),
                TokenKind::String("work".into()),
                TokenKind::CloseBracket,
                word(".value"),
                word("eq"),
                TokenKind::String("a@b".into()),
            ]
        );
    }

    #[test]
    fn json_escapes_are_decoded() {
        assert_eq!(kinds(r#""a\"b\\c\u00e9\ud83d\ude00\n""#), vec![TokenKind::String("a\"b\\cé😀\n".into())]);
        assert!(tokenize(r#""\ud83d""#).is_err());
        assert!(tokenize(r#""\x""#).is_err());
        assert!(tokenize(r#""open"#).is_err());
    }
}
