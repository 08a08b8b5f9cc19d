"""The cellular module of a board, for wmmp.board.device: the AT engine and driver of
its type, power-on with retries and back-off, the bearers the settings
(wmmp.board.settings) ask for, and a new APN.  Portable.

    at, drv = cellular.driver("sim7600", stream, log, apn="cmnet")
    ident = await cellular.bring_up("sim7600", drv, power, log)
    bearers = cellular.bearers("sim7600", drv, s)     # {kind: bearer}

`power` is None (the module is powered with the board) or (pin, level,
pulse): the SIM7600's PWRKEY or the BC95's RESET line, driven to `level` for
`pulse` s only when the module does not answer AT (wmmp.modem.DriverBase).
"""

import asyncio

from wmmp.wire import profile as P
from wmmp.errors import WmmpError
from wmmp.board.supervise import Backoff

MODEMS = ("sim7600", "bc95")


def driver(kind, stream, log, apn=None, options=None):
    """(AtEngine, driver) for module `kind` on `stream`; options: driver keyword
    arguments (timeouts)."""
    from wmmp.modem.at import AtEngine
    opts = options or {}
    if kind == "sim7600":
        from wmmp.modem.sim7600 import Sim7600
        at = AtEngine(stream, log=log)
        return at, Sim7600(at, apn=apn, log=log, **opts)
    if kind == "bc95":
        from wmmp.modem import bc95
        at = AtEngine(stream, parser=bc95.at_parser(), log=log)
        return at, bc95.Bc95(at, apn=apn, log=log, **opts)
    raise ValueError("unknown modem %r (have: %s)" % (kind, ", ".join(MODEMS)))


async def power_on(kind, drv, power):
    if power is None:
        await drv.power_on()
    elif kind == "sim7600":
        await drv.power_on(pwrkey=power[0], level=power[1], pulse=power[2])
    else:
        await drv.power_on(reset=power[0], level=power[1], pulse=power[2])


async def bring_up(kind, drv, power, log, backoff=None, attempts=None):
    """Power the module and read its identity ({'imei', 'imsi', 'iccid',
    'firmware'}; imsi None while the SIM asks for PIN1 or is missing), retrying
    with back-off (2, 4 ... 60 s) while the module does not answer; after
    `attempts` failures (None: never) the last error is raised."""
    b = backoff or Backoff(2, 60)
    n = 0
    while True:
        n += 1
        try:
            await power_on(kind, drv, power)
            return await drv.identity()
        except WmmpError as e:
            log("device: %s not ready (attempt %d): %r" % (kind, n, e))
            if attempts is not None and n >= attempts:
                raise
        await asyncio.sleep(b.next())


def bearers(kind, drv, s):
    """{kind: bearer} for the settings `s`: the packet bearer (UDP link 0 or TCP
    link 1 on the SIM7600) when the platform's host and port are known, the SMS
    bearer when platform numbers are."""
    if kind == "sim7600":
        from wmmp.modem import sim7600 as M
        udp = lambda: M.UdpBearer(drv, 0, s["host"], s["port"])
        tcp = lambda: M.TcpBearer(drv, 1, s["host"], s["port"])
    else:
        from wmmp.modem import bc95 as M
        udp = lambda: M.UdpBearer(drv, s["host"], s["port"])
        tcp = lambda: M.TcpBearer(drv, s["host"], s["port"])
    out = {}
    if s["host"] and s["port"]:
        out[P.BEARER_PACKET] = tcp() if s["transport"] == "tcp" else udp()
    if s["platform_numbers"]:
        out[P.BEARER_SMS] = M.SmsBearer(drv, list(s["platform_numbers"]))
    return out


async def close_bearers(bs, log):
    for b in bs.values():
        close = getattr(b, "close", None)
        if close is None:
            continue
        try:
            await close()
        except Exception as e:        # a dead link cannot be closed: nothing to keep
            log("device: closing %r failed: %r" % (b, e))


async def set_apn(kind, drv, apn):
    """Use `apn` from now on: the drivers set the APN once per module boot, so a
    new one restarts the module (AT+CRESET / AT+NRB).  True when restarted."""
    if apn == drv.apn:
        return False
    drv.apn = apn
    if kind == "sim7600":
        await drv.reset()
    else:
        await drv.reboot()
    return True
