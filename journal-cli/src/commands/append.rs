//! `journal append`: append events read from stdin to a journal or a journal set, creating it if
//! it is missing.

use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use journal::set::RollPolicy;
use journal::{Error, RecoveryMode, SyncPolicy, WriterOptions};
use serde::Deserialize;

use crate::exit::{self, DataError, Status};
use crate::sink::{Mode, RollArgs, Sink, SinkOptions};
use crate::{output, time, units};

const EXAMPLES: &str = concat!(
    "\
Examples:
  printf 'hello\\nworld\\n' | journal append quotes.journal
  journal append --sync events:100 quotes.journal < feed.txt
  echo '{\"timestamp\":1700000000000000123,\"payload\":\"aGVsbG8=\"}' | journal append --format jsonl q.journal
  journal dump --format jsonl a.journal | journal append --format jsonl --start-time 1700000000000000000 b.journal
  journal append --roll 64MiB quotes.set < feed.txt      # a journal set: a segment per 64 MiB
  journal append --format jsonl --roll daily --roll-offset 22h md.set < day.jsonl

Input formats:
  lines  each line (without its \\n) is one payload, stamped with the current time
  jsonl  one object per line: \"payload\" (standard base64, required) and \"timestamp\" (ns or RFC 3339;
         the current time if absent). The other keys 'journal dump --format jsonl' writes are
         accepted: \"size\" and \"crc32\" are checked, \"index\" and \"offset\" ignored. Blank lines are
         skipped.

Sync policies (when appended events are flushed to disk; all of them are synced at the end):
  never, always (every append), events:N, bytes:SIZE (bytes:64KiB), interval:DURATION
  (interval:100ms, interval:2s)

A malformed line stops the input: every line before it is appended and synced, and the error names
the line (status 1). So does a line longer than the largest payload (1 GiB, spec/FORMAT.md 4):
reading stops there, so memory stays bounded whatever the input. A damaged journal is refused (status 1); 'journal repair' cuts the damage.

",
    crate::sink::roll_help!(),
    "\n--start-time applies to a new single journal only."
);

/// Append events read from stdin to a journal or a journal set, creating it if it does not exist.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file, or a journal set's directory (created if missing).
    file: PathBuf,
    /// Input format.
    #[arg(long, value_enum, default_value_t = InputFormat::Lines)]
    format: InputFormat,
    /// When to flush events to disk: never, always, events:N, bytes:SIZE or interval:DURATION.
    #[arg(long, value_name = "POLICY", default_value = "never", value_parser = parse_sync)]
    sync: SyncPolicy,
    /// The header's start_timestamp when the journal is created (ns since the epoch or RFC 3339);
    /// by default the time of creation. An error if the journal already exists, or with a set.
    #[arg(long, value_name = "T", value_parser = time::parse, allow_hyphen_values = true)]
    start_time: Option<i64>,
    #[command(flatten)]
    roll: RollArgs,
}

/// What `append` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// One payload per line, stamped with the current time.
    Lines,
    /// One JSON object per line with "payload" (base64) and an optional "timestamp".
    Jsonl,
}

/// A sync policy: `never`, `always`, `events:N`, `bytes:SIZE` (`bytes:64KiB`) or
/// `interval:DURATION` (`interval:100ms`), sizes and durations as [`crate::units`] reads them.
pub(crate) fn parse_sync(s: &str) -> Result<SyncPolicy, String> {
    let (kind, value) = match s.split_once(':') {
        Some((kind, v)) => (kind, Some(v)),
        None => (s, None),
    };
    let value = || value.ok_or_else(|| format!("'{kind}' needs a value: {kind}:N"));
    match (kind, s.contains(':')) {
        ("never", false) => Ok(SyncPolicy::Never),
        ("always", false) => Ok(SyncPolicy::EveryAppend),
        ("events", _) => Ok(SyncPolicy::EveryEvents(super::positive(
            value()?,
            "events",
        )?)),
        ("bytes", _) => match units::parse_size(value()?)? {
            0 => Err("bytes must be at least 1".to_owned()),
            n => Ok(SyncPolicy::EveryBytes(n)),
        },
        ("interval", _) => Ok(SyncPolicy::Interval(units::parse_duration(value()?)?)),
        _ => Err(format!("'{s}' is not a sync policy: {SYNC_POLICIES}")),
    }
}

/// The sync policies, as help and errors name them.
pub(crate) const SYNC_POLICIES: &str =
    "never, always, events:N, bytes:SIZE (e.g. bytes:64KiB) or interval:DURATION (e.g. interval:100ms)";

