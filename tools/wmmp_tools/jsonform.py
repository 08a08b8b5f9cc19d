"""Message <-> JSON for the `wmmp` tool, and the readable rendering of values.

`to_json(data, msg)` gives the JSON form that `wmmp decode --json` prints;
`from_json(doc, ...)` turns that form (or a hand-written one) back into the bytes of
a message, so that decode -> encode gives the same bytes.  Names, code meanings
and value rendering shared with the text dump also live here.

The optional device modules (wmmp_tools.tagnames, wmmp.wire.codes, wmmp.wire.catalogue,
wmmp.crypto.cipher) are imported on first use; without them names fall back to
"TAG_0x0002" and values are shown as hex.
"""

import binascii
import datetime
import importlib
import re

from wmmp.wire import codec
from wmmp.wire import commands as C
from wmmp.wire import digest as D
from wmmp.wire import header as H
from wmmp.wire import profile as P
from wmmp.wire import tlv as T
from wmmp.errors import WmmpError

CARRIER_TAGS = (codec.TAG_FULL, codec.TAG_SUBPACKET, codec.TAG_ENC_SUBPACKET)

ENCRYPTION_NAMES = {codec.ENC_NONE: "none", codec.ENC_FULL: "full", codec.ENC_PARTIAL: "partial"}

# Sub-packet operation byte (appendix F, docs/PROTOCOL.md 6).
SUBPACKET_OPS = {0: "data", 1: "receiver asks for this sub-packet",
                 2: "sender aborts", 3: "receiver aborts"}


# Fixed fields whose value is a code of a wmmp.wire.codes table (appendix G).
_FIELD_TABLES = {
    (C.REGISTER, "operation"): "register_op",
    (C.REGISTER_ACK, "result"): "register_ack",
    (C.LOGIN_ACK, "result"): "login_ack",
    (C.LOGOUT, "reason"): "logout",
    (C.TRANSPARENT_DATA_ACK, "result"): "transparent_ack",
    (C.DOWNLOAD_INFO_ACK, "result"): "download_ack",
    (C.FILE_REQ, "status"): "file_req",
    (C.FILE_REQ_ACK, "status"): "file_req_ack",
    (C.SECURITY_CONFIG, "operation"): "security_op",
    (C.SECURITY_CONFIG_ACK, "result"): "security_ack",
}

# TLVs whose number is a code of a wmmp.wire.codes table (appendix E).
_TLV_TABLES = {
    0x1000: "download_protocol", 0x2001: "stats_policy", 0x300B: "alarm_status",
    0x300C: "alarm_type", 0x4001: "remote_ctrl", 0x4002: "conn_mode", 0x4003: "flow_mode",
    0x4005: "collect_bearer", 0xE00D: "sim_binding", 0xE022: "security_mode",
    0xE032: "security_mode", 0xE035: "algorithm", 0xE039: "key_algorithm",
    0xE03E: "key_algorithm", 0xE041: "failure_reply",
}

# Tag lists that hold command IDs rather than tags (appendix E g: E023, E033).
_COMMAND_LISTS = (0xE023, 0xE033)
# Code lists that hold alarm codes (appendix E e: 0x300D, 0x300E).
_ALARM_LISTS = (0x300D, 0x300E)
# Fields shown in hex only (checksums).
_HEX_FIELDS = ("config_crc32", "crc16")
# Date-valued fixed fields (docs/PROTOCOL.md 8).
_DATE_FIELDS = ("curtime",)

# Used only while wmmp.wire.catalogue is missing: tags never shown in clear.
_FALLBACK_SECRETS = (0x0004, 0x0006, 0x1004, 0xE001, 0xE004, 0xE007, 0xE00A, 0xE025,
                     0xE028, 0xE036, 0xE037, 0xE03B, 0xE03C, 0xE040, 0xE042, 0xE043, 0xE044)

_BEIJING = datetime.timezone(datetime.timedelta(hours=8))


class FormError(ValueError):
    """The JSON document does not describe a message (missing or bad key)."""


def user_text(text):
    """`text` for a user: a message of the device library that still cites a wire
    decision by its old note name becomes the section of docs/PROTOCOL.md with
    the same number, which ships with the repository."""
    return re.sub(r"\bINTEROP (\d+)", r"docs/PROTOCOL.md \1", str(text))


