"""SMS fallback (issue 5; 4.3.5 alarms by SMS without login, 4.2 a request and its
response on one bearer, appendix E d 0x2008-0x200B per-bearer statistics).
Portable."""
import struct

from wmmp.terminal import engine as E, params as PM
from wmmp.wire import commands as C, codes as K
from wmmp.wire import profile as P
import fakeplatform as F
from test_engine_online import online

SMS, PKT = P.BEARER_SMS, P.BEARER_PACKET


def _fall_back(t, clk):
    for _ in range(E.FALLBACK_AFTER):
        t.bearer_failed(PKT, clk.t)
    assert t.packet_down and ("bearer", "sms") in t.events()


def test_packet_failures_switch_new_requests_to_sms_and_back():
    t, pf, clk = online()
    t.bearer_failed(PKT, clk.t)
    t.bearer_failed(PKT, clk.t)
    assert not t.packet_down                        # below the threshold
    t.bearer_failed(PKT, clk.t)
    assert t.packet_down
    t.report([(0x3007, b"\x20")], clk.t)
    b, raw = F.only(t.outgoing())
    assert b == SMS and pf.read(raw, SMS).command == C.CONFIG_TRAP
    clk.advance(120)
    t.tick(clk.t)
    assert [F.command(r) for _, r in t.outgoing() if F.command(r) == C.HEART_BEAT] == []   # no heartbeats by SMS
    t.bearer_restored(PKT, clk.t)
    assert not t.packet_down and ("bearer", "packet") in t.events()
    t.report([(0x3007, b"\x21")], clk.t)
    assert [b for b, _ in t.outgoing() if b == PKT]


def test_response_stays_on_the_request_bearer():
    # 4.2: a request and its response use the same bearer, whatever the mode.
    t, pf, clk = online()
    _fall_back(t, clk)
    t.receive(pf.make(C.CONFIG_GET, tlvs=[(0x0011, b"")]), PKT, clk.advance(1))
    b, raw = F.only(t.outgoing())
    assert b == PKT and pf.read(raw).command == C.CONFIG_GET_ACK
    t.receive(pf.make(C.CONFIG_GET, tlvs=[(0x0011, b"")], bearer=SMS, digest=False), SMS, clk.advance(1))
    b, raw = F.only(t.outgoing())
    assert b == SMS


def test_alarm_by_sms_without_login():
    # 4.3.5: with the packet bearer down, an alarm goes by SMS even when not logged in.
    t, pf, clk = online()
    _fall_back(t, clk)
    t.receive(pf.make(C.LOGOUT, {"reason": K.LOGOUT_NORMAL}), PKT, clk.advance(1))
    t.outgoing()
    assert t.state == E.S_IDLE
    t.raise_alarm(K.ALARM_POWER_FAULT, clk.t)
    b, raw = F.only(t.outgoing())
    m = pf.read(raw, SMS)
    assert b == SMS and m.command == C.CONFIG_TRAP and m.tlv(0x300B) == b"\x01"


def test_statistics_per_bearer():
    # Appendix E d: 0x2008 SMS sent, 0x2009 SMS failed, 0x200A SMS received,
    # 0x200B packet bytes.
    t, pf, clk = online()
    base = t.params.get_int(0x200B)
    _fall_back(t, clk)
    t.report([(0x3007, b"\x20")], clk.t)
    t.report([(0x3007, b"\x21")], clk.t)
    t.outgoing()
    t.bearer_failed(SMS, clk.t)                     # the runner could not send one of them
    assert t.params.get_int(0x2008) == 1 and t.params.get_int(0x2009) == 1
    t.receive(pf.make(C.CONFIG_GET, tlvs=[(0x0011, b"")], bearer=SMS, digest=False), SMS, clk.advance(1))
    assert t.params.get_int(0x200A) == 1 and t.params.get_int(0x200B) >= base > 0


def test_failed_packet_send_is_not_counted_as_traffic():
    # Appendix E d 0x200B counts packet-bearer traffic: the bytes of a message
    # the bearer could not send leave the counter again (as a failed SMS moves
    # from 0x2008 to 0x2009).
    t, pf, clk = online()
    base = t.params.get_int(0x200B)
    t.report([(0x3007, b"\x20")], clk.t)
    b, raw = F.only(t.outgoing())
    assert b == PKT and t.params.get_int(0x200B) == base + len(raw)
    t.bearer_failed(PKT, clk.t, len(raw))
    assert t.params.get_int(0x200B) == base
    t.bearer_failed(PKT, clk.t, 10 ** 6)            # never below zero
    assert t.params.get_int(0x200B) == 0


