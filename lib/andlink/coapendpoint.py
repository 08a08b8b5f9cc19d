"""The sans-I/O CoAP endpoint (RFC 7252 4-5, Observe RFC 7641 4): bytes and
time in, bytes and events out, with the transmission parameters of And-link
spec section 3.4 (andlink.coap.Params).  No socket, no clock: the caller
feeds it.

    ep = Endpoint(handler=None, params=coap.ANDLINK, rng=None)
    ep.receive(data, now, peer=None)     a datagram from `peer`
    ep.tick(now)                         retransmit, give up, send empty ACKs
    ep.deadline()                        when tick() is next due (None: idle)
    ep.outgoing() -> [(bytes, peer)]     datagrams to send, in order
    ep.events() -> [(kind, token, value, peer)]
    ep.request(msg, now, peer=None, con=True) -> token
    ep.respond(req, resp, now)           answer a request (piggybacked or separate)
    ep.notify(peer, token, msg, now, con=False) -> mid   an Observe notification
    ep.cancel(token, peer=None)          forget a request of ours

Events (kind, token, value, peer):
    "response"  a response to our request; value the Message (an observed
                request of ours stays open for notifications until cancel())
    "acked"     an empty ACK for a CON of ours (a request: a separate
                response will follow; a notification or separate response:
                delivered); value None
    "failed"    a CON of ours or a request gave up; value "timeout" or "reset"
                (RST, also to a NON notification: RFC 7641 3.6)
    "request"   a request for us when there is no handler; value the Message:
                answer it with respond()
    "bad"       malformed input (a CON one was rejected with RST); value the
                reason; token None

`handler(req, now)` (optional) answers an incoming request: it returns the
response Message (sent piggybacked on the ACK) or None to answer later with
respond(); if no response comes within params.ack_delay the CON is acknowledged
with an empty ACK and the response goes separately (RFC 7252 5.2.2), as a CON
that is retransmitted.  An exception in it is answered 5.00 and reported "bad".

`now` is monotonic seconds (int or float).  `rng(n)` returns n random bytes
(default os.urandom): the first message ID and token and the retransmission
timeouts are drawn from it (And-link spec section 3.4).  Peers are whatever
the transport uses (an address tuple, None for the one server).
"""

from micropython import const

from andlink import coap as C

_WAIT_ACK = const(0)       # a CON of ours, not yet acknowledged
_WAIT_RESP = const(1)      # a request acknowledged (or NON), awaiting its response
_OBSERVING = const(2)      # a request with Observe 0 that had a response: notifications
_QUEUED = const(3)         # a CON held back: NSTART 1 (RFC 7252 4.7)

_CACHE = const(8)          # incoming message IDs remembered (RFC 7252 4.5)
_NON_RING = const(4)       # NON notifications remembered, for an RST to them
_HEADROOM = const(256)     # encode buffer beyond max_payload: header, token, options


def _default_rng(n):
    try:
        import os
        return os.urandom(n)
    except (ImportError, AttributeError, NotImplementedError):
        import random
        return bytes(random.getrandbits(8) for _ in range(n))


class _Txn:
    """One outstanding message of ours: a request, or a CON notification or
    separate response."""

    request = False
    observe = False
    timeout = 0
    retries = 0
    first = 0

    def __init__(self, peer, mid, token, raw, state, due):
        self.peer = peer
        self.mid = mid
        self.token = token
        self.raw = raw
        self.state = state
        self.due = due


class _Seen:
    """An incoming message ID (RFC 7252 4.5): the reply to repeat for a
    duplicate; ack_due is set while the application's response is awaited."""

    ack_due = None

    def __init__(self, peer, mid, con, expires, reply):
        self.peer = peer
        self.mid = mid
        self.con = con
        self.expires = expires
        self.reply = reply


