"""Quectel BC95 / BC95-G (NB-IoT) driver over the AT engine (wmmp.modem.at), with the
UDP, TCP and SMS bearers the engine runner uses (issue 5 "Drivers"; command
facts from shared/spec/MODEMS.md, BC95 part).  Portable: MicroPython and
CPython asyncio.

    at = AtEngine(uart_stream, parser=bc95.at_parser())   # NSORF hex lines are long
    modem = Bc95(at)
    await modem.power_on()                  # banner, retries, AT+CMEE=1
    ident = await modem.identity()          # imei, imsi, iccid, firmware
    await modem.update_radio(term.params)   # TLV 0x3006 (TAC/CI) and 0x3007 (signal)
    bearers = {P.BEARER_PACKET: UdpBearer(modem, "203.0.113.5", 7301),
               P.BEARER_SMS: SmsBearer(modem, ["10658000"])}

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

Attach: AT+CFUN? / AT+CFUN=1 (10 s), optional AT+CGDCONT=1,"IP",<apn>, then
AT+CGATT? polled (asking AT+CGATT=1 once) for `attach_wait` s (MODEMS: 60 s).
Registration lost (+CEREG:<stat> URC, stat not 1/5: outage, no signal) makes
the socket bearers' recv() raise LinkLost; open() attaches again, closes the
old socket (AT+NSOCL) and opens a new one.

Sockets: AT+NSOCR=DGRAM,17,<lport>,1 (UDP) or =STREAM,6,<lport>,1 plus
AT+NSOCO=<s>,<ip>,<port> (TCP, BC95-G: TcpUnavailable when the firmware has
no STREAM); send AT+NSOST=<s>,<ip>,<port>,<len>,<HEX> / AT+NSOSD=<s>,<len>,<HEX>
(-> `<s>,<len>`); receive: URC +NSONMI:<s>,<len> -> AT+NSORF=<s>,<max> ->
`<s>,<ip>,<port>,<len>,<HEX>,<remaining>`, read again while remaining > 0.
Whether <remaining> counts the socket or the datagram is unconfirmed: until a
reply proves it counts the socket (remaining > 0 after a whole datagram), one
more AT+NSORF confirms the socket is empty.  A long run of reads (a flood)
pauses every max_reads reads; an empty or refused read ends the run.  The
NSONMI forms with inline data (AT+NSONMI=2/3) are taken as well.
+NSOCLI:<s>: the TCP peer closed.

SIM interface (wmmp.terminal.simcard) as ASYNC methods: pin_state, attempts, enter_pin,
enter_puk, set_pin_enabled, change_pin, pin_enabled, imsi, iccid, imei (the
driver is the engine's SIM: sim_async, driven by wmmp.terminal.simguard.run_async); and
sim_snapshot() -> SimSnapshot (synchronous reads, PIN commands refused without
reaching the card) for code that cannot await.  The BC95 has no AT+CPIN (MODEMS): the
state comes from AT+CIMI (+CME ERROR 10/11/12/13) and AT+NCCID.  PIN
commands use AT+NPIN=<op>,"<p1>"[,"<p2>"] (unconfirmed on BC95): its support
is probed once (AT+NPIN=?); without it every PIN command raises
PinUnsupported (a SimError) and nothing is guessed.  The result of AT+NPIN
comes as a URC after the OK (+NPIN:OK, +NPIN:ERROR wrong PIN (<left>),
[+NPIN:]ERROR PIN blocked / PIN disabled).  The BC95 has no command that
reads the attempts left: attempts() answers what the module last reported
(a correct PIN resets PIN1 to 3 tries, a correct PUK PUK1 to 10: sim.PIN_TRIES
/ PUK_TRIES) and raises SimError while the PIN1 counter is unknown, so
SimGuard sends no PIN on an unknown counter; puk_left is None while unknown
outside state SIM PUK.  pin_enabled() likewise: known from the state (SIM
PIN / PUK), from the driver's own AT+NPIN results, or because the card was
READY right after a boot the driver saw; else SimError.

SMS (MODEMS: most NB-IoT operators offer none): probed once (AT+CSMS? must
answer with MT and MO support, then AT+CMGF=0); when the module or the
network offers none, SmsBearer.open() and send() raise SmsUnavailable and
recv() waits (nothing can arrive) until close().  Receive: AT+CNMI=2,2,0,0,0
(direct delivery +CMT:,<len> + PDU; AT+CNMA when +CSMS service 1 asks for an
acknowledgement), falling back to AT+CNMI=2,1,0,0,0 (+CMTI -> AT+CMGR ->
AT+CMGD) when refused.  +CMT PDUs arriving before the SMS bearer opens are
kept (bounded).  Send: AT+CMGS=<octets>, '> ', PDU hex, Ctrl-Z.

PSM (power saving; MODEMS: a terminal in PSM receives nothing until it
sends): the driver keeps `psm` (True in PSM, False awake, None unknown) and
`rrc` (1 connected, 0 idle) from the +NPSMR / +CSCON URCs, counts
`psm_entries`, calls on_psm(state) when given, and set_psm() / psm_settings()
use AT+CPSMS.  The bearers need nothing special: a datagram the platform
sends while the terminal sleeps is held by the network and announced
(+NSONMI) right after the terminal's next uplink; recv() just waits for it.
It is the engine's business to send often enough (heartbeat shorter than
what the platform tolerates as command latency): see the issue 5 report.

All errors are WmmpError subclasses (wmmp.modem: NotResponding,
NetworkError, LinkLost; here: SmsUnavailable, TcpUnavailable, PinUnsupported;
wmmp.terminal.simcard errors for the SIM).  Receive queues are bounded (Inbox).
"""

