"""wmmp.board.device (the terminal's life on a board) on CPython: device.main against the
SIM7600 and BC95 emulators (tools/wmmp_tools/emu) over in-process UARTs
(HostPort), the platform simulator and the SMS centre on loopback; the console
line is a wmmp.board.uartstream.ConsoleStream over fakes; the flash store is a real
directory (wmmp.board.fsio.OsFS).  Each test is bounded by a few seconds.

Covers: boot, registration with keys by SMS and login through each module;
STATUS on the console; an exception inside a bearer (logged by the runner, the
loop goes on), escaping the engine task and the console task (logged with the
traceback, the task restarted by its supervisor); a damaged store record and
an unusable flash reported as alarm 0x0011; a CONFIG_SET of the APN (bearers
rebuilt, module restarted, same Terminal logs in again and reports
0x4010/0x4017); a console reset restarting the engine or the board.
"""

import asyncio
import os
import struct
import time

import pytest

from wmmp.wire import codec, commands as C, profile as P
from wmmp.board import device
from wmmp.terminal import engine as E, params as PM
from wmmp.board.fsio import OsFS
from wmmp.terminal.simcard import SimulatedSim
from wmmp.board.store import FlashStorage, SLOTS
from wmmp.board.uartstream import ConsoleStream

from wmmp_tools.emu.bc95 import Bc95 as Bc95Emu
from wmmp_tools.emu.sim7600 import Sim7600 as Sim7600Emu
from wmmp_tools.emu.stream import HostPort
from wmmp_tools.platform.model import Config as PlatformConfig
from wmmp_tools.platform.operator import Operator
from wmmp_tools.platform.server import Platform
from wmmp_tools.smsc import SmsCentre

IMEI, IMSI, ICCID = "860000000000001", "460001234567890", "89860012345678901234"
MSISDN, PLATFORM_NUMBER = "13800000001", "10658000"
LIMIT = 12.0          # s for a whole test


class FakeIn:
    """The console line's input side: bytes typed by the technician."""

    def __init__(self):
        self.buf = bytearray()
        self.fail = 0             # read() raises this many times

    def read(self, n):
        if self.fail:
            self.fail -= 1
            raise OSError(5, "injected console read failure")
        b = bytes(self.buf[:n])
        self.buf = self.buf[n:]
        return b


class FakePoll:
    def __init__(self, inp):
        self.inp = inp

    def poll(self, timeout):
        return [(self.inp, 1)] if self.inp.buf else []


class FakeOut:
    def __init__(self):
        self.data = bytearray()

    def write(self, b):
        self.data += b
        return len(b)


class Board:
    """A board for the tests: the emulator behind an in-process UART."""

    PRODUCTION = False
    RESTART_BACKOFF = (0.05, 0.4)
    RADIO_PERIOD = 0
    FIRMWARE = "test-1"

    def __init__(self, modem, emu, state_dir, settings, fs=None):
        self.MODEM = modem
        self.SETTINGS = settings
        self.STATE_DIR = state_dir
        self.port = HostPort(emu)
        self.fs = fs or OsFS()
        self.cin, self.cout = FakeIn(), FakeOut()
        self.logs = []
        self.events = []
        self.messages = []
        self.resets = 0

    def modem_stream(self):
        return self.port

    def console_stream(self):
        return ConsoleStream(self.cin, self.cout, FakePoll(self.cin), poll=0.01)

    def filesystem(self):
        return self.fs

    def log(self, text):
        self.logs.append(text)

    def on_event(self, ev):
        self.events.append(ev)

    def on_message(self, direction, kind, raw):
        self.messages.append((direction, kind, bytes(raw)))

    def reset(self):
        self.resets += 1

    # -- for the tests ------------------------------------------------------
    def seen(self, name, *args):
        return any(e[0] == name and e[1:1 + len(args)] == args for e in self.events)

    def count(self, name, *args):
        return sum(1 for e in self.events if e[0] == name and e[1:1 + len(args)] == args)

    def sent(self, command):
        out = []
        for d, kind, raw in self.messages:
            if d == "out" and len(raw) >= 22 and struct.unpack_from(">H", raw, 20)[0] == command:
                out.append(codec.decode(raw, P.DEFAULT, kind))
        return out

    def received(self, command):
        return [raw for d, kind, raw in self.messages
                if d == "in" and len(raw) >= 22 and struct.unpack_from(">H", raw, 20)[0] == command]

    def console(self, line):
        self.cin.buf += line.encode() + b"\r\n"

    def replies(self):
        return [ln for ln in bytes(self.cout.data).decode().split("\r\n") if ln]


