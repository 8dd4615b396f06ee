//! The figures of `journal stats`, gathered in one pass over the events with memory bounded
//! independently of the journal's size: no allocation per event, every structure capped.

use std::collections::VecDeque;

use hdrhistogram::Histogram;

/// How many of the longest gaps are kept (the rest are only counted).
pub const TOP_GAPS: usize = 10;
/// How many indexes of backward steps are kept (the rest are only counted).
pub const FIRST_BACKWARD: usize = 10;
/// The most rate intervals kept: past it, adjacent intervals are merged pairwise (the width
/// doubles), so the rate figures are per `interval_ns`, which the report states.
pub const MAX_INTERVALS: usize = 1 << 18;
/// Payload-size bins ([`size_bin`]): one per size up to 7, then four per power of two.
pub const SIZE_BINS: usize = 8 + 61 * 4;

/// One gap between consecutive events (in file order) longer than the threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Gap {
    /// Index of the event that ends the gap (the first one after the silence).
    pub index: u64,
    /// Timestamp of the event before the gap: when the silence starts.
    pub start: i64,
    /// Length in nanoseconds: the timestamp of event `index` minus `start`.
    pub length_ns: u64,
}

/// Events counted per interval of time (FORMAT.md 2 timestamps), aligned to multiples of the
/// width since the epoch.
#[derive(Debug)]
pub struct Rate {
    /// The requested interval.
    pub requested_ns: u64,
    /// The current width: `requested_ns * 2^k`.
    pub width_ns: u64,
    /// Interval number (timestamp `div_euclid` width) of `counts[0]`.
    pub first: i64,
    /// Events per interval, from `first` on, contiguous.
    pub counts: VecDeque<u64>,
    /// The last interval counted into: `[lo, hi)` in nanoseconds and its position in `counts`,
    /// so that consecutive events in one interval cost a compare, not a division.
    hot: (i64, i64, usize),
}

impl Rate {
    fn new(requested_ns: u64) -> Rate {
        Rate {
            requested_ns,
            width_ns: requested_ns,
            first: 0,
            counts: VecDeque::new(),
            hot: (0, 0, 0),
        }
    }

    fn slot(&self, ts: i64) -> i64 {
        // `width_ns` fits an i64: it only doubles while the span it covers does.
        ts.div_euclid(self.width_ns as i64)
    }

    #[inline]
    fn add(&mut self, ts: i64) {
        let (lo, hi, at) = self.hot;
        if ts >= lo && ts < hi {
            self.counts[at] += 1;
            return;
        }
        self.add_slow(ts);
        let slot = self.slot(ts);
        let w = i128::from(self.width_ns);
        let lo = i128::from(slot) * w;
        if let (Ok(lo), Ok(hi)) = (i64::try_from(lo), i64::try_from(lo + w)) {
            self.hot = (lo, hi, (slot - self.first) as usize);
        } else {
            self.hot = (0, 0, 0);
        }
    }

    fn add_slow(&mut self, ts: i64) {
        if self.counts.is_empty() {
            self.first = self.slot(ts);
            self.counts.push_back(1);
            return;
        }
        loop {
            let slot = self.slot(ts);
            let last = self.first + self.counts.len() as i64 - 1;
            let (lo, hi) = (self.first.min(slot), last.max(slot));
            // The intervals needed to cover it, as i128: the span of two i64 can exceed one.
            if i128::from(hi) - i128::from(lo) < MAX_INTERVALS as i128 {
                while slot < self.first {
                    self.counts.push_front(0);
                    self.first -= 1;
                }
                while slot > self.first + self.counts.len() as i64 - 1 {
                    self.counts.push_back(0);
                }
                self.counts[(slot - self.first) as usize] += 1;
                return;
            }
            self.merge();
        }
    }

    /// Doubles the width, adding adjacent intervals pairwise (aligned to the new width).
    fn merge(&mut self) {
        let old = std::mem::take(&mut self.counts);
        let first = self.first.div_euclid(2);
        let mut merged = VecDeque::with_capacity(old.len() / 2 + 1);
        for (i, c) in old.into_iter().enumerate() {
            let slot = (self.first + i as i64).div_euclid(2);
            let at = (slot - first) as usize;
            if at == merged.len() {
                merged.push_back(0);
            }
            merged[at] += c;
        }
        self.first = first;
        self.counts = merged;
        self.width_ns = self.width_ns.saturating_mul(2).min(i64::MAX as u64);
    }

    /// Start time of interval `i` (counting from the first).
    pub fn start_of(&self, i: usize) -> i64 {
        let ns = i128::from(self.first + i as i64) * i128::from(self.width_ns);
        ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }
}

