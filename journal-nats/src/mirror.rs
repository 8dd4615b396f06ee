//! `journal mirror`: a JetStream stream's journal events written into a local journal, with their
//! original timestamps (docs/NATS.md).
//!
//! Position: after the journal is synced, the stream sequence of the last message handled is
//! written to a sidecar file `TARGET.nats` (write to a temporary file, fsync, rename). So the
//! sidecar never points past what the journal durably holds; a crash between the sync and the
//! rename only makes the restart re-read messages whose event is already in the journal, and those
//! are recognised by their `Journal-Index` header (below the next index the journal expects) and
//! skipped. An index above the expected one is a gap and stops the mirror with an error.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use async_nats::jetstream::{self, consumer};
use futures_util::{FutureExt as _, StreamExt};
use journal::set::{RollPolicy, SetMeta};
use journal::{SetWriter, SetWriterOptions, SyncPolicy, Writer, WriterOptions};
use serde_json::json;

use crate::conn::{runtime, say, shutdown_signal, Connection, Progress};
use crate::publish::get_stream;
use crate::{BadData, HDR_ID, HDR_INDEX, HDR_START, HDR_TIMESTAMP};

/// Where the mirror starts reading the stream when the target has no position file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MirrorStart {
    /// The first message the stream holds.
    Beginning,
    /// This stream sequence.
    Seq(u64),
    /// The first message the stream stored at or after this time (ns; the server's clock).
    Time(i64),
}

/// What to mirror where.
#[derive(Debug)]
pub struct MirrorConfig {
    /// The servers.
    pub conn: Connection,
    /// The JetStream stream.
    pub stream: String,
    /// Only messages on subjects matching this filter (one journal's subject).
    pub filter: Option<String>,
    /// Where to start without a position file.
    pub start: MirrorStart,
    /// Keep mirroring new messages until SIGINT or SIGTERM.
    pub follow: bool,
    /// A message without the journal headers is an error instead of skipped.
    pub strict: bool,
    /// The local journal (created if missing), or a journal set's directory.
    pub target: PathBuf,
    /// With `Some`, a target that is a new path or an empty directory becomes a journal set
    /// rolling by this policy (checked: [`RollPolicy::validate`]); a target that is an existing
    /// set must have been created with this policy, and an existing file is refused. With
    /// `None`, a new path becomes a single journal and an existing set is written with its stored
    /// policy.
    pub roll: Option<RollPolicy>,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct MirrorSummary {
    /// Events appended to the target.
    pub written: u64,
    /// Messages skipped because the target already had their event.
    pub already_present: u64,
    /// Messages skipped because they carry no journal headers.
    pub not_events: u64,
    /// The stream sequence of the last message handled.
    pub last_seq: u64,
    /// Events in the target at the end.
    pub events: u64,
    /// Whether a signal ended the run.
    pub interrupted: bool,
    /// How long it ran.
    pub elapsed: Duration,
}

/// The content of `TARGET.nats`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    stream: String,
    seq: u64,
    journal_id: Option<String>,
    /// The source index of the target's first event.
    base: u64,
}

/// The position file of `target` (a set's directory: the file beside it).
pub fn position_path(target: &Path) -> PathBuf {
    // No trailing separator: `set/` has its position in `set.nats`, not `set/.nats`.
    let target: PathBuf = target.components().collect();
    let mut p = target.into_os_string();
    p.push(".nats");
    PathBuf::from(p)
}

fn load_position(path: &Path) -> anyhow::Result<Option<Position>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
    };
    let bad = || {
        anyhow!(
            "{}: not a mirror position file (remove it to re-read the stream from the start)",
            path.display()
        )
    };
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| bad())?;
    Ok(Some(Position {
        stream: v["stream"].as_str().ok_or_else(bad)?.to_owned(),
        seq: v["seq"].as_u64().ok_or_else(bad)?,
        journal_id: v["journal_id"].as_str().map(str::to_owned),
        base: v["base"].as_u64().ok_or_else(bad)?,
    }))
}

fn store_position(path: &Path, pos: &Position) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let body = json!({
        "stream": pos.stream,
        "seq": pos.seq,
        "journal_id": pos.journal_id,
        "base": pos.base,
    });
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(format!("{body}\n").as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().with_context(|| format!("{}: cannot write the mirror position", path.display()))
}

