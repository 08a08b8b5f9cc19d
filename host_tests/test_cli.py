"""Tests of the `wmmp` command-line tool (tools/wmmp_tools): decode dump and JSON,
encode, round trips, digest status, secrets, error paths and a fuzz of decode.

CPython only (hypothesis, pycryptodome, subprocess).  Input messages are built
with the device codec; digests are recomputed here with hashlib's MD5 and
ciphertexts with pycryptodome, so the checks do not rest on the code under test.
"""

import binascii
import hashlib
import io
import json
import os
import struct
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from wmmp_tools import tagnames

from Crypto.Cipher import AES, DES

from wmmp.wire import codec
from wmmp.wire import commands as C
from wmmp.wire import header as H
from wmmp_tools import cli
from wmmp_tools import jsonform as J

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")

IMEI = "861234567890123"
IMSI = "460001234567890"
UP_PW = "Up#45678"
KEY_ARGS = ["--imei", IMEI, "--imsi", IMSI, "--password", UP_PW]
CURTIME = 1700000000          # 2023-11-14 22:13:20 UTC


# -- helpers -----------------------------------------------------------------------

class Result:
    def __init__(self, rc, out, err):
        self.rc = rc
        self.raw = out
        self.out = out.decode("utf-8", "replace")
        self.err = err.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.out)


def run(argv, stdin=b""):
    """cli.main(argv) with stdin/stdout/stderr swapped for byte buffers."""
    out_raw, err_raw = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_raw, encoding="utf-8", newline="")
    err = io.TextIOWrapper(err_raw, encoding="utf-8", newline="")
    inp = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = inp, out, err
    try:
        rc = cli.main(argv)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    out.flush()
    err.flush()
    return Result(rc, out_raw.getvalue(), err_raw.getvalue())


def hx(b):
    return binascii.hexlify(b).decode()


def md5_digest(signed, timestamp, password=UP_PW):
    """E021 = MD5(header || content || timestamp || IMEI(16) || IMSI(15) || password)
    (PROTOCOL.md 3), computed with hashlib, independent of wmmp.wire.digest."""
    return hashlib.md5(signed + struct.pack(">I", timestamp) + IMEI.encode() + b"\x00"
                       + IMSI.encode() + password.encode()).digest()


def add_digest(plain, timestamp):
    """Turn a message without digest into one with E021 (PROTOCOL.md 3): total_length
    grows by 20, security bit 0x20 is set, the digest covers the header as sent."""
    total = struct.unpack(">H", plain[:2])[0] + 20
    signed = bytearray(plain)
    signed[0:2] = struct.pack(">H", total)
    signed[26] |= 0x20
    d = md5_digest(bytes(signed), timestamp)
    return bytes(signed) + struct.pack(">HH", 0xE021, 16) + d


def msg(cmd, fields=None, tlvs=None, serial=b"SN00000000000001", seq=1, security=0):
    return codec.encode(codec.Message(cmd, fields or {}, tlvs or [], serial, seq, security))


def pkcs7(data, bs):
    n = bs - len(data) % bs
    return data + bytes([n]) * n


def tlv(tag, value):
    return struct.pack(">HH", tag, len(value)) + value


def header(cmd, total, seq=1, security=0, serial=b"SN00000000000001"):
    return struct.pack(">H16sHHIBB", total, serial, 0x0300, cmd, seq, security, 0)


LOGIN = add_digest(msg(C.LOGIN, {"software_version": b"V1.0", "config_crc32": 0x12345678},
                       [(0x0011, b"\x00\x00\x00\x1e"), (0x0025, b"\x00\x02\x00\x11")],
                       security=0x80), 0)
LOGIN_ACK = add_digest(msg(C.LOGIN_ACK, {"result": 0, "curtime": CURTIME}), CURTIME)
REGISTER = msg(C.REGISTER, {"operation": 0, "imei": IMEI.encode(), "imsi": IMSI.encode()},
               serial=b"MAKER001")
REGISTER_ACK = msg(C.REGISTER_ACK, {"result": 0x09, "terminal_id": b"TERM000000000001"},
                   serial=b"MAKER001")
SEC_CONFIG = add_digest(msg(C.SECURITY_CONFIG, {"operation": 0},
                            [(0xE025, b"abcdefgh"), (0xE027, struct.pack(">I", CURTIME))]),
                        CURTIME)
FILE_REQ_ACK = msg(C.FILE_REQ_ACK, {"trans_id": 0x1AFBDC01, "status": 0, "read_point": 0,
                                    "block": b"hello\x00"})
TRANSPARENT = msg(C.TRANSPARENT_DATA, {}, [(0x4012, b"DEST000000000001"), (0x4007, b"\x01\x02\x03")])
CONFIG_GET = msg(C.CONFIG_GET, {}, [(0x0002, b""), (0x0011, b""), (0x9001, b"")])
HEART_BEAT = msg(C.HEART_BEAT, serial=b"\x01\x02\xff" + bytes(13))
NOTICE = header(C.CONFIG_TRAP, 300, seq=3, security=0x01)   # table A-2 bit 0x01 echo
RESERVED = REGISTER_ACK[:27] + b"\x5a" + REGISTER_ACK[28:]   # reserved byte kept (table A-1)


