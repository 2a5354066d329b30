//! Conditional Access "filter for devices" rules (`conditions.devices.deviceFilter.rule`): a parser,
//! an evaluator over a device's properties, and a canonical rendering.
//!
//! A rule is made of conditions `device.<attribute> -<operator> <value>` joined by `-and` and `-or`,
//! with `-not` and parentheses. `-not` binds tighter than `-and`, which binds tighter than `-or`.
//! Keywords, operators and attribute names are case-insensitive, and so are string comparisons.
//! Error positions are 0-based character (not byte) offsets into the rule.

use std::fmt;

/// The longest rule accepted, in characters. The canonical rendering must fit too.
pub const MAX_RULE_LEN: usize = 3072;
/// How deep parentheses and `-not` may nest; a `(` right after `-not` is part of the `-not`.
const MAX_DEPTH: usize = 32;
/// The most values an `-in` / `-notIn` list may hold.
const MAX_LIST_LEN: usize = 100;

/// What is known about the signing-in device. `None` fields, like an unregistered device, are null.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceAttributes {
    pub device_id: Option<String>,
    pub display_name: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub operating_system: Option<String>,
    pub operating_system_version: Option<String>,
    pub enrollment_profile_name: Option<String>,
    /// `extensionAttribute1` at index 0 through `extensionAttribute15` at index 14.
    pub extension_attributes: [Option<String>; 15],
    pub device_ownership: Option<String>,
    pub is_compliant: Option<bool>,
    pub is_managed: Option<bool>,
    pub mdm_app_id: Option<String>,
    pub physical_ids: Vec<String>,
    pub system_labels: Vec<String>,
    pub profile_type: Option<String>,
    pub trust_type: Option<String>,
}

/// A parsed device filter rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    root: Node,
}

/// Why a rule was refused, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {position})")]
pub struct RuleError {
    pub message: String,
    pub position: usize,
}

fn err(message: impl Into<String>, position: usize) -> RuleError {
    RuleError { message: message.into(), position }
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Cond(Condition),
    Not(Box<Node>),
    /// Two or more operands, none of them an `And`.
    And(Vec<Node>),
    /// Two or more operands, none of them an `Or`.
    Or(Vec<Node>),
}

#[derive(Clone, Debug, PartialEq)]
struct Condition {
    attribute: Attribute,
    operator: Operator,
    value: Value,
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Text(String),
    Bool(bool),
    List(Vec<String>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attribute {
    DeviceId,
    MdmAppId,
    DisplayName,
    Manufacturer,
    Model,
    OperatingSystem,
    OperatingSystemVersion,
    EnrollmentProfileName,
    /// 1 to 15.
    Extension(u8),
    DeviceOwnership,
    IsCompliant,
    TrustType,
    ProfileType,
    PhysicalIds,
    SystemLabels,
}

const NAMED_ATTRIBUTES: [(Attribute, &str); 14] = [
    (Attribute::DeviceId, "deviceId"),
    (Attribute::MdmAppId, "mdmAppId"),
    (Attribute::DisplayName, "displayName"),
    (Attribute::Manufacturer, "manufacturer"),
    (Attribute::Model, "model"),
    (Attribute::OperatingSystem, "operatingSystem"),
    (Attribute::OperatingSystemVersion, "operatingSystemVersion"),
    (Attribute::EnrollmentProfileName, "enrollmentProfileName"),
    (Attribute::DeviceOwnership, "deviceOwnership"),
    (Attribute::IsCompliant, "isCompliant"),
    (Attribute::TrustType, "trustType"),
    (Attribute::ProfileType, "profileType"),
    (Attribute::PhysicalIds, "physicalIds"),
    (Attribute::SystemLabels, "systemLabels"),
];

const EXTENSION_PREFIX: &str = "extensionAttribute";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    Eq,
    Ne,
    StartsWith,
    NotStartsWith,
    EndsWith,
    NotEndsWith,
    Contains,
    NotContains,
    In,
    NotIn,
}

const OPERATORS: [(Operator, &str); 10] = [
    (Operator::Eq, "eq"),
    (Operator::Ne, "ne"),
    (Operator::StartsWith, "startsWith"),
    (Operator::NotStartsWith, "notStartsWith"),
    (Operator::EndsWith, "endsWith"),
    (Operator::NotEndsWith, "notEndsWith"),
    (Operator::Contains, "contains"),
    (Operator::NotContains, "notContains"),
    (Operator::In, "in"),
    (Operator::NotIn, "notIn"),
];

const EQ_NE: &[Operator] = &[Operator::Eq, Operator::Ne];
const EQ_NE_IN: &[Operator] = &[Operator::Eq, Operator::Ne, Operator::In, Operator::NotIn];
const ALL_OPERATORS: &[Operator] = &[
    Operator::Eq,
    Operator::Ne,
    Operator::StartsWith,
    Operator::NotStartsWith,
    Operator::EndsWith,
    Operator::NotEndsWith,
    Operator::Contains,
    Operator::NotContains,
    Operator::In,
    Operator::NotIn,
];
const CONTAINS: &[Operator] = &[Operator::Contains, Operator::NotContains];

const OWNERSHIPS: &[&str] = &["Personal", "Company"];
const TRUST_TYPES: &[&str] = &["AzureAD", "ServerAD", "Workplace"];
const PROFILE_TYPES: &[&str] = &["RegisteredDevice", "SecureVM", "Printer", "Shared", "IoT"];

impl Attribute {
    fn from_name(name: &str) -> Option<Self> {
        if let Some((attribute, _)) = NAMED_ATTRIBUTES.iter().find(|(_, n)| n.eq_ignore_ascii_case(name)) {
            return Some(*attribute);
        }
        let prefix = name.get(..EXTENSION_PREFIX.len())?;
        let digits = &name[EXTENSION_PREFIX.len()..];
        if !prefix.eq_ignore_ascii_case(EXTENSION_PREFIX) || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<u8>().ok().filter(|n| (1..=15).contains(n)).map(Attribute::Extension)
    }

