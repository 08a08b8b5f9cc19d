"""MD5 (RFC 1321) for the WMMP digests (E021 and the security digests, PROTOCOL.md 3, 8).

`new()` uses the port's hashlib.md5 when there is one, else `PureMd5`.  PureMd5
works on 16-bit halves of every 32-bit word so that MicroPython stays in small
ints (a 32-bit value would be a heap-allocated long int on every operation).
"""

import struct
from micropython import const

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

# Message word index of every step (RFC 1321 3.4), times 4: the byte offset of
# its little-endian word in the block.
_G = (
    b"\x00\x04\x08\x0c\x10\x14\x18\x1c\x20\x24\x28\x2c\x30\x34\x38\x3c"
    b"\x04\x18\x2c\x00\x14\x28\x3c\x10\x24\x38\x0c\x20\x34\x08\x1c\x30"
    b"\x14\x20\x2c\x38\x04\x10\x1c\x28\x34\x00\x0c\x18\x24\x30\x3c\x08"
    b"\x00\x1c\x38\x14\x30\x0c\x28\x04\x20\x3c\x18\x34\x10\x2c\x08\x24"
)


# The initial state A, B, C, D (RFC 1321 3.3) as the digest lays them out, each
# word little-endian: a bytes constant (a tuple of these ints would be static
# big-int objects when frozen).
_INIT = b"\x01\x23\x45\x67\x89\xab\xcd\xef\xfe\xdc\xba\x98\x76\x54\x32\x10"
_ST = const(64)     # offset of the state in a PureMd5's buffer (after the partial block)

# Scratch shared by every PureMd5 (made by the first one: a port with
# hashlib.md5 never pays for them): the padded tail digest() hashes and the
# state it finishes in.
_TAIL = _FIN = None


def _scratch():
    global _TAIL, _FIN
    _TAIL = bytearray(64)
    _FIN = bytearray(16)


