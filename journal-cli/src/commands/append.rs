//! `journal append`: append events read from stdin, creating the journal if it is missing.

use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use journal::{Error, RecoveryMode, SyncPolicy, Writer, WriterOptions};
use serde_json::{Map, Value};

use crate::exit::{DataError, Status};
use crate::time;

const EXAMPLES: &str = "\
Examples:
  printf 'hello\\nworld\\n' | journal append quotes.journal
  journal append --sync events:100 quotes.journal < feed.txt
  echo '{\"timestamp\":1700000000000000123,\"payload\":\"aGVsbG8=\"}' | journal append --format jsonl q.journal
  journal dump --format jsonl a.journal | journal append --format jsonl --start-time 1700000000000000000 b.journal

Input formats:
  lines  each line (without its \\n) is one payload, stamped with the current time
  jsonl  one object per line: \"payload\" (standard base64, required) and \"timestamp\" (ns or RFC 3339;
         the current time if absent). The other keys 'journal dump --format jsonl' writes are
         accepted: \"size\" and \"crc32\" are checked, \"index\" and \"offset\" ignored. Blank lines are
         skipped.

Sync policies (when appended events are flushed to disk; all of them are synced at the end):
  never, always (every append), events:N, bytes:N, interval:MS

A malformed line stops the input: every line before it is appended and synced, and the error names
the line (status 1). A damaged journal is refused (status 1); 'journal repair' cuts the damage.";

/// Append events read from stdin to a journal, creating it if it does not exist.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file (created if missing).
    file: PathBuf,
    /// Input format.
    #[arg(long, value_enum, default_value_t = InputFormat::Lines)]
    format: InputFormat,
    /// When to flush events to disk: never, always, events:N, bytes:N or interval:MS.
    #[arg(long, value_name = "POLICY", default_value = "never", value_parser = parse_sync)]
    sync: SyncPolicy,
    /// The header's start_timestamp when the journal is created (ns since the epoch or RFC 3339);
    /// by default the time of creation. An error if the journal already exists.
    #[arg(long, value_name = "T", value_parser = time::parse, allow_hyphen_values = true)]
    start_time: Option<i64>,
}

/// What `append` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// One payload per line, stamped with the current time.
    Lines,
    /// One JSON object per line with "payload" (base64) and an optional "timestamp".
    Jsonl,
}

pub(crate) fn parse_sync(s: &str) -> Result<SyncPolicy, String> {
    let (kind, n) = match s.split_once(':') {
        Some((kind, n)) => (kind, Some(n)),
        None => (s, None),
    };
    let n = |what: &str| match n {
        Some(n) => super::positive(n, what),
        None => Err(format!("'{kind}' needs a value: {kind}:N")),
    };
    match (kind, s.contains(':')) {
        ("never", false) => Ok(SyncPolicy::Never),
        ("always", false) => Ok(SyncPolicy::EveryAppend),
        ("events", _) => Ok(SyncPolicy::EveryEvents(n("events")?)),
        ("bytes", _) => Ok(SyncPolicy::EveryBytes(n("bytes")?)),
        ("interval", _) => Ok(SyncPolicy::Interval(Duration::from_millis(n(
            "interval milliseconds",
        )?))),
        _ => Err(format!(
            "'{s}' is not a sync policy: never, always, events:N, bytes:N or interval:MS"
        )),
    }
}

struct Config {
    path: PathBuf,
    format: InputFormat,
    options: WriterOptions,
}

impl TryFrom<Args> for Config {
    type Error = anyhow::Error;

    fn try_from(a: Args) -> anyhow::Result<Config> {
        let mut options = WriterOptions::new();
        options
            .sync_policy(a.sync)
            // Input arrives at pipe speed: pre-faulting whole 16 MiB chunks buys nothing here.
            .chunk_size(4 << 20)
            .prefault(false)
            // A damaged journal is refused, not silently cut: that is `repair`'s job.
            .recovery(RecoveryMode::Strict);
        if let Some(t) = a.start_time {
            if let Ok(meta) = fs::metadata(&a.file) {
                if meta.len() > 0 {
                    anyhow::bail!(
                        "--start-time sets the header of a new journal, but {} already exists",
                        a.file.display()
                    );
                }
            }
            options.start_timestamp(t);
        }
        Ok(Config {
            path: a.file,
            format: a.format,
            options,
        })
    }
}

