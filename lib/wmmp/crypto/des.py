"""DES and triple DES block ciphers (FIPS 46-3, NIST SP 800-67) for WMMP (PROTOCOL.md 5).

Pure Python, table driven, and small-int only (MicroPython allocates every int
of 2**30 or more).  Each 32-bit half of the block is kept in its E-expanded
form, 48 bits as two 24-bit ints, so the eight 6-bit S-box inputs of a round are
plain shifts; the S-boxes, P and E are merged into two 512-entry tables.  E is
linear, so XOR-ing expanded values is the same as expanding the XOR.  IP / FP
are bit swaps on 16-bit quarters.  Subkeys are computed once per key.
Block size is 8 bytes.
"""

try:
    from array import array
except ImportError:     # a port without array: lists work the same, with more RAM
    array = None

from wmmp.errors import BadValue

# FIPS 46-3 tables PC-1 (57, 49, 41, ...), PC-2 (14, 17, 11, ...), the left shifts and
# P (16, 7, 20, ...): 1-based bit numbers, bit 1 = most significant, as bytes
# literals (far cheaper in MicroPython RAM than tuples of ints).
_PC1 = (
    b"\x39\x31\x29\x21\x19\x11\x09\x01\x3a\x32\x2a\x22\x1a\x12"
    b"\x0a\x02\x3b\x33\x2b\x23\x1b\x13\x0b\x03\x3c\x34\x2c\x24"
    b"\x3f\x37\x2f\x27\x1f\x17\x0f\x07\x3e\x36\x2e\x26\x1e\x16"
    b"\x0e\x06\x3d\x35\x2d\x25\x1d\x15\x0d\x05\x1c\x14\x0c\x04"
)
_PC2 = (
    b"\x0e\x11\x0b\x18\x01\x05\x03\x1c\x0f\x06\x15\x0a"
    b"\x17\x13\x0c\x04\x1a\x08\x10\x07\x1b\x14\x0d\x02"
    b"\x29\x34\x1f\x25\x2f\x37\x1e\x28\x33\x2d\x21\x30"
    b"\x2c\x31\x27\x38\x22\x35\x2e\x2a\x32\x24\x1d\x20"
)
_SHIFTS = (
    b"\x01\x01\x02\x02\x02\x02\x02\x02\x01\x02\x02\x02\x02\x02\x02\x01"
)
_P = (
    b"\x10\x07\x14\x15\x1d\x0c\x1c\x11\x01\x0f\x17\x1a\x05\x12\x1f\x0a"
    b"\x02\x08\x18\x0e\x20\x1b\x03\x09\x13\x0d\x1e\x06\x16\x0b\x04\x19"
)
# S1..S8, each 4 rows of 16, one hex digit per entry.
_SBOX = (
    "e4d12fb83a6c5907" "0f74e2d1a6cb9538" "41e8d62bfc973a50" "fc8249175b3ea06d"
    "f18e6b34972dc05a" "3d47f28ec01a69b5" "0e7ba4d158c6932f" "d8a13f42b67c05e9"
    "a09e63f51dc7b428" "d709346a285ecbf1" "d6498f30b12c5ae7" "1ad069874fe3b52c"
    "7de3069a1285bc4f" "d8b56f03472c1ae9" "a690cb7df13e5284" "3f06a1d8945bc72e"
    "2c417ab6853fd0e9" "eb2c47d150fa3986" "421bad78f9c5630e" "b8c71e2d6f09a453"
    "c1af92680d34e75b" "af427c9561de0b38" "9ef528c3704a1db6" "432c95fabe17608d"
    "4b2ef08d3c975a61" "d0b7491ae35c2f86" "14bdc37eaf680592" "6bd814a7950fe23c"
    "d2846fb1a93e50c7" "1fd8a374c56b0e92" "7b419ce206adf358" "21e74a8dfc90356b"
)


