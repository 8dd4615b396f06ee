//! `journal stats` with the real binary, on synthetic journals with known gaps, bursts, backward
//! steps and payload sizes: every figure of `--json` is checked against a direct computation over
//! the events the test wrote (docs/STATS.md defines each one).

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use journal::{Reader, Writer};
use serde_json::{json, Value};
use tempfile::TempDir;

mod common;
use common::{assert_error, json, run, s};

/// 2023-11-14T22:13:20Z (FORMAT.md 12).
const T0: i64 = 1_700_000_000_000_000_000;
const MS: i64 = 1_000_000;

/// One event as written: timestamp and payload size.
#[derive(Clone, Copy, Debug)]
struct Ev {
    ts: i64,
    size: usize,
}

/// A small deterministic generator (xorshift), so the journal is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Events with steady traffic (about 1 ms apart), bursts (hundreds in the same millisecond),
/// silences of 150 ms to 2 s (more than the 10 listed), timestamps that step back by up to 50 ms,
/// and payloads of 0 to 1999 bytes.
fn synthetic(n: usize) -> Vec<Ev> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ts = T0 + 123;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let roll = rng.below(1000);
        if roll < 3 {
            // A burst at one instant and just after.
            for _ in 0..200 + rng.below(300) {
                ts += rng.below(3) as i64;
                out.push(Ev {
                    ts,
                    size: rng.below(64) as usize,
                });
            }
            continue;
        }
        ts += match roll {
            3..=9 => 150 * MS + rng.below(1_850) as i64 * MS,
            10..=24 => -(rng.below(50 * MS as u64) as i64) - 1,
            25..=40 => 0,
            _ => rng.below(2 * MS as u64) as i64,
        };
        let size = match rng.below(10) {
            0 => 0,
            1..=6 => 16 + rng.below(48) as usize,
            7 | 8 => 64 + rng.below(500) as usize,
            _ => rng.below(2_000) as usize,
        };
        out.push(Ev { ts, size });
    }
    out.truncate(n);
    out
}

fn write(dir: &TempDir, name: &str, events: &[Ev]) -> PathBuf {
    let path = dir.path().join(name);
    let mut w = Writer::options()
        .chunk_size(64 * 1024)
        .start_timestamp(T0)
        .create(&path)
        .unwrap();
    let payload: Vec<u8> = (0..4096u32).map(|i| (i * 7) as u8).collect();
    for e in events {
        w.append(e.ts, &payload[..e.size]).unwrap();
    }
    w.close().unwrap();
    path
}

/// Nearest-rank percentile of sorted values (docs/STATS.md).
fn pct(sorted: &[u64], per_mille: u64) -> u64 {
    let n = sorted.len() as u64;
    let rank = (n * per_mille).div_ceil(1000).max(1);
    sorted[(rank - 1) as usize]
}

/// Size bin of docs/STATS.md: 0 to 7 on their own, then each power of two split in four.
fn bin(size: u64) -> (u64, u64) {
    if size < 8 {
        return (size, size);
    }
    let p = 1u64 << (63 - size.leading_zeros());
    let w = p / 4;
    let lo = p + (size - p) / w * w;
    (lo, lo + w - 1)
}

