"""MD5 (RFC 1321) for the WMMP digests (E021 and the security digests, PROTOCOL.md 3, 8).

`new()` uses the port's hashlib.md5 when there is one, else `PureMd5`.  PureMd5
works on 16-bit halves of every 32-bit word so that MicroPython stays in small
ints (a 32-bit value would be a heap-allocated long int on every operation).
"""

import struct

# T[i] = floor(abs(sin(i + 1)) * 2**32) of RFC 1321 3.4, big-endian, 4 bytes each
# (bytes literals cost far less RAM on MicroPython than tuples of ints).
_K = (
    b"\xd7\x6a\xa4\x78\xe8\xc7\xb7\x56\x24\x20\x70\xdb\xc1\xbd\xce\xee"
    b"\xf5\x7c\x0f\xaf\x47\x87\xc6\x2a\xa8\x30\x46\x13\xfd\x46\x95\x01"
    b"\x69\x80\x98\xd8\x8b\x44\xf7\xaf\xff\xff\x5b\xb1\x89\x5c\xd7\xbe"
    b"\x6b\x90\x11\x22\xfd\x98\x71\x93\xa6\x79\x43\x8e\x49\xb4\x08\x21"
    b"\xf6\x1e\x25\x62\xc0\x40\xb3\x40\x26\x5e\x5a\x51\xe9\xb6\xc7\xaa"
    b"\xd6\x2f\x10\x5d\x02\x44\x14\x53\xd8\xa1\xe6\x81\xe7\xd3\xfb\xc8"
    b"\x21\xe1\xcd\xe6\xc3\x37\x07\xd6\xf4\xd5\x0d\x87\x45\x5a\x14\xed"
    b"\xa9\xe3\xe9\x05\xfc\xef\xa3\xf8\x67\x6f\x02\xd9\x8d\x2a\x4c\x8a"
    b"\xff\xfa\x39\x42\x87\x71\xf6\x81\x6d\x9d\x61\x22\xfd\xe5\x38\x0c"
    b"\xa4\xbe\xea\x44\x4b\xde\xcf\xa9\xf6\xbb\x4b\x60\xbe\xbf\xbc\x70"
    b"\x28\x9b\x7e\xc6\xea\xa1\x27\xfa\xd4\xef\x30\x85\x04\x88\x1d\x05"
    b"\xd9\xd4\xd0\x39\xe6\xdb\x99\xe5\x1f\xa2\x7c\xf8\xc4\xac\x56\x65"
    b"\xf4\x29\x22\x44\x43\x2a\xff\x97\xab\x94\x23\xa7\xfc\x93\xa0\x39"
    b"\x65\x5b\x59\xc3\x8f\x0c\xcc\x92\xff\xef\xf4\x7d\x85\x84\x5d\xd1"
    b"\x6f\xa8\x7e\x4f\xfe\x2c\xe6\xe0\xa3\x01\x43\x14\x4e\x08\x11\xa1"
    b"\xf7\x53\x7e\x82\xbd\x3a\xf2\x35\x2a\xd7\xd2\xbb\xeb\x86\xd3\x91"
)

# Message word index of every step (RFC 1321 3.4), times 2: offset of its low half
# in the '<32H' unpacked block.
_G = (
    b"\x00\x02\x04\x06\x08\x0a\x0c\x0e\x10\x12\x14\x16\x18\x1a\x1c\x1e"
    b"\x02\x0c\x16\x00\x0a\x14\x1e\x08\x12\x1c\x06\x10\x1a\x04\x0e\x18"
    b"\x0a\x10\x16\x1c\x02\x08\x0e\x14\x1a\x00\x06\x0c\x12\x18\x1e\x04"
    b"\x00\x0e\x1c\x0a\x18\x06\x14\x02\x10\x1e\x0c\x1a\x08\x16\x04\x12"
)


