//! The sparse index (spec/INDEX.md): seeks through it give exactly what a linear scan gives, with a
//! correct index, with none, and with one that is deleted, truncated, bit-flipped, another journal's
//! or stale; the library agrees with an independent decoder written from INDEX.md on the vectors and
//! on random journals; and the committed fuzz corpus replays.

mod harness;
mod spec_idx;

use std::path::{Path, PathBuf};

use journal::index::{self, Index, IndexFault, Intervals, Verdict};
use journal::{Reader, Writer, WriterOptions};

use crate::support::{Rng, TempDir};

/// 2023-11-14T22:13:20Z (FORMAT.md 12).
const T0: i64 = 1_700_000_000_000_000_000;

/// `n` events with random payloads (0..200 bytes) and timestamps that wander, often backwards,
/// sometimes far back, sometimes repeating (FORMAT.md 6.4).
fn random_events(rng: &mut Rng, n: u64) -> Vec<(i64, Vec<u8>)> {
    let mut t = T0;
    (0..n)
        .map(|_| {
            t += match rng.below(10) {
                0 => -(rng.below(50_000) as i64),
                1 | 2 => 0,
                3..=5 => -(rng.below(1_000) as i64),
                _ => rng.below(3_000) as i64,
            };
            let len = if rng.below(4) == 0 {
                0
            } else {
                rng.below(200) as usize
            };
            let payload = (0..len).map(|_| rng.next() as u8).collect();
            (t, payload)
        })
        .collect()
}

/// Events as (timestamp, payload).
type Events = Vec<(i64, Vec<u8>)>;

fn append_all(w: &mut Writer, events: &[(i64, Vec<u8>)]) {
    for (ts, p) in events {
        w.append(*ts, p).unwrap();
    }
}

fn write_journal(path: &Path, start: i64, events: &[(i64, Vec<u8>)]) {
    let mut w = Writer::options()
        .chunk_size(4096)
        .start_timestamp(start)
        .create(path)
        .unwrap();
    append_all(&mut w, events);
    w.close().unwrap();
}

fn random_intervals(rng: &mut Rng) -> Intervals {
    Intervals {
        bytes: 16 + rng.below(2048),
        events: 1 + rng.below(24),
    }
}

type At = Result<(u64, u64, Option<Result<(u64, u64, i64), String>>), String>;

/// Where an iterator stands and the first event it yields.
fn at(r: journal::Result<journal::Iter<'_>>) -> At {
    let mut it = r.map_err(|e| e.to_string())?;
    let (index, offset) = (it.index(), it.offset());
    let first = it.next().map(|e| {
        e.map(|e| (e.index, e.offset, e.timestamp))
            .map_err(|e| e.to_string())
    });
    Ok((index, offset, first))
}

/// `count` random seeks by index and by time through `idx` give what a linear scan gives.
fn assert_seeks_match(r: &Reader, idx: Option<&Index>, rng: &mut Rng, count: u64, what: &str) {
    let stamps: Vec<i64> = r.iter().map(|e| e.unwrap().timestamp).collect();
    let n_events = stamps.len() as u64;
    for q in 0..count {
        if q % 2 == 0 {
            let n = rng.below(n_events + 3);
            let linear = at(index::iter_from_index(r, None, n));
            assert_eq!(
                at(index::iter_from_index(r, idx, n)),
                linear,
                "{what}: seek to event {n}"
            );
            assert_eq!(
                at(r.iter_from_index(n)),
                linear,
                "{what}: Reader seek to event {n}"
            );
        } else {
            let t = match rng.below(4) {
                0 if !stamps.is_empty() => stamps[rng.below(n_events) as usize],
                1 if !stamps.is_empty() => {
                    stamps[rng.below(n_events) as usize] + rng.below(3) as i64 - 1
                }
                2 => [i64::MIN, i64::MAX, T0][rng.below(3) as usize],
                _ => T0 - 60_000 + rng.below(n_events * 2_000 + 120_000) as i64,
            };
            let linear = at(index::iter_from_time(r, None, t));
            assert_eq!(
                at(index::iter_from_time(r, idx, t)),
                linear,
                "{what}: seek to time {t}"
            );
            assert_eq!(
                at(r.iter_from_time(t)),
                linear,
                "{what}: Reader seek to time {t}"
            );
        }
    }
}

/// A journal of random events at `dir/name` with its index built with random intervals.
fn indexed_journal(dir: &TempDir, name: &str, rng: &mut Rng, n: u64) -> (PathBuf, Intervals) {
    let path = dir.join(name);
    write_journal(
        &path,
        T0 + rng.below(1_000_000) as i64,
        &random_events(rng, n),
    );
    let iv = random_intervals(rng);
    index::build_with(&path, iv).unwrap();
    (path, iv)
}

#[test]
fn seeks_with_a_correct_index_no_index_and_a_deleted_one_match_a_linear_scan() {
    let dir = TempDir::new("index-correct");
    for seed in 0..4 {
        let mut rng = Rng(seed);
        let n = 300 + rng.below(700);
        let (path, _) = indexed_journal(&dir, &format!("j{seed}.journal"), &mut rng, n);
        let r = Reader::open(&path).unwrap();
        let idx = Index::load(&r).unwrap();
        assert!(idx.records().len() > 1, "the test needs several records");
        assert_eq!(
            index::check(&r, &idx).unwrap(),
            Verdict::Current {
                records: idx.records().len() as u64,
                events: n
            }
        );
        assert_seeks_match(&r, Some(&idx), &mut rng, 1200, "correct index");
        assert_seeks_match(&r, None, &mut rng, 1000, "no index");
        std::fs::remove_file(index::index_path(&path)).unwrap();
        let loaded = Index::load(&r);
        assert_eq!(loaded, Err(IndexFault::Missing));
        assert_seeks_match(&r, loaded.as_ref().ok(), &mut rng, 1000, "deleted index");
    }
}

