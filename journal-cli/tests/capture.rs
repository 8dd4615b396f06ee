//! Runs the real `journal` binary for `capture` (live UDP on loopback, stopped by signals) and
//! `import-pcap` (the committed captures in tests/fixtures, made by tcpdump and dumpcap, and their
//! damaged copies; see tests/fixtures/README.md).

use std::fs;
use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use journal::{Reader, Writer};
use serde_json::Value;
use tempfile::TempDir;

mod common;
use common::{
    assert_error, json, lines, run, s, skip, wait_for, InCi, KillOnDrop, Run, BIN, PATIENCE,
};

fn events(path: &Path) -> Vec<(i64, Vec<u8>)> {
    let r = Reader::open(path).unwrap();
    assert!(r.verify().unwrap().is_intact(), "{}", path.display());
    r.iter()
        .map(|e| {
            let e = e.unwrap();
            (e.timestamp, e.payload.to_vec())
        })
        .collect()
}

#[test]
fn capture_and_import_pcap_have_help_with_examples() {
    for sub in ["capture", "import-pcap"] {
        let r = run(&[sub, "--help"]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stdout.contains(&format!("Usage: journal {sub}")), "{r:?}");
        assert!(
            r.stdout.contains(&format!("Examples:\n  journal {sub}")),
            "{r:?}"
        );
    }
    let r = run(&["--help"]);
    assert!(r.stdout.contains("\n  capture ") && r.stdout.contains("\n  import-pcap "));
}

// ---------------------------------------------------------------------------------------------
// capture

/// A running `journal capture` (killed if the test fails), its stderr read line by line on a
/// thread.
struct Capture {
    child: KillOnDrop,
    stderr: mpsc::Receiver<String>,
    /// The address it reported it is bound to.
    local: SocketAddr,
}

