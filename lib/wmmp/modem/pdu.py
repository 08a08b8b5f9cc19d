"""SMS PDU encoder/decoder for binary WMMP SMS in PDU mode (AT+CMGF=0; INTEROP 9).

3GPP TS 23.040 TPDUs (SMS-SUBMIT, SMS-DELIVER, SMS-STATUS-REPORT) preceded by
the TS 24.011 SMSC address (length octet counting the type-of-address octet;
0x00 = "use the SMSC stored in the modem"), and TS 23.038 user data: 8-bit data
(what WMMP uses, TP-DCS 0x04), the GSM 7-bit default alphabet (decode, and
encode for emulators) and UCS2, so a stray text SMS is read instead of crashing.

Choices (documented, tested in host_tests/portable/test_pdu.py):
- Addresses: "+<digits>" is encoded with type-of-address 0x91 (international,
  ISDN plan); anything else ("13800000001", short codes like "10658000") with
  0x81 (TON unknown, ISDN plan): MODEMS.md "unknown-national", and the type
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
  encoding rounds up to the next representable period.  A 7-octet bytes value
  is an enhanced TP-VP (kept raw), a tuple an absolute one.
- TP-MTI from the terminal's point of view: 00 SMS-DELIVER, 01 SMS-SUBMIT (as
  read back from storage, or as an SMSC emulator sees it), 10
  SMS-STATUS-REPORT; 11 (reserved) is rejected with BadValue.
- A user data header is reported raw (`udh`, the IEs without the UDHL octet)
  and a concatenation IE (IEI 0x00 or 0x08) as `concat` = (ref, total, seq);
  nothing is reassembled: WMMP never uses concatenated SMS (INTEROP 9).
Bad input raises only wmmp.errors subclasses (Truncated, BadLength, BadValue,
TooLongForBearer, Unsupported).
"""

from binascii import hexlify, unhexlify
from micropython import const

from wmmp.errors import BadLength, BadValue, TooLongForBearer, Truncated, Unsupported

UD_MAX_OCTETS = const(140)     # TP-UD (23.040 9.2.3.24; INTEROP 9)
UD_MAX_SEPTETS = const(160)
ADDR_MAX_DIGITS = const(20)    # TP-DA/OA/RA value at most 10 octets (23.040 9.1.2.5)
SMSC_MAX_LEN = const(11)       # RP address contents: TOA + 10 octets (24.011 8.2.5)

TOA_INTERNATIONAL = const(0x91)
TOA_UNKNOWN = const(0x81)
TON_MASK = const(0x70)
TON_INTERNATIONAL = const(0x10)
TON_ALPHANUMERIC = const(0x50)

PID_TYPE0 = const(0x40)        # "Short Message Type 0": acknowledge and discard (23.040 9.2.3.9)

GSM7 = "gsm7"
OCTETS = "8bit"
UCS2 = "ucs2"

DELIVER = "deliver"
SUBMIT = "submit"
STATUS_REPORT = "status-report"

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


# ---------------------------------------------------------------- hex helpers

def to_hex(pdu):
    """PDU bytes -> uppercase hex text, as AT+CMGS wants after the prompt."""
    return hexlify(bytes(pdu)).decode().upper()