def _subpacket_msg():
    m = codec.Message(C.TRANSPARENT_DATA, serial=b"SN00000000000001", seq=5)
    m.subpacket = codec.Subpacket(7, 3, 1, 0, b"\x00\x01\x02\x03\x04")
    return codec.encode(m)


SUBPACKET = _subpacket_msg()

ROUND_TRIP = [LOGIN, LOGIN_ACK, REGISTER, REGISTER_ACK, SEC_CONFIG, FILE_REQ_ACK, TRANSPARENT,
              CONFIG_GET, HEART_BEAT, NOTICE, SUBPACKET, RESERVED]


def assert_error(r, needle=None):
    """Exit 2 with exactly one line "wmmp: error: ..." on stderr, no traceback."""
    assert r.rc == 2, (r.rc, r.out, r.err)
    lines = r.err.splitlines()
    assert len(lines) == 1, r.err
    assert lines[0].startswith("wmmp: error: "), r.err
    assert "Traceback" not in r.err and "Traceback" not in r.out
    assert "internal error" not in r.err, r.err
    if needle is not None:
        assert needle in r.err, r.err


# -- round trips ---------------------------------------------------------------------

@pytest.mark.parametrize("data", ROUND_TRIP, ids=lambda d: "%s-%d" % (
    C.name(struct.unpack(">H", d[20:22])[0]), ROUND_TRIP.index(d)))
def test_decode_encode_round_trip(data):
    """decode --json | encode gives the same bytes; an E021 in tlvs is kept as the
    last TLV with bit 0x20 (PROTOCOL.md 3)."""
    r = run(["decode", hx(data), "--json", "--show-secrets"])
    assert r.rc == 0, r.err
    e = run(["encode"], r.raw)
    assert e.rc == 0, e.err
    assert e.out.strip() == hx(data)


def test_round_trip_from_file_and_binary_output(tmp_path):
    r = run(["decode", hx(LOGIN), "--json"])
    p = tmp_path / "m.json"
    p.write_bytes(r.raw)
    e = run(["encode", "--file", str(p), "--binary"])
    assert e.rc == 0 and e.raw == LOGIN


def test_json_from_hand_written_document():
    """tag may be an int or "0x0011"; fields as decode gives them; extra keys ignored."""
    doc = {"command": "LOGIN", "serial": "SN00000000000001", "seq": 1, "version": "3.0",
           "security": 0x80, "fields": {"software_version": "V1.0", "config_crc32": 0x12345678},
           "tlvs": [{"tag": "0x0011", "value_hex": "0000001e", "name": "ignored", "length": 99},
                    {"tag": 0x0025, "value_hex": "00020011", "flags": ["x"]}]}
    e = run(["encode"] + KEY_ARGS, json.dumps(doc).encode())
    assert e.rc == 0, e.err
    assert binascii.unhexlify(e.out.strip()) == LOGIN


def test_encode_with_key_replaces_digest():
    """With --imei/--imsi/--password the E021 in tlvs is dropped and a fresh digest
    with the LOGIN_ACK's own CURTIME as timestamp is appended (PROTOCOL.md 3)."""
    doc = run(["decode", hx(LOGIN_ACK), "--json"]).json()
    doc["tlvs"][-1]["value_hex"] = "00" * 16        # a wrong digest that must go
    e = run(["encode"] + KEY_ARGS + ["--timestamp", "5"], json.dumps(doc).encode())
    assert e.rc == 0, e.err
    assert binascii.unhexlify(e.out.strip()) == LOGIN_ACK


def test_encode_adds_digest_to_message_without_one():
    """REGISTER digests use timestamp 0 (PROTOCOL.md 3); bit 0x20 is set (table A-2)."""
    doc = run(["decode", hx(REGISTER), "--json"]).json()
    e = run(["encode"] + KEY_ARGS + ["--timestamp", str(CURTIME)], json.dumps(doc).encode())
    assert e.rc == 0, e.err
    assert binascii.unhexlify(e.out.strip()) == add_digest(REGISTER, 0)


def test_subpacket_from_object():
    """A sub-packet may be given as the subpacket object alone (appendix F, PROTOCOL.md 6)."""
    doc = run(["decode", hx(SUBPACKET), "--json"]).json()
    assert doc["subpacket"] == {"trans_id": 7, "total": 3, "index": 1, "op": 0,
                                "op_name": doc["subpacket"]["op_name"], "encrypted": False,
                                "data_length": 5, "data_hex": "0001020304"}
    doc["tlvs"] = []
    e = run(["encode"], json.dumps(doc).encode())
    assert e.rc == 0 and e.out.strip() == hx(SUBPACKET)


# -- JSON content -------------------------------------------------------------------

