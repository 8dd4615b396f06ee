//! Writing events to stdout in the formats `dump` and `tail` share, and the one way any text that
//! is not ours (a path, a payload) is shown: escaped, so it cannot break a line or reorder one.

use std::fmt::Write as _;
use std::io::{self, BufWriter, StdoutLock, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use journal::Event;

use crate::time;

/// Locked, buffered stdout: a dump makes one `write(2)` per 64 KiB, not per event.
pub type Stdout = BufWriter<StdoutLock<'static>>;

/// Locked, buffered stdout.
pub fn stdout() -> Stdout {
    BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}

/// How events are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per event: `index=0 time=<RFC 3339> size=5 text=hello` (or `hex=...` when the
    /// payload is not UTF-8 or holds control characters). In `text=`, a backslash is written
    /// `\\` and an invisible character (bidi control, zero-width space, ...) as `\u{202e}`.
    Text,
    /// One JSON object per line: index, offset, timestamp (ns), size, crc32 (null for a ring
    /// record written without one), payload (base64).
    Jsonl,
    /// A header line per event, then its payload as a hex dump.
    Hex,
    /// The payload bytes only, back to back.
    Raw,
}

/// Writes events in one [`Format`].
pub struct EventWriter<W: Write> {
    out: W,
    format: Format,
    line: String,
}

impl<W: Write> EventWriter<W> {
    /// A writer of `format` into `out`.
    pub fn new(out: W, format: Format) -> Self {
        EventWriter {
            out,
            format,
            line: String::with_capacity(256),
        }
    }

    /// Writes one event.
    pub fn write(&mut self, ev: &Event<'_>) -> io::Result<()> {
        self.write_checked(ev, true)
    }

    /// Writes one event, which carries a CRC-32 only if `checksummed`: a ring record written
    /// without one (spec/RING.md 3.1) has a `checksum` field of 0 that is no CRC, and is shown
    /// with `"crc32":null` (jsonl) or `crc32=none` (hex).
    pub fn write_checked(&mut self, ev: &Event<'_>, checksummed: bool) -> io::Result<()> {
        if self.format == Format::Raw {
            return self.out.write_all(ev.payload);
        }
        let crc = checksummed.then(|| ev.checksum());
        let line = &mut self.line;
        line.clear();
        match self.format {
            Format::Text => text(ev, line),
            Format::Jsonl => jsonl(ev, crc, line),
            Format::Hex => hex_dump(ev, crc, line),
            Format::Raw => unreachable!("handled above"),
        }
        self.out.write_all(line.as_bytes())
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// `index=0 time=2023-11-14T22:13:20.000000123Z size=5 text=hello`. The payload field is last, so
/// everything after `text=` up to the end of the line is the payload.
fn text(ev: &Event<'_>, line: &mut String) {
    let _ = write!(line, "index={} time=", ev.index);
    time::push_rfc3339(ev.timestamp, line);
    let _ = write!(line, " size={} ", ev.payload.len());
    match printable(ev.payload) {
        Some(s) => {
            line.push_str("text=");
            push_escaped_str(s, line);
        }
        None => {
            line.push_str("hex=");
            push_hex(ev.payload, line);
        }
    }
    line.push('\n');
}

/// The payload as text if it is UTF-8 without control characters (so it stays on one line and
/// moves no cursor); invisible characters in it are escaped by [`push_escaped_str`].
fn printable(payload: &[u8]) -> Option<&str> {
    std::str::from_utf8(payload)
        .ok()
        .filter(|s| !s.chars().any(char::is_control))
}

/// `{"index":0,"offset":24,"timestamp":1700000000000000123,"size":5,"crc32":2723780466,"payload":"aGVsbG8="}`
/// (`"crc32":null` for a record without a CRC).
fn jsonl(ev: &Event<'_>, crc: Option<u32>, line: &mut String) {
    let _ = write!(
        line,
        r#"{{"index":{},"offset":{},"timestamp":{},"size":{},"crc32":"#,
        ev.index,
        ev.offset,
        ev.timestamp,
        ev.payload.len(),
    );
    match crc {
        Some(c) => {
            let _ = write!(line, "{c}");
        }
        None => line.push_str("null"),
    }
    line.push_str(r#","payload":""#);
    BASE64.encode_string(ev.payload, line);
    line.push_str("\"}\n");
}

/// A header line, then `hexdump -C` style lines of 16 bytes (`crc32=none` for a record without
/// a CRC).
fn hex_dump(ev: &Event<'_>, crc: Option<u32>, line: &mut String) {
    let _ = write!(line, "index={} offset={} time=", ev.index, ev.offset);
    time::push_rfc3339(ev.timestamp, line);
    let _ = write!(
        line,
        " timestamp={} size={} crc32=",
        ev.timestamp,
        ev.payload.len()
    );
    match crc {
        Some(c) => {
            let _ = writeln!(line, "{c:08x}");
        }
        None => line.push_str("none\n"),
    }
    for (i, chunk) in ev.payload.chunks(16).enumerate() {
        let _ = write!(line, "  {:08x}  ", i * 16);
        for j in 0..16 {
            match chunk.get(j) {
                Some(b) => {
                    let _ = write!(line, "{b:02x} ");
                }
                None => line.push_str("   "),
            }
            if j == 7 {
                line.push(' ');
            }
        }
        line.push_str(" |");
        line.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        line.push_str("|\n");
    }
}

/// `p` for humans: UTF-8 as is, except that control characters, invisible characters (bidi
/// controls, zero-width characters) and backslashes are escaped (`\n`, `\u{202e}`, `\\`) and
/// bytes that are not UTF-8 are shown as `\xff`, like `ls -b`. Every path the CLI prints goes
/// through here, so a file name cannot break an error line or reorder the text around it.
pub fn path(p: &Path) -> String {
    let mut out = String::new();
    push_escaped_bytes(p.as_os_str().as_bytes(), &mut out);
    out
}

/// Appends `bytes` escaped as [`path`] describes.
pub fn push_escaped_bytes(mut bytes: &[u8], out: &mut String) {
    while !bytes.is_empty() {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                push_escaped_str(s, out);
                return;
            }
            Err(e) => {
                let (good, rest) = bytes.split_at(e.valid_up_to());
                // `good` is valid UTF-8 by `valid_up_to`.
                push_escaped_str(std::str::from_utf8(good).unwrap_or_default(), out);
                let bad = e.error_len().unwrap_or(rest.len());
                for b in &rest[..bad] {
                    let _ = write!(out, "\\x{b:02x}");
                }
                bytes = &rest[bad..];
            }
        }
    }
}

/// Appends `s` with control characters, invisible characters and backslashes escaped.
pub fn push_escaped_str(s: &str, out: &mut String) {
    if !s.chars().any(needs_escape) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// `s` with control and invisible characters escaped, backslashes left as they are: for a whole
/// message whose paths are already escaped by [`path`], or that quotes text (such as a library
/// error naming a path) that has not been.
pub fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push(c),
            c if needs_escape(c) => push_escaped_str(c.encode_utf8(&mut [0; 4]), &mut out),
            c => out.push(c),
        }
    }
    out
}

