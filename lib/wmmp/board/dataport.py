"""The data port of the serial data bridge (PROTOCOL.md 11; 4.3.11, appendix G j):
the board's I/O between the OEM's meter / POS controller on a UART and the
engine's bridge (wmmp.terminal.bridge through the Terminal).  Portable:
MicroPython and CPython asyncio.

    port = DataPort(stream, get_terminal, clock, wake, log)
    await port.run()        # for ever (a supervised task of wmmp.board.device)
    port.kick()             # ("bridge_down",): downlink data is waiting
    port.configure(baud, bits, parity, stop)    # ("data_port", ...)

stream        async readinto(buf) -> n (or async read(n) -> bytes), write(data),
              async drain(), configure(baud, bits, parity, stop) raising
              ValueError for what the port cannot do (wmmp.board.uartstream
              UartStream on a board; tools/wmmp_tools/dataport.py on a host)
get_terminal  () -> the current Terminal, or None while there is none (it
              changes across restarts)
clock         monotonic seconds (the engine's clock: the bridge frames by gap)
wake          () -> the runner looks at the engine now (Runner.wake)

Reader: bytes are read into one preallocated bytearray (stream.readinto) and
handed to t.bridge_feed(view, clock()) as a memoryview of it (valid during the
call: the bridge copies them into its ring), then wake(); a stream with read(n)
only hands its bytes as they come.  After a short read the reader lets
`settle` s pass, so a slow line gives a few bytes per feed, not one.  While there is no Terminal
nothing is read: the bytes wait in the UART's receive buffer.  Each time a new
Terminal appears the port is set from t.data_port_settings() (0x0101-0x0104
kept in the parameters).  Writer: on kick() or every `period` s it takes
t.bridge_take(chunk) and writes it to the port, in order, until nothing waits.
A stream failure (read, write, configure) is logged and retried after a delay
doubling from backoff[0] to backoff[1] s; bytes taken for the port and not
written are kept and written first.  Nothing here ends the task but
cancellation.
"""

import asyncio

from wmmp.board.supervise import Backoff, wait_event


def _no_wake():
    pass


class DataPort:
    """The data port's reader and writer tasks (see the module's docstring).

    Counters: rx_bytes (fed to the bridge), tx_bytes (written to the port),
    errors (stream failures), configured (the last settings applied, or None),
    refused (the last settings the port could not do, or None)."""

    def __init__(self, stream, get_terminal, clock, wake=None, log=None, chunk=256, period=1.0,
                 backoff=(0.1, 5.0), settle=0.005):
        self.stream = stream
        self.get_terminal = get_terminal
        self.clock = clock
        self.wake = wake or _no_wake
        self.log = log or print
        self.chunk = chunk
        self.period = period            # s between looks at the downlink without a kick
        self.settle = settle            # s to let a few more bytes come after a short read
        self._buf = bytearray(chunk)
        self._mv = memoryview(self._buf)
        self._into = getattr(stream, "readinto", None)
        self._kick = asyncio.Event()
        self._pending = None            # bytes taken from the bridge, not yet written
        self._term = None               # the Terminal the port was last set for
        self._rback = Backoff(backoff[0], backoff[1])
        self._wback = Backoff(backoff[0], backoff[1])
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.errors = 0
        self.configured = None
        self.refused = None

    def __repr__(self):
        return "<DataPort %s rx=%d tx=%d errors=%d>" % (self.configured, self.rx_bytes, self.tx_bytes,
                                                         self.errors)

    # == the device's calls ======================================================

    def kick(self):
        """Downlink data was queued (("bridge_down",)): the writer takes it now."""
        self._kick.set()

    def configure(self, baud, bits, parity, stop):
        """Set the port (0x0101-0x0104); True when it took the settings.  What
        the port cannot do is logged and the port left as it was (the engine
        refuses what DATA_PORT does not list, so this is a board fault)."""
        try:
            self.stream.configure(baud, bits, parity, stop)
        except Exception as e:
            self.errors += 1
            self.refused = (baud, bits, parity, stop)
            self.log("dataport: %d %d%s%s not applied: %r" % (baud, bits, parity, stop, e))
            return False
        self.configured = (baud, bits, parity, stop)
        self.log("dataport: %d %d%s%s" % (baud, bits, parity, stop))
        return True

    def terminal(self):
        """The current Terminal; the port is set from its parameters the first
        time it is seen (boot, and each new Terminal after a restart)."""
        t = self.get_terminal()
        if t is not None and t is not self._term:
            self._term = t
            self.kick()               # downlink the new Terminal may hold
            try:
                s = t.data_port_settings()
            except Exception as e:
                self.log("dataport: no settings from the terminal: %r" % (e,))
                return t
            self.configure(s[0], s[1], s[2], s[3])
        return t

    # == the tasks ===============================================================

    async def run(self):
        """The writer as a task of its own, the reader here; both for ever."""
        w = asyncio.create_task(self.write_loop())
        try:
            await self.read_loop()
        finally:
            w.cancel()

    async def _failed(self, what, e, backoff):
        self.errors += 1
        d = backoff.next()
        self.log("dataport: %s failed (%r): again in %s s" % (what, e, d))
        await asyncio.sleep(d)

    async def _read(self):
        """The bytes read: a view of the buffer (readinto), or what read(n)
        gave (a stream without readinto); empty when none came."""
        if self._into is None:
            return await self.stream.read(self.chunk) or b""
        n = await self._into(self._buf) or 0
        return self._buf if n == self.chunk else self._mv[:n]

    async def read_loop(self):
        while True:
            if self.terminal() is None:
                await asyncio.sleep(self.period / 4)
                continue
            try:
                data = await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                await self._failed("read", e, self._rback)
                continue
            self._rback.reset()
            n = len(data)
            if not n:                       # end of a host stream: do not spin
                await asyncio.sleep(self.period / 4)
                continue
            now = self.clock()
            t = self.terminal()
            while t is None:                # the engine restarts: the bytes wait for the next one
                await asyncio.sleep(self.period / 4)
                t = self.terminal()
            try:
                t.bridge_feed(data, now)
            except Exception as e:          # the engine's fault: logged, the port goes on
                self.errors += 1
                self.log("dataport: bridge_feed failed: %r" % (e,))
            self.rx_bytes += n
            self.wake()
            if n < self.chunk // 4 and self.settle:
                await asyncio.sleep(self.settle)    # a slow line: more bytes per read

    async def write_loop(self):
        while True:
            await wait_event(self._kick, self.period)
            self._kick.clear()
            t = self.terminal()
            if t is None and self._pending is None:
                continue
            try:
                await self._write_all(t)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                await self._failed("write", e, self._wback)
                self._kick.set()            # at once after the delay: bytes are waiting
                continue
            self._wback.reset()

    async def _write_all(self, t):
        """Write what was taken and not written, then what the bridge holds."""
        while True:
            data = self._pending
            if data is None:
                if t is None:
                    return
                data = t.bridge_take(self.chunk)
                if not data:
                    return
                self._pending = data
            self.stream.write(data)         # raises: kept in _pending for the next try
            self._pending = None
            self.tx_bytes += len(data)
            await self.stream.drain()
