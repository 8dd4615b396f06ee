//! `journal import-pcap`: the UDP payloads of a pcap or pcapng capture become events, stamped with
//! the capture's timestamps.
//!
//! The file is read as a stream by `pcap-parser` (classic pcap in either byte order with µs or ns
//! timestamps, the modified format, and pcapng with any number of sections and interfaces). Each
//! packet is decoded here: the link layer (Ethernet with any number of 802.1Q/802.1ad tags, Linux
//! cooked SLL and SLL2, BSD loopback, raw IP), IPv4 or IPv6 (extension headers skipped), and UDP.
//! A packet that is not UDP, does not match the filters, is an IP fragment, was cut by the snapshot
//! length, or is malformed is counted and reported, never fatal. Damage to the file's framing (a
//! record running past the end of the file, a record length no capture could have) stops the read:
//! what came before it is imported and kept, and the command reports where (status 1).

use std::fs::File;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use anyhow::Context;
use journal::set::RollPolicy;
use journal::{Error, RecoveryMode, WriterOptions};
use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{PcapBlockOwned, PcapError};
use serde::Serialize;

use crate::exit::{DataError, Status};
use crate::sink::{Mode, RollArgs, Sink, SinkOptions};
use crate::{output, time};

const EXAMPLES: &str = concat!(
    "\
Examples:
  journal import-pcap feed-2026-11-02.pcap feed.journal
  journal import-pcap --udp-port 5000 --dst 239.1.1.1 feed.pcapng feed.journal
  journal import-pcap --json capture.pcap out.journal | jq .imported
  journal import-pcap --roll hourly,1GiB day.pcapng feed.set    # a journal set, by capture time

Each UDP datagram becomes one event: its payload, byte for byte, stamped with the capture's
timestamp (ns since the epoch). Classic pcap (either byte order, µs or ns timestamps) and pcapng;
Ethernet (with VLAN tags), Linux cooked (any), BSD loopback and raw IP links; IPv4 and IPv6.

Packets that are not UDP, do not match --udp-port (the destination port) or --dst (the destination
address), are IP fragments (not reassembled), were cut by the snapshot length, or are malformed are
counted and reported, and the import goes on (status 0). If the file itself is damaged (cut short,
or a record length that cannot be right), everything before the damage is imported, and the damage
is reported with status 1. The journal (or set) is created if missing and appended to otherwise.

",
    crate::sink::roll_help!()
);

/// Import the UDP payloads of a pcap or pcapng capture as events, with the capture timestamps.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The capture file (pcap or pcapng).
    capture: PathBuf,
    /// The journal file, or a journal set's directory, to append to (created if missing).
    out: PathBuf,
    /// Only datagrams sent to this UDP port.
    #[arg(long, value_name = "P")]
    udp_port: Option<u16>,
    /// Only datagrams sent to this address (IPv4 or IPv6; a multicast group, say).
    #[arg(long, value_name = "ADDR")]
    dst: Option<IpAddr>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    roll: RollArgs,
}

struct Config {
    capture: PathBuf,
    out: PathBuf,
    udp_port: Option<u16>,
    dst: Option<IpAddr>,
    json: bool,
    roll: Option<RollPolicy>,
}

impl TryFrom<Args> for Config {
    type Error = anyhow::Error;

    fn try_from(a: Args) -> anyhow::Result<Config> {
        Ok(Config {
            roll: a.roll.policy()?,
            capture: a.capture,
            out: a.out,
            udp_port: a.udp_port,
            dst: a.dst,
            json: a.json,
        })
    }
}

/// The reader's first buffer; it grows (doubling) for a larger record, up to [`MAX_BUFFER`].
const START_BUFFER: usize = 1 << 20;
/// A record longer than this is taken for damage: no capture tool writes one.
const MAX_BUFFER: usize = 64 << 20;
/// The largest snapshot length libpcap uses; a classic record longer than this and than the file's
/// own snapshot length is damage.
const MAX_SNAPLEN: u32 = 262_144;
/// How many problems are described one by one on stderr; the rest are only counted.
const SHOWN_PROBLEMS: u64 = 10;

