//! Replaying a journal or a journal set into a ring, as fast as possible or paced by the events'
//! own timestamps, and optionally on into the live events (replay then live).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::clock::now_ns;
use crate::error::{Error, Result};
use crate::reader::{Event, Iter, Reader};
use crate::ring::Producer;
use crate::set::{SetIter, SetReader, SetTailer};
use crate::tail::Tailer;
use crate::wait::WaitStrategy;

/// How fast to replay.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Pacing {
    /// As fast as the ring takes the events; records are published in batches.
    Max,
    /// Paced by the events' timestamps, `speed` times faster than they happened (1.0 = real time).
    Speed(f64),
}

/// The slowest pacing [`Pacing::Speed`] accepts: a thousandth of real time.
pub const MIN_SPEED: f64 = 1e-3;
/// The fastest pacing [`Pacing::Speed`] accepts: a million times real time (beyond it, use
/// [`Pacing::Max`]).
pub const MAX_SPEED: f64 = 1e6;

/// A long wait in a paced replay, reported to [`ReplayOptions::on_long_gap`] before the wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LongGap {
    /// Index of the event that comes after the gap (in the journal, or global in a set).
    pub index: u64,
    /// Its timestamp.
    pub timestamp: i64,
    /// The gap in the events' own time (from the latest timestamp before it).
    pub gap: Duration,
    /// The wall time the replay waits for it, at the replay's speed (after shortening).
    pub wait: Duration,
    /// Whether the gap was longer than [`ReplayOptions::max_gap`] and shortened to it.
    pub shortened: bool,
}

/// A function [`ReplayOptions::on_long_gap`] calls before a long wait.
pub type GapReport = fn(&LongGap);

/// Which events to replay and how, as a builder.
///
/// By default: all events in file order, as fast as the ring takes them ([`Pacing::Max`]), gaps
/// kept as they are, no long-gap report, and the end-of-stream record sent at the end.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ReplayOptions {
    pacing: Pacing,
    from_index: u64,
    from_time: Option<i64>,
    to_time: Option<i64>,
    end_of_stream: bool,
    max_gap: Option<Duration>,
    long_gap: Option<(Duration, GapReport)>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            pacing: Pacing::Max,
            from_index: 0,
            from_time: None,
            to_time: None,
            end_of_stream: true,
            max_gap: None,
            long_gap: None,
        }
    }
}

impl ReplayOptions {
    /// The default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// How fast to replay. By default [`Pacing::Max`]. A [`Pacing::Speed`] factor must be finite
    /// and from [`MIN_SPEED`] to [`MAX_SPEED`]; [`replay`] refuses others.
    pub fn pacing(&mut self, pacing: Pacing) -> &mut Self {
        self.pacing = pacing;
        self
    }

    /// Start at this event index (a global index in a set). By default 0: the first event (in a
    /// set, its first available event, SET.md 8).
    pub fn from_index(&mut self, index: u64) -> &mut Self {
        self.from_index = index;
        self
    }

    /// Start at the first event (at or after [`from_index`](Self::from_index)), in file order,
    /// whose timestamp is at or after `ts`; every event after it is replayed, whatever its
    /// timestamp (FORMAT.md 6.4, as `journal dump --from-time`). By default none.
    pub fn from_time(&mut self, ts: i64) -> &mut Self {
        self.from_time = Some(ts);
        self
    }

    /// Stop at the first event (after the start) whose timestamp is at or after `ts` (exclusive).
    /// By default none.
    pub fn to_time(&mut self, ts: i64) -> &mut Self {
        self.to_time = Some(ts);
        self
    }

    /// Whether to send the end-of-stream record when done. By default true.
    pub fn end_of_stream(&mut self, send: bool) -> &mut Self {
        self.end_of_stream = send;
        self
    }

    /// With [`Pacing::Speed`]: a gap between events longer than `gap` (in the events' own time)
    /// is replayed as `gap`, so one outlying timestamp cannot stall the replay. By default none.
    pub fn max_gap(&mut self, gap: Duration) -> &mut Self {
        self.max_gap = Some(gap);
        self
    }

