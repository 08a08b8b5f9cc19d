"""Remote control (section 4.3.7, appendix G i, appendix E f 0x4001): the
platform's REMOTE_CTRL, answered first, then carried out.  Operations that the
application or the board carries out are handed on as events.

A flow of wmmp.terminal.engine: functions over the terminal `t`.
"""

import struct

from wmmp.wire import codec, codes as K, commands as C
from wmmp.terminal.core import S_ONLINE, S_RESTARTING, relogin


def on_remote_ctrl(t, msg, bearer, now):
    """4.3.7 / G i: every TLV must be 0x4001 with a known code, else 0x01 with
    the bad ones at L=0 and nothing done."""
    bad = [(tag, b"") for tag, v in msg.tlvs if tag != 0x4001 or len(v) != 1 or v[0] > 0x0D]
    if bad or not msg.tlvs:
        t.respond(msg, codec.Message(C.REMOTE_CTRL_ACK, {"result": K.ACK_INVALID}, bad), bearer)
        return
    t.respond(msg, codec.Message(C.REMOTE_CTRL_ACK, {"result": K.ACK_OK}), bearer)
    for _, v in msg.tlvs:
        control(t, v[0], now)


def control(t, code, now):
    """Carry out 0x4001 `code` (appendix E f)."""
    t.event("remote_ctrl", code)
    p = t.params
    if code == K.RC_SUSPEND_SERVICE:
        t.event("service", False)
    elif code == K.RC_RESUME_SERVICE:
        t.event("service", True)
    elif code == K.RC_RESTART:
        t.set_state(S_RESTARTING)
        t.event("restart", "remote")
    elif code == K.RC_WAKE_UP:
        if t.state != S_ONLINE:
            t.login(now)
    elif code == K.RC_REPORT_STATISTICS:
        t.trap([(tag, p.get(tag) or struct.pack(">I", 0)) for tag in (0x2008, 0x2009, 0x200A, 0x200B)]
               + [(0x2004, b"\x01")])
    elif code == K.RC_CLEAR_STATISTICS:
        p.clear_stats()
        p.commit()
    elif code == K.RC_REPORT_MONITOR:
        tl = [(0x3005, struct.pack(">I", t._last_hb_delay)), (0x3011, struct.pack(">I", t._lost)),
              (0x300B, b"\x01" if t.alarms else b"\x00")]
        for tag in (0x3006, 0x3007):
            if p.get(tag) is not None:
                tl.append((tag, p.get(tag)))
        t.trap(tl)
    elif code == K.RC_REPORT_CONNECTION:
        t.trap([(0x4005, b"\x03"), (0x4006, b"\x00\x00")])
    elif code == K.RC_FACTORY_RESET:
        p.factory_reset()
        p.commit()
        t.event("factory_reset")
    elif code == K.RC_REPORT_CORE_CONFIG:
        t.trap(t.core_params())
    elif code == K.RC_RELOGIN_ENCRYPTED:
        t.logout(K.LOGOUT_NORMAL, now, then=relogin)
    else:   # 0x07 upload business data, 0x09 / 0x0C switch APN: the application acts
        t.event("app_ctrl", code)