# -- optional device modules ---------------------------------------------------

_modules = {}
_OPTIONAL = {"tagnames": "wmmp_tools.", "cipher": "wmmp.crypto."}    # else wmmp.wire.<name>


def optional(name):
    """The module `name` ("tagnames", "codes", "catalogue", "cipher"), or None
    while it is missing or broken."""
    if name not in _modules:
        try:
            _modules[name] = importlib.import_module(_OPTIONAL.get(name, "wmmp.wire.") + name)
        except Exception:  # absent or half-written: degrade, never fail the tool
            _modules[name] = None
    return _modules[name]


def tag_name(tag):
    """Name of a TLV tag from wmmp_tools.tagnames, e.g. "APN"; "TAG_0x0002" without it."""
    tn = optional("tagnames")
    if tn is not None:
        try:
            n = tn.name(tag)
            if n:
                return str(n)
        except Exception:
            pass
    return "TAG_0x%04X" % tag


def tag_description(tag):
    """One-line description of a tag, or None."""
    tn = optional("tagnames")
    if tn is not None:
        try:
            d = tn.describe(tag)
            if d:
                return user_text(" ".join(str(d).split()))
        except Exception:
            pass
    return None


def code_meaning(table, code):
    """Meaning of `code` in a wmmp.wire.codes table, or None."""
    tn = optional("tagnames")
    if tn is None:
        return None
    try:
        d = tn.describe_code(table, code)
    except Exception:
        return None
    return user_text(" ".join(str(d).split())) if d else None


def subpacket_op_text(op):
    """Meaning of a sub-packet op byte (appendix F, docs/PROTOCOL.md 6)."""
    return code_meaning("subpacket_op", op) or SUBPACKET_OPS.get(op, "unknown")


def field_table(command, fname):
    """Name of the codes table for a fixed field, or None (appendix G)."""
    t = _FIELD_TABLES.get((command, fname))
    if t is None and fname == "result" and C.is_response(command):
        t = "ack"
    return t


def is_secret(tag):
    cat = optional("catalogue")
    if cat is not None:
        try:
            return bool(cat.is_secret(tag))
        except Exception:
            pass
    return tag in _FALLBACK_SECRETS


# -- small renderers -------------------------------------------------------------

def hexstr(b):
    return binascii.hexlify(bytes(b)).decode()


def printable_text(b):
    """The text of `b` without trailing NULs when it is printable ASCII, else None."""
    s = bytes(b).rstrip(b"\x00")
    for c in s:
        if c < 0x20 or c > 0x7E:
            return None
    return s.decode("ascii")


def bytes_json(b):
    """Text when printable ASCII after stripping trailing NULs, else {"hex": ...}."""
    t = printable_text(b)
    return t if t is not None else {"hex": hexstr(b)}


def date_text(seconds):
    """u32 seconds since 1970 as UTC and as Beijing time (docs/PROTOCOL.md 8)."""
    try:
        u = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return "%d (not a valid date)" % seconds
    b = u.astimezone(_BEIJING)
    return "%d = %s UTC = %s UTC+8 (Beijing)" % (
        seconds, u.strftime("%Y-%m-%d %H:%M:%S"), b.strftime("%Y-%m-%d %H:%M:%S"))


def int_text(v, nbytes):
    return "%d (0x%0*X)" % (v, 2 * nbytes, v)


def version_text(version):
    return "%d.%d" % (version >> 8, version & 0xFF)


def field_text(command, fname, code, value):
    """Readable form of one fixed field (appendix G)."""
    if isinstance(value, (bytes, bytearray)):
        t = printable_text(value)
        if fname == "block" or t is None:
            return "%d bytes: %s" % (len(value), hexstr(value)) if value else "0 bytes"
        return '"%s"' % t
    n = C.field_size(code) if code else 4
    if fname in _DATE_FIELDS:
        return date_text(value)
    if fname in _HEX_FIELDS:
        return "0x%0*X" % (2 * n, value)
    table = field_table(command, fname)
    if table is not None:
        m = code_meaning(table, value)
        return "0x%02X (%s)" % (value, m) if m else "0x%02X" % value
    return int_text(value, n)


def _records(value, size):
    return [value[i:i + size] for i in range(0, len(value) - size + 1, size)]


