"""The cellular module of a board, for wmmp.board.device: the AT engine and driver of
its type, power-on with retries and back-off, the bearers the settings
(wmmp.board.settings) ask for, a new APN, and the parameters each module
applies (applies(): what the board declares to the engine, Config.applies).
Portable.

    at, drv = cellular.driver("sim7600", stream, log, apn="cmnet")
    ident = await cellular.bring_up("sim7600", drv, power, log)
    bearers = cellular.bearers("sim7600", drv, s)     # {kind: bearer}

Parameters (appendix E b) and how each module applies them:
    0x0002 platform APN, 0x0013 application APN   AT+CGDCONT (set_apn), both
    0x0007 platform SMS number, 0x0009 / 0x000A platform IP / ports
                                                 the bearers (bearers()), both
    0x0003 / 0x0004 dial user / password          AT+CGAUTH (set_apn), SIM7600
    0x0005 SMS centre                             AT+CSCA (apply_live), SIM7600;
                                                  BC95 when its network offers SMS
    0x0008 platform URL                           AT+CDNSGIP (resolve_host), SIM7600
    0x0010 / 0x0014 DNS                           AT+CDNSCFG (apply_live), SIM7600
The others (0x0001 dial number: no dial-up, the modules' own IP stacks are
used; application server, USSD, MSISDN, EC code, serial port, upgrade and
statistics-record tags) are applied by nothing on a board and not declared:
the engine refuses them (4.3.9.3, "data invalid").

`power` is None (the module is powered with the board) or (pin, level,
pulse): the SIM7600's PWRKEY or the BC95's RESET line, driven to `level` for
`pulse` s only when the module does not answer AT (wmmp.modem.DriverBase).
"""

import asyncio

from wmmp.wire import profile as P
from wmmp.errors import WmmpError
from wmmp.board.supervise import Backoff

MODEMS = ("sim7600", "bc95")

# Parameters the board applies on any module (wmmp.board.settings, the bearers,
# the APN switch), and those each module's driver applies.
BOARD_TAGS = (0x0002, 0x0007, 0x0009, 0x000A, 0x0013)
DRIVER_TAGS = {"sim7600": (0x0003, 0x0004, 0x0005, 0x0008, 0x0010, 0x0014), "bc95": (0x0005,)}
LIVE_TAGS = (0x0005, 0x0007, 0x0010, 0x0014)   # applied at once, no restart (apply_live;
                                                # 0x0007: the device's SMS bearer)


async def applies(kind, drv, s):
    """The parameter tags this board applies (Config.applies).  The BC95
    applies the SMS centre only when its network offers SMS (probed once,
    when there are platform numbers to send SMS to)."""
    tags = BOARD_TAGS + DRIVER_TAGS[kind]
    if kind == "bc95":
        if drv.sms_available is None and s["platform_numbers"]:
            try:
                await drv.probe_sms()
            except WmmpError:
                pass
        if not drv.sms_available:
            tags = BOARD_TAGS
    return tags


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


def bearers(kind, drv, s, host=None):
    """{kind: bearer} for the settings `s`: the packet bearer (UDP link 0 or TCP
    link 1 on the SIM7600) when the platform's host (`host`: its address when
    s["host"] is a name, see resolve_host) and port are known, the SMS bearer
    when platform numbers are."""
    host = host or s["host"]
    if kind == "sim7600":
        from wmmp.modem import sim7600 as M
        udp = lambda: M.UdpBearer(drv, 0, host, s["port"])
        tcp = lambda: M.TcpBearer(drv, 1, host, s["port"])
    else:
        from wmmp.modem import bc95 as M
        udp = lambda: M.UdpBearer(drv, host, s["port"])
        tcp = lambda: M.TcpBearer(drv, host, s["port"])
    out = {}
    if host and s["port"]:
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


def is_address(host):
    """True for a dotted IPv4 address."""
    f = host.split(".")
    return len(f) == 4 and all(x.isdigit() and int(x) < 256 for x in f)


async def resolve_host(kind, drv, s, log):
    """The address of the platform's host s["host"]: itself when it is an
    address; a name (0x0008 platform URL, or a factory name) is resolved by the
    SIM7600 (AT+CDNSGIP, through the DNS of 0x0010/0x0014); None when that
    fails (logged: no packet bearer this session, the SMS bearer carries on)."""
    host = s["host"]
    if not host or is_address(host):
        return host
    if kind != "sim7600":
        log("device: %s cannot resolve host names (%s): no packet bearer" % (kind, host))
        return None
    try:
        return await drv.resolve(host)
    except WmmpError as e:
        log("device: %s not resolved (%r): no packet bearer this session" % (host, e))
        return None


async def set_apn(kind, drv, apn, auth=None):
    """Use `apn` (and, SIM7600, the PDP authentication `auth`: (user,
    password) or None) from now on: the drivers set them once per module boot,
    so a change restarts the module (AT+CRESET / AT+NRB).  True when restarted."""
    if apn == drv.apn and (kind != "sim7600" or auth == drv.auth):
        return False
    drv.apn = apn
    if kind == "sim7600":
        drv.auth = auth
    await restart_module(kind, drv)
    return True


async def restart_module(kind, drv):
    """Restart the module (AT+CRESET / AT+NRB) and wait until it answers again."""
    if kind == "sim7600":
        await drv.reset()
    else:
        await drv.reboot()


async def connect(kind, drv):
    """Open the data connection now with the APN set (SIM7600: attach and
    AT+NETOPEN; BC95: attach): raises WmmpError when the network refuses it, or
    when the BC95 firmware refused the APN (AT+CGDCONT) and attached with the
    network's instead."""
    if kind == "sim7600":
        await drv.net_open()
        return
    await drv.attach()
    if drv.apn_refused:
        raise WmmpError("the module refused the APN %r (AT+CGDCONT)" % (drv.apn,))


async def apply_live(kind, drv, s, log):
    """Apply the parameters that need no restart (LIVE_TAGS): the SMS centre
    (AT+CSCA, both; also set again at each SMS set-up) and the DNS servers
    (SIM7600 AT+CDNSCFG, also set again after each AT+NETOPEN).  Failures are
    logged; the driver keeps the values and sets them at its next set-up."""
    if s["smsc"] != drv.smsc and kind == "bc95" and not drv.sms_available:
        drv.smsc = s["smsc"]          # no SMS (yet): set at the SMS set-up, if any
    elif s["smsc"] != drv.smsc:
        try:
            await drv.set_smsc(s["smsc"])
        except WmmpError as e:
            log("device: SMS centre %s not set now (%r): set at the next SMS set-up" % (s["smsc"], e))
    if kind == "sim7600" and s["dns"] != drv.dns:
        try:
            await drv.set_dns(s["dns"])
        except WmmpError as e:
            log("device: DNS %s not set now (%r): set at the next AT+NETOPEN" % (s["dns"], e))
