//! SCIM filters (RFC 7644 §3.4.2.2): a recursive-descent parser from text to a [`Filter`] whose attribute paths are
//! already resolved against a [`ResourceSchema`], so unknown attributes and operators that make no sense for an
//! attribute's type are refused before anything is evaluated.
//!
//! Grammar (operators and keywords case-insensitive; precedence: parentheses > `not` > `and` > `or`):
//! ```text
//! or        := and ("or" and)*
//! and       := unary ("and" unary)*
//! unary     := "not" "(" or ")" | "(" or ")" | attrExpr
//! attrExpr  := attrPath "[" valFilter "]" [subAttr (compareOp compValue | "pr")]
//!            | attrPath "pr" | attrPath compareOp compValue
//! valFilter := the same grammar, with sub-attribute names of the bracketed attribute and no nested "[ ]"
//! ```
//! Beyond the ABNF: whitespace after `not` is optional (erratum 7319); `emails[type eq "work"].value eq "x"` (used
//! by Entra, entra-apis.md §4.2) means `emails[type eq "work" and value eq "x"]`; a bare word after an operator
//! (`externalId eq jyoung`, an Entra doc sample) is a string for a string attribute.

mod eval;
mod lexer;
mod lookup;

pub(crate) use eval::{as_boolean, compare_strings, element_matches, get_in_map, get_key};
pub(crate) use lexer::{Token, TokenKind, syntax_error, tokenize};
pub use lookup::Equality;
pub(crate) use lookup::type_selection;

use crate::error::{ScimError, echo};
use crate::schema::{AttributePath, AttributeType, ResourceSchema, Returned};
use crate::{MAX_FILTER_DEPTH, MAX_FILTER_LEN};

/// RFC 7644 §3.4.2.2, Table 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Lt,
    Ge,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        const ALL: [(&str, CompareOp); 9] = [
            ("eq", CompareOp::Eq),
            ("ne", CompareOp::Ne),
            ("co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("lt", CompareOp::Lt),
            ("ge", CompareOp::Ge),
            ("le", CompareOp::Le),
        ];
        ALL.iter().find(|(name, _)| name.eq_ignore_ascii_case(word)).map(|(_, op)| *op)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Lt => "lt",
            CompareOp::Ge => "ge",
            CompareOp::Le => "le",
        }
    }

    fn is_ordering(self) -> bool {
        matches!(self, CompareOp::Gt | CompareOp::Lt | CompareOp::Ge | CompareOp::Le)
    }

    fn is_substring(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }
}

/// A comparison value (RFC 7644 `compValue`), already checked against the attribute's type.
#[derive(Debug, Clone, PartialEq)]
pub enum CompareValue {
    /// Only with `eq` (the attribute has no value) and `ne` (it has one).
    Null,
    Boolean(bool),
    Number(f64),
    /// Text; for a `dateTime` attribute it has been checked to parse as RFC 3339.
    String(String),
}