/// The report (`--json`: one object on stdout).
#[derive(Debug, Default, Serialize)]
struct Report {
    capture: String,
    journal: String,
    /// `pcap` or `pcapng`.
    format: &'static str,
    /// Packet records read.
    packets: u64,
    /// Datagrams appended as events.
    imported: u64,
    /// Their payload bytes.
    bytes: u64,
    /// UDP datagrams that --udp-port or --dst left out.
    filtered: u64,
    /// Packets that are not UDP over IPv4 or IPv6.
    not_udp: u64,
    /// IP fragments of UDP datagrams (not reassembled).
    fragments: u64,
    /// Datagrams cut by the snapshot length (the capture does not hold them whole).
    truncated: u64,
    /// Packets whose headers or lengths are wrong, or whose record is unreadable.
    malformed: u64,
    /// Packets on an unsupported link type, or without a timestamp (pcapng simple packets).
    unsupported: u64,
    first_timestamp: Option<i64>,
    last_timestamp: Option<i64>,
    /// Where the file's framing is damaged, if it is; nothing after it was read.
    damage: Option<DamageJson>,
}

#[derive(Debug, Serialize)]
struct DamageJson {
    /// Byte offset in the capture file of the record that could not be read.
    offset: u64,
    reason: String,
}

/// Runs `journal import-pcap`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let cfg = Config::try_from(args)?;
    let file = File::open(&cfg.capture).map_err(|e| Error::Io {
        path: cfg.capture.clone(),
        op: "open",
        source: e,
    })?;
    let mut reader = match pcap_parser::create_reader(START_BUFFER, file) {
        Ok(r) => r,
        Err(PcapError::Eof) => {
            anyhow::bail!("{}: empty file, not a capture", cfg.capture.display())
        }
        Err(PcapError::ReadError) => anyhow::bail!("{}: read failed", cfg.capture.display()),
        Err(_) => anyhow::bail!(
            "{}: not a pcap or pcapng capture (unrecognized file header)",
            cfg.capture.display()
        ),
    };
    // The capture is recognized: now the journal.
    let mut options = WriterOptions::new();
    options.prefault(false).recovery(RecoveryMode::Strict);
    let (mut w, _) = Sink::open(
        &cfg.out,
        &SinkOptions {
            writer: options,
            chunk: 4 << 20,
            roll: cfg.roll,
            mode: Mode::OpenOrCreate,
            refusing: "import into it",
        },
    )?;
    let mut import = Import {
        cfg: &cfg,
        w: &mut w,
        report: Report {
            capture: cfg.capture.display().to_string(),
            journal: cfg.out.display().to_string(),
            ..Report::default()
        },
        problems: 0,
        classic: None,
        interfaces: Vec::new(),
        big_endian: false,
    };
    let read = import.read_all(&mut *reader);
    let report = import.finish();
    let closed = w.finish();
    read?;
    closed?;
    if report.problems_hidden() > 0 {
        eprintln!(
            "journal: warning: {}: {} more problem packets not described (see the counts)",
            cfg.capture.display(),
            report.problems_hidden()
        );
    }
    if cfg.json {
        super::print_json(&report.report)?;
    } else {
        print_text(&report.report)?;
    }
    match &report.report.damage {
        None => Ok(Status::Success),
        Some(d) => Err(DataError(format!(
            "{}: damaged at byte {}: {}; the {} packets before it were read",
            cfg.capture.display(),
            d.offset,
            d.reason,
            report.report.packets
        ))
        .into()),
    }
}

/// The link layers this command decodes (pcap LINKTYPE_ values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// 0: BSD loopback, a 4-byte address family in the capturing host's byte order.
    Null,
    /// 1: Ethernet II (with 802.1Q / 802.1ad tags).
    Ethernet,
    /// 101: raw IPv4 or IPv6.
    Raw,
    /// 108: OpenBSD loopback, the family in network byte order.
    Loop,
    /// 113: Linux cooked capture v1 (`tcpdump -i any`, older).
    Sll,
    /// 228: raw IPv4.
    Ipv4,
    /// 229: raw IPv6.
    Ipv6,
    /// 276: Linux cooked capture v2 (`tcpdump -i any`).
    Sll2,
}

impl Link {
    fn from_linktype(t: i32) -> Option<Link> {
        Some(match t {
            0 => Link::Null,
            1 => Link::Ethernet,
            101 => Link::Raw,
            108 => Link::Loop,
            113 => Link::Sll,
            228 => Link::Ipv4,
            229 => Link::Ipv6,
            276 => Link::Sll2,
            _ => return None,
        })
    }
}

/// The header of a classic pcap file.
#[derive(Clone, Copy, Debug)]
struct Classic {
    link: Option<Link>,
    linktype: i32,
    nanos: bool,
    big_endian: bool,
    snaplen: u32,
}

impl Classic {
    /// The longest record this file can hold: more is damage.
    fn max_record(&self) -> u32 {
        self.snaplen.max(MAX_SNAPLEN)
    }