/// How long no message must have arrived before the network thread runs the writer's own sync.
const IDLE_BEFORE_SYNC: Duration = Duration::from_secs(1);

/// Runs `journal mirror` to completion (or to SIGINT / SIGTERM).
pub fn mirror(cfg: MirrorConfig) -> anyhow::Result<MirrorSummary> {
    let rt = runtime()?;
    let result = rt.block_on(run(cfg));
    rt.shutdown_timeout(Duration::from_millis(100));
    result
}

/// The journal a mirror writes: a file, or a set (whose indexes are global).
enum Out {
    File(Box<Writer>),
    Set(Box<SetWriter>),
}

impl Out {
    /// The index the next event gets.
    fn next_index(&self) -> u64 {
        match self {
            Out::File(w) => w.events(),
            Out::Set(w) => w.events(),
        }
    }

    fn append(&mut self, ts: i64, payload: &[u8]) -> journal::Result<u64> {
        match self {
            Out::File(w) => w.append(ts, payload),
            Out::Set(w) => w.append(ts, payload),
        }
    }

    fn sync(&mut self) -> journal::Result<()> {
        match self {
            Out::File(w) => w.sync(),
            Out::Set(w) => w.sync(),
        }
    }

    /// The file that holds the newest events (a set's newest segment).
    fn newest_file(&self) -> &Path {
        match self {
            Out::File(w) => w.path(),
            Out::Set(w) => w.segment_path(),
        }
    }

    /// A handle that syncs the file holding the newest events from another thread.
    fn syncer(&self) -> journal::Result<journal::Syncer> {
        match self {
            Out::File(w) => w.syncer(),
            Out::Set(w) => w.segment().syncer(),
        }
    }

    fn close(self) -> journal::Result<()> {
        match self {
            Out::File(w) => w.close(),
            Out::Set(w) => w.close(),
        }
    }
}

/// The stream sequence and the number of messages pending after this one, from a JetStream
/// message's reply subject: what [`async_nats::jetstream::Message::info`] returns as `stream_sequence` and
/// `pending`, without parsing the rest (the delivery count, the consumer sequence and the
/// timestamp, which needs a date conversion). The ordered consumer has already parsed the whole
/// subject with `info` before it hands the message over, so that parse is not repeated here.
///
/// The subject is `$JS.ACK.` then either `<stream>.<consumer>.<delivered>.<stream seq>.<consumer
/// seq>.<timestamp>.<pending>` (7 tokens), or `<domain>.<account hash>.` before those and
/// optionally a random token after them (9 or more tokens), as `info` reads it.
fn ack_position(reply: Option<&str>) -> anyhow::Result<(u64, u64)> {
    let bad = |why: &str| anyhow!("a message without JetStream metadata: {why}");
    let rest = reply
        .ok_or_else(|| bad("no reply subject"))?
        .strip_prefix("$JS.ACK.")
        .ok_or_else(|| bad("the reply subject is not a JetStream acknowledgement"))?;
    let mut tokens = [""; 9];
    let mut n = 0;
    for token in rest.split('.').take(tokens.len()) {
        tokens[n] = token;
        n += 1;
    }
    let (seq, pending) = match n {
        9 => (tokens[5], tokens[8]),
        7 => (tokens[3], tokens[6]),
        _ => return Err(bad("bad token number")),
    };
    let number = |t: &str| t.parse::<u64>().map_err(|e| bad(&format!("'{t}': {e}")));
    Ok((number(seq)?, number(pending)?))
}

/// The journal headers of a message (the first value of each), found in one pass over its
/// headers: `HeaderMap::get` with a `&str` name allocates the name and hashes it, four times a
/// message.
#[derive(Debug, Default, PartialEq, Eq)]
struct JournalHeaders<'a> {
    id: Option<&'a str>,
    index: Option<&'a str>,
    timestamp: Option<&'a str>,
    start: Option<&'a str>,
}

