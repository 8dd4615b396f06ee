//! An independent decoder and builder of the sparse index, version 1, written from `spec/INDEX.md`
//! alone (not from the library's source), over whole files held in memory; the journal side uses the
//! independent FORMAT.md decoder of `spec_impl.rs`. Section numbers refer to INDEX.md.

use crate::spec_impl;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    u64_at(b, at) as i64
}

/// A record (section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rec {
    pub index: u64,
    pub offset: u64,
    pub max: i64,
    pub crc: u32,
}

/// A decoded index (sections 3 and 4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    pub interval_bytes: u64,
    pub interval_events: u64,
    pub start: i64,
    pub first_crc: u32,
    pub last_crc: u32,
    pub last_off: u64,
    pub checkpoint: u64,
    pub events: u64,
    pub max: i64,
    pub recs: Vec<Rec>,
}

/// Section 3 rules 1 to 12 in order; returns the header and `record_count`.
fn header(b: &[u8]) -> Result<(Idx, u64), &'static str> {
    if b.len() < 96 {
        return Err("truncated");
    }
    if &b[0..8] != b"JRNL.IDX" {
        return Err("bad_magic");
    }
    if u32_at(b, 8) != 1 {
        return Err("unsupported_version");
    }
    if crc32fast::hash(&b[..92]) != u32_at(b, 92) {
        return Err("header_checksum");
    }
    let h = Idx {
        interval_bytes: u64_at(b, 16),
        interval_events: u64_at(b, 24),
        start: i64_at(b, 32),
        first_crc: u32_at(b, 40),
        last_crc: u32_at(b, 44),
        last_off: u64_at(b, 48),
        checkpoint: u64_at(b, 56),
        events: u64_at(b, 64),
        max: i64_at(b, 72),
        recs: Vec::new(),
    };
    let count = u64_at(b, 80);
    let lim = 1u64 << 48;
    let bad = u32_at(b, 12) != 0
        || u32_at(b, 88) != 0
        || !(16..=lim).contains(&h.interval_bytes)
        || !(1..=lim).contains(&h.interval_events)
        || h.checkpoint < 24
        || h.checkpoint > lim
        || !h.checkpoint.is_multiple_of(8)
        || h.events > (h.checkpoint - 24) / 16
        || (h.events == 0) != (h.checkpoint == 24)
        || (h.events == 0
            && (count != 0
                || h.last_off != 0
                || h.first_crc != 0
                || h.last_crc != 0
                || h.max != i64::MIN))
        || (h.events > 0 && (count == 0 || count > h.events))
        || (h.events > 0
            && (h.last_off < 24
                || !h.last_off.is_multiple_of(8)
                || h.last_off + 16 > h.checkpoint));
    if bad {
        return Err("bad_header");
    }
    Ok((h, count))
}

/// Section 4: the records and their rules.
fn records(h: &Idx, b: &[u8], count: u64) -> Result<Vec<Rec>, &'static str> {
    let mut out: Vec<Rec> = Vec::new();
    for k in 0..count as usize {
        let r = &b[96 + 32 * k..128 + 32 * k];
        if crc32fast::hash(&r[..28]) != u32_at(r, 28) {
            return Err("record_checksum");
        }
        let rec = Rec {
            index: u64_at(r, 0),
            offset: u64_at(r, 8),
            max: i64_at(r, 16),
            crc: u32_at(r, 24),
        };
        let ok = rec.offset.is_multiple_of(8)
            && rec.offset <= h.last_off
            && rec.index < h.events
            && rec.max <= h.max
            && match out.last() {
                None => rec.index == 0 && rec.offset == 24 && rec.crc == h.first_crc,
                Some(p) => {
                    rec.index > p.index
                        && rec.offset > p.offset
                        && rec.index - p.index <= h.interval_events
                        && (rec.offset - p.offset) / 16 >= rec.index - p.index
                        && rec.max >= p.max
                }
            };
        if !ok {
            return Err("bad_record");
        }
        out.push(rec);
    }
    if let Some(l) = out.last() {
        if h.events - l.index > h.interval_events {
            return Err("bad_record");
        }
    }
    Ok(out)
}

/// The journal's entry at `offset` if it is a valid entry (FORMAT.md 6.1): (timestamp, stored crc,
/// end). Uses the independent journal decoder's view of the whole file.
fn entry(journal: &[u8], offset: u64) -> Option<(i64, u32, u64)> {
    let wo = u64_at(journal, 0);
    let len = journal.len() as u64;
    let p = offset;
    if p + 16 > wo || p + 16 > len {
        return None;
    }
    let ts = i64_at(journal, p as usize);
    let size = u32_at(journal, p as usize + 8);
    if size > spec_impl::MAX_PAYLOAD {
        return None;
    }
    let end = p + spec_impl::pad8(16 + size as u64);
    if end > wo || end > len {
        return None;
    }
    let payload = &journal[p as usize + 16..p as usize + 16 + size as usize];
    let stored = u32_at(journal, p as usize + 12);
    if spec_impl::entry_crc(ts, size, payload) != stored
        || journal[p as usize + 16 + size as usize..end as usize]
            .iter()
            .any(|&x| x != 0)
    {
        return None;
    }
    Some((ts, stored, end))
}

/// Section 6.1 against a journal file's bytes.
fn validate(h: &Idx, journal: &[u8]) -> Result<(), &'static str> {
    if i64_at(journal, 16) != h.start {
        return Err("other_journal");
    }
    if h.checkpoint > u64_at(journal, 0).min(journal.len() as u64) {
        return Err("journal_shorter");
    }
    if h.events == 0 {
        return Ok(());
    }
    match entry(journal, 24) {
        Some((_, c, _)) if c == h.first_crc => {}
        _ => return Err("other_journal"),
    }
    match entry(journal, h.last_off) {
        Some((ts, c, end)) if c == h.last_crc && end == h.checkpoint && ts <= h.max => Ok(()),
        _ => Err("entry_mismatch"),
    }
}