def test_json_keys():
    doc = run(["decode", hx(LOGIN), "--json"]).json()
    for k in ("command", "command_id", "serial", "version", "seq", "security", "flags",
              "fields", "tlvs", "encryption", "subpacket", "notice", "digest_ok"):
        assert k in doc, k
    assert doc["command"] == "LOGIN" and doc["command_id"] == 1
    assert doc["serial"] == "SN00000000000001"
    assert doc["version"] == "3.0" and doc["seq"] == 1
    assert doc["fields"] == {"software_version": "V1.0", "config_crc32": 0x12345678}
    assert [t["tag"] for t in doc["tlvs"]] == [0x0011, 0x0025, 0xE021]
    for t in doc["tlvs"]:
        assert set(("tag", "name", "length", "value_hex")) <= set(t)
    assert doc["tlvs"][0]["value_hex"] == "0000001e" and doc["tlvs"][0]["length"] == 4
    assert doc["encryption"] == "none" and doc["subpacket"] is None and doc["notice"] is False
    assert doc["digest_ok"] is None


def test_json_flags_by_name():
    """Security byte bits by name, high bit first (appendix A table A-2, PROTOCOL.md 4)."""
    doc = run(["decode", hx(LOGIN), "--json"]).json()
    assert doc["security"] == 0xA0
    assert doc["flags"] == ["supports_encryption", "digest"]
    doc = run(["decode", hx(NOTICE), "--json"]).json()
    assert doc["flags"] == ["prev_overflow"] and doc["notice"] is True
    assert doc["total_length"] == 300


def test_json_serial_not_printable_is_hex():
    """Serial: 16 bytes right-padded with 0x00 (PROTOCOL.md 1); non-ASCII shown as hex."""
    doc = run(["decode", hx(HEART_BEAT), "--json"]).json()
    assert doc["serial"] == {"hex": "0102ff" + "00" * 13}


def test_json_fields_bytes_text_and_hex():
    doc = run(["decode", hx(REGISTER), "--json"]).json()
    assert doc["fields"] == {"operation": 0, "imei": IMEI, "imsi": IMSI}
    assert doc["serial"] == "MAKER001" and doc["serial_unassigned"] is True
    doc = run(["decode", hx(FILE_REQ_ACK), "--json"]).json()
    assert doc["fields"]["block"] == {"hex": "68656c6c6f00"}
    assert doc["fields"]["block_size"] == 6


def test_json_digest_ok_true_and_false():
    """E021 check with the uplink password; timestamp 0 for LOGIN (PROTOCOL.md 3)."""
    r = run(["decode", hx(LOGIN), "--json"] + KEY_ARGS + ["--timestamp", "0"])
    assert r.rc == 0 and r.json()["digest_ok"] is True
    bad = bytearray(LOGIN)
    bad[40] ^= 1                                  # inside config_crc32
    r = run(["decode", hx(bad), "--json"] + KEY_ARGS + ["--timestamp", "0"])
    assert r.rc == 1 and r.json()["digest_ok"] is False
    r = run(["decode", hx(REGISTER), "--json"] + KEY_ARGS)
    assert r.rc == 0 and r.json()["digest_ok"] is None


def test_digest_timestamp_rules():
    """LOGIN_ACK uses its own CURTIME, later messages the session's (PROTOCOL.md 3)."""
    r = run(["decode", hx(LOGIN_ACK), "--json"] + KEY_ARGS + ["--timestamp", "1"])
    assert r.json()["digest_ok"] is True
    r = run(["decode", hx(SEC_CONFIG), "--json"] + KEY_ARGS + ["--timestamp", "2023-11-14T22:13:20Z"])
    assert r.rc == 0 and r.json()["digest_ok"] is True
    r = run(["decode", hx(SEC_CONFIG), "--json"] + KEY_ARGS + ["--timestamp", str(CURTIME + 1)])
    assert r.rc == 1 and r.json()["digest_ok"] is False


def test_digest_mismatch_exit_1_with_dump():
    bad = bytearray(LOGIN_ACK)
    bad[-1] ^= 0xFF
    r = run(["decode", hx(bad)] + KEY_ARGS)
    assert r.rc == 1
    assert "LOGIN_ACK" in r.out and "DOES NOT VERIFY" in r.out
    assert "Traceback" not in r.err


def test_help_mentions_exit_status():
    r = run(["decode", "--help"])
    assert r.rc == 0
    assert "exit status" in r.out and "1  the message decoded but its E021 digest does not verify" in r.out


# -- readable dump -------------------------------------------------------------------

def test_dump_names():
    r = run(["decode", hx(LOGIN)])
    assert r.rc == 0, r.err
    assert "LOGIN (0x0001)" in r.out
    assert J.tag_name(0x0011) in r.out
    assert not J.tag_name(0x0011).startswith("TAG_0x")        # wmmp.tagnames is used
    assert "30 (0x0000001E)" in r.out                          # decimal and hex
    assert "version            3.0" in r.out
    # tag list 0x0025 shown as names (appendix E b)
    assert "%s, %s" % (J.tag_name(0x0002), J.tag_name(0x0011)) in r.out
    # security byte bits by name (appendix A table A-2)
    assert "0xA0: supports_encryption, digest" in r.out
    assert "present, not checked" in r.out


