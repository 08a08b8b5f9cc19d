"""The SIM7600 driver's SIM interface (wmmp.terminal.simcard): SimInterface, the base
class of wmmp.modem.sim7600.Sim7600, which provides at, log, spic_order and the
PIN1 memory (_pin, _pin_iccid).  This module never imports the driver.

The methods are ASYNC, because every answer needs the AT engine's reader task:
pin_state, attempts, enter_pin, enter_puk, set_pin_enabled, change_pin,
pin_enabled; imsi (AT+CIMI), iccid (AT+CICCID), imei (AT+CGSN), wait_sim and
the +CME ERROR mapping (verbose texts too) come from wmmp.modem.ModemBase.
Same errors as SimulatedSim (WrongPin(left), WrongPuk(left), PinRequired,
PukRequired, NoSim, SimBlocked, SimError; BadValue for a malformed PIN before
anything is sent).  The driver never retries a PIN-carrying command on its own.  The driver is the engine's
SIM (Terminal(..., sim=driver)): sim_async is True, so the engine queues its
SIM guard work and the runner drives it with wmmp.terminal.simguard.run_async.
sim_snapshot() gives a synchronous read-only view (SimSnapshot) for code that
cannot await, e.g. a console status line.  After a module reboot, a PIN1 this
card accepted this session is entered again (_resume_pin, from the driver's
init sequence) when 2 or more attempts are left.
"""

from wmmp.terminal import simcard as S
from wmmp.modem.at import AtException, CmeError
from wmmp.modem import (ModemBase, SimSnapshot, after as _after, find as _find, ints as _ints,
                        sim_error as _sim_error, CME_NO_SIM, CME_SIM_PUK, CME_SIM_FAILURE,
                        CME_BAD_PASSWORD, CME_SIM_BLOCKED)


def _cpin_state(text):
    """+CPIN: <code> -> a wmmp.terminal.simcard state.  SIM PIN2 / SIM PUK2 concern PIN2 only
    (the card is usable): READY.  Unknown codes (PH-SIM PIN, NOT READY) are
    returned as they are: SimGuard then meets a SimError at imsi() and alarms."""
    t = text.strip().upper()
    if t == "READY" or t == "SIM PIN2" or t == "SIM PUK2":
        return S.READY
    if t == "SIM PIN":
        return S.SIM_PIN
    if t == "SIM PUK":
        return S.SIM_PUK
    if "REMOVED" in t or "NOT INSERTED" in t:
        return S.NO_SIM
    return text.strip()


