//! The journal-set writer (spec/SET.md 5, 7): rolls by size and by time, the chain of global
//! indexes, claims across rolls, a crash at every step of a roll, SIGKILLed writers, the set lock.
//!
//! The set is read back here with plain `journal::Reader`s, one per segment, and checked against
//! SET.md's rules directly (the set reader is tested on its own).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use journal::set::layout::{list_segments, MAX_UNCLOSED, NEXT_FILE};
use journal::set::{segment_name, RollPolicy, RollStep, SetMeta};
use journal::{entry_len, Error, Reader, SetWriter, SetWriterOptions, SyncPolicy, WriterOptions};

use crate::process::{lines, say};
use crate::support::{env_count, mix, payload_for, timestamp_for, KillOnDrop, TempDir};
use crate::support::{wait_for, PATIENCE};

const SEC: i64 = 1_000_000_000;

/// One segment as read back: its first index (name), events and `write_offset`.
#[derive(Debug)]
struct Seg {
    first: u64,
    path: PathBuf,
    events: Vec<(i64, Vec<u8>)>,
    write_offset: u64,
}

/// Reads every segment with a plain Reader, checks each is intact and that the chain holds
/// exactly (SET.md 4), and that no sealed segment is empty.
fn read_set(dir: &Path) -> Vec<Seg> {
    read_segments_from(dir, 0)
}

/// All events of the set in global order.
fn all_events(segs: &[Seg]) -> Vec<(i64, Vec<u8>)> {
    segs.iter().flat_map(|s| s.events.iter().cloned()).collect()
}

fn size_opts(max_bytes: u64) -> SetWriterOptions {
    let mut o = SetWriterOptions::new();
    o.roll(RollPolicy::by_size(max_bytes)).chunk_size(64 << 10);
    o
}

/// As [`size_opts`], with the segments' pretoucher thread on (and so the set's own threads).
fn thread_opts(max_bytes: u64) -> SetWriterOptions {
    let mut seg = WriterOptions::new();
    seg.chunk_size(64 << 10).pretouch_thread(true);
    let mut o = SetWriterOptions::new();
    o.segment_options(seg).roll(RollPolicy::by_size(max_bytes));
    o
}

/// Whether every segment of `set` but the newest was closed cleanly (SET.md 5.4 R7): its file ends
/// at its `write_offset` (FORMAT.md 7.4). With `newest`, the newest one too.
fn closed_cleanly(set: &Path, newest: bool) -> bool {
    let segs = list_segments(set).unwrap();
    let n = segs.len() - usize::from(!newest && !segs.is_empty());
    segs[..n].iter().all(|s| {
        let bytes = std::fs::read(&s.path).unwrap();
        let wo = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        wo == bytes.len() as u64
    })
}

#[test]
fn rolls_by_size_every_mib_and_the_chain_is_exact() {
    let dir = TempDir::new("set-size");
    let set = dir.join("set");
    let mib = 1u64 << 20;
    let mut w = size_opts(mib).chunk_size(256 << 10).create(&set).unwrap();
    let mut i = 0u64;
    // Until at least 200 rolls; half the events by claim (the size roll is decided at claim).
    while list_segments(&set).unwrap().len() < 202 {
        let p = payload_for(i, 8192);
        let got = if i.is_multiple_of(2) {
            w.append(timestamp_for(i), &p).unwrap()
        } else {
            let mut c = w.claim(p.len()).unwrap();
            c.as_mut_slice().copy_from_slice(&p);
            c.commit(timestamp_for(i)).unwrap()
        };
        assert_eq!(got, i, "the global index of event {i}");
        i += 1;
        if i.is_multiple_of(500) {
            w.pretouch().unwrap();
        }
    }
    assert_eq!(w.events(), i);
    w.close().unwrap();
    assert!(
        !set.join(NEXT_FILE).exists(),
        "close leaves no prepared segment"
    );
    let segs = read_set(&set);
    assert!(segs.len() >= 202);
    let mut next = 0u64;
    for (k, s) in segs.iter().enumerate() {
        assert!(
            s.write_offset <= mib,
            "segment {} holds {} bytes",
            s.first,
            s.write_offset
        );
        if k + 1 < segs.len() {
            // It rolled exactly when the next event would not have fitted (SET.md 5.2 rule 2).
            let n = s.first + s.events.len() as u64;
            let len = entry_len(payload_for(n, 8192).len() as u32);
            assert!(
                s.write_offset + len > mib,
                "segment {} rolled early",
                s.first
            );
            // Sealed segments were closed cleanly: cut back to their content (SET.md 5.4 R7).
            assert_eq!(std::fs::metadata(&s.path).unwrap().len(), s.write_offset);
        }
        for (j, (ts, p)) in s.events.iter().enumerate() {
            let g = s.first + j as u64;
            assert_eq!(g, next);
            assert_eq!((*ts, p), (timestamp_for(g), &payload_for(g, 8192)));
            next += 1;
        }
    }
    assert_eq!(next, i);
}

/// The segment boundaries SET.md 5.2 rule 1 gives for these timestamps: the global index of each
/// segment's first event.
fn expected_time_firsts(policy: RollPolicy, stamps: &[i64]) -> Vec<u64> {
    let mut firsts = Vec::new();
    let mut cycle = None;
    for (i, &ts) in stamps.iter().enumerate() {
        let c = policy.cycle_of(ts).unwrap();
        match cycle {
            None => {
                firsts.push(i as u64);
                cycle = Some(c);
            }
            Some(s) if c > s => {
                firsts.push(i as u64);
                cycle = Some(c);
            }
            Some(_) => {}
        }
    }
    firsts
}

