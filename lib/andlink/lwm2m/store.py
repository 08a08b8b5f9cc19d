"""The object store: instances and resource values, and the data side of the
LwM2M operations of And-link spec section 3.3 (Read, Write,
Write-Attributes, Execute, Discover, Create, Delete; OMA LwM2M TS 1.1
section 5.4, TS 1.0 section 5.4), results as CoAP response codes.  No I/O,
no CoAP: the client flows feed it paths, content formats and payloads.

The board (or an OEM) fills it:

    s = Store()                                   # the And-link objects
    s.add(3, 0, {0: "ACME", 1: TOKEN, 17: TYPE, 16: "U", 11: {0: 0}})
    s.bind(3, 9, read=lambda iid: battery())       # a value read from hardware
    s.bind(3, 4, execute=lambda iid, args: reboot())
    s.bind(19, 0, read=lambda iid, p: params(p), write=lambda iid, doc: apply(doc))
    s.set((4, 0, 8), cell_id)                      # a stored value changes

Callbacks: read fn(iid) -> value (a dict {riid: value} or a list for a
multiple resource; None: absent), and fn(iid, p) for a JSON resource, p the
And-link ?p= parameter name or None (section 4.2.2.2); write fn(iid, value)
and execute fn(iid, args) (args [(digit, value or None)], TS 1.1 section
5.4.5) return None or a CoAP code (2.04: done; 4.xx: refused).  The value
is also stored on a write.  `changed` (fn(path)) hears every value change.

Decisions (docs/ANDLINK.md, "Data model"): a Write on /O/I, PUT or POST,
updates only the resources it carries (section 6.6.4 writes /3/0 by PUT with
two resources); `replace` matters for a multiple resource, which PUT
replaces and POST merges.  Object 0 is hidden from the server (4.01) and a
Write on /O is refused (4.05), except with bootstrap=True (the Bootstrap
Write of 4.1.3, and a snapshot of /0 and /1 for persistence by
read(..., bootstrap=True)).  Delete is refused on single-instance objects
and on object 1 (4.05).  The registration payload omits object 0.
"""

from andlink.lwm2m.codes import (Lwm2mError, NotFound, DecodeError, CREATED, DELETED, CHANGED, CONTENT,
                                 BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, METHOD_NOT_ALLOWED, INTERNAL_SERVER_ERROR,
                                 TLV, R, W, E, MULTI, MAND, rtype, T_NONE, T_STRING, T_INT, T_UINT,
                                 T_FLOAT, T_BOOL, T_OPAQUE, T_TIME, T_OBJLNK, T_CORELNK, T_JSON)
from andlink.lwm2m import objects as O
from andlink.lwm2m import attrs as A
from andlink.lwm2m.path import coerce

_NUMERIC = (T_INT, T_UINT, T_FLOAT, T_TIME)


def check_value(typ, v):
    """`v` as a value of type `typ` (bytes for opaque, str for strings...);
    DecodeError if it is not one."""
    if typ == T_STRING or typ == T_CORELNK or typ == T_JSON:
        if isinstance(v, (bytes, bytearray, memoryview)):
            v = str(bytes(v), "utf-8")
        if isinstance(v, str):
            return v
    elif typ == T_INT or typ == T_TIME or typ == T_UINT:
        if isinstance(v, int) and not isinstance(v, bool):
            if (0 if typ == T_UINT else -(1 << 63)) <= v < (1 << 64 if typ == T_UINT else 1 << 63):
                return v
    elif typ == T_FLOAT:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    elif typ == T_BOOL:
        if isinstance(v, bool):
            return v
    elif typ == T_OPAQUE:
        if isinstance(v, (bytes, bytearray, memoryview)):
            return bytes(v)
        if isinstance(v, str):
            return v.encode()
    elif typ == T_OBJLNK:
        if isinstance(v, tuple) and len(v) == 2 and 0 <= v[0] <= 65535 and 0 <= v[1] <= 65535:
            return v
    raise DecodeError("%r is not of type %d" % (v, typ))


def _key(oid, rid):
    return oid << 16 | rid


