"""The BC95 driver's SIM interface (wmmp.terminal.simcard): SimInterface, the base
class of the driver (wmmp.modem.bc95.Bc95, through wmmp.modem.bc95_net.NetInterface),
which provides at, log, npin_timeout and the SIM knowledge (_npin, _npin_wait,
_left, _enabled, _sim_iccid, _pin); its +NPIN URC handler feeds _learn_npin()
and the awaited result.  Also the +CME ERROR codes all the BC95 modules share
(the driver's _cme() maps their verbose texts, cme_text).  This module never
imports the driver.

The methods are ASYNC: pin_state, attempts, enter_pin, enter_puk,
set_pin_enabled, change_pin, pin_enabled; imsi (AT+CIMI), iccid (AT+NCCID),
imei (AT+CGSN=1) and wait_sim come from wmmp.modem.ModemBase (the driver is the
engine's SIM: sim_async, driven by wmmp.terminal.simguard.run_async); and
sim_snapshot() -> SimSnapshot (synchronous reads, PIN commands refused without
reaching the card) for code that cannot await.  The BC95 has no AT+CPIN (MODEMS): the
state comes from AT+CIMI (+CME ERROR 10/11/12/13) and AT+NCCID.  PIN
commands use AT+NPIN=<op>,"<p1>"[,"<p2>"] (unconfirmed on BC95): its support
is probed once (AT+NPIN=?); without it every PIN command raises
PinUnsupported (a SimError) and nothing is guessed.  The result of AT+NPIN
comes as a URC after the OK (+NPIN:OK, +NPIN:ERROR wrong PIN (<left>),
[+NPIN:]ERROR PIN blocked / PIN disabled).  The BC95 has no command that
reads the attempts left: attempts() answers what the module last reported
(a correct PIN resets PIN1 to 3 tries, a correct PUK PUK1 to 10: sim.PIN_TRIES
/ PUK_TRIES) and raises SimError while the PIN1 counter is unknown, so
SimGuard sends no PIN on an unknown counter; puk_left is None while unknown
outside state SIM PUK.  pin_enabled() likewise: known from the state (SIM
PIN / PUK), from the driver's own AT+NPIN results, or because the card was
READY right after a boot the driver saw; else SimError.  After a module
reboot, the PIN1 this card accepted is entered again (_after_boot, from the
driver's init sequence) when 2 or more attempts are left.
"""

import asyncio
from micropython import const

from wmmp.terminal import simcard as S
from wmmp.modem.at import AtException, AtError, CmeError
from wmmp.modem import (ModemBase, SimSnapshot, digits_line as _digits_line,
                        sim_error as _sim_error, CME_NO_SIM, CME_SIM_PIN, CME_SIM_PUK, CME_SIM_FAILURE,
                        CME_SIM_BUSY, CME_BAD_PASSWORD, CME_SIM_BLOCKED)

# +CME ERROR codes (3GPP 27.007 9.2)
CME_NOT_ALLOWED = const(3)
CME_NOT_SUPPORTED = const(4)
CME_NO_NETWORK = const(30)
_CME_TEXT = {"operation not allowed": CME_NOT_ALLOWED, "operation not supported": CME_NOT_SUPPORTED,
             "sim not inserted": CME_NO_SIM, "sim pin required": CME_SIM_PIN,
             "sim puk required": CME_SIM_PUK, "sim failure": CME_SIM_FAILURE,
             "sim busy": CME_SIM_BUSY, "incorrect password": CME_BAD_PASSWORD,
             "no network service": CME_NO_NETWORK, "sim blocked": CME_SIM_BLOCKED}

# AT+NPIN operations (MODEMS BC95 PIN)
NPIN_VERIFY = const(0)
NPIN_CHANGE = const(1)
NPIN_ENABLE = const(2)
NPIN_DISABLE = const(3)
NPIN_UNBLOCK = const(4)


class PinUnsupported(S.SimError):
    """The module has no PIN command (AT+NPIN): PIN1 cannot be entered or changed."""


def _left_in(text):
    """'ERROR wrong PIN (2)' -> 2; None without a number in parentheses."""
    a = text.rfind("(")
    b = text.rfind(")")
    if 0 <= a < b:
        try:
            return int(text[a + 1:b])
        except ValueError:
            pass
    return None


