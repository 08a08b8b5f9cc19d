"""AES-128/192/256 block cipher (FIPS 197) for WMMP (PROTOCOL.md 5).

Pure Python and byte oriented: the S-box, its inverse and the xtime table are
three 256-byte bytearrays built once at import (no 4 KB T-tables).  Each round
is unrolled over the 16 state bytes, held in local variables, so a block costs
no heap allocation.  Round keys are expanded once per key.  Block size 16.
"""

from wmmp.errors import BadValue


def _build_tables():
    """S-box, inverse S-box and xtime (multiply by 2 in GF(2^8)), FIPS 197 5.1.1, 4.2.1."""
    xt = bytearray(256)
    for i in range(256):
        v = i << 1
        xt[i] = (v ^ 0x11b) if v & 0x100 else v
    exp = bytearray(256)
    log = bytearray(256)
    p = 1
    for i in range(255):        # 3 generates the multiplicative group
        exp[i] = p
        log[p] = i
        p ^= xt[p]
    sbox = bytearray(256)
    inv = bytearray(256)
    for i in range(256):
        b = exp[(255 - log[i]) % 255] if i else 0
        s = b
        for _ in range(4):
            b = ((b << 1) | (b >> 7)) & 0xff
            s ^= b
        s ^= 0x63
        sbox[i] = s
        inv[s] = i
    return sbox, inv, xt


_SBOX, _INV, _XT = _build_tables()
del _build_tables


def _expand_key(key):
    """FIPS 197 5.2 key expansion: 16 * (rounds + 1) bytes of round keys."""
    nk = len(key) // 4
    rounds = nk + 6
    n = 16 * (rounds + 1)
    w = bytearray(n)
    w[0:len(key)] = key
    S = _SBOX
    rcon = 1
    i = len(key)
    while i < n:
        a = w[i - 4]
        b = w[i - 3]
        c = w[i - 2]
        d = w[i - 1]
        k = i // 4
        if k % nk == 0:
            a, b, c, d = S[b] ^ rcon, S[c], S[d], S[a]
            rcon = _XT[rcon]
        elif nk > 6 and k % nk == 4:
            a, b, c, d = S[a], S[b], S[c], S[d]
        j = i - 4 * nk
        w[i] = w[j] ^ a
        w[i + 1] = w[j + 1] ^ b
        w[i + 2] = w[j + 2] ^ c
        w[i + 3] = w[j + 3] ^ d
        i += 4
    return w, rounds


