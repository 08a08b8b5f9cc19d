"""SMS PDU encoder/decoder (lib/wmmp/modem/pdu.py; PROTOCOL.md 9, MODEMS.md SMS rows;
3GPP TS 23.040, TS 23.038, TS 24.011).  Portable.

Published PDUs used as known answers (every expected field below was written
by hand from the 23.040/23.038 rules and checked against the source's own
explanation where it gives one):
  SUB_HELLO   Lars Pettersson, "SMS and the PDU format" (dreamfabric.com/sms,
              mirrored at turbocontrol.com and subnets.ru): SMS-SUBMIT of
              "hellohello" to +46708251358, TP-VP AA = 4 days.
  DEL_HELLO   same article: SMS-DELIVER of "hellohello" via SMSC +27381000015
              from 27838890001 (type-of-address C8), SCTS 99-03-29 15:16:59 +2h.
  SUB_7BIT17, SUB_8BIT17
              9cbs.com "SMS PDU mode, data format and length calculation":
              7-bit "hello" (UD E8329BFD06) and 8-bit "hello" (DCS F6, SMSC
              +491710760000), both with AT+CMGS=17 (TPDU octets, SMSC excluded).
  SR_AMRO     amro.blogspot.com 2007/09 "receiving an SMS status report
              message": +CDS SMS-STATUS-REPORT (no SMSC part), RA
              +20121875612, SCTS 07-09-12 15:10:12, DT 15:10:17, ST 00.
  DEL_UCS2    Nokia developer forum thread 13037 (AT+CMGR output): UCS2 SMS of
              U+0628 U+062A from +20101014063.
  DEL_HOWARE  jdsms.com.cn helpdesk article 136: "How are you?" from
              +31641600986 via +31624000000.
  NIKOLAS     Stack Overflow "Type-of-address of the sender number (SMS)"
              answer: alphanumeric address text CEF4FACD0ECF01 = "Nikolas"
              (type-of-address D0); the address fields around it are ours.
  REPLY_UD    alt.cellular.gsm "change SMS ID" post: TP-UDL/TP-UD
              190A22080B912143658709F180B2CBE17919242FC3D979 = UDH with a
              reply-address IE (0x22) then "Please reply" after 3 fill bits,
              and the same text without UDH preceded by 13 '@'.
  Address examples: Sony Ericsson application note "Construction of SMS PDUs"
  (LZT 123 7632) 4.4: 070-6876902 -> 0A 81 7060789620; Zoom 4575 modem manual
  p.29: +15551234567 -> 0B 91 5155214365F7; dreamfabric: 0708251358 with
  type 81 -> 0A 81 7080523185.
  Concatenation header 05 00 03 0F 02 02: how2s.org "How to encode binary SMS
  headers for multipart messages" (IE layout 23.040 9.2.3.24.1).
"""
from binascii import unhexlify as H

from wmmp.modem import pdu as P, pdufields as PF
from wmmp.errors import BadLength, BadValue, TooLongForBearer, Truncated, Unsupported, WmmpError

SUB_HELLO = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
DEL_HELLO = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"
SUB_7BIT17 = "0011000781214356F70000AA05E8329BFD06"
SUB_8BIT17 = "079194710167000011000781214365F700F6AA0568656C6C6F"
SR_AMRO = "06000B910221815716F2709021510121807090215101718000"
DEL_UCS2 = "07910201956905F0040B910201014160F3000820219130521580040628062A"
DEL_HOWARE = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"
NIKOLAS = "CEF4FACD0ECF01"
REPLY_UD = "190A22080B912143658709F180B2CBE17919242FC3D979"
AT_UD = "19000000000000000000000080B2CBE17919242FC3D979"
SCTS = "42105021436580"        # 2024-01-05 12:34:56 +2h, hand-encoded semi-octets (23.040 9.2.3.11)
PLATFORM = "+8613800000001"


