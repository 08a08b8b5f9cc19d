"""Shared known-answer vectors against lib/wmmp (portable: CPython pytest and
MicroPython with a 64 KiB heap).

The vectors in vectors/*.json come from host_tests/vectors_build.py, a second
implementation of INTEROP.md 1-8 built on struct, hashlib, binascii and
pycryptodome that never imports wmmp.  Each file is loaded alone and dropped
after use so the MicroPython heap holds one file at a time.
"""

import binascii
import gc
import json

from wmmp import codec
from wmmp import digest
from wmmp import errors
from wmmp import profile as P

if "/" in __file__:
    _DIR = __file__.rsplit("/", 1)[0] + "/vectors/"
else:
    _DIR = "vectors/"

_unhex = binascii.unhexlify
_ENC = {"none": codec.ENC_NONE, "full": codec.ENC_FULL, "partial": codec.ENC_PARTIAL}
_NO_SESSION_TS = (0x0001, 0x8001, 0x0008, 0x8008)   # INTEROP 3: own timestamp rule


def _load(name, part):
    gc.collect()
    with open(_DIR + name) as f:
        data = json.load(f)[part]
    gc.collect()
    return data


def _key(d, password=None, timestamp=None):
    if d is None:
        return None
    return digest.DigestKey(d["imei"], d["imsi"], password or d["password"],
                            d["timestamp"] if timestamp is None else timestamp)


def _cipher(c):
    return None if c is None else (c["alg"], c["key"].encode())


def _fields(vf):
    out = {}
    for k in vf:
        if k.endswith("_hex"):
            out[k[:-4]] = _unhex(vf[k])
        else:
            out[k] = vf[k]
    return out


def _tlvs(vt):
    return [(t, _unhex(h)) for t, h in vt]


def _bearer(v):
    return v.get("bearer", P.BEARER_PACKET)


def _decode(v, key=None, cipher=None):
    return codec.decode(_unhex(v["hex"]), P.DEFAULT, _bearer(v), key=key, cipher=cipher)


def _check_message(v, msg):
    """Header (appendix A table A-1), fixed part (appendix G), TLVs and security state."""
    n = v["name"]
    data = _unhex(v["hex"])
    assert msg.command == v["command"], n
    assert bytes(msg.serial) == _unhex(v["serial"]), n
    assert msg.version == 0x0300, n                     # INTEROP 1 profile default
    assert msg.seq == v["seq"], n
    assert msg.security == v["security"], n
    assert msg.total_length == len(data), n
    assert msg.fields == _fields(v["fields"]), (n, msg.fields)
    assert msg.tlvs == _tlvs(v["tlvs"]), (n, msg.tlvs)
    assert msg.encryption == _ENC[v["encryption"]], n
    assert list(msg.encrypt_tags) == v["encrypt_tags"], n
    assert msg.subpacket is None and not msg.notice, n


def _decode_good(vectors):
    """Decode with the right key and cipher: everything matches, digest_ok True
    (INTEROP 3), or no digest at all when the vector has none."""
    for v in vectors:
        msg = _decode(v, _key(v["digest"]), _cipher(v["cipher"]))
        _check_message(v, msg)
        if v["digest"] is None:
            assert msg.digest is None and msg.digest_ok is None, v["name"]
            assert not msg.security & 0x20, v["name"]
        else:
            assert msg.digest_ok is True, v["name"]
        del msg
        gc.collect()


def _wrong_key(vectors):
    """INTEROP 3: a wrong password always fails; a wrong session timestamp fails
    except for REGISTER(_ACK)/LOGIN (timestamp 0) and LOGIN_ACK (its own CURTIME)."""
    checked = 0
    for v in vectors:
        d = v["digest"]
        if d is None:
            continue
        pw = d["password"]
        bad = pw[:-1] + ("X" if pw[-1] != "X" else "Y")
        msg = _decode(v, _key(d, password=bad), _cipher(v["cipher"]))
        assert msg.digest_ok is False, v["name"]
        msg = _decode(v, _key(d, timestamp=d["timestamp"] ^ 0x5A5A), _cipher(v["cipher"]))
        assert msg.digest_ok is (v["command"] in _NO_SESSION_TS), v["name"]
        checked += 1
        gc.collect()
    return checked


