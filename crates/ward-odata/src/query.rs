//! The query string of a list request (`GET /users?$filter=…`): splitting it into OData options and turning those into
//! one validated [`Query`], including the default/advanced tier decision (entra-apis.md §1.6).

use crate::MAX_OPTION_LEN;
use crate::error::{ODataError, echo};
use crate::filter::{self, Expr};
use crate::schema::{Resource, Tier};
use crate::search::{self, Search};

/// The OData options of one request, percent-decoded and owned. See [`split_query`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawOptions {
    pub select: Option<String>,
    pub filter: Option<String>,
    pub orderby: Option<String>,
    pub top: Option<String>,
    pub count: Option<String>,
    pub search: Option<String>,
    pub skiptoken: Option<String>,
}

impl RawOptions {
    /// Borrows the options for [`parse`]; `consistency_eventual` is whether the request carried
    /// `ConsistencyLevel: eventual`.
    pub fn as_options(&self, consistency_eventual: bool) -> QueryOptions<'_> {
        QueryOptions {
            select: self.select.as_deref(),
            filter: self.filter.as_deref(),
            orderby: self.orderby.as_deref(),
            top: self.top.as_deref(),
            count: self.count.as_deref(),
            search: self.search.as_deref(),
            skiptoken: self.skiptoken.as_deref(),
            consistency_eventual,
        }
    }
}

/// The OData options of one request as text, plus the one header that matters to them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryOptions<'a> {
    pub select: Option<&'a str>,
    pub filter: Option<&'a str>,
    pub orderby: Option<&'a str>,
    pub top: Option<&'a str>,
    pub count: Option<&'a str>,
    pub search: Option<&'a str>,
    /// Opaque to this crate: the executor that minted it decodes it.
    pub skiptoken: Option<&'a str>,
    pub consistency_eventual: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// A validated list query. Every property name is the schema's `&'static str`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// `None` = the resource's default set. When present, `id` is always in it (Graph always returns `id`).
    pub select: Option<Vec<&'static str>>,
    pub filter: Option<Expr>,
    pub orderby: Vec<(&'static str, Direction)>,
    pub top: Option<u32>,
    /// Whether to return `@odata.count`: `$count=true` in advanced mode. Without the header Graph silently ignores it.
    pub count: bool,
    pub search: Option<Search>,
    /// Advanced-query mode: `ConsistencyLevel: eventual` plus `$count=true`, or the header plus `$search`.
    pub advanced: bool,
}

/// Splits a raw query string (without the `?`) into OData options, decoding it as
/// `application/x-www-form-urlencoded` (`+` is a space, `%XX` a byte; a `%` not followed by two hex digits stays as
/// is). Option names are matched case-insensitively (`$Filter`); parameters without `$` are ignored.
pub fn split_query(raw: Option<&str>) -> Result<RawOptions, ODataError> {
    let mut options = RawOptions::default();
    for pair in raw.unwrap_or("").split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = form_decode(name)?;
        if !name.starts_with('$') {
            continue;
        }
        let slot = match name.to_ascii_lowercase().as_str() {
            "$select" => &mut options.select,
            "$filter" => &mut options.filter,
            "$orderby" => &mut options.orderby,
            "$top" => &mut options.top,
            "$count" => &mut options.count,
            "$search" => &mut options.search,
            "$skiptoken" => &mut options.skiptoken,
            // `$skip` is a real OData option that directory lists refuse (§1.6); `$expand`, `$format` and the rest
            // are not implemented here.
            _ => return Err(ODataError::bad_request(format!("The query parameter '{}' is not supported.", echo(&name)))),
        };
        if slot.is_some() {
            return Err(ODataError::bad_request(format!(
                "Query option '{}' was specified more than once, but it must be specified at most once.",
                echo(&name)
            )));
        }
        *slot = Some(form_decode(value)?);
    }
    Ok(options)
}

fn form_decode(text: &str) -> Result<String, ODataError> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                decoded.push((high * 16 + low) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                decoded.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded).map_err(|_| ODataError::bad_request("The query string is not valid UTF-8 once percent-decoded."))
}

