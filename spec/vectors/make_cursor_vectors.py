#!/usr/bin/env python3
"""Writes the named cursor test vectors (spec/CURSOR.md 13) into spec/vectors/cursor/.

A third encoder of the cursor file, written from CURSOR.md alone (Python 3 standard library only).
Each vector is a cursor file; expected.txt says what decoding it (CURSOR.md 5), matching it to a
journal (CURSOR.md 6.1) and resuming with it (CURSOR.md 6.2) must give. Before writing anything the
script decodes every vector with its own decoder below and exits with status 1, writing nothing, if
a declared outcome differs. The library's integration test (journal/tests/it/named_cursor.rs)
checks every line, with the library and with an independent decoder.
"""

import os
import struct
import sys
import zlib

T0 = 1_700_000_000_000_000_000  # FORMAT.md 12
LEN = 64  # CURSOR.md 4
MAGIC = b"JRNL.CUR"
KIND_JOURNAL, KIND_SET = 1, 2
HEAD = struct.Struct("<8sIIqI")  # CURSOR.md 4: bytes 0..28, the part the checksum covers
assert HEAD.size == 28


def crc(b):
    return zlib.crc32(b) & 0xFFFFFFFF


def cursor(kind, start, position, version=1, reserved=0, magic=MAGIC):
    """CURSOR.md 4: the 64 bytes of a cursor file."""
    head = HEAD.pack(magic, version, kind, start, reserved)
    return head + struct.pack("<IQ", crc(head), position) + b"\0" * 24


def fix_crc(b):
    """Recomputes header_checksum over bytes 0..28."""
    return b[:28] + struct.pack("<I", crc(b[:28])) + b[32:]


def flip(b, byte, bit=0):
    b = bytearray(b)
    b[byte] ^= 1 << bit
    return bytes(b)


def decode(b):
    """CURSOR.md 5, the checks in order: ("ok", kind, start, position) or (fault,)."""
    if len(b) < LEN:
        return ("truncated",)
    magic, version, kind, start, reserved = HEAD.unpack_from(b)
    (checksum, position) = struct.unpack_from("<IQ", b, 28)
    if magic != MAGIC:
        return ("bad_magic",)
    if version != 1:
        return ("unsupported_version",)
    if checksum != crc(b[:28]):
        return ("header_checksum",)
    if len(b) > LEN or kind not in (KIND_JOURNAL, KIND_SET) or reserved != 0 \
            or any(b[40:64]) or (kind == KIND_SET and start != 0):
        return ("bad_header",)
    return ("ok", kind, start, position)


def match(b, kind, start):
    """CURSOR.md 6.1 on a decoded cursor."""
    d = decode(b)
    return "ok" if (d[1], d[2]) == (kind, start) else "other_journal"


def resume(b, events):
    """CURSOR.md 6.2 on a decoded cursor."""
    return "ok" if decode(b)[3] <= events else "ahead"


def main():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cursor")
    files, lines = {}, []

    def vec(name, data, expect):
        files[name] = data
        got = decode(data)
        if got[0] == "ok":
            kind = {KIND_JOURNAL: "journal", KIND_SET: "set"}[got[1]]
            got = f"ok kind={kind} start={got[2]} position={got[3]}"
        else:
            got = got[0]
        if got != expect:
            sys.exit(f"{name}: declared {expect!r}, decoded {got!r}")
        lines.append(f"decode {name} {expect}")
        return data

    # CURSOR.md 12: the worked example.
    ex = vec("example.cursor", cursor(KIND_JOURNAL, T0, 5),
             f"ok kind=journal start={T0} position=5")
    vec("new.cursor", cursor(KIND_JOURNAL, T0, 0), f"ok kind=journal start={T0} position=0")
    st = vec("set.cursor", cursor(KIND_SET, 0, 42), "ok kind=set start=0 position=42")
    vec("max_position.cursor", cursor(KIND_JOURNAL, -1, (1 << 64) - 1),
        f"ok kind=journal start=-1 position={(1 << 64) - 1}")
    # The position is not covered by the checksum (CURSOR.md 4): any value decodes.
    vec("position_flipped.cursor", flip(ex, 32, 1), f"ok kind=journal start={T0} position=7")

    vec("empty.cursor", b"", "truncated")
    vec("header_only.cursor", ex[:32], "truncated")
    vec("truncated.cursor", ex[:63], "truncated")
    vec("long.cursor", ex + b"\0", "bad_header")
    vec("bad_magic.cursor", cursor(KIND_JOURNAL, T0, 5, magic=b"JRNL.IDX"), "bad_magic")
    # The first 64 bytes of a journal (FORMAT.md 12's example header and first entry).
    jr = struct.pack("<QQq", 232, 8, T0) + b"\0" * 40
    vec("journal_header.cursor", jr, "bad_magic")
    vec("version_2.cursor", cursor(KIND_JOURNAL, T0, 5, version=2), "unsupported_version")
    vec("version_2_bad_checksum.cursor", flip(cursor(KIND_JOURNAL, T0, 5, version=2), 20),
        "unsupported_version")
    vec("header_checksum.cursor", flip(ex, 16), "header_checksum")
    vec("checksum_flipped.cursor", flip(ex, 30, 7), "header_checksum")
    vec("kind_0.cursor", cursor(0, T0, 5), "bad_header")
    vec("kind_3.cursor", cursor(3, T0, 5), "bad_header")
    vec("reserved.cursor", cursor(KIND_JOURNAL, T0, 5, reserved=1), "bad_header")
    vec("tail_reserved.cursor", flip(ex, 63, 7), "bad_header")
    vec("set_identity.cursor", cursor(KIND_SET, T0, 5), "bad_header")
    # Two faults: rule order decides (a short file is truncated whatever it holds).
    vec("short_bad_magic.cursor", b"JRNL.IDX" + ex[8:40], "truncated")
    assert fix_crc(flip(ex, 16)) == cursor(KIND_JOURNAL, T0 ^ 1, 5)

    for name, kind, start, res in [
            ("example.cursor", "journal", T0, "ok"),
            ("example.cursor", "journal", T0 + 1, "other_journal"),
            ("example.cursor", "set", 0, "other_journal"),
            ("set.cursor", "set", 0, "ok"),
            ("set.cursor", "journal", 0, "other_journal"),
            ("new.cursor", "journal", T0, "ok")]:
        k = {"journal": KIND_JOURNAL, "set": KIND_SET}[kind]
        assert match(files[name], k, start) == res, (name, kind, start)
        lines.append(f"match {name} {kind} {start} -> {res}")
    for name, events, res in [("example.cursor", 8, "ok"), ("example.cursor", 5, "ok"),
                              ("example.cursor", 4, "ahead"), ("new.cursor", 0, "ok"),
                              ("set.cursor", 41, "ahead")]:
        assert resume(files[name], events) == res, (name, events)
        lines.append(f"resume {name} {events} -> {res}")
    assert st[12:16] == b"\x02\0\0\0"

    os.makedirs(here, exist_ok=True)
    for name in os.listdir(here):
        if name not in files and name != "expected.txt":
            os.remove(os.path.join(here, name))
    for name, data in files.items():
        with open(os.path.join(here, name), "wb") as f:
            f.write(data)
    with open(os.path.join(here, "expected.txt"), "w") as f:
        f.write("# Generated by spec/vectors/make_cursor_vectors.py; grammar in spec/CURSOR.md 13.\n")
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
