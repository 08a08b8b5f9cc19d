"""The board-side parts of wmmp.board.device that run without an event loop, on
MicroPython and CPython: settings over parameters, back-off, tracebacks as text,
UartStream in its polling mode and ConsoleStream (coroutines driven by hand
where they never sleep), the driver / bearers / packet limit per module type,
the restart proxy, and the device's store, console and state before the engine
runs (a damaged record, an unusable flash).  The asyncio paths are tested on
CPython in host_tests/test_device.py and test_uartstream.py."""

import asyncio
import os
import struct
import sys

from wmmp.board import cellular, device, fsio, settings, store as ST
from wmmp.terminal import params as PM
from wmmp.wire import profile as P
from wmmp.board import uartstream as U
from wmmp.board.supervise import Backoff, describe
from wmmp.modem import packet_profile

_n = [0]
_roots = []
# the unix port writes into the host's temporary directory: names of this run's own
_TAG = "%08x" % int.from_bytes(os.urandom(4), "big") if hasattr(os, "urandom") else "0"
_TMP = (os.getenv("TMPDIR") if hasattr(os, "getenv") else None) or "/tmp"


def _dir():
    """A fresh directory for one test (teardown_module removes it)."""
    _n[0] += 1
    if sys.implementation.name == "cpython":
        import tempfile
        root = tempfile.mkdtemp(prefix="wmmp_dev_")
    else:
        root = "%s/wmmp_dev_%s_%d" % (_TMP, _TAG, _n[0])
        try:
            os.mkdir(root)
        except OSError:
            pass
    _roots.append(root)
    return root + "/state"


def _rmtree(d):
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        p = d + "/" + n
        try:
            os.remove(p)
        except OSError:
            _rmtree(p)
    os.rmdir(d)


def teardown_module():
    """Every directory _dir() made is removed (pytest calls this on CPython,
    host_tests/portable/mp_runner.py under MicroPython)."""
    while _roots:
        _rmtree(_roots.pop())


def _drive(coro, steps=20):
    """Run a coroutine that never really waits."""
    for _ in range(steps):
        try:
            coro.send(None)
        except StopIteration as e:
            return e.args[0] if e.args else None
    raise AssertionError("the coroutine waited")


class _Uart:
    def __init__(self):
        self.rx = bytearray()
        self.tx = bytearray()

    def any(self):
        return len(self.rx)

    def read(self, n):
        b = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return b

    def write(self, b):
        self.tx += b
        return len(b)


class _In:
    def __init__(self, data):
        self.buf = bytearray(data)

    def read(self, n):
        b = bytes(self.buf[:1])
        self.buf = self.buf[1:]
        return b


class _Poll:
    def __init__(self, inp):
        self.inp = inp

    def poll(self, t):
        return [1] if self.inp.buf else []


class _Out:
    def __init__(self):
        self.data = bytearray()

    def write(self, b):
        self.data += b


def test_settings_parameters_win_over_the_factory():
    p = PM.Params()
    p.set(0x0009, bytes([10, 1, 2, 3]))
    p.set(0x000A, struct.pack(">I", (7401 << 16) | 7402))
    s = settings.resolve({"host": "192.0.2.1", "udp_port": 7301, "transport": "tcp",
                          "platform_numbers": ["10658000"]}, p)
    assert s["host"] == "10.1.2.3" and s["port"] == 7402 and s["udp_port"] == 7401
    assert s["platform_numbers"] == ["10658000"] and s["apn"] is None


def test_backoff_and_describe():
    b = Backoff(1, 5)
    assert [b.next() for _ in range(5)] == [1, 2, 4, 5, 5]
    try:
        raise ValueError("boom")
    except ValueError as e:
        text = describe(e)
    assert "ValueError" in text and "boom" in text and "Traceback" in text


def test_uart_stream_polling_mode():
    u = _Uart()
    s = U.UartStream(u)
    if sys.implementation.name == "micropython" and getattr(asyncio, "StreamReader", None):
        # this port's asyncio wraps a UART in a stream (a board's, the unix port's):
        # that is the default; the polling mode has to be asked for
        assert isinstance(s._s, asyncio.StreamReader)
        s = U.UartStream(u, stream=False)
    assert s._s is None          # CPython and the WebAssembly port have no such stream: polling
    u.rx += b"\r\nRDY\r\n"
    assert _drive(s.read(4)) == b"\r\nRD" and _drive(s.read(64)) == b"Y\r\n"
    s.write(b"AT\r")
    _drive(s.drain())
    assert bytes(u.tx) == b"AT\r" and s.rx_bytes == 7 and s.tx_bytes == 3


