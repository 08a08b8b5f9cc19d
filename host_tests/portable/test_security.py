"""Session keys (E040), full (E042) and partial (E043) encryption, and the
key-info / SIM digests (PROTOCOL.md 5, 8; appendix A table A-3; appendix E g).
Portable.  Cipher primitives are checked against FIPS/NIST vectors in
test_crypto_kat; here the wire rules are checked."""
import struct

from wmmp.wire import codec, commands as C, digest as D, keys, tlv as T
from wmmp.crypto import cipher as CI
from wmmp.crypto.md5 import md5
from wmmp.errors import BadValue, DecryptError, DigestMismatch, Unsupported

IMEI = "860000000000001"
IMSI = "460001234567890"
BASE = b"BaseKey3DES12345"          # 3DES two-key: K1||K2, K3 = K1 (PROTOCOL.md 5)
SESSION = b"Sess1onKeyAES128"       # AES-128


def test_e040_wrap_unwrap_round_trip():
    # PROTOCOL.md 5: E040 = Encrypt_base_key(TLV(E03B) || TLV(E03D)).
    e040 = keys.wrap(CI.ALG_3DES, BASE, SESSION, 1700003600)
    plain = CI.decrypt(CI.ALG_3DES, BASE, e040)
    assert plain == T.encode(0xE03B, SESSION) + T.encode(0xE03D, struct.pack(">I", 1700003600))
    sk = keys.unwrap(CI.ALG_3DES, BASE, e040, session_alg=CI.ALG_AES)
    assert sk.key == SESSION and sk.valid_until == 1700003600 and sk.alg == CI.ALG_AES
    assert not sk.expired(1700003599) and sk.expired(1700003600)
    assert "Sess1on" not in repr(sk)      # key never in repr


def test_e040_wrong_base_key_or_garbage():
    e040 = keys.wrap(CI.ALG_3DES, BASE, SESSION, 1)
    for bad_key in (b"BaseKey3DES12346", b"XaseKey3DES12345"):
        try:
            keys.unwrap(CI.ALG_3DES, bad_key, e040)
            assert False, "wrong base key accepted"
        except (DecryptError, BadValue) as e:
            assert e is not None
    junk = CI.encrypt(CI.ALG_3DES, BASE, T.encode(0xE03B, SESSION))   # no E03D
    try:
        keys.unwrap(CI.ALG_3DES, BASE, junk)
        assert False
    except Exception as e:
        assert type(e).__name__ == "BadTlv"


def test_key_info_digests():
    # PROTOCOL.md 8: E026 = MD5(TLV(E025)||TLV(E027)), E029 likewise with E028/E02A,
    # E03A = MD5(TLV(E036)||TLV(E038)), E03F = MD5(TLV(E03B)||TLV(E03D)).
    v = struct.pack(">I", 1735689600)
    assert D.uplink_password_digest("Up123456", 1735689600) == md5(
        b"\xe0\x25\x00\x08Up123456" + b"\xe0\x27\x00\x04" + v)
    assert D.downlink_password_digest("Dn654321", 1735689600) == md5(
        b"\xe0\x28\x00\x08Dn654321" + b"\xe0\x2a\x00\x04" + v)
    assert D.base_key_digest(BASE, 1735689600) == md5(b"\xe0\x36\x00\x10" + BASE + b"\xe0\x38\x00\x04" + v)
    assert D.session_key_digest(SESSION, 1735689600) == md5(
        b"\xe0\x3b\x00\x10" + SESSION + b"\xe0\x3d\x00\x04" + v)


def test_sim_digests():
    # Appendix E g E002/E016: MD5(serial + IMEI + IMSI [+ PIN]); PROTOCOL.md 8.
    serial = b"M2MMAKER00000001"
    ids = serial + IMEI.encode() + b"\x00" + IMSI.encode()
    assert D.sim_digest(serial, IMEI, IMSI, "1234") == md5(ids + b"1234")
    assert D.binding_digest(serial, IMEI, IMSI) == md5(ids)


