//! Terminal charts of `journal stats`, drawn with Unicode block elements to the terminal's width:
//! the event rate over time (columns of eighth blocks) and the payload-size histogram (bars of
//! eighth blocks). Colour only when asked (the caller checks the terminal and `NO_COLOR`).

use std::io::{self, Write};

use super::human_ns;
use super::summary::{bin_bounds, range_label, Summary};
use crate::time;

/// Rows of the rate chart.
const HEIGHT: u64 = 8;
const COLUMNS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const BARS: [char; 9] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'];
const COLOR: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

/// The terminal's width when stdout is one, else 80; kept between 40 and 200 columns.
pub fn terminal_width() -> usize {
    let cols = rustix::termios::tcgetwinsize(std::io::stdout())
        .map(|w| usize::from(w.ws_col))
        .unwrap_or(0);
    if cols == 0 {
        80
    } else {
        cols.clamp(40, 200)
    }
}

/// The rate over time: one column per interval, or per group of adjacent intervals showing the
/// busiest of them when there are more intervals than columns.
pub fn rate(out: &mut impl Write, s: &Summary, width: usize, color: bool) -> io::Result<()> {
    let r = &s.rate;
    let n = r.counts.len();
    let max = r.counts.iter().copied().max().unwrap_or(0);
    let label = max.to_string().len().max(1);
    let room = width.saturating_sub(label + 3).max(1);
    // Few intervals: each is drawn `stretch` columns wide. Many: column c covers the intervals
    // [c * n / cols, (c + 1) * n / cols).
    let stretch = (room / n.max(1)).max(1);
    let cols = if n <= room { n * stretch } else { room };
    let values: Vec<u64> = if n <= room {
        (0..cols).map(|c| r.counts[c / stretch]).collect()
    } else {
        (0..cols)
            .map(|c| {
                let (a, b) = (c * n / cols, ((c + 1) * n / cols).max(c * n / cols + 1));
                r.counts.range(a..b.min(n)).copied().max().unwrap_or(0)
            })
            .collect()
    };
    let per = human_ns(r.width_ns);
    if n > cols {
        writeln!(
            out,
            "events per {per} (each column: the busiest of {}-{} intervals)",
            n / cols,
            n.div_ceil(cols)
        )?;
    } else {
        writeln!(out, "events per {per}")?;
    }
    for row in (0..HEIGHT).rev() {
        let tag = match row {
            r if r == HEIGHT - 1 => max.to_string(),
            0 => "0".to_owned(),
            _ => String::new(),
        };
        write!(out, "{tag:>label$} │")?;
        if color {
            write!(out, "{COLOR}")?;
        }
        let mut line = String::with_capacity(cols * 3);
        for &v in &values {
            // Eighths of the chart's height, at least one for a non-empty interval.
            let level = if max == 0 {
                0
            } else {
                (v * HEIGHT * 8).div_ceil(max)
            };
            let fill = level.saturating_sub(row * 8).min(8);
            line.push(COLUMNS[fill as usize]);
        }
        write!(out, "{}", line.trim_end())?;
        if color {
            write!(out, "{RESET}")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "{:>label$} └{}", "", "─".repeat(cols))?;
    let start = time::rfc3339(r.start_of(0));
    let end = time::rfc3339(r.start_of(n).saturating_sub(1).max(r.start_of(0)));
    let pad = (cols + 2).saturating_sub(start.len() + end.len());
    if pad >= 2 {
        writeln!(out, "{:>label$} {start}{}{end}", "", " ".repeat(pad - 1))?;
    } else {
        writeln!(out, "{:>label$} {start} .. {end}", "")?;
    }
    Ok(())
}

/// Most rows of the size chart: past it, adjacent bins share a row.
const SIZE_ROWS: usize = 24;

/// The payload sizes: one bar per bin (or group of adjacent bins), from the smallest to the
/// largest non-empty one.
pub fn sizes(out: &mut impl Write, s: &Summary, width: usize, color: bool) -> io::Result<()> {
    let bins = &s.size_bins;
    let (Some(lo), Some(hi)) = (
        bins.iter().position(|&c| c > 0),
        bins.iter().rposition(|&c| c > 0),
    ) else {
        return Ok(());
    };
    let group = (hi - lo + 1).div_ceil(SIZE_ROWS);
    let rows: Vec<(String, u64)> = (lo..=hi)
        .step_by(group)
        .map(|a| {
            let b = (a + group - 1).min(hi);
            let label = range_label(bin_bounds(a).0, bin_bounds(b).1);
            (label, bins[a..=b].iter().sum())
        })
        .collect();
    let label = rows.iter().map(|r| r.0.len()).max().unwrap_or(1);
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
    let count = max.to_string().len();
    // Label, " B │", bar, " count (100.0%)".
    let bar = width.saturating_sub(label + 4 + count + 10).max(8);
    writeln!(out, "payload sizes (bytes)")?;
    for (l, c) in &rows {
        let eighths = (u128::from(*c) * bar as u128 * 8).div_ceil(u128::from(max)) as usize;
        let mut line = "█".repeat(eighths / 8);
        if !eighths.is_multiple_of(8) {
            line.push(BARS[eighths % 8]);
        }
        let pad = bar.saturating_sub(line.chars().count());
        let pct = *c as f64 * 100.0 / s.events as f64;
        let (on, off) = if color { (COLOR, RESET) } else { ("", "") };
        writeln!(
            out,
            "{l:>label$} B │{on}{line}{off}{:pad$} {c:>count$} ({pct:.1}%)",
            ""
        )?;
    }
    Ok(())
}
