"""The service console on the terminal's USB serial line ("Local manual
security reset"; sections 4.4.1.4 and 4.4.4 of the standard, appendix E g E020).

Sans-I/O: Console.feed(data, now) takes the bytes read from the line and the
monotonic time in seconds, and returns the bytes to write back.  The protocol is
described in docs/CONSOLE.md: one ASCII command per line (CR, LF or CRLF ends
it, at most MAX_LINE bytes), every reply ends with one line "OK ..." or
"ERR <code> <reason>"; AUDIT sends its entries first as lines starting "* ".

This module holds the Console (line discipline, input budget, replies, SIM jobs
and the lines held meanwhile), the command table _COMMANDS and STATUS, IDENT,
ALARMS, AUDIT, BYE and HELP.  The other commands are functions handler(console,
args) beside it: wmmp.board.consoleauth (CHALLENGE, AUTH, PROVISION, REKEY: the
identity check and the service credential; also the store keys and limits the
console modules share), wmmp.board.consolereset (RESET SIM, RESET KEYS) and
wmmp.board.consoleconfig (GET, SET: local configuration, 4.3.9.2; REQUEST).
Every refusal and reset goes to the audit log (refusals of malformed or
unauthorised input at most AUDIT_BURST per minute, the rest counted), never
with a secret or the text of an input line.

The SIM (STATUS, IDENT, RESET SIM) is asked through SIM jobs (generators of
(method, args) requests, wmmp.terminal.simguard): on a synchronous SIM they run at once;
on an asynchronous one (simguard.is_async: the modem drivers) feed() queues the
job and answers that command later: the firmware takes the jobs from
sim_jobs(), runs each with simguard.run_async and hands the outcome to
sim_done(done, result, err, now), which returns the reply.  Until then further
lines wait (at most HOLD items, run in order afterwards; beyond that they are
not run and get one "ERR busy"); a job not done within SIM_WAIT s is answered
"ERR sim SimTimeout ...".
"""

from micropython import const

from wmmp.errors import WmmpError
from wmmp.board import consoleauth as A, consolereset, consoleconfig as CC, consoleinfo as CI
# the credential's functions and limits, also offered here (tests, tools)
from wmmp.board.consoleauth import (hmac_md5, response, parse_credential, valid_id, lock_delay,
                                    NONCE_LEN, NONCE_TTL, AUTH_TTL, LOCK_CAP, ID_MAX, PROVISION_WINDOW)

MAX_LINE = const(128)       # bytes in one command line (without CR/LF)
BUDGET = const(512)         # input bytes accepted per second; the rest is dropped
AUDIT_BURST = const(8)      # refusal entries per minute (auth failures and resets always)
HOLD = const(8)             # lines (or their refusals) kept while a SIM job is pending
SIM_WAIT = const(120)       # s a SIM job may take before its command is answered as failed

LOGGED_IN = ("online", "logging-out")
ABNORMAL = ("alarm", "backoff")

HELP = ("STATUS | IDENT | ALARMS | CHALLENGE | AUTH <32 hex> | RESET SIM [<PUK1>] | RESET SIM PIN1 <PIN1> | "
        "RESET KEYS | AUDIT [<n>] | PROVISION <32 hex> [<id>] | REKEY <32 hex> [<id>] | GET <tag> ... | "
        "SET <tag>=<hex> ... | REQUEST CONFIG <tag> ... | REQUEST SECURITY <op> [<tag>[=<hex>] ...] | BYE | HELP")


class SimTimeout(WmmpError):
    """A console SIM job was not done within SIM_WAIT s (no runner took it, or
    the SIM never answered)."""


def disable_ctrl_c():
    """Production: Ctrl-C (0x03) on the REPL line no longer raises
    KeyboardInterrupt, so it cannot break the console loop into the REPL
    (MicroPython micropython.kbd_intr(-1)).  True when done; a no-op elsewhere."""
    try:
        import micropython
    except ImportError:
        return False
    f = getattr(micropython, "kbd_intr", None)
    if f is None:
        return False
    f(-1)
    return True


