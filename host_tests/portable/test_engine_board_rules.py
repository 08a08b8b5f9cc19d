"""Engine rules of "everything the engine can do reaches the board": nothing is
accepted and ignored.  CONFIG_GET answers every tag the terminal knows
(4.3.6, PROTOCOL.md 10), CONFIG_SET refuses what nothing applies (4.3.9.3, G h),
REMOTE_CTRL refuses what the board cannot do and reports late outcomes with
0x4010 (4.3.7, appendix E f), login refusals are not retried like timeouts
(4.3.2, G b), LOGOUT 0x09 is repeated until its ACK (4.4.3.1.3.3), a key SMS
that overtakes REGISTER_ACK is kept (PROTOCOL.md 10), 0x2004 is per month and
0x2007 ends the statistics (appendix E d).  Portable."""
import struct

from wmmp.terminal import engine as E, params as PM, reporting
from wmmp.wire import commands as C, codes as K, profile as P
import fakeplatform as F
from test_engine_online import online


def _reg_term(**kw):
    cfg = E.Config(F.IMEI, F.IMSI, serial=b"M2MMAKER", platform_numbers=("10658000",), **kw)
    return E.Terminal(cfg, PM.Params())


# == CONFIG_GET (4.3.6, G g, PROTOCOL.md 10) ========================================
def test_config_get_answers_attributes_the_terminal_produces():
    t, pf, clk = online(platform_numbers=("10658000",), software_version=b"WMMP0.1")
    tags = (0x3001, 0x3002, 0x3004, 0x3009, 0x300B, 0x100C, 0x0007, 0x2008, 0x200C, 0x3011, 0x0011)
    t.receive(pf.make(C.CONFIG_GET, tlvs=[(tag, b"") for tag in tags]), 2, clk.advance(1))
    ack = pf.read(F.only(t.outgoing())[1])
    assert ack.fields["result"] == K.ACK_OK
    v = dict(ack.tlvs)
    assert v[0x3001] == struct.pack(">H", P.DEFAULT.version)
    assert v[0x3002] == b"M2MMAKER0000A1B2" and v[0x3004] == v[0x100C] == b"WMMP0.1"
    assert struct.unpack(">I", v[0x3009])[0] == t.wall_time()
    assert v[0x300B] == b"\x00" and v[0x0007] == b"10658000"
    assert len(v[0x2008]) == 4 and v[0x200C] == b"\x00\x00\x00\x00"
    assert v[0x0011] == struct.pack(">I", 30)


def test_config_get_refuses_secrets_and_unknown_tags_only():
    t, pf, clk = online()
    t.receive(pf.make(C.CONFIG_GET, tlvs=[(0x0011, b""), (0xE025, b""), (0x7ABC, b"")]), 2, clk.advance(1))
    ack = pf.read(F.only(t.outgoing())[1])
    assert ack.fields["result"] == K.ACK_INVALID and ack.tlvs == [(0xE025, b""), (0x7ABC, b"")]


def test_config_get_alarm_status_follows_raised_alarms():
    t, pf, clk = online()
    t.raise_alarm(K.ALARM_MEMORY_ERROR, clk.advance(1))
    t.outgoing()
    t.receive(pf.make(C.CONFIG_GET, tlvs=[(0x300B, b""), (0x300D, b"")]), 2, clk.advance(1))
    v = dict(pf.read(F.only(t.outgoing())[1]).tlvs)
    assert v[0x300B] == b"\x01" and v[0x300D] == struct.pack(">H", K.ALARM_MEMORY_ERROR)


# == CONFIG_SET: applied or refused (4.3.9.3, G h) ===============================
def test_config_set_refuses_tags_nothing_on_the_board_applies():
    # applies: the board applies the APN (0x0002); the dial number (0x0003) has no
    # consumer on this board: the whole CONFIG_SET is "data invalid", nothing stored
    t, pf, clk = online(applies=(0x0002,))
    t.receive(pf.make(C.CONFIG_SET, tlvs=[(0x0011, struct.pack(">I", 60)), (0x0003, b"*99#")]), 2,
              clk.advance(1))
    ack = pf.read(F.only(t.outgoing())[1])
    assert ack.fields["result"] == K.ACK_INVALID and ack.tlvs == [(0x0003, b"")]
    assert t.params.get_int(0x0011) == 30 and t.params.get(0x0003) is None


