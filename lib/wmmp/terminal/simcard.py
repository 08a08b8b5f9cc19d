"""The SIM card and module identity as the terminal sees them (section 4.4.1 of
the standard: SIM PIN1 and binding), and SimulatedSim, the reference
implementation that backs the tests and host runs.

Interface (the modem drivers implement the same methods over AT commands, e.g.
AT+CPIN?/AT+SPIC/AT+CPIN=/AT+CLCK="SC"/AT+CPWD="SC"/AT+CIMI/AT+CICCID/AT+CGSN on
the SIM7600, AT+NPIN on Neul-family stacks, see the modules' AT manuals):

    pin_state()                -> READY | SIM_PIN | SIM_PUK | BLOCKED | NO_SIM
                                  ("READY", "SIM PIN", "SIM PUK", "BLOCKED", "NO SIM")
    attempts()                 -> (pin1_left, puk1_left), readable without a PIN
    enter_pin(pin)             verify PIN1 in state SIM PIN
    enter_puk(puk, new_pin)    unblock in state SIM PUK: PIN1 := new_pin, enabled
    set_pin_enabled(enabled, pin)   switch the PIN1 check on/off (verifies pin)
    change_pin(old, new)       PIN1 := new (verifies old; PIN1 must be enabled)
    pin_enabled()              -> bool
    imsi() -> 15 digits, iccid() -> digits, imei() -> 15 digits (the module's)

Nothing returns a success flag: every failure raises a SimError subclass
(WrongPin/WrongPuk carry `left`, the attempts remaining); a PIN or PUK of the
wrong format raises BadValue before anything reaches the card, and costs no
attempt.  PIN values are ASCII digits (str or bytes): PIN 4-8 digits, PUK 8
(3GPP TS 31.101/51.011; PROTOCOL.md 8 for the E001 TLV form, see pin_from_tlv).
Commands a card refuses for its state (a PIN in state READY, a change while
PIN1 is disabled) raise SimError without costing an attempt, as a real card
answers "contradiction with CHV status".
"""

from micropython import const

from wmmp.wire.digest import equal as _same   # compare without an early exit
from wmmp.errors import WmmpError, BadValue

READY = "READY"
SIM_PIN = "SIM PIN"
SIM_PUK = "SIM PUK"
BLOCKED = "BLOCKED"
NO_SIM = "NO SIM"

PIN_TRIES = const(3)      # wrong PIN1 entries before the card asks for PUK1
PUK_TRIES = const(10)     # wrong PUK1 entries before the card is blocked for good


class SimError(WmmpError):
    """The SIM refused a command or cannot be reached."""


class NoSim(SimError):
    """No SIM card is inserted (or the module does not see it)."""


class PinRequired(SimError):
    """The card waits for PIN1 (state SIM PIN) before this command."""


class PukRequired(SimError):
    """PIN1 is blocked after too many wrong entries: only PUK1 helps (state SIM PUK)."""


class SimBlocked(SimError):
    """PUK1 is exhausted: the card is blocked for good (state BLOCKED)."""


class WrongPin(SimError):
    """The card rejected PIN1; `left` entries remain (0: PUK1 is now required)."""

    def __init__(self, msg, left):
        super().__init__(msg)
        self.left = left


class WrongPuk(SimError):
    """The card rejected PUK1; `left` entries remain (0: the card is blocked)."""

    def __init__(self, msg, left):
        super().__init__(msg)
        self.left = left


def _digits(value, lo, hi, what, tag):
    b = value.encode() if isinstance(value, str) else bytes(value)
    ok = lo <= len(b) <= hi
    for c in b:
        if not 0x30 <= c <= 0x39:
            ok = False
    if not ok:
        # the value itself is never put in the message (it may be a secret)
        raise BadValue("%s must be %d to %d digits" % (what, lo, hi), tag)
    return b


def check_pin(pin, tag=0xE001):
    """PIN1/PIN2 as bytes: 4 to 8 ASCII digits, else BadValue."""
    return _digits(pin, 4, 8, "PIN", tag)


def check_puk(puk, tag=0xE007):
    """PUK1/PUK2 as bytes: exactly 8 ASCII digits, else BadValue."""
    return _digits(puk, 8, 8, "PUK", tag)


def pin_from_tlv(value, tag=0xE001):
    """The PIN digits of an E001/E004 TLV value (PROTOCOL.md 8: 4-8 digits; an 8-byte
    value may be right-padded with 0x00 or 'F')."""
    b = bytes(value)
    n = len(b)
    if n == 8:
        while n > 4 and b[n - 1] in (0, 0x46):
            n -= 1
    return check_pin(b[:n], tag)