#[test]
fn rolls_by_time_every_second_and_backwards_timestamps_never_roll_back() {
    let dir = TempDir::new("set-time");
    let set = dir.join("set");
    let policy = RollPolicy {
        period_ns: SEC as u64,
        offset_ns: 250_000_000,
        max_bytes: 0,
    };
    // 20 events per second of event time, every 13th event 3 s in the past.
    let stamps: Vec<i64> = (0..4_400i64)
        .map(|i| {
            let t = 1_700_000_000 * SEC + i * (SEC / 20);
            if i % 13 == 12 {
                t - 3 * SEC
            } else {
                t
            }
        })
        .collect();
    let mut w = SetWriterOptions::new().roll(policy).create(&set).unwrap();
    for (i, &ts) in stamps.iter().enumerate() {
        let p = payload_for(i as u64, 100);
        // Every third event by claim: the time roll is decided at commit (SET.md 5.2, claims).
        let got = if i % 3 == 1 {
            let mut c = w.claim(p.len() + 7).unwrap();
            c.as_mut_slice()[..p.len()].copy_from_slice(&p);
            c.commit_len(ts, p.len()).unwrap()
        } else {
            w.append(ts, &p).unwrap()
        };
        assert_eq!(got, i as u64);
        if i % 40 == 0 {
            w.pretouch().unwrap();
        }
    }
    w.close().unwrap();
    let segs = read_set(&set);
    let firsts: Vec<u64> = segs.iter().map(|s| s.first).collect();
    assert_eq!(firsts, expected_time_firsts(policy, &stamps));
    assert!(segs.len() >= 200, "{} segments", segs.len());
    let events = all_events(&segs);
    assert_eq!(events.len(), stamps.len());
    for (i, (ts, p)) in events.iter().enumerate() {
        assert_eq!((*ts, p), (stamps[i], &payload_for(i as u64, 100)));
    }
    // Segment cycles strictly increase; no event is in a later cycle than its segment's.
    let mut last = i64::MIN;
    for s in &segs {
        let c = policy.cycle_of(s.events[0].0).unwrap();
        assert!(c > last);
        last = c;
        assert!(s.events.iter().all(|e| policy.cycle_of(e.0).unwrap() <= c));
    }
}

#[test]
fn a_backwards_timestamp_stays_in_the_current_segment() {
    let dir = TempDir::new("set-back");
    let set = dir.join("set");
    let mut w = SetWriterOptions::new()
        .roll(RollPolicy {
            period_ns: SEC as u64,
            ..RollPolicy::default()
        })
        .create(&set)
        .unwrap();
    for ts in [5 * SEC, 6 * SEC, 5 * SEC + 1, 6 * SEC + 1, 7 * SEC, 3 * SEC] {
        w.append(ts, b"x").unwrap();
    }
    w.close().unwrap();
    let counts: Vec<(u64, usize)> = read_set(&set)
        .iter()
        .map(|s| (s.first, s.events.len()))
        .collect();
    assert_eq!(counts, [(0, 1), (1, 3), (4, 2)]);
}

#[test]
fn an_oversize_event_gets_its_own_segment() {
    let dir = TempDir::new("set-big");
    let set = dir.join("set");
    let mut w = size_opts(4096).create(&set).unwrap();
    let big = vec![7u8; 10_000];
    assert_eq!(w.append(1, &big).unwrap(), 0); // first event of a new set: no empty segment
    assert_eq!(w.append(2, b"a").unwrap(), 1);
    assert_eq!(w.append(3, b"b").unwrap(), 2);
    assert_eq!(w.append(4, &big).unwrap(), 3);
    let mut c = w.claim(big.len()).unwrap();
    c.as_mut_slice().copy_from_slice(&big);
    assert_eq!(c.commit(5).unwrap(), 4);
    assert_eq!(w.append(6, b"c").unwrap(), 5);
    // A payload over the limit is refused before any roll.
    let segments = list_segments(&set).unwrap().len();
    assert!(matches!(
        w.append(7, &vec![0u8; journal::MAX_PAYLOAD as usize + 1]),
        Err(Error::PayloadTooLarge { .. })
    ));
    assert_eq!(list_segments(&set).unwrap().len(), segments);
    w.close().unwrap();
    let counts: Vec<(u64, usize)> = read_set(&set)
        .iter()
        .map(|s| (s.first, s.events.len()))
        .collect();
    assert_eq!(counts, [(0, 1), (1, 2), (3, 1), (4, 1), (5, 1)]);
}

#[test]
fn a_claim_committed_in_a_later_cycle_moves_to_the_new_segment() {
    let dir = TempDir::new("set-claim");
    let set = dir.join("set");
    let mut w = SetWriterOptions::new()
        .roll(RollPolicy {
            period_ns: SEC as u64,
            ..RollPolicy::default()
        })
        .create(&set)
        .unwrap();
    w.append(10 * SEC, b"first").unwrap();
    // Abandoned claims publish nothing.
    w.claim(64).unwrap().as_mut_slice().fill(0xEE);
    let mut c = w.claim(300).unwrap();
    c.as_mut_slice().fill(0xAB);
    assert_eq!(c.commit_len(11 * SEC, 200).unwrap(), 1);
    assert_eq!(w.segment_first_index(), 1);
    w.append(11 * SEC + 1, b"third").unwrap();
    w.close().unwrap();
    let segs = read_set(&set);
    assert_eq!(segs.len(), 2);
    assert_eq!(segs[0].events, [(10 * SEC, b"first".to_vec())]);
    assert_eq!(
        segs[1].events,
        [
            (11 * SEC, vec![0xAB; 200]),
            (11 * SEC + 1, b"third".to_vec())
        ]
    );
}