def test_console_stream_reads_what_waits():
    inp = _In(b"STATUS\r\n")
    out = _Out()
    c = U.ConsoleStream(inp, out, _Poll(inp))
    assert _drive(c.read(64)) == b"STATUS\r\n"
    c.write(b"OK\r\n")
    _drive(c.drain())
    assert bytes(out.data) == b"OK\r\n"


class _Stream:
    async def read(self, n):
        return b""

    def write(self, b):
        pass


def test_driver_bearers_and_packet_limit_per_module():
    s = settings.resolve({"host": "10.0.0.2", "udp_port": 7301, "tcp_port": 7302,
                          "platform_numbers": ["10658000"]})
    for kind, limit in (("sim7600", 1500), ("bc95", 1358)):
        at, drv = cellular.driver(kind, _Stream(), lambda t: None, apn="cmnet")
        assert drv.apn == "cmnet" and drv.at is at
        bs = cellular.bearers(kind, drv, s)
        assert sorted(bs) == [P.BEARER_SMS, P.BEARER_PACKET]
        assert type(bs[P.BEARER_PACKET]).__name__ == "UdpBearer" and bs[P.BEARER_PACKET].port == 7301
        assert packet_profile(bs[P.BEARER_PACKET]).packet_message_max == limit
        tcp = cellular.bearers(kind, drv, settings.resolve({"host": "10.0.0.2", "tcp_port": 7302,
                                                             "transport": "tcp"}))
        assert list(tcp) == [P.BEARER_PACKET] and type(tcp[P.BEARER_PACKET]).__name__ == "TcpBearer"
    assert cellular.bearers("bc95", drv, settings.resolve({})) == {}
    try:
        cellular.driver("sim800", _Stream(), None)
        assert False, "unknown module accepted"
    except ValueError:
        pass


class _Board:
    MODEM = "bc95"
    PRODUCTION = False
    FIRMWARE = "fw-9"

    def __init__(self, state_dir, fs=None):
        self.STATE_DIR = state_dir
        self.fs = fs
        self.inp = _In(b"STATUS\r\n")
        self.out = _Out()
        self.logs = []

    def filesystem(self):
        return self.fs

    def console_stream(self):
        return U.ConsoleStream(self.inp, self.out, _Poll(self.inp))

    def clock(self):
        return 10.0

    def log(self, text):
        self.logs.append(text)


def test_device_store_and_console_before_the_engine():
    d = _dir()
    st = ST.FlashStorage(fsio.OsFS(), d)
    p = PM.Params(st)
    p.set(0x0026, b"\x00\x64")
    p.commit()
    p.set(0x0026, b"\x00\x6e")
    p.commit()
    path = d + "/" + ST.SLOTS[st._slot]
    f = open(path, "rb")
    raw = bytearray(f.read())
    f.close()
    raw[20] ^= 1
    f = open(path, "wb")
    f.write(raw)
    f.close()
    b = _Board(d, fsio.OsFS())
    dev = device.Device(b)
    dev.open_store()
    assert dev.storage.memory_error and dev.params.get_int(0x0026) == 100
    assert [l for l in b.logs if "damaged store record" in l]
    stream = dev.make_console()
    assert dev.state() == ("starting", [])
    data = _drive(stream.read(64))
    reply = dev.console.feed(data, 10.0)
    assert reply.startswith(b"OK STATUS state=starting alarms=none registered=no")


class _BrokenFS:
    def exists(self, p):
        raise OSError(5)


def test_device_runs_from_ram_on_an_unusable_flash():
    b = _Board("/state", _BrokenFS())
    dev = device.Device(b)
    dev.open_store()
    assert isinstance(dev.storage, PM.MemoryStorage) and dev.storage.memory_error
    assert [l for l in b.logs if "flash store unusable" in l]
