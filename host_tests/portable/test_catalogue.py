"""Portable tests of wmmp.wire.catalogue and wmmp.tagnames against appendix E of the
standard and PROTOCOL.md 1/5/6/8."""

from wmmp.wire import catalogue as cat
from wmmp.wire.catalogue import (T_STR, T_NUM, T_DATE, T_BIN, T_TAGS, T_NONE, T_RESERVED,
                            L_FIXED, L_MAX, L_VAR, L_MULT)
from wmmp.errors import BadTlv, BadValue, TooLongForBearer


def _raises(exc, f, *args):
    try:
        f(*args)
    except exc:
        return True
    return False


def _ok(tag, value):
    cat.validate(tag, value)  # raises on failure
    return True


# ---------------------------------------------------------------------------
# Tag ranges (appendix E a, PROTOCOL.md 1).

def test_groups_by_range():
    g = cat.group
    assert g(0x0000) is None
    assert g(0x0001) == cat.G_CONFIG and g(0x0FFF) == cat.G_CONFIG
    assert g(0x1000) == cat.G_UPGRADE  # listed in appendix E c although E a starts at 0x1001
    assert g(0x1FFF) == cat.G_UPGRADE
    assert g(0x2000) is None
    assert g(0x2001) == cat.G_STATISTICS and g(0x2FFF) == cat.G_STATISTICS
    assert g(0x3000) is None
    assert g(0x3001) == cat.G_MONITOR and g(0x3FFF) == cat.G_MONITOR
    assert g(0x4000) is None
    assert g(0x4001) == cat.G_CONTROL and g(0x4FFF) == cat.G_CONTROL
    assert g(0x5000) is None
    assert g(0x5001) == cat.G_PLATFORM and g(0x6000) == cat.G_PLATFORM and g(0x7FFF) == cat.G_PLATFORM
    assert g(0x8000) is None
    assert g(0x8001) == cat.G_MAKER and g(0xA000) == cat.G_MAKER and g(0xDFFF) == cat.G_MAKER
    assert g(0xE000) is None
    assert g(0xE001) == cat.G_SECURITY and g(0xFFFF) == cat.G_SECURITY
    assert g(0x10000) is None and g(-1) is None
    groups = (cat.G_CONFIG, cat.G_UPGRADE, cat.G_STATISTICS, cat.G_MONITOR, cat.G_CONTROL,
              cat.G_PLATFORM, cat.G_MAKER, cat.G_SECURITY)
    assert len(set(groups)) == 8 and None not in groups


def test_every_catalogue_tag_is_in_its_group():
    # appendix E b-g: each subsection's tags lie in its range of E a
    for t in cat.tags():
        grp = cat.group(t)
        assert grp in (cat.G_CONFIG, cat.G_UPGRADE, cat.G_STATISTICS, cat.G_MONITOR,
                       cat.G_CONTROL, cat.G_SECURITY), hex(t)


# ---------------------------------------------------------------------------
# Exactly the tag rows of appendix E, written out by hand from the text.

def _expected_tags():
    # appendix E b) config: 0x0001-0x0014, 0x0025-0x002E, personalised 0x0101-0x0109
    t = list(range(0x0001, 0x0015)) + list(range(0x0025, 0x002F)) + list(range(0x0101, 0x010A))
    # appendix E c) upgrade: 0x1000-0x100C
    t += list(range(0x1000, 0x100D))
    # appendix E d) statistics: 0x2001-0x200E, 0x2011-0x201C
    t += list(range(0x2001, 0x200F)) + list(range(0x2011, 0x201D))
    # appendix E e) monitoring: 0x3001, 0x3002, 0x3004-0x3012 (no 0x3003 row)
    t += [0x3001, 0x3002] + list(range(0x3004, 0x3013))
    # appendix E f) control: 0x4001-0x4003, 0x4005-0x4011 (hex 0x4005..0x4009, 0x4010,
    # 0x4011), 0x4012-0x4017, 0x4021
    t += [0x4001, 0x4002, 0x4003, 0x4005, 0x4006, 0x4007, 0x4008, 0x4009, 0x4010, 0x4011,
          0x4012, 0x4013, 0x4014, 0x4015, 0x4016, 0x4017, 0x4021]
    # appendix E g) security: 0xE001-0xE01B, 0xE020-0xE02A, 0xE031-0xE044
    t += list(range(0xE001, 0xE01C)) + list(range(0xE020, 0xE02B)) + list(range(0xE031, 0xE045))
    return t


