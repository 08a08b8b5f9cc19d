"""LwM2M TLV, content format 11542 (OMA LwM2M TS 1.1 section 7.4.3, TS 1.0
section 6.4.3; And-link spec section 3.6): the TS examples (Tables 7.4.3.2-1
to -3, section 7.4.3.3), the And-link examples of sections 6.5.4, 6.6.4 and
6.9.4, every integer/float size, 8/16-bit IDs, 8/16/24-bit lengths, and
malformed input.  Portable."""
from binascii import unhexlify

from andlink.lwm2m import tlv as T
from andlink.lwm2m.objects import obj, rflags
from andlink.lwm2m.objdefs import DEVICE, SERVER, ACCESS_CONTROL, LOCATION
from andlink.lwm2m.codes import (DecodeError, EncodeError, NotFound, R, RW, MULTI, STR, INT, LNK, T_STRING,
                                 T_INT, T_UINT, T_FLOAT, T_BOOL, T_OPAQUE, T_TIME, T_OBJLNK)

# TS 1.1 Table 7.4.3.2-1 (TS 1.0 6.4.3.1): Read /3/0 of the example Device
DEVICE_TLV = unhexlify(
    "C800144F70656E204D6F62696C6520416C6C69616E6365C801164C69676874776569676874204D324D20436C69656E74"
    "C80209333435303030313233C303312E30860641000141010588070842000ED842011388870841007D42010384C10964"
    "C10A0F830B410000C40D5182428FC60E2B30323A3030C11055")
DEVICE_VALUES = {0: "Open Mobile Alliance", 1: "Lightweight M2M Client", 2: "345000123", 3: "1.0",
                 6: {0: 1, 1: 5}, 7: {0: 3800, 1: 5000}, 8: {0: 125, 1: 900}, 9: 100, 10: 15, 11: {0: 0},
                 13: 1367491215, 14: "+02:00", 16: "U"}
# Table 7.4.3.2-2: Read /2, two Access Control instances (ACL instance 310 has a 16-bit ID)
ACL_TLV = unhexlify("08000EC10001C101008302417F07C1037F080212C10003C101008702417F0761013601C1037F")
# Table 7.4.3.2-3: Read /1, one Server instance
SERVER_TLV = unhexlify("08000FC10001C40100015180C10601C10755")
# TS 1.1 7.4.3.3: object links, in the TS's example objects 65 (single) and 66 (multiple)
OBJ65_TLV = unhexlify("88000C440000420000440100420001C8010D38363133383030373535353030C40212345678")
OBJ66_TLV = unhexlify("080026C8000B6D79536572766963652031C8010F496E7465726E65742E31352E323334C40200430000"
                      "080126C8000B6D79536572766963652032C8010F496E7465726E65742E31352E323335C402FFFFFFFF")
OBJ65 = obj(65, "Example 65", 0, ((0, "Links", R | LNK | MULTI), (1, "Number", R | STR), (2, "Id", R | INT)))
OBJ66 = obj(66, "Example 66", MULTI, ((0, "Name", RW | STR), (1, "Network", RW | STR), (2, "Link", RW | LNK)))
# And-link 6.5.4 (Read /6/0) and 6.9.4 (Observe /6/0): latitude/longitude as text
LOC_654 = unhexlify("c40032362e30c501313731 2e30c405 5a6e85f4".replace(" ", ""))
LOC_694 = unhexlify("c5002d31342e30c40137362e30c4055a6f193d")
# And-link 6.6.4: Write /3/0 current time and UTC offset
WRITE_664 = unhexlify("c40d5a6e960bc30e2b3037")


def _typeof(od):
    return lambda p: rflags(od, p[2])


def _records(od, iid, values):
    from andlink.lwm2m.codes import rtype
    return [((od[0], iid, rid), rtype(rflags(od, rid)), values[rid]) for rid in sorted(values)]


def _raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return
    assert False, (fn, args)


def test_device_example_encodes_and_decodes():
    recs = _records(DEVICE, 0, DEVICE_VALUES)
    assert T.encode(recs, 2) == DEVICE_TLV                        # Read /3/0: resources
    assert T.encode(recs, 1) == b"\x08\x00\x79" + DEVICE_TLV      # Read /3: one instance TLV, 121 bytes
    back = T.decode(DEVICE_TLV, (3, 0), _typeof(DEVICE))
    assert dict((p[2], v) for p, v in back) == DEVICE_VALUES
    assert [p for p, _ in back][0] == (3, 0, 0)
    # the same instance wrapped in its object instance TLV, written to /3/0 or /3
    assert T.decode(b"\x08\x00\x79" + DEVICE_TLV, (3, 0), _typeof(DEVICE)) == back
    assert T.decode(b"\x08\x00\x79" + DEVICE_TLV, (3,), _typeof(DEVICE)) == back


