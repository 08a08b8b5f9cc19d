"""Sub-packet split and reassembly (appendix F; TLV 0x4008 / E044; PROTOCOL.md 6).
Portable."""
import struct

from wmmp.wire import codec, commands as C, digest as D, subpacket as S
from wmmp.crypto import cipher as CI
from wmmp.wire import profile as P, tlv as T
from wmmp.errors import SubpacketError, TooLongForBearer

IMEI = "860000000000001"
IMSI = "460001234567890"
KEY = D.DigestKey(IMEI, IMSI, "Up123456", 1700000000)


def _trap(n):
    # ~n bytes of statistics TLVs (appendix E d counters, 4 bytes each)
    return codec.Message(C.CONFIG_TRAP, tlvs=[(0x2008 + (i % 4), struct.pack(">I", i)) for i in range(n // 8)],
                         serial=b"M2MMAKER00000001")


def test_chunk_sizes_per_bearer():
    # Appendix E a / PROTOCOL.md 9: TLV value <= 100 (SMS) or 1024 (packet); a whole SMS
    # message <= 140.  Sub-packet value = 7-byte sub-header + data.
    assert S.chunk_size(P.DEFAULT, P.BEARER_PACKET, digest=True) == 1017
    # SMS: 140 - 28 header - 4 TLV header - 7 sub-header - 20 digest = 81 (< 100-7)
    assert S.chunk_size(P.DEFAULT, P.BEARER_SMS, digest=True) == 81
    assert S.chunk_size(P.DEFAULT, P.BEARER_SMS, digest=False) == 93


def test_split_and_reassemble_over_sms():
    # Appendix F b-d, f: content cut in order (a TLV may straddle chunks), every
    # sub-packet keeps the command, sets bit 0x10, takes its own seq and digest;
    # the command runs only once all have arrived.
    m = _trap(250)
    assert not S.fits(m, P.DEFAULT, P.BEARER_SMS)
    sp = S.Splitter(m, 0x1234, P.DEFAULT, P.BEARER_SMS, digest=True)
    content = codec.encode_content(m)
    assert sp.total == (len(content) + 80) // 81
    wires = [codec.encode(sp.message(i, seq=100 + i), P.DEFAULT, P.BEARER_SMS, key=KEY)
             for i in range(1, sp.total + 1)]
    for i, w in enumerate(wires):
        assert len(w) <= 140 and w[26] & 0x30 == 0x30
        assert struct.unpack(">HI", w[20:26]) == (C.CONFIG_TRAP, 101 + i)
    r = None
    for w in reversed(wires):      # out of order arrival
        d = codec.decode(w, P.DEFAULT, P.BEARER_SMS, key=KEY)
        assert d.digest_ok and d.subpacket.trans_id == 0x1234 and d.subpacket.op == S.OP_DATA
        if r is None:
            r = S.Reassembler(d.command, d.subpacket)
            assert not r.complete
        else:
            r.add(d.subpacket)
    assert r.complete and r.next_wanted() is None
    assert r.content() == content
    out = r.message()
    assert out.command == C.CONFIG_TRAP and out.tlvs == m.tlvs


def test_requests_and_retransmission():
    # PROTOCOL.md 6: the receiver names the next index it wants (op 0x01); a repeated
    # sub-packet (retransmission) is harmless; a different one is refused.
    m = _trap(400)
    sp = S.Splitter(m, 7, P.DEFAULT, P.BEARER_SMS)
    r = S.Reassembler(C.CONFIG_TRAP, sp.subpacket(1))
    req = r.request()
    assert (req.op, req.index, req.trans_id) == (S.OP_REQUEST, 2, 7)
    got = sp.answer(req)
    assert got.index == 2
    r.add(got)
    r.add(got)                     # duplicate: accepted
    assert r.missing() == list(range(3, sp.total + 1))
    forged = codec.Subpacket(7, sp.total, 2, 0, b"x" + got.data[1:])
    try:
        r.add(forged)
        assert False
    except SubpacketError:
        pass
    # the request travels as a 0x4008 TLV with no data in an otherwise empty ACK
    ack = codec.Message(C.CONFIG_TRAP_ACK, seq=5)
    ack.subpacket = req
    raw = codec.encode(ack)
    assert raw[28:] == struct.pack(">HHHHHB", 0x4008, 7, 7, sp.total, 2, 1)
    d = codec.decode(raw)
    assert d.subpacket.op == S.OP_REQUEST and d.subpacket.index == 2 and d.fields == {}


def test_aborts_both_ways():
    # Appendix E 0x4008 op 0x02 (sender abort) and 0x03 (receiver abort).
    m = _trap(300)
    sp = S.Splitter(m, 9, P.DEFAULT, P.BEARER_SMS)
    r = S.Reassembler(C.CONFIG_TRAP, sp.subpacket(1))
    try:
        r.add(sp.abort(1))
        assert False
    except SubpacketError:
        assert r.aborted and sp.aborted
    r2 = S.Reassembler(C.CONFIG_TRAP, sp.subpacket(1))
    ab = r2.abort()
    assert ab.op == S.OP_RECEIVER_ABORT and ab.index == 1
    try:
        sp.answer(ab)
        assert False
    except SubpacketError:
        pass


def test_inconsistent_sets_rejected():
    # Appendix F e: the responder detects a bad sub-packet and aborts the set.
    m = _trap(300)
    sp = S.Splitter(m, 3, P.DEFAULT, P.BEARER_SMS)
    first = sp.subpacket(1)
    cases = [codec.Subpacket(4, sp.total, 2, 0, b"ab"),                # other transaction
             codec.Subpacket(3, sp.total + 1, 2, 0, b"ab"),            # total changed
             codec.Subpacket(3, sp.total, 0, 0, b"ab"),                # index 0
             codec.Subpacket(3, sp.total, sp.total + 1, 0, b"ab"),     # index past total
             codec.Subpacket(3, sp.total, 2, 1, b""),                  # a request is not data
             codec.Subpacket(3, sp.total, 2, 0, b"ab", encrypted=True)]  # E044 mixed with 0x4008
    for bad in cases:
        r = S.Reassembler(C.CONFIG_TRAP, first)
        try:
            r.add(bad)
            assert False, bad
        except SubpacketError:
            pass
    for total in (0,):
        try:
            S.Reassembler(C.CONFIG_TRAP, codec.Subpacket(1, total, 1, 0, b""))
            assert False
        except SubpacketError:
            pass


def test_reassembly_is_bounded():
    # A hostile peer cannot make the receiver hold more than max_bytes.
    r = S.Reassembler(C.CONFIG_TRAP, codec.Subpacket(1, 1000, 1, 0, bytes(60)), max_bytes=100)
    try:
        r.add(codec.Subpacket(1, 1000, 2, 0, bytes(60)))
        assert False
    except SubpacketError:
        pass


def test_encrypted_split_uses_e044():
    # Appendix F (last paragraph) / PROTOCOL.md 6: encrypt whole, then cut, carry in E044;
    # the receiver joins in order, then decrypts.
    ck = (CI.ALG_3DES, b"BaseKey3DES12345")
    m = codec.Message(C.TRANSPARENT_DATA, tlvs=[(0x4012, b"M2MMAKER00000002"), (0x4007, bytes(range(250)) * 4)])
    m.encryption = codec.ENC_FULL
    try:
        codec.encode(m, key=KEY, cipher=ck)
        assert False, "1026 bytes of content, padded to 1032, fit one packet TLV"
    except TooLongForBearer:
        pass
    sp = S.Splitter(m, 0xBEEF, digest=True, cipher=ck)
    assert sp.encrypted and sp.total == 2
    wires = [codec.encode(sp.message(i, seq=i), key=KEY) for i in (1, 2)]
    assert struct.unpack(">H", wires[0][28:30])[0] == 0xE044
    r = S.Reassembler(C.TRANSPARENT_DATA, codec.decode(wires[0], key=KEY).subpacket)
    assert r.add(codec.decode(wires[1], key=KEY).subpacket)
    out = r.message(cipher=ck)
    assert out.tlvs == m.tlvs and out.encryption == codec.ENC_FULL
