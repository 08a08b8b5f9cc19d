"""The coding primitives of the SMS PDU codec (wmmp.modem.pdu builds TPDUs
from them): the TS 23.038 alphabets (GSM 7-bit default alphabet with its
extension table, UCS2, TP-DCS) and septet packing, and the TS 23.040 / 24.011
field codings: addresses (TP-OA/DA/RA, SMSC), timestamps and TP-VP.

Choices (documented, tested in host_tests/portable/test_pdu.py):
- Addresses: "+<digits>" is encoded with type-of-address 0x91 (international,
  ISDN plan); anything else ("13800000001", short codes like "10658000") with
  0x81 (TON unknown, ISDN plan): the AT manuals "unknown-national", and the type
  27.005 uses by default for a number without "+" (129); "unknown" lets the
  network read the digits as dialled, national number or short code alike,
  where 0xA1 would claim a national significant number.
  Decoding gives "+digits" for TON international, the text for TON
  alphanumeric (0x50), plain digits otherwise; the type-of-address octet is
  kept in `toa`.  BCD digits 0xA..0xE decode as "*#abc"; the encoder takes
  0-9, "*" and "#".
- Timestamps (TP-SCTS, TP-DT, absolute TP-VP) decode to a tuple
  (year, month, day, hour, minute, second, tz) in local time of the SMSC, tz in
  signed quarter hours east of GMT.  23.040 carries two year digits: 80..99
  map to 1980..1999, 00..79 to 2000..2079.
- Relative TP-VP is given and reported in minutes (23.040 9.2.3.12.1);
  encoding rounds up to the next representable period.
Bad input raises only wmmp.errors subclasses (Truncated, BadLength, BadValue).
"""

from micropython import const

from wmmp.errors import BadLength, BadValue, Truncated

ADDR_MAX_DIGITS = const(20)    # TP-DA/OA/RA value at most 10 octets (23.040 9.1.2.5)
SMSC_MAX_LEN = const(11)       # RP address contents: TOA + 10 octets (24.011 8.2.5)

TOA_INTERNATIONAL = const(0x91)
TOA_UNKNOWN = const(0x81)
TON_MASK = const(0x70)
TON_INTERNATIONAL = const(0x10)
TON_ALPHANUMERIC = const(0x50)

GSM7 = "gsm7"
OCTETS = "8bit"
UCS2 = "ucs2"

# TS 23.038 6.2.1 default alphabet, index = septet value; index 27 is ESC.
_GSM7 = ("@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\n\u00d8\u00f8\r\u00c5\u00e5"
         "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e\x1b\u00c6\u00e6\u00df\u00c9"
         " !\"#\u00a4%&'()*+,-./0123456789:;<=>?"
         "\u00a1ABCDEFGHIJKLMNOPQRSTUVWXYZ\u00c4\u00d6\u00d1\u00dc\u00a7"
         "\u00bfabcdefghijklmnopqrstuvwxyz\u00e4\u00f6\u00f1\u00fc\u00e0")
_ESC = const(0x1B)
# TS 23.038 6.2.1.1 default alphabet extension table (after ESC).
_EXT = {0x0A: "\x0c", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\",
        0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "\u20ac"}
_BCD = "0123456789*#abc"        # 24.008 10.5.4.7 semi-octets 0..E
_DIAL = "0123456789*#"           # what the encoder accepts


# ---------------------------------------------------------------- alphabets

def gsm_encode(text):
    """Text -> bytearray of septet values (GSM 7-bit default alphabet plus its
    extension table, 23.038 6.2.1); BadValue for a character outside both."""
    out = bytearray()
    for ch in text:
        k = _GSM7.find(ch)
        if k >= 0 and k != _ESC:
            out.append(k)
            continue
        for code, c in _EXT.items():
            if c == ch:
                out.append(_ESC)
                out.append(code)
                break
        else:
            raise BadValue("character not in the GSM 7-bit default alphabet")
    return out


def gsm_decode(septets):
    """Septet values -> text.  ESC + an unknown code gives the main-table
    character; ESC ESC and a trailing ESC give a space (23.038 6.2.1.1)."""
    out = []
    i = 0
    n = len(septets)
    while i < n:
        c = septets[i] & 0x7F
        i += 1
        if c != _ESC:
            out.append(_GSM7[c])
            continue
        if i >= n:
            out.append(" ")
            break
        e = septets[i] & 0x7F
        i += 1
        if e == _ESC:
            out.append(" ")
        else:
            out.append(_EXT.get(e) or _GSM7[e])
    return "".join(out)


