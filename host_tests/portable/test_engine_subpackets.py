"""Engine sub-packets both ways and memory-overflow notices (appendix F; TLV
0x4008 / E044; table A-2 bit 8; PROTOCOL.md 6).  Portable."""
import struct

from wmmp.terminal import engine as E
from wmmp.wire import commands as C, codec, subpacket as S, header as H
from wmmp.wire import profile as P
import fakeplatform as F
from test_engine_online import online

SMS = P.BEARER_SMS


def _big_trap_tlvs():
    return [(0x2013, bytes(range(80))), (0x2014, bytes(range(80))), (0x2017, bytes(96))]


def test_request_too_long_for_sms_goes_in_subpackets():
    # Appendix F b-d: content cut into sub-packets (bit 0x10, own seq each); every
    # ACK names the next index (0x4008 op 0x01); the last ACK is the real answer.
    t, pf, clk = online()
    t._bearer = SMS
    acked = []
    t.report(_big_trap_tlvs(), clk.t)
    r = None
    for _ in range(10):
        out = t.outgoing()
        if not out:
            break
        b, raw = F.only(out)
        assert b == SMS and len(raw) <= 140 and raw[26] & H.SEC_FULL_OR_SUBPACKET
        m = pf.read(raw, SMS)
        sp = m.subpacket
        if r is None:
            r = S.Reassembler(m.command, sp)
        else:
            r.add(sp)
        if r.complete:
            whole = r.message()
            assert whole.tlvs == _big_trap_tlvs()
            t.receive(pf.ack(m, {"result": 0}, bearer=SMS, digest=False), SMS, clk.advance(1))
            acked.append(True)
            break
        ack = codec.Message(C.CONFIG_TRAP_ACK, serial=pf.serial, seq=m.seq)
        ack.subpacket = r.request()
        t.receive(codec.encode(ack, P.DEFAULT, SMS), SMS, clk.advance(1))
    assert acked and r.total >= 3
    assert ("timeout",) not in [e[:1] for e in t.events()]


def test_encrypted_request_split_into_e044():
    # Appendix F last paragraph: encrypted whole, then cut, carried in E044.
    p = F.provisioned_params()
    p.set(0xE032, b"\x01")
    t, pf, clk = online(p)
    t.report([(0x2017, bytes(600)), (0x2018, bytes(500))], clk.t)
    m1 = pf.read(F.only(t.outgoing())[1])
    assert m1.subpacket.encrypted and m1.subpacket.index == 1 and m1.digest_ok
    r = S.Reassembler(m1.command, m1.subpacket)
    ack = codec.Message(C.CONFIG_TRAP_ACK, serial=pf.serial, seq=m1.seq)
    ack.subpacket = r.request()
    t.receive(codec.encode(ack, P.DEFAULT, 2, pf.key(F.DOWN)), 2, clk.advance(1))
    m2 = pf.read(F.only(t.outgoing())[1])
    assert r.add(m2.subpacket)
    assert r.message(cipher=pf.cipher()).tlvs == [(0x2017, bytes(600)), (0x2018, bytes(500))]


def test_fragmented_platform_request_collected_then_executed():
    # Appendix F f: the command runs only when every sub-packet has arrived; the
    # ACK to the last sub-packet carries the real response.
    t, pf, clk = online()
    tl = [(0x0026, b"\x00\x3c"), (0x0107, struct.pack(">BBH", 2, 0, 20) * 30)]
    big = codec.Message(C.CONFIG_SET, tlvs=tl, serial=pf.serial)
    sp = S.Splitter(big, 0x0BAD, P.DEFAULT, SMS, digest=False)
    assert sp.total >= 2
    for i in range(1, sp.total + 1):
        m = sp.message(i, 700 + i)
        t.receive(codec.encode(m, P.DEFAULT, SMS), SMS, clk.advance(1))
        out = t.outgoing()                   # the last one is followed by the 0x4010 report
        ack = pf.read(out[0][1], SMS)
        if i < sp.total:
            assert ack.subpacket.op == S.OP_REQUEST and ack.subpacket.index == i + 1
            assert t.params.get(0x0026) == b"\x00\x78"        # nothing applied yet
        else:
            assert ack.subpacket is None and ack.fields["result"] == 0 and ack.seq == 700 + i
    assert t.params.get(0x0026) == b"\x00\x3c"


def test_bad_subpacket_set_aborted():
    # Appendix F e: a wrong sub-packet ends the transfer with op 0x03.
    t, pf, clk = online()
    big = codec.Message(C.CONFIG_SET, tlvs=[(0x0107, struct.pack(">BBH", 2, 0, 20) * 40)], serial=pf.serial)
    sp = S.Splitter(big, 7, P.DEFAULT, SMS, digest=False)
    t.receive(codec.encode(sp.message(1, 801), P.DEFAULT, SMS), SMS, clk.advance(1))
    t.outgoing()
    bad = sp.message(2, 802)
    bad.subpacket.total += 1
    t.receive(codec.encode(bad, P.DEFAULT, SMS), SMS, clk.advance(1))
    ack = pf.read(F.only(t.outgoing())[1], SMS)
    assert ack.subpacket.op == S.OP_RECEIVER_ABORT


def test_fragmented_response_fetched_by_repeating_the_request():
    # PROTOCOL.md 6: a response too long: sub-packet 1 in the ACK; the requester repeats
    # the request with 0x4008 op 0x01 naming the next index.
    t, pf, clk = online()
    t.params.set(0x0008, b"u" * 60)
    t.params.set(0x000C, b"w" * 60)
    get = codec.Message(C.CONFIG_GET, tlvs=[(0x0008, b""), (0x000C, b""), (0x0011, b"")], serial=pf.serial, seq=900)
    t.receive(codec.encode(get, P.DEFAULT, SMS), SMS, clk.advance(1))
    first = pf.read(F.only(t.outgoing())[1], SMS)
    sp = first.subpacket
    assert first.command == C.CONFIG_GET_ACK and sp.index == 1 and sp.total >= 2
    r = S.Reassembler(first.command, sp)
    seq = 901
    while not r.complete:
        again = codec.Message(C.CONFIG_GET, serial=pf.serial, seq=seq)
        again.subpacket = r.request()
        t.receive(codec.encode(again, P.DEFAULT, SMS), SMS, clk.advance(1))
        r.add(pf.read(F.only(t.outgoing())[1], SMS).subpacket)
        seq += 1
    whole = r.message()
    assert whole.fields["result"] == 0 and whole.tlv(0x0008) == b"u" * 60 and whole.tlv(0x000C) == b"w" * 60


def test_overflow_notice_resends_as_subpackets():
    # Table A-2 bit 8: the receiver returns our header with bit 0x01 -> resend the
    # request with the sub-packet mechanism.
    t, pf, clk = online()
    t.report([(0x2017, bytes(300))], clk.t)
    raw = F.only(t.outgoing())[1]
    t.receive(codec.encode_notice(raw[:28], H.SEC_PREV_OVERFLOW), 2, clk.advance(1))
    m = pf.read(F.only(t.outgoing())[1])
    assert m.subpacket is not None and m.subpacket.index == 1 and m.subpacket.total >= 4
    assert any(e[0] == "overflow" for e in t.events())
