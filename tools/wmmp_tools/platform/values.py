"""Operator-side names and values: TLV tags by name or number, TAG=VALUE parsing
(int, text or hex:...) checked against the appendix E catalogue, readable values,
and the names of REMOTE_CTRL codes (0x4001), SECURITY_CONFIG operations and LOGOUT
reasons (appendix E f, G c, G m)."""

import re

from wmmp.wire import catalogue as CAT
from wmmp.errors import WmmpError

from wmmp_tools import jsonform as J
from wmmp_tools import tagnames as TN

_BY_NAME = {n.upper(): t for t, n in TN.NAMES.items()}

# TLV 0x4001 codes (appendix E f).
CTRL_NAMES = {
    "suspend": 0x00, "resume": 0x01, "restart": 0x02, "wake-up": 0x03, "wakeup": 0x03,
    "report-stats": 0x04, "clear-stats": 0x05, "report-monitor": 0x06, "upload-data": 0x07,
    "report-connection": 0x08, "apn-platform": 0x09, "factory-reset": 0x0A,
    "report-core-config": 0x0B, "apn-application": 0x0C, "relogin-encrypted": 0x0D,
}

# SECURITY_CONFIG OPERATION (appendix G m).
SECURITY_OPS = {
    "set": 0x00, "read-encrypted": 0x01, "read-digests": 0x02, "update-notice": 0x03,
    "report": 0x04, "request-update-clear": 0x05, "request-update-encrypted": 0x06,
    "request-enable": 0x07,
}

# LOGOUT REASON (appendix G c).
LOGOUT_REASONS = {
    "normal": 0x00, "upgrade": 0x01, "comm-failure": 0x02, "local-config": 0x03,
    "heartbeat-timeout": 0x04, "fault-wait": 0x05, "fault-relogin": 0x06,
    "platform-config": 0x07, "session-key-expired": 0x08, "update-keys": 0x09,
    "update-sim-security": 0x0A,
}


class InputError(ValueError):
    """Operator input that cannot be turned into a message (one line)."""


def parse_code(text, names, what, hi=0xFF):
    """A code from a name of `names` or a number (decimal or 0x..)."""
    if isinstance(text, int) and not isinstance(text, bool):
        code = text
    else:
        t = str(text).strip().lower()
        if t in names:
            return names[t]
        try:
            code = int(t, 0)
        except ValueError:
            raise InputError("unknown %s %r (one of: %s, or a number)" % (what, text, ", ".join(sorted(names))))
    if not 0 <= code <= hi:
        raise InputError("%s %d out of range 0..%d" % (what, code, hi))
    return code


def parse_tag(text):
    """A tag from its name (HEARTBEAT_PERIOD, case-insensitive) or number (0x0011, 17)."""
    if isinstance(text, int) and not isinstance(text, bool):
        tag = text
    else:
        t = str(text).strip()
        if t.upper() in _BY_NAME:
            return _BY_NAME[t.upper()]
        try:
            tag = int(t, 0)
        except ValueError:
            raise InputError("unknown tag %r (a name like HEARTBEAT_PERIOD or a number like 0x0011)" % text)
    if not 0 < tag <= 0xFFFF:
        raise InputError("tag %r out of range 0x0001..0xFFFF" % text)
    return tag


def _int(text):
    try:
        return int(text, 0)
    except ValueError:
        return None


def parse_value(tag, text):
    """TLV value bytes for `tag` from operator text: "hex:0011aa" -> raw bytes; a number
    for a numeric or date tag -> big-endian of the tag's size; a comma-separated list
    (tags by name or number) for tag-list TLVs; anything else -> ASCII text.  Values of
    catalogue tags are checked (appendix E, INTEROP 8)."""
    info = CAT.lookup(tag)
    try:
        if text.lower().startswith("hex:"):
            try:
                value = J.parse_hex(text[4:], "value of %s" % tag_name(tag))
            except J.FormError as e:
                raise InputError(str(e))
        elif info is not None and info[0] in (CAT.T_NUM, CAT.T_DATE) and info[1] == CAT.L_FIXED \
                and _int(text) is not None:
            value = CAT.encode_value(tag, _int(text))
        elif info is not None and info[0] == CAT.T_TAGS:
            items = [x for x in re.split(r"[\s,]+", text) if x]
            value = CAT.encode_value(tag, [parse_tag(x) for x in items])
        else:
            try:
                value = CAT.encode_value(tag, text.encode("ascii"))
            except UnicodeEncodeError:
                raise InputError("value of %s must be ASCII text (or hex:...)" % tag_name(tag))
        if info is not None:
            CAT.validate(tag, value)
    except WmmpError as e:
        raise InputError("bad value %r for %s: %s" % (text, tag_name(tag), e))
    return value


def parse_assignment(text):
    """(tag, value bytes) of "TAG=VALUE"."""
    if "=" not in text:
        raise InputError("expected TAG=VALUE, got %r" % text)
    name, value = text.split("=", 1)
    tag = parse_tag(name)
    return tag, parse_value(tag, value)


def tag_name(tag):
    return J.tag_name(tag)


def render(tag, value, show_secrets=True):
    """Readable text of a TLV value (the operator sees secrets: it is their platform)."""
    text, _, problem = J.render_value(tag, value, show_secrets)
    return text + (" [%s]" % problem if problem else "")


def tlv_json(tag, value):
    return {"tag": tag, "name": tag_name(tag), "hex": bytes(value).hex(),
            "text": render(tag, value)}