/// The `--json` object that `stats` must print for `events` (the whole range), with the entry
/// bytes read back from the file, rate intervals of `interval` ns and gaps above `gap` ns.
fn expected(path: &Path, first_index: u64, events: &[Ev], interval: i64, gap: u64) -> Value {
    let n = events.len() as u64;
    let reader = Reader::open(path).unwrap();
    let entry_bytes: u64 = reader
        .iter()
        .map(|e| e.unwrap())
        .skip(first_index as usize)
        .take(events.len())
        .map(|e| e.entry.len() as u64)
        .sum();
    let checked = reader.verify().unwrap().events;
    let crc = json!({"intact": true, "checked_events": checked, "damage": null});
    if events.is_empty() {
        return json!({
            "schema": 1, "path": s(path), "range": {"from": null, "to": null},
            "events": 0, "first_index": null, "payload_bytes": 0, "entry_bytes": 0,
            "time": null, "rate": null,
            "gaps": {"threshold_ns": gap, "count": 0, "longest_ns": 0, "top": [], "not_listed": 0},
            "backward": {"count": 0, "largest_ns": 0, "first_indexes": []},
            "sizes": null, "crc": crc,
        });
    }
    let stamps: Vec<i64> = events.iter().map(|e| e.ts).collect();
    let (min, max) = (*stamps.iter().min().unwrap(), *stamps.iter().max().unwrap());

    // Rate: the interval doubles until the intervals from the earliest to the latest event fit
    // in 2^18.
    // (In i128: the intervals between two i64 timestamps can outnumber an i64.)
    let mut width = i128::from(interval);
    let slot = |t: i64, w: i128| i128::from(t).div_euclid(w);
    while slot(max, width) - slot(min, width) + 1 > 1 << 18 {
        width *= 2;
    }
    let first_slot = slot(min, width);
    let slots = (slot(max, width) - first_slot + 1) as usize;
    let mut counts = vec![0u64; slots];
    for &t in &stamps {
        counts[(slot(t, width) - first_slot) as usize] += 1;
    }
    let busiest = counts.iter().copied().max().unwrap();
    let busiest_at = counts.iter().position(|&c| c == busiest).unwrap() as i128;
    // An interval's start, clamped to the i64 range (docs/STATS.md).
    let start = |s: i128| (s * width).clamp(i64::MIN.into(), i64::MAX.into()) as i64;
    let mut sorted = counts.clone();
    sorted.sort_unstable();

    // Gaps and backward steps between consecutive events.
    let mut gaps: Vec<(u64, u64, i64)> = Vec::new(); // (length, index, start)
    let mut longest = 0u64;
    let (mut back, mut back_max, mut back_first) = (0u64, 0u64, Vec::new());
    for (i, w) in stamps.windows(2).enumerate() {
        let index = first_index + i as u64 + 1;
        if w[1] > w[0] {
            let d = w[1].abs_diff(w[0]);
            longest = longest.max(d);
            if d > gap {
                gaps.push((d, index, w[0]));
            }
        } else if w[1] < w[0] {
            back += 1;
            back_max = back_max.max(w[0].abs_diff(w[1]));
            if back_first.len() < 10 {
                back_first.push(index);
            }
        }
    }
    let gap_count = gaps.len() as u64;
    gaps.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let top: Vec<Value> = gaps
        .iter()
        .take(10)
        .map(|&(d, index, start)| json!({"index": index, "start": start, "length_ns": d}))
        .collect();

    // Sizes.
    let mut sizes: Vec<u64> = events.iter().map(|e| e.size as u64).collect();
    let payload: u64 = sizes.iter().sum();
    sizes.sort_unstable();
    let mut hist: Vec<(u64, u64, u64)> = Vec::new();
    for &z in &sizes {
        let (lo, hi) = bin(z);
        match hist.last_mut() {
            Some(last) if last.0 == lo => last.2 += 1,
            _ => hist.push((lo, hi, 1)),
        }
    }

    json!({
        "schema": 1,
        "path": s(path),
        "range": {"from": null, "to": null},
        "events": n,
        "first_index": first_index,
        "payload_bytes": payload,
        "entry_bytes": entry_bytes,
        "time": {
            "first": stamps[0], "last": stamps[stamps.len() - 1],
            "min": min, "max": max, "span_ns": max.abs_diff(min),
        },
        "rate": {
            "requested_interval_ns": interval,
            "interval_ns": width as u64,
            "intervals": slots,
            "start": start(first_slot),
            "min": sorted[0],
            "p50": pct(&sorted, 500),
            "p99": pct(&sorted, 990),
            "max": busiest,
            "mean": n as f64 / slots as f64,
            "busiest": {"start": start(first_slot + busiest_at), "events": busiest},
        },
        "gaps": {
            "threshold_ns": gap,
            "count": gap_count,
            "longest_ns": longest,
            "top": top,
            "not_listed": gap_count - top.len() as u64,
        },
        "backward": {"count": back, "largest_ns": back_max, "first_indexes": back_first},
        "sizes": {
            "min": sizes[0],
            "p50": pct(&sizes, 500),
            "p90": pct(&sizes, 900),
            "p99": pct(&sizes, 990),
            "p999": pct(&sizes, 999),
            "max": sizes[sizes.len() - 1],
            "mean": payload as f64 / n as f64,
            "histogram": hist.iter().map(|&(from, to, events)| json!({"from": from, "to": to, "events": events})).collect::<Vec<_>>(),
        },
        "crc": crc,
    })
}

