"""LwM2M content formats (And-link spec section 3.6: plain text, opaque, CoRE link
format, TLV, JSON), decoded and encoded from the OMA LwM2M TS 1.0/1.1 text, not
from the device package: the simulator checks the device's encodings with code of
its own.

    TLV          11542 (1542 in pre-registration LwM2M 1.0 drafts)  TS 1.0 6.4.3
    LwM2M JSON   11543 (1543)                                       TS 1.0 6.4.4
    SenML JSON   110                                                TS 1.1 7.4.4, RFC 8428
    plain text   0,  opaque 42,  link format 40                     TS 1.0 6.4.1/6.4.2, RFC 6690

decode(cf, payload, path) gives a list of Entry (path tuple, type, value) for the
request path; a payload that does not parse raises DecodeError with what is wrong
and where.  A value whose resource type is known (andlink_tools.objects) is read as
that type; when the bytes do not fit it (an integer of 3 bytes, a 1.0-style string
Latitude) it is shown as text or bytes with a note -- never silently as something
else.  Unknown resources are guessed (printable -> string, 1/2/4/8 bytes ->
integer, else opaque) and say so.

And-link's object 19 channel (spec 4.2.2, 4.3.2) carries a JSON object of
parameters, {"power":200,"temperature":"18.5"}: as a read answer or a write
payload with Content-Format 110 although it is not a SenML array, and in Send
records as "vs" -- an object in the spec's examples, a JSON string in its text.
All three are decoded to an entry of type "andlink" whose value is the dict."""

import base64
import json
import math
import struct

from andlink_tools import objects
from andlink_tools.linkformat import DecodeError, decode_link, encode_link, link_objects  # noqa: F401 (codec's API)

TEXT, LINK, OPAQUE, CBOR, SENML_JSON, SENML_CBOR, TLV, LWM2M_JSON = 0, 40, 42, 60, 110, 112, 11542, 11543
LEGACY = {1541: TEXT, 1542: TLV, 1543: LWM2M_JSON, 1544: OPAQUE}
CF_NAMES = {TEXT: "text/plain", LINK: "application/link-format", OPAQUE: "application/octet-stream",
            CBOR: "application/cbor", SENML_JSON: "application/senml+json", SENML_CBOR: "application/senml+cbor",
            TLV: "application/vnd.oma.lwm2m+tlv", LWM2M_JSON: "application/vnd.oma.lwm2m+json"}
FORMATS = {"text": TEXT, "opaque": OPAQUE, "tlv": TLV, "senml": SENML_JSON, "json": LWM2M_JSON, "link": LINK}


def cf_name(cf):
    if cf is None:
        return "(no Content-Format)"
    if cf in LEGACY:
        return "%s (legacy %d)" % (CF_NAMES[LEGACY[cf]], cf)
    return CF_NAMES.get(cf, "Content-Format %d" % cf)


class Entry:
    """One value: `path` (tuple, 3 or 4 levels), `type` (objects' type names or
    "andlink"), `value` (str, int, float, bool, bytes, "O:I" for objlnk, dict for
    "andlink"), `note` (what did not fit, or None)."""
    __slots__ = ("path", "type", "value", "note")

    def __init__(self, path, type_, value, note=None):
        self.path = tuple(path)
        self.type = type_
        self.value = value
        self.note = note

    def __repr__(self):
        return "Entry(%s, %s, %r)" % (objects.path_text(self.path), self.type, self.value)

    def __eq__(self, other):
        return isinstance(other, Entry) and (self.path, self.type, self.value) == (other.path, other.type, other.value)

    def to_json(self, show_secrets=False):
        v = self.value
        if isinstance(v, (bytes, bytearray)):
            v = bytes(v).hex()
        if objects.is_secret(self.path) and not show_secrets:
            v = "***"
        out = {"path": objects.path_text(self.path), "type": self.type, "value": v}
        if self.note:
            out["note"] = self.note
        return out


# -- values ----------------------------------------------------------------------

def _printable(b):
    try:
        t = bytes(b).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return t if t and t.isprintable() else None


def _guess(path, raw, why=None):
    t = _printable(raw)
    if t is not None:
        return Entry(path, objects.S, t, why or "type unknown: read as text")
    if len(raw) in (1, 2, 4, 8):
        return Entry(path, objects.I, int.from_bytes(raw, "big", signed=True), why or "type unknown: read as integer")
    return Entry(path, objects.O, bytes(raw), why or "type unknown: read as bytes")


def _misfit(path, raw, what):
    t = _printable(raw)
    if t is not None:
        return Entry(path, objects.S, t, "%s: shown as text" % what)
    return Entry(path, objects.O, bytes(raw), "%s: shown as bytes" % what)