async def eventually(cond, what, timeout=6.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "no %s within %s s" % (what, timeout)
        await asyncio.sleep(0.02)


class Rig:
    """SMS centre, platform simulator (the SIM's subscription provisioned), an
    emulated module and a device on it."""

    def __init__(self, tmp_path, modem="sim7600", transport="udp", settings=None, fs=None, pin=None):
        self.tmp = tmp_path
        self.pin = pin
        self.modem = modem
        self.transport = transport
        self.extra = settings or {}
        self.fs = fs
        self.state_dir = str(tmp_path / "state")

    async def __aenter__(self):
        self.smsc = SmsCentre("127.0.0.1", 0)
        await self.smsc.start()
        self.pf = Platform(PlatformConfig(udp_port=0, tcp_port=0, smsc=("127.0.0.1", self.smsc.port),
                                          msisdn=PLATFORM_NUMBER, key_delay=0.1))
        await self.pf.start()
        self.op = Operator(self.pf)
        await self.op.provision({"imsi": IMSI, "msisdn": MSISDN})
        card = SimulatedSim(IMSI, ICCID, IMEI, pin=self.pin or "1234", pin_enabled=self.pin is not None)
        if self.modem == "sim7600":
            self.emu = Sim7600Emu(card, msisdn=MSISDN, smsc=("127.0.0.1", self.smsc.port))
        else:
            self.emu = Bc95Emu(card, msisdn=MSISDN, smsc=("127.0.0.1", self.smsc.port), sms=True, tcp=True)
        await self.emu.start()
        s = {"host": "127.0.0.1", "udp_port": self.pf.udp_port, "tcp_port": self.pf.tcp_port,
             "transport": self.transport, "platform_numbers": [PLATFORM_NUMBER], "serial": b"M2MMAKER",
             "apn": "cmnet"}
        s.update(self.extra)
        self.board = Board(self.modem, self.emu, self.state_dir, s, self.fs)
        return self

    def start(self):
        self.dev = device.Device(self.board)
        self.task = asyncio.create_task(self.dev.run())
        return self.dev

    async def online(self, timeout=6.0):
        await eventually(lambda: self.dev.term is not None and self.dev.term.state == E.S_ONLINE,
                         "login", timeout)

    async def __aexit__(self, *exc):
        task = getattr(self, "task", None)
        if task is not None:
            task.cancel()
            try:
                await asyncio.wait_for(task, 5)
            except (asyncio.CancelledError, asyncio.TimeoutError):
                pass
        await self.emu.close()
        await self.pf.close()
        await self.smsc.close()


def run(coro, limit=LIMIT):
    return asyncio.run(asyncio.wait_for(coro, limit))


# -- boot, registration, login, console ---------------------------------------------

@pytest.mark.parametrize("modem", ["sim7600", "bc95"])
def test_boots_registers_logs_in_and_answers_the_console(tmp_path, modem):
    """From an empty flash: the module is powered and identified, the terminal
    registers (keys by SMS through the module), logs in with a session key over
    the module's UDP socket; STATUS on the console line answers with the live
    state; the parameters persist in the flash store."""
    async def main():
        async with Rig(tmp_path, modem) as r:
            dev = r.start()
            await r.online()
            b = r.board
            assert b.seen("registered") and dev.term.session is not None
            assert dev.ident["imei"] == IMEI and dev.term.cfg.imsi == IMSI
            assert dev.sessions == 1 and dev.failures == {}
            assert b.received(C.LOGIN_ACK) and not b.sent(C.LOGIN)[0].tlv(0xE020)
            # packet traffic really went through the module's sockets
            assert (b"AT+CIPSEND" if modem == "sim7600" else b"AT+NSOST") in bytes(b.port.written)
            b.console("STATUS")
            b.console("IDENT")
            await eventually(lambda: len(b.replies()) >= 2, "console replies")
            st, ident = b.replies()[:2]
            assert st.startswith("OK STATUS state=online alarms=none registered=yes"), st
            assert ident.startswith("OK IDENT serial=M2MMAKER") and "imei=%s" % IMEI in ident, ident
            assert "fw=test-1" in ident
            # the console reads the card through the driver (its SIM jobs, 4.4.1.4)
            assert " sim=READY " in st and "pin1=off" in st and "imsi=%s" % IMSI in ident, (st, ident)
            assert any(l.startswith("device: %s firmware" % modem) for l in b.logs)
        st = FlashStorage(OsFS(), r.state_dir)
        assert PM.Params(st).get("registered") == b"\x01" and st.last_load == "ok"
    run(main())


def test_tcp_transport_through_the_sim7600(tmp_path):
    """transport "tcp": the packet bearer is the SIM7600's TCP link 1."""
    async def main():
        async with Rig(tmp_path, "sim7600", transport="tcp") as r:
            dev = r.start()
            await r.online()
            assert b'AT+CIPOPEN=1,"TCP"' in bytes(r.board.port.written)
            assert type(dev.bearers[P.BEARER_PACKET]).__name__ == "TcpBearer"
    run(main())


@pytest.mark.parametrize("stored_pin", [True, False])
def test_the_engine_checks_the_sim_through_the_driver(tmp_path, stored_pin):
    """The driver is the engine's SIM (4.4.1.1).  A card that asks for PIN1: the
    IMSI cannot be read at power-on; with the PIN1 stored the engine's SIM guard
    enters it through the module (AT+CPIN), reads the IMSI and registers with
    it; with none stored it sends nothing and stops in alarm 0x0006 (self-test
    fault), which the console shows.
    The runner opens the bearers before it starts the engine, and a locked card
    cannot attach: attach_wait is cut to 0.5 s here so that opening fails fast
    (on a board it waits attach_wait, 30 s, before the SIM guard runs)."""
    async def main():
        async with Rig(tmp_path, "sim7600", pin="1234") as r:
            r.board.MODEM_OPTIONS = {"attach_wait": 0.5}
            if stored_pin:
                p = PM.Params(FlashStorage(OsFS(), r.state_dir))
                p.set("secret_pin1", b"1234")
                # the first REGISTER goes before the link is up (see above): given up after
                # 2 s (packet ACK timeout, 0x0107) and sent again 1 s later (0x002B)
                p.set(0x0107, bytes([0x02, 0, 0, 2]))
                p.set(0x002B, struct.pack(">II", 1, 5))
                p.commit()
            dev = r.start()
            b = r.board
            if stored_pin:
                await r.online()
                assert dev.ident["imsi"] is None and dev.term.cfg.imsi == IMSI
                assert b'AT+CPIN="1234"' in bytes(b.port.written) and b.seen("registered")
            else:
                await eventually(lambda: dev.term is not None and dev.term.state == E.S_ALARM, "SIM alarm")
                assert 0x0006 in dev.term.alarms and b"AT+CPIN=" not in bytes(b.port.written)
                assert not b.sent(C.REGISTER)
                b.console("STATUS")
                await eventually(lambda: any("state=alarm alarms=0x0006" in x for x in b.replies()),
                                 "console shows the SIM alarm")
    run(main())


# -- supervision ---------------------------------------------------------------------

def test_exceptions_are_logged_and_the_loop_carries_on(tmp_path):
    """A bearer whose recv() raises: the runner logs it, reopens, the terminal
    stays online and keeps its heartbeats answered.  An exception escaping the
    engine task (here from the radio update) and one in the console task: each
    is logged with its traceback and the task starts again (new Terminal, same
    parameters: no second registration)."""
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            # factory heartbeat of 1 s (stored before boot, like a provisioned unit)
            p = PM.Params(FlashStorage(OsFS(), r.state_dir))
            p.set(0x0011, struct.pack(">I", 1))
            p.commit()
            dev = r.start()
            b = r.board
            await r.online()
            # 1. a bearer that raises inside the runner
            bearer = dev.bearers[P.BEARER_PACKET]
            real = bearer.recv
            calls = []

            async def broken():
                if not calls:
                    calls.append(1)
                    raise RuntimeError("injected bearer fault")
                return await real()
            bearer.recv = broken
            acks = len(b.received(C.HEART_BEAT_ACK))
            await eventually(lambda: any("injected bearer fault" in l for l in b.logs), "bearer fault logged")
            await eventually(lambda: len(b.received(C.HEART_BEAT_ACK)) >= acks + 2, "heartbeats after the fault")
            assert dev.term.state == E.S_ONLINE and dev.sessions == 1
            # 2. an exception escaping the engine task
            term1 = dev.term
            drv = dev.drv
            real_radio = drv.update_radio
            hits = []

            async def radio(params):
                if not hits:
                    hits.append(1)
                    raise RuntimeError("injected engine fault")
                return await real_radio(params)
            drv.update_radio = radio
            dev._restart = "fresh"
            dev.runner.stop()                      # next session: update_radio raises
            await eventually(lambda: dev.failures.get("engine") == 1, "engine failure counted")
            await r.online()
            assert dev.term is not term1 and dev.sessions == 2      # the failed one never ran
            log = "\n".join(b.logs)
            assert "task engine failed" in log and "Traceback" in log and "injected engine fault" in log
            assert b.count("registered") == 1          # same parameters: logged in, not registered again
            # 3. the console task
            b.cin.fail = 1
            b.console("STATUS")
            await eventually(lambda: dev.failures.get("console") == 1, "console failure")
            await eventually(lambda: any(x.startswith("OK STATUS state=online") for x in b.replies()),
                             "console answering again")
            assert "task console failed" in "\n".join(b.logs)
    run(main())


def test_a_module_that_does_not_answer_is_retried_with_back_off(tmp_path):
    """The module is off (no PWRKEY wired): power-on fails with NotResponding,
    is logged and retried; once the module is powered by hand the terminal logs
    in.  The console answers all along (state=starting)."""
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            r.emu.power_off()
            r.board.MODEM_OPTIONS = {"at_wait": 0.3, "boot_wait": 0.1}
            from wmmp.board import cellular
            from wmmp.board.supervise import Backoff
            real = cellular.bring_up

            async def quick(kind, drv, power, log, backoff=None, attempts=None):
                return await real(kind, drv, power, log, Backoff(0.05, 0.1), attempts)
            cellular.bring_up = quick
            try:
                dev = r.start()
                b = r.board
                await eventually(lambda: sum("not ready" in l for l in b.logs) >= 2, "retries")
                b.console("STATUS")
                await eventually(lambda: any(x.startswith("OK STATUS state=starting") for x in b.replies()),
                                 "console before the engine")
                r.emu.power_on()
                await r.online()
            finally:
                cellular.bring_up = real
            assert dev.failures == {}
    run(main())


# -- flash store ---------------------------------------------------------------------

def _two_generations(state_dir):
    st = FlashStorage(OsFS(), state_dir)
    p = PM.Params(st)
    p.set(0x0026, struct.pack(">H", 100))
    p.commit()
    p.set(0x0026, struct.pack(">H", 110))
    p.commit()
    return st


def _alarms_reported(b):
    codes = []
    for m in b.sent(C.CONFIG_TRAP):
        v = m.tlv(0x300D)
        if v is not None:
            codes += [struct.unpack_from(">H", v, i)[0] for i in range(0, len(v), 2)]
    return codes


def test_a_damaged_record_boots_and_reports_memory_error(tmp_path):
    """The newest store record is damaged (a flipped bit): the store falls back
    to the older generation, the terminal boots, registers, logs in and reports
    alarm 0x0011 memory error (300B/300C/300D CONFIG_TRAP), and the damaged
    slot is rewritten."""
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            st = _two_generations(r.state_dir)
            newest = os.path.join(r.state_dir, SLOTS[st._slot])
            raw = bytearray(open(newest, "rb").read())
            raw[20] ^= 0x01
            open(newest, "wb").write(bytes(raw))
            dev = r.start()
            b = r.board
            await r.online()
            assert any("damaged store record discarded" in l for l in b.logs)
            await eventually(lambda: 0x0011 in _alarms_reported(b), "alarm 0x0011 reported")
            assert 0x0011 in dev.term.alarms and dev.params.get_int(0x0026) == 100
            b.console("STATUS")
            await eventually(lambda: any("alarms=0x0011" in x for x in b.replies()), "console shows the alarm")
        st2 = FlashStorage(OsFS(), r.state_dir)
        st2.load()
        assert st2.last_load == "ok" and not st2.discarded
    run(main())


class BrokenFS:
    """A flash whose every operation fails."""

    def __getattr__(self, name):
        def fail(*a):
            raise OSError(5, "EIO")
        return fail


def test_an_unusable_flash_runs_from_ram_and_reports_memory_error(tmp_path):
    async def main():
        async with Rig(tmp_path, "sim7600", fs=BrokenFS()) as r:
            dev = r.start()
            await r.online()
            assert isinstance(dev.storage, PM.MemoryStorage)
            assert any("flash store unusable" in l for l in r.board.logs)
            await eventually(lambda: 0x0011 in _alarms_reported(r.board), "alarm 0x0011 reported")
    run(main())


# -- restarts ------------------------------------------------------------------------

def test_config_set_of_the_apn_rebuilds_bearers_and_restarts_the_module(tmp_path):
    """CONFIG_SET APN=cmiot (a restart tag): LOGOUT 0x07, the new APN restarts the
    module (AT+CRESET, AT+CGDCONT with cmiot), new bearers, the same Terminal
    logs in again and reports 0x4010 (result 0) + 0x4017."""
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            dev = r.start()
            b = r.board
            await r.online()
            term = dev.term
            serial = term.serial.rstrip(b"\x00").decode()
            ans = await r.op.set({"serial": serial, "tlvs": [["0x0002", b"cmiot".hex()]], "report_wait": 8})
            assert ans.get("result") == 0, ans
            await eventually(lambda: any(m.tlv(0x4010) and m.tlv(0x4017) for m in b.sent(C.CONFIG_TRAP)),
                             "0x4010 + 0x4017 after the restart")
            assert dev.term is term and dev.sessions == 2 and dev.drv.apn == "cmiot"
            assert b.seen("restart", "config") and b.count("login_ack") == 2
            w = bytes(b.port.written)
            assert b"AT+CRESET" in w and b'AT+CGDCONT=1,"IP","cmiot"' in w
            assert any("connection settings changed" in l for l in b.logs)
    run(main())


def test_console_reset_restarts_the_engine_or_the_board(tmp_path):
    """A console reset event: a new Terminal over the same Params logs in again;
    with CONSOLE_RESET = "board" the board's reset() is called instead."""
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            dev = r.start()
            await r.online()
            term = dev.term
            dev.on_console_reset("keys", 0x0E)
            await eventually(lambda: dev.term is not term and dev.term.state == E.S_ONLINE, "new engine online")
            assert dev.term.params is term.params and dev.sessions == 2 and r.board.resets == 0
            r.board.CONSOLE_RESET = "board"
            dev.on_console_reset("sim", 0x80)
            assert r.board.resets == 1
    run(main())


def test_the_watchdog_is_fed_while_the_loop_runs(tmp_path):
    """board.watchdog() gives an object with feed(): a supervised task feeds it
    every WATCHDOG_FEED s for as long as the asyncio loop runs."""
    class Wdt:
        feeds = 0

        def feed(self):
            Wdt.feeds += 1

    async def main():
        async with Rig(tmp_path, "bc95") as r:
            r.board.watchdog = Wdt
            r.board.WATCHDOG_FEED = 0.02
            r.start()
            await r.online()
            n = Wdt.feeds
            assert n >= 1
            await eventually(lambda: Wdt.feeds >= n + 5, "5 more watchdog feeds")
    run(main())
