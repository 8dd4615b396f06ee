#!/usr/bin/env python3
"""Write the sparse-index test vectors of spec/INDEX.md section 13 into spec/vectors/index/.

An encoder of the index format written from spec/INDEX.md alone (stdlib only: struct, zlib), beside
make_vectors.py which does the same for the journal format. Run it by hand from anywhere; it writes
every file of index/ and index/expected.txt, and deletes files there that it does not write. Its
output is committed; CI never runs it.

The expected outcome of every vector is declared from how the vector is built (which bytes were
damaged, which journal the index belongs to), not computed by decoding it. The library's test suite
(journal/tests/it/index.rs) checks every line, with the library and with an independent decoder.
"""

import os
import struct
import zlib

T0 = 1_700_000_000_000_000_000  # FORMAT.md 12
I64_MIN = -(1 << 63)
HEADER = struct.Struct("<8sIIQQqIIQQQqQII")  # INDEX.md 3, 96 bytes
RECORD = struct.Struct("<QQqII")  # INDEX.md 4, 32 bytes
assert HEADER.size == 96 and RECORD.size == 32


def pad8(n):
    return (n + 7) & ~7


def crc(b):
    return zlib.crc32(b) & 0xFFFFFFFF


def entry(ts, payload):
    """FORMAT.md 4 and 5."""
    head = struct.pack("<qI", ts, len(payload))
    body = head + struct.pack("<I", crc(head + payload)) + payload
    return body + b"\0" * (pad8(len(body)) - len(body))


def journal(events, start=T0):
    """A cleanly closed journal (FORMAT.md 3, 4)."""
    body = b"".join(entry(ts, p) for ts, p in events)
    return struct.pack("<QQq", 24 + len(body), len(events), start) + body


def walk(events):
    """(index, offset, timestamp, stored crc, length) of every entry."""
    out, off = [], 24
    for i, (ts, p) in enumerate(events):
        e = entry(ts, p)
        out.append((i, off, ts, struct.unpack_from("<I", e, 12)[0], len(e)))
        off += len(e)
    return out


def header_bytes(fields):
    raw = HEADER.pack(*fields[:-1], 0)
    return raw[:92] + struct.pack("<I", crc(raw[:92]))


def record_bytes(index, offset, max_ts, entry_crc):
    raw = RECORD.pack(index, offset, max_ts, entry_crc, 0)
    return raw[:28] + struct.pack("<I", crc(raw[:28]))


def build(events, start, interval_bytes, interval_events, version=1, flags=0):
    """INDEX.md 5: a record for entry 0, then whenever interval_bytes journal bytes or
    interval_events events have passed since the last record."""
    recs, run_max, last = [], I64_MIN, None
    ents = walk(events)
    for i, off, ts, c, _ in ents:
        run_max = max(run_max, ts)
        if last is None or off - last[1] >= interval_bytes or i - last[0] >= interval_events:
            last = (i, off, run_max, c)
            recs.append(last)
    if ents:
        first_crc, (_, last_off, _, last_crc, last_len) = ents[0][3], ents[-1]
        checkpoint = last_off + last_len
    else:
        first_crc = last_crc = last_off = 0
        checkpoint = 24
    head = header_bytes(
        [b"JRNL.IDX", version, flags, interval_bytes, interval_events, start, first_crc,
         last_crc, last_off, checkpoint, len(ents), run_max, len(recs), 0, 0])
    return head + b"".join(record_bytes(*r) for r in recs), recs


def with_header_field(idx, i, value):
    """Changes header field i (struct order) and recomputes the header CRC."""
    fields = list(HEADER.unpack_from(idx))
    fields[i] = value
    return header_bytes(fields) + idx[96:]


def flip(b, byte, bit=0):
    b = bytearray(b)
    b[byte] ^= 1 << bit
    return bytes(b)


# INDEX.md 12: the worked example. Timestamps relative to T0; events 2, 3, 5 go backwards.
EXAMPLE = [(T0 + 100, b""), (T0 + 300, b""), (T0 + 200, b""), (T0 + 250, b"x" * 60),
           (T0 + 600, b""), (T0 + 400, b"hello"), (T0 + 400, b""), (T0 + 900, b"ab")]
INTERVAL_BYTES, INTERVAL_EVENTS = 64, 3


