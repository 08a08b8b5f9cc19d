"""The And-link LwM2M client's shared context (sans-I/O): the CoAP endpoint,
timers, the persistent record, events, queue mode's awake window and the
dispatch of responses to the flows (register, dm, report, fota: plain
functions over the client `c`, And-link spec sections 4.1-4.4).

    c = Client(store, imei, server=("10.0.0.1", 5683), bootstrap=None,
               lifetime=86400, binding="U", persist=None, stager=None,
               rng=None, params=coap.ANDLINK, sms=None, resolve=None,
               server_psk=None, bootstrap_psk=None)
    c.start(now)                         register (or bootstrap first)
    c.receive(data, now, peer)           a datagram; never raises on bad input
    c.tick(now)                          when now >= c.deadline()
    c.deadline() -> seconds or None
    c.outgoing() -> [(bytes, peer)]      datagrams to send, in order
    c.events() -> [(kind, ...)]          what happened (docs/ANDLINK.md, "Client")
    c.send(doc, now) -> token or None    Send to /dp (4.3.2)
    c.update(now), c.deregister(now)     Update now; De-register
    c.changed(path)                      a value read by a callback changed
    c.idle() -> True when nothing is outstanding (safe to sleep or restart)
    c.asleep                             queue mode: the awake window is over

`persist` has load() -> dict or None and save(dict): the bootstrap result,
the FOTA record; values are str or int (FlashPersist adapts a
wmmp.board.store.FlashStorage).  `resolve(host, port)` -> peer turns a URI's
host into the transport's peer (default: (host, port) as it is).  Peers are
what the transport uses: (host, port) tuples.  `server_psk` /
`bootstrap_psk` = (identity, key) bytes make that account coaps in PSK mode
(And-link spec 3.5; the flow andlink.client.secure runs DTLS for it).
"""

from andlink import coap as C
from andlink.coapendpoint import Endpoint
from andlink.client import S_IDLE, S_REGISTERED, STATE_NAMES, register, dm, report, secure

class FlashPersist:
    """The client's record over a wmmp.board.store.FlashStorage (values are
    bytes there): str and int values are kept as text, ints tagged "#"."""

    def __init__(self, storage):
        self.st = storage

    def load(self):
        d = self.st.load()
        if not d:
            return None
        out = {}
        for k in d:
            v = str(bytes(d[k]), "utf-8")
            out[k] = int(v[1:]) if v[:1] == "#" else v[1:]
        return out

    def save(self, d):
        out = {}
        for k in d:
            v = d[k]
            out[k] = (("#%d" % v) if isinstance(v, int) else ("=" + v)).encode()
        self.st.save(out)


