//! `journal publish`: every event of a journal becomes one JetStream message (docs/NATS.md).
//!
//! No gap, no duplicate: each message carries the stream sequence the previous event of this
//! journal was (or, pipelined, is predicted to be) stored at, as `Nats-Expected-Last-Sequence`
//! while this journal is the stream's only writer, else as `Nats-Expected-Last-Subject-Sequence`
//! one message at a time; so the server stores event `i` only right after event `i - 1`, and a
//! message lost on a broken connection makes every later one fail instead of leaving a hole. After any failure, and
//! at every start, the publisher asks the stream for the last message on the subject and carries
//! on right after it (the de-duplication window, `Nats-Msg-Id`, only spares a round of errors).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage, stream};
use bytes::Bytes;
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt as _, StreamExt};
use journal::{Reader, SetReader, WaitStrategy};
use tokio::sync::mpsc;

use crate::conn::{runtime, say, shutdown_signal, Connection, Progress};
use crate::{BadData, HDR_ID, HDR_INDEX, HDR_START, HDR_TIMESTAMP};

/// Where publishing starts when the stream holds no event of this journal yet (otherwise it
/// resumes after the last one it holds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishStart {
    /// The first event.
    Beginning,
    /// The event with this index.
    Index(u64),
    /// The first event stamped at or after this time (ns).
    Time(i64),
}

/// The stream `--create-stream` creates when it is missing.
#[derive(Clone, Copy, Debug)]
pub struct StreamSettings {
    /// Replicas (1 to 5; 3 in a 3-node cluster).
    pub replicas: usize,
    /// How long messages are kept (zero: forever).
    pub max_age: Duration,
}

/// What to publish where.
#[derive(Debug)]
pub struct PublishConfig {
    /// The journal, or a journal set's directory.
    pub source: PathBuf,
    /// The servers.
    pub conn: Connection,
    /// The JetStream stream.
    pub stream: String,
    /// The subject of every message (one subject per journal).
    pub subject: String,
    /// Keep publishing what the writer appends, until SIGINT or SIGTERM.
    pub follow: bool,
    /// Where to start when the stream holds nothing of this journal.
    pub start: PublishStart,
    /// Create the stream if it is missing.
    pub create: Option<StreamSettings>,
    /// The journal's identity; by default [`crate::default_journal_id`] (a set:
    /// [`crate::default_set_id`]).
    pub journal_id: Option<String>,
    /// Most messages awaiting their acknowledgement.
    pub max_in_flight: usize,
}

/// What a run did.
#[derive(Debug)]
pub struct PublishSummary {
    /// The journal identity used in the headers.
    pub journal_id: String,
    /// The index publishing started (or resumed) at.
    pub first_index: u64,
    /// The index after the last event the stream acknowledged.
    pub next_index: u64,
    /// Messages the stream stored.
    pub published: u64,
    /// Messages the stream already had (`Nats-Msg-Id` de-duplication).
    pub duplicates: u64,
    /// Times the publisher re-read the stream's position after a failure.
    pub resyncs: u64,
    /// Whether a signal ended the run.
    pub interrupted: bool,
    /// How long it ran.
    pub elapsed: Duration,
}

/// One event on its way from the journal thread to the network.
struct Ev {
    index: u64,
    timestamp: i64,
    payload: Bytes,
}

enum FromJournal {
    /// Events in index order.
    Events(Vec<Ev>),
    /// The end of the journal (without `--follow`): the index after the last event.
    End(u64),
    Failed(anyhow::Error),
}

type AckFuture = Pin<
    Box<
        dyn std::future::Future<
                Output = Result<jetstream::publish::PublishAck, jetstream::context::PublishError>,
            > + Send,
    >,
>;

/// What is published: a journal, or a journal set (its global indexes).
pub(crate) enum Source {
    File(Box<Reader>),
    Set(SetReader),
}

impl Source {
    /// Opens `path`: a set if it is a set's directory, else a journal.
    fn open(path: &Path) -> anyhow::Result<Source> {
        if journal::set::is_set(path) {
            Ok(Source::Set(SetReader::open(path)?))
        } else {
            Ok(Source::File(Box::new(Reader::open(path)?)))
        }
    }

