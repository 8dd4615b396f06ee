//! `journal stats`: counts, time span, event rate per interval, gaps, backward timestamps, payload
//! sizes and the CRC state of a journal (or of a time range of it, FORMAT.md 6.4), in one pass
//! with bounded memory. The JSON schema is documented in docs/STATS.md.

mod chart;
mod image;
mod summary;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use journal::{Damage, Error};
use serde::Serialize;

use self::summary::{Gap, Summary};
use crate::exit::Status;
use crate::source::Source;
use crate::time::{self, Step};
use crate::{output, progress, units};

const EXAMPLES: &str = "\
Examples:
  journal stats quotes.journal
  journal stats --interval 100ms --gap 10ms quotes.journal
  journal stats --from-time 2026-11-02T14:30:00Z --to-time 2026-11-02T15:00:00Z quotes.journal
  journal stats --json quotes.journal | jq .rate.busiest
  journal stats --svg quotes.svg quotes.journal
  journal stats quotes/                   # a journal set, across its segments

The figures cover the events of the range (all of them by default) in file order: gaps and
backward steps are between consecutive events of the range. The CRC state is always the whole
journal's: the walk goes on past the range's end to check every entry.

Rates are per interval, aligned to multiples of the interval since the epoch. At most 262144
intervals are kept: past that, adjacent intervals are merged pairwise and the figures are per the
doubled interval (rate.interval_ns says which). Percentiles are nearest-rank; payload-size
percentiles are exact below 2048 bytes and within 0.1% above.

--json prints one object (schema 1, every member documented in docs/STATS.md): schema, path,
range, events, first_index, payload_bytes, entry_bytes, time {first, last, min, max, span_ns},
rate {requested_interval_ns, interval_ns, intervals, start, min, p50, p99, max, mean, busiest},
gaps {threshold_ns, count, longest_ns, top [{index, start, length_ns}], not_listed},
backward {count, largest_ns, first_indexes}, sizes {min, p50, p90, p99, p999, max, mean,
histogram [{from, to, events}]}, crc {intact, checked_events, damage}. Times are nanoseconds.

--svg draws the rate over time and the size histogram with titles and labels; --png draws the same
charts, its text in a font built into the binary.

Given a journal set's directory (spec/SET.md), the figures cover its segments read in order as one
journal (indexes are global); a damaged segment is reported with its name (crc.damage.segment in
JSON), and a segment that does not start where the one before it ends (a broken chain) ends the
command with status 1.

Exit status: 0 the journal is intact; 1 it is damaged (the figures cover the valid events before
the damage, which is reported); 2 usage or I/O error, or the file is not a journal.";

/// Show event count, time span, event rate, gaps, backward timestamps, payload sizes and the CRC
/// state of a journal, with charts.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal file, or a journal set's directory.
    file: PathBuf,
    #[command(flatten)]
    time: time::RangeArgs,
    /// Width of the intervals the event rate is counted over (100ms, 1s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = units::parse_duration)]
    interval: Duration,
    /// List the gaps between consecutive events longer than this (the 10 longest, the rest
    /// counted).
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = units::parse_duration)]
    gap: Duration,
    /// Print one JSON object (schema in docs/STATS.md) instead of text and charts.
    #[arg(long)]
    json: bool,
    /// Also draw the charts (rate over time, payload sizes) into an SVG file.
    #[arg(long, value_name = "FILE", conflicts_with = "png")]
    svg: Option<PathBuf>,
    /// Also draw the charts into a PNG file (the same charts, titles and labels included).
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
}

/// Where the charts go as an image.
enum ImageOut {
    Svg(PathBuf),
    Png(PathBuf),
}

struct Config {
    path: PathBuf,
    range: time::TimeRange,
    interval_ns: u64,
    gap_ns: u64,
    json: bool,
    image: Option<ImageOut>,
}

impl TryFrom<Args> for Config {
    type Error = anyhow::Error;

    fn try_from(a: Args) -> anyhow::Result<Config> {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let interval_ns = ns(a.interval);
        if interval_ns > i64::MAX as u64 {
            anyhow::bail!("--interval is too long (at most about 292 years)");
        }
        Ok(Config {
            path: a.file,
            range: a.time.range()?,
            interval_ns,
            gap_ns: ns(a.gap),
            json: a.json,
            image: match (a.svg, a.png) {
                (Some(p), _) => Some(ImageOut::Svg(p)),
                (None, Some(p)) => Some(ImageOut::Png(p)),
                (None, None) => None,
            },
        })
    }
}

