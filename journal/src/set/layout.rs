//! The layout of a journal set on disk (SET.md 2–4): the directory's files, segment names, the
//! set's metadata file and its roll policy. Everything here is plain file-system work; the writer,
//! readers and retention build on it.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::sys::sync_dir;

/// The metadata file that makes a directory a journal set (SET.md 3).
pub const META_FILE: &str = "journal-set";
/// The file whose lock the set's one writer holds (SET.md 7).
pub const LOCK_FILE: &str = ".lock";
/// The name under which the writer prepares the next segment before a roll (SET.md 5). It is not
/// a segment: readers never open it.
pub const NEXT_FILE: &str = ".next.journal";
/// The set's one wake-up file (SET.md 6.5.1, FORMAT.md 15), on which its blocking tailers sleep.
/// It is not a segment.
pub const WAKE_FILE: &str = "journal-set.wake";
/// The most sealed segments that may be without their clean close (SET.md 5.4 R7) at once; a
/// writer opening the set finishes R7 for this many segments before the newest (7.3 step 6).
///
/// Why 8: a sealed segment waiting for its close still holds its mapping, its idle pretoucher
/// thread if it has one and, under `never`, all its dirty pages (up to the roll size each), so the
/// bound caps that memory at 8 segments, and the work an opening writer does at 8 checks. A
/// longer queue would buy nothing for a writer that outruns the disk for good (the kernel
/// throttles a process that dirties pages past its limit anyway); what the queue absorbs is a
/// burst, and the jitter of the closes' syncs, while the appends run on. 8 segments let the
/// writer run 7 rolls ahead of the close in progress.
pub const MAX_UNCLOSED: usize = 8;
/// The directory of the set's named cursors (CURSOR.md).
pub const CURSORS_DIR: &str = "cursors";
/// The suffix of a segment's file name (SET.md 2).
pub const SEGMENT_SUFFIX: &str = ".journal";
/// The number of decimal digits of a segment name's first event index (SET.md 2).
pub const INDEX_DIGITS: usize = 20;
/// The first line of the metadata file (SET.md 3).
const META_MAGIC: &str = "journal-set 1";
/// The metadata file is a few lines; anything longer is not one.
const META_MAX_LEN: u64 = 4096;

/// The file name of the segment whose first event has the global index `first_index`: the index
/// in 20 zero-padded decimal digits, then `.journal` (SET.md 2). Names sort in index order, which
/// is the order in which the segments were written.
pub fn segment_name(first_index: u64) -> String {
    format!(
        "{first_index:0width$}{SEGMENT_SUFFIX}",
        width = INDEX_DIGITS
    )
}

/// The first global event index named by a segment's file name, or `None` when `name` is not a
/// segment's name (SET.md 2): exactly 20 ASCII digits, then `.journal`.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != INDEX_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// One segment of a set, as the directory lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentEntry {
    /// The global index of the segment's first event (from its name).
    pub first_index: u64,
    /// The segment's path.
    pub path: PathBuf,
}

/// Lists the set's segments in order (SET.md 2): every file whose name is a segment name,
/// sorted by first index. Other files (the metadata, the lock, a prepared `.next.journal`,
/// indexes, cursors) are skipped.
pub fn list_segments(dir: &Path) -> Result<Vec<SegmentEntry>> {
    let rd = fs::read_dir(dir).map_err(|e| Error::io(dir, "read directory", e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, "read directory", e))?;
        let name = entry.file_name();
        let Some(first_index) = name.to_str().and_then(parse_segment_name) else {
            continue;
        };
        out.push(SegmentEntry {
            first_index,
            path: entry.path(),
        });
    }
    out.sort_by_key(|s| s.first_index);
    Ok(out)
}

/// Whether `path` is a journal set: a directory holding a metadata file (SET.md 3).
pub fn is_set(path: &Path) -> bool {
    path.is_dir() && path.join(META_FILE).is_file()
}