def _round_table(r):
    """Round r (0..3) as 4 tuples of 4 steps: (x index lo, x index hi, T hi, T lo) each."""
    out = [None] * 4
    for q in range(4):
        t = [0] * 16
        for s in range(4):
            j = 16 * r + 4 * q + s
            t[4 * s] = _G[j]
            t[4 * s + 1] = _G[j] + 1
            t[4 * s + 2] = (_K[4 * j] << 8) | _K[4 * j + 1]
            t[4 * s + 3] = (_K[4 * j + 2] << 8) | _K[4 * j + 3]
        out[q] = tuple(t)
    return tuple(out)


# Built by the first PureMd5, not at import: a port with hashlib.md5 never
# pays for them.
_R1 = _R2 = _R3 = _R4 = None


def _tables():
    global _R1, _R2, _R3, _R4, _K, _G
    _R1 = _round_table(0)
    _R2 = _round_table(1)
    _R3 = _round_table(2)
    _R4 = _round_table(3)
    _K = _G = None              # only needed to build the round tuples

_INIT = (0x6745, 0x2301, 0xefcd, 0xab89, 0x98ba, 0xdcfe, 0x1032, 0x5476)


def _compress(st, buf, off):
    """One 64-byte block at buf[off:] into the state list st (8 halves, hi first)."""
    x = struct.unpack_from("<32H", buf, off)
    ah, al, bh, bl, ch, cl, dh, dl = st
    # Each round is unrolled by four steps so that the rotate amounts are literals;
    # each loop pass takes the four steps' message indices and T halves from one tuple.
    # A rotate by s >= 16 swaps the halves and rotates by s - 16; the halves are
    # masked before shifting left so that no value reaches 2**30.
    for (u0, v0, p0, q0, u1, v1, p1, q1, u2, v2, p2, q2,
         u3, v3, p3, q3) in _R1:  # round 1: F(b, c, d) = d ^ (b & (c ^ d)); s = 7, 12, 17, 22
        tl = al + (dl ^ (bl & (cl ^ dl))) + q0 + x[u0]
        th = ah + (dh ^ (bh & (ch ^ dh))) + p0 + x[v0] + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        al = (((tl & 0x1ff) << 7) | (th >> 9)) + bl
        ah = ((((th & 0x1ff) << 7) | (tl >> 9)) + bh + (al >> 16)) & 0xffff
        al &= 0xffff
        tl = dl + (cl ^ (al & (bl ^ cl))) + q1 + x[u1]
        th = dh + (ch ^ (ah & (bh ^ ch))) + p1 + x[v1] + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        dl = (((tl & 0xf) << 12) | (th >> 4)) + al
        dh = ((((th & 0xf) << 12) | (tl >> 4)) + ah + (dl >> 16)) & 0xffff
        dl &= 0xffff
        tl = cl + (bl ^ (dl & (al ^ bl))) + q2 + x[u2]
        th = ch + (bh ^ (dh & (ah ^ bh))) + p2 + x[v2] + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        cl = (((th & 0x7fff) << 1) | (tl >> 15)) + dl
        ch = ((((tl & 0x7fff) << 1) | (th >> 15)) + dh + (cl >> 16)) & 0xffff
        cl &= 0xffff
        tl = bl + (al ^ (cl & (dl ^ al))) + q3 + x[u3]
        th = bh + (ah ^ (ch & (dh ^ ah))) + p3 + x[v3] + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        bl = (((th & 0x3ff) << 6) | (tl >> 10)) + cl
        bh = ((((tl & 0x3ff) << 6) | (th >> 10)) + ch + (bl >> 16)) & 0xffff
        bl &= 0xffff
    for (u0, v0, p0, q0, u1, v1, p1, q1, u2, v2, p2, q2,
         u3, v3, p3, q3) in _R2:  # round 2: G(b, c, d) = c ^ (d & (b ^ c)); s = 5, 9, 14, 20
        tl = al + (cl ^ (dl & (bl ^ cl))) + q0 + x[u0]
        th = ah + (ch ^ (dh & (bh ^ ch))) + p0 + x[v0] + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        al = (((tl & 0x7ff) << 5) | (th >> 11)) + bl
        ah = ((((th & 0x7ff) << 5) | (tl >> 11)) + bh + (al >> 16)) & 0xffff
        al &= 0xffff
        tl = dl + (bl ^ (cl & (al ^ bl))) + q1 + x[u1]
        th = dh + (bh ^ (ch & (ah ^ bh))) + p1 + x[v1] + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        dl = (((tl & 0x7f) << 9) | (th >> 7)) + al
        dh = ((((th & 0x7f) << 9) | (tl >> 7)) + ah + (dl >> 16)) & 0xffff
        dl &= 0xffff
        tl = cl + (al ^ (bl & (dl ^ al))) + q2 + x[u2]
        th = ch + (ah ^ (bh & (dh ^ ah))) + p2 + x[v2] + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        cl = (((tl & 0x3) << 14) | (th >> 2)) + dl
        ch = ((((th & 0x3) << 14) | (tl >> 2)) + dh + (cl >> 16)) & 0xffff
        cl &= 0xffff
        tl = bl + (dl ^ (al & (cl ^ dl))) + q3 + x[u3]
        th = bh + (dh ^ (ah & (ch ^ dh))) + p3 + x[v3] + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        bl = (((th & 0xfff) << 4) | (tl >> 12)) + cl
        bh = ((((tl & 0xfff) << 4) | (th >> 12)) + ch + (bl >> 16)) & 0xffff
        bl &= 0xffff
    for (u0, v0, p0, q0, u1, v1, p1, q1, u2, v2, p2, q2,
         u3, v3, p3, q3) in _R3:  # round 3: H(b, c, d) = b ^ c ^ d; s = 4, 11, 16, 23
        tl = al + (bl ^ cl ^ dl) + q0 + x[u0]
        th = ah + (bh ^ ch ^ dh) + p0 + x[v0] + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        al = (((tl & 0xfff) << 4) | (th >> 12)) + bl
        ah = ((((th & 0xfff) << 4) | (tl >> 12)) + bh + (al >> 16)) & 0xffff
        al &= 0xffff
        tl = dl + (al ^ bl ^ cl) + q1 + x[u1]
        th = dh + (ah ^ bh ^ ch) + p1 + x[v1] + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        dl = (((tl & 0x1f) << 11) | (th >> 5)) + al
        dh = ((((th & 0x1f) << 11) | (tl >> 5)) + ah + (dl >> 16)) & 0xffff
        dl &= 0xffff
        tl = cl + (dl ^ al ^ bl) + q2 + x[u2]
        th = ch + (dh ^ ah ^ bh) + p2 + x[v2] + (tl >> 16)
        cl = (th & 0xffff) + dl
        ch = ((tl & 0xffff) + dh + (cl >> 16)) & 0xffff
        cl &= 0xffff
        tl = bl + (cl ^ dl ^ al) + q3 + x[u3]
        th = bh + (ch ^ dh ^ ah) + p3 + x[v3] + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        bl = (((th & 0x1ff) << 7) | (tl >> 9)) + cl
        bh = ((((tl & 0x1ff) << 7) | (th >> 9)) + ch + (bl >> 16)) & 0xffff
        bl &= 0xffff
    for (u0, v0, p0, q0, u1, v1, p1, q1, u2, v2, p2, q2,
         u3, v3, p3, q3) in _R4:  # round 4: I(b, c, d) = c ^ (b | ~d); s = 6, 10, 15, 21
        tl = al + (cl ^ (bl | (dl ^ 0xffff))) + q0 + x[u0]
        th = ah + (ch ^ (bh | (dh ^ 0xffff))) + p0 + x[v0] + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        al = (((tl & 0x3ff) << 6) | (th >> 10)) + bl
        ah = ((((th & 0x3ff) << 6) | (tl >> 10)) + bh + (al >> 16)) & 0xffff
        al &= 0xffff
        tl = dl + (bl ^ (al | (cl ^ 0xffff))) + q1 + x[u1]
        th = dh + (bh ^ (ah | (ch ^ 0xffff))) + p1 + x[v1] + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        dl = (((tl & 0x3f) << 10) | (th >> 6)) + al
        dh = ((((th & 0x3f) << 10) | (tl >> 6)) + ah + (dl >> 16)) & 0xffff
        dl &= 0xffff
        tl = cl + (al ^ (dl | (bl ^ 0xffff))) + q2 + x[u2]
        th = ch + (ah ^ (dh | (bh ^ 0xffff))) + p2 + x[v2] + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        cl = (((tl & 0x1) << 15) | (th >> 1)) + dl
        ch = ((((th & 0x1) << 15) | (tl >> 1)) + dh + (cl >> 16)) & 0xffff
        cl &= 0xffff
        tl = bl + (dl ^ (cl | (al ^ 0xffff))) + q3 + x[u3]
        th = bh + (dh ^ (ch | (ah ^ 0xffff))) + p3 + x[v3] + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        bl = (((th & 0x7ff) << 5) | (tl >> 11)) + cl
        bh = ((((tl & 0x7ff) << 5) | (th >> 11)) + ch + (bl >> 16)) & 0xffff
        bl &= 0xffff
    # Add this block's result to the chaining state, half by half with carry.
    al += st[1]
    st[0] = (st[0] + ah + (al >> 16)) & 0xffff
    st[1] = al & 0xffff
    bl += st[3]
    st[2] = (st[2] + bh + (bl >> 16)) & 0xffff
    st[3] = bl & 0xffff
    cl += st[5]
    st[4] = (st[4] + ch + (cl >> 16)) & 0xffff
    st[5] = cl & 0xffff
    dl += st[7]
    st[6] = (st[6] + dh + (dl >> 16)) & 0xffff
    st[7] = dl & 0xffff


