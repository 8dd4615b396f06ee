//! `journal tail` and `journal replay` on journal sets (spec/SET.md), with real processes: a writer
//! process (this test binary re-run on [`set_tail_child`]) appends in bursts at full speed and
//! rolls every few KiB while `journal tail -f SET`, `tail -f --from-time T SET`, `tail --cursor`
//! (killed and resumed) and `replay --from-time T --follow SET` follow it. Each checks every event
//! exactly once and in order against the set read afterwards.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use journal::set::layout::{list_segments, segment_name, SetMeta};
use journal::set::RollPolicy;
use journal::{SetReader, SetWriter, WaitStrategy, Writer};
use tempfile::TempDir;

mod common;
use common::{assert_error, json, lines, run, s, wait_for, Follower, KillOnDrop, PATIENCE};

/// 2023-11-14T22:13:20Z (FORMAT.md 12).
const T0: i64 = 1_700_000_000_000_000_000;

/// A scrambler for deterministic pseudo-random choices.
fn mix(i: u64) -> u64 {
    let mut x = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Event `i`'s timestamp: 1 µs apart, but one event in five goes back up to 3 µs, so that "the
/// first event at or after T" (FORMAT.md 6.4) is not simply the first index past T.
fn ts(i: u64) -> i64 {
    let back = if mix(i).is_multiple_of(5) {
        (mix(i) >> 8) % 3000
    } else {
        0
    };
    T0 + 1000 * i as i64 - back as i64
}

/// Event `i`'s payload: its index, then filler (40 to 140 bytes in all).
fn payload(i: u64) -> Vec<u8> {
    let mut p = format!("{i} ").into_bytes();
    p.resize(40 + (mix(i) % 100) as usize, b'x');
    p
}

/// A `--format jsonl` line's index, checking its timestamp and payload are event `index`'s.
fn index_of(line: &str) -> u64 {
    let v = json(line);
    let i = v["index"].as_u64().unwrap();
    let p = base64::engine::general_purpose::STANDARD
        .decode(v["payload"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        (v["timestamp"].as_i64().unwrap(), p),
        (ts(i), payload(i)),
        "{line}"
    );
    i
}

/// Every event of the set, read with the library after the run: (global index, timestamp,
/// payload), checking the set is intact.
fn read_set(dir: &Path) -> Vec<(u64, i64, Vec<u8>)> {
    let set = SetReader::open(dir).unwrap();
    assert!(set.verify().unwrap().is_intact());
    let mut it = set.iter();
    let mut out = Vec::new();
    while let Some(ev) = it.next_event() {
        let ev = ev.unwrap();
        out.push((ev.index, ev.timestamp, ev.payload.to_vec()));
    }
    out
}

/// Checks that the set holds events `0..total` as written, and returns the number of segments.
fn check_written(dir: &Path, total: u64) -> usize {
    let all = read_set(dir);
    assert_eq!(all.len() as u64, total);
    for (k, (i, t, p)) in all.iter().enumerate() {
        assert_eq!((*i, *t, p), (k as u64, ts(k as u64), &payload(k as u64)));
    }
    list_segments(dir).unwrap().len()
}

/// The first event at or after `t` by a linear scan (FORMAT.md 6.4): what `dump --from-time t`
/// starts with.
fn first_at_or_after(total: u64, t: i64) -> u64 {
    (0..total).find(|i| ts(*i) >= t).unwrap_or(total)
}

/// A writer process on the set `dir`, rolling every `roll` bytes; see [`set_tail_child`].
struct WriterProc {
    child: KillOnDrop,
    out: Receiver<String>,
    stop_file: PathBuf,
    /// Events published so far, as the child last reported.
    published: u64,
}

impl WriterProc {
    fn start(dir: &Path, roll: u64, max: u64) -> WriterProc {
        let stop_file = dir.with_extension("stop");
        let mut child = KillOnDrop(
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--ignored",
                    "--exact",
                    "set_tail_child",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("SET_TAIL_DIR", dir)
                .env("SET_TAIL_ROLL", roll.to_string())
                .env("SET_TAIL_MAX", max.to_string())
                .env("SET_TAIL_STOP", &stop_file)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap(),
        );
        let out = lines(child.stdout.take().unwrap());
        let mut w = WriterProc {
            child,
            out,
            stop_file,
            published: 0,
        };
        w.wait_published(1);
        w
    }

    /// Reads the child's reports until it has published at least `n` events (or is done).
    fn wait_published(&mut self, n: u64) -> u64 {
        let deadline = Instant::now() + PATIENCE;
        while self.published < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(line) => {
                    if let Some(k) = line.strip_prefix("PUB ") {
                        self.published = k.parse().unwrap();
                    } else if let Some(k) = line.strip_prefix("DONE ") {
                        self.published = k.parse().unwrap();
                        return self.published;
                    }
                }
                Err(e) => panic!("the writer: {e:?} before {n} events"),
            }
        }
        self.published
    }

    /// Tells the writer to stop, and waits for it: the number of events it appended.
    fn stop(mut self) -> u64 {
        std::fs::write(&self.stop_file, b"").unwrap();
        let deadline = Instant::now() + PATIENCE;
        let total = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(line) => {
                    if let Some(k) = line.strip_prefix("DONE ") {
                        break k.parse().unwrap();
                    }
                }
                Err(e) => panic!("the writer did not finish: {e:?}"),
            }
        };
        assert_eq!(self.child.exit_code(), 0);
        total
    }
}

