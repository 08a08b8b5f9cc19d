"""The object store, board side, Read and Write (OMA LwM2M TS 1.1 sections
5.4.1, 5.4.3; And-link spec sections 3.3, 3.6, 4.1.5, 6.3.4, 6.5, 6.6).  Portable."""
from binascii import unhexlify

from andlink.lwm2m.store import Store
from andlink.lwm2m.codes import (DecodeError, NotFound, CONTENT, CHANGED, BAD_REQUEST, UNAUTHORIZED, NOT_FOUND,
                                 METHOD_NOT_ALLOWED, NOT_ACCEPTABLE, UNSUPPORTED_CONTENT_FORMAT,
                                 INTERNAL_SERVER_ERROR, TEXT, OPAQUE, TLV, SENML_JSON, LWM2M_JSON, LINK, code_str)

DEVICE_VALUES = {0: "Open Mobile Alliance", 1: "Lightweight M2M Client", 2: "345000123", 3: "1.0",
                 6: {0: 1, 1: 5}, 7: {0: 3800, 1: 5000}, 8: {0: 125, 1: 900}, 9: 100, 10: 15, 11: {0: 0},
                 13: 1367491215, 14: "+02:00", 16: "U"}
# TS 1.1 Table 7.4.3.2-1
DEVICE_TLV = unhexlify(
    "C800144F70656E204D6F62696C6520416C6C69616E6365C801164C69676874776569676874204D324D20436C69656E74"
    "C80209333435303030313233C303312E30860641000141010588070842000ED842011388870841007D42010384C10964"
    "C10A0F830B410000C40D5182428FC60E2B30323A3030C11055")


def _store():
    s = Store()
    s.add(1, 0, {0: 1, 1: 86400, 6: True, 7: "U"})
    s.add(3, 0, DEVICE_VALUES)
    s.add(6, 0, {0: "26.0", 1: "171.0", 5: 0x5a6e85f4})
    s.add(2, 0, {0: 1, 1: 0, 2: {127: 7}, 3: 127})
    return s


def test_read_the_device_instance_in_each_format():
    s = _store()
    assert s.read("/3/0", TLV) == (CONTENT, TLV, DEVICE_TLV)
    assert s.read("/3/0") == (CONTENT, TLV, DEVICE_TLV)          # 3.6: several resources, TLV by default
    code, cf, p = s.read("/3", TLV)
    assert p == b"\x08\x00\x79" + DEVICE_TLV
    code, cf, p = s.read("/3/0", SENML_JSON)
    assert cf == SENML_JSON and p.startswith(b'[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"}')
    code, cf, p = s.read("/3/0", LWM2M_JSON)
    assert cf == LWM2M_JSON and p.startswith(b'{"bn":"/3/0/","e":[{"n":"0","sv":"Open Mobile Alliance"}')


def test_read_single_values():
    s = _store()
    # And-link 6.5.4: GET /3/0/3 Accept text/plain -> "1.0.0" (here "1.0")
    assert s.read("/3/0/3", TEXT) == (CONTENT, TEXT, b"1.0")
    assert s.read("/3/0/3") == (CONTENT, TEXT, b"1.0")          # no Accept: plain text
    assert s.read("/3/0/9") == (CONTENT, TEXT, b"100")
    assert s.read((3, 0, 6, 1)) == (CONTENT, TEXT, b"5")
    assert s.read("/3/0/6") == (CONTENT, TLV, b"\x86\x06\x41\x00\x01\x41\x01\x05")
    assert s.read("/3/0/6", SENML_JSON)[2] == b'[{"bn":"/3/0/6/","n":"0","v":1},{"n":"1","v":5}]'
    assert s.read("/3/0/9", TLV) == (CONTENT, TLV, b"\xc1\x09\x64")
    assert s.read([b"3", b"0", b"13"]) == (CONTENT, TEXT, b"1367491215")
    # And-link 6.5.4: GET /6/0 Accept TLV
    assert s.read("/6/0", TLV)[2] == unhexlify("c40032362e30c5013137312e30c4055a6e85f4")


def test_read_errors_as_codes():
    s = _store()
    for path, accept, code in (("/3/0", TEXT, NOT_ACCEPTABLE), ("/3/0/6", TEXT, NOT_ACCEPTABLE),
                               ("/3/0/0", OPAQUE, NOT_ACCEPTABLE), ("/3/0", LINK, NOT_ACCEPTABLE),
                               ("/3/0", 9999, NOT_ACCEPTABLE), ("/3/0/4", None, METHOD_NOT_ALLOWED),
                               ("/3/0/18", None, NOT_FOUND), ("/3/0/99", None, NOT_FOUND),
                               ("/3/1", None, NOT_FOUND), ("/99", None, NOT_FOUND),
                               ("/3/0/6/7", None, NOT_FOUND), ("/3/0/9/0", None, NOT_FOUND),
                               ("/0", None, UNAUTHORIZED), ("/0/0/0", None, UNAUTHORIZED),
                               ("/", None, METHOD_NOT_ALLOWED), ("/x", None, BAD_REQUEST),
                               ("/3/0/1/2/3", None, BAD_REQUEST)):
        assert s.read(path, accept) == (code, None, b""), (path, accept, code_str(s.read(path, accept)[0]))
    s.add(5, 0, {3: 0, 5: 0, 9: 0})
    assert s.read("/5/0/0")[0] == METHOD_NOT_ALLOWED            # Package: write-only
    assert s.read("/4")[:2] == (CONTENT, TLV) and s.read("/4")[2] == b""      # no instances