def test_config_set_applies_engine_and_board_tags():
    t, pf, clk = online(applies=(0x0002,))
    t.receive(pf.make(C.CONFIG_SET, tlvs=[(0x0011, struct.pack(">I", 60))]), 2, clk.advance(1))
    out = [pf.read(r) for _, r in t.outgoing()]
    assert out[0].fields["result"] == K.ACK_OK and t.params.get_int(0x0011) == 60
    assert out[1].command == C.CONFIG_TRAP and out[1].tlv(0x4010)[0] == 0x00


def test_local_config_refuses_what_nothing_applies():
    # 4.3.9.2: the same rule for a technician's setting
    t, pf, clk = online(applies=())
    assert t.local_config([(0x0008, b"13800100500")], clk.advance(1)) == [0x0008]
    assert t.params.get(0x0008) is None


# == REMOTE_CTRL (4.3.7, appendix E f 0x4001, 0x4021) =============================
def _ctrl(t, pf, clk, tlvs):
    t.receive(pf.make(C.REMOTE_CTRL, tlvs=tlvs), 2, clk.advance(1))
    return [pf.read(r) for _, r in t.outgoing()]


def test_remote_ctrl_refuses_what_the_board_cannot_do():
    # controls: this board cannot switch APNs; no outputs declared
    t, pf, clk = online(controls=(K.RC_SUSPEND_SERVICE, K.RC_RESUME_SERVICE, K.RC_RESTART))
    out = _ctrl(t, pf, clk, [(0x4001, bytes([K.RC_APN_TO_APPLICATION]))])
    assert out[0].fields["result"] == K.ACK_INVALID and out[0].tlvs == [(0x4001, b"")]
    out = _ctrl(t, pf, clk, [(0x4021, b"\x00\x01\x01")])
    assert out[0].fields["result"] == K.ACK_INVALID and out[0].tlvs == [(0x4021, b"")]
    assert [e for e in t.events() if e[0] in ("apn", "peripheral")] == []


def test_remote_ctrl_peripheral_of_a_declared_output():
    t, pf, clk = online(outputs=(0x0001,))
    out = _ctrl(t, pf, clk, [(0x4021, b"\x00\x01\x01")])
    assert out[0].fields["result"] == K.ACK_OK and ("peripheral", 1, True) in t.events()
    out = _ctrl(t, pf, clk, [(0x4021, b"\x00\x01\x02")])              # state 2: not a command
    assert out[0].fields["result"] == K.ACK_INVALID


def test_remote_ctrl_suspend_stops_application_data_until_resume():
    t, pf, clk = online()
    _ctrl(t, pf, clk, [(0x4001, bytes([K.RC_SUSPEND_SERVICE]))])
    assert ("service", False) in t.events() and t.service_off()
    assert t.send_data(b"meter 42", clk.advance(1), ec_code=b"\x00\x01") is None
    assert t.outgoing() == [] and t.events()[0][0] == "data_refused"
    _ctrl(t, pf, clk, [(0x4001, bytes([K.RC_RESUME_SERVICE]))])
    assert ("service", True) in t.events() and not t.service_off()
    t.send_data(b"meter 42", clk.advance(1), ec_code=b"\x00\x01")
    assert pf.read(F.only(t.outgoing())[1]).command == C.TRANSPARENT_DATA


def test_remote_ctrl_apn_switch_reports_its_outcome_with_0x4010():
    t, pf, clk = online()
    t.receive(pf.make(C.REMOTE_CTRL, tlvs=[(0x4001, bytes([K.RC_APN_TO_APPLICATION]))]), 2, clk.advance(1))
    ack = pf.read(F.only(t.outgoing())[1])
    ev = [e for e in t.events() if e[0] == "apn"]
    assert ev == [("apn", K.RC_APN_TO_APPLICATION, ack.seq)]
    t.control_done(ack.seq, False, clk.advance(5))
    trap = pf.read(F.only(t.outgoing())[1])
    assert trap.tlv(0x4010) == b"\x02" + struct.pack(">I", ack.seq)      # failed, old APN kept


