"""Shared known-answer vectors (vectors/*.json, built by host_tests/vectors_build.py
independently of wmmp) against lib/wmmp; portable: CPython and MicroPython."""

# vectors/messages.json indexes the files.  Each test loads one small file and drops
# it: the WebAssembly MicroPython port collects garbage only between tests, so all
# a test allocates must fit next to the layer in the 64 KiB heap.  Comments rather
# than docstrings below: a docstring costs RAM while the module compiles.

import binascii
import gc
import json

# wmmp modules are bound on first use by _load() (every test starts with it), so
# that importing this module only compiles it: with no collection inside one call,
# importing the layer and compiling this file in the same step would not fit.
codec = digest = errors = P = None

if "/" in __file__:
    _DIR = __file__.rsplit("/", 1)[0] + "/vectors/"
else:
    _DIR = "vectors/"

_unhex = binascii.unhexlify
# PROTOCOL.md 3: these four do not use the session timestamp (0, or LOGIN_ACK's CURTIME).
_OWN_TS = (0x0001, 0x8001, 0x0008, 0x8008)
# Commands whose vectors are also decoded with a wrong session timestamp: the four
# above (still valid) and the CONFIG_TRAP pair that follows login (invalid), G b.
_TS_PROBE = _OWN_TS + (0x0007, 0x8007)


def _imports():
    global codec, digest, errors, P
    if codec is None:
        from wmmp.wire import codec, digest
        from wmmp import errors
        from wmmp.wire import profile as P


def _enc(name):
    # "none" / "full" / "partial" -> codec.ENC_NONE / ENC_FULL / ENC_PARTIAL
    return getattr(codec, "ENC_" + name.upper())


def _load(name, part):
    _imports()
    gc.collect()
    with open(_DIR + name) as f:
        data = json.load(f)[part]
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


def _check_message(v, msg, n):
    # Header (appendix A table A-1), fixed part (appendix G), TLVs, security state.
    name = v["name"]
    assert msg.command == v["command"], name
    assert bytes(msg.serial) == _unhex(v["serial"]), name
    assert msg.version == 0x0300, name                  # PROTOCOL.md 1 profile default
    assert msg.seq == v["seq"], name
    assert msg.security == v["security"], name
    assert msg.total_length == n, name
    assert msg.fields == _fields(v["fields"]), (name, msg.fields)
    assert msg.tlvs == _tlvs(v["tlvs"]), (name, msg.tlvs)
    assert msg.encryption == _enc(v["encryption"]), name
    assert list(msg.encrypt_tags) == v["encrypt_tags"], name
    assert msg.subpacket is None and not msg.notice, name


def _decode_ok(v, data, key):
    # Decode with the right key and session cipher: every field matches and
    # digest_ok is True (PROTOCOL.md 3), or there is no digest at all.
    msg = codec.decode(data, P.DEFAULT, _bearer(v), key=key, cipher=_cipher(v["cipher"]))
    _check_message(v, msg, len(data))
    if key is None:
        assert msg.digest is None and msg.digest_ok is None, v["name"]
        assert not msg.security & 0x20, v["name"]
    else:
        assert msg.digest_ok is True, v["name"]


def _wrong_key(v, data):
    # PROTOCOL.md 3: a wrong password fails; a wrong session timestamp fails except for
    # REGISTER(_ACK) and LOGIN (timestamp 0) and LOGIN_ACK (its own CURTIME).
    d = v["digest"]
    if d is None:
        return
    pw = d["password"]
    bad = pw[:-1] + ("X" if pw[-1] != "X" else "Y")
    c = _cipher(v["cipher"])
    msg = codec.decode(data, P.DEFAULT, _bearer(v), key=_key(d, password=bad), cipher=c)
    assert msg.digest_ok is False, v["name"]
    if v["command"] in _TS_PROBE:
        k = _key(d, timestamp=d["timestamp"] ^ 0x5A5A)
        msg = codec.decode(data, P.DEFAULT, _bearer(v), key=k, cipher=c)
        assert msg.digest_ok is (v["command"] in _OWN_TS), v["name"]