class PureMd5:
    """MD5 in pure Python: update() any number of times, digest() at any point.

    Full 64-byte blocks are read straight from the caller's buffer; at most one
    partial block is kept between calls.
    """

    def __init__(self, data=b""):
        if _R1 is None:
            _tables()
        self._st = list(_INIT)
        self._buf = bytearray(64)
        self._fill = 0      # bytes waiting in _buf
        self._count = 0     # total bytes hashed so far
        if data:
            self.update(data)

    def update(self, data):
        """Hash more bytes (bytes, bytearray or memoryview)."""
        n = len(data)
        if not n:
            return
        self._count += n
        off = 0
        fill = self._fill
        buf = self._buf
        if fill:
            take = 64 - fill
            if take > n:
                take = n
            buf[fill:fill + take] = memoryview(data)[0:take]
            fill += take
            off = take
            if fill < 64:
                self._fill = fill
                return
            _compress(self._st, buf, 0)
            fill = 0
        st = self._st
        while n - off >= 64:
            _compress(st, data, off)
            off += 64
        if off < n:
            rest = n - off
            buf[0:rest] = memoryview(data)[off:n]
            fill = rest
        self._fill = fill

    def digest(self):
        """The 16-byte digest of everything so far; the object stays usable."""
        st = list(self._st)
        fill = self._fill
        end = 64 if fill < 56 else 128
        tail = bytearray(end)
        tail[0:fill] = memoryview(self._buf)[0:fill]
        tail[fill] = 0x80
        bits = self._count * 8
        # 64-bit little-endian bit count, written as four 16-bit halves.
        struct.pack_into("<4H", tail, end - 8, bits & 0xffff, (bits >> 16) & 0xffff,
                         (bits >> 32) & 0xffff, (bits >> 48) & 0xffff)
        _compress(st, tail, 0)
        if end == 128:
            _compress(st, tail, 64)
        return struct.pack("<8H", st[1], st[0], st[3], st[2], st[5], st[4], st[7], st[6])


try:
    import hashlib
    _md5 = hashlib.md5
    _md5(b"")           # some CPython builds (FIPS) refuse MD5 at call time
except Exception:       # no hashlib, no md5 in it, or refused
    _md5 = None


def new(data=b""):
    """A fresh MD5 object with update(data) and digest(), fed `data` first."""
    if _md5 is not None:
        h = _md5()
        if data:
            h.update(data)
        return h
    return PureMd5(data)


def md5(data):
    """16-byte MD5 digest of `data` (bytes, bytearray or memoryview)."""
    h = new()
    h.update(data)
    return h.digest()
