"""Alarms with real sources and the status LED (section 4.3.5, appendix E e:
0x300B status, 0x300C type, 0x300D codes, 0x300E cleared codes; 0x0109
threshold).  Sans-I/O: no sleeping, no I/O; the caller passes the time.

    m = AlarmMonitor(lambda: device.term, board, log)
    m.module(False, now)         # an observation, any time: it only records
    m.poll(now)                  # every second or so: raise/clear, LED hook

Sources (observation -> 0x300D code, 0x300C type):
    signal(percent)      below SIGNAL_ALARM_PERCENT, normal again at that +
                         SIGNAL_HYSTERESIS -> 0x000B weak signal, 0x01.  poll()
                         also reads 0x3007 as the drivers' update_radio left it
    module(ok)           the module does not answer (bring-up attempt failed, AT
                         timeout) -> 0x0006 self-test fault, 0x02
    sim(state)           a pin_state() (wmmp.terminal.simcard): NO SIM, SIM PIN,
                         SIM PUK, BLOCKED... -> 0x0006 as the SIM guard reports
                         it (wmmp.terminal.simguard), 0x02; None: unknown
    store(ok)            a flash write failed -> 0x0011 memory error, 0x02; poll()
                         also watches the writes / write_errors counters of
                         term.params.storage (wmmp.board.store.FlashStorage)
    supply(mv)           below SUPPLY_ALARM_MV (boards with an ADC divider only),
                         normal at that + SUPPLY_HYSTERESIS_MV -> 0x0008, 0x02
    measure(kind, value) the application's measurement of the kind 0x0109 names
                         (1 speed, 2 load, 3 current, others the customer's) over
                         its value -> 0x0009 over threshold, 0x02
    packet_open(ok)      the packet bearer could not be opened (attach, data
                         service, socket) -> 0x0004, 0x01
    (poll)               term.packet_down: the engine works over SMS after
                         repeated packet failures -> 0x0003, 0x01
    (poll)               the terminal backs off its REGISTER/LOGIN, or gave up
                         with 0x000E; normal once online -> 0x000E, 0x01
A source changes state only after ALARM_HOLD s (default 60) in the new one, so
a flapping source does not flood the platform.  A code is raised once
(term.raise_alarm: queued until online, by SMS in an outage) while any of its
sources holds, and cleared (term.clear_alarm: 0x300E, and 0x300B=0 when no
alarm is left) when none does.  Only codes this monitor raised are cleared: a
code already in term.alarms belongs to whoever put it there (the engine's
0x0011 at start, the SIM guard's 0x0006), except 0x000E, which the engine only
marks (core.enter_alarm) without reporting its code.  A new Terminal (a fresh
boot) gets what still holds raised again.

Status LED, led(): "alarm" when term.alarms is not empty, the state is
"alarm" or a source of this monitor holds; else "online" when online; "off"
without a terminal or in "off" / "idle" (no session, none being set up);
"registering" in every other state (registering, wait-keys, logging-in,
backoff, logging-out, restarting).  poll() hands it to board.status_led(state)
only when it changes.
"""

from micropython import const

from wmmp.wire import codes as K

# Codes (appendix G / E) that only this module reads: private, so MicroPython compiles
# them away; wmmp.wire.codes still answers to their names for tools and tests.
_ALARM_PACKET_CONNECT_FAILED = const(0x0003)
_ALARM_PACKET_OPEN_FAILED = const(0x0004)
_ALARM_POWER_FAULT = const(0x0008)
_ALARM_THRESHOLD = const(0x0009)
_ALARM_WEAK_SIGNAL = const(0x000B)

_SIGNAL = const(0)
_MODULE = const(1)
_SIM = const(2)
_STORE = const(3)
_SUPPLY = const(4)
_THRESHOLD = const(5)
_OPEN = const(6)
_PACKET = const(7)
_PLATFORM = const(8)
_N = const(9)

# per source: 0x300D code, 0x300C type
_CODES = (_ALARM_WEAK_SIGNAL, K.ALARM_SELF_TEST_FAULT, K.ALARM_SELF_TEST_FAULT, K.ALARM_MEMORY_ERROR,
          _ALARM_POWER_FAULT, _ALARM_THRESHOLD, _ALARM_PACKET_OPEN_FAILED, _ALARM_PACKET_CONNECT_FAILED,
          K.ALARM_PLATFORM_CONNECT_FAILED)
_TYPES = b"\x01\x02\x02\x02\x02\x02\x01\x01\x01"


def led_state(term, alarm=False):
    """The LED state for `term` (None: no terminal yet): "off", "registering",
    "online" or "alarm"; `alarm`: one of the monitor's sources holds."""
    if term is None:
        return "alarm" if alarm else "off"
    s = term.state_name
    if alarm or term.alarms or s == "alarm":
        return "alarm"
    if s == "online":
        return "online"
    if s == "off" or s == "idle":
        return "off"
    return "registering"