def test_remote_ctrl_restart_reported_after_the_next_login():
    p = F.provisioned_params()
    t, pf, clk = online(params=p)
    out = _ctrl(t, pf, clk, [(0x4001, bytes([K.RC_RESTART]))])
    seq = out[0].seq
    t.receive(pf.ack(out[1]), 2, clk.advance(1))
    assert ("restart", "remote") in t.events()
    # the board resets: a new terminal on the same parameters logs in and reports
    t2 = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=b"M2MMAKER0000A1B2"), p)
    t2.start(clk.advance(5))
    login = pf.read(F.only(t2.outgoing())[1], ts=0)
    t2.receive(pf.login_ack(login), 2, clk.advance(1))
    traps = [pf.read(r) for _, r in t2.outgoing()]
    assert [m.tlv(0x4010) for m in traps if m.tlv(0x4010)] == [b"\x00" + struct.pack(">I", seq)]
    assert p.get("ctrl_restart") is None


def test_remote_ctrl_connection_report_names_the_bearer_in_use():
    t, pf, clk = online(tcp=True)
    out = _ctrl(t, pf, clk, [(0x4001, bytes([K.RC_REPORT_CONNECTION]))])
    assert out[1].tlv(0x4005) == b"\x03" and out[1].tlv(0x4006) == b"\x01\x00"


# == login refusals (4.3.2, G b) ==================================================
def _login_answered(result):
    clk, pf = F.Clock(), F.Platform()
    t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=b"M2MMAKER0000A1B2"), F.provisioned_params())
    pf.serial = b"M2MMAKER0000A1B2"
    t.start(clk.t)
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    t.receive(pf.login_ack(login, result=result, session=False), 2, clk.advance(1))
    return t, pf, clk


def test_login_ack_not_registered_registers_again():
    t, pf, clk = _login_answered(K.LOGIN_ACK_NOT_REGISTERED)
    reg = pf.read(F.only(t.outgoing())[1])
    assert reg.command == C.REGISTER and not t.registered


def test_login_refusal_waits_for_a_person_not_a_retry():
    for r in (K.LOGIN_ACK_BAD_SERIAL, K.LOGIN_ACK_BAD_VERSION, K.LOGIN_ACK_BAD_MAPPING):
        t, pf, clk = _login_answered(r)
        assert t.state == E.S_ALARM and t.deadline() is None and t.outgoing() == []


def test_login_serial_conflict_is_retried_after_the_back_off():
    t, pf, clk = _login_answered(K.LOGIN_ACK_SERIAL_CONFLICT)
    assert t.state == E.S_BACKOFF
    clk.advance(10)
    t.tick(clk.t)
    assert pf.read(F.only(t.outgoing())[1], ts=0).command == C.LOGIN


# == LOGOUT 0x09 until its ACK (4.4.3.1.3.3) ======================================
def test_logout_0x09_is_repeated_until_answered():
    t, pf, clk = online()
    # new passwords in E043 under the session key: LOGOUT 0x09 first
    m = pf.make(C.SECURITY_CONFIG, {"operation": K.SEC_OP_SET}, [(0xE025, b"NEWUP123"), (0xE028, b"NEWDN123")])
    t.receive(m, P.BEARER_SMS, clk.advance(1))
    out = t.outgoing()
    lo = [pf.read(r) for _, r in out if F.command(r) == C.LOGOUT]
    assert lo and lo[0].fields["reason"] == K.LOGOUT_UPDATE_KEYS
    sent = 1
    for _ in range(6):                       # far past 0x0108's retransmissions
        clk.advance(10)
        t.tick(clk.t)
        again = [pf.read(r) for _, r in t.outgoing() if F.command(r) == C.LOGOUT]
        sent += len(again)
        assert all(x.seq == lo[0].seq for x in again)
    assert sent >= 6 and t.state == E.S_LOGGING_OUT
    t.receive(pf.ack(lo[0]), 2, clk.advance(1))
    assert F.command(F.only(t.outgoing())[1]) == C.LOGIN
    assert t.state == E.S_LOGGING_IN and t.params.get(0xE025) == b"NEWUP123"