#[test]
fn truncated_and_bit_flipped_indexes_are_refused_and_seeks_still_match() {
    let dir = TempDir::new("index-damaged");
    let mut rng = Rng(42);
    let (path, _) = indexed_journal(&dir, "j.journal", &mut rng, 150);
    let idx_path = index::index_path(&path);
    let good = std::fs::read(&idx_path).unwrap();
    let r = Reader::open(&path).unwrap();
    let mut queries = 0;
    for len in 0..good.len() {
        std::fs::write(&idx_path, &good[..len]).unwrap();
        let loaded = Index::load(&r);
        assert!(
            matches!(loaded, Err(IndexFault::Truncated { .. })),
            "cut at {len}: {loaded:?}"
        );
        assert!(matches!(
            index::check_file(&r).unwrap(),
            Verdict::Unusable(IndexFault::Truncated { .. })
        ));
        assert_seeks_match(&r, loaded.as_ref().ok(), &mut rng, 4, "truncated index");
        queries += 4;
    }
    for bit in 0..good.len() * 8 {
        let mut bad = good.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        std::fs::write(&idx_path, &bad).unwrap();
        let loaded = Index::load(&r);
        assert!(loaded.is_err(), "bit {bit} flipped, still loaded");
        assert!(matches!(
            index::check_file(&r).unwrap(),
            Verdict::Unusable(_)
        ));
        if bit % 4 == 0 {
            assert_seeks_match(&r, loaded.as_ref().ok(), &mut rng, 2, "bit-flipped index");
            queries += 2;
        }
    }
    assert!(queries >= 1000, "{queries} queries");
}

#[test]
fn another_journals_index_is_refused_and_seeks_still_match() {
    let dir = TempDir::new("index-other");
    let mut rng = Rng(7);
    let events = random_events(&mut rng, 400);
    let a = dir.join("a.journal");
    write_journal(&a, T0, &events);
    index::build_with(
        &a,
        Intervals {
            bytes: 256,
            events: 8,
        },
    )
    .unwrap();
    let a_idx = std::fs::read(index::index_path(&a)).unwrap();
    // b: another creation time; c: same creation time, other events; d: same creation time and
    // the same first 100 events, then others (a copy that diverged).
    let mut d_events = events[..100].to_vec();
    d_events.extend(random_events(&mut rng, 400));
    let cases: [(&str, i64, Events); 3] = [
        ("b", T0 + 1, events.clone()),
        ("c", T0, random_events(&mut rng, 400)),
        ("d", T0, d_events),
    ];
    for (name, start, evs) in cases {
        let path = dir.join(&format!("{name}.journal"));
        write_journal(&path, start, &evs);
        std::fs::write(index::index_path(&path), &a_idx).unwrap();
        let r = Reader::open(&path).unwrap();
        let loaded = Index::load(&r);
        assert!(
            matches!(
                loaded,
                Err(IndexFault::OtherJournal(_)
                    | IndexFault::EntryMismatch { .. }
                    | IndexFault::JournalShorter { .. })
            ),
            "{name}: {loaded:?}"
        );
        assert_seeks_match(&r, loaded.as_ref().ok(), &mut rng, 1000, name);
    }
}

#[test]
fn a_stale_index_answers_exactly_and_extends_to_the_bytes_of_a_rebuild() {
    let dir = TempDir::new("index-stale");
    let mut rng = Rng(99);
    let (path, iv) = indexed_journal(&dir, "j.journal", &mut rng, 500);
    // A writer that does not keep the index leaves it stale.
    let mut w = WriterOptions::new().index(false).open(&path).unwrap();
    append_all(&mut w, &random_events(&mut rng, 300));
    w.close().unwrap();
    let r = Reader::open(&path).unwrap();
    let mut idx = Index::load(&r).unwrap();
    let content_end = r.verify().unwrap().end;
    assert_eq!(
        index::check(&r, &idx).unwrap(),
        Verdict::Stale {
            checkpoint: idx.checkpoint().offset,
            content_end
        }
    );
    assert_seeks_match(&r, Some(&idx), &mut rng, 1200, "stale index");
    assert_eq!(idx.extend(&r).unwrap(), 300);
    let rebuilt = Index::from_reader(&r, iv).unwrap();
    assert_eq!(idx.encode(), rebuilt.encode());
    assert!(matches!(
        index::check(&r, &idx).unwrap(),
        Verdict::Current { events: 800, .. }
    ));
    // The file-level extension does the same and writes it.
    let written = index::extend(&path).unwrap();
    assert_eq!(written.encode(), rebuilt.encode());
    assert_eq!(
        std::fs::read(index::index_path(&path)).unwrap(),
        rebuilt.encode()
    );
}

#[test]
fn iter_from_checkpoint_starts_where_the_index_ends_and_walks_the_rest() {
    let dir = TempDir::new("index-from-checkpoint");
    let mut rng = Rng(123);
    let (path, _) = indexed_journal(&dir, "j.journal", &mut rng, 400);
    // A writer that does not keep the index leaves it stale: 150 events past its checkpoint.
    let mut w = WriterOptions::new().index(false).open(&path).unwrap();
    append_all(&mut w, &random_events(&mut rng, 150));
    w.close().unwrap();
    let all = |r: &Reader| -> Vec<(u64, u64)> {
        r.iter()
            .map(|e| e.map(|e| (e.index, e.offset)).unwrap())
            .collect()
    };
    let r = Reader::open(&path).unwrap();
    let events = all(&r);
    assert_eq!(events.len(), 550);
    let cp = Index::load(&r).unwrap().checkpoint();
    let it = r.iter_from_checkpoint();
    assert_eq!((it.index(), it.offset()), (cp.index, cp.offset));
    assert_eq!((it.index(), it.offset()), events[400]);
    let tail: Vec<(u64, u64)> = it
        .map(|e| e.map(|e| (e.index, e.offset)).unwrap())
        .collect();
    assert_eq!(tail, events[400..]);
    // Without an index: from the first event, the whole content.
    std::fs::remove_file(index::index_path(&path)).unwrap();
    let r = Reader::open(&path).unwrap();
    let it = r.iter_from_checkpoint();
    assert_eq!((it.index(), it.offset()), (0, 24));
    let walked: Vec<(u64, u64)> = it
        .map(|e| e.map(|e| (e.index, e.offset)).unwrap())
        .collect();
    assert_eq!(walked, events);
}

