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

What the board does is declared to the engine (Config), which refuses the rest
(4.3.9.3 "data invalid", 4.3.7 REMOTE_CTRL_ACK 0x01): `applies` the
parameters (wmmp.board.cellular.applies: APN, platform address, SMS number,
application APN, and per module the PDP authentication, SMS centre, URL,
DNS), `controls` the 0x4001 codes (suspend/resume and restart always; upload
with board.on_upload or a data port; 0x09 with a platform APN, 0x0C with an
application APN), `outputs` the peripheral IDs of board.OUTPUTS (0x4021), `tcp`
and `long_connection` from the settings, `data_port` from board.DATA_PORT
(wmmp.board.control.declare; Device._terminal).

Restarts.  An engine "restart" event (a CONFIG_SET or local setting that
needs one, after LOGOUT 0x07 / 0x03) restarts the same Terminal in place; when
the data connection's settings changed (platform address, transport, APN,
PDP authentication, platform numbers) the bearers are rebuilt first and a new
APN or authentication restarts the module.  A console RESET SIM / RESET KEYS
starts a new Terminal over the same Params (or calls board.reset() with
CONSOLE_RESET = "board").  Parameters that need no restart (cellular.LIVE_TAGS:
SMS centre and DNS through the driver, the platform SMS number in the SMS
bearer and the engine) are applied as soon as they change, whatever changed
them (platform, console, factory reset).

Remote control (4.3.7, appendix E f 0x4001, 0x4021), the engine's events:
    ("service", on)       board.on_service(on) (suspend 0x00 / resume 0x01; the
                          engine keeps the state in the parameters and refuses
                          application data while suspended); also called with
                          the kept state whenever a new Terminal starts
    ("restart", "remote") 0x02, after LOGOUT 0x06: the parameters are saved, the
                          module restarted (AT+CRESET / AT+NRB), then
                          board.reset(); a board without reset() (a host) starts
                          a new Terminal.  0x4010 follows the next login.
    ("upload",)           0x07: board.on_upload() sends its buffered data now;
                          without it, on a board with a data port, the bridge
                          sends its open frame and what it buffers (bridge_flush)
    ("apn", code, seq)    0x09 / 0x0C: the module switches to the platform's APN
                          (0x0002) / the application's (0x0013; kept across
                          restarts), reconnects and the same Terminal logs in
                          again; 0x4010 0x00, or 0x02 with the old APN back when
                          the network refuses the new one
    ("peripheral", id, on) 0x4021: the pin board.OUTPUTS[id] driven high (on) or
                          low; TLV 0x300F follows (state 2: the pin failed)

Serial data bridge (PROTOCOL.md 11, 4.3.11).  A board with DATA_PORT and
data_stream() has a data port: the Config carries its capabilities and buffer
sizes, a supervised task "data" runs wmmp.board.dataport.DataPort over the
stream (bytes to t.bridge_feed, downlink from t.bridge_take; the port set from
t.data_port_settings() whenever a new Terminal appears), and the events
("data_port", baud, bits, parity, stop) reconfigure it, ("bridge_down",) wake
its writer.  A failing data UART is logged and retried, never fatal.

Supervision (wmmp.board.supervise).  The engine, console, data, radio and watchdog tasks
each run under a supervisor: an exception is logged with its traceback and the
task starts again after a delay doubling up to RESTART_BACKOFF[1] s (an engine
task that failed starts a new Terminal).  main() never returns.

