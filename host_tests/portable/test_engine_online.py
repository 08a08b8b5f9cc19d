"""Engine scenarios once logged in: heartbeats, reliability, security feedback,
management flows (4.3.3-4.3.11, 4.4.5, 4.4.6; appendix G c-m).  Portable."""
import struct

from wmmp.terminal import engine as E, params as PM
from wmmp.wire import commands as C, codes as K, header as H, crc
from wmmp.wire import profile as P
import fakeplatform as F


def online(params=None, **kw):
    """A terminal logged in with a session key, its first CONFIG_TRAP acked."""
    clk, pf = F.Clock(), F.Platform()
    p = params if params is not None else F.provisioned_params()
    t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=b"M2MMAKER0000A1B2", **kw), p)
    pf.serial = b"M2MMAKER0000A1B2"
    t.start(clk.t)
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    t.receive(pf.login_ack(login), 2, clk.advance(1))
    trap = pf.read(F.only(t.outgoing())[1])
    t.receive(pf.ack(trap, {"result": 0}), 2, clk.advance(1))
    t.events()
    assert t.state == E.S_ONLINE
    return t, pf, clk


def test_heartbeat_every_period_without_digest():
    # 4.3.4 / G d: HEART_BEAT at 0x0011 (30 s) with 0x3005/0x3011, never a digest.
    t, pf, clk = online()
    assert t.deadline() == clk.t + 29          # armed by the CONFIG_TRAP sent 1 s ago
    clk.advance(29)
    t.tick(clk.t)
    hb = pf.read(F.only(t.outgoing())[1])
    assert hb.command == C.HEART_BEAT and hb.digest is None and hb.tlv(0x3005) is not None
    t.receive(pf.ack(hb, digest=False), 2, clk.advance(2))
    clk.advance(30)
    t.tick(clk.t)
    hb2 = pf.read(F.only(t.outgoing())[1])
    assert struct.unpack(">I", hb2.tlv(0x3005))[0] == 2        # last heartbeat delay, s


def test_missed_heartbeats_logout_0x04_then_login_again():
    # 4.3.4: unanswered heartbeats reach the threshold -> LOGOUT reason 0x04.
    t, pf, clk = online()
    for _ in range(3):
        clk.advance(30)
        t.tick(clk.t)
        assert pf.read(F.only(t.outgoing())[1]).command == C.HEART_BEAT
        clk.advance(10)
        t.tick(clk.t)
        out = t.outgoing()
        if out:
            break
    lo = pf.read(F.only(out)[1])
    assert lo.command == C.LOGOUT and lo.fields["reason"] == K.LOGOUT_HEARTBEAT_TIMEOUT
    t.receive(pf.ack(lo), 2, clk.advance(1))
    assert pf.read(F.only(t.outgoing())[1], ts=0).command == C.LOGIN


def test_retransmission_reuses_seq_then_gives_up():
    # 4.4.6.1 / 0x0107 / 0x0108: no ACK within 10 s -> same bytes, same seq, 3 times.
    t, pf, clk = online()
    t.report([(0x3007, b"\x40")], clk.t)
    first = F.only(t.outgoing())[1]
    for _ in range(3):
        clk.advance(10)
        t.tick(clk.t)
        assert F.only(t.outgoing())[1] == first
    clk.advance(10)
    t.tick(clk.t)
    assert ("timeout", "CONFIG_TRAP", pf.read(first).seq) in t.events()


def test_platform_retry_timeouts_from_0x0107():
    # PROTOCOL.md 8: 0x0107 record bearer 0x02 (packet), unit 0 (s), value 25.
    p = F.provisioned_params()
    p.set(0x0107, struct.pack(">BBH", 2, 0, 25) + struct.pack(">BBH", 1, 1, 2))
    t, pf, clk = online(p)
    t.report([(0x3007, b"\x40")], clk.t)
    t.outgoing()
    clk.advance(24)
    t.tick(clk.t)
    assert t.outgoing() == []
    clk.advance(1)
    t.tick(clk.t)
    assert len(t.outgoing()) == 1


