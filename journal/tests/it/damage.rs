//! Damage: truncation at every byte, single-bit flips, hostile sizes.

use journal::{entry_len, DamageReason, Error, Reader, WriterOptions, MAX_PAYLOAD};

use crate::support::{count_allocs, small_opts, TempDir};

/// A small journal and the offsets where its entries start (plus the end).
fn small_journal(dir: &TempDir) -> (Vec<u8>, Vec<u64>) {
    let path = dir.join("base");
    let mut w = small_opts().create(&path).unwrap();
    let sizes = [0usize, 1, 13, 100, 7, 8, 9];
    let mut bounds = vec![24u64];
    for (i, n) in sizes.iter().enumerate() {
        w.append(i as i64 - 3, &vec![0xA0 | i as u8; *n]).unwrap();
        bounds.push(bounds.last().unwrap() + entry_len(*n as u32));
    }
    w.close().unwrap();
    (std::fs::read(&path).unwrap(), bounds)
}

#[test]
fn truncation_at_every_byte_yields_longest_valid_prefix() {
    let dir = TempDir::new("trunc");
    let (bytes, bounds) = small_journal(&dir);
    let full = *bounds.last().unwrap();
    assert_eq!(bytes.len() as u64, full);
    let path = dir.join("cut");
    for cut in 0..=bytes.len() {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let cut = cut as u64;
        if cut < 24 {
            assert!(
                matches!(Reader::open(&path), Err(Error::NotAJournal { .. })),
                "cut {cut}"
            );
            assert!(matches!(
                small_opts().open(&path),
                Err(Error::NotAJournal { .. })
            ));
            continue;
        }
        let whole = bounds.iter().filter(|&&b| b <= cut).count() as u64 - 1;
        let end = bounds[whole as usize];
        let rep = Reader::open(&path).unwrap().verify().unwrap();
        assert_eq!((rep.events, rep.end), (whole, end), "cut {cut}");
        if cut == full {
            assert_eq!(rep.damage, None);
        } else {
            let d = rep.damage.expect("a cut journal is damaged");
            assert_eq!(
                (d.offset, d.reason),
                (end, DamageReason::Truncated),
                "cut {cut}"
            );
        }
        // Iteration yields exactly the prefix, then the damage.
        let r = Reader::open(&path).unwrap();
        let items: Vec<_> = r.iter().collect();
        assert_eq!(items.iter().filter(|i| i.is_ok()).count() as u64, whole);
        assert_eq!(items.iter().any(|i| i.is_err()), cut != full);
        // Recovery keeps exactly that prefix and appends after it.
        let mut w = small_opts().open(&path).unwrap();
        assert_eq!((w.events(), w.write_offset()), (whole, end), "cut {cut}");
        w.append(99, b"z").unwrap();
        w.close().unwrap();
        let rep = Reader::open(&path).unwrap().verify().unwrap();
        assert!(rep.is_intact());
        assert_eq!(rep.events, whole + 1);
        assert_eq!(
            std::fs::read(&path).unwrap()[24..end as usize],
            bytes[24..end as usize],
            "recovery changed a valid event (cut {cut})"
        );
    }
}

#[test]
fn every_header_bit_flip_and_sampled_payload_flips_are_detected() {
    let dir = TempDir::new("flip");
    let (bytes, bounds) = small_journal(&dir);
    let path = dir.join("flipped");
    let mut checked = 0;
    for k in 0..bounds.len() - 1 {
        let (start, end) = (bounds[k] as usize, bounds[k + 1] as usize);
        let mut bits: Vec<usize> = (start * 8..(start + 16) * 8).collect();
        // Payload and padding bits: every 7th bit.
        bits.extend(((start + 16) * 8..end * 8).step_by(7));
        for bit in bits {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            std::fs::write(&path, &b).unwrap();
            let rep = Reader::open(&path).unwrap().verify().unwrap();
            let d = rep
                .damage
                .unwrap_or_else(|| panic!("flip of bit {bit} (entry {k}) undetected"));
            assert_eq!(
                (d.offset, rep.events),
                (start as u64, k as u64),
                "bit {bit}"
            );
            checked += 1;
        }
    }
    assert!(checked > 7 * 128, "checked {checked} flips");
}

#[test]
fn hostile_size_causes_no_large_allocation_or_out_of_bounds_read() {
    let dir = TempDir::new("hostile");
    let path = dir.join("j");
    let mut w = WriterOptions::new().create(&path).unwrap();
    w.append(1, b"good").unwrap();
    w.append(2, b"victim").unwrap();
    w.close().unwrap();
    let good = std::fs::read(&path).unwrap();
    for (size, reason) in [
        (u32::MAX, DamageReason::BadHeader),
        (MAX_PAYLOAD + 1, DamageReason::BadHeader),
        (MAX_PAYLOAD, DamageReason::Overrun),
        (4096, DamageReason::Overrun),
    ] {
        let mut b = good.clone();
        b[48 + 8..48 + 12].copy_from_slice(&size.to_le_bytes());
        std::fs::write(&path, &b).unwrap();
        let r = Reader::open(&path).unwrap();
        let ((rep, items, tail), _allocs, largest) = count_allocs(|| {
            let rep = r.verify().unwrap();
            let items: Vec<bool> = r.iter().map(|e| e.is_ok()).collect();
            let mut t = r.tail();
            let tail = (t.poll().unwrap().is_some(), t.poll().is_err());
            (rep, items, tail)
        });
        let d = rep.damage.unwrap();
        assert_eq!(
            (rep.events, d.offset, d.reason),
            (1, 48, reason),
            "size {size:#x}"
        );
        assert_eq!(items, vec![true, false]);
        assert_eq!(tail, (true, true));
        assert!(
            largest < 4096,
            "size {size:#x}: an allocation of {largest} bytes"
        );
        // Recovery cuts it and keeps the good event.
        let w = small_opts().open(&path).unwrap();
        assert_eq!(w.events(), 1);
        drop(w);
    }
}
