"""The SIM guard's persistent record and its never-lock rule (section 4.4.1.1,
appendix E g E018), for wmmp.terminal.simguard (the boot checks and the PIN1
operations, which drive these helpers from their jobs): the view of the
store, the guard record, the audit hook, and guarded(), the one way a
PIN-carrying command is sent to the card.

Store: either a storage object with load()/save(dict) (wmmp.board.store.FlashStorage,
params.MemoryStorage: use it at boot, before Params is built over it) or a live
wmmp.terminal.params.Params (get/set/delete/commit: use it while the engine runs, so a
later Params.commit() does not write back stale values).  Keys used:

    "simguard"          the guard record (below)
    "secret_pin1"       the PIN1 the terminal sends (ASCII digits; "secret_"
                        keys are redacted by the store)
    "secret_pin1_next"  a new PIN1 while a change is being applied to the card
    "imsi"              read only: the IMSI the engine registered with

Record "simguard", 37 bytes: version u8 (1) | fails u8 | pending u8 | left_before
u8 | rejected u8 | limit u8 | bind u8 (E00D) | bound IMSI 15 | bound IMEI 15.
`fails` counts PIN1 commands sent since the last success (E018 second byte; the
limit is E018's first byte); it is saved BEFORE each command with `pending` (which
PIN is in flight: 1 stored, 2 next, 4 given by the caller) and the card's
attempts left, so a power cut during the command is counted, and the next boot
learns from the card's counter whether that PIN was wrong.  `rejected` remembers
which stored PIN the card refused (bit 1 stored, 2 next): it is never sent again.

The helpers that talk to the card (settle, guarded, start) are generator jobs
yielding SIM requests, run by wmmp.terminal.simguard.run / run_async.  Audit
entries go to store.audit() (or store.storage.audit) when there is one, and
never carry a PIN.
"""

import struct
from micropython import const

from wmmp.terminal import simcard as S
from wmmp.errors import WmmpError, BadValue

KEY = "simguard"
KEY_PIN = "secret_pin1"
KEY_NEXT = "secret_pin1_next"
KEY_REGISTERED_IMSI = "imsi"          # written by the engine at registration

_FMT = ">BBBBBBB15s15s"
_SIZE = const(37)
_VERSION = const(1)
FAIL_LIMIT = const(3)       # default E018 limit: PIN1 commands not known to have succeeded

B_PIN = const(1)            # the stored PIN1
B_NEXT = const(2)           # the PIN1 being introduced by a change
B_OTHER = const(4)          # a PIN1 the caller gave


class GuardError(WmmpError):
    """The guard refused a SIM operation."""


class WouldLock(GuardError):
    """Sending this PIN/PUK could lock the card (1 attempt left, error limit
    reached, or the card already refused this PIN): nothing was sent."""


class NoStoredPin(GuardError):
    """The operation needs the stored PIN1 and none is stored."""


class _Rec:
    def __init__(self):
        self.fails = 0
        self.pending = 0
        self.left_before = 0
        self.rejected = 0
        self.limit = FAIL_LIMIT
        self.bind = 0
        self.imsi = None
        self.imei = None

    def encode(self):
        return struct.pack(_FMT, _VERSION, min(self.fails, 255), self.pending, self.left_before,
                           self.rejected, self.limit, self.bind,
                           self.imsi or bytes(15), self.imei or bytes(15))


def _ident(b):
    if b == bytes(15):
        return None
    for c in b:
        if not 0x30 <= c <= 0x39:
            raise BadValue("simguard: damaged identity")
    return bytes(b)


def _decode(v):
    r = _Rec()
    if v is None:
        return r
    if len(v) != _SIZE:
        raise BadValue("simguard: record length %d" % len(v))
    (ver, r.fails, r.pending, r.left_before, r.rejected, r.limit, r.bind,
     imsi, imei) = struct.unpack(_FMT, bytes(v))
    if ver != _VERSION or r.pending not in (0, B_PIN, B_NEXT, B_OTHER) or r.rejected > 3 \
            or r.limit == 0 or r.bind > 1:
        raise BadValue("simguard: damaged record")
    r.imsi = _ident(imsi)
    r.imei = _ident(imei)
    if r.bind and (r.imsi is None or r.imei is None):
        raise BadValue("simguard: binding without identities")
    return r