def test_duplicate_request_answered_again_executed_once():
    # 4.4.6.1 fig. 32: a repeated request (same seq) gets the same answer again.
    t, pf, clk = online()
    req = pf.make(C.CONFIG_SET, tlvs=[(0x0026, b"\x00\x3c")])
    t.receive(req, 2, clk.advance(1))
    out1 = t.outgoing()
    assert pf.read(out1[0][1]).fields["result"] == 0
    assert len([e for e in t.events() if e[0] == "config_applied"]) == 1
    t.receive(req, 2, clk.advance(1))
    out2 = t.outgoing()
    assert out2 == [out1[0]]
    assert [e for e in t.events() if e[0] == "config_applied"] == []


def test_wrong_digest_request_dropped_silently_and_flagged():
    # 4.4.5 / PROTOCOL.md 3: drop without answer; next message carries bit 0x08.
    t, pf, clk = online()
    bad = bytearray(pf.make(C.CONFIG_GET, tlvs=[(0x0011, b"")]))
    bad[-3] ^= 0xFF
    t.receive(bytes(bad), 2, clk.advance(1))
    assert t.outgoing() == []
    t.report([(0x3007, b"\x40")], clk.t)
    raw = F.only(t.outgoing())[1]
    assert raw[26] & H.SEC_PREV_DIGEST_FAILED
    t.report([(0x3007, b"\x41")], clk.t)
    assert not F.only(t.outgoing())[1][26] & H.SEC_PREV_DIGEST_FAILED    # reported once


def test_missing_digest_request_flagged_0x04():
    t, pf, clk = online()
    t.receive(pf.make(C.CONFIG_GET, tlvs=[(0x0011, b"")], digest=False), 2, clk.advance(1))
    assert t.outgoing() == []
    t.report([(0x3007, b"\x40")], clk.t)
    assert F.only(t.outgoing())[1][26] & H.SEC_PREV_DIGEST_MISSING


def test_e041_header_echo_on_failure():
    # E041 = 0x01: answer with the offending header, result bits set (appendix E g).
    p = F.provisioned_params()
    p.set(0xE041, b"\x01")
    t, pf, clk = online(p)
    raw = pf.make(C.CONFIG_GET, tlvs=[(0x0011, b"")], digest=False)
    t.receive(raw, 2, clk.advance(1))
    echo = F.only(t.outgoing())[1]
    assert len(echo) == 28 and echo[:26] == raw[:26] and echo[26] & H.SEC_PREV_DIGEST_MISSING


def test_config_get_values_unknown_and_secrets():
    # 4.3.6 / G g: values by tag; any unsupported tag -> 0x01 with those tags L=0;
    # secrets are never answered in clear (issue 4, G m operation 0x01).
    t, pf, clk = online()
    t.receive(pf.make(C.CONFIG_GET, tlvs=[(0x0011, b""), (0x0026, b"")]), 2, clk.advance(1))
    ack = pf.read(F.only(t.outgoing())[1])
    assert ack.fields["result"] == 0 and ack.tlvs == [(0x0011, struct.pack(">I", 30)), (0x0026, b"\x00\x78")]
    for tag in (0x7777, 0xE025, 0xE036):
        t.receive(pf.make(C.CONFIG_GET, tlvs=[(0x0011, b""), (tag, b"")]), 2, clk.advance(1))
        ack = pf.read(F.only(t.outgoing())[1])
        assert ack.fields["result"] == K.ACK_INVALID and ack.tlvs == [(tag, b"")]


def test_config_set_invalid_applies_nothing():
    # G h: one invalid or unknown tag -> 0x01 with it at L=0, nothing applied.
    t, pf, clk = online()
    t.receive(pf.make(C.CONFIG_SET, tlvs=[(0x0026, b"\x00\x3c"), (0x0104, b"\x09")]), 2, clk.advance(1))
    ack = pf.read(F.only(t.outgoing())[1])
    assert ack.fields["result"] == K.ACK_INVALID and ack.tlvs == [(0x0104, b"")]
    assert t.params.get(0x0026) == b"\x00\x78"


