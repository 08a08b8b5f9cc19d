"""SIM PIN1 boot guard, SIM binding and the platform-driven PIN1 operations
(section 4.4.1 of the standard, appendix B 6, appendix E g E001-E01B), sans-I/O
over a SIM (wmmp.terminal.simcard interface) and a persistent store.

The store, its keys ("simguard" record, "secret_pin1", "secret_pin1_next",
"imsi"), the guard record (E018 count, PIN in flight, refused PINs, E00D
binding) and the never-lock rule every PIN-carrying command obeys live in
wmmp.terminal.simrecord.

Boot (4.4.1.1), SimGuard(sim, store).boot() -> Result:
  no card, PUK needed, blocked -> alarm; the SIM asks for PIN1 -> send the
  stored PIN only if the card has at least 2 attempts left, the stored count is
  under its limit and the card has not refused that PIN before; a refusal stops
  the boot.  Then binding (4.4.1.3): E00D=1 and another IMSI (or IMEI) than the
  bound one -> alarm; not bound and the IMSI differs from the registered one ->
  REGISTER operation 0x02 (4.3.1.2).  An alarm never raises: Result says
  "alarm: technician needed" and why.

Alarm codes (appendix E e, 0x300D): appendix E e has no SIM code; a missing,
locked, refused or foreign SIM stops the power-on checks of the terminal, so it
is reported as 0x0006 "terminal self-test fault" (a hardware alarm, type 0x02);
a damaged guard record or a flash write that fails is 0x0011 "memory error".

Platform operations (4.4.1.2, appendix B 6; each returns True or raises a
WmmpError subclass: sim.SimError and subclasses, simrecord.WouldLock,
simrecord.NoStoredPin, BadValue, errors.StorageError): enable_pin, change_pin,
apply_pin1 (E001/E003 as sent), bind, unbind, clear (E00D 0x02), unblock (PUK,
technician); reads for SECURITY_CONFIG operation 0x02: read_tlvs (E002, E003,
E00D, E016, E018).
Every PIN1 command first verifies the old PIN on the card (the stored one: the
factory default before the first change, 4.4.1.2 last paragraph) and obeys the
same never-lock rule.  For the technician (local console, 4.4.1.4), next to
unblock: recover (the card's real PIN1 when the stored one was refused or is
missing), and status_job, which reads what the console's STATUS shows (card
state, PIN1 check, attempts left, E018, E00D) without sending a PIN or
writing anything.
Audit entries go to store.audit() (or store.storage.audit) when there is one,
and never carry a PIN.
"""

from micropython import const

from wmmp.terminal import simcard as S, simrecord as R
from wmmp.wire import codes as K
from wmmp.wire import digest as D
from wmmp.errors import WmmpError, BadValue, Unsupported, StorageError

# Codes (appendix G / E) that only this module reads: private, so MicroPython compiles
# them away; wmmp.wire.codes still answers to their names for tools and tests.
_ALARM_TYPE_HARDWARE = const(0x02)

WORKING = "working"
CHANGE_MAPPING = "change-mapping"
ALARM = "alarm"


# -- SIM requests ---------------------------------------------------------------
# The guard's work is written as generator "jobs" that yield SIM requests
# (method name, args) and get each answer back (or the SimError it raised,
# thrown in).  run() serves them from a synchronous SIM (wmmp.terminal.simcard.SimulatedSim),
# run_async() from an asynchronous one (the modem drivers, whose SIM methods
# are coroutines): one copy of the 4.4.1 rules for both.

def _step(job, val, err):
    try:
        return False, (job.send(val) if err is None else job.throw(err))
    except StopIteration as s:
        return True, s.value


def run(job, sim):
    """Run a guard job against a synchronous SIM: its result, or its exception."""
    val = err = None
    while True:
        done, r = _step(job, val, err)
        if done:
            return r
        val = err = None
        try:
            val = getattr(sim, r[0])(*r[1])
        except WmmpError as e:
            err = e


async def run_async(job, sim):
    """Run a guard job against a SIM whose methods are coroutines.  A SIM with a
    sim_lock (an asyncio.Lock: the modem drivers) runs one job at a time, so the
    engine's and the console's jobs never interleave their PIN commands."""
    lock = getattr(sim, "sim_lock", None)
    if lock is None:
        return await _run_async(job, sim)
    async with lock:
        return await _run_async(job, sim)


