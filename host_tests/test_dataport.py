"""The board side of the serial data bridge (PROTOCOL.md 11; 4.3.11) on CPython:
wmmp.board.dataport.DataPort over a fake asyncio stream with a fake Terminal
(bytes read reach bridge_feed with the clock's time and wake the runner;
downlink taken and written in order on a kick and without one; the port set at
start, for each new Terminal and on request, a refusal logged; stream failures
logged and retried, bytes taken and not written written first; nothing read
while there is no Terminal) and with the real Terminal (wmmp.terminal.bridge);
wmmp.board.uartstream's data-port parts (readinto, configure through
uart.init with the board's capabilities, the IRQ_RXIDLE wake-up);
Runner.wake(); each board's data UART (pins clear of the modem, console, flash
and the other pins; capabilities; 9600 8N1 as 0x0101 index 0)."""

import asyncio
import importlib.util
import os
import sys
import types

import pytest

from wmmp.board import uartstream as U
from wmmp.board.dataport import DataPort
from wmmp.board.runner import Runner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAPS = {"bauds": (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400),
        "bits": (5, 6, 7, 8), "parity": ("N", "O", "E"), "stop": (1, 2), "extra": {11: 230400}}


def run(coro, timeout=5.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def until(cond, what, timeout=2.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "no %s" % what
        await asyncio.sleep(0.005)


class FakeTerm:
    """The Terminal's bridge methods (lib/wmmp/terminal/engine.py)."""

    def __init__(self, settings=(9600, 8, "N", 1)):
        self.fed = []               # (bytes, now)
        self.down = bytearray()
        self.settings = settings
        self.flushed = []
        self.fail_feed = 0

    def bridge_feed(self, data, now):
        if self.fail_feed:
            self.fail_feed -= 1
            raise RuntimeError("engine fault")
        self.fed.append((bytes(data), now))

    def bridge_take(self, n):
        out = bytes(self.down[:n])
        del self.down[:n]
        return out

    def bridge_waiting(self):
        return len(self.down)

    def bridge_flush(self, now):
        self.flushed.append(now)

    def data_port_settings(self):
        return self.settings


class FakeStream:
    """The data port stream: readinto from a queue of chunks (an exception in
    the queue is raised), write / drain / configure recorded."""

    def __init__(self, caps=CAPS):
        self.q = asyncio.Queue()
        self.written = bytearray()
        self.writes = []
        self.configs = []
        self.caps = caps
        self.fail_write = 0
        self.reads = 0
        self.rest = None

    async def readinto(self, buf):
        item = self.rest or await self.q.get()
        self.reads += 1
        if isinstance(item, BaseException):
            self.rest = None
            raise item
        n = min(len(buf), len(item))
        buf[:n] = item[:n]
        self.rest = item[n:] or None
        return n

    def write(self, data):
        if self.fail_write:
            self.fail_write -= 1
            raise OSError(5, "injected write failure")
        self.written += data
        self.writes.append(bytes(data))

    async def drain(self):
        await asyncio.sleep(0)

    def configure(self, baud, bits, parity, stop):
        if parity not in self.caps["parity"] or stop not in self.caps["stop"]:
            raise ValueError("cannot")
        self.configs.append((baud, bits, parity, stop))


class ReadStream(FakeStream):
    """A stream with read(n) only (no readinto)."""

    async def read(self, n):
        item = await self.q.get()
        return item


ReadStream.readinto = None


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        self.t += 0.001
        return self.t


def make(stream=None, term=None, **kw):
    stream = stream or FakeStream()
    box = [term if term is not None else FakeTerm()]
    logs, wakes = [], []
    clock = Clock()
    port = DataPort(stream, lambda: box[0], clock, lambda: wakes.append(1), logs.append,
                    backoff=(0.01, 0.05), **kw)
    return port, stream, box, logs, wakes, clock


# -- uplink ----------------------------------------------------------------------------------

def test_bytes_read_reach_the_bridge_with_the_time_and_wake_the_runner():
    """PROTOCOL.md 11: every byte in order, each chunk with the clock's time after
    its read (the bridge frames by gap), and the runner woken each time."""
    async def main():
        port, s, box, logs, wakes, clock = make()
        task = asyncio.create_task(port.run())
        for chunk in (b"\x01\x02", b"meter 7", bytes(range(256)), b"x" * 300):
            s.q.put_nowait(chunk)
        await until(lambda: sum(len(d) for d, _ in box[0].fed) == 2 + 7 + 256 + 300, "all bytes fed")
        got = b"".join(d for d, _ in box[0].fed)
        assert got == b"\x01\x02meter 7" + bytes(range(256)) + b"x" * 300
        times = [now for _, now in box[0].fed]
        assert times == sorted(times) and all(100 < x <= clock.t for x in times)
        assert len(wakes) == len(box[0].fed) and port.rx_bytes == len(got)
        task.cancel()
    run(main())


def test_the_read_buffer_is_preallocated_and_handed_as_a_view():
    """No allocation per byte: one bytearray for every read, a memoryview of it
    (or the whole buffer) handed to bridge_feed."""
    async def main():
        seen = []

        class Keep(FakeTerm):
            def bridge_feed(self, data, now):
                seen.append(data)
                FakeTerm.bridge_feed(self, data, now)
        port, s, box, logs, wakes, clock = make(term=Keep(), chunk=64)
        buf = port._buf
        task = asyncio.create_task(port.run())
        s.q.put_nowait(b"abc")
        s.q.put_nowait(b"z" * 64)
        await until(lambda: len(seen) == 2, "two feeds")
        assert isinstance(seen[0], memoryview) and seen[0].obj is buf
        assert seen[1] is buf and port._buf is buf
        task.cancel()
    run(main())


def test_a_stream_with_read_only_works_too():
    async def main():
        port, s, box, logs, wakes, clock = make(stream=ReadStream())
        task = asyncio.create_task(port.run())
        s.q.put_nowait(b"hello")
        await until(lambda: box[0].fed, "fed")
        assert box[0].fed[0][0] == b"hello"
        task.cancel()
    run(main())


def test_nothing_is_read_while_there_is_no_terminal():
    """Before the engine runs (and between Terminals) the bytes wait in the
    UART's buffer; they reach the next Terminal, which sets the port first."""
    async def main():
        port, s, box, logs, wakes, clock = make(period=0.04)
        term = box[0]
        box[0] = None
        task = asyncio.create_task(port.run())
        s.q.put_nowait(b"early")
        await asyncio.sleep(0.05)
        assert s.reads == 0 and s.configs == []
        box[0] = term
        await until(lambda: term.fed, "fed to the terminal")
        assert term.fed[0][0] == b"early" and s.configs == [(9600, 8, "N", 1)]
        task.cancel()
    run(main())


def test_read_failures_are_logged_and_retried_the_engine_failing_too():
    async def main():
        port, s, box, logs, wakes, clock = make()
        task = asyncio.create_task(port.run())
        s.q.put_nowait(OSError(5, "uart gone"))
        s.q.put_nowait(OSError(5, "uart gone"))
        s.q.put_nowait(b"after")
        await until(lambda: box[0].fed, "fed after the failures")
        assert box[0].fed[0][0] == b"after"
        assert sum("read failed" in x for x in logs) == 2 and port.errors == 2
        box[0].fail_feed = 1
        s.q.put_nowait(b"lost to the engine")
        s.q.put_nowait(b"next")
        await until(lambda: len(box[0].fed) == 2, "fed after the engine fault")
        assert any("bridge_feed failed" in x for x in logs) and not task.done()
        task.cancel()
    run(main())


# -- downlink --------------------------------------------------------------------------------

def test_downlink_is_taken_and_written_in_order_on_a_kick():
    async def main():
        port, s, box, logs, wakes, clock = make(period=10)
        task = asyncio.create_task(port.run())
        await until(lambda: s.configs, "configured")
        data = bytes(range(256)) * 3 + b"tail"
        box[0].down += data
        port.kick()
        await until(lambda: len(s.written) == len(data), "written")
        assert bytes(s.written) == data and all(len(w) <= 256 for w in s.writes)
        assert port.tx_bytes == len(data) and box[0].bridge_waiting() == 0
        box[0].down += b"second"
        port.kick()
        await until(lambda: bytes(s.written).endswith(b"second"), "second write")
        task.cancel()
    run(main())


def test_downlink_is_looked_at_without_a_kick():
    async def main():
        port, s, box, logs, wakes, clock = make(period=0.02)
        task = asyncio.create_task(port.run())
        box[0].down += b"no kick"
        await until(lambda: bytes(s.written) == b"no kick", "written by the periodic look")
        task.cancel()
    run(main())


def test_write_failures_are_retried_and_nothing_is_lost_or_written_twice():
    async def main():
        port, s, box, logs, wakes, clock = make(period=10, chunk=4)
        task = asyncio.create_task(port.run())
        await until(lambda: s.configs, "configured")
        s.fail_write = 2
        box[0].down += b"abcdefgh"
        port.kick()
        await until(lambda: bytes(s.written) == b"abcdefgh", "written after the failures")
        assert sum("write failed" in x for x in logs) == 2 and port.errors == 2
        await asyncio.sleep(0.05)
        assert bytes(s.written) == b"abcdefgh"
        task.cancel()
    run(main())


# -- configuration ---------------------------------------------------------------------------

def test_port_set_at_start_for_each_new_terminal_and_on_request():
    """0x0101-0x0104 applied live (PROTOCOL.md 11): from data_port_settings() when a
    Terminal first appears (and again for a new one after a restart), then
    on each ("data_port", ...) event (DataPort.configure)."""
    async def main():
        port, s, box, logs, wakes, clock = make(term=FakeTerm((19200, 7, "E", 2)), period=0.02)
        task = asyncio.create_task(port.run())
        await until(lambda: s.configs, "configured at start")
        assert s.configs == [(19200, 7, "E", 2)] and port.configured == (19200, 7, "E", 2)
        assert port.configure(115200, 8, "N", 1) is True
        assert s.configs[-1] == (115200, 8, "N", 1)
        box[0] = FakeTerm((4800, 8, "O", 1))          # a new Terminal (console reset)
        await until(lambda: len(s.configs) == 3, "configured for the new terminal")
        assert s.configs[-1] == (4800, 8, "O", 1)
        await asyncio.sleep(0.05)
        assert len(s.configs) == 3                     # once per Terminal
        task.cancel()
    run(main())


def test_a_setting_the_port_cannot_do_is_logged_and_the_port_left_as_it_was():
    async def main():
        port, s, box, logs, wakes, clock = make(term=FakeTerm((9600, 8, "M", 1)))
        task = asyncio.create_task(port.run())
        await until(lambda: port.refused, "refused")
        assert s.configs == [] and port.configured is None and port.refused == (9600, 8, "M", 1)
        assert any("not applied" in x for x in logs)
        assert port.configure(9600, 8, "N", 1.5) is False and port.configure(9600, 8, "N", 2) is True
        assert port.configured == (9600, 8, "N", 2)
        task.cancel()
    run(main())


# -- the runner ------------------------------------------------------------------------------

def test_runner_wake_ends_its_wait():
    async def main():
        class T:
            def outgoing(self):
                return []

            def events(self):
                return []

            def deadline(self):
                return None

            def tick(self, now):
                ticks.append(now)

            def start(self, now):
                pass
        ticks = []
        r = Runner(T(), {}, poll=30, log=lambda *a: None)
        task = asyncio.create_task(r.run())
        await until(lambda: len(ticks) == 1, "first turn")
        r.wake()
        await until(lambda: len(ticks) == 2, "a turn at once after wake()")
        r.stop()
        await asyncio.wait_for(task, 1)
    run(main())


# -- wmmp.board.uartstream as a data port -------------------------------------------------------

class DataUART:
    """machine.UART with readinto(buf, n), init(**kw) and irq(handler, trigger)."""

    IRQ_RXIDLE = 4096

    def __init__(self, idle=True):
        self.rx = bytearray()
        self.tx = bytearray()
        self.inits = []
        self.irqs = []
        if not idle:
            self.IRQ_RXIDLE = None

    def any(self):
        return len(self.rx)

    def read(self, n):
        b = bytes(self.rx[:n])
        del self.rx[:n]
        return b or None

    def readinto(self, buf, n=None):
        n = len(buf) if n is None else n
        k = min(n, len(self.rx))
        buf[:k] = self.rx[:k]
        del self.rx[:k]
        return k or None

    def write(self, b):
        self.tx += b
        return len(b)

    def init(self, **kw):
        self.inits.append(kw)

    def irq(self, handler=None, trigger=0):
        self.irqs.append((handler, trigger))

    def idle(self, data):
        """Bytes arrive, then the line goes idle: the interrupt."""
        self.rx += data
        self.irqs[-1][0](self)


def test_uartstream_readinto_in_the_polling_mode():
    async def main():
        u = DataUART(idle=False)
        s = U.UartStream(u, poll=0.005, caps=CAPS, rxidle=True)
        assert s._flag is None and "poll" in repr(s)
        buf = bytearray(8)
        u.rx += b"0123456789"
        assert await s.readinto(buf) == 8 and buf == b"01234567"
        assert await s.readinto(buf) == 2 and buf[:2] == b"89"
        t = asyncio.ensure_future(s.readinto(buf))
        await asyncio.sleep(0.02)
        assert not t.done()
        u.rx += b"Z"
        assert await t == 1 and buf[:1] == b"Z" and s.rx_bytes == 11
    run(main())


def test_uartstream_rxidle_wakes_the_reader_at_the_end_of_a_burst():
    """Where the port has UART.IRQ_RXIDLE the reader sleeps until the line goes
    idle (a frame's end), not a poll period; a long burst is still read every
    `poll` s (no idle while bytes keep coming)."""
    async def main():
        u = DataUART()
        s = U.UartStream(u, poll=5.0, caps=CAPS, rxidle=True)
        assert s._flag is not None and s._s is None and "rxidle" in repr(s)
        assert u.irqs and u.irqs[0][1] == DataUART.IRQ_RXIDLE
        buf = bytearray(64)
        t = asyncio.ensure_future(s.readinto(buf))
        await asyncio.sleep(0.02)
        assert not t.done()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        u.idle(b"frame one")
        assert await t == 9 and bytes(buf[:9]) == b"frame one"
        assert loop.time() - t0 < 2.5                   # the interrupt, not the 5 s poll
        s.poll = 0.01
        t = asyncio.ensure_future(s.readinto(buf))
        await asyncio.sleep(0.005)
        u.rx += b"burst"                                # no idle yet
        assert await asyncio.wait_for(t, 1) == 5
        # reading with read(n) as well
        u.idle(b"xy")
        assert await s.read(10) == b"xy"
    run(main())


def test_uartstream_configure_through_uart_init_within_the_capabilities():
    u = DataUART()
    s = U.UartStream(u, caps=CAPS, rxidle=True)
    n_irq = len(u.irqs)
    s.configure(115200, 7, "E", 2)
    assert u.inits == [{"baudrate": 115200, "bits": 7, "parity": 0, "stop": 2}]
    assert len(u.irqs) == n_irq + 1                      # the interrupt set again after init
    s.configure(9600, 8, "O", 1)
    s.configure(230400, 8, "N", 1)
    assert [k["parity"] for k in u.inits] == [0, 1, None] and s.settings == (230400, 8, "N", 1)
    for bad in ((9600, 8, "M", 1), (9600, 8, "S", 1), (9600, 8, "N", 1.5), (460800, 8, "N", 1),
                (9600, 9, "N", 1), (9600, 4, "N", 1)):
        with pytest.raises(ValueError):
            s.configure(*bad)
    assert len(u.inits) == 3 and s.settings == (230400, 8, "N", 1)      # nothing changed
    free = U.UartStream(DataUART(idle=False))                # no caps: what machine.UART takes
    free.configure(460800, 8, "N", 1)
    with pytest.raises(ValueError):
        free.configure(9600, 8, "N", 1.5)


def test_data_port_over_a_uartstream_end_to_end():
    """DataPort over a UartStream with the idle interrupt: bytes in, downlink out."""
    async def main():
        u = DataUART()
        s = U.UartStream(u, poll=0.05, caps=CAPS, rxidle=True)
        port, _, box, logs, wakes, clock = make(stream=s, period=10)
        task = asyncio.create_task(port.run())
        await until(lambda: u.inits, "configured")
        assert u.inits[0] == {"baudrate": 9600, "bits": 8, "parity": None, "stop": 1}
        u.idle(b"reading 42.7 kWh")
        await until(lambda: box[0].fed, "fed")
        assert box[0].fed[0][0] == b"reading 42.7 kWh"
        box[0].down += b"SET 1"
        port.kick()
        await until(lambda: bytes(u.tx) == b"SET 1", "written to the UART")
        task.cancel()
    run(main())


# -- with the real Terminal (wmmp.terminal.bridge) --------------------------------------------

def test_with_the_real_terminal():
    """The names DataPort uses exist on the engine's Terminal, and a Terminal
    with a data port takes the bytes and gives the port its settings."""
    from wmmp.terminal import engine as E, params as PM

    async def main():
        cfg = E.Config("860000000000001", "460001234567890", serial=b"M2MMAKER")
        cfg.data_port = CAPS
        t = E.Terminal(cfg, PM.Params(PM.MemoryStorage()))
        for name in ("bridge_feed", "bridge_take", "bridge_waiting", "bridge_flush", "bridge_busy",
                     "bridge_counters", "data_port_settings"):
            assert callable(getattr(t, name, None)), name      # set on a terminal with a data port
        assert t.data_port_settings() == (9600, 8, "N", 1)        # 0x0101 index 0: 9600 8N1
        port, s, box, logs, wakes, clock = make(term=t, period=0.02)
        task = asyncio.create_task(port.run())
        await until(lambda: s.configs, "configured")
        assert s.configs == [(9600, 8, "N", 1)]
        s.q.put_nowait(b"meter frame")
        await until(lambda: port.rx_bytes == 11, "fed")
        assert t.bridge_busy() and t.bridge_take(10) == b"" and not logs[1:]
        task.cancel()
    run(main())


# -- the boards' data UART ---------------------------------------------------------------------

BOARDS = ("esp32_sim7600", "pico_bc95")
# board: (UART id, TX, RX, pins the data port must not use)
DATA = {"esp32_sim7600": (1, 33, 32, {1, 3, 6, 7, 8, 9, 10, 11, 16, 17, 4, 25, 34, 2, 0, 5, 12, 15}),
        "pico_bc95": (1, 8, 9, {0, 1, 2, 25, 29})}


def _load_board(board, monkeypatch):
    m = types.ModuleType("machine")

    class UART(DataUART):
        def __init__(self, uart_id, **kw):
            DataUART.__init__(self)
            self.id, self.kw = uart_id, kw
    m.UART = UART
    monkeypatch.setitem(sys.modules, "machine", m)
    spec = importlib.util.spec_from_file_location("board_dp_" + board,
                                                  os.path.join(ROOT, "boards", board, "board.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("board", BOARDS)
def test_board_declares_its_data_uart(board, monkeypatch):
    b = _load_board(board, monkeypatch)
    uid, tx, rx, taken = DATA[board]
    assert (b.DATA_UART_ID, b.DATA_TX, b.DATA_RX, b.DATA_BAUD) == (uid, tx, rx, 9600)
    assert b.DATA_UART_ID != b.UART_ID and not {b.DATA_TX, b.DATA_RX} & taken
    assert not {b.DATA_TX, b.DATA_RX} & ({b.UART_TX, b.UART_RX} | set(b.OUTPUTS.values()))
    s = b.data_stream()
    assert isinstance(s, U.UartStream) and s.uart.id == uid and s.caps is b.DATA_PORT
    assert s.uart.kw["tx"] == tx and s.uart.kw["rx"] == rx and s.uart.kw["baudrate"] == 9600
    assert (s.uart.kw["bits"], s.uart.kw["parity"], s.uart.kw["stop"]) == (8, None, 1)
    assert s._flag is not None and s.settings == (9600, 8, "N", 1)        # IRQ_RXIDLE used
    caps = b.DATA_PORT
    assert set(caps["bauds"]) >= {300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200}
    assert all(v in caps["bauds"] for v in caps.get("extra", {}).values())
    assert set(caps["parity"]) <= {"N", "O", "E"} and set(caps["stop"]) <= {1, 2}
    assert b.BRIDGE_BUFFER >= 1026 and b.BRIDGE_DOWN >= 1024
    for setting in ((b.DATA_BAUD, 8, "N", 1), (115200, 7, "E", 2)):
        s.configure(*setting)
    doc = b.__doc__
    assert "GPIO%d" % tx in doc if board.startswith("esp32") else "GP%d" % tx in doc
    assert "quickref" in doc or "uart.py" in doc                       # the pins' source