def test_config_set_applied_and_reported_with_0x4010_0x4017():
    # 4.3.9.3 d 1 / appendix B 5.2: apply, then CONFIG_TRAP 0x4010 (0x00 + seq) and
    # 0x4017 CRC32 of the applied parameters.
    t, pf, clk = online()
    req = pf.make(C.CONFIG_SET, tlvs=[(0x0011, struct.pack(">I", 60))])
    t.receive(req, 2, clk.advance(1))
    out = t.outgoing()
    ack, trap = pf.read(out[0][1]), pf.read(out[1][1])
    assert ack.fields["result"] == 0
    seq = struct.unpack(">I", req[22:26])[0]
    assert trap.tlv(0x4010) == b"\x00" + struct.pack(">I", seq)
    from wmmp.wire import tlv
    assert trap.tlv(0x4017) == struct.pack(">I", crc.crc32(tlv.encode(0x0011, struct.pack(">I", 60))))
    assert t.params.get_int(0x0011) == 60 and t.params.storage.writes >= 1


def test_config_set_needing_restart_logout_0x07_apply_restart_report():
    # 4.3.9.3 d 2: LOGOUT 0x07, apply after LOGOUT_ACK, restart, log in, then report
    # 0x4010 + 0x4017.
    t, pf, clk = online()
    req = pf.make(C.CONFIG_SET, tlvs=[(0x0002, b"cmiot")])
    t.receive(req, 2, clk.advance(1))
    out = t.outgoing()
    assert pf.read(out[0][1]).fields["result"] == 0
    lo = pf.read(out[1][1])
    assert lo.command == C.LOGOUT and lo.fields["reason"] == K.LOGOUT_PLATFORM_CONFIG
    assert t.params.get(0x0002) is None               # not applied before LOGOUT_ACK
    t.receive(pf.ack(lo), 2, clk.advance(1))
    assert t.params.get(0x0002) == b"cmiot" and ("restart", "config") in t.events()
    assert t.state == E.S_RESTARTING
    t.restarted(clk.advance(5))
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    t.receive(pf.login_ack(login, curtime=F.CURTIME + 100), 2, clk.advance(1))
    traps = [pf.read(r) for _, r in t.outgoing()]
    seq = struct.unpack(">I", req[22:26])[0]
    assert any(m.tlv(0x4010) == b"\x00" + struct.pack(">I", seq) and m.tlv(0x4017) for m in traps)


def test_config_set_deferred_while_busy_then_applied():
    # 4.3.9.3 c: busy and not forced -> 0x4010 result 0x01 until applied; 0x4009=1 forces.
    t, pf, clk = online()
    t.busy = True
    t.receive(pf.make(C.CONFIG_SET, tlvs=[(0x0026, b"\x00\x3c")]), 2, clk.advance(1))
    out = t.outgoing()
    note = pf.read(out[1][1])
    assert note.tlv(0x4010)[0] == 0x01 and t.params.get(0x0026) == b"\x00\x78"
    t.receive(pf.ack(note, {"result": 0}), 2, clk.advance(1))
    clk.advance(29)
    t.tick(clk.t)
    assert [pf.read(r).command for _, r in t.outgoing()] == [C.HEART_BEAT, C.CONFIG_TRAP]
    t.idle(clk.advance(1))
    assert t.params.get(0x0026) == b"\x00\x3c"
    t.busy = True
    t.receive(pf.make(C.CONFIG_SET, tlvs=[(0x0026, b"\x00\x50"), (0x4009, b"\x01")]), 2, clk.advance(1))
    assert t.params.get(0x0026) == b"\x00\x50"


def test_remote_ctrl_codes():
    # 4.3.7 / appendix E f 0x4001.
    t, pf, clk = online()
    t.receive(pf.make(C.REMOTE_CTRL, tlvs=[(0x4001, bytes([K.RC_REPORT_STATISTICS]))]), 2, clk.advance(1))
    out = t.outgoing()
    assert pf.read(out[0][1]).fields["result"] == 0
    trap = pf.read(out[1][1])
    assert trap.command == C.CONFIG_TRAP and trap.tlv(0x200B) is not None
    t.receive(pf.make(C.REMOTE_CTRL, tlvs=[(0x4001, b"\x0e")]), 2, clk.advance(1))
    assert pf.read(F.only(t.outgoing())[1]).fields["result"] == K.ACK_INVALID
    t.receive(pf.make(C.REMOTE_CTRL, tlvs=[(0x4001, bytes([K.RC_RESTART]))]), 2, clk.advance(1))
    # 0x02 restart: answered, then LOGOUT before the board resets (issue 10, 4.3.7)
    out = [pf.read(r) for _, r in t.outgoing()]
    assert out[0].command == C.REMOTE_CTRL_ACK and out[0].fields["result"] == K.ACK_OK
    assert out[1].command == C.LOGOUT and out[1].fields["reason"] == K.LOGOUT_FAULT_RELOGIN
    t.receive(pf.ack(out[1]), 2, clk.advance(1))
    assert ("restart", "remote") in t.events() and t.state == E.S_RESTARTING