/// The writer child: creates the set (rolling every `SET_TAIL_ROLL` bytes), then appends event
/// after event at full speed in bursts of 1 to 400, reporting `PUB n` after each burst, until the
/// stop file exists or `SET_TAIL_MAX` events are written; then closes the set and reports
/// `DONE n`. A pause of 0.2 ms between bursts keeps the output of the followers (and the disk)
/// within reason: it is pacing, not synchronisation.
#[test]
#[ignore = "child process entry point for the set tail tests"]
fn set_tail_child() {
    let dir = PathBuf::from(std::env::var("SET_TAIL_DIR").expect("SET_TAIL_DIR"));
    let roll: u64 = std::env::var("SET_TAIL_ROLL").unwrap().parse().unwrap();
    let max: u64 = std::env::var("SET_TAIL_MAX").unwrap().parse().unwrap();
    let stop = PathBuf::from(std::env::var("SET_TAIL_STOP").unwrap());
    let mut w = SetWriter::options()
        .roll(RollPolicy::by_size(roll))
        .chunk_size(64 << 10)
        .open_or_create(&dir)
        .unwrap();
    let mut out = std::io::stdout().lock();
    let mut i = w.events();
    let mut burst = 0u64;
    while i < max && !stop.exists() {
        burst += 1;
        for _ in 0..1 + mix(burst) % 400 {
            if i == max {
                break;
            }
            assert_eq!(w.append(ts(i), &payload(i)).unwrap(), i);
            i += 1;
        }
        writeln!(out, "PUB {i}").unwrap();
        out.flush().unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    w.close().unwrap();
    writeln!(out, "DONE {i}").unwrap();
    out.flush().unwrap();
}

/// Reads a follower's lines until it has printed the event before `end` (each line checked; the
/// indexes returned).
fn read_until(f: &Follower, end: u64, got: &mut Vec<u64>) {
    while got.last().is_none_or(|l| *l + 1 < end) {
        got.push(index_of(&f.line()));
    }
}

/// Stops a follower with SIGTERM: it exits 0, silently, with nothing more printed.
fn stop_follower(f: Follower) {
    f.signal("-TERM");
    let (code, err, rest) = f.finish_with_rest();
    assert_eq!((code, err.as_str(), rest.len()), (0, "", 0), "{rest:?}");
}

#[test]
fn tail_follows_a_set_across_more_than_50_rolls_every_event_once_and_in_order() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("set");
    let mut w = WriterProc::start(&dir, 4096, u64::MAX);
    let d = s(&dir);
    // One follower from the first event, one from the last 10 at its start.
    let all = Follower::start(&["tail", "-f", "-n", "+1", "--format", "jsonl", d]);
    let last = Follower::start(&["tail", "-f", "--format", "jsonl", d]);
    // At least 50 rolls under the followers, then a stop at a known count.
    let segments = |dir: &Path| list_segments(dir).unwrap().len();
    let before = segments(&dir);
    while segments(&dir) < before + 60 {
        let n = w.published;
        w.wait_published(n + 1);
    }
    let total = w.stop();
    let rolls = check_written(&dir, total);
    assert!(rolls >= 60, "{rolls} segments");
    let mut got = Vec::new();
    read_until(&all, total, &mut got);
    assert_eq!(got, (0..total).collect::<Vec<_>>());
    let mut got = Vec::new();
    read_until(&last, total, &mut got);
    let from = got[0];
    assert_eq!(got, (from..total).collect::<Vec<_>>());
    stop_follower(all);
    stop_follower(last);
}