/// A parsed filter. Inside [`Filter::ValuePath`], paths name the bracketed attribute with a sub-attribute
/// (`emails[type eq "work"]` holds `emails.type eq "work"`) and are evaluated against each value in turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare { path: AttributePath, op: CompareOp, value: CompareValue },
    Present { path: AttributePath },
    ValuePath { path: AttributePath, filter: Box<Filter> },
    Not(Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

impl Filter {
    /// Parses `text` against `schema`. Every error is 400 `invalidFilter` naming what went wrong and where.
    ///
    /// Filtering on a `returned: never` attribute (`password`) is refused with `invalidFilter`, not 403
    /// `sensitive`: the store keeps only a hash, so no such filter can be answered whatever the transport, and
    /// a yes/no answer would be a password oracle.
    pub fn parse(text: &str, schema: &ResourceSchema) -> Result<Filter, ScimError> {
        let mut parser = Parser::new(text, schema)?;
        if parser.tokens.is_empty() {
            return Err(ScimError::invalid_filter("the filter is empty"));
        }
        let filter = parser.parse_or(Scope::Resource)?;
        match parser.peek() {
            None => Ok(filter),
            Some(token) => Err(parser.error_at(token.start, format!("unexpected {}", describe(&token.kind)))),
        }
    }

    /// RFC 7644 §3.4.2.2 semantics on a resource's full JSON representation (see [`eval`](self) for the rules).
    pub fn matches(&self, resource: &serde_json::Value) -> bool {
        eval::matches(resource, self)
    }

    /// The equality terms of `attr eq "text"` or an `and` of such, for answering a filter by index look-up.
    pub fn as_equalities(&self) -> Option<Vec<Equality<'_>>> {
        lookup::as_equalities(self)
    }

    /// The single equality term of `attr eq "text"`, e.g. `userName eq "x"` or `emails[type eq "work"].value eq "x"`.
    pub fn as_equality(&self) -> Option<Equality<'_>> {
        let mut terms = self.as_equalities()?;
        (terms.len() == 1).then(|| terms.remove(0))
    }
}

/// What names in the current expression are relative to.
#[derive(Clone, Copy)]
enum Scope {
    Resource,
    /// Inside `attr[…]`: names are sub-attributes of `attr`.
    Within(AttributePath),
}

pub(crate) struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    position: usize,
    schema: &'a ResourceSchema,
    depth: usize,
}

fn describe(kind: &TokenKind) -> String {
    match kind {
        TokenKind::Word(word) => format!("'{}'", echo(word)),
        TokenKind::String(text) => format!("string \"{}\"", echo(text)),
        TokenKind::OpenParen => "'('".into(),
        TokenKind::CloseParen => "')'".into(),
        TokenKind::OpenBracket => "'['".into(),
        TokenKind::CloseBracket => "']'".into(),
    }
}

