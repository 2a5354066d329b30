//! Conditional access (entra-apis.md §2): the policy and named-location model in Graph's JSON
//! shapes, and one evaluator `(policies, sign-in facts) -> decision` with a per-policy
//! explanation, serving enforcement, report-only and what-if alike. Pure: no I/O, no clock.

pub mod device_filter;
mod eval;
mod locations;
mod model;
mod parse;

pub use eval::{
    Decision, DeviceFact, Evaluation, Facts, Need, PolicyOutcome, PolicyResult, PolicySet, Reasons, SessionEffect, StrengthLevel, Subject,
};
pub use locations::{IpIndex, LocationKind, MAX_RANGES, NamedLocation, location_json, parse_location};
pub use model::*;
pub use parse::{MAX_LIST_LEN, PolicyError, merge, parse_policy, policy_json, stored_policy, strip_annotations};
