//! Where the writing commands (`append`, `capture`, `import-pcap`, `import`) put events: a single
//! journal file, or a journal set (spec/SET.md) that rolls to a new segment by time or size.
//!
//! [`Sink::open`] decides which from the target path and `--roll` ([`RollArgs`]), once, before any
//! event is written; the commands then append through the [`Sink`] without caring which it is. The
//! append path is one predictable branch on the variant and then the writer's own: no allocation
//! per event.
//!
//! The rules (the commands' `--help` says them too):
//! - an existing regular file is a single journal and is written exactly as before; `--roll` with
//!   it is an error (a set is a directory);
//! - a new path is a single journal without `--roll`, a new set with it;
//! - an empty directory becomes a new set with `--roll`; without it, it is an error;
//! - an existing set is written with its stored policy (SET.md 3). `--roll` (and `--roll-offset`)
//!   may repeat that policy; a `--roll` that differs from it is an error, so that nobody believes
//!   a set rolls the way they asked when it does not.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use journal::set::layout::{
    list_segments, RollPolicy, SetMeta, LOCK_FILE, META_FILE, NEXT_FILE, WAKE_FILE,
};
use journal::{Datagram, Error, SetWriter, SetWriterOptions, UdpCapture, Writer, WriterOptions};

use crate::exit::DataError;
use crate::{output, units};

/// The `--roll` help, the same for every command that takes it (used in their `after_help`).
macro_rules! roll_help {
    () => {
        "Journal sets (spec/SET.md): --roll POLICY writes a set, a directory of segments that rolls to a
new one by time and/or size: daily, hourly, interval:DURATION (interval:15m, at least 1s), a SIZE
(64KiB, 1GiB; at least 4KiB), or a time and a size joined by a comma (hourly,1GiB). Time cycles
follow the events' own timestamps and are counted from the Unix epoch (daily cycles start at
midnight UTC, hourly ones on the hour), shifted by --roll-offset, which is less than the period
(daily with --roll-offset 22h: trading days from 22:00 UTC). The set is created when the target is
a new path or an empty directory. A target that is an existing set is written with the policy
stored when it was created: --roll may be left out or repeat that policy; a --roll that differs
is an error (status 2). A target that is an existing file is a single journal, written as ever;
--roll with it is an error."
    };
}
pub(crate) use roll_help;

/// `--roll` and `--roll-offset`, flattened into each writing command's arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RollArgs {
    /// Write a journal set rolling daily, hourly, interval:DURATION, at a SIZE, or both (hourly,1GiB)
    #[arg(long, value_name = "POLICY", value_parser = parse_roll)]
    roll: Option<RollPolicy>,
    /// Shift the start of time cycles by DURATION (daily with 22h: trading days from 22:00 UTC)
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration)]
    roll_offset: Option<Duration>,
}

impl RollArgs {
    /// The policy asked for, checked (SET.md 3), or `None` without `--roll`.
    pub fn policy(&self) -> anyhow::Result<Option<RollPolicy>> {
        let Some(mut policy) = self.roll else {
            if self.roll_offset.is_some() {
                anyhow::bail!(
                    "--roll-offset needs a time --roll (daily, hourly or interval:DURATION)"
                );
            }
            return Ok(None);
        };
        if let Some(offset) = self.roll_offset {
            if policy.period_ns == 0 {
                anyhow::bail!(
                    "--roll-offset needs a time --roll (daily, hourly or interval:DURATION), not \
                     only a size"
                );
            }
            let ns = u64::try_from(offset.as_nanos()).unwrap_or(u64::MAX);
            if ns >= policy.period_ns {
                anyhow::bail!(
                    "--roll-offset {} is not less than the roll period ({})",
                    duration_text(ns),
                    duration_text(policy.period_ns)
                );
            }
            policy.offset_ns = ns;
        }
        policy
            .validate()
            .map_err(|e| anyhow::anyhow!("--roll: {e}"))?;
        Ok(Some(policy))
    }
}

