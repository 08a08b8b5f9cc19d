"""Remote control (section 4.3.7, appendix G i, appendix E f 0x4001, 0x4021):
the platform's REMOTE_CTRL, answered first, then carried out.  What the board
carries out is handed on as events, and only when the board says it can
(Config.controls, Config.outputs); anything else is refused "data invalid"
with the TLV at L=0.  Outcomes that come later (an APN switch, a restart) are
reported with 0x4010 and the request's seq (4.3.7: asynchronous results).

Events for the board: ("service", on) suspend/resume the EC application
(0x00/0x01, kept across restarts); ("restart", "remote") after LOGOUT: reset
the MCU (0x02; 0x4010 follows the next login); ("upload",) send buffered
application data now (0x07); ("apn", code, seq) switch the APN, then call
t.control_done(seq, ok) (0x09 to the platform's, 0x0C to the application's);
("peripheral", id, on) switch an output (0x4021).  With a data port the engine's
serial bridge takes part (PROTOCOL.md 11): suspended, its frames wait; resumed,
they go; 0x07 ends the open frame and sends what it holds (t._bridge.flush).

A flow of wmmp.terminal.engine: functions over the terminal `t`.
"""

import struct

from micropython import const

from wmmp.wire import codec, codes as K, commands as C, profile as P
from wmmp.terminal.core import S_ONLINE, S_RESTARTING, relogin

# Codes (appendix G / E) that only this module reads: private, so MicroPython compiles
# them away; wmmp.wire.codes still answers to their names for tools and tests.
_RC_WAKE_UP = const(0x03)
_RC_CLEAR_STATISTICS = const(0x05)
_RC_REPORT_MONITOR = const(0x06)
_RC_REPORT_CONNECTION = const(0x08)
_RC_FACTORY_RESET = const(0x0A)
_RC_REPORT_CORE_CONFIG = const(0x0B)
_RC_RELOGIN_ENCRYPTED = const(0x0D)

# 0x4001 codes the board carries out (the engine does the others alone).
BOARD_CODES = (K.RC_SUSPEND_SERVICE, K.RC_RESUME_SERVICE, K.RC_RESTART, K.RC_UPLOAD_SERVICE_DATA,
               K.RC_APN_TO_PLATFORM, K.RC_APN_TO_APPLICATION)


def _valid(t, tag, v):
    if tag == 0x4001:
        if len(v) != 1 or v[0] > 0x0D:
            return False
        c = t.cfg.controls
        if t._bridge is not None and v[0] in (K.RC_SUSPEND_SERVICE, K.RC_RESUME_SERVICE,
                                              K.RC_UPLOAD_SERVICE_DATA):
            return True             # the serial data bridge carries them out
        return v[0] not in BOARD_CODES or c is None or v[0] in c
    if tag == 0x4021:       # peripheral id:u16, 0 off / 1 on
        return len(v) == 3 and v[2] <= 1 and (v[0] << 8 | v[1]) in t.cfg.outputs
    return False


def on_remote_ctrl(t, msg, bearer, now):
    """4.3.7 / G i: every TLV must be 0x4001 with a code this terminal carries
    out, or 0x4021 for an output the board has, else 0x01 with the bad ones at
    L=0 and nothing done."""
    bad = [(tag, b"") for tag, v in msg.tlvs if not _valid(t, tag, v)]
    if bad or not msg.tlvs:
        t.respond(msg, codec.Message(C.REMOTE_CTRL_ACK, {"result": K.ACK_INVALID}, bad), bearer)
        return
    t.respond(msg, codec.Message(C.REMOTE_CTRL_ACK, {"result": K.ACK_OK}), bearer)
    for tag, v in msg.tlvs:
        if tag == 0x4021:
            t.event("peripheral", v[0] << 8 | v[1], v[2] == 1)
        else:
            control(t, v[0], now, msg.seq)


def service_off(t):
    """True while the platform has the EC application suspended (0x4001 0x00)."""
    return t.params.get("service_off") == b"\x01"


def control_done(t, seq, ok, now):
    """The board finished REMOTE_CTRL `seq` (an APN switch): 0x4010 executed
    (0x00) or failed and the old setting kept (0x02)."""
    t._now = now
    t.report([(0x4010, (b"\x00" if ok else b"\x02") + struct.pack(">I", seq))], now)


def _restart(t, now2, seq):
    t.params.set("ctrl_restart", struct.pack(">I", seq))     # reported after the next login
    t.params.commit()
    t.set_state(S_RESTARTING)
    t.event("restart", "remote")


def control(t, code, now, seq=0):
    """Carry out 0x4001 `code` (appendix E f) of REMOTE_CTRL `seq`."""
    t.event("remote_ctrl", code)
    p = t.params
    if code == K.RC_SUSPEND_SERVICE or code == K.RC_RESUME_SERVICE:
        on = code == K.RC_RESUME_SERVICE
        if on:
            p.delete("service_off")
        else:
            p.set("service_off", b"\x01")
        p.commit()
        t.event("service", on)
        if on and t._bridge is not None:
            t._bridge.tick(now)     # the bridge's frames held while suspended
    elif code == K.RC_RESTART:
        # log out (the session ends with the board), keep what must survive,
        # then the board resets the MCU
        t.logout(K.LOGOUT_FAULT_RELOGIN, now, then=lambda t, now2: _restart(t, now2, seq))
    elif code == K.RC_UPLOAD_SERVICE_DATA:
        if t._bridge is not None:
            t._bridge.flush(now)
        t.event("upload")
    elif code == K.RC_APN_TO_PLATFORM or code == K.RC_APN_TO_APPLICATION:
        t.event("apn", code, seq)
    elif code == _RC_WAKE_UP:
        if t.state != S_ONLINE:
            t.login(now)
    elif code == K.RC_REPORT_STATISTICS:
        t.trap([(tag, p.get(tag) or struct.pack(">I", 0)) for tag in (0x2008, 0x2009, 0x200A, 0x200B)]
               + [(0x2004, b"\x01")])
    elif code == _RC_CLEAR_STATISTICS:
        p.clear_stats()
        p.commit()
    elif code == _RC_REPORT_MONITOR:
        tl = [(0x3005, struct.pack(">I", t._last_hb_delay)), (0x3011, struct.pack(">I", t._lost)),
              (0x300B, b"\x01" if t.alarms else b"\x00")]
        for tag in (0x3006, 0x3007):
            if p.get(tag) is not None:
                tl.append((tag, p.get(tag)))
        t.trap(tl)
    elif code == _RC_REPORT_CONNECTION:
        # 0x4005: 0x01 SMS, 0x03 packet; 0x4006: UDP 0x00 / TCP 0x01, transparent
        t.trap([(0x4005, b"\x01" if t._bearer == P.BEARER_SMS else b"\x03"),
                (0x4006, b"\x01\x00" if t.cfg.tcp else b"\x00\x00")])
    elif code == _RC_FACTORY_RESET:
        p.factory_reset()
        p.commit()
        t.event("factory_reset")
    elif code == _RC_REPORT_CORE_CONFIG:
        t.trap(t.core_params())
    elif code == _RC_RELOGIN_ENCRYPTED:
        t.logout(K.LOGOUT_NORMAL, now, then=relogin)
