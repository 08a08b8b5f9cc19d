"""TLV encoding and decoding (appendix E a; PROTOCOL.md 1): tag:u16 | length:u16 | value.

Values are carried as bytes.  Decoding walks a memoryview and copies each value
once; it never reads past the buffer and rejects any TLV whose length runs past
the end.
"""

import struct
from micropython import const

from wmmp.errors import Truncated, TooLongForBearer

TLV_HEADER = const(4)


def size(value_len):
    return TLV_HEADER + value_len


def encoded_size(tlvs):
    n = 0
    for _, v in tlvs:
        n += TLV_HEADER + len(v)
    return n


def pack_into(buf, offset, tag, value):
    """Write one TLV at `offset`; return the offset after it."""
    n = len(value)
    struct.pack_into(">HH", buf, offset, tag, n)
    offset += TLV_HEADER
    buf[offset:offset + n] = value
    return offset + n


def encode(tag, value=b""):
    """One whole TLV as bytes (the "TLV(x)" of PROTOCOL.md 8)."""
    buf = bytearray(TLV_HEADER + len(value))
    pack_into(buf, 0, tag, value)
    return bytes(buf)


def encode_all(tlvs):
    buf = bytearray(encoded_size(tlvs))
    off = 0
    for tag, v in tlvs:
        off = pack_into(buf, off, tag, v)
    return bytes(buf)


def check_limit(tag, n, limit):
    if n > limit:
        raise TooLongForBearer("TLV 0x%04X value is %d bytes, bearer allows %d" % (tag, n, limit))


def decode(data, start=0, end=None, limit=None):
    """List of (tag, value) in [start, end) of `data`.  `limit`, when given, is the
    bearer's largest value length; a longer value raises TooLongForBearer."""
    mv = memoryview(data)
    if end is None:
        end = len(mv)
    out = []
    off = start
    while off < end:
        if end - off < TLV_HEADER:
            raise Truncated("TLV header at offset %d needs 4 bytes, %d left" % (off, end - off))
        tag = (mv[off] << 8) | mv[off + 1]
        n = (mv[off + 2] << 8) | mv[off + 3]
        off += TLV_HEADER
        if n > end - off:
            raise Truncated("TLV 0x%04X at offset %d claims %d bytes, %d left"
                            % (tag, off - TLV_HEADER, n, end - off))
        if limit is not None:
            check_limit(tag, n, limit)
        out.append((tag, bytes(mv[off:off + n])))
        off += n
    return out


def find(tlvs, tag):
    """Value of the first TLV with `tag`, or None."""
    for t, v in tlvs:
        if t == tag:
            return v
    return None


def find_all(tlvs, tag):
    return [v for t, v in tlvs if t == tag]