#[test]
fn reopening_keeps_the_stored_policy_and_the_segment_cycle() {
    let dir = TempDir::new("set-reopen");
    let set = dir.join("set");
    let meta = SetMeta {
        roll: RollPolicy {
            period_ns: 60 * SEC as u64,
            offset_ns: 0,
            max_bytes: 8192,
        },
        ..SetMeta::default()
    };
    let mut w = SetWriter::create(&set, meta).unwrap();
    w.append(60 * SEC + 5, b"a").unwrap();
    w.close().unwrap();
    // Other options at open: the stored policy wins (SET.md 3).
    let mut w = size_opts(1 << 20).open(&set).unwrap();
    assert_eq!(w.meta(), meta);
    assert_eq!(w.events(), 1);
    // Same cycle as the segment's first event (read from the segment): no roll.
    assert_eq!(w.append(119 * SEC, b"b").unwrap(), 1);
    assert_eq!(w.segment_first_index(), 0);
    drop(w);
    let mut w = SetWriter::open(&set).unwrap();
    assert_eq!(w.append(120 * SEC, b"c").unwrap(), 2);
    assert_eq!(w.segment_first_index(), 2);
    // The size limit is the stored one too: 8 KiB.
    for i in 3..200u64 {
        w.append(120 * SEC, &[i as u8; 100]).unwrap();
    }
    w.close().unwrap();
    let segs = read_set(&set);
    assert!(segs.len() > 3 && segs.iter().all(|s| s.write_offset <= 8192));
    // open_or_create on an existing set opens it; create refuses it.
    assert_eq!(
        SetWriter::open_or_create(&set, SetMeta::default())
            .unwrap()
            .events(),
        200
    );
    assert!(matches!(
        SetWriter::create(&set, meta),
        Err(Error::AlreadyExists { .. })
    ));
}

#[test]
fn create_and_open_refuse_what_is_not_a_set() {
    let dir = TempDir::new("set-bad");
    let busy = dir.join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), b"hello").unwrap();
    assert!(matches!(
        SetWriter::create(&busy, SetMeta::default()),
        Err(Error::BadSet { .. })
    ));
    assert!(matches!(SetWriter::open(&busy), Err(Error::BadSet { .. })));
    let file = dir.join("file");
    std::fs::write(&file, b"x").unwrap();
    assert!(SetWriter::create(&file, SetMeta::default()).is_err());
    let bad_policy = SetMeta {
        roll: RollPolicy::by_size(100),
        ..SetMeta::default()
    };
    assert!(matches!(
        SetWriter::create(dir.join("new"), bad_policy),
        Err(Error::BadSet { .. })
    ));
    // An empty directory (and one left by an interrupted creation) is created into.
    let empty = dir.join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join(".lock"), b"").unwrap();
    let w = SetWriter::create(&empty, SetMeta::default()).unwrap();
    assert_eq!(w.segment_path(), empty.join(segment_name(0)));
    w.close().unwrap();
    assert!(journal::set::is_set(&empty));
}

#[test]
fn a_second_writer_is_locked_out() {
    let dir = TempDir::new("set-lock");
    let set = dir.join("set");
    let w = SetWriter::create(&set, SetMeta::default()).unwrap();
    assert!(matches!(SetWriter::open(&set), Err(Error::Locked { .. })));
    assert!(matches!(
        SetWriter::open_or_create(&set, SetMeta::default()),
        Err(Error::Locked { .. })
    ));
    // And from another process.
    let mut c = set_child("lock", &set);
    let rx = lines(c.stdout.take().unwrap());
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "RES locked");
    c.wait().unwrap();
    drop(w);
    let mut c = set_child("lock", &set);
    let rx = lines(c.stdout.take().unwrap());
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), "RES opened");
    c.wait().unwrap();
}

#[test]
fn pretouch_prepares_the_next_segment_and_close_removes_it() {
    let dir = TempDir::new("set-prep");
    let set = dir.join("set");
    let mut w = size_opts(4096).create(&set).unwrap();
    assert!(!w.next_prepared());
    w.pretouch().unwrap();
    assert!(w.next_prepared());
    assert!(set.join(NEXT_FILE).exists());
    assert!(set.join(".next.journal.idx").exists());
    for i in 0..100u64 {
        w.append(i as i64, &[1u8; 200]).unwrap();
    }
    let name = w.segment_path().file_name().unwrap().to_owned();
    assert_ne!(name, *segment_name(0));
    // The segment's index was renamed with it (SET.md 5.4 R3).
    assert!(set.join(format!("{}.idx", name.to_str().unwrap())).exists());
    w.close().unwrap();
    assert!(!set.join(NEXT_FILE).exists());
    assert!(!set.join(".next.journal.idx").exists());
    // A set without a roll policy never prepares one.
    let mut w = SetWriter::create(dir.join("plain"), SetMeta::default()).unwrap();
    w.pretouch().unwrap();
    assert!(!w.next_prepared());
}

/// What the directory must hold right after a roll stopped after `step` (SET.md 7.4).
fn check_crash_state(set: &Path, step: RollStep, name: &str) {
    let next = set.join(NEXT_FILE).exists();
    let next_idx = set.join(".next.journal.idx").exists();
    let seg = set.join(name).exists();
    let idx = set.join(format!("{name}.idx")).exists();
    let want = match step {
        RollStep::Prepared | RollStep::Synced => (true, true, false, false),
        RollStep::IndexRenamed => (true, false, false, true),
        RollStep::Renamed | RollStep::DirSynced | RollStep::Switched => (false, false, true, true),
    };
    assert_eq!(
        (next, next_idx, seg, idx),
        want,
        "{step:?}: (.next, .next.idx, NAME, NAME.idx)"
    );
}