def pack7(septets, fill=0):
    """Pack septets LSB first (23.038 6.1.2.1.1), after `fill` zero bits."""
    out = bytearray()
    acc = 0
    nbits = fill
    for s in septets:
        acc |= (s & 0x7F) << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    return out


def unpack7(buf, count, start=0, fill=0):
    """`count` septets from `buf`, starting `fill` bits into octet `start`."""
    need = (fill + 7 * count + 7) >> 3
    if start + need > len(buf):
        raise Truncated("7-bit user data ends early")
    out = bytearray()
    if not count:
        return out
    acc = buf[start] >> fill
    nbits = 8 - fill
    i = start + 1
    while len(out) < count:
        if nbits < 7:
            acc |= buf[i] << nbits
            i += 1
            nbits += 8
        out.append(acc & 0x7F)
        acc >>= 7
        nbits -= 7
    return out


def ucs2_encode(text):
    """Text -> UTF-16BE (UCS2; characters beyond the BMP as surrogate pairs)."""
    out = bytearray()
    for ch in text:
        c = ord(ch)
        if 0xD800 <= c < 0xE000:
            raise BadValue("lone surrogate in text")
        if c >= 0x10000:
            c -= 0x10000
            hi = 0xD800 | (c >> 10)
            lo = 0xDC00 | (c & 0x3FF)
            out.append(hi >> 8)
            out.append(hi & 0xFF)
            out.append(lo >> 8)
            out.append(lo & 0xFF)
        else:
            out.append(c >> 8)
            out.append(c & 0xFF)
    return out


def ucs2_decode(data):
    """UCS2 / UTF-16BE -> text; a lone surrogate becomes U+FFFD."""
    n = len(data)
    if n & 1:
        raise BadLength("UCS2 user data has an odd number of octets")
    out = []
    i = 0
    while i < n:
        c = (data[i] << 8) | data[i + 1]
        i += 2
        if 0xD800 <= c < 0xDC00 and i < n:
            d = (data[i] << 8) | data[i + 1]
            if 0xDC00 <= d < 0xE000:
                i += 2
                out.append(chr(0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00)))
                continue
        if 0xD800 <= c < 0xE000:
            c = 0xFFFD
        out.append(chr(c))
    return "".join(out)


def dcs_info(dcs):
    """TP-DCS (23.038 4) -> (alphabet, compressed, message class or None).
    Reserved codings are read as the GSM 7-bit default alphabet, as 23.038
    tells a receiving entity to."""
    g = dcs >> 4
    if g < 8:                          # 00xx general, 01xx automatic deletion
        a = (dcs >> 2) & 3
        alphabet = OCTETS if a == 1 else (UCS2 if a == 2 else GSM7)
        return alphabet, bool(dcs & 0x20), (dcs & 3) if dcs & 0x10 else None
    if g == 0xF:                       # data coding / message class
        return (OCTETS if dcs & 4 else GSM7), False, dcs & 3
    if g == 0xE:                       # message waiting, store, UCS2
        return UCS2, False, None
    return GSM7, False, None           # 1100/1101 message waiting; 1000..1011 reserved


# ---------------------------------------------------------------- fields

def _bcd_pack(digits, out):
    n = len(digits)
    for i in range(0, n, 2):
        lo = _DIAL.find(digits[i])
        hi = _DIAL.find(digits[i + 1]) if i + 1 < n else 0xF
        if lo < 0 or hi < 0:
            raise BadValue("address has a character other than 0-9 * #")
        out.append((hi << 4) | lo)


def _split_number(number):
    if not isinstance(number, str):
        raise BadValue("address must be a str")
    intl = number.startswith("+")
    digits = number[1:] if intl else number
    if not digits or len(digits) > ADDR_MAX_DIGITS:
        raise BadValue("address must have 1..20 digits")
    return (TOA_INTERNATIONAL if intl else TOA_UNKNOWN), digits


def encode_address(number):
    """TP-DA / TP-OA: digit count, type of address, BCD semi-octets F-padded."""
    toa, digits = _split_number(number)
    out = bytearray((len(digits), toa))
    _bcd_pack(digits, out)
    return out


def encode_smsc(smsc):
    """24.011 SMSC address with its length octet; None -> b"\\x00" (stored SMSC)."""
    if smsc is None:
        return bytearray(1)
    toa, digits = _split_number(smsc)
    out = bytearray((0, toa))
    _bcd_pack(digits, out)
    out[0] = len(out) - 1
    return out


def _bcd_unpack(buf, start, ndigits):
    out = []
    for i in range(ndigits):
        b = buf[start + (i >> 1)]
        nib = (b >> 4) if i & 1 else (b & 0xF)
        if nib == 0xF:
            if i == ndigits - 1:       # filler counted in the length: tolerated
                break
            raise BadValue("filler 0xF inside an address")
        out.append(_BCD[nib])
    return "".join(out)