/// Decode (3, 4) and validate (6.1) an index against a journal, in the order a reader that has the
/// journal at hand uses (rule 13 after 6.1).
pub fn load(idx: &[u8], journal: &[u8]) -> Result<Idx, &'static str> {
    let (mut h, count) = header(idx)?;
    validate(&h, journal)?;
    if (idx.len() as u64) < 96 + 32 * count {
        return Err("truncated");
    }
    h.recs = records(&h, idx, count)?;
    Ok(h)
}

/// Section 5: the index of the content of `journal` (walked by the independent decoder) up to
/// `limit`, as bytes.
pub fn build(journal: &[u8], interval_bytes: u64, interval_events: u64, limit: u64) -> Idx {
    let j = match spec_impl::decode(journal) {
        spec_impl::Decoded::Journal(j) => j,
        other => panic!("not a journal: {other:?}"),
    };
    let mut h = Idx {
        interval_bytes,
        interval_events,
        start: j.start_timestamp,
        first_crc: 0,
        last_crc: 0,
        last_off: 0,
        checkpoint: 24,
        events: 0,
        max: i64::MIN,
        recs: Vec::new(),
    };
    for (i, ((ts, payload), &off)) in j.events.iter().zip(&j.offsets).enumerate() {
        if off >= limit {
            break;
        }
        let i = i as u64;
        let c = spec_impl::entry_crc(*ts, payload.len() as u32, payload);
        h.max = h.max.max(*ts);
        let take = match h.recs.last() {
            None => true,
            Some(l) => off - l.offset >= interval_bytes || i - l.index >= interval_events,
        };
        if take {
            h.recs.push(Rec {
                index: i,
                offset: off,
                max: h.max,
                crc: c,
            });
        }
        if i == 0 {
            h.first_crc = c;
        }
        h.last_crc = c;
        h.last_off = off;
        h.checkpoint = off + spec_impl::pad8(16 + payload.len() as u64);
        h.events = i + 1;
    }
    h
}

/// Sections 3 and 4: the file's bytes.
pub fn encode(h: &Idx) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"JRNL.IDX");
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    for v in [h.interval_bytes, h.interval_events, h.start as u64] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&h.first_crc.to_le_bytes());
    b.extend_from_slice(&h.last_crc.to_le_bytes());
    for v in [
        h.last_off,
        h.checkpoint,
        h.events,
        h.max as u64,
        h.recs.len() as u64,
    ] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&0u32.to_le_bytes());
    let c = crc32fast::hash(&b);
    b.extend_from_slice(&c.to_le_bytes());
    for r in &h.recs {
        let at = b.len();
        for v in [r.index, r.offset, r.max as u64] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&r.crc.to_le_bytes());
        let c = crc32fast::hash(&b[at..]);
        b.extend_from_slice(&c.to_le_bytes());
    }
    b
}

/// Section 7: the full check's verdict.
pub fn check(idx: &[u8], journal: &[u8]) -> &'static str {
    let h = match load(idx, journal) {
        Ok(h) => h,
        Err(f) => return f,
    };
    let fresh = build(journal, h.interval_bytes, h.interval_events, h.checkpoint);
    if fresh.checkpoint != h.checkpoint {
        return "journal_damaged";
    }
    if fresh.recs != h.recs {
        return "record_mismatch";
    }
    if (
        fresh.events,
        fresh.max,
        fresh.first_crc,
        fresh.last_crc,
        fresh.last_off,
    ) != (h.events, h.max, h.first_crc, h.last_crc, h.last_off)
    {
        return "header_mismatch";
    }
    let end = match spec_impl::decode(journal) {
        spec_impl::Decoded::Journal(j) => j.end,
        _ => unreachable!("decoded above"),
    };
    if end > h.checkpoint {
        "stale"
    } else {
        "current"
    }
}

/// Section 8 with 6.2: the start position, or the fault of the record it would use.
fn trust(r: &Rec, journal: &[u8]) -> Result<(u64, u64), &'static str> {
    match entry(journal, r.offset) {
        Some((ts, c, _)) if c == r.crc && ts <= r.max && (r.index != 0 || ts == r.max) => {
            Ok((r.index, r.offset))
        }
        _ => Err("entry_mismatch"),
    }
}

fn at_checkpoint(h: &Idx, journal: &[u8]) -> Result<(u64, u64), &'static str> {
    validate(h, journal)?;
    Ok((h.events, h.checkpoint))
}

pub fn seek_index(h: &Idx, journal: &[u8], n: u64) -> Result<(u64, u64), &'static str> {
    if h.events == 0 || n == 0 {
        return Ok((0, 24));
    }
    if n >= h.events {
        return at_checkpoint(h, journal);
    }
    let r = h.recs.iter().rev().find(|r| r.index <= n).unwrap();
    trust(r, journal)
}

pub fn seek_time(h: &Idx, journal: &[u8], t: i64) -> Result<(u64, u64), &'static str> {
    if h.events == 0 {
        return Ok((0, 24));
    }
    if h.max < t {
        return at_checkpoint(h, journal);
    }
    // k = the number of records whose running maximum is below t.
    match h.recs.iter().filter(|r| r.max < t).count() {
        0 => Ok((0, 24)),
        k => trust(&h.recs[k - 1], journal),
    }
}
