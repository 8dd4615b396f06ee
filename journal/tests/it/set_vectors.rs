//! The journal-set vectors of spec/vectors/set/ (SET.md 13): every line of `expected.txt` is checked
//! against the library (its set layout functions and a `journal::Reader` per segment) and against
//! an independent decoder written here from SET.md and FORMAT.md alone, with its own minimal
//! journal decoder. Section numbers below are SET.md's unless they say FORMAT.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use journal::set::{is_set, list_segments, SetMeta};
use journal::{Error, Reader};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/set")
}

/// The CRC of expected.txt: over timestamp (i64 LE) || payload of every event, in global order.
fn events_crc(events: &[(i64, Vec<u8>)]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for (ts, p) in events {
        h.update(&ts.to_le_bytes());
        h.update(p);
    }
    h.finalize()
}

/// One segment as read: its first index, its events, whether its content ends in damage.
type Segment = (u64, Vec<(i64, Vec<u8>)>, bool);

/// A set's outcome in the words of expected.txt.
fn outcome(segments: &[Segment]) -> String {
    let first = segments.first().map_or(0, |s| s.0);
    let mut listing: Vec<String> = Vec::new();
    for (f, evs, _) in segments {
        listing.push(format!("{f}:{}", evs.len()));
    }
    let list = if listing.is_empty() {
        "-".to_string()
    } else {
        listing.join(",")
    };
    for (k, (f, evs, damaged)) in segments.iter().enumerate() {
        if *damaged {
            return format!("damaged first={first} segments={list} at={f}");
        }
        if let Some(next) = segments.get(k + 1) {
            let n = evs.len() as u64;
            if f + n != next.0 {
                return format!(
                    "broken_chain first={first} segments={list} at={f} count={n} found={}",
                    next.0
                );
            }
        }
    }
    let next = segments.last().map_or(0, |s| s.0 + s.1.len() as u64);
    let all: Vec<(i64, Vec<u8>)> = segments.iter().flat_map(|s| s.1.clone()).collect();
    format!(
        "intact first={first} next={next} segments={list} crc={:08x}",
        events_crc(&all)
    )
}

/// The library's verdict: `is_set`, `SetMeta::read`, `list_segments`, a Reader per segment.
fn library_outcome(dir: &Path) -> String {
    if !is_set(dir) {
        return "not_a_set".into();
    }
    match SetMeta::read(dir) {
        Ok(_) => {}
        Err(Error::BadSet { .. }) => return "bad_meta".into(),
        Err(e) => panic!("{}: {e}", dir.display()),
    }
    let listed = list_segments(dir).unwrap();
    let mut segments = Vec::new();
    for (k, s) in listed.iter().enumerate() {
        let newest = k + 1 == listed.len();
        let len = std::fs::metadata(&s.path).unwrap().len();
        if newest && len < journal::HEADER_LEN {
            // A segment being created (6.1).
            segments.push((s.first_index, Vec::new(), false));
            continue;
        }
        let r = Reader::open(&s.path).unwrap();
        let rep = r.verify().unwrap();
        let events: Vec<(i64, Vec<u8>)> = r
            .iter()
            .map_while(|e| e.ok())
            .map(|e| (e.timestamp, e.payload.to_vec()))
            .collect();
        assert_eq!(events.len() as u64, rep.events);
        segments.push((s.first_index, events, !rep.is_intact()));
    }
    outcome(&segments)
}

/// An independent reading of a set, from SET.md and FORMAT.md alone.
mod spec {
    use std::path::Path;

    const KEYS: [&str; 6] = [
        "roll-period-ns",
        "roll-offset-ns",
        "roll-max-bytes",
        "retain-segments",
        "retain-bytes",
        "retain-age-ns",
    ];

