//! The body of the `index_decoder` fuzz target, shared with the corpus replay in `cargo test`
//! (fuzz/fuzz_targets/index_decoder.rs includes this file): arbitrary bytes as a journal's index
//! file (spec/INDEX.md). Decoding never panics and re-encodes to the same bytes; loading it beside a
//! fixed journal never panics; and once a full check accepts it, seeks through it give exactly what
//! a linear scan gives.

use std::path::{Path, PathBuf};

use journal::index::{self, Index, Verdict, INDEX_HEADER_LEN, INDEX_RECORD_LEN};
use journal::{Reader, Writer};

/// Start of the fixed journal (FORMAT.md 12).
pub const T0: i64 = 1_700_000_000_000_000_000;

/// The events of the fixed journal: 40 events, payloads of 0..40 bytes, timestamps that go
/// backwards now and then (FORMAT.md 6.4) and repeat.
pub fn fixed_events() -> Vec<(i64, Vec<u8>)> {
    (0..40u64)
        .map(|i| {
            let ts = T0 + (i as i64 % 7) * 100 - (i as i64 / 7) * 30 + i as i64 * 50;
            (ts, vec![i as u8; (i * 7 % 41) as usize])
        })
        .collect()
}

/// Creates `dir/fixed.journal` (unless it exists) and returns its path.
pub fn fixed_journal(dir: &Path) -> PathBuf {
    let path = dir.join("fixed.journal");
    if !path.exists() {
        let tmp = dir.join("fixed.journal.new");
        let _ = std::fs::remove_file(&tmp);
        let mut w = Writer::options()
            .chunk_size(4096)
            .start_timestamp(T0)
            .create(&tmp)
            .unwrap();
        for (ts, p) in fixed_events() {
            w.append(ts, &p).unwrap();
        }
        w.close().unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

/// The queries the harness asks: every event index and one past, every timestamp and its
/// neighbours, and the extremes.
fn queries() -> (Vec<u64>, Vec<i64>) {
    let ev = fixed_events();
    let ns = (0..=ev.len() as u64 + 1).collect();
    let mut ts: Vec<i64> = ev.iter().flat_map(|(t, _)| [t - 1, *t, t + 1]).collect();
    ts.extend([i64::MIN, i64::MAX]);
    (ns, ts)
}

fn at(r: journal::Result<journal::Iter<'_>>) -> Result<(u64, u64), String> {
    r.map(|it| (it.index(), it.offset()))
        .map_err(|e| e.to_string())
}

/// The fuzz body, with the fixed journal kept in `dir`.
pub fn index_bytes_in(dir: &Path, data: &[u8]) {
    if let Ok(idx) = Index::decode(data) {
        let need = (INDEX_HEADER_LEN + INDEX_RECORD_LEN * idx.records().len() as u64) as usize;
        assert_eq!(
            idx.encode(),
            &data[..need],
            "decode then encode changed the bytes"
        );
    }
    let journal = fixed_journal(dir);
    std::fs::write(index::index_path(&journal), data).unwrap();
    let r = Reader::open(&journal).unwrap();
    let Ok(idx) = Index::load(&r) else {
        return;
    };
    let (ns, ts) = queries();
    // Whatever a loaded index says, the seeks return or refuse without panicking.
    for &n in &ns {
        let _ = idx.seek_index(&r, n);
        let _ = at(index::iter_from_index(&r, Some(&idx), n));
    }
    for &t in &ts {
        let _ = idx.seek_time(&r, t);
        let _ = at(index::iter_from_time(&r, Some(&idx), t));
    }
    let verdict = index::check(&r, &idx).unwrap();
    if matches!(verdict, Verdict::Current { .. } | Verdict::Stale { .. }) {
        for &n in &ns {
            assert_eq!(
                at(index::iter_from_index(&r, Some(&idx), n)),
                at(r.iter_from_index(n)),
                "seek to event {n} through a checked index"
            );
        }
        for &t in &ts {
            assert_eq!(
                at(index::iter_from_time(&r, Some(&idx), t)),
                at(r.iter_from_time(t)),
                "seek to time {t} through a checked index"
            );
        }
    }
}

/// The fuzz body: the fixed journal lives in a directory of this process under the temp dir.
#[allow(dead_code)] // reason: the fuzz target's entry point; the tests use index_bytes_in
pub fn index_bytes(data: &[u8]) {
    thread_local! {
        static DIR: PathBuf = {
            let d = std::env::temp_dir().join(format!(
                "journal-index-fuzz-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&d).unwrap();
            d
        };
    }
    DIR.with(|d| index_bytes_in(d, data));
}
