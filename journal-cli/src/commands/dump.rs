//! `journal dump`: print events, optionally a slice of them by index, time and count.

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::exit::Status;
use crate::output::{self, EventWriter, Format};
use crate::source::Source;
use crate::time::Step;
use crate::{progress, time};

const EXAMPLES: &str = "\
Examples:
  journal dump quotes.journal
  journal dump --format jsonl quotes.journal > quotes.jsonl
  journal dump --from-time 2026-11-02T14:30:00Z --to-time 2026-11-02T14:31:00Z quotes.journal
  journal dump --from-index 1000 --limit 10 --format hex quotes.journal
  journal dump --format raw quotes.journal | wc -c
  journal dump --from-index 1000000 --limit 10 quotes/     # a journal set's directory

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

A journal set (a directory holding a journal-set file, spec/SET.md) is dumped as one journal: its
segments in order, with global indexes (--from-index counts across segments, and the slice starts
at the first event of the whole set whose timestamp is >= --from-time); the start is found through
the segments' names and indexes rather than by reading the set from its first event.

A damaged journal: its valid events are dumped, then the damage is reported and the status is 1.
In a set, so is a damaged segment (its valid events are dumped first), and a segment that does not
start where the one before it ends (a broken chain: status 1).";

/// Print a journal's (or a journal set's) events as text, JSON Lines, hex or raw bytes.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file, or a journal set's directory.
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Start at this event index (counting from 0; in a set, the global index).
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
    let source = Source::open(&cfg.path)?;
    let mut out = EventWriter::new(output::stdout(), cfg.format);
    // A bar would garble output going to the same terminal, and JSON mode never shows one.
    let show = progress::wanted(cfg.format == Format::Jsonl) && !std::io::stdout().is_terminal();
    let mut bar = progress::Bar::new(show, source.size()?, "dumping");

    let mut range = cfg.range.filter();
    let mut printed = 0u64;
    let mut events = source.events(cfg.from_index, cfg.range.from)?;
    while let Some(item) = events.next_event() {
        if printed >= cfg.limit {
            break;
        }
        let ev = match item {
            Ok(ev) => ev,
            Err(e) => {
                drop(bar);
                out.flush()?;
                return Err(events.error(e));
            }
        };
        if ev.index % 4096 == 0 {
            bar.set(source.progress(ev.index, ev.offset));
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