def test_full_encryption_e042():
    # Appendix A table A-3 / PROTOCOL.md 5: the whole content (fixed part + TLVs) goes
    # in one E042, bit 0x10 set, digest over the ciphertext as sent.
    ck = (CI.ALG_AES, SESSION)
    key = D.DigestKey(IMEI, IMSI, "Up123456", 1700000000)
    m = codec.Message(C.TRANSPARENT_DATA, tlvs=[(0x4014, b"EC001"), (0x4007, b"meter=42")], seq=3)
    m.encryption = codec.ENC_FULL
    raw = codec.encode(m, key=key, cipher=ck)
    assert raw[26] & 0x30 == 0x30
    assert struct.unpack(">H", raw[28:30])[0] == 0xE042
    inner = CI.decrypt(CI.ALG_AES, SESSION, raw[32:-20])
    assert inner == codec.encode_content(codec.Message(C.TRANSPARENT_DATA, tlvs=m.tlvs))
    d = codec.decode(raw, key=key, cipher=ck)
    assert d.digest_ok and d.encryption == codec.ENC_FULL and d.tlvs == m.tlvs
    assert d.fields["crc16"] == m.fields["crc16"]
    blind = codec.decode(raw)                 # no key: ciphertext kept, nothing parsed
    assert blind.ciphertext is not None and blind.fields == {} and blind.tlvs == []


def test_partial_encryption_e043():
    # PROTOCOL.md 5: the chosen TLVs become one E043 at the place of the first; the
    # fixed part stays in clear.  Appendix B 6 (2): SECURITY_CONFIG with E001 in E043.
    ck = (CI.ALG_DES, b"DesKey01")
    m = codec.Message(C.SECURITY_CONFIG, {"operation": 0},
                      tlvs=[(0xE001, b"12345678"), (0xE003, b"\x01"), (0x3007, b"\x10")])
    m.encryption = codec.ENC_PARTIAL
    m.encrypt_tags = (0xE001, 0xE003)
    raw = codec.encode(m, cipher=ck)
    assert raw[28] == 0 and raw[26] & 0x10 == 0
    on_wire = T.decode(raw, 29)
    assert [t for t, _ in on_wire] == [0xE043, 0x3007]
    assert CI.decrypt(CI.ALG_DES, b"DesKey01", on_wire[0][1]) == T.encode(0xE001, b"12345678") + T.encode(0xE003, b"\x01")
    d = codec.decode(raw, cipher=ck)
    assert d.tlvs == m.tlvs and d.encryption == codec.ENC_PARTIAL and d.encrypt_tags == (0xE001, 0xE003)
    assert codec.encode(d, cipher=ck) == raw


def test_decrypt_failure_and_tamper():
    # PROTOCOL.md 5: a decryption failure is reported (bit 0x02 next / ACK code);
    # PROTOCOL.md 3: a tampered message reports the digest failure first.
    ck = (CI.ALG_3DES, BASE)
    key = D.DigestKey(IMEI, IMSI, "Up123456", 5)
    m = codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x10")])
    m.encryption = codec.ENC_FULL
    raw = codec.encode(m, key=key, cipher=ck)
    try:
        codec.decode(raw, cipher=(CI.ALG_3DES, b"OtherKey3DES1234"))
        assert False
    except DecryptError as e:
        assert e.header.command == C.CONFIG_TRAP
    bad = bytearray(raw)
    bad[-21] ^= 0xFF          # last ciphertext byte: padding breaks, digest breaks
    try:
        codec.decode(bytes(bad), key=key, cipher=ck)
        assert False
    except DigestMismatch:
        pass


def test_encryption_needs_a_key_and_rsa_unsupported():
    m = codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x10")])
    m.encryption = codec.ENC_FULL
    try:
        codec.encode(m)
        assert False
    except BadValue:
        pass
    try:
        CI.alg_from_key_alg(3)
        assert False
    except Unsupported:
        pass
