"""CoAP messages as bytes (RFC 7252 section 3, 3.1, 3.2, 4.1, 12): header,
token, options with delta/length extensions, payload marker; typed errors on
malformed input, never a crash (random and mutated input).  The transmission
parameters of And-link spec section 3.4.  Portable."""

from andlink import coap as C


def _raises(exc, f, *args):
    try:
        f(*args)
    except exc as e:
        return e
    raise AssertionError("%s not raised" % exc.__name__)


class _Rand:
    """xorshift32: the same sequence on every port."""

    def __init__(self, seed):
        self.s = seed or 1

    def next(self):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s

    def bytes(self, n):
        return bytes(self.next() & 0xFF for _ in range(n))


def h(s):
    return bytes(int(s[i:i + 2], 16) for i in range(0, len(s), 2))


def test_header_token_and_options_wellknown_core():
    # RFC 7252 3: Ver 1, T CON, TKL 0, GET, mid 1234; 3.1: Uri-Path delta 11 len 11, then delta 0.
    raw = h("400104d2bb2e77656c6c2d6b6e6f776e04636f7265")
    m = C.decode(raw)
    assert (m.mtype, m.code, m.mid, m.token, m.payload) == (C.CON, C.GET, 1234, b"", b"")
    assert m.path == "/.well-known/core" and m.is_request and not m.is_response
    assert C.encode(C.Message(C.CON, C.GET, 1234).set_path("/.well-known/core")) == raw


def test_header_fields_and_payload_marker():
    # RFC 7252 3: first byte Ver(2) T(2) TKL(4); code class.detail; mid big-endian; 0xFF marker.
    m = C.Message(C.ACK, C.CONTENT, 0xBEEF, b"\x01\x02\x03", b"22.5").add(C.CONTENT_FORMAT, C.TEXT_PLAIN)
    raw = C.encode(m)
    assert raw[0] == 0x63 and raw[1] == 0x45 and raw[2:4] == b"\xbe\xef" and raw[4:7] == b"\x01\x02\x03"
    assert raw[7] == 0xC0                          # Content-Format 12, length 0 (uint 0)
    assert raw[8] == 0xFF and raw[9:] == b"22.5"
    assert C.code_str(m.code) == "2.05" and C.code_str(C.CONTINUE) == "2.31"
    d = C.decode(raw)
    assert d.content_format == 0 and d.payload == b"22.5" and d.is_response
    assert C.encoded_size(m) == len(raw)
    # no payload: no marker
    assert C.encode(C.Message(C.NON, C.CHANGED, 1)) == h("50440001")


def test_option_delta_and_length_extensions():
    # RFC 7252 3.1: 13 -> one extension byte (value - 13), 14 -> two (value - 269), both
    # for the delta and for the length.
    m = C.Message(C.CON, C.PUT, 7)
    m.add(C.URI_PATH, "a" * 12)         # delta 11, length 12: no extension
    m.add(C.SIZE1, 1)                   # delta 49: 13 + 36
    m.add(300, b"x" * 13)               # delta 240: 13 + 227; length 13: 13 + 0
    m.add(2000, b"y" * 269)             # delta 1700: 14 + 1431; length 269: 14 + 0
    raw = C.encode(m)
    i = 4
    assert raw[i] == 0xBC and raw[i + 1:i + 13] == b"a" * 12
    i += 13
    assert raw[i] == 0xD1 and raw[i + 1] == 36 and raw[i + 2] == 1
    i += 3
    assert raw[i] == 0xDD and raw[i + 1] == 227 and raw[i + 2] == 0
    i += 3 + 13
    assert raw[i] == 0xEE and raw[i + 1:i + 3] == bytes((1431 >> 8, 1431 & 255)) and raw[i + 3:i + 5] == b"\x00\x00"
    d = C.decode(raw)
    assert d.options == m.options and C.encode(d) == raw