class Endpoint:
    def __init__(self, handler=None, params=C.ANDLINK, rng=None, cache=_CACHE, views=False):
        """`views`: decode payloads and option values as memoryviews of the
        received data (no copies): valid only until the caller reuses its
        receive buffer, so drain events() before the next receive() and copy
        what a request answered later needs (its token is always a copy)."""
        self.handler = handler
        self.p = params
        self.rng = rng or _default_rng
        self.views = views
        self._cache_max = cache
        self._buf = bytearray(params.max_payload + _HEADROOM)
        r = self.rng(6)
        self._mid = (r[0] << 8) | r[1]
        self._tok = (r[2] << 24) | (r[3] << 16) | (r[4] << 8) | r[5]
        self._obs = 2                  # Observe sequence numbers (RFC 7641 4.4)
        self._txns = []
        self._seen = []
        self._non = []                 # [(peer, mid, token)] recent NON notifications
        self._out = []
        self._events = []
        self._now = 0

    # == inputs and outputs ====================================================
    def outgoing(self):
        """[(bytes, peer)] to send now, in order; () when there is nothing
        (no allocation for an idle poll)."""
        out = self._out
        if not out:
            return ()
        self._out = []
        return out

    def events(self):
        """[(kind, token, value, peer)] since the last call; () when none."""
        ev = self._events
        if not ev:
            return ()
        self._events = []
        return ev

    def deadline(self):
        d = None
        for t in self._txns:
            if t.state != _QUEUED and t.state != _OBSERVING and (d is None or t.due < d):
                d = t.due
        for s in self._seen:
            if s.ack_due is not None and (d is None or s.ack_due < d):
                d = s.ack_due
        return d

    def pending(self):
        """How many of our messages are outstanding (not observations)."""
        return sum(1 for t in self._txns if t.state != _OBSERVING)

    def tick(self, now):
        self._now = now
        txns = self._txns
        i = 0
        while i < len(txns):            # no copy: _fail() removes txns[i]
            t = txns[i]
            if t.state == _WAIT_ACK and now >= t.due:
                self._retransmit(t, now)
            elif t.state == _WAIT_RESP and now >= t.due:
                self._fail(t, "timeout")
            if i < len(txns) and txns[i] is t:
                i += 1
        for s in self._seen:
            if s.ack_due is not None and now >= s.ack_due:
                self._empty_ack(s)
        self._expire(now)

    # == sending ===================================================================
    def next_mid(self):
        self._mid = (self._mid + 1) & 0xFFFF
        return self._mid

    def next_token(self):
        """A fresh token: a counter from a random start (And-link spec section 3.4),
        params.token_length bytes."""
        self._tok = (self._tok + 1) & 0xFFFFFFFF
        n = self.p.token_length
        if n >= 4:
            return self._tok.to_bytes(4, "big") + bytes(self.rng(n - 4))
        return (self._tok & ((1 << (n << 3)) - 1)).to_bytes(n, "big")

    def observe_seq(self):
        """The next Observe value (RFC 7641 4.4: 24 bits, increasing); for the
        response to an Observe registration."""
        self._obs = (self._obs + 1) & 0xFFFFFF
        return self._obs

    def _encode(self, msg):
        if len(msg.payload) > self.p.max_payload:
            raise C.CoapError("payload of %d bytes over %d: use block-wise transfer (RFC 7959)"
                              % (len(msg.payload), self.p.max_payload))
        n = C.encode_into(msg, self._buf)
        return bytes(memoryview(self._buf)[:n])

    def _send(self, raw, peer):
        self._out.append((raw, peer))

    def _initial_timeout(self):
        """Random in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR] (RFC 7252 4.2)."""
        r = self.rng(2)
        frac = ((r[0] << 8) | r[1]) / 65535
        return self.p.ack_timeout * (1 + (self.p.ack_random_factor - 1) * frac)

    def _busy(self, peer):
        for t in self._txns:
            if t.state == _WAIT_ACK and t.peer == peer:
                return True
        return False

    def _start_con(self, t, now):
        """First transmission of a CON, or queue it behind the one in flight."""
        if self._busy(t.peer):
            t.state = _QUEUED
            return
        t.state = _WAIT_ACK
        t.first = now
        t.timeout = self._initial_timeout()
        t.due = now + t.timeout
        self._send(t.raw, t.peer)

    def _release(self, peer, now):
        """NSTART 1 (RFC 7252 4.7): the next queued CON to `peer` goes now."""
        if self._busy(peer):
            return
        for t in self._txns:
            if t.state == _QUEUED and t.peer == peer:
                self._start_con(t, now)
                return

    def request(self, msg, now, peer=None, con=True):
        """Send the request `msg` (code, options, payload: a token is drawn if
        it has none; its type and message ID are set); returns the token.  A
        CON is retransmitted (RFC 7252 4.2, And-link spec section 3.4); a NON
        is sent once (4.3).  The outcome comes as a "response" or "failed"
        event.  A token of ours given again (an Observe deregistration, RFC
        7641 3.6) ends the request it was for."""
        self._now = now
        msg.mtype = C.CON if con else C.NON
        msg.mid = self.next_mid()
        fresh = not len(msg.token)
        if fresh:
            msg.token = self.next_token()
        msg.peer = peer
        raw = self._encode(msg)
        tok = bytes(msg.token)
        if not fresh:
            self.cancel(tok, peer)
        t = _Txn(peer, msg.mid, tok, raw, _WAIT_RESP, now + self.p.response_timeout)
        t.request = True
        t.observe = msg.uint(C.OBSERVE) == 0
        self._txns.append(t)
        if con:
            self._start_con(t, now)
        else:
            self._send(raw, peer)
        return tok

    def cancel(self, token, peer=None):
        """Forget our request `token` (no event; a later response to it is
        rejected with RST, which also ends an observation: RFC 7641 3.6)."""
        for t in self._txns:
            if t.token == token and t.peer == peer:
                self._txns.remove(t)
                self._release(peer, self._now)
                return True
        return False

    def notify(self, peer, token, msg, now, con=False):
        """An Observe notification (RFC 7641 4.2) on the observation `token` of
        `peer`: `msg` (code, options, payload) gets the next Observe value, the
        token, the type and a message ID; returns the message ID.  A CON one
        while the last is still unacknowledged replaces it, keeping its timeout
        and retransmission count (RFC 7641 4.5.2)."""
        self._now = now
        msg.set(C.OBSERVE, self.observe_seq())
        msg.token = token
        msg.mtype = C.CON if con else C.NON
        msg.mid = self.next_mid()
        msg.peer = peer
        raw = self._encode(msg)
        if not con:
            self._non.append((peer, msg.mid, bytes(token)))
            if len(self._non) > _NON_RING:
                self._non.pop(0)
            self._send(raw, peer)
            return msg.mid
        for t in self._txns:
            if not t.request and t.token == token and t.peer == peer and t.state in (_WAIT_ACK, _QUEUED):
                t.mid = msg.mid
                t.raw = raw
                return msg.mid
        self._txns.append(_Txn(peer, msg.mid, bytes(token), raw, _QUEUED, now))
        self._start_con(self._txns[-1], now)
        return msg.mid

    def _retransmit(self, t, now):
        limit = t.first + self.p.max_transmit_wait
        if t.retries >= self.p.max_retransmit or now >= limit:
            self._fail(t, "timeout")
            return
        t.retries += 1
        t.timeout *= 2
        t.due = now + t.timeout
        if t.due > limit:
            t.due = limit          # MAX_TRANSMIT_WAIT cuts the schedule (And-link spec section 3.4)
        self._send(t.raw, t.peer)

    def _fail(self, t, why):
        self._txns.remove(t)
        self._events.append(("failed", t.token, why, t.peer))
        self._release(t.peer, self._now)

    # == answering ================================================================
    def respond(self, req, resp, now):
        """Answer the request `req` (as received) with `resp` (code, options,
        payload).  Before the empty ACK went: piggybacked on the ACK (RFC 7252
        5.2.1); after it: a separate CON response (5.2.2); to a NON request: a
        NON response (5.2.3).  The reply is kept for duplicates (4.5)."""
        self._now = now
        resp.token = req.token
        resp.peer = req.peer
        s = self._find_seen(req.peer, req.mid)
        if req.mtype == C.CON and s is not None and s.ack_due is not None:
            resp.mtype = C.ACK
            resp.mid = req.mid
            s.reply = self._encode(resp)
            s.ack_due = None
            self._send(s.reply, req.peer)
            return
        resp.mid = self.next_mid()
        resp.mtype = req.mtype          # CON: separate (5.2.2), NON: NON (5.2.3)
        raw = self._encode(resp)
        if s is not None:
            s.ack_due = None
        if req.mtype == C.CON:
            t = _Txn(req.peer, resp.mid, bytes(req.token), raw, _QUEUED, now)
            self._txns.append(t)
            self._start_con(t, now)
        else:
            self._send(raw, req.peer)

    def _empty_ack(self, s):
        s.ack_due = None
        s.reply = C.encode(C.Message(C.ACK, C.EMPTY, s.mid))
        self._send(s.reply, s.peer)

    def _reject(self, mid, peer):
        self._send(C.encode(C.Message(C.RST, C.EMPTY, mid)), peer)

    # == the duplicate cache (RFC 7252 4.5) ======================================
    def _find_seen(self, peer, mid):
        for s in self._seen:
            if s.mid == mid and s.peer == peer:
                return s
        return None

    def _expire(self, now):
        seen = self._seen
        i = 0
        while i < len(seen):
            if seen[i].expires <= now and seen[i].ack_due is None:
                seen.pop(i)
            else:
                i += 1

    def _remember(self, peer, mid, con, now, reply=None):
        if len(self._seen) >= self._cache_max:
            old = None
            for s in self._seen:
                if s.ack_due is None and (old is None or s.expires < old.expires):
                    old = s
            self._seen.remove(old if old is not None else self._seen[0])
        life = self.p.exchange_lifetime() if con else self.p.non_lifetime()
        s = _Seen(peer, mid, con, now + life, reply)
        self._seen.append(s)
        return s

    # == receiving ================================================================
    def receive(self, data, now, peer=None):
        """One datagram from `peer`.  Never raises on bad input."""
        self._now = now
        self._expire(now)
        try:
            msg = C.decode(data, self.views)
        except C.CoapError as e:
            if e.mtype == C.CON and e.mid is not None and not isinstance(e, C.BadVersion):
                self._reject(e.mid, peer)      # RFC 7252 4.2: a CON that cannot be processed
            self._events.append(("bad", None, str(e), peer))
            return
        msg.peer = peer
        if self.views:
            msg.token = bytes(msg.token)    # kept past the buffer's reuse (a deferred response)
        cls = msg.code >> 5
        if msg.code == C.EMPTY:
            self._on_empty(msg, now)
        elif cls == 0:
            if msg.mtype in (C.CON, C.NON):
                self._on_request(msg, now)
            else:
                self._events.append(("bad", None, "request code in an ACK or RST", peer))
        elif cls in (2, 4, 5):
            self._on_response(msg, now)
        else:
            if msg.mtype == C.CON:
                self._reject(msg.mid, peer)    # a reserved code class (RFC 7252 3, 4.2)
            self._events.append(("bad", None, "reserved code " + C.code_str(msg.code), peer))

    def _match_mid(self, peer, mid):
        for t in self._txns:
            if t.mid == mid and t.peer == peer and t.state == _WAIT_ACK:
                return t
        return None

    def _on_empty(self, msg, now):
        peer = msg.peer
        if msg.mtype == C.CON:
            self._reject(msg.mid, peer)        # a CoAP ping (RFC 7252 4.3)
            return
        if msg.mtype == C.NON:
            return
        t = self._match_mid(peer, msg.mid)
        if msg.mtype == C.ACK:
            if t is None:
                return
            if t.request:
                t.state = _WAIT_RESP
                t.due = now + self.p.response_timeout
            else:
                self._txns.remove(t)
            self._events.append(("acked", t.token, None, peer))
            self._release(peer, now)
            return
        # RST
        if t is not None:
            self._fail(t, "reset")
            return
        for n in self._non:
            if n[0] == peer and n[1] == msg.mid:
                self._non.remove(n)
                self._events.append(("failed", n[2], "reset", peer))
                return

    def _on_request(self, msg, now):
        peer = msg.peer
        s = self._find_seen(peer, msg.mid)
        if s is not None:
            if s.con:
                if s.ack_due is not None:
                    self._empty_ack(s)         # still working on it: acknowledge the copy
                elif s.reply is not None:
                    self._send(s.reply, peer)  # the same reply again (RFC 7252 4.5)
            return
        s = self._remember(peer, msg.mid, msg.mtype == C.CON, now)
        s.ack_due = now + self.p.ack_delay if msg.mtype == C.CON else None
        if self.handler is None:
            self._events.append(("request", bytes(msg.token), msg, peer))
            return
        try:
            resp = self.handler(msg, now)
            if resp is not None:
                self.respond(msg, resp, now)
        except Exception as e:
            self._events.append(("bad", bytes(msg.token), "handler: %r" % (e,), peer))
            self.respond(msg, C.Message(code=C.INTERNAL_SERVER_ERROR), now)

    def _on_response(self, msg, now):
        peer = msg.peer
        tok = bytes(msg.token)
        if msg.mtype == C.ACK:
            t = self._match_mid(peer, msg.mid)
            if t is None or not t.request or t.token != tok:
                return                          # late, duplicate or not ours
            self._answered(t, msg, now)
            return
        if msg.mtype == C.RST:
            self._events.append(("bad", None, "RST with a code", peer))
            return
        s = self._find_seen(peer, msg.mid)
        if s is not None:
            if s.con and s.reply is not None:
                self._send(s.reply, peer)       # the ACK again: it was lost
            return
        t = None
        for x in self._txns:
            if x.request and x.token == tok and x.peer == peer:
                t = x
                break
        if t is None:
            self._reject(msg.mid, peer)         # RFC 7252 5.3.2, RFC 7641 3.6
            return
        if msg.mtype == C.CON:
            s = self._remember(peer, msg.mid, True, now)
            self._empty_ack(s)
        else:
            self._remember(peer, msg.mid, False, now)
        self._answered(t, msg, now)

    def _answered(self, t, msg, now):
        was = t.state
        if t.observe and msg.code < C.BAD_REQUEST and msg.has(C.OBSERVE):
            t.state = _OBSERVING
        else:
            self._txns.remove(t)
        self._events.append(("response", t.token, msg, t.peer))
        if was == _WAIT_ACK:
            self._release(t.peer, now)
