//! The reading commands on a journal set's directory (spec/SET.md), with the real binary: `dump`
//! (every format, slices by global index and time across segments), `verify` (damaged sealed
//! segments, broken chains), `repair` (the newest segment only), `index` (every segment's index),
//! `stats` and `export`. The sets are written with the library's `SetWriter`, rolling every 4 KiB.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use journal::index::{index_path, Intervals};
use journal::set::layout::segment_name;
use journal::set::{list_segments, RollPolicy, SegmentEntry, SetWriter};
use journal::Reader;
use serde_json::Value;
use tempfile::TempDir;

mod common;
use common::{assert_error, json, run, s};

/// 2023-11-14T22:13:20Z (FORMAT.md 12).
const T0: i64 = 1_700_000_000_000_000_000;

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One event as written: its global index, timestamp and payload.
#[derive(Clone, Debug)]
struct Written {
    index: u64,
    ts: i64,
    payload: Vec<u8>,
}

/// A set in a temporary directory, and what was written to it.
struct Set {
    _tmp: TempDir,
    dir: PathBuf,
    events: Vec<Written>,
}

impl Set {
    fn segments(&self) -> Vec<SegmentEntry> {
        list_segments(&self.dir).unwrap()
    }
}

/// A closed set of `n` events rolled every 4 KiB (many segments), each segment with a dense index
/// (when `index` is on). Timestamps mostly rise, and step back now and then, across segment
/// boundaries too (a backward step of up to 5 us against forward steps of up to 2 us); payloads
/// are 1 to 120 bytes.
fn make_set(n: u64, seed: u64, index: bool) -> Set {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("quotes");
    let mut opts = SetWriter::options();
    opts.roll(RollPolicy::by_size(4096)).chunk_size(4096);
    if index {
        opts.index_intervals(Intervals {
            bytes: 256,
            events: 4,
        });
    } else {
        opts.index(false);
    }
    let mut w = opts.create(&dir).unwrap();
    let mut rng = Rng(seed);
    let mut ts = T0;
    let mut events = Vec::new();
    for i in 0..n {
        ts += if rng.below(10) == 0 {
            -(rng.below(5_000) as i64)
        } else {
            rng.below(2_000) as i64
        };
        let len = 1 + rng.below(120) as usize;
        let payload: Vec<u8> = format!("event {i} ")
            .into_bytes()
            .into_iter()
            .chain(std::iter::repeat(b'x'))
            .take(len)
            .collect();
        assert_eq!(w.append(ts, &payload).unwrap(), i);
        events.push(Written {
            index: i,
            ts,
            payload,
        });
    }
    w.close().unwrap();
    let set = Set {
        _tmp: tmp,
        dir,
        events,
    };
    assert!(set.segments().len() >= 10, "too few segments for the test");
    set
}

/// The `dump --format jsonl` lines of `args`, as JSON, with status 0.
fn dump_jsonl(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["dump", "--format", "jsonl"];
    all.extend_from_slice(args);
    let r = run(&all);
    assert_eq!(r.code, 0, "{all:?}: {r:?}");
    assert_eq!(r.stderr, "", "{r:?}");
    r.stdout.lines().map(json).collect()
}

/// Flips one payload byte of event `local` of the segment `path` (a checksum failure at that
/// entry), returning the entry's offset.
fn corrupt(path: &Path, local: u64) -> u64 {
    let offset = {
        let r = Reader::open(path).unwrap();
        let ev = r.iter().nth(local as usize).unwrap().unwrap();
        ev.offset
    };
    let f = fs::OpenOptions::new()
        .write(true)
        .read(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset + 16).unwrap();
    b[0] ^= 0x55;
    f.write_all_at(&b, offset + 16).unwrap();
    offset
}

fn events_in(path: &Path) -> u64 {
    Reader::open(path).unwrap().verify().unwrap().events
}

