//! `$filter` on directory resources: a lexer and a recursive-descent parser for the subset of the OData 4.01 URL
//! conventions (§5.1.1) that Graph accepts on /users and /groups, with Graph's per-property operator tiers
//! (entra-apis.md §1.6).
//!
//! Grammar (keywords and function names case-insensitive, precedence `not` > `and` > `or`):
//! ```text
//! or      := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | primary
//! primary := "(" or ")" | ("startswith" | "endswith") "(" name "," literal ")"
//!          | name "/any(" var ":" or ")" | name cmp literal | name "in" "(" literal ("," literal)* ")"
//! ```

mod lexer;

pub(crate) use lexer::parse_datetime;
use lexer::{Token, is_guid, is_reserved, tokenize};

use crate::error::{ODataError, echo};
use crate::schema::{Kind, Ops, Property, Resource};
use crate::{MAX_DEPTH, MAX_IN_VALUES};

/// A validated filter. Every property name is the schema's `&'static str`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `value` is [`Value::Null`] only for `eq null` / `ne null`.
    Compare {
        property: &'static str,
        op: CmpOp,
        value: Value,
    },
    In {
        property: &'static str,
        values: Vec<Value>,
    },
    StartsWith {
        property: &'static str,
        prefix: String,
    },
    EndsWith {
        property: &'static str,
        suffix: String,
    },
    /// `otherMails/any(m:m eq 'x')`: inside `body` the element is referred to by the collection's own name.
    Any {
        collection: &'static str,
        body: Box<Expr>,
    },
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Ge,
    Le,
    Gt,
    Lt,
}

impl CmpOp {
    const ALL: [CmpOp; 6] = [CmpOp::Eq, CmpOp::Ne, CmpOp::Ge, CmpOp::Le, CmpOp::Gt, CmpOp::Lt];

    /// The OData keyword: `eq`, `ne`, `ge`, `le`, `gt`, `lt`.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Ge => "ge",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Lt => "lt",
        }
    }

    /// The operator kind the OData library names in its type errors.
    fn odata_kind(self) -> &'static str {
        match self {
            CmpOp::Eq => "Equal",
            CmpOp::Ne => "NotEqual",
            CmpOp::Ge => "GreaterThanOrEqual",
            CmpOp::Le => "LessThanOrEqual",
            CmpOp::Gt => "GreaterThan",
            CmpOp::Lt => "LessThan",
        }
    }
}

/// A literal, already checked against the property's [`Kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    String(String),
    /// Lower-case hyphenated, e.g. `"0b5ea3a8-…"`, from a bare or a quoted GUID.
    Guid(String),
    /// RFC 3339 in UTC (`Z`), from a bare DateTimeOffset literal with any offset.
    DateTime(String),
}

impl Value {
    fn edm_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => Kind::Bool.edm_name(),
            Value::Int(_) => Kind::Int.edm_name(),
            Value::String(_) => Kind::String.edm_name(),
            Value::Guid(_) => Kind::Guid.edm_name(),
            Value::DateTime(_) => Kind::DateTime.edm_name(),
        }
    }
}

/// Parses `text` against `resource`. Syntax and type errors win over tier errors, which are only reported once the
/// whole expression has parsed, so a client fixing its headers is not sent back with a typo it has not seen yet.
pub(crate) fn parse(resource: &Resource, text: &str, advanced: bool) -> Result<Expr, ODataError> {
    let mut parser =
        Parser { resource, text, tokens: tokenize(text)?, next: 0, depth: 0, negations: 0, lambda: None, advanced, tier_error: None };
    let expr = parser.parse_or()?;
    if !matches!(parser.peek(), Token::End) {
        return Err(parser.error_here("expected 'and', 'or' or the end of the filter"));
    }
    parser.tier_error.map_or(Ok(expr), Err)
}