def _compress(st, so, buf, off):
    """One 64-byte block at buf[off:] into the state at st[so:so + 16] (the four
    words little-endian, as the digest lays them out)."""
    x = buf
    K = _K
    G = _G
    al = st[so] | (st[so + 1] << 8)
    ah = st[so + 2] | (st[so + 3] << 8)
    bl = st[so + 4] | (st[so + 5] << 8)
    bh = st[so + 6] | (st[so + 7] << 8)
    cl = st[so + 8] | (st[so + 9] << 8)
    ch = st[so + 10] | (st[so + 11] << 8)
    dl = st[so + 12] | (st[so + 13] << 8)
    dh = st[so + 14] | (st[so + 15] << 8)
    # Each round is unrolled by four steps so that the rotate amounts are literals;
    # each loop pass reads the four steps' word offsets (_G) and T halves (_K) from
    # the bytes constants and the message halves from the block: nothing is allocated.
    # A rotate by s >= 16 swaps the halves and rotates by s - 16; the halves are
    # masked before shifting left so that no value reaches 2**30.
    for j in range(0, 16, 4):  # round 1: F(b, c, d) = d ^ (b & (c ^ d)); s = 7, 12, 17, 22
        k = j << 2
        u0 = off + G[j]
        u1 = off + G[j + 1]
        u2 = off + G[j + 2]
        u3 = off + G[j + 3]
        p0 = (K[k] << 8) | K[k + 1]
        q0 = (K[k + 2] << 8) | K[k + 3]
        p1 = (K[k + 4] << 8) | K[k + 5]
        q1 = (K[k + 6] << 8) | K[k + 7]
        p2 = (K[k + 8] << 8) | K[k + 9]
        q2 = (K[k + 10] << 8) | K[k + 11]
        p3 = (K[k + 12] << 8) | K[k + 13]
        q3 = (K[k + 14] << 8) | K[k + 15]
        tl = al + (dl ^ (bl & (cl ^ dl))) + q0 + (x[u0] | (x[u0 + 1] << 8))
        th = ah + (dh ^ (bh & (ch ^ dh))) + p0 + (x[u0 + 2] | (x[u0 + 3] << 8)) + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        al = (((tl & 0x1ff) << 7) | (th >> 9)) + bl
        ah = ((((th & 0x1ff) << 7) | (tl >> 9)) + bh + (al >> 16)) & 0xffff
        al &= 0xffff
        tl = dl + (cl ^ (al & (bl ^ cl))) + q1 + (x[u1] | (x[u1 + 1] << 8))
        th = dh + (ch ^ (ah & (bh ^ ch))) + p1 + (x[u1 + 2] | (x[u1 + 3] << 8)) + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        dl = (((tl & 0xf) << 12) | (th >> 4)) + al
        dh = ((((th & 0xf) << 12) | (tl >> 4)) + ah + (dl >> 16)) & 0xffff
        dl &= 0xffff
        tl = cl + (bl ^ (dl & (al ^ bl))) + q2 + (x[u2] | (x[u2 + 1] << 8))
        th = ch + (bh ^ (dh & (ah ^ bh))) + p2 + (x[u2 + 2] | (x[u2 + 3] << 8)) + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        cl = (((th & 0x7fff) << 1) | (tl >> 15)) + dl
        ch = ((((tl & 0x7fff) << 1) | (th >> 15)) + dh + (cl >> 16)) & 0xffff
        cl &= 0xffff
        tl = bl + (al ^ (cl & (dl ^ al))) + q3 + (x[u3] | (x[u3 + 1] << 8))
        th = bh + (ah ^ (ch & (dh ^ ah))) + p3 + (x[u3 + 2] | (x[u3 + 3] << 8)) + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        bl = (((th & 0x3ff) << 6) | (tl >> 10)) + cl
        bh = ((((tl & 0x3ff) << 6) | (th >> 10)) + ch + (bl >> 16)) & 0xffff
        bl &= 0xffff
    for j in range(16, 32, 4):  # round 2: G(b, c, d) = c ^ (d & (b ^ c)); s = 5, 9, 14, 20
        k = j << 2
        u0 = off + G[j]
        u1 = off + G[j + 1]
        u2 = off + G[j + 2]
        u3 = off + G[j + 3]
        p0 = (K[k] << 8) | K[k + 1]
        q0 = (K[k + 2] << 8) | K[k + 3]
        p1 = (K[k + 4] << 8) | K[k + 5]
        q1 = (K[k + 6] << 8) | K[k + 7]
        p2 = (K[k + 8] << 8) | K[k + 9]
        q2 = (K[k + 10] << 8) | K[k + 11]
        p3 = (K[k + 12] << 8) | K[k + 13]
        q3 = (K[k + 14] << 8) | K[k + 15]
        tl = al + (cl ^ (dl & (bl ^ cl))) + q0 + (x[u0] | (x[u0 + 1] << 8))
        th = ah + (ch ^ (dh & (bh ^ ch))) + p0 + (x[u0 + 2] | (x[u0 + 3] << 8)) + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        al = (((tl & 0x7ff) << 5) | (th >> 11)) + bl
        ah = ((((th & 0x7ff) << 5) | (tl >> 11)) + bh + (al >> 16)) & 0xffff
        al &= 0xffff
        tl = dl + (bl ^ (cl & (al ^ bl))) + q1 + (x[u1] | (x[u1 + 1] << 8))
        th = dh + (bh ^ (ch & (ah ^ bh))) + p1 + (x[u1 + 2] | (x[u1 + 3] << 8)) + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        dl = (((tl & 0x7f) << 9) | (th >> 7)) + al
        dh = ((((th & 0x7f) << 9) | (tl >> 7)) + ah + (dl >> 16)) & 0xffff
        dl &= 0xffff
        tl = cl + (al ^ (bl & (dl ^ al))) + q2 + (x[u2] | (x[u2 + 1] << 8))
        th = ch + (ah ^ (bh & (dh ^ ah))) + p2 + (x[u2 + 2] | (x[u2 + 3] << 8)) + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        cl = (((tl & 0x3) << 14) | (th >> 2)) + dl
        ch = ((((th & 0x3) << 14) | (tl >> 2)) + dh + (cl >> 16)) & 0xffff
        cl &= 0xffff
        tl = bl + (dl ^ (al & (cl ^ dl))) + q3 + (x[u3] | (x[u3 + 1] << 8))
        th = bh + (dh ^ (ah & (ch ^ dh))) + p3 + (x[u3 + 2] | (x[u3 + 3] << 8)) + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        bl = (((th & 0xfff) << 4) | (tl >> 12)) + cl
        bh = ((((tl & 0xfff) << 4) | (th >> 12)) + ch + (bl >> 16)) & 0xffff
        bl &= 0xffff
    for j in range(32, 48, 4):  # round 3: H(b, c, d) = b ^ c ^ d; s = 4, 11, 16, 23
        k = j << 2
        u0 = off + G[j]
        u1 = off + G[j + 1]
        u2 = off + G[j + 2]
        u3 = off + G[j + 3]
        p0 = (K[k] << 8) | K[k + 1]
        q0 = (K[k + 2] << 8) | K[k + 3]
        p1 = (K[k + 4] << 8) | K[k + 5]
        q1 = (K[k + 6] << 8) | K[k + 7]
        p2 = (K[k + 8] << 8) | K[k + 9]
        q2 = (K[k + 10] << 8) | K[k + 11]
        p3 = (K[k + 12] << 8) | K[k + 13]
        q3 = (K[k + 14] << 8) | K[k + 15]
        tl = al + (bl ^ cl ^ dl) + q0 + (x[u0] | (x[u0 + 1] << 8))
        th = ah + (bh ^ ch ^ dh) + p0 + (x[u0 + 2] | (x[u0 + 3] << 8)) + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        al = (((tl & 0xfff) << 4) | (th >> 12)) + bl
        ah = ((((th & 0xfff) << 4) | (tl >> 12)) + bh + (al >> 16)) & 0xffff
        al &= 0xffff
        tl = dl + (al ^ bl ^ cl) + q1 + (x[u1] | (x[u1 + 1] << 8))
        th = dh + (ah ^ bh ^ ch) + p1 + (x[u1 + 2] | (x[u1 + 3] << 8)) + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        dl = (((tl & 0x1f) << 11) | (th >> 5)) + al
        dh = ((((th & 0x1f) << 11) | (tl >> 5)) + ah + (dl >> 16)) & 0xffff
        dl &= 0xffff
        tl = cl + (dl ^ al ^ bl) + q2 + (x[u2] | (x[u2 + 1] << 8))
        th = ch + (dh ^ ah ^ bh) + p2 + (x[u2 + 2] | (x[u2 + 3] << 8)) + (tl >> 16)
        cl = (th & 0xffff) + dl
        ch = ((tl & 0xffff) + dh + (cl >> 16)) & 0xffff
        cl &= 0xffff
        tl = bl + (cl ^ dl ^ al) + q3 + (x[u3] | (x[u3 + 1] << 8))
        th = bh + (ch ^ dh ^ ah) + p3 + (x[u3 + 2] | (x[u3 + 3] << 8)) + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        bl = (((th & 0x1ff) << 7) | (tl >> 9)) + cl
        bh = ((((tl & 0x1ff) << 7) | (th >> 9)) + ch + (bl >> 16)) & 0xffff
        bl &= 0xffff
    for j in range(48, 64, 4):  # round 4: I(b, c, d) = c ^ (b | ~d); s = 6, 10, 15, 21
        k = j << 2
        u0 = off + G[j]
        u1 = off + G[j + 1]
        u2 = off + G[j + 2]
        u3 = off + G[j + 3]
        p0 = (K[k] << 8) | K[k + 1]
        q0 = (K[k + 2] << 8) | K[k + 3]
        p1 = (K[k + 4] << 8) | K[k + 5]
        q1 = (K[k + 6] << 8) | K[k + 7]
        p2 = (K[k + 8] << 8) | K[k + 9]
        q2 = (K[k + 10] << 8) | K[k + 11]
        p3 = (K[k + 12] << 8) | K[k + 13]
        q3 = (K[k + 14] << 8) | K[k + 15]
        tl = al + (cl ^ (bl | (dl ^ 0xffff))) + q0 + (x[u0] | (x[u0 + 1] << 8))
        th = ah + (ch ^ (bh | (dh ^ 0xffff))) + p0 + (x[u0 + 2] | (x[u0 + 3] << 8)) + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        al = (((tl & 0x3ff) << 6) | (th >> 10)) + bl
        ah = ((((th & 0x3ff) << 6) | (tl >> 10)) + bh + (al >> 16)) & 0xffff
        al &= 0xffff
        tl = dl + (bl ^ (al | (cl ^ 0xffff))) + q1 + (x[u1] | (x[u1 + 1] << 8))
        th = dh + (bh ^ (ah | (ch ^ 0xffff))) + p1 + (x[u1 + 2] | (x[u1 + 3] << 8)) + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        dl = (((tl & 0x3f) << 10) | (th >> 6)) + al
        dh = ((((th & 0x3f) << 10) | (tl >> 6)) + ah + (dl >> 16)) & 0xffff
        dl &= 0xffff
        tl = cl + (al ^ (dl | (bl ^ 0xffff))) + q2 + (x[u2] | (x[u2 + 1] << 8))
        th = ch + (ah ^ (dh | (bh ^ 0xffff))) + p2 + (x[u2 + 2] | (x[u2 + 3] << 8)) + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        cl = (((tl & 0x1) << 15) | (th >> 1)) + dl
        ch = ((((th & 0x1) << 15) | (tl >> 1)) + dh + (cl >> 16)) & 0xffff
        cl &= 0xffff
        tl = bl + (dl ^ (cl | (al ^ 0xffff))) + q3 + (x[u3] | (x[u3 + 1] << 8))
        th = bh + (dh ^ (ch | (ah ^ 0xffff))) + p3 + (x[u3 + 2] | (x[u3 + 3] << 8)) + (tl >> 16)
        tl &= 0xffff
        th &= 0xffff
        bl = (((th & 0x7ff) << 5) | (tl >> 11)) + cl
        bh = ((((tl & 0x7ff) << 5) | (th >> 11)) + ch + (bl >> 16)) & 0xffff
        bl &= 0xffff
    # Add this block's result to the chaining state, half by half with carry.
    al += st[so] | (st[so + 1] << 8)
    ah = (ah + (st[so + 2] | (st[so + 3] << 8)) + (al >> 16)) & 0xffff
    st[so] = al & 0xff
    st[so + 1] = (al >> 8) & 0xff
    st[so + 2] = ah & 0xff
    st[so + 3] = ah >> 8
    bl += st[so + 4] | (st[so + 5] << 8)
    bh = (bh + (st[so + 6] | (st[so + 7] << 8)) + (bl >> 16)) & 0xffff
    st[so + 4] = bl & 0xff
    st[so + 5] = (bl >> 8) & 0xff
    st[so + 6] = bh & 0xff
    st[so + 7] = bh >> 8
    cl += st[so + 8] | (st[so + 9] << 8)
    ch = (ch + (st[so + 10] | (st[so + 11] << 8)) + (cl >> 16)) & 0xffff
    st[so + 8] = cl & 0xff
    st[so + 9] = (cl >> 8) & 0xff
    st[so + 10] = ch & 0xff
    st[so + 11] = ch >> 8
    dl += st[so + 12] | (st[so + 13] << 8)
    dh = (dh + (st[so + 14] | (st[so + 15] << 8)) + (dl >> 16)) & 0xffff
    st[so + 12] = dl & 0xff
    st[so + 13] = (dl >> 8) & 0xff
    st[so + 14] = dh & 0xff
    st[so + 15] = dh >> 8


