"""The modem emulators pace their AT UART at the line rate (issue 13, "Pacing
that means something"; tools/wmmp_tools/emu/modem.py "Pacing"): output leaves
no faster than baud / char_bits bytes per second, host bytes are acted on
only after their line time; AT+IPR / AT+IPREX (SIM7600) and AT+NATSPEED
(BC95, MODEMS "baud") answer OK at the old rate and switch after it; a host at
another rate than the module's sees garbage (stream.HostPort(baud=...)).

Timing asserts are lower bounds (deterministic: the pacing schedule is
absolute) and loose upper bounds (10 % of the line time plus slack for a busy
machine).  CPython only (a pty, asyncio.run).
"""

import asyncio
import os
import subprocess
import sys
import time
import tty

import pytest

from wmmp.terminal import simcard as S
from wmmp.modem.at import AtEngine, AtTimeout

from wmmp_tools.emu.bc95 import Bc95
from wmmp_tools.emu.ptyio import PtyPort
from wmmp_tools.emu.sim7600 import Sim7600
from wmmp_tools.emu.stream import HostPort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMU_BIN = os.path.join(ROOT, ".venv", "bin", "wmmp-emu")
SLACK = 0.25            # s a loaded machine may add to a paced transfer


def run(coro, timeout=60.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def card():
    return S.SimulatedSim("460001234567890", "89860012345678901234", "860000000000001",
                          pin_enabled=False)


def make(model, **kw):
    """The emulator, paced (the BC95 class is unpaced unless asked)."""
    kw.setdefault("pace", True)
    return (Sim7600 if model == "sim7600" else Bc95)(card(), **kw)


async def read_pty(fd, n, timeout):
    """n bytes from the pty slave `fd` (non-blocking, on the loop) -> (data, s
    from the call to the arrival of the last byte)."""
    loop = asyncio.get_running_loop()
    got = bytearray()
    ev = asyncio.Event()
    loop.add_reader(fd, ev.set)
    t0 = time.monotonic()
    try:
        while len(got) < n:
            ev.clear()
            try:
                got += os.read(fd, 65536)
                continue
            except BlockingIOError:
                pass
            await asyncio.wait_for(ev.wait(), max(0.01, t0 + timeout - time.monotonic()))
    finally:
        loop.remove_reader(fd)
    return bytes(got), time.monotonic() - t0


async def booted(emu):
    """Until the boot output has left the line."""
    await asyncio.sleep(0.1)
    while emu.tx_pending():
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.01)