def test_catalogue_has_exactly_the_appendix_e_tags():
    expected = _expected_tags()
    got = list(cat.tags())
    assert len(expected) == 170
    assert got == expected
    for t in expected:
        assert cat.is_known(t)
    for t in (0x0000, 0x0015, 0x0024, 0x002F, 0x0100, 0x010A, 0x100D, 0x2000, 0x200F,
              0x2010, 0x201D, 0x3003, 0x3013, 0x4004, 0x400A, 0x400F, 0x4018, 0x4020,
              0x4022, 0x5001, 0x8001, 0xE01C, 0xE01F, 0xE02B, 0xE030, 0xE045, 0xFFFF):
        assert not cat.is_known(t), hex(t)
        assert cat.lookup(t) is None


# ---------------------------------------------------------------------------
# Spot checks of type and length as written in appendix E (or as PROTOCOL.md 8 decides).

SPOT = (
    # tag, type, kind, n
    (0x0001, T_STR, L_MAX, 16),    # E b: 字符串 ≤16 dial number
    (0x0002, T_STR, L_MAX, 32),    # E b: 字符串 ≤32 APN
    (0x0004, T_STR, L_MAX, 32),    # E b: 字符串 ≤32 dial password
    (0x0005, T_STR, L_MAX, 20),    # E b: 字符串 ≤20 SMS centre
    (0x0006, T_STR, L_VAR, 1),     # E b: 字符串 不定长 transport key
    (0x0008, T_STR, L_MAX, 64),    # E b: 字符串 ≤64 platform URL
    (0x0009, T_NUM, L_FIXED, 4),   # E b: 数字 4 platform IP
    (0x000A, T_NUM, L_FIXED, 4),   # E b: 数字 4 ports
    (0x000F, T_RESERVED, L_VAR, 1),  # E b: 保留, no type or length
    (0x0011, T_NUM, L_FIXED, 4),   # E b: 数字 4 heartbeat; PROTOCOL.md 8 u32
    (0x0025, T_TAGS, L_MULT, 2),   # E b: 数字 不定长 list of tags
    (0x0026, T_NUM, L_FIXED, 2),   # E b: 数字 2; PROTOCOL.md 8 u16
    (0x0027, T_NUM, L_FIXED, 1),   # E b: 数字 1
    (0x0028, T_NUM, L_VAR, 1),     # E b: 数字 不定长 EC code
    (0x002A, T_BIN, L_FIXED, 8),   # E b: 数字 8, two u32 (composite)
    (0x002E, T_STR, L_VAR, 1),     # E b: 字符串 不定长 MSISDN
    (0x0101, T_NUM, L_FIXED, 2),   # E b personalised: 数字 2 baud
    (0x0106, T_RESERVED, L_FIXED, 2),  # E b personalised: 数字 2 保留
    (0x0107, T_BIN, L_MULT, 4),    # E b personalised: 数字 4xN
    (0x0109, T_BIN, L_FIXED, 3),   # E b personalised: 数字 3 threshold
    (0x1000, T_NUM, L_FIXED, 1),   # E c: 数字 1
    (0x1001, T_STR, L_VAR, 1),     # E c: 字符串 不定长 URL
    (0x1003, T_NUM, L_FIXED, 2),   # E c: 数字 2 port
    (0x1006, T_NUM, L_FIXED, 4),   # E c: 数字 4 file size
    (0x1007, T_NUM, L_FIXED, 2),   # E c: 数字 2 CRC16
    (0x1009, T_NUM, L_FIXED, 4),   # E c says 2; PROTOCOL.md 8 u32
    (0x100A, T_STR, L_FIXED, 12),  # E c: 字符串 12 date
    (0x100C, T_STR, L_FIXED, 8),   # E c: 字符串 8 version
    (0x2002, T_DATE, L_FIXED, 4),  # E d: 数字 4 seconds since 1970 (PROTOCOL.md 8 date)
    (0x2008, T_NUM, L_FIXED, 4),   # E d: 数字 4 counter
    (0x2011, T_BIN, L_FIXED, 12),  # E d: 数字组合信息 12
    (0x2013, T_BIN, L_MULT, 8),    # E d: 数字组合信息 8×n (n ≤ 90)
    (0x2017, T_BIN, L_MULT, 12),   # E d: 数字组合信息 12×n (n ≤ 90)
    (0x3001, T_NUM, L_FIXED, 2),   # E e: 2 version
    (0x3002, T_STR, L_FIXED, 16),  # E e: 16 serial
    (0x3004, T_STR, L_FIXED, 8),   # E e: 8 software version
    (0x3007, T_NUM, L_FIXED, 1),   # E e: 1 signal
    (0x3009, T_DATE, L_FIXED, 4),  # E e: 整形 4 system time (PROTOCOL.md 8 date)
    (0x300A, T_RESERVED, L_VAR, 1),  # E e: 保留
    (0x300D, T_BIN, L_MULT, 2),    # E e: 数字组合信息 2×n
    (0x3012, T_BIN, L_FIXED, 5),   # E e: 数字组合信息 5
    (0x4001, T_NUM, L_FIXED, 1),   # E f: 数字 1
    (0x4007, T_BIN, L_VAR, 1),     # E f: BIN_STR 不定长
    (0x4008, T_BIN, L_VAR, 7),     # E f: 不定长, 7-byte head (PROTOCOL.md 6)
    (0x4010, T_BIN, L_FIXED, 5),   # E f: 5
    (0x4011, T_NONE, L_FIXED, 0),  # E f: 数字 0, no value
    (0x4012, T_STR, L_FIXED, 16),  # E f: 16 serial
    (0x4017, T_NUM, L_FIXED, 4),   # E f: 4 CRC32
    (0xE001, T_STR, L_MAX, 8),     # E g: 字符串 8; PROTOCOL.md 8: 4..8 digits
    (0xE002, T_BIN, L_FIXED, 16),  # E g: 数字 16 digest
    (0xE00E, T_STR, L_FIXED, 16),  # E g: 字符串 16 IMEI
    (0xE012, T_STR, L_FIXED, 15),  # E g: 字符串 15 IMSI
    (0xE018, T_NUM, L_FIXED, 2),   # E g: 数字 2
    (0xE021, T_BIN, L_FIXED, 16),  # E g: 字符串 16 access digest (MD5, PROTOCOL.md 3)
    (0xE023, T_TAGS, L_MULT, 2),   # E g: 字符串 不定长 command IDs
    (0xE025, T_STR, L_FIXED, 8),   # E g: 字符串 8 uplink password
    (0xE027, T_DATE, L_FIXED, 4),  # E g: 日期 4
    (0xE02A, T_DATE, L_FIXED, 4),  # E g: 日期, no length; PROTOCOL.md 8 u32
    (0xE035, T_NUM, L_FIXED, 1),   # E g: 数字 1
    (0xE036, T_STR, L_VAR, 1),     # E g: 字符串 不定长 base key
    (0xE03D, T_DATE, L_FIXED, 4),  # E g: 日期, no length; PROTOCOL.md 8 u32
    (0xE040, T_BIN, L_VAR, 1),     # E g: 字符串 不定长 cipher body
    (0xE044, T_BIN, L_VAR, 7),     # E g: 字符串 不定长, 7-byte head (PROTOCOL.md 6)
)


