"""The service console's local manual security resets (wmmp.board.console; issue
4; sections 4.4.1.4 and 4.4.4 of the standard, appendix E g E020; docs/CONSOLE.md).

RESET SIM (binding and PIN1 check, 4.4.1.4) and RESET KEYS (access passwords
and base key, 4.4.4) need both checks of the standard:
  identity  a right AUTH (wmmp.board.consoleauth) within AUTH_TTL s;
  state     state_provider() -> (state name, alarm codes): refused while logged
            in ("online", "logging-out") and while working normally (no alarm
            and not in "alarm"/"backoff").
What was cleared is kept as E020 bits for the engine: RESET KEYS sets "cleared"
(REGISTER operation 0x04) and drops "registered"; RESET SIM sets "cleared_login"
(E020 in the next LOGIN).  Both are audited, never with a PIN or PUK.  RESET
SIM's card work is a SIM job (wmmp.terminal.simguard), run through the
console's sim_call.

reset(console, args) is the RESET command's handler in the command table of
wmmp.board.console (which imports this module, never the other way round).
"""

from micropython import const

from wmmp.errors import WmmpError
from wmmp.board import consoleauth as A

# Codes (appendix G / E) that only this module reads: private, so MicroPython compiles
# them away; wmmp.wire.codes still answers to their names for tools and tests.
_CLEARED_PIN1 = const(0x80)
_CLEARED_UP_PASSWORD = const(0x08)
_CLEARED_DOWN_PASSWORD = const(0x04)
_CLEARED_BASE_KEY = const(0x02)

# Access passwords, base key and their settings (4.4.4; appendix E g): tag -> E020 bit
_KEY_TAGS = ((0xE025, _CLEARED_UP_PASSWORD), (0xE027, 0), (0xE028, _CLEARED_DOWN_PASSWORD),
             (0xE02A, 0), (0xE036, _CLEARED_BASE_KEY), (0xE037, _CLEARED_BASE_KEY),
             (0xE038, 0), (0xE039, 0))


def reset(c, args):
    """RESET SIM [<PUK1>] | RESET SIM PIN1 <PIN1> | RESET KEYS (args: 1-3
    words); False for other arguments (the console refuses their syntax)."""
    what = args[0].upper()
    if what == "SIM":
        _reset_sim(c, args[1:])
    elif what == "KEYS" and len(args) == 1:
        _reset_keys(c)
    else:
        return False


def _may_reset(c, what):
    """Both checks of 4.4.1.4 / 4.4.4; refuses (reply + audit) when one fails."""
    if not c.authed():
        c.refuse("need_auth", "RESET %s needs CHALLENGE and AUTH first" % what, "RESET %s" % what)
        return False
    name, alarms, allowed = c.state()
    if not allowed:
        c.refuse("state", "terminal is %s%s: resets only in an abnormal or alarm state" % (
            name, " with alarms" if alarms else " without alarms"),
            "RESET %s state=%s alarms=%d" % (what, name, len(alarms)))
        return False
    return True


def _mark(c, key, bits, drops=()):
    v = c.st.view()
    c.st.update({key: bytes([(A.uint(v.get(key)) | bits) & 0xFE])}, drops)


def _reset_keys(c):
    if not _may_reset(c, "KEYS"):
        return
    v = c.st.view()
    bits = 0
    drops = []
    for tag, bit in _KEY_TAGS:
        if v.get(tag) is not None:
            bits |= bit
            drops.append(tag)
    if not drops:
        c.st.audit("console_reset_keys", "nothing stored: nothing cleared")
        c.ok("RESET KEYS cleared=0x00 nothing stored")
        return
    drops.append(A.KEY_REGISTERED)
    try:
        _mark(c, A.KEY_CLEARED, bits, drops)
    except WmmpError:
        c.st.audit("console_reset_keys", "flash write failed: nothing cleared")
        c.err("storage", "flash write failed: nothing cleared")
        return
    c.st.audit("console_reset_keys", "cleared E020=0x%02X: REGISTER 0x04 next" % bits)
    c.resets.append(("reset", "keys", bits))
    c.ok("RESET KEYS cleared=0x%02X next=register-0x04" % bits)


