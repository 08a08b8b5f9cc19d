"""CoAP datagrams over the SIMCom SIM7600's UDP link, through the SIM7600
driver (wmmp.modem.sim7600: open_link, send_link, close_link, resolve; its
URC handlers feed the link's bearer, wmmp.modem.sim7600_bearers.UdpAnyBearer,
as they feed WMMP's).  The datagram link of andlink.board.runner on a SIM7600
board.  Portable.

    link = Sim7600Link(drv, local_port=5683, link=2, names=(), fallback=None)
    await link.open()                     AT+NETOPEN (when closed), AT+CIPOPEN=2,"UDP",,,5683,
                                          AT+CDNSGIP for each name of `names`
    await link.send(data, (host, port))   AT+CIPSEND=2,<len>,"<ip>",<port>
    data, (host, port) = await link.recv()   RECV FROM:<ip>:<port> + +IPD<len> (source kept)
    await link.sleep() -> False           nothing (below)
    await link.radio() -> {"rssi_dbm", "cell", "ip"}   AT+CSQ, AT+CREG/CEREG, AT+IPADDR

One link talks to every peer (the LwM2M server, the Bootstrap-Server, a
package's file server): AT+CIPSEND names each datagram's destination and the
RECV FROM line before each +IPD its source, which the client needs (it
answers only its server).  Link number LINK (2): WMMP's bearers take 0 (UDP)
and 1 (TCP), wmmp.board.cellular.  +IPD names no link: the driver routes a
datagram from a peer this link sent to here, one from WMMP's platform to
WMMP's bearer, and one from anywhere else here too (wmmp.modem.sim7600
_route).  Were both protocols' peers the same address and port, the content
decides (coap_or_dtls: a CoAP message, first byte 0x40-0x7F, or a DTLS
record, content type 20-25, is And-link's; a WMMP message starts with its
total_length, below 0x06 in a datagram of at most 1500 bytes).  Without RECV
FROM lines (AT+CIPSRIP=1 refused) a datagram has no source: the client drops
it, and with two links open the driver drops it.

Host names (the SIM7600 resolves with AT+CDNSGIP; And-link spec 4.1.2: the
domain name first, the IP address when it does not resolve): the client's
peers keep the names (the service's resolve() hands them on as they are), and
the link resolves them, since its calls may wait and the client's
resolve(host, port) callback may not (it runs inside the sans-I/O client).
The names of the settings (`names`) are resolved at each link opening (the
module has a new data session: maybe another DNS view); any other name (a
bootstrap-written server URI, a package URI) at its first send after an
opening.  A datagram from the address a name resolved to is handed up as
coming from (name, port), so the client sees the peer it talks to.  A name
that does not resolve falls back to the last address it resolved to, else to
fallback[name] (the board's ANDLINK_FALLBACK, the spec's IP address), else
the datagram is dropped (counted in `unresolved`, logged; CoAP retransmits,
then gives up); it is asked again after `dns_retry` s, not at every datagram.

Loss: +CIPEVENT: NETWORK CLOSED UNEXPECTEDLY, +IPCLOSE, a refused send or a
module reboot fails the bearer: recv() raises LinkLost and the runner opens
the link again (AT+NETCLOSE / AT+NETOPEN as the driver needs, AT+CIPOPEN),
then the client Registers again.  Bad input from the module (a garbled RECV
FROM, an +IPD the parser refused) is logged and counted by the driver; the
link stays.

Sleep: the SIM7600 is LTE Cat-1/4, not NB-IoT: no PSM is asked for nor
followed here (AT+CPSMS, AT+CSCLK are not used), so queue mode's sleep does
nothing (False: the link stays up) and the settings sleep / psm_timers do
not apply; the module stays attached and reachable.
"""

from wmmp.errors import WmmpError
from wmmp.modem import now as _now, since as _since
from wmmp.modem.sim7600_bearers import UdpAnyBearer
from andlink.board.settings import is_ipv4

LINK = 2                    # the module's link number (WMMP: 0 UDP, 1 TCP)
DNS_RETRY = 30              # s before a name that did not resolve is asked again
MAX_NAMES = 16              # (address, port) -> (name, port) entries kept


