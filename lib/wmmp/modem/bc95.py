"""Quectel BC95 / BC95-G (NB-IoT) driver over the AT engine (wmmp.modem.at), with the
UDP, TCP and SMS bearers the engine runner uses (command
facts from Quectel's BC95 AT command manual).  Portable: MicroPython and
CPython asyncio.

    at = AtEngine(uart_stream, parser=bc95.at_parser())   # NSORF hex lines are long
    modem = Bc95(at)
    await modem.power_on()                  # banner, retries, AT+CMEE=1
    ident = await modem.identity()          # imei, imsi, iccid, firmware
    await modem.update_radio(term.params)   # TLV 0x3006 (TAC/CI) and 0x3007 (signal)
    bearers = {P.BEARER_PACKET: UdpBearer(modem, "203.0.113.5", 7301),
               P.BEARER_SMS: SmsBearer(modem, ["10658000"])}

This module: the driver class Bc95 (URC handlers, power and readiness,
identity and radio, power saving) and its reply parsers.  Bc95 inherits the
SIM interface (SimInterface, wmmp.modem.bc95_sim), the attach, socket and
SMS commands (NetInterface, wmmp.modem.bc95_net, see there) and what both
drivers share (wmmp.modem.ModemBase: identity, imei, +CSQ, wait_sim); the
bearers (UdpBearer, TcpBearer, SmsBearer) live in wmmp.modem.bc95_bearers and
are importable from here.

Dialect: no space after the colon (`+CSQ:21,99`; the parser of a reply is
lenient either way), echo off, plain ERROR until AT+CMEE=1.

Boot: the banner ends with `Neul` then `OK` (the AT engine takes `Neul` as a
reboot and swallows the banner's OK).  `ERROR` may answer the first commands
after boot, so the init sequence retries AT (and each of its commands) for
`at_wait` s: AT, AT+CMEE=1 (numeric +CME ERROR), ATE0, AT+CEREG=2 (URCs with
TAC/CI: a lost registration is noticed at once), AT+CSCON=1 and AT+NPSMR=1
(RRC and PSM state URCs; refused on old firmware: logged).  A `Neul` at any
later moment is a module reboot: sockets are gone, every bearer's recv()
raises LinkLost, the next open() runs the init sequence again.  reboot():
AT+NRB (REBOOTING, banner, Neul, OK; 30 s).

PSM (power saving; MODEMS: a terminal in PSM receives nothing until it
sends): the driver keeps `psm` (True in PSM, False awake, None unknown) and
`rrc` (1 connected, 0 idle) from the +NPSMR / +CSCON URCs, counts
`psm_entries`, calls on_psm(state) when given, and set_psm() / psm_settings()
use AT+CPSMS.  The bearers need nothing special: a datagram the platform
sends while the terminal sleeps is held by the network and announced
(+NSONMI) right after the terminal's next uplink; recv() just waits for it.
It is the engine's business to send often enough (heartbeat shorter than
what the platform tolerates as command latency): see docs/PROTOCOL.md 9.

All errors are WmmpError subclasses (wmmp.modem: NotResponding,
NetworkError, LinkLost; wmmp.modem.bc95_net: SmsUnavailable, TcpUnavailable;
wmmp.modem.bc95_sim: PinUnsupported; wmmp.terminal.simcard errors for the
SIM).  Receive queues are bounded (Inbox).
"""

import asyncio
import binascii
from micropython import const

from wmmp.modem.at import AtError, AtReboot, AtTimeout, CmeError
from wmmp.modem.atparse import AtParser
from wmmp.errors import BadValue
from wmmp.modem import NotResponding, now as _now, since as _since
from wmmp.modem import after as _after, find as _find, ints as _ints, hex_int as _hex, ignore as _ignore
from wmmp.modem.bc95_net import NetInterface
# the bearers are re-exported: wmmp.modem.bc95.UdpBearer etc.
from wmmp.modem.bc95_bearers import UdpBearer, TcpBearer, SmsBearer  # noqa: F401

UDP_MAX = const(1358)        # MODEMS "UDP send": max 512 (old firmware) to 1358 bytes
LINE_MAX = 2 * UDP_MAX + 64  # an AT+NSORF reply line with the largest datagram in hex
EARLY_SMS = const(4)         # +CMT PDUs kept while no SMS bearer is open


def at_parser(rx_max=UDP_MAX, **kw):
    """An AtParser whose line limit holds an AT+NSORF reply of `rx_max` bytes
    (hex: two characters a byte), for AtEngine(stream, parser=at_parser())."""
    return AtParser(max_line=2 * rx_max + 64, **kw)