def _alpha_address(buf, start, nsemi):
    """TON alphanumeric: 7-bit packed text over `nsemi` useful semi-octets.
    Senders that count whole octets (2 per octet) give one septet more than
    the text; a resulting trailing '@' (zero septet) is dropped then."""
    count = (nsemi * 4) // 7
    sept = unpack7(buf, count, start)
    if count and sept[-1] == 0 and ((7 * (count - 1) + 7) >> 3) * 2 == nsemi:
        sept = sept[:-1]
    return gsm_decode(sept)


def read_address(buf, pos):
    """TP-OA/DA/RA at `pos` -> (text, toa, next position)."""
    if pos + 2 > len(buf):
        raise Truncated("address ends early")
    n = buf[pos]
    toa = buf[pos + 1]
    if n > ADDR_MAX_DIGITS:
        raise BadLength("address length over 20 semi-octets")
    end = pos + 2 + ((n + 1) >> 1)
    if end > len(buf):
        raise Truncated("address ends early")
    if toa & TON_MASK == TON_ALPHANUMERIC:
        return _alpha_address(buf, pos + 2, n), toa, end
    text = _bcd_unpack(buf, pos + 2, n)
    if toa & TON_MASK == TON_INTERNATIONAL and text:
        text = "+" + text
    return text, toa, end


def read_smsc(buf):
    """-> (address or None, toa or None, TPDU start)."""
    if not len(buf):
        raise Truncated("empty PDU")
    n = buf[0]
    if n == 0:
        return None, None, 1
    if n > SMSC_MAX_LEN:
        raise BadLength("SMSC address length over 11")
    if 1 + n > len(buf):
        raise Truncated("SMSC address ends early")
    toa = buf[1]
    ndigits = 2 * (n - 1)
    if ndigits and buf[n] >> 4 == 0xF:
        ndigits -= 1
    text = _bcd_unpack(buf, 2, ndigits)
    if toa & TON_MASK == TON_INTERNATIONAL and text:
        text = "+" + text
    return text, toa, 1 + n


def _semi(b):
    lo = b & 0xF
    hi = b >> 4
    if lo > 9 or hi > 9:
        raise BadValue("timestamp digit out of range")
    return lo * 10 + hi


def read_time(buf, pos):
    """7-octet TP-SCTS / TP-DT / absolute TP-VP (23.040 9.2.3.11) -> tuple."""
    if pos + 7 > len(buf):
        raise Truncated("timestamp ends early")
    yy = _semi(buf[pos])
    t = (yy + (1900 if yy >= 80 else 2000), _semi(buf[pos + 1]), _semi(buf[pos + 2]),
         _semi(buf[pos + 3]), _semi(buf[pos + 4]), _semi(buf[pos + 5]))
    z = buf[pos + 6]
    tz = _semi(z & 0xF7)
    if z & 0x08:
        tz = -tz
    return t + (tz,)


def encode_time(t):
    """(year, month, day, hour, minute, second, tz quarter hours) -> 7 octets."""
    if not isinstance(t, tuple) or len(t) != 7:
        raise BadValue("timestamp must be a 7-tuple")
    out = bytearray()
    for v in t[:6]:
        if not isinstance(v, int) or v < 0:
            raise BadValue("timestamp field out of range")
        v %= 100
        out.append(((v % 10) << 4) | (v // 10))
    tz = t[6]
    if not isinstance(tz, int) or tz < -79 or tz > 79:
        raise BadValue("time zone out of range")
    a = -tz if tz < 0 else tz
    out.append(((a % 10) << 4) | (a // 10) | (0x08 if tz < 0 else 0))
    return out


def vp_minutes(octet):
    """Relative TP-VP octet -> validity period in minutes (23.040 9.2.3.12.1)."""
    if octet <= 143:
        return (octet + 1) * 5
    if octet <= 167:
        return 720 + (octet - 143) * 30
    if octet <= 196:
        return (octet - 166) * 1440
    return (octet - 192) * 10080


def vp_octet(minutes):
    """Minutes -> the smallest relative TP-VP octet covering them."""
    if not isinstance(minutes, int) or minutes < 0:
        raise BadValue("validity period must be a non-negative number of minutes")
    if minutes <= 720:
        o = (minutes + 4) // 5 - 1
        return o if o > 0 else 0
    if minutes <= 1440:
        return 143 + (minutes - 720 + 29) // 30
    if minutes <= 43200:
        return 166 + (minutes + 1439) // 1440
    o = 192 + (minutes + 10079) // 10080
    if o > 255:
        raise BadValue("validity period over 63 weeks")
    return o
