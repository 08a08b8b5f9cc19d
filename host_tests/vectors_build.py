"""Independent builder of the shared WMMP-T test vectors (CPython only).

Writes host_tests/portable/vectors/*.json from the wire layout of INTEROP.md 1-8
and the standard's appendices A, D, F and G, using only struct, hashlib.md5,
binascii.crc32, pycryptodome (DES / 3DES / AES, CBC, zero IV, PKCS#7) and a
CRC-16/CCITT-FALSE written here.  It never imports lib/wmmp: the vectors are a
second implementation the codec is checked against.

    python host_tests/vectors_build.py            write the JSON files
    python host_tests/vectors_build.py --check    exit 1 if a committed file differs
    ... --dir DIR                                 use DIR instead of portable/vectors

The vectors are split over several small files because the portable test loads
them on a 64 KiB MicroPython heap, one file at a time:
    messages.json    index: each file and the (name, command) of its vectors
    good_NN.json     good vectors without session encryption (every command ID),
                     packed so one file's checks fit the heap (TEST_BUDGET)
    crypto.json      E040 session-key wrap (LOGIN_ACK), E042 full and E043 partial encryption
    big.json         1024 bytes of user data; the E044 (encrypted) sub-packet split
    subpackets.json  the SMS sub-packet split of a CONFIG_TRAP
    e044.json        the E044 (3DES) split; its plain content in e044_content.json
    bad.json         malformed framing and the error class each must raise
    bad_body.json    malformed bodies (TLVs, fixed parts, bearer limits), likewise
    notices.json     the 28-byte header echo (overflow notice) of table A-2
"""

import binascii
import hashlib
import json
import os
import struct
import sys

from Crypto.Cipher import AES, DES, DES3
from Crypto.Util.Padding import pad

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "portable", "vectors")

# -- primitives (INTEROP 1, 3, 5, 7) -------------------------------------------

VERSION = 0x0300                 # INTEROP 1 profile default
HEADER_FMT = ">H16sHHIBB"         # appendix A table A-1
HEADER_SIZE = 28

SEC_SUPPORTS = 0x80
SEC_ENABLED = 0x40
SEC_DIGEST = 0x20
SEC_CARRIER = 0x10
SEC_OVERFLOW = 0x01

DES_ALG, TDES_ALG, AES_ALG = 1, 2, 3


def crc16_ccitt_false(data):
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0 (INTEROP 7)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def crc32(data):
    return binascii.crc32(data) & 0xFFFFFFFF


def tlv(tag, value=b""):
    """One whole TLV: tag:u16 | length:u16 | value (appendix E a)."""
    return struct.pack(">HH", tag, len(value)) + value


def tlvs_bytes(items):
    return b"".join(tlv(t, v) for t, v in items)


def u8(v):
    return struct.pack(">B", v)


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def md5(*parts):
    h = hashlib.md5()
    for p in parts:
        h.update(p)
    return h.digest()


def encrypt(alg, key, data):
    """CBC, zero IV, PKCS#7 (INTEROP 5 profile).  3DES: 16 ASCII bytes K1||K2, K3 = K1."""
    k = key.encode()
    if alg == DES_ALG:
        assert len(k) == 8
        c = DES.new(k, DES.MODE_CBC, iv=bytes(8))
        bs = 8
    elif alg == TDES_ALG:
        assert len(k) == 16
        c = DES3.new(k, DES3.MODE_CBC, iv=bytes(8))   # 16-byte key = two-key EDE
        bs = 8
    elif alg == AES_ALG:
        assert len(k) in (16, 24, 32)
        c = AES.new(k, AES.MODE_CBC, iv=bytes(16))
        bs = 16
    else:
        raise ValueError(alg)
    return c.encrypt(pad(data, bs))


def self_check():
    """Known answers of the primitives this builder relies on."""
    assert crc16_ccitt_false(b"123456789") == 0x29B1          # INTEROP 7 check value
    assert crc32(b"123456789") == 0xCBF43926                   # IEEE 802.3 check value
    # FIPS 81 / NBS test: DES-ECB("0123456789ABCDEF", "Now is t") = 3FA40E8A984D4815.
    e = DES.new(bytes.fromhex("0123456789abcdef"), DES.MODE_ECB).encrypt(b"Now is t")
    assert e.hex() == "3fa40e8a984d4815"
    # Two-key 3DES with K3 = K1 equals explicit three-key K1||K2||K1.
    k = b"BaseKey3DES01234"
    a = DES3.new(k, DES3.MODE_CBC, iv=bytes(8)).encrypt(bytes(16))
    b = DES3.new(k + k[:8], DES3.MODE_CBC, iv=bytes(8)).encrypt(bytes(16))
    assert a == b


# -- identities used by the vectors ----------------------------------------------

SERIAL = b"M2MT2024A0000001"                 # assigned serial, 16 ASCII bytes
SERIAL_SHORT = b"M2MT2024A7"                 # 10 bytes, right-padded with 0x00
SERIAL_UNASSIGNED = b"M2MT2024" + bytes(8)   # bytes 9..16 zero: asks for a serial (G a)
IMEI = "860123456789012"
IMSI = "460001234567890"
OLD_IMEI = "860987654321098"
OLD_IMSI = "460009876543210"
UP_PW = "UpPass01"      # E025 uplink password
DN_PW = "DnPass02"      # E028 downlink password
BASE_KEY = "BaseKey3DES01234"       # E036, 3DES (16 ASCII bytes, K1||K2)
SESSION_DES = "Sess1Key"            # E03B, DES
SESSION_AES = "AesSessKey012345"    # AES-128
SESSION_3DES = "Sess3DESKey98765"   # 3DES
CURTIME = 1718236800                # LOGIN_ACK CURTIME = session timestamp (INTEROP 3, 8)
STALE_TS = 1717000000               # a previous session's timestamp (LOGIN ignores it)
UP_EXPIRY = 1749772800
DN_EXPIRY = 1749772800
BASE_EXPIRY = 1781308800
SESSION_EXPIRY = 1718323200


