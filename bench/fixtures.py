"""The fixed message set of `make bench`, built the same way on CPython
and MicroPython.  Each entry: (name, encode_fn, decode_fn, wire_size).

encode_fn() builds the wire bytes (encode + digest, encryption, sub-packets);
decode_fn(wire) decodes, verifies the digest and decrypts; decode_only_fn(wire)
parses without digest check, to separate the two costs.
"""
import struct

from wmmp.wire import codec, commands as C, digest as D, subpacket as S
from wmmp.crypto import cipher as CI
from wmmp.wire.profile import DEFAULT, BEARER_PACKET

UP = D.DigestKey("860000000000001", "460001234567890", "Up123456", 0)
SESSION = D.DigestKey("860000000000001", "460001234567890", "Up123456", 1700000000)
DOWN = D.DigestKey("860000000000001", "460001234567890", "Dn654321", 1700000000)
TDES = (CI.ALG_3DES, b"Sess1onKey3DES16")
SERIAL = b"M2MMAKER00000001"


def _login():
    return codec.Message(C.LOGIN, {"software_version": b"V1.0.0", "config_crc32": 0x1234ABCD},
                         [(0x0011, struct.pack(">I", 30)), (0x3006, b"\x12\x34\x56\x78"),
                          (0x3007, b"\x40"), (0xE03A, bytes(16))], serial=SERIAL, seq=1)


def _heartbeat():
    return codec.Message(C.HEART_BEAT, tlvs=[(0x3005, struct.pack(">I", 1)), (0x3007, b"\x50")],
                         serial=SERIAL, seq=2)


def _transparent():
    return codec.Message(C.TRANSPARENT_DATA, tlvs=[(0x4014, b"EC000001"), (0x4007, bytes(range(256)) * 4)],
                         serial=SERIAL, seq=3)


def _trap20():
    tl = [(0x2008 + i % 7, struct.pack(">I", i * 1000)) for i in range(17)]
    tl += [(0x300B, b"\x01"), (0x300C, b"\x01"), (0x300D, b"\x00\x03\x00\x0e")]
    return codec.Message(C.CONFIG_TRAP, tlvs=tl, serial=SERIAL, seq=4)


def _file_ack():
    m = codec.Message(C.FILE_REQ_ACK, {"trans_id": 0x1AFBDC01, "status": 0, "read_point": 4096,
                                       "block": bytes(range(256)) * 4}, serial=SERIAL, seq=5)
    m.encryption = codec.ENC_FULL
    return m


def _plain(builder, key):
    def enc():
        return [codec.encode(builder(), key=key)]

    def dec(wires):
        m = codec.decode(wires[0], key=key)
        if key is not None and not m.digest_ok:
            raise AssertionError("digest")
        return m

    def dec_only(wires):
        return codec.decode(wires[0])
    return enc, dec, dec_only


def _split_encrypted():
    # 13 + 1024 bytes of content encrypt to 1040 bytes: more than one E042 TLV may
    # carry on a packet bearer (1024, appendix E a), so it goes as 2 E044 sub-packets.
    def enc():
        sp = S.Splitter(_file_ack(), 0x0102, DEFAULT, BEARER_PACKET, digest=True, cipher=TDES)
        return [codec.encode(sp.message(i, 10 + i), key=DOWN) for i in range(1, sp.total + 1)]

    def dec(wires):
        r = None
        for w in wires:
            m = codec.decode(w, key=DOWN)
            if not m.digest_ok:
                raise AssertionError("digest")
            if r is None:
                r = S.Reassembler(m.command, m.subpacket)
            else:
                r.add(m.subpacket)
        return r.message(cipher=TDES)

    def dec_only(wires):
        r = None
        for w in wires:
            m = codec.decode(w)
            if r is None:
                r = S.Reassembler(m.command, m.subpacket)
            else:
                r.add(m.subpacket)
        return r.message(cipher=TDES)
    return enc, dec, dec_only


def cases():
    out = []
    for name, builder, key in (("LOGIN+digest", _login, UP), ("HEART_BEAT", _heartbeat, None),
                               ("TRANSPARENT_DATA 1024B+digest", _transparent, SESSION),
                               ("CONFIG_TRAP 20 TLVs+digest", _trap20, SESSION)):
        e, d, o = _plain(builder, key)
        out.append((name, e, d, o))
    e, d, o = _split_encrypted()
    out.append(("FILE_REQ_ACK 1024B 3DES (2 sub-packets)+digest", e, d, o))
    return out