async def outcome_async(job, sim, log=None):
    """(result, error) of run_async(job, sim), for a caller that hands the
    outcome on (the runner to the engine, the console task to the console)
    and must never raise: a fault outside WmmpError (a driver bug) is logged
    and becomes a WmmpError, so the job still ends as a SIM failure."""
    try:
        return await run_async(job, sim), None
    except WmmpError as e:
        return None, e
    except Exception as e:
        if log is not None:
            log("wmmp: SIM job failed: %r" % (e,))
        return None, WmmpError("SIM job failed: %r" % (e,))


async def _run_async(job, sim):
    val = err = None
    while True:
        done, r = _step(job, val, err)
        if done:
            return r
        val = err = None
        try:
            val = await getattr(sim, r[0])(*r[1])
        except WmmpError as e:
            err = e


def is_async(sim):
    """True for a SIM whose methods are coroutines (it says so with sim_async)."""
    return bool(getattr(sim, "sim_async", False))


def _storage_fault(e):
    """True for a failed flash write."""
    return isinstance(e, StorageError)


class Result:
    """Outcome of the boot checks.

    state        WORKING, CHANGE_MAPPING (send REGISTER operation 0x02) or ALARM
    reason       why, in words (never a PIN)
    alarm        0x300D alarm code for ALARM (appendix E e), else None
    alarm_type   0x02 hardware alarm for ALARM (0x300C), else None
    register_op  0x02 for CHANGE_MAPPING, else None
    old_imsi     the registered IMSI for CHANGE_MAPPING (its digest key, PROTOCOL.md 3)
    imsi, imei   the card's IMSI and the module's IMEI when they could be read"""

    def __init__(self, state, reason, alarm=None, register_op=None, old_imsi=None, imsi=None, imei=None):
        self.state = state
        self.reason = reason
        self.alarm = alarm
        self.alarm_type = _ALARM_TYPE_HARDWARE if alarm is not None else None
        self.register_op = register_op
        self.old_imsi = old_imsi
        self.imsi = imsi
        self.imei = imei

    @property
    def ok(self):
        return self.state != ALARM

    @property
    def technician(self):
        return self.state == ALARM

    def summary(self):
        if self.state == ALARM:
            return "alarm: technician needed: %s (alarm 0x%04X)" % (self.reason, self.alarm)
        if self.state == CHANGE_MAPPING:
            return "register op 0x02: %s" % self.reason
        return "working: %s" % self.reason

    def __repr__(self):
        return "<SimGuard %s>" % self.summary()

    __str__ = __repr__