def _reencode(v, data, key):
    # Encoding a Message built from the vector reproduces it byte for byte
    # (PROTOCOL.md 1-5; CBC with a zero IV is deterministic).
    m = codec.Message(v["command"], _fields(v["fields"]), _tlvs(v["tlvs"]),
                      serial=_unhex(v["serial"]), seq=v["seq"], security=v["security"])
    m.encryption = _enc(v["encryption"])
    m.encrypt_tags = tuple(v["encrypt_tags"])
    out = codec.encode(m, P.DEFAULT, _bearer(v), key=key, cipher=_cipher(v["cipher"]))
    assert out == data, v["name"]


def _good(v, what="dwe"):
    # d: decode and compare, w: wrong keys, e: re-encode, x: per-command extras.
    data = _unhex(v["hex"])
    key = _key(v["digest"])
    if "d" in what:
        _decode_ok(v, data, key)
    if "w" in what:
        _wrong_key(v, data)
    if "e" in what:
        _reencode(v, data, key)
    if "x" in what:
        _extras(v, data, key)


def _extras(v, data, key):
    # Per-command rules checked where a vector exercises them.
    cmd = v["command"]
    if cmd in (0x0004, 0x800D):
        # PROTOCOL.md 7, appendix G j/l: the codec's CRC-16/CCITT-FALSE equals the
        # builder's, and encode derives crc16 (and block_size) when left out.
        from wmmp.wire import crc
        f = _fields(v["fields"])
        if cmd == 0x0004:
            checked = [b for t, b in _tlvs(v["tlvs"]) if t == 0x4007][0]
        else:
            checked = f["block"]
            del f["block_size"]
        assert crc.crc16(checked) == f["crc16"], v["name"]
        del f["crc16"]
        m = codec.Message(cmd, f, _tlvs(v["tlvs"]), serial=_unhex(v["serial"]), seq=v["seq"],
                          security=v["security"])
        assert codec.encode(m, key=key) == data, v["name"]
    elif cmd == 0x0008 and v["fields"]["operation"] == 0:
        # Appendix G a, PROTOCOL.md 1: operation 0x00 leaves serial bytes 9..16 zero.
        from wmmp.wire import header
        s = _unhex(v["serial"])
        assert header.serial_is_unassigned(s) and s[:8] != bytes(8), v["name"]
    if "security_digests" in v:
        # PROTOCOL.md 8: E026 = MD5(TLV(E025)||TLV(E027)), E029 = MD5(TLV(E028)||TLV(E02A)),
        # E03A = MD5(TLV(E036)||TLV(E038)), as REGISTER operation 0x03 sends them.
        s = v["security_digests"]
        t = dict(_tlvs(v["tlvs"]))
        assert digest.uplink_password_digest(s["up_password"], s["up_expiry"]) == t[0xE026]
        assert digest.downlink_password_digest(s["down_password"], s["down_expiry"]) == t[0xE029]
        assert digest.base_key_digest(s["base_key"], s["base_expiry"]) == t[0xE03A]


def _good_file(name):
    # Every vector of one good_NN.json: decode, wrong keys, re-encode, extras.
    for v in _load(name, "good"):
        _good(v, "dwex")


def test_all_28_commands_known():
    # Appendix D, PROTOCOL.md 1: the codec knows the 14 request IDs (CONFIG_REQ is 0x000A)
    # and their ACKs (ID | 0x8000), and no other ID in the range.  Runs first (name
    # order) and light, as it pays for importing the layer.
    _imports()
    from wmmp.wire import commands
    ids = (1, 2, 3, 4, 5, 6, 7, 8, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F)
    for c in range(0x12):
        assert commands.is_known(c) == (c in ids), c
        assert commands.is_known(c | 0x8000) == (c in ids), c


