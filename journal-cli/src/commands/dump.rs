//! `journal dump`: print events, optionally a slice of them by index, time and count.

use std::io::IsTerminal;
use std::path::PathBuf;

use journal::Error;

use crate::exit::{DataError, Status};
use crate::output::{self, EventWriter, Format};
use crate::time::Step;
use crate::{progress, time};

const EXAMPLES: &str = "\
Examples:
  journal dump quotes.journal
  journal dump --format jsonl quotes.journal > quotes.jsonl
  journal dump --from-time 2026-11-02T14:30:00Z --to-time 2026-11-02T14:31:00Z quotes.journal
  journal dump --from-index 1000 --limit 10 --format hex quotes.journal
  journal dump --format raw quotes.journal | wc -c

Formats:
  text   index=0 time=2023-11-14T22:13:20.000000123Z size=5 text=hello
         (hex=68656c6c6f instead of text= when the payload is not UTF-8 or holds control
         characters; in text=, a backslash is written \\\\ and an invisible character such as a
         bidi control or zero-width space as \\u{202e})
  jsonl  {\"index\":0,\"offset\":24,\"timestamp\":1700000000000000123,\"size\":5,
          \"crc32\":2723780466,\"payload\":\"aGVsbG8=\"}   (payload in standard base64)
  hex    a header line per event, then a hex dump of its payload
  raw    the payload bytes, back to back

The slice: events from --from-index on, starting at the first one (in file order) whose timestamp
is >= --from-time, ending before the first one whose timestamp is >= --to-time, at most --limit.
Times are nanoseconds since the Unix epoch (negative before 1970) or RFC 3339
(2023-11-14T22:13:20.000000123Z, any offset).

A damaged journal: its valid events are dumped, then the damage is reported and the status is 1.";

/// Print a journal's events as text, JSON Lines, hex or raw bytes.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file.
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Start at this event index (counting from 0).
    #[arg(long, value_name = "N")]
    from_index: Option<u64>,
    #[command(flatten)]
    time: time::RangeArgs,
    /// Print at most N events.
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
}

/// The validated request.
pub(crate) struct Config {
    path: PathBuf,
    format: Format,
    from_index: u64,
    range: time::TimeRange,
    limit: u64,
}

impl TryFrom<Args> for Config {
    type Error = anyhow::Error;

    fn try_from(a: Args) -> anyhow::Result<Config> {
        Ok(Config {
            path: a.file,
            format: a.format,
            from_index: a.from_index.unwrap_or(0),
            range: a.time.range()?,
            limit: a.limit.unwrap_or(u64::MAX),
        })
    }
}

/// Runs `journal dump`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let cfg = Config::try_from(args)?;
    let reader = super::open_reader(&cfg.path)?;
    let header = reader.header()?;
    let mut out = EventWriter::new(output::stdout(), cfg.format);
    // A bar would garble output going to the same terminal, and JSON mode never shows one.
    let show = progress::wanted(cfg.format == Format::Jsonl) && !std::io::stdout().is_terminal();
    let mut bar = progress::Bar::new(show, header.write_offset.min(header.file_len), "dumping");

    let mut range = cfg.range.filter();
    let mut printed = 0u64;
    let mut valid = 0u64;
    for item in reader.iter() {
        if printed >= cfg.limit {
            break;
        }
        let ev = match item {
            Ok(ev) => ev,
            Err(Error::Damaged {
                path,
                offset,
                reason,
            }) => {
                drop(bar);
                out.flush()?;
                let msg = super::damage_message(&path, offset, reason, valid);
                return Err(DataError(msg).into());
            }
            Err(e) => return Err(e.into()),
        };
        valid = ev.index + 1;
        if ev.index % 4096 == 0 {
            bar.set(ev.offset);
        }
        if ev.index < cfg.from_index {
            continue;
        }
        match range.step(ev.timestamp) {
            Step::Skip => continue,
            Step::Stop => break,
            Step::Take => {}
        }
        out.write(&ev)?;
        printed += 1;
    }
    drop(bar);
    out.flush()?;
    Ok(Status::Success)
}