def _build_sp():
    """SP tables: entry 64*(j-1) + x is E(P(S_j(x) in its nibble)), windows 1-4 / 5-8."""
    n = 512
    th = array("I", bytes(4 * n)) if array else [0] * n
    tl = array("I", bytes(4 * n)) if array else [0] * n
    for j in range(8):
        for x in range(64):
            row = ((x >> 4) & 2) | (x & 1)
            v = int(_SBOX[j * 64 + row * 16 + ((x >> 1) & 15)], 16)
            h = 0
            m = 0
            for i in range(32):
                k = _P[i] - 1 - 4 * j      # source bit inside this S-box's nibble
                if 0 <= k < 4 and (v >> (3 - k)) & 1:
                    if i < 16:
                        h |= 0x8000 >> i
                    else:
                        m |= 0x8000 >> (i - 16)
            # E expansion of (h, m): window w is bits 4w-4 .. 4w+1 (1-based, cyclic).
            th[j * 64 + x] = ((((m & 1) << 5) | (h >> 11)) << 18) | (((h >> 7) & 63) << 12) \
                | (((h >> 3) & 63) << 6) | ((h & 31) << 1) | (m >> 15)
            tl[j * 64 + x] = ((((h & 1) << 5) | (m >> 11)) << 18) | (((m >> 7) & 63) << 12) \
                | (((m >> 3) & 63) << 6) | ((m & 31) << 1) | (h >> 15)
    return th, tl


# Built on the first key schedule, not at import: 4 KB that a terminal which
# never uses DES (no DES session or base key) never pays for.
_SPH = None
_SPL = None


def _tables():
    global _SPH, _SPL, _SBOX, _P
    _SPH, _SPL = _build_sp()
    _SBOX = _P = None           # only needed to build the tables: free the RAM


def _key_schedule(key):
    """FIPS 46-3 key schedule: 128 six-bit subkey chunks, round r S-box j at 8 * r + j."""
    if _SPH is None:
        _tables()
    c = 0
    d = 0
    for i in range(28):
        p = _PC1[i] - 1
        c = (c << 1) | ((key[p >> 3] >> (7 - (p & 7))) & 1)
        p = _PC1[i + 28] - 1
        d = (d << 1) | ((key[p >> 3] >> (7 - (p & 7))) & 1)
    ks = bytearray(128)
    for r in range(16):
        s = _SHIFTS[r]
        c = ((c << s) | (c >> (28 - s))) & 0xfffffff
        d = ((d << s) | (d >> (28 - s))) & 0xfffffff
        for j in range(8):
            v = 0
            for b in range(6 * j, 6 * j + 6):
                p = _PC2[b] - 1
                if p < 28:
                    v = (v << 1) | ((c >> (27 - p)) & 1)
                else:
                    v = (v << 1) | ((d >> (55 - p)) & 1)
            ks[8 * r + j] = v
    return ks


def _pass(ks, decrypt):
    """One single-DES pass for _crypt: 8 lists of two rounds' chunks, each chunk
    j stored as value | j << 6 (its offset in the SP tables)."""
    out = []
    for p in range(8):
        t = [0] * 16
        for i in range(16):
            r = 2 * p + (i >> 3)
            if decrypt:
                r = 15 - r
            t[i] = ks[8 * r + (i & 7)] | ((i & 7) << 6)
        out.append(t)
    return out