impl<'a> JournalHeaders<'a> {
    fn of(headers: Option<&'a async_nats::HeaderMap>) -> JournalHeaders<'a> {
        let mut h = JournalHeaders::default();
        for (name, values) in headers.into_iter().flat_map(|m| m.iter()) {
            let slot = match AsRef::<str>::as_ref(name) {
                HDR_ID => &mut h.id,
                HDR_INDEX => &mut h.index,
                HDR_TIMESTAMP => &mut h.timestamp,
                HDR_START => &mut h.start,
                _ => continue,
            };
            *slot = values.first().map(|v| v.as_str());
        }
        h
    }
}

struct Target {
    path: PathBuf,
    pos_path: PathBuf,
    writer: Option<Out>,
    /// With no writer yet: the roll policy of the set to create at the first event (a single
    /// journal without it).
    new_set: Option<RollPolicy>,
    pos: Position,
    /// Whether `base` is known (from the position file or the target's content).
    base_known: bool,
    dirty: bool,
    strict: bool,
    summary: MirrorSummary,
    /// The sync handle of the file holding the newest events, and that file's path (a set's
    /// segment: a new handle after each roll).
    sync_handle: Option<(PathBuf, journal::Syncer)>,
}

impl Target {
    fn events(&self) -> u64 {
        self.writer.as_ref().map_or(0, Out::next_index)
    }

    /// A journal file: synced by the checkpoints (below). The file's growth (`fallocate`, which
    /// can wait behind a checkpoint's sync for a long time) and its page faults are taken by the
    /// writer's pretouch thread, a few chunks ahead, not by the network thread; so is the sync
    /// that moves the index forward every 64 MiB. A checkpoint syncs only `[0, write_offset)`
    /// (the writer's [`journal::Syncer`]), so the pages pre-faulted past it stay mapped and do
    /// not fault again (a whole-file `fdatasync` would write them back).
    ///
    /// With huge-page advice: the page cache holds the file in large folios (ext4), which are then
    /// mapped whole (2 MiB) instead of page by page. The write-back of a mapped folio
    /// write-protects its mappings, and each write-protected page table entry costs a TLB-flush
    /// interrupt on the other cores, which run the network thread: once per folio instead of once
    /// per 4 KiB page (BENCHMARKS.md, "NATS JetStream"). Advice only: without large folios the
    /// file is mapped page by page, as without it.
    fn options() -> WriterOptions {
        let mut o = WriterOptions::new();
        o.sync_policy(SyncPolicy::Never)
            .chunk_size(4 << 20)
            .prefault(true)
            .huge_pages(true)
            .pretouch_thread(true);
        o
    }

    /// A set's segments: synced at each roll (a policy other than `Never` that never syncs on
    /// its own), so that a checkpoint, which syncs the newest segment, covers every event. A set
    /// that rolls at a size grows its segments by at most that size. Each segment has its
    /// pretouch thread, as a file has.
    fn set_options(roll: RollPolicy) -> SetWriterOptions {
        let chunk = match roll.max_bytes {
            0 => 4 << 20,
            max => max.min(4 << 20),
        };
        let mut seg = Self::options();
        seg.sync_policy(SyncPolicy::EveryBytes(u64::MAX))
            .chunk_size(chunk);
        let mut o = SetWriterOptions::new();
        o.segment_options(seg).roll(roll);
        o
    }

    /// Opens the target: an existing set, an existing journal, or nothing yet (then, with
    /// `roll`, the policy of the set to create).
    fn open(
        path: &Path,
        roll: Option<RollPolicy>,
    ) -> anyhow::Result<(Option<Out>, Option<RollPolicy>)> {
        if let Some(p) = &roll {
            p.validate().map_err(|e| anyhow!("--roll: {e}"))?;
        }
        if journal::set::is_set(path) {
            let stored = SetMeta::read(path)?.roll;
            if roll.is_some_and(|asked| asked != stored) {
                bail!(
                    "{} is a journal set created with another roll policy: a set keeps the policy it was created with (leave --roll out to write it so)",
                    path.display()
                );
            }
            let w = Self::set_options(stored).open(path)?;
            return Ok((Some(Out::Set(Box::new(w))), None));
        }
        if path.is_dir() {
            let empty = fs::read_dir(path)
                .with_context(|| format!("{}: cannot read the directory", path.display()))?
                .next()
                .is_none();
            if roll.is_some() && empty {
                return Ok((None, roll));
            }
            bail!(
                "{}: is not a journal set (a directory without the set's metadata file); the target is a journal file, an existing set, or, with --roll, a new path or an empty directory for a new set",
                path.display()
            );
        }
        if roll.is_some() && fs::symlink_metadata(path).is_ok() {
            bail!(
                "{} is an existing file; --roll writes a journal set, which is a directory: give a new path or an empty directory, or leave --roll out to write the file as a single journal",
                path.display()
            );
        }
        if path.exists() {
            return Ok((
                Some(Out::File(Box::new(Self::options().open_or_create(path)?))),
                None,
            ));
        }
        Ok((None, roll))
    }

