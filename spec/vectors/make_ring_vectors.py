#!/usr/bin/env python3
"""Writes the ring test vectors of spec/RING.md (version 2) into ring/, with ring/expected.txt.

A third encoder of the ring layout, written from RING.md alone (Python 3 standard library only).
Each vector's expected outcome is declared from the way it is built; the library and the
independent decoder of journal/tests/it/spec_impl.rs must both give it (journal/tests/it/ring.rs,
`ring_vectors_*`). Deterministic: running it on an unchanged script changes nothing. Grammar of
expected.txt: ring/README.md.
"""
import glob, os, struct, zlib

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ring')
CAP = 4096
T0 = 1_700_000_000_000_000_000


def pad8(n):
    return (n + 7) & ~7


def entry(ts, payload):
    """A journal entry (FORMAT.md 4, 5)."""
    h = struct.pack('<qI', ts, len(payload))
    e = h + struct.pack('<I', zlib.crc32(h + payload) & 0xffffffff) + payload
    return e + b'\0' * (pad8(len(e)) - len(e))


def commit(pos, kind):
    return struct.pack('<Q', pos | kind)


class Ring:
    """A ring file: header (RING.md 2) and a data area of CAP bytes."""

    def __init__(self, producer=0, consumer=0, version=2, magic=b'JRNLRING'):
        self.head = bytearray(4096)
        self.head[0:8] = magic
        struct.pack_into('<IIQ', self.head, 8, version, 4096, CAP)
        struct.pack_into('<Q', self.head, 128, producer)
        struct.pack_into('<Q', self.head, 256, consumer)
        self.area = bytearray(CAP)

    def put(self, pos, data):
        off = pos % CAP
        assert off + len(data) <= CAP, 'a record never wraps'
        self.area[off:off + len(data)] = data

    def record(self, pos, ts, payload):
        """A data record at `pos` (RING.md 3); returns the next position."""
        r = commit(pos, 1) + entry(ts, payload)
        self.put(pos, r)
        return pos + len(r)

    def unchecked(self, pos, ts, payload):
        """A data record without checksum at `pos` (RING.md 3.1, kind 4): `checksum` is 0."""
        h = struct.pack('<qII', ts, len(payload), 0) + payload
        r = commit(pos, 4) + h + b'\0' * (pad8(len(h)) - len(h))
        self.put(pos, r)
        return pos + len(r)

    def padding(self, pos):
        self.put(pos, commit(pos, 2))
        return pos + (CAP - pos % CAP)

    def end(self, pos, ts):
        r = commit(pos, 3) + entry(ts, b'')
        self.put(pos, r)
        return pos + len(r)

    def bytes(self):
        return bytes(self.head) + bytes(self.area)


vectors = {}


def ring_line(consumer, records, at, producer):
    return f'ring consumer={consumer} records={records} at={at} producer={producer}'


# Valid rings.
r = Ring()
vectors['empty'] = (r, ring_line('empty', 0, 0, 0))

r = Ring(producer=64)
p = r.record(0, T0, b'bid 101.25')
p = r.end(p, T0 + 1)
assert p == 64
# The worked example of RING.md 9, byte for byte.
assert r.area[:72].hex() == (
    '0100000000000000' '00002a36fe9c9717' '0a00000010400850' '626964203130312e'
    '3235000000000000' '2b00000000000000' '01002a36fe9c9717' '0000000018d70ef5'
    '0000000000000000')
vectors['example'] = (r, ring_line('end_of_stream', 1, 64, 64))

r = Ring(producer=0)
p = 0
for i in range(3):
    p = r.record(p, T0 + i, bytes([i]) * (10 * i))
vectors['lazy_producer_position'] = (r, ring_line('empty', 3, p, p))

# The same records with the wake-up words of RING.md 5.1 set as a waiter that died asleep (and a
# futex word that wrapped) leaves them: decoding ignores them.
r = Ring(producer=0)
p = 0
for i in range(3):
    p = r.record(p, T0 + i, bytes([i]) * (10 * i))
struct.pack_into('<II', r.head, 640, 0xFFFFFFFF, 1)
struct.pack_into('<II', r.head, 768, 7, 1)
vectors['sleepers_left_in_the_wake_words'] = (r, ring_line('empty', 3, p, p))

