//! `journal publish`: stream a journal into NATS JetStream, one message per event (docs/NATS.md).
//! The NATS side lives in the `journal-nats` crate; this module only turns arguments into its
//! configuration.

use std::path::PathBuf;
use std::time::Duration;

use journal_nats::{Connection, PublishConfig, PublishStart, StreamSettings};

use crate::exit::{DataError, Status};
use crate::time;

const EXAMPLES: &str = "\
Examples:
  journal publish quotes.journal --nats nats://127.0.0.1:4222 --stream MD --subject md.quotes --create-stream
  journal publish -f quotes.journal --nats nats://a:4222,nats://b:4222 --stream MD --subject md.quotes
  journal publish quotes.journal --nats tls://nats.example:4222 --creds app.creds --stream MD --subject md.q
  journal publish -f quotes-set/ --nats nats://127.0.0.1:4222 --stream MD --subject md.quotes

Each event becomes one message: the payload is the event's bytes; headers Journal-Id, Journal-Index,
Journal-Timestamp (ns) and Journal-Start; Nats-Msg-Id is '<journal id>:<index>'. A set's events carry
their global indexes, and its default id is '<directory name>@<subject>'. A restart resumes
right after the last event the stream holds for this journal (--from-index and --from-time apply only
when it holds none). With --follow, the writer's appends are published until SIGINT or SIGTERM,
which stop after the acknowledgements in flight. Secrets can come from NATS_PASSWORD and NATS_TOKEN.";

/// How to reach NATS (shared by `publish` and `mirror`).
#[derive(Debug, clap::Args)]
pub struct NatsArgs {
    /// NATS server URLs, comma-separated or repeated (nats://host:port, tls://host:port).
    #[arg(
        long = "nats",
        value_name = "URL",
        required = true,
        value_delimiter = ','
    )]
    servers: Vec<String>,
    /// User name (the password from --password or NATS_PASSWORD).
    #[arg(long)]
    user: Option<String>,
    /// Password for --user (better: the NATS_PASSWORD environment variable).
    #[arg(long)]
    password: Option<String>,
    /// Authentication token (better: the NATS_TOKEN environment variable).
    #[arg(long)]
    token: Option<String>,
    /// A credentials file (JWT and NKey seed).
    #[arg(long, value_name = "FILE")]
    creds: Option<PathBuf>,
    /// Require TLS.
    #[arg(long)]
    tls: bool,
    /// Root certificate(s) to trust (PEM).
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Client certificate (PEM), with --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Client key (PEM), with --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Give up after this many seconds without reaching a server or getting an acknowledgement.
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_secs)]
    timeout: Duration,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() && x < 1e9 => Ok(Duration::from_secs_f64(x)),
        _ => Err(format!("'{s}' is not a positive number of seconds")),
    }
}

/// `90s`, `15m`, `24h`, `7d` or plain seconds; `0` keeps messages forever.
fn parse_age(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 90s, 15m, 24h or 7d"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("'{s}': the unit is s, m, h or d")),
    };
    n.checked_mul(mult)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("'{s}' is too long"))
}

impl NatsArgs {
    pub fn connection(self) -> Connection {
        Connection {
            servers: self.servers,
            user: self.user,
            password: self
                .password
                .or_else(|| std::env::var("NATS_PASSWORD").ok()),
            token: self.token.or_else(|| std::env::var("NATS_TOKEN").ok()),
            creds: self.creds,
            tls_ca: self.tls_ca,
            tls_cert: self.tls_cert,
            tls_key: self.tls_key,
            tls_required: self.tls,
            timeout: self.timeout,
            ack_timeout: Duration::from_secs(5),
        }
    }
}

/// Publish a journal's events to a NATS JetStream stream, one message per event.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The journal, or a journal set's directory (its events with their global indexes).
    source: PathBuf,
    #[command(flatten)]
    nats: NatsArgs,
    /// The JetStream stream.
    #[arg(long)]
    stream: String,
    /// The subject of every message (one subject per journal; no wildcards).
    #[arg(long, value_parser = |s: &str| journal_nats::check_subject(s, false).map(|()| s.to_owned()))]
    subject: String,
    /// Keep publishing as the writer appends, until SIGINT or SIGTERM.
    #[arg(short, long)]
    follow: bool,
    /// Start at this event index (when the stream holds nothing of this journal).
    #[arg(long, value_name = "N", conflicts_with = "from_time")]
    from_index: Option<u64>,
    /// Start at the first event at or after this time (ns or RFC 3339; same condition).
    #[arg(long, value_name = "T", value_parser = time::parse, allow_hyphen_values = true)]
    from_time: Option<i64>,
    /// Create the stream (subjects: --subject) if it does not exist.
    #[arg(long)]
    create_stream: bool,
    /// Replicas of a stream --create-stream creates (3 in a 3-node cluster).
    #[arg(long, value_name = "R", default_value = "1", requires = "create_stream",
          value_parser = clap::value_parser!(u8).range(1..=5))]
    replicas: u8,
    /// How long a stream --create-stream creates keeps messages (90s, 15m, 24h, 7d; 0: forever).
    #[arg(long, value_name = "D", requires = "create_stream", value_parser = parse_age)]
    max_age: Option<Duration>,
    /// The journal's identity in the headers; by default '<file name>-<start_timestamp>' (a set:
    /// '<directory name>@<subject>').
    #[arg(long, value_name = "ID", value_parser = |s: &str| journal_nats::check_journal_id(s).map(|()| s.to_owned()))]
    journal_id: Option<String>,
    /// Most messages awaiting an acknowledgement at once.
    #[arg(long, value_name = "N", default_value = "1024",
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    max_in_flight: u32,
}

/// Runs `journal publish`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let start = match (args.from_index, args.from_time) {
        (Some(i), _) => PublishStart::Index(i),
        (None, Some(t)) => PublishStart::Time(t),
        (None, None) => PublishStart::Beginning,
    };
    let cfg = PublishConfig {
        source: args.source,
        conn: args.nats.connection(),
        stream: args.stream,
        subject: args.subject,
        follow: args.follow,
        start,
        create: args.create_stream.then_some(StreamSettings {
            replicas: usize::from(args.replicas),
            max_age: args.max_age.unwrap_or(Duration::ZERO),
        }),
        journal_id: args.journal_id,
        max_in_flight: args.max_in_flight as usize,
    };
    let (stream, subject) = (cfg.stream.clone(), cfg.subject.clone());
    let s = journal_nats::publish(cfg).map_err(data_error)?;
    eprintln!(
        "journal: published journal '{}' to stream '{stream}' subject '{subject}': events {}..{} acknowledged, {} stored, {} already there{}{} in {:.1}s",
        s.journal_id,
        s.first_index,
        s.next_index,
        s.published,
        s.duplicates,
        if s.resyncs > 0 { format!(", {} resyncs", s.resyncs) } else { String::new() },
        if s.interrupted { ", interrupted" } else { "" },
        s.elapsed.as_secs_f64()
    );
    Ok(Status::Success)
}

/// The crate's "the data is bad" becomes the CLI's (exit status 1).
pub fn data_error(e: anyhow::Error) -> anyhow::Error {
    match e.downcast::<journal_nats::BadData>() {
        Ok(b) => DataError(b.0).into(),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse() {
        assert_eq!(parse_age("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_age("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_age("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_age("0"), Ok(Duration::ZERO));
        assert!(parse_age("3w").is_err());
        assert!(parse_age("h").is_err());
        assert!(parse_secs("0").is_err());
        assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
    }
}
