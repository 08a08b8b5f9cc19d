"""Registration (And-link spec section 4.1; appendix 6.1-6.4; OMA LwM2M TS
1.0 sections 5.2, 5.3, 8.3): client-initiated Bootstrap, Register, Update
before the lifetime runs out, De-register, queue mode's awake window.  A flow
of andlink.client.core: functions over the client `c`.

* Bootstrap (4.1.1): when no server is known (first start), and after
  c.bs_after failed Registers (a Register fails once its CoAP
  retransmissions of section 3.4 ran out, or on a 4.xx/5.xx answer).  POST
  /bs?ep=IMEI (6.1), the Bootstrap-Server's writes and deletes (dm.py),
  its POST /bs Bootstrap-Finish (6.2): the server account (/0/x with
  /0/x/1 false, 4.1.3) and /1 are kept in the persistent record, then Register.
* Register (4.1.4, 6.3): POST /rd?ep=IMEI&lt=&lwm2m=&b= (&sms= when set)
  with the link-format payload; 2.01's Location-Path is the location.  The
  non-encrypted access of 3.5 authenticates by /3/0/17 and /3/0/1, which
  the platform reads during registration (4.1.5): the server's requests are
  answered from the moment the Register is sent.
* Update (6.4): due at lifetime - max(MAX_TRANSMIT_WAIT, lifetime / 10)
  (at least lifetime / 2); carries lt= and b= when they changed and the
  payload when objects or instances changed.  4.04 (or any failure) ->
  Register again (TS 1.0 5.3.2).
* Failures back off c.retry_first doubling to c.retry_max; a
  Bootstrap-then-Register cycle that fails again waits the same way.
"""

from andlink import coap as C
from andlink.client import (S_IDLE, S_BOOTSTRAPPING, S_REGISTERING, S_REGISTERED, S_DEREGISTERING,
                                 S_BACKOFF, parse_uri)


def init(c):
    c._reg_fail = 0             # failed Registers since the last success or Bootstrap
    c._cycles = 0               # Bootstrap cycles that ended in a failed registration again
    c._bs_fail = 0
    c._upd = 0                  # what the next Update carries: 1 lt, 2 b, 4 objects
    c._upd_tok = None
    c._upd_again = False
    _ensure_accounts(c)
    c.store.bind(1, 8, execute=lambda iid, args: c.defer(update))     # Registration Update Trigger
    c.store.bind(1, 4, execute=lambda iid, args: c.defer(disable))    # Disable


def _ensure_accounts(c):
    """/0/0 the Bootstrap-Server account (4.1.2), /0/1 the server's and /1/0
    (4.1.3), from the constructor, unless the store already has them."""
    s = c.store
    try:
        if c.bs_peer is not None and not _account(c, True):
            # PSK (2: 0) on coaps with bootstrap_psk, else NoSec (2: 3); identity the IMEI (4.1.2)
            s.add(0, _free(s, 0), _security(c.bs_peer, c.bs_psk, c.imei, {1: True}))
        if c.srv_peer is not None and not _account(c, False):
            s.add(0, _free(s, 0), _security(c.srv_peer, c.srv_psk, c.imei, {1: False, 10: 1}))
        if not s.instances(1):
            s.add(1, 0, {0: 1, 1: c.lifetime, 6: False, 7: c.binding})
        else:
            iid = s.instances(1)[0]
            s.set((1, iid, 1), c.lifetime)
            s.set((1, iid, 7), c.binding)
    except Exception as e:
        c.event("bad", "accounts: %r" % (e,))


def _security(peer, psk, imei, d):
    """A /0 instance for `peer`: coaps in PSK mode with psk = (identity, key), else coap NoSec."""
    host = peer[0] if ":" not in peer[0] else "[%s]" % peer[0]
    if psk:
        d.update({0: "coaps://%s:%d" % (host, peer[1]), 2: 0, 3: bytes(psk[0]), 5: bytes(psk[1])})
    else:
        d.update({0: "coap://%s:%d" % (host, peer[1]), 2: 3})
        if d[1]:
            d[3] = imei.encode()
    return d


