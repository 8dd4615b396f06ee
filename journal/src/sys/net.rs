//! Socket system calls for capture (recvmmsg, SO_TIMESTAMPNS, SO_RXQ_OVFL): the `unsafe` of the
//! capture module lives here.
//!
//! Socket creation, the bind and the options `socket2` covers (`SO_REUSEADDR`, `SO_RCVBUF`,
//! multicast joins, `IP_MULTICAST_ALL`) go through `socket2`. What it does not cover is here as
//! thin, safe wrappers: `SO_RCVBUFFORCE`, the receive-information options, `SO_MEMINFO`, and
//! [`RecvBatch`], a preallocated set of buffers that one `recvmmsg(2)` call fills with up to
//! `batch` datagrams, their control messages and their source addresses.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, SockRef, Socket, Type};

/// Sets an option whose value is the plain C value `value`.
fn setsockopt<T: Copy>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points at a live `T` of exactly the length passed; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    super::cvt(rc)
}

/// A UDP socket bound to `addr`, close-on-exec (`socket2` sets it on creation). With `reuse`,
/// `SO_REUSEADDR` is set before the bind, so that several processes can receive the same multicast
/// group and port.
pub(crate) fn udp_socket(addr: SocketAddr, reuse: bool) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if reuse {
        socket.set_reuse_address(true)?;
    }
    socket.bind(&SockAddr::from(addr))?;
    Ok(socket.into())
}

/// Asks for a receive buffer of `bytes`: first with `SO_RCVBUFFORCE` (which may exceed
/// `net.core.rmem_max` but needs `CAP_NET_ADMIN`), then with `SO_RCVBUF` (capped by `rmem_max`).
/// Returns the size the kernel granted, as `SO_RCVBUF` reports it (twice the request: the kernel
/// counts its bookkeeping too).
pub(crate) fn set_recv_buffer(sock: &UdpSocket, bytes: usize) -> io::Result<usize> {
    // The kernel doubles the value, and keeps it in an int.
    let want = bytes.min((libc::c_int::MAX / 2) as usize) as libc::c_int;
    let s = SockRef::from(sock);
    if setsockopt(
        sock.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        &want,
    )
    .is_err()
    {
        s.set_recv_buffer_size(want as usize)?;
    }
    s.recv_buffer_size()
}

/// Turns on the two control messages every received datagram then carries: its kernel receive
/// time (`SCM_TIMESTAMPNS`, `CLOCK_REALTIME`) and, once the socket has dropped anything, the
/// socket's drop counter (`SO_RXQ_OVFL`).
pub(crate) fn enable_receive_info(sock: &UdpSocket) -> io::Result<()> {
    let fd = sock.as_raw_fd();
    setsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_TIMESTAMPNS,
        &1 as &libc::c_int,
    )?;
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, &1 as &libc::c_int)
}

/// Turns off `IP_MULTICAST_ALL` (or `IPV6_MULTICAST_ALL`): by default a socket bound to the
/// wildcard address receives every group any socket of the host joined on its port, not only its
/// own. Kernels without the option (before 4.20 for IPv6) are left as they are.
pub(crate) fn receive_own_groups_only(sock: &UdpSocket, v6: bool) -> io::Result<()> {
    let s = SockRef::from(sock);
    let set = if v6 {
        s.set_multicast_all_v6(false)
    } else {
        s.set_multicast_all_v4(false)
    };
    match set {
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => Ok(()),
        other => other,
    }
}

/// The socket's drop counter (`sk_drops`: datagrams the kernel discarded for this socket, mostly
/// because its receive buffer was full), read with `SO_MEMINFO` (Linux 4.12). `None` if the kernel
/// does not report it.
pub(crate) fn socket_drops(sock: &UdpSocket) -> Option<u32> {
    let mut info = [0u32; 16];
    let mut len = size_of::<[u32; 16]>() as libc::socklen_t;
    // SAFETY: `info` and `len` are live, exclusively borrowed locals; `len` holds the size of
    // `info`, and the kernel writes at most that many bytes.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    let drops = libc::SK_MEMINFO_DROPS as usize;
    (rc == 0 && len as usize >= (drops + 1) * size_of::<u32>()).then(|| info[drops])
}

