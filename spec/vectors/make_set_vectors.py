#!/usr/bin/env python3
"""Write the journal-set test vectors of spec/SET.md section 13 into spec/vectors/set/.

An encoder of sets written from spec/SET.md and spec/FORMAT.md alone (stdlib only: struct, zlib),
beside make_vectors.py (journals) and make_index_vectors.py (indexes). Run it by hand from anywhere;
it rewrites spec/vectors/set/ (every set directory and expected.txt) and deletes what it does not
write there. Its output is committed; CI never runs it. The output is deterministic.

The expected outcome of every set is declared from how the set is built (how many events each
segment got, which bytes were damaged), not computed by decoding it. As a self-check the script then
decodes every segment with a small decoder of FORMAT.md 6 and refuses to write anything if a
declared event count disagrees. See set/README.md for the list and the grammar of expected.txt.
"""

import os
import shutil
import struct
import sys
import zlib

T0 = 1_700_000_000_000_000_000  # FORMAT.md 12
SEC = 1_000_000_000
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "set")
KEYS = [
    "roll-period-ns",
    "roll-offset-ns",
    "roll-max-bytes",
    "retain-segments",
    "retain-bytes",
    "retain-age-ns",
]


def pad8(n):
    return (n + 7) & ~7


def entry(ts, payload):
    """FORMAT.md 4 and 5."""
    head = struct.pack("<qI", ts, len(payload))
    body = head + struct.pack("<I", zlib.crc32(head + payload) & 0xFFFFFFFF) + payload
    return body + b"\0" * (pad8(len(body)) - len(body))


def journal(events, start=T0, tail=0):
    """A journal holding `events`; `tail` zero bytes past write_offset (an unclosed segment)."""
    body = b"".join(entry(ts, p) for ts, p in events)
    return struct.pack("<QQq", 24 + len(body), len(events), start) + body + b"\0" * tail


def meta(period=0, offset=0, max_bytes=0, keep=0, rbytes=0, age=0):
    """SET.md 3: the metadata file as a writer writes it."""
    values = [period, offset, max_bytes, keep, rbytes, age]
    return "journal-set 1\n" + "".join(f"{k} {v}\n" for k, v in zip(KEYS, values))


def segment_name(first):
    """SET.md 2."""
    return f"{first:020d}.journal"


def payload(i, n):
    return bytes((i * 7 + j * 13) & 0xFF for j in range(n))


def events_crc(events):
    """The crc of expected.txt: CRC-32 over timestamp (i64 LE) || payload of every event, in
    global order."""
    c = 0
    for ts, p in events:
        c = zlib.crc32(struct.pack("<q", ts) + p, c)
    return c & 0xFFFFFFFF


def split_by_size(events, max_bytes):
    """SET.md 5.2 rule 2 (a segment always takes one event)."""
    segs, cur, wo = [], [], 24
    for ts, p in events:
        n = pad8(16 + len(p))
        if cur and wo + n > max_bytes:
            segs.append(cur)
            cur, wo = [], 24
        cur.append((ts, p))
        wo += n
    segs.append(cur)
    return segs


def cycle(ts, period, offset):
    return (ts - offset) // period  # floor division, as SET.md 5.1


def split_by_time(events, period, offset):
    """SET.md 5.2 rule 1: roll when an event's cycle is later than the segment's first event's."""
    segs, cur, seg_cycle = [], [], None
    for ts, p in events:
        c = cycle(ts, period, offset)
        if cur and c > seg_cycle:
            segs.append(cur)
            cur = []
        if not cur:
            seg_cycle = c
        cur.append((ts, p))
    segs.append(cur)
    return segs


class SetBuilder:
    def __init__(self, name):
        self.name = name
        self.files = {}  # file name -> bytes
        self.declared = {}  # segment first index -> declared event count

    def meta(self, text):
        self.files["journal-set"] = text.encode()

    def segments(self, segs, first=0, tails=None):
        """Writes consecutive segments (a healthy chain) from `first`; returns the next index."""
        tails = tails or {}
        for k, evs in enumerate(segs):
            self.files[segment_name(first)] = journal(evs, T0 + k, tails.get(k, 0))
            self.declared[first] = len(evs)
            first += len(evs)
        return first


def listing(declared):
    if not declared:
        return "-"
    return ",".join(f"{f}:{n}" for f, n in sorted(declared.items()))


