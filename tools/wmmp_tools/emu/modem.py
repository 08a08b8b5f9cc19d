"""What every emulated module shares (SIM7600 and BC95): the UART wiring
(attach/feed/inject), power and reboot, the output path through fault
injection (faults.OutputFaults, a FIFO for delayed units), the command-line
reader with echo, the V.250 command dispatcher (atline) and the task
bookkeeping.  A module (sim7600.Sim7600, bc95.Bc95) subclasses Modem and adds
its dialect: `_x_<name>` methods for extended commands (`AT+NAME`), `_b_<x>`
for basic ones (`ATE0`), `_boot()`, `_reset_state()`, `_close_sockets()`.

    class MyModule(Modem):
        SEP = ":"                         # text after "+NAME" in replies
        async def _x_csq(self, mode, args): self._line("+CSQ:21,99")

A handler raises Final(final, lines) to end the command with an error (or any
final line); returning a callable runs it after the command's OK (URCs that
follow the OK, a reboot).  Output units are framed "\\r\\n<text>\\r\\n"
(_line) unless written raw (_write).

Pacing (the UART's line rate): with `pace` on (Options.pace: the SIM7600's
default, the BC95's with pace=True; `wmmp-emu` paces both unless --no-pace) the
module's output leaves no faster than one character per char_bits / baud s
(8N1: 10 bits, 11,520 B/s at 115200), and what the host writes is taken in
(echoed, parsed, acted on) only once its line time has passed: a byte is
handed over when its last stop bit would have arrived, on an absolute
schedule (no drift), in slices of about SLICE s of line time.  A rate change
(set_line; AT+IPR, AT+NATSPEED) applies to bytes written after it: the OK of
the command that changes it still goes at the old rate.  `tx_baud` is the
rate of the bytes being handed to the sink, so a port that knows its own
rate (stream.HostPort(baud=...)) can model a mismatch: bytes at the wrong
rate arrive as garbage (garble()), both ways.

Link shaping (the radio side, not the UART): `shaper` (netsock.LinkShaper,
from Options rtt / loss / bandwidth / shape_seed where the model has them,
or set with shape()) delays, paces and drops what the module's sockets carry.
The module's tasks run in a context naming it (netsock.use_shaper), so the
sockets they open are shaped.
"""

import asyncio
import collections
import contextvars
import logging
import random
import re

from wmmp.terminal import simcard as S
from wmmp.errors import BadValue

from wmmp_tools.emu import atline as L
from wmmp_tools.emu.faults import OutputFaults
from wmmp_tools.emu.netsock import LinkShaper, use_shaper

log = logging.getLogger("wmmp.emu")

CTRL_Z = 0x1A
ESC = 0x1B
BS = 0x08
CR = 0x0D

# 27.007 9.2 +CME ERROR codes (general ones)
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

_PREFIX = re.compile("AT|at")

SLICE = 0.005              # s of line time handed over at once (paced)


def garble(data):
    """What a UART at the wrong rate makes of `data`: as many bytes, none of
    them ASCII (framing errors; never a CR or an "AT")."""
    return bytes(((b * 37 + 0x55) & 0x7F) | 0x80 for b in data)


def char_bits(bits=8, parity="N", stop=1):
    """Bits on the wire per character: start + data + parity + stop."""
    return 1 + bits + (0 if parity in ("N", None, 0) else 1) + stop


class Final(Exception):
    """End the command with information `lines` and the final result `final`."""

    def __init__(self, final="ERROR", lines=()):
        super().__init__(final)
        self.final = final
        self.lines = list(lines)


def default_sim():
    return S.SimulatedSim("460001234567890", "89860012345678901234", "860000000000001",
                          pin_enabled=False)


