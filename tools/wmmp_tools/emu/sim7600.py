"""SIMCom SIM7600 emulated at the AT level (issue 5 "Emulators"; dialect from
shared/spec/MODEMS.md, SIM7600 part): it consumes what the host writes to the
UART and answers as the module does, with a SimulatedSim (wmmp.sim: PIN1/PUK1
counters that really lock) as its SIM, real loopback UDP/TCP sockets behind
AT+CIPOPEN and SMS through the emulated SMS centre (docs/SMSC.md).

    emu = Sim7600(sim, msisdn="13800000001", smsc=("127.0.0.1", 7400))
    await emu.start()                 # powers on: RDY, +CPIN: ..., SMS DONE, PB DONE
    port = HostPort(emu)              # wmmp_tools.emu.stream; or PtyPort (ptyio)
    ...
    await emu.close()

Dialect: responses put a space after the colon (`+CSQ: 23,99`), every line is
framed "\\r\\n<text>\\r\\n", echo is on after boot (ATE1), the data prompt is
"\\r\\n>" for AT+CIPSEND and "\\r\\n> " for AT+CMGS, received data is pushed as
`RECV FROM:<ip>:<port>` + `+IPD<len>` + <len> raw bytes (MODEMS "receive (push
mode)"), failures are `ERROR`, `+CME ERROR: <n>` (27.007 9.2: 3 not allowed,
4 not supported, 10 SIM not inserted, 11 SIM PIN required, 12 SIM PUK required,
13 SIM failure, 16 incorrect password, 30 no network service, 50 incorrect
parameters), `+CMS ERROR: <n>` (27.005 3.2.5) or `+CIPERROR: <n>`.

Variants MODEMS.md leaves unconfirmed are options (class Options):
spic_order ("pin1,puk1,pin2,puk2" or "pin1,pin2,puk1,puk2"), reg_quoted /
reg_act (the n=2 forms of +CREG/+CGREG/+CEREG), +CMT direct delivery
(AT+CNMI=2,2), AT+IPREX and AT+CSCLK are accepted.  Choices where no source
was at hand are listed in Options and in the closing report of issue 5.

Fault injection (methods; the `wmmp-emu` command has flags for them):
faults (OutputFaults: dropped / delayed / corrupted output lines), inject()
(raw noise bytes), set_outage() (packet network gone: sockets die,
`+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY`), set_signal(99) (no signal:
`+CSQ: 99,99`, registration lost), reboot() / reboot_after() / reboot_on()
(a module reboot now, later or when a given command arrives), swap_sim() (a
new card: new IMSI/ICCID via SimulatedSim.swap), remove_sim(); the SMS centre's
own set_faults() delays or loses SMS.
"""

import asyncio
import collections
import logging
import random
import re
import socket
import time

from wmmp import pdu as PDU
from wmmp import sim as S
from wmmp.errors import BadValue, WmmpError

from wmmp_tools.emu import atline as L
from wmmp_tools.emu.faults import OutputFaults
from wmmp_tools.emu.netsock import TcpSocket, UdpSocket
from wmmp_tools.smsc import SmsClient, valid_msisdn

log = logging.getLogger("wmmp.emu.sim7600")

CTRL_Z = 0x1A
ESC = 0x1B
BS = 0x08
CR = 0x0D

LINKS = 10                 # link numbers 0-9 (MODEMS "TCP")
SEND_MAX = 1500            # one AT+CIPSEND (MODEMS "send": chunk at <= 1500 bytes)
IPD_MAX = 1500             # largest +IPD chunk pushed to the host
RX_MAX = 64 * 1024         # host bytes waiting to be processed (UART overrun beyond)
LINE_MAX = 1024            # longest command line kept
RXGET_MAX = 64 * 1024      # bytes a link buffers in AT+CIPRXGET=1 mode
TPDU_MAX = 164             # largest SMS-SUBMIT TPDU (23.040)
INCOMING_MAX = 64          # SMS the network holds for us while we cannot take them

# 27.007 9.2 +CME ERROR codes
CME_NOT_ALLOWED = 3
CME_NOT_SUPPORTED = 4
CME_NO_SIM = 10
CME_SIM_PIN = 11
CME_SIM_PUK = 12
CME_SIM_FAILURE = 13
CME_BAD_PASSWORD = 16
CME_NO_NETWORK = 30
CME_BAD_PARAMS = 50
CME_TEXT = {3: "operation not allowed", 4: "operation not supported", 10: "SIM not inserted",
            11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure",
            16: "incorrect password", 30: "no network service", 50: "incorrect parameters"}

# 27.005 3.2.5 +CMS ERROR codes
CMS_NOT_ALLOWED = 302
CMS_NOT_SUPPORTED = 303
CMS_BAD_PDU = 304
CMS_NO_SIM = 310
CMS_SIM_PIN = 311
CMS_SIM_FAILURE = 313
CMS_SIM_BUSY = 314
CMS_SIM_PUK = 316
CMS_BAD_INDEX = 321
CMS_NO_SERVICE = 331
CMS_NET_TIMEOUT = 332
CMS_UNKNOWN = 500

# <err> of +CIPOPEN / +NETOPEN (MODEMS.md)
ERR_NETWORK = 1
ERR_NOT_OPENED = 2
ERR_PARAM = 3
ERR_NOT_SUPPORTED = 4
ERR_BIND = 6
ERR_TIMEOUT = 10
ERR_DNS = 11

NETWORK_CLOSED = "+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY"
_PREFIX = re.compile("AT|at")


