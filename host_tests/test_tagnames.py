"""Host-only name tables (tools/wmmp_tools/tagnames.py): a name and an English
description for every appendix E tag and every appendix G code.  Moved out of
lib/ so a device never loads them."""
from wmmp.wire import catalogue as cat
from wmmp.wire import codes as C
from wmmp.errors import BadValue
from wmmp_tools import tagnames

from test_codes import _raises

# Every code table with its defined codes and one reserved code (appendix G, E).
TABLES = (
    ("register_op", range(0x00, 0x05), 0x05),        # G a
    ("register_ack", range(0x00, 0x14), 0x14),       # G a
    ("login_ack", range(0x00, 0x0A), 0x0A),          # G b
    ("logout", range(0x00, 0x0B), 0x0B),             # G c
    ("ack", range(0x00, 0x02), 0x02),                # G e-i
    ("transparent_ack", range(0x00, 0x07), 0x07),    # G j
    ("download_ack", range(0x00, 0x06), 0x06),       # G k
    ("file_req", range(0x00, 0x04), 0x04),           # G l
    ("file_req_ack", range(0x00, 0x04), 0x04),       # G l
    ("security_op", range(0x00, 0x08), 0x08),        # G m
    ("security_ack", (0, 1, 2, 3, 4, 5, 8), 0x06),   # G m
    ("remote_ctrl", range(0x00, 0x0E), 0x0E),        # E f 0x4001
    ("alarm", range(0x0001, 0x001D), 0x001D),        # E e 0x300D
    ("alarm_type", (1, 2, 3), 0),                    # E e 0x300C
    ("alarm_status", (0, 1), 2),                     # E e 0x300B
    ("config_result", (0, 1, 2), 3),                 # E f 0x4010
    ("conn_mode", range(0, 6), 6),                   # E f 0x4002
    ("flow_mode", (0, 1), 2),                        # E f 0x4003
    ("collect_bearer", (1, 2, 3, 4), 0),             # E f 0x4005
    ("app_transport", (0, 1), 2),                    # E f 0x4006
    ("app_proto", (0, 1, 2, 3), 4),                  # E f 0x4006
    ("cleared", (0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02), 0x01),  # E g 0xE020
    ("security_mode", range(0, 6), 6),               # E g 0xE022/0xE032
    ("algorithm", range(0, 5), 5),                   # E g 0xE035
    ("key_algorithm", range(0, 4), 4),               # E g 0xE039/0xE03E
    ("sim_binding", (0, 1, 2), 3),                   # E g 0xE00D
    ("failure_reply", (0, 1), 2),                    # E g 0xE041
    ("download_fail", range(0, 6), 6),               # E e 0x3012
    ("peripheral", range(1, 7), 7),                  # E e 0x3010
    ("peripheral_state", (0, 1, 2), 3),              # E e 0x300F
    ("stats_policy", (0, 1, 2), 3),                  # E d 0x2001
    ("download_protocol", (0, 1, 2), 3),             # E c 0x1000
    ("subpacket_op", (0, 1, 2, 3), 4),               # PROTOCOL.md 6
)


def test_tagnames_cover_the_catalogue():
    tags = list(cat.tags())
    assert sorted(tagnames.NAMES) == tags
    assert sorted(tagnames.DESCRIPTIONS) == tags
    seen = set()
    for t in tags:
        nm = tagnames.NAMES[t]
        assert nm not in seen
        seen.add(nm)
        for ch in nm:
            assert ch == "_" or "A" <= ch <= "Z" or "0" <= ch <= "9", nm
        assert tagnames.name(t) == nm
        assert tagnames.describe(t) == tagnames.DESCRIPTIONS[t]
    assert tagnames.name(0x0002) == "APN"
    assert tagnames.name(0x0011) == "HEARTBEAT_PERIOD"
    assert tagnames.name(0xE021) == "ACCESS_DIGEST"
    assert tagnames.name(0x4008) == "SUBPACKET"
    # appendix E a ranges for tags outside the catalogue
    assert tagnames.name(0x8001) == "MAKER_0x8001"
    assert tagnames.name(0x5001) == "PLATFORM_0x5001"
    assert tagnames.name(0x3003) == "UNKNOWN_0x3003"
    assert tagnames.describe(0x9000) and tagnames.describe(0x3003)


def test_describe_every_table():
    for table, defined, reserved in TABLES:
        for code in defined:
            d = tagnames.describe_code(table, code)
            assert d and not d.startswith("reserved"), (table, code)
        assert tagnames.describe_code(table, reserved).startswith("reserved"), (table, reserved)


def test_describe_texts():
    # spot checks of the translations (appendix G a, b, c; E e)
    assert "SMS" in tagnames.describe_code("register_ack", C.REG_ACK_OK_WAIT_SMS_KEYS)
    assert "CRC32" in tagnames.describe_code("login_ack", C.LOGIN_ACK_OK_REPORT_CONFIG)
    assert "heartbeat" in tagnames.describe_code("logout", C.LOGOUT_HEARTBEAT_TIMEOUT)
    assert "restart" in tagnames.describe_code("remote_ctrl", C.RC_RESTART)
    assert "SMS receive timeout" in tagnames.describe_code("alarm", C.ALARM_SMS_RECEIVE_TIMEOUT)
    assert "invalid" in tagnames.describe_code("ack", C.ACK_INVALID)
    # appendix E f 0x4006: 0xA0-0xFF maker-defined
    assert "maker" in tagnames.describe_code("app_proto", 0xA0)


def test_describe_unknown_table():
    assert _raises(BadValue, tagnames.describe_code, "no_such_table", 0)
