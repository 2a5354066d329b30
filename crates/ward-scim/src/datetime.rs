//! The `dateTime` type (RFC 7643 §2.3.5: xsd:dateTime, in practice RFC 3339), parsed just far enough to compare two
//! instants chronologically. No clock, no dependency.

/// An instant as seconds since 1970-01-01T00:00:00Z plus nanoseconds; ordered chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Instant {
    seconds: i64,
    nanos: u32,
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]`. Without an offset the time is taken as UTC (xsd:dateTime
/// permits a missing time zone; SCIM clients sending one mean UTC in practice).
pub(crate) fn parse_instant(text: &str) -> Option<Instant> {
    let bytes = text.as_bytes();
    if bytes.len() < 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let year = digits(bytes, 0, 4)?;
    let month = digits(bytes, 5, 2)?;
    let day = digits(bytes, 8, 2)?;
    let hour = digits(bytes, 11, 2)?;
    let minute = digits(bytes, 14, 2)?;
    let second = digits(bytes, 17, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut position = 19;
    let mut nanos: u32 = 0;
    if bytes.get(position) == Some(&b'.') {
        position += 1;
        let start = position;
        while bytes.get(position).is_some_and(u8::is_ascii_digit) {
            if position - start < 9 {
                nanos = nanos * 10 + u32::from(bytes[position] - b'0');
            }
            position += 1;
        }
        let fraction_digits = position - start;
        if fraction_digits == 0 {
            return None;
        }
        for _ in fraction_digits..9 {
            nanos *= 10;
        }
    }
    let offset_seconds: i64 = match &bytes[position..] {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let offset_hours = digits(bytes, position + 1, 2)?;
            let offset_minutes = digits(bytes, position + 4, 2)?;
            if offset_hours > 23 || offset_minutes > 59 {
                return None;
            }
            let magnitude = offset_hours * 3600 + offset_minutes * 60;
            if *sign == b'+' { magnitude } else { -magnitude }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(Instant { seconds, nanos })
}

fn digits(bytes: &[u8], start: usize, count: usize) -> Option<i64> {
    let slice = bytes.get(start..start + count)?;
    slice.iter().try_fold(0i64, |total, byte| byte.is_ascii_digit().then(|| total * 10 + i64::from(byte - b'0')))
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_instant;

    #[test]
    fn epoch_and_offsets_agree() {
        let epoch = parse_instant("1970-01-01T00:00:00Z").unwrap();
        assert_eq!(epoch, parse_instant("1970-01-01T01:00:00+01:00").unwrap());
        assert_eq!(epoch, parse_instant("1969-12-31T19:00:00-05:00").unwrap());
        assert_eq!(epoch, parse_instant("1970-01-01T00:00:00").unwrap());
    }

    #[test]
    fn rfc_7643_example_instants_order_chronologically() {
        let created = parse_instant("2010-01-23T04:56:22Z").unwrap();
        let modified = parse_instant("2011-05-13T04:42:34Z").unwrap();
        assert!(created < modified);
        assert!(parse_instant("2011-05-13T04:42:34.5Z").unwrap() > modified);
        assert!(parse_instant("2011-05-13T04:42:34.000000001Z").unwrap() > modified);
    }

    #[test]
    fn malformed_dates_are_refused() {
        for text in [
            "2011-02-29T00:00:00Z",
            "2011-13-01T00:00:00Z",
            "2011-05-13 04:42:34Z",
            "2011-05-13T04:42:34.Z",
            "2011-05-13T04:42:34+0100",
            "yesterday",
        ] {
            assert!(parse_instant(text).is_none(), "{text}");
        }
        assert!(parse_instant("2012-02-29T00:00:00Z").is_some());
    }
}
