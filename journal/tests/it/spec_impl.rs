//! An independent decoder and encoder of journal format version 1, written from `spec/FORMAT.md`
//! alone (not from the library's source), so that the tests can check that the library and the spec
//! agree. Section numbers in comments refer to FORMAT.md.
//!
//! It works on a whole file held in memory and is meant to be obviously correct, not fast.

/// Length of the stream header (section 3).
pub const HEADER_LEN: u64 = 24;
/// Length of an entry header (section 4).
pub const ENTRY_HEADER_LEN: u64 = 16;
/// Largest legal payload (section 11).
pub const MAX_PAYLOAD: u32 = 1 << 30;
/// Largest structurally valid `write_offset` (section 3 rule 4, section 11).
pub const MAX_WRITE_OFFSET: u64 = 1 << 48;

/// The verdict on a file whose header is structurally valid (section 6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The content walk ended exactly at `write_offset`.
    Intact,
    /// The content walk stopped at an entry that is not valid.
    Damaged,
}

impl Verdict {
    /// The verdict as spelled in `spec/vectors/expected.txt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Intact => "intact",
            Verdict::Damaged => "damaged",
        }
    }
}

/// What a file decodes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The header is not structurally valid (section 3).
    NotAJournal,
    /// A journal, intact or damaged.
    Journal(Journal),
}

/// A decoded journal: its header fields and its content (section 6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    /// Intact or damaged.
    pub verdict: Verdict,
    /// The content's events in file order: `(timestamp, payload)`.
    pub events: Vec<(i64, Vec<u8>)>,
    /// The offset of each event's entry, parallel to `events`.
    pub offsets: Vec<u64>,
    /// The end of the content: the offset at which the walk stopped.
    pub end: u64,
    /// For a damaged journal, the offset of the first invalid entry (always `end`) and the reason,
    /// one of `truncated`, `bad_header`, `overrun`, `checksum`, `bad_padding`.
    pub damage: Option<(u64, &'static str)>,
    /// The header's `write_offset`.
    pub write_offset: u64,
    /// The header's `event_count` (a hint).
    pub event_count: u64,
    /// The header's `start_timestamp`.
    pub start_timestamp: i64,
    /// The file length.
    pub file_len: u64,
}

impl Decoded {
    /// The outcome in the words of `spec/vectors/expected.txt`, without the file name:
    /// `intact events=N end=E`, `damaged events=N end=E offset=O reason=R` or `not_a_journal`.
    pub fn outcome(&self) -> String {
        match self {
            Decoded::NotAJournal => "not_a_journal".to_string(),
            Decoded::Journal(j) => j.outcome(),
        }
    }

    /// The journal, or a panic if the file is not one.
    pub fn journal(&self) -> &Journal {
        match self {
            Decoded::Journal(j) => j,
            Decoded::NotAJournal => panic!("expected a journal, decoded not_a_journal"),
        }
    }
}

impl Journal {
    /// See [`Decoded::outcome`].
    pub fn outcome(&self) -> String {
        outcome_line(
            self.verdict.as_str(),
            self.events.len() as u64,
            self.end,
            self.damage,
        )
    }
}

/// Formats an outcome the way `spec/vectors/expected.txt` does (see its README).
pub fn outcome_line(verdict: &str, events: u64, end: u64, damage: Option<(u64, &str)>) -> String {
    match damage {
        None => format!("{verdict} events={events} end={end}"),
        Some((offset, reason)) => {
            format!("{verdict} events={events} end={end} offset={offset} reason={reason}")
        }
    }
}

/// `pad8(n)` of section 2.
pub fn pad8(n: u64) -> u64 {
    (n + 7) & !7
}

/// The entry checksum of section 5: CRC-32 of `timestamp ‖ size ‖ payload` as stored.
pub fn entry_crc(timestamp: i64, size: u32, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&timestamp.to_le_bytes());
    h.update(&size.to_le_bytes());
    h.update(payload);
    h.finalize()
}