struct Parser<'r, 'a> {
    resource: &'r Resource,
    text: &'a str,
    tokens: Vec<(Token<'a>, usize)>,
    next: usize,
    /// Current nesting of parentheses, `not` and lambdas; bounded by [`MAX_DEPTH`] so input cannot exhaust the stack.
    depth: usize,
    /// How many `not`s enclose the current position: every operator under one also needs [`Ops::NOT`].
    negations: usize,
    /// Inside `x/any(v: …)`: the range variable and the collection it ranges over.
    lambda: Option<(&'a str, &'static Property)>,
    advanced: bool,
    tier_error: Option<ODataError>,
}

impl<'a> Parser<'_, 'a> {
    fn peek(&self) -> &Token<'a> {
        &self.tokens[self.next].0
    }

    fn position(&self) -> usize {
        self.tokens[self.next].1
    }

    /// Takes the next token; at the end it keeps returning `End`.
    fn bump(&mut self) -> Token<'a> {
        let token = std::mem::replace(&mut self.tokens[self.next].0, Token::End);
        if self.next + 1 < self.tokens.len() {
            self.next += 1;
        }
        token
    }

    fn eat_word(&mut self, keyword: &str) -> bool {
        let found = matches!(self.peek(), Token::Word(w) if w.eq_ignore_ascii_case(keyword));
        if found {
            self.bump();
        }
        found
    }

    fn expect(&mut self, wanted: Token<'static>, what: &str) -> Result<(), ODataError> {
        if std::mem::discriminant(self.peek()) != std::mem::discriminant(&wanted) {
            return Err(self.error_here(what));
        }
        self.bump();
        Ok(())
    }

    fn error_here(&self, what: &str) -> ODataError {
        ODataError::syntax(self.text, self.position(), what)
    }

    fn enter(&mut self) -> Result<(), ODataError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here(&format!("expressions nest deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn parse_or(&mut self) -> Result<Expr, ODataError> {
        let mut left = self.parse_and()?;
        while self.eat_word("or") {
            left = Expr::Or(Box::new(left), Box::new(self.parse_and()?));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<Expr, ODataError> {
        let mut left = self.parse_unary()?;
        while self.eat_word("and") {
            left = Expr::And(Box::new(left), Box::new(self.parse_unary()?));
        }
        Ok(left)
    }

    fn parse_unary(&mut self) -> Result<Expr, ODataError> {
        if !self.eat_word("not") {
            return self.parse_primary();
        }
        self.enter()?;
        self.negations += 1;
        let operand = self.parse_unary()?;
        self.negations -= 1;
        self.depth -= 1;
        Ok(Expr::Not(Box::new(operand)))
    }

    fn parse_primary(&mut self) -> Result<Expr, ODataError> {
        let start = self.position();
        match self.bump() {
            Token::Open => {
                self.enter()?;
                let inner = self.parse_or()?;
                self.expect(Token::Close, "expected ')'")?;
                self.depth -= 1;
                Ok(inner)
            }
            Token::Word(word) if !is_reserved(word) => self.parse_word(word),
            Token::Str(_) | Token::Int(_) | Token::Guid(_) | Token::DateTime(_) => {
                Err(ODataError::syntax(self.text, start, "expected a property name (the property must be on the left of the operator)"))
            }
            _ => Err(ODataError::syntax(self.text, start, "expected a property name, a function call or '('")),
        }
    }

    fn parse_word(&mut self, word: &'a str) -> Result<Expr, ODataError> {
        match self.peek() {
            Token::Open if word.eq_ignore_ascii_case("startswith") || word.eq_ignore_ascii_case("endswith") => {
                return self.parse_string_function(word.eq_ignore_ascii_case("startswith"));
            }
            Token::Open => return Err(ODataError::unsupported(format!("Unsupported function '{}' in the filter clause.", echo(word)))),
            Token::Slash => return self.parse_any(word),
            _ => {}
        }
        let property = self.operand(word)?;
        let op_position = self.position();
        let op_word = match self.bump() {
            Token::Word(w) => w,
            _ => "",
        };
        if op_word.eq_ignore_ascii_case("in") {
            return self.parse_in(property);
        }
        let Some(op) = CmpOp::ALL.into_iter().find(|op| op.as_str().eq_ignore_ascii_case(op_word)) else {
            return Err(ODataError::syntax(self.text, op_position, "expected a comparison operator (eq, ne, gt, ge, lt, le or in)"));
        };
        let value = self.literal()?;
        let value = typed(property, value, op.odata_kind())?;
        match (op, &value) {
            (CmpOp::Eq, Value::Null) => self.require(property, Ops::NULL, "eq"),
            (CmpOp::Ne, Value::Null) => {
                self.require(property, Ops::NE, "ne");
                self.require(property, Ops::NULL, "ne");
            }
            (_, Value::Null) => return Err(ODataError::bad_request("Invalid filter clause: null can only be compared with 'eq' or 'ne'.")),
            (CmpOp::Eq, _) => self.require(property, Ops::EQ, "eq"),
            (CmpOp::Ne, _) => self.require(property, Ops::NE, "ne"),
            (range, _) => self.require(property, Ops::GE_LE, range.as_str()),
        }
        Ok(Expr::Compare { property: property.name, op, value })
    }

    /// A property on the left of an operator: the range variable inside a lambda, a single-valued property outside.
    fn operand(&self, word: &str) -> Result<&'static Property, ODataError> {
        if let Some((variable, collection)) = self.lambda {
            return if word == variable {
                Ok(collection)
            } else {
                Err(ODataError::bad_request(format!(
                    "Invalid filter clause: only the range variable '{variable}' can be used inside the lambda, found '{}'.",
                    echo(word)
                )))
            };
        }
        let property = self.resource.property(word).ok_or_else(|| ODataError::bad_request(self.resource.unknown_property(word)))?;
        if property.collection {
            // A collection is only filterable through `any`; Graph answers a bare comparison with this message.
            return Err(unsupported_clause(self.resource, property));
        }
        Ok(property)
    }

    fn literal(&mut self) -> Result<Value, ODataError> {
        let start = self.position();
        Ok(match self.bump() {
            Token::Str(s) => Value::String(s),
            Token::Int(n) => Value::Int(n),
            Token::Guid(g) => Value::Guid(g.to_ascii_lowercase()),
            Token::DateTime(d) => Value::DateTime(d),
            Token::Word(w) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
            Token::Word(w) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
            Token::Word(w) if w.eq_ignore_ascii_case("null") => Value::Null,
            _ => return Err(ODataError::syntax(self.text, start, "expected a literal value")),
        })
    }

    /// `startswith(name,'text')` / `endswith(name,'text')`.
    fn parse_string_function(&mut self, starts: bool) -> Result<Expr, ODataError> {
        let (name, op, label) =
            if starts { ("startswith", Ops::STARTS_WITH, "startsWith") } else { ("endswith", Ops::ENDS_WITH, "endsWith") };
        self.bump();
        let argument = self.position();
        let property = match self.bump() {
            Token::Word(word) if !is_reserved(word) => self.operand(word)?,
            _ => return Err(ODataError::syntax(self.text, argument, "expected a property name")),
        };
        self.expect(Token::Comma, "expected ','")?;
        let value = self.literal()?;
        self.expect(Token::Close, "expected ')'")?;
        let (Kind::String, Value::String(text)) = (property.kind, value) else {
            return Err(ODataError::bad_request(format!(
                "No function signature for the function with name '{name}' matches the specified arguments."
            )));
        };
        self.require(property, op, label);
        Ok(if starts {
            Expr::StartsWith { property: property.name, prefix: text }
        } else {
            Expr::EndsWith { property: property.name, suffix: text }
        })
    }

    /// `collection/any(v: body)`.
    fn parse_any(&mut self, word: &str) -> Result<Expr, ODataError> {
        if self.lambda.is_some() {
            return Err(ODataError::bad_request("Invalid filter clause: lambda expressions cannot be nested."));
        }
        let property = self.resource.property(word).ok_or_else(|| ODataError::bad_request(self.resource.unknown_property(word)))?;
        self.bump();
        if !self.eat_word("any") {
            return Err(self.error_here("expected 'any'"));
        }
        if !property.collection {
            return Err(ODataError::bad_request(format!(
                "Invalid filter clause: 'any' needs a collection property and '{}' is single-valued.",
                property.name
            )));
        }
        self.expect(Token::Open, "expected '('")?;
        let variable = match self.peek() {
            Token::Word(w) if !is_reserved(w) => *w,
            _ => return Err(self.error_here("expected a range variable ('any()' without a lambda is not supported)")),
        };
        self.bump();
        self.expect(Token::Colon, "expected ':'")?;
        self.enter()?;
        self.require(property, Ops::ANY, "any");
        self.lambda = Some((variable, property));
        let body = self.parse_or()?;
        self.lambda = None;
        self.depth -= 1;
        self.expect(Token::Close, "expected ')'")?;
        Ok(Expr::Any { collection: property.name, body: Box::new(body) })
    }

    /// `name in ('a', 'b')`.
    fn parse_in(&mut self, property: &'static Property) -> Result<Expr, ODataError> {
        self.expect(Token::Open, "expected '('")?;
        let mut values = Vec::new();
        loop {
            let value = self.literal()?;
            if value == Value::Null {
                return Err(ODataError::bad_request("Invalid filter clause: null is not allowed in an 'in' list."));
            }
            values.push(typed(property, value, "In")?);
            if values.len() > MAX_IN_VALUES {
                return Err(ODataError::bad_request(format!("Invalid filter clause: an 'in' list holds at most {MAX_IN_VALUES} values.")));
            }
            if matches!(self.peek(), Token::Comma) {
                self.bump();
                continue;
            }
            self.expect(Token::Close, "expected ',' or ')'")?;
            break;
        }
        self.require(property, Ops::IN, "in");
        Ok(Expr::In { property: property.name, values })
    }

    /// Records the first tier violation; it is reported only if the whole filter parses.
    fn require(&mut self, property: &'static Property, op: Ops, label: &str) {
        if self.tier_error.is_some() {
            return;
        }
        let negated = self.negations > 0;
        let result = allowed(self.resource, property, op, label, self.advanced)
            .and_then(|()| if negated { allowed(self.resource, property, Ops::NOT, "not", self.advanced) } else { Ok(()) });
        self.tier_error = result.err();
    }
}

/// Checks a literal against the property's kind; a quoted GUID becomes [`Value::Guid`] for GUID properties.
fn typed(property: &Property, value: Value, operator_kind: &str) -> Result<Value, ODataError> {
    match (property.kind, value) {
        (_, Value::Null) => Ok(Value::Null),
        (Kind::String, v @ Value::String(_))
        | (Kind::Bool, v @ Value::Bool(_))
        | (Kind::Int, v @ Value::Int(_))
        | (Kind::Guid, v @ Value::Guid(_))
        | (Kind::DateTime, v @ Value::DateTime(_)) => Ok(v),
        (Kind::Guid, Value::String(s)) if s.len() == 36 && is_guid(s.as_bytes()) => Ok(Value::Guid(s.to_ascii_lowercase())),
        (Kind::Guid, Value::String(s)) => Err(ODataError::bad_request(format!("Invalid object identifier '{}'.", echo(&s)))),
        (kind, v) => Err(ODataError::bad_request(format!(
            "A binary operator with incompatible types was detected. Found operand types '{}' and '{}' for operator kind '{operator_kind}'.",
            kind.edm_name(),
            v.edm_name()
        ))),
    }
}

fn allowed(resource: &Resource, property: &Property, op: Ops, label: &str, advanced: bool) -> Result<(), ODataError> {
    if property.filter.contains(op) || (advanced && property.advanced_filter.contains(op)) {
        return Ok(());
    }
    // A property with no default operators at all is "not indexed" to Graph, which then names the property rather
    // than the operator (entra-apis.md §1.6, the createdDateTime example).
    if property.advanced_filter.contains(op) && !property.filter.is_empty() {
        return Err(ODataError::unsupported(format!(
            "Operator '{label}' is not supported because the required parameters might be missing. Try adding $count=true query \
             parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
        )));
    }
    Err(unsupported_clause(resource, property))
}

fn unsupported_clause(resource: &Resource, property: &Property) -> ODataError {
    ODataError::unsupported(format!(
        "Unsupported or invalid query filter clause specified for property '{}' of resource '{}'.",
        property.name, resource.entity
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{GROUP, USER};
    use CmpOp::{Eq, Ge, Gt, Le, Lt, Ne};

    const BAD: &str = ODataError::BAD_REQUEST;
    const UNSUPPORTED: &str = ODataError::UNSUPPORTED_QUERY;
    const HINT: &str = "is not supported because the required parameters might be missing. Try adding $count=true query parameter \
                        and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information";

    fn default(text: &str) -> Result<Expr, ODataError> {
        parse(&USER, text, false)
    }
    fn advanced(text: &str) -> Result<Expr, ODataError> {
        parse(&USER, text, true)
    }
    fn rejected(result: Result<Expr, ODataError>) -> ODataError {
        result.expect_err("the filter should be rejected")
    }
    fn cmp(property: &'static str, op: CmpOp, value: Value) -> Expr {
        Expr::Compare { property, op, value }
    }
    fn s(text: &str) -> Value {
        Value::String(text.to_owned())
    }
    fn b(expr: Expr) -> Box<Expr> {
        Box::new(expr)
    }

    #[test]
    fn comparison_operators() {
        for (word, op) in [("eq", Eq), ("ge", Ge), ("le", Le), ("gt", Gt), ("lt", Lt)] {
            assert_eq!(default(&format!("displayName {word} 'A'")), Ok(cmp("displayName", op, s("A"))), "{word}");
        }
        assert_eq!(advanced("displayName ne 'A'"), Ok(cmp("displayName", Ne, s("A"))));
        assert_eq!(default("accountEnabled eq false"), Ok(cmp("accountEnabled", Eq, Value::Bool(false))));
        assert_eq!(default("displayName eq null"), Ok(cmp("displayName", Eq, Value::Null)));
        assert_eq!(advanced("displayName ne null"), Ok(cmp("displayName", Ne, Value::Null)));
        // Keywords and literals are accepted in any case, like Graph's `NOT(...)`.
        assert_eq!(default("displayName EQ 'A'"), Ok(cmp("displayName", Eq, s("A"))));
        assert_eq!(default("accountEnabled eq TRUE"), Ok(cmp("accountEnabled", Eq, Value::Bool(true))));
    }

    #[test]
    fn in_lists_and_string_functions() {
        assert_eq!(
            default("userType in ('Member', 'Guest')"),
            Ok(Expr::In { property: "userType", values: vec![s("Member"), s("Guest")] })
        );
        for name in ["startswith", "startsWith", "STARTSWITH"] {
            let expected = Expr::StartsWith { property: "displayName", prefix: "Ad".into() };
            assert_eq!(default(&format!("{name}(displayName, 'Ad')")), Ok(expected), "{name}");
        }
        assert_eq!(advanced("endsWith(mail,'@contoso.com')"), Ok(Expr::EndsWith { property: "mail", suffix: "@contoso.com".into() }));
    }

    #[test]
    fn lambdas_refer_to_the_element_by_the_collection_name() {
        let expected = Expr::Any { collection: "otherMails", body: b(cmp("otherMails", Eq, s("a@x.com"))) };
        assert_eq!(default("otherMails/any(m:m eq 'a@x.com')"), Ok(expected));
        let expected =
            Expr::Any { collection: "proxyAddresses", body: b(Expr::StartsWith { property: "proxyAddresses", prefix: "smtp:".into() }) };
        assert_eq!(default("proxyAddresses/any(p:startswith(p,'smtp:'))"), Ok(expected));
        let expected = Expr::Any { collection: "groupTypes", body: b(cmp("groupTypes", Eq, s("Unified"))) };
        assert_eq!(parse(&GROUP, "GroupTypes/ANY(c: c eq 'Unified')", false), Ok(expected));

        let outside = rejected(default("otherMails/any(m:displayName eq 'x')"));
        assert_eq!(outside.code, BAD);
        assert!(outside.message.contains("only the range variable 'm'"), "{}", outside.message);
        assert_eq!(rejected(default("otherMails/any(m:m/any(n:n eq 'x'))")).code, BAD);
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let a = || cmp("displayName", Eq, s("a"));
        let g = || cmp("givenName", Eq, s("b"));
        let n = || cmp("surname", Eq, s("c"));
        let expected = Expr::Or(b(a()), b(Expr::And(b(g()), b(Expr::Not(b(n()))))));
        assert_eq!(advanced("displayName eq 'a' or givenName eq 'b' and not surname eq 'c'"), Ok(expected));
        let expected = Expr::And(b(Expr::Or(b(a()), b(g()))), b(n()));
        assert_eq!(advanced("(displayName eq 'a' or givenName eq 'b') and surname eq 'c'"), Ok(expected));
        let expected = Expr::And(b(Expr::And(b(a()), b(g()))), b(n()));
        assert_eq!(default("displayName eq 'a' and givenName eq 'b' and surname eq 'c'"), Ok(expected));
        assert_eq!(advanced("NOT(displayName eq 'a')"), Ok(Expr::Not(b(a()))));
    }

    #[test]
    fn literals() {
        assert_eq!(default("displayName eq 'it''s'"), Ok(cmp("displayName", Eq, s("it's"))));
        assert_eq!(default("displayName eq ''''"), Ok(cmp("displayName", Eq, s("'"))));
        assert_eq!(default("displayName eq ''"), Ok(cmp("displayName", Eq, s(""))));
        assert_eq!(default("displayName eq 'Zoë (and) or'"), Ok(cmp("displayName", Eq, s("Zoë (and) or"))));
        let guid = Value::Guid("0b5ea3a8-4f2c-4d1e-9a7b-3c2d1e0f9a8b".into());
        assert_eq!(default("id eq 0B5EA3A8-4F2C-4D1E-9A7B-3C2D1E0F9A8B"), Ok(cmp("id", Eq, guid.clone())));
        assert_eq!(default("id eq '0b5ea3a8-4f2c-4d1e-9a7b-3c2d1e0f9a8b'"), Ok(cmp("id", Eq, guid.clone())));
        assert_eq!(default("id in ('0B5EA3A8-4F2C-4D1E-9A7B-3C2D1E0F9A8B')"), Ok(Expr::In { property: "id", values: vec![guid] }));
        let midnight = Value::DateTime("2024-01-01T00:00:00Z".into());
        assert_eq!(advanced("createdDateTime ge 2024-01-01T02:00:00+02:00"), Ok(cmp("createdDateTime", Ge, midnight)));
        let leap = rejected(advanced("createdDateTime ge 2023-02-29T00:00:00Z"));
        assert_eq!(
            leap.message,
            "Syntax error: invalid DateTimeOffset literal '2023-02-29T00:00:00Z' at position 19 in 'createdDateTime ge 2023-02-29T00:00:00Z'."
        );
        // An offset that pushes the instant past year 9999 is refused, not a panic.
        assert_eq!(rejected(advanced("createdDateTime ge 9999-12-31T23:00:00-02:00")).code, BAD);
    }

    #[test]
    fn property_names_are_case_insensitive_and_come_back_in_schema_spelling() {
        assert_eq!(default("DISPLAYNAME eq 'a'"), Ok(cmp("displayName", Eq, s("a"))));
        assert_eq!(
            default("startswith(userprincipalname,'a')"),
            Ok(Expr::StartsWith { property: "userPrincipalName", prefix: "a".into() })
        );
    }

    #[test]
    fn syntax_errors_say_what_was_expected_and_where() {
        let cases = [
            ("startswith(displayName,'a'", "expected ')' at position 26"),
            ("displayName eq 'abc", "unterminated string literal at position 15"),
            ("'a' eq displayName", "expected a property name (the property must be on the left of the operator) at position 0"),
            ("displayName 'a'", "expected a comparison operator (eq, ne, gt, ge, lt, le or in) at position 12"),
            ("displayName eq 'a' and", "expected a property name, a function call or '(' at position 22"),
            ("displayName eq 'a')", "expected 'and', 'or' or the end of the filter at position 18"),
            ("displayName eq 'é' or @", "unexpected character '@' at position 22"),
            ("", "expected a property name, a function call or '(' at position 0"),
            ("displayName eq", "expected a literal value at position 14"),
            ("userType in ()", "expected a literal value at position 13"),
            ("userType in ('a' 'b')", "expected ',' or ')' at position 17"),
            ("otherMails/any()", "expected a range variable ('any()' without a lambda is not supported) at position 15"),
            ("otherMails/all(m:m eq 'a')", "expected 'any' at position 11"),
            ("displayName eq 99999999999999999999", "integer literal out of range at position 15"),
            ("displayName eq 12ab", "invalid number literal at position 15"),
        ];
        for (text, expected) in cases {
            let error = rejected(default(text));
            assert_eq!(error.code, BAD, "{text}");
            assert_eq!(error.message, format!("Syntax error: {expected} in '{text}'."), "{text}");
        }
    }

    #[test]
    fn type_and_name_errors() {
        let cases = [
            (
                "accountEnabled eq 'true'",
                "A binary operator with incompatible types was detected. Found operand types 'Edm.Boolean' and 'Edm.String' for operator kind 'Equal'.",
            ),
            (
                "displayName le 1",
                "A binary operator with incompatible types was detected. Found operand types 'Edm.String' and 'Edm.Int64' for operator kind 'LessThanOrEqual'.",
            ),
            ("id eq 'nope'", "Invalid object identifier 'nope'."),
            (
                "startswith(accountEnabled,'t')",
                "No function signature for the function with name 'startswith' matches the specified arguments.",
            ),
            ("startswith(displayName,1)", "No function signature for the function with name 'startswith' matches the specified arguments."),
            ("displayName ge null", "Invalid filter clause: null can only be compared with 'eq' or 'ne'."),
            ("userType in ('a', null)", "Invalid filter clause: null is not allowed in an 'in' list."),
            ("shoeSize eq 42", "Could not find a property named 'shoeSize' on type 'microsoft.graph.user'."),
            ("displayName/any(x:x eq 'a')", "Invalid filter clause: 'any' needs a collection property and 'displayName' is single-valued."),
        ];
        for (text, message) in cases {
            assert_eq!(rejected(default(text)), ODataError::bad_request(message), "{text}");
        }
        let contains = rejected(default("contains(displayName,'a')"));
        assert_eq!((contains.code, contains.message.as_str()), (UNSUPPORTED, "Unsupported function 'contains' in the filter clause."));
    }

    #[test]
    fn advanced_only_operators_name_the_operator_outside_advanced_mode() {
        let cases = [
            (&USER, "endsWith(mail,'@x.com')", "endsWith"),
            (&USER, "displayName ne 'a'", "ne"),
            (&USER, "displayName ne null", "ne"),
            (&USER, "not(displayName eq 'a')", "not"),
            (&USER, "not startswith(displayName,'a')", "not"),
            (&USER, "displayName eq 'a' and not (accountEnabled eq true)", "not"),
            (&USER, "otherMails/any(m:endswith(m,'@x.com'))", "endsWith"),
            (&GROUP, "not groupTypes/any(c:c eq 'Unified')", "not"),
        ];
        for (resource, text, op) in cases {
            let error = rejected(parse(resource, text, false));
            assert_eq!(error, ODataError::unsupported(format!("Operator '{op}' {HINT}")), "{text}");
            assert!(parse(resource, text, true).is_ok(), "{text} in advanced mode");
        }
    }

    #[test]
    fn operators_a_property_lacks_name_the_property() {
        let cases = [
            (&USER, "createdDateTime ge 2024-01-01T00:00:00Z", false, "createdDateTime"),
            (&GROUP, "createdDateTime ge 2024-01-01T00:00:00Z", false, "createdDateTime"),
            (&USER, "userPrincipalName eq null", true, "userPrincipalName"),
            (&USER, "endsWith(displayName,'x')", true, "displayName"),
            (&USER, "accountEnabled ge true", true, "accountEnabled"),
            (&USER, "otherMails eq 'a@x.com'", true, "otherMails"),
            (&USER, "otherMails/any(m:m ne 'x')", true, "otherMails"),
            (&GROUP, "groupTypes/any(c:startswith(c,'U'))", true, "groupTypes"),
            (&GROUP, "description in ('a')", true, "description"),
        ];
        for (resource, text, advanced, property) in cases {
            let message = format!(
                "Unsupported or invalid query filter clause specified for property '{property}' of resource '{}'.",
                resource.entity
            );
            assert_eq!(rejected(parse(resource, text, advanced)), ODataError::unsupported(message), "{text}");
        }
        assert!(parse(&GROUP, "createdDateTime ge 2024-01-01T00:00:00Z", true).is_ok());
    }

    #[test]
    fn syntax_errors_win_over_tier_errors() {
        assert_eq!(rejected(default("endsWith(mail,'x') and (")).code, BAD);
        assert_eq!(rejected(default("endsWith(mail,'x') and shoeSize eq 1")).code, BAD);
    }

    #[test]
    fn nesting_and_list_limits() {
        let nested = |n: usize| format!("{}displayName eq 'a'{}", "(".repeat(n), ")".repeat(n));
        assert!(default(&nested(MAX_DEPTH)).is_ok());
        let too_deep = rejected(default(&nested(MAX_DEPTH + 1)));
        assert_eq!(too_deep.code, BAD);
        assert!(
            too_deep.message.starts_with("Syntax error: expressions nest deeper than 32 levels at position 33 in"),
            "{}",
            too_deep.message
        );
        let negated = |n: usize| format!("{}displayName eq 'a'", "not ".repeat(n));
        assert!(advanced(&negated(MAX_DEPTH)).is_ok());
        assert_eq!(rejected(advanced(&negated(MAX_DEPTH + 1))).code, BAD);

        let list = |n: usize| format!("userType in ({})", vec!["'x'"; n].join(","));
        assert!(matches!(default(&list(MAX_IN_VALUES)), Ok(Expr::In { values, .. }) if values.len() == MAX_IN_VALUES));
        let too_long = rejected(default(&list(MAX_IN_VALUES + 1)));
        assert_eq!(too_long, ODataError::bad_request("Invalid filter clause: an 'in' list holds at most 100 values."));
    }
}