/// Runs `journal append`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let cfg = Config::try_from(args)?;
    let mut w = match cfg.options.open_or_create(&cfg.path) {
        Ok(w) => w,
        Err(e @ Error::Damaged { .. }) => {
            return Err(DataError(format!(
                "{e}; refusing to append ('journal repair {}' cuts the damage)",
                cfg.path.display()
            ))
            .into())
        }
        Err(e) => return Err(e.into()),
    };
    let copied = copy(io::stdin().lock(), &mut w, cfg.format);
    // Whatever stopped the input, the events appended so far are kept: sync, close cleanly.
    let closed = w.sync().and_then(|()| w.close());
    match (copied, closed) {
        (Ok(()), Ok(())) => Ok(Status::Success),
        (Ok(()), Err(c)) => Err(c.into()),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(c)) => Err(e.context(format!(
            "and closing the journal failed: {:#}",
            anyhow::Error::new(c)
        ))),
    }
}

/// Appends every event of `input` to `w`, stopping at the first bad line.
fn copy(input: impl Read, w: &mut Writer, format: InputFormat) -> anyhow::Result<()> {
    let mut input = BufReader::with_capacity(1 << 16, input);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .context("reading stdin")?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
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

/// The keys a line may carry: what `dump --format jsonl` writes.
const KEYS: [&str; 6] = ["index", "offset", "timestamp", "size", "crc32", "payload"];

/// One `jsonl` input line: its timestamp (if given) and payload.
fn parse_jsonl(line: &[u8]) -> Result<(Option<i64>, Vec<u8>), String> {
    let obj: Map<String, Value> = match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(obj)) => obj,
        Ok(_) => return Err("expected a JSON object".to_owned()),
        Err(e) => return Err(format!("invalid JSON: {}", json_error(&e))),
    };
    if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!(
            "unknown key \"{k}\" (expected payload, timestamp, and optionally size, crc32, index, offset)"
        ));
    }
    let payload = match obj.get("payload") {
        Some(Value::String(s)) => BASE64
            .decode(s)
            .map_err(|e| format!("\"payload\" is not standard base64: {e}"))?,
        Some(_) => return Err("\"payload\" must be a base64 string".to_owned()),
        None => return Err("missing \"payload\"".to_owned()),
    };
    let timestamp = match obj.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_i64().ok_or_else(|| {
            format!("\"timestamp\" {n} is not a whole number of nanoseconds in the i64 range")
        })?),
        Some(Value::String(s)) => Some(time::parse(s).map_err(|e| format!("\"timestamp\": {e}"))?),
        Some(_) => return Err("\"timestamp\" must be nanoseconds or an RFC 3339 string".to_owned()),
    };
    for key in ["index", "offset", "size", "crc32"] {
        if obj.get(key).is_some_and(|v| !v.is_u64()) {
            return Err(format!("\"{key}\" must be a non-negative integer"));
        }
    }
    if let Some(size) = obj.get("size").and_then(Value::as_u64) {
        if size != payload.len() as u64 {
            return Err(format!(
                "\"size\" is {size} but the payload is {} bytes",
                payload.len()
            ));
        }
    }
    if let Some(crc) = obj.get("crc32").and_then(Value::as_u64) {
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

/// serde_json's message without its "at line 1" (each input line is parsed alone).
fn json_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.rfind(" at line ") {
        Some(i) => format!("{} at column {}", &msg[..i], e.column()),
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_policies() {
        assert_eq!(parse_sync("never"), Ok(SyncPolicy::Never));
        assert_eq!(parse_sync("always"), Ok(SyncPolicy::EveryAppend));
        assert_eq!(parse_sync("events:10"), Ok(SyncPolicy::EveryEvents(10)));
        assert_eq!(parse_sync("bytes:4096"), Ok(SyncPolicy::EveryBytes(4096)));
        assert_eq!(
            parse_sync("interval:250"),
            Ok(SyncPolicy::Interval(Duration::from_millis(250)))
        );
        for bad in [
            "",
            "sometimes",
            "events",
            "events:",
            "events:0",
            "bytes:-1",
            "never:1",
            "always:2",
        ] {
            assert!(parse_sync(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn jsonl_lines() {
        assert_eq!(
            parse_jsonl(br#"{"payload":"aGVsbG8=","timestamp":5}"#),
            Ok((Some(5), b"hello".to_vec()))
        );
        assert_eq!(parse_jsonl(br#"{"payload":""}"#), Ok((None, vec![])));
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
            (br#"{"timestamp":5}"#, "missing"),
            (br#"{"payload":"","extra":1}"#, "unknown key"),
            (br#"{"payload":"","timestamp":1.5}"#, "whole number"),
            (br#"{"payload":"","timestamp":"later"}"#, "RFC 3339"),
            (br#"{"payload":"aGVsbG8=","size":4}"#, "size"),
            (
                br#"{"payload":"aGVsbG8=","timestamp":6,"crc32":1}"#,
                "crc32",
            ),
            (br#"{"payload":"aGVsbG8=","crc32":1}"#, "needs"),
            (br#"[1]"#, "object"),
            (br#"{"payload":"""#, "invalid JSON"),
        ] {
            let err = parse_jsonl(bad).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
    }
}
