"""The terminal's shared context (sans-I/O): state, transactions, timers, the
security byte, bearer choice, the duplicate cache and the dispatch of platform
requests.  Nothing here belongs to one flow; the flows (registration, session,
reporting, configuration, control, security, sim, transparent, upgrade) are
plain functions over this object, put together by wmmp.terminal.engine.

What the flows use:

    t.request(msg, bearer, on_ack, on_fail, retries)   send a request, keep it
                                    until its ACK (matched by seq) or until its
                                    retransmissions run out (4.4.6, PROTOCOL.md 1, 8)
    t.respond(req, msg, bearer)     answer a platform request (kept for duplicates)
    t.trap(tlvs, on_ack)            a CONFIG_TRAP request
    t._timers[name] = due           a timer; engine.TIMERS names its function
    t.set_state(S_...), t.event(name, ...), t.enter_alarm(now, why, code)
    t.sim_run(job, done, key)       a SIM guard job (wmmp.terminal.simguard)

`now` is monotonic seconds (int or float); wall time is learned from LOGIN_ACK
CURTIME.  Bearers are wmmp.wire.profile.BEARER_SMS / BEARER_PACKET.
"""

import struct
from micropython import const

from wmmp.wire import codec, codes as K, commands as C, digest as D, header as H, profile as P
from wmmp.terminal import transfer as TR
from wmmp.terminal.params import u32 as PMu32
from wmmp.errors import WmmpError, DecryptError, TooLongForBearer

# States.
S_OFF = const(0)
S_REGISTERING = const(1)
S_WAIT_KEYS = const(2)      # SMS window for SECURITY_CONFIG with passwords/keys (G a)
S_LOGGING_IN = const(3)
S_ONLINE = const(4)
S_LOGGING_OUT = const(5)
S_IDLE = const(6)           # logged out, waiting for activation
S_BACKOFF = const(7)        # waiting before the next register/login attempt
S_ALARM = const(8)          # retries exhausted or refused: needs the platform or a technician
S_RESTARTING = const(9)     # logged out to apply config; the application restarts us

STATE_NAMES = ("off", "registering", "wait-keys", "logging-in", "online", "logging-out",
               "idle", "backoff", "alarm", "restarting")

MISSED_HEARTBEATS = const(3)    # unanswered heartbeats (or requests) before LOGOUT (4.3.4, 4.4.6.2)
FALLBACK_AFTER = const(3)       # packet bearer failures in a row before falling back to SMS
_CACHE = const(8)               # responses kept to answer duplicate requests (4.4.6.1)

PRESET_VALIDITY = 4102444800   # validity of a secret with none set: 2100-01-01T00:00:00Z

# Requests that belong to the session's own flow: never moved between bearers.
SESSION_CMDS = (C.REGISTER, C.LOGIN, C.LOGOUT, C.HEART_BEAT)


def relogin(t, now):
    """The usual `then` of a LOGOUT: log in again."""
    t.login(now)


class _Txn:
    """One outstanding request of ours (4.4.6)."""

    msg = on_ack = on_fail = None       # by the class: an instance holds only what it sets

    def __init__(self, seq, command, raw, bearer, retries, timeout, due, on_ack, on_fail, msg=None):
        if msg is not None:
            self.msg = msg              # kept to resend as sub-packets after an overflow notice
        self.seq = seq
        self.command = command
        self.raw = raw
        self.bearer = bearer
        self.retries = retries
        self.timeout = timeout
        self.due = due
        if on_ack is not None:
            self.on_ack = on_ack
        if on_fail is not None:
            self.on_fail = on_fail