/// The paths at which `got` and `want` differ, with both values.
fn differences(at: &str, got: &Value, want: &Value, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for k in g.keys().chain(w.keys().filter(|k| !g.contains_key(*k))) {
                let (a, b) = (
                    g.get(k).unwrap_or(&Value::Null),
                    w.get(k).unwrap_or(&Value::Null),
                );
                differences(&format!("{at}.{k}"), a, b, out);
            }
        }
        (Value::Array(g), Value::Array(w)) if g.len() == w.len() => {
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                differences(&format!("{at}[{i}]"), a, b, out);
            }
        }
        // The test's JSON parser reads the last digit of a float approximately.
        (Value::Number(a), Value::Number(b))
            if a.is_f64() && b.is_f64() && {
                let (x, y) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                (x - y).abs() <= 1e-12 * y.abs()
            } => {}
        (a, b) if a != b => out.push(format!("{at}: got {a}, want {b}")),
        _ => {}
    }
}

/// Asserts that `got` is `want`, naming every field that differs.
#[track_caller]
fn assert_same(got: &Value, want: &Value) {
    let mut diff = Vec::new();
    differences("", got, want, &mut diff);
    assert!(diff.is_empty(), "{}", diff.join("\n"));
}

fn stats_json(args: &[&str]) -> Value {
    let mut all = vec!["stats", "--json"];
    all.extend_from_slice(args);
    let r = run(&all);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 1, "{r:?}");
    json(&r.stdout)
}

#[test]
fn stats_json_figures_are_those_computed_from_the_events() {
    let dir = TempDir::new().unwrap();
    let events = synthetic(20_000);
    let path = write(&dir, "q.journal", &events);
    let got = stats_json(&[s(&path)]);
    let want = expected(&path, 0, &events, 1_000_000_000, 100_000_000);
    assert_same(&got, &want);
    // The journal has what the test means it to: listed and unlisted gaps, backward steps, more
    // than one interval, several size bins.
    assert!(got["gaps"]["not_listed"].as_u64().unwrap() > 0, "{got}");
    assert!(got["backward"]["count"].as_u64().unwrap() > 10, "{got}");
    assert!(got["rate"]["intervals"].as_u64().unwrap() > 10, "{got}");
    assert!(
        got["sizes"]["histogram"].as_array().unwrap().len() > 20,
        "{got}"
    );

    // Other interval and gap widths.
    let got = stats_json(&["--interval", "10ms", "--gap", "40ms", s(&path)]);
    assert_same(&got, &expected(&path, 0, &events, 10_000_000, 40_000_000));
}

#[test]
fn stats_merges_intervals_past_the_cap_and_says_so() {
    let dir = TempDir::new().unwrap();
    let events = synthetic(5_000);
    let path = write(&dir, "q.journal", &events);
    // 1 us intervals over a span of minutes: far more than 2^18 of them.
    let got = stats_json(&["--interval", "1us", s(&path)]);
    assert_same(&got, &expected(&path, 0, &events, 1_000, 100_000_000));
    let width = got["rate"]["interval_ns"].as_u64().unwrap();
    assert!(
        width > 1_000 && width.is_multiple_of(1_000) && (width / 1_000).is_power_of_two(),
        "{got}"
    );
    assert!(
        got["rate"]["intervals"].as_u64().unwrap() <= 1 << 18,
        "{got}"
    );
}

#[test]
fn stats_covers_the_time_range_and_checks_the_whole_journal() {
    let dir = TempDir::new().unwrap();
    let events = synthetic(6_000);
    let path = write(&dir, "q.journal", &events);
    let from = events[1_000].ts + 1;
    let to = events[4_000].ts;
    // FORMAT.md 6.4: from the first event at or after `from`, to the first one after it at or
    // after `to` (excluded), in file order.
    let start = events.iter().position(|e| e.ts >= from).unwrap();
    let len = events[start..]
        .iter()
        .position(|e| e.ts >= to)
        .unwrap_or(events.len() - start);
    let slice = &events[start..start + len];
    let got = stats_json(&[
        "--from-time",
        &from.to_string(),
        "--to-time",
        &to.to_string(),
        s(&path),
    ]);
    let mut want = expected(&path, start as u64, slice, 1_000_000_000, 100_000_000);
    want["range"] = json!({"from": from, "to": to});
    assert_same(&got, &want);
    assert_eq!(got["crc"]["checked_events"], events.len() as u64);
}

#[test]
fn stats_handles_timestamps_at_the_ends_of_the_i64_range() {
    let dir = TempDir::new().unwrap();
    let events: Vec<Ev> = [0, i64::MIN, i64::MAX, -1, i64::MIN + 1, 1_000, i64::MAX]
        .iter()
        .enumerate()
        .map(|(i, &ts)| Ev { ts, size: i * 100 })
        .collect();
    let path = write(&dir, "wide.journal", &events);
    for interval in [("1ns", 1), ("1s", 1_000_000_000)] {
        let got = stats_json(&["--interval", interval.0, s(&path)]);
        assert_same(&got, &expected(&path, 0, &events, interval.1, 100_000_000));
    }
    let svg = dir.path().join("wide.svg");
    let r = run(&["stats", "--svg", s(&svg), s(&path)]);
    assert_eq!(r.code, 0, "{r:?}");
    roxmltree::Document::parse(&std::fs::read_to_string(&svg).unwrap()).unwrap();
}