fn u64_at(bytes: &[u8], at: u64) -> u64 {
    let at = at as usize;
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

fn u32_at(bytes: &[u8], at: u64) -> u32 {
    let at = at as usize;
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// A valid entry: timestamp, payload and length.
struct Entry<'a> {
    timestamp: i64,
    payload: &'a [u8],
    length: u64,
}

/// Section 6.1: checks the entry at `p` against `write_offset = e`, in the spec's order, and returns it
/// or the reason of the first check that fails.
fn check_entry(bytes: &[u8], p: u64, e: u64) -> Result<Entry<'_>, &'static str> {
    let l = bytes.len() as u64;
    // 1. The entry header must fit below write_offset.
    if p + ENTRY_HEADER_LEN > e {
        return Err("truncated");
    }
    // 2. ... and in the file.
    if p + ENTRY_HEADER_LEN > l {
        return Err("truncated");
    }
    let timestamp = u64_at(bytes, p) as i64;
    let size = u32_at(bytes, p + 8);
    let checksum = u32_at(bytes, p + 12);
    // 3. No use of `size` as a length before this check.
    if size > MAX_PAYLOAD {
        return Err("bad_header");
    }
    let length = pad8(ENTRY_HEADER_LEN + u64::from(size));
    // 4. The whole entry must fit below write_offset.
    if p + length > e {
        return Err("overrun");
    }
    // 5. ... and in the file.
    if p + length > l {
        return Err("truncated");
    }
    let payload_start = (p + ENTRY_HEADER_LEN) as usize;
    let payload_end = payload_start + size as usize;
    let payload = &bytes[payload_start..payload_end];
    // 6. Checksum.
    if entry_crc(timestamp, size, payload) != checksum {
        return Err("checksum");
    }
    // 7. Padding.
    if bytes[payload_end..(p + length) as usize]
        .iter()
        .any(|&b| b != 0)
    {
        return Err("bad_padding");
    }
    Ok(Entry {
        timestamp,
        payload,
        length,
    })
}

/// Decodes a whole journal file: the structural header check of section 3, then the content walk of
/// section 6.2.
pub fn decode(bytes: &[u8]) -> Decoded {
    let l = bytes.len() as u64;
    // Section 3, rule 1.
    if l < HEADER_LEN {
        return Decoded::NotAJournal;
    }
    let write_offset = u64_at(bytes, 0);
    let event_count = u64_at(bytes, 8);
    let start_timestamp = u64_at(bytes, 16) as i64;
    // Section 3, rules 2 to 4.
    if write_offset < HEADER_LEN
        || !write_offset.is_multiple_of(8)
        || write_offset > MAX_WRITE_OFFSET
    {
        return Decoded::NotAJournal;
    }
    let e = write_offset;
    let mut events = Vec::new();
    let mut offsets = Vec::new();
    let mut p = HEADER_LEN;
    let mut damage = None;
    // Section 6.2: `p = 24; while p < E and the entry at p is valid: emit it; p += length`.
    while p < e {
        match check_entry(bytes, p, e) {
            Ok(entry) => {
                events.push((entry.timestamp, entry.payload.to_vec()));
                offsets.push(p);
                p += entry.length;
            }
            Err(reason) => {
                damage = Some((p, reason));
                break;
            }
        }
    }
    Decoded::Journal(Journal {
        verdict: if damage.is_none() {
            Verdict::Intact
        } else {
            Verdict::Damaged
        },
        events,
        offsets,
        end: p,
        damage,
        write_offset,
        event_count,
        start_timestamp,
        file_len: l,
    })
}

/// Appends one entry (section 4) to `out`, which must end at a multiple of 8.
pub fn encode_entry(out: &mut Vec<u8>, timestamp: i64, payload: &[u8]) {
    assert_eq!(out.len() % 8, 0, "entries start at multiples of 8");
    let size = u32::try_from(payload.len()).expect("payload longer than u32::MAX");
    assert!(size <= MAX_PAYLOAD, "payload longer than MAX_PAYLOAD");
    out.extend_from_slice(&timestamp.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&entry_crc(timestamp, size, payload).to_le_bytes());
    out.extend_from_slice(payload);
    let padded = pad8(out.len() as u64) as usize;
    out.resize(padded, 0);
}

/// Encodes a complete, cleanly closed journal (section 7.4): the header with an exact `write_offset`
/// and `event_count`, then the entries, and nothing past `write_offset`.
pub fn encode(start_ts: i64, events: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        HEADER_LEN as usize
            + events
                .iter()
                .map(|(_, p)| pad8(ENTRY_HEADER_LEN + p.len() as u64) as usize)
                .sum::<usize>(),
    );
    out.extend_from_slice(&[0; HEADER_LEN as usize]);
    for (timestamp, payload) in events {
        encode_entry(&mut out, *timestamp, payload);
    }
    let write_offset = out.len() as u64;
    out[0..8].copy_from_slice(&write_offset.to_le_bytes());
    out[8..16].copy_from_slice(&(events.len() as u64).to_le_bytes());
    out[16..24].copy_from_slice(&start_ts.to_le_bytes());
    out
}

