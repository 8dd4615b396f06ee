//! Following a live writer in another process: non-blocking poll and blocking wait, borrowed
//! ([`Tailer`]) or owning its reader ([`OwnedTailer`]).

use std::sync::Arc;
use std::time::Instant;

use crate::cursor::{Cursor, Event};
use crate::error::{Error, Result};

use crate::reader::{Iter, Reader};
use crate::wait::WaitStrategy;

impl Reader {
    /// A live tailer starting at the first event: it follows appends made after this call.
    pub fn tail(&self) -> Tailer<'_> {
        Tailer::new(self, Cursor::START)
    }

    /// A live tailer starting at the end of the journal as published now. Fails as
    /// [`Reader::iter`] would on the way there (damage, a truncated or replaced file).
    pub fn tail_from_end(&self) -> Result<Tailer<'_>> {
        Ok(Tailer::new(self, self.end_cursor()?))
    }

    /// A live tailer that starts where `iter` stands.
    pub fn tail_from<'r>(&'r self, iter: &Iter<'r>) -> Tailer<'r> {
        Tailer::new(self, iter.cursor())
    }

    /// A live tailer that owns (a share of) this reader, starting at the first event: it can be
    /// stored next to other state or moved to another thread. See [`OwnedTailer`].
    pub fn into_tailer(self: Arc<Self>) -> OwnedTailer {
        OwnedTailer::new(self, Cursor::START)
    }

    /// As [`Reader::into_tailer`], starting at the end of the journal as published now.
    pub fn into_tailer_from_end(self: Arc<Self>) -> Result<OwnedTailer> {
        let at = self.end_cursor()?;
        Ok(OwnedTailer::new(self, at))
    }

    /// An owned tailer at `cursor` (a position this reader's walk reached): how a set reader
    /// follows one segment (SET.md 6).
    pub(crate) fn into_tailer_at(self: Arc<Self>, cursor: Cursor) -> OwnedTailer {
        OwnedTailer::new(self, cursor)
    }

    /// Where a walk over the content published now ends: from the index's checkpoint when the
    /// journal's index is usable (INDEX.md 8), else from the first event.
    fn end_cursor(&self) -> Result<Cursor> {
        let start = self.index_start(crate::reader::Seek::Index(u64::MAX));
        let mut it = self.iter_at(start.offset, start.index);
        for e in it.by_ref() {
            e?;
        }
        Ok(it.cursor())
    }
}

/// Bytes from the cursor whose cache lines a caught-up follower asks the CPU for at each poll (a
/// prefetch hint): the line the next entry starts in, and the next one if it starts inside a line.
const PREFETCH_POLLED: u64 = 64;

/// Bytes from the cursor whose lines a follower asks for when `write_offset` moves: bounded, so
/// that a burst of many entries is not prefetched ahead of its reading.
const PREFETCH_PUBLISHED: u64 = 2048;

/// Where a follower stands and the header values it saw last: the state [`Tailer`] and
/// [`OwnedTailer`] share.
#[derive(Clone, Copy, Debug)]
struct Follow {
    write_offset: u64,
    file_len: u64,
    cursor: Cursor,
}

impl Follow {
    fn new(cursor: Cursor) -> Follow {
        Follow {
            write_offset: cursor.pos,
            file_len: cursor.pos,
            cursor,
        }
    }

    /// End of the bytes known published.
    #[inline]
    fn end(&self) -> u64 {
        self.write_offset.min(self.file_len)
    }

    /// Whether an entry is published at the cursor, as far as the header values seen last say.
    #[inline]
    fn ready(&self) -> bool {
        self.cursor.pos < self.write_offset
    }