def test_uint_option_values():
    # RFC 7252 3.2: uint big-endian, shortest form, 0 as a zero-length value.
    assert C.uint_bytes(0) == b"" and C.uint_bytes(255) == b"\xff" and C.uint_bytes(256) == b"\x01\x00"
    assert C.uint_bytes(0xFFFFFFFF) == b"\xff\xff\xff\xff"
    _raises(C.CoapError, C.uint_bytes, 1 << 32)
    assert C.uint_value(b"") == 0 and C.uint_value(b"\x00\x01") == 1
    m = C.Message().add(C.MAX_AGE, b"\x01\x02\x03\x04\x05")
    _raises(C.BadOption, m.uint, C.MAX_AGE)
    m = C.Message(code=C.GET).add(C.ACCEPT, C.LWM2M_TLV).add(C.OBSERVE, 0)
    assert m.get(C.ACCEPT) == b"\x2d\x16" and m.uint(C.ACCEPT) == 11542 and m.observe == 0
    assert m.uint(C.SIZE2) is None and m.uint(C.SIZE2, 7) == 7


def test_options_kept_in_number_order_repeats_in_order_added():
    # RFC 7252 3.1: options in ascending number order; Uri-Path segments keep their order.
    m = C.Message(C.CON, C.POST)
    m.add(C.URI_QUERY, "ep=1").add(C.URI_PATH, "rd").add(C.CONTENT_FORMAT, 40).add(C.URI_PATH, "x")
    m.add(C.URI_QUERY, "lt=300").add(C.URI_HOST, "h")
    assert [n for n, _ in m.options] == [3, 11, 11, 12, 15, 15]
    assert m.path == "/rd/x" and m.queries == ["ep=1", "lt=300"]
    assert C.decode(C.encode(m)).options == m.options
    m.set(C.URI_QUERY, "b=U")
    assert m.queries == ["b=U"] and m.has(C.URI_HOST) and not m.has(C.ETAG)
    m.set_path("/5/0/1")
    assert m.get_all(C.URI_PATH) == [b"5", b"0", b"1"]
    m.set_path("/a", C.LOCATION_PATH)
    assert m.strs(C.LOCATION_PATH) == ["a"]
    assert C.Message().path == "/"


def test_content_formats_and_option_numbers():
    # RFC 7252 12.2, 12.3; LwM2M TLV/JSON; SenML (RFC 8428); Observe RFC 7641; Block RFC 7959.
    assert (C.TEXT_PLAIN, C.LINK_FORMAT, C.OCTET_STREAM, C.SENML_JSON, C.SENML_CBOR) == (0, 40, 42, 110, 112)
    assert (C.LWM2M_TLV, C.LWM2M_JSON) == (11542, 11543)
    assert (C.IF_MATCH, C.ETAG, C.OBSERVE, C.LOCATION_PATH, C.URI_PATH, C.CONTENT_FORMAT) == (1, 4, 6, 8, 11, 12)
    assert (C.URI_QUERY, C.ACCEPT, C.BLOCK2, C.BLOCK1, C.SIZE2, C.SIZE1) == (15, 17, 23, 27, 28, 60)


def test_empty_message():
    # RFC 7252 4.1: code 0.00 and exactly the 4-byte header.
    raw = C.encode(C.Message(C.ACK, C.EMPTY, 0x1234))
    assert raw == h("60001234") and C.decode(raw).is_empty
    e = _raises(C.FormatError, C.decode, h("61001234aa"))
    assert e.mid == 0x1234 and e.mtype == C.ACK
    _raises(C.FormatError, C.decode, h("60001234ff00"))
    _raises(C.CoapError, C.encode, C.Message(C.ACK, C.EMPTY, 1, b"t"))


def test_truncated_input():
    for raw in (b"", b"\x40", b"\x40\x01\x00"):
        e = _raises(C.Truncated, C.decode, raw)
        assert e.mid is None
    e = _raises(C.Truncated, C.decode, h("42010001aa"))         # token of 2, 1 there
    assert (e.mtype, e.mid) == (C.CON, 1)
    _raises(C.Truncated, C.decode, h("40010001d0"))             # delta 13 without its byte
    _raises(C.Truncated, C.decode, h("40010001e001"))           # delta 14 with one byte of two
    _raises(C.Truncated, C.decode, h("400100010d"))             # length 13 without its byte
    _raises(C.Truncated, C.decode, h("40010001b3616263"[:-2]))  # value of 3, 2 there


