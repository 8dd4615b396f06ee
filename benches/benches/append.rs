//! Append throughput (BENCHMARKS.md, "Append").
//!
//! Copying append and zero-copy claim at 64 B, 256 B and 1 KiB, on a prefaulted journal and on a
//! fresh file whose growth is timed, under three sync policies; in the same groups the raw limit
//! (copy plus CRC-32 into a prefaulted buffer) and, with the `peers` feature, the peers `seglog`
//! and `khata-rs`.
//!
//! Each benchmark writes into files of at most [`FILE_CAP`] bytes: when one is full the timer
//! stops, the file is closed and removed, and a new one is created before the timer restarts. So
//! file creation and removal are never timed; growth (allocation and pre-faulting of each 16 MiB
//! chunk after the first) is, in the "fresh" runs.
//!
//! In `append-sync-never`, `journal-batch16` and `journal-batch64` append 64 B events with
//! `Writer::append_batch`, 16 or 64 events to a publish; the time is still per event.
//!
//! The `append-growing-1GiB` group appends into fresh files of 1 GiB (growth timed throughout) under
//! `SyncPolicy::Never`, with default options and with the writer's own pretoucher thread, at 64 B,
//! 256 B and 1 KiB, beside the peers writing 1 GiB files too (issue 15's goals compare these).
//!
//! `JOURNAL_BENCH_WAKE_FILE=0` makes the journal writers of the `append-sync-*` groups without a
//! wake-up file (`WriterOptions::wake_file(false)`), for an A/B of the append's check for sleeping
//! tailers.
//!
//! The `create` group times `WriterOptions::create` of a new journal under `SyncPolicy::Never`
//! (default options, and with the pretoucher thread, whose start it includes); closing and removing
//! the file are not timed.
#![allow(missing_docs)] // reason: criterion_group!/criterion_main! generate undocumented items

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use journal::{entry_len, SyncPolicy, Writer, WriterOptions};
use journal_benches::{env_u64, limit_store, payload, prefaulted, Scratch, SIZES};

/// Bytes written into one file before it is replaced (untimed).
const FILE_CAP: u64 = 256 << 20;
/// The same for the growing-file group: a whole 1 GiB file grows under the timer.
const GROWING_CAP: u64 = 1 << 30;
const ONE_MIB: u64 = 1 << 20;

#[derive(Clone, Copy, Debug)]
enum Sync {
    Never,
    EveryMiB,
    Every1000,
}

impl Sync {
    const ALL: [Sync; 3] = [Sync::Never, Sync::EveryMiB, Sync::Every1000];

    fn group(self) -> &'static str {
        match self {
            Sync::Never => "append-sync-never",
            Sync::EveryMiB => "append-sync-1MiB",
            Sync::Every1000 => "append-sync-1000ev",
        }
    }

    fn policy(self) -> SyncPolicy {
        match self {
            Sync::Never => SyncPolicy::Never,
            Sync::EveryMiB => SyncPolicy::EveryBytes(ONE_MIB),
            Sync::Every1000 => SyncPolicy::EveryEvents(1000),
        }
    }
}

/// The same policy for a peer: whether a sync is due after a record of `bytes` bytes.
#[cfg(feature = "peers")]
struct PeerSync {
    sync: Sync,
    bytes: u64,
    events: u64,
}

#[cfg(feature = "peers")]
impl PeerSync {
    fn new(sync: Sync) -> Self {
        PeerSync {
            sync,
            bytes: 0,
            events: 0,
        }
    }

