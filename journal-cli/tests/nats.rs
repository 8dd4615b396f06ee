//! `journal publish` and `journal mirror` against real `nats-server` processes (JetStream) on
//! loopback ports with temporary storage: publish then mirror, both following a writer, both
//! SIGKILLed at random moments, a 3-node cluster losing a node, a server restart under a running
//! publisher. Without `nats-server` the tests say why and skip; under CI=true they fail.

#![cfg(feature = "nats")]

mod common;

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
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

/// A `nats-server` with JetStream, killed on drop.
struct Server {
    child: Option<KillOnDrop>,
    port: u16,
    args: Vec<String>,
}

impl Server {
    fn start(dir: &Path, name: &str, cluster: Option<(u16, &[u16])>) -> Server {
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
        if let Some((cport, routes)) = cluster {
            let routes: Vec<String> = routes
                .iter()
                .map(|p| format!("nats://127.0.0.1:{p}"))
                .collect();
            args.extend([
                "--cluster_name".into(),
                "jc".into(),
                "--cluster".into(),
                format!("nats://127.0.0.1:{cport}"),
                "--routes".into(),
                routes.join(","),
            ]);
        }
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

/// Runs the binary with `args`, waiting at most [`NATS_PATIENCE`].
fn run_nats(args: &[&str]) -> Run {
    run(args)
}

/// A long-running `journal` process (stderr to `log`), killed on drop.
fn spawn(args: &[&str], log: &Path) -> KillOnDrop {
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

/// Mirrors (without following) into a fresh journal `dir/name` and returns its dump and the
/// command's stderr; None if the mirror failed (a stream not readable yet).
fn fresh_mirror(
    dir: &Path,
    name: &str,
    urls: &str,
    stream: &str,
    subject: &str,
) -> Option<(String, String)> {
    let target = dir.join(name);
    let _ = fs::remove_file(&target);
    let _ = fs::remove_file(dir.join(format!("{name}.nats")));
    let r = run_nats(&[
        "mirror",
        "--nats",
        urls,
        "--stream",
        stream,
        "--subject",
        subject,
        "--strict",
        "--timeout",
        "20",
        s(&target),
    ]);
    (r.code == 0).then(|| (dump(&target), r.stderr))
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
    let srv = Server::start(dir.path(), "n1", None);
    let url = srv.url();
    let src = dir.path().join("src.journal");
    let dst = dir.path().join("dst.journal");
    append(&src, 0, 1500);

    // A stream that does not exist is named; --create-stream creates it.
    let r = run_nats(&[
        "publish",
        s(&src),
        "--nats",
        &url,
        "--stream",
        "MD",
        "--subject",
        "md.src",
    ]);
    common::assert_error(
        &r,
        2,
        "stream 'MD' does not exist (--create-stream creates it)",
    );
    let r = run_nats(&[
        "publish",
        s(&src),
        "--nats",
        &url,
        "--stream",
        "MD",
        "--subject",
        "md.src",
        "--create-stream",
        "--max-age",
        "1d",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("events 0..1500 acknowledged, 1500 stored"),
        "{r:?}"
    );

    let r = run_nats(&[
        "mirror",
        "--nats",
        &url,
        "--stream",
        "MD",
        "--subject",
        "md.src",
        s(&dst),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("1500 events written"), "{r:?}");
    assert_eq!(dump(&dst), dump(&src));
    assert_eq!(lines(&dump(&dst)), 1500);

    // Both resume: nothing is published or written twice, the new events are.
    append(&src, 1500, 20);
    for expect in [
        "1500..1520 acknowledged, 20 stored",
        "1520..1520 acknowledged, 0 stored",
    ] {
        let r = run_nats(&[
            "publish",
            s(&src),
            "--nats",
            &url,
            "--stream",
            "MD",
            "--subject",
            "md.src",
        ]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stderr.contains(expect), "{expect}: {r:?}");
    }
    for expect in ["20 events written", "0 events written"] {
        let r = run_nats(&[
            "mirror",
            "--nats",
            &url,
            "--stream",
            "MD",
            "--subject",
            "md.src",
            s(&dst),
        ]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stderr.contains(expect), "{expect}: {r:?}");
    }
    assert_eq!(dump(&dst), dump(&src));

    // A subject the stream does not take.
    let r = run_nats(&[
        "publish",
        s(&src),
        "--nats",
        &url,
        "--stream",
        "MD",
        "--subject",
        "other.x",
    ]);
    common::assert_error(
        &r,
        2,
        "subject 'other.x' is not one of stream 'MD''s subjects (md.src)",
    );
    let r = run_nats(&[
        "mirror",
        "--nats",
        &url,
        "--stream",
        "MD",
        "--subject",
        "other.>",
        s(&dst),
    ]);
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
    let r = run_nats(&[
        "mirror",
        "--nats",
        &url,
        "--stream",
        "MD",
        "--subject",
        "md.src",
        s(&dst),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("0 events written, 520 already there"),
        "{r:?}"
    );
    assert_eq!(dump(&dst), dump(&src));
    // A position past what the journal holds would be a gap: refused.
    let short = dir.path().join("short.journal");
    append(&short, 0, 10);
    fs::write(
        dir.path().join("short.journal.nats"),
        pos.to_string().replace("1520", "100"),
    )
    .unwrap();
    let r = run_nats(&[
        "mirror",
        "--nats",
        &url,
        "--stream",
        "MD",
        "--subject",
        "md.src",
        s(&short),
    ]);
    common::assert_error(&r, 1, "needs index 10 next");

    // A message without the journal headers: skipped and counted, or refused with --strict.
    raw_publish(srv.port, "md.src", b"not an event");
    let r = run_nats(&[
        "mirror",
        "--nats",
        &url,
        "--stream",
        "MD",
        "--subject",
        "md.src",
        s(&dst),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("1 messages without journal headers skipped"),
        "{r:?}"
    );
    let strict = dir.path().join("strict.journal");
    let r = run_nats(&[
        "mirror",
        "--nats",
        &url,
        "--stream",
        "MD",
        "--subject",
        "md.src",
        "--strict",
        s(&strict),
    ]);
    common::assert_error(&r, 1, "is not a journal event");
    // The publisher will not resume on a subject whose last message is not its own.
    let r = run_nats(&[
        "publish",
        s(&src),
        "--nats",
        &url,
        "--stream",
        "MD",
        "--subject",
        "md.src",
    ]);
    common::assert_error(&r, 1, "is not a journal event");
    assert_eq!(dump(&dst), dump(&src));
}

#[test]
fn unreachable_server_is_retried_then_reported_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.journal");
    append(&src, 0, 3);
    let port = free_port();
    let url = format!("nats://bob:hunter2@127.0.0.1:{port}");
    let started = Instant::now();
    let r = run_nats(&[
        "publish",
        s(&src),
        "--nats",
        &url,
        "--stream",
        "MD",
        "--subject",
        "md.src",
        "--timeout",
        "1",
        "--token",
        "s3cret",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(30), "{r:?}");
    let last = r.stderr.lines().last().unwrap();
    assert!(
        last.starts_with("journal: error: cannot reach the NATS server nats://127.0.0.1:"),
        "{r:?}"
    );
    assert!(last.contains("--timeout"), "{r:?}");
    assert!(r.stderr.contains("retrying in"), "{r:?}");
    assert!(
        !r.stderr.contains("hunter2") && !r.stderr.contains("s3cret"),
        "{r:?}"
    );
    let r = run_nats(&[
        "mirror",
        "--nats",
        &url,
        "--stream",
        "MD",
        "--timeout",
        "1",
        s(&dir.path().join("m.journal")),
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(!r.stderr.contains("hunter2"), "{r:?}");
}

#[test]
fn both_ends_follow_a_writer() {
    if !have_server() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), "n1", None);
    let url = srv.url();
    let src = dir.path().join("src.journal");
    let dst = dir.path().join("dst.journal");
    append(&src, 0, 100);
    let (plog, mlog) = (
        dir.path().join("publish.log"),
        dir.path().join("mirror.log"),
    );
    let mut publisher = spawn(
        &[
            "publish",
            "-f",
            s(&src),
            "--nats",
            &url,
            "--stream",
            "F",
            "--subject",
            "f.src",
            "--create-stream",
        ],
        &plog,
    );
    // The mirror needs the stream: wait for the publisher to have created it and stored a message.
    wait_until("the stream to exist", &[&plog], || {
        fresh_mirror(dir.path(), "probe.journal", &url, "F", "f.src")
            .is_some_and(|(d, _)| !d.is_empty())
    });
    let mut mirror = spawn(
        &[
            "mirror",
            "-f",
            "--nats",
            &url,
            "--stream",
            "F",
            "--subject",
            "f.src",
            s(&dst),
        ],
        &mlog,
    );
    let mut n = 100;
    for round in 0..8 {
        append(&src, n, 50 + round * 40);
        n += 50 + round * 40;
        let want = dump(&src);
        wait_until("the mirror to catch up", &[&plog, &mlog], || {
            dump_if_any(&dst) == want
        });
    }
    assert_eq!(lines(&dump(&dst)), n as usize);
    publisher.signal("-TERM");
    mirror.signal("-INT");
    assert_eq!(
        publisher.exit_code(),
        0,
        "{}",
        fs::read_to_string(&plog).unwrap()
    );
    assert_eq!(
        mirror.exit_code(),
        0,
        "{}",
        fs::read_to_string(&mlog).unwrap()
    );
    assert!(fs::read_to_string(&plog).unwrap().contains("interrupted"));
    assert_eq!(dump(&dst), dump(&src));
}

#[test]
fn publisher_and_mirror_killed_at_random_moments_leave_no_gap_and_no_duplicate() {
    if !have_server() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), "n1", None);
    let url = srv.url();
    let src = dir.path().join("src.journal");
    let dst = dir.path().join("dst.journal");
    append(&src, 0, 5000);
    let r = run_nats(&[
        "publish",
        s(&src),
        "--nats",
        &url,
        "--stream",
        "K",
        "--subject",
        "k.src",
        "--create-stream",
        "--from-index",
        "5000",
    ]);
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
        let mut publisher = spawn(
            &[
                "publish",
                "-f",
                "--from-index",
                "0",
                s(&src),
                "--nats",
                &url,
                "--stream",
                "K",
                "--subject",
                "k.src",
            ],
            &plog,
        );
        let mut mirror = spawn(
            &[
                "mirror",
                "-f",
                "--nats",
                &url,
                "--stream",
                "K",
                "--subject",
                "k.src",
                s(&dst),
            ],
            &mlog,
        );
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
    let r = run_nats(&[
        "publish",
        "--from-index",
        "0",
        s(&src),
        "--nats",
        &url,
        "--stream",
        "K",
        "--subject",
        "k.src",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let r = run_nats(&[
        "mirror",
        "--nats",
        &url,
        "--stream",
        "K",
        "--subject",
        "k.src",
        s(&dst),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let want = dump(&src);
    assert_eq!(lines(&want), n as usize);
    assert!(dump(&dst) == want, "the mirror differs from the source");
    // The stream itself holds every event exactly once: a fresh strict mirror skips nothing.
    let (fresh, stderr) = fresh_mirror(dir.path(), "fresh.journal", &url, "K", "k.src").unwrap();
    assert!(fresh == want, "a fresh mirror differs from the source");
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
            Server::start(dir.path(), &format!("n{i}"), Some((cports[i], &routes)))
        })
        .collect();
    let urls: Vec<String> = nodes.iter().map(Server::url).collect();
    let all = urls.join(",");
    let survivors = urls[1..].join(",");
    let src = dir.path().join("src.journal");
    append(&src, 0, 2000);
    let plog = dir.path().join("publish.log");
    let mut publisher = spawn(
        &[
            "publish",
            "-f",
            s(&src),
            "--nats",
            &all,
            "--stream",
            "C",
            "--subject",
            "c.src",
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
        fresh_mirror(dir.path(), "probe.journal", &survivors, "C", "c.src")
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
        fresh_mirror(dir.path(), "check.journal", &survivors, "C", "c.src")
            .is_some_and(|(d, _)| d == want)
    });
    assert_eq!(
        publisher.try_wait().unwrap(),
        None,
        "{}",
        fs::read_to_string(&plog).unwrap()
    );
    publisher.signal("-TERM");
    assert_eq!(
        publisher.exit_code(),
        0,
        "{}",
        fs::read_to_string(&plog).unwrap()
    );
}

#[test]
fn a_running_publisher_rides_out_a_server_restart() {
    if !have_server() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut srv = Server::start(dir.path(), "n1", None);
    let url = srv.url();
    let src = dir.path().join("src.journal");
    let dst = dir.path().join("dst.journal");
    append(&src, 0, 1000);
    let (plog, mlog) = (
        dir.path().join("publish.log"),
        dir.path().join("mirror.log"),
    );
    let mut publisher = spawn(
        &[
            "publish",
            "-f",
            s(&src),
            "--nats",
            &url,
            "--stream",
            "R",
            "--subject",
            "r.src",
            "--create-stream",
        ],
        &plog,
    );
    let want = dump(&src);
    wait_until("the first events to be stored", &[&plog], || {
        fresh_mirror(dir.path(), "probe.journal", &url, "R", "r.src")
            .is_some_and(|(d, _)| d == want)
    });
    let mut mirror = spawn(
        &[
            "mirror",
            "-f",
            "--nats",
            &url,
            "--stream",
            "R",
            "--subject",
            "r.src",
            s(&dst),
        ],
        &mlog,
    );
    wait_until("the mirror to catch up", &[&mlog], || {
        dump_if_any(&dst) == want
    });
    // The server dies; the writer goes on; the server comes back on the same port and storage.
    srv.kill();
    append(&src, 1000, 1000);
    srv.spawn();
    append(&src, 2000, 1000);
    let want = dump(&src);
    wait_until("the mirror to have every event", &[&plog, &mlog], || {
        dump_if_any(&dst) == want
    });
    let log = fs::read_to_string(&plog).unwrap();
    assert!(log.contains("disconnected"), "{log}");
    for child in [&mut publisher, &mut mirror] {
        assert_eq!(child.try_wait().unwrap(), None);
        child.signal("-TERM");
        assert_eq!(child.exit_code(), 0);
    }
    let (fresh, stderr) = fresh_mirror(dir.path(), "fresh.journal", &url, "R", "r.src").unwrap();
    assert!(fresh == want);
    assert!(
        stderr.contains("3000 events written, 0 already there"),
        "{stderr}"
    );
}
