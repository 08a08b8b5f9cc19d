"""Serial lines of a board as the byte streams the package reads and writes:
async read(n) -> bytes (waits for at least one byte), write(data) (queues),
async drain() (waits until the bytes left).  Portable: `machine`, `select` and
`sys.stdin` are only touched by open_uart() and stdio_console(), so CPython
tests drive the classes with fakes.

UartStream(uart)     a machine.UART as the AT engine's stream (wmmp.modem.at).  On
                     MicroPython through asyncio.StreamReader(uart): the UART's
                     poll support wakes the reader, no busy loop.  Where asyncio
                     has no such stream (CPython, the WebAssembly port) it polls
                     uart.any() every `poll` s and keeps unwritten bytes itself.
                     As the data port of the serial bridge (PROTOCOL.md 11,
                     wmmp.board.dataport): readinto(buf) without allocating,
                     configure(baud, bits, parity, stop) through uart.init
                     (ValueError for what `caps` or machine.UART cannot do), and
                     with rxidle=True, where the port has UART.IRQ_RXIDLE, the
                     reader woken when the line goes idle (a frame's end) and at
                     least every `poll` s during a long burst.
ConsoleStream(inp, out, poller)
                     the service console's line (wmmp.board.console): on a board the
                     REPL's USB CDC / UART line, sys.stdin.buffer and
                     sys.stdout.buffer.  MicroPython's stdin.buffer.read(n)
                     blocks until n bytes arrived, so bytes are taken one at a
                     time while poller.poll(0) says one is waiting; between
                     looks the task sleeps `poll` s.
open_uart(id, baudrate, tx, rx, ...)   machine.UART with these settings (8N1).
stdio_console()      ConsoleStream over sys.stdin.buffer / sys.stdout.buffer.
"""

import asyncio
import sys


def _mp_stream(uart):
    """asyncio.StreamReader(uart) on MicroPython (one object reads and writes);
    None where asyncio streams cannot wrap a UART (CPython, WebAssembly)."""
    if sys.implementation.name != "micropython":
        return None
    cls = getattr(asyncio, "StreamReader", None)
    return cls(uart) if cls is not None else None


PARITY = {"N": None, "E": 0, "O": 1}      # machine.UART's parity; mark and space: none


def _flag():
    """An asyncio.ThreadSafeFlag (MicroPython: set() from an interrupt handler);
    an asyncio.Event where there is none (CPython: the tests' fake IRQ)."""
    cls = getattr(asyncio, "ThreadSafeFlag", None)
    return cls() if cls is not None else asyncio.Event()