/// The bytes printed in FORMAT.md section 12.
pub const WORKED_EXAMPLE: [u8; 64] = [
    0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // write_offset = 64
    0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // event_count = 2
    0x00, 0x00, 0x2a, 0x36, 0xfe, 0x9c, 0x97, 0x17, // start_timestamp
    0x7b, 0x00, 0x2a, 0x36, 0xfe, 0x9c, 0x97, 0x17, // entry 0: timestamp
    0x05, 0x00, 0x00, 0x00, 0x72, 0x97, 0x59, 0xa2, // size 5, checksum
    0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00, 0x00, 0x00, // "hello", padding
    0xd7, 0x11, 0x2a, 0x36, 0xfe, 0x9c, 0x97, 0x17, // entry 1: timestamp
    0x00, 0x00, 0x00, 0x00, 0x1f, 0x5c, 0xf7, 0x29, // size 0, checksum
];

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000_000_000;

    fn example_events() -> Vec<(i64, Vec<u8>)> {
        vec![
            (1_700_000_000_000_000_123, b"hello".to_vec()),
            (1_700_000_000_000_004_567, Vec::new()),
        ]
    }

    #[test]
    fn crc_check_value_and_constants_of_section_5() {
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32fast::hash(&[0; 12]), 0x7BD5_C66F);
        assert_eq!(
            entry_crc(1_700_000_000_000_000_123, 5, b"hello"),
            0xA259_9772
        );
        assert_eq!(entry_crc(1_700_000_000_000_004_567, 0, b""), 0x29F7_5C1F);
    }

    #[test]
    fn worked_example_decodes_exactly() {
        let d = decode(&WORKED_EXAMPLE);
        assert_eq!(
            d,
            Decoded::Journal(Journal {
                verdict: Verdict::Intact,
                events: example_events(),
                offsets: vec![24, 48],
                end: 64,
                damage: None,
                write_offset: 64,
                event_count: 2,
                start_timestamp: T0,
                file_len: 64,
            })
        );
        assert_eq!(d.outcome(), "intact events=2 end=64");
    }

    #[test]
    fn worked_example_encodes_exactly() {
        assert_eq!(encode(T0, &example_events()), WORKED_EXAMPLE.to_vec());
    }

    #[test]
    fn pad8_rounds_up_to_multiples_of_8() {
        let got: Vec<u64> = [0, 1, 7, 8, 9, 16, 21, 23, 24].map(pad8).to_vec();
        assert_eq!(got, vec![0, 8, 8, 8, 16, 16, 24, 24, 24]);
    }

    #[test]
    fn empty_journal_is_the_header_alone() {
        let bytes = encode(-5, &[]);
        let mut want = Vec::new();
        want.extend_from_slice(&24u64.to_le_bytes());
        want.extend_from_slice(&0u64.to_le_bytes());
        want.extend_from_slice(&(-5i64).to_le_bytes());
        assert_eq!(bytes, want);
        assert_eq!(decode(&bytes).outcome(), "intact events=0 end=24");
    }

    #[test]
    fn header_structural_checks_of_section_3() {
        let with_offset = |wo: u64, len: usize| {
            let mut b = vec![0u8; len];
            b[0..8].copy_from_slice(&wo.to_le_bytes());
            decode(&b)
        };
        assert_eq!(decode(&[]), Decoded::NotAJournal);
        assert_eq!(decode(&encode(0, &[])[..23]), Decoded::NotAJournal);
        assert_eq!(with_offset(0, 24), Decoded::NotAJournal);
        assert_eq!(with_offset(16, 24), Decoded::NotAJournal);
        assert_eq!(with_offset(28, 32), Decoded::NotAJournal);
        assert_eq!(with_offset(MAX_WRITE_OFFSET + 8, 24), Decoded::NotAJournal);
        assert_eq!(decode(b"ABCDEFGHijklmnopqrstuvwx"), Decoded::NotAJournal);
        // 2^48 itself is structurally valid; the file ends before the first entry header.
        assert_eq!(
            with_offset(MAX_WRITE_OFFSET, 24).outcome(),
            "damaged events=0 end=24 offset=24 reason=truncated"
        );
        // write_offset past the file length is damage, not "not a journal".
        assert_eq!(
            with_offset(48, 24).outcome(),
            "damaged events=0 end=24 offset=24 reason=truncated"
        );
    }

    /// A journal of `events` with its header's write_offset replaced by `wo`.
    fn with_write_offset(events: &[(i64, Vec<u8>)], wo: u64) -> Vec<u8> {
        let mut b = encode(T0, events);
        b[0..8].copy_from_slice(&wo.to_le_bytes());
        b
    }

    #[test]
    fn each_check_of_section_6_1_names_its_reason() {
        let one = vec![(7, b"abc".to_vec())]; // one 24-byte entry at 24, ending at 48
                                              // 1: the entry header does not fit below write_offset.
        assert_eq!(
            decode(&with_write_offset(&one, 32)).outcome(),
            "damaged events=0 end=24 offset=24 reason=truncated"
        );
        // 2: the file ends inside the entry header.
        assert_eq!(
            decode(&encode(T0, &one)[..39]).outcome(),
            "damaged events=0 end=24 offset=24 reason=truncated"
        );
        // 3: size > MAX_PAYLOAD.
        let mut b = encode(T0, &one);
        b[32..36].copy_from_slice(&(MAX_PAYLOAD + 1).to_le_bytes());
        assert_eq!(
            decode(&b).outcome(),
            "damaged events=0 end=24 offset=24 reason=bad_header"
        );
        // 4: the entry runs past write_offset (the file holds all of it).
        let mut b = encode(T0, &one);
        b[0..8].copy_from_slice(&40u64.to_le_bytes());
        assert_eq!(
            decode(&b).outcome(),
            "damaged events=0 end=24 offset=24 reason=overrun"
        );
        // 5: the file ends inside the entry.
        assert_eq!(
            decode(&encode(T0, &one)[..47]).outcome(),
            "damaged events=0 end=24 offset=24 reason=truncated"
        );
        // 6: checksum.
        let mut b = encode(T0, &one);
        b[40] ^= 1;
        assert_eq!(
            decode(&b).outcome(),
            "damaged events=0 end=24 offset=24 reason=checksum"
        );
        // 7: padding.
        let mut b = encode(T0, &one);
        b[47] = 0x80;
        assert_eq!(
            decode(&b).outcome(),
            "damaged events=0 end=24 offset=24 reason=bad_padding"
        );
    }

    #[test]
    fn bytes_at_and_past_write_offset_are_ignored() {
        let two = vec![(1, b"one".to_vec()), (2, b"two".to_vec())];
        // Cut the header back to the first entry: the second, valid, entry is past write_offset.
        let d = decode(&with_write_offset(&two, 48));
        assert_eq!(d.outcome(), "intact events=1 end=48");
        assert_eq!(d.journal().events, vec![(1, b"one".to_vec())]);
        // A preallocated zero tail.
        let mut b = encode(T0, &two);
        b.resize(4096, 0);
        let d = decode(&b);
        assert_eq!(d.outcome(), "intact events=2 end=72");
        assert_eq!(d.journal().events, two);
        assert_eq!(d.journal().file_len, 4096);
    }

    #[test]
    fn event_count_is_only_a_hint() {
        let mut b = encode(T0, &[(1, vec![1]), (2, vec![2])]);
        b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        let d = decode(&b);
        assert_eq!(d.outcome(), "intact events=2 end=72");
        assert_eq!(d.journal().event_count, u64::MAX);
    }

    #[test]
    fn zero_filled_entries_fail_the_checksum() {
        let mut b = encode(T0, &[(1, vec![9; 10])]);
        let end = b.len() as u64;
        b.resize(b.len() + 64, 0);
        b[0..8].copy_from_slice(&(end + 64).to_le_bytes());
        assert_eq!(
            decode(&b).outcome(),
            format!("damaged events=1 end={end} offset={end} reason=checksum")
        );
    }

    #[test]
    fn round_trip_of_every_padding_amount() {
        let events: Vec<(i64, Vec<u8>)> = (0..=17u8)
            .map(|n| (i64::from(n) - 3, (0..n).collect()))
            .collect();
        let bytes = encode(i64::MIN, &events);
        let d = decode(&bytes);
        let j = d.journal();
        assert_eq!(j.verdict, Verdict::Intact);
        assert_eq!(j.events, events);
        assert_eq!(j.end, bytes.len() as u64);
        assert_eq!(j.event_count, 18);
        assert_eq!(j.start_timestamp, i64::MIN);
        let mut want_offsets = Vec::new();
        let mut p = 24;
        for (_, payload) in &events {
            want_offsets.push(p);
            p += pad8(16 + payload.len() as u64);
        }
        assert_eq!(j.offsets, want_offsets);
    }
}

