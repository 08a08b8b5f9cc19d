"""CRC16 / CRC32 and the configuration CRC32 (PROTOCOL.md 7).  Portable.

Check values are the published catalogue ones for "123456789" (Greg Cook's CRC
catalogue: CRC-16/CCITT-FALSE 0x29B1, CRC-16/XMODEM 0x31C3, CRC-16/ARC 0xBB3D,
CRC-32 0xCBF43926)."""
from wmmp.wire import crc
from wmmp.wire import profile as P
from wmmp.wire import tlv as T

CHECK = b"123456789"


def test_crc16_check_values():
    assert crc.crc16(CHECK) == 0x29B1            # PROTOCOL.md 7 default profile
    assert crc.crc16(CHECK, P.CRC16_XMODEM) == 0x31C3
    assert crc.crc16(CHECK, P.CRC16_ARC) == 0xBB3D
    assert crc.crc16(b"") == 0xFFFF


def test_crc16_running():
    assert crc.crc16(CHECK[4:], crc=crc.crc16(CHECK[:4])) == 0x29B1


def test_crc32_check_value_and_pure_fallback():
    assert crc.crc32(CHECK) == 0xCBF43926
    assert crc._pure_crc32(CHECK) == 0xCBF43926
    assert crc._pure_crc32(CHECK[5:], crc._pure_crc32(CHECK[:5])) == 0xCBF43926
    assert crc.crc32(b"") == 0


def test_config_crc32_sorted_whole_tlvs():
    # PROTOCOL.md 7 / appendix G b: CRC32 over the TLVs named by 0x0025, each encoded
    # whole, sorted by tag ascending, concatenated.
    items = [(0x0011, b"\x00\x00\x00\x1e"), (0x0002, b"cmnet"), (0x0026, b"\x00\x78")]
    expected = crc.crc32(T.encode(0x0002, b"cmnet") + T.encode(0x0011, b"\x00\x00\x00\x1e")
                         + T.encode(0x0026, b"\x00\x78"))
    assert crc.config_crc32(items) == expected
    assert crc.config_crc32(list(reversed(items))) == expected
