"""SenML JSON (content format 110, RFC 8428; OMA LwM2M TS 1.1 section 7.4.4)
and the LwM2M 1.0 JSON format (11543, TS 1.0 section 6.4.4), a small JSON
writer, and the And-link parameter document carried by /19/1/0 (And-link
spec sections 4.2.2 and 4.3.2).

SenML JSON: an array of records; "bn" (base name) holds until the next "bn",
a record's path is bn + "n"; one value per record: "v" number, "vs" string,
"vb" boolean, "vd" opaque (base64url without padding on output, either
alphabet on input), "vlo" object link "O:I".  "bt"/"t" are read and ignored.
LwM2M JSON 11543: {"bn": ..., "e": [{"n", "v"|"sv"|"bv"|"ov"}]}, opaque as
standard base64 in "sv".

Output (`encode`): a read of /O or /O/I (or a multiple resource) gives
bn "/3/0/" and names relative to it, a single resource bn "/3/0/1" alone.
The writer is ours (`dumps`), so the bytes are the same on MicroPython and
CPython: compact, non-ASCII as UTF-8, control characters escaped.

And-link 4.2.2: a Read of /19/1/0 answers, and a Write carries, the bare
parameter document {"ParamName1":"value1","ParamName2/index":"value2"}
under content format 110 (not a SenML array); `params`/`parse_params` build
and read it.  4.3.2: Send carries [{"n":"/19/1/0","vs":{...}}], the document
as the value of "vs"; the spec's examples put the object itself there where
its note says "a JSON string": `send_payload` writes the object (embed=True,
as the examples) or the string, and `decode` takes either.
"""

import json

from andlink.lwm2m.codes import (DecodeError, EncodeError, NotFound, MULTI, rtype, SENML_JSON, T_STRING,
                                 T_INT, T_UINT, T_FLOAT, T_BOOL, T_OPAQUE, T_TIME, T_OBJLNK, T_CORELNK,
                                 T_JSON)
from andlink.lwm2m.path import fmt, parse, under
from andlink.lwm2m.text import b64encode, b64decode, float_str, parse_objlnk, to_str

_ESC = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def quote(s):
    """A JSON string literal."""
    for c in s:
        if c in _ESC or c < " ":
            break
    else:
        return '"' + s + '"'
    out = []
    for c in s:
        e = _ESC.get(c)
        if e is None and c < " ":
            e = "\\u%04x" % ord(c)
        out.append(e or c)
    return '"' + "".join(out) + '"'


def _dump(o, out):
    if o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif isinstance(o, str):
        out.append(quote(o))
    elif isinstance(o, int):
        out.append(str(o))
    elif isinstance(o, float):
        out.append(float_str(o))
    elif isinstance(o, (list, tuple)):
        out.append("[")
        for i, x in enumerate(o):
            if i:
                out.append(",")
            _dump(x, out)
        out.append("]")
    elif isinstance(o, dict):
        _pairs(o.items(), out)
    else:
        raise EncodeError("no JSON form for %r" % (o,))


def _pairs(items, out):
    out.append("{")
    first = True
    for k, v in items:
        if not isinstance(k, str):
            raise EncodeError("JSON keys are strings")
        if not first:
            out.append(",")
        first = False
        out.append(quote(k))
        out.append(":")
        _dump(v, out)
    out.append("}")


def dumps(o):
    """Compact JSON text of None, bool, int, float, str, list/tuple, dict."""
    out = []
    _dump(o, out)
    return "".join(out)


_DEPTH = 16


def _skip(s, i):
    n = len(s)
    while i < n and s[i] in " \t\r\n":
        i += 1
    return i


def _scan_string(s, i):
    """The index after the JSON string starting at s[i] (a '"')."""
    n = len(s)
    i += 1
    while i < n:
        c = s[i]
        if c == '"':
            return i + 1
        if c < " ":
            break
        if c == "\\":
            e = s[i + 1:i + 2]
            if e == "u":
                h = s[i + 2:i + 6]
                if len(h) != 4 or any(x not in "0123456789abcdefABCDEF" for x in h):
                    break
                i += 6
                continue
            if not e or e not in '"\\/bfnrt':
                break
            i += 2
            continue
        i += 1
    raise DecodeError("bad JSON string")


def _scan_number(s, i):
    """The index after the JSON number starting at s[i]."""
    n = len(s)
    j = i + 1 if s[i] == "-" else i
    k = j
    while k < n and "0" <= s[k] <= "9":
        k += 1
    if k == j or (s[j] == "0" and k > j + 1):
        raise DecodeError("bad JSON number")
    if k < n and s[k] == ".":
        k += 1
        m = k
        while k < n and "0" <= s[k] <= "9":
            k += 1
        if k == m:
            raise DecodeError("bad JSON number")
    if k < n and s[k] in "eE":
        k += 1
        if k < n and s[k] in "+-":
            k += 1
        m = k
        while k < n and "0" <= s[k] <= "9":
            k += 1
        if k == m:
            raise DecodeError("bad JSON number")
    return k