/// How `verify` names the global indexes `from..to` that a chain break skips.
fn missing(from: u64, to: u64) -> String {
    if to - from == 1 {
        format!("event {from} is missing")
    } else {
        format!("events {from}..={} are missing", to - 1)
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_str().unwrap().to_owned()
}

#[test]
fn dump_of_a_set_is_the_concatenation_of_its_segments_with_global_indexes() {
    let set = make_set(600, 1, true);
    let segs = set.segments();

    // JSON Lines: every field is the segment's, the index shifted by the segment's first index.
    let whole = dump_jsonl(&[s(&set.dir)]);
    let mut concat = Vec::new();
    for seg in &segs {
        for mut v in dump_jsonl(&[s(&seg.path)]) {
            let local = v["index"].as_u64().unwrap();
            v["index"] = Value::from(seg.first_index + local);
            concat.push(v);
        }
    }
    assert_eq!(whole, concat);
    assert_eq!(whole.len(), set.events.len());
    for (v, w) in whole.iter().zip(&set.events) {
        assert_eq!(v["index"].as_u64(), Some(w.index));
        assert_eq!(v["timestamp"].as_i64(), Some(w.ts));
    }

    // Text and hex: the segments' lines with `index=` shifted; raw: the payloads back to back.
    for format in ["text", "hex"] {
        let whole = run(&["dump", "--format", format, s(&set.dir)]);
        assert_eq!(whole.code, 0, "{whole:?}");
        let mut concat = String::new();
        for seg in &segs {
            let r = run(&["dump", "--format", format, s(&seg.path)]);
            assert_eq!(r.code, 0, "{r:?}");
            for line in r.stdout.split_inclusive('\n') {
                match line.strip_prefix("index=") {
                    Some(rest) => {
                        let (n, tail) = rest.split_once(' ').unwrap();
                        let n: u64 = n.parse().unwrap();
                        concat.push_str(&format!("index={} {tail}", seg.first_index + n));
                    }
                    None => concat.push_str(line),
                }
            }
        }
        assert_eq!(whole.stdout, concat, "format {format}");
        assert!(whole.stdout.contains("index=599 "), "format {format}");
    }
    let raw = run(&["dump", "--format", "raw", s(&set.dir)]);
    let expected: Vec<u8> = set.events.iter().flat_map(|e| e.payload.clone()).collect();
    assert_eq!(raw.stdout.as_bytes(), &expected[..]);
}

/// What `dump --from-index --from-time --to-time --limit` must print: FORMAT.md 6.4 applied to
/// the set's events in global order, from `from_index` on.
fn linear(
    events: &[Written],
    from_index: Option<u64>,
    from: Option<i64>,
    to: Option<i64>,
    limit: Option<u64>,
) -> Vec<u64> {
    let mut out = Vec::new();
    let mut started = from.is_none();
    for e in events.iter().filter(|e| e.index >= from_index.unwrap_or(0)) {
        if out.len() as u64 >= limit.unwrap_or(u64::MAX) {
            break;
        }
        if !started {
            if e.ts < from.unwrap() {
                continue;
            }
            started = true;
        }
        if to.is_some_and(|t| e.ts >= t) {
            break;
        }
        out.push(e.index);
    }
    out
}

#[test]
fn dump_slices_across_segments_equal_a_linear_filter() {
    for (seed, index) in [(7, true), (8, false)] {
        let set = make_set(700, seed, index);
        let firsts: Vec<u64> = set.segments().iter().map(|s| s.first_index).collect();
        let mut rng = Rng(seed * 1000 + 1);
        let n = set.events.len() as u64;
        let ts_at = |k: u64| set.events[k.min(n - 1) as usize].ts;
        for q in 0..30 {
            // Indexes at and next to segment boundaries, and anywhere (past the end too).
            let pick_index = |rng: &mut Rng| match rng.below(3) {
                0 => {
                    let f = firsts[rng.below(firsts.len() as u64) as usize];
                    (f + rng.below(3)).saturating_sub(1)
                }
                1 => rng.below(n + 20),
                _ => 0,
            };
            // Times of events (so ties and backward steps are hit), and times between them.
            let pick_time = |rng: &mut Rng| {
                let k = pick_index(rng);
                ts_at(k) + rng.below(3) as i64 - 1
            };
            let from_index = (rng.below(2) == 0).then(|| pick_index(&mut rng));
            let from = (rng.below(3) != 0).then(|| pick_time(&mut rng));
            let to = (rng.below(3) == 0)
                .then(|| pick_time(&mut rng))
                .map(|t| t.max(from.unwrap_or(i64::MIN)));
            let limit = (rng.below(3) == 0).then(|| rng.below(200));
            let mut args: Vec<String> = Vec::new();
            if let Some(i) = from_index {
                args.extend(["--from-index".into(), i.to_string()]);
            }
            if let Some(t) = from {
                args.extend(["--from-time".into(), t.to_string()]);
            }
            if let Some(t) = to {
                args.extend(["--to-time".into(), t.to_string()]);
            }
            if let Some(l) = limit {
                args.extend(["--limit".into(), l.to_string()]);
            }
            args.push(s(&set.dir).to_owned());
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let got: Vec<u64> = dump_jsonl(&argv)
                .iter()
                .map(|v| v["index"].as_u64().unwrap())
                .collect();
            let want = linear(&set.events, from_index, from, to, limit);
            assert_eq!(got, want, "seed {seed} query {q}: {args:?}");
        }
    }
}

#[test]
fn verify_reports_a_damaged_sealed_segment_and_the_chain_it_breaks() {
    let set = make_set(500, 3, true);
    let ok = run(&["verify", s(&set.dir)]);
    assert_eq!(ok.code, 0, "{ok:?}");
    let segs = set.segments();
    assert_eq!(ok.stdout.lines().count(), segs.len() + 1, "{ok:?}");
    assert!(
        ok.stdout.ends_with(&format!(
            ": intact: {} segments, 500 events (global indexes 0..=499)\n",
            segs.len()
        )),
        "{ok:?}"
    );

    // Damage the third segment (sealed): its events from the damaged one on are lost.
    let seg = &segs[2];
    let n = events_in(&seg.path);
    let offset = corrupt(&seg.path, 3);
    let r = run(&["verify", s(&set.dir)]);
    assert_eq!(r.code, 1, "{r:?}");
    let name = file_name(&seg.path);
    assert!(
        r.stdout.contains(&format!(
            "{name}: damaged at offset {offset}: CRC-32 mismatch (checksum)\n"
        )),
        "{r:?}"
    );
    assert!(r.stdout.contains("valid before it: 3 events"), "{r:?}");
    assert!(r
        .stdout
        .contains("a sealed segment, which 'journal repair' never changes"));
    let next = segs[3].first_index;
    assert!(
        r.stdout.contains(&format!(
            "chain broken: {name} holds 3 events, so the next segment should be {}, but it is {} \
             ({})",
            segment_name(seg.first_index + 3),
            segment_name(next),
            missing(seg.first_index + 3, next)
        )),
        "{r:?}"
    );
    assert!(
        r.stdout
            .lines()
            .last()
            .unwrap()
            .contains(": damaged: 1 of "),
        "{r:?}"
    );

    let j = run(&["verify", "--json", s(&set.dir)]);
    assert_eq!(j.code, 1, "{j:?}");
    let v = json(j.stdout.trim_end());
    assert_eq!(v["set"], true);
    assert_eq!(v["valid"], false);
    assert_eq!(v["segments"].as_array().unwrap().len(), segs.len());
    let bad = &v["segments"][2];
    assert_eq!(bad["name"], name.as_str());
    assert_eq!(bad["sealed"], true);
    assert_eq!(bad["valid"], false);
    assert_eq!(bad["events"], 3);
    assert_eq!(bad["error"]["offset"], offset);
    assert_eq!(bad["error"]["reason"], "checksum");
    assert_eq!(v["segments"][1]["valid"], true);
    assert_eq!(v["breaks"][0]["segment"], name.as_str());
    assert_eq!(v["breaks"][0]["events"], 3);
    assert_eq!(v["breaks"][0]["expected"], seg.first_index + 3);
    assert_eq!(v["breaks"][0]["found"], next);
    assert!(n > 3);

    // Dump prints the events before the damage, then reports it (status 1).
    let d = run(&["dump", "--format", "jsonl", s(&set.dir)]);
    assert_eq!(d.code, 1, "{d:?}");
    assert_eq!(d.stdout.lines().count() as u64, seg.first_index + 3);
    assert!(
        d.stderr.contains(&format!(
            "{name}: damaged at offset {offset}: CRC-32 mismatch (checksum); the 3 events before \
             it ({offset} bytes) are valid"
        )),
        "{d:?}"
    );

    // A slice that starts past the damaged segment is found through the segments' names and
    // never reads it: the set is not walked from its first event.
    let later = segs[4].first_index;
    let got = dump_jsonl(&[
        "--from-index",
        &later.to_string(),
        "--limit",
        "3",
        s(&set.dir),
    ]);
    let got: Vec<u64> = got.iter().map(|v| v["index"].as_u64().unwrap()).collect();
    assert_eq!(got, [later, later + 1, later + 2]);

    // Stats: the figures cover the events before the damage; the segment is named.
    let st = run(&["stats", "--json", s(&set.dir)]);
    assert_eq!(st.code, 1, "{st:?}");
    let v = json(st.stdout.trim_end());
    assert_eq!(v["events"], seg.first_index + 3);
    assert_eq!(v["crc"]["damage"]["segment"], name.as_str());
    assert_eq!(v["crc"]["damage"]["offset"], offset);
}

#[test]
fn verify_and_readers_report_a_broken_chain() {
    let set = make_set(700, 4, true);
    let segs = set.segments();
    // A segment lost from the middle (as after a hostile edit): the chain breaks there.
    let gone = &segs[4];
    fs::remove_file(&gone.path).unwrap();
    fs::remove_file(index_path(&gone.path)).unwrap();
    let before = &segs[3];
    let r = run(&["verify", s(&set.dir)]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains(&format!(
            "chain broken: {} holds {} events, so the next segment should be {}, but it is {} \
             ({})",
            file_name(&before.path),
            gone.first_index - before.first_index,
            segment_name(gone.first_index),
            segment_name(segs[5].first_index),
            missing(gone.first_index, segs[5].first_index)
        )),
        "{r:?}"
    );
    assert!(
        r.stdout.lines().last().unwrap().ends_with(&format!(
            ": damaged: 0 of {} segments damaged, 1 chain break; {} events valid",
            segs.len() - 1,
            700 - (segs[5].first_index - gone.first_index)
        )),
        "{r:?}"
    );

    // Dump stops at the break with status 1 and says why; it never renumbers.
    let d = run(&["dump", "--format", "jsonl", s(&set.dir)]);
    assert_eq!(d.code, 1, "{d:?}");
    assert_eq!(d.stdout.lines().count() as u64, gone.first_index);
    assert!(d.stderr.contains("the set is damaged"), "{d:?}");
    assert!(
        d.stderr.contains(&segment_name(segs[5].first_index)),
        "{d:?}"
    );
    // So do export and stats.
    let out = set.dir.parent().unwrap().join("out.jsonl");
    let e = run(&["export", s(&set.dir), s(&out), "--format", "jsonl"]);
    assert_eq!(e.code, 1, "{e:?}");
    assert!(e.stderr.contains("the set is damaged"), "{e:?}");
    assert_eq!(
        fs::read_to_string(&out).unwrap().lines().count() as u64,
        gone.first_index
    );
    let st = run(&["stats", s(&set.dir)]);
    assert_error(&st, 1, "the set is damaged");
}

#[test]
fn repair_of_a_set_changes_only_the_newest_segment() {
    let set = make_set(500, 5, true);
    let segs = set.segments();
    let newest = segs.last().unwrap();
    // Refused while a writer has the set open.
    let w = SetWriter::open(&set.dir).unwrap();
    let refused = run(&["repair", s(&set.dir)]);
    assert_error(
        &refused,
        2,
        "refusing to repair a set that is being written",
    );
    w.close().unwrap();
    assert_eq!(set.segments(), segs);
    // A damaged sealed segment (left alone) and a damaged newest segment (cut).
    corrupt(&segs[1].path, 2);
    let n_newest = events_in(&newest.path);
    assert!(n_newest >= 3, "the newest segment holds {n_newest} events");
    let cut_at = corrupt(&newest.path, n_newest - 2);
    let sealed_before: Vec<Vec<u8>> = segs[..segs.len() - 1]
        .iter()
        .map(|s| fs::read(&s.path).unwrap())
        .collect();
    let newest_before = fs::read(&newest.path).unwrap();

    let dry = run(&["repair", "--dry-run", s(&set.dir)]);
    assert_eq!(dry.code, 0, "{dry:?}");
    let name = file_name(&newest.path);
    assert!(
        dry.stdout.starts_with(&format!(
            "{}: newest segment {name}; {} sealed segments left as they are\n",
            s(&set.dir),
            segs.len() - 1
        )),
        "{dry:?}"
    );
    assert!(
        dry.stdout
            .contains(&format!("{name}: would cut at offset {cut_at}")),
        "{dry:?}"
    );
    assert_eq!(fs::read(&newest.path).unwrap(), newest_before);

    let r = run(&["repair", s(&set.dir)]);
    assert_eq!(r.code, 0, "{r:?}");
    for (seg, before) in segs.iter().zip(&sealed_before) {
        assert_eq!(
            &fs::read(&seg.path).unwrap(),
            before,
            "{:?} changed",
            seg.path
        );
    }
    assert_eq!(events_in(&newest.path), n_newest - 2);
    assert!(Reader::open(&newest.path)
        .unwrap()
        .verify()
        .unwrap()
        .is_intact());
    // The sealed damage is still there, for verify to report.
    let v = run(&["verify", s(&set.dir)]);
    assert_eq!(v.code, 1, "{v:?}");
    assert!(v.stdout.contains(&file_name(&segs[1].path)));
}

#[test]
fn index_builds_and_checks_every_segment() {
    let set = make_set(700, 6, false);
    let segs = set.segments();
    let check = run(&["index", "--check", s(&set.dir)]);
    assert_eq!(check.code, 1, "{check:?}");
    assert!(check.stdout.contains("unusable (missing)"), "{check:?}");
    assert!(
        check.stdout.ends_with(&format!(
            "{}: {} segments checked: 0 current, {} not\n",
            s(&set.dir),
            segs.len(),
            segs.len()
        )),
        "{check:?}"
    );

    let build = run(&["index", "--interval-events", "8", s(&set.dir)]);
    assert_eq!(build.code, 0, "{build:?}");
    for seg in &segs {
        assert!(index_path(&seg.path).is_file(), "{:?}", seg.path);
    }
    assert!(build.stdout.ends_with(&format!(
        "{}: indexed {} segments\n",
        s(&set.dir),
        segs.len()
    )));
    let check = run(&["index", "--check", s(&set.dir)]);
    assert_eq!(check.code, 0, "{check:?}");
    assert_eq!(
        check.stdout.matches(": current: ").count(),
        segs.len(),
        "{check:?}"
    );

    // One segment's index removed: that one, and the set, fail the check.
    fs::remove_file(index_path(&segs[3].path)).unwrap();
    let check = run(&["index", "--check", s(&set.dir)]);
    assert_eq!(check.code, 1, "{check:?}");
    assert!(check.stdout.contains(&format!(
        "{}: unusable (missing)",
        index_path(&segs[3].path).display()
    )));
    assert!(check.stdout.ends_with(&format!(
        "{} segments checked: {} current, 1 not\n",
        segs.len(),
        segs.len() - 1
    )));
}

#[test]
fn stats_and_export_read_across_segments() {
    let set = make_set(500, 9, true);
    let st = run(&["stats", "--json", s(&set.dir)]);
    assert_eq!(st.code, 0, "{st:?}");
    let v = json(st.stdout.trim_end());
    assert_eq!(v["events"], 500);
    assert_eq!(v["first_index"], 0);
    assert_eq!(v["crc"]["intact"], true);
    assert_eq!(v["crc"]["checked_events"], 500);
    let payload: u64 = set.events.iter().map(|e| e.payload.len() as u64).sum();
    assert_eq!(v["payload_bytes"], payload);
    let max = set.events.iter().map(|e| e.ts).max().unwrap();
    assert_eq!(v["time"]["max"], max);
    let backward = set.events.windows(2).filter(|w| w[1].ts < w[0].ts).count();
    assert_eq!(v["backward"]["count"], backward as u64);

    let from = set.events[123].ts;
    let out = set.dir.parent().unwrap().join("out.jsonl");
    let e = run(&[
        "export",
        s(&set.dir),
        s(&out),
        "--format",
        "jsonl",
        "--from-time",
        &from.to_string(),
    ]);
    assert_eq!(e.code, 0, "{e:?}");
    let dumped = run(&[
        "dump",
        "--format",
        "jsonl",
        "--from-time",
        &from.to_string(),
        s(&set.dir),
    ]);
    assert_eq!(fs::read_to_string(&out).unwrap(), dumped.stdout);
    let want = linear(&set.events, None, Some(from), None, None);
    assert_eq!(dumped.stdout.lines().count(), want.len());
}

#[test]
fn a_directory_that_is_not_a_set_is_a_usage_error() {
    let tmp = TempDir::new().unwrap();
    for cmd in [
        &["dump"][..],
        &["verify"],
        &["index", "--check"],
        &["repair"],
        &["stats"],
    ] {
        let mut args = cmd.to_vec();
        args.push(s(tmp.path()));
        let r = run(&args);
        assert_error(&r, 2, "not a journal set");
    }
}

#[test]
fn dump_of_a_pruned_set_starts_at_its_first_available_event() {
    let set = make_set(700, 10, true);
    let segs = set.segments();
    let keep = segs.len() - 3;
    let r = run(&["prune", "--keep", &keep.to_string(), s(&set.dir)]);
    assert_eq!(r.code, 0, "{r:?}");
    let first = segs[3].first_index;
    assert_eq!(set.segments()[0].first_index, first);
    // Indexes stay global; an index before the first available one starts at it (as a filter
    // over the events that are left).
    let left = &set.events[first as usize..];
    for from_index in [None, Some(0), Some(first - 1), Some(first), Some(first + 1)] {
        let mut args = Vec::new();
        let shown;
        if let Some(i) = from_index {
            shown = i.to_string();
            args.extend(["--from-index", shown.as_str()]);
        }
        args.extend(["--limit", "5", s(&set.dir)]);
        let got: Vec<u64> = dump_jsonl(&args)
            .iter()
            .map(|v| v["index"].as_u64().unwrap())
            .collect();
        assert_eq!(
            got,
            linear(left, from_index, None, None, Some(5)),
            "{args:?}"
        );
    }
    // A time at or before every event left: the first event left.
    let t = left.iter().map(|e| e.ts).min().unwrap();
    let got = dump_jsonl(&["--from-time", &t.to_string(), "--limit", "1", s(&set.dir)]);
    assert_eq!(got[0]["index"], first);
}

/// SET.md 6.1, 7.2: a set whose only segment is a 0-byte file (a crash while the set was created)
/// holds no events; it is not damaged, and the readers say so.
#[test]
fn a_set_whose_segment_is_being_created_is_empty_not_damaged() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("new");
    fs::create_dir(&dir).unwrap();
    journal::set::SetMeta::default().write(&dir).unwrap();
    let seg = dir.join(segment_name(0));
    fs::File::create(&seg).unwrap();

    let v = run(&["verify", s(&dir)]);
    assert_eq!(v.code, 0, "{v:?}");
    assert_eq!(
        v.stdout,
        format!(
            "{}: being created (0 bytes, no header yet): no events\n{}: intact: 1 segment, 0 events\n",
            s(&seg),
            s(&dir)
        )
    );
    let j = run(&["verify", "--json", s(&dir)]);
    assert_eq!(j.code, 0, "{j:?}");
    assert_eq!(json(j.stdout.trim_end())["segments"][0]["events"], 0);
    let d = run(&["dump", s(&dir)]);
    assert_eq!((d.code, d.stdout.as_str(), d.stderr.as_str()), (0, "", ""));
    let i = run(&["index", "--check", s(&dir)]);
    assert_eq!(i.code, 0, "{i:?}");
    assert!(i.stdout.contains("being created"), "{i:?}");
    let r = run(&["repair", s(&dir)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("a segment being created"), "{r:?}");
    assert_eq!(fs::metadata(&seg).unwrap().len(), 0);
}

/// While a writer appends and rolls, `dump` of the set prints a prefix of what was written: global
/// indexes from 0 with no gap and no duplicate across the rolls it crosses; `verify` finds the set
/// intact.
#[test]
fn dump_and_verify_of_a_set_being_written() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("live");
    let mut w = SetWriter::options()
        .roll(RollPolicy::by_size(4096))
        .chunk_size(4096)
        .create(&dir)
        .unwrap();
    let payload = |i: u64| format!("live event {i}").into_bytes();
    w.append(T0, &payload(0)).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut i = 1u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 200_000 {
                w.append(T0 + i as i64, &payload(i)).unwrap();
                i += 1;
                if i.is_multiple_of(50) {
                    // Pacing (not synchronisation): the readers below overlap many rolls.
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            w.close().unwrap();
            i
        })
    };
    let mut longest = 0;
    for _ in 0..5 {
        let got = dump_jsonl(&[s(&dir)]);
        for (k, v) in got.iter().enumerate() {
            assert_eq!(v["index"].as_u64(), Some(k as u64));
            assert_eq!(v["timestamp"].as_i64(), Some(T0 + k as i64));
            assert_eq!(v["size"].as_u64(), Some(payload(k as u64).len() as u64));
        }
        longest = longest.max(got.len());
        let v = run(&["verify", "--json", s(&dir)]);
        assert_eq!(v.code, 0, "{v:?}");
        assert_eq!(json(v.stdout.trim_end())["valid"], true);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    let all = dump_jsonl(&[s(&dir)]);
    assert_eq!(all.len() as u64, written);
    assert!(list_segments(&dir).unwrap().len() > 2, "no roll happened");
    assert!(longest >= 1);
}

