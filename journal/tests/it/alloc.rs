//! The zero-allocation rule: append, claim/commit and the tailer's poll allocate nothing.

use journal::set::RollPolicy;
use journal::{Reader, SetWriterOptions, SyncPolicy};

use crate::support::{count_allocs, small_opts, TempDir};

#[test]
fn append_claim_and_poll_do_not_allocate() {
    let dir = TempDir::new("alloc");
    let path = dir.join("j");
    let payload = [0x5Au8; 300];
    for policy in [SyncPolicy::Never, SyncPolicy::EveryEvents(100)] {
        let _ = std::fs::remove_file(&path);
        let mut w = small_opts().sync_policy(policy).create(&path).unwrap();
        let r = Reader::open(&path).unwrap();
        let mut t = r.tail();
        // 4 KiB chunks: the measured loop also crosses many growth points.
        let ((), allocs, _) = count_allocs(|| {
            for i in 0..2_000i64 {
                w.append(i, &payload).unwrap();
                let mut c = w.claim(64).unwrap();
                c.as_mut_slice().fill(i as u8);
                c.commit_len(i, 40).unwrap();
                let a = t.poll().unwrap().unwrap();
                let b = t.poll().unwrap().unwrap();
                assert_eq!((a.payload.len(), b.payload.len()), (300, 40));
                assert!(t.poll().unwrap().is_none());
            }
            w.pretouch().unwrap();
        });
        assert_eq!(
            allocs, 0,
            "{policy:?}: the hot path allocated {allocs} times"
        );
        assert_eq!(w.events(), 4_000);
    }
}

#[test]
fn set_writer_append_and_claim_do_not_allocate_between_rolls() {
    let dir = TempDir::new("alloc-set");
    // Both roll checks armed (hourly cycles, 1 GiB), neither reached: the non-roll path.
    let mut w = SetWriterOptions::new()
        .roll(RollPolicy {
            period_ns: 3_600_000_000_000,
            offset_ns: 0,
            max_bytes: 1 << 30,
        })
        .segment_options(small_opts())
        .create(dir.join("set"))
        .unwrap();
    let payload = [0x5Au8; 300];
    let t0 = 1_700_000_000_000_000_000i64 - 1_700_000_000_000_000_000 % 3_600_000_000_000;
    w.append(t0, b"first").unwrap(); // sets the segment's cycle
    w.pretouch().unwrap();
    let ((), allocs, _) = count_allocs(|| {
        for i in 1..2_000i64 {
            w.append(t0 + i, &payload).unwrap();
            let mut c = w.claim(64).unwrap();
            c.as_mut_slice().fill(i as u8);
            c.commit_len(t0 + i, 40).unwrap();
        }
    });
    assert_eq!(allocs, 0, "the set's hot path allocated {allocs} times");
    assert_eq!(w.events(), 3_999);
    assert_eq!(w.segment_first_index(), 0);
}