#[test]
fn stats_of_an_empty_journal() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "empty.journal", &[]);
    let got = stats_json(&[s(&path)]);
    assert_same(&got, &expected(&path, 0, &[], 1_000_000_000, 100_000_000));
    let svg = dir.path().join("empty.svg");
    let r = run(&["stats", "--svg", s(&svg), s(&path)]);
    assert_eq!(r.code, 0, "{r:?}");
    roxmltree::Document::parse(&std::fs::read_to_string(&svg).unwrap()).unwrap();
    let r = run(&["stats", s(&path)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("events:      0 "), "{r:?}");
    assert!(r.stdout.contains("time:        - (no events)"), "{r:?}");
    assert!(
        r.stdout.contains("crc:         intact (0 events checked)"),
        "{r:?}"
    );
}

#[test]
fn stats_of_a_damaged_journal_covers_the_valid_events_and_says_where_the_damage_starts() {
    let dir = TempDir::new().unwrap();
    let events = synthetic(3_000);
    let path = write(&dir, "bad.journal", &events);
    // A flipped bit in the payload of the first non-empty event from 2000 on: its CRC no longer
    // matches (FORMAT.md 5), and the content ends before it.
    let k = (2_000..events.len()).find(|&i| events[i].size > 0).unwrap();
    let reader = Reader::open(&path).unwrap();
    let bad = reader.iter().nth(k).unwrap().unwrap();
    let offset = bad.offset;
    let into = bad.payload.as_ptr() as u64 - bad.entry.as_ptr() as u64;
    drop(reader);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, offset + into).unwrap();
    f.write_all_at(&[b[0] ^ 1], offset + into).unwrap();
    drop(f);

    let r = run(&["stats", "--json", s(&path)]);
    assert_eq!(r.code, 1, "{r:?}");
    let got = json(&r.stdout);
    let mut want = expected(&path, 0, &events[..k], 1_000_000_000, 100_000_000);
    want["crc"] = json!({
        "intact": false,
        "checked_events": k,
        "damage": {"offset": offset, "reason": "checksum", "description": got["crc"]["damage"]["description"]},
    });
    assert_same(&got, &want);
    assert!(got["crc"]["damage"]["description"].is_string(), "{got}");

    let r = run(&["stats", s(&path)]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout
            .contains(&format!("crc:         DAMAGED at offset {offset}: "))
            && r.stdout
                .contains(&format!("the figures cover the {k} valid events before it")),
        "{r:?}"
    );
    assert_eq!(r.stderr, "", "{r:?}");
}

#[test]
fn stats_text_shows_the_figures_and_both_charts_without_colour_off_a_terminal() {
    let dir = TempDir::new().unwrap();
    let events = synthetic(4_000);
    let path = write(&dir, "q.journal", &events);
    let r = run(&["stats", s(&path)]);
    assert_eq!(r.code, 0, "{r:?}");
    let out = &r.stdout;
    assert!(!out.contains('\x1b'), "no colour into a pipe: {out}");
    let want = expected(&path, 0, &events, 1_000_000_000, 100_000_000);
    assert!(
        out.contains(&format!("events:      {} ", events.len())),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "max {} (busiest at ",
            want["rate"]["max"].as_u64().unwrap()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "backward:    {} events stepped back",
            want["backward"]["count"]
        )),
        "{out}"
    );
    assert!(out.contains("events per 1s\n"), "{out}");
    assert!(out.contains("payload sizes (bytes)\n"), "{out}");
    // The charts fit 80 columns (no terminal: the default width).
    let chart: Vec<&str> = out
        .lines()
        .filter(|l| l.contains('│') || l.contains('└'))
        .collect();
    assert!(chart.len() > 10, "{out}");
    assert!(chart.iter().all(|l| l.chars().count() <= 80), "{out}");
    assert!(out.contains('█'), "{out}");
}

/// The points of an SVG `<polyline>`.
fn points(node: roxmltree::Node<'_, '_>) -> usize {
    node.attribute("points")
        .unwrap_or("")
        .split_whitespace()
        .count()
}