const NS_PER_S: u64 = 1_000_000_000;
const DAY_NS: u64 = 86_400 * NS_PER_S;
const HOUR_NS: u64 = 3_600 * NS_PER_S;

/// Parses `--roll`: `daily`, `hourly`, `interval:DURATION`, `SIZE`, or one time part and one size
/// part joined by a comma. The limits of SET.md 3 are checked by [`RollArgs::policy`].
pub fn parse_roll(s: &str) -> Result<RollPolicy, String> {
    let mut policy = RollPolicy::default();
    for part in s.split(',') {
        let part = part.trim();
        let period = match part {
            "daily" => Some(DAY_NS),
            "hourly" => Some(HOUR_NS),
            _ => match part.strip_prefix("interval:") {
                Some(d) => {
                    let d = units::parse_duration(d)?;
                    Some(
                        u64::try_from(d.as_nanos())
                            .map_err(|_| format!("--roll '{part}': the interval is too long"))?,
                    )
                }
                None => None,
            },
        };
        match period {
            Some(_) if policy.period_ns != 0 => {
                return Err(format!("--roll '{s}' has two time parts; give one"))
            }
            Some(p) => policy.period_ns = p,
            None => {
                let bytes = units::parse_size(part).map_err(|_| {
                    format!(
                        "--roll '{part}' is not a roll policy: daily, hourly, interval:DURATION \
                         (interval:15m), a SIZE (64KiB, 1GiB), or a time and a size joined by a \
                         comma (hourly,1GiB)"
                    )
                })?;
                if policy.max_bytes != 0 {
                    return Err(format!("--roll '{s}' has two sizes; give one"));
                }
                if bytes == 0 {
                    return Err("--roll size must be at least 4KiB".to_owned());
                }
                policy.max_bytes = bytes;
            }
        }
    }
    Ok(policy)
}

/// A policy in the syntax of `--roll` and `--roll-offset`: `daily`, `hourly,1GiB`,
/// `interval:15m --roll-offset 5m`; `none` for a set that never rolls.
pub fn roll_text(p: &RollPolicy) -> String {
    let mut parts = Vec::new();
    match p.period_ns {
        0 => {}
        DAY_NS => parts.push("daily".to_owned()),
        HOUR_NS => parts.push("hourly".to_owned()),
        n => parts.push(format!("interval:{}", duration_text(n))),
    }
    if p.max_bytes != 0 {
        parts.push(size_text(p.max_bytes));
    }
    if parts.is_empty() {
        return "none (it never rolls)".to_owned();
    }
    let mut text = parts.join(",");
    if p.offset_ns != 0 {
        text.push_str(&format!(" --roll-offset {}", duration_text(p.offset_ns)));
    }
    text
}

/// Nanoseconds in the largest unit that divides them: `36h`, `15m`, `90s`, `250ms`, `7ns`.
fn duration_text(ns: u64) -> String {
    for (unit, name) in [
        (HOUR_NS, "h"),
        (60 * NS_PER_S, "m"),
        (NS_PER_S, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
    ] {
        if ns >= unit && ns.is_multiple_of(unit) {
            return format!("{}{name}", ns / unit);
        }
    }
    format!("{ns}ns")
}

/// Bytes in the largest binary unit that divides them: `64KiB`, `1GiB`, `5000`.
fn size_text(bytes: u64) -> String {
    for (shift, name) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{name}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// What the command does with a target that already holds a journal or a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Append to it (`append`, `capture`, `import-pcap`).
    OpenOrCreate,
    /// Refuse it: the command writes new journals only (`import`).
    CreateNew,
}

/// How to open the target.
pub struct SinkOptions<'a> {
    /// The per-file options: sync policy, recovery, pre-faulting. For a set they apply to every
    /// segment.
    pub writer: WriterOptions,
    /// The growth chunk the command wants; a set that rolls by size uses at most its roll size,
    /// so that small segments are not allocated (and pre-faulted) a large chunk each.
    pub chunk: u64,
    /// `--roll` as given (checked).
    pub roll: Option<RollPolicy>,
    pub mode: Mode,
    /// Completes "refusing to ..." when the target's newest journal is damaged: `append`,
    /// `capture into it`.
    pub refusing: &'a str,
}