def test_access_control_and_server_examples():
    recs = T.decode(ACL_TLV, (2,), _typeof(ACCESS_CONTROL))
    assert recs == [((2, 0, 0), 1), ((2, 0, 1), 0), ((2, 0, 2), {127: 7}), ((2, 0, 3), 127),
                    ((2, 2, 0), 3), ((2, 2, 1), 0), ((2, 2, 2), {127: 7, 310: 1}), ((2, 2, 3), 127)]
    assert T.encode([(p, T_INT, v) for p, v in recs], 1) == ACL_TLV
    recs = T.decode(SERVER_TLV, (1,), _typeof(SERVER))
    assert recs == [((1, 0, 0), 1), ((1, 0, 1), 86400), ((1, 0, 6), True), ((1, 0, 7), "U")]
    from andlink.lwm2m.codes import rtype
    assert T.encode([(p, rtype(rflags(SERVER, p[2])), v) for p, v in recs], 1) == SERVER_TLV


def test_object_link_examples():
    recs = T.decode(OBJ65_TLV, (65, 0), _typeof(OBJ65))
    assert recs == [((65, 0, 0), {0: (66, 0), 1: (66, 1)}), ((65, 0, 1), "8613800755500"),
                    ((65, 0, 2), 0x12345678)]
    out = T.encode([(recs[0][0], T_OBJLNK, recs[0][1]), (recs[1][0], T_STRING, recs[1][1]),
                    (recs[2][0], T_INT, recs[2][1])], 2)
    assert out == OBJ65_TLV
    recs = T.decode(OBJ66_TLV, (66,), _typeof(OBJ66))
    assert recs[2] == ((66, 0, 2), (67, 0)) and recs[5] == ((66, 1, 2), (65535, 65535))
    assert recs[3] == ((66, 1, 0), "myService 2")


def test_andlink_location_and_write_examples():
    recs = T.decode(LOC_654, (6, 0), _typeof(LOCATION))
    assert recs == [((6, 0, 0), "26.0"), ((6, 0, 1), "171.0"), ((6, 0, 5), 0x5a6e85f4)]
    assert T.encode([(p, T_TIME if p[2] == 5 else T_STRING, v) for p, v in recs], 2) == LOC_654
    recs = T.decode(LOC_694, (6, 0), _typeof(LOCATION))
    assert recs == [((6, 0, 0), "-14.0"), ((6, 0, 1), "76.0"), ((6, 0, 5), 0x5a6f193d)]
    recs = T.decode(WRITE_664, (3, 0), _typeof(DEVICE))
    assert recs == [((3, 0, 13), 1517196811), ((3, 0, 14), "+07")]


def test_integer_sizes():
    for v, raw in ((0, "00"), (127, "7f"), (-128, "80"), (128, "0080"), (-129, "ff7f"), (32767, "7fff"),
                   (32768, "00008000"), (-32769, "ffff7fff"), (2147483647, "7fffffff"),
                   (2147483648, "0000000080000000"), (-(1 << 63), "8000000000000000"),
                   ((1 << 63) - 1, "7fffffffffffffff")):
        assert T.int_bytes(v) == unhexlify(raw), v
        assert T.value(unhexlify(raw), T_INT) == v and T.value(unhexlify(raw), T_TIME) == v
    assert T.int_bytes(255, True) == b"\xff" and T.int_bytes(65535, True) == b"\xff\xff"
    assert T.int_bytes((1 << 64) - 1, True) == b"\xff" * 8
    assert T.value(b"\xff" * 8, T_UINT) == (1 << 64) - 1
    _raises(EncodeError, T.int_bytes, 1 << 63)
    _raises(EncodeError, T.int_bytes, -1, True)
    _raises(EncodeError, T.int_bytes, 1 << 64, True)
    for bad in (b"", b"\x00\x00\x00", b"\x00" * 5, b"\x00" * 16):
        _raises(DecodeError, T.value, bad, T_INT)


def test_float_bool_opaque_objlnk_values():
    assert T.float_bytes(1.5) == unhexlify("3fc00000")                   # exact in 4 bytes
    assert T.float_bytes(0.1) == unhexlify("3fb999999999999a")           # needs 8
    assert T.float_bytes(1e300) == unhexlify("7e37e43c8800759c")
    assert T.value(unhexlify("3fc00000"), T_FLOAT) == 1.5
    assert T.value(unhexlify("3fb999999999999a"), T_FLOAT) == 0.1
    _raises(DecodeError, T.value, b"\x00\x00", T_FLOAT)
    assert T.value_bytes(T_BOOL, True) == b"\x01" and T.value(b"\x00", T_BOOL) is False
    _raises(DecodeError, T.value, b"\x02", T_BOOL)
    _raises(DecodeError, T.value, b"\x00\x01", T_BOOL)
    assert T.value_bytes(T_OBJLNK, (66, 0)) == b"\x00\x42\x00\x00"
    _raises(DecodeError, T.value, b"\x00\x42\x00", T_OBJLNK)
    assert T.value_bytes(T_OPAQUE, b"\x00\xff") == b"\x00\xff" and T.value(memoryview(b"ab"), T_OPAQUE) == b"ab"
    _raises(DecodeError, T.value, b"\xff\xfe", T_STRING)


