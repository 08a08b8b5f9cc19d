"""Notification attributes: Write-Attributes storage and the rule deciding
when an observed value is notified (OMA LwM2M TS 1.1 section 5.1.2 and
5.4.4, TS 1.0 section 5.1.2 and 5.4.4; And-link spec sections 3.3 and 6.7:
?pmin=&pmax=&gt=&lt=&st=).

The attributes of one path are a 5-list [pmin, pmax, gt, lt, st], None where
unset, in a dict {path: list} the store keeps.  pmin and pmax (seconds, >= 0)
may sit on an object, an instance, a resource or a resource instance; gt, lt
and st only on a numeric single resource or a resource instance.  A name
without a value ("?pmin") removes that attribute.  Every write is checked
whole and refused whole (4.00) if the result breaks lt < gt or lt + 2*st < gt
(TS 1.1 section 5.1.2), or st < 0.

Effective attributes of a path: each one from the most specific level that
sets it (resource instance, resource, instance, object), pmin and pmax
falling back to the Server object's Default Minimum/Maximum Period
(/1/x/2, /1/x/3).

`due` (the rule): a notification is due when a change condition holds and
pmin has elapsed since the last notification, or when pmax has elapsed
whatever the value.  The change condition of a number with gt, lt or st set
is: crossing gt, crossing lt, or moving by st or more since the last
notified value (any one of those present); otherwise any change.  pmax is
ignored when 0 or below pmin.  The caller (the observe flow) evaluates again
when the returned wait has passed: a change that reverted by then is not
notified.
"""

from micropython import const

from andlink.lwm2m.codes import DecodeError
from andlink.lwm2m.text import parse_float, to_str

PMIN = const(0)
PMAX = const(1)
GT = const(2)
LT = const(3)
ST = const(4)
NAMES = ("pmin", "pmax", "gt", "lt", "st")


def parse(query):
    """[(index, value or None)] from Uri-Query values (a list of str/bytes)
    or one "pmin=10&pmax=60" string.  DecodeError on an unknown or repeated
    attribute or a bad value."""
    if isinstance(query, (str, bytes)):
        query = [q for q in (query if isinstance(query, str) else to_str(query)).split("&") if q]
    out = []
    for q in query:
        if not isinstance(q, str):
            q = to_str(q)
        k, eq, v = q.partition("=")
        if k not in NAMES:
            raise DecodeError("attribute %r" % k)
        i = NAMES.index(k)
        for j, _ in out:
            if j == i:
                raise DecodeError("attribute %s repeated" % k)
        if not eq:
            out.append((i, None))
            continue
        if i < GT:
            if not v or len(v) > 10 or not v.isdigit():
                raise DecodeError("%s is not a number of seconds" % k)
            out.append((i, int(v)))
        else:
            x = parse_float(v)
            if x == int(x) and "." not in v and "e" not in v and "E" not in v:
                x = int(x)
            out.append((i, x))
    return out


def check(a):
    """DecodeError unless the 5-list `a` is consistent."""
    gt, lt, st = a[GT], a[LT], a[ST]
    if st is not None and st < 0:
        raise DecodeError("st < 0")
    if gt is not None and lt is not None:
        if not lt < gt:
            raise DecodeError("lt >= gt")
        if st is not None and not lt + 2 * st < gt:
            raise DecodeError("lt + 2*st >= gt")


def write(table, path, query, numeric):
    """Apply a Write-Attributes query to `path` in `table`; `numeric`: the
    path is a numeric single resource or resource instance (gt/lt/st
    allowed).  Nothing changes on DecodeError."""
    changes = parse(query)
    cur = table.get(path)
    a = list(cur) if cur else [None] * 5
    for i, v in changes:
        if i >= GT and v is not None and not numeric:
            raise DecodeError("%s only on a numeric resource" % NAMES[i])
        a[i] = v
    check(a)
    if a == [None] * 5:
        table.pop(path, None)
    else:
        table[path] = a


def forget(table, path):
    """Drop the attributes of `path` and of everything under it."""
    n = len(path)
    for p in [p for p in table if p[:n] == path]:
        del table[p]


def effective(table, path, pmin=None, pmax=None):
    """The 5-list in force at `path`: the most specific level of each
    attribute; pmin/pmax default to the given Server defaults."""
    a = [None] * 5
    for n in range(len(path), 0, -1):
        lv = table.get(path[:n])
        if lv:
            for i in range(5):
                if a[i] is None:
                    a[i] = lv[i]
    if a[PMIN] is None:
        a[PMIN] = pmin
    if a[PMAX] is None:
        a[PMAX] = pmax
    return a


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def changed(a, old, new):
    """The change condition between the last notified value and the new."""
    if old is None:
        return new is not None
    gt, lt, st = a[GT], a[LT], a[ST]
    if (gt is not None or lt is not None or st is not None) and _num(old) and _num(new):
        if gt is not None and (old > gt) != (new > gt):
            return True
        if lt is not None and (old < lt) != (new < lt):
            return True
        return st is not None and abs(new - old) >= st
    return new != old


def due(a, last_value, last_time, value, now):
    """Seconds until a notification is due: 0 now, -1 none pending (nothing
    changed and no pmax).  `a` effective attributes, `last_time` when the
    last notification (or the Observe response) went out, times in seconds."""
    pmin = a[PMIN] or 0
    pmax = a[PMAX]
    if pmax is not None and (pmax <= 0 or pmax < pmin):
        pmax = None
    elapsed = now - last_time
    w = -1
    if changed(a, last_value, value):
        if elapsed >= pmin:
            return 0
        w = pmin - elapsed
    if pmax is not None:
        if elapsed >= pmax:
            return 0
        r = pmax - elapsed
        if w < 0 or r < w:
            w = r
    return w