def check_syntax(s):
    """DecodeError unless `s` is one JSON value (RFC 8259) nested at most
    16 deep: MicroPython's parser takes "[1 2]" or {"a","b"} as valid."""
    stack = []
    state = 0          # 0 value, 1 value or ']', 2 key or '}', 3 key, 4 ':', 5 ',' or close, 6 end
    i = _skip(s, 0)
    n = len(s)
    while i < n:
        c = s[i]
        if state == 5:
            if c == ",":
                state = 3 if stack[-1] == "{" else 0
                i += 1
            elif c == ("]" if stack[-1] == "[" else "}"):
                stack.pop()
                state = 5 if stack else 6
                i += 1
            else:
                break
        elif state == 4:
            if c != ":":
                break
            state = 0
            i += 1
        elif state == 6:
            break
        elif state >= 2:
            if c == "}" and state == 2:
                stack.pop()
                state = 5 if stack else 6
                i += 1
            elif c == '"':
                i = _scan_string(s, i)
                state = 4
            else:
                break
        elif c == "]" and state == 1:
            stack.pop()
            state = 5 if stack else 6
            i += 1
        elif c == "[" or c == "{":
            if len(stack) >= _DEPTH:
                raise DecodeError("JSON nested too deep")
            stack.append(c)
            state = 1 if c == "[" else 2
            i += 1
        else:
            if c == '"':
                i = _scan_string(s, i)
            elif c == "-" or "0" <= c <= "9":
                i = _scan_number(s, i)
            else:
                for w in ("true", "false", "null"):
                    if s.startswith(w, i):
                        i += len(w)
                        break
                else:
                    break
            state = 5 if stack else 6
        i = _skip(s, i)
    if i < n or state != 6:
        raise DecodeError("not JSON")


def loads(data):
    """json.loads after check_syntax, every failure as DecodeError."""
    s = data if isinstance(data, str) else to_str(data)
    check_syntax(s)
    try:
        return json.loads(s)
    except Exception:
        raise DecodeError("not JSON")


# ---- encoding records

def _put_value(out, typ, v, senml):
    """Append the value field of `v` (type `typ`) to the pieces `out`."""
    if typ == T_INT or typ == T_UINT or typ == T_TIME:
        out.append('"v":')
        out.append(str(int(v)))
    elif typ == T_FLOAT:
        out.append('"v":')
        out.append(float_str(v))
    elif typ == T_BOOL:
        out.append('"vb":' if senml else '"bv":')
        out.append("true" if v else "false")
    elif typ == T_OBJLNK:
        out.append('"vlo":"' if senml else '"ov":"')
        out.append("%d:%d\"" % (v[0], v[1]))
    elif typ == T_OPAQUE:
        out.append('"vd":"' if senml else '"sv":"')
        out.append(b64encode(v, senml))
        out.append('"')
    elif typ == T_STRING or typ == T_CORELNK or typ == T_JSON:
        out.append('"vs":' if senml else '"sv":')
        out.append(quote(v if isinstance(v, str) else to_str(v)))
    else:
        raise EncodeError("type %d has no value" % typ)


def encode(records, base, fmt_=SENML_JSON):
    """SenML JSON (110) or LwM2M JSON (11543) bytes of `records`
    [(path, type, value)] read at `base`."""
    senml = fmt_ == SENML_JSON
    single = len(base) == 4 or (len(base) == 3 and len(records) == 1 and not isinstance(records[0][2], dict))
    bn = quote(fmt(base) if single else fmt(base) + "/")
    out = ["[{" if senml else '{"bn":' + bn + ',"e":[{']
    if senml:
        out.append('"bn":' + bn + ",")
    nb = len(base)
    first = True
    for path, typ, v in records:
        for ri in (sorted(v) if isinstance(v, dict) else (None,)):
            if not first:
                out.append(",{")
            first = False
            if not single:
                out.append('"n":"')
                for k in range(nb, len(path)):
                    out.append(str(path[k]) if k == nb else "/" + str(path[k]))
                out.append('",' if ri is None else ("/" if len(path) > nb else "") + str(ri) + '",')
            _put_value(out, typ, v if ri is None else v[ri], senml)
            out.append("}")
    if first:
        return b"[]" if senml else ('{"bn":' + bn + ',"e":[]}').encode()
    out.append("]" if senml else "]}")
    return "".join(out).encode()


# ---- decoding records

_KINDS_SENML = ("v", "vs", "vb", "vd", "vlo")
_KINDS_10 = ("v", "sv", "bv", "ov")


def _number(x):
    if isinstance(x, bool) or not isinstance(x, (int, float)) or x - x != 0:
        raise DecodeError("not a finite number")
    return x


