"""Configuration (sections 4.3.6 and 4.3.9, appendix G f, g, h): the
platform's CONFIG_GET and CONFIG_SET, the terminal's CONFIG_REQ, parameters set
by hand on the terminal, and when a change is applied (at once, after the
application's business operation, or through LOGOUT and a restart).  With a
data port (Config.data_port) the engine applies the serial bridge's 0x0028 and
0x0101-0x0105 itself, refusing a setting the port cannot do (PROTOCOL.md 11),
and answers the bridge counters, maker tag 0x8001.

A flow of wmmp.terminal.engine: functions over the terminal `t`.
"""

import struct

from micropython import const

from wmmp.wire import catalogue as CAT, codec, codes as K, commands as C, tlv as T
from wmmp.terminal.core import S_ONLINE, S_RESTARTING

# Codes (appendix G / E) that only this module reads: private, so MicroPython compiles
# them away; wmmp.wire.codes still answers to their names for tools and tests.
_LOGOUT_PLATFORM_CONFIG = const(0x07)

# Parameters the engine itself applies (appendix E b, d): heartbeat, core tags,
# SMS wait, login/register retries and gaps, user tag lists, response timeouts,
# retransmissions, the statistics policy.  The board declares what it applies
# (Config.applies); any other tag is refused rather than stored and ignored.
ENGINE_TAGS = (0x0011, 0x0025, 0x0026, 0x0027, 0x0029, 0x002A, 0x002B, 0x002C, 0x002D, 0x0107, 0x0108,
               0x2001, 0x2002, 0x2003, 0x2005, 0x2006, 0x2007)


def init(t):
    t._pending_apply = None      # (seq, tags) of a CONFIG_SET applied across a restart
    t._deferred = None           # (seq, tlvs) waiting for the application to be idle
    t.busy = False               # the application is in the middle of a business operation


def on_config_get(t, msg, bearer, now):
    """4.3.6 / G g: the current value of every requested tag; a tag the
    terminal does not recognise or may not reveal (a secret) -> 0x01 with those
    tags at L=0, nothing else (PROTOCOL.md 10)."""
    out = [(tag, current(t, tag)) for tag, _ in msg.tlvs]
    bad = [(tag, b"") for tag, v in out if v is None]
    if bad:
        t.respond(msg, codec.Message(C.CONFIG_GET_ACK, {"result": K.ACK_INVALID}, bad), bearer)
        return
    t.respond(msg, codec.Message(C.CONFIG_GET_ACK, {"result": K.ACK_OK}, out), bearer)


def current(t, tag):
    """What CONFIG_GET answers for `tag`: the stored value, else the value the
    terminal produces (protocol version, serial, software version, system time,
    alarms, platform number, link figures, counters; PROTOCOL.md 10), else empty for
    a known tag that has none; None for a tag not recognised or secret."""
    p = t.params
    v = p.readable(tag)
    if v is not None:
        return v
    if t._bridge is not None and t._bridge.current(tag) is not None:
        return t._bridge.current(tag)           # maker tag 0x8001: the bridge's counters
    if not p.supports(tag) or CAT.is_secret(tag) or tag >= 0xE001:
        return None
    if tag == 0x3001:
        return struct.pack(">H", t.profile.version)
    if tag == 0x3002:
        return t.serial
    if tag == 0x3004 or tag == 0x100C:
        return t.cfg.software_version
    if tag == 0x3009:
        return struct.pack(">I", t.wall_time() or 0)
    if tag == 0x300B:
        return b"\x01" if t.alarms else b"\x00"
    if tag == 0x300D:
        return b"".join(struct.pack(">H", a) for a in t.alarms)
    if tag == 0x3005:
        return struct.pack(">I", t._last_hb_delay)
    if tag == 0x3011:
        return struct.pack(">I", t._lost)
    if tag == 0x3010:
        return b"".join(struct.pack(">H", o) for o in t.cfg.outputs)
    if tag == 0x0007 and t.cfg.platform_numbers:
        return t.cfg.platform_numbers[0].encode()
    if 0x2008 <= tag <= 0x200E:
        return b"\x00\x00\x00\x00"
    if tag == 0x2004:
        return b"\x00"
    return b""


def refused(t, tlvs):
    """Tags of `tlvs` that cannot be set (appendix G h): unknown, read-only or
    invalid values (params.check), or parameters nothing on this terminal
    applies (neither the engine nor, per Config.applies, the board)."""
    bad = t.params.check(tlvs)
    b = t._bridge
    if b is not None:           # a serial setting the board's UART cannot do (PROTOCOL.md 11)
        bad += [tag for tag in b.check(tlvs) if tag not in bad]
    applies = t.cfg.applies
    if applies is None:
        return bad
    user = t.params.tag_list(0x002C) + t.params.tag_list(0x002D)
    for tag, _ in tlvs:
        if tag != 0x4009 and tag not in bad and tag not in ENGINE_TAGS and tag not in applies \
                and tag not in user and not (b is not None and (tag == 0x0028 or 0x0101 <= tag <= 0x0105)):
            bad.append(tag)
    return bad