#[test]
fn a_journal_cut_back_below_the_checkpoint_makes_the_index_unusable() {
    let dir = TempDir::new("index-cut");
    let mut rng = Rng(5);
    let (path, _) = indexed_journal(&dir, "j.journal", &mut rng, 300);
    // Damage an entry near the end; the writer's recovery cuts the journal back to before it and
    // new events are appended past the old checkpoint.
    let report = Reader::open(&path).unwrap().verify().unwrap();
    let victim = Reader::open(&path)
        .unwrap()
        .iter()
        .nth(250)
        .unwrap()
        .unwrap()
        .offset;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[victim as usize + 3] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    // A writer that does not keep the index (one that does would trust its checkpoint and keep
    // the damage, INDEX.md 10).
    let mut w = WriterOptions::new().index(false).open(&path).unwrap();
    append_all(&mut w, &random_events(&mut rng, 200));
    w.close().unwrap();
    let r = Reader::open(&path).unwrap();
    assert!(
        r.verify().unwrap().end > report.end,
        "the journal grew past the old checkpoint"
    );
    let loaded = Index::load(&r);
    assert!(
        matches!(loaded, Err(IndexFault::EntryMismatch { .. })),
        "{loaded:?}"
    );
    assert_seeks_match(&r, loaded.as_ref().ok(), &mut rng, 1000, "cut-back journal");
}

#[test]
fn damage_below_the_checkpoint_is_found_by_the_full_check_only() {
    let dir = TempDir::new("index-below");
    let mut rng = Rng(11);
    let path = dir.join("j.journal");
    write_journal(&path, T0, &random_events(&mut rng, 200));
    let idx = index::build_with(
        &path,
        Intervals {
            bytes: 1 << 20,
            events: 100,
        },
    )
    .unwrap();
    assert_eq!(idx.records().len(), 2);
    let victim = Reader::open(&path)
        .unwrap()
        .iter()
        .nth(50)
        .unwrap()
        .unwrap()
        .offset;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[victim as usize] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let r = Reader::open(&path).unwrap();
    let idx = Index::load(&r).expect("the O(1) checks do not see the damage (INDEX.md 10)");
    assert_eq!(
        index::check(&r, &idx).unwrap(),
        Verdict::Unusable(IndexFault::JournalDamaged { offset: victim })
    );
    assert!(!r.verify().unwrap().is_intact());
    // A seek past the damage through the index answers from the record at event 100: what
    // INDEX.md 10 says a restart can miss.
    let through = at(index::iter_from_index(&r, Some(&idx), 150)).unwrap();
    assert_eq!(
        (through.0, through.2.clone().unwrap().unwrap().0),
        (150, 150)
    );
    assert!(index::iter_from_index(&r, None, 150).is_err());
    // The reader's own seek uses the index the same way (the trade of INDEX.md 10).
    assert_eq!(at(r.iter_from_index(150)).unwrap(), through);
}

#[test]
fn library_and_independent_decoder_build_the_same_bytes_and_seek_alike() {
    let dir = TempDir::new("index-spec");
    for seed in 0..6 {
        let mut rng = Rng(1000 + seed);
        let n = rng.below(300);
        let (path, iv) = indexed_journal(&dir, &format!("j{seed}.journal"), &mut rng, n);
        let journal = std::fs::read(&path).unwrap();
        let lib = std::fs::read(index::index_path(&path)).unwrap();
        let spec = spec_idx::build(&journal, iv.bytes, iv.events, u64::MAX);
        assert_eq!(lib, spec_idx::encode(&spec), "seed {seed}");
        assert_eq!(Index::decode(&lib).unwrap().encode(), lib);
        let r = Reader::open(&path).unwrap();
        let idx = Index::load(&r).unwrap();
        assert_eq!(spec_idx::load(&lib, &journal).unwrap(), spec);
        for _ in 0..300 {
            let k = rng.below(n + 3);
            let lib_pos = idx.seek_index(&r, k).map(|p| (p.index, p.offset));
            assert_eq!(
                lib_pos.map_err(|f| f.as_str()),
                spec_idx::seek_index(&spec, &journal, k)
            );
            let t = T0 - 60_000 + rng.below(n * 2_000 + 120_000) as i64;
            let lib_pos = idx.seek_time(&r, t).map(|p| (p.index, p.offset));
            assert_eq!(
                lib_pos.map_err(|f| f.as_str()),
                spec_idx::seek_time(&spec, &journal, t)
            );
        }
    }
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/index")
}

/// What the library says about an index vector: the load outcome, the check verdict, and each
/// seek, spelled as in expected.txt.
struct Outcomes {
    load: String,
    check: String,
    seeks: Vec<String>,
}

fn library_outcomes(journal: &Path, seeks: &[(String, String)]) -> Outcomes {
    let r = Reader::open(journal).unwrap();
    let loaded = Index::load(&r);
    let check = match index::check_file(&r).unwrap() {
        Verdict::Current { .. } => "current".to_owned(),
        Verdict::Stale { .. } => "stale".to_owned(),
        Verdict::Unusable(f) => f.as_str().to_owned(),
    };
    let seeks = seeks
        .iter()
        .map(|(kind, arg)| {
            let idx = loaded
                .as_ref()
                .expect("seeks are given for loadable vectors");
            let pos = if kind == "seek_index" {
                idx.seek_index(&r, arg.parse().unwrap())
            } else {
                idx.seek_time(&r, arg.parse().unwrap())
            };
            match pos {
                Ok(p) => format!("{} {}", p.index, p.offset),
                Err(f) => f.as_str().to_owned(),
            }
        })
        .collect();
    Outcomes {
        load: loaded.map_or_else(|f| f.as_str().to_owned(), |_| "ok".to_owned()),
        check,
        seeks,
    }
}

fn spec_outcomes(journal: &[u8], idx: &[u8], seeks: &[(String, String)]) -> Outcomes {
    let loaded = spec_idx::load(idx, journal);
    let seeks = seeks
        .iter()
        .map(|(kind, arg)| {
            let h = loaded.as_ref().unwrap();
            let pos = if kind == "seek_index" {
                spec_idx::seek_index(h, journal, arg.parse().unwrap())
            } else {
                spec_idx::seek_time(h, journal, arg.parse().unwrap())
            };
            match pos {
                Ok((i, o)) => format!("{i} {o}"),
                Err(f) => f.to_owned(),
            }
        })
        .collect();
    Outcomes {
        load: loaded.map_or_else(|f| f.to_owned(), |_| "ok".to_owned()),
        check: spec_idx::check(idx, journal).to_owned(),
        seeks,
    }
}

/// One `vector` line of expected.txt: name, journal, index, load, check, and its seek lines as
/// (kind, argument, expected).
type Vector = (String, String, String, String, String, Vec<[String; 3]>);