#[test]
fn a_crash_at_every_step_of_a_roll_loses_and_duplicates_nothing() {
    let steps = [
        RollStep::Prepared,
        RollStep::Synced,
        RollStep::IndexRenamed,
        RollStep::Renamed,
        RollStep::DirSynced,
        RollStep::Switched,
    ];
    for policy in [SyncPolicy::Never, SyncPolicy::EveryEvents(3)] {
        for step in steps {
            for prepared in [false, true] {
                let dir = TempDir::new("set-crash");
                let set = dir.join("set");
                let opts = || {
                    let mut o = size_opts(4096);
                    o.sync_policy(policy);
                    o
                };
                let mut w = opts().create(&set).unwrap();
                let mut acked = 0u64;
                // Two ordinary rolls first, so that a sealed segment exists before the crash.
                while w.segment_first_index() == 0 || list_segments(&set).unwrap().len() < 3 {
                    w.append(timestamp_for(acked), &payload_for(acked, 300))
                        .unwrap();
                    acked += 1;
                }
                if prepared {
                    w.pretouch().unwrap();
                }
                w.stop_roll_after(step);
                let name = loop {
                    let before = w.events();
                    match w.append(timestamp_for(acked), &payload_for(acked, 300)) {
                        Ok(g) => {
                            assert_eq!(g, acked);
                            acked += 1;
                        }
                        Err(e) => {
                            assert!(e.to_string().contains("test hook"), "{e}");
                            break segment_name(before);
                        }
                    }
                };
                w.abandon();
                check_crash_state(&set, step, &name);
                // The next writer finishes or undoes the roll (SET.md 7.3).
                let mut w = opts().open(&set).unwrap();
                assert_eq!(w.events(), acked, "{policy:?} {step:?}");
                assert!(!set.join(NEXT_FILE).exists());
                assert!(!set.join(".next.journal.idx").exists());
                let reused = set.join(&name).exists();
                assert_eq!(
                    reused,
                    matches!(
                        step,
                        RollStep::Renamed | RollStep::DirSynced | RollStep::Switched
                    )
                );
                if !reused {
                    assert!(
                        !set.join(format!("{name}.idx")).exists(),
                        "orphan index left"
                    );
                }
                let segs = list_segments(&set).unwrap();
                // The segment before the newest was cut back to its content (R7 finished).
                let sealed = &segs[segs.len() - 2].path;
                let r = Reader::open(sealed).unwrap();
                assert_eq!(
                    std::fs::metadata(sealed).unwrap().len(),
                    r.header().unwrap().write_offset
                );
                drop(r);
                for _ in 0..40 {
                    assert_eq!(
                        w.append(timestamp_for(acked), &payload_for(acked, 300))
                            .unwrap(),
                        acked
                    );
                    acked += 1;
                }
                w.close().unwrap();
                let events = all_events(&read_set(&set));
                assert_eq!(events.len() as u64, acked);
                for (i, (ts, p)) in events.iter().enumerate() {
                    let i = i as u64;
                    assert_eq!((*ts, p), (timestamp_for(i), &payload_for(i, 300)));
                }
            }
        }
    }
}

/// Starts this test binary as a child on [`set_child_entry`] in `role`.
fn set_child(role: &str, set: &Path) -> KillOnDrop {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "set_writer::set_child_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("JOURNAL_IT_CHILD", role)
        .env("JOURNAL_IT_PATH", set)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    KillOnDrop(child)
}

const KILL_PAYLOAD: usize = 700;

/// The entry point of the set tests' child processes (run by the parent tests only).
#[test]
#[ignore = "child process entry point for the set writer's process tests"]
fn set_child_entry() {
    let role = std::env::var("JOURNAL_IT_CHILD").expect("JOURNAL_IT_CHILD");
    let set = PathBuf::from(std::env::var("JOURNAL_IT_PATH").expect("JOURNAL_IT_PATH"));
    let mut out = std::io::stdout().lock();
    match role.as_str() {
        // Append forever (rolling every 4 KiB), reporting each event once its append returned;
        // pretouch now and then, so kills land in prepared and unprepared rolls alike.
        "writer" | "sync-writer" | "thread-writer" => {
            let mut o = size_opts(4096);
            if role == "sync-writer" {
                o.sync_policy(SyncPolicy::EveryEvents(5));
            }
            if role == "thread-writer" {
                // The set's threads close sealed segments and prepare the next ones.
                o = thread_opts(4096);
            }
            let mut w = o.open_or_create(&set).unwrap();
            for i in w.events().. {
                let got = w
                    .append(timestamp_for(i), &payload_for(i, KILL_PAYLOAD))
                    .unwrap();
                assert_eq!(got, i);
                say(&mut out, format!("PUB {i}"));
                if mix(i).is_multiple_of(7) {
                    w.pretouch().unwrap();
                }
            }
        }
        "lock" => {
            let res = match SetWriter::open(&set) {
                Ok(_) => "opened".to_string(),
                Err(Error::Locked { .. }) => "locked".to_string(),
                Err(e) => format!("error {e}"),
            };
            say(&mut out, format!("RES {res}"));
        }
        other => panic!("unknown role {other}"),
    }
}

