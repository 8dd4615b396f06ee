//! The read-only commands under an address-space limit (`ulimit -v`): a reader maps what the
//! journal holds, not a fixed reservation (FORMAT.md 10).

mod common;

use std::process::Command;

use common::{s, Run, BIN};

/// Runs the binary with `args` under `ulimit -v` of 4 GiB.
fn run_limited(args: &[&str]) -> Run {
    Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" \"$@\"")
        .arg(BIN)
        .args(args)
        .output()
        .unwrap()
        .into()
}

#[test]
fn verify_dump_and_info_work_under_a_4_gib_address_space_limit() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.journal");
    let mut w = journal::Writer::create(&small).unwrap();
    for i in 0..3 {
        w.append(i, format!("event {i}").as_bytes()).unwrap();
    }
    w.close().unwrap();
    // The same content with a 2 TiB sparse tail (`truncate -s 2T`).
    let sparse = dir.path().join("sparse.journal");
    std::fs::copy(&small, &sparse).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&sparse)
        .unwrap()
        .set_len(2 << 40)
        .unwrap();
    for path in [&small, &sparse] {
        for cmd in ["verify", "dump", "info"] {
            let r = run_limited(&[cmd, s(path)]);
            assert_eq!(r.code, 0, "{cmd} {}: {r:?}", path.display());
            assert!(!r.stderr.contains("mmap"), "{cmd}: {r:?}");
        }
        let r = run_limited(&["dump", s(path)]);
        assert!(r.stdout.contains("event 2"), "{r:?}");
    }
}