def _raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc:
        return True
    raise AssertionError("expected %s" % exc.__name__)


def _deliver_hex(oa_hex, fo="04", pid="00", dcs="04", ud="0100"):
    """SMS-DELIVER hex with no SMSC part: first octet, OA, PID, DCS, SCTS, UDL+UD."""
    return "00" + fo + oa_hex + pid + dcs + SCTS + ud


# ---------------------------------------------------------------- published PDUs

def test_dreamfabric_submit_decode():
    # 23.040 9.2.2.2: SMSC 00, FO 11 (SUBMIT, VPF relative), MR 00, DA 0B 91
    # 6407281553F8, PID 00, DCS 00, VP AA (4 days), UDL 0A septets.
    s = P.decode(SUB_HELLO)
    assert s.type == "submit" and s.smsc is None and s.first_octet == 0x11
    assert s.mr == 0 and s.destination == "+46708251358" and s.toa == 0x91
    assert s.originator is None
    assert s.pid == 0 and s.dcs == 0 and s.alphabet == "gsm7"
    assert s.vpf == 2 and s.vp == 4 * 24 * 60
    assert s.udl == 10 and s.data == "hellohello"
    assert not s.udhi and not s.srr and not s.rd and not s.rp


def test_dreamfabric_submit_encode_exact():
    # The same message built by the encoder must be the published octets.
    pdu, n = P.encode_submit("+46708251358", "hellohello", dcs=0x00, vp=4 * 24 * 60)
    assert P.to_hex(pdu) == SUB_HELLO
    assert n == 23 == len(pdu) - 1      # AT+CMGS count excludes the SMSC octet (MODEMS.md)


def test_dreamfabric_deliver_decode():
    # 23.040 9.2.2.1 + 24.011 SMSC prefix: 07 91 7283010010F5 = +27381000015.
    s = P.decode(DEL_HELLO)
    assert s.type == "deliver"
    assert s.smsc == "+27381000015" and s.smsc_toa == 0x91
    assert s.first_octet == 0x04 and not s.more_messages      # TP-MMS = 1
    assert s.originator == "27838890001" and s.toa == 0xC8    # not international: no '+'
    assert s.pid == 0 and s.dcs == 0
    assert s.scts == (1999, 3, 29, 15, 16, 59, 8)            # +8 quarter hours = GMT+2
    assert s.udl == 10 and s.data == "hellohello"


def test_9cbs_cmgs_length_examples():
    # AT+CMGS=<TPDU octets> = 17 for both (MODEMS.md "SMSC part excluded").
    s = P.decode(SUB_7BIT17, tpdu_len=17)
    # bytes 214356F7 spell 1234657 (the page's two examples differ here)
    assert s.destination == "1234657" and s.toa == 0x81
    assert s.data == "hello" and s.vp == 4 * 1440   # page says "Hello"; E8 is 'h' (0x68)
    s = P.decode(SUB_8BIT17, tpdu_len=17)
    assert s.smsc == "+491710760000" and s.destination == "1234567"
    assert s.dcs == 0xF6 and s.alphabet == "8bit" and s.msg_class == 2   # 23.038 4: 1111 0110
    assert s.data == b"hello"
    pdu, n = P.encode_submit("1234567", b"hello", smsc="+491710760000", dcs=0xF6, vp=4 * 1440)
    assert P.to_hex(pdu) == SUB_8BIT17 and n == 17
    _raises(BadLength, P.decode, SUB_8BIT17, tpdu_len=16)


def test_amro_status_report():
    # 23.040 9.2.2.3: FO 06 (MTI 10, MMS), MR, RA, SCTS, DT, ST; no TP-PI.
    s = P.decode(SR_AMRO, has_smsc=False)
    assert s.type == "status-report" and s.smsc is None
    assert s.mr == 0 and s.recipient == "+20121875612" and s.toa == 0x91
    assert s.scts == (2007, 9, 12, 15, 10, 12, 8)
    assert s.dt == (2007, 9, 12, 15, 10, 17, 8)
    assert s.status == 0 and not s.more_messages and not s.srq
    assert s.originator is None and s.destination is None