/// Runs `journal stats`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let cfg = Config::try_from(args)?;
    let source = Source::open(&cfg.path)?;

    let mut sum = Summary::new(cfg.interval_ns, cfg.gap_ns);
    let mut damage = None;
    let mut checked = 0u64;
    {
        let mut bar = progress::Bar::new(progress::wanted(cfg.json), source.size()?, "reading");
        let mut range = cfg.range.filter();
        let mut taking = true;
        // Every entry is checked, so the walk starts at the first event (of a set: of its first
        // segment, through every segment).
        let mut events = source.events(0, None)?;
        while let Some(item) = events.next_event() {
            let ev = match item {
                Ok(ev) => ev,
                Err(Error::Damaged { offset, reason, .. }) => {
                    damage = Some((Damage { offset, reason }, events.segment_name()));
                    break;
                }
                Err(e) => return Err(events.error(e)),
            };
            checked += 1;
            if ev.index % 65_536 == 0 {
                bar.set(source.progress(ev.index, ev.offset));
            }
            // Past the range's end the walk goes on, checking the entries only.
            if taking {
                match range.step(ev.timestamp) {
                    Step::Skip => {}
                    Step::Stop => taking = false,
                    Step::Take => sum.add(
                        ev.index,
                        ev.timestamp,
                        ev.payload.len() as u64,
                        ev.entry.len() as u64,
                    ),
                }
            }
        }
    }

    let intact = damage.is_none();
    let report = Report::new(&cfg, &sum, checked, damage);
    if let Some(img) = &cfg.image {
        match img {
            ImageOut::Svg(p) => image::svg(p, &sum)?,
            ImageOut::Png(p) => image::png(p, &sum)?,
        }
    }
    if cfg.json {
        super::print_json(&report)?;
    } else {
        print_text(&cfg, &report, &sum)?;
    }
    Ok(if intact {
        Status::Success
    } else {
        Status::DataBad
    })
}

/// `stats --json` (docs/STATS.md).
#[derive(Debug, Serialize)]
struct Report {
    schema: u32,
    path: String,
    range: RangeJson,
    events: u64,
    first_index: Option<u64>,
    payload_bytes: u64,
    entry_bytes: u64,
    time: Option<TimeJson>,
    rate: Option<RateJson>,
    gaps: GapsJson,
    backward: BackwardJson,
    sizes: Option<SizesJson>,
    crc: CrcJson,
}

#[derive(Debug, Serialize)]
struct RangeJson {
    from: Option<i64>,
    to: Option<i64>,
}

#[derive(Debug, Serialize)]
struct TimeJson {
    first: i64,
    last: i64,
    min: i64,
    max: i64,
    span_ns: u64,
}

#[derive(Debug, Serialize)]
struct RateJson {
    requested_interval_ns: u64,
    interval_ns: u64,
    intervals: u64,
    start: i64,
    min: u64,
    p50: u64,
    p99: u64,
    max: u64,
    mean: f64,
    busiest: Busiest,
}

#[derive(Debug, Serialize)]
struct Busiest {
    start: i64,
    events: u64,
}

#[derive(Debug, Serialize)]
struct GapsJson {
    threshold_ns: u64,
    count: u64,
    longest_ns: u64,
    top: Vec<Gap>,
    not_listed: u64,
}

#[derive(Debug, Serialize)]
struct BackwardJson {
    count: u64,
    largest_ns: u64,
    first_indexes: Vec<u64>,
}

#[derive(Debug, Serialize)]
struct SizesJson {
    min: u64,
    p50: u64,
    p90: u64,
    p99: u64,
    p999: u64,
    max: u64,
    mean: f64,
    histogram: Vec<BinJson>,
}

#[derive(Debug, Serialize)]
struct BinJson {
    from: u64,
    to: u64,
    events: u64,
}

#[derive(Debug, Serialize)]
struct CrcJson {
    intact: bool,
    checked_events: u64,
    damage: Option<DamageJson>,
}

#[derive(Debug, Serialize)]
struct DamageJson {
    offset: u64,
    reason: &'static str,
    description: &'static str,
    /// For a journal set: the damaged segment's file name (`offset` is in it).
    #[serde(skip_serializing_if = "Option::is_none")]
    segment: Option<String>,
}