def build():
    sets = []  # (builder, expected line suffix)

    # SET.md 12, the worked example: 100 events of 100 bytes, rolled every 4096 bytes.
    b = SetBuilder("worked_example")
    b.meta(meta(max_bytes=4096))
    evs = [(T0 + i * 1000, payload(i, 100)) for i in range(100)]
    segs = split_by_size(evs, 4096)
    assert [len(s) for s in segs] == [33, 33, 33, 1]
    nxt = b.segments(segs)
    b.files[".lock"] = b""
    b.files[".next.journal"] = journal([], T0 + 9)  # prepared ahead (SET.md 5.3)
    sets.append((b, f"intact first=0 next={nxt} segments={listing(b.declared)} crc={events_crc(evs):08x}"))

    # Mixed sizes and one event larger than the roll size: it gets a segment of its own.
    b = SetBuilder("oversize_event")
    b.meta(meta(max_bytes=4096))
    sizes = [0, 1, 700, 15, 900, 5000, 8, 650, 3000, 3000, 17]
    evs = [(T0 + i, payload(i, n)) for i, n in enumerate(sizes)]
    segs = split_by_size(evs, 4096)
    assert [len(s) for s in segs] == [5, 1, 3, 2], [len(s) for s in segs]
    nxt = b.segments(segs)
    sets.append((b, f"intact first=0 next={nxt} segments={listing(b.declared)} crc={events_crc(evs):08x}"))

    # Daily cycles starting at 22:00 UTC, one timestamp going back (it stays in its segment) and a
    # jump over an empty cycle (one roll).
    b = SetBuilder("daily_at_2200")
    period, offset = 86_400 * SEC, 22 * 3_600 * SEC
    day = T0 - T0 % period
    stamps = [
        day + 21 * 3_600 * SEC,  # cycle -1 relative to day
        day + 21 * 3_600 * SEC + 5,
        day + 22 * 3_600 * SEC,  # cycle 0: roll
        day + 20 * 3_600 * SEC,  # back in time: no roll
        day + 30 * 3_600 * SEC,
        day + 46 * 3_600 * SEC + 1,  # cycle 1: roll
        day + 100 * 3_600 * SEC,  # cycle 3: one roll over the empty cycle 2
        day + 101 * 3_600 * SEC,
    ]
    evs = [(ts, payload(i, 24 + i)) for i, ts in enumerate(stamps)]
    b.meta(meta(period=period, offset=offset))
    segs = split_by_time(evs, period, offset)
    assert [len(s) for s in segs] == [2, 3, 1, 2], [len(s) for s in segs]
    nxt = b.segments(segs)
    sets.append((b, f"intact first=0 next={nxt} segments={listing(b.declared)} crc={events_crc(evs):08x}"))

    # A crash between R4 and R6 (SET.md 7.4): the newest segment is empty and the sealed one was
    # never closed cleanly (a preallocated tail of zeros past its write_offset).
    b = SetBuilder("empty_newest")
    b.meta(meta(max_bytes=4096))
    evs = [(T0 + i, payload(i, 40 * (i % 5))) for i in range(12)]
    segs = split_by_size(evs, 4096)
    assert len(segs) == 1
    nxt = b.segments([segs[0], []], tails={0: 4096})
    sets.append((b, f"intact first=0 next={nxt} segments={listing(b.declared)} crc={events_crc(evs):08x}"))

    # A crash before R4 (SET.md 7.4): a stale .next.journal holding a valid event, its index, and
    # the index renamed by R3 for a segment that does not exist. Readers ignore all three.
    b = SetBuilder("stale_next")
    b.meta(meta(max_bytes=4096))
    evs = [(T0 + i, payload(i, 500)) for i in range(10)]
    segs = split_by_size(evs, 4096)
    nxt = b.segments(segs)
    b.files[".next.journal"] = journal([(T0 + 99, b"never published in the set")], T0 + 50)
    b.files[".next.journal.idx"] = b"JRNL.IDX not a real index"
    b.files[segment_name(nxt) + ".idx"] = b"JRNL.IDX orphan index"
    sets.append((b, f"intact first=0 next={nxt} segments={listing(b.declared)} crc={events_crc(evs):08x}"))

    # Retention removed the front: the first available index is 40 (SET.md 4).
    b = SetBuilder("pruned_front")
    b.meta(meta(max_bytes=4096, keep=2))
    evs = [(T0 + i, payload(i, 1000)) for i in range(40, 48)]
    segs = split_by_size(evs, 4096)
    assert [len(s) for s in segs] == [4, 4]
    nxt = b.segments(segs, first=40)
    sets.append((b, f"intact first=40 next={nxt} segments={listing(b.declared)} crc={events_crc(evs):08x}"))

    # A set just created: metadata, no segment yet; and one whose first segment is a 0-byte file
    # (a crash inside the first segment's creation, SET.md 6.1, 7.2).
    b = SetBuilder("no_segment")
    b.meta(meta())
    sets.append((b, f"intact first=0 next=0 segments=- crc={events_crc([]):08x}"))
    b = SetBuilder("creating")
    b.meta(meta(period=3_600 * SEC))
    b.files[segment_name(0)] = b""
    b.declared[0] = 0
    sets.append((b, f"intact first=0 next=0 segments=0:0 crc={events_crc([]):08x}"))

    # Broken chains (SET.md 4, 9): a sealed segment that lost its tail (a gap), and an overlap.
    b = SetBuilder("broken_chain_gap")
    b.meta(meta(max_bytes=4096))
    evs = [(T0 + i, payload(i, 64)) for i in range(12)]
    b.files[segment_name(0)] = journal(evs[:5], T0)
    b.files[segment_name(7)] = journal(evs[7:], T0 + 1)
    b.declared = {0: 5, 7: 5}
    sets.append((b, f"broken_chain first=0 segments={listing(b.declared)} at=0 count=5 found=7"))
    b = SetBuilder("broken_chain_overlap")
    b.meta(meta(max_bytes=4096))
    b.files[segment_name(0)] = journal(evs[:5], T0)
    b.files[segment_name(3)] = journal(evs[3:8], T0 + 1)
    b.declared = {0: 5, 3: 5}
    sets.append((b, f"broken_chain first=0 segments={listing(b.declared)} at=0 count=5 found=3"))

    # A power cut under `never` (SET.md 9): the sealed segment's header reached the disk, its last
    # entry did not (zeros): the segment is damaged, and the set with it.
    b = SetBuilder("damaged_sealed")
    b.meta(meta(max_bytes=4096))
    first = journal(evs[:6], T0)
    cut = 24 + 5 * pad8(16 + 64)
    first = first[:cut] + b"\0" * (len(first) - cut)
    b.files[segment_name(0)] = first
    b.files[segment_name(6)] = journal(evs[6:], T0 + 1)
    b.declared = {0: 5, 6: 6}
    sets.append((b, f"damaged first=0 segments={listing(b.declared)} at=0"))

    # Not sets, or sets whose metadata is refused (SET.md 2, 3).
    b = SetBuilder("no_metadata")
    b.files[segment_name(0)] = journal(evs[:2], T0)
    sets.append((b, "not_a_set"))
    for name, text in [
        ("meta_unknown_key", meta(max_bytes=4096) + "compress zstd\n"),
        ("meta_no_newline", meta(max_bytes=4096).rstrip("\n")),
        ("meta_bad_policy", meta(max_bytes=100)),
        ("meta_version_2", meta().replace("journal-set 1", "journal-set 2")),
    ]:
        b = SetBuilder(name)
        b.meta(text)
        b.files[segment_name(0)] = journal(evs[:2], T0)
        sets.append((b, "bad_meta"))
    return sets


