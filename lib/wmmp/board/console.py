"""The service console on the terminal's USB serial line (issue 4, "Local manual
security reset"; sections 4.4.1.4 and 4.4.4 of the standard, appendix E g E020).

Sans-I/O: Console.feed(data, now) takes the bytes read from the line and the
monotonic time in seconds, and returns the bytes to write back.  The protocol is
described in docs/CONSOLE.md: one ASCII command per line (CR, LF or CRLF ends
it, at most MAX_LINE bytes), every reply ends with one line "OK ..." or
"ERR <code> <reason>"; AUDIT sends its entries first as lines starting "* ".

Local resets (RESET SIM: binding and PIN1 check, 4.4.1.4; RESET KEYS: access
passwords and base key, 4.4.4) need both checks of the standard:
  identity  CHALLENGE gives a random nonce; AUTH <hex> must carry
            HMAC-MD5(key = the service credential, message = nonce) (RFC 2104).
            The credential is stored under "secret_service" and never sent.
            A wrong answer raises a persistent failure counter ("console_fails",
            survives power cycles): the next AUTH waits 2**n s (up to
            LOCK_CAP); after a reboot the full wait starts again.  A right one
            clears it and opens an authorisation valid AUTH_TTL s.
  state     state_provider() -> (state name, alarm codes): refused while logged
            in ("online", "logging-out") and while working normally (no alarm
            and not in "alarm"/"backoff").
The credential gets onto the device over the console too (docs/CONSOLE.md,
"Provisioning"): PROVISION <32 hex> [<id>] stores it in the factory state only
(no credential stored, the firmware's factory switch on, the terminal never
registered, within PROVISION_WINDOW s of boot); REKEY <32 hex> [<id>] replaces
it after a right AUTH and ends that authorisation.  The value is never echoed,
logged or shown (STATUS says credential=yes|no, IDENT the non-secret id).
What was cleared is kept as E020 bits for the engine: RESET KEYS sets "cleared"
(REGISTER operation 0x04) and drops "registered"; RESET SIM sets "cleared_login"
(E020 in the next LOGIN).  Every refusal and reset goes to the audit log
(refusals of malformed or unauthorised input at most AUDIT_BURST per minute, the
rest counted), never with a secret or the text of an input line.

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

import struct
from binascii import hexlify, unhexlify
from micropython import const

from wmmp.crypto import md5
from wmmp.wire import codes as K
from wmmp.wire.digest import equal as _same   # compare without an early exit
from wmmp.errors import WmmpError

MAX_LINE = const(128)       # bytes in one command line (without CR/LF)
BUDGET = const(512)         # input bytes accepted per second; the rest is dropped
NONCE_LEN = const(16)
NONCE_TTL = const(60)       # s a challenge may be answered
AUTH_TTL = const(300)       # s an accepted AUTH allows resets
LOCK_CAP = const(600)       # longest wait after wrong answers, s
AUDIT_BURST = const(8)      # refusal entries per minute (auth failures and resets always)
CRED_HEX = const(32)        # hex digits of a service credential given by PROVISION/REKEY
CRED_MIN_DIGITS = const(5)  # fewer different digits than this: a placeholder, refused
ID_MAX = const(32)          # characters of a credential id
PROVISION_WINDOW = const(600)   # s after boot PROVISION is accepted (factory switch on)
HOLD = const(8)             # lines (or their refusals) kept while a SIM job is pending
SIM_WAIT = const(120)       # s a SIM job may take before its command is answered as failed

KEY_CREDENTIAL = "secret_service"
KEY_FAILS = "console_fails"     # u16: wrong AUTH answers since the last right one
KEY_CLEARED = "cleared"         # E020 bits for REGISTER operation 0x04 (4.4.4)
KEY_CLEARED_LOGIN = "cleared_login"  # E020 bits for the next LOGIN (4.4.1.4)
KEY_REGISTERED = "registered"
KEY_SERIAL = "serial"           # assigned by the platform at the first registration
KEY_CRED_ID = "service_cred_id"  # non-secret id of the credential (e.g. "<IMEI>/<generation>")
_HEX = "0123456789abcdef"
_ID_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._:/-"

LOGGED_IN = ("online", "logging-out")
ABNORMAL = ("alarm", "backoff")

# Access passwords, base key and their settings (4.4.4; appendix E g): tag -> E020 bit
_KEY_TAGS = ((0xE025, K.CLEARED_UP_PASSWORD), (0xE027, 0), (0xE028, K.CLEARED_DOWN_PASSWORD),
             (0xE02A, 0), (0xE036, K.CLEARED_BASE_KEY), (0xE037, K.CLEARED_BASE_KEY),
             (0xE038, 0), (0xE039, 0))

HELP = ("STATUS | IDENT | ALARMS | CHALLENGE | AUTH <32 hex> | RESET SIM [<PUK1>] | RESET SIM PIN1 <PIN1> | "
        "RESET KEYS | AUDIT [<n>] | PROVISION <32 hex> [<id>] | REKEY <32 hex> [<id>] | BYE | HELP")


class SimTimeout(WmmpError):
    """A console SIM job was not done within SIM_WAIT s (no runner took it, or
    the SIM never answered)."""


def hmac_md5(key, msg):
    """HMAC-MD5 (RFC 2104) over wmmp.crypto.md5 (MicroPython's hashlib may lack MD5)."""
    key = bytes(key)
    if len(key) > 64:
        key = md5.md5(key)
    key = key + bytes(64 - len(key))
    h = md5.new(bytes(b ^ 0x36 for b in key))
    h.update(msg)
    inner = h.digest()
    h = md5.new(bytes(b ^ 0x5C for b in key))
    h.update(inner)
    return h.digest()


def response(credential, nonce):
    """The AUTH answer to `nonce` (bytes): HMAC-MD5(credential, nonce)."""
    return hmac_md5(credential, nonce)


def parse_credential(text):
    """(credential bytes, None) for a credential typed as CRED_HEX hex digits
    (either case; stored lowercase, the AUTH key is those ASCII bytes), or
    (None, problem): "length", "hex", or "weak" (fewer than CRED_MIN_DIGITS
    different digits: a placeholder such as all zeros, never a random value)."""
    if len(text) != CRED_HEX:
        return None, "length"
    t = text.lower()
    for ch in t:
        if ch not in _HEX:
            return None, "hex"
    if len(set(t)) < CRED_MIN_DIGITS:
        return None, "weak"
    return t.encode(), None


def valid_id(text):
    """A credential id: 1..ID_MAX characters of A-Z a-z 0-9 . _ : / -."""
    if not 1 <= len(text) <= ID_MAX:
        return False
    for ch in text:
        if ch not in _ID_CHARS:
            return False
    return True


def lock_delay(fails):
    """Seconds the next AUTH waits after `fails` wrong answers: 2, 4, 8 ... LOCK_CAP."""
    if fails <= 0:
        return 0
    return min(LOCK_CAP, 1 << min(fails, 16))


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


def _word(v, limit=40):
    """A value as one printable token (no spaces), bounded."""
    if v is None:
        return "-"
    if isinstance(v, (bytes, bytearray, memoryview)):
        v = bytes(v)
        while v[-1:] in (b"\x00", b" "):
            v = v[:-1]
        for c in v:
            if not 0x21 <= c <= 0x7E:
                return hexlify(v[:limit // 2]).decode()
        v = v.decode()
    v = str(v)
    out = []
    for ch in v[:limit]:
        out.append(ch if 0x21 <= ord(ch) <= 0x7E else "_")
    return "".join(out) or "-"


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
    state_provider  callable -> (state name, [alarm codes]), e.g.
                    lambda: (terminal.state_name, terminal.alarms)
    sim             wmmp.terminal.simcard interface (RESET SIM, STATUS, IDENT), or None; when
                    simguard.is_async(sim) its work is handed out by sim_jobs()
    rng             callable n -> n random bytes (default os.urandom)
    firmware, imei  shown by IDENT (imei when there is no SIM interface)
    production      True: disable_ctrl_c() now (MicroPython)
    provisioning    the firmware's factory switch (a strap read at boot, or a
                    factory image): PROVISION is refused whenever it is False
    boot_time       monotonic time of boot (starts the PROVISION_WINDOW); None:
                    the first time fed
    provision_window  s after boot_time PROVISION is accepted

    feed(data, now) -> bytes to write; events() -> [("reset", "sim"|"keys", bits)]
    (after a reset the application restarts the engine: Terminal.start).
    Asynchronous SIM: sim_jobs() -> [(job, done)], sim_done(done, result, err,
    now) -> bytes to write; busy() while a SIM job is pending.
    Counters: dropped (flood bytes), suppressed (audit entries not written)."""

    def __init__(self, store, state_provider, sim=None, rng=None, firmware="", imei=None,
                 production=True, provisioning=False, boot_time=None,
                 provision_window=PROVISION_WINDOW):
        self.st = _Store(store)
        self.store = store
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
        self._nonce = None
        self._nonce_until = 0
        self._auth_until = None
        self._locked_until = None   # armed from the first fed time (after a reboot too)
        self.provisioning = bool(provisioning)
        self.provision_window = provision_window
        self._boot = boot_time      # start of the provisioning window
        self._window_lost = False   # the clock went back: no window until the next boot
        self._out = []
        self._events = []
        self._jobs = []             # [(job, done)] not yet taken by sim_jobs()
        self._pending = None        # done of the SIM job the console waits for
        self._since = 0             # when it was queued
        self._held = []             # lines (str), replies (bytes), a count of lines not run (int)
        self._stale = []            # dones answered by the timeout, still out with a runner
        self._mute = False          # True while such a late outcome is recorded
        self.now = None
        try:
            self.fails = self._stored_fails()
        except WmmpError:
            self.fails = 1          # unreadable: behave as after a wrong answer
        if production:
            disable_ctrl_c()

    def __repr__(self):
        return "<Console fails=%d auth=%s dropped=%d>" % (self.fails, self._authed(), self.dropped)

    __str__ = __repr__

    def events(self):
        ev, self._events = self._events, []
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

    def _sim_call(self, job, done):
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
            self._err("internal", "command failed")
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
                self._refuse("busy", "%d line(s) not run: the console was waiting for the SIM" % item,
                             "n=%d" % item)
            else:
                self._run(item)

    # -- input -------------------------------------------------------------------
    def _clock(self, now):
        if self.now is not None and now < self.now:
            # the clock went back (a wrapped ticks counter): no authorisation, nonce
            # or wait may outlive it; the full wait starts again
            self._auth_until = None
            self._nonce = None
            self._locked_until = None
            self._win = None
            self._aw = None
            self._window_lost = True
            self._since = now
        self.now = now
        if self._boot is None:
            self._boot = now
        if self._locked_until is None:
            self._locked_until = now + lock_delay(self.fails)

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
                self._refuse("flood", "input over %d bytes/s: %d bytes dropped" % (BUDGET, extra),
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
            self._refuse("too_long", "line longer than %d bytes discarded" % MAX_LINE, "max=%d" % MAX_LINE)
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
            self._refuse("bad_char", "line has bytes outside ASCII 0x20-0x7E", "len=%d" % len(line))
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
            self._err("internal", "command failed")
            self._audit_limited("console_error", "%s" % type(e).__name__)

    # -- output --------------------------------------------------------------------
    def _reply(self, text):
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

    def _ok(self, text):
        self._reply("OK " + text)

    def _err(self, code, reason):
        self._reply("ERR %s %s" % (code, reason))

    def _refuse(self, code, reason, detail):
        """ERR reply plus a rate-limited audit entry."""
        self._err(code, reason)
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
        if cmd == "STATUS" and not args:
            self._status()
        elif cmd == "IDENT" and not args:
            self._ident()
        elif cmd == "ALARMS" and not args:
            self._alarms()
        elif cmd == "CHALLENGE" and not args:
            self._challenge()
        elif cmd == "AUTH":
            self._auth(args)
        elif cmd == "RESET" and args and args[0].upper() == "SIM" and len(args) <= 3:
            self._reset_sim(args[1:])
        elif cmd == "RESET" and len(args) == 1 and args[0].upper() == "KEYS":
            self._reset_keys()
        elif cmd == "AUDIT" and len(args) <= 1:
            self._audit_export(args)
        elif cmd == "PROVISION" and 1 <= len(args) <= 2:
            self._provision(args)
        elif cmd == "REKEY" and 1 <= len(args) <= 2:
            self._rekey(args)
        elif cmd == "BYE" and not args:
            self._auth_until = None
            self._nonce = None
            self._ok("BYE")
        elif cmd == "HELP" and not args:
            self._ok("HELP " + HELP)
        elif cmd in ("STATUS", "IDENT", "ALARMS", "CHALLENGE", "RESET", "AUDIT", "PROVISION", "REKEY",
                     "BYE", "HELP"):
            self._refuse("syntax", "bad arguments for %s (see HELP)" % cmd, cmd)
        else:
            # the text is never echoed nor logged: it may be a mistyped secret
            self._refuse("unknown", "unknown command (see HELP)", "len=%d" % len(cmd))

    def _state(self):
        """(name, alarms, reset allowed) from the state provider; never raises."""
        try:
            name, alarms = self.state_provider()
            name = _word(name, 24)
            alarms = [int(a) & 0xFFFF for a in alarms]
        except Exception:
            return "unknown", [], False
        allowed = name not in LOGGED_IN and (name in ABNORMAL or bool(alarms))
        return name, alarms, allowed

    def _authed(self):
        return self._auth_until is not None and self.now < self._auth_until

    def _wait(self):
        w = self._locked_until - self.now if self._locked_until is not None else 0
        return int(w) + (1 if w > int(w) else 0) if w > 0 else 0

    def _status(self):
        if self.sim is None:
            self._status_reply([])
            return
        from wmmp.terminal import simguard as G
        self._sim_call(G.status_job(self.store),
                       lambda r, err: self._status_reply(_sim_fields(r if err is None else None)))

    def _status_reply(self, sim_parts):
        name, alarms, allowed = self._state()
        v = self.st.view()
        parts = ["state=" + name,
                 "alarms=" + (",".join("0x%04X" % a for a in alarms) or "none"),
                 "registered=" + ("yes" if v.get(KEY_REGISTERED) == b"\x01" else "no")]
        parts += sim_parts
        parts += ["cleared=0x%02X" % _int(v.get(KEY_CLEARED)),
                  "cleared_login=0x%02X" % _int(v.get(KEY_CLEARED_LOGIN)),
                  "credential=" + ("yes" if v.get(KEY_CREDENTIAL) else "no"),
                  "provisioning=" + _closed_word(self._provision_closed(v)),
                  "reset=" + ("allowed" if allowed else "refused"),
                  "auth=" + ("yes" if self._authed() else "no"),
                  "auth_failures=%d" % self.fails,
                  "auth_wait=%d" % self._wait()]
        self._ok("STATUS " + " ".join(parts))

    def _ident(self):
        if self.sim is None:
            self._ident_reply({})
            return
        self._sim_call(_ident_job(), lambda r, err: self._ident_reply(r if err is None else {}))

    def _ident_reply(self, read):
        v = self.st.view()
        imei = read.get("imei") or self.imei
        imsi = read.get("imsi") or v.get("imsi")
        iccid = read.get("iccid")
        self._ok("IDENT serial=%s imei=%s imsi=%s iccid=%s fw=%s cred_id=%s" % (
            _word(v.get(KEY_SERIAL)), _word(imei), _word(imsi), _word(iccid), _word(self.firmware),
            _word(v.get(KEY_CRED_ID) if v.get(KEY_CREDENTIAL) else None)))

    def _alarms(self):
        name, alarms, _ = self._state()
        self._ok("ALARMS n=%d%s" % (len(alarms), "".join(" 0x%04X" % a for a in alarms)))

    # -- identity check ------------------------------------------------------------
    def _credential(self):
        c = self.st.view().get(KEY_CREDENTIAL)
        return bytes(c) if c else None

    def _challenge(self):
        if self.now < self._locked_until:
            self._refuse("locked", "wait %d s after %d wrong answers" % (self._wait(), self.fails),
                         "fails=%d" % self.fails)
            return
        if self._credential() is None:
            self._refuse("no_credential", "no service credential provisioned", "none stored")
            return
        self._nonce = bytes(self.rng(NONCE_LEN))
        self._nonce_until = self.now + NONCE_TTL
        self._ok("CHALLENGE " + hexlify(self._nonce).decode())

    def _stored_fails(self):
        v = self.st.view().get(KEY_FAILS)
        return struct.unpack(">H", bytes(v))[0] if v is not None and len(v) == 2 else 0

    def _save_fails(self, n):
        self.st.update({KEY_FAILS: struct.pack(">H", min(n, 0xFFFF))}, ())
        self.fails = n

    def _auth(self, args):
        if len(args) != 1 or len(args[0]) != 2 * 16:
            self._refuse("syntax", "AUTH takes 32 hex digits", "AUTH")
            return
        try:
            answer = unhexlify(args[0])
        except ValueError:
            self._refuse("syntax", "AUTH takes 32 hex digits", "AUTH")
            return
        if self.now < self._locked_until:
            self._refuse("locked", "wait %d s after %d wrong answers" % (self._wait(), self.fails),
                         "fails=%d" % self.fails)
            return
        cred = self._credential()
        if cred is None:
            self._refuse("no_credential", "no service credential provisioned", "none stored")
            return
        nonce = self._nonce
        if nonce is None or self.now >= self._nonce_until:
            self._nonce = None
            self._refuse("no_challenge", "send CHALLENGE first (a nonce lasts %d s)" % NONCE_TTL,
                         "no nonce")
            return
        self._nonce = None          # single use, whatever the answer
        n = self.fails + 1
        try:
            self._save_fails(n)     # counted BEFORE the comparison: a power cut cannot undo it
        except WmmpError:
            self._err("storage", "flash write failed: AUTH refused")
            self.st.audit("console_auth_refused", "failure counter could not be saved")
            return
        if _same(response(cred, nonce), answer):
            try:
                self._save_fails(0)
            except WmmpError:
                pass                # stays counted on flash: only a longer wait after a reboot
            self.fails = 0
            self._locked_until = self.now
            self._auth_until = self.now + AUTH_TTL
            self.st.audit("console_auth_ok", "technician authenticated")
            self._ok("AUTH valid=%d" % AUTH_TTL)
            return
        self._auth_until = None
        d = lock_delay(n)
        self._locked_until = self.now + d
        self.st.audit("console_auth_fail", "fails=%d wait=%ds" % (n, d))
        self._err("auth", "wrong answer: %d failures, next AUTH in %d s" % (n, d))

    # -- resets (4.4.1.4, 4.4.4) ---------------------------------------------------
    def _may_reset(self, what):
        """Both checks of 4.4.1.4 / 4.4.4; refuses (reply + audit) when one fails."""
        if not self._authed():
            self._refuse("need_auth", "RESET %s needs CHALLENGE and AUTH first" % what,
                         "RESET %s" % what)
            return False
        name, alarms, allowed = self._state()
        if not allowed:
            self._refuse("state", "terminal is %s%s: resets only in an abnormal or alarm state" % (
                name, " with alarms" if alarms else " without alarms"),
                "RESET %s state=%s alarms=%d" % (what, name, len(alarms)))
            return False
        return True

    def _mark(self, key, bits, drops=()):
        v = self.st.view()
        self.st.update({key: bytes([(_int(v.get(key)) | bits) & 0xFE])}, drops)

    def _reset_keys(self):
        if not self._may_reset("KEYS"):
            return
        v = self.st.view()
        bits = 0
        drops = []
        for tag, bit in _KEY_TAGS:
            if v.get(tag) is not None:
                bits |= bit
                drops.append(tag)
        if not drops:
            self.st.audit("console_reset_keys", "nothing stored: nothing cleared")
            self._ok("RESET KEYS cleared=0x00 nothing stored")
            return
        drops.append(KEY_REGISTERED)
        try:
            self._mark(KEY_CLEARED, bits, drops)
        except WmmpError:
            self.st.audit("console_reset_keys", "flash write failed: nothing cleared")
            self._err("storage", "flash write failed: nothing cleared")
            return
        self.st.audit("console_reset_keys", "cleared E020=0x%02X: REGISTER 0x04 next" % bits)
        self._events.append(("reset", "keys", bits))
        self._ok("RESET KEYS cleared=0x%02X next=register-0x04" % bits)

    def _reset_sim(self, words):
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
            self._refuse("syntax", "RESET SIM [<PUK1: 8 digits>] or RESET SIM PIN1 <PIN1: 4-8 digits>",
                         "RESET SIM %s" % what)
            return
        if not self._may_reset("SIM"):
            return
        if self.sim is None:
            self._refuse("sim", "no SIM interface on this terminal", "RESET SIM no interface")
            return
        new = self._new_pin() if puk is not None else None
        self._sim_call(_reset_sim_job(self.store, puk, pin, new),
                       lambda r, err: self._reset_sim_done(r, err, pin is not None))

    def _reset_sim_done(self, refusal, err, given_pin):
        if err is not None:
            # e.g. the card refused the PUK1 or PIN1 (attempts left in the reason),
            # the never-lock rule of 4.4.1.1 stopped a command, or the SIM did not
            # answer; never carries a PIN
            self.st.audit("console_reset_sim", "failed: %s" % type(err).__name__)
            left = getattr(err, "left", None)
            self._err("sim", "%s: %s%s" % (type(err).__name__, _word(str(err).replace(" ", "_"), 80),
                                           "" if left is None else " left=%d" % left))
            return
        if refusal is not None:
            self._refuse(refusal[0], refusal[1], refusal[2])
            return
        try:
            self._mark(KEY_CLEARED_LOGIN, K.CLEARED_PIN1)
        except WmmpError:
            self.st.audit("console_reset_sim", "cleared; E020 report could not be saved")
            self._err("storage", "SIM security cleared but the E020 report could not be saved")
            return
        self.st.audit("console_reset_sim", "binding removed, PIN1 check off%s: E020=0x80 at LOGIN" % (
            " (PIN1 from the technician)" if given_pin else ""))
        self._events.append(("reset", "sim", K.CLEARED_PIN1))
        self._ok("RESET SIM cleared=0x%02X bind=0 pin1=off next=login-e020" % K.CLEARED_PIN1)

    def _new_pin(self):
        """A random 8-digit PIN1 when the card is unblocked with no PIN1 stored
        (stored by simguard.unblock, never shown)."""
        r = self.rng(8)
        return "".join("%d" % (b % 10) for b in r)

    # -- provisioning and rotation of the credential ---------------------------------
    def _provision_closed(self, v):
        """None while PROVISION may store a credential, else (code, reason, why):
        why is the word STATUS shows as provisioning=closed-<why>."""
        if v.get(KEY_CREDENTIAL):
            return ("provisioned", "a service credential is already stored: REKEY after AUTH replaces it",
                    "stored")
        if not self.provisioning:
            return ("provision_closed", "provisioning is off in this firmware (factory switch)", "switch")
        if v.get(KEY_SERIAL):
            return ("provision_closed", "terminal has registered: provisioning only before the first "
                    "registration", "registered")
        if self._window_lost or self._boot is None or self.now is None or \
                self.now - self._boot >= self.provision_window:
            return ("provision_closed", "provisioning only in the first %d s after boot" %
                    self.provision_window, "window")
        return None

    def _new_credential(self, args, cmd):
        """(credential bytes, id or None) from PROVISION/REKEY arguments, or None
        after a refusal.  Neither the value nor its length goes into a reply or
        the audit log."""
        cred, problem = parse_credential(args[0])
        if problem == "weak":
            self._refuse("weak", "credential has fewer than %d different digits: use a random one" %
                         CRED_MIN_DIGITS, "%s weak" % cmd)
            return None
        if cred is None:
            self._refuse("syntax", "%s takes %d hex digits and an optional id" % (cmd, CRED_HEX),
                         "%s %s" % (cmd, problem))
            return None
        cid = args[1] if len(args) == 2 else None
        if cid is not None and not valid_id(cid):
            self._refuse("syntax", "id: 1-%d characters of A-Z a-z 0-9 . _ : / -" % ID_MAX, "%s id" % cmd)
            return None
        return cred, cid

    def _store_credential(self, cred, cid, event):
        """One store write of the credential and its id (no id: none kept); False
        (reply and audit done) when the flash write failed."""
        puts = {KEY_CREDENTIAL: cred}
        drops = ()
        if cid is None:
            drops = (KEY_CRED_ID,)
        else:
            puts[KEY_CRED_ID] = cid.encode()
        try:
            self.st.update(puts, drops)
        except WmmpError:
            self.st.audit(event, "flash write failed: nothing changed")
            self._err("storage", "flash write failed: nothing changed")
            return False
        return True

    def _provision(self, args):
        new = self._new_credential(args, "PROVISION")
        if new is None:
            return
        closed = self._provision_closed(self.st.view())
        if closed is not None:
            self._refuse(closed[0], closed[1], "PROVISION " + closed[2])
            return
        cred, cid = new
        if not self._store_credential(cred, cid, "console_provision"):
            return
        self.st.audit("console_provision", "service credential stored id=%s" % _word(cid))
        self._ok("PROVISION credential=stored id=%s" % _word(cid))

    def _rekey(self, args):
        new = self._new_credential(args, "REKEY")
        if new is None:
            return
        if not self._authed():
            self._refuse("need_auth", "REKEY needs CHALLENGE and AUTH first", "REKEY")
            return
        cred, cid = new
        old = self._credential()
        if old is not None and _same(old, cred):
            self._refuse("unchanged", "the new credential is the stored one: nothing changed",
                         "REKEY unchanged")
            return
        if not self._store_credential(cred, cid, "console_rekey"):
            return
        self._auth_until = None     # the old credential's authorisation ends with it
        self._nonce = None
        self.st.audit("console_rekey", "service credential replaced id=%s" % _word(cid))
        self._ok("REKEY credential=replaced id=%s auth=ended" % _word(cid))

    def _audit_export(self, args):
        if not self._authed():
            self._refuse("need_auth", "AUDIT needs CHALLENGE and AUTH first", "AUDIT")
            return
        n = None
        if args:
            try:
                n = int(args[0])
            except ValueError:
                n = -1
            if n < 1:
                self._refuse("syntax", "AUDIT [count], count >= 1", "AUDIT")
                return
        try:
            entries = self.st.entries()
        except WmmpError:
            self._err("storage", "audit log unreadable")
            return
        if n is not None:
            entries = entries[-n:]
        for seq, event, detail in entries:
            self._reply("* %d %s %s" % (seq, event, detail))
        self._ok("AUDIT n=%d" % len(entries))




def _sim_fields(r):
    """STATUS words for a simguard.status_job result (None: the job failed)."""
    if r is None or r.get("state") is None:
        return ["sim=unreadable"]
    out = ["sim=" + _word(r["state"])]
    if r.get("pin1") is not None:
        out.append("pin1=" + ("on" if r["pin1"] else "off"))
    left = r.get("left")
    if left is not None:
        out.append("pin1_left=%d puk1_left=%d" % (left[0], left[1]))
    errors = r.get("errors")
    if errors is None or r.get("bind") is None:
        out.append("guard=unreadable")
    else:
        out.append("pin1_errors=%d/%d" % (errors[1], errors[0]))
        out.append("bind=%d" % r["bind"])
    return out


def _ident_job():
    """IDENT's reads as a SIM job: {"imei", "imsi", "iccid": value} of those
    the SIM and module answered."""
    out = {}
    for attr in ("imei", "imsi", "iccid"):
        try:
            out[attr] = yield (attr, ())
        except WmmpError:
            pass
    return out


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
        return ("sim_state", _sim_hint(state), "RESET SIM sim=%s" % _word(state))
    elif (yield ("pin_enabled", ())):
        if pin is not None:
            yield from G.enable_pin_job(store, pin, False)     # verified, then stored
        elif G.stored_pin1(store) is None:
            return ("sim", "PIN1 check is on and no PIN1 is stored: RESET SIM PIN1 <PIN1>; "
                    "nothing changed", "RESET SIM no stored PIN1")
    yield from G.clear_job(store)
    return None


def _closed_word(closed):
    return "open" if closed is None else "closed-" + closed[2]


def _int(v):
    if v is None or not 1 <= len(v) <= 4:
        return 0
    n = 0
    for b in bytes(v):
        n = (n << 8) | b
    return n


def _sim_hint(state):
    if state == "SIM PIN":
        return "SIM waits for PIN1 (the stored one is missing or refused): nothing changed"
    if state == "NO SIM":
        return "no SIM card: nothing changed"
    if state == "BLOCKED":
        return "SIM blocked for good (PUK1 exhausted): replace the card"
    return "SIM is %s: nothing changed" % _word(state)