def test_nokia_forum_ucs2_deliver():
    # TS 23.038 4: DCS 08 = UCS2; TP-UDL counts octets.
    s = P.decode(DEL_UCS2)
    assert s.smsc == "+20105996500" and s.originator == "+20101014063"
    assert s.dcs == 8 and s.alphabet == "ucs2"
    assert s.scts == (2002, 12, 19, 3, 25, 51, 8)
    assert s.udl == 4 and s.data == "\u0628\u062a"


def test_jdsms_how_are_you():
    # Time zone octet 08: sign bit (bit 3) set with zero digits, i.e. -0 = 0 (23.040 9.2.3.11).
    s = P.decode(DEL_HOWARE)
    assert s.smsc == "+31624000000" and s.originator == "+31641600986"
    assert s.scts == (2002, 8, 26, 19, 37, 41, 0)
    assert s.udl == 12 and s.data == "How are you?"


def test_alphanumeric_originator_nikolas():
    # 23.040 9.1.2.5: TON 101 alphanumeric, 7-bit packed; Address-Length counts
    # useful semi-octets: 7 chars = 49 bits -> 13 (0x0D).  Some senders count
    # whole octets (0x0E): the padding '@' is then dropped (pdufields.py docstring).
    for ln in ("0D", "0E"):
        s = P.decode(_deliver_hex(ln + "D0" + NIKOLAS))
        assert s.originator == "Nikolas" and s.toa == 0xD0
        assert not P.is_wmmp(s, ["Nikolas"])      # PROTOCOL.md 9: numbers only


def test_reply_address_udh_and_fill_bits():
    # 23.040 9.2.3.24: with UDHI, TP-UDL counts the header septets (11 octets
    # -> 13 septets incl. 3 fill bits) plus 12 text septets = 0x19.
    s = P.decode(_deliver_hex("0B91" + "2143658709F1", fo="44", dcs="00", ud=REPLY_UD))
    assert s.udhi and s.udl == 25
    assert s.udh == H("22080B912143658709F1")
    assert P.parse_ies(s.udh) == [(0x22, H("0B912143658709F1"))]
    assert s.concat is None and s.data == "Please reply"
    # same text after 13 '@' septets, no header: identical tail octets
    s = P.decode(_deliver_hex("0B91" + "2143658709F1", dcs="00", ud=AT_UD))
    assert s.data == "@" * 13 + "Please reply"
    pdu, _ = P.encode_submit("+12345678901", "@" * 13 + "Please reply", dcs=0)
    assert P.to_hex(pdu).endswith(AT_UD)
    pdu, _ = P.encode_deliver("+12345678901", "Please reply", (2024, 1, 5, 12, 34, 56, 8),
                              dcs=0, udh=H("22080B912143658709F1"))
    assert P.to_hex(pdu).endswith(REPLY_UD)
    assert pdu[1] == 0x44                       # MTI 00, MMS, UDHI


def test_published_address_encodings():
    # Sony Ericsson LZT 123 7632 4.4, Zoom 4575 p.29, dreamfabric (module docstring).
    assert PF.encode_address("0706876902") == H("0A817060789620")
    assert PF.encode_address("+15551234567") == H("0B915155214365F7")
    assert PF.encode_address("0708251358") == H("0A817080523185")


# ---------------------------------------------------------------- round trips

