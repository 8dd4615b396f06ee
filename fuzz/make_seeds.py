#!/usr/bin/env python3
"""Writes the named seed inputs into corpus/<target>/ (see README.md, "Seeds and names").

Run it after `cargo fuzz cmin`, which renames every file to its SHA-1: it removes the SHA-1-named
copy of each seed and writes the seed under its name. Python 3 standard library only; the inputs'
layouts are documented on the harness functions in journal/tests/it/fuzz_harness.rs.
"""
import glob, hashlib, os, struct, zlib

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, 'corpus')


def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    twin = os.path.join(d, hashlib.sha1(data).hexdigest())
    if os.path.exists(twin):
        os.remove(twin)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


for f in sorted(glob.glob(os.path.join(here, '..', 'spec', 'vectors', '*.journal'))):
    put('journal_decoder', 'vector-' + os.path.basename(f), open(f, 'rb').read())

def pad8(n): return (n + 7) & ~7
def entry(ts, payload):
    h = struct.pack('<qI', ts, len(payload))
    crc = zlib.crc32(h + payload) & 0xffffffff
    e = h + struct.pack('<I', crc) + payload
    return e + b'\0' * (pad8(len(e)) - len(e))
def ring(flags, a, b, area): return bytes([flags]) + struct.pack('<QQ', a, b) + area
# Ring records, spec/RING.md 3 (version 2): a commit word `position | kind`, then the entry.
def rec(pos, ts, payload): return struct.pack('<Q', pos | 1) + entry(ts, payload)
def pad(pos): return struct.pack('<Q', pos | 2)
def end(pos, ts=0): return struct.pack('<Q', pos | 3) + entry(ts, b'')
def records(pos, *parts):
    """Lays down records from `pos`: ('r', ts, payload), ('p', room) or ('e',)."""
    out = b''
    for part in parts:
        if part[0] == 'r':
            r = rec(pos, part[1], part[2])
        elif part[0] == 'p':
            r = pad(pos).ljust(part[1], b'\0')
        else:
            r = end(pos)
        out += r
        pos += len(r)
    return out

r = records(0, ('r', 1, b'hello'), ('r', 2, b''), ('e',))
put('ring_decoder', 'empty', ring(0x0f, 0, 0, b''))
put('ring_decoder', 'two-records-and-end', ring(0x0f, len(r), 0, r))
put('ring_decoder', 'two-records-batch-of-one', ring(0x00, len(r), 4096 * 3, records(4096 * 3, ('r', 1, b'hello'), ('r', 2, b''), ('e',))))
w = records(4000, ('r', 3, b'x' * 30), ('p', 40)) + records(4096, ('r', 4, b'wrapped!'))
put('ring_decoder', 'padding-at-wrap', ring(0x0f, len(w), 4000, w))
i = records(4088, ('p', 8)) + records(4096, ('r', 5, b'after the shortest padding'))
put('ring_decoder', 'shortest-padding', ring(0x10, len(i), 4088, i))
top = (1 << 63) - 64
e = records(top, ('r', 6, b'y' * 20))
put('ring_decoder', 'near-2-63-raw', ring(0x80, top + len(e), top, e))
put('ring_decoder', 'stale-commit-of-an-earlier-lap', ring(0x80, 4096 + 32, 4096, records(0, ('r', 7, b'old'))))
put('ring_decoder', 'unknown-kind', ring(0x0f, 32, 0, struct.pack('<Q', 5) + entry(7, b'')))
put('ring_decoder', 'size-too-big', ring(0x0f, 64, 0, struct.pack('<QqII', 1, 0, 1 << 30 | 1, 0)))
put('ring_decoder', 'record-past-the-wrap', ring(0x0f, 16, 4072, records(4072, ('r', 8, b'abc'))))
hdr = b'JRNLRING' + struct.pack('<IIQ', 2, 4096, 4096)
hdr = hdr.ljust(128, b'\0') + struct.pack('<Q', len(r))
hdr = hdr.ljust(4096, b'\0')
put('ring_decoder', 'whole-ring-file', hdr + r.ljust(4096, b'\0'))

def ts(t): return bytes([t])
def u16(v): return struct.pack('<H', v)
def u32(v): return struct.pack('<I', v)
def head(start=1_700_000_000_000_000_000, maxb=14, opt=0): return struct.pack('<q', start) + bytes([maxb, opt])
def append(t, size, seed): return bytes([0]) + ts(t) + u16(size) + bytes([seed])
def claim(t, size, how, seed): return bytes([2]) + ts(t) + u16(size) + bytes([how, seed])
def abort(size, seed): return bytes([3]) + u16(size) + bytes([seed])
SYNC, PRETOUCH = bytes([4]), bytes([6])
def poison(o=0): return bytes([5, o])
def crash(o=0): return bytes([7, o])
def clean(o=0): return bytes([8, o])
def trunc(how, cut): return bytes([9, how]) + u16(cut)
def flip(how, bit): return bytes([10, how]) + u32(bit)
def check(fresh=0): return bytes([11, fresh])

basic = head() + b''.join(append(100 + k, k * 13, k) for k in range(6)) + claim(150, 40, 0, 9) + \
    claim(151, 100, 1, 50) + claim(152, 10, 3, 1) + abort(64, 3) + SYNC + check() + append(160, 5, 5) + \
    check(1) + crash(2) + check() + clean(3) + PRETOUCH + append(170, 300, 7) + check()
put('model', 'basic', basic)
put('model', 'truncate-mid-entry', head() + b''.join(append(10, 20, k) for k in range(5)) + trunc(0, 100) + append(11, 3, 3) + check())
put('model', 'truncate-after-crash', head(opt=2) + b''.join(append(10, 200, k) for k in range(5)) + trunc(1, 900) + check())
put('model', 'truncate-to-empty', head() + append(1, 1, 1) + trunc(0, 0) + append(2, 2, 2) + check())
put('model', 'truncate-into-header', head() + append(1, 1, 1) + trunc(0, 10) + append(2, 2, 2))
put('model', 'flip-in-entry', head() + b''.join(append(10, 9, k) for k in range(4)) + flip(0, 24 * 8 + 70) + check())
put('model', 'flip-write-offset-up', head() + append(10, 9, 1) + flip(1, 9) + check())
put('model', 'flip-write-offset-down', head() + b''.join(append(10, 9, k) for k in range(4)) + flip(0, 6) + check())
put('model', 'flip-write-offset-invalid', head() + append(10, 9, 1) + flip(0, 1) + append(3, 3, 3))
put('model', 'flip-count-and-start', head() + append(10, 9, 1) + flip(0, 64 + 3) + flip(0, 128 + 62) + check())
put('model', 'flip-tail-after-crash', head() + append(10, 9, 1) + flip(1, 4000 * 8) + check())
put('model', 'poison', head(opt=2) + append(1, 3, 3) + poison(4) + append(2, 5, 5) + check())
put('model', 'full', head(maxb=0) + b''.join(append(1, 0x3f00, k) for k in range(4)) + claim(2, 0x3f00, 0, 1) + abort(0x3f00, 1) + check())
put('model', 'policies', head(opt=3) + append(1, 3, 3) + clean(4) + append(2, 5, 5) + crash(0x35) + append(3, 7, 7) + clean(0x14) + append(4, 1, 1) + crash(5) + append(5, 9, 9))