    /// Creates the target (a set with `new_set`, else a journal file whose header says the source
    /// started at `start`).
    fn create(&mut self, start: Option<i64>) -> anyhow::Result<()> {
        let w = match self.new_set {
            Some(roll) => Out::Set(Box::new(Self::set_options(roll).create(&self.path)?)),
            None => {
                let mut o = Self::options();
                if let Some(start) = start {
                    o.start_timestamp(start);
                }
                Out::File(Box::new(o.create(&self.path)?))
            }
        };
        self.writer = Some(w);
        Ok(())
    }

    /// Handles one message of the stream.
    fn handle(
        &mut self,
        seq: u64,
        subject: &str,
        headers: Option<&async_nats::HeaderMap>,
        payload: &[u8],
    ) -> anyhow::Result<()> {
        let h = JournalHeaders::of(headers);
        let id = h.id;
        let index = h.index.and_then(|v| v.parse::<u64>().ok());
        let ts = h.timestamp.and_then(|v| v.parse::<i64>().ok());
        let (Some(id), Some(index), Some(ts)) = (id, index, ts) else {
            if self.strict {
                return Err(BadData(format!(
                    "stream sequence {seq} on subject '{subject}' is not a journal event (no valid {HDR_ID}/{HDR_INDEX}/{HDR_TIMESTAMP} headers); without --strict it is skipped"
                ))
                .into());
            }
            self.summary.not_events += 1;
            self.pos.seq = seq;
            self.dirty = true;
            return Ok(());
        };
        match &self.pos.journal_id {
            Some(ours) if ours != id => {
                return Err(BadData(format!(
                    "stream sequence {seq} on subject '{subject}' is an event of journal '{id}', but {} mirrors journal '{ours}' (--subject selects one journal)",
                    self.path.display()
                ))
                .into())
            }
            Some(_) => {}
            None => self.pos.journal_id = Some(id.to_owned()),
        }
        if !self.base_known {
            // The target's next event is this one (an empty journal; a set created with a
            // first index above 0 numbers from there).
            let next = self.events();
            if index < next {
                return Err(BadData(format!(
                    "stream sequence {seq} holds index {index} of journal '{id}', but {} already numbers its next event {next}",
                    self.path.display()
                ))
                .into());
            }
            self.pos.base = index - next;
            self.base_known = true;
        }
        let expected = self.pos.base + self.events();
        if index < expected {
            self.summary.already_present += 1;
            self.pos.seq = seq;
            self.dirty = true;
            return Ok(());
        }
        if index > expected {
            return Err(BadData(format!(
                "gap: stream sequence {seq} holds index {index} of journal '{id}', but {} needs index {expected} next",
                self.path.display()
            ))
            .into());
        }
        if self.writer.is_none() {
            let start = h.start.and_then(|v| v.parse::<i64>().ok()).unwrap_or(ts);
            self.create(Some(start))?;
        }
        let w = self.writer.as_mut().expect("created above");
        w.append(ts, payload)?;
        self.summary.written += 1;
        self.pos.seq = seq;
        self.dirty = true;
        Ok(())
    }

    /// Hands a checkpoint to the [`Syncer`], which makes it durable off the network thread.
    fn checkpoint_behind(&mut self, syncer: &Syncer) -> anyhow::Result<()> {
        syncer.check()?;
        if !self.dirty {
            return Ok(());
        }
        let handle = match self.writer.as_ref() {
            None => None,
            Some(w) => {
                let newest = w.newest_file();
                if self.sync_handle.as_ref().is_none_or(|(p, _)| p != newest) {
                    self.sync_handle = Some((newest.to_path_buf(), w.syncer()?));
                }
                self.sync_handle.as_ref().map(|(_, s)| s.clone())
            }
        };
        syncer.submit(handle, self.pos.clone());
        self.dirty = false;
        Ok(())
    }

    /// Syncs the journal, then records the position (in that order: see the module's comment).
    fn checkpoint(&mut self) -> anyhow::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        if let Some(w) = self.writer.as_mut() {
            w.sync()?;
        }
        store_position(&self.pos_path, &self.pos)?;
        self.dirty = false;
        Ok(())
    }
}