/// Whether `c` is shown escaped: a backslash, a control character (Unicode Cc), or a character
/// that is invisible or changes how the text around it is laid out: the format characters (Cf:
/// bidi controls and isolates, zero-width space and joiners, word joiner, BOM, tags, ...) and the
/// line and paragraph separators.
fn needs_escape(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(
            u32::from(c),
            0xAD | 0x600..=0x605
                | 0x61C
                | 0x6DD
                | 0x70F
                | 0x180E
                | 0x200B..=0x200F
                | 0x2028..=0x202E
                | 0x2060..=0x2064
                | 0x2066..=0x206F
                | 0xFEFF
                | 0xFFF9..=0xFFFB
                | 0x110BD
                | 0x1BCA0..=0x1BCA3
                | 0x1D173..=0x1D17A
                | 0xE0001
                | 0xE0020..=0xE007F
        )
}

/// `1 event`, `2 events`, `0 events`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Lower-case hex of `bytes`.
pub fn push_hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_escaped() {
        use std::ffi::OsStr;
        let p = |b: &[u8]| path(Path::new(OsStr::from_bytes(b)));
        assert_eq!(p(b"/tmp/plain.journal"), "/tmp/plain.journal");
        assert_eq!(p("/tmp/ünï".as_bytes()), "/tmp/ünï");
        assert_eq!(p(b"a\nb"), "a\\nb");
        assert_eq!(p(b"a\xffb\xc3"), "a\\xffb\\xc3");
        assert_eq!(
            p("x\u{202e}y\\z\u{1b}".as_bytes()),
            "x\\u{202e}y\\\\z\\u{1b}"
        );
        assert_eq!(count(1, "event"), "1 event");
        assert_eq!(count(0, "event"), "0 events");
        assert_eq!(count(2, "event"), "2 events");
    }

    fn render(format: Format, ts: i64, payload: &[u8]) -> String {
        // Building an `Event` by hand is not possible outside the library (it may gain fields), so
        // these tests go through a real journal.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut w = journal::Writer::options()
            .chunk_size(4096)
            .create(&path)
            .unwrap();
        w.append(ts, payload).unwrap();
        w.close().unwrap();
        let r = journal::Reader::open(&path).unwrap();
        let ev = r.iter().next().unwrap().unwrap();
        let mut out = EventWriter::new(Vec::new(), format);
        out.write(&ev).unwrap();
        String::from_utf8(out.out).unwrap()
    }

    #[test]
    fn formats() {
        let ts = 1_700_000_000_000_000_123;
        assert_eq!(
            render(Format::Text, ts, b"hello"),
            "index=0 time=2023-11-14T22:13:20.000000123Z size=5 text=hello\n"
        );
        assert_eq!(
            render(Format::Text, ts, b"a\nb"),
            "index=0 time=2023-11-14T22:13:20.000000123Z size=3 hex=610a62\n"
        );
        assert_eq!(
            render(Format::Jsonl, ts, b"hello"),
            "{\"index\":0,\"offset\":24,\"timestamp\":1700000000000000123,\"size\":5,\
             \"crc32\":2723780466,\"payload\":\"aGVsbG8=\"}\n"
        );
        assert_eq!(render(Format::Raw, ts, b"hello"), "hello");
        assert_eq!(
            render(Format::Text, ts, "a\u{202e}b\u{200b}c\\d".as_bytes()),
            "index=0 time=2023-11-14T22:13:20.000000123Z size=11 text=a\\u{202e}b\\u{200b}c\\\\d\n"
        );
        assert_eq!(
            render(Format::Hex, ts, b"hello, world!\x00\x01\x02\xff"),
            "index=0 offset=24 time=2023-11-14T22:13:20.000000123Z timestamp=1700000000000000123 \
             size=17 crc32=4a7ff9ea\n  \
             00000000  68 65 6c 6c 6f 2c 20 77  6f 72 6c 64 21 00 01 02  |hello, world!...|\n  \
             00000010  ff                                                |.|\n"
        );
    }
}
