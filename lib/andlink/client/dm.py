"""Device management: the server's requests to the client (And-link spec
sections 3.3, 4.2 and appendix 6.5-6.10; OMA LwM2M TS 1.0 sections 5.4,
5.5) dispatched to the object store, and the Bootstrap-Server's (4.1.3,
6.2).  A flow of andlink.client.core: handle(c, req, now) is the endpoint's
handler and returns the response.

    GET                 Read (Accept honoured, /19/x/0?p=name: 4.2.2.2)
    GET Accept 40       Discover
    GET Observe 0 / 1   Observe / Cancel Observation (report.py); a GET
                        without Observe on an observation's token cancels it
    PUT ?pmin=...       Write-Attributes (a PUT with a query and no payload, 6.7.4)
    PUT                 Write (replace); POST on /O/I: Write (partial update)
    POST /O/I/R         Execute;  POST /O: Create (2.01, Location-Path /O/I)
    DELETE /O/I         Delete
Reads larger than the payload limit go block-wise (RFC 7959 Block2).  A
request is answered only from the server the client registers with, once
the Register has been sent (4.2.1.1: ignored before: 4.01 here), and from
the Bootstrap-Server while bootstrapping (PUT: Bootstrap-Write, DELETE:
Bootstrap-Delete, POST /bs: Bootstrap-Finish); from anyone else 4.01.
"""

from andlink import coap as C
from andlink.client import S_BOOTSTRAPPING, S_REGISTERING, S_REGISTERED, S_DEREGISTERING
from andlink.client import register, report
from andlink.lwm2m.path import from_segments, fmt

_ATTRS = ("pmin", "pmax", "gt", "lt", "st")
_OPS = ("read", "discover", "observe", "cancel", "write-attributes", "write", "execute", "create", "delete")


def _reply(code, cf=None, payload=b""):
    m = C.Message(code=code, payload=payload)
    if cf is not None:
        m.add(C.CONTENT_FORMAT, cf)
    return m


def handle(c, req, now):
    peer = req.peer
    if c.reg_state == S_BOOTSTRAPPING and peer == c.bs_peer:
        return _bootstrap(c, req, now)
    if peer != c.srv_peer or c.reg_state not in (S_REGISTERING, S_REGISTERED, S_DEREGISTERING):
        c.event("op", "refused", None, "4.01")
        return _reply(C.UNAUTHORIZED)
    c.awake(now)
    try:
        path = from_segments(req.strs(C.URI_PATH))
        queries = req.queries
        accept = req.uint(C.ACCEPT)
        cf = req.uint(C.CONTENT_FORMAT)
        obs = req.uint(C.OBSERVE)
    except Exception:
        c.event("op", "bad", None, "4.00")
        return _reply(C.BAD_REQUEST)
    if req.has(C.BLOCK1):
        # no write here needs more than one message (the Package resource is Pull only)
        return _reply(C.REQUEST_ENTITY_TOO_LARGE).set(C.SIZE1, c.p.max_payload)
    code = req.code
    s = c.store
    op = None
    resp = None
    if code == C.GET:
        if accept == C.LINK_FORMAT and obs is None:
            op = 1
            rc, payload = s.discover(path)
            resp = _reply(rc, C.LINK_FORMAT if rc == C.CONTENT else None, payload)
        elif obs == 0:
            op = 2
            # attributes in the Observe's own query (And-link spec 4.4.2: GET
            # /5/0/3?pmax=10 with Observe 0) are written first, as Write-Attributes
            attrs = [q for q in queries if q.split("=", 1)[0] in _ATTRS]
            rc = s.write_attributes(path, attrs) if attrs else C.CHANGED
            resp = report.observe(c, req, path, accept, now) if rc == C.CHANGED else _reply(rc)
        else:
            op = 3 if report.cancel(c, peer, req.token, path if obs == 1 else None) else 0
            p = None
            for q in queries:
                if q.startswith("p="):
                    p = q[2:]
            rc, rcf, payload = s.read(path, accept, p)
            resp = _reply(rc, rcf, payload)
        if resp.code == C.CONTENT and (len(resp.payload) > c.p.max_payload or req.has(C.BLOCK2)):
            from andlink.coapblock import serve_block2
            resp = serve_block2(req, resp, resp.payload, c.p)
    elif code == C.PUT:
        if queries and not len(req.payload):
            op = 4
            resp = _reply(s.write_attributes(path, queries))
            report.touch(c, path)       # the rule changed: look again
        else:
            op = 5
            resp = _reply(s.write(path, cf, req.payload, True))
    elif code == C.POST:
        if len(path) == 3:
            op = 6
            resp = _reply(s.execute(path, req.payload))
        elif len(path) == 1:
            op = 7
            rc, iid = s.create(path, cf, req.payload)
            resp = _reply(rc)
            if iid is not None:
                resp.set_path("/%d/%d" % (path[0], iid), C.LOCATION_PATH)
        elif len(path) == 2:
            op = 5
            resp = _reply(s.write(path, cf, req.payload, False))
        else:
            resp = _reply(C.METHOD_NOT_ALLOWED)
    elif code == C.DELETE:
        op = 8
        resp = _reply(s.delete(path))
    else:
        resp = _reply(C.METHOD_NOT_ALLOWED)
    c.event("op", _OPS[op] if op is not None else "?", fmt(path), C.code_str(resp.code))
    return resp


# == the Bootstrap-Server (4.1.3, 6.2; TS 1.0 5.2.7) ============================
def _bootstrap(c, req, now):
    register.bs_activity(c, now)
    s = c.store
    try:
        segs = req.strs(C.URI_PATH)
        if req.code == C.POST and segs == ["bs"]:
            rc = register.bootstrap_finish(c, now)
            c.event("op", "bootstrap-finish", "/bs", C.code_str(rc))
            return _reply(rc)
        path = from_segments(segs)
        cf = req.uint(C.CONTENT_FORMAT)
    except Exception:
        return _reply(C.BAD_REQUEST)
    if req.code == C.PUT or req.code == C.POST:
        rc = s.write(path, cf, req.payload, True, bootstrap=True) if path else C.BAD_REQUEST
        name = "bootstrap-write"
    elif req.code == C.DELETE:
        rc = _bs_delete(c, path)
        name = "bootstrap-delete"
    else:
        rc = C.METHOD_NOT_ALLOWED
        name = "bootstrap-?"
    c.event("op", name, fmt(path), C.code_str(rc))
    return _reply(rc)


def _bs_delete(c, path):
    """Bootstrap-Delete: "/" and /0 keep the Bootstrap-Server account; "/"
    deletes the accounts (/0, /1) only, not the device's own objects."""
    s = c.store
    if len(path) > 2:
        return C.BAD_REQUEST
    if not path or path == (0,) or path == (1,):
        for oid in ((0, 1) if not path else path):
            for iid in s.instances(oid):
                if oid == 0 and _is_bs(s, iid):
                    continue
                s.delete((oid, iid), bootstrap=True)
        return C.DELETED
    if path[0] == 0 and len(path) == 2 and _is_bs(s, path[1]):
        return C.BAD_REQUEST
    return s.delete(path, bootstrap=True)


def _is_bs(s, iid):
    try:
        return bool(s.get((0, iid, 1)))
    except Exception:
        return False