def _reset_sim(c, words):
    """RESET SIM [<PUK1>] | RESET SIM PIN1 <PIN1> (words: what follows SIM)."""
    from wmmp.terminal import simcard as S
    puk = pin = None
    try:
        if len(words) == 2 and words[0].upper() == "PIN1":
            what = "PIN1"
            pin = S.check_pin(words[1])
        elif len(words) == 1 and words[0].upper() != "PIN1":
            what = "PUK"
            puk = S.check_puk(words[0])
        elif words:
            what = "args"
            raise WmmpError("RESET SIM arguments")
    except WmmpError:
        c.refuse("syntax", "RESET SIM [<PUK1: 8 digits>] or RESET SIM PIN1 <PIN1: 4-8 digits>",
                 "RESET SIM %s" % what)
        return
    if not _may_reset(c, "SIM"):
        return
    if c.sim is None:
        c.refuse("sim", "no SIM interface on this terminal", "RESET SIM no interface")
        return
    new = _new_pin(c) if puk is not None else None
    c.sim_call(_reset_sim_job(c.store, puk, pin, new),
               lambda r, err: _reset_sim_done(c, r, err, pin is not None))


def _reset_sim_done(c, refusal, err, given_pin):
    if err is not None:
        # e.g. the card refused the PUK1 or PIN1 (attempts left in the reason),
        # the never-lock rule of 4.4.1.1 stopped a command, or the SIM did not
        # answer; never carries a PIN
        c.st.audit("console_reset_sim", "failed: %s" % type(err).__name__)
        left = getattr(err, "left", None)
        c.err("sim", "%s: %s%s" % (type(err).__name__, A.word(str(err).replace(" ", "_"), 80),
                                   "" if left is None else " left=%d" % left))
        return
    if refusal is not None:
        c.refuse(refusal[0], refusal[1], refusal[2])
        return
    try:
        _mark(c, A.KEY_CLEARED_LOGIN, _CLEARED_PIN1)
    except WmmpError:
        c.st.audit("console_reset_sim", "cleared; E020 report could not be saved")
        c.err("storage", "SIM security cleared but the E020 report could not be saved")
        return
    c.st.audit("console_reset_sim", "binding removed, PIN1 check off%s: E020=0x80 at LOGIN" % (
        " (PIN1 from the technician)" if given_pin else ""))
    c.resets.append(("reset", "sim", _CLEARED_PIN1))
    c.ok("RESET SIM cleared=0x%02X bind=0 pin1=off next=login-e020" % _CLEARED_PIN1)


def _new_pin(c):
    """A random 8-digit PIN1 when the card is unblocked with no PIN1 stored
    (stored by simguard.unblock, never shown)."""
    r = c.rng(8)
    return "".join("%d" % (b % 10) for b in r)


def _reset_sim_job(store, puk, pin, new_pin):
    """RESET SIM's SIM work (4.4.1.4) as a SIM job.  puk: PUK1 for a blocked
    PIN1 (simguard.unblock; new_pin when no PIN1 is stored); pin: the card's
    PIN1 from the technician (simguard.recover when the card asks for it, else
    the PIN1 that switches the check off).  A technician's PIN/PUK is tried on
    the card before anything is cleared.  None when cleared, else (code, reason,
    audit detail) of a refusal (nothing sent); raises the WmmpError of a card
    or guard refusal."""
    from wmmp.terminal import simcard as S, simguard as G
    state = yield ("pin_state", ())
    if state == S.SIM_PUK:
        if puk is None:
            return ("need_puk", "PIN1 is blocked: RESET SIM <PUK1>", "RESET SIM")
        yield from G.unblock_job(store, puk, G.stored_pin1(store) or new_pin)
    elif state == S.SIM_PIN:
        if pin is None:
            return ("need_pin", "SIM waits for PIN1 (the stored one is missing or refused): "
                    "RESET SIM PIN1 <PIN1>; nothing changed", "RESET SIM sim=SIM_PIN")
        yield from G.recover_job(store, pin)
    elif state != S.READY:
        return ("sim_state", _sim_hint(state), "RESET SIM sim=%s" % A.word(state))
    elif (yield ("pin_enabled", ())):
        if pin is not None:
            yield from G.enable_pin_job(store, pin, False)     # verified, then stored
        elif G.stored_pin1(store) is None:
            return ("sim", "PIN1 check is on and no PIN1 is stored: RESET SIM PIN1 <PIN1>; "
                    "nothing changed", "RESET SIM no stored PIN1")
    yield from G.clear_job(store)
    return None


def _sim_hint(state):
    if state == "SIM PIN":
        return "SIM waits for PIN1 (the stored one is missing or refused): nothing changed"
    if state == "NO SIM":
        return "no SIM card: nothing changed"
    if state == "BLOCKED":
        return "SIM blocked for good (PUK1 exhausted): replace the card"
    return "SIM is %s: nothing changed" % A.word(state)