def test_dump_result_code_meaning():
    """REGISTER_ACK result 0x09: registered, preset keys valid (appendix G a)."""
    from wmmp.wire import codes
    r = run(["decode", hx(REGISTER_ACK)])
    assert "result             0x09 (%s)" % tagnames.describe_code("register_ack", 9) in r.out
    assert "not yet assigned" in r.out                           # serial bytes 9..16 zero, G a


def test_dump_dates_utc_and_beijing():
    """Dates are u32 seconds since 1970; shown as UTC and UTC+8 (PROTOCOL.md 8)."""
    r = run(["decode", hx(LOGIN_ACK)])
    assert "2023-11-14 22:13:20 UTC" in r.out
    assert "2023-11-15 06:13:20 UTC+8" in r.out


def test_dump_alarm_codes_and_command_lists():
    """0x300D alarm codes by name (appendix E e); E023 lists command IDs (appendix E g)."""
    from wmmp.wire import codes
    data = msg(C.CONFIG_TRAP, {}, [(0x300D, b"\x00\x1c"), (0xE023, b"\x00\x01\x80\x01")])
    r = run(["decode", hx(data)])
    assert tagnames.describe_code("alarm", 0x1C) in r.out
    assert "LOGIN, LOGIN_ACK" in r.out


def test_dump_empty_and_maker_tags():
    """CONFIG_GET asks for tags with L=0 (appendix G e); maker range 0x8001-0xDFFF."""
    r = run(["decode", hx(CONFIG_GET)])
    assert r.out.count("no value (L=0)") == 3
    assert J.tag_name(0x9001) in r.out


def test_degrades_without_optional_modules(monkeypatch):
    """Without wmmp.tagnames / codes / catalogue the tool still decodes and round-trips."""
    monkeypatch.setattr(J, "_modules", {"tagnames": None, "codes": None, "catalogue": None})
    r = run(["decode", hx(LOGIN)])
    assert r.rc == 0 and "0x0011 TAG_0x0011, 4 bytes: 0000001e" in r.out
    r = run(["decode", hx(SEC_CONFIG)])
    assert "abcdefgh" not in r.out and "<secret, 8 bytes>" in r.out
    j = run(["decode", hx(LOGIN), "--json"])
    assert run(["encode"], j.raw).out.strip() == hx(LOGIN)


def test_dump_secrets_hidden():
    """Passwords (E025, appendix E g) never appear unless --show-secrets."""
    for args in (["decode", hx(SEC_CONFIG)], ["decode", hx(SEC_CONFIG), "--json"]):
        r = run(args)
        assert r.rc == 0
        assert "abcdefgh" not in r.out and hx(b"abcdefgh") not in r.out
        assert "<secret, 8 bytes>" in r.out
    r = run(["decode", hx(SEC_CONFIG), "--show-secrets"])
    assert '"abcdefgh"' in r.out


def test_encode_hidden_secret_is_an_error():
    doc = run(["decode", hx(SEC_CONFIG), "--json"]).json()
    assert_error(run(["encode"], json.dumps(doc).encode()), "--show-secrets")


def test_dump_bad_tlv_length_is_reported():
    """0x0011 is a u32 (PROTOCOL.md 8): a 3-byte value is flagged, the dump still shown."""
    data = msg(C.CONFIG_TRAP, {}, [(0x0011, b"\x00\x00\x1e")])
    r = run(["decode", hx(data)])
    assert r.rc == 0 and "! " in r.out
    assert "problem" in run(["decode", hx(data), "--json"]).json()["tlvs"][0]


def test_dump_notice_and_subpacket():
    r = run(["decode", hx(NOTICE)])
    assert r.rc == 0 and "prev_overflow" in r.out and "Header echo" in r.out
    r = run(["decode", hx(SUBPACKET)])
    assert r.rc == 0 and "1 of 3" in r.out and "0001020304" in r.out


def test_bearer_sms_limits():
    """A TLV value is at most 100 bytes on SMS, 1024 on packet (appendix E a)."""
    data = msg(C.TRANSPARENT_DATA, {}, [(0x4012, b"DEST000000000001"), (0x4007, bytes(101))])
    assert run(["decode", hx(data)]).rc == 0
    assert_error(run(["decode", hx(data), "--bearer", "sms"]), "bearer")


# -- encryption (PROTOCOL.md 5) -------------------------------------------------------------

def test_full_encryption_des_decrypted_for_display():
    """E042 = DES-CBC(zero IV, PKCS#7) of the content, bit 0x10 set (PROTOCOL.md 5);
    the ciphertext is made with pycryptodome."""
    key = b"abcdefgh"
    content = tlv(0x0002, b"cmnet") + tlv(0x0011, b"\x00\x00\x00\x1e")
    ct = DES.new(key, DES.MODE_CBC, iv=bytes(8)).encrypt(pkcs7(content, 8))
    body = tlv(0xE042, ct)
    plain = header(C.CONFIG_TRAP, 28 + len(body), seq=8, security=0x10) + body
    data = add_digest(plain, CURTIME)
    r = run(["decode", hx(data)])
    assert r.rc == 0 and "cmnet" not in r.out and "--session-key" in r.out
    r = run(["decode", hx(data), "--session-key", "abcdefgh", "--alg", "des"] + KEY_ARGS
            + ["--timestamp", str(CURTIME)])
    assert r.rc == 0, r.err
    assert '"cmnet"' in r.out and "OK" in r.out
    # shown decrypted, re-encrypted by encode with the same key: same bytes
    j = run(["decode", hx(data), "--json", "--session-key", "abcdefgh", "--alg", "des"])
    assert j.json()["encryption"] == "full" and j.json()["decrypted"] is True
    e = run(["encode", "--session-key", "abcdefgh", "--alg", "des"], j.raw)
    assert e.rc == 0 and e.out.strip() == hx(data)
    assert_error(run(["encode"], j.raw), "--session-key")


