//! The entry checksum alone (FORMAT.md 5: CRC-32 of `timestamp ‖ size ‖ payload`), over the 12
//! header bytes plus 64 B, 256 B and 1 KiB of payload:
//!
//! - `crc/crc32fast`: `crc32fast::Hasher` with two `update` calls (the header bytes, then the
//!   payload), as the library computed it before;
//! - `crc/journal`: `journal::format::checksum`, the library's one-pass CRC (carry-less
//!   multiplication where the CPU has it, `crc32fast` otherwise).
#![allow(missing_docs)] // reason: criterion_group!/criterion_main! generate undocumented items

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use journal_benches::{payload, SIZES};

fn crc32fast_two_calls(timestamp: i64, payload: &[u8]) -> u32 {
    let mut head = [0u8; 12];
    head[..8].copy_from_slice(&timestamp.to_le_bytes());
    head[8..].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&head);
    h.update(payload);
    h.finalize()
}

fn crc(c: &mut Criterion) {
    let mut g = c.benchmark_group("crc");
    for size in SIZES {
        let data = payload(size);
        assert_eq!(
            journal::format::checksum(7, &data),
            crc32fast_two_calls(7, &data),
            "the two contenders disagree at {size} B"
        );
        g.throughput(Throughput::Bytes(12 + size as u64));
        let label = format!("12+{size}");
        g.bench_with_input(BenchmarkId::new("crc32fast", &label), &data, |b, data| {
            let mut ts = 0i64;
            b.iter(|| {
                ts += 1;
                crc32fast_two_calls(black_box(ts), black_box(data))
            })
        });
        g.bench_with_input(BenchmarkId::new("journal", &label), &data, |b, data| {
            let mut ts = 0i64;
            b.iter(|| {
                ts += 1;
                journal::format::checksum(black_box(ts), black_box(data))
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = journal_benches::criterion();
    targets = crc
}
criterion_main!(benches);
