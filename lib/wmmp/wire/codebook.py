"""The codes of appendix G and E that the firmware does not read from
wmmp.wire.codes: for host tools and tests, which reach them as attributes of
wmmp.wire.codes (its module __getattr__ imports this module on first use).  No
firmware module imports it: a device never loads it (frozen, it stays in flash).
A module that reads one of these keeps a private `_NAME = const(...)` copy
(host_tests/test_codes_split.py checks them against this table).
"""

from micropython import const

# REGISTER OPERATION (appendix G a).
REG_OP_ASSIGN_SERIAL = const(0x00)
REG_OP_PRESET_SERIAL = const(0x01)
REG_OP_PRESET_KEYS = const(0x03)
REG_OP_REPORT_CLEARED = const(0x04)

# REGISTER_ACK RESULT (appendix G a).
REG_ACK_OK_WAIT_SMS_KEYS = const(0x00)
REG_ACK_USE_SMS = const(0x02)
REG_ACK_BAD_IMSI = const(0x03)
REG_ACK_IMSI_CONFLICT = const(0x04)
REG_ACK_BAD_SERIAL = const(0x05)
REG_ACK_SERIAL_CONFLICT = const(0x06)
REG_ACK_IMEI_CONFLICT = const(0x07)
REG_ACK_BAD_VERSION = const(0x08)
REG_ACK_OK_LOGIN = const(0x09)
REG_ACK_BAD_PASSWORD_DIGEST = const(0x0A)
REG_ACK_BAD_KEY_DIGEST = const(0x0B)
REG_ACK_BAD_BOTH_DIGESTS = const(0x0C)
REG_ACK_NO_PLATFORM_PASSWORD = const(0x0D)
REG_ACK_NO_PLATFORM_KEY = const(0x0E)
REG_ACK_NO_PLATFORM_BOTH = const(0x0F)
REG_ACK_MISSING_PASSWORD_DIGEST = const(0x10)
REG_ACK_MISSING_KEY_DIGEST = const(0x11)
REG_ACK_MISSING_BOTH_DIGESTS = const(0x12)
REG_ACK_OK_NO_PASSWORD = const(0x13)

# LOGIN_ACK RESULT (appendix G b).
LOGIN_ACK_OK = const(0x00)
LOGIN_ACK_OK_REPORT_CONFIG = const(0x01)
LOGIN_ACK_BAD_MAPPING = const(0x02)
LOGIN_ACK_BAD_SERIAL = const(0x03)
LOGIN_ACK_SERIAL_CONFLICT = const(0x04)
LOGIN_ACK_BAD_VERSION = const(0x05)
LOGIN_ACK_NOT_REGISTERED = const(0x06)
LOGIN_ACK_OK_BAD_KEY_DIGEST = const(0x07)
LOGIN_ACK_OK_STAY_CONNECTED = const(0x08)
LOGIN_ACK_MISSING_KEY_DIGEST = const(0x09)

# LOGOUT REASON (appendix G c).
LOGOUT_UPGRADE = const(0x01)
LOGOUT_HEARTBEAT_TIMEOUT = const(0x04)
LOGOUT_FAULT_WAIT = const(0x05)
LOGOUT_PLATFORM_CONFIG = const(0x07)
LOGOUT_UPDATE_SIM_SECURITY = const(0x0A)

# TRANSPARENT_DATA_ACK RESULT (appendix G j).
TD_ACK_DEST_OFFLINE = const(0x01)
TD_ACK_BAD_DEST = const(0x02)
TD_ACK_NOT_ALLOWED = const(0x03)
TD_ACK_PLATFORM_CRC_ERROR = const(0x04)

# FILE_REQ_ACK STATUS (appendix G l).
FILE_ACK_BAD_READ_POINT = const(0x02)
FILE_ACK_BAD_BLOCK_SIZE = const(0x03)

# SECURITY_CONFIG OPERATION (appendix G m).
SEC_OP_SET = const(0x00)
SEC_OP_READ_ENCRYPTED = const(0x01)
SEC_OP_READ_DIGESTS = const(0x02)
SEC_OP_UPDATE_NOTICE = const(0x03)
SEC_OP_REQ_UPDATE_CLEAR = const(0x05)
SEC_OP_REQ_UPDATE_ENCRYPTED = const(0x06)

# SECURITY_CONFIG_ACK RESULT (appendix G m).
SEC_ACK_REFUSED = const(0x03)
SEC_ACK_SIM_DIGEST_ERROR = const(0x04)
SEC_ACK_NO_ENCRYPTION = const(0x05)
SEC_ACK_SESSION_ENCRYPTED_LOGIN = const(0x08)

# TLV 0x4001 control commands (appendix E f).
RC_WAKE_UP = const(0x03)
RC_CLEAR_STATISTICS = const(0x05)
RC_REPORT_MONITOR = const(0x06)
RC_REPORT_CONNECTION = const(0x08)
RC_FACTORY_RESET = const(0x0A)
RC_REPORT_CORE_CONFIG = const(0x0B)
RC_RELOGIN_ENCRYPTED = const(0x0D)

