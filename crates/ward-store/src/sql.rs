//! The narrow seam between the store's logic (written once, in SQL both dialects accept) and the
//! two database drivers. A backend runs statements and hands back rows of plain values.

use async_trait::async_trait;
use time::OffsetDateTime;
use ward_core::store::{StoreError, StoreResult};

/// A bound parameter. Nulls carry their type: PostgreSQL needs it.
#[derive(Clone, Debug)]
pub enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_string()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}

/// Builds a `Vec<Arg>` from anything convertible.
macro_rules! args {
    ($($v:expr),* $(,)?) => { vec![$($crate::sql::Arg::from($v)),*] };
}
pub(crate) use args;

#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Text(String),
}

#[derive(Clone, Debug)]
pub struct Row(pub Vec<Val>);

impl Row {
    fn at(&self, i: usize) -> StoreResult<&Val> {
        self.0.get(i).ok_or_else(|| StoreError::Corrupt(format!("missing column {i}")))
    }
    pub fn text(&self, i: usize) -> StoreResult<String> {
        match self.at(i)? {
            Val::Text(s) => Ok(s.clone()),
            other => Err(StoreError::Corrupt(format!("column {i}: expected text, got {other:?}"))),
        }
    }
    pub fn int(&self, i: usize) -> StoreResult<i64> {
        match self.at(i)? {
            Val::Int(n) => Ok(*n),
            other => Err(StoreError::Corrupt(format!("column {i}: expected integer, got {other:?}"))),
        }
    }
    pub fn opt_text(&self, i: usize) -> StoreResult<Option<String>> {
        match self.at(i)? {
            Val::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }
    pub fn opt_int(&self, i: usize) -> StoreResult<Option<i64>> {
        match self.at(i)? {
            Val::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }
}

/// SQL text that only `query.rs` can assemble (the field is private to this crate's modules that
/// build it through [`Assembled::from_fragments`]).
pub struct Assembled(String);

impl Assembled {
    /// Joins fixed fragments. Callers pass `&'static str` pieces and placeholders they numbered.
    pub(crate) fn from_fragments(parts: Vec<std::borrow::Cow<'static, str>>) -> Self {
        Assembled(parts.concat())
    }
    #[cfg(test)]
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A write transaction. Dropped without `commit`, it rolls back.
#[async_trait]
pub trait Tx: Send {
    async fn exec(&mut self, sql: &'static str, args: Vec<Arg>) -> StoreResult<u64>;
    async fn rows(&mut self, sql: &'static str, args: Vec<Arg>) -> StoreResult<Vec<Row>>;
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

#[async_trait]
pub trait Db: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Begins a transaction that holds the store's write lock until it ends, so writes (and so
    /// change-feed positions) are serialized in commit order.
    async fn begin_write(&self) -> StoreResult<Box<dyn Tx>>;
    async fn rows(&self, sql: &'static str, args: Vec<Arg>) -> StoreResult<Vec<Row>>;
    /// A statement assembled at run time by `query.rs`, only from its own fixed fragments and
    /// numbered placeholders: every value is bound, never written into the text.
    async fn rows_assembled(&self, sql: Assembled, args: Vec<Arg>) -> StoreResult<Vec<Row>>;
    fn migrations(&self) -> &'static [Migration];
    /// See `Store::change_token`.
    fn change_token(&self) -> Option<[u8; 48]> {
        None
    }
}

/// Maps a driver error: constraint violations become typed errors, everything else means the
/// store is unavailable.
pub fn map_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return StoreError::UniqueViolation(String::new());
        }
        if db.is_foreign_key_violation() {
            return StoreError::NotFound { kind: "object".into(), id: String::new() };
        }
    }
    StoreError::Unavailable(e.to_string())
}

pub fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

pub fn from_micros(m: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(m as i128 * 1_000).map_err(|e| StoreError::Corrupt(e.to_string()))
}