async def on_pty(emu):
    """The emulator on a pty, booted, its boot output read -> (pty port, host fd)."""
    pty = PtyPort(emu).open()
    fd = os.open(pty.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    await emu.start()
    await booted(emu)                        # boot URCs (paced too)
    try:
        while os.read(fd, 65536):
            pass
    except BlockingIOError:
        pass
    return pty, fd


# -- output rate over a pty ---------------------------------------------------------

@pytest.mark.parametrize("model,baud,n", [("sim7600", 115200, 16384), ("bc95", 9600, 2048),
                                          ("sim7600", 921600, 65536)])
def test_output_rate_over_a_pty_is_the_line_rate(model, baud, n):
    """n bytes of module output (inject: raw bytes on its TX line) reach a
    pty reader at baud/10 B/s (8N1): never faster (lower bound on the time),
    within 10 % (+ slack) slower.  The SIM7600's default is 115200, the BC95's
    9600 (MODEMS BC95 "Default 9600 8N1")."""
    assert not Sim7600(card()).pace and not Bc95(card()).pace  # the classes' defaults: unpaced
    async def main():
        emu = make(model) if baud in (115200, 9600) else make(model, baud=baud)
        assert emu.baud == baud and emu.char_bits == 10
        pty, fd = await on_pty(emu)
        try:
            data = bytes((i * 7) & 0xFF for i in range(n))
            emu.inject(data)
            got, dt = await read_pty(fd, n, timeout=n * 10.0 / baud * 3 + 5)
            assert got == data and pty.lost == 0
            line = n * 10.0 / baud
            rate = n / dt
            print("%s at %d: %d bytes in %.3f s = %.0f B/s (line %.0f B/s)"
                  % (model, baud, n, dt, rate, baud / 10.0))
            assert dt >= line * 0.999
            assert dt <= line * 1.1 + SLACK
            if line >= 1.0:
                assert rate >= baud / 10.0 * 0.9
        finally:
            os.close(fd)
            pty.close()
            await emu.close()
    run(main())


def test_no_pace_moves_bytes_at_once():
    """pace=False (wmmp-emu --no-pace): 64 KB of output in well under its
    115200-baud line time (5.7 s)."""
    async def main():
        emu = make("sim7600", pace=False)
        pty, fd = await on_pty(emu)
        try:
            n = 65536
            emu.inject(b"\x55" * n)
            got, dt = await read_pty(fd, n, timeout=10)
            assert len(got) == n and dt < 2.0
        finally:
            os.close(fd)
            pty.close()
            await emu.close()
    run(main())


# -- input: acted on after its line time --------------------------------------------

@pytest.mark.parametrize("model,baud,pad", [("sim7600", 115200, 1000), ("bc95", 9600, 950)])
def test_host_bytes_are_acted_on_after_their_line_time(model, baud, pad):
    """A command line of `pad` spaces then AT (noise before the prefix is
    skipped, V.250 5.2.1) is answered only once all its bytes had time to
    arrive: the OK comes no sooner than (pad + 3) characters of line time
    (+ the OK's own 6), echo off."""
    async def main():
        emu = make(model, echo=False)
        port = HostPort(emu)
        await emu.start()
        await booted(emu)
        try:
            port.pending()
            port._rx.clear()
            t0 = time.monotonic()
            port.write(b" " * pad + b"AT\r")
            while not port.pending().endswith(b"OK\r\n"):
                assert time.monotonic() - t0 < 10
                await asyncio.sleep(0.002)
            dt = time.monotonic() - t0
            line = (pad + 3 + 6) * 10.0 / baud
            assert port.pending() == b"\r\nOK\r\n" and emu.commands == 1
            assert line * 0.999 <= dt <= line * 1.1 + SLACK
        finally:
            await emu.close()
    run(main())


# -- AT+IPR / AT+IPREX (SIM7600) -----------------------------------------------------

async def _ipr_rig(**kw):
    emu = make("sim7600", echo=False, **kw)
    port = HostPort(emu, baud=115200)
    at = AtEngine(port)
    at.start()
    await emu.start()
    await booted(emu)
    await at.command("AT", timeout=5)
    return emu, port, at


async def _until(cond, what, timeout=5.0):
    """Wait until cond() holds; fail after `timeout` s."""
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "no %s within %s s" % (what, timeout)
        await asyncio.sleep(0.01)


async def _drain(emu):
    while emu.tx_pending():
        await asyncio.sleep(0.01)


def test_ipr_answers_ok_at_the_old_rate_then_paces_at_the_new():
    """AT+IPR=921600: OK readable at 115200, then nothing readable until the
    host follows; then AT answers and output runs at 92,160 B/s.  AT+IPR? and
    AT+IPR=? report the rate and the list; a rate outside it (12345, 0) is
    ERROR.  A reboot brings 115200 back (AT+IPR lasts until the next boot)."""
    async def main():
        emu, port, at = await _ipr_rig()
        try:
            assert await at.command("AT+IPR?") == [b"+IPR: 115200"]
            lst = (await at.command("AT+IPR=?"))[0]
            assert b"921600" in lst and b"115200" in lst and b"12345" not in lst
            for bad in ("12345", "0", "", "abc"):
                with pytest.raises(Exception):
                    await at.command("AT+IPR=" + bad)
            assert emu.baud == 115200
            assert await at.command("AT+IPR=921600") == []      # the OK: at 115200
            assert emu.baud == 921600
            with pytest.raises(AtTimeout):                       # host still at 115200
                await at.command("AT", timeout=0.5)
            port.set_baud(921600)
            await asyncio.sleep(0.05)
            for _ in range(3):                                   # garbage may linger
                try:
                    await at.command("AT", timeout=0.5)
                    break
                except AtTimeout:
                    pass
            assert await at.command("AT+IPR?") == [b"+IPR: 921600"]
            assert await at.command("AT+IPREX?") == [b"+IPREX: 115200"]   # nothing stored
            # the output rate at 921600
            await _drain(emu)
            port.pending()
            n = 32768
            t0 = time.monotonic()
            emu.inject(b"\xa5" * n)
            while emu.tx_pending():
                await asyncio.sleep(0.005)
            dt = time.monotonic() - t0
            assert n * 10.0 / 921600 * 0.999 <= dt <= n * 10.0 / 921600 * 1.1 + SLACK
            # a reboot: 115200 again
            emu.reboot()
            await asyncio.sleep(0.1)
            assert emu.baud == 115200
        finally:
            at.stop()
            await emu.close()
    run(main())


def test_iprex_is_kept_across_a_reboot():
    """AT+IPREX=460800 (the persistent variant, unconfirmed): OK at the old
    rate, the new rate now and after a reboot; AT+IPREX? reports it."""
    async def main():
        emu, port, at = await _ipr_rig()
        try:
            assert await at.command("AT+IPREX=460800") == []
            port.set_baud(460800)
            await asyncio.sleep(0.02)
            assert await at.command("AT+IPREX?") == [b"+IPREX: 460800"]
            emu.reboot()
            await asyncio.sleep(0.2)
            assert emu.baud == 460800 and emu.boots == 2
            for _ in range(5):
                try:
                    await at.command("AT", timeout=0.5)
                    break
                except AtTimeout:
                    pass
            assert await at.command("AT+IPR?") == [b"+IPR: 460800"]
        finally:
            at.stop()
            await emu.close()
    run(main())


def test_a_host_at_another_rate_sees_garbage_both_ways():
    """Module at 115200, host at 9600: what the module sends arrives garbled
    (no OK), what the host sends is noise to the module (no command runs)."""
    async def main():
        emu = make("sim7600", echo=False)
        port = HostPort(emu, baud=9600)
        await emu.start()
        await asyncio.sleep(0.05)
        await _drain(emu)
        try:
            seen = port.pending()
            assert seen and b"RDY" not in seen and all(b >= 0x80 for b in seen)
            port.write(b"AT\r")
            await asyncio.sleep(0.1)
            assert emu.commands == 0 and b"OK" not in port.pending()
            port.set_baud(115200)
            port.write(b"AT\r")
            await _until(lambda: emu.commands == 1 and port.pending().endswith(b"\r\nOK\r\n"), "OK")
            assert emu.commands == 1 and port.pending().endswith(b"\r\nOK\r\n")
        finally:
            await emu.close()
    run(main())


# -- AT+NATSPEED (BC95) --------------------------------------------------------------

async def _bc95_rig():
    emu = make("bc95")
    port = HostPort(emu, baud=9600)
    at = AtEngine(port)
    at.start()
    await emu.start()
    await booted(emu)
    await at.command("AT", timeout=5)
    return emu, port, at


async def _until_ok(at, tries=5):
    for _ in range(tries):
        try:
            return await at.command("AT", timeout=0.5)
        except AtTimeout:
            pass
    raise AssertionError("no OK")


def test_natspeed_switches_after_its_ok_and_store_decides_the_reboot():
    """MODEMS BC95 baud: AT+NATSPEED=115200,3,0,2 -> OK at 9600, then 115200;
    not stored (<store> 0): a reboot brings 9600 back.  With <store> 1 the new
    rate survives the reboot.  Rates outside the list and a bad field: +CME
    ERROR / ERROR."""
    async def main():
        emu, port, at = await _bc95_rig()
        try:
            assert (await at.command("AT+NATSPEED?")) == [b"+NATSPEED:9600,3,1,2,1,0,0"]
            for bad in ("921600,3,0,2", "115200,99,0,2", "115200,3,5,2", "abc"):
                with pytest.raises(Exception):
                    await at.command("AT+NATSPEED=" + bad)
            assert emu.baud == 9600
            assert await at.command("AT+NATSPEED=115200,3,0,2") == []
            port.set_baud(115200)
            await _until_ok(at)
            assert emu.baud == 115200
            assert (await at.command("AT+NATSPEED?")) == [b"+NATSPEED:115200,3,0,2,1,0,0"]
            emu.reboot()
            await asyncio.sleep(0.1)
            assert emu.baud == 9600                     # not stored
            port.set_baud(9600)
            await asyncio.sleep(1.0)                    # the banner at 9600
            await _until_ok(at)
            assert await at.command("AT+NATSPEED=57600,0,1,2") == []
            port.set_baud(57600)
            await _until_ok(at)
            emu.reboot()
            await asyncio.sleep(0.1)
            assert emu.baud == 57600                    # stored
        finally:
            at.stop()
            await emu.close()
    run(main())


def test_natspeed_goes_back_when_no_command_comes_at_the_new_rate():
    """<timeout> 1: the host never follows, so after 1 s the module is back at
    9600 and answers there."""
    async def main():
        emu, port, at = await _bc95_rig()
        try:
            assert await at.command("AT+NATSPEED=115200,1,0,2") == []
            assert emu.baud == 115200
            await asyncio.sleep(1.3)
            assert emu.baud == 9600
            await _until_ok(at)
        finally:
            at.stop()
            await emu.close()
    run(main())


def test_natspeed_character_format_sets_the_pace():
    """AT+NATSPEED=115200,0,0,2,2,2 (2 stop bits, even parity): 12 bits a
    character, so 4800 bytes take 0.5 s, not 0.42 s."""
    async def main():
        emu, port, at = await _bc95_rig()
        try:
            assert await at.command("AT+NATSPEED=115200,0,0,2,2,2") == []
            port.set_baud(115200)
            await _until_ok(at)
            assert emu.char_bits == 12
            await _drain(emu)
            n = 4800
            t0 = time.monotonic()
            emu.inject(b"\x33" * n)
            while emu.tx_pending():
                await asyncio.sleep(0.005)
            dt = time.monotonic() - t0
            line = n * 12.0 / 115200
            assert line * 0.999 <= dt <= line * 1.1 + SLACK
        finally:
            at.stop()
            await emu.close()
    run(main())


# -- the command line -------------------------------------------------------------------

def _emu_cmd(args, pad, baud):
    """Start wmmp-emu with args, send `pad` spaces + AT over its pty -> s until OK."""
    p = subprocess.Popen([EMU_BIN] + args + ["--boot-time", "0", "--reg-delay", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path = p.stdout.readline().strip()
        assert path.startswith("/dev/"), p.stderr.read()

        async def main():
            fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            tty.setraw(fd)
            try:
                await asyncio.sleep(1.0)        # the boot output
                try:
                    while os.read(fd, 65536):
                        pass
                except BlockingIOError:
                    pass
                t0 = time.monotonic()
                os.write(fd, b" " * pad + b"AT\r")
                got = bytearray()
                loop = asyncio.get_running_loop()
                ev = asyncio.Event()
                loop.add_reader(fd, ev.set)
                try:
                    while not got.endswith(b"OK\r\n"):
                        ev.clear()
                        try:
                            got += os.read(fd, 65536)
                            continue
                        except BlockingIOError:
                            pass
                        await asyncio.wait_for(ev.wait(), 15)
                finally:
                    loop.remove_reader(fd)
                return time.monotonic() - t0
            finally:
                os.close(fd)
        return run(main())
    finally:
        p.terminate()
        p.wait(10)


def test_cli_baud_and_no_pace():
    """wmmp-emu bc95 (9600 by default): a 960-character line (echo off) is
    answered after its 1 s of line time; --no-pace: at once.  --baud outside
    the model's list is a usage error (exit 2, one line)."""
    slow = _emu_cmd(["bc95"], 957, 9600)
    assert slow >= 960 * 10.0 / 9600 * 0.999
    fast = _emu_cmd(["bc95", "--no-pace"], 957, 9600)
    assert fast < 0.5
    for model, bad in (("sim7600", "12345"), ("bc95", "921600"), ("sim7600", "x")):
        r = subprocess.run([EMU_BIN, model, "--baud", bad], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--baud" in r.stderr


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