def imei16(imei):
    """15 ASCII digits + 0x00 (INTEROP 2)."""
    b = imei.encode()
    assert len(b) == 15 and b.isdigit()
    return b + b"\x00"


def key(password, timestamp, imei=IMEI, imsi=IMSI):
    return {"imei": imei, "imsi": imsi, "password": password, "timestamp": timestamp}


def up_key(ts=CURTIME):
    return key(UP_PW, ts)


def dn_key(ts=CURTIME):
    return key(DN_PW, ts)


# -- commands and fixed parts (appendix D, G; INTEROP 2) ---------------------------

LOGIN, LOGOUT, HEART_BEAT, TRANSPARENT_DATA = 0x0001, 0x0002, 0x0003, 0x0004
CONFIG_GET, CONFIG_SET, CONFIG_TRAP, REGISTER = 0x0005, 0x0006, 0x0007, 0x0008
CONFIG_REQ, REMOTE_CTRL, DOWNLOAD_INFO, FILE_REQ = 0x000A, 0x000B, 0x000C, 0x000D
SECURITY_CONFIG, TRANSPARENT_CMD = 0x000E, 0x000F
ACK = 0x8000
REQUESTS = (LOGIN, LOGOUT, HEART_BEAT, TRANSPARENT_DATA, CONFIG_GET, CONFIG_SET, CONFIG_TRAP,
            REGISTER, CONFIG_REQ, REMOTE_CTRL, DOWNLOAD_INFO, FILE_REQ, SECURITY_CONFIG,
            TRANSPARENT_CMD)
ALL_COMMANDS = REQUESTS + tuple(c | ACK for c in REQUESTS)

# (name, struct code) in wire order; "Ns" = fixed byte string.
FIXED = {
    REGISTER: (("operation", "B"), ("imei", "16s"), ("imsi", "15s")),
    REGISTER | ACK: (("result", "B"), ("terminal_id", "16s")),
    LOGIN: (("software_version", "8s"), ("config_crc32", "I")),
    LOGIN | ACK: (("result", "B"), ("curtime", "I")),
    LOGOUT: (("reason", "B"),),
    LOGOUT | ACK: (),
    HEART_BEAT: (),
    HEART_BEAT | ACK: (),
    TRANSPARENT_DATA: (("crc16", "H"),),
    CONFIG_GET: (), CONFIG_SET: (), CONFIG_TRAP: (), CONFIG_REQ: (),
    REMOTE_CTRL: (), DOWNLOAD_INFO: (), TRANSPARENT_CMD: (),
    FILE_REQ: (("trans_id", "I"), ("status", "B"), ("read_point", "I"), ("block_size", "H")),
    FILE_REQ | ACK: (("trans_id", "I"), ("status", "B"), ("crc16", "H"), ("read_point", "I"),
                     ("block_size", "H")),
    SECURITY_CONFIG: (("operation", "B"),),
}


def fixed_layout(cmd):
    if cmd in FIXED:
        return FIXED[cmd]
    assert cmd & ACK and (cmd & 0x7FFF) in REQUESTS
    return (("result", "B"),)        # every other ACK: result:u8


def pack_fixed(cmd, fields):
    out = b""
    for name, code in fixed_layout(cmd):
        v = fields[name]
        if code.endswith("s"):
            n = int(code[:-1])
            assert isinstance(v, bytes) and len(v) <= n
            out += v + bytes(n - len(v))
        else:
            out += struct.pack(">" + code, v)
    if cmd == FILE_REQ | ACK:
        assert len(fields["block"]) == fields["block_size"]
        out += fields["block"]
    return out


def padded_fields(cmd, fields):
    """Fields as they read back from the wire: fixed-size strings right-padded with 0x00."""
    out = dict(fields)
    for name, code in fixed_layout(cmd):
        if code.endswith("s"):
            out[name] = fields[name] + bytes(int(code[:-1]) - len(fields[name]))
    return out


def header(total, serial, cmd, seq, security):
    assert len(serial) <= 16
    return struct.pack(HEADER_FMT, total, serial + bytes(16 - len(serial)), VERSION, cmd, seq,
                       security, 0)


def digest_timestamp(cmd, fields, session_ts):
    """INTEROP 3: 0 for REGISTER, REGISTER_ACK, LOGIN; LOGIN_ACK its own CURTIME;
    otherwise the session timestamp."""
    if cmd in (REGISTER, REGISTER | ACK, LOGIN):
        return 0
    if cmd == LOGIN | ACK:
        return fields["curtime"]
    return session_ts


def frame(cmd, serial, seq, security, content, dkey=None, fields=None):
    """Header + content (+ E021 last).  Returns (bytes, security as sent)."""
    if dkey is not None:
        security |= SEC_DIGEST
        total = HEADER_SIZE + len(content) + 20
        hdr = header(total, serial, cmd, seq, security)
        ts = digest_timestamp(cmd, fields or {}, dkey["timestamp"])
        value = md5(hdr, content, u32(ts), imei16(dkey["imei"]), dkey["imsi"].encode(),
                    dkey["password"].encode())
        assert len(value) == 16
        data = hdr + content + tlv(0xE021, value)
    else:
        total = HEADER_SIZE + len(content)
        data = header(total, serial, cmd, seq, security) + content
    assert len(data) == total <= 0xFFFF
    return data, security


