"""Command IDs of appendix D and the fixed-part layout of every body (appendix G,
PROTOCOL.md 2).

A layout is a tuple of (field_name, struct_code) pairs packed big-endian in
order; struct codes are B/H/I for unsigned integers and "Ns" for fixed byte
strings.  FILE_REQ_ACK ends in a variable `block` whose size is its block_size.
"""

from micropython import const

LOGIN = const(0x0001)
LOGOUT = const(0x0002)
HEART_BEAT = const(0x0003)
TRANSPARENT_DATA = const(0x0004)
CONFIG_GET = const(0x0005)
CONFIG_SET = const(0x0006)
CONFIG_TRAP = const(0x0007)
REGISTER = const(0x0008)
CONFIG_REQ = const(0x000A)
REMOTE_CTRL = const(0x000B)
DOWNLOAD_INFO = const(0x000C)
FILE_REQ = const(0x000D)
SECURITY_CONFIG = const(0x000E)
TRANSPARENT_CMD = const(0x000F)

ACK = const(0x8000)  # a response is the request's ID | 0x8000 (appendix D)

LOGIN_ACK = const(0x8001)
LOGOUT_ACK = const(0x8002)
HEART_BEAT_ACK = const(0x8003)
TRANSPARENT_DATA_ACK = const(0x8004)
CONFIG_GET_ACK = const(0x8005)
CONFIG_SET_ACK = const(0x8006)
CONFIG_TRAP_ACK = const(0x8007)
REGISTER_ACK = const(0x8008)
CONFIG_REQ_ACK = const(0x800A)
REMOTE_CTRL_ACK = const(0x800B)
DOWNLOAD_INFO_ACK = const(0x800C)
FILE_REQ_ACK = const(0x800D)
SECURITY_CONFIG_ACK = const(0x800E)
TRANSPARENT_CMD_ACK = const(0x800F)

# Request names in ID order; index = ID.  None for unused IDs (0x0000, 0x0009).
_NAMES = (None, "LOGIN", "LOGOUT", "HEART_BEAT", "TRANSPARENT_DATA", "CONFIG_GET",
          "CONFIG_SET", "CONFIG_TRAP", "REGISTER", None, "CONFIG_REQ", "REMOTE_CTRL",
          "DOWNLOAD_INFO", "FILE_REQ", "SECURITY_CONFIG", "TRANSPARENT_CMD")

_RESULT = (("result", "B"),)
_NONE = ()

# Fixed parts (appendix G; PROTOCOL.md 2 table).
_REQUEST_LAYOUT = (
    None,
    (("software_version", "8s"), ("config_crc32", "I")),              # LOGIN, G b
    (("reason", "B"),),                                                # LOGOUT, G c
    _NONE,                                                             # HEART_BEAT, G d
    (("crc16", "H"),),                                                 # TRANSPARENT_DATA, G j
    _NONE, _NONE, _NONE,                                               # CONFIG_GET/SET/TRAP
    (("operation", "B"), ("imei", "16s"), ("imsi", "15s")),           # REGISTER, G a
    None,
    _NONE, _NONE, _NONE,                                               # CONFIG_REQ, REMOTE_CTRL, DOWNLOAD_INFO
    (("trans_id", "I"), ("status", "B"), ("read_point", "I"), ("block_size", "H")),  # FILE_REQ, G l
    (("operation", "B"),),                                             # SECURITY_CONFIG, G m
    _NONE,                                                             # TRANSPARENT_CMD
)

_ACK_LAYOUT = {
    LOGIN_ACK: (("result", "B"), ("curtime", "I")),                    # G b
    LOGOUT_ACK: _NONE,                                                 # G c
    HEART_BEAT_ACK: _NONE,                                             # G d
    REGISTER_ACK: (("result", "B"), ("terminal_id", "16s")),          # G a
    FILE_REQ_ACK: (("trans_id", "I"), ("status", "B"), ("crc16", "H"),
                   ("read_point", "I"), ("block_size", "H")),          # G l, then block
}

_SIZES = {"B": 1, "H": 2, "I": 4}


def is_known(cmd):
    low = cmd & 0x7FFF
    return low < len(_NAMES) and _NAMES[low] is not None


def is_response(cmd):
    return bool(cmd & ACK)


def response_to(cmd):
    """The ACK ID answering request `cmd`."""
    return cmd | ACK


def name(cmd):
    """Appendix D name, e.g. 'LOGIN_ACK'; 'UNKNOWN_0x1234' for others."""
    if not is_known(cmd):
        return "UNKNOWN_0x%04X" % cmd
    n = _NAMES[cmd & 0x7FFF]
    return n + "_ACK" if cmd & ACK else n


def by_name(text):
    """Command ID for an appendix D name (case-insensitive); None if unknown."""
    t = text.upper()
    ack = t.endswith("_ACK")
    base = t[:-4] if ack else t
    for i in range(len(_NAMES)):
        if _NAMES[i] == base:
            return i | ACK if ack else i
    return None


def all_commands():
    """Every command ID of appendix D, requests then responses."""
    out = [i for i in range(len(_NAMES)) if _NAMES[i] is not None]
    return out + [i | ACK for i in out]


def layout(cmd):
    """Fixed-part layout of `cmd` (tuple of (name, code)); None if unknown."""
    if not is_known(cmd):
        return None
    if cmd & ACK:
        return _ACK_LAYOUT.get(cmd, _RESULT)
    return _REQUEST_LAYOUT[cmd]


def field_size(code):
    return _SIZES[code] if code in _SIZES else int(code[:-1])


def fixed_size(cmd):
    """Bytes of the fixed part (FILE_REQ_ACK: without its variable block)."""
    n = 0
    for _, code in layout(cmd):
        n += field_size(code)
    return n


def struct_format(cmd):
    """struct format string of the fixed part, big-endian (PROTOCOL.md 1)."""
    return ">" + "".join(code for _, code in layout(cmd))
