//! Format v1 layout, encoding and decoding (spec/FORMAT.md).
//!
//! Everything here works on plain byte slices that are immutable for their lifetime: the region of a
//! journal below a published `write_offset` (FORMAT.md 7.2), or a file read into memory. Nothing here
//! touches shared memory directly.

use zerocopy::byteorder::little_endian::{I64, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Length of the stream header at offset 0 (FORMAT.md 3).
pub const HEADER_LEN: u64 = 24;
/// Length of an entry header (FORMAT.md 4).
pub const ENTRY_HEADER_LEN: u64 = 16;
/// Largest payload an entry may carry (FORMAT.md 11): `2^30` bytes.
pub const MAX_PAYLOAD: u32 = 1 << 30;
/// Largest structurally valid `write_offset` (FORMAT.md 3, rule 4): `2^48`.
pub const MAX_WRITE_OFFSET: u64 = 1 << 48;

/// The stream header as stored (FORMAT.md 3).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct StreamHeader {
    pub write_offset: U64,
    pub event_count: U64,
    pub start_timestamp: I64,
}

/// An entry header as stored (FORMAT.md 4).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct EntryHeader {
    pub timestamp: I64,
    pub size: U32,
    pub checksum: U32,
}

const _: () = assert!(std::mem::size_of::<StreamHeader>() == HEADER_LEN as usize);
const _: () = assert!(std::mem::size_of::<EntryHeader>() == ENTRY_HEADER_LEN as usize);

/// `n` rounded up to a multiple of 8 (FORMAT.md 2).
#[inline]
pub const fn pad8(n: u64) -> u64 {
    (n + 7) & !7
}

/// Length on disk of an entry carrying `size` payload bytes: `pad8(16 + size)`.
#[inline]
pub const fn entry_len(size: u32) -> u64 {
    pad8(ENTRY_HEADER_LEN + size as u64)
}

/// The entry checksum (FORMAT.md 5): CRC-32 over `timestamp ‖ size ‖ payload`.
#[inline]
pub fn checksum(timestamp: i64, payload: &[u8]) -> u32 {
    let mut head = [0u8; 12];
    head[..8].copy_from_slice(&timestamp.to_le_bytes());
    head[8..].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&head);
    h.update(payload);
    h.finalize()
}

/// The CRC-32 stored in an entry's header (`entry` holds at least the 16-byte header).
#[inline]
pub(crate) fn stored_checksum(entry: &[u8]) -> u32 {
    u32::from_le_bytes([entry[12], entry[13], entry[14], entry[15]])
}

/// Why a stream header is not structurally valid (FORMAT.md 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderFault {
    /// The file is shorter than the 24-byte header.
    Short { len: u64 },
    /// `write_offset < 24`.
    BelowHeader { write_offset: u64 },
    /// `write_offset % 8 != 0`.
    Misaligned { write_offset: u64 },
    /// `write_offset > 2^48`.
    TooLarge { write_offset: u64 },
}

impl std::fmt::Display for HeaderFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            HeaderFault::Short { len } => {
                write!(
                    f,
                    "file is {len} bytes, shorter than the {HEADER_LEN}-byte header"
                )
            }
            HeaderFault::BelowHeader { write_offset } => {
                write!(
                    f,
                    "header write_offset {write_offset} is below {HEADER_LEN}"
                )
            }
            HeaderFault::Misaligned { write_offset } => {
                write!(
                    f,
                    "header write_offset {write_offset} is not a multiple of 8"
                )
            }
            HeaderFault::TooLarge { write_offset } => write!(
                f,
                "header write_offset {write_offset:#x} is above the format limit 2^48"
            ),
        }
    }
}

/// Checks the structural rules of FORMAT.md 3 for a header value and a file length.
pub(crate) fn check_header(write_offset: u64, file_len: u64) -> Result<(), HeaderFault> {
    if file_len < HEADER_LEN {
        Err(HeaderFault::Short { len: file_len })
    } else if write_offset < HEADER_LEN {
        Err(HeaderFault::BelowHeader { write_offset })
    } else if !write_offset.is_multiple_of(8) {
        Err(HeaderFault::Misaligned { write_offset })
    } else if write_offset > MAX_WRITE_OFFSET {
        Err(HeaderFault::TooLarge { write_offset })
    } else {
        Ok(())
    }
}

