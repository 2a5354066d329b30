//! The one error type of this crate, shaped like Graph's error envelope (entra-apis.md §1.8).

/// A rejected query option: `code` is Graph's stable code, `message` is for humans (clients branch on `code`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ODataError {
    /// `"Request_BadRequest"` or `"Request_UnsupportedQuery"`; both are HTTP 400.
    pub code: &'static str,
    pub message: String,
}

impl ODataError {
    pub const BAD_REQUEST: &'static str = "Request_BadRequest";
    pub const UNSUPPORTED_QUERY: &'static str = "Request_UnsupportedQuery";

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ODataError { code: Self::BAD_REQUEST, message: message.into() }
    }

    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        ODataError { code: Self::UNSUPPORTED_QUERY, message: message.into() }
    }

    /// "Syntax error: expected ')' at position 26 in 'startswith(displayName,'a''." — `byte_pos` is converted to a
    /// character position so the number matches what a person counts.
    pub(crate) fn syntax(text: &str, byte_pos: usize, what: impl std::fmt::Display) -> Self {
        let position = text.get(..byte_pos).map_or(byte_pos, |head| head.chars().count());
        Self::bad_request(format!("Syntax error: {what} at position {position} in '{text}'."))
    }
}

/// Client text echoed in a message, cut short so a hostile value cannot blow up the response.
pub(crate) fn echo(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