class PureMd5:
    """MD5 in pure Python: update() any number of times, digest() at any point.

    Full 64-byte blocks are read straight from the caller's buffer; at most one
    partial block is kept between calls, in one buffer with the state.
    """

    def __init__(self, data=b""):
        if _TAIL is None:
            _scratch()
        b = self._buf = bytearray(80)     # [0:64] the partial block, [64:80] the state
        b[_ST:_ST + 16] = _INIT
        self._fill = 0      # bytes waiting in _buf
        self._count = 0     # total bytes hashed so far
        if data:
            self.update(data)

    def reset(self):
        """Start again from the empty message (what shared() does)."""
        self._buf[_ST:_ST + 16] = _INIT
        self._fill = 0
        self._count = 0

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
            for i in range(take):           # byte by byte: no memoryview slices
                buf[fill + i] = data[i]
            fill += take
            off = take
            if fill < 64:
                self._fill = fill
                return
            _compress(buf, _ST, buf, 0)
            fill = 0
        while n - off >= 64:
            _compress(buf, _ST, data, off)
            off += 64
        if off < n:
            fill = n - off
            for i in range(fill):
                buf[i] = data[off + i]
        self._fill = fill

    def digest(self):
        """The 16-byte digest of everything so far; the object stays usable."""
        st = _FIN
        buf = self._buf
        for i in range(16):
            st[i] = buf[_ST + i]
        fill = self._fill
        tail = _TAIL
        for i in range(fill):
            tail[i] = buf[i]
        tail[fill] = 0x80
        for i in range(fill + 1, 64):
            tail[i] = 0
        if fill >= 56:                  # no room for the length: one more block
            _compress(st, 0, tail, 0)
            for i in range(56):
                tail[i] = 0
        bits = self._count * 8
        # 64-bit little-endian bit count, written as four 16-bit halves.
        struct.pack_into("<4H", tail, 56, bits & 0xffff, (bits >> 16) & 0xffff,
                         (bits >> 32) & 0xffff, (bits >> 48) & 0xffff)
        _compress(st, 0, tail, 0)
        return bytes(st)


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


_shared = None


def shared():
    """An MD5 object for one digest computed at once: the caller feeds it and
    takes digest() before anything else can ask for it (wmmp.wire.digest).  With
    the pure MD5 it is one PureMd5, reset and reused, not a new one per digest."""
    global _shared
    if _md5 is not None:
        return _md5()
    h = _shared
    if h is None:
        h = _shared = PureMd5()
    else:
        h.reset()
    return h


def md5(data):
    """16-byte MD5 digest of `data` (bytes, bytearray or memoryview)."""
    h = new()
    h.update(data)
    return h.digest()
