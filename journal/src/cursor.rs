//! A position in a journal's content and the event found there, shared by iteration
//! ([`Iter`](crate::Iter)) and tailing ([`Tailer`](crate::Tailer)).

use crate::format::{check_entry, stored_checksum, DamageReason, HEADER_LEN};

/// One event, borrowed from the mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event<'a> {
    /// Position in the journal, from 0.
    pub index: u64,
    /// Offset of the entry in the file.
    pub offset: u64,
    /// Nanoseconds since the Unix epoch.
    pub timestamp: i64,
    /// The payload, borrowed from the file's mapping (no copy).
    pub payload: &'a [u8],
    /// The whole entry as stored: header, payload and padding (FORMAT.md 4).
    pub entry: &'a [u8],
}

impl Event<'_> {
    /// The offset just past this entry (where the next one starts).
    pub fn end(&self) -> u64 {
        self.offset + self.entry.len() as u64
    }

    /// The entry's stored CRC-32 (FORMAT.md 5).
    pub fn checksum(&self) -> u32 {
        stored_checksum(self.entry)
    }
}

/// A position in the content: the next entry's offset and index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor {
    pub pos: u64,
    pub index: u64,
}

impl Cursor {
    /// The first entry (FORMAT.md 4: entries start right after the header).
    pub(crate) const START: Cursor = Cursor {
        pos: HEADER_LEN,
        index: 0,
    };

    /// Checks the entry at the cursor against `body` (FORMAT.md 6.1) and, if valid, returns it as
    /// an event and moves past it.
    #[inline]
    pub(crate) fn step<'a>(
        &mut self,
        body: &'a [u8],
        write_offset: u64,
        file_len: u64,
        verify: bool,
    ) -> Result<Event<'a>, DamageReason> {
        let e = check_entry(body, self.pos, write_offset, file_len, verify)?;
        let ev = Event {
            index: self.index,
            offset: self.pos,
            timestamp: e.timestamp,
            payload: e.payload,
            entry: e.bytes,
        };
        self.pos += e.len;
        self.index += 1;
        Ok(ev)
    }
}