def _u(b):
    return int.from_bytes(bytes(b), "big")


# 0x0107 first byte (appendix E b, docs/PROTOCOL.md 8).
_BEARERS = {1: "SMS", 2: "packet (0x02)", 3: "packet (0x03)", 4: "MMS", 5: "packet (0x05)"}
_UNITS = {0: "s", 1: "min", 2: "h"}


def _coded(table, code, fmt="0x%02X"):
    m = code_meaning(table, code)
    return (fmt + " (%s)") % (code, m) if m else fmt % code


def _structured(tag, v):
    """Text of the composite values docs/PROTOCOL.md 8 / appendix E spell out, or None."""
    if tag == 0x0107 and len(v) % 4 == 0:
        return "; ".join("%s timeout %d %s" % (_BEARERS.get(r[0], "bearer 0x%02X" % r[0]),
                                               _u(r[2:4]), _UNITS.get(r[1], "unit 0x%02X" % r[1]))
                         for r in _records(v, 4))
    if tag in (0x002A, 0x002B) and len(v) == 8:
        return "min %d s, max %d s" % (_u(v[0:4]), _u(v[4:8]))
    if tag == 0x4010 and len(v) == 5:
        return "result %s, seq %d" % (_coded("config_result", v[0]), _u(v[1:5]))
    if tag == 0x3012 and len(v) == 5:
        return "transaction 0x%08X, reason %s" % (_u(v[0:4]), _coded("download_fail", v[4]))
    if tag in (0x300F, 0x4021) and len(v) % 3 == 0:
        return "; ".join("%s: %s" % (_coded("peripheral", _u(r[0:2]), "0x%04X"),
                                     _coded("peripheral_state", r[2])) for r in _records(v, 3))
    if tag == 0x4006 and len(v) == 2:
        return "transport %s, protocol %s" % (_coded("app_transport", v[0]), _coded("app_proto", v[1]))
    if tag == 0x0109 and len(v) == 3:
        return "kind %d, value %d" % (v[0], _u(v[1:3]))
    return None


def _int_special(tag, x):
    if tag in (0x0009, 0x000D, 0x0010, 0x0014):
        return "%d.%d.%d.%d" % (x >> 24, (x >> 16) & 0xFF, (x >> 8) & 0xFF, x & 0xFF)
    if tag in (0x000A, 0x000E):
        return "UDP port %d, TCP port %d" % (x >> 16, x & 0xFFFF)
    if tag == 0x3006:
        return "LAC %d, CI %d" % (x >> 16, x & 0xFFFF)
    if tag == 0x3001:
        return "protocol version %s" % version_text(x)
    return None


def render_value(tag, value, show_secrets=False):
    """(display text, JSON value or None, problem text or None) of one TLV value."""
    n = len(value)
    if n == 0:
        return "no value (L=0)", None, None
    if is_secret(tag) and not show_secrets:
        return "<secret, %d bytes>" % n, None, None
    cat = optional("catalogue")
    problem = None
    info = None
    decoded = bytes(value)
    if cat is not None:
        try:
            info = cat.lookup(tag)
        except Exception:
            info = None
        if info is not None:
            try:
                decoded = cat.decode_value(tag, value)
                cat.validate(tag, value)
            except WmmpError as e:
                problem = user_text(e)
            except Exception as e:  # a half-written catalogue must not stop the dump
                problem = user_text("catalogue: %s" % e)
    if isinstance(decoded, int) and not isinstance(decoded, bool):
        if info is not None and info[0] == getattr(cat, "T_DATE", -1):
            return date_text(decoded), decoded, problem
        text = int_text(decoded, n)
        extra = _int_special(tag, decoded)
        table = _TLV_TABLES.get(tag)
        if table is not None:
            extra = code_meaning(table, decoded) or extra
        elif tag == 0xE020:
            bits = [code_meaning("cleared", 1 << b) or "bit 0x%02X" % (1 << b)
                    for b in range(7, -1, -1) if decoded & (1 << b)]
            extra = ", ".join(bits) or "nothing cleared"
        if extra:
            text += ": " + extra
        return text, decoded, problem
    if isinstance(decoded, list):
        if tag in _COMMAND_LISTS:
            items = [C.name(x) for x in decoded]
        elif tag in _ALARM_LISTS:
            items = []
            for x in decoded:
                m = code_meaning("alarm", x)
                items.append("0x%04X (%s)" % (x, m) if m else "0x%04X" % x)
        elif tag == 0x3010:
            items = [_coded("peripheral", x, "0x%04X") for x in decoded]
        elif info is not None and info[0] == getattr(cat, "T_TAGS", -1):
            items = [tag_name(x) for x in decoded]
        else:
            items = ["0x%04X" % x for x in decoded]
        return ", ".join(items) if items else "(empty list)", list(decoded), problem
    v = bytes(decoded)
    s = _structured(tag, v)
    if s is not None:
        return s, None, problem
    t = printable_text(v)
    if t:
        return '"%s"' % t, t, problem
    return hexstr(v), None, problem


