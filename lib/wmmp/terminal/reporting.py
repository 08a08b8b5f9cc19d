"""Reporting (section 4.3.5, appendix E d, e): CONFIG_TRAP reports, alarms
raised and cleared (0x300B-0x300E), and the statistics 0x2004, 0x2008-0x200E
with their policy 0x2001-0x2006.

A flow of wmmp.terminal.engine: functions over the terminal `t`.
"""

import struct

from wmmp.wire import codec, codes as K, commands as C, profile as P
from wmmp.terminal.core import S_ONLINE


def init(t):
    t.alarms = []                   # alarm codes raised and not cleared (0x300D)
    t._silent = []                  # of those, held by enter_alarm and never reported
    t._alarm_out = {}               # code -> [trap TLVs, sent]: a raise the platform has not acknowledged
    t._clear_wait = []              # codes whose clear waits for their raise's ACK


def report(t, tlvs, now):
    """CONFIG_TRAP of `tlvs` now, or after the next login."""
    t._now = now
    if t.state == S_ONLINE:
        t.trap(list(tlvs))
    else:
        t._after_login.append(list(tlvs))


def raise_alarm(t, code, now, alarm_type=0x02):
    """Report an alarm (0x300B-0x300D, 4.3.5); queued until online."""
    if code in t._silent:
        t._silent.remove(code)
    if code not in t.alarms:
        t.alarms.append(code)
    tl = [(0x300B, b"\x01"), (0x300C, bytes([alarm_type])), (0x300D, struct.pack(">H", code))]
    if code in t._clear_wait:           # raised again before the old clear went: that clear is moot
        t._clear_wait.remove(code)
    t._alarm_out[code] = [tl, False]
    _push_alarm(t, code, now)


def _push_alarm(t, code, now):
    """Send the raise of `code` until the platform acknowledges it: a raise whose
    retransmissions run out (its bearer died under it) is sent again on the
    bearer in use, or after the next login (resend_alarms); never lost."""
    e = t._alarm_out.get(code)
    if e is None or e[1]:
        return
    t._now = now
    if t.packet_down and t.state != S_ONLINE and t.registered:
        bearer = P.BEARER_SMS           # 4.3.5: over SMS an alarm goes at once, even without a login
    elif t.state == S_ONLINE:
        bearer = None
    else:
        return                          # resend_alarms after the next login
    e[1] = True

    def acked(t, ack, now):
        t._alarm_out.pop(code, None)
        if code in t._clear_wait:       # the clear that waited for this raise (order kept)
            t._clear_wait.remove(code)
            _send_clear(t, code, now)

    def failed(t, now):
        x = t._alarm_out.get(code)
        if x is not None:
            x[1] = False
            t.event("alarm_resend", code)
            _push_alarm(t, code, now)
    t.request(codec.Message(C.CONFIG_TRAP, tlvs=list(e[0])), bearer, on_ack=acked, on_fail=failed)


def resend_alarms(t, now):
    """After a login: the raises not acknowledged yet go again (4.3.5)."""
    for code in list(t._alarm_out):
        _push_alarm(t, code, now)


def clear_alarm(t, code, now):
    if code in t.alarms:
        t.alarms.remove(code)
        if code in t._alarm_out:        # its raise is not acknowledged yet: the clear follows it
            if code not in t._clear_wait:
                t._clear_wait.append(code)
            return
        _send_clear(t, code, now)


def _send_clear(t, code, now):
    tl = [(0x300E, struct.pack(">H", code))]
    if not t.alarms:
        tl.insert(0, (0x300B, b"\x00"))   # E e note: normal only when all recovered
    report(t, tl, now)


# == statistics (appendix E d) ===============================================
def stats_on(t):
    """Statistics are kept: 0x2006 (start) is not all F, and 0x2007 (end, all F
    or unset: none) has not passed."""
    if t.params.get_int(0x2006) == 0xFFFFFFFF:
        return False
    end = t.params.get_int(0x2007)
    wall = t.wall_time()
    return not (end and end != 0xFFFFFFFF and wall is not None and wall >= end)


def month(unix):
    """Calendar month of Unix time `unix` in China Standard Time (UTC+8), as
    year * 12 + month - 1 (civil-from-days, proleptic Gregorian)."""
    z = (unix + 28800) // 86400 + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    m = mp + 3 if mp < 10 else mp - 9
    return (yoe + era * 400 + (1 if m <= 2 else 0)) * 12 + m - 1


def _new_month(t, now):
    """0x2004 is "used this month": back to 0x00 when the month changes."""
    wall = t.wall_time(now)
    if wall is None:
        return
    m = month(wall)
    seen = t.params.get("stats_month")
    if seen is None or int.from_bytes(seen, "big") != m:
        t.params.set("stats_month", m.to_bytes(2, "big"))
        if seen is not None:
            t.params.set(0x2004, b"\x00")


def business_used(t, now):
    """The application used the M2M service (TRANSPARENT_DATA): 0x2004 := 0x01;
    with policy 0x2001 = 0x02 the first use of a month reports the statistics."""
    _new_month(t, now)
    if t.params.get(0x2004) != b"\x01":
        t.params.set(0x2004, b"\x01")
        if t.params.get_int(0x2001, 1) == 0x02 and stats_on(t):
            report_statistics(t, now)


def arm_stats(t, now):
    """0x2001 policy: 0x00 at the time in 0x2002, 0x01 every 0x2003 s,
    0x02 with the first business use of each month (send_data)."""
    t._timers.pop("stats", None)
    if not stats_on(t):
        return
    policy = t.params.get_int(0x2001, 1)
    if policy == 0x01:
        period = t.params.get_int(0x2003, 3600)
        if period:
            t._timers["stats"] = now + period
    elif policy == 0x00:
        at = t.params.get_int(0x2002)
        wall = t.wall_time(now)
        if at and wall is not None and at > wall:
            t._timers["stats"] = now + (at - wall)


def report_statistics(t, now):
    """CONFIG_TRAP of 0x2004 and 0x2008-0x200E; cleared after the ACK when
    0x2005 says so (appendix E d)."""
    t._now = now
    _new_month(t, now)
    tl = [(0x2004, t.params.get(0x2004) or b"\x00")]
    for tag in (0x2008, 0x2009, 0x200A, 0x200B, 0x200C, 0x200D, 0x200E):
        tl.append((tag, t.params.get(tag) or b"\x00\x00\x00\x00"))
    if t.state == S_ONLINE:
        t.trap(tl, on_ack=_stats_reported)
    else:
        t._after_login.append(tl)


def _stats_reported(t, ack, now):
    if ack.fields.get("result") == K.ACK_OK and t.params.get_int(0x2005) == 1:
        t.params.clear_stats()
    t.params.commit()


def on_stats(t, now):
    """The statistics timer.  Due while offline (e.g. the session key expired in
    the same tick): report_statistics queues it for the next login, which
    re-arms the timer."""
    report_statistics(t, now)
    if t.state == S_ONLINE and t.params.get_int(0x2001, 1) == 0x01:
        arm_stats(t, now)
