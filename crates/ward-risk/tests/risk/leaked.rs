//! The leaked-password file: a plain list, HIBP's ordered file and range groups, padding,
//! duplicates, and the line numbers of malformed lines.

use crate::*;

/// SHA-1("password") and SHA-1("123456").
const PASSWORD: &str = "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8";
const ONE_TO_SIX: &str = "7C4A8D09CA3762AF61E59520943DC26494F8941B";
/// SHA-1("hunter2"): in no file below.
const HUNTER2: &str = "F3BBBD66A63D4BF1747940578EC3D0103530E21D";

fn digest(hex: &str) -> Sha1Digest {
    sha1_from_hex(hex).unwrap()
}

#[test]
fn a_plain_list_of_full_hashes_in_either_case() {
    let set = LeakedPasswords::parse(&format!("{PASSWORD}\n{}\n\n# a comment\n", ONE_TO_SIX.to_lowercase())).unwrap();
    assert_eq!(set.len(), 2);
    assert!(set.contains(&digest(PASSWORD)) && set.contains(&digest(ONE_TO_SIX)));
    assert!(!set.contains(&digest(HUNTER2)));
    assert_eq!(set.contains_hex(&PASSWORD.to_lowercase()), Some(true));
    assert_eq!(set.contains_hex(HUNTER2), Some(false));
    assert_eq!(set.contains_hex("not hex"), None);
}

#[test]
fn hibps_ordered_file_with_counts_and_crlf_line_ends() {
    let text = format!("{ONE_TO_SIX}:37359195\r\n{PASSWORD}:9659365\r\n");
    let set = LeakedPasswords::parse(&text).unwrap();
    assert!(set.contains(&digest(PASSWORD)) && set.contains(&digest(ONE_TO_SIX)));
}

#[test]
fn range_groups_complete_each_suffix_with_the_prefix_above_it_and_skip_padding() {
    let text = "5BAA6\n\
                1D72CD07550416C216D8AD296BF5C0AE8E0:10\n\
                1E4C9B93F3F0682250B6CF8331B7EE68FD8:9659365\n\
                011053FD0102E94D6AE2F8B83D76FAF94F6:0\n\
                7C4A8\n\
                D09CA3762AF61E59520943DC26494F8941B:37359195\n";
    let set = LeakedPasswords::parse(text).unwrap();
    assert_eq!(set.len(), 3, "the count-0 padding line is not kept");
    assert!(set.contains(&digest(PASSWORD)) && set.contains(&digest(ONE_TO_SIX)));
    assert!(set.contains(&digest("5BAA61D72CD07550416C216D8AD296BF5C0AE8E0")));
    assert!(!set.contains(&digest("5BAA6011053FD0102E94D6AE2F8B83D76FAF94F6")));
    assert!(!set.contains(&digest("7C4A81E4C9B93F3F0682250B6CF8331B7EE68FD8")), "a suffix belongs to its own prefix only");
}

#[test]
fn a_builder_streams_range_files_named_by_prefix_and_can_drop_rare_passwords() {
    let mut b = LeakedPasswordsBuilder::new().with_min_count(100);
    b.begin_range("5baa6").unwrap();
    b.push_line("1E4C9B93F3F0682250B6CF8331B7EE68FD8:9659365").unwrap();
    b.push_line("1D72CD07550416C216D8AD296BF5C0AE8E0:10").unwrap();
    b.push_line(HUNTER2).unwrap();
    let set = b.finish();
    assert!(set.contains(&digest(PASSWORD)));
    assert!(!set.contains(&digest("5BAA61D72CD07550416C216D8AD296BF5C0AE8E0")), "seen 10 times, under the minimum");
    assert!(set.contains(&digest(HUNTER2)), "a line without a count is always kept");
    assert!(LeakedPasswordsBuilder::new().begin_range("5BAA").is_err());
}

#[test]
fn duplicates_are_kept_once() {
    let text = format!("{PASSWORD}\n{PASSWORD}:3\n5BAA6\n1E4C9B93F3F0682250B6CF8331B7EE68FD8:2\n");
    assert_eq!(LeakedPasswords::parse(&text).unwrap().len(), 1);
}

#[test]
fn malformed_lines_are_refused_with_their_line_number() {
    let cases = [
        (format!("{PASSWORD}\n\n{}\n", &PASSWORD[..39]), 3),
        (format!("{PASSWORD}\n{}G\n", &PASSWORD[..39]), 2),
        (format!("{PASSWORD}:many\n"), 1),
        (format!("{PASSWORD}:\n"), 1),
        (format!("{PASSWORD}:-3\n"), 1),
        ("# no prefix yet\n1E4C9B93F3F0682250B6CF8331B7EE68FD8:1\n".to_string(), 2),
        ("5BAA6:12\n".to_string(), 1),
        ("ZZZZZ\n".to_string(), 1),
    ];
    for (text, line) in cases {
        let err = LeakedPasswords::parse(&text).expect_err(&text);
        assert_eq!(err.line(), line, "{text:?}: {err}");
        assert_eq!(err.code(), "invalidLeakedPasswordFile");
    }
    let err = LeakedPasswords::parse("1E4C9B93F3F0682250B6CF8331B7EE68FD8:1\n").unwrap_err();
    assert_eq!(err, LeakedFileError::SuffixWithoutPrefix { line: 1 });
}

#[test]
fn look_ups_agree_with_a_scan_over_random_digests() {
    let mut rng = XorShift(0xabcdef);
    let mut hexes: Vec<String> =
        (0..500).map(|_| format!("{:016X}{:016X}{:08X}", rng.next_u64(), rng.next_u64(), rng.next_u64() as u32)).collect();
    let text = hexes.join("\n");
    let set = LeakedPasswords::parse(&text).unwrap();
    assert_eq!(set.len(), 500);
    for h in &hexes {
        assert_eq!(set.contains_hex(h), Some(true));
    }
    hexes.clear();
    for _ in 0..500 {
        let probe = format!("{:016X}{:016X}{:08X}", rng.next_u64(), rng.next_u64(), rng.next_u64() as u32);
        assert_eq!(set.contains_hex(&probe), Some(false));
    }
}