/// Joins the IPv4 multicast `group` on the interface with index `index` (`IP_ADD_MEMBERSHIP` with
/// an `ip_mreqn`; the standard library joins by interface address only).
pub(crate) fn join_v4_on_index(sock: &UdpSocket, group: Ipv4Addr, index: u32) -> io::Result<()> {
    SockRef::from(sock).join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(index))
}

/// The index of the network interface called `name` (`if_nametoindex(3)`).
pub(crate) fn interface_index(name: &str) -> io::Result<u32> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a live NUL-terminated string; the call only reads it.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(index)
    }
}

/// Room for the control messages of one datagram: `CMSG_SPACE(sizeof(struct timespec))` plus
/// `CMSG_SPACE(sizeof(u32))` is 56 bytes on 64-bit Linux; 128 leaves room for a cmsg the kernel
/// adds that we did not ask for. Stored as `u64`s so it is aligned for `cmsghdr`.
const CONTROL_WORDS: usize = 16;

/// What one received datagram brought.
#[derive(Debug)]
pub(crate) struct Received<'a> {
    /// The payload (at most the slot size).
    pub payload: &'a [u8],
    /// The kernel receive time, ns since the epoch, if the timestamp arrived.
    pub timestamp: Option<i64>,
    /// The socket's drop counter when this datagram was queued, if it was ever non-zero.
    pub drops: Option<u32>,
    /// The datagram was longer than the slot and was cut (`MSG_TRUNC`).
    pub truncated: bool,
    /// Where it came from (`msg_name`), if the kernel said (it always does for UDP).
    pub source: Option<SocketAddr>,
}

/// Preallocated buffers for `recvmmsg(2)`: `batch` slots of `slot` bytes, each with its `iovec`,
/// control-message buffer, source-address buffer and `mmsghdr`.
///
/// INVARIANTS: `data.len() == slot * batch`; `iov`, `control`, `names` and `hdrs` have `batch`
/// elements;
/// `received <= batch`, and for `i < received`, `hdrs[i]` holds what the last successful
/// `recvmmsg` wrote for slot `i` (`msg_len <= slot`, `msg_controllen <= size_of` one control
/// buffer, `msg_namelen` the length of the address the kernel wrote into `names[i]`, which may
/// exceed the buffer only if the address was cut). The raw pointers in `iov` and `hdrs` are rewritten from the owned buffers before every
/// call and are not used at any other time.
pub(crate) struct RecvBatch {
    data: Box<[u8]>,
    slot: usize,
    iov: Box<[libc::iovec]>,
    control: Box<[[u64; CONTROL_WORDS]]>,
    names: Box<[libc::sockaddr_storage]>,
    hdrs: Box<[libc::mmsghdr]>,
    received: usize,
}