def test_identifier_and_length_fields():
    # a 16-bit resource ID: /3/0/26261 MCU Memory Free (And-link 4.4.4) = 64
    assert T.encode([((3, 0, 26261), T_INT, 64)], 2) == unhexlify("e1669540")
    assert T.parse(unhexlify("e1669540"))[0][:2] == (T.RES, 26261)
    for n, head in ((7, "c700"), (8, "c80008"), (255, "c800ff"), (256, "d0000100")):
        raw = T.encode([((3, 0, 0), T_STRING, "a" * n)], 2)
        assert raw[:len(head) // 2] == unhexlify(head) and len(raw) == len(head) // 2 + n, n
        assert T.header_size(0, n) == len(head) // 2
        assert T.decode(raw, (3, 0), _typeof(DEVICE)) == [((3, 0, 0), "a" * n)]
    buf = bytearray(5 + 65536)               # one buffer for the 16- and 24-bit length fields
    for n, head in ((65535, "d000ffff"), (65536, "d800010000")):
        h = len(head) // 2
        assert T.put_header(buf, 0, T.RES, 0, n) == h and buf[:h] == unhexlify(head)
        (kind, ident, view), = T.parse(buf, 0, h + n)                  # parsed as a view, no copy
        assert (kind, ident, len(view)) == (T.RES, 0, n)
    # multiple resource with a 16-bit resource instance ID
    raw = T.encode([((3, 0, 11), T_INT, {0: 0, 300: 5})], 2)
    assert raw == unhexlify("870b410000610 12c05".replace(" ", ""))


def test_decode_shapes_at_each_depth():
    typeof = _typeof(DEVICE)
    # /3/0/6 as the multiple resource TLV or as bare resource instances; empty: no instances
    assert T.decode(b"\x86\x06\x41\x00\x01\x41\x01\x05", (3, 0, 6), typeof) == [((3, 0, 6), {0: 1, 1: 5})]
    assert T.decode(b"\x41\x00\x01\x41\x01\x05", (3, 0, 6), typeof) == [((3, 0, 6), {0: 1, 1: 5})]
    assert T.decode(b"", (3, 0, 6), typeof) == [((3, 0, 6), {})]
    # a resource instance alone
    assert T.decode(b"\x41\x01\x05", (3, 0, 6, 1), typeof) == [((3, 0, 6), {1: 5})]
    # a single resource, bare or inside its (matching) instance
    assert T.decode(b"\xc1\x09\x64", (3, 0, 9), typeof) == [((3, 0, 9), 100)]
    assert T.decode(b"\x08\x00\x03\xc1\x09\x64", (3, 0, 9), typeof) == [((3, 0, 9), 100)]
    # Create under /O without an instance TLV: instance -1; an empty instance TLV
    assert T.decode(b"\xc1\x09\x64", (3,), typeof) == [((3, -1, 9), 100)]
    assert T.decode(b"\x00\x05", (3,), typeof) == [((3, 5), None)]
    assert T.decode(b"", (3, 0), typeof) == []


def test_decode_refuses_malformed_input():
    typeof = _typeof(DEVICE)
    for bad, base in ((b"\xc8", (3, 0)), (b"\xc8\x00", (3, 0)), (b"\xc8\x00\x05ab", (3, 0)),
                      (b"\xe1\x00", (3, 0)), (b"\xd8\x00\x00\x01", (3, 0)), (b"\xc3\x00ab", (3, 0)),
                      (b"\x41\x00\x01", (3, 0)),                      # resource instance at instance level
                      (b"\x03\x00\x41\x00\x01", (3,)),                  # resource instance in an instance
                      (b"\x05\x00\x03\x00\x00\x00", (3,)),              # instance in an instance
                      (b"\x86\x06\xc1\x00\x01\x00\x00", (3, 0)),        # resource in a multiple resource
                      (b"\x08\x01\x03\xc1\x09\x64", (3, 0)),            # instance 1 written to /3/0
                      (b"\xc1\x0a\x64", (3, 0, 9)),                     # resource 10 written to /3/0/9
                      (b"\xc1\x09\x64\xc1\x09\x65", (3, 0)),            # resource repeated
                      (b"\x86\x09\x41\x00\x01\x41\x01\x05", (3, 0)),    # multiple TLV, single resource
                      (b"\xc1\x06\x01", (3, 0)),                        # single TLV, multiple resource
                      (b"\x86\x06\x41\x00\x01\x41\x00\x05", (3, 0)),    # resource instance repeated
                      (b"\x41\x00\x01\xc1\x06\x01", (3, 0, 6)),         # mixed kinds
                      (b"\xc3\x09abc", (3, 0)),                         # 3-byte integer
                      (b"\xc1\x04\x01", (3, 0)),                        # a value for an executable
                      (b"\x41\x02\x05", (3, 0, 6, 1)),                  # wrong resource instance
                      (b"\xc1\x09\x64", ())):
        _raises(DecodeError, T.decode, bad, base, typeof)
    _raises(NotFound, T.decode, b"\xc1\x63\x01", (3, 0), typeof)        # resource 99