    /// The captured length in the record header at the start of `data`, if it is there.
    fn peek_caplen(&self, data: &[u8]) -> Option<u32> {
        let b: [u8; 4] = data.get(8..12)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }
}

/// One pcapng interface (Interface Description Block).
#[derive(Clone, Copy, Debug)]
struct NgInterface {
    link: Option<Link>,
    linktype: i32,
    /// Timestamp units per second; `None` for an invalid `if_tsresol`.
    units: Option<u64>,
    /// Seconds added to every timestamp (`if_tsoffset`).
    offset: i64,
    /// False for a placeholder standing in for an unreadable IDB.
    valid: bool,
}

struct Import<'a> {
    cfg: &'a Config,
    w: &'a mut Sink,
    report: Report,
    problems: u64,
    classic: Option<Classic>,
    interfaces: Vec<NgInterface>,
    big_endian: bool,
}

struct Finished {
    report: Report,
    problems: u64,
}

impl Finished {
    fn problems_hidden(&self) -> u64 {
        self.problems.saturating_sub(SHOWN_PROBLEMS)
    }
}

impl Import<'_> {
    fn finish(self) -> Finished {
        Finished {
            report: self.report,
            problems: self.problems,
        }
    }

    /// Reads every record, stopping at the end of the file or at damage (recorded in the report).
    fn read_all(&mut self, reader: &mut dyn PcapReaderIterator) -> anyhow::Result<()> {
        let mut capacity = START_BUFFER;
        loop {
            let at = reader.consumed() as u64;
            let outcome = match reader.next() {
                Ok((len, block)) => {
                    self.block(at, block)?;
                    Step::Consume(len)
                }
                Err(PcapError::Eof) => return Ok(()),
                Err(PcapError::Incomplete(_)) => Step::Refill,
                Err(PcapError::BufferTooSmall) => Step::Grow,
                Err(PcapError::UnexpectedEof) => {
                    Step::Damage("the file ends in the middle of a record (cut short)".into())
                }
                Err(PcapError::ReadError) => {
                    anyhow::bail!("{}: read failed", self.cfg.capture.display())
                }
                Err(PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind)) => {
                    Step::Unreadable(format!("{kind:?}"))
                }
                Err(PcapError::HeaderNotRecognized) => {
                    Step::Unreadable("header not recognized".into())
                }
            };
            // A classic record whose length no capture could have: damage, found before reading
            // (possibly to the end of the file) for the bytes it claims.
            if let (Step::Refill | Step::Grow, Some(c)) = (&outcome, self.classic) {
                if let Some(caplen) = c.peek_caplen(reader.data()) {
                    if caplen > c.max_record() {
                        return self.damage(at, too_long(caplen, c.snaplen));
                    }
                }
            }
            let step = match outcome {
                // A pcapng block whose framing lengths agree but whose body does not parse (the
                // parser says "incomplete" for, say, a packet length past the block's end): skip it.
                Step::Refill | Step::Grow | Step::Unreadable(_) if self.classic.is_none() => {
                    match self.skippable(reader.data()) {
                        Some(len) => {
                            let why = match &outcome {
                                Step::Unreadable(kind) => {
                                    format!("unreadable pcapng block ({kind})")
                                }
                                _ => "pcapng block contents disagree with its length".to_owned(),
                            };
                            self.skip_block(at, reader.data(), &why);
                            Step::Consume(len)
                        }
                        None => outcome,
                    }
                }
                other => other,
            };
            match step {
                Step::Consume(len) => reader.consume(len),
                Step::Refill => reader
                    .refill()
                    .map_err(|_| anyhow::anyhow!("{}: read failed", self.cfg.capture.display()))?,
                Step::Grow => {
                    if capacity >= MAX_BUFFER {
                        return self.damage(at, format!("a record longer than {MAX_BUFFER} bytes"));
                    }
                    capacity *= 2;
                    reader.grow(capacity);
                    reader.refill().map_err(|_| {
                        anyhow::anyhow!("{}: read failed", self.cfg.capture.display())
                    })?;
                }
                Step::Damage(reason) => return self.damage(at, reason),
                Step::Unreadable(kind) => {
                    let why = self
                        .framing_problem(reader.data())
                        .unwrap_or_else(|| format!("unreadable record ({kind})"));
                    return self.damage(at, why);
                }
            }
        }
    }

    fn damage(&mut self, offset: u64, reason: String) -> anyhow::Result<()> {
        self.report.damage = Some(DamageJson { offset, reason });
        Ok(())
    }

    /// The 32-bit word at `at` in `data`, in the current pcapng section's byte order.
    fn ng_word(&self, data: &[u8], at: usize) -> Option<u32> {
        let b: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    /// The length of the pcapng block at the start of `data`, if its two length fields agree and
    /// the whole block is there.
    fn skippable(&self, data: &[u8]) -> Option<usize> {
        let word = |at: usize| self.ng_word(data, at);
        let block_type = word(0)?;
        let len = word(4)? as usize;
        let ok = len >= 12
            && len.is_multiple_of(4)
            && len <= data.len()
            && word(len - 4)? as usize == len
            && block_type != 0x0A0D_0D0A; // a section header cannot be skipped
        ok.then_some(len)
    }

    /// Why the pcapng block at the start of `data` cannot be stepped over, in words, when its
    /// framing says.
    fn framing_problem(&self, data: &[u8]) -> Option<String> {
        if self.classic.is_some() {
            return None;
        }
        let word = |at: usize| self.ng_word(data, at);
        let (kind, len) = (word(0)?, word(4)?);
        if len < 12 || len % 4 != 0 {
            return Some(format!(
                "a block of type {kind} with an impossible length of {len} bytes"
            ));
        }
        let end = word(len as usize - 4)?;
        (end != len).then(|| {
            format!(
                "a block of type {kind} whose length is {len} bytes at its start but {end} at its end"
            )
        })
    }

    /// Counts a skipped pcapng block: a packet block is a malformed packet; an unreadable
    /// interface block leaves a placeholder, so later packets still find their interface by index.
    fn skip_block(&mut self, at: u64, data: &[u8], why: &str) {
        let block_type = self.ng_word(data, 0).unwrap_or(0);
        match block_type {
            // Enhanced, simple and (obsolete) packet blocks.
            6 | 3 | 2 => {
                self.report.packets += 1;
                self.report.malformed += 1;
                self.problem(at, why);
            }
            1 => {
                self.interfaces.push(NgInterface {
                    link: None,
                    linktype: -1,
                    units: None,
                    offset: 0,
                    valid: false,
                });
                self.problem(at, &format!("{why}: an interface description"));
            }
            _ => self.problem(at, why),
        }
    }

    /// One block of the file.
    fn block(&mut self, at: u64, block: PcapBlockOwned<'_>) -> anyhow::Result<()> {
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                self.report.format = "pcap";
                self.classic = Some(Classic {
                    link: Link::from_linktype(h.network.0),
                    linktype: h.network.0,
                    nanos: h.is_nanosecond_precision(),
                    big_endian: h.is_bigendian(),
                    snaplen: h.snaplen,
                });
            }
            PcapBlockOwned::Legacy(p) => {
                let Some(c) = self.classic else {
                    unreachable!("a classic pcap file starts with its header")
                };
                if p.caplen > c.max_record() {
                    return self.damage(at, too_long(p.caplen, c.snaplen));
                }
                let limit = if c.nanos { 1_000_000_000 } else { 1_000_000 };
                let ts = if p.ts_usec < limit {
                    let frac = if c.nanos {
                        p.ts_usec
                    } else {
                        p.ts_usec * 1_000
                    };
                    Ok(i64::from(p.ts_sec) * 1_000_000_000 + i64::from(frac))
                } else {
                    Err("the timestamp's fraction is a second or more")
                };
                let whole = p.caplen >= p.origlen;
                self.packet(at, ts, c.link, c.linktype, p.data, whole)?;
            }
            PcapBlockOwned::NG(b) => self.ng_block(at, b)?,
        }
        Ok(())
    }

    fn ng_block(&mut self, at: u64, b: Block<'_>) -> anyhow::Result<()> {
        match b {
            Block::SectionHeader(shb) => {
                self.report.format = "pcapng";
                self.big_endian = shb.big_endian();
                self.interfaces.clear();
            }
            Block::InterfaceDescription(idb) => self.interfaces.push(NgInterface {
                link: Link::from_linktype(idb.linktype.0),
                linktype: idb.linktype.0,
                units: idb.ts_resolution(),
                offset: idb.ts_offset(),
                valid: true,
            }),
            Block::EnhancedPacket(epb) => {
                let iface = self.interfaces.get(epb.if_id as usize).copied();
                let data = epb.packet_data();
                let whole = epb.caplen >= epb.origlen;
                match iface {
                    Some(i) if i.valid => {
                        let ts = ng_time(epb.ts_high, epb.ts_low, &i);
                        self.packet(at, ts, i.link, i.linktype, data, whole)?;
                    }
                    _ => {
                        self.report.packets += 1;
                        self.report.malformed += 1;
                        self.problem(
                            at,
                            &format!("packet on interface {}, which is not described", epb.if_id),
                        );
                    }
                }
            }
            Block::SimplePacket(_) => {
                self.report.packets += 1;
                self.report.unsupported += 1;
                self.problem(at, "a simple packet block carries no timestamp");
            }
            // Name resolution, statistics, secrets, custom and unknown blocks: nothing to import.
            _ => {}
        }
        Ok(())
    }

    /// One packet record: decode, filter, append.
    fn packet(
        &mut self,
        at: u64,
        ts: Result<i64, &'static str>,
        link: Option<Link>,
        linktype: i32,
        data: &[u8],
        whole: bool,
    ) -> anyhow::Result<()> {
        self.report.packets += 1;
        let Some(link) = link else {
            self.report.unsupported += 1;
            self.problem(at, &format!("link type {linktype} is not supported"));
            return Ok(());
        };
        let (dst, port, payload) = match decode(link, data, whole) {
            Decoded::Udp { dst, port, payload } => (dst, port, payload),
            Decoded::NotUdp => {
                self.report.not_udp += 1;
                return Ok(());
            }
            Decoded::Fragment => {
                self.report.fragments += 1;
                return Ok(());
            }
            Decoded::Truncated => {
                self.report.truncated += 1;
                return Ok(());
            }
            Decoded::Malformed(why) => {
                self.report.malformed += 1;
                self.problem(at, why);
                return Ok(());
            }
        };
        if self.cfg.udp_port.is_some_and(|p| p != port) || self.cfg.dst.is_some_and(|d| d != dst) {
            self.report.filtered += 1;
            return Ok(());
        }
        let ts = match ts {
            Ok(ts) => ts,
            Err(why) => {
                self.report.malformed += 1;
                self.problem(at, why);
                return Ok(());
            }
        };
        self.w.append(ts, payload).with_context(|| {
            format!("packet {} of {}", self.report.packets, self.report.capture)
        })?;
        self.report.imported += 1;
        self.report.bytes += payload.len() as u64;
        self.report.first_timestamp.get_or_insert(ts);
        self.report.last_timestamp = Some(ts);
        Ok(())
    }

    /// Describes one of the first [`SHOWN_PROBLEMS`] problems on stderr.
    fn problem(&mut self, at: u64, why: &str) {
        self.problems += 1;
        if self.problems <= SHOWN_PROBLEMS {
            eprintln!(
                "journal: warning: {}: packet {} at byte {at}: {why}",
                self.cfg.capture.display(),
                self.report.packets
            );
        }
    }
}