# -- JSON helpers -------------------------------------------------------------------

def fields_json(fields):
    out = {}
    for k, v in fields.items():
        if isinstance(v, bytes):
            out[k + "_hex"] = v.hex()
        else:
            out[k] = v
    return out


def tlvs_json(items):
    return [[t, v.hex()] for t, v in items]


def good(name, section, cmd, serial, seq, security, fields, tlvs, dkey=None, cipher=None,
         encryption="none", encrypt_tags=(), bearer=None, extra=None):
    """One good vector.  `tlvs` in the order the sender lists them (without digest);
    with encryption "partial" the tags in encrypt_tags go into one E043 placed where
    the first of them stood (INTEROP 5)."""
    fixed = pack_fixed(cmd, fields)
    fields = padded_fields(cmd, fields)
    if encryption == "partial":
        chosen = [(t, v) for t, v in tlvs if t in encrypt_tags]
        assert chosen
        e043 = encrypt(cipher["alg"], cipher["key"], tlvs_bytes(chosen))
        wire, spliced, placed = [], [], False
        for t, v in tlvs:
            if t in encrypt_tags:
                if not placed:
                    wire.append((0xE043, e043))
                    spliced.extend(chosen)
                    placed = True
            else:
                wire.append((t, v))
                spliced.append((t, v))
        content = fixed + tlvs_bytes(wire)
        listed = spliced
    elif encryption == "full":
        plain = fixed + tlvs_bytes(tlvs)
        content = tlv(0xE042, encrypt(cipher["alg"], cipher["key"], plain))
        security |= SEC_CARRIER
        listed = tlvs
    else:
        assert encryption == "none" and cipher is None
        content = fixed + tlvs_bytes(tlvs)
        listed = tlvs
    data, sec = frame(cmd, serial, seq, security, content, dkey, fields)
    v = {
        "name": name, "section": section, "hex": data.hex(), "command": cmd,
        "serial": (serial + bytes(16 - len(serial))).hex(), "seq": seq, "security": sec,
        "fields": fields_json(fields), "tlvs": tlvs_json(listed), "digest": dkey,
        "cipher": cipher, "encryption": encryption,
        "encrypt_tags": list(encrypt_tags) if encryption == "partial" else [],
    }
    if bearer is not None:
        v["bearer"] = bearer
    if extra:
        v.update(extra)
    return v


# -- good vectors -------------------------------------------------------------------

def security_digests():
    """E026, E029, E03A = MD5 of whole encoded TLVs (INTEROP 8)."""
    e026 = md5(tlv(0xE025, UP_PW.encode()), tlv(0xE027, u32(UP_EXPIRY)))
    e029 = md5(tlv(0xE028, DN_PW.encode()), tlv(0xE02A, u32(DN_EXPIRY)))
    e03a = md5(tlv(0xE036, BASE_KEY.encode()), tlv(0xE038, u32(BASE_EXPIRY)))
    return e026, e029, e03a