def _crypt(passes, src, soff, dst, doff):
    """Run the 8-byte block src[soff:] through IP, each pass of 16 rounds, FP into dst[doff:].

    After each pass the halves are swapped (the DES output swap), so EDE is three
    passes with no FP / IP between them.
    """
    SH = _SPH
    SL = _SPL
    lh = (src[soff] << 8) | src[soff + 1]
    ll = (src[soff + 2] << 8) | src[soff + 3]
    rh = (src[soff + 4] << 8) | src[soff + 5]
    rl = (src[soff + 6] << 8) | src[soff + 7]
    # Initial permutation by bit swaps; each 16-bit quarter is independent except
    # for the 16-bit swap, which exchanges lh and rl.
    t = ((lh >> 4) ^ rh) & 0x0f0f
    rh ^= t
    lh ^= t << 4
    t = ((ll >> 4) ^ rl) & 0x0f0f
    rl ^= t
    ll ^= t << 4
    lh, rl = rl, lh
    t = ((rh >> 2) ^ lh) & 0x3333
    lh ^= t
    rh ^= t << 2
    t = ((rl >> 2) ^ ll) & 0x3333
    ll ^= t
    rl ^= t << 2
    t = ((rh >> 8) ^ lh) & 0x00ff
    lh ^= t
    rh ^= t << 8
    t = ((rl >> 8) ^ ll) & 0x00ff
    ll ^= t
    rl ^= t << 8
    t = ((lh >> 1) ^ rh) & 0x5555
    rh ^= t
    lh ^= t << 1
    t = ((ll >> 1) ^ rl) & 0x5555
    rl ^= t
    ll ^= t << 1
    # Expand L and R (as in _build_sp).
    LH = ((((ll & 1) << 5) | (lh >> 11)) << 18) | (((lh >> 7) & 63) << 12) \
        | (((lh >> 3) & 63) << 6) | ((lh & 31) << 1) | (ll >> 15)
    LL = ((((lh & 1) << 5) | (ll >> 11)) << 18) | (((ll >> 7) & 63) << 12) \
        | (((ll >> 3) & 63) << 6) | ((ll & 31) << 1) | (lh >> 15)
    RH = ((((rl & 1) << 5) | (rh >> 11)) << 18) | (((rh >> 7) & 63) << 12) \
        | (((rh >> 3) & 63) << 6) | ((rh & 31) << 1) | (rl >> 15)
    RL = ((((rh & 1) << 5) | (rl >> 11)) << 18) | (((rl >> 7) & 63) << 12) \
        | (((rl >> 3) & 63) << 6) | ((rl & 31) << 1) | (rh >> 15)
    for rounds in passes:
        for k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11, k12, k13, k14, k15 in rounds:
            # L ^= f(R, K): the S-box inputs are R's windows XOR the subkey chunks.
            a = (RH >> 18) ^ k0
            b = ((RH >> 12) & 63) ^ k1
            c = ((RH >> 6) & 63) ^ k2
            d = (RH & 63) ^ k3
            e = (RL >> 18) ^ k4
            f = ((RL >> 12) & 63) ^ k5
            g = ((RL >> 6) & 63) ^ k6
            h = (RL & 63) ^ k7
            LH ^= SH[a] | SH[b] | SH[c] | SH[d] | SH[e] | SH[f] | SH[g] | SH[h]
            LL ^= SL[a] | SL[b] | SL[c] | SL[d] | SL[e] | SL[f] | SL[g] | SL[h]
            # R ^= f(L, K') with the next round's subkey.
            a = (LH >> 18) ^ k8
            b = ((LH >> 12) & 63) ^ k9
            c = ((LH >> 6) & 63) ^ k10
            d = (LH & 63) ^ k11
            e = (LL >> 18) ^ k12
            f = ((LL >> 12) & 63) ^ k13
            g = ((LL >> 6) & 63) ^ k14
            h = (LL & 63) ^ k15
            RH ^= SH[a] | SH[b] | SH[c] | SH[d] | SH[e] | SH[f] | SH[g] | SH[h]
            RL ^= SL[a] | SL[b] | SL[c] | SL[d] | SL[e] | SL[f] | SL[g] | SL[h]
        LH, RH = RH, LH     # the DES output swap (pairwise: MicroPython would
        LL, RL = RL, LL     # allocate a tuple for a 4-way swap)
    # Contract: bits 1-16 of a half are window 1 bits 2-6, windows 2-3 bits 3-6,
    # window 4 bits 3-5 (and likewise windows 5-8 for bits 17-32).
    lh = (((LH >> 18) & 31) << 11) | (((LH >> 12) & 15) << 7) | (((LH >> 6) & 15) << 3) \
        | ((LH >> 1) & 7)
    ll = (((LL >> 18) & 31) << 11) | (((LL >> 12) & 15) << 7) | (((LL >> 6) & 15) << 3) \
        | ((LL >> 1) & 7)
    rh = (((RH >> 18) & 31) << 11) | (((RH >> 12) & 15) << 7) | (((RH >> 6) & 15) << 3) \
        | ((RH >> 1) & 7)
    rl = (((RL >> 18) & 31) << 11) | (((RL >> 12) & 15) << 7) | (((RL >> 6) & 15) << 3) \
        | ((RL >> 1) & 7)
    # Final permutation: the IP swaps undone in reverse order.
    t = ((ll >> 1) ^ rl) & 0x5555
    rl ^= t
    ll ^= t << 1
    t = ((lh >> 1) ^ rh) & 0x5555
    rh ^= t
    lh ^= t << 1
    t = ((rl >> 8) ^ ll) & 0x00ff
    ll ^= t
    rl ^= t << 8
    t = ((rh >> 8) ^ lh) & 0x00ff
    lh ^= t
    rh ^= t << 8
    t = ((rl >> 2) ^ ll) & 0x3333
    ll ^= t
    rl ^= t << 2
    t = ((rh >> 2) ^ lh) & 0x3333
    lh ^= t
    rh ^= t << 2
    lh, rl = rl, lh
    t = ((ll >> 4) ^ rl) & 0x0f0f
    rl ^= t
    ll ^= t << 4
    t = ((lh >> 4) ^ rh) & 0x0f0f
    rh ^= t
    lh ^= t << 4
    dst[doff] = lh >> 8
    dst[doff + 1] = lh & 0xff
    dst[doff + 2] = ll >> 8
    dst[doff + 3] = ll & 0xff
    dst[doff + 4] = rh >> 8
    dst[doff + 5] = rh & 0xff
    dst[doff + 6] = rl >> 8
    dst[doff + 7] = rl & 0xff