/// Reads the segments from the `from`-th one on, as [`read_set`] does for all of them.
fn read_segments_from(dir: &Path, from: usize) -> Vec<Seg> {
    let all = list_segments(dir).unwrap();
    let mut out: Vec<Seg> = Vec::new();
    for s in &all[from.min(all.len())..] {
        let r = Reader::open(&s.path).unwrap();
        let rep = r.verify().unwrap();
        assert!(rep.is_intact(), "{}: {rep:?}", s.path.display());
        let events: Vec<(i64, Vec<u8>)> = r
            .iter()
            .map(|e| {
                let e = e.unwrap();
                (e.timestamp, e.payload.to_vec())
            })
            .collect();
        if let Some(prev) = out.last() {
            assert!(
                !prev.events.is_empty(),
                "sealed segment {} is empty",
                prev.first
            );
            assert_eq!(
                prev.first + prev.events.len() as u64,
                s.first_index,
                "the chain breaks after segment {}",
                prev.first
            );
        }
        out.push(Seg {
            first: s.first_index,
            path: s.path.clone(),
            events,
            write_offset: rep.write_offset,
        });
    }
    out
}

#[test]
fn sigkilled_set_writer_loses_no_published_event() {
    let kills = env_count("JOURNAL_SET_KILLS", 120);
    let dir = TempDir::new("set-kill");
    let set = dir.join("set");
    let mut seed = 0x5E7_u64 ^ std::process::id() as u64;
    let mut reported = 0u64;
    // Segments before this one were checked (and are sealed: their events never change again,
    // though the next writer still cuts back those a kill left without their close, SET.md 7.3).
    let mut checked_segs = 0usize;
    let mut empty_newest = 0u64;
    for round in 0..kills {
        let role = match round % 4 {
            3 => "sync-writer",
            1 => "thread-writer",
            _ => "writer",
        };
        let mut c = set_child(role, &set);
        let rx = lines(c.stdout.take().unwrap());
        // Let it start appending, then kill it at a random moment.
        let first = rx
            .recv_timeout(PATIENCE)
            .expect("the child published nothing");
        assert!(first.starts_with("PUB "), "{first}");
        seed = mix(seed);
        std::thread::sleep(Duration::from_micros(seed % 40_000));
        c.kill().unwrap();
        c.wait().unwrap();
        let last = rx
            .iter()
            .chain(std::iter::once(first))
            .map(|l| l[4..].parse::<u64>().unwrap() + 1)
            .max()
            .unwrap();
        reported = reported.max(last);
        let from = checked_segs.saturating_sub(2);
        let segs = read_segments_from(&set, from);
        let end = segs.last().map_or(0, |s| s.first + s.events.len() as u64);
        assert!(
            end >= reported,
            "round {round}: {reported} events published, {end} in the set"
        );
        for s in &segs {
            for (j, (ts, p)) in s.events.iter().enumerate() {
                let g = s.first + j as u64;
                assert_eq!(
                    (*ts, p),
                    (timestamp_for(g), &payload_for(g, KILL_PAYLOAD)),
                    "round {round}: event {g}"
                );
            }
        }
        checked_segs = from + segs.len();
        // A kill between R4 and R6 leaves an empty newest segment (SET.md 7.4).
        if segs.len() >= 2 && segs.last().is_some_and(|s| s.events.is_empty()) {
            empty_newest += 1;
        }
    }
    eprintln!(
        "{kills} kills: {checked_segs} segments, {empty_newest} kills left an empty newest segment"
    );
    // Rolls happened under the kills. Each roll prepares a segment (a create and its fsyncs) and
    // closes the sealed one, so on a slow disk a child makes about one roll per life, and kills
    // often land inside one.
    assert!(
        checked_segs >= 10,
        "only {checked_segs} segments after {kills} kills"
    );
    // The whole set chains, and is still appendable after all that; every sealed segment was
    // closed, by its writer or by the next one (SET.md 5.4 R7, 7.3 step 6).
    let mut w = size_opts(4096).open(&set).unwrap();
    assert_eq!(
        unclosed(&set),
        0,
        "a sealed segment was left without its close"
    );
    let n = w.events();
    assert_eq!(
        w.append(timestamp_for(n), &payload_for(n, KILL_PAYLOAD))
            .unwrap(),
        n
    );
    w.close().unwrap();
    assert_eq!(all_events(&read_set(&set)).len() as u64, n + 1);
}

#[test]
fn a_sealed_segment_damaged_by_a_power_cut_is_left_alone_and_the_break_shows() {
    let dir = TempDir::new("set-cut");
    let set = dir.join("set");
    let mut w = size_opts(4096).create(&set).unwrap();
    let mut n = 0u64;
    while list_segments(&set).unwrap().len() < 3 {
        w.append(timestamp_for(n), &payload_for(n, 300)).unwrap();
        n += 1;
    }
    // Killed right after a roll: the segment before the newest was not closed (R7).
    w.abandon();
    let segs = list_segments(&set).unwrap();
    let sealed = segs[segs.len() - 2].path.clone();
    // What a power cut under `never` can leave (SET.md 9): the header reached the disk, the last
    // entry did not.
    let r = Reader::open(&sealed).unwrap();
    let offsets: Vec<u64> = {
        let mut it = r.iter();
        let mut v = vec![it.offset()];
        while it.next().is_some() {
            v.push(it.offset());
        }
        v
    };
    let count = offsets.len() as u64 - 1;
    drop(r);
    let mut bytes = std::fs::read(&sealed).unwrap();
    let last = offsets[offsets.len() - 2] as usize;
    let end = offsets[offsets.len() - 1] as usize;
    bytes[last..end].fill(0);
    std::fs::write(&sealed, &bytes).unwrap();
    // The writer opens and continues; it does not cut the damaged sealed segment (SET.md 7.3).
    let mut w = size_opts(4096).open(&set).unwrap();
    let g = w.events();
    assert_eq!(w.append(timestamp_for(g), b"after").unwrap(), g);
    w.close().unwrap();
    assert_eq!(
        std::fs::read(&sealed).unwrap(),
        bytes,
        "the sealed segment was changed"
    );
    // The break is visible to anyone who checks the chain (SET.md 4): one event short.
    let r = Reader::open(&sealed).unwrap();
    let rep = r.verify().unwrap();
    assert!(!rep.is_intact());
    assert_eq!(rep.events, count - 1);
    let first = segs[segs.len() - 2].first_index;
    assert_eq!(segs[segs.len() - 1].first_index, first + count);
}

