"""Codec rules: lengths, digest coverage and timestamps, notices, bearer limits,
typed fixed parts (appendix A, D, G; PROTOCOL.md 1-5, 9).  Portable.

Expected bytes are built here by hand with struct; MD5 itself is checked against
RFC 1321 in test_crypto_kat, so using wmmp.crypto.md5 to compute expectations tests
which bytes the digest covers, not MD5."""
import struct

from wmmp.wire import codec, commands as C, digest as D, header as H
from wmmp.wire import profile as P
from wmmp.crypto.md5 import md5
from wmmp.errors import (BadLength, BadValue, DigestMismatch, DigestMissing, Truncated,
                         TooLongForBearer, UnknownCommand, WmmpError)

IMEI = "860000000000001"
IMSI = "460001234567890"
UP = "Up123456"
DOWN = "Dn654321"
SERIAL = b"M2MMAKER00000001"


def _hdr(total, cmd, seq, sec):
    return struct.pack(">H16sHHIBB", total, SERIAL, 0x0300, cmd, seq, sec, 0)


def _signed_digest(signed, ts, password):
    return md5(signed + struct.pack(">I", ts) + IMEI.encode() + b"\x00" + IMSI.encode() + password.encode())


def test_response_ids_are_request_or_0x8000():
    # Appendix D: every *_ACK is the request's ID | 0x8000; 28 commands in all.
    cmds = C.all_commands()
    assert len(cmds) == 28
    for c in cmds:
        if not C.is_response(c):
            assert C.response_to(c) == c | 0x8000 and C.is_known(c | 0x8000)
            assert C.name(c | 0x8000) == C.name(c) + "_ACK"
            assert C.by_name(C.name(c)) == c
    assert C.CONFIG_REQ == 0x000A   # PROTOCOL.md 1: appendix D wins over appendix B's 0x0004
    assert not C.is_known(0x0009) and not C.is_known(0x0010)


def test_digest_covers_header_content_timestamp_ids_password():
    # PROTOCOL.md 3: V = MD5(header || content || ts || IMEI || IMSI || password); the
    # header already counts the digest TLV and has bit 0x20 set; a digest adds 20 bytes.
    key = D.DigestKey(IMEI, IMSI, UP, timestamp=0x5F5E1000)
    m = codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x40")], serial=SERIAL, seq=9)
    plain = codec.encode(m)
    raw = codec.encode(m, key=key)
    assert len(raw) == len(plain) + 20
    content = struct.pack(">HHB", 0x3007, 1, 0x40)
    signed = _hdr(28 + 5 + 20, C.CONFIG_TRAP, 9, 0x20) + content
    assert raw == signed + struct.pack(">HH", 0xE021, 16) + _signed_digest(signed, 0x5F5E1000, UP)
    d = codec.decode(raw, key=key)
    assert d.digest_ok is True and d.tlvs == [(0x3007, b"\x40")]
    codec.check_digest(d)


def test_timestamp_zero_for_register_and_login():
    # PROTOCOL.md 3 / appendix A 2.2: REGISTER, REGISTER_ACK and LOGIN use 0x00000000
    # whatever session timestamp the key holds.
    key = D.DigestKey(IMEI, IMSI, UP, timestamp=12345)
    m = codec.Message(C.LOGIN, {"software_version": b"V1", "config_crc32": 7}, serial=SERIAL, seq=1)
    raw = codec.encode(m, key=key)
    assert raw[-16:] == _signed_digest(raw[:-20], 0, UP)
    ack = codec.Message(C.REGISTER_ACK, {"result": 1, "terminal_id": SERIAL}, serial=SERIAL, seq=1)
    raw = codec.encode(ack, key=D.DigestKey(IMEI, IMSI, DOWN, timestamp=999))
    assert raw[-16:] == _signed_digest(raw[:-20], 0, DOWN)


def test_login_ack_uses_its_own_curtime():
    # Appendix G b: LOGIN_ACK digest Timestamp = this message's CURTIME.
    key = D.DigestKey(IMEI, IMSI, DOWN, timestamp=0)
    m = codec.Message(C.LOGIN_ACK, {"result": 0, "curtime": 1700000000}, serial=SERIAL, seq=1)
    raw = codec.encode(m, key=key)
    assert raw[-16:] == _signed_digest(raw[:-20], 1700000000, DOWN)
    assert codec.decode(raw, key=key).digest_ok is True