/// Why an entry is not valid (FORMAT.md 6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DamageReason {
    /// The entry header or the entry does not fit below `write_offset` or the end of the file.
    Truncated,
    /// The entry's `size` is above [`MAX_PAYLOAD`].
    BadHeader,
    /// The entry runs past `write_offset`.
    Overrun,
    /// The CRC-32 does not match.
    Checksum,
    /// A padding byte is not zero.
    BadPadding,
}

impl DamageReason {
    /// The reason's stable name, as in FORMAT.md 6.1 and the CLI's JSON output.
    pub fn as_str(&self) -> &'static str {
        match self {
            DamageReason::Truncated => "truncated",
            DamageReason::BadHeader => "bad_header",
            DamageReason::Overrun => "overrun",
            DamageReason::Checksum => "checksum",
            DamageReason::BadPadding => "bad_padding",
        }
    }

    /// A sentence for a person.
    pub fn describe(&self) -> &'static str {
        match self {
            DamageReason::Truncated => "entry is cut short by write_offset or the end of the file",
            DamageReason::BadHeader => "entry size is above the 1 GiB payload limit",
            DamageReason::Overrun => "entry runs past write_offset",
            DamageReason::Checksum => "CRC-32 mismatch",
            DamageReason::BadPadding => "nonzero padding byte",
        }
    }
}

impl std::fmt::Display for DamageReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decoded, checked entry borrowed from the bytes it was decoded from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawEntry<'a> {
    pub timestamp: i64,
    pub payload: &'a [u8],
    /// Length of the whole entry (header, payload, padding).
    pub len: u64,
    /// The whole entry's bytes, as stored.
    pub bytes: &'a [u8],
}

/// Checks the entry at absolute offset `pos` (FORMAT.md 6.1, in the spec's order).
///
/// `body` holds the file's bytes from offset [`HEADER_LEN`] up to `min(write_offset, file_len)`;
/// `write_offset` and `file_len` are the values the checks compare against. With `verify == false`
/// the CRC and padding checks (6 and 7) are skipped: for trusted hot replay only.
#[inline]
pub(crate) fn check_entry(
    body: &[u8],
    pos: u64,
    write_offset: u64,
    file_len: u64,
    verify: bool,
) -> Result<RawEntry<'_>, DamageReason> {
    debug_assert!(pos >= HEADER_LEN && pos.is_multiple_of(8));
    let head_end = pos + ENTRY_HEADER_LEN;
    if head_end > write_offset || head_end > file_len {
        return Err(DamageReason::Truncated);
    }
    let rel = (pos - HEADER_LEN) as usize;
    // The body covers min(write_offset, file_len), which both bound head_end.
    let (head, _) =
        EntryHeader::read_from_prefix(&body[rel..]).map_err(|_| DamageReason::Truncated)?;
    let size = head.size.get();
    if size > MAX_PAYLOAD {
        return Err(DamageReason::BadHeader);
    }
    let len = entry_len(size);
    let end = pos + len;
    if end > write_offset {
        return Err(DamageReason::Overrun);
    }
    if end > file_len {
        return Err(DamageReason::Truncated);
    }
    let start = rel + ENTRY_HEADER_LEN as usize;
    let payload = &body[start..start + size as usize];
    let timestamp = head.timestamp.get();
    if verify {
        if checksum(timestamp, payload) != head.checksum.get() {
            return Err(DamageReason::Checksum);
        }
        let pad = &body[start + size as usize..rel + len as usize];
        if pad.iter().any(|&b| b != 0) {
            return Err(DamageReason::BadPadding);
        }
    }
    Ok(RawEntry {
        timestamp,
        payload,
        len,
        bytes: &body[rel..rel + len as usize],
    })
}

