"""Discover responses and the registration payload, both CoRE link format
(linkfmt.py), from a Store (store.py); loaded only when one is asked for.

Discover (OMA LwM2M TS 1.1 section 5.4.2, TS 1.0 section 5.4.2; And-link
spec section 3.3):
  /O        </O> with the object's attributes (and ver= when speaking 1.1
            and the object is not 1.0), then each instance </O/I> and its
            instantiated resources </O/I/R>, a multiple one with dim=N;
  /O/I      </O/I> with its attributes, then its resources with dim and
            their own attributes;
  /O/I/R    the resource with dim and its attributes, the instance's and
            object's inherited (not the Server's defaults);
  /O/I/R/RI the resource instance with its attributes, inherited included.
A resource is instantiated when it holds a value or has a read callback (an
executable: an execute callback).

Registration (TS 1.1 section 6.2.1; And-link spec section 6.3.4):
</>;rt="oma.lwm2m" then </O/I> for every instance, object 0 (Security)
never listed; objects without instances as </O> only with bare=True (the
And-link example lists instances only); ver= on objects not at 1.0 when the
store speaks LwM2M 1.1.
"""

from andlink.lwm2m.codes import NotFound, CONTENT, MULTI
from andlink.lwm2m import attrs as A
from andlink.lwm2m import linkfmt
from andlink.lwm2m import objects as O
from andlink.lwm2m.path import fmt


def _attr_list(store, path, inherit=False):
    a = A.effective(store.attrs, path) if inherit else (store.attrs.get(path) or ())
    return [(A.NAMES[i], v) for i, v in enumerate(a) if v is not None]


def discover(store, path):
    """(code, payload): 2.05 with the links, or (4.01/4.04/4.05, b"")."""
    from andlink.lwm2m.store import _code
    try:
        path, od = store._target(path, False)
        oid = path[0]
        depth = len(path)
        links = []
        if depth == 1:
            a = _attr_list(store, path)
            if store.version != "1.0" and od[3] != "1.0":
                a = [("ver", od[3])] + a
            links.append((fmt(path), a))
            iids = store.instances(oid)
        else:
            store._inst(oid, path[1])
            iids = (path[1],)
            if depth == 2:
                links.append((fmt(path), _attr_list(store, path)))
        for iid in iids:
            if depth == 1:
                links.append((fmt((oid, iid)), []))
            for rid in ((path[2],) if depth >= 3 else O.rids(od)):
                f = store._flags((oid, iid, rid))
                if not store._present(oid, iid, rid, f):
                    if depth >= 3:
                        raise NotFound("resource not instantiated")
                    continue
                p = (oid, iid, rid)
                a = []
                if f & MULTI:
                    v = store._value(oid, iid, rid, f) or ()
                    if depth == 4:
                        if path[3] not in v:
                            raise NotFound("no resource instance")
                        p = path
                    else:
                        a.append(("dim", len(v)))
                elif depth == 4:
                    raise NotFound("resource is single")
                if depth >= 3:
                    a += _attr_list(store, p, True)
                elif depth == 2:
                    a += _attr_list(store, p)
                links.append((fmt(p), a))
        return CONTENT, linkfmt.encode(links)
    except Exception as e:
        return _code(e), b""


def register_payload(store, bare=False):
    """The Register/Update payload as bytes."""
    links = [("/", [("rt", "oma.lwm2m")])]
    for oid in sorted(store._defs):
        if oid in store.hidden:
            continue
        od = store._defs[oid]
        iids = store.instances(oid)
        if store.version != "1.0" and od[3] != "1.0":
            links.append(("/%d" % oid, [("ver", od[3])]))
        elif bare and not iids:
            links.append(("/%d" % oid, []))
        for iid in iids:
            links.append(("/%d/%d" % (oid, iid), []))
    return linkfmt.encode(links)