/// Validates every option against `resource`. Checks run in a fixed order (sizes, `$count`, `$top`, `$select`,
/// `$search`, `$filter`, `$orderby`), so the first problem reported is deterministic.
pub fn parse(resource: &Resource, options: &QueryOptions<'_>) -> Result<Query, ODataError> {
    let named = [
        ("$select", options.select),
        ("$filter", options.filter),
        ("$orderby", options.orderby),
        ("$top", options.top),
        ("$count", options.count),
        ("$search", options.search),
        ("$skiptoken", options.skiptoken),
    ];
    for (name, value) in named {
        if value.is_some_and(|v| v.chars().nth(MAX_OPTION_LEN).is_some()) {
            return Err(ODataError::bad_request(format!("The value of '{name}' is longer than {MAX_OPTION_LEN} characters.")));
        }
    }
    let count_requested = match options.count.map(str::trim) {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(ODataError::bad_request(format!(
                "Invalid value '{}' for $count query option found. Valid values are 'true' and 'false'.",
                echo(v)
            )));
        }
    };
    let advanced = options.consistency_eventual && (count_requested || options.search.is_some());
    let top = options.top.map(parse_top).transpose()?;
    let select = options.select.map(|s| parse_select(resource, s)).transpose()?;
    let search = match options.search {
        Some(_) if !options.consistency_eventual => {
            return Err(ODataError::unsupported(
                "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
            ));
        }
        Some(text) => Some(search::parse(resource, text)?),
        None => None,
    };
    let filter = options.filter.map(|text| filter::parse(resource, text, advanced)).transpose()?;
    let orderby = options.orderby.map(|text| parse_orderby(resource, text, advanced)).transpose()?.unwrap_or_default();
    if filter.is_some() && !orderby.is_empty() && !advanced {
        // §1.6: `$filter` and `$orderby` together is advanced-only; this is Graph's wording.
        return Err(ODataError::unsupported("Sorting not supported for current query."));
    }
    Ok(Query { select, filter, orderby, top, count: count_requested && options.consistency_eventual, search, advanced })
}

fn parse_top(text: &str) -> Result<u32, ODataError> {
    match text.trim().parse::<u32>() {
        Ok(top @ 1..=999) => Ok(top),
        _ => Err(ODataError::bad_request(format!("Invalid page size specified: '{}'. Must be between 1 and 999 inclusive.", echo(text)))),
    }
}

fn parse_select(resource: &Resource, text: &str) -> Result<Vec<&'static str>, ODataError> {
    let mut selected = vec!["id"];
    for name in text.split(',').map(str::trim) {
        let property = resource.property(name).ok_or_else(|| {
            let reason = if name.is_empty() { "an empty property name".to_owned() } else { resource.unknown_property(name) };
            ODataError::bad_request(format!("Parsing OData Select and Expand failed: {reason}"))
        })?;
        if !selected.contains(&property.name) {
            selected.push(property.name);
        }
    }
    Ok(selected)
}

