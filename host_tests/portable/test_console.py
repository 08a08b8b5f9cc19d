"""The service console (wmmp.board.console): local manual security resets of sections
4.4.1.4 (SIM security: binding and PIN1) and 4.4.4 (access passwords and base
key), both only after identity AND state checks; E020 bits of appendix E g
reported by REGISTER operation 0x04 (4.4.4) or the next LOGIN (4.4.1.4); the
persistent AUTH lockout; floods, long and malformed lines; no secret in any
reply or audit line (issue 4).  Local configuration by the technician (GET, SET:
4.3.9.2) and the requests to the platform (REQUEST CONFIG 4.3.9.1, REQUEST
SECURITY 4.4.3.1.3.1) through a real engine.  Portable."""
from binascii import hexlify, unhexlify

from wmmp.board import console as CO, store as ST
from wmmp.terminal import params as PM, simcard as S, simguard as G
from wmmp.terminal import engine as E
from wmmp.wire import commands as C, codes as K
from wmmp.errors import WmmpError
import fakeplatform as F
from ramfs import RamFS

CRED = b"svc-cred-7f3a91c2e5"       # the per-device service credential
PIN = "2468"
PUK = "11223344"
ICCID = "89860012345678901234"
T0 = 100


class Rig:
    """A console over a FlashStorage on a RAM filesystem, with a settable state."""

    def __init__(self, state="alarm", alarms=(K.ALARM_SELF_TEST_FAULT,), data=None, sim=None, fs=None,
                 store=None, **kw):
        self.fs = fs or RamFS()
        self.flash = ST.FlashStorage(self.fs, "/state")
        if data is not None:
            self.flash.save(data)
        self.state = (state, list(alarms))
        self.store = store if store is not None else self.flash
        self.con = CO.Console(self.store, lambda: self.state, sim=sim, firmware="FW1.2",
                              imei=F.IMEI, production=False, **kw)
        self.replies = []

    def say(self, line, now=T0):
        out = self.con.feed(line.encode() + b"\n", now).decode()
        self.replies.append(out)
        return out.strip()

    def login(self, now=T0, cred=CRED):
        r = self.say("CHALLENGE", now)
        assert r.startswith("OK CHALLENGE "), r
        nonce = unhexlify(r.split()[2])
        return self.say("AUTH " + hexlify(CO.response(cred, nonce)).decode(), now)

    def audit(self):
        return self.flash.audit_entries()


def _provisioned():
    d = {"secret_service": CRED, "serial": b"M2MMAKER0000A1B2", "registered": b"\x01",
         "imsi": F.IMSI.encode()}
    for t, v in ((0xE025, F.UP), (0xE027, b"\x6a\x00\x00\x00"), (0xE028, F.DOWN),
                 (0xE02A, b"\x6a\x00\x00\x00"), (0xE036, F.BASE), (0xE038, b"\x6a\x00\x00\x00"),
                 (0xE039, b"\x01")):
        d[t] = v
    return d


NEW = b"9c2f7a1e5b3d8046e1a7c9f20b6d4e83"     # a credential given by PROVISION / REKEY
NEW2 = b"05d1b8e7c3a94f2607e8d1c5b9a3f741"


def _no_secret(texts):
    """No reply and no audit line carries a secret, in clear or in hex."""
    secrets = [CRED, NEW, NEW2, F.UP, F.DOWN, F.BASE, PIN.encode(), PUK.encode()]
    for text in texts:
        if text.startswith("OK CHALLENGE "):
            # a fresh random nonce: it carries nothing, but a short PIN's digits
            # can turn up in it by chance
            text = "OK CHALLENGE"
        for s in secrets:
            assert s.decode() not in text, text
            assert hexlify(s).decode() not in text.lower(), text


def _audit_text(rig):
    return ["%s %s" % (e, d) for _, e, d in rig.audit()]


# -- challenge-response (RFC 2104 HMAC-MD5) --------------------------------------

def test_hmac_md5_matches_rfc2202_vectors():
    # RFC 2202 section 2, HMAC-MD5 test cases 1, 2 and 3 (the AUTH answer function).
    assert hexlify(CO.hmac_md5(b"\x0b" * 16, b"Hi There")) == b"9294727a3638bb1c13f48ef8158bfc9d"
    assert hexlify(CO.hmac_md5(b"Jefe", b"what do ya want for nothing?")) == \
        b"750c783e6ab0b503eaa86e310a5db738"
    assert hexlify(CO.hmac_md5(b"\xaa" * 16, b"\xdd" * 50)) == b"56be34521d144c88dbb8c733f0e8b3f6"


def test_auth_with_the_right_answer():
    # 4.4.1.4 / 4.4.4 identity check: possession of the credential proven by
    # challenge-response; the credential itself never crosses the line.
    r = Rig(data=_provisioned())
    assert r.say("STATUS").endswith("auth=no auth_failures=0 auth_wait=0")
    assert r.login() == "OK AUTH valid=%d" % CO.AUTH_TTL
    assert "auth=yes" in r.say("STATUS")
    assert r.audit()[-1][1] == "console_auth_ok"
    _no_secret(r.replies)


def test_challenges_are_fresh_and_single_use():
    # Identity check of 4.4.1.4 / 4.4.4: a nonce answers one AUTH only (no replay).
    r = Rig(data=_provisioned())
    a = r.say("CHALLENGE").split()[2]
    b = r.say("CHALLENGE").split()[2]
    assert a != b and len(a) == 2 * CO.NONCE_LEN
    # the first nonce was replaced: its answer is wrong now
    assert r.say("AUTH " + hexlify(CO.response(CRED, unhexlify(a))).decode()).startswith("ERR auth ")
    assert r.con.fails == 1
    # an answer without a challenge is refused, not counted
    assert r.say("AUTH " + "00" * 16, T0 + 10).startswith("ERR no_challenge ")
    assert r.con.fails == 1


def test_nonce_expires():
    # Identity check of 4.4.1.4 / 4.4.4: a nonce lives NONCE_TTL seconds.
    r = Rig(data=_provisioned())
    nonce = unhexlify(r.say("CHALLENGE").split()[2])
    late = T0 + CO.NONCE_TTL
    assert r.say("AUTH " + hexlify(CO.response(CRED, nonce)).decode(), late).startswith("ERR no_challenge ")
    assert r.con.fails == 0


def test_no_credential_provisioned_refuses():
    # 4.4.1.4 / 4.4.4: without the credential nobody has "相应的操作权限".
    d = _provisioned()
    del d["secret_service"]
    r = Rig(data=d)
    assert r.say("CHALLENGE").startswith("ERR no_credential ")
    assert r.say("AUTH " + "ab" * 16).startswith("ERR no_credential ")


def test_wrong_answers_lock_with_a_doubling_delay():
    # Issue 4: lockout with a growing delay after wrong answers.
    r = Rig(data=_provisioned())
    now = T0
    for n, wait in ((1, 2), (2, 4), (3, 8), (4, 16)):
        assert r.login(now, b"wrong") == "ERR auth wrong answer: %d failures, next AUTH in %d s" % (n, wait)
        assert r.say("CHALLENGE", now + wait - 1) == \
            "ERR locked wait 1 s after %d wrong answers" % n
        assert r.say("AUTH " + "00" * 16, now + wait - 1).startswith("ERR locked ")
        now += wait
    assert r.con.fails == 4
    assert r.login(now) == "OK AUTH valid=%d" % CO.AUTH_TTL
    assert r.con.fails == 0 and CO.lock_delay(0) == 0
    assert r.login(now + 1, b"wrong").endswith("next AUTH in 2 s")    # counted from 0 again
    fails = [d for _, e, d in r.audit() if e == "console_auth_fail"]
    assert fails[:4] == ["fails=1 wait=2s", "fails=2 wait=4s", "fails=3 wait=8s", "fails=4 wait=16s"]


def test_delay_has_a_cap():
    # Issue 4 lockout schedule: 2, 4, 8 ... s up to LOCK_CAP.
    assert [CO.lock_delay(n) for n in (1, 2, 3, 9)] == [2, 4, 8, 512]
    assert CO.lock_delay(10) == CO.LOCK_CAP and CO.lock_delay(60000) == CO.LOCK_CAP


def test_lockout_survives_power_cycling():
    # Issue 4: "a persistent lockout ... which power cycling does not reset": the
    # counter is on flash, and after a reboot the whole delay starts again.
    r = Rig(data=_provisioned())
    for i in range(3):
        r.login(T0 + 100 * i, b"wrong")
    assert r.con.fails == 3
    # power cycle: new storage object, new console, the clock starts again at 5
    flash = ST.FlashStorage(r.fs, "/state")
    con = CO.Console(flash, lambda: ("alarm", [6]), production=False)
    assert con.fails == 3
    assert con.feed(b"CHALLENGE\n", 5) == b"ERR locked wait 8 s after 3 wrong answers\r\n"
    assert con.feed(b"CHALLENGE\n", 12).startswith(b"ERR locked wait 1 s")
    assert con.feed(b"CHALLENGE\n", 13).startswith(b"OK CHALLENGE ")


