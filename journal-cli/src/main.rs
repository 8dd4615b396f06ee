//! The `journal` command-line tool: inspect, verify, dump, follow, append to and repair journals
//! (spec/FORMAT.md), record UDP feeds and pcap captures into them, and replay them through
//! shared-memory rings (spec/RING.md).
//!
//! Exit status: 0 success, 1 the data is bad (a damaged journal, a malformed input line), 2 usage or
//! I/O error or a file that is not a journal. Errors are one line on stderr, `journal: error: ...`.
//! A closed stdout (`| head`) ends the command quietly with status 0.
#![forbid(unsafe_code)]

mod commands;
mod exit;
mod output;
mod progress;
mod sink;
mod source;
mod time;
mod units;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::{Failure, Status};

const EXAMPLES: &str = "\
Examples:
  journal info quotes.journal
  journal verify --json quotes.journal
  journal dump --format jsonl --from-time 2026-11-02T14:30:00Z quotes.journal
  journal tail -f quotes.journal
  printf 'hello\\nworld\\n' | journal append quotes.journal
  journal repair --dry-run quotes.journal
  journal ring create /dev/shm/md.ring --capacity 4M
  journal replay quotes.journal --ring /dev/shm/md.ring --speed 1
  journal demo
  journal capture --udp 239.1.1.1:5000 --iface 10.0.0.5 feed.journal
  journal import-pcap feed.pcap feed.journal
  journal capture --udp 239.1.1.1:5000 --roll daily --roll-offset 22h feed.set
  journal stats --interval 100ms quotes.journal

Exit status: 0 success, 1 the data is bad (damage found, malformed input),
2 usage or I/O error, or the file is not a journal.";

/// Inspect, verify, dump, follow, append to and repair append-only event journals, record UDP feeds
/// and pcap captures into them, and replay them through shared-memory rings.
#[derive(Debug, Parser)]
#[command(name = "journal", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    Info(commands::info::Args),
    Verify(commands::verify::Args),
    Dump(commands::dump::Args),
    Tail(commands::tail::Args),
    Append(commands::append::Args),
    Repair(commands::repair::Args),
    Ring(commands::ring::Args),
    Replay(commands::replay::Args),
    Demo(commands::demo::Args),
    Capture(commands::capture::Args),
    ImportPcap(commands::import_pcap::Args),
    Index(commands::index::Args),
    Prune(commands::prune::Args),
    Stats(commands::stats::Args),
    Export(commands::export::Args),
    Import(commands::import::Args),
    #[cfg(feature = "nats")]
    Publish(commands::publish::Args),
    #[cfg(feature = "nats")]
    Mirror(commands::mirror::Args),
}

impl Command {
    fn run(self) -> anyhow::Result<Status> {
        match self {
            Command::Info(args) => commands::info::run(args),
            Command::Verify(args) => commands::verify::run(args),
            Command::Dump(args) => commands::dump::run(args),
            Command::Tail(args) => commands::tail::run(args),
            Command::Append(args) => commands::append::run(args),
            Command::Capture(args) => commands::capture::run(args),
            Command::ImportPcap(args) => commands::import_pcap::run(args),
            Command::Repair(args) => commands::repair::run(args),
            Command::Ring(args) => commands::ring::run(args),
            Command::Replay(args) => commands::replay::run(args),
            Command::Demo(args) => commands::demo::run(args),
            Command::Index(args) => commands::index::run(args),
            Command::Prune(args) => commands::prune::run(args),
            Command::Stats(args) => commands::stats::run(args),
            Command::Export(args) => commands::export::run(args),
            Command::Import(args) => commands::import::run(args),
            #[cfg(feature = "nats")]
            Command::Publish(args) => commands::publish::run(args),
            #[cfg(feature = "nats")]
            Command::Mirror(args) => commands::mirror::run(args),
        }
    }
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        // A panic is a bug; still, one line and the usual error status, never a backtrace.
        let msg = exit::flatten(&info.to_string());
        let _ = writeln!(std::io::stderr(), "journal: error: internal error: {msg}");
        std::process::exit(2);
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    match cli.command.run() {
        Ok(status) => status.into(),
        Err(e) => match exit::classify(&e) {
            Failure::ClosedPipe => ExitCode::SUCCESS,
            Failure::Report { code, message } => {
                let _ = writeln!(std::io::stderr(), "journal: error: {message}");
                ExitCode::from(code)
            }
        },
    }
}

/// `--help` and `--version` print as clap renders them; a usage error becomes one line,
/// `journal: error: <what> (see 'journal dump --help')`, with status 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    use clap::CommandFactory;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        // A closed stdout is not worth a word here either.
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let cli = Cli::command();
    let names: Vec<&str> = cli
        .get_subcommands()
        .map(|c| c.get_name())
        .filter(|&n| n != "help")
        .collect();
    // The subcommand the error is about: the first word of the command line that names one.
    let command = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .filter(|a| names.contains(&a.as_str()))
        .map_or_else(|| "journal".to_owned(), |c| format!("journal {c}"));
    let what = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        format!("no command given: one of {}", names.join(", "))
    } else {
        let text = e.to_string();
        let first = text.split("\n\n").next().unwrap_or_default();
        exit::flatten(first.trim_start_matches("error: "))
    };
    let _ = writeln!(
        std::io::stderr(),
        "journal: error: {what} (see '{command} --help')"
    );
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