def _encrypt(rk, last, src, soff, dst, doff):
    """Encrypt src[soff:soff + 16] into dst[doff:]; last = 16 * rounds."""
    S = _SBOX
    X = _XT
    o = 0
    t0 = src[soff] ^ rk[o]
    t1 = src[soff + 1] ^ rk[o + 1]
    t2 = src[soff + 2] ^ rk[o + 2]
    t3 = src[soff + 3] ^ rk[o + 3]
    t4 = src[soff + 4] ^ rk[o + 4]
    t5 = src[soff + 5] ^ rk[o + 5]
    t6 = src[soff + 6] ^ rk[o + 6]
    t7 = src[soff + 7] ^ rk[o + 7]
    t8 = src[soff + 8] ^ rk[o + 8]
    t9 = src[soff + 9] ^ rk[o + 9]
    t10 = src[soff + 10] ^ rk[o + 10]
    t11 = src[soff + 11] ^ rk[o + 11]
    t12 = src[soff + 12] ^ rk[o + 12]
    t13 = src[soff + 13] ^ rk[o + 13]
    t14 = src[soff + 14] ^ rk[o + 14]
    t15 = src[soff + 15] ^ rk[o + 15]
    o = 16
    # Rounds 1 .. Nr-1 alternate t -> s and s -> t; Nr - 1 is odd for every key
    # size, so the state ends in s.
    while True:
        a = S[t0]
        b = S[t5]
        c = S[t10]
        d = S[t15]
        e = a ^ b ^ c ^ d
        s0 = a ^ e ^ X[a ^ b] ^ rk[o]
        s1 = b ^ e ^ X[b ^ c] ^ rk[o + 1]
        s2 = c ^ e ^ X[c ^ d] ^ rk[o + 2]
        s3 = d ^ e ^ X[d ^ a] ^ rk[o + 3]
        a = S[t4]
        b = S[t9]
        c = S[t14]
        d = S[t3]
        e = a ^ b ^ c ^ d
        s4 = a ^ e ^ X[a ^ b] ^ rk[o + 4]
        s5 = b ^ e ^ X[b ^ c] ^ rk[o + 5]
        s6 = c ^ e ^ X[c ^ d] ^ rk[o + 6]
        s7 = d ^ e ^ X[d ^ a] ^ rk[o + 7]
        a = S[t8]
        b = S[t13]
        c = S[t2]
        d = S[t7]
        e = a ^ b ^ c ^ d
        s8 = a ^ e ^ X[a ^ b] ^ rk[o + 8]
        s9 = b ^ e ^ X[b ^ c] ^ rk[o + 9]
        s10 = c ^ e ^ X[c ^ d] ^ rk[o + 10]
        s11 = d ^ e ^ X[d ^ a] ^ rk[o + 11]
        a = S[t12]
        b = S[t1]
        c = S[t6]
        d = S[t11]
        e = a ^ b ^ c ^ d
        s12 = a ^ e ^ X[a ^ b] ^ rk[o + 12]
        s13 = b ^ e ^ X[b ^ c] ^ rk[o + 13]
        s14 = c ^ e ^ X[c ^ d] ^ rk[o + 14]
        s15 = d ^ e ^ X[d ^ a] ^ rk[o + 15]
        o += 16
        if o == last:
            break
        a = S[s0]
        b = S[s5]
        c = S[s10]
        d = S[s15]
        e = a ^ b ^ c ^ d
        t0 = a ^ e ^ X[a ^ b] ^ rk[o]
        t1 = b ^ e ^ X[b ^ c] ^ rk[o + 1]
        t2 = c ^ e ^ X[c ^ d] ^ rk[o + 2]
        t3 = d ^ e ^ X[d ^ a] ^ rk[o + 3]
        a = S[s4]
        b = S[s9]
        c = S[s14]
        d = S[s3]
        e = a ^ b ^ c ^ d
        t4 = a ^ e ^ X[a ^ b] ^ rk[o + 4]
        t5 = b ^ e ^ X[b ^ c] ^ rk[o + 5]
        t6 = c ^ e ^ X[c ^ d] ^ rk[o + 6]
        t7 = d ^ e ^ X[d ^ a] ^ rk[o + 7]
        a = S[s8]
        b = S[s13]
        c = S[s2]
        d = S[s7]
        e = a ^ b ^ c ^ d
        t8 = a ^ e ^ X[a ^ b] ^ rk[o + 8]
        t9 = b ^ e ^ X[b ^ c] ^ rk[o + 9]
        t10 = c ^ e ^ X[c ^ d] ^ rk[o + 10]
        t11 = d ^ e ^ X[d ^ a] ^ rk[o + 11]
        a = S[s12]
        b = S[s1]
        c = S[s6]
        d = S[s11]
        e = a ^ b ^ c ^ d
        t12 = a ^ e ^ X[a ^ b] ^ rk[o + 12]
        t13 = b ^ e ^ X[b ^ c] ^ rk[o + 13]
        t14 = c ^ e ^ X[c ^ d] ^ rk[o + 14]
        t15 = d ^ e ^ X[d ^ a] ^ rk[o + 15]
        o += 16
    dst[doff] = S[s0] ^ rk[o]
    dst[doff + 1] = S[s5] ^ rk[o + 1]
    dst[doff + 2] = S[s10] ^ rk[o + 2]
    dst[doff + 3] = S[s15] ^ rk[o + 3]
    dst[doff + 4] = S[s4] ^ rk[o + 4]
    dst[doff + 5] = S[s9] ^ rk[o + 5]
    dst[doff + 6] = S[s14] ^ rk[o + 6]
    dst[doff + 7] = S[s3] ^ rk[o + 7]
    dst[doff + 8] = S[s8] ^ rk[o + 8]
    dst[doff + 9] = S[s13] ^ rk[o + 9]
    dst[doff + 10] = S[s2] ^ rk[o + 10]
    dst[doff + 11] = S[s7] ^ rk[o + 11]
    dst[doff + 12] = S[s12] ^ rk[o + 12]
    dst[doff + 13] = S[s1] ^ rk[o + 13]
    dst[doff + 14] = S[s6] ^ rk[o + 14]
    dst[doff + 15] = S[s11] ^ rk[o + 15]


