"""The session (sections 4.3.2-4.3.4, appendix G b, c, d): LOGIN and its ACK,
heartbeats, LOGOUT both ways, and what a new session sends first (the proving
CONFIG_TRAP, reports and requests held while offline).

A flow of wmmp.terminal.engine: functions over the terminal `t`.
"""

import struct

from micropython import const

from wmmp.wire import codec, codes as K, commands as C
from wmmp.terminal.core import (S_LOGGING_IN, S_ONLINE, S_LOGGING_OUT, S_IDLE, MISSED_HEARTBEATS,
                                SESSION_CMDS, relogin)

# Codes (appendix G / E) that only this module reads: private, so MicroPython compiles
# them away; wmmp.wire.codes still answers to their names for tools and tests.
_LOGIN_ACK_OK = const(0x00)
_LOGIN_ACK_OK_REPORT_CONFIG = const(0x01)
_LOGIN_ACK_BAD_MAPPING = const(0x02)
_LOGIN_ACK_SERIAL_CONFLICT = const(0x04)
_LOGIN_ACK_NOT_REGISTERED = const(0x06)
_LOGIN_ACK_OK_BAD_KEY_DIGEST = const(0x07)
_LOGIN_ACK_OK_STAY_CONNECTED = const(0x08)
_LOGIN_ACK_MISSING_KEY_DIGEST = const(0x09)
_LOGOUT_HEARTBEAT_TIMEOUT = const(0x04)


def init(t):
    t._login_attempts = 0
    t._asked_key = False            # this LOGIN asked for a session key (E03A)
    t._missed_hb = 0
    t._last_hb_delay = 0            # 0x3005
    t._hb_sent_at = None


# == login (4.3.2, appendix G b) =============================================
def login(t, now):
    t._gave_up = None
    t.set_state(S_LOGGING_IN)
    t.session = None
    # Requests still open from the previous session would be retransmitted with
    # its digest timestamp and dropped by the platform: send them again in the
    # new session instead, with a fresh seq (4.4.6, PROTOCOL.md 3).
    if t._txns:
        for seq in list(t._txns):
            x = t._txns.pop(seq)
            if x.msg is not None and x.command not in SESSION_CMDS:
                t._resend.append(x)
    p = t.params
    tlvs = [(0x0011, p.get(0x0011))]
    for tag in (0x3006, 0x3007):
        if p.get(tag) is not None:
            tlvs.append((tag, p.get(tag)))
    t._asked_key = False
    if t.cfg.session_key and p.get(0xE036):
        tlvs.append((0xE03A, t.secret_digest(0xE03A)))
        t._asked_key = True
    cleared = p.get_int("cleared_login")
    if cleared:
        tlvs.append((0xE020, bytes([cleared])))
    msg = codec.Message(C.LOGIN, {"software_version": t.cfg.software_version,
                                  "config_crc32": p.core_crc32()}, tlvs)
    t.session_ts = 0
    t.request(msg, t._bearer, _on_login_ack, _on_login_fail, retries=0)


def _on_login_ack(t, msg, now):
    r = msg.fields["result"]
    t.event("login_ack", r)
    if r in (_LOGIN_ACK_OK, _LOGIN_ACK_OK_REPORT_CONFIG, _LOGIN_ACK_OK_BAD_KEY_DIGEST,
             _LOGIN_ACK_OK_STAY_CONNECTED):
        _online(t, msg, r, now)
    elif t._fallback is not None and r in (_LOGIN_ACK_BAD_MAPPING, _LOGIN_ACK_MISSING_KEY_DIGEST):
        t.fall_back(now)
    elif r == _LOGIN_ACK_NOT_REGISTERED:
        # the platform has no registration for this terminal: register again
        t.params.delete("registered")
        t.params.commit()
        t.event("login_refused", r)
        t._login_attempts = 0
        t.register(now)
    elif r == _LOGIN_ACK_SERIAL_CONFLICT:
        _retry(t, now)          # the platform still holds an old session of ours: it ends
    else:
        # a refusal (bad mapping, bad serial, incompatible version, no key
        # digest, or a reserved code) is not a lost message: retrying cannot
        # help, a person (operator or technician) must act
        t.event("login_refused", r)
        t.enter_alarm(now, "login refused 0x%02X" % r, K.ALARM_PLATFORM_CONNECT_FAILED)


def _online(t, msg, r, now):
    t._login_attempts = 0
    t.session_ts = msg.fields["curtime"]
    t._wall_base = (now, msg.fields["curtime"])
    e040 = msg.tlv(0xE040)
    if e040 is not None and t._asked_key:
        t.unwrap_session_key(e040)
    t.params.delete("cleared_login")
    if t._fallback is not None:
        t._fallback = None
        t.event("secrets_changed")
    t.params.commit()
    t.set_state(S_ONLINE)
    t._missed_hb = 0
    arm_heartbeat(t)
    t.event("online", r)
    # what stopped the terminal and was never reported is over now
    while t._silent:
        c = t._silent.pop()
        if c in t.alarms:
            t.alarms.remove(c)
    # G b: a CONFIG_TRAP right after login proves the connection (its digest).
    trap = [(0x300B, b"\x01" if t.alarms else b"\x00")]
    if r == _LOGIN_ACK_OK_REPORT_CONFIG:
        trap += t.core_params()
    t.trap(trap)
    while t._after_login:
        t.trap(t._after_login.pop(0))
    t.resend_alarms(now)
    while t._resend:
        x = t._resend.pop(0)
        x.msg.security = 0
        x.msg.encryption = codec.ENC_NONE
        # a new request (new seq) of the new session: it goes on the session's
        # bearer, not on the one the old request used (which may be the SMS of
        # an outage, or none at all)
        t.request(x.msg, t._bearer, x.on_ack, x.on_fail)
    while t._pending_data:
        payload, dest, ec = t._pending_data.pop(0)
        t.send_data(payload, now, dest, ec)
    done = t.params.get("ctrl_restart")
    if done is not None:
        # the REMOTE_CTRL restart (0x4001 0x02) is done: 0x4010 executed (4.3.7)
        t.params.delete("ctrl_restart")
        t.params.commit()
        t.trap([(0x4010, b"\x00" + done)])
    if t._pending_apply is not None:
        seq, tags = t._pending_apply
        t._pending_apply = None
        t.trap([(0x4010, struct.pack(">BI", 0, seq)),
                (0x4017, struct.pack(">I", t.params.applied_crc32(tags)))])
    if t.session is not None:
        t._timers["session"] = now + max(1, t.session.valid_until - msg.fields["curtime"])
    t.arm_stats(now)