    /// Section 3: whether the metadata text is accepted.
    pub fn meta_ok(text: &[u8]) -> bool {
        if text.len() > 4096 {
            return false;
        }
        let Ok(text) = std::str::from_utf8(text) else {
            return false;
        };
        let Some(body) = text.strip_prefix("journal-set 1\n") else {
            return false;
        };
        let mut v: [Option<u64>; 6] = [None; 6];
        if !body.is_empty() && !body.ends_with('\n') {
            return false;
        }
        for line in body.split_terminator('\n') {
            let Some((k, val)) = line.split_once(' ') else {
                return false;
            };
            let Some(i) = KEYS.iter().position(|x| *x == k) else {
                return false;
            };
            if v[i].is_some() || val.is_empty() || !val.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            match val.parse::<u64>() {
                Ok(x) => v[i] = Some(x),
                Err(_) => return false,
            }
        }
        let [period, offset, max_bytes, ..] = v.map(|x| x.unwrap_or(0));
        let rule1 = offset == 0 || period != 0;
        let rule2 = period == 0 || offset < period;
        let rule3 = period == 0 || period >= 1_000_000_000;
        let rule4 = max_bytes == 0 || max_bytes >= 4096;
        rule1 && rule2 && rule3 && rule4
    }

    /// Section 2: the first index named by a segment name.
    pub fn segment_first(name: &str) -> Option<u64> {
        let digits = name.strip_suffix(".journal")?;
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// FORMAT.md 3 and 6: the events of a journal's content, and whether it ends in damage.
    /// `None` when the header is not structurally valid.
    #[allow(clippy::type_complexity)]
    pub fn decode(b: &[u8]) -> Option<(Vec<(i64, Vec<u8>)>, bool)> {
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        if b.len() < 24 {
            return None;
        }
        let wo = u64_at(0);
        if wo < 24 || wo % 8 != 0 || wo > 1 << 48 {
            return None;
        }
        let (wo, len) = (wo as usize, b.len());
        let mut p = 24usize;
        let mut events = Vec::new();
        while p < wo {
            if p + 16 > wo || p + 16 > len {
                return Some((events, true));
            }
            let ts = u64_at(p) as i64;
            let size = u32::from_le_bytes(b[p + 8..p + 12].try_into().unwrap()) as usize;
            let crc = u32::from_le_bytes(b[p + 12..p + 16].try_into().unwrap());
            if size > 1 << 30 {
                return Some((events, true));
            }
            let end = p + ((16 + size + 7) & !7);
            if end > wo || end > len {
                return Some((events, true));
            }
            let payload = &b[p + 16..p + 16 + size];
            let mut h = crc32fast::Hasher::new();
            h.update(&b[p..p + 12]);
            h.update(payload);
            if h.finalize() != crc || b[p + 16 + size..end].iter().any(|&x| x != 0) {
                return Some((events, true));
            }
            events.push((ts, payload.to_vec()));
            p = end;
        }
        Some((events, false))
    }

    /// The set at `dir` (sections 2 to 4, 6.1).
    pub fn read(dir: &Path) -> Result<Vec<super::Segment>, &'static str> {
        let meta = dir.join("journal-set");
        if !meta.is_file() {
            return Err("not_a_set");
        }
        if !meta_ok(&std::fs::read(meta).unwrap()) {
            return Err("bad_meta");
        }
        let mut names: Vec<(u64, std::path::PathBuf)> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let e = e.unwrap();
                let first = segment_first(e.file_name().to_str()?)?;
                Some((first, e.path()))
            })
            .collect();
        names.sort();
        let count = names.len();
        let mut out = Vec::new();
        for (k, (first, path)) in names.into_iter().enumerate() {
            let bytes = std::fs::read(&path).unwrap();
            match decode(&bytes) {
                Some((events, damaged)) => out.push((first, events, damaged)),
                None if k + 1 == count && bytes.len() < 24 => out.push((first, Vec::new(), false)),
                None => out.push((first, Vec::new(), true)),
            }
        }
        Ok(out)
    }
}

