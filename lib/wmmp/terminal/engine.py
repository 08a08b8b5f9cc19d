"""The terminal protocol engine (sans-I/O): registration, login, heartbeats,
logout, reliability and the management flows of sections 4.3 and 4.4.

It never opens a socket, reads a clock or sleeps.  Feed it:

    t.start(now)                     boot
    t.receive(data, bearer, now)     a whole message from a bearer
    t.tick(now)                      whenever now >= t.deadline()
    t.send_data(...), t.report(...), t.raise_alarm(...), t.logout(...)

and drain:

    t.outgoing()  -> [(bearer, bytes)]   messages to send, in order
    t.events()    -> [(name, ...)]       what happened, for the application

`now` is monotonic seconds (int or float); wall time is learned from LOGIN_ACK
CURTIME.  Bearers are wmmp.wire.profile.BEARER_SMS / BEARER_PACKET.
"""

import struct
from micropython import const

from wmmp.wire import codec, commands as C, codes as K, digest as D, header as H
from wmmp.wire import keys as KEYS, tlv as T, crc
from wmmp.crypto import cipher as CI
from wmmp.wire import profile as P
from wmmp.wire import subpacket as SP
from wmmp.wire import catalogue as CAT
from wmmp.terminal.params import u32 as PMu32
from wmmp.errors import WmmpError, DecryptError, TooLongForBearer, SubpacketError

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

MISSED_HEARTBEATS = const(3)    # unanswered heartbeats before LOGOUT 0x04 (4.3.4)
_SPLITS = const(2)              # sub-packet transactions held at once, each direction
FALLBACK_AFTER = const(3)       # packet bearer failures in a row before falling back to SMS
_CACHE = const(8)               # responses kept to answer duplicate requests (4.4.6.1)

# REGISTER_ACK results that need a person (operator or technician), not a retry.
_REG_FATAL = (0x03, 0x05, 0x08, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12)

# Requests that belong to the session's own flow: never moved between bearers.
_SESSION_CMDS = (C.REGISTER, C.LOGIN, C.LOGOUT, C.HEART_BEAT)

# Local-reset report bits of E020 (appendix E g).
E020_UPLINK = const(0x08)
E020_DOWNLINK = const(0x04)
E020_BASE_KEY = const(0x02)


class Config:
    """What the terminal knows of itself at boot.

    imei, imsi       from the module and SIM
    serial           16-byte serial, or its first 8 bytes to ask the platform for one
    software_version up to 8 ASCII bytes (LOGIN, 0x3004)
    platform_numbers SMS numbers WMMP SMS are accepted from (INTEROP 9)
    supports_encryption / session_key: security byte bit 0x80 / ask for E040 at login
    long_connection  keep the session with heartbeats (4.2.1)
    """

    def __init__(self, imei, imsi, serial=b"", software_version=b"WMMP0.1", platform_numbers=(),
                 supports_encryption=True, session_key=True, long_connection=True, sms_digest=False):
        self.imei = imei
        self.imsi = imsi
        self.serial = H.pad_serial(serial)
        self.software_version = software_version
        self.platform_numbers = platform_numbers
        self.supports_encryption = supports_encryption
        self.session_key = session_key
        self.long_connection = long_connection
        self.sms_digest = sms_digest


class _Txn:
    """One outstanding request of ours (4.4.6)."""

    def __init__(self, seq, command, raw, bearer, retries, timeout, due, on_ack, on_fail, msg=None):
        self.msg = msg                  # kept to resend as sub-packets after an overflow notice
        self.seq = seq
        self.command = command
        self.raw = raw
        self.bearer = bearer
        self.retries = retries
        self.timeout = timeout
        self.due = due
        self.on_ack = on_ack
        self.on_fail = on_fail


