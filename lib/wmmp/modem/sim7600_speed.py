"""The SIM7600's UART above 115200 (MODEMS SIM7600 "baud": AT+IPR=<baud>).
Portable: MicroPython and CPython asyncio.

Off unless the board asks: Sim7600(at, fast_baud=921600) (a board's
MODEM_OPTIONS) and a stream that can change its own rate, `set_baud(rate)`
(a board's UartStream: uart.init(baudrate=rate)).  Then, once per module
boot, after the init sequence answered at 115200:

    AT+IPR=<fast>   OK (the module switches after the OK: AT+IPR lasts until
                    its next boot, so a reset brings it back to 115200)
    host side to <fast>, then AT (3 tries) to check both ends agree;
    no answer: host back to 115200; still none: AT+IPR=115200 sent at <fast>
    (the module may have switched while we cannot hear it), host at 115200.

Nothing of this fails the bring-up: a refusal or a failed check is logged and
the line stays at 115200.  The persistent AT+IPREX is never used (a board
that restarts would find the module at a rate it does not expect).

The module's rate is not always known: after a reboot it talks at 115200 (its
RDY is garbage to a host at <fast>), after a restart of the board alone it
still talks at <fast>.  So the init sequence alternates the host between the
two rates while AT goes unanswered (other()), AT+CRESET puts the host back to
115200 at once (after_reset()), and power_on() first looks at both rates
before it would press PWRKEY (recheck()): running fast with no answer but an
answer at 115200 means a reboot was missed, handled as one (the driver runs
its init sequence again).
"""

import asyncio

from wmmp.errors import BadValue
from wmmp.modem.at import AtException

BASE = 115200
# AT+IPR <rate>s above 115200 (SIMCom's SIM7500/SIM7600 AT manual)
FAST = (230400, 460800, 921600, 3000000, 3200000, 3686400)


class LineSpeed:
    """The host side's rate and the AT+IPR switch for driver `drv` (its at, log,
    _answers(), _on_reboot()).  fast: the rate to raise to, None: off."""

    def __init__(self, drv, fast=None, base=BASE):
        if fast is not None and fast not in FAST:
            raise BadValue("fast_baud must be one of %s" % ", ".join(str(r) for r in FAST))
        self.d = drv
        self.fast = fast
        self.base = base
        self.rate = base            # the host side's rate, as last set
        self.raised = 0             # switches that held
        self.failed = 0             # switches refused or not confirmed
        self._set = getattr(drv.at.s, "set_baud", None)
        if fast is not None and self._set is None:
            drv.log("sim7600: fast_baud %d asked, but the serial stream cannot change its "
                    "rate (no set_baud): staying at %d" % (fast, base))

    def enabled(self):
        return self.fast is not None and self._set is not None

    def _host(self, rate):
        self._set(rate)
        self.rate = rate

    def other(self):
        """AT went unanswered: listen at the other rate next."""
        if self.enabled():
            self._host(self.fast if self.rate == self.base else self.base)

    def after_reset(self):
        """The module restarts (AT+CRESET): it comes back at the base rate."""
        if self.enabled() and self.rate != self.base:
            self._host(self.base)

    async def _check(self, tries=3):
        for _ in range(tries):
            if await self.d._answers():
                return True
        return False

    async def recheck(self):
        """Before power-on (and a PWRKEY press, which would switch a running
        module off): no answer at the host's rate -> try the other one.  An
        answer at the base rate after running fast: the module rebooted
        unheard, handled as a reboot; at the fast rate: it kept the rate of an
        earlier session.  No answer at all: the host waits at the base rate
        (a module that boots talks at 115200)."""
        if not self.enabled() or await self.d._answers():
            return False
        was = self.rate
        self.other()
        if not await self.d._answers():
            self._host(self.base)
            return False
        if was != self.base:
            self.d.log("sim7600: the module answers at %d only: it rebooted unheard" % self.base)
            self.d._on_reboot(b"RDY")
        return True

    async def raise_rate(self):
        """AT+IPR=<fast> and the host after it, checked with AT; True when the
        line now runs at `fast`.  Never raises for the module's answers."""
        if not self.enabled():
            return False
        if self.rate == self.fast:
            return True                 # it answered AT at the fast rate already
        at = self.d.at
        try:
            await at.command("AT+IPR=%d" % self.fast, timeout=2)
        except AtException as e:
            self.failed += 1
            self.d.log("sim7600: AT+IPR=%d refused (%r): staying at %d" % (self.fast, e, self.base))
            return False
        self._host(self.fast)
        await asyncio.sleep(0.02)       # the module's own switch after its OK
        if await self._check():
            self.raised += 1
            self.d.log("sim7600: UART now at %d baud" % self.fast)
            return True
        self.failed += 1
        self._host(self.base)
        if not await self._check():
            self._host(self.fast)
            try:
                await at.command("AT+IPR=%d" % self.base, timeout=1)
            except AtException:
                pass
            self._host(self.base)
            await self._check()
        self.d.log("sim7600: no answer at %d baud after AT+IPR: back at %d" % (self.fast, self.base))
        return False