def value_from_bytes(path, raw, type_=None):
    """A TLV value (TS 1.0 6.4.3 / appendix C) as an Entry."""
    type_ = type_ or objects.rtype(path)
    raw = bytes(raw)
    if type_ is None or type_ == objects.E:
        return _guess(path, raw)
    if type_ in (objects.I, objects.T, "unsigned"):
        if len(raw) not in (1, 2, 4, 8):
            return _misfit(path, raw, "not a TLV integer (%d bytes)" % len(raw))
        return Entry(path, type_, int.from_bytes(raw, "big", signed=type_ != "unsigned"))
    if type_ == objects.F:
        if len(raw) == 4:
            return Entry(path, type_, struct.unpack(">f", raw)[0])
        if len(raw) == 8:
            return Entry(path, type_, struct.unpack(">d", raw)[0])
        return _misfit(path, raw, "not a TLV float (%d bytes)" % len(raw))
    if type_ == objects.B:
        if len(raw) == 1 and raw[0] in (0, 1):
            return Entry(path, type_, bool(raw[0]))
        return _misfit(path, raw, "not a TLV boolean")
    if type_ == objects.L:
        if len(raw) == 4:
            return Entry(path, type_, "%d:%d" % struct.unpack(">HH", raw))
        return _misfit(path, raw, "not a TLV object link (%d bytes)" % len(raw))
    if type_ == objects.S:
        try:
            return Entry(path, type_, raw.decode("utf-8"))
        except UnicodeDecodeError:
            return Entry(path, objects.O, raw, "not UTF-8: shown as bytes")
    return Entry(path, objects.O, raw)


def value_to_bytes(type_, value):
    """The TLV value bytes of `value` as `type_` (integers in the fewest of 1, 2,
    4, 8 bytes; floats in 4 bytes when that is exact, else 8)."""
    if type_ in (objects.I, objects.T, "unsigned"):
        v = int(value)
        for n in (1, 2, 4, 8):
            if -(1 << (8 * n - 1)) <= v < (1 << (8 * n - 1)):
                return v.to_bytes(n, "big", signed=True)
        raise ValueError("integer out of range (64 bits): %d" % v)
    if type_ == objects.F:
        v = float(value)
        four = struct.pack(">f", v) if math.isfinite(v) and abs(v) < 3.4e38 else None
        if four is not None and struct.unpack(">f", four)[0] == v:
            return four
        return struct.pack(">d", v)
    if type_ == objects.B:
        return b"\x01" if value else b"\x00"
    if type_ == objects.L:
        a, b = str(value).split(":")
        return struct.pack(">HH", int(a), int(b))
    if type_ == objects.O:
        return bytes(value)
    return str(value).encode("utf-8")


def value_from_text(path, text, type_=None):
    """A plain-text value (TS 1.0 6.4.1) as an Entry."""
    type_ = type_ or objects.rtype(path)
    try:
        s = bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        return Entry(path, objects.O, bytes(text), "plain text that is not UTF-8: shown as bytes")
    try:
        if type_ in (objects.I, objects.T, "unsigned"):
            return Entry(path, type_, int(s))
        if type_ == objects.F:
            return Entry(path, type_, float(s))
    except ValueError:
        return Entry(path, objects.S, s, "not a %s in plain text: shown as text" % type_)
    if type_ == objects.B:
        if s in ("0", "1"):
            return Entry(path, type_, s == "1")
        return Entry(path, objects.S, s, "not a plain-text boolean (0 or 1): shown as text")
    if type_ == objects.O:
        return Entry(path, objects.O, bytes(text), "opaque sent as plain text")
    if type_ == objects.L:
        return Entry(path, type_, s)
    if type_ is None:
        return Entry(path, objects.S, s, "type unknown: read as text")
    return Entry(path, objects.S if type_ == objects.E else type_, s)


def value_to_text(type_, value):
    if type_ == objects.B:
        return b"1" if value else b"0"
    if type_ == objects.O:
        return bytes(value)
    if type_ == objects.F:
        return repr(float(value)).encode()
    return str(value).encode("utf-8")


# -- TLV -------------------------------------------------------------------------------

OBJ_INST, RES_INST, MULTI_RES, RES_VALUE = 0, 1, 2, 3
KIND_NAMES = ("object instance", "resource instance", "multiple resource", "resource")