class Core:
    HANDLERS = {}       # command -> fn(t, msg, bearer, now); filled by engine.Terminal
    TIMERS = {}         # timer name -> fn(t, now); filled by engine.Terminal

    def __init__(self, config, params, profile=P.DEFAULT, rng=None, sim=None):
        self.cfg = config
        self.sim = sim                  # wmmp.terminal.simcard interface (4.4.1); None: no SIM checks
        self._sim_queue = []            # [(job, done)] for the runner (async SIM, see sim_jobs)
        self._sim_open = []             # [(done, key)] of every SIM job not finished
        self.params = params
        self.profile = profile
        self.rng = rng
        self.state = S_OFF
        self._out = []
        self._events = []
        self._txns = {}
        self._timers = {}
        self._cache = []
        self._seq = 0
        self._feedback = 0
        self._now = 0
        self.session_ts = 0
        self.session = None            # keys.SessionKey, RAM only
        self._wall_base = None         # (monotonic, curtime) from LOGIN_ACK
        self._lost = 0                 # retransmissions (0x3011)
        self._bearer = P.BEARER_PACKET
        self._after_login = []          # CONFIG_TRAP TLV lists to send once online
        self._failures = 0              # consecutive request timeouts while online
        self._trans = 0x2B1D            # last sub-packet transaction ID
        self._reassembly = []           # [((command, trans_id), Reassembler)]
        self._resp_splits = []          # [(trans_id, Splitter)] of fragmented responses
        self._resend = []               # requests of an ended session, sent again after login
        self._packet_fail = 0           # packet bearer failures in a row (attach, socket, send)
        self._gave_up = None            # "register"/"login": retries ran out (not a refusal)
        self.packet_down = False        # True while working over SMS (SMS fallback)
        self._keys = {}                 # password tag -> (IMEI, IMSI, DigestKey) last built
        self.serial = bytes(self.params.get("serial") or self.cfg.serial)

    # == inputs and outputs ==================================================
    def tick(self, now):
        self._now = now
        for seq in list(self._txns):
            t = self._txns.get(seq)
            if t is not None and now >= t.due:
                self._retransmit_or_fail(t, now)
        # Due timers in a fixed order, the same on every port (MicroPython's dict
        # order is not insertion order): session expiry first, so an expired key
        # never signs anything (PROTOCOL.md 5); then by name.
        due = sorted(n for n, d in self._timers.items() if now >= d)
        if "session" in due:
            due.remove("session")
            due.insert(0, "session")
        for name in due:
            if self._timers.pop(name, None) is not None:
                self.TIMERS[name](self, now)

    def deadline(self):
        ds = [t.due for t in self._txns.values()] + list(self._timers.values())
        return min(ds) if ds else None

    def outgoing(self):
        out, self._out = self._out, []
        return out

    def events(self):
        ev, self._events = self._events, []
        return ev

    @property
    def state_name(self):
        return STATE_NAMES[self.state]

    @property
    def registered(self):
        return self.params.get("registered") == b"\x01"

    def wall_time(self, now=None):
        """Unix seconds, from the CURTIME of the last LOGIN_ACK; None before one."""
        if self._wall_base is None:
            return None
        return int(self._wall_base[1] + ((self._now if now is None else now) - self._wall_base[0]))

    def set_state(self, s):
        if s != self.state:
            self.state = s
            self.event("state", STATE_NAMES[s])

    def event(self, *ev):
        self._events.append(ev)

    def enter_alarm(self, now, why, code):
        """Stop and wait for a person; `code` counts as an alarm held (0x300B)
        but is not reported by itself: it is forgotten at the next login unless
        someone raises it (raise_alarm) meanwhile."""
        self.set_state(S_ALARM)
        if code not in self.alarms:
            self.alarms.append(code)
            self._silent.append(code)
        self.event("alarm", code, why)

    def backoff(self, now, what, tag, attempt):
        """Wait before the next register/login attempt: the gap doubles from min
        up to max (PROTOCOL.md 8, 0x002A / 0x002B); the timer `what` fires then."""
        v = self.params.get(tag) or struct.pack(">II", 10, 300)
        lo, hi = struct.unpack(">II", v)
        gap = lo << (attempt - 1 if attempt < 16 else 15)
        if gap > hi:
            gap = hi
        self.set_state(S_BACKOFF)
        self._timers[what] = now + gap
        self.event("backoff", what, gap)

    # == SIM work (4.4.1) ======================================================
    # The SIM guard's work is a job (wmmp.terminal.simguard): on a synchronous SIM
    # it runs at once; on an asynchronous one (a modem driver: its SIM methods are
    # coroutines) it waits in sim_jobs() for the runner, which drives it with
    # simguard.run_async and hands the outcome back through sim_done().
    def sim_jobs(self):
        """[(job, done)] to run with simguard.run_async, then pass each outcome
        to sim_done(done, result, error, now); done(t, result, error, now)
        is the flow's callback."""
        jobs, self._sim_queue = self._sim_queue, []
        return jobs

    def sim_done(self, done, result, err, now):
        self._now = now
        self._sim_open = [o for o in self._sim_open if o[0] is not done]
        done(self, result, err, now)

    def sim_busy(self, key):
        """True while the request `key` ((command, seq)) waits for its SIM job:
        a duplicate of it is not executed again (4.4.6.1)."""
        return [1 for _, k in self._sim_open if k == key] != []

    def sim_run(self, job, done, key=None):
        from wmmp.terminal import simguard as SG
        if SG.is_async(self.sim):
            self._sim_queue.append((job, done))
            self._sim_open.append((done, key))
            return
        try:
            r = SG.run(job, self.sim)
        except WmmpError as e:
            done(self, None, e, self._now)
            return
        done(self, r, None, self._now)

    # == keys and policy =====================================================
    def key(self, tag, imei=None, imsi=None, ts=None):
        """Digest key of the password `tag` (E025 up, E028 down), PROTOCOL.md 3."""
        pw = self.params.get(tag)
        if pw is None:
            return None
        if ts is None:
            ts = self.session_ts
        if imei is None and imsi is None:
            # the same key serves every message of a session: kept, not rebuilt
            # for each (fewer allocations per call)
            imei, imsi = self.cfg.imei, self.cfg.imsi
            c = self._keys.get(tag)
            if c is not None and c[0] == imei and c[1] == imsi:
                k = c[2]
                if k.password == pw and k.timestamp == ts:
                    return k
                k = D.DigestKey(k.imei, k.imsi, pw, ts)     # fields already checked: no copies
            else:
                k = D.DigestKey(imei, imsi, pw, ts)
            self._keys[tag] = (imei, imsi, k)
            return k
        return D.DigestKey(imei or self.cfg.imei, imsi or self.cfg.imsi, pw, ts)

    def old_key(self, tag):
        """The key with the registered (old) IMSI and timestamp 0 (REGISTER 0x02)."""
        old_imsi = self.params.get("imsi")
        return self.key(tag, imsi=old_imsi.decode() if old_imsi else None, ts=0)

    def secret_digest(self, tag):
        """E026 / E029 / E03A: the digest of the uplink password (E025), downlink
        password (E028) or base key (E036) with its validity (E027 / E02A / E038;
        none set: 2100-01-01, PROTOCOL.md 10); None without that secret."""
        p = self.params
        i = (0xE026, 0xE029, 0xE03A).index(tag)
        secret = p.get((0xE025, 0xE028, 0xE036)[i])
        if not secret:
            return None
        fn = (D.uplink_password_digest, D.downlink_password_digest, D.base_key_digest)[i]
        return fn(secret, p.get_int((0xE027, 0xE02A, 0xE038)[i], PRESET_VALIDITY))

    def cipher(self):
        return self.session.cipher() if self.session is not None else None

    def digest_wanted(self, cmd, tlvs, bearer):
        """Digest policy E022/E023/E024 (appendix E g, PROTOCOL.md 3): never on
        HEART_BEAT, not on SMS unless configured (4.4.2.1)."""
        base = cmd & 0x7FFF
        if base == C.HEART_BEAT:
            return False
        if bearer == P.BEARER_SMS and not self.cfg.sms_digest:
            return False
        mode = self.params.get_int(0xE022, 1)
        if mode == 0:
            return False
        if mode == 1:
            return True
        by_cmd = base in self.params.tag_list(0xE023)
        wanted = self.params.tag_list(0xE024)
        by_tlv = False
        for t, _ in tlvs:
            if t in wanted:
                by_tlv = True
        if mode == 2:
            return by_cmd
        if mode == 3:
            return by_tlv
        if mode == 4:
            return by_cmd or by_tlv
        return by_cmd and by_tlv

    def _keyless_ok(self, msg, bearer):
        """Messages the standard sends without a digest: REGISTER_ACK except to
        operation 0x02 (G a), and the first SECURITY_CONFIG after registration,
        which has nothing to key it with yet (G m, PROTOCOL.md 3) and is accepted only
        by SMS inside the window."""
        if msg.command == C.REGISTER_ACK:
            return self._reg_op != K.REG_OP_CHANGE_MAPPING
        return msg.command == C.SECURITY_CONFIG and self.state == S_WAIT_KEYS and bearer == P.BEARER_SMS

    def _security_bits(self):
        s = 0
        if self.cfg.supports_encryption:
            s |= H.SEC_SUPPORTS_ENCRYPTION
            if self.params.get_int(0xE032) and self.session is not None:
                s |= H.SEC_ENCRYPTION_ENABLED
        s |= self._feedback
        self._feedback = 0
        return s

    def encryption_policy(self, msg):
        """E032 (with E033 commands / E034 tags): encrypt with the session key,
        the whole content (E042) or the named TLVs (E043), PROTOCOL.md 5.  Needs a
        session key; LOGIN, REGISTER and HEART_BEAT stay in clear."""
        mode = self.params.get_int(0xE032)
        if not mode or self.session is None or msg.encryption != codec.ENC_NONE or msg.subpacket is not None:
            return
        base = msg.command & 0x7FFF
        if base in SESSION_CMDS:
            return
        by_cmd = base in self.params.tag_list(0xE033)
        named = self.params.tag_list(0xE034)
        tags = tuple(t for t, _ in msg.tlvs if t in named)
        # 1 all; 2 by command; 3 by TLV; 4 command or TLV; 5 command and TLV (E032)
        if mode == 1 or (by_cmd and (mode == 2 or mode == 4)):
            msg.encryption = codec.ENC_FULL
        elif tags and (mode == 3 or mode == 4 or (mode == 5 and by_cmd)):
            msg.encryption = codec.ENC_PARTIAL
            msg.encrypt_tags = tags

    def _timeout(self, bearer):
        """Response timeout per bearer from 0x0107 (PROTOCOL.md 8): packet 10 s, SMS 60 s."""
        v = self.params.get(0x0107) or b""
        for i in range(0, len(v) - 3, 4):
            b, unit, val = struct.unpack_from(">BBH", v, i)
            if (b == 1) == (bearer == P.BEARER_SMS):
                return val * (1, 60, 3600)[unit if unit < 3 else 0]
        return 60 if bearer == P.BEARER_SMS else 10

    # == sending =============================================================
    def _next_seq(self):
        s = self._seq
        self._seq = (self._seq + 1) & 0xFFFFFFFF     # wraps to 0 (appendix A)
        return s

    def encode(self, msg, bearer, key=None, sign=True):
        msg.serial = self.serial
        msg.security |= self._security_bits()
        if key is None and sign and self.digest_wanted(msg.command, msg.tlvs, bearer):
            key = self.key(0xE025)
        self.encryption_policy(msg)
        return codec.encode(msg, self.profile, bearer, key, self.cipher())

    def request(self, msg, bearer=None, on_ack=None, on_fail=None, retries=None, key=None, sign=True,
                keep=True):
        """Send a request and keep it until its ACK (matched by seq) or until the
        retransmissions run out (0x0107 / 0x0108, 4.4.6); then on_ack(t, ack, now)
        or on_fail(t, now).  keep=False: the message is not kept for sending
        again as a new request (after a login, off the SMS bearer, as sub-packets):
        its flow does that itself (only the encoded bytes are kept)."""
        bearer = self._bearer if bearer is None else bearer
        msg.seq = self._next_seq()
        try:
            raw = self.encode(msg, bearer, key=key, sign=sign)
        except TooLongForBearer:
            return TR.request_split(self, msg, bearer, on_ack, on_fail)
        to = self._timeout(bearer)
        if retries is None:
            retries = self.params.get_int(0x0108, 3)
            if retries == 0xFF:
                retries = -1                             # for ever
        t = _Txn(msg.seq, msg.command, raw, bearer, retries,
                 to, self._now + to, on_ack, on_fail, msg if keep and msg.subpacket is None else None)
        self._txns[msg.seq] = t
        self._emit(bearer, raw)
        return t

    def trap(self, tlvs, on_ack=None):
        """CONFIG_TRAP of `tlvs` now (4.3.5)."""
        self.request(codec.Message(C.CONFIG_TRAP, tlvs=tlvs), on_ack=on_ack)

    def _emit(self, bearer, raw):
        self._out.append((bearer, raw))
        if bearer == P.BEARER_SMS:
            self.params.count(0x2008)
        else:
            self.params.count(0x200B, len(raw))
            if self.state == S_ONLINE:
                # the heartbeat keeps the packet link (and its NAT binding) alive:
                # only packet traffic postpones it (4.3.4)
                self.arm_heartbeat()

    def _retransmit_or_fail(self, t, now):
        if t.retries != 0:
            if t.retries > 0:
                t.retries -= 1
            t.due = now + t.timeout
            self._lost += 1
            self._emit(t.bearer, t.raw)           # same bytes, same seq (PROTOCOL.md 1)
            self.event("retransmit", C.name(t.command), t.seq)
            return
        del self._txns[t.seq]
        self.event("timeout", C.name(t.command), t.seq)
        if t.on_fail:
            t.on_fail(self, now)
        elif self.state == S_ONLINE:
            # 4.4.6.2: requests keep timing out -> communication failure: LOGOUT
            # reason 0x02, then log in again.
            self._failures += 1
            if self._failures >= MISSED_HEARTBEATS:
                self._failures = 0
                self.logout(K.LOGOUT_COMM_FAILURE, now, then=relogin)

    def respond(self, req, msg, bearer):
        msg.seq = req.seq
        try:
            raw = self.encode(msg, bearer)
        except TooLongForBearer:
            raw = TR.first_of_response(self, req, msg, bearer)
        self._cache.append((req.command, req.seq, bearer, raw))
        if len(self._cache) > _CACHE:
            self._cache.pop(0)
        self._emit(bearer, raw)

    # == receiving ===========================================================
    def receive(self, data, bearer, now):
        """One whole message from `bearer`.  Bad input is logged as an event and
        dropped (4.4.5); it never raises."""
        self._now = now
        if bearer == P.BEARER_SMS:
            self.params.count(0x200A)
        else:
            self.params.count(0x200B, len(data))      # packet traffic, both ways
        try:
            self._receive(data, bearer, now)
        except WmmpError as e:
            self.event("dropped", type(e).__name__, str(e))
            if isinstance(e, DecryptError):
                hdr = H.unpack(data)
                if hdr.command == C.SECURITY_CONFIG:
                    # the response has a "decryption failed" code: answer with it
                    # (PROTOCOL.md 5), instead of the next header's bit 0x02
                    req = codec.Message(C.SECURITY_CONFIG, seq=hdr.seq)
                    self.respond(req, codec.Message(C.SECURITY_CONFIG_ACK,
                                                    {"result": K.SEC_ACK_DECRYPT_FAILED}), bearer)
                    return
                self._feedback |= H.SEC_PREV_DECRYPT_FAILED
            elif isinstance(e, TooLongForBearer) and e.header is not None:
                self._emit(bearer, codec.encode_notice(data[:H.HEADER_SIZE], H.SEC_PREV_OVERFLOW))

    def _receive(self, data, bearer, now):
        down = self.key(0xE028)
        msg = codec.decode(data, self.profile, bearer, down, self.cipher(), True)
        if msg.version is not None and not self.profile.version_compatible(msg.version):
            # another major protocol version (PROTOCOL.md 1, TLV 0x3001 note): not ours
            self.event("dropped", "version", C.name(msg.command), msg.version)
            return
        if msg.notice:
            self.event("notice", C.name(msg.command), msg.seq, msg.security & H.SEC_FEEDBACK)
            if msg.security & H.SEC_PREV_OVERFLOW and not C.is_response(msg.command):
                TR.on_overflow(self, msg.seq, now)
            return
        if msg.command == C.REGISTER_ACK and msg.fields.get("result") == K.REG_ACK_MAPPING_CHANGED:
            # the ACK to REGISTER 0x02 is signed with the OLD IMEI/IMSI (PROTOCOL.md 3)
            msg = codec.decode(data, self.profile, bearer, self.old_key(0xE028), self.cipher())
        required = down is not None and self.digest_wanted(msg.command, msg.tlvs, bearer) \
            and not self._keyless_ok(msg, bearer)
        if required and msg.digest_ok is not True:
            # 4.4.5: drop silently; the next message tells the peer why, or
            # with E041 = 0x01 an echo of the request's header does instead
            bit = H.SEC_PREV_DIGEST_MISSING if msg.digest is None else H.SEC_PREV_DIGEST_FAILED
            self.event("dropped", "digest", C.name(msg.command), msg.seq)
            if self.params.get_int(0xE041) == 1 and not C.is_response(msg.command):
                self._emit(bearer, codec.encode_notice(data[:H.HEADER_SIZE], bit))
            else:
                self._feedback |= bit
            return
        if C.is_response(msg.command):
            t = self._txns.get(msg.seq)
            if t is None or t.command | C.ACK != msg.command:
                self.event("dropped", "unmatched", C.name(msg.command), msg.seq)
                return
            del self._txns[msg.seq]
            self._failures = 0
            if bearer == P.BEARER_PACKET:
                self._packet_fail = 0
            if not self.cfg.long_connection and self.state == S_ONLINE:
                self._timers["short_idle"] = now + 5
            if t.on_ack:
                t.on_ack(self, msg, now)
            return
        for cmd, seq, b, raw in self._cache:
            if cmd == msg.command and seq == msg.seq:
                self._out.append((b, raw))       # duplicate: answer again (4.4.6.1, fig. 32)
                self.event("duplicate", C.name(msg.command), msg.seq)
                return
        if self._sim_open and self.sim_busy((msg.command, msg.seq)):
            self.event("duplicate", C.name(msg.command), msg.seq)   # answered when the SIM is done
            return
        if msg.subpacket is not None:
            TR.on_subpacket(self, msg, bearer, now)
            return
        self.dispatch(msg, bearer, now)

    def dispatch(self, msg, bearer, now):
        """A whole platform request to the flow that answers it (HANDLERS)."""
        h = self.HANDLERS.get(msg.command)
        if h is None:
            self.event("dropped", "unexpected request", C.name(msg.command), msg.seq)
            return
        h(self, msg, bearer, now)

    # == bearers: SMS fallback (4.3.5, 4.2) ====================================
    def bearer_failed(self, kind, now, size=0):
        """The runner or the modem driver reports a failure of a bearer (attach,
        socket open, send of a `size`-byte message).  Packet failures count
        towards the SMS fallback; statistics keep only what the bearer carried
        (appendix E d): an SMS that could not be sent is counted in 0x2009
        instead of 0x2008, the bytes of a packet message that could not be sent
        leave 0x200B."""
        self._now = now
        if kind == P.BEARER_SMS:
            self.params.set(0x2008, PMu32(max(0, self.params.get_int(0x2008) - 1)))
            self.params.count(0x2009)
            return
        if size:
            self.params.set(0x200B, PMu32(max(0, self.params.get_int(0x200B) - size)))
        self._packet_fail += 1
        if not self.packet_down and self._packet_fail >= FALLBACK_AFTER:
            self.packet_down = True
            self._bearer = P.BEARER_SMS
            self._timers.pop("heartbeat", None)
            self.event("bearer", "sms")

    def bearer_restored(self, kind, now):
        """The packet bearer works again: new requests go back to it (a request
        and its response stay on one bearer, so open ones finish on SMS)."""
        self._now = now
        if kind == P.BEARER_PACKET and self.packet_down:
            self.packet_down = False
            self._packet_fail = 0
            self._bearer = P.BEARER_PACKET
            self.event("bearer", "packet")
            self._move_off_sms()
            if self.state == S_ONLINE:
                self.arm_heartbeat()
            elif self.state == S_BACKOFF or (self.state == S_ALARM and self._gave_up):
                # register/login failed while the network was gone (retries
                # exhausted or backing off): try again at once on the bearer
                # that works again; a refusal by the platform (alarm without
                # _gave_up) still waits for a person
                what = self._gave_up or ("register" if "register" in self._timers else "login")
                self._gave_up = None
                self._timers.pop(what, None)
                if what == "register":
                    self._reg_attempts = 0
                    self.register(now)
                else:
                    self._login_attempts = 0
                    self.login(now)

    def _move_off_sms(self):
        """Requests of ours still open on SMS (alarms, reports raised during the
        outage) go again as new requests on the packet bearer (online) or after
        the next login, instead of spending their retries on an SMS bearer that
        may not work (4.3.5: the alarm must arrive; a repeat is harmless).  The
        session's own messages (REGISTER, LOGIN, LOGOUT, HEART_BEAT) and
        sub-packet transfers finish where they started (4.2)."""
        for seq in list(self._txns):
            t = self._txns[seq]
            if t.bearer != P.BEARER_SMS or t.msg is None or t.command in SESSION_CMDS:
                continue
            del self._txns[seq]
            t.msg.security = 0
            t.msg.encryption = codec.ENC_NONE
            if self.state == S_ONLINE:
                self.request(t.msg, P.BEARER_PACKET, t.on_ack, t.on_fail)
            else:
                self._resend.append(t)
