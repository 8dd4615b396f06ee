//! The writing commands (`append`, `capture`, `import-pcap`, `import`) on journal sets
//! (spec/SET.md), with the real binary: `--roll` creates a set, later runs keep its stored policy,
//! a conflicting `--roll` and `--roll` on an existing journal file are refused, and what they write
//! reads back through the library's `SetReader`, in order, with contiguous global indexes.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use journal::set::layout::{is_set, SetMeta, META_FILE, NEXT_FILE};
use journal::{Reader, SetReader, Writer};
use tempfile::TempDir;

mod common;
use common::{assert_error, json, lines, run, run_with, s, KillOnDrop, BIN, PATIENCE};

/// 2023-11-14T22:13:20Z (FORMAT.md 12).
const T0: i64 = 1_700_000_000_000_000_000;
const HOUR: i64 = 3_600_000_000_000;

/// One event read back from a set: global index, timestamp, payload, segment's first index.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Read1 {
    index: u64,
    timestamp: i64,
    payload: Vec<u8>,
    segment: u64,
}

/// Every event of the set at `dir`, after checking that the set verifies intact, that its global
/// indexes run from 0 without a gap, and that no prepared `.next.journal` was left behind.
fn read_set(dir: &Path) -> Vec<Read1> {
    assert!(is_set(dir), "{} is not a set", dir.display());
    assert!(
        !dir.join(NEXT_FILE).exists(),
        "a clean close leaves no {NEXT_FILE}"
    );
    let r = SetReader::open(dir).unwrap();
    let report = r.verify().unwrap();
    assert!(report.is_intact(), "{report:?}");
    let mut it = r.iter();
    let mut out = Vec::new();
    while let Some(ev) = it.next_event() {
        let ev = ev.unwrap();
        let (index, timestamp, payload) = (ev.index, ev.timestamp, ev.payload.to_vec());
        // The segment the iterator is in: the event's.
        let name = it.segment().unwrap().file_name().unwrap().to_str().unwrap();
        out.push(Read1 {
            index,
            timestamp,
            payload,
            segment: name[..20].parse().unwrap(),
        });
    }
    for (i, e) in out.iter().enumerate() {
        assert_eq!(e.index, i as u64, "global indexes are contiguous from 0");
        assert!(e.segment <= e.index, "{e:?}");
    }
    assert_eq!(report.events(), out.len() as u64);
    out
}

/// The set's segment files with their sizes, by first index.
fn segments(dir: &Path) -> BTreeMap<u64, u64> {
    journal::set::list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|s| (s.first_index, fs::metadata(&s.path).unwrap().len()))
        .collect()
}

/// Every file in `dir` with its bytes: what "nothing changed" compares.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let bytes = if e.file_type().unwrap().is_file() {
                fs::read(e.path()).unwrap()
            } else {
                Vec::new()
            };
            (e.file_name().into_string().unwrap(), bytes)
        })
        .collect()
}

/// Line `i` of the `lines` input: its number and 0 to 150 bytes of filler derived from it.
fn line(i: usize) -> String {
    let fill = (i * 7919) % 151;
    format!("event {i} {}", "x".repeat(fill))
}

fn lines_input(range: std::ops::Range<usize>) -> String {
    range.map(|i| line(i) + "\n").collect()
}

/// Checks that every sealed segment respects a size roll of `max` bytes (SET.md 5.1): a clean close
/// cuts each file to its content, so the file's length is its `write_offset`.
#[track_caller]
fn assert_size_rolled(dir: &Path, max: u64) {
    let segs = segments(dir);
    for (first, len) in &segs {
        assert!(*len <= max, "segment {first} is {len} bytes, over {max}");
    }
}

// ---------------------------------------------------------------------------------------------
// append

