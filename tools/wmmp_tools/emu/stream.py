"""In-process serial line to an emulator, for tests: the host's end behaves as
the stream the AT engine (wmmp.modem.at) reads and writes.

    port = HostPort(emu)               # emu: an emulator with attach()/feed()
    at = AtEngine(port)                # async read(n), write(data), drain()
    reader, writer = open_pair(emu)    # or a real asyncio.StreamReader + a writer

`chunk` caps what one read() returns (the UART handing over a few bytes at a
time).  Writes go to the emulator at once, as bytes on a wire do (the
emulator paces them, modem.py "Pacing").

`baud` (HostPort(emu, baud=115200), or set_baud(rate) as a board's UART
stream has it): the host side's rate.  When it differs from the module's
(emu.baud, e.g. after AT+IPR), bytes both ways arrive as garbage
(modem.garble), as on a real line; None (the default): the host follows the
module, nothing is garbled.
"""

import asyncio

from wmmp_tools.emu.modem import garble


class HostPort:
    def __init__(self, emu, chunk=None, baud=None):
        self.emu = emu
        self.chunk = chunk
        self.baud = baud
        self.bauds = []                 # every set_baud() rate, in order (for tests)
        self._rx = bytearray()
        self._ev = asyncio.Event()
        self.written = bytearray()      # everything the host sent (for tests)
        emu.attach(self._on_output)

    def set_baud(self, rate):
        """The host's UART to `rate` (what a board's stream does with uart.init)."""
        self.baud = rate
        self.bauds.append(rate)

    def _on_output(self, data):
        sent = getattr(self.emu, "tx_baud", None)
        if self.baud is not None and sent is not None and sent != self.baud:
            data = garble(data)
        self._rx += data
        self._ev.set()

    async def read(self, n):
        while not self._rx:
            self._ev.clear()
            await self._ev.wait()
        if self.chunk:
            n = min(n, self.chunk)
        out = bytes(self._rx[:n])
        del self._rx[:n]
        return out

    def pending(self):
        """Bytes the module sent that nobody has read yet."""
        return bytes(self._rx)

    def write(self, data):
        data = bytes(data)
        self.written += data
        if self.baud is None:
            self.emu.feed(data)
        else:
            self.emu.feed(data, self.baud)

    async def drain(self):
        pass

    def close(self):
        self.emu.detach(self._on_output)


class _Writer:
    def __init__(self, emu):
        self.emu = emu

    def write(self, data):
        self.emu.feed(bytes(data))

    async def drain(self):
        pass

    def close(self):
        pass


def open_pair(emu):
    """-> (asyncio.StreamReader of the module's output, writer to the module)."""
    reader = asyncio.StreamReader()
    emu.attach(reader.feed_data)
    return reader, _Writer(emu)