def convert(typ, kind, x):
    """A JSON value `x` given as field `kind` ('v', 'vs'/'sv', 'vb'/'bv',
    'vd', 'vlo'/'ov') as a value of type `typ`; DecodeError on a mismatch."""
    if kind == "sv" and typ == T_OPAQUE:
        kind = "vd"
    elif kind == "sv":
        kind = "vs"
    elif kind == "bv":
        kind = "vb"
    elif kind == "ov":
        kind = "vlo"
    if typ == T_INT or typ == T_TIME or typ == T_UINT:
        if kind != "v":
            raise DecodeError("integer wanted")
        x = _number(x)
        if isinstance(x, float):
            if x != int(x):
                raise DecodeError("integer wanted")
            x = int(x)
        if typ == T_UINT and x < 0 or not -(1 << 63) <= x < 1 << 64:
            raise DecodeError("integer out of range")
        return x
    if typ == T_FLOAT:
        if kind != "v":
            raise DecodeError("number wanted")
        return float(_number(x))
    if typ == T_BOOL:
        if kind != "vb" or not isinstance(x, bool):
            raise DecodeError("boolean wanted")
        return x
    if typ == T_JSON and kind == "vs" and isinstance(x, (dict, list)):
        return dumps(x)
    if not isinstance(x, str):
        raise DecodeError("string value wanted")
    if typ == T_STRING or typ == T_CORELNK or typ == T_JSON:
        if kind != "vs":
            raise DecodeError("string wanted")
        return x
    if typ == T_OPAQUE:
        if kind != "vd":
            raise DecodeError("opaque wanted")
        return b64decode(x)
    if typ == T_OBJLNK:
        if kind != "vlo":
            raise DecodeError("object link wanted")
        return parse_objlnk(x)
    raise DecodeError("type %d takes no value" % typ)


def _entries(doc, senml):
    """[(name, kind, value)] of a decoded SenML or 11543 document."""
    if senml:
        if not isinstance(doc, list):
            raise DecodeError("SenML JSON is an array")
        recs, bn = doc, ""
    else:
        if not isinstance(doc, dict) or not isinstance(doc.get("e"), list):
            raise DecodeError("LwM2M JSON is an object with \"e\"")
        recs, bn = doc["e"], doc.get("bn", "")
        if not isinstance(bn, str):
            raise DecodeError("bn is not a string")
    kinds = _KINDS_SENML if senml else _KINDS_10
    out = []
    for r in recs:
        if not isinstance(r, dict):
            raise DecodeError("a record is not an object")
        if senml and "bn" in r:
            bn = r["bn"]
            if not isinstance(bn, str):
                raise DecodeError("bn is not a string")
        n = r.get("n", "")
        if not isinstance(n, str):
            raise DecodeError("n is not a string")
        kind = None
        for k in kinds:
            if k in r:
                if kind is not None:
                    raise DecodeError("two values in one record")
                kind = k
        if kind is None:
            raise DecodeError("a record without a value")
        out.append((bn + n, kind, r[kind]))
    return out


def decode(data, base, typeof, fmt_=SENML_JSON):
    """Records [(path, value)] from SenML JSON (110) or LwM2M JSON (11543)
    written to `base`; a multiple resource's instances are gathered as
    (path3, {riid: value}).  typeof(path3) gives a resource's flags, -1 if
    unknown (NotFound, 4.04).  Paths outside `base`: DecodeError."""
    out = []
    multi = {}
    for name, kind, x in _entries(loads(data), fmt_ == SENML_JSON):
        try:
            p = parse(name)
        except ValueError:
            raise DecodeError("bad name %r" % name)
        if len(p) < 3 or not under(p, base):
            raise DecodeError("%s is not a resource under %s" % (name, fmt(base)))
        f = typeof(p[:3])
        if f < 0:
            raise NotFound("no resource %s" % name)
        v = convert(rtype(f), kind, x)
        if len(p) == 4:
            if not f & MULTI:
                raise DecodeError("%s: resource is single" % name)
            d = multi.get(p[:3])
            if d is None:
                d = multi[p[:3]] = {}
                out.append((p[:3], d))
            if p[3] in d:
                raise DecodeError("%s written twice" % name)
            d[p[3]] = v
        else:
            if f & MULTI:
                raise DecodeError("%s: resource is multiple" % name)
            for q, _ in out:
                if q == p:
                    raise DecodeError("%s written twice" % name)
            out.append((p, v))
    return out


# ---- the And-link parameter document (sections 4.2.2, 4.3.2)

def params(pairs):
    """{"power":200,"outletStatus/1":1} from [(name, value)] or a dict (a
    list keeps its order on MicroPython, whose dicts do not)."""
    out = []
    _pairs(pairs.items() if isinstance(pairs, dict) else pairs, out)
    return "".join(out)


def parse_params(data):
    """The parameter document as a dict; DecodeError unless it is a JSON
    object with string keys."""
    doc = loads(data)
    if not isinstance(doc, dict):
        raise DecodeError("the parameter document is a JSON object")
    return doc


def send_payload(doc, path="/19/1/0", embed=True):
    """The Send (POST /dp) payload of section 4.3.2: [{"n":path,"vs":doc}],
    `doc` the parameter document (text, or pairs/dict for `params`);
    embed=False puts it in as a JSON string instead of an object."""
    if not isinstance(doc, str):
        doc = params(doc)
    if embed:
        parse_params(doc)            # it must be an object to be embedded
        vs = doc
    else:
        vs = quote(doc)
    return ('[{"n":' + quote(path) + ',"vs":' + vs + "}]").encode()