def test_spot_checks_against_appendix_e():
    assert len(SPOT) >= 40
    for tag, ty, kind, n in SPOT:
        rec = cat.lookup(tag)
        assert rec is not None, hex(tag)
        assert rec[0] == ty and rec[1] == kind and rec[2] == n, (hex(tag), rec)


def test_max_counts():
    # appendix E d: 0x2013/0x2014/0x2017/0x2018/0x201B/0x201C "n最大为90"
    for t in (0x2013, 0x2014, 0x2017, 0x2018, 0x201B, 0x201C):
        assert cat.max_count(t) == 90
    # appendix E b 0x0107 4xN, e 0x300D 2×n: no count limit
    assert cat.max_count(0x0107) == 0 and cat.max_count(0x300D) == 0
    assert cat.max_count(0x0011) is None and cat.max_count(0x8001) is None


# ---------------------------------------------------------------------------
# check_length (appendix E a-g).

def test_check_length():
    cl = cat.check_length
    cl(0x0011, 4)                       # fixed
    assert _raises(BadTlv, cl, 0x0011, 2)
    assert _raises(BadTlv, cl, 0x0011, 0)  # L=0 is the caller's business
    cl(0x0001, 1)
    cl(0x0001, 16)                      # ≤16
    assert _raises(BadTlv, cl, 0x0001, 17)
    assert _raises(BadTlv, cl, 0x0001, 0)
    cl(0x1001, 1000)                    # 不定长
    assert _raises(BadTlv, cl, 0x1001, 0)
    cl(0x4008, 7)                       # sub-packet head is 7 bytes (PROTOCOL.md 6)
    assert _raises(BadTlv, cl, 0x4008, 6)
    cl(0x0107, 8)                       # 4xN
    assert _raises(BadTlv, cl, 0x0107, 6)
    cl(0x2013, 8 * 90)                  # 8×n, n ≤ 90
    assert _raises(BadTlv, cl, 0x2013, 8 * 91)
    assert _raises(BadTlv, cl, 0x2013, 12)
    cl(0x4011, 0)                       # no value
    assert _raises(BadTlv, cl, 0x4011, 1)
    assert _raises(BadTlv, cl, 0x8001, 1)  # unknown tag
    cl(0x4007, 100, 100)                # bearer limit, appendix E a: SMS 100
    assert _raises(TooLongForBearer, cl, 0x4007, 101, 100)
    assert _raises(BadTlv, cl, 0x0006, 0x10000)  # length field is u16