def test_failure_counter_not_saved_means_no_auth():
    # Fail closed: when the counter cannot be written, no answer is checked.
    r = Rig(data=_provisioned())
    nonce = unhexlify(r.say("CHALLENGE").split()[2])
    r.fs.fail_writes = True
    assert r.say("AUTH " + hexlify(CO.response(CRED, nonce)).decode()).startswith("ERR storage ")
    assert "auth=no" in r.say("STATUS")


def test_auth_expires():
    # 4.4.1.4 / 4.4.4 identity check holds for AUTH_TTL s, or until BYE.
    r = Rig(data=_provisioned())
    r.login()
    assert r.say("RESET KEYS", T0 + CO.AUTH_TTL).startswith("ERR need_auth ")
    r.login(T0 + CO.AUTH_TTL)
    assert r.say("BYE", T0 + CO.AUTH_TTL) == "OK BYE"
    assert r.say("RESET KEYS", T0 + CO.AUTH_TTL).startswith("ERR need_auth ")


def test_clock_going_back_ends_auth_and_restarts_the_wait():
    # A wrapped ticks counter must neither extend an authorisation nor freeze the lockout.
    r = Rig(data=_provisioned())
    r.login(1000)
    assert "auth=yes" in r.say("STATUS", 1001)
    assert r.say("RESET KEYS", 5).startswith("ERR need_auth ")
    r.login(2000, b"wrong")
    assert r.say("CHALLENGE", 3) == "ERR locked wait 2 s after 1 wrong answers"
    assert r.say("CHALLENGE", 5).startswith("OK CHALLENGE ")


# -- resets: identity AND state (4.4.1.4, 4.4.4) -----------------------------------

def test_resets_refused_without_auth_in_alarm_state():
    r = Rig(data=_provisioned())
    assert r.say("RESET KEYS").startswith("ERR need_auth ")
    assert r.say("RESET SIM").startswith("ERR need_auth ")
    assert r.flash.load()[0xE025] == F.UP
    assert [e for _, e, _ in r.audit()] == ["console_refused", "console_refused"]


def test_resets_refused_in_normal_state_even_with_auth():
    # 4.4.1.4 / 4.4.4: "正常工作或登录状态下即使身份鉴权通过也无法进行本地人工设置".
    for state, alarms in (("online", []), ("online", [K.ALARM_SELF_TEST_FAULT]),
                          ("logging-out", [K.ALARM_MEMORY_ERROR]), ("idle", []), ("logging-in", [])):
        r = Rig(state, alarms, data=_provisioned())
        r.login()
        assert "reset=refused" in r.say("STATUS")
        assert r.say("RESET KEYS").startswith("ERR state terminal is %s" % state)
        assert r.say("RESET SIM").startswith("ERR state ")
        assert r.flash.load() == dict(_provisioned(), console_fails=b"\x00\x00")
        assert r.con.events() == []


def test_resets_refused_when_the_state_is_unknown():
    r = Rig(data=_provisioned())
    r.con.state_provider = lambda: 1 / 0
    r.login()
    assert r.say("RESET KEYS").startswith("ERR state terminal is unknown")


def test_reset_keys_in_alarm_state_records_e020_for_register_0x04():
    # 4.4.4 + appendix E g E020: uplink 0x08, downlink 0x04, base key 0x02; the
    # terminal must register again (REGISTER operation 0x04) to get new ones.
    r = Rig("alarm", [K.ALARM_PLATFORM_CONNECT_FAILED], data=_provisioned())
    r.login()
    assert r.say("RESET KEYS") == "OK RESET KEYS cleared=0x0E next=register-0x04"
    d = r.flash.load()
    for tag in (0xE025, 0xE027, 0xE028, 0xE02A, 0xE036, 0xE038, 0xE039):
        assert tag not in d
    assert d["cleared"] == bytes([K.CLEARED_UP_PASSWORD | K.CLEARED_DOWN_PASSWORD | K.CLEARED_BASE_KEY])
    assert "registered" not in d and d["serial"] == b"M2MMAKER0000A1B2" and d["secret_service"] == CRED
    assert r.con.events() == [("reset", "keys", 0x0E)]
    assert r.audit()[-1][1:] == ("console_reset_keys", "cleared E020=0x0E: REGISTER 0x04 next")
    # the restarted engine reports it: REGISTER operation 0x04 with E020 (G a)
    t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=d["serial"]), PM.Params(ST.FlashStorage(r.fs, "/state")))
    t.start(1)
    reg = F.Platform().read(F.only(t.outgoing())[1])
    assert reg.command == C.REGISTER and reg.fields["operation"] == K.REG_OP_REPORT_CLEARED
    assert reg.tlv(0xE020) == b"\x0e"
    _no_secret(r.replies + _audit_text(r))


def test_reset_keys_with_only_some_keys_and_accumulated_bits():
    # Appendix E g E020: only what was stored is reported cleared; bits accumulate
    # until the engine reports them; bit 8 stays 0.
    d = _provisioned()
    for tag in (0xE036, 0xE038, 0xE039):
        del d[tag]
    d["cleared"] = bytes([K.CLEARED_PIN1])      # an earlier report not yet sent
    r = Rig("backoff", [], data=d)
    r.login()
    assert r.say("RESET KEYS") == "OK RESET KEYS cleared=0x0C next=register-0x04"
    assert r.flash.load()["cleared"] == bytes([0x8C])
    assert r.say("RESET KEYS") == "OK RESET KEYS cleared=0x00 nothing stored"


def test_reset_keys_through_a_live_params_while_the_engine_runs():
    # The engine's Params is the store: the console's change is not overwritten
    # by a later Params.commit().
    p = F.provisioned_params()
    p.set("secret_service", CRED)
    r = Rig(store=p)
    r.login()
    assert r.say("RESET KEYS").startswith("OK RESET KEYS cleared=0x0E")
    assert p.get(0xE025) is None and p.get("registered") is None and p.get_int("cleared") == 0x0E
    p.commit()
    assert p.storage.load()["cleared"] == b"\x0e"


def test_reset_keys_flash_failure_loses_nothing():
    # 4.4.4 reset and issue 4 "Bad input ... loses nothing": a failed write changes nothing.
    r = Rig(data=_provisioned())
    r.login()
    r.fs.fail_writes = True
    assert r.say("RESET KEYS").startswith("ERR storage ")
    r.fs.fail_writes = False
    assert r.flash.load()[0xE025] == F.UP and r.con.events() == []


def _guarded_engine(sim, p):
    t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=b"M2MMAKER0000A1B2"), p, sim=sim)
    t.start(1)
    return t


def test_reset_sim_foreign_card_with_binding():
    # 4.4.1.4 case 1: after a SIM swap the binding stops the terminal (alarm state);
    # the technician clears the binding and the PIN1 check; E020 PIN1 (0x80) goes
    # into the next LOGIN, and the swap is reported with REGISTER 0x02 (4.4.1.3).
    p = F.provisioned_params()
    p.set("secret_service", CRED)
    p.set("secret_pin1", b"1234")
    G.bind(p, F.IMSI, F.IMEI)
    sim = S.SimulatedSim("460009999999999", ICCID, F.IMEI)
    t = _guarded_engine(sim, p)
    assert t.state_name == "alarm"
    con = CO.Console(p, lambda: (t.state_name, t.alarms), sim=sim, production=False)
    nonce = unhexlify(con.feed(b"CHALLENGE\r\n", 5).split()[2])
    assert con.feed(b"AUTH " + hexlify(CO.response(CRED, nonce)) + b"\r\n", 5).startswith(b"OK AUTH")
    assert con.feed(b"RESET SIM\r\n", 6) == b"OK RESET SIM cleared=0x80 bind=0 pin1=off next=login-e020\r\n"
    assert not sim.pin_enabled() and G.read_tlvs(sim, p, b"", [0xE00D]) == [(0xE00D, b"\x00")]
    assert p.get("cleared_login") == bytes([K.CLEARED_PIN1]) and con.events() == [("reset", "sim", 0x80)]
    t2 = _guarded_engine(sim, p)
    reg = F.Platform().read(F.only(t2.outgoing())[1])
    assert reg.command == C.REGISTER and reg.fields["operation"] == K.REG_OP_CHANGE_MAPPING


