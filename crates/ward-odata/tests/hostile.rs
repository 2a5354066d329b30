//! Hostile input: every entry point must answer with one of Graph's two 400 codes, never panic or overflow the stack.

use serde_json::json;
use ward_odata::{GROUP, ODataError, QueryOptions, Resource, USER, eval, eval_search, parse, split_query};

/// xorshift64*: a fixed-seed generator so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn assert_graph_error(result: Result<impl std::fmt::Debug, ODataError>, input: &str) {
    if let Err(error) = result {
        assert!(matches!(error.code, ODataError::BAD_REQUEST | ODataError::UNSUPPORTED_QUERY), "{input:?}: {error}");
        assert!(!error.message.is_empty(), "{input:?}");
    }
}

/// Runs `text` through every option of both resources in both tiers, evaluates whatever parses, and says how much did.
fn exercise(text: &str) -> usize {
    let mut accepted = 0;
    let doc =
        json!({ "displayName": "Adele", "otherMails": ["a@x"], "groupTypes": ["Unified"], "createdDateTime": "2024-01-01T00:00:00Z" });
    for resource in [&USER, &GROUP] {
        for eventual in [false, true] {
            let options = [
                QueryOptions { filter: Some(text), count: Some("true"), consistency_eventual: eventual, ..Default::default() },
                QueryOptions { search: Some(text), consistency_eventual: eventual, ..Default::default() },
                QueryOptions { select: Some(text), orderby: Some(text), top: Some(text), count: Some(text), ..Default::default() },
            ];
            for option in options {
                let result = parse(resource, &option);
                if let Ok(query) = &result {
                    accepted += 1;
                    if let Some(filter) = &query.filter {
                        eval(filter, &doc);
                    }
                    if let Some(search) = &query.search {
                        eval_search(search, resource, &doc);
                    }
                }
                assert_graph_error(result, text);
            }
        }
    }
    assert_graph_error(split_query(Some(text)), text);
    accepted
}

#[test]
fn deep_parentheses_are_refused_without_overflowing() {
    let deep = format!("{}displayName eq 'a'{}", "(".repeat(10_000), ")".repeat(10_000));
    let options = QueryOptions { filter: Some(&deep), ..Default::default() };
    assert_eq!(parse(&USER, &options).map_err(|e| e.code), Err(ODataError::BAD_REQUEST), "over the length limit");
    // Under the length limit the depth limit answers.
    let deep = "(".repeat(4_000);
    let error = parse(&USER, &QueryOptions { filter: Some(&deep), ..Default::default() }).expect_err("refused");
    assert!(error.message.contains("nest deeper than 32 levels"), "{}", error.message);
    let negations = "not ".repeat(1_000);
    assert_eq!(
        parse(&USER, &QueryOptions { filter: Some(&negations), ..Default::default() }).map_err(|e| e.code),
        Err(ODataError::BAD_REQUEST)
    );
    let search = "(".repeat(4_000);
    let options = QueryOptions { search: Some(&search), consistency_eventual: true, ..Default::default() };
    assert_eq!(parse(&USER, &options).map_err(|e| e.code), Err(ODataError::BAD_REQUEST));
}

#[test]
fn long_flat_chains_parse_and_evaluate() {
    let clauses = vec!["displayName eq 'a'"; 4_000 / 22].join(" or ");
    let options = QueryOptions { filter: Some(&clauses), ..Default::default() };
    let query = parse(&USER, &options).expect("a long flat chain is valid");
    assert!(eval(query.filter.as_ref().expect("filter"), &json!({ "displayName": "A" })));
}

#[test]
fn random_bytes_never_panic() {
    let alphabet: Vec<char> = "()'\",:/\\ $%+&=-_.0123456789abcdefAZTeqornotandanyé😀\u{0}\t".chars().collect();
    let mut rng = Rng(0x5EED_0DA7_A000_0001);
    for _ in 0..3_000 {
        let len = rng.below(40);
        let text: String = (0..len).map(|_| alphabet[rng.below(alphabet.len())]).collect();
        exercise(&text);
    }
}

#[test]
fn mutated_valid_queries_never_panic() {
    let seeds = [
        "startswith(displayName,'a') and (mail eq 'x@y' or not(accountEnabled eq true))",
        "otherMails/any(m:endswith(m,'@contoso.com')) or proxyAddresses/any(p:startswith(p,'smtp:'))",
        "id in ('0b5ea3a8-4f2c-4d1e-9a7b-3c2d1e0f9a8b', 0B5EA3A8-4F2C-4D1E-9A7B-3C2D1E0F9A8C) and createdDateTime ge 2024-01-01T00:00:00Z",
        "groupTypes/any(c:c eq 'Unified') and displayName ne null and userType eq 'it''s'",
        r#""displayName:Video" AND ("description:One" OR "mail:v\"x\\")"#,
        "displayName,mail desc,createdDateTime asc",
    ];
    let pieces = ["(", ")", "'", "''", " and ", " or ", "not ", ",", "/any(", ":", "\"", "\\", " eq ", "null", "-", "9", "é", "AND", "OR"];
    let mut rng = Rng(0xC0FF_EE00_1234_5678);
    let mut accepted = 0;
    for _ in 0..2_000 {
        let mut text: Vec<char> = seeds[rng.below(seeds.len())].chars().collect();
        for _ in 0..1 + rng.below(2) {
            let at = rng.below(text.len() + 1);
            match rng.below(3) {
                0 if at < text.len() => {
                    let end = (at + 1 + rng.below(6)).min(text.len());
                    text.drain(at..end);
                }
                1 => {
                    let piece = pieces[rng.below(pieces.len())];
                    text.splice(at..at, piece.chars());
                }
                _ if at < text.len() => text[at] = pieces[rng.below(pieces.len())].chars().next().unwrap_or('x'),
                _ => {}
            }
        }
        accepted += exercise(&text.into_iter().collect::<String>());
    }
    // The mutations must leave enough valid queries for the evaluator to be exercised too.
    assert!(accepted > 50, "only {accepted} mutated queries parsed");
}

#[test]
fn every_resource_property_name_is_static_schema_text() {
    // Whatever spelling the client used, the AST carries the schema's own &'static str.
    let resource: &Resource = &USER;
    let options = QueryOptions { filter: Some("MAIL eq 'a' and USERPRINCIPALNAME eq 'b'"), ..Default::default() };
    let debug = format!("{:?}", parse(resource, &options).expect("valid").filter);
    assert!(debug.contains("\"mail\"") && debug.contains("\"userPrincipalName\"") && !debug.contains("MAIL"), "{debug}");
}
