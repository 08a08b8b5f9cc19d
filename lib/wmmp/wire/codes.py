"""Result, reason and operation codes of appendix G and the code values of appendix E
that firmware modules read from here (as `K.NAME`): codes several modules share;
codes the engine's core and the updater (terminal/download.py, filereq.py) read;
and TD_ACK_FORWARDED (the bridge) and RC_REPORT_STATISTICS (control), which the
measured sessions use too (test_engine_demo_scenario, test_bridge_session,
bench/mp_bridge.py): a codebook lookup there would add the codebook to their
figures.

The rest of appendices G and E is wmmp.wire.codebook: the codes no firmware
module reads, and those only one module reads, which keeps a private
`_NAME = const(...)` copy that MicroPython compiles away
(host_tests/test_codes_split.py checks every copy against the tables).  Every
code stays an attribute of this module: a name not defined here is looked up in
the codebook (module __getattr__, PEP 562; MicroPython's MICROPY_MODULE_GETATTR),
which imports it on first use: a host tool or a test, never the firmware.  A
device pays only for the names below.

English descriptions of every table live with the host tools
(tools/wmmp_tools/tagnames.py: describe_code).
"""

from micropython import const

# REGISTER OPERATION (appendix G a).
REG_OP_CHANGE_MAPPING = const(0x02)

# REGISTER_ACK RESULT (appendix G a).
REG_ACK_MAPPING_CHANGED = const(0x01)

# LOGOUT REASON (appendix G c).
LOGOUT_NORMAL = const(0x00)
LOGOUT_COMM_FAILURE = const(0x02)
LOGOUT_LOCAL_CONFIG = const(0x03)
LOGOUT_FAULT_RELOGIN = const(0x06)
LOGOUT_SESSION_KEY_EXPIRED = const(0x08)
LOGOUT_UPDATE_KEYS = const(0x09)

# RESULT of CONFIG_TRAP/CONFIG_REQ/CONFIG_GET/CONFIG_SET/REMOTE_CTRL ACKs (appendix G e-i).
ACK_OK = const(0x00)
ACK_INVALID = const(0x01)

# TRANSPARENT_DATA_ACK RESULT (appendix G j).
TD_ACK_FORWARDED = const(0x00)
TD_ACK_TERMINAL_OK = const(0x05)
TD_ACK_TERMINAL_CRC_ERROR = const(0x06)

# DOWNLOAD_INFO_ACK RESULT (appendix G k).
DL_ACK_UP_TO_DATE = const(0x00)
DL_ACK_UPDATING = const(0x01)
DL_ACK_DEFERRED = const(0x02)
DL_ACK_PROTOCOL_UNSUPPORTED = const(0x03)
DL_ACK_BAD_URL = const(0x04)
DL_ACK_NO_BUFFER = const(0x05)

# FILE_REQ STATUS (appendix G l).
FILE_REQ_START = const(0x00)
FILE_REQ_DOWNLOADING = const(0x01)
FILE_REQ_DONE = const(0x02)
FILE_REQ_FAILED = const(0x03)

# FILE_REQ_ACK STATUS (appendix G l).
FILE_ACK_OK = const(0x00)
FILE_ACK_BAD_TRANS_ID = const(0x01)

# SECURITY_CONFIG OPERATION (appendix G m).
SEC_OP_REPORT = const(0x04)
SEC_OP_REQ_ENABLE = const(0x07)

# SECURITY_CONFIG_ACK RESULT (appendix G m).
SEC_ACK_OK = const(0x00)
SEC_ACK_DECRYPT_FAILED = const(0x01)
SEC_ACK_UNSUPPORTED_TLV = const(0x02)

# TLV 0x4001 control commands (appendix E f).
RC_SUSPEND_SERVICE = const(0x00)
RC_RESUME_SERVICE = const(0x01)
RC_RESTART = const(0x02)
RC_REPORT_STATISTICS = const(0x04)
RC_UPLOAD_SERVICE_DATA = const(0x07)
RC_APN_TO_PLATFORM = const(0x09)
RC_APN_TO_APPLICATION = const(0x0C)

# TLV 0x300D alarm codes (appendix E e).
ALARM_SELF_TEST_FAULT = const(0x0006)
ALARM_PLATFORM_CONNECT_FAILED = const(0x000E)
ALARM_MEMORY_ERROR = const(0x0011)
ALARM_SMS_RECEIVE_TIMEOUT = const(0x001C)

# TLV 0x3012 fifth byte: download/upgrade failure reasons (appendix E e).
DL_FAIL_CONNECT = const(0x00)
DL_FAIL_TIMEOUT = const(0x03)
DL_FAIL_CRC = const(0x04)
DL_FAIL_UPGRADE = const(0x05)

# TLV 0x1000 download protocol (appendix E c).
DL_PROTO_WMMP = const(0x00)
DL_PROTO_HTTP = const(0x01)


def __getattr__(name):
    """Any other code of appendices G and E (wmmp.wire.codebook, loaded now)."""
    from wmmp.wire import codebook
    return getattr(codebook, name)