def _free(s, oid):
    iids = s.instances(oid)
    i = 0
    while i in iids:
        i += 1
    return i


def _account(c, bs):
    """The iid of the Bootstrap-Server (bs) or server account in /0, or None."""
    s = c.store
    for iid in s.instances(0):
        try:
            if bool(s.get((0, iid, 1))) == bs:
                return iid
        except Exception:
            if not bs:
                return iid
    return None


def _server_from_store(c):
    """(peer, lifetime, binding) of the server account and /1, or None."""
    s = c.store
    iid = _account(c, False)
    if iid is None:
        return None
    try:
        scheme, host, port, _, _ = parse_uri(s.get((0, iid, 0)))
    except Exception:
        return None
    if scheme not in ("coap", "coaps"):
        return None
    lt, b = c.lifetime, c.binding
    for i in s.instances(1):
        try:
            lt = int(s.get((1, i, 1)))
        except Exception:
            pass
        try:
            b = s.get((1, i, 7))
        except Exception:
            pass
        break
    if lt <= 0:
        lt = c.lifetime
    if b not in ("U", "UQ"):
        b = c.binding
    return c.resolve(host, port), lt, b


def start(c, now):
    snap = c.state.get("b0"), c.state.get("b1")
    if snap[0] and snap[1]:
        try:
            from binascii import unhexlify
            from andlink.lwm2m.codes import TLV
            for oid, raw in ((0, snap[0]), (1, snap[1])):
                if c.store.write("/%d" % oid, TLV, unhexlify(raw), bootstrap=True) != 0x44:
                    raise ValueError("snapshot of /%d refused" % oid)
            srv = _server_from_store(c)
            if srv is not None:
                c.srv_peer, c.lifetime, c.binding = srv
        except Exception as e:
            c.event("bad", "bootstrap record: %r" % (e,))
    _server_written(c)
    missing = [p for p in c.store.missing() if p[:1] in ((3,),)]
    if missing:
        c.event("missing", missing)     # /3/0/1 and /3/0/17 authenticate (3.5)
    if c.srv_peer is None:
        bootstrap(c, now)
    else:
        register(c, now)


# == Bootstrap (4.1.1-4.1.3, 6.1, 6.2) ==========================================
def bootstrap(c, now):
    c.timer("register", None)
    c.timer("update", None)
    if c.bs_peer is None:
        c.event("bootstrap_failed", "no Bootstrap-Server")
        _back_off(c, now, c._reg_fail or 1)
        return
    c.reg_state = S_BOOTSTRAPPING
    c.location = None
    c.event("bootstrapping")
    m = C.Message(code=C.POST).set_path("/bs")
    m.add(C.URI_QUERY, "ep=" + c.imei)
    c.request(m, now, c.bs_peer, _bs_answer)
    c.timer("bootstrap", now + _bs_wait(c) * 2)


def _bs_wait(c):
    return c.bs_wait or c.p.max_transmit_wait


def _bs_answer(c, kind, val, now, tok):
    if c.reg_state != S_BOOTSTRAPPING:
        return
    if kind == "response" and val.code == C.CHANGED:
        c.timer("bootstrap", now + _bs_wait(c))     # the writes and the Finish follow
        return
    _bs_failed(c, now, kind == "response" and C.code_str(val.code) or val)


def bs_activity(c, now):
    """A Bootstrap-Server request came: it is still at work."""
    c.timer("bootstrap", now + _bs_wait(c))


def on_bootstrap_timer(c, now):
    if c.reg_state == S_BOOTSTRAPPING:
        _bs_failed(c, now, "no Bootstrap-Finish")
    else:
        bootstrap(c, now)


def _bs_failed(c, now, why):
    c._bs_fail += 1
    c.reg_state = S_BACKOFF
    c.event("bootstrap_failed", why)
    c.timer("bootstrap", now + _backoff_s(c, c._bs_fail))