    fn operators(self) -> &'static [Operator] {
        match self {
            Attribute::DeviceId | Attribute::MdmAppId | Attribute::TrustType | Attribute::ProfileType => EQ_NE_IN,
            Attribute::DeviceOwnership | Attribute::IsCompliant => EQ_NE,
            Attribute::PhysicalIds | Attribute::SystemLabels => CONTAINS,
            _ => ALL_OPERATORS,
        }
    }

    fn enumerated(self) -> Option<&'static [&'static str]> {
        match self {
            Attribute::DeviceOwnership => Some(OWNERSHIPS),
            Attribute::TrustType => Some(TRUST_TYPES),
            Attribute::ProfileType => Some(PROFILE_TYPES),
            _ => None,
        }
    }

    /// The device's value for a string attribute; `None` when null (or gated off).
    fn text(self, d: &DeviceAttributes) -> Option<&str> {
        let value = match self {
            Attribute::DeviceId => &d.device_id,
            Attribute::MdmAppId => &d.mdm_app_id,
            Attribute::DisplayName => &d.display_name,
            Attribute::Manufacturer => &d.manufacturer,
            Attribute::Model => &d.model,
            Attribute::OperatingSystem => &d.operating_system,
            Attribute::OperatingSystemVersion => &d.operating_system_version,
            Attribute::EnrollmentProfileName => &d.enrollment_profile_name,
            Attribute::DeviceOwnership => &d.device_ownership,
            Attribute::TrustType => &d.trust_type,
            Attribute::ProfileType => &d.profile_type,
            Attribute::Extension(n) => {
                // Entra only trusts extension attributes on managed, compliant or hybrid-joined devices.
                let hybrid = d.trust_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("ServerAD"));
                if !(d.is_managed == Some(true) || d.is_compliant == Some(true) || hybrid) {
                    return None;
                }
                usize::from(n).checked_sub(1).and_then(|i| d.extension_attributes.get(i))?
            }
            Attribute::IsCompliant | Attribute::PhysicalIds | Attribute::SystemLabels => return None,
        };
        value.as_deref()
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::Extension(n) => write!(f, "{EXTENSION_PREFIX}{n}"),
            a => f.write_str(NAMED_ATTRIBUTES.iter().find(|(x, _)| x == a).map_or("", |(_, name)| name)),
        }
    }
}

impl Operator {
    fn negative(self) -> bool {
        matches!(self, Operator::Ne | Operator::NotStartsWith | Operator::NotEndsWith | Operator::NotContains | Operator::NotIn)
    }

    fn name(self) -> &'static str {
        OPERATORS.iter().find(|(o, _)| *o == self).map_or("", |(_, name)| name)
    }
}

impl Rule {
    /// Whether the device satisfies the rule. `None` is an unregistered device: every attribute is null.
    pub fn matches(&self, device: Option<&DeviceAttributes>) -> bool {
        self.root.eval(device)
    }
}

impl Node {
    fn eval(&self, device: Option<&DeviceAttributes>) -> bool {
        match self {
            Node::Cond(c) => c.eval(device),
            Node::Not(inner) => !inner.eval(device),
            Node::And(items) => items.iter().all(|n| n.eval(device)),
            Node::Or(items) => items.iter().any(|n| n.eval(device)),
        }
    }
}

impl Condition {
    fn eval(&self, device: Option<&DeviceAttributes>) -> bool {
        // `hit` is the positive operator's answer; a null attribute never hits, so positive
        // operators are false on it and negative ones true.
        let hit = match (self.attribute, &self.value) {
            (Attribute::IsCompliant, Value::Bool(want)) => device.and_then(|d| d.is_compliant).is_some_and(|c| c == *want),
            (Attribute::PhysicalIds | Attribute::SystemLabels, Value::Text(want)) => {
                let items = match device {
                    None => &[][..],
                    Some(d) if self.attribute == Attribute::PhysicalIds => &d.physical_ids[..],
                    Some(d) => &d.system_labels[..],
                };
                let want = want.to_lowercase();
                items.iter().any(|item| item.to_lowercase() == want)
            }
            (attribute, value) => {
                device.and_then(|d| attribute.text(d)).is_some_and(|have| compare(self.operator, &have.to_lowercase(), value))
            }
        };
        hit != self.operator.negative()
    }
}

/// The positive form of `op` applied to a lowercased device value.
fn compare(op: Operator, have: &str, value: &Value) -> bool {
    match (op, value) {
        (Operator::Eq | Operator::Ne, Value::Text(v)) => have == v.to_lowercase(),
        (Operator::StartsWith | Operator::NotStartsWith, Value::Text(v)) => have.starts_with(&v.to_lowercase()),
        (Operator::EndsWith | Operator::NotEndsWith, Value::Text(v)) => have.ends_with(&v.to_lowercase()),
        (Operator::Contains | Operator::NotContains, Value::Text(v)) => have.contains(&v.to_lowercase()),
        (Operator::In | Operator::NotIn, Value::List(vs)) => vs.iter().any(|v| have == v.to_lowercase()),
        _ => false,
    }
}