class SimGuard:
    """The boot flow of 4.4.1.1 and the SIM swap check of 4.4.1.3.

    boot() checks a synchronous SIM; boot_job() is the same work as a job for
    run_async() (a modem driver's SIM)."""

    def __init__(self, sim, store):
        self.sim = sim
        self.store = store

    def __repr__(self):
        return "<SimGuard sim=%r>" % (self.sim,)

    def boot(self):
        return run(self.boot_job(), self.sim)

    def _alarm(self, box, reason, code=K.ALARM_SELF_TEST_FAULT):
        if box is not None:
            try:
                box.audit("sim_alarm", reason)
            except Exception:          # a broken audit log must not hide the alarm
                pass
        return Result(ALARM, reason, code)

    def boot_job(self):
        """-> Result; never raises for a SIM or store fault (those are alarms)."""
        try:
            box = R.Box(self.store)
            rec = box.rec()
        except WmmpError as e:
            return self._alarm(None, "SIM guard record unreadable: %s" % e, K.ALARM_MEMORY_ERROR)
        try:
            state = yield ("pin_state", ())
        except WmmpError as e:
            return self._alarm(box, "SIM state unreadable: %s" % e)
        if state == S.NO_SIM:
            return self._alarm(box, "no SIM card")
        if state == S.BLOCKED:
            return self._alarm(box, "SIM blocked: PUK1 exhausted")
        if state == S.SIM_PUK:
            return self._alarm(box, "PIN1 blocked: PUK1 needed")
        try:
            yield from R.settle(box, rec)
            if state == S.SIM_PIN:
                r = yield from self._unlock(box, rec)
                if r is not None:
                    return r
            imsi = yield ("imsi", ())
            imei = yield ("imei", ())
        except S.SimError as e:
            return self._alarm(box, "SIM: %s" % e)
        except WmmpError as e:
            if _storage_fault(e):      # the counter could not be saved: nothing sent after that
                return self._alarm(box, "flash write failed: %s" % e, K.ALARM_MEMORY_ERROR)
            return self._alarm(box, "SIM unreachable: %s" % e)     # e.g. the modem stopped answering
        return self._binding(box, rec, imsi, imei)

    def _unlock(self, box, rec):
        pin = box.get(R.KEY_PIN)
        nxt = box.get(R.KEY_NEXT)
        if pin is None and nxt is None:
            return self._alarm(box, "SIM asks for PIN1 and none is stored")
        why = "the SIM refused the stored PIN1"
        for bit, p in ((R.B_PIN, pin), (R.B_NEXT, nxt)):
            if p is None or rec.rejected & bit:
                continue
            try:
                yield from R.guarded(box, rec, bit, "enter_pin", p)
            except R.WouldLock as e:
                return self._alarm(box, str(e))
            except S.WrongPin as e:
                why = "the SIM refused the stored PIN1 (%d attempts left)" % e.left
                continue
            if bit == R.B_NEXT:            # a change had reached the card
                box.put(R.KEY_PIN, p)
            box.drop(R.KEY_NEXT)
            rec.rejected = 0
            box.save(rec)
            box.audit("sim_pin_ok", "PIN1 accepted")
            return None
        return self._alarm(box, why)

    def _binding(self, box, rec, imsi, imei):
        bi = imsi.encode()
        be = imei.encode()
        if rec.bind:
            if bi != rec.imsi:
                box.audit("sim_alarm", "foreign SIM IMSI %s" % imsi)
                return Result(ALARM, "foreign SIM: IMSI %s is not the bound %s (E00D=1)"
                              % (imsi, rec.imsi.decode()), K.ALARM_SELF_TEST_FAULT, imsi=imsi, imei=imei)
            if be != rec.imei:
                box.audit("sim_alarm", "module IMEI %s is not the bound one" % imei)
                return Result(ALARM, "IMEI %s is not the bound %s (E00D=1)" % (imei, rec.imei.decode()),
                              K.ALARM_SELF_TEST_FAULT, imsi=imsi, imei=imei)
        reg = box.get(R.KEY_REGISTERED_IMSI)
        if reg is not None and bytes(reg) != bi:
            old = bytes(reg).decode()
            box.audit("sim_swap", "IMSI %s -> %s: REGISTER 0x02" % (old, imsi))
            return Result(CHANGE_MAPPING, "IMSI changed from %s to %s" % (old, imsi),
                          register_op=K.REG_OP_CHANGE_MAPPING, old_imsi=old, imsi=imsi, imei=imei)
        return Result(WORKING, "SIM ready", imsi=imsi, imei=imei)


# -- platform-driven operations (4.4.1.2, appendix B 6) ------------------------
# Each xxx(sim, ...) runs on a synchronous SIM and returns True or raises; each
# xxx_job(...) is the same work for run() / run_async().


def _ready():
    st = yield ("pin_state", ())
    if st != S.READY:
        raise S.error_for(st)


def enable_pin_job(store, old_pin, enable):
    """E003: switch the PIN1 check on or off, verifying the old PIN (None: the
    stored one) on the card.  True when done (also when nothing had to change)."""
    box, rec = yield from R.start(store)
    pin, bit = R.old_pin(box, old_pin)
    yield from _ready()
    enable = bool(enable)
    if (yield ("pin_enabled", ())) != enable:
        yield from R.guarded(box, rec, bit, "set_pin_enabled", enable, pin)
        box.put(R.KEY_PIN, pin)        # verified: this is the card's PIN1
        rec.rejected = 0
    box.save(rec)
    box.audit("sim_pin_enable", "PIN1 %s" % ("enabled" if enable else "disabled"))
    return True


