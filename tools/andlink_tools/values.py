"""Operator input of `andlink-platform`, checked the same way by the CLI (before
it talks to the platform: bad input exits 2 even when no platform runs) and by
the control socket: endpoint names, paths, addresses, seconds, resource values
and what a Write / Create / Write-Attributes sends.

Values (typed by the resource's type in andlink_tools.objects; a prefix
overrides): 42, 0x2A, -1.5, true/false, text, hex:0011AA (opaque), str:007
(text that looks like a number), O:I (object link).  Object 19's parameters
(spec 4.2.2.3) are a JSON object, {"power":200}, or NAME=VALUE pairs (VALUE as
JSON when it is JSON, else text)."""

import ipaddress
import json
import math
import re

from andlink_tools import codec, objects

EP_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
ATTRS = {"pmin": int, "pmax": int, "gt": float, "lt": float, "st": float, "epmin": int, "epmax": int}
VALUE_MAX = 16384             # bytes of one written value / Execute arguments


class InputError(ValueError):
    pass


def ep(text):
    if not isinstance(text, str) or not EP_RE.match(text):
        raise InputError("%r is not an endpoint name: the IMEI (15 digits), or 1-64 letters, digits . _ : -"
                         % (text if not isinstance(text, str) else text[:70],))
    return text


def path(text, min_len=1, max_len=4):
    try:
        return objects.parse_path(text, min_len, max_len)
    except objects.PathError as e:
        raise InputError(str(e))


def address(text, port0=True, loopback=False):
    """"HOST:PORT" or "[V6]:PORT" -> (host, port)."""
    if not isinstance(text, str) or ":" not in text:
        raise InputError("%r is not HOST:PORT" % (text,))
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise InputError("%r is not [IPv6]:PORT" % text)
    else:
        host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535 or (int(port) == 0 and not port0):
        raise InputError("%r is not HOST:PORT (port 1..65535%s)" % (text, ", or 0: any free one" if port0 else ""))
    if len(host) > 253 or any(c.isspace() for c in host):
        raise InputError("%r: not a host" % host[:60])
    if loopback:
        try:
            ok = ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = host == "localhost"
        if not ok:
            raise InputError("%s: the control socket has no authentication: a loopback address only" % host)
    return host, int(port)


def seconds(text, lo=0.0, hi=30 * 86400, name="seconds"):
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise InputError("%r is not a number of %s" % (text, name))
    if not math.isfinite(v) or not lo <= v <= hi:
        raise InputError("%s: %g..%g wanted, not %r" % (name, lo, hi, text))
    return v


def integer(text, lo, hi, name="number"):
    try:
        v = int(str(text), 0)
    except ValueError:
        raise InputError("%r is not an integer (%s)" % (text, name))
    if not lo <= v <= hi:
        raise InputError("%s: %d..%d wanted, not %d" % (name, lo, hi, v))
    return v


def value(p, text):
    """(type, value) of `text` for the resource at path `p`."""
    if not isinstance(text, str):
        raise InputError("a value is text")
    if len(text.encode("utf-8", "replace")) > VALUE_MAX:
        raise InputError("a value is at most %d bytes" % VALUE_MAX)
    if text.startswith("hex:"):
        try:
            return objects.O, bytes.fromhex(text[4:])
        except ValueError:
            raise InputError("%r: hex: is followed by pairs of hex digits" % text[:40])
    if text.startswith("str:"):
        return objects.S, text[4:]
    t = objects.rtype(p)
    if t == objects.E:
        raise InputError("%s is executable: use exec" % objects.path_text(p))
    try:
        if t in (objects.I, objects.T):
            return t, int(text, 0)
        if t == objects.F:
            v = float(text)
            if not math.isfinite(v):
                raise ValueError
            return t, v
    except ValueError:
        raise InputError("%s (%s) is %s: %r is not one" % (objects.path_text(p), objects.name(p), t, text[:40]))
    if t == objects.B:
        if text.lower() in ("1", "true"):
            return t, True
        if text.lower() in ("0", "false"):
            return t, False
        raise InputError("%s is a boolean: true/false or 1/0, not %r" % (objects.path_text(p), text[:40]))
    if t == objects.L:
        if not re.match(r"^\d{1,5}:\d{1,5}$", text) or max(int(x) for x in text.split(":")) > 65535:
            raise InputError("%s is an object link O:I, not %r" % (objects.path_text(p), text[:40]))
        return t, text
    if t == objects.O:
        return t, text.encode("utf-8")
    if t is None:                       # a resource the table does not know: guess
        if re.match(r"^-?\d+$", text):
            return objects.I, int(text)
        if text.lower() in ("true", "false"):
            return objects.B, text.lower() == "true"
    return objects.S, text


def is_params(p):
    """Object 19's And-link parameter channel (spec 4.2.2): /19/x/0."""
    return len(p) == 3 and p[0] == 19 and p[2] == 0


def params(items):
    """The JSON object of spec 4.2.2.3 from one JSON text or NAME=VALUE pairs."""
    if len(items) == 1 and items[0].lstrip().startswith("{"):
        try:
            d = json.loads(items[0])
        except ValueError as e:
            raise InputError("not a JSON object: %s" % e)
        if not isinstance(d, dict) or not d:
            raise InputError("the parameters are a JSON object with at least one name")
        return d
    out = {}
    for it in items:
        name, eq, v = it.partition("=")
        if not eq or not name:
            raise InputError("%r: NAME=VALUE (or one JSON object) wanted" % it[:40])
        try:
            out[name] = json.loads(v)
        except ValueError:
            out[name] = v
    return out