def error_for(state):
    """The SimError a command meets in `state` (a pin_state() value)."""
    if state == NO_SIM:
        return NoSim("no SIM card")
    if state == BLOCKED:
        return SimBlocked("SIM blocked: PUK1 exhausted")
    if state == SIM_PUK:
        return PukRequired("PIN1 blocked: PUK1 required")
    if state == SIM_PIN:
        return PinRequired("SIM PIN1 required")
    return SimError("SIM is %s: command not allowed" % state)




class SimulatedSim:
    """A SIM card in a module, with the PIN1/PUK1 counters a real card keeps.

    3 wrong PINs -> state SIM PUK; 10 wrong PUKs -> BLOCKED; a correct PIN resets
    the PIN counter; PUK + new PIN resets both and enables PIN1.  Counters live on
    the card: power_cycle() only forgets that PIN1 was entered.  swap() puts in
    another card, remove() takes the card out.  `pin_commands` counts the
    commands that carried a PIN or PUK to the card (tests check what was sent)."""

    def __init__(self, imsi, iccid, imei, pin="1234", puk="12345678", pin_enabled=True):
        self._imei = _digits(imei, 15, 15, "IMEI", None).decode()
        self.pin_commands = 0
        self._insert(imsi, iccid, pin, puk, pin_enabled)

    def _insert(self, imsi, iccid, pin, puk, pin_enabled):
        self._imsi = _digits(imsi, 15, 15, "IMSI", None).decode()
        self._iccid = _digits(iccid, 18, 20, "ICCID", None).decode()
        self._pin = check_pin(pin)
        self._puk = check_puk(puk)
        self._enabled = bool(pin_enabled)
        self._pin_left = PIN_TRIES
        self._puk_left = PUK_TRIES
        self._verified = False
        self._present = True

    def __repr__(self):
        # never the PIN or PUK
        return "<SimulatedSim imsi=%s state=%s pin_left=%d puk_left=%d>" % (
            self._imsi if self._present else "-", self.pin_state(), self._pin_left, self._puk_left)

    __str__ = __repr__

    # -- simulation controls ---------------------------------------------------
    def power_cycle(self):
        """Module and card restart: PIN1 must be entered again (when enabled)."""
        self._verified = False

    def swap(self, imsi, iccid, pin="1234", puk="12345678", pin_enabled=True):
        """Another card in the holder (4.4.1.3), with fresh counters."""
        self._insert(imsi, iccid, pin, puk, pin_enabled)

    def remove(self):
        self._present = False

    # -- interface -------------------------------------------------------------
    def pin_state(self):
        if not self._present:
            return NO_SIM
        if self._puk_left == 0:
            return BLOCKED
        if self._pin_left == 0:
            return SIM_PUK
        if self._enabled and not self._verified:
            return SIM_PIN
        return READY

    def _need(self, state):
        s = self.pin_state()
        if s != state:
            raise error_for(s)

    def attempts(self):
        if not self._present:
            raise NoSim("no SIM card")
        return self._pin_left, self._puk_left

    def _verify(self, pin):
        """Compare with PIN1 and keep the counter; WrongPin when it differs."""
        self.pin_commands += 1
        if _same(pin, self._pin):
            self._pin_left = PIN_TRIES
            return
        self._pin_left -= 1
        if self._pin_left == 0:
            self._verified = False
        raise WrongPin("SIM rejected PIN1, %d attempts left" % self._pin_left, self._pin_left)

    def enter_pin(self, pin):
        pin = check_pin(pin)
        self._need(SIM_PIN)
        self._verify(pin)
        self._verified = True

    def enter_puk(self, puk, new_pin):
        puk = check_puk(puk)
        new_pin = check_pin(new_pin)
        self._need(SIM_PUK)
        self.pin_commands += 1
        if not _same(puk, self._puk):
            self._puk_left -= 1
            raise WrongPuk("SIM rejected PUK1, %d attempts left" % self._puk_left, self._puk_left)
        self._puk_left = PUK_TRIES
        self._pin_left = PIN_TRIES
        self._pin = new_pin
        self._enabled = True
        self._verified = True

    def set_pin_enabled(self, enabled, pin):
        pin = check_pin(pin)
        self._need(READY)
        if bool(enabled) == self._enabled:
            raise SimError("PIN1 is already %s" % ("enabled" if enabled else "disabled"))
        self._verify(pin)
        self._enabled = bool(enabled)
        self._verified = True

    def change_pin(self, old, new):
        old = check_pin(old)
        new = check_pin(new)
        self._need(READY)
        if not self._enabled:
            raise SimError("PIN1 is disabled: it cannot be changed")
        self._verify(old)
        self._pin = new

    def pin_enabled(self):
        if not self._present:
            raise NoSim("no SIM card")
        return self._enabled

    def imsi(self):
        self._need(READY)
        return self._imsi

    def iccid(self):
        if not self._present:
            raise NoSim("no SIM card")
        return self._iccid

    def imei(self):
        return self._imei
