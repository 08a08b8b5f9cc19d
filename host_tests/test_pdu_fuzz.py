"""Property tests of the SMS PDU codec (lib/wmmp/modem/pdu.py; PROTOCOL.md 9, 3GPP TS
23.040 / 23.038).  CPython + hypothesis.

- decode raises nothing but WmmpError subclasses on random bytes, random hex
  text, and mutated / truncated valid PDUs (with and without the SMSC part);
- SMS-SUBMIT and SMS-DELIVER round trips: random destination, 8-bit data up to
  140 octets, optional header, VP, SMSC; 7-bit text and UCS2 text round trips;
- the AT+CMGS count is always the PDU size minus the SMSC part (MODEMS.md);
- 8-bit data over 140 octets is always TooLongForBearer.
"""
from hypothesis import HealthCheck, given, settings, strategies as st

from wmmp.modem import pdu as P, pdufields as PF
from wmmp.errors import TooLongForBearer, WmmpError

SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

digits = st.text(alphabet="0123456789", min_size=1, max_size=20)
numbers = st.one_of(digits, digits.map(lambda d: "+" + d))
smscs = st.one_of(st.none(), numbers)
times = st.tuples(st.integers(1980, 2079), st.integers(1, 12), st.integers(1, 31), st.integers(0, 23),
                  st.integers(0, 59), st.integers(0, 59), st.integers(-79, 79))
vps = st.one_of(st.none(), st.integers(0, 635040), times, st.binary(min_size=7, max_size=7))
gsm_chars = [c for c in PF._GSM7 if c != "\x1b"] + list(PF._EXT.values())
gsm_text = st.text(alphabet=gsm_chars, max_size=80)
ucs2_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=35)
ies = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=6)), max_size=3)
udhs = st.one_of(st.none(), ies.map(lambda l: b"".join(bytes((i, len(v))) + v for i, v in l)))


def _decode_only_wmmp_errors(raw, has_smsc):
    try:
        P.decode(raw, has_smsc=has_smsc)
    except WmmpError:
        pass


@SETTINGS
@given(st.binary(max_size=200), st.booleans())
def test_random_bytes_only_wmmp_errors(raw, has_smsc):
    _decode_only_wmmp_errors(raw, has_smsc)


@SETTINGS
@given(st.text(alphabet="0123456789abcdefABCDEF \r\n\tXg+", max_size=120))
def test_random_hex_text_only_wmmp_errors(text):
    try:
        P.decode(text)
    except WmmpError:
        pass


@st.composite
def submits(draw):
    dest = draw(numbers)
    udh = draw(udhs)
    room = P.UD_MAX_OCTETS - (len(udh) + 1 if udh is not None else 0)
    data = draw(st.binary(max_size=room))
    kw = dict(smsc=draw(smscs), mr=draw(st.integers(0, 255)), vp=draw(vps), srr=draw(st.booleans()),
              udh=udh, pid=draw(st.integers(0, 255)), rd=draw(st.booleans()),
              dcs=draw(st.sampled_from([0x04, 0x14, 0x15, 0x16, 0x17, 0xF4, 0xF5, 0xF6, 0xF7, 0x44])))
    return dest, data, kw


@SETTINGS
@given(submits())
def test_submit_round_trip(case):
    dest, data, kw = case
    pdu, n = P.encode_submit(dest, data, **kw)
    sc = pdu[0] + 1
    assert n == len(pdu) - sc
    s = P.decode(pdu, tpdu_len=n)
    assert s.type == "submit" and s.destination == dest and s.data == data
    assert s.smsc == kw["smsc"] and s.mr == kw["mr"] and s.pid == kw["pid"] and s.dcs == kw["dcs"]
    assert s.srr == kw["srr"] and s.rd == kw["rd"]
    assert s.udh == kw["udh"] and s.udhi == (kw["udh"] is not None)
    vp = kw["vp"]
    if isinstance(vp, int):
        assert s.vp >= vp and PF.vp_octet(s.vp) == PF.vp_octet(vp)
    elif isinstance(vp, tuple):
        assert s.vp == vp
    else:
        assert s.vp == vp
    # the TPDU alone decodes the same
    assert P.decode(pdu[sc:], has_smsc=False).data == data


@SETTINGS
@given(numbers, st.binary(max_size=140), times, smscs, st.booleans())
def test_deliver_round_trip_and_filter(orig, data, t, smsc, more):
    pdu, n = P.encode_deliver(orig, data, t, smsc=smsc, more_messages=more)
    s = P.decode(pdu, tpdu_len=n)
    assert s.type == "deliver" and s.originator == orig and s.scts == t and s.data == data
    assert s.more_messages == more and s.smsc == smsc
    assert P.is_wmmp(s, [orig]) == (P.normalise_number(orig) != "")


@SETTINGS
@given(gsm_text, udhs)
def test_gsm7_round_trip(text, udh):
    try:
        pdu, _ = P.encode_submit("10086", text, dcs=0, udh=udh)
    except TooLongForBearer:
        hdr = len(udh) + 1 if udh is not None else 0
        assert (hdr * 8 + 6) // 7 + len(PF.gsm_encode(text)) > 160
        return
    s = P.decode(pdu)
    assert s.data == text and s.udh == udh


@SETTINGS
@given(ucs2_text)
def test_ucs2_round_trip(text):
    try:
        pdu, _ = P.encode_submit("10086", text, dcs=0x08)
    except TooLongForBearer:
        assert len(PF.ucs2_encode(text)) > 140
        return
    assert P.decode(pdu).data == text


@SETTINGS
@given(submits(), st.data())
def test_mutated_and_truncated_only_wmmp_errors(case, data):
    dest, payload, kw = case
    pdu = bytearray(P.encode_submit(dest, payload, **kw)[0])
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(pdu) - 1))
        pdu[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(pdu)))
    _decode_only_wmmp_errors(bytes(pdu[:cut]), True)
    _decode_only_wmmp_errors(bytes(pdu[1:cut]), False)


@SETTINGS
@given(st.binary(min_size=141, max_size=300))
def test_over_140_octets_rejected(data):
    try:
        P.encode_submit("+8613800000001", data)
    except TooLongForBearer:
        return
    raise AssertionError("accepted %d octets" % len(data))
