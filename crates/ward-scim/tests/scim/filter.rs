//! Filters (RFC 7644 §3.4.2.2): the RFC's examples, precedence, Entra's forms, look-up recognition and hostile
//! input.

use serde_json::json;
use ward_scim::{CompareOp, Filter, GROUP, ScimType, USER};

use super::{bjensen, jomalley, kind};

fn parse(text: &str) -> Filter {
    Filter::parse(text, &USER).unwrap_or_else(|error| panic!("{text}: {error}"))
}

fn rejected(text: &str) -> String {
    let error = Filter::parse(text, &USER).expect_err(text);
    assert_eq!(kind(&error), (400, Some(ScimType::InvalidFilter)), "{text}: {error}");
    error.detail
}

/// Every example filter of RFC 7644 §3.4.2.2, with whether bjensen and jomalley match.
#[test]
fn rfc_7644_examples_parse_and_evaluate() {
    let examples: [(&str, bool, bool); 17] = [
        (r#"userName eq "bjensen""#, false, false),
        (r#"name.familyName co "O'Malley""#, false, true),
        (r#"userName sw "J""#, false, true),
        (r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#, false, true),
        ("title pr", true, false),
        (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false, false),
        (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true, false),
        (r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, false, true),
        (r#"meta.lastModified le "2011-05-13T04:42:34Z""#, true, true),
        (r#"title pr and userType eq "Employee""#, true, false),
        (r#"title pr or userType eq "Intern""#, true, true),
        (r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#, true, false),
        (r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#, true, false),
        (r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#, false, false),
        (r#"userType eq "Employee" and (emails.type eq "work")"#, true, false),
        (r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#, true, false),
        (r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#, true, true),
    ];
    let (bjensen, jomalley) = (bjensen(), jomalley());
    for (text, expected_bjensen, expected_jomalley) in examples {
        let filter = parse(text);
        assert_eq!(filter.matches(&bjensen), expected_bjensen, "bjensen: {text}");
        assert_eq!(filter.matches(&jomalley), expected_jomalley, "jomalley: {text}");
    }
}

#[test]
fn strings_honour_case_exact() {
    let user = bjensen();
    // userName is caseExact false; id and externalId are caseExact true.
    assert!(parse(r#"userName eq "BJensen@Example.COM""#).matches(&user));
    assert!(parse(r#"id eq "2819c223-7f76-453a-919d-413861904646""#).matches(&user));
    assert!(!parse(r#"id eq "2819C223-7F76-453A-919D-413861904646""#).matches(&user));
    assert!(parse(r#"name.givenName ew "BARA""#).matches(&user));
}

#[test]
fn operators_keywords_and_attribute_names_are_case_insensitive() {
    let user = bjensen();
    assert!(parse(r#"USERNAME Eq "bjensen@example.com" AND Title PR"#).matches(&user));
    assert!(parse(r#"NOT(userType EQ "Intern")"#).matches(&user));
    assert!(parse(r#"Emails[TYPE eq "work"].VALUE eq "bjensen@example.com""#).matches(&user));
}

#[test]
fn date_times_compare_chronologically_across_offsets() {
    // 05:42:34+02:00 is 03:42:34Z.
    assert!(parse(r#"meta.lastModified eq "2011-05-13T03:42:34Z""#).matches(&jomalley()));
    assert!(!parse(r#"meta.created lt "2010-01-23T05:56:22+01:00""#).matches(&bjensen()));
    assert!(parse(r#"meta.created ge "2010-01-23T05:56:22+01:00""#).matches(&bjensen()));
}

#[test]
fn booleans_numbers_and_null() {
    let (bjensen, jomalley) = (bjensen(), jomalley());
    assert!(parse("active eq true").matches(&bjensen));
    assert!(parse("active eq false").matches(&jomalley));
    assert!(parse("active ne true").matches(&jomalley));
    // Stored by an older writer as Entra's string.
    assert!(parse("active eq false").matches(&json!({ "userName": "x", "active": "False" })));
    assert!(parse("title eq null").matches(&jomalley));
    assert!(parse("title ne null").matches(&bjensen));
}

#[test]
fn present_means_non_empty() {
    assert!(!parse("title pr").matches(&json!({ "title": "" })));
    assert!(!parse("emails pr").matches(&json!({ "emails": [] })));
    assert!(!parse("name pr").matches(&json!({ "name": {} })));
    assert!(parse("emails pr").matches(&bjensen()));
    assert!(parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr").matches(&bjensen()));
}

#[test]
fn multi_valued_attributes_match_when_any_value_does() {
    let user = bjensen();
    assert!(parse(r#"emails eq "babs@jensen.org""#).matches(&user));
    assert!(parse(r#"emails.type eq "home""#).matches(&user));
    assert!(parse(r#"phoneNumbers[type eq "mobile"]"#).matches(&user));
    // The same value has to satisfy both sides inside brackets.
    assert!(!parse(r#"emails[type eq "home" and value co "example.com"]"#).matches(&user));
    assert!(parse(r#"emails[type eq "home"] and emails[value co "example.com"]"#).matches(&user));
    // ne negates eq: true only when no value equals.
    assert!(!parse(r#"emails.type ne "work""#).matches(&user));
    assert!(parse(r#"emails.type ne "other""#).matches(&user));
}

#[test]
fn precedence_is_parentheses_then_not_then_and_then_or() {
    let Filter::Or(left, right) = parse(r#"title pr or userType eq "Intern" and active eq false"#) else { panic!("or at the top") };
    assert!(matches!(*left, Filter::Present { .. }));
    assert!(matches!(*right, Filter::And(..)));
    let Filter::Or(left, right) = parse(r#"title pr and userType eq "Intern" or active eq false"#) else { panic!("or at the top") };
    assert!(matches!(*left, Filter::And(..)));
    assert!(matches!(*right, Filter::Compare { .. }));
}

#[test]
fn not_binds_tighter_than_and() {
    let Filter::And(left, right) = parse(r#"not (title pr) and userType eq "Intern""#) else { panic!("and at the top") };
    assert!(matches!(*left, Filter::Not(_)));
    assert!(matches!(*right, Filter::Compare { op: CompareOp::Eq, .. }));
    assert!(parse(r#"not (title pr) and userType eq "Intern""#).matches(&jomalley()));
    // Erratum 7319: with or without a space after `not`.
    assert_eq!(parse("not(title pr)"), parse("not (title pr)"));
    let grouped = parse(r#"(title pr or userType eq "Intern") and active eq false"#);
    assert!(!grouped.matches(&bjensen()));
    assert!(grouped.matches(&jomalley()));
}

#[test]
fn entra_query_forms() {
    let user = bjensen();
    assert!(parse(r#"userName eq "bjensen@example.com""#).matches(&user));
    // An Entra doc sample sends the value unquoted.
    assert!(parse("externalId eq 701984").matches(&user));
    assert!(parse("externalId eq jyoung").matches(&json!({ "externalId": "jyoung" })));
    assert!(parse(r#"emails[type eq "work"].value eq "bjensen@example.com""#).matches(&user));
    assert!(!parse(r#"emails[type eq "home"].value eq "bjensen@example.com""#).matches(&user));
    assert!(parse(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#).matches(&user));
    let group = json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "g1", "displayName": "Tour Guides" });
    assert!(Filter::parse(r#"displayName eq "tour guides""#, &GROUP).unwrap().matches(&group));
}

#[test]
fn equality_forms_are_recognised_for_index_look_up() {
    let cases = [
        (r#"userName eq "Test_User_00aa""#, "userName", "Test_User_00aa", false),
        ("externalId eq jyoung", "externalId", "jyoung", true),
        (r#"emails[type eq "Work"].value eq "a@b.c""#, r#"emails[type eq "work"].value"#, "a@b.c", false),
        (r#"emails[value eq "a@b.c" and type eq "work"]"#, r#"emails[type eq "work"].value"#, "a@b.c", false),
        (r#"emails eq "a@b.c""#, "emails.value", "a@b.c", false),
        (
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:EMPLOYEENUMBER eq "7""#,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            "7",
            false,
        ),
    ];
    for (text, attribute, value, case_exact) in cases {
        let filter = parse(text);
        let term = filter.as_equality().unwrap_or_else(|| panic!("{text}"));
        assert_eq!((term.attribute.as_str(), term.value, term.case_exact), (attribute, value, case_exact), "{text}");
    }
    let both = parse(r#"userName eq "a" and externalId eq "b""#);
    let terms = both.as_equalities().unwrap();
    assert_eq!(terms.iter().map(|term| term.attribute.as_str()).collect::<Vec<_>>(), ["userName", "externalId"]);
    assert!(both.as_equality().is_none());
    for text in [r#"userName eq "a" or externalId eq "b""#, r#"userName co "a""#, "active eq true", r#"not (userName eq "a")"#] {
        assert!(parse(text).as_equalities().is_none(), "{text}");
    }
    let group = Filter::parse(r#"displayName eq "displayName""#, &GROUP).unwrap();
    assert_eq!(group.as_equality().unwrap().attribute, "displayName");
}

#[test]
fn malformed_filters_are_invalid_filter_errors_that_say_where() {
    assert!(rejected(r#"userName eq "bjensen"#).contains("unterminated string"));
    assert!(rejected(r#"userName xx "bjensen""#).contains("unknown operator 'xx'"));
    assert!(rejected("userName eq").contains("expected a value"));
    assert!(rejected(r#"emails[type eq "work""#).contains("expected ']'"));
    assert!(rejected(r#"(userName eq "a""#).contains("expected ')'"));
    assert!(rejected(r#"userName eq "a" )"#).contains("unexpected ')'"));
    assert!(rejected("not title pr").contains("expected '(' after 'not'"));
    assert!(rejected(r#"nickname2 eq "x""#).contains("unknown attribute 'nickname2'"));
    assert!(rejected(r#"emails[kind eq "work"]"#).contains("unknown attribute 'kind' for 'emails'"));
    assert!(rejected(r#"name eq "x""#).contains("complex"));
    assert!(rejected(r#"userName[value eq "x"]"#).contains("not a complex attribute"));
    assert!(rejected(r#"emails[ims[type eq "x"]]"#).contains("unknown attribute"));
    assert!(rejected(r#"userName eq "a" and"#).contains("expected an attribute name"));
    assert!(rejected("").contains("empty"));
    let detail = rejected(r#"userName eq "a" and nope pr"#);
    assert!(detail.contains("position 21"), "{detail}");
}

#[test]
fn operators_that_make_no_sense_for_a_type_are_refused() {
    rejected("active gt true");
    rejected(r#"x509Certificates.value ge "MIID""#);
    rejected(r#"active co "tr""#);
    rejected(r#"meta.lastModified sw "2011""#);
    rejected(r#"meta.lastModified gt "yesterday""#);
    rejected(r#"active eq "maybe""#);
    rejected(r#"title gt null"#);
}

#[test]
fn the_password_cannot_be_filtered_on() {
    assert!(rejected(r#"password eq "t1meMa$heen""#).contains("write-only"));
    rejected("password pr");
}

#[test]
fn string_escapes_are_json() {
    assert!(parse(r#"name.formatted eq "Ms. Barbara J Jensen, III""#).matches(&bjensen()));
    assert!(parse(r#"name.formatted sw "Ms.\u0020Barbara""#).matches(&bjensen()));
    assert!(parse(r#"displayName eq "say \"hi\"""#).matches(&json!({ "displayName": "say \"hi\"" })));
}

#[test]
fn hostile_input_is_refused_without_overflowing_the_stack() {
    let deep = format!("{}title pr{}", "(".repeat(10_000), ")".repeat(10_000));
    rejected(&deep);
    let deep_not = format!("{}title pr{}", "not (".repeat(40), ")".repeat(40));
    assert!(rejected(&deep_not).contains("nesting deeper than 32"));
    let nested_ok = format!("{}title pr{}", "(".repeat(31), ")".repeat(31));
    assert!(parse(&nested_ok).matches(&bjensen()));
    let long = format!(r#"userName eq "{}""#, "a".repeat(5_000));
    assert!(rejected(&long).contains("4096"));
    // The longest chain that fits evaluates without trouble.
    let chain = vec!["title pr"; 300].join(" and ");
    assert!(chain.len() <= 4096);
    assert!(parse(&chain).matches(&bjensen()));
    for text in ["[", "]", "\"", "((", "eq eq eq", "emails[", "emails[]", "not", "not (", "userName eq \"\\u12\"", "\u{0}"] {
        rejected(text);
    }
}
