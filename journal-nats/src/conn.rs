//! Connecting to NATS: servers, credentials, TLS, retry with backoff, and the messages on stderr
//! (which never show a secret).

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use async_nats::jetstream;

/// How to reach the NATS servers.
#[derive(Clone, Default)]
pub struct Connection {
    /// Server URLs (`nats://host:port`, `tls://host:port` or `host:port`); the client picks one
    /// and fails over to the others.
    pub servers: Vec<String>,
    /// User name, with [`Connection::password`].
    pub user: Option<String>,
    /// Password (never printed).
    pub password: Option<String>,
    /// Authentication token (never printed).
    pub token: Option<String>,
    /// A `.creds` file (JWT and NKey seed).
    pub creds: Option<PathBuf>,
    /// Extra root certificates (PEM) to trust.
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM), with [`Connection::tls_key`].
    pub tls_cert: Option<PathBuf>,
    /// Client key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Refuse a connection without TLS.
    pub tls_required: bool,
    /// Give up after this long without reaching a server or making progress.
    pub timeout: Duration,
    /// How long to wait for a publish acknowledgement before re-checking the stream.
    pub ack_timeout: Duration,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("servers", &self.shown_servers())
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("creds", &self.creds)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Connection {
    /// The server list as it may be printed: without any `user:password@` part.
    pub fn shown_servers(&self) -> String {
        self.servers
            .iter()
            .map(|s| strip_userinfo(s))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `text` with every secret this connection knows replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.servers {
            let shown = strip_userinfo(s);
            if shown != *s {
                out = out.replace(s.as_str(), &shown);
            }
        }
        for secret in [&self.password, &self.token].into_iter().flatten() {
            if !secret.is_empty() {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }

    /// The client's options; `attempt` bounds one connection attempt.
    async fn options(&self, attempt: Duration) -> anyhow::Result<async_nats::ConnectOptions> {
        let mut o = match &self.creds {
            Some(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .with_context(|| format!("{}: cannot read the credentials file", path.display()))?,
            None => async_nats::ConnectOptions::new(),
        };
        if let Some(user) = &self.user {
            o = o.user_and_password(user.clone(), self.password.clone().unwrap_or_default());
        }
        if let Some(token) = &self.token {
            o = o.token(token.clone());
        }
        if let Some(ca) = &self.tls_ca {
            o = o.add_root_certificates(ca.clone());
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            o = o.add_client_certificate(cert.clone(), key.clone());
        }
        if self.tls_required {
            o = o.require_tls(true);
        }
        let shown = self.shown_servers();
        let lost = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        Ok(o.name("journal")
            .connection_timeout(attempt)
            .max_reconnects(None)
            .event_callback(move |event| {
                use std::sync::atomic::Ordering::Relaxed;
                let shown = shown.clone();
                let lost = std::sync::Arc::clone(&lost);
                async move {
                    match event {
                        async_nats::Event::Disconnected => {
                            lost.store(true, Relaxed);
                            say(&format!("disconnected from {shown}; reconnecting"));
                        }
                        async_nats::Event::Connected if lost.swap(false, Relaxed) => {
                            say("reconnected");
                        }
                        async_nats::Event::LameDuckMode => {
                            say("the server is shutting down (lame duck mode)")
                        }
                        _ => {}
                    }
                }
            }))
    }

    /// Connects, retrying with backoff (said on stderr) until [`Connection::timeout`] has passed;
    /// returns the client and its JetStream context.
    pub(crate) async fn connect(&self) -> anyhow::Result<(async_nats::Client, jetstream::Context)> {
        if self.servers.is_empty() {
            return Err(anyhow!("no NATS server given (--nats URL)"));
        }
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        let addrs: Vec<async_nats::ServerAddr> = self
            .servers
            .iter()
            .map(|s| {
                s.parse::<async_nats::ServerAddr>().map_err(|e| {
                    anyhow!(
                        "'{}' is not a NATS server URL: {}",
                        strip_userinfo(s),
                        self.redact(&e.to_string())
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let deadline = started + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let attempt = left.clamp(Duration::from_millis(100), Duration::from_secs(5));
            match self.options(attempt).await?.connect(addrs.clone()).await {
                Ok(client) => {
                    let js = jetstream::ContextBuilder::new()
                        .timeout(Duration::from_secs(5))
                        .ack_timeout(self.ack_timeout)
                        .build(client.clone());
                    return Ok((client, js));
                }
                Err(e) => {
                    let why = self.redact(&e.to_string());
                    match refused(&e) {
                        Some(Refusal::Credentials) => {
                            return Err(anyhow!(
                                "cannot connect to {}: {why}",
                                self.shown_servers()
                            ));
                        }
                        Some(Refusal::Tls) => {
                            return Err(anyhow!(
                                "cannot connect to {}: TLS handshake failed ({why}); check --tls-ca, --tls-cert and --tls-key",
                                self.shown_servers()
                            ));
                        }
                        None => {}
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(anyhow!(
                            "cannot reach the NATS server {} (gave up after {:?}, --timeout): {why}",
                            self.shown_servers(),
                            self.timeout
                        ));
                    }
                    let wait = delay.min(left);
                    say(&format!(
                        "cannot reach {}: {why}; retrying in {:.1}s",
                        self.shown_servers(),
                        wait.as_secs_f64()
                    ));
                    tokio::time::sleep(wait).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

/// Why retrying a failed connection is pointless.
enum Refusal {
    /// The server refused the credentials.
    Credentials,
    /// The TLS handshake failed: a certificate not trusted, or no client certificate where the
    /// server requires one.
    Tls,
}

fn refused(e: &async_nats::ConnectError) -> Option<Refusal> {
    use async_nats::ConnectErrorKind as K;
    match e.kind() {
        K::Authentication | K::AuthorizationViolation => Some(Refusal::Credentials),
        K::Tls => Some(Refusal::Tls),
        // The client reports a failed handshake (rustls: a certificate refused by either side)
        // as an I/O error of kind InvalidData; a server that is down or unreachable gives other
        // kinds (refused, reset, timed out).
        K::Io => std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .filter(|io| io.kind() == std::io::ErrorKind::InvalidData)
            .map(|_| Refusal::Tls),
        _ => None,
    }
}

/// `nats://user:pass@host:4222` as `nats://host:4222`.
fn strip_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    match rest.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}{host}"),
        None => url.to_owned(),
    }
}

/// One line on stderr, `journal: <what>`.
pub(crate) fn say(what: &str) {
    let _ = writeln!(std::io::stderr(), "journal: {what}");
}

/// The process's one runtime: a current-thread scheduler (the journal side has its own thread).
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Resolves on the first SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // No handler: never resolves; the default disposition ends the process.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

/// Progress lines on stderr every few seconds for long runs.
pub(crate) struct Progress {
    what: &'static str,
    started: Instant,
    last: Instant,
    last_count: u64,
}

impl Progress {
    pub(crate) const EVERY: Duration = Duration::from_secs(5);

    pub(crate) fn new(what: &'static str) -> Progress {
        let now = Instant::now();
        Progress {
            what,
            started: now,
            last: now,
            last_count: 0,
        }
    }

    /// Prints a line if [`Progress::EVERY`] has passed since the last one.
    pub(crate) fn tick(&mut self, count: u64, lag: &str) {
        let now = Instant::now();
        let dt = now - self.last;
        if dt < Self::EVERY {
            return;
        }
        let rate = (count - self.last_count) as f64 / dt.as_secs_f64();
        say(&format!(
            "{}: {count} events, {rate:.0}/s, {lag}",
            self.what
        ));
        self.last = now;
        self.last_count = count;
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_not_shown() {
        let c = Connection {
            servers: vec!["nats://bob:hunter2@127.0.0.1:4222".into(), "h:1".into()],
            password: Some("hunter2".into()),
            token: Some("s3cret".into()),
            ..Connection::default()
        };
        assert_eq!(c.shown_servers(), "nats://127.0.0.1:4222,h:1");
        let r = c.redact("x nats://bob:hunter2@127.0.0.1:4222 token s3cret pw hunter2");
        assert!(!r.contains("hunter2") && !r.contains("s3cret"), "{r}");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