class Modem:
    """Base of the emulated modules.  attach(sink) sets where the output goes
    (sink(bytes)), feed(bytes) is what the host writes.  Subclasses set
    self.o (their Options) before calling Modem.__init__ and define
    _reset_state() (settings a power cycle restores), _boot(delay),
    _close_sockets()."""

    LINE_MAX = 1024            # longest command line kept
    RX_MAX = 64 * 1024         # host bytes waiting to be processed (UART overrun beyond)
    SEP = ": "                 # between "+NAME:" and its values
    CME_TEXT = CME_TEXT

    def __init__(self, sim=None, rng=None, trace=None):
        self.sim = sim if sim is not None else default_sim()
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
        self.commands = 0                   # command lines taken (an AT prefix seen)
        self.echo = False
        self.cmee = 0
        # the line (see "Pacing" in the module docstring)
        self.baud = getattr(self.o, "baud", None)
        self.char_bits = 10                 # 8N1
        self.pace = getattr(self.o, "pace", True)
        self.tx_baud = self.baud            # rate of the bytes the sink is being given
        self._tx = collections.deque()      # (data, char time, baud) on the TX line
        self._tx_free = 0.0                 # loop time the TX line is free again
        self._tx_task = None
        self._rxw = collections.deque()     # (due, data, sender's baud) still on the RX line
        self._rx_free = 0.0
        self._rx_task = None
        # the radio link (see "Link shaping" in the module docstring)
        o = self.o
        self.shaper = LinkShaper(getattr(o, "rtt", 0.0), getattr(o, "loss", 0.0),
                                 getattr(o, "bandwidth", None), getattr(o, "shape_seed", 1))
        self._ctx = contextvars.copy_context()
        self._ctx.run(use_shaper, self.shaper)

    # ------------------------------------------------------------------ wiring

    def attach(self, sink):
        """Send the module's output to sink(bytes) (replaces the previous sink)."""
        self._sink = sink

    def detach(self, sink=None):
        if sink is None or self._sink == sink:
            self._sink = None

    def feed(self, data, baud=None):
        """Bytes from the host's TX line (`baud`: the rate the host sends at,
        None: the module's; another rate makes them garbage).  Paced: taken in
        after their line time."""
        if self.trace is not None and data:
            self.trace("<", bytes(data))
        if not data:
            return
        ct = self.char_time()
        if not ct and not self._rxw:
            self._take(data, baud)
            return
        loop = self._loop or asyncio.get_running_loop()
        start = max(self._rx_free, loop.time())
        step = max(1, int(SLICE / ct)) if ct else len(data)
        for off in range(0, len(data), step):
            k = min(step, len(data) - off)
            self._rxw.append((start + (off + k) * ct, bytes(data[off:off + k]), baud))
        self._rx_free = start + len(data) * ct
        if self._rx_task is None:
            self._rx_task = loop.create_task(self._pump_rx())

    async def _pump_rx(self):
        loop = asyncio.get_running_loop()
        try:
            while self._rxw:
                due, data, baud = self._rxw[0]
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                self._rxw.popleft()
                self._take(data, baud)
        finally:
            self._rx_task = None

    def _take(self, data, baud):
        """Bytes that arrived (their line time passed): into the receive buffer."""
        if baud is not None and self.baud is not None and baud != self.baud:
            data = garble(data)
        if not self._listening:
            self.overruns += len(data)
            return
        room = self.RX_MAX - len(self._rx)
        if len(data) > room:
            self.overruns += len(data) - room
            data = data[:room]
        self._rx += data
        self._rx_ev.set()

    # ------------------------------------------------------------------ line

    def char_time(self):
        """s per character on the line; 0 when not paced."""
        if not self.pace or not self.baud:
            return 0.0
        return self.char_bits / float(self.baud)

    def set_line(self, baud, char_bits=None):
        """The UART's rate (and character size) from now on: bytes written
        after this call, and host bytes fed after it."""
        self.baud = baud
        if char_bits is not None:
            self.char_bits = char_bits

    def tx_pending(self):
        """Output bytes still on the line (written, not yet handed to the sink)."""
        return sum(len(d) for d, _, _ in self._tx)

    def inject(self, data):
        """Raw bytes on the module's TX line (noise, a line of garbage)."""
        self._write(bytes(data), echo=True)

    async def start(self, power=True):
        """Start (the network side first, see _start_network) and power on."""
        self._loop = asyncio.get_running_loop()
        self._start_network()
        if power:
            self.power_on()
        return self

    def _start_network(self):
        """Hook: connect services the module stays attached to (SMS centre)."""

    async def close(self):
        self._closed = True
        self._shutdown()
        for t in list(self._ctl):
            t.cancel()
        await self._close_network()
        for t in (self._wq_task, self._tx_task, self._rx_task):
            if t is not None:
                t.cancel()
        await asyncio.sleep(0)

    async def _close_network(self):
        """Hook: undo _start_network()."""

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.close()

    # ------------------------------------------------------------------ power

    def _boot_delay(self):
        return 0.0

    def _reset_delay(self):
        return 0.0

    def power_on(self, boot_time=None):
        """Power applied (a PWRKEY pulse): the boot output after boot_time s
        (ignored if already on)."""
        if self.powered:
            return
        self._loop = self._loop or asyncio.get_running_loop()
        self.powered = True
        self._spawn(self._boot(self._boot_delay() if boot_time is None else boot_time))

    def power_off(self):
        """Power removed: the module goes silent."""
        self._shutdown()

    def reboot(self, boot_time=None):
        """The module restarts now (a crash, a brown-out, a reset command): no
        reply to the command in progress, sockets and network closed, the boot
        output again."""
        self._shutdown()
        self.power_on(self._reset_delay() if boot_time is None else boot_time)

    def reboot_after(self, seconds, boot_time=None):
        """Schedule reboot() in `seconds`."""
        self._control(self._later(seconds, lambda: self.reboot(boot_time)))

    def reboot_on(self, prefix, count=1):
        """Reboot instead of answering the next `count` commands starting with
        `prefix` (e.g. "AT+CIPSEND": mid-session, before any reply)."""
        self._reboot_on.append([prefix.upper(), count])

    def _reset_state(self):
        """Settings a power cycle restores (subclasses extend)."""

    def _close_sockets(self):
        """Close every socket without a URC (power gone)."""

    async def _boot(self, delay):
        raise NotImplementedError

    def _shutdown(self):
        self.powered = False
        self._listening = False
        for t in list(self._tasks):     # the current task too (a reset command runs in
            t.cancel()                  # the command task): it ends at its next await
        self._tasks.clear()
        self._proc = None
        self._close_sockets()
        self._rx.clear()
        self._echoed = 0
        self.sim.power_cycle()
        self._reset_state()

    def _start_processing(self):
        """The module takes commands from now on."""
        self._listening = True
        self._proc = self._spawn(self._process())

    # ------------------------------------------------------------------ tasks

    def shape(self, rtt=None, loss=None, bandwidth=None, seed=None):
        """The radio link's RTT (s), loss (0..1), bandwidth (bytes/s, 0: none);
        None keeps a figure.  Applies at once, to open sockets too."""
        self.shaper.set(rtt, loss, bandwidth, seed)

    def _spawn(self, coro):
        t = self._ctx.run((self._loop or asyncio.get_running_loop()).create_task, coro)
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
            self._wq.append((due, data, self.baud, self.char_time()))
            if self._wq_task is None:
                self._wq_task = loop.create_task(self._drain_wq())
        else:
            self._deliver(data, self.baud, self.char_time())

    async def _drain_wq(self):
        loop = asyncio.get_running_loop()
        try:
            while self._wq:
                due, data, baud, ct = self._wq[0]
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                self._wq.popleft()
                self._deliver(data, baud, ct)
        finally:
            self._wq_task = None

    def _deliver(self, data, baud, ct):
        """Onto the TX line: at once when not paced, else after the bytes
        before it, one character per `ct` s (at the rate `baud` they were
        written at)."""
        if self.trace is not None:
            self.trace(">", data)
        if not ct and not self._tx:
            self.tx_baud = baud
            if self._sink is not None:
                self._sink(data)
            return
        self._tx.append((data, ct, baud))
        if self._tx_task is None:
            self._tx_task = (self._loop or asyncio.get_running_loop()).create_task(self._pump_tx())

    async def _pump_tx(self):
        loop = asyncio.get_running_loop()
        try:
            while self._tx:
                data, ct, baud = self._tx[0]
                start = max(self._tx_free, loop.time())
                step = max(1, int(SLICE / ct)) if ct else len(data)
                off = 0
                while off < len(data):
                    k = min(step, len(data) - off)
                    wait = start + (off + k) * ct - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    self.tx_baud = baud
                    if self._sink is not None:
                        self._sink(data[off:off + k])
                    off += k
                self._tx_free = start + len(data) * ct
                self._tx.popleft()
        finally:
            self._tx_task = None

    def _line(self, text):
        """One framed line: result, information or URC."""
        b = text.encode("latin-1")
        self._write(b"\r\n" + b + b"\r\n", b)

    def _final(self, final):
        self._line(final)

    def _cme(self, code):
        """The +CME ERROR final for `code` in the current AT+CMEE mode."""
        if self.cmee == 0:
            return Final("ERROR")
        if self.cmee == 2:
            return Final("+CME ERROR" + self.SEP + self.CME_TEXT.get(code, "unknown"))
        return Final("+CME ERROR%s%d" % (self.SEP, code))

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
                if len(self._rx) > self.LINE_MAX:       # no CR for ages: drop it
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
            self.commands += 1
            if self._reboot_trigger(s):
                self._loop.call_soon(self.reboot)
                await asyncio.sleep(3600)    # cancelled by the reboot
            if self._refuse(s):
                self._final("ERROR")
                continue
            try:
                await self._execute(s[2:])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("command %r failed in the emulator", s)
                self._final("ERROR")

    def _refuse(self, s):
        """Hook: True to answer command line `s` with a bare ERROR unread."""
        return False

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
            except Final as f:
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
                raise Final("ERROR")
            argv = L.split_args(args) if mode == L.SET else []
            if argv is None:
                raise Final("ERROR")
            return await fn(mode, argv)
        basics = L.split_basic(cmd)
        if basics is None:
            raise Final("ERROR")
        for name, digits in basics:
            fn = getattr(self, "_b_" + name.replace("&", "amp_").lower(), None)
            if fn is None:
                raise Final("ERROR")
            fn(digits)
        return None

    # -- argument helpers ---------------------------------------------------

    @staticmethod
    def _int(v, lo=None, hi=None):
        try:
            n = int(v)
        except (TypeError, ValueError):
            raise Final("ERROR")
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise Final("ERROR")
        return n

    @staticmethod
    def _only(mode, *modes):
        if mode not in modes:
            raise Final("ERROR")

    # -- commands every module has --------------------------------------------

    def _b_e(self, d):
        if d not in ("", "0", "1"):
            raise Final("ERROR")
        self.echo = d == "1"

    def _b_v(self, d):
        if d not in ("", "1"):
            raise Final("ERROR")       # numeric result codes are not emulated

    def _b_q(self, d):
        if d not in ("", "0"):
            raise Final("ERROR")

    async def _x_cmee(self, mode, a):
        if mode == L.READ:
            self._line("+CMEE%s%d" % (self.SEP, self.cmee))
        elif mode == L.SET:
            self.cmee = self._int(a[0], 0, 2)
        elif mode == L.TEST:
            self._line("+CMEE%s(0-2)" % self.SEP)
        else:
            raise Final("ERROR")

    # -- SIM errors -------------------------------------------------------------

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

    # -- addresses ----------------------------------------------------------------

    def _route(self, host):
        """The real host for an address the firmware uses (Options.address_map)."""
        return self.o.address_map.get(host, host)

    def _shown(self, host):
        """The address the firmware knows for a real host."""
        for k, v in self.o.address_map.items():
            if v == host:
                return k
        return host

    # -- registration (both modules): wait reg_delay, then report -------------
    def _reg_check(self):
        """Re-evaluate registration after any change (SIM, signal, radio, outage)
        and report it; the module says when it can register (_can_register)."""
        if not self._can_register():
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