The board (a module or any object; only MODEM is required):
    MODEM             "sim7600" or "bc95"
    PROTOCOLS         ("wmmp",) (default), ("andlink",) or both: And-link, a task "andlink"
                      (lib/andlink/board/service.py, its settings ANDLINK), instead of or beside WMMP
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
    OUTPUTS           {peripheral id: pin number} the platform may switch (0x4021,
                      machine.Pin, high = on, low at start); default {}: none
    modem_stream()    -> the AT stream (wmmp.board.uartstream.UartStream over the UART)
    modem_power()     -> None or (pin, level, pulse): PWRKEY (SIM7600) / RESET (BC95)
    console_stream()  -> the console line (wmmp.board.uartstream.ConsoleStream) or None
    DATA_PORT         the data UART's capabilities for 0x0101-0x0104 (PROTOCOL.md 11):
                      {"bauds": (...), "bits": (...), "parity": ("N", ...),
                      "stop": (1, 2), "extra": {11: 230400}}; absent or None: no
                      data port (0x0101-0x0105 refused, no bridge)
    data_stream()     -> the data port's stream (wmmp.board.uartstream.open_uart with
                      caps=DATA_PORT, rxidle=True): read/readinto, write, drain,
                      configure(baud, bits, parity, stop)
    BRIDGE_BUFFER, BRIDGE_DOWN   uplink / downlink buffer bytes of the bridge,
                      default the engine's (8192 / 2048)
    filesystem()      -> a wmmp.board.fsio filesystem, default fsio.OsFS()
    factory_switch()  -> True when the console may PROVISION (factory strap)
    watchdog()        -> an object with feed() (machine.WDT) or None
    prepare()         board set-up before anything else (e.g. a FLIGHT pin high)
    modem_status()    -> the module's STATUS pin (logged at start), optional
    clock()           monotonic seconds, default wmmp.board.runner.monotonic
    reset()           restart the board (machine.reset)
    log(text)         log sink, default print
    on_service(on)    the EC application suspended (False) / resumed (True), optional
    on_upload()       send the application's buffered data now (0x4001 0x07);
                      without it 0x07 is refused
    on_event(ev), on_message(direction, kind, raw)   optional hooks (LEDs, tests)
    SIGNAL_ALARM_PERCENT, SIGNAL_HYSTERESIS, SUPPLY_ALARM_MV, SUPPLY_HYSTERESIS_MV,
    ALARM_HOLD, ALARM_PERIOD   the alarm monitor's thresholds (wmmp.board.alarms)
    supply_mv()       -> supply voltage in mV (alarm 0x0008), where the board has a divider
    status_led(state) the status LED: "off", "registering", "online", "alarm"
    ota_stager()      -> a wmmp.board.ota stager (software updates, PROTOCOL.md 12;
                      wmmp.board.otarun: Config.stager, HTTP fetch, apply, confirm)
    OTA_HEALTH_S      s the new software has to log in before it is rolled back (300)
