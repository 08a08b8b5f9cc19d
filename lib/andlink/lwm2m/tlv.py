"""LwM2M TLV, content format 11542 (OMA LwM2M TS 1.1 section 7.4.3; TS 1.0
section 6.4.3; And-link spec section 3.6: the default for several resources).

One TLV: a type byte, the identifier (8 or 16 bits), the length (in the type
byte when under 8, else an 8-, 16- or 24-bit field) and the value:

    type bits 7-6  00 object instance, 01 resource instance,
                   10 multiple resource, 11 resource with value
         bit 5     identifier is 16 bits
         bits 4-3  length field: none (bits 2-0 hold it), 8, 16 or 24 bits

Values (TS 1.1 Appendix C): strings UTF-8; integer and time two's complement
big-endian in 1, 2, 4 or 8 bytes (the encoder picks the smallest); unsigned
likewise; float 4 or 8 bytes IEEE 754 (4 when that keeps the value
exactly); boolean one byte 0/1; object link 2 bytes object ID + 2 bytes
instance ID; opaque as is.

Records are the model's flat form (codec.py): (path, type, value) to encode,
with a multiple resource as a 3-element path and a dict {riid: value}; the
decoder returns (path, value) the same way (a resource instance written
alone comes back as its resource's path and a one-entry dict).  Decoding checks every length
against the buffer and the nesting (object instance > resources > resource
instances), so bad input raises DecodeError (4.00), never IndexError.
"""

import struct
from micropython import const

from andlink.lwm2m.codes import (DecodeError, EncodeError, NotFound, MULTI, rtype, T_NONE,
                                 T_INT, T_UINT, T_FLOAT, T_BOOL, T_OPAQUE, T_TIME, T_OBJLNK)
from andlink.lwm2m.text import to_str

OBJ_INST = const(0)
RES_INST = const(1)
MULTI_RES = const(2)
RES = const(3)
_NO_IID = const(-1)       # a bare resource under /O (Create without an instance TLV)


# ---- values

def int_bytes(v, unsigned=False):
    v = int(v)
    if unsigned:
        if v < 0:
            raise EncodeError("negative unsigned")
        n = 1 if v < 0x100 else 2 if v < 0x10000 else 4 if v < 0x100000000 else 8
        if v >= 1 << 64:
            raise EncodeError("unsigned beyond 64 bits")
    else:
        n = 1 if -0x80 <= v < 0x80 else 2 if -0x8000 <= v < 0x8000 else 4 if -0x80000000 <= v < 0x80000000 else 8
        if not -(1 << 63) <= v < 1 << 63:
            raise EncodeError("integer beyond 64 bits")
    return (v & ((1 << (8 * n)) - 1)).to_bytes(n, "big")


def float_bytes(v):
    v = float(v)
    try:
        b = struct.pack(">f", v)
        if struct.unpack(">f", b)[0] == v:
            return b
    except (OverflowError, ValueError):
        pass
    return struct.pack(">d", v)


def value_bytes(typ, v):
    """The TLV value bytes of `v` of type `typ`."""
    if typ == T_INT or typ == T_TIME:
        return int_bytes(v)
    if typ == T_UINT:
        return int_bytes(v, True)
    if typ == T_FLOAT:
        return float_bytes(v)
    if typ == T_BOOL:
        return b"\x01" if v else b"\x00"
    if typ == T_OBJLNK:
        return struct.pack(">HH", v[0], v[1])
    if typ == T_NONE:
        raise EncodeError("an executable resource has no value")
    return v.encode() if isinstance(v, str) else bytes(v)     # string, opaque, corelnk, JSON