#[test]
fn the_writer_applies_the_stored_retention_after_each_roll() {
    let dir = TempDir::new("set-retain");
    let set = dir.join("set");
    let mut opts = size_opts(64 << 10);
    opts.retention(journal::set::Retention {
        keep: 3,
        ..Default::default()
    });
    let mut w = opts.create(&set).unwrap();
    let payload = [7u8; 1000];
    let mut most = 0;
    for i in 0..2_000i64 {
        w.append(i, &payload).unwrap();
        if i % 50 == 0 {
            w.pretouch().unwrap();
            most = most.max(list_segments(&set).unwrap().len());
        }
    }
    w.close().unwrap();
    let segs = read_set(&set);
    assert_eq!(segs.len(), 3, "keep 3 leaves the newest three segments");
    // Between a roll and the next pretouch the sealed segment is not yet pruned: never more than
    // one segment over the limit.
    assert!(most <= 4, "{most} segments at once");
    let kept = all_events(&segs);
    let first = segs[0].first as i64;
    assert!(first > 0, "older segments were removed");
    assert_eq!(
        kept.len() as i64,
        2_000 - first,
        "the kept segments end at the last event"
    );
    for (k, (ts, _)) in kept.iter().enumerate() {
        assert_eq!(*ts, first + k as i64);
    }
}

#[test]
fn the_writer_removes_segments_older_than_the_stored_age() {
    let dir = TempDir::new("set-age");
    let set = dir.join("set");
    let mut w = SetWriterOptions::new()
        .roll(RollPolicy {
            period_ns: SEC as u64,
            ..RollPolicy::default()
        })
        .retention(journal::set::Retention {
            max_age_ns: 2 * SEC as u64,
            ..Default::default()
        })
        .create(&set)
        .unwrap();
    // Ten one-second cycles of four events each.
    for s in 0..10 {
        for q in 0..4 {
            w.append(s * SEC + q * SEC / 4, b"e").unwrap();
        }
    }
    w.close().unwrap();
    // The last roll sealed cycle 8 (newest 8.75 s): segments whose newest event is older than
    // 6.75 s are gone, so cycles 0..=5 are removed and 6, 7, 8 (sealed) and 9 (newest) remain.
    let firsts: Vec<u64> = read_set(&set).iter().map(|s| s.first).collect();
    assert_eq!(firsts, [24, 28, 32, 36]);
}

/// SET.md 9: under `never`, a roll syncs nothing; a later explicit `sync` must make durable every
/// event published before it, so it syncs every segment sealed since the last sync (whose tails a
/// roll left unsynced) and the directory (whose renames name them), not only the current segment.
/// With the index off, closing a sealed segment syncs nothing either.
#[test]
fn an_explicit_sync_under_never_makes_the_segments_sealed_since_the_last_one_durable() {
    let dir = TempDir::new("set-sync-never");
    let set = dir.join("set");
    let mut w = size_opts(8 << 10)
        .sync_policy(SyncPolicy::Never)
        .index(false)
        .create(&set)
        .unwrap();
    let mut i = 0u64;
    while list_segments(&set).unwrap().len() < 4 {
        w.append(timestamp_for(i), &payload_for(i, 1000)).unwrap();
        i += 1;
    }
    let sealed: Vec<PathBuf> = list_segments(&set).unwrap()[..3]
        .iter()
        .map(|s| s.path.clone())
        .collect();
    w.sync().unwrap();
    let synced = w.synced_paths();
    let dir_at = synced.iter().rposition(|p| p == &set);
    let dir_at = dir_at.unwrap_or_else(|| panic!("the directory was not synced: {synced:?}"));
    for s in &sealed {
        let at = synced.iter().position(|p| p == s);
        assert!(
            at.is_some_and(|at| at < dir_at),
            "sealed segment {} not synced before the directory: {synced:?}",
            s.display()
        );
    }
    // Nothing sealed since: the next sync syncs the current segment only.
    let before = w.synced_paths().len();
    w.append(timestamp_for(i), b"x").unwrap();
    w.sync().unwrap();
    assert_eq!(w.synced_paths().len(), before);
    w.close().unwrap();
    assert_eq!(all_events(&read_set(&set)).len() as u64, i + 1);
}

/// Growth ahead of a set's appends stops at the roll size (SET.md 5.1): a chunk allocated and
/// pre-faulted past it would only be cut back when the segment is closed, work thrown away at
/// every roll. With `pretouch` called after every append, and with the segments' own pretoucher
/// threads, no segment's file ever grows past the roll size.
#[test]
fn growth_ahead_of_a_segment_stops_at_the_roll_size() {
    let dir = TempDir::new("set-growth-cap");
    let mib = 1u64 << 20;
    for thread in [false, true] {
        let set = dir.join(&format!("set-{thread}"));
        let mut w = size_opts(mib)
            .chunk_size(256 << 10)
            .segment_options({
                let mut o = WriterOptions::new();
                o.chunk_size(256 << 10).pretouch_thread(thread);
                o
            })
            .create(&set)
            .unwrap();
        let mut i = 0u64;
        while list_segments(&set).unwrap().len() < 4 {
            w.append(timestamp_for(i), &payload_for(i, 1000)).unwrap();
            if !thread {
                w.pretouch().unwrap();
            }
            let len = std::fs::metadata(w.segment_path()).unwrap().len();
            assert!(
                len <= mib,
                "segment {} grew to {len} bytes, past the roll size {mib} (thread: {thread})",
                w.segment_path().display()
            );
            i += 1;
        }
        w.close().unwrap();
        assert_eq!(all_events(&read_set(&set)).len() as u64, i);
    }
}

