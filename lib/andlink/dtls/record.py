"""DTLS 1.2 record protection for the two suites of And-link spec 3.5, one
epoch's keys for both directions (RFC 5246 6.2.3, RFC 6347 4.1.2):
TLS_PSK_WITH_AES_128_CCM_8 (AEAD, RFC 6655: 8-byte explicit nonce, 8-byte
tag) and TLS_PSK_WITH_AES_128_CBC_SHA256 (MAC-then-encrypt, explicit IV),
the key block of RFC 5246 6.3, the master secret (RFC 5246 8.1, or RFC 7627
4 from the session hash) and the anti-replay window of RFC 6347 4.1.2.6.
The client session (andlink.dtls.session) and the simulator's server share it.

    ms = master_secret(psk, client_random, server_random, session_hash=None)
    r = Protection(suite, ms, client_random, server_random, client=True, rng)
    r.seal(ctype, hdr, plain) -> fragment      hdr: epoch + sequence, 8 bytes
    r.open(ctype, hdr, fragment) -> plain or None
    r.fresh(seq) -> bool; r.seen(seq)          the replay window
"""

from micropython import const

from andlink.dtls import crypto as K

CCM8 = const(0xC0A8)        # TLS_PSK_WITH_AES_128_CCM_8
CBC256 = const(0x00AE)      # TLS_PSK_WITH_AES_128_CBC_SHA256
SUITE_NAMES = {CCM8: "TLS_PSK_WITH_AES_128_CCM_8", CBC256: "TLS_PSK_WITH_AES_128_CBC_SHA256"}
VERSION = b"\xfe\xfd"        # DTLS 1.2


def u16(n):
    return bytes(((n >> 8) & 255, n & 255))


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

    def seal(self, ctype, hdr, body):
        aad = hdr + bytes((ctype,)) + VERSION + u16(len(body))
        if self.suite == CCM8:
            return hdr + self._wkey.seal(self._wiv + hdr, aad, body)
        mac = K.hmac_sha256(self._wiv, aad + body)
        data = body + mac
        p = 15 - len(data) % 16
        data += bytes((p,)) * (p + 1)
        iv = bytes(self.rng(16))
        return iv + self._wkey.encrypt(iv, data)

    def open(self, ctype, hdr, body):
        if self.suite == CCM8:
            if len(body) < 16:
                return None
            aad = hdr + bytes((ctype,)) + VERSION + u16(len(body) - 16)
            return self._rkey.open(self._riv + bytes(body[:8]), aad, bytes(body[8:]))
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
        want = K.hmac_sha256(self._riv, hdr + bytes((ctype,)) + VERSION + u16(n) + plain)
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