def change_pin_job(store, old_pin, new_pin):
    """E001: PIN1 := new_pin on the card and in the store.  The old PIN (None:
    the stored one, the factory default before the first change) is verified on
    the card first; a disabled PIN1 is enabled for the change and disabled again.
    The new PIN is saved as "next" before the card changes, so a power cut at
    any step leaves the boot both candidates."""
    new = S.check_pin(new_pin)
    box, rec = yield from R.start(store)
    old, bit = R.old_pin(box, old_pin)
    yield from _ready()
    enabled = yield ("pin_enabled", ())
    rec.rejected &= ~R.B_NEXT
    box.put(R.KEY_NEXT, new)
    box.save(rec)
    try:
        if not enabled:
            yield from R.guarded(box, rec, bit, "set_pin_enabled", True, old)
        yield from R.guarded(box, rec, bit, "change_pin", old, new)
    except WmmpError:
        box.drop(R.KEY_NEXT)           # the card still has the old PIN1
        box.save(rec)
        raise
    box.put(R.KEY_PIN, new)
    box.drop(R.KEY_NEXT)
    rec.rejected = 0
    box.save(rec)
    if not enabled:
        yield from R.guarded(box, rec, R.B_PIN, "set_pin_enabled", False, new)
        box.save(rec)
    box.audit("sim_pin_change", "PIN1 changed")
    return True


def apply_pin1_job(store, pin=None, enable=None):
    """SECURITY_CONFIG operation 0x00 with E001 (the PIN, TLV form) and/or E003
    (appendix B 6 formats 2, 3 and 6).  True when applied."""
    if pin is None and enable is None:
        raise BadValue("neither E001 nor E003 given")
    new = S.pin_from_tlv(pin) if pin is not None else None
    if enable is not None:
        if not isinstance(enable, int):
            b = bytes(enable)
            enable = b[0] if len(b) == 1 else -1
        if enable not in (0, 1):
            raise BadValue("E003 must be one byte, 0 or 1", 0xE003)
    if new is not None:
        yield from change_pin_job(store, None, new)
    if enable is not None:
        yield from enable_pin_job(store, None, enable)
    return True


def bind(store, imsi, imei):
    """E00D = 0x01: bind the terminal to this IMSI and IMEI (4.4.1.3)."""
    box = R.Box(store)
    rec = box.rec()
    rec.bind = 1
    rec.imsi = D.imsi_field(imsi)
    rec.imei = D.imei_field(imei)[:15]
    box.save(rec)
    box.audit("sim_bind", "IMSI %s IMEI %s" % (rec.imsi.decode(), rec.imei.decode()))
    return True


def bind_job(store):
    """E00D = 0x01 with the IMSI and IMEI read from the SIM and module."""
    imsi = yield ("imsi", ())
    imei = yield ("imei", ())
    return bind(store, imsi, imei)


def unbind(store):
    """E00D = 0x00: no binding."""
    box = R.Box(store)
    rec = box.rec()
    rec.bind = 0
    rec.imsi = None
    rec.imei = None
    box.save(rec)
    box.audit("sim_unbind", "binding removed")
    return True


def unbind_job(store):
    """unbind() as a job (it needs no SIM)."""
    return unbind(store)
    yield                               # a generator: the job interface


def clear_job(store):
    """E00D = 0x02: remove the binding first, then switch PIN1 off if it is on
    (appendix E g E00D, 4.4.1.3.1).  The stored PIN1 is kept: it is still the
    card's PIN1 value, needed to enable the check again (4.4.1.2)."""
    unbind(store)
    if (yield ("pin_enabled", ())):
        yield from enable_pin_job(store, None, False)
    R.audit(store, "sim_clear", "binding and PIN1 check cleared")
    return True


def unblock_job(store, puk, new_pin):
    """Technician: PUK1 + new PIN1 on a card in state SIM PUK (4.4.1.4 case 3).
    Refused when only 1 PUK attempt is left (the card would be lost for good)."""
    puk = S.check_puk(puk)
    new = S.check_pin(new_pin)
    box = R.Box(store)
    rec = box.rec()
    st = yield ("pin_state", ())
    if st != S.SIM_PUK:
        raise S.SimError("SIM is %s, not waiting for PUK1" % st)
    left = (yield ("attempts", ()))[1]
    if left <= 1:
        raise R.WouldLock("SIM has %d PUK1 attempt(s) left" % left)
    try:
        yield ("enter_puk", (puk, new))
    except S.WrongPuk as e:
        box.audit("sim_puk_wrong", "left=%d" % e.left)
        raise
    R.known_good(box, rec, new, "sim_unblock", "PIN1 reset with PUK1")
    return True


