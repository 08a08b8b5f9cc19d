"""CRC16 (profile variant, default CRC-16/CCITT-FALSE) and CRC32 (IEEE 802.3), and
the configuration CRC32 of LOGIN / TLV 0x4017 (PROTOCOL.md 7).
"""

from micropython import const

from wmmp.wire import profile as _profile

try:
    from binascii import crc32 as _crc32
except ImportError:  # a port built without binascii.crc32
    _crc32 = None
try:
    from binascii import crc_hqx as _crc_hqx   # CPython: CRC-CCITT, poly 0x1021, no reflection
except ImportError:  # MicroPython has none
    _crc_hqx = None

# poly, init, xorout (big-endian u16 each) and reflected per profile code.  Bytes,
# not tuples of ints: frozen into a firmware, an int above 0x1FFF in a constant
# tuple becomes a static big-int object, and arithmetic on it allocates on every
# byte; the values read from bytes at run time are small ints.
_VARIANTS = {
    _profile.CRC16_CCITT_FALSE: b"\x10\x21\xff\xff\x00\x00\x00",
    _profile.CRC16_XMODEM: b"\x10\x21\x00\x00\x00\x00\x00",
    _profile.CRC16_ARC: b"\xa0\x01\x00\x00\x00\x00\x01",  # reflected form of 0x8005
}

_tables = {}
_crc32_table = None
_MASK16 = const(0xFFFF)


def _table16(poly, reflected):
    """256 u16 entries in a 512-byte bytearray (big-endian pairs)."""
    key = poly << 1 | reflected         # an int, not a tuple: no allocation per CRC
    t = _tables.get(key)
    if t is None:
        t = bytearray(512)
        for i in range(256):
            if reflected:
                c = i
                for _ in range(8):
                    c = (c >> 1) ^ poly if c & 1 else c >> 1
            else:
                c = i << 8
                for _ in range(8):
                    c = ((c << 1) ^ poly) & _MASK16 if c & 0x8000 else (c << 1) & _MASK16
            t[2 * i] = c >> 8
            t[2 * i + 1] = c & 0xFF
        _tables[key] = t
    return t


def crc16(data, variant=_profile.CRC16_CCITT_FALSE, crc=None):
    """CRC16 of `data`; pass the previous result as `crc` to continue a running CRC
    (the final xorout must be 0 for that, which holds for every variant here)."""
    v = _VARIANTS[variant]
    poly = (v[0] << 8) | v[1]           # one by one: a 4-value unpacking builds a tuple
    xorout = (v[4] << 8) | v[5]
    reflected = v[6]
    c = (v[2] << 8) | v[3] if crc is None else crc
    if _crc_hqx is not None and poly == 0x1021 and not reflected:
        return _crc_hqx(data, c) ^ xorout
    t = _table16(poly, reflected)
    if reflected:
        for b in data:
            i = (c ^ b) & 0xFF
            c = (c >> 8) ^ ((t[2 * i] << 8) | t[2 * i + 1])
    else:
        for b in data:
            i = ((c >> 8) ^ b) & 0xFF
            c = (((c << 8) & _MASK16) ^ ((t[2 * i] << 8) | t[2 * i + 1]))
    return c ^ xorout


def _pure_crc32(data, crc=0):
    global _crc32_table
    if _crc32_table is None:
        tab = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
            tab.append(c)
        _crc32_table = tab
    t = _crc32_table
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def crc32(data, crc=0):
    """CRC32 as zlib/binascii.crc32 (IEEE 802.3), continuing from `crc`."""
    if _crc32 is not None:
        return _crc32(data, crc) & 0xFFFFFFFF
    return _pure_crc32(data, crc)


def config_crc32(tlvs):
    """CRC32 of LOGIN config_crc32 / TLV 0x4017 (PROTOCOL.md 7, appendix G b): every TLV
    encoded whole, sorted by tag ascending, concatenated.  `tlvs` is an iterable
    of (tag, value)."""
    c = 0
    for tag, value in sorted(tlvs, key=lambda tv: tv[0]):
        c = tlv_crc32(tag, value, c)
    return c


_HDR = bytearray(4)


def tlv_crc32(tag, value, crc=0):
    """config_crc32 continued by one TLV: for a caller that walks its TLVs in
    ascending tag order itself and builds no list."""
    n = len(value)
    h = _HDR
    h[0] = tag >> 8
    h[1] = tag & 0xFF
    h[2] = n >> 8
    h[3] = n & 0xFF
    return crc32(value, crc32(h, crc))