def test_format_errors():
    # RFC 7252 3: TKL 9-15 reserved, marker with no payload; 3.1: nibble 15 (not as the
    # marker) is a format error; option numbers are 16-bit.
    for tkl in range(9, 16):
        e = _raises(C.FormatError, C.decode, bytes((0x50 | tkl, 1, 0, 9)) + bytes(16))
        assert e.mtype == C.NON and e.mid == 9
    _raises(C.FormatError, C.decode, h("40010001ff"))
    _raises(C.FormatError, C.decode, h("40010001f1"))           # delta 15, length 1
    _raises(C.FormatError, C.decode, h("400100011f"))           # length 15
    _raises(C.FormatError, C.decode, h("40010001e0fef3"))       # 0xfef3 + 269 = 65536
    e = _raises(C.BadVersion, C.decode, h("80010001"))
    assert e.mid == 1
    _raises(C.CoapError, C.encode, C.Message(C.CON, C.GET, 1, b"123456789"))
    _raises(C.CoapError, C.encode, C.Message(C.CON, C.GET, 0x10000))
    m = C.Message(C.CON, C.GET, 1)
    m.options = [(12, b""), (11, b"")]
    _raises(C.CoapError, C.encode, m)


def test_encode_into_preallocated_buffer_and_views():
    buf = bytearray(64)
    m = C.Message(C.CON, C.PUT, 5, b"tk", b"payload").set_path("/3/0")
    n = C.encode_into(m, buf, 2)
    assert bytes(buf[2:2 + n]) == C.encode(m)
    _raises(C.CoapError, C.encode_into, m, bytearray(10))
    d = C.decode(memoryview(buf)[2:2 + n], True)
    assert isinstance(d.payload, memoryview) and bytes(d.payload) == b"payload" and d.path == "/3/0"
    assert bytes(d.token) == b"tk"


def test_params_andlink_section_3_4_and_rfc_lifetimes():
    p = C.ANDLINK
    assert (p.ack_timeout, p.ack_random_factor, p.max_retransmit, p.max_transmit_wait) == (5, 1.5, 4, 93)
    assert (p.max_payload, p.block_size, p.block_lifetime) == (1024, 512, 300)
    # RFC 7252 4.8.2 from And-link's ACK_TIMEOUT 5: span 5*15*1.5, lifetime + 2*100 + 5
    assert p.max_transmit_span() == 112.5 and p.exchange_lifetime() == 317.5 and p.non_lifetime() == 212.5
    # the RFC's own defaults give its figures: 45, 247, 145
    r = C.Params(ack_timeout=2)
    assert (r.max_transmit_span(), r.exchange_lifetime(), r.non_lifetime()) == (45, 247, 145)


def test_random_bytes_never_crash():
    # Whatever arrives, decode returns a Message or raises a CoapError; a decoded
    # message encodes back to the same bytes.
    rnd = _Rand(0xC0A9)
    ok = 0
    for i in range(1500):
        raw = rnd.bytes(rnd.next() % 40)
        if i & 1 and raw:
            raw = bytes((0x40 | (raw[0] & 0x3F),)) + raw[1:]    # version 1: reach the options
        try:
            m = C.decode(raw)
        except C.CoapError:
            continue
        ok += 1
        assert C.encode(m) == raw
    assert ok > 50


def test_mutated_messages_never_crash():
    base = C.encode(C.Message(C.CON, C.POST, 0x7777, b"\x01\x02\x03\x04", b"</1/0>,</3/0>")
                    .set_path("/rd").add(C.URI_QUERY, "ep=869976032983322").add(C.CONTENT_FORMAT, 40)
                    .add(C.BLOCK1, 0x16).add(C.SIZE1, 1500))
    rnd = _Rand(77)
    for _ in range(1500):
        raw = bytearray(base)
        for _ in range(1 + rnd.next() % 3):
            raw[rnd.next() % len(raw)] = rnd.next() & 0xFF
        if rnd.next() & 1:
            raw = raw[:rnd.next() % len(raw)]
        try:
            m = C.decode(bytes(raw))
        except C.CoapError:
            continue
        for n, v in m.options:
            if n in C.UINT_OPTIONS:
                try:
                    m.uint(n)
                except C.BadOption:
                    pass
        assert C.decode(C.encode(m)).options == m.options