fn parse_orderby(resource: &Resource, text: &str, advanced: bool) -> Result<Vec<(&'static str, Direction)>, ODataError> {
    let mut orderby = Vec::new();
    for item in text.split(',') {
        let mut words = item.split_whitespace();
        let name = words.next().unwrap_or("");
        let direction = match words.next() {
            None => Direction::Asc,
            Some(d) if d.eq_ignore_ascii_case("asc") => Direction::Asc,
            Some(d) if d.eq_ignore_ascii_case("desc") => Direction::Desc,
            Some(d) => return Err(ODataError::bad_request(format!("Invalid $orderby direction '{}': expected 'asc' or 'desc'.", echo(d)))),
        };
        if let Some(extra) = words.next() {
            return Err(ODataError::bad_request(format!("Invalid $orderby clause: unexpected '{}' after the direction.", echo(extra))));
        }
        let property = resource.property(name).ok_or_else(|| ODataError::bad_request(resource.unknown_property(name)))?;
        match property.orderby {
            Tier::Default => {}
            Tier::Advanced if advanced => {}
            Tier::Advanced => {
                return Err(ODataError::unsupported(format!(
                    "Sorting by '{}' is not supported because the required parameters might be missing. Try adding $count=true query \
                     parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information",
                    property.name
                )));
            }
            Tier::None => {
                return Err(ODataError::unsupported(format!(
                    "Sorting is not supported on property '{}' of resource '{}'.",
                    property.name, resource.entity
                )));
            }
        }
        if orderby.iter().any(|(name, _)| *name == property.name) {
            return Err(ODataError::bad_request(format!("Property '{}' appears more than once in $orderby.", property.name)));
        }
        orderby.push((property.name, direction));
    }
    Ok(orderby)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::{CmpOp, Value};
    use crate::schema::{GROUP, USER};
    use crate::search::SearchExpr;

    const BAD: &str = ODataError::BAD_REQUEST;
    const UNSUPPORTED: &str = ODataError::UNSUPPORTED_QUERY;

    fn query(raw: &str, eventual: bool) -> Result<Query, ODataError> {
        parse(&USER, &split_query(Some(raw))?.as_options(eventual))
    }
    fn rejected(raw: &str, eventual: bool) -> ODataError {
        query(raw, eventual).expect_err("the query should be rejected")
    }

    #[test]
    fn split_decodes_like_a_form() {
        let raw = "%24filter=displayName%20eq%20'a+b%25'&$Select=id&api-version=2&&$TOP=5&$skiptoken=abc%zz";
        let options = split_query(Some(raw)).expect("valid");
        assert_eq!(options.filter.as_deref(), Some("displayName eq 'a b%'"));
        assert_eq!(options.select.as_deref(), Some("id"));
        assert_eq!(options.top.as_deref(), Some("5"));
        assert_eq!(options.skiptoken.as_deref(), Some("abc%zz"), "a stray % stays as is");
        assert_eq!(split_query(None), Ok(RawOptions::default()));
        assert_eq!(split_query(Some("$count")).map(|o| o.count), Ok(Some(String::new())));
        let borrowed = options.as_options(true);
        assert_eq!((borrowed.filter, borrowed.top, borrowed.consistency_eventual), (Some("displayName eq 'a b%'"), Some("5"), true));
    }

    #[test]
    fn split_refuses_unknown_repeated_and_undecodable_options() {
        let twice = "Query option '$Filter' was specified more than once, but it must be specified at most once.";
        assert_eq!(split_query(Some("$filter=a&$Filter=b")), Err(ODataError::bad_request(twice)));
        for name in ["$skip", "$expand", "$bogus"] {
            let message = format!("The query parameter '{name}' is not supported.");
            assert_eq!(split_query(Some(&format!("{name}=1"))), Err(ODataError::bad_request(message)));
        }
        assert_eq!(split_query(Some("$filter=%ff")).map_err(|e| e.code), Err(BAD));
    }

    #[test]
    fn count_and_the_advanced_tier() {
        let plain = query("$count=true", false).expect("valid");
        assert_eq!((plain.count, plain.advanced), (false, false), "without the header $count=true is silently ignored");
        let counted = query("$count=TRUE", true).expect("valid");
        assert_eq!((counted.count, counted.advanced), (true, true));
        let header_only = query("$count=false", true).expect("valid");
        assert_eq!((header_only.count, header_only.advanced), (false, false));
        let message = "Invalid value 'yes' for $count query option found. Valid values are 'true' and 'false'.";
        assert_eq!(rejected("$count=yes", true), ODataError::bad_request(message));
    }

    #[test]
    fn top_is_between_1_and_999() {
        assert_eq!(query("$top=1", false).map(|q| q.top), Ok(Some(1)));
        assert_eq!(query("$top=999", false).map(|q| q.top), Ok(Some(999)));
        assert_eq!(query("", false).map(|q| q.top), Ok(None));
        let message = "Invalid page size specified: '0'. Must be between 1 and 999 inclusive.";
        assert_eq!(rejected("$top=0", false), ODataError::bad_request(message));
        for value in ["1000", "-1", "ten", "", "4294967296"] {
            let message = format!("Invalid page size specified: '{value}'. Must be between 1 and 999 inclusive.");
            assert_eq!(rejected(&format!("$top={value}"), false), ODataError::bad_request(message));
        }
    }

    #[test]
    fn select_adds_id_and_uses_schema_spelling() {
        assert_eq!(query("", false).map(|q| q.select), Ok(None));
        assert_eq!(query("$select=DisplayName,MAIL,displayName", false).map(|q| q.select), Ok(Some(vec!["id", "displayName", "mail"])));
        assert_eq!(query("$select=accountEnabled,id", false).map(|q| q.select), Ok(Some(vec!["id", "accountEnabled"])));
        let unknown = "Parsing OData Select and Expand failed: Could not find a property named 'shoeSize' on type 'microsoft.graph.user'.";
        assert_eq!(rejected("$select=id,shoeSize", false), ODataError::bad_request(unknown));
        assert_eq!(rejected("$select=id,,mail", false).code, BAD);
        assert_eq!(parse(&GROUP, &QueryOptions { select: Some("accountEnabled"), ..Default::default() }).map_err(|e| e.code), Err(BAD));
    }

    #[test]
    fn orderby_tiers() {
        let sorted = query("$orderby=displayName,userPrincipalName%20DESC", false).map(|q| q.orderby);
        assert_eq!(sorted, Ok(vec![("displayName", Direction::Asc), ("userPrincipalName", Direction::Desc)]));
        let advanced_only = rejected("$orderby=createdDateTime desc", false);
        assert_eq!(advanced_only.code, UNSUPPORTED);
        assert!(
            advanced_only
                .message
                .starts_with("Sorting by 'createdDateTime' is not supported because the required parameters might be missing.")
        );
        assert_eq!(
            query("$orderby=createdDateTime desc&$count=true", true).map(|q| q.orderby),
            Ok(vec![("createdDateTime", Direction::Desc)])
        );
        let never = "Sorting is not supported on property 'businessPhones' of resource 'User'.";
        assert_eq!(rejected("$orderby=businessPhones&$count=true", true), ODataError::unsupported(never));
        assert_eq!(rejected("$orderby=displayName sideways", false).code, BAD);
        assert_eq!(rejected("$orderby=displayName asc desc", false).code, BAD);
        assert_eq!(rejected("$orderby=shoeSize", false).code, BAD);
        assert_eq!(rejected("$orderby=displayName,DisplayName desc", false).code, BAD);
    }

    #[test]
    fn filter_with_orderby_needs_advanced_mode() {
        let raw = "$filter=startswith(displayName,'a')&$orderby=displayName";
        assert_eq!(rejected(raw, false), ODataError::unsupported("Sorting not supported for current query."));
        assert_eq!(
            rejected(raw, true),
            ODataError::unsupported("Sorting not supported for current query."),
            "the header alone is not enough"
        );
        assert!(query(&format!("{raw}&$count=true"), true).is_ok());
    }

    #[test]
    fn filter_tier_follows_header_and_count() {
        let raw = "$filter=endsWith(mail,'@contoso.com')";
        assert_eq!(rejected(raw, true).code, UNSUPPORTED, "header without $count=true is the default tier");
        assert_eq!(rejected(&format!("{raw}&$count=true"), false).code, UNSUPPORTED, "$count=true without the header too");
        assert!(query(&format!("{raw}&$count=true"), true).is_ok());
        assert!(query(&format!("{raw}&$search=\"displayName:a\""), true).is_ok(), "header + $search is advanced");
    }

    #[test]
    fn search_needs_the_consistency_header() {
        let raw = "$search=%22displayName:Guthr%22%20OR%20%22mail:Guthr%22";
        let message =
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'";
        assert_eq!(rejected(raw, false), ODataError::unsupported(message));
        let accepted = query(raw, true).expect("valid");
        assert!(accepted.advanced && !accepted.count);
        assert!(matches!(accepted.search.map(|s| s.clauses), Some(SearchExpr::Or(..))));
    }

    #[test]
    fn option_values_are_bounded() {
        let long = format!("$filter=displayName eq '{}'", "a".repeat(MAX_OPTION_LEN));
        assert_eq!(rejected(&long, true), ODataError::bad_request("The value of '$filter' is longer than 4096 characters."));
        let long_select = format!("$select={}", "id,".repeat(MAX_OPTION_LEN));
        assert_eq!(rejected(&long_select, false).code, BAD);
    }

    #[test]
    fn reference_advanced_example() {
        let raw = "$filter=endsWith(mail,'@contoso.com')&$count=true&$select=id,displayName,mail&$orderby=displayName";
        let expected = Query {
            select: Some(vec!["id", "displayName", "mail"]),
            filter: Some(Expr::EndsWith { property: "mail", suffix: "@contoso.com".into() }),
            orderby: vec![("displayName", Direction::Asc)],
            top: None,
            count: true,
            search: None,
            advanced: true,
        };
        assert_eq!(query(raw, true), Ok(expected));
        let groups = parse(&GROUP, &split_query(Some("$filter=mailEnabled eq true")).expect("valid").as_options(false));
        let filter = groups.map(|q| q.filter);
        assert_eq!(filter, Ok(Some(Expr::Compare { property: "mailEnabled", op: CmpOp::Eq, value: Value::Bool(true) })));
    }
}
