"""Engine scenarios: registration and login (4.3.1, 4.3.2; appendix G a, b;
PROTOCOL.md 3, 5, 8).  Portable: a fake clock and the scripted platform of
fakeplatform.py."""
import struct

from wmmp.terminal import engine as E, params as PM
from wmmp.wire import commands as C, codes as K, header as H
from wmmp.wire import profile as P
import fakeplatform as F


def _term(params=None, **kw):
    cfg = E.Config(F.IMEI, F.IMSI, serial=b"M2MMAKER", platform_numbers=("10658000",), **kw)
    return E.Terminal(cfg, params if params is not None else PM.Params())


def _names(events):
    return [e[0] for e in events]


def test_first_registration_keys_by_sms_then_login_with_session_key():
    # 4.3.1.1.1.1: REGISTER -> ACK 0x00 -> SMS with passwords and base key (no
    # digest) -> first LOGIN with digest and E03A -> LOGIN_ACK with E040 -> the
    # security CONFIG_TRAP right after login (G b).
    clk, pf = F.Clock(), F.Platform()
    t = _term()
    t.start(clk.t)
    b, raw = F.only(t.outgoing())
    reg = pf.read(raw)
    assert b == P.BEARER_PACKET and reg.command == C.REGISTER and reg.digest is None
    assert reg.fields["operation"] == K.REG_OP_ASSIGN_SERIAL and H.serial_is_unassigned(reg.serial)
    assert reg.fields["imsi"] == F.IMSI.encode() and reg.security & H.SEC_SUPPORTS_ENCRYPTION
    pf.serial = b"M2MMAKER0000A1B2"
    t.receive(pf.ack(reg, {"result": K.REG_ACK_OK_WAIT_SMS_KEYS, "terminal_id": pf.serial}, digest=False),
              P.BEARER_PACKET, clk.advance(1))
    assert t.state == E.S_WAIT_KEYS and ("sms_window", True) in t.events()
    assert t.outgoing() == []
    t.receive(pf.keys_sms(), P.BEARER_SMS, clk.advance(5))
    out = t.outgoing()
    assert [b for b, _ in out] == [P.BEARER_SMS, P.BEARER_PACKET]      # ACK on SMS, LOGIN on packet
    sack = pf.read(out[0][1], P.BEARER_SMS)
    assert sack.command == C.SECURITY_CONFIG_ACK and sack.fields["result"] == 0
    login = pf.read(out[1][1], ts=0)
    assert login.command == C.LOGIN and login.digest_ok is True and login.serial == pf.serial
    assert login.tlv(0xE03A) is not None and t.registered
    t.receive(pf.login_ack(login), P.BEARER_PACKET, clk.advance(1))
    assert t.state == E.S_ONLINE and t.session is not None and t.session.key == F.SESSION
    trap = pf.read(F.only(t.outgoing())[1])
    assert trap.command == C.CONFIG_TRAP and trap.digest_ok is True     # timestamp = CURTIME
    assert t.wall_time() == F.CURTIME


def test_sms_window_timeout_alarm_0x001c_and_retry():
    # G a: no SECURITY_CONFIG within 0x0026 -> back to the previous bearer and
    # alarm 0x001C reported in a CONFIG_TRAP.
    clk, pf = F.Clock(), F.Platform()
    t = _term()
    t.start(clk.t)
    reg = pf.read(F.only(t.outgoing())[1])
    t.receive(pf.ack(reg, {"result": 0, "terminal_id": b"M2MMAKER0000A1B2"}, digest=False), 2, clk.advance(1))
    t.events()
    clk.advance(120)
    t.tick(clk.t)
    ev = t.events()
    assert ("sms_window", False) in ev and ("alarm", K.ALARM_SMS_RECEIVE_TIMEOUT, "no keys by SMS in time") in ev
    assert t.state == E.S_BACKOFF
    clk.advance(10)
    t.tick(clk.t)
    assert pf.read(F.only(t.outgoing())[1]).command == C.REGISTER


def test_register_ack_0x09_and_0x13_log_in_at_once():
    for result in (K.REG_ACK_OK_LOGIN, K.REG_ACK_OK_NO_PASSWORD):
        clk, pf = F.Clock(), F.Platform()
        p = F.provisioned_params()
        p.delete("registered")
        t = _term(p)
        t.start(clk.t)
        reg = pf.read(F.only(t.outgoing())[1])
        t.receive(pf.ack(reg, {"result": result, "terminal_id": b"M2MMAKER0000A1B2"}, digest=False),
                  2, clk.advance(1))
        assert pf.read(F.only(t.outgoing())[1], ts=0).command == C.LOGIN
        assert t.registered and t.state == E.S_LOGGING_IN


def test_preset_keys_register_op_0x03():
    # G a: op 0x03 carries E026/E029/E03A computed per PROTOCOL.md 8.
    from wmmp.wire import digest as D
    p = F.provisioned_params()
    p.delete("registered")
    p.set("preset", b"\x01")
    t = _term(p)
    t.start(1)
    reg = F.Platform().read(F.only(t.outgoing())[1])
    assert reg.fields["operation"] == K.REG_OP_PRESET_KEYS
    assert reg.tlv(0xE026) == D.uplink_password_digest(F.UP, p.get_int(0xE027))
    assert reg.tlv(0xE029) == D.downlink_password_digest(F.DOWN, p.get_int(0xE02A))
    assert reg.tlv(0xE03A) == D.base_key_digest(F.BASE, p.get_int(0xE038))