    #[inline]
    fn due(&mut self, bytes: u64) -> bool {
        match self.sync {
            Sync::Never => false,
            Sync::EveryMiB => {
                self.bytes += bytes;
                if self.bytes >= ONE_MIB {
                    self.bytes = 0;
                    true
                } else {
                    false
                }
            }
            Sync::Every1000 => {
                self.events += 1;
                if self.events >= 1000 {
                    self.events = 0;
                    true
                } else {
                    false
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum State {
    /// The whole file allocated and pre-faulted at creation (untimed).
    Prefaulted,
    /// Default options: the file grows by 16 MiB chunks as appends need them (timed).
    Fresh,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Prefaulted => "prefaulted",
            State::Fresh => "fresh",
        }
    }
}

fn journal_options(state: State, sync: Sync) -> WriterOptions {
    let mut o = Writer::options();
    o.sync_policy(sync.policy());
    // `JOURNAL_BENCH_WAKE_FILE=0`: the writers make no wake-up file, so their appends skip the
    // check for sleeping tailers (an A/B of that check's cost).
    if env_u64("JOURNAL_BENCH_WAKE_FILE", 1) == 0 {
        o.wake_file(false);
    }
    if let State::Prefaulted = state {
        o.chunk_size(FILE_CAP + ONE_MIB);
    }
    o
}

/// One contender's open file, kept across criterion's calls so that a call with few iterations is
/// timed on a warm writer, and replaced (untimed) once [`FILE_CAP`] bytes went into it.
trait Sink {
    /// Bytes one event takes in the file.
    fn event_len(&self) -> u64;
    /// Opens a new file (untimed).
    fn open(&mut self);
    /// Writes `n` events into the open file (which has room for them); returns the time taken.
    fn write(&mut self, n: u64) -> Duration;
    /// Closes and removes the open file, if any (untimed).
    fn close(&mut self);
}

/// A sink and how full its open file is. The file is opened before criterion's first call (each
/// call of a benchmark's closure would otherwise start from a new, cold file) and replaced,
/// untimed, whenever the next events would not fit.
struct Rotating<S: Sink> {
    sink: S,
    per_file: u64,
    used: u64,
}

impl<S: Sink> Rotating<S> {
    fn new(mut sink: S, cap: u64) -> Self {
        sink.open();
        Rotating {
            per_file: cap / sink.event_len(),
            sink,
            used: 0,
        }
    }

    fn run(&mut self, iters: u64) -> Duration {
        let mut left = iters;
        let mut total = Duration::ZERO;
        while left > 0 {
            if self.used == self.per_file {
                self.sink.close();
                self.sink.open();
                self.used = 0;
            }
            let n = left.min(self.per_file - self.used);
            total += self.sink.write(n);
            self.used += n;
            left -= n;
        }
        total
    }
}

impl<S: Sink> Drop for Rotating<S> {
    fn drop(&mut self) {
        self.sink.close();
    }
}

fn bench_sink<S: Sink>(g: &mut BenchmarkGroup<'_, WallTime>, id: BenchmarkId, sink: S) {
    bench_sink_cap(g, id, sink, FILE_CAP);
}

fn bench_sink_cap<S: Sink>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    sink: S,
    cap: u64,
) {
    let mut r = Rotating::new(sink, cap);
    g.bench_function(id, |b| b.iter_custom(|iters| r.run(iters)));
}

struct JournalSink<'a> {
    scratch: &'a Scratch,
    opts: WriterOptions,
    data: Vec<u8>,
    claim: bool,
    /// Events per `append_batch` call; 0 appends one at a time (or claims, with `claim`).
    batch: u64,
    /// Pre-fault the whole file after creating it (untimed): `create` pre-faults only its first
    /// window under `SyncPolicy::Never` (FORMAT.md 9), and `pretouch` the rest of the chunk.
    prefault: bool,
    open: Option<(Writer, PathBuf)>,
    ts: i64,
}

impl Sink for JournalSink<'_> {
    fn event_len(&self) -> u64 {
        entry_len(self.data.len() as u32)
    }

    fn open(&mut self) {
        let path = self.scratch.fresh("journal");
        let mut w = self.opts.create(&path).expect("create journal");
        if self.prefault {
            w.pretouch().expect("pretouch");
        }
        self.open = Some((w, path));
    }

    fn write(&mut self, n: u64) -> Duration {
        let (w, _) = self.open.as_mut().expect("an open journal");
        let data = &self.data[..];
        let mut ts = self.ts;
        let start = Instant::now();
        if self.batch > 0 {
            let mut left = n;
            while left > 0 {
                let k = left.min(self.batch);
                let first = ts;
                w.append_batch((0..k as i64).map(|j| (first + j, black_box(data))))
                    .expect("append_batch");
                ts += k as i64;
                left -= k;
            }
        } else if self.claim {
            for _ in 0..n {
                let mut c = w.claim(data.len()).expect("claim");
                c.as_mut_slice().copy_from_slice(black_box(data));
                c.commit(ts).expect("commit");
                ts += 1;
            }
        } else {
            for _ in 0..n {
                w.append(ts, black_box(data)).expect("append");
                ts += 1;
            }
        }
        let took = start.elapsed();
        self.ts = ts;
        took
    }

    fn close(&mut self) {
        if let Some((w, path)) = self.open.take() {
            w.close().expect("close journal");
            std::fs::remove_file(&path).expect("remove journal");
            let _ = std::fs::remove_file(journal::index::index_path(&path));
        }
    }
}

#[cfg(feature = "peers")]
struct SeglogSink<'a> {
    scratch: &'a Scratch,
    /// Bytes written into one file (its segment is made this size plus 1 MiB).
    cap: u64,
    sync: Sync,
    data: Vec<u8>,
    open: Option<(seglog::write::Writer<0>, PathBuf, PeerSync)>,
}