    /// With [`Pacing::Speed`]: calls `report` before every wait longer than `threshold` (wall
    /// time) and for every gap shortened by [`max_gap`](Self::max_gap). By default none.
    pub fn on_long_gap(&mut self, threshold: Duration, report: GapReport) -> &mut Self {
        self.long_gap = Some((threshold, report));
        self
    }
}

/// What a replay did.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct ReplayStats {
    /// Events replayed.
    pub events: u64,
    /// Bytes of entries copied into the ring (headers, payloads, padding).
    pub bytes: u64,
    /// Wall time from the first event to the end of stream.
    pub elapsed: Duration,
    /// Events per second.
    pub events_per_sec: f64,
    /// Pacing lag (how late each event was published against its schedule): median. Zero for
    /// [`Pacing::Max`].
    pub lag_p50: Duration,
    /// Pacing lag, 99th percentile.
    pub lag_p99: Duration,
    /// Pacing lag, maximum.
    pub lag_max: Duration,
    /// Gaps shortened to [`ReplayOptions::max_gap`].
    pub gaps_shortened: u64,
}

/// Spin for the last part of a wait; sleep for the rest.
const SPIN_WINDOW: Duration = Duration::from_micros(100);
/// Records per publish in [`Pacing::Max`].
const BATCH: u32 = 64;
/// While following, how long a write waits on a full ring, or a wait for the writer, before it
/// looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// What [`replay`] reads: one journal, or a journal set (spec/SET.md) read across its segments.
/// Both convert from a reference, so `replay(&reader, ..)` and `replay(&set, ..)` both work.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum ReplaySource<'a> {
    /// One journal.
    Journal(&'a Reader),
    /// A journal set: global indexes, seeks across segments, rolls followed.
    Set(&'a SetReader),
}

impl<'a> From<&'a Reader> for ReplaySource<'a> {
    fn from(r: &'a Reader) -> Self {
        ReplaySource::Journal(r)
    }
}

impl<'a> From<&'a SetReader> for ReplaySource<'a> {
    fn from(s: &'a SetReader) -> Self {
        ReplaySource::Set(s)
    }
}

/// The events the replay loop walks: a journal's or a set's history, or a tailer over either.
/// `Ok(None)`: nothing more now (the end of the history, or caught up with the writer).
trait Events {
    fn next_event(&mut self) -> Result<Option<Event<'_>>>;

    /// The next event, waiting for it with `wait` until `deadline` when caught up (a tailer's
    /// [`Tailer::wait`], which sleeps on the wake-up file under [`WaitStrategy::Block`]); a
    /// history has nothing to wait for.
    fn wait_event(&mut self, wait: WaitStrategy, deadline: Instant) -> Result<Option<Event<'_>>> {
        let _ = (wait, deadline);
        self.next_event()
    }
}

impl Events for Iter<'_> {
    fn next_event(&mut self) -> Result<Option<Event<'_>>> {
        self.next().transpose()
    }
}

impl Events for Tailer<'_> {
    fn next_event(&mut self) -> Result<Option<Event<'_>>> {
        self.poll()
    }

    fn wait_event(&mut self, wait: WaitStrategy, deadline: Instant) -> Result<Option<Event<'_>>> {
        self.wait(wait, Some(deadline))
    }
}

impl Events for SetIter<'_> {
    fn next_event(&mut self) -> Result<Option<Event<'_>>> {
        SetIter::next_event(self).transpose()
    }
}

impl Events for SetTailer<'_> {
    fn next_event(&mut self) -> Result<Option<Event<'_>>> {
        self.poll()
    }

    fn wait_event(&mut self, wait: WaitStrategy, deadline: Instant) -> Result<Option<Event<'_>>> {
        self.wait(wait, Some(deadline))
    }
}