struct Config {
    path: PathBuf,
    format: InputFormat,
    options: WriterOptions,
    roll: Option<RollPolicy>,
}

impl TryFrom<Args> for Config {
    type Error = anyhow::Error;

    fn try_from(a: Args) -> anyhow::Result<Config> {
        let roll = a.roll.policy()?;
        let mut options = WriterOptions::new();
        options
            .sync_policy(a.sync)
            // Input arrives at pipe speed: pre-faulting whole 16 MiB chunks buys nothing here.
            .prefault(false)
            // A damaged journal is refused, not silently cut: that is `repair`'s job.
            .recovery(RecoveryMode::Strict);
        if let Some(t) = a.start_time {
            if roll.is_some() || a.file.is_dir() {
                anyhow::bail!(
                    "--start-time sets the header of a new single journal; it does not apply to a \
                     journal set"
                );
            }
            if let Ok(meta) = fs::metadata(&a.file) {
                if meta.len() > 0 {
                    anyhow::bail!(
                        "--start-time sets the header of a new journal, but {} already exists",
                        output::path(&a.file)
                    );
                }
            }
            options.start_timestamp(t);
        }
        Ok(Config {
            path: a.file,
            format: a.format,
            options,
            roll,
        })
    }
}

/// Runs `journal append`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let cfg = Config::try_from(args)?;
    let (mut w, _) = Sink::open(
        &cfg.path,
        &SinkOptions {
            writer: cfg.options.clone(),
            chunk: 4 << 20,
            roll: cfg.roll,
            mode: Mode::OpenOrCreate,
            refusing: "append",
        },
    )?;
    let copied = copy(io::stdin().lock(), &mut w, cfg.format);
    // Whatever stopped the input, the events appended so far are kept: sync, close cleanly.
    let closed = w.finish();
    match (copied, closed) {
        (Ok(()), Ok(())) => Ok(Status::Success),
        (Ok(()), Err(c)) => Err(c.into()),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(c)) => Err(exit::also_failed(e, "closing the journal", c.into())),
    }
}

/// The longest line `lines` input may hold: a payload of [`journal::MAX_PAYLOAD`] bytes and its
/// newline. Reading stops here, so memory is bounded whatever the input.
const MAX_LINE: usize = journal::MAX_PAYLOAD as usize + 1;

/// The longest line `jsonl` input may hold: the base64 of a largest payload and room for the
/// other keys.
const MAX_JSONL_LINE: usize = (journal::MAX_PAYLOAD as usize).div_ceil(3) * 4 + 4096;

/// How a bounded line read ended.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// End of input, nothing read.
    End,
    /// A line (its newline removed, if it had one: the last line may lack it).
    Complete,
    /// `max` bytes without a newline: the line is too long; the rest of it is not read.
    TooLong,
}

/// Reads one line into `line`, at most `max` bytes including its newline. The buffer grows as the
/// line does (never past `max`), and an allocation that fails is an error, not an abort.
fn read_line(input: &mut impl BufRead, line: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    line.clear();
    loop {
        let buf = match input.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(if line.is_empty() {
                Line::End
            } else {
                Line::Complete
            });
        }
        let newline = buf.iter().position(|&b| b == b'\n');
        let wanted = newline.map_or(buf.len(), |i| i + 1);
        let take = wanted.min(max - line.len());
        if line.capacity() - line.len() < take {
            let target = (line.capacity() * 2).clamp(line.len() + take, max);
            line.try_reserve_exact(target - line.len()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!("cannot allocate {target} bytes for the line"),
                )
            })?;
        }
        line.extend_from_slice(&buf[..take]);
        input.consume(take);
        if newline.is_some() && take == wanted {
            line.pop();
            return Ok(Line::Complete);
        }
        if line.len() == max {
            return Ok(Line::TooLong);
        }
    }
}

