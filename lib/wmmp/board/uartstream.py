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
ConsoleStream(inp, out, poller)
                     the service console's line (wmmp.board.console): on a board the
                     REPL's USB CDC / UART line, sys.stdin.buffer and
                     sys.stdout.buffer.  MicroPython's stdin.buffer.read(n)
                     blocks until n bytes arrived, so bytes are taken one at a
                     time while poller.poll(0) says one is waiting; between
                     looks the task sleeps `poll` s.
open_uart(id, baudrate, tx, rx, ...)   machine.UART with these settings.
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


class UartStream:
    """machine.UART -> async read(n), write(data), async drain().

    stream  an asyncio stream over the UART (default: _mp_stream(uart));
            False forces the polling mode
    poll    s between looks at uart.any() in the polling mode
    Counters: rx_bytes, tx_bytes."""

    def __init__(self, uart, stream=None, poll=0.01):
        self.uart = uart
        self.poll = poll
        self._s = _mp_stream(uart) if stream is None else (stream or None)
        self._out = bytearray()
        self.rx_bytes = 0
        self.tx_bytes = 0

    def __repr__(self):
        return "<UartStream %s rx=%d tx=%d>" % ("stream" if self._s else "poll", self.rx_bytes, self.tx_bytes)

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
            await asyncio.sleep(self.poll)

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


def open_uart(uart_id, baudrate, tx, rx, rxbuf=4096, txbuf=None):
    """machine.UART(uart_id) at `baudrate` 8N1 on pins tx/rx with a receive
    buffer of `rxbuf` bytes (a BC95 AT+NSORF line of a 1358-byte datagram is
    2780 characters), wrapped as a UartStream."""
    import machine
    kw = {"baudrate": baudrate, "bits": 8, "parity": None, "stop": 1, "tx": tx, "rx": rx,
          "rxbuf": rxbuf}
    if txbuf:
        kw["txbuf"] = txbuf
    return UartStream(machine.UART(uart_id, **kw))


def stdio_console(poll=0.02):
    """The REPL's line (USB CDC on the Pico, UART0 on an ESP32 DevKitC) as a
    ConsoleStream: select.poll on sys.stdin, bytes through sys.stdin.buffer and
    sys.stdout.buffer."""
    import select
    p = select.poll()
    p.register(sys.stdin, select.POLLIN)
    return ConsoleStream(sys.stdin.buffer, sys.stdout.buffer, p, poll)