def test_encrypted_login_ack_digest_uses_inner_curtime():
    """LOGIN_ACK signs with its own CURTIME (PROTOCOL.md 3, appendix G b); inside E042
    (PROTOCOL.md 5) that is only known after decryption."""
    key = b"abcdefgh"
    ct = DES.new(key, DES.MODE_CBC, iv=bytes(8)).encrypt(pkcs7(b"\x00" + struct.pack(">I", CURTIME), 8))
    body = tlv(0xE042, ct)
    data = add_digest(header(C.LOGIN_ACK, 28 + len(body), security=0x10) + body, CURTIME)
    des = ["--session-key", "abcdefgh", "--alg", "des"]
    r = run(["decode", hx(data), "--json"] + KEY_ARGS + des)
    assert r.rc == 0 and r.json()["digest_ok"] is True
    assert r.json()["fields"] == {"result": 0, "curtime": CURTIME}
    r = run(["decode", hx(data)] + KEY_ARGS)
    assert r.rc == 0 and "--session-key" in r.out
    j = run(["decode", hx(data), "--json"] + des)
    e = run(["encode"] + KEY_ARGS + des, j.raw)      # fresh digest, same bytes
    assert e.rc == 0 and e.out.strip() == hx(data)


def test_partial_encryption_aes_round_trip():
    """E043 replaces the encrypted TLVs, fixed part in clear (PROTOCOL.md 5)."""
    key = b"0123456789abcdef"
    inner = tlv(0xE025, b"abcdefgh")
    ct = AES.new(key, AES.MODE_CBC, iv=bytes(16)).encrypt(pkcs7(inner, 16))
    body = b"\x01" + tlv(0x0011, b"\x00\x00\x00\x1e") + tlv(0xE043, ct)
    data = header(C.SECURITY_CONFIG, 28 + len(body), seq=9) + body
    args = ["--session-key", "0123456789abcdef", "--alg", "aes"]
    r = run(["decode", hx(data), "--show-secrets"] + args)
    assert r.rc == 0 and '"abcdefgh"' in r.out and "from E043" in r.out
    j = run(["decode", hx(data), "--json", "--show-secrets"] + args)
    assert [t.get("encrypted", False) for t in j.json()["tlvs"]] == [False, True]
    e = run(["encode"] + args, j.raw)
    assert e.rc == 0 and e.out.strip() == hx(data)


def test_wrong_session_key_is_an_error():
    key = b"abcdefgh"
    ct = DES.new(key, DES.MODE_CBC, iv=bytes(8)).encrypt(pkcs7(tlv(0x0002, b"cmnet"), 8))
    body = tlv(0xE042, ct)
    data = header(C.CONFIG_TRAP, 28 + len(body), security=0x10) + body
    assert_error(run(["decode", hx(data), "--session-key", "abcdefgX", "--alg", "des"]))
    assert_error(run(["decode", hx(data), "--session-key", "short", "--alg", "des"]), "DES")


# -- input forms ---------------------------------------------------------------------

def test_input_hex_with_separators_and_files(tmp_path):
    spaced = " ".join("0x%02X" % b for b in LOGIN[:28]) + "\n" + ":".join("%02x" % b for b in LOGIN[28:])
    assert run(["decode", spaced]).rc == 0
    p = tmp_path / "m.hex"
    p.write_text(spaced)
    assert "LOGIN" in run(["decode", "--file", str(p)]).out
    b = tmp_path / "m.bin"
    b.write_bytes(LOGIN)
    assert "LOGIN" in run(["decode", "--file", str(b), "--binary"]).out
    assert "LOGIN" in run(["decode", "--file", "-"], spaced.encode()).out
    assert "LOGIN" in run(["decode", "-"], spaced.encode()).out


# -- error paths -----------------------------------------------------------------------

