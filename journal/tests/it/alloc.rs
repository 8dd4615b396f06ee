//! The zero-allocation rule: append, claim/commit and the tailer's poll allocate nothing.

use journal::{Reader, SyncPolicy};

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