class Store:
    """Object definitions, instances, values, callbacks and attributes."""

    def __init__(self, defs=None, version="1.0"):
        if defs is None:
            from andlink.lwm2m.objdefs import ANDLINK
            defs = ANDLINK
        self._defs = {}
        for od in defs:
            self._defs[od[0]] = od
        self._data = {}          # oid -> {iid -> {rid -> value}}
        self._cb = {}            # oid << 16 | rid -> [read, write, execute]
        self._hooks = {}         # oid -> (create, delete)
        self.attrs = {}          # path -> [pmin, pmax, gt, lt, st]
        self.hidden = (0,)
        self.version = version   # the LwM2M version spoken: "1.1" adds ver= links
        self.changed = None

    # ---- the board's side

    def define(self, od):
        """Add or replace an object definition (an OEM's object, an extended one)."""
        self._defs[od[0]] = od

    def definition(self, oid):
        od = self._defs.get(oid)
        if od is None:
            raise NotFound("no object %d" % oid)
        return od

    def add(self, oid, iid=0, values=None):
        """Create instance /oid/iid with `values` {rid: value}."""
        od = self.definition(oid)
        insts = self._data.setdefault(oid, {})
        if iid in insts or (insts and not od[1] & MULTI):
            raise DecodeError("instance /%d/%d cannot be added" % (oid, iid))
        insts[iid] = {}
        try:
            for rid, v in (values or {}).items():
                self.set((oid, iid, rid), v)
        except Exception:
            del insts[iid]              # all or nothing
            raise
        self._tell((oid, iid))

    def remove(self, oid, iid):
        insts = self._data.get(oid)
        if not insts or iid not in insts:
            raise NotFound("no instance /%d/%d" % (oid, iid))
        del insts[iid]
        A.forget(self.attrs, (oid, iid))
        self._tell((oid, iid))

    def instances(self, oid):
        return sorted(self._data.get(oid, ()))

    def _flags(self, path):
        f = O.rflags(self.definition(path[0]), path[2])
        if f < 0:
            raise NotFound("no resource /%d/%d/%d" % path[:3])
        return f

    def _inst(self, oid, iid):
        insts = self._data.get(oid)
        if not insts or iid not in insts:
            raise NotFound("no instance /%d/%d" % (oid, iid))
        return insts[iid]

    def set(self, path, value):
        """Store a resource value (a dict {riid: value} or list for a multiple
        resource; a 4-element path sets one resource instance).  True if it
        changed."""
        path = coerce(path)
        if len(path) < 3:
            raise NotFound("not a resource path")
        f = self._flags(path)
        t = rtype(f)
        if t == T_NONE:
            raise DecodeError("an executable resource holds no value")
        inst = self._inst(path[0], path[1])
        rid = path[2]
        if len(path) == 4:
            if not f & MULTI:
                raise NotFound("resource is single")
            d = dict(inst.get(rid) or {})
            d[path[3]] = check_value(t, value)
            value = d
        elif f & MULTI:
            if isinstance(value, (list, tuple)):
                value = dict(enumerate(value))
            if not isinstance(value, dict):
                raise DecodeError("a multiple resource takes a dict")
            d = {}
            for k, x in value.items():
                if not isinstance(k, int) or not 0 <= k <= 65534:
                    raise DecodeError("resource instance ID %r" % (k,))
                d[k] = check_value(t, x)
            value = d
        else:
            value = check_value(t, value)
        old = inst.get(rid)
        inst[rid] = value
        if old != value:
            self._tell(path[:3])
            return True
        return False

    def get(self, path, p=None):
        """A resource value, from its read callback or stored; NotFound if
        absent."""
        path = coerce(path)
        if len(path) < 3:
            raise NotFound("not a resource path")
        f = self._flags(path)
        v = self._value(path[0], path[1], path[2], f, p)
        if v is None:
            raise NotFound("no value at %r" % (path,))
        if len(path) == 4:
            if not isinstance(v, dict) or path[3] not in v:
                raise NotFound("no resource instance %r" % (path,))
            return v[path[3]]
        return v

    def bind(self, oid, rid, read=None, write=None, execute=None):
        """Callbacks of resource `rid` of every instance of object `oid`."""
        if O.rflags(self.definition(oid), rid) < 0:
            raise NotFound("no resource /%d/x/%d" % (oid, rid))
        self._cb[_key(oid, rid)] = (read, write, execute)

    def hooks(self, oid, create=None, delete=None):
        """create fn(iid, values) and delete fn(iid), each returning None or a
        CoAP code, called on the server's Create and Delete of `oid`."""
        self._hooks[oid] = (create, delete)

    def missing(self):
        """Paths the And-link profile requires that hold nothing: mandatory
        objects without an instance, mandatory readable resources without a
        value or read callback, mandatory executables without a callback."""
        out = []
        for oid in sorted(self._defs):
            od = self._defs[oid]
            insts = self._data.get(oid)
            if not insts:
                if od[1] & MAND:
                    out.append((oid,))
                continue
            t = od[4]                   # the table itself: no row tuples made (this runs at each start)
            for iid in sorted(insts):
                for i in range(0, len(t), 4):
                    f = t[i + 2] << 8 | t[i + 3]
                    if not f & MAND or not f & (R | E):
                        continue
                    rid = t[i] << 8 | t[i + 1]
                    cb = self._cb.get(_key(oid, rid))
                    if f & E:
                        ok = cb is not None and cb[2] is not None
                    else:
                        ok = rid in insts[iid] or (cb is not None and cb[0] is not None)
                    if not ok:
                        out.append((oid, iid, rid))
        return out

    def _tell(self, path):
        if self.changed is not None:
            self.changed(path)

    def _value(self, oid, iid, rid, f, p=None):
        inst = self._inst(oid, iid)
        cb = self._cb.get(_key(oid, rid))
        if cb is None or cb[0] is None:
            return inst.get(rid)
        v = cb[0](iid, p) if rtype(f) == T_JSON else cb[0](iid)
        if isinstance(v, (list, tuple)) and f & MULTI:
            v = dict(enumerate(v))
        return v

    def _typeof(self, oid):
        od = self.definition(oid)

        def typeof(p):
            return O.rflags(od, p[2])
        return typeof

    def _present(self, oid, iid, rid, f):
        """A resource is instantiated: it has a value or a callback."""
        if rtype(f) == T_NONE:
            cb = self._cb.get(_key(oid, rid))
            return cb is not None and cb[2] is not None
        return self._value(oid, iid, rid, f) is not None

    # ---- the server's operations

    def _target(self, path, bootstrap):
        """(path, definition) after the checks every operation makes."""
        path = coerce(path)
        if not path:
            raise _Refused(METHOD_NOT_ALLOWED)
        od = self.definition(path[0])
        if path[0] in self.hidden and not bootstrap:
            raise _Refused(UNAUTHORIZED)
        return path, od

    def records(self, path, p=None, bootstrap=False):
        """[(path, type, value)] readable at `path` (codec.py's records)."""
        path, od = self._target(path, bootstrap)
        depth = len(path)
        oid = path[0]
        insts = self._data.get(oid, {})
        if depth >= 2:
            self._inst(oid, path[1])
            iids = (path[1],)
        else:
            iids = sorted(insts)
        out = []
        for iid in iids:
            rids = (path[2],) if depth >= 3 else O.rids(od)
            for rid in rids:
                f = O.rflags(od, rid)
                if f < 0:
                    raise NotFound("no resource %d" % rid)
                t = rtype(f)
                if (not f & R and not bootstrap) or t == T_NONE:
                    if depth >= 3:
                        raise _Refused(METHOD_NOT_ALLOWED)
                    continue
                v = self._value(oid, iid, rid, f, p)
                if v is None:
                    if depth >= 3:
                        raise NotFound("no value")
                    continue
                if depth == 4:
                    if not isinstance(v, dict) or path[3] not in v:
                        raise NotFound("no resource instance")
                    out.append((path, t, v[path[3]]))
                else:
                    out.append(((oid, iid, rid), t, v))
        return out

    def read(self, path, accept=None, p=None, bootstrap=False):
        """(code, content format, payload) of a Read: 2.05, or 4.01, 4.04,
        4.05, 4.06 with (code, None, b"")."""
        from andlink.lwm2m import codec
        try:
            path = coerce(path)
            cf, payload = codec.encode(accept, path, self.records(path, p, bootstrap))
            return CONTENT, cf, payload
        except Exception as e:
            return _code(e), None, b""

    def write(self, path, cf, payload, replace=True, bootstrap=False):
        """A Write (PUT: replace=True, POST on an instance: partial update):
        2.04, or 4.00, 4.01, 4.04, 4.05, 4.15.  bootstrap=True: the
        Bootstrap Write (any resource, /O, missing instances created)."""
        from andlink.lwm2m import codec
        try:
            path, od = self._target(path, bootstrap)
            oid = path[0]
            if len(path) == 1 and not bootstrap:
                return METHOD_NOT_ALLOWED
            if len(path) >= 2 and not bootstrap:
                self._inst(oid, path[1])
            if len(path) >= 3 and not bootstrap and not self._flags(path) & W:
                return METHOD_NOT_ALLOWED
            recs = codec.decode(cf, path, payload, self._typeof(oid))
            for p, v in recs:
                if len(p) < 3 or p[1] < 0:
                    return BAD_REQUEST
                if not bootstrap and not O.rflags(od, p[2]) & W:
                    return METHOD_NOT_ALLOWED
            insts = self._data.setdefault(oid, {})
            for p, v in recs:
                iid, rid = p[1], p[2]
                if iid not in insts:
                    if insts and not od[1] & MULTI:
                        return BAD_REQUEST
                    insts[iid] = {}
                inst = insts[iid]
                if isinstance(v, dict) and (len(path) == 4 or not replace):
                    old = inst.get(rid)
                    merged = dict(old) if isinstance(old, dict) else {}
                    merged.update(v)
                    v = merged
                cb = self._cb.get(_key(oid, rid))
                if cb is not None and cb[1] is not None:
                    r = cb[1](iid, v)
                    if r is not None and r != CHANGED:
                        return r
                old = inst.get(rid)
                inst[rid] = v
                if old != v:
                    self._tell(p)
            return CHANGED
        except Exception as e:
            return _code(e)

    def execute(self, path, args=b""):
        """An Execute: 2.04, or 4.00 (bad arguments), 4.01, 4.04, 4.05."""
        from andlink.lwm2m.text import exec_args
        try:
            path, od = self._target(path, False)
            if len(path) != 3:
                return METHOD_NOT_ALLOWED
            self._inst(path[0], path[1])
            f = self._flags(path)
            if not f & E:
                return METHOD_NOT_ALLOWED
            cb = self._cb.get(_key(path[0], path[2]))
            if cb is None or cb[2] is None:
                return NOT_FOUND
            r = cb[2](path[1], exec_args(args or b""))
            return CHANGED if r is None else r
        except Exception as e:
            return _code(e)

    def create(self, path, cf, payload):
        """A Create on /O: (2.01, new iid), or (4.00, 4.01, 4.04, 4.05, 4.15,
        None).  The instance ID comes from the payload's instance TLV or is
        the lowest free one; mandatory resources must be in the payload."""
        from andlink.lwm2m import codec
        try:
            path, od = self._target(path, False)
            if len(path) != 1:
                return METHOD_NOT_ALLOWED, None
            oid = path[0]
            recs = codec.decode(cf if cf is not None else TLV, path, payload, self._typeof(oid))
            ids = []
            for p, _ in recs:
                if p[1] not in ids:
                    ids.append(p[1])
            if len(ids) > 1:
                return BAD_REQUEST, None
            insts = self._data.get(oid, {})
            iid = ids[0] if ids and ids[0] >= 0 else 0
            if not ids or ids[0] < 0:
                while iid in insts:
                    iid += 1
            if iid in insts or (insts and not od[1] & MULTI):
                return BAD_REQUEST, None
            values = {}
            for p, v in recs:
                if len(p) == 3:
                    values[p[2]] = v
            for rid, _, f in O.rows(od):
                cb = self._cb.get(_key(oid, rid))
                if f & MAND and rtype(f) != T_NONE and rid not in values and (cb is None or cb[0] is None):
                    return BAD_REQUEST, None
            hook = self._hooks.get(oid)
            if hook and hook[0]:
                r = hook[0](iid, values)
                if r is not None and r != CREATED:
                    return r, None
            self._data.setdefault(oid, {})[iid] = values
            self._tell((oid, iid))
            return CREATED, iid
        except Exception as e:
            return _code(e), None

    def delete(self, path, bootstrap=False):
        """A Delete of /O/I: 2.02, or 4.01, 4.04, 4.05.  bootstrap=True also
        takes /O (every instance) and any object."""
        try:
            path, od = self._target(path, bootstrap)
            oid = path[0]
            if bootstrap and len(path) == 1:
                for iid in self.instances(oid):
                    self.remove(oid, iid)
                return DELETED
            if len(path) != 2:
                return METHOD_NOT_ALLOWED
            self._inst(oid, path[1])
            if not bootstrap and (not od[1] & MULTI or oid == 1):
                return METHOD_NOT_ALLOWED
            hook = self._hooks.get(oid)
            if hook and hook[1]:
                r = hook[1](path[1])
                if r is not None and r != DELETED:
                    return r
            self.remove(oid, path[1])
            return DELETED
        except Exception as e:
            return _code(e)

    # ---- attributes, Discover, registration

    def write_attributes(self, path, query):
        """A Write-Attributes (query: Uri-Query values or "pmin=1&pmax=2"):
        2.04, or 4.00, 4.01, 4.04, 4.05."""
        try:
            path, od = self._target(path, False)
            numeric = False
            if len(path) >= 2:
                self._inst(path[0], path[1])
            if len(path) >= 3:
                f = self._flags(path)
                numeric = rtype(f) in _NUMERIC and (len(path) == 4 or not f & MULTI)
            A.write(self.attrs, path, query, numeric)
            return CHANGED
        except Exception as e:
            return _code(e)

    def defaults(self):
        """(pmin, pmax) of the Server object (its lowest instance), or Nones."""
        for iid in self.instances(1):
            inst = self._data[1][iid]
            return inst.get(2), inst.get(3)
        return None, None

    def attributes(self, path):
        """The effective [pmin, pmax, gt, lt, st] at `path` (attrs.effective)."""
        pmin, pmax = self.defaults()
        return A.effective(self.attrs, coerce(path), pmin, pmax)

    def notify_due(self, path, last_value, last_time, now):
        """(wait, value) for an observation of `path`: attrs.due over the
        current value (a resource's value, or the TLV payload of an instance
        or object); wait -1 and value None when the target is gone."""
        path = coerce(path)
        if len(path) >= 3:
            try:
                value = self.get(path)
            except MemoryError:
                raise
            except Exception:           # gone, or a board callback failing: nothing to send
                return -1, None
        else:
            code, _, value = self.read(path, TLV)
            if code != CONTENT:
                return -1, None
        return A.due(self.attributes(path), last_value, last_time, value, now), value

    def discover(self, path):
        """(code, payload) of a Discover (content format 40): 2.05, or 4.01,
        4.04, 4.05 (discover.py)."""
        from andlink.lwm2m.discover import discover
        return discover(self, path)

    def register_payload(self, bare=False):
        """The Register/Update payload (discover.py)."""
        from andlink.lwm2m.discover import register_payload
        return register_payload(self, bare)


class _Refused(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


def _code(e):
    """The CoAP code answering exception `e`: an Lwm2mError's own, 5.00 for
    anything else (a board callback's bug must not take the client down)."""
    if isinstance(e, (Lwm2mError, _Refused)):
        return e.code
    if isinstance(e, MemoryError):
        raise e
    return INTERNAL_SERVER_ERROR
