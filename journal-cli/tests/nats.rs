//! `journal publish` and `journal mirror` against real `nats-server` processes (JetStream) on
//! loopback ports with temporary storage: publish then mirror, both following a writer, both
//! SIGKILLed at random moments, a 3-node cluster losing a node, a server restart under a running
//! publisher, servers that demand a password, a token, a credentials file or TLS, and no server at
//! all. Without `nats-server` the tests say why and skip; under CI=true they fail.
//!
//! The certificates and credentials are committed under tests/data (README.md there says how they
//! were made).

#![cfg(feature = "nats")]

mod common;

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use common::{run, run_with, s, skip, InCi, KillOnDrop, Run, BIN};

/// How long a test waits for NATS to get somewhere: cluster elections take seconds, and much
/// longer on a loaded machine.
const NATS_PATIENCE: Duration = Duration::from_secs(180);

fn have_server() -> bool {
    match Command::new("nats-server").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            skip(
                "nats-server",
                format!("`nats-server --version` failed: {o:?}"),
                InCi::Required,
            );
            false
        }
        Err(e) => {
            skip(
                "nats-server",
                format!("not on PATH ({e}); apt-get install nats-server"),
                InCi::Required,
            );
            false
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A file of tests/data.
fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A `nats-server` with JetStream, killed on drop.
struct Server {
    child: Option<KillOnDrop>,
    port: u16,
    args: Vec<String>,
}

impl Server {
    /// A single server.
    fn start(dir: &Path, name: &str) -> Server {
        Server::start_with(dir, name, Vec::new())
    }

    /// A single server reading the configuration `config` (authorization, TLS), written to
    /// `dir/<name>.conf`.
    fn configured(dir: &Path, name: &str, config: &str) -> Server {
        let path = dir.join(format!("{name}.conf"));
        fs::write(&path, config).unwrap();
        Server::start_with(dir, name, vec!["-c".into(), s(&path).into()])
    }

    /// A node of a cluster: its own route port, and the others'.
    fn clustered(dir: &Path, name: &str, cport: u16, routes: &[u16]) -> Server {
        let routes: Vec<String> = routes
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect();
        let args = vec![
            "--cluster_name".into(),
            "jc".into(),
            "--cluster".into(),
            format!("nats://127.0.0.1:{cport}"),
            "--routes".into(),
            routes.join(","),
        ];
        Server::start_with(dir, name, args)
    }

    fn start_with(dir: &Path, name: &str, extra: Vec<String>) -> Server {
        let port = free_port();
        let store = dir.join(format!("{name}-store"));
        let mut args: Vec<String> = vec![
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            "-js".into(),
            "-sd".into(),
            s(&store).into(),
            "-n".into(),
            name.into(),
            "-l".into(),
            s(&dir.join(format!("{name}.log"))).into(),
        ];
        args.extend(extra);
        let mut server = Server {
            child: None,
            port,
            args,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let child = Command::new("nats-server")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(KillOnDrop(child));
        let deadline = Instant::now() + NATS_PATIENCE;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, and wait until it is gone.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

/// Stores a plain message (no journal headers) on `subject` with the core NATS protocol.
fn raw_publish(url_port: u16, subject: &str, payload: &[u8]) {
    let mut conn = TcpStream::connect(("127.0.0.1", url_port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut rd = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    rd.read_line(&mut line).unwrap();
    assert!(line.starts_with("INFO"), "{line}");
    write!(
        conn,
        "CONNECT {{\"verbose\":false}}\r\nPUB {subject} {}\r\n",
        payload.len()
    )
    .unwrap();
    conn.write_all(payload).unwrap();
    conn.write_all(b"\r\nPING\r\n").unwrap();
    loop {
        line.clear();
        rd.read_line(&mut line).unwrap();
        assert!(!line.is_empty() && !line.starts_with("-ERR"), "{line}");
        if line.starts_with("PONG") {
            break;
        }
    }
}

/// Appends events `from..from+n` to `path`: payloads of varied length (empty included) and
/// bytes, timestamps from `from`.
fn append(path: &Path, from: u64, n: u64) {
    let mut input = String::new();
    for i in from..from + n {
        let len = (i * 37 % 300) as usize;
        let payload: Vec<u8> = (0..len).map(|k| (i as usize * 7 + k) as u8).collect();
        input.push_str(&format!(
            "{{\"timestamp\":{},\"payload\":\"{}\"}}\n",
            1_700_000_000_000_000_000 + i * 1000,
            BASE64.encode(&payload)
        ));
    }
    let r = run_with(&["append", "--format", "jsonl", s(path)], input.as_bytes());
    assert_eq!(r.code, 0, "{r:?}");
}

fn dump(path: &Path) -> String {
    let r = run(&["dump", "--format", "jsonl", s(path)]);
    assert_eq!(r.code, 0, "{r:?}");
    r.stdout
}

/// The dump of a journal a follower may not have created yet (empty then).
fn dump_if_any(path: &Path) -> String {
    if path.exists() {
        dump(path)
    } else {
        String::new()
    }
}

fn lines(text: &str) -> usize {
    text.lines().count()
}

/// Publishes to and mirrors from one stream and subject on some servers, with the connection
/// options (credentials, TLS) every command gets.
#[derive(Clone)]
struct Nats {
    urls: String,
    stream: String,
    subject: String,
    options: Vec<String>,
}

impl Nats {
    fn new(urls: &str, stream: &str, subject: &str) -> Nats {
        Nats {
            urls: urls.into(),
            stream: stream.into(),
            subject: subject.into(),
            options: Vec::new(),
        }
    }

    /// The same with connection options `options` added.
    fn with(&self, options: &[&str]) -> Nats {
        let mut n = self.clone();
        n.options.extend(options.iter().map(|o| o.to_string()));
        n
    }

    /// The same on subject (or filter) `subject`.
    fn on(&self, subject: &str) -> Nats {
        Nats {
            subject: subject.into(),
            ..self.clone()
        }
    }

    fn args(&self, command: &str, first: &[&str], more: &[&str], last: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = vec![command.into()];
        a.extend(first.iter().map(|x| x.to_string()));
        a.extend([
            "--nats".into(),
            self.urls.clone(),
            "--stream".into(),
            self.stream.clone(),
            "--subject".into(),
            self.subject.clone(),
        ]);
        a.extend(self.options.iter().cloned());
        a.extend(more.iter().chain(last).map(|x| x.to_string()));
        a
    }

    /// `journal publish SRC ... MORE`, run to its end.
    fn publish(&self, src: &Path, more: &[&str]) -> Run {
        run(&strs(&self.args("publish", &[s(src)], more, &[])))
    }

    /// `journal mirror ... MORE DST`, run to its end.
    fn mirror(&self, dst: &Path, more: &[&str]) -> Run {
        run(&strs(&self.args("mirror", &[], more, &[s(dst)])))
    }

    /// `journal publish -f SRC ... MORE` in the background, stderr to `log`.
    fn follow_publish(&self, src: &Path, more: &[&str], log: &Path) -> KillOnDrop {
        spawn(&self.args("publish", &["-f", s(src)], more, &[]), log)
    }

    /// `journal mirror -f ... DST` in the background, stderr to `log`.
    fn follow_mirror(&self, dst: &Path, log: &Path) -> KillOnDrop {
        spawn(&self.args("mirror", &["-f"], &[], &[s(dst)]), log)
    }

    /// Mirrors (strictly, without following) into a fresh journal `dir/name` and returns its
    /// dump and the command's stderr; None if the mirror failed (a stream not readable yet).
    fn fresh_mirror(&self, dir: &Path, name: &str) -> Option<(String, String)> {
        let target = dir.join(name);
        let _ = fs::remove_file(&target);
        let _ = fs::remove_file(dir.join(format!("{name}.nats")));
        let r = self.mirror(&target, &["--strict", "--timeout", "20"]);
        (r.code == 0).then(|| (dump(&target), r.stderr))
    }
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// A long-running `journal` process (stderr to `log`), killed on drop.
fn spawn(args: &[String], log: &Path) -> KillOnDrop {
    KillOnDrop(
        Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// Sends `sig` to a follower and asserts that it stops cleanly (status 0).
#[track_caller]
fn stop(child: &mut KillOnDrop, sig: &str, log: &Path) {
    assert_eq!(
        child.try_wait().unwrap(),
        None,
        "exited early: {}",
        fs::read_to_string(log).unwrap()
    );
    child.signal(sig);
    assert_eq!(child.exit_code(), 0, "{}", fs::read_to_string(log).unwrap());
}

/// Asserts that two journals hold the same events (without printing megabytes when they do not).
#[track_caller]
fn assert_same(copy: &Path, source: &Path) {
    let (got, want) = (dump(copy), dump(source));
    assert!(
        got == want,
        "{} ({} events) differs from {} ({} events)",
        copy.display(),
        lines(&got),
        source.display(),
        lines(&want)
    );
}

/// Polls `done` every 50 ms until it holds; panics after [`NATS_PATIENCE`], printing `log`s.
#[track_caller]
fn wait_until(what: &str, logs: &[&Path], mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + NATS_PATIENCE;
    while !done() {
        if Instant::now() > deadline {
            let logs: Vec<String> = logs
                .iter()
                .map(|p| {
                    format!(
                        "{}:\n{}",
                        p.display(),
                        fs::read_to_string(p).unwrap_or_default()
                    )
                })
                .collect();
            panic!("waited {NATS_PATIENCE:?} for {what}\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the journal `copy` holds the same events as `source` now does.
#[track_caller]
fn wait_copied(copy: &Path, source: &Path, logs: &[&Path]) {
    let want = dump(source);
    wait_until(&format!("{} to catch up", copy.display()), logs, || {
        dump_if_any(copy) == want
    });
}

/// Checks a server that demands credentials: with `good` options, publish then mirror copy a
/// journal; with each of `bad` (options, expected text), publish and mirror fail at once with
/// one error line (status 2). No output ever shows one of `secrets`.
fn check_access(
    dir: &Path,
    server: &Server,
    good: &[&str],
    bad: &[(&[&str], &str)],
    secrets: &[&str],
) {
    let nats = Nats::new(&server.url(), "A", "a.src");
    let src = dir.join("src.journal");
    append(&src, 0, 50);
    let shows_secret = |r: &Run| {
        secrets
            .iter()
            .find(|x| r.stderr.contains(*x) || r.stdout.contains(*x))
            .copied()
    };
    let r = nats.with(good).publish(&src, &["--create-stream"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(shows_secret(&r), None, "{r:?}");
    let dst = dir.join("dst.journal");
    let r = nats.with(good).mirror(&dst, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(shows_secret(&r), None, "{r:?}");
    assert_same(&dst, &src);
    for (options, expect) in bad {
        // A long --timeout: a refusal must not be retried until it runs out.
        let nats = nats.with(options).with(&["--timeout", "120"]);
        let started = Instant::now();
        for r in [
            nats.publish(&src, &[]),
            nats.mirror(&dir.join("other.journal"), &["-f"]),
        ] {
            common::assert_error(&r, 2, expect);
            assert_eq!(shows_secret(&r), None, "{r:?}");
        }
        assert!(started.elapsed() < Duration::from_secs(100), "retried");
    }
}

/// A small xorshift generator: random kill moments, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("random seed {seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn publish_then_mirror_gives_the_same_events() {
    if !have_server() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), "n1");
    let nats = Nats::new(&srv.url(), "MD", "md.src");
    let src = dir.path().join("src.journal");
    let dst = dir.path().join("dst.journal");
    append(&src, 0, 1500);

    // A stream that does not exist is named; --create-stream creates it.
    let r = nats.publish(&src, &[]);
    common::assert_error(
        &r,
        2,
        "stream 'MD' does not exist (--create-stream creates it)",
    );
    let r = nats.publish(&src, &["--create-stream", "--max-age", "1d"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("events 0..1500 acknowledged, 1500 stored"),
        "{r:?}"
    );
    let r = nats.mirror(&dst, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("1500 events written"), "{r:?}");
    assert_same(&dst, &src);
    assert_eq!(lines(&dump(&dst)), 1500);

    // Both resume: nothing is published or written twice, the new events are.
    append(&src, 1500, 20);
    for expect in [
        "1500..1520 acknowledged, 20 stored",
        "1520..1520 acknowledged, 0 stored",
    ] {
        let r = nats.publish(&src, &[]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stderr.contains(expect), "{expect}: {r:?}");
    }
    for expect in ["20 events written", "0 events written"] {
        let r = nats.mirror(&dst, &[]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stderr.contains(expect), "{expect}: {r:?}");
    }
    assert_same(&dst, &src);

    // A subject the stream does not take.
    let r = nats.on("other.x").publish(&src, &[]);
    common::assert_error(
        &r,
        2,
        "subject 'other.x' is not one of stream 'MD''s subjects (md.src)",
    );
    let r = nats.on("other.>").mirror(&dst, &[]);
    common::assert_error(
        &r,
        2,
        "subject filter 'other.>' is not within stream 'MD''s subjects",
    );

    // A crash after the journal's sync but before the position file was written leaves the
    // position behind: the restart reads those messages again and skips them by index.
    let pos_file = dir.path().join("dst.journal.nats");
    let pos = common::json(&fs::read_to_string(&pos_file).unwrap());
    assert_eq!(pos["seq"], 1520, "{pos}");
    fs::write(&pos_file, pos.to_string().replace("1520", "1000")).unwrap();
    let r = nats.mirror(&dst, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("0 events written, 520 already there"),
        "{r:?}"
    );
    assert_same(&dst, &src);
    // A position past what the journal holds would be a gap: refused.
    let short = dir.path().join("short.journal");
    append(&short, 0, 10);
    fs::write(
        dir.path().join("short.journal.nats"),
        pos.to_string().replace("1520", "100"),
    )
    .unwrap();
    common::assert_error(&nats.mirror(&short, &[]), 1, "needs index 10 next");

    // A message without the journal headers: skipped and counted, or refused with --strict.
    raw_publish(srv.port, "md.src", b"not an event");
    let r = nats.mirror(&dst, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("1 messages without journal headers skipped"),
        "{r:?}"
    );
    let strict = dir.path().join("strict.journal");
    let r = nats.mirror(&strict, &["--strict"]);
    common::assert_error(&r, 1, "is not a journal event");
    // The publisher will not resume on a subject whose last message is not its own.
    common::assert_error(&nats.publish(&src, &[]), 1, "is not a journal event");
    assert_same(&dst, &src);
}

/// Asserts that `r` retried (each attempt said on stderr), then gave up with status 2 and one
/// error line, showing none of `secrets`.
#[track_caller]
fn assert_gave_up(r: &Run, secrets: &[&str]) {
    assert_eq!(r.code, 2, "{r:?}");
    let all: Vec<&str> = r.stderr.lines().collect();
    let (last, retries) = all.split_last().unwrap();
    assert!(
        last.starts_with("journal: error: cannot reach the NATS server nats://127.0.0.1:")
            && last.contains("--timeout"),
        "{r:?}"
    );
    assert!(retries.len() >= 2, "{r:?}");
    for line in retries {
        assert!(
            line.starts_with("journal: cannot reach nats://127.0.0.1:")
                && line.contains("retrying in"),
            "{r:?}"
        );
    }
    for secret in secrets {
        assert!(!r.stderr.contains(secret), "{secret} shown: {r:?}");
    }
}

#[test]
fn unreachable_server_is_retried_until_the_timeout_then_reported_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.journal");
    append(&src, 0, 3);
    // A port nothing listens on.
    let port = free_port();
    let nats = Nats::new(
        &format!("nats://bob:hunter2@127.0.0.1:{port}"),
        "MD",
        "md.src",
    )
    .with(&["--timeout", "2", "--token", "s3cret"]);
    let secrets = ["hunter2", "s3cret"];
    let started = Instant::now();
    let r = nats.publish(&src, &[]);
    assert!(started.elapsed() >= Duration::from_secs(2), "{r:?}");
    assert_gave_up(&r, &secrets);
    let started = Instant::now();
    let r = nats.mirror(&dir.path().join("m.journal"), &["--follow"]);
    assert!(started.elapsed() >= Duration::from_secs(2), "{r:?}");
    assert_gave_up(&r, &secrets);
    assert!(started.elapsed() < Duration::from_secs(60), "{r:?}");
    assert!(!dir.path().join("m.journal").exists());
}

#[test]
fn a_password_is_required_and_never_shown() {
    if !have_server() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::configured(
        dir.path(),
        "n1",
        "authorization { user: bob, password: \"hunter2-pw\" }\n",
    );
    let wrong_url = srv.url().replace("nats://", "nats://bob:wr0ng-pw@");
    check_access(
        dir.path(),
        &srv,
        &["--user", "bob", "--password", "hunter2-pw"],
        &[
            (&[], "authorization violation"),
            (
                &["--user", "bob", "--password", "wr0ng-pw"],
                "authorization violation",
            ),
            // A wrong password inside a URL (added to the server list: the client is refused by
            // whichever it tries, and the URL is shown without it).
            (&["--nats", &wrong_url], "authorization violation"),
        ],
        &["hunter2-pw", "wr0ng-pw"],
    );
}

#[test]
fn a_token_is_required_and_never_shown() {
    if !have_server() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::configured(
        dir.path(),
        "n1",
        "authorization { token: \"t0ken-s3cret\" }\n",
    );
    check_access(
        dir.path(),
        &srv,
        &["--token", "t0ken-s3cret"],
        &[
            (&[], "authorization violation"),
            (&["--token", "wr0ng-t0ken"], "authorization violation"),
        ],
        &["t0ken-s3cret", "wr0ng-t0ken"],
    );
}

/// The NKey seed of a credentials file: its secret.
fn seed(creds: &Path) -> String {
    let text = fs::read_to_string(creds).unwrap();
    let seed = text.lines().find(|l| l.starts_with("SU")).unwrap();
    seed.to_owned()
}

#[test]
fn a_credentials_file_is_required_and_its_seed_never_shown() {
    if !have_server() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Decentralised authentication: the server trusts the operator that signed the account that
    // signed the user of user.creds; stranger.creds is a user of an account it does not know.
    let config = fs::read_to_string(data("operator.conf")).unwrap();
    let srv = Server::configured(dir.path(), "n1", &config);
    let (user, stranger) = (data("user.creds"), data("stranger.creds"));
    let missing = dir.path().join("missing.creds");
    check_access(
        dir.path(),
        &srv,
        &["--creds", s(&user)],
        &[
            (&[], "authorization violation"),
            (&["--creds", s(&stranger)], "authorization violation"),
            (
                &["--creds", s(&missing)],
                "missing.creds: cannot read the credentials file",
            ),
        ],
        &[&seed(&user), &seed(&stranger)],
    );
}

#[test]
fn tls_with_a_trusted_ca_and_client_certificates() {
    if !have_server() {
        return;
    }
    let (ca, cert, key) = (data("ca.pem"), data("client.pem"), data("client-key.pem"));
    let tls = |verify: bool| {
        format!(
            "tls {{ cert_file: \"{}\", key_file: \"{}\", ca_file: \"{}\", verify: {verify} }}\n",
            s(&data("server.pem")),
            s(&data("server-key.pem")),
            s(&ca)
        )
    };
    let key_text = fs::read_to_string(&key).unwrap();
    let key_line = key_text.lines().nth(1).unwrap();
    // A server with TLS: the client must trust its CA.
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::configured(dir.path(), "n1", &tls(false));
    check_access(
        dir.path(),
        &srv,
        &["--tls", "--tls-ca", s(&ca)],
        &[
            (&[], "TLS handshake failed"),
            (&["--tls"], "invalid peer certificate"),
        ],
        &[key_line],
    );
    // A server that also verifies its clients: the client presents a certificate of that CA.
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::configured(dir.path(), "n1", &tls(true));
    check_access(
        dir.path(),
        &srv,
        &[
            "--tls-ca",
            s(&ca),
            "--tls-cert",
            s(&cert),
            "--tls-key",
            s(&key),
        ],
        &[(&["--tls-ca", s(&ca)], "TLS handshake failed")],
        &[key_line],
    );
}

#[test]
fn both_ends_follow_a_writer() {
    if !have_server() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), "n1");
    let nats = Nats::new(&srv.url(), "F", "f.src");
    let src = dir.path().join("src.journal");
    let dst = dir.path().join("dst.journal");
    append(&src, 0, 100);
    let (plog, mlog) = (
        dir.path().join("publish.log"),
        dir.path().join("mirror.log"),
    );
    let mut publisher = nats.follow_publish(&src, &["--create-stream"], &plog);
    // The mirror needs the stream: wait for the publisher to have created it and stored a message.
    wait_until("the stream to exist", &[&plog], || {
        nats.fresh_mirror(dir.path(), "probe.journal")
            .is_some_and(|(d, _)| !d.is_empty())
    });
    let mut mirror = nats.follow_mirror(&dst, &mlog);
    let mut n = 100;
    for round in 0..8 {
        append(&src, n, 50 + round * 40);
        n += 50 + round * 40;
        wait_copied(&dst, &src, &[&plog, &mlog]);
    }
    assert_eq!(lines(&dump(&dst)), n as usize);
    stop(&mut publisher, "-TERM", &plog);
    stop(&mut mirror, "-INT", &mlog);
    assert!(fs::read_to_string(&plog).unwrap().contains("interrupted"));
    assert_same(&dst, &src);
}

#[test]
fn publisher_and_mirror_killed_at_random_moments_leave_no_gap_and_no_duplicate() {
    if !have_server() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), "n1");
    let nats = Nats::new(&srv.url(), "K", "k.src");
    let src = dir.path().join("src.journal");
    let dst = dir.path().join("dst.journal");
    append(&src, 0, 5000);
    let r = nats.publish(&src, &["--create-stream", "--from-index", "5000"]);
    assert_eq!(r.code, 0, "the stream is created, nothing published: {r:?}");
    let mut rng = Rng::new();
    let (mut n, mut killed_publisher, mut killed_mirror, mut mirror_behind) = (5000, 0, 0, 0);
    let (plog, mlog) = (
        dir.path().join("publish.log"),
        dir.path().join("mirror.log"),
    );
    let mut rounds = 0;
    while killed_publisher < 25 || killed_mirror < 25 {
        rounds += 1;
        assert!(rounds < 200, "not enough kills of running processes");
        // A backlog for both to work through, more events appended while they run, and each
        // killed at a random moment: while connecting, working through the backlog, or following.
        let backlog = 1000 + rng.below(3000);
        append(&src, n, backlog);
        n += backlog;
        let backlog_end = n;
        let mut publisher = nats.follow_publish(&src, &["--from-index", "0"], &plog);
        let mut mirror = nats.follow_mirror(&dst, &mlog);
        let mut children = [
            (rng.below(100), &mut publisher, &mut killed_publisher, &plog),
            (rng.below(100), &mut mirror, &mut killed_mirror, &mlog),
        ];
        if rng.below(2) == 0 {
            children.swap(0, 1);
        }
        for (i, (at, child, count, log)) in children.into_iter().enumerate() {
            std::thread::sleep(Duration::from_millis(at));
            if i == 0 {
                let extra = 100 + rng.below(300);
                append(&src, n, extra);
                n += extra;
            }
            match child.try_wait().unwrap() {
                None => {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    *count += 1;
                }
                Some(status) => panic!(
                    "a follower exited by itself ({status}): {}",
                    fs::read_to_string(log).unwrap()
                ),
            }
        }
        if dst.exists() {
            let info = common::json(&run(&["info", "--json", s(&dst)]).stdout);
            if info["events"].as_u64().unwrap() < backlog_end {
                mirror_behind += 1;
            }
        } else {
            mirror_behind += 1;
        }
    }
    // Many kills hit work in progress: the mirror had not yet written the backlog that was there
    // when it started.
    assert!(
        mirror_behind >= 5,
        "only {mirror_behind} of the mirror's kills interrupted the backlog"
    );
    // Finally both run to completion.
    let r = nats.publish(&src, &["--from-index", "0"]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = nats.mirror(&dst, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(lines(&dump(&src)), n as usize);
    assert_same(&dst, &src);
    // The stream itself holds every event exactly once: a fresh strict mirror skips nothing.
    let (fresh, stderr) = nats.fresh_mirror(dir.path(), "fresh.journal").unwrap();
    assert!(
        fresh == dump(&src),
        "a fresh mirror differs from the source"
    );
    assert!(
        stderr.contains(&format!("{n} events written, 0 already there")),
        "{stderr}"
    );
    eprintln!(
        "{rounds} rounds, {killed_publisher} publisher and {killed_mirror} mirror kills, \
         {mirror_behind} with the mirror behind"
    );
}

#[test]
fn a_cluster_of_three_with_three_replicas_loses_nothing_when_a_node_dies() {
    if !have_server() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cports = [free_port(), free_port(), free_port()];
    let mut nodes: Vec<Server> = (0..3)
        .map(|i| {
            let routes: Vec<u16> = cports.iter().copied().filter(|&p| p != cports[i]).collect();
            Server::clustered(dir.path(), &format!("n{i}"), cports[i], &routes)
        })
        .collect();
    let urls: Vec<String> = nodes.iter().map(Server::url).collect();
    let all = Nats::new(&urls.join(","), "C", "c.src");
    let survivors = Nats::new(&urls[1..].join(","), "C", "c.src");
    let src = dir.path().join("src.journal");
    append(&src, 0, 2000);
    let plog = dir.path().join("publish.log");
    let mut publisher = all.follow_publish(
        &src,
        &[
            "--create-stream",
            "--replicas",
            "3",
            "--max-in-flight",
            "256",
            "--timeout",
            "170",
        ],
        &plog,
    );
    let node_logs: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("n{i}.log")))
        .collect();
    let logs = [&plog, &node_logs[0], &node_logs[1], &node_logs[2]].map(|p| p.as_path());
    wait_until("some events to be replicated", &logs, || {
        survivors
            .fresh_mirror(dir.path(), "probe.journal")
            .is_some_and(|(d, _)| lines(&d) > 100)
    });
    // A node dies while the writer appends and the publisher publishes.
    let mut n = 2000;
    for round in 0..6 {
        append(&src, n, 1000);
        n += 1000;
        if round == 1 {
            nodes[0].kill();
        }
    }
    let want = dump(&src);
    wait_until("the survivors to hold every event", &logs, || {
        survivors
            .fresh_mirror(dir.path(), "check.journal")
            .is_some_and(|(d, _)| d == want)
    });
    stop(&mut publisher, "-TERM", &plog);
}

#[test]
fn a_running_publisher_rides_out_a_server_restart() {
    if !have_server() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut srv = Server::start(dir.path(), "n1");
    let nats = Nats::new(&srv.url(), "R", "r.src");
    let src = dir.path().join("src.journal");
    let dst = dir.path().join("dst.journal");
    append(&src, 0, 1000);
    let (plog, mlog) = (
        dir.path().join("publish.log"),
        dir.path().join("mirror.log"),
    );
    let mut publisher = nats.follow_publish(&src, &["--create-stream"], &plog);
    let want = dump(&src);
    wait_until("the first events to be stored", &[&plog], || {
        nats.fresh_mirror(dir.path(), "probe.journal")
            .is_some_and(|(d, _)| d == want)
    });
    let mut mirror = nats.follow_mirror(&dst, &mlog);
    wait_copied(&dst, &src, &[&mlog]);
    // The server dies; the writer goes on; the server comes back on the same port and storage.
    srv.kill();
    append(&src, 1000, 1000);
    srv.spawn();
    append(&src, 2000, 1000);
    wait_copied(&dst, &src, &[&plog, &mlog]);
    let log = fs::read_to_string(&plog).unwrap();
    assert!(log.contains("disconnected"), "{log}");
    stop(&mut publisher, "-TERM", &plog);
    stop(&mut mirror, "-TERM", &mlog);
    let (fresh, stderr) = nats.fresh_mirror(dir.path(), "fresh.journal").unwrap();
    assert!(fresh == dump(&src));
    assert!(
        stderr.contains("3000 events written, 0 already there"),
        "{stderr}"
    );
}

/// A new journal set in `dir` rolling every `roll_bytes` bytes.
fn create_set(dir: &Path, roll_bytes: u64) {
    let meta = journal::set::SetMeta {
        roll: journal::set::RollPolicy::by_size(roll_bytes),
        ..Default::default()
    };
    journal::SetWriter::create(dir, meta)
        .unwrap()
        .close()
        .unwrap();
}

/// The payload and timestamp of event `i`, as `append` makes them.
fn event(i: u64) -> (i64, Vec<u8>) {
    let len = (i * 37 % 300) as usize;
    let payload = (0..len).map(|k| (i as usize * 7 + k) as u8).collect();
    (1_700_000_000_000_000_000 + i as i64 * 1000, payload)
}

/// Appends events `from..from+n` (as [`append`] makes them) to the set in `dir`.
fn append_set(dir: &Path, from: u64, n: u64) {
    let mut w = journal::SetWriter::open(dir).unwrap();
    assert_eq!(w.events(), from, "the set's next global index");
    for i in from..from + n {
        let (ts, payload) = event(i);
        assert_eq!(w.append(ts, &payload).unwrap(), i);
    }
    w.close().unwrap();
}

/// A set's events: (global index, timestamp, payload).
fn set_events(dir: &Path) -> Vec<(u64, i64, Vec<u8>)> {
    let set = journal::SetReader::open(dir).unwrap();
    let mut it = set.iter();
    let mut out = Vec::new();
    while let Some(ev) = it.next_event() {
        let ev = ev.unwrap();
        out.push((ev.index, ev.timestamp, ev.payload.to_vec()));
    }
    out
}

/// A journal file's events, as [`set_events`].
fn file_events(path: &Path) -> Vec<(u64, i64, Vec<u8>)> {
    journal::Reader::open(path)
        .unwrap()
        .iter()
        .map(|ev| {
            let ev = ev.unwrap();
            (ev.index, ev.timestamp, ev.payload.to_vec())
        })
        .collect()
}

/// Events `0..n` as [`append_set`] wrote them.
fn expected_events(n: u64) -> Vec<(u64, i64, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let (ts, p) = event(i);
            (i, ts, p)
        })
        .collect()
}

#[test]
fn a_set_is_published_and_mirrored_into_a_set_and_both_resume() {
    if !have_server() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), "n1");
    let nats = Nats::new(&srv.url(), "S", "s.src");
    let src = dir.path().join("src-set");
    create_set(&src, 4096);
    append_set(&src, 0, 300);
    assert!(
        journal::SetReader::open(&src).unwrap().segments().len() > 5,
        "the source set rolled"
    );

    let r = nats.publish(&src, &["--create-stream"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("published journal 'src-set@s.src'"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("events 0..300 acknowledged, 300 stored"),
        "{r:?}"
    );

    // Into a set (given with a trailing slash: the position is beside it, in tgt-set.nats).
    let dst = dir.path().join("tgt-set");
    create_set(&dst, 8192);
    let dst_arg = PathBuf::from(format!("{}/", s(&dst)));
    let r = nats.mirror(&dst_arg, &["--strict"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("300 events written"), "{r:?}");
    assert_eq!(set_events(&dst), expected_events(300));
    assert_eq!(set_events(&src), expected_events(300));
    let pos = common::json(&fs::read_to_string(dir.path().join("tgt-set.nats")).unwrap());
    assert_eq!(pos["seq"], 300, "{pos}");
    assert_eq!(pos["journal_id"], "src-set@s.src", "{pos}");

    // Into a plain journal too: the same events, the set's global indexes.
    let file = dir.path().join("copy.journal");
    let r = nats.mirror(&file, &["--strict"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(file_events(&file), expected_events(300));

    // Both resume after the last event they handled: nothing twice, the new events once.
    append_set(&src, 300, 200);
    for expect in [
        "300..500 acknowledged, 200 stored",
        "500..500 acknowledged, 0 stored",
    ] {
        let r = nats.publish(&src, &[]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stderr.contains(expect), "{expect}: {r:?}");
    }
    for expect in ["200 events written, 0 already there", "0 events written"] {
        let r = nats.mirror(&dst, &["--strict"]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stderr.contains(expect), "{expect}: {r:?}");
    }
    assert_eq!(set_events(&dst), expected_events(500));

    // A position left behind (a crash between the sync and the position's write): the messages
    // read again are recognised by their index and skipped.
    let pos_file = dir.path().join("tgt-set.nats");
    let pos = common::json(&fs::read_to_string(&pos_file).unwrap());
    fs::write(&pos_file, pos.to_string().replace("500", "123")).unwrap();
    let r = nats.mirror(&dst, &["--strict"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("0 events written, 377 already there"),
        "{r:?}"
    );
    assert_eq!(set_events(&dst), expected_events(500));

    // A directory that is not a set is refused, and left alone.
    let plain_dir = dir.path().join("not-a-set");
    fs::create_dir(&plain_dir).unwrap();
    common::assert_error(&nats.mirror(&plain_dir, &[]), 2, "is not a journal set");
    assert_eq!(fs::read_dir(&plain_dir).unwrap().count(), 0);
}

#[test]
fn a_set_publisher_and_a_set_mirror_killed_at_random_moments_leave_no_gap_and_no_duplicate() {
    if !have_server() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), "n1");
    let nats = Nats::new(&srv.url(), "SK", "sk.src");
    let src = dir.path().join("src-set");
    let dst = dir.path().join("dst-set");
    create_set(&src, 16 << 10);
    create_set(&dst, 8 << 10);
    append_set(&src, 0, 500);
    let r = nats.publish(&src, &["--create-stream", "--from-index", "500"]);
    assert_eq!(r.code, 0, "the stream is created, nothing published: {r:?}");
    let mut rng = Rng::new();
    let (plog, mlog) = (
        dir.path().join("publish.log"),
        dir.path().join("mirror.log"),
    );
    let (mut n, mut kills) = (500, 0);
    for _ in 0..8 {
        let backlog = 500 + rng.below(1500);
        append_set(&src, n, backlog);
        n += backlog;
        let mut publisher = nats.follow_publish(&src, &["--from-index", "0"], &plog);
        let mut mirror = nats.follow_mirror(&dst, &mlog);
        std::thread::sleep(Duration::from_millis(rng.below(150)));
        // More events while both run (the writer rolls under the follower).
        let extra = 100 + rng.below(400);
        append_set(&src, n, extra);
        n += extra;
        std::thread::sleep(Duration::from_millis(rng.below(150)));
        for (child, log) in [(&mut publisher, &plog), (&mut mirror, &mlog)] {
            match child.try_wait().unwrap() {
                None => {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    kills += 1;
                }
                Some(status) => panic!(
                    "a follower exited by itself ({status}): {}",
                    fs::read_to_string(log).unwrap()
                ),
            }
        }
    }
    assert_eq!(kills, 16);
    let r = nats.publish(&src, &["--from-index", "0"]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = nats.mirror(&dst, &["--strict"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(set_events(&src), expected_events(n));
    assert!(
        set_events(&dst) == expected_events(n),
        "the mirror set differs"
    );
    // The stream holds every event exactly once: a fresh strict mirror skips nothing.
    let (fresh, stderr) = nats.fresh_mirror(dir.path(), "fresh.journal").unwrap();
    assert_eq!(lines(&fresh), n as usize);
    assert!(
        stderr.contains(&format!("{n} events written, 0 already there")),
        "{stderr}"
    );
    assert!(file_events(&dir.path().join("fresh.journal")) == expected_events(n));
}

/// The events of `dump --format jsonl PATH` (a journal or a set) without their offsets, which are
/// a segment's in a set.
fn events_of(path: &Path) -> Vec<String> {
    dump_if_any(path)
        .lines()
        .map(|line| {
            let mut v = common::json(line);
            v.as_object_mut().unwrap().remove("offset");
            v.to_string()
        })
        .collect()
}

/// Asserts that a journal set holds the same events as a journal (index, timestamp, payload).
#[track_caller]
fn assert_same_events(set: &Path, source: &Path) {
    let (got, want) = (events_of(set), events_of(source));
    assert!(
        got == want,
        "{} ({} events) differs from {} ({} events)",
        set.display(),
        got.len(),
        source.display(),
        want.len()
    );
}

#[test]
fn a_mirror_with_roll_creates_a_set_that_later_runs_write_by_its_stored_policy() {
    if !have_server() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), "n1");
    let nats = Nats::new(&srv.url(), "R", "r.src");
    let src = dir.path().join("src.journal");
    append(&src, 0, 300);
    let r = nats.publish(&src, &["--create-stream"]);
    assert_eq!(r.code, 0, "{r:?}");

    // What --roll cannot write: an existing file, a directory that holds something else; and
    // --roll-offset alone. Nothing is written to them.
    let file = dir.path().join("file.journal");
    append(&file, 0, 1);
    let before = dump(&file);
    let r = nats.mirror(&file, &["--roll", "8KiB"]);
    common::assert_error(&r, 2, "is an existing file; --roll writes a journal set");
    assert_eq!(dump(&file), before);
    let busy = dir.path().join("busy");
    fs::create_dir(&busy).unwrap();
    fs::write(busy.join("x"), "x").unwrap();
    common::assert_error(
        &nats.mirror(&busy, &["--roll", "8KiB"]),
        2,
        "is not a journal set",
    );
    let r = nats.mirror(&dir.path().join("nowhere"), &["--roll-offset", "1h"]);
    common::assert_error(&r, 2, "--roll-offset needs a time --roll");
    assert!(!dir.path().join("nowhere").exists());

    // A new path becomes a set rolling every 8 KiB, with the source's events.
    let set = dir.path().join("new-set");
    let r = nats.mirror(&set, &["--strict", "--roll", "8KiB"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("300 events written"), "{r:?}");
    assert_same_events(&set, &src);
    let roll = journal::set::SetMeta::read(&set).unwrap().roll;
    assert_eq!(roll, journal::set::RollPolicy::by_size(8 << 10));
    let segments = || journal::SetReader::open(&set).unwrap().segments().len();
    let first_run = segments();
    assert!(first_run >= 4, "the set rolled: {first_run} segments");

    // An empty directory too, with a time policy.
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let r = nats.mirror(&empty, &["--roll", "hourly"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_same_events(&empty, &src);
    assert_eq!(
        journal::set::SetMeta::read(&empty).unwrap().roll,
        journal::set::RollPolicy::hourly()
    );

    // Restarted without --roll, following: the new events only, rolled by the stored policy.
    append(&src, 300, 300);
    let r = nats.publish(&src, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let mlog = dir.path().join("mirror.log");
    let mut mirror = spawn(&nats.args("mirror", &["-f"], &[], &[s(&set)]), &mlog);
    let want = events_of(&src);
    wait_until("the set to catch up", &[&mlog], || events_of(&set) == want);
    stop(&mut mirror, "-TERM", &mlog);
    let log = fs::read_to_string(&mlog).unwrap();
    assert!(log.contains("300 events written, 0 already there"), "{log}");
    assert!(segments() > first_run, "the set kept rolling");

    // Again with the same --roll (allowed), then with another one (refused, nothing written).
    append(&src, 600, 200);
    let r = nats.publish(&src, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = nats.mirror(&set, &["--roll", "8KiB"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("200 events written, 0 already there"),
        "{r:?}"
    );
    assert_same_events(&set, &src);
    append(&src, 800, 10);
    let r = nats.publish(&src, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    common::assert_error(
        &nats.mirror(&set, &["--roll", "16KiB"]),
        2,
        "created with another roll policy",
    );
    assert_eq!(events_of(&set).len(), 800);
    assert_eq!(journal::set::SetMeta::read(&set).unwrap().roll, roll);
}