#[test]
fn every_index_vector_gives_its_expected_outcome_in_the_library_and_the_spec_decoder() {
    let text = std::fs::read_to_string(vectors_dir().join("expected.txt")).unwrap();
    let mut vectors: Vec<Vector> = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w[0] {
            "vector" => {
                assert_eq!(w.len(), 6, "{line}");
                vectors.push((
                    w[1].into(),
                    w[2].into(),
                    w[3].into(),
                    w[4].strip_prefix("load=").unwrap().into(),
                    w[5].strip_prefix("check=").unwrap().into(),
                    Vec::new(),
                ));
            }
            "seek_index" | "seek_time" => {
                let v = vectors.last_mut().unwrap();
                assert_eq!(w[1], v.0, "{line}");
                assert_eq!(w[3], "->", "{line}");
                v.5.push([w[0].into(), w[2].into(), w[4..].join(" ")]);
            }
            other => panic!("unknown line kind {other}: {line}"),
        }
    }
    assert!(vectors.len() >= 15, "{} vectors", vectors.len());
    let dir = TempDir::new("index-vectors");
    let mut seen_faults = std::collections::BTreeSet::new();
    for (name, jname, iname, load, check, seeks) in &vectors {
        let journal = std::fs::read(vectors_dir().join(jname)).unwrap();
        let idx = std::fs::read(vectors_dir().join(iname)).unwrap();
        let path = dir.join(&format!("{name}.journal"));
        std::fs::write(&path, &journal).unwrap();
        std::fs::write(index::index_path(&path), &idx).unwrap();
        let queries: Vec<(String, String)> =
            seeks.iter().map(|s| (s[0].clone(), s[1].clone())).collect();
        let expected: Vec<String> = seeks.iter().map(|s| s[2].clone()).collect();
        for (who, got) in [
            ("library", library_outcomes(&path, &queries)),
            ("spec decoder", spec_outcomes(&journal, &idx, &queries)),
        ] {
            assert_eq!(&got.load, load, "{name}: load, {who}");
            assert_eq!(&got.check, check, "{name}: check, {who}");
            assert_eq!(got.seeks, expected, "{name}: seeks, {who}");
        }
        seen_faults.insert(load.clone());
        seen_faults.insert(check.clone());
    }
    // Every outcome of INDEX.md 3, 4, 6.1 and 7 that a file can show has a vector.
    for f in [
        "ok",
        "current",
        "stale",
        "truncated",
        "bad_magic",
        "unsupported_version",
        "header_checksum",
        "bad_header",
        "record_checksum",
        "bad_record",
        "other_journal",
        "journal_shorter",
        "entry_mismatch",
        "journal_damaged",
        "record_mismatch",
    ] {
        assert!(seen_faults.contains(f), "no vector shows {f}");
    }
}

#[test]
fn the_worked_example_decodes_as_index_md_12_says() {
    let idx = Index::decode(&std::fs::read(vectors_dir().join("example.idx")).unwrap()).unwrap();
    let recs: Vec<(u64, u64, i64)> = idx
        .records()
        .iter()
        .map(|r| (r.event_index, r.offset, r.max_timestamp - T0))
        .collect();
    assert_eq!(
        recs,
        [(0, 24, 100), (3, 72, 300), (4, 152, 600), (7, 208, 900)]
    );
    assert_eq!(
        idx.checkpoint(),
        index::Position {
            index: 8,
            offset: 232
        }
    );
    assert_eq!(idx.checkpoint_max_timestamp(), T0 + 900);
    assert_eq!(
        idx.intervals(),
        Intervals {
            bytes: 64,
            events: 3
        }
    );
    assert_eq!(idx.records()[0].entry_checksum, 0x45FF_CC00);
}

#[test]
fn index_decoder_fuzz_corpus_replays() {
    let dir = TempDir::new("index-fuzz");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut count = 0;
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(kind).join("index_decoder")) else {
            assert_ne!(kind, "corpus", "fuzz/corpus/index_decoder is missing");
            continue;
        };
        let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files {
            harness::index_bytes_in(dir.path(), &std::fs::read(&file).unwrap());
            count += 1;
        }
    }
    assert!(count >= 5, "only {count} corpus inputs");
}

/// Writes the seed inputs of fuzz/corpus/index_decoder: indexes of the harness's fixed journal with
/// several intervals (so that mutations start from inputs that pass the checksums), an empty index,
/// and a few broken ones. Run by hand: `cargo test -p journal --test it write_index_fuzz_seeds --
/// --ignored`.
#[test]
#[ignore]
fn write_index_fuzz_seeds() {
    let dir = TempDir::new("index-seeds");
    let journal = harness::fixed_journal(dir.path());
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/index_decoder");
    std::fs::create_dir_all(&out).unwrap();
    let r = Reader::open(&journal).unwrap();
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    for (bytes, events) in [(16, 1), (64, 3), (200, 5), (4096, 256)] {
        let idx = Index::from_reader(&r, Intervals { bytes, events }).unwrap();
        seeds.push((format!("fixed-{bytes}-{events}"), idx.encode()));
    }
    let empty = dir.join("empty.journal");
    Writer::options()
        .start_timestamp(harness::T0)
        .create(&empty)
        .unwrap()
        .close()
        .unwrap();
    let e = Index::from_reader(&Reader::open(&empty).unwrap(), Intervals::default()).unwrap();
    seeds.push(("empty".into(), e.encode()));
    let good = seeds[1].1.clone();
    seeds.push(("truncated".into(), good[..good.len() - 7].to_vec()));
    let mut flipped = good.clone();
    flipped[100] ^= 4;
    seeds.push(("flipped".into(), flipped));
    seeds.push(("header-only".into(), good[..96].to_vec()));
    for (name, data) in seeds {
        std::fs::write(out.join(name), data).unwrap();
    }
}

/// Small intervals, so that small journals get many records.
const SMALL: Intervals = Intervals {
    bytes: 256,
    events: 8,
};

fn indexing_writer(path: &Path, policy: journal::SyncPolicy) -> Writer {
    WriterOptions::new()
        .chunk_size(4096)
        .sync_policy(policy)
        .index_intervals(SMALL)
        .start_timestamp(T0)
        .open_or_create(path)
        .unwrap()
}