def _default_rng(n):
    try:
        import os
        return os.urandom(n)
    except (ImportError, AttributeError, NotImplementedError):
        import random           # boards without os.urandom: seeded by the port's RNG
        return bytes(random.getrandbits(8) for _ in range(n))


class _Store:
    """The console's view of the store: a live wmmp.terminal.params.Params (get/set/
    delete/commit, audit through its .storage) while the engine runs, or a
    load()/save() storage (wmmp.board.store.FlashStorage) before it does."""

    def __init__(self, store):
        self.s = store
        self.live = hasattr(store, "commit") and hasattr(store, "get")
        self._log = getattr(store, "audit", None) or getattr(getattr(store, "storage", None), "audit", None)
        self._entries = getattr(store, "audit_entries", None) or \
            getattr(getattr(store, "storage", None), "audit_entries", None)

    def view(self):
        """Something with get(key) holding the current values."""
        if self.live:
            return self.s
        d = self.s.load()
        return dict(d) if d else {}

    def update(self, puts, drops):
        """Write `puts` {key: bytes} and remove `drops` in one save; on a failed
        save nothing changes (also not in a live Params)."""
        if not self.live:
            d = self.s.load()
            d = dict(d) if d else {}
            for k in drops:
                d.pop(k, None)
            for k in puts:
                d[k] = bytes(puts[k])
            self.s.save(d)
            return
        p = self.s
        old = [(k, p.get(k)) for k in drops] + [(k, p.get(k)) for k in puts]
        for k in drops:
            p.delete(k)
        for k in puts:
            p.set(k, puts[k])
        try:
            p.commit()
        except WmmpError:
            for k, v in old:
                if v is None:
                    p.delete(k)
                else:
                    p.set(k, v)
            raise

    def audit(self, event, detail):
        if self._log is not None:
            try:
                self._log(event, detail)
            except Exception:       # a broken audit log must not stop the console
                pass

    def entries(self):
        return self._entries() if self._entries is not None else []


