"""The object store: Execute, Create, Delete, Discover, Write-Attributes, the
notification check, Bootstrap Write and the And-link parameter resource
/19/1/0 (OMA LwM2M TS 1.1 sections 5.2.7, 5.4.2-5.4.7, 5.1.2; And-link spec
sections 4.1.3, 4.2.2, 4.4.2, 4.5, 6.7-6.9).  Portable."""
from binascii import unhexlify

from andlink.lwm2m.store import Store
from andlink.lwm2m import objects as O
from andlink.lwm2m.objdefs import DEVICE
from andlink.lwm2m.codes import (CONTENT, CHANGED, CREATED, DELETED, BAD_REQUEST, UNAUTHORIZED, NOT_FOUND,
                                 METHOD_NOT_ALLOWED, NOT_ACCEPTABLE, TEXT, OPAQUE, JSON, TLV, SENML_JSON,
                                 R, INT, MULTI)


def _store():
    s = Store()
    s.add(1, 0, {0: 1, 1: 86400, 2: 5, 3: 300, 6: True, 7: "U"})
    s.add(3, 0, {0: "ACME", 1: "token", 6: {0: 1, 1: 5}, 9: 100, 11: {0: 0}, 16: "U", 17: "T1", 19: "1.0"})
    s.add(5, 0, {1: "", 3: 0, 5: 0, 9: 0})
    s.add(2, 0, {0: 1, 1: 0, 2: {127: 7}, 3: 127})
    return s