// SAFETY: the raw pointers inside `iov` and `hdrs` point only into buffers this struct owns (or
// are stale and never dereferenced: they are rewritten before each use), so moving the whole
// struct to another thread moves everything they refer to with it.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    /// Buffers for `batch` datagrams of up to `slot` bytes each (both at least 1).
    pub(crate) fn new(batch: usize, slot: usize) -> RecvBatch {
        let (batch, slot) = (batch.max(1), slot.max(1));
        // SAFETY: CMSG_SPACE is pure arithmetic on its argument.
        let need = unsafe {
            libc::CMSG_SPACE(size_of::<libc::timespec>() as u32)
                + libc::CMSG_SPACE(size_of::<u32>() as u32)
        };
        assert!(
            need as usize <= CONTROL_WORDS * 8,
            "control buffer too small"
        );
        let iov = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        // SAFETY: mmsghdr is a plain C struct (integers and raw pointers) for which all-zero
        // bytes are a valid value.
        let hdr: libc::mmsghdr = unsafe { MaybeUninit::zeroed().assume_init() };
        // SAFETY: sockaddr_storage is a plain C struct for which all-zero bytes are a valid value.
        let name: libc::sockaddr_storage = unsafe { MaybeUninit::zeroed().assume_init() };
        RecvBatch {
            data: vec![0u8; batch * slot].into_boxed_slice(),
            slot,
            iov: vec![iov; batch].into_boxed_slice(),
            control: vec![[0u64; CONTROL_WORDS]; batch].into_boxed_slice(),
            names: vec![name; batch].into_boxed_slice(),
            hdrs: vec![hdr; batch].into_boxed_slice(),
            received: 0,
        }
    }

    /// How many datagrams one call can receive.
    pub(crate) fn capacity(&self) -> usize {
        self.hdrs.len()
    }

    /// One `recvmmsg` call: with `block`, it waits for the first datagram (up to the socket's
    /// `SO_RCVTIMEO`) and then takes what else is queued without waiting (`MSG_WAITFORONE`);
    /// without, it never waits (`MSG_DONTWAIT`). Returns how many datagrams arrived; a timeout,
    /// an empty queue and a signal are `Ok(0)`.
    pub(crate) fn recv(&mut self, sock: &UdpSocket, block: bool) -> io::Result<usize> {
        self.received = 0;
        // Every pointer is derived from its buffer's base pointer, after the last write through
        // a reference to that buffer, so none is invalidated before the call uses it.
        let (slot, data) = (self.slot, self.data.as_mut_ptr());
        for (i, v) in self.iov.iter_mut().enumerate() {
            *v = libc::iovec {
                iov_base: data.wrapping_add(i * slot).cast(),
                iov_len: slot,
            };
        }
        let (iov, control) = (self.iov.as_mut_ptr(), self.control.as_mut_ptr());
        let names = self.names.as_mut_ptr();
        for (i, m) in self.hdrs.iter_mut().enumerate() {
            let h = &mut m.msg_hdr;
            h.msg_name = names.wrapping_add(i).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = iov.wrapping_add(i);
            h.msg_iovlen = 1;
            h.msg_control = control.wrapping_add(i).cast();
            h.msg_controllen = size_of::<[u64; CONTROL_WORDS]>() as _;
            h.msg_flags = 0;
            m.msg_len = 0;
        }
        let flags = if block {
            libc::MSG_WAITFORONE
        } else {
            libc::MSG_DONTWAIT
        };
        // SAFETY: header i points at iovec i, control buffer i and name buffer i, and iovec i at slot i of
        // `data` (i < batch, so all in bounds: INVARIANTS), all owned by `self` and exclusively
        // borrowed for the call; the lengths given are those of the buffers. The kernel writes at
        // most `hdrs.len()` headers and, through them, only into those buffers.
        let n = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as libc::c_uint,
                flags,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN | libc::EINTR) => Ok(0),
                _ => Err(e),
            };
        }
        self.received = (n as usize).min(self.hdrs.len());
        Ok(self.received)
    }

    /// Datagram `i` of the last call (`i` below what [`Self::recv`] returned).
    #[allow(
        clippy::unnecessary_cast,
        reason = "msg_controllen and cmsg_len are size_t on glibc but socklen_t on musl"
    )]
    pub(crate) fn get(&self, i: usize) -> Received<'_> {
        assert!(i < self.received, "datagram {i} of {}", self.received);
        let h = &self.hdrs[i];
        let len = (h.msg_len as usize).min(self.slot);
        let mut out = Received {
            payload: &self.data[i * self.slot..i * self.slot + len],
            timestamp: None,
            drops: None,
            truncated: h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            source: socket_addr(&self.names[i], h.msg_hdr.msg_namelen as usize),
        };
        let controllen = (h.msg_hdr.msg_controllen as usize).min(size_of::<[u64; CONTROL_WORDS]>());
        // Walk a copy of the header whose control pointer is derived from a shared borrow of the
        // buffer, so nothing below writes through it.
        // SAFETY: msghdr is plain C data for which all-zero bytes are a valid value.
        let mut m: libc::msghdr = unsafe { MaybeUninit::zeroed().assume_init() };
        m.msg_control = self.control[i].as_ptr() as *mut libc::c_void;
        m.msg_controllen = controllen as _;
        // SAFETY: `m` describes `controllen` initialized bytes of control buffer `i`, which the
        // kernel filled with well-formed cmsgs (INVARIANTS); CMSG_FIRSTHDR/NXTHDR only do pointer
        // arithmetic bounded by msg_controllen and return null past the end.
        let mut c = unsafe { libc::CMSG_FIRSTHDR(&m) };
        while !c.is_null() {
            // SAFETY: `c` is non-null, so it points at a whole cmsghdr inside the buffer
            // (CMSG_FIRSTHDR/NXTHDR check that the header fits); the buffer is u64-aligned and
            // cmsghdrs inside it are aligned by construction.
            let (level, kind, len) = unsafe { ((*c).cmsg_level, (*c).cmsg_type, (*c).cmsg_len) };
            // SAFETY: CMSG_DATA and CMSG_LEN are pointer and size arithmetic on a valid cmsghdr.
            let (body, header) = unsafe { (libc::CMSG_DATA(c), libc::CMSG_LEN(0) as usize) };
            let body_len = (len as usize).saturating_sub(header);
            if level == libc::SOL_SOCKET
                && kind == libc::SCM_TIMESTAMPNS
                && body_len >= size_of::<libc::timespec>()
            {
                // SAFETY: the cmsg's length says a whole timespec follows its header, inside the
                // buffer; it may be unaligned, hence read_unaligned.
                let ts = unsafe { std::ptr::read_unaligned(body.cast::<libc::timespec>()) };
                out.timestamp = Some(ts.tv_sec as i64 * 1_000_000_000 + ts.tv_nsec as i64);
            } else if level == libc::SOL_SOCKET
                && kind == libc::SO_RXQ_OVFL
                && body_len >= size_of::<u32>()
            {
                // SAFETY: as above, for the u32 drop counter.
                out.drops = Some(unsafe { std::ptr::read_unaligned(body.cast::<u32>()) });
            }
            // SAFETY: `c` is a cmsghdr inside the buffer `m` describes (see CMSG_FIRSTHDR).
            c = unsafe { libc::CMSG_NXTHDR(&m, c) };
        }
        out
    }
}

