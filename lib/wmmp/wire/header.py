"""The 28-byte message header and its security byte (appendix A, table A-1 and A-2;
PROTOCOL.md 1 and 4).

    total_length:u16 | serial:16 | version:u16 | command:u16 | seq:u32 | security:u8 | reserved:u8
"""

import struct
from micropython import const

from wmmp.errors import Truncated, BadLength

HEADER_SIZE = const(28)
_FMT = ">H16sHHIBB"

# Security byte bits, table A-2 / PROTOCOL.md 4 (first reserved byte).
SEC_SUPPORTS_ENCRYPTION = const(0x80)   # uplink only: terminal supports encryption
SEC_ENCRYPTION_ENABLED = const(0x40)    # uplink only: terminal has encryption on
SEC_DIGEST = const(0x20)                # this message carries an E021 digest
SEC_FULL_OR_SUBPACKET = const(0x10)     # fixed part travels inside E042/0x4008/E044
SEC_PREV_DIGEST_FAILED = const(0x08)    # previous message failed the digest check
SEC_PREV_DIGEST_MISSING = const(0x04)   # previous message lacked a required digest
SEC_PREV_DECRYPT_FAILED = const(0x02)   # previous message failed to decrypt
SEC_PREV_OVERFLOW = const(0x01)         # previous message too long to process

SEC_FEEDBACK = const(0x0F)              # the four "previous message" result bits

# Names in table order, high bit first; used by set_flag/flag and tools.
FLAG_NAMES = (
    ("supports_encryption", SEC_SUPPORTS_ENCRYPTION),
    ("encryption_enabled", SEC_ENCRYPTION_ENABLED),
    ("digest", SEC_DIGEST),
    ("full_or_subpacket", SEC_FULL_OR_SUBPACKET),
    ("prev_digest_failed", SEC_PREV_DIGEST_FAILED),
    ("prev_digest_missing", SEC_PREV_DIGEST_MISSING),
    ("prev_decrypt_failed", SEC_PREV_DECRYPT_FAILED),
    ("prev_overflow", SEC_PREV_OVERFLOW),
)

SERIAL_SIZE = const(16)


def flag_bit(name):
    for n, bit in FLAG_NAMES:
        if n == name:
            return bit
    raise KeyError(name)


def flags_set(security):
    """Names of the bits set in a security byte, high bit first."""
    return [n for n, bit in FLAG_NAMES if security & bit]


_NO_SERIAL = bytes(SERIAL_SIZE)


def pad_serial(serial):
    """Serial as 16 bytes, right-padded with 0x00 (PROTOCOL.md 1)."""
    if isinstance(serial, str):
        serial = serial.encode()
    elif type(serial) is bytes and len(serial) == SERIAL_SIZE:
        return serial               # already the field: no copy
    if not serial:
        return _NO_SERIAL           # a message not yet given one (the encoder sets it)
    if len(serial) > SERIAL_SIZE:
        raise BadLength("serial longer than 16 bytes")
    return bytes(serial) + bytes(SERIAL_SIZE - len(serial))


def serial_is_unassigned(serial):
    """True when bytes 9..16 are all 0x00: the terminal asks for a serial (G a)."""
    return bytes(serial[8:16]) == bytes(8)


class Header:
    """A decoded or to-be-encoded header.  `security` is the raw byte; each
    table A-2 bit is also a read/write attribute by name."""

    def __init__(self, command=0, serial=b"", seq=0, security=0, version=0x0300,
                 total_length=0, reserved=0):
        self.total_length = total_length
        self.serial = pad_serial(serial)
        self.version = version
        self.command = command
        self.seq = seq
        self.security = security
        self.reserved = reserved

    def flag(self, name):
        return bool(self.security & flag_bit(name))

    def set_flag(self, name, on=True):
        bit = flag_bit(name)
        if on:
            self.security |= bit
        else:
            self.security &= ~bit & 0xFF

    # Named access to each bit of table A-2.
    supports_encryption = property(lambda s: s.flag("supports_encryption"),
                                   lambda s, v: s.set_flag("supports_encryption", v))
    encryption_enabled = property(lambda s: s.flag("encryption_enabled"),
                                  lambda s, v: s.set_flag("encryption_enabled", v))
    digest = property(lambda s: s.flag("digest"), lambda s, v: s.set_flag("digest", v))
    full_or_subpacket = property(lambda s: s.flag("full_or_subpacket"),
                                 lambda s, v: s.set_flag("full_or_subpacket", v))
    prev_digest_failed = property(lambda s: s.flag("prev_digest_failed"),
                                  lambda s, v: s.set_flag("prev_digest_failed", v))
    prev_digest_missing = property(lambda s: s.flag("prev_digest_missing"),
                                   lambda s, v: s.set_flag("prev_digest_missing", v))
    prev_decrypt_failed = property(lambda s: s.flag("prev_decrypt_failed"),
                                   lambda s, v: s.set_flag("prev_decrypt_failed", v))
    prev_overflow = property(lambda s: s.flag("prev_overflow"),
                             lambda s, v: s.set_flag("prev_overflow", v))

    def pack_into(self, buf, offset=0):
        pack_into(buf, offset, self.total_length, self.serial, self.version, self.command,
                  self.seq, self.security, self.reserved)

    def pack(self):
        buf = bytearray(HEADER_SIZE)
        self.pack_into(buf)
        return bytes(buf)

    def __repr__(self):
        return "Header(cmd=0x%04X, serial=%r, ver=0x%04X, seq=%d, sec=0x%02X, len=%d)" % (
            self.command, bytes(self.serial).rstrip(b"\x00"), self.version, self.seq,
            self.security, self.total_length)


def pack_into(buf, offset, total_length, serial, version, command, seq, security, reserved=0):
    """Write a header at buf[offset:] without building a Header (the encoder's path)."""
    struct.pack_into(_FMT, buf, offset, total_length, pad_serial(serial), version, command,
                     seq & 0xFFFFFFFF, security & 0xFF, reserved & 0xFF)


def unpack(data, offset=0):
    """Header from the first 28 bytes of `data` (bytes, bytearray or memoryview)."""
    if len(data) - offset < HEADER_SIZE:
        raise Truncated("header needs 28 bytes, got %d" % (len(data) - offset))
    t, serial, ver, cmd, seq, sec, res = struct.unpack_from(_FMT, data, offset)
    h = Header(cmd, serial, seq, sec, ver, t, res)
    if t < HEADER_SIZE:
        raise BadLength("total_length %d is shorter than the header" % t)
    return h