import asyncio
import binascii
import struct
from micropython import const

from wmmp.modem import pdu as PDU
from wmmp.wire import profile as P
from wmmp.terminal import simcard as S
from wmmp.modem.at import AtException, AtError, AtReboot, AtTimeout, CmeError, CmsError
from wmmp.modem.atparse import AtParser
from wmmp.errors import WmmpError, BadLength, BadValue, TooLongForBearer
from wmmp.modem import DriverBase, ModemError, NotResponding, NetworkError, LinkLost, Inbox, frame_problem
from wmmp.modem import (after as _after, find as _find, ints as _ints, digits_line as _digits_line,
                        hex_int as _hex, ignore as _ignore, sim_error as _sim_error, signal_tlv, cell_tlv,
                        SimSnapshot, CME_NO_SIM, CME_SIM_PIN, CME_SIM_PUK, CME_SIM_FAILURE, CME_SIM_BUSY,
                        CME_BAD_PASSWORD, CME_SIM_BLOCKED)

try:
    from time import ticks_ms, ticks_diff

    def _now():
        return ticks_ms()

    def _since(t0):
        return ticks_diff(ticks_ms(), t0) / 1000
except ImportError:                       # CPython
    from time import monotonic as _now

    def _since(t0):
        return _now() - t0

SOCKETS = const(7)           # socket ids 0-6
UDP_MAX = const(1358)        # MODEMS "UDP send": max 512 (old firmware) to 1358 bytes
SMS_MAX = P.SMS_MESSAGE_MAX  # one binary SMS (INTEROP 9)
LINE_MAX = 2 * UDP_MAX + 64  # an AT+NSORF reply line with the largest datagram in hex
EARLY_SMS = const(4)         # +CMT PDUs kept while no SMS bearer is open

# +CME ERROR codes (3GPP 27.007 9.2)
CME_NOT_ALLOWED = const(3)
CME_NOT_SUPPORTED = const(4)
CME_NO_NETWORK = const(30)
_CME_TEXT = {"operation not allowed": CME_NOT_ALLOWED, "operation not supported": CME_NOT_SUPPORTED,
             "sim not inserted": CME_NO_SIM, "sim pin required": CME_SIM_PIN,
             "sim puk required": CME_SIM_PUK, "sim failure": CME_SIM_FAILURE,
             "sim busy": CME_SIM_BUSY, "incorrect password": CME_BAD_PASSWORD,
             "no network service": CME_NO_NETWORK, "sim blocked": CME_SIM_BLOCKED}
CMS_NOT_SUPPORTED = const(303)    # 27.005 3.2.5
CMS_SIM_BUSY = const(314)

# AT+NPIN operations (MODEMS BC95 PIN)
NPIN_VERIFY = const(0)
NPIN_CHANGE = const(1)
NPIN_ENABLE = const(2)
NPIN_DISABLE = const(3)
NPIN_UNBLOCK = const(4)


class SmsUnavailable(ModemError):
    """The module or the network offers no SMS: the SMS bearer cannot be used."""


class TcpUnavailable(NetworkError):
    """The firmware has no TCP (AT+NSOCR=STREAM refused: only DGRAM, older BC95)."""


class PinUnsupported(S.SimError):
    """The module has no PIN command (AT+NPIN): PIN1 cannot be entered or changed."""


def at_parser(rx_max=UDP_MAX, **kw):
    """An AtParser whose line limit holds an AT+NSORF reply of `rx_max` bytes
    (hex: two characters a byte), for AtEngine(stream, parser=at_parser())."""
    return AtParser(max_line=2 * rx_max + 64, **kw)


def _cme(e):
    """Numeric code of a CmeError (verbose text mapped), else None."""
    c = e.code
    if isinstance(c, str):
        c = _CME_TEXT.get(c.lower())
    return c












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


def _npin_text(line):
    """'+NPIN:ERROR wrong PIN (2)' / 'ERROR PIN blocked' -> text without the prefix."""
    t = bytes(line).strip()
    if t.startswith(b"+NPIN:"):
        t = t[6:].strip()
    return t.decode()


