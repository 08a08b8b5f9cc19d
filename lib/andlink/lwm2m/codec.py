"""Records <-> payload in a content format (And-link spec section 3.6; OMA
LwM2M TS 1.1 section 7; TS 1.0 section 6.4).

Records are the model's flat form: (path, type, value) to encode, with a
multiple resource as its 3-element path and a dict {riid: value}, a
resource instance read alone as a 4-element path; (path, value) decoded, a
multiple resource's instances gathered in a dict under its 3-element path.

Choices (documented in docs/ANDLINK.md, "Data model"):
* no Accept: a single resource in plain text (opaque in 42, the And-link
  parameter document in 110), anything larger in TLV (section 3.6: TLV by
  default when several resources are involved);
* text/plain and octet-stream only for a single value (else 4.06 on read,
  4.15 on write);
* a single resource of type JSON (/19/1/0) is read and written as the bare
  document under 110 or 50 (section 4.2.2); a SenML array under 110 is
  accepted for it too.
"""

from andlink.lwm2m.codes import (DecodeError, EncodeError, NotFound, Unsupported, MULTI, rtype, TEXT, OPAQUE,
                                 JSON, SENML_JSON, TLV, LWM2M_JSON, T_OPAQUE, T_JSON)
from andlink.lwm2m import text as _text

FORMATS = (TEXT, OPAQUE, JSON, SENML_JSON, TLV, LWM2M_JSON)


def _single(base, records):
    """The one scalar record of a single-value read, else None."""
    if len(base) >= 3 and len(records) == 1 and not isinstance(records[0][2], dict):
        return records[0]
    return None


def encode(accept, base, records):
    """(content format, payload) for `records` read at `base`; `accept` the
    requested content format or None.  EncodeError (4.06) when the format
    cannot carry the target."""
    one = _single(base, records)
    if accept is None:
        if one is None:
            accept = TLV
        else:
            t = one[1]
            accept = SENML_JSON if t == T_JSON else OPAQUE if t == T_OPAQUE else TEXT
    if one is not None and one[1] == T_JSON and accept in (SENML_JSON, JSON):
        v = one[2]
        return accept, v.encode() if isinstance(v, str) else bytes(v)
    if accept == TEXT:
        if one is None:
            raise EncodeError("plain text carries one value")
        return TEXT, _text.encode(one[1], one[2])
    if accept == OPAQUE:
        if one is None or one[1] not in (T_OPAQUE, T_JSON):
            raise EncodeError("octet-stream carries one opaque value")
        v = one[2]
        return OPAQUE, v.encode() if isinstance(v, str) else bytes(v)
    if accept == TLV:
        from andlink.lwm2m import tlv
        return TLV, tlv.encode(records, len(base))
    if accept == SENML_JSON or accept == LWM2M_JSON:
        from andlink.lwm2m import senml
        return accept, senml.encode(records, base, accept)
    raise EncodeError("content format %d not acceptable" % accept)


def _flags(typeof, base):
    f = typeof(base[:3])
    if f < 0:
        raise NotFound("no resource")
    return f


def _one(base, f, v):
    if len(base) == 4:
        if not f & MULTI:
            raise DecodeError("resource is single")
        return [(base[:3], {base[3]: v})]
    if f & MULTI:
        raise DecodeError("a multiple resource takes TLV or JSON")
    return [(base, v)]


def _starts_object(payload):
    for c in bytes(payload[:64]):
        if c not in b" \t\r\n":
            return c == 123        # '{'
    return False


def decode(cf, base, payload, typeof):
    """Records [(path, value)] from `payload` of content format `cf` (None:
    plain text for a single resource, else TLV) written to `base`.
    typeof(path3) gives a resource's flags, -1 if unknown.  Unsupported
    (4.15), DecodeError (4.00), NotFound (4.04)."""
    single = len(base) >= 3
    if cf is None:
        cf = TEXT if single else TLV
    if cf == TEXT or cf == OPAQUE or cf == JSON:
        if not single:
            raise Unsupported("format %d writes one value" % cf)
        f = _flags(typeof, base)
        t = rtype(f)
        if cf == TEXT:
            return _one(base, f, _text.decode(t, payload))
        if cf == OPAQUE and t == T_OPAQUE:
            return _one(base, f, bytes(payload))
        if t != T_JSON:
            raise Unsupported("format %d does not fit type %d" % (cf, t))
        return _one(base, f, _doc(payload))
    if cf == SENML_JSON and single and _starts_object(payload):
        f = _flags(typeof, base)
        if rtype(f) != T_JSON:
            raise DecodeError("SenML JSON is an array")
        return _one(base, f, _doc(payload))
    if cf == TLV:
        from andlink.lwm2m import tlv
        return tlv.decode(payload, base, typeof)
    if cf == SENML_JSON or cf == LWM2M_JSON:
        from andlink.lwm2m import senml
        return senml.decode(payload, base, typeof, cf)
    raise Unsupported("content format %d" % cf)


def _doc(payload):
    """The And-link parameter document as text, checked to be a JSON object."""
    from andlink.lwm2m import senml
    s = _text.to_str(payload)
    senml.parse_params(s)
    return s