def tlv_items(buf, at=0):
    """[(kind, id, value bytes, offset)] of one TLV level."""
    buf = bytes(buf)
    out, i = [], 0
    while i < len(buf):
        start = i
        t = buf[i]
        i += 1
        kind = t >> 6
        id_len = 2 if t & 0x20 else 1
        ltype = (t >> 3) & 3
        if i + id_len + ltype > len(buf):
            raise DecodeError("TLV at byte %d: header cut short" % (at + start))
        ident = int.from_bytes(buf[i:i + id_len], "big")
        i += id_len
        if ltype == 0:
            length = t & 7
        else:
            length = int.from_bytes(buf[i:i + ltype], "big")
            i += ltype
        if i + length > len(buf):
            raise DecodeError("TLV at byte %d (%s %d): %d value bytes announced, %d left" % (
                at + start, KIND_NAMES[kind], ident, length, len(buf) - i))
        out.append((kind, ident, buf[i:i + length], at + i))
        i += length
    return out


def _resource_entries(obj, inst, items):
    out = []
    for kind, rid, val, off in items:
        if kind == RES_VALUE:
            out.append(value_from_bytes((obj, inst, rid), val))
        elif kind == MULTI_RES:
            for k2, riid, v2, off2 in tlv_items(val, off):
                if k2 != RES_INST:
                    raise DecodeError("TLV at byte %d: a %s inside multiple resource %d" % (off2, KIND_NAMES[k2], rid))
                out.append(value_from_bytes((obj, inst, rid, riid), v2))
        else:
            raise DecodeError("TLV at byte %d: a %s where resources are expected" % (off, KIND_NAMES[kind]))
    return out


def decode_tlv(payload, path):
    items = tlv_items(payload)
    if len(path) == 1:
        out = []
        for kind, iid, val, off in items:
            if kind != OBJ_INST:
                raise DecodeError("TLV at byte %d: a %s where object instances are expected (read of %s)" % (
                    off, KIND_NAMES[kind], objects.path_text(path)))
            out += _resource_entries(path[0], iid, tlv_items(val, off))
        return out
    if len(path) == 2:
        if len(items) == 1 and items[0][0] == OBJ_INST:     # the instance wrapped: allowed
            if items[0][1] != path[1]:
                raise DecodeError("TLV: object instance %d in the answer for %s" % (items[0][1], objects.path_text(path)))
            items = tlv_items(items[0][2], items[0][3])
        return _resource_entries(path[0], path[1], items)
    obj, inst, rid = path[:3]
    out = []
    for kind, ident, val, off in items:
        if kind == RES_INST and len(path) == 3:
            out.append(value_from_bytes((obj, inst, rid, ident), val))
        elif kind in (RES_VALUE, MULTI_RES) and ident == rid:
            out += _resource_entries(obj, inst, [(kind, ident, val, off)])
        elif kind in (RES_VALUE, RES_INST) and len(path) == 4 and ident == path[3]:
            out.append(value_from_bytes(path, val))
        else:
            raise DecodeError("TLV at byte %d: %s %d in the answer for %s" % (
                off, KIND_NAMES[kind], ident, objects.path_text(path)))
    return out


def tlv_item(kind, ident, value):
    """One TLV (header + value), the shortest header form."""
    value = bytes(value)
    t = kind << 6
    idb = ident.to_bytes(2 if ident > 0xFF else 1, "big")
    if ident > 0xFF:
        t |= 0x20
    n = len(value)
    if n < 8:
        t |= n
        lenb = b""
    elif n <= 0xFF:
        t |= 0x08
        lenb = bytes([n])
    elif n <= 0xFFFF:
        t |= 0x10
        lenb = n.to_bytes(2, "big")
    elif n <= 0xFFFFFF:
        t |= 0x18
        lenb = n.to_bytes(3, "big")
    else:
        raise ValueError("TLV value longer than 16 MiB")
    return bytes([t]) + idb + lenb + value


def encode_tlv(obj, values, instance=None):
    """TLV of resources of object `obj`: `values` {rid: value | {riid: value}},
    each typed by the object table (or a (type, value) pair); wrapped in an
    object-instance TLV when `instance` is not None."""
    body = b""
    for rid in sorted(values):
        v = values[rid]
        r = objects.resource(obj, rid)
        t = r[1] if r else None
        if isinstance(v, dict):
            inner = b""
            for riid in sorted(v):
                tt, vv = _typed(t, v[riid])
                inner += tlv_item(RES_INST, riid, value_to_bytes(tt, vv))
            body += tlv_item(MULTI_RES, rid, inner)
        else:
            tt, vv = _typed(t, v)
            body += tlv_item(RES_VALUE, rid, value_to_bytes(tt, vv))
    return tlv_item(OBJ_INST, instance, body) if instance is not None else body


