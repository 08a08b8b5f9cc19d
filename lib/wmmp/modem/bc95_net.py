"""The BC95 driver's network services, the commands its bearers
(wmmp.modem.bc95_bearers) use: NetInterface, a base class of the driver
(wmmp.modem.bc95.Bc95), which provides at, log, apn, gen, _lock, _socks,
the attach and SMS state and the timeouts (see Bc95).  This module never
imports the driver.

Attach: AT+CFUN? / AT+CFUN=1 (10 s), optional AT+CGDCONT=1,"IP",<apn> (when
the firmware refuses it, apn_refused is set and the network's APN is used), then
AT+CGATT? polled (asking AT+CGATT=1 once) for `attach_wait` s (MODEMS: 60 s).
Registration lost (+CEREG:<stat> URC, stat not 1/5: outage, no signal) makes
the socket bearers' recv() raise LinkLost; open() attaches again, closes the
old socket (AT+NSOCL) and opens a new one.

Sockets: AT+NSOCR=DGRAM,17,<lport>,1 (UDP) or =STREAM,6,<lport>,1 plus
AT+NSOCO=<s>,<ip>,<port> (TCP, BC95-G: TcpUnavailable when the firmware has
no STREAM); send AT+NSOST=<s>,<ip>,<port>,<len>,<HEX> / AT+NSOSD=<s>,<len>,<HEX>
(-> `<s>,<len>`); receive: URC +NSONMI:<s>,<len> -> AT+NSORF=<s>,<max> ->
`<s>,<ip>,<port>,<len>,<HEX>,<remaining>` (parse_nsorf; the bearer reads
again while remaining > 0).

SMS (MODEMS: most NB-IoT operators offer none): probed once (AT+CSMS? must
answer with MT and MO support, then AT+CMGF=0); when the module or the
network offers none, SmsBearer.open() and send() raise SmsUnavailable.
Receive set-up: AT+CNMI=2,2,0,0,0 (direct delivery), falling back to
AT+CNMI=2,1,0,0,0 (storage) when refused; then the SMS centre set before
(AT+CSCA, wmmp.modem.ModemBase.set_smsc).
"""

import asyncio
import binascii
from micropython import const

from wmmp.modem.at import AtException, AtError, AtReboot, CmeError, CmsError
from wmmp.errors import BadValue
from wmmp.modem import ModemError, NetworkError, LinkLost, now as _now, since as _since
from wmmp.modem import (find as _find, ints as _ints, digits_line as _digits_line, sim_error as _sim_error,
                        CME_NO_SIM, CME_SIM_PIN, CME_SIM_PUK, CME_SIM_FAILURE, CME_SIM_BUSY)
from wmmp.modem.bc95_sim import SimInterface, CME_NOT_ALLOWED, CME_NOT_SUPPORTED, CME_NO_NETWORK

SOCKETS = const(7)           # socket ids 0-6
CMS_NOT_SUPPORTED = const(303)    # 27.005 3.2.5
CMS_SIM_BUSY = const(314)


class SmsUnavailable(ModemError):
    """The module or the network offers no SMS: the SMS bearer cannot be used."""


class TcpUnavailable(NetworkError):
    """The firmware has no TCP (AT+NSOCR=STREAM refused: only DGRAM, older BC95)."""


def parse_nsorf(lines, sid):
    """An AT+NSORF reply -> (ip, port, data, remaining), None when nothing was
    read.  '<s>,<ip>,<port>,<len>,<HEX>,<remaining>' (remaining absent: 0);
    BadValue when the line is malformed (hex length disagrees with <len>)."""
    for ln in lines:
        if not isinstance(ln, (bytes, bytearray)):
            continue
        f = bytes(ln).split(b",")
        if len(f) < 5:
            continue
        try:
            if int(f[0]) != sid:
                continue
            n = int(f[3])
            port = int(f[2])
            left = int(f[5]) if len(f) > 5 and f[5].strip() else 0
        except ValueError:
            continue
        h = f[4].strip().strip(b'"')
        if len(h) != 2 * n:
            raise BadValue("AT+NSORF reply: %d hex digits for %d bytes" % (len(h), n))
        try:
            data = binascii.unhexlify(h)
        except ValueError:
            raise BadValue("AT+NSORF reply: bad hex")
        return f[1].strip().strip(b'"').decode(), port, data, left
    return None