// ---- Lexer ----

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Open,
    Close,
    OpenList,
    CloseList,
    Comma,
    And,
    Or,
    Not,
    Op(Operator),
    Word(String),
    Str(String),
    End,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    pos: usize,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Open => f.write_str("`(`"),
            Tok::Close => f.write_str("`)`"),
            Tok::OpenList => f.write_str("`[`"),
            Tok::CloseList => f.write_str("`]`"),
            Tok::Comma => f.write_str("`,`"),
            Tok::And => f.write_str("`-and`"),
            Tok::Or => f.write_str("`-or`"),
            Tok::Not => f.write_str("`-not`"),
            Tok::Op(op) => write!(f, "`-{}`", op.name()),
            Tok::Word(w) => write!(f, "`{w}`"),
            Tok::Str(s) => {
                f.write_str("the string ")?;
                write_quoted(f, s)
            }
            Tok::End => f.write_str("the end of the rule"),
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn lex(chars: &[char]) -> Result<Vec<Token>, RuleError> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let pos = i;
        i += 1;
        let tok = match c {
            c if c.is_whitespace() => continue,
            '(' => Tok::Open,
            ')' => Tok::Close,
            '[' => Tok::OpenList,
            ']' => Tok::CloseList,
            ',' => Tok::Comma,
            '-' => {
                while chars.get(i).is_some_and(char::is_ascii_alphabetic) {
                    i += 1;
                }
                let word: String = chars[pos + 1..i].iter().collect();
                keyword(&word).ok_or_else(|| match word.as_str() {
                    "" => err("expected an operator or `-and`, `-or`, `-not` after `-`", pos),
                    _ => err(format!("unknown operator `-{word}`"), pos),
                })?
            }
            '"' => {
                let mut text = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(err("unterminated string: missing the closing `\"`", pos)),
                        Some('"') => break,
                        Some('\\') => match chars.get(i + 1) {
                            Some(&e @ ('"' | '\\')) => {
                                text.push(e);
                                i += 1;
                            }
                            Some(other) => {
                                return Err(err(format!("unknown escape `\\{other}` in a string; only `\\\"` and `\\\\` are allowed"), i));
                            }
                            None => return Err(err("unterminated string: missing the closing `\"`", pos)),
                        },
                        Some(&other) => text.push(other),
                    }
                    i += 1;
                }
                i += 1;
                Tok::Str(text)
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                while chars.get(i).is_some_and(|&c| is_word_char(c)) {
                    i += 1;
                }
                Tok::Word(chars[pos..i].iter().collect())
            }
            other => return Err(err(format!("unexpected character {other:?}"), pos)),
        };
        out.push(Token { tok, pos });
    }
    out.push(Token { tok: Tok::End, pos: chars.len() });
    Ok(out)
}

fn keyword(word: &str) -> Option<Tok> {
    match word.to_ascii_lowercase().as_str() {
        "and" => Some(Tok::And),
        "or" => Some(Tok::Or),
        "not" => Some(Tok::Not),
        _ => OPERATORS.iter().find(|(_, name)| name.eq_ignore_ascii_case(word)).map(|(op, _)| Tok::Op(*op)),
    }
}

// ---- Parser ----

/// Parses a device filter rule.
pub fn parse(rule: &str) -> Result<Rule, RuleError> {
    if rule.chars().nth(MAX_RULE_LEN).is_some() {
        return Err(err(format!("rule is longer than {MAX_RULE_LEN} characters"), MAX_RULE_LEN));
    }
    let chars: Vec<char> = rule.chars().collect();
    let mut parser = Parser { toks: lex(&chars)?, at: 0 };
    if parser.peek().tok == Tok::End {
        return Err(err("empty rule", 0));
    }
    let root = parser.or(0)?;
    let t = parser.bump();
    match t.tok {
        Tok::End => {}
        Tok::Close => return Err(err("unbalanced parentheses: this `)` has no matching `(`", t.pos)),
        other => return Err(err(format!("unexpected {other} after a complete condition; expected `-and`, `-or` or the end"), t.pos)),
    }
    let rule = Rule { root };
    // The canonical form spaces things out and parenthesises `-not`; it must still be a valid rule.
    let canonical = rule.to_string().chars().count();
    if canonical > MAX_RULE_LEN {
        return Err(err(format!("rule is longer than {MAX_RULE_LEN} characters in canonical form ({canonical})"), 0));
    }
    Ok(rule)
}

struct Parser {
    /// Always ends with `Tok::End`.
    toks: Vec<Token>,
    at: usize,
}

fn deeper(depth: usize, pos: usize) -> Result<usize, RuleError> {
    if depth >= MAX_DEPTH { Err(err(format!("parentheses and `-not` nest deeper than {MAX_DEPTH} levels"), pos)) } else { Ok(depth + 1) }
}