#[test]
fn the_writer_keeps_the_index_and_seeks_match_a_linear_scan_while_it_grows() {
    let dir = TempDir::new("index-writer");
    let mut rng = Rng(21);
    let path = dir.join("j.journal");
    let mut w = indexing_writer(&path, journal::SyncPolicy::EveryEvents(7));
    let r = Reader::open(&path).unwrap();
    let mut last_checkpoint = 0;
    for round in 0..6 {
        append_all(&mut w, &random_events(&mut rng, 400));
        let cp = w.index_checkpoint().expect("the writer keeps the index");
        assert!(
            cp.offset > last_checkpoint,
            "round {round}: the checkpoint moves"
        );
        assert!(cp.offset <= w.write_offset());
        last_checkpoint = cp.offset;
        // The reader follows the index as it grows (stale: the writer is past its checkpoint).
        let idx = Index::load(&r).unwrap();
        assert_eq!(idx.intervals(), SMALL);
        assert!(matches!(
            index::check(&r, &idx).unwrap(),
            Verdict::Stale { .. } | Verdict::Current { .. }
        ));
        assert_seeks_match(&r, Some(&idx), &mut rng, 300, &format!("round {round}"));
    }
    assert!(w.index_error().is_none());
    w.close().unwrap();
    // At close the index covers everything, byte for byte what a rebuild writes.
    let r = Reader::open(&path).unwrap();
    assert!(matches!(
        index::check_file(&r).unwrap(),
        Verdict::Current { events: 2400, .. }
    ));
    let rebuilt = Index::from_reader(&r, SMALL).unwrap();
    assert_eq!(
        std::fs::read(index::index_path(&path)).unwrap(),
        rebuilt.encode()
    );
    let idx = Index::load(&r).unwrap();
    assert_seeks_match(&r, Some(&idx), &mut rng, 1200, "after close");
}

#[test]
fn the_index_advances_under_never_at_close_and_a_missing_or_foreign_one_is_rebuilt_at_open() {
    let dir = TempDir::new("index-never");
    let mut rng = Rng(8);
    let path = dir.join("j.journal");
    let mut w = indexing_writer(&path, journal::SyncPolicy::Never);
    append_all(&mut w, &random_events(&mut rng, 500));
    // Under Never nothing moves the checkpoint before 64 MiB (or an explicit sync past the step).
    assert_eq!(w.index_checkpoint().unwrap().index, 0);
    w.close().unwrap();
    let r = Reader::open(&path).unwrap();
    assert!(matches!(
        index::check_file(&r).unwrap(),
        Verdict::Current { events: 500, .. }
    ));
    drop(r);
    // Missing: rebuilt by the next writer.
    std::fs::remove_file(index::index_path(&path)).unwrap();
    let w = indexing_writer(&path, journal::SyncPolicy::Never);
    assert_eq!(w.index_checkpoint().unwrap().index, 500);
    drop(w);
    // Another journal's index: refused and rebuilt.
    let other = dir.join("other.journal");
    write_journal(&other, T0 + 1, &random_events(&mut rng, 50));
    index::build(&other).unwrap();
    std::fs::copy(index::index_path(&other), index::index_path(&path)).unwrap();
    let w = indexing_writer(&path, journal::SyncPolicy::Never);
    assert_eq!(w.index_checkpoint().unwrap().index, 500);
    w.close().unwrap();
    let r = Reader::open(&path).unwrap();
    assert!(matches!(
        index::check_file(&r).unwrap(),
        Verdict::Current { events: 500, .. }
    ));
    let idx = Index::load(&r).unwrap();
    assert_seeks_match(&r, Some(&idx), &mut rng, 1000, "rebuilt at open");
}

#[test]
fn an_index_write_failure_disables_the_index_and_never_fails_the_journal() {
    let dir = TempDir::new("index-fail");
    let mut rng = Rng(3);
    let path = dir.join("j.journal");
    let mut w = indexing_writer(&path, journal::SyncPolicy::EveryEvents(1));
    append_all(&mut w, &random_events(&mut rng, 300));
    let before = w.index_checkpoint().unwrap();
    w.inject_index_failure();
    // Appends (each syncing, and so moving the checkpoint) go on; the index stops where it was.
    append_all(&mut w, &random_events(&mut rng, 300));
    assert!(w.index_checkpoint().is_none());
    assert!(
        w.index_error().unwrap().contains("j.journal.idx"),
        "{:?}",
        w.index_error()
    );
    assert_eq!(w.events(), 600);
    assert_eq!(w.durable_events(), 600);
    w.close().unwrap();
    let r = Reader::open(&path).unwrap();
    let idx = Index::load(&r).unwrap();
    assert_eq!(idx.checkpoint(), before);
    assert!(matches!(
        index::check(&r, &idx).unwrap(),
        Verdict::Stale { .. }
    ));
    assert_seeks_match(&r, Some(&idx), &mut rng, 1000, "index left stale");
    // The next writer extends it from its checkpoint.
    drop(r);
    indexing_writer(&path, journal::SyncPolicy::Never)
        .close()
        .unwrap();
    let r = Reader::open(&path).unwrap();
    assert!(matches!(
        index::check_file(&r).unwrap(),
        Verdict::Current { events: 600, .. }
    ));
}

/// With the writer's own pretoucher under `never`, the index's upkeep is lent to the pretoucher's
/// sync thread (INDEX.md 9.3). An explicit sync takes it back and moves the checkpoint; a drop takes
/// it back for the final checkpoint, leaving an index byte for byte what a rebuild writes; an
/// injected write failure travels with the lent upkeep and disables the index at its next move,
/// failing nothing of the journal.
#[test]
fn a_writer_whose_pretoucher_holds_the_upkeep_syncs_and_drops_into_a_current_index() {
    let dir = TempDir::new("index-lent");
    let mut rng = Rng(44);
    let path = dir.join("j.journal");
    let writer = || {
        WriterOptions::new()
            .chunk_size(4096)
            .sync_policy(journal::SyncPolicy::Never)
            .index_intervals(SMALL)
            .start_timestamp(T0)
            .pretouch_thread(true)
            .open_or_create(&path)
            .unwrap()
    };
    let mut w = writer();
    append_all(&mut w, &random_events(&mut rng, 300));
    assert_eq!(w.index_checkpoint().unwrap().index, 0);
    w.sync().unwrap();
    assert_eq!(w.index_checkpoint().unwrap().offset, w.write_offset());
    append_all(&mut w, &random_events(&mut rng, 300));
    drop(w);
    let r = Reader::open(&path).unwrap();
    assert!(matches!(
        index::check_file(&r).unwrap(),
        Verdict::Current { events: 600, .. }
    ));
    let rebuilt = Index::from_reader(&r, SMALL).unwrap();
    assert_eq!(
        std::fs::read(index::index_path(&path)).unwrap(),
        rebuilt.encode()
    );
    drop(r);

    let mut w = writer();
    w.inject_index_failure();
    append_all(&mut w, &random_events(&mut rng, 300));
    w.sync().unwrap();
    assert!(w.index_checkpoint().is_none());
    assert!(
        w.index_error().unwrap().contains("j.journal.idx"),
        "{:?}",
        w.index_error()
    );
    append_all(&mut w, &random_events(&mut rng, 10));
    w.close().unwrap();
    let r = Reader::open(&path).unwrap();
    assert_eq!(r.verify().unwrap().events, 910);
    assert!(matches!(
        index::check_file(&r).unwrap(),
        Verdict::Stale { .. }
    ));
}