    /// Re-reads the header; returns whether there is something at the cursor.
    ///
    /// A `write_offset` below the cursor means bytes already read are no longer content: the file
    /// was truncated ([`Error::FileShrunk`]) or, if it still reaches the cursor, rewritten with
    /// other content ([`Error::Replaced`], FORMAT.md 10). A changed `start_timestamp` is
    /// [`Error::Replaced`] too (checked by [`Reader::observe`]).
    #[cold]
    fn refresh(&mut self, reader: &Reader) -> Result<bool> {
        let obs = reader.observe()?;
        if obs.write_offset < self.cursor.pos {
            let file_len = reader.file_len_now()?;
            if file_len < self.cursor.pos {
                return Err(Error::FileShrunk {
                    path: reader.path().to_path_buf(),
                    write_offset: obs.write_offset,
                    file_len,
                });
            }
            return Err(reader.replaced(format!(
                "write_offset went back to {}, below offset {} already read",
                obs.write_offset, self.cursor.pos
            )));
        }
        if obs.write_offset == self.write_offset {
            // Nothing yet. The writer stores its next entry at the cursor before it stores
            // `write_offset`: asking for the entry's first line at every poll lets its transfer
            // overlap the header line's, instead of following it once `write_offset` has moved.
            reader
                .map()
                .prefetch(self.cursor.pos, self.cursor.pos + PREFETCH_POLLED);
            return Ok(false);
        }
        self.write_offset = obs.write_offset;
        self.file_len = obs.file_len;
        // The rest of what was published (up to a bound), asked for at once, so that the lines
        // come in together rather than one after the other as the checksum reaches them.
        reader.map().prefetch(
            self.cursor.pos + PREFETCH_POLLED,
            self.write_offset.min(self.cursor.pos + PREFETCH_PUBLISHED),
        );
        Ok(self.ready())
    }

    /// One blocking round ([`WaitStrategy::Block`] past its spins): sleeps on the journal's
    /// wake-up file until the writer publishes past the `write_offset` seen last (FORMAT.md 15.3).
    /// Returns `Ok(false)` when there is no usable wake-up file (the caller backs off instead).
    #[cold]
    fn sleep(&self, reader: &Reader, deadline: Option<Instant>) -> Result<bool> {
        reader.sleep_past(self.write_offset, deadline)
    }

    /// Faults in the reader's pages from the cursor to `bytes` past it (see [`Tailer::pretouch`]).
    fn pretouch(&self, reader: &Reader, bytes: u64) -> Result<()> {
        let to = self.cursor.pos.saturating_add(bytes);
        reader
            .map()
            .populate(self.cursor.pos, to)
            .map_err(|e| Error::io(reader.path(), "madvise", e))?;
        Ok(())
    }

    /// Checks the entry at the cursor in `body` (the published bytes up to [`Self::end`]) and moves
    /// past it. On error the cursor stays at the entry.
    #[inline]
    fn step<'a>(&mut self, reader: &'a Reader, body: &'a [u8]) -> Result<Event<'a>> {
        match self
            .cursor
            .step(body, self.write_offset, self.file_len, reader.verifies())
        {
            Ok(ev) => Ok(ev),
            Err(reason) => Err(reader.damaged(self.cursor.pos, reason, self.file_len)),
        }
    }
}

/// Follows a journal as another process appends to it. See [`Reader::tail`].
///
/// [`Tailer::poll`] never blocks and, while events are available, makes no system call; when it has
/// caught up it makes one acquire load of the header per call. The file length is re-read only when
/// `write_offset` passes the length seen last (once per growth chunk).
///
/// Errors end the tail: [`Error::Damaged`] at an invalid entry (the tailer stays at it),
/// [`Error::FileShrunk`] if the file was truncated, [`Error::Replaced`] if the journal was replaced
/// by another one (FORMAT.md 10).
///
/// ```
/// use std::time::{Duration, Instant};
/// use journal::{Reader, WaitStrategy, Writer};
///
/// # fn main() -> journal::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("journal-doc-tailer-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("orders.journal");
/// # let _ = std::fs::remove_file(&path);
/// let mut w = Writer::create(&path)?; // usually in another process
/// let r = Reader::open(&path)?;
/// let mut tail = r.tail_from_end()?;
/// assert!(tail.poll()?.is_none()); // caught up: nothing new yet
///
/// w.append(1_700_000_000_000_000_000, b"new order")?;
/// let deadline = Instant::now() + Duration::from_secs(5);
/// let event = tail.wait(WaitStrategy::default(), Some(deadline))?.expect("published");
/// assert_eq!(event.payload, b"new order");
/// assert_eq!(tail.index(), 1);
/// # w.close()?;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(())
/// # }
/// ```
pub struct Tailer<'r> {
    reader: &'r Reader,
    body: &'r [u8],
    follow: Follow,
}

