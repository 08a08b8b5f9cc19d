"""Session-key wrap and unwrap (TLV E040) and the key-info digests that go with
it (PROTOCOL.md 5 and 8; appendix E g; appendix G b).

    E040 = Encrypt_base_key(TLV(E03B) || TLV(E03D))

The session key (E03B, ASCII letters and digits) and its validity (E03D, u32
seconds) are wrapped with the base key (E036) under the base key's algorithm
(E039).  The terminal keeps the unwrapped key in RAM only.
"""

import struct
from micropython import const

from wmmp.crypto import cipher as CI
from wmmp.wire import tlv as T
from wmmp.errors import BadTlv, BadValue

TAG_SESSION_KEY = const(0xE03B)
TAG_SESSION_VALIDITY = const(0xE03D)


class SessionKey:
    """An unwrapped session key: algorithm (wmmp.crypto.cipher ALG_*), key bytes, and the
    Unix time it stops being valid.  repr never shows the key."""

    def __init__(self, alg, key, valid_until):
        CI.check_key(alg, key)
        self.alg = alg
        self.key = bytes(key)
        self.valid_until = valid_until
        self._pair = None

    def cipher(self):
        """The (alg, key) pair codec.encode/decode take (built once: it is asked
        for on every message)."""
        p = self._pair
        if p is None or p[0] != self.alg or p[1] is not self.key:
            p = self._pair = (self.alg, self.key)
        return p

    def expired(self, now):
        """PROTOCOL.md 5: used until E03D passes, then LOGOUT reason 0x08 and log in again."""
        return now >= self.valid_until

    def __repr__(self):
        return "SessionKey(alg=%d, %d-byte key hidden, valid_until=%d)" % (
            self.alg, len(self.key), self.valid_until)


def wrap(base_alg, base_key, session_key, valid_until, profile=None):
    """Platform side: the E040 value for a LOGIN_ACK."""
    session_key = CI.check_key_string(session_key, TAG_SESSION_KEY)
    plain = T.encode(TAG_SESSION_KEY, session_key) + T.encode(TAG_SESSION_VALIDITY,
                                                              struct.pack(">I", valid_until))
    return CI.encrypt(base_alg, base_key, plain, profile)


def unwrap(base_alg, base_key, e040, session_alg=None, profile=None):
    """Terminal side: SessionKey from an E040 value.  The session key uses
    `session_alg` (E03E when the platform set one) or the base key's algorithm.
    Raises DecryptError for a wrong base key, BadTlv/BadValue for a malformed
    plaintext."""
    plain = CI.decrypt(base_alg, base_key, e040, profile)
    tlvs = T.decode(plain)
    key = T.find(tlvs, TAG_SESSION_KEY)
    validity = T.find(tlvs, TAG_SESSION_VALIDITY)
    if key is None or validity is None:
        raise BadTlv("E040 must hold E03B and E03D", 0xE040)
    if len(validity) != 4:
        raise BadValue("E03D validity must be 4 bytes", TAG_SESSION_VALIDITY)
    CI.check_key_string(key, TAG_SESSION_KEY)
    alg = session_alg if session_alg is not None else base_alg
    return SessionKey(alg, key, struct.unpack(">I", validity)[0])