def test_platform_logout_and_session_key_expiry():
    # G c: platform LOGOUT -> LOGOUT_ACK; PROTOCOL.md 5: session key expiry -> LOGOUT
    # 0x08 and log in again.
    t, pf, clk = online()
    t.receive(pf.make(C.LOGOUT, {"reason": K.LOGOUT_NORMAL}), 2, clk.advance(1))
    ack = pf.read(F.only(t.outgoing())[1])
    assert ack.command == C.LOGOUT_ACK and t.state == E.S_IDLE and t.session is None
    t, pf, clk = online()
    clk.advance(3600)
    t.tick(clk.t)
    lo = [pf.read(r) for _, r in t.outgoing() if F.command(r) == C.LOGOUT]
    assert lo and lo[0].fields["reason"] == K.LOGOUT_SESSION_KEY_EXPIRED


def test_transparent_data_both_ways():
    # G j: CRC16 of the user data; terminal answers 0x05 (ok) or 0x06 (CRC bad).
    t, pf, clk = online()
    t.send_data(b"meter=42", clk.t, ec_code=b"EC0001")
    td = pf.read(F.only(t.outgoing())[1])
    assert td.tlv(0x4014) == b"EC0001" and td.fields["crc16"] == crc.crc16(b"meter=42")
    t.receive(pf.make(C.TRANSPARENT_DATA, {"crc16": crc.crc16(b"open")}, [(0x4015, b"EC1"), (0x4007, b"open")]),
              2, clk.advance(1))
    assert pf.read(F.only(t.outgoing())[1]).fields["result"] == K.TD_ACK_TERMINAL_OK
    assert ("data", b"open", b"EC1") in t.events()
    t.receive(pf.make(C.TRANSPARENT_DATA, {"crc16": 1}, [(0x4015, b"EC1"), (0x4007, b"open")]), 2, clk.advance(1))
    assert pf.read(F.only(t.outgoing())[1]).fields["result"] == K.TD_ACK_TERMINAL_CRC_ERROR


def test_garbage_never_kills_the_engine():
    t, pf, clk = online()
    for junk in (b"", b"\x00" * 5, b"\xff" * 40, pf.make(C.CONFIG_GET)[:-3]):
        t.receive(junk, 2, clk.advance(1))
        assert t.state == E.S_ONLINE
    assert [e[0] for e in t.events()].count("dropped") == 4


def test_seq_wraps_around():
    # Appendix A: after 0xFFFFFFFF the next seq is 0x00000000.
    t, pf, clk = online()
    t._seq = 0xFFFFFFFF
    t.report([(0x3007, b"\x01")], clk.t)
    t.report([(0x3007, b"\x02")], clk.t)
    seqs = [pf.read(r).seq for _, r in t.outgoing()]
    assert seqs == [0xFFFFFFFF, 0]


def _new_password(t, pf, clk):
    from wmmp.wire import codec
    v = struct.pack(">I", F.CURTIME + 999)
    m = codec.Message(C.SECURITY_CONFIG, {"operation": 0}, [(0xE025, b"NewUp123"), (0xE027, v)],
                      serial=pf.serial, seq=900)
    m.encryption = codec.ENC_PARTIAL
    m.encrypt_tags = (0xE025, 0xE027)
    t.receive(codec.encode(m, P.DEFAULT, 2, pf.key(F.DOWN), pf.cipher()), 2, clk.advance(1))
    out = t.outgoing()
    assert pf.read(out[0][1]).fields["result"] == 0
    lo = pf.read(out[1][1])               # still signed with the OLD uplink password
    assert lo.command == C.LOGOUT and lo.fields["reason"] == K.LOGOUT_UPDATE_KEYS and lo.digest_ok
    assert t.params.get(0xE025) == F.UP   # not applied before LOGOUT_ACK
    t.receive(pf.ack(lo), 2, clk.advance(1))
    return F.only(t.outgoing())[1]