def recover_job(store, pin):
    """Technician: the card asks for PIN1 and the stored one is wrong or missing
    (the boot stopped in the alarm state, 4.4.1.1); `pin` is the card's PIN1
    from its documentation.  It is entered under the same never-lock rule
    (refused with 1 attempt left; the stored error count does not stop it: a
    person chose to send it, and the counter still records the attempt); when
    the card takes it, it becomes the stored PIN1 and the error count, refusals
    and any half-done change are cleared, so the next boot works (and a
    following clear_job can switch the check off, 4.4.1.4)."""
    new = S.check_pin(pin)
    box = R.Box(store)
    rec = box.rec()
    st = yield ("pin_state", ())
    if st != S.SIM_PIN:
        raise S.SimError("SIM is %s, not waiting for PIN1" % st)
    yield from R.settle(box, rec)
    yield from R.guarded(box, rec, R.B_OTHER, "enter_pin", new, capped=False)
    R.known_good(box, rec, new, "sim_recover", "PIN1 given by the technician accepted; error count cleared")
    return True


def recover(sim, store, pin):
    return run(recover_job(store, pin), sim)


def enable_pin(sim, store, old_pin, enable):
    return run(enable_pin_job(store, old_pin, enable), sim)


def change_pin(sim, store, old_pin, new_pin):
    return run(change_pin_job(store, old_pin, new_pin), sim)


def apply_pin1(sim, store, pin=None, enable=None):
    return run(apply_pin1_job(store, pin, enable), sim)


def clear(sim, store):
    return run(clear_job(store), sim)


def unblock(sim, store, puk, new_pin):
    return run(unblock_job(store, puk, new_pin), sim)


# -- reads (SECURITY_CONFIG operation 0x02) ------------------------------------

def pin_digest(serial, imei, imsi, pin):
    """E002 = MD5(serial || IMEI || IMSI || PIN1) (appendix E g, PROTOCOL.md 8)."""
    return D.sim_digest(serial, imei, imsi, S.check_pin(pin))


def stored_pin1(store):
    """The stored PIN1 (bytes) or None: only for an encrypted answer (operation
    0x01, E043), never for logs."""
    v = R.Box(store).get(R.KEY_PIN)
    return bytes(v) if v is not None else None


def pin1_errors(store):
    """(limit, count) of E018."""
    rec = R.Box(store).rec()
    return rec.limit, rec.fails


def status_job(store):
    """What the service console's STATUS shows of the SIM (4.4.1; appendix E g
    E00D, E018), as a dict; reads only (no PIN is sent, nothing is written) and
    never raises for a SIM or store fault, a value it could not read is None:
      "state"   pin_state() (None: the card could not be asked; then nothing
                else is read from it)
      "pin1"    pin_enabled() (bool)
      "left"    attempts(): (pin1_left, puk1_left)
      "errors"  (limit, count) of E018, from the guard record
      "bind"    E00D (0 or 1), from the guard record"""
    out = {"state": None, "pin1": None, "left": None, "errors": None, "bind": None}
    try:
        out["state"] = yield ("pin_state", ())
    except WmmpError:
        return out
    try:
        out["pin1"] = bool((yield ("pin_enabled", ())))
    except WmmpError:
        pass
    try:
        left = yield ("attempts", ())
        out["left"] = (left[0], left[1])
    except WmmpError:
        pass
    try:
        rec = R.Box(store).rec()
        out["errors"] = (rec.limit, rec.fails)
        out["bind"] = rec.bind
    except WmmpError:
        pass
    return out


def read_tlvs(sim, store, serial, tags):
    return run(read_tlvs_job(store, serial, tags), sim)


def read_tlvs_job(store, serial, tags):
    """[(tag, value)] for E002, E003, E00D, E016, E018; Unsupported for any
    other tag or one with no value (no PIN1 stored)."""
    box = R.Box(store)
    rec = box.rec()
    out = []
    for t in tags:
        if t == 0xE002:
            pin = box.get(R.KEY_PIN)
            if pin is None:
                raise Unsupported("no PIN1 stored")
            imei = yield ("imei", ())
            v = pin_digest(serial, imei, (yield ("imsi", ())), bytes(pin))
        elif t == 0xE003:
            v = b"\x01" if (yield ("pin_enabled", ())) else b"\x00"
        elif t == 0xE00D:
            v = bytes([rec.bind])
        elif t == 0xE016:
            imei = yield ("imei", ())
            v = D.binding_digest(serial, imei, (yield ("imsi", ())))
        elif t == 0xE018:
            v = bytes([rec.limit, min(rec.fails, 255)])
        else:
            raise Unsupported("tag 0x%04X is not a SIM read" % t)
        out.append((t, v))
    return out
