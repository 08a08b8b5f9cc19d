"""The terminal's whole life on a board.  Portable: MicroPython and CPython asyncio.

    import board                          # boards/<name>/board.py
    asyncio.run(device.main(board))       # never returns

It opens the flash store and the parameters (a record that had to be discarded
is reported by the engine at start as alarm 0x0011 memory error; a flash that
cannot be read at all leaves the terminal on RAM storage with the same alarm),
powers the module and reads its identity with retries and back-off
(wmmp.board.cellular), builds the engine (wmmp.terminal.engine.Terminal with the driver as
its SIM: the PIN1 boot guard and binding checks of 4.4.1 run on the card), the
driver's bearers for the settings (wmmp.board.settings) and the runner
(wmmp.board.runner.Runner), and serves the service console (wmmp.board.consoletask).

Restarts.  An engine "restart" event (a CONFIG_SET or local setting that
needs one, after LOGOUT 0x07 / 0x03) restarts the same Terminal in place; when
the data connection's settings changed (platform address, transport, APN,
platform numbers) the bearers are rebuilt first and a new APN restarts the
module.  A console RESET SIM / RESET KEYS starts a new Terminal over the same
Params (or calls board.reset() with CONSOLE_RESET = "board").

Supervision (wmmp.board.supervise).  The engine, console, radio and watchdog tasks
each run under a supervisor: an exception is logged with its traceback and the
task starts again after a delay doubling up to RESTART_BACKOFF[1] s (an engine
task that failed starts a new Terminal).  main() never returns.

The board (a module or any object; only MODEM is required):
    MODEM             "sim7600" or "bc95"
    SETTINGS          factory settings (wmmp.board.settings: host, udp_port, apn ...)
    MODEM_OPTIONS     driver keyword arguments (timeouts), default {}
    STATE_DIR         flash store directory, default "/state"
    FIRMWARE          version text of the console's IDENT
    PRODUCTION        True (default): Ctrl-C is an ordinary byte on the console
    CONSOLE_RESET     "engine" (default) or "board"
    RADIO_PERIOD      s between signal/cell updates (TLVs 0x3006/0x3007), default
                      300; 0: only before each login
    RESTART_BACKOFF   (first, cap) s of the supervisors' delays, default (1, 60)
    WATCHDOG_FEED     s between watchdog feeds, default 1
    modem_stream()    -> the AT stream (wmmp.board.uartstream.UartStream over the UART)
    modem_power()     -> None or (pin, level, pulse): PWRKEY (SIM7600) / RESET (BC95)
    console_stream()  -> the console line (wmmp.board.uartstream.ConsoleStream) or None
    filesystem()      -> a wmmp.board.fsio filesystem, default fsio.OsFS()
    factory_switch()  -> True when the console may PROVISION (factory strap)
    watchdog()        -> an object with feed() (machine.WDT) or None
    prepare()         board set-up before anything else (e.g. a FLIGHT pin high)
    modem_status()    -> the module's STATUS pin (logged at start), optional
    clock()           monotonic seconds, default wmmp.board.runner.monotonic
    reset()           restart the board (machine.reset)
    log(text)         log sink, default print
    on_event(ev), on_message(direction, kind, raw)   optional hooks (LEDs, tests)
"""

import asyncio

from wmmp.board import cellular, consoletask, settings
from wmmp.terminal import engine as E, params as PM
from wmmp.wire import profile as P
from wmmp.board import runner as R
from wmmp.modem import packet_profile
from wmmp.errors import WmmpError
from wmmp.board.supervise import Backoff, supervise

_LOGGED = ("boot", "state", "alarm", "restart", "registered", "sim")


def _print(text):
    print(text)


def _text(v):
    return bytes(v).decode() if isinstance(v, (bytes, bytearray)) else v