class UartStream:
    """machine.UART -> async read(n), async readinto(buf), write(data), async drain(),
    configure(baud, bits, parity, stop).

    stream  an asyncio stream over the UART (default: _mp_stream(uart));
            False forces the polling mode
    poll    s between looks at uart.any() in the polling mode (with rxidle: the
            longest wait for the idle interrupt)
    caps    what configure() may set ({"bauds", "bits", "parity", "stop"}, the
            board's DATA_PORT); None: anything machine.UART takes
    rxidle  wake the reader with UART.irq(IRQ_RXIDLE) where the port has it
            (then no asyncio stream: reads and writes in the polling mode)
    Counters: rx_bytes, tx_bytes; `settings` the last configure()."""

    def __init__(self, uart, stream=None, poll=0.01, caps=None, rxidle=False):
        self.uart = uart
        self.poll = poll
        self.caps = caps
        self.settings = None
        self._flag = None
        if rxidle and getattr(uart, "IRQ_RXIDLE", None) is not None:
            self._flag = _flag()
            self._arm()
            stream = False
        self._s = _mp_stream(uart) if stream is None else (stream or None)
        self._out = bytearray()
        self.rx_bytes = 0
        self.tx_bytes = 0

    def __repr__(self):
        mode = "stream" if self._s else "rxidle" if self._flag is not None else "poll"
        return "<UartStream %s rx=%d tx=%d>" % (mode, self.rx_bytes, self.tx_bytes)

    def _arm(self):
        flag = self._flag
        self.uart.irq(handler=lambda u: flag.set(), trigger=self.uart.IRQ_RXIDLE)

    async def _idle(self):
        """Wait for bytes: `poll` s, or (rxidle) until the line went idle."""
        f = self._flag
        if f is None:
            await asyncio.sleep(self.poll)
            return
        try:
            await asyncio.wait_for(f.wait(), self.poll)
        except asyncio.TimeoutError:
            pass
        f.clear()

    async def read(self, n):
        if self._s is not None:
            data = await self._s.read(n)
            if data:
                self.rx_bytes += len(data)
                return data
            return b""
        while True:
            k = self.uart.any()
            if k:
                data = self.uart.read(min(n, k))
                if data:
                    self.rx_bytes += len(data)
                    return data
            await self._idle()

    async def readinto(self, buf):
        """Bytes read into `buf` (a bytearray, kept by the caller): their count,
        at least 1 (0 only at the end of a host stream).  Nothing allocated in
        the polling mode (uart.readinto(buf, n))."""
        if self._s is not None:
            into = getattr(self._s, "readinto", None)
            if into is not None:
                n = await into(buf) or 0
            else:
                data = await self._s.read(len(buf))
                n = len(data)
                buf[:n] = data
            self.rx_bytes += n
            return n
        while True:
            k = self.uart.any()
            if k:
                n = self.uart.readinto(buf, min(k, len(buf))) or 0
                if n:
                    self.rx_bytes += n
                    return n
            await self._idle()

    def configure(self, baud, bits=8, parity="N", stop=1):
        """Set the line (0x0101-0x0104, PROTOCOL.md 8): parity "N", "O", "E" ("M"
        and "S" only where the port could); stop 1 or 2 (machine.UART takes no
        1.5).  ValueError, and nothing changed, for what the port cannot do."""
        c = self.caps
        if c is not None:
            for what, v in (("bauds", baud), ("bits", bits), ("parity", parity), ("stop", stop)):
                if v not in c.get(what, ()):
                    raise ValueError("data port: %s %r not supported" % (what, v))
        if parity not in PARITY or stop not in (1, 2) or bits not in (5, 6, 7, 8, 9):
            raise ValueError("machine.UART: no %r%r%r" % (bits, parity, stop))
        self.uart.init(baudrate=baud, bits=bits, parity=PARITY[parity], stop=stop)
        if self._flag is not None:
            self._arm()          # a port may drop its interrupt set-up on init
        self.settings = (baud, bits, parity, stop)

    def set_baud(self, rate):
        """The line's rate from now on (the SIM7600 driver's AT+IPR switch,
        wmmp.modem.sim7600_speed): uart.init(baudrate=rate), the rest kept."""
        self.uart.init(baudrate=rate)
        if self._flag is not None:
            self._arm()
        if self.settings is not None:
            self.settings = (rate,) + tuple(self.settings[1:])

    def write(self, data):
        self.tx_bytes += len(data)
        if self._s is not None:
            self._s.write(data)
            return
        self._out += data
        self._flush()

    def _flush(self):
        if self._out:
            n = self.uart.write(self._out)
            if n:
                self._out = self._out[n:]     # (MicroPython: no del of a slice)

    async def drain(self):
        if self._s is not None:
            await self._s.drain()
            return
        while self._out:
            self._flush()
            if self._out:
                await asyncio.sleep(self.poll)


class ConsoleStream:
    """The console line: `inp` has read(1) -> bytes, `out` has write(bytes),
    `poller` has poll(0) -> a non-empty list while a byte is waiting."""

    def __init__(self, inp, out, poller, poll=0.02):
        self.inp = inp
        self.out = out
        self.poller = poller
        self.poll = poll
        self.rx_bytes = 0
        self.tx_bytes = 0

    async def read(self, n):
        while True:
            got = bytearray()
            while len(got) < n and self.poller.poll(0):
                b = self.inp.read(1)
                if not b:
                    break
                got += b
            if got:
                self.rx_bytes += len(got)
                return bytes(got)
            await asyncio.sleep(self.poll)

    def write(self, data):
        self.tx_bytes += len(data)
        self.out.write(data)

    async def drain(self):
        flush = getattr(self.out, "flush", None)
        if flush is not None:
            flush()


def open_uart(uart_id, baudrate, tx, rx, rxbuf=4096, txbuf=None, caps=None, rxidle=False):
    """machine.UART(uart_id) at `baudrate` 8N1 on pins tx/rx with a receive
    buffer of `rxbuf` bytes (a BC95 AT+NSORF line of a 1358-byte datagram is
    2780 characters), wrapped as a UartStream (caps, rxidle: the data port's,
    see UartStream)."""
    import machine
    kw = {"baudrate": baudrate, "bits": 8, "parity": None, "stop": 1, "tx": tx, "rx": rx,
          "rxbuf": rxbuf}
    if txbuf:
        kw["txbuf"] = txbuf
    u = machine.UART(uart_id, **kw)
    if caps is None and not rxidle:
        return UartStream(u)
    s = UartStream(u, caps=caps, rxidle=rxidle, poll=0.02 if rxidle else 0.01)
    s.settings = (baudrate, 8, "N", 1)
    return s


def stdio_console(poll=0.02):
    """The REPL's line (USB CDC on the Pico, UART0 on an ESP32 DevKitC) as a
    ConsoleStream: select.poll on sys.stdin, bytes through sys.stdin.buffer and
    sys.stdout.buffer."""
    import select
    p = select.poll()
    p.register(sys.stdin, select.POLLIN)
    return ConsoleStream(sys.stdin.buffer, sys.stdout.buffer, p, poll)