impl std::fmt::Debug for Tailer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tailer")
            .field("reader", self.reader)
            .field("offset", &self.offset())
            .field("index", &self.index())
            .finish()
    }
}

impl<'r> Tailer<'r> {
    fn new(reader: &'r Reader, cursor: Cursor) -> Self {
        Tailer {
            reader,
            body: &[],
            follow: Follow::new(cursor),
        }
    }

    /// Offset of the next entry.
    pub fn offset(&self) -> u64 {
        self.follow.cursor.pos
    }

    /// Index of the next event.
    pub fn index(&self) -> u64 {
        self.follow.cursor.index
    }

    /// The next event if one is published, without blocking.
    ///
    /// Errors: [`Error::Damaged`] if an entry below `write_offset` is invalid (the tailer stays at it);
    /// [`Error::FileShrunk`] if the journal was cut back or truncated below the tailer's position;
    /// [`Error::Replaced`] if it is no longer the journal the reader opened.
    #[inline]
    pub fn poll(&mut self) -> Result<Option<Event<'r>>> {
        if !self.follow.ready() {
            if !self.follow.refresh(self.reader)? {
                return Ok(None);
            }
            self.body = self.reader.map().body(self.follow.end());
        }
        self.follow.step(self.reader, self.body).map(Some)
    }

    /// Faults in the reader's mapping of the file from the tailer's position to `bytes` past it
    /// (as far as the file is long now and the reader's mapping reaches), so that the polls that
    /// read those pages take no page fault, as [`Writer::pretouch`](crate::Writer::pretouch) does
    /// for the writer. It makes a system call (`madvise(MADV_POPULATE_READ)`) that costs about as
    /// much as the page faults it saves: call it off the critical path (before a burst, or while
    /// idle). Best effort: on kernels before 5.14 it does nothing.
    pub fn pretouch(&self, bytes: u64) -> Result<()> {
        self.follow.pretouch(self.reader, bytes)
    }

    /// Waits for the next event with `strategy`, until `deadline` (forever if `None`). Returns
    /// `Ok(None)` at the deadline.
    pub fn wait(
        &mut self,
        strategy: WaitStrategy,
        deadline: Option<Instant>,
    ) -> Result<Option<Event<'r>>> {
        let mut round: u32 = 0;
        loop {
            if let Some(e) = self.poll()? {
                return Ok(Some(e));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            if !(strategy.blocks(round) && self.follow.sleep(self.reader, deadline)?) {
                strategy.idle(round);
            }
            round = round.saturating_add(1);
        }
    }
}