/// Encodes one entry into `out` (which must be exactly `entry_len(payload.len())` long).
pub(crate) fn encode_entry(out: &mut [u8], timestamp: i64, payload: &[u8]) {
    let size = payload.len() as u32;
    debug_assert_eq!(out.len() as u64, entry_len(size));
    let head = EntryHeader {
        timestamp: I64::new(timestamp),
        size: U32::new(size),
        checksum: U32::new(checksum(timestamp, payload)),
    };
    out[..16].copy_from_slice(head.as_bytes());
    out[16..16 + payload.len()].copy_from_slice(payload);
    out[16 + payload.len()..].fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_value() {
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        // FORMAT.md 5: twelve zero bytes never pass as an entry.
        assert_eq!(crc32fast::hash(&[0u8; 12]), 0x7BD5_C66F);
    }

    #[test]
    fn worked_example_checksums() {
        // FORMAT.md 12.
        assert_eq!(checksum(1_700_000_000_000_000_123, b"hello"), 0xA259_9772);
        assert_eq!(checksum(1_700_000_000_000_004_567, b""), 0x29F7_5C1F);
    }

    #[test]
    fn entry_lengths() {
        assert_eq!(entry_len(0), 16);
        assert_eq!(entry_len(1), 24);
        assert_eq!(entry_len(8), 24);
        assert_eq!(entry_len(9), 32);
        assert_eq!(entry_len(MAX_PAYLOAD), 16 + (1 << 30));
        assert_eq!(entry_len(u32::MAX), 16 + (1u64 << 32));
    }

    fn journal_of(events: &[(i64, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (ts, p) in events {
            let at = body.len();
            body.resize(at + entry_len(p.len() as u32) as usize, 0xAA);
            encode_entry(&mut body[at..], *ts, p);
        }
        body
    }

    #[test]
    fn entry_roundtrip_and_reasons() {
        let body = journal_of(&[(5, b"hello"), (-7, b"")]);
        let wo = HEADER_LEN + body.len() as u64;
        let e = check_entry(&body, 24, wo, wo, true).unwrap();
        assert_eq!((e.timestamp, e.payload, e.len), (5, &b"hello"[..], 24));
        let e = check_entry(&body, 48, wo, wo, true).unwrap();
        assert_eq!((e.timestamp, e.payload.len(), e.len), (-7, 0, 16));
        // Checks 1/2: header does not fit.
        assert_eq!(
            check_entry(&body, 48, 56, wo, true).unwrap_err(),
            DamageReason::Truncated
        );
        assert_eq!(
            check_entry(&body, 48, wo, 56, true).unwrap_err(),
            DamageReason::Truncated
        );
        // Check 4 vs 5.
        assert_eq!(
            check_entry(&body, 24, 40, wo, true).unwrap_err(),
            DamageReason::Overrun
        );
        assert_eq!(
            check_entry(&body[..16], 24, wo, 40, true).unwrap_err(),
            DamageReason::Truncated
        );
        // Check 3: hostile size.
        let mut bad = body.clone();
        bad[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            check_entry(&bad, 24, wo, wo, true).unwrap_err(),
            DamageReason::BadHeader
        );
        // Check 6 and 7.
        let mut bad = body.clone();
        bad[16] ^= 1;
        assert_eq!(
            check_entry(&bad, 24, wo, wo, true).unwrap_err(),
            DamageReason::Checksum
        );
        assert!(check_entry(&bad, 24, wo, wo, false).is_ok());
        let mut bad = body.clone();
        bad[22] = 1;
        assert_eq!(
            check_entry(&bad, 24, wo, wo, true).unwrap_err(),
            DamageReason::BadPadding
        );
    }

    #[test]
    fn header_rules() {
        assert_eq!(check_header(24, 23), Err(HeaderFault::Short { len: 23 }));
        assert_eq!(
            check_header(16, 24),
            Err(HeaderFault::BelowHeader { write_offset: 16 })
        );
        assert_eq!(
            check_header(25, 64),
            Err(HeaderFault::Misaligned { write_offset: 25 })
        );
        let text = u64::from_le_bytes(*b"hello wo");
        assert!(matches!(
            check_header(text & !7, 64),
            Err(HeaderFault::TooLarge { .. })
        ));
        assert_eq!(check_header(1 << 48, 24), Ok(()));
        assert_eq!(check_header(24, 24), Ok(()));
    }
}
