"""CoRE link format (RFC 6690, content format 40) as LwM2M uses it: the
Register/Update payload (OMA LwM2M TS 1.1 section 6.2.1; And-link spec
section 6.3.4) and the Discover response (TS 1.1 section 6.3.2; And-link
section 3.3).

    </>;rt="oma.lwm2m",</1/0>,</3/0>,</5>
    </3/0>;pmin=10,</3/0/7>;dim=2;gt=50;lt=42.2

Links are (uri, [(name, value)]).  On output a value that is an int or a
float is written bare, a str quoted unless the attribute is one of LwM2M's
numeric or version attributes (pmin, pmax, gt, lt, st, dim, ver, ...), None
writes the name alone.  The parser takes what RFC 6690 allows plus
whitespace around separators (And-link section 6.3.4 prints ", </1/0>");
quoted values may hold ',' and ';'; it returns values as strings without
quotes (None for a bare name) and raises DecodeError (4.00) on anything
else.
"""

from andlink.lwm2m.codes import DecodeError
from andlink.lwm2m.text import float_str

BARE = ("pmin", "pmax", "gt", "lt", "st", "epmin", "epmax", "dim", "ver", "lwm2m", "ssid", "ct")


def num(v):
    """An attribute number: ints bare, integral floats without '.0'."""
    if isinstance(v, float):
        if v == int(v) and abs(v) < 1e15:
            return str(int(v))
        return float_str(v)
    return str(v)


def link(uri, attrs=()):
    """One link-value as a str."""
    out = ["<", uri, ">"]
    for k, v in attrs:
        out.append(";")
        out.append(k)
        if v is None:
            continue
        out.append("=")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(num(v))
        elif k in BARE:
            out.append(v)
        else:
            out.append('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "".join(out)


def encode(links):
    """The link-format bytes of [(uri, attrs)]."""
    return ",".join(link(u, a) for u, a in links).encode()


def _skip_ws(s, i):
    while i < len(s) and s[i] in " \t\r\n":
        i += 1
    return i


def decode(data):
    """[(uri, [(name, value or None)])] from link-format bytes or str."""
    if not isinstance(data, str):
        try:
            data = str(bytes(data), "utf-8")
        except Exception:
            raise DecodeError("link format is not UTF-8")
    s = data
    n = len(s)
    out = []
    i = _skip_ws(s, 0)
    if i == n:
        return out
    while True:
        if i >= n or s[i] != "<":
            raise DecodeError("link does not start with '<' at %d" % i)
        j = s.find(">", i)
        if j < 0:
            raise DecodeError("unterminated URI")
        uri = s[i + 1:j]
        if "<" in uri:
            raise DecodeError("'<' inside a URI")
        i = _skip_ws(s, j + 1)
        attrs = []
        while i < n and s[i] == ";":
            i = _skip_ws(s, i + 1)
            k = i
            while i < n and (s[i].isalpha() or s[i].isdigit() or s[i] in "!#$&+-.^_`|~*"):
                i += 1
            name = s[k:i]
            if not name:
                raise DecodeError("empty attribute name at %d" % k)
            i = _skip_ws(s, i)
            v = None
            if i < n and s[i] == "=":
                i = _skip_ws(s, i + 1)
                if i < n and s[i] == '"':
                    i += 1
                    buf = []
                    while True:
                        if i >= n:
                            raise DecodeError("unterminated quoted value")
                        c = s[i]
                        if c == "\\" and i + 1 < n:
                            buf.append(s[i + 1])
                            i += 2
                            continue
                        if c == '"':
                            i += 1
                            break
                        buf.append(c)
                        i += 1
                    v = "".join(buf)
                else:
                    k = i
                    while i < n and s[i] not in ",; \t\r\n\"<>":
                        i += 1
                    v = s[k:i]
                    if not v:
                        raise DecodeError("empty value of %s" % name)
                i = _skip_ws(s, i)
            attrs.append((name, v))
        out.append((uri, attrs))
        if i >= n:
            return out
        if s[i] != ",":
            raise DecodeError("expected ',' at %d" % i)
        i = _skip_ws(s, i + 1)