def _typed(t, v):
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str):
        return v
    if t is None or t == objects.E:
        t = objects.O if isinstance(v, (bytes, bytearray)) else objects.B if isinstance(v, bool) else \
            objects.I if isinstance(v, int) else objects.F if isinstance(v, float) else objects.S
    return t, v


# -- JSON: SenML (110) and LwM2M JSON (11543) --------------------------------------------

def _name_path(name, where):
    try:
        p = objects.parse_path(name.rstrip("/") if name != "/" else name, 1, 4)
    except objects.PathError as e:
        raise DecodeError("%s: name %r is not an LwM2M path (%s)" % (where, name, e))
    return p


def _json_value(path, rec, where, keys):
    """keys: (number, string, boolean, data, objlnk) record keys."""
    kn, ks, kb, kd, kl = keys
    t = objects.rtype(path)
    present = [k for k in keys if k and k in rec]
    if len(present) != 1:
        raise DecodeError("%s: %s" % (where, "no value" if not present else "two values (%s)" % ", ".join(present)))
    k = present[0]
    v = rec[k]
    if k == kn:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise DecodeError("%s: %s is not a number" % (where, k))
        if t in (objects.I, objects.T) and float(v).is_integer():
            return Entry(path, t, int(v))
        if t in (objects.I, objects.T):
            return Entry(path, objects.F, v, "a fraction for an integer resource")
        if t in (objects.F, None):
            return Entry(path, objects.F if isinstance(v, float) or t == objects.F else objects.I, v)
        return Entry(path, objects.F if isinstance(v, float) else objects.I, v, "a number for a %s resource" % t)
    if k == ks:
        if path[:1] == (19,) and isinstance(v, dict):          # And-link spec 4.3.2 example
            return Entry(path, "andlink", v, "parameters as a JSON object, as the spec's example")
        if not isinstance(v, str):
            raise DecodeError("%s: %s is not a string" % (where, k))
        if path[:1] == (19,) and v.startswith("{"):
            try:
                d = json.loads(v)
            except ValueError:
                d = None
            if isinstance(d, dict):
                return Entry(path, "andlink", d, "parameters as a JSON string, as the spec's text")
        if t == objects.L:
            return Entry(path, t, v)
        return Entry(path, t if t in (objects.S, None) else objects.S, v,
                     None if t in (objects.S, None) else "a string for a %s resource" % t)
    if k == kb:
        if not isinstance(v, bool):
            raise DecodeError("%s: %s is not true/false" % (where, k))
        return Entry(path, objects.B, v)
    if k == kd:
        if not isinstance(v, str):
            raise DecodeError("%s: %s is not base64 text" % (where, k))
        try:
            pad = "=" * (-len(v) % 4)
            raw = base64.urlsafe_b64decode(v + pad) if ("-" in v or "_" in v) else base64.b64decode(v + pad, validate=True)
        except (ValueError, base64.binascii.Error):
            raise DecodeError("%s: %s is not base64" % (where, k))
        return Entry(path, objects.O, raw)
    if not isinstance(v, str) or ":" not in v:
        raise DecodeError("%s: %s is not an object link O:I" % (where, k))
    return Entry(path, objects.L, v)


