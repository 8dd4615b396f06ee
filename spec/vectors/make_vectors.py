#!/usr/bin/env python3
"""Write the format-v1 test vectors of spec/FORMAT.md section 13.

A third encoder of the format, written from spec/FORMAT.md alone (stdlib only: struct, zlib).
Run it by hand from anywhere; it writes every `*.journal` file and `expected.txt` next to itself and
deletes `*.journal` files there that it does not write. Its output is committed; CI never runs it.

The expected outcome of every vector is declared from how the vector is built (the offsets the builder
used), not computed by decoding it. As a self-check, the script then decodes each vector with a small
decoder that follows FORMAT.md section 6 and refuses to write anything if the two disagree.

See README.md for the list of vectors and the grammar of expected.txt.
"""

import os
import struct
import sys
import zlib

HEADER_LEN = 24  # section 3
ENTRY_HEADER_LEN = 16  # section 4
MAX_PAYLOAD = 1 << 30  # section 11
MAX_WRITE_OFFSET = 1 << 48  # section 3 rule 4 / section 11

# Section 12: the worked example's creation time (2023-11-14T22:13:20Z).
T0 = 1_700_000_000_000_000_000


def pad8(n):
    """Section 2: n rounded up to the next multiple of 8."""
    return (n + 7) & ~7


def crc(timestamp, size, payload):
    """Section 5: CRC-32 of timestamp (i64 LE) || size (u32 LE) || payload."""
    return zlib.crc32(struct.pack("<qI", timestamp, size) + payload) & 0xFFFFFFFF


def header(write_offset, event_count, start_timestamp=T0):
    """Section 3: the 24-byte stream header."""
    return struct.pack("<QQq", write_offset, event_count, start_timestamp)


def entry(timestamp, payload, *, size=None, checksum=None, padding=None):
    """Section 4: one entry. `size`, `checksum` and `padding` override the correct values."""
    real_size = len(payload) if size is None else size
    if checksum is None:
        checksum = crc(timestamp, real_size, payload)
    if padding is None:
        padding = bytes(pad8(ENTRY_HEADER_LEN + len(payload)) - (ENTRY_HEADER_LEN + len(payload)))
    return struct.pack("<qII", timestamp, real_size, checksum) + payload + padding


def payload_of(n, seed):
    """A deterministic, varied payload of n bytes."""
    return bytes((seed * 31 + i * 7 + (i >> 8)) & 0xFF for i in range(n))


class Body:
    """Entries laid out from offset 24, remembering where each one starts."""

    def __init__(self):
        self.data = b""
        self.starts = []

    @property
    def end(self):
        """The offset just past the last entry appended."""
        return HEADER_LEN + len(self.data)

    def add(self, raw):
        """Append raw entry bytes; return the offset at which they start."""
        start = self.end
        self.starts.append(start)
        self.data += raw
        return start

    def add_event(self, timestamp, payload):
        """Append a correct entry; return its offset."""
        return self.add(entry(timestamp, payload))


# --- expectations ------------------------------------------------------------------------------


def intact(events, end):
    return f"intact events={events} end={end}"


def damaged(events, end, reason):
    # A damaged journal's damage offset is always the end of its content (section 6.2).
    return f"damaged events={events} end={end} offset={end} reason={reason}"


NOT_A_JOURNAL = "not_a_journal"


# --- the vectors -------------------------------------------------------------------------------