/// Appends every event of `input` to `w`, stopping at the first bad line.
fn copy(input: impl Read, w: &mut Sink, format: InputFormat) -> anyhow::Result<()> {
    let mut input = BufReader::with_capacity(1 << 16, input);
    let mut line = Vec::new();
    let mut number = 0u64;
    let max = match format {
        InputFormat::Lines => MAX_LINE,
        InputFormat::Jsonl => MAX_JSONL_LINE,
    };
    loop {
        let read = read_line(&mut input, &mut line, max)
            .with_context(|| format!("reading line {} of stdin", number + 1))?;
        number += 1;
        match read {
            Line::End => return Ok(()),
            Line::TooLong => {
                return Err(DataError(format!(
                    "line {number}: longer than {} bytes without a newline; an event's payload \
                     is at most {} bytes (FORMAT.md 4)",
                    max - 1,
                    journal::MAX_PAYLOAD
                ))
                .into())
            }
            Line::Complete => {}
        }
        let appended = match format {
            InputFormat::Lines => w.append(journal::now_ns(), &line),
            InputFormat::Jsonl => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let (ts, payload) =
                    parse_jsonl(&line).map_err(|msg| DataError(format!("line {number}: {msg}")))?;
                w.append(ts.unwrap_or_else(journal::now_ns), &payload)
            }
        };
        match appended {
            Ok(_) => {}
            Err(e @ Error::PayloadTooLarge { .. }) => {
                return Err(DataError(format!("line {number}: {e}")).into())
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("line {number}"))),
        }
    }
}

/// One `jsonl` input line, as `dump --format jsonl` writes it. Policy: `payload` is required;
/// `timestamp` is optional (the current time if absent or null); `size` and `crc32` are checked
/// when present; `index` and `offset` are accepted and ignored (they describe where the event was,
/// not what it is); any other key is an error, so a misspelt key is never silently dropped.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a JSON object with \"payload\" and optionally \"timestamp\", \"size\", \"crc32\", \"index\", \"offset\""
)]
struct JsonlEvent {
    payload: String,
    #[serde(default)]
    timestamp: Option<Nanos>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    crc32: Option<u64>,
    #[serde(default)]
    #[allow(dead_code)] // reason: accepted and ignored (see the struct's policy)
    index: Option<u64>,
    #[serde(default)]
    #[allow(dead_code)] // reason: accepted and ignored (see the struct's policy)
    offset: Option<u64>,
}

/// A timestamp given as integer nanoseconds or as a string [`time::parse`] reads.
#[derive(Debug)]
struct Nanos(i64);