def test_refused_registration_goes_to_alarm():
    # 4.3.1.1.1.2: a refused registration needs a person: alarm state, no retry.
    clk, pf = F.Clock(), F.Platform()
    t = _term()
    t.start(clk.t)
    reg = pf.read(F.only(t.outgoing())[1])
    t.receive(pf.ack(reg, {"result": K.REG_ACK_BAD_IMSI, "terminal_id": b"M2MMAKER"}, digest=False),
              2, clk.advance(1))
    assert t.state == E.S_ALARM and t.deadline() is None


def test_register_by_sms_when_asked():
    # G a 0x02: register again by SMS.
    clk, pf = F.Clock(), F.Platform()
    t = _term()
    t.start(clk.t)
    reg = pf.read(F.only(t.outgoing())[1])
    t.receive(pf.ack(reg, {"result": K.REG_ACK_USE_SMS, "terminal_id": b"M2MMAKER"}, digest=False),
              2, clk.advance(1))
    b, raw = F.only(t.outgoing())
    assert b == P.BEARER_SMS and pf.read(raw, P.BEARER_SMS).command == C.REGISTER


def test_imsi_change_sends_register_0x02_with_old_identity_digest():
    # 4.3.1.2 / PROTOCOL.md 3: REGISTER op 0x02 signed with the OLD IMEI/IMSI, ts 0;
    # its ACK 0x01 likewise with the downlink password.
    clk = F.Clock()
    p = F.provisioned_params()
    cfg = E.Config(F.IMEI, "460009999999999", serial=b"M2MMAKER0000A1B2")
    t = E.Terminal(cfg, p)
    t.start(clk.t)
    old = F.Platform()                      # knows the old IMSI
    reg = old.read(F.only(t.outgoing())[1], ts=0)
    assert reg.fields["operation"] == K.REG_OP_CHANGE_MAPPING and reg.digest_ok is True
    assert reg.fields["imsi"] == b"460009999999999"
    t.receive(old.ack(reg, {"result": K.REG_ACK_MAPPING_CHANGED, "terminal_id": reg.serial}, ts=0),
              2, clk.advance(1))
    new = F.Platform(imsi="460009999999999")
    login = new.read(F.only(t.outgoing())[1], ts=0)
    assert login.command == C.LOGIN and login.digest_ok is True
    assert p.get("imsi") == b"460009999999999"


def test_login_retries_back_off_then_alarm():
    # 4.3.2 / PROTOCOL.md 8: no LOGIN_ACK is a login failure; retry 0x0027 times with
    # the gap doubling from 0x002A min to max; then the alarm state.
    clk = F.Clock()
    t = _term(F.provisioned_params())
    t.start(clk.t)
    sent = [F.only(t.outgoing())]
    gaps = []
    for _ in range(3):
        clk.advance(10)                      # response timeout, packet bearer
        t.tick(clk.t)
        ev = t.events()
        gap = [e for e in ev if e[0] == "backoff"][0][2]
        gaps.append(gap)
        clk.advance(gap)
        t.tick(clk.t)
        sent.append(F.only(t.outgoing()))
    assert gaps == [10, 20, 40]
    assert all(F.command(r) == C.LOGIN for _, r in sent)
    clk.advance(10)
    t.tick(clk.t)
    assert t.state == E.S_ALARM


def test_login_ack_0x01_reports_core_config():
    # G b 0x01: CRC32 differs: report the config named by 0x0025.
    clk, pf = F.Clock(), F.Platform()
    p = F.provisioned_params()
    p.set(0x0025, struct.pack(">HH", 0x0011, 0x0026))
    t = _term(p)
    t.start(clk.t)
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    from wmmp.wire import crc, tlv
    assert login.fields["config_crc32"] == crc.crc32(tlv.encode(0x0011, p.get(0x0011)) + tlv.encode(0x0026, p.get(0x0026)))
    t.receive(pf.login_ack(login, result=K.LOGIN_ACK_OK_REPORT_CONFIG), 2, clk.advance(1))
    trap = pf.read(F.only(t.outgoing())[1])
    assert trap.tlv(0x0011) == p.get(0x0011) and trap.tlv(0x0026) == p.get(0x0026)


def test_login_ack_with_bad_digest_is_lost_then_retried():
    # 4.4.5: a response failing the digest is dropped and treated as lost.
    clk, pf = F.Clock(), F.Platform()
    t = _term(F.provisioned_params())
    t.start(clk.t)
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    bad = bytearray(pf.login_ack(login))
    bad[-1] ^= 1
    t.receive(bytes(bad), 2, clk.advance(1))
    assert t.state == E.S_LOGGING_IN and ("dropped", "digest", "LOGIN_ACK", login.seq) in t.events()
    clk.advance(9)
    t.tick(clk.t)
    assert t.state == E.S_BACKOFF