def test_reset_sim_blocked_pin_with_puk_then_login_reports_e020():
    # 4.4.1.4 case 3: PIN1 locked; the technician unlocks with PUK1, the PIN1 check
    # is switched off; the next LOGIN carries E020 = 0x80 (PIN1, appendix E g).
    p = F.provisioned_params()
    p.set("secret_service", CRED)
    p.set("secret_pin1", PIN.encode())
    sim = S.SimulatedSim(F.IMSI, ICCID, F.IMEI, pin=PIN, puk=PUK)
    for bad in ("1111", "2222", "3333"):
        try:
            sim.enter_pin(bad)
        except S.WrongPin:
            pass
    t = _guarded_engine(sim, p)
    assert t.state_name == "alarm" and sim.pin_state() == S.SIM_PUK
    r = Rig(store=p, sim=sim)
    r.state = (t.state_name, t.alarms)
    r.login()
    assert "sim=SIM_PUK" in r.say("STATUS")
    assert r.say("RESET SIM").startswith("ERR need_puk ")
    assert r.say("RESET SIM 12345678").startswith("ERR sim WrongPuk: ")
    assert sim.attempts()[1] == S.PUK_TRIES - 1
    assert r.say("RESET SIM 1234").startswith("ERR syntax ")
    assert r.say("RESET SIM " + PUK) == "OK RESET SIM cleared=0x80 bind=0 pin1=off next=login-e020"
    assert sim.pin_state() == S.READY and not sim.pin_enabled()
    t2 = _guarded_engine(sim, p)
    login = F.Platform().read(F.only(t2.outgoing())[1], ts=0)
    assert login.command == C.LOGIN and login.tlv(0xE020) == b"\x80"
    _no_secret(r.replies)


def test_reset_sim_refused_when_the_card_waits_for_pin1():
    # 4.4.1.4: the PIN1 check cannot be cleared without PIN1: a clear refusal
    # that names RESET SIM PIN1, nothing sent, nothing changed.
    sim = S.SimulatedSim(F.IMSI, ICCID, F.IMEI, pin=PIN, puk=PUK)
    d = _provisioned()
    r = Rig(data=d, sim=sim)
    G.bind(r.flash, F.IMSI, F.IMEI)
    r.login()
    assert r.say("RESET SIM").startswith("ERR need_pin SIM waits for PIN1 ")
    assert "RESET SIM PIN1 <PIN1>" in r.replies[-1]
    assert r.say("RESET SIM " + PUK).startswith("ERR need_pin ")
    assert sim.pin_commands == 0 and sim.attempts() == (3, 10)
    assert G.read_tlvs(sim, r.flash, b"", [0xE00D]) == [(0xE00D, b"\x01")]
    assert "cleared_login" not in r.flash.load()
    sim.remove()
    assert r.say("RESET SIM").startswith("ERR sim_state no SIM card")
    assert r.say("RESET SIM PIN1 " + PIN).startswith("ERR sim_state no SIM card")
    _no_secret(r.replies + _audit_text(r))


def test_reset_sim_without_a_sim_interface():
    # 4.4.1.4 needs the SIM: a clear refusal.
    r = Rig(data=_provisioned())
    r.login()
    assert r.say("RESET SIM").startswith("ERR sim no SIM interface")


# -- the line protocol and bad input ---------------------------------------------

def test_status_ident_alarms_need_no_auth_and_show_no_secret():
    # Issue 4 console: status, alarms (appendix E e codes), identities; no secret.
    sim = S.SimulatedSim(F.IMSI, ICCID, F.IMEI, pin=PIN, puk=PUK, pin_enabled=False)
    r = Rig("alarm", [K.ALARM_SELF_TEST_FAULT, K.ALARM_MEMORY_ERROR], data=_provisioned(), sim=sim)
    st = r.say("STATUS")
    assert st.startswith("OK STATUS state=alarm alarms=0x0006,0x0011 registered=yes sim=READY pin1=off "
                         "pin1_left=3 puk1_left=10 pin1_errors=0/3 bind=0 cleared=0x00 ")
    assert "reset=allowed" in st
    assert r.say("IDENT") == "OK IDENT serial=M2MMAKER0000A1B2 imei=%s imsi=%s iccid=%s fw=FW1.2 cred_id=-" % (
        F.IMEI, F.IMSI, ICCID)
    assert r.say("ALARMS") == "OK ALARMS n=2 0x0006 0x0011"
    assert r.say("help").startswith("OK HELP STATUS")
    _no_secret(r.replies)


def test_audit_export_needs_auth_and_carries_no_secret():
    # Issue 4: export of the audit log; every refusal, AUTH and 4.4.4 reset is in it.
    r = Rig(data=_provisioned())
    assert r.say("AUDIT").startswith("ERR need_auth ")
    r.login(T0, b"wrong")
    r.login(T0 + 2)
    r.say("RESET KEYS", T0 + 2)
    out = r.con.feed(b"AUDIT\n", T0 + 3).decode().split("\r\n")
    assert out[-1] == "" and out[-2] == "OK AUDIT n=%d" % len(r.audit())
    lines = out[:-2]
    assert all(x.startswith("* ") for x in lines)
    assert [x.split()[2] for x in lines] == ["console_refused", "console_auth_fail", "console_auth_ok",
                                             "console_reset_keys"]
    assert r.con.feed(b"AUDIT 1\n", T0 + 3).decode().startswith("* ")
    assert r.say("AUDIT 0", T0 + 3).startswith("ERR syntax ")
    _no_secret(r.replies + out + _audit_text(r))


def test_malformed_lines_get_one_err_each_and_nothing_changes():
    # Issue 4 "Bad input": malformed console lines get a clear refusal, lose nothing.
    r = Rig(data=_provisioned())
    assert r.say("FROB") == "ERR unknown unknown command (see HELP)"
    assert r.say("STATUS now").startswith("ERR syntax ")
    assert r.say("RESET").startswith("ERR syntax ")
    assert r.say("RESET SIM " + PUK + " x").startswith("ERR syntax ")
    assert r.say("AUTH").startswith("ERR syntax ")
    assert r.say("AUTH " + "zz" * 16).startswith("ERR syntax ")
    assert r.say("AUTH " + "00" * 17).startswith("ERR syntax ")
    assert r.say("STA\xe9TUS").startswith("ERR bad_char ")
    assert r.con.feed(b"\xff\xfe\x00\n", T0) == b"ERR bad_char line has bytes outside ASCII 0x20-0x7E\r\n"
    assert r.con.feed(b"\n\r\n   \n", T0) == b""                       # empty lines: no reply
    assert r.con.fails == 0 and r.flash.load()[0xE025] == F.UP
    # a typed secret is never echoed nor logged
    assert PUK not in r.say("X" + PUK)
    _no_secret(r.replies + _audit_text(r))


def test_line_endings_and_split_input():
    # docs/CONSOLE.md line protocol: CR, LF or CRLF; a line may arrive in pieces.
    r = Rig(data=_provisioned())
    assert r.con.feed(b"ALA", T0) == b""
    assert r.con.feed(b"RMS\r", T0) == b"OK ALARMS n=1 0x0006\r\n"
    assert r.con.feed(b"\nalarms\rALARMS\r\n", T0).count(b"OK ALARMS") == 2


def test_ctrl_c_is_an_ordinary_byte():
    # Issue 4: in production Ctrl-C does not drop into the REPL; the console sees
    # 0x03 as a byte of a line (refused as such) and carries on.
    assert CO.disable_ctrl_c() in (True, False)
    r = Rig(data=_provisioned())
    assert r.con.feed(b"\x03", T0) == b""
    assert r.con.feed(b"\x03\x03\n", T0).startswith(b"ERR bad_char ")
    assert r.say("ALARMS") == "OK ALARMS n=1 0x0006"


def test_long_line_discarded_with_one_err():
    # Issue 4 "Bad input": a line over MAX_LINE gets one ERR and is discarded.
    r = Rig(data=_provisioned())
    out = r.con.feed(b"A" * (CO.MAX_LINE + 1), T0)
    assert out == b"ERR too_long line longer than %d bytes discarded\r\n" % CO.MAX_LINE
    assert r.con.feed(b"RESET KEYS" + b"B" * 100 + b"\nALARMS\n", T0 + 1) == b"OK ALARMS n=1 0x0006\r\n"
    assert r.con.feed(b"S" * CO.MAX_LINE + b"\n", T0 + 2).startswith(b"ERR unknown ")   # at the limit: read


def test_flood_dropped_counted_and_never_run():
    # Issue 4 "Bad input": console floods are dropped and counted, never an exception.
    r = Rig(data=_provisioned())
    r.login()
    burst = b"X" * (CO.BUDGET - 4) + b"RESET KEYS\n"
    out = r.con.feed(burst, T0 + 1)
    assert out.count(b"\r\n") == 2 and b"ERR too_long" in out and b"ERR flood" in out
    assert r.con.dropped == len(burst) - CO.BUDGET
    assert r.con.feed(b"ALARMS\n" * 10, T0 + 1.5) == b""          # same second: dropped
    assert r.con.dropped == len(burst) - CO.BUDGET + 70
    # the line that lost bytes is never run, even when its end arrives later
    assert r.con.feed(b"RESET KEYS\n", T0 + 2.5) == b""
    assert r.con.feed(b"ALARMS\n", T0 + 2.5) == b"OK ALARMS n=1 0x0006\r\n"
    assert r.flash.load()[0xE025] == F.UP and r.con.events() == []
    # a long stream of junk costs bounded memory and audit entries
    for i in range(70):
        r.con.feed(b"junk\n" * 20, T0 + 3 + i)
    events = [e for _, e, _ in r.audit()]
    assert events.count("console_refused") <= CO.AUDIT_BURST * 3
    assert "console_suppressed" in events and r.con.suppressed > 0
    assert len(r.con._line) <= CO.MAX_LINE


