"""DNS on the SIMCom SIM7600 (SIMCom's SIM7600 series AT command manual): the
servers set with AT+CDNSCFG after each AT+NETOPEN, names resolved with
AT+CDNSGIP.  Functions over the driver (wmmp.modem.sim7600.Sim7600), which
takes them as its methods.  Portable: MicroPython and CPython asyncio.
"""

from micropython import const

from wmmp.modem.at import AtError
from wmmp.modem import NetworkError, find as _find

ERR_DNS = const(11)               # <err> of +CIPOPEN / +NETOPEN: DNS failed (the AT manuals)


async def dns_again(drv, gen):
    """The DNS servers again after an AT+NETOPEN of boot generation `gen`; a
    refusal is logged and the network's servers are used."""
    if drv.dns and drv._dns_gen != gen:
        try:
            await drv.set_dns(drv.dns)
        except AtError as e:
            drv.log("sim7600: AT+CDNSCFG refused (%r); the network's DNS is used" % (e,))


async def set_dns(drv, servers):
    """DNS servers (up to two dotted IPv4 addresses; parameters 0x0010,
    0x0014): AT+CDNSCFG now when the data service is open, else after the
    next AT+NETOPEN.  () goes back to the network's at the next boot."""
    drv.dns = tuple(servers)[:2]
    drv._dns_gen = -1
    if drv.dns and drv.net_is_open():
        gen = drv.gen
        await drv.at.command("AT+CDNSCFG=" + ",".join('"%s"' % a for a in drv.dns), timeout=5)
        drv._dns_gen = gen


async def resolve(drv, name):
    """The first IPv4 address of host `name` (AT+CDNSGIP, after opening the
    data service).  NetworkError(code 11, DNS failed) when it cannot."""
    await drv.net_open()
    try:
        lines = await drv.at.command('AT+CDNSGIP="%s"' % name, timeout=drv.dns_timeout,
                                      final="+CDNSGIP:")
    except AtError as e:
        lines = e.lines
    t = _find(lines, b"+CDNSGIP:") or ""
    f = [x.strip().strip('"') for x in t.split(",")]
    if len(f) >= 3 and f[0] == "1" and f[2]:
        return f[2]
    raise NetworkError("%s not resolved (+CDNSGIP: %s)" % (name, t), ERR_DNS)