#[test]
fn stats_svg_is_well_formed_with_the_rate_line_and_the_size_bars() {
    let dir = TempDir::new().unwrap();
    let events = synthetic(4_000);
    let path = write(&dir, "q.journal", &events);
    let svg = dir.path().join("charts.svg");
    let r = run(&["stats", "--json", "--svg", s(&svg), s(&path)]);
    assert_eq!(r.code, 0, "{r:?}");
    let figures = json(&r.stdout);
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    // The rate: one step line, two points per interval.
    let intervals = figures["rate"]["intervals"].as_u64().unwrap() as usize;
    let lines: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke") == Some("#0000FF"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(points(lines[0]), 2 * intervals);
    // The sizes: one bar per non-empty bin.
    let bins = figures["sizes"]["histogram"].as_array().unwrap().len();
    let bars = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some("#0000FF"))
        .count();
    assert_eq!(bars, bins, "{text}");
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    assert!(
        texts.iter().any(|t| t.starts_with("events per 1s from ")),
        "{texts:?}"
    );
    assert!(texts.contains(&"payload sizes (bytes)"), "{texts:?}");
}

#[test]
fn stats_png_is_a_png_of_the_charts() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "q.journal", &synthetic(2_000));
    let png = dir.path().join("charts.png");
    let r = run(&["stats", "--png", s(&png), s(&path)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("charts written to "), "{r:?}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..16], b"IHDR");
    let dim = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!((dim(16), dim(20)), (1000, 720));
    // The titles and labels are drawn: text is the chart's only black (the rate line is blue,
    // the grid light grey, the bars coloured), and an axis line alone is a few thousand pixels
    // in one row or column. Count dark pixels in the caption band above the first chart.
    let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0u8; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let dark_in = |rows: std::ops::Range<usize>| {
        rows.flat_map(|y| (0..1000usize).map(move |x| (y, x)))
            .filter(|&(y, x)| {
                let p = &buf[(y * 1000 + x) * 3..][..3];
                p.iter().all(|&c| c < 100)
            })
            .count()
    };
    let caption = dark_in(12..40);
    assert!(
        caption > 200,
        "no title drawn: {caption} dark pixels in the caption band"
    );
}

#[test]
fn stats_refuses_bad_arguments() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "q.journal", &synthetic(10));
    let p = s(&path);
    assert_error(&run(&["stats", "--interval", "5", p]), 2, "needs a unit");
    assert_error(&run(&["stats", "--gap", "0s", p]), 2, "must be positive");
    assert_error(
        &run(&["stats", "--from-time", "20", "--to-time", "10", p]),
        2,
        "is after --to-time",
    );
    assert_error(
        &run(&["stats", "--svg", "a.svg", "--png", "a.png", p]),
        2,
        "cannot be used with",
    );
    let not = dir.path().join("not.journal");
    std::fs::write(&not, b"hello, world, this is not a journal at all").unwrap();
    let r = run(&["stats", s(&not)]);
    assert_eq!(r.code, 2, "{r:?}");
}

/// Runs `journal stats FILE` on a pseudo-terminal (util-linux `script`) of 100 columns, with
/// `env` set: its output, or `None` (after saying why) when `script` is missing.
fn on_a_terminal(path: &Path, env: &str) -> Option<String> {
    let cmd = format!("stty cols 100; {env} '{}' stats '{}'", common::BIN, s(path));
    match std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("NO_COLOR")
        .output()
    {
        Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => {
            common::skip(
                "a pseudo-terminal",
                format!("script failed: {out:?}"),
                common::InCi::MaySkip,
            );
            None
        }
        Err(e) => {
            common::skip("util-linux script", e, common::InCi::MaySkip);
            None
        }
    }
}

#[test]
fn stats_on_a_terminal_is_coloured_and_as_wide_as_it_unless_no_color() {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "q.journal", &synthetic(3_000));
    let Some(out) = on_a_terminal(&path, "") else {
        return;
    };
    assert!(out.contains("\x1b[36m"), "{out}");
    let widest = out
        .lines()
        .filter(|l| l.contains('│'))
        .map(|l| {
            l.replace("\x1b[36m", "")
                .replace("\x1b[0m", "")
                .trim_end()
                .chars()
                .count()
        })
        .max()
        .unwrap();
    assert!(widest > 80 && widest <= 100, "{widest}: {out}");
    let Some(out) = on_a_terminal(&path, "NO_COLOR=1") else {
        return;
    };
    assert!(!out.contains('\x1b'), "{out}");
    assert!(out.contains("events per 1s"), "{out}");
}