/// The acceptance check of replay then live: with the writer appending at full speed, `tail -f
/// --from-time T SET` prints exactly what `dump --from-time T` shows at that moment (the first
/// event at or after T in global order, FORMAT.md 6.4, and everything after it), then every later
/// event: checked against the whole list from the set once the writer stopped at a known count.
#[test]
fn tail_from_time_follow_is_replay_then_live_with_no_gap_and_no_duplicate() {
    for round in 0..3u64 {
        let tmp = TempDir::new().unwrap();
        let dir = tmp.path().join("set");
        let mut w = WriterProc::start(&dir, 8192, u64::MAX);
        let c0 = w.wait_published(3000 + 2000 * round);
        // A time in the history: in some segment's middle, among timestamps that go back.
        let t = ts(c0 / 3 + round) - 1500;
        let from = t.to_string();
        let f = Follower::start(&[
            "tail",
            "-f",
            "--from-time",
            &from,
            "--format",
            "jsonl",
            s(&dir),
        ]);
        let mut got = vec![index_of(&f.line())];
        // It started while the writer appends: let it see some live events, then stop the writer.
        let now = w.wait_published(w.published + 1);
        read_until(&f, now, &mut got);
        let c1 = w.wait_published(now + 2000);
        let total = w.stop();
        assert!(total >= c1);
        let segments = check_written(&dir, total);
        assert!(segments > 20, "{segments} segments");
        read_until(&f, total, &mut got);
        let start = first_at_or_after(total, t);
        assert!(start < c0, "T is in the history");
        assert_eq!(got, (start..total).collect::<Vec<_>>(), "round {round}");
        stop_follower(f);
    }
}

/// `tail -n N SET` (with and without --from-time and --to-time) prints the last N events of the
/// range across segments, the same as walking the set.
#[test]
fn tail_n_on_a_set_counts_across_segments() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("set");
    let mut w = WriterProc::start(&dir, 4096, 700);
    w.wait_published(700);
    let total = w.stop();
    assert_eq!(total, 700);
    assert!(check_written(&dir, total) > 10);
    let d = s(&dir);
    let indexes = |args: &[&str]| -> Vec<u64> {
        let mut a = vec!["tail", "--format", "jsonl"];
        a.extend(args);
        a.push(d);
        let r = run(&a);
        assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{a:?}: {r:?}");
        r.stdout.lines().map(index_of).collect()
    };
    let range = |a: u64, b: u64| (a..b).collect::<Vec<_>>();
    assert_eq!(indexes(&[]), range(690, 700));
    assert_eq!(indexes(&["-n", "250"]), range(450, 700));
    assert_eq!(indexes(&["-n", "5000"]), range(0, 700));
    assert_eq!(indexes(&["-n", "0"]), range(0, 0));
    assert_eq!(indexes(&["-n", "+650"]), range(649, 700));
    let t = ts(300) - 1500;
    let start = first_at_or_after(total, t);
    let from = t.to_string();
    // --from-time alone: every event from there, as dump.
    assert_eq!(indexes(&["--from-time", &from]), range(start, 700));
    assert_eq!(indexes(&["-n", "7", "--from-time", &from]), range(693, 700));
    let to = ts(500).to_string();
    let end = (start..total).find(|i| ts(*i) >= ts(500)).unwrap();
    assert_eq!(
        indexes(&["-n", "7", "--from-time", &from, "--to-time", &to]),
        range(end - 7, end)
    );
    assert_eq!(
        indexes(&["-n", "+1", "--from-time", &from, "--to-time", &to]),
        range(start, end)
    );
    // Text output names global indexes too.
    let r = run(&["tail", "-n", "1", d]);
    assert!(r.stdout.starts_with("index=699 "), "{r:?}");
}