class SimInterface(ModemBase):
    """The SIM methods of Bc95 (see the module docstring)."""

    cme_text = _CME_TEXT
    _imei_cmd = "AT+CGSN=1"
    _iccid_cmd = "AT+NCCID"
    _iccid_prefix = b"+NCCID:"

    async def pin_state(self):
        """READY | SIM PIN | SIM PUK | BLOCKED | NO SIM (wmmp.terminal.simcard) from AT+CIMI
        (the BC95 has no AT+CPIN): an IMSI -> READY, +CME ERROR 11 / 12 / 13 /
        10 -> SIM PIN / SIM PUK / BLOCKED / NO SIM; SimError otherwise (SIM busy)."""
        try:
            lines = await self.at.command("AT+CIMI", timeout=5)
        except CmeError as e:
            c = self._cme(e)
            if c == CME_NO_SIM:
                return S.NO_SIM
            if c == CME_SIM_PIN:
                return S.SIM_PIN
            if c == CME_SIM_PUK:
                return S.SIM_PUK
            if c == CME_SIM_FAILURE or c == CME_SIM_BLOCKED:
                return S.BLOCKED
            raise _sim_error(c)
        except AtException as e:
            raise S.SimError("AT+CIMI failed: %s" % e.__class__.__name__)
        if _digits_line(lines) is None:
            raise S.SimError("no IMSI in the AT+CIMI reply")
        return S.READY

    async def _card(self):
        """The ICCID now; what the driver knows of PIN1 is forgotten when the
        card is another one (a SIM swap)."""
        iccid = await self.iccid()
        if iccid != self._sim_iccid:
            self._sim_iccid = iccid
            self._left = [None, None]
            self._enabled = None
            self._pin = None
        return iccid

    async def attempts(self):
        """(pin1_left, puk1_left) as the module last reported them (AT+NPIN
        results; a correct PIN / PUK resets them).  SimError while the PIN1
        counter is unknown, or the PUK1 counter in state SIM PUK; puk1_left is
        None while unknown in other states."""
        await self._card()
        st = await self.pin_state()
        if st == S.NO_SIM:
            raise S.NoSim("no SIM card")
        pin, puk = self._left
        if st == S.SIM_PUK:
            pin = 0
        elif st == S.BLOCKED:
            pin = puk = 0
        if pin is None:
            raise S.SimError("PIN1 attempts left unknown: the BC95 reports them only in AT+NPIN results")
        if st == S.SIM_PUK and puk is None:
            raise S.SimError("PUK1 attempts left unknown: the BC95 reports them only in AT+NPIN results")
        return pin, puk

    async def pin_enabled(self):
        """Whether PIN1 is checked: True in state SIM PIN / SIM PUK, else what the
        driver learned (its AT+NPIN results; READY right after a boot it saw);
        SimError when unknown (the BC95 has no query command)."""
        await self._card()
        st = await self.pin_state()
        if st in (S.SIM_PIN, S.SIM_PUK):
            self._enabled = True
            return True
        if st == S.NO_SIM:
            raise S.NoSim("no SIM card")
        if self._enabled is None:
            raise S.SimError("PIN1 lock state unknown (the BC95 cannot be asked)")
        return self._enabled

    async def npin_supported(self):
        """AT+NPIN=? answered (probed once): the module has the PIN command."""
        if self._npin is None:
            try:
                await self.at.command("AT+NPIN=?", timeout=5)
                self._npin = True
            except (AtError, CmeError):
                self._npin = False
        return self._npin

    async def _need_npin(self):
        if not await self.npin_supported():
            raise PinUnsupported("PIN not supported: this module has no AT+NPIN")

    def _learn_npin(self, text, op):
        """Counters and lock state from an AT+NPIN result text."""
        if text == "OK":
            if op is None:
                return
            self._left[0] = S.PIN_TRIES
            if op == NPIN_UNBLOCK:
                self._left[1] = S.PUK_TRIES
            self._enabled = op != NPIN_DISABLE
        elif "wrong PUK" in text:
            self._left[0] = 0
            self._left[1] = _left_in(text)
        elif "wrong PIN" in text:
            self._left[0] = _left_in(text)
        elif "PUK blocked" in text:
            self._left = [0, 0]
        elif "PIN blocked" in text:
            self._left[0] = 0
        elif "PIN disabled" in text:
            self._enabled = False

    async def _npin_cmd(self, op, p1, p2=None):
        """AT+NPIN=<op>,"<p1>"[,"<p2>"], then its result URC.  Sent once: never
        retried here.  Raises WrongPin / WrongPuk (attempts left), PukRequired,
        SimBlocked, SimError; messages never repeat a PIN."""
        await self._card()
        cmd = 'AT+NPIN=%d,"%s"' % (op, p1) if p2 is None else 'AT+NPIN=%d,"%s","%s"' % (op, p1, p2)
        w = [asyncio.Event(), None]
        self._npin_wait = w
        code = None
        fail = None
        try:
            try:
                await self.at.command(cmd, timeout=10)
            except CmeError as e:
                code = self._cme(e)
            except AtException as e:
                fail = e.__class__.__name__
            if code is None and fail is None:
                try:
                    await asyncio.wait_for(w[0].wait(), self.npin_timeout)
                except asyncio.TimeoutError:
                    fail = "no +NPIN result"
        finally:
            self._npin_wait = None
        if code is not None:
            if code == CME_BAD_PASSWORD:         # some firmware may answer at once
                self._left[0 if op != NPIN_UNBLOCK else 1] = None
                raise S.SimError("SIM rejected the %s (attempts left not reported)"
                                 % ("PUK1" if op == NPIN_UNBLOCK else "PIN1"))
            if code == CME_NOT_ALLOWED:
                raise S.SimError("PIN command not allowed in the SIM's state")
            raise _sim_error(code)
        if fail is not None:
            self._left = [None, None]            # it may have been compared: unknown now
            raise S.SimError("AT+NPIN failed: %s" % fail)
        text = w[1]
        self._learn_npin(text, op)
        if text == "OK":
            return
        if text == "REBOOT":
            self._left = [None, None]
            raise S.SimError("module rebooted during AT+NPIN")
        left = _left_in(text)
        if "wrong" in text:
            what = "PUK1" if "PUK" in text else "PIN1"
            if left is None:                     # WrongPin / WrongPuk promise a count
                raise S.SimError("SIM rejected %s (attempts left not reported)" % what)
            if what == "PUK1":
                raise S.WrongPuk("SIM rejected PUK1, %d attempts left" % left, left)
            raise S.WrongPin("SIM rejected PIN1, %d attempts left" % left, left)
        if "PUK blocked" in text:
            raise S.SimBlocked("SIM blocked: PUK1 exhausted")
        if "PIN blocked" in text:
            raise S.PukRequired("PIN1 blocked: PUK1 required")
        if "PIN disabled" in text:
            raise S.SimError("PIN1 is disabled")
        raise S.SimError("AT+NPIN: %s" % text)

    async def enter_pin(self, pin):
        """AT+NPIN=0,"<pin>" in state SIM PIN."""
        p = S.check_pin(pin).decode()
        await self._need_npin()
        await self._need_state(S.SIM_PIN)
        await self._npin_cmd(NPIN_VERIFY, p)
        self._pin = p

    async def enter_puk(self, puk, new_pin):
        """AT+NPIN=4,"<puk>","<new pin>" in state SIM PUK."""
        k = S.check_puk(puk).decode()
        p = S.check_pin(new_pin).decode()
        await self._need_npin()
        await self._need_state(S.SIM_PUK)
        await self._npin_cmd(NPIN_UNBLOCK, k, p)
        self._pin = p

    async def set_pin_enabled(self, enabled, pin):
        """AT+NPIN=2 (enable) / 3 (disable),"<pin>"; SimError without sending the
        PIN when PIN1 is known to be in that state already."""
        p = S.check_pin(pin).decode()
        await self._need_npin()
        await self._need_state(S.READY)
        await self._card()
        if self._enabled is not None and self._enabled == bool(enabled):
            raise S.SimError("PIN1 is already %s" % ("enabled" if enabled else "disabled"))
        await self._npin_cmd(NPIN_ENABLE if enabled else NPIN_DISABLE, p)
        self._pin = p

    async def change_pin(self, old, new):
        """AT+NPIN=1,"<old>","<new>"; PIN1 must be enabled (refused unsent when
        it is known to be disabled)."""
        o = S.check_pin(old).decode()
        n = S.check_pin(new).decode()
        await self._need_npin()
        await self._need_state(S.READY)
        await self._card()
        if self._enabled is False:
            raise S.SimError("PIN1 is disabled: it cannot be changed")
        await self._npin_cmd(NPIN_CHANGE, o, n)
        self._pin = n

    async def _after_boot(self, fresh):
        """What the state right after boot tells about PIN1, and the PIN1 this
        card accepted before a reboot, entered again (2 or more tries left)."""
        try:
            st = await self.wait_sim()
            if st in (S.SIM_PIN, S.SIM_PUK):
                await self._card()
                self._enabled = True
            elif st == S.READY and fresh:
                await self._card()
                self._enabled = False        # READY at power-on: no PIN1 check
            if self._pin is None or st != S.SIM_PIN:
                return
            if await self.iccid() != self._sim_iccid or (self._left[0] or 0) < 2:
                self.log("bc95: SIM asks for PIN1 again; not re-entered (other card or too few tries)")
                return
            pin = self._pin
            self._pin = None                 # one try: never sent again if refused
            await self.enter_pin(pin)
            self.log("bc95: PIN1 entered again after the reboot")
        except S.SimError as e:
            self.log("bc95: SIM after boot: %s" % e)

    async def sim_snapshot(self):
        """A SimSnapshot of the card now (for SimGuard, which calls synchronously)."""
        st = await self.pin_state()
        snap = SimSnapshot(st, await self.imei(), "Bc95")
        if st == S.NO_SIM:
            return snap
        try:
            snap._iccid = await self.iccid()
            if st == S.READY:
                snap._imsi = await self.imsi()
        except S.SimError:
            pass
        try:
            snap._attempts = await self.attempts()
        except S.SimError:
            pass
        try:
            snap._enabled = await self.pin_enabled()
        except S.SimError:
            pass
        return snap