/// The events to replay, from the options' start (FORMAT.md 6.4 for `from_time`): a walk over the
/// history, or with `follow` a tailer that starts at the same place (so the history and the live
/// events meet with no gap and no duplicate). Also whether events before `from_time` are still
/// to be skipped (a start at `from_index` and `from_time` both, or a follower).
fn open_events<'a>(
    source: ReplaySource<'a>,
    opts: &ReplayOptions,
    follow: bool,
) -> Result<(Box<dyn Events + 'a>, bool)> {
    // Events before `from_time` are skipped until the first at or after it: after a start at
    // `from_index`, and also when following from a seek that found no such event yet (it stands
    // at the end, and the next event appended may still be before `from_time`).
    let seeking = opts.from_time.is_some() && (opts.from_index != 0 || follow);
    let events: Box<dyn Events + 'a> = match source {
        ReplaySource::Journal(r) => {
            let iter = match opts.from_time {
                Some(t) if opts.from_index == 0 => r.iter_from_time(t)?,
                _ => r.iter_from_index(opts.from_index)?,
            };
            if follow {
                Box::new(r.tail_from(&iter))
            } else {
                Box::new(iter)
            }
        }
        ReplaySource::Set(s) => {
            let iter = match opts.from_time {
                Some(t) if opts.from_index == 0 => s.iter_from_time(t)?,
                _ if opts.from_index == 0 => s.iter(),
                _ => s.iter_from_index(opts.from_index)?,
            };
            if follow {
                Box::new(s.tail_from(iter))
            } else {
                Box::new(iter)
            }
        }
    };
    Ok((events, seeking))
}

/// Replays the events of `source` (a [`Reader`] or a [`SetReader`]) into `producer`
/// (spec/RING.md 3: each record is a commit word and the entry, copied verbatim). The loop makes no allocation per
/// event.
///
/// ```
/// use journal::{create_ring, replay, Consumer, Producer, Reader, ReplayOptions, Writer};
/// use std::ops::ControlFlow;
///
/// # let dir = std::env::temp_dir().join(format!("journal-replay-doc-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir_all(&dir)?;
/// let (journal, ring) = (dir.join("q.journal"), dir.join("q.ring"));
/// let mut w = Writer::create(&journal)?;
/// for (ts, px) in [(10, "101.25"), (20, "101.50"), (30, "101.00")] {
///     w.append(ts, px.as_bytes())?;
/// }
/// w.close()?;
///
/// create_ring(&ring, 64 * 1024)?;
/// let mut producer = Producer::attach(&ring)?;
/// let stats = replay(&Reader::open(&journal)?, &mut producer, ReplayOptions::new().from_time(20))?;
/// assert_eq!(stats.events, 2);
///
/// let mut consumer = Consumer::attach(&ring)?;
/// let mut seen = Vec::new();
/// let status = consumer.read(16, |r| {
///     seen.push(r.timestamp);
///     ControlFlow::Continue(())
/// })?;
/// assert_eq!((seen, status.end_of_stream), (vec![20, 30], true));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn replay<'a>(
    source: impl Into<ReplaySource<'a>>,
    producer: &mut Producer,
    opts: &ReplayOptions,
) -> Result<ReplayStats> {
    run(source.into(), producer, opts, None)
}

/// Replays as [`replay`] does, then goes on live (replay then live): once the history is
/// replayed, every event the writer appends is replayed as it is published, waiting with
/// `wait` when caught up, until `stop` is set (checked before each event and at least every
/// 50 ms while waiting) or
/// an event reaches [`ReplayOptions::to_time`]. The live part starts exactly where the history
/// ends, in the same walk: no event is missed and none is replayed twice, also while the writer
/// appends at full speed and rolls a set's segments. The end-of-stream record (if the options
/// send it) goes out when the replay stops.
///
/// A write that waits on a full ring looks at `stop` between bounded waits too: set, the replay
/// stops without the event it was writing (and, if the ring stays full, without the end-of-stream
/// record) instead of waiting for a consumer to make room.
///
/// With [`ReplayOptions::from_time`], the history starts at the first event at or after it
/// (FORMAT.md 6.4, over the whole set for a set): what `journal dump --from-time` shows at that
/// moment, then everything after.
pub fn replay_follow<'a>(
    source: impl Into<ReplaySource<'a>>,
    producer: &mut Producer,
    opts: &ReplayOptions,
    wait: WaitStrategy,
    stop: &AtomicBool,
) -> Result<ReplayStats> {
    run(source.into(), producer, opts, Some((wait, stop)))
}

