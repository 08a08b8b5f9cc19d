"""Asyncio AT command engine shared by the SIM7600 and BC95 drivers.
Works with MicroPython's asyncio and CPython's.

    at = AtEngine(stream)       # stream: async write(bytes) (or write + drain),
                                # async read(n) -> bytes or async readinto(buf) -> n
    at.on("+CMTI:", handler)    # URC handler: handler(line, extra), called as the
                                # URC arrives, also in the middle of a command
    lines = await at.command("AT+CSQ", timeout=2, expect="+CSQ")
    lines = await at.command('AT+CIPOPEN=0,"TCP","1.2.3.4",80', timeout=75, final="+CIPOPEN:")
    lines = await at.command_with_prompt("AT+CIPSEND=0,5", b"hello", final="+CIPSEND:")

One reader task feeds every byte to an AtParser (wmmp.modem.atparse): no input is ever
flushed, so URCs between commands are never lost.  One command at a time (a
lock).  Failures raise AtException subclasses, never a boolean.  Handlers must
not await AT commands themselves (the command in flight needs the reader): a
handler that is a coroutine function is scheduled as a task instead.
URCs nobody handles wait in a bounded queue for `await at.urc()`.
AT has no transaction ids: after an AtTimeout the late final of that command
can still arrive and complete the next one; send a plain "AT" to resynchronise
where that matters.
"""

import asyncio

from wmmp.errors import WmmpError
from wmmp.modem.atparse import AtParser, URC


class AtException(WmmpError):
    """Base of every AT engine failure.  command: the command text; lines: the
    information lines received before the failure; line: the final line."""

    def __init__(self, msg, command=None, lines=None, line=None):
        super().__init__(msg)
        self.command = command
        self.lines = lines if lines is not None else []
        self.line = line


class AtTimeout(AtException):
    """No final result (or no prompt) within the timeout."""


class AtError(AtException):
    """Plain ERROR, or a command-specific error final (code: its number or text)."""

    def __init__(self, msg, command=None, lines=None, line=None, code=None):
        super().__init__(msg, command, lines, line)
        self.code = code


class CmeError(AtException):
    """+CME ERROR: <code> (3GPP 27.007 9.2); code is an int, or the text in verbose mode."""

    def __init__(self, code, command=None, lines=None, line=None):
        super().__init__("+CME ERROR: %s" % (code,), command, lines, line)
        self.code = code


class CmsError(AtException):
    """+CMS ERROR: <code> (3GPP 27.005 3.2.5)."""

    def __init__(self, code, command=None, lines=None, line=None):
        super().__init__("+CMS ERROR: %s" % (code,), command, lines, line)
        self.code = code


class AtReboot(AtException):
    """The module rebooted (boot URC such as RDY or Neul) while the command ran."""


class AtOverflow(AtException):
    """The reply exceeded the parser's bounds (over-long line, too many lines,
    payload refused): it is incomplete."""


def _log_print(*args):
    print(*args)


def _bytes(x):
    return x.encode() if isinstance(x, str) else bytes(x)


class _Pending:
    def __init__(self, cmd):
        self.cmd = cmd
        self.done = asyncio.Event()
        self.prompt = asyncio.Event()
        self.finished = False
        self.lines = None
        self.exc = None