def bootstrap_finish(c, now):
    """The Bootstrap-Finish (6.2): the 2.04 or 4.06 (no usable server account)."""
    srv = _server_from_store(c)
    if srv is None:
        return C.NOT_ACCEPTABLE
    c.srv_peer, c.lifetime, c.binding = srv
    c.timer("bootstrap", None)
    c._bs_fail = 0
    c._reg_fail = 0
    try:
        from binascii import hexlify
        from andlink.lwm2m.codes import TLV
        for oid in (0, 1):
            code, _, raw = c.store.read("/%d" % oid, TLV, bootstrap=True)
            c.state["b%d" % oid] = str(hexlify(raw), "ascii") if code == 0x45 else ""
        c.state["srv"] = "%s:%d" % (c.srv_peer[0], c.srv_peer[1])
        c.state.pop("lt", None)         # the server's own writes of /1 end with a new bootstrap
        c.state.pop("bm", None)
        c.save()
    except Exception as e:
        c.event("bad", "bootstrap record: %r" % (e,))
    c.event("bootstrapped", c.srv_peer)
    c.reg_state = S_IDLE
    c.defer(register)
    return C.CHANGED


# == Register (4.1.4, 6.3) ======================================================
def _queries(c, m, full):
    if full:
        m.add(C.URI_QUERY, "ep=" + c.imei)
    if full or c._upd & 1:
        m.add(C.URI_QUERY, "lt=%d" % c.lifetime)
    if full:
        m.add(C.URI_QUERY, "lwm2m=" + c.version)
    if c.sms and (full or c._upd & 2):
        m.add(C.URI_QUERY, "sms=" + c.sms)
    if full or c._upd & 2:
        m.add(C.URI_QUERY, "b=" + c.binding)


def register(c, now):
    c.timer("register", None)
    c.timer("update", None)
    if c.srv_peer is None:
        bootstrap(c, now)
        return
    if c._upd_tok is not None:
        c.forget(c._upd_tok)
        c._upd_tok = None
    c.reg_state = S_REGISTERING
    c.location = None
    c._upd = 0
    c.event("registering", c.srv_peer)
    c.on_registering()
    m = C.Message(code=C.POST).set_path("/rd")
    _queries(c, m, True)
    m.add(C.CONTENT_FORMAT, C.LINK_FORMAT)
    m.payload = c.store.register_payload()
    c.request(m, now, c.srv_peer, _reg_answer)


def _reg_answer(c, kind, val, now, tok):
    if c.reg_state != S_REGISTERING:
        return
    if kind == "response" and val.code == C.CREATED:
        loc = [s for s in val.strs(C.LOCATION_PATH) if s]
        if loc:
            c.location = "/" + "/".join(loc)
            c.reg_state = S_REGISTERED
            c._reg_fail = 0
            c._cycles = 0
            _arm_update(c, now)
            c.event("registered", c.location)
            c.on_registered(now)
            return
        why = "2.01 without Location-Path"
    else:
        why = C.code_str(val.code) if kind == "response" else val
    c._reg_fail += 1
    c.event("register_failed", why)
    if c.bs_peer is not None and c._reg_fail >= c.bs_after:
        c._reg_fail = 0
        c._cycles += 1
        if c._cycles == 1:
            bootstrap(c, now)
        else:                           # it failed again after a Bootstrap: wait first
            c.reg_state = S_BACKOFF
            c.timer("bootstrap", now + _backoff_s(c, c._cycles - 1))
        return
    _back_off(c, now, c._reg_fail)


def _backoff_s(c, n):
    s = c.retry_first << min(n - 1, 16)
    return s if s < c.retry_max else c.retry_max


def _back_off(c, now, n):
    c.reg_state = S_BACKOFF
    c.timer("register", now + _backoff_s(c, n))


def on_register_timer(c, now):
    if c.reg_state in (S_BACKOFF, S_IDLE):
        register(c, now)


def _arm_update(c, now):
    lt = c.lifetime
    margin = c.p.max_transmit_wait
    if lt // 10 > margin:
        margin = lt // 10
    if margin > lt / 2:
        margin = lt / 2
    c.timer("update", now + lt - margin)


