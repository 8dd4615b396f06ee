//! UDP capture: every datagram becomes one event, byte for byte, stamped with the time the kernel
//! received it. The API is [`UdpCapture`] (described there), [`CaptureOptions`] and
//! [`CaptureStats`]; the system calls are in `sys/net.rs`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::sys::net::{self, RecvBatch};
use crate::writer::{now_ns, Writer};

/// The largest `batch`: the kernel's limit on one `recvmmsg` call (`UIO_MAXIOV`).
const MAX_BATCH: usize = 1024;
/// The largest `max_datagram`: no UDP payload is longer (65,507 bytes over IPv4, 65,527 over
/// IPv6 without jumbograms).
const MAX_DATAGRAM: usize = 65_536;

/// The interface on which a multicast group is joined.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interface {
    /// The kernel chooses (by the route to the group). The default.
    #[default]
    Any,
    /// The interface that has this IPv4 address (IPv4 groups only).
    Addr(Ipv4Addr),
    /// The interface with this index.
    Index(u32),
    /// The interface with this name, such as `eth0` or `lo`.
    Name(String),
}

/// Options for [`UdpCapture::bind`], as a builder.
///
/// By default: a 64 MiB receive buffer, batches of 64 datagrams, slots of 65,536 bytes (no datagram
/// is ever cut), no multicast group unless the bound address is one, a 100 ms read timeout, and
/// gaps counted from 1 s.
#[derive(Clone, Debug)]
pub struct CaptureOptions {
    recv_buffer: usize,
    batch: usize,
    max_datagram: usize,
    group: Option<IpAddr>,
    interface: Interface,
    read_timeout: Option<Duration>,
    gap_threshold: Duration,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            recv_buffer: 64 << 20,
            batch: 64,
            max_datagram: MAX_DATAGRAM,
            group: None,
            interface: Interface::Any,
            read_timeout: Some(Duration::from_millis(100)),
            gap_threshold: Duration::from_secs(1),
        }
    }
}

impl CaptureOptions {
    /// The default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// The socket receive buffer to ask for, in bytes: what absorbs a burst while the capture
    /// thread is busy (growing the journal, say). The kernel may grant less; see
    /// [`UdpCapture::recv_buffer_size`]. By default 64 MiB.
    pub fn recv_buffer(&mut self, bytes: usize) -> &mut Self {
        self.recv_buffer = bytes;
        self
    }

    /// The most datagrams one `recvmmsg` call receives, 1 to 1024. By default 64.
    pub fn batch(&mut self, datagrams: usize) -> &mut Self {
        self.batch = datagrams;
        self
    }

    /// The size of each receive slot, 1 to 65,536 bytes; a longer datagram is counted as
    /// truncated and not recorded. By default 65,536 (nothing is ever cut).
    pub fn max_datagram(&mut self, bytes: usize) -> &mut Self {
        self.max_datagram = bytes;
        self
    }

    /// Joins the multicast `group` on `interface`. The socket must be bound to the group's
    /// address or to the wildcard address of the same family. By default no group is joined,
    /// unless the address given to [`UdpCapture::bind`] is a multicast address, which is then
    /// joined on [`Interface::Any`].
    pub fn multicast(&mut self, group: IpAddr, interface: Interface) -> &mut Self {
        self.group = Some(group);
        self.interface = interface;
        self
    }

    /// How long [`UdpCapture::recv_batch`] waits for the first datagram of a batch before it
    /// returns 0; `None` waits for ever. By default 100 ms.
    pub fn read_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.read_timeout = timeout;
        self
    }

    /// The silence between two consecutive datagrams that [`CaptureStats::gaps`] counts. By
    /// default 1 s.
    pub fn gap_threshold(&mut self, threshold: Duration) -> &mut Self {
        self.gap_threshold = threshold;
        self
    }

    fn validate(&self, addr: SocketAddr) -> Result<Option<IpAddr>> {
        let bad = |msg: String| Err(Error::InvalidArgument(msg));
        if !(1..=MAX_BATCH).contains(&self.batch) {
            return bad(format!("batch {} is not in 1..={MAX_BATCH}", self.batch));
        }
        if !(1..=MAX_DATAGRAM).contains(&self.max_datagram) {
            return bad(format!(
                "max_datagram {} is not in 1..={MAX_DATAGRAM}",
                self.max_datagram
            ));
        }
        if self.read_timeout == Some(Duration::ZERO) {
            return bad("a read timeout of zero; use try_recv_batch to poll".into());
        }
        let group = self
            .group
            .or_else(|| addr.ip().is_multicast().then_some(addr.ip()));
        let Some(g) = group else {
            if self.interface != Interface::Any {
                return bad("an interface was given but no multicast group".into());
            }
            return Ok(None);
        };
        if !g.is_multicast() {
            return bad(format!("{g} is not a multicast group address"));
        }
        if g.is_ipv4() != addr.is_ipv4() {
            return bad(format!(
                "group {g} and the bound address {addr} are of different IP families"
            ));
        }
        if addr.ip() != g && !addr.ip().is_unspecified() {
            return bad(format!(
                "to receive group {g}, bind to {g} or to the wildcard address, not {}",
                addr.ip()
            ));
        }
        if g.is_ipv6() && matches!(self.interface, Interface::Addr(_)) {
            return bad(format!(
                "the interface for IPv6 group {g} is given by name or index, not by address"
            ));
        }
        Ok(Some(g))
    }
}