fn too_long(caplen: u32, snaplen: u32) -> String {
    format!("a record of {caplen} bytes, more than the snapshot length ({snaplen}) allows")
}

/// What the reading loop does next.
enum Step {
    Consume(usize),
    Refill,
    Grow,
    Damage(String),
    Unreadable(String),
}

/// A pcapng timestamp in ns since the epoch: `(high << 32 | low)` units of `1 / units` s, plus
/// `offset` seconds.
fn ng_time(high: u32, low: u32, iface: &NgInterface) -> Result<i64, &'static str> {
    let units = iface
        .units
        .filter(|&u| u > 0)
        .ok_or("the interface's timestamp resolution is invalid")?;
    let t = u128::from(high) << 32 | u128::from(low);
    let ns =
        (t * 1_000_000_000 / u128::from(units)) as i128 + i128::from(iface.offset) * 1_000_000_000;
    i64::try_from(ns).map_err(|_| "the timestamp is outside the years 1677 to 2262")
}

/// What one captured frame holds.
#[derive(Debug, PartialEq, Eq)]
enum Decoded<'a> {
    /// A whole UDP datagram.
    Udp {
        dst: IpAddr,
        port: u16,
        payload: &'a [u8],
    },
    /// Anything but UDP over IPv4 or IPv6.
    NotUdp,
    /// A fragment of an IP datagram carrying UDP.
    Fragment,
    /// Cut by the snapshot length before the datagram's end.
    Truncated,
    /// Headers or lengths that cannot be right.
    Malformed(&'static str),
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Bytes are missing: the snapshot length cut them (`whole` is false) or the packet is malformed.
fn short(whole: bool, what: &'static str) -> Decoded<'static> {
    if whole {
        Decoded::Malformed(what)
    } else {
        Decoded::Truncated
    }
}

/// Decodes a frame of `link`; `whole` says whether the capture holds all of it.
fn decode(link: Link, f: &[u8], whole: bool) -> Decoded<'_> {
    match link {
        Link::Ethernet => {
            if f.len() < 14 {
                return short(whole, "Ethernet header cut short");
            }
            ethertype(be16(f, 12), &f[14..], whole)
        }
        Link::Sll => {
            if f.len() < 16 {
                return short(whole, "Linux cooked header cut short");
            }
            ethertype(be16(f, 14), &f[16..], whole)
        }
        Link::Sll2 => {
            if f.len() < 20 {
                return short(whole, "Linux cooked v2 header cut short");
            }
            ethertype(be16(f, 0), &f[20..], whole)
        }
        Link::Null | Link::Loop => {
            let Some(b) = f.get(..4) else {
                return short(whole, "loopback header cut short");
            };
            let b: [u8; 4] = b.try_into().unwrap_or_default();
            let family = if link == Link::Loop {
                u32::from_be_bytes(b)
            } else {
                // Host byte order of the machine that captured: small either way round.
                let le = u32::from_le_bytes(b);
                if le > 0xFFFF {
                    le.swap_bytes()
                } else {
                    le
                }
            };
            match family {
                2 => ipv4(&f[4..], whole),
                // AF_INET6 on Linux, the BSDs and Darwin.
                10 | 24 | 28 | 30 => ipv6(&f[4..], whole),
                _ => Decoded::NotUdp,
            }
        }
        Link::Raw | Link::Ipv4 | Link::Ipv6 => match f.first().map(|b| b >> 4) {
            None => short(whole, "empty packet"),
            Some(4) => ipv4(f, whole),
            Some(6) => ipv6(f, whole),
            Some(_) => Decoded::Malformed("raw IP packet of an unknown IP version"),
        },
    }
}

/// The payload after an EtherType, through any number (up to four) of VLAN tags.
fn ethertype(mut ty: u16, mut rest: &[u8], whole: bool) -> Decoded<'_> {
    let mut tags = 0;
    while matches!(ty, 0x8100 | 0x88A8 | 0x9100) {
        if tags == 4 {
            return Decoded::Malformed("more than four VLAN tags");
        }
        if rest.len() < 4 {
            return short(whole, "VLAN tag cut short");
        }
        ty = be16(rest, 2);
        rest = &rest[4..];
        tags += 1;
    }
    match ty {
        0x0800 => ipv4(rest, whole),
        0x86DD => ipv6(rest, whole),
        _ => Decoded::NotUdp,
    }
}

