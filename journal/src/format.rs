//! Format v1 layout, encoding and decoding (spec/FORMAT.md): the constants, the two header layouts
//! ([`StreamHeader`], [`EntryHeader`]), the length and checksum rules, and why an entry is not valid
//! ([`DamageReason`]).
//!
//! Entry headers are encoded and decoded only here, by [`EntryHeader`]; the writer, the ring and the
//! readers all go through it. Everything here works on plain byte slices that are immutable for
//! their lifetime: the region of a journal below a published `write_offset` (FORMAT.md 7.2), or a
//! file read into memory. Nothing here touches shared memory directly.
//!
//! ```
//! use journal::format::{entry_len, EntryHeader, ENTRY_HEADER_LEN};
//!
//! // FORMAT.md 12: the worked example's first entry.
//! let head = EntryHeader::for_payload(1_700_000_000_000_000_123, b"hello");
//! assert_eq!(head.checksum(), 0xA259_9772);
//! let bytes = head.to_bytes();
//! assert_eq!(bytes.len() as u64, ENTRY_HEADER_LEN);
//! assert_eq!(EntryHeader::decode(&bytes), Some(head));
//! assert_eq!(entry_len(head.size()), 24);
//! ```

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

/// The stream header as stored at offset 0 (FORMAT.md 3): three little-endian words.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
#[repr(C)]
pub struct StreamHeader {
    pub(crate) write_offset: U64,
    pub(crate) event_count: U64,
    pub(crate) start_timestamp: I64,
}

impl StreamHeader {
    /// A header with these fields.
    pub fn new(write_offset: u64, event_count: u64, start_timestamp: i64) -> StreamHeader {
        StreamHeader {
            write_offset: U64::new(write_offset),
            event_count: U64::new(event_count),
            start_timestamp: I64::new(start_timestamp),
        }
    }

    /// Decodes the first [`HEADER_LEN`] bytes of `bytes`; `None` if there are fewer.
    pub fn decode(bytes: &[u8]) -> Option<StreamHeader> {
        StreamHeader::read_from_prefix(bytes).ok().map(|(h, _)| h)
    }

    /// The header as stored.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN as usize] {
        zerocopy::transmute!(*self)
    }

    /// `write_offset`: the end of the published entries (FORMAT.md 3).
    pub fn write_offset(&self) -> u64 {
        self.write_offset.get()
    }

    /// `event_count`: a hint, the number of published entries (FORMAT.md 3).
    pub fn event_count(&self) -> u64 {
        self.event_count.get()
    }

    /// `start_timestamp`: when the journal was created, nanoseconds since the Unix epoch.
    pub fn start_timestamp(&self) -> i64 {
        self.start_timestamp.get()
    }
}

/// An entry header as stored (FORMAT.md 4): `timestamp`, `size`, `checksum`, little-endian. The one
/// encoder and decoder of entry headers in the crate.
#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
#[repr(C)]
pub struct EntryHeader {
    timestamp: I64,
    size: U32,
    checksum: U32,
}

impl EntryHeader {
    /// The header of an entry carrying `payload`: its length as `size` and the CRC-32 of
    /// FORMAT.md 5. `payload` is at most [`MAX_PAYLOAD`] bytes (checked by the callers).
    #[inline]
    pub fn for_payload(timestamp: i64, payload: &[u8]) -> EntryHeader {
        EntryHeader::from_fields(
            timestamp,
            payload.len() as u32,
            checksum(timestamp, payload),
        )
    }

    /// A header whose `size` field is `size` and whose CRC-32 covers `timestamp ‖ size` alone: the
    /// ring's control records (spec/RING.md 5).
    #[inline]
    pub fn without_payload(timestamp: i64, size: u32) -> EntryHeader {
        EntryHeader::from_fields(timestamp, size, crc(timestamp, size, &[]))
    }

    /// A header with exactly these fields (the checksum is not computed).
    #[inline]
    pub fn from_fields(timestamp: i64, size: u32, checksum: u32) -> EntryHeader {
        EntryHeader {
            timestamp: I64::new(timestamp),
            size: U32::new(size),
            checksum: U32::new(checksum),
        }
    }

    /// Decodes the first [`ENTRY_HEADER_LEN`] bytes of `bytes`; `None` if there are fewer. No field
    /// is checked (FORMAT.md 6.1 does that).
    #[inline]
    pub fn decode(bytes: &[u8]) -> Option<EntryHeader> {
        EntryHeader::read_from_prefix(bytes).ok().map(|(h, _)| h)
    }

    /// The header as stored.
    #[inline]
    pub fn to_bytes(&self) -> [u8; ENTRY_HEADER_LEN as usize] {
        zerocopy::transmute!(*self)
    }

