"""DES and triple DES block ciphers (FIPS 46-3, NIST SP 800-67) for WMMP (INTEROP 5).

Pure Python, table driven, and small-int only: every 32-bit half of the block is
held as two 16-bit ints, the S-boxes are merged with the P permutation into
"SP" tables (high and low 16 bits), and IP / FP are done with bit swaps.
Subkeys are computed once per key.  Block size is 8 bytes.
"""

try:
    from array import array
except ImportError:     # a port without array: lists work the same, with more RAM
    array = None

from wmmp.errors import BadValue

# FIPS 46-3 tables (1-based bit numbers, bit 1 = most significant).
_PC1 = bytes((
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18,
    10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
    63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22,
    14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
))
_PC2 = bytes((
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10,
    23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
    41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48,
    44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
))
_SHIFTS = bytes((1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1))
_P = bytes((
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10,
    2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
))
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
    """SP tables: entry 64*(j-1) + x is P(S_j(x) in its nibble), high and low halves."""
    n = 512
    hi = array("H", bytes(2 * n)) if array else [0] * n
    lo = array("H", bytes(2 * n)) if array else [0] * n
    for j in range(8):
        for x in range(64):
            row = ((x >> 4) & 2) | (x & 1)
            s = int(_SBOX[j * 64 + row * 16 + ((x >> 1) & 15)], 16)
            h = 0
            m = 0
            for i in range(32):
                src = _P[i] - 1            # bit position before P, 0 = MSB
                k = src - 4 * j            # 0..3 inside this S-box's nibble
                if 0 <= k < 4 and (s >> (3 - k)) & 1:
                    if i < 16:
                        h |= 0x8000 >> i
                    else:
                        m |= 0x8000 >> (i - 16)
            hi[j * 64 + x] = h
            lo[j * 64 + x] = m
    return hi, lo


_SPH, _SPL = _build_sp()


def _key_schedule(key):
    """16 rounds x 8 six-bit subkey chunks, chunk j stored as value | j << 6."""
    bits = [(key[i >> 3] >> (7 - (i & 7))) & 1 for i in range(64)]
    c = [bits[p - 1] for p in _PC1[:28]]
    d = [bits[p - 1] for p in _PC1[28:]]
    out = []
    for r in range(16):
        s = _SHIFTS[r]
        c = c[s:] + c[:s]
        d = d[s:] + d[:s]
        cd = c + d
        for j in range(8):
            v = 0
            for b in range(6):
                v = (v << 1) | cd[_PC2[6 * j + b] - 1]
            out.append(v | (j << 6))
    return out


def _reverse_rounds(sched):
    """The same 16-round schedule in reverse round order (decryption)."""
    out = []
    for r in range(15, -1, -1):
        out.extend(sched[8 * r:8 * r + 8])
    return out


def _pack(seq):
    return array("H", seq) if array else list(seq)


def _crypt(ks, src, soff, dst, doff):
    """Run one 8-byte block from src[soff:] through IP, the rounds of ks, FP into dst[doff:].

    ks holds 128 entries per single-DES pass; after each pass the halves are
    swapped (the DES output swap), so EDE is three passes without FP/IP between.
    """
    SPH = _SPH
    SPL = _SPL
    lh = (src[soff] << 8) | src[soff + 1]
    ll = (src[soff + 2] << 8) | src[soff + 3]
    rh = (src[soff + 4] << 8) | src[soff + 5]
    rl = (src[soff + 6] << 8) | src[soff + 7]
    # Initial permutation by bit swaps; each 16-bit half is independent except
    # the 16-bit swap, which exchanges lh and rl.
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
    i = 0
    n = len(ks)
    while i < n:
        end = i + 128
        while i < end:
            # L ^= f(R, K): the E expansion read as eight 6-bit windows of R.
            a = (((rl & 1) << 5) | (rh >> 11)) ^ ks[i]
            b = ((rh >> 7) & 63) ^ ks[i + 1]
            c = ((rh >> 3) & 63) ^ ks[i + 2]
            d = (((rh & 31) << 1) | (rl >> 15)) ^ ks[i + 3]
            e = (((rh & 1) << 5) | (rl >> 11)) ^ ks[i + 4]
            f = ((rl >> 7) & 63) ^ ks[i + 5]
            g = ((rl >> 3) & 63) ^ ks[i + 6]
            h = (((rl & 31) << 1) | (rh >> 15)) ^ ks[i + 7]
            lh ^= SPH[a] | SPH[b] | SPH[c] | SPH[d] | SPH[e] | SPH[f] | SPH[g] | SPH[h]
            ll ^= SPL[a] | SPL[b] | SPL[c] | SPL[d] | SPL[e] | SPL[f] | SPL[g] | SPL[h]
            # R ^= f(L, K') with the next round's subkey.
            a = (((ll & 1) << 5) | (lh >> 11)) ^ ks[i + 8]
            b = ((lh >> 7) & 63) ^ ks[i + 9]
            c = ((lh >> 3) & 63) ^ ks[i + 10]
            d = (((lh & 31) << 1) | (ll >> 15)) ^ ks[i + 11]
            e = (((lh & 1) << 5) | (ll >> 11)) ^ ks[i + 12]
            f = ((ll >> 7) & 63) ^ ks[i + 13]
            g = ((ll >> 3) & 63) ^ ks[i + 14]
            h = (((ll & 31) << 1) | (lh >> 15)) ^ ks[i + 15]
            rh ^= SPH[a] | SPH[b] | SPH[c] | SPH[d] | SPH[e] | SPH[f] | SPH[g] | SPH[h]
            rl ^= SPL[a] | SPL[b] | SPL[c] | SPL[d] | SPL[e] | SPL[f] | SPL[g] | SPL[h]
            i += 16
        lh, ll, rh, rl = rh, rl, lh, ll
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
        self._enc = _pack(ks)
        self._dec = _pack(_reverse_rounds(ks))

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
        k1 = _key_schedule(key[0:8])
        k2 = _key_schedule(key[8:16])
        k3 = _key_schedule(key[16:24]) if n == 24 else k1
        r1 = _reverse_rounds(k1)
        r2 = _reverse_rounds(k2)
        r3 = _reverse_rounds(k3) if n == 24 else r1
        self._enc = _pack(k1 + r2 + k3)
        self._dec = _pack(r3 + k2 + r1)