/// Makes checkpoints durable on its own thread, so that the network thread never waits for the
/// disk: for each checkpoint (the newest one, when several are queued) it syncs the file holding
/// the newest events up to its published `write_offset` (the writer's [`journal::Syncer`]: an
/// `msync(MS_SYNC)` of `[0, write_offset)`, which leaves the pages pre-faulted ahead alone) and
/// only then writes the position file. The position was taken before the handle is called, so
/// every event it covers was published before the sync. Events in a set's older segments were
/// synced when the set rolled; a handle whose segment was closed by a roll meanwhile still syncs
/// it. The position therefore never points past what the journal durably holds.
struct Syncer {
    tx: Option<std::sync::mpsc::Sender<(Option<journal::Syncer>, Position)>>,
    failed: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Syncer {
    fn start(pos_path: PathBuf) -> anyhow::Result<Syncer> {
        let (tx, rx) = std::sync::mpsc::channel::<(Option<journal::Syncer>, Position)>();
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
        let slot = std::sync::Arc::clone(&failed);
        let thread = std::thread::Builder::new()
            .name("journal-sync".into())
            .spawn(move || {
                while let Ok(mut job) = rx.recv() {
                    while let Ok(newer) = rx.try_recv() {
                        job = newer;
                    }
                    let (handle, pos) = job;
                    let synced = handle.map_or(Ok(()), |s| {
                        s.sync()
                            .map(drop)
                            .with_context(|| format!("{}: cannot sync", s.path().display()))
                    });
                    if let Err(e) = synced.and_then(|()| store_position(&pos_path, &pos)) {
                        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{e:#}"));
                        return;
                    }
                }
            })
            .context("cannot start the sync thread")?;
        Ok(Syncer {
            tx: Some(tx),
            failed,
            thread: Some(thread),
        })
    }

    fn submit(&self, handle: Option<journal::Syncer>, pos: Position) {
        if let Some(tx) = &self.tx {
            let _ = tx.send((handle, pos));
        }
    }

    /// The error that stopped the thread, if any.
    fn check(&self) -> anyhow::Result<()> {
        match &*self.failed.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(anyhow!("{e}")),
            None => Ok(()),
        }
    }

    /// Waits for the checkpoints queued, then stops the thread.
    fn finish(mut self) -> anyhow::Result<()> {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.check()
    }
}

async fn run(cfg: MirrorConfig) -> anyhow::Result<MirrorSummary> {
    let pos_path = position_path(&cfg.target);
    let saved = load_position(&pos_path)?;
    let (writer, new_set) = Target::open(&cfg.target, cfg.roll)?;
    // Whether the target holds events already: then, without a position file, its indexes are
    // taken to be the source's (a set's global indexes).
    let holds_events = match &writer {
        None => false,
        Some(Out::File(w)) => w.events() > 0,
        Some(Out::Set(w)) => {
            w.segment().events() > 0 || journal::set::list_segments(&cfg.target)?.len() > 1
        }
    };
    if let Some(p) = &saved {
        if p.stream != cfg.stream {
            bail!(
                "{} mirrors stream '{}', not '{}' ({})",
                cfg.target.display(),
                p.stream,
                cfg.stream,
                pos_path.display()
            );
        }
    }
    let mut t = Target {
        path: cfg.target.clone(),
        pos_path,
        writer,
        new_set,
        base_known: saved.is_some() || holds_events,
        pos: saved.clone().unwrap_or(Position {
            stream: cfg.stream.clone(),
            seq: 0,
            journal_id: None,
            base: 0,
        }),
        dirty: false,
        strict: cfg.strict,
        summary: MirrorSummary::default(),
        sync_handle: None,
    };
    let deliver = match (&saved, cfg.start) {
        (Some(p), _) => consumer::DeliverPolicy::ByStartSequence {
            start_sequence: p.seq + 1,
        },
        (None, MirrorStart::Beginning) => consumer::DeliverPolicy::All,
        (None, MirrorStart::Seq(n)) => consumer::DeliverPolicy::ByStartSequence {
            start_sequence: n.max(1),
        },
        (None, MirrorStart::Time(ns)) => consumer::DeliverPolicy::ByStartTime {
            start_time: time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
                .map_err(|e| anyhow!("--from-time: {e}"))?,
        },
    };
    let started = Instant::now();
    let (client, js) = cfg.conn.connect().await?;
    let mut stream = get_stream(&js, &cfg.stream, &cfg.conn, false)
        .await?
        .expect("get_stream without create returns a stream or an error");
    // The filter the server applies. A filter that takes every subject of the stream is left to
    // this side (a check per message), so that the server serves a plain ordered consumer.
    let mut server_filter = cfg.filter.clone();
    if let Some(filter) = &cfg.filter {
        let subjects = crate::publish::stream_subjects(&mut stream, &cfg.stream).await?;
        if subjects
            .iter()
            .all(|pattern| crate::filter_within(filter, pattern))
        {
            server_filter = None;
        }
        if !subjects
            .iter()
            .any(|pattern| crate::filter_within(pattern, filter))
        {
            bail!(
                "subject filter '{filter}' is not within stream '{}''s subjects ({})",
                cfg.stream,
                subjects.join(", ")
            );
        }
    }
    let consumer: jetstream::consumer::Consumer<consumer::push::OrderedConfig> = stream
        .create_consumer(consumer::push::OrderedConfig {
            deliver_subject: client.new_inbox(),
            filter_subject: server_filter.unwrap_or_default(),
            deliver_policy: deliver,
            ..Default::default()
        })
        .await
        .map_err(|e| {
            anyhow!(
                "cannot read stream '{}': {}",
                cfg.stream,
                cfg.conn.redact(&e.to_string())
            )
        })?;
    let mut caught_up = consumer.cached_info().num_pending == 0;
    let mut messages = consumer.messages().await.map_err(|e| {
        anyhow!(
            "cannot read stream '{}': {}",
            cfg.stream,
            cfg.conn.redact(&e.to_string())
        )
    })?;
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut progress = Progress::new("mirror");
    let mut last_sync = Instant::now();
    let mut last_full_sync = Instant::now();
    let mut last_message = Instant::now();
    let mut pending = 0;
    let syncer = Syncer::start(t.pos_path.clone())?;
    while cfg.follow || !caught_up {
        tokio::select! {
            biased;
            () = &mut shutdown => {
                t.summary.interrupted = true;
                break;
            }
            msg = messages.next() => {
                // This message and those already received behind it, without going back to
                // the select (one wake-up per burst, not per message).
                let mut msg = msg;
                // Whether an event was handled: the clock is read once per burst, not per message.
                let mut handled = false;
                for _ in 0..256 {
                    let m = match msg {
                        Some(Ok(m)) => m,
                        Some(Err(e)) => {
                            say(&format!("reading stream '{}': {}; retrying", cfg.stream, cfg.conn.redact(&e.to_string())));
                            break;
                        }
                        None => bail!("the subscription to stream '{}' ended", cfg.stream),
                    };
                    let (seq, left) = ack_position(m.reply.as_deref())?;
                    // Below: re-delivered after the ordered consumer was re-created.
                    let wanted = cfg
                        .filter
                        .as_deref()
                        .is_none_or(|f| crate::subject_matches(f, m.subject.as_str()));
                    if seq > t.pos.seq && !wanted {
                        // Outside the filter (the stream took a new subject meanwhile).
                        t.pos.seq = seq;
                        t.dirty = true;
                        pending = left;
                        if left == 0 {
                            caught_up = true;
                        }
                    } else if seq > t.pos.seq {
                        t.handle(seq, m.subject.as_str(), m.headers.as_ref(), &m.payload)?;
                        handled = true;
                        pending = left;
                        if left == 0 {
                            caught_up = true;
                            if !cfg.follow {
                                break;
                            }
                        }
                    }
                    match messages.next().now_or_never() {
                        Some(next) => msg = next,
                        None => break,
                    }
                }
                if handled {
                    last_message = Instant::now();
                }
                // The select is biased towards messages: while a backlog lasts, the tick below
                // never runs, so checkpoints are taken here too.
                if last_sync.elapsed() >= Duration::from_millis(50) {
                    t.checkpoint_behind(&syncer)?;
                    last_sync = Instant::now();
                }
            }
            _ = tick.tick() => {
                if last_sync.elapsed() >= Duration::from_millis(50) {
                    t.checkpoint_behind(&syncer)?;
                    last_sync = Instant::now();
                }
                // Now and then, while idle, the writer's own sync: it also moves the journal's
                // index forward (cheap, since the sync thread wrote the pages already, but a
                // system call that waits for the disk on this thread). Never while messages flow
                // (it would delay them); the pretouch thread moves the index every 64 MiB then.
                if pending == 0
                    && last_message.elapsed() >= IDLE_BEFORE_SYNC
                    && last_full_sync.elapsed() >= Duration::from_secs(30)
                {
                    if let Some(w) = t.writer.as_mut() {
                        w.sync()?;
                    }
                    last_full_sync = Instant::now();
                }
                progress.tick(t.summary.written, &format!("lag {pending} messages"));
                if !cfg.follow && last_message.elapsed() > cfg.conn.timeout {
                    bail!(
                        "no message from stream '{}' for {:?} (--timeout) with {pending} still pending",
                        cfg.stream, cfg.conn.timeout
                    );
                }
            }
        }
    }
    syncer.finish()?;
    if t.writer.is_none() && !t.summary.interrupted {
        // Nothing to mirror yet: an empty journal (or set), so that the target exists.
        t.create(None)?;
    }
    t.checkpoint()?;
    if let Some(w) = t.writer.take() {
        t.summary.events = w.next_index();
        w.close()?;
    }
    t.summary.last_seq = t.pos.seq;
    t.summary.elapsed = started.elapsed();
    drop(messages);
    let _ = client.flush().await;
    Ok(t.summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_round_trips() {
        let dir = std::env::temp_dir().join(format!("jn-pos-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.journal.nats");
        assert_eq!(load_position(&path).unwrap(), None);
        let pos = Position {
            stream: "S".into(),
            seq: 42,
            journal_id: Some("j-1".into()),
            base: 3,
        };
        store_position(&path, &pos).unwrap();
        assert_eq!(load_position(&path).unwrap(), Some(pos));
        fs::write(&path, "{}").unwrap();
        assert!(load_position(&path).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn journal_headers_are_found_as_get_finds_them() {
        let mut m = async_nats::HeaderMap::new();
        m.insert("Nats-Msg-Id", "x:1");
        m.insert(HDR_ID, "j");
        m.insert(HDR_INDEX, "7");
        m.append(HDR_INDEX, "8");
        m.insert(HDR_TIMESTAMP, "-5");
        m.insert("journal-start", "lower case: another header");
        let h = JournalHeaders::of(Some(&m));
        let get = |name: &str| m.get(name).map(|v| v.as_str());
        assert_eq!(h.id, get(HDR_ID));
        assert_eq!(h.index, Some("7"));
        assert_eq!(h.index, get(HDR_INDEX));
        assert_eq!(h.timestamp, get(HDR_TIMESTAMP));
        assert_eq!(h.start, None);
        assert_eq!(h.start, get(HDR_START));
        assert_eq!(JournalHeaders::of(None), JournalHeaders::default());
    }

    #[test]
    fn ack_position_reads_both_subject_forms() {
        let ts = "1700000000123456789";
        // The 7-token form of older servers, and the 9-token form (domain "_": none) with and
        // without the trailing token; a stream named like a number does not confuse them.
        let old = format!("$JS.ACK.S.C.1.42.7.{ts}.3");
        assert_eq!(ack_position(Some(&old)).unwrap(), (42, 3));
        let new = format!("$JS.ACK._.HASH.S.C.2.43.8.{ts}.0.TOKEN");
        assert_eq!(ack_position(Some(&new)).unwrap(), (43, 0));
        let new = format!("$JS.ACK.dom.HASH.9.C.2.44.8.{ts}.5");
        assert_eq!(ack_position(Some(&new)).unwrap(), (44, 5));
        let more = format!("$JS.ACK._.HASH.S.C.2.45.8.{ts}.6.TOKEN.EXTRA");
        assert_eq!(ack_position(Some(&more)).unwrap(), (45, 6));
    }

    #[test]
    fn ack_position_refuses_what_is_not_an_acknowledgement() {
        for bad in [
            None,
            Some("_INBOX.abc"),
            Some("$JS.ACK.S.C.1.42.7.1700000000.3.X"),
            Some("$JS.ACK.S.C.1.42.7"),
            Some("$JS.ACK.S.C.1.x.7.1700000000.3"),
            Some("$JS.ACK.S.C.1.42.7.1700000000.-3"),
        ] {
            let e = ack_position(bad).unwrap_err().to_string();
            assert!(e.starts_with("a message without JetStream metadata"), "{e}");
        }
    }

    #[test]
    fn position_path_appends_nats() {
        assert_eq!(
            position_path(Path::new("/a/b.journal")),
            Path::new("/a/b.journal.nats")
        );
    }
}