def _load_json(payload, what):
    try:
        return json.loads(bytes(payload).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise DecodeError("%s: not JSON (%s)" % (what, e))


def decode_senml(payload, path):
    """SenML JSON records (RFC 8428; LwM2M TS 1.1 7.4.4): bn/n names resolved."""
    doc = _load_json(payload, "SenML JSON")
    if isinstance(doc, dict):                            # And-link 4.2.2.2 answer
        if len(path) < 3:
            raise DecodeError("SenML JSON: a JSON object (And-link parameters) for %s" % objects.path_text(path))
        return [Entry(path, "andlink", doc, "And-link parameters: a JSON object, not a SenML array")]
    if not isinstance(doc, list):
        raise DecodeError("SenML JSON: not an array of records")
    out, bn, bt = [], "", None
    for i, rec in enumerate(doc):
        where = "SenML record %d" % i
        if not isinstance(rec, dict):
            raise DecodeError("%s: not an object" % where)
        if "bn" in rec:
            if not isinstance(rec["bn"], str):
                raise DecodeError("%s: bn is not a string" % where)
            bn = rec["bn"]
        if "bt" in rec:
            bt = rec["bt"]
        n = rec.get("n", "")
        if not isinstance(n, str):
            raise DecodeError("%s: n is not a string" % where)
        if not (bn + n):
            raise DecodeError("%s: no name (bn + n)" % where)
        p = _name_path(bn + n, where)
        if len(p) < 3:
            raise DecodeError("%s: %s names no resource" % (where, bn + n))
        out.append(_json_value(p, rec, where, ("v", "vs", "vb", "vd", "vlo")))
    return out


def decode_lwm2m_json(payload, path):
    """LwM2M JSON (TS 1.0 6.4.4): {"bn": "/3/0/", "e": [{"n": "0", "sv": ...}]}."""
    doc = _load_json(payload, "LwM2M JSON")
    if not isinstance(doc, dict) or not isinstance(doc.get("e"), list):
        raise DecodeError("LwM2M JSON: not an object with an \"e\" array")
    bn = doc.get("bn", objects.path_text(path) + "/")
    if not isinstance(bn, str):
        raise DecodeError("LwM2M JSON: bn is not a string")
    out = []
    for i, rec in enumerate(doc["e"]):
        where = "LwM2M JSON entry %d" % i
        if not isinstance(rec, dict):
            raise DecodeError("%s: not an object" % where)
        n = rec.get("n", "")
        if not isinstance(n, str):
            raise DecodeError("%s: n is not a string" % where)
        name = bn + n if not n.startswith("/") else n
        p = _name_path(name, where)
        if len(p) < 3:
            raise DecodeError("%s: %s names no resource" % (where, name))
        out.append(_json_value(p, rec, where, ("v", "sv", "bv", None, "ov")))
    return out


def encode_senml(entries):
    """SenML JSON of [(path tuple, type, value)]: one record each, full names."""
    recs = []
    for path, t, v in entries:
        r = {"n": objects.path_text(path)}
        if t == "andlink":
            r["vs"] = v
        elif t == objects.B:
            r["vb"] = bool(v)
        elif t in (objects.I, objects.T, objects.F):
            r["v"] = v
        elif t == objects.O:
            r["vd"] = base64.urlsafe_b64encode(bytes(v)).decode().rstrip("=")
        elif t == objects.L:
            r["vlo"] = str(v)
        else:
            r["vs"] = str(v)
        recs.append(r)
    return json.dumps(recs, separators=(",", ":")).encode()


# -- the entry point -------------------------------------------------------------------------

def decode(cf, payload, path):
    """Entries of a response / notification / Send payload for request `path`.
    `cf` None: an empty payload is no entries; otherwise plain text is assumed
    (TS 1.0 6.4: a single resource without Content-Format)."""
    payload = bytes(payload or b"")
    cf = LEGACY.get(cf, cf)
    if cf is None and not payload:
        return []
    if cf == TLV:
        return decode_tlv(payload, path)
    if cf == SENML_JSON:
        return decode_senml(payload, path)
    if cf == LWM2M_JSON:
        return decode_lwm2m_json(payload, path)
    if cf in (TEXT, OPAQUE, None):
        if len(path) < 3:
            raise DecodeError("%s for %s: one resource only" % (cf_name(cf), objects.path_text(path)))
        if path[0] == 19 and payload[:1] == b"{":
            try:
                d = json.loads(payload.decode("utf-8"))
            except ValueError:
                d = None
            if isinstance(d, dict):
                return [Entry(path, "andlink", d, "And-link parameters sent as %s" % cf_name(cf))]
        if cf == OPAQUE:
            return [Entry(path, objects.O, payload)]
        return [value_from_text(path, payload)]
    raise DecodeError("%s: not decoded by the simulator" % cf_name(cf))


def show(entry, show_secrets=False):
    """One line: "/3/0/3 = 1.0.0 (Device / Firmware Version)"."""
    v = entry.value
    if objects.is_secret(entry.path) and not show_secrets:
        text = "*** (hidden: --show-secrets)"
    elif isinstance(v, (bytes, bytearray)):
        text = "hex:" + bytes(v).hex() if v else "(empty)"
    elif isinstance(v, dict):
        text = json.dumps(v, ensure_ascii=False, sort_keys=True)
    elif isinstance(v, str):
        text = json.dumps(v, ensure_ascii=False)
    else:
        text = str(v).lower() if isinstance(v, bool) else str(v)
    extra = objects.name(entry.path)
    if entry.path[:3] == (5, 0, 3) and isinstance(v, int):
        extra += ": " + objects.FW_STATES.get(v, "?")
    if entry.path[:3] == (5, 0, 5) and isinstance(v, int):
        extra += ": " + objects.FW_RESULTS.get(v, "?")
    line = "%s = %s" % (objects.path_text(entry.path), text)
    if extra:
        line += "  (%s)" % extra
    if entry.note:
        line += "  [%s]" % entry.note
    return line