# -- index -----------------------------------------------------------------------------

_GOOD_FILES = 19   # good_01.json .. good_NN.json, one test each below


def test_index_covers_all_28_commands():
    # Appendix D: every request ID and its ACK (ID | 0x8000) has a good vector;
    # CONFIG_REQ is 0x000A (PROTOCOL.md 1).  The index lists exactly the files tested here.
    files = _load("messages.json", "files")
    goods = sorted(f for f in files if f.startswith("good_"))
    assert goods == ["good_%02d.json" % i for i in range(1, _GOOD_FILES + 1)], goods
    ids = [1, 2, 3, 4, 5, 6, 7, 8, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F]
    want = set(ids + [i | 0x8000 for i in ids])
    got = set(c for f in goods for _, c in files[f])
    assert len(want) == 28 and got == want, sorted(want ^ got)


# -- good messages without session encryption (PROTOCOL.md 1-4, 7, 8; appendix A, G a-m) --

def test_good_01():
    _good_file("good_01.json")


def test_good_02():
    _good_file("good_02.json")


def test_good_03():
    _good_file("good_03.json")


def test_good_04():
    _good_file("good_04.json")


def test_good_05():
    _good_file("good_05.json")


def test_good_06():
    _good_file("good_06.json")


def test_good_07():
    _good_file("good_07.json")


def test_good_08():
    _good_file("good_08.json")


def test_good_09():
    _good_file("good_09.json")


def test_good_10():
    _good_file("good_10.json")


def test_good_11():
    _good_file("good_11.json")


def test_good_12():
    _good_file("good_12.json")


def test_good_13():
    _good_file("good_13.json")


def test_good_14():
    _good_file("good_14.json")


def test_good_15():
    _good_file("good_15.json")


def test_good_16():
    _good_file("good_16.json")


def test_good_17():
    _good_file("good_17.json")


def test_good_18():
    _good_file("good_18.json")


def test_good_19():
    _good_file("good_19.json")


# -- 1024 bytes of user data (appendix G j, appendix E a) -------------------------------

def test_big_decode():
    # Appendix G j, E a: 1024 bytes of 0x4007 (the packet TLV limit) decode with a
    # valid digest.
    _good(_load("big.json", "good")[0], "d")


def test_big_wrong_key_and_sms():
    # PROTOCOL.md 3: wrong uplink password on the 1024-byte TRANSPARENT_DATA; PROTOCOL.md 9:
    # on SMS the same message is too long.
    v = _load("big.json", "good")[0]
    _good(v, "w")
    try:
        codec.decode(_unhex(v["hex"]), P.DEFAULT, P.BEARER_SMS)
    except errors.TooLongForBearer:
        pass
    else:
        raise AssertionError("1102-byte message accepted on SMS")


def test_big_reencode():
    # PROTOCOL.md 1-3, 7: the 1024-byte TRANSPARENT_DATA re-encodes exactly.
    _good(_load("big.json", "good")[0], "e")


# -- sub-packets (appendix F, PROTOCOL.md 6) -----------------------------------------------------