def count_events(data):
    """FORMAT.md 6.2, just enough for the self-check: the number of valid events."""
    if len(data) < 24:
        return None
    wo = struct.unpack_from("<Q", data, 0)[0]
    p, n = 24, 0
    while p < wo:
        if p + 16 > min(wo, len(data)):
            break
        ts, size, c = struct.unpack_from("<qII", data, p)
        e = p + pad8(16 + size)
        if e > wo or e > len(data):
            break
        pl = data[p + 16 : p + 16 + size]
        if zlib.crc32(struct.pack("<qI", ts, size) + pl) & 0xFFFFFFFF != c:
            break
        if any(data[p + 16 + size : e]):
            break
        p, n = e, n + 1
    return n


def main():
    sets = build()
    for b, _ in sets:
        for first, n in b.declared.items():
            data = b.files[segment_name(first)]
            got = count_events(data)
            if (got or 0) != n:
                print(f"{b.name}/{segment_name(first)}: declared {n} events, decoded {got}")
                sys.exit(1)
    if os.path.isdir(OUT):
        for entry in os.listdir(OUT):
            path = os.path.join(OUT, entry)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif entry != "README.md":
                os.remove(path)
    else:
        os.makedirs(OUT)
    lines = []
    for b, outcome in sorted(sets, key=lambda s: s[0].name):
        d = os.path.join(OUT, b.name)
        os.makedirs(d)
        for fname, data in b.files.items():
            with open(os.path.join(d, fname), "wb") as f:
                f.write(data)
        lines.append(f"{b.name} {outcome}\n")
    with open(os.path.join(OUT, "expected.txt"), "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