/// With the segments' pretoucher thread on, the set's own threads close each segment a roll seals
/// (SET.md 5.4 R7) and prepare the next one (5.3): with nothing but appends on the appending
/// thread, the sealed segments end up closed and `.next.journal` prepared. A close or a drop right
/// after a roll waits for those threads: nothing is left half done.
#[test]
fn with_the_pretouch_thread_rolls_are_finished_off_the_appending_thread() {
    let dir = TempDir::new("set-worker");
    for ending in ["close", "drop"] {
        let set = dir.join(ending);
        let mut w = thread_opts(16 << 10).create(&set).unwrap();
        let mut i = 0u64;
        let mut append_until_segments = |w: &mut SetWriter, n: usize| {
            while list_segments(&set).unwrap().len() < n {
                w.append(timestamp_for(i), &payload_for(i, 1000)).unwrap();
                i += 1;
            }
        };
        append_until_segments(&mut w, 6);
        let deadline = Instant::now() + PATIENCE;
        while !(closed_cleanly(&set, false)
            && set.join(NEXT_FILE).exists()
            && set.join(".next.journal.idx").exists())
        {
            assert!(
                Instant::now() < deadline,
                "{ending}: the sealed segments were not closed, or the next one not prepared"
            );
            std::thread::yield_now();
        }
        append_until_segments(&mut w, 7);
        match ending {
            "close" => w.close().unwrap(),
            _ => drop(w),
        }
        assert!(!set.join(NEXT_FILE).exists(), "{ending}");
        assert!(!set.join(".next.journal.idx").exists(), "{ending}");
        assert!(closed_cleanly(&set, true), "{ending}");
        assert_eq!(all_events(&read_set(&set)).len() as u64, i, "{ending}");
    }
}

/// The sealed segments of `set` (all but the newest) that were not closed cleanly (SET.md 5.4 R7):
/// their file is longer than their `write_offset`.
fn unclosed(set: &Path) -> usize {
    let segs = list_segments(set).unwrap();
    segs[..segs.len().saturating_sub(1)]
        .iter()
        .filter(|s| {
            let bytes = std::fs::read(&s.path).unwrap();
            u64::from_le_bytes(bytes[..8].try_into().unwrap()) < bytes.len() as u64
        })
        .count()
}

/// Appends deterministic events from `*i` on until the set rolled `rolls` times.
fn append_rolls(w: &mut SetWriter, i: &mut u64, rolls: usize) {
    for _ in 0..rolls {
        let first = w.segment_first_index();
        while w.segment_first_index() == first {
            w.append(timestamp_for(*i), &payload_for(*i, 1000)).unwrap();
            *i += 1;
        }
    }
}

/// With the set's threads on, a roll does not wait for the close of a sealed segment (SET.md 5.4
/// R7), which under `never` syncs the whole segment and so waits for the disk: while the closes
/// are held, as a disk slower than the appends holds them, the writer keeps appending and
/// rolling, each roll with a segment prepared on the preparing thread, until `MAX_UNCLOSED` sealed
/// segments wait for their close; only the roll after that waits. Released, every close finishes
/// and nothing is lost. (With one thread that closed and prepared in turn, the second roll waited:
/// its preparation queued behind the held close.)
#[test]
fn with_the_pretouch_thread_a_roll_does_not_wait_for_a_close_in_progress() {
    let dir = TempDir::new("set-held-close");
    let set = dir.join("set");
    let mut w = thread_opts(16 << 10).create(&set).unwrap();
    let hold = w.hold_closes();
    let appender = std::thread::spawn(move || {
        let mut i = 0u64;
        append_rolls(&mut w, &mut i, MAX_UNCLOSED + 1);
        (w, i)
    });
    wait_for("the first close to be held", || hold.holding_a_close());
    wait_for("the writer to roll past the held close", || {
        list_segments(&set).unwrap().len() == MAX_UNCLOSED + 1
    });
    wait_for("the roll past the bound to wait for a close", || {
        hold.rolls_waited() > 0
    });
    assert_eq!(list_segments(&set).unwrap().len(), MAX_UNCLOSED + 1);
    assert_eq!(unclosed(&set), MAX_UNCLOSED);
    assert!(hold.holding_a_close());
    assert!(!appender.is_finished(), "a roll went past the bound");
    hold.release();
    let (w, n) = appender.join().unwrap();
    w.close().unwrap();
    assert_eq!(list_segments(&set).unwrap().len(), MAX_UNCLOSED + 2);
    assert!(closed_cleanly(&set, true));
    assert!(!set.join(NEXT_FILE).exists());
    assert_eq!(all_events(&read_set(&set)).len() as u64, n);
}