def test_login_given_up_during_an_outage_is_retried_when_the_packet_bearer_is_back():
    # 4.3.2 login retries (0x0027) ran out while the network was gone (and the SMS
    # bearer could not carry them): the terminal waits in the alarm state, and
    # logs in again by itself as soon as the packet bearer works again.
    p = F.provisioned_params()
    p.set(0x0027, b"\x01")                          # one retry
    clk, pf = F.Clock(), F.Platform()
    pf.serial = b"M2MMAKER0000A1B2"
    t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=pf.serial), p)
    t.start(clk.t)
    _fall_back(t, clk)
    for _ in range(40):
        clk.advance(30)
        t.tick(clk.t)
        t.outgoing()
        if t.state == E.S_ALARM:
            break
    assert t.state == E.S_ALARM and K.ALARM_PLATFORM_CONNECT_FAILED in t.alarms
    t.bearer_restored(PKT, clk.t)
    b, raw = F.only([o for o in t.outgoing() if F.command(o[1]) == C.LOGIN])
    assert b == PKT and t.state == E.S_LOGGING_IN
    t.receive(pf.login_ack(pf.read(raw, ts=0)), PKT, clk.advance(1))
    assert t.state == E.S_ONLINE
    # the give-up was never reported by itself (4.3.5): once online it is over,
    # and the proving CONFIG_TRAP says "no alarm" (0x300B = 0x00)
    trap = pf.read([r for _, r in t.outgoing() if F.command(r) == C.CONFIG_TRAP][0])
    assert t.alarms == [] and trap.tlv(0x300B) == b"\x00"


def test_refused_registration_is_not_retried_when_the_bearer_comes_back():
    # 4.3.1 / appendix G a: a registration the platform refused needs a person;
    # a returning packet bearer does not make the terminal try again on its own.
    clk, pf = F.Clock(), F.Platform()
    t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=b"M2MMAKER"), PM.Params(PM.MemoryStorage()))
    t.start(clk.t)
    reg = pf.read(F.only(t.outgoing())[1], ts=0)
    assert reg.command == C.REGISTER
    t.receive(pf.ack(reg, {"result": K.REG_ACK_BAD_IMSI, "terminal_id": b"M2MMAKER"}, digest=False),
              PKT, clk.advance(1))
    assert t.state == E.S_ALARM
    _fall_back(t, clk)
    t.bearer_restored(PKT, clk.t)
    assert t.state == E.S_ALARM and t.outgoing() == []


def test_alarm_open_on_sms_moves_to_the_packet_bearer_when_it_is_back():
    # 4.3.5: an alarm raised during the outage went by SMS; when the packet bearer
    # is back before its ACK, it is sent again there as a new request (new seq)
    # instead of spending its retries on the SMS bearer; the heartbeat stays.
    t, pf, clk = online()
    _fall_back(t, clk)
    t.raise_alarm(K.ALARM_POWER_FAULT, clk.t)
    b, raw = F.only(t.outgoing())
    first = pf.read(raw, SMS)
    assert b == SMS and first.command == C.CONFIG_TRAP
    t.bearer_restored(PKT, clk.advance(1))
    b, raw = F.only(t.outgoing())
    again = pf.read(raw)
    assert b == PKT and again.command == C.CONFIG_TRAP and again.seq != first.seq
    assert again.tlv(0x300D) == first.tlv(0x300D)
    t.receive(pf.ack(again, {"result": 0}), PKT, clk.advance(1))
    for _ in range(10):                              # nothing left to retransmit on SMS
        clk.advance(60)
        t.tick(clk.t)
        assert [o for o in t.outgoing() if o[0] == SMS] == []


def test_sms_traffic_does_not_postpone_the_heartbeat():
    # 4.3.4: the heartbeat keeps the packet link alive, so only packet traffic
    # postpones it; answering a request by SMS (4.2: on its own bearer) does not.
    t, pf, clk = online()
    hb = t.params.get_int(0x0011)
    due = t.deadline()
    clk.advance(hb // 2)
    t.receive(pf.make(C.CONFIG_GET, tlvs=[(0x0011, b"")], bearer=SMS, digest=False), SMS, clk.t)
    b, _ = F.only(t.outgoing())
    assert b == SMS and t.deadline() == due
    clk.t = due
    t.tick(clk.t)
    assert [F.command(r) for b, r in t.outgoing() if b == PKT] == [C.HEART_BEAT]