#[test]
fn append_with_a_size_roll_creates_a_set_whose_events_read_back_in_order() {
    const N: usize = 3_000;
    let dir = TempDir::new().unwrap();
    let set = dir.path().join("quotes.set");
    let t0 = journal::now_ns();
    let r = run_with(
        &["append", "--roll", "4KiB", s(&set)],
        lines_input(0..N).as_bytes(),
    );
    let t1 = journal::now_ns();
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "", ""));
    assert_eq!(SetMeta::read(&set).unwrap().roll.max_bytes, 4096);

    let got = read_set(&set);
    assert_eq!(got.len(), N);
    for (i, e) in got.iter().enumerate() {
        assert_eq!(e.payload, line(i).as_bytes(), "event {i}");
        assert!((t0..=t1).contains(&e.timestamp), "event {i}");
    }
    let segs = segments(&set);
    assert!(segs.len() >= 50, "{} segments", segs.len());
    assert_size_rolled(&set, 4096);
    // Each sealed segment is full: the next event would not have fitted (SET.md 5.2).
    let firsts: Vec<u64> = segs.keys().copied().collect();
    for w in firsts.windows(2) {
        let (first, next) = (w[0], w[1]);
        let len = segs[&first];
        let next_entry = (16 + got[next as usize].payload.len() as u64).next_multiple_of(8);
        assert!(len + next_entry > 4096, "segment {first} rolled early");
        assert!(
            got.iter()
                .filter(|e| e.segment == first)
                .map(|e| e.index)
                .eq(first..next),
            "segment {first} holds events {first}..{next}"
        );
    }
}

#[test]
fn a_second_append_continues_the_set_with_its_stored_policy() {
    let dir = TempDir::new().unwrap();
    let set = dir.path().join("quotes.set");
    let r = run_with(
        &["append", "--roll", "4KiB", s(&set)],
        lines_input(0..1_000).as_bytes(),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let meta_before = fs::read(set.join(META_FILE)).unwrap();
    let segs_before = segments(&set).len();

    // Without --roll: the stored policy.
    let r = run_with(&["append", s(&set)], lines_input(1_000..2_000).as_bytes());
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    // With the same --roll, said differently (4096 bytes is 4KiB): accepted.
    let r = run_with(
        &["append", "--roll", "4096", s(&set)],
        lines_input(2_000..3_000).as_bytes(),
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");

    assert_eq!(fs::read(set.join(META_FILE)).unwrap(), meta_before);
    let got = read_set(&set);
    assert_eq!(got.len(), 3_000);
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, e)| e.payload == line(i).as_bytes()));
    assert!(
        segments(&set).len() >= 2 * segs_before,
        "the later runs rolled too"
    );
    assert_size_rolled(&set, 4096);
}

#[test]
fn a_roll_that_differs_from_the_stored_policy_is_refused_and_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let set = dir.path().join("quotes.set");
    let r = run_with(
        &["append", "--roll", "4KiB", s(&set)],
        lines_input(0..500).as_bytes(),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let before = snapshot(&set);
    for (roll, extra) in [
        ("8KiB", None),
        ("hourly", None),
        ("hourly,4KiB", None),
        ("interval:1h", Some("--roll-offset=5m")),
    ] {
        let mut args = vec!["append", "--roll", roll];
        args.extend(extra);
        args.push(s(&set));
        let r = run_with(&args, b"never appended\n");
        assert_error(&r, 2, "is a journal set that rolls 4KiB, not ");
        assert!(
            r.stderr.contains("leave --roll out"),
            "{roll}: the error says what to do: {r:?}"
        );
        assert_eq!(snapshot(&set), before, "{roll}: nothing changed");
    }
    // The same for capture and import-pcap: refused before any datagram or packet is read.
    let r = run(&[
        "capture",
        "--udp",
        "127.0.0.1:0",
        "--roll",
        "daily",
        s(&set),
    ]);
    assert_error(&r, 2, "rolls 4KiB, not daily");
    let r = run(&[
        "import-pcap",
        s(&fixture("lo-usec.pcap")),
        s(&set),
        "--roll",
        "1MiB",
    ]);
    assert_error(&r, 2, "rolls 4KiB, not 1MiB");
    assert_eq!(snapshot(&set), before);
}