def test_refusals_are_audited_without_input_text():
    # 4.4.4 state check refusal and issue 4: refusals are logged, never the input.
    r = Rig("online", [], data=_provisioned())
    r.say("FROB " + PUK)
    r.login()
    r.say("RESET KEYS")
    details = [d for _, e, d in r.audit() if e == "console_refused"]
    assert details == ["unknown len=4", "state RESET KEYS state=online alarms=0"]
    _no_secret(_audit_text(r))


def test_repr_has_no_secret():
    # Issue 4: secrets never appear in repr.
    r = Rig(data=_provisioned())
    r.login()
    _no_secret([repr(r.con), str(r.con)])
    assert isinstance(CO.response(CRED, b"n" * 16), bytes) and len(CO.response(CRED, b"n")) == 16
    try:
        r.con.feed(b"ALARMS\n", T0 + 1)
    except WmmpError:
        assert False


# -- provisioning and rotation of the service credential (4.4.1.4, 4.4.4) ----------

def _factory(**kw):
    """A terminal as it leaves the board test: no credential, never registered,
    the firmware's factory switch on."""
    kw.setdefault("provisioning", True)
    return Rig("idle", [], data={"imsi": F.IMSI.encode()}, **kw)


def _refusals(rig):
    return [d for _, e, d in rig.audit() if e == "console_refused"]


def test_parse_credential():
    # The service credential behind the identity check of 4.4.1.4 / 4.4.4: 32 hex
    # digits, either case, stored lowercase; placeholders refused.
    assert CO.parse_credential(NEW.decode().upper()) == (NEW, None)
    assert CO.parse_credential(NEW.decode()[:31]) == (None, "length")
    assert CO.parse_credential(NEW.decode() + "0") == (None, "length")
    assert CO.parse_credential("g" + NEW.decode()[1:]) == (None, "hex")
    assert CO.parse_credential("0" * 32) == (None, "weak")
    assert CO.parse_credential("0123" * 8) == (None, "weak")
    assert CO.parse_credential("01234" * 6 + "01") == (CO.parse_credential("01234" * 6 + "01")[0], None)
    assert CO.valid_id("860000000000001/1") and CO.valid_id("a" * CO.ID_MAX)
    assert not CO.valid_id("a" * (CO.ID_MAX + 1)) and not CO.valid_id("x=y") and not CO.valid_id("")


def test_provision_in_the_factory_state_stores_it_in_one_write():
    # 4.4.1.4 / 4.4.4 identity check ("必须拥有相应的操作权限"): the per-device
    # credential gets onto the terminal at the factory, in one store write with
    # an audit entry; it is never echoed, logged or shown afterwards.
    r = _factory()
    st = r.say("STATUS")
    assert "credential=no provisioning=open" in st
    writes = r.flash.writes
    assert r.say("PROVISION %s %s/1" % (NEW.decode().upper(), F.IMEI)) == \
        "OK PROVISION credential=stored id=%s/1" % F.IMEI
    assert r.flash.writes == writes + 1
    d = r.flash.load()
    assert d["secret_service"] == NEW and d["service_cred_id"] == ("%s/1" % F.IMEI).encode()
    assert "credential=yes provisioning=closed-stored" in r.say("STATUS")
    assert r.say("IDENT").endswith(" cred_id=%s/1" % F.IMEI)
    assert r.audit()[-1][1:] == ("console_provision", "service credential stored id=%s/1" % F.IMEI)
    # the technician's challenge-response works with it at once
    assert r.login(cred=NEW) == "OK AUTH valid=%d" % CO.AUTH_TTL
    _no_secret(r.replies + _audit_text(r) + [repr(r.con)])
    # after a power cycle it is there, and provisioning stays closed
    con = CO.Console(ST.FlashStorage(r.fs, "/state"), lambda: ("idle", []), production=False,
                     provisioning=True)
    assert con.feed(b"PROVISION " + NEW2 + b"\n", 5).startswith(b"ERR provisioned ")
    assert ST.FlashStorage(r.fs, "/state").load()["secret_service"] == NEW


def test_provision_without_an_id():
    # 4.4.1.4 / 4.4.4: the id is optional (shown as "-"); the credential is not.
    r = _factory()
    assert r.say("provision " + NEW.decode()) == "OK PROVISION credential=stored id=-"
    assert "service_cred_id" not in r.flash.load()
    assert r.say("IDENT").endswith(" cred_id=-")
    assert "PROVISION <32 hex> [<id>] | REKEY <32 hex> [<id>]" in r.say("HELP")


def test_provision_refused_once_a_credential_is_stored():
    # 4.4.1.4 / 4.4.4: whoever holds the console must not replace the credential
    # the identity check relies on: PROVISION only in the factory state.
    r = Rig(data=_provisioned(), provisioning=True)
    assert r.say("PROVISION " + NEW.decode()) == \
        "ERR provisioned a service credential is already stored: REKEY after AUTH replaces it"
    assert r.flash.load()["secret_service"] == CRED
    assert _refusals(r) == ["provisioned PROVISION stored"]
    _no_secret(r.replies + _audit_text(r))


def test_provision_refused_without_the_factory_switch():
    # 4.4.1.4 / 4.4.4: a production image (switch off) never accepts PROVISION,
    # even on a terminal without a credential.
    r = _factory(provisioning=False)
    assert "credential=no provisioning=closed-switch" in r.say("STATUS")
    assert r.say("PROVISION " + NEW.decode()) == \
        "ERR provision_closed provisioning is off in this firmware (factory switch)"
    assert "secret_service" not in r.flash.load()
    assert r.say("CHALLENGE").startswith("ERR no_credential ")
    assert _refusals(r) == ["provision_closed PROVISION switch", "no_credential none stored"]


def test_provision_refused_after_the_first_registration():
    # 4.4.1.4 / 4.4.4: a terminal that has registered (serial stored) is in the
    # field: a missing credential is fixed at the depot, not over the console.
    r = Rig("alarm", [K.ALARM_SELF_TEST_FAULT], data={"serial": b"M2MMAKER0000A1B2"}, provisioning=True)
    assert r.say("PROVISION " + NEW.decode()).startswith(
        "ERR provision_closed terminal has registered: provisioning only before the first registration")
    assert "secret_service" not in r.flash.load()
    assert _refusals(r) == ["provision_closed PROVISION registered"]
    assert "credential=no provisioning=closed-registered" in r.say("STATUS")


def test_provision_only_in_the_window_after_boot():
    # 4.4.1.4 / 4.4.4: the factory window is PROVISION_WINDOW s from boot; a clock
    # going back (wrapped ticks) closes it until the next boot.
    r = _factory(boot_time=0)
    assert "provisioning=open" in r.say("STATUS", CO.PROVISION_WINDOW - 1)
    assert r.say("PROVISION " + NEW.decode(), CO.PROVISION_WINDOW) == \
        "ERR provision_closed provisioning only in the first %d s after boot" % CO.PROVISION_WINDOW
    assert _refusals(r) == ["provision_closed PROVISION window"]
    r = _factory()                  # no boot_time: the window starts at the first fed time
    assert "provisioning=open" in r.say("STATUS", 5000)
    assert "provisioning=open" in r.say("STATUS", 5000 + CO.PROVISION_WINDOW - 1)
    assert "provisioning=closed-window" in r.say("STATUS", 5000 + CO.PROVISION_WINDOW)
    r = _factory(provision_window=30)
    r.say("STATUS", 100)
    assert r.say("PROVISION " + NEW.decode(), 50).startswith("ERR provision_closed provisioning only in "
                                                               "the first 30 s")
    assert "secret_service" not in r.flash.load()


def test_provision_bad_input_each_refused_and_audited():
    # 4.4.1.4 / 4.4.4 and issue 4 "Bad input": wrong length, non-hex, placeholder,
    # bad id, extra words: one clear ERR each, an audit entry each, nothing stored,
    # the typed value in no reply and no audit entry.
    r = _factory()
    hx = NEW.decode()
    assert r.say("PROVISION " + hx[:31]) == "ERR syntax PROVISION takes 32 hex digits and an optional id"
    assert r.say("PROVISION " + hx + "a").startswith("ERR syntax ")
    assert r.say("PROVISION " + hx[:30] + "zz").startswith("ERR syntax ")
    assert r.say("PROVISION " + "0" * 32) == \
        "ERR weak credential has fewer than 5 different digits: use a random one"
    assert r.say("PROVISION %s bad=id" % hx) == "ERR syntax id: 1-32 characters of A-Z a-z 0-9 . _ : / -"
    assert r.say("PROVISION %s id extra" % hx).startswith("ERR syntax bad arguments for PROVISION")
    assert r.say("PROVISION").startswith("ERR syntax bad arguments for PROVISION")
    assert "secret_service" not in r.flash.load()
    assert _refusals(r) == ["syntax PROVISION length", "syntax PROVISION length", "syntax PROVISION hex",
                            "weak PROVISION weak", "syntax PROVISION id", "syntax PROVISION",
                            "syntax PROVISION"]
    _no_secret(r.replies + _audit_text(r))


