"""The SIM7600 driver raises its UART with AT+IPR (lib/wmmp/modem/sim7600_speed.py,
issue 13 "Pacing that means something"; MODEMS SIM7600 "baud") against the
SIM7600 emulator in-process through HostPort, which here knows its own rate
(set_baud, as a board's UartStream would have it): a host at another rate
than the module's sees garbage both ways, as on a real line.

Off unless asked (fast_baud); with it: AT+IPR=<fast> after the init sequence,
the host follows, AT checks; a refusal, a module that says OK but stays, a
stream without set_baud: 115200 kept, logged, the bring-up never fails.  A
reboot (the module back at 115200, its RDY garbage to a fast host), AT+CRESET
and a restart of the board alone (the module still fast) are found again.
CPython: asyncio.run inside plain tests.
"""

import asyncio
import time

import pytest

from wmmp.errors import BadValue
from wmmp.terminal import simcard as S
from wmmp.modem.at import AtEngine
from wmmp.modem.sim7600 import Sim7600
from wmmp.modem.sim7600_speed import FAST

from wmmp_tools.emu.modem import Final
from wmmp_tools.emu.sim7600 import IPR_RATES, Sim7600 as Emu
from wmmp_tools.emu.stream import HostPort

IMEI = "860000000000001"
IMSI = "460001234567890"
ICCID = "89860012345678901234"