/// An independent reader of the shared-memory ring, version 2, written from `spec/RING.md` alone;
/// section numbers in comments refer to RING.md. It decodes a whole ring file held in memory into
/// the outcome line of `spec/vectors/ring/expected.txt`: what a consumer attaching at
/// `consumer_position` reads in one unlimited read, and where an attaching producer starts. The
/// wake-up words of section 5.1 (bytes 640..648 and 768..776) play no part in either, so it never
/// reads them (`sleepers_left_in_the_wake_words.ring` has them set).
pub mod ring {
    use super::MAX_PAYLOAD;

    const HEADER_LEN: usize = 4096;

    fn checked_le64(bytes: &[u8], at: usize) -> Option<u64> {
        Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
    }

    fn checked_le32(bytes: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    }

    /// A commit word's meaning at position `pos` (section 3): `Ok(None)` for 0, else the kind and
    /// the record's length after checking it; `Err` if corrupt.
    fn record_at(area: &[u8], cap: u64, pos: u64) -> Result<Option<(u64, u64)>, ()> {
        let off = (pos % cap) as usize;
        let room = cap - pos % cap;
        let word = checked_le64(area, off).ok_or(())?;
        if word == 0 {
            return Ok(None);
        }
        let kind = word & 7;
        if word - kind != pos || !(1..=4).contains(&kind) {
            return Err(());
        }
        let len = match kind {
            2 => room,
            _ => {
                if room < 24 {
                    return Err(());
                }
                let size = checked_le32(area, off + 16).ok_or(())?;
                if kind == 3 {
                    if size != 0 {
                        return Err(());
                    }
                    24
                } else {
                    let len = 8 + (16 + size as u64).div_ceil(8) * 8;
                    if size > MAX_PAYLOAD || len > cap / 2 {
                        return Err(());
                    }
                    len
                }
            }
        };
        if len > room {
            return Err(());
        }
        Ok(Some((kind, len)))
    }

