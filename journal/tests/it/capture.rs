//! UDP capture on loopback: every datagram recorded, in order, byte for byte, with kernel receive
//! timestamps; bursts in few system calls; kernel drops counted, never silent; no allocation per
//! datagram; IPv6 multicast where the host allows it (skipped with a printed reason; IPv4
//! multicast and IPv6 unicast on loopback are required under `CI=true`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use journal::{now_ns, CaptureOptions, Error, Interface, Reader, UdpCapture, Writer};

use crate::support::{
    count_allocs, mix, read_all, skip, small_opts, wait_for, InCi, TempDir, PATIENCE,
};

/// The datagrams in flight (sent, not yet recorded) that a paced sender allows: small enough that
/// even a default-sized receive buffer (`rmem_default`, about 200 KiB) holds them all.
const WINDOW: u64 = 64;

/// Datagram `i`: its index (4 bytes, little-endian) and then `mix`-derived bytes, 4 to 1,400 bytes
/// long; every 997th is empty and datagram 1,000 is the largest IPv4 payload.
fn datagram(i: u64) -> Vec<u8> {
    let len = match i {
        1_000 => 65_507,
        _ if i % 997 == 5 => return Vec::new(),
        _ => 4 + (mix(i) % 1_397) as usize,
    };
    let mut d = Vec::with_capacity(len);
    d.extend_from_slice(&(i as u32).to_le_bytes());
    d.extend((4..len).map(|j| mix(i ^ ((j as u64) << 32)) as u8));
    d
}

/// Sends datagrams `0..n` to `to` from a thread, keeping at most [`WINDOW`] of them ahead of
/// `recorded` (the receiver's count), so the receive buffer never overflows.
fn paced_sender(
    from: SocketAddr,
    to: SocketAddr,
    n: u64,
    recorded: Arc<AtomicU64>,
    payload: fn(u64) -> Vec<u8>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let tx = UdpSocket::bind(from).unwrap();
        let deadline = Instant::now() + PATIENCE;
        for i in 0..n {
            while i >= recorded.load(Ordering::Acquire) + WINDOW {
                assert!(Instant::now() < deadline, "the receiver stalled at {i}");
                thread::yield_now();
            }
            tx.send_to(&payload(i), to).unwrap();
        }
    })
}

/// Records with `recv_batch` until `n` datagrams are in, publishing the count for the sender.
fn record(cap: &mut UdpCapture, w: &mut Writer, n: u64, recorded: &AtomicU64) {
    let deadline = Instant::now() + PATIENCE;
    while cap.stats().datagrams < n {
        assert!(
            Instant::now() < deadline,
            "only {:?} of {n} datagrams",
            cap.stats()
        );
        cap.recv_batch(w).unwrap();
        recorded.store(cap.stats().datagrams, Ordering::Release);
    }
}

/// The sum of the per-CPU backlog drops (`/proc/net/softnet_stat`, column 2): datagrams the kernel
/// dropped before they reached any socket, which no socket's counter sees.
fn backlog_drops() -> u64 {
    std::fs::read_to_string("/proc/net/softnet_stat")
        .map(|s| {
            s.lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .filter_map(|h| u64::from_str_radix(h, 16).ok())
                .sum()
        })
        .unwrap_or(0)
}

fn loopback_v4() -> SocketAddr {
    (Ipv4Addr::LOCALHOST, 0).into()
}