def test_submit_8bit_round_trip_lengths():
    # PROTOCOL.md 9: one WMMP message per SMS, 8-bit (DCS 04), at most 140 octets.
    for n in (0, 1, 139, 140):
        data = bytes(i & 0xFF for i in range(n))
        pdu, tl = P.encode_submit(PLATFORM, data, mr=7, srr=True)
        assert pdu[0] == 0 and tl == len(pdu) - 1
        assert pdu[1] == 0x21                   # SUBMIT + SRR, no VP (23.040 9.2.3.1-5)
        assert pdu[-n - 1] == n if n else pdu[-1] == 0
        s = P.decode(pdu)
        assert s.type == "submit" and s.destination == PLATFORM and s.mr == 7 and s.srr
        assert s.dcs == 4 and s.alphabet == "8bit" and s.data == data and s.vp is None
    _raises(TooLongForBearer, P.encode_submit, PLATFORM, bytes(141))


def test_deliver_8bit_round_trip_lengths():
    t = (2024, 1, 5, 12, 34, 56, 8)
    for n in (0, 1, 139, 140):
        data = bytes((255 - i) & 0xFF for i in range(n))
        pdu, tl = P.encode_deliver(PLATFORM, data, t, smsc="+8613800100500")
        assert tl == len(pdu) - 1 - pdu[0]
        s = P.decode(pdu, tpdu_len=tl)
        assert s.type == "deliver" and s.smsc == "+8613800100500"
        assert s.originator == PLATFORM and s.scts == t and s.data == data
        assert P.is_wmmp(s, ["13800000001"])
    _raises(TooLongForBearer, P.encode_deliver, PLATFORM, bytes(141), t)


def test_status_report_round_trip():
    t1 = (2023, 12, 31, 23, 59, 58, -20)
    t2 = (2024, 1, 1, 0, 0, 1, -20)
    pdu, tl = P.encode_status_report("10658000", 0x5A, t1, t2, 0x00)
    s = P.decode(pdu)
    assert s.type == "status-report" and s.mr == 0x5A and s.recipient == "10658000"
    assert s.scts == t1 and s.dt == t2 and s.status == 0
    # time zone -5h: 20 quarters, sign bit 3 of the first semi-octet (23.040 9.2.3.11)
    assert pdu[-2] == 0x0A


def test_status_report_optional_parameters():
    # 23.040 9.2.3.27 TP-PI: bit 0 PID, bit 1 DCS, bit 2 UDL.
    base = SR_AMRO
    s = P.decode(base + "03" + "00" + "04", has_smsc=False)
    assert s.pid == 0 and s.dcs == 4 and s.udl == 0
    s = P.decode(base + "06" + "04" + "02AABB", has_smsc=False)
    assert s.alphabet == "8bit" and s.data == b"\xaa\xbb"
    s = P.decode(base + "84" + "00" + "0100", has_smsc=False)   # extension octet, UDL only
    assert s.udl == 1 and s.data == "@"
    _raises(Truncated, P.decode, base + "06" + "04", has_smsc=False)
    _raises(BadLength, P.decode, base + "00" + "FF", has_smsc=False)


def test_address_encodings():
    # 23.040 9.1.2.5: length = digits, TOA 91 international / 81 unknown, F filler.
    assert PF.encode_address(PLATFORM) == H("0D91683108000000F1")       # 13 digits, odd
    assert PF.encode_address("+861380000000") == H("0C91683108000000")  # even
    assert PF.encode_address("10658000") == H("088101560800")           # short code, national
    assert PF.encode_address("10086") == H("05810180F6")                # odd short code
    assert PF.encode_address("*#1") == H("0381BAF1")                    # 24.008 BCD: * = A, # = B
    assert PF.encode_smsc(None) == b"\x00"
    assert PF.encode_smsc("+8613800100500") == H("0891683108100005F0")   # length counts TOA (24.011)
    for number in ("+8613800000001", "13800000001", "10658000", "1", "+1", "12345678901234567890"):
        pdu, _ = P.encode_deliver(number, b"x", (2024, 1, 5, 0, 0, 0, 0))
        assert P.decode(pdu).originator == number
    for bad in ("", "+", "12a4", "+86 138", "123456789012345678901", 13800000001):
        _raises(BadValue, PF.encode_address, bad)


