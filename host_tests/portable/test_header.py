"""Header and security byte (appendix A table A-1, A-2; PROTOCOL.md 1, 4).  Portable."""
import struct

from wmmp.wire import header as H
from wmmp.errors import Truncated, BadLength, WmmpError


def test_header_is_28_bytes_big_endian():
    # Appendix A table A-1: length 2, serial 16, version 2, command 2, seq 4, reserved 2.
    h = H.Header(command=0x0001, serial=b"ABCDEFGH", seq=0x01020304, security=0xA0,
                 version=0x0300, total_length=0x0044)
    raw = h.pack()
    assert len(raw) == 28 == H.HEADER_SIZE
    assert raw[0:2] == b"\x00\x44"
    assert raw[2:18] == b"ABCDEFGH" + bytes(8)   # PROTOCOL.md 1: right-padded with 0x00
    assert raw[18:20] == b"\x03\x00"              # version 3.0: major byte, minor byte
    assert raw[20:22] == b"\x00\x01"
    assert raw[22:26] == b"\x01\x02\x03\x04"
    assert raw[26] == 0xA0 and raw[27] == 0x00   # security byte, reserved 0x00


def test_unpack_round_trip():
    raw = struct.pack(">H16sHHIBB", 40, b"SERIAL0123456789", 0x0201, 0x8003, 0xFFFFFFFF, 0x0F, 0)
    h = H.unpack(raw)
    assert (h.total_length, h.serial, h.version, h.command, h.seq, h.security) == (
        40, b"SERIAL0123456789", 0x0201, 0x8003, 0xFFFFFFFF, 0x0F)
    assert h.pack() == raw


def test_every_security_bit_by_name():
    # Table A-2: bit 1 (MSB) .. bit 8 (LSB), each readable and settable by name.
    expected = [("supports_encryption", 0x80), ("encryption_enabled", 0x40), ("digest", 0x20),
                ("full_or_subpacket", 0x10), ("prev_digest_failed", 0x08),
                ("prev_digest_missing", 0x04), ("prev_decrypt_failed", 0x02), ("prev_overflow", 0x01)]
    assert [(n, b) for n, b in H.FLAG_NAMES] == expected
    for name, bit in expected:
        h = H.Header()
        assert not h.flag(name) and not getattr(h, name)
        setattr(h, name, True)
        assert h.security == bit and getattr(h, name) and h.flag(name)
        assert H.flags_set(h.security) == [name]
        h.set_flag(name, False)
        assert h.security == 0


def test_example_from_appendix_a():
    # Appendix A: supports + enabled encryption, digest on, this message encrypted,
    # previous checks all fine -> 1111 0000.
    h = H.Header()
    h.supports_encryption = True
    h.encryption_enabled = True
    h.digest = True
    h.full_or_subpacket = True
    assert h.security == 0xF0
    assert H.flags_set(0xF0) == ["supports_encryption", "encryption_enabled", "digest", "full_or_subpacket"]


def test_truncated_and_short_length():
    try:
        H.unpack(b"\x00" * 27)
        assert False, "27 bytes accepted"
    except Truncated:
        pass
    raw = struct.pack(">H16sHHIBB", 27, b"", 0x0300, 1, 0, 0, 0)
    try:
        H.unpack(raw)
        assert False, "total_length 27 accepted"
    except BadLength as e:
        assert isinstance(e, WmmpError)


def test_serial_padding_and_unassigned():
    # Appendix G a: bytes 9..16 all zero -> the platform assigns the serial.
    assert H.pad_serial("M2MMAKER") == b"M2MMAKER" + bytes(8)
    assert H.serial_is_unassigned(H.pad_serial("M2MMAKER"))
    assert not H.serial_is_unassigned(b"M2MMAKER00000001")
    try:
        H.pad_serial(b"x" * 17)
        assert False
    except BadLength:
        pass