/// The address in `name`, of which the kernel wrote `len` bytes; `None` for a family other than
/// IPv4 and IPv6 or a cut address.
fn socket_addr(name: &libc::sockaddr_storage, len: usize) -> Option<SocketAddr> {
    let family = libc::c_int::from(name.ss_family);
    if family == libc::AF_INET && len >= size_of::<libc::sockaddr_in>() {
        // SAFETY: sockaddr_storage is large and aligned enough for every socket address type, the
        // family says the kernel wrote a sockaddr_in, and all its bit patterns are valid.
        let a = unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
        Some(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::from(a.sin_addr.s_addr.to_ne_bytes()),
            u16::from_be(a.sin_port),
        )))
    } else if family == libc::AF_INET6 && len >= size_of::<libc::sockaddr_in6>() {
        // SAFETY: as above, for a sockaddr_in6.
        let a = unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
        Some(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(a.sin6_addr.s6_addr),
            u16::from_be(a.sin6_port),
            a.sin6_flowinfo,
            a.sin6_scope_id,
        )))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "real sockets")]
    fn recv_on_an_empty_socket_is_zero_and_a_sent_datagram_arrives_with_a_timestamp() {
        let rx = udp_socket("127.0.0.1:0".parse().unwrap(), false).unwrap();
        enable_receive_info(&rx).unwrap();
        let mut b = RecvBatch::new(4, 64);
        assert_eq!(b.capacity(), 4);
        assert_eq!(b.recv(&rx, false).unwrap(), 0);
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let from = tx.local_addr().unwrap();
        let before = crate::writer::now_ns();
        tx.send_to(b"hello", rx.local_addr().unwrap()).unwrap();
        tx.send_to(&[7u8; 100], rx.local_addr().unwrap()).unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut got = 0;
        while got < 2 {
            let n = b.recv(&rx, true).unwrap();
            for i in 0..n {
                let r = b.get(i);
                let ts = r.timestamp.expect("SCM_TIMESTAMPNS");
                assert!(ts >= before && ts <= crate::writer::now_ns());
                assert_eq!(r.drops, None);
                assert_eq!(r.source, Some(from));
                if got + i == 0 {
                    assert_eq!((r.payload, r.truncated), (&b"hello"[..], false));
                } else {
                    assert_eq!((r.payload, r.truncated), (&[7u8; 64][..], true));
                }
            }
            got += n;
        }
        assert_eq!(socket_drops(&rx), Some(0));
        assert!(set_recv_buffer(&rx, 1 << 20).unwrap() >= 4096);
        assert!(interface_index("lo").unwrap() >= 1);
        assert!(interface_index("no-such-interface-x").is_err());
    }
}