    /// The outcome line for the ring file `bytes`.
    pub fn outcome(bytes: &[u8]) -> String {
        // Section 2: the static header, checked in order.
        if bytes.len() < HEADER_LEN {
            return "not_a_ring field=file_size".into();
        }
        let field = if &bytes[0..8] != b"JRNLRING" {
            Some("magic")
        } else if checked_le32(bytes, 8) != Some(2) {
            Some("version")
        } else if checked_le32(bytes, 12) != Some(4096) {
            Some("header_len")
        } else {
            let cap = checked_le64(bytes, 16).unwrap_or(0);
            if !cap.is_power_of_two() || !(4096..=1 << 40).contains(&cap) {
                Some("capacity")
            } else if bytes.len() as u64 != 4096 + cap {
                Some("file_size")
            } else {
                None
            }
        };
        if let Some(field) = field {
            return format!("not_a_ring field={field}");
        }
        let cap = checked_le64(bytes, 16).unwrap();
        let area = &bytes[HEADER_LEN..];
        let p = checked_le64(bytes, 128).unwrap();
        let c = checked_le64(bytes, 256).unwrap();

        // Section 5: the consumer, one read without a limit.
        let (consumer, records, at) = if !c.is_multiple_of(8) || c > 1 << 63 {
            ("corrupt", 0, c)
        } else {
            let (mut pos, mut records) = (c, 0u64);
            let verdict = loop {
                match record_at(area, cap, pos) {
                    Ok(None) => break "empty",
                    Err(()) => break "corrupt",
                    Ok(Some((kind, len))) => {
                        if pos + len + 8 > c + cap {
                            break "corrupt";
                        }
                        pos += len;
                        match kind {
                            // A data record, with or without checksum (section 3.1).
                            1 | 4 => records += 1,
                            3 => break "end_of_stream",
                            _ => {}
                        }
                    }
                }
            };
            (verdict, records, pos)
        };

        // Section 7.2: the producer's attach checks, then the walk to the committed end.
        let producer = if !p.is_multiple_of(8)
            || p > 1 << 63
            || !c.is_multiple_of(8)
            || c > p + cap
            || p + 8 > c + cap
        {
            "corrupt".to_string()
        } else {
            let mut q = p.max(c);
            loop {
                if q + 8 > c + cap {
                    break "corrupt".to_string();
                }
                match record_at(area, cap, q) {
                    Ok(None) => break q.to_string(),
                    Ok(Some((_, len))) => q += len,
                    Err(()) => break "corrupt".to_string(),
                }
            }
        };
        format!("ring consumer={consumer} records={records} at={at} producer={producer}")
    }
}

/// An independent reader of a journal's wake-up file, written from `spec/FORMAT.md` 15 alone: the
/// outcome line of `spec/vectors/wake/expected.txt`.
pub mod wake {
    /// `usable version=.. flags=.. seq=.. sleeping=.. wakes=..` or `unusable` (15.1, 15.2).
    pub fn outcome(bytes: &[u8]) -> String {
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        if bytes.len() < 32 || &bytes[..8] != b"JRNLWAKE" || u32_at(8) != 1 {
            return "unusable".into();
        }
        let mut wakes = 0u64;
        for (i, b) in bytes[24..32].iter().enumerate() {
            wakes |= u64::from(*b) << (8 * i);
        }
        format!(
            "usable version=1 flags={} seq={} sleeping={} wakes={wakes}",
            u32_at(12),
            u32_at(16),
            u32_at(20)
        )
    }
}