# == Update (6.4) ===============================================================
def update(c, now):
    """An Update now (the lifetime is running out, something changed, or
    /1/0/8 was executed).  Before the registration it waits for it."""
    if c.reg_state != S_REGISTERED:
        return
    if c._upd_tok is not None:
        c._upd_again = True
        return
    m = C.Message(code=C.POST).set_path(c.location)
    _queries(c, m, False)
    if c._upd & 4:
        m.add(C.CONTENT_FORMAT, C.LINK_FORMAT)
        m.payload = c.store.register_payload()
    c._upd = 0
    c.timer("update", None)
    c._upd_tok = c.request(m, now, c.srv_peer, _upd_answer)


def _upd_answer(c, kind, val, now, tok):
    if tok != c._upd_tok:
        return
    c._upd_tok = None
    if c.reg_state != S_REGISTERED:
        return
    if kind == "response" and val.code == C.CHANGED:
        _arm_update(c, now)
        c.event("updated")
        if c._upd_again or c._upd:
            c._upd_again = False
            update(c, now)
        return
    why = C.code_str(val.code) if kind == "response" else val
    c.event("update_failed", why)
    register(c, now)                    # 4.04: the registration is gone; any failure: the same (TS 5.3.2)


def on_changed(c, path):
    """The store changed at `path`: what the next Update must carry."""
    if c.reg_state == S_BOOTSTRAPPING:
        return
    flag = 0
    if len(path) == 2 and path[0] not in c.store.hidden:
        flag = 4                        # an instance appeared or went
    elif len(path) >= 3 and path[0] == 1 and path[2] in (1, 7):
        try:
            v = c.store.get(path[:3])
        except Exception:
            return
        if path[2] == 1 and isinstance(v, int) and v > 0 and v != c.lifetime:
            c.lifetime = v
            flag = 1
        elif path[2] == 7 and v in ("U", "UQ") and v != c.binding:
            c.binding = v
            if v != "UQ" and c.asleep:
                c.asleep = False
            flag = 2
    if flag and c.reg_state == S_REGISTERED:
        c._upd |= flag
        c.timer("update", c._now)
        c.state["lt"] = c.lifetime      # a server's Write of /1/x/1 or /1/x/7 outlives a restart
        c.state["bm"] = c.binding
        c.save()


def _server_written(c):
    """Lifetime and binding the server wrote before a restart (kept in the record)."""
    lt, bm = c.state.get("lt"), c.state.get("bm")
    iids = c.store.instances(1)
    if not iids:
        return
    try:
        if isinstance(lt, int) and lt > 0:
            c.lifetime = lt
            c.store.set((1, iids[0], 1), lt)
        if bm in ("U", "UQ"):
            c.binding = bm
            c.store.set((1, iids[0], 7), bm)
    except Exception as e:
        c.event("bad", "server-written lifetime or binding: %r" % (e,))


# == De-register (6.4 DELETE) ===================================================
def deregister(c, now):
    for n in ("update", "register", "bootstrap"):
        c.timer(n, None)
    if c.reg_state != S_REGISTERED:
        c.reg_state = S_IDLE
        return False
    if c._upd_tok is not None:
        c.forget(c._upd_tok)
        c._upd_tok = None
    c.reg_state = S_DEREGISTERING
    m = C.Message(code=C.DELETE).set_path(c.location)
    c.request(m, now, c.srv_peer, _dereg_answer)
    return True


def _dereg_answer(c, kind, val, now, tok):
    if c.reg_state != S_DEREGISTERING:
        return
    c.reg_state = S_IDLE
    c.location = None
    c.event("deregistered", C.code_str(val.code) if kind == "response" else val)


def disable(c, now):
    """/1/x/4 Disable: De-register, Register again after /1/x/5 (default 86400 s)."""
    t = 86400
    for i in c.store.instances(1):
        try:
            t = int(c.store.get((1, i, 5)))
        except Exception:
            pass
        break
    deregister(c, now)
    c.timer("register", now + t)


# == queue mode (TS 1.0 8.3) ====================================================
def on_sleep_timer(c, now):
    if c.binding != "UQ":
        return
    if not c.idle() or c.reg_state in (S_BOOTSTRAPPING, S_REGISTERING, S_DEREGISTERING):
        c.timer("sleep", now + 1)       # still talking: the window ends once all is answered
        return
    c.asleep = True
    c.event("sleep")