fn ipv4(p: &[u8], whole: bool) -> Decoded<'_> {
    if p.len() < 20 {
        return short(whole, "IPv4 header cut short");
    }
    if p[0] >> 4 != 4 {
        return Decoded::Malformed("IPv4 packet whose version is not 4");
    }
    let ihl = usize::from(p[0] & 15) * 4;
    let total = usize::from(be16(p, 2));
    if ihl < 20 {
        return Decoded::Malformed("IPv4 header length below 20 bytes");
    }
    if total < ihl {
        return Decoded::Malformed("IPv4 total length shorter than its header");
    }
    if p[9] != 17 {
        return Decoded::NotUdp;
    }
    // More fragments, or a fragment offset: part of a datagram.
    if be16(p, 6) & 0x3FFF != 0 {
        return Decoded::Fragment;
    }
    if p.len() < total {
        return short(whole, "IPv4 total length runs past the end of the packet");
    }
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    udp(&p[ihl..total], IpAddr::V4(dst))
}

fn ipv6(p: &[u8], whole: bool) -> Decoded<'_> {
    if p.len() < 40 {
        return short(whole, "IPv6 header cut short");
    }
    if p[0] >> 4 != 6 {
        return Decoded::Malformed("IPv6 packet whose version is not 6");
    }
    let end = 40 + usize::from(be16(p, 4));
    if p.len() < end {
        return short(whole, "IPv6 payload length runs past the end of the packet");
    }
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&p[24..40]);
    let dst = IpAddr::V6(Ipv6Addr::from(octets));
    let (mut next, mut at) = (p[6], 40);
    for _ in 0..8 {
        let header_len = match next {
            17 => return udp(&p[at..end], dst),
            // Hop-by-hop, routing, destination options: (length + 1) * 8 bytes.
            0 | 43 | 60 => p.get(at + 1).map(|&l| (usize::from(l) + 1) * 8),
            // Fragment: 8 bytes; an offset or the more-fragments flag make it part of a datagram.
            44 => {
                if at + 8 <= end && be16(p, at + 2) & 0xFFF9 != 0 {
                    return Decoded::Fragment;
                }
                Some(8)
            }
            // Authentication header: (length + 2) * 4 bytes.
            51 => p.get(at + 1).map(|&l| (usize::from(l) + 2) * 4),
            _ => return Decoded::NotUdp,
        };
        match header_len {
            Some(len) if at + len <= end => {
                next = p[at];
                at += len;
            }
            _ => return Decoded::Malformed("IPv6 extension header runs past the payload"),
        }
    }
    Decoded::Malformed("more than eight IPv6 extension headers")
}