def test_password_change_logout_0x09_and_login_with_new_secret():
    # 4.4.3.1.3.2 b: new password (inside E043 on a packet bearer) -> LOGOUT 0x09 ->
    # apply after LOGOUT_ACK -> log in with the new uplink password; saved once
    # that login succeeds.
    from wmmp.wire import codec, digest as D
    t, pf, clk = online()
    login = _new_password(t, pf, clk)
    assert codec.decode(login, key=D.DigestKey(F.IMEI, F.IMSI, b"NewUp123", 0)).digest_ok is True
    writes = t.params.storage.writes
    t.receive(pf.login_ack(codec.decode(login)), 2, clk.advance(1))
    assert t.state == E.S_ONLINE and ("secrets_changed",) in t.events()
    assert t.params.storage.writes > writes and t.params.storage.load()[0xE025] == b"NewUp123"


def test_password_change_falls_back_when_new_login_fails():
    # 4.4.3.1.3.3: no LOGIN_ACK to the new secret until the retries run out ->
    # restore the old secret and log in with it.
    from wmmp.wire import codec, digest as D
    t, pf, clk = online()
    _new_password(t, pf, clk)
    for _ in range(4):                     # the first try and 3 retries (0x0027)
        clk.advance(10)
        t.tick(clk.t)
        ev = t.events()
        if ("secrets_fallback",) in ev:
            break
        gap = [e for e in ev if e[0] == "backoff"][0][2]
        clk.advance(gap)
        t.tick(clk.t)
        t.outgoing()
    assert ("secrets_fallback",) in ev and t.params.get(0xE025) == F.UP
    login = F.only(t.outgoing())[1]
    assert codec.decode(login, key=D.DigestKey(F.IMEI, F.IMSI, F.UP, 0)).digest_ok is True
    assert t.params.storage.load()[0xE025] == F.UP


def test_plain_passwords_refused_on_packet_bearer():
    # 4.3.10: passwords in clear travel only by SMS.
    t, pf, clk = online()
    t.receive(pf.make(C.SECURITY_CONFIG, {"operation": 0}, [(0xE025, b"NewUp123")]), 2, clk.advance(1))
    ack = pf.read(F.only(t.outgoing())[1])
    assert ack.fields["result"] == K.SEC_ACK_UNSUPPORTED_TLV and t.params.get(0xE025) == F.UP


def test_encryption_policy_full_and_partial():
    # E032 / E033 / E034 (appendix E g; PROTOCOL.md 5): 0x01 all -> E042; 0x03 by TLV -> E043.
    from wmmp.wire import codec
    p = F.provisioned_params()
    p.set(0xE032, b"\x01")
    t, pf, clk = online(p)
    t.report([(0x3007, b"\x40")], clk.t)
    raw = F.only(t.outgoing())[1]
    assert raw[26] & 0x50 == 0x50                    # encryption enabled, content in E042
    m = pf.read(raw)
    assert m.encryption == codec.ENC_FULL and m.digest_ok and m.tlvs == [(0x3007, b"\x40")]
    p = F.provisioned_params()
    p.set(0xE032, b"\x03")
    p.set(0xE034, struct.pack(">H", 0x3007))
    t, pf, clk = online(p)
    t.report([(0x3006, b"\x00\x01\x00\x02"), (0x3007, b"\x40")], clk.t)
    m = pf.read(F.only(t.outgoing())[1])
    assert m.encryption == codec.ENC_PARTIAL and m.encrypt_tags == (0x3007,)


def test_config_req_applies_platform_values():
    # 4.3.9.1 / G f: CONFIG_REQ with L=0 tags; values applied; 0x4010 + 0x4017 reported.
    t, pf, clk = online()
    t.request_config([0x0026], clk.t)
    req = pf.read(F.only(t.outgoing())[1])
    assert req.command == C.CONFIG_REQ and req.tlvs == [(0x0026, b"")]
    t.receive(pf.ack(req, {"result": 0}, [(0x0026, b"\x00\x5a")]), 2, clk.advance(1))
    assert t.params.get(0x0026) == b"\x00\x5a"
    trap = pf.read(F.only(t.outgoing())[1])
    assert trap.tlv(0x4010)[0] == 0 and trap.tlv(0x4017) is not None