def _reencode(vectors):
    """Encoding a Message built from the vector reproduces it byte for byte
    (INTEROP 1-5; CBC with a zero IV is deterministic)."""
    for v in vectors:
        m = codec.Message(v["command"], _fields(v["fields"]), _tlvs(v["tlvs"]),
                          serial=_unhex(v["serial"]), seq=v["seq"], security=v["security"])
        m.encryption = _ENC[v["encryption"]]
        m.encrypt_tags = tuple(v["encrypt_tags"])
        out = codec.encode(m, P.DEFAULT, _bearer(v), key=_key(v["digest"]),
                           cipher=_cipher(v["cipher"]))
        assert binascii.hexlify(out).decode() == v["hex"], v["name"]
        del m, out
        gc.collect()


# -- good messages without session encryption -----------------------------------

def test_messages_decode():
    """INTEROP 1-4, appendix A, G a-m: header, fixed part, TLVs, E021 of every command."""
    _decode_good(_load("messages.json", "good"))


def test_messages_wrong_key():
    """INTEROP 3 (password and timestamp rule of the E021 digest)."""
    assert _wrong_key(_load("messages.json", "good")) >= 20


def test_messages_reencode():
    """INTEROP 1-3: encode reproduces every vector exactly."""
    _reencode(_load("messages.json", "good"))


def test_messages_cover_all_28_commands():
    """Appendix D: every request ID and its ACK (ID | 0x8000) has a vector; CONFIG_REQ
    is 0x000A (INTEROP 1)."""
    ids = [1, 2, 3, 4, 5, 6, 7, 8, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F]
    want = set(ids + [i | 0x8000 for i in ids])
    got = set(v["command"] for v in _load("messages.json", "good"))
    assert len(want) == 28 and got == want, sorted(want ^ got)


def test_messages_crc16_auto():
    """INTEROP 7, appendix G j/l: the codec's CRC-16/CCITT-FALSE of the user data /
    file block equals the independent builder's, and encode fills it in when the
    caller leaves crc16 (and block_size) out."""
    from wmmp import crc
    seen = 0
    for v in _load("messages.json", "good"):
        f = _fields(v["fields"])
        if v["command"] == 0x0004:
            ud = [b for t, b in _tlvs(v["tlvs"]) if t == 0x4007][0]
            assert crc.crc16(ud) == f["crc16"], v["name"]
            del f["crc16"]
        elif v["command"] == 0x800D:
            assert crc.crc16(f["block"]) == f["crc16"], v["name"]
            del f["crc16"]
            del f["block_size"]
        else:
            continue
        m = codec.Message(v["command"], f, _tlvs(v["tlvs"]), serial=_unhex(v["serial"]),
                          seq=v["seq"], security=v["security"])
        out = codec.encode(m, key=_key(v["digest"]))
        assert binascii.hexlify(out).decode() == v["hex"], v["name"]
        seen += 1
    assert seen == 2


def test_register_op00_serial_unassigned():
    """Appendix G a / INTEROP 1: REGISTER op 0x00 leaves serial bytes 9..16 zero."""
    from wmmp import header as H
    v = [x for x in _load("messages.json", "good") if x["name"] == "register_op00_unassigned_serial"][0]
    msg = _decode(v)
    assert msg.fields["operation"] == 0 and H.serial_is_unassigned(msg.serial)
    assert bytes(msg.serial)[:8] == b"M2MT2024"


def test_security_digests_e026_e029_e03a():
    """INTEROP 8: E026 = MD5(TLV(E025)||TLV(E027)), E029 = MD5(TLV(E028)||TLV(E02A)),
    E03A = MD5(TLV(E036)||TLV(E038)) as sent in REGISTER op 0x03 (appendix G a)."""
    v = [x for x in _load("messages.json", "good") if x["name"] == "register_op03_preset_secrets"][0]
    s = v["security_digests"]
    t = dict(_tlvs(v["tlvs"]))
    assert digest.uplink_password_digest(s["up_password"], s["up_expiry"]) == t[0xE026]
    assert digest.downlink_password_digest(s["down_password"], s["down_expiry"]) == t[0xE029]
    assert digest.base_key_digest(s["base_key"], s["base_expiry"]) == t[0xE03A]