# -- message -> JSON -------------------------------------------------------------

def wire_tlvs(msg):
    """The TLVs of `msg` as JSON should list them: (tag, value, encrypted_flag).

    Encrypted content that was not decrypted is listed as its carrier TLV; a
    sub-packet as its 0x4008 / E044 TLV; the digest comes last (docs/PROTOCOL.md 3)."""
    out = []
    if msg.subpacket is not None:
        sp = msg.subpacket
        out.append((codec.TAG_ENC_SUBPACKET if sp.encrypted else codec.TAG_SUBPACKET,
                    sp.pack(), False))
    elif msg.encryption == codec.ENC_FULL and msg.ciphertext is not None:
        out.append((codec.TAG_FULL, bytes(msg.ciphertext), False))
    else:
        enc = msg.encrypt_tags if msg.encryption == codec.ENC_PARTIAL else ()
        for tag, v in msg.tlvs:
            out.append((tag, v, tag in enc))
    if msg.digest is not None:
        out.append((D.DIGEST_TAG, bytes(msg.digest), False))
    return out


def tlv_json(tag, value, encrypted=False, show_secrets=False):
    text, val, problem = render_value(tag, value, show_secrets)
    e = {"tag": tag, "tag_hex": "0x%04X" % tag, "name": tag_name(tag), "length": len(value)}
    if is_secret(tag) and not show_secrets and len(value):
        e["secret"] = True
    else:
        e["value_hex"] = hexstr(value)
        if val is not None:
            e["value"] = val
    e["display"] = text
    if encrypted:
        e["encrypted"] = True
    if problem:
        e["problem"] = problem
    return e


def subpacket_json(sp, show_secrets=False):
    d = {"trans_id": sp.trans_id, "total": sp.total, "index": sp.index, "op": sp.op,
         "op_name": subpacket_op_text(sp.op), "encrypted": bool(sp.encrypted),
         "data_length": len(sp.data)}
    tag = codec.TAG_ENC_SUBPACKET if sp.encrypted else codec.TAG_SUBPACKET
    if show_secrets or not is_secret(tag):
        d["data_hex"] = hexstr(sp.data)
    return d


def to_json(data, msg, show_secrets=False, decrypted=False):
    """JSON-ready dict of a decoded message (`data`: the bytes it came from)."""
    hdr = H.unpack(data)
    doc = {
        "command": msg.name,
        "command_id": msg.command,
        "command_hex": "0x%04X" % msg.command,
        "total_length": msg.total_length,
        "serial": bytes_json(msg.serial),
        "serial_unassigned": H.serial_is_unassigned(msg.serial),
        "version": version_text(msg.version if msg.version is not None else 0x0300),
        "seq": msg.seq,
        "security": msg.security,
        "security_hex": "0x%02X" % msg.security,
        "flags": H.flags_set(msg.security),
        "reserved": hdr.reserved,
        "fields": {},
        "field_meanings": {},
        "tlvs": [],
        "encryption": ENCRYPTION_NAMES.get(msg.encryption, "none"),
        "decrypted": bool(decrypted),
        "subpacket": subpacket_json(msg.subpacket, show_secrets) if msg.subpacket else None,
        "notice": bool(msg.notice),
        "digest": hexstr(msg.digest) if msg.digest is not None else None,
        "digest_ok": msg.digest_ok,
    }
    for fname, v in msg.fields.items():
        if isinstance(v, (bytes, bytearray)):
            if fname == "block":
                t = printable_text(v)
                doc["fields"][fname] = t if t is not None and t.encode() == bytes(v) \
                    else {"hex": hexstr(v)}
            else:
                doc["fields"][fname] = bytes_json(v)
        else:
            doc["fields"][fname] = v
            table = field_table(msg.command, fname)
            if table is not None:
                m = code_meaning(table, v)
                if m:
                    doc["field_meanings"][fname] = m
            elif fname in _DATE_FIELDS:
                doc["field_meanings"][fname] = date_text(v)
    for tag, v, enc in wire_tlvs(msg):
        doc["tlvs"].append(tlv_json(tag, v, enc, show_secrets))
    return doc