class Console:
    """One service console (see the module docstring and docs/CONSOLE.md).

    store           live Params (engine running) or a load()/save() storage
    state_provider  callable -> (state name, [alarm codes]), e.g. lambda: (t.state_name, t.alarms)
    sim             wmmp.terminal.simcard interface (RESET SIM, STATUS, IDENT), or None; when
                    simguard.is_async(sim) its work is handed out by sim_jobs()
    rng             callable n -> n random bytes (default os.urandom)
    firmware, imei  shown by IDENT (imei when there is no SIM interface)
    production      True: disable_ctrl_c() now (MicroPython)
    provisioning    the firmware's factory switch (a strap read at boot, or a
                    factory image): PROVISION is refused whenever it is False
    boot_time       monotonic time of boot (starts the PROVISION_WINDOW); None: the first time fed
    provision_window  s after boot_time PROVISION is accepted
    terminal        callable -> the running engine Terminal or None (GET, SET, REQUEST), or None

    feed(data, now) -> bytes to write; events() -> [("reset", "sim"|"keys", bits)]
    (after a reset the application restarts the engine: Terminal.start).
    Asynchronous SIM: sim_jobs() -> [(job, done)], sim_done(done, result, err,
    now) -> bytes to write; busy() while a SIM job is pending.
    Counters: dropped (flood bytes), suppressed (audit entries not written).

    For the command handlers (functions handler(console, args) in _COMMANDS):
    ok(text), err(code, reason), refuse(code, reason, audit detail), reply(text)
    answer; state(), authed(), wait() ask; sim_call(job, done) runs a SIM job;
    st is the store view; nonce, nonce_until, auth_until, locked_until, fails
    are the identity check's state, resets the reset events not yet taken."""

    def __init__(self, store, state_provider, sim=None, rng=None, firmware="", imei=None,
                 production=True, provisioning=False, boot_time=None,
                 provision_window=PROVISION_WINDOW, terminal=None):
        self.st = _Store(store)
        self.store = store
        self.terminal = terminal
        self.state_provider = state_provider
        self.sim = sim
        self.rng = rng or _default_rng
        self.firmware = firmware
        self.imei = imei
        self._line = bytearray()
        self._skip = None           # why the current line is being discarded, or None
        self._bad = False           # current line has a byte outside 0x20-0x7E
        self._cr = False
        self._win = None            # start of the current one-second input window
        self._used = 0
        self._flood_told = False
        self.dropped = 0
        self._aw = None             # start of the current audit minute
        self._aused = 0
        self.suppressed = 0
        self.nonce = None
        self.nonce_until = 0
        self.auth_until = None
        self.locked_until = None    # armed from the first fed time (after a reboot too)
        self.provisioning = bool(provisioning)
        self.provision_window = provision_window
        self.boot = boot_time       # start of the provisioning window
        self.window_lost = False    # the clock went back: no window until the next boot
        self._out = []
        self.resets = []            # [("reset", what, bits)] not yet taken by events()
        self._jobs = []             # [(job, done)] not yet taken by sim_jobs()
        self._pending = None        # done of the SIM job the console waits for
        self._since = 0             # when it was queued
        self._held = []             # lines (str), replies (bytes), a count of lines not run (int)
        self._stale = []            # dones answered by the timeout, still out with a runner
        self._mute = False          # True while such a late outcome is recorded
        self.now = None
        try:
            self.fails = A.stored_fails(self.st)
        except WmmpError:
            self.fails = 1          # unreadable: behave as after a wrong answer
        if production:
            disable_ctrl_c()

    def __repr__(self):
        return "<Console fails=%d auth=%s dropped=%d>" % (self.fails, self.authed(), self.dropped)

    __str__ = __repr__

    def events(self):
        ev, self.resets = self.resets, []
        return ev

    # -- SIM jobs --------------------------------------------------------------------
    def busy(self):
        """True while the console waits for a SIM job (see sim_jobs)."""
        return self._pending is not None

    def sim_jobs(self):
        """[(job, done)] for an asynchronous SIM (at most one: the console waits
        for each): run the job with simguard.run_async(job, sim), then pass its
        outcome to sim_done(done, result, error, now)."""
        jobs, self._jobs = self._jobs, []
        return jobs

    def sim_done(self, done, result, err, now):
        """The outcome of a job from sim_jobs(): its result, or the WmmpError it
        raised as `err`.  Returns the bytes to write: the command's reply, then
        the replies of the lines that waited for it.  A job already answered by
        the SIM_WAIT timeout gets no second reply, but what it did is recorded
        (audit entries, E020 marks, reset events).  Never raises."""
        # a time read before the job ended may be a little older than the last
        # feed's: not a clock going back (feed() notices a real wrap)
        self._clock(now if self.now is None or now >= self.now else self.now)
        if done is not self._pending:
            if done in self._stale:
                self._stale.remove(done)
                self._mute = True
                try:
                    self._finish(done, result, err)
                finally:
                    self._mute = False
            return b""
        self._pending = None
        self._finish(done, result, err)
        self._release()
        return self._take()

    def sim_call(self, job, done):
        """Run a SIM job for a command; done(result, err) writes its reply: at
        once on a synchronous SIM, after sim_done() on an asynchronous one."""
        from wmmp.terminal import simguard as G
        if G.is_async(self.sim):
            self._jobs.append((job, done))
            self._pending = done
            self._since = self.now
            return
        try:
            r = G.run(job, self.sim)
        except WmmpError as e:
            done(None, e)
            return
        done(r, None)

    def _finish(self, done, result, err):
        try:
            done(result, err)
        except Exception as e:      # as for any command: the console carries on
            self.err("internal", "command failed")
            self._audit_limited("console_error", "%s" % type(e).__name__)

    def _sim_timeout(self):
        done = self._pending
        self._pending = None
        queued = [j for j in self._jobs if j[1] is done]
        if queued:                  # never taken: it never runs, nothing was sent
            self._jobs = [j for j in self._jobs if j[1] is not done]
            queued[0][0].close()
            e = SimTimeout("no SIM runner took the job within %d s: nothing sent" % SIM_WAIT)
        else:                       # with a runner: its late outcome is still recorded
            self._stale = self._stale[-3:] + [done]
            e = SimTimeout("no answer from the SIM within %d s" % SIM_WAIT)
        self._finish(done, None, e)
        self._release()

    def _release(self):
        """Run what waited for the SIM job, in order, until another job starts."""
        h = self._held
        while h and self._pending is None:
            item = h.pop(0)
            if isinstance(item, bytes):
                self._out.append(item)
            elif isinstance(item, int):
                self.refuse("busy", "%d line(s) not run: the console was waiting for the SIM" % item,
                            "n=%d" % item)
            else:
                self._run(item)

    # -- input -------------------------------------------------------------------
    def _clock(self, now):
        if self.now is not None and now < self.now:
            # the clock went back (a wrapped ticks counter): no authorisation, nonce
            # or wait may outlive it; the full wait starts again
            self.auth_until = None
            self.nonce = None
            self.locked_until = None
            self._win = None
            self._aw = None
            self.window_lost = True
            self._since = now
        self.now = now
        if self.boot is None:
            self.boot = now
        if self.locked_until is None:
            self.locked_until = now + lock_delay(self.fails)

    def feed(self, data, now):
        """Process bytes read from the line at monotonic time `now` (s); returns
        the reply bytes.  Never raises on any input.  With a SIM job pending,
        feed(b"", now) also ends it after SIM_WAIT s."""
        self._clock(now)
        if self._pending is not None and now - self._since >= SIM_WAIT:
            self._sim_timeout()
        if self._win is None or now - self._win >= 1:
            self._win = now
            self._used = 0
            self._flood_told = False
        room = BUDGET - self._used
        n = len(data)
        extra = 0
        if n > room:
            extra = n - room
            self.dropped += extra
            data = memoryview(data)[:room]
            n = room
        self._used += n
        for c in data:
            self._byte(c)
        if extra:
            # the line that lost bytes must not be run: what is left could be another command
            if self._skip is None:
                self._skip = "flood"
            if not self._flood_told:
                self._flood_told = True
                self.refuse("flood", "input over %d bytes/s: %d bytes dropped" % (BUDGET, extra),
                            "dropped=%d" % self.dropped)
        return self._take()

    def _take(self):
        out = b"".join(self._out)
        self._out = []
        return out

    def _byte(self, c):
        if c == 0x0A or c == 0x0D:
            if c == 0x0A and self._cr:
                self._cr = False
                return
            self._cr = c == 0x0D
            self._end_line()
            return
        self._cr = False
        if self._skip is not None:
            return
        if len(self._line) >= MAX_LINE:
            self._skip = "long"
            self._line = bytearray()
            self.refuse("too_long", "line longer than %d bytes discarded" % MAX_LINE, "max=%d" % MAX_LINE)
            return
        if c < 0x20 or c > 0x7E:
            self._bad = True       # Ctrl-C (0x03) included: an ordinary byte, never a break
        self._line.append(c)

    def _end_line(self):
        line = self._line
        skip = self._skip
        bad = self._bad
        self._line = bytearray()
        self._skip = None
        self._bad = False
        if skip is not None:
            return                  # already answered when it started being discarded
        if bad:
            self.refuse("bad_char", "line has bytes outside ASCII 0x20-0x7E", "len=%d" % len(line))
            return
        try:
            text = bytes(line).decode().strip()
        except UnicodeError:
            text = None
        if not text:
            return
        if self._pending is not None:
            self._hold(text)        # run after the SIM job, in order
            return
        self._run(text)

    def _run(self, text):
        try:
            self._command(text.split())
        except Exception as e:      # the console must outlive any fault behind it
            self.err("internal", "command failed")
            self._audit_limited("console_error", "%s" % type(e).__name__)

    # -- output --------------------------------------------------------------------
    def reply(self, text):
        if self._mute:
            return                  # a late job outcome: answered already
        b = text.encode() + b"\r\n"
        if self._pending is not None:
            self._hold(b)           # a refusal of a line read meanwhile: after the job's reply
        else:
            self._out.append(b)

    def _hold(self, item):
        """Keep a line (str) or a reply (bytes) while a SIM job is pending; past
        HOLD items only counted (answered by one ERR busy in their place)."""
        h = self._held
        if len(h) < HOLD:
            h.append(item)
        elif h and isinstance(h[-1], int):
            h[-1] += 1
        else:
            h.append(1)

    def ok(self, text):
        self.reply("OK " + text)

    def err(self, code, reason):
        self.reply("ERR %s %s" % (code, reason))

    def refuse(self, code, reason, detail):
        """ERR reply plus a rate-limited audit entry."""
        self.err(code, reason)
        self._audit_limited("console_refused", "%s %s" % (code, detail))

    def _audit_limited(self, event, detail):
        now = self.now
        if self._aw is None or now - self._aw >= 60:
            self._aw = now
            self._aused = 0
        if self._aused >= AUDIT_BURST:
            self.suppressed += 1
            return
        if self.suppressed:
            self._aused += 1
            self.st.audit("console_suppressed", "%d refusals not logged" % self.suppressed)
            self.suppressed = 0
            if self._aused >= AUDIT_BURST:
                self.suppressed += 1
                return
        self._aused += 1
        self.st.audit(event, detail)

    # -- commands ------------------------------------------------------------------
    def _command(self, words):
        cmd = words[0].upper()
        args = words[1:]
        entry = _COMMANDS.get(cmd)
        if entry is None:
            # the text is never echoed nor logged: it may be a mistyped secret
            self.refuse("unknown", "unknown command (see HELP)", "len=%d" % len(cmd))
        elif not entry[0] <= len(args) <= entry[1] or entry[2](self, args) is False:
            self.refuse("syntax", "bad arguments for %s (see HELP)" % cmd, cmd)

    # -- for the command handlers ------------------------------------------------------
    def state(self):
        """(name, alarms, reset allowed) from the state provider; never raises."""
        try:
            name, alarms = self.state_provider()
            name = A.word(name, 24)
            alarms = [int(a) & 0xFFFF for a in alarms]
        except Exception:
            return "unknown", [], False
        allowed = name not in LOGGED_IN and (name in ABNORMAL or bool(alarms))
        return name, alarms, allowed

    def authed(self):
        return self.auth_until is not None and self.now < self.auth_until

    def wait(self):
        w = self.locked_until - self.now if self.locked_until is not None else 0
        return int(w) + (1 if w > int(w) else 0) if w > 0 else 0