/// A [`Tailer`] that holds its reader through an [`Arc`] instead of borrowing it, so that it has no
/// lifetime: keep it in a struct, move it to another thread. Made by [`Reader::into_tailer`].
///
/// It behaves as [`Tailer`] does (same checks, same errors); the events it returns borrow the
/// tailer, so each one is used before the next call. Each [`OwnedTailer::poll`] re-derives the
/// published bytes from the reader: one relaxed load, no system call.
///
/// ```
/// use std::sync::{mpsc, Arc};
/// use std::time::{Duration, Instant};
/// use journal::{OwnedTailer, Reader, WaitStrategy, Writer};
///
/// // The reader and its tailer live in one struct that a thread owns.
/// struct Feed {
///     tail: OwnedTailer,
///     seen: Vec<Vec<u8>>,
/// }
///
/// # fn main() -> journal::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("journal-doc-owned-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("fills.journal");
/// # let _ = std::fs::remove_file(&path);
/// let mut w = Writer::create(&path)?;
/// let reader = Arc::new(Reader::open(&path)?);
/// let mut feed = Feed { tail: reader.into_tailer(), seen: Vec::new() };
///
/// let (done, finished) = mpsc::channel();
/// let consumer = std::thread::spawn(move || -> journal::Result<Feed> {
///     let deadline = Instant::now() + Duration::from_secs(10);
///     while feed.seen.len() < 2 {
///         match feed.tail.wait(WaitStrategy::default(), Some(deadline))? {
///             Some(event) => feed.seen.push(event.payload.to_vec()),
///             None => break, // deadline
///         }
///     }
///     done.send(()).unwrap();
///     Ok(feed)
/// });
/// w.append(1, b"fill 1")?;
/// w.append(2, b"fill 2")?;
/// finished.recv_timeout(Duration::from_secs(10)).expect("the consumer saw both");
/// let feed = consumer.join().unwrap()?;
/// assert_eq!(feed.seen, [b"fill 1".to_vec(), b"fill 2".to_vec()]);
/// assert_eq!(feed.tail.reader().path(), path);
/// # w.close()?;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(())
/// # }
/// ```
pub struct OwnedTailer {
    reader: Arc<Reader>,
    follow: Follow,
}

impl std::fmt::Debug for OwnedTailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedTailer")
            .field("reader", &self.reader)
            .field("offset", &self.offset())
            .field("index", &self.index())
            .finish()
    }
}

impl OwnedTailer {
    fn new(reader: Arc<Reader>, cursor: Cursor) -> Self {
        OwnedTailer {
            reader,
            follow: Follow::new(cursor),
        }
    }

    /// The reader this tailer follows with.
    pub fn reader(&self) -> &Arc<Reader> {
        &self.reader
    }

    /// Offset of the next entry.
    pub fn offset(&self) -> u64 {
        self.follow.cursor.pos
    }

    /// Index of the next event.
    pub fn index(&self) -> u64 {
        self.follow.cursor.index
    }

    /// Whether an event is published at the tailer's position now (re-reading the header when the
    /// values seen last say no), without taking it: a set reader's check before it looks for the
    /// next segment (SET.md 6).
    #[inline]
    pub(crate) fn available(&mut self) -> Result<bool> {
        Ok(self.follow.ready() || self.follow.refresh(&self.reader)?)
    }

    /// Whether the journal's `write_offset` moved from the value seen last (one acquire load): a
    /// set tailer's check before it sleeps on the set's wake-up file (FORMAT.md 15.3 step 4,
    /// SET.md 6.5.1).
    pub(crate) fn moved(&self) -> Result<bool> {
        Ok(self.reader.observe()?.write_offset != self.follow.write_offset)
    }

    /// As [`Tailer::pretouch`].
    pub fn pretouch(&self, bytes: u64) -> Result<()> {
        self.follow.pretouch(&self.reader, bytes)
    }

    /// The next event if one is published, without blocking. As [`Tailer::poll`].
    #[inline]
    pub fn poll(&mut self) -> Result<Option<Event<'_>>> {
        if !self.follow.ready() && !self.follow.refresh(&self.reader)? {
            return Ok(None);
        }
        let body = self.reader.map().body(self.follow.end());
        self.follow.step(&self.reader, body).map(Some)
    }

    /// Waits for the next event with `strategy`, until `deadline` (forever if `None`). Returns
    /// `Ok(None)` at the deadline. As [`Tailer::wait`].
    pub fn wait(
        &mut self,
        strategy: WaitStrategy,
        deadline: Option<Instant>,
    ) -> Result<Option<Event<'_>>> {
        let mut round: u32 = 0;
        while !self.follow.ready() && !self.follow.refresh(&self.reader)? {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            if !(strategy.blocks(round) && self.follow.sleep(&self.reader, deadline)?) {
                strategy.idle(round);
            }
            round = round.saturating_add(1);
        }
        self.poll()
    }
}