def value(raw, typ):
    """A value of type `typ` from its TLV value bytes."""
    n = len(raw)
    if typ == T_INT or typ == T_TIME or typ == T_UINT:
        if n not in (1, 2, 4, 8):
            raise DecodeError("integer of %d bytes" % n)
        v = int.from_bytes(bytes(raw), "big")
        if typ != T_UINT and raw[0] & 0x80:
            v -= 1 << (8 * n)
        return v
    if typ == T_FLOAT:
        if n == 4:
            return struct.unpack(">f", raw)[0]
        if n == 8:
            return struct.unpack(">d", raw)[0]
        raise DecodeError("float of %d bytes" % n)
    if typ == T_BOOL:
        if n != 1 or raw[0] > 1:
            raise DecodeError("bad boolean")
        return raw[0] == 1
    if typ == T_OBJLNK:
        if n != 4:
            raise DecodeError("object link of %d bytes" % n)
        return struct.unpack(">HH", raw)
    if typ == T_OPAQUE:
        return bytes(raw)
    if typ == T_NONE:
        raise DecodeError("an executable resource takes no value")
    return to_str(raw)          # string, corelnk, JSON


# ---- the wire form

def header_size(ident, n):
    return (2 if ident < 256 else 3) + (0 if n < 8 else 1 if n < 0x100 else 2 if n < 0x10000 else 3)


def put_header(buf, off, kind, ident, n):
    """Write a TLV header at `off`; the offset after it."""
    t = kind << 6
    if ident > 255:
        t |= 0x20
    if n < 8:
        t |= n
        ln = 0
    else:
        ln = 1 if n < 0x100 else 2 if n < 0x10000 else 3
        if n >= 0x1000000:
            raise EncodeError("TLV value over 16 MB")
        t |= ln << 3
    buf[off] = t
    off += 1
    if ident > 255:
        buf[off] = ident >> 8
        off += 1
    buf[off] = ident & 255
    off += 1
    while ln:
        ln -= 1
        buf[off] = (n >> (8 * ln)) & 255
        off += 1
    return off


def _size(node):
    c = node[2]
    if isinstance(c, list):
        n = 0
        for ch in c:
            n += _size(ch)
    else:
        n = len(c)
    return header_size(node[1], n) + n


def _write(buf, off, node):
    c = node[2]
    if isinstance(c, list):
        n = 0
        for ch in c:
            n += _size(ch)
        off = put_header(buf, off, node[0], node[1], n)
        for ch in c:
            off = _write(buf, off, ch)
        return off
    off = put_header(buf, off, node[0], node[1], len(c))
    buf[off:off + len(c)] = c
    return off + len(c)


def write_nodes(nodes):
    """The TLVs of a list of (kind, id, bytes or [child nodes]), written into
    one bytearray of the exact size (returned as is: no copy)."""
    n = 0
    for nd in nodes:
        n += _size(nd)
    buf = bytearray(n)
    off = 0
    for nd in nodes:
        off = _write(buf, off, nd)
    return buf


def _res_node(rid, typ, v):
    if isinstance(v, dict):
        return (MULTI_RES, rid, [(RES_INST, ri, value_bytes(typ, v[ri])) for ri in sorted(v)])
    return (RES, rid, value_bytes(typ, v))


def encode(records, depth):
    """TLV (a bytearray) for `records` [(path, type, value)] read at a path of
    `depth` segments: object instances at /O, resources at /O/I, the one
    resource at /O/I/R, the resource instance at /O/I/R/RI."""
    nodes = []
    inst = None
    for path, typ, v in records:
        if len(path) == 4:
            node = (RES_INST, path[3], value_bytes(typ, v))
        else:
            node = _res_node(path[2], typ, v)
        if depth == 1:
            if inst is None or inst[1] != path[1]:
                inst = (OBJ_INST, path[1], [])
                nodes.append(inst)
            inst[2].append(node)
        else:
            nodes.append(node)
    return write_nodes(nodes)


