"""Thin asyncio runner: does the I/O for a wmmp.terminal.engine.Terminal.  Works with
MicroPython's asyncio and CPython's.

Bearers are objects with

    kind                        wmmp.wire.profile.BEARER_SMS or BEARER_PACKET
    async open()                connect / bind (raises OSError)
    async send(data)            one whole WMMP message
    async recv() -> bytes       the next whole message received

(tools/wmmp_tools/bearers.py has UDP, TCP and SMS bearers for a host; the modem
drivers provide the same on a board).  The loop never dies of an exception: a
failure is logged through `log` and the loop goes on; the engine's
retransmission covers lost sends.
"""

import asyncio
import time

from wmmp.board.supervise import wait_event


try:
    _ticks = time.ticks_ms
    _tdiff = time.ticks_diff
    _clock = [_ticks(), 0.0]

    def monotonic():
        """Seconds since start.  ticks_ms() wraps (every 2**30 ms, about 12.4 days on
        a board), so the elapsed time is accumulated with ticks_diff; the runner
        calls this at least every second, far inside the half period it needs."""
        now = _ticks()
        _clock[1] += _tdiff(now, _clock[0]) / 1000
        _clock[0] = now
        return _clock[1]
except AttributeError:     # CPython
    monotonic = time.monotonic


def _log_print(*args):
    print(*args)