#[test]
fn open_after_a_clean_close_trusts_the_checkpoint_and_only_verify_sees_damage_below_it() {
    let dir = TempDir::new("index-trust");
    let mut rng = Rng(17);
    let path = dir.join("j.journal");
    let mut w = indexing_writer(&path, journal::SyncPolicy::Never);
    append_all(&mut w, &random_events(&mut rng, 400));
    w.close().unwrap();
    let r = Reader::open(&path).unwrap();
    let ev = r.iter().nth(200).unwrap().unwrap();
    let (victim, end) = (ev.offset, ev.end());
    drop(r);
    // A bit flipped in an entry's payload region below the checkpoint (its header stays sane).
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[victim as usize + 8] ^= 0x01; // the size field: the CRC no longer matches
    bytes[victim as usize + 8] ^= 0x01;
    bytes[victim as usize + 12] ^= 0x01; // the stored checksum
    std::fs::write(&path, &bytes).unwrap();
    // The open trusts the index (INDEX.md 9.3): it neither reads nor cuts the damaged entry.
    let w = indexing_writer(&path, journal::SyncPolicy::Never);
    assert_eq!((w.events(), w.recovered()), (400, None));
    drop(w);
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing was cut");
    // verify walks everything and reports it (FORMAT.md 6.2).
    let rep = Reader::open(&path).unwrap().verify().unwrap();
    assert_eq!(rep.damage.map(|d| d.offset), Some(victim));
    // Strict recovery walks everything too, and refuses.
    assert!(matches!(
        WriterOptions::new()
            .recovery(journal::RecoveryMode::Strict)
            .open(&path),
        Err(journal::Error::Damaged { offset, .. }) if offset == victim
    ));
    // Without the index a writer walks everything and cuts the journal back to the damage.
    std::fs::remove_file(index::index_path(&path)).unwrap();
    let w = indexing_writer(&path, journal::SyncPolicy::Never);
    assert_eq!((w.events(), w.write_offset()), (200, victim));
    assert!(end > victim);
}

#[test]
fn a_power_cut_with_an_older_or_torn_index_beside_the_journal_recovers_exactly() {
    let dir = TempDir::new("index-power");
    let mut rng = Rng(0xB0B);
    let work = dir.join("work.journal");
    let mut w = indexing_writer(&work, journal::SyncPolicy::EveryEvents(5));
    // Snapshots after syncs: (synced journal bytes, index bytes at that moment).
    let mut snaps: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for _ in 0..12 {
        let n = 1 + rng.below(150);
        append_all(&mut w, &random_events(&mut rng, n));
        w.sync().unwrap();
        snaps.push((
            std::fs::read(&work).unwrap(),
            std::fs::read(index::index_path(&work)).unwrap(),
        ));
    }
    drop(w);
    let path = dir.join("j.journal");
    let ipath = index::index_path(&path);
    let mut cases = 0;
    for k in 0..200u64 {
        // The journal as the disk holds it: snapshot `s` (all synced), a torn later tail past it.
        let s = rng.below(snaps.len() as u64) as usize;
        let mut image = snaps[s].0.clone();
        if s + 1 < snaps.len() && rng.below(2) == 0 {
            let later = &snaps[s + 1 + rng.below((snaps.len() - s - 1) as u64) as usize].0;
            let cut = image.len() + rng.below((later.len() - image.len()) as u64 + 1) as usize;
            image = later[..cut].to_vec();
            if rng.below(2) == 0 {
                // The header page of the older moment.
                image[..24].copy_from_slice(&snaps[s].0[..24]);
            }
        }
        // The index: an older one (its checkpoint covered by the sync of its moment), the one
        // of this moment with the records of a later extension half-written past its count, a
        // torn header, or none.
        let old = rng.below(s as u64 + 1) as usize;
        let mut idx = snaps[old].1.clone();
        let realistic = match rng.below(4) {
            0 => true,
            1 => {
                let later = &snaps[(s + 1).min(snaps.len() - 1)].1;
                let extra = rng.below((later.len().saturating_sub(idx.len())) as u64 + 1) as usize;
                let n = idx.len();
                idx.extend_from_slice(&later[n..n + extra]);
                true
            }
            2 => {
                let at = rng.below(96) as usize;
                idx[at] ^= 1 << rng.below(8);
                true // the header's CRC fails: rebuilt
            }
            _ => {
                let at = rng.below(idx.len() as u64) as usize;
                idx[at] = rng.next() as u8;
                false // anywhere, records included
            }
        };
        std::fs::write(&path, &image).unwrap();
        let _ = std::fs::remove_file(&ipath);
        let want = Reader::open(&path).unwrap().verify().unwrap().events;
        std::fs::write(&ipath, &idx).unwrap();
        let w = WriterOptions::new()
            .open(&path)
            .unwrap_or_else(|e| panic!("case {k}: {e}"));
        assert_eq!(
            w.events(),
            want,
            "case {k}: recovery kept a different prefix"
        );
        w.close().unwrap();
        let r = Reader::open(&path).unwrap();
        let rep = r.verify().unwrap();
        assert!(rep.is_intact() && rep.events == want, "case {k}: {rep:?}");
        if realistic {
            assert!(
                matches!(index::check_file(&r).unwrap(), Verdict::Current { .. }),
                "case {k}: the index after recovery"
            );
        }
        let loaded = Index::load(&r).ok();
        assert_seeks_match(&r, loaded.as_ref(), &mut rng, 40, &format!("case {k}"));
        cases += 1;
    }
    assert_eq!(cases, 200);
}