# ---------------------------------------------------------------------------
# validate: one good and at least one bad value for every ranged tag.

U1 = (
    # tag, highest valid u8 (or valid set), first invalid values   -- section
    (0x0103, (0, 1, 2), (3,)),          # E b / PROTOCOL.md 8 stop bits
    (0x0104, (0, 4), (5,)),             # E b / PROTOCOL.md 8 parity
    (0x0102, (0, 5, 6, 7, 8), (1, 4, 9)),  # E b / PROTOCOL.md 8 data bits
    (0x1000, (0, 2), (3,)),             # E c download protocol
    (0x100B, (0, 1), (2,)),             # E c forced upgrade
    (0x2001, (0, 2), (3,)),             # E d report policy
    (0x2004, (0, 1), (2,)),             # E d
    (0x2005, (0, 1), (2,)),             # E d
    (0x3007, (0, 100), (101, 255)),     # E e signal 0..100
    (0x3008, (0, 1), (2,)),             # E e
    (0x300B, (0, 1), (2,)),             # E e
    (0x300C, (1, 3), (0, 4)),           # E e alarm type
    (0x4001, (0, 0x0D), (0x0E,)),       # E f control command
    (0x4002, (0, 5), (6,)),             # E f connection mode
    (0x4003, (0, 1), (2,)),             # E f
    (0x4005, (1, 4), (0, 5)),           # E f
    (0x4009, (0, 1), (2,)),             # E f
    (0xE003, (0, 1), (2,)),             # E g
    (0xE006, (0, 1), (2,)),             # E g
    (0xE009, (0, 1), (2,)),             # E g
    (0xE00C, (0, 1), (2,)),             # E g
    (0xE031, (0, 1), (2,)),             # E g
    (0xE041, (0, 1), (2,)),             # E g
    (0xE00D, (0, 2), (3,)),             # E g SIM binding
    (0xE022, (0, 5), (6,)),             # E g digest mode
    (0xE032, (0, 5), (6,)),             # E g encryption mode
    (0xE035, (0, 4), (5,)),             # E g / PROTOCOL.md 5
    (0xE039, (0, 3), (4,)),             # E g / PROTOCOL.md 5
    (0xE03E, (0, 3), (4,)),             # E g / PROTOCOL.md 5
    (0x0027, (0, 0xFF), ()),            # E b / PROTOCOL.md 8: any u8
    (0x0029, (0, 0xFF), ()),            # E b / PROTOCOL.md 8: any u8
    (0xE020, (0x00, 0xFE, 0x80), (0x01, 0x81)),  # E g: eighth bit undefined, 0
)