def test_provision_in_a_flood_is_never_run():
    # Issue 4 "Bad input": a PROVISION line that lost bytes to the flood limit is
    # discarded (what is left could be another value), refused and audited.
    r = _factory()
    burst = b"ALARMS\n" * 70 + b"PROVISION " + NEW + b"\n"
    out = r.con.feed(burst, T0)
    assert out.count(b"OK ALARMS") == 70 and out.endswith(b"ERR flood input over 512 bytes/s: 21 bytes dropped\r\n")
    assert r.con.feed(b"\n", T0 + 1) == b""
    assert "secret_service" not in r.flash.load()
    assert _refusals(r) == ["flood dropped=21"]
    assert r.say("PROVISION " + NEW.decode(), T0 + 2).startswith("OK PROVISION ")


def test_provision_flash_failure_stores_nothing():
    # 4.4.1.4 / 4.4.4: a failed write leaves the factory state (and says so).
    r = _factory()
    r.fs.fail_writes = True
    assert r.say("PROVISION " + NEW.decode()) == "ERR storage flash write failed: nothing changed"
    r.fs.fail_writes = False
    assert "secret_service" not in (r.flash.load() or {})
    assert r.audit()[-1][1:] == ("console_provision", "flash write failed: nothing changed")
    assert "provisioning=open" in r.say("STATUS")


def test_rekey_needs_auth_replaces_and_ends_the_authorisation():
    # 4.4.1.4 / 4.4.4 identity check: rotating the credential needs the old one
    # (a right AUTH); the authorisation ends with it, the next AUTH needs the new one.
    r = Rig(data=_provisioned())
    assert r.say("REKEY %s 860000000000001/2" % NEW.decode()).startswith("ERR need_auth REKEY needs ")
    assert r.flash.load()["secret_service"] == CRED
    r.login()
    writes = r.flash.writes
    assert r.say("REKEY %s 860000000000001/2" % NEW.decode().upper()) == \
        "OK REKEY credential=replaced id=860000000000001/2 auth=ended"
    assert r.flash.writes == writes + 1
    d = r.flash.load()
    assert d["secret_service"] == NEW and d["service_cred_id"] == b"860000000000001/2"
    assert "auth=no" in r.say("STATUS")
    assert r.say("RESET KEYS").startswith("ERR need_auth ")
    assert r.login(T0 + 1, cred=NEW) == "OK AUTH valid=%d" % CO.AUTH_TTL
    assert r.say("REKEY " + NEW.decode(), T0 + 1) == \
        "ERR unchanged the new credential is the stored one: nothing changed"
    assert r.say("REKEY " + NEW2.decode(), T0 + 1) == "OK REKEY credential=replaced id=- auth=ended"
    assert "service_cred_id" not in r.flash.load()        # a stale id is not kept
    assert r.login(T0 + 2, cred=NEW).startswith("ERR auth ")
    events = [(e, d) for _, e, d in r.audit() if e == "console_rekey"]
    assert events == [("console_rekey", "service credential replaced id=860000000000001/2"),
                      ("console_rekey", "service credential replaced id=-")]
    assert "unchanged REKEY unchanged" in _refusals(r) and "need_auth REKEY" in _refusals(r)
    _no_secret(r.replies + _audit_text(r))


def test_rekey_bad_input_and_flash_failure():
    # 4.4.1.4 / 4.4.4: bad values refused and audited; a failed write keeps the
    # old credential and the authorisation.
    r = Rig(data=_provisioned())
    r.login()
    assert r.say("REKEY " + NEW.decode()[:20]).startswith("ERR syntax REKEY takes 32 hex digits")
    assert r.say("REKEY " + "ab" * 16).startswith("ERR weak ")
    r.fs.fail_writes = True
    assert r.say("REKEY " + NEW.decode()) == "ERR storage flash write failed: nothing changed"
    r.fs.fail_writes = False
    assert r.flash.load()["secret_service"] == CRED and "auth=yes" in r.say("STATUS")
    assert _refusals(r) == ["syntax REKEY length", "weak REKEY weak"]
    _no_secret(r.replies + _audit_text(r))


def test_rekey_through_a_live_params_while_the_engine_runs():
    # The engine's Params is the store: the new credential survives its next commit.
    p = F.provisioned_params()
    p.set("secret_service", CRED)
    r = Rig(store=p)
    r.login()
    assert r.say("REKEY %s x/2" % NEW.decode()).startswith("OK REKEY ")
    p.commit()
    assert p.storage.load()["secret_service"] == NEW and p.get("service_cred_id") == b"x/2"


# -- RESET SIM PIN1: the card's real PIN1 from the technician (4.4.1.1, 4.4.1.4) ------

def _live_rig(sim, pin=None):
    """A console over live Params on a FlashStorage (the audit log stays readable)."""
    d = _provisioned()
    if pin is not None:
        d["secret_pin1"] = pin
    r = Rig(data=d, sim=sim)
    p = PM.Params(r.flash)
    r.store = p
    r.con = CO.Console(p, lambda: r.state, sim=sim, firmware="FW1.2", imei=F.IMEI, production=False)
    return r, p


def test_reset_sim_pin1_recovers_a_card_whose_stored_pin_was_refused():
    # 4.4.1.1: the card refused the stored PIN1 once; the boot stops in the alarm
    # state and never sends it again.  4.4.1.4: after both checks the technician
    # gives the card's real PIN1: entered under the never-lock rule, stored, the
    # E018 count cleared; then the binding and the PIN1 check are cleared and the
    # next LOGIN reports E020 = 0x80 (appendix E g).
    sim = S.SimulatedSim(F.IMSI, ICCID, F.IMEI, pin=PIN, puk=PUK)
    r, p = _live_rig(sim, b"1357")
    G.bind(p, F.IMSI, F.IMEI)
    t = _guarded_engine(sim, p)
    assert t.state_name == "alarm" and sim.attempts() == (2, 10) and sim.pin_commands == 1
    r.state = (t.state_name, t.alarms)
    assert r.say("RESET SIM PIN1 " + PIN).startswith("ERR need_auth ")
    r.login()
    assert "sim=SIM_PIN pin1=on pin1_left=2 puk1_left=10 pin1_errors=1/3 bind=1 " in r.say("STATUS")
    r.state = ("online", [])
    assert r.say("RESET SIM PIN1 " + PIN).startswith("ERR state ")
    r.state = (t.state_name, t.alarms)
    assert sim.pin_commands == 1
    assert r.say("reset sim pin1 " + PIN) == "OK RESET SIM cleared=0x80 bind=0 pin1=off next=login-e020"
    assert sim.pin_state() == S.READY and not sim.pin_enabled() and sim.attempts() == (3, 10)
    assert p.get("secret_pin1") == PIN.encode() and G.pin1_errors(p) == (3, 0)
    assert p.get("cleared_login") == bytes([K.CLEARED_PIN1]) and r.con.events() == [("reset", "sim", 0x80)]
    assert "sim=READY pin1=off pin1_left=3 puk1_left=10 pin1_errors=0/3 bind=0 " in r.say("STATUS")
    audit = _audit_text(r)
    assert "console_reset_sim binding removed, PIN1 check off (PIN1 from the technician): E020=0x80 at LOGIN" \
        in audit and [a for a in audit if a.startswith("sim_recover ")]
    _no_secret(r.replies + audit)
    sim.power_cycle()
    t2 = _guarded_engine(sim, p)
    login = F.Platform().read(F.only(t2.outgoing())[1], ts=0)
    assert login.command == C.LOGIN and login.tlv(0xE020) == b"\x80"


def test_reset_sim_pin1_wrong_pin_then_never_lock():
    # 4.4.1.1 never-lock rule for the technician's PIN1 too: a wrong one is
    # refused by the card (attempts left in the reply) and nothing is cleared;
    # with 1 attempt left nothing is sent (the card would need PUK1).
    sim = S.SimulatedSim(F.IMSI, ICCID, F.IMEI, pin=PIN, puk=PUK)
    r, p = _live_rig(sim, b"1357")
    G.bind(p, F.IMSI, F.IMEI)
    _guarded_engine(sim, p)                                 # stored PIN1 refused: 2 left
    r.login()
    out = r.say("RESET SIM PIN1 8642")
    assert out.startswith("ERR sim WrongPin: ") and out.endswith(" left=1"), out
    assert sim.attempts() == (1, 10) and p.get("secret_pin1") == b"1357"
    assert G.read_tlvs(sim, p, b"", [0xE00D]) == [(0xE00D, b"\x01")]
    assert p.get("cleared_login") is None and r.con.events() == []
    n = sim.pin_commands
    assert r.say("RESET SIM PIN1 " + PIN).startswith("ERR sim WouldLock: SIM_has_1_PIN1_attempt")
    assert sim.pin_commands == n and sim.pin_state() == S.SIM_PIN
    assert "console_reset_sim failed: WrongPin" in _audit_text(r)
    _no_secret(r.replies + _audit_text(r))


