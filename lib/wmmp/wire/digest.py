"""Access digest E021 and the security digests (PROTOCOL.md 3 and 8; appendix A 2.2,
appendix E g).

    E021 = MD5(header || content || timestamp || IMEI || IMSI || password)

with the timestamp rules of PROTOCOL.md 3: 0 for REGISTER, REGISTER_ACK and LOGIN;
the message's own CURTIME for LOGIN_ACK; the CURTIME of the LOGIN_ACK that opened
the connection for every later message.
"""

import struct
from micropython import const

from wmmp.crypto import md5
from wmmp.wire import commands as C
from wmmp.errors import BadValue

DIGEST_TAG = const(0xE021)
DIGEST_SIZE = const(16)
DIGEST_TLV_SIZE = const(20)   # why a message with a digest is 20 bytes longer (appendix A)

IMEI_SIZE = const(16)
IMSI_SIZE = const(15)
PASSWORD_SIZE = const(8)


def _ascii(value):
    return value.encode() if isinstance(value, str) else bytes(value)


def imei_field(imei):
    """IMEI as the 16-byte field: 15 ASCII digits + 0x00 (PROTOCOL.md 2)."""
    b = _ascii(imei)
    n = len(b)
    if n == IMEI_SIZE and b[15] == 0:
        n = 15
    if n != 15:
        raise BadValue("IMEI must be 15 ASCII digits")
    for i in range(15):
        if not 0x30 <= b[i] <= 0x39:
            raise BadValue("IMEI must be 15 ASCII digits")
    return b if len(b) == IMEI_SIZE else b + b"\x00"     # the field as given: no copy


def imsi_field(imsi):
    """IMSI as the 15-byte field: 15 ASCII digits (PROTOCOL.md 2)."""
    b = _ascii(imsi)
    if len(b) != IMSI_SIZE or not b.isdigit():
        raise BadValue("IMSI must be 15 ASCII digits")
    return b


def password_field(password):
    """Access password E025/E028: exactly 8 visible ASCII characters (PROTOCOL.md 8)."""
    b = _ascii(password)
    if len(b) != PASSWORD_SIZE:
        raise BadValue("access password must be 8 characters")
    for c in b:
        if c < 0x21 or c > 0x7E:
            raise BadValue("access password must be visible ASCII")
    return b


class DigestKey:
    """What one direction of a connection needs to compute or check E021.

    password is the uplink password (E025) for terminal-to-platform messages and
    the downlink password (E028) for platform-to-terminal ones; timestamp is the
    CURTIME of the LOGIN_ACK that opened the connection (0 before login).
    REGISTER operation 0x02 and its ACK use the *old* IMEI/IMSI (PROTOCOL.md 3)."""

    def __init__(self, imei, imsi, password, timestamp=0):
        self.imei = imei_field(imei)
        self.imsi = imsi_field(imsi)
        self.password = password_field(password)
        self.timestamp = timestamp

    def __repr__(self):
        # Never show the password (secrets never appear in repr).
        return "DigestKey(imei=%r, imsi=%r, timestamp=%d, password=<hidden>)" % (
            self.imei[:15], self.imsi, self.timestamp)


def timestamp_for(command, curtime, session_timestamp):
    """Timestamp rule of PROTOCOL.md 3 / appendix A 2.2 / appendix G b."""
    if command == C.REGISTER or command == C.REGISTER_ACK or command == C.LOGIN:
        return 0
    if command == C.LOGIN_ACK and curtime is not None:
        return curtime
    return session_timestamp


_TS = bytearray(4)      # the timestamp of compute(), reused (no bytes per digest)


def compute(signed, key, timestamp):
    """MD5 over `signed` (header + content exactly as sent, a buffer) and the
    trailer timestamp || IMEI || IMSI || password."""
    h = md5.shared()
    h.update(signed)
    struct.pack_into(">I", _TS, 0, timestamp & 0xFFFFFFFF)
    h.update(_TS)
    return _trailer(h, key)


def compute_stamped(signed, key):
    """compute() of a buffer that already ends in the 4-byte timestamp."""
    h = md5.shared()
    h.update(signed)
    return _trailer(h, key)


def _trailer(h, key):
    h.update(key.imei)
    h.update(key.imsi)
    h.update(key.password)
    return h.digest()


def equal(a, b):
    """Compare digests without an early exit (no timing hint to an attacker)."""
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= a[i] ^ b[i]
    return d == 0


# -- security digests of PROTOCOL.md 8 ------------------------------------------

def _md5_concat(*parts):
    h = md5.shared()
    for p in parts:
        h.update(p)
    return h.digest()


def _md5_tlvs(tag1, value1, tag2, validity):
    """MD5(TLV(tag1, value1) || TLV(tag2, u32 validity)), hashed piece by piece
    through the 4-byte scratch (no TLV is built)."""
    h = md5.shared()
    b = _TS
    struct.pack_into(">HH", b, 0, tag1, len(value1))
    h.update(b)
    h.update(value1)
    struct.pack_into(">HH", b, 0, tag2, 4)
    h.update(b)
    struct.pack_into(">I", b, 0, validity & 0xFFFFFFFF)
    h.update(b)
    return h.digest()


def sim_digest(serial, imei, imsi, pin):
    """E002/E005/E008/E00B = MD5(serial || IMEI || IMSI || PIN); serial 16 bytes,
    IMEI 16, IMSI 15, the PIN/PUK as its ASCII digits."""
    from wmmp.wire.header import pad_serial
    return _md5_concat(pad_serial(serial), imei_field(imei), imsi_field(imsi), _ascii(pin))


def binding_digest(serial, imei, imsi):
    """E016 (and E017 with the old IMEI/IMSI) = MD5(serial || IMEI || IMSI)."""
    from wmmp.wire.header import pad_serial
    return _md5_concat(pad_serial(serial), imei_field(imei), imsi_field(imsi))


def uplink_password_digest(password, validity):
    """E026 = MD5(TLV(E025) || TLV(E027))."""
    return _md5_tlvs(0xE025, password_field(password), 0xE027, validity)


def downlink_password_digest(password, validity):
    """E029 = MD5(TLV(E028) || TLV(E02A))."""
    return _md5_tlvs(0xE028, password_field(password), 0xE02A, validity)


def base_key_digest(key, validity):
    """E03A = MD5(TLV(E036) || TLV(E038))."""
    return _md5_tlvs(0xE036, _ascii(key), 0xE038, validity)


def session_key_digest(key, validity):
    """E03F = MD5(TLV(E03B) || TLV(E03D))."""
    return _md5_tlvs(0xE03B, _ascii(key), 0xE03D, validity)