def signal_percent(rssi):
    """+CSQ <rssi> -> 0..100 for TLV 0x3007, None when unknown.
    0..31 (27.007 8.5: -113 dBm .. -51 dBm and above) -> round(rssi * 100 / 31);
    99 (unknown / no signal) and anything else -> None."""
    if rssi is None or not 0 <= rssi <= 31:
        return None
    return (rssi * 100 + 15) // 31          # exact round(): no x.5 ties for 0..31


def parse_cereg(line, read_form=True):
    """'+CEREG:2,1,"5B0C","0B8A9A12",7' (read form: <n>,<stat>[,<tac>,<ci>[,<act>]])
    or the URC '+CEREG:1,5B0C,0B8A9A12,7' (<stat>[,<tac>,<ci>[,<act>]]); tac/ci
    quoted or bare hex (MODEMS: quoting unconfirmed) -> (stat, tac, ci), tac/ci
    None when absent."""
    f = _after(line, b"+CEREG:").split(",")
    i = 1 if read_form else 0
    try:
        stat = int(f[i].strip())
    except (ValueError, IndexError):
        raise BadValue("registration reply without a stat")
    tac = ci = None
    if len(f) >= i + 3:
        try:
            tac = _hex(f[i + 1])
            ci = _hex(f[i + 2])
        except ValueError:
            tac = ci = None
    return stat, tac, ci


def parse_nuestats(lines):
    """AT+NUESTATS reply -> {name: int}: 'Signal power:-820', 'Cell ID:193633810'
    lines, or the 'NUESTATS:RADIO,Cell ID,193633810' form; unparsable lines skipped."""
    out = {}
    for ln in lines:
        if not isinstance(ln, (bytes, bytearray)):
            continue
        t = bytes(ln).decode()
        if t.startswith("NUESTATS:"):
            f = t[9:].split(",")
            if len(f) == 3:
                name, val = f[1], f[2]
            else:
                continue
        else:
            k = t.find(":")
            if k < 0:
                continue
            name, val = t[:k], t[k + 1:]
        try:
            out[name.strip()] = int(val.strip())
        except ValueError:
            pass
    return out


def _npin_text(line):
    """'+NPIN:ERROR wrong PIN (2)' / 'ERROR PIN blocked' -> text without the prefix."""
    t = bytes(line).strip()
    if t.startswith(b"+NPIN:"):
        t = t[6:].strip()
    return t.decode()