class Runner:
    """Drive `terminal` with `bearers` ({kind: bearer}).

    on_event(event)                        every engine event, in order
    on_message(direction, kind, raw)       every message sent ("out") or received ("in")
    on_step()                              once a turn of the loop (at least every
                                           `poll` s): parameters changed by any path
                                           applied by the board (wmmp.board.device)
    A 'restart' event restarts the engine in place (terminal.restarted); a board's
    firmware passes on_restart to reset the MCU instead.
    """

    def __init__(self, terminal, bearers, clock=monotonic, on_event=None, on_message=None,
                 on_restart=None, log=_log_print, max_inbox=16, poll=1.0, probe=30, on_step=None):
        self.t = terminal
        self.bearers = bearers
        self.clock = clock
        self.on_event = on_event
        self.on_message = on_message
        self.on_restart = on_restart
        self.on_step = on_step
        self.log = log
        self.max_inbox = max_inbox
        self.poll = poll           # longest sleep between looks at the clock, s
        self.probe = probe         # s between packet-bearer probes while on SMS
        self._next_probe = 0
        self._probe_task = None     # the packet probe while on SMS (one at a time)
        self._locks = {}            # kind -> asyncio.Lock held while that bearer opens
        self._open_err = {}         # kind -> the exception of its last open, or None
        self._inbox = []
        self._wake = asyncio.Event()
        self._stop = False
        self._tasks = []

    def stop(self):
        self._stop = True
        self._wake.set()

    def wake(self):
        """Look at the engine now (a task outside the runner fed it: the data
        port's bytes, wmmp.board.dataport): its timers and messages are taken
        at once instead of at the end of the current wait."""
        self._wake.set()

    async def _reader(self, kind, bearer):
        while not self._stop:
            try:
                data = await bearer.recv()
            except asyncio.CancelledError:
                raise
            except Exception as e:   # a broken bearer: log, pause, reopen, try again
                self.log("wmmp: bearer %d receive failed: %r" % (kind, e))
                await asyncio.sleep(1)
                try:
                    await self._open_bearer(kind, bearer)
                except Exception as e2:
                    self.log("wmmp: bearer %d reopen failed: %r" % (kind, e2))
                continue
            if len(self._inbox) >= self.max_inbox:   # bounded: a flood cannot exhaust RAM
                self._inbox.pop(0)
                self.log("wmmp: inbox full, oldest message dropped")
            self._inbox.append((kind, data))
            self._wake.set()

    async def _send_all(self):
        for kind, raw in self.t.outgoing():
            b = self.bearers.get(kind)
            if self.on_message:
                self.on_message("out", kind, raw)
            if b is None:
                self.log("wmmp: no bearer %d for an outgoing message" % kind)
                continue
            try:
                await b.send(raw)
            except Exception as e:
                self.log("wmmp: send on bearer %d failed: %r" % (kind, e))
                self.t.bearer_failed(kind, self.clock(), len(raw))

    def _events(self, now):
        for ev in self.t.events():
            if self.on_event:
                try:
                    self.on_event(ev)
                except Exception as e:
                    self.log("wmmp: event handler failed: %r" % (e,))
            if ev[0] == "restart":
                if self.on_restart:
                    self.on_restart()
                else:
                    self.t.restarted(now)

    async def _sim_work(self):
        """Drive the engine's SIM jobs on an asynchronous SIM (a modem driver):
        one at a time, in order (4.4.1; wmmp.terminal.simguard)."""
        jobs = self.t.sim_jobs() if hasattr(self.t, "sim_jobs") else None
        if not jobs:
            return
        from wmmp.terminal import simguard as SG
        for job, done in jobs:
            r, err = await SG.outcome_async(job, self.t.sim, self.log)
            self.t.sim_done(done, r, err, self.clock())

    async def _open_bearer(self, kind, b):
        """Open `b` once: a caller that comes while another open of the same
        bearer is under way (the reader's reopen and the packet probe) waits for
        that one and shares its outcome instead of opening a second time."""
        lock = self._locks.get(kind)
        if lock is None:
            lock = self._locks[kind] = asyncio.Lock()
        if lock.locked():
            async with lock:
                pass
            err = self._open_err.get(kind)
            if err is not None:
                raise err
            return
        async with lock:
            self._open_err[kind] = None
            try:
                await b.open()
            except Exception as e:
                self._open_err[kind] = e
                raise

    async def _open(self, kind, b):
        try:
            await self._open_bearer(kind, b)
        except Exception as e:
            self.log("wmmp: bearer %d failed to open: %r" % (kind, e))
            if kind == 2:       # only the packet bearer counts towards the SMS fallback
                self.t.bearer_failed(kind, self.clock())

    def _probe_packet(self):
        """While the engine works over SMS, try the packet bearer again every
        `probe` seconds in a task of its own (a module's attach can take a
        minute: the loop keeps serving SMS and timers meanwhile); when it
        opens, tell the engine (SMS fallback)."""
        if not getattr(self.t, "packet_down", False) or self.probing():
            return
        now = self.clock()
        if now < self._next_probe:
            return
        b = self.bearers.get(2)
        if b is None:
            return
        self._probe_task = asyncio.create_task(self._probe(b))

    async def _probe(self, b):
        try:
            await self._open_bearer(2, b)
            self.t.bearer_restored(2, self.clock())
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.log("wmmp: packet bearer still down: %r" % (e,))
        finally:
            self._next_probe = self.clock() + self.probe
            self._wake.set()

    def probing(self):
        """True while a probe of the packet bearer runs."""
        return self._probe_task is not None and not self._probe_task.done()

    async def run(self, resume=False):
        """Boot the terminal (resume: it was running and restarts in place:
        terminal.restarted, e.g. with new bearers after a configuration
        change), run its SIM checks (4.4.1.1: the module cannot attach before
        PIN1 is entered), open the bearers (all at once: a modem's NETOPEN can
        take over a minute) and serve until stop()."""
        now = self.clock()
        if resume:
            self.t.restarted(now)
        else:
            self.t.start(now)
        try:
            await self._sim_work()
        except Exception as e:      # never fatal: the loop below retries nothing, the engine alarms
            self.log("wmmp: SIM work failed: %r" % (e,))
        await asyncio.gather(*[self._open(kind, b) for kind, b in self.bearers.items()])
        for kind, b in self.bearers.items():
            self._tasks.append(asyncio.create_task(self._reader(kind, b)))
        while not self._stop:
            try:
                now = self.clock()
                while self._inbox:
                    kind, data = self._inbox.pop(0)
                    if self.on_message:
                        self.on_message("in", kind, data)
                    self.t.receive(data, kind, now)
                self.t.tick(now)
                await self._sim_work()
                self._events(now)
                await self._send_all()
                self._events(now)
                if self.on_step is not None:
                    self.on_step()
                self._probe_packet()
                dl = self.t.deadline()
                wait = self.poll if dl is None else max(0.0, min(self.poll, dl - self.clock()))
                if not self._inbox:
                    await wait_event(self._wake, wait)
                self._wake.clear()
            except asyncio.CancelledError:
                raise
            except Exception as e:   # the main loop never dies
                self.log("wmmp: runner error: %r" % (e,))
                await asyncio.sleep(0.1)
        if self._probe_task is not None:
            self._tasks.append(self._probe_task)
        for task in self._tasks:
            task.cancel()