def test_decode_address_variants():
    # 23.040 9.1.2.5: TON other than international gives plain digits; a
    # filler counted in the length is tolerated, a filler inside is not.
    s = P.decode(_deliver_hex("0BA1" + "3108000000F1"))
    assert s.originator == "13800000001" and s.toa == 0xA1
    s = P.decode(_deliver_hex("0C81" + "3108000000F1"))
    assert s.originator == "13800000001"
    _raises(BadValue, P.decode, _deliver_hex("0481" + "F131"))
    s = P.decode(_deliver_hex("0091"))
    assert s.originator == ""


def test_gsm7_packing_edges():
    # 23.038 6.1.2.1.1 packing, LSB first; hand-packed "abcdefg".
    pdu, _ = P.encode_submit("1", "abcdefg", dcs=0)
    assert P.to_hex(pdu).endswith("0761F1985C369F01")
    pdu, _ = P.encode_submit("1", "abcdefgh", dcs=0)
    assert P.to_hex(pdu).endswith("0861F1985C369FD1")           # 8 septets = 7 octets
    pdu, _ = P.encode_submit("1", "abcdefg@", dcs=0)
    assert P.to_hex(pdu).endswith("0861F1985C369F01")           # '@' is 7 zero bits
    # UDL disambiguates a trailing '@' from padding bits
    assert P.decode(_deliver_hex("0181F1", dcs="00", ud="0761F1985C369F01")).data == "abcdefg"
    assert P.decode(_deliver_hex("0181F1", dcs="00", ud="0861F1985C369F01")).data == "abcdefg@"
    text = "0123456789" * 15 + "012345678@"                     # 160 septets, '@' last
    pdu, _ = P.encode_submit("1", text, dcs=0)
    assert pdu[-141] == 160 and P.decode(pdu).data == text       # 140 octets
    _raises(TooLongForBearer, P.encode_submit, "1", text + "x", dcs=0)
    assert P.decode(P.encode_submit("1", "", dcs=0)[0]).data == ""
    assert PF.unpack7(PF.pack7(b"\x01\x02\x7f", 3), 3, 0, 3) == b"\x01\x02\x7f"


def test_gsm7_alphabet_and_extension():
    # 23.038 6.2.1 default alphabet and 6.2.1.1 extension table.
    assert PF.gsm_encode("@\u00a3$") == b"\x00\x01\x02"
    assert PF.gsm_encode("\u20ac") == b"\x1b\x65"
    assert PF.gsm_encode("{}") == b"\x1b\x28\x1b\x29"
    assert PF.gsm_decode(b"\x1b\x3c\x1b\x3e\x11\x10\x7f") == "[]_\u0394\u00e0"
    assert PF.gsm_decode(b"\x1b\x1b") == " "              # reserved escape: a space
    assert PF.gsm_decode(b"\x1b\x41") == "A"              # unknown escape: main table
    assert len(PF._GSM7) == 128 and PF._GSM7[0x24] == "\u00a4" and PF._GSM7[0x5F] == "\u00a7"
    text = "\x0c^{}\\[~]|\u20ac \u00c9\u00df\u00c6"
    s = P.decode(P.encode_submit("1", text, dcs=0)[0])
    assert s.data == text
    euro = "\u20ac" * 80                                   # 160 septets
    assert P.decode(P.encode_submit("1", euro, dcs=0)[0]).data == euro
    _raises(TooLongForBearer, P.encode_submit, "1", euro + "a", dcs=0)
    for bad in ("\u4e2d", "\x1b", "`"):
        _raises(BadValue, PF.gsm_encode, bad)
    _raises(BadValue, P.encode_submit, "1", b"bytes", dcs=0)
    _raises(BadValue, P.encode_submit, "1", "text")       # DCS 04 wants bytes