def test_validate_single_byte_tags():
    for tag, good, bad in U1:
        for v in good:
            assert _ok(tag, bytes([v]))
        for v in bad:
            assert _raises(BadValue, cat.validate, tag, bytes([v])), (hex(tag), v)
        assert _raises(BadTlv, cat.validate, tag, b"\x00\x00")  # length 1 only


def test_validate_u16_ranges():
    # PROTOCOL.md 8: 0x0101 baud index 0..254
    assert _ok(0x0101, b"\x00\x00") and _ok(0x0101, b"\x00\xfe")
    assert _raises(BadValue, cat.validate, 0x0101, b"\x00\xff")
    assert _raises(BadValue, cat.validate, 0x0101, b"\x01\x00")
    # appendix E b: 0x0105 1..100
    assert _ok(0x0105, b"\x00\x01") and _ok(0x0105, b"\x00\x64")
    for bad in (b"\x00\x00", b"\x00\x65", b"\x01\x01"):
        assert _raises(BadValue, cat.validate, 0x0105, bad)
    assert _raises(BadTlv, cat.validate, 0x0105, b"\x01")


def test_validate_retry_gaps():
    # PROTOCOL.md 8: 0x002A / 0x002B min:u32 <= max:u32
    for tag in (0x002A, 0x002B):
        assert _ok(tag, b"\x00\x00\x00\x0a\x00\x00\x01\x2c")
        assert _ok(tag, b"\x00\x00\x00\x0a\x00\x00\x00\x0a")
        assert _raises(BadValue, cat.validate, tag, b"\x00\x00\x01\x2c\x00\x00\x00\x0a")
        assert _raises(BadTlv, cat.validate, tag, b"\x00\x00\x00\x0a")


def test_validate_ack_timeouts_0107():
    # PROTOCOL.md 8: records bearer:u8 (1..5) unit:u8 (0..2) value:u16
    assert _ok(0x0107, b"\x02\x00\x00\x0a\x01\x01\x00\x01")
    assert _ok(0x0107, b"\x05\x02\x00\x01")
    assert _raises(BadValue, cat.validate, 0x0107, b"\x00\x00\x00\x0a")
    assert _raises(BadValue, cat.validate, 0x0107, b"\x02\x00\x00\x0a\x06\x00\x00\x0a")
    assert _raises(BadValue, cat.validate, 0x0107, b"\x02\x03\x00\x0a")
    assert _raises(BadTlv, cat.validate, 0x0107, b"\x02\x00\x00")


def test_validate_release_date_100a():
    # appendix E c: YYYYMMDDHHMM, e.g. 200808031736
    assert _ok(0x100A, b"200808031736")
    assert _ok(0x100A, b"200002291200")  # leap year
    for bad in (b"200702291200", b"190002291200", b"200813011200", b"200800011200",
                b"200808321200", b"200804311200", b"200808032400", b"200808031760",
                b"2008080317a6"):
        assert _raises(BadValue, cat.validate, 0x100A, bad), bad
    assert _raises(BadTlv, cat.validate, 0x100A, b"20080803173")