def test_login_ack_e040_unwraps():
    """INTEROP 5, appendix G b: E040 = Encrypt_base_key(TLV(E03B)||TLV(E03D)) with
    two-key 3DES, CBC, zero IV, PKCS#7."""
    from wmmp import cipher
    v = [x for x in _load("messages.json", "good") if x["name"] == "login_ack_00_session_key"][0]
    e = v["e040"]
    wrapped = dict(_tlvs(v["tlvs"]))[0xE040]
    plain = cipher.decrypt(e["alg"], e["key"].encode(), wrapped)
    assert plain == _unhex(e["plain_hex"])
    assert cipher.encrypt(e["alg"], e["key"].encode(), plain) == wrapped


# -- session encryption -------------------------------------------------------------

def test_crypto_decode():
    """Appendix A 3, INTEROP 5: E042 (AES-128, bit 0x10) and E043 (DES, decrypted TLVs
    spliced where E043 stood) decode to the vector's fields and TLVs."""
    _decode_good(_load("crypto.json", "good"))


def test_crypto_wrong_key():
    """INTEROP 3: the digest covers the ciphertext; a wrong password fails."""
    assert _wrong_key(_load("crypto.json", "good")) == 2


def test_crypto_reencode():
    """INTEROP 5: full and partial encryption reproduce the vectors exactly."""
    _reencode(_load("crypto.json", "good"))


def test_crypto_without_cipher():
    """INTEROP 3, 5: without the session key the digest still checks (it covers the
    content as sent); E042 stays as ciphertext, E043 stays in the TLV list."""
    for v in _load("crypto.json", "good"):
        msg = _decode(v, _key(v["digest"]))
        assert msg.digest_ok is True, v["name"]
        assert msg.encryption == _ENC[v["encryption"]], v["name"]
        if v["encryption"] == "full":
            assert msg.ciphertext is not None and msg.tlvs == [], v["name"]
            assert msg.security & 0x10
        else:
            tags = [t for t, _ in msg.tlvs]
            assert 0xE043 in tags, v["name"]
            for t in v["encrypt_tags"]:
                assert t not in tags, v["name"]


# -- 1024 bytes of user data ---------------------------------------------------------

def test_big_transparent_data():
    """Appendix G j, appendix E a: 1024 bytes of 0x4007 (the packet-bearer TLV limit)
    decode, check the digest and re-encode exactly; on SMS the same message is too long
    (INTEROP 9)."""
    vs = _load("big.json", "good")
    _decode_good(vs)
    _reencode(vs)
    try:
        codec.decode(_unhex(vs[0]["hex"]), P.DEFAULT, P.BEARER_SMS)
    except errors.TooLongForBearer:
        pass
    else:
        raise AssertionError("1102-byte message accepted on SMS")


# -- sub-packets -------------------------------------------------------------------------