class Terminal:
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
        self._login_attempts = 0
        self._reg_attempts = 0
        self._missed_hb = 0
        self._last_hb_delay = 0
        self._hb_sent_at = None
        self._lost = 0
        self._bearer = P.BEARER_PACKET
        self._reg_bearer = P.BEARER_PACKET
        self._after_login = []          # CONFIG_TRAP TLV lists to send once online
        self._pending_apply = None      # (seq, tlvs) of a CONFIG_SET applied after restart
        self._deferred = None           # (seq, tlvs) waiting for the application to be idle
        self.busy = False               # the application is in the middle of a business operation
        self.alarms = []
        self._reg_op = None
        self._fallback = None           # old secrets while a new one is tried (4.4.3.1.3.3)
        self._failures = 0              # consecutive request timeouts while online
        self._trans = 0x2B1D            # last sub-packet transaction ID
        self._reassembly = []           # [((command, trans_id), Reassembler)]
        self._resp_splits = []          # [(trans_id, Splitter)] of fragmented responses
        self._pending_data = []         # TRANSPARENT_DATA waiting for a login
        self._resend = []               # requests of an ended session, sent again after login
        self._packet_fail = 0           # packet bearer failures in a row (attach, socket, send)
        self._gave_up = None            # "register"/"login": retries ran out (not a refusal)
        self.packet_down = False        # True while working over SMS (SMS fallback)
        self.serial = bytes(self.params.get("serial") or self.cfg.serial)

    # == public inputs =======================================================
    def start(self, now):
        """Boot (4.3.1, 4.3.2): register when not registered, report an IMSI change
        (REGISTER 0x02, 4.3.1.2), otherwise log in."""
        self._now = now
        self._event("boot", self.serial)
        st = self.params.storage
        if getattr(st, "memory_error", False):
            # the store had to discard a damaged record: alarm 0x0011 memory error
            # (appendix E e), then rewrite clean copies
            self.raise_alarm(K.ALARM_MEMORY_ERROR, now, 0x02)
            if hasattr(st, "repair"):
                st.repair()
            st.memory_error = False
        if self.sim is not None:
            # 4.4.1.1: PIN1 and binding checks before anything is sent
            from wmmp.terminal import simguard as SG
            self._sim_run(SG.SimGuard(self.sim, self.params).boot_job(), self._booted)
            return
        self._boot_on(now)

    def _booted(self, r, err, now):
        """The SIM guard's boot checks are done (4.4.1.1, 4.4.1.3)."""
        from wmmp.terminal import simguard as SG
        if err is not None:
            r = SG.Result(SG.ALARM, "SIM unreachable: %s" % (err,), K.ALARM_SELF_TEST_FAULT)
        self._event("sim", r.state, r.reason)
        if r.state == SG.ALARM:
            self.raise_alarm(r.alarm, now, r.alarm_type)
            self._enter_alarm(now, r.reason, r.alarm)
            return
        if r.imsi:
            self.cfg.imsi = r.imsi if isinstance(r.imsi, str) else r.imsi.decode()
        self._boot_on(now)

    def _boot_on(self, now):
        if not self.registered:
            self._register(now)
        elif self.params.get("imsi") not in (None, self.cfg.imsi.encode()):
            self._register(now, K.REG_OP_CHANGE_MAPPING)
        else:
            self._login(now)

    def tick(self, now):
        self._now = now
        for seq in list(self._txns):
            t = self._txns.get(seq)
            if t is not None and now >= t.due:
                self._retransmit_or_fail(t, now)
        # Due timers in a fixed order, the same on every port (MicroPython's dict
        # order is not insertion order): session expiry first, so an expired key
        # never signs anything (INTEROP 5); then by name.
        due = sorted(n for n, d in self._timers.items() if now >= d)
        if "session" in due:
            due.remove("session")
            due.insert(0, "session")
        for name in due:
            if self._timers.pop(name, None) is not None:
                self._on_timer(name, now)

    def deadline(self):
        ds = [t.due for t in self._txns.values()] + list(self._timers.values())
        return min(ds) if ds else None

    def outgoing(self):
        out, self._out = self._out, []
        return out

    # == SIM work (4.4.1) ======================================================
    # The SIM guard's work is a job (wmmp.terminal.simguard): on a synchronous SIM it runs
    # at once; on an asynchronous one (a modem driver: its SIM methods are
    # coroutines) it waits in sim_jobs() for the runner, which drives it with
    # simguard.run_async and hands the outcome back through sim_done().
    def sim_jobs(self):
        """[(job, done)] to run with simguard.run_async, then pass each outcome
        to sim_done(done, result, error, now)."""
        jobs, self._sim_queue = self._sim_queue, []
        return jobs

    def sim_done(self, done, result, err, now):
        self._now = now
        self._sim_open = [o for o in self._sim_open if o[0] is not done]
        done(result, err, now)

    def sim_busy(self, key):
        """True while the request `key` ((command, seq)) waits for its SIM job:
        a duplicate of it is not executed again (4.4.6.1)."""
        return [1 for _, k in self._sim_open if k == key] != []

    def _sim_run(self, job, done, key=None):
        from wmmp.terminal import simguard as SG
        if SG.is_async(self.sim):
            self._sim_queue.append((job, done))
            self._sim_open.append((done, key))
            return
        try:
            r = SG.run(job, self.sim)
        except WmmpError as e:
            done(None, e, self._now)
            return
        done(r, None, self._now)

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

    # == keys and policy =====================================================
    def _pw(self, tag):
        return self.params.get(tag)

    def _key(self, tag, imei=None, imsi=None, ts=None):
        pw = self._pw(tag)
        if pw is None:
            return None
        return D.DigestKey(imei or self.cfg.imei, imsi or self.cfg.imsi, pw,
                           self.session_ts if ts is None else ts)

    def _cipher(self):
        return self.session.cipher() if self.session is not None else None

    def _digest_wanted(self, cmd, tlvs, bearer):
        """Digest policy E022/E023/E024 (appendix E g, INTEROP 3): never on
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

    def _security_bits(self):
        s = 0
        if self.cfg.supports_encryption:
            s |= H.SEC_SUPPORTS_ENCRYPTION
            if self.params.get_int(0xE032) and self.session is not None:
                s |= H.SEC_ENCRYPTION_ENABLED
        s |= self._feedback
        self._feedback = 0
        return s

    def _timeout(self, bearer):
        """Response timeout per bearer from 0x0107 (INTEROP 8): packet 10 s, SMS 60 s."""
        v = self.params.get(0x0107) or b""
        for i in range(0, len(v) - 3, 4):
            b, unit, val = struct.unpack_from(">BBH", v, i)
            if (b == 1) == (bearer == P.BEARER_SMS):
                return val * (1, 60, 3600)[unit if unit < 3 else 0]
        return 60 if bearer == P.BEARER_SMS else 10

    def _retries(self):
        n = self.params.get_int(0x0108, 3)
        return -1 if n == 0xFF else n

    # == sending =============================================================
    def _next_seq(self):
        s = self._seq
        self._seq = (self._seq + 1) & 0xFFFFFFFF     # wraps to 0 (appendix A)
        return s

    def _encode(self, msg, bearer, key_tag=0xE025, key=None, sign=True):
        msg.serial = self.serial
        msg.security |= self._security_bits()
        if key is None and sign and self._digest_wanted(msg.command, msg.tlvs, bearer):
            key = self._key(key_tag)
        self._encryption_policy(msg)
        return codec.encode(msg, self.profile, bearer, key, self._cipher())

    def _encryption_policy(self, msg):
        """E032 (with E033 commands / E034 tags): encrypt with the session key,
        the whole content (E042) or the named TLVs (E043), INTEROP 5.  Needs a
        session key; LOGIN, REGISTER and HEART_BEAT stay in clear."""
        mode = self.params.get_int(0xE032)
        if not mode or self.session is None or msg.encryption != codec.ENC_NONE or msg.subpacket is not None:
            return
        base = msg.command & 0x7FFF
        if base in (C.LOGIN, C.REGISTER, C.HEART_BEAT, C.LOGOUT):
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

    def _request(self, msg, bearer=None, on_ack=None, on_fail=None, retries=None, key=None, sign=True):
        """Send a request and keep it until its ACK (matched by seq) or until the
        retransmissions run out (0x0107 / 0x0108, 4.4.6)."""
        bearer = self._bearer if bearer is None else bearer
        msg.seq = self._next_seq()
        try:
            raw = self._encode(msg, bearer, key=key, sign=sign)
        except TooLongForBearer:
            return self._request_split(msg, bearer, on_ack, on_fail)
        to = self._timeout(bearer)
        t = _Txn(msg.seq, msg.command, raw, bearer, self._retries() if retries is None else retries,
                 to, self._now + to, on_ack, on_fail, msg if msg.subpacket is None else None)
        self._txns[msg.seq] = t
        self._emit(bearer, raw)
        return t

    # == sub-packets (appendix F, INTEROP 6) ==================================
    def _trans_id(self):
        self._trans = (self._trans * 75 + 74 + (self._seq & 0xFF)) % 65537 & 0xFFFF
        return self._trans

    def _splitter(self, msg, bearer, chunk=None):
        """Splitter for `msg` (its encryption policy applied first: encrypted
        content is encrypted whole, then cut into E044)."""
        self._encryption_policy(msg)
        cipher = self._cipher() if msg.encryption != codec.ENC_NONE else None
        digest = self._pw(0xE025) is not None and self._digest_wanted(msg.command, [], bearer)
        return SP.Splitter(msg, self._trans_id(), self.profile, bearer, digest, cipher, chunk)

    def _request_split(self, msg, bearer, on_ack, on_fail, chunk=None):
        """A request too long for the bearer: send sub-packet 1; each ACK names the
        next one wanted (0x4008 op 0x01); the ACK to the last carries the real
        response (INTEROP 6)."""
        try:
            sp = self._splitter(msg, bearer, chunk)
        except WmmpError as e:
            self._event("error", "%s cannot be sent: %s" % (C.name(msg.command), e))
            if on_fail:
                on_fail(self._now)
            return None
        self._event("split", C.name(msg.command), sp.trans_id, sp.total)

        def next_part(ack, now):
            got = ack.subpacket
            if got is None:                       # the real response
                if on_ack:
                    on_ack(ack, now)
                return
            if got.trans_id != sp.trans_id or got.op != SP.OP_REQUEST or not 1 <= got.index <= sp.total:
                self._event("split_aborted", sp.trans_id, got.op)
                if on_fail:
                    on_fail(now)
                return
            send(got.index)

        def send(index):
            self._request(sp.message(index, 0), bearer, next_part, on_fail)
        send(1)
        return sp

    def _on_subpacket(self, msg, bearer, now):
        """A sub-packet request from the platform: a piece of a fragmented request
        (collect; ask for the next; run it when complete, appendix F f) or a
        request for the next piece of one of our fragmented responses."""
        sp = msg.subpacket
        ack_cmd = msg.command | C.ACK
        if sp.op == SP.OP_REQUEST:
            for trans_id, splitter in self._resp_splits:
                if trans_id == sp.trans_id:
                    m = codec.Message(ack_cmd)
                    m.subpacket = splitter.answer(sp)
                    self._respond(msg, m, bearer)
                    return
            raise SubpacketError("no fragmented response with transaction %d" % sp.trans_id)
        key = (msg.command, sp.trans_id)
        r = None
        for k, held in self._reassembly:
            if k == key:
                r = held
        try:
            if r is None:
                r = SP.Reassembler(msg.command, sp)
                self._reassembly.append((key, r))
                if len(self._reassembly) > _SPLITS:
                    self._reassembly.pop(0)
            else:
                r.add(sp)
            if not r.complete:
                m = codec.Message(ack_cmd)
                m.subpacket = r.request()
                self._respond(msg, m, bearer)
                return
            whole = r.message(self.profile, self._cipher())
        except WmmpError as e:
            self._reassembly = [(k, h) for k, h in self._reassembly if k != key]
            self._event("dropped", "sub-packets", str(e))
            m = codec.Message(ack_cmd)
            m.subpacket = codec.Subpacket(sp.trans_id, sp.total, sp.index, SP.OP_RECEIVER_ABORT)
            self._respond(msg, m, bearer)
            return
        self._reassembly = [(k, h) for k, h in self._reassembly if k != key]
        whole.seq = msg.seq                       # the ACK to the last sub-packet answers
        whole.serial = msg.serial
        self._dispatch(whole, bearer, now)

    def _on_overflow(self, seq, now):
        """Table A-2 bit 8: the peer could not take our request: resend it as
        sub-packets of at most an SMS's size."""
        t = self._txns.pop(seq, None)
        if t is None or t.msg is None:
            return
        self._event("overflow", C.name(t.command), seq)
        t.msg.seq = 0
        self._request_split(t.msg, t.bearer, t.on_ack, t.on_fail,
                            SP.chunk_size(self.profile, P.BEARER_SMS, True))

    def _emit(self, bearer, raw):
        self._out.append((bearer, raw))
        if bearer == P.BEARER_SMS:
            self.params.count(0x2008)
        else:
            self.params.count(0x200B, len(raw))
            if self.state == S_ONLINE:
                # the heartbeat keeps the packet link (and its NAT binding) alive:
                # only packet traffic postpones it (4.3.4)
                self._arm_heartbeat()

    def _retransmit_or_fail(self, t, now):
        if t.retries != 0:
            if t.retries > 0:
                t.retries -= 1
            t.due = now + t.timeout
            self._lost += 1
            self._emit(t.bearer, t.raw)           # same bytes, same seq (INTEROP 1)
            self._event("retransmit", C.name(t.command), t.seq)
            return
        del self._txns[t.seq]
        self._event("timeout", C.name(t.command), t.seq)
        if t.on_fail:
            t.on_fail(now)
        elif self.state == S_ONLINE:
            # 4.4.6.2: requests keep timing out -> communication failure: LOGOUT
            # reason 0x02, then log in again.
            self._failures += 1
            if self._failures >= MISSED_HEARTBEATS:
                self._failures = 0
                self.logout(K.LOGOUT_COMM_FAILURE, now, then=self._login)

    def _respond(self, req, msg, bearer):
        msg.seq = req.seq
        try:
            raw = self._encode(msg, bearer)
        except TooLongForBearer:
            # a response too long: sub-packet 1 in the ACK, the requester asks for
            # the others by repeating the request with 0x4008 op 0x01 (INTEROP 6)
            sp = self._splitter(msg, bearer)
            self._resp_splits.append((sp.trans_id, sp))
            if len(self._resp_splits) > _SPLITS:
                self._resp_splits.pop(0)
            first = codec.Message(msg.command)
            first.subpacket = sp.subpacket(1)
            first.seq = req.seq
            raw = self._encode(first, bearer)
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
            self._event("dropped", type(e).__name__, str(e))
            if isinstance(e, DecryptError):
                self._feedback |= H.SEC_PREV_DECRYPT_FAILED
            elif isinstance(e, TooLongForBearer) and e.header is not None:
                self._emit(bearer, codec.encode_notice(data[:H.HEADER_SIZE], H.SEC_PREV_OVERFLOW))

    def _receive(self, data, bearer, now):
        down = self._key(0xE028)
        ack_ts = None
        msg = codec.decode(data, self.profile, bearer, down, self._cipher())
        if msg.notice:
            self._event("notice", C.name(msg.command), msg.seq, msg.security & H.SEC_FEEDBACK)
            if msg.security & H.SEC_PREV_OVERFLOW and not C.is_response(msg.command):
                self._on_overflow(msg.seq, now)
            return
        if msg.command == C.REGISTER_ACK and msg.fields.get("result") == K.REG_ACK_MAPPING_CHANGED:
            # the ACK to REGISTER 0x02 is signed with the OLD IMEI/IMSI (INTEROP 3)
            msg = codec.decode(data, self.profile, bearer, self._old_key(0xE028), self._cipher())
        required = down is not None and self._digest_wanted(msg.command, msg.tlvs, bearer) \
            and not self._keyless_ok(msg, bearer)
        if required and msg.digest_ok is not True:
            # 4.4.5: drop silently; the next message tells the peer why.
            self._feedback |= H.SEC_PREV_DIGEST_MISSING if msg.digest is None else H.SEC_PREV_DIGEST_FAILED
            self._event("dropped", "digest", C.name(msg.command), msg.seq)
            if self.params.get_int(0xE041) == 1 and not C.is_response(msg.command):
                self._emit(bearer, codec.encode_notice(data[:H.HEADER_SIZE], self._feedback))
            return
        if C.is_response(msg.command):
            t = self._txns.get(msg.seq)
            if t is None or t.command | C.ACK != msg.command:
                self._event("dropped", "unmatched", C.name(msg.command), msg.seq)
                return
            del self._txns[msg.seq]
            self._failures = 0
            if bearer == P.BEARER_PACKET:
                self._packet_fail = 0
            if not self.cfg.long_connection and self.state == S_ONLINE:
                self._timers["short_idle"] = now + 5
            if t.command == C.HEART_BEAT and self._hb_sent_at is not None:
                self._last_hb_delay = int(now - self._hb_sent_at)
            if t.on_ack:
                t.on_ack(msg, now)
            return
        for cmd, seq, b, raw in self._cache:
            if cmd == msg.command and seq == msg.seq:
                self._out.append((b, raw))       # duplicate: answer again (4.4.6.1, fig. 32)
                self._event("duplicate", C.name(msg.command), msg.seq)
                return
        if self._sim_open and self.sim_busy((msg.command, msg.seq)):
            self._event("duplicate", C.name(msg.command), msg.seq)   # answered when the SIM is done
            return
        if msg.subpacket is not None:
            self._on_subpacket(msg, bearer, now)
            return
        self._dispatch(msg, bearer, now)

    def _old_key(self, tag):
        old_imsi = self.params.get("imsi")
        return self._key(tag, imsi=old_imsi.decode() if old_imsi else None, ts=0)

    def _keyless_ok(self, msg, bearer):
        """Messages the standard sends without a digest: REGISTER_ACK except to
        operation 0x02 (G a), and the first SECURITY_CONFIG after registration,
        which has nothing to key it with yet (G m, INTEROP 3) and is accepted only
        by SMS inside the window."""
        if msg.command == C.REGISTER_ACK:
            return self._reg_op != K.REG_OP_CHANGE_MAPPING
        return msg.command == C.SECURITY_CONFIG and self.state == S_WAIT_KEYS and bearer == P.BEARER_SMS

    # == registration (4.3.1, appendix G a) ==================================
    def _register(self, now, op=None):
        self._gave_up = None
        self._set_state(S_REGISTERING)
        tlvs = []
        if op is None:
            cleared = self.params.get_int("cleared")
            if cleared:
                op = K.REG_OP_REPORT_CLEARED
                tlvs.append((0xE020, bytes([cleared])))
            elif self.params.get("preset") == b"\x01" and self._pw(0xE025) and self._pw(0xE028):
                op = K.REG_OP_PRESET_KEYS
                tlvs += self._preset_digests()
            elif H.serial_is_unassigned(self.serial):
                op = K.REG_OP_ASSIGN_SERIAL
            else:
                op = K.REG_OP_PRESET_SERIAL
        key = None
        imsi = self.cfg.imsi
        if op == K.REG_OP_CHANGE_MAPPING:
            key = self._old_key(0xE025)
        msg = codec.Message(C.REGISTER, {"operation": op, "imei": D.imei_field(self.cfg.imei),
                                         "imsi": imsi}, tlvs)
        self._reg_op = op
        self._request(msg, self._reg_bearer, self._on_register_ack, self._on_register_fail,
                      retries=0, key=key, sign=False)

    def _preset_digests(self):
        p = self.params
        out = [(0xE026, D.uplink_password_digest(p.get(0xE025), p.get_int(0xE027))),
               (0xE029, D.downlink_password_digest(p.get(0xE028), p.get_int(0xE02A)))]
        if p.get(0xE036):
            out.append((0xE03A, D.base_key_digest(p.get(0xE036), p.get_int(0xE038))))
        return out

    def _on_register_ack(self, msg, now):
        r = msg.fields["result"]
        self._event("register_ack", r)
        if r in (K.REG_ACK_OK_WAIT_SMS_KEYS, K.REG_ACK_OK_LOGIN, K.REG_ACK_OK_NO_PASSWORD,
                 K.REG_ACK_MAPPING_CHANGED):
            self._reg_attempts = 0
            if r != K.REG_ACK_MAPPING_CHANGED:
                self.serial = bytes(msg.fields["terminal_id"])
                self.params.set("serial", self.serial)
            self.params.set("imsi", self.cfg.imsi.encode())
            self.params.delete("cleared")
            if r == K.REG_ACK_OK_WAIT_SMS_KEYS:
                # G a: enter SMS mode and wait 0x0026 s for SECURITY_CONFIG.
                self._set_state(S_WAIT_KEYS)
                self._bearer_before_sms = self._bearer
                self._event("sms_window", True)
                self._timers["sms_wait"] = now + self.params.get_int(0x0026, 120)
                self.params.commit()
                return
            self.params.set("registered", b"\x01")
            self.params.commit()
            self._event("registered", self.serial)
            self._login(now)
        elif r == K.REG_ACK_USE_SMS:
            self._reg_bearer = P.BEARER_SMS          # G a 0x02: register again by SMS
            self._register(now)
        elif r in _REG_FATAL:
            self._enter_alarm(now, "register refused 0x%02X" % r, K.ALARM_PLATFORM_CONNECT_FAILED)
        else:
            self._retry_register(now)

    def _on_register_fail(self, now):
        self._retry_register(now)

    def _retry_register(self, now):
        self._reg_attempts += 1
        limit = self.params.get_int(0x0029, 0)
        if limit and self._reg_attempts >= limit:
            self._enter_alarm(now, "registration retries exhausted", K.ALARM_PLATFORM_CONNECT_FAILED)
            self._gave_up = "register"
            return
        self._backoff(now, "register", 0x002B, self._reg_attempts)

    def _backoff(self, now, what, tag, attempt):
        """Gap doubling from min up to max (INTEROP 8, 0x002A / 0x002B)."""
        v = self.params.get(tag) or struct.pack(">II", 10, 300)
        lo, hi = struct.unpack(">II", v)
        gap = lo << (attempt - 1 if attempt < 16 else 15)
        if gap > hi:
            gap = hi
        self._set_state(S_BACKOFF)
        self._timers[what] = now + gap
        self._event("backoff", what, gap)

    # == login (4.3.2, appendix G b) =========================================
    def _login(self, now):
        self._gave_up = None
        self._set_state(S_LOGGING_IN)
        self.session = None
        # Requests still open from the previous session would be retransmitted with
        # its digest timestamp and dropped by the platform: send them again in the
        # new session instead, with a fresh seq (4.4.6, INTEROP 3).
        for seq in list(self._txns):
            t = self._txns.pop(seq)
            if t.msg is not None and t.command not in (C.LOGIN, C.LOGOUT, C.REGISTER, C.HEART_BEAT):
                self._resend.append(t)
        p = self.params
        tlvs = [(0x0011, p.get(0x0011))]
        for tag in (0x3006, 0x3007):
            if p.get(tag) is not None:
                tlvs.append((tag, p.get(tag)))
        self._asked_key = False
        if self.cfg.session_key and p.get(0xE036):
            tlvs.append((0xE03A, D.base_key_digest(p.get(0xE036), p.get_int(0xE038))))
            self._asked_key = True
        cleared = p.get_int("cleared_login")
        if cleared:
            tlvs.append((0xE020, bytes([cleared])))
        msg = codec.Message(C.LOGIN, {"software_version": self.cfg.software_version,
                                      "config_crc32": p.core_crc32()}, tlvs)
        self.session_ts = 0
        self._request(msg, self._bearer, self._on_login_ack, self._on_login_fail, retries=0)

    def _on_login_ack(self, msg, now):
        r = msg.fields["result"]
        self._event("login_ack", r)
        if r in (K.LOGIN_ACK_OK, K.LOGIN_ACK_OK_REPORT_CONFIG, K.LOGIN_ACK_OK_BAD_KEY_DIGEST,
                 K.LOGIN_ACK_OK_STAY_CONNECTED):
            self._login_attempts = 0
            self.session_ts = msg.fields["curtime"]
            self._wall_base = (now, msg.fields["curtime"])
            e040 = msg.tlv(0xE040)
            if e040 is not None and self._asked_key:
                try:
                    self.session = KEYS.unwrap(CI.alg_from_key_alg(self.params.get_int(0xE039, 1)),
                                               self.params.get(0xE036), e040,
                                               self._session_alg(), self.profile)
                    self._event("session_key", self.session.valid_until)
                except WmmpError as e:
                    self._event("error", "session key: %s" % e)
            self.params.delete("cleared_login")
            if self._fallback is not None:
                self._fallback = None
                self._event("secrets_changed")
            self.params.commit()
            self._set_state(S_ONLINE)
            self._missed_hb = 0
            self._arm_heartbeat()
            self._event("online", r)
            # G b: a CONFIG_TRAP right after login proves the connection (its digest).
            trap = [(0x300B, b"\x01" if self.alarms else b"\x00")]
            if r == K.LOGIN_ACK_OK_REPORT_CONFIG:
                trap += self._core_params()
            self._trap(trap)
            while self._after_login:
                self._trap(self._after_login.pop(0))
            while self._resend:
                t = self._resend.pop(0)
                t.msg.security = 0
                t.msg.encryption = codec.ENC_NONE
                # a new request (new seq) of the new session: it goes on the
                # session's bearer, not on the one the old request used (which may
                # be the SMS of an outage, or none at all)
                self._request(t.msg, self._bearer, t.on_ack, t.on_fail)
            while self._pending_data:
                payload, dest, ec = self._pending_data.pop(0)
                self.send_data(payload, now, dest, ec)
            if self._pending_apply is not None:
                seq, tags = self._pending_apply
                self._pending_apply = None
                self._trap([(0x4010, b"\x00" + struct.pack(">I", seq)),
                            (0x4017, struct.pack(">I", self.params.applied_crc32(tags)))])
            if self.session is not None:
                self._timers["session"] = now + max(1, self.session.valid_until - msg.fields["curtime"])
            self._arm_stats(now)
        elif self._fallback is not None and r in (K.LOGIN_ACK_BAD_MAPPING, K.LOGIN_ACK_MISSING_KEY_DIGEST):
            self._fall_back(now)
        else:
            self._retry_login(now)

    def _fall_back(self, now):
        """The new secret was refused: restore the old one and log in with it."""
        self.params.restore(self._fallback)
        self._fallback = None
        self._login_attempts = 0
        self._event("secrets_fallback")
        self._login(now)

    def _session_alg(self):
        """Algorithm of the session key: E035 (message encryption algorithm) when
        set, else E03E, else the base key's (E039); codes per INTEROP 5."""
        v = self.params.get(0xE035)
        if v and v[0]:
            return CI.alg_from_e035(v[0])
        v = self.params.get(0xE03E)
        return CI.alg_from_key_alg(v[0]) if v else None

    def _on_login_fail(self, now):
        self._retry_login(now)

    def _retry_login(self, now):
        """Login retries 0x0027 (0xFF forever) with back-off 0x002A (4.3.2)."""
        self._login_attempts += 1
        limit = self.params.get_int(0x0027, 3)
        if limit != 0xFF and self._login_attempts > limit and self._fallback is not None:
            self._fall_back(now)
            return
        if limit != 0xFF and self._login_attempts > limit:
            self._enter_alarm(now, "login retries exhausted", K.ALARM_PLATFORM_CONNECT_FAILED)
            self._gave_up = "login"
            return
        self._backoff(now, "login", 0x002A, self._login_attempts)

    def _core_params(self):
        return [(t, self.params.get(t) or b"") for t in self.params.tag_list(0x0025)]

    # == online ==============================================================
    def _arm_heartbeat(self):
        period = self.params.get_int(0x0011, 30)
        if period and self.cfg.long_connection and not self.packet_down:   # no heartbeats by SMS
            self._timers["heartbeat"] = self._now + period

    def _heartbeat(self, now):
        tlvs = [(0x3005, struct.pack(">I", self._last_hb_delay)), (0x3011, struct.pack(">I", self._lost))]
        for tag in (0x3006, 0x3007):
            if self.params.get(tag) is not None:
                tlvs.append((tag, self.params.get(tag)))
        self._hb_sent_at = now
        self._request(codec.Message(C.HEART_BEAT, tlvs=tlvs), on_ack=self._on_hb_ack,
                      on_fail=self._on_hb_fail, retries=0)
        if self._deferred is not None:
            # 4.3.9.3 c: report "deferred" at the heartbeat interval until applied.
            self._trap([(0x4010, b"\x01" + struct.pack(">I", self._deferred[0]))])

    def _on_hb_ack(self, msg, now):
        self._missed_hb = 0

    def _on_hb_fail(self, now):
        self._missed_hb += 1
        if self._missed_hb >= MISSED_HEARTBEATS:
            self._event("heartbeat_lost", self._missed_hb)
            self.logout(K.LOGOUT_HEARTBEAT_TIMEOUT, now, then=self._login)

    # == statistics (appendix E d, 4.3.5) =====================================
    def _stats_on(self):
        return self.params.get_int(0x2006) != 0xFFFFFFFF    # start time all F: no statistics

    def _arm_stats(self, now):
        """0x2001 policy: 0x00 at the time in 0x2002, 0x01 every 0x2003 s,
        0x02 with the first business use of each month (send_data)."""
        self._timers.pop("stats", None)
        if not self._stats_on():
            return
        policy = self.params.get_int(0x2001, 1)
        if policy == 0x01:
            period = self.params.get_int(0x2003, 3600)
            if period:
                self._timers["stats"] = now + period
        elif policy == 0x00:
            at = self.params.get_int(0x2002)
            wall = self.wall_time(now)
            if at and wall is not None and at > wall:
                self._timers["stats"] = now + (at - wall)

    def report_statistics(self, now):
        """CONFIG_TRAP of 0x2004 and 0x2008-0x200E; cleared after the ACK when
        0x2005 says so (appendix E d)."""
        self._now = now
        tl = [(0x2004, self.params.get(0x2004) or b"\x00")]
        for t in (0x2008, 0x2009, 0x200A, 0x200B, 0x200C, 0x200D, 0x200E):
            tl.append((t, self.params.get(t) or b"\x00\x00\x00\x00"))

        def done(ack, now2):
            if ack.fields.get("result") == K.ACK_OK and self.params.get_int(0x2005) == 1:
                self.params.clear_stats()
            self.params.commit()
        if self.state == S_ONLINE:
            self._trap(tl, on_ack=done)
        else:
            self._after_login.append(tl)

    def _trap(self, tlvs, on_ack=None):
        self._request(codec.Message(C.CONFIG_TRAP, tlvs=tlvs), on_ack=on_ack)

    # == application API =====================================================
    def report(self, tlvs, now):
        """CONFIG_TRAP of `tlvs` now, or after the next login."""
        self._now = now
        if self.state == S_ONLINE:
            self._trap(list(tlvs))
        else:
            self._after_login.append(list(tlvs))

    def raise_alarm(self, code, now, alarm_type=0x02):
        """Report an alarm (0x300B-0x300D, 4.3.5); queued until online."""
        if code not in self.alarms:
            self.alarms.append(code)
        tl = [(0x300B, b"\x01"), (0x300C, bytes([alarm_type])), (0x300D, struct.pack(">H", code))]
        if self.packet_down and self.state != S_ONLINE and self.registered:
            # 4.3.5: over SMS an alarm goes at once, even without a login
            self._now = now
            self._request(codec.Message(C.CONFIG_TRAP, tlvs=tl), P.BEARER_SMS)
            return
        self.report(tl, now)

    def clear_alarm(self, code, now):
        if code in self.alarms:
            self.alarms.remove(code)
            tl = [(0x300E, struct.pack(">H", code))]
            if not self.alarms:
                tl.insert(0, (0x300B, b"\x00"))   # E e note: normal only when all recovered
            self.report(tl, now)

    # == bearers: SMS fallback (issue 5; 4.3.5, 4.2) ==========================
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
        else:
            if size:
                self.params.set(0x200B, PMu32(max(0, self.params.get_int(0x200B) - size)))
            self._packet_failure(now)

    def bearer_restored(self, kind, now):
        """The packet bearer works again: new requests go back to it (a request
        and its response stay on one bearer, so open ones finish on SMS)."""
        self._now = now
        if kind == P.BEARER_PACKET and self.packet_down:
            self.packet_down = False
            self._packet_fail = 0
            self._bearer = P.BEARER_PACKET
            self._event("bearer", "packet")
            self._move_off_sms()
            if self.state == S_ONLINE:
                self._arm_heartbeat()
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
                    self._register(now)
                else:
                    self._login_attempts = 0
                    self._login(now)

    def _move_off_sms(self):
        """Requests of ours still open on SMS (alarms, reports raised during the
        outage) go again as new requests on the packet bearer (online) or after
        the next login, instead of spending their retries on an SMS bearer that
        may not work (4.3.5: the alarm must arrive; a repeat is harmless).  The
        session's own messages (REGISTER, LOGIN, LOGOUT, HEART_BEAT) and
        sub-packet transfers finish where they started (4.2)."""
        for seq in list(self._txns):
            t = self._txns[seq]
            if t.bearer != P.BEARER_SMS or t.msg is None or t.command in _SESSION_CMDS:
                continue
            del self._txns[seq]
            t.msg.security = 0
            t.msg.encryption = codec.ENC_NONE
            if self.state == S_ONLINE:
                self._request(t.msg, P.BEARER_PACKET, t.on_ack, t.on_fail)
            else:
                self._resend.append(t)

    def _packet_failure(self, now):
        self._packet_fail += 1
        if not self.packet_down and self._packet_fail >= FALLBACK_AFTER:
            self.packet_down = True
            self._bearer = P.BEARER_SMS
            self._timers.pop("heartbeat", None)
            self._event("bearer", "sms")

    def request_config(self, tags, now):
        """CONFIG_REQ for `tags` (4.3.9.1): the platform's values are applied at
        once (the terminal asks only when idle); a restart-needing value goes
        through LOGOUT 0x07 and restart; the result is reported with 0x4010."""
        self._now = now
        msg = codec.Message(C.CONFIG_REQ, tlvs=[(t, b"") for t in tags])

        def answered(ack, now2):
            if ack.fields.get("result") != K.ACK_OK:
                self._event("config_req_refused", [t for t, _ in ack.tlvs])
                return
            bad = self.params.check(ack.tlvs)
            if bad:
                self._event("config_req_invalid", bad)
                return
            changed = [(t, v) for t, v in ack.tlvs if self.params.get(t) != v]
            if changed:          # 4.3.9.1: same as local values -> nothing to apply
                self._apply(ack.seq, changed, now2)
        return self._request(msg, on_ack=answered)

    def local_config(self, tlvs, now):
        """Parameters set by hand on the terminal (4.3.9.2): applied, then reported
        with 0x4011; one that needs a restart logs out with reason 0x03 first."""
        self._now = now
        bad = self.params.check(tlvs)
        if bad:
            self._event("local_config_invalid", bad)
            return bad
        tags = [t for t, _ in tlvs]
        if self.state == S_ONLINE and self.params.needs_restart(tags):
            def apply_and_restart(now2):
                for t, v in tlvs:
                    self.params.set(t, v)
                self.params.commit()
                self._after_login.append([(0x4011, b"")] + list(tlvs))
                self._set_state(S_RESTARTING)
                self._event("restart", "local config")
            self.logout(K.LOGOUT_LOCAL_CONFIG, now, then=apply_and_restart)
            return []
        for t, v in tlvs:
            self.params.set(t, v)
        self.params.commit()
        self.report([(0x4011, b"")] + list(tlvs), now)   # offline: after the next login
        return []

    def security_request(self, op, now, tags=()):
        """Terminal-initiated SECURITY_CONFIG (G m, 4.4.3.1.3.1):
          0x04 report: digests of the passwords/base key and the switches, in clear
          0x05 ask for new values in clear: on ACK 0x00 the SMS window opens (0x0026)
          0x06 ask for new values encrypted: the ACK carries them in E043; applied
               through LOGOUT 0x09 like any new secret
          0x07 ask to enable switches named in `tags` (e.g. E032 with its value)
        `tags` for 0x05/0x06 are the secrets wanted (E025, E028, E036)."""
        self._now = now
        p = self.params
        if op == K.SEC_OP_REPORT:
            tl = [(0xE026, D.uplink_password_digest(p.get(0xE025), p.get_int(0xE027))),
                  (0xE029, D.downlink_password_digest(p.get(0xE028), p.get_int(0xE02A)))]
            if p.get(0xE036):
                tl.append((0xE03A, D.base_key_digest(p.get(0xE036), p.get_int(0xE038))))
            tl += [(t, p.get(t)) for t in (0xE022, 0xE032) if p.get(t) is not None]
        elif op in (K.SEC_OP_REQ_UPDATE_CLEAR, K.SEC_OP_REQ_UPDATE_ENCRYPTED):
            tl = [(t, b"") for t in tags]
        elif op == K.SEC_OP_REQ_ENABLE:
            tl = list(tags)
        else:
            raise ValueError("terminal SECURITY_CONFIG operations are 0x04-0x07")

        def answered(ack, now2):
            r = ack.fields.get("result")
            self._event("security_answer", op, r)
            if r != K.SEC_ACK_OK:
                return
            if op == K.SEC_OP_REQ_UPDATE_CLEAR:
                self._event("sms_window", True)
                self._timers["sms_update"] = now2 + p.get_int(0x0026, 120)
            elif op == K.SEC_OP_REQ_UPDATE_ENCRYPTED and ack.tlvs:
                pending = list(ack.tlvs)
                self.logout(K.LOGOUT_UPDATE_KEYS, now2,
                            then=lambda now3: self._apply_new_secrets(pending, now3), on_fail=self._login)
            elif op == K.SEC_OP_REQ_ENABLE:
                for t, v in tl:
                    p.set(t, v)
                p.commit()
        return self._request(codec.Message(C.SECURITY_CONFIG, {"operation": op}, tl), on_ack=answered)

    def send_data(self, payload, now, dest_serial=None, ec_code=None):
        """TRANSPARENT_DATA to another terminal (0x4012) or an EC (0x4014), G j.
        On a short connection the terminal logs in first when it is idle (4.2.1)."""
        self._now = now
        if self.state != S_ONLINE:
            self._pending_data.append((payload, dest_serial, ec_code))
            if self.state in (S_IDLE, S_OFF):
                self._login(now)
            return None
        if self.params.get(0x2004) != b"\x01":
            self.params.set(0x2004, b"\x01")        # first business use this month
            if self.params.get_int(0x2001, 1) == 0x02 and self._stats_on():
                self.report_statistics(now)
        addr = (0x4012, H.pad_serial(dest_serial)) if dest_serial is not None else (0x4014, ec_code)
        msg = codec.Message(C.TRANSPARENT_DATA, {"crc16": crc.crc16(payload, self.profile.crc16)},
                            [addr, (0x4007, payload)])
        return self._request(msg, on_ack=lambda m, n: self._event("data_ack", m.fields["result"]))

    def logout(self, reason, now, then=None, on_fail=None):
        """LOGOUT with `reason` (G c); on the ACK `then(now)` runs (e.g. log in
        again), on its timeout `on_fail(now)` (default: the same), else idle."""
        self._now = now
        self._set_state(S_LOGGING_OUT)
        self._timers.pop("heartbeat", None)

        def finish(nxt, now2):
            self.session = None
            self._event("logged_out", reason)
            if nxt is not None:
                nxt(now2)
            else:
                self._set_state(S_IDLE)
        self._request(codec.Message(C.LOGOUT, {"reason": reason}),
                      on_ack=lambda m, now2: finish(then, now2),
                      on_fail=lambda now2: finish(on_fail if on_fail is not None else then, now2),
                      retries=1)

    def restarted(self, now):
        """The application restarted the terminal (after a 'restart' event): log in."""
        self._now = now
        self._txns = {}
        self._timers = {}
        self.session = None
        self._login(now)

    def _enter_alarm(self, now, why, code):
        self._set_state(S_ALARM)
        if code not in self.alarms:
            self.alarms.append(code)
        self._event("alarm", code, why)

    def _set_state(self, s):
        if s != self.state:
            self.state = s
            self._event("state", STATE_NAMES[s])

    def _event(self, *ev):
        self._events.append(ev)

    # == timers ==============================================================
    def _on_timer(self, name, now):
        if name == "heartbeat" and self.state == S_ONLINE:
            self._heartbeat(now)
        elif name == "login":
            self._login(now)
        elif name == "register":
            self._register(now)
        elif name == "sms_wait" and self.state == S_WAIT_KEYS:
            # G a: no keys in time: back to the previous bearer, alarm 0x001C.
            self._event("sms_window", False)
            self._after_login.append([(0x300B, b"\x01"), (0x300C, b"\x01"),
                                      (0x300D, struct.pack(">H", K.ALARM_SMS_RECEIVE_TIMEOUT))])
            self._event("alarm", K.ALARM_SMS_RECEIVE_TIMEOUT, "no keys by SMS in time")
            self._retry_register(now)
        elif name == "stats":
            # due while offline (e.g. the session key expired in the same tick):
            # report_statistics queues it for the next login, which re-arms the timer
            self.report_statistics(now)
            if self.state == S_ONLINE and self.params.get_int(0x2001, 1) == 0x01:
                self._arm_stats(now)
        elif name == "sms_update":
            # 4.4.3.1.3.2 a.1: the new secret did not come by SMS in time.
            self._event("sms_window", False)
            self.raise_alarm(K.ALARM_SMS_RECEIVE_TIMEOUT, now, 0x01)
        elif name == "short_idle" and self.state == S_ONLINE and not self._txns:
            self.logout(K.LOGOUT_NORMAL, now)          # short connection done (4.2.1)
        elif name == "session" and self.state == S_ONLINE:
            self.logout(K.LOGOUT_SESSION_KEY_EXPIRED, now, then=self._login)   # INTEROP 5

    # == platform requests ===================================================
    def _dispatch(self, msg, bearer, now):
        cmd = msg.command
        h = _HANDLERS.get(cmd)
        if h is None:
            self._event("dropped", "unexpected request", C.name(cmd), msg.seq)
            return
        h(self, msg, bearer, now)

    def _h_config_get(self, msg, bearer, now):
        """4.3.6 / G g: values of the requested tags; any unsupported -> 0x01 with
        those tags at L=0, nothing else."""
        bad = [(t, b"") for t, _ in msg.tlvs if self.params.readable(t) is None]
        if bad:
            self._respond(msg, codec.Message(C.CONFIG_GET_ACK, {"result": K.ACK_INVALID}, bad), bearer)
            return
        out = [(t, self.params.readable(t)) for t, _ in msg.tlvs]
        self._respond(msg, codec.Message(C.CONFIG_GET_ACK, {"result": K.ACK_OK}, out), bearer)

    def _h_config_set(self, msg, bearer, now):
        """4.3.9.3 / G h: all or nothing; 0x4009 forces immediate application; a
        parameter that needs a restart is applied after LOGOUT 0x07."""
        bad = self.params.check(msg.tlvs)
        if bad:
            self._respond(msg, codec.Message(C.CONFIG_SET_ACK, {"result": K.ACK_INVALID},
                                             [(t, b"") for t in bad]), bearer)
            return
        self._respond(msg, codec.Message(C.CONFIG_SET_ACK, {"result": K.ACK_OK}), bearer)
        tlvs = [(t, v) for t, v in msg.tlvs if t != 0x4009]
        force = T.find(msg.tlvs, 0x4009) == b"\x01"
        if self.busy and not force:
            self._deferred = (msg.seq, tlvs)
            self._trap([(0x4010, b"\x01" + struct.pack(">I", msg.seq))])
            return
        self._apply(msg.seq, tlvs, now)

    def idle(self, now):
        """The application finished its business operation: apply deferred config."""
        self.busy = False
        if self._deferred is not None:
            seq, tlvs = self._deferred
            self._deferred = None
            self._apply(seq, tlvs, now)

    def _apply(self, seq, tlvs, now):
        tags = [t for t, _ in tlvs]
        if self.params.needs_restart(tags):
            def apply_and_restart(now2):
                for t, v in tlvs:
                    self.params.set(t, v)
                self.params.commit()
                self._pending_apply = (seq, tags)
                self._set_state(S_RESTARTING)
                self._event("restart", "config")
            self.logout(K.LOGOUT_PLATFORM_CONFIG, now, then=apply_and_restart)
            return
        for t, v in tlvs:
            self.params.set(t, v)
        self.params.commit()
        self._event("config_applied", tags)
        if 0x0011 in tags:
            self._arm_heartbeat()
        self._trap([(0x4010, b"\x00" + struct.pack(">I", seq)),
                    (0x4017, struct.pack(">I", self.params.applied_crc32(tags)))])

    def _h_remote_ctrl(self, msg, bearer, now):
        """4.3.7 / G i / appendix E f 0x4001."""
        bad = [(t, b"") for t, v in msg.tlvs if t != 0x4001 or len(v) != 1 or v[0] > 0x0D]
        if bad or not msg.tlvs:
            self._respond(msg, codec.Message(C.REMOTE_CTRL_ACK, {"result": K.ACK_INVALID}, bad), bearer)
            return
        self._respond(msg, codec.Message(C.REMOTE_CTRL_ACK, {"result": K.ACK_OK}), bearer)
        for _, v in msg.tlvs:
            self._control(v[0], now)

    def _control(self, code, now):
        self._event("remote_ctrl", code)
        p = self.params
        if code == K.RC_SUSPEND_SERVICE:
            self._event("service", False)
        elif code == K.RC_RESUME_SERVICE:
            self._event("service", True)
        elif code == K.RC_RESTART:
            self._set_state(S_RESTARTING)
            self._event("restart", "remote")
        elif code == K.RC_WAKE_UP:
            if self.state != S_ONLINE:
                self._login(now)
        elif code == K.RC_REPORT_STATISTICS:
            self._trap([(t, p.get(t) or struct.pack(">I", 0)) for t in (0x2008, 0x2009, 0x200A, 0x200B)]
                       + [(0x2004, b"\x01")])
        elif code == K.RC_CLEAR_STATISTICS:
            p.clear_stats()
            p.commit()
        elif code == K.RC_REPORT_MONITOR:
            tl = [(0x3005, struct.pack(">I", self._last_hb_delay)), (0x3011, struct.pack(">I", self._lost)),
                  (0x300B, b"\x01" if self.alarms else b"\x00")]
            for tag in (0x3006, 0x3007):
                if p.get(tag) is not None:
                    tl.append((tag, p.get(tag)))
            self._trap(tl)
        elif code == K.RC_REPORT_CONNECTION:
            self._trap([(0x4005, b"\x03"), (0x4006, b"\x00\x00")])
        elif code == K.RC_FACTORY_RESET:
            p.factory_reset()
            p.commit()
            self._event("factory_reset")
        elif code == K.RC_REPORT_CORE_CONFIG:
            self._trap(self._core_params())
        elif code == K.RC_RELOGIN_ENCRYPTED:
            self.logout(K.LOGOUT_NORMAL, now, then=self._login)
        else:   # 0x07 upload business data, 0x09 / 0x0C switch APN: the application acts
            self._event("app_ctrl", code)

    def _h_security_config(self, msg, bearer, now):
        """4.3.10, 4.4.3 / G m.  Operation 0x00 sets passwords and keys: in clear
        only by SMS (or inside E043); 0x03 opens the SMS window."""
        op = msg.fields["operation"]
        sim_tags = [t for t, _ in msg.tlvs if t in (0xE001, 0xE003, 0xE00D)]
        if op == K.SEC_OP_SET and sim_tags:
            self._sim_config(msg, bearer, now)
            return
        if op == K.SEC_OP_SET:
            secret = [t for t, _ in msg.tlvs if t in (0xE025, 0xE028, 0xE036)]
            if secret and bearer != P.BEARER_SMS and msg.encryption != codec.ENC_PARTIAL \
                    and msg.encryption != codec.ENC_FULL:
                self._respond(msg, codec.Message(C.SECURITY_CONFIG_ACK, {"result": K.SEC_ACK_UNSUPPORTED_TLV},
                                                 [(t, b"") for t in secret]), bearer)
                return
            bad = []
            for t, v in msg.tlvs:
                try:
                    CAT.validate(t, v)
                except WmmpError:
                    bad.append((t, b""))
            if bad:
                self._respond(msg, codec.Message(C.SECURITY_CONFIG_ACK,
                                                 {"result": K.SEC_ACK_UNSUPPORTED_TLV}, bad), bearer)
                return
            first = self.state == S_WAIT_KEYS
            self._respond(msg, codec.Message(C.SECURITY_CONFIG_ACK, {"result": K.SEC_ACK_OK}), bearer)
            if secret:
                self._timers.pop("sms_update", None)
            if secret and not first and self.state == S_ONLINE:
                # 4.4.3.1.3.2 b / 4.4.3.1.3.3: LOGOUT 0x09 (signed with the old secret),
                # apply the new one only after LOGOUT_ACK, then log in with it.
                pending = list(msg.tlvs)
                self._event("security_pending", [t for t, _ in pending])
                self.logout(K.LOGOUT_UPDATE_KEYS, now,
                            then=lambda now2: self._apply_new_secrets(pending, now2),
                            on_fail=self._login)
                return
            for t, v in msg.tlvs:
                self.params.set(t, v)
            if first:
                self._timers.pop("sms_wait", None)
                self._event("sms_window", False)
                self.params.set("registered", b"\x01")
                self.params.commit()
                self._event("registered", self.serial)
                self._login(now)
                return
            self.params.commit()
            self._event("security_set", [t for t, _ in msg.tlvs])
        elif op == K.SEC_OP_UPDATE_NOTICE:
            # 4.4.3.1.3.2 a.1: acknowledge, then wait 0x0026 s for the new values by SMS.
            self._respond(msg, codec.Message(C.SECURITY_CONFIG_ACK, {"result": K.SEC_ACK_OK}), bearer)
            self._event("sms_window", True)
            self._timers["sms_update"] = now + self.params.get_int(0x0026, 120)
        elif op == K.SEC_OP_READ_ENCRYPTED:
            # G m 0x01: the values, only inside E043 under the session key.
            p = self.params
            vals = [(t, p.get("secret_pin1") if t == 0xE001 else p.get(t)) for t, _ in msg.tlvs]
            if self.session is None:
                self._respond(msg, codec.Message(C.SECURITY_CONFIG_ACK, {"result": K.SEC_ACK_NO_ENCRYPTION}), bearer)
            elif [t for t, v in vals if v is None or not 0xE001 <= t <= 0xFFFF]:
                self._respond(msg, codec.Message(C.SECURITY_CONFIG_ACK, {"result": K.SEC_ACK_UNSUPPORTED_TLV},
                                                 [(t, b"") for t, v in vals if v is None]), bearer)
            else:
                ack = codec.Message(C.SECURITY_CONFIG_ACK, {"result": K.SEC_ACK_OK}, vals)
                ack.encryption = codec.ENC_PARTIAL
                ack.encrypt_tags = tuple(t for t, _ in vals)
                self._respond(msg, ack, bearer)
        elif op == K.SEC_OP_READ_DIGESTS and self.sim is not None and \
                [t for t, _ in msg.tlvs if t in (0xE002, 0xE003, 0xE00D, 0xE016, 0xE018)]:
            from wmmp.terminal import simguard as SG

            def answer(out, err, now2):
                if err is None:
                    self._respond(msg, codec.Message(C.SECURITY_CONFIG_ACK, {"result": K.SEC_ACK_OK}, out), bearer)
                else:
                    self._respond(msg, codec.Message(C.SECURITY_CONFIG_ACK, {"result": K.SEC_ACK_UNSUPPORTED_TLV},
                                                     [(t, b"") for t, _ in msg.tlvs]), bearer)
            self._sim_run(SG.read_tlvs_job(self.params, self.serial, [t for t, _ in msg.tlvs]), answer,
                          (msg.command, msg.seq))
        elif op == K.SEC_OP_READ_DIGESTS:
            p = self.params
            out = []
            for t, _ in msg.tlvs:
                if t == 0xE026 and p.get(0xE025):
                    out.append((t, D.uplink_password_digest(p.get(0xE025), p.get_int(0xE027))))
                elif t == 0xE029 and p.get(0xE028):
                    out.append((t, D.downlink_password_digest(p.get(0xE028), p.get_int(0xE02A))))
                elif t == 0xE03A and p.get(0xE036):
                    out.append((t, D.base_key_digest(p.get(0xE036), p.get_int(0xE038))))
                elif t in (0xE003, 0xE00D, 0xE022, 0xE031, 0xE032, 0xE035, 0xE039, 0xE041) and p.get(t):
                    out.append((t, p.get(t)))
                else:
                    out = None
                    break
            if out is None:
                self._respond(msg, codec.Message(C.SECURITY_CONFIG_ACK, {"result": K.SEC_ACK_UNSUPPORTED_TLV},
                                                 [(t, b"") for t, _ in msg.tlvs]), bearer)
            else:
                self._respond(msg, codec.Message(C.SECURITY_CONFIG_ACK, {"result": K.SEC_ACK_OK}, out), bearer)
        else:
            # SIM parameters (issue 4) and encrypted reads are not handled yet.
            self._respond(msg, codec.Message(C.SECURITY_CONFIG_ACK, {"result": K.SEC_ACK_UNSUPPORTED_TLV},
                                             [(t, b"") for t, _ in msg.tlvs]), bearer)

    def _sim_config(self, msg, bearer, now):
        """SECURITY_CONFIG op 0x00 with SIM parameters (4.4.1.2, appendix B 6):
        E00D 0x00/0x01/0x02 unbind, bind, clear; E001/E003 (PIN1 in clear only by
        SMS, else inside E043): ACK, LOGOUT 0x0A, apply on the SIM after checking
        the old PIN, log in again, report success (0x4010) or raise the alarm."""
        from wmmp.terminal import simguard as SG
        ack = codec.Message(C.SECURITY_CONFIG_ACK, {"result": K.SEC_ACK_OK})
        if self.sim is None:
            ack.fields["result"] = K.SEC_ACK_UNSUPPORTED_TLV
            ack.tlvs = [(t, b"") for t, _ in msg.tlvs]
            self._respond(msg, ack, bearer)
            return
        pin = T.find(msg.tlvs, 0xE001)
        if pin is not None and bearer != P.BEARER_SMS and msg.encryption == codec.ENC_NONE:
            ack.fields["result"] = K.SEC_ACK_UNSUPPORTED_TLV
            ack.tlvs = [(0xE001, b"")]
            self._respond(msg, ack, bearer)
            return
        bind = T.find(msg.tlvs, 0xE00D)
        enable = T.find(msg.tlvs, 0xE003)
        if bind is None:
            self._sim_configured(msg, bearer, ack, pin, enable, None, None, now)
        elif bind in (b"\x00", b"\x01", b"\x02"):
            job = SG.unbind_job(self.params) if bind == b"\x00" else \
                SG.bind_job(self.params) if bind == b"\x01" else SG.clear_job(self.params)
            self._sim_run(job, lambda r, err, now2: self._sim_configured(msg, bearer, ack, pin, enable,
                                                                          r, err, now2),
                          (msg.command, msg.seq))
        else:
            ack.fields["result"] = K.SEC_ACK_SIM_DIGEST_ERROR
            self._respond(msg, ack, bearer)

    def _sim_configured(self, msg, bearer, ack, pin, enable, r, err, now):
        """E00D done (or none): commit, ACK, then E001/E003 after LOGOUT 0x0A."""
        from wmmp.terminal import simguard as SG
        if r is not None and err is None:
            try:
                self.params.commit()
            except WmmpError as e:
                err = e
        if err is not None:
            ack.fields["result"] = K.SEC_ACK_SIM_DIGEST_ERROR
            self._respond(msg, ack, bearer)
            return
        self._respond(msg, ack, bearer)
        if pin is None and enable is None:
            return
        seq = msg.seq

        def applied(r2, err2, now2):
            if err2 is None:
                self.params.commit()
                self._after_login.append([(0x4010, b"\x00" + struct.pack(">I", seq))])
                self._event("sim_pin_applied")
            else:
                self._event("sim_pin_failed", type(err2).__name__)
                self._after_login.append([(0x4010, b"\x02" + struct.pack(">I", seq))])
                self.raise_alarm(K.ALARM_SELF_TEST_FAULT, now2)
            self._login(now2)

        def apply_and_login(now2):
            self._sim_run(SG.apply_pin1_job(self.params, pin, enable), applied)
        if self.state == S_ONLINE:
            self.logout(K.LOGOUT_UPDATE_SIM_SECURITY, now, then=apply_and_login)
        else:
            apply_and_login(now)

    def _apply_new_secrets(self, tlvs, now):
        """Use the new secret for the next login; keep the old one to fall back to
        if that login is refused or its retries run out (4.4.3.1.3.3).  Nothing is
        written to storage until a login with the new secret succeeds."""
        self._fallback = self.params.snapshot([t for t, _ in tlvs])
        for t, v in tlvs:
            self.params.set(t, v)
        self._login(now)

    def _h_logout(self, msg, bearer, now):
        """G c: the platform ends the session; reason 0x08 -> log in again."""
        self._respond(msg, codec.Message(C.LOGOUT_ACK), bearer)
        self.session = None
        self._timers.pop("heartbeat", None)
        reason = msg.fields["reason"]
        self._event("logged_out", reason)
        if reason in (K.LOGOUT_SESSION_KEY_EXPIRED, K.LOGOUT_COMM_FAILURE, K.LOGOUT_FAULT_RELOGIN):
            self._login(now)
        else:
            self._set_state(S_IDLE)

    def _h_transparent(self, msg, bearer, now):
        """G j: check the CRC16 of the user data; 0x05 received, 0x06 CRC failed."""
        ud = msg.tlv(0x4007) or b""
        ok = crc.crc16(ud, self.profile.crc16) == msg.fields["crc16"]
        self._respond(msg, codec.Message(C.TRANSPARENT_DATA_ACK,
                                         {"result": K.TD_ACK_TERMINAL_OK if ok else K.TD_ACK_TERMINAL_CRC_ERROR}),
                      bearer)
        if ok:
            self._event("data", ud, msg.tlv(0x4013) or msg.tlv(0x4015))

    def _h_transparent_cmd(self, msg, bearer, now):
        self._respond(msg, codec.Message(C.TRANSPARENT_CMD_ACK, {"result": K.ACK_OK}), bearer)
        self._event("command", msg.tlv(0x4016), msg.tlv(0x4013) or msg.tlv(0x4015))

    def _h_download_info(self, msg, bearer, now):
        """G k: the over-the-air updater is not built yet: "protocol not supported"."""
        self._respond(msg, codec.Message(C.DOWNLOAD_INFO_ACK, {"result": K.DL_ACK_PROTOCOL_UNSUPPORTED}), bearer)


_HANDLERS = {
    C.CONFIG_GET: Terminal._h_config_get,
    C.CONFIG_SET: Terminal._h_config_set,
    C.REMOTE_CTRL: Terminal._h_remote_ctrl,
    C.SECURITY_CONFIG: Terminal._h_security_config,
    C.LOGOUT: Terminal._h_logout,
    C.TRANSPARENT_DATA: Terminal._h_transparent,
    C.TRANSPARENT_CMD: Terminal._h_transparent_cmd,
    C.DOWNLOAD_INFO: Terminal._h_download_info,
}