def test_ucs2():
    # 23.038 4 (DCS 08) and UTF-16 surrogates for characters beyond the BMP.
    pdu, _ = P.encode_submit("1", "\u4e2d\u6587", dcs=0x08)
    assert P.to_hex(pdu).endswith("044E2D6587")
    assert P.decode(pdu).data == "\u4e2d\u6587"
    assert PF.ucs2_encode("\U0001F600") == H("D83DDE00")
    assert PF.ucs2_decode(H("D83DDE00")) == "\U0001F600"
    assert PF.ucs2_decode(H("D83D0041")) == "\ufffdA"       # lone high surrogate
    assert PF.ucs2_decode(H("DE00")) == "\ufffd"
    text = "\u4e2d" * 70
    assert P.decode(P.encode_submit("1", text, dcs=0x08)[0]).data == text
    _raises(TooLongForBearer, P.encode_submit, "1", text + "a", dcs=0x08)
    _raises(BadLength, P.decode, _deliver_hex("0181F1", dcs="08", ud="03004100"))


def test_concatenation_header_reported_not_reassembled():
    # PROTOCOL.md 9: WMMP never uses concatenation; 23.040 9.2.3.24.1 / .8 headers
    # are reported (ref, total, seq) and the part is not a WMMP SMS.
    s = P.decode(_deliver_hex("0D91683108000000F1", fo="44", ud="080500030F0202CAFE"))
    assert s.udhi and s.udh == H("00030F0202") and s.concat == (0x0F, 2, 2)
    assert s.data == b"\xca\xfe" and s.udl == 8
    assert not P.is_wmmp(s, [PLATFORM])
    s = P.decode(_deliver_hex("0D91683108000000F1", fo="44", ud="0706080412340301"))
    assert s.concat == (0x1234, 3, 1) and s.data == b""
    pdu, _ = P.encode_deliver(PLATFORM, b"\x01", (2024, 1, 5, 0, 0, 0, 0), udh=H("00030F0202"))
    s = P.decode(pdu)
    assert s.concat == (0x0F, 2, 2) and s.data == b"\x01"
    # 7-bit with a 6-octet header: 48 bits + 1 fill bit = 7 septets (23.040 9.2.3.24)
    pdu, _ = P.encode_deliver(PLATFORM, "hi", (2024, 1, 5, 0, 0, 0, 0), dcs=0, udh=H("00030F0201"))
    s = P.decode(pdu)
    assert s.udl == 9 and s.data == "hi" and s.concat == (0x0F, 2, 1)
    _raises(TooLongForBearer, P.encode_submit, "1", bytes(135), udh=H("00030F0201"))


def test_validity_period():
    # 23.040 9.2.3.12.1 relative format boundaries, in minutes.
    assert [PF.vp_minutes(o) for o in (0, 143, 144, 167, 168, 196, 197, 255)] == \
        [5, 720, 750, 1440, 2880, 43200, 50400, 635040]
    assert PF.vp_octet(0) == 0 and PF.vp_octet(6) == 1 and PF.vp_octet(720) == 143
    assert PF.vp_octet(721) == 144 and PF.vp_octet(1440) == 167 and PF.vp_octet(1441) == 168
    assert PF.vp_octet(4 * 1440) == 0xAA and PF.vp_octet(43201) == 197 and PF.vp_octet(635040) == 255
    _raises(BadValue, PF.vp_octet, 635041)
    _raises(BadValue, PF.vp_octet, -1)
    t = (2024, 2, 29, 23, 0, 0, 32)
    pdu, _ = P.encode_submit(PLATFORM, b"x", vp=t)             # absolute, VPF 11
    s = P.decode(pdu)
    assert pdu[1] == 0x19 and s.vpf == 3 and s.vp == t and s.data == b"x"
    raw = H("01020304050607")
    pdu, _ = P.encode_submit(PLATFORM, b"x", vp=raw)           # enhanced, VPF 01
    s = P.decode(pdu)
    assert pdu[1] == 0x09 and s.vpf == 1 and s.vp == raw
    _raises(BadValue, P.encode_submit, PLATFORM, b"x", vp="1d")