class Box:
    """The guard's view of the store: a load()/save() storage or a live Params."""

    def __init__(self, store):
        self.s = store
        self.live = hasattr(store, "commit") and hasattr(store, "get")
        self.data = None
        if not self.live:
            d = store.load()
            self.data = dict(d) if d else {}

    def get(self, k):
        return self.s.get(k) if self.live else self.data.get(k)

    def put(self, k, v):
        if self.live:
            self.s.set(k, v)
        else:
            self.data[k] = bytes(v)

    def drop(self, k):
        if self.live:
            self.s.delete(k)
        elif k in self.data:
            del self.data[k]

    def rec(self):
        return _decode(self.get(KEY))

    def save(self, rec):
        """Write the record (and whatever was put) to flash now."""
        self.put(KEY, rec.encode())
        if self.live:
            self.s.commit()
        else:
            self.s.save(self.data)

    def audit(self, event, detail=None):
        audit(self.s, event, detail)


def audit(store, event, detail):
    """An audit entry through store.audit (FlashStorage) or store.storage.audit
    (Params over one); nothing when there is no audit log."""
    a = getattr(store, "audit", None)
    if a is None:
        a = getattr(getattr(store, "storage", None), "audit", None)
    if a is not None:
        a(event, detail)


def settle(box, rec):
    """A PIN command was in flight when the power went: the card's counter says
    whether it was refused (it only drops on a wrong PIN).  It stays counted."""
    if not rec.pending:
        return
    left = (yield ("attempts", ()))[0]
    if left < rec.left_before and rec.pending != B_OTHER:
        rec.rejected |= rec.pending
        box.audit("sim_pin_wrong", "interrupted attempt refused, left=%d" % left)
    rec.pending = 0
    box.save(rec)


def guarded(box, rec, bit, name, *args, capped=True):
    """Send one PIN-carrying command (SIM method `name`) under the persistent
    counter (4.4.1.1); capped=False: the E018 limit does not stop it (a
    technician's own attempt), the card's attempts left still do."""
    if rec.rejected & bit:
        raise WouldLock("the SIM already refused this PIN1")
    if capped and rec.fails >= rec.limit:
        raise WouldLock("PIN1 error count %d reached its limit %d" % (rec.fails, rec.limit))
    left = (yield ("attempts", ()))[0]
    if left <= 1:
        raise WouldLock("SIM has %d PIN1 attempt(s) left" % left)
    rec.fails += 1
    rec.pending = bit
    rec.left_before = left
    box.save(rec)                       # BEFORE the card sees the PIN
    try:
        yield (name, args)
    except S.WrongPin as e:
        rec.pending = 0
        if bit != B_OTHER:
            rec.rejected |= bit
        box.save(rec)
        box.audit("sim_pin_wrong", "left=%d fails=%d" % (e.left, rec.fails))
        raise
    except S.SimError as e:
        # refused for its state, or no answer: the card's counter tells whether
        # the PIN was compared (and wrong); unreadable -> stays pending for settle
        try:
            dropped = (yield ("attempts", ()))[0] < left
        except WmmpError:
            raise e
        rec.pending = 0
        if not dropped:
            rec.fails -= 1
        elif bit != B_OTHER:
            rec.rejected |= bit
        box.save(rec)
        raise e
    rec.fails = 0
    rec.pending = 0
    rec.rejected &= ~bit


def start(store):
    """(Box, record) for an operation, after settling a PIN command left in
    flight by a power cut."""
    box = Box(store)
    rec = box.rec()
    yield from settle(box, rec)
    return box, rec


def old_pin(box, given):
    """(PIN, bit) to verify with: the stored PIN1 unless the caller gives one."""
    stored = box.get(KEY_PIN)
    if given is None:
        if stored is None:
            raise NoStoredPin("no PIN1 stored")
        return bytes(stored), B_PIN
    old = S.check_pin(given)
    if stored is not None and S._same(old, bytes(stored)):
        return old, B_PIN
    return old, B_OTHER


def known_good(box, rec, pin, event, detail):
    """The card took `pin` as its PIN1: store it, clear the count and refusals."""
    box.put(KEY_PIN, pin)
    box.drop(KEY_NEXT)
    rec.fails = 0
    rec.pending = 0
    rec.rejected = 0
    box.save(rec)
    box.audit(event, detail)