/// A gap in time between two consecutive datagrams, as their receive timestamps (ns since the
/// epoch) say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The receive time of the datagram before the gap.
    pub from: i64,
    /// The receive time of the datagram after it.
    pub to: i64,
}

impl Gap {
    /// The gap's length in nanoseconds.
    pub fn nanos(&self) -> u64 {
        self.to.abs_diff(self.from)
    }
}

/// What a [`UdpCapture`] has received so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaptureStats {
    /// Datagrams delivered (appended to the journal, or handed to the closure).
    pub datagrams: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// Datagrams the kernel discarded for this socket, almost always because its receive buffer
    /// was full (`SO_RXQ_OVFL`, and `SO_MEMINFO` when [`UdpCapture::stats`] is called).
    pub kernel_drops: u64,
    /// Datagrams longer than [`CaptureOptions::max_datagram`]: received cut, so not delivered.
    pub truncated: u64,
    /// Datagrams that came without a kernel timestamp and were stamped with the time they were
    /// read instead (the kernel attaches one to every datagram, so this should stay 0).
    pub untimestamped: u64,
    /// `recvmmsg` calls that returned at least one datagram.
    pub receive_calls: u64,
    /// The receive time of the first datagram delivered.
    pub first_timestamp: Option<i64>,
    /// The receive time of the last datagram delivered.
    pub last_timestamp: Option<i64>,
    /// The longest silence between two consecutive datagrams.
    pub largest_gap: Option<Gap>,
    /// How many silences lasted at least [`CaptureOptions::gap_threshold`].
    pub gaps: u64,
    /// Datagrams whose receive time is earlier than the one before (the system clock was set
    /// back); their events keep the kernel's time.
    pub backwards: u64,
}

impl CaptureStats {
    fn note(&mut self, ts: i64, len: usize, gap_threshold: u64) {
        if let Some(prev) = self.last_timestamp {
            if ts < prev {
                self.backwards += 1;
            } else {
                let gap = Gap { from: prev, to: ts };
                if gap.nanos() >= gap_threshold {
                    self.gaps += 1;
                }
                if self.largest_gap.is_none_or(|g| gap.nanos() > g.nanos()) {
                    self.largest_gap = Some(gap);
                }
            }
        } else {
            self.first_timestamp = Some(ts);
        }
        self.last_timestamp = Some(ts);
        self.datagrams += 1;
        self.bytes += len as u64;
    }
}

fn interface_index(name: &str) -> Result<u32> {
    net::interface_index(name)
        .map_err(|e| Error::InvalidArgument(format!("no network interface named {name:?}: {e}")))
}

/// Moves a 64-bit running count forward to the 32-bit counter value `observed`, across wraps.
fn advance(total: &mut u64, observed: u32) {
    let delta = observed.wrapping_sub(*total as u32);
    if delta < 1 << 31 {
        *total += u64::from(delta);
    }
}

/// One received datagram, borrowed from the capture's buffers until the next receive.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Datagram<'a> {
    /// The kernel receive time, ns since the epoch (`CLOCK_REALTIME`).
    pub timestamp: i64,
    /// The datagram's payload, whole.
    pub payload: &'a [u8],
    /// The sender's address and port, as the kernel reported it with the datagram (it always
    /// does for UDP; `None` would mean it did not).
    pub source: Option<SocketAddr>,
}