def test_dcs_groups():
    # TS 23.038 4 coding groups.
    assert PF.dcs_info(0x04) == ("8bit", False, None)
    assert PF.dcs_info(0x14) == ("8bit", False, 0)
    assert PF.dcs_info(0x00) == ("gsm7", False, None)
    assert PF.dcs_info(0x08) == ("ucs2", False, None)
    assert PF.dcs_info(0x0C) == ("gsm7", False, None)      # reserved alphabet -> default
    assert PF.dcs_info(0x24) == ("8bit", True, None)
    assert PF.dcs_info(0x44) == ("8bit", False, None)      # automatic deletion group
    assert PF.dcs_info(0xF5) == ("8bit", False, 1)
    assert PF.dcs_info(0xF1) == ("gsm7", False, 1)
    assert PF.dcs_info(0xE0) == ("ucs2", False, None)
    assert PF.dcs_info(0xC0) == ("gsm7", False, None)
    assert PF.dcs_info(0x84) == ("gsm7", False, None)      # reserved group -> default
    # compressed: TP-UDL in octets, data left raw, not WMMP (23.040 9.2.3.16)
    s = P.decode(_deliver_hex("0D91683108000000F1", dcs="24", ud="03010203"))
    assert s.compressed and s.data == b"\x01\x02\x03" and not P.is_wmmp(s, [PLATFORM])
    _raises(Unsupported, P.encode_submit, "1", b"x", dcs=0x24)


