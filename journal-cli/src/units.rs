//! The one syntax for durations and the one for sizes, for every flag that takes one.
//!
//! Durations: jiff's friendly format (`100ms`, `2s`, `1m30s`, `1h`, `250us`) or ISO 8601
//! (`PT2S`); a unit is required, so `interval:5` is refused rather than guessed as seconds or
//! milliseconds. Sizes: bytes, or a whole number with a binary unit: `4096`, `64K`, `64KiB`,
//! `16M`, `16MiB`, `1G`, `1GiB`, `1T`, `1TiB` (K = KiB = 1024; decimal `kB`/`MB` are refused
//! rather than silently taken as binary).

use std::time::Duration;

use jiff::SignedDuration;

/// Parses a positive duration: `100ms`, `2s`, `1h`, `PT0.5S`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!(
            "duration '{s}' needs a unit, e.g. {t}ms or {t}s (units: ns, us, ms, s, m, h)"
        ));
    }
    let d: SignedDuration = t
        .parse()
        .map_err(|e| format!("'{s}' is not a duration such as 100ms, 2s or 1h ({e})"))?;
    if d.is_negative() || d.is_zero() {
        return Err(format!("duration '{s}' must be positive"));
    }
    Duration::try_from(d).map_err(|e| format!("duration '{s}': {e}"))
}

/// Parses a size in bytes: `4096`, `64K`, `64KiB`, `16MiB`, `1G`, `1GiB`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let shift = match unit {
        "" | "B" => 0,
        "K" | "KiB" | "k" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        _ => {
            return Err(format!(
                "'{s}' is not a size: bytes, or a whole number with K/KiB, M/MiB, G/GiB or T/TiB \
                 (powers of 1024)"
            ))
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size: it must start with a whole number"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("size '{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("PT0.5S"), Ok(Duration::from_millis(500)));
        for bad in ["", "5", "1.5", "0s", "-1s", "soon", "1 parsec"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("5").unwrap_err().contains("needs a unit"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
        for bad in [
            "",
            "K",
            "1.5G",
            "64KB",
            "64kB",
            "1MB",
            "-1",
            "12 apples",
            "99999999999T",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