/// A UDP socket that records every datagram it receives: one event per datagram, byte for byte,
/// stamped with the kernel's receive time.
///
/// Exchanges publish market data as UDP (usually multicast). [`UdpCapture`] is the receiving end of
/// a recorder, usable inside a feed handler's own process:
///
/// - [`UdpCapture::bind`] creates the socket with what capture needs: a large receive buffer
///   ([`CaptureOptions::recv_buffer`], through `SO_RCVBUFFORCE` when the process may, else
///   `SO_RCVBUF` up to `net.core.rmem_max`), kernel receive timestamps (`SO_TIMESTAMPNS`), the
///   socket's drop counter on every datagram (`SO_RXQ_OVFL`), and the multicast group joined
///   ([`CaptureOptions::multicast`], or implied by binding to a group address).
/// - [`UdpCapture::recv_batch`] receives a burst with **one** `recvmmsg(2)` call (up to
///   [`CaptureOptions::batch`] datagrams, 64 by default) and appends each datagram to a [`Writer`]
///   as one event whose timestamp is the kernel receive time (`CLOCK_REALTIME`, ns since the
///   epoch, FORMAT.md 2). [`UdpCapture::recv_with`] hands the same datagrams to a closure instead,
///   for a handler that decodes them in place.
/// - [`UdpCapture::stats`] counts datagrams, bytes, the kernel's drops for this socket, receive
///   calls, and gaps in time between consecutive datagrams.
///
/// The receive path allocates nothing: the buffers (one slot of [`CaptureOptions::max_datagram`]
/// bytes per datagram of the batch, with room for its control messages) are allocated once, in
/// `bind`. Datagrams are received into those slots and then copied into the journal by
/// [`Writer::append`], whose CRC pass reads every byte anyway; they are not received straight into
/// [`Writer::claim`]s because an entry's place in the journal depends on the lengths of the
/// datagrams before it, which `recvmmsg` reports only once it has returned.
///
/// A datagram longer than `max_datagram` (65,536 bytes by default, so none over IPv4 or IPv6) would
/// be cut by the kernel; it is not recorded but counted in [`CaptureStats::truncated`], so that
/// every recorded event is a whole datagram.
///
/// ```
/// use std::net::UdpSocket;
/// use journal::{CaptureOptions, Reader, UdpCapture, Writer};
///
/// # fn main() -> journal::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("journal-capture-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("feed.journal");
/// # let _ = std::fs::remove_file(&path);
/// let mut w = Writer::create(&path)?;
/// let mut cap = UdpCapture::bind("127.0.0.1:0".parse().unwrap(), &CaptureOptions::new())?;
///
/// // Somewhere, an exchange.
/// let exchange = UdpSocket::bind("127.0.0.1:0").unwrap();
/// exchange.send_to(b"BTC-USD 42000.5 x 1.2", cap.local_addr()).unwrap();
///
/// // Waits up to the read timeout (100 ms by default) for the first datagram of a burst.
/// while cap.stats().datagrams < 1 {
///     cap.recv_batch(&mut w)?;
/// }
/// w.close()?;
///
/// let r = Reader::open(&path)?;
/// let event = r.iter().next().unwrap()?;
/// assert_eq!(event.payload, b"BTC-USD 42000.5 x 1.2");
/// assert!(event.timestamp > 1_700_000_000_000_000_000); // when the kernel received it
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok(())
/// # }
/// ```
///
/// It implements [`AsFd`], so it can wait in the caller's own `epoll` set; then call
/// [`UdpCapture::try_recv_batch`] when it is readable.
pub struct UdpCapture {
    socket: UdpSocket,
    local: SocketAddr,
    batch: RecvBatch,
    stats: CaptureStats,
    gap_threshold: u64,
    recv_buffer: usize,
    group: Option<IpAddr>,
}

impl std::fmt::Debug for UdpCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpCapture")
            .field("local", &self.local)
            .field("group", &self.group)
            .field("recv_buffer", &self.recv_buffer)
            .field("stats", &self.stats)
            .finish()
    }
}