impl Report {
    fn new(
        cfg: &Config,
        s: &Summary,
        checked: u64,
        damage: Option<(Damage, Option<String>)>,
    ) -> Report {
        let any = s.events > 0;
        Report {
            schema: 1,
            path: output::path(&cfg.path),
            range: RangeJson {
                from: cfg.range.from,
                to: cfg.range.to,
            },
            events: s.events,
            first_index: s.first_index,
            payload_bytes: s.payload_bytes,
            entry_bytes: s.entry_bytes,
            time: any.then(|| TimeJson {
                first: s.first_ts,
                last: s.last_ts,
                min: s.min_ts,
                max: s.max_ts,
                span_ns: s.max_ts.abs_diff(s.min_ts),
            }),
            rate: any.then(|| rate_json(s)),
            gaps: GapsJson {
                threshold_ns: s.gap_threshold_ns,
                count: s.gap_count,
                longest_ns: s.longest_gap_ns,
                top: s.top_gaps.clone(),
                not_listed: s.gap_count - s.top_gaps.len() as u64,
            },
            backward: BackwardJson {
                count: s.backward_count,
                largest_ns: s.backward_largest_ns,
                first_indexes: s.backward_first.clone(),
            },
            sizes: any.then(|| SizesJson {
                min: s.size_min,
                p50: s.size_percentile(500),
                p90: s.size_percentile(900),
                p99: s.size_percentile(990),
                p999: s.size_percentile(999),
                max: s.size_max,
                mean: s.payload_bytes as f64 / s.events as f64,
                histogram: s
                    .size_bins
                    .iter()
                    .enumerate()
                    .filter(|(_, &n)| n > 0)
                    .map(|(k, &events)| {
                        let (from, to) = summary::bin_bounds(k);
                        BinJson { from, to, events }
                    })
                    .collect(),
            }),
            crc: CrcJson {
                intact: damage.is_none(),
                checked_events: checked,
                damage: damage.map(|(d, segment)| DamageJson {
                    offset: d.offset,
                    reason: d.reason.as_str(),
                    description: d.reason.describe(),
                    segment,
                }),
            },
        }
    }
}

fn rate_json(s: &Summary) -> RateJson {
    let r = &s.rate;
    let mut sorted: Vec<u64> = r.counts.iter().copied().collect();
    sorted.sort_unstable();
    let n = sorted.len() as u64;
    let at = |per_mille| sorted[(summary::rank(n, per_mille) - 1) as usize];
    // The first of the busiest intervals.
    let (busy_i, busy_n) =
        r.counts.iter().copied().enumerate().fold(
            (0, 0),
            |best, (i, c)| if c > best.1 { (i, c) } else { best },
        );
    RateJson {
        requested_interval_ns: r.requested_ns,
        interval_ns: r.width_ns,
        intervals: n,
        start: r.start_of(0),
        min: sorted[0],
        p50: at(500),
        p99: at(990),
        max: sorted[sorted.len() - 1],
        mean: s.events as f64 / n as f64,
        busiest: Busiest {
            start: r.start_of(busy_i),
            events: busy_n,
        },
    }
}

/// A duration for humans: `1.5s`, `250ms`, `12us`, `80ns`, `2h3m`.
pub fn human_ns(ns: u64) -> String {
    let f = ns as f64;
    match ns {
        0..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{}us", trim(f / 1e3)),
        1_000_000..1_000_000_000 => format!("{}ms", trim(f / 1e6)),
        1_000_000_000..60_000_000_000 => format!("{}s", trim(f / 1e9)),
        60_000_000_000..3_600_000_000_000 => {
            format!(
                "{}m{}s",
                ns / 60_000_000_000,
                ns % 60_000_000_000 / 1_000_000_000
            )
        }
        _ => format!(
            "{}h{}m",
            ns / 3_600_000_000_000,
            ns % 3_600_000_000_000 / 60_000_000_000
        ),
    }
}

