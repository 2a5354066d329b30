//! Microsoft Graph's OData query options for directory resources (`/users`, `/groups`): the raw query string is split
//! into options, each option is parsed against a static schema, and the two Graph tiers (default vs advanced query,
//! entra-apis.md §1.6) are enforced with Graph's own error codes.
//!
//! Property names in the output are always `&'static str` taken from the schema, never text a client sent, so an
//! executor can map them to columns without ever building SQL from input.

mod error;
mod eval;
mod filter;
mod query;
mod schema;
mod search;

pub use error::ODataError;
pub use eval::{eval, eval_search};
pub use filter::{CmpOp, Expr, Value};
pub use query::{Direction, Query, QueryOptions, RawOptions, parse, split_query};
pub use schema::{GROUP, Kind, Ops, Property, Resource, SearchKind, Tier, USER};
pub use search::{Search, SearchExpr};

/// Longest accepted value of any single option, in characters.
pub const MAX_OPTION_LEN: usize = 4_096;
/// Deepest accepted nesting of parentheses, `not` and lambdas in `$filter`, and of parentheses in `$search`.
pub const MAX_DEPTH: usize = 32;
/// Most values accepted in one `in (…)` list.
pub const MAX_IN_VALUES: usize = 100;
/// Most `"property:text"` clauses accepted in one `$search`.
pub const MAX_SEARCH_CLAUSES: usize = 50;