def assignments(p, items):
    """{rid: (type, value) | {riid: (type, value)}} of RID=VALUE / RID/RIID=VALUE
    items for an object instance `p` (or object, for Create)."""
    out = {}
    for it in items:
        left, eq, v = it.partition("=")
        if not eq:
            raise InputError("%r: RESOURCE=VALUE wanted (e.g. 13=1517196811)" % it[:40])
        ids = left.split("/")
        if len(ids) > 2 or not all(x.isdigit() and int(x) <= objects.ID_MAX for x in ids):
            raise InputError("%r: a resource id (0..65535) or ID/INSTANCE before '='" % left[:20])
        rid = int(ids[0])
        tv = value((p[0], 0, rid), v)
        if len(ids) == 2:
            cur = out.setdefault(rid, {})
            if not isinstance(cur, dict):
                raise InputError("resource %d given both with and without instances" % rid)
            cur[int(ids[1])] = tv
        else:
            if rid in out:
                raise InputError("resource %d given twice" % rid)
            out[rid] = tv
    if not out:
        raise InputError("nothing to write")
    return out


def encode_write(p, items, fmt=None):
    """(payload, content format) of a Write of `items` (one VALUE for a resource,
    RID=VALUE for an instance, parameters for object 19) to path `p`."""
    if fmt is not None and fmt not in codec.FORMATS:
        raise InputError("--format: %s, not %r" % (", ".join(sorted(codec.FORMATS)), fmt))
    cf = codec.FORMATS.get(fmt)
    if len(p) < 2:
        raise InputError("a Write names an object instance or a resource (%s): create makes instances"
                         % objects.path_text(p))
    if is_params(p):
        body = json.dumps(params(items), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if cf in (None, codec.SENML_JSON):
            return body, codec.SENML_JSON                 # the spec's example (4.2.2.3)
        if cf in (codec.TEXT, codec.OPAQUE):
            return body, cf
        raise InputError("object 19 parameters go as JSON (senml, the default), text or opaque")
    if len(p) == 2:
        vals = assignments(p, items)
        if cf in (None, codec.TLV):
            return codec.encode_tlv(p[0], vals), codec.TLV            # spec 3.6: TLV for several
        if cf == codec.SENML_JSON:
            return codec.encode_senml(_flat(p, vals)), cf
        raise InputError("several resources go as tlv (the default) or senml")
    if len(items) != 1:
        raise InputError("one VALUE for the resource %s (RID=VALUE pairs are for an instance)" % objects.path_text(p))
    t, v = value(p, items[0])
    if cf is None:
        cf = codec.OPAQUE if t == objects.O else codec.TLV if t == objects.L else codec.TEXT
    if cf == codec.TEXT:
        return codec.value_to_text(t, v), cf
    if cf == codec.OPAQUE:
        if t != objects.O:
            raise InputError("--format opaque takes hex:... bytes")
        return v, cf
    if cf == codec.TLV:
        kind = codec.RES_INST if len(p) == 4 else codec.RES_VALUE
        return codec.tlv_item(kind, p[-1], codec.value_to_bytes(t, v)), cf
    if cf == codec.SENML_JSON:
        return codec.encode_senml([(p, t, v)]), cf
    raise InputError("--format %s is not for one resource" % fmt)


def _flat(p, vals):
    out = []
    for rid, tv in sorted(vals.items()):
        if isinstance(tv, dict):
            out += [(p[:2] + (rid, riid), t, v) for riid, (t, v) in sorted(tv.items())]
        else:
            out.append((p[:2] + (rid,), tv[0], tv[1]))
    return out


def attrs(items):
    """Write-Attributes query items (appendix 6.7): NAME=NUMBER, or NAME alone to
    remove it; NAME one of pmin, pmax, gt, lt, st, epmin, epmax."""
    out, seen = [], set()
    for it in items:
        name, eq, v = it.partition("=")
        if name not in ATTRS:
            raise InputError("%r: an attribute is one of %s" % (name[:20], ", ".join(ATTRS)))
        if name in seen:
            raise InputError("%s given twice" % name)
        seen.add(name)
        if eq:
            try:
                num = ATTRS[name](v)
            except ValueError:
                raise InputError("%s=%s: a%s number" % (name, v[:20], "n integer" if ATTRS[name] is int else ""))
            if ATTRS[name] is int and num < 0 or (isinstance(num, float) and not math.isfinite(num)):
                raise InputError("%s=%s: out of range" % (name, v[:20]))
            out.append("%s=%s" % (name, v))
        else:
            out.append(name)
    if not out:
        raise InputError("no attribute")
    return tuple(out)


def exec_args(text):
    if text is None:
        return b""
    if len(text) > VALUE_MAX or not all(32 <= ord(c) < 127 for c in text):
        raise InputError("Execute arguments are printable ASCII (e.g. 0=0,1='100'), at most %d characters" % VALUE_MAX)
    return text.encode()