#[cfg(feature = "peers")]
impl Sink for SeglogSink<'_> {
    fn event_len(&self) -> u64 {
        (seglog::RECORD_HEAD_SIZE + self.data.len()) as u64
    }

    fn open(&mut self) {
        let path = self.scratch.fresh("seglog");
        let w = seglog::write::Writer::<0>::create(&path, (self.cap + ONE_MIB) as usize, 0)
            .expect("create seglog segment");
        self.open = Some((w, path, PeerSync::new(self.sync)));
    }

    fn write(&mut self, n: u64) -> Duration {
        let (w, _, policy) = self.open.as_mut().expect("an open segment");
        let data = &self.data[..];
        let start = Instant::now();
        for _ in 0..n {
            let (_, len) = w.append_data(black_box(data)).expect("seglog append");
            if policy.due(len as u64) {
                w.sync().expect("seglog sync");
            }
        }
        // Its records wait in a 16 KiB user-space buffer: push them to the page cache, where the
        // journal's are when its append returns.
        w.flush_writer().expect("seglog flush");
        start.elapsed()
    }

    fn close(&mut self) {
        if let Some((w, path, _)) = self.open.take() {
            drop(w);
            std::fs::remove_file(path).expect("remove seglog segment");
        }
    }
}

#[cfg(feature = "peers")]
struct KhataSink<'a> {
    scratch: &'a Scratch,
    /// Bytes written into one file (its block is made this size plus 1 MiB).
    cap: u64,
    sync: Sync,
    data: Vec<u8>,
    open: Option<KhataOpen>,
}

/// An open khata-rs queue and its writer, which borrows it.
///
/// INVARIANTS: `queue` comes from `Box::into_raw` and is freed only in [`KhataSink::close`], after
/// `writer` (the only borrow of it) was dropped.
#[cfg(feature = "peers")]
struct KhataOpen {
    dir: PathBuf,
    queue: *mut khata_rs::Queue,
    writer: Option<khata_rs::Writer<'static>>,
    policy: PeerSync,
}

#[cfg(feature = "peers")]
impl Sink for KhataSink<'_> {
    fn event_len(&self) -> u64 {
        8 + self.data.len() as u64
    }

    fn open(&mut self) {
        let dir = self.scratch.fresh("khata");
        let queue = khata_rs::Queue::new(&dir)
            .block_size((self.cap + ONE_MIB) as usize)
            .checksums(true)
            .build()
            .expect("create khata queue");
        let queue = Box::into_raw(Box::new(queue));
        // SAFETY: the pointer is valid until `close` frees it, which drops the writer first (see
        // the invariant); the 'static borrow never escapes this sink.
        let writer = unsafe { &*queue }.writer().expect("khata writer");
        self.open = Some(KhataOpen {
            dir,
            queue,
            writer: Some(writer),
            policy: PeerSync::new(self.sync),
        });
    }

    fn write(&mut self, n: u64) -> Duration {
        let o = self.open.as_mut().expect("an open queue");
        let w = o.writer.as_mut().expect("a khata writer");
        let data = &self.data[..];
        let start = Instant::now();
        for _ in 0..n {
            w.write(black_box(data)).expect("khata write");
            if o.policy.due(8 + data.len() as u64) {
                w.flush().expect("khata flush");
            }
        }
        start.elapsed()
    }

    fn close(&mut self) {
        let Some(mut o) = self.open.take() else {
            return;
        };
        // The writer msyncs its whole mapping when dropped; cutting the files to zero first leaves
        // it nothing to write, so that the run does not wait for the disk here.
        for entry in std::fs::read_dir(&o.dir).expect("read khata dir").flatten() {
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .open(entry.path())
                .and_then(|f| f.set_len(0));
        }
        drop(o.writer.take());
        // SAFETY: by the invariant the pointer came from Box::into_raw and its only borrow, the
        // writer, is gone.
        drop(unsafe { Box::from_raw(o.queue) });
        std::fs::remove_dir_all(&o.dir).expect("remove khata queue");
    }
}

/// The raw limit: the entry header, a copy of the payload and a CRC-32 of it, into consecutive
/// slots of a buffer whose pages were all touched before timing.
fn limit(c: &mut Criterion) {
    let mut g = c.benchmark_group(Sync::Never.group());
    g.throughput(Throughput::Elements(1));
    let mut buf = prefaulted(64 << 20);
    for size in SIZES {
        let data = payload(size);
        let slot = entry_len(size as u32) as usize;
        g.bench_with_input(BenchmarkId::new("limit", size), &data, |b, data| {
            let mut at = 0usize;
            let mut ts = 0i64;
            b.iter(|| {
                if at + slot > buf.len() {
                    at = 0;
                }
                let data = black_box(&data[..]);
                let crc = crc32fast::hash(data);
                limit_store(&mut buf[at..at + slot], ts, data, crc);
                at += slot;
                ts += 1;
            });
        });
    }
    g.finish();
}