impl UdpCapture {
    /// Binds a capture socket to `addr` (use port 0 for any free port) with `opts`, joins the
    /// multicast group if there is one, and allocates the receive buffers.
    pub fn bind(addr: SocketAddr, opts: &CaptureOptions) -> Result<UdpCapture> {
        let group = opts.validate(addr)?;
        let v6_index = match (group, &opts.interface) {
            (Some(IpAddr::V6(_)), Interface::Index(n)) => *n,
            (Some(IpAddr::V6(_)), Interface::Name(name)) => interface_index(name)?,
            _ => 0,
        };
        let mut addr = addr;
        if let SocketAddr::V6(a) = &mut addr {
            // A link-local group's address means nothing without its interface.
            if a.ip().is_multicast() && a.scope_id() == 0 {
                a.set_scope_id(v6_index);
            }
        }
        let err = |op, source| Error::Socket { addr, op, source };
        // SO_REUSEADDR lets several recorders and handlers share a multicast group and port; a
        // unicast port is not shared (the datagrams would go to one socket only).
        let socket = net::udp_socket(addr, group.is_some()).map_err(|e| err("bind", e))?;
        let local = socket.local_addr().map_err(|e| err("getsockname", e))?;
        net::enable_receive_info(&socket).map_err(|e| err("enable timestamps", e))?;
        let recv_buffer =
            net::set_recv_buffer(&socket, opts.recv_buffer).map_err(|e| err("set SO_RCVBUF", e))?;
        socket
            .set_read_timeout(opts.read_timeout)
            .map_err(|e| err("set SO_RCVTIMEO", e))?;
        if let Some(g) = group {
            if addr.ip().is_unspecified() {
                net::receive_own_groups_only(&socket, g.is_ipv6())
                    .map_err(|e| err("set IP_MULTICAST_ALL", e))?;
            }
            let joined = match g {
                IpAddr::V4(g) => match &opts.interface {
                    Interface::Any => socket.join_multicast_v4(&g, &Ipv4Addr::UNSPECIFIED),
                    Interface::Addr(a) => socket.join_multicast_v4(&g, a),
                    Interface::Index(n) => net::join_v4_on_index(&socket, g, *n),
                    Interface::Name(name) => {
                        net::join_v4_on_index(&socket, g, interface_index(name)?)
                    }
                },
                IpAddr::V6(g) => socket.join_multicast_v6(&g, v6_index),
            };
            joined.map_err(|e| err("join multicast group", e))?;
        }
        Ok(UdpCapture {
            socket,
            local,
            batch: RecvBatch::new(opts.batch, opts.max_datagram),
            stats: CaptureStats::default(),
            gap_threshold: opts.gap_threshold.as_nanos().min(u64::MAX as u128) as u64,
            recv_buffer,
            group,
        })
    }

    /// The address the socket is bound to (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The multicast group joined, if any.
    pub fn group(&self) -> Option<IpAddr> {
        self.group
    }

    /// The receive buffer the kernel granted, in bytes, as `SO_RCVBUF` reports it (the kernel
    /// doubles the request to cover its bookkeeping, so this is about twice the usable space).
    pub fn recv_buffer_size(&self) -> usize {
        self.recv_buffer
    }

    /// The receive time of the last datagram delivered, without the system call of
    /// [`UdpCapture::stats`].
    pub fn last_timestamp(&self) -> Option<i64> {
        self.stats.last_timestamp
    }

    /// The statistics so far, with the kernel's drop count read fresh (one `getsockopt`), so
    /// that drops after the last datagram received are included.
    pub fn stats(&self) -> CaptureStats {
        let mut s = self.stats;
        if let Some(drops) = net::socket_drops(&self.socket) {
            advance(&mut s.kernel_drops, drops);
        }
        s
    }

    /// Receives a burst with one `recvmmsg` call, waiting up to the read timeout for its first
    /// datagram, and appends each datagram to `writer` as one event stamped with its kernel
    /// receive time. Returns how many were appended: 0 after a timeout or a signal.
    ///
    /// When the socket's queue is drained (a short batch), it calls [`Writer::pretouch`] so that
    /// the next burst does not wait for the file to grow; after a timeout, [`Writer::sync_if_due`].
    /// If an append fails, the error is returned and the rest of that batch is not recorded.
    pub fn recv_batch(&mut self, writer: &mut Writer) -> Result<usize> {
        let n = self.receive(true)?;
        self.record(n, writer)
    }

    /// As [`UdpCapture::recv_batch`], but never waits: 0 when nothing is queued.
    pub fn try_recv_batch(&mut self, writer: &mut Writer) -> Result<usize> {
        let n = self.receive(false)?;
        self.record(n, writer)
    }

