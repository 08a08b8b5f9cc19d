"""SenML JSON (110; RFC 8428, OMA LwM2M TS 1.1 section 7.4.4), LwM2M JSON
(11543; TS 1.0 section 6.4.4), the JSON writer, and the And-link parameter
document of /19/1/0 (And-link spec sections 4.2.2 and 4.3.2).  Portable."""
from andlink.lwm2m import senml as S
from andlink.lwm2m.objects import obj, rflags
from andlink.lwm2m.objdefs import DEVICE, APP_DATA
from andlink.lwm2m.codes import (DecodeError, EncodeError, NotFound, RW, MULTI, OPQ, LNK, BOOL, FLT, UINT,
                                 LWM2M_JSON, T_STRING, T_INT, T_FLOAT, T_BOOL, T_OPAQUE, T_TIME, T_OBJLNK)

TEST = obj(1024, "Test", MULTI, ((0, "Blob", RW | OPQ), (1, "Link", RW | LNK), (2, "On", RW | BOOL),
                                (3, "Temp", RW | FLT), (4, "Count", RW | UINT), (5, "Blobs", RW | OPQ | MULTI)))


def _typeof(od):
    return lambda p: rflags(od, p[2])


def _raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return
    assert False, (fn, args)


DEVICE_RECS = [((3, 0, 0), T_STRING, "Open Mobile Alliance"), ((3, 0, 1), T_STRING, "Lightweight M2M Client"),
               ((3, 0, 6), T_INT, {0: 1, 1: 5}), ((3, 0, 9), T_INT, 100), ((3, 0, 13), T_TIME, 1367491215),
               ((3, 0, 14), T_STRING, "+02:00")]


def test_senml_device_instance():
    # TS 1.1 7.4.4: bn "/3/0/", names relative to it, integers as "v"
    out = S.encode(DEVICE_RECS, (3, 0))
    assert out == (b'[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},{"n":"1","vs":"Lightweight M2M Client"},'
                   b'{"n":"6/0","v":1},{"n":"6/1","v":5},{"n":"9","v":100},{"n":"13","v":1367491215},'
                   b'{"n":"14","vs":"+02:00"}]')
    back = S.decode(out, (3, 0), _typeof(DEVICE))
    assert back == [(p, v) for p, _, v in DEVICE_RECS]


def test_lwm2m_json_11543_device_instance():
    out = S.encode(DEVICE_RECS[:3], (3, 0), LWM2M_JSON)
    assert out == (b'{"bn":"/3/0/","e":[{"n":"0","sv":"Open Mobile Alliance"},{"n":"1","sv":"Lightweight M2M Client"},'
                   b'{"n":"6/0","v":1},{"n":"6/1","v":5}]}')
    assert S.decode(out, (3, 0), _typeof(DEVICE), LWM2M_JSON) == [(p, v) for p, _, v in DEVICE_RECS[:3]]


def test_single_and_multiple_resource_names():
    assert S.encode([((3, 0, 0), T_STRING, "Open Mobile Alliance")], (3, 0, 0)) == \
        b'[{"bn":"/3/0/0","vs":"Open Mobile Alliance"}]'
    assert S.encode([((3, 0, 7), T_INT, {0: 3800, 1: 5000})], (3, 0, 7)) == \
        b'[{"bn":"/3/0/7/","n":"0","v":3800},{"n":"1","v":5000}]'
    assert S.encode([((3, 0, 7, 1), T_INT, 5000)], (3, 0, 7, 1)) == b'[{"bn":"/3/0/7/1","v":5000}]'
    assert S.encode([], (3,)) == b"[]"
    assert S.encode([((3, 0, 9), T_INT, 1)], (3,), LWM2M_JSON) == b'{"bn":"/3/","e":[{"n":"0/9","v":1}]}'


def test_every_value_kind():
    recs = [((1024, 0, 0), T_OPAQUE, b"\xfb\xff\x00"), ((1024, 0, 1), T_OBJLNK, (3, 0)),
            ((1024, 0, 2), T_BOOL, True), ((1024, 0, 3), T_FLOAT, 22.5), ((1024, 0, 4), T_INT, 7)]
    out = S.encode(recs, (1024, 0))
    assert out == (b'[{"bn":"/1024/0/","n":"0","vd":"-_8A"},{"n":"1","vlo":"3:0"},{"n":"2","vb":true},'
                   b'{"n":"3","v":22.5},{"n":"4","v":7}]')
    assert S.decode(out, (1024, 0), _typeof(TEST)) == [(p, v) for p, _, v in recs]
    old = S.encode(recs, (1024, 0), LWM2M_JSON)
    assert old == (b'{"bn":"/1024/0/","e":[{"n":"0","sv":"+/8A"},{"n":"1","ov":"3:0"},{"n":"2","bv":true},'
                   b'{"n":"3","v":22.5},{"n":"4","v":7}]}')
    assert S.decode(old, (1024, 0), _typeof(TEST), LWM2M_JSON) == [(p, v) for p, _, v in recs]


def test_decode_base_names_and_grouping():
    # bn holds until the next bn; names may be absolute; t/bt ignored; "vd" in either alphabet
    doc = (b'[{"bn":"/1024/0/","bt":25,"n":"3","v":1},{"n":"5/0","vd":"AQ=="},{"bn":"/1024/1/","n":"2",'
           b'"vb":false,"t":-5},{"bn":"","n":"/1024/0/5/1","vd":"Ag"}]')
    recs = S.decode(doc, (1024,), _typeof(TEST))
    assert recs == [((1024, 0, 3), 1.0), ((1024, 0, 5), {0: b"\x01", 1: b"\x02"}), ((1024, 1, 2), False)]
    assert isinstance(recs[0][1], float)
    # an integer given as an integral float
    assert S.decode(b'[{"bn":"/3/0/9","v":50.0}]', (3, 0, 9), _typeof(DEVICE)) == [((3, 0, 9), 50)]