def _on_login_fail(t, now):
    _retry(t, now)


def _retry(t, now):
    """Login retries 0x0027 (0xFF forever) with back-off 0x002A (4.3.2); a new
    secret that never got through is given up for the old one (4.4.3.1.3.3)."""
    t._login_attempts += 1
    limit = t.params.get_int(0x0027, 3)
    if limit != 0xFF and t._login_attempts > limit and t._fallback is not None:
        t.fall_back(now)
        return
    if limit != 0xFF and t._login_attempts > limit:
        t.enter_alarm(now, "login retries exhausted", K.ALARM_PLATFORM_CONNECT_FAILED)
        t._gave_up = "login"
        return
    t.backoff(now, "login", 0x002A, t._login_attempts)


# == heartbeats (4.3.4, appendix G d) ========================================
def arm_heartbeat(t):
    period = t.params.get_int(0x0011, 30)
    if period and t.cfg.long_connection and not t.packet_down:   # no heartbeats by SMS
        t._timers["heartbeat"] = t._now + period


def on_heartbeat(t, now):
    if t.state != S_ONLINE:
        return
    tlvs = [(0x3005, struct.pack(">I", t._last_hb_delay)), (0x3011, struct.pack(">I", t._lost))]
    for tag in (0x3006, 0x3007):
        if t.params.get(tag) is not None:
            tlvs.append((tag, t.params.get(tag)))
    t._hb_sent_at = now
    t.request(codec.Message(C.HEART_BEAT, tlvs=tlvs), on_ack=_on_hb_ack, on_fail=_on_hb_fail, retries=0)
    if t._deferred is not None:
        # 4.3.9.3 c: report "deferred" at the heartbeat interval until applied.
        t.trap([(0x4010, struct.pack(">BI", 1, t._deferred[0]))])


def _on_hb_ack(t, msg, now):
    if t._hb_sent_at is not None:
        t._last_hb_delay = int(now - t._hb_sent_at)
    t._missed_hb = 0


def _on_hb_fail(t, now):
    t._missed_hb += 1
    if t._missed_hb >= MISSED_HEARTBEATS:
        t.event("heartbeat_lost", t._missed_hb)
        logout(t, _LOGOUT_HEARTBEAT_TIMEOUT, now, then=relogin)


# == logout (4.3.3, appendix G c) ============================================
def logout(t, reason, now, then=None, on_fail=None):
    """LOGOUT with `reason` (G c); on the ACK `then(t, now)` runs (e.g. log in
    again), on its timeout `on_fail(t, now)` (default: the same), else idle.
    LOGOUT 0x09 (new password or base key) is sent again until its ACK
    arrives (4.4.3.1.3.3): only the ACK makes both sides switch secrets."""
    t._now = now
    t.set_state(S_LOGGING_OUT)
    t._timers.pop("heartbeat", None)

    def finish(t, nxt, now2):
        t.session = None
        t.event("logged_out", reason)
        if nxt is not None:
            nxt(t, now2)
        else:
            t.set_state(S_IDLE)
    t.request(codec.Message(C.LOGOUT, {"reason": reason}),
              on_ack=lambda t, m, now2: finish(t, then, now2),
              on_fail=lambda t, now2: finish(t, on_fail if on_fail is not None else then, now2),
              retries=-1 if reason == K.LOGOUT_UPDATE_KEYS else 1)


def on_logout(t, msg, bearer, now):
    """G c: the platform ends the session; reason 0x08 -> log in again."""
    t.respond(msg, codec.Message(C.LOGOUT_ACK), bearer)
    t.session = None
    t._timers.pop("heartbeat", None)
    reason = msg.fields["reason"]
    t.event("logged_out", reason)
    if reason in (K.LOGOUT_SESSION_KEY_EXPIRED, K.LOGOUT_COMM_FAILURE, K.LOGOUT_FAULT_RELOGIN):
        login(t, now)
    else:
        t.set_state(S_IDLE)


def restarted(t, now):
    """The application restarted the terminal (after a 'restart' event): log in
    (register first when the terminal is not registered yet)."""
    t._now = now
    t._txns = {}
    t._timers = {}
    t.session = None
    t.boot_on(now)


def on_short_idle(t, now):
    """A short connection's work is done (4.2.1): log out."""
    if t.state == S_ONLINE and not t._txns:
        logout(t, K.LOGOUT_NORMAL, now)
