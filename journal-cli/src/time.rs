//! Timestamps on the command line: nanoseconds since the Unix epoch (FORMAT.md 2), read as an
//! integer or as RFC 3339, and shown as RFC 3339 UTC with all nine fractional digits.

use jiff::fmt::temporal::DateTimePrinter;
use jiff::Timestamp;

/// Every `i64` nanosecond count (years 1677 to 2262) is inside jiff's range, so printing never
/// fails; the fallback only guards against that changing.
const PRINTER: DateTimePrinter = DateTimePrinter::new().precision(Some(9));

/// Parses `-5`, `1700000000000000123` (nanoseconds) or `2023-11-14T22:13:20.000000123Z` (RFC 3339,
/// any offset) into nanoseconds since the epoch.
pub fn parse(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<i64>()
            .map_err(|_| format!("{s} nanoseconds is outside the i64 range"));
    }
    let ts: Timestamp = s.parse().map_err(|e| {
        format!("'{s}' is neither nanoseconds since the epoch nor an RFC 3339 time ({e})")
    })?;
    i64::try_from(ts.as_nanosecond())
        .map_err(|_| format!("'{s}' is outside the range of i64 nanoseconds (1677 to 2262)"))
}

/// Appends `ns` as RFC 3339 UTC with nanoseconds, e.g. `2023-11-14T22:13:20.000000123Z`.
pub fn push_rfc3339(ns: i64, out: &mut String) {
    match Timestamp::from_nanosecond(i128::from(ns)) {
        Ok(ts) => {
            // Writing into a String cannot fail.
            let _ = PRINTER.print_timestamp(&ts, &mut *out);
        }
        Err(_) => out.push_str(&ns.to_string()),
    }
}

/// `ns` as RFC 3339 UTC with nanoseconds.
pub fn rfc3339(ns: i64) -> String {
    let mut s = String::with_capacity(30);
    push_rfc3339(ns, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_nine_digits() {
        assert_eq!(
            rfc3339(1_700_000_000_000_000_123),
            "2023-11-14T22:13:20.000000123Z"
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(rfc3339(i64::MIN), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(rfc3339(i64::MAX), "2262-04-11T23:47:16.854775807Z");
    }

    #[test]
    fn parses_integers_and_rfc3339() {
        assert_eq!(parse("1700000000000000123"), Ok(1_700_000_000_000_000_123));
        assert_eq!(parse("-5"), Ok(-5));
        assert_eq!(
            parse("2023-11-14T22:13:20.000000123Z"),
            Ok(1_700_000_000_000_000_123)
        );
        assert_eq!(
            parse("2023-11-15T00:13:20.5+02:00"),
            Ok(1_700_000_000_500_000_000)
        );
        assert!(parse("99999999999999999999").is_err());
        assert!(parse("yesterday").is_err());
        assert!(parse("").is_err());
        assert!(parse("2300-01-01T00:00:00Z").is_err());
        assert!(
            parse("2023-11-14T22:13:20").is_err(),
            "no offset: ambiguous"
        );
    }

    #[test]
    fn round_trips() {
        for ns in [i64::MIN, -1, 0, 1, 1_700_000_000_000_000_123, i64::MAX] {
            assert_eq!(parse(&rfc3339(ns)), Ok(ns));
        }
    }
}