class AlarmMonitor:
    def __init__(self, terminal, board=None, log=None):
        """`terminal`: () -> the current Terminal or None; `board`: its
        constants and status_led hook (any object; all optional)."""
        g = getattr
        self.term = terminal
        self.log = log
        self.hook = g(board, "status_led", None)
        self.signal_min = g(board, "SIGNAL_ALARM_PERCENT", 15)
        self.signal_hyst = g(board, "SIGNAL_HYSTERESIS", 5)
        self.supply_min = g(board, "SUPPLY_ALARM_MV", None)
        self.supply_hyst = g(board, "SUPPLY_HYSTERESIS_MV", 100)
        self.hold = g(board, "ALARM_HOLD", 60)
        self._raw = 0               # bit per source: what was seen last
        self._on = 0                # bit per source: held for `hold` s (debounced)
        self._since = [0] * _N      # when each raw bit last changed
        self._t = None              # the Terminal the codes below were raised on
        self._raised = []           # codes this monitor raised on it
        self._store = None          # (storage, writes, write_errors) last seen
        self._led = None

    # == observations (record only) =========================================
    def _see(self, i, bad, now):
        b = 1 << i
        if bool(self._raw & b) != bool(bad):
            self._raw ^= b
            self._since[i] = now

    def _level(self, i, v, low, hyst, now):
        if v < low:
            self._see(i, True, now)
        elif v >= low + hyst:
            self._see(i, False, now)

    def signal(self, percent, now):
        if percent is not None and self.signal_min is not None:
            self._level(_SIGNAL, percent, self.signal_min, self.signal_hyst, now)

    def module(self, ok, now):
        self._see(_MODULE, not ok, now)

    def sim(self, state, now):
        if state is not None:
            self._see(_SIM, state != "READY", now)

    def store(self, ok, now):
        self._see(_STORE, not ok, now)

    def supply(self, mv, now):
        if mv is not None and self.supply_min is not None:
            self._level(_SUPPLY, mv, self.supply_min, self.supply_hyst, now)

    def packet_open(self, ok, now):
        self._see(_OPEN, not ok, now)

    def measure(self, kind, value, now):
        """The application measured `value` of `kind`: True over the 0x0109
        threshold of that kind, False within it, None when 0x0109 names
        another kind (or none)."""
        t = self.term()
        th = t.params.get(0x0109) if t is not None else None
        if th:
            for i in range(0, len(th) - 2, 3):
                if th[i] == kind:
                    over = value > ((th[i + 1] << 8) | th[i + 2])
                    self._see(_THRESHOLD, over, now)
                    return over
        return None

    def _watch(self, t, now):
        """What poll() reads from the terminal itself."""
        v = t.params.get(0x3007)
        if v:
            self.signal(v[0], now)
        self._see(_PACKET, getattr(t, "packet_down", False), now)
        s = t.state_name
        if s == "online":
            self._see(_PLATFORM, False, now)
        elif s == "backoff" or (s == "alarm" and K.ALARM_PLATFORM_CONNECT_FAILED in t.alarms):
            self._see(_PLATFORM, True, now)
        st = getattr(t.params, "storage", None)
        w, e = getattr(st, "writes", 0), getattr(st, "write_errors", 0)
        old = self._store
        if old is not None and old[0] is st:
            if w != old[1]:                 # a record was written: the flash works
                self.store(True, now)
            elif e != old[2]:
                self.store(False, now)
        self._store = (st, w, e)

    # == debounced state, the terminal and the LED ==========================
    def holding(self):
        """Codes whose sources hold now (debounced)."""
        return [c for i, c in enumerate(_CODES) if self._on & (1 << i)]

    def led(self):
        return led_state(self.term(), self._on != 0)

    def poll(self, now):
        """Apply what held long enough: raise/clear on the terminal, LED hook.
        -> the LED state."""
        t = self.term()
        if t is not self._t:
            self._t = t
            self._raised = []
        if t is not None:
            self._watch(t, now)
        for i in range(_N):
            b = 1 << i
            if (self._raw ^ self._on) & b and now - self._since[i] >= self.hold:
                self._on ^= b
        if t is not None:
            on = self.holding()
            for i, c in enumerate(_CODES):
                if c in on and c not in self._raised and (
                        c not in t.alarms or c == K.ALARM_PLATFORM_CONNECT_FAILED):
                    self._raised.append(c)
                    self._say("raise", c)
                    t.raise_alarm(c, now, _TYPES[i])
            for c in list(self._raised):
                if c not in on:
                    self._raised.remove(c)
                    self._say("clear", c)
                    t.clear_alarm(c, now)
        s = self.led()
        if s != self._led:
            self._led = s
            if self.hook is not None:
                try:
                    self.hook(s)
                except Exception as e:      # a broken LED never stops the alarms
                    self._say("LED hook failed: %r" % (e,))
        return s

    def _say(self, what, code=None):
        if self.log is not None:
            self.log("alarms: %s" % what if code is None else "alarms: %s 0x%04X" % (what, code))