def test_reset_sim_pin1_syntax_and_card_states():
    # 4.4.1.4: RESET SIM [<PUK1>] | RESET SIM PIN1 <4-8 digits>; bad forms are
    # refused before anything is checked or sent; a blocked PIN1 needs the PUK1.
    sim = S.SimulatedSim(F.IMSI, ICCID, F.IMEI, pin=PIN, puk=PUK)
    r = Rig(data=_provisioned(), sim=sim)
    r.login()
    for line in ("RESET SIM PIN1", "RESET SIM PIN1 12", "RESET SIM PIN1 123456789", "RESET SIM PIN1 12a4",
                 "RESET SIM PIN 2468", "RESET SIM PIN1 2468 5"):
        assert r.say(line).startswith("ERR syntax "), line
    assert sim.pin_commands == 0
    for bad in ("1111", "2222", "3333"):
        try:
            sim.enter_pin(bad)
        except S.WrongPin:
            pass
    assert r.say("RESET SIM PIN1 " + PIN).startswith("ERR need_puk PIN1 is blocked")
    assert sim.pin_commands == 3
    _no_secret(r.replies + _audit_text(r))


def test_reset_sim_pin1_on_a_ready_card_with_no_stored_pin():
    # 4.4.1.4: the PIN1 check is on, the card is READY, no PIN1 is stored (RESET
    # SIM alone cannot switch it off): the technician's PIN1 switches it off
    # (4.4.1.2: verified on the card first), then it is the stored PIN1.
    sim = S.SimulatedSim(F.IMSI, ICCID, F.IMEI, pin=PIN, puk=PUK)
    sim.enter_pin(PIN)
    r = Rig(data=_provisioned(), sim=sim)
    G.bind(r.flash, F.IMSI, F.IMEI)
    r.login()
    assert r.say("RESET SIM").startswith("ERR sim PIN1 check is on and no PIN1 is stored: RESET SIM PIN1")
    assert r.say("RESET SIM PIN1 8642").startswith("ERR sim WrongPin: ")
    assert G.read_tlvs(sim, r.flash, b"", [0xE00D]) == [(0xE00D, b"\x01")]      # nothing cleared
    assert r.say("RESET SIM PIN1 " + PIN) == "OK RESET SIM cleared=0x80 bind=0 pin1=off next=login-e020"
    assert not sim.pin_enabled() and G.stored_pin1(r.flash) == PIN.encode()
    assert G.read_tlvs(sim, r.flash, b"", [0xE00D]) == [(0xE00D, b"\x00")]
    _no_secret(r.replies + _audit_text(r))


# -- an asynchronous SIM (a modem driver): SIM jobs --------------------------------------

class _DeferredSim(S.SimulatedSim):
    """A SIM that says it is asynchronous (as the modem drivers do): the console
    must hand its SIM work out as jobs instead of calling it."""
    sim_async = True


def _serve(con, sim, now=T0):
    """What the firmware does with the console's SIM jobs (run here on the
    synchronous card underneath, so the test runs on every port): the replies."""
    out = b""
    while True:
        jobs = con.sim_jobs()
        if not jobs:
            return out.decode()
        for job, done in jobs:
            try:
                res, err = G.run(job, sim), None
            except WmmpError as e:
                res, err = None, e
            out += con.sim_done(done, res, err, now)


def test_async_sim_status_and_ident_answer_when_the_job_is_done():
    # 4.4.1: STATUS's SIM fields and IDENT come from a SIM whose methods are
    # coroutines: feed() hands the reads out as one job and answers nothing
    # yet; sim_done() returns the line a synchronous SIM gives at once.
    sync = Rig(data=_provisioned(), sim=S.SimulatedSim(F.IMSI, ICCID, F.IMEI, pin=PIN, puk=PUK))
    sim = _DeferredSim(F.IMSI, ICCID, F.IMEI, pin=PIN, puk=PUK)
    r = Rig(data=_provisioned(), sim=sim)
    assert sync.con.sim_jobs() == [] and not sync.con.busy()
    assert r.con.feed(b"STATUS\r\n", T0) == b"" and r.con.busy()
    jobs = r.con.sim_jobs()
    assert len(jobs) == 1 and r.con.sim_jobs() == []
    out = r.con.sim_done(jobs[0][1], G.run(jobs[0][0], sim), None, T0 + 1).decode()
    assert not r.con.busy() and sim.pin_commands == 0
    assert out == sync.con.feed(b"STATUS\r\n", T0 + 1).decode()
    assert "sim=SIM_PIN pin1=on pin1_left=3 puk1_left=10 pin1_errors=0/3 bind=0 " in out
    assert r.con.feed(b"IDENT\n", T0) == b""
    assert _serve(r.con, sim) == sync.con.feed(b"IDENT\n", T0).decode()
    assert r.con.sim_done(jobs[0][1], None, None, T0) == b""        # an old done: ignored


def test_async_sim_gives_the_same_replies_audit_and_e020_as_a_synchronous_one():
    # 4.4.1.1 / 4.4.1.4 through SIM jobs: the card asks for PIN1 and none is
    # stored (the boot alarmed); RESET SIM is refused, a wrong PIN1 from the
    # technician is refused by the card, the right one recovers it and the
    # binding and PIN1 check are cleared (E020 0x80).  Replies, audit entries,
    # the E020 mark, the reset event and the PIN commands are those of a
    # synchronous SIM.
    script = ["STATUS", "IDENT", "RESET SIM", "RESET SIM PIN1 8642", "STATUS", "RESET SIM PIN1 " + PIN,
              "STATUS", "RESET SIM"]
    seen = []
    for cls in (S.SimulatedSim, _DeferredSim):
        sim = cls(F.IMSI, ICCID, F.IMEI, pin=PIN, puk=PUK)
        r = Rig(data=_provisioned(), sim=sim)
        G.bind(r.flash, F.IMSI, F.IMEI)
        assert G.SimGuard(sim, r.flash).boot().state == G.ALARM
        r.login()
        replies = []
        for line in script:
            out = r.con.feed(line.encode() + b"\n", T0 + 1).decode()
            if cls is _DeferredSim:
                assert out == "" and r.con.busy(), line
            replies.append(out + _serve(r.con, sim, T0 + 1))
        seen.append((replies, _audit_text(r), r.flash.load().get("cleared_login"), r.con.events(),
                     sim.pin_commands, sim.pin_state(), sim.pin_enabled()))
    assert seen[0] == seen[1]
    replies = seen[1][0]
    assert replies[2].startswith("ERR need_pin ")
    assert replies[3].startswith("ERR sim WrongPin: ") and replies[3].endswith(" left=2\r\n")
    assert replies[5] == replies[7] == "OK RESET SIM cleared=0x80 bind=0 pin1=off next=login-e020\r\n"
    assert "sim=READY pin1=off pin1_left=3 puk1_left=10 pin1_errors=0/3 bind=0 " in replies[6]
    assert seen[1][2:5] == (b"\x80", [("reset", "sim", 0x80)] * 2, 3)    # wrong, right, check off
    _no_secret(replies + seen[1][1])


def test_async_sim_unblock_with_puk():
    # 4.4.1.4 case 3 through a SIM job: PUK1 + the stored PIN1, then cleared.
    sim = _DeferredSim(F.IMSI, ICCID, F.IMEI, pin=PIN, puk=PUK)
    for bad in ("1111", "2222", "3333"):
        try:
            sim.enter_pin(bad)
        except S.WrongPin:
            pass
    d = _provisioned()
    d["secret_pin1"] = PIN.encode()
    r = Rig(data=d, sim=sim)
    r.login()
    assert r.con.feed(b"RESET SIM\n", T0) == b""
    assert _serve(r.con, sim).startswith("ERR need_puk ")
    assert r.con.feed(("RESET SIM " + PUK + "\n").encode(), T0) == b""
    assert _serve(r.con, sim) == "OK RESET SIM cleared=0x80 bind=0 pin1=off next=login-e020\r\n"
    assert sim.pin_state() == S.READY and not sim.pin_enabled() and sim.attempts() == (3, 10)
    assert r.con.events() == [("reset", "sim", 0x80)]