def plain_vectors():
    V = []
    e026, e029, e03a = security_digests()
    reg_fields = {"imei": imei16(IMEI), "imsi": IMSI.encode()}

    # a) REGISTER / REGISTER_ACK
    V.append(good("register_op00_unassigned_serial",
                  "appendix G a (operation 0x00, serial bytes 9..16 zero); INTEROP 1, 2",
                  REGISTER, SERIAL_UNASSIGNED, 1, SEC_SUPPORTS,
                  dict(operation=0x00, **reg_fields), []))
    V.append(good("register_op01_preset_serial", "appendix G a (operation 0x01); INTEROP 2",
                  REGISTER, SERIAL, 2, 0x00, dict(operation=0x01, **reg_fields), []))
    V.append(good("register_op03_preset_secrets",
                  "appendix G a (operation 0x03: E026, E029, E03A); INTEROP 8",
                  REGISTER, SERIAL, 3, SEC_SUPPORTS, dict(operation=0x03, **reg_fields),
                  [(0xE026, e026), (0xE029, e029), (0xE03A, e03a)],
                  extra={"security_digests": {
                      "up_password": UP_PW, "up_expiry": UP_EXPIRY,
                      "down_password": DN_PW, "down_expiry": DN_EXPIRY,
                      "base_key": BASE_KEY, "base_expiry": BASE_EXPIRY}}))
    V.append(good("register_op04_local_reset", "appendix G a (operation 0x04: E020); appendix E g",
                  REGISTER, SERIAL, 4, SEC_SUPPORTS, dict(operation=0x04, **reg_fields),
                  [(0xE020, u8(0x0E))]))
    V.append(good("register_op02_remap_old_imei_digest",
                  "appendix G a (operation 0x02, E021 over the old IMEI/IMSI); INTEROP 3",
                  REGISTER, SERIAL, 5, SEC_SUPPORTS, dict(operation=0x02, **reg_fields), [],
                  dkey=key(UP_PW, 0, OLD_IMEI, OLD_IMSI)))
    V.append(good("register_ack_00_assigned", "appendix G a (REGISTER_ACK result 0x00)",
                  REGISTER | ACK, SERIAL_UNASSIGNED, 1, 0x00,
                  dict(result=0x00, terminal_id=SERIAL), []))
    V.append(good("register_ack_09_preset_ok", "appendix G a (REGISTER_ACK result 0x09)",
                  REGISTER | ACK, SERIAL, 3, 0x00, dict(result=0x09, terminal_id=SERIAL), []))
    V.append(good("register_ack_01_remap_digest",
                  "appendix G a (REGISTER_ACK result 0x01, E021 over old IMEI/IMSI, downlink "
                  "password, timestamp 0); INTEROP 3",
                  REGISTER | ACK, SERIAL, 5, 0x00, dict(result=0x01, terminal_id=SERIAL), [],
                  dkey=key(DN_PW, STALE_TS, OLD_IMEI, OLD_IMSI)))

    # b) LOGIN / LOGIN_ACK
    cfg = [(0x0011, u32(30)), (0x0108, u8(3))]
    cfg_crc = crc32(tlvs_bytes(sorted(cfg)))
    V.append(good("login_digest_session_key_request",
                  "appendix G b (LOGIN + 0x0011, 0x3006, 0x3007, E03A); INTEROP 3 (timestamp 0), "
                  "INTEROP 7 (config CRC32)",
                  LOGIN, SERIAL, 6, SEC_SUPPORTS | SEC_ENABLED,
                  dict(software_version=b"V1.0.3", config_crc32=cfg_crc),
                  [(0x0011, u32(30)), (0x3006, u32(0x25A1C3E7)), (0x3007, u8(78)),
                   (0xE03A, e03a)],
                  dkey=up_key(STALE_TS)))
    V.append(good("login_ack_07_no_session_key",
                  "appendix G b (LOGIN_ACK result 0x07: base key check failed, no E040; digest "
                  "over its own CURTIME); INTEROP 3",
                  LOGIN | ACK, SERIAL, 6, 0x00, dict(result=0x07, curtime=CURTIME + 5), [],
                  dkey=dn_key(CURTIME + 5)))

    # c) LOGOUT / LOGOUT_ACK
    V.append(good("logout_07", "appendix G c (LOGOUT reason 0x07)", LOGOUT, SERIAL, 7,
                  SEC_SUPPORTS, dict(reason=0x07), [], dkey=up_key()))
    V.append(good("logout_ack", "appendix G c (LOGOUT_ACK, no fixed part, digest)",
                  LOGOUT | ACK, SERIAL, 7, 0x00, {}, [], dkey=dn_key()))

    # d) HEART_BEAT, never a digest
    V.append(good("heart_beat_monitoring_seq_wrap",
                  "appendix G d (0x3005, 0x3006, 0x3007, 0x3011, no digest); INTEROP 1 (seq u32)",
                  HEART_BEAT, SERIAL, 0xFFFFFFFF, SEC_SUPPORTS,
                  {}, [(0x3005, u32(1200)), (0x3006, u32(0x25A1C3E7)), (0x3007, u8(64)),
                       (0x3011, u32(2))]))
    V.append(good("heart_beat_ack", "appendix G d (HEART_BEAT_ACK, empty)", HEART_BEAT | ACK,
                  SERIAL, 0xFFFFFFFF, 0x00, {}, []))

    # j) TRANSPARENT_DATA
    ud = b"temp=21.5;hum=40;door=closed"
    V.append(good("transparent_data_4012_4007",
                  "appendix G j (crc16 of 0x4007, 0x4012 destination); INTEROP 7 (CRC-16/CCITT-FALSE)",
                  TRANSPARENT_DATA, SERIAL, 8, SEC_SUPPORTS, dict(crc16=crc16_ccitt_false(ud)),
                  [(0x4012, b"M2MT2024B0000002"), (0x4007, ud)], dkey=up_key()))
    V.append(good("transparent_data_ack_00", "appendix G j (TRANSPARENT_DATA_ACK result 0x00)",
                  TRANSPARENT_DATA | ACK, SERIAL, 8, 0x00, dict(result=0x00), [], dkey=dn_key()))

    # g) CONFIG_GET / ACK
    V.append(good("config_get_l0", "appendix G g (CONFIG_GET, requested tags with L=0)",
                  CONFIG_GET, SERIAL, 0x00A00001, 0x00, {},
                  [(0x0011, b""), (0x3006, b""), (0x3007, b""), (0x2008, b"")], dkey=dn_key()))
    V.append(good("config_get_ack_00", "appendix G g (CONFIG_GET_ACK result 0x00 + values)",
                  CONFIG_GET | ACK, SERIAL, 0x00A00001, SEC_SUPPORTS, dict(result=0x00),
                  [(0x0011, u32(30)), (0x3006, u32(0x25A1C3E7)), (0x3007, u8(64)),
                   (0x2008, u32(17))], dkey=up_key()))

    # h) CONFIG_SET / ACK
    V.append(good("config_set_4009_0011", "appendix G h (CONFIG_SET with 0x4009 force, 0x0011)",
                  CONFIG_SET, SERIAL, 0x00A00002, 0x00, {},
                  [(0x4009, u8(1)), (0x0011, u32(60))], dkey=dn_key()))
    V.append(good("config_set_ack_01_unsupported_l0",
                  "appendix G h, appendix F (result 0x01, unsupported tags echoed with L=0); INTEROP 2",
                  CONFIG_SET | ACK, SERIAL, 0x00A00002, SEC_SUPPORTS, dict(result=0x01),
                  [(0x5001, b""), (0x8001, b"")], dkey=up_key()))

    # e) CONFIG_TRAP / ACK
    V.append(good("config_trap_alarm", "appendix G e (CONFIG_TRAP 0x300B, 0x300C, 0x300D alarm)",
                  CONFIG_TRAP, SERIAL, 9, SEC_SUPPORTS, {},
                  [(0x300B, u8(1)), (0x300C, u8(2)), (0x300D, u16(0x001C) + u16(0x0003))],
                  dkey=up_key()))
    V.append(good("config_trap_ack_00", "appendix G e (CONFIG_TRAP_ACK result 0x00)",
                  CONFIG_TRAP | ACK, SERIAL, 9, 0x00, dict(result=0x00), [], dkey=dn_key()))

    # f) CONFIG_REQ / ACK (ID 0x000A, INTEROP 1)
    V.append(good("config_req_l0", "appendix G f (CONFIG_REQ 0x000A, L=0 tags); INTEROP 1",
                  CONFIG_REQ, SERIAL, 10, SEC_SUPPORTS, {}, [(0x0011, b""), (0x0026, b"")],
                  dkey=up_key()))
    V.append(good("config_req_ack_00", "appendix G f (CONFIG_REQ_ACK result 0x00 + values)",
                  CONFIG_REQ | ACK, SERIAL, 10, 0x00, dict(result=0x00),
                  [(0x0011, u32(30)), (0x0026, u16(120))], dkey=dn_key()))

    # i) REMOTE_CTRL / ACK
    V.append(good("remote_ctrl_4001_02", "appendix G i (REMOTE_CTRL 0x4001 = 0x02)",
                  REMOTE_CTRL, SERIAL, 0x00A00003, 0x00, {}, [(0x4001, u8(0x02))], dkey=dn_key()))
    V.append(good("remote_ctrl_ack_00", "appendix G i (REMOTE_CTRL_ACK result 0x00)",
                  REMOTE_CTRL | ACK, SERIAL, 0x00A00003, SEC_SUPPORTS, dict(result=0x00), [],
                  dkey=up_key()))

    # k) DOWNLOAD_INFO / ACK
    url = (b"://61.135.68.199:9000/KKK001?TRANS_ID=1AFBDC01&FILE_SIZE=3429838&CRC16=1AF0"
           b"&VER_DSC=LH-V001")
    V.append(good("download_info_url", "appendix G k (0x1001 URL first); INTEROP 9",
                  DOWNLOAD_INFO, SERIAL, 0x00A00004, 0x00, {}, [(0x1001, url), (0x100B, u8(0))],
                  dkey=dn_key()))
    V.append(good("download_info_ack_01", "appendix G k (DOWNLOAD_INFO_ACK result 0x01)",
                  DOWNLOAD_INFO | ACK, SERIAL, 0x00A00004, SEC_SUPPORTS, dict(result=0x01), [],
                  dkey=up_key()))

    # l) FILE_REQ / ACK with a 64-byte block
    block = bytes((i * 37 + 11) & 0xFF for i in range(64))
    V.append(good("file_req_64", "appendix G l (FILE_REQ trans_id, status, read_point, block_size)",
                  FILE_REQ, SERIAL, 11, SEC_SUPPORTS,
                  dict(trans_id=0x1AFBDC01, status=0x01, read_point=0x00000400, block_size=64), [],
                  dkey=up_key()))
    V.append(good("file_req_ack_64", "appendix G l (FILE_REQ_ACK + 64-byte block, crc16 of the block); "
                  "INTEROP 7",
                  FILE_REQ | ACK, SERIAL, 11, 0x00,
                  dict(trans_id=0x1AFBDC01, status=0x00, crc16=crc16_ccitt_false(block),
                       read_point=0x00000400, block_size=64, block=block), [], dkey=dn_key()))

    # m) SECURITY_CONFIG first delivery: no digest (INTEROP 3), on SMS
    V.append(good("security_config_00_first_delivery_no_digest",
                  "appendix G m (operation 0x00 first delivery, no digest); INTEROP 3, 8",
                  SECURITY_CONFIG, SERIAL, 0x00A00005, 0x00, dict(operation=0x00),
                  [(0xE025, UP_PW.encode()), (0xE027, u32(UP_EXPIRY)), (0xE028, DN_PW.encode()),
                   (0xE02A, u32(DN_EXPIRY)), (0xE036, BASE_KEY.encode()),
                   (0xE038, u32(BASE_EXPIRY))], bearer=1))
    V.append(good("security_config_ack_00", "appendix G m (SECURITY_CONFIG_ACK result 0x00, SMS)",
                  SECURITY_CONFIG | ACK, SERIAL, 0x00A00005, SEC_SUPPORTS, dict(result=0x00), [],
                  bearer=1))

    # TRANSPARENT_CMD / ACK
    V.append(good("transparent_cmd_4014_4016", "appendix E f (0x4014, 0x4016); INTEROP 2",
                  TRANSPARENT_CMD, SERIAL_SHORT, 0x00A00006, 0x00, {},
                  [(0x4014, b"EC000123"), (0x4016, bytes.fromhex("a50301020304ff"))],
                  dkey=dn_key()))
    V.append(good("transparent_cmd_ack_00", "INTEROP 2 (TRANSPARENT_CMD_ACK result 0x00)",
                  TRANSPARENT_CMD | ACK, SERIAL_SHORT, 0x00A00006, SEC_SUPPORTS,
                  dict(result=0x00), [], dkey=up_key()))
    return V