def test_execute():
    s = _store()
    calls = []
    s.bind(3, 4, execute=lambda iid, args: calls.append((iid, args)))
    # And-link 6.8.4: POST /3/0/4 (Reboot), no payload
    assert s.execute("/3/0/4") == CHANGED and calls == [(0, [])]
    assert s.execute("/3/0/4", b"0='now',1") == CHANGED and calls[-1] == (0, [(0, "now"), (1, None)])
    assert s.execute("/3/0/4", b"0='now") == BAD_REQUEST
    assert s.execute("/3/0/5") == NOT_FOUND                    # no callback: not instantiated
    for path, code in (("/3/0/9", METHOD_NOT_ALLOWED), ("/3/0", METHOD_NOT_ALLOWED), ("/3", METHOD_NOT_ALLOWED),
                       ("/3/0/99", NOT_FOUND), ("/3/1/4", NOT_FOUND), ("/0/0/0", UNAUTHORIZED),
                       ("/3/0/4/0", METHOD_NOT_ALLOWED)):
        assert s.execute(path) == code, path
    s.bind(5, 26550, execute=lambda iid, args: BAD_REQUEST)   # 4.4.4: a board that cannot do SOTA
    assert s.execute("/5/0/26550") == BAD_REQUEST
    s.bind(3, 5, execute=lambda iid, args: 1 // 0)
    assert s.execute("/3/0/5") == 0xA0


def test_event_log_flow():
    # And-link 4.5: Write /20/0/4010 0, Execute /20/0/4011 0=0,1='100', Read /20/0/4014, Execute /20/0/4012
    s = _store()
    log = {"on": False, "args": None}

    def start(iid, args):
        log["on"], log["args"] = True, args
    s.add(20, 0, {4010: 3, 4013: 1, 4014: b""})
    s.bind(20, 4011, execute=start)
    s.bind(20, 4012, execute=lambda iid, args: log.update(on=False))
    s.bind(20, 4014, read=lambda iid: b"boot ok\n" if log["on"] else b"")
    assert s.write("/20/0/4010", TEXT, b"0") == CHANGED and s.get((20, 0, 4010)) == 0
    assert s.execute("/20/0/4011", b"0=0,1='100'") == CHANGED and log["args"] == [(0, "0"), (1, "100")]
    assert s.read("/20/0/4014") == (CONTENT, OPAQUE, b"boot ok\n")
    assert s.execute("/20/0/4012") == CHANGED and not log["on"]


def test_create():
    s = _store()
    # an Access Control instance for /3/0, no instance ID: the lowest free one (1)
    body = b"\xc1\x00\x03\xc1\x01\x00\xc1\x03\x01"
    assert s.create("/2", TLV, body) == (CREATED, 1)
    assert s.get((2, 1, 0)) == 3 and s.instances(2) == [0, 1]
    assert s.create("/2", TLV, b"\x08\x07\x09" + body) == (CREATED, 7)         # the ID given
    assert s.create("/2", TLV, b"\x08\x07\x09" + body) == (BAD_REQUEST, None)   # it exists
    assert s.create("/2", TLV, b"\xc1\x00\x03") == (BAD_REQUEST, None)          # mandatory 1, 3 missing
    assert s.create("/2", TLV, b"\x08\x08\x03\xc1\x00\x03\x08\x09\x00") == (BAD_REQUEST, None)  # 2 instances
    assert s.create("/3", TLV, b"") == (BAD_REQUEST, None)                      # single, exists
    assert s.create("/2/0", TLV, body) == (METHOD_NOT_ALLOWED, None)
    assert s.create("/0", TLV, body) == (UNAUTHORIZED, None)
    assert s.create("/97", TLV, body) == (NOT_FOUND, None)
    assert s.create("/2", TLV, b"\xc1") == (BAD_REQUEST, None)
    assert s.create("/2", SENML_JSON, b'[{"bn":"/2/9/","n":"0","v":4},{"n":"1","v":0},{"n":"3","v":1}]') == \
        (CREATED, 9)
    seen = []
    s.hooks(2, create=lambda iid, values: seen.append((iid, values)) or BAD_REQUEST)
    assert s.create("/2", TLV, body) == (BAD_REQUEST, None) and seen == [(2, {0: 3, 1: 0, 3: 1})]
    assert 2 not in s.instances(2)


def test_delete():
    s = _store()
    s.add(2, 1, {0: 3, 1: 0, 3: 1})
    s.write_attributes("/2/1", "pmin=5")
    gone = []
    s.changed = gone.append
    assert s.delete("/2/1") == DELETED and s.instances(2) == [0] and gone == [(2, 1)]
    assert (2, 1) not in s.attrs
    assert s.delete("/2/1") == NOT_FOUND
    for path, code in (("/3/0", METHOD_NOT_ALLOWED), ("/1/0", METHOD_NOT_ALLOWED), ("/2", METHOD_NOT_ALLOWED),
                       ("/2/0/2", METHOD_NOT_ALLOWED), ("/0/0", UNAUTHORIZED), ("/99/0", NOT_FOUND),
                       ("/", METHOD_NOT_ALLOWED)):
        assert s.delete(path) == code, path
    s.hooks(2, delete=lambda iid: UNAUTHORIZED)
    assert s.delete("/2/0") == UNAUTHORIZED and s.instances(2) == [0]
    assert s.delete("/1", bootstrap=True) == DELETED and s.instances(1) == []


def test_discover():
    s = _store()
    s.bind(3, 4, execute=lambda iid, args: None)
    assert s.write_attributes("/3", ["pmin=10"]) == CHANGED
    assert s.write_attributes("/3/0", ["pmax=60"]) == CHANGED
    assert s.write_attributes("/3/0/9", ["gt=50", "lt=42.2"]) == CHANGED
    assert s.discover("/3") == (CONTENT, b"</3>;pmin=10,</3/0>,</3/0/0>,</3/0/1>,</3/0/4>,</3/0/6>;dim=2,"
                                         b"</3/0/9>,</3/0/11>;dim=1,</3/0/16>,</3/0/17>,</3/0/19>")
    assert s.discover("/3/0") == (CONTENT, b"</3/0>;pmax=60,</3/0/0>,</3/0/1>,</3/0/4>,</3/0/6>;dim=2,"
                                           b"</3/0/9>;gt=50;lt=42.2,</3/0/11>;dim=1,</3/0/16>,</3/0/17>,</3/0/19>")
    assert s.discover("/3/0/9") == (CONTENT, b"</3/0/9>;pmin=10;pmax=60;gt=50;lt=42.2")
    assert s.discover("/3/0/6") == (CONTENT, b"</3/0/6>;dim=2;pmin=10;pmax=60")
    assert s.discover("/3/0/6/1") == (CONTENT, b"</3/0/6/1>;pmin=10;pmax=60")
    s.version = "1.1"
    assert s.discover("/3")[1].startswith(b"</3>;ver=1.1;pmin=10,</3/0>,")
    for path, code in (("/3/0/18", NOT_FOUND), ("/3/0/6/9", NOT_FOUND), ("/3/0/9/0", NOT_FOUND),
                       ("/3/1", NOT_FOUND), ("/0", UNAUTHORIZED), ("/", METHOD_NOT_ALLOWED), ("/x", BAD_REQUEST)):
        assert s.discover(path) == (code, b""), path
    assert s.discover("/4") == (CONTENT, b"</4>")


def test_write_attributes_codes():
    s = _store()
    # And-link 6.7.4: PUT /3/0/3?pmin=60&pmax=120 -- here on /3/0/19 (a string: periods only)
    assert s.write_attributes("/3/0/19", ["pmin=60", "pmax=120"]) == CHANGED
    for path, q, code in (("/3/0/19", ["gt=1"], BAD_REQUEST), ("/3/0/6", ["gt=1"], BAD_REQUEST),
                          ("/3/0", ["st=1"], BAD_REQUEST), ("/3/0/9", ["foo=1"], BAD_REQUEST),
                          ("/3/0/9", ["gt=5", "lt=6"], BAD_REQUEST), ("/3/7", ["pmin=1"], NOT_FOUND),
                          ("/3/0/99", ["pmin=1"], NOT_FOUND), ("/99", ["pmin=1"], NOT_FOUND),
                          ("/0/0", ["pmin=1"], UNAUTHORIZED), ("/", ["pmin=1"], METHOD_NOT_ALLOWED)):
        assert s.write_attributes(path, q) == code, (path, q)
    assert s.write_attributes("/3/0/6/0", ["gt=1"]) == CHANGED           # a resource instance: numeric
    assert s.write_attributes("/3/0/9", b"st=2.5") == CHANGED
    # effective: the resource's own, then the Server's defaults /1/0/2 and /1/0/3
    assert s.attributes("/3/0/9") == [5, 300, None, None, 2.5]
    assert s.attributes("/3/0/19") == [60, 120, None, None, None]


def test_notify_due_firmware_state():
    # And-link 4.4.2: GET /5/0/3?pmax=10 Observe=0, then Notify state changes
    s = _store()
    assert s.write_attributes("/5/0/3", ["pmax=10"]) == CHANGED
    assert s.notify_due("/5/0/3", 0, 100, 104) == (6, 0)      # unchanged: pmax is 6 s away
    s.set((5, 0, 3), 1)                                        # downloading
    assert s.notify_due("/5/0/3", 0, 100, 104) == (1, 1)      # pmin 5 (/1/0/2) holds it until 105
    assert s.notify_due("/5/0/3", 0, 100, 105) == (0, 1)
    assert s.notify_due("/5/0/3", 1, 105, 110) == (5, 1)     # unchanged: pmax 10
    assert s.notify_due("/5/0/3", 1, 105, 115) == (0, 1)
    # an instance: its TLV payload is the value
    wait, v = s.notify_due("/5/0", None, 0, 10)
    assert wait == 0 and v == s.read("/5/0", TLV)[2]
    assert s.notify_due("/5/0/6", None, 0, 10) == (-1, None)         # nothing there
    assert s.notify_due("/7/0", None, 0, 10) == (-1, None)


def test_bootstrap_write_and_snapshot():
    # And-link 4.1.2-4.1.3: /0/0 preset, the Bootstrap-Server writes /0/1/0 (and the Server object)
    s = _store()
    s.add(0, 0, {0: "coaps://lwm.home.komect.com", 1: True, 2: 0, 3: b"869976032983322", 4: b"", 5: b"key"})
    uri = b"coaps://112.13.96.204:5683"
    assert s.write("/0/1/0", TEXT, uri) == UNAUTHORIZED
    body = b"\xc8\x00" + bytes([len(uri)]) + uri + b"\xc1\x01\x00\xc1\x02\x00"
    assert s.write("/0/1", TLV, body, bootstrap=True) == CHANGED
    assert s.get((0, 1, 0)) == uri.decode() and s.get((0, 1, 1)) is False
    assert s.write("/1", TLV, unhexlify("08000FC10001C4010000012CC10601C10755"), bootstrap=True) == CHANGED
    assert s.get((1, 0, 1)) == 300
    # persistence: a snapshot of /0 and /1 read back into a fresh store
    snap0 = s.read("/0", TLV, bootstrap=True)
    snap1 = s.read("/1", TLV, bootstrap=True)
    assert snap0[0] == CONTENT and s.read("/0", TLV)[0] == UNAUTHORIZED
    t = Store()
    assert t.write("/0", TLV, snap0[2], bootstrap=True) == CHANGED
    assert t.write("/1", TLV, snap1[2], bootstrap=True) == CHANGED
    assert t.instances(0) == [0, 1] and t.get((0, 0, 5)) == b"key" and t.get((1, 0, 7)) == "U"
    assert t.read("/0", TLV, bootstrap=True) == snap0


def test_andlink_parameter_resource():
    # And-link 4.2.2.2: GET /19/1/0?p=power -> 2.05 application/senml+json {"power":200}
    s = _store()
    state = {"power": 200, "temperature": "18.5"}
    asked = []
    written = []

    def read(iid, p):
        asked.append(p)
        from andlink.lwm2m.senml import params
        return params([(k, state[k]) for k in sorted(state) if p is None or k == p])
    s.add(19, 1)
    s.bind(19, 0, read=read, write=lambda iid, doc: written.append(doc))
    assert s.read("/19/1/0", None, "power") == (CONTENT, SENML_JSON, b'{"power":200}')
    assert s.read("/19/1/0", SENML_JSON) == (CONTENT, SENML_JSON, b'{"power":200,"temperature":"18.5"}')
    assert s.read("/19/1/0", JSON)[1:] == (JSON, b'{"power":200,"temperature":"18.5"}')
    assert s.read("/19/1/0", TEXT)[1:] == (TEXT, b'{"power":200,"temperature":"18.5"}')
    assert s.read("/19/1/0", TLV)[2].startswith(b"\xc8\x00\x22{")
    assert asked == ["power", None, None, None, None]
    # 4.2.2.3: PUT /19/1/0 senml+json {"power":200, "temperature":"18.5"}
    assert s.write("/19/1/0", SENML_JSON, b'{"power":200, "temperature":"18.5"}') == CHANGED
    assert s.write("/19/1/0", SENML_JSON, b'[{"bn":"/19/1/0","vs":"{\\"power\\":1}"}]') == CHANGED
    assert s.write("/19/1/0", TEXT, b'{"power":2}') == CHANGED
    assert written == ['{"power":200, "temperature":"18.5"}', '{"power":1}', '{"power":2}']
    assert s.write("/19/1/0", SENML_JSON, b'{"ping","demo.com 4"}') == BAD_REQUEST     # 4.2.2.3's typo
    assert s.write("/19/1/0", SENML_JSON, b'{"power":') == BAD_REQUEST
    assert s.write("/19/1/0", OPAQUE, b'[1]') == BAD_REQUEST
    assert s.read("/19/1/0", OPAQUE)[1] == OPAQUE
    assert s.read("/19/1", TEXT)[0] == NOT_ACCEPTABLE


def test_an_oem_object_in_the_store():
    meter = O.obj(26241, "Meter", MULTI, ((0, "Reading", R | INT),))
    dev = O.extend(DEVICE, ((30000, "Vendor Code", R | INT),))
    s = Store()
    s.define(meter)
    s.define(dev)
    s.add(26241, 0, {0: 12})
    s.add(3, 0, {30000: 7})
    assert s.read("/26241/0/0") == (CONTENT, TEXT, b"12")
    assert s.read("/3/0/30000", TLV) == (CONTENT, TLV, b"\xe1\x75\x30\x07")
    assert s.register_payload() == b'</>;rt="oma.lwm2m",</3/0>,</26241/0>'