def _left_in(text):
    """'ERROR wrong PIN (2)' -> 2; None without a number in parentheses."""
    a = text.rfind("(")
    b = text.rfind(")")
    if 0 <= a < b:
        try:
            return int(text[a + 1:b])
        except ValueError:
            pass
    return None






class Bc95(DriverBase):
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

    def _on_cmti(self, line, extra):
        if self._sms is not None:
            v = _ints(_after(line, b"+CMTI:"))
            if v and v[-1] is not None:
                self._sms._stored(v[-1])

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

    async def _after_boot(self, fresh):
        """What the state right after boot tells about PIN1, and the PIN1 this
        card accepted before a reboot, entered again (2 or more tries left)."""
        try:
            st = await self.wait_sim()
            if st in (S.SIM_PIN, S.SIM_PUK):
                await self._card()
                self._enabled = True
            elif st == S.READY and fresh:
                await self._card()
                self._enabled = False        # READY at power-on: no PIN1 check
            if self._pin is None or st != S.SIM_PIN:
                return
            if await self.iccid() != self._sim_iccid or (self._left[0] or 0) < 2:
                self.log("bc95: SIM asks for PIN1 again; not re-entered (other card or too few tries)")
                return
            pin = self._pin
            self._pin = None                 # one try: never sent again if refused
            await self.enter_pin(pin)
            self.log("bc95: PIN1 entered again after the reboot")
        except S.SimError as e:
            self.log("bc95: SIM after boot: %s" % e)

    async def wait_sim(self, timeout=10):
        """Wait while the SIM is busy after boot; -> the pin_state() reached."""
        t0 = _now()
        while True:
            try:
                st = await self.pin_state()
            except S.SimError:
                st = None
            if st is not None or _since(t0) >= timeout:
                return st
            await asyncio.sleep(0.5)

    async def reboot(self):
        """AT+NRB (MODEMS reboot: REBOOTING, banner, Neul, OK; allow 30 s), then
        the init sequence."""
        await self.at.command("AT+NRB", timeout=self.boot_wait, reboot=True)
        await self.ensure_ready()

    # == identity and radio ===================================================

    async def imei(self):
        """AT+CGSN=1 -> +CGSN:<imei> (bare digits accepted)."""
        v = _digits_line(await self.at.command("AT+CGSN=1"), b"+CGSN:")
        if v is None:
            raise S.SimError("no IMEI in the AT+CGSN=1 reply")
        return v

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

    async def identity(self):
        """{'imei', 'imsi', 'iccid', 'firmware'}; imsi/iccid None when the SIM
        does not give them (PIN needed, no card).  Cached in self.ident."""
        d = {"imei": await self.imei(), "firmware": await self.firmware(), "imsi": None,
             "iccid": None}
        try:
            d["iccid"] = await self.iccid()
            d["imsi"] = await self.imsi()
        except S.SimError:
            pass
        self.ident = d
        return d

    async def rssi(self):
        """AT+CSQ -> (rssi, ber) as the module reports them (99: unknown)."""
        v = _ints(_find(await self.at.command("AT+CSQ"), b"+CSQ:") or "")
        if len(v) < 2 or v[0] is None:
            raise BadValue("bad +CSQ reply")
        return v[0], v[1]

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

    # == SIM interface (async; see the module docstring) ======================

    async def _sim_cmd(self, cmd, timeout=5):
        """A SIM command; AT failures become SimError subclasses."""
        code = None
        fail = None
        try:
            return await self.at.command(cmd, timeout=timeout)
        except CmeError as e:
            code = _cme(e)
        except AtException as e:
            fail = e.__class__.__name__
        if code is not None:
            raise _sim_error(code)
        raise S.SimError("SIM command failed: %s" % fail)

    async def pin_state(self):
        """READY | SIM PIN | SIM PUK | BLOCKED | NO SIM (wmmp.terminal.simcard) from AT+CIMI
        (the BC95 has no AT+CPIN): an IMSI -> READY, +CME ERROR 11 / 12 / 13 /
        10 -> SIM PIN / SIM PUK / BLOCKED / NO SIM; SimError otherwise (SIM busy)."""
        try:
            lines = await self.at.command("AT+CIMI", timeout=5)
        except CmeError as e:
            c = _cme(e)
            if c == CME_NO_SIM:
                return S.NO_SIM
            if c == CME_SIM_PIN:
                return S.SIM_PIN
            if c == CME_SIM_PUK:
                return S.SIM_PUK
            if c == CME_SIM_FAILURE or c == CME_SIM_BLOCKED:
                return S.BLOCKED
            raise _sim_error(c)
        except AtException as e:
            raise S.SimError("AT+CIMI failed: %s" % e.__class__.__name__)
        if _digits_line(lines) is None:
            raise S.SimError("no IMSI in the AT+CIMI reply")
        return S.READY

    async def _card(self):
        """The ICCID now; what the driver knows of PIN1 is forgotten when the
        card is another one (a SIM swap)."""
        iccid = await self.iccid()
        if iccid != self._sim_iccid:
            self._sim_iccid = iccid
            self._left = [None, None]
            self._enabled = None
            self._pin = None
        return iccid

    async def attempts(self):
        """(pin1_left, puk1_left) as the module last reported them (AT+NPIN
        results; a correct PIN / PUK resets them).  SimError while the PIN1
        counter is unknown, or the PUK1 counter in state SIM PUK; puk1_left is
        None while unknown in other states."""
        await self._card()
        st = await self.pin_state()
        if st == S.NO_SIM:
            raise S.NoSim("no SIM card")
        pin, puk = self._left
        if st == S.SIM_PUK:
            pin = 0
        elif st == S.BLOCKED:
            pin = puk = 0
        if pin is None:
            raise S.SimError("PIN1 attempts left unknown: the BC95 reports them only in AT+NPIN results")
        if st == S.SIM_PUK and puk is None:
            raise S.SimError("PUK1 attempts left unknown: the BC95 reports them only in AT+NPIN results")
        return pin, puk

    async def pin_enabled(self):
        """Whether PIN1 is checked: True in state SIM PIN / SIM PUK, else what the
        driver learned (its AT+NPIN results; READY right after a boot it saw);
        SimError when unknown (the BC95 has no query command)."""
        await self._card()
        st = await self.pin_state()
        if st in (S.SIM_PIN, S.SIM_PUK):
            self._enabled = True
            return True
        if st == S.NO_SIM:
            raise S.NoSim("no SIM card")
        if self._enabled is None:
            raise S.SimError("PIN1 lock state unknown (the BC95 cannot be asked)")
        return self._enabled

    async def npin_supported(self):
        """AT+NPIN=? answered (probed once): the module has the PIN command."""
        if self._npin is None:
            try:
                await self.at.command("AT+NPIN=?", timeout=5)
                self._npin = True
            except (AtError, CmeError):
                self._npin = False
        return self._npin

    async def _need_npin(self):
        if not await self.npin_supported():
            raise PinUnsupported("PIN not supported: this module has no AT+NPIN")

    async def _need_state(self, state):
        st = await self.pin_state()
        if st != state:
            raise S.error_for(st)

    def _learn_npin(self, text, op):
        """Counters and lock state from an AT+NPIN result text."""
        if text == "OK":
            if op is None:
                return
            self._left[0] = S.PIN_TRIES
            if op == NPIN_UNBLOCK:
                self._left[1] = S.PUK_TRIES
            self._enabled = op != NPIN_DISABLE
        elif "wrong PUK" in text:
            self._left[0] = 0
            self._left[1] = _left_in(text)
        elif "wrong PIN" in text:
            self._left[0] = _left_in(text)
        elif "PUK blocked" in text:
            self._left = [0, 0]
        elif "PIN blocked" in text:
            self._left[0] = 0
        elif "PIN disabled" in text:
            self._enabled = False

    async def _npin_cmd(self, op, p1, p2=None):
        """AT+NPIN=<op>,"<p1>"[,"<p2>"], then its result URC.  Sent once: never
        retried here.  Raises WrongPin / WrongPuk (attempts left), PukRequired,
        SimBlocked, SimError; messages never repeat a PIN."""
        await self._card()
        cmd = 'AT+NPIN=%d,"%s"' % (op, p1) if p2 is None else 'AT+NPIN=%d,"%s","%s"' % (op, p1, p2)
        w = [asyncio.Event(), None]
        self._npin_wait = w
        code = None
        fail = None
        try:
            try:
                await self.at.command(cmd, timeout=10)
            except CmeError as e:
                code = _cme(e)
            except AtException as e:
                fail = e.__class__.__name__
            if code is None and fail is None:
                try:
                    await asyncio.wait_for(w[0].wait(), self.npin_timeout)
                except asyncio.TimeoutError:
                    fail = "no +NPIN result"
        finally:
            self._npin_wait = None
        if code is not None:
            if code == CME_BAD_PASSWORD:         # some firmware may answer at once
                self._left[0 if op != NPIN_UNBLOCK else 1] = None
                raise S.SimError("SIM rejected the %s (attempts left not reported)"
                                 % ("PUK1" if op == NPIN_UNBLOCK else "PIN1"))
            if code == CME_NOT_ALLOWED:
                raise S.SimError("PIN command not allowed in the SIM's state")
            raise _sim_error(code)
        if fail is not None:
            self._left = [None, None]            # it may have been compared: unknown now
            raise S.SimError("AT+NPIN failed: %s" % fail)
        text = w[1]
        self._learn_npin(text, op)
        if text == "OK":
            return
        if text == "REBOOT":
            self._left = [None, None]
            raise S.SimError("module rebooted during AT+NPIN")
        left = _left_in(text)
        if "wrong" in text:
            what = "PUK1" if "PUK" in text else "PIN1"
            if left is None:                     # WrongPin / WrongPuk promise a count
                raise S.SimError("SIM rejected %s (attempts left not reported)" % what)
            if what == "PUK1":
                raise S.WrongPuk("SIM rejected PUK1, %d attempts left" % left, left)
            raise S.WrongPin("SIM rejected PIN1, %d attempts left" % left, left)
        if "PUK blocked" in text:
            raise S.SimBlocked("SIM blocked: PUK1 exhausted")
        if "PIN blocked" in text:
            raise S.PukRequired("PIN1 blocked: PUK1 required")
        if "PIN disabled" in text:
            raise S.SimError("PIN1 is disabled")
        raise S.SimError("AT+NPIN: %s" % text)

    async def enter_pin(self, pin):
        """AT+NPIN=0,"<pin>" in state SIM PIN."""
        p = S.check_pin(pin).decode()
        await self._need_npin()
        await self._need_state(S.SIM_PIN)
        await self._npin_cmd(NPIN_VERIFY, p)
        self._pin = p

    async def enter_puk(self, puk, new_pin):
        """AT+NPIN=4,"<puk>","<new pin>" in state SIM PUK."""
        k = S.check_puk(puk).decode()
        p = S.check_pin(new_pin).decode()
        await self._need_npin()
        await self._need_state(S.SIM_PUK)
        await self._npin_cmd(NPIN_UNBLOCK, k, p)
        self._pin = p

    async def set_pin_enabled(self, enabled, pin):
        """AT+NPIN=2 (enable) / 3 (disable),"<pin>"; SimError without sending the
        PIN when PIN1 is known to be in that state already."""
        p = S.check_pin(pin).decode()
        await self._need_npin()
        await self._need_state(S.READY)
        await self._card()
        if self._enabled is not None and self._enabled == bool(enabled):
            raise S.SimError("PIN1 is already %s" % ("enabled" if enabled else "disabled"))
        await self._npin_cmd(NPIN_ENABLE if enabled else NPIN_DISABLE, p)
        self._pin = p

    async def change_pin(self, old, new):
        """AT+NPIN=1,"<old>","<new>"; PIN1 must be enabled (refused unsent when
        it is known to be disabled)."""
        o = S.check_pin(old).decode()
        n = S.check_pin(new).decode()
        await self._need_npin()
        await self._need_state(S.READY)
        await self._card()
        if self._enabled is False:
            raise S.SimError("PIN1 is disabled: it cannot be changed")
        await self._npin_cmd(NPIN_CHANGE, o, n)
        self._pin = n

    async def imsi(self):
        """AT+CIMI -> 15 digits."""
        v = _digits_line(await self._sim_cmd("AT+CIMI"))
        if v is None:
            raise S.SimError("no IMSI in the AT+CIMI reply")
        return v

    async def iccid(self):
        """AT+NCCID -> +NCCID:<digits> (a trailing F pad is dropped); NoSim
        without a card (MODEMS: SIM presence via AT+NCCID)."""
        lines = await self._sim_cmd("AT+NCCID")
        t = _find(lines, b"+NCCID:")
        if t is None:
            t = _digits_line(lines)
        if not t:
            raise S.SimError("no ICCID in the AT+NCCID reply")
        return t.strip('"').rstrip("Ff")

    async def sim_snapshot(self):
        """A SimSnapshot of the card now (for SimGuard, which calls synchronously)."""
        st = await self.pin_state()
        snap = SimSnapshot(st, await self.imei(), "Bc95")
        if st == S.NO_SIM:
            return snap
        try:
            snap._iccid = await self.iccid()
            if st == S.READY:
                snap._imsi = await self.imsi()
        except S.SimError:
            pass
        try:
            snap._attempts = await self.attempts()
        except S.SimError:
            pass
        try:
            snap._enabled = await self.pin_enabled()
        except S.SimError:
            pass
        return snap

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
                raise NetworkError("AT+CFUN=1 refused (+CME ERROR:%s)" % e.code, _cme(e))
        if self.apn and self._apn_gen != gen:
            try:
                await at.command('AT+CGDCONT=1,"IP","%s"' % self.apn)
                self._apn_gen = gen
            except (AtError, CmeError) as e:
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
                    c = _cme(e)
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
                code = _cme(e)
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
                code = _cme(e)
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
                    e.code, ": no network" if _cme(e) == CME_NO_NETWORK else "")
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
            if _cme(e) in (CME_SIM_PIN, CME_SIM_PUK, CME_SIM_BUSY):
                raise SmsUnavailable("SMS not usable yet: %s" % _sim_error(_cme(e)))
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
        self._sms_gen = gen