class Client:
    TIMERS = {
        "bootstrap": register.on_bootstrap_timer,    # no Bootstrap-Finish in time / retry
        "register": register.on_register_timer,      # back-off over, or Disable Timeout
        "sleep": register.on_sleep_timer,            # queue mode: the awake window ends
        "update": register.update,                   # the lifetime is running out
    }
    retry_first = 30            # s: the first back-off after a failed registration (then doubling)
    retry_max = 3600            # s: the longest back-off
    bs_after = 1                # failed Registers (each after its CoAP retransmissions) before Bootstrap
    bs_wait = None              # s: the longest wait for the Bootstrap-Server's next message (max_transmit_wait)
    queue_window = None         # s: queue mode's awake time after an uplink (max_transmit_wait)
    con_notify = False          # every notification as a CON (object 5's always are)
    max_obs = 8                 # observations kept at once
    on_plain = None             # fn(direction, data, peer): the CoAP inside DTLS (andlink.client.secure)
    dtls_timeout = 9            # s: the first DTLS flight retransmission (RFC 7925 11), doubling to 60
    dtls_tries = 5              # DTLS flights sent at most

    def __init__(self, store, imei, server=None, bootstrap=None, lifetime=86400, binding="U", persist=None,
                 stager=None, rng=None, params=C.ANDLINK, sms=None, resolve=None, version="1.0",
                 server_psk=None, bootstrap_psk=None):
        if binding not in ("U", "UQ"):
            raise ValueError("binding is U or UQ")
        self.store = store
        self.imei = imei
        self.p = params
        self.ep = Endpoint(self._handle, params, rng)
        self.persist = persist
        self.stager = stager
        self.sms = sms
        self.version = version
        self.resolve = resolve or (lambda host, port: (host, port))
        self.srv_peer = server
        self.bs_peer = bootstrap
        self.srv_psk = server_psk
        self.bs_psk = bootstrap_psk
        self.lifetime = lifetime
        self.binding = binding
        self.reg_state = S_IDLE
        self.location = None
        self.asleep = False
        self._events = []
        self._timers = {}
        self._calls = {}           # token -> fn(c, kind, value, now, token), our requests
        self._blocks = []          # [(helper, fn(c, helper, now))] block-wise transfers
        self._later = []           # fn(c, now) to run once the current input is handled
        self._now = 0
        self.state = {}
        if persist is not None:
            try:
                self.state = persist.load() or {}
            except Exception as e:
                self.event("bad", "persistent record: %r" % (e,))
        secure.init(self)
        register.init(self)
        report.init(self)
        self._fota = None
        if stager is not None:
            from andlink.client import fota
            self._fota = fota
            fota.init(self)
        prev = store.changed
        store.changed = self._store_changed
        self._prev_changed = prev

    # == the board's calls ==================================================
    def start(self, now):
        self._now = now
        if self._fota is not None:
            self._fota.boot(self, now)
        register.start(self, now)
        self._settle(now)

    def receive(self, data, now, peer=None):
        """One datagram from `peer` (never raises on bad input)."""
        self._now = now
        try:
            for d in secure.receive(self, data, now, peer):
                self.ep.receive(d, now, peer)
        except MemoryError:
            raise
        except Exception as e:          # the endpoint does not raise; this is the last guard
            self.event("bad", "receive: %r" % (e,))
        self._settle(now)

    def tick(self, now):
        self._now = now
        self.ep.tick(now)
        secure.tick(self, now)
        self._pump(now)
        for name in sorted(n for n in self._timers if now >= self._timers[n]):
            if self._timers.pop(name, None) is not None:
                self.TIMERS[name](self, now)
        self._settle(now)

    def deadline(self):
        ds = [d for d in (self.ep.deadline(), report.next_due(self), secure.deadline(self)) if d is not None]
        ds += [self._timers[n] for n in self._timers]
        return min(ds) if ds else None

    def outgoing(self):
        out = self.ep.outgoing()
        if secure.secure(self):
            out = secure.outgoing(self, out)
        return out

    def events(self):
        ev = self._events
        if not ev:
            return ()
        self._events = []
        return ev

    def send(self, doc, now, path="/19/1/0"):
        """Send (4.3.2) the parameter document `doc` (text, or pairs/dict)
        to /dp; the token, or None when not registered."""
        self._now = now
        tok = report.send(self, doc, now, path)
        self._settle(now)
        return tok

    def update(self, now):
        self._now = now
        register.update(self, now)
        self._settle(now)

    def reregister(self, now):
        """Register again (the server lost the registration, or a new link:
        DTLS sessions start again too)."""
        secure.reset(self)
        register.register(self, now)

    def deregister(self, now):
        """De-register (6.4's DELETE of the location); False when not registered."""
        self._now = now
        ok = register.deregister(self, now)
        self._settle(now)
        return ok

    def changed(self, path):
        """A value the board reads through a callback changed: observations
        of it are checked at the next tick (deadline() says now)."""
        report.touch(self, path)

    def idle(self):
        return self.ep.pending() == 0 and not self._blocks and not self._later

    def fota_state(self):
        """(State /5/0/3, Update Result /5/0/5), or None without a stager."""
        return None if self._fota is None else self._fota.status(self)

    @property
    def registered(self):
        return self.reg_state == S_REGISTERED

    @property
    def state_name(self):
        return STATE_NAMES[self.reg_state]

    # == for the flows =======================================================
    def event(self, *ev):
        self._events.append(ev)

    def save(self):
        if self.persist is not None:
            try:
                self.persist.save(dict(self.state))
            except MemoryError:
                raise
            except Exception as e:      # a full flash: the client goes on, the board hears of it
                self.event("bad", "persistent record not saved: %r" % (e,))

    def defer(self, fn):
        """fn(c, now) once the current input is handled (a response already queued)."""
        self._later.append(fn)

    def request(self, msg, now, peer, fn, con=True):
        """Send the request `msg` to `peer` (Block1 when its payload is over
        the limit, RFC 7959); fn(c, kind, value, now, token) hears the outcome:
        ("response", Message) or ("failed", why).  Returns the token."""
        self.awake(now)
        if len(msg.payload) > self.p.max_payload:
            from andlink import coapblock as B
            up = B.Block1Upload(self.ep, msg, msg.payload, peer, con=con)
            tok = up.start(now)

            def done(c, h, now):
                if h.response is not None:
                    fn(c, "response", h.response, now, tok)
                else:
                    fn(c, "failed", h.error, now, tok)
            self._blocks.append((up, done))
            return tok
        tok = self.ep.request(msg, now, peer, con)
        self._calls[tok] = (fn, peer)
        return tok

    def forget(self, token):
        """Drop our request `token` (no outcome will be heard)."""
        call = self._calls.pop(token, None)
        if call is not None:
            self.ep.cancel(token, call[1])

    def transfer(self, helper, fn, now):
        """Start a coapblock helper (a Block2 download); fn(c, helper, now)
        when it is DONE or FAILED."""
        self.awake(now)
        helper.start(now)
        self._blocks.append((helper, fn))

    def drop_transfer(self, helper):
        for b in self._blocks:
            if b[0] is helper:
                self._blocks.remove(b)
                if helper.token is not None:
                    self.ep.cancel(helper.token, helper.peer)
                return

    def awake(self, now):
        """An uplink: queue mode's awake window (re)starts (TS 1.0 section 8.3)."""
        if self.binding != "UQ":
            return
        if self.asleep:
            self.asleep = False
            self.event("awake")
        self._timers["sleep"] = now + (self.queue_window or self.p.max_transmit_wait)

    def timer(self, name, due):
        if due is None:
            self._timers.pop(name, None)
        else:
            self._timers[name] = due

    def on_registering(self):
        """A Register goes out: the observations of the old registration end
        (TS 1.0 5.5); those the server makes from now on (the platform
        observes before its 2.01 arrives, 4.1.5) are the new registration's."""
        report.clear(self)

    def on_registered(self, now):
        if self._fota is not None:
            self._fota.on_registered(self, now)

    # == inside ==============================================================
    def _handle(self, req, now):
        return dm.handle(self, req, now)

    def _store_changed(self, path):
        if self._prev_changed is not None:
            self._prev_changed(path)
        register.on_changed(self, path)
        report.touch(self, path)
        if path and path[0] == 0:
            secure.accounts_changed(self)

    def _settle(self, now):
        self._pump(now)
        while self._later:
            later, self._later = self._later, []
            for fn in later:
                self._guard(fn, now)
            self._pump(now)
        report.check(self, now)
        self._pump(now)

    def _guard(self, fn, now, *a):
        try:
            fn(self, now, *a)
        except MemoryError:
            raise
        except Exception as e:          # a peer's odd message must not take the client down
            self.event("bad", "%r" % (e,))

    def _pump(self, now):
        ev = self.ep.events()
        while ev:
            for e in ev:
                if e[0] == "failed" and e[2] == "timeout" and self._sec:
                    secure.on_failed(self, e[3])
                self._guard(_dispatch, now, e)
            ev = self.ep.events()


def _dispatch(c, now, ev):
    kind, tok, val, peer = ev
    if kind == "bad":
        c.event("bad", val)
        return
    for b in c._blocks:
        if b[0].handle(ev, now):
            if b[0].state != 0:             # coapblock.RUNNING
                c._blocks.remove(b)
                b[1](c, b[0], now)
            return
    call = c._calls.get(tok)
    if call is not None and call[1] == peer:
        if kind == "acked":
            return                          # a separate response follows
        del c._calls[tok]
        call[0](c, kind, val, now, tok)
        return
    report.on_event(c, kind, tok, val, peer, now)