def test_callbacks_supply_values():
    s = _store()
    level = [77]
    s.bind(3, 9, read=lambda iid: level[0])
    s.bind(3, 7, read=lambda iid: [3700, 4900])               # a list for a multiple resource
    assert s.read("/3/0/9") == (CONTENT, TEXT, b"77")
    level[0] = 76
    assert s.get((3, 0, 9)) == 76 and s.get("/3/0/7/1") == 4900
    assert s.read("/3/0/7", SENML_JSON)[2] == b'[{"bn":"/3/0/7/","n":"0","v":3700},{"n":"1","v":4900}]'
    s.bind(3, 10, read=lambda iid: 1 // 0)                    # a board bug answers 5.00
    assert s.read("/3/0/10")[0] == INTERNAL_SERVER_ERROR
    s.bind(3, 10, read=lambda iid: None)                      # None: absent
    assert s.read("/3/0/10")[0] == NOT_FOUND
    assert b"\xc1\x0a" not in s.read("/3/0")[2]


def test_board_values_are_type_checked():
    s = _store()
    for path, bad in (((3, 0, 9), "x"), ((3, 0, 9), 1.5), ((3, 0, 9), True), ((3, 0, 0), 5),
                      ((3, 0, 6), 5), ((3, 0, 6), {0: "x"}), ((3, 0, 13), None), ((3, 0, 9), 1 << 63)):
        try:
            s.set(path, bad)
            assert False, (path, bad)
        except DecodeError:
            pass
    for path in ((3, 0, 4), (3, 0, 99), (3, 0), (3, 7, 1), (3, 0, 9, 1)):
        try:
            s.set(path, 1)
            assert False, path
        except (NotFound, DecodeError):
            pass
    assert s.set((3, 0, 9), 50) is True and s.set((3, 0, 9), 50) is False
    assert s.set((3, 0, 6), [0, 1, 5]) and s.get((3, 0, 6)) == {0: 0, 1: 1, 2: 5}
    assert s.set((3, 0, 11, 1), 4) and s.get((3, 0, 11)) == {0: 0, 1: 4}
    s.set("/3/0/22", {0: (4, 0)})
    s.set("/6/0/4", "ab")                                      # opaque from str: its UTF-8 bytes
    assert s.get("/6/0/4") == b"ab"
    try:
        s.add(3, 1)                                            # Device is single-instance
        assert False
    except DecodeError:
        pass


def test_write_single_resources():
    s = _store()
    seen = []
    s.changed = seen.append
    # And-link 6.6.4: PUT /1/0/1 text/plain "60"
    assert s.write("/1/0/1", TEXT, b"60") == CHANGED and s.get((1, 0, 1)) == 60
    assert seen == [(1, 0, 1)]
    assert s.write("/1/0/1", None, b"61") == CHANGED and s.get((1, 0, 1)) == 61   # no format: text
    assert s.write("/1/0/1", TLV, b"\xc1\x01\x3c") == CHANGED and s.get((1, 0, 1)) == 60
    assert s.write("/1/0/1", SENML_JSON, b'[{"bn":"/1/0/1","v":30}]') == CHANGED and s.get((1, 0, 1)) == 30
    assert s.write("/1/0/7", TEXT, b"UQ") == CHANGED and seen[-1] == (1, 0, 7)
    n = len(seen)
    assert s.write("/1/0/7", TEXT, b"UQ") == CHANGED and len(seen) == n        # unchanged: not told


def test_write_an_instance_by_put():
    s = _store()
    # And-link 6.6.4: PUT /3/0 TLV with Current Time and UTC Offset: the others stay
    assert s.write("/3/0", TLV, unhexlify("c40d5a6e960bc30e2b3037")) == CHANGED
    assert s.get((3, 0, 13)) == 1517196811 and s.get((3, 0, 14)) == "+07" and s.get((3, 0, 0)) == "Open Mobile Alliance"
    assert s.write("/3/0", SENML_JSON, b'[{"bn":"/3/0/","n":"15","vs":"Asia/Shanghai"}]') == CHANGED
    assert s.get((3, 0, 15)) == "Asia/Shanghai"


def test_write_errors_as_codes():
    s = _store()
    for path, cf, payload, code in (
            ("/3/0/0", TEXT, b"x", METHOD_NOT_ALLOWED),                 # R only
            ("/3/0/4", TEXT, b"", METHOD_NOT_ALLOWED),                  # executable
            ("/3/0", TEXT, b"1", UNSUPPORTED_CONTENT_FORMAT),
            ("/1/0/1", 9999, b"1", UNSUPPORTED_CONTENT_FORMAT),
            ("/1/0/1", OPAQUE, b"1", UNSUPPORTED_CONTENT_FORMAT),
            ("/1/0/1", TEXT, b"abc", BAD_REQUEST),
            ("/1/0/1", TLV, b"\xc1\x01", BAD_REQUEST),
            ("/1/0/1", SENML_JSON, b"[{", BAD_REQUEST),
            ("/3/0", TLV, b"\xc1\x63\x01", NOT_FOUND),                  # resource 99
            ("/3", TLV, b"\x08\x00\x03\xc1\x0d\x01", METHOD_NOT_ALLOWED),  # Write on an object
            ("/0/0/0", TEXT, b"coap://x", UNAUTHORIZED),
            ("/1/5/1", TEXT, b"60", NOT_FOUND), ("/98/0/1", TEXT, b"60", NOT_FOUND),
            ("/", TLV, b"", METHOD_NOT_ALLOWED), ("/a", TEXT, b"1", BAD_REQUEST)):
        assert s.write(path, cf, payload) == code, (path, code_str(s.write(path, cf, payload)))
    # one refused resource refuses the whole write: nothing changes
    before = s.get((3, 0, 13))
    assert s.write("/3/0", TLV, b"\xc1\x0d\x01\xc1\x09\x05") == METHOD_NOT_ALLOWED
    assert s.get((3, 0, 13)) == before and s.get((3, 0, 9)) == 100


def test_write_multiple_resources_replace_and_merge():
    s = _store()
    assert s.write("/2/0/2", TLV, b"\x83\x02\x41\x01\x05") == CHANGED          # PUT: replace
    assert s.get((2, 0, 2)) == {1: 5}
    assert s.write("/2/0", TLV, b"\x83\x02\x41\x02\x06", replace=False) == CHANGED   # POST: merge
    assert s.get((2, 0, 2)) == {1: 5, 2: 6}
    assert s.write("/2/0", TLV, b"\x83\x02\x41\x03\x07") == CHANGED             # PUT on the instance
    assert s.get((2, 0, 2)) == {3: 7}
    assert s.write("/2/0/2/4", TEXT, b"9") == CHANGED                           # one instance
    assert s.get((2, 0, 2)) == {3: 7, 4: 9}
    assert s.write("/2/0/2", TLV, b"") == CHANGED and s.get((2, 0, 2)) == {}    # none left
    assert s.write("/2/0/2", TEXT, b"9") == BAD_REQUEST                         # text: one value


def test_write_callbacks_accept_or_refuse():
    s = _store()
    got = []

    def lifetime(iid, v):
        got.append((iid, v))
        return BAD_REQUEST if v < 60 else None
    s.bind(1, 1, write=lifetime)
    assert s.write("/1/0/1", TEXT, b"30") == BAD_REQUEST and s.get((1, 0, 1)) == 86400
    assert s.write("/1/0/1", TEXT, b"300") == CHANGED and s.get((1, 0, 1)) == 300
    assert got == [(0, 30), (0, 300)]
    s.bind(1, 7, write=lambda iid, v: 1 // 0)
    assert s.write("/1/0/7", TEXT, b"U") == INTERNAL_SERVER_ERROR


def test_registration_payload_and_missing():
    s = _store()
    # And-link 6.3.4: </>;rt="oma.lwm2m", </1/0>, </3/0>, ...; object 0 never listed
    s.add(0, 0, {0: "coap://lwm.home.komect.com", 1: True, 2: 0, 3: b"869976032983322", 4: b"", 5: b"k"})
    assert s.register_payload() == b'</>;rt="oma.lwm2m",</1/0>,</2/0>,</3/0>,</6/0>'
    assert s.register_payload(True) == (b'</>;rt="oma.lwm2m",</1/0>,</2/0>,</3/0>,</4>,</5>,</6/0>,</7>,'
                                        b'</19>,</20>')
    s.version = "1.1"
    assert s.register_payload() == b'</>;rt="oma.lwm2m",</1/0>,</2/0>,</3>;ver=1.1,</3/0>,</6/0>'
    # what the And-link profile still needs (3.5, 4.1.5, 5.2)
    m = s.missing()
    assert (3, 0, 17) in m and (3, 0, 19) in m and (3, 0, 4) in m and (4,) in m and (19,) in m
    assert (3, 0, 1) not in m and (2,) not in m and (20,) not in m