/// When the writer starts a new segment (SET.md 5). Both limits may be set; the first one reached
/// rolls. With neither, the set is one segment that grows like a single journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RollPolicy {
    /// Roll when an event's timestamp falls in a later time cycle than the segment's first event:
    /// cycles are `period_ns` long and start at `offset_ns + k * period_ns` nanoseconds since the
    /// epoch (UTC), for whole `k`. `0` means no time-based roll.
    pub period_ns: u64,
    /// Where cycles start, relative to the epoch (e.g. 22:00 for a trading day that starts at
    /// 22:00 UTC). Less than `period_ns` (or 0).
    pub offset_ns: u64,
    /// Roll when appending an entry would take the segment's content (`write_offset`) past this
    /// many bytes. `0` means no size-based roll. A segment always takes at least one event.
    pub max_bytes: u64,
}

const NS_PER_S: u64 = 1_000_000_000;

impl RollPolicy {
    /// Daily cycles starting at midnight UTC.
    pub fn daily() -> RollPolicy {
        RollPolicy {
            period_ns: 86_400 * NS_PER_S,
            ..RollPolicy::default()
        }
    }

    /// Hourly cycles starting on the hour (UTC).
    pub fn hourly() -> RollPolicy {
        RollPolicy {
            period_ns: 3_600 * NS_PER_S,
            ..RollPolicy::default()
        }
    }

    /// A roll whenever a segment's content would exceed `bytes`.
    pub fn by_size(bytes: u64) -> RollPolicy {
        RollPolicy {
            max_bytes: bytes,
            ..RollPolicy::default()
        }
    }

    /// Checks the policy's fields (SET.md 3).
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.period_ns == 0 && self.offset_ns != 0 {
            return Err("a roll offset needs a roll period".into());
        }
        if self.period_ns != 0 && self.offset_ns >= self.period_ns {
            return Err(format!(
                "roll offset {} ns is not less than the period {} ns",
                self.offset_ns, self.period_ns
            ));
        }
        if self.period_ns != 0 && self.period_ns < NS_PER_S {
            return Err(format!(
                "roll period {} ns is shorter than one second",
                self.period_ns
            ));
        }
        if self.max_bytes != 0 && self.max_bytes < 4096 {
            return Err(format!(
                "roll size {} bytes is smaller than 4096",
                self.max_bytes
            ));
        }
        Ok(())
    }

    /// The number of the time cycle that holds timestamp `ts` (SET.md 5), or `None` without a
    /// time-based roll. Cycle numbers increase with time; negative timestamps have negative cycles.
    pub fn cycle_of(&self, ts: i64) -> Option<i64> {
        if self.period_ns == 0 {
            return None;
        }
        let shifted = i128::from(ts) - i128::from(self.offset_ns);
        Some(shifted.div_euclid(i128::from(self.period_ns)) as i64)
    }

    /// The first nanosecond of cycle `cycle` (SET.md 5), saturated to the `i64` range.
    pub fn cycle_start(&self, cycle: i64) -> Option<i64> {
        if self.period_ns == 0 {
            return None;
        }
        let start = i128::from(cycle) * i128::from(self.period_ns) + i128::from(self.offset_ns);
        Some(start.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }
}

/// What the writer removes by itself at each roll (SET.md 8). All limits off by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    /// Keep at most this many segments (the one being written included). `0`: no limit.
    pub keep: u64,
    /// Keep at most this many bytes of segments (file sizes, the one being written included).
    /// `0`: no limit.
    pub max_bytes: u64,
    /// Remove sealed segments whose newest event is older than this many nanoseconds before the
    /// newest event of the set. `0`: no limit.
    pub max_age_ns: u64,
}

impl Retention {
    /// Whether any limit is set.
    pub fn is_active(&self) -> bool {
        self.keep != 0 || self.max_bytes != 0 || self.max_age_ns != 0
    }
}

/// The content of a set's metadata file (SET.md 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetMeta {
    /// When the writer rolls.
    pub roll: RollPolicy,
    /// What the writer removes at a roll.
    pub retention: Retention,
}

const KEYS: [&str; 6] = [
    "roll-period-ns",
    "roll-offset-ns",
    "roll-max-bytes",
    "retain-segments",
    "retain-bytes",
    "retain-age-ns",
];

impl SetMeta {
    /// The metadata file's text (SET.md 3): the magic line, then one `key value` line per field,
    /// in a fixed order, each ending with a newline.
    pub fn encode(&self) -> String {
        let values = self.values();
        let mut s = String::from(META_MAGIC);
        s.push('\n');
        for (k, v) in KEYS.iter().zip(values) {
            s.push_str(&format!("{k} {v}\n"));
        }
        s
    }

