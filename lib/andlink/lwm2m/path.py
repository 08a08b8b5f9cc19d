"""LwM2M paths (OMA LwM2M TS 1.1 section 6.1; And-link spec section 6.5-6.10):
"/", /O, /O/I, /O/I/R and /O/I/R/RI as tuples of 0 to 4 ints.

IDs are 0..65534 (65535 is reserved, TS 1.1 section 6.1); a segment must be
plain decimal digits without a sign or leading zeros ("/3/00" is refused: two
spellings of one path would defeat the observation and attribute tables).
A trailing slash is accepted ("/3/0/" is /3/0).  Errors: PathError (4.00).
"""

from micropython import const

from andlink.lwm2m.codes import PathError

MAX_ID = const(65534)


def segment(s):
    """One path segment (str, bytes or memoryview) as an int."""
    if not isinstance(s, str):
        try:
            s = str(bytes(s), "ascii")
        except Exception:
            raise PathError("segment is not ASCII")
    n = len(s)
    if n == 0 or n > 5 or (n > 1 and s[0] == "0"):
        raise PathError("bad segment %r" % s)
    v = 0
    for c in s:
        d = ord(c) - 48
        if d < 0 or d > 9:
            raise PathError("bad segment %r" % s)
        v = v * 10 + d
    if v > MAX_ID:
        raise PathError("ID %d out of range" % v)
    return v


def parse(text):
    """'/3/0/1' -> (3, 0, 1); '/' or '' -> ().  The leading slash is optional."""
    if not isinstance(text, str):
        try:
            text = str(bytes(text), "ascii")
        except Exception:
            raise PathError("path is not ASCII")
    if text.startswith("/"):
        text = text[1:]
    if len(text) > 1 and text.endswith("/"):
        text = text[:-1]
    if not text:
        return ()
    parts = text.split("/")
    if len(parts) > 4:
        raise PathError("more than 4 segments")
    return tuple(segment(p) for p in parts)


def from_segments(segs):
    """A path from CoAP Uri-Path option values (a list of str or bytes)."""
    if len(segs) > 4:
        raise PathError("more than 4 segments")
    out = []
    for s in segs:
        if len(s) == 0:
            continue                # a lone empty Uri-Path: the root
        out.append(segment(s))
    return tuple(out)


def fmt(path):
    """(3, 0, 1) -> '/3/0/1'; () -> '/'."""
    if not path:
        return "/"
    return "/" + "/".join(str(i) for i in path)


def check(path):
    """`path` itself if it is a valid path tuple, else PathError."""
    if not isinstance(path, tuple) or len(path) > 4:
        raise PathError("not a path tuple")
    for i in path:
        if not isinstance(i, int) or isinstance(i, bool) or i < 0 or i > MAX_ID:
            raise PathError("bad ID in %r" % (path,))
    return path


def coerce(p):
    """A path given as a tuple, a string or a list of segments, as a tuple."""
    if isinstance(p, tuple):
        return check(p)
    if isinstance(p, list):
        return from_segments(p)
    return parse(p)


def under(path, base):
    """True if `path` is `base` or lies below it."""
    n = len(base)
    return len(path) >= n and path[:n] == base