def test_decode_refuses_mismatches():
    typeof = _typeof(TEST)
    for bad in (b'{"bn":"/1024/0/3","v":1}',                       # not an array
                b'[1]', b'[{"bn":3,"v":1}]', b'[{"n":5,"v":1}]',
                b'[{"bn":"/1024/0/3"}]',                             # no value
                b'[{"bn":"/1024/0/3","v":1,"vs":"1"}]',              # two values
                b'[{"bn":"/1024/0/3","vs":"1"}]',                    # string for a float
                b'[{"bn":"/1024/0/3","v":true}]',                    # boolean for a float
                b'[{"bn":"/1024/0/4","v":1.5}]', b'[{"bn":"/1024/0/4","v":-1}]',
                b'[{"bn":"/1024/0/2","v":1}]', b'[{"bn":"/1024/0/0","vd":"!!"}]',
                b'[{"bn":"/1024/0/0","vs":"AQ=="}]', b'[{"bn":"/1024/0/1","vlo":"3"}]',
                b'[{"bn":"/1024/0/1","vs":"3:0"}]',
                b'[{"bn":"/1024/0/5","vd":"AQ=="}]',                  # a value for a multiple resource
                b'[{"bn":"/1024/0/3/0","v":1}]',                     # an instance of a single one
                b'[{"bn":"/1024/0/3","v":1},{"bn":"/1024/0/3","v":2}]',
                b'[{"bn":"/1024/0/5/0","vd":""},{"bn":"/1024/0/5/0","vd":""}]',
                b'[{"bn":"/1024/1/3","v":1}]',                       # outside the base /1024/0
                b'[{"bn":"/1024/0","v":1}]', b'[{"bn":"/x","v":1}]',
                b'[', b'', b'\xff', b'[{"bn":"/1024/0/3","v":1e999}]'):
        _raises(DecodeError, S.decode, bad, (1024, 0), typeof)
    _raises(NotFound, S.decode, b'[{"bn":"/1024/0/9","v":1}]', (1024, 0), typeof)
    _raises(DecodeError, S.decode, b'{"e":1}', (1024, 0), typeof, LWM2M_JSON)
    _raises(DecodeError, S.decode, b'[]', (1024, 0), typeof, LWM2M_JSON)


def test_json_writer_is_deterministic():
    assert S.dumps({"a": [1, 2.5, True, False, None, "x"]}) == '{"a":[1,2.5,true,false,null,"x"]}'
    assert S.quote('a"b\\c\n\x01\u4e2d') == '"a\\"b\\\\c\\n\\u0001\u4e2d"'
    assert S.loads(S.dumps([1, {"k": "v"}])) == [1, {"k": "v"}]
    _raises(EncodeError, S.dumps, {1: 2})
    _raises(EncodeError, S.dumps, b"x")


def test_andlink_parameter_document():
    # 4.2.2.2: {"ParamName1":"value1","ParamName2/index":"value2"}; 4.2.2.3 example
    doc = S.params([("power", 200), ("temperature", "18.5"), ("outletStatus/1", 1)])
    assert doc == '{"power":200,"temperature":"18.5","outletStatus/1":1}'
    assert S.parse_params(doc) == {"power": 200, "temperature": "18.5", "outletStatus/1": 1}
    assert S.params({"power": 200}) == '{"power":200}'
    for bad in (b'[1]', b'"x"', b'{"ping","demo.com 4"}', b'{'):      # 4.2.2.3's ping example is not JSON
        _raises(DecodeError, S.parse_params, bad)


def test_andlink_send_payload():
    # 4.3.2: [{"n":"/19/1/0","vs":{"power":18,"temperature":"20.5"}}] (the example embeds the object)
    p = S.send_payload([("power", 18), ("temperature", "20.5")])
    assert p == b'[{"n":"/19/1/0","vs":{"power":18,"temperature":"20.5"}}]'
    q = S.send_payload('{"power":18}', embed=False)
    assert q == b'[{"n":"/19/1/0","vs":"{\\"power\\":18}"}]'
    # both forms decode to the document's text for the JSON resource /19/1/0
    typeof = _typeof(APP_DATA)
    assert S.decode(p, (19, 1), typeof) == [((19, 1, 0), '{"power":18,"temperature":"20.5"}')]
    assert S.decode(q, (19, 1), typeof) == [((19, 1, 0), '{"power":18}')]
    _raises(DecodeError, S.send_payload, "[1]")


def test_json_syntax_is_checked_alike_on_every_port():
    # MicroPython's json module takes these; RFC 8259 does not, and neither do we
    for bad in ('{"ping","demo.com 4"}', '{"a":1,}', '[1,]', '[1 2]', '{"a" 1}', '{"a":1 "b":2}', '[,1]',
                '{,}', '01', '1.', '.5', '"\\x"', '"a\nb"', 'tru', '[1]]', '{"a":1}}', '-', '{"a":[1,2}',
                '"\\u12"', '[' * 17 + ']' * 17, '', ' ', '1 2', '{"a":}', '{1:2}', '[1e]', '[-]', '[1e+]'):
        _raises(DecodeError, S.loads, bad)
    for good in ('{"a":[1,-2.5e-3,true,false,null,"\\u00e9\\n"]}', ' [ ] ', '{}', '0', '-0.5E+2', '"x"',
                 '[' * 16 + ']' * 16, '{"a" : { "b" : [ 1 , 2 ] } }'):
        S.loads(good)
    assert S.loads('{"a":[1,{"b":null}]}') == {"a": [1, {"b": None}]}