/// SET.md 7.3 step 6: a writer killed while `MAX_UNCLOSED` sealed segments still waited for their
/// close (5.4 R7: its thread's closes held, as a slow disk holds them) leaves them all without it;
/// the next writer finishes R7 for every one of them.
#[test]
fn a_writer_killed_with_closes_pending_leaves_them_all_to_the_next_writer() {
    let dir = TempDir::new("set-killed-closes");
    let set = dir.join("set");
    let mut w = thread_opts(16 << 10).create(&set).unwrap();
    let mut n = 0u64;
    // A first roll whose close goes through, so that an older sealed segment is closed.
    append_rolls(&mut w, &mut n, 1);
    w.sync().unwrap();
    let hold = w.hold_closes();
    append_rolls(&mut w, &mut n, MAX_UNCLOSED);
    w.abandon();
    drop(hold);
    assert_eq!(list_segments(&set).unwrap().len(), MAX_UNCLOSED + 2);
    assert_eq!(unclosed(&set), MAX_UNCLOSED);
    let mut w = thread_opts(16 << 10).open(&set).unwrap();
    assert_eq!(unclosed(&set), 0, "a sealed segment keeps its tail");
    assert_eq!(w.events(), n);
    assert_eq!(w.append(timestamp_for(n), b"after").unwrap(), n);
    w.close().unwrap();
    assert!(closed_cleanly(&set, true));
    assert_eq!(all_events(&read_set(&set)).len() as u64, n + 1);
}

/// SET.md 7.3 step 6: the next writer finishes R7 for each of the `MAX_UNCLOSED` segments before
/// the newest that lacks it (here a preallocated tail past its content), whichever they are.
#[test]
fn opening_finishes_r7_for_every_segment_before_the_newest_that_lacks_it() {
    let dir = TempDir::new("set-tidy");
    let set = dir.join("set");
    let mut w = size_opts(4096).create(&set).unwrap();
    let mut n = 0u64;
    while list_segments(&set).unwrap().len() < MAX_UNCLOSED + 2 {
        w.append(timestamp_for(n), &payload_for(n, 300)).unwrap();
        n += 1;
    }
    w.close().unwrap();
    assert!(closed_cleanly(&set, true));
    let segs = list_segments(&set).unwrap();
    let sealed = &segs[1..segs.len() - 1];
    assert_eq!(sealed.len(), MAX_UNCLOSED);
    // Every other one, the oldest of them included: not only a run of the newest.
    for s in sealed.iter().step_by(2) {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&s.path)
            .unwrap();
        let len = f.metadata().unwrap().len();
        f.set_len(len + 8192).unwrap();
    }
    assert_eq!(unclosed(&set), MAX_UNCLOSED / 2);
    let mut w = size_opts(4096).open(&set).unwrap();
    assert_eq!(unclosed(&set), 0, "a sealed segment keeps its tail");
    let g = w.events();
    assert_eq!(w.append(timestamp_for(g), b"after").unwrap(), g);
    w.close().unwrap();
    assert_eq!(all_events(&read_set(&set)).len() as u64, n + 1);
}

/// An error of the set's threads is returned by a later call, never lost: by `pretouch` once the
/// preparing thread is done (the one after retries), or by `close`, which waits for the threads.
#[test]
fn an_error_of_the_sets_thread_surfaces_on_a_later_call() {
    let dir = TempDir::new("set-worker-error");
    for ending in ["pretouch", "close"] {
        let set = dir.join(ending);
        let mut w = thread_opts(16 << 10).create(&set).unwrap();
        w.prepare_next().unwrap();
        assert!(w.next_prepared());
        w.inject_prepare_failure();
        let mut i = 0u64;
        // The roll takes the prepared segment and hands the thread a preparation that fails.
        while w.segment_first_index() == 0 {
            w.append(timestamp_for(i), &payload_for(i, 1000)).unwrap();
            i += 1;
        }
        if ending == "pretouch" {
            let deadline = Instant::now() + PATIENCE;
            let err = loop {
                match w.pretouch() {
                    Err(e) => break e,
                    Ok(()) => assert!(Instant::now() < deadline, "no error surfaced"),
                }
                std::thread::yield_now();
            };
            assert!(err.to_string().contains("test hook"), "{err}");
            while !w.next_prepared() {
                assert!(Instant::now() < deadline, "the preparation was not retried");
                w.pretouch().unwrap();
                std::thread::yield_now();
            }
            w.close().unwrap();
        } else {
            let err = w.close().unwrap_err();
            assert!(err.to_string().contains("test hook"), "{err}");
        }
        assert!(!set.join(NEXT_FILE).exists(), "{ending}");
        assert!(closed_cleanly(&set, true), "{ending}");
        assert_eq!(all_events(&read_set(&set)).len() as u64, i, "{ending}");
    }
}

/// `SetWriterOptions::index(false)` wins over `index_intervals`, in whichever order the two are
/// called, as for one journal: no segment gets an index.
#[test]
fn set_index_off_wins_over_index_intervals_in_either_order() {
    let dir = TempDir::new("set-index-off");
    let iv = journal::index::Intervals {
        bytes: 4096,
        events: 16,
    };
    for (name, off_first, on) in [
        ("off-then-intervals", Some(true), false),
        ("intervals-then-off", Some(false), false),
        ("intervals-only", None, true),
    ] {
        let set = dir.join(name);
        let mut o = size_opts(8 << 10);
        match off_first {
            Some(true) => o.index(false).index_intervals(iv),
            Some(false) => o.index_intervals(iv).index(false),
            None => o.index_intervals(iv),
        };
        let mut w = o.create(&set).unwrap();
        let mut i = 0u64;
        while list_segments(&set).unwrap().len() < 3 {
            w.append(timestamp_for(i), &payload_for(i, 1000)).unwrap();
            i += 1;
        }
        w.close().unwrap();
        for s in list_segments(&set).unwrap() {
            let idx = journal::index::index_path(&s.path);
            assert_eq!(idx.exists(), on, "{name}: {}", idx.display());
        }
    }
}