class Options:
    """Timings, identity strings and dialect variants.  Defaults are what the
    sources behind MODEMS.md show; items marked (choice) had no source.

    echo            True: ATE1 after boot (the module's default)
    boot_time       s from power-on / reset to RDY (real module: >10 s)
    reset_time      s from AT+CRESET / AT+CFUN=1,1 OK to RDY
    urc_gap         s between the boot URCs RDY, +CPIN:, SMS DONE, PB DONE
    reg_delay       s from SIM ready to registered
    netopen_delay   s from AT+NETOPEN's OK to +NETOPEN: 0
    connect_timeout s a TCP AT+CIPOPEN may take before +CIPOPEN: <l>,10
    spic_order      "pin1,puk1,pin2,puk2" | "pin1,pin2,puk1,puk2" (unconfirmed)
    pin2_left, puk2_left   the PIN2/PUK2 counters +SPIC reports (SimulatedSim has no PIN2)
    reg_quoted      n=2 registration replies with quoted hex LAC/CI (unconfirmed)
    reg_act         ... with a trailing <AcT> (unconfirmed)
    act             access technology (7: E-UTRAN)
    lac, ci         location area / tracking area code and cell id
    roaming         registration stat 5 instead of 1
    rssi, ber       +CSQ values at power-on
    operator        +COPS name
    manufacturer, model, revision   ATI / AT+CGMI / AT+CGMM / AT+CGMR
    ip_addr         the address +IPADDR reports
    apn_required    if set, AT+NETOPEN fails (+NETOPEN: 1) unless CID 1 has this APN
    bind_host       host address UDP sockets bind to
    honour_local_port  bind the local port AT+CIPOPEN names (default: any free
                    port, as a carrier NAT would show it)
    address_map     {address the firmware uses: real host address} for
                    CIPOPEN/CIPSEND; RECV FROM shows the firmware's address
    udp_ok_first    UDP AT+CIPOPEN answers OK before +CIPOPEN: <l>,0 (default:
                    +CIPOPEN first, as in the SIMCom TCP/IP application note) (choice)
    netopen_stale   after +CIPEVENT: NETWORK CLOSED UNEXPECTEDLY, AT+NETOPEN?
                    still says 1 until AT+NETCLOSE (MODEMS: "after CIPEVENT:
                    NETOPEN? then NETCLOSE and reopen") (choice)
    cmee            +CME ERROR form after boot: 0 plain ERROR, 1 numeric, 2 text
    cnmi            AT+CNMI setting after boot
    sms_first_index first SM storage index (+CMTI: "SM",0 on SIM7600 logs)
    sms_capacity    SM storage slots
    smsc_number     SMSC address in SMS-DELIVER PDUs and +CSCA
    nosim_urc       URC after RDY when no card is inserted (choice), None: none
    """

    def __init__(self, **kw):
        self.echo = True
        self.boot_time = 0.0
        self.reset_time = 0.0
        self.urc_gap = 0.0
        self.reg_delay = 0.0
        self.netopen_delay = 0.0
        self.connect_timeout = 15.0
        self.spic_order = "pin1,puk1,pin2,puk2"
        self.pin2_left = 3
        self.puk2_left = 10
        self.reg_quoted = True
        self.reg_act = True
        self.act = 7
        self.lac = 0x1816
        self.ci = 0xAC99201
        self.roaming = False
        self.rssi = 23
        self.ber = 99
        self.operator = "CHINA MOBILE"
        self.manufacturer = "SIMCOM INCORPORATED"
        self.model = "SIMCOM_SIM7600CE"
        self.revision = "LE11B08SIM7600CE-A"
        self.ip_addr = "10.71.34.127"
        self.apn_required = None
        self.bind_host = "127.0.0.1"
        self.honour_local_port = False
        self.address_map = {}
        self.udp_ok_first = False
        self.netopen_stale = True
        self.cmee = 1
        self.cnmi = (2, 1, 0, 0, 0)
        self.sms_first_index = 0
        self.sms_capacity = 20
        self.smsc_number = "+8613800100500"
        self.nosim_urc = "+CPIN: SIM REMOVED"
        for k, v in kw.items():
            if not hasattr(self, k):
                raise TypeError("unknown SIM7600 option %r" % k)
            setattr(self, k, v)
        if self.spic_order not in ("pin1,puk1,pin2,puk2", "pin1,pin2,puk1,puk2"):
            raise ValueError("spic_order must be pin1,puk1,pin2,puk2 or pin1,pin2,puk1,puk2")


class _Final(Exception):
    """End the command with information `lines` and the final result `final`."""

    def __init__(self, final="ERROR", lines=()):
        super().__init__(final)
        self.final = final
        self.lines = list(lines)


class _Link:
    """One of the ten socket links."""

    def __init__(self, idx, proto):
        self.idx = idx
        self.proto = proto          # "TCP" / "UDP"
        self.sock = None
        self.remote = None          # TCP peer / UDP default peer, as the firmware named it
        self.opening = True
        self.closed = False
        self.rxbuf = bytearray()    # AT+CIPRXGET=1 mode
        self.task = None


def _default_sim():
    return S.SimulatedSim("460001234567890", "89860012345678901234", "860000000000001",
                          pin_enabled=False)