impl Capture {
    /// Starts a capture with `args` (which must include `--json`) and waits for its first line.
    fn start(args: &[&str]) -> Capture {
        Capture::try_start(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Capture::start`], or the error line if the capture failed to start.
    fn try_start(args: &[&str]) -> Result<Capture, String> {
        let mut child = KillOnDrop(
            Command::new(BIN)
                .arg("capture")
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let stderr = lines(child.stderr.take().unwrap());
        let first = stderr
            .recv_timeout(PATIENCE)
            .expect("capture never said it was listening");
        if first.starts_with("journal: error: ") {
            let _ = child.wait();
            return Err(first);
        }
        let local = json(&first)["listening"]
            .as_str()
            .unwrap_or_else(|| panic!("{first}"))
            .parse()
            .unwrap();
        Ok(Capture {
            child,
            stderr,
            local,
        })
    }

    fn signal(&self, sig: &str) {
        self.child.signal(sig);
    }

    /// Waits for the exit: (status, stdout, the stderr lines after the first not yet taken).
    fn finish(mut self) -> (i32, String, Vec<String>) {
        let code = self.child.exit_code();
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let err: Vec<String> = self.stderr.iter().collect();
        (code, out, err)
    }
}

/// Datagram `i`: its index (4 bytes) then 0 to 1,200 bytes derived from it.
fn datagram(i: u32) -> Vec<u8> {
    let mut x = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let len = 4 + (x % 1_201) as usize;
    let mut d = i.to_le_bytes().to_vec();
    while d.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        d.push(x as u8);
    }
    d
}

#[test]
fn capture_records_every_datagram_in_order_and_sigint_leaves_a_journal_that_verifies() {
    const N: u32 = 20_000;
    /// Datagrams in flight: what even a default receive buffer (about 200 KiB) holds.
    const WINDOW: u64 = 64;
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("feed.journal");
    let cap = Capture::start(&["--udp", "127.0.0.1:0", "--json", s(&path)]);
    // The journal exists once the capture is listening: pace the sender by what it has recorded.
    let reader = Reader::open(&path).unwrap();
    let mut tail = reader.tail();
    let mut recorded = 0u64;
    let mut count = |recorded: &mut u64| {
        while tail.poll().unwrap().is_some() {
            *recorded += 1;
        }
    };
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let t0 = journal::now_ns();
    let deadline = Instant::now() + PATIENCE;
    for i in 0..N {
        while u64::from(i) >= recorded + WINDOW {
            assert!(Instant::now() < deadline, "capture stalled at {recorded}");
            count(&mut recorded);
        }
        tx.send_to(&datagram(i), cap.local).unwrap();
    }
    while recorded < u64::from(N) {
        assert!(Instant::now() < deadline, "capture stalled at {recorded}");
        count(&mut recorded);
    }
    let t1 = journal::now_ns();
    let local = cap.local;
    drop(reader);
    cap.signal("-INT");
    let (code, stdout, _) = cap.finish();
    assert_eq!(code, 0, "{stdout}");

    let summary = json(stdout.trim());
    let got = events(&path);
    let bytes: usize = got.iter().map(|(_, p)| p.len()).sum();
    assert_eq!(summary["datagrams"], u64::from(N), "{summary}");
    assert_eq!(summary["journal_events"], u64::from(N));
    assert_eq!(summary["bytes"], bytes as u64);
    assert_eq!(summary["kernel_drops"], 0);
    assert_eq!(summary["truncated"], 0);
    assert_eq!(summary["local"], local.to_string());
    assert_eq!(got.len(), N as usize);
    for (i, (ts, payload)) in got.iter().enumerate() {
        assert!(*payload == datagram(i as u32), "event {i} differs");
        assert!(
            (t0..=t1).contains(ts),
            "event {i} at {ts} is outside [{t0}, {t1}]"
        );
        assert!(
            i == 0 || *ts >= got[i - 1].0,
            "event {i} is earlier than the one before"
        );
    }
    assert_eq!(summary["first_timestamp"], got[0].0);
    assert_eq!(summary["last_timestamp"], got[N as usize - 1].0);
    let r = run(&["verify", s(&path)]);
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn a_burst_just_before_sigint_is_recorded_or_counted_as_dropped() {
    // With a sync per datagram the capture falls far behind the burst: at the signal most of it
    // is still queued in the socket, and all of it must be recorded (or counted as dropped).
    const SENT: u32 = 2_000;
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("burst.journal");
    let cap = Capture::start(&[
        "--udp",
        "127.0.0.1:0",
        "--json",
        "--sync",
        "always",
        s(&path),
    ]);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..SENT {
        tx.send_to(&datagram(i)[..64.min(datagram(i).len())], cap.local)
            .unwrap();
    }
    // On loopback the datagrams are in the socket's queue (or dropped) when send_to returns; the
    // capture records everything received before the signal before it stops.
    cap.signal("-INT");
    let (code, stdout, _) = cap.finish();
    assert_eq!(code, 0, "{stdout}");
    let summary = json(stdout.trim());
    let recorded = summary["datagrams"].as_u64().unwrap();
    let dropped = summary["kernel_drops"].as_u64().unwrap();
    assert_eq!(recorded + dropped, u64::from(SENT), "{summary}");
    let got = events(&path);
    assert_eq!(got.len() as u64, recorded);
    let indices: Vec<u32> = got
        .iter()
        .map(|(_, p)| u32::from_le_bytes(p[..4].try_into().unwrap()))
        .collect();
    assert!(indices.windows(2).all(|w| w[0] < w[1]), "out of order");
    if dropped == 0 {
        assert_eq!(indices, (0..SENT).collect::<Vec<_>>());
    }
}

#[test]
fn capture_prints_stats_while_running_and_a_summary_on_sigterm() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("stats.journal");
    // The first line is JSON only with --json; read it in text mode by hand.
    let mut child = KillOnDrop(
        Command::new(BIN)
            .args([
                "capture",
                "--udp",
                "127.0.0.1:0",
                "--stats-interval",
                "100ms",
            ])
            .args(["--gap", "500ms", s(&path)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = lines(child.stderr.take().unwrap());
    let first = stderr.recv_timeout(PATIENCE).unwrap();
    assert!(
        first.starts_with("journal: capturing 127.0.0.1:"),
        "{first}"
    );
    assert!(first.ends_with("; SIGINT or SIGTERM stops"), "{first}");
    let port = first["journal: capturing 127.0.0.1:".len()..]
        .split(' ')
        .next()
        .unwrap();
    let to: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..5u8 {
        tx.send_to(&[i; 10], to).unwrap();
        if i == 2 {
            // The one silence of 0.5 s or more: what is measured, not a synchronisation. The
            // other four sends follow each other within microseconds.
            std::thread::sleep(Duration::from_millis(1_100));
        }
    }
    // Running statistics until one counts all five datagrams.
    let mut err = Vec::new();
    wait_for("a statistics line counting 5 datagrams", || {
        err.extend(stderr.try_iter());
        err.iter()
            .any(|l| l.starts_with("journal: capture: ") && l.contains(" 5 datagrams"))
    });
    let cap = Capture {
        child,
        stderr,
        local: to,
    };
    cap.signal("-TERM");
    let (code, stdout, rest) = cap.finish();
    err.extend(rest);
    assert_eq!(code, 0, "{stdout} {err:?}");
    let stats: Vec<&String> = err
        .iter()
        .filter(|l| l.starts_with("journal: capture: "))
        .collect();
    assert!(stats.len() >= 2, "{err:?}");
    assert!(
        err.iter().all(|l| l.starts_with("journal: capture: ")
            || l.starts_with("journal: warning: the kernel granted")),
        "{err:?}"
    );
    assert!(stats.last().unwrap().contains(" 5 datagrams"), "{stats:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("captured 5 datagrams (50 bytes) in "),
        "{stdout}"
    );
    assert!(stdout.contains("\nkernel drops:  0\n"), "{stdout}");
    // The largest gap is the silence of at least 1.1 s, printed in seconds.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("largest gap:   1.") && l.contains(" s from 20")),
        "{stdout}"
    );
    assert!(
        stdout.contains("\ngaps:          1 of 500.000 ms or more\n"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(&format!(
            "journal:       {} (5 events appended, synced and closed)\n",
            path.display()
        )),
        "{stdout}"
    );
    assert_eq!(events(&path).len(), 5);
}

#[test]
fn capture_joins_a_multicast_group_on_loopback_where_the_kernel_allows() {
    let dir = TempDir::new().unwrap();
    // IPv4 multicast on lo works on every Linux host CI runs on: there a failure is a failure.
    let skip = |why: &str| skip("IPv4 multicast on loopback", why, InCi::Required);
    // Bound to the group (implied join), and bound to the wildcard with --group: both get every
    // datagram sent to the group.
    let a_path = dir.path().join("a.journal");
    let a = match Capture::try_start(&[
        "--udp",
        "239.255.77.3:0",
        "--iface",
        "127.0.0.1",
        "--json",
        s(&a_path),
    ]) {
        Ok(c) => c,
        Err(e) => return skip(&e),
    };
    let port = a.local.port().to_string();
    let b_path = dir.path().join("b.journal");
    let b = match Capture::try_start(&[
        "--udp",
        &format!("0.0.0.0:{port}"),
        "--group",
        "239.255.77.3",
        "--iface",
        "lo",
        "--json",
        s(&b_path),
    ]) {
        Ok(c) => c,
        Err(e) => {
            a.signal("-INT");
            let _ = a.finish();
            return skip(&e);
        }
    };
    let to: SocketAddr = format!("239.255.77.3:{port}").parse().unwrap();
    // A sender bound to 127.0.0.1 sends multicast out of lo.
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let count = |p: &Path| Reader::open(p).unwrap().iter().count();
    // Whether this host delivers multicast on lo at all: the first datagram arrives, or not.
    let first = tx.send_to(&datagram(0), to);
    let deadline = Instant::now() + Duration::from_secs(5);
    while first.is_ok() && count(&a_path) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if first.is_err() || count(&a_path) == 0 {
        a.signal("-INT");
        b.signal("-INT");
        let _ = (a.finish(), b.finish());
        return skip(&format!(
            "a datagram sent to {to} did not come back on lo ({first:?})"
        ));
    }
    // Then the rest, each sent once the one before has reached both members: nothing is ever
    // dropped for want of buffer space.
    let sent = 200;
    for i in 1..sent {
        wait_for("both members to record the datagram before", || {
            count(&a_path) >= i && count(&b_path) >= i
        });
        tx.send_to(&datagram(i as u32), to).unwrap();
    }
    wait_for("both members to record every datagram", || {
        count(&a_path) >= sent && count(&b_path) >= sent
    });
    a.signal("-INT");
    b.signal("-INT");
    let (ca, out_a, _) = a.finish();
    let (cb, out_b, _) = b.finish();
    assert_eq!((ca, cb), (0, 0), "{out_a} {out_b}");
    let (sa, sb) = (json(out_a.trim()), json(out_b.trim()));
    for (summary, path) in [(&sa, &a_path), (&sb, &b_path)] {
        assert_eq!(summary["group"], "239.255.77.3", "{summary}");
        assert_eq!(summary["datagrams"], sent as u64, "{summary}");
        let got = events(path);
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, (_, p))| *p == datagram(i as u32)));
    }
}

#[test]
fn capture_usage_errors_are_one_line_with_status_2() {
    let dir = TempDir::new().unwrap();
    let f = dir.path().join("never.journal");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--udp", "nonsense"],
            "invalid value 'nonsense' for '--udp <ADDR:PORT>'",
        ),
        (
            &["--udp", "127.0.0.1:5000", "--iface", "lo"],
            "but there is no group",
        ),
        (
            &["--udp", "0.0.0.0:5000", "--group", "10.0.0.1"],
            "--group 10.0.0.1 is not a multicast address",
        ),
        (
            &["--udp", "127.0.0.1:5000", "--group", "239.1.1.1"],
            "--udp must be 239.1.1.1 or the wildcard address, not 127.0.0.1",
        ),
        (
            &["--udp", "[::]:5000", "--group", "239.1.1.1"],
            "different IP families",
        ),
        (
            &[
                "--udp",
                "[::]:5000",
                "--group",
                "ff15::1",
                "--iface",
                "10.0.0.1",
            ],
            "name or index",
        ),
        (
            &["--udp", "0.0.0.0:5000", "--batch", "0"],
            "invalid value '0' for '--batch <N>'",
        ),
        (
            &["--udp", "0.0.0.0:5000", "--stats-interval", "1"],
            "needs a unit",
        ),
        (
            &["--udp", "0.0.0.0:5000", "--rcvbuf", "2G"],
            "must be from 1 byte to 1GiB",
        ),
        (
            &["--udp", "0.0.0.0:5000", "--sync", "sometimes"],
            "'sometimes' is not a sync policy",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["capture"];
        all.extend_from_slice(args);
        all.push(s(&f));
        assert_error(&run(&all), 2, needle);
    }
    let r = run(&["capture", s(&f)]);
    assert_error(
        &r,
        2,
        "required arguments were not provided: --udp <ADDR:PORT>",
    );
    // A port in use: the bind fails before the journal is created.
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let r = run(&["capture", "--udp", &addr, s(&f)]);
    assert_error(&r, 2, &format!("{addr}: bind failed: "));
    assert!(!f.exists());
}

#[test]
fn capture_refuses_a_damaged_journal_with_status_1() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("damaged.journal");
    let mut w = Writer::create(&path).unwrap();
    w.append(1, b"one").unwrap();
    w.append(2, b"two").unwrap();
    w.close().unwrap();
    // Flip a payload bit of the second event: its CRC fails.
    let f = fs::OpenOptions::new()
        .write(true)
        .read(true)
        .open(&path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, 24 + 24 + 16).unwrap();
    f.write_all_at(&[b[0] ^ 1], 24 + 24 + 16).unwrap();
    let r = run(&["capture", "--udp", "127.0.0.1:0", s(&path)]);
    assert_error(&r, 1, "refusing to capture into it ('journal repair");
}

// ---------------------------------------------------------------------------------------------
// import-pcap

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// One UDP datagram as tshark decoded it (fixtures/expected).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Expected {
    timestamp: i64,
    dst: String,
    port: u16,
    payload: Vec<u8>,
}

fn expected(capture: &str) -> Vec<Expected> {
    let text = fs::read_to_string(fixture(&format!("expected/{capture}.tsv"))).unwrap();
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let (sec, frac) = f[0].split_once('.').unwrap();
            assert_eq!(frac.len(), 9, "{line}");
            let hex = f[4];
            Expected {
                timestamp: sec.parse::<i64>().unwrap() * 1_000_000_000
                    + frac.parse::<i64>().unwrap(),
                dst: if f[1].is_empty() { f[2] } else { f[1] }.to_owned(),
                port: f[3].parse().unwrap(),
                payload: (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect(),
            }
        })
        .collect()
}

/// Runs `import-pcap --json` and returns the run and its report.
fn import(capture: &str, out: &Path, filters: &[&str]) -> (Run, Value) {
    let path = fixture(capture);
    let mut args = vec!["import-pcap", "--json", s(&path), s(out)];
    args.extend_from_slice(filters);
    let r = run(&args);
    let report = json(r.stdout.trim());
    (r, report)
}

fn as_events(rows: &[Expected]) -> Vec<(i64, Vec<u8>)> {
    rows.iter()
        .map(|e| (e.timestamp, e.payload.clone()))
        .collect()
}

#[track_caller]
fn assert_counts(report: &Value, packets: u64, imported: u64, rest: &[(&str, u64)]) {
    assert_eq!(report["packets"], packets, "{report}");
    assert_eq!(report["imported"], imported, "{report}");
    for key in [
        "filtered",
        "not_udp",
        "fragments",
        "truncated",
        "malformed",
        "unsupported",
    ] {
        let want = rest.iter().find(|(k, _)| *k == key).map_or(0, |(_, n)| *n);
        assert_eq!(report[key], want, "{key}: {report}");
    }
}

#[test]
fn import_pcap_matches_tshark_on_captures_from_tcpdump_and_dumpcap() {
    let dir = TempDir::new().unwrap();
    for (capture, format) in [
        ("lo-usec.pcap", "pcap"),
        ("lo-nsec.pcap", "pcap"),
        ("lo-be.pcap", "pcap"),
        ("any-sll2.pcap", "pcap"),
        ("vlan.pcap", "pcap"),
        ("lo.pcapng", "pcapng"),
    ] {
        let out = dir.path().join(format!("{capture}.journal"));
        let (r, report) = import(capture, &out, &[]);
        assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{capture}: {r:?}");
        let want = expected(capture);
        assert_eq!(want.len(), 12, "{capture}");
        assert_eq!(report["format"], format);
        assert_counts(&report, 14, 12, &[("not_udp", 2)]);
        let bytes: usize = want.iter().map(|e| e.payload.len()).sum();
        assert_eq!(report["bytes"], bytes as u64);
        assert_eq!(report["first_timestamp"], want[0].timestamp);
        assert_eq!(report["last_timestamp"], want[11].timestamp);
        assert_eq!(report["damage"], Value::Null);
        assert!(
            events(&out) == as_events(&want),
            "{capture}: events differ from tshark's"
        );
    }
    // Microsecond and nanosecond captures of the same packets: same payloads, and the µs times
    // are the ns times cut to microseconds give or take the moment each tool read the packet.
    let (us, ns) = (expected("lo-usec.pcap"), expected("lo-nsec.pcap"));
    assert!(us.iter().all(|e| e.timestamp % 1_000 == 0));
    assert!(ns.iter().any(|e| e.timestamp % 1_000 != 0));
    assert!(us.iter().zip(&ns).all(|(a, b)| a.payload == b.payload));
}

#[test]
fn import_pcap_filters_by_destination_port_and_address() {
    let dir = TempDir::new().unwrap();
    let all = expected("lo-usec.pcap");
    /// Filter arguments, and which of tshark's datagrams they keep.
    type Case = (&'static [&'static str], fn(&Expected) -> bool);
    let cases: &[Case] = &[
        (&["--udp-port", "40001"], |e| e.port == 40001),
        (&["--dst", "127.0.0.1"], |e| e.dst == "127.0.0.1"),
        (&["--dst", "::1"], |e| e.dst == "::1"),
        (&["--udp-port", "40002", "--dst", "127.0.0.1"], |e| {
            e.port == 40002 && e.dst == "127.0.0.1"
        }),
        (&["--udp-port", "9"], |_| false),
    ];
    for (i, (filters, keep)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("{i}.journal"));
        let (r, report) = import("lo-usec.pcap", &out, filters);
        assert_eq!(r.code, 0, "{r:?}");
        let want: Vec<Expected> = all.iter().filter(|e| keep(e)).cloned().collect();
        let n = want.len() as u64;
        assert_counts(&report, 14, n, &[("not_udp", 2), ("filtered", 12 - n)]);
        assert!(events(&out) == as_events(&want), "{filters:?}");
    }
}

#[test]
fn import_pcap_counts_datagrams_cut_by_the_snapshot_length() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("s.journal");
    let (r, report) = import("snaplen-64.pcap", &out, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    // tcpdump -s 64 keeps 64 bytes of each frame: the 3,000-byte, 256-byte and IPv6 datagrams are
    // cut; the nine others are whole.
    assert_counts(&report, 14, 9, &[("not_udp", 2), ("truncated", 3)]);
    let whole: Vec<Vec<u8>> = expected("lo-usec.pcap")
        .into_iter()
        .filter(|e| e.payload.len() <= 64 - 14 - 20 - 8 && e.dst == "127.0.0.1")
        .map(|e| e.payload)
        .collect();
    let got: Vec<Vec<u8>> = events(&out).into_iter().map(|(_, p)| p).collect();
    assert_eq!(got, whole);
}

#[test]
fn import_pcap_of_damaged_captures_keeps_what_comes_before_the_damage() {
    let dir = TempDir::new().unwrap();
    // (capture, tshark's reading of the undamaged original, packets, imported rows, counts,
    //  damage offset and reason)
    type Case = (
        &'static str,
        &'static str,
        u64,
        &'static [usize],
        &'static [(&'static str, u64)],
        Option<(u64, &'static str)>,
    );
    let cases: &[Case] = &[
        (
            "cut.pcap",
            "lo-usec.pcap",
            3,
            &[0, 1, 2],
            &[],
            Some((225, "the file ends in the middle of a record (cut short)")),
        ),
        (
            "bad-caplen.pcap",
            "lo-usec.pcap",
            2,
            &[0, 1],
            &[],
            Some((
                158,
                "a record of 2147483647 bytes, more than the snapshot length (262144) allows",
            )),
        ),
        (
            "bad-headers.pcap",
            "lo-usec.pcap",
            14,
            &[0, 2, 3, 5, 6, 7, 8, 9, 10, 11],
            &[("not_udp", 2), ("malformed", 2)],
            None,
        ),
        (
            "cut.pcapng",
            "lo.pcapng",
            3,
            &[0, 1, 2],
            &[],
            Some((512, "the file ends in the middle of a record (cut short)")),
        ),
        (
            "bad-block.pcapng",
            "lo.pcapng",
            14,
            &[0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11],
            &[("not_udp", 2), ("malformed", 1)],
            None,
        ),
        (
            "bad-length.pcapng",
            "lo.pcapng",
            4,
            &[0, 1, 2, 3],
            &[],
            Some((
                596,
                "a block of type 6 whose length is 84 bytes at its start but 88 at its end",
            )),
        ),
    ];
    for (capture, original, packets, rows, counts, damage) in cases {
        let out = dir.path().join(format!("{capture}.journal"));
        let (r, report) = import(capture, &out, &[]);
        let all = expected(original);
        let want: Vec<Expected> = rows.iter().map(|&i| all[i].clone()).collect();
        assert_counts(&report, *packets, rows.len() as u64, counts);
        assert!(events(&out) == as_events(&want), "{capture}: events differ");
        let path = fixture(capture);
        match damage {
            None => {
                assert_eq!(r.code, 0, "{capture}: {r:?}");
                assert_eq!(report["damage"], Value::Null);
            }
            Some((offset, reason)) => {
                assert_eq!(r.code, 1, "{capture}: {r:?}");
                assert_eq!(report["damage"]["offset"], *offset, "{capture}: {report}");
                assert_eq!(report["damage"]["reason"], *reason, "{capture}: {report}");
                let line = format!(
                    "journal: error: {}: damaged at byte {offset}: {reason}; the {packets} packets \
                     before it were read\n",
                    path.display()
                );
                assert!(r.stderr.ends_with(&line), "{capture}: {r:?}");
            }
        }
    }
    // Malformed packets are described, one line each, naming the packet and its byte offset.
    let out = dir.path().join("warnings.journal");
    let r = run(&["import-pcap", s(&fixture("bad-headers.pcap")), s(&out)]);
    assert_eq!(r.code, 0, "{r:?}");
    let p = fixture("bad-headers.pcap");
    assert_eq!(
        r.stderr,
        format!(
            "journal: warning: {0}: packet 2 at byte 91: IPv4 packet whose version is not 4\n\
             journal: warning: {0}: packet 5 at byte 292: UDP length disagrees with the IP length\n",
            p.display()
        )
    );
    assert!(
        r.stdout
            .starts_with("imported 10 datagrams (3326 bytes) from "),
        "{r:?}"
    );
    assert!(r.stdout.contains(
        "\npackets:   14 (10 imported, 0 filtered out, 2 not UDP, 0 IP fragments, 0 cut by the \
         snapshot length, 2 malformed, 0 unsupported)\n"
    ), "{r:?}");
}

/// A classic little-endian µs pcap header with `linktype`, then `records` of (ts_sec, ts_usec, data).
fn pcap(linktype: u32, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let mut f = Vec::new();
    for w in [0xA1B2_C3D4u32, 0x0004_0002, 0, 0, 262_144, linktype] {
        f.extend_from_slice(&w.to_le_bytes());
    }
    for (sec, usec, data) in records {
        for w in [*sec, *usec, data.len() as u32, data.len() as u32] {
            f.extend_from_slice(&w.to_le_bytes());
        }
        f.extend_from_slice(data);
    }
    f
}

#[test]
fn import_pcap_refuses_what_is_not_a_capture_and_reports_odd_records() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out.journal");
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        fs::write(&p, bytes).unwrap();
        p
    };
    let text = write("notes.txt", b"these are not packets\n");
    let r = run(&["import-pcap", s(&text), s(&out)]);
    assert_error(
        &r,
        2,
        "not a pcap or pcapng capture (unrecognized file header)",
    );
    let empty = write("empty.pcap", b"");
    assert_error(
        &run(&["import-pcap", s(&empty), s(&out)]),
        2,
        "empty file, not a capture",
    );
    let missing = dir.path().join("missing.pcap");
    assert_error(
        &run(&["import-pcap", s(&missing), s(&out)]),
        2,
        "open failed",
    );
    assert!(
        !out.exists(),
        "no journal is created for a file that is not a capture"
    );

    // A header and no packets; then a link type this command does not decode (USER0), and a
    // timestamp whose microseconds are a second or more.
    let raw_ip = {
        let mut p = vec![
            0x45, 0, 0, 33, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        p.extend_from_slice(&[0x30, 0x39, 0x13, 0x88, 0, 13, 0, 0]);
        p.extend_from_slice(b"hello");
        p
    };
    let only_header = write("header.pcap", &pcap(1, &[]));
    let (r, report) = import_path(&only_header, &out);
    assert_eq!(r.code, 0, "{r:?}");
    assert_counts(&report, 0, 0, &[]);
    let odd = write(
        "odd.pcap",
        &pcap(
            101,
            &[
                (1, 2, &raw_ip),
                (1, 1_000_000, &raw_ip),
                (3, 999_999, &raw_ip),
            ],
        ),
    );
    let (r, report) = import_path(&odd, &out);
    assert_eq!(r.code, 0, "{r:?}");
    assert_counts(&report, 3, 2, &[("malformed", 1)]);
    assert!(
        r.stderr
            .contains("packet 2 at byte 73: the timestamp's fraction is a second or more"),
        "{r:?}"
    );
    let user0 = write("user0.pcap", &pcap(147, &[(1, 0, b"opaque")]));
    let (r, report) = import_path(&user0, &out);
    assert_eq!(r.code, 0, "{r:?}");
    assert_counts(&report, 1, 0, &[("unsupported", 1)]);
    assert!(r.stderr.contains("link type 147 is not supported"), "{r:?}");
    // Each import appended to the same journal.
    assert_eq!(
        events(&out),
        vec![
            (1_000_002_000, b"hello".to_vec()),
            (3_999_999_000, b"hello".to_vec())
        ]
    );
}

fn import_path(capture: &Path, out: &Path) -> (Run, Value) {
    let r = run(&["import-pcap", "--json", s(capture), s(out)]);
    let report = json(r.stdout.trim());
    (r, report)
}

#[test]
fn import_pcap_refuses_a_damaged_journal_with_status_1() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("damaged.journal");
    let mut w = Writer::create(&path).unwrap();
    w.append(1, b"one").unwrap();
    w.close().unwrap();
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(b"X", 24 + 16).unwrap();
    drop(f);
    let r = run(&["import-pcap", s(&fixture("lo-usec.pcap")), s(&path)]);
    assert_error(&r, 1, "refusing to import into it ('journal repair");
}