def crypto_vectors():
    V = []
    session_plain = tlv(0xE03B, SESSION_DES.encode()) + tlv(0xE03D, u32(SESSION_EXPIRY))
    e040 = encrypt(TDES_ALG, BASE_KEY, session_plain)
    V.append(good("login_ack_00_session_key",
                  "appendix G b (LOGIN_ACK result 0x00, E040, digest over its own CURTIME); "
                  "INTEROP 3, 5 (E040 = 3DES_base(TLV(E03B)||TLV(E03D)))",
                  LOGIN | ACK, SERIAL, 6, 0x00, dict(result=0x00, curtime=CURTIME),
                  [(0xE040, e040)], dkey=dn_key(CURTIME),
                  extra={"e040": {"alg": TDES_ALG, "key": BASE_KEY,
                                  "plain_hex": session_plain.hex()}}))
    V.append(good("config_trap_full_aes128",
                  "appendix A 3 (E042 full encryption, bit 0x10); INTEROP 5 (AES-128 CBC zero IV "
                  "PKCS#7), INTEROP 3 (digest over the ciphertext)",
                  CONFIG_TRAP, SERIAL, 12, SEC_SUPPORTS | SEC_ENABLED, {},
                  [(0x3007, u8(55)), (0x300B, u8(1)), (0x300C, u8(1)), (0x300D, u16(0x0005))],
                  dkey=up_key(), cipher={"alg": AES_ALG, "key": SESSION_AES}, encryption="full"))
    V.append(good("security_config_00_partial_des",
                  "appendix A 3 (E043 partial encryption); INTEROP 5 (DES CBC, E043 at the first "
                  "chosen TLV), appendix G m",
                  SECURITY_CONFIG, SERIAL, 0x00A00007, 0x00, dict(operation=0x00),
                  [(0xE003, u8(1)), (0xE001, b"1234"), (0xE006, u8(0)), (0xE004, b"87654321")],
                  dkey=dn_key(), cipher={"alg": DES_ALG, "key": SESSION_DES},
                  encryption="partial", encrypt_tags=(0xE001, 0xE004)))
    return V