def test_local_config_reported_with_0x4011():
    # 4.3.9.2: applied locally, reported with 0x4011; a restart-needing one logs out 0x03.
    t, pf, clk = online()
    assert t.local_config([(0x0026, b"\x00\x3c")], clk.t) == []
    trap = pf.read(F.only(t.outgoing())[1])
    assert trap.tlv(0x4011) == b"" and trap.tlv(0x0026) == b"\x00\x3c"
    assert t.local_config([(0x0104, b"\x09")], clk.t) == [0x0104]      # invalid parity
    t.local_config([(0x0002, b"cmiot")], clk.t)
    lo = pf.read(F.only(t.outgoing())[1])
    assert lo.fields["reason"] == K.LOGOUT_LOCAL_CONFIG


def test_repeated_timeouts_logout_0x02():
    # 4.4.6.2: requests keep timing out -> LOGOUT reason 0x02 (communication failure).
    p = F.provisioned_params()
    p.set(0x0108, b"\x00")                          # no retransmission
    p.set(0x0011, struct.pack(">I", 0))             # no heartbeat
    t, pf, clk = online(p)
    for i in range(3):
        t.report([(0x3007, bytes([i]))], clk.t)
        t.outgoing()
        clk.advance(10)
        t.tick(clk.t)
    lo = pf.read(F.only(t.outgoing())[1])
    assert lo.command == C.LOGOUT and lo.fields["reason"] == K.LOGOUT_COMM_FAILURE


def test_statistics_periodic_and_cleared_after_report():
    # Appendix E d: 0x2001 = 0x01 periodic every 0x2003 s; 0x2005 = 0x01 clears the
    # counters (0x2008-0x200E) after a successful report.
    p = F.provisioned_params()
    p.set(0x2003, struct.pack(">I", 600))
    p.set(0x2005, b"\x01")
    p.set(0x0011, struct.pack(">I", 0))            # no heartbeats to get in the way
    t, pf, clk = online(p)
    t.send_data(b"x" * 10, clk.t, ec_code=b"EC1")
    t.receive(pf.ack(pf.read(F.only(t.outgoing())[1]), {"result": 0}), 2, clk.advance(1))
    assert t.params.get_int(0x200B) > 0
    clk.advance(600)
    t.tick(clk.t)
    rep = pf.read(F.only(t.outgoing())[1])
    assert rep.tlv(0x200B) is not None and struct.unpack(">I", rep.tlv(0x200B))[0] > 0
    assert rep.tlv(0x2004) == b"\x01"
    t.receive(pf.ack(rep, {"result": 0}), 2, clk.advance(1))
    assert t.params.get(0x2008) == b"\x00\x00\x00\x00"
    assert t.deadline() is not None                 # next period armed


def test_statistics_on_first_business_use_of_the_month():
    # Appendix E d 0x2001 = 0x02: report with the first business data of the month.
    p = F.provisioned_params()
    p.set(0x2001, b"\x02")
    t, pf, clk = online(p)
    t.send_data(b"reading", clk.t, ec_code=b"EC1")
    cmds = [F.command(r) for _, r in t.outgoing()]
    assert cmds == [C.CONFIG_TRAP, C.TRANSPARENT_DATA]


def test_sms_update_window_and_timeout_alarm():
    # 4.4.3.1.3.2 a.1: op 0x03 -> ACK, wait 0x0026 s for the values by SMS; none ->
    # alarm 0x001C reported.
    t, pf, clk = online()
    t.receive(pf.make(C.SECURITY_CONFIG, {"operation": K.SEC_OP_UPDATE_NOTICE}, [(0xE025, b"")]), 2, clk.advance(1))
    assert pf.read(F.only(t.outgoing())[1]).fields["result"] == 0
    clk.advance(120)
    t.tick(clk.t)
    out = [pf.read(r) for _, r in t.outgoing()]
    assert any(m.tlv(0x300D) == struct.pack(">H", K.ALARM_SMS_RECEIVE_TIMEOUT) for m in out)


def test_security_read_encrypted_op_0x01():
    # G m 0x01: the values come back only inside E043 under the session key.
    from wmmp.wire import codec
    t, pf, clk = online()
    t.receive(pf.make(C.SECURITY_CONFIG, {"operation": K.SEC_OP_READ_ENCRYPTED}, [(0xE025, b""), (0xE039, b"")]),
              2, clk.advance(1))
    raw = F.only(t.outgoing())[1]
    assert b"Up123456" not in raw
    ack = pf.read(raw)
    assert ack.encryption == codec.ENC_PARTIAL and ack.tlv(0xE025) == F.UP and ack.tlv(0xE039) == b"\x01"