def test_is_wmmp_filter():
    # PROTOCOL.md 9: 8-bit data, from a configured platform number ("+86" optional).
    t = (2024, 1, 5, 0, 0, 0, 0)
    s = P.decode(P.encode_deliver(PLATFORM, b"\x00" * 28, t)[0])
    for numbers in (["13800000001"], [PLATFORM], ["8613800000001"], "13800000001",
                    ["0086 138 0000 0001"], ["10658000", "13800000001"]):
        assert P.is_wmmp(s, numbers), numbers
    for numbers in ([], ["13800000002"], [""], ["+4413800000001"], "138"):
        assert not P.is_wmmp(s, numbers), numbers
    assert not P.is_wmmp(s, [PLATFORM], max_len=27)
    s = P.decode(P.encode_deliver("10658000", b"\x01", t)[0])
    assert P.is_wmmp(s, ["+8610658000"]) and P.is_wmmp(s, ["10658000"])
    assert not P.is_wmmp(P.decode(P.encode_deliver(PLATFORM, "text", t, dcs=0)[0]), [PLATFORM])
    assert not P.is_wmmp(P.decode(P.encode_deliver(PLATFORM, b"\x01", t, pid=0x40)[0]), [PLATFORM])
    assert not P.is_wmmp(P.decode(P.encode_submit(PLATFORM, b"\x01")[0]), [PLATFORM])
    assert P.is_wmmp(P.decode(P.encode_deliver(PLATFORM, b"\x01", t, dcs=0xF5)[0]), [PLATFORM])
    # an alphanumeric sender spelling a platform number never matches
    alpha = PF.pack7(PF.gsm_encode("13800000001"))
    s = P.decode(_deliver_hex("%02XD0" % ((11 * 7 + 3) // 4) + P.to_hex(alpha)))
    assert s.originator == "13800000001" and not P.is_wmmp(s, ["13800000001"])
    assert P.normalise_number("+4413800000001") == "+4413800000001"
    assert P.normalise_number(None) == ""


def test_hex_helpers():
    assert P.to_hex(b"\x00\xab\x1f") == "00AB1F"
    assert P.from_hex(" 00ab\r\n1F\t") == b"\x00\xab\x1f"
    assert P.from_hex(b"0011") == b"\x00\x11"
    assert P.from_hex("") == b""
    _raises(BadLength, P.from_hex, "001")
    _raises(BadValue, P.from_hex, "00GG")
    _raises(BadValue, P.from_hex, "\u00e90")
    _raises(BadValue, P.from_hex, 17)
    assert P.decode(" 00 " + SUB_HELLO[2:]).data == "hellohello"   # hex text accepted


def test_bad_input_typed_errors():
    _raises(Truncated, P.decode, b"")
    _raises(Truncated, P.decode, b"\x00")
    _raises(BadValue, P.decode, b"\x00\x03")                 # reserved TP-MTI
    _raises(BadValue, P.decode, 12)
    _raises(BadLength, P.decode, H("0C91") + bytes(11))       # SMSC over 11 octets
    _raises(BadLength, P.decode, _deliver_hex("1591" + "11" * 11))   # address over 20 digits
    _raises(BadLength, P.decode, _deliver_hex("0181F1", ud="8D" + "00" * 141))
    _raises(BadLength, P.decode, _deliver_hex("0181F1", dcs="00", ud="A1" + "00" * 141))
    _raises(BadLength, P.decode, _deliver_hex("0181F1", ud="0100FF"))     # trailing octet
    _raises(BadLength, P.decode, _deliver_hex("0181F1", fo="44", ud="020500"))  # UDHL too long
    _raises(BadLength, P.decode, _deliver_hex("0181F1", fo="44", ud="00"))      # UDHI, no UD
    _raises(BadLength, P.decode, _deliver_hex("0181F1", fo="44", ud="03020005"))  # IE overrun
    _raises(BadLength, P.decode, _deliver_hex("0181F1", fo="44", dcs="00", ud="010000"))
    _raises(BadValue, P.decode, "0004" + "0181F1" + "0004" + "4A105021436580" + "00")
    _raises(BadValue, P.encode_submit, "1", b"x", mr=256)
    _raises(BadValue, P.encode_submit, "1", b"x", dcs=-1)
    _raises(BadValue, P.encode_deliver, "1", b"x", (2024, 1, 1))
    _raises(BadValue, P.encode_deliver, "1", b"x", (2024, 1, 1, 0, 0, 0, 80))
    _raises(BadValue, P.encode_submit, "1", b"x", udh="0003")


def _all_cuts_raise(hx, smsc=True):
    raw = H(hx)
    P.decode(raw, has_smsc=smsc)
    for k in range(len(raw)):
        try:
            P.decode(raw[:k], has_smsc=smsc)
        except WmmpError:
            continue
        raise AssertionError("truncation at %d accepted: %s" % (k, hx))


def test_truncations_of_submits_raise_wmmp_error():
    # Each published PDU cut anywhere before its end: only WmmpError subclasses.
    _all_cuts_raise(SUB_HELLO)
    _all_cuts_raise(SUB_8BIT17)


def test_truncations_of_delivers_raise_wmmp_error():
    _all_cuts_raise(DEL_HELLO)
    _all_cuts_raise(DEL_UCS2)
    _all_cuts_raise(DEL_HOWARE)


def test_truncations_of_header_and_alphanumeric_pdus_raise_wmmp_error():
    _all_cuts_raise(_deliver_hex("0ED0" + NIKOLAS))
    _all_cuts_raise(_deliver_hex("0B912143658709F1", fo="44", dcs="00", ud=REPLY_UD))
    _all_cuts_raise(_deliver_hex("0D91683108000000F1", fo="44", ud="080500030F0202CAFE"))


def test_truncations_of_status_reports_raise_wmmp_error():
    _all_cuts_raise(SR_AMRO, smsc=False)
    # with optional parameters a cut right after TP-ST is a complete report
    # (23.040 9.2.2.3: TP-PI is optional); every other cut must raise
    raw = H(SR_AMRO + "07" + "00" + "04" + "02ABCD")
    for k in range(len(raw)):
        try:
            P.decode(raw[:k], has_smsc=False)
            assert k == len(H(SR_AMRO))
        except WmmpError:
            pass