def build_vectors():
    """Return a list of (file name, bytes, expected outcome)."""
    v = []

    # ---- valid ----

    v.append(("empty.journal", header(24, 0), intact(0, 24)))

    b = Body()
    b.add_event(T0 + 1, b"")
    b.add_event(-1, b"")  # negative timestamps are legal (section 2)
    b.add_event(T0 - 5, b"")  # timestamps need not be ordered (section 6.4)
    v.append(("zero_length.journal", header(b.end, 3) + b.data, intact(3, b.end)))

    b = Body()
    sizes = [0, 1, 7, 8, 9, 300, 15, 16, 17]
    for i, n in enumerate(sizes):
        b.add_event(T0 + 1000 * i, payload_of(n, i))
    v.append(
        ("mixed_sizes.journal", header(b.end, len(sizes)) + b.data, intact(len(sizes), b.end))
    )

    b = Body()
    b.add_event(T0 + 10, b"first")
    b.add_event(T0 + 20, payload_of(100, 2))
    data = header(b.end, 2) + b.data
    data += bytes(4096 - len(data))  # a preallocated chunk of zeros past write_offset
    v.append(("preallocated_tail.journal", data, intact(2, b.end)))

    b = Body()
    b.add_event(1_700_000_000_000_000_123, b"hello")
    b.add_event(1_700_000_000_000_004_567, b"")
    example = header(b.end, 2, T0) + b.data
    assert example == bytes.fromhex(
        "4000000000000000"
        "0200000000000000"
        "00002a36fe9c9717"
        "7b002a36fe9c9717"
        "05000000729759a2"
        "68656c6c6f000000"
        "d7112a36fe9c9717"
        "000000001f5cf729"
    ), "the worked example of FORMAT.md section 12 does not encode as printed"
    v.append(("example.journal", example, intact(2, 64)))

    b = Body()
    b.add_event(T0 + 1, b"published one")
    b.add_event(T0 + 2, b"published two")
    wo = b.end
    b.add_event(T0 + 3, b"written, never published")  # a valid-looking entry at write_offset
    data = header(wo, 2) + b.data + bytes(64)
    v.append(("stale_tail.journal", data, intact(2, wo)))

    b = Body()
    for i in range(3):
        b.add_event(T0 + i, payload_of(5 + i, i))
    # Crash between steps 2 and 3 of section 7.1: event_count lags by one.
    v.append(("event_count_lags.journal", header(b.end, 2) + b.data, intact(3, b.end)))

    b = Body()
    b.add_event(T0, payload_of(16, 1))
    b.add_event(T0 + 1, payload_of(24, 2))
    # write_offset exactly 2^48 is still structurally valid (rule 4 is `<=`); the file is short of
    # it, so the walk stops at the first entry header that does not fit in the file (check 2).
    v.append(("max_offset.journal", header(MAX_WRITE_OFFSET, 2) + b.data, damaged(2, b.end, "truncated")))

    # ---- damaged ----

    b = Body()
    b.add_event(T0, b"intact before the flip")
    bad = b.add_event(T0 + 1, payload_of(40, 7))
    b.add_event(T0 + 2, b"after the flip")
    data = bytearray(header(b.end, 3) + b.data)
    data[bad + ENTRY_HEADER_LEN + 13] ^= 0x10
    v.append(("flipped_payload_bit.journal", bytes(data), damaged(1, bad, "checksum")))

    b = Body()
    b.add_event(T0, payload_of(20, 1))
    b.add_event(T0 + 1, payload_of(9, 2))
    last = b.add_event(T0 + 2, payload_of(60, 3))
    full = header(b.end, 3) + b.data
    # The file ends inside the last entry's payload; write_offset is past the file length (check 5).
    v.append(("torn_tail.journal", full[: last + 30], damaged(2, last, "truncated")))
    # The file ends inside the last entry's header (check 2).
    v.append(("torn_entry_header.journal", full[: last + 10], damaged(2, last, "truncated")))
    # The file ends exactly at an entry boundary, below write_offset (check 2).
    v.append(("torn_at_boundary.journal", full[:last], damaged(2, last, "truncated")))

    b = Body()
    b.add_event(T0, b"ok")
    bad = b.add(entry(T0 + 1, payload_of(48, 4), size=0xFFFFFFFF))
    v.append(("hostile_size.journal", header(b.end, 2) + b.data, damaged(1, bad, "bad_header")))

    b = Body()
    b.add_event(T0, b"ok")
    bad = b.add(entry(T0 + 1, payload_of(48, 4), size=MAX_PAYLOAD + 1))
    v.append(("size_over_max.journal", header(b.end, 2) + b.data, damaged(1, bad, "bad_header")))

    # size == MAX_PAYLOAD passes check 3; the entry then runs past write_offset (check 4).
    b = Body()
    b.add_event(T0, b"ok")
    bad = b.add(entry(T0 + 1, payload_of(48, 4), size=MAX_PAYLOAD))
    v.append(("size_at_max.journal", header(b.end, 2) + b.data, damaged(1, bad, "overrun")))

    # A complete, correctly checksummed entry that straddles write_offset (check 4).
    b = Body()
    b.add_event(T0, payload_of(3, 1))
    bad = b.add_event(T0 + 1, payload_of(100, 2))
    v.append(("overrun.journal", header(bad + 64, 2) + b.data, damaged(1, bad, "overrun")))

    # Check 4 comes before check 5: the entry runs past write_offset, which is past the file end.
    b = Body()
    b.add_event(T0, payload_of(3, 1))
    bad = b.add_event(T0 + 1, payload_of(1000, 2))
    data = (header(bad + 64, 2) + b.data)[: bad + 32]
    v.append(("overrun_past_eof.journal", data, damaged(1, bad, "overrun")))

    b = Body()
    b.add_event(T0, payload_of(8, 1))
    bad = b.add(entry(T0 + 1, b"pad", padding=b"\x00\x00\x00\x00\x01"))
    b.add_event(T0 + 2, b"never reached")
    v.append(("bad_padding.journal", header(b.end, 3) + b.data, damaged(1, bad, "bad_padding")))

    # Check 6 comes before check 7: a wrong checksum and a nonzero padding byte -> checksum.
    b = Body()
    b.add_event(T0, payload_of(8, 1))
    good = entry(T0 + 1, b"pad", padding=b"\x00\x00\x00\x00\x01")
    bad = b.add(good[:12] + struct.pack("<I", (struct.unpack("<I", good[12:16])[0] ^ 1)) + good[16:])
    v.append(("checksum_before_padding.journal", header(b.end, 2) + b.data, damaged(1, bad, "checksum")))

    # Power cut: the header reached the disk, the last two entries did not (they read as zeros).
    b = Body()
    b.add_event(T0, payload_of(12, 1))
    b.add_event(T0 + 1, payload_of(1, 2))
    zero_at = b.end
    b.add(bytes(24))
    b.add(bytes(32))
    v.append(("zeroed_tail.journal", header(b.end, 4) + b.data + bytes(64), damaged(2, zero_at, "checksum")))

    # write_offset - p == 8: no room for an entry header below write_offset (check 1). The bytes at
    # and past write_offset hold a complete valid entry, which must not be looked at.
    b = Body()
    b.add_event(T0, payload_of(7, 1))
    bad = b.add_event(T0 + 1, payload_of(9, 2))
    v.append(("truncated_header.journal", header(bad + 8, 2) + b.data, damaged(1, bad, "truncated")))

    # ---- not a journal ----

    v.append(("zero_bytes.journal", b"", NOT_A_JOURNAL))
    v.append(("short.journal", header(24, 0)[:23], NOT_A_JOURNAL))
    text = b"This is a text file, not a journal.\nIt has a few lines of ASCII.\nThe end.\n"
    v.append(("text.journal", text, NOT_A_JOURNAL))
    b = Body()
    b.add_event(T0, b"x")
    v.append(("misaligned.journal", header(28, 1) + b.data, NOT_A_JOURNAL))
    v.append(("below_header.journal", header(16, 0) + bytes(16), NOT_A_JOURNAL))
    # A preallocated file whose header was never written: write_offset 0.
    v.append(("all_zeros.journal", bytes(4096), NOT_A_JOURNAL))
    b = Body()
    b.add_event(T0, b"x")
    v.append(("huge_offset.journal", header(MAX_WRITE_OFFSET + 8, 1) + b.data, NOT_A_JOURNAL))

    return v


