//! `$search` on directory resources (entra-apis.md §1.6, "`$search` grammar"): `"property:text"` clauses, each whole
//! clause in double quotes with `\"` and `\\` escapes, combined with upper-case `AND` / `OR` outside the quotes and
//! grouped with parentheses. `AND` binds tighter than `OR`.

use crate::error::{ODataError, echo};
use crate::schema::{Resource, SearchKind};
use crate::{MAX_DEPTH, MAX_SEARCH_CLAUSES};

/// A validated `$search`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub clauses: SearchExpr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchExpr {
    /// How `text` matches depends on the property's [`SearchKind`] (see [`Resource::property`]).
    Term {
        property: &'static str,
        text: String,
    },
    And(Box<SearchExpr>, Box<SearchExpr>),
    Or(Box<SearchExpr>, Box<SearchExpr>),
}

#[derive(Debug)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Clause(String),
    End,
}

pub(crate) fn parse(resource: &Resource, text: &str) -> Result<Search, ODataError> {
    let mut parser = Parser { resource, text, tokens: tokenize(text)?, next: 0, depth: 0, clauses: 0 };
    let clauses = parser.parse_or()?;
    if !matches!(parser.tokens[parser.next].0, Token::End) {
        return Err(parser.error_here("expected AND, OR or the end of the search"));
    }
    Ok(Search { clauses })
}

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, ODataError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => continue,
            '(' => tokens.push((Token::Open, start)),
            ')' => tokens.push((Token::Close, start)),
            '"' => {
                let mut clause = String::new();
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, escaped @ ('"' | '\\'))) => clause.push(escaped),
                            Some((at, _)) => {
                                return Err(ODataError::syntax(text, at - 1, "invalid escape (only \\\" and \\\\ are allowed)"));
                            }
                            None => return Err(ODataError::syntax(text, start, "unterminated clause")),
                        },
                        Some((_, c)) => clause.push(c),
                        None => return Err(ODataError::syntax(text, start, "unterminated clause")),
                    }
                }
                tokens.push((Token::Clause(clause), start));
            }
            _ => {
                let mut end = start + c.len_utf8();
                while let Some(&(at, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '"') {
                        break;
                    }
                    end = at + c.len_utf8();
                    chars.next();
                }
                // Operators are upper-case only: a lower-case `and` is Graph's way of saying the text was unquoted.
                let token = match &text[start..end] {
                    "AND" => Token::And,
                    "OR" => Token::Or,
                    _ => return Err(ODataError::syntax(text, start, "expected a quoted \"property:text\" clause, AND or OR")),
                };
                tokens.push((token, start));
            }
        }
    }
    tokens.push((Token::End, text.len()));
    Ok(tokens)
}

struct Parser<'r, 'a> {
    resource: &'r Resource,
    text: &'a str,
    tokens: Vec<(Token, usize)>,
    next: usize,
    depth: usize,
    clauses: usize,
}

impl Parser<'_, '_> {
    fn bump(&mut self) -> Token {
        let token = std::mem::replace(&mut self.tokens[self.next].0, Token::End);
        if self.next + 1 < self.tokens.len() {
            self.next += 1;
        }
        token
    }

    fn error_here(&self, what: &str) -> ODataError {
        ODataError::syntax(self.text, self.tokens[self.next].1, what)
    }

    fn parse_or(&mut self) -> Result<SearchExpr, ODataError> {
        let mut left = self.parse_and()?;
        while matches!(self.tokens[self.next].0, Token::Or) {
            self.bump();
            left = SearchExpr::Or(Box::new(left), Box::new(self.parse_and()?));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<SearchExpr, ODataError> {
        let mut left = self.parse_primary()?;
        while matches!(self.tokens[self.next].0, Token::And) {
            self.bump();
            left = SearchExpr::And(Box::new(left), Box::new(self.parse_primary()?));
        }
        Ok(left)
    }

    fn parse_primary(&mut self) -> Result<SearchExpr, ODataError> {
        let start = self.tokens[self.next].1;
        match self.bump() {
            Token::Open => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(ODataError::syntax(self.text, start, format!("parentheses nest deeper than {MAX_DEPTH} levels")));
                }
                let inner = self.parse_or()?;
                if !matches!(self.tokens[self.next].0, Token::Close) {
                    return Err(self.error_here("expected ')'"));
                }
                self.bump();
                self.depth -= 1;
                Ok(inner)
            }
            Token::Clause(clause) => self.term(&clause),
            _ => Err(ODataError::syntax(self.text, start, "expected a quoted \"property:text\" clause or '('")),
        }
    }