#[test]
fn roll_with_an_existing_journal_file_is_refused_and_the_file_keeps_working() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("quotes.journal");
    let r = run_with(&["append", s(&path)], b"one\ntwo\n");
    assert_eq!(r.code, 0, "{r:?}");
    let before = fs::read(&path).unwrap();
    let r = run_with(&["append", "--roll", "4KiB", s(&path)], b"three\n");
    assert_error(&r, 2, "is an existing file; --roll writes a journal set");
    let r = run(&[
        "capture",
        "--udp",
        "127.0.0.1:0",
        "--roll",
        "hourly",
        s(&path),
    ]);
    assert_error(&r, 2, "is an existing file; --roll writes a journal set");
    let r = run(&[
        "import-pcap",
        "--roll",
        "hourly",
        s(&fixture("lo-usec.pcap")),
        s(&path),
    ]);
    assert_error(&r, 2, "is an existing file; --roll writes a journal set");
    let pq = dir.path().join("x.parquet");
    fs::write(&pq, b"not read").unwrap();
    let r = run(&["import", "--roll", "hourly", s(&pq), s(&path)]);
    assert_error(&r, 2, "is an existing file; --roll writes a journal set");
    assert_eq!(fs::read(&path).unwrap(), before, "the file is untouched");

    // Without --roll the file is a single journal, as ever.
    let r = run_with(&["append", s(&path)], b"three\n");
    assert_eq!(r.code, 0, "{r:?}");
    let reader = Reader::open(&path).unwrap();
    let got: Vec<Vec<u8>> = reader.iter().map(|e| e.unwrap().payload.to_vec()).collect();
    assert_eq!(got, [&b"one"[..], b"two", b"three"]);
}

#[test]
fn a_directory_becomes_a_set_only_with_roll_and_only_when_empty() {
    let dir = TempDir::new().unwrap();
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let r = run_with(&["append", s(&empty)], b"x\n");
    assert_error(&r, 2, "is a directory but not a journal set; give --roll");
    assert_eq!(fs::read_dir(&empty).unwrap().count(), 0);

    let full = dir.path().join("full");
    fs::create_dir(&full).unwrap();
    fs::write(full.join("notes.txt"), b"mine").unwrap();
    let r = run_with(&["append", "--roll", "hourly", s(&full)], b"x\n");
    assert_error(&r, 2, "is not empty");
    assert!(!is_set(&full));

    let r = run_with(&["append", "--roll", "hourly", s(&empty)], b"x\ny\n");
    assert_eq!(r.code, 0, "{r:?}");
    let got = read_set(&empty);
    assert_eq!(got.len(), 2);
    assert_eq!(
        SetMeta::read(&empty).unwrap().roll.period_ns,
        3_600_000_000_000
    );

    // --start-time stamps a single journal's header: not a set's.
    let r = run_with(
        &[
            "append",
            "--roll",
            "hourly",
            "--start-time",
            "5",
            s(&dir.path().join("new")),
        ],
        b"x\n",
    );
    assert_error(&r, 2, "does not apply to a journal set");
    let r = run_with(&["append", "--start-time", "5", s(&empty)], b"x\n");
    assert_error(&r, 2, "does not apply to a journal set");
    // Bad --roll values are usage errors.
    for (args, why) in [
        (&["--roll", "weekly"][..], "is not a roll policy"),
        (&["--roll", "100"], "smaller than 4096"),
        (&["--roll", "interval:100ms"], "shorter than one second"),
        (&["--roll-offset", "1h"], "needs a time --roll"),
        (
            &["--roll", "1GiB", "--roll-offset", "1h"],
            "needs a time --roll",
        ),
        (
            &["--roll", "hourly", "--roll-offset", "1h"],
            "not less than the roll period",
        ),
    ] {
        let mut a = vec!["append"];
        a.extend_from_slice(args);
        let target = dir.path().join("never");
        a.push(s(&target));
        let r = run_with(&a, b"x\n");
        assert_error(&r, 2, why);
        assert!(!target.exists(), "{args:?}");
    }
}

/// `jsonl` input for `append`: one line per (timestamp, payload).
fn jsonl(events: &[(i64, Vec<u8>)]) -> String {
    events
        .iter()
        .map(|(ts, p)| {
            format!(
                "{{\"timestamp\":{ts},\"payload\":\"{}\"}}\n",
                BASE64.encode(p)
            )
        })
        .collect()
}

