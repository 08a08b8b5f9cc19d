"""Information reporting (And-link spec section 4.3; appendix 6.9-6.11; OMA
LwM2M TS 1.0 section 5.5; RFC 7641): observations and their notifications,
and Send to /dp (4.3.2).  A flow of andlink.client.core: functions over the
client `c`.

An observation is the server's GET with Observe 0 (dm.py): kept by (peer,
token) with its path, content format, the last value notified and when.
Whether a notification is due is the store's rule (Store.notify_due: pmin,
pmax, gt, lt, st of Write-Attributes, the Server's default periods); a
value changed through the store (Store.set, a Write) or announced by
c.changed(path) is looked at again at once, anything else at the wait the
rule returned.  Notifications are NON (6.11.4's example), those of object 5
(the FOTA flow: 4.3.1.2, 4.4) CON, all CON with c.con_notify.  An
observation ends on Observe 1 or a GET without Observe on its token (dm.py),
an RST to a notification, a CON notification that timed out (RFC 7641
4.5), a new registration, and when its target is gone (a 4.04
notification).  At most c.max_obs at once: past that the GET is answered as
a plain Read (RFC 7641 4.1).

Send: POST /dp?ep=IMEI, SenML JSON, [{"n":"/19/1/0","vs":{...}}]
(senml.send_payload); 2.04 -> ("sent", token), anything else ->
("send_failed", token, why); 4.04 (not registered, 4.3.2) also registers again.
"""

from andlink import coap as C
from andlink.client import S_REGISTERED
from andlink.lwm2m.path import fmt, under


class _Obs:
    def __init__(self, peer, token, path, accept, last, at, due):
        self.peer = peer
        self.token = token
        self.path = path
        self.accept = accept
        self.last = last
        self.at = at
        self.due = due


def init(c):
    c._obs = []


def observe(c, req, path, accept, now):
    """The response to an Observe registration (dm.py)."""
    rc, cf, payload = c.store.read(path, accept)
    resp = C.Message(code=rc, payload=payload)
    if cf is not None:
        resp.add(C.CONTENT_FORMAT, cf)
    if rc != C.CONTENT or not path:
        return resp
    tok = bytes(req.token)
    o = _find(c, req.peer, tok)
    if o is None and len(c._obs) >= c.max_obs:
        return resp                     # RFC 7641 4.1: answered as a plain GET
    _, value = c.store.notify_due(path, None, now, now)
    if o is None:
        o = _Obs(req.peer, tok, path, accept, value, now, None)
        c._obs.append(o)
        c.event("observe", fmt(path))
    else:                               # the same token again: it replaces the old entry
        o.path, o.accept, o.last, o.at = path, accept, value, now
    _arm(c, o, now)
    resp.add(C.OBSERVE, c.ep.observe_seq())
    return resp


def _find(c, peer, token):
    for o in c._obs:
        if o.token == token and o.peer == peer:
            return o
    return None


def cancel(c, peer, token, path=None):
    """Cancel the observation of `peer` with `token` (or, given `path`, one
    on that path: 6.10's Cancel may come with a new token); True if one went."""
    o = _find(c, peer, bytes(token))
    if o is None and path is not None:
        for x in c._obs:
            if x.peer == peer and x.path == path:
                o = x
                break
    if o is None:
        return False
    c._obs.remove(o)
    c.event("cancel", fmt(o.path), "server")
    return True


def clear(c):
    """A new registration or a de-registration: observations end (TS 1.0 5.5)."""
    c._obs = []


def touch(c, path):
    """The value at `path` changed: observations over or under it are due now."""
    for o in c._obs:
        if under(path, o.path) or under(o.path, path):
            o.due = 0


def next_due(c):
    d = None
    for o in c._obs:
        if o.due is not None and (d is None or o.due < d):
            d = o.due
    return d


def _arm(c, o, now):
    wait, _ = c.store.notify_due(o.path, o.last, o.at, now)
    o.due = now + wait if wait > 0 else (now if wait == 0 else None)


def check(c, now):
    """Notify what is due (after each input and tick)."""
    for o in list(c._obs):
        if o.due is None or now < o.due:
            continue
        wait, value = c.store.notify_due(o.path, o.last, o.at, now)
        if wait < 0 and value is None:          # the target is gone: 4.04 ends it
            _send(c, o, C.Message(code=C.NOT_FOUND), now)
            c._obs.remove(o)
            c.event("cancel", fmt(o.path), "gone")
            continue
        if wait == 0:
            rc, cf, payload = c.store.read(o.path, o.accept)
            m = C.Message(code=rc, payload=payload)
            if cf is not None:
                m.add(C.CONTENT_FORMAT, cf)
            if rc == C.CONTENT and len(payload) > c.p.max_payload:
                from andlink.coapblock import serve_block2
                m = serve_block2(C.Message(), m, payload, c.p)     # block 0; the rest by GET
            _send(c, o, m, now)
            c.event("notify", fmt(o.path))
            o.last, o.at = value, now
            if rc != C.CONTENT:
                c._obs.remove(o)
                continue
            wait, _ = c.store.notify_due(o.path, o.last, o.at, now)
        o.due = now + wait if wait > 0 else None


def _send(c, o, m, now):
    c.awake(now)
    con = c.con_notify or o.path[0] == 5
    c.ep.notify(o.peer, o.token, m, now, con)


def on_event(c, kind, tok, val, peer, now):
    """An endpoint event that no request of ours claimed: a notification's."""
    if kind != "failed" or tok is None:
        return
    o = _find(c, peer, bytes(tok))
    if o is not None:
        c._obs.remove(o)
        c.event("cancel", fmt(o.path), val)     # RST (RFC 7641 3.6) or a CON given up (4.5)


# == Send (4.3.2) ================================================================
def send(c, doc, now, path="/19/1/0"):
    if c.reg_state != S_REGISTERED:
        return None
    from andlink.lwm2m import senml
    m = C.Message(code=C.POST).set_path("/dp")
    m.add(C.URI_QUERY, "ep=" + c.imei)
    m.add(C.CONTENT_FORMAT, C.SENML_JSON)
    m.payload = senml.send_payload(doc, path)
    return c.request(m, now, c.srv_peer, _sent)


def _sent(c, kind, val, now, tok):
    if kind == "response" and val.code == C.CHANGED:
        c.event("sent", tok)
        return
    why = C.code_str(val.code) if kind == "response" else val
    c.event("send_failed", tok, why)
    if kind == "response" and val.code == C.NOT_FOUND and c.reg_state == S_REGISTERED:
        c.defer(_reregister)


def _reregister(c, now):
    c.reregister(now)