/// Joins operands, merging nested operands of the same kind.
fn combine(items: Vec<Node>, or: bool) -> Node {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Node::Or(inner) if or => out.extend(inner),
            Node::And(inner) if !or => out.extend(inner),
            item => out.push(item),
        }
    }
    match out.len() {
        1 => out.remove(0),
        _ if or => Node::Or(out),
        _ => Node::And(out),
    }
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.at.min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::End {
            self.at += 1;
        }
        t
    }

    fn or(&mut self, depth: usize) -> Result<Node, RuleError> {
        let mut items = vec![self.and(depth)?];
        while self.peek().tok == Tok::Or {
            self.bump();
            items.push(self.and(depth)?);
        }
        Ok(combine(items, true))
    }

    fn and(&mut self, depth: usize) -> Result<Node, RuleError> {
        let mut items = vec![self.unary(depth)?];
        while self.peek().tok == Tok::And {
            self.bump();
            items.push(self.unary(depth)?);
        }
        Ok(combine(items, false))
    }

    fn unary(&mut self, depth: usize) -> Result<Node, RuleError> {
        let t = self.bump();
        match t.tok {
            Tok::Not => {
                let depth = deeper(depth, t.pos)?;
                let inner = if self.peek().tok == Tok::Open {
                    let open = self.bump();
                    self.group(depth, open.pos)?
                } else {
                    self.unary(depth)?
                };
                Ok(Node::Not(Box::new(inner)))
            }
            Tok::Open => {
                let depth = deeper(depth, t.pos)?;
                self.group(depth, t.pos)
            }
            Tok::Word(word) => self.condition(&word, t.pos),
            other => Err(err(format!("expected a condition such as `device.operatingSystem -eq \"Windows\"`, found {other}"), t.pos)),
        }
    }

    /// The rest of a parenthesised group whose `(` is at `open`.
    fn group(&mut self, depth: usize, open: usize) -> Result<Node, RuleError> {
        let inner = self.or(depth)?;
        let t = self.bump();
        match t.tok {
            Tok::Close => Ok(inner),
            Tok::End => Err(err("unbalanced parentheses: this `(` is never closed", open)),
            other => Err(err(format!("expected `-and`, `-or` or `)`, found {other}"), t.pos)),
        }
    }

    fn condition(&mut self, word: &str, pos: usize) -> Result<Node, RuleError> {
        let name = match word.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("device.") => &word[7..],
            _ => return Err(err(format!("missing `device.` prefix: expected `device.<attribute>`, found `{word}`"), pos)),
        };
        if name.is_empty() {
            return Err(err("missing attribute name after `device.`", pos + 7));
        }
        let attribute = Attribute::from_name(name).ok_or_else(|| err(format!("unknown device attribute `{name}`"), pos + 7))?;
        let t = self.bump();
        let operator = match t.tok {
            Tok::Op(op) => op,
            other => return Err(err(format!("expected an operator such as `-eq` after `device.{attribute}`, found {other}"), t.pos)),
        };
        if !attribute.operators().contains(&operator) {
            let allowed: Vec<String> = attribute.operators().iter().map(|o| format!("`-{}`", o.name())).collect();
            let message =
                format!("operator `-{}` is not allowed for `device.{attribute}` (allowed: {})", operator.name(), allowed.join(", "));
            return Err(err(message, t.pos));
        }
        let value = match operator {
            Operator::In | Operator::NotIn => self.list(attribute, operator)?,
            _ => self.scalar(attribute)?,
        };
        Ok(Node::Cond(Condition { attribute, operator, value }))
    }

    fn scalar(&mut self, attribute: Attribute) -> Result<Value, RuleError> {
        let t = self.bump();
        if attribute == Attribute::IsCompliant {
            let flag = match &t.tok {
                Tok::Word(w) | Tok::Str(w) if w.eq_ignore_ascii_case("true") => Some(true),
                Tok::Word(w) | Tok::Str(w) if w.eq_ignore_ascii_case("false") => Some(false),
                _ => None,
            };
            return flag
                .map(Value::Bool)
                .ok_or_else(|| err(format!("`device.isCompliant` takes `True` or `False`, found {}", t.tok), t.pos));
        }
        match t.tok {
            Tok::Str(s) => Ok(Value::Text(canonical_value(attribute, s, t.pos)?)),
            Tok::OpenList => Err(err("a list of values needs `-in` or `-notIn`", t.pos)),
            other => Err(err(format!("expected a quoted string for `device.{attribute}`, found {other}"), t.pos)),
        }
    }

    fn list(&mut self, attribute: Attribute, operator: Operator) -> Result<Value, RuleError> {
        let open = self.bump();
        if open.tok != Tok::OpenList {
            return Err(err(format!("`-{}` takes a list such as `[\"a\",\"b\"]`, found {}", operator.name(), open.tok), open.pos));
        }
        let unterminated = || err("unterminated list: this `[` is never closed", open.pos);
        let mut items = Vec::new();
        loop {
            let t = self.bump();
            match t.tok {
                Tok::Str(s) if items.len() < MAX_LIST_LEN => items.push(canonical_value(attribute, s, t.pos)?),
                Tok::Str(_) => return Err(err(format!("list has more than {MAX_LIST_LEN} values"), t.pos)),
                Tok::End => return Err(unterminated()),
                Tok::CloseList if items.is_empty() => return Err(err("empty list: give at least one value", t.pos)),
                Tok::CloseList => return Err(err("trailing `,` in list", t.pos)),
                other => return Err(err(format!("expected a quoted string in the list, found {other}"), t.pos)),
            }
            let t = self.bump();
            match t.tok {
                Tok::Comma => {}
                Tok::CloseList => return Ok(Value::List(items)),
                Tok::End => return Err(unterminated()),
                other => return Err(err(format!("expected `,` or `]` in the list, found {other}"), t.pos)),
            }
        }
    }
}

/// Checks a value of an enumerated attribute and gives its canonical spelling.
fn canonical_value(attribute: Attribute, value: String, pos: usize) -> Result<String, RuleError> {
    let Some(allowed) = attribute.enumerated() else { return Ok(value) };
    match allowed.iter().find(|a| a.eq_ignore_ascii_case(&value)) {
        Some(a) => Ok((*a).to_owned()),
        None => {
            let names: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
            Err(err(format!("\"{value}\" is not a valid value for `device.{attribute}` (allowed: {})", names.join(", ")), pos))
        }
    }
}

