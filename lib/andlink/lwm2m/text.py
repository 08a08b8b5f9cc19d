"""Plain text (content format 0) and opaque (42) single values, OMA LwM2M TS
1.1 sections 7.3-7.4 (TS 1.0 sections 6.4.1-6.4.2), And-link spec section
3.6; base64 (RFC 4648) for opaque values in text and JSON; Execute arguments
(TS 1.1 section 5.4.5).

Plain text: strings UTF-8; integers, unsigned and time in decimal ASCII;
floats in decimal (exponent allowed); booleans "0"/"1"; object links
"O:I"; opaque as base64 (TS 1.1; TS 1.0 had no text form for opaque).  The
decoders are strict (no spaces, no "+", no "_", no "nan"): DecodeError (4.00).
"""

import binascii

from andlink.lwm2m.codes import (DecodeError, EncodeError, T_STRING, T_INT, T_UINT, T_FLOAT, T_BOOL,
                                 T_OPAQUE, T_TIME, T_OBJLNK, T_CORELNK, T_JSON)

_INT_MAX = (1 << 63) - 1


def b64encode(data, url=False):
    """Standard base64 with padding; url=True: the URL-safe alphabet without
    padding (RFC 4648 section 5, as SenML "vd" uses, RFC 8428 section 4.3)."""
    s = binascii.b2a_base64(bytes(data)).rstrip(b"\n")
    if url:
        s = s.rstrip(b"=").replace(b"+", b"-").replace(b"/", b"_")
    return str(s, "ascii")


def b64decode(s):
    """Either alphabet, padded or not; DecodeError on anything else."""
    if isinstance(s, str):
        s = s.encode()
    s = bytes(s).replace(b"-", b"+").replace(b"_", b"/")
    for c in s:
        if not (65 <= c <= 90 or 97 <= c <= 122 or 48 <= c <= 57 or c == 43 or c == 47 or c == 61):
            raise DecodeError("bad base64")
    s = s.rstrip(b"=")
    if len(s) % 4 == 1:
        raise DecodeError("bad base64 length")
    try:
        return binascii.a2b_base64(s + b"=" * (-len(s) % 4))
    except Exception:
        raise DecodeError("bad base64")


def parse_int(s, lo=-_INT_MAX - 1, hi=_INT_MAX):
    """A strict decimal integer within [lo, hi]."""
    n = len(s)
    i = 1 if n and s[0] == "-" else 0
    if i == n or n - i > 20:
        raise DecodeError("not an integer")
    for c in s[i:]:
        if c < "0" or c > "9":
            raise DecodeError("not an integer")
    v = int(s)
    if v < lo or v > hi:
        raise DecodeError("integer out of range")
    return v


def parse_float(s):
    """A strict decimal float: digits, one '.', an optional exponent."""
    if not s or len(s) > 40:
        raise DecodeError("not a number")
    digits = False
    for c in s:
        if "0" <= c <= "9":
            digits = True
        elif c not in "-+.eE":
            raise DecodeError("not a number")
    if not digits or s[0] == "+" or s[-1] in "eE+-":
        raise DecodeError("not a number")
    try:
        v = float(s)
    except Exception:
        raise DecodeError("not a number")
    if v - v != 0:
        raise DecodeError("not a finite number")
    return v


def parse_objlnk(s):
    oid, sep, iid = s.partition(":")
    if not sep:
        raise DecodeError("object link is not O:I")
    return (parse_int(oid, 0, 65535), parse_int(iid, 0, 65535))


def to_str(data):
    try:
        return str(bytes(data), "utf-8")
    except Exception:
        raise DecodeError("not UTF-8")


def float_str(v):
    """Floats as plain text and JSON: repr, integral values with '.0'."""
    s = repr(float(v))
    if s in ("inf", "-inf", "nan"):
        raise EncodeError("no text form for %s" % s)
    return s


def encode(typ, value):
    """The plain-text bytes of one value of type `typ`."""
    if typ == T_STRING or typ == T_CORELNK or typ == T_JSON:
        return value.encode() if isinstance(value, str) else bytes(value)
    if typ == T_INT or typ == T_UINT or typ == T_TIME:
        return str(int(value)).encode()
    if typ == T_FLOAT:
        return float_str(value).encode()
    if typ == T_BOOL:
        return b"1" if value else b"0"
    if typ == T_OBJLNK:
        return ("%d:%d" % (value[0], value[1])).encode()
    if typ == T_OPAQUE:
        return b64encode(value).encode()
    raise EncodeError("type %d has no plain text form" % typ)


def decode(typ, data):
    """One value of type `typ` from its plain-text bytes."""
    if typ == T_OPAQUE:
        return b64decode(data)
    s = to_str(data)
    if typ == T_STRING or typ == T_CORELNK or typ == T_JSON:
        return s
    if typ == T_INT or typ == T_TIME:
        return parse_int(s)
    if typ == T_UINT:
        return parse_int(s, 0, (1 << 64) - 1)
    if typ == T_FLOAT:
        return parse_float(s)
    if typ == T_BOOL:
        if s == "1":
            return True
        if s == "0":
            return False
        raise DecodeError("boolean is not 0 or 1")
    if typ == T_OBJLNK:
        return parse_objlnk(s)
    raise DecodeError("type %d has no value" % typ)


def exec_args(data):
    """Execute arguments (TS 1.1 section 5.4.5): `0='a b',1` -> [(0, 'a b'),
    (1, None)].  Unquoted values are accepted too (And-link spec section 4.5
    writes `0=0,1='100'`).  Empty payload -> [].  DecodeError on bad syntax."""
    s = to_str(data)
    out = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c < "0" or c > "9":
            raise DecodeError("argument is not a digit")
        d = ord(c) - 48
        i += 1
        v = None
        if i < n and s[i] == "=":
            i += 1
            if i < n and s[i] == "'":
                j = s.find("'", i + 1)
                if j < 0:
                    raise DecodeError("unterminated argument value")
                v = s[i + 1:j]
                i = j + 1
            else:
                j = s.find(",", i)
                j = n if j < 0 else j
                v = s[i:j]
                if not v or "'" in v:
                    raise DecodeError("bad unquoted value")
                i = j
        for a, _ in out:
            if a == d:
                raise DecodeError("argument %d repeated" % d)
        out.append((d, v))
        if i < n:
            if s[i] != ",":
                raise DecodeError("expected ','")
            i += 1
            if i == n:
                raise DecodeError("trailing ','")
    return out
