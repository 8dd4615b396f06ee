//! Streams journals into NATS JetStream (`journal publish`) and writes JetStream streams back into
//! journals (`journal mirror`), each event one message, resumable after a crash with no gap and no
//! duplicate (docs/NATS.md).
//!
//! The core `journal` crate stays synchronous and free of network code: this crate owns the one
//! tokio runtime of the process, the NATS client, and the bounded channel between the journal side
//! (a plain thread using [`journal::Reader`] / [`journal::Tailer`]) and the network side.
//!
//! Every message carries the event's bytes as its payload and these headers:
//! [`HDR_ID`] (the journal's identity), [`HDR_INDEX`] (the event's index), [`HDR_TIMESTAMP`] (its
//! timestamp, ns), [`HDR_START`] (the journal header's `start_timestamp`, FORMAT.md 3) and
//! `Nats-Msg-Id` = `<journal id>:<index>`.

mod conn;
mod mirror;
mod publish;

use std::fmt;
use std::path::{Path, PathBuf};

pub use conn::Connection;
pub use mirror::{mirror, MirrorConfig, MirrorStart, MirrorSummary};
pub use publish::{publish, PublishConfig, PublishStart, PublishSummary, StreamSettings};

/// Header: the identity of the journal the event comes from.
pub const HDR_ID: &str = "Journal-Id";
/// Header: the event's index in its journal (decimal).
pub const HDR_INDEX: &str = "Journal-Index";
/// Header: the event's timestamp, nanoseconds since the epoch (decimal).
pub const HDR_TIMESTAMP: &str = "Journal-Timestamp";
/// Header: the source journal's `start_timestamp` (decimal ns), so that a mirror can be created
/// with the same header.
pub const HDR_START: &str = "Journal-Start";

/// An error that means "the data is bad" (the CLI's exit status 1): a message that is not a
/// journal event where `--strict` asks for events only, a gap in the stream, events of another
/// journal.
#[derive(Debug)]
pub struct BadData(pub String);

impl fmt::Display for BadData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadData {}

/// The default journal identity: the file's name and the header's `start_timestamp`, which
/// together survive a restart and tell two journals apart.
pub fn default_journal_id(path: &Path, start_timestamp: i64) -> String {
    format!("{}-{start_timestamp}", clean_name(path))
}

/// The default identity of a journal set: its directory's name and the subject, `<name>@<subject>`.
/// A set has no creation stamp that outlives retention (its first segment may be removed), so the
/// subject makes the identity unique within a stream: a subject carries one journal, and
/// `Nats-Msg-Id` de-duplicates across the whole stream.
pub fn default_set_id(dir: &Path, subject: &str) -> String {
    let dir: PathBuf = dir.components().collect();
    format!("{}@{subject}", clean_name(&dir))
}

fn clean_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "journal".to_owned());
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Checks a journal identity given on the command line: printable ASCII, no spaces or colons
/// (it becomes part of `Nats-Msg-Id`, `<id>:<index>`).
pub fn check_journal_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 200 {
        return Err("a journal id has 1 to 200 characters".into());
    }
    if let Some(c) = id
        .chars()
        .find(|c| !c.is_ascii_graphic() || *c == ':' || *c == '"')
    {
        return Err(format!(
            "journal id '{}' contains {c:?}: only printable ASCII without ':' or '\"'",
            id.escape_debug()
        ));
    }
    Ok(())
}

/// Whether the NATS subject `subject` is matched by the filter `pattern` (`*` one token, `>` the
/// rest).
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether every subject `filter` can match is inside `pattern` (for a literal filter, the same
/// as [`subject_matches`]).
pub fn filter_within(pattern: &str, filter: &str) -> bool {
    let mut p = pattern.split('.');
    let mut f = filter.split('.');
    loop {
        match (p.next(), f.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(t)) if t != ">" => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Checks a subject given for publishing: non-empty tokens, no wildcard, no whitespace.
pub fn check_subject(subject: &str, wildcards: bool) -> Result<(), String> {
    let bad = subject.is_empty()
        || subject.split('.').any(|t| {
            t.is_empty()
                || t.chars().any(|c| c.is_whitespace())
                || (!wildcards && (t == "*" || t == ">"))
        });
    if bad {
        let what = if wildcards {
            "a subject filter"
        } else {
            "a subject (no wildcards)"
        };
        return Err(format!("'{}' is not {what}", subject.escape_debug()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_like_nats() {
        assert!(subject_matches("md.>", "md.a.b"));
        assert!(subject_matches("md.*", "md.a"));
        assert!(!subject_matches("md.*", "md.a.b"));
        assert!(!subject_matches("md.>", "md"));
        assert!(subject_matches("md", "md"));
        assert!(!subject_matches("md", "mdx"));
        assert!(filter_within("md.>", "md.*"));
        assert!(!filter_within("md.*", "md.>"));
        assert!(filter_within("md.*", "md.a"));
    }

    #[test]
    fn ids_and_subjects_are_checked() {
        assert!(check_journal_id("quotes.journal-17").is_ok());
        assert!(check_journal_id("a:b").is_err());
        assert!(check_journal_id("a b").is_err());
        assert!(check_journal_id("").is_err());
        assert!(check_subject("md.quotes", false).is_ok());
        assert!(check_subject("md.*", false).is_err());
        assert!(check_subject("md.*", true).is_ok());
        assert!(check_subject("md..x", true).is_err());
        assert_eq!(
            default_journal_id(Path::new("/x/q 1.journal"), 5),
            "q_1.journal-5"
        );
        assert_eq!(
            default_set_id(Path::new("/x/quotes set/"), "md.q"),
            "quotes_set@md.q"
        );
        assert!(check_journal_id(&default_set_id(Path::new("s"), "md.q")).is_ok());
    }
}