# -- JSON -> message -------------------------------------------------------------

def parse_int(v, what, lo=0, hi=None):
    """An int from a JSON int or a "0x.." / decimal string."""
    if isinstance(v, bool):
        raise FormError("%s must be a number, not %s" % (what, "true" if v else "false"))
    if isinstance(v, str):
        try:
            v = int(v.strip(), 0)
        except ValueError:
            raise FormError("%s: %r is not a number" % (what, v))
    if not isinstance(v, int):
        raise FormError("%s must be a number" % what)
    if v < lo or (hi is not None and v > hi):
        raise FormError("%s = %d is out of range %d..%d" % (what, v, lo, hi if hi is not None else v))
    return v


def parse_hex(text, what):
    """bytes of a hex string; spaces, colons and 0x prefixes are ignored."""
    if not isinstance(text, str):
        raise FormError("%s must be a hex string" % what)
    s = "".join(re.sub(r"^0[xX]", "", tok) for tok in re.split(r"[\s:,]+", text) if tok)
    bad = re.search(r"[^0-9a-fA-F]", s)
    if bad:
        raise FormError("%s: %r is not a hex digit" % (what, bad.group(0)))
    if len(s) % 2:
        raise FormError("%s: odd number of hex digits (%d)" % (what, len(s)))
    return binascii.unhexlify(s)


def parse_bytes(v, what):
    """bytes from text (ASCII) or {"hex": ...}."""
    if isinstance(v, str):
        try:
            return v.encode("ascii")
        except UnicodeEncodeError:
            raise FormError("%s: text must be ASCII (use {\"hex\": ...} for other bytes)" % what)
    if isinstance(v, dict) and "hex" in v:
        return parse_hex(v["hex"], what + ".hex")
    raise FormError("%s must be text or {\"hex\": ...}" % what)


def parse_version(v):
    """Header version from "3.0", 768 or "0x0300" (docs/PROTOCOL.md 1)."""
    if isinstance(v, str) and "." in v:
        parts = v.strip().split(".")
        if len(parts) != 2 or not parts[0].isdigit() or not parts[1].isdigit():
            raise FormError("version %r is not MAJOR.MINOR" % v)
        major, minor = int(parts[0]), int(parts[1])
        if major > 255 or minor > 255:
            raise FormError("version %r: major and minor must be 0..255" % v)
        return major << 8 | minor
    return parse_int(v, "version", 0, 0xFFFF)


def parse_command(doc):
    """Command ID from "command_id" (int or hex string) or "command" (appendix D name)."""
    if "command_id" in doc:
        cmd = parse_int(doc["command_id"], "command_id", 0, 0xFFFF)
        if isinstance(doc.get("command"), str) and C.is_known(cmd) and \
                C.by_name(doc["command"]) not in (None, cmd):
            raise FormError("command %r does not match command_id 0x%04X" % (doc["command"], cmd))
        return cmd
    if "command" not in doc:
        raise FormError("missing key \"command\" (or \"command_id\")")
    name = doc["command"]
    if isinstance(name, str):
        cmd = C.by_name(name.strip())
        if cmd is not None:
            return cmd
        m = re.match(r"^(?:UNKNOWN_)?(0[xX][0-9a-fA-F]+)$", name.strip())
        if m:
            return int(m.group(1), 16)
        raise FormError("unknown command %r (appendix D)" % name)
    return parse_int(name, "command", 0, 0xFFFF)


def parse_serial(v):
    if v is None:
        return b""
    b = parse_bytes(v, "serial")
    if len(b) > H.SERIAL_SIZE:
        raise FormError("serial is %d bytes, at most 16" % len(b))
    return b