def test_short_connection_logs_in_to_send_and_out_when_done():
    # 4.2.1: a short-connection terminal stays offline, logs in when it has data,
    # and logs out once the exchange is done; no heartbeats.
    t, pf, clk = online(long_connection=False)
    clk.advance(5)
    t.tick(clk.t)
    lo = pf.read(F.only(t.outgoing())[1])
    assert lo.command == C.LOGOUT and lo.fields["reason"] == K.LOGOUT_NORMAL
    t.receive(pf.ack(lo), 2, clk.advance(1))
    assert t.state == E.S_IDLE
    t.send_data(b"reading", clk.t, ec_code=b"EC1")
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    t.receive(pf.login_ack(login), 2, clk.advance(1))
    cmds = [F.command(r) for _, r in t.outgoing()]
    assert C.TRANSPARENT_DATA in cmds and C.HEART_BEAT not in cmds


def test_terminal_security_requests_ops_0x04_to_0x07():
    # G m: 0x04 report digests in clear; 0x05 ask in clear -> SMS window; 0x06 ask
    # encrypted -> values in E043, applied after LOGOUT 0x09; 0x07 ask to enable.
    from wmmp.wire import codec, digest as D
    t, pf, clk = online()
    t.security_request(K.SEC_OP_REPORT, clk.t)
    raw = F.only(t.outgoing())[1]
    rep = pf.read(raw)
    assert rep.fields["operation"] == 4 and rep.tlv(0xE026) == D.uplink_password_digest(F.UP, t.params.get_int(0xE027))
    assert F.UP not in raw and F.DOWN not in raw          # only digests travel in clear
    t.receive(pf.ack(rep, {"result": 0}), 2, clk.advance(1))
    t.security_request(K.SEC_OP_REQ_UPDATE_CLEAR, clk.t, [0xE025])
    req = pf.read(F.only(t.outgoing())[1])
    t.receive(pf.ack(req, {"result": 0}), 2, clk.advance(1))
    assert ("sms_window", True) in t.events()
    t.security_request(K.SEC_OP_REQ_UPDATE_ENCRYPTED, clk.t, [0xE025])
    req = pf.read(F.only(t.outgoing())[1])
    ack = codec.Message(C.SECURITY_CONFIG_ACK, {"result": 0}, [(0xE025, b"Enc12345")], serial=pf.serial, seq=req.seq)
    ack.encryption = codec.ENC_PARTIAL
    ack.encrypt_tags = (0xE025,)
    t.receive(codec.encode(ack, P.DEFAULT, 2, pf.key(F.DOWN), pf.cipher()), 2, clk.advance(1))
    lo = pf.read(F.only(t.outgoing())[1])
    assert lo.fields["reason"] == K.LOGOUT_UPDATE_KEYS
    t.receive(pf.ack(lo), 2, clk.advance(1))
    login = F.only(t.outgoing())[1]
    assert codec.decode(login, key=D.DigestKey(F.IMEI, F.IMSI, b"Enc12345", 0)).digest_ok


def test_acks_out_of_order_matched_by_seq():
    # Appendix A / 4.4.6: responses are matched by seq, whatever their order.
    t, pf, clk = online()
    got = []
    t.report([(0x3007, b"\x01")], clk.t)
    t.report([(0x3007, b"\x02")], clk.t)
    a, b = [pf.read(r) for _, r in t.outgoing()]
    t.receive(pf.ack(b, {"result": 0}), 2, clk.advance(1))
    t.receive(pf.ack(a, {"result": 0}), 2, clk.advance(1))
    clk.advance(30)
    t.tick(clk.t)
    assert [F.command(r) for _, r in t.outgoing()] == [C.HEART_BEAT]    # nothing retransmitted


def test_register_0x04_after_local_reset_reports_e020():
    # 4.4.4 / G a: after a local security reset the terminal registers with op 0x04
    # and E020 naming what was cleared.
    p = F.provisioned_params()
    for tag in (0xE025, 0xE028, 0xE036):
        p.delete(tag)
    p.delete("registered")
    p.set("cleared", bytes([K.CLEARED_UP_PASSWORD | K.CLEARED_DOWN_PASSWORD | K.CLEARED_BASE_KEY]))
    t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=b"M2MMAKER0000A1B2"), p)
    t.start(1)
    reg = F.Platform().read(F.only(t.outgoing())[1])
    assert reg.fields["operation"] == K.REG_OP_REPORT_CLEARED and reg.tlv(0xE020) == b"\x0e"


