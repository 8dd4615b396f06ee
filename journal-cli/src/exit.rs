//! Exit statuses: 0 success, 1 the data is bad, 2 usage or I/O error; and how an error becomes the
//! one line `journal: error: ...` on stderr.

use std::fmt;
use std::io;
use std::process::ExitCode;

/// How a command that ran to completion ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Status {
    /// Exit 0.
    Success,
    /// Exit 1: the command did its work and found the data bad (it has already said so).
    DataBad,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        match s {
            Status::Success => ExitCode::SUCCESS,
            Status::DataBad => ExitCode::from(1),
        }
    }
}

/// An error that means "the data is bad" (exit 1): a damaged journal, a malformed input line.
#[derive(Debug)]
pub struct DataError(pub String);

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DataError {}

/// What `main` does with an error a command returned.
pub enum Failure {
    /// stdout was closed by its reader (`| head`): a quiet, successful exit.
    ClosedPipe,
    /// One line on stderr, then exit with this code.
    Report { code: u8, message: String },
}

/// Sorts an error into a quiet exit, "the data is bad" (1), or usage / I/O (2).
pub fn classify(e: &anyhow::Error) -> Failure {
    if e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    }) {
        return Failure::ClosedPipe;
    }
    let bad_data = e.chain().any(|c| {
        c.is::<DataError>() || matches!(c.downcast_ref(), Some(journal::Error::Damaged { .. }))
    });
    Failure::Report {
        code: if bad_data { 1 } else { 2 },
        message: one_line(e),
    }
}

/// `first`, then `what` failing with `then` while cleaning up after it, as one error: one clean
/// line (`line 3: ...; closing the journal also failed: ...`, each with its causes) with `first`'s
/// status.
pub fn also_failed(first: anyhow::Error, what: &str, then: anyhow::Error) -> anyhow::Error {
    let bad_data = matches!(classify(&first), Failure::Report { code: 1, .. });
    let msg = format!(
        "{}; {what} also failed: {}",
        one_line(&first),
        one_line(&then)
    );
    if bad_data {
        DataError(msg).into()
    } else {
        anyhow::Error::msg(msg)
    }
}

/// The error and its causes on one line, without repeating a cause the message already quotes
/// (the library's `Display` leaves its `source()` out, but a context message may quote it). A line
/// break or other control character inside it (a file name can hold one) is escaped, so the
/// message stays one line.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    crate::output::escape_controls(&msg)
}

/// Collapses line breaks and the indentation after them into single spaces.
pub fn flatten(s: &str) -> String {
    s.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn causes_are_not_repeated() {
        let io = io::Error::new(io::ErrorKind::NotFound, "gone");
        let e = anyhow::Error::new(journal::Error::Io {
            path: "f".into(),
            op: "open",
            source: io,
        });
        match classify(&e) {
            Failure::Report { code, message } => {
                assert_eq!(code, 2);
                assert_eq!(message, "f: open failed: gone");
            }
            Failure::ClosedPipe => panic!("not a pipe"),
        }
        let e = Err::<(), _>(io::Error::other("disk on fire"))
            .context("writing x")
            .unwrap_err();
        assert!(
            matches!(classify(&e), Failure::Report { message, .. } if message == "writing x: disk on fire")
        );
    }

    #[test]
    fn a_second_failure_joins_the_first_on_one_line() {
        let first = anyhow::Error::new(DataError("line 3: bad".into()));
        let e = also_failed(
            first,
            "closing the journal",
            anyhow::anyhow!("disk on fire"),
        );
        match classify(&e) {
            Failure::Report { code, message } => {
                assert_eq!(code, 1);
                assert_eq!(
                    message,
                    "line 3: bad; closing the journal also failed: disk on fire"
                );
            }
            Failure::ClosedPipe => panic!("not a pipe"),
        }
        let first = Err::<(), _>(io::Error::other("read error"))
            .context("reading line 1 of stdin")
            .unwrap_err();
        let e = also_failed(first, "closing the journal", anyhow::anyhow!("no space"));
        assert!(matches!(classify(&e), Failure::Report { code: 2, message }
            if message == "reading line 1 of stdin: read error; closing the journal also failed: no space"));
    }

    #[test]
    fn broken_pipe_is_quiet_and_data_errors_exit_1() {
        let e = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("stdout");
        assert!(matches!(classify(&e), Failure::ClosedPipe));
        let e = anyhow::Error::new(DataError("line 3: bad".into()));
        assert!(matches!(classify(&e), Failure::Report { code: 1, .. }));
    }
}