#[test]
fn a_sigkilled_indexing_writer_leaves_an_index_that_seeks_exactly() {
    use std::time::Duration;
    let kills = crate::support::env_count("JOURNAL_INDEX_KILLS", 12);
    let dir = TempDir::new("index-kill");
    let path = dir.join("j");
    let mut rng = Rng(0x5EED ^ std::process::id() as u64);
    let mut stale_seen = 0;
    for round in 0..kills {
        let mut c = crate::process::child("index-writer", &path);
        let rx = crate::process::lines(c.stdout.take().unwrap());
        // Wait until the child has published something, then kill it at a random later moment.
        let target = 200 + rng.below(3000);
        let mut reported = 0;
        for line in rx.iter() {
            reported = line[4..].parse::<u64>().unwrap() + 1;
            if reported >= target {
                break;
            }
        }
        std::thread::sleep(Duration::from_micros(rng.below(5_000)));
        c.kill().unwrap();
        c.wait().unwrap();
        let r = Reader::open(&path).unwrap();
        let rep = r.verify().unwrap();
        assert!(
            rep.is_intact() && rep.events >= reported,
            "round {round}: {rep:?}"
        );
        let loaded = Index::load(&r);
        if let Ok(idx) = &loaded {
            if idx.checkpoint().offset < rep.end {
                stale_seen += 1;
            }
        }
        assert_seeks_match(
            &r,
            loaded.as_ref().ok(),
            &mut rng,
            1000,
            &format!("round {round}"),
        );
    }
    assert!(
        stale_seen > 0,
        "no kill left a stale index: the test proved nothing"
    );
    // A writer's open validates only past the checkpoint and brings the index up to date.
    WriterOptions::new().open(&path).unwrap().close().unwrap();
    let r = Reader::open(&path).unwrap();
    assert!(matches!(
        index::check_file(&r).unwrap(),
        Verdict::Current { .. }
    ));
}

/// `count` random seeks by index and time in a journal of `n_events` events through the reader
/// give what the same seeks through `idx` give (the index held as loaded once).
fn assert_reader_seeks_as(r: &Reader, idx: &Index, n_events: u64, rng: &mut Rng, count: u64) {
    let (idx, what) = (Some(idx), "record fault");
    for q in 0..count {
        if q % 2 == 0 {
            let n = rng.below(n_events + 3);
            let via = at(index::iter_from_index(r, idx, n));
            assert_eq!(at(r.iter_from_index(n)), via, "{what}: seek to event {n}");
        } else {
            let t = T0 - 60_000 + rng.below(n_events * 2_000 + 120_000) as i64;
            let via = at(index::iter_from_time(r, idx, t));
            assert_eq!(at(r.iter_from_time(t)), via, "{what}: seek to time {t}");
        }
    }
}

#[test]
fn a_reader_reads_an_unusable_index_file_once_until_the_file_changes() {
    let dir = TempDir::new("index-unusable-once");
    let mut rng = Rng(41);
    // A bit flipped in the last record: decoding fails (record_checksum).
    let (path, iv) = indexed_journal(&dir, "flipped.journal", &mut rng, 600);
    let idx_path = index::index_path(&path);
    let mut bytes = std::fs::read(&idx_path).unwrap();
    let k = bytes.len() - 20;
    bytes[k] ^= 0x04;
    std::fs::write(&idx_path, &bytes).unwrap();
    let r = Reader::open(&path).unwrap();
    assert!(matches!(
        Index::load(&r),
        Err(IndexFault::RecordChecksum { .. })
    ));
    assert_seeks_match(&r, None, &mut rng, 300, "damaged index");
    assert_eq!(r.index_loads(), 1, "the damaged index was read once");
    // Rewritten in place (same inode and length), its header now damaged too: a change.
    bytes[k] ^= 0x04;
    bytes[40] ^= 0x01;
    std::fs::write(&idx_path, &bytes).unwrap();
    assert!(matches!(Index::load(&r), Err(IndexFault::HeaderChecksum)));
    assert_seeks_match(&r, None, &mut rng, 300, "damaged header");
    assert_eq!(r.index_loads(), 2, "the changed file was read once");
    // Rebuilt (a new file renamed over it): read once more, then held and seeked through.
    index::build_with(&path, iv).unwrap();
    let good = Index::load(&r).unwrap();
    assert_seeks_match(&r, Some(&good), &mut rng, 300, "rebuilt index");
    assert_eq!(r.index_loads(), 3, "the rebuilt index was read once");

    // Another journal's index beside a journal (other_journal).
    let other = dir.join("other.journal");
    write_journal(&other, T0 + 5, &random_events(&mut rng, 300));
    std::fs::copy(&idx_path, index::index_path(&other)).unwrap();
    let r = Reader::open(&other).unwrap();
    assert!(matches!(Index::load(&r), Err(IndexFault::OtherJournal(_))));
    assert_seeks_match(&r, None, &mut rng, 300, "another journal's index");
    assert_eq!(r.index_loads(), 1, "another journal's index was read once");
}

#[test]
fn a_reader_whose_index_fails_a_record_check_does_not_reload_it_while_it_is_unchanged() {
    let dir = TempDir::new("index-record-fault");
    let mut rng = Rng(43);
    let path = dir.join("j.journal");
    write_journal(&path, T0, &random_events(&mut rng, 400));
    let iv = Intervals {
        bytes: 1 << 20,
        events: 50,
    };
    let idx = index::build_with(&path, iv).unwrap();
    // Damage the entry of record 3 (event 150): seeks to events 150..200 fail the record check
    // (INDEX.md 6.2) and answer from the journal alone; the others go through the index.
    let victim = idx.records()[3].offset;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[victim as usize + 1] ^= 0x01; // its timestamp: the CRC fails
    std::fs::write(&path, &bytes).unwrap();
    let r = Reader::open(&path).unwrap();
    let held = Index::load(&r).expect("the O(1) checks do not see the damage");
    assert!(index::iter_from_index(&r, Some(&held), 170).is_err());
    assert_reader_seeks_as(&r, &held, 400, &mut rng, 400);
    assert_eq!(r.index_loads(), 1, "the index was read once");
}

