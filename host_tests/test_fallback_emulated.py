"""SMS fallback end to end through the modem emulators (issue 5): the engine and
runner of wmmp-term, the real modem drivers (lib/wmmp/modem) talking AT over a
pseudo-terminal to the SIM7600 and BC95 emulators (tools/wmmp_tools/emu), whose
sockets are real loopback sockets reaching the platform simulator and whose SMS
go through the emulated SMS centre, all started by the `make demo` machinery
(tools/demo.py Stack).  Outages are injected in the emulators
(Sim7600.set_outage: the packet network goes, SMS stays; Bc95.set_outage with
data_only=True: the PDN goes, registration and SMS stay; without it: everything
goes) and in the SMS centre (lose_next, set_faults delay).

What the standard asks and where:
  4.2      a logical connection may mix bearers, but a request and its response
           use the same bearer (PROTOCOL.md 9);
  4.3.4    heartbeats keep a long connection; heartbeat ACKs missing past a
           threshold mean a communication failure (the engine then logs out
           with reason 0x04 and logs in again);
  4.3.5    "for alarms caused by communication failures the terminal may report
           directly by SMS without being logged in";
  4.3.1 / appendix G a  REGISTER_ACK 0x02: register again by SMS; after
           REGISTER_ACK 0x00 wait 0x0026 s in SMS mode for the keys, on expiry go
           back and report alarm 0x001C in a CONFIG_TRAP;
  appendix E d  statistics 0x2008 SMS sent, 0x2009 SMS that failed, 0x200A SMS
           received, 0x200B packet-bearer bytes.

Each scenario runs once (a module fixture: 5 to 15 s, cut off at 30 s; short
timeouts set through 0x0107, 0x0026, 0x002A, 0x002B, 0x0027 and the drivers'
attach_wait) and the tests read what it recorded.  Five of them first failed
on engine / runner bugs (statistics, resend bearer, alarm state after an
outage, a probe that froze the runner: fixed in 9bebb29; an alarm left on a
dead SMS bearer: fixed in 98b5535); their docstrings say what each guards.

CPython only (asyncio.run, a pty, real sockets).
"""
import asyncio
import io
import os
import struct
import sys
import time

import pytest

from wmmp.terminal import engine as E
from wmmp.wire import codes as K, commands as C, header as H
from wmmp.wire import profile as P

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import demo  # noqa: E402

SMS, PKT = P.BEARER_SMS, P.BEARER_PACKET
PRESET_SERIAL = "M2MMAKER00000042"
VALID = struct.pack(">I", 4102444800)          # preset secrets valid until 2100 (platform default)


def timeouts(packet, sms):
    """TLV 0x0107 (PROTOCOL.md 8): response timeouts in seconds per bearer."""
    return struct.pack(">BBH", 0x02, 0, packet) + struct.pack(">BBH", 0x01, 0, sms)


def is_(command):
    """SMS-centre match: the SMS carries a WMMP message with this command ID."""
    return lambda data: len(data) >= H.HEADER_SIZE and H.unpack(data).command == command


class Tally:
    """Wraps a driver bearer and records what it really carried: every send
    (ok or failed) and every receive, as dicts kind / dir / cmd / seq / n / ok /
    phase; the runner sees the wrapper exactly as the bearer."""

    def __init__(self, inner, rig):
        self.inner = inner
        self.kind = inner.kind
        self.rig = rig

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _note(self, direction, data, ok, phase=None):
        try:
            h = H.unpack(bytes(data))
            cmd, seq = C.name(h.command), h.seq
        except Exception:
            cmd, seq = "?", None
        self.rig.carried.append({"kind": self.kind, "dir": direction, "cmd": cmd, "seq": seq,
                                 "n": len(data), "ok": ok,
                                 "phase": self.rig.phase if phase is None else phase,
                                 "t": time.monotonic()})

    async def open(self):
        # who opens: the runner's receive loop reopening a broken bearer, or
        # anything else (the runner's start, its probe while on SMS)
        task = asyncio.current_task()
        coro = task.get_coro() if task is not None else None
        reader = getattr(coro, "__qualname__", "").endswith("._reader")
        self.rig.opens.append({"kind": self.kind, "reader": reader, "t": time.monotonic(),
                               "phase": self.rig.phase})
        return await self.inner.open()

    async def close(self):
        return await self.inner.close()

    async def send(self, data):
        phase = self.rig.phase          # the phase the engine sent it in
        try:
            await self.inner.send(data)
        except Exception:
            self._note("out", data, False, phase)
            raise
        self._note("out", data, True, phase)

    async def recv(self):
        data = await self.inner.recv()
        self._note("in", data, True)
        return data