    fn values(&self) -> [u64; 6] {
        [
            self.roll.period_ns,
            self.roll.offset_ns,
            self.roll.max_bytes,
            self.retention.keep,
            self.retention.max_bytes,
            self.retention.max_age_ns,
        ]
    }

    /// Decodes a metadata file's text (SET.md 3). Errors say what is wrong, for a person.
    pub fn decode(text: &str) -> std::result::Result<SetMeta, String> {
        let mut lines = text.split_terminator('\n');
        if lines.next() != Some(META_MAGIC) {
            return Err(format!("the first line is not {META_MAGIC:?}"));
        }
        if !text.ends_with('\n') {
            return Err("the last line has no newline".into());
        }
        let mut values: [Option<u64>; 6] = [None; 6];
        for line in lines {
            let (key, value) = line
                .split_once(' ')
                .ok_or_else(|| format!("line {line:?} is not `key value`"))?;
            let Some(slot) = KEYS.iter().position(|k| *k == key) else {
                // Unknown keys are refused: a newer writer's policy must not be half applied.
                return Err(format!("unknown key {key:?}"));
            };
            if values[slot].is_some() {
                return Err(format!("key {key:?} appears twice"));
            }
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{key}: {value:?} is not a decimal number"));
            }
            values[slot] = Some(
                value
                    .parse()
                    .map_err(|_| format!("{key}: {value} is out of range"))?,
            );
        }
        let v = |i: usize| values[i].unwrap_or(0);
        let meta = SetMeta {
            roll: RollPolicy {
                period_ns: v(0),
                offset_ns: v(1),
                max_bytes: v(2),
            },
            retention: Retention {
                keep: v(3),
                max_bytes: v(4),
                max_age_ns: v(5),
            },
        };
        meta.roll.validate()?;
        Ok(meta)
    }

    /// Reads and decodes `dir`'s metadata file. A directory without one is not a set.
    pub fn read(dir: &Path) -> Result<SetMeta> {
        let path = dir.join(META_FILE);
        let bad = |reason: String| Error::BadSet {
            path: dir.to_path_buf(),
            reason,
        };
        let len = match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => return Err(bad(format!("{META_FILE} is not a regular file"))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(bad(format!("no {META_FILE} file: not a journal set")));
            }
            Err(e) => return Err(Error::io(&path, "stat", e)),
        };
        if len > META_MAX_LEN {
            return Err(bad(format!("{META_FILE} is {len} bytes, too long")));
        }
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, "read", e))?;
        let text =
            String::from_utf8(bytes).map_err(|_| bad(format!("{META_FILE} is not UTF-8 text")))?;
        SetMeta::decode(&text).map_err(|r| bad(format!("{META_FILE}: {r}")))
    }

    /// Writes `dir`'s metadata file durably and atomically (SET.md 3): a temporary file, fsync,
    /// rename over the old one, fsync of the directory.
    pub fn write(&self, dir: &Path) -> Result<()> {
        self.roll.validate().map_err(|reason| Error::BadSet {
            path: dir.to_path_buf(),
            reason,
        })?;
        let tmp = dir.join(format!(".{META_FILE}.tmp"));
        let path = dir.join(META_FILE);
        let mut f = fs::File::create(&tmp).map_err(|e| Error::io(&tmp, "create", e))?;
        f.write_all(self.encode().as_bytes())
            .map_err(|e| Error::io(&tmp, "write", e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, "fsync", e))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(|e| Error::io(&path, "rename", e))?;
        sync_dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip_and_sort_in_index_order() {
        for i in [0, 1, 9, 10, 12_345, u64::MAX] {
            let name = segment_name(i);
            assert_eq!(name.len(), INDEX_DIGITS + SEGMENT_SUFFIX.len());
            assert_eq!(parse_segment_name(&name), Some(i));
        }
        assert!(segment_name(9) < segment_name(10));
        assert!(segment_name(99_999) < segment_name(100_000));
        assert_eq!(segment_name(7), "00000000000000000007.journal");
    }

    #[test]
    fn other_names_are_not_segments() {
        for name in [
            "journal-set",
            ".lock",
            NEXT_FILE,
            "00000000000000000007.journal.idx",
            "0000000000000000007.journal",
            "000000000000000000007.journal",
            "0000000000000000000x.journal",
            "+0000000000000000007.journal",
            "99999999999999999999.journal", // more than u64::MAX
            "00000000000000000007.JOURNAL",
        ] {
            assert_eq!(parse_segment_name(name), None, "{name}");
        }
    }

    #[test]
    fn listing_skips_other_files_and_sorts() {
        let dir = tempfile::tempdir().unwrap();
        for i in [300u64, 0, 20] {
            fs::write(dir.path().join(segment_name(i)), b"").unwrap();
        }
        for other in [
            META_FILE,
            LOCK_FILE,
            NEXT_FILE,
            "00000000000000000000.journal.idx",
        ] {
            fs::write(dir.path().join(other), b"").unwrap();
        }
        let firsts: Vec<u64> = list_segments(dir.path())
            .unwrap()
            .iter()
            .map(|s| s.first_index)
            .collect();
        assert_eq!(firsts, [0, 20, 300]);
    }

    #[test]
    fn cycles_follow_the_period_and_offset() {
        let daily_at_22 = RollPolicy {
            period_ns: 86_400 * NS_PER_S,
            offset_ns: 22 * 3_600 * NS_PER_S,
            max_bytes: 0,
        };
        let h = |hours: i64| hours * 3_600 * NS_PER_S as i64;
        assert_eq!(daily_at_22.cycle_of(h(0)), Some(-1));
        assert_eq!(daily_at_22.cycle_of(h(22) - 1), Some(-1));
        assert_eq!(daily_at_22.cycle_of(h(22)), Some(0));
        assert_eq!(daily_at_22.cycle_of(h(24 + 21)), Some(0));
        assert_eq!(daily_at_22.cycle_of(h(24 + 22)), Some(1));
        assert_eq!(daily_at_22.cycle_start(1), Some(h(24 + 22)));
        assert_eq!(daily_at_22.cycle_of(i64::MIN).map(|c| c < 0), Some(true));
        assert!(daily_at_22.cycle_of(i64::MAX).is_some());
        assert_eq!(RollPolicy::by_size(1 << 20).cycle_of(5), None);
    }

    #[test]
    fn metadata_round_trips_and_refuses_bad_text() {
        let meta = SetMeta {
            roll: RollPolicy {
                period_ns: 3_600 * NS_PER_S,
                offset_ns: 60 * NS_PER_S,
                max_bytes: 1 << 30,
            },
            retention: Retention {
                keep: 24,
                max_bytes: 0,
                max_age_ns: 7 * 86_400 * NS_PER_S,
            },
        };
        let text = meta.encode();
        assert_eq!(SetMeta::decode(&text), Ok(meta));
        let dir = tempfile::tempdir().unwrap();
        meta.write(dir.path()).unwrap();
        assert!(is_set(dir.path()));
        assert_eq!(SetMeta::read(dir.path()).unwrap(), meta);

        for bad in [
            "",
            "journal-set 2\n",
            "journal-set 1",
            "journal-set 1\nroll-period-ns 1\n",
            "journal-set 1\nroll-period-ns x\n",
            "journal-set 1\nroll-period-ns -5\n",
            "journal-set 1\nroll-period-ns 99999999999999999999999\n",
            "journal-set 1\nroll-max-bytes 8192\nroll-max-bytes 8192\n",
            "journal-set 1\ncolour blue\n",
            "journal-set 1\nroll-offset-ns 5\n",
            "journal-set 1\nroll-max-bytes 100\n",
            "journal-set 1\nroll-max-bytes\n",
        ] {
            assert!(SetMeta::decode(bad).is_err(), "{bad:?}");
        }
        // Keys may be missing (zero) and come in any order.
        assert_eq!(
            SetMeta::decode("journal-set 1\nroll-max-bytes 8192\n")
                .unwrap()
                .roll,
            RollPolicy::by_size(8192)
        );
    }

    #[test]
    fn a_directory_without_metadata_is_not_a_set() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_set(dir.path()));
        let err = SetMeta::read(dir.path()).unwrap_err();
        assert!(err.to_string().contains("not a journal set"), "{err}");
        fs::write(dir.path().join(META_FILE), vec![b'a'; 5000]).unwrap();
        assert!(SetMeta::read(dir.path()).is_err());
    }
}
