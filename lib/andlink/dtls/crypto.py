"""The primitives of DTLS 1.2 with a pre-shared key (andlink.dtls): HMAC-SHA256
(RFC 2104), the TLS 1.2 PRF (RFC 5246 5), AES-CCM with an 8-byte tag
(RFC 3610, as RFC 6655 uses it) and AES-CBC with HMAC-SHA256 (RFC 5246
6.2.3.2).  AES goes through the port's `cryptolib` when it has one (ECB, and
CBC for the CBC suite), else the pure-Python AES of wmmp.crypto.aes.

    hmac_sha256(key, data) -> 32 bytes
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

_IPAD = bytes(0x36 for _ in range(64))


def _xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def hmac_sha256(key, data):
    if len(key) > 64:
        key = sha256(key).digest()
    key = bytes(key) + bytes(64 - len(key))
    inner = sha256(_xor(key, _IPAD))
    inner.update(data)
    outer = sha256(bytes(k ^ 0x5C for k in key))
    outer.update(inner.digest())
    return outer.digest()


def prf(secret, label, seed, n):
    """n bytes of P_SHA256(secret, label + seed) (RFC 5246 5)."""
    seed = label + seed
    out = bytearray()
    a = seed
    while len(out) < n:
        a = hmac_sha256(secret, a)
        out += hmac_sha256(secret, a + seed)
    return bytes(out[:n])


def _ecb(key):
    """A function encrypting one 16-byte block with AES `key`."""
    if cryptolib is not None:
        c = cryptolib.aes(bytes(key), 1)
        return c.encrypt
    from wmmp.crypto.aes import Aes
    return Aes(bytes(key)).encrypt_block


class Ccm8:
    """AES-CCM with M = 8 (an 8-byte tag) and a 12-byte nonce (L = 3), the
    AEAD of TLS_PSK_WITH_AES_128_CCM_8 (RFC 6655 3, RFC 3610 2)."""

    def __init__(self, key):
        self._e = _ecb(key)

    def _mac(self, nonce, aad, data):
        e = self._e
        # B0: flags Adata, M' = (8-2)/2 = 3, L' = 2; nonce; 3-byte length
        n = len(data)
        x = e(bytes((0x5A,)) + nonce + bytes(((n >> 16) & 255, (n >> 8) & 255, n & 255)))
        a = len(aad)
        blob = bytes(((a >> 8) & 255, a & 255)) + aad     # 2-byte length: aad < 0xFF00
        for part in (blob, data):
            for i in range(0, len(part), 16):
                blk = part[i:i + 16]
                if len(blk) < 16:
                    blk = blk + bytes(16 - len(blk))
                x = e(_xor(x, blk))
        return x[:8]

    def _ctr(self, nonce, data, first):
        """data XOR the key stream from counter `first` (A_i: flags L' = 2)."""
        e = self._e
        out = bytearray(len(data))
        pre = bytes((2,)) + nonce
        i = 0
        ctr = first
        n = len(data)
        while i < n:
            s = e(pre + bytes(((ctr >> 16) & 255, (ctr >> 8) & 255, ctr & 255)))
            j = 0
            while j < 16 and i < n:
                out[i] = data[i] ^ s[j]
                i += 1
                j += 1
            ctr += 1
        return bytes(out)

    def seal(self, nonce, aad, plain):
        tag = self._mac(nonce, aad, plain)
        return self._ctr(nonce, plain, 1) + self._ctr(nonce, tag, 0)

    def open(self, nonce, aad, sealed):
        if len(sealed) < 8:
            return None
        plain = self._ctr(nonce, sealed[:-8], 1)
        tag = self._ctr(nonce, sealed[-8:], 0)
        want = self._mac(nonce, aad, plain)
        d = 0
        for x, y in zip(tag, want):
            d |= x ^ y
        return plain if d == 0 else None


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
        out = bytearray()
        prev = bytes(iv)
        for i in range(0, len(data), 16):
            prev = a.encrypt_block(_xor(prev, data[i:i + 16]))
            out += prev
        return bytes(out)

    def decrypt(self, iv, data):
        if cryptolib is not None:
            return cryptolib.aes(self.key, 2, bytes(iv)).decrypt(bytes(data))
        a = self._pure()
        out = bytearray()
        prev = bytes(iv)
        for i in range(0, len(data), 16):
            blk = bytes(data[i:i + 16])
            out += _xor(a.decrypt_block(blk), prev)
            prev = blk
        return bytes(out)
