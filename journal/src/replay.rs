//! Replaying a journal into a ring, as fast as possible or paced by the events' own timestamps.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::clock::now_ns;
use crate::error::{Error, Result};
use crate::reader::{Event, Reader};
use crate::ring::Producer;

/// How fast to replay.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Pacing {
    /// As fast as the ring takes the events; records are published in batches.
    Max,
    /// Paced by the events' timestamps, `speed` times faster than they happened (1.0 = real time).
    Speed(f64),
}

/// Which events to replay and how. By default: all events, as fast as possible, CRC checked.
#[derive(Clone, Copy, Debug)]
pub struct ReplayOptions {
    /// Pacing. By default [`Pacing::Max`].
    pub pacing: Pacing,
    /// First event index to replay. By default 0.
    pub from_index: u64,
    /// Skip events whose timestamp is below this. By default none.
    pub from_time: Option<i64>,
    /// Stop at the first event (after the start) whose timestamp is at or above this. By default none.
    pub to_time: Option<i64>,
    /// Whether to send the end-of-stream record when done. By default true.
    pub end_of_stream: bool,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            pacing: Pacing::Max,
            from_index: 0,
            from_time: None,
            to_time: None,
            end_of_stream: true,
        }
    }
}

/// What a replay did.
#[derive(Clone, Copy, Debug, PartialEq)]
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
}

/// Spin for the last part of a wait; sleep for the rest.
const SPIN_WINDOW: Duration = Duration::from_micros(100);
/// Records per publish in [`Pacing::Max`].
const BATCH: u32 = 64;

/// Replays `reader`'s events into `producer` (spec/RING.md: records are the entries, copied
/// verbatim). The loop makes no allocation per event.
pub fn replay(
    reader: &Reader,
    producer: &mut Producer,
    opts: &ReplayOptions,
) -> Result<ReplayStats> {
    let speed = match opts.pacing {
        Pacing::Max => None,
        Pacing::Speed(s) if s.is_finite() && s > 0.0 => Some(s),
        Pacing::Speed(s) => {
            return Err(Error::InvalidArgument(format!(
                "replay speed {s} must be a positive number"
            )))
        }
    };
    let iter = match opts.from_time {
        Some(t) if opts.from_index == 0 => reader.iter_from_time(t)?,
        _ => reader.iter_from_index(opts.from_index)?,
    };
    // 1 ns to 1 hour, 3 significant digits: allocated once, here.
    let mut lags = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3)
        .map_err(|e| Error::InvalidArgument(format!("histogram: {e}")))?;
    let (mut events, mut bytes, mut in_batch) = (0u64, 0u64, 0u32);
    let mut origin: Option<(i64, Instant)> = None;
    // Accurate sleeps while pacing; the thread's setting is restored on the way out.
    let _slack = speed.map(|_| TimerSlack(crate::sys::set_timer_slack_ns(1)));
    let started = Instant::now();
    for event in iter {
        let event: Event<'_> = event?;
        if opts.from_time.is_some_and(|t| event.timestamp < t) {
            continue;
        }
        if opts.to_time.is_some_and(|t| event.timestamp >= t) {
            break;
        }
        if let Some(speed) = speed {
            let (ts0, t0) = *origin.get_or_insert((event.timestamp, Instant::now()));
            let offset_ns = (event.timestamp.saturating_sub(ts0)).max(0) as f64 / speed;
            let due = t0 + Duration::from_nanos(offset_ns as u64);
            wait_until(due);
            producer.write_entry(event.entry)?;
            producer.publish();
            let late = Instant::now().saturating_duration_since(due);
            lags.saturating_record(late.as_nanos().max(1) as u64);
        } else {
            producer.write_entry(event.entry)?;
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
        producer.end_of_stream(now_ns())?;
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
    })
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
