"""DTLS 1.2 record protection for the two suites of And-link spec 3.5, one
epoch's keys for both directions (RFC 5246 6.2.3, RFC 6347 4.1.2):
TLS_PSK_WITH_AES_128_CCM_8 (AEAD, RFC 6655: 8-byte explicit nonce, 8-byte
tag) and TLS_PSK_WITH_AES_128_CBC_SHA256 (MAC-then-encrypt, explicit IV),
the key block of RFC 5246 6.3, the master secret (RFC 5246 8.1, or RFC 7627
4 from the session hash) and the anti-replay window of RFC 6347 4.1.2.6.
The client session (andlink.dtls.session) and the tests' scripted server
(server side) use it; the simulator has its own.

    ms = master_secret(psk, client_random, server_random, session_hash=None)
    r = Protection(suite, ms, client_random, server_random, client=True, rng)
    r.seal(ctype, hdr, plain) -> fragment      hdr: epoch + sequence, 8 bytes
    r.sealed_len(n); r.seal_into(ctype, rec, plain)   into a whole record, no copies
    r.open(ctype, hdr, fragment) -> plain or None
    r.fresh(seq) -> bool; r.seen(seq)          the replay window
    u16(n), u24(n), uint(b)                    big-endian fields
"""

from micropython import const

from andlink.dtls import crypto as K

CCM8 = const(0xC0A8)        # TLS_PSK_WITH_AES_128_CCM_8
CBC256 = const(0x00AE)      # TLS_PSK_WITH_AES_128_CBC_SHA256
SUITE_NAMES = {CCM8: "TLS_PSK_WITH_AES_128_CCM_8", CBC256: "TLS_PSK_WITH_AES_128_CBC_SHA256"}
VERSION = b"\xfe\xfd"        # DTLS 1.2


def u16(n):
    return bytes(((n >> 8) & 255, n & 255))


def u24(n):
    return bytes(((n >> 16) & 255, (n >> 8) & 255, n & 255))


def uint(b):
    """The big-endian unsigned integer of the bytes b."""
    n = 0
    for x in b:
        n = (n << 8) | x
    return n


def master_secret(psk, cr, sr, session_hash=None):
    """The PSK premaster secret (RFC 4279 2: N zeros, then the key) made
    the master secret; the extended one when session_hash is given."""
    z = len(psk)
    pms = u16(z) + bytes(z) + u16(z) + bytes(psk)
    if session_hash is not None:
        return K.prf(pms, b"extended master secret", session_hash, 48)
    return K.prf(pms, b"master secret", cr + sr, 48)


class Protection:
    def __init__(self, suite, ms, cr, sr, client=True, rng=None):
        self.suite = suite
        self.rng = rng
        if suite == CCM8:
            kb = K.prf(ms, b"key expansion", sr + cr, 40)
            ck, sk, civ, siv = K.Ccm8(kb[0:16]), K.Ccm8(kb[16:32]), kb[32:36], kb[36:40]
        else:
            kb = K.prf(ms, b"key expansion", sr + cr, 96)
            civ, siv = kb[0:32], kb[32:64]          # the MAC keys
            ck, sk = K.Cbc(kb[64:80]), K.Cbc(kb[80:96])
        if client:
            self._wkey, self._rkey, self._wiv, self._riv = ck, sk, civ, siv
        else:
            self._wkey, self._rkey, self._wiv, self._riv = sk, ck, siv, civ
        self._rmax = -1
        self._rmask = 0
        self._aad = bytearray(13)           # epoch + sequence, type, version, length
        self._nonce = bytearray(12)         # CCM: the write IV + epoch + sequence
        if suite == CCM8:
            self._nonce[:4] = self._wiv

    def sealed_len(self, n):
        """The fragment's length for n bytes of plaintext."""
        if self.suite == CCM8:
            return n + 16                           # explicit nonce + tag
        return 16 + (n + 32) // 16 * 16 + 16        # IV + (body + MAC + padding)

    def _fill_aad(self, src, off, ctype, n):
        """The additional data (RFC 5246 6.2.3.3; the MAC's input for CBC):
        the epoch and sequence at src[off:off + 8], type, version, length."""
        aad = self._aad
        for i in range(8):
            aad[i] = src[off + i]
        aad[8] = ctype
        aad[9] = 0xFE
        aad[10] = 0xFD
        aad[11] = n >> 8
        aad[12] = n & 255
        return aad

    def seal(self, ctype, hdr, body):
        rec = bytearray(13 + self.sealed_len(len(body)))
        rec[3:11] = hdr
        self.seal_into(ctype, memoryview(rec), body)
        return bytes(rec[13:])

    def seal_into(self, ctype, rec, body):
        """Protect `body` into the record `rec` (a memoryview of 13 +
        sealed_len bytes, its epoch and sequence at 3..10): the fragment
        from 13 on, the rest of the header left to the caller."""
        aad = self._fill_aad(rec, 3, ctype, len(body))
        if self.suite == CCM8:
            nonce = self._nonce
            for i in range(8):
                nonce[4 + i] = rec[13 + i] = aad[i]
            self._wkey.seal_into(nonce, aad, body, rec[21:])
            return
        data = bytes(body) + K.hmac_sha256(self._wiv, bytes(aad) + body)
        p = 15 - len(data) % 16
        data += bytes((p,)) * (p + 1)
        iv = bytes(self.rng(16))
        rec[13:29] = iv
        rec[29:] = self._wkey.encrypt(iv, data)

    def open(self, ctype, hdr, body):
        if self.suite == CCM8:
            n = len(body) - 16
            if n < 0:
                return None
            aad, nonce = self._fill_aad(hdr, 0, ctype, n), self._nonce
            nonce[:4] = self._riv
            nonce[4:] = body[:8]
            plain = self._rkey.open(nonce, aad, memoryview(body)[8:])
            nonce[:4] = self._wiv
            return plain
        if len(body) < 64 or len(body) % 16:
            return None
        data = self._rkey.decrypt(body[:16], body[16:])
        p = data[-1]
        n = len(data) - p - 1 - 32
        bad = 0
        if n < 0:
            n = 0
            bad = 1
        for x in data[n + 32:]:
            bad |= x ^ p
        plain = data[:n]
        want = K.hmac_sha256(self._riv, bytes(self._fill_aad(hdr, 0, ctype, n)) + plain)
        for x, y in zip(want, data[n:n + 32]):
            bad |= x ^ y
        return None if bad else plain

    def fresh(self, seq):
        """False for a record already taken or too old for the 64-record window."""
        if seq > self._rmax:
            return True
        d = self._rmax - seq
        return d < 64 and not (self._rmask >> d) & 1

    def seen(self, seq):
        if seq > self._rmax:
            self._rmask = ((self._rmask << (seq - self._rmax)) | 1) & 0xFFFFFFFFFFFFFFFF
            self._rmax = seq
        else:
            self._rmask |= 1 << (self._rmax - seq)