The application reports measurements for the 0x0109 threshold (alarm 0x0009)
with device.alarms.measure(kind, value, now).
"""

import asyncio

from wmmp.board import cellular, consoletask, control as RC, settings
from wmmp.terminal import engine as E, params as PM
from wmmp.wire import profile as P
from wmmp.board import runner as R
from wmmp.modem import packet_profile
from wmmp.errors import WmmpError
from wmmp.board.supervise import Backoff, supervise
from wmmp.board.alarms import AlarmMonitor
from wmmp.modem import NotResponding
from wmmp.modem.at import AtTimeout

_LOGGED = ("boot", "state", "alarm", "restart", "registered", "sim")


def _print(text):
    print(text)


def _text(v):
    return bytes(v).decode() if isinstance(v, (bytes, bytearray)) else v


class Device:
    def __init__(self, board):
        self.board = board
        self.kind = board.MODEM
        self.protocols = getattr(board, "PROTOCOLS", ("wmmp",))
        self.andlink = None         # andlink.board.service.Service when PROTOCOLS has "andlink"
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
        self._restart = None        # "config"/"apn": same Terminal, new bearers; "fresh": new
                                    # Terminal; "reset": the board resets (0x4001 0x02)
        self._remote = False        # ("restart", "remote") seen: the next restart resets
        self._switch = None         # (code, seq) of an APN switch to carry out (0x4001 0x09/0x0C)
        self._address = None        # 0x0008/0x0009 at the last look (settings.note_address)
        self._live = None           # the LIVE_TAGS values last applied to the driver
        self._live_task = None
        self._outs = {}             # peripheral id -> 0 off, 1 on, 2 fault (TLV 0x300F)
        self.dataport = None        # wmmp.board.dataport.DataPort once its stream is open
        self._tasks = []
        self.ota = None             # wmmp.board.otarun.OtaRun with board.ota_stager()
        # alarms with real sources and the status LED (4.3.5, appendix E e)
        self.alarms = AlarmMonitor(lambda: self.term, board, self.log)

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
        stager = self._call("ota_stager") if "wmmp" in self.protocols else None   # else And-link's
        if stager is not None:
            from wmmp.board.otarun import OtaRun
            self.ota = OtaRun(self, stager)

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
            self.ident = await cellular.bring_up(self.kind, self.drv, self._call("modem_power"),
                                                 self._not_ready)
            self.alarms.module(True, self.clock())
            self.log("device: %s firmware %s IMEI %s, SIM %s" % (
                self.kind, self.ident.get("firmware"), self.ident.get("imei"),
                "ready" if self.ident.get("imsi") else "not readable"))
            if self.console is not None:
                self.console.imei = self.ident.get("imei")
                self.console.sim = self.drv
            while True:
                await self._session()
                if self._restart == "reset":
                    await RC.reset_board(self)
        finally:
            await self._end_session()
            self.term = None          # after a failure the next start is a fresh boot

    def _not_ready(self, text):
        """cellular.bring_up logs only its failed attempts: the module does not
        answer (alarm 0x0006)."""
        self.log(text)
        self.alarms.module(False, self.clock())

    def _terminal(self, s, profile):
        # The IMSI read at power-on, else the one registered with: the engine's SIM
        # guard reads the card again (after PIN1, 4.4.1.1) before anything is sent.
        imsi = self.ident.get("imsi") or _text(self.params.get("imsi")) or ""
        cfg = E.Config(self.ident["imei"], imsi, serial=s["serial"],
                       software_version=self.ota.version(s["software_version"]) if self.ota
                       else s["software_version"],
                       platform_numbers=tuple(s["platform_numbers"]), session_key=s["session_key"],
                       long_connection=s["long_connection"])
        if self.ota is not None:
            self.ota.configure(cfg)
        caps = self.data_caps()
        if caps is not None:          # the serial data bridge (PROTOCOL.md 11): buffers sized once
            cfg.data_port = caps
            for name, key in (("bridge_buffer", "BRIDGE_BUFFER"), ("bridge_down", "BRIDGE_DOWN")):
                if getattr(self.board, key, None):
                    setattr(cfg, name, getattr(self.board, key))
        # the driver is the SIM: its SIM methods are coroutines (sim_async), the
        # engine queues the 4.4.1 work and the runner drives it
        t = E.Terminal(cfg, self.params, profile, sim=self.drv)
        self._hook("on_service", not t.service_off())     # the state kept across restarts
        return t

    def _settings(self):
        self._address = settings.note_address(self.params, self._address)
        return settings.resolve(getattr(self.board, "SETTINGS", None), self.params)

    async def _session(self):
        s = self._settings()
        if await cellular.set_apn(self.kind, self.drv, s["apn"], s["auth"]):
            self.log("device: APN %s: module restarted" % (s["apn"],))
        resume = self._restart in ("config", "apn") and self.term is not None
        self._restart = None
        switch, self._switch = self._switch, None
        if switch is not None and resume:
            s = await RC.switch_apn(self, switch[0], switch[1])
        self.settings = s
        self.bearers = cellular.bearers(self.kind, self.drv, s, await cellular.resolve_host(
            self.kind, self.drv, s, self.log))
        self._watch_open(self.bearers.get(P.BEARER_PACKET))
        if not self.bearers:
            self.log("device: no platform address nor SMS number configured")
        # the module's largest datagram: longer messages go as sub-packets (appendix F)
        profile = packet_profile(self.bearers.get(P.BEARER_PACKET))
        if resume:
            self.term.profile = profile
        else:
            self.term = self._terminal(s, profile)
        RC.declare(self, self.term.cfg, s, await cellular.applies(self.kind, self.drv, s))
        self._live = None             # set the live parameters again (a module restart lost them)
        await self.update_radio()
        b = self.board
        self.runner = R.Runner(self.term, self.bearers,
                               clock=self.clock, on_event=self._on_event,
                               on_message=getattr(b, "on_message", None),
                               on_restart=self._on_restart, log=self.log, on_step=self._step)
        self.sessions += 1
        await self.runner.run(resume)     # returns after runner.stop(): a restart
        await self._end_session()

    def _watch_open(self, b):
        """Alarm 0x0004: every open() of the packet bearer (the runner's first
        open, reopen and probe) tells the monitor how it went."""
        if b is None:
            return
        opener = b.open

        async def watched():
            try:
                await opener()
            except Exception:
                self.alarms.packet_open(False, self.clock())
                raise
            self.alarms.packet_open(True, self.clock())
        b.open = watched

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
        """The engine asks for a restart: new settings applied, or (0x4001 0x02,
        after LOGOUT) a reset of the board."""
        if self._remote:
            self._remote = False
            self._restart = "reset"
            self.runner.stop()
            return
        self._check_link("connection settings changed: new bearers")

    def _check_link(self, why):
        s = self._settings()
        if self.settings is not None and settings.link(s) == settings.link(self.settings):
            RC.declare(self, self.term.cfg, s, self.term.cfg.applies)     # e.g. 0x0C with a new 0x0013
            if self.term.state == E.S_RESTARTING:
                self.term.restarted(self.clock())   # same connection: restart in place
            return
        self.log("device: " + why)
        self._restart = "config"
        self.runner.stop()

    def _hook(self, name, *args):
        """board.name(*args) when the board has it; a failure is logged."""
        f = getattr(self.board, name, None)
        if f is not None:
            try:
                f(*args)
            except Exception as e:
                self.log("device: board.%s failed: %r" % (name, e))

    def _on_event(self, ev):
        name = ev[0]
        if name in _LOGGED:
            self.log("event: " + " ".join(str(x) for x in ev))
        if name == "restart" and ev[1] == "remote":
            self._remote = True                     # _on_restart follows: reset the board
        elif name == "service":
            self._hook("on_service", ev[1])
        elif name == "upload":                      # 0x07: the application's data, else the bridge's
            if getattr(self.board, "on_upload", None) is not None:
                self._hook("on_upload")
            elif self.term is not None and self.data_caps() is not None:
                self.term.bridge_flush(self.clock())
        elif name == "data_port":                   # 0x0101-0x0104 changed, after the ACK
            if self.dataport is not None:
                self.dataport.configure(*ev[1:5])
        elif name == "bridge_down":                 # downlink data for the port
            if self.dataport is not None:
                self.dataport.kick()
        elif name == "apn":
            RC.apn_event(self, ev[1], ev[2])
        elif name == "peripheral":
            RC.output(self, ev[1], ev[2])
        elif name == "factory_reset":               # 0x4001 0x0A: the factory connection again
            self._check_link("factory reset: new bearers")
        if self.ota is not None:
            self.ota.on_event(ev)
        self._hook("on_event", ev)

    # == parameters applied without a restart (cellular.LIVE_TAGS) =============

    def _step(self):
        """Once a turn of the runner: a live parameter changed (by any path) ->
        applied through the driver; the software update's health check."""
        if self.ota is not None:
            self.ota.step()
        p = self.params
        live = tuple(p.get(tag) for tag in cellular.LIVE_TAGS)
        if live != self._live and (self._live_task is None or self._live_task.done()):
            self._live = live
            self._live_task = asyncio.create_task(self._apply_live())

    async def _apply_live(self):
        try:
            s = self._settings()
            numbers = s["platform_numbers"]
            sms = self.bearers.get(P.BEARER_SMS)
            if numbers != self.settings["platform_numbers"]:
                if sms is None:          # none before: an SMS bearer is needed
                    self._check_link("platform SMS number: new bearers")
                    return
                sms.numbers = list(numbers)      # 0x0007: where SMS go, whom they come from
                self.term.cfg.platform_numbers = tuple(numbers)
                self.settings["platform_numbers"] = list(numbers)
            await cellular.apply_live(self.kind, self.drv, s, self.log)
        except Exception as e:
            self.log("device: live parameters not applied: %r" % (e,))

    async def update_radio(self):
        """TLVs 0x3006 (cell) and 0x3007 (signal) from the module."""
        try:
            await self.drv.update_radio(self.params)      # 0x3007: read by the alarm monitor
            self.alarms.module(True, self.clock())
        except WmmpError as e:
            self.log("device: radio update failed: %r" % (e,))
            if isinstance(e, (AtTimeout, NotResponding)):
                self.alarms.module(False, self.clock())

    async def sim_state(self):
        """The SIM's pin_state for the alarm monitor (NO SIM / SIM PIN / SIM PUK /
        BLOCKED: 0x0006); skipped while a SIM job (the guard) holds the card."""
        lock = getattr(self.drv, "sim_lock", None)
        if lock is not None and lock.locked():
            return
        try:
            st = await self.drv.pin_state()
        except WmmpError:
            st = None
        self.alarms.sim(st, self.clock())

    async def radio_once(self):
        period = getattr(self.board, "RADIO_PERIOD", 300)
        while True:
            await asyncio.sleep(period)
            if self.drv is not None and self.runner is not None:
                await self.update_radio()
                await self.sim_state()

    async def alarms_once(self):
        """Every ALARM_PERIOD s (default 1): the supply (board.supply_mv, where
        the board has a divider), then the monitor's raise/clear and LED."""
        period = getattr(self.board, "ALARM_PERIOD", 1)
        while True:
            if getattr(self.board, "supply_mv", None) is not None:
                self.alarms.supply(self._call("supply_mv"), self.clock())
            self.alarms.poll(self.clock())
            await asyncio.sleep(period)

    async def console_once(self, stream):
        await consoletask.serve(stream, self.console, self.clock, self.on_console_reset)

    def data_caps(self):
        """board.DATA_PORT (what the data UART can do), or None: no data port."""
        return getattr(self.board, "DATA_PORT", None)

    def _wake(self):
        r = self.runner
        if r is not None:
            r.wake()

    async def data_once(self):
        """The data port (PROTOCOL.md 11): board.data_stream() opened once, then
        served by wmmp.board.dataport.DataPort (its own errors are logged and
        retried there; anything else is the supervisor's to log and retry)."""
        if self.dataport is None:
            from wmmp.board.dataport import DataPort
            stream = self.board.data_stream()
            if stream is None:
                raise WmmpError("board.data_stream() gave no stream")
            self.dataport = DataPort(stream, lambda: self.term, self.clock, self._wake, self.log)
        await self.dataport.run()

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
        RC.init_outputs(self)
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
        if "wmmp" in self.protocols:
            self._spawn("engine", self.engine_once)
        if "andlink" in self.protocols:
            from andlink.board.service import Service
            self.andlink = Service(self)
            self._spawn("andlink", self.andlink.run_once)
        if "wmmp" in self.protocols and self.data_caps() is not None and \
                getattr(self.board, "data_stream", None) is not None:     # the WMMP serial bridge
            self._spawn("data", self.data_once)
        self._spawn("alarms", self.alarms_once)
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