def test_factory_reset_keeps_serial_registration_and_secrets():
    # Appendix E f 0x4001 = 0x0A: all parameters to factory defaults except the
    # serial and the registration state.
    t, pf, clk = online()
    t.params.set(0x0026, b"\x00\x10")
    t.params.set(0x0002, b"cmiot")
    t.receive(pf.make(C.REMOTE_CTRL, tlvs=[(0x4001, bytes([K.RC_FACTORY_RESET]))]), 2, clk.advance(1))
    assert pf.read(F.only(t.outgoing())[1]).fields["result"] == 0
    assert t.params.get(0x0026) == b"\x00\x78" and t.params.get(0x0002) is None
    assert t.registered and t.params.get("serial") == b"M2MMAKER0000A1B2" and t.params.get(0xE025) == F.UP


def test_statistics_due_during_relogin_are_not_lost():
    # Appendix E d 0x2001 = 0x01: a report due in the same tick as the session-key
    # expiry (PROTOCOL.md 5) is sent after the new login, not dropped.
    p = F.provisioned_params()
    p.set(0x2003, struct.pack(">I", 3600))          # same instant as the 1 h session key
    p.set(0x0011, struct.pack(">I", 0))
    t, pf, clk = online(p)
    clk.advance(3600)
    t.tick(clk.t)
    lo = [pf.read(r) for _, r in t.outgoing() if F.command(r) == C.LOGOUT][0]
    t.receive(pf.ack(lo), 2, clk.advance(1))
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    t.receive(pf.login_ack(login, curtime=F.CURTIME + 3601), 2, clk.advance(1))
    traps = [pf.read(r) for _, r in t.outgoing()]
    assert any(m.tlv(0x2008) is not None for m in traps)


def test_memory_error_at_boot_raises_alarm_0x0011():
    # Appendix E e 0x300D code 0x0011 (memory error): the store discarded a damaged
    # record; the terminal reports it after login and the store is repaired.
    class Damaged(PM.MemoryStorage):
        memory_error = True
        repaired = False

        def repair(self):
            self.repaired = True
    st = Damaged()
    p = F.provisioned_params()
    p.storage = st
    clk, pf = F.Clock(), F.Platform()
    pf.serial = b"M2MMAKER0000A1B2"
    t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=pf.serial), p)
    t.start(clk.t)
    assert st.repaired and st.memory_error is False and K.ALARM_MEMORY_ERROR in t.alarms
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    t.receive(pf.login_ack(login), 2, clk.advance(1))
    traps = [pf.read(r) for _, r in t.outgoing()]
    assert any(m.tlv(0x300D) == struct.pack(">H", K.ALARM_MEMORY_ERROR) for m in traps)


def test_open_requests_resent_in_the_next_session():
    # PROTOCOL.md 3 / 4.4.6: a request still unanswered when the session ends is sent
    # again after the new login, with a new seq and the new session's timestamp,
    # not retransmitted with the old one.
    p = F.provisioned_params()
    p.set(0x0011, struct.pack(">I", 0))
    t, pf, clk = online(p)
    t.report([(0x3007, b"\x33")], clk.t)
    old = pf.read(F.only(t.outgoing())[1])
    t.receive(pf.make(C.LOGOUT, {"reason": K.LOGOUT_SESSION_KEY_EXPIRED}), 2, clk.advance(1))
    out = t.outgoing()
    login = pf.read(out[-1][1], ts=0)
    assert login.command == C.LOGIN
    t.receive(pf.login_ack(login, curtime=F.CURTIME + 500), 2, clk.advance(1))
    again = [pf.read(r) for _, r in t.outgoing()]
    mine = [m for m in again if m.tlv(0x3007) == b"\x33"]
    assert len(mine) == 1 and mine[0].seq != old.seq and mine[0].digest_ok
    clk.advance(10)
    t.tick(clk.t)
    assert all(pf.read(r).seq != old.seq for _, r in t.outgoing())