def from_hex(text):
    """Hex text (str or bytes, any case, whitespace anywhere) -> bytes."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode()
        except Exception:
            raise BadValue("PDU hex is not ASCII")
    if not isinstance(text, str):
        raise BadValue("PDU hex must be str or bytes")
    s = "".join(text.split())
    if len(s) & 1:
        raise BadLength("odd number of hex digits")
    try:
        return unhexlify(s)
    except Exception:
        raise BadValue("PDU hex has a non-hex character")


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

def _byte(value, what):
    if not isinstance(value, int) or value < 0 or value > 255:
        raise BadValue(what + " must be 0..255")
    return value


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


def _read_address(buf, pos):
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


def _read_smsc(buf):
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


def _read_time(buf, pos):
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


# ---------------------------------------------------------------- user data

def _encode_ud(out, data, dcs, udh):
    """Append TP-UDL + TP-UD for `data` under `dcs` (optional header IEs) to `out`."""
    alphabet, compressed, _ = dcs_info(dcs)
    if compressed:
        raise Unsupported("compressed user data")
    hlen = 0
    if udh is not None:
        if isinstance(udh, str) or not isinstance(udh, (bytes, bytearray, memoryview)):
            raise BadValue("user data header must be bytes")
        if len(udh) > UD_MAX_OCTETS - 1:
            raise TooLongForBearer("user data header over 139 octets")
        hlen = len(udh) + 1
    if alphabet == GSM7:
        if not isinstance(data, str):
            raise BadValue("7-bit user data must be str")
        sept = gsm_encode(data)
        hsept = (hlen * 8 + 6) // 7
        udl = hsept + len(sept)
        if udl > UD_MAX_SEPTETS:
            raise TooLongForBearer("user data over 160 septets")
        body = pack7(sept, hsept * 7 - hlen * 8)
    else:
        if alphabet == UCS2:
            if not isinstance(data, str):
                raise BadValue("UCS2 user data must be str")
            body = ucs2_encode(data)
        elif isinstance(data, str) or not isinstance(data, (bytes, bytearray, memoryview)):
            raise BadValue("8-bit user data must be bytes")
        else:
            body = data
        udl = hlen + len(body)
        if udl > UD_MAX_OCTETS:
            raise TooLongForBearer("user data over 140 octets (INTEROP 9)")
    out.append(udl)
    if hlen:
        out.append(hlen - 1)
        out += udh
    out += body


def parse_ies(udh):
    """User data header IEs (without the UDHL octet) -> [(iei, bytes)]."""
    out = []
    i = 0
    n = len(udh)
    while i < n:
        if i + 2 > n:
            raise BadLength("user data header IE ends early")
        ln = udh[i + 1]
        if i + 2 + ln > n:
            raise BadLength("user data header IE runs past the header")
        out.append((udh[i], bytes(udh[i + 2:i + 2 + ln])))
        i += 2 + ln
    return out


def _concat(ies):
    for iei, v in ies:
        if iei == 0x00 and len(v) == 3:
            return v[0], v[1], v[2]
        if iei == 0x08 and len(v) == 4:
            return (v[0] << 8) | v[1], v[2], v[3]
    return None


def _read_ud(sms, buf, pos):
    """TP-UDL + TP-UD at `pos`, which must run to the end of `buf`."""
    if pos >= len(buf):
        raise Truncated("TP-UDL missing")
    udl = buf[pos]
    pos += 1
    septets = sms.alphabet == GSM7 and not sms.compressed
    if septets:
        if udl > UD_MAX_SEPTETS:
            raise BadLength("TP-UDL over 160 septets")
        nbytes = (udl * 7 + 7) >> 3
    else:
        if udl > UD_MAX_OCTETS:
            raise BadLength("TP-UDL over 140 octets")
        nbytes = udl
    left = len(buf) - pos
    if left < nbytes:
        raise Truncated("user data ends early")
    if left > nbytes:
        raise BadLength("octets after the user data")
    sms.udl = udl
    hdr = 0
    if sms.udhi:
        if not nbytes:
            raise BadLength("TP-UDHI set but no user data")
        hdr = buf[pos] + 1
        if hdr > nbytes:
            raise BadLength("user data header longer than the user data")
        sms.udh = bytes(buf[pos + 1:pos + hdr])
        sms.concat = _concat(parse_ies(sms.udh))
    if septets:
        hsept = (hdr * 8 + 6) // 7
        if hsept > udl:
            raise BadLength("user data header longer than TP-UDL")
        sms.data = gsm_decode(unpack7(buf, udl - hsept, pos + hdr, hsept * 7 - hdr * 8))
    elif sms.alphabet == UCS2 and not sms.compressed:
        sms.data = ucs2_decode(buf[pos + hdr:pos + nbytes])
    else:
        sms.data = bytes(buf[pos + hdr:pos + nbytes])


# ---------------------------------------------------------------- encode

def _first_octet_vp(vp):
    """-> (TP-VPF bits in the first octet, TP-VP octets)."""
    if vp is None:
        return 0x00, b""
    if isinstance(vp, int):
        return 0x10, bytes((vp_octet(vp),))
    if isinstance(vp, tuple):
        return 0x18, bytes(encode_time(vp))
    if isinstance(vp, (bytes, bytearray)) and len(vp) == 7:
        return 0x08, bytes(vp)
    raise BadValue("TP-VP must be minutes, a time tuple or 7 enhanced-format octets")


def encode_submit(dest, data, smsc=None, dcs=0x04, mr=0, vp=None, srr=False,
                  udh=None, pid=0, rd=False):
    """SMS-SUBMIT (23.040 9.2.2.2) -> (pdu bytes, TPDU octet count for AT+CMGS).

    The PDU starts with the SMSC address (0x00 when `smsc` is None: the modem
    uses its stored SMSC); the count excludes it (27.005 AT+CMGS, MODEMS.md).
    `data` is bytes for 8-bit TP-DCS (default 0x04, INTEROP 9), str for 7-bit
    or UCS2.  `vp`: None (no TP-VP), minutes (relative), a time tuple
    (absolute) or 7 raw octets (enhanced).  `udh`: header IEs (no UDHL)."""
    _byte(mr, "TP-MR")
    _byte(dcs, "TP-DCS")
    _byte(pid, "TP-PID")
    vpf, vpb = _first_octet_vp(vp)
    fo = 0x01 | vpf
    if rd:
        fo |= 0x04
    if srr:
        fo |= 0x20
    if udh is not None:
        fo |= 0x40
    out = encode_smsc(smsc)
    sc = len(out)
    out.append(fo)
    out.append(mr)
    out += encode_address(dest)
    out.append(pid)
    out.append(dcs)
    out += vpb
    _encode_ud(out, data, dcs, udh)
    return bytes(out), len(out) - sc


def encode_deliver(orig, data, scts, smsc=None, dcs=0x04, pid=0, udh=None,
                   more_messages=False, sri=False, rp=False):
    """SMS-DELIVER (23.040 9.2.2.1), for emulators and tests -> (pdu, TPDU count)."""
    _byte(dcs, "TP-DCS")
    _byte(pid, "TP-PID")
    fo = 0x00
    if not more_messages:
        fo |= 0x04                     # TP-MMS = 1: no more messages waiting
    if sri:
        fo |= 0x20
    if udh is not None:
        fo |= 0x40
    if rp:
        fo |= 0x80
    out = encode_smsc(smsc)
    sc = len(out)
    out.append(fo)
    out += encode_address(orig)
    out.append(pid)
    out.append(dcs)
    out += encode_time(scts)
    _encode_ud(out, data, dcs, udh)
    return bytes(out), len(out) - sc


def encode_status_report(recipient, mr, scts, dt, status, smsc=None):
    """SMS-STATUS-REPORT without optional parameters (23.040 9.2.2.3)."""
    _byte(mr, "TP-MR")
    _byte(status, "TP-ST")
    out = encode_smsc(smsc)
    sc = len(out)
    out.append(0x06)                   # MTI 10, TP-MMS = 1
    out.append(mr)
    out += encode_address(recipient)
    out += encode_time(scts)
    out += encode_time(dt)
    out.append(status)
    return bytes(out), len(out) - sc


# ---------------------------------------------------------------- decode

class Sms:
    """One decoded PDU.  Fields a TPDU type does not carry stay None.

    type          DELIVER / SUBMIT / STATUS_REPORT
    smsc, smsc_toa  SMSC address ("+..." if international) or None
    first_octet   the raw first octet; flags: rp, udhi, srr (SUBMIT), rd,
                  sri (DELIVER), more_messages (DELIVER, STATUS: TP-MMS = 0),
                  srq, lp (STATUS)
    address, toa  TP-OA / TP-DA / TP-RA; also as originator / destination / recipient
    mr            TP-MR (SUBMIT, STATUS)
    pid, dcs      TP-PID, TP-DCS; alphabet (GSM7/OCTETS/UCS2), compressed, msg_class
    scts          TP-SCTS tuple (DELIVER, STATUS); dt, status: TP-DT, TP-ST (STATUS)
    vpf, vp       TP-VPF and TP-VP (SUBMIT): minutes, time tuple or 7 raw octets
    udl           TP-UDL as sent (septets for 7-bit, else octets)
    udh, concat   header IEs without UDHL (UDHI set) and (ref, total, seq)
    data          user data after the header: bytes (8-bit, compressed), str
    """

    # Defaults live on the class: an instance only stores what its PDU sets
    # (a smaller instance dict on MicroPython).
    smsc = smsc_toa = None
    first_octet = 0
    rp = udhi = srr = rd = sri = srq = lp = more_messages = False
    address = toa = originator = destination = recipient = mr = None
    pid = dcs = 0
    alphabet = GSM7
    compressed = False
    msg_class = scts = dt = status = vp = udh = concat = None
    vpf = udl = 0
    data = ""

    def __init__(self, type):
        self.type = type

    def _set_dcs(self, dcs):
        self.dcs = dcs
        self.alphabet, self.compressed, self.msg_class = dcs_info(dcs)
        if self.alphabet != GSM7 or self.compressed:
            self.data = b""

    def __repr__(self):
        return "<Sms %s %s %r>" % (self.type, self.address, self.data)


def _need(buf, pos, n):
    if pos + n > len(buf):
        raise Truncated("PDU ends early")


def decode(pdu, has_smsc=True, tpdu_len=None):
    """PDU bytes (or hex text) -> Sms.  `has_smsc`: the PDU starts with the
    SMSC address (AT+CMGR / +CMT output); `tpdu_len`: the <length> the modem
    reported (TPDU octets), checked when given (BadLength)."""
    if isinstance(pdu, str):
        pdu = from_hex(pdu)
    if not isinstance(pdu, (bytes, bytearray, memoryview)):
        raise BadValue("PDU must be bytes or hex text")
    buf = bytes(pdu)
    if has_smsc:
        smsc, smsc_toa, pos = _read_smsc(buf)
    else:
        smsc, smsc_toa, pos = None, None, 0
    if tpdu_len is not None and len(buf) - pos != tpdu_len:
        raise BadLength("TPDU length differs from the reported length")
    _need(buf, pos, 1)
    fo = buf[pos]
    mti = fo & 3
    if mti == 3:
        raise BadValue("reserved TP-MTI")
    sms = Sms((DELIVER, SUBMIT, STATUS_REPORT)[mti])
    if smsc is not None:
        sms.smsc = smsc
        sms.smsc_toa = smsc_toa
    sms.first_octet = fo
    if fo & 0x40:
        sms.udhi = True
    if fo & 0x80 and mti != 2:
        sms.rp = True
    pos += 1
    if mti == 0:
        if not fo & 0x04:
            sms.more_messages = True
        if fo & 0x20:
            sms.sri = True
        sms.address, sms.toa, pos = _read_address(buf, pos)
        sms.originator = sms.address
        _need(buf, pos, 2)
        sms.pid = buf[pos]
        sms._set_dcs(buf[pos + 1])
        sms.scts = _read_time(buf, pos + 2)
        _read_ud(sms, buf, pos + 9)
    elif mti == 1:
        if fo & 0x04:
            sms.rd = True
        if fo & 0x20:
            sms.srr = True
        sms.vpf = (fo >> 3) & 3
        _need(buf, pos, 1)
        sms.mr = buf[pos]
        sms.address, sms.toa, pos = _read_address(buf, pos + 1)
        sms.destination = sms.address
        _need(buf, pos, 2)
        sms.pid = buf[pos]
        sms._set_dcs(buf[pos + 1])
        pos += 2
        if sms.vpf == 2:
            _need(buf, pos, 1)
            sms.vp = vp_minutes(buf[pos])
            pos += 1
        elif sms.vpf == 3:
            sms.vp = _read_time(buf, pos)
            pos += 7
        elif sms.vpf == 1:
            _need(buf, pos, 7)
            sms.vp = bytes(buf[pos:pos + 7])
            pos += 7
        _read_ud(sms, buf, pos)
    else:
        _decode_status(sms, buf, pos, fo)
    return sms


def _decode_status(sms, buf, pos, fo):
    if not fo & 0x04:
        sms.more_messages = True
    if fo & 0x08:
        sms.lp = True
    if fo & 0x20:
        sms.srq = True
    _need(buf, pos, 1)
    sms.mr = buf[pos]
    sms.address, sms.toa, pos = _read_address(buf, pos + 1)
    sms.recipient = sms.address
    sms.scts = _read_time(buf, pos)
    sms.dt = _read_time(buf, pos + 7)
    pos += 14
    _need(buf, pos, 1)
    sms.status = buf[pos]
    pos += 1
    udhi = sms.udhi
    if udhi:
        sms.udhi = False               # meaningful only with TP-UDL present
    if pos == len(buf):                # no TP-PI: no optional parameters
        return
    pi = buf[pos]
    pos += 1
    ext = pi
    while ext & 0x80:                  # extension octets (23.040 9.2.3.27)
        _need(buf, pos, 1)
        ext = buf[pos]
        pos += 1
    if pi & 0x01:
        _need(buf, pos, 1)
        sms.pid = buf[pos]
        pos += 1
    if pi & 0x02:
        _need(buf, pos, 1)
        sms._set_dcs(buf[pos])
        pos += 1
    if pi & 0x04:
        sms.udhi = udhi
        _read_ud(sms, buf, pos)
    elif pos != len(buf):
        raise BadLength("octets after the status report parameters")


# ---------------------------------------------------------------- WMMP filter

def normalise_number(number):
    """Compare form of a phone number: whitespace removed; "+86" / "0086"
    (China) dropped, and a bare "86" before an 11-digit "1..." mobile number;
    other international numbers keep their "+"."""
    if not isinstance(number, str):
        return ""
    s = "".join(number.split())
    intl = False
    if s.startswith("+"):
        s = s[1:]
        intl = True
    elif s.startswith("00"):
        s = s[2:]
        intl = True
    if intl:
        return s[2:] if s.startswith("86") else "+" + s
    if len(s) == 13 and s.startswith("861"):
        return s[2:]
    return s


def is_wmmp(sms, platform_numbers, max_len=UD_MAX_OCTETS):
    """True if `sms` can carry one WMMP message (INTEROP 9): an SMS-DELIVER
    with 8-bit uncompressed data, no user data header (no concatenation),
    not a Type 0 SMS (TP-PID 0x40), at most `max_len` octets, from a numeric
    originator equal (after normalise_number) to a configured platform number.
    An alphanumeric originator never matches: its text is not a number."""
    if sms.type != DELIVER or sms.alphabet != OCTETS or sms.compressed or sms.udhi:
        return False
    if sms.pid == PID_TYPE0 or sms.toa is None or sms.toa & TON_MASK == TON_ALPHANUMERIC:
        return False
    if len(sms.data) > max_len:
        return False
    o = normalise_number(sms.originator)
    if not o:
        return False
    if isinstance(platform_numbers, str):
        platform_numbers = (platform_numbers,)
    for p in platform_numbers:
        if normalise_number(p) == o:
            return True
    return False