def coap_or_dtls(data):
    """True when `data` starts as a CoAP message (version 1) or a DTLS record."""
    if not data:
        return False
    b = data[0]
    return 0x40 <= b < 0x80 or 20 <= b <= 25


class Sim7600Link:
    def __init__(self, drv, local_port=5683, link=LINK, names=(), fallback=None, max_queue=8,
                 dns_retry=DNS_RETRY):
        self.d = drv
        self.b = UdpAnyBearer(drv, link, local_port, max_queue)
        self.b.wants = coap_or_dtls
        self.names = [n for n in names if n and not is_ipv4(n)]
        self.fallback = dict(fallback or {})
        self.dns_retry = dns_retry
        self._addr = {}             # name -> address, resolved since this opening
        self._last = {}             # name -> the last address it resolved to
        self._failed = {}           # name -> when it last did not resolve
        self._back = {}             # (address, port) -> (name, port)
        self.opens = 0
        self.sent = 0
        self.received = 0
        self.resolved = 0
        self.unresolved = 0         # datagrams dropped: no address for their name

    def __repr__(self):
        return "<Sim7600Link link %d %s>" % (self.b.link, "open" if self.is_open else "closed")

    @property
    def is_open(self):
        return self.b.is_open

    @property
    def link(self):
        return self.b.link

    # == the runner's side ==================================================
    async def open(self):
        if self.b.is_open:
            return
        await self.b.open()
        self.opens += 1
        self._addr = {}
        self._failed = {}
        for n in self.names:
            await self._lookup(n)

    async def send(self, data, peer):
        host, port = peer
        ip = await self._address(host)
        if ip is None:
            self.unresolved += 1
            return
        if ip != host:
            key = (ip, port)
            if key not in self._back and len(self._back) >= MAX_NAMES:
                self._back = {}
            self._back[key] = (host, port)
        await self.b.send(data, (ip, port))
        self.sent += len(data)

    async def recv(self):
        data, src = await self.b.recv()         # LinkLost when the link is or goes down
        self.received += len(data)
        if src is not None:
            src = self._back.get(src, src)
        return data, src

    async def close(self):
        try:
            await self.b.close()
        except WmmpError as e:                  # the module is gone: the link with it
            self.d.log("andlink: link %d not closed (%r)" % (self.b.link, e))

    async def sleep(self):
        """Queue mode's sleep: nothing on the SIM7600 (module docstring)."""
        return False

    async def radio(self):
        """{"rssi_dbm": +CSQ in dBm (27.007 8.5), "cell": the cell id of
        AT+CREG / AT+CEREG / AT+CGREG, "ip": AT+IPADDR}; None where the module
        does not say."""
        d = self.d
        out = {"rssi_dbm": None, "cell": None, "ip": None}
        try:
            rssi = (await d.rssi())[0]
            if 0 <= rssi <= 31:
                out["rssi_dbm"] = -113 + 2 * rssi
        except WmmpError:
            pass
        try:
            c = await d.cell()
            if c:
                out["cell"] = c[1]
        except WmmpError:
            pass
        try:
            ip = await d.ip_address()
            out["ip"] = ip if ip and is_ipv4(ip) else None
        except WmmpError:
            pass
        return out

    # == names ==============================================================
    async def _address(self, host):
        if is_ipv4(host):
            return host
        ip = self._addr.get(host)
        if ip is not None:
            return ip
        t = self._failed.get(host)
        if t is not None and _since(t) < self.dns_retry:
            return self._last.get(host) or self.fallback.get(host)
        return await self._lookup(host)

    async def _lookup(self, name):
        """AT+CDNSGIP for `name` -> its address; when it does not resolve the
        last address it had, else its fallback, else None (logged)."""
        why = None
        try:
            ip = await self.d.resolve(name)
            if not is_ipv4(ip):
                why = "not an IPv4 address: %r" % (ip,)
        except WmmpError as e:
            why = repr(e)
        if why is None:
            self._addr[name] = self._last[name] = ip
            self._failed.pop(name, None)
            self.resolved += 1
            return ip
        self._failed[name] = _now()
        ip = self._last.get(name) or self.fallback.get(name)
        self.d.log("andlink: %s not resolved (%s): %s" % (name, why, ip or "no address"))
        return ip