#[test]
fn a_reader_rereads_an_index_longer_than_its_journal_once_the_journal_reaches_it() {
    let dir = TempDir::new("index-shorter");
    let mut rng = Rng(47);
    let events = random_events(&mut rng, 400);
    let long = dir.join("long.journal");
    write_journal(&long, T0, &events);
    index::build(&long).unwrap();
    // The same journal, 200 events behind, beside the longer one's index (journal_shorter).
    let short = dir.join("short.journal");
    write_journal(&short, T0, &events[..200]);
    std::fs::copy(index::index_path(&long), index::index_path(&short)).unwrap();
    let r = Reader::open(&short).unwrap();
    assert!(matches!(
        Index::load(&r),
        Err(IndexFault::JournalShorter { .. })
    ));
    assert_seeks_match(&r, None, &mut rng, 200, "journal shorter");
    assert_eq!(r.index_loads(), 1, "the index was read once");
    // The journal catches up (a writer that does not touch the index): the same file is usable.
    let mut w = WriterOptions::new().index(false).open(&short).unwrap();
    append_all(&mut w, &events[200..]);
    w.close().unwrap();
    let idx = Index::load(&r).unwrap();
    assert_seeks_match(&r, Some(&idx), &mut rng, 200, "journal caught up");
    assert_eq!(r.index_loads(), 2, "the index was read once more");
}

#[test]
fn an_index_of_many_records_extended_as_a_writer_grows_it_seeks_exactly() {
    // A record per event: tens of thousands of records, so that seeks go through several levels of
    // the index's search structure, extended at each refresh as the writer adds records.
    let dir = TempDir::new("index-many");
    let mut rng = Rng(53);
    let path = dir.join("j.journal");
    let every = Intervals {
        bytes: index::MIN_INTERVAL_BYTES,
        events: 1,
    };
    let mut w = WriterOptions::new()
        .chunk_size(1 << 20)
        .index_intervals(every)
        .start_timestamp(T0)
        .open_or_create(&path)
        .unwrap();
    let r = Reader::open(&path).unwrap();
    let mut held: Option<Index> = None;
    for round in 0..5 {
        let n = 4_000 + rng.below(1_000);
        append_all(&mut w, &random_events(&mut rng, n));
        w.sync().unwrap();
        let cp = w.index_checkpoint().expect("the writer keeps the index");
        assert_eq!(
            cp.offset,
            w.write_offset(),
            "round {round}: the sync moved it"
        );
        let idx = match held.take() {
            Some(mut idx) => {
                assert!(idx.refresh(&r).unwrap(), "round {round}: new records");
                idx
            }
            None => Index::load(&r).unwrap(),
        };
        assert_eq!(idx.records().len() as u64, cp.index, "round {round}");
        assert_eq!(
            idx,
            Index::load(&r).unwrap(),
            "round {round}: as a full load"
        );
        assert_seeks_match(&r, Some(&idx), &mut rng, 200, &format!("round {round}"));
        held = Some(idx);
    }
    w.close().unwrap();
}

#[test]
fn a_seek_steps_over_entries_below_the_checkpoint_by_their_headers_and_checks_all_others() {
    let dir = TempDir::new("index-trusted-steps");
    let path = dir.join("j.journal");
    let event = |i: u64| (T0 + i as i64, vec![i as u8 | 1; 100]);
    write_journal(&path, T0, &(0..40).map(event).collect::<Vec<_>>());
    let iv = Intervals {
        bytes: 1 << 20,
        events: 10,
    };
    assert_eq!(index::build_with(&path, iv).unwrap().records().len(), 4);
    // Events 40..60 lie past the checkpoint (event 40): the index does not vouch for them.
    let mut w = WriterOptions::new().index(false).open(&path).unwrap();
    append_all(&mut w, &(40..60).map(event).collect::<Vec<_>>());
    w.close().unwrap();
    let offsets: Vec<u64> = Reader::open(&path)
        .unwrap()
        .iter()
        .map(|e| e.unwrap().offset)
        .collect();
    // A payload byte flipped in event 13 (inside record 1's interval), in event 20 (record 2's own
    // entry) and in event 45 (past the checkpoint).
    let mut bytes = std::fs::read(&path).unwrap();
    for victim in [13, 20, 45] {
        bytes[(offsets[victim] + 16 + 50) as usize] ^= 1;
    }
    std::fs::write(&path, &bytes).unwrap();
    let r = Reader::open(&path).unwrap();
    let idx = Index::load(&r).expect("the O(1) checks do not see the damage (INDEX.md 10)");
    for n in [14u64, 17, 19] {
        // The scan from record 1 (event 10) steps over event 13 by its header (INDEX.md 8) and
        // finds event n, where a scan from the first event stops at event 13 (INDEX.md 10).
        assert!(index::iter_from_index(&r, None, n).is_err());
        let found = at(r.iter_from_index(n)).unwrap();
        assert_eq!((found.0, found.2.clone().unwrap().unwrap().0), (n, n));
        assert_eq!(
            at(index::iter_from_index(&r, Some(&idx), n)).unwrap(),
            found
        );
        let t = T0 + n as i64;
        assert!(index::iter_from_time(&r, None, t).is_err());
        assert_eq!(at(r.iter_from_time(t)).unwrap(), found);
        assert_eq!(at(index::iter_from_time(&r, Some(&idx), t)).unwrap(), found);
    }
    // The entry a seek stops at is checked in full when it is read.
    let mut it = r.iter_from_index(13).unwrap();
    assert_eq!(it.index(), 13);
    assert!(matches!(
        it.next(),
        Some(Err(journal::Error::Damaged { .. }))
    ));
    // A record's own entry is checked in full (INDEX.md 6.2): record 2 is refused, and the seek
    // answers from the journal alone, which stops at event 13.
    for n in [21u64, 25] {
        assert!(r.iter_from_index(n).is_err());
        assert!(r.iter_from_time(T0 + n as i64).is_err());
    }
    // Past the checkpoint every entry is checked in full: the scan from it stops at event 45.
    for n in [46u64, 59] {
        let from_checkpoint = r.iter_from_index(n);
        assert!(
            matches!(&from_checkpoint, Err(journal::Error::Damaged { offset, .. }) if *offset == offsets[45]),
            "{n}: {:?}",
            from_checkpoint.map(|it| it.index())
        );
    }
    let mut it = r.iter_from_index(42).unwrap();
    assert_eq!(it.next().unwrap().unwrap().index, 42);
}