/// Reads a cursor's committed position from `SET/cursors/NAME` (CURSOR.md 4 layout).
fn committed(dir: &Path, name: &str) -> Option<u64> {
    let b = std::fs::read(dir.join("cursors").join(name)).ok()?;
    assert_eq!(&b[0..8], b"JRNL.CUR");
    assert_eq!(
        u32::from_le_bytes(b[12..16].try_into().unwrap()),
        2,
        "a set's"
    );
    Some(u64::from_le_bytes(b[32..40].try_into().unwrap()))
}

/// A set's named cursor, killed and resumed many times while the writer appends and rolls: each
/// run starts exactly at the position committed before the kill, and the committed ranges cover
/// every event exactly once.
#[test]
fn tail_cursor_on_a_set_killed_and_resumed_sees_every_event_exactly_once() {
    let kills = std::env::var("JOURNAL_CURSOR_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100u32);
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("set");
    let mut w = WriterProc::start(&dir, 4096, u64::MAX);
    let d = s(&dir);
    let mut position = 0u64;
    for run_no in 0..kills {
        let mut args = vec!["tail", "-f", "--format", "jsonl", "--cursor", "k"];
        if committed(&dir, "k").is_none() {
            args.extend(["-n", "+1"]);
        }
        args.push(d);
        let mut child = KillOnDrop(
            Command::new(common::BIN)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let out = lines(child.stdout.take().unwrap());
        let mut printed: Vec<String> = Vec::new();
        let want = mix(u64::from(run_no)) % 4;
        if want > 0 {
            // After 1 to 300 events: in the backlog or live.
            let n = 1 + (mix(u64::from(run_no) + 1000) % 300) as usize;
            while printed.len() < n {
                match out.recv_timeout(PATIENCE) {
                    Ok(line) => printed.push(line),
                    Err(e) => panic!("run {run_no}: no output: {e:?}"),
                }
            }
        }
        child.kill().unwrap();
        assert_eq!(child.wait().unwrap().code(), None, "run {run_no}: killed");
        let deadline = Instant::now() + PATIENCE;
        loop {
            match out.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => printed.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("run {run_no}: stdout not closed"),
            }
        }
        // A line cut by the kill was never committed.
        if printed
            .last()
            .is_some_and(|l| serde_json::from_str::<serde_json::Value>(l).is_err())
        {
            printed.pop();
        }
        let got: Vec<u64> = printed.iter().map(|l| index_of(l)).collect();
        if let Some(&first) = got.first() {
            assert_eq!(first, position, "run {run_no} did not start at its cursor");
        }
        assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "run {run_no}");
        let now = committed(&dir, "k").unwrap_or(0);
        assert!(now >= position, "run {run_no}: the cursor went back");
        assert!(
            now <= position + got.len() as u64,
            "run {run_no}: past what it printed"
        );
        position = now;
        let n = w.published;
        w.wait_published(n + 1);
    }
    let total = w.stop();
    let segments = check_written(&dir, total);
    assert!(segments > 10, "{segments} segments");
    // Catch up without --follow: exactly the rest.
    let r = run(&["tail", "--format", "jsonl", "--cursor", "k", d]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    let rest: Vec<u64> = r.stdout.lines().map(index_of).collect();
    assert_eq!(rest, (position..total).collect::<Vec<_>>());
    assert_eq!(committed(&dir, "k"), Some(total));
    assert!(position > 0, "the killed runs committed nothing");
}

/// Consumes `ring` until its end of stream: the event indexes (from the payloads), each record
/// checked.
fn drain_ring(ring: &Path, seen: &AtomicU64) -> Vec<u64> {
    let mut c = journal::Consumer::attach(ring).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let st = c
            .read_wait(
                usize::MAX,
                |r| {
                    let text = std::str::from_utf8(r.payload).unwrap();
                    let i: u64 = text.split(' ').next().unwrap().parse().unwrap();
                    assert_eq!((r.timestamp, r.payload), (ts(i), &payload(i)[..]));
                    out.push(i);
                    seen.store(out.len() as u64, Ordering::Release);
                    ControlFlow::Continue(())
                },
                WaitStrategy::default(),
                Some(deadline),
            )
            .unwrap();
        if st.end_of_stream {
            return out;
        }
        assert!(Instant::now() < deadline, "no end of stream");
    }
}