def test_validate_statistics_settings():
    # appendix E d: switch (byte 1) 0/1, period unit (byte 4) 0..6
    tail = b"\x00\x00\x00\x00\xff\xff\xff\xff"
    for tag in (0x2011, 0x2012, 0x2015, 0x2016, 0x2019, 0x201A):
        assert _ok(tag, b"\x01\x00\x01\x06" + tail)
        assert _ok(tag, b"\x00\xff\xff\x00" + tail)
        assert _raises(BadValue, cat.validate, tag, b"\x02\x00\x01\x03" + tail)
        assert _raises(BadValue, cat.validate, tag, b"\x01\x00\x01\x07" + tail)
        assert _raises(BadTlv, cat.validate, tag, b"\x01\x00\x01\x03")


def test_validate_monitor_and_control_composites():
    # appendix E e 0x300F: id:u16 state 0/1/2; f 0x4021: id:u16 state 0/1
    assert _ok(0x300F, b"\x00\x01\x02\x00\x02\x01")
    assert _raises(BadValue, cat.validate, 0x300F, b"\x00\x01\x01\x00\x02\x03")
    assert _ok(0x4021, b"\x00\x05\x01")
    assert _raises(BadValue, cat.validate, 0x4021, b"\x00\x05\x02")
    # appendix E e 0x3012: trans_id:u32, reason 0..5
    assert _ok(0x3012, b"\x1a\xfb\xdc\x01\x05")
    assert _raises(BadValue, cat.validate, 0x3012, b"\x1a\xfb\xdc\x01\x06")
    # appendix E f 0x4006: UDP/TCP, protocol 0..3 or 0xA0..0xFF
    assert _ok(0x4006, b"\x01\x03") and _ok(0x4006, b"\x00\xa0")
    assert _raises(BadValue, cat.validate, 0x4006, b"\x02\x00")
    assert _raises(BadValue, cat.validate, 0x4006, b"\x00\x04")
    # appendix E f 0x4010: result 0..2 then seq:u32
    assert _ok(0x4010, b"\x02\x00\x00\x00\x01")
    assert _raises(BadValue, cat.validate, 0x4010, b"\x03\x00\x00\x00\x01")
    # appendix E f 0x4011: no value
    assert _ok(0x4011, b"")
    assert _raises(BadTlv, cat.validate, 0x4011, b"\x00")
    # PROTOCOL.md 6: sub-packet head trans_id, total, index, op 0..3
    assert _ok(0x4008, b"\x12\x34\x00\x02\x00\x01\x00abc")
    assert _ok(0x4008, b"\x12\x34\x00\x02\x00\x02\x03")
    assert _ok(0xE044, b"\x12\x34\x00\x02\x00\x01\x00\x99")
    assert _raises(BadValue, cat.validate, 0x4008, b"\x12\x34\x00\x02\x00\x01\x04")
    assert _raises(BadValue, cat.validate, 0xE044, b"\x12\x34\x00\x02\x00\x01\x04")
    assert _raises(BadTlv, cat.validate, 0x4008, b"\x12\x34\x00\x02\x00\x01")


def test_validate_pins():
    # PROTOCOL.md 8: 4..8 ASCII digits, or 8 bytes right-padded with 0x00 or 'F'
    for tag in (0xE001, 0xE004, 0xE007, 0xE00A):
        for good in (b"1234", b"12345678", b"1234\x00\x00\x00\x00", b"123456FF", b"1234FFFF"):
            assert _ok(tag, good)
        for bad in (b"123", b"12a4", b"123FFFFF", b"1234\x00\x00", b"FFFFFFFF"):
            assert _raises(BadValue, cat.validate, tag, bad), (hex(tag), bad)
        assert _raises(BadTlv, cat.validate, tag, b"123456789")


