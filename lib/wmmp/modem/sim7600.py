"""SIMCom SIM7600 driver over the AT engine (wmmp.modem.at), with the UDP, TCP and SMS
bearers the engine runner uses (command facts from
SIMCom's SIM7600 series AT command manual).  Portable: MicroPython and CPython asyncio.

    at = AtEngine(uart_stream)
    modem = Sim7600(at, apn="cmiot")
    await modem.power_on(pwrkey=machine.Pin(4, machine.Pin.OUT))
    ident = await modem.identity()          # imei, imsi, iccid, firmware
    await modem.update_radio(term.params)   # TLV 0x3006 (LAC/CI) and 0x3007 (signal)
    bearers = {P.BEARER_PACKET: UdpBearer(modem, 0, "203.0.113.5", 7301),
               P.BEARER_SMS: SmsBearer(modem, ["10658000"])}

Power and readiness: power_on() pulses PWRKEY when given (and only when the
module does not already answer AT), waits for the boot URC RDY, retries AT for
`at_wait` s, then ATE0, AT+CMEE=1 (numeric +CME ERROR), AT+CIPSRIP=1 (RECV
FROM lines, used to route +IPD), and waits while the SIM is busy.  A boot URC
(RDY) at any later moment is a module reboot: links and the data service are
marked gone, every bearer's recv() raises LinkLost, and the next open() runs
the init sequence again (and, if PIN1 was entered this session on the same
card, enters it again when the card has 2 or more attempts left).

SIM interface (wmmp.terminal.simcard): async methods inherited from
SimInterface (wmmp.modem.sim7600_sim, see there) and wmmp.modem.ModemBase
(imsi, iccid, imei, identity, +CSQ, wait_sim: what both drivers share); the
driver is the engine's SIM (Terminal(..., sim=driver)).

Data: attach (AT+CGATT), APN (AT+CGDCONT=1,"IP",<apn>), PDP authentication
(`auth`: AT+CGAUTH=1,<type>,"<password>","<user>": the SIM7500/SIM7600 AT
manual puts the password before the user name, unlike 3GPP 27.007), AT+NETOPEN (checked
with AT+NETOPEN?; after +CIPEVENT: NETWORK CLOSED UNEXPECTEDLY: AT+NETCLOSE and
AT+NETOPEN again, as the AT manuals says), sockets with AT+CIPOPEN / AT+CIPSEND /
AT+CIPCLOSE, receive in push mode (RECV FROM:<ip>:<port> + +IPD<len> + raw
bytes).  +IPD names no link; route() (wmmp.modem.sim7600_bearers) picks one
by the RECV FROM address: a fixed-peer link (WMMP's) with that peer, or a
UdpAnyBearer that sent to it (with both, the any-peer link's wants(data)
decides: And-link claims CoAP and DTLS, WMMP keeps its messages), then a
fixed-peer link with that port, then an any-peer link, then the only open
link; else dropped (counted).
DNS: the servers (`dns`, AT+CDNSCFG="<primary>"[,"<secondary>"]) are set
after each AT+NETOPEN; resolve(name) asks AT+CDNSGIP="<name>" (-> +CDNSGIP:
1,"<name>","<ip>"[,"<ip2>"], or +CDNSGIP: 0,<err>; before or after the OK).
The SMS centre (AT+CSCA, wmmp.modem.ModemBase.set_smsc) is set again at
each SMS set-up.

Bearers: UdpBearer, TcpBearer, SmsBearer live in wmmp.modem.sim7600_bearers and
are importable from here.
"""

import asyncio
from micropython import const

from wmmp.modem.at import AtException, AtError, AtReboot, CmeError, CmsError
from wmmp.errors import BadValue
from wmmp.modem import NotResponding, NetworkError, LinkLost, now as _now, since as _since
from wmmp.modem import after as _after, find as _find, ints as _ints, hex_int as _hex, ignore as _ignore
from wmmp.modem.sim7600_sim import SimInterface
from wmmp.modem.sim7600_speed import LineSpeed
from wmmp.modem import sim7600_dns as DNS
# the bearers are re-exported: wmmp.modem.sim7600.UdpBearer etc.
from wmmp.modem.sim7600_bearers import LINKS, SEND_MAX, UdpBearer, UdpAnyBearer, TcpBearer, SmsBearer  # noqa: F401
from wmmp.modem.sim7600_bearers import route