/// Three significant digits at most, without trailing zeros.
fn trim(v: f64) -> String {
    let s = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

fn print_text(cfg: &Config, r: &Report, s: &Summary) -> anyhow::Result<()> {
    let mut out = output::stdout();
    let color = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let width = chart::terminal_width();
    let when = time::rfc3339;
    writeln!(out, "{}", r.path)?;
    if cfg.range.from.is_some() || cfg.range.to.is_some() {
        let bound = |t: Option<i64>| t.map_or_else(|| "-".to_owned(), when);
        writeln!(
            out,
            "range:       from {} to {} (FORMAT.md 6.4)",
            bound(cfg.range.from),
            bound(cfg.range.to)
        )?;
    }
    writeln!(
        out,
        "events:      {} ({} of payload, {} in the file)",
        r.events,
        output::count(r.payload_bytes, "byte"),
        output::count(r.entry_bytes, "byte"),
    )?;
    match &r.time {
        None => writeln!(out, "time:        - (no events)")?,
        Some(t) => {
            writeln!(
                out,
                "time:        {} .. {} (span {})",
                when(t.first),
                when(t.last),
                human_ns(t.span_ns)
            )?;
            if (t.min, t.max) != (t.first, t.last) {
                writeln!(
                    out,
                    "             earliest {}, latest {}",
                    when(t.min),
                    when(t.max)
                )?;
            }
        }
    }
    if let Some(rate) = &r.rate {
        let per = human_ns(rate.interval_ns);
        writeln!(
            out,
            "rate:        per {per}{}: min {}, median {}, p99 {}, max {} (busiest at {})",
            if rate.interval_ns == rate.requested_interval_ns {
                String::new()
            } else {
                format!(
                    " (merged from {}: too many intervals)",
                    human_ns(rate.requested_interval_ns)
                )
            },
            rate.min,
            rate.p50,
            rate.p99,
            rate.max,
            when(rate.busiest.start)
        )?;
    }
    let g = &r.gaps;
    writeln!(
        out,
        "gaps:        {} longer than {} (longest gap {})",
        g.count,
        human_ns(g.threshold_ns),
        human_ns(g.longest_ns)
    )?;
    for gap in &g.top {
        writeln!(
            out,
            "             {:>8} from {} before event {}",
            human_ns(gap.length_ns),
            when(gap.start),
            gap.index
        )?;
    }
    if g.not_listed > 0 {
        writeln!(out, "             ... and {} more", g.not_listed)?;
    }
    let b = &r.backward;
    if b.count == 0 {
        writeln!(out, "backward:    none (timestamps never decrease)")?;
    } else {
        let list: Vec<String> = b.first_indexes.iter().map(u64::to_string).collect();
        writeln!(
            out,
            "backward:    {} stepped back (largest step {}), first at event{} {}{}",
            output::count(b.count, "event"),
            human_ns(b.largest_ns),
            if list.len() == 1 { "" } else { "s" },
            list.join(", "),
            if b.count > list.len() as u64 {
                ", ..."
            } else {
                ""
            }
        )?;
    }
    if let Some(z) = &r.sizes {
        writeln!(
            out,
            "sizes:       min {}, median {}, p90 {}, p99 {}, p99.9 {}, max {}, mean {:.1} (bytes)",
            z.min, z.p50, z.p90, z.p99, z.p999, z.max, z.mean
        )?;
    }
    match &r.crc.damage {
        None => writeln!(
            out,
            "crc:         intact ({} checked)",
            output::count(r.crc.checked_events, "event")
        )?,
        Some(d) => writeln!(
            out,
            "crc:         DAMAGED at offset {}{}: {} ({}); the figures cover the {} before it",
            d.offset,
            d.segment
                .as_ref()
                .map_or_else(String::new, |s| format!(" of segment {s}")),
            d.description,
            d.reason,
            output::count(r.crc.checked_events, "valid event")
        )?,
    }
    if s.events > 0 {
        writeln!(out)?;
        chart::rate(&mut out, s, width, color)?;
        writeln!(out)?;
        chart::sizes(&mut out, s, width, color)?;
    }
    if let Some(img) = &cfg.image {
        let (ImageOut::Svg(p) | ImageOut::Png(p)) = img;
        writeln!(out, "\ncharts written to {}", output::path(p))?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_for_humans() {
        assert_eq!(human_ns(0), "0ns");
        assert_eq!(human_ns(999), "999ns");
        assert_eq!(human_ns(1_500), "1.5us");
        assert_eq!(human_ns(250_000_000), "250ms");
        assert_eq!(human_ns(1_000_000_000), "1s");
        assert_eq!(human_ns(12_340_000_000), "12.3s");
        assert_eq!(human_ns(90_000_000_000), "1m30s");
        assert_eq!(human_ns(7_380_000_000_000), "2h3m");
    }
}