def test_wrong_password_or_tamper_fails_digest():
    # 4.4.5 / PROTOCOL.md 3: verification failure is reported, the caller drops it.
    key = D.DigestKey(IMEI, IMSI, UP, 77)
    raw = bytearray(codec.encode(codec.Message(C.LOGOUT, {"reason": 0}, serial=SERIAL), key=key))
    assert codec.decode(raw, key=D.DigestKey(IMEI, IMSI, "Up123457", 77)).digest_ok is False
    assert codec.decode(raw, key=D.DigestKey(IMEI, IMSI, UP, 78)).digest_ok is False
    raw[28] ^= 0x01
    d = codec.decode(bytes(raw), key=key)
    assert d.digest_ok is False
    try:
        codec.check_digest(d)
        assert False
    except DigestMismatch:
        pass


def test_missing_digest_detected():
    d = codec.decode(codec.encode(codec.Message(C.LOGOUT, {"reason": 2})),
                     key=D.DigestKey(IMEI, IMSI, UP))
    assert d.digest is None and d.digest_ok is None
    try:
        codec.check_digest(d)
        assert False
    except DigestMissing:
        pass
    codec.check_digest(d, required=False)


def test_total_length_must_match_size():
    # Appendix A: total_length is the whole message; PROTOCOL.md 1.
    raw = codec.encode(codec.Message(C.HEART_BEAT, serial=SERIAL))
    assert len(raw) == 28 and raw[:2] == b"\x00\x1c"
    for bad in (raw + b"\x00", raw[:27] + b"", struct.pack(">H", 29) + raw[2:]):
        try:
            codec.decode(bad)
            assert False, bad
        except (BadLength, Truncated) as e:
            assert isinstance(e, WmmpError)


def test_errors_carry_the_header():
    raw = codec.encode(codec.Message(C.LOGIN, {"software_version": b"x", "config_crc32": 0}, seq=41))
    try:
        codec.decode(raw[:-1] + b"")
        assert False
    except BadLength as e:
        assert e.header.seq == 41 and e.header.command == C.LOGIN