#[test]
fn every_datagram_is_recorded_in_order_byte_exact_with_kernel_timestamps() {
    const N: u64 = 30_000;
    let dir = TempDir::new("capture");
    let path = dir.join("j");
    let mut w = Writer::create(&path).unwrap();
    let mut cap = UdpCapture::bind(loopback_v4(), &CaptureOptions::new()).unwrap();
    let recorded = Arc::new(AtomicU64::new(0));
    let t0 = now_ns();
    let sender = paced_sender(
        loopback_v4(),
        cap.local_addr(),
        N,
        recorded.clone(),
        datagram,
    );
    record(&mut cap, &mut w, N, &recorded);
    let t1 = now_ns();
    sender.join().unwrap();
    w.close().unwrap();

    let stats = cap.stats();
    let events = read_all(&path);
    assert_eq!(events.len() as u64, N);
    let mut bytes = 0;
    for (i, (ts, payload)) in events.iter().enumerate() {
        assert!(*payload == datagram(i as u64), "event {i} differs");
        assert!(
            (t0..=t1).contains(ts),
            "event {i} at {ts}, outside [{t0}, {t1}]"
        );
        if i > 0 {
            assert!(
                *ts >= events[i - 1].0,
                "event {i} is earlier than the one before"
            );
        }
        bytes += payload.len() as u64;
    }
    assert!(Reader::open(&path).unwrap().verify().unwrap().is_intact());
    assert_eq!((stats.datagrams, stats.bytes), (N, bytes));
    assert_eq!(
        (
            stats.kernel_drops,
            stats.truncated,
            stats.untimestamped,
            stats.backwards
        ),
        (0, 0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(stats.first_timestamp, Some(events[0].0));
    assert_eq!(stats.last_timestamp, Some(events[N as usize - 1].0));
    let gap = stats.largest_gap.unwrap();
    assert!(gap.to > gap.from && gap.nanos() < (t1 - t0) as u64);
    assert!(stats.receive_calls >= 1 && stats.receive_calls <= N);
}

#[test]
fn a_burst_is_received_in_few_system_calls() {
    let dir = TempDir::new("capture-burst");
    let path = dir.join("j");
    let mut w = Writer::create(&path).unwrap();
    let mut opts = CaptureOptions::new();
    opts.batch(64);
    let mut cap = UdpCapture::bind(loopback_v4(), &opts).unwrap();
    // A 100-byte datagram takes well under 2 KiB of the buffer on loopback; send what surely fits.
    let k = (cap.recv_buffer_size() as u64 / 2 / 2048).min(1_000);
    assert!(
        k >= 64,
        "receive buffer {} too small",
        cap.recv_buffer_size()
    );
    let tx = UdpSocket::bind(loopback_v4()).unwrap();
    for i in 0..k {
        tx.send_to(&[i as u8; 100], cap.local_addr()).unwrap();
    }
    // Loopback delivers inside send_to, unless the kernel deferred it: once a datagram sent after
    // the burst has arrived elsewhere, the burst is queued (barring a move to another CPU).
    let sentinel = UdpSocket::bind(loopback_v4()).unwrap();
    sentinel.set_read_timeout(Some(PATIENCE)).unwrap();
    tx.send_to(b"after", sentinel.local_addr().unwrap())
        .unwrap();
    sentinel.recv(&mut [0u8; 8]).expect("the sentinel datagram");
    let mut largest = 0;
    wait_for("the burst", || {
        largest = largest.max(cap.recv_batch(&mut w).unwrap());
        cap.stats().datagrams >= k
    });
    let stats = cap.stats();
    assert_eq!((stats.datagrams, stats.kernel_drops), (k, 0), "{stats:?}");
    // Full batches of 64: as few calls as possible when the whole burst was queued, and in any
    // case far fewer than one per datagram.
    assert_eq!(largest, 64, "{stats:?}");
    assert!(
        (k.div_ceil(64)..=2 * k.div_ceil(64)).contains(&stats.receive_calls),
        "{stats:?}"
    );
    w.close().unwrap();
    let events = read_all(&path);
    assert!(events
        .iter()
        .enumerate()
        .all(|(i, (_, p))| *p == [i as u8; 100]));
}

#[test]
fn kernel_drops_are_counted_so_that_recorded_plus_dropped_is_sent() {
    const SENT: u64 = 3_000;
    let dir = TempDir::new("capture-drops");
    let path = dir.join("j");
    let mut w = Writer::create(&path).unwrap();
    let mut opts = CaptureOptions::new();
    opts.recv_buffer(4096); // the kernel's minimum, about: most of the burst must be dropped
    let mut cap = UdpCapture::bind(loopback_v4(), &opts).unwrap();
    let backlog_before = backlog_drops();
    let tx = UdpSocket::bind(loopback_v4()).unwrap();
    let mut d = [0x5Au8; 200];
    for i in 0..SENT {
        d[..4].copy_from_slice(&(i as u32).to_le_bytes());
        tx.send_to(&d, cap.local_addr()).unwrap();
    }
    // Until every datagram is recorded or counted as dropped by the socket; or, once the queue
    // has stayed empty for a read timeout, short by no more than the host's backlog drops.
    wait_for("every datagram recorded or counted", || {
        let n = cap.recv_batch(&mut w).unwrap();
        let s = cap.stats();
        let accounted = s.datagrams + s.kernel_drops;
        accounted == SENT || (n == 0 && accounted + backlog_drops() - backlog_before >= SENT)
    });
    let backlog = backlog_drops() - backlog_before;
    let stats = cap.stats();
    w.close().unwrap();

    assert!(stats.kernel_drops > 0, "{stats:?}");
    assert!(stats.datagrams > 0, "{stats:?}");
    // Every datagram is either recorded or counted as dropped by the socket. (Drops before the
    // socket, in a CPU's backlog, are counted by no socket; if any happened meanwhile, anywhere on
    // the host, the sum may fall short by at most that many.)
    let accounted = stats.datagrams + stats.kernel_drops;
    assert!(
        accounted == SENT || (accounted < SENT && accounted + backlog >= SENT),
        "recorded {} + dropped {} != sent {SENT} (backlog drops {backlog})",
        stats.datagrams,
        stats.kernel_drops
    );
    // What was recorded is in the order it was sent.
    let indices: Vec<u32> = read_all(&path)
        .iter()
        .map(|(_, p)| u32::from_le_bytes(p[..4].try_into().unwrap()))
        .collect();
    assert_eq!(indices.len() as u64, stats.datagrams);
    assert!(indices.windows(2).all(|w| w[0] < w[1]), "{indices:?}");
}

#[test]
fn the_receive_path_does_not_allocate() {
    const N: u64 = 5_000;
    let dir = TempDir::new("capture-alloc");
    let path = dir.join("j");
    // 4 KiB chunks: the measured loop also grows the journal many times.
    let mut w = small_opts().create(&path).unwrap();
    let mut cap = UdpCapture::bind(loopback_v4(), &CaptureOptions::new()).unwrap();
    let recorded = Arc::new(AtomicU64::new(0));
    let sender = paced_sender(loopback_v4(), cap.local_addr(), N, recorded.clone(), |i| {
        datagram(i + 2_000)
    });
    // Only this thread's allocations are counted: the sender's are not.
    let ((), allocs, largest) = count_allocs(|| record(&mut cap, &mut w, N, &recorded));
    sender.join().unwrap();
    assert_eq!(
        allocs, 0,
        "the receive loop allocated {allocs} times (largest {largest})"
    );
    assert_eq!(w.events(), N);
}

#[test]
fn recv_with_hands_whole_datagrams_to_a_handler_and_counts_truncated_ones() {
    let mut opts = CaptureOptions::new();
    opts.max_datagram(16).batch(4);
    let mut cap = UdpCapture::bind(loopback_v4(), &opts).unwrap();
    let tx = UdpSocket::bind(loopback_v4()).unwrap();
    let from = tx.local_addr().unwrap();
    let t0 = now_ns();
    for d in [&b"short"[..], &[1u8; 100], b"", &[2u8; 16], &[3u8; 17]] {
        tx.send_to(d, cap.local_addr()).unwrap();
    }
    let mut got: Vec<(i64, Vec<u8>)> = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while cap.stats().datagrams + cap.stats().truncated < 5 {
        assert!(Instant::now() < deadline, "{:?}", cap.stats());
        cap.recv_with(|d| {
            assert_eq!(d.source, Some(from), "the sender's address");
            got.push((d.timestamp, d.payload.to_vec()))
        })
        .unwrap();
    }
    let payloads: Vec<&[u8]> = got.iter().map(|(_, p)| &p[..]).collect();
    assert_eq!(payloads, [&b"short"[..], b"", &[2u8; 16]]);
    assert!(got.iter().all(|(ts, _)| (t0..=now_ns()).contains(ts)));
    let s = cap.stats();
    assert_eq!((s.datagrams, s.bytes, s.truncated), (3, 21, 2));
    assert_eq!(
        cap.try_recv_with(|_| panic!("nothing is queued")).unwrap(),
        0
    );
}

#[test]
fn a_timeout_returns_zero_and_try_recv_never_waits() {
    let dir = TempDir::new("capture-timeout");
    let mut w = Writer::create(dir.join("j")).unwrap();
    let mut opts = CaptureOptions::new();
    opts.read_timeout(Some(Duration::from_millis(30)));
    let mut cap = UdpCapture::bind(loopback_v4(), &opts).unwrap();
    let t = Instant::now();
    assert_eq!(cap.recv_batch(&mut w).unwrap(), 0);
    // The kernel rounds the timeout up to its tick, never down.
    assert!(
        t.elapsed() >= Duration::from_millis(30),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(cap.stats().receive_calls, 0);
    // With a read timeout far longer than any scheduling delay, a try that waited would show.
    let mut opts = CaptureOptions::new();
    opts.read_timeout(Some(PATIENCE));
    let mut cap = UdpCapture::bind(loopback_v4(), &opts).unwrap();
    let t = Instant::now();
    assert_eq!(cap.try_recv_batch(&mut w).unwrap(), 0);
    assert_eq!(
        cap.try_recv_with(|_| panic!("nothing is queued")).unwrap(),
        0
    );
    assert!(t.elapsed() < PATIENCE / 2, "{:?}", t.elapsed());
    assert_eq!(cap.stats().receive_calls, 0);
}

#[test]
fn bind_errors_name_the_address_and_the_call() {
    let first = UdpCapture::bind(loopback_v4(), &CaptureOptions::new()).unwrap();
    let taken = first.local_addr();
    let e = UdpCapture::bind(taken, &CaptureOptions::new()).unwrap_err();
    assert!(
        matches!(&e, Error::Socket { addr, op: "bind", .. } if *addr == taken),
        "{e:?}"
    );
    assert!(
        e.to_string() == format!("{taken}: bind failed") && std::error::Error::source(&e).is_some(),
        "{e}"
    );
    assert!(std::error::Error::source(&e).is_some());

    let mut opts = CaptureOptions::new();
    opts.multicast(
        "239.255.0.1".parse().unwrap(),
        Interface::Name("no-such-if0".into()),
    );
    let e = UdpCapture::bind((Ipv4Addr::UNSPECIFIED, 0).into(), &opts).unwrap_err();
    assert!(e.to_string().contains("no network interface named"), "{e}");
}

/// Binds a capture for a multicast test, or says why the host cannot run it.
fn multicast_capture(group: IpAddr, port: u16, iface: Interface) -> Result<UdpCapture, String> {
    let mut opts = CaptureOptions::new();
    opts.multicast(group, iface);
    UdpCapture::bind((group, port).into(), &opts).map_err(|e| e.to_string())
}

/// Sends one probe to `to` from `from` and waits a few seconds for it: whether this host delivers
/// multicast on loopback at all.
fn probe(cap: &mut UdpCapture, from: SocketAddr, to: SocketAddr) -> Result<(), String> {
    let tx = UdpSocket::bind(from).map_err(|e| format!("bind {from}: {e}"))?;
    tx.send_to(b"probe", to)
        .map_err(|e| format!("send to {to}: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if cap.recv_with(|_| {}).map_err(|e| e.to_string())? > 0 {
            return Ok(());
        }
    }
    Err(format!(
        "a datagram sent to {to} did not come back on loopback"
    ))
}

#[test]
fn ipv4_multicast_on_loopback_reaches_every_joined_capture() {
    const N: u64 = 5_000;
    let group: IpAddr = "239.255.77.1".parse().unwrap();
    // IPv4 multicast on lo works on every Linux host CI runs on: there a failure is a failure.
    let skip = |why: String| skip("IPv4 multicast on loopback", why, InCi::Required);
    // Two captures share the group and port (SO_REUSEADDR), joined by address and by name.
    let mut a = match multicast_capture(group, 0, Interface::Addr(Ipv4Addr::LOCALHOST)) {
        Ok(c) => c,
        Err(why) => return skip(why),
    };
    let to = a.local_addr();
    let mut b = match multicast_capture(group, to.port(), Interface::Name("lo".into())) {
        Ok(c) => c,
        Err(why) => return skip(why),
    };
    assert_eq!((a.group(), b.group()), (Some(group), Some(group)));
    // A sender bound to 127.0.0.1 sends its multicast out of lo (the route of its source address).
    if let Err(why) = probe(&mut a, loopback_v4(), to) {
        return skip(why);
    }
    let deadline = Instant::now() + PATIENCE;
    while b.stats().datagrams == 0 {
        assert!(Instant::now() < deadline, "the second capture got no probe");
        b.recv_with(|_| {}).unwrap();
    }

    let dir = TempDir::new("capture-mcast");
    let (mut wa, mut wb) = (
        Writer::create(dir.join("a")).unwrap(),
        Writer::create(dir.join("b")).unwrap(),
    );
    // Pace on the slower of the two.
    let recorded = Arc::new(AtomicU64::new(0));
    let sender = paced_sender(loopback_v4(), to, N, recorded.clone(), datagram);
    let deadline = Instant::now() + PATIENCE;
    while a.stats().datagrams < N + 1 || b.stats().datagrams < N + 1 {
        assert!(Instant::now() < deadline, "{:?} {:?}", a.stats(), b.stats());
        if a.stats().datagrams < N + 1 {
            a.try_recv_batch(&mut wa).unwrap();
        }
        if b.stats().datagrams < N + 1 {
            b.try_recv_batch(&mut wb).unwrap();
        }
        let slower = a.stats().datagrams.min(b.stats().datagrams);
        recorded.store(slower - 1, Ordering::Release);
    }
    sender.join().unwrap();
    wa.close().unwrap();
    wb.close().unwrap();
    for (cap, name) in [(&a, "a"), (&b, "b")] {
        assert_eq!(cap.stats().kernel_drops, 0);
        let events = read_all(&dir.join(name));
        assert_eq!(events.len() as u64, N);
        for (i, (_, p)) in events.iter().enumerate() {
            assert!(*p == datagram(i as u64), "{name}: event {i} differs");
        }
        assert!(events.windows(2).all(|e| e[0].0 <= e[1].0));
    }
}

#[test]
fn ipv6_loopback_unicast_and_multicast() {
    let any6: SocketAddr = "[::1]:0".parse().unwrap();
    let mut cap = match UdpCapture::bind(any6, &CaptureOptions::new()) {
        Ok(c) => c,
        Err(e) => return skip("IPv6 on loopback (::1)", e, InCi::Required),
    };
    let dir = TempDir::new("capture-v6");
    let path = dir.join("j");
    let mut w = Writer::create(&path).unwrap();
    let recorded = Arc::new(AtomicU64::new(0));
    let sender = paced_sender(any6, cap.local_addr(), 2_000, recorded.clone(), |i| {
        datagram(i + 5_000)
    });
    record(&mut cap, &mut w, 2_000, &recorded);
    sender.join().unwrap();
    w.close().unwrap();
    let events = read_all(&path);
    assert!(events
        .iter()
        .enumerate()
        .all(|(i, (_, p))| *p == datagram(i as u64 + 5_000)));

    // Multicast over IPv6 needs lo to carry multicast (`ip link set lo multicast on`), which many
    // hosts, CI's among them, do not: a property of the host, so it may skip under CI too. A link-local group, so the scope id picks lo for the sender.
    let group: IpAddr = "ff12::7:1".parse().unwrap();
    let e = UdpCapture::bind(
        "[::1]:0".parse().unwrap(),
        CaptureOptions::new().multicast(group, Interface::Name("lo".into())),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("bind to ff12::7:1 or to the wildcard"),
        "{e}"
    );
    let mut mc = match multicast_capture(group, 0, Interface::Name("lo".into())) {
        Ok(c) => c,
        Err(why) => return skip("IPv6 multicast on loopback", why, InCi::MaySkip),
    };
    let mut to = match mc.local_addr() {
        SocketAddr::V6(a) => a,
        SocketAddr::V4(_) => unreachable!(),
    };
    to.set_scope_id(1); // lo
    let from: SocketAddr = "[::]:0".parse().unwrap();
    if let Err(why) = probe(&mut mc, from, to.into()) {
        return skip("IPv6 multicast on loopback", why, InCi::MaySkip);
    }
    assert_eq!(mc.stats().datagrams, 1);
}

/// A capture moves to another thread (it is `Send`) and is stopped there by a flag.
#[test]
fn a_capture_runs_on_its_own_thread() {
    let cap = UdpCapture::bind(loopback_v4(), &CaptureOptions::new()).unwrap();
    let to = cap.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = thread::spawn(move || {
        let mut cap = cap;
        let mut n = 0;
        let deadline = Instant::now() + PATIENCE;
        // Until told to stop, and at least until the one datagram is in, however late this
        // thread starts.
        while !(flag.load(Ordering::Relaxed) && n > 0) {
            assert!(Instant::now() < deadline, "nothing received");
            n += cap.recv_with(|_| {}).unwrap();
        }
        n
    });
    let tx = UdpSocket::bind(loopback_v4()).unwrap();
    tx.send_to(b"x", to).unwrap();
    stop.store(true, Ordering::Relaxed);
    assert_eq!(handle.join().unwrap(), 1);
}
