"""Constants and errors shared by the LwM2M data model (andlink.lwm2m).

CoAP response codes are plain ints, class << 5 | detail (RFC 7252 12.1), the
same numbers andlink.coap uses, without importing it.  Content formats are the
CoAP Content-Format numbers of And-link spec section 3.6 and OMA LwM2M TS 1.1
section 7 (text/plain 0, link-format 40, octet-stream 42, JSON 50, SenML
JSON 110, LwM2M TLV 11542, LwM2M JSON 11543).

Resource flags (one int per resource in the object tables, objects.py):
bits 0-2 the operations (R, W, E), bit 3 multiple instances, bit 4
mandatory, bits 8-11 the data type (OMA LwM2M TS 1.1 Appendix C), so a
table row reads `(17, "Device Type", R | STR | MAND)`.

Every error raised on bad input is an Lwm2mError subclass whose `code` is
the CoAP response the store answers with.
"""

from micropython import const

# CoAP response codes (RFC 7252 12.1.2)
CREATED = const(0x41)               # 2.01
DELETED = const(0x42)               # 2.02
CHANGED = const(0x44)               # 2.04
CONTENT = const(0x45)               # 2.05
BAD_REQUEST = const(0x80)           # 4.00
UNAUTHORIZED = const(0x81)          # 4.01
NOT_FOUND = const(0x84)             # 4.04
METHOD_NOT_ALLOWED = const(0x85)    # 4.05
NOT_ACCEPTABLE = const(0x86)        # 4.06
UNSUPPORTED_CONTENT_FORMAT = const(0x8F)    # 4.15
INTERNAL_SERVER_ERROR = const(0xA0)         # 5.00

# Content formats
TEXT = const(0)
LINK = const(40)
OPAQUE = const(42)
JSON = const(50)
SENML_JSON = const(110)
TLV = const(11542)
LWM2M_JSON = const(11543)

# Operations
R = const(1)
W = const(2)
E = const(4)
RW = const(3)
MULTI = const(8)
MAND = const(16)
OPS = const(7)

# Data types (the value << 8 goes into the flags)
T_NONE = const(0)       # executable: no value
T_STRING = const(1)
T_INT = const(2)
T_UINT = const(3)
T_FLOAT = const(4)
T_BOOL = const(5)
T_OPAQUE = const(6)
T_TIME = const(7)
T_OBJLNK = const(8)
T_CORELNK = const(9)
T_JSON = const(10)      # And-link 4.2.2: the parameter document of /19/1/0
STR = const(0x100)
INT = const(0x200)
UINT = const(0x300)
FLT = const(0x400)
BOOL = const(0x500)
OPQ = const(0x600)
TIME = const(0x700)
LNK = const(0x800)
CLNK = const(0x900)
JSN = const(0xA00)


def rtype(flags):
    """The data type of a resource's flags."""
    return (flags >> 8) & 15


def code_str(code):
    """'2.05' for 0x45: for messages and tests."""
    return "%d.%02d" % (code >> 5, code & 31)


class Lwm2mError(ValueError):
    """Base of every error andlink.lwm2m raises on bad input; `code` is the
    CoAP response code it maps to."""
    code = BAD_REQUEST


class PathError(Lwm2mError):
    """A path that is not /O, /O/I, /O/I/R or /O/I/R/RI with IDs 0..65534."""


class DecodeError(Lwm2mError):
    """A payload that does not decode in its content format, or a value that
    does not fit its resource's type."""


class EncodeError(Lwm2mError):
    """A value the content format cannot carry (an int beyond 64 bits, a
    multiple resource in plain text...)."""
    code = NOT_ACCEPTABLE


class NotFound(Lwm2mError):
    """No such object, instance, resource or resource instance."""
    code = NOT_FOUND


class NotAllowed(Lwm2mError):
    """The operation is not allowed on the target (its R/W/E flags)."""
    code = METHOD_NOT_ALLOWED


class Unsupported(Lwm2mError):
    """A content format the model does not handle for this target."""
    code = UNSUPPORTED_CONTENT_FORMAT