# == the key SMS before REGISTER_ACK (PROTOCOL.md 10) ==================================
def test_key_sms_overtaking_register_ack_is_kept():
    clk, pf = F.Clock(), F.Platform()
    t = _reg_term()
    t.start(clk.t)
    reg = pf.read(F.only(t.outgoing())[1])
    pf.serial = b"M2MMAKER0000A1B2"
    t.receive(pf.keys_sms(), P.BEARER_SMS, clk.advance(1))          # first
    sack = pf.read(F.only(t.outgoing())[1], P.BEARER_SMS)
    assert sack.command == C.SECURITY_CONFIG_ACK and sack.fields["result"] == 0
    t.receive(pf.ack(reg, {"result": K.REG_ACK_OK_WAIT_SMS_KEYS, "terminal_id": pf.serial}, digest=False),
              P.BEARER_PACKET, clk.advance(1))
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    assert login.command == C.LOGIN and login.digest_ok is True and t.registered
    assert ("sms_window", True) not in t.events()


# == statistics (appendix E d) =====================================================
def test_month_in_china_standard_time():
    assert reporting.month(1767196800) == 2026 * 12 + 0        # 2026-01-01 00:00 CST = 2025-12-31 16:00 UTC
    assert reporting.month(1767196799) == 2025 * 12 + 11
    assert reporting.month(951753600) == 2000 * 12 + 1         # 2000-02-29 (CST)


def test_business_use_flag_0x2004_is_per_month():
    t, pf, clk = online()
    t.send_data(b"x", clk.advance(1), ec_code=b"\x00\x01")
    assert t.params.get(0x2004) == b"\x01"
    t.outgoing()
    clk.advance(40 * 86400)                  # next month: not used yet
    t.report_statistics(clk.t)
    rep = [pf.read(r) for _, r in t.outgoing() if F.command(r) == C.CONFIG_TRAP]
    assert rep[-1].tlv(0x2004) == b"\x00"


def test_statistics_end_0x2007_stops_reports():
    t, pf, clk = online()
    assert t.stats_on()
    t.params.set(0x2007, struct.pack(">I", t.wall_time() + 60))
    assert t.stats_on()
    t.tick(clk.advance(61))
    assert not t.stats_on()
    t.params.set(0x2007, b"\xff\xff\xff\xff")                    # all F: no end
    assert t.stats_on()


# == local configuration while not logged in (4.3.9.2) =============================
def test_local_connection_setting_while_offline_restarts_the_link_now():
    # a wrong APN keeps the terminal from logging in: the technician's new APN
    # must take effect at once (restart event), and 0x4011 follows the login
    t, pf, clk = _login_answered(K.LOGIN_ACK_SERIAL_CONFLICT)        # backing off, not online
    t.events()
    assert t.local_config([(0x0002, b"cmiot")], clk.advance(1)) == []
    assert ("restart", "local config") in t.events() and t.state == E.S_RESTARTING
    assert t.params.get(0x0002) == b"cmiot"
    t.restarted(clk.advance(1))
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    t.receive(pf.login_ack(login), 2, clk.advance(1))
    traps = [pf.read(r) for _, r in t.outgoing()]
    assert [m.tlv(0x0002) for m in traps if m.tlv(0x4011) is not None] == [b"cmiot"]