def big_transparent():
    ud = bytes((i * 131 + 7) & 0xFF for i in range(1024))
    return good("transparent_data_1024_digest",
                "appendix G j (1024 bytes of 0x4007, the packet-bearer TLV limit); appendix E a, "
                "INTEROP 3, 7",
                TRANSPARENT_DATA, SERIAL, 13, SEC_SUPPORTS, dict(crc16=crc16_ccitt_false(ud)),
                [(0x4014, b"EC000123"), (0x4007, ud)], dkey=up_key())


# -- sub-packets (appendix F, INTEROP 6) -------------------------------------------

SMS_TLV_MAX = 100
SMS_MESSAGE_MAX = 140
PACKET_TLV_MAX = 1024


def sms_chunk():
    """Largest data size per sub-packet on SMS with a digest: the 0x4008 value
    (7 + data) is at most 100 bytes and header 28 + TLV 4 + 7 + data + digest 20 at
    most 140."""
    by_tlv = SMS_TLV_MAX - 7
    by_msg = SMS_MESSAGE_MAX - HEADER_SIZE - 4 - 7 - 20
    return min(by_tlv, by_msg)


def split(cmd, serial, first_seq, security, content, chunk, trans_id, dkey, tag):
    n = (len(content) + chunk - 1) // chunk
    parts = []
    for i in range(n):
        data = content[i * chunk:(i + 1) * chunk]
        value = struct.pack(">HHHB", trans_id, n, i + 1, 0x00) + data
        msg, sec = frame(cmd, serial, first_seq + i, security | SEC_CARRIER, tlv(tag, value), dkey)
        parts.append({"hex": msg.hex(), "seq": first_seq + i, "security": sec,
                      "trans_id": trans_id, "total": n, "index": i + 1, "op": 0,
                      "data_len": len(data)})
    return parts


def sms_split():
    trap = [(0x2006, u32(1717200000)), (0x2007, u32(1718236800))]
    trap += [(t, u32(100 + t - 0x2008)) for t in range(0x2008, 0x200F)]
    trap += [(0x3002, SERIAL), (0x3004, b"V1.0.3\x00\x00"), (0x3006, u32(0x25A1C3E7)),
             (0x3007, u8(64)), (0x3009, u32(CURTIME + 60)),
             (0x300D, b"".join(u16(c) for c in (0x0001, 0x0003, 0x001C, 0x0020, 0x0031))),
             (0x3011, u32(9)),
             (0x2013, b"".join(u32(1718000000 + 3600 * i) + u16(i) + u16(i * 3) for i in range(8))),
             (0x300F, b"".join(u16(0x0001 + i) + u8(i % 3) for i in range(7)))]
    content = tlvs_bytes(trap)
    chunk = sms_chunk()
    dkey = up_key()
    parts = split(CONFIG_TRAP, SERIAL, 200, SEC_SUPPORTS, content, chunk, 0x1234, dkey, 0x4008)
    for p in parts:
        assert len(p["hex"]) // 2 <= SMS_MESSAGE_MAX
    assert len(parts[0]["hex"]) // 2 == SMS_MESSAGE_MAX
    return {"name": "config_trap_sms_split",
            "section": "appendix F b-d, INTEROP 6 (0x4008 trans_id total index op data), "
                       "appendix E a (SMS TLV value <= 100), INTEROP 9 (SMS <= 140 bytes)",
            "command": CONFIG_TRAP, "serial": SERIAL.hex(), "bearer": 1, "chunk": chunk,
            "tag": 0x4008, "content_hex": content.hex(), "fields": {}, "tlvs": tlvs_json(trap),
            "digest": dkey, "cipher": None, "parts": parts}


def e044_split():
    recs = b"".join(u32(1718000000 + 60 * i) + u16(i) + u16(1000 - i) for i in range(90))
    recs2 = b"".join(u32(1718100000 + 60 * i) + u16(i * 2) + u16(7) for i in range(50))
    tl = [(0x2008, u32(321)), (0x2013, recs), (0x2014, recs2), (0x3007, u8(61))]
    fields = dict(result=0x00)
    content = pack_fixed(CONFIG_GET | ACK, fields) + tlvs_bytes(tl)
    cipher = {"alg": TDES_ALG, "key": SESSION_3DES}
    enc = encrypt(TDES_ALG, SESSION_3DES, content)
    chunk = PACKET_TLV_MAX - 7
    assert len(enc) > chunk
    dkey = up_key()
    parts = split(CONFIG_GET | ACK, SERIAL, 0x00A00010, SEC_SUPPORTS | SEC_ENABLED, enc, chunk,
                  0x0042, dkey, 0xE044)
    assert len(parts) == 2
    return {"name": "config_get_ack_e044_split_3des",
            "section": "appendix F (encrypted split: encrypt whole, cut, carry in E044); INTEROP 5, 6",
            "command": CONFIG_GET | ACK, "serial": SERIAL.hex(), "bearer": 2, "chunk": chunk,
            "tag": 0xE044, "content_hex": content.hex(), "fields": fields_json(fields),
            "tlvs": tlvs_json(tl), "digest": dkey, "cipher": cipher, "parts": parts}