# --- self-check decoder (FORMAT.md sections 3 and 6) -------------------------------------------


def check_entry(data, p, e):
    """Section 6.1: return (length, None) for a valid entry at p, else (None, reason)."""
    n = len(data)
    if p + 16 > e:
        return None, "truncated"
    if p + 16 > n:
        return None, "truncated"
    ts, size, checksum = struct.unpack_from("<qII", data, p)
    if size > MAX_PAYLOAD:
        return None, "bad_header"
    length = pad8(16 + size)
    if p + length > e:
        return None, "overrun"
    if p + length > n:
        return None, "truncated"
    if crc(ts, size, data[p + 16 : p + 16 + size]) != checksum:
        return None, "checksum"
    if any(data[p + 16 + size : p + length]):
        return None, "bad_padding"
    return length, None


def decode(data):
    """Sections 3 and 6.2: the outcome line for `data`."""
    if len(data) < HEADER_LEN:
        return NOT_A_JOURNAL
    e = struct.unpack_from("<Q", data, 0)[0]
    if e < HEADER_LEN or e % 8 != 0 or e > MAX_WRITE_OFFSET:
        return NOT_A_JOURNAL
    p, events = HEADER_LEN, 0
    while p < e:
        length, reason = check_entry(data, p, e)
        if reason is not None:
            return damaged(events, p, reason)
        events += 1
        p += length
    return intact(events, p)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    vectors = build_vectors()
    names = [name for name, _, _ in vectors]
    assert len(set(names)) == len(names), "duplicate vector name"
    failed = False
    for name, data, expected in vectors:
        got = decode(data)
        if got != expected:
            print(f"{name}: declared '{expected}', self-check decoded '{got}'", file=sys.stderr)
            failed = True
    if failed:
        sys.exit(1)

    for old in os.listdir(here):
        if old.endswith(".journal") and old not in names:
            os.remove(os.path.join(here, old))
    for name, data, _ in vectors:
        with open(os.path.join(here, name), "wb") as f:
            f.write(data)
    with open(os.path.join(here, "expected.txt"), "w", encoding="ascii", newline="\n") as f:
        for name, _, expected in sorted(vectors, key=lambda v: v[0]):
            f.write(f"{name} {expected}\n")
    print(f"wrote {len(vectors)} vectors and expected.txt to {here}")


if __name__ == "__main__":
    main()
