//! An independent decoder of cursor files, version 1, written from `spec/CURSOR.md` alone (not from
//! the library's source). Section numbers refer to CURSOR.md.

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// A decoded cursor (section 4): `kind` 1 (journal file) or 2 (set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cur {
    pub kind: u32,
    pub start: i64,
    pub position: u64,
}

/// Section 5: the checks in order on the whole file; the fault's name on failure.
pub fn decode(file: &[u8]) -> Result<Cur, &'static str> {
    if file.len() < 64 {
        return Err("truncated");
    }
    if &file[0..8] != b"JRNL.CUR" {
        return Err("bad_magic");
    }
    if u32_at(file, 8) != 1 {
        return Err("unsupported_version");
    }
    if u32_at(file, 28) != crc32fast::hash(&file[0..28]) {
        return Err("header_checksum");
    }
    let kind = u32_at(file, 12);
    let start = u64_at(file, 16) as i64;
    if file.len() > 64
        || !(kind == 1 || kind == 2)
        || u32_at(file, 24) != 0
        || file[40..64].iter().any(|&b| b != 0)
        || (kind == 2 && start != 0)
    {
        return Err("bad_header");
    }
    Ok(Cur {
        kind,
        start,
        position: u64_at(file, 32),
    })
}

/// Section 6.1 against a journal file created at `start` (`set == false`) or a set.
pub fn matches(c: &Cur, set: bool, start: i64) -> &'static str {
    let ok = if set {
        c.kind == 2
    } else {
        c.kind == 1 && c.start == start
    };
    if ok {
        "ok"
    } else {
        "other_journal"
    }
}

/// Section 6.2 against a journal whose content holds `events` events.
pub fn resume(c: &Cur, events: u64) -> &'static str {
    if c.position <= events {
        "ok"
    } else {
        "ahead"
    }
}

/// Section 4: a cursor file (`kind` 1 or 2).
pub fn encode(kind: u32, start: i64, position: u64) -> Vec<u8> {
    let mut b = Vec::with_capacity(64);
    b.extend_from_slice(b"JRNL.CUR");
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&start.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b.extend_from_slice(&position.to_le_bytes());
    b.resize(64, 0);
    b
}

#[test]
fn the_worked_example_of_section_12() {
    let b = encode(1, 1_700_000_000_000_000_000, 5);
    let hex: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    assert_eq!(hex[0..8].join(" "), "4a 52 4e 4c 2e 43 55 52");
    assert_eq!(hex[8..16].join(" "), "01 00 00 00 01 00 00 00");
    assert_eq!(hex[16..24].join(" "), "00 00 2a 36 fe 9c 97 17");
    assert_eq!(hex[24..32].join(" "), "00 00 00 00 52 46 fb 42");
    assert_eq!(hex[32..40].join(" "), "05 00 00 00 00 00 00 00");
    assert!(b[40..].iter().all(|&x| x == 0));
    assert_eq!(
        decode(&b),
        Ok(Cur {
            kind: 1,
            start: 1_700_000_000_000_000_000,
            position: 5
        })
    );
}