CMS_SIM_BUSY = const(314)         # 27.005 3.2.5: SMS not ready yet after boot

# <err> of +CIPOPEN / +NETOPEN (the AT manuals)
ERR_NOT_OPENED = const(2)
ERR_NOT_SUPPORTED = const(4)      # also "link already in use"
ERR_OPENED = const(9)
ERR_DNS = DNS.ERR_DNS

NET_CLOSED = b"NETWORK CLOSED"


def signal_percent(rssi):
    """+CSQ <rssi> -> 0..100 for TLV 0x3007, None when unknown.
    0..31 (27.007 8.5: -113 dBm .. -51 dBm and above) -> round(rssi * 100 / 31);
    99 unknown -> None; 100..191 (TD-SCDMA range, -116 .. -25 dBm, SIMCom
    extension, unconfirmed) -> round((rssi - 100) * 100 / 91); 199 -> None."""
    if rssi is None or rssi < 0:
        return None
    if rssi <= 31:
        return (rssi * 100 + 15) // 31          # exact round(): no x.5 ties for 0..31
    if 100 <= rssi <= 191:
        return ((rssi - 100) * 100 + 45) // 91
    return None


def parse_reg(line, prefix):
    """'+CREG: 2,1,"1816","AC99201",7' (read form, MODEMS registration; quoted or
    unquoted hex, optional AcT) -> (stat, lac, ci); lac/ci None when absent."""
    f = _after(line, prefix).split(",")
    try:
        stat = int(f[1].strip())
    except (ValueError, IndexError):
        raise BadValue("registration reply without a stat")
    lac = ci = None
    if len(f) >= 4:
        try:
            lac = _hex(f[2])
            ci = _hex(f[3])
        except ValueError:
            lac = ci = None
    return stat, lac, ci


def _cipopen_err(lines, link):
    """<err> of '+CIPOPEN: <link>,<err>' among `lines`, or None."""
    t = _find(lines, b"+CIPOPEN:")
    if t is None:
        return None
    v = _ints(t)
    if len(v) >= 2 and v[0] == link:
        return v[1]
    return None