fn run(
    source: ReplaySource<'_>,
    producer: &mut Producer,
    opts: &ReplayOptions,
    follow: Option<(WaitStrategy, &AtomicBool)>,
) -> Result<ReplayStats> {
    let speed = match opts.pacing {
        Pacing::Max => None,
        Pacing::Speed(s) if s.is_finite() && (MIN_SPEED..=MAX_SPEED).contains(&s) => Some(s),
        Pacing::Speed(s) => {
            return Err(Error::InvalidArgument(format!(
                "replay speed {s} must be a number from {MIN_SPEED} to {MAX_SPEED}"
            )))
        }
    };
    // FORMAT.md 6.4: start at the first event at or after from_time, then everything in file order.
    let (mut source, mut seeking) = open_events(source, opts, follow.is_some())?;
    let max_gap_ns = opts.max_gap.map_or(u64::MAX, |g| {
        u64::try_from(g.as_nanos()).unwrap_or(u64::MAX)
    });
    // 1 ns to 1 hour, 3 significant digits: allocated once, here.
    let mut lags = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)
        .map_err(|e| Error::InvalidArgument(format!("histogram: {e}")))?;
    let (mut events, mut bytes, mut in_batch, mut shortened) = (0u64, 0u64, 0u32, 0u64);
    // Paced: the start (latest timestamp so far, wall time of the first event) and the schedule
    // offset in the events' time, gaps shortened to max_gap.
    let mut origin: Option<(i64, Instant)> = None;
    let mut schedule_ns = 0f64;
    // Accurate sleeps while pacing; the thread's setting is restored on the way out.
    let _slack = speed.map(|_| TimerSlack(crate::sys::set_timer_slack_ns(1)));
    let started = Instant::now();
    // Following and caught up with the writer: the next event is waited for, in waits of at most
    // STOP_CHECK between looks at the stop flag.
    let mut caught_up = false;
    loop {
        if follow.is_some_and(|(_, stop)| stop.load(Ordering::Relaxed)) {
            break;
        }
        let next = match follow {
            Some((wait, _)) if caught_up => source.wait_event(wait, Instant::now() + STOP_CHECK)?,
            _ => source.next_event()?,
        };
        let event: Event<'_> = match next {
            Some(e) => e,
            None => {
                if follow.is_none() {
                    break; // the end of the history
                }
                // Caught up with the writer: what is batched goes out before the wait.
                if in_batch > 0 {
                    producer.publish();
                    in_batch = 0;
                }
                caught_up = true;
                continue;
            }
        };
        caught_up = false;
        if seeking {
            if opts.from_time.is_some_and(|t| event.timestamp < t) {
                continue;
            }
            seeking = false;
        }
        if opts.to_time.is_some_and(|t| event.timestamp >= t) {
            break;
        }
        if let Some(speed) = speed {
            let (latest, t0) = origin.get_or_insert((event.timestamp, Instant::now()));
            if event.timestamp > *latest {
                let gap = event.timestamp.abs_diff(*latest);
                *latest = event.timestamp;
                let cut = gap > max_gap_ns;
                let step = gap.min(max_gap_ns);
                schedule_ns += step as f64;
                let wait = Duration::from_secs_f64((step as f64 / speed / 1e9).min(1e12));
                shortened += u64::from(cut);
                if let Some((threshold, report)) = opts.long_gap {
                    if cut || wait > threshold {
                        report(&LongGap {
                            index: event.index,
                            timestamp: event.timestamp,
                            gap: Duration::from_nanos(gap),
                            wait,
                            shortened: cut,
                        });
                    }
                }
            }
            let offset = Duration::from_secs_f64((schedule_ns / speed / 1e9).min(1e12));
            let due = t0
                .checked_add(offset)
                .unwrap_or(*t0 + Duration::from_secs(1 << 40));
            wait_until(due);
            if !write_entry(producer, event.entry, follow)? {
                break;
            }
            producer.publish();
            let late = Instant::now().saturating_duration_since(due);
            lags.saturating_record(late.as_nanos().max(1) as u64);
        } else {
            if !write_entry(producer, event.entry, follow)? {
                break;
            }
            in_batch += 1;
            if in_batch == BATCH {
                producer.publish();
                in_batch = 0;
            }
        }
        events += 1;
        bytes += event.entry.len() as u64;
    }
    producer.publish();
    if opts.end_of_stream {
        match follow {
            Some((_, stop)) if stop.load(Ordering::Relaxed) => {
                // Stopped: a ring still full gets no end-of-stream record rather than a wait.
                let stopped = Some((WaitStrategy::default(), stop));
                bounded(producer, stopped, |p| p.end_of_stream(now_ns()))?;
            }
            _ => producer.end_of_stream(now_ns())?,
        }
    }
    let elapsed = started.elapsed();
    let q = |p: f64| {
        if speed.is_some() && !lags.is_empty() {
            Duration::from_nanos(lags.value_at_quantile(p))
        } else {
            Duration::ZERO
        }
    };
    Ok(ReplayStats {
        events,
        bytes,
        elapsed,
        events_per_sec: events as f64 / elapsed.as_secs_f64().max(1e-9),
        lag_p50: q(0.5),
        lag_p99: q(0.99),
        lag_max: if speed.is_some() && !lags.is_empty() {
            Duration::from_nanos(lags.max())
        } else {
            Duration::ZERO
        },
        gaps_shortened: shortened,
    })
}