class Rig:
    """One stack (demo.Stack) with counting bearers, and what the test needs to
    drive and watch it."""

    def __init__(self, state_dir, modem, params=None, probe=1, **stack):
        self.out = io.StringIO()
        self.events = []
        self.st = demo.Stack(state_dir, self.out, modem=modem, heartbeat=1, on_event=self._event, **stack)
        self.params = dict(params or {})
        self.probe = probe
        self.carried = []
        self.opens = []
        self.phase = "start"
        self.marks = {}

    def _event(self, ev):
        self.events.append((self.phase, ev))

    async def start(self):
        st = self.st
        await st.start()
        for k, v in self.params.items():
            st.term.params.set(k, v)
        st.runner.probe = self.probe
        st.runner.bearers = {k: Tally(b, self) for k, b in st.runner.bearers.items()}
        st.run()
        return self

    # -- driving ---------------------------------------------------------------
    @property
    def term(self):
        return self.st.term

    @property
    def emu(self):
        return self.st.rig.emu

    @property
    def serial(self):
        return self.term.serial.rstrip(b"\x00").decode()

    def now(self):
        return self.st.runner.clock()

    def poke(self):
        self.st.runner._wake.set()

    def enter(self, phase):
        self.phase = phase
        self.marks[phase] = time.monotonic()

    async def until(self, what, cond, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return
            await asyncio.sleep(0.02)
        raise AssertionError("%s: not within %.0f s (phase %s)\n%s"
                             % (what, timeout, self.phase, self.out.getvalue()[-6000:]))

    async def online_over_packet(self, what="online over UDP, a heartbeat answered"):
        """Wait until the terminal is online and a heartbeat was answered over the
        packet bearer: an outage from then on is first met by heartbeats (each
        sent alone, retries 0), so the failures that reach the fallback threshold
        are FALLBACK_AFTER heartbeats, and those heartbeats are the ones that go
        unanswered (4.3.4)."""
        await self.until(what, lambda: self.term.state == E.S_ONLINE and self.carried_in(
            kind=PKT, direction="in", cmd="HEART_BEAT_ACK"), 15)

    # -- watching ----------------------------------------------------------------
    def seen(self, *ev, phase=None):
        return [p for p, e in self.events if e[:len(ev)] == ev and (phase is None or p == phase)] != []

    def carried_in(self, phase=None, kind=None, direction=None, cmd=None, ok=None):
        return [c for c in self.carried if (phase is None or c["phase"] == phase)
                and (kind is None or c["kind"] == kind) and (direction is None or c["dir"] == direction)
                and (cmd is None or c["cmd"] == cmd) and (ok is None or c["ok"] == ok)]

    def pf_log(self):
        """The platform's message log (one terminal per stack; a REGISTER refused
        before a serial was assigned is filed under the 8-byte prefix)."""
        return self.st.pf.db.messages(None, 2000)

    def record(self):
        """What the tests read after the stack is gone."""
        t = self.term
        self.stats = {tag: t.params.get_int(tag) for tag in (0x2008, 0x2009, 0x200A, 0x200B)}
        self.platform_log = self.pf_log()
        self.platform_row = dict(self.st.pf.db.terminal(self.serial))
        self.platform_params = {tag: v for tag, v, _ in self.st.pf.db.params(self.serial)}
        self.transcript = self.out.getvalue()
        self.smsc_log = list(self.st.smsc.log)
        self.final_state = t.state_name


def run_rig(rig, scenario, timeout=30):
    async def main():
        await rig.start()
        try:
            await scenario(rig)
        finally:
            rig.record()
            await rig.st.close()
    asyncio.run(asyncio.wait_for(main(), timeout))
    return rig


def truth(rig):
    """Appendix E d counters computed from what the bearers really carried."""
    c = rig.carried_in
    return {0x2008: len(c(kind=SMS, direction="out", ok=True)),
            0x2009: len(c(kind=SMS, direction="out", ok=False)),
            0x200A: len(c(kind=SMS, direction="in")),
            0x200B: sum(x["n"] for x in c(kind=PKT, ok=True))}


def pf_rows(rig, direction=None, bearer=None, command=None):
    return [m for m in rig.platform_log if (direction is None or m["direction"] == direction)
            and (bearer is None or m["bearer"] == bearer) and (command is None or m["command"] == command)]


# == SIM7600: outage -> SMS -> back ===========================================

async def _sim7600_outage(r):
    t, st = r.term, r.st
    r.enter("online")
    await r.online_over_packet()
    r.enter("outage")
    r.emu.set_outage(True)
    await r.until("the engine falls back to SMS", lambda: t.packet_down, 10)
    r.enter("relogin")
    # 4.3.4: the heartbeats that could not go count as missed: LOGOUT 0x04 and a
    # new login, both by SMS now
    await r.until("logged in again by SMS", lambda: t.state == E.S_ONLINE and r.carried_in(
        phase="relogin", kind=SMS, direction="in", cmd="LOGIN_ACK"), 10)
    r.enter("get")
    r.get_answer = await st.op.get({"serial": r.serial, "tags": ["0x0011", "0x3007"], "via": "sms",
                                    "timeout": 10})
    r.enter("logout")
    t.logout(K.LOGOUT_NORMAL, r.now())
    r.poke()
    await r.until("logged out by SMS", lambda: t.state == E.S_IDLE, 10)
    r.pf_logged_in_at_alarm = st.pf.runtime(r.serial).logged_in
    r.enter("alarm")
    t.raise_alarm(K.ALARM_PACKET_CONNECT_FAILED, r.now(), K.ALARM_TYPE_COMM)
    r.poke()
    await r.until("the platform recorded the alarm",
                  lambda: st.pf.db.param(r.serial, 0x300D) == b"\x00\x03", 10)
    r.enter("restore")
    r.emu.set_outage(False)
    await r.until("the engine is back on the packet bearer", lambda: r.seen("bearer", "packet"), 10)
    r.enter("wake")
    r.ctrl_answer = await st.op.ctrl({"serial": r.serial, "code": "wake-up", "via": "sms", "timeout": 10})
    await r.until("logged in over UDP and a heartbeat answered", lambda: t.state == E.S_ONLINE and r.carried_in(
        phase="wake", kind=PKT, direction="in", cmd="HEART_BEAT_ACK"), 10)


@pytest.fixture(scope="module")
def sim7600_outage(tmp_path_factory):
    rig = Rig(str(tmp_path_factory.mktemp("sim7600")), "sim7600",
              params={0x0107: timeouts(2, 3)},
              platform={"offline_factor": 60, "sms_timeout": 3.0, "packet_timeout": 2.0, "retries": 1},
              driver={"attach_wait": 0, "netopen_timeout": 3})
    run_rig(rig, _sim7600_outage)
    return rig


def test_sim7600_registers_and_logs_in_over_udp(sim7600_outage):
    """4.3.1 / 4.3.2 through the SIM7600 emulator: REGISTER and LOGIN over UDP
    (AT+CIPSEND), the keys by SMS (+CMTI / AT+CMGR), heartbeats over UDP."""
    r = sim7600_outage
    before = r.carried_in(phase="online")
    assert [c["cmd"] for c in before if c["kind"] == PKT and c["dir"] == "out"][:2] == ["REGISTER", "LOGIN"]
    assert [c["cmd"] for c in before if c["kind"] == SMS] == ["SECURITY_CONFIG", "SECURITY_CONFIG_ACK"]
    assert all(c["ok"] for c in before)
    assert pf_rows(r, "in", "udp", "LOGIN") and pf_rows(r, "out", "udp", "HEART_BEAT_ACK")


def test_sim7600_outage_moves_the_terminal_to_sms_after_the_threshold(sim7600_outage):
    """Issue 5: packet send failures past the threshold (engine.FALLBACK_AFTER)
    move new requests to SMS; no heartbeat goes by SMS; 4.3.4: the heartbeats
    that could not be sent count as unanswered, so the engine declares a
    communication failure and logs out (0x04) and in again, both by SMS, and
    gets its session key by SMS."""
    r = sim7600_outage
    failed = r.carried_in(phase="outage", kind=PKT, direction="out", ok=False)
    assert [c["cmd"] for c in failed] == ["HEART_BEAT"] * E.FALLBACK_AFTER
    assert not r.carried_in(phase="outage", kind=SMS, direction="out")     # nothing by SMS before the switch
    assert r.seen("bearer", "sms", phase="outage") and not r.seen("bearer", "packet", phase="outage")
    assert r.seen("heartbeat_lost")
    sms_out = [c["cmd"] for c in r.carried_in(phase="relogin", kind=SMS, direction="out")]
    assert sms_out[:2] == ["LOGOUT", "LOGIN"] and "HEART_BEAT" not in sms_out
    assert [c["cmd"] for c in r.carried_in(phase="relogin", kind=SMS, direction="in")][:2] == \
        ["LOGOUT_ACK", "LOGIN_ACK"]
    assert not r.carried_in(kind=SMS, cmd="HEART_BEAT")
    assert r.seen("session_key", phase="relogin")
    assert pf_rows(r, "in", "sms", "LOGIN") and pf_rows(r, "out", "sms", "LOGIN_ACK")
    # the module really had no packet service: NETOPEN / attach failed while probing
    assert "packet bearer still down" in r.transcript


def test_sim7600_platform_request_by_sms_is_answered_by_sms(sim7600_outage):
    """4.2 / PROTOCOL.md 9: CONFIG_GET sent by the platform by SMS is answered by SMS
    (request and response on one bearer), with the terminal's values."""
    r = sim7600_outage
    a = r.get_answer
    assert a["command"] == "CONFIG_GET_ACK" and a["result"] == 0
    assert [x["hex"] for x in a["tlvs"] if x["tag"] == 0x0011] == ["00000001"]
    got = r.carried_in(phase="get", kind=SMS, direction="in", cmd="CONFIG_GET")
    ans = r.carried_in(phase="get", kind=SMS, direction="out", cmd="CONFIG_GET_ACK", ok=True)
    assert len(got) == 1 and len(ans) == 1 and ans[0]["seq"] == got[0]["seq"] == a["seq"]
    assert not r.carried_in(phase="get", kind=PKT)
    assert [m["seq"] for m in pf_rows(r, "out", "sms", "CONFIG_GET")] == [a["seq"]]
    assert [m["seq"] for m in pf_rows(r, "in", "sms", "CONFIG_GET_ACK")] == [a["seq"]]


def test_sim7600_alarm_goes_by_sms_without_login(sim7600_outage):
    """4.3.5: with the packet bearer down and the terminal logged out, an alarm
    (0x0003 packet connection failed, communication type) goes at once by SMS
    as a CONFIG_TRAP; the platform takes it from a terminal that is not logged in
    and records 0x300B / 0x300D."""
    r = sim7600_outage
    assert r.seen("state", "idle", phase="logout")
    assert [c["cmd"] for c in r.carried_in(phase="logout", kind=SMS, direction="out")] == ["LOGOUT"]
    assert r.pf_logged_in_at_alarm is False
    trap = r.carried_in(phase="alarm", kind=SMS, direction="out", cmd="CONFIG_TRAP", ok=True)
    assert len(trap) == 1
    assert not r.carried_in(phase="alarm", direction="out", cmd="LOGIN")     # no login first
    rows = [m for m in pf_rows(r, "in", "sms", "CONFIG_TRAP") if m["seq"] == trap[0]["seq"]]
    assert len(rows) == 1
    assert any("ALARM codes 0x0003" in m["note"] for m in pf_rows(r, "out", "sms", "CONFIG_TRAP_ACK"))
    assert r.platform_params[0x300B] == b"\x01" and r.platform_params[0x300D] == b"\x00\x03"
    assert r.platform_params[0x300C] == bytes([K.ALARM_TYPE_COMM])


def test_sim7600_returns_to_the_packet_bearer(sim7600_outage):
    """Issue 5: when the outage ends the runner's probe reopens the socket
    (AT+NETCLOSE / AT+NETOPEN / AT+CIPOPEN) and the engine goes back to the
    packet bearer.  A REMOTE_CTRL wake-up (4.3.7, 0x4001 = 0x03) sent by SMS is
    still answered by SMS (4.2), then the login and the heartbeats go over UDP;
    the platform sees the terminal online on UDP again."""
    r = sim7600_outage
    assert r.seen("bearer", "packet", phase="restore")
    assert r.ctrl_answer["command"] == "REMOTE_CTRL_ACK" and r.ctrl_answer["result"] == 0
    wake = r.carried_in(phase="wake")
    assert [(c["kind"], c["dir"], c["cmd"]) for c in wake][:2] == [(SMS, "in", "REMOTE_CTRL"),
                                                                  (SMS, "out", "REMOTE_CTRL_ACK")]
    pkt_out = [c["cmd"] for c in wake if c["kind"] == PKT and c["dir"] == "out"]
    assert pkt_out[0] == "LOGIN" and "HEART_BEAT" in pkt_out
    assert all(c["ok"] for c in wake)
    assert not [c for c in wake if c["kind"] == SMS and c["cmd"] not in ("REMOTE_CTRL", "REMOTE_CTRL_ACK")]
    assert r.platform_row["state"] == "online" and r.platform_row["last_bearer"] == "udp"
    assert pf_rows(r, "in", "udp", "HEART_BEAT")[-1]["id"] > pf_rows(r, "in", "sms", "REMOTE_CTRL_ACK")[-1]["id"]
    assert r.final_state == "online"


def test_sim7600_statistics_count_what_each_bearer_carried(sim7600_outage):
    """Appendix E d: 0x2008 SMS sent, 0x2009 SMS that failed, 0x200A SMS
    received are exactly what the SMS bearer carried in the run (counted at the
    bearer); 0x200B holds at least every packet byte carried both ways."""
    r = sim7600_outage
    want = truth(r)
    assert want[0x2008] >= 8 and want[0x200A] >= 8        # the run really used SMS both ways
    assert r.stats[0x2008] == want[0x2008]
    assert r.stats[0x2009] == want[0x2009] == 0
    assert r.stats[0x200A] == want[0x200A]
    assert r.stats[0x200B] >= want[0x200B] > 0


def test_sim7600_packet_byte_count_is_what_the_bearer_carried(sim7600_outage):
    """Appendix E d 0x200B "packet-bearer traffic (bytes)": only bytes that
    crossed the bearer; the heartbeats that could not be sent during the
    outage are not traffic (this run found them counted: the runner now passes
    the size of a failed send to Terminal.bearer_failed, which takes it back)."""
    r = sim7600_outage
    failed = sum(c["n"] for c in r.carried_in(kind=PKT, ok=False))
    assert failed > 0
    assert r.stats[0x200B] == truth(r)[0x200B]


# == SIM7600: registration by SMS (REGISTER_ACK 0x02), 0x0026 window, lossy SMSC ==

async def _sim7600_register_by_sms(r):
    t, st = r.term, r.st
    st.smsc.set_faults(delay_ms=300)                # every SMS takes 0.3 s
    st.smsc.lose_next(1, to=demo.MSISDN, match=is_(C.SECURITY_CONFIG))
    r.enter("register")
    await r.until("the SMS window opens", lambda: r.seen("sms_window", True), 10)
    r.enter("window")
    await r.until("0x0026 expires: alarm 0x001C", lambda: r.seen("alarm", K.ALARM_SMS_RECEIVE_TIMEOUT), 10)
    r.enter("again")
    await r.until("registered, logged in over UDP", lambda: t.state == E.S_ONLINE, 15)
    await r.until("the platform recorded alarm 0x001C",
                  lambda: st.pf.db.param(r.serial, 0x300D) == struct.pack(">H", K.ALARM_SMS_RECEIVE_TIMEOUT), 10)


@pytest.fixture(scope="module")
def sim7600_register_by_sms(tmp_path_factory):
    rig = Rig(str(tmp_path_factory.mktemp("sim7600reg")), "sim7600",
              params={0x0107: timeouts(2, 3), 0x0026: struct.pack(">H", 2),
                      0x002B: struct.pack(">II", 1, 1)},
              provision={"force_sms": True},
              platform={"sms_timeout": 3.0, "packet_timeout": 2.0, "retries": 1},
              driver={"attach_wait": 0, "netopen_timeout": 3})
    run_rig(rig, _sim7600_register_by_sms)
    return rig


def test_sim7600_registration_continues_by_sms_when_the_platform_asks(sim7600_register_by_sms):
    """4.3.1, appendix G a REGISTER_ACK 0x02 ("register by SMS"): the platform
    refuses REGISTER over UDP with 0x02; the terminal registers again by SMS
    (AT+CMGS), gets REGISTER_ACK 0x00 by SMS, then its keys by SMS, and logs in
    over its usual bearer (UDP)."""
    r = sim7600_register_by_sms
    c = r.carried_in(phase="register")
    assert (c[0]["kind"], c[0]["cmd"]) == (PKT, "REGISTER")
    assert r.seen("register_ack", 0x02)
    assert [x["cmd"] for x in c if x["kind"] == SMS][:2] == ["REGISTER", "REGISTER_ACK"]
    assert [m["note"][:11] for m in pf_rows(r, "out", "udp", "REGISTER_ACK")] == ["result 0x02"]
    assert all(m["note"].startswith("result 0x00") for m in pf_rows(r, "out", "sms", "REGISTER_ACK"))
    assert len(pf_rows(r, "in", "sms", "REGISTER")) == 2          # once per SMS window
    assert not pf_rows(r, "in", "udp", "REGISTER")[1:]
    login = r.carried_in(phase="again", direction="out", cmd="LOGIN")
    assert login and login[0]["kind"] == PKT and pf_rows(r, "in", "udp", "LOGIN")
    assert r.final_state == "online"


def test_sim7600_sms_window_0026_expires_with_alarm_001c(sim7600_register_by_sms):
    """Appendix G a: after REGISTER_ACK 0x00 the terminal waits 0x0026 s (2 s
    here) in SMS mode for the keys; the SMS centre loses them (lose_next), the
    window expires, the terminal reports alarm 0x001C in a CONFIG_TRAP (after
    its login) and registers again; the second key SMS arrives (0.3 s late,
    set_faults delay) inside its window."""
    r = sim7600_register_by_sms
    lost = [x for x in r.smsc_log if x["outcome"] == "lost"]
    assert len(lost) == 1 and lost[0]["to"] == demo.MSISDN and lost[0]["from"] == demo.PLATFORM_NUMBER
    assert [x["outcome"] for x in r.smsc_log if x["to"] == demo.MSISDN].count("delivered") >= 2
    assert r.seen("sms_window", False, phase="window") and r.seen("backoff", "register", phase="window")
    assert not r.carried_in(phase="window", direction="in", cmd="SECURITY_CONFIG")
    assert r.carried_in(phase="again", kind=SMS, direction="in", cmd="SECURITY_CONFIG")
    traps = [m for m in pf_rows(r, "out", None, "CONFIG_TRAP_ACK") if "0x001C" in m["note"]]
    assert len(traps) == 1
    assert r.platform_params[0x300D] == b"\x00\x1c" and r.platform_params[0x300C] == b"\x01"


# == SIM7600: a lossy, slow SMS centre while on SMS ==========================

async def _sim7600_lossy_smsc(r):
    t, st = r.term, r.st
    await r.online_over_packet()
    r.enter("outage")
    r.emu.set_outage(True)
    await r.until("fallback to SMS", lambda: t.packet_down, 10)
    r.enter("lost-uplink")
    st.smsc.lose_next(1, sender=demo.MSISDN, match=is_(C.CONFIG_TRAP))
    t.raise_alarm(K.ALARM_PACKET_CONNECT_FAILED, r.now(), K.ALARM_TYPE_COMM)
    r.poke()
    await r.until("the platform recorded the alarm from the retransmission",
                  lambda: st.pf.db.param(r.serial, 0x300D) == b"\x00\x03", 10)
    r.enter("lost-downlink")
    st.smsc.set_faults(delay_ms=400)
    st.smsc.lose_next(1, to=demo.MSISDN, match=is_(C.CONFIG_GET))
    r.get_t0 = time.monotonic()
    r.get_answer = await st.op.get({"serial": r.serial, "tags": ["0x0011"], "via": "sms", "timeout": 12})
    r.get_seconds = time.monotonic() - r.get_t0


@pytest.fixture(scope="module")
def sim7600_lossy_smsc(tmp_path_factory):
    rig = Rig(str(tmp_path_factory.mktemp("sim7600smsc")), "sim7600",
              params={0x0107: timeouts(30, 2)},        # no 4.3.4 relogin inside the run
              platform={"offline_factor": 60, "sms_timeout": 2.0, "packet_timeout": 2.0, "retries": 2},
              driver={"attach_wait": 0, "netopen_timeout": 3})
    run_rig(rig, _sim7600_lossy_smsc)
    return rig


def test_sim7600_lost_sms_are_retransmitted_on_sms(sim7600_lossy_smsc):
    """4.4.6 over SMS with an SMS centre that loses and delays messages: the
    alarm's CONFIG_TRAP lost on its way up is retransmitted by the terminal
    (same seq, still by SMS: 4.2) after the SMS timeout of 0x0107; the platform's
    CONFIG_GET lost on its way down is retransmitted by the platform and answered
    by SMS; a 0.4 s delay each way changes nothing."""
    r = sim7600_lossy_smsc
    ups = r.carried_in(phase="lost-uplink", kind=SMS, direction="out", cmd="CONFIG_TRAP", ok=True)
    assert len(ups) == 2 and ups[0]["seq"] == ups[1]["seq"]
    assert r.seen("retransmit", "CONFIG_TRAP", ups[0]["seq"], phase="lost-uplink")
    assert [m["seq"] for m in pf_rows(r, "in", "sms", "CONFIG_TRAP")] == [ups[0]["seq"]]
    assert not r.carried_in(phase="lost-uplink", kind=PKT, ok=True)
    lost = [x for x in r.smsc_log if x["outcome"] == "lost"]
    assert [(x["from"], x["to"]) for x in lost] == [(demo.MSISDN, demo.PLATFORM_NUMBER),
                                                    (demo.PLATFORM_NUMBER, demo.MSISDN)]
    a = r.get_answer
    assert a["result"] == 0 and [x["hex"] for x in a["tlvs"]] == ["00000001"]
    assert [m["note"] for m in pf_rows(r, "out", "sms", "CONFIG_GET")] == ["", "retransmission"]
    got = r.carried_in(phase="lost-downlink", kind=SMS, direction="in", cmd="CONFIG_GET")
    assert len(got) == 1 and got[0]["seq"] == a["seq"]
    assert r.carried_in(phase="lost-downlink", kind=SMS, direction="out", cmd="CONFIG_GET_ACK", ok=True)
    assert r.get_seconds >= 2.0                      # one platform SMS timeout, plus the delays
    # both SMS the module sent count as sent (the module cannot see the loss)
    assert r.stats[0x2008] == truth(r)[0x2008] and r.stats[0x2009] == 0


# == BC95 with SMS: PDN outage -> SMS -> back =================================

async def _bc95_outage(r):
    t, st = r.term, r.st
    r.enter("online")
    await r.online_over_packet("online over UDP (AT+NSOST), a heartbeat answered")
    r.enter("outage")
    r.emu.set_outage(True, data_only=True)
    await r.until("fallback to SMS", lambda: t.packet_down, 10)
    r.enter("alarm")
    t.raise_alarm(K.ALARM_PACKET_CONNECT_FAILED, r.now(), K.ALARM_TYPE_COMM)
    r.poke()
    await r.until("the platform recorded the alarm", lambda: st.pf.db.param(r.serial, 0x300D) == b"\x00\x03", 10)
    r.enter("get")
    r.get_answer = await st.op.get({"serial": r.serial, "tags": ["0x0011"], "via": "sms", "timeout": 10})
    r.enter("restore")
    r.emu.set_outage(False)
    await r.until("back on the packet bearer, a heartbeat answered over UDP", lambda: not t.packet_down
                  and r.carried_in(phase="restore", kind=PKT, direction="in", cmd="HEART_BEAT_ACK"), 10)


@pytest.fixture(scope="module")
def bc95_outage(tmp_path_factory):
    rig = Rig(str(tmp_path_factory.mktemp("bc95")), "bc95",
              params={0x0107: timeouts(2, 3)},
              platform={"offline_factor": 60, "sms_timeout": 3.0, "packet_timeout": 2.0, "retries": 1},
              driver={"attach_wait": 0, "attach_poll": 0.2})
    run_rig(rig, _bc95_outage)
    return rig


def test_bc95_pdn_outage_falls_back_to_sms_and_returns(bc95_outage):
    """The same through the BC95 (NB-IoT) on a network that offers SMS: the PDN
    goes (Bc95.set_outage(data_only=True): AT+NSOST / AT+NSOCR answer +CME
    ERROR:30, registration and SMS stay); after engine.FALLBACK_AFTER failed
    sends the terminal works by SMS (AT+CMGS out, +CMT in): the alarm (4.3.5)
    and a CONFIG_GET answered by SMS (4.2); when the PDN is back the probe
    reopens the socket (AT+NSOCR) and heartbeats go over UDP again."""
    r = bc95_outage
    assert [c["cmd"] for c in r.carried_in(phase="outage", kind=PKT, ok=False)] == \
        ["HEART_BEAT"] * E.FALLBACK_AFTER
    assert r.seen("bearer", "sms", phase="outage")
    trap = r.carried_in(phase="alarm", kind=SMS, direction="out", cmd="CONFIG_TRAP", ok=True)
    assert trap and [m["seq"] for m in pf_rows(r, "in", "sms", "CONFIG_TRAP")][:1] == [trap[0]["seq"]]
    assert r.platform_params[0x300D] == b"\x00\x03"
    a = r.get_answer
    assert a["result"] == 0 and [x["hex"] for x in a["tlvs"]] == ["00000001"]
    assert r.carried_in(phase="get", kind=SMS, direction="out", cmd="CONFIG_GET_ACK", ok=True)[0]["seq"] == a["seq"]
    assert not r.carried_in(phase="get", kind=PKT, cmd="CONFIG_GET_ACK")
    assert r.seen("bearer", "packet", phase="restore")
    assert r.platform_row["last_bearer"] == "udp" and r.final_state == "online"
    assert r.emu.sms_sent and r.emu.boots == 1
    assert "+CME ERROR:30" in r.transcript
    want = truth(r)
    assert r.stats[0x2008] == want[0x2008] >= 3 and r.stats[0x200A] == want[0x200A] >= 3
    assert r.stats[0x2009] == 0 and r.stats[0x200B] >= want[0x200B]


# == BC95 on a network without SMS ============================================

def _no_sms_rig(tmp_path_factory, name, params):
    base = {0x0107: timeouts(2, 1), 0x002A: struct.pack(">II", 1, 1), "preset": b"\x01",
            0xE025: b"Up-Pass1", 0xE027: VALID, 0xE028: b"Dn-Pass1", 0xE02A: VALID}
    base.update(params)
    return Rig(str(tmp_path_factory.mktemp(name)), "bc95", params=base, serial=PRESET_SERIAL,
               emu={"sms": False},
               provision={"serial": PRESET_SERIAL, "preset_uplink": "Up-Pass1", "preset_downlink": "Dn-Pass1"},
               platform={"offline_factor": 60, "packet_timeout": 2.0, "retries": 1},
               driver={"attach_wait": 0, "attach_poll": 0.2})


async def _bc95_no_sms(r):
    t, st = r.term, r.st
    r.enter("online")
    await r.online_over_packet("registered with preset secrets (REGISTER 0x03 -> 0x09), online over UDP")
    r.enter("outage")
    r.emu.set_outage(True)
    await r.until("fallback to SMS", lambda: t.packet_down, 10)
    await r.until("the session ended (4.3.4: LOGOUT 0x04 tried by SMS)", lambda: r.seen("logged_out", 4), 15)
    r.enter("alarm")
    # 4.3.5: not logged in, packet bearer down: the alarm goes to the SMS bearer at once
    t.raise_alarm(K.ALARM_PACKET_CONNECT_FAILED, r.now(), K.ALARM_TYPE_COMM)
    r.poke()
    await r.until("the SMS could not be sent", lambda: r.carried_in(phase="alarm", kind=SMS, ok=False), 5)
    r.enter("restore")
    r.emu.set_outage(False)
    await r.until("back on the packet bearer, logged in, the alarm at the platform, a heartbeat answered",
                  lambda: r.seen("bearer", "packet") and st.pf.db.param(r.serial, 0x300D) is not None
                  and r.carried_in(phase="restore", kind=PKT, direction="in", cmd="HEART_BEAT_ACK"), 15)


@pytest.fixture(scope="module")
def bc95_no_sms(tmp_path_factory):
    # SMS timeout 2 s: the alarm's request (4 tries) is still open at the next login
    rig = _no_sms_rig(tmp_path_factory, "bc95nosms", {0x0107: timeouts(2, 2)})
    run_rig(rig, _bc95_no_sms)
    return rig


def test_bc95_without_sms_survives_the_outage(bc95_no_sms):
    """MODEMS BC95 "most operators offer no SMS on NB-IoT": the driver finds no
    SMS (AT+CSMS refused) and its SMS bearer refuses to open; the terminal still
    registers (preset secrets, 4.3.1.1.1.2) and logs in over UDP.  Under an
    outage the engine nevertheless switches to SMS after FALLBACK_AFTER failed
    sends (it is not told that SMS is missing): every SMS it tries fails at once
    (SmsUnavailable, nothing reaches the module: no AT+CMGS) and is counted in
    0x2009, never in 0x2008.  The terminal does not die: when the network is back
    the probe reopens the socket, the engine returns to the packet bearer and
    its heartbeats are answered over UDP."""
    r = bc95_no_sms
    assert "SMS not available" in r.transcript and r.st.rig.modem.sms_available is False
    assert r.seen("register_ack", 0x09, phase="online") and r.seen("bearer", "sms", phase="outage")
    sms = r.carried_in(kind=SMS)
    assert sms and all(c["dir"] == "out" and not c["ok"] for c in sms)
    assert r.st.rig.tally.seen["AT+CMGS"] == 0 and r.emu.sms_sent == []
    assert r.stats[0x2008] == 0 and r.stats[0x200A] == 0
    assert r.stats[0x2009] == truth(r)[0x2009] == len(sms)
    assert r.seen("bearer", "packet", phase="restore") and r.final_state == "online"
    assert r.platform_row["state"] == "online" and r.platform_row["last_bearer"] == "udp"
    assert not pf_rows(r, bearer="sms")


def test_bc95_without_sms_alarm_reaches_the_platform_once_udp_is_back(bc95_no_sms):
    """4.3.5: the alarm raised while logged out during the outage could not go
    by SMS (there is none); the next login moves the open request to the new
    session, which sends it again over UDP once the network is back, and the
    platform records it (this run found it resent on the dead SMS bearer: a
    request of an ended session now goes again on the new session's bearer)."""
    r = bc95_no_sms
    first = r.carried_in(phase="alarm", kind=SMS, cmd="CONFIG_TRAP")
    assert first and not first[0]["ok"]
    again = r.carried_in(phase="restore", kind=PKT, direction="out", cmd="CONFIG_TRAP", ok=True)
    assert again and [c["cmd"] for c in r.carried_in(phase="restore", kind=PKT, direction="out")][0] == "LOGIN"
    assert r.platform_params.get(0x300D) == b"\x00\x03"
    rows = [m for m in pf_rows(r, "out", "udp", "CONFIG_TRAP_ACK") if "ALARM codes 0x0003" in m["note"]]
    assert len(rows) == 1


async def _bc95_no_sms_online(r):
    t, st = r.term, r.st
    await r.online_over_packet()
    r.enter("outage")
    r.emu.set_outage(True)
    await r.until("fallback to SMS", lambda: t.packet_down, 10)
    r.enter("alarm")
    # still logged in (no heartbeat timeout inside the run): the alarm is an
    # ordinary request of the session, on the session's bearer, SMS
    t.raise_alarm(K.ALARM_PACKET_CONNECT_FAILED, r.now(), K.ALARM_TYPE_COMM)
    r.poke()
    await r.until("the SMS could not be sent", lambda: r.carried_in(phase="alarm", kind=SMS, ok=False), 5)
    r.enter("restore")
    r.emu.set_outage(False)
    await r.until("back on the packet bearer, a heartbeat answered over UDP", lambda: r.seen("bearer", "packet")
                  and r.carried_in(phase="restore", kind=PKT, direction="in", cmd="HEART_BEAT_ACK"), 10)
    r.restored_state = t.state_name
    end = time.monotonic() + 6
    while time.monotonic() < end and st.pf.db.param(r.serial, 0x300D) is None:
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def bc95_no_sms_online(tmp_path_factory):
    # packet timeout 30 s: the session outlives the outage; SMS timeout 2 s, 3
    # retransmissions: the alarm's request is still open when UDP is back
    rig = _no_sms_rig(tmp_path_factory, "bc95nosmsonline", {0x0107: timeouts(30, 2)})
    run_rig(rig, _bc95_no_sms_online)
    return rig


def test_bc95_without_sms_alarm_of_a_live_session_reaches_the_platform(bc95_no_sms_online):
    """4.3.5 and issue 5 on a network without SMS, when the session outlives a
    short outage: the alarm raised while on SMS could not be sent; once the
    packet bearer is back the terminal, still logged in, gets it to the
    platform over UDP as a new request (this run found it left to run out its
    retries on the dead SMS bearer and dropped; fixed in 98b5535)."""
    r = bc95_no_sms_online
    assert r.restored_state == "online" and not r.seen("logged_out")
    assert r.carried_in(phase="alarm", kind=SMS, cmd="CONFIG_TRAP", ok=False)
    assert r.platform_params.get(0x300D) == b"\x00\x03"


async def _bc95_no_sms_long(r):
    t, st = r.term, r.st
    r.enter("online")
    await r.online_over_packet()
    r.enter("outage")
    r.emu.set_outage(True)
    await r.until("fallback to SMS", lambda: t.packet_down, 10)
    await r.until("login retries by SMS exhausted (0x0027)", lambda: t.state == E.S_ALARM, 15)
    r.enter("restore")
    r.emu.set_outage(False)
    await r.until("the probe reopened the packet bearer", lambda: not t.packet_down, 10)
    end = time.monotonic() + 3
    while time.monotonic() < end and not r.carried_in(phase="restore", kind=PKT, direction="in",
                                                      cmd="LOGIN_ACK"):
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def bc95_no_sms_long(tmp_path_factory):
    rig = _no_sms_rig(tmp_path_factory, "bc95nosmslong", {0x0027: b"\x01"})
    run_rig(rig, _bc95_no_sms_long)
    return rig


def test_bc95_without_sms_long_outage_runs_out_of_login_retries(bc95_no_sms_long):
    """What a longer outage does on a network without SMS: the heartbeats are
    missed (4.3.4), LOGOUT 0x04 and every LOGIN go to the SMS bearer and fail,
    the login retries (0x0027 = 1 here) run out and the engine enters its alarm
    state (0x000E platform connection failed, 4.3.2); the runner keeps running
    and its probe reopens the packet bearer when the network is back."""
    r = bc95_no_sms_long
    assert r.seen("alarm", K.ALARM_PLATFORM_CONNECT_FAILED, "login retries exhausted", phase="outage")
    tried = [c["cmd"] for c in r.carried_in(phase="outage", kind=SMS)]
    assert "LOGOUT" in tried and tried.count("LOGIN") == 2 and all(
        not c["ok"] for c in r.carried_in(phase="outage", kind=SMS))
    assert r.seen("bearer", "packet", phase="restore")
    assert r.stats[0x2008] == 0 and r.stats[0x2009] == len(r.carried_in(kind=SMS)) > 0


def test_bc95_without_sms_logs_in_again_once_udp_is_back(bc95_no_sms_long):
    """Issue 5 "returns to the packet bearer when it is back": the terminal logs
    in again over UDP by itself, although its login retries ran out by SMS (this
    run found it left in its alarm state for good: a register / login given up
    or backing off during an outage is now retried when the probe reports the
    packet bearer back; a refusal by the platform still waits for a person)."""
    r = bc95_no_sms_long
    assert r.carried_in(phase="restore", kind=PKT, direction="in", cmd="LOGIN_ACK")


# == the runner's probe while on SMS ==========================================

async def _probe_latency(r):
    t, st = r.term, r.st
    await r.online_over_packet()
    r.enter("outage")
    r.emu.set_outage(True)
    await r.until("fallback to SMS", lambda: t.packet_down, 10)
    # the platform asks by SMS as soon as the runner starts probing the packet bearer
    # (its probe task runs; the open itself may be the receive loop's reopen, which
    # the probe then shares: one open of a bearer at a time)
    await r.until("the runner probes the packet bearer", lambda: st.runner.probing(), 5)
    r.probed = True
    r.enter("get")
    t0 = time.monotonic()
    r.get_answer = await st.op.get({"serial": r.serial, "tags": ["0x0011"], "via": "sms", "timeout": 10})
    r.latency = time.monotonic() - t0


@pytest.fixture(scope="module")
def probe_latency(tmp_path_factory):
    # a packet network that takes 4 s to refuse the attach (driver attach_wait)
    rig = Rig(str(tmp_path_factory.mktemp("probe")), "sim7600", probe=1,
              params={0x0107: timeouts(30, 10)},
              platform={"offline_factor": 60, "sms_timeout": 10.0, "packet_timeout": 2.0, "retries": 0},
              driver={"attach_wait": 4, "netopen_timeout": 3})
    run_rig(rig, _probe_latency)
    return rig


def test_sms_requests_are_answered_while_the_packet_bearer_is_probed(probe_latency):
    """While on SMS the runner probes the packet bearer (the driver's open():
    AT+CGATT? polled for attach_wait, 4 s here) and an SMS request that comes
    meanwhile is still answered, by SMS (4.2)."""
    r = probe_latency
    assert r.get_answer["result"] == 0
    assert r.probed and [o for o in r.opens if o["kind"] == PKT and o["phase"] == "outage"]
    assert r.carried_in(phase="get", kind=SMS, direction="out", cmd="CONFIG_GET_ACK", ok=True)
    assert r.latency < 9


def test_sms_requests_are_answered_promptly_while_the_packet_bearer_is_probed(probe_latency):
    """An SMS request over loopback is answered in well under a second, probe or
    not (the probe here takes 4 s to fail; this run found the runner's main loop
    frozen for the whole probe: the probe now runs in a task of its own)."""
    r = probe_latency
    assert r.latency < 1.5, r.latency
