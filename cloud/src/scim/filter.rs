//! SCIM filters and attribute paths (RFC 7644 §3.4.2.2, §3.5.2): a parser into a small tree
//! and its evaluation against a resource's JSON. Sans-IO; the caller says which attributes
//! compare exactly ([`CaseExact`]), because `userName eq "Bjensen"` must match `bjensen`
//! (RFC 7643 §4.1.1: userName is not case-exact) while `id` and `externalId` compare exactly.
//!
//! Written here rather than taken from the `scim-filter` crate: that one compares every
//! string case-sensitively, does not strip schema URNs from paths, and pulls in chrono and
//! rust_decimal for what is a few hundred lines.
//!
//! Filters come from the network: their length and nesting are bounded, and no input panics.

use serde_json::Value;
use std::fmt;

/// The longest filter accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 4096;
/// The deepest nesting of parentheses, `not` and value filters.
const MAX_DEPTH: usize = 16;
/// The core schema URNs a path may be prefixed with (`urn:…:User:userName`).
pub const CORE_URNS: [&str; 2] = [
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:core:2.0:Group",
];

/// Why a filter or path was refused; the SCIM error's `detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

fn err<T>(msg: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError(msg.into()))
}

/// `attr` or `attr.sub`, names as written (they compare case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The attribute.
    pub attr: String,
    /// Its sub-attribute, if any.
    pub sub: Option<String>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `co`
    Co,
    /// `sw`
    Sw,
    /// `ew`
    Ew,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `path op value`
    Compare(AttrPath, Op, Value),
    /// `path pr`
    Present(AttrPath),
    /// `a and b`
    And(Box<Filter>, Box<Filter>),
    /// `a or b`
    Or(Box<Filter>, Box<Filter>),
    /// `not (a)`
    Not(Box<Filter>),
    /// `attr[filter]`: some element of the multi-valued `attr` matches `filter`, whose paths
    /// name the element's sub-attributes.
    Has(String, Box<Filter>),
}

/// A PATCH operation's `path`: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute.
    pub attr: String,
    /// Which elements of a multi-valued attribute.
    pub filter: Option<Filter>,
    /// A sub-attribute of the attribute (or of the chosen elements).
    pub sub: Option<String>,
}

/// Whether the attribute `attr` (with sub-attribute `sub`) compares case-exactly.
pub trait CaseExact {
    /// See the trait.
    fn case_exact(&self, attr: &str, sub: Option<&str>) -> bool;
}

impl<F: Fn(&str, Option<&str>) -> bool> CaseExact for F {
    fn case_exact(&self, attr: &str, sub: Option<&str>) -> bool {
        self(attr, sub)
    }
}

/// Parses a `filter` query parameter.
pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    let mut p = Parser::new(input)?;
    let f = p.or_expr(0)?;
    p.end()?;
    Ok(f)
}

/// Parses a PATCH `path`.
pub fn parse_patch_path(input: &str) -> Result<PatchPath, FilterError> {
    let mut p = Parser::new(input)?;
    let path = p.attr_path()?;
    let (attr, mut sub) = (path.attr, path.sub);
    let mut filter = None;
    if p.peek() == Some(&Tok::LBracket) {
        if sub.is_some() {
            return err("a value filter follows an attribute, not a sub-attribute");
        }
        p.next();
        filter = Some(p.or_expr(1)?);
        p.expect(&Tok::RBracket)?;
        if let Some(Tok::SubAttr(s)) = p.peek().cloned() {
            p.next();
            sub = Some(s);
        }
    }
    p.end()?;
    Ok(PatchPath { attr, filter, sub })
}

/// Parses an attribute path (`attributes=` entries, `sortBy`).
pub fn parse_attr_path(input: &str) -> Result<AttrPath, FilterError> {
    let mut p = Parser::new(input)?;
    let path = p.attr_path()?;
    p.end()?;
    Ok(path)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A word: an attribute path, an operator or a keyword.
    Word(String),
    /// `.sub` right after `]`.
    SubAttr(String),
    Str(String),
    Num(serde_json::Number),
    LParen,
    RParen,
    LBracket,
    RBracket,
}

