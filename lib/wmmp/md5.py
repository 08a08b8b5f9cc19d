"""MD5 (RFC 1321) for the WMMP digests (E021 and the security digests, INTEROP 3, 8).

`new()` uses the port's hashlib.md5 when there is one, else `PureMd5`.  PureMd5
works on 16-bit halves of every 32-bit word so that MicroPython stays in small
ints (a 32-bit value would be a heap-allocated long int on every operation).
"""

import struct

# T[i] = floor(abs(sin(i + 1)) * 2**32) of RFC 1321 3.4, as (high 16 bits, low 16 bits).
_K = (
    0xd76a, 0xa478, 0xe8c7, 0xb756, 0x2420, 0x70db, 0xc1bd, 0xceee,
    0xf57c, 0x0faf, 0x4787, 0xc62a, 0xa830, 0x4613, 0xfd46, 0x9501,
    0x6980, 0x98d8, 0x8b44, 0xf7af, 0xffff, 0x5bb1, 0x895c, 0xd7be,
    0x6b90, 0x1122, 0xfd98, 0x7193, 0xa679, 0x438e, 0x49b4, 0x0821,
    0xf61e, 0x2562, 0xc040, 0xb340, 0x265e, 0x5a51, 0xe9b6, 0xc7aa,
    0xd62f, 0x105d, 0x0244, 0x1453, 0xd8a1, 0xe681, 0xe7d3, 0xfbc8,
    0x21e1, 0xcde6, 0xc337, 0x07d6, 0xf4d5, 0x0d87, 0x455a, 0x14ed,
    0xa9e3, 0xe905, 0xfcef, 0xa3f8, 0x676f, 0x02d9, 0x8d2a, 0x4c8a,
    0xfffa, 0x3942, 0x8771, 0xf681, 0x6d9d, 0x6122, 0xfde5, 0x380c,
    0xa4be, 0xea44, 0x4bde, 0xcfa9, 0xf6bb, 0x4b60, 0xbebf, 0xbc70,
    0x289b, 0x7ec6, 0xeaa1, 0x27fa, 0xd4ef, 0x3085, 0x0488, 0x1d05,
    0xd9d4, 0xd039, 0xe6db, 0x99e5, 0x1fa2, 0x7cf8, 0xc4ac, 0x5665,
    0xf429, 0x2244, 0x432a, 0xff97, 0xab94, 0x23a7, 0xfc93, 0xa039,
    0x655b, 0x59c3, 0x8f0c, 0xcc92, 0xffef, 0xf47d, 0x8584, 0x5dd1,
    0x6fa8, 0x7e4f, 0xfe2c, 0xe6e0, 0xa301, 0x4314, 0x4e08, 0x11a1,
    0xf753, 0x7e82, 0xbd3a, 0xf235, 0x2ad7, 0xd2bb, 0xeb86, 0xd391,
)

# Message word index of every step (RFC 1321 3.4), times 2: offset of its low half
# in the '<32H' unpacked block.
_G = bytes((
    0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30,
    2, 12, 22, 0, 10, 20, 30, 8, 18, 28, 6, 16, 26, 4, 14, 24,
    10, 16, 22, 28, 2, 8, 14, 20, 26, 0, 6, 12, 18, 24, 30, 4,
    0, 14, 28, 10, 24, 6, 20, 2, 16, 30, 12, 26, 8, 22, 4, 18,
))


def _round_table(r):
    """Round r (0..3) as 4 tuples of 4 steps: (x index lo, x index hi, T hi, T lo) each."""
    out = []
    for i in range(16 * r, 16 * r + 16, 4):
        t = []
        for j in range(i, i + 4):
            t.extend((_G[j], _G[j] + 1, _K[2 * j], _K[2 * j + 1]))
        out.append(tuple(t))
    return tuple(out)


_R1 = _round_table(0)
_R2 = _round_table(1)
_R3 = _round_table(2)
_R4 = _round_table(3)
del _K, _G

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
        self._st = list(_INIT)
        self._buf = bytearray(64)
        self._fill = 0      # bytes waiting in _buf
        self._count = 0     # total bytes hashed so far
        if data:
            self.update(data)

    def update(self, data):
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
        tail = bytearray(128)
        tail[0:fill] = self._buf[0:fill]
        tail[fill] = 0x80
        end = 64 if fill < 56 else 128
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
