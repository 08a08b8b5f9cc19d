"""TLV layer (appendix E a; PROTOCOL.md 1).  Portable."""
from wmmp.wire import tlv as T
from wmmp.errors import Truncated, TooLongForBearer


def test_encode_is_tag_length_value_big_endian():
    assert T.encode(0x0011, b"\x00\x00\x00\x1e") == b"\x00\x11\x00\x04\x00\x00\x00\x1e"
    assert T.encode(0x4011) == b"\x40\x11\x00\x00"   # 0x4011 carries no value


def test_decode_all_and_find():
    raw = T.encode(0x3007, b"\x50") + T.encode(0x0002, b"cmnet") + T.encode(0x0025, b"")
    tl = T.decode(raw)
    assert tl == [(0x3007, b"\x50"), (0x0002, b"cmnet"), (0x0025, b"")]
    assert T.find(tl, 0x0002) == b"cmnet" and T.find(tl, 0x9999) is None
    assert T.encode_all(tl) == raw
    assert T.encoded_size(tl) == len(raw)


def test_truncated_header_and_value():
    for bad in (b"\x00", b"\x00\x11\x00", b"\x00\x11\x00\x04\x00\x00\x00"):
        try:
            T.decode(bad)
            assert False, bad
        except Truncated:
            pass


def test_bearer_value_limits():
    # Appendix E a: value at most 100 bytes on SMS, 1024 on packet bearers.
    ok = T.encode(0x4007, bytes(100))
    assert T.decode(ok, limit=100)[0][1] == bytes(100)
    try:
        T.decode(T.encode(0x4007, bytes(101)), limit=100)
        assert False
    except TooLongForBearer:
        pass
    assert len(T.decode(T.encode(0x4007, bytes(1024)), limit=1024)[0][1]) == 1024
    try:
        T.decode(T.encode(0x4007, bytes(1025)), limit=1024)
        assert False
    except TooLongForBearer:
        pass


def test_decode_window():
    raw = b"XX" + T.encode(1, b"a") + b"YY"
    assert T.decode(raw, 2, len(raw) - 2) == [(1, b"a")]