def parse_security(doc):
    if "security" in doc:
        return parse_int(doc["security"], "security", 0, 0xFF)
    flags = doc.get("flags", [])
    if not isinstance(flags, list):
        raise FormError("flags must be a list of names")
    sec = 0
    for f in flags:
        try:
            sec |= H.flag_bit(f)
        except (KeyError, TypeError):
            raise FormError("unknown security flag %r (table A-2: %s)" % (
                f, ", ".join(n for n, _ in H.FLAG_NAMES)))
    return sec


def parse_fields(cmd, fields):
    if fields is None:
        fields = {}
    if not isinstance(fields, dict):
        raise FormError("fields must be an object")
    lay = C.layout(cmd)
    codes = dict(lay)
    allowed = set(codes)
    if cmd == C.FILE_REQ_ACK:
        allowed.add("block")
    out = {}
    for fname, v in fields.items():
        if fname not in allowed:
            raise FormError("%s has no field %r (appendix G: %s)" % (
                C.name(cmd), fname, ", ".join(sorted(allowed)) or "no fixed part"))
        code = codes.get(fname, "s")
        what = "fields.%s" % fname
        if code.endswith("s"):
            out[fname] = parse_bytes(v, what)
        else:
            out[fname] = parse_int(v, what, 0, (1 << (8 * C.field_size(code))) - 1)
    return out