def main():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "index")
    os.makedirs(here, exist_ok=True)
    files, lines = {}, []

    def put(name, data):
        files[name] = data
        return name

    def vec(name, jname, iname, load, check, seeks=()):
        lines.append(f"vector {name} {jname} {iname} load={load} check={check}")
        for kind, arg, res in seeks:
            lines.append(f"{kind} {name} {arg} -> {res}")

    ex_j = put("example.journal", journal(EXAMPLE))
    ex_bytes, recs = build(EXAMPLE, T0, INTERVAL_BYTES, INTERVAL_EVENTS)
    assert [(r[0], r[1]) for r in recs] == [(0, 24), (3, 72), (4, 152), (7, 208)], recs
    ex_i = put("example.idx", ex_bytes)
    # INDEX.md 8, worked through in 12.
    seeks = [("seek_index", 0, "0 24"), ("seek_index", 2, "0 24"), ("seek_index", 3, "3 72"),
             ("seek_index", 6, "4 152"), ("seek_index", 7, "7 208"), ("seek_index", 8, "8 232"),
             ("seek_index", 100, "8 232"),
             ("seek_time", T0 + 50, "0 24"), ("seek_time", T0 + 100, "0 24"),
             ("seek_time", T0 + 150, "0 24"), ("seek_time", T0 + 301, "3 72"),
             ("seek_time", T0 + 500, "3 72"), ("seek_time", T0 + 700, "4 152"),
             ("seek_time", T0 + 900, "4 152"), ("seek_time", T0 + 901, "8 232"),
             ("seek_time", I64_MIN, "0 24")]
    vec("example", ex_j, ex_i, "ok", "current", seeks)

    empty_j = put("empty.journal", journal([]))
    empty_i = put("empty.idx", build([], T0, 4096, 256)[0])
    vec("empty", empty_j, empty_i, "ok", "current",
        [("seek_index", 0, "0 24"), ("seek_index", 5, "0 24"), ("seek_time", T0, "0 24")])

    more = EXAMPLE + [(T0 + 50, b"late"), (T0 + 1000, b"")]
    app_j = put("appended.journal", journal(more))
    vec("stale", app_j, ex_i, "ok", "stale",
        [("seek_index", 9, "8 232"), ("seek_time", T0 + 950, "8 232"),
         ("seek_time", T0 + 700, "4 152")])

    vec("trailing_bytes", ex_j, put("trailing_bytes.idx", ex_bytes + b"\xff" * 5), "ok",
        "current", [("seek_index", 7, "7 208")])
    vec("truncated_header", ex_j, put("truncated_header.idx", ex_bytes[:95]), "truncated",
        "truncated")
    vec("truncated_record", ex_j, put("truncated_record.idx", ex_bytes[:-1]), "truncated",
        "truncated")
    vec("bad_magic", ex_j, put("bad_magic.idx", b"JRNL.IDY" + ex_bytes[8:]), "bad_magic",
        "bad_magic")
    vec("version_2", ex_j, put("version_2.idx", with_header_field(ex_bytes, 1, 2)),
        "unsupported_version", "unsupported_version")
    vec("header_checksum", ex_j, put("header_checksum.idx", flip(ex_bytes, 56)),
        "header_checksum", "header_checksum")
    vec("nonzero_flags", ex_j, put("nonzero_flags.idx", with_header_field(ex_bytes, 2, 1)),
        "bad_header", "bad_header")
    vec("record_checksum", ex_j, put("record_checksum.idx", flip(ex_bytes, 96 + 32 + 16, 3)),
        "record_checksum", "record_checksum")
    swapped = ex_bytes[:128] + ex_bytes[160:192] + ex_bytes[128:160] + ex_bytes[192:]
    vec("records_out_of_order", ex_j, put("records_out_of_order.idx", swapped), "bad_record",
        "bad_record")

    other_start = put("other_start.journal", journal(EXAMPLE, T0 + 1))
    vec("other_start", other_start, ex_i, "other_journal", "other_journal")
    other_first = put("other_first.journal", journal([(T0 + 101, b"")] + EXAMPLE[1:]))
    vec("other_first", other_first, ex_i, "other_journal", "other_journal")
    cut = put("cut.journal", journal(EXAMPLE[:6]))
    vec("journal_shorter", cut, ex_i, "journal_shorter", "journal_shorter")
    # The last entry rewritten with another valid entry of the same length (say after a cut back
    # and a new append): the checkpoint's last entry no longer matches.
    rewritten = put("rewritten.journal", journal(EXAMPLE[:7] + [(T0 + 900, b"zz")]))
    vec("rewritten_last", rewritten, ex_i, "entry_mismatch", "entry_mismatch")
    # Event 1 damaged (a timestamp bit): no record points at it, so loading the index cannot see
    # it (INDEX.md 10); a full check can, and so does a scan that reads it.
    j = bytearray(journal(EXAMPLE))
    j[40] ^= 1  # entry 0 is 16 bytes at 24, so entry 1 starts at 40
    vec("damaged_below_checkpoint", put("damaged_below.journal", bytes(j)), ex_i, "ok",
        "journal_damaged", [("seek_index", 6, "4 152"), ("seek_time", T0 + 700, "4 152")])
    # Event 4 (record 2's entry) replaced by another valid entry of the same length.
    changed = EXAMPLE[:4] + [(T0 + 650, b"")] + EXAMPLE[5:]
    ch_j = put("record_entry_changed.journal", journal(changed))
    vec("record_entry_changed", ch_j, ex_i, "ok", "record_mismatch",
        [("seek_index", 3, "3 72"), ("seek_index", 5, "entry_mismatch"),
         ("seek_time", T0 + 700, "entry_mismatch"), ("seek_index", 7, "7 208")])

    for name in os.listdir(here):
        if name not in files and name != "expected.txt":
            os.remove(os.path.join(here, name))
    for name, data in files.items():
        with open(os.path.join(here, name), "wb") as f:
            f.write(data)
    with open(os.path.join(here, "expected.txt"), "w") as f:
        f.write("# Generated by spec/vectors/make_index_vectors.py; grammar in spec/INDEX.md 13.\n")
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