class AtEngine:
    """AT commands over `stream`.  parser: an AtParser (its limits and URC
    registry); read_size: bytes per read; max_urcs: unhandled URCs kept;
    payload_timeout: seconds of silence after which a counted payload (+IPD)
    is abandoned (a garbled length or a reboot must not eat later replies)."""

    def __init__(self, stream, parser=None, read_size=128, max_urcs=16, payload_timeout=2.0,
                 log=_log_print):
        self.s = stream
        self.p = parser if parser is not None else AtParser()
        self.read_size = read_size
        self.max_urcs = max_urcs
        self.payload_timeout = payload_timeout
        self.log = log
        self._rbuf = None if hasattr(stream, "read") else bytearray(read_size)
        self._lock = asyncio.Lock()
        self._pending = None
        self._handlers = {}
        self._reboot_handlers = []
        self._urcs = []
        self._urc_ev = asyncio.Event()
        self._task = None
        self.on_stray = None       # optional callable(line): lines no command or URC took
        # counters (see stats())
        self.timeouts = 0
        self.reboots = 0
        self.handler_errors = 0
        self.read_errors = 0
        self.dropped_urcs = 0

    # -- set-up -------------------------------------------------------------

    def on(self, prefix, handler, kind=URC, arg=None):
        """Call handler(line, extra) for each URC starting with prefix (str or
        bytes; the longest registered prefix of a line decides).  A prefix the
        parser does not know yet is registered as `kind` (wmmp.modem.atparse URC,
        URC_DATA, URC_2LINE, BOOT).  For a boot marker (RDY, Neul) extra is None."""
        prefix = _bytes(prefix)
        if not self.p.is_urc(prefix):
            self.p.add_urc(prefix, kind, arg)
        self._handlers[prefix] = handler

    def off(self, prefix):
        self._handlers.pop(_bytes(prefix), None)

    def on_reboot(self, handler):
        """Call handler(line) whenever a boot marker (RDY, Neul) arrives."""
        self._reboot_handlers.append(handler)

    def start(self):
        """Start the reader task (done by the first command or urc() anyway)."""
        if self._task is None:
            self._task = asyncio.create_task(self._reader())

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def stats(self):
        p = self.p
        return {"timeouts": self.timeouts, "reboots": self.reboots,
                "handler_errors": self.handler_errors, "read_errors": self.read_errors,
                "dropped_urcs": self.dropped_urcs + p.dropped_urcs,
                "dropped_events": p.dropped_events, "long_lines": p.long_lines,
                "garbage": p.garbage, "refused": p.refused, "truncated": p.truncated,
                "bad_length": p.bad_length, "lost_lines": p.lost_lines, "stray": p.stray,
                "boot_oks": p.boot_oks}

    # -- commands -----------------------------------------------------------

    async def command(self, cmd, timeout=2, expect=(), final=(), error=(), ok=True, reboot=False):
        """Send `cmd` (CR appended) and return its information lines.

        expect  reply prefixes (claimed even when they are URC prefixes: +CPIN:, +CEREG:)
        final   prefixes of a command-specific final line (+CIPOPEN:, +NETOPEN:,
                +CMGS:, SEND OK): done when it and OK were both seen (ok=False:
                the line alone)
        error   prefixes of extra error finals (raise AtError with their code)
        reboot  boot URCs are expected (AT+NRB): they do not raise AtReboot
        Raises AtTimeout, AtError, CmeError, CmsError, AtReboot, AtOverflow."""
        async with self._lock:
            pend = self._begin(cmd, expect, final, error, ok, False, reboot, None)
            try:
                await self._write(pend.cmd + b"\r")
                await self._wait(pend, pend.done, timeout)
            finally:
                self._end(pend)
            return self._result(pend)

    async def command_with_prompt(self, cmd, payload, timeout=10, prompt_timeout=5, expect=(),
                                  final=(), error=(), ok=True, ctrl_z=False):
        """Send `cmd`, wait for the '>' prompt, write `payload` as is (raw bytes;
        ctrl_z=True appends 0x1A, as SMS text/PDU input needs), then wait for the
        final result as command() does.  Without a prompt in prompt_timeout ESC
        (0x1B, aborts SMS input) is written and AtTimeout raised; an error final
        instead of the prompt raises it and nothing is written."""
        payload = _bytes(payload)
        async with self._lock:
            pend = self._begin(cmd, expect, final, error, ok, True, False, payload)
            try:
                await self._write(pend.cmd + b"\r")
                try:
                    await self._wait(pend, pend.prompt, prompt_timeout)
                except AtTimeout:
                    await self._write(b"\x1b")
                    raise
                if pend.finished:          # an error (or OK) came instead of the prompt
                    if pend.exc is None:
                        pend.exc = AtError("no prompt", pend.cmd, pend.lines)
                    raise pend.exc
                await self._write(payload + b"\x1a" if ctrl_z else payload)
                await self._wait(pend, pend.done, timeout)
            finally:
                self._end(pend)
            return self._result(pend)

    def _begin(self, cmd, expect, final, error, ok, prompt, reboot, echo):
        self.start()
        pend = _Pending(_bytes(cmd).strip())
        self._pending = pend
        self.p.begin(pend.cmd, expect, final, error, ok, prompt, reboot, echo)
        return pend

    def _end(self, pend):
        if self._pending is pend:
            self._pending = None
        if not pend.finished:
            self.p.cancel()

    async def _wait(self, pend, ev, timeout):
        try:
            await asyncio.wait_for(ev.wait(), timeout)
        except asyncio.TimeoutError:
            if ev.is_set():
                return
            self.timeouts += 1
            self.p.cancel()
            if self.p.in_payload:       # a counted payload may be eating the reply
                self.p.abort_payload()
                self._drain()
            raise AtTimeout("no reply to %r in %s s" % (pend.cmd, timeout), pend.cmd,
                            self._partial(pend))

    def _partial(self, pend):
        return pend.lines if pend.lines is not None else []

    def _result(self, pend):
        if pend.exc is not None:
            raise pend.exc
        return pend.lines

    async def _write(self, data):
        r = self.s.write(data)
        if r is not None and hasattr(r, "send"):
            await r
        drain = getattr(self.s, "drain", None)
        if drain is not None:
            await drain()

    # -- URCs ---------------------------------------------------------------

    async def urc(self, timeout=None):
        """Next URC no handler took: (prefix, line, extra).  AtTimeout if none
        arrives within timeout seconds."""
        self.start()
        while not self._urcs:
            self._urc_ev.clear()
            if timeout is None:
                await self._urc_ev.wait()
            else:
                try:
                    await asyncio.wait_for(self._urc_ev.wait(), timeout)
                except asyncio.TimeoutError:
                    if not self._urcs:
                        raise AtTimeout("no URC in %s s" % (timeout,))
        return self._urcs.pop(0)

    def _call(self, fn, *args):
        try:
            r = fn(*args)
            if r is not None and hasattr(r, "send"):   # a coroutine: run it as a task
                asyncio.create_task(r)
        except Exception as e:     # a broken handler must not stop the reader
            self.handler_errors += 1
            self.log("at: URC handler failed: %r" % (e,))

    def _queue(self, item):
        if len(self._urcs) >= self.max_urcs:
            self._urcs.pop(0)
            self.dropped_urcs += 1
        self._urcs.append(item)
        self._urc_ev.set()

    # -- reader -------------------------------------------------------------

    async def _read(self):
        if self._rbuf is None:
            return await self.s.read(self.read_size)
        n = await self.s.readinto(self._rbuf)
        return memoryview(self._rbuf)[:n] if n else b""

    async def _reader(self):
        while True:
            try:
                if self.p.in_payload and self.payload_timeout:
                    try:
                        data = await asyncio.wait_for(self._read(), self.payload_timeout)
                    except asyncio.TimeoutError:
                        self.p.abort_payload()
                        self._drain()
                        continue
                else:
                    data = await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as e:     # a UART hiccup: log, pause, go on
                self.read_errors += 1
                self.log("at: read failed: %r" % (e,))
                await asyncio.sleep(0.1)
                continue
            if not data:
                await asyncio.sleep(0.02)
                continue
            self.p.feed(data)
            self._drain()

    def _drain(self):
        p = self.p
        while True:
            ev = p.pop()
            if ev is None:
                return
            k = ev[0]
            if k == "done" or k == "fail":
                self._finish(ev)
            elif k == "prompt":
                if self._pending is not None:
                    self._pending.prompt.set()
            elif k == "urc":
                fn = self._handlers.get(ev[1])
                if fn is not None:
                    self._call(fn, ev[2], ev[3])
                else:
                    self._queue((ev[1], ev[2], ev[3]))
            elif k == "reboot":
                self.reboots += 1
                self.log("at: module rebooted (%r)" % (ev[2],))
                fn = self._handlers.get(ev[1])
                if fn is not None:
                    self._call(fn, ev[2], None)
                for fn in self._reboot_handlers:
                    self._call(fn, ev[2])
            elif k == "stray" and self.on_stray is not None:
                self._call(self.on_stray, ev[1])

    def _finish(self, ev):
        pend = self._pending
        if pend is None or pend.finished:
            return
        if ev[0] == "done":
            pend.lines = ev[1]
        else:
            kind, code, line, lines = ev[1], ev[2], ev[3], ev[4]
            pend.lines = lines
            cmd = pend.cmd
            if kind == "cme":
                pend.exc = CmeError(code, cmd, lines, line)
            elif kind == "cms":
                pend.exc = CmsError(code, cmd, lines, line)
            elif kind == "reboot":
                pend.exc = AtReboot("module rebooted during %r" % (cmd,), cmd, lines, line)
            elif kind == "overflow":
                pend.exc = AtOverflow("reply to %r exceeded the bounds" % (cmd,), cmd, lines)
            else:
                pend.exc = AtError(line.decode() if line else "ERROR", cmd, lines, line, code)
        pend.finished = True
        pend.done.set()
        pend.prompt.set()