class SimInterface(ModemBase):
    """The SIM methods of Sim7600 (see the module docstring)."""

    async def pin_state(self):
        """AT+CPIN? -> READY | SIM PIN | SIM PUK | BLOCKED | NO SIM (wmmp.terminal.simcard),
        or the module's text for anything else (PH-SIM PIN, NOT READY)."""
        try:
            lines = await self.at.command("AT+CPIN?", timeout=5)
        except CmeError as e:
            c = self._cme(e)
            if c == CME_NO_SIM:
                return S.NO_SIM
            if c == CME_SIM_FAILURE or c == CME_SIM_BLOCKED:
                return S.BLOCKED
            raise _sim_error(c)
        except AtException as e:
            raise S.SimError("AT+CPIN? failed: %s" % e.__class__.__name__)
        t = _find(lines, b"+CPIN:")
        if t is None:
            raise S.SimError("no +CPIN: in the reply")
        return _cpin_state(t)

    async def attempts(self):
        """(pin1_left, puk1_left): AT+SPIC (order: see spic_order), else the
        27.007 AT+CPINR="SIM PIN" / "SIM PUK" replies."""
        try:
            lines = await self.at.command("AT+SPIC", timeout=5)
            v = _ints(_find(lines, b"+SPIC:") or "")
            if len(v) >= 4 and None not in v[:4]:
                a, b, c, d = v[:4]
                if b > 3:                    # only a PUK counter exceeds 3
                    return a, b
                if c > 3:
                    return a, c
                return (a, b) if self.spic_order == "pin1,puk1,pin2,puk2" else (a, c)
        except CmeError as e:
            if self._cme(e) == CME_NO_SIM:
                raise S.NoSim("no SIM card")
        except AtException:
            pass
        pin = puk = None
        try:
            lines = await self.at.command("AT+CPINR", timeout=5)
        except CmeError as e:
            raise _sim_error(self._cme(e))
        except AtException as e:
            raise S.SimError("attempts unreadable: %s" % e.__class__.__name__)
        for ln in lines:
            if isinstance(ln, (bytes, bytearray)) and ln.startswith(b"+CPINR:"):
                f = _after(ln, b"+CPINR:").split(",")
                if len(f) >= 2:
                    code = f[0].strip().strip('"').upper()
                    try:
                        n = int(f[1])
                    except ValueError:
                        continue
                    if code == "SIM PIN":
                        pin = n
                    elif code == "SIM PUK":
                        puk = n
        if pin is None or puk is None:
            raise S.SimError("attempts unreadable")
        return pin, puk

    async def _pin_cmd(self, cmd, what, idx):
        """A PIN-carrying command.  +CME ERROR: 16 -> WrongPin / WrongPuk with the
        attempts left (what "PIN1" / "PUK1", idx 0 / 1 of attempts()).  Sent
        once: never retried here."""
        code = None
        fail = None
        try:
            await self.at.command(cmd, timeout=10)
            return
        except CmeError as e:
            code = self._cme(e)
        except AtException as e:
            fail = e.__class__.__name__
        if code is None:
            raise S.SimError("%s command failed: %s" % (what, fail))
        if code == CME_BAD_PASSWORD or (code == CME_SIM_PUK and idx == 0):
            left = (await self.attempts())[idx]
            if idx == 0:
                raise S.WrongPin("SIM rejected PIN1, %d attempts left" % left, left)
            raise S.WrongPuk("SIM rejected PUK1, %d attempts left" % left, left)
        raise _sim_error(code)

    async def enter_pin(self, pin):
        """AT+CPIN="<pin>" in state SIM PIN."""
        p = S.check_pin(pin).decode()
        await self._need_state(S.SIM_PIN)
        await self._pin_cmd('AT+CPIN="%s"' % p, "PIN1", 0)
        await self._remember(p)

    async def enter_puk(self, puk, new_pin):
        """AT+CPIN="<puk>","<new pin>" in state SIM PUK."""
        k = S.check_puk(puk).decode()
        p = S.check_pin(new_pin).decode()
        await self._need_state(S.SIM_PUK)
        await self._pin_cmd('AT+CPIN="%s","%s"' % (k, p), "PUK1", 1)
        await self._remember(p)

    async def set_pin_enabled(self, enabled, pin):
        """AT+CLCK="SC",1|0,"<pin>" (27.007 7.4); SimError without sending the
        PIN when PIN1 is already in that state."""
        p = S.check_pin(pin).decode()
        await self._need_state(S.READY)
        if await self.pin_enabled() == bool(enabled):
            raise S.SimError("PIN1 is already %s" % ("enabled" if enabled else "disabled"))
        await self._pin_cmd('AT+CLCK="SC",%d,"%s"' % (1 if enabled else 0, p), "PIN1", 0)
        await self._remember(p)

    async def change_pin(self, old, new):
        """AT+CPWD="SC","<old>","<new>" (27.007 7.5); PIN1 must be enabled."""
        o = S.check_pin(old).decode()
        n = S.check_pin(new).decode()
        await self._need_state(S.READY)
        if not await self.pin_enabled():
            raise S.SimError("PIN1 is disabled: it cannot be changed")
        await self._pin_cmd('AT+CPWD="SC","%s","%s"' % (o, n), "PIN1", 0)
        await self._remember(n)

    async def _remember(self, pin):
        self._pin = pin
        try:
            self._pin_iccid = await self.iccid()
        except S.SimError:
            self._pin = None

    async def _resume_pin(self):
        """After a reboot: enter the PIN1 that this card accepted this session,
        only with 2 or more attempts left (never a locking retry), only once."""
        if self._pin is None:
            return
        try:
            if await self.wait_sim() != S.SIM_PIN or await self.iccid() != self._pin_iccid:
                return
            if (await self.attempts())[0] < 2:
                self.log("sim7600: SIM asks for PIN1 again; too few attempts left to re-enter it")
                return
            pin = self._pin
            self._pin = None                 # one try: never sent again if refused
            await self.enter_pin(pin)
            self.log("sim7600: PIN1 entered again after the reboot")
        except S.SimError as e:
            self.log("sim7600: PIN1 not re-entered after the reboot: %s" % e)

    async def pin_enabled(self):
        """AT+CLCK="SC",2 -> +CLCK: 0|1."""
        v = _ints(_find(await self._sim_cmd('AT+CLCK="SC",2'), b"+CLCK:") or "")
        if not v or v[0] not in (0, 1):
            raise S.SimError("bad +CLCK reply")
        return v[0] == 1

    async def sim_snapshot(self):
        """A SimSnapshot of the card now (for SimGuard, which calls synchronously)."""
        st = await self.pin_state()
        snap = SimSnapshot(st, await self.imei(), "Sim7600")
        if st == S.NO_SIM:
            return snap
        try:
            snap._attempts = await self.attempts()
            snap._iccid = await self.iccid()
            snap._enabled = await self.pin_enabled()
            if st == S.READY:
                snap._imsi = await self.imsi()
        except S.SimError:
            pass
        return snap