/// A chain break that numbers events twice (the next segment starts before the end of the one
/// before it), and one that skips a single event, are named as such.
#[test]
fn verify_names_an_overlap_and_a_single_missing_event() {
    let set = make_set(700, 11, true);
    let segs = set.segments();
    // Segment 2 renamed one index lower: its first event's index is also segment 1's last.
    let (a, b) = (&segs[2], segs[2].first_index - 1);
    fs::rename(&a.path, set.dir.join(segment_name(b))).unwrap();
    fs::remove_file(index_path(&a.path)).unwrap();
    // Segment 5 renamed one index higher: one index is skipped.
    let (c, d) = (&segs[5], segs[5].first_index + 1);
    fs::rename(&c.path, set.dir.join(segment_name(d))).unwrap();
    fs::remove_file(index_path(&c.path)).unwrap();
    let r = run(&["verify", s(&set.dir)]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains(&format!(
            "but it is {} (index {b} is numbered twice)\n",
            segment_name(b)
        )),
        "{r:?}"
    );
    assert!(
        r.stdout.contains(&format!(
            "but it is {} (event {} is missing)\n",
            segment_name(d),
            c.first_index
        )),
        "{r:?}"
    );
    // Each renamed segment breaks the chain on both of its sides.
    assert!(
        r.stdout.ends_with(", 4 chain breaks; 700 events valid\n"),
        "{r:?}"
    );
}