# -- BYE, HELP (STATUS, IDENT, ALARMS, AUDIT: wmmp.board.consoleinfo) ---------------
def _bye(c, args):
    c.auth_until = None
    c.nonce = None
    c.ok("BYE")


def _help(c, args):
    c.ok("HELP " + HELP)


# The command table: word -> (fewest, most arguments, handler(console, args)).
# Other arguments, or a handler returning False, get one "ERR syntax".
_COMMANDS = {
    "STATUS": (0, 0, CI.status),
    "IDENT": (0, 0, CI.ident),
    "ALARMS": (0, 0, CI.alarms),
    "CHALLENGE": (0, 0, A.challenge),
    "AUTH": (0, MAX_LINE, A.auth),          # checks its arguments itself
    "RESET": (1, 3, consolereset.reset),    # SIM [<PUK1>] | SIM PIN1 <PIN1> | KEYS
    "AUDIT": (0, 1, CI.audit_export),
    "PROVISION": (1, 2, A.provision),
    "REKEY": (1, 2, A.rekey),
    "GET": (1, MAX_LINE, CC.get),
    "SET": (1, MAX_LINE, CC.set_),
    "REQUEST": (1, MAX_LINE, CC.request),   # CONFIG <tag> ... | SECURITY <op> [<tag>[=<hex>] ...]
    "BYE": (0, 0, _bye),
    "HELP": (0, 0, _help),
}
