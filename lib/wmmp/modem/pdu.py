"""SMS PDU encoder/decoder for binary WMMP SMS in PDU mode (AT+CMGF=0; PROTOCOL.md 9).

3GPP TS 23.040 TPDUs (SMS-SUBMIT, SMS-DELIVER, SMS-STATUS-REPORT) preceded by
the TS 24.011 SMSC address (length octet counting the type-of-address octet;
0x00 = "use the SMSC stored in the modem"), and TS 23.038 user data: 8-bit data
(what WMMP uses, TP-DCS 0x04), the GSM 7-bit default alphabet (decode, and
encode for emulators) and UCS2, so a stray text SMS is read instead of crashing.
The alphabets, septet packing, addresses, timestamps and TP-VP codings are in
wmmp.modem.pdufields (with their documented choices).

Choices (documented, tested in host_tests/portable/test_pdu.py):
- TP-VP: given as minutes (relative), a tuple (absolute); a 7-octet bytes
  value is an enhanced TP-VP (kept raw).
- TP-MTI from the terminal's point of view: 00 SMS-DELIVER, 01 SMS-SUBMIT (as
  read back from storage, or as an SMSC emulator sees it), 10
  SMS-STATUS-REPORT; 11 (reserved) is rejected with BadValue.
- A user data header is reported raw (`udh`, the IEs without the UDHL octet)
  and a concatenation IE (IEI 0x00 or 0x08) as `concat` = (ref, total, seq);
  nothing is reassembled: WMMP never uses concatenated SMS (PROTOCOL.md 9).
Bad input raises only wmmp.errors subclasses (Truncated, BadLength, BadValue,
TooLongForBearer, Unsupported).
"""

from binascii import hexlify, unhexlify
from micropython import const

from wmmp.errors import BadLength, BadValue, TooLongForBearer, Truncated, Unsupported
from wmmp.modem import pdufields as F

UD_MAX_OCTETS = const(140)     # TP-UD (23.040 9.2.3.24; PROTOCOL.md 9)
UD_MAX_SEPTETS = const(160)

PID_TYPE0 = const(0x40)        # "Short Message Type 0": acknowledge and discard (23.040 9.2.3.9)

DELIVER = "deliver"
SUBMIT = "submit"
STATUS_REPORT = "status-report"


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


# ---------------------------------------------------------------- user data

def _encode_ud(out, data, dcs, udh):
    """Append TP-UDL + TP-UD for `data` under `dcs` (optional header IEs) to `out`."""
    alphabet, compressed, _ = F.dcs_info(dcs)
    if compressed:
        raise Unsupported("compressed user data")
    hlen = 0
    if udh is not None:
        if isinstance(udh, str) or not isinstance(udh, (bytes, bytearray, memoryview)):
            raise BadValue("user data header must be bytes")
        if len(udh) > UD_MAX_OCTETS - 1:
            raise TooLongForBearer("user data header over 139 octets")
        hlen = len(udh) + 1
    if alphabet == F.GSM7:
        if not isinstance(data, str):
            raise BadValue("7-bit user data must be str")
        sept = F.gsm_encode(data)
        hsept = (hlen * 8 + 6) // 7
        udl = hsept + len(sept)
        if udl > UD_MAX_SEPTETS:
            raise TooLongForBearer("user data over 160 septets")
        body = F.pack7(sept, hsept * 7 - hlen * 8)
    else:
        if alphabet == F.UCS2:
            if not isinstance(data, str):
                raise BadValue("UCS2 user data must be str")
            body = F.ucs2_encode(data)
        elif isinstance(data, str) or not isinstance(data, (bytes, bytearray, memoryview)):
            raise BadValue("8-bit user data must be bytes")
        else:
            body = data
        udl = hlen + len(body)
        if udl > UD_MAX_OCTETS:
            raise TooLongForBearer("user data over 140 octets (PROTOCOL.md 9)")
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
    septets = sms.alphabet == F.GSM7 and not sms.compressed
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
        sms.data = F.gsm_decode(F.unpack7(buf, udl - hsept, pos + hdr, hsept * 7 - hdr * 8))
    elif sms.alphabet == F.UCS2 and not sms.compressed:
        sms.data = F.ucs2_decode(buf[pos + hdr:pos + nbytes])
    else:
        sms.data = bytes(buf[pos + hdr:pos + nbytes])


# ---------------------------------------------------------------- encode

def _byte(value, what):
    if not isinstance(value, int) or value < 0 or value > 255:
        raise BadValue(what + " must be 0..255")
    return value