def _parts(s, reencode):
    # Decode every sub-packet (bit 0x10, own seq, own digest, PROTOCOL.md 6) and return
    # the data in index order; with reencode, build each carrier again instead.
    key = _key(s["digest"])
    joined = b""
    for i, p in enumerate(s["parts"]):
        data = _unhex(p["hex"])
        if reencode:
            m = codec.Message(s["command"], serial=_unhex(s["serial"]), seq=p["seq"],
                              security=p["security"])
            m.subpacket = codec.Subpacket(p["trans_id"], p["total"], p["index"], p["op"],
                                          data[-20 - p["data_len"]:-20], s["tag"] == 0xE044)
            assert codec.encode(m, P.DEFAULT, s["bearer"], key=key) == data, (s["name"], i)
            continue
        msg = codec.decode(data, P.DEFAULT, s["bearer"], key=key)
        assert msg.command == s["command"] and msg.seq == p["seq"], (s["name"], i)
        assert msg.security == p["security"] and msg.security & 0x10, (s["name"], i)
        assert bytes(msg.serial) == _unhex(s["serial"]), (s["name"], i)
        assert msg.digest_ok is True, (s["name"], i)
        sp = msg.subpacket
        assert sp is not None and sp.encrypted == (s["tag"] == 0xE044), (s["name"], i)
        assert (sp.trans_id, sp.total, sp.index, sp.op) == \
            (p["trans_id"], p["total"], p["index"], p["op"]), (s["name"], i)
        assert sp.index == i + 1 and sp.total == len(s["parts"]), (s["name"], i)
        assert len(sp.data) == p["data_len"] <= s["chunk"], (s["name"], i)
        assert msg.fields == {} and msg.tlvs == [], (s["name"], i)
        if "content_hex" in s:
            # Clear split: the data of part i is chunk i of the content (appendix F b).
            c = s["chunk"]
            assert sp.data == _unhex(s["content_hex"][2 * i * c:2 * (i + 1) * c]), (s["name"], i)
        else:
            joined += sp.data
    return joined


def _content(s, content):
    # Appendix F f: the reassembled content decodes to the original message.
    assert content == _unhex(s["content_hex"]), s["name"]
    msg = codec.decode_content(s["command"], content, P.DEFAULT, s["bearer"])
    assert msg.fields == _fields(s["fields"]), s["name"]
    assert msg.tlvs == _tlvs(s["tlvs"]), s["name"]


def test_subpackets_sms():
    # Appendix F b-d, PROTOCOL.md 6 and 9: a ~250-byte CONFIG_TRAP cut into 81-byte chunks
    # (0x4008 value <= 100 and message <= 140 with a digest), trans_id 0x1234, own
    # seqs; part i carries chunk i of the content.
    s = _load("subpackets.json", "subpackets")[0]
    assert s["chunk"] == 81 and s["tag"] == 0x4008 and s["bearer"] == P.BEARER_SMS
    seqs = [p["seq"] for p in s["parts"]]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    n = len(s["content_hex"]) // 2
    assert len(seqs) == (n + 80) // 81
    for p in s["parts"]:
        assert p["trans_id"] == 0x1234 and len(p["hex"]) // 2 <= 140
    _parts(s, False)


def test_subpackets_sms_content():
    # Appendix F f, PROTOCOL.md 6: the content the SMS parts carry decodes to the CONFIG_TRAP.
    s = _load("subpackets.json", "subpackets")[0]
    _content(s, _unhex(s["content_hex"]))


def test_subpackets_sms_reencode():
    # PROTOCOL.md 6: each SMS sub-packet carrier re-encodes byte for byte.
    _parts(_load("subpackets.json", "subpackets")[0], True)


# -- bad input and notices -----------------------------------------------------------------

def _bad_file(name):
    # Each malformed message raises exactly the named WmmpError subclass (errors.py),
    # with .header set once the header was readable (4.4.5 / E041 answers need it).
    n = 0
    for v in _load(name, "bad"):
        cls = getattr(errors, v["error"])
        data = _unhex(v["hex"])
        try:
            codec.decode(data, P.DEFAULT, _bearer(v))
        except errors.WmmpError as e:
            assert type(e) is cls, (v["name"], type(e).__name__, v["error"])
            total = (data[0] << 8 | data[1]) if len(data) >= 2 else 0
            if len(data) >= 28 and total >= 28:
                assert e.header is not None, v["name"]
                assert e.header.command == (data[20] << 8 | data[21]), v["name"]
        else:
            raise AssertionError("%s decoded without error" % v["name"])
        n += 1
    return n


def test_bad_framing():
    # Appendix A table A-1, PROTOCOL.md 1, appendix D: short header, total_length wrong
    # either way or below 28, unknown command 0x0009.
    assert _bad_file("bad.json") == 5


