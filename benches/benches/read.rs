//! Reading (BENCHMARKS.md, "Read", "Verify", "Seek").
//!
//! - `read`: a sequential pass over 64 MiB of events at 64 B, 256 B and 1 KiB, with and without
//!   the CRC check, against (with the `peers` feature) `seglog` (which always checks its CRC-32)
//!   and `khata-rs` (whose sequential reader checks nothing; the "+crc16" row adds its CRC-16 of
//!   every payload, the work its verified read does).
//! - `verify-1GiB`: `Reader::verify` of a 1 GiB journal of 1 KiB events in the page cache, with the
//!   reader opened once (mapping warm) and opened for each pass.
//! - `seek`: `Reader::iter_from_time` to the middle event of the 64 MiB journals.
//!
//! All files are written once, before timing, and are in the page cache while read.
#![allow(missing_docs)] // reason: criterion_group!/criterion_main! generate undocumented items

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
#[cfg(feature = "peers")]
use criterion::{measurement::WallTime, BenchmarkGroup};
use journal::{entry_len, Reader, Writer};
use journal_benches::{payload, results, Scratch, SIZES};
use serde_json::json;

/// Bytes of entries in each read/seek journal.
const READ_BYTES: u64 = 64 << 20;
/// Size of the verify journal.
const VERIFY_BYTES: u64 = 1 << 30;

fn write_journal(path: &Path, size: usize, events: u64) {
    let data = payload(size);
    let mut o = Writer::options();
    o.chunk_size(64 << 20);
    let mut w = o.create(path).expect("create journal");
    for i in 0..events {
        w.append(i as i64, &data).expect("append");
    }
    w.close().expect("close");
}

struct Files {
    size: usize,
    events: u64,
    journal: PathBuf,
    #[cfg(feature = "peers")]
    peers: Peers,
}

/// The same events in the peers' files.
#[cfg(feature = "peers")]
struct Peers {
    seglog: PathBuf,
    seglog_flushed: seglog::FlushedOffset,
    /// The queue that wrote the events: khata-rs 0.1.1 finds no cycle in a queue it reopens, so
    /// the reads go through the writer's instance.
    khata: khata_rs::Queue,
}

fn build(scratch: &Scratch, size: usize) -> Files {
    let events = READ_BYTES / entry_len(size as u32);
    let journal = scratch.fresh("read-journal");
    write_journal(&journal, size, events);
    Files {
        size,
        events,
        journal,
        #[cfg(feature = "peers")]
        peers: build_peers(scratch, size, events),
    }
}

#[cfg(feature = "peers")]
fn build_peers(scratch: &Scratch, size: usize, events: u64) -> Peers {
    let data = payload(size);
    let seglog = scratch.fresh("read-seglog");
    let seg_len = events as usize * (seglog::RECORD_HEAD_SIZE + size) + (1 << 20);
    let mut w = seglog::write::Writer::<0>::create(&seglog, seg_len, 0).expect("seglog create");
    for _ in 0..events {
        w.append_data(&data).expect("seglog append");
    }
    w.sync().expect("seglog sync");
    let seglog_flushed = w.flushed_offset();
    drop(w);

    let khata = scratch.fresh("read-khata");
    let queue = khata_rs::Queue::new(&khata)
        .block_size(events as usize * (8 + size) + (1 << 20))
        .checksums(true)
        .build()
        .expect("khata queue");
    let mut w = queue.writer().expect("khata writer");
    for _ in 0..events {
        w.write(&data).expect("khata write");
    }
    drop(w);
    Peers {
        seglog,
        seglog_flushed,
        khata: queue,
    }
}

/// Folds a payload into a checksum-free digest so that the reads cannot be optimized away.
#[inline]
fn touch(acc: u64, payload: &[u8]) -> u64 {
    acc.wrapping_add(payload.len() as u64) ^ payload.first().copied().unwrap_or(0) as u64
}

