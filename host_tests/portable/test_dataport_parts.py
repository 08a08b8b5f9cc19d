"""The board side of the serial data bridge (PROTOCOL.md 11) on MicroPython and
CPython, coroutines driven by hand where they never wait: UartStream's
readinto (polling and IRQ_RXIDLE modes) and configure() within a board's
capabilities; DataPort setting the port for a new Terminal, handing read
bytes to bridge_feed as a view of its one buffer, and writing the downlink in
order.  The asyncio paths are tested on CPython in host_tests/test_dataport.py."""

from wmmp.board import uartstream as U
from wmmp.board.dataport import DataPort

CAPS = {"bauds": (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400),
        "bits": (5, 6, 7, 8), "parity": ("N", "O", "E"), "stop": (1, 2), "extra": {11: 230400}}


def _drive(coro, steps=20):
    """Run a coroutine that never really waits."""
    for _ in range(steps):
        try:
            coro.send(None)
        except StopIteration as e:
            return e.args[0] if e.args else None
    raise AssertionError("the coroutine waited")


class _Uart:
    IRQ_RXIDLE = 4096

    def __init__(self):
        self.rx = bytearray()
        self.tx = bytearray()
        self.inits = []
        self.irqs = 0

    def any(self):
        return len(self.rx)

    def readinto(self, buf, n):
        k = min(n, len(self.rx))
        buf[:k] = self.rx[:k]
        self.rx = self.rx[k:]
        return k

    def write(self, b):
        self.tx += b
        return len(b)

    def init(self, baudrate, bits, parity, stop):
        self.inits.append((baudrate, bits, parity, stop))

    def irq(self, handler=None, trigger=0):
        self.irqs += 1


class _Term:
    def __init__(self):
        self.fed = []
        self.down = bytearray(b"0123456789")

    def bridge_feed(self, data, now):
        self.fed.append((bytes(data), now))

    def bridge_take(self, n):
        out = bytes(self.down[:n])
        self.down = self.down[n:]
        return out

    def data_port_settings(self):
        return (19200, 7, "E", 1)


def test_uartstream_readinto_and_configure():
    u = _Uart()
    s = U.UartStream(u, stream=False, caps=CAPS, rxidle=True)
    assert u.irqs == 1 and s._flag is not None
    buf = bytearray(4)
    u.rx += b"abcdef"
    assert _drive(s.readinto(buf)) == 4 and buf == b"abcd"
    assert _drive(s.readinto(buf)) == 2 and buf[:2] == b"ef" and s.rx_bytes == 6
    s.configure(115200, 8, "O", 2)
    assert u.inits == [(115200, 8, 1, 2)] and u.irqs == 2
    for bad in ((9600, 8, "M", 1), (9600, 8, "N", 3), (1000000, 8, "N", 1)):
        try:
            s.configure(*bad)
            assert False, bad
        except ValueError:
            pass
    assert len(u.inits) == 1 and s.settings == (115200, 8, "O", 2)


def test_dataport_feeds_a_view_and_writes_in_order():
    u = _Uart()
    s = U.UartStream(u, stream=False, caps=CAPS)
    t = _Term()
    wakes = []
    logs = []
    port = DataPort(s, lambda: t, lambda: 7.5, lambda: wakes.append(1), logs.append, chunk=8)
    assert port.terminal() is t and u.inits == [(19200, 7, 0, 1)]
    assert port.configured == (19200, 7, "E", 1)
    u.rx += b"meter"
    data = _drive(port._read())
    assert len(data) == 5 and bytes(data) == b"meter" and bytes(port._buf[:5]) == b"meter"
    t.bridge_feed(data, 7.5)
    assert t.fed == [(b"meter", 7.5)]
    _drive(port._write_all(t))
    assert bytes(u.tx) == b"0123456789" and port.tx_bytes == 10 and t.down == b""
    assert port.configure(9600, 8, "S", 1) is False and port.refused == (9600, 8, "S", 1)
    assert port.configured == (19200, 7, "E", 1) and port.errors == 1
