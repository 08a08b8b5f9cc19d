"""The simulator's own DTLS 1.2 record protection and key schedule (for
dtlsserver.py), written here from RFC 5246, RFC 6347, RFC 6655 and RFC 5487
on CPython's hmac and PyCryptodome's AES, not taken from the device's
lib/andlink/dtls: the coaps end-to-end tests then check one implementation
against another, as the codecs do.

    prf(secret, label, seed, n)                       P_SHA256 (RFC 5246 5)
    master_secret(psk, client_random, server_random, session_hash=None)
    Protection(suite, ms, client_random, server_random, client, rng)
        .seal(ctype, hdr, plain) / .open(ctype, hdr, fragment) -> plain or None
        .fresh(seq) / .seen(seq)                      the 64-record replay window
"""

import hashlib
import hmac

from Crypto.Cipher import AES

CCM8 = 0xC0A8               # TLS_PSK_WITH_AES_128_CCM_8 (RFC 6655)
CBC256 = 0x00AE             # TLS_PSK_WITH_AES_128_CBC_SHA256 (RFC 5487)
SUITE_NAMES = {CCM8: "TLS_PSK_WITH_AES_128_CCM_8", CBC256: "TLS_PSK_WITH_AES_128_CBC_SHA256"}
VERSION = b"\xfe\xfd"


def u16(n):
    return n.to_bytes(2, "big")


def hmac_sha256(key, data):
    return hmac.new(bytes(key), bytes(data), hashlib.sha256).digest()


def prf(secret, label, seed, n):
    seed = label + seed
    out = b""
    a = seed
    while len(out) < n:
        a = hmac_sha256(secret, a)
        out += hmac_sha256(secret, a + seed)
    return out[:n]


def master_secret(psk, cr, sr, session_hash=None):
    """RFC 4279 2's premaster (N zeros, N the key's length, then the key);
    the extended master secret (RFC 7627 4) when session_hash is given."""
    n = len(psk)
    pms = u16(n) + bytes(n) + u16(n) + bytes(psk)
    if session_hash is not None:
        return prf(pms, b"extended master secret", session_hash, 48)
    return prf(pms, b"master secret", cr + sr, 48)


class Protection:
    def __init__(self, suite, ms, cr, sr, client=True, rng=None):
        import os
        self.suite = suite
        self.rng = rng or os.urandom
        n = 40 if suite == CCM8 else 96
        kb = prf(ms, b"key expansion", sr + cr, n)
        if suite == CCM8:                   # keys 16 + 16, implicit nonces 4 + 4 (RFC 6655 3)
            c, s = (kb[0:16], kb[32:36]), (kb[16:32], kb[36:40])
        else:                               # MAC keys 32 + 32, then keys 16 + 16 (RFC 5246 6.3)
            c, s = (kb[64:80], kb[0:32]), (kb[80:96], kb[32:64])
        self._w, self._r = (c, s) if client else (s, c)
        self._top = -1
        self._mask = 0

    def _aad(self, ctype, hdr, n):
        return bytes(hdr) + bytes((ctype,)) + VERSION + u16(n)

    def seal(self, ctype, hdr, body):
        key, extra = self._w
        body = bytes(body)
        if self.suite == CCM8:
            c = AES.new(key, AES.MODE_CCM, nonce=extra + bytes(hdr), mac_len=8)
            c.update(self._aad(ctype, hdr, len(body)))
            ct, tag = c.encrypt_and_digest(body)
            return bytes(hdr) + ct + tag
        data = body + hmac_sha256(extra, self._aad(ctype, hdr, len(body)) + body)
        pad = 15 - len(data) % 16
        iv = bytes(self.rng(16))
        return iv + AES.new(key, AES.MODE_CBC, iv).encrypt(data + bytes((pad,)) * (pad + 1))

    def open(self, ctype, hdr, frag):
        key, extra = self._r
        frag = bytes(frag)
        if self.suite == CCM8:
            if len(frag) < 16:
                return None
            c = AES.new(key, AES.MODE_CCM, nonce=extra + frag[:8], mac_len=8)
            c.update(self._aad(ctype, hdr, len(frag) - 16))
            try:
                return c.decrypt_and_verify(frag[8:-8], frag[-8:])
            except ValueError:
                return None
        if len(frag) < 64 or len(frag) % 16:
            return None
        data = AES.new(key, AES.MODE_CBC, frag[:16]).decrypt(frag[16:])
        pad = data[-1]
        if pad + 1 + 32 > len(data) or data[-pad - 1:] != bytes((pad,)) * (pad + 1):
            return None
        plain, mac = data[:-pad - 1 - 32], data[-pad - 1 - 32:-pad - 1]
        want = hmac_sha256(extra, self._aad(ctype, hdr, len(plain)) + plain)
        return plain if hmac.compare_digest(mac, want) else None

    def fresh(self, seq):
        if seq > self._top:
            return True
        d = self._top - seq
        return d < 64 and not (self._mask >> d) & 1

    def seen(self, seq):
        if seq > self._top:
            self._mask = ((self._mask << (seq - self._top)) | 1) & ((1 << 64) - 1)
            self._top = seq
        else:
            self._mask |= 1 << (self._top - seq)