def _check_split(s):
    """Appendix F, INTEROP 6: every sub-packet decodes (bit 0x10, own seq, own digest),
    the data in index order is the content, and the content decodes to the message."""
    key = _key(s["digest"])
    bearer = s["bearer"]
    joined = b""
    for i, p in enumerate(s["parts"]):
        data = _unhex(p["hex"])
        msg = codec.decode(data, P.DEFAULT, bearer, key=key)
        assert msg.command == s["command"] and msg.seq == p["seq"], (s["name"], i)
        assert msg.security == p["security"] and msg.security & 0x10, (s["name"], i)
        assert bytes(msg.serial) == _unhex(s["serial"])
        assert msg.digest_ok is True, (s["name"], i)
        sp = msg.subpacket
        assert sp is not None and sp.encrypted == (s["tag"] == 0xE044), (s["name"], i)
        assert (sp.trans_id, sp.total, sp.index, sp.op) == \
            (p["trans_id"], p["total"], p["index"], p["op"]), (s["name"], i)
        assert sp.index == i + 1 and sp.total == len(s["parts"])
        assert len(sp.data) == p["data_len"] and len(sp.data) <= s["chunk"]
        assert msg.fields == {} and msg.tlvs == []
        joined += sp.data
        # The same sub-packet encoded again (INTEROP 6).
        m = codec.Message(s["command"], serial=_unhex(s["serial"]), seq=p["seq"],
                          security=p["security"])
        m.subpacket = codec.Subpacket(sp.trans_id, sp.total, sp.index, sp.op, sp.data,
                                      sp.encrypted)
        out = codec.encode(m, P.DEFAULT, bearer, key=key)
        assert out == data, (s["name"], i)
        del msg, m, out, data
        gc.collect()
    c = _cipher(s["cipher"])
    if c is not None:
        from wmmp import cipher
        joined = cipher.decrypt(c[0], c[1], joined)
    content = _unhex(s["content_hex"])
    assert joined == content, s["name"]
    msg = codec.decode_content(s["command"], content, P.DEFAULT, bearer)
    assert msg.fields == _fields(s["fields"]), s["name"]
    assert msg.tlvs == _tlvs(s["tlvs"]), s["name"]


def test_subpackets_sms():
    """Appendix F b-d, INTEROP 6 and 9: a ~250-byte CONFIG_TRAP cut into 81-byte
    chunks (0x4008 value <= 100, message <= 140 with a digest), trans_id 0x1234."""
    s = _load("subpackets.json", "subpackets")[0]
    assert s["chunk"] == 81 and s["tag"] == 0x4008
    assert s["parts"][0]["trans_id"] == 0x1234
    for p in s["parts"]:
        assert len(p["hex"]) // 2 <= 140
    _check_split(s)


def test_subpackets_e044():
    """Appendix F (encrypted split), INTEROP 5, 6: 3DES-encrypted content cut into
    1017-byte chunks (E044 value 1024) carried in E044, decrypted after reassembly."""
    s = _load("e044.json", "subpackets")[0]
    assert s["chunk"] == 1017 and s["tag"] == 0xE044 and len(s["parts"]) == 2
    _check_split(s)


# -- bad input and notices ----------------------------------------------------------------

def test_bad_vectors():
    """INTEROP 1, 3, 4, 6, 9, appendix A, E a, G: each malformed message raises exactly
    the named WmmpError subclass, with .header set once the header was readable."""
    n = 0
    for v in _load("bad.json", "bad"):
        cls = getattr(errors, v["error"])
        data = _unhex(v["hex"])
        try:
            codec.decode(data, P.DEFAULT, _bearer(v))
        except errors.WmmpError as e:
            assert type(e) is cls, (v["name"], type(e).__name__, v["error"])
            total = (data[0] << 8 | data[1]) if len(data) >= 2 else 0
            if len(data) >= 28 and total >= 28:
                assert e.header is not None and e.header.command == (data[20] << 8 | data[21]), \
                    v["name"]
        else:
            raise AssertionError("%s decoded without error" % v["name"])
        n += 1
    assert n >= 15


def test_notice_header_echo():
    """Appendix A table A-2 bit 8, INTEROP 4: the 28-byte echo of a 68-byte LOGIN with
    bit 0x01 set is accepted as a notice, and encode_notice builds it."""
    for v in _load("bad.json", "notices"):
        data = _unhex(v["hex"])
        msg = codec.decode(data)
        assert msg.notice is True, v["name"]
        assert msg.command == v["command"] and msg.seq == v["seq"], v["name"]
        assert msg.security == v["security"] and msg.security & 0x01, v["name"]
        assert msg.total_length == v["total_length"], v["name"]
        assert bytes(msg.serial) == _unhex(v["serial"]), v["name"]
        orig = _unhex(v["original_hex"])
        assert len(orig) == v["total_length"]
        assert codec.encode_notice(orig[:28], 0x01) == data, v["name"]
