#!/usr/bin/env python3
"""Writes the wake-up file test vectors (spec/FORMAT.md 15) into spec/vectors/wake/.

A third encoder of the wake-up file, written from FORMAT.md 15 alone (Python 3 standard library
only). Each vector is a wake-up file; expected.txt says whether a reader may use it (15.2) and, if
so, its five fields (15.1). Before writing anything the script decodes every vector with its own
decoder below and exits with status 1, writing nothing, if a declared outcome differs. The
library's integration test (journal/tests/it/tail_block.rs) checks every line, with the library and
with the independent decoder of journal/tests/it/spec_impl.rs.
"""

import os
import struct
import sys

LEN = 32
MAGIC = b"JRNLWAKE"
LAYOUT = struct.Struct("<8sIIIIQ")
assert LAYOUT.size == LEN


def wake(flags=0, seq=0, sleeping=0, wakes=0, version=1, magic=MAGIC):
    return LAYOUT.pack(magic, version, flags, seq, sleeping, wakes)


def usable(version, flags, seq, sleeping, wakes):
    return f"usable version={version} flags={flags} seq={seq} sleeping={sleeping} wakes={wakes}"


VECTORS = [
    # 15.5, the worked example.
    ("example.wake", wake(flags=1, seq=3, sleeping=1, wakes=3), usable(1, 1, 3, 1, 3)),
    # A file just made by a writer that could not register for the barrier.
    ("new.wake", wake(), usable(1, 0, 0, 0, 0)),
    # Unknown flag bits and a counter near the top; seq wrapped.
    ("other_flags.wake", wake(flags=0xFFFFFFFF, seq=0xFFFFFFFF, sleeping=7, wakes=2**64 - 1),
     usable(1, 0xFFFFFFFF, 0xFFFFFFFF, 7, 2**64 - 1)),
    # Bytes past 32 are ignored.
    ("longer.wake", wake(flags=1, seq=9) + b"\xff" * 4064, usable(1, 1, 9, 0, 0)),
    ("empty.wake", b"", "unusable"),
    ("short.wake", wake(flags=1)[:31], "unusable"),
    ("bad_magic.wake", wake(magic=b"JRNLWAKF"), "unusable"),
    ("version_0.wake", wake(version=0), "unusable"),
    ("version_2.wake", wake(version=2), "unusable"),
    ("zeros.wake", bytes(LEN), "unusable"),
]


def decode(b):
    """FORMAT.md 15.2: usable, with its fields, or unusable."""
    if len(b) < LEN:
        return "unusable"
    magic, version, flags, seq, sleeping, wakes = LAYOUT.unpack(b[:LEN])
    if magic != MAGIC or version != 1:
        return "unusable"
    return usable(version, flags, seq, sleeping, wakes)


def main():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wake")
    bad = [(n, e, decode(b)) for n, b, e in VECTORS if decode(b) != e]
    for n, e, got in bad:
        print(f"{n}: declared {e!r}, decoded {got!r}", file=sys.stderr)
    if bad:
        sys.exit(1)
    os.makedirs(here, exist_ok=True)
    names = {n for n, _, _ in VECTORS}
    for f in os.listdir(here):
        if f.endswith(".wake") and f not in names:
            os.remove(os.path.join(here, f))
    for n, b, _ in VECTORS:
        with open(os.path.join(here, n), "wb") as f:
            f.write(b)
    with open(os.path.join(here, "expected.txt"), "w", newline="\n") as f:
        for n, _, e in sorted(VECTORS):
            f.write(f"{n} {e}\n")


if __name__ == "__main__":
    main()