/// `replay --from-time T --follow SET` into a ring, started while the writer appends at full
/// speed: the ring receives the first event at or after T in global order and everything after
/// it, through the writer's last event, then (after SIGTERM) the end of the stream.
#[test]
fn replay_from_time_follow_into_a_ring_is_replay_then_live() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("set");
    let ring = tmp.path().join("ring");
    journal::create_ring(&ring, 1 << 20).unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let consumer = {
        let (ring, seen) = (ring.clone(), Arc::clone(&seen));
        std::thread::spawn(move || drain_ring(&ring, &seen))
    };
    let mut w = WriterProc::start(&dir, 8192, u64::MAX);
    let c0 = w.wait_published(4000);
    let t = ts(c0 / 2) - 1500;
    let from = t.to_string();
    let mut replay = KillOnDrop(
        Command::new(common::BIN)
            .args(["replay", s(&dir), "--ring", s(&ring), "--from-time", &from])
            .args(["--follow", "--json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let n = w.published;
    w.wait_published(n + 3000);
    let total = w.stop();
    check_written(&dir, total);
    let start = first_at_or_after(total, t);
    let expected = total - start;
    wait_for("the consumer to receive the writer's last event", || {
        seen.load(Ordering::Acquire) >= expected
    });
    replay.signal("-TERM");
    assert_eq!(replay.exit_code(), 0);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut replay.stdout.take().unwrap(), &mut out).unwrap();
    assert_eq!(json(out.trim())["events"].as_u64(), Some(expected), "{out}");
    let got = consumer.join().unwrap();
    assert!(start < c0);
    assert_eq!(got, (start..total).collect::<Vec<_>>());
}

/// A set made by hand: segments of `(first index, timestamps)`.
fn make_set(dir: &Path, segments: &[(u64, &[i64])]) {
    SetMeta::default().write(dir).unwrap();
    for (first, stamps) in segments {
        let mut w = Writer::options()
            .chunk_size(4096)
            .create(dir.join(segment_name(*first)))
            .unwrap();
        for (k, t) in stamps.iter().enumerate() {
            w.append(*t, (first + k as u64).to_string().as_bytes())
                .unwrap();
        }
        w.close().unwrap();
    }
}

/// A set whose segments do not chain is "the data is bad" (status 1) for tail, with or without
/// --follow, after the events before the break; a cursor whose next event was pruned is a clear
/// error (status 2).
#[test]
fn tail_reports_a_broken_chain_and_pruned_events() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    make_set(dir, &[(0, &[1, 2, 3]), (5, &[4, 5])]);
    for follow in [false, true] {
        let mut args = vec!["tail", "-n", "+1"];
        if follow {
            args.push("-f");
        }
        args.push(s(dir));
        let r = run(&args);
        assert_eq!(r.code, 1, "{r:?}");
        assert_eq!(r.stdout.lines().count(), 3, "{r:?}");
        assert!(r.stderr.contains("the set is damaged"), "{r:?}");
    }
    // A cursor at 1, then the segment holding event 1 is pruned.
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    make_set(dir, &[(0, &[1, 2, 3]), (3, &[4, 5])]);
    let r = run(&[
        "tail",
        "-n",
        "+2",
        "--cursor",
        "c",
        "--to-time",
        "2",
        s(dir),
    ]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:?}");
    assert_eq!(committed(dir, "c"), Some(1));
    std::fs::remove_file(dir.join(segment_name(0))).unwrap();
    let r = run(&["tail", "--cursor", "c", s(dir)]);
    assert_error(&r, 2, "event 1 was pruned");
    assert!(r.stderr.contains("first available event is 3"), "{r:?}");
    // A cursor past the set's end: `ahead`.
    let r = run(&["tail", "-n", "0", "--cursor", "d", s(dir)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(committed(dir, "d"), Some(5));
    std::fs::remove_file(dir.join(segment_name(3))).unwrap();
    make_set(dir, &[(3, &[4])]);
    let r = run(&["tail", "-f", "--cursor", "d", s(dir)]);
    assert_error(&r, 1, "position 5 is past the set's 4 events");
}

/// Regression: `replay --from-time T --follow` (the library's `replay_follow`) with no event at
/// or after T yet replayed the first live event whatever its timestamp: a start at the end of the
/// set skipped the FORMAT.md 6.4 rule. Events appended before the first one at or after T are not
/// part of the replay; after it, every event is. `tail -f --from-time T` agrees.
#[test]
fn from_time_follow_waits_for_the_first_event_at_or_after_t() {
    for set in [false, true] {
        from_time_follow_waits(set);
    }
}

/// A set's or a journal file's writer.
enum AnyWriter {
    Set(Box<SetWriter>),
    File(Box<Writer>),
}

impl AnyWriter {
    fn append(&mut self, i: u64) {
        match self {
            AnyWriter::Set(w) => assert_eq!(w.append(ts(i), &payload(i)).unwrap(), i),
            AnyWriter::File(w) => w.append(ts(i), &payload(i)).map(drop).unwrap(),
        }
    }

    fn close(self) {
        match self {
            AnyWriter::Set(w) => w.close().unwrap(),
            AnyWriter::File(w) => w.close().unwrap(),
        }
    }
}

fn from_time_follow_waits(set: bool) {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join(if set { "set" } else { "j" });
    let ring = tmp.path().join("ring");
    let mut w = if set {
        AnyWriter::Set(Box::new(
            SetWriter::options()
                .roll(RollPolicy::by_size(4096))
                .create(&dir)
                .unwrap(),
        ))
    } else {
        AnyWriter::File(Box::new(Writer::create(&dir).unwrap()))
    };
    for i in 0..100 {
        w.append(i);
    }
    journal::create_ring(&ring, 1 << 20).unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let consumer = {
        let (ring, seen) = (ring.clone(), Arc::clone(&seen));
        std::thread::spawn(move || drain_ring(&ring, &seen))
    };
    // T after every event so far, and after events 100..150 still to come.
    let t = ts(150) - 1500;
    let start = first_at_or_after(300, t);
    assert!(start > 100);
    let from = t.to_string();
    let mut replay = KillOnDrop(
        Command::new(common::BIN)
            .args(["replay", s(&dir), "--ring", s(&ring), "--from-time", &from])
            .args(["--follow", "--json"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let tail = Follower::start(&[
        "tail",
        "-f",
        "--from-time",
        &from,
        "--format",
        "jsonl",
        s(&dir),
    ]);
    wait_for("the replay to attach to the ring", || {
        journal::ring_info(&ring).unwrap().producer_pid != 0
    });
    for i in 100..300 {
        w.append(i);
    }
    w.close();
    if set {
        check_written(&dir, 300);
    }
    let mut got = Vec::new();
    read_until(&tail, 300, &mut got);
    assert_eq!(got, (start..300).collect::<Vec<_>>(), "set: {set}");
    stop_follower(tail);
    wait_for("the consumer to receive event 299", || {
        seen.load(Ordering::Acquire) >= 300 - start
    });
    replay.signal("-TERM");
    assert_eq!(replay.exit_code(), 0);
    let got = consumer.join().unwrap();
    assert_eq!(got, (start..300).collect::<Vec<_>>(), "set: {set}");
}

/// A new named cursor created with `--from-time T` before any event at or after T exists behaves as
/// `tail -f --from-time T`: it skips the live events before the first one at or after T, then
/// delivers every event from it on and commits as usual; a run that ends before the range starts
/// leaves no cursor behind. For a journal file and for a set.
#[test]
fn cursor_from_time_follow_waits_for_the_first_event_at_or_after_t() {
    for set in [false, true] {
        cursor_from_time_follow_waits(set);
    }
}

fn cursor_from_time_follow_waits(set: bool) {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join(if set { "set" } else { "j" });
    let mut w = if set {
        AnyWriter::Set(Box::new(
            SetWriter::options()
                .roll(RollPolicy::by_size(4096))
                .create(&dir)
                .unwrap(),
        ))
    } else {
        AnyWriter::File(Box::new(Writer::create(&dir).unwrap()))
    };
    for i in 0..100 {
        w.append(i);
    }
    let cursors = if set {
        dir.join("cursors")
    } else {
        tmp.path().join("j.cursors")
    };
    let position = |name: &str| {
        let b = std::fs::read(cursors.join(name)).ok()?;
        Some(u64::from_le_bytes(b[32..40].try_into().unwrap()))
    };
    let args = |from: &str, name: &str| {
        let args = ["tail", "-f", "--from-time", from, "--cursor", name];
        Follower::start(&[&args[..], &["--format", "jsonl", s(&dir)]].concat())
    };
    // T after every event so far, and after events 100..150 still to come.
    let t = ts(150) - 1500;
    let start = first_at_or_after(300, t);
    assert!(start > 100);
    let tail = args(&t.to_string(), "c");
    wait_for("the new cursor", || position("c") == Some(100));
    for i in 100..300 {
        w.append(i);
    }
    w.close();
    let mut got = Vec::new();
    read_until(&tail, 300, &mut got);
    assert_eq!(got, (start..300).collect::<Vec<_>>(), "set: {set}");
    wait_for("the commit of event 299", || position("c") == Some(300));
    stop_follower(tail);
    assert_eq!(position("c"), Some(300), "set: {set}");
    // Stopped before its range starts, a new cursor has delivered nothing and is not left behind.
    let tail = args(&ts(400).to_string(), "d");
    wait_for("the new cursor", || position("d") == Some(300));
    stop_follower(tail);
    assert_eq!(position("d"), None, "set: {set}");
}

/// `tail --from-time T` without -n prints the whole range (as `dump --from-time T`), for a journal
/// file as for a set; -n still counts within the range.
#[test]
fn tail_from_time_without_n_prints_every_event_from_t_for_a_file_too() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path().join("j");
    let mut w = Writer::options().chunk_size(4096).create(&path).unwrap();
    for i in 0..50 {
        w.append(ts(i), &payload(i)).unwrap();
    }
    w.close().unwrap();
    let t = ts(20) - 1500;
    let start = first_at_or_after(50, t);
    let from = t.to_string();
    let r = run(&["tail", "--from-time", &from, "--format", "jsonl", s(&path)]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{r:?}");
    let got: Vec<u64> = r.stdout.lines().map(index_of).collect();
    assert_eq!(got, (start..50).collect::<Vec<_>>());
    let r = run(&[
        "tail",
        "-n",
        "3",
        "--from-time",
        &from,
        "--format",
        "jsonl",
        s(&path),
    ]);
    let got: Vec<u64> = r.stdout.lines().map(index_of).collect();
    assert_eq!(got, [47, 48, 49]);
}

/// A follower whose next segments retention removed while it was not looking (stopped with
/// SIGSTOP: prune removes the oldest segments, its own included, and the one it needs next)
/// reads its own segment to the end, then stops with the "pruned" error (status 2), naming the
/// first event still available; it neither hangs nor skips silently.
#[test]
fn a_follower_whose_next_segment_was_pruned_says_so() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    make_set(dir, &[(0, &[1, 2, 3]), (3, &[4, 5])]);
    let f = Follower::start(&["tail", "-f", "-n", "+1", s(dir)]);
    for i in 0..5 {
        assert!(f.line().starts_with(&format!("index={i} ")));
    }
    f.signal("-STOP");
    make_set(dir, &[(5, &[6, 7]), (7, &[8])]);
    for first in [0, 3, 5] {
        std::fs::remove_file(dir.join(segment_name(first))).unwrap();
    }
    f.signal("-CONT");
    let (code, err, rest) = f.finish_with_rest();
    assert_eq!((code, rest.len()), (2, 0), "{err} {rest:?}");
    assert!(err.starts_with("journal: error: "), "{err}");
    assert!(err.contains("event 5 was pruned"), "{err}");
    assert!(err.contains("first available event is 7"), "{err}");
}