class NetInterface(SimInterface):
    """The attach, socket and SMS commands of Bc95 (see the module docstring)."""

    # == attach and sockets ===================================================

    def attached(self):
        return self._att_gen == self.gen and self.reg_stat in (1, 5)

    async def attach(self):
        """Radio on and attached to the packet network (idempotent).  Raises
        NetworkError (code: the +CME ERROR, or 1 when the attach timed out)."""
        await self.ensure_ready()
        if self.attached():
            return
        async with self._lock:
            if not self.attached():
                await self._attach()

    async def _attach(self):
        at = self.at
        gen = self.gen
        v = _ints(_find(await at.command("AT+CFUN?", timeout=5), b"+CFUN:") or "")
        if not v or v[0] != 1:
            try:
                await at.command("AT+CFUN=1", timeout=10)
            except CmeError as e:
                raise NetworkError("AT+CFUN=1 refused (+CME ERROR:%s)" % e.code, self._cme(e))
        if self.apn and self._apn_gen != gen:
            try:
                await at.command('AT+CGDCONT=1,"IP","%s"' % self.apn)
                self._apn_gen = gen
                self.apn_refused = False
            except (AtError, CmeError) as e:
                self.apn_refused = True
                self.log("bc95: AT+CGDCONT refused (%s); the network's APN is used" % e)
        t0 = _now()
        asked = False
        while True:
            v = _ints(_find(await at.command("AT+CGATT?", timeout=5), b"+CGATT:") or "")
            if v and v[0] == 1:
                break
            if not asked:
                asked = True
                try:
                    await at.command("AT+CGATT=1", timeout=10)
                    continue
                except CmeError as e:
                    c = self._cme(e)
                    if c in (CME_NO_SIM, CME_SIM_PIN, CME_SIM_PUK, CME_SIM_FAILURE):
                        raise NetworkError("attach refused: %s" % _sim_error(c), c)
                except AtError:
                    pass
            if _since(t0) >= self.attach_wait:
                raise NetworkError("not attached to the packet network in %s s" % self.attach_wait, 1)
            await asyncio.sleep(self.attach_poll)
        t = _find(await at.command("AT+CEREG?", timeout=5), b"+CEREG:")
        v = _ints(t or "")
        if len(v) >= 2 and v[1] is not None:
            self.reg_stat = v[1]
        if self.reg_stat not in (1, 5):
            self.reg_stat = 1            # +CGATT:1 is the EPS attach (NB-IoT)
        if self.gen == gen:
            self._att_gen = gen

    async def ip_address(self):
        """AT+CGPADDR -> 'a.b.c.d' (None while not attached)."""
        t = _find(await self.at.command("AT+CGPADDR"), b"+CGPADDR:")
        if t is None:
            return None
        f = t.split(",")
        return f[1].strip().strip('"') if len(f) > 1 else None

    async def _close_stale(self):
        """AT+NSOCL for every socket id no bearer of ours owns (left by an earlier
        run of the firmware)."""
        for i in range(SOCKETS):
            if i not in self._socks:
                try:
                    await self.at.command("AT+NSOCL=%d" % i, timeout=5)
                except (AtError, CmeError):
                    pass

    async def open_socket(self, bearer):
        """AT+NSOCR (+ AT+NSOCO for TCP) for `bearer`; -> (socket id, generation).
        A listen port held by a stale socket is freed once (AT+NSOCL)."""
        await self.attach()
        at = self.at
        gen = self.gen
        if bearer.proto == "UDP":
            cmd = "AT+NSOCR=DGRAM,17,%d,1" % bearer.local_port
        else:
            cmd = "AT+NSOCR=STREAM,6,%d,1" % bearer.local_port
        sid = None
        for attempt in range(2):
            code = None
            try:
                lines = await at.command(cmd, timeout=10)
            except CmeError as e:
                code = self._cme(e)
            except AtError:
                code = -1
            if code is None:
                sid = _digits_line(lines)
                if sid is None:
                    raise NetworkError("no socket number in the AT+NSOCR reply")
                sid = int(sid)
                break
            if bearer.proto == "TCP" and code in (CME_NOT_SUPPORTED, -1):
                raise TcpUnavailable("TCP not supported by this firmware (AT+NSOCR=STREAM refused)",
                                     CME_NOT_SUPPORTED)
            if attempt == 0 and code in (CME_NOT_ALLOWED, -1):
                await self._close_stale()
                continue
            raise NetworkError("AT+NSOCR refused (+CME ERROR:%s)" % code, code)
        if self.gen != gen:
            raise LinkLost("module rebooted while the socket opened")
        self._socks[sid] = bearer
        if bearer.proto == "TCP":
            code = None
            try:
                await at.command("AT+NSOCO=%d,%s,%d" % (sid, bearer.host, bearer.port),
                                 timeout=self.connect_timeout)
            except CmeError as e:
                code = self._cme(e)
            except AtError:
                code = -1
            except AtException:
                self._socks.pop(sid, None)
                raise
            if code is not None:
                await self.close_socket(sid)
                raise NetworkError("TCP connect to %s:%d failed (+CME ERROR:%s)"
                                   % (bearer.host, bearer.port, code), code)
        return sid, gen

    async def close_socket(self, sid):
        """AT+NSOCL=<s> (errors ignored: the socket may be gone already)."""
        self._socks.pop(sid, None)
        try:
            await self.at.command("AT+NSOCL=%d" % sid, timeout=5)
        except (AtError, CmeError):
            pass

    async def send_socket(self, bearer, data):
        """AT+NSOST (UDP, one datagram) / AT+NSOSD (TCP, chunks of udp_max) ->
        '<s>,<len>'.  LinkLost when the module refuses (no network, socket gone)
        or reboots meanwhile."""
        mv = memoryview(data)
        off = 0
        while off < len(data):
            n = min(self.udp_max, len(data) - off)
            if bearer.proto == "UDP":
                head = "AT+NSOST=%d,%s,%d,%d," % (bearer.sid, bearer.host, bearer.port, n)
            else:
                head = "AT+NSOSD=%d,%d," % (bearer.sid, n)
            cmd = head.encode() + binascii.hexlify(mv[off:off + n]).upper()
            why = None
            try:
                lines = await self.at.command(cmd, timeout=self.send_timeout)
            except AtReboot:
                why = "module rebooted during the send"
            except CmeError as e:
                why = "send refused (+CME ERROR:%s%s)" % (
                    e.code, ": no network" if self._cme(e) == CME_NO_NETWORK else "")
            except AtError as e:
                why = "send refused (%s)" % (e.line.decode() if e.line else "ERROR")
            if why is not None:
                bearer._lost(why)
                raise LinkLost(why)
            sent = n
            for ln in lines:
                v = _ints(bytes(ln).decode()) if isinstance(ln, (bytes, bytearray)) else []
                if len(v) == 2 and v[0] == bearer.sid and v[1] is not None:
                    sent = v[1]
            if sent != n:
                bearer._lost("the module took %d of %d bytes" % (sent, n))
                raise LinkLost("socket %d took %d of %d bytes" % (bearer.sid, sent, n))
            off += n

    async def read_socket(self, bearer):
        """One AT+NSORF=<s>,<rx_max> -> (ip, port, data, remaining) or None."""
        lines = await self.at.command("AT+NSORF=%d,%d" % (bearer.sid, self.rx_max), timeout=5)
        return parse_nsorf(lines, bearer.sid)

    # == SMS ==================================================================

    async def probe_sms(self, force=False):
        """Whether the module and the network offer SMS (probed once; force=True
        probes again, e.g. after a SIM swap): AT+CSMS? must report mobile-
        terminated and mobile-originated support, then AT+CMGF=0 (PDU) must be
        taken.  The reason of a no is in sms_why."""
        if self.sms_available is not None and not force:
            return self.sms_available
        await self.ensure_ready()
        why = None
        try:
            t = _find(await self.at.command("AT+CSMS?", timeout=5), b"+CSMS:")
            v = _ints(t or "")
            if len(v) < 3 or v[1] != 1 or v[2] != 1:
                why = "no SMS service (+CSMS:%s)" % t
            else:
                self._sms_service = v[0] or 0
                await self.at.command("AT+CMGF=0", timeout=5)
        except CmsError as e:
            if e.code == CMS_SIM_BUSY:
                raise SmsUnavailable("SMS not ready yet (+CMS ERROR:314)")
            why = "refused (+CMS ERROR:%s)" % e.code
        except CmeError as e:
            if self._cme(e) in (CME_SIM_PIN, CME_SIM_PUK, CME_SIM_BUSY):
                raise SmsUnavailable("SMS not usable yet: %s" % _sim_error(self._cme(e)))
            why = "not supported (+CME ERROR:%s)" % e.code
        except AtError:
            why = "no SMS commands (ERROR)"
        self.sms_available = why is None
        self.sms_why = why
        if why is not None:
            self.log("bc95: SMS not available: %s" % why)
        return self.sms_available

    async def sms_setup(self):
        """AT+CMGF=0 and AT+CNMI (direct delivery 2,2,0,0,0; storage 2,1,0,0,0 when
        that is refused), once per boot."""
        if self._sms_gen == self.gen:
            return
        gen = self.gen
        at = self.at
        await at.command("AT+CMGF=0", timeout=5)
        for cnmi in ("2,2,0,0,0", "2,1,0,0,0"):
            try:
                await at.command("AT+CNMI=" + cnmi, timeout=5)
                self.cnmi = cnmi
                break
            except (AtError, CmeError, CmsError) as e:
                self.log("bc95: AT+CNMI=%s refused (%s)" % (cnmi, e))
        else:
            self.sms_available = False
            self.sms_why = "the module takes no AT+CNMI: SMS cannot be received"
            raise SmsUnavailable(self.sms_why)
        await self._smsc_again()
        self._sms_gen = gen