def test_validate_imei_imsi():
    # PROTOCOL.md 2: IMEI 15 digits + 0x00 (or 16 digits); IMSI 15 digits
    for tag in (0xE00E, 0xE010):
        assert _ok(tag, b"123456789012345\x00") and _ok(tag, b"1234567890123456")
        assert _raises(BadValue, cat.validate, tag, b"12345678901234a\x00")
        assert _raises(BadValue, cat.validate, tag, b"123456789012345\x01")
        assert _raises(BadTlv, cat.validate, tag, b"123456789012345")
    for tag in (0xE012, 0xE014):
        assert _ok(tag, b"460001234567890")
        assert _raises(BadValue, cat.validate, tag, b"46000123456789a")
        assert _raises(BadTlv, cat.validate, tag, b"4600012345678901")


def test_validate_passwords_and_keys():
    # PROTOCOL.md 8: passwords exactly 8 visible ASCII characters
    for tag in (0xE025, 0xE028):
        assert _ok(tag, b"Ab3$5678") and _ok(tag, b"!~!~!~!~")
        assert _raises(BadValue, cat.validate, tag, b"abc defg")
        assert _raises(BadValue, cat.validate, tag, b"abcdefg\x00")
        assert _raises(BadTlv, cat.validate, tag, b"abcdefg")
    # appendix E g / PROTOCOL.md 8: key strings letters and digits
    for tag in (0xE036, 0xE03B):
        assert _ok(tag, b"0123456789abcdefABCDEF")
        assert _raises(BadValue, cat.validate, tag, b"key-1")
        assert _raises(BadValue, cat.validate, tag, b"key 1")


def test_validate_tag_lists():
    # appendix E b: 0x0025/0x002C/0x002D "按TAG升序排列"
    for tag in (0x0025, 0x002C, 0x002D):
        assert _ok(tag, b"\x00\x01\x00\x11\x01\x07")
        assert _raises(BadValue, cat.validate, tag, b"\x00\x11\x00\x01")
        assert _raises(BadValue, cat.validate, tag, b"\x00\x11\x00\x11")
        assert _raises(BadTlv, cat.validate, tag, b"\x00\x11\x00")
    # appendix E g: E023/E024 lists of command IDs / tags, even length, any order
    for tag in (0xE023, 0xE024):
        assert _ok(tag, b"\x00\x08\x00\x01")
        assert _raises(BadTlv, cat.validate, tag, b"\x00\x08\x00")


def test_validate_unknown_tag():
    # appendix G e-i: an unknown tag is not accepted
    assert _raises(BadTlv, cat.validate, 0x8001, b"x")
    assert _raises(BadTlv, cat.validate, 0x3003, b"x")


def test_validate_plain_tags_accept_any_value_of_right_length():
    assert _ok(0x0002, b"cmnet")         # appendix E b APN
    assert _ok(0x0011, b"\x00\x00\x00\x00")  # PROTOCOL.md 8: 0 = no heartbeat
    assert _ok(0x300D, b"\x00\x01\x00\x0a\x00\x0b")


# ---------------------------------------------------------------------------
# decode_value / encode_value.

def test_decode_encode_numbers_and_dates():
    for tag, v, raw in (
        (0x0011, 30, b"\x00\x00\x00\x1e"),      # PROTOCOL.md 8 default heartbeat
        (0x0026, 120, b"\x00\x78"),             # PROTOCOL.md 8 SMS wait u16
        (0x0027, 0xFF, b"\xff"),                # E b: retry forever
        (0x0009, 0xC0A80001, b"\xc0\xa8\x00\x01"),  # E b IP address
        (0x000A, 0x14730000, b"\x14\x73\x00\x00"),  # E b example: UDP port only
        (0x3001, 0x0300, b"\x03\x00"),          # PROTOCOL.md 1 version 3.0
        (0xE027, 1600000000, b"\x5f\x5e\x10\x00"),  # PROTOCOL.md 8 date u32
        (0x1009, 0x1AFBDC01, b"\x1a\xfb\xdc\x01"),  # PROTOCOL.md 8 TRANS_ID u32
    ):
        assert cat.encode_value(tag, v) == raw, hex(tag)
        assert cat.decode_value(tag, raw) == v, hex(tag)