    /// The `start_timestamp` a mirror creates its journal with: the journal header's, or that of
    /// the set's first segment (the time now for a set without one).
    fn start_timestamp(&self) -> anyhow::Result<i64> {
        Ok(match self {
            Source::File(r) => r.header()?.start_timestamp,
            Source::Set(set) => match set.segments().first() {
                Some(seg) => Reader::open(&seg.path)?.header()?.start_timestamp,
                None => journal::now_ns(),
            },
        })
    }

    fn path(&self) -> &Path {
        match self {
            Source::File(r) => r.path(),
            Source::Set(set) => set.dir(),
        }
    }
}

/// Runs `journal publish` to completion (or to SIGINT / SIGTERM).
pub fn publish(cfg: PublishConfig) -> anyhow::Result<PublishSummary> {
    let source = Source::open(&cfg.source)?;
    let start_ts = source.start_timestamp()?;
    let id = match (&cfg.journal_id, &source) {
        (Some(id), _) => id.clone(),
        (None, Source::File(_)) => crate::default_journal_id(&cfg.source, start_ts),
        (None, Source::Set(_)) => crate::default_set_id(&cfg.source, &cfg.subject),
    };
    let rt = runtime()?;
    let result = rt.block_on(Publisher::run(cfg, source, id, start_ts));
    // The journal thread stops on its own once the channel is gone; don't wait for a slow
    // client task.
    rt.shutdown_timeout(Duration::from_millis(100));
    result
}

struct Publisher {
    cfg: PublishConfig,
    id: String,
    /// The journal's `start_timestamp`, as its header value.
    start_ts_text: String,
    js: jetstream::Context,
    stream: stream::Stream,
    /// Sent, not yet acknowledged, in index order.
    pending: VecDeque<Ev>,
    acks: FuturesOrdered<AckFuture>,
    /// The stream sequence the last message sent is predicted to get.
    predicted: u64,
    /// The stream sequence of the last message on the subject (or 0), as the next message's
    /// `Nats-Expected-Last-Subject-Sequence` when the stream is shared.
    expected_last: u64,
    /// Whether the stream's last message was this journal's at the last look: then messages are
    /// pipelined, each expecting the stream's last sequence to be the one predicted for its
    /// predecessor (`Nats-Expected-Last-Sequence`, which a clustered stream checks against the
    /// proposals in flight too). Otherwise another publisher writes to the stream, and each
    /// message waits for the previous one's acknowledgement and expects the subject's last
    /// sequence.
    exclusive: bool,
    /// Failures since the last acknowledgement (for the backoff).
    failures: u32,
    summary: PublishSummary,
}