# == preset secrets without a validity (PROTOCOL.md 10; 4.3.1.1.1.2) ===============
def test_preset_digests_without_validity_use_2100():
    from wmmp.wire import digest as D
    p = PM.Params()
    for tag, v in ((0xE025, F.UP), (0xE028, F.DOWN), (0xE036, F.BASE)):
        p.set(tag, v)
    p.set("preset", b"\x01")
    clk, pf = F.Clock(), F.Platform()
    t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=b"M2MMAKER"), p)
    t.start(clk.t)
    reg = pf.read(F.only(t.outgoing())[1])
    assert reg.fields["operation"] == K.REG_OP_PRESET_KEYS
    assert reg.tlv(0xE026) == D.uplink_password_digest(F.UP, 4102444800)
    assert reg.tlv(0xE03A) == D.base_key_digest(F.BASE, 4102444800)


def test_register_retries_0x0029_count_retries_like_login():
    # PROTOCOL.md 8: 0x0029 = 1 -> one REGISTER and one retry, then the alarm
    p = PM.Params()
    p.set(0x0029, b"\x01")
    clk, pf = F.Clock(), F.Platform()
    t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=b"M2MMAKER"), p)
    t.start(clk.t)
    sent = 0
    for _ in range(10):
        sent += len([r for _, r in t.outgoing() if F.command(r) == C.REGISTER])
        t.tick(clk.advance(30))
    assert sent == 2 and t.state == E.S_ALARM


# == protocol version (PROTOCOL.md 1; TLV 0x3001 note) ==============================
def test_message_of_another_major_version_is_dropped():
    from wmmp.wire import codec
    t, pf, clk = online()
    m = codec.Message(C.CONFIG_GET, tlvs=[(0x0011, b"")], serial=pf.serial, seq=900, version=0x0900)
    raw = codec.encode(m, P.DEFAULT, P.BEARER_PACKET, pf.key(F.DOWN), pf.cipher())
    t.receive(raw, 2, clk.advance(1))
    assert t.outgoing() == [] and t.events()[0][:2] == ("dropped", "version")
    m.version = 0x0301                              # another minor version: answered
    raw = codec.encode(m, P.DEFAULT, P.BEARER_PACKET, pf.key(F.DOWN), pf.cipher())
    t.receive(raw, 2, clk.advance(1))
    assert pf.read(F.only(t.outgoing())[1]).command == C.CONFIG_GET_ACK


# == security feedback (PROTOCOL.md 3, 5; 4.4.5) ====================================
def test_undecryptable_security_config_is_answered_0x01():
    from wmmp.wire import codec
    t, pf, clk = online()
    good = codec.Message(C.SECURITY_CONFIG, {"operation": K.SEC_OP_READ_ENCRYPTED}, [(0xE025, b"")],
                         serial=pf.serial, seq=901)
    good.encryption = codec.ENC_FULL
    raw = bytearray(codec.encode(good, P.DEFAULT, P.BEARER_PACKET, None, pf.cipher()))
    # E042's value cut to 7 bytes: no whole number of cipher blocks
    raw = bytes(raw[:28]) + b"\xe0\x42\x00\x07" + b"1234567"
    raw = struct.pack(">H", len(raw)) + raw[2:]
    t.receive(raw, 2, clk.advance(1))
    ack = pf.read(F.only(t.outgoing())[1])
    assert ack.command == C.SECURITY_CONFIG_ACK and ack.seq == 901
    assert ack.fields["result"] == K.SEC_ACK_DECRYPT_FAILED


def test_e041_header_echo_replaces_the_next_message_flag():
    from wmmp.wire import codec, header as H
    t, pf, clk = online()
    t.params.set(0xE041, b"\x01")
    bad = codec.encode(codec.Message(C.CONFIG_GET, tlvs=[(0x0011, b"")], serial=pf.serial, seq=902),
                       P.DEFAULT, P.BEARER_PACKET, pf.key(b"WRONGPW1"), None)
    t.receive(bad, 2, clk.advance(1))
    (_, echo), = t.outgoing()
    assert len(echo) == 28 and echo[26] & H.SEC_PREV_DIGEST_FAILED
    t.report([(0x300B, b"\x00")], clk.advance(1))
    nxt = F.only(t.outgoing())[1]
    assert not nxt[26] & H.SEC_FEEDBACK                  # not flagged a second time