# -- bad vectors ----------------------------------------------------------------------

def raw(cmd, content, security=0x00, seq=0x77, total=None, serial=SERIAL):
    n = HEADER_SIZE + len(content) if total is None else total
    return header(n, serial, cmd, seq, security) + content


def bad_vectors():
    B = []

    def bad(name, section, data, error, bearer=None):
        v = {"name": name, "section": section, "hex": data.hex(), "error": error}
        if bearer is not None:
            v["bearer"] = bearer
        B.append(v)

    logout = raw(LOGOUT, u8(0x00))                                  # 29 bytes
    bad("truncated_header_10", "appendix A table A-1 (28-byte header)", logout[:10], "Truncated")
    bad("total_length_too_large", "INTEROP 1 (total_length counts the whole message)",
        raw(LOGOUT, u8(0x00), total=40), "BadLength")
    bad("total_length_too_small", "INTEROP 1 (total_length counts the whole message)",
        raw(CONFIG_TRAP, tlv(0x3007, u8(5)), total=30), "BadLength")
    bad("total_length_below_header", "appendix A table A-1; INTEROP 1",
        raw(LOGOUT, u8(0x00), total=20), "BadLength")
    bad("unknown_command_0009", "appendix D (0x0009 unassigned)", raw(0x0009, b""),
        "UnknownCommand")
    bad("tlv_length_past_end", "appendix E a (TLV length runs past the end)",
        raw(CONFIG_GET, tlv(0x0011) + struct.pack(">HH", 0x3007, 10) + b"\x01\x02"), "Truncated")
    bad("login_fixed_part_short", "appendix G b (LOGIN fixed part is 12 bytes)",
        raw(LOGIN, b"V1.0\x00"), "Truncated")
    bad("digest_bit_without_e021", "appendix A 2.2, table A-2 bit 0x20; INTEROP 3",
        raw(CONFIG_TRAP, tlv(0x3007, u8(5)) + tlv(0x300B, u8(1)), security=SEC_DIGEST), "BadTlv")
    bad("e021_in_middle", "INTEROP 3 (the digest TLV is always last)",
        raw(CONFIG_TRAP, tlv(0xE021, bytes(16)) + tlv(0x3007, u8(5))), "BadTlv")
    # A correctly placed digest after a second E021 inside the content.
    content = tlv(0xE021, bytes(range(16))) + tlv(0x3007, u8(5))
    twice, _ = frame(CONFIG_TRAP, SERIAL, 0x78, 0x00, content, up_key())
    bad("e021_in_middle_and_last", "INTEROP 3 (the digest TLV is always last, only once)",
        twice, "BadTlv")
    bad("carrier_bit_plain_tlv", "table A-2 bit 0x10; INTEROP 4 (content must be E042/0x4008/E044)",
        raw(CONFIG_TRAP, tlv(0x3007, u8(5)), security=SEC_CARRIER), "BadTlv")
    bad("subpacket_tlv_short", "INTEROP 6 (0x4008 value is at least 7 bytes)",
        raw(CONFIG_TRAP, tlv(0x4008, struct.pack(">HHB", 0x1234, 2, 1)), security=SEC_CARRIER),
        "Truncated")
    bad("sms_tlv_value_101", "appendix E a (TLV value at most 100 bytes on SMS)",
        raw(TRANSPARENT_CMD, tlv(0x4016, bytes(range(101)))), "TooLongForBearer", bearer=1)
    sms141 = raw(TRANSPARENT_CMD, tlv(0x4014, b"EC001") + tlv(0x4016, bytes(range(100))))
    assert len(sms141) == 141
    bad("sms_message_141", "INTEROP 9 (one SMS carries at most 140 bytes)", sms141,
        "TooLongForBearer", bearer=1)
    block = bytes(range(32))
    fra = struct.pack(">IBHIH", 0x1AFBDC01, 0, crc16_ccitt_false(block), 0, 64) + block
    bad("file_req_ack_block_short", "appendix G l (FILE_BLOCK has FILE_BLOCK_SIZE bytes)",
        raw(FILE_REQ | ACK, fra), "Truncated")
    for v in B:
        assert HEADER_SIZE <= len(bytes.fromhex(v["hex"])) or v["error"] == "Truncated"
    return B


def notice_vectors():
    """A 68-byte LOGIN and the 28-byte header echo of table A-2 (bit 0x01, overflow)."""
    login = good("login68", "", LOGIN, SERIAL, 21, SEC_SUPPORTS,
                 dict(software_version=b"V1.0.3", config_crc32=0x12345678),
                 [(0x0011, u32(30))], dkey=up_key())
    orig = bytes.fromhex(login["hex"])
    assert len(orig) == 68
    echo = bytearray(orig[:HEADER_SIZE])
    echo[26] |= SEC_OVERFLOW
    return [{"name": "login68_overflow_echo",
             "section": "appendix A table A-2 bit 8 (memory overflow notice: header echo); INTEROP 4",
             "hex": bytes(echo).hex(), "original_hex": orig.hex(), "command": LOGIN, "seq": 21,
             "security": echo[26], "total_length": 68, "serial": SERIAL.hex()}]


# -- output -----------------------------------------------------------------------------