/// Everything `stats` reports, accumulated event by event.
#[derive(Debug)]
pub struct Summary {
    /// Events in the range.
    pub events: u64,
    /// Payload bytes.
    pub payload_bytes: u64,
    /// Bytes the entries take in the file (headers, payloads, padding).
    pub entry_bytes: u64,
    /// Index of the first event in the range.
    pub first_index: Option<u64>,
    /// Timestamps: first and last in file order, smallest and largest.
    pub first_ts: i64,
    /// See `first_ts`.
    pub last_ts: i64,
    /// See `first_ts`.
    pub min_ts: i64,
    /// See `first_ts`.
    pub max_ts: i64,
    /// Events per interval.
    pub rate: Rate,
    /// Gaps longer than this are listed.
    pub gap_threshold_ns: u64,
    /// Gaps longer than the threshold.
    pub gap_count: u64,
    /// The longest positive step between consecutive events (0 if none).
    pub longest_gap_ns: u64,
    /// The [`TOP_GAPS`] longest gaps above the threshold, longest first (earliest first on ties).
    pub top_gaps: Vec<Gap>,
    /// Events whose timestamp is smaller than the previous event's.
    pub backward_count: u64,
    /// The largest step back, in nanoseconds.
    pub backward_largest_ns: u64,
    /// Indexes of the first [`FIRST_BACKWARD`] events that stepped back.
    pub backward_first: Vec<u64>,
    /// Payload sizes, exact below 2048 bytes, within 0.1% above (3 significant digits).
    pub sizes: Histogram<u64>,
    /// Payload sizes in the bins of [`size_bin`] (exact).
    pub size_bins: [u64; SIZE_BINS],
    /// Smallest and largest payload.
    pub size_min: u64,
    /// See `size_min`.
    pub size_max: u64,
}

impl Summary {
    /// An empty summary for rate intervals of `interval_ns` and gaps above `gap_ns`.
    pub fn new(interval_ns: u64, gap_ns: u64) -> Summary {
        Summary {
            events: 0,
            payload_bytes: 0,
            entry_bytes: 0,
            first_index: None,
            first_ts: 0,
            last_ts: 0,
            min_ts: 0,
            max_ts: 0,
            rate: Rate::new(interval_ns.clamp(1, i64::MAX as u64)),
            gap_threshold_ns: gap_ns,
            gap_count: 0,
            longest_gap_ns: 0,
            top_gaps: Vec::with_capacity(TOP_GAPS + 1),
            backward_count: 0,
            backward_largest_ns: 0,
            backward_first: Vec::with_capacity(FIRST_BACKWARD),
            // Three significant digits: exact up to 2047, and a few KiB of counters for the
            // payload sizes FORMAT.md allows.
            sizes: Histogram::new(3).expect("3 significant digits is a valid precision"),
            size_bins: [0; SIZE_BINS],
            size_min: 0,
            size_max: 0,
        }
    }

    /// Adds the event at `index` with timestamp `ts`, a payload of `size` bytes and an entry of
    /// `entry` bytes.
    #[inline]
    pub fn add(&mut self, index: u64, ts: i64, size: u64, entry: u64) {
        if self.events == 0 {
            self.first_index = Some(index);
            self.first_ts = ts;
            self.min_ts = ts;
            self.max_ts = ts;
            self.size_min = size;
            self.size_max = size;
        } else {
            let prev = self.last_ts;
            if ts > prev {
                let gap = ts.abs_diff(prev);
                self.longest_gap_ns = self.longest_gap_ns.max(gap);
                if gap > self.gap_threshold_ns {
                    self.gap_count += 1;
                    self.keep_gap(Gap {
                        index,
                        start: prev,
                        length_ns: gap,
                    });
                }
            } else if ts < prev {
                self.backward_count += 1;
                self.backward_largest_ns = self.backward_largest_ns.max(prev.abs_diff(ts));
                if self.backward_first.len() < FIRST_BACKWARD {
                    self.backward_first.push(index);
                }
            }
            self.min_ts = self.min_ts.min(ts);
            self.max_ts = self.max_ts.max(ts);
            self.size_min = self.size_min.min(size);
            self.size_max = self.size_max.max(size);
        }
        self.events += 1;
        self.last_ts = ts;
        self.payload_bytes += size;
        self.entry_bytes += entry;
        self.rate.add(ts);
        // Auto-resizing grows the counters only to the largest size seen (bounded by the format).
        let _ = self.sizes.record(size);
        self.size_bins[size_bin(size)] += 1;
    }

    /// Keeps `gap` if it is among the [`TOP_GAPS`] longest so far; no allocation (the vector has
    /// room for one more).
    fn keep_gap(&mut self, gap: Gap) {
        let full = self.top_gaps.len() == TOP_GAPS;
        if full && self.top_gaps[TOP_GAPS - 1].length_ns >= gap.length_ns {
            return;
        }
        // After every kept gap at least as long: an earlier gap wins a tie.
        let at = self
            .top_gaps
            .partition_point(|g| g.length_ns >= gap.length_ns);
        self.top_gaps.insert(at, gap);
        self.top_gaps.truncate(TOP_GAPS);
    }