/// A UDP datagram inside an IP payload of exactly `seg.len()` bytes.
fn udp(seg: &[u8], dst: IpAddr) -> Decoded<'_> {
    if seg.len() < 8 {
        return Decoded::Malformed("UDP header cut short by the IP length");
    }
    let len = usize::from(be16(seg, 4));
    if len < 8 || len > seg.len() {
        return Decoded::Malformed("UDP length disagrees with the IP length");
    }
    Decoded::Udp {
        dst,
        port: be16(seg, 2),
        payload: &seg[8..len],
    }
}

fn print_text(r: &Report) -> anyhow::Result<()> {
    let when = |ts: Option<i64>| ts.map_or_else(|| "-".to_owned(), time::rfc3339);
    let mut out = output::stdout();
    writeln!(
        out,
        "imported {} datagrams ({} bytes) from {} ({}) into {}",
        r.imported, r.bytes, r.capture, r.format, r.journal
    )?;
    writeln!(
        out,
        "packets:   {} ({} imported, {} filtered out, {} not UDP, {} IP fragments, {} cut by the \
         snapshot length, {} malformed, {} unsupported)",
        r.packets,
        r.imported,
        r.filtered,
        r.not_udp,
        r.fragments,
        r.truncated,
        r.malformed,
        r.unsupported
    )?;
    writeln!(out, "first:     {}", when(r.first_timestamp))?;
    writeln!(out, "last:      {}", when(r.last_timestamp))?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 + UDP packet to 239.1.1.1:5000 carrying `payload`.
    fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
        let total = 20 + 8 + payload.len();
        let mut p = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ];
        p.extend_from_slice(&[10, 0, 0, 1, 239, 1, 1, 1]);
        let ulen = 8 + payload.len();
        p.extend_from_slice(&[0x30, 0x39, 0x13, 0x88, (ulen >> 8) as u8, ulen as u8, 0, 0]);
        p.extend_from_slice(payload);
        p
    }

    fn ipv6_udp(ext: &[u8], first: u8, payload: &[u8]) -> Vec<u8> {
        let plen = ext.len() + 8 + payload.len();
        let mut p = vec![0x60, 0, 0, 0, (plen >> 8) as u8, plen as u8, first, 64];
        p.extend_from_slice(&[0; 15]);
        p.push(1); // src ::1
        p.extend_from_slice(&[0xff, 0x15]);
        p.extend_from_slice(&[0; 13]);
        p.push(1); // dst ff15::1
        p.extend_from_slice(ext);
        let ulen = 8 + payload.len();
        p.extend_from_slice(&[0x30, 0x39, 0x13, 0x88, (ulen >> 8) as u8, ulen as u8, 0, 0]);
        p.extend_from_slice(payload);
        p
    }

    fn ether(ty: &[u8], l3: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(ty);
        f.extend_from_slice(l3);
        f
    }

    fn udp_to(dst: &str, payload: &[u8]) -> Decoded<'static> {
        Decoded::Udp {
            dst: dst.parse().unwrap(),
            port: 5000,
            payload: Vec::leak(payload.to_vec()),
        }
    }

    #[test]
    fn link_layers_and_vlan_tags() {
        let ip = ipv4_udp(b"hello");
        let want = udp_to("239.1.1.1", b"hello");
        assert_eq!(decode(Link::Ethernet, &ether(&[8, 0], &ip), true), want);
        // 802.1ad outer tag, 802.1Q inner tag.
        let tagged = ether(&[0x88, 0xA8, 0, 10, 0x81, 0, 0, 100, 8, 0], &ip);
        assert_eq!(decode(Link::Ethernet, &tagged, true), want);
        // Ethernet padding after a short datagram is not payload.
        let mut padded = ether(&[8, 0], &ipv4_udp(b""));
        padded.resize(60, 0xEE);
        assert_eq!(
            decode(Link::Ethernet, &padded, true),
            udp_to("239.1.1.1", b"")
        );
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[8, 0]);
        sll.extend_from_slice(&ip);
        assert_eq!(decode(Link::Sll, &sll, true), want);
        let mut sll2 = vec![8, 0];
        sll2.extend_from_slice(&[0; 18]);
        sll2.extend_from_slice(&ip);
        assert_eq!(decode(Link::Sll2, &sll2, true), want);
        for (link, family) in [
            (Link::Null, [2, 0, 0, 0]),
            (Link::Null, [0, 0, 0, 2]),
            (Link::Loop, [0, 0, 0, 2]),
        ] {
            let mut f = family.to_vec();
            f.extend_from_slice(&ip);
            assert_eq!(decode(link, &f, true), want, "{link:?} {family:?}");
        }
        assert_eq!(decode(Link::Raw, &ip, true), want);
        assert_eq!(decode(Link::Ipv4, &ip, true), want);
        assert_eq!(
            decode(Link::Ethernet, &ether(&[8, 6], &[0; 28]), true),
            Decoded::NotUdp
        );
        let five_tags = ether(
            &[
                0x81, 0, 0, 1, 0x81, 0, 0, 1, 0x81, 0, 0, 1, 0x81, 0, 0, 1, 0x81, 0, 0, 1, 8, 0,
            ],
            &ip,
        );
        assert!(matches!(
            decode(Link::Ethernet, &five_tags, true),
            Decoded::Malformed(_)
        ));
    }

    #[test]
    fn ipv6_extension_headers_and_fragments() {
        let want = udp_to("ff15::1", b"v6");
        assert_eq!(decode(Link::Ipv6, &ipv6_udp(&[], 17, b"v6"), true), want);
        // Hop-by-hop (8 bytes) then destination options (8 bytes) then UDP.
        let ext = [60, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0];
        assert_eq!(decode(Link::Ipv6, &ipv6_udp(&ext, 0, b"v6"), true), want);
        // An atomic fragment (offset 0, no more fragments) is a whole datagram; others are not.
        let atomic = [17, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            decode(Link::Ipv6, &ipv6_udp(&atomic, 44, b"v6"), true),
            want
        );
        let first = [17, 0, 0, 1, 0, 0, 0, 1];
        assert_eq!(
            decode(Link::Ipv6, &ipv6_udp(&first, 44, b"v6"), true),
            Decoded::Fragment
        );
        assert_eq!(
            decode(Link::Ipv6, &ipv6_udp(&[], 6, b"tcp"), true),
            Decoded::NotUdp
        );
        let long_ext = [17, 200, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            decode(Link::Ipv6, &ipv6_udp(&long_ext, 0, b""), true),
            Decoded::Malformed(_)
        ));
    }

    #[test]
    fn short_packets_are_truncated_or_malformed_by_whether_the_capture_is_whole() {
        let ip = ipv4_udp(&[7; 100]);
        let cut = &ip[..60];
        assert_eq!(decode(Link::Raw, cut, false), Decoded::Truncated);
        assert!(matches!(
            decode(Link::Raw, cut, true),
            Decoded::Malformed(_)
        ));
        assert_eq!(decode(Link::Ethernet, &[0; 10], false), Decoded::Truncated);
        let mut frag = ip.clone();
        frag[6] = 0x20; // more fragments
        assert_eq!(decode(Link::Raw, &frag, true), Decoded::Fragment);
        let mut bad = ip.clone();
        bad[0] = 0x44; // header length 16
        assert!(matches!(
            decode(Link::Raw, &bad, true),
            Decoded::Malformed(_)
        ));
        let mut bad = ip.clone();
        bad[25] = 200; // UDP length past the IP payload
        assert!(matches!(
            decode(Link::Raw, &bad, true),
            Decoded::Malformed(_)
        ));
        let mut bad = ip.clone();
        bad[0] = 0x55;
        assert!(matches!(
            decode(Link::Ipv4, &bad, true),
            Decoded::Malformed(_)
        ));
        assert_eq!(decode(Link::Raw, &[], false), Decoded::Truncated);
    }

    #[test]
    fn pcapng_timestamps_use_resolution_and_offset() {
        let iface = |units, offset| NgInterface {
            link: None,
            linktype: 1,
            units,
            offset,
            valid: true,
        };
        let t: u64 = 1_700_000_000_123_456;
        let (hi, lo) = ((t >> 32) as u32, t as u32);
        assert_eq!(
            ng_time(hi, lo, &iface(Some(1_000_000), 0)),
            Ok(1_700_000_000_123_456_000)
        );
        assert_eq!(
            ng_time(hi, lo, &iface(Some(1_000_000), 10)),
            Ok(1_700_000_010_123_456_000)
        );
        assert_eq!(ng_time(0, 3, &iface(Some(1 << 1), 0)), Ok(1_500_000_000));
        assert!(ng_time(hi, lo, &iface(None, 0)).is_err());
        assert!(ng_time(u32::MAX, u32::MAX, &iface(Some(1), 0)).is_err());
    }
}
