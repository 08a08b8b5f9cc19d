"""The primitives of DTLS 1.2 with a pre-shared key (andlink.dtls): HMAC-SHA256
(RFC 2104), the TLS 1.2 PRF (RFC 5246 5), AES-CCM with an 8-byte tag
(RFC 3610, as RFC 6655 uses it) and AES-CBC with HMAC-SHA256 (RFC 5246
6.2.3.2).  AES goes through the port's `cryptolib` when it has one (ECB, and
CBC for the CBC suite), else the pure-Python AES of wmmp.crypto.aes.

    hmac_sha256(key, *parts) -> 32 bytes           of the parts joined
    prf(secret, label, seed, n) -> n bytes          P_SHA256
    Ccm8(key).seal(nonce, aad, plain) -> ciphertext + tag
    Ccm8(key).open(nonce, aad, sealed) -> plain or None (tag wrong)
    Cbc(key).encrypt(iv, data) / decrypt(iv, data)  whole 16-byte blocks
"""

from hashlib import sha256

try:
    import cryptolib
except ImportError:
    cryptolib = None

_PAD = bytearray(64)    # the HMAC key pad, made once (no call nests another)


def hmac_sha256(key, *parts):
    """HMAC-SHA256 of the parts joined, without joining them."""
    if len(key) > 64:
        key = sha256(key).digest()
    pad = _PAD
    k = len(key)
    for i in range(64):
        pad[i] = (key[i] if i < k else 0) ^ 0x36
    inner = sha256(pad)
    for p in parts:
        inner.update(p)
    d = inner.digest()
    for i in range(64):
        pad[i] ^= 0x6A                  # 0x36 ^ 0x5C: the inner pad made the outer one
    outer = sha256(pad)
    outer.update(d)
    return outer.digest()


def prf(secret, label, seed, n):
    """n bytes of P_SHA256(secret, label + seed) (RFC 5246 5)."""
    out = bytearray(n + 31)
    a = hmac_sha256(secret, label, seed)            # A(1)
    i = 0
    while i < n:
        out[i:i + 32] = hmac_sha256(secret, a, label, seed)
        i += 32
        if i < n:
            a = hmac_sha256(secret, a)
    return bytes(out[:n])


def _ecb(key):
    """fn(src, dst): AES `key` of one 16-byte block into the bytearray dst."""
    if cryptolib is not None:
        return cryptolib.aes(bytes(key), 1).encrypt
    from wmmp.crypto.aes import Aes
    a = Aes(bytes(key))

    def enc(src, dst):
        dst[:] = src
        a.encrypt_into(dst, 0)
    return enc


class Ccm8:
    """AES-CCM with M = 8 (an 8-byte tag) and a 12-byte nonce (L = 3), the
    AEAD of TLS_PSK_WITH_AES_128_CCM_8 (RFC 6655 3, RFC 3610 2).  Its
    buffers made once: a record costs its output and little else."""

    def __init__(self, key):
        self._e = _ecb(key)
        self._x = bytearray(16)         # the block going in
        self._y = bytearray(16)         # the CBC-MAC state / the key stream block
        self._t = bytearray(8)          # the tag computed
        self._g = bytearray(8)          # the tag received

    def _absorb(self, part, a=-1):
        """CBC-MAC over `part`, after its 2-byte length `a` when a >= 0,
        zero-padded to whole blocks (the state in _y)."""
        x, y, e = self._x, self._y, self._e
        n = len(part)
        i = -2 if a >= 0 else 0
        while i < n:
            j = 0
            while j < 16:
                k = i + j
                if k >= n:
                    v = 0
                elif k >= 0:
                    v = part[k]
                else:
                    v = (a >> 8) & 255 if k == -2 else a & 255
                x[j] = y[j] ^ v
                j += 1
            e(x, y)
            i += 16

    def _mac(self, nonce, aad, data):
        """The CBC-MAC of B0, the 2-byte aad length + aad, and data: the tag
        in _t (8 bytes)."""
        x, y = self._x, self._y
        n = len(data)
        x[0] = 0x5A                     # B0: flags Adata, M' = (8-2)/2 = 3, L' = 2
        x[1:13] = nonce
        x[13] = (n >> 16) & 255
        x[14] = (n >> 8) & 255
        x[15] = n & 255
        self._e(x, y)
        self._absorb(aad, len(aad))     # aad < 0xFF00: a 2-byte length
        self._absorb(data)
        t = self._t
        for j in range(8):
            t[j] = y[j]
        return t

    def _ctr(self, nonce, data, first, out=None):
        """data XOR the key stream from counter `first` (A_i: flags L' = 2)."""
        x, s, e = self._x, self._y, self._e
        n = len(data)
        if out is None:
            out = bytearray(n)
        x[0] = 2
        x[1:13] = nonce
        i = 0
        ctr = first
        while i < n:
            x[13] = (ctr >> 16) & 255
            x[14] = (ctr >> 8) & 255
            x[15] = ctr & 255
            e(x, s)
            j = 0
            while j < 16 and i < n:
                out[i] = data[i] ^ s[j]
                i += 1
                j += 1
            ctr += 1
        return out

    def seal(self, nonce, aad, plain):
        out = bytearray(len(plain) + 8)
        self.seal_into(nonce, aad, plain, memoryview(out))
        return bytes(out)

    def seal_into(self, nonce, aad, plain, out):
        """ciphertext + tag into `out` (a memoryview of len(plain) + 8)."""
        n = len(plain)
        tag = self._mac(nonce, aad, plain)
        self._ctr(nonce, plain, 1, out[:n])
        self._ctr(nonce, tag, 0, out[n:])

    def open(self, nonce, aad, sealed):
        if len(sealed) < 8:
            return None
        n = len(sealed) - 8
        mv = memoryview(sealed)
        plain = self._ctr(nonce, mv[:n], 1)
        tag = self._ctr(nonce, mv[n:], 0, self._g)
        want = self._mac(nonce, aad, plain)
        d = 0
        for i in range(8):
            d |= tag[i] ^ want[i]
        return bytes(plain) if d == 0 else None


class Cbc:
    """AES-CBC over whole blocks (the cipher of TLS_PSK_WITH_AES_128_CBC_SHA256)."""

    def __init__(self, key):
        self.key = bytes(key)
        self._aes = None

    def _pure(self):
        if self._aes is None:
            from wmmp.crypto.aes import Aes
            self._aes = Aes(self.key)
        return self._aes

    def encrypt(self, iv, data):
        if cryptolib is not None:
            return cryptolib.aes(self.key, 2, bytes(iv)).encrypt(bytes(data))
        a = self._pure()
        out = bytearray(len(data))
        prev = iv
        for i in range(0, len(data), 16):
            for j in range(16):
                out[i + j] = data[i + j] ^ prev[j]
            a.encrypt_into(out, i)
            prev = out[i:i + 16]
        return bytes(out)

    def decrypt(self, iv, data):
        if cryptolib is not None:
            return cryptolib.aes(self.key, 2, bytes(iv)).decrypt(bytes(data))
        a = self._pure()
        out = bytearray(data)
        for i in range(len(data) - 16, -1, -16):
            a.decrypt_into(out, i)
            prev = iv if i == 0 else data[i - 16:i]
            for j in range(16):
                out[i + j] ^= prev[j]
        return bytes(out)