fn tokenize(input: &str) -> Result<Vec<Tok>, FilterError> {
    if input.len() > MAX_FILTER_BYTES {
        return err(format!("longer than {MAX_FILTER_BYTES} bytes"));
    }
    let mut toks = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                chars.next();
            }
            '(' | ')' | '[' => {
                chars.next();
                toks.push(match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    _ => Tok::LBracket,
                });
            }
            ']' => {
                chars.next();
                toks.push(Tok::RBracket);
                if let Some(&(j, '.')) = chars.peek() {
                    chars.next();
                    let start = j + 1;
                    let mut end = start;
                    while let Some(&(k, c)) = chars.peek() {
                        if !is_name_char(c) {
                            break;
                        }
                        end = k + c.len_utf8();
                        chars.next();
                    }
                    if end == start {
                        return err("a sub-attribute name must follow `].`");
                    }
                    toks.push(Tok::SubAttr(input[start..end].to_owned()));
                }
            }
            '"' => {
                chars.next();
                let start = i;
                let mut end = None;
                let mut escaped = false;
                for (k, c) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        end = Some(k);
                        break;
                    }
                }
                let Some(end) = end else {
                    return err("a string is not closed");
                };
                // JSON string rules (RFC 7644 §3.4.2.2: compValue is a JSON string).
                let s: String = serde_json::from_str(&input[start..=end])
                    .map_err(|_| FilterError("a string has a bad escape".into()))?;
                toks.push(Tok::Str(s));
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = i;
                let mut end = i;
                while let Some(&(k, c)) = chars.peek() {
                    if !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')) {
                        break;
                    }
                    end = k + 1;
                    chars.next();
                }
                let n: serde_json::Number = input[start..end].parse().map_err(|_| {
                    FilterError(format!("`{}` is not a number", &input[start..end]))
                })?;
                toks.push(Tok::Num(n));
            }
            c if is_name_char(c) => {
                let start = i;
                let mut end = i;
                while let Some(&(k, c)) = chars.peek() {
                    // URNs carry `:` and `.`: `urn:ietf:params:scim:schemas:core:2.0:User:name.givenName`.
                    if !(is_name_char(c) || c == ':' || c == '.') {
                        break;
                    }
                    end = k + c.len_utf8();
                    chars.next();
                }
                toks.push(Tok::Word(input[start..end].to_owned()));
            }
            other => return err(format!("unexpected `{other}`")),
        }
    }
    Ok(toks)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$'
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn new(input: &str) -> Result<Self, FilterError> {
        Ok(Self {
            toks: tokenize(input)?,
            pos: 0,
        })
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, tok: &Tok) -> Result<(), FilterError> {
        match self.next() {
            Some(t) if &t == tok => Ok(()),
            _ => err(format!("expected {tok:?}")),
        }
    }

    fn end(&self) -> Result<(), FilterError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => err(format!("unexpected {t:?} at the end")),
        }
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or_expr(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if depth > MAX_DEPTH {
            return err(format!("nested deeper than {MAX_DEPTH}"));
        }
        let mut left = self.and_expr(depth)?;
        while self.keyword("or") {
            self.next();
            let right = self.and_expr(depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.unary(depth)?;
        while self.keyword("and") {
            self.next();
            let right = self.unary(depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if self.keyword("not") {
            self.next();
            self.expect(&Tok::LParen)?;
            let inner = self.or_expr(depth + 1)?;
            self.expect(&Tok::RParen)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.next();
            let inner = self.or_expr(depth + 1)?;
            self.expect(&Tok::RParen)?;
            return Ok(inner);
        }
        let path = self.attr_path()?;
        if self.peek() == Some(&Tok::LBracket) {
            if path.sub.is_some() {
                return err("a value filter follows an attribute, not a sub-attribute");
            }
            self.next();
            let inner = self.or_expr(depth + 1)?;
            self.expect(&Tok::RBracket)?;
            return Ok(Filter::Has(path.attr, Box::new(inner)));
        }
        let op = match self.next() {
            Some(Tok::Word(w)) => w.to_ascii_lowercase(),
            _ => return err("an operator must follow an attribute"),
        };
        if op == "pr" {
            return Ok(Filter::Present(path));
        }
        let op = match op.as_str() {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            other => return err(format!("unknown operator `{other}`")),
        };
        let value = match self.next() {
            Some(Tok::Str(s)) => Value::String(s),
            Some(Tok::Num(n)) => Value::Number(n),
            Some(Tok::Word(w)) if w == "true" => Value::Bool(true),
            Some(Tok::Word(w)) if w == "false" => Value::Bool(false),
            Some(Tok::Word(w)) if w == "null" => Value::Null,
            _ => {
                return err(
                    "a value (string, number, true, false or null) must follow the operator",
                );
            }
        };
        Ok(Filter::Compare(path, op, value))
    }

    fn attr_path(&mut self) -> Result<AttrPath, FilterError> {
        let Some(Tok::Word(word)) = self.next() else {
            return err("an attribute name is expected");
        };
        split_path(&word)
    }
}

/// `[urn:]attr[.sub]` → its parts, the core URN removed.
fn split_path(word: &str) -> Result<AttrPath, FilterError> {
    let mut rest = word;
    for urn in CORE_URNS {
        if rest.len() > urn.len()
            && rest.is_char_boundary(urn.len() + 1)
            && rest[..urn.len()].eq_ignore_ascii_case(urn)
            && rest.as_bytes()[urn.len()] == b':'
        {
            rest = &rest[urn.len() + 1..];
            break;
        }
    }
    if rest.contains(':') {
        return err(format!("`{word}` names a schema this server does not have"));
    }
    let mut parts = rest.split('.');
    let attr = parts.next().unwrap_or_default();
    let sub = parts.next();
    if parts.next().is_some() || attr.is_empty() || sub == Some("") {
        return err(format!("`{word}` is not an attribute path"));
    }
    Ok(AttrPath {
        attr: attr.to_owned(),
        sub: sub.map(str::to_owned),
    })
}

/// The member of `obj` named `name`, compared case-insensitively (RFC 7643 §2.1).
pub fn get_ci<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

mod eval;

#[cfg(test)]
mod tests;