fn spec_outcome(dir: &Path) -> String {
    match spec::read(dir) {
        Ok(segments) => outcome(&segments),
        Err(verdict) => verdict.to_string(),
    }
}

#[test]
fn every_set_vector_gives_its_expected_outcome_to_the_library_and_the_spec() {
    let root = vectors_dir();
    let text = std::fs::read_to_string(root.join("expected.txt")).unwrap();
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        let (name, rest) = line.split_once(' ').expect("`<set> <outcome>`");
        assert!(expected
            .insert(name.to_string(), rest.to_string())
            .is_none());
    }
    let dirs: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    for d in &dirs {
        assert!(
            expected.contains_key(d),
            "set vector {d} has no line in expected.txt"
        );
    }
    assert!(expected.len() >= 12, "{} set vectors", expected.len());
    for (name, want) in &expected {
        let dir = root.join(name);
        assert!(
            dir.is_dir(),
            "{name} is in expected.txt but not in the directory"
        );
        assert_eq!(&spec_outcome(&dir), want, "{name}: the independent decoder");
        assert_eq!(&library_outcome(&dir), want, "{name}: the library");
    }
}

#[test]
fn the_spec_decoder_agrees_with_the_library_on_sets_the_writer_makes() {
    use journal::set::RollPolicy;
    use journal::SetWriterOptions;
    let tmp = crate::support::TempDir::new("set-vec");
    let set = tmp.join("set");
    let mut w = SetWriterOptions::new()
        .roll(RollPolicy {
            period_ns: 1_000_000_000,
            offset_ns: 0,
            max_bytes: 4096,
        })
        .create(&set)
        .unwrap();
    for i in 0..500u64 {
        w.append(i as i64 * 40_000_000, &crate::support::payload_for(i, 600))
            .unwrap();
        if i % 50 == 0 {
            w.pretouch().unwrap();
        }
    }
    w.close().unwrap();
    let got = spec_outcome(&set);
    assert!(got.starts_with("intact first=0 next=500 "), "{got}");
    assert_eq!(got, library_outcome(&set));
}

/// `SetReader::verify` gives every vector its verdict: intact with its event count, damaged, or
/// the chain break that expected.txt names. The vector `creating` (a newest segment shorter than a
/// header, SET.md 6.1) is intact with no events, not an error.
#[test]
fn set_reader_verify_agrees_with_every_set_vector() {
    let root = vectors_dir();
    let text = std::fs::read_to_string(root.join("expected.txt")).unwrap();
    let mut checked = 0;
    for line in text.lines() {
        let mut words = line.split(' ');
        let (name, verdict) = (words.next().unwrap(), words.next().unwrap());
        let field = |key: &str| -> u64 {
            line.split(' ')
                .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
                .unwrap_or_else(|| panic!("{name}: no {key}"))
                .parse()
                .unwrap()
        };
        if !["intact", "damaged", "broken_chain"].contains(&verdict) {
            continue;
        }
        let set = journal::set::SetReader::open(root.join(name)).unwrap();
        let report = set
            .verify()
            .unwrap_or_else(|e| panic!("{name}: verify failed: {e}"));
        match verdict {
            "intact" => {
                assert!(report.is_intact(), "{name}: {report:?}");
                assert_eq!(report.events(), field("next") - field("first"), "{name}");
            }
            "damaged" => {
                assert!(!report.is_intact(), "{name}");
                let at = field("at");
                let seg = report.segments.iter().find(|s| s.first_index == at);
                assert!(seg.is_some_and(|s| !s.report.is_intact()), "{name}");
            }
            _ => {
                let at = field("at");
                let b = report.breaks.first().unwrap_or_else(|| panic!("{name}"));
                assert_eq!(
                    (b.first_index, b.expected, b.found),
                    (at, at + field("count"), field("found")),
                    "{name}"
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 8, "{checked} vectors checked");
}