def parse_tlvs(items):
    """[(tag, value, encrypted)] from the JSON list."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise FormError("tlvs must be a list")
    out = []
    for i, e in enumerate(items):
        what = "tlvs[%d]" % i
        if not isinstance(e, dict):
            raise FormError("%s must be an object with tag and value_hex" % what)
        if "tag" not in e:
            raise FormError("%s has no \"tag\"" % what)
        tag = parse_int(e["tag"], what + ".tag", 0, 0xFFFF)
        if "value_hex" not in e:
            if e.get("secret"):
                raise FormError("%s (tag 0x%04X) is a hidden secret without value_hex; "
                                "decode with --show-secrets to get it" % (what, tag))
            raise FormError("%s (tag 0x%04X) has no \"value_hex\"" % (what, tag))
        out.append((tag, parse_hex(e["value_hex"], what + ".value_hex"), bool(e.get("encrypted"))))
    return out


def parse_subpacket(sp):
    if not isinstance(sp, dict):
        raise FormError("subpacket must be an object or null")
    for k in ("trans_id", "total", "index", "data_hex"):
        if k not in sp:
            raise FormError("subpacket has no %r" % k)
    return codec.Subpacket(parse_int(sp["trans_id"], "subpacket.trans_id", 0, 0xFFFF),
                           parse_int(sp["total"], "subpacket.total", 0, 0xFFFF),
                           parse_int(sp["index"], "subpacket.index", 0, 0xFFFF),
                           parse_int(sp.get("op", 0), "subpacket.op", 0, 0xFF),
                           parse_hex(sp["data_hex"], "subpacket.data_hex"),
                           bool(sp.get("encrypted")))


def from_json(doc, profile=P.DEFAULT, bearer=P.BEARER_PACKET, key=None, cipher=None):
    """Bytes of the message described by `doc` (the JSON form of to_json).

    key     digest.DigestKey: append a fresh E021 (any E021 in tlvs is dropped)
    cipher  (alg, key bytes): re-encrypt content that decode showed decrypted
    Without key an E021 in tlvs is kept, last, with bit 0x20 (docs/PROTOCOL.md 3).
    The result is decoded once more so only well-formed messages come out.
    """
    if not isinstance(doc, dict):
        raise FormError("the JSON must be an object (as printed by wmmp decode --json)")
    cmd = parse_command(doc)
    serial = parse_serial(doc.get("serial"))
    version = parse_version(doc.get("version", profile.version))
    seq = parse_int(doc.get("seq", 0), "seq", 0, 0xFFFFFFFF)
    security = parse_security(doc)
    reserved = parse_int(doc.get("reserved", 0), "reserved", 0, 0xFF)   # table A-1, kept as is

    if doc.get("notice"):
        # Header echo of table A-2: the offending header with feedback bits.
        if "total_length" not in doc:
            raise FormError("a notice needs the echoed total_length")
        total = parse_int(doc["total_length"], "total_length", 0, 0xFFFF)
        out = H.Header(cmd, serial, seq, security, version, total, reserved).pack()
        _check(out, profile, bearer)
        return out

    if not C.is_known(cmd):
        raise FormError("command 0x%04X is not in appendix D" % cmd)
    tlvs = parse_tlvs(doc.get("tlvs"))
    digest_value = None
    digests = [i for i, t in enumerate(tlvs) if t[0] == D.DIGEST_TAG]
    if digests:
        if key is None:
            if len(digests) > 1 or digests[0] != len(tlvs) - 1:
                raise FormError("E021 must appear once, as the last TLV (docs/PROTOCOL.md 3)")
            digest_value = tlvs[-1][1]
            if len(digest_value) != D.DIGEST_SIZE:
                raise FormError("E021 must be %d bytes, got %d" % (D.DIGEST_SIZE, len(digest_value)))
        tlvs = [t for t in tlvs if t[0] != D.DIGEST_TAG]

    carriers = [t for t in tlvs if t[0] in CARRIER_TAGS]
    fields = parse_fields(cmd, doc.get("fields"))
    carrier = False
    if carriers:
        if len(tlvs) != 1:
            raise FormError("TLV 0x%04X carries the whole content: it must be the only TLV "
                            "besides E021 (table A-2 bit 0x10)" % carriers[0][0])
        content = T.encode(tlvs[0][0], tlvs[0][1])
        carrier = True
    elif doc.get("subpacket"):
        sp = parse_subpacket(doc["subpacket"])
        content = T.encode(codec.TAG_ENC_SUBPACKET if sp.encrypted else codec.TAG_SUBPACKET,
                           sp.pack())
        carrier = True
    else:
        msg = codec.Message(cmd, fields, [(t, v) for t, v, _ in tlvs], serial, seq, security,
                            version)
        enc_tags = tuple(t for t, _, e in tlvs if e)
        if enc_tags:
            if cipher is None:
                raise FormError("TLVs marked encrypted need the session key (--session-key-file "
                                "or WMMP_SESSION_KEY) and --alg to re-encrypt them into E043 "
                                "(docs/PROTOCOL.md 5)")
            msg.encryption = codec.ENC_PARTIAL
            msg.encrypt_tags = enc_tags
        content = codec.encode_content(msg, cipher, profile)
        if doc.get("encryption") == "full":
            if cipher is None:
                raise FormError("this message was fully encrypted and is shown decrypted: give "
                                "the session key (--session-key-file or WMMP_SESSION_KEY) and "
                                "--alg to re-encrypt it (docs/PROTOCOL.md 5)")
            ci = optional("cipher")
            if ci is None:
                raise FormError("encryption needs wmmp.crypto.cipher, which is not available")
            content = T.encode(codec.TAG_FULL, ci.encrypt(cipher[0], cipher[1], content, profile))
            carrier = True

    security &= ~(H.SEC_DIGEST | H.SEC_FULL_OR_SUBPACKET) & 0xFF
    if carrier:
        security |= H.SEC_FULL_OR_SUBPACKET
    with_digest = key is not None or digest_value is not None
    if with_digest:
        security |= H.SEC_DIGEST
    total = H.HEADER_SIZE + len(content) + (D.DIGEST_TLV_SIZE if with_digest else 0)
    if total > 0xFFFF:
        raise FormError("message would be %d bytes, more than total_length can say" % total)
    buf = bytearray(H.Header(cmd, serial, seq, security, version, total, reserved).pack())
    buf += content
    if key is not None:
        # Same timestamp rule as the decoder: LOGIN_ACK signs with its own CURTIME
        # (appendix G b), known here unless the content is an opaque E042.
        curtime = fields.get("curtime")
        ts = D.timestamp_for(cmd, curtime, key.timestamp)
        digest_value = D.compute(buf, key, ts)
    if digest_value is not None:
        buf += T.encode(D.DIGEST_TAG, digest_value)
    out = bytes(buf)
    _check(out, profile, bearer)
    return out


def _check(out, profile, bearer):
    try:
        codec.decode(out, profile, bearer)
    except WmmpError as e:
        raise FormError("the result would not be a valid message: %s" % e)