fn append(c: &mut Criterion) {
    let scratch = Scratch::new("append");
    for sync in Sync::ALL {
        let mut g = c.benchmark_group(sync.group());
        g.throughput(Throughput::Elements(1));
        for size in SIZES {
            let data = payload(size);
            for state in [State::Prefaulted, State::Fresh] {
                for (name, claim) in [("journal-copy", false), ("journal-claim", true)] {
                    let id = BenchmarkId::new(format!("{name}/{}", state.name()), size);
                    let sink = JournalSink {
                        scratch: &scratch,
                        opts: journal_options(state, sync),
                        data: data.clone(),
                        claim,
                        batch: 0,
                        prefault: matches!(state, State::Prefaulted),
                        open: None,
                        ts: 0,
                    };
                    bench_sink(&mut g, id, sink);
                }
            }
            if size == 64 && matches!(sync, Sync::Never) {
                for state in [State::Prefaulted, State::Fresh] {
                    for batch in [16, 64] {
                        let id = BenchmarkId::new(
                            format!("journal-batch{batch}/{}", state.name()),
                            size,
                        );
                        let sink = JournalSink {
                            scratch: &scratch,
                            opts: journal_options(state, sync),
                            data: data.clone(),
                            claim: false,
                            batch,
                            prefault: matches!(state, State::Prefaulted),
                            open: None,
                            ts: 0,
                        };
                        bench_sink(&mut g, id, sink);
                    }
                }
            }
            #[cfg(feature = "peers")]
            {
                let sink = SeglogSink {
                    scratch: &scratch,
                    cap: FILE_CAP,
                    sync,
                    data: data.clone(),
                    open: None,
                };
                bench_sink(&mut g, BenchmarkId::new("seglog", size), sink);
                let sink = KhataSink {
                    scratch: &scratch,
                    cap: FILE_CAP,
                    sync,
                    data: data.clone(),
                    open: None,
                };
                bench_sink(&mut g, BenchmarkId::new("khata-rs", size), sink);
            }
        }
        g.finish();
    }
}

/// Append on a fresh file that grows to 1 GiB under the timer (issue 15): default options (growth,
/// allocated a chunk ahead of the pre-fault window, on the appending thread) against the writer's
/// own pretoucher thread (growth prepared off the appending thread), under `SyncPolicy::Never`,
/// beside the peers (with the `peers` feature) writing files of 1 GiB too.
fn growing(c: &mut Criterion) {
    let scratch = Scratch::new("append-growing");
    let mut g = c.benchmark_group("append-growing-1GiB");
    g.throughput(Throughput::Elements(1));
    for size in SIZES {
        let data = payload(size);
        for (name, pretouch) in [
            ("journal-copy/default", false),
            ("journal-copy/pretoucher", true),
        ] {
            let mut opts = Writer::options();
            opts.sync_policy(SyncPolicy::Never)
                .pretouch_thread(pretouch);
            let sink = JournalSink {
                scratch: &scratch,
                opts,
                data: data.clone(),
                claim: false,
                batch: 0,
                prefault: false,
                open: None,
                ts: 0,
            };
            bench_sink_cap(&mut g, BenchmarkId::new(name, size), sink, GROWING_CAP);
        }
        #[cfg(feature = "peers")]
        {
            let sink = SeglogSink {
                scratch: &scratch,
                cap: GROWING_CAP,
                sync: Sync::Never,
                data: data.clone(),
                open: None,
            };
            bench_sink_cap(&mut g, BenchmarkId::new("seglog", size), sink, GROWING_CAP);
            let sink = KhataSink {
                scratch: &scratch,
                cap: GROWING_CAP,
                sync: Sync::Never,
                data: data.clone(),
                open: None,
            };
            bench_sink_cap(
                &mut g,
                BenchmarkId::new("khata-rs", size),
                sink,
                GROWING_CAP,
            );
        }
    }
    g.finish();
}

/// `WriterOptions::create` under `SyncPolicy::Never` (issue 15: at most 1 ms): the new file's
/// header, its first chunk allocated and its first window pre-faulted, the index file, and with
/// the pretoucher the start of its thread. Closing and removing the journal are not timed.
fn create(c: &mut Criterion) {
    let scratch = Scratch::new("create");
    let mut g = c.benchmark_group("create");
    for (name, pretouch) in [
        ("journal/sync-never", false),
        ("journal/sync-never-pretoucher", true),
    ] {
        let mut opts = Writer::options();
        opts.sync_policy(SyncPolicy::Never)
            .pretouch_thread(pretouch);
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let path = scratch.fresh("journal");
                    let start = Instant::now();
                    let w = opts.create(&path).expect("create journal");
                    total += start.elapsed();
                    w.close().expect("close journal");
                    std::fs::remove_file(&path).expect("remove journal");
                    let _ = std::fs::remove_file(journal::index::index_path(&path));
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = journal_benches::criterion();
    targets = limit, append, growing, create
}
criterion_main!(benches);
