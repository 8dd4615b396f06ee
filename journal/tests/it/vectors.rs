//! The committed test vectors of `spec/vectors/` (FORMAT.md section 13): every line of
//! `expected.txt` must be the outcome of both `spec_impl` and the library, and every vector file must
//! have a line.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use crate::cross::{assert_library_agrees, library_outcome};
use crate::spec_impl;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors")
}

/// The lines of `expected.txt` as `(file name, outcome)`.
fn expected() -> Vec<(String, String)> {
    let path = vectors_dir().join("expected.txt");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(|line| {
            let (name, outcome) = line
                .split_once(' ')
                .unwrap_or_else(|| panic!("expected.txt: malformed line {line:?}"));
            (name.to_string(), outcome.to_string())
        })
        .collect()
}

/// Checks the grammar of an outcome (see spec/vectors/README.md), so that a typo in expected.txt
/// cannot pass by matching an equally wrong implementation.
fn assert_well_formed(name: &str, outcome: &str) {
    let fields: Vec<&str> = outcome.split(' ').collect();
    let number = |field: &str, key: &str| -> u64 {
        let value = field
            .strip_prefix(key)
            .and_then(|v| v.strip_prefix('='))
            .unwrap_or_else(|| panic!("{name}: expected {key}=..., found {field:?}"));
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}: {key} is not a decimal number: {value:?}"))
    };
    match fields.as_slice() {
        ["not_a_journal"] => {}
        ["intact", events, end] => {
            number(events, "events");
            number(end, "end");
        }
        ["damaged", events, end, offset, reason] => {
            number(events, "events");
            assert_eq!(
                number(end, "end"),
                number(offset, "offset"),
                "{name}: damage offset must equal end"
            );
            let reason = reason
                .strip_prefix("reason=")
                .unwrap_or_else(|| panic!("{name}: expected reason=..., found {reason:?}"));
            assert!(
                [
                    "truncated",
                    "bad_header",
                    "overrun",
                    "checksum",
                    "bad_padding"
                ]
                .contains(&reason),
                "{name}: unknown reason {reason:?}"
            );
        }
        _ => panic!("{name}: malformed outcome {outcome:?}"),
    }
}

#[test]
fn every_vector_has_exactly_one_expected_line() {
    let lines = expected();
    let named: Vec<&str> = lines.iter().map(|(n, _)| n.as_str()).collect();
    let unique: BTreeSet<&str> = named.iter().copied().collect();
    assert_eq!(unique.len(), named.len(), "duplicate names in expected.txt");

    let on_disk: BTreeSet<String> = fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".journal"))
        .collect();
    let listed: BTreeSet<String> = unique.iter().map(|n| n.to_string()).collect();
    assert_eq!(
        on_disk, listed,
        "the .journal files in spec/vectors (left) and the lines of expected.txt (right) differ"
    );
}

#[test]
fn the_required_vectors_are_present() {
    let listed: BTreeSet<String> = expected().into_iter().map(|(n, _)| n).collect();
    for name in [
        "empty",
        "zero_length",
        "mixed_sizes",
        "preallocated_tail",
        "example",
        "stale_tail",
        "event_count_lags",
        "flipped_payload_bit",
        "torn_tail",
        "hostile_size",
        "overrun",
        "bad_padding",
        "zeroed_tail",
        "truncated_header",
        "short",
        "text",
        "misaligned",
        "below_header",
        "huge_offset",
    ] {
        let file = format!("{name}.journal");
        assert!(
            listed.contains(&file),
            "{file} is missing from expected.txt"
        );
    }
}

#[test]
fn spec_impl_gives_every_expected_outcome() {
    for (name, outcome) in expected() {
        assert_well_formed(&name, &outcome);
        let bytes = fs::read(vectors_dir().join(&name)).unwrap();
        assert_eq!(spec_impl::decode(&bytes).outcome(), outcome, "{name}");
    }
}

#[test]
fn library_gives_every_expected_outcome() {
    for (name, outcome) in expected() {
        let path = vectors_dir().join(&name);
        assert_eq!(library_outcome(&path), outcome, "{name}");
        // And the same header fields and events as spec_impl.
        let bytes = fs::read(&path).unwrap();
        assert_library_agrees(&path, &spec_impl::decode(&bytes));
    }
}

#[test]
fn example_vector_is_the_worked_example() {
    let bytes = fs::read(vectors_dir().join("example.journal")).unwrap();
    assert_eq!(bytes, spec_impl::WORKED_EXAMPLE.to_vec());
}

#[test]
fn stale_tail_vector_holds_a_valid_entry_past_write_offset() {
    // The vector is only a test of section 6.3 if the ignored bytes really are a valid entry.
    let bytes = fs::read(vectors_dir().join("stale_tail.journal")).unwrap();
    let d = spec_impl::decode(&bytes);
    let j = d.journal();
    let mut extended = bytes.clone();
    let next = j.end
        + spec_impl::pad8(
            16 + u64::from(u32::from_le_bytes(
                bytes[j.end as usize + 8..j.end as usize + 12]
                    .try_into()
                    .unwrap(),
            )),
        );
    extended[0..8].copy_from_slice(&next.to_le_bytes());
    let e = spec_impl::decode(&extended);
    assert_eq!(e.journal().events.len(), j.events.len() + 1);
    assert_eq!(e.journal().events[..j.events.len()], j.events[..]);
    assert_eq!(e.outcome(), format!("intact events=3 end={next}"));
}
