"""Operator-side names and values: TLV tags by name or number, TAG=VALUE parsing
(int, text or hex:...) checked against the appendix E catalogue, readable values,
and the names of REMOTE_CTRL codes (0x4001), SECURITY_CONFIG operations and LOGOUT
reasons (appendix E f, G c, G m).

Secrets (passwords, PINs, keys: catalogue flag F_SECRET) are hidden in what the
operator is shown unless asked for (show_secrets), as `wmmp decode` does: TLV
values, terminal and subscription rows, and message bytes (redact_wire)."""

import json
import re
import struct

from wmmp.wire import catalogue as CAT
from wmmp.wire import codec
from wmmp.wire import header as H
from wmmp.wire import profile as P
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


def short(text, n=40):
    """repr of operator text for a message, cut to `n` characters."""
    t = str(text)
    return repr(t) if len(t) <= n else repr(t[:n]) + "..."


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
            raise InputError("unknown %s %s (one of: %s, or a number)" % (what, short(text), ", ".join(sorted(names))))
    if not 0 <= code <= hi:
        raise InputError("%s %d out of range 0..%d" % (what, code, hi))
    return code


TAG_HELP = "a name like HEARTBEAT_PERIOD, or a number: E025, 0xE025 (four hex digits are hex) or decimal"


def parse_tag(text):
    """A tag from its name (HEARTBEAT_PERIOD, case-insensitive) or number: four hex
    digits as the appendices write them (E025, 0011), 0x... (0xE025), or decimal."""
    if isinstance(text, int) and not isinstance(text, bool):
        tag = text
    else:
        t = str(text).strip()
        if t.upper() in _BY_NAME:
            return _BY_NAME[t.upper()]
        if re.fullmatch(r"[0-9A-Fa-f]{4}", t):
            tag = int(t, 16)
        else:
            try:
                tag = int(t, 0)
            except ValueError:
                raise InputError("unknown tag %s (%s)" % (short(text), TAG_HELP))
    if not 0 < tag <= 0xFFFF:
        raise InputError("tag %s out of range 0x0001..0xFFFF" % short(text))
    return tag


def _int(text):
    try:
        return int(text, 0)
    except ValueError:
        return None


def _length_rule(info):
    ty, kind, n, _ = info
    if kind == CAT.L_FIXED:
        return "exactly %d byte%s" % (n, "" if n == 1 else "s")
    if kind == CAT.L_MAX:
        return "at most %d bytes" % n
    if kind == CAT.L_MULT:
        return "a multiple of %d bytes" % n
    return None


def _check_secret(tag, value):
    """The rules of the secrets a person types (PROTOCOL.md 5, 8; appendix E g)."""
    name = tag_name(tag)
    if tag in (0xE025, 0xE028):
        if len(value) != 8 or not all(0x21 <= c <= 0x7E for c in value):
            raise InputError("%s must be 8 visible ASCII characters (PROTOCOL.md 8), got %d"
                             % (name, len(value)))
    elif tag in (0xE036, 0xE03B):
        if len(value) not in (8, 16, 24, 32) or not value.isalnum() or not value.isascii():
            raise InputError("%s must be 8, 16, 24 or 32 letters/digits (DES 8, 3DES 16 or 24, "
                             "AES 16, 24 or 32), got %d characters" % (name, len(value)))


def parse_value(tag, text):
    """TLV value bytes for `tag` from operator text: "hex:0011aa" -> raw bytes; a number
    for a numeric or date tag -> big-endian of the tag's size; a comma-separated list
    (tags by name or number) for tag-list TLVs; anything else -> ASCII text.  Values of
    catalogue tags are checked (appendix E, PROTOCOL.md 8); the error says what is wrong."""
    info = CAT.lookup(tag)
    name = tag_name(tag)
    shown = "the value given" if is_secret(tag) else short(text)     # a secret is never echoed
    if text == "":
        raise InputError("%s needs a value (a number, text or hex:...)" % name)
    numeric = info is not None and info[0] in (CAT.T_NUM, CAT.T_DATE) and info[1] == CAT.L_FIXED
    try:
        if text.lower().startswith("hex:"):
            try:
                value = J.parse_hex(text[4:], "value of %s" % name)
            except J.FormError as e:
                raise InputError(str(e))
            if not value:
                raise InputError("%s needs a value: hex: is empty" % name)
        elif numeric:
            n = _int(text)
            top = (1 << (8 * info[2])) - 1
            if n is None:
                raise InputError("%s takes a number 0..%d (decimal or 0x..), not %s" % (name, top, shown))
            if not 0 <= n <= top:
                raise InputError("%s = %s is out of range 0..%d" % (name, shown.strip("'"), top))
            value = CAT.encode_value(tag, n)
        elif info is not None and info[0] == CAT.T_TAGS:
            items = [x for x in re.split(r"[\s,]+", text) if x]
            value = CAT.encode_value(tag, [parse_tag(x) for x in items])
        else:
            try:
                raw = text.encode("ascii")
            except UnicodeEncodeError:
                raise InputError("value of %s must be ASCII text (or hex:...)" % name)
            if info is not None and info[0] == CAT.T_BIN and info[1] == CAT.L_MULT:
                raise InputError("%s takes binary data: give it as hex:... (%s)" % (name, _length_rule(info)))
            if is_secret(tag):
                _check_secret(tag, raw)
            value = raw
            if info is not None:
                try:
                    value = CAT.encode_value(tag, raw)
                except WmmpError:
                    rule = _length_rule(info)
                    raise InputError("%s takes %s, got %d" % (name, rule, len(raw)) if rule
                                     else "bad length %d for %s" % (len(raw), name))
        if info is not None:
            try:
                CAT.validate(tag, value)
            except WmmpError as e:
                rule = _length_rule(info)
                if rule and "length" in str(e):
                    raise InputError("%s takes %s, got %d" % (name, rule, len(value)))
                raise InputError("%s is not a value %s allows (appendix E, PROTOCOL.md 8)" % (shown, name))
    except WmmpError as e:
        raise InputError("bad value %s for %s: %s" % (shown, name, e))
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