def test_bad_body():
    # Appendix E a, G b/l, PROTOCOL.md 3, 4, 6, 9: TLV past the end, short fixed part,
    # digest bit without E021, E021 not last, bit 0x10 with a plain TLV, short
    # sub-packet head, TLV value 101 and message 141 bytes on SMS, short FILE_BLOCK.
    assert _bad_file("bad_body.json") == 10


def test_notice_header_echo():
    # Appendix A table A-2 bit 8, PROTOCOL.md 4: the 28-byte echo of a 68-byte LOGIN with
    # bit 0x01 set is accepted as a notice, and encode_notice builds it.
    for v in _load("notices.json", "notices"):
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


# -- session and base keys (named test_with_* so they run last: the cipher tables stay
#    resident once built) ------------------------------------------------------------------

def _crypto(vname):
    return [v for v in _load("crypto.json", "good") if v["name"] == vname][0]


def _crypto_checks(v):
    _good(v)
    # Without the session key the digest still checks (it covers the content as
    # sent, PROTOCOL.md 3); E042 stays ciphertext, E043 stays in the TLV list.
    msg = codec.decode(_unhex(v["hex"]), key=_key(v["digest"]))
    assert msg.digest_ok is True and msg.encryption == _enc(v["encryption"]), v["name"]
    if v["encryption"] == "full":
        assert msg.ciphertext is not None and msg.tlvs == [] and msg.security & 0x10
    else:
        tags = [t for t, _ in msg.tlvs]
        assert 0xE043 in tags and not [t for t in v["encrypt_tags"] if t in tags], v["name"]


def test_with_session_key_full_aes():
    # Appendix A 3, PROTOCOL.md 5: CONFIG_TRAP fully encrypted with AES-128 (CBC, zero IV,
    # PKCS#7) in E042 with bit 0x10; digest over the ciphertext (PROTOCOL.md 3).
    _crypto_checks(_crypto("config_trap_full_aes128"))


def test_with_session_key_partial_des():
    # Appendix A 3, PROTOCOL.md 5: E001 and E004 encrypted with DES into one E043 at the
    # place of the first; decoded TLVs spliced where E043 stood.
    _crypto_checks(_crypto("security_config_00_partial_des"))


def test_with_base_key_e040():
    # Appendix G b, PROTOCOL.md 3, 5: LOGIN_ACK 0x00 (digest over its own CURTIME) with
    # E040 = Encrypt_base_key(TLV(E03B)||TLV(E03D)), two-key 3DES (K3 = K1), CBC,
    # zero IV, PKCS#7.
    from wmmp.crypto import cipher
    v = _crypto("login_ack_00_session_key")
    _good(v)
    e = v["e040"]
    wrapped = dict(_tlvs(v["tlvs"]))[0xE040]
    plain = cipher.decrypt(e["alg"], e["key"].encode(), wrapped)
    assert plain == _unhex(e["plain_hex"])
    assert cipher.encrypt(e["alg"], e["key"].encode(), plain) == wrapped


def test_with_3des_e044_split():
    # Appendix F (encrypted split), PROTOCOL.md 5, 6: 3DES-encrypted CONFIG_GET_ACK content
    # cut into 1017-byte chunks (E044 value 1024), decrypted after reassembly.
    from wmmp.crypto import cipher
    s = _load("e044.json", "subpackets")[0]
    assert s["chunk"] == 1017 and s["tag"] == 0xE044 and len(s["parts"]) == 2
    c = _cipher(s["cipher"])
    joined = cipher.decrypt(c[0], c[1], _parts(s, False))
    _content(_load(s["content_file"], "content"), joined)


def test_with_3des_e044_reencode():
    # PROTOCOL.md 6: each E044 carrier re-encodes byte for byte.
    _parts(_load("e044.json", "subpackets")[0], True)