def _decrypt(rk, last, src, soff, dst, doff):
    """Decrypt src[soff:soff + 16] into dst[doff:] (FIPS 197 5.3 inverse cipher)."""
    V = _INV
    X = _XT
    o = last
    t0 = src[soff] ^ rk[o]
    t1 = src[soff + 1] ^ rk[o + 1]
    t2 = src[soff + 2] ^ rk[o + 2]
    t3 = src[soff + 3] ^ rk[o + 3]
    t4 = src[soff + 4] ^ rk[o + 4]
    t5 = src[soff + 5] ^ rk[o + 5]
    t6 = src[soff + 6] ^ rk[o + 6]
    t7 = src[soff + 7] ^ rk[o + 7]
    t8 = src[soff + 8] ^ rk[o + 8]
    t9 = src[soff + 9] ^ rk[o + 9]
    t10 = src[soff + 10] ^ rk[o + 10]
    t11 = src[soff + 11] ^ rk[o + 11]
    t12 = src[soff + 12] ^ rk[o + 12]
    t13 = src[soff + 13] ^ rk[o + 13]
    t14 = src[soff + 14] ^ rk[o + 14]
    t15 = src[soff + 15] ^ rk[o + 15]
    o = last - 16
    # InvMixColumns = a pre-step (the e, f terms) followed by MixColumns.
    while True:
        a = V[t0] ^ rk[o]
        b = V[t13] ^ rk[o + 1]
        c = V[t10] ^ rk[o + 2]
        d = V[t7] ^ rk[o + 3]
        e = X[X[a ^ c]]
        f = X[X[b ^ d]]
        a ^= e
        b ^= f
        c ^= e
        d ^= f
        e = a ^ b ^ c ^ d
        s0 = a ^ e ^ X[a ^ b]
        s1 = b ^ e ^ X[b ^ c]
        s2 = c ^ e ^ X[c ^ d]
        s3 = d ^ e ^ X[d ^ a]
        a = V[t4] ^ rk[o + 4]
        b = V[t1] ^ rk[o + 5]
        c = V[t14] ^ rk[o + 6]
        d = V[t11] ^ rk[o + 7]
        e = X[X[a ^ c]]
        f = X[X[b ^ d]]
        a ^= e
        b ^= f
        c ^= e
        d ^= f
        e = a ^ b ^ c ^ d
        s4 = a ^ e ^ X[a ^ b]
        s5 = b ^ e ^ X[b ^ c]
        s6 = c ^ e ^ X[c ^ d]
        s7 = d ^ e ^ X[d ^ a]
        a = V[t8] ^ rk[o + 8]
        b = V[t5] ^ rk[o + 9]
        c = V[t2] ^ rk[o + 10]
        d = V[t15] ^ rk[o + 11]
        e = X[X[a ^ c]]
        f = X[X[b ^ d]]
        a ^= e
        b ^= f
        c ^= e
        d ^= f
        e = a ^ b ^ c ^ d
        s8 = a ^ e ^ X[a ^ b]
        s9 = b ^ e ^ X[b ^ c]
        s10 = c ^ e ^ X[c ^ d]
        s11 = d ^ e ^ X[d ^ a]
        a = V[t12] ^ rk[o + 12]
        b = V[t9] ^ rk[o + 13]
        c = V[t6] ^ rk[o + 14]
        d = V[t3] ^ rk[o + 15]
        e = X[X[a ^ c]]
        f = X[X[b ^ d]]
        a ^= e
        b ^= f
        c ^= e
        d ^= f
        e = a ^ b ^ c ^ d
        s12 = a ^ e ^ X[a ^ b]
        s13 = b ^ e ^ X[b ^ c]
        s14 = c ^ e ^ X[c ^ d]
        s15 = d ^ e ^ X[d ^ a]
        o -= 16
        if o == 0:
            break
        a = V[s0] ^ rk[o]
        b = V[s13] ^ rk[o + 1]
        c = V[s10] ^ rk[o + 2]
        d = V[s7] ^ rk[o + 3]
        e = X[X[a ^ c]]
        f = X[X[b ^ d]]
        a ^= e
        b ^= f
        c ^= e
        d ^= f
        e = a ^ b ^ c ^ d
        t0 = a ^ e ^ X[a ^ b]
        t1 = b ^ e ^ X[b ^ c]
        t2 = c ^ e ^ X[c ^ d]
        t3 = d ^ e ^ X[d ^ a]
        a = V[s4] ^ rk[o + 4]
        b = V[s1] ^ rk[o + 5]
        c = V[s14] ^ rk[o + 6]
        d = V[s11] ^ rk[o + 7]
        e = X[X[a ^ c]]
        f = X[X[b ^ d]]
        a ^= e
        b ^= f
        c ^= e
        d ^= f
        e = a ^ b ^ c ^ d
        t4 = a ^ e ^ X[a ^ b]
        t5 = b ^ e ^ X[b ^ c]
        t6 = c ^ e ^ X[c ^ d]
        t7 = d ^ e ^ X[d ^ a]
        a = V[s8] ^ rk[o + 8]
        b = V[s5] ^ rk[o + 9]
        c = V[s2] ^ rk[o + 10]
        d = V[s15] ^ rk[o + 11]
        e = X[X[a ^ c]]
        f = X[X[b ^ d]]
        a ^= e
        b ^= f
        c ^= e
        d ^= f
        e = a ^ b ^ c ^ d
        t8 = a ^ e ^ X[a ^ b]
        t9 = b ^ e ^ X[b ^ c]
        t10 = c ^ e ^ X[c ^ d]
        t11 = d ^ e ^ X[d ^ a]
        a = V[s12] ^ rk[o + 12]
        b = V[s9] ^ rk[o + 13]
        c = V[s6] ^ rk[o + 14]
        d = V[s3] ^ rk[o + 15]
        e = X[X[a ^ c]]
        f = X[X[b ^ d]]
        a ^= e
        b ^= f
        c ^= e
        d ^= f
        e = a ^ b ^ c ^ d
        t12 = a ^ e ^ X[a ^ b]
        t13 = b ^ e ^ X[b ^ c]
        t14 = c ^ e ^ X[c ^ d]
        t15 = d ^ e ^ X[d ^ a]
        o -= 16
    dst[doff] = V[s0] ^ rk[o]
    dst[doff + 1] = V[s13] ^ rk[o + 1]
    dst[doff + 2] = V[s10] ^ rk[o + 2]
    dst[doff + 3] = V[s7] ^ rk[o + 3]
    dst[doff + 4] = V[s4] ^ rk[o + 4]
    dst[doff + 5] = V[s1] ^ rk[o + 5]
    dst[doff + 6] = V[s14] ^ rk[o + 6]
    dst[doff + 7] = V[s11] ^ rk[o + 7]
    dst[doff + 8] = V[s8] ^ rk[o + 8]
    dst[doff + 9] = V[s5] ^ rk[o + 9]
    dst[doff + 10] = V[s2] ^ rk[o + 10]
    dst[doff + 11] = V[s15] ^ rk[o + 11]
    dst[doff + 12] = V[s12] ^ rk[o + 12]
    dst[doff + 13] = V[s9] ^ rk[o + 13]
    dst[doff + 14] = V[s6] ^ rk[o + 14]
    dst[doff + 15] = V[s3] ^ rk[o + 15]