def is_secret(tag):
    return J.is_secret(tag)


def render(tag, value, show_secrets=False):
    """Readable text of a TLV value; secrets hidden unless show_secrets."""
    text, _, problem = J.render_value(tag, value, show_secrets)
    return text + (" [%s]" % problem if problem else "")


def tlv_json(tag, value, show_secrets=False):
    value = bytes(value)
    out = {"tag": tag, "name": tag_name(tag), "hex": value.hex(), "text": render(tag, value, show_secrets)}
    if is_secret(tag) and value and not show_secrets:
        out["hex"] = ""
        out["secret"] = True
    return out


# -- hiding secrets ---------------------------------------------------------------

TERMINAL_SECRETS = ("up_pw", "down_pw", "base_key")
SUBSCRIPTION_SECRETS = ("preset_uplink", "preset_downlink", "preset_key")


def hidden(value):
    """What is shown instead of a secret value."""
    return "<secret, %d characters: --show-secrets shows it>" % len(value)


def hide_fields(row, names):
    """A copy of the dict `row` with the secret fields `names` hidden."""
    out = dict(row)
    for k in names:
        if out.get(k):
            out[k] = hidden(str(out[k]))
    return out


def hide_terminal(row):
    out = hide_fields(row, TERMINAL_SECRETS)
    if out.get("pending_keys"):
        try:
            pk = json.loads(out["pending_keys"])
            out["pending_keys"] = json.dumps(hide_fields(pk, TERMINAL_SECRETS), sort_keys=True)
        except (TypeError, ValueError):
            out["pending_keys"] = hidden(str(out["pending_keys"]))
    return out


def hide_tlv_dicts(items):
    """Answer TLVs as JSON (tlv_json dicts) or request TLVs ([tag, hex] pairs) with
    secret values hidden."""
    out = []
    for item in items or []:
        if isinstance(item, dict) and is_secret(item.get("tag", 0)) and item.get("hex"):
            item = dict(item, hex="", text="<secret, %d bytes>" % (len(item["hex"]) // 2), secret=True)
        elif isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], int) \
                and is_secret(item[0]) and item[1] and item[1] != "new":
            item = [item[0], "<secret>"]
        out.append(item)
    return out


def hide_answer(a):
    """A stored answer / request dict (pending table) with secrets hidden."""
    if not isinstance(a, dict):
        return a
    out = dict(a)
    if "tlvs" in out:
        out["tlvs"] = hide_tlv_dicts(out["tlvs"])
    return out


def _secret_spans(data):
    """(start, end) of secret TLV values in the message bytes `data`."""
    spans = []
    try:
        msg = codec.decode(data, P.DEFAULT, P.BEARER_PACKET)
    except Exception:
        msg = None
    if msg is not None and msg.subpacket is None:
        start = H.HEADER_SIZE
        for tag, v in msg.tlvs:
            if not (is_secret(tag) and v):
                continue
            at = data.find(struct.pack(">HH", tag, len(v)) + bytes(v), start)
            if at >= 0:
                spans.append((at + 4, at + 4 + len(v)))
        if not any(is_secret(t) for t, _ in msg.tlvs) or spans:
            return spans
    # Not decodable as a whole (or a sub-packet): any secret TLV header that fits.
    i = H.HEADER_SIZE
    while i + 4 <= len(data):
        tag, n = struct.unpack_from(">HH", data, i)
        if is_secret(tag) and 0 < n <= len(data) - i - 4:
            spans.append((i + 4, i + 4 + n))
            i += 4 + n
        else:
            i += 1
    return spans


def redact_wire(hx):
    """Hex of a logged message with the bytes of secret TLV values replaced by '*'."""
    if not hx:
        return hx
    try:
        data = bytes.fromhex(hx)
    except ValueError:
        return hx
    spans = _secret_spans(data)
    if not spans:
        return hx
    out = list(hx)
    for a, b in spans:
        out[2 * a:2 * b] = "*" * (2 * (b - a))
    return "".join(out)