DECODE_ERRORS = [
    (["decode", "xyz0"], "hex"),
    (["decode", "abc"], "odd"),
    (["decode", ""], "no hex"),
    (["decode"], "HEX"),
    (["decode", hx(LOGIN[:27])], "truncated"),                       # header is 28 bytes, A-1
    (["decode", hx(LOGIN[:-1])], "total_length"),                    # PROTOCOL.md 1
    (["decode", hx(LOGIN + b"\x00")], "total_length"),
    (["decode", hx(header(0x0009, 28))], "unknown command"),          # appendix D
    (["decode", hx(header(C.CONFIG_TRAP, 31) + b"\x00\x02\x00")], "TLV"),  # E a
    (["decode", hx(header(C.CONFIG_TRAP, 33) + b"\x00\x02\x00\x09x")], "truncated"),
    (["decode", hx(header(C.CONFIG_TRAP, 28, security=0x20))], "digest"),  # A-2 bit 0x20
    (["decode", hx(header(C.LOGIN, 30) + b"V1")], "truncated"),        # G b fixed part
    (["decode", hx(LOGIN), "--bearer", "mms"], "--bearer"),
    (["decode", hx(LOGIN), "--alg", "des"], "--session-key"),
    (["decode", hx(LOGIN), "--session-key", "abcdefgh"], "--alg"),
    (["decode", hx(LOGIN), "--session-key", "abcdefgh", "--alg", "rsa"], "--alg"),
    (["decode", hx(LOGIN), "--imei", IMEI], "--imsi"),
    (["decode", hx(LOGIN), "--timestamp", "0"], "--imei"),
    (["decode", hx(LOGIN), "--timestamp", "soon"] + KEY_ARGS, "timestamp"),
    (["decode", hx(LOGIN), "--timestamp", "2023-11-14T22:13:20"] + KEY_ARGS, "zone"),
    (["decode", hx(LOGIN), "--imei", "12345", "--imsi", IMSI, "--password", UP_PW], "IMEI"),
    (["decode", hx(LOGIN), "--imei", IMEI, "--imsi", IMSI, "--password", "short"], "password"),
    (["decode", hx(LOGIN), "--binary"], "--file"),
    (["decode", hx(LOGIN), "--file", "x"], "not both"),
    (["decode", "--file", "/nonexistent/capture.hex"], "No such file"),
    (["decode", hx(LOGIN), "--no-such-option"], "unrecognized"),
    (["frobnicate"], "invalid choice"),
    ([], "decode or encode"),
]


@pytest.mark.parametrize("argv,needle", DECODE_ERRORS)
def test_decode_errors_exit_2(argv, needle):
    r = run(argv)
    assert_error(r, needle)
    assert r.out == ""


def _login_doc():
    return run(["decode", hx(LOGIN), "--json"]).json()


def _edit(fn):
    d = _login_doc()
    fn(d)
    return json.dumps(d).encode()


ENCODE_ERRORS = [
    (b"", "no JSON"),
    (b"{not json", "bad JSON"),
    (b"[1, 2]", "object"),
    (b'{"command": "FROBNICATE"}', "unknown command"),
    (b'{"seq": 1}', "command"),
    (b'{"command_id": 9}', "appendix D"),
    (b'{"command": "LOGIN", "fields": {"software_version": "V1"}}', "config_crc32"),
    (_edit(lambda d: d["fields"].update(config_crc32=1 << 32)), "config_crc32"),
    (_edit(lambda d: d["fields"].update(software_version="TOO-LONG-VERSION")), "software_version"),
    (_edit(lambda d: d["fields"].update(colour="red")), "colour"),
    (_edit(lambda d: d["tlvs"][0].pop("value_hex")), "value_hex"),
    (_edit(lambda d: d["tlvs"][0].update(value_hex="abc")), "odd"),
    (_edit(lambda d: d["tlvs"][0].update(value_hex="zz")), "hex"),
    (_edit(lambda d: d["tlvs"][0].update(tag="0x1FFFF")), "tag"),
    (_edit(lambda d: d["tlvs"][0].pop("tag")), "tag"),
    (_edit(lambda d: d.update(tlvs="nope")), "list"),
    (_edit(lambda d: d["tlvs"].insert(0, d["tlvs"].pop())), "E021"),       # PROTOCOL.md 3: last
    (_edit(lambda d: d["tlvs"][-1].update(value_hex="00")), "E021"),
    (_edit(lambda d: (d.pop("security"), d.update(flags=["loud"]))), "loud"),  # table A-2
    (_edit(lambda d: d.update(seq=-1)), "seq"),
    (_edit(lambda d: d.update(seq=True)), "seq"),
    (_edit(lambda d: d.update(version="three")), "version"),
    (_edit(lambda d: d.update(serial="S" * 17)), "serial"),
    (_edit(lambda d: d.update(serial={"hex": "0g"})), "serial"),
    (_edit(lambda d: d.update(command="LOGOUT")), "does not match"),
    (_edit(lambda d: d["tlvs"].insert(0, {"tag": 0x4007, "value_hex": "00" * 1025})), "bearer"),
]


@pytest.mark.parametrize("doc,needle", ENCODE_ERRORS)
def test_encode_errors_exit_2(doc, needle):
    r = run(["encode"], doc)
    assert_error(r, needle)
    assert r.out == ""


def test_encode_option_errors():
    doc = json.dumps(_login_doc()).encode()
    assert_error(run(["encode", "--imei", IMEI], doc), "--imsi")
    assert_error(run(["encode", "--file", "/nonexistent/m.json"]), "No such file")
    assert_error(run(["encode", "--bearer", "fax"], doc), "--bearer")


# -- the installed console script -------------------------------------------------------