#[test]
fn a_daily_roll_with_an_offset_splits_at_the_trading_day_by_event_time() {
    // T0 is 22:13:20 UTC. Trading days start at 22:00 UTC: events every 20 minutes from 21:00 on
    // day 0 to 23:40 on day 2, with one stamped back across the boundary (it stays in its
    // segment: SET.md 5.2, timestamps that go backwards never roll back).
    let day0_2200 = T0 - 800_000_000_000; // 22:00:00
    let mut evs: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut t = day0_2200 - HOUR;
    while t <= day0_2200 + 2 * 24 * HOUR + HOUR + 40 * 60_000_000_000 {
        evs.push((t, format!("at {t}").into_bytes()));
        t += 20 * 60_000_000_000;
    }
    let back = evs
        .iter()
        .position(|(t, _)| *t == day0_2200 + 24 * HOUR)
        .unwrap()
        + 1;
    evs.insert(back, (day0_2200 + 24 * HOUR - 1, b"late".to_vec()));
    let dir = TempDir::new().unwrap();
    let set = dir.path().join("md.set");
    let r = run_with(
        &[
            "append",
            "--format",
            "jsonl",
            "--roll",
            "daily",
            "--roll-offset",
            "22h",
            s(&set),
        ],
        jsonl(&evs).as_bytes(),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let meta = SetMeta::read(&set).unwrap().roll;
    assert_eq!(
        (meta.period_ns, meta.offset_ns, meta.max_bytes),
        (86_400_000_000_000, 79_200_000_000_000, 0)
    );
    let got = read_set(&set);
    let back_in: Vec<(i64, Vec<u8>)> = got
        .iter()
        .map(|e| (e.timestamp, e.payload.clone()))
        .collect();
    assert_eq!(back_in, evs);
    // Segment boundaries: the first event at or after each 22:00, and nowhere else.
    let firsts: Vec<u64> = segments(&set).keys().copied().collect();
    let want: Vec<u64> = [
        i64::MIN,
        day0_2200,
        day0_2200 + 24 * HOUR,
        day0_2200 + 48 * HOUR,
    ]
    .iter()
    .map(|&b| evs.iter().position(|(t, _)| *t >= b).unwrap() as u64)
    .collect();
    assert_eq!(firsts, want);
    assert!(got
        .iter()
        .any(|e| e.payload == b"late" && e.segment == want[2]));

    // A later run with the same flags continues the set.
    let more = vec![(day0_2200 + 72 * HOUR, b"day 3".to_vec())];
    let r = run_with(
        &[
            "append",
            "--format",
            "jsonl",
            "--roll",
            "daily",
            "--roll-offset",
            "22h",
            s(&set),
        ],
        jsonl(&more).as_bytes(),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let got = read_set(&set);
    assert_eq!(got.len(), evs.len() + 1);
    assert_eq!(got.last().unwrap().segment, evs.len() as u64);
    // Leaving out the offset asks for another policy.
    let r = run_with(&["append", "--roll", "daily", s(&set)], b"x\n");
    assert_error(&r, 2, "rolls daily --roll-offset 22h, not daily");
}

#[test]
fn append_refuses_a_set_whose_newest_segment_is_damaged() {
    let dir = TempDir::new().unwrap();
    let set = dir.path().join("s");
    let r = run_with(
        &["append", "--roll", "4KiB", s(&set)],
        lines_input(0..300).as_bytes(),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let (&newest, _) = segments(&set).iter().next_back().unwrap();
    let seg = set.join(journal::set::segment_name(newest));
    let f = fs::OpenOptions::new().write(true).open(&seg).unwrap();
    f.write_all_at(b"X", 24 + 16).unwrap();
    drop(f);
    let r = run_with(&["append", s(&set)], b"more\n");
    assert_error(&r, 1, "refusing to append ('journal repair ");
    assert!(
        r.stderr.contains(&journal::set::segment_name(newest)),
        "the error names the segment: {r:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// capture

/// A classic little-endian µs pcap header with `linktype`, then `records` of (ts_sec, ts_usec, data).
fn pcap(linktype: u32, records: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut f = Vec::new();
    for w in [0xA1B2_C3D4u32, 0x0004_0002, 0, 0, 262_144, linktype] {
        f.extend_from_slice(&w.to_le_bytes());
    }
    for (sec, usec, data) in records {
        for w in [*sec, *usec, data.len() as u32, data.len() as u32] {
            f.extend_from_slice(&w.to_le_bytes());
        }
        f.extend_from_slice(data);
    }
    f
}

/// A raw IPv4 packet: 127.0.0.1:12345 to 127.0.0.1:5000, UDP, `payload`.
fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
    let total = (20 + 8 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
    p.extend_from_slice(&[0x30, 0x39, 0x13, 0x88]);
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

/// Datagram `i`: its index (4 bytes) then 0 to 200 bytes derived from it.
fn datagram(i: u32) -> Vec<u8> {
    let mut d = i.to_le_bytes().to_vec();
    d.extend((0..(i * 31) % 201).map(|k| (k ^ i) as u8));
    d
}

#[test]
fn capture_into_a_set_rolls_and_records_every_datagram_in_order() {
    const N: u32 = 4_000;
    const WINDOW: u64 = 64;
    let dir = TempDir::new().unwrap();
    let set = dir.path().join("feed.set");
    let mut child = KillOnDrop(
        Command::new(BIN)
            .args([
                "capture",
                "--udp",
                "127.0.0.1:0",
                "--json",
                "--roll",
                "4KiB",
                s(&set),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = lines(child.stderr.take().unwrap());
    let first = stderr.recv_timeout(PATIENCE).expect("capture started");
    let local: SocketAddr = json(&first)["listening"]
        .as_str()
        .unwrap_or_else(|| panic!("{first}"))
        .parse()
        .unwrap();
    // The set exists once the capture listens: pace the sender by what it has recorded, read
    // across the rolls by a set tailer.
    let reader = SetReader::open(&set).unwrap();
    let mut tail = reader.tail();
    let mut recorded = 0u64;
    let mut count = |recorded: &mut u64| {
        while tail.poll().unwrap().is_some() {
            *recorded += 1;
        }
    };
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let deadline = Instant::now() + PATIENCE;
    for i in 0..N {
        while u64::from(i) >= recorded + WINDOW {
            assert!(Instant::now() < deadline, "capture stalled at {recorded}");
            count(&mut recorded);
        }
        tx.send_to(&datagram(i), local).unwrap();
    }
    while recorded < u64::from(N) {
        assert!(Instant::now() < deadline, "capture stalled at {recorded}");
        count(&mut recorded);
    }
    drop(tail);
    drop(reader);
    child.signal("-INT");
    let code = child.exit_code();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(code, 0, "{out}");
    let summary = json(out.trim());
    assert_eq!(summary["datagrams"], u64::from(N), "{summary}");
    assert_eq!(summary["journal_events"], u64::from(N), "{summary}");

    let got = read_set(&set);
    assert_eq!(got.len(), N as usize);
    for (i, e) in got.iter().enumerate() {
        assert!(e.payload == datagram(i as u32), "event {i} differs");
    }
    assert!(
        segments(&set).len() >= 50,
        "{} segments",
        segments(&set).len()
    );
    assert_size_rolled(&set, 4096);
    assert_eq!(SetMeta::read(&set).unwrap().roll.max_bytes, 4096);
}

// ---------------------------------------------------------------------------------------------
// import-pcap

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn import_pcap_into_a_set_rolls_by_size_and_a_second_import_continues_it() {
    const N: u32 = 2_000;
    let dir = TempDir::new().unwrap();
    let records: Vec<(u32, u32, Vec<u8>)> = (0..N)
        .map(|i| {
            (
                1_700_000_000 + i / 100,
                (i % 100) * 10_000,
                ipv4_udp(&datagram(i)),
            )
        })
        .collect();
    let cap = dir.path().join("feed.pcap");
    fs::write(&cap, pcap(228, &records)).unwrap();
    let set = dir.path().join("feed.set");
    let r = run(&["import-pcap", "--json", "--roll", "4KiB", s(&cap), s(&set)]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    assert_eq!(json(r.stdout.trim())["imported"], u64::from(N));
    let got = read_set(&set);
    assert_eq!(got.len(), N as usize);
    for (i, e) in got.iter().enumerate() {
        let (sec, usec, _) = &records[i];
        assert_eq!(
            e.timestamp,
            i64::from(*sec) * 1_000_000_000 + i64::from(*usec) * 1_000
        );
        assert!(e.payload == datagram(i as u32), "event {i} differs");
    }
    assert!(
        segments(&set).len() >= 30,
        "{} segments",
        segments(&set).len()
    );
    assert_size_rolled(&set, 4096);

    // A second import (the fixtures from tcpdump) continues the set with its stored policy; its
    // events equal those of an import into a single journal.
    let r = run(&["import-pcap", s(&fixture("lo-usec.pcap")), s(&set)]);
    assert_eq!(r.code, 0, "{r:?}");
    let single = dir.path().join("lo.journal");
    let r = run(&["import-pcap", s(&fixture("lo-usec.pcap")), s(&single)]);
    assert_eq!(r.code, 0, "{r:?}");
    let want: Vec<(i64, Vec<u8>)> = Reader::open(&single)
        .unwrap()
        .iter()
        .map(|e| {
            let e = e.unwrap();
            (e.timestamp, e.payload.to_vec())
        })
        .collect();
    assert_eq!(want.len(), 12);
    let got = read_set(&set);
    let tail: Vec<(i64, Vec<u8>)> = got[N as usize..]
        .iter()
        .map(|e| (e.timestamp, e.payload.clone()))
        .collect();
    assert_eq!(tail, want);
    assert_size_rolled(&set, 4096);
}

// ---------------------------------------------------------------------------------------------
// import

/// Events with negative, equal and decreasing timestamps, empty and binary payloads, over days.
fn export_events() -> Vec<(i64, Vec<u8>)> {
    let mut out = vec![(-5, b"before 1970".to_vec()), (0, Vec::new())];
    for i in 0..3_000i64 {
        let ts = T0 + i * 97 * 1_000_000_000 - if i % 89 == 0 { 50_000 } else { 0 };
        let payload: Vec<u8> = (0..(i % 70) as u8)
            .map(|b| b.wrapping_mul(37) ^ i as u8)
            .collect();
        out.push((ts, payload));
    }
    out.push((i64::MAX, vec![0xff; 3]));
    out
}

#[test]
fn import_into_a_set_round_trips_an_export() {
    let dir = TempDir::new().unwrap();
    let evs = export_events();
    let src = dir.path().join("src.journal");
    let mut w = Writer::create(&src).unwrap();
    for (ts, p) in &evs {
        w.append(*ts, p).unwrap();
    }
    w.close().unwrap();
    let pq = dir.path().join("src.parquet");
    let r = run(&["export", s(&src), s(&pq), "--format", "parquet"]);
    assert_eq!(r.code, 0, "{r:?}");

    for (roll, period, max_bytes) in [
        ("4KiB", 0, 4096),
        ("hourly", HOUR as u64, 0),
        ("interval:6h", 6 * HOUR as u64, 0),
        ("daily,8KiB", 24 * HOUR as u64, 8192),
    ] {
        let set = dir
            .path()
            .join(format!("{}.set", roll.replace([',', ':'], "-")));
        let r = run(&["import", "--roll", roll, s(&pq), s(&set)]);
        assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{roll}: {r:?}");
        let stored = SetMeta::read(&set).unwrap().roll;
        assert_eq!((stored.period_ns, stored.max_bytes), (period, max_bytes));
        let got = read_set(&set);
        let back: Vec<(i64, Vec<u8>)> = got
            .iter()
            .map(|e| (e.timestamp, e.payload.clone()))
            .collect();
        assert!(back == evs, "{roll}: the events differ");
        assert!(
            segments(&set).len() >= 10,
            "{roll}: {}",
            segments(&set).len()
        );
    }

    // import writes new sets only: an existing set is refused and left as it was.
    let set = dir.path().join("4KiB.set");
    let before = snapshot(&set);
    let r = run(&["import", s(&pq), s(&set)]);
    assert_error(&r, 2, "already exists (a journal set)");
    let r = run(&["import", "--roll", "4KiB", s(&pq), s(&set)]);
    assert_error(&r, 2, "already exists (a journal set)");
    assert_eq!(snapshot(&set), before);
}

#[test]
fn a_failed_import_into_a_set_removes_what_it_created() {
    let dir = TempDir::new().unwrap();
    let bad = dir.path().join("bad.parquet");
    fs::write(&bad, b"PAR1 this is not parquet PAR1").unwrap();
    let new = dir.path().join("new.set");
    let r = run(&["import", "--roll", "4KiB", s(&bad), s(&new)]);
    assert_error(&r, 2, "not a readable Parquet file");
    assert!(!new.exists(), "the new set's directory is removed");

    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let r = run(&["import", "--roll", "4KiB", s(&bad), s(&empty)]);
    assert_error(&r, 2, "not a readable Parquet file");
    assert!(empty.is_dir(), "a directory that was there stays");
    assert_eq!(
        fs::read_dir(&empty).unwrap().count(),
        0,
        "and is empty again"
    );
}

// ---------------------------------------------------------------------------------------------
// all four

#[test]
fn every_writing_command_documents_roll_with_an_example() {
    for sub in ["append", "capture", "import-pcap", "import"] {
        let r = run(&[sub, "--help"]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stdout.contains("--roll <POLICY>"), "{sub}: {r:?}");
        assert!(
            r.stdout.contains("--roll-offset <DURATION>"),
            "{sub}: {r:?}"
        );
        assert!(
            r.stdout
                .lines()
                .any(|l| l.starts_with(&format!("  journal {sub} ")) && l.contains(" --roll ")),
            "{sub}: an example with --roll: {r:?}"
        );
        assert!(
            r.stdout.contains("a --roll that differs\nis an error"),
            "{sub}: the conflict rule is documented: {r:?}"
        );
    }
}

#[test]
fn a_set_with_a_live_writer_is_refused_as_locked() {
    let dir = TempDir::new().unwrap();
    let set = dir.path().join("s");
    let mut w = journal::SetWriter::create(&set, SetMeta::default()).unwrap();
    w.append(1, b"held").unwrap();
    let r = run_with(&["append", s(&set)], b"x\n");
    assert_error(&r, 2, "locked");
    let r = run(&["import-pcap", s(&fixture("lo-usec.pcap")), s(&set)]);
    assert_error(&r, 2, "locked");
    w.close().unwrap();
    let got = read_set(&set);
    assert_eq!(got.len(), 1, "nothing was appended");
}

#[test]
fn capture_into_an_existing_set_says_which_stored_policy_it_rolls_by() {
    let dir = TempDir::new().unwrap();
    let set = dir.path().join("feed.set");
    let r = run_with(
        &[
            "append",
            "--roll",
            "hourly,64KiB",
            "--roll-offset",
            "30m",
            s(&set),
        ],
        b"before\n",
    );
    assert_eq!(r.code, 0, "{r:?}");
    let mut child = KillOnDrop(
        Command::new(BIN)
            .args(["capture", "--udp", "127.0.0.1:0", s(&set)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = lines(child.stderr.take().unwrap());
    let first = stderr.recv_timeout(PATIENCE).expect("capture started");
    assert!(
        first.starts_with("journal: capturing 127.0.0.1:")
            && first.contains(&format!(
                " into journal set {} (rolling hourly,64KiB --roll-offset 30m) ",
                set.display()
            )),
        "{first}"
    );
    let port: u16 = first["journal: capturing 127.0.0.1:".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.send_to(b"after", ("127.0.0.1", port)).unwrap();
    let reader = SetReader::open(&set).unwrap();
    let mut tail = reader.tail();
    let mut seen = 0;
    let deadline = Instant::now() + PATIENCE;
    while seen < 2 {
        assert!(Instant::now() < deadline, "the datagram was not recorded");
        if tail.poll().unwrap().is_some() {
            seen += 1;
        }
    }
    drop(tail);
    drop(reader);
    child.signal("-TERM");
    assert_eq!(child.exit_code(), 0);
    let got: Vec<Vec<u8>> = read_set(&set).into_iter().map(|e| e.payload).collect();
    assert_eq!(got, [&b"before"[..], b"after"]);
}