def test_async_sim_failure_gives_the_synchronous_errors():
    # A SIM that cannot be asked (the modem stopped answering: a WmmpError from
    # the driver) gives what a failing synchronous SIM gives: STATUS sim=unreadable,
    # IDENT the stored identities, RESET SIM "ERR sim", audited, nothing cleared.
    from wmmp.errors import WmmpError as WE
    sim = _DeferredSim(F.IMSI, ICCID, F.IMEI, pin=PIN, puk=PUK, pin_enabled=False)
    r = Rig(data=_provisioned(), sim=sim)
    r.login()
    fail = WE("modem not responding")
    for line in ("STATUS", "IDENT", "RESET SIM"):
        assert r.con.feed(line.encode() + b"\n", T0) == b""
        (job, done), = r.con.sim_jobs()
        r.replies.append(r.con.sim_done(done, None, fail, T0).decode())
    assert "registered=yes sim=unreadable cleared=0x00 " in r.replies[-3]
    assert r.replies[-2] == ("OK IDENT serial=M2MMAKER0000A1B2 imei=%s imsi=%s iccid=- fw=FW1.2 "
                             "cred_id=-\r\n" % (F.IMEI, F.IMSI))
    assert r.replies[-1] == "ERR sim WmmpError: modem_not_responding\r\n"
    assert _audit_text(r)[-1] == "console_reset_sim failed: WmmpError"
    assert "cleared_login" not in r.flash.load() and r.con.events() == []


def test_async_sim_lines_wait_and_run_in_order():
    # While a SIM job is pending, further lines (and the refusals of bad ones)
    # wait and are answered in order after it; a line that needs the SIM again
    # waits for its own job.  Past the hold, lines are not run: one ERR busy
    # says how many, in their place.
    sim = _DeferredSim(F.IMSI, ICCID, F.IMEI, pin=PIN, puk=PUK, pin_enabled=False)
    r = Rig(data=_provisioned(), sim=sim)
    assert r.con.feed(b"STATUS\nALARMS\n\x01bad\nIDENT\nHELP\n", T0) == b""
    (job, done), = r.con.sim_jobs()
    out = r.con.sim_done(done, G.run(job, sim), None, T0).decode().split("\r\n")
    assert [x.split()[:2] for x in out[:-1]] == [["OK", "STATUS"], ["OK", "ALARMS"], ["ERR", "bad_char"]]
    assert r.con.busy() and r.con.feed(b"BYE\n", T0) == b""        # IDENT's job is pending now
    out = _serve(r.con, sim).split("\r\n")
    assert [x.split()[:2] for x in out[:-1]] == [["OK", "IDENT"], ["OK", "HELP"], ["OK", "BYE"]]
    assert not r.con.busy() and r.con.feed(b"ALARMS\n", T0).startswith(b"OK ALARMS")
    assert r.con.feed(b"STATUS\n" + b"ALARMS\n" * (CO.HOLD + 3), T0) == b""
    out = _serve(r.con, sim).split("\r\n")
    assert len(out) == CO.HOLD + 3 and out[0].startswith("OK STATUS")
    assert all(x.startswith("OK ALARMS") for x in out[1:CO.HOLD + 1])
    assert out[CO.HOLD + 1].startswith("ERR busy 3 line(s) not run")
    assert "console_refused busy n=3" in _audit_text(r)


def test_async_sim_job_that_never_ends_is_answered_after_sim_wait():
    # A job nobody runs (the firmware's SIM task died) or a SIM that never
    # answers must not keep the console busy: after SIM_WAIT s the command is
    # answered as a failed SIM.  A job no runner took never runs; one that ends
    # late gets no second reply, but what it did is recorded (E020 0x80, audit,
    # reset event), so the platform still learns of it (4.4.1.4).
    sim = _DeferredSim(F.IMSI, ICCID, F.IMEI, pin=PIN, puk=PUK, pin_enabled=False)
    r = Rig(data=_provisioned(), sim=sim)
    r.login()
    assert r.con.feed(b"RESET SIM\nALARMS\n", T0) == b""
    assert r.con.feed(b"", T0 + CO.SIM_WAIT - 1) == b""
    out = r.con.feed(b"", T0 + CO.SIM_WAIT).decode().split("\r\n")
    assert out[0] == "ERR sim SimTimeout: no_SIM_runner_took_the_job_within_%d_s:_nothing_sent" % CO.SIM_WAIT
    assert out[1].startswith("OK ALARMS") and r.con.sim_jobs() == [] and not r.con.busy()
    assert "cleared_login" not in r.flash.load() and r.con.events() == []
    t = T0 + CO.SIM_WAIT
    r.login(t)
    G.bind(r.flash, F.IMSI, F.IMEI)
    assert r.con.feed(b"RESET SIM\n", t) == b""
    (job, done), = r.con.sim_jobs()                              # taken by a runner ...
    assert r.con.feed(b"", t + CO.SIM_WAIT).startswith(b"ERR sim SimTimeout: no_answer_from_the_SIM")
    assert r.con.feed(b"ALARMS\n", t + CO.SIM_WAIT).startswith(b"OK ALARMS")
    assert r.con.sim_done(done, G.run(job, sim), None, t + CO.SIM_WAIT + 1) == b""   # ... ends late
    assert r.flash.load()["cleared_login"] == b"\x80" and r.con.events() == [("reset", "sim", 0x80)]
    assert G.read_tlvs(sim, r.flash, b"", [0xE00D]) == [(0xE00D, b"\x00")]
    audit = _audit_text(r)
    assert "console_reset_sim failed: SimTimeout" in audit
    assert audit[-1].startswith("console_reset_sim binding removed")


# -- local configuration: GET, SET (4.3.9.2), REQUEST (4.3.9.1, 4.4.3.1.3.1) ------------

def _engine_rig(login=True):
    """A real engine (wmmp.terminal.engine.Terminal) over Params on a FlashStorage
    holding the credential, logged in with the fake platform (or only started),
    and a console that reaches it through terminal=."""
    fs = RamFS()
    flash = ST.FlashStorage(fs, "/state")
    flash.save(_provisioned())
    p = PM.Params(flash)
    clk, pf = F.Clock(), F.Platform()
    pf.serial = b"M2MMAKER0000A1B2"
    t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=pf.serial), p)
    t.start(clk.t)
    if login:
        req = pf.read(F.only(t.outgoing())[1], ts=0)
        t.receive(pf.login_ack(req), 2, clk.advance(1))
        trap = pf.read(F.only(t.outgoing())[1])
        t.receive(pf.ack(trap, {"result": 0}), 2, clk.advance(1))
        assert t.state == E.S_ONLINE
    t.events()
    r = Rig(t.state_name, (), fs=fs, store=p, terminal=lambda: t)
    r.login(clk.t)
    return r, t, pf, clk


def _sent(t, pf):
    return [pf.read(raw) for _, raw in t.outgoing()]


def test_get_set_request_refused_before_auth_and_audited():
    # 4.3.9.2 local configuration is for the technician only: without a right
    # AUTH nothing is read, changed or sent, and each refusal is audited.
    r = Rig(data=_provisioned())
    for line in ("GET 0011", "SET 0011=0000003c", "REQUEST CONFIG 0011", "REQUEST SECURITY 04"):
        assert r.say(line).startswith("ERR need_auth "), line
    assert r.flash.load().get(0x0011) is None
    assert _audit_text(r)[-4:] == ["console_refused need_auth GET", "console_refused need_auth SET",
                                   "console_refused need_auth REQUEST CONFIG",
                                   "console_refused need_auth REQUEST SECURITY"]
    r.login()
    assert r.say("BYE") == "OK BYE"
    assert r.say("GET 0011").startswith("ERR need_auth ")


def test_get_shows_what_config_get_would_and_never_a_secret():
    # 4.3.9.2 / 4.3.6: values as CONFIG_GET shows them (Params.readable, the
    # defaults included); secrets and security parameters only as ***.
    d = _provisioned()
    d[0x0002] = b"cmnet"
    d[0x0004] = b"dialpw12"                 # a secret outside E0xx (dial-up password)
    r = Rig(data=d)
    r.login()
    assert r.say("GET 0011 0002 0003 e025 E036 0004 E022") == \
        "OK GET 0011=0000001e 0002=636d6e6574 0003=- E025=*** E036=*** 0004=*** E022=***"
    assert r.say("GET 1234").startswith("ERR unknown_tag 1234")
    assert r.say("GET 11").startswith("ERR syntax ")
    assert r.say("GET 0x11").startswith("ERR syntax ")
    assert _audit_text(r)[-4:] == ["console_get 0011,0002,0003,E025,E036,0004,E022",
                                   "console_get_refused unknown_tag 1234"] + ["console_refused syntax GET"] * 2
    _no_secret(r.replies + _audit_text(r))
    assert "dialpw12" not in "".join(r.replies) and hexlify(b"dialpw12").decode() not in "".join(r.replies)