def on_config_set(t, msg, bearer, now):
    """4.3.9.3 / G h: all or nothing; 0x4009 forces immediate application; a
    parameter that needs a restart is applied after LOGOUT 0x07."""
    bad = refused(t, msg.tlvs)
    if bad:
        t.respond(msg, codec.Message(C.CONFIG_SET_ACK, {"result": K.ACK_INVALID},
                                     [(tag, b"") for tag in bad]), bearer)
        return
    t.respond(msg, codec.Message(C.CONFIG_SET_ACK, {"result": K.ACK_OK}), bearer)
    tlvs = [(tag, v) for tag, v in msg.tlvs if tag != 0x4009]
    force = T.find(msg.tlvs, 0x4009) == b"\x01"
    if t.busy and not force:
        t._deferred = (msg.seq, tlvs)
        t.trap([(0x4010, b"\x01" + struct.pack(">I", msg.seq))])
        return
    apply(t, msg.seq, tlvs, now)


def idle(t, now):
    """The application finished its business operation: apply deferred config."""
    t.busy = False
    if t._deferred is not None:
        seq, tlvs = t._deferred
        t._deferred = None
        apply(t, seq, tlvs, now)


def apply(t, seq, tlvs, now):
    """Apply the platform's values of request `seq`, report 0x4010 + 0x4017;
    one that needs a restart is applied after LOGOUT 0x07 (4.3.9.3)."""
    tags = [tag for tag, _ in tlvs]
    if t.params.needs_restart(tags):
        def apply_and_restart(t, now2):
            for tag, v in tlvs:
                t.params.set(tag, v)
            t.params.commit()
            t._pending_apply = (seq, tags)
            t.set_state(S_RESTARTING)
            t.event("restart", "config")
        t.logout(_LOGOUT_PLATFORM_CONFIG, now, then=apply_and_restart)
        return
    for tag, v in tlvs:
        t.params.set(tag, v)
    t.params.commit()
    t.event("config_applied", tags)
    if 0x0011 in tags:
        t.arm_heartbeat()
    if t._bridge is not None:
        t._bridge.apply(tags, now)      # after the ACK: a new port setting, an EC code
    t.trap([(0x4010, b"\x00" + struct.pack(">I", seq)),
            (0x4017, struct.pack(">I", t.params.applied_crc32(tags)))])


def core_params(t):
    """The core parameters named by 0x0025, with their values (4.3.2, 0x400B)."""
    return [(tag, t.params.get(tag) or b"") for tag in t.params.tag_list(0x0025)]


def request_config(t, tags, now):
    """CONFIG_REQ for `tags` (4.3.9.1): the platform's values are applied at
    once (the terminal asks only when idle); a restart-needing value goes
    through LOGOUT 0x07 and restart; the result is reported with 0x4010."""
    t._now = now
    msg = codec.Message(C.CONFIG_REQ, tlvs=[(tag, b"") for tag in tags])
    return t.request(msg, on_ack=_config_answered)


def _config_answered(t, ack, now):
    if ack.fields.get("result") != K.ACK_OK:
        t.event("config_req_refused", [tag for tag, _ in ack.tlvs])
        return
    bad = refused(t, ack.tlvs)
    if bad:
        t.event("config_req_invalid", bad)
        return
    changed = [(tag, v) for tag, v in ack.tlvs if t.params.get(tag) != v]
    if changed:          # 4.3.9.1: same as local values -> nothing to apply
        apply(t, ack.seq, changed, now)


def local_config(t, tlvs, now):
    """Parameters set by hand on the terminal (4.3.9.2): applied, then reported
    with 0x4011; one that needs a restart logs out with reason 0x03 first."""
    t._now = now
    bad = refused(t, tlvs)
    if bad:
        t.event("local_config_invalid", bad)
        return bad
    tags = [tag for tag, _ in tlvs]
    if t.params.needs_restart(tags):
        def apply_and_restart(t, now2):
            for tag, v in tlvs:
                t.params.set(tag, v)
            t.params.commit()
            t._after_login.append([(0x4011, b"")] + list(tlvs))
            t.set_state(S_RESTARTING)
            t.event("restart", "local config")
        if t.state == S_ONLINE:
            t.logout(K.LOGOUT_LOCAL_CONFIG, now, then=apply_and_restart)
        else:
            # no session to end (e.g. a wrong APN kept it from logging in): the
            # new connection settings take effect now
            apply_and_restart(t, now)
        return []
    for tag, v in tlvs:
        t.params.set(tag, v)
    t.params.commit()
    t.report([(0x4011, b"")] + list(tlvs), now)   # offline: after the next login
    if t._bridge is not None:
        t._bridge.apply([tag for tag, _ in tlvs], now)
    return []