def parse(data, start=0, end=None, level=0):
    """[(kind, id, value view or [children])] of the TLVs in data[start:end].
    level 0 takes any kind, 1 (inside an object instance) resources, 2
    (inside a multiple resource) resource instances."""
    mv = data if isinstance(data, memoryview) else memoryview(data)
    if end is None:
        end = len(mv)
    out = []
    i = start
    while i < end:
        t = mv[i]
        kind = t >> 6
        if level == 1 and kind < MULTI_RES or level == 2 and kind != RES_INST:
            raise DecodeError("TLV kind %d misplaced" % kind)
        w = 3 if t & 0x20 else 2
        ln = (t >> 3) & 3
        if i + w + ln > end:
            raise DecodeError("TLV header truncated")
        ident = mv[i + 1]
        if w == 3:
            ident = ident << 8 | mv[i + 2]
        i += w
        if ln:
            n = 0
            for _ in range(ln):
                n = n << 8 | mv[i]
                i += 1
        else:
            n = t & 7
        if i + n > end:
            raise DecodeError("TLV value runs past the end")
        if kind == OBJ_INST:
            out.append((kind, ident, parse(mv, i, i + n, 1)))
        elif kind == MULTI_RES:
            out.append((kind, ident, parse(mv, i, i + n, 2)))
        else:
            out.append((kind, ident, mv[i:i + n]))
        i += n
    return out


def _typed(typeof, p):
    f = typeof(p)
    if f < 0:
        raise NotFound("no resource %r" % (p,))
    return f


def _resource(out, typeof, oid, iid, node):
    kind, rid, c = node
    p = (oid, iid, rid)
    f = _typed(typeof, p)
    if kind == MULTI_RES:
        if not f & MULTI:
            raise DecodeError("resource %d is single" % rid)
        d = {}
        for _, ri, raw in c:
            if ri in d:
                raise DecodeError("resource instance %d repeated" % ri)
            d[ri] = value(raw, rtype(f))
        out.append((p, d))
    else:
        if f & MULTI:
            raise DecodeError("resource %d is multiple" % rid)
        out.append((p, value(c, rtype(f))))


def decode(data, base, typeof):
    """Records [(path, value)] from TLV bytes written to `base` (a path of
    1 to 4 segments).  typeof(path3) gives a resource's flags, -1 if it is
    unknown (NotFound, 4.04).  Under /O a bare resource gets instance ID -1
    (Create without an instance TLV)."""
    nodes = parse(data)
    depth = len(base)
    out = []
    if depth == 1:
        for kind, ident, c in nodes:
            if kind == OBJ_INST:
                if not c:
                    out.append(((base[0], ident), None))        # an empty instance
                for nd in c:
                    _resource(out, typeof, base[0], ident, nd)
            elif kind == RES_INST:
                raise DecodeError("resource instance under an object")
            else:
                _resource(out, typeof, base[0], _NO_IID, (kind, ident, c))
    elif depth == 2:
        if len(nodes) == 1 and nodes[0][0] == OBJ_INST:
            if nodes[0][1] != base[1]:
                raise DecodeError("instance %d written to %d" % (nodes[0][1], base[1]))
            nodes = nodes[0][2]
        for nd in nodes:
            if nd[0] < MULTI_RES:
                raise DecodeError("not a resource")
            _resource(out, typeof, base[0], base[1], nd)
    elif depth == 3:
        if len(nodes) == 1 and nodes[0][0] == OBJ_INST and nodes[0][1] == base[1]:
            nodes = nodes[0][2]
        if not nodes and _typed(typeof, base) & MULTI:
            nodes = [(MULTI_RES, base[2], [])]      # no instances left
        if nodes and nodes[0][0] == RES_INST:
            for nd in nodes:
                if nd[0] != RES_INST:
                    raise DecodeError("mixed TLV kinds")
            nodes = [(MULTI_RES, base[2], nodes)]
        if len(nodes) != 1 or nodes[0][0] < MULTI_RES or nodes[0][1] != base[2]:
            raise DecodeError("not resource %d" % base[2])
        _resource(out, typeof, base[0], base[1], nodes[0])
    elif depth == 4:
        if len(nodes) != 1 or nodes[0][0] != RES_INST or nodes[0][1] != base[3]:
            raise DecodeError("not resource instance %d" % base[3])
        f = _typed(typeof, base[:3])
        if not f & MULTI:
            raise DecodeError("resource is single")
        out.append((base[:3], {base[3]: value(nodes[0][2], rtype(f))}))
    else:
        raise DecodeError("no TLV write to /")
    _no_repeats(out)
    return out


def _no_repeats(records):
    seen = []
    for p, _ in records:
        if p in seen:
            raise DecodeError("%r written twice" % (p,))
        seen.append(p)