// ---- Canonical rendering ----

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        if c == '"' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "device.{} -{} ", self.attribute, self.operator.name())?;
        match &self.value {
            Value::Text(s) => write_quoted(f, s),
            Value::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write_quoted(f, item)?;
                }
                f.write_str("]")
            }
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Cond(c) => write!(f, "{c}"),
            Node::Not(inner) => write!(f, "-not ({inner})"),
            Node::And(items) | Node::Or(items) => {
                let or = matches!(self, Node::Or(_));
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(if or { " -or " } else { " -and " })?;
                    }
                    // Only an `-or` inside an `-and` needs parentheses (the others cannot occur).
                    match item {
                        Node::Or(_) | Node::And(_) if !(or && matches!(item, Node::And(_))) => write!(f, "({item})")?,
                        _ => write!(f, "{item}")?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// The canonical form: camelCase attributes and operators, single spaces, `-not (…)`, canonical
/// enumerated values, `True`/`False`, and only the parentheses that precedence needs.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(rule: &str) -> Rule {
        parse(rule).unwrap_or_else(|e| panic!("{rule}: {e}"))
    }

    fn check(rule: &str, device: Option<&DeviceAttributes>) -> bool {
        p(rule).matches(device)
    }

    fn fails(rule: &str, needle: &str, position: usize) {
        let e = parse(rule).expect_err(rule);
        assert!(e.message.contains(needle), "{rule}: got {e}, wanted {needle:?}");
        assert_eq!(e.position, position, "{rule}: {e}");
    }

    fn round_trip(rule: &Rule) {
        let text = rule.to_string();
        let again = parse(&text).unwrap_or_else(|e| panic!("canonical {text}: {e}"));
        assert_eq!(&again, rule, "{text}");
        assert_eq!(again.to_string(), text);
    }

    fn windows() -> DeviceAttributes {
        DeviceAttributes {
            device_id: Some("6a2d3b1e-0000-4000-8000-000000000001".into()),
            display_name: Some("SAW-Desk-01".into()),
            manufacturer: Some("Contoso".into()),
            model: Some("Surface Pro 9".into()),
            operating_system: Some("Windows".into()),
            operating_system_version: Some("10.0.22000".into()),
            trust_type: Some("AzureAD".into()),
            device_ownership: Some("Company".into()),
            profile_type: Some("RegisteredDevice".into()),
            is_compliant: Some(true),
            is_managed: Some(true),
            physical_ids: vec!["[ZTDId]:value".into(), "[OrderId]:Q1".into()],
            system_labels: vec!["AzureResource".into()],
            ..Default::default()
        }
    }

    #[test]
    fn entra_examples() {
        let mut d = windows();
        d.extension_attributes[0] = Some("SAW".into());
        assert!(!check("device.trustType -eq \"ServerAD\"", Some(&d)));
        assert!(check("device.operatingSystemVersion -in [\"10.0.19041\",\"10.0.22000\"]", Some(&d)));
        assert!(check("device.physicalIds -contains \"[ZTDId]:value\"", Some(&d)));
        let both = "(device.operatingSystem -eq \"Windows\") -and (device.operatingSystemVersion -startsWith \"10.0\")";
        assert!(check(both, Some(&d)));
        assert!(check("device.extensionAttribute1 -eq \"SAW\"", Some(&d)));
        d.trust_type = Some("ServerAD".into());
        d.operating_system_version = Some("11.0".into());
        assert!(check("device.trustType -eq \"ServerAD\"", Some(&d)));
        assert!(!check("device.operatingSystemVersion -in [\"10.0.19041\",\"10.0.22000\"]", Some(&d)));
        assert!(!check(both, Some(&d)));
        d.physical_ids.clear();
        assert!(!check("device.physicalIds -contains \"[ZTDId]:value\"", Some(&d)));
    }

    #[test]
    fn null_attributes_fail_positive_and_pass_negative_operators() {
        let empty = DeviceAttributes { is_managed: Some(true), ..Default::default() };
        let cases = [
            ("device.displayName -eq \"x\"", false),
            ("device.displayName -ne \"x\"", true),
            ("device.model -startsWith \"x\"", false),
            ("device.model -notStartsWith \"x\"", true),
            ("device.manufacturer -endsWith \"x\"", false),
            ("device.manufacturer -notEndsWith \"x\"", true),
            ("device.operatingSystem -contains \"x\"", false),
            ("device.operatingSystem -notContains \"x\"", true),
            ("device.enrollmentProfileName -in [\"x\",\"y\"]", false),
            ("device.enrollmentProfileName -notIn [\"x\",\"y\"]", true),
            ("device.deviceId -eq \"x\"", false),
            ("device.mdmAppId -notIn [\"x\"]", true),
            ("device.trustType -eq \"AzureAD\"", false),
            ("device.trustType -ne \"AzureAD\"", true),
            ("device.profileType -in [\"Printer\"]", false),
            ("device.deviceOwnership -ne \"Company\"", true),
            ("device.isCompliant -eq True", false),
            ("device.isCompliant -ne True", true),
            ("device.isCompliant -eq False", false),
            ("device.isCompliant -ne False", true),
            ("device.physicalIds -contains \"x\"", false),
            ("device.physicalIds -notContains \"x\"", true),
            ("device.systemLabels -contains \"x\"", false),
            ("device.systemLabels -notContains \"x\"", true),
            ("device.extensionAttribute15 -eq \"x\"", false),
            ("device.extensionAttribute15 -ne \"x\"", true),
        ];
        for (rule, want) in cases {
            assert_eq!(check(rule, None), want, "unregistered: {rule}");
            assert_eq!(check(rule, Some(&empty)), want, "all-null device: {rule}");
        }
    }

    #[test]
    fn operators_on_present_values() {
        let d = windows();
        let cases = [
            ("device.model -eq \"surface pro 9\"", true),
            ("device.model -ne \"Surface Pro 9\"", false),
            ("device.model -startsWith \"SURFACE\"", true),
            ("device.model -notStartsWith \"Surface\"", false),
            ("device.model -endsWith \"pro 9\"", true),
            ("device.model -notEndsWith \"Pro 8\"", true),
            ("device.model -contains \"face P\"", true),
            ("device.model -notContains \"Book\"", true),
            ("device.model -in [\"Surface Laptop\",\"SURFACE PRO 9\"]", true),
            ("device.model -notIn [\"Surface Laptop\",\"Surface Pro 9\"]", false),
            ("device.deviceOwnership -eq \"company\"", true),
            ("device.profileType -notIn [\"Printer\",\"IoT\"]", true),
            ("device.isCompliant -eq True", true),
            ("device.isCompliant -ne true", false),
            ("device.physicalIds -contains \"[ztdid]:VALUE\"", true),
            ("device.physicalIds -contains \"[ZTDId]\"", false),
            ("device.physicalIds -notContains \"[OrderId]:Q1\"", false),
            ("device.systemLabels -contains \"azureresource\"", true),
            ("device.displayName -eq \"\"", false),
        ];
        for (rule, want) in cases {
            assert_eq!(check(rule, Some(&d)), want, "{rule}");
        }
        let blank = DeviceAttributes { display_name: Some(String::new()), ..Default::default() };
        assert!(check("device.displayName -eq \"\"", Some(&blank)));
    }

    #[test]
    fn extension_attributes_count_only_on_managed_compliant_or_hybrid_devices() {
        let mut d = DeviceAttributes { trust_type: Some("AzureAD".into()), ..Default::default() };
        d.extension_attributes[6] = Some("SAW".into());
        let eq = "device.extensionAttribute7 -eq \"saw\"";
        let ne = "device.extensionAttribute7 -ne \"saw\"";
        assert!(!check(eq, Some(&d)) && check(ne, Some(&d)), "unmanaged, not compliant, cloud-joined");
        d.is_managed = Some(false);
        d.is_compliant = Some(false);
        assert!(!check(eq, Some(&d)) && check(ne, Some(&d)), "explicitly unmanaged");
        for gate in 0..3 {
            let mut g = d.clone();
            match gate {
                0 => g.is_managed = Some(true),
                1 => g.is_compliant = Some(true),
                _ => g.trust_type = Some("serverad".into()),
            }
            assert!(check(eq, Some(&g)) && !check(ne, Some(&g)), "gate {gate}");
        }
    }

    #[test]
    fn precedence_and_not() {
        let d = windows();
        let (t, f) = ("device.model -eq \"Surface Pro 9\"", "device.model -eq \"Other\"");
        // a -or b -and c is a -or (b -and c).
        assert!(check(&format!("{t} -or {t} -and {f}"), Some(&d)));
        assert!(!check(&format!("({t} -or {t}) -and {f}"), Some(&d)));
        assert!(check(&format!("{f} -and {f} -or {t}"), Some(&d)));
        assert!(!check(&format!("{f} -and ({f} -or {t})"), Some(&d)));
        assert!(!check(&format!("-not {t}"), Some(&d)));
        assert!(check(&format!("-not ({f})"), Some(&d)));
        assert!(check(&format!("-not -not {t}"), Some(&d)));
        // -not binds tighter than -and and -or.
        assert!(check(&format!("-not {f} -and {t}"), Some(&d)));
        assert!(check(&format!("-not {t} -or {t}"), Some(&d)));
        assert!(!check(&format!("-not ({t} -or {t})"), Some(&d)));
        assert!(check("-not device.trustType -eq \"AzureAD\"", None));
        assert_eq!(p(&format!("{t} -or {t} -and {f}")).to_string(), format!("{t} -or {t} -and {f}"));
        assert_eq!(p(&format!("(({t} -or {t})) -and {f}")).to_string(), format!("({t} -or {t}) -and {f}"));
    }

    #[test]
    fn case_insensitive_input_and_comparison() {
        let d = DeviceAttributes { operating_system: Some("ÄPFEL OS".into()), trust_type: Some("serverAD".into()), ..Default::default() };
        let rule =
            p("DEVICE.OperatingSystem -EQ \"äpfel os\" -AND device.TRUSTTYPE -In [\"SERVERAD\"] -Or -NOT device.model -Contains \"x\"");
        assert!(rule.matches(Some(&d)));
        assert_eq!(
            rule.to_string(),
            "device.operatingSystem -eq \"äpfel os\" -and device.trustType -in [\"ServerAD\"] -or -not (device.model -contains \"x\")"
        );
        assert_eq!(p("device.isCompliant -eq \"TRUE\""), p("device.isCompliant -eq true"));
        assert_eq!(p("device.isCompliant -eq fAlSe").to_string(), "device.isCompliant -eq False");
        assert_eq!(p("device.profileType -eq \"iot\"").to_string(), "device.profileType -eq \"IoT\"");
        assert_eq!(p("device.ExtensionAttribute12 -eq \"a\"").to_string(), "device.extensionAttribute12 -eq \"a\"");
    }

    #[test]
    fn strings_and_escapes() {
        let rule = p(r#"device.displayName -eq "a\"b\\c""#);
        let d = DeviceAttributes { display_name: Some(r#"A"B\C"#.into()), ..Default::default() };
        assert!(rule.matches(Some(&d)));
        assert_eq!(rule.to_string(), r#"device.displayName -eq "a\"b\\c""#);
        assert_eq!(p("device.model-eq\"\"").to_string(), "device.model -eq \"\"");
        assert_eq!(p("  (\tdevice.model\n-in[ \"a\" ,\"b\" ] )  ").to_string(), "device.model -in [\"a\",\"b\"]");
    }

    #[test]
    fn display_round_trips() {
        let rules = [
            "device.trustType -eq \"ServerAD\"",
            "device.operatingSystemVersion -in [\"10.0.19041\",\"10.0.22000\"]",
            "device.physicalIds -contains \"[ZTDId]:value\"",
            "(device.operatingSystem -eq \"Windows\") -and (device.operatingSystemVersion -startsWith \"10.0\")",
            "device.extensionAttribute1 -eq \"SAW\"",
            "-not -not device.isCompliant -eq \"true\"",
            "-not (device.model -eq \"a\" -or device.model -eq \"b\")",
            "(device.model -eq \"1\" -or device.model -eq \"2\") -and -not (device.mdmAppId -notIn [\"x\"]) -or device.model -eq \"3\"",
            "((device.model -eq \"1\" -and device.model -eq \"2\") -and (device.model -eq \"3\" -or (device.model -eq \"4\")))",
            r#"device.displayName -notEndsWith "q\"\\" -and device.systemLabels -notContains "" -or device.deviceOwnership -ne "personal""#,
        ];
        for rule in rules {
            round_trip(&p(rule));
        }
    }

    #[test]
    fn errors() {
        fails("", "empty rule", 0);
        fails(" \t\n ", "empty rule", 0);
        fails(&"x".repeat(MAX_RULE_LEN + 1), "longer than 3072", MAX_RULE_LEN);
        fails("device.colour -eq \"red\"", "unknown device attribute `colour`", 7);
        fails("device.extensionAttribute16 -eq \"a\"", "unknown device attribute", 7);
        fails("device.extensionAttribute01 -eq \"a\"", "unknown device attribute", 7);
        fails("device. -eq \"a\"", "missing attribute name", 7);
        fails("operatingSystem -eq \"Windows\"", "missing `device.` prefix", 0);
        fails("user.department -eq \"x\"", "missing `device.` prefix", 0);
        fails("device.deviceOwnership -contains \"Company\"", "`-contains` is not allowed for `device.deviceOwnership`", 23);
        fails("device.physicalIds -eq \"x\"", "`-eq` is not allowed for `device.physicalIds`", 19);
        fails("device.deviceId -startsWith \"1\"", "not allowed for `device.deviceId`", 16);
        fails("device.isCompliant -in [\"True\"]", "not allowed for `device.isCompliant`", 19);
        fails("device.deviceOwnership -in [\"Company\"]", "not allowed", 23);
        fails("device.trustType -eq \"Cloud\"", "\"Cloud\" is not a valid value for `device.trustType`", 21);
        fails("device.deviceOwnership -eq \"Shared\"", "not a valid value for `device.deviceOwnership`", 27);
        fails("device.profileType -in [\"Printer\",\"Toaster\"]", "\"Toaster\" is not a valid value", 34);
        fails("device.isCompliant -eq \"yes\"", "takes `True` or `False`", 23);
        fails("device.isCompliant -eq 1", "takes `True` or `False`", 23);
        fails("device.model -eq \"abc", "unterminated string", 17);
        fails("device.model -eq \"ab\\", "unterminated string", 17);
        fails("device.model -eq \"a\\nb\"", "unknown escape", 19);
        fails("(device.model -eq \"a\"", "`(` is never closed", 0);
        fails("((device.model -eq \"a\")", "`(` is never closed", 0);
        fails("device.model -eq \"a\")", "`)` has no matching `(`", 20);
        fails("()", "expected a condition", 1);
        fails("device.model -eq \"a\" \"b\"", "after a complete condition", 21);
        fails("device.model -eq \"a\" device.model -eq \"b\"", "after a complete condition", 21);
        fails("(device.model -eq \"a\" x)", "expected `-and`, `-or` or `)`", 22);
        fails("device.model -eq \"a\" -and", "expected a condition", 25);
        fails("device.model -like \"a\"", "unknown operator `-like`", 13);
        fails("device.model - eq \"a\"", "after `-`", 13);
        fails("device.model \"a\"", "expected an operator", 13);
        fails("device.model -eq", "expected a quoted string", 16);
        fails("device.model -eq Windows", "expected a quoted string", 17);
        fails("device.model -eq [\"a\"]", "needs `-in` or `-notIn`", 17);
        fails("device.model -in \"a\"", "`-in` takes a list", 17);
        fails("device.model -in []", "empty list", 18);
        fails("device.model -in [\"a\",]", "trailing `,`", 22);
        fails("device.model -in [\"a\" \"b\"]", "expected `,` or `]`", 22);
        fails("device.model -in [\"a\"", "unterminated list", 17);
        fails("device.model -in [\"a\",", "unterminated list", 17);
        fails("device.model -eq \"a\" = ", "unexpected character '='", 21);
        // Positions count characters, not bytes.
        fails("device.model -eq \"ééé\" -foo", "unknown operator `-foo`", 23);
    }

    #[test]
    fn limits() {
        let padded = format!("device.displayName -eq \"{}\"", "x".repeat(MAX_RULE_LEN - 25));
        assert_eq!(padded.chars().count(), MAX_RULE_LEN);
        round_trip(&p(&padded));
        fails(&format!("{padded} "), "longer than 3072", MAX_RULE_LEN);
        // Fits as typed, but not once spaced out canonically.
        let compact = vec!["device.model-eq\"a\""; 130].join("-or ");
        assert!(compact.len() <= MAX_RULE_LEN);
        fails(&compact, "canonical form", 0);

        let cond = "device.model -eq \"a\"";
        let nested = |n: usize| format!("{}{cond}{}", "(".repeat(n), ")".repeat(n));
        round_trip(&p(&nested(MAX_DEPTH)));
        fails(&nested(MAX_DEPTH + 1), "deeper than 32", MAX_DEPTH);
        fails(&nested(1000), "deeper than 32", MAX_DEPTH);
        fails(&nested(10_000), "longer than 3072", MAX_RULE_LEN);
        assert!(parse(&"(".repeat(10_000)).is_err());
        assert!(parse(&"(".repeat(3000)).is_err());
        let nots = |n: usize| format!("{}{cond}", "-not ".repeat(n));
        round_trip(&p(&nots(MAX_DEPTH)));
        fails(&nots(MAX_DEPTH + 1), "deeper than 32", 5 * MAX_DEPTH);
        fails(&nots(600), "deeper than 32", 5 * MAX_DEPTH);
        // A `(` right after `-not` belongs to it.
        let not_groups = |n: usize| format!("{}{cond}{}", "-not (".repeat(n), ")".repeat(n));
        round_trip(&p(&not_groups(MAX_DEPTH)));
        fails(&not_groups(MAX_DEPTH + 1), "deeper than 32", 6 * MAX_DEPTH);

        let list = |n: usize| format!("device.model -in [{}]", vec!["\"v\""; n].join(","));
        round_trip(&p(&list(MAX_LIST_LEN)));
        fails(&list(MAX_LIST_LEN + 1), "more than 100 values", 18 + 4 * MAX_LIST_LEN);
    }

    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) as usize) % n
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    const CONDITIONS: &[&str] = &[
        "device.operatingSystem -eq \"Windows\"",
        "device.trustType -ne \"AzureAD\"",
        "device.isCompliant -eq True",
        "device.physicalIds -contains \"[ZTDId]:value\"",
        "device.extensionAttribute3 -startsWith \"S\\\"A\"",
        "device.model -notIn [\"a\",\"b\",\"\"]",
        "device.profileType -in [\"IoT\",\"Printer\"]",
        "device.deviceOwnership -eq \"Personal\"",
        "device.displayName -notContains \"\\\\\"",
        "device.systemLabels -notContains \"x\"",
    ];

    /// A valid rule; every ASCII letter may then be re-cased without making it invalid.
    fn generate(rng: &mut Lcg, depth: usize) -> String {
        let space = |rng: &mut Lcg| rng.pick(&[" ", "  ", "\t", "\n "]);
        match if depth == 0 { 0 } else { rng.below(6) } {
            0 | 1 => rng.pick(CONDITIONS).to_owned(),
            2 => format!("{}{}-and{}{}", generate(rng, depth - 1), space(rng), space(rng), generate(rng, depth - 1)),
            3 => format!("{} -or {}", generate(rng, depth - 1), generate(rng, depth - 1)),
            4 => format!("({}{})", space(rng), generate(rng, depth - 1)),
            _ => format!("-not{}{}", space(rng), generate(rng, depth - 1)),
        }
    }

    #[test]
    fn fuzz_never_panics_and_valid_rules_round_trip() {
        let mut rng = Lcg(0x5eed);
        let devices = [None, Some(windows()), Some(DeviceAttributes::default())];
        let mut ok = 0;
        for round in 0..3000 {
            // Random bytes, made into a string lossily.
            let len = rng.below(80);
            let bytes: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            let _ = parse(&String::from_utf8_lossy(&bytes));
            // Random characters from rule-like pieces.
            let pieces = [
                "device.",
                "model",
                "isCompliant",
                "-eq",
                "-in",
                "-not",
                "-and",
                "-or",
                "(",
                ")",
                "[",
                "]",
                ",",
                "\"",
                "\\",
                " ",
                "True",
                "é",
                "\u{0}",
            ];
            let soup: String = (0..rng.below(30)).map(|_| rng.pick(&pieces)).collect();
            let _ = parse(&soup);
            // A valid rule, re-cased, then maybe damaged.
            let mut text: Vec<char> = generate(&mut rng, 4).chars().collect();
            for c in text.iter_mut() {
                if rng.below(2) == 0 {
                    *c = if c.is_ascii_lowercase() { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() };
                }
            }
            let damaged = round % 2 == 1;
            if damaged {
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(text.len() + 1);
                    match rng.below(3) {
                        0 if at < text.len() => {
                            text.remove(at);
                        }
                        _ => text.insert(at, rng.pick(&["(", ")", "\"", "[", ",", "-", "\\", " ", "é"]).chars().next().unwrap_or(' ')),
                    }
                }
            }
            let text: String = text.into_iter().collect();
            match parse(&text) {
                Ok(rule) => {
                    ok += 1;
                    round_trip(&rule);
                    for d in &devices {
                        let _ = rule.matches(d.as_ref());
                    }
                }
                Err(e) => {
                    assert!(damaged, "{text}: {e}");
                    assert!(e.position <= text.chars().count(), "{text}: {e}");
                }
            }
        }
        assert!(ok >= 1500, "only {ok} rules parsed");
    }
}