/// A single journal or a journal set, open for writing.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // reason: one per command, never moved in a loop; a box would add a pointer chase to every append
pub enum Sink {
    /// A single journal file.
    File(Writer),
    /// A journal set: a directory of segments.
    Set(SetWriter),
}

/// What [`Sink::discard`] has to remove.
#[derive(Debug)]
pub struct Created {
    path: PathBuf,
    /// The set's directory did not exist before (it is removed too).
    new_dir: bool,
}

impl Sink {
    /// Opens (or creates) the target `path` as the module documentation says. Returns the sink
    /// and, when this call created it, what [`Sink::discard`] removes.
    pub fn open(path: &Path, opts: &SinkOptions<'_>) -> anyhow::Result<(Sink, Option<Created>)> {
        let shown = output::path(path);
        let meta = match fs::symlink_metadata(path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    op: "stat",
                    source: e,
                }
                .into())
            }
        };
        let is_dir = meta.as_ref().is_some_and(|m| m.is_dir());
        if !is_dir && (meta.is_some() || opts.roll.is_none()) {
            // A single journal file, exactly as before sets existed.
            if opts.roll.is_some() {
                anyhow::bail!(
                    "{shown} is {}; --roll writes a journal set, which is a directory: give a new \
                     path or an empty directory, or leave --roll out to write the file as a single \
                     journal",
                    if meta.as_ref().is_some_and(|m| m.file_type().is_symlink()) {
                        "a symbolic link"
                    } else {
                        "an existing file"
                    }
                );
            }
            let mut w = opts.writer.clone();
            w.chunk_size(opts.chunk);
            let opened = match opts.mode {
                Mode::OpenOrCreate => w.open_or_create(path),
                Mode::CreateNew => w.create(path),
            };
            let created = meta.is_none().then(|| Created {
                path: path.to_path_buf(),
                new_dir: false,
            });
            return match opened {
                Ok(w) => Ok((Sink::File(w), created)),
                Err(e) => Err(refuse(e, path, opts.refusing)),
            };
        }
        // A set: an existing one, or a new one in a new path or an empty directory.
        let is_set = is_dir && path.join(META_FILE).exists();
        if is_set && opts.mode == Mode::CreateNew {
            anyhow::bail!("{shown} already exists (a journal set); give a new path");
        }
        let stored = if is_set {
            let stored = SetMeta::read(path)?.roll;
            if let Some(asked) = opts.roll {
                if asked != stored {
                    anyhow::bail!(
                        "{shown} is a journal set that rolls {}, not {}: a set keeps the policy it \
                         was created with (leave --roll out to write it so)",
                        roll_text(&stored),
                        roll_text(&asked)
                    );
                }
            }
            stored
        } else {
            match opts.roll {
                Some(p) => p,
                None => anyhow::bail!(
                    "{shown} is a directory but not a journal set; give --roll to create a set in \
                     it (it must be empty), or give a file's path"
                ),
            }
        };
        let mut seg = opts.writer.clone();
        seg.chunk_size(match stored.max_bytes {
            0 => opts.chunk,
            max => opts.chunk.min(max),
        });
        let mut set = SetWriterOptions::new();
        set.segment_options(seg).roll(stored);
        let opened = if is_set {
            set.open(path)
        } else {
            match opts.mode {
                Mode::OpenOrCreate => set.open_or_create(path),
                Mode::CreateNew => set.create(path),
            }
        };
        let w = opened.map_err(|e| refuse(e, path, opts.refusing))?;
        if w.meta().roll != stored {
            // Another process created the set, with another policy, between the checks above and
            // the creation here.
            let found = w.meta().roll;
            drop(w);
            anyhow::bail!(
                "{shown} is a journal set that rolls {}, not {}: a set keeps the policy it was \
                 created with (leave --roll out to write it so)",
                roll_text(&found),
                roll_text(&stored)
            );
        }
        let created = (!is_set).then(|| Created {
            path: path.to_path_buf(),
            new_dir: !is_dir,
        });
        Ok((Sink::Set(w), created))
    }

    /// Appends one event; returns its index (global, in a set).
    #[inline]
    pub fn append(&mut self, timestamp: i64, payload: &[u8]) -> journal::Result<u64> {
        match self {
            Sink::File(w) => w.append(timestamp, payload),
            Sink::Set(w) => w.append(timestamp, payload),
        }
    }

    /// The index the next event will get: the number of events written to the journal, or to the
    /// set (pruned ones included).
    pub fn events(&self) -> u64 {
        match self {
            Sink::File(w) => w.events(),
            Sink::Set(w) => w.events(),
        }
    }

    /// Whether this is a set.
    pub fn is_set(&self) -> bool {
        matches!(self, Sink::Set(_))
    }

    /// A set's roll policy (the stored one); `None` for a single journal.
    pub fn roll(&self) -> Option<RollPolicy> {
        match self {
            Sink::File(_) => None,
            Sink::Set(w) => Some(w.meta().roll),
        }
    }

    /// Flushes what was appended to stable storage.
    pub fn sync(&mut self) -> journal::Result<()> {
        match self {
            Sink::File(w) => w.sync(),
            Sink::Set(w) => w.sync(),
        }
    }

    /// Closes cleanly (FORMAT.md 7.4; a set also removes its prepared next segment).
    pub fn close(self) -> journal::Result<()> {
        match self {
            Sink::File(w) => w.close(),
            Sink::Set(w) => w.close(),
        }
    }

    /// Syncs, then closes: what every writing command does at its end, whatever stopped it.
    pub fn finish(mut self) -> journal::Result<()> {
        let synced = self.sync();
        let closed = self.close();
        synced.and(closed)
    }

    /// Receives one burst of datagrams into the sink (`wait`: up to the socket's read timeout for
    /// the first one). A journal file goes through [`UdpCapture::recv_batch`]; a set gets the
    /// same treatment: each datagram appended, a due sync after an empty receive, and, when the
    /// socket's queue is drained (fewer than `batch` datagrams), a pretouch, which for a set also
    /// keeps the next segment prepared (SET.md 5.3).
    pub fn recv_batch(
        &mut self,
        cap: &mut UdpCapture,
        wait: bool,
        batch: usize,
    ) -> journal::Result<usize> {
        let w = match self {
            Sink::File(w) if wait => return cap.recv_batch(w),
            Sink::File(w) => return cap.try_recv_batch(w),
            Sink::Set(w) => w,
        };
        let mut failed = None;
        let record = |d: Datagram<'_>| {
            if failed.is_none() {
                if let Err(e) = w.append(d.timestamp, d.payload) {
                    failed = Some(e);
                }
            }
        };
        let n = if wait {
            cap.recv_with(record)?
        } else {
            cap.try_recv_with(record)?
        };
        if let Some(e) = failed {
            return Err(e);
        }
        if n == 0 {
            w.sync_if_due()?;
        }
        if n < batch {
            w.pretouch()?;
        }
        Ok(n)
    }

    /// Closes and removes what [`Sink::open`] created (`import` after an error): the journal
    /// file, or the set's files and, if it created it, the directory.
    pub fn discard(self, created: Created) -> anyhow::Result<()> {
        let is_set = self.is_set();
        drop(self);
        let path = &created.path;
        if !is_set {
            // The writer's wake-up file (FORMAT.md 15) goes with the journal it made.
            remove(&journal::wake::wake_path(path))?;
            return remove(path);
        }
        for seg in list_segments(path)? {
            remove(&journal::index::index_path(&seg.path))?;
            remove(&seg.path)?;
        }
        let next = path.join(NEXT_FILE);
        for f in [
            journal::index::index_path(&next),
            next,
            path.join(META_FILE),
            path.join(LOCK_FILE),
            // The set writer's wake-up file (spec/SET.md 6.5.1).
            path.join(WAKE_FILE),
        ] {
            remove(&f)?;
        }
        if created.new_dir {
            fs::remove_dir(path)
                .with_context(|| format!("{}: cannot remove directory", output::path(path)))?;
        }
        Ok(())
    }
}