def run(coro, timeout=60.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def card():
    return S.SimulatedSim(IMSI, ICCID, IMEI, pin="1234", puk="12345678", pin_enabled=False)


class NoBaud:
    """A stream that cannot change its rate (no set_baud)."""

    def __init__(self, port):
        self.p = port

    async def read(self, n):
        return await self.p.read(n)

    def write(self, data):
        self.p.write(data)

    async def drain(self):
        pass


class Pin:
    """A PWRKEY pin: records presses (a press would switch a running module off)."""

    def __init__(self, emu):
        self.emu = emu
        self.values = []

    def value(self, v):
        if self.values and self.values[-1] == 1 and v == 0:
            self.emu.power_on()
        self.values.append(v)


class Rig:
    async def start(self, emu=None, fast=921600, stream=None, host=115200, **emu_opts):
        emu_opts.setdefault("pace", True)          # the class default is unpaced
        self.emu = emu if emu is not None else Emu(card(), **emu_opts)
        self.port = HostPort(self.emu, baud=host)
        self.logs = []
        self.at = AtEngine(stream(self.port) if stream else self.port, log=self.logs.append)
        self.at.start()
        if not self.emu.powered:
            await self.emu.start()
            await asyncio.sleep(0.1)            # the boot URCs have left the line
            while self.emu.tx_pending():
                await asyncio.sleep(0.01)
        opts = {"at_wait": 5, "boot_wait": 3}
        if fast is not None:
            opts["fast_baud"] = fast
        self.m = Sim7600(self.at, **opts)
        return self

    def written(self):
        return bytes(self.port.written)

    async def close(self, emu=True):
        self.at.stop()
        self.port.close()
        if emu:
            await self.emu.close()


def test_fast_rates_are_ones_the_module_takes():
    assert set(FAST) <= set(IPR_RATES) and min(FAST) > 115200
    at = AtEngine(HostPort(Emu(card())))
    with pytest.raises(BadValue):
        Sim7600(at, fast_baud=12345)
    assert Sim7600(at).speed.enabled() is False


def test_off_by_default():
    """No fast_baud: no AT+IPR, the host's rate never touched."""
    async def main():
        r = await Rig().start(fast=None)
        try:
            await r.m.power_on()
            assert b"AT+IPR" not in r.written() and r.port.bauds == [] and r.emu.baud == 115200
        finally:
            await r.close()
    run(main())


def test_raised_after_init_and_output_runs_at_the_new_rate():
    """fast_baud=921600: after ATE0 / AT+CMEE=1 / AT+CIPSRIP=1 at 115200,
    AT+IPR=921600 (OK at 115200), the host follows, AT answers; the identity
    is read at the new rate, and the module's output now takes 1/8 of the
    115200 line time (32 KB in ~0.36 s, not 2.8 s)."""
    async def main():
        r = await Rig().start()
        try:
            await r.m.power_on()
            w = r.written()
            assert w.index(b"AT+CIPSRIP=1\r") < w.index(b"AT+IPR=921600\r")
            assert r.port.bauds == [921600] and r.emu.baud == 921600
            assert r.m.speed.rate == 921600 and r.m.speed.raised == 1
            assert any("921600" in x for x in r.logs)
            assert (await r.m.identity())["imsi"] == IMSI
            n = 32768
            t0 = time.monotonic()
            r.emu.inject(b"\x5a" * n)
            while r.emu.tx_pending():
                await asyncio.sleep(0.005)
            dt = time.monotonic() - t0
            assert n * 10.0 / 921600 * 0.999 <= dt < n * 10.0 / 115200 / 2
        finally:
            await r.close()
    run(main())


def test_refused_ipr_keeps_115200():
    """AT+IPR answered ERROR: logged, the line stays at 115200, bring-up fine."""
    async def main():
        emu = Emu(card())

        async def refuse(mode, a):
            raise Final("ERROR")
        emu._x_ipr = refuse
        r = await Rig().start(emu=emu)
        try:
            await r.m.power_on()
            assert b"AT+IPR=921600\r" in r.written() and r.port.bauds == []
            assert r.m.speed.failed == 1 and any("refused" in x for x in r.logs)
            assert (await r.m.identity())["imei"] == IMEI
        finally:
            await r.close()
    run(main())


def test_ok_but_no_switch_falls_back_to_115200():
    """A module that answers OK to AT+IPR but stays at 115200: the check at
    921600 hears garbage, the host goes back to 115200, AT answers there;
    logged, bring-up fine."""
    async def main():
        r = await Rig().start(ipr_applies=False)
        try:
            await r.m.power_on()
            assert r.port.bauds[:2] == [921600, 115200] and r.port.bauds[-1] == 115200
            assert r.m.speed.rate == 115200 and r.m.speed.failed == 1
            assert any("back at 115200" in x for x in r.logs)
            assert (await r.m.identity())["iccid"] == ICCID
        finally:
            await r.close()
    run(main())


def test_stream_without_set_baud_stays():
    """fast_baud asked but the stream cannot change its rate: logged once, no
    AT+IPR."""
    async def main():
        r = await Rig().start(stream=NoBaud)
        try:
            await r.m.power_on()
            assert b"AT+IPR" not in r.written() and r.emu.baud == 115200
            assert any("no set_baud" in x for x in r.logs)
        finally:
            await r.close()
    run(main())


def test_creset_comes_back_at_115200_then_raised_again():
    """AT+CRESET: the host goes to 115200 at once (the module restarts at its
    default; RDY is heard), the init sequence runs again and raises again."""
    async def main():
        r = await Rig().start()
        try:
            await r.m.power_on()
            gen = r.m.gen
            await r.m.reset()
            assert r.m.gen == gen + 1 and r.port.bauds == [921600, 115200, 921600]
            assert r.emu.baud == 921600 and r.emu.boots == 2
            assert (await r.m.identity())["imsi"] == IMSI
        finally:
            await r.close()
    run(main())


def test_unheard_reboot_is_found_before_power_on():
    """The module reboots while the line runs fast: its RDY is garbage at
    921600.  The next power_on() (what the board does when the module stops
    answering) hears nothing at 921600, an answer at 115200: a reboot, handled
    as one (no PWRKEY press), and the rate raised again."""
    async def main():
        r = await Rig().start()
        try:
            pin = Pin(r.emu)
            await r.m.power_on(pwrkey=pin)
            seen = r.m.reboots                  # the boot URCs at start
            assert pin.values == []
            r.emu.reboot()
            await asyncio.sleep(0.3)
            assert r.emu.baud == 115200 and r.m.reboots == seen   # RDY unheard
            await r.m.power_on(pwrkey=pin)
            assert pin.values == [] and r.m.reboots == seen + 1
            assert r.port.bauds == [921600, 115200, 921600] and r.emu.baud == 921600
            assert (await r.m.identity())["imei"] == IMEI
        finally:
            await r.close()
    run(main())


def test_board_restart_finds_the_module_still_fast():
    """The board restarts, the module keeps running at 921600: the new
    driver's host starts at 115200, hears nothing, tries 921600 before it
    would press PWRKEY (which would switch the module off), and carries on
    there without another AT+IPR."""
    async def main():
        r = await Rig().start()
        await r.m.power_on()
        assert r.emu.baud == 921600
        await r.close(emu=False)
        r2 = await Rig().start(emu=r.emu)
        try:
            pin = Pin(r2.emu)
            await r2.m.power_on(pwrkey=pin)
            assert pin.values == [] and r2.emu.boots == 1
            assert r2.m.speed.rate == 921600 and r2.port.bauds == [921600]
            assert b"AT+IPR" not in r2.written()
            assert (await r2.m.identity())["imsi"] == IMSI
        finally:
            await r2.close()
    run(main())