impl<'a> Parser<'a> {
    pub(crate) fn new(text: &'a str, schema: &'a ResourceSchema) -> Result<Self, ScimError> {
        if text.len() > MAX_FILTER_LEN {
            return Err(ScimError::invalid_filter(format!(
                "the filter is {} bytes long; at most {MAX_FILTER_LEN} are accepted",
                text.len()
            )));
        }
        Ok(Parser { text, tokens: tokenize(text)?, position: 0, schema, depth: 0 })
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn peek_kind(&self) -> Option<&TokenKind> {
        self.peek().map(|token| &token.kind)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn end_offset(&self) -> usize {
        self.text.len()
    }

    fn error_at(&self, offset: usize, what: impl std::fmt::Display) -> ScimError {
        syntax_error(self.text, offset, what)
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek_kind(), Some(TokenKind::Word(word)) if word.eq_ignore_ascii_case(keyword))
    }

    fn enter(&mut self, offset: usize) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(self.error_at(offset, format!("nesting deeper than {MAX_FILTER_DEPTH} levels")));
        }
        Ok(())
    }

    fn expect_close(&mut self, close: TokenKind, opened_at: usize) -> Result<(), ScimError> {
        let (symbol, opener) = if close == TokenKind::CloseParen { ("')'", "'('") } else { ("']'", "'['") };
        match self.next() {
            Some(token) if token.kind == close => {
                self.depth -= 1;
                Ok(())
            }
            Some(token) => Err(self.error_at(
                token.start,
                format!(
                    "expected {symbol} to close the {opener} at position {}, found {}",
                    lexer::char_position(self.text, opened_at),
                    describe(&token.kind)
                ),
            )),
            None => Err(self.error_at(
                self.end_offset(),
                format!("expected {symbol} to close the {opener} at position {}", lexer::char_position(self.text, opened_at)),
            )),
        }
    }

    fn parse_or(&mut self, scope: Scope) -> Result<Filter, ScimError> {
        let mut left = self.parse_and(scope)?;
        while self.peek_keyword("or") {
            self.position += 1;
            let right = self.parse_and(scope)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self, scope: Scope) -> Result<Filter, ScimError> {
        let mut left = self.parse_unary(scope)?;
        while self.peek_keyword("and") {
            self.position += 1;
            let right = self.parse_unary(scope)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_unary(&mut self, scope: Scope) -> Result<Filter, ScimError> {
        let Some(token) = self.peek().cloned() else {
            return Err(self.error_at(self.end_offset(), "expected an attribute name, '(' or 'not'"));
        };
        match &token.kind {
            TokenKind::Word(word) if word.eq_ignore_ascii_case("not") => {
                self.position += 1;
                match self.next() {
                    Some(Token { kind: TokenKind::OpenParen, start, .. }) => {
                        self.enter(start)?;
                        let inner = self.parse_or(scope)?;
                        self.expect_close(TokenKind::CloseParen, start)?;
                        Ok(Filter::Not(Box::new(inner)))
                    }
                    _ => Err(self.error_at(token.start, "expected '(' after 'not'")),
                }
            }
            TokenKind::OpenParen => {
                self.position += 1;
                self.enter(token.start)?;
                let inner = self.parse_or(scope)?;
                self.expect_close(TokenKind::CloseParen, token.start)?;
                Ok(inner)
            }
            TokenKind::Word(word) => {
                self.position += 1;
                self.parse_attribute_expression(word, token.start, scope)
            }
            other => Err(self.error_at(token.start, format!("expected an attribute name, '(' or 'not', found {}", describe(other)))),
        }
    }

    /// Resolves an attribute name in `scope`; in a filter, `returned: never` attributes are refused.
    fn resolve(&self, word: &str, offset: usize, scope: Scope, in_filter: bool) -> Result<AttributePath, ScimError> {
        let path = match scope {
            Scope::Resource => self.schema.resolve(word),
            Scope::Within(parent) => parent.attribute.sub_attribute(word).map(|sub| parent.with_sub_attribute(sub)),
        };
        let Some(path) = path else {
            let whose = match scope {
                Scope::Resource => self.schema.name.to_owned(),
                Scope::Within(parent) => format!("'{}'", parent.canonical()),
            };
            return Err(self.error_at(offset, format!("unknown attribute '{}' for {whose}", echo(word))));
        };
        if in_filter && (path.attribute.returned == Returned::Never || path.leaf().returned == Returned::Never) {
            return Err(self.error_at(offset, format!("'{path}' is write-only and cannot be used in a filter")));
        }
        Ok(path)
    }

    fn parse_attribute_expression(&mut self, word: &str, offset: usize, scope: Scope) -> Result<Filter, ScimError> {
        let path = self.resolve(word, offset, scope, true)?;
        let Some(Token { kind: TokenKind::OpenBracket, start: bracket, .. }) = self.peek().cloned() else {
            return self.parse_comparison(path, offset);
        };
        self.position += 1;
        let inner = self.parse_bracketed_filter(path, offset, bracket, scope)?;
        match self.peek().cloned() {
            Some(Token { kind: TokenKind::Word(sub_word), start, .. }) if sub_word.starts_with('.') => {
                self.position += 1;
                let sub = self.bracket_sub_attribute(path, &sub_word, start)?;
                let comparison = self.parse_comparison(sub, start)?;
                Ok(Filter::ValuePath { path, filter: Box::new(Filter::And(Box::new(inner), Box::new(comparison))) })
            }
            _ => Ok(Filter::ValuePath { path, filter: Box::new(inner) }),
        }
    }

    /// `attr[valFilter]` after the `[` at `bracket`.
    fn parse_bracketed_filter(&mut self, path: AttributePath, offset: usize, bracket: usize, scope: Scope) -> Result<Filter, ScimError> {
        if matches!(scope, Scope::Within(_)) {
            return Err(self.error_at(bracket, "a filter inside '[ ]' cannot contain another '[ ]'"));
        }
        if path.sub_attribute.is_some() || path.attribute.kind != AttributeType::Complex {
            return Err(self.error_at(offset, format!("'{path}' is not a complex attribute, so it cannot be followed by '[ ]'")));
        }
        self.enter(bracket)?;
        let inner = self.parse_or(Scope::Within(path))?;
        self.expect_close(TokenKind::CloseBracket, bracket)?;
        Ok(inner)
    }

    /// `.subAttr` after `attr[…]`.
    fn bracket_sub_attribute(&self, path: AttributePath, word: &str, offset: usize) -> Result<AttributePath, ScimError> {
        let name = &word[1..];
        match path.attribute.sub_attribute(name) {
            Some(sub) => Ok(path.with_sub_attribute(sub)),
            None => Err(self.error_at(offset, format!("unknown sub-attribute '{}' of '{path}'", echo(name)))),
        }
    }

    fn parse_comparison(&mut self, mut path: AttributePath, offset: usize) -> Result<Filter, ScimError> {
        let op_word = match self.next() {
            Some(Token { kind: TokenKind::Word(word), .. }) => word,
            Some(token) => {
                return Err(self.error_at(token.start, format!("expected an operator after '{path}', found {}", describe(&token.kind))));
            }
            None => return Err(self.error_at(self.end_offset(), format!("expected an operator after '{path}'"))),
        };
        if op_word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present { path });
        }
        let Some(op) = CompareOp::parse(&op_word) else {
            return Err(self.error_at(
                offset,
                format!("unknown operator '{}' after '{path}' (expected eq, ne, co, sw, ew, gt, lt, ge, le or pr)", echo(&op_word)),
            ));
        };
        if path.leaf().kind == AttributeType::Complex {
            // RFC 7644 §3.4.2.2: a complex multi-valued attribute compared directly means its `value` sub-attribute.
            match path.attribute.sub_attribute("value") {
                Some(value) if path.attribute.multi_valued && path.sub_attribute.is_none() => path = path.with_sub_attribute(value),
                _ => return Err(self.error_at(offset, format!("'{path}' is complex: compare one of its sub-attributes"))),
            }
        }
        let value_token = match self.next() {
            Some(token @ Token { kind: TokenKind::Word(_) | TokenKind::String(_), .. }) => token,
            Some(token) => return Err(self.error_at(token.start, format!("expected a value after '{path} {}'", op.as_str()))),
            None => return Err(self.error_at(self.end_offset(), format!("expected a value after '{path} {}'", op.as_str()))),
        };
        let value = self.literal(path, op, &value_token)?;
        Ok(Filter::Compare { path, op, value })
    }

    /// Checks `op` against the attribute's type and turns the value token into a [`CompareValue`] of that type.
    fn literal(&self, path: AttributePath, op: CompareOp, token: &Token) -> Result<CompareValue, ScimError> {
        let kind = path.leaf().kind;
        let (text, quoted) = match &token.kind {
            TokenKind::String(text) => (text.as_str(), true),
            TokenKind::Word(word) => (word.as_str(), false),
            _ => unreachable!("parse_comparison passes words and strings only"),
        };
        let type_name = kind.as_str();
        if !quoted && text == "null" {
            return match op {
                CompareOp::Eq | CompareOp::Ne => Ok(CompareValue::Null),
                _ => Err(self.error_at(token.start, format!("null can only be compared with eq or ne, not {}", op.as_str()))),
            };
        }
        if op.is_ordering() && matches!(kind, AttributeType::Boolean | AttributeType::Binary) {
            return Err(self.error_at(token.start, format!("'{path}' is {type_name}, which cannot be ordered with {}", op.as_str())));
        }
        if op.is_substring() && !kind.is_textual() {
            return Err(self.error_at(token.start, format!("'{path}' is {type_name}; {} only applies to strings", op.as_str())));
        }
        let mismatch =
            |expected: &str| self.error_at(token.start, format!("'{path}' is {type_name}: expected {expected}, found '{}'", echo(text)));
        match kind {
            AttributeType::Boolean => match text {
                _ if text.eq_ignore_ascii_case("true") => Ok(CompareValue::Boolean(true)),
                _ if text.eq_ignore_ascii_case("false") => Ok(CompareValue::Boolean(false)),
                _ => Err(mismatch("true or false")),
            },
            AttributeType::Integer | AttributeType::Decimal => {
                let number = parse_json_number(text).ok_or_else(|| mismatch("a number"))?;
                if kind == AttributeType::Integer && number.fract() != 0.0 {
                    return Err(mismatch("an integer"));
                }
                Ok(CompareValue::Number(number))
            }
            AttributeType::DateTime => match crate::datetime::parse_instant(text) {
                Some(_) => Ok(CompareValue::String(text.to_owned())),
                None => Err(mismatch("an RFC 3339 date-time such as \"2011-05-13T04:42:34Z\"")),
            },
            // A bare word is text here: Entra's `externalId eq jyoung`, or `employeeNumber eq 701984`.
            AttributeType::String | AttributeType::Reference | AttributeType::Binary => Ok(CompareValue::String(text.to_owned())),
            AttributeType::Complex => Err(mismatch("a sub-attribute")),
        }
    }

    /// PATCH `PATH = attrPath / valuePath [subAttr]` (RFC 7644 §3.5.2): the attribute (with the sub-attribute if
    /// any) and the value filter. Errors are `invalidFilter`; [`crate::path`] re-types them.
    pub(crate) fn parse_patch_path(mut self) -> Result<(AttributePath, Option<Filter>), ScimError> {
        let (word, offset) = match self.next() {
            Some(Token { kind: TokenKind::Word(word), start, .. }) => (word, start),
            Some(token) => return Err(self.error_at(token.start, "expected an attribute name")),
            None => return Err(ScimError::invalid_filter("the path is empty")),
        };
        let mut path = self.resolve(&word, offset, Scope::Resource, false)?;
        let mut filter = None;
        if let Some(Token { kind: TokenKind::OpenBracket, start: bracket, .. }) = self.peek().cloned() {
            self.position += 1;
            filter = Some(self.parse_bracketed_filter(path, offset, bracket, Scope::Resource)?);
            if let Some(Token { kind: TokenKind::Word(sub_word), start, after_space: false }) = self.peek().cloned()
                && sub_word.starts_with('.')
            {
                self.position += 1;
                path = self.bracket_sub_attribute(path, &sub_word, start)?;
            }
        }
        match self.peek() {
            None => Ok((path, filter)),
            Some(token) => Err(self.error_at(token.start, format!("unexpected {} after the path", describe(&token.kind)))),
        }
    }
}

/// A JSON number (RFC 8259 §6): `-? int frac? exp?`.
fn parse_json_number(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let mut position = usize::from(bytes.first() == Some(&b'-'));
    let integer_start = position;
    while bytes.get(position).is_some_and(u8::is_ascii_digit) {
        position += 1;
    }
    let integer_digits = position - integer_start;
    if integer_digits == 0 || (integer_digits > 1 && bytes[integer_start] == b'0') {
        return None;
    }
    if bytes.get(position) == Some(&b'.') {
        position += 1;
        let start = position;
        while bytes.get(position).is_some_and(u8::is_ascii_digit) {
            position += 1;
        }
        if position == start {
            return None;
        }
    }
    if matches!(bytes.get(position), Some(b'e' | b'E')) {
        position += 1;
        if matches!(bytes.get(position), Some(b'+' | b'-')) {
            position += 1;
        }
        let start = position;
        while bytes.get(position).is_some_and(u8::is_ascii_digit) {
            position += 1;
        }
        if position == start {
            return None;
        }
    }
    if position != bytes.len() {
        return None;
    }
    text.parse::<f64>().ok().filter(|number| number.is_finite())
}