class Device:
    def __init__(self, board):
        self.board = board
        self.kind = board.MODEM
        self.log = getattr(board, "log", None) or _print
        self.clock = getattr(board, "clock", None) or R.monotonic
        self.storage = None
        self.params = None
        self.at = None
        self.drv = None
        self.ident = None
        self.settings = None
        self.term = None
        self.runner = None
        self.bearers = {}
        self.console = None
        self.sessions = 0           # runner runs
        self.failures = {}          # task name -> exceptions seen
        self._restart = None        # "config": same Terminal, new bearers; "fresh": new Terminal
        self._tasks = []

    def _call(self, name, default=None):
        """board.name() when the board has it; a failure is logged, never raised."""
        f = getattr(self.board, name, None)
        if f is None:
            return default
        try:
            return f()
        except Exception as e:
            self.log("device: board.%s() failed: %r" % (name, e))
            return default

    # == store and console ====================================================

    def open_store(self):
        from wmmp.board import fsio
        from wmmp.board.store import FlashStorage
        try:
            fs = self._call("filesystem") or fsio.OsFS()
            d = getattr(self.board, "STATE_DIR", "/state")
            if not fs.exists(d):      # the store would make it at its first save anyway
                fs.mkdir(d)
            fs.listdir(d)             # a flash that cannot even be listed is unusable
            st = FlashStorage(fs, d)
            params = PM.Params(st)
        except Exception as e:        # the flash cannot be read: run from RAM, alarm 0x0011
            self.log("device: flash store unusable (%r): parameters in RAM only" % (e,))
            st = PM.MemoryStorage()
            st.memory_error = True
            params = PM.Params(st)
        if getattr(st, "discarded", None):
            self.log("device: damaged store record discarded %s: alarm 0x0011 at start" % (st.discarded,))
        self.storage = st
        self.params = params

    def state(self):
        """(state name, alarm codes) for the console."""
        t = self.term
        if t is None:
            return "starting", []
        return t.state_name, t.alarms

    def make_console(self):
        stream = self._call("console_stream")
        if stream is None:
            return None
        from wmmp.board.console import Console
        # the driver becomes its SIM once the module is up (engine_once); its SIM
        # methods are coroutines: consoletask runs the console's SIM jobs
        self.console = Console(self.params, self.state, sim=None,
                               firmware=getattr(self.board, "FIRMWARE", ""),
                               production=getattr(self.board, "PRODUCTION", True),
                               provisioning=bool(self._call("factory_switch", False)),
                               boot_time=self.clock(), terminal=lambda: self.term)
        return stream

    def on_console_reset(self, what, bits):
        self.log("device: console RESET %s (E020 0x%02X): restarting the %s" % (
            what.upper(), bits, "board" if self._board_reset() else "engine"))
        if self._board_reset():
            self.board.reset()
            return
        self._restart = "fresh"
        if self.runner is not None:
            self.runner.stop()

    def _board_reset(self):
        return getattr(self.board, "CONSOLE_RESET", "engine") == "board"

    # == engine ===============================================================

    async def engine_once(self):
        """Bring the module up, then run engine sessions until something fails."""
        try:
            s = settings.resolve(getattr(self.board, "SETTINGS", None), self.params)
            if self.drv is None:
                stream = self._call("modem_stream")
                if stream is None:
                    raise WmmpError("board.modem_stream() gave no stream")
                self.at, self.drv = cellular.driver(self.kind, stream, self.log, s["apn"],
                                                    getattr(self.board, "MODEM_OPTIONS", None))
            self.ident = await cellular.bring_up(self.kind, self.drv, self._call("modem_power"), self.log)
            self.log("device: %s firmware %s IMEI %s, SIM %s" % (
                self.kind, self.ident.get("firmware"), self.ident.get("imei"),
                "ready" if self.ident.get("imsi") else "not readable"))
            if self.console is not None:
                self.console.imei = self.ident.get("imei")
                self.console.sim = self.drv
            while True:
                await self._session()
        finally:
            await self._end_session()
            self.term = None          # after a failure the next start is a fresh boot

    def _terminal(self, s, profile):
        # The IMSI read at power-on, else the one registered with: the engine's SIM
        # guard reads the card again (after PIN1, 4.4.1.1) before anything is sent.
        imsi = self.ident.get("imsi") or _text(self.params.get("imsi")) or ""
        cfg = E.Config(self.ident["imei"], imsi, serial=s["serial"],
                       software_version=s["software_version"],
                       platform_numbers=tuple(s["platform_numbers"]), session_key=s["session_key"])
        # the driver is the SIM: its SIM methods are coroutines (sim_async), the
        # engine queues the 4.4.1 work and the runner drives it
        return E.Terminal(cfg, self.params, profile, sim=self.drv)

    async def _session(self):
        s = settings.resolve(getattr(self.board, "SETTINGS", None), self.params)
        if await cellular.set_apn(self.kind, self.drv, s["apn"]):
            self.log("device: APN %s: module restarted" % (s["apn"],))
        resume = self._restart == "config" and self.term is not None
        self._restart = None
        self.settings = s
        self.bearers = cellular.bearers(self.kind, self.drv, s)
        if not self.bearers:
            self.log("device: no platform address nor SMS number configured")
        # the module's largest datagram: longer messages go as sub-packets (appendix F)
        profile = packet_profile(self.bearers.get(P.BEARER_PACKET))
        if resume:
            self.term.profile = profile
        else:
            self.term = self._terminal(s, profile)
        await self.update_radio()
        b = self.board
        self.runner = R.Runner(self.term, self.bearers,
                               clock=self.clock, on_event=self._on_event,
                               on_message=getattr(b, "on_message", None),
                               on_restart=self._on_restart, log=self.log)
        self.sessions += 1
        await self.runner.run(resume)     # returns after runner.stop(): a restart
        await self._end_session()

    async def _end_session(self):
        r = self.runner
        self.runner = None
        if r is not None:
            r.stop()
            for t in getattr(r, "_tasks", ()):     # its readers, when run() did not end by itself
                t.cancel()
        if self.bearers:
            await cellular.close_bearers(self.bearers, self.log)
            self.bearers = {}

    def _on_restart(self):
        """The engine asks for a restart (new settings applied)."""
        s = settings.resolve(getattr(self.board, "SETTINGS", None), self.params)
        if self.settings is not None and settings.link(s) == settings.link(self.settings):
            self.term.restarted(self.clock())       # same connection: restart in place
            return
        self.log("device: connection settings changed: new bearers")
        self._restart = "config"
        self.runner.stop()

    def _on_event(self, ev):
        if ev[0] in _LOGGED:
            self.log("event: " + " ".join(str(x) for x in ev))
        hook = getattr(self.board, "on_event", None)
        if hook is not None:
            hook(ev)

    async def update_radio(self):
        """TLVs 0x3006 (cell) and 0x3007 (signal) from the module."""
        try:
            await self.drv.update_radio(self.params)
        except WmmpError as e:
            self.log("device: radio update failed: %r" % (e,))

    async def radio_once(self):
        period = getattr(self.board, "RADIO_PERIOD", 300)
        while True:
            await asyncio.sleep(period)
            if self.drv is not None and self.runner is not None:
                await self.update_radio()

    async def console_once(self, stream):
        await consoletask.serve(stream, self.console, self.clock, self.on_console_reset)

    async def watchdog_once(self, wdt):
        period = getattr(self.board, "WATCHDOG_FEED", 1)
        while True:
            wdt.feed()
            await asyncio.sleep(period)

    # == supervision ==========================================================

    def _spawn(self, name, fn):
        first, cap = getattr(self.board, "RESTART_BACKOFF", (1, 60))

        async def counted():
            try:
                await fn()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures[name] = self.failures.get(name, 0) + 1
                raise
        t = asyncio.create_task(supervise(name, counted, self.log, Backoff(first, cap), clock=self.clock))
        self._tasks.append(t)
        return t

    async def run(self):
        """Start everything and serve for ever (cancelling this stops the tasks)."""
        self.log("device: starting (%s)" % self.kind)
        self._call("prepare")
        on = self._call("modem_status")
        if on is not None:
            self.log("device: modem STATUS pin %s" % on)
        self.open_store()
        wdt = self._call("watchdog")
        if wdt is not None:
            self._spawn("watchdog", lambda: self.watchdog_once(wdt))
        try:
            stream = self.make_console()
        except Exception as e:        # no console is better than no terminal
            self.log("device: console not started: %r" % (e,))
            stream = None
        if stream is not None:
            self._spawn("console", lambda: self.console_once(stream))
        self._spawn("engine", self.engine_once)
        if getattr(self.board, "RADIO_PERIOD", 300):
            self._spawn("radio", self.radio_once)
        try:
            while True:
                await asyncio.sleep(3600)
        finally:
            for t in self._tasks:
                t.cancel()
            for t in self._tasks:
                try:
                    await t               # let each close what it holds (bearers)
                except BaseException:
                    pass
            if self.at is not None:
                self.at.stop()


async def main(board):
    """The terminal on `board`; never returns."""
    await Device(board).run()