# == bearers ==================================================================

class _SocketBearer:
    """Common part of the socket bearers (wmmp.board.runner interface)."""

    kind = P.BEARER_PACKET
    proto = "UDP"

    def __init__(self, driver, host, port, local_port, max_queue=8):
        self.d = driver
        self.host = host
        self.port = port
        self.local_port = local_port
        self.sid = None
        self.inbox = Inbox(max_queue)
        self._open = False
        self._gen = -1
        self._more = False           # data may wait in the module: AT+NSORF
        self._reads = 0
        self.bad_frames = 0
        self.reads = 0               # AT+NSORF commands sent
        self.empty_reads = 0         # ... that found nothing
        self.rounds = 0              # pauses after max_reads reads in a row

    def __repr__(self):
        return "<%s socket %s %s:%d %s>" % (self.proto, self.sid, self.host, self.port,
                                            "open" if self.is_open else "closed")

    @property
    def is_open(self):
        return self._open and self._gen == self.d.gen

    @property
    def dropped(self):
        return self.inbox.dropped

    async def open(self):
        """Open the socket (attach first); a no-op when open.  After a lost
        registration or a reboot this attaches again, closes the old socket
        and opens a new one."""
        if self.is_open:
            return
        self._open = False
        old = self.sid
        if old is not None and self._gen == self.d.gen:
            self.sid = None
            await self.d.close_socket(old)
        self.sid = None
        self._reset()
        self._more = False
        sid, gen = await self.d.open_socket(self)
        self.sid = sid
        self._gen = gen
        self._open = True
        self.inbox.reset()

    def _reset(self):
        pass

    def _check(self, data):
        data = bytes(data)
        why = frame_problem(data)
        if why is not None:
            raise BadLength("not one WMMP message: " + why)
        return data

    async def recv(self):
        """The next whole message; LinkLost when the socket is or goes down.  In
        PSM this simply waits: the network hands the held downlink over after
        the terminal's next send."""
        while True:
            if self.inbox.items:
                return self.inbox.items.pop(0)
            if not self.is_open:
                raise LinkLost(self.inbox.why or "socket not open")
            if self._more:
                await self._read()
                continue
            self.inbox.ev.clear()
            await self.inbox.ev.wait()

    async def _read(self):
        d = self.d
        try:
            rec = await d.read_socket(self)
        except AtReboot:
            self._lost("module rebooted during AT+NSORF")
            return
        except (AtError, CmeError) as e:
            self._more = False
            self._reads = 0
            d.log("bc95: AT+NSORF on socket %s refused: %s" % (self.sid, e))
            if isinstance(e, CmeError) and _cme(e) == CME_NOT_ALLOWED:
                self._lost("socket %s unknown to the module" % self.sid)
            return
        except BadValue as e:
            self.bad_frames += 1
            d.log("bc95: %s" % e)
            rec = ()
        self.reads += 1
        if rec is None:
            self.empty_reads += 1
            self._more = False
            self._reads = 0
            return
        if rec:
            ip, port, data, left = rec
            if left > 0 and len(data) < d.rx_max:
                d.rem_socket = True          # <remaining> counts the whole socket
            self._data(data)
        else:
            left = 0
        self._reads += 1
        if self._reads >= d.max_reads:       # a long run (a flood): let others in
            self._reads = 0
            self.rounds += 1
            await asyncio.sleep(0.01)
        if left > 0:
            self._more = True
        elif d.rem_socket:
            self._more = False
            self._reads = 0
        else:
            self._more = True                # <remaining> may count only that datagram

    def _announce(self):
        """+NSONMI: data waits in the module."""
        self._more = True
        self.inbox.ev.set()

    async def close(self):
        held = self.sid is not None and self._gen == self.d.gen
        sid = self.sid
        self._open = False
        self.sid = None
        self.inbox.fail("closed")
        if held:
            await self.d.close_socket(sid)

    def _lost(self, why):
        if self._open:
            self.d.log("bc95: socket %s lost: %s" % (self.sid, why))
        self._open = False
        self._more = False
        self.inbox.fail(why)