class Sim7600(SimInterface):
    """The SIM7600 on the AT engine `at` (see the module docstring).

    apn              APN for AT+CGDCONT (None: the module's default context)
    spic_order       field order of +SPIC (MODEMS: unconfirmed); counters above
                     3 can only be PUK counters, which settles most replies
    at_wait          s to retry AT after power-on or a reboot (MODEMS: ~10 s)
    boot_wait        s to wait for RDY after a PWRKEY pulse (MODEMS: ~20 s)
    attach_wait      s to wait for +CGATT: 1 in net_open()
    netopen_timeout  s for +NETOPEN (MODEMS: up to 75 s)
    connect_timeout  s for a TCP +CIPOPEN (MODEMS: 15-75 s)
    sms_timeout      s for +CMGS (MODEMS: 60 s)
    auth             (user, password) for AT+CGAUTH, None: the module's setting
    auth_type        AT+CGAUTH <auth_type>: 1 PAP (default), 2 CHAP
    dns              DNS servers for AT+CDNSCFG (dotted IPv4), (): the network's
    dns_timeout      s for +CDNSGIP
    fast_baud        raise the UART from 115200 to this rate (AT+IPR) after each boot's
                     init, when the stream has set_baud(rate); None (default): stay at
                     115200.  Falls back to 115200 on any doubt (wmmp.modem.sim7600_speed)
    log              callable(text); default: the engine's log
    """

    def __init__(self, at, apn=None, spic_order="pin1,puk1,pin2,puk2", at_wait=10, boot_wait=20,
                 attach_wait=30, netopen_timeout=75, connect_timeout=75, send_timeout=10,
                 sms_timeout=60, auth=None, auth_type=1, dns=(), dns_timeout=30, log=None,
                 fast_baud=None):
        if spic_order not in ("pin1,puk1,pin2,puk2", "pin1,pin2,puk1,puk2"):
            raise BadValue("spic_order must be pin1,puk1,pin2,puk2 or pin1,pin2,puk1,puk2")
        self.at = at
        self.apn = apn
        self.spic_order = spic_order
        self.at_wait = at_wait
        self.boot_wait = boot_wait
        self.attach_wait = attach_wait
        self.netopen_timeout = netopen_timeout
        self.connect_timeout = connect_timeout
        self.send_timeout = send_timeout
        self.sms_timeout = sms_timeout
        self.auth = auth
        self.auth_type = auth_type
        self.dns = tuple(dns)
        self.dns_timeout = dns_timeout
        self.log = log if log is not None else at.log
        self.speed = LineSpeed(self, fast_baud)
        self.gen = 0                 # boot generation: +1 for every boot URC seen
        self._ready_gen = -1         # generation the init sequence ran in
        self._net_gen = -1           # generation the data service was opened in
        self._net_broken = False     # +CIPEVENT: NETWORK CLOSED UNEXPECTEDLY seen
        self._apn_gen = -1
        self._dns_gen = -1           # generation the DNS servers were set in
        self._lock = asyncio.Lock()  # init and data-service sequences
        self._booted = asyncio.Event()
        self._links = [None] * LINKS
        self._from = None            # (host, port) of the last RECV FROM
        self._sms = None             # the SmsBearer, if any
        self._pin = None             # PIN1 accepted this power cycle (RAM only)
        self._pin_iccid = None       # ... by the card with this ICCID
        self.sim_urc = None          # text of the last +CPIN: URC
        self.sms_ready = False       # SMS DONE seen since the last boot
        self.ident = {}              # identity() cache
        # counters
        self.reboots = 0
        self.net_lost = 0
        self.unrouted = 0            # +IPD payloads no link took
        self.refused = 0             # +IPD payloads the parser refused (too long)
        at.on_reboot(self._on_reboot)
        at.on("+CPIN:", self._on_cpin)
        at.on("SMS DONE", self._on_sms_done)
        at.on("PB DONE", _ignore)
        at.on("RECV FROM:", self._on_recv_from)
        at.on("+IPD", self._on_ipd)
        at.on("+IPCLOSE:", self._on_ipclose)
        at.on("+CIPEVENT:", self._on_cipevent)
        at.on("+CMTI:", self._on_cmti)
        at.on("+CMT:", self._on_cmt)
        for p in ("+CREG:", "+CGREG:", "+CEREG:"):
            at.on(p, _ignore)

    def __repr__(self):
        return "<Sim7600 gen=%d net=%s>" % (self.gen, self.net_is_open())

    # == URC handlers (run in the engine's reader: they never await) ==========

    def _on_reboot(self, line):
        self.gen += 1
        self.reboots += 1
        self._booted.set()
        self._net_broken = False
        self.sms_ready = False
        self.sim_urc = None
        self._from = None
        for i in range(LINKS):
            b = self._links[i]
            self._links[i] = None
            if b is not None:
                b._lost("module rebooted")
        if self._sms is not None:
            self._sms._lost("module rebooted")

    def _on_cpin(self, line, extra):
        self.sim_urc = _after(line, b"+CPIN:")

    def _on_sms_done(self, line, extra):
        self.sms_ready = True

    def _on_recv_from(self, line, extra):
        t = _after(line, b"RECV FROM:")
        k = t.rfind(":")
        try:
            self._from = (t[:k], int(t[k + 1:]))
        except ValueError:
            self._from = None

    def _on_ipd(self, line, extra):
        src = self._from
        self._from = None
        if extra is None:
            self.refused += 1
            self.log("sim7600: %s refused (longer than the parser's max_payload)" % line.decode())
            return
        b = route(self._links, src, extra)
        if b is None:
            self.unrouted += 1
            self.log("sim7600: %d bytes from %s with no open link" % (len(extra), src))
        elif b.any_peer:
            b._data_from(extra, src)
        else:
            b._data(extra)

    def _on_ipclose(self, line, extra):
        v = _ints(_after(line, b"+IPCLOSE:"))
        if v and v[0] is not None and 0 <= v[0] < LINKS:
            b = self._links[v[0]]
            self._links[v[0]] = None
            if b is not None:
                why = {0: "closed", 1: "closed by the peer", 2: "timed out"}.get(
                    v[1] if len(v) > 1 else None, "closed")
                b._lost("link %d %s" % (v[0], why))

    def _on_cipevent(self, line, extra):
        if NET_CLOSED in line:
            self._net_broken = True
            self.net_lost += 1
            for i in range(LINKS):
                b = self._links[i]
                self._links[i] = None
                if b is not None:
                    b._lost("network closed unexpectedly")

    def _on_cmt(self, line, extra):
        if self._sms is not None and extra is not None:
            v = _ints(_after(line, b"+CMT:"))
            self._sms._direct(extra, v[-1] if v else None)

    # == power and readiness ==================================================

    async def power_on(self, pwrkey=None, level=1, pulse=0.5):
        """Bring the module up and run the init sequence.  pwrkey: a pin object
        with value(); it is driven to `level` for `pulse` s (the PWRKEY press,
        usually through a transistor) unless the module already answers AT.
        Raises NotResponding when AT stays unanswered."""
        await self.speed.recheck()
        await self._press(pwrkey, level, pulse, "RDY")
        await self.ensure_ready()
        await self.wait_sim()

    async def _init(self):
        at = self.at
        for attempt in range(3):
            t0 = _now()
            while True:
                try:
                    await at.command("AT", timeout=1)
                    break
                except AtException:
                    if _since(t0) >= self.at_wait:
                        raise NotResponding("SIM7600: no answer to AT in %s s" % self.at_wait)
                    self.speed.other()      # at 115200 after a boot, fast_baud if still set
                    await asyncio.sleep(0.2)
            gen = self.gen
            try:
                await at.command("ATE0")
                await at.command("AT+CMEE=1")
                try:
                    await at.command("AT+CIPSRIP=1")
                except AtError:
                    self.log("sim7600: AT+CIPSRIP=1 refused; +IPD goes to the only open link")
            except AtReboot:
                continue                    # it rebooted under us: once more
            await self.speed.raise_rate()
            self._ready_gen = gen
            await self._resume_pin()
            return
        raise NotResponding("SIM7600 keeps rebooting")

    async def reset(self):
        """AT+CRESET (MODEMS reset): the module restarts; wait for it."""
        self._booted.clear()
        await self.at.command("AT+CRESET", timeout=10, reboot=True)
        self.speed.after_reset()        # it restarts at 115200
        try:
            await asyncio.wait_for(self._booted.wait(), 25)
        except asyncio.TimeoutError:
            pass
        await self.ensure_ready()

    # == identity and radio (imei, identity, rssi: wmmp.modem.ModemBase) ========

    async def firmware(self):
        """AT+CGMR -> the revision text ('+CGMR: LE11B08SIM7600CE-A')."""
        lines = await self.at.command("AT+CGMR")
        v = _find(lines, b"+CGMR:")
        if v is None:
            for ln in lines:
                if isinstance(ln, (bytes, bytearray)):
                    return bytes(ln).decode()
        return v

    async def signal(self):
        """Signal 0..100 for TLV 0x3007 (signal_percent of +CSQ), None if unknown."""
        return signal_percent((await self.rssi())[0])

    async def cell(self):
        """(lac, ci) of the serving cell for TLV 0x3006, None when not registered.
        AT+CREG=2 then AT+CREG?; when that gives no location (LTE only), the same
        with +CEREG (TAC in place of LAC) and +CGREG."""
        for name in ("CREG", "CEREG", "CGREG"):
            try:
                await self.at.command("AT+%s=2" % name)
                lines = await self.at.command("AT+%s?" % name)
            except AtError:
                continue
            prefix = ("+%s:" % name).encode()
            for ln in lines:
                if isinstance(ln, (bytes, bytearray)) and ln.startswith(prefix):
                    stat, lac, ci = parse_reg(ln, prefix)
                    if stat in (1, 5) and lac is not None:
                        return lac, ci
        return None

    async def registered(self):
        """True when +CREG? or +CEREG? says home (1) or roaming (5)."""
        for name in ("CREG", "CEREG"):
            try:
                t = _find(await self.at.command("AT+%s?" % name), ("+%s:" % name).encode())
            except AtError:
                continue
            v = _ints(t or "")
            if len(v) >= 2 and v[1] in (1, 5):
                return True
        return False

    # == data service and links ===============================================

    def net_is_open(self):
        return self._net_gen == self.gen and not self._net_broken

    async def net_open(self):
        """Attach, set the APN and open the data service (idempotent).  Raises
        NetworkError (code: the +NETOPEN <err>) or AT engine errors."""
        await self.ensure_ready()
        if self.net_is_open():
            return
        async with self._lock:
            if not self.net_is_open():
                await self._net_open()

    async def _net_open(self):
        at = self.at
        gen = self.gen
        if self._apn_gen != gen:
            if self.apn:
                await at.command('AT+CGDCONT=1,"IP","%s"' % self.apn)
            if self.auth is not None:
                await self._cgauth()
            self._apn_gen = gen
        await self._attach()
        v = _ints(_find(await at.command("AT+NETOPEN?"), b"+NETOPEN:") or "")
        if v and v[0] == 1:
            if not self._net_broken:
                self._net_gen = gen          # already open (a restart of ours): use it
                await self._dns_again(gen)
                return
            try:                             # MODEMS: after CIPEVENT, NETCLOSE and reopen
                await at.command("AT+NETCLOSE", timeout=20, final="+NETCLOSE:")
            except AtError:
                pass
        self._net_broken = False
        refused = False
        try:
            lines = await at.command("AT+NETOPEN", timeout=self.netopen_timeout, final="+NETOPEN:")
        except AtError as e:
            if any(b"already opened" in ln for ln in e.lines if isinstance(ln, (bytes, bytearray))):
                self._net_gen = gen
                return
            refused = True
        if refused:
            raise NetworkError("AT+NETOPEN refused")
        v = _ints(_find(lines, b"+NETOPEN:") or "")
        err = v[0] if v else None
        if err != 0:
            raise NetworkError("+NETOPEN: %s" % (err,), err)
        if self.gen == gen:
            self._net_gen = gen
            await self._dns_again(gen)

    async def _cgauth(self):
        """AT+CGAUTH for `auth` (an empty user and password: 0, none).  The
        command carries the password: a failure never repeats it."""
        user, pwd = self.auth
        cmd = 'AT+CGAUTH=1,%d,"%s","%s"' % (self.auth_type, pwd, user) if user or pwd else "AT+CGAUTH=1,0"
        try:
            await self.at.command(cmd, timeout=5)
        except AtException as e:
            raise NetworkError("AT+CGAUTH refused (%s)" % type(e).__name__, ERR_NOT_SUPPORTED)

    # DNS (wmmp.modem.sim7600_dns): AT+CDNSCFG after each AT+NETOPEN, AT+CDNSGIP
    _dns_again = DNS.dns_again
    set_dns = DNS.set_dns
    resolve = DNS.resolve

    async def _attach(self):
        """Wait for +CGATT: 1 (asking AT+CGATT=1 once) for attach_wait s."""
        at = self.at
        t0 = _now()
        asked = False
        while True:
            v = _ints(_find(await at.command("AT+CGATT?"), b"+CGATT:") or "")
            if v and v[0] == 1:
                return
            if not asked:
                asked = True
                try:
                    await at.command("AT+CGATT=1", timeout=30)
                    continue
                except (CmeError, AtError):
                    pass
            if _since(t0) >= self.attach_wait:
                raise NetworkError("not attached to the packet network", 1)
            await asyncio.sleep(1)

    async def net_close(self):
        """AT+NETCLOSE (every link closes)."""
        for i in range(LINKS):
            b = self._links[i]
            self._links[i] = None
            if b is not None:
                b._lost("data service closed")
        try:
            await self.at.command("AT+NETCLOSE", timeout=20, final="+NETCLOSE:")
        except AtError:
            pass
        self._net_gen = -1

    async def ip_address(self):
        """AT+IPADDR -> 'a.b.c.d'."""
        return _find(await self.at.command("AT+IPADDR"), b"+IPADDR:")

    async def open_link(self, bearer):
        """AT+CIPOPEN for `bearer` (UDP: local port; TCP: the peer); -> the boot
        generation it was opened in.  A link left in use (by an earlier run)
        is closed and opened again; <err> 2 (network not opened) reopens the
        data service once.  NetworkError(code=<err>) otherwise."""
        await self.net_open()
        at = self.at
        link = bearer.link
        if bearer.proto == "UDP":
            cmd = 'AT+CIPOPEN=%d,"UDP",,,%d' % (link, bearer.local_port)
            timeout = 15
        else:
            cmd = 'AT+CIPOPEN=%d,"TCP","%s",%d' % (link, bearer.host, bearer.port)
            timeout = self.connect_timeout
        for attempt in range(2):
            gen = self.gen
            old = self._links[link]
            if old is not None and old is not bearer:
                raise NetworkError("link %d is used by another bearer" % link, ERR_NOT_SUPPORTED)
            self._links[link] = bearer       # data may follow +CIPOPEN at once
            try:
                lines = await at.command(cmd, timeout=timeout, final="+CIPOPEN:")
                err = _cipopen_err(lines, link)
            except AtError as e:
                err = _cipopen_err(e.lines, link)
                if err is None:
                    err = -1
            except AtException:
                self._links[link] = None
                raise
            if self.gen != gen:
                self._links[link] = None
                raise LinkLost("module rebooted while link %d opened" % link)
            if err == 0:
                return gen
            self._links[link] = None
            if attempt == 0 and err in (ERR_NOT_SUPPORTED, ERR_OPENED):
                try:
                    await at.command("AT+CIPCLOSE=%d" % link, timeout=10, final="+CIPCLOSE:")
                except AtError:
                    pass
                continue
            if attempt == 0 and err == ERR_NOT_OPENED:
                self._net_broken = True
                await self.net_open()
                continue
            break
        raise NetworkError("+CIPOPEN: %d,%s" % (link, err), err)

    async def close_link(self, bearer):
        """AT+CIPCLOSE=<link> (errors ignored: the link may be gone already)."""
        if self._links[bearer.link] is bearer:
            self._links[bearer.link] = None
        try:
            await self.at.command("AT+CIPCLOSE=%d" % bearer.link, timeout=10, final="+CIPCLOSE:")
        except AtError:
            pass

    async def send_link(self, bearer, data, dest=None):
        """AT+CIPSEND=<link>,<len>[,"<ip>",<port>], '>' prompt, raw bytes, in
        chunks of at most 1500 bytes.  LinkLost when the module refuses
        (+CIPERROR), reports nothing sent (-1) or reboots meanwhile."""
        mv = memoryview(data)
        off = 0
        while off < len(data):
            n = min(SEND_MAX, len(data) - off)
            if dest is not None:
                cmd = 'AT+CIPSEND=%d,%d,"%s",%d' % (bearer.link, n, dest[0], dest[1])
            else:
                cmd = "AT+CIPSEND=%d,%d" % (bearer.link, n)
            why = None
            try:
                lines = await self.at.command_with_prompt(cmd, mv[off:off + n], timeout=self.send_timeout,
                                                          final="+CIPSEND:")
            except AtReboot:
                why = "module rebooted during the send"
            except AtError as e:
                why = "send refused (%s)" % (e.line.decode() if e.line else "ERROR")
            if why is not None:
                bearer._lost(why)
                raise LinkLost(why)
            v = _ints(_find(lines, b"+CIPSEND:") or "")
            sent = v[2] if len(v) >= 3 and v[2] is not None else n
            if sent < 0:
                bearer._lost("the module could not send")
                raise LinkLost("the module could not send on link %d" % bearer.link)
            if sent == 0 or (dest is not None and sent != n):    # a datagram goes whole or not at all
                bearer._lost("the module sent %d of %d bytes" % (sent, n))
                raise LinkLost("link %d sent %d of %d bytes" % (bearer.link, sent, n))
            off += min(sent, n)

    async def http_get(self, url, start, end, etag=None):
        from wmmp.modem.sim7600_http import http_get      # PROTOCOL.md 12: one ranged GET, AT+HTTP*
        return await http_get(self, url, start, end, etag)

    # == SMS ==================================================================

    async def sms_setup(self, timeout=15):
        """AT+CMGF=0 (PDU) and AT+CNMI=2,1,0,0,0 (+CMTI for each stored SMS);
        waits while the SMS service is not ready (+CMS ERROR: 314)."""
        t0 = _now()
        while True:
            try:
                await self.at.command("AT+CMGF=0")
                await self.at.command("AT+CNMI=2,1,0,0,0")
                await self.at.command('AT+CPMS="SM","SM","SM"')
                await self._smsc_again()
                return
            except CmsError as e:
                if e.code != CMS_SIM_BUSY or _since(t0) >= timeout:
                    raise
            await asyncio.sleep(0.5)
