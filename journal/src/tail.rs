//! Following a live writer in another process: non-blocking poll and blocking wait.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::reader::{Cursor, Event, Reader};

/// How [`Tailer::wait`] waits for the next event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitStrategy {
    /// Spin on the header (lowest latency; burns a core).
    BusySpin,
    /// Spin, yielding the CPU between polls.
    Yield,
    /// Spin `spins` times, then yield `yields` times, then sleep from 1 µs doubling up to
    /// `max_sleep` (low CPU when idle, as Agrona's backoff idle strategy).
    Backoff {
        /// Polls with a spin hint before yielding.
        spins: u32,
        /// Polls with a yield before sleeping.
        yields: u32,
        /// Longest sleep between polls.
        max_sleep: Duration,
    },
}

impl WaitStrategy {
    /// One round of waiting: the `round`-th since the wait began.
    pub(crate) fn idle(self, round: u32) {
        match self {
            WaitStrategy::BusySpin => std::hint::spin_loop(),
            WaitStrategy::Yield => std::thread::yield_now(),
            WaitStrategy::Backoff {
                spins,
                yields,
                max_sleep,
            } => {
                if round < spins {
                    std::hint::spin_loop();
                } else if round < spins.saturating_add(yields) {
                    std::thread::yield_now();
                } else {
                    // 1 µs, doubling each round, up to max_sleep.
                    let n = (round - spins - yields).min(20);
                    std::thread::sleep(Duration::from_micros(1u64 << n).min(max_sleep));
                }
            }
        }
    }
}

impl Default for WaitStrategy {
    /// Backoff: 100 spins, 10 yields, sleeps up to 1 ms.
    fn default() -> Self {
        WaitStrategy::Backoff {
            spins: 100,
            yields: 10,
            max_sleep: Duration::from_millis(1),
        }
    }
}

/// Follows a journal as another process appends to it. See [`Reader::tail`].
///
/// [`Tailer::poll`] never blocks and, while events are available, makes no system call; when it has
/// caught up it makes one acquire load of the header per call. The file length is re-read only when
/// `write_offset` passes the length seen last (once per growth chunk).
pub struct Tailer<'r> {
    reader: &'r Reader,
    body: &'r [u8],
    write_offset: u64,
    file_len: u64,
    cursor: Cursor,
}

impl<'r> Tailer<'r> {
    pub(crate) fn new(reader: &'r Reader, pos: u64, index: u64) -> Self {
        Tailer {
            reader,
            body: &[],
            write_offset: pos,
            file_len: pos,
            cursor: Cursor { pos, index },
        }
    }

    /// Offset of the next entry.
    pub fn offset(&self) -> u64 {
        self.cursor.pos
    }

    /// Index of the next event.
    pub fn index(&self) -> u64 {
        self.cursor.index
    }

    /// The next event if one is published, without blocking.
    ///
    /// Errors: [`Error::Damaged`] if an entry below `write_offset` is invalid (the tailer stays at it);
    /// [`Error::FileShrunk`] if the journal was cut back or truncated below the tailer's position.
    #[inline]
    pub fn poll(&mut self) -> Result<Option<Event<'r>>> {
        if self.cursor.pos >= self.write_offset && !self.refresh()? {
            return Ok(None);
        }
        match self.cursor.step(
            self.body,
            self.write_offset,
            self.file_len,
            self.reader.verifies(),
        ) {
            Ok(ev) => Ok(Some(ev)),
            Err(reason) => Err(self.reader.damaged(self.cursor.pos, reason)),
        }
    }

    /// Re-reads the header; returns whether there is something at `pos`.
    #[cold]
    fn refresh(&mut self) -> Result<bool> {
        let obs = self.reader.observe()?;
        if obs.write_offset < self.cursor.pos {
            return Err(Error::FileShrunk {
                path: self.reader.path().to_path_buf(),
                write_offset: obs.write_offset,
                file_len: obs.file_len,
            });
        }
        if obs.write_offset == self.write_offset {
            return Ok(false);
        }
        self.write_offset = obs.write_offset;
        self.file_len = obs.file_len;
        self.body = self.reader.map().body(obs.write_offset.min(obs.file_len));
        Ok(self.cursor.pos < self.write_offset)
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
            strategy.idle(round);
            round = round.saturating_add(1);
        }
    }
}