def _first_octet_vp(vp):
    """-> (TP-VPF bits in the first octet, TP-VP octets)."""
    if vp is None:
        return 0x00, b""
    if isinstance(vp, int):
        return 0x10, bytes((F.vp_octet(vp),))
    if isinstance(vp, tuple):
        return 0x18, bytes(F.encode_time(vp))
    if isinstance(vp, (bytes, bytearray)) and len(vp) == 7:
        return 0x08, bytes(vp)
    raise BadValue("TP-VP must be minutes, a time tuple or 7 enhanced-format octets")


def encode_submit(dest, data, smsc=None, dcs=0x04, mr=0, vp=None, srr=False,
                  udh=None, pid=0, rd=False):
    """SMS-SUBMIT (23.040 9.2.2.2) -> (pdu bytes, TPDU octet count for AT+CMGS).

    The PDU starts with the SMSC address (0x00 when `smsc` is None: the modem
    uses its stored SMSC); the count excludes it (27.005 AT+CMGS, the AT manuals).
    `data` is bytes for 8-bit TP-DCS (default 0x04, PROTOCOL.md 9), str for 7-bit
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
    out = F.encode_smsc(smsc)
    sc = len(out)
    out.append(fo)
    out.append(mr)
    out += F.encode_address(dest)
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
    out = F.encode_smsc(smsc)
    sc = len(out)
    out.append(fo)
    out += F.encode_address(orig)
    out.append(pid)
    out.append(dcs)
    out += F.encode_time(scts)
    _encode_ud(out, data, dcs, udh)
    return bytes(out), len(out) - sc


def encode_status_report(recipient, mr, scts, dt, status, smsc=None):
    """SMS-STATUS-REPORT without optional parameters (23.040 9.2.2.3)."""
    _byte(mr, "TP-MR")
    _byte(status, "TP-ST")
    out = F.encode_smsc(smsc)
    sc = len(out)
    out.append(0x06)                   # MTI 10, TP-MMS = 1
    out.append(mr)
    out += F.encode_address(recipient)
    out += F.encode_time(scts)
    out += F.encode_time(dt)
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
    alphabet = F.GSM7
    compressed = False
    msg_class = scts = dt = status = vp = udh = concat = None
    vpf = udl = 0
    data = ""

    def __init__(self, type):
        self.type = type

    def _set_dcs(self, dcs):
        self.dcs = dcs
        self.alphabet, self.compressed, self.msg_class = F.dcs_info(dcs)
        if self.alphabet != F.GSM7 or self.compressed:
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
        smsc, smsc_toa, pos = F.read_smsc(buf)
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
        sms.address, sms.toa, pos = F.read_address(buf, pos)
        sms.originator = sms.address
        _need(buf, pos, 2)
        sms.pid = buf[pos]
        sms._set_dcs(buf[pos + 1])
        sms.scts = F.read_time(buf, pos + 2)
        _read_ud(sms, buf, pos + 9)
    elif mti == 1:
        if fo & 0x04:
            sms.rd = True
        if fo & 0x20:
            sms.srr = True
        sms.vpf = (fo >> 3) & 3
        _need(buf, pos, 1)
        sms.mr = buf[pos]
        sms.address, sms.toa, pos = F.read_address(buf, pos + 1)
        sms.destination = sms.address
        _need(buf, pos, 2)
        sms.pid = buf[pos]
        sms._set_dcs(buf[pos + 1])
        pos += 2
        if sms.vpf == 2:
            _need(buf, pos, 1)
            sms.vp = F.vp_minutes(buf[pos])
            pos += 1
        elif sms.vpf == 3:
            sms.vp = F.read_time(buf, pos)
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
    sms.address, sms.toa, pos = F.read_address(buf, pos + 1)
    sms.recipient = sms.address
    sms.scts = F.read_time(buf, pos)
    sms.dt = F.read_time(buf, pos + 7)
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
    """True if `sms` can carry one WMMP message (PROTOCOL.md 9): an SMS-DELIVER
    with 8-bit uncompressed data, no user data header (no concatenation),
    not a Type 0 SMS (TP-PID 0x40), at most `max_len` octets, from a numeric
    originator equal (after normalise_number) to a configured platform number.
    An alphanumeric originator never matches: its text is not a number."""
    if sms.type != DELIVER or sms.alphabet != F.OCTETS or sms.compressed or sms.udhi:
        return False
    if sms.pid == PID_TYPE0 or sms.toa is None or sms.toa & F.TON_MASK == F.TON_ALPHANUMERIC:
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
