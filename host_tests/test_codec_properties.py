"""Property-based tests of the decoder and encoder (issue 2 "Bad input";
appendix A, E a, F; PROTOCOL.md 1, 3, 6).  CPython + hypothesis.

- decode never raises anything but WmmpError subclasses, on random bytes and on
  mutated valid messages; when it accepts, total_length equals the size;
- its memory is O(input) (tracemalloc peak bounded by a multiple of the size);
- encode -> decode is the identity on random valid messages, with and without
  digest, encryption and sub-packets.
"""
import struct
import tracemalloc

from hypothesis import HealthCheck, assume, given, settings, strategies as st

from wmmp.wire import codec, commands as C, digest as D, header as H, subpacket as S
from wmmp.crypto import cipher as CI
from wmmp.wire import profile as P
from wmmp.errors import WmmpError

KEY = D.DigestKey("860000000000001", "460001234567890", "Up123456", 1700000000)
RESERVED_TAGS = {0xE021, 0xE042, 0xE043, 0xE044, 0x4008}
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

tags = st.integers(0, 0xFFFF).filter(lambda t: t not in RESERVED_TAGS)
tlv_lists = st.lists(st.tuples(tags, st.binary(max_size=40)), max_size=12)


def _field_value(code):
    if code == "B":
        return st.integers(0, 0xFF)
    if code == "H":
        return st.integers(0, 0xFFFF)
    if code == "I":
        return st.integers(0, 0xFFFFFFFF)
    n = int(code[:-1])
    return st.binary(min_size=n, max_size=n)


@st.composite
def messages(draw):
    cmd = draw(st.sampled_from(C.all_commands()))
    fields = {}
    for name, code in C.layout(cmd):
        fields[name] = draw(_field_value(code))
    if cmd == C.FILE_REQ_ACK:
        block = draw(st.binary(max_size=64))
        fields["block"] = block
        fields["block_size"] = len(block)
    m = codec.Message(cmd, fields, draw(tlv_lists), serial=draw(st.binary(max_size=16)),
                      seq=draw(st.integers(0, 0xFFFFFFFF)),
                      security=draw(st.integers(0, 0xFF)) & ~0x30)
    return m


def _decode_only_wmmp_errors(data, **kw):
    try:
        m = codec.decode(data, **kw)
    except WmmpError:
        return None
    if not m.notice:
        assert m.total_length == len(data)
        assert struct.unpack(">H", data[:2])[0] == len(data)
    return m


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_wmmp_errors(data):
    _decode_only_wmmp_errors(data)
    _decode_only_wmmp_errors(data, bearer=P.BEARER_SMS, key=KEY, cipher=(CI.ALG_AES, b"K" * 16))


@SETTINGS
@given(messages(), st.data())
def test_mutated_messages_only_raise_wmmp_errors(m, data):
    raw = bytearray(codec.encode(m, key=KEY if data.draw(st.booleans()) else None))
    kind = data.draw(st.sampled_from(["flip", "truncate", "extend", "length", "tlvlen", "splice"]))
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "truncate":
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    elif kind == "extend":
        raw += data.draw(st.binary(min_size=1, max_size=20))
    elif kind == "length":
        struct.pack_into(">H", raw, 0, data.draw(st.integers(0, 0xFFFF)))
    elif kind == "tlvlen" and len(raw) > 32:
        i = data.draw(st.integers(28, len(raw) - 2))
        struct.pack_into(">H", raw, i, data.draw(st.integers(0, 0xFFFF)))
    else:
        i = data.draw(st.integers(0, len(raw)))
        raw[i:i] = data.draw(st.binary(max_size=30))
    _decode_only_wmmp_errors(bytes(raw), key=KEY, cipher=(CI.ALG_3DES, b"BaseKey3DES12345"))


@SETTINGS
@given(messages(), st.booleans())
def test_encode_decode_round_trip(m, with_digest):
    key = KEY if with_digest else None
    try:
        raw = codec.encode(m, key=key)
    except WmmpError:
        assume(False)      # e.g. too long for the bearer
    d = codec.decode(raw, key=key)
    assert d.command == m.command and d.seq == m.seq and d.serial == m.serial
    assert d.security == (m.security | (0x20 if with_digest else 0))
    expect = dict(m.fields)
    assert d.fields == expect
    assert d.tlvs == m.tlvs
    assert d.digest_ok is (True if with_digest else None)
    assert codec.encode(d, key=key) == raw


@SETTINGS
@given(messages(), st.sampled_from([CI.ALG_DES, CI.ALG_3DES, CI.ALG_AES]), st.binary(min_size=32, max_size=32))
def test_full_encryption_round_trip(m, alg, keybytes):
    key = keybytes[:{CI.ALG_DES: 8, CI.ALG_3DES: 16, CI.ALG_AES: 16}[alg]]
    m.encryption = codec.ENC_FULL
    try:
        raw = codec.encode(m, key=KEY, cipher=(alg, key))
    except WmmpError:
        assume(False)
    d = codec.decode(raw, key=KEY, cipher=(alg, key))
    assert d.digest_ok and d.fields == m.fields and d.tlvs == m.tlvs


@SETTINGS
@given(st.lists(st.tuples(tags, st.binary(max_size=300)), min_size=1, max_size=8),
       st.sampled_from([P.BEARER_SMS, P.BEARER_PACKET]), st.randoms())
def test_subpacket_split_reassemble_any_order(tlvs, bearer, rnd):
    m = codec.Message(C.CONFIG_TRAP, tlvs=tlvs)
    sp = S.Splitter(m, rnd.randint(0, 0xFFFF), P.DEFAULT, bearer, digest=True)
    order = list(range(1, sp.total + 1))
    rnd.shuffle(order)
    r = None
    for i in order:
        raw = codec.encode(sp.message(i, seq=i), P.DEFAULT, bearer, key=KEY)
        assert len(raw) <= P.DEFAULT.message_max(bearer)
        got = codec.decode(raw, P.DEFAULT, bearer, key=KEY)
        assert got.digest_ok
        if r is None:
            r = S.Reassembler(got.command, got.subpacket)
        else:
            r.add(got.subpacket)
    assert r.complete
    assert r.message().tlvs == tlvs


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 4000), st.integers(0, 60))
def test_decode_memory_is_linear(user_len, ntlv):
    # No quadratic copying: peak traced allocation of decode stays within a fixed
    # multiple of the message size plus a constant per TLV.
    tlvs = [(0x3007, b"\x01")] * ntlv + [(0x4007, bytes(min(user_len, 1024)))]
    raw = codec.encode(codec.Message(C.TRANSPARENT_DATA, tlvs=tlvs), key=KEY)
    tracemalloc.start()
    codec.decode(raw, key=KEY)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak <= 3 * len(raw) + 400 * (ntlv + 1) + 8192, (peak, len(raw))


def test_header_echo_is_the_only_length_exception():
    # Table A-2 bit 8 notice: 28 bytes, feedback bit set; any other size mismatch fails.
    hdr = H.Header(C.LOGIN, b"S", 1, 0, 0x0300, 100).pack()
    for sec in (0x01, 0x02, 0x04, 0x08):
        assert codec.decode(hdr[:26] + bytes([sec, 0])).notice
    try:
        codec.decode(hdr)
        assert False
    except WmmpError:
        pass
