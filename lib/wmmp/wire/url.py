"""The download URL of TLV 0x1001 (appendix G k, E c; PROTOCOL.md 9 and 12):

    [scheme]://host[:port]/path?TRANS_ID=<8 hex>&FILE_SIZE=<decimal>&CRC16=<4 hex>
                                 (or CRC32=<8 hex>, or CRC=<4 or 8 hex>)&VER_DSC=<text>

parsed into the values of TLVs 0x1000-0x1009.  The scheme may be missing (the
standard's own example begins with "://"; a URL without "://" at all is read
the same way); a parameter name may also be written as its TLV tag ("1009",
"0x1009"); names are case-insensitive; unknown parameters are ignored; a known
one that is malformed raises BadValue.  The parser checks the form only: which
parameters a download needs is the upgrade flow's decision (wmmp.terminal.upgrade).

    parse(url) -> {tag: value}    0x1000 int (DL_PROTO_*, PROTO_UNKNOWN for a scheme
                                  not known), 0x1001 bytes (the URL), 0x1002 bytes
                                  (host), 0x1003 int (port, absent when not given),
                                  0x1005 bytes (VER_DSC), 0x1006 int (FILE_SIZE),
                                  0x1007 int (CRC16), 0x1008 int (CRC32),
                                  0x1009 int (TRANS_ID)
    value_bytes(tag, v) -> bytes  the TLV value of one of them (appendix E c widths)
"""

from micropython import const

from wmmp.wire import codes as K
from wmmp.errors import BadValue

# Codes (appendix G / E) that only this module reads: private, so MicroPython compiles
# them away; wmmp.wire.codes still answers to their names for tools and tests.
_DL_PROTO_FTP = const(0x02)

PROTO_UNKNOWN = const(0xFF)      # 0x1000 of a scheme that is none of wmmp, http(s), ftp

_SCHEMES = {"": K.DL_PROTO_WMMP, "wmmp": K.DL_PROTO_WMMP, "http": K.DL_PROTO_HTTP,
            "https": K.DL_PROTO_HTTP, "ftp": _DL_PROTO_FTP}

# parameter name -> (tag, kind): kind 0 hex of exactly 8 digits, 1 decimal,
# 2 hex of 4 digits, 3 text, 4 hex of 4 or 8 digits (CRC=: the one or the other)
_PARAMS = {"TRANS_ID": (0x1009, 0), "FILE_SIZE": (0x1006, 1), "CRC16": (0x1007, 2),
           "CRC32": (0x1008, 0), "CRC": (0, 4), "VER_DSC": (0x1005, 3)}
_WIDTH = {0x1000: 1, 0x1003: 2, 0x1006: 4, 0x1007: 2, 0x1008: 4, 0x1009: 4}
_HEX = "0123456789ABCDEFabcdef"
_VER_MAX = const(64)


def _hex(s, digits):
    if len(s) not in digits:
        raise BadValue("URL: %d hex digits where %s are expected" % (len(s), "/".join(str(d) for d in digits)))
    for ch in s:
        if ch not in _HEX:
            raise BadValue("URL: not a hex digit in %r" % s)
    return int(s, 16)


def _unquote(s):
    """%XX escapes of a query value (VER_DSC may carry them); '+' stays."""
    if "%" not in s:
        return s.encode()
    out = bytearray()
    i = 0
    b = s.encode()
    while i < len(b):
        if b[i] == 0x25 and i + 3 <= len(b):
            out.append(_hex(b[i + 1:i + 3].decode(), (2,)))
            i += 3
        else:
            out.append(b[i])
            i += 1
    return bytes(out)


def _param(name):
    """(tag, kind) of a query parameter name (or its TLV tag), None if unknown."""
    n = name.upper()
    p = _PARAMS.get(n)
    if p is not None:
        return p
    if n.startswith("0X"):
        n = n[2:]
    if len(n) == 4:
        for pn in _PARAMS:
            tag, kind = _PARAMS[pn]
            if tag and "%04X" % tag == n:
                return tag, kind
    return None


def _value(kind, v):
    if kind == 0:
        return _hex(v, (8,))
    if kind == 2:
        return _hex(v, (4,))
    if kind == 4:
        return _hex(v, (4, 8))
    if kind == 1:
        if not v or len(v) > 10 or [1 for ch in v if ch not in "0123456789"]:
            raise BadValue("URL: FILE_SIZE %r is not a decimal number" % v)
        n = int(v)
        if not 0 < n <= 0xFFFFFFFF:
            raise BadValue("URL: FILE_SIZE %d out of range" % n)
        return n
    r = _unquote(v)
    if not r or len(r) > _VER_MAX:
        raise BadValue("URL: VER_DSC empty or too long")
    return r


def parse(url):
    """The values of TLVs 0x1000-0x1009 that `url` (bytes or str) gives."""
    raw = bytes(url) if not isinstance(url, str) else url.encode()
    try:
        s = raw.decode()
    except UnicodeError:
        raise BadValue("URL: not ASCII")
    for ch in s:
        if ord(ch) < 0x21 or ord(ch) > 0x7E:
            raise BadValue("URL: a control character, space or non-ASCII byte")
    out = {0x1001: raw}
    i = s.find("#")
    if i >= 0:
        s = s[:i]
    i = s.find("://")
    if i >= 0:
        scheme, rest = s[:i].lower(), s[i + 3:]
    else:
        scheme, rest = "", s
    out[0x1000] = _SCHEMES.get(scheme, PROTO_UNKNOWN)
    q = rest.find("?")
    query = rest[q + 1:] if q >= 0 else ""
    if q >= 0:
        rest = rest[:q]
    j = rest.find("/")
    auth = rest if j < 0 else rest[:j]
    if "@" in auth:
        auth = auth[auth.rfind("@") + 1:]
    if auth.startswith("["):                    # [IPv6]:port
        k = auth.find("]")
        if k < 0:
            raise BadValue("URL: unclosed [ in the host")
        host, port = auth[1:k], auth[k + 1:]
        if port and not port.startswith(":"):
            raise BadValue("URL: junk after the host")
        port = port[1:]
    else:
        k = auth.rfind(":")
        host, port = (auth, "") if k < 0 else (auth[:k], auth[k + 1:])
    if host:
        out[0x1002] = host.encode()
    if port:
        if len(port) > 5 or [1 for ch in port if ch not in "0123456789"] or not 0 < int(port) <= 0xFFFF:
            raise BadValue("URL: port %r" % port)
        out[0x1003] = int(port)
    for item in query.split("&"):
        if not item:
            continue
        e = item.find("=")
        name, v = (item, "") if e < 0 else (item[:e], item[e + 1:])
        p = _param(name)
        if p is None:
            continue                            # unknown: ignored (PROTOCOL.md 9)
        tag, kind = p
        n = _value(kind, v)
        if kind == 4:
            tag = 0x1007 if len(v) == 4 else 0x1008
        out[tag] = n
    return out


def value_bytes(tag, v):
    """The TLV value of `v` as parse() gives it for `tag` (appendix E c)."""
    if isinstance(v, int):
        return v.to_bytes(_WIDTH.get(tag, 4), "big")
    return bytes(v)