def test_header_echo_notice():
    # Table A-2 bit 8: the receiver returns the original header with the overflow
    # bit set; total_length still names the original message.
    raw = codec.encode(codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x10")], serial=SERIAL, seq=5))
    note = codec.encode_notice(raw[:28], H.SEC_PREV_OVERFLOW)
    assert len(note) == 28 and note[26] & 0x01 and note[:2] == raw[:2]
    d = codec.decode(note)
    assert d.notice and d.seq == 5 and d.command == C.CONFIG_TRAP and d.total_length == len(raw)
    try:
        codec.decode(raw[:28])     # a plain 28-byte prefix is not a notice
        assert False
    except BadLength:
        pass


def test_unknown_command():
    raw = struct.pack(">H16sHHIBB", 28, SERIAL, 0x0300, 0x0009, 0, 0, 0)
    try:
        codec.decode(raw)
        assert False
    except UnknownCommand:
        pass
    try:
        codec.encode(codec.Message(0x0010))
        assert False
    except UnknownCommand:
        pass


def test_sms_limits():
    # PROTOCOL.md 9: one binary SMS carries at most 140 bytes; appendix E a: TLV <= 100.
    m = codec.Message(C.CONFIG_TRAP, tlvs=[(0x4007, bytes(100))])
    assert len(codec.encode(m, bearer=P.BEARER_SMS)) == 132
    m.tlvs.append((0x3007, bytes(1)))
    assert len(codec.encode(m, bearer=P.BEARER_SMS)) == 137
    m.tlvs.append((0x3007, bytes(1)))
    try:
        codec.encode(m, bearer=P.BEARER_SMS)
        assert False
    except TooLongForBearer:
        pass
    try:
        codec.encode(codec.Message(C.CONFIG_TRAP, tlvs=[(0x4007, bytes(101))]), bearer=P.BEARER_SMS)
        assert False
    except TooLongForBearer:
        pass


def test_fixed_parts_per_appendix_g():
    # Appendix G / PROTOCOL.md 2: sizes of every fixed part.
    sizes = {C.REGISTER: 32, C.REGISTER_ACK: 17, C.LOGIN: 12, C.LOGIN_ACK: 5, C.LOGOUT: 1,
             C.LOGOUT_ACK: 0, C.HEART_BEAT: 0, C.HEART_BEAT_ACK: 0, C.TRANSPARENT_DATA: 2,
             C.TRANSPARENT_DATA_ACK: 1, C.CONFIG_GET: 0, C.CONFIG_GET_ACK: 1, C.CONFIG_SET: 0,
             C.CONFIG_SET_ACK: 1, C.CONFIG_TRAP: 0, C.CONFIG_TRAP_ACK: 1, C.CONFIG_REQ: 0,
             C.CONFIG_REQ_ACK: 1, C.REMOTE_CTRL: 0, C.REMOTE_CTRL_ACK: 1, C.DOWNLOAD_INFO: 0,
             C.DOWNLOAD_INFO_ACK: 1, C.FILE_REQ: 11, C.FILE_REQ_ACK: 13, C.SECURITY_CONFIG: 1,
             C.SECURITY_CONFIG_ACK: 1, C.TRANSPARENT_CMD: 0, C.TRANSPARENT_CMD_ACK: 1}
    assert sorted(sizes) == sorted(C.all_commands())
    for cmd, n in sizes.items():
        assert C.fixed_size(cmd) == n, C.name(cmd)


def test_register_body_and_string_padding():
    # Appendix G a: OPERATION 1, IMEI 16 (15 digits + 0x00), IMSI 15.
    m = codec.Message(C.REGISTER, {"operation": 0, "imei": D.imei_field(IMEI), "imsi": IMSI},
                      serial=b"M2MMAKER")
    raw = codec.encode(m)
    assert raw[28:] == b"\x00" + IMEI.encode() + b"\x00" + IMSI.encode()
    d = codec.decode(raw)
    assert d.fields == {"operation": 0, "imei": IMEI.encode() + b"\x00", "imsi": IMSI.encode()}
    assert H.serial_is_unassigned(d.serial)


def test_bad_field_values_rejected_on_encode():
    for fields in ({"reason": 256}, {"reason": -1}, {"reason": "x"}, {}):
        try:
            codec.encode(codec.Message(C.LOGOUT, fields))
            assert False, fields
        except BadValue:
            pass
    try:
        codec.encode(codec.Message(C.LOGIN, {"software_version": b"123456789", "config_crc32": 0}))
        assert False
    except BadValue:
        pass


def test_derived_crc_fields():
    # Appendix G j: TRANSPARENT_DATA crc16 is the CRC16 of USER_DATA (0x4007);
    # G l: FILE_REQ_ACK crc16 covers FILE_BLOCK, block_size its length.
    from wmmp.wire import crc
    m = codec.Message(C.TRANSPARENT_DATA, tlvs=[(0x4014, b"EC01"), (0x4007, b"123456789")])
    d = codec.decode(codec.encode(m))
    assert d.fields["crc16"] == 0x29B1
    m = codec.Message(C.FILE_REQ_ACK, {"trans_id": 0x1AFBDC01, "status": 0, "read_point": 0,
                                       "block": b"123456789"})
    d = codec.decode(codec.encode(m))
    assert d.fields["block_size"] == 9 and d.fields["crc16"] == crc.crc16(b"123456789")
    assert d.fields["block"] == b"123456789"
    m = codec.Message(C.FILE_REQ_ACK, {"trans_id": 1, "status": 0, "read_point": 0,
                                       "block": b"abc", "block_size": 4, "crc16": 0})
    try:
        codec.encode(m)
        assert False
    except BadValue:
        pass


def test_seq_wraps_and_version_compat():
    # Appendix A: seq runs 0..0xFFFFFFFF; TLV 0x3001 note: major byte must match.
    raw = codec.encode(codec.Message(C.HEART_BEAT, seq=0xFFFFFFFF))
    assert raw[22:26] == b"\xff\xff\xff\xff"
    assert P.DEFAULT.version_compatible(0x0301) and not P.DEFAULT.version_compatible(0x0200)


def test_digest_key_validates_identities():
    # PROTOCOL.md 2/8: IMEI 15 digits, IMSI 15 digits, password 8 visible ASCII.
    for args in (("86000000000000", IMSI, UP), (IMEI, "46000123456789X", UP),
                 (IMEI, IMSI, "short"), (IMEI, IMSI, "has spc1")):
        try:
            D.DigestKey(*args)
            assert False, args
        except BadValue:
            pass
    assert "Up123456" not in repr(D.DigestKey(IMEI, IMSI, UP))   # secrets never in repr
