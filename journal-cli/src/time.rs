//! Timestamps on the command line: nanoseconds since the Unix epoch (FORMAT.md 2), read as an
//! integer or as RFC 3339, and shown as RFC 3339 UTC with all nine fractional digits; and the one
//! time range (`--from-time`, `--to-time`) that every command selecting events by time shares.
//!
//! Negative times are accepted everywhere: a timestamp is any `i64` (FORMAT.md 2), and times before
//! 1970 are written `-5` or `1969-12-31T23:59:59.999999995Z`. The flags take hyphen values, so
//! `--from-time -5` is a time, not an unknown flag.

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

/// `--from-time` and `--to-time`: the same flags, parser and checks for every command.
#[derive(Clone, Copy, Debug, Default, clap::Args)]
pub struct RangeArgs {
    /// Start at the first event, in file order, whose timestamp is at or after T (nanoseconds
    /// since the epoch, possibly negative, or RFC 3339).
    #[arg(long, value_name = "T", value_parser = parse, allow_hyphen_values = true)]
    pub from_time: Option<i64>,
    /// Stop at the first event after the start whose timestamp is at or after T (exclusive).
    #[arg(long, value_name = "T", value_parser = parse, allow_hyphen_values = true)]
    pub to_time: Option<i64>,
}

impl RangeArgs {
    /// The range, or a usage error if `--from-time` is after `--to-time`.
    pub fn range(&self) -> anyhow::Result<TimeRange> {
        TimeRange::new(self.from_time, self.to_time).map_err(anyhow::Error::msg)
    }
}

/// A slice of a journal by time (FORMAT.md 6.4): it starts at the first event, in file order,
/// whose timestamp is `>= from`, then takes every event in file order (whatever its timestamp)
/// until the first one whose timestamp is `>= to`, which ends it and is not taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start; `None` starts at the first event.
    pub from: Option<i64>,
    /// Exclusive end; `None` runs to the last event.
    pub to: Option<i64>,
}

/// What a [`RangeFilter`] says about one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Before the start: skip it and look at the next.
    Skip,
    /// In the range.
    Take,
    /// The end: neither this event nor any after it is in the range.
    Stop,
}

impl TimeRange {
    /// A range from `from` (inclusive) to `to` (exclusive); an error if `from > to`.
    pub fn new(from: Option<i64>, to: Option<i64>) -> Result<TimeRange, String> {
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(format!(
                    "--from-time ({}) is after --to-time ({})",
                    rfc3339(f),
                    rfc3339(t)
                ));
            }
        }
        Ok(TimeRange { from, to })
    }

    /// A filter to feed the events in file order.
    pub fn filter(self) -> RangeFilter {
        RangeFilter {
            range: self,
            started: self.from.is_none(),
        }
    }
}

/// Walks a [`TimeRange`] over events given in file order.
#[derive(Clone, Copy, Debug)]
pub struct RangeFilter {
    range: TimeRange,
    started: bool,
}

impl RangeFilter {
    /// Whether the range has started: an event at or after its start was seen (always, without
    /// one).
    pub fn started(&self) -> bool {
        self.started
    }

    /// Whether the next event, with timestamp `ts`, is skipped, taken, or ends the range.
    #[inline]
    pub fn step(&mut self, ts: i64) -> Step {
        if !self.started {
            match self.range.from {
                Some(from) if ts < from => return Step::Skip,
                _ => self.started = true,
            }
        }
        match self.range.to {
            Some(to) if ts >= to => Step::Stop,
            _ => Step::Take,
        }
    }
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

    fn slice(range: TimeRange, stamps: &[i64]) -> Vec<usize> {
        let mut f = range.filter();
        let mut out = Vec::new();
        for (i, &ts) in stamps.iter().enumerate() {
            match f.step(ts) {
                Step::Skip => {}
                Step::Take => out.push(i),
                Step::Stop => break,
            }
        }
        out
    }

    #[test]
    fn ranges_follow_file_order() {
        let stamps = [30, 10, 40, 20, 50, -7];
        let r = |from, to| TimeRange::new(from, to).unwrap();
        assert_eq!(slice(r(None, None), &stamps), [0, 1, 2, 3, 4, 5]);
        // From the first >= 35 (40), then everything until the first >= 45 (50).
        assert_eq!(slice(r(Some(35), Some(45)), &stamps), [2, 3]);
        assert_eq!(slice(r(Some(15), None), &stamps), [0, 1, 2, 3, 4, 5]);
        assert_eq!(slice(r(None, Some(35)), &stamps), [0, 1]);
        assert_eq!(slice(r(Some(-10), Some(-10)), &stamps), [] as [usize; 0]);
        assert_eq!(slice(r(Some(60), None), &stamps), [] as [usize; 0]);
        assert!(TimeRange::new(Some(2), Some(1)).is_err());
    }

    #[test]
    fn round_trips() {
        for ns in [i64::MIN, -1, 0, 1, 1_700_000_000_000_000_123, i64::MAX] {
            assert_eq!(parse(&rfc3339(ns)), Ok(ns));
        }
    }
}