def _doc(text):
    return "WMMP-T shared test vectors, " + text + "; generated by host_tests/vectors_build.py " \
        "(independent of lib/wmmp) - do not edit by hand."


# MicroPython heap budget per portable test (bytes).  The WebAssembly port collects
# only between tests, so everything one test allocates must fit next to the
# resident layer in the 64 KiB pool; good vectors are packed into files whose
# estimated test cost stays under this budget (figures measured with mp_runner).
TEST_BUDGET = 13500


def _cost(v):
    """Estimated MicroPython allocation of the full check of one good vector (JSON
    load, decode + compare, decode with a wrong password [and timestamp], re-encode,
    extras), fitted to the ALLOC figures of host_tests/portable/mp_runner.py."""
    n = len(v["hex"]) // 2
    j = len(json.dumps(v, sort_keys=True, indent=1))
    c = j * 3 // 2 + 1800 + 24 * n
    if v["digest"] is not None:
        c += 2000 + 12 * n
        if v["command"] in (LOGIN, LOGIN | ACK, REGISTER, REGISTER | ACK, CONFIG_TRAP,
                            CONFIG_TRAP | ACK):
            c += 2000 + 12 * n
    if v["command"] in (TRANSPARENT_DATA, FILE_REQ | ACK):
        c += 2500 + 12 * n
    return c


def pack(vectors, prefix):
    """First-fit decreasing into files of at most TEST_BUDGET estimated cost; each
    file keeps the vectors in their original order."""
    bins = []   # [cost, [index, ...]]
    order = sorted(range(len(vectors)), key=lambda i: (-_cost(vectors[i]), i))
    for i in order:
        c = _cost(vectors[i])
        for b in bins:
            if b[0] + c <= TEST_BUDGET:
                b[0] += c
                b[1].append(i)
                break
        else:
            bins.append([c, [i]])
    bins.sort(key=lambda b: min(b[1]))
    return dict(("%s_%02d.json" % (prefix, k + 1), [vectors[i] for i in sorted(b[1])])
                for k, b in enumerate(bins))


def build():
    """{file name: JSON text}."""
    self_check()
    plain = plain_vectors()
    cmds = set(v["command"] for v in plain)
    assert cmds == set(ALL_COMMANDS), sorted(set(ALL_COMMANDS) - cmds)
    crypto = crypto_vectors()
    for v in plain + crypto:
        assert v["security"] & SEC_DIGEST or v["digest"] is None
    good_files = pack(plain, "good")
    files = {}
    for name, vs in good_files.items():
        files[name] = {"about": _doc("good messages, part of the set listed in messages.json"),
                       "good": vs}
    files["crypto.json"] = {"about": _doc("E040 session-key wrap, E042 full and E043 partial "
                                          "encryption"),
                            "good": crypto}
    files["big.json"] = {"about": _doc("1024-byte user data"), "good": [big_transparent()]}
    files["subpackets.json"] = {"about": _doc("SMS sub-packet split (0x4008)"),
                                "subpackets": [sms_split()]}
    e044 = e044_split()
    content = dict((k, e044.pop(k)) for k in ("content_hex", "fields", "tlvs"))
    content.update(name=e044["name"], command=e044["command"], bearer=e044["bearer"])
    e044["content_file"] = "e044_content.json"
    files["e044.json"] = {"about": _doc("encrypted sub-packet split (E044, 3DES); the "
                                        "plain content is in e044_content.json"),
                          "subpackets": [e044]}
    files["e044_content.json"] = {"about": _doc("plain content of the E044 split in e044.json"),
                                  "content": content}
    bad = bad_vectors()
    files["bad.json"] = {"about": _doc("malformed framing and the error each must raise"),
                         "bad": bad[:5]}
    files["bad_body.json"] = {"about": _doc("malformed bodies and the error each must raise"),
                              "bad": bad[5:]}
    files["notices.json"] = {"about": _doc("header-echo notices (table A-2)"),
                             "notices": notice_vectors()}
    index = {}
    for name in sorted(files):
        for part in ("good", "subpackets"):
            if part in files[name]:
                index[name] = [[v["name"], v["command"]] for v in files[name][part]]
    files["messages.json"] = {
        "about": _doc("index: every vector file and the (name, command) of each good or "
                      "sub-packet vector in it, and the files of bad vectors and notices"),
        "files": index, "bad": ["bad.json", "bad_body.json"],
        "notices": ["notices.json"]}
    return dict((n, json.dumps(o, sort_keys=True, indent=1) + "\n") for n, o in files.items())


def main(argv):
    check = "--check" in argv
    out_dir = OUT_DIR
    if "--dir" in argv:
        out_dir = argv[argv.index("--dir") + 1]
    files = build()
    if check:
        stale = []
        for name, text in sorted(files.items()):
            path = os.path.join(out_dir, name)
            try:
                with open(path) as f:
                    on_disk = f.read()
            except OSError:
                on_disk = None
            if on_disk != text:
                stale.append(name)
        if os.path.isdir(out_dir):
            stale += sorted(n for n in os.listdir(out_dir) if n.endswith(".json") and n not in files)
        if stale:
            print("vectors out of date: %s (run python host_tests/vectors_build.py)"
                  % ", ".join(stale))
            return 1
        print("vectors up to date (%d files)" % len(files))
        return 0
    os.makedirs(out_dir, exist_ok=True)
    for name in os.listdir(out_dir):
        if name.endswith(".json") and name not in files:
            os.remove(os.path.join(out_dir, name))
            print("removed stale %s" % name)
    for name, text in sorted(files.items()):
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(text)
        print("wrote %s (%d bytes)" % (os.path.join(out_dir, name), len(text)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