class Sim7600:
    """The emulated module.  attach(sink) sets where its output goes (sink(bytes)),
    feed(bytes) is what the host writes.  See the module docstring."""

    def __init__(self, sim=None, msisdn="13800000001", smsc=None, options=None, rng=None,
                 trace=None, **kw):
        if options is None:
            options = Options(**kw)
        elif kw:
            raise TypeError("give options or keyword options, not both")
        if msisdn is not None and not valid_msisdn(msisdn):
            raise ValueError("bad msisdn %r" % (msisdn,))
        self.o = options
        self.sim = sim if sim is not None else _default_sim()
        self.msisdn = msisdn
        self.smsc_addr = smsc
        self.rng = rng if rng is not None else random.Random()
        self.faults = OutputFaults(self.rng)
        self.trace = trace                  # trace(direction "<" host->module / ">" module->host, bytes)
        self._sink = None
        self._loop = None
        self._closed = False
        # power and processing
        self.powered = False
        self._listening = False
        self._rx = bytearray()
        self._rx_ev = asyncio.Event()
        self._echoed = 0
        self.overruns = 0                   # host bytes lost (UART overrun, module off)
        self._proc = None
        self._tasks = set()                 # die with a reboot
        self._ctl = set()                   # fault timers: die with close()
        self._wq = collections.deque()      # (due, data) delayed output
        self._wq_due = 0.0
        self._wq_task = None
        self._reboot_on = []                # [prefix, count]
        self.boots = 0
        # radio
        self.rssi = options.rssi
        self.ber = options.ber
        self.outage = False
        # SMS
        self._store = {}                    # index -> [stat, pdu bytes, tpdu length]
        self._incoming = collections.deque(maxlen=INCOMING_MAX)   # (sender, data, scts) not stored yet
        self._mr = 0
        self._smsc_client = None
        self._smsc_task = None
        self.sms_sent = []                  # (to, data) submitted to the SMS centre
        self._reset_state()

    # ------------------------------------------------------------------ wiring

    def attach(self, sink):
        """Send the module's output to sink(bytes) (replaces the previous sink)."""
        self._sink = sink

    def detach(self, sink=None):
        if sink is None or self._sink == sink:
            self._sink = None

    def feed(self, data):
        """Bytes from the host's TX line."""
        if self.trace is not None and data:
            self.trace("<", bytes(data))
        if not self._listening:
            self.overruns += len(data)
            return
        room = RX_MAX - len(self._rx)
        if len(data) > room:
            self.overruns += len(data) - room
            data = data[:room]
        self._rx += data
        self._rx_ev.set()

    def inject(self, data):
        """Raw bytes on the module's TX line (noise, a line of garbage)."""
        self._write(bytes(data), echo=True)

    async def start(self, power=True):
        """Start (connect to the SMS centre if one is given) and power on."""
        self._loop = asyncio.get_running_loop()
        if self.smsc_addr is not None and self._smsc_task is None:
            self._smsc_task = self._loop.create_task(self._smsc_loop())
        if power:
            self.power_on()
        return self

    async def close(self):
        self._closed = True
        self._shutdown()
        for t in list(self._ctl):
            t.cancel()
        if self._smsc_task is not None:
            self._smsc_task.cancel()
            try:
                await self._smsc_task
            except (asyncio.CancelledError, Exception):
                pass
            self._smsc_task = None
        if self._smsc_client is not None:
            await self._smsc_client.close()
            self._smsc_client = None
        if self._wq_task is not None:
            self._wq_task.cancel()
        await asyncio.sleep(0)

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.close()

    # ------------------------------------------------------------------ power

    def power_on(self, boot_time=None):
        """The PWRKEY pulse: boot URCs after boot_time s (ignored if already on)."""
        if self.powered:
            return
        self._loop = self._loop or asyncio.get_running_loop()
        self.powered = True
        self._spawn(self._boot(self.o.boot_time if boot_time is None else boot_time))

    def power_off(self):
        """Power removed (or AT+CPOF): the module goes silent."""
        self._shutdown()

    def reboot(self, boot_time=None):
        """The module restarts now (a crash, a brown-out, AT+CRESET): no reply to
        the command in progress, sockets and network closed, boot URCs again."""
        self._shutdown()
        self.power_on(self.o.reset_time if boot_time is None else boot_time)

    def reboot_after(self, seconds, boot_time=None):
        """Schedule reboot() in `seconds`."""
        self._control(self._later(seconds, lambda: self.reboot(boot_time)))

    def reboot_on(self, prefix, count=1):
        """Reboot instead of answering the next `count` commands starting with
        `prefix` (e.g. "AT+CIPSEND": mid-session, before any reply)."""
        self._reboot_on.append([prefix.upper(), count])

    def _reset_state(self):
        """Settings a power cycle restores."""
        self.echo = self.o.echo
        self.cmee = self.o.cmee
        self.cmgf = 0
        self.cnmi = tuple(self.o.cnmi)
        self.creg_n = self.cgreg_n = self.cereg_n = 0
        self.cipsrip = 1
        self.rxget = 0
        self.cfun = 1
        self.ps_detached = False
        self.pdp = {}
        self.booted = False
        self.sim_up = False             # the card reported ready (+CPIN: READY) since boot/swap
        self.sms_ready = False
        self.net_open = False
        self.net_opening = False
        self.net_broken = False
        self.links = [None] * LINKS
        self._reg_done = False
        self._reg_timer = None
        self._reported = (None, None)

    def _shutdown(self):
        self.powered = False
        self._listening = False
        for t in list(self._tasks):     # the current task too (AT+CRESET runs in the
            t.cancel()                  # command task): it ends at its next await
        self._tasks.clear()
        self._proc = None
        for lk in self.links:
            if lk is not None:
                self._drop_link(lk)
        self._rx.clear()
        self._echoed = 0
        self.sim.power_cycle()
        self._reset_state()

    async def _boot(self, delay):
        if delay:
            await asyncio.sleep(delay)
        self.boots += 1
        self._reset_state()
        self._listening = True
        self.booted = True
        self._proc = self._spawn(self._process())
        self._line("RDY")
        await self._gap()
        st = self.sim.pin_state()
        if st == S.NO_SIM:
            if self.o.nosim_urc:
                self._line(self.o.nosim_urc)
        elif st == S.READY:
            await self._sim_ready_urcs()
        elif st in (S.SIM_PIN, S.SIM_PUK):
            self._line("+CPIN: " + st)
        self._reg_check()

    async def _gap(self):
        if self.o.urc_gap:
            await asyncio.sleep(self.o.urc_gap)

    async def _sim_ready_urcs(self):
        """+CPIN: READY, SMS DONE, PB DONE: the card is usable (at boot, after
        the PIN or PUK, after a swap)."""
        self._line("+CPIN: READY")
        self.sim_up = True
        self._reg_check()
        await self._gap()
        self.sms_ready = True
        self._line("SMS DONE")
        await self._gap()
        self._line("PB DONE")
        self._flush_sms()

    # ------------------------------------------------------------------ tasks

    def _spawn(self, coro):
        t = (self._loop or asyncio.get_running_loop()).create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._task_done)
        return t

    def _control(self, coro):
        t = (self._loop or asyncio.get_running_loop()).create_task(coro)
        self._ctl.add(t)
        t.add_done_callback(self._ctl.discard)
        return t

    def _task_done(self, t):
        self._tasks.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("emulator task failed", exc_info=t.exception())

    async def _later(self, seconds, fn):
        await asyncio.sleep(seconds)
        fn()

    # ------------------------------------------------------------------ output

    def _write(self, data, key=None, echo=False):
        hold = 0.0
        if not echo:
            data, hold = self.faults.apply(data, key)
            if data is None:
                return
        if hold > 0 or self._wq:
            loop = self._loop or asyncio.get_running_loop()
            due = max(loop.time() + hold, self._wq_due)
            self._wq_due = due
            self._wq.append((due, data))
            if self._wq_task is None:
                self._wq_task = loop.create_task(self._drain_wq())
        else:
            self._deliver(data)

    async def _drain_wq(self):
        loop = asyncio.get_running_loop()
        try:
            while self._wq:
                due, data = self._wq[0]
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                self._wq.popleft()
                self._deliver(data)
        finally:
            self._wq_task = None

    def _deliver(self, data):
        if self.trace is not None:
            self.trace(">", data)
        if self._sink is not None:
            self._sink(data)

    def _line(self, text):
        """One framed line: result, information or URC."""
        b = text.encode("latin-1")
        self._write(b"\r\n" + b + b"\r\n", b)

    def _final(self, final):
        self._line(final)

    def _cme(self, code):
        if self.cmee == 0:
            return _Final("ERROR")
        if self.cmee == 2:
            return _Final("+CME ERROR: " + CME_TEXT.get(code, "unknown"))
        return _Final("+CME ERROR: %d" % code)

    @staticmethod
    def _cms(code):
        return _Final("+CMS ERROR: %d" % code)

    # ------------------------------------------------------------------ input

    async def _wait_rx(self):
        self._rx_ev.clear()
        await self._rx_ev.wait()

    def _echo_upto(self, end):
        """Echo host bytes [_echoed, end) when echo is on (command mode only)."""
        if end > self._echoed:
            if self.echo:
                self._write(bytes(self._rx[self._echoed:end]), echo=True)
            self._echoed = end

    async def _read_line(self):
        """The next command line (text up to CR, echoed as it is consumed)."""
        while True:
            k = self._rx.find(b"\r")
            if k < 0:
                self._echo_upto(len(self._rx))
                if len(self._rx) > LINE_MAX:            # no CR for ages: drop it
                    del self._rx[:len(self._rx)]
                    self._echoed = 0
                await self._wait_rx()
                continue
            self._echo_upto(k + 1)
            raw = bytes(self._rx[:k])
            end = k + 1
            if end < len(self._rx) and self._rx[end] == 0x0A:     # CR LF from the host
                self._echo_upto(end + 1)
                end += 1
            del self._rx[:end]
            self._echoed = 0
            line = bytearray()
            for c in raw:
                if c == BS:
                    if line:
                        line.pop()
                elif c >= 0x20 or c == 0x09:
                    line.append(c)
            return line.decode("latin-1")

    async def _read_exact(self, n):
        while len(self._rx) < n:
            await self._wait_rx()
        data = bytes(self._rx[:n])
        del self._rx[:n]
        self._echoed = 0
        return data

    async def _read_until_ctrl_z(self):
        """SMS PDU input: hex up to Ctrl-Z (-> text) or ESC (-> None); echoed."""
        while True:
            z = self._rx.find(bytes((CTRL_Z,)))
            e = self._rx.find(bytes((ESC,)))
            ends = [x for x in (z, e) if x >= 0]
            if not ends:
                self._echo_upto(len(self._rx))
                await self._wait_rx()
                continue
            k = min(ends)
            self._echo_upto(k)
            text = bytes(self._rx[:k])
            del self._rx[:k + 1]
            self._echoed = 0
            return None if k == e else text.decode("latin-1")

    # ------------------------------------------------------------------ commands

    async def _process(self):
        while True:
            line = await self._read_line()
            m = _PREFIX.search(line)        # V.250 5.2.1: "AT" or "at"; noise before it is skipped
            if m is None:
                continue                    # no AT prefix: the module ignores the line
            s = line[m.start():]
            if self._reboot_trigger(s):
                self._loop.call_soon(self.reboot)
                await asyncio.sleep(3600)    # cancelled by the reboot
            try:
                await self._execute(s[2:])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("command %r failed in the emulator", s)
                self._final("ERROR")

    def _reboot_trigger(self, s):
        up = s.upper()
        for r in self._reboot_on:
            if up.startswith(r[0]):
                r[1] -= 1
                if r[1] <= 0:
                    self._reboot_on.remove(r)
                return True
        return False

    async def _execute(self, body):
        cmds = L.split_commands(body)
        if cmds is None:
            self._final("ERROR")
            return
        after = []
        for cmd in cmds:
            try:
                r = await self._dispatch(cmd)
            except _Final as f:
                for ln in f.lines:
                    self._line(ln)
                self._final(f.final)
                return
            if r is not None:
                after.append(r)
        self._final("OK")
        for fn in after:
            fn()

    async def _dispatch(self, cmd):
        if cmd.startswith("+"):
            name, mode, args = L.parse_extended(cmd)
            fn = getattr(self, "_x_" + name[1:].lower(), None) if name[1:].isalnum() else None
            if fn is None or mode is None:
                raise _Final("ERROR")
            argv = L.split_args(args) if mode == L.SET else []
            if argv is None:
                raise _Final("ERROR")
            return await fn(mode, argv)
        basics = L.split_basic(cmd)
        if basics is None:
            raise _Final("ERROR")
        for name, digits in basics:
            fn = getattr(self, "_b_" + name.replace("&", "amp_").lower(), None)
            if fn is None:
                raise _Final("ERROR")
            fn(digits)
        return None

    # -- argument helpers ---------------------------------------------------

    @staticmethod
    def _int(v, lo=None, hi=None):
        try:
            n = int(v)
        except (TypeError, ValueError):
            raise _Final("ERROR")
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise _Final("ERROR")
        return n

    @staticmethod
    def _only(mode, *modes):
        if mode not in modes:
            raise _Final("ERROR")

    # -- basic commands -----------------------------------------------------

    def _b_e(self, d):
        if d not in ("", "0", "1"):
            raise _Final("ERROR")
        self.echo = d == "1"

    def _b_i(self, d):
        if d not in ("", "0"):
            raise _Final("ERROR")
        for ln in ("Manufacturer: " + self.o.manufacturer, "Model: " + self.o.model,
                   "Revision: " + self.o.revision, "IMEI: " + self.sim.imei(),
                   "+GCAP: +CGSM"):
            self._line(ln)

    def _b_z(self, d):
        self.echo = self.o.echo
        self.cmee = self.o.cmee

    _b_amp_f = _b_z

    def _b_amp_w(self, d):
        pass

    def _b_v(self, d):
        if d not in ("", "1"):
            raise _Final("ERROR")       # numeric result codes are not emulated

    def _b_q(self, d):
        if d not in ("", "0"):
            raise _Final("ERROR")

    # -- identity -----------------------------------------------------------

    async def _x_cgmi(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            self._line(self.o.manufacturer)

    async def _x_cgmm(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            self._line(self.o.model)

    async def _x_cgmr(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            self._line("+CGMR: " + self.o.revision)

    async def _x_cgsn(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            self._line(self.sim.imei())

    _x_gsn = _x_cgsn

    async def _x_cimi(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            try:
                self._line(self.sim.imsi())
            except (S.SimError, WmmpError) as e:
                raise self._sim_error(e)

    async def _x_ciccid(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            try:
                self._line("+ICCID: " + self.sim.iccid())
            except S.SimError as e:
                raise self._sim_error(e)

    async def _x_cmee(self, mode, a):
        if mode == L.READ:
            self._line("+CMEE: %d" % self.cmee)
        elif mode == L.SET:
            self.cmee = self._int(a[0], 0, 2)
        elif mode == L.TEST:
            self._line("+CMEE: (0-2)")
        else:
            raise _Final("ERROR")

    async def _x_ipr(self, mode, a):
        if mode == L.READ:
            self._line("+IPR: 115200")
        elif mode == L.SET:
            self._int(a[0], 0, 4000000)
        elif mode != L.TEST:
            raise _Final("ERROR")

    _x_iprex = _x_ipr                   # persistent variant (unconfirmed): accepted

    async def _x_csclk(self, mode, a):
        if mode == L.READ:
            self._line("+CSCLK: 0")
        elif mode == L.SET:
            self._int(a[0], 0, 2)
        elif mode != L.TEST:
            raise _Final("ERROR")

    # -- SIM ----------------------------------------------------------------

    def _sim_error(self, e):
        """SimError / BadValue -> the +CME ERROR a module reports."""
        if isinstance(e, S.NoSim):
            return self._cme(CME_NO_SIM)
        if isinstance(e, S.PinRequired):
            return self._cme(CME_SIM_PIN)
        if isinstance(e, S.PukRequired):
            return self._cme(CME_SIM_PUK)
        if isinstance(e, S.SimBlocked):
            return self._cme(CME_SIM_FAILURE)
        if isinstance(e, (S.WrongPin, S.WrongPuk)):
            return self._cme(CME_BAD_PASSWORD)
        if isinstance(e, BadValue):
            return self._cme(CME_BAD_PARAMS)
        return self._cme(CME_NOT_ALLOWED)

    def _sim_changed(self, was_ready):
        """After a PIN operation: URCs when the card became usable, registration."""
        if not was_ready and self.sim.pin_state() == S.READY:
            self._spawn(self._sim_ready_urcs())
        else:
            self._reg_check()

    async def _x_cpin(self, mode, a):
        st = self.sim.pin_state()
        if mode == L.TEST:
            return None
        if mode == L.READ:
            if st == S.NO_SIM:
                raise self._cme(CME_NO_SIM)
            if st == S.BLOCKED:
                raise self._cme(CME_SIM_FAILURE)
            self._line("+CPIN: " + st)
            return None
        if mode != L.SET or not a or a[0] is None or len(a) > 2:
            raise _Final("ERROR")
        was_ready = st == S.READY
        try:
            if st == S.SIM_PUK:
                if len(a) < 2 or a[1] is None:
                    raise self._cme(CME_SIM_PUK)
                self.sim.enter_puk(str(a[0]), str(a[1]))
            elif st == S.READY:
                raise self._cme(CME_NOT_ALLOWED)       # 27.007: no PIN request pending
            else:
                self.sim.enter_pin(str(a[0]))
        except (S.SimError, BadValue) as e:
            self._sim_changed(was_ready)
            raise self._sim_error(e)
        self._sim_changed(was_ready)
        return None

    async def _x_spic(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.TEST:
            return None
        try:
            pin1, puk1 = self.sim.attempts()
        except S.SimError as e:
            raise self._sim_error(e)
        if self.o.spic_order == "pin1,puk1,pin2,puk2":
            v = (pin1, puk1, self.o.pin2_left, self.o.puk2_left)
        else:
            v = (pin1, self.o.pin2_left, puk1, self.o.puk2_left)
        self._line("+SPIC: %d,%d,%d,%d" % v)

    async def _x_clck(self, mode, a):
        if mode == L.TEST:
            self._line('+CLCK: ("SC")')
            return None
        if mode != L.SET or len(a) < 2:
            raise _Final("ERROR")
        if (a[0] or "").upper() != "SC":
            raise self._cme(CME_NOT_SUPPORTED)
        op = self._int(a[1], 0, 2)
        st = self.sim.pin_state()
        try:
            if op == 2:
                self._line("+CLCK: %d" % (1 if self.sim.pin_enabled() else 0))
                return None
            if len(a) < 3 or a[2] is None:
                raise self._cme(CME_BAD_PARAMS)
            self.sim.set_pin_enabled(op == 1, str(a[2]))
        except (S.SimError, BadValue) as e:
            self._sim_changed(st == S.READY)
            raise self._sim_error(e)
        self._sim_changed(st == S.READY)
        return None

    async def _x_cpwd(self, mode, a):
        if mode == L.TEST:
            self._line('+CPWD: ("SC",8)')
            return None
        if mode != L.SET or len(a) < 3 or a[1] is None or a[2] is None:
            raise _Final("ERROR")
        if (a[0] or "").upper() != "SC":
            raise self._cme(CME_NOT_SUPPORTED)
        st = self.sim.pin_state()
        try:
            self.sim.change_pin(str(a[1]), str(a[2]))
        except (S.SimError, BadValue) as e:
            self._sim_changed(st == S.READY)
            raise self._sim_error(e)
        return None

    # -- radio and registration ---------------------------------------------

    def _cs_stat(self):
        if not (self.booted and self.sim_up and self.cfun == 1
                and self.sim.pin_state() == S.READY):
            return 0
        if self.rssi == 99 or not self._reg_done:
            return 2
        return 5 if self.o.roaming else 1

    def _ps_stat(self):
        st = self._cs_stat()
        if st in (1, 5):
            if self.ps_detached:
                return 0
            if self.outage:
                return 2
        return st

    def registered(self):
        return self._cs_stat() in (1, 5)

    def attached(self):
        return self._ps_stat() in (1, 5)

    def _reg_check(self):
        """Re-evaluate registration after any change (SIM, signal, radio,
        outage) and report it: URCs, lost sockets, SMS waiting."""
        can = (self.booted and self.sim_up and self.cfun == 1 and self.rssi != 99
               and self.sim.pin_state() == S.READY)
        if not can:
            self._reg_done = False
            if self._reg_timer is not None:
                self._reg_timer.cancel()
                self._reg_timer = None
        elif not self._reg_done and self._reg_timer is None:
            if self.o.reg_delay:
                self._reg_timer = self._spawn(self._later(self.o.reg_delay, self._reg_complete))
            else:
                self._reg_done = True
        self._report_reg()

    def _reg_complete(self):
        self._reg_timer = None
        self._reg_done = True
        self._report_reg()

    def _report_reg(self):
        cs, ps = self._cs_stat(), self._ps_stat()
        old_cs, old_ps = self._reported
        self._reported = (cs, ps)
        if cs != old_cs and old_cs is not None and self.creg_n:
            self._line("+CREG: " + self._reg_fields(cs, self.creg_n, False))
        if ps != old_ps and old_ps is not None:
            if self.cgreg_n:
                self._line("+CGREG: " + self._reg_fields(ps, self.cgreg_n, False))
            if self.cereg_n:
                self._line("+CEREG: " + self._reg_fields(ps, self.cereg_n, False))
        if ps not in (1, 5):
            self._network_lost()
        if cs in (1, 5):
            self._flush_sms()

    def _reg_fields(self, stat, n, with_n):
        parts = [str(n)] if with_n else []
        parts.append(str(stat))
        if n == 2 and stat in (1, 5):
            if self.o.reg_quoted:
                parts += ['"%04X"' % self.o.lac, '"%X"' % self.o.ci]
            else:
                parts += ["%04X" % self.o.lac, "%X" % self.o.ci]
            if self.o.reg_act:
                parts.append(str(self.o.act))
        return ",".join(parts)

    def _reg_cmd(self, mode, a, attr, name, stat):
        if mode == L.READ:
            n = getattr(self, attr)
            self._line("%s: %s" % (name, self._reg_fields(stat, n, True)))
        elif mode == L.SET:
            setattr(self, attr, self._int(a[0], 0, 2))
        elif mode == L.TEST:
            self._line("%s: (0-2)" % name)
        else:
            raise _Final("ERROR")

    async def _x_creg(self, mode, a):
        self._reg_cmd(mode, a, "creg_n", "+CREG", self._cs_stat())

    async def _x_cgreg(self, mode, a):
        self._reg_cmd(mode, a, "cgreg_n", "+CGREG", self._ps_stat())

    async def _x_cereg(self, mode, a):
        self._reg_cmd(mode, a, "cereg_n", "+CEREG", self._ps_stat())

    async def _x_csq(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            self._line("+CSQ: %d,%d" % (self.rssi, self.ber))
        else:
            self._line("+CSQ: (0-31,99),(0-7,99)")

    async def _x_cops(self, mode, a):
        if mode == L.READ:
            if self.registered():
                self._line('+COPS: 0,0,"%s",%d' % (self.o.operator, self.o.act))
            else:
                self._line("+COPS: 0")
        elif mode not in (L.SET, L.TEST):
            raise _Final("ERROR")

    async def _x_cpsi(self, mode, a):
        self._only(mode, L.READ, L.TEST)
        if mode == L.TEST:
            return
        if not self.registered():
            self._line("+CPSI: NO SERVICE,Online")
            return
        imsi = self.sim.imsi()
        rssi_dbm = -113 + 2 * self.rssi
        self._line("+CPSI: LTE,Online,%s-%s,0x%04X,%d,266,EUTRAN-BAND3,1650,5,5,-90,%d,%d,13"
                   % (imsi[:3], imsi[3:5], self.o.lac, self.o.ci, (rssi_dbm - 25) * 10,
                      rssi_dbm * 10))

    async def _x_cfun(self, mode, a):
        if mode == L.READ:
            self._line("+CFUN: %d" % self.cfun)
            return None
        if mode == L.TEST:
            self._line("+CFUN: (0,1,4),(0-1)")
            return None
        if mode != L.SET:
            raise _Final("ERROR")
        fun = self._int(a[0])
        rst = self._int(a[1], 0, 1) if len(a) > 1 and a[1] is not None else 0
        if fun not in (0, 1, 4):
            raise _Final("ERROR")
        if rst:
            if fun != 1:
                raise _Final("ERROR")
            return self.reboot
        self.cfun = fun
        return self._reg_check

    async def _x_creset(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            return self.reboot

    async def _x_cpof(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            return self.power_off

    # -- packet data --------------------------------------------------------

    async def _x_cgatt(self, mode, a):
        if mode == L.READ:
            self._line("+CGATT: %d" % (1 if self.attached() else 0))
            return None
        if mode == L.TEST:
            self._line("+CGATT: (0,1)")
            return None
        if mode != L.SET:
            raise _Final("ERROR")
        on = self._int(a[0], 0, 1)
        if on and not self.registered():
            raise self._cme(CME_NO_NETWORK)
        self.ps_detached = not on
        return self._reg_check

    async def _x_cgdcont(self, mode, a):
        if mode == L.READ:
            for cid in sorted(self.pdp):
                t, apn = self.pdp[cid]
                self._line('+CGDCONT: %d,"%s","%s","0.0.0.0",0,0' % (cid, t, apn))
        elif mode == L.SET:
            cid = self._int(a[0], 1, 24)
            if len(a) == 1:
                self.pdp.pop(cid, None)
                return
            t = (a[1] or "IP").upper()
            if t not in ("IP", "IPV6", "IPV4V6"):
                raise _Final("ERROR")
            self.pdp[cid] = (t, a[2] if len(a) > 2 and a[2] is not None else "")
        elif mode == L.TEST:
            self._line('+CGDCONT: (1-24),"IP",,,(0-2),(0-4)')
        else:
            raise _Final("ERROR")

    async def _x_cgauth(self, mode, a):
        if mode not in (L.SET, L.TEST, L.READ):
            raise _Final("ERROR")

    async def _x_cgpaddr(self, mode, a):
        if mode in (L.EXEC, L.SET):
            self._line("+CGPADDR: 1,%s" % (self.o.ip_addr if self.attached() else "0.0.0.0"))
        elif mode != L.TEST:
            raise _Final("ERROR")

    async def _x_cipmode(self, mode, a):
        if mode == L.READ:
            self._line("+CIPMODE: 0")
        elif mode == L.SET and self._int(a[0], 0, 1) != 0:
            raise _Final("ERROR")                    # transparent mode is not emulated

    async def _x_cipccfg(self, mode, a):
        pass

    _x_ciptimeout = _x_cipccfg
    _x_cipsendmode = _x_cipccfg

    async def _x_cipsrip(self, mode, a):
        if mode == L.READ:
            self._line("+CIPSRIP: %d" % self.cipsrip)
        elif mode == L.SET:
            self.cipsrip = self._int(a[0], 0, 1)
        elif mode != L.TEST:
            raise _Final("ERROR")

    async def _x_netopen(self, mode, a):
        if mode == L.READ:
            self._line("+NETOPEN: %d" % (1 if self.net_open else 0))
            return None
        if mode == L.TEST:
            return None
        if mode != L.EXEC:
            raise _Final("ERROR")
        if self.net_open or self.net_opening:
            raise _Final("ERROR", ["+IP ERROR: Network is already opened"])
        self.net_opening = True
        return lambda: self._spawn(self._netopen_result())

    async def _netopen_result(self):
        if self.o.netopen_delay:
            await asyncio.sleep(self.o.netopen_delay)
        self.net_opening = False
        apn_ok = self.o.apn_required is None or self.pdp.get(1, ("", None))[1] == self.o.apn_required
        if self.attached() and apn_ok:
            self.net_open = True
            self.net_broken = False
            self._line("+NETOPEN: 0")
        else:
            self._line("+NETOPEN: %d" % ERR_NETWORK)

    async def _x_netclose(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.TEST:
            return None
        if not self.net_open:
            raise _Final("ERROR", ["+NETCLOSE: %d" % ERR_NOT_OPENED])
        for lk in self.links:
            if lk is not None:
                self._drop_link(lk)
        self.net_open = False
        self.net_broken = False
        return lambda: self._line("+NETCLOSE: 0")

    async def _x_ipaddr(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            if not self.net_open or self.net_broken:
                raise _Final("ERROR", ["+IP ERROR: Network not opened"])
            self._line("+IPADDR: " + self.o.ip_addr)

    def _network_lost(self):
        """The packet network went away under open sockets (outage, no signal,
        detach, SIM gone)."""
        if not self.net_open or self.net_broken:
            return
        for lk in self.links:
            if lk is not None:
                self._drop_link(lk)
        if self.o.netopen_stale:
            self.net_broken = True
        else:
            self.net_open = False
        self._line(NETWORK_CLOSED)

    def _route(self, host):
        return self.o.address_map.get(host, host)

    def _shown(self, host):
        for k, v in self.o.address_map.items():
            if v == host:
                return k
        return host

    async def _x_cipopen(self, mode, a):
        if mode == L.READ:
            for i, lk in enumerate(self.links):
                if lk is None or lk.opening:
                    self._line("+CIPOPEN: %d" % i)
                elif lk.remote is None:
                    self._line('+CIPOPEN: %d,"UDP"' % i)
                else:
                    self._line('+CIPOPEN: %d,"%s","%s",%d,-1'
                               % (i, lk.proto, lk.remote[0], lk.remote[1]))
            return None
        if mode == L.TEST:
            self._line('+CIPOPEN: (0-9),("TCP","UDP")')
            return None
        if mode != L.SET or len(a) < 2:
            raise _Final("ERROR")
        idx = self._int(a[0], 0, LINKS - 1)
        proto = (a[1] or "").upper()
        if proto not in ("TCP", "UDP"):
            raise _Final("ERROR")
        host = a[2] if len(a) > 2 else None
        port = self._int(a[3], 0, 65535) if len(a) > 3 and a[3] is not None else None
        lport = self._int(a[4], 0, 65535) if len(a) > 4 and a[4] is not None else None
        if proto == "TCP" and (not host or port is None):
            raise _Final("ERROR")
        if proto == "UDP" and lport is None:
            raise _Final("ERROR")                    # MODEMS "UDP": local port required
        if not self.net_open:
            raise _Final("ERROR", ["+CIPOPEN: %d,%d" % (idx, ERR_NOT_OPENED)])
        if self.links[idx] is not None:
            raise _Final("ERROR", ["+CIPOPEN: %d,%d" % (idx, ERR_NOT_SUPPORTED)])
        lk = _Link(idx, proto)
        if host and port is not None:
            lk.remote = (host, port)
        if self.net_broken:
            return lambda: self._line("+CIPOPEN: %d,%d" % (idx, ERR_NETWORK))
        self.links[idx] = lk
        if proto == "UDP":
            try:
                lk.sock = await UdpSocket.open(
                    lambda data, addr, lk=lk: self._on_data(lk, data, addr),
                    self.o.bind_host, lport if self.o.honour_local_port else 0)
            except OSError:
                self.links[idx] = None
                raise _Final("ERROR", ["+CIPOPEN: %d,%d" % (idx, ERR_BIND)])
            lk.opening = False
            if self.o.udp_ok_first:
                return lambda: self._line("+CIPOPEN: %d,0" % idx)
            self._line("+CIPOPEN: %d,0" % idx)
            return None
        return lambda: self._spawn(self._tcp_open(lk))

    async def _tcp_open(self, lk):
        host, port = lk.remote
        try:
            sock = await TcpSocket.connect(
                self._route(host), port,
                lambda data, addr: self._on_data(lk, data, addr),
                lambda: self._on_remote_close(lk),
                timeout=self.o.connect_timeout)
        except asyncio.TimeoutError:
            err = ERR_TIMEOUT
        except socket.gaierror:
            err = ERR_DNS
        except OSError:
            err = ERR_NETWORK
        else:
            if lk.closed or self.links[lk.idx] is not lk:     # closed / network lost meanwhile
                sock.close()
                return
            lk.sock = sock
            lk.opening = False
            self._line("+CIPOPEN: %d,0" % lk.idx)
            return
        if self.links[lk.idx] is lk:
            self.links[lk.idx] = None
            self._line("+CIPOPEN: %d,%d" % (lk.idx, err))

    def _drop_link(self, lk):
        """Close a link without any URC."""
        lk.closed = True
        if self.links[lk.idx] is lk:
            self.links[lk.idx] = None
        if lk.sock is not None:
            lk.sock.close()

    def _on_remote_close(self, lk):
        if lk.closed or self.links[lk.idx] is not lk:
            return
        self._drop_link(lk)
        self._line("+IPCLOSE: %d,1" % lk.idx)

    def _on_data(self, lk, data, addr):
        """Data from the network: pushed (+IPD) or buffered (AT+CIPRXGET=1)."""
        if lk.closed or not self._listening or self.links[lk.idx] is not lk:
            return
        if self.rxget:
            was_empty = not lk.rxbuf
            room = RXGET_MAX - len(lk.rxbuf)
            lk.rxbuf += data[:room]
            if was_empty and lk.rxbuf:
                self._line("+CIPRXGET: 1,%d" % lk.idx)
            return
        mv = memoryview(data)
        for i in range(0, len(data), IPD_MAX):
            chunk = bytes(mv[i:i + IPD_MAX])
            head = b"\r\n"
            if self.cipsrip:
                rf = ("RECV FROM:%s:%d" % (self._shown(addr[0]), addr[1])).encode()
                self._write(b"\r\n" + rf + b"\r\n", rf)
                head = b""
            hdr = b"+IPD%d" % len(chunk)
            self._write(head + hdr + b"\r\n" + chunk, hdr)

    async def _x_cipsend(self, mode, a):
        if mode == L.TEST:
            self._line("+CIPSEND: (0-9),(1-1500)")
            return None
        if mode != L.SET or len(a) < 2:
            raise _Final("ERROR")
        idx = self._int(a[0], 0, LINKS - 1)
        n = self._int(a[1], 1, SEND_MAX)
        lk = self.links[idx]
        if lk is None or lk.opening:
            raise _Final("+CIPERROR: 4")
        dest = None
        if lk.proto == "UDP":
            if len(a) >= 4 and a[2] is not None and a[3] is not None:
                dest = (a[2], self._int(a[3], 1, 65535))
            elif lk.remote is not None:
                dest = lk.remote
            else:
                raise _Final("ERROR")
        elif len(a) > 2:
            raise _Final("ERROR")
        self._write(b"\r\n>", b">")
        data = await self._read_exact(n)
        sent = -1
        if not lk.closed and lk.sock is not None:
            try:
                if dest is not None:
                    lk.sock.send(data, (self._route(dest[0]), dest[1]))
                else:
                    lk.sock.send(data)
                sent = n
            except (OSError, ConnectionError) as e:
                log.debug("send on link %d failed: %s", idx, e)
        return lambda: self._line("+CIPSEND: %d,%d,%d" % (idx, n, sent))

    async def _x_cipclose(self, mode, a):
        if mode == L.READ:
            self._line("+CIPCLOSE: " + ",".join(
                "1" if lk is not None and not lk.opening else "0" for lk in self.links))
            return None
        if mode == L.TEST:
            self._line("+CIPCLOSE: (0-9)")
            return None
        if mode != L.SET:
            raise _Final("ERROR")
        idx = self._int(a[0], 0, LINKS - 1)
        lk = self.links[idx]
        if lk is None:
            raise _Final("ERROR", ["+CIPCLOSE: %d,%d" % (idx, ERR_NOT_SUPPORTED)])
        self._drop_link(lk)
        return lambda: self._line("+CIPCLOSE: %d,0" % idx)

    async def _x_ciprxget(self, mode, a):
        if mode == L.READ:
            self._line("+CIPRXGET: %d" % self.rxget)
            return
        if mode == L.TEST:
            self._line("+CIPRXGET: (0-4),(0-9),(1-1500)")
            return
        if mode != L.SET:
            raise _Final("ERROR")
        op = self._int(a[0], 0, 4)
        if op in (0, 1):
            self.rxget = op
            return
        if op == 3:
            raise _Final("ERROR")                    # hex read mode is not emulated
        idx = self._int(a[1] if len(a) > 1 else None, 0, LINKS - 1)
        lk = self.links[idx]
        if not self.rxget or lk is None:
            raise _Final("ERROR")
        if op == 4:
            self._line("+CIPRXGET: 4,%d,%d" % (idx, len(lk.rxbuf)))
            return
        want = self._int(a[2], 1, SEND_MAX) if len(a) > 2 and a[2] is not None else SEND_MAX
        chunk = bytes(lk.rxbuf[:want])
        del lk.rxbuf[:len(chunk)]
        hdr = b"+CIPRXGET: 2,%d,%d,%d" % (idx, len(chunk), len(lk.rxbuf))
        self._write(b"\r\n" + hdr + b"\r\n" + chunk, hdr)

    # -- SMS ----------------------------------------------------------------

    def _sms_state(self):
        """+CMS ERROR for SMS commands the SIM state forbids."""
        st = self.sim.pin_state()
        if st == S.NO_SIM:
            raise self._cms(CMS_NO_SIM)
        if st == S.SIM_PIN:
            raise self._cms(CMS_SIM_PIN)
        if st == S.SIM_PUK:
            raise self._cms(CMS_SIM_PUK)
        if st == S.BLOCKED:
            raise self._cms(CMS_SIM_FAILURE)
        if not self.sms_ready:
            raise self._cms(CMS_SIM_BUSY)

    def _need_pdu_mode(self):
        if self.cmgf != 0:
            raise self._cms(CMS_NOT_SUPPORTED)       # text mode is not emulated

    async def _x_cmgf(self, mode, a):
        if mode == L.READ:
            self._line("+CMGF: %d" % self.cmgf)
        elif mode == L.SET:
            self.cmgf = self._int(a[0], 0, 1)
        elif mode == L.TEST:
            self._line("+CMGF: (0-1)")
        else:
            raise _Final("ERROR")

    async def _x_cnmi(self, mode, a):
        if mode == L.READ:
            self._line("+CNMI: %d,%d,%d,%d,%d" % self.cnmi)
        elif mode == L.SET:
            vals = list(self.cnmi)
            for i, v in enumerate(a[:5]):
                if v is not None:
                    vals[i] = self._int(v, 0, 3)
            self.cnmi = tuple(vals)
        elif mode == L.TEST:
            self._line("+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)")
        else:
            raise _Final("ERROR")

    async def _x_cpms(self, mode, a):
        used, cap = len(self._store), self.o.sms_capacity
        if mode == L.READ:
            self._sms_state()
            self._line('+CPMS: "SM",%d,%d,"SM",%d,%d,"SM",%d,%d' % ((used, cap) * 3))
        elif mode == L.SET:
            self._sms_state()
            for v in a:
                if v is not None and v.upper() != "SM":
                    raise self._cms(CMS_NOT_SUPPORTED)
            self._line("+CPMS: %d,%d,%d,%d,%d,%d" % ((used, cap) * 3))
        elif mode == L.TEST:
            self._line('+CPMS: ("SM"),("SM"),("SM")')
        else:
            raise _Final("ERROR")

    async def _x_csca(self, mode, a):
        if mode == L.READ:
            num = self.o.smsc_number
            self._line('+CSCA: "%s",%d' % (num, 145 if num.startswith("+") else 129))
        elif mode == L.SET:
            if not a or a[0] is None:
                raise _Final("ERROR")
            self.o.smsc_number = str(a[0])
        elif mode != L.TEST:
            raise _Final("ERROR")

    async def _x_cscs(self, mode, a):
        if mode == L.READ:
            self._line('+CSCS: "IRA"')
        elif mode == L.TEST:
            self._line('+CSCS: ("IRA","GSM","UCS2")')

    async def _x_cmgs(self, mode, a):
        if mode == L.TEST:
            return None
        if mode != L.SET or not a:
            raise _Final("ERROR")
        self._need_pdu_mode()
        self._sms_state()
        n = self._int(a[0])
        if not 7 <= n <= TPDU_MAX:
            raise self._cms(CMS_BAD_PDU)
        self._write(b"\r\n> ", b">")
        text = await self._read_until_ctrl_z()
        if text is None:                             # ESC: sending cancelled (27.005 3.5.1)
            return None
        try:
            sms = PDU.decode(text, has_smsc=True, tpdu_len=n)
        except WmmpError:
            raise self._cms(CMS_BAD_PDU)
        if sms.type != PDU.SUBMIT:
            raise self._cms(CMS_BAD_PDU)
        if not self.registered():
            raise self._cms(CMS_NO_SERVICE)
        data = sms.data if isinstance(sms.data, bytes) else sms.data.encode("utf-8")
        client = self._smsc_client
        if client is None or not client.is_connected:
            raise self._cms(CMS_NET_TIMEOUT)
        try:
            reply = await client.submit(sms.destination, data)
        except (ConnectionError, OSError, asyncio.TimeoutError, ValueError):
            raise self._cms(CMS_NET_TIMEOUT)
        if reply.get("status") == "rejected":
            raise self._cms(CMS_UNKNOWN)
        self.sms_sent.append((sms.destination, data))
        mr = self._mr
        self._mr = (self._mr + 1) & 0xFF
        self._line("+CMGS: %d" % mr)
        return None

    def _index_range(self):
        first = self.o.sms_first_index
        return range(first, first + self.o.sms_capacity)

    async def _x_cmgr(self, mode, a):
        if mode == L.TEST:
            return
        if mode != L.SET or not a:
            raise _Final("ERROR")
        self._need_pdu_mode()
        self._sms_state()
        idx = self._int(a[0])
        if idx not in self._index_range():
            raise self._cms(CMS_BAD_INDEX)
        ent = self._store.get(idx)
        if ent is None:
            return                                   # empty slot: just OK (choice)
        self._line("+CMGR: %d,,%d" % (ent[0], ent[2]))
        self._line(PDU.to_hex(ent[1]))
        if ent[0] == 0:
            ent[0] = 1                               # REC UNREAD -> REC READ

    async def _x_cmgl(self, mode, a):
        if mode == L.TEST:
            self._line("+CMGL: (0-4)")
            return
        if mode not in (L.SET, L.EXEC):
            raise _Final("ERROR")
        self._need_pdu_mode()
        self._sms_state()
        want = self._int(a[0], 0, 4) if a and a[0] is not None else 0
        for idx in sorted(self._store):
            ent = self._store[idx]
            if want == 4 or ent[0] == want:
                self._line("+CMGL: %d,%d,,%d" % (idx, ent[0], ent[2]))
                self._line(PDU.to_hex(ent[1]))
                if ent[0] == 0:
                    ent[0] = 1

    async def _x_cmgd(self, mode, a):
        if mode == L.TEST:
            self._line("+CMGD: (%d-%d),(0-4)" % (self._index_range()[0], self._index_range()[-1]))
            return
        if mode != L.SET or not a:
            raise _Final("ERROR")
        self._sms_state()
        idx = self._int(a[0])
        flag = self._int(a[1], 0, 4) if len(a) > 1 and a[1] is not None else 0
        if flag == 0:
            if idx not in self._index_range():
                raise self._cms(CMS_BAD_INDEX)
            self._store.pop(idx, None)
        else:
            # 1 read, 2 read+sent, 3 read+sent+unsent, 4 all (received ones here)
            for i in list(self._store):
                if flag == 4 or self._store[i][0] == 1:
                    del self._store[i]
        self._flush_sms()

    # -- SMS centre side ----------------------------------------------------

    async def _smsc_loop(self):
        """Stay attached to the SMS centre as our MSISDN; queue what arrives."""
        host, port = self.smsc_addr
        while not self._closed:
            msisdn = self.msisdn
            try:
                client = await SmsClient(host, port, msisdn).connect()
            except (OSError, ConnectionError, ValueError, asyncio.TimeoutError) as e:
                log.debug("SMS centre %s:%s unreachable: %s", host, port, e)
                await asyncio.sleep(0.5)
                continue
            self._smsc_client = client
            try:
                while msisdn == self.msisdn:
                    sender, data = await client.recv()
                    self._incoming.append((sender, data, _scts_now()))
                    self._flush_sms()
            except ConnectionError:
                await asyncio.sleep(0.2)
            finally:
                if self._smsc_client is client:
                    self._smsc_client = None
                await client.close()

    def _flush_sms(self):
        """Store the SMS the network holds for us, while we can take them."""
        if not (self.booted and self.sms_ready and self.registered()):
            return
        while self._incoming:
            sender, data, scts = self._incoming[0]
            try:
                pdu, tlen = PDU.encode_deliver(sender, data, scts, smsc=self.o.smsc_number)
            except WmmpError as e:
                log.warning("SMS from %s cannot be encoded: %s", sender, e)
                self._incoming.popleft()
                continue
            mt = self.cnmi[1]
            if mt == 2:                              # direct delivery (+CMT, unconfirmed)
                self._incoming.popleft()
                self._write(b"\r\n+CMT: ,%d\r\n%s\r\n" % (tlen, PDU.to_hex(pdu).encode()),
                            b"+CMT:")
                continue
            free = [i for i in self._index_range() if i not in self._store]
            if not free:
                return                               # storage full: the network keeps it
            self._incoming.popleft()
            idx = free[0]
            self._store[idx] = [0, pdu, tlen]
            if mt in (1, 3):
                self._line('+CMTI: "SM",%d' % idx)

    # ------------------------------------------------------------------ faults

    def set_outage(self, on=True):
        """Packet network outage: open sockets die with +CIPEVENT: NETWORK
        CLOSED UNEXPECTEDLY, NETOPEN/CIPOPEN fail, +CGATT: 0; radio and SMS stay."""
        self.outage = bool(on)
        self._reg_check()

    def set_signal(self, rssi, ber=99):
        """+CSQ values; rssi 99 = no signal: registration lost (+CREG/+CGREG/+CEREG
        stat 2), sockets die, SMS cannot be sent; a signal back re-registers."""
        self.rssi = rssi
        self.ber = 99 if rssi == 99 else ber
        self._reg_check()

    def swap_sim(self, imsi, iccid, pin="1234", puk="12345678", pin_enabled=False, msisdn=None):
        """Another card in the holder at runtime (SimulatedSim.swap): new IMSI and
        ICCID, fresh counters, empty SM storage; the module reports the card
        (+CPIN: READY, SMS DONE, PB DONE or +CPIN: SIM PIN) and registers anew.
        msisdn: the new card's number at the SMS centre."""
        self.sim.swap(imsi, iccid, pin=pin, puk=puk, pin_enabled=pin_enabled)
        self._store.clear()
        self.sms_ready = False
        self.sim_up = False
        if msisdn is not None:
            self.msisdn = msisdn
            self._incoming.clear()
            if self._smsc_client is not None:
                self._spawn_ctl_close(self._smsc_client)
        self._reg_check()
        if self.booted:
            st = self.sim.pin_state()
            if st == S.READY:
                self._spawn(self._sim_ready_urcs())
            else:
                self._line("+CPIN: " + st)

    def _spawn_ctl_close(self, client):
        self._control(client.close())

    def remove_sim(self):
        """The card is pulled out."""
        self.sim.remove()
        self._store.clear()
        self.sms_ready = False
        self.sim_up = False
        self._reg_check()
        if self.booted and self.o.nosim_urc:
            self._line(self.o.nosim_urc)

    # ------------------------------------------------------------------ introspection

    def stored_sms(self):
        """{index: (stat, pdu bytes)} of the SM storage."""
        return {i: (e[0], e[1]) for i, e in self._store.items()}

    def open_links(self):
        return [lk.idx for lk in self.links if lk is not None and not lk.opening]


def _scts_now():
    t = time.localtime()
    tz = int(t.tm_gmtoff // 900) if t.tm_gmtoff is not None else 0
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, tz)
