"""The DOWNLOAD_INFO URL of TLV 0x1001 (appendix G k, E c; PROTOCOL.md 9, 12):
wmmp.wire.url.  Portable."""
from wmmp.wire import url as U, codes as K
from wmmp.errors import BadValue


def _bad(s):
    try:
        U.parse(s)
    except BadValue:
        return True
    return False


def test_the_standards_own_example_without_a_scheme():
    # PROTOCOL.md 9: the scheme may be missing (the example starts with "://"): WMMP.
    s = b"://61.135.68.199:9000/KKK001?TRANS_ID=1AFBDC01&FILE_SIZE=3429838&CRC16=1AF0&VER_DSC=LH-V001"
    v = U.parse(s)
    assert v[0x1000] == K.DL_PROTO_WMMP and v[0x1001] == s
    assert v[0x1002] == b"61.135.68.199" and v[0x1003] == 9000
    assert v[0x1009] == 0x1AFBDC01 and v[0x1006] == 3429838 and v[0x1007] == 0x1AF0
    assert v[0x1005] == b"LH-V001" and 0x1008 not in v


def test_schemes():
    # PROTOCOL.md 9: none or wmmp -> FILE_REQ, http -> HTTP; ftp known but not supported (12).
    assert U.parse("wmmp://h:1/f")[0x1000] == K.DL_PROTO_WMMP
    assert U.parse("HTTP://h/f")[0x1000] == K.DL_PROTO_HTTP
    assert U.parse("https://h/f")[0x1000] == K.DL_PROTO_HTTP
    assert U.parse("ftp://h/f")[0x1000] == K.DL_PROTO_FTP
    assert U.parse("gopher://h/f")[0x1000] == U.PROTO_UNKNOWN
    assert U.parse("h:80/f?TRANS_ID=00000001")[0x1000] == K.DL_PROTO_WMMP     # no "://" at all


def test_parameter_names_as_tlv_tags_and_case():
    # PROTOCOL.md 9: parameter names may be written as their TLV tags; names case-insensitive.
    v = U.parse("://h:1/f?1009=0000000A&0x1006=100&crc32=DEADBEEF&0X1005=V2")
    assert v[0x1009] == 10 and v[0x1006] == 100 and v[0x1008] == 0xDEADBEEF and v[0x1005] == b"V2"


def test_unknown_parameters_are_ignored():
    # PROTOCOL.md 9: unknown parameters are ignored (also valueless ones and empty items).
    v = U.parse("://h:1/f?X=1&&FOO&TRANS_ID=00000002&FILE_SIZE=5&CRC16=0001#frag")
    assert v[0x1009] == 2 and v[0x1006] == 5 and v[0x1007] == 1


def test_crc_with_4_or_8_digits():
    # PROTOCOL.md 12: CRC= with 4 digits is CRC16, with 8 CRC32.
    assert U.parse("://h/f?CRC=abcd")[0x1007] == 0xABCD
    assert U.parse("://h/f?CRC=0000abcd")[0x1008] == 0xABCD
    assert _bad("://h/f?CRC=abcde")


def test_malformed_known_parameters_raise():
    # PROTOCOL.md 12: TRANS_ID 8 hex, FILE_SIZE decimal, CRC16 4 hex, CRC32 8 hex.
    for q in ("TRANS_ID=1AFBDC0", "TRANS_ID=1AFBDC0G", "FILE_SIZE=12a", "FILE_SIZE=0", "FILE_SIZE=",
              "FILE_SIZE=99999999999", "CRC16=1AF", "CRC32=1234", "VER_DSC=", "TRANS_ID=%s" % ("1" * 9)):
        assert _bad("://h:1/f?" + q), q
    assert _bad("://h:99999/f") and _bad("://h:x/f") and _bad("://h/f?a=b c") and _bad(b"://h/\xff")


def test_version_escapes_host_forms_and_tlv_values():
    # appendix E c widths: 0x1003 u16, 0x1006/0x1008/0x1009 u32, 0x1007 u16.
    v = U.parse("http://user@[::1]:8080/a/b?VER_DSC=V%202")
    assert v[0x1002] == b"::1" and v[0x1003] == 8080 and v[0x1005] == b"V 2"
    assert 0x1003 not in U.parse("http://example.com/x")
    assert U.value_bytes(0x1009, 0x1AFBDC01) == b"\x1a\xfb\xdc\x01"
    assert U.value_bytes(0x1003, 9000) == b"\x23\x28" and U.value_bytes(0x1000, 1) == b"\x01"
    assert U.value_bytes(0x1005, b"V2") == b"V2"