fn read(c: &mut Criterion) {
    let scratch = Scratch::new("read");
    let files: Vec<Files> = SIZES.iter().map(|&s| build(&scratch, s)).collect();

    let mut g = c.benchmark_group("read");
    for f in &files {
        g.throughput(Throughput::Elements(f.events));
        for (name, crc) in [("journal-crc", true), ("journal-nocrc", false)] {
            let mut r = Reader::open(&f.journal).expect("open journal");
            r.set_verify_checksums(crc);
            g.bench_function(BenchmarkId::new(name, f.size), |b| {
                b.iter(|| {
                    let mut acc = 0u64;
                    let mut n = 0;
                    for e in r.iter() {
                        acc = touch(acc, e.expect("event").payload);
                        n += 1;
                    }
                    assert_eq!(n, f.events);
                    black_box(acc)
                })
            });
        }
        #[cfg(feature = "peers")]
        read_peers(&mut g, f);
    }
    g.finish();

    let mut g = c.benchmark_group("seek");
    for f in files.iter().filter(|f| f.size != 256) {
        let middle = (f.events / 2) as i64;
        g.throughput(Throughput::Elements(f.events / 2));
        for (name, crc) in [("journal-crc", true), ("journal-nocrc", false)] {
            let mut r = Reader::open(&f.journal).expect("open journal");
            r.set_verify_checksums(crc);
            g.bench_function(BenchmarkId::new(name, f.size), |b| {
                b.iter(|| {
                    let it = r.iter_from_time(black_box(middle)).expect("seek");
                    assert_eq!(it.index(), middle as u64);
                    black_box(it.offset())
                })
            });
        }
    }
    g.finish();
}

#[cfg(feature = "peers")]
fn read_peers(g: &mut BenchmarkGroup<'_, WallTime>, f: &Files) {
    let mut r = seglog::read::Reader::<0>::open_read_only(
        &f.peers.seglog,
        Some(f.peers.seglog_flushed.clone()),
    )
    .expect("open seglog");
    g.bench_function(BenchmarkId::new("seglog-crc32", f.size), |b| {
        b.iter(|| {
            let mut acc = 0u64;
            let mut n = 0;
            let mut it = r.iter(0);
            while let Some(rec) = it.next_record().expect("seglog record") {
                acc = touch(acc, &rec.data);
                n += 1;
            }
            assert_eq!(n, f.events);
            black_box(acc)
        })
    });
    let queue = &f.peers.khata;
    for (name, crc) in [("khata-rs", false), ("khata-rs+crc16", true)] {
        g.bench_function(BenchmarkId::new(name, f.size), |b| {
            b.iter(|| {
                let mut r = queue.reader().expect("khata reader");
                r.rewind().expect("rewind");
                let mut acc = 0u64;
                while let Some(d) = r.read().expect("khata read") {
                    acc = touch(acc, d);
                    if crc {
                        acc ^= khata_rs::util::crc16(d) as u64;
                    }
                }
                assert_eq!(r.sequence(), f.events, "khata-rs read every event");
                black_box(acc)
            })
        });
    }
}

fn verify(c: &mut Criterion) {
    let scratch = Scratch::new("verify");
    let path = scratch.fresh("verify-journal");
    let events = VERIFY_BYTES / entry_len(1024);
    write_journal(&path, 1024, events);
    // Written back once, so that no writeback runs under the timed passes.
    std::fs::File::open(&path)
        .and_then(|f| f.sync_all())
        .expect("fsync verify journal");
    let len = std::fs::metadata(&path).expect("stat").len();
    results::record(
        "verify-1GiB",
        "file",
        json!({ "bytes": len, "events": events, "payload": 1024 }),
    );

    let mut g = c.benchmark_group("verify-1GiB");
    g.throughput(Throughput::Bytes(len));
    let r = Reader::open(&path).expect("open");
    g.bench_function("journal (reader open)", |b| {
        b.iter(|| {
            let report = r.verify().expect("verify");
            assert!(report.is_intact() && report.events == events);
        })
    });
    g.bench_function("journal (open+verify)", |b| {
        b.iter(|| {
            let r = Reader::open(&path).expect("open");
            let report = r.verify().expect("verify");
            assert!(report.is_intact() && report.events == events);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = journal_benches::criterion();
    targets = read, verify
}
criterion_main!(benches);