    /// Receives a burst as [`UdpCapture::recv_batch`] does, and hands each datagram to `f` instead
    /// of a journal. Returns how many were handed over.
    pub fn recv_with(&mut self, mut f: impl FnMut(Datagram<'_>)) -> Result<usize> {
        let n = self.receive(true)?;
        self.deliver(n, |d| {
            f(d);
            Ok(())
        })
    }

    /// As [`UdpCapture::recv_with`], but never waits.
    pub fn try_recv_with(&mut self, mut f: impl FnMut(Datagram<'_>)) -> Result<usize> {
        let n = self.receive(false)?;
        self.deliver(n, |d| {
            f(d);
            Ok(())
        })
    }

    fn receive(&mut self, block: bool) -> Result<usize> {
        match self.batch.recv(&self.socket, block) {
            Ok(n) => {
                self.stats.receive_calls += u64::from(n > 0);
                Ok(n)
            }
            Err(source) => Err(Error::Socket {
                addr: self.local,
                op: "recvmmsg",
                source,
            }),
        }
    }

    fn record(&mut self, n: usize, writer: &mut Writer) -> Result<usize> {
        let appended = self.deliver(n, |d| writer.append(d.timestamp, d.payload).map(drop))?;
        if n == 0 {
            writer.sync_if_due()?;
        }
        if n < self.batch.capacity() {
            writer.pretouch()?;
        }
        Ok(appended)
    }

    /// Hands datagrams `0..n` of the last receive to `f`, updating the statistics; stops at the
    /// first error `f` returns.
    fn deliver(
        &mut self,
        n: usize,
        mut f: impl FnMut(Datagram<'_>) -> Result<()>,
    ) -> Result<usize> {
        let mut delivered = 0;
        for i in 0..n {
            let r = self.batch.get(i);
            if let Some(d) = r.drops {
                advance(&mut self.stats.kernel_drops, d);
            }
            if r.truncated {
                self.stats.truncated += 1;
                continue;
            }
            let timestamp = r.timestamp.unwrap_or_else(|| {
                self.stats.untimestamped += 1;
                now_ns()
            });
            f(Datagram {
                timestamp,
                payload: r.payload,
                source: r.source,
            })?;
            self.stats
                .note(timestamp, r.payload.len(), self.gap_threshold);
            delivered += 1;
        }
        Ok(delivered)
    }
}

impl AsFd for UdpCapture {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_counter_advances_across_wraps() {
        let mut total = 0u64;
        advance(&mut total, 5);
        assert_eq!(total, 5);
        advance(&mut total, 5);
        advance(&mut total, 3); // an older, smaller observation: ignored
        assert_eq!(total, 5);
        total = u64::from(u32::MAX) - 1;
        advance(&mut total, 2);
        assert_eq!(total, u64::from(u32::MAX) + 3);
    }

    #[test]
    fn stats_count_gaps_and_backward_steps() {
        let mut s = CaptureStats::default();
        for (ts, len) in [(100, 1), (150, 2), (2_000, 3), (1_900, 4), (5_000, 0)] {
            s.note(ts, len, 1_000);
        }
        assert_eq!((s.datagrams, s.bytes), (5, 10));
        assert_eq!(
            (s.first_timestamp, s.last_timestamp),
            (Some(100), Some(5_000))
        );
        assert_eq!(s.backwards, 1);
        assert_eq!(s.gaps, 2); // 150 -> 2000 and 1900 -> 5000
        assert_eq!(
            s.largest_gap,
            Some(Gap {
                from: 1_900,
                to: 5_000
            })
        );
    }

    #[test]
    fn options_are_validated() {
        let any: SocketAddr = "0.0.0.0:5000".parse().unwrap();
        let group: IpAddr = "239.1.2.3".parse().unwrap();
        let ok = |o: &CaptureOptions, a: SocketAddr| o.validate(a);
        assert_eq!(ok(&CaptureOptions::new(), any).unwrap(), None);
        assert_eq!(
            ok(&CaptureOptions::new(), "239.1.2.3:5000".parse().unwrap()).unwrap(),
            Some(group)
        );
        let mut o = CaptureOptions::new();
        o.multicast(group, Interface::Addr(Ipv4Addr::LOCALHOST));
        assert_eq!(ok(&o, any).unwrap(), Some(group));
        for (o, a, why) in [
            (CaptureOptions::new().batch(0).clone(), any, "batch"),
            (CaptureOptions::new().batch(2000).clone(), any, "batch"),
            (
                CaptureOptions::new().max_datagram(70_000).clone(),
                any,
                "max_datagram",
            ),
            (
                CaptureOptions::new()
                    .read_timeout(Some(Duration::ZERO))
                    .clone(),
                any,
                "zero",
            ),
            (
                CaptureOptions::new()
                    .multicast("10.0.0.1".parse().unwrap(), Interface::Any)
                    .clone(),
                any,
                "not a multicast",
            ),
            (o.clone(), "127.0.0.1:5000".parse().unwrap(), "bind to"),
            (o.clone(), "[::]:5000".parse().unwrap(), "families"),
            (
                CaptureOptions::new()
                    .multicast(
                        "ff15::1".parse().unwrap(),
                        Interface::Addr(Ipv4Addr::LOCALHOST),
                    )
                    .clone(),
                "[::]:5000".parse().unwrap(),
                "name or index",
            ),
        ] {
            let e = ok(&o, a).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }
}
