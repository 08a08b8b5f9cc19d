"""The board-side helpers of wmmp.board.device on CPython with fakes: wmmp.board.uartstream
(UartStream over a fake machine.UART in its polling mode and over a fake
asyncio stream, the AT engine talking through it; ConsoleStream over fake
stdin/stdout/poll; open_uart and stdio_console with fake machine/select),
wmmp.board.supervise (back-off, restart after failures, cancellation),
wmmp.board.settings (parameters over factory values) and wmmp.board.consoletask."""

import asyncio
import struct
import sys
import types

import pytest

from wmmp.board import consoletask, settings, uartstream as U
from wmmp.terminal import params as PM
from wmmp.modem.at import AtEngine
from wmmp.board.console import Console
from wmmp.board.supervise import Backoff, describe, supervise


def run(coro, timeout=5.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class FakeUART:
    """machine.UART: any(), read(n), write(b) -> bytes taken (at most `room`)."""

    def __init__(self, room=None, reply=None):
        self.rx = bytearray()
        self.tx = bytearray()
        self.room = room
        self.reply = reply          # callable(line) -> bytes the "module" answers
        self.line = bytearray()

    def any(self):
        return len(self.rx)

    def read(self, n):
        b = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return b or None

    def write(self, b):
        b = bytes(b)
        n = len(b) if self.room is None else min(len(b), self.room)
        self.tx += b[:n]
        if self.reply:
            for c in b[:n]:
                if c == 13:
                    self.rx += self.reply(bytes(self.line))
                    self.line = bytearray()
                else:
                    self.line.append(c)
        return n


def test_poll_mode_reads_what_is_there_and_waits_for_more():
    async def main():
        u = FakeUART()
        s = U.UartStream(u, poll=0.005)
        assert s._s is None and "poll" in repr(s)          # CPython: no asyncio stream over a UART
        u.rx += b"hello world"
        assert await s.read(5) == b"hello"
        assert await s.read(100) == b" world"
        t = asyncio.ensure_future(s.read(10))
        await asyncio.sleep(0.03)
        assert not t.done()                                # nothing there: it waits
        u.rx += b"OK"
        assert await t == b"OK"
        assert s.rx_bytes == 13
    run(main())


def test_poll_mode_keeps_what_the_uart_did_not_take():
    async def main():
        u = FakeUART(room=4)
        s = U.UartStream(u, poll=0.001)
        s.write(b"AT+CIPSEND=0,10\r")
        assert bytes(u.tx) == b"AT+C"                      # 4 bytes taken at once
        await s.drain()
        assert bytes(u.tx) == b"AT+CIPSEND=0,10\r" and s.tx_bytes == 16
    run(main())


def test_stream_mode_goes_through_the_asyncio_stream():
    """MicroPython's asyncio.StreamReader(uart) (faked here): read() passes n
    through, a None read (UART timeout) becomes b"", write/drain are the
    stream's."""
    class Stream:
        def __init__(self):
            self.reads = [b"RDY", None]
            self.out = []
            self.drains = 0

        async def read(self, n):
            return self.reads.pop(0)

        def write(self, b):
            self.out.append(bytes(b))

        async def drain(self):
            self.drains += 1

    async def main():
        st = Stream()
        s = U.UartStream(FakeUART(), stream=st)
        assert await s.read(8) == b"RDY" and await s.read(8) == b""
        s.write(b"AT\r")
        await s.drain()
        assert st.out == [b"AT\r"] and st.drains == 1 and "stream" in repr(s)
    run(main())


def test_the_at_engine_talks_through_a_uart_stream():
    def module(line):
        if line == b"AT+CSQ":
            return b"\r\n+CSQ: 23,99\r\n\r\nOK\r\n"
        return b"\r\nOK\r\n" if line == b"AT" else b"\r\nERROR\r\n"

    async def main():
        u = FakeUART(reply=module)
        at = AtEngine(U.UartStream(u, poll=0.002), log=lambda *a: None)
        assert await at.command("AT") == []
        assert await at.command("AT+CSQ", expect="+CSQ") == [b"+CSQ: 23,99"]
        at.stop()
    run(main())


def test_open_uart_uses_machine_uart_with_a_large_receive_buffer(monkeypatch):
    made = []
    m = types.ModuleType("machine")
    m.UART = lambda uid, **kw: made.append((uid, kw)) or FakeUART()
    monkeypatch.setitem(sys.modules, "machine", m)
    s = U.open_uart(2, 115200, 17, 16)
    assert isinstance(s, U.UartStream)
    assert made == [(2, {"baudrate": 115200, "bits": 8, "parity": None, "stop": 1, "tx": 17, "rx": 16,
                         "rxbuf": 4096})]


class FakeIn:
    def __init__(self):
        self.buf = bytearray()
        self.reads = []

    def read(self, n):
        self.reads.append(n)
        b = bytes(self.buf[:n])
        self.buf = self.buf[n:]
        return b


class FakePoll:
    def __init__(self, inp):
        self.inp = inp

    def poll(self, t):
        assert t == 0
        return [(self.inp, 1)] if self.inp.buf else []


class FakeOut:
    def __init__(self):
        self.data = bytearray()
        self.flushes = 0

    def write(self, b):
        self.data += b

    def flush(self):
        self.flushes += 1


def test_console_stream_takes_bytes_one_at_a_time_while_some_wait():
    """stdin.buffer.read(n) on MicroPython blocks until n bytes came: the stream
    only ever reads 1, and only while poll says a byte is waiting."""
    async def main():
        inp, out = FakeIn(), FakeOut()
        c = U.ConsoleStream(inp, out, FakePoll(inp), poll=0.005)
        inp.buf += b"STATUS\r\nIDENT\r\n"
        assert await c.read(4) == b"STAT"
        assert await c.read(64) == b"US\r\nIDENT\r\n"
        assert set(inp.reads) == {1}
        t = asyncio.ensure_future(c.read(64))
        await asyncio.sleep(0.03)
        assert not t.done()
        inp.buf += b"\x03"
        assert await t == b"\x03"
        c.write(b"OK STATUS\r\n")
        await c.drain()
        assert bytes(out.data) == b"OK STATUS\r\n" and out.flushes == 1 and c.tx_bytes == 11
    run(main())


def test_stdio_console_polls_stdin_and_uses_the_byte_buffers(monkeypatch):
    sel = types.ModuleType("select")
    sel.POLLIN = 1
    regs = []

    class Poll:
        def register(self, obj, ev):
            regs.append((obj, ev))
    sel.poll = Poll
    monkeypatch.setitem(sys.modules, "select", sel)
    fake_sys = types.SimpleNamespace(stdin=types.SimpleNamespace(buffer="IN"),
                                     stdout=types.SimpleNamespace(buffer="OUT"))
    monkeypatch.setattr(U, "sys", fake_sys)
    c = U.stdio_console()
    assert regs == [(fake_sys.stdin, 1)] and c.inp == "IN" and c.out == "OUT"


# -- wmmp.board.supervise ----------------------------------------------------------------

def test_backoff_doubles_up_to_its_cap_and_resets():
    b = Backoff(1, 10)
    assert [b.next() for _ in range(6)] == [1, 2, 4, 8, 10, 10]
    b.reset()
    assert b.next() == 1


def test_supervise_logs_restarts_after_back_off_and_stops_when_cancelled():
    async def main():
        runs, logs = [], []

        async def task():
            runs.append(asyncio.get_running_loop().time())
            if len(runs) <= 3:
                raise ValueError("fault %d" % len(runs))
            await asyncio.sleep(60)                      # the fourth run lives on
        t = asyncio.ensure_future(supervise("x", task, logs.append, Backoff(0.02, 0.05), clock=lambda: 0))
        while len(runs) < 4:
            await asyncio.sleep(0.005)
        gaps = [b - a for a, b in zip(runs, runs[1:])]
        assert gaps[0] >= 0.018 and gaps[1] >= 0.038 and gaps[2] >= 0.048
        assert len(logs) == 3 and all("task x failed" in l and "ValueError" in l for l in logs)
        assert "fault 1" in logs[0] and "restarting in 0.02 s" in logs[0]
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
    run(main())


def test_supervise_resets_the_delay_after_a_healthy_run_and_logs_an_ended_task():
    async def main():
        now = [0.0]
        logs = []
        n = []

        async def task():
            n.append(1)
            now[0] += 100 if len(n) == 3 else 0        # the third run lasted 100 s
        b = Backoff(0.001, 1)
        t = asyncio.ensure_future(supervise("y", task, logs.append, b, healthy=60, clock=lambda: now[0]))
        while len(n) < 4:
            await asyncio.sleep(0.005)
        t.cancel()
        assert "task y ended" in logs[0]
        delays = [float(l.rsplit("in ", 1)[1].split()[0]) for l in logs[:3]]
        assert delays == [0.001, 0.002, 0.001]
    run(main())


def test_describe_gives_the_traceback():
    try:
        raise KeyError("k")
    except KeyError as e:
        text = describe(e)
    assert text.startswith("Traceback") and "KeyError: 'k'" in text


# -- wmmp.board.settings -----------------------------------------------------------------

def test_settings_from_the_factory_and_the_platform():
    factory = {"host": "10.0.0.1", "udp_port": 7301, "tcp_port": 7302, "apn": "cmnet",
               "platform_numbers": ["10658000", "10658001"]}
    s = settings.resolve(factory)
    assert (s["transport"], s["host"], s["port"], s["apn"]) == ("udp", "10.0.0.1", 7301, "cmnet")
    assert s["software_version"] == b"WMMP0.1" and s["session_key"] is True
    p = PM.Params()
    p.set(0x0009, bytes([192, 0, 2, 7]))
    p.set(0x000A, struct.pack(">I", 9000 << 16))           # UDP 9000, TCP kept
    p.set(0x0002, b"cmiot")
    p.set(0x0007, b"10658001")
    s2 = settings.resolve(dict(factory, transport="tcp"), p)
    assert (s2["host"], s2["udp_port"], s2["tcp_port"], s2["port"]) == ("192.0.2.7", 9000, 7302, 7302)
    assert s2["apn"] == "cmiot" and s2["platform_numbers"] == ["10658001", "10658000"]
    assert settings.link(s2) != settings.link(s)
    assert settings.link(settings.resolve(factory, PM.Params())) == settings.link(s)
    assert settings.resolve(None)["port"] is None


# -- wmmp.board.consoletask --------------------------------------------------------------

def test_console_task_feeds_the_console_and_answers():
    async def main():
        inp, out = FakeIn(), FakeOut()
        stream = U.ConsoleStream(inp, out, FakePoll(inp), poll=0.005)
        con = Console(PM.Params(), lambda: ("online", []), production=False)
        resets = []
        t = asyncio.ensure_future(consoletask.serve(stream, con, lambda: 1.0, lambda w, b: resets.append(w)))
        inp.buf += b"STATUS\r\nHELP\r\n"
        while out.data.count(b"\r\n") < 2:
            await asyncio.sleep(0.005)
        lines = bytes(out.data).decode().split("\r\n")
        assert lines[0].startswith("OK STATUS state=online") and lines[1].startswith("OK HELP")
        t.cancel()
        assert resets == []
    run(main())


def test_console_task_hands_reset_events_over():
    class Con:
        """A console that reports one RESET KEYS after its first line."""

        def __init__(self):
            self.ev = [("reset", "keys", 0x0E)]
            self.fed = []

        def feed(self, data, now):
            self.fed.append((bytes(data), now))
            return b""

        def events(self):
            ev, self.ev = self.ev, []
            return ev

    async def main():
        inp, out = FakeIn(), FakeOut()
        con = Con()
        resets = []
        t = asyncio.ensure_future(consoletask.serve(U.ConsoleStream(inp, out, FakePoll(inp), 0.005), con,
                                                    lambda: 7.0, lambda w, b: resets.append((w, b))))
        inp.buf += b"RESET KEYS\r\n"
        while not resets:
            await asyncio.sleep(0.005)
        t.cancel()
        assert resets == [("keys", 0x0E)] and con.fed[0] == (b"RESET KEYS\r\n", 7.0) and not out.data
    run(main())