impl Publisher {
    async fn run(
        cfg: PublishConfig,
        reader: Source,
        id: String,
        start_ts: i64,
    ) -> anyhow::Result<PublishSummary> {
        let started = Instant::now();
        let (client, js) = cfg.conn.connect().await?;
        let stream = open_stream(&js, &cfg).await?;
        let max_payload = client.server_info().max_payload;
        let mut p = Publisher {
            summary: PublishSummary {
                journal_id: id.clone(),
                first_index: 0,
                next_index: 0,
                published: 0,
                duplicates: 0,
                resyncs: 0,
                interrupted: false,
                elapsed: Duration::ZERO,
            },
            cfg,
            id,
            start_ts_text: start_ts.to_string(),
            js,
            stream,
            pending: VecDeque::new(),
            acks: FuturesOrdered::new(),
            predicted: 0,
            expected_last: 0,
            exclusive: true,
            failures: 0,
        };
        let resume = p.position(started).await?;
        let start = match resume {
            Some(next) => PublishStart::Index(next),
            None => p.cfg.start,
        };
        // The journal side: a thread that reads (and follows) the journal into a bounded channel.
        let (tx, mut rx) = mpsc::channel::<FromJournal>((p.cfg.max_in_flight / BATCH).clamp(2, 16));
        let stop = Arc::new(AtomicBool::new(false));
        let read_next = Arc::new(AtomicU64::new(0));
        let follow = p.cfg.follow;
        {
            let stop = Arc::clone(&stop);
            let read_next = Arc::clone(&read_next);
            std::thread::Builder::new()
                .name("journal-reader".into())
                .spawn(move || read_journal(reader, start, follow, &tx, &stop, &read_next))
                .context("cannot start the journal thread")?;
        }
        let mut first = None;
        let mut reader_end = None;
        // Events received from the journal thread, not sent yet.
        let mut backlog: VecDeque<Ev> = VecDeque::new();
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        let mut progress = Progress::new("publish");
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut last_progress = Instant::now();
        let mut failure: Option<String> = None;
        let mut stopping = false;
        loop {
            while failure.is_none() && !stopping && p.pending.len() < p.window() {
                let Some(ev) = backlog.pop_front() else {
                    break;
                };
                if ev.payload.len() + 512 > max_payload {
                    bail!(
                        "event {} is {} bytes, more than the server's max_payload ({max_payload} bytes)",
                        ev.index,
                        ev.payload.len()
                    );
                }
                first.get_or_insert(ev.index);
                if p.pending.is_empty() {
                    last_progress = Instant::now();
                }
                if let Err(e) = p.send(ev).await {
                    failure = Some(e);
                }
            }
            if failure.is_none() && p.pending.is_empty() {
                if stopping {
                    break;
                }
                if let (Some(end), true) = (reader_end, backlog.is_empty()) {
                    let next = resume.or(first).unwrap_or(end);
                    if p.summary.next_index < next {
                        p.summary.next_index = next;
                    }
                    break;
                }
            }
            if let Some(why) = failure.take() {
                p.drain().await;
                if stopping {
                    say(&format!(
                        "stopping with {} messages unacknowledged ({why}); a restart resumes after the last one stored",
                        p.pending.len()
                    ));
                    break;
                }
                p.summary.resyncs += 1;
                p.failures += 1;
                if last_progress.elapsed() > p.cfg.conn.timeout {
                    bail!(
                        "no acknowledgement from stream '{}' for {:?} (--timeout): {why}",
                        p.cfg.stream,
                        p.cfg.conn.timeout
                    );
                }
                // Back off a little after repeated failures: the server may be restarting or
                // electing a leader.
                if p.failures > 1 {
                    let wait = Duration::from_millis(100 * u64::from(p.failures.min(20)));
                    tokio::time::sleep(wait).await;
                }
                match p.resync(first.unwrap_or(0), started).await {
                    Ok(()) => {}
                    Err(e) if e.is::<Retry>() => {
                        failure = Some(e.to_string());
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                if let Err(e) = p.resend().await {
                    failure = Some(e);
                }
                continue;
            }
            tokio::select! {
                biased;
                () = &mut shutdown, if !stopping => {
                    stopping = true;
                    p.summary.interrupted = true;
                    stop.store(true, Ordering::Relaxed);
                    rx.close();
                }
                res = p.acks.next(), if !p.acks.is_empty() => {
                    // This acknowledgement and those already in behind it, without going back
                    // to the select (one wake-up per burst, not per message).
                    let mut res = res;
                    let mut acked = false;
                    while let Some(r) = res {
                        match r {
                            Ok(ack) => {
                                acked = true;
                                let ev = p.pending.pop_front().expect("one pending event per ack");
                                p.failures = 0;
                                if !p.exclusive {
                                    p.expected_last = ack.sequence;
                                }
                                p.summary.next_index = ev.index + 1;
                                if ack.duplicate {
                                    p.summary.duplicates += 1;
                                } else {
                                    p.summary.published += 1;
                                }
                            }
                            Err(e) => {
                                failure = Some(e.to_string());
                                break;
                            }
                        }
                        res = p.acks.next().now_or_never().flatten();
                    }
                    if acked {
                        last_progress = Instant::now();
                    }
                }
                msg = rx.recv(), if !stopping && reader_end.is_none() && backlog.is_empty() => {
                    match msg {
                        Some(FromJournal::Events(evs)) => backlog.extend(evs),
                        Some(FromJournal::End(end)) => reader_end = Some(end),
                        Some(FromJournal::Failed(e)) => return Err(e),
                        None => reader_end = Some(read_next.load(Ordering::Relaxed)),
                    }
                }
                _ = tick.tick() => {
                    let read = read_next.load(Ordering::Relaxed);
                    let lag = read.saturating_sub(p.summary.next_index);
                    progress.tick(p.summary.published + p.summary.duplicates,
                        &format!("lag {lag} events, {} in flight", p.pending.len()));
                    if !p.pending.is_empty() && last_progress.elapsed() > p.cfg.conn.timeout {
                        bail!(
                            "no acknowledgement from stream '{}' for {:?} (--timeout)",
                            p.cfg.stream, p.cfg.conn.timeout
                        );
                    }
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        if p.summary.next_index == 0 {
            p.summary.next_index = resume.or(first).unwrap_or(0);
        }
        p.summary.first_index = resume.or(first).unwrap_or(p.summary.next_index);
        p.summary.elapsed = progress.elapsed();
        let _ = client.flush().await;
        Ok(p.summary)
    }

    /// Sends one event, pipelined; the caller keeps it in `pending` until acknowledged.
    async fn send(&mut self, ev: Ev) -> Result<(), String> {
        let r = self.send_one(&ev).await;
        self.pending.push_back(ev);
        match r {
            Ok(fut) => {
                self.acks
                    .push_back(std::future::IntoFuture::into_future(fut));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn send_one(&mut self, ev: &Ev) -> Result<PublishAckFuture, String> {
        use async_nats::header::HeaderName;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(HeaderName::from_static(HDR_ID), self.id.as_str());
        headers.insert(
            HeaderName::from_static(HDR_INDEX),
            ev.index.to_string().as_str(),
        );
        headers.insert(
            HeaderName::from_static(HDR_TIMESTAMP),
            ev.timestamp.to_string().as_str(),
        );
        headers.insert(
            HeaderName::from_static(HDR_START),
            self.start_ts_text.as_str(),
        );
        let msg = PublishMessage::build()
            .payload(ev.payload.clone())
            .headers(headers)
            .message_id(format!("{}:{}", self.id, ev.index));
        let msg = if self.exclusive {
            msg.expected_last_sequence(self.predicted)
        } else {
            msg.expected_last_subject_sequence(self.expected_last)
        };
        let fut = self
            .js
            .send_publish(self.cfg.subject.clone(), msg)
            .await
            .map_err(|e| self.cfg.conn.redact(&e.to_string()))?;
        // If nobody else writes to the stream meanwhile, this message gets the next sequence.
        self.predicted += 1;
        Ok(fut)
    }

    /// How many messages may await their acknowledgement.
    fn window(&self) -> usize {
        if self.exclusive {
            self.cfg.max_in_flight
        } else {
            1
        }
    }

    /// Waits for every acknowledgement still in flight (each bounded by the ack timeout); their
    /// outcome is re-read from the stream by [`Publisher::resync`].
    async fn drain(&mut self) {
        while self.acks.next().await.is_some() {}
    }

    /// Re-sends every pending event, after [`Publisher::resync`].
    async fn resend(&mut self) -> Result<(), String> {
        let pending = std::mem::take(&mut self.pending);
        let mut it = pending.into_iter();
        while let Some(ev) = it.next() {
            if let Err(e) = self.send(ev).await {
                self.pending.extend(it);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Asks the stream where this journal stands; returns the index to publish next, if the stream
    /// holds any event of this journal, and sets the sequence expectations.
    async fn position(&mut self, started: Instant) -> anyhow::Result<Option<u64>> {
        loop {
            match self.try_position().await {
                Ok(next) => return Ok(next),
                Err(e) if e.is::<Retry>() => {
                    if started.elapsed() > self.cfg.conn.timeout {
                        bail!("{e} (gave up after {:?}, --timeout)", self.cfg.conn.timeout);
                    }
                    say(&format!("{e}; retrying"));
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn try_position(&mut self) -> anyhow::Result<Option<u64>> {
        let last = last_stored(&self.stream, &self.cfg.subject, &self.cfg.conn).await?;
        let info = self
            .stream
            .info()
            .await
            .map_err(|e| Retry(format!("cannot read stream '{}': {e}", self.cfg.stream)))?;
        self.predicted = info.state.last_sequence;
        self.exclusive = last.as_ref().map_or(info.state.last_sequence == 0, |l| {
            l.seq == info.state.last_sequence
        });
        let Some(last) = last else {
            self.expected_last = 0;
            return Ok(None);
        };
        if last.id != self.id {
            bail!(
                "subject '{}' of stream '{}' already holds events of journal '{}' (this one is '{}'): publish each journal to its own subject, or pass --journal-id",
                self.cfg.subject,
                self.cfg.stream,
                last.id,
                self.id
            );
        }
        self.expected_last = last.seq;
        Ok(Some(last.index + 1))
    }

    /// After a failure: the stream's truth. Pending events the stream holds are dropped; the rest
    /// must follow on directly, or acknowledged events were lost.
    async fn resync(&mut self, first: u64, started: Instant) -> anyhow::Result<()> {
        let _ = started;
        let stored_next = self.try_position().await?.unwrap_or(first);
        while self
            .pending
            .front()
            .is_some_and(|ev| ev.index < stored_next)
        {
            let ev = self.pending.pop_front().expect("checked");
            self.summary.next_index = ev.index + 1;
            self.summary.published += 1;
        }
        let expect = self.pending.front().map_or(stored_next, |ev| ev.index);
        if expect != stored_next || stored_next < self.summary.next_index {
            bail!(
                "stream '{}' lost acknowledged events of journal '{}': it ends before index {} but index {} was acknowledged",
                self.cfg.stream,
                self.id,
                stored_next,
                self.summary.next_index.max(expect).saturating_sub(1)
            );
        }
        Ok(())
    }
}

/// A transient failure: retried until `--timeout`.
#[derive(Debug)]
pub(crate) struct Retry(pub String);

impl std::fmt::Display for Retry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Retry {}

/// The last message of this subject, as a journal event.
pub(crate) struct Stored {
    pub id: String,
    pub index: u64,
    pub seq: u64,
}

/// The last message on `subject` (None if there is none); a message there without the journal
/// headers is an error.
pub(crate) async fn last_stored(
    stream: &stream::Stream,
    subject: &str,
    conn: &Connection,
) -> anyhow::Result<Option<Stored>> {
    use jetstream::stream::LastRawMessageErrorKind as K;
    match stream.get_last_raw_message_by_subject(subject).await {
        Ok(m) => {
            let id = m.headers.get(HDR_ID).map(|v| v.as_str().to_owned());
            let index = m
                .headers
                .get(HDR_INDEX)
                .and_then(|v| v.as_str().parse::<u64>().ok());
            match (id, index) {
                (Some(id), Some(index)) => Ok(Some(Stored {
                    id,
                    index,
                    seq: m.sequence,
                })),
                _ => Err(BadData(format!(
                    "the last message on subject '{subject}' (stream sequence {}) is not a journal event (no {HDR_ID}/{HDR_INDEX} headers)",
                    m.sequence
                ))
                .into()),
            }
        }
        Err(e) if e.kind() == K::NoMessageFound => Ok(None),
        Err(e) => Err(Retry(format!(
            "cannot read the last message on subject '{subject}': {}",
            conn.redact(&e.to_string())
        ))
        .into()),
    }
}

/// Gets (or with `--create-stream`, creates) the stream and checks that it takes the subject.
async fn open_stream(
    js: &jetstream::Context,
    cfg: &PublishConfig,
) -> anyhow::Result<stream::Stream> {
    let started = Instant::now();
    let mut stream = loop {
        if let Some(s) = get_stream(js, &cfg.stream, &cfg.conn, cfg.create.is_some()).await? {
            break s;
        }
        let settings = cfg.create.expect("checked by get_stream");
        let created = js
            .create_stream(stream::Config {
                name: cfg.stream.clone(),
                subjects: vec![cfg.subject.clone()],
                num_replicas: settings.replicas,
                max_age: settings.max_age,
                ..Default::default()
            })
            .await;
        match created {
            Ok(s) => break s,
            Err(e) => {
                // A cluster without a meta leader yet says so; the stream may also have been
                // created meanwhile by another publisher (the loop gets it).
                use jetstream::context::CreateStreamErrorKind as K;
                use jetstream::ErrorCode as C;
                let why = cfg.conn.redact(&e.to_string());
                let permanent = match e.kind() {
                    // A cluster that has just elected its metadata leader may not know its
                    // peers yet ("no suitable peers for placement"): retried until --timeout.
                    K::JetStream(j) => ![
                        C::CLUSTER_NOT_AVAILABLE,
                        C::CLUSTER_NO_PEERS,
                        C::INSUFFICIENT_RESOURCES,
                    ]
                    .contains(&j.error_code()),
                    K::TimedOut | K::JetStreamUnavailable | K::Response => false,
                    _ => true,
                };
                if permanent || started.elapsed() > cfg.conn.timeout {
                    bail!("cannot create stream '{}': {why}", cfg.stream);
                }
                say(&format!(
                    "cannot create stream '{}': {why}; retrying",
                    cfg.stream
                ));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let subjects = stream_subjects(&mut stream, &cfg.stream).await?;
    if !subjects
        .iter()
        .any(|pattern| crate::subject_matches(pattern, &cfg.subject))
    {
        bail!(
            "subject '{}' is not one of stream '{}''s subjects ({})",
            cfg.subject,
            cfg.stream,
            subjects.join(", ")
        );
    }
    Ok(stream)
}

/// The subjects a stream is configured with.
pub(crate) async fn stream_subjects(
    stream: &mut jetstream::stream::Stream,
    name: &str,
) -> anyhow::Result<Vec<String>> {
    Ok(stream
        .info()
        .await
        .map_err(|e| anyhow!("cannot read stream '{name}': {e}"))?
        .config
        .subjects
        .clone())
}

/// The stream, or None if it does not exist and `may_create`; an error naming it otherwise.
/// Transient failures (no JetStream leader yet, a timeout) are retried until `--timeout`.
pub(crate) async fn get_stream(
    js: &jetstream::Context,
    name: &str,
    conn: &Connection,
    may_create: bool,
) -> anyhow::Result<Option<stream::Stream>> {
    use jetstream::context::GetStreamErrorKind as K;
    let started = Instant::now();
    loop {
        match js.get_stream(name).await {
            Ok(s) => return Ok(Some(s)),
            Err(e) => {
                let not_found = matches!(e.kind(), K::JetStream(ref j)
                    if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND);
                if not_found {
                    if may_create {
                        return Ok(None);
                    }
                    bail!("stream '{name}' does not exist (--create-stream creates it)");
                }
                let why = conn.redact(&e.to_string());
                if started.elapsed() > conn.timeout {
                    bail!(
                        "cannot read stream '{name}': {why} (gave up after {:?}, --timeout)",
                        conn.timeout
                    );
                }
                say(&format!("cannot read stream '{name}': {why}; retrying"));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Most events the journal thread hands over at once: one wake-up of the network side per batch,
/// not per event.
const BATCH: usize = 256;

/// The journal thread's side of the channel: batches events, skips those the stream already has.
struct Feed<'a> {
    tx: &'a mpsc::Sender<FromJournal>,
    stop: &'a AtomicBool,
    read_next: &'a AtomicU64,
    /// Events below this index are in the stream already (a follower that started when the
    /// journal was shorter than the stream).
    skip_below: u64,
    batch: Vec<Ev>,
}

impl Feed<'_> {
    /// Takes one event; false when the network side is gone or stopping.
    fn event(&mut self, ev: &journal::Event<'_>) -> bool {
        self.read_next.store(ev.index + 1, Ordering::Relaxed);
        if ev.index < self.skip_below {
            return true;
        }
        self.batch.push(Ev {
            index: ev.index,
            timestamp: ev.timestamp,
            payload: Bytes::copy_from_slice(ev.payload),
        });
        self.batch.len() < BATCH || self.flush()
    }

    /// Sends the batch; false when the network side is gone or stopping.
    fn flush(&mut self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        if self.batch.is_empty() {
            return true;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.tx.blocking_send(FromJournal::Events(batch)).is_ok()
    }

    fn send(&mut self, m: FromJournal) {
        if self.flush() {
            let _ = self.tx.blocking_send(m);
        }
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && !self.tx.is_closed()
    }
}

/// How the journal thread waits for a writer's appends: it sleeps in the kernel until the writer
/// wakes it (the wake-up file of the journal or of the set, spec/FORMAT.md 15, SET.md 6.5.1), and
/// without a usable wake-up file backs off with sleeps of up to 1 ms.
const FOLLOW_WAIT: WaitStrategy = WaitStrategy::Block { spins: 0 };

/// A tailer of a journal or of a set, as the live part of [`read_journal`] uses it.
trait LiveTail {
    fn poll(&mut self) -> journal::Result<Option<journal::Event<'_>>>;
    fn wait(&mut self, deadline: Instant) -> journal::Result<Option<journal::Event<'_>>>;
}

impl LiveTail for journal::Tailer<'_> {
    fn poll(&mut self) -> journal::Result<Option<journal::Event<'_>>> {
        journal::Tailer::poll(self)
    }
    fn wait(&mut self, deadline: Instant) -> journal::Result<Option<journal::Event<'_>>> {
        journal::Tailer::wait(self, FOLLOW_WAIT, Some(deadline))
    }
}

impl LiveTail for journal::set::SetTailer<'_> {
    fn poll(&mut self) -> journal::Result<Option<journal::Event<'_>>> {
        journal::set::SetTailer::poll(self)
    }
    fn wait(&mut self, deadline: Instant) -> journal::Result<Option<journal::Event<'_>>> {
        journal::set::SetTailer::wait(self, FOLLOW_WAIT, Some(deadline))
    }
}

/// Feeds the live events of `tailer` until the publisher stops: what is there without waiting,
/// in one batch; then a flush and a wait of at most 100 ms.
fn follow_live(tailer: &mut impl LiveTail, feed: &mut Feed<'_>) {
    while feed.running() {
        let got = match tailer.poll() {
            Ok(Some(ev)) => feed.event(&ev),
            Ok(None) => {
                if !feed.flush() {
                    return;
                }
                match tailer.wait(Instant::now() + Duration::from_millis(100)) {
                    Ok(Some(ev)) => feed.event(&ev),
                    Ok(None) => true,
                    Err(e) => return feed.send(FromJournal::Failed(e.into())),
                }
            }
            Err(e) => return feed.send(FromJournal::Failed(e.into())),
        };
        if !got {
            return;
        }
    }
}

/// The journal thread: reads from `start` and, with `follow`, waits for the writer's appends,
/// until `stop` or the channel closes.
fn read_journal(
    source: Source,
    start: PublishStart,
    follow: bool,
    tx: &mpsc::Sender<FromJournal>,
    stop: &AtomicBool,
    read_next: &AtomicU64,
) {
    let mut feed = Feed {
        tx,
        stop,
        read_next,
        skip_below: match start {
            PublishStart::Index(i) => i,
            _ => 0,
        },
        batch: Vec::with_capacity(BATCH),
    };
    let path = source.path().to_path_buf();
    // The stream holds events up to `i - 1` but the journal has fewer: another journal under the
    // same id, unless a follower is to wait for the writer to get there.
    let short = |have: u64| -> Option<anyhow::Error> {
        match start {
            PublishStart::Index(i) if have < i && !follow => Some(anyhow!(
                "{}: the stream already holds this journal up to index {} but the journal has only {have} events (another journal under the same id?)",
                path.display(),
                i - 1,
            )),
            _ => None,
        }
    };
    match source {
        Source::File(reader) => {
            let it = match start {
                PublishStart::Beginning => Ok(reader.iter()),
                PublishStart::Index(i) => reader.iter_from_index(i),
                PublishStart::Time(t) => reader.iter_from_time(t),
            };
            let mut it = match it {
                Ok(it) => it,
                Err(e) => return feed.send(FromJournal::Failed(e.into())),
            };
            if let Some(e) = short(it.index()) {
                return feed.send(FromJournal::Failed(e));
            }
            for item in it.by_ref() {
                match item {
                    Ok(ev) if feed.event(&ev) => {}
                    Ok(_) => return,
                    Err(e) => return feed.send(FromJournal::Failed(e.into())),
                }
            }
            if !follow {
                return feed.send(FromJournal::End(it.index()));
            }
            follow_live(&mut reader.tail_from(&it), &mut feed);
        }
        Source::Set(set) => {
            let it = match start {
                PublishStart::Beginning => Ok(set.iter()),
                PublishStart::Index(i) => set.iter_from_index(i),
                PublishStart::Time(t) => set.iter_from_time(t),
            };
            let mut it = match it {
                Ok(it) => it,
                Err(e) => return feed.send(FromJournal::Failed(e.into())),
            };
            if let Some(e) = short(it.index()) {
                return feed.send(FromJournal::Failed(e));
            }
            while let Some(item) = it.next_event() {
                match item {
                    Ok(ev) if feed.event(&ev) => {}
                    Ok(_) => return,
                    Err(e) => return feed.send(FromJournal::Failed(e.into())),
                }
            }
            if !follow {
                let end = it.index();
                return feed.send(FromJournal::End(end));
            }
            follow_live(&mut set.tail_from(it), &mut feed);
        }
    }
}