class UdpBearer(_SocketBearer):
    """UDP to the platform at (host, port): AT+NSOCR=DGRAM,17,<local_port>,1;
    one datagram = one message, at most udp_max bytes (one AT+NSOST)."""

    proto = "UDP"

    def __init__(self, driver, host, port, local_port=5000, max_queue=8):
        super().__init__(driver, host, port, local_port, max_queue)

    @property
    def send_max(self):
        """Largest message one send() takes: the driver's udp_max (1358; 512 on
        old firmware), see modem.packet_profile."""
        return self.d.udp_max

    async def send(self, data):
        data = self._check(data)
        if len(data) > self.d.udp_max:
            raise TooLongForBearer("UDP message of %d bytes exceeds %d" % (len(data), self.d.udp_max))
        if not self.is_open:
            raise LinkLost("UDP socket not open")
        await self.d.send_socket(self, data)

    def _data(self, payload):
        why = frame_problem(payload)
        if why is not None:
            self.bad_frames += 1
            self.d.log("bc95: UDP datagram dropped: %s" % why)
            return
        self.inbox.put(bytes(payload))


class TcpBearer(_SocketBearer):
    """TCP to the platform (BC95-G): AT+NSOCR=STREAM,6,<local_port>,1 and
    AT+NSOCO; TcpUnavailable from open() on firmware without TCP.  The stream
    is split by total_length (INTEROP 9); the buffer holds at most
    `max_message` bytes (a longer message is skipped byte-exactly, counted in
    `oversize`); a total_length below 28 means the framing is lost: the
    socket is dropped and reopened.  +NSOCLI: the peer closed."""

    proto = "TCP"

    def __init__(self, driver, host, port, local_port=5001, max_message=16384, max_queue=8):
        super().__init__(driver, host, port, local_port, max_queue)
        self.max_message = max_message
        self._buf = bytearray()
        self._skip = 0
        self.oversize = 0

    def _reset(self):
        self._buf = bytearray()
        self._skip = 0

    async def send(self, data):
        data = self._check(data)
        if not self.is_open:
            raise LinkLost("TCP socket not open")
        await self.d.send_socket(self, data)

    def _data(self, payload):
        if not self._open:
            return
        mv = memoryview(payload)
        i = 0
        n = len(payload)
        if self._skip:
            k = min(self._skip, n)
            self._skip -= k
            i = k
        buf = self._buf
        while i < n:
            if len(buf) < 2:
                k = min(2 - len(buf), n - i)
                buf += mv[i:i + k]
                i += k
                if len(buf) < 2:
                    break
            total = (buf[0] << 8) | buf[1]
            if total < 28:
                self._buf = bytearray()
                self._lost("TCP framing lost (total_length %d)" % total)
                return
            if total > self.max_message:
                self.oversize += 1
                self.d.log("bc95: TCP message of %d bytes skipped (max %d)" % (total, self.max_message))
                skip = total - len(buf)
                buf = bytearray()
                k = min(skip, n - i)
                i += k
                self._skip = skip - k
                continue
            k = min(total - len(buf), n - i)
            buf += mv[i:i + k]
            i += k
            if len(buf) == total:
                self.inbox.put(bytes(buf))
                buf = bytearray()
        self._buf = buf