fn remove(path: &Path) -> anyhow::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => {
            Err(anyhow::Error::new(e).context(format!("{}: cannot remove", output::path(path))))
        }
    }
}

/// The error for a target that could not be opened: a damaged journal (or newest segment) is
/// "the data is bad", with the repair that cuts the damage.
fn refuse(e: Error, target: &Path, refusing: &str) -> anyhow::Error {
    match e {
        Error::Damaged { ref path, .. } => {
            let what = path.clone();
            DataError(format!(
                "{e}; refusing to {refusing} ('journal repair {}' cuts the damage)",
                output::path(&what)
            ))
            .into()
        }
        e => crate::commands::open_error(e, target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roll_policies_parse_and_print_back() {
        let daily = RollPolicy::daily();
        assert_eq!(parse_roll("daily"), Ok(daily));
        assert_eq!(parse_roll("hourly"), Ok(RollPolicy::hourly()));
        assert_eq!(parse_roll("64KiB"), Ok(RollPolicy::by_size(64 << 10)));
        assert_eq!(parse_roll("1G"), Ok(RollPolicy::by_size(1 << 30)));
        let both = parse_roll("hourly,1GiB").unwrap();
        assert_eq!((both.period_ns, both.max_bytes), (HOUR_NS, 1 << 30));
        assert_eq!(parse_roll("1GiB,hourly"), Ok(both));
        assert_eq!(
            parse_roll("interval:15m").unwrap().period_ns,
            15 * 60 * NS_PER_S
        );
        for bad in [
            "",
            "weekly",
            "daily,hourly",
            "4KiB,8KiB",
            "0",
            "interval:",
            "interval:15",
            "64KB",
            "interval:-1s",
        ] {
            assert!(parse_roll(bad).is_err(), "{bad}");
        }
        for text in [
            "daily",
            "hourly,1GiB",
            "interval:15m",
            "interval:90s",
            "64KiB",
            "5000",
        ] {
            assert_eq!(roll_text(&parse_roll(text).unwrap()), text);
        }
        let mut offset = daily;
        offset.offset_ns = 22 * HOUR_NS;
        assert_eq!(roll_text(&offset), "daily --roll-offset 22h");
        assert_eq!(roll_text(&RollPolicy::default()), "none (it never rolls)");
    }

    #[test]
    fn roll_arguments_are_checked_together() {
        let args = |roll: Option<&str>, offset: Option<&str>| RollArgs {
            roll: roll.map(|r| parse_roll(r).unwrap()),
            roll_offset: offset.map(|o| units::parse_duration(o).unwrap()),
        };
        assert_eq!(args(None, None).policy().unwrap(), None);
        let p = args(Some("daily"), Some("22h")).policy().unwrap().unwrap();
        assert_eq!(p.offset_ns, 22 * HOUR_NS);
        for (roll, offset, why) in [
            (None, Some("1h"), "needs a time --roll"),
            (Some("1GiB"), Some("1h"), "needs a time --roll"),
            (
                Some("hourly"),
                Some("1h"),
                "not less than the roll period (1h)",
            ),
            (Some("100"), None, "smaller than 4096"),
            (Some("interval:500ms"), None, "shorter than one second"),
        ] {
            let err = args(roll, offset).policy().unwrap_err().to_string();
            assert!(err.contains(why), "{roll:?} {offset:?}: {err}");
        }
    }
}