def test_set_bad_input_changes_nothing():
    # 4.3.9.2 (checked as a CONFIG_SET, appendix G h: all or nothing): an invalid
    # value, an unknown tag, a secret or a malformed word refuses the whole line,
    # audited without any value.
    r, t, pf, clk = _engine_rig()
    before = r.flash.load()
    for line, code in (("SET 0011=0000003c 0104=09", "ERR invalid 0104:"),      # parity 9: no such value
                       ("SET 0011=003c", "ERR invalid 0011:"),                  # a u32 of 2 bytes
                       ("SET 0011=0000003c 1234=00", "ERR unknown_tag 1234:"),
                       ("SET 0011=0000003c E025=3132333435363738", "ERR secret E025:"),
                       ("SET 0004=3132333435363738", "ERR secret 0004:"),       # dial-up password
                       ("SET E022=00", "ERR invalid E022:"),                    # security: not here
                       ("SET 4009=01", "ERR invalid 4009:"),
                       ("SET 0011=0000003", "ERR syntax "), ("SET 0011", "ERR syntax "),
                       ("SET 0011=", "ERR syntax "), ("SET 0011=0000003c 0011=0000003d", "ERR syntax ")):
        assert r.say(line, clk.t).startswith(code), (line, r.replies[-1])
    assert t.outgoing() == [] and t.params.get_int(0x0011) == 30 and r.flash.load() == before
    audit = _audit_text(r)
    assert "console_set_refused secret E025" in audit and "console_set_refused invalid 0104" in audit
    assert not [a for a in audit if a.startswith("console_set ")]
    _no_secret(r.replies + audit)
    assert "31323334" not in " ".join(audit)


def test_set_heartbeat_reaches_the_engine_and_the_platform_gets_0x4011():
    # 4.3.9.2: a parameter set by hand is applied at once and reported to the
    # platform with CONFIG_TRAP 0x4011 and its new value; audited old > new.
    r, t, pf, clk = _engine_rig()
    assert r.say("SET 0011=0000003c 0026=003c", clk.t) == "OK SET tags=0011,0026 applied=now report=now"
    trap, = _sent(t, pf)
    assert trap.command == C.CONFIG_TRAP and trap.tlv(0x4011) == b""
    assert trap.tlv(0x0011) == b"\x00\x00\x00\x3c" and trap.tlv(0x0026) == b"\x00\x3c"
    assert t.params.get_int(0x0011) == 60 and r.flash.load()[0x0011] == b"\x00\x00\x00\x3c"
    assert r.say("GET 0011", clk.t) == "OK GET 0011=0000003c"
    assert _audit_text(r)[-3:-1] == ["console_set 0011 0000001e>0000003c applied=now",
                                     "console_set 0026 0078>003c applied=now"]


def test_set_while_logging_in_is_reported_after_the_login():
    # 4.3.9.2: set while not logged in: applied now, 0x4011 sent after the next login.
    r, t, pf, clk = _engine_rig(login=False)
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    assert r.say("SET 0011=0000003c", clk.t) == "OK SET tags=0011 applied=now report=next-login"
    assert t.outgoing() == [] and t.params.get_int(0x0011) == 60
    t.receive(pf.login_ack(login), 2, clk.advance(1))
    traps = [m for m in _sent(t, pf) if m.command == C.CONFIG_TRAP]
    assert [m.tlv(0x0011) for m in traps if m.tlv(0x4011) is not None] == [b"\x00\x00\x00\x3c"]


def test_set_of_a_restart_tag_logs_out_with_reason_0x03():
    # 4.3.9.2: a local setting that needs a restart: LOGOUT reason 0x03, applied,
    # restart, and 0x4011 with the value after the new login.
    r, t, pf, clk = _engine_rig()
    assert r.say("SET 0002=636d696f74", clk.t) == \
        "OK SET tags=0002 applied=after-logout logout=0x03 report=next-login"
    lo, = _sent(t, pf)
    assert lo.command == C.LOGOUT and lo.fields["reason"] == K.LOGOUT_LOCAL_CONFIG
    assert t.params.get(0x0002) is None
    t.receive(pf.ack(lo), 2, clk.advance(1))
    assert ("restart", "local config") in t.events() and t.params.get(0x0002) == b"cmiot"
    assert r.flash.load()[0x0002] == b"cmiot"
    t.restarted(clk.advance(1))
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    t.receive(pf.login_ack(login), 2, clk.advance(1))
    traps = [m for m in _sent(t, pf) if m.command == C.CONFIG_TRAP and m.tlv(0x4011) is not None]
    assert [m.tlv(0x0002) for m in traps] == [b"cmiot"]
    assert "console_set 0002 ->636d696f74 applied=after-logout" in _audit_text(r)


def test_set_without_a_running_engine_is_refused():
    # 4.3.9.2 needs the platform told (0x4011): with no engine to queue that
    # report (the module is still starting) SET is refused and nothing changes.
    r = Rig(data=_provisioned(), terminal=lambda: None)
    r.login()
    assert r.say("GET 0011") == "OK GET 0011=0000001e"
    assert r.say("SET 0011=0000003c").startswith("ERR not_ready ")
    assert r.say("SET 0104=09").startswith("ERR invalid 0104")         # still checked first
    assert 0x0011 not in r.flash.load()
    assert "console_set_refused not_ready 0011" in _audit_text(r)
    assert r.say("REQUEST CONFIG 0011").startswith("ERR not_online terminal is starting")


def test_set_flash_failure_restores_the_old_value():
    # 4.3.9.2 and "loses nothing": the store write fails: old value back, nothing reported.
    r, t, pf, clk = _engine_rig()
    r.fs.fail_writes = True
    assert r.say("SET 0011=0000003c", clk.t).startswith("ERR storage ")
    r.fs.fail_writes = False
    assert t.params.get_int(0x0011) == 30 and t.outgoing() == []
    assert _audit_text(r)[-1] == "console_set_refused storage 0011"


def test_request_config_asks_the_platform():
    # 4.3.9.1: CONFIG_REQ for the tags, only while logged in; the platform's
    # answer is applied and reported with 0x4010 by the engine.
    r, t, pf, clk = _engine_rig()
    reply = r.say("REQUEST CONFIG 0011 0026", clk.t)
    req, = _sent(t, pf)
    assert reply == "OK REQUEST CONFIG tags=0011,0026 seq=%d sent" % req.seq
    assert req.command == C.CONFIG_REQ and [tag for tag, _ in req.tlvs] == [0x0011, 0x0026]
    t.receive(pf.ack(req, {"result": 0}, [(0x0011, b"\x00\x00\x00\x3c"), (0x0026, b"\x00\x78")]), 2,
              clk.advance(1))
    assert t.params.get_int(0x0011) == 60
    for line in ("REQUEST CONFIG E025", "REQUEST CONFIG 3007", "REQUEST CONFIG 0011=00", "REQUEST FROB"):
        assert r.say(line, clk.t).startswith(("ERR invalid ", "ERR syntax ")), line
    assert "console_request CONFIG tags=0011,0026 seq=%d" % req.seq in _audit_text(r)


def test_request_security_operations_0x04_to_0x07():
    # 4.4.3.1.3.1: the terminal-initiated SECURITY_CONFIG operations: 0x04
    # report, 0x05/0x06 ask for new secrets (named), 0x07 enable switches.
    r, t, pf, clk = _engine_rig()
    assert r.say("REQUEST SECURITY 04", clk.t).startswith("OK REQUEST SECURITY op=0x04 seq=")
    m, = _sent(t, pf)
    assert m.command == C.SECURITY_CONFIG and m.fields["operation"] == 4 and m.tlv(0xE026) is not None
    assert r.say("REQUEST SECURITY 0x05 E025 E028", clk.t).startswith(
        "OK REQUEST SECURITY op=0x05 tags=E025,E028 seq=")
    m, = _sent(t, pf)
    assert m.fields["operation"] == 5 and m.tlvs == [(0xE025, b""), (0xE028, b"")]
    assert r.say("REQUEST SECURITY 07 E032=01", clk.t).startswith(
        "OK REQUEST SECURITY op=0x07 tags=E032=01 seq=")
    m, = _sent(t, pf)
    assert m.fields["operation"] == 7 and m.tlvs == [(0xE032, b"\x01")]
    for line in ("REQUEST SECURITY 03", "REQUEST SECURITY 08", "REQUEST SECURITY", "REQUEST SECURITY 04 E025",
                 "REQUEST SECURITY 05", "REQUEST SECURITY 05 0011", "REQUEST SECURITY 07 E032",
                 "REQUEST SECURITY 07 E025=3132333435363738", "REQUEST SECURITY 07 E032=09"):
        assert r.say(line, clk.t).startswith(("ERR invalid ", "ERR syntax ")), line
    assert t.outgoing() == []
    audit = _audit_text(r)
    assert [a.split(" seq=")[0] for a in audit if a.startswith("console_request ")] == [
        "console_request SECURITY op=0x04", "console_request SECURITY op=0x05 tags=E025,E028",
        "console_request SECURITY op=0x07 tags=E032=01"]
    _no_secret(r.replies + audit)