/// Stages `entry`; false if the replay follows and `stop` was set while the ring was full (the
/// entry is not written).
#[inline(always)]
fn write_entry(
    producer: &mut Producer,
    entry: &[u8],
    follow: Option<(WaitStrategy, &AtomicBool)>,
) -> Result<bool> {
    match follow {
        None => producer.write_entry(entry).map(|()| true),
        Some(_) => bounded(producer, follow, |p| p.write_entry(entry)),
    }
}

/// Runs `write` (which waits while the ring is full) in waits of at most [`STOP_CHECK`], looking
/// at the stop flag between them: false if it was set before `write` succeeded. The producer's own
/// wait timeout still applies to the whole wait, and is restored. Kept out of line: the replay
/// loop without `follow` must stay as small as it was.
#[cold]
#[inline(never)]
fn bounded(
    producer: &mut Producer,
    follow: Option<(WaitStrategy, &AtomicBool)>,
    mut write: impl FnMut(&mut Producer) -> Result<()>,
) -> Result<bool> {
    let Some((_, stop)) = follow else {
        return write(producer).map(|()| true);
    };
    let limit = producer.wait_timeout();
    let started = Instant::now();
    let result = loop {
        let left = limit.map_or(STOP_CHECK, |l| l.saturating_sub(started.elapsed()));
        producer.set_wait_timeout(Some(left.min(STOP_CHECK)));
        match write(producer) {
            Err(Error::Io { path, op, source }) if source.kind() == io::ErrorKind::TimedOut => {
                if let Some(l) = limit.filter(|&l| started.elapsed() >= l) {
                    // The producer's own timeout: said with its duration, not the slice's.
                    let text = source.to_string();
                    let who = text.split_once(": ").map_or("", |(_, w)| w);
                    let msg = format!("the ring stayed full for {l:?}: {who}");
                    let source = io::Error::new(io::ErrorKind::TimedOut, msg);
                    break Err(Error::Io { path, op, source });
                }
                if stop.load(Ordering::Relaxed) {
                    break Ok(false);
                }
            }
            r => break r.map(|()| true),
        }
    };
    producer.set_wait_timeout(limit);
    result
}

/// Restores the thread's timer slack when dropped.
struct TimerSlack(u64);

impl Drop for TimerSlack {
    fn drop(&mut self) {
        crate::sys::set_timer_slack_ns(self.0);
    }
}

/// Sleeps until shortly before `due`, then spins: accurate to about a microsecond without burning a
/// core through long gaps.
fn wait_until(due: Instant) {
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        let left = due - now;
        if left > SPIN_WINDOW {
            std::thread::sleep(left - SPIN_WINDOW);
        } else {
            std::hint::spin_loop();
        }
    }
}
