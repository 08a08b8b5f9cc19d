"""Malformed input never crashes the data model: mutated TLV, SenML JSON,
LwM2M JSON, link format, plain text, paths, Write-Attributes queries and
Execute arguments raise only Lwm2mError subclasses, and the store answers
every mutated request with a 4.xx/2.xx code, never 5.00 (its code for an
unexpected exception).  A fixed-seed xorshift generator, so the same inputs
run on CPython and MicroPython.  Portable."""
from binascii import unhexlify

from andlink.lwm2m import tlv, senml, linkfmt, text, attrs
from andlink.lwm2m import path as P
from andlink.lwm2m.objects import rflags
from andlink.lwm2m.objdefs import DEVICE
from andlink.lwm2m.store import Store
from andlink.lwm2m.codes import Lwm2mError, TEXT, TLV, SENML_JSON, LWM2M_JSON, INTERNAL_SERVER_ERROR

ROUNDS = 250
DEVICE_TLV = unhexlify(
    "080079C800144F70656E204D6F62696C6520416C6C69616E6365C801164C69676874776569676874204D324D20436C69656E74"
    "C80209333435303030313233C303312E30860641000141010588070842000ED842011388870841007D42010384C10964"
    "C10A0F830B410000C40D5182428FC60E2B30323A3030C11055")
SENML = (b'[{"bn":"/3/0/","n":"13","v":1367491215},{"n":"14","vs":"+02:00"},{"n":"6/0","v":1},'
         b'{"n":"22/0","vlo":"4:0"},{"bn":"/3/0/15","vs":"x"}]')
OLDJSON = b'{"bn":"/3/0/","e":[{"n":"13","v":1},{"n":"14","sv":"+02:00"},{"n":"11/0","v":0}]}'
LINKS = b'</>;rt="oma.lwm2m",</1/0>,</3/0>;pmin=10;gt=50.5,</3/0/7>;dim=2;title="a,b;c"'


class Rng:
    def __init__(self, seed):
        self.s = seed

    def below(self, n):
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.s = x
        return x % n


def mutate(r, data):
    b = bytes(data)
    for _ in range(1 + r.below(3)):
        op = r.below(6)
        i = r.below(len(b) + 1)
        j = i % len(b) if b else 0
        if op == 0 and b:
            b = b[:j] + bytes([r.below(256)]) + b[j + 1:]
        elif op == 1 and b:
            b = b[:j] + bytes([b[j] ^ (1 << r.below(8))]) + b[j + 1:]
        elif op == 2:
            b = b[:i]
        elif op == 3:
            b = b[:i] + bytes([r.below(256) for _ in range(1 + r.below(4))]) + b[i:]
        elif op == 4:
            b = b[:i] + b[i + 1 + r.below(4):]
        else:
            src = b"{}[]\",:/0123456789<>;='vs" if data[:1] in (b"[", b"{", b"<") else b"\x00\x08\xc8\x86\x41\xff"
            b = b[:i] + bytes([src[r.below(len(src))]]) + b[i:]
    return b


def _only_model_errors(fn, *args):
    try:
        fn(*args)
    except Lwm2mError:
        pass


def _typeof(p):
    return rflags(DEVICE, p[2])


def test_tlv_decoder():
    r = Rng(0x1234567)
    bases = ((3,), (3, 0), (3, 0, 6), (3, 0, 6, 1), (3, 0, 13))
    for n in range(ROUNDS * 2):
        data = mutate(r, DEVICE_TLV if n % 2 else DEVICE_TLV[3:])
        _only_model_errors(tlv.decode, data, bases[n % len(bases)], _typeof)
        _only_model_errors(tlv.parse, data)


def test_json_decoders():
    r = Rng(0xBADC0DE)
    for n in range(ROUNDS):
        _only_model_errors(senml.decode, mutate(r, SENML), (3, 0), _typeof)
        _only_model_errors(senml.decode, mutate(r, OLDJSON), (3, 0), _typeof, LWM2M_JSON)
        _only_model_errors(senml.parse_params, mutate(r, b'{"power":200,"t":"18.5"}'))


def test_link_format_text_paths_queries():
    r = Rng(0xC0FFEE)
    from andlink.lwm2m.codes import T_STRING, T_INT, T_UINT, T_FLOAT, T_BOOL, T_OPAQUE, T_TIME, T_OBJLNK
    for n in range(ROUNDS):
        _only_model_errors(linkfmt.decode, mutate(r, LINKS))
        for typ, good in ((T_INT, b"-1234"), (T_UINT, b"99"), (T_FLOAT, b"-4.5e3"), (T_BOOL, b"1"),
                          (T_OPAQUE, b"AQIDBAU="), (T_TIME, b"1367491215"), (T_OBJLNK, b"3:0"),
                          (T_STRING, b"x")):
            _only_model_errors(text.decode, typ, mutate(r, good))
        _only_model_errors(text.exec_args, mutate(r, b"0='a b',1,2='x'"))
        _only_model_errors(P.parse, mutate(r, b"/3/0/11/0"))
        _only_model_errors(attrs.parse, mutate(r, b"pmin=10&pmax=60&gt=50.5&lt=1&st=2"))


def test_store_answers_every_request_with_a_code():
    r = Rng(0x5EED)
    s = Store()
    s.add(1, 0, {0: 1, 1: 86400, 6: True, 7: "U"})
    s.add(3, 0, {0: "x", 6: {0: 1}, 11: {0: 0}, 16: "U"})
    s.add(2, 0, {0: 1, 1: 0, 3: 1})
    s.bind(3, 4, execute=lambda iid, args: None)
    paths = ("/3/0", "/3", "/3/0/13", "/3/0/6", "/3/0/6/0", "/1/0/1", "/2", "/2/0", "/0/0", "/3/0/4", "/")
    for n in range(ROUNDS):
        pth = paths[n % len(paths)]
        if r.below(4) == 0:
            pth = mutate(r, pth.encode())
        for cf, body in ((TLV, DEVICE_TLV[3:]), (SENML_JSON, SENML), (LWM2M_JSON, OLDJSON), (TEXT, b"60")):
            data = mutate(r, body)
            for code in (s.write(pth, cf, data), s.write(pth, cf, data, False), s.create(pth, cf, data)[0],
                         s.write(pth, cf, data, True, True)):
                assert isinstance(code, int) and code != INTERNAL_SERVER_ERROR, (pth, cf, data, code)
        for code in (s.execute(pth, mutate(r, b"0='a'")), s.write_attributes(pth, mutate(r, b"pmin=1&gt=2")),
                     s.read(pth, (None, TEXT, TLV, SENML_JSON, LWM2M_JSON, 40, 65535)[r.below(7)])[0],
                     s.discover(pth)[0]):
            assert isinstance(code, int) and code != INTERNAL_SERVER_ERROR, (pth, code)
        if n % 40 == 39:
            s.delete("/2/1")