impl<'de> Deserialize<'de> for Nanos {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Nanos, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Nanos;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("nanoseconds since the epoch (an i64) or an RFC 3339 string")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Nanos, E> {
                Ok(Nanos(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Nanos, E> {
                i64::try_from(v)
                    .map(Nanos)
                    .map_err(|_| E::custom(format!("\"timestamp\" {v} is outside the i64 range")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Nanos, E> {
                Err(E::custom(format!(
                    "\"timestamp\" {v:?} is not a whole number of nanoseconds"
                )))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Nanos, E> {
                time::parse(v)
                    .map(Nanos)
                    .map_err(|e| E::custom(format!("\"timestamp\": {e}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// One `jsonl` input line: its timestamp (if given) and payload.
fn parse_jsonl(line: &[u8]) -> Result<(Option<i64>, Vec<u8>), String> {
    // serde would also take a struct from an array of its fields in order; only objects are meant.
    match line.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => {}
        Some(_) if serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok() => {
            return Err("expected a JSON object".to_owned())
        }
        Some(_) => {}
    }
    let ev: JsonlEvent = match serde_json::from_slice(line) {
        Ok(ev) => ev,
        Err(e) if e.is_syntax() || e.is_eof() => {
            return Err(format!("invalid JSON: {}", json_error(&e)))
        }
        Err(e) => return Err(json_error(&e)),
    };
    let payload = BASE64
        .decode(&ev.payload)
        .map_err(|e| format!("\"payload\" is not standard base64: {e}"))?;
    let timestamp = ev.timestamp.map(|n| n.0);
    if let Some(size) = ev.size {
        if size != payload.len() as u64 {
            return Err(format!(
                "\"size\" is {size} but the payload is {} bytes",
                payload.len()
            ));
        }
    }
    if let Some(crc) = ev.crc32 {
        let ts = timestamp.ok_or("\"crc32\" covers the timestamp, so it needs \"timestamp\"")?;
        let actual = journal::checksum(ts, &payload);
        if crc != u64::from(actual) {
            return Err(format!(
                "\"crc32\" is {crc} but timestamp and payload give {actual}"
            ));
        }
    }
    Ok((timestamp, payload))
}

/// serde_json's message without its "at line 1 column N" (each input line is parsed alone).
fn json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.rfind(" at line ") {
        Some(i) => format!("{} at column {}", &msg[..i], e.column()),
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn sync_policies() {
        assert_eq!(parse_sync("never"), Ok(SyncPolicy::Never));
        assert_eq!(parse_sync("always"), Ok(SyncPolicy::EveryAppend));
        assert_eq!(parse_sync("events:10"), Ok(SyncPolicy::EveryEvents(10)));
        assert_eq!(parse_sync("bytes:4096"), Ok(SyncPolicy::EveryBytes(4096)));
        assert_eq!(
            parse_sync("bytes:64KiB"),
            Ok(SyncPolicy::EveryBytes(64 << 10))
        );
        assert_eq!(
            parse_sync("interval:250ms"),
            Ok(SyncPolicy::Interval(Duration::from_millis(250)))
        );
        assert_eq!(
            parse_sync("interval:2s"),
            Ok(SyncPolicy::Interval(Duration::from_secs(2)))
        );
        for bad in [
            "",
            "sometimes",
            "events",
            "events:",
            "events:0",
            "bytes:-1",
            "bytes:0",
            "interval:250",
            "interval:0s",
            "never:1",
            "always:2",
        ] {
            assert!(parse_sync(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lines_are_read_up_to_a_bound() {
        let mut line = Vec::new();
        let mut input = BufReader::with_capacity(4, &b"abc\ndefgh\nij\n\nxyz"[..]);
        let mut next = |max| {
            let r = read_line(&mut input, &mut line, max).unwrap();
            (r, String::from_utf8(line.clone()).unwrap())
        };
        assert_eq!(next(4), (Line::Complete, "abc".into()));
        assert_eq!(next(4), (Line::TooLong, "defg".into()));
        assert_eq!(next(4), (Line::Complete, "h".into()));
        assert_eq!(next(3), (Line::Complete, "ij".into()));
        assert_eq!(next(3), (Line::Complete, "".into()));
        // The last line needs no newline, but its bytes count against the same bound.
        assert_eq!(next(4), (Line::Complete, "xyz".into()));
        assert_eq!(next(4), (Line::End, "".into()));
        let mut input = &b"xyz"[..];
        assert_eq!(read_line(&mut input, &mut line, 3).unwrap(), Line::TooLong);
    }

    #[test]
    fn jsonl_lines() {
        assert_eq!(
            parse_jsonl(br#"{"payload":"aGVsbG8=","timestamp":5}"#),
            Ok((Some(5), b"hello".to_vec()))
        );
        assert_eq!(parse_jsonl(br#"{"payload":""}"#), Ok((None, vec![])));
        assert_eq!(
            parse_jsonl(br#"{"payload":"","timestamp":null}"#),
            Ok((None, vec![]))
        );
        assert_eq!(
            parse_jsonl(br#"{"payload":"","timestamp":-7}"#),
            Ok((Some(-7), vec![]))
        );
        assert_eq!(
            parse_jsonl(br#"{"payload":"","timestamp":"1970-01-01T00:00:00.000000007Z"}"#),
            Ok((Some(7), vec![]))
        );
        let crc = journal::checksum(5, b"hello");
        let line = format!(
            r#"{{"index":3,"offset":24,"timestamp":5,"size":5,"crc32":{crc},"payload":"aGVsbG8="}}"#
        );
        assert_eq!(
            parse_jsonl(line.as_bytes()),
            Ok((Some(5), b"hello".to_vec()))
        );
        for (bad, why) in [
            (&br#"{"payload":"aGVsbG8","timestamp":5}"#[..], "base64"),
            (br#"{"timestamp":5}"#, "missing field `payload`"),
            (br#"{"payload":"","extra":1}"#, "unknown field `extra`"),
            (br#"{"payload":"","timestamp":1.5}"#, "whole number"),
            (
                br#"{"payload":"","timestamp":9223372036854775808}"#,
                "i64 range",
            ),
            (br#"{"payload":"","timestamp":"later"}"#, "RFC 3339"),
            (br#"{"payload":"","timestamp":true}"#, "RFC 3339"),
            (br#"{"payload":"aGVsbG8=","size":4}"#, "size"),
            (br#"{"payload":"","size":-1}"#, "invalid value"),
            (
                br#"{"payload":"aGVsbG8=","timestamp":6,"crc32":1}"#,
                "crc32",
            ),
            (br#"{"payload":"aGVsbG8=","crc32":1}"#, "needs"),
            (br#"[1]"#, "expected a JSON object"),
            (br#"{"payload":"""#, "invalid JSON"),
            (br#"{"payload":"","payload":""}"#, "duplicate field"),
        ] {
            let err = parse_jsonl(bad).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
    }
}