class SmsBearer:
    """Binary SMS in PDU mode (INTEROP 9), only when the module and the network
    offer SMS (Bc95.probe_sms): one WMMP message (<= 140 bytes) per SMS, sent
    to the first platform number; only WMMP SMS (pdu.is_wmmp) from the
    platform numbers are returned.

    open(): SmsUnavailable when there is no SMS (the runner logs it and the
    engine keeps to the packet bearer); else AT+CMGF=0 and AT+CNMI.
    send(): AT+CMGS=<TPDU octets> -> '> ', PDU hex, Ctrl-Z -> +CMGS:<mr>.
    recv(): +CMT:,<len> + PDU (AT+CNMA when the module wants an ack) or
    +CMTI -> AT+CMGR -> AT+CMGD; without SMS it waits until close().
    smsc: an SMSC address for the PDU (None: the module's, +CSCA)."""

    kind = P.BEARER_SMS

    def __init__(self, driver, platform_numbers, smsc=None, max_queue=8, max_pending=16):
        if isinstance(platform_numbers, str):
            platform_numbers = [platform_numbers]
        numbers = [n.strip() for n in platform_numbers if n and n.strip()]
        if not numbers:
            raise BadValue("at least one platform number (TLV 0x0007) is needed", 0x0007)
        self.d = driver
        self.numbers = numbers
        self.smsc = smsc
        self.inbox = Inbox(max_queue)
        self.max_pending = max_pending
        self._idx = []               # storage indices announced by +CMTI, not read yet
        self._acks = 0               # +CMT to acknowledge (AT+CNMA)
        self._open = False
        self._gen = -1
        self._none = False           # no SMS: recv() waits
        self.ignored = 0
        self.sent = 0
        self.received = 0
        driver._sms = self

    def __repr__(self):
        return "<SMS to %s %s>" % (self.numbers[0], "open" if self.is_open else "closed")

    @property
    def is_open(self):
        return self._open and self._gen == self.d.gen

    async def open(self):
        if self.is_open:
            return
        d = self.d
        await d.ensure_ready()
        gen = d.gen
        try:
            if not await d.probe_sms():
                raise SmsUnavailable("SMS not available: %s" % d.sms_why)
            await d.sms_setup()
        except SmsUnavailable:
            if d.sms_available is False:         # for good: recv() waits quietly
                self._none = True
                self.inbox.reset()
            raise
        self._none = False
        self._gen = gen
        self._open = True
        self.inbox.reset()
        early = d._early
        d._early = []
        for line, pdu in early:
            self._direct(line, pdu)
        self.inbox.ev.set()

    async def close(self):
        self._open = False
        self._none = False
        self.inbox.fail("closed")

    def _lost(self, why):
        self._open = False
        self.inbox.fail(why)

    async def send(self, data):
        data = bytes(data)
        if len(data) > SMS_MAX:
            raise TooLongForBearer("message of %d bytes exceeds one SMS (%d)" % (len(data), SMS_MAX))
        why = frame_problem(data)
        if why is not None:
            raise BadLength("not one WMMP message: " + why)
        if self.d.sms_available is False:
            raise SmsUnavailable("SMS not available: %s" % self.d.sms_why)
        if not self.is_open:
            raise LinkLost("SMS bearer not open")
        pdu, n = PDU.encode_submit(self.numbers[0], data, smsc=self.smsc)
        try:
            await self.d.at.command_with_prompt("AT+CMGS=%d" % n, PDU.to_hex(pdu), timeout=self.d.sms_timeout,
                                                final="+CMGS:", ctrl_z=True)
        except AtReboot:
            self._lost("module rebooted during AT+CMGS")
            raise LinkLost("module rebooted during AT+CMGS")
        self.sent += 1

    async def recv(self):
        while True:
            if self.inbox.items:
                return self.inbox.items.pop(0)
            if self._none and self.inbox.why is None:
                self.inbox.ev.clear()            # no SMS on this module: nothing comes
                await self.inbox.ev.wait()
                continue
            if not self.is_open:
                raise LinkLost(self.inbox.why or "SMS bearer not open")
            if self._acks:
                self._acks -= 1
                try:
                    await self.d.at.command("AT+CNMA", timeout=5)
                except (AtError, CmeError, CmsError) as e:
                    self.d.log("bc95: AT+CNMA failed: %s" % e)
                continue
            if self._idx:
                msg = await self._read(self._idx.pop(0))
                if msg is not None:
                    return msg
                continue
            self.inbox.ev.clear()
            await self.inbox.ev.wait()

    # -- from the driver's URC handlers --------------------------------------

    def _direct(self, line, pdu_line):
        v = _ints(_after(line, b"+CMT:"))
        if self.d._sms_service == 1 and self._acks < self.max_pending:
            self._acks += 1
        msg = self._accept(pdu_line, v[-1] if v else None, "+CMT")
        if msg is not None:
            self.inbox.put(msg)
        else:
            self.inbox.ev.set()

    def _stored(self, idx):
        if idx not in self._idx and len(self._idx) < self.max_pending:
            self._idx.append(idx)
        self.inbox.ev.set()

    # -- reading -------------------------------------------------------------

    def _accept(self, hexline, tpdu_len, where):
        """The WMMP message in one PDU line, or None (logged, counted)."""
        try:
            sms = PDU.decode(bytes(hexline).decode(), True, tpdu_len)
        except (WmmpError, ValueError) as e:
            self.ignored += 1
            self.d.log("bc95: SMS %s undecodable: %s" % (where, e))
            return None
        if not PDU.is_wmmp(sms, self.numbers, SMS_MAX):
            self.ignored += 1
            self.d.log("bc95: SMS %s from %s ignored: not WMMP from a platform number"
                       % (where, sms.address))
            return None
        why = frame_problem(sms.data)
        if why is not None:
            self.ignored += 1
            self.d.log("bc95: SMS %s from %s dropped: %s" % (where, sms.address, why))
            return None
        self.received += 1
        return bytes(sms.data)

    async def _read(self, idx):
        """AT+CMGR=<idx> -> +CMGR:<stat>,[<alpha>],<length> + PDU line; deleted
        whatever it holds."""
        try:
            lines = await self.d.at.command("AT+CMGR=%d" % idx, timeout=5)
        except (CmsError, AtError) as e:
            self.d.log("bc95: AT+CMGR=%d failed: %s" % (idx, e))
            return None
        msg = None
        for i in range(len(lines) - 1):
            ln = lines[i]
            if isinstance(ln, (bytes, bytearray)) and ln.startswith(b"+CMGR:"):
                v = _ints(_after(ln, b"+CMGR:"))
                msg = self._accept(lines[i + 1], v[-1] if v else None, "%d" % idx)
                break
        try:
            await self.d.at.command("AT+CMGD=%d" % idx, timeout=5)
        except (CmsError, AtError) as e:
            self.d.log("bc95: AT+CMGD=%d failed: %s" % (idx, e))
        return msg
