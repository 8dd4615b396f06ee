//! `journal mirror`: write a NATS JetStream stream's journal events into a local journal
//! (docs/NATS.md). The NATS side lives in the `journal-nats` crate.

use std::path::PathBuf;

use journal_nats::{MirrorConfig, MirrorStart};

use super::publish::{data_error, NatsArgs};
use crate::exit::Status;
use crate::sink::{roll_help, RollArgs};
use crate::time;

const EXAMPLES: &str = concat!(
    "\
Examples:
  journal mirror --nats nats://127.0.0.1:4222 --stream MD --subject md.quotes quotes.journal
  journal mirror -f --nats nats://a:4222,nats://b:4222 --stream MD --subject md.quotes quotes.journal
  journal mirror -f --nats nats://127.0.0.1:4222 --stream MD --subject md.quotes quotes-set/
  journal mirror -f --roll daily --nats nats://127.0.0.1:4222 --stream MD --subject md.quotes new-set/

The target gets the same events as the source journal, with their original timestamps; a target that
is an existing journal set gets them under the same global indexes, rolled by its own policy. Its
position in the stream is kept in TARGET.nats (beside a set's directory; written after the journal
is synced), so a restart carries on
exactly after the last event written; --from-seq and --from-time apply only without that file
(--from-time is the time the server stored the message). Messages without the journal headers are
skipped and counted, or refused with --strict (status 1); a gap in the events is refused (status 1).

",
    roll_help!()
);

/// Write a NATS JetStream stream's journal events into a local journal.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The local journal (created if missing), or a journal set's directory (created with --roll)
    target: PathBuf,
    #[command(flatten)]
    nats: NatsArgs,
    /// The JetStream stream.
    #[arg(long)]
    stream: String,
    /// Only messages on this subject (filter; one journal's subject).
    #[arg(long, value_name = "FILTER", value_parser = |s: &str| journal_nats::check_subject(s, true).map(|()| s.to_owned()))]
    subject: Option<String>,
    /// Start at this stream sequence (without a position file).
    #[arg(long, value_name = "N", conflicts_with = "from_time")]
    from_seq: Option<u64>,
    /// Start at the first message stored at or after this time (ns or RFC 3339).
    #[arg(long, value_name = "T", value_parser = time::parse, allow_hyphen_values = true)]
    from_time: Option<i64>,
    /// Keep mirroring new messages until SIGINT or SIGTERM.
    #[arg(short, long)]
    follow: bool,
    /// Refuse a message without the journal headers instead of skipping it.
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    roll: RollArgs,
}

/// Runs `journal mirror`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let start = match (args.from_seq, args.from_time) {
        (Some(n), _) => MirrorStart::Seq(n),
        (None, Some(t)) => MirrorStart::Time(t),
        (None, None) => MirrorStart::Beginning,
    };
    let roll = args.roll.policy()?;
    let target = args.target.clone();
    let stream = args.stream.clone();
    let cfg = MirrorConfig {
        conn: args.nats.connection(),
        stream: args.stream,
        filter: args.subject,
        start,
        follow: args.follow,
        strict: args.strict,
        target: args.target,
        roll,
    };
    let s = journal_nats::mirror(cfg).map_err(data_error)?;
    eprintln!(
        "journal: mirrored stream '{stream}' into {}: {} events written, {} already there, {} messages without journal headers skipped; {} events, stream sequence {}{} in {:.1}s",
        target.display(),
        s.written,
        s.already_present,
        s.not_events,
        s.events,
        s.last_seq,
        if s.interrupted { ", interrupted" } else { "" },
        s.elapsed.as_secs_f64()
    );
    Ok(Status::Success)
}