    fn term(&mut self, clause: &str) -> Result<SearchExpr, ODataError> {
        self.clauses += 1;
        if self.clauses > MAX_SEARCH_CLAUSES {
            return Err(ODataError::bad_request(format!("$search holds at most {MAX_SEARCH_CLAUSES} clauses.")));
        }
        let Some((name, text)) = clause.split_once(':') else {
            return Err(ODataError::bad_request(format!("Invalid $search clause \"{}\": expected \"property:text\".", echo(clause))));
        };
        let property =
            self.resource.property(name.trim()).ok_or_else(|| ODataError::bad_request(self.resource.unknown_property(name.trim())))?;
        if property.search == SearchKind::None {
            return Err(ODataError::unsupported(format!(
                "Property '{}' of resource '{}' does not support $search.",
                property.name, self.resource.entity
            )));
        }
        let text = text.trim();
        if text.is_empty() {
            return Err(ODataError::bad_request(format!("Invalid $search clause \"{}\": the search text is empty.", echo(clause))));
        }
        Ok(SearchExpr::Term { property: property.name, text: text.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{GROUP, USER};

    fn term(property: &'static str, text: &str) -> SearchExpr {
        SearchExpr::Term { property, text: text.to_owned() }
    }
    fn b(expr: SearchExpr) -> Box<SearchExpr> {
        Box::new(expr)
    }
    fn rejected(resource: &Resource, text: &str) -> ODataError {
        parse(resource, text).expect_err("the search should be rejected")
    }

    #[test]
    fn reference_examples() {
        let expected = SearchExpr::Or(b(term("displayName", "Guthr")), b(term("mail", "Guthr")));
        assert_eq!(parse(&USER, r#""displayName:Guthr" OR "mail:Guthr""#), Ok(Search { clauses: expected }));
        let video_or_drive = SearchExpr::Or(b(term("displayName", "Video")), b(term("displayName", "Drive")));
        let expected = SearchExpr::And(b(term("description", "One")), b(video_or_drive));
        assert_eq!(
            parse(&GROUP, r#""description:One" AND ("displayName:Video" OR "displayName:Drive")"#),
            Ok(Search { clauses: expected })
        );
    }

    #[test]
    fn and_binds_tighter_than_or_and_names_are_case_insensitive() {
        let expected = SearchExpr::Or(b(term("displayName", "a")), b(SearchExpr::And(b(term("mail", "b")), b(term("surname", "c")))));
        assert_eq!(parse(&USER, r#""DISPLAYNAME:a" OR "mail:b" AND "Surname: c ""#).map(|s| s.clauses), Ok(expected));
    }

    #[test]
    fn escapes_inside_clauses() {
        let parsed = parse(&USER, r#""displayName:say \"hi\" \\o/ (AND)""#).map(|s| s.clauses);
        assert_eq!(parsed, Ok(term("displayName", r#"say "hi" \o/ (AND)"#)));
    }

    #[test]
    fn syntax_errors() {
        let cases = [
            (r#""displayName:a" and "mail:b""#, "expected a quoted \"property:text\" clause, AND or OR at position 16"),
            ("displayName:a", "expected a quoted \"property:text\" clause, AND or OR at position 0"),
            (r#""displayName:a"#, "unterminated clause at position 0"),
            (r#""displayName:a\n""#, "invalid escape (only \\\" and \\\\ are allowed) at position 14"),
            (r#"("displayName:a""#, "expected ')' at position 16"),
            (r#""displayName:a")"#, "expected AND, OR or the end of the search at position 15"),
            (r#""displayName:a" OR"#, "expected a quoted \"property:text\" clause or '(' at position 18"),
            (r#""displayName:a" "mail:b""#, "expected AND, OR or the end of the search at position 16"),
            ("", "expected a quoted \"property:text\" clause or '(' at position 0"),
        ];
        for (text, expected) in cases {
            assert_eq!(rejected(&USER, text), ODataError::bad_request(format!("Syntax error: {expected} in '{text}'.")), "{text}");
        }
    }

    #[test]
    fn clause_errors() {
        let bad = |message: &str| ODataError::bad_request(message);
        assert_eq!(rejected(&USER, r#""Guthrie""#), bad("Invalid $search clause \"Guthrie\": expected \"property:text\"."));
        assert_eq!(rejected(&USER, r#""displayName:  ""#), bad("Invalid $search clause \"displayName:  \": the search text is empty."));
        assert_eq!(rejected(&USER, r#""shoeSize:9""#), bad("Could not find a property named 'shoeSize' on type 'microsoft.graph.user'."));
        let unsearchable = rejected(&USER, r#""jobTitle:Engineer""#);
        assert_eq!(unsearchable, ODataError::unsupported("Property 'jobTitle' of resource 'User' does not support $search."));
        assert_eq!(rejected(&GROUP, r#""surname:x""#).code, ODataError::BAD_REQUEST, "surname is a user property");
    }

    #[test]
    fn limits() {
        let clauses = |n: usize| vec![r#""displayName:a""#; n].join(" OR ");
        assert!(parse(&USER, &clauses(MAX_SEARCH_CLAUSES)).is_ok());
        assert_eq!(rejected(&USER, &clauses(MAX_SEARCH_CLAUSES + 1)), ODataError::bad_request("$search holds at most 50 clauses."));
        let nested = |n: usize| format!("{}\"displayName:a\"{}", "(".repeat(n), ")".repeat(n));
        assert!(parse(&USER, &nested(MAX_DEPTH)).is_ok());
        assert!(rejected(&USER, &nested(MAX_DEPTH + 1)).message.contains("parentheses nest deeper than 32 levels at position 32"));
    }
}
