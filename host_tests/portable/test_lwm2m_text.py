"""Plain text and opaque single values (OMA LwM2M TS 1.1 section 7.3; TS 1.0
section 6.4.1; And-link spec sections 3.6, 6.5.4, 6.6.4), base64 (RFC 4648),
Execute arguments (TS 1.1 section 5.4.5; And-link spec section 4.5), and CoRE
link format (RFC 6690; And-link spec section 6.3.4).  Portable."""
from andlink.lwm2m import text as T
from andlink.lwm2m import linkfmt as L
from andlink.lwm2m.codes import (DecodeError, EncodeError, T_STRING, T_INT, T_UINT, T_FLOAT, T_BOOL,
                                 T_OPAQUE, T_TIME, T_OBJLNK, T_JSON, T_NONE)


def _raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return
    assert False, (fn, args)


def test_plain_text_encodings_of_each_type():
    # And-link 6.5.4: Read /3/0/3 in text/plain answers "1.0.0"; 6.6.4 writes lifetime "60"
    assert T.encode(T_STRING, "1.0.0") == b"1.0.0"
    assert T.encode(T_STRING, "\u4e2d") == "\u4e2d".encode()
    assert T.encode(T_INT, 60) == b"60" and T.encode(T_INT, -5) == b"-5"
    assert T.encode(T_TIME, 1367491215) == b"1367491215"
    assert T.encode(T_UINT, (1 << 64) - 1) == b"18446744073709551615"
    assert T.encode(T_FLOAT, 56.4) == b"56.4" and T.encode(T_FLOAT, 3) == b"3.0"
    assert T.encode(T_BOOL, True) == b"1" and T.encode(T_BOOL, False) == b"0"
    assert T.encode(T_OBJLNK, (66, 0)) == b"66:0"
    assert T.encode(T_OPAQUE, b"\x01\x02\x03\x04\x05") == b"AQIDBAU="        # TS 1.1: base64
    assert T.encode(T_JSON, '{"power":200}') == b'{"power":200}'
    _raises(EncodeError, T.encode, T_NONE, None)
    _raises(EncodeError, T.encode, T_FLOAT, float("inf"))


def test_plain_text_decodings_are_strict():
    assert T.decode(T_INT, b"60") == 60 and T.decode(T_INT, b"-128") == -128
    assert T.decode(T_UINT, b"18446744073709551615") == (1 << 64) - 1
    assert T.decode(T_FLOAT, b"-43.5723") == -43.5723 and T.decode(T_FLOAT, b"1e3") == 1000.0
    assert T.decode(T_FLOAT, b"7") == 7.0
    assert T.decode(T_BOOL, b"1") is True and T.decode(T_BOOL, b"0") is False
    assert T.decode(T_OBJLNK, b"3:0") == (3, 0)
    assert T.decode(T_OPAQUE, b"AQIDBAU=") == b"\x01\x02\x03\x04\x05"
    assert T.decode(T_STRING, b"+02:00") == "+02:00"
    for typ, bad in ((T_INT, b""), (T_INT, b" 1"), (T_INT, b"1 "), (T_INT, b"+1"), (T_INT, b"1_0"),
                     (T_INT, b"1.0"), (T_INT, b"0x10"), (T_INT, b"-"), (T_INT, b"9223372036854775808"),
                     (T_UINT, b"-1"), (T_UINT, b"18446744073709551616"), (T_TIME, b"abc"),
                     (T_FLOAT, b"nan"), (T_FLOAT, b"inf"), (T_FLOAT, b"1e999"), (T_FLOAT, b""),
                     (T_FLOAT, b"."), (T_FLOAT, b"1e"), (T_FLOAT, b"+1"), (T_FLOAT, b"1,5"),
                     (T_BOOL, b"true"), (T_BOOL, b"2"), (T_BOOL, b""), (T_OBJLNK, b"3"),
                     (T_OBJLNK, b"3:x"), (T_OBJLNK, b"65536:0"), (T_OPAQUE, b"!,-INVALID$_'"),
                     (T_OPAQUE, b"A"), (T_STRING, b"\xff\xfe"), (T_NONE, b"")):
        _raises(DecodeError, T.decode, typ, bad)


def test_base64_both_alphabets():
    data = bytes(range(256))
    std = T.b64encode(data)
    url = T.b64encode(data, True)
    assert "=" in std and "=" not in url and "+" not in url and "/" not in url
    assert T.b64decode(std) == data and T.b64decode(url) == data
    assert T.b64encode(b"") == "" and T.b64decode("") == b""
    assert T.b64encode(b"\xfb\xff", True) == "-_8"


def test_execute_arguments():
    # TS 1.1 5.4.5 grammar; And-link 4.5 writes 0=0,1='100' (unquoted value accepted)
    assert T.exec_args(b"") == []
    assert T.exec_args(b"0") == [(0, None)]
    assert T.exec_args(b"0=0,1='100'") == [(0, "0"), (1, "100")]
    assert T.exec_args(b"2='a,b c',5") == [(2, "a,b c"), (5, None)]
    assert T.exec_args(b"9=''") == [(9, "")]
    for bad in (b"a", b"0,", b"0=", b"0='x", b"0;1", b"10", b"0,0", b"0=x'y", b",0", b"0='a'b"):
        _raises(DecodeError, T.exec_args, bad)


def test_link_format_registration_payload():
    # And-link 6.3.4: </>;rt="oma.lwm2m", </1/0>, </3/0>, ... (spaces tolerated on input)
    raw = b'</>;rt="oma.lwm2m", </1/0>, </3/0>, </4/0>, </5/0>, </6/0>, </7/0>'
    links = L.decode(raw)
    assert links[0] == ("/", [("rt", "oma.lwm2m")])
    assert [u for u, _ in links[1:]] == ["/1/0", "/3/0", "/4/0", "/5/0", "/6/0", "/7/0"]
    out = L.encode(links)
    assert out == b'</>;rt="oma.lwm2m",</1/0>,</3/0>,</4/0>,</5/0>,</6/0>,</7/0>'
    assert L.decode(out) == links


def test_link_format_attributes():
    links = [("/3", [("ver", "1.1"), ("pmin", 10)]), ("/3/0/7", [("dim", 2), ("gt", 50), ("lt", 42.2)]),
             ("/3/0/9", [("st", 0.5), ("pmax", 60)]), ("/x", [("title", 'a "b";c,d'), ("flag", None)])]
    out = L.encode(links)
    assert out == (b'</3>;ver=1.1;pmin=10,</3/0/7>;dim=2;gt=50;lt=42.2,</3/0/9>;st=0.5;pmax=60,'
                   b'</x>;title="a \\"b\\";c,d";flag')
    back = L.decode(out)
    assert back[1] == ("/3/0/7", [("dim", "2"), ("gt", "50"), ("lt", "42.2")])
    assert back[3] == ("/x", [("title", 'a "b";c,d'), ("flag", None)])
    assert L.num(50.0) == "50" and L.num(42.2) == "42.2" and L.num(-3) == "-3"
    assert L.decode(b"") == [] and L.decode(b"  ") == []


def test_link_format_malformed():
    for bad in (b"/1/0", b"<", b"</1/0", b"</1/0>x", b"</1/0>;", b"</1/0>;=3", b'</1/0>;a="x', b"</1/0>,",
                b"</1/0>;a=", b"</1/0>,,</2>", b"<</1>", b"\xff", b'</1>;a="x"y'):
        _raises(DecodeError, L.decode, bad)