def test_decode_encode_lists():
    # appendix E e: "其值的形式为：0x0001000A000B"
    raw = b"\x00\x01\x00\x0a\x00\x0b"
    assert cat.decode_value(0x300D, raw) == [1, 0x0A, 0x0B]
    assert cat.encode_value(0x300D, [1, 0x0A, 0x0B]) == raw
    assert cat.decode_value(0x300E, raw) == [1, 0x0A, 0x0B]
    # appendix E e 0x3010 example 0x000100020003
    assert cat.decode_value(0x3010, b"\x00\x01\x00\x02\x00\x03") == [1, 2, 3]
    assert cat.encode_value(0x0025, (0x0001, 0x0011)) == b"\x00\x01\x00\x11"
    assert cat.decode_value(0xE023, b"\x00\x08\x00\x01") == [8, 1]


def test_decode_encode_bytes_and_strings():
    assert cat.encode_value(0x0002, "cmnet") == b"cmnet"
    assert cat.decode_value(0x0002, b"cmnet") == b"cmnet"
    # PROTOCOL.md 1: fixed-size string fields are right-padded with 0x00
    assert cat.encode_value(0x3004, "V1.0") == b"V1.0\x00\x00\x00\x00"
    assert cat.encode_value(0x3002, b"ABC") == b"ABC" + bytes(13)
    rec = b"\x00\x00\x00\x0a\x00\x00\x01\x2c"
    assert cat.decode_value(0x002A, rec) == rec and cat.encode_value(0x002A, rec) == rec
    assert cat.decode_value(0x1001, bytearray(b"://a:1/x")) == b"://a:1/x"
    # L=0 and no-value tags
    assert cat.decode_value(0x0011, b"") is None and cat.encode_value(0x0011, None) == b""
    assert cat.decode_value(0x4011, b"") is None
    # tags outside the catalogue: raw bytes
    assert cat.decode_value(0x8001, b"\x01\x02") == b"\x01\x02"
    assert cat.encode_value(0x8001, b"\x01\x02") == b"\x01\x02"


def test_encode_rejects_impossible_values():
    assert _raises(BadValue, cat.encode_value, 0x0027, 256)
    assert _raises(BadValue, cat.encode_value, 0x0027, -1)
    assert _raises(BadValue, cat.encode_value, 0x0002, 5)      # a string tag
    assert _raises(BadValue, cat.encode_value, 0x8001, 5)      # width unknown
    assert _raises(BadValue, cat.encode_value, 0x0025, [0x10000])
    assert _raises(BadValue, cat.encode_value, 0x0002, 1.5)
    assert _raises(BadTlv, cat.encode_value, 0x0001, "1" * 17)  # E b: ≤16
    assert _raises(BadTlv, cat.decode_value, 0x0011, b"\x00\x1e")


# ---------------------------------------------------------------------------
# Secrets (PROTOCOL.md 8, appendix E b/c/g).

def test_is_secret():
    for t in (0xE001, 0xE004, 0xE007, 0xE00A, 0xE025, 0xE028, 0xE036, 0xE037, 0xE03B,
              0xE03C, 0xE040, 0xE042, 0xE043, 0xE044, 0x0004, 0x0006, 0x1004):
        assert cat.is_secret(t), hex(t)
        assert cat.lookup(t)[3] & cat.F_SECRET
    for t in (0x0002, 0x0011, 0xE002, 0xE021, 0xE026, 0xE029, 0xE03A, 0xE03F, 0xE00E,
              0x4007, 0x8001, 0x0000):
        assert not cat.is_secret(t), hex(t)
    n = 0
    for t in cat.tags():
        n += cat.is_secret(t)
    assert n == 17


# ---------------------------------------------------------------------------