def test_console_script():
    exe = os.path.join(VENV_BIN, "wmmp")
    assert os.access(exe, os.X_OK), "run: .venv/bin/pip install --no-deps --no-build-isolation -e ."
    p = subprocess.run([exe, "decode", hx(LOGIN)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "LOGIN (0x0001)" in p.stdout
    p = subprocess.run([exe, "decode", "0011"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.startswith("wmmp: error: ") and "Traceback" not in p.stderr
    p = subprocess.run([exe, "encode"], input=subprocess.run(
        [exe, "decode", hx(LOGIN), "--json"], capture_output=True, text=True, timeout=60).stdout,
        capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == hx(LOGIN)


def test_python_m():
    p = subprocess.run([sys.executable, "-m", "wmmp_tools.cli", "decode", hx(REGISTER_ACK), "--json"],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                           [os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")])))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["command"] == "REGISTER_ACK"


# -- fuzz ---------------------------------------------------------------------------------

def _assert_clean(r):
    assert r.rc in (0, 1, 2), r.rc
    assert "Traceback" not in r.err and "Traceback" not in r.out
    assert "internal error" not in r.err, r.err
    if r.rc == 2:
        assert len(r.err.splitlines()) == 1 and r.err.startswith("wmmp: error: ")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_fuzz_decode_random_bytes(data):
    _assert_clean(run(["decode", hx(data)]))


def _round_trips(data, extra=()):
    """Decode cleanly; whatever decodes comes back byte for byte through encode."""
    _assert_clean(run(["decode", hx(data), "-v"] + list(extra)))
    r = run(["decode", hx(data), "--json", "--show-secrets"] + list(extra))
    _assert_clean(r)
    if r.rc in (0, 1):
        e = run(["encode"], r.raw)
        assert e.rc == 0, e.err
        assert e.out.strip() == hx(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(C.all_commands() + [0x0009, 0x1234]), st.integers(0, 255),
       st.integers(0, 255), st.binary(max_size=120))
def test_fuzz_decode_well_framed(cmd, security, reserved, body):
    """Right total_length and a real command, random security byte and body: the
    decoder gets past the framing (appendix A table A-1) into fixed parts and TLVs."""
    data = bytearray(header(cmd, 28 + len(body), security=security) + body)
    data[27] = reserved
    _round_trips(bytes(data), KEY_ARGS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ROUND_TRIP), st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)),
                                             min_size=1, max_size=4), st.booleans())
def test_fuzz_mutated_messages(data, edits, fix_length):
    """Valid messages with a few bytes changed (total_length optionally kept right)."""
    d = bytearray(data)
    for pos, val in edits:
        d[pos % len(d)] = val
    if fix_length:
        d[0:2] = struct.pack(">H", len(d))
    _round_trips(bytes(d), KEY_ARGS)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_fuzz_decode_random_text(text):
    _assert_clean(run(["decode", "--file", "-"], text.encode("utf-8", "surrogatepass")))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["command", "command_id", "serial", "version", "seq", "security",
                        "flags", "fields", "tlvs", "notice", "subpacket", "encryption",
                        "total_length"]),
       st.one_of(st.none(), st.booleans(), st.integers(-2, 2 ** 33), st.text(max_size=20),
                 st.lists(st.integers(-1, 70000), max_size=3),
                 st.dictionaries(st.text(max_size=8), st.integers(0, 300), max_size=3)))
def test_fuzz_encode_mutated_json(key, value):
    doc = _login_doc()
    doc[key] = value
    r = run(["encode"], json.dumps(doc).encode())
    _assert_clean(r)
    if r.rc == 0:                      # whatever encode accepts must decode again
        _assert_clean(run(["decode", r.out.strip()]))


# -- secrets off the command line; input that is not what the command reads ---------------

WMMP = os.path.join(VENV_BIN, "wmmp")


def wmmp(args, env=None, stdin=None, **kw):
    """The installed `wmmp` with extra environment variables (and none of the
    caller's WMMP_* variables)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("WMMP_")}
    e.update(env or {})
    p = subprocess.run([WMMP] + list(args), input=stdin, capture_output=True, env=e, timeout=60, **kw)
    return Result(p.returncode, p.stdout, p.stderr)


def test_encode_of_a_raw_capture_says_what_is_wrong(tmp_path):
    # `encode --file` of a binary capture: not "use --binary" (encode's --binary is
    # about its output) but what encode reads and how to get it.
    b = tmp_path / "login.bin"
    b.write_bytes(LOGIN)
    r = wmmp(["encode", "--file", str(b)])
    assert_error(r, "is not JSON text")
    assert "use --binary" not in r.err and "wmmp decode --json" in r.err.replace("`", "")
    assert r.out == ""
    # hex given to encode: said plainly too
    h = tmp_path / "login.hex"
    h.write_text(hx(LOGIN) + "\n")
    r = wmmp(["encode", "--file", str(h)])
    assert_error(r, "this is hex, not JSON")
    # decode's advice stays right: a binary file without --binary
    assert_error(wmmp(["decode", "--file", str(b)]), "use --binary")


def _encrypted_trap():
    key = b"abcdefgh"
    content = tlv(0x0002, b"cmnet") + tlv(0x0011, b"\x00\x00\x00\x1e")
    ct = DES.new(key, DES.MODE_CBC, iv=bytes(8)).encrypt(pkcs7(content, 8))
    body = tlv(0xE042, ct)
    return add_digest(header(C.CONFIG_TRAP, 28 + len(body), seq=8, security=0x10) + body, CURTIME)


def test_password_and_session_key_from_a_file_or_the_environment(tmp_path):
    # --password and --session-key show in `ps` and the shell history: the same
    # secrets are read from a file or an environment variable, with the same result.
    data = _encrypted_trap()
    ids = ["--imei", IMEI, "--imsi", IMSI, "--timestamp", str(CURTIME), "--alg", "des"]
    on_line = wmmp(["decode", hx(data), "--password", UP_PW, "--session-key", "abcdefgh"] + ids)
    assert on_line.rc == 0 and '"cmnet"' in on_line.out and "Digest (E021" in on_line.out, on_line.err
    pw = tmp_path / "pw"
    pw.write_text(UP_PW + "\n")
    sk = tmp_path / "sk"
    sk.write_text("abcdefgh\n")
    from_files = wmmp(["decode", hx(data), "--password-file", str(pw), "--session-key-file", str(sk)] + ids)
    from_env = wmmp(["decode", hx(data)] + ids, env={"WMMP_PASSWORD": UP_PW, "WMMP_SESSION_KEY": "abcdefgh"})
    for r in (from_files, from_env):
        assert r.rc == 0 and r.err == "" and r.out == on_line.out
        assert UP_PW not in r.out and "abcdefgh" not in r.out
    # encode takes them the same ways: fresh digest and re-encryption, same bytes
    j = wmmp(["decode", hx(data), "--json", "--alg", "des"], env={"WMMP_SESSION_KEY": "abcdefgh"})
    assert j.rc == 0 and j.json()["decrypted"] is True
    e = wmmp(["encode", "--imei", IMEI, "--imsi", IMSI, "--timestamp", str(CURTIME), "--alg", "des",
              "--password-file", str(pw)], env={"WMMP_SESSION_KEY": "abcdefgh"}, stdin=j.raw)
    assert e.rc == 0 and e.out.strip() == hx(data), e.err
    # a wrong password from the environment fails the digest like one on the command line
    r = wmmp(["decode", hx(data)] + ids, env={"WMMP_PASSWORD": "Wrong#78", "WMMP_SESSION_KEY": "abcdefgh"})
    assert r.rc == 1 and "DOES NOT VERIFY" in r.out
    # the variables are used only when the rest of their group is given
    r = wmmp(["decode", hx(data)], env={"WMMP_PASSWORD": "x", "WMMP_SESSION_KEY": "y"})
    assert r.rc == 0 and "present, not checked" in r.out
    # bad or doubled sources: one line, exit 2, the secret never shown
    empty = tmp_path / "empty"
    empty.write_text("\n")
    two = tmp_path / "two"
    two.write_text(UP_PW + "\n" + UP_PW + "\n")
    for args, needle in ((["--password", UP_PW, "--password-file", str(pw)], "not both"),
                         (["--password-file", str(empty)], "is empty"),
                         (["--password-file", str(two)], "more than one line"),
                         (["--password-file", str(tmp_path)], "cannot read"),
                         (["--password-file", str(tmp_path / "none")], "cannot read"),
                         (["--password-file", ""], "empty path"),
                         (["--session-key", "abcdefgh", "--session-key-file", str(sk)], "not both")):
        r = wmmp(["decode", hx(data)] + ids + args, env={"WMMP_SESSION_KEY": "abcdefgh"})
        assert_error(r, needle)
        assert UP_PW not in r.err and "abcdefgh" not in r.err


def test_help_says_how_to_keep_secrets_off_the_command_line():
    for cmd in ("decode", "encode"):
        r = wmmp([cmd, "--help"])
        text = " ".join(r.out.split())
        assert r.rc == 0
        for word in ("--password-file", "WMMP_PASSWORD", "--session-key-file", "WMMP_SESSION_KEY", "ps"):
            assert word in text, (cmd, word)
        assert "INTEROP" not in r.out
    assert "WMMP_PASSWORD" in wmmp(["--help"]).out


def test_encode_binary_to_a_terminal_is_refused():
    # Raw bytes are not written to a terminal: exit 2, one line, nothing on the screen.
    import pty
    import select
    doc = run(["decode", hx(LOGIN), "--json"]).raw
    master, slave = pty.openpty()
    try:
        e = {k: v for k, v in os.environ.items() if not k.startswith("WMMP_")}
        p = subprocess.run([WMMP, "encode", "--binary"], input=doc, stdout=slave, stderr=subprocess.PIPE,
                           env=e, timeout=60)
        assert p.returncode == 2 and p.stderr.decode().startswith("wmmp: error: --binary writes raw bytes")
        assert len(p.stderr.splitlines()) == 1
        assert select.select([master], [], [], 0.2)[0] == []
    finally:
        os.close(master)
        os.close(slave)
