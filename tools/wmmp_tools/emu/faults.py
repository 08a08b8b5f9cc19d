"""Output fault injection for the modem emulators (`wmmp-emu --drop-rate`, ...):
what a flaky UART or a confused module does to the lines on their way to the
host.  Every output unit (one framed line, a '>' prompt, or a counted URC with
its raw payload) passes through apply(); echo is never touched.

    f = OutputFaults(rng)
    f.drop(1, prefix="OK")        # the next OK is lost
    f.corrupt(1, prefix="+CSQ")   # one bit flipped inside the next +CSQ line
    f.delay(0.5, 2)               # the next two units leave 0.5 s late
    f.set_rates(drop=0.01, corrupt=0.001, delay_ms=20)   # random, every unit

A delayed unit also holds back everything behind it (a UART is first in,
first out).  Counters: dropped, corrupted, delayed.
"""

import random

DROP = "drop"
CORRUPT = "corrupt"
DELAY = "delay"


class OutputFaults:
    def __init__(self, rng=None):
        self.rng = rng if rng is not None else random.Random()
        self.drop_rate = 0.0
        self.corrupt_rate = 0.0
        self.delay_s = 0.0
        self._rules = []            # [kind, count, prefix (bytes or None), seconds]
        self.dropped = 0
        self.corrupted = 0
        self.delayed = 0

    # -- control ------------------------------------------------------------

    def drop(self, count=1, prefix=None):
        """Lose the next `count` units (those whose first line starts with `prefix`)."""
        self._rules.append([DROP, count, _b(prefix), 0.0])

    def corrupt(self, count=1, prefix=None):
        """Flip one bit inside each of the next `count` (matching) units."""
        self._rules.append([CORRUPT, count, _b(prefix), 0.0])

    def delay(self, seconds, count=1, prefix=None):
        """Hold the next `count` (matching) units for `seconds` each."""
        self._rules.append([DELAY, count, _b(prefix), float(seconds)])

    def set_rates(self, drop=None, corrupt=None, delay_ms=None):
        """Random faults on every unit: drop / corrupt probabilities (0..1) and a
        fixed extra delay in ms."""
        if drop is not None:
            self.drop_rate = _prob(drop)
        if corrupt is not None:
            self.corrupt_rate = _prob(corrupt)
        if delay_ms is not None:
            if delay_ms < 0:
                raise ValueError("delay must be >= 0")
            self.delay_s = delay_ms / 1000.0

    def clear(self):
        self._rules = []
        self.drop_rate = self.corrupt_rate = self.delay_s = 0.0

    @property
    def pending(self):
        """Rules not yet used up."""
        return len(self._rules)

    # -- the output path ----------------------------------------------------

    def _take(self, kind, key):
        for r in self._rules:
            if r[0] == kind and (r[2] is None or key.startswith(r[2])):
                r[1] -= 1
                if r[1] <= 0:
                    self._rules.remove(r)
                return r
        return None

    def apply(self, data, key):
        """-> (data or None when dropped, seconds to hold it)."""
        key = key or b""
        if self._take(DROP, key) is not None or (
                self.drop_rate and self.rng.random() < self.drop_rate):
            self.dropped += 1
            return None, 0.0
        if self._take(CORRUPT, key) is not None or (
                self.corrupt_rate and self.rng.random() < self.corrupt_rate):
            data = self._flip(data)
            self.corrupted += 1
        hold = self.delay_s
        r = self._take(DELAY, key)
        if r is not None:
            hold += r[3]
        if hold:
            self.delayed += 1
        return data, hold

    def _flip(self, data):
        """One bit flipped in a visible byte (not the CR/LF framing), so the
        unit keeps its line structure but its text is wrong."""
        buf = bytearray(data)
        spots = [i for i, c in enumerate(buf) if c not in (10, 13)]
        if not spots:
            return bytes(buf)
        i = self.rng.choice(spots)
        buf[i] ^= 1 << self.rng.randrange(7)
        if buf[i] in (10, 13):
            buf[i] ^= 0x80
        return bytes(buf)


def _b(x):
    if x is None:
        return None
    return x.encode() if isinstance(x, str) else bytes(x)


def _prob(p):
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError("probability must be within 0..1")
    return p