    /// The payload size at percentile `per_mille / 10` (nearest rank: the smallest size such that
    /// at least that share of the events are no larger).
    pub fn size_percentile(&self, per_mille: u64) -> u64 {
        let rank = rank(self.events, per_mille);
        let mut seen = 0u64;
        for v in self.sizes.iter_recorded() {
            seen += v.count_at_value();
            if seen >= rank {
                return self.sizes.highest_equivalent(v.value_iterated_to());
            }
        }
        self.size_max
    }
}

/// Nearest rank of percentile `per_mille / 10` among `n` values: `ceil(n * per_mille / 1000)`,
/// at least 1.
pub fn rank(n: u64, per_mille: u64) -> u64 {
    (u128::from(n) * u128::from(per_mille))
        .div_ceil(1000)
        .max(1)
        .try_into()
        .unwrap_or(u64::MAX)
}

/// The size bin of `size`: sizes 0 to 7 each have their own; above, each power of two is split
/// into four equal bins (`8-9`, `10-11`, ..., `16-19`, ..., `64-79`, ...).
pub fn size_bin(size: u64) -> usize {
    if size < 8 {
        return size as usize;
    }
    let k = (u64::BITS - 1 - size.leading_zeros()) as usize;
    let sub = ((size >> (k - 2)) & 3) as usize;
    8 + (k - 3) * 4 + sub
}

/// The sizes bin `b` holds, inclusive.
pub fn bin_bounds(b: usize) -> (u64, u64) {
    if b < 8 {
        return (b as u64, b as u64);
    }
    let k = 3 + (b - 8) / 4;
    let sub = ((b - 8) % 4) as u64;
    let lo = (4 + sub) << (k - 2);
    (lo, lo + ((1u64 << (k - 2)) - 1))
}

/// `12`, `16-19`, `8192-` for the sizes `lo ..= hi`.
pub fn range_label(lo: u64, hi: u64) -> String {
    match (lo, hi) {
        (a, b) if a == b => format!("{a}"),
        (a, u64::MAX) => format!("{a}-"),
        (a, b) => format!("{a}-{b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_merges_and_stays_exact_per_width() {
        let mut r = Rate::new(1);
        let stamps: Vec<i64> = (0..3 * MAX_INTERVALS as i64)
            .step_by(7)
            .chain([-5, 2])
            .collect();
        for &t in &stamps {
            r.add(t);
        }
        assert!(r.counts.len() <= MAX_INTERVALS);
        assert_eq!(r.width_ns, 4);
        let w = r.width_ns as i64;
        let mut expect = vec![0u64; r.counts.len()];
        for &t in &stamps {
            // The interval whose [start, start + w) holds t.
            let i = ((t - r.start_of(0)) / w) as usize;
            assert!(r.start_of(i) <= t && t < r.start_of(i) + w, "{t}");
            expect[i] += 1;
        }
        assert!(r.counts.iter().eq(expect.iter()));
        assert_eq!(r.counts.iter().sum::<u64>(), stamps.len() as u64);
    }

    #[test]
    fn bins_and_ranks() {
        assert_eq!(size_bin(0), 0);
        assert_eq!(size_bin(7), 7);
        assert_eq!(size_bin(8), 8);
        assert_eq!(size_bin(9), 8);
        assert_eq!(size_bin(10), 9);
        assert_eq!(size_bin(16), 12);
        assert_eq!(size_bin(19), 12);
        assert_eq!(size_bin(20), 13);
        assert_eq!(size_bin(u64::MAX), SIZE_BINS - 1);
        assert_eq!(bin_bounds(SIZE_BINS - 1), (7 << 61, u64::MAX));
        // Every size falls in the bin whose bounds hold it, and the bins tile the sizes.
        for b in 0..SIZE_BINS - 1 {
            let (lo, hi) = bin_bounds(b);
            assert_eq!((size_bin(lo), size_bin(hi)), (b, b));
            assert_eq!(bin_bounds(b + 1).0, hi + 1);
        }
        assert_eq!(rank(100, 990), 99);
        assert_eq!(rank(101, 990), 100);
        assert_eq!(rank(1, 500), 1);
        assert_eq!(rank(0, 500), 1);
    }

    #[test]
    fn top_gaps_keep_the_longest_earliest_first() {
        let mut s = Summary::new(1_000, 10);
        let mut t = 0;
        for i in 0..40u64 {
            t += 11 + (i % 4) as i64;
            s.add(i, t, 1, 32);
        }
        assert_eq!(s.gap_count, 39);
        assert_eq!(s.top_gaps.len(), TOP_GAPS);
        assert!(s.top_gaps.iter().all(|g| g.length_ns == 14));
        assert!(s.top_gaps.windows(2).all(|w| w[0].index < w[1].index));
    }
}