def _check_block(block):
    if len(block) != 8:
        raise BadValue("DES block must be 8 bytes")


class Des:
    """Single DES with an 8-byte key (parity bits ignored)."""

    block_size = 8

    def __init__(self, key):
        if len(key) != 8:
            raise BadValue("DES key must be 8 bytes")
        ks = _key_schedule(key)
        self._enc = [_pass(ks, False)]
        self._dec = [_pass(ks, True)]

    def encrypt_block(self, block):
        """8 bytes in, 8 encrypted bytes out."""
        _check_block(block)
        out = bytearray(8)
        _crypt(self._enc, block, 0, out, 0)
        return bytes(out)

    def decrypt_block(self, block):
        """8 bytes in, 8 decrypted bytes out."""
        _check_block(block)
        out = bytearray(8)
        _crypt(self._dec, block, 0, out, 0)
        return bytes(out)

    def encrypt_into(self, buf, off):
        """Encrypt buf[off:off + 8] in place (buf is a bytearray); no allocation."""
        _crypt(self._enc, buf, off, buf, off)

    def decrypt_into(self, buf, off):
        """Decrypt buf[off:off + 8] in place (buf is a bytearray); no allocation."""
        _crypt(self._dec, buf, off, buf, off)


class TripleDes(Des):
    """Triple DES EDE (SP 800-67): 16-byte key K1||K2 (K3 = K1) or 24-byte K1||K2||K3.

    Encryption is E(K3, D(K2, E(K1, block))), run as 48 rounds with one IP and one FP.
    """

    def __init__(self, key):
        n = len(key)
        if n != 16 and n != 24:
            raise BadValue("3DES key must be 16 or 24 bytes")
        f = []
        r = []
        for i in range(0, n, 8):
            ks = _key_schedule(key[i:i + 8])
            f.append(_pass(ks, False))
            r.append(_pass(ks, True))
        if n == 16:
            f.append(f[0])
            r.append(r[0])
        self._enc = [f[0], r[1], f[2]]
        self._dec = [r[2], f[1], r[0]]
