"""DTLS for the client's coaps peers (And-link spec section 3.5; OMA LwM2M TS
1.0 7.1): a flow of andlink.client.core, functions over the client `c`.

A peer is secure when a /0 account's LwM2M Server URI /0/x/0 is coaps://
and resolves to it; the account must be in PSK mode (/0/x/2 = 0) with the
identity /0/x/3 (the IMEI, 3.5) and the key /0/x/5; a server account
written by the Bootstrap-Server without them reuses the Bootstrap-Server
account's (4.1.3).  The CoAP datagrams to that peer go through an
andlink.dtls.session.Session, started at the first one (the handshake runs
first; what the endpoint sends meanwhile waits in the session's small
queue, and CoAP's retransmissions make up for what it drops); the datagrams
from it are decrypted before the endpoint sees them.

A session is dropped (the next datagram starts a new handshake) when its
handshake fails, when a CoAP exchange with the peer times out (the server
may have lost the session: RFC 6347 4.2.8's new handshake is the only way
back) and when the link is opened again (a new address: reset()).  A new
session offers the last one's id: a server that kept it resumes it with the
abbreviated handshake (a round trip less, no key exchange; RFC 5246 7.3).

Events: ("dtls", peer, "connected", suite), ("dtls", peer, "resumed",
suite), ("dtls", peer, "failed", why).  A coaps account without a PSK
cannot be reached: its datagrams are dropped with ("dtls", peer, "failed",
why) once per attempt.  c.on_plain(direction, data, peer) (None by default;
"->" or "<-") sees the CoAP inside the sessions, for a transcript.
"""

from andlink.client import parse_uri


def init(c):
    c._sec = {}             # peer -> Session
    c._secmap = None        # peer -> (identity, key) or why not, from /0; None: to be read
    c._resume = {}          # peer -> what resuming its last session takes (Session.resumable())


def reset(c):
    """Forget every session (a new link: a new handshake at the next datagram)."""
    for s in c._sec.values():
        s.close()
    c._sec = {}


def accounts_changed(c):
    """/0 changed (a Bootstrap write): read it again at the next datagram.
    Running sessions stay: the Bootstrap-Server's carries its own writes."""
    c._secmap = None
    c._resume = {}


def _map(c):
    if c._secmap is None:
        m = {}
        s = c.store
        for iid in s.instances(0):
            try:
                scheme, host, port, _, _ = parse_uri(s.get((0, iid, 0)))
            except Exception:
                continue
            if scheme != "coaps":
                continue
            try:
                peer = c.resolve(host, port)
            except Exception as e:
                c.event("bad", "coaps account /0/%d: %r" % (iid, e))
                continue
            m[peer] = _credentials(s, iid, _bs_account(s, iid))
        c._secmap = m
    return c._secmap


def _get(s, iid, rid):
    try:
        v = s.get((0, iid, rid))
    except Exception:
        return None
    return None if v is None or v == b"" or v == "" else v


def _bs_account(s, iid):
    """The Bootstrap-Server account, when /0/iid is a server account."""
    if _get(s, iid, 1):
        return None
    for i in s.instances(0):
        if _get(s, i, 1):
            return i
    return None


def _credentials(s, iid, bs):
    """(identity, key) of a coaps account, or why not.  A server account
    without its own Security Mode, identity or key reuses the Bootstrap-
    Server account's (And-link spec 4.1.3: they are not written separately)."""
    mode, ident, key = _get(s, iid, 2), _get(s, iid, 3), _get(s, iid, 5)
    if bs is not None and (ident is None or key is None):
        mode, ident, key = _get(s, bs, 2), _get(s, bs, 3), _get(s, bs, 5)
    if mode != 0:
        return "coaps account /0/%d: Security Mode %r, not PSK (0)" % (iid, mode)
    if ident is None or key is None:
        return "coaps account /0/%d: no PSK identity or key" % iid
    return bytes(ident), bytes(key)


def secure(c):
    return bool(c._sec) or bool(_map(c))


def _session(c, peer, now):
    s = c._sec.get(peer)
    if s is not None:
        return s
    cred = _map(c).get(peer)
    if cred is None:
        return None
    if isinstance(cred, str):
        return cred
    from andlink.dtls.session import Session
    s = Session(cred[0], cred[1], rng=c.ep.rng, timeout=c.dtls_timeout, tries=c.dtls_tries,
                resume=c._resume.get(peer))
    c._sec[peer] = s
    s.start(now)
    return s


def outgoing(c, out):
    """The endpoint's datagrams with those to coaps peers sealed (or queued
    behind their handshake), plus the sessions' own records."""
    res = []
    now = c._now
    for d, peer in out:
        s = _session(c, peer, now)
        if s is None:
            res.append((d, peer))
        elif isinstance(s, str):
            c.event("dtls", peer, "failed", s)
        else:
            if c.on_plain is not None:
                c.on_plain("->", d, peer)
            s.send(d, now)
    for peer in list(c._sec):
        s = c._sec[peer]
        for d in s.outgoing():
            res.append((d, peer))
        _events(c, peer, s)
    return res


def receive(c, data, now, peer):
    """The plaintext of a datagram from `peer` for the endpoint: [data] from
    a plain peer, what the session opened from a secure one."""
    s = c._sec.get(peer)
    if s is None:
        if peer in _map(c):
            return ()                   # no session: a stray record (or plain CoAP) from a coaps peer
        return (data,)
    app = s.receive(data, now)
    _events(c, peer, s)
    if c.on_plain is not None:
        for p in app:
            c.on_plain("<-", p, peer)
    return app


def _events(c, peer, s):
    for ev in s.events():
        if ev[0] == "connected":
            c.event("dtls", peer, "resumed" if s.resumed else "connected", ev[1])
            r = s.resumable()
            if r is not None:
                c._resume[peer] = r
        else:
            c._resume.pop(peer, None)
            c.event("dtls", peer, "failed" if ev[0] == "failed" else "closed", ev[1] if len(ev) > 1 else "")
            if c._sec.get(peer) is s:
                del c._sec[peer]


def deadline(c):
    d = None
    for s in c._sec.values():
        x = s.deadline()
        if x is not None and (d is None or x < d):
            d = x
    return d


def tick(c, now):
    for peer in list(c._sec):
        c._sec[peer].tick(now)


def on_failed(c, peer):
    """A CoAP exchange with `peer` timed out: its session may be gone on the server's side."""
    s = c._sec.pop(peer, None)
    if s is not None:
        c.event("dtls", peer, "failed", "a CoAP exchange timed out: a new handshake next")