class Aes:
    """AES with a 16, 24 or 32-byte key (AES-128, -192, -256)."""

    block_size = 16

    def __init__(self, key):
        if len(key) not in (16, 24, 32):
            raise BadValue("AES key must be 16, 24 or 32 bytes")
        self._rk, rounds = _expand_key(key)
        self._last = 16 * rounds

    def encrypt_block(self, block):
        """16 bytes in, 16 encrypted bytes out."""
        if len(block) != 16:
            raise BadValue("AES block must be 16 bytes")
        out = bytearray(16)
        _encrypt(self._rk, self._last, block, 0, out, 0)
        return bytes(out)

    def decrypt_block(self, block):
        """16 bytes in, 16 decrypted bytes out."""
        if len(block) != 16:
            raise BadValue("AES block must be 16 bytes")
        out = bytearray(16)
        _decrypt(self._rk, self._last, block, 0, out, 0)
        return bytes(out)

    def encrypt_into(self, buf, off):
        """Encrypt buf[off:off + 16] in place (buf is a bytearray); no allocation."""
        _encrypt(self._rk, self._last, buf, off, buf, off)

    def decrypt_into(self, buf, off):
        """Decrypt buf[off:off + 16] in place (buf is a bytearray); no allocation."""
        _decrypt(self._rk, self._last, buf, off, buf, off)