    /// Stores the header in the first [`ENTRY_HEADER_LEN`] bytes of `out`. Panics if `out` is
    /// shorter.
    #[inline]
    pub fn write_to(&self, out: &mut [u8]) {
        out[..ENTRY_HEADER_LEN as usize].copy_from_slice(self.as_bytes());
    }

    /// The entry's timestamp, nanoseconds since the Unix epoch.
    #[inline]
    pub fn timestamp(&self) -> i64 {
        self.timestamp.get()
    }

    /// The `size` field: the payload's length (or a ring control word, spec/RING.md 5).
    #[inline]
    pub fn size(&self) -> u32 {
        self.size.get()
    }

    /// The stored CRC-32.
    #[inline]
    pub fn checksum(&self) -> u32 {
        self.checksum.get()
    }
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

/// The entry checksum (FORMAT.md 5): CRC-32 over `timestamp ‖ size ‖ payload`, `size` being the
/// payload's length.
#[inline]
pub fn checksum(timestamp: i64, payload: &[u8]) -> u32 {
    crc(timestamp, payload.len() as u32, payload)
}

/// CRC-32 over `timestamp ‖ size ‖ payload` (FORMAT.md 5), little-endian, in one pass: the one
/// entry checksum of the library (writers, readers, recovery and the ring all come here).
#[inline]
fn crc(timestamp: i64, size: u32, payload: &[u8]) -> u32 {
    crate::sys::crc::entry_crc(timestamp, size, payload)
}

/// The CRC-32 stored in an entry's header (`entry` holds at least the 16-byte header).
#[inline]
pub(crate) fn stored_checksum(entry: &[u8]) -> u32 {
    EntryHeader::decode(entry).map_or(0, |h| h.checksum())
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
    let head = EntryHeader::decode(&body[rel..]).ok_or(DamageReason::Truncated)?;
    let size = head.size();
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
    let timestamp = head.timestamp();
    if verify {
        if checksum(timestamp, payload) != head.checksum() {
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

/// Payloads up to this many bytes are copied with fixed-size moves instead of a `memcpy` call.
const SMALL_COPY: usize = 128;

/// Encodes one entry into `out` (which must be exactly `entry_len(payload.len())` long): the
/// payload and padding, then the header. The header's bytes are written once, last (what the ring
/// relies on, spec/RING.md). The CRC is computed over the caller's bytes; a claim, whose payload
/// is already in the mapping, uses [`seal_entry`] instead.
#[inline]
pub(crate) fn encode_entry(out: &mut [u8], timestamp: i64, payload: &[u8]) {
    write_payload(out, payload);
    EntryHeader::for_payload(timestamp, payload).write_to(out);
}

/// Like [`encode_entry`], but with 0 in the `checksum` field instead of a CRC: the entry of a ring
/// record written without a checksum (spec/RING.md 3, kind 4), never a journal's.
#[inline]
pub(crate) fn encode_entry_unchecked(out: &mut [u8], timestamp: i64, payload: &[u8]) {
    write_payload(out, payload);
    EntryHeader::from_fields(timestamp, payload.len() as u32, 0).write_to(out);
}

/// Copies `payload` to `out[16..]` and zeroes the padding after it (`out` is exactly
/// `entry_len(payload.len())` long).
#[inline(always)]
fn write_payload(out: &mut [u8], payload: &[u8]) {
    debug_assert_eq!(out.len() as u64, entry_len(payload.len() as u32));
    let n = payload.len();
    let head = ENTRY_HEADER_LEN as usize;
    if n <= SMALL_COPY {
        // The padding first, as one 8-byte store over the entry's last word (the entry is a
        // multiple of 8 and at least `16 + n` long); the payload then overwrites the part of it
        // that it covers.
        if n > 0 {
            let len = out.len();
            out[len - 8..].copy_from_slice(&[0u8; 8]);
        }
        copy_small(&mut out[head..head + n], payload);
    } else {
        let (body, pad) = out[head..].split_at_mut(n);
        body.copy_from_slice(payload);
        pad.fill(0);
    }
}

/// Writes the header of an entry whose `size` payload bytes and padding are already in place at
/// `out[16..]` (a claim's), with the CRC of FORMAT.md 5 over those bytes.
#[inline]
pub(crate) fn seal_entry(out: &mut [u8], timestamp: i64, size: u32) {
    let head = ENTRY_HEADER_LEN as usize;
    let crc = crc(timestamp, size, &out[head..head + size as usize]);
    EntryHeader::from_fields(timestamp, size, crc).write_to(out);
}

/// Copies `src` (at most [`SMALL_COPY`] bytes) into `dst` of the same length with fixed-size
/// moves: two overlapping ones of the largest power of two that fits.
#[inline(always)]
fn copy_small(dst: &mut [u8], src: &[u8]) {
    #[inline(always)]
    fn two<const K: usize>(dst: &mut [u8], src: &[u8]) {
        let n = src.len();
        dst[..K].copy_from_slice(&src[..K]);
        dst[n - K..n].copy_from_slice(&src[n - K..n]);
    }
    let n = src.len();
    debug_assert!(n <= SMALL_COPY && dst.len() == n);
    if n >= 64 {
        two::<64>(dst, src);
    } else if n >= 32 {
        two::<32>(dst, src);
    } else if n >= 16 {
        two::<16>(dst, src);
    } else if n >= 8 {
        two::<8>(dst, src);
    } else if n >= 4 {
        two::<4>(dst, src);
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    }
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

    #[test]
    fn entry_header_encodes_and_decodes_as_format_4_lays_it_out() {
        let h = EntryHeader::for_payload(-2, b"abc");
        let bytes = h.to_bytes();
        assert_eq!(bytes[..8], (-2i64).to_le_bytes());
        assert_eq!(bytes[8..12], 3u32.to_le_bytes());
        assert_eq!(bytes[12..], checksum(-2, b"abc").to_le_bytes());
        assert_eq!(EntryHeader::decode(&bytes), Some(h));
        assert_eq!(EntryHeader::decode(&bytes[..15]), None);
        let mut out = [0xFFu8; 20];
        h.write_to(&mut out);
        assert_eq!((&out[..16], &out[16..]), (&bytes[..], &[0xFF; 4][..]));
        // A control header's CRC covers timestamp and size only (RING.md 5).
        let c = EntryHeader::without_payload(7, 0x8000_0001);
        let mut twelve = [0u8; 12];
        twelve[..8].copy_from_slice(&7i64.to_le_bytes());
        twelve[8..].copy_from_slice(&0x8000_0001u32.to_le_bytes());
        assert_eq!(c.checksum(), crc32fast::hash(&twelve));
        assert_eq!((c.timestamp(), c.size()), (7, 0x8000_0001));
        let s = StreamHeader::new(48, 1, -5);
        let b = s.to_bytes();
        assert_eq!(b[..8], 48u64.to_le_bytes());
        assert_eq!(b[16..], (-5i64).to_le_bytes());
        assert_eq!(StreamHeader::decode(&b), Some(s));
        assert_eq!(
            (s.write_offset(), s.event_count(), s.start_timestamp()),
            (48, 1, -5)
        );
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
    fn encode_entry_matches_the_two_part_checksum_at_every_small_size() {
        // Every length through the fixed-size copy paths and past them, over stale bytes.
        let payload: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for n in 0..=300usize {
            let p = &payload[..n];
            let len = entry_len(n as u32) as usize;
            let mut out = vec![0xAAu8; len];
            encode_entry(&mut out, -(n as i64) * 1001, p);
            // A claim's path: payload and padding in place, then the one-pass seal.
            let mut sealed = vec![0x55u8; len];
            sealed[16..16 + n].copy_from_slice(p);
            sealed[16 + n..].fill(0);
            seal_entry(&mut sealed, -(n as i64) * 1001, n as u32);
            assert_eq!(out, sealed, "payload of {n} bytes");
            let mut want = Vec::new();
            want.extend_from_slice(&EntryHeader::for_payload(-(n as i64) * 1001, p).to_bytes());
            want.extend_from_slice(p);
            want.resize(len, 0);
            assert_eq!(out, want, "payload of {n} bytes");
        }
    }

    #[test]
    fn encoded_checksum_is_crc32fast_over_the_stored_bytes() {
        // What a reader of FORMAT.md 5 recomputes: crc32fast over the entry's first 12 bytes and
        // its payload as stored, whichever CRC implementation this CPU selects; every length
        // through the accelerated sizes and past them, the payload at several alignments.
        let buf: Vec<u8> = (0..320u32).map(|i| (i * 131 + 17) as u8).collect();
        for n in 0..=300usize {
            for misalign in [0usize, 1, 5, 8, 15] {
                let p = &buf[misalign..misalign + n];
                let ts = (n as i64).wrapping_mul(0x0102_0304_0506_0708) ^ -(misalign as i64);
                let mut out = vec![0xAAu8; entry_len(n as u32) as usize];
                encode_entry(&mut out, ts, p);
                let mut h = crc32fast::Hasher::new();
                h.update(&out[..12]);
                h.update(&out[16..16 + n]);
                let want = h.finalize();
                assert_eq!(stored_checksum(&out), want, "n={n} misalign={misalign}");
                let mut sealed = out.clone();
                sealed[12..16].fill(0);
                seal_entry(&mut sealed, ts, n as u32);
                assert_eq!(stored_checksum(&sealed), want, "sealed, n={n}");
            }
        }
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