r = Ring(producer=4000, consumer=4000)
p = r.record(4000, T0, b'x' * 16)          # 40 bytes: to 4040
p = r.padding(p)                            # 56 bytes of padding to the wrap point
p = r.record(p, T0 + 1, b'after the wrap')  # at 4096
vectors['padding_at_wrap'] = (r, ring_line('empty', 2, p, p))

r = Ring(producer=4088, consumer=4088)
p = r.padding(4088)                         # the shortest padding: its commit word alone
p = r.record(p, T0, b'y')
vectors['shortest_padding'] = (r, ring_line('empty', 1, p, p))

r = Ring()
p = r.unchecked(0, T0, b'no checksum')     # kind 4: 8 + 16 + 11 + 5 = 40 bytes
p = r.record(p, T0 + 1, b'checksummed')
p = r.unchecked(p, T0 + 2, b'')
vectors['data_without_checksum'] = (r, ring_line('empty', 3, p, p))

r = Ring(producer=0, consumer=64)
p = r.record(0, T0, b'consumed')
p = r.record(p, T0 + 1, b'consumed')
assert p == 64
vectors['consumer_ahead_of_producer_position'] = (r, ring_line('empty', 0, 64, 64))

r = Ring(producer=4, consumer=0)
p = r.record(0, T0, b'ok')
vectors['producer_position_misaligned'] = (r, ring_line('empty', 1, p, 'corrupt'))

# Corrupt rings.
r = Ring(producer=4096, consumer=4096)
r.record(0, T0, b'lap zero')                # valid at position 0, not at 4096
vectors['stale_record_of_an_earlier_lap'] = (r, ring_line('corrupt', 0, 4096, 'corrupt'))

r = Ring()
p = r.record(0, T0, b'good')
r.put(p, commit(p, 5) + entry(T0, b''))
vectors['unknown_kind'] = (r, ring_line('corrupt', 1, p, 'corrupt'))

r = Ring()
r.put(0, commit(8, 1) + entry(T0, b'wrong position'))
vectors['commit_of_another_position'] = (r, ring_line('corrupt', 0, 0, 'corrupt'))

r = Ring()
r.put(0, commit(0, 1) + struct.pack('<qII', T0, 2041, 0))   # 8 + 16 + 2048 > CAP / 2
vectors['record_longer_than_half'] = (r, ring_line('corrupt', 0, 0, 'corrupt'))

r2 = Ring(producer=4072, consumer=4072)
r2.put(4072, commit(4072, 1) + struct.pack('<qII', T0, 1, 0))  # 32 bytes: past the wrap point
vectors['record_past_the_wrap'] = (r2, ring_line('corrupt', 0, 4072, 'corrupt'))

r = Ring()
r.put(0, commit(0, 3) + struct.pack('<qII', T0, 4, 0))
vectors['end_of_stream_with_a_payload'] = (r, ring_line('corrupt', 0, 0, 'corrupt'))

r = Ring()
p = 0
for i in range(4):                          # 4 x 1024 bytes: no room for the word after them
    p = r.record(p, T0 + i, bytes([i]) * 1000)
vectors['overfull'] = (r, ring_line('corrupt', 3, 3072, 'corrupt'))

r = Ring(consumer=12)
vectors['consumer_position_misaligned'] = (r, ring_line('corrupt', 0, 12, 'corrupt'))

# Not rings (RING.md 2, 10).
vectors['version_1'] = (Ring(version=1), 'not_a_ring field=version')
vectors['version_3'] = (Ring(version=3), 'not_a_ring field=version')
vectors['bad_magic'] = (Ring(magic=b'JRNLRINX'), 'not_a_ring field=magic')

os.makedirs(here, exist_ok=True)
for old in glob.glob(os.path.join(here, '*.ring')):
    if os.path.basename(old)[:-5] not in vectors:
        os.remove(old)
lines = ['# Generated by spec/vectors/make_ring_vectors.py; grammar in README.md.']
for name in sorted(vectors):
    ring, outcome = vectors[name]
    with open(os.path.join(here, name + '.ring'), 'wb') as f:
        f.write(ring.bytes())
    lines.append(f'{name}.ring {outcome}')
with open(os.path.join(here, 'expected.txt'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