class Bc95(NetInterface):
    """The BC95 on the AT engine `at` (see the module docstring).

    apn              APN for AT+CGDCONT=1 (None: the network's default)
    rx_max           largest datagram read by one AT+NSORF (the engine's parser
                     must hold 2 * rx_max + 64 characters a line: at_parser())
    udp_max          largest datagram / TCP chunk sent (1358; 512 on old firmware)
    at_wait          s to retry AT (and ERROR answers) after boot (MODEMS: 30 s)
    boot_wait        s to wait for the banner after a reset pulse or AT+NRB
    attach_wait      s to wait for +CGATT:1 (MODEMS: 60 s); attach_poll: s between polls
    connect_timeout  s for AT+NSOCO (TCP); send_timeout: s for AT+NSOST / AT+NSOSD
    npin_timeout     s for the +NPIN result URC after the OK
    sms_timeout      s for +CMGS
    max_reads        AT+NSORF reads in a row for one socket before a short pause
    on_psm           callable(bool) on every PSM change (+NPSMR URC)
    log              callable(text); default: the engine's log
    """

    def __init__(self, at, apn=None, rx_max=UDP_MAX, udp_max=UDP_MAX, at_wait=30, boot_wait=30,
                 attach_wait=60, attach_poll=1.0, connect_timeout=30, send_timeout=10,
                 npin_timeout=10, sms_timeout=60, max_reads=16, on_psm=None, log=None):
        if not 1 <= rx_max <= UDP_MAX or not 1 <= udp_max <= UDP_MAX:
            raise BadValue("rx_max and udp_max must be within 1..%d" % UDP_MAX)
        if at.p.max_line < 2 * rx_max + 64:
            raise BadValue("the AT parser's max_line (%d) cannot hold an AT+NSORF reply of %d bytes: "
                           "use AtEngine(stream, parser=bc95.at_parser())" % (at.p.max_line, rx_max))
        self.at = at
        self.apn = apn
        self.rx_max = rx_max
        self.udp_max = udp_max
        self.at_wait = at_wait
        self.boot_wait = boot_wait
        self.attach_wait = attach_wait
        self.attach_poll = attach_poll
        self.connect_timeout = connect_timeout
        self.send_timeout = send_timeout
        self.npin_timeout = npin_timeout
        self.sms_timeout = sms_timeout
        self.max_reads = max_reads
        self.on_psm = on_psm
        self.log = log if log is not None else at.log
        self.gen = 0                 # boot generation: +1 for every Neul seen
        self._ready_gen = -1         # generation the init sequence ran in
        self._att_gen = -1           # generation the attach was seen in
        self._apn_gen = -1
        self.apn_refused = False     # the firmware refused AT+CGDCONT: the network's APN is in use
        self._lock = asyncio.Lock()  # init and attach sequences
        self._booted = asyncio.Event()
        self._socks = {}             # module socket id -> bearer
        self._sms = None             # the SmsBearer, if any
        self._early = []             # +CMT (line, pdu) before the SMS bearer opened
        self.rem_socket = None       # True once <remaining> is seen counting the socket
        # registration and power saving (URCs)
        self.reg_stat = None         # last +CEREG <stat>
        self.tac = None
        self.ci = None
        self.psm = None              # True in PSM, False awake, None unknown
        self.rrc = None              # 1 connected, 0 idle, None unknown
        self.psm_entries = 0
        # SIM knowledge (the BC95 has no AT+CPIN and no attempts query)
        self._npin = None            # AT+NPIN supported: None unknown
        self._npin_wait = None       # [Event, text] while an AT+NPIN result is awaited
        self._left = [None, None]    # PIN1 / PUK1 attempts last reported
        self._enabled = None         # PIN1 check on, as learned
        self._sim_iccid = None       # the card the knowledge above is about
        self._pin = None             # PIN1 accepted this power cycle (RAM only)
        self._fresh_boot = False     # the init runs right after a Neul the driver saw
        # SMS
        self.sms_available = None    # None: not probed yet
        self.sms_why = None
        self._sms_service = 0        # +CSMS <service>: 1 -> AT+CNMA after +CMT
        self._sms_gen = -1
        self.cnmi = None             # the AT+CNMI the module took
        self.ident = {}
        self.firmware_lines = []
        # counters
        self.reboots = 0
        self.reg_lost = 0
        self.unrouted = 0            # +NSONMI for sockets no bearer owns
        self.uplink_lost = 0         # +NSOSTR status 0 (sends with a sequence number)
        at.on_reboot(self._on_reboot)
        for p in ("REBOOTING", "REBOOT_CAUSE", "+NNMI:"):
            at.on(p, _ignore)
        at.on("+NSONMI:", self._on_nsonmi)
        at.on("+NSOCLI:", self._on_nsocli)
        at.on("+NSOSTR:", self._on_nsostr)
        at.on("+NPIN:", self._on_npin)
        at.on("ERROR PIN", self._on_npin)
        at.on("+CEREG:", self._on_cereg)
        at.on("+CSCON:", self._on_cscon)
        at.on("+NPSMR:", self._on_npsmr)
        at.on("+CMT:", self._on_cmt)
        at.on("+CMTI:", self._on_cmti)

    def __repr__(self):
        return "<Bc95 gen=%d reg=%s psm=%s>" % (self.gen, self.reg_stat, self.psm)

    # == URC handlers (run in the engine's reader: they never await) ==========

    def _on_reboot(self, line):
        self.gen += 1
        self.reboots += 1
        self._booted.set()
        self._fresh_boot = True
        self.reg_stat = None
        self.psm = None
        self.rrc = None
        socks = self._socks
        self._socks = {}
        for b in socks.values():
            b._lost("module rebooted")
        if self._sms is not None:
            self._sms._lost("module rebooted")
        w = self._npin_wait
        if w is not None:
            w[1] = "REBOOT"
            w[0].set()

    def _on_nsonmi(self, line, extra):
        f = _after(line, b"+NSONMI:").split(",")
        try:
            sid = int(f[0])
        except ValueError:
            return
        b = self._socks.get(sid)
        if b is None:
            self.unrouted += 1
            return
        if len(f) in (3, 5):                  # AT+NSONMI=2/3: the data inline
            try:
                b._data(binascii.unhexlify(f[-1].strip()))
            except ValueError:
                b.bad_frames += 1
            return
        b._announce()

    def _on_nsocli(self, line, extra):
        v = _ints(_after(line, b"+NSOCLI:"))
        b = self._socks.get(v[0]) if v else None
        if b is not None:
            del self._socks[v[0]]
            b._lost("socket %d closed by the peer" % v[0])

    def _on_nsostr(self, line, extra):
        v = _ints(_after(line, b"+NSOSTR:"))
        if len(v) >= 3 and v[2] == 0:
            self.uplink_lost += 1

    def _on_npin(self, line, extra):
        text = _npin_text(line)
        self._learn_npin(text, None)
        w = self._npin_wait
        if w is not None:
            w[1] = text
            w[0].set()

    def _on_cereg(self, line, extra):
        try:
            stat, tac, ci = parse_cereg(line, read_form=False)
        except BadValue:
            return
        self._set_reg(stat, tac, ci)

    def _set_reg(self, stat, tac, ci):
        was = self.reg_stat
        self.reg_stat = stat
        if tac is not None:
            self.tac, self.ci = tac, ci
        if stat not in (1, 5):
            if was in (1, 5):
                self.reg_lost += 1
            self._att_gen = -1
            socks = list(self._socks.values())
            for b in socks:
                b._lost("network registration lost (+CEREG stat %d)" % stat)

    def _on_cscon(self, line, extra):
        v = _ints(_after(line, b"+CSCON:"))
        if v and v[-1] in (0, 1):
            self.rrc = v[-1]

    def _on_npsmr(self, line, extra):
        v = _ints(_after(line, b"+NPSMR:"))
        if v and v[-1] in (0, 1):
            self._set_psm(v[-1] == 1)

    def _set_psm(self, on):
        if on and self.psm is not True:
            self.psm_entries += 1
        changed = self.psm is not on
        self.psm = on
        if on:
            self.rrc = 0
        if changed and self.on_psm is not None:
            self.on_psm(on)

    def _on_cmt(self, line, extra):
        if extra is None:
            return
        if self._sms is not None and self._sms._open:
            self._sms._direct(line, extra)
            return
        if len(self._early) >= EARLY_SMS:
            self._early.pop(0)
        self._early.append((bytes(line), bytes(extra)))

    # == power and readiness ==================================================

    async def power_on(self, reset=None, level=1, pulse=0.1):
        """Bring the module up and run the init sequence.  The BC95 starts when
        powered; reset: a pin object with value() on its RESET line, pulsed to
        `level` for `pulse` s only when the module does not answer AT.
        Raises NotResponding when AT stays unanswered."""
        await self._press(reset, level, pulse, "Neul")
        await self.ensure_ready()

    async def _retry(self, cmd, t0, limit, timeout=2):
        """`cmd`, retried while it times out or answers a plain ERROR (MODEMS: the
        first commands after boot may), until `limit` s from t0 (at least
        once).  +CME ERROR and a reboot are raised."""
        while True:
            try:
                return await self.at.command(cmd, timeout=timeout)
            except (AtTimeout, AtError) as e:
                if _since(t0) >= limit:
                    raise NotResponding("BC95: %s %s after %s s" % (
                        cmd, "unanswered" if isinstance(e, AtTimeout) else "still refused", limit))
            await asyncio.sleep(0.2)

    async def _optional(self, cmd):
        """An init command old firmware may lack: refused twice -> logged."""
        for i in range(2):
            try:
                await self.at.command(cmd, timeout=2)
                return True
            except (AtTimeout, AtError, CmeError) as e:
                why = e
        self.log("bc95: %s refused (%s)" % (cmd, why))
        return False

    async def _init(self):
        for attempt in range(3):
            gen = self.gen
            fresh = self._fresh_boot
            t0 = _now()
            try:
                await self._retry("AT", t0, self.at_wait, timeout=1)
                await self._retry("AT+CMEE=1", t0, self.at_wait)
                try:
                    await self.at.command("ATE0")
                except AtError:
                    pass
                if not await self._optional("AT+CEREG=2"):
                    await self._optional("AT+CEREG=1")
                await self._optional("AT+CSCON=1")
                await self._optional("AT+NPSMR=1")
            except AtReboot:
                continue                    # it rebooted under us: once more
            if self.gen != gen:
                continue
            self._ready_gen = gen
            self._fresh_boot = False
            await self._after_boot(fresh)
            return
        raise NotResponding("BC95 keeps rebooting")

    async def reboot(self):
        """AT+NRB (MODEMS reboot: REBOOTING, banner, Neul, OK; allow 30 s), then
        the init sequence."""
        await self.at.command("AT+NRB", timeout=self.boot_wait, reboot=True)
        await self.ensure_ready()

    # == identity and radio (imei, identity, rssi: wmmp.modem.ModemBase) ========

    async def firmware(self):
        """AT+CGMR (several lines, 'APPLICATION,V100R100C10B657SP3', ...) -> the
        APPLICATION version, else the lines joined with ';'.  All lines are kept
        in firmware_lines."""
        lines = [bytes(ln).decode() for ln in await self.at.command("AT+CGMR")
                 if isinstance(ln, (bytes, bytearray))]
        lines = [ln[6:].strip() if ln.startswith("+CGMR:") else ln for ln in lines]
        self.firmware_lines = lines
        for ln in lines:
            if ln.upper().startswith("APPLICATION,"):
                return ln[12:]
        return ";".join(lines)

    async def signal(self):
        """Signal 0..100 for TLV 0x3007 (signal_percent of +CSQ), None if unknown."""
        return signal_percent((await self.rssi())[0])

    async def nuestats(self):
        """AT+NUESTATS -> {name: value} ('Signal power' and 'RSRQ' in 0.1 dB,
        'Cell ID', 'ECL', 'SNR', 'EARFCN', 'PCI', ...; -32768: not measured)."""
        return parse_nuestats(await self.at.command("AT+NUESTATS", timeout=5))

    async def cell(self):
        """(tac, ci) of the serving cell for TLV 0x3006 (TAC in place of the LAC),
        None when not registered or unknown.  AT+CEREG? in the n=2 form gives
        both; AT+NUESTATS 'Cell ID' fills a missing CI; without a TAC (firmware
        without n=2) there is no location to report."""
        lines = await self.at.command("AT+CEREG?")
        for ln in lines:
            if isinstance(ln, (bytes, bytearray)) and ln.startswith(b"+CEREG:"):
                n = _ints(_after(ln, b"+CEREG:"))[0]
                stat, tac, ci = parse_cereg(ln, True)
                self.reg_stat = stat
                if stat not in (1, 5):
                    return None
                if tac is None and n != 2:
                    try:
                        await self.at.command("AT+CEREG=2")
                        return await self.cell()
                    except AtError:
                        pass
                if tac is not None and ci is None:
                    ci = (await self.nuestats()).get("Cell ID")
                if tac is None or ci is None:
                    self.log("bc95: registered but no TAC/CI reported")
                    return None
                self.tac, self.ci = tac, ci
                return tac, ci
        return None

    async def registered(self):
        """True when +CEREG? says home (1) or roaming (5)."""
        t = _find(await self.at.command("AT+CEREG?"), b"+CEREG:")
        v = _ints(t or "")
        return len(v) >= 2 and v[1] in (1, 5)

    # == power saving =========================================================

    async def set_psm(self, enable, t3412=None, t3324=None):
        """AT+CPSMS=1,,,"<T3412>","<T3324>" (8-bit timer strings, 24.008
        10.5.7.4a / 10.5.7.3) or AT+CPSMS=0.  Whether the network grants PSM
        shows in the +NPSMR URCs (self.psm)."""
        if not enable:
            await self.at.command("AT+CPSMS=0")
            return
        for t in (t3412, t3324):
            if t is not None and (len(t) != 8 or t.strip("01")):
                raise BadValue("PSM timers are 8-bit strings such as '00100010'")
        if t3412 is None and t3324 is None:
            await self.at.command("AT+CPSMS=1")
        else:
            await self.at.command('AT+CPSMS=1,,,"%s","%s"' % (t3412 or "", t3324 or ""))

    async def psm_settings(self):
        """AT+CPSMS? -> (mode, t3412, t3324) as strings/ints the module reports."""
        t = _find(await self.at.command("AT+CPSMS?"), b"+CPSMS:") or ""
        f = [x.strip().strip('"') for x in t.split(",")]
        mode = int(f[0]) if f and f[0].isdigit() else None
        return mode, (f[3] if len(f) > 3 else None), (f[4] if len(f) > 4 else None)

    async def psm_state(self):
        """AT+NPSMR? -> True in PSM, False awake, None when the module does not say
        (URC reporting off); updates self.psm."""
        v = _ints(_find(await self.at.command("AT+NPSMR?"), b"+NPSMR:") or "")
        if len(v) >= 2 and v[1] in (0, 1):
            self._set_psm(v[1] == 1)
            return self.psm
        return None
