//! Walking the content (FORMAT.md 6.2) and reconciling the header on open (FORMAT.md 8).

use crate::format::{check_entry, DamageReason, HEADER_LEN};

/// Where the first invalid entry is, and why (FORMAT.md 6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Offset of the first entry that is not valid (= the end of the content).
    pub offset: u64,
    /// Which check of FORMAT.md 6.1 failed first.
    pub reason: DamageReason,
}

/// The result of walking a journal's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scan {
    pub end: u64,
    pub events: u64,
    pub damage: Option<Damage>,
}

/// Walks the content from offset 24 (FORMAT.md 6.2). `body` is the file from offset 24 up to
/// `min(write_offset, file_len)`.
pub(crate) fn scan(body: &[u8], write_offset: u64, file_len: u64, verify: bool) -> Scan {
    scan_from(body, HEADER_LEN, 0, write_offset, file_len, verify)
}

/// [`scan`] resumed at offset `pos`, `events` events into the content: a writer that trusts its
/// index's checkpoint walks only what lies past it (INDEX.md 9.3, FORMAT.md 8).
pub(crate) fn scan_from(
    body: &[u8],
    mut pos: u64,
    mut events: u64,
    write_offset: u64,
    file_len: u64,
    verify: bool,
) -> Scan {
    while pos < write_offset {
        match check_entry(body, pos, write_offset, file_len, verify) {
            Ok(e) => {
                pos += e.len;
                events += 1;
            }
            Err(reason) => {
                return Scan {
                    end: pos,
                    events,
                    damage: Some(Damage {
                        offset: pos,
                        reason,
                    }),
                }
            }
        }
    }
    Scan {
        end: pos,
        events,
        damage: None,
    }
}

/// How a writer treats a journal whose content ends before its `write_offset` (a torn or damaged
/// tail) when it opens it (FORMAT.md 8 step 3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryMode {
    /// Cut the journal back to its content and append after it, as Kafka and etcd do with a torn
    /// log. Never removes a valid event that precedes the damage. The default.
    #[default]
    Truncate,
    /// Refuse to open a damaged journal ([`Error::Damaged`](crate::Error::Damaged)); leave it as is.
    Strict,
}

/// What a writer's recovery changed when it opened a journal (FORMAT.md 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// The header's `write_offset` before recovery.
    pub previous_write_offset: u64,
    /// The header's `event_count` before recovery.
    pub previous_event_count: u64,
    /// The `write_offset` after recovery: the end of the content.
    pub write_offset: u64,
    /// Events in the content.
    pub events: u64,
    /// Bytes below the old `write_offset` (and inside the file) that were cut off as not content.
    pub dropped_bytes: u64,
    /// The damage that ended the content, if any (a header that was merely stale has none).
    pub damage: Option<Damage>,
}