# TLV 0x300D alarm codes (appendix E e).
ALARM_SMS_CONNECT_FAILED = const(0x0001)
ALARM_USSD_CONNECT_FAILED = const(0x0002)
ALARM_PACKET_CONNECT_FAILED = const(0x0003)
ALARM_PACKET_OPEN_FAILED = const(0x0004)
ALARM_GPS_FAULT = const(0x0005)
ALARM_SMS_SUBMIT_TIMEOUT = const(0x0007)
ALARM_POWER_FAULT = const(0x0008)
ALARM_THRESHOLD = const(0x0009)
ALARM_UPGRADE_FAILED = const(0x000A)
ALARM_WEAK_SIGNAL = const(0x000B)
ALARM_DIAL_FAILED = const(0x000C)
ALARM_BIT_ERRORS = const(0x000D)
ALARM_NO_PLATFORM_DATA = const(0x000F)
ALARM_VERSION_MISMATCH = const(0x0010)
ALARM_APP_FILE_DAMAGED = const(0x0012)
ALARM_APP_SERVER_UNREACHABLE = const(0x0013)
ALARM_MONITOR_UNREACHABLE = const(0x0014)
ALARM_PRINTER = const(0x0015)
ALARM_SCANNER = const(0x0016)
ALARM_POS_READER = const(0x0017)
ALARM_IC_READER = const(0x0018)
ALARM_PIN_PAD = const(0x0019)
ALARM_PHONE = const(0x001A)
ALARM_UPGRADE_FAILURE = const(0x001B)

# TLV 0x300C alarm types, 0x300B alarm status (appendix E e).
ALARM_TYPE_COMM = const(0x01)
ALARM_TYPE_HARDWARE = const(0x02)
ALARM_TYPE_SOFTWARE = const(0x03)
ALARM_STATUS_NORMAL = const(0x00)
ALARM_STATUS_ALARM = const(0x01)

# TLV 0x3012 fifth byte: download/upgrade failure reasons (appendix E e).
DL_FAIL_NO_BUFFER = const(0x01)
DL_FAIL_OVERFLOW = const(0x02)

# Peripheral codes of 0x300F/0x3010/0x4021 and their states (appendix E e, f).
PERIPH_PRINTER = const(0x0001)
PERIPH_SCANNER = const(0x0002)
PERIPH_POS = const(0x0003)
PERIPH_IC = const(0x0004)
PERIPH_PIN_PAD = const(0x0005)
PERIPH_PHONE = const(0x0006)
PERIPH_DISABLED = const(0x00)
PERIPH_ENABLED = const(0x01)
PERIPH_FAULTY = const(0x02)

# TLV 0x4010 first byte: result of applying a configuration (appendix E f).
CFG_APPLIED = const(0x00)
CFG_DEFERRED = const(0x01)
CFG_FAILED_RESTORED = const(0x02)

# TLV 0x4002 connection modes (appendix E f).
CONN_UDP_SHORT = const(0x00)
CONN_UDP_LONG = const(0x01)
CONN_TCP_SHORT = const(0x02)
CONN_TCP_LONG = const(0x03)
CONN_SMS = const(0x04)
CONN_USSD = const(0x05)

# TLV 0x4003 data transfer mode (appendix E f).
FLOW_PARALLEL = const(0x00)
FLOW_SEPARATE = const(0x01)

# TLV 0x4005 bearer of collected data (appendix E f).
COLLECT_SMS = const(0x01)
COLLECT_USSD = const(0x02)
COLLECT_PACKET = const(0x03)
COLLECT_OTHER = const(0x04)

# TLV 0x4006: transport byte, then application protocol byte (appendix E f).
APP_UDP = const(0x00)
APP_TCP = const(0x01)
APP_PROTO_TRANSPARENT = const(0x00)
APP_PROTO_HTTP = const(0x01)
APP_PROTO_FTP = const(0x02)
APP_PROTO_SOAP = const(0x03)
APP_PROTO_MAKER_MIN = const(0xA0)

# TLV 0x4008 / 0xE044 seventh byte: sub-packet operation (appendix E f, PROTOCOL.md 6).
SUB_DATA = const(0x00)
SUB_REQUEST = const(0x01)
SUB_SENDER_ABORT = const(0x02)
SUB_RECEIVER_ABORT = const(0x03)

# TLV 0xE020 bits, first bit = most significant (appendix E g).
CLEARED_PIN1 = const(0x80)
CLEARED_PIN2 = const(0x40)
CLEARED_PUK1 = const(0x20)
CLEARED_PUK2 = const(0x10)
CLEARED_UP_PASSWORD = const(0x08)
CLEARED_DOWN_PASSWORD = const(0x04)
CLEARED_BASE_KEY = const(0x02)

# TLV 0xE022 digest use / 0xE032 encryption use (appendix E g).
SEC_MODE_NONE = const(0x00)
SEC_MODE_ALL = const(0x01)
SEC_MODE_COMMANDS = const(0x02)
SEC_MODE_TAGS = const(0x03)
SEC_MODE_COMMAND_OR_TAG = const(0x04)
SEC_MODE_COMMAND_AND_TAG = const(0x05)

# TLV 0xE035 encryption algorithm (appendix E g, PROTOCOL.md 5).
ALG_NONE = const(0x00)
ALG_DES = const(0x01)
ALG_3DES = const(0x02)
ALG_AES = const(0x03)
ALG_RSA = const(0x04)

# TLV 0xE039 / 0xE03E key algorithm: other codes than E035 (appendix E g, PROTOCOL.md 5).
KEY_ALG_DES = const(0x00)
KEY_ALG_3DES = const(0x01)
KEY_ALG_AES = const(0x02)
KEY_ALG_RSA = const(0x03)

# TLV 0xE00D SIM binding, 0xE041 reply on failed security check (appendix E g).
SIM_BIND_OFF = const(0x00)
SIM_BIND_ON = const(0x01)
SIM_BIND_CLEAR = const(0x02)
FAIL_REPLY_DROP = const(0x00)
FAIL_REPLY_HEADER = const(0x01)

# TLV 0x2001 statistics report policy (appendix E d).
STATS_AT_TIME = const(0x00)
STATS_PERIODIC = const(0x01)
STATS_FIRST_USE = const(0x02)

# TLV 0x1000 download protocol (appendix E c).
DL_PROTO_FTP = const(0x02)
