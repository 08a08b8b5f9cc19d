"""The `wmmp` command: read WMMP-T captures (China Mobile M2M protocol) as a readable
dump or as JSON, and turn that JSON back into a message.

    wmmp decode HEX | --file PATH [--binary] [--json] [--bearer sms|packet]
                [--imei I --imsi I --password-file F --timestamp T]
                [--session-key-file F --alg des|3des|aes] [--show-secrets] [--verbose]
    wmmp encode [--file PATH] [--bearer ...] [--imei ... --timestamp T]
                [--session-key-file F --alg ...] [--binary]

The access password and the session key are secrets: on the command line
(--password, --session-key) they show in `ps` to every user of the machine and
stay in the shell history, so each can also come from a file (--password-file,
--session-key-file) or from the environment (WMMP_PASSWORD, WMMP_SESSION_KEY).

Exit status: 0 done; 1 the message decoded but its digest does not verify
(the dump is still printed); 2 bad input or options (one line on stderr).
"""

import argparse
import binascii
import datetime
import json
import os
import re
import sys
import textwrap

from wmmp.wire import codec
from wmmp.wire import commands as C
from wmmp.wire import digest as D
from wmmp.wire import header as H
from wmmp.wire import profile as P
from wmmp.errors import (WmmpError, Truncated, BadLength, UnknownCommand, BadTlv, BadValue,
                         DigestMismatch, DigestMissing, DecryptError, TooLongForBearer,
                         Unsupported, SubpacketError)

from wmmp_tools import __version__
from wmmp_tools import jsonform as J
from wmmp_tools import logfmt

EXIT_OK = 0
EXIT_DIGEST = 1
EXIT_ERROR = 2

BEARERS = {"packet": P.BEARER_PACKET, "sms": P.BEARER_SMS}
ALGS = {"des": 1, "3des": 2, "aes": 3}   # wmmp.crypto.cipher algorithm numbers (= E035 codes)

# Environment variables a secret may come from (instead of the command line).
ENV_PASSWORD = "WMMP_PASSWORD"
ENV_SESSION_KEY = "WMMP_SESSION_KEY"

# Input size limits: a WMMP-T message is at most 65535 bytes (total_length is a
# u16, docs/PROTOCOL.md 1); its hex text, even with "0x.., " separators, and its
# JSON stay far below these.  Larger input is refused before it fills memory.
MAX_BINARY = 0xFFFF
MAX_HEX_TEXT = 1 << 20
MAX_JSON_TEXT = 8 << 20
MAX_SECRET_FILE = 4096

# Table A-2 / docs/PROTOCOL.md 4, one line per security bit.
FLAG_MEANINGS = {
    "supports_encryption": "terminal supports encryption (uplink only)",
    "encryption_enabled": "terminal has encryption enabled (uplink only)",
    "digest": "this message carries an E021 digest",
    "full_or_subpacket": "content travels inside E042 / 0x4008 / E044",
    "prev_digest_failed": "the previous message from the peer failed the digest check",
    "prev_digest_missing": "the previous message from the peer lacked a required digest",
    "prev_decrypt_failed": "the previous message from the peer failed to decrypt",
    "prev_overflow": "the previous message from the peer was too long to process",
}

_ERROR_KINDS = (
    (Truncated, "truncated message"), (BadLength, "bad length"),
    (UnknownCommand, "unknown command"), (BadTlv, "bad TLV"), (BadValue, "bad value"),
    (DigestMismatch, "digest mismatch"), (DigestMissing, "digest missing"),
    (DecryptError, "decryption failed"), (TooLongForBearer, "too long for the bearer"),
    (Unsupported, "unsupported"), (SubpacketError, "bad sub-packet"),
)

HELP = "\n\n".join(__doc__.split("\n\n")[0:3:2])      # what it is, and the secrets

EXIT_HELP = """exit status:
  0  done
  1  the message decoded but its E021 digest does not verify (docs/PROTOCOL.md 3);
     the dump / JSON is still printed
  2  bad input or options: bad hex, odd length, truncated or malformed
     message, unknown command, bad JSON, missing field, wrong option value;
     one line "wmmp: error: ..." on stderr
"""


class UsageError(Exception):
    """Wrong or missing command-line options."""


def _shown(text, limit=40):
    """`text` as an error message may quote it: repr, cut to `limit` characters."""
    t = str(text)
    return repr(t) if len(t) <= limit else repr(t[:limit]) + "..."


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line (main prints them)."""

    def error(self, message):
        raise UsageError(message)


# -- options ---------------------------------------------------------------------

def _timestamp(text):
    """Seconds since 1970 (decimal or 0x hex) or an ISO 8601 time with a zone."""
    t = text.strip()
    try:
        v = int(t, 0)
    except ValueError:
        try:
            d = datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                "%s is neither seconds since 1970 nor an ISO 8601 time" % _shown(text))
        if d.tzinfo is None:
            raise argparse.ArgumentTypeError(
                "%s has no time zone (add Z for UTC or +08:00 for Beijing)" % _shown(text))
        v = int(d.timestamp())
    if not 0 <= v <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError("timestamp %s does not fit 32 bits" % _shown(t))
    return v


def _add_security_options(p):
    g = p.add_argument_group(
        "digest (docs/PROTOCOL.md 3)", textwrap.fill(
        "The password is a secret: give it with --password-file or %s rather than "
        "--password, which other users see in `ps` and the shell keeps in its history. "
        "%s is used when --imei or --imsi is given without --password or "
        "--password-file." % (ENV_PASSWORD, ENV_PASSWORD), 76))
    g.add_argument("--imei", help="terminal IMEI, 15 digits (the old one for REGISTER op 0x02)")
    g.add_argument("--imsi", help="terminal IMSI, 15 digits")
    g.add_argument("--password", help="access password, 8 characters: uplink (E025) for "
                   "terminal-to-platform messages, downlink (E028) for the others "
                   "(seen by other users: prefer --password-file or %s)" % ENV_PASSWORD)
    g.add_argument("--password-file", metavar="PATH",
                   help="read the access password from PATH (its one line, the final "
                   "newline removed)")
    g.add_argument("--timestamp", type=_timestamp,
                   help="CURTIME of the LOGIN_ACK that opened the connection: seconds since "
                   "1970 or ISO 8601 (default 0; REGISTER/LOGIN use 0, LOGIN_ACK its own)")
    g = p.add_argument_group(
        "encryption (docs/PROTOCOL.md 5)", textwrap.fill(
        "The session key is a secret: give it with --session-key-file or %s rather than "
        "--session-key. %s is used when --alg is given without --session-key or "
        "--session-key-file." % (ENV_SESSION_KEY, ENV_SESSION_KEY), 76))
    g.add_argument("--session-key", metavar="KEY",
                   help="session key as text (the E03B value), or hex:... for raw bytes "
                   "(seen by other users: prefer --session-key-file or %s)" % ENV_SESSION_KEY)
    g.add_argument("--session-key-file", metavar="PATH",
                   help="read the session key (text, or hex:...) from PATH")
    g.add_argument("--alg", choices=sorted(ALGS), help="session key algorithm")


def build_parser():
    p = _Parser(prog="wmmp", description=HELP, epilog=EXIT_HELP,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version="wmmp " + __version__)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser(
        "decode", help="show a message as a readable dump or JSON",
        description=textwrap.fill(
            "Decode one WMMP-T message and show its header, fixed part, TLVs and digest "
            "status. Secret values (passwords, PINs, keys) are hidden unless "
            "--show-secrets, also in --json: add --show-secrets when the JSON is to be "
            "encoded again."),
        epilog=EXIT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("hex", nargs="?", metavar="HEX",
                   help="the message in hex; spaces, colons and 0x prefixes are ignored; "
                   "- reads hex from stdin")
    d.add_argument("--file", metavar="PATH", help="read hex text from PATH (- = stdin)")
    d.add_argument("--binary", action="store_true", help="--file holds raw bytes, not hex")
    d.add_argument("--bearer", choices=sorted(BEARERS), default="packet",
                   help="bearer whose limits apply (appendix E a, docs/PROTOCOL.md 9; "
                   "default packet)")
    d.add_argument("--json", action="store_true", help="print JSON (what wmmp encode reads)")
    d.add_argument("--show-secrets", action="store_true",
                   help="show passwords, PINs and keys in clear")
    d.add_argument("-v", "--verbose", action="store_true", help="add tag descriptions")
    _add_security_options(d)
    d.set_defaults(func=cmd_decode)

    e = sub.add_parser(
        "encode", help="turn JSON (as printed by decode --json) into a message",
        description=textwrap.fill(
            "Read the JSON of `wmmp decode --json` (stdin or --file) and print the message "
            "in hex. With --imei, --imsi and the password [--timestamp] a fresh E021 digest is "
            "appended (any E021 in tlvs is dropped); without them an E021 in tlvs is kept "
            "as the last TLV, so decode -> encode gives the same bytes. Content that decode "
            "showed decrypted is encrypted again with the session key and --alg."),
        epilog=EXIT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("--file", metavar="PATH", help="read the JSON from PATH (default stdin)")
    e.add_argument("--bearer", choices=sorted(BEARERS), default="packet",
                   help="bearer whose limits apply (default packet)")
    e.add_argument("--binary", action="store_true", help="write raw bytes instead of hex")
    _add_security_options(e)
    e.set_defaults(func=cmd_encode)
    return p


def read_secret_file(path, option):
    """The one line of a secret file, its final newline removed; its content is
    never shown in a message."""
    if path == "":
        raise UsageError("%s: empty path" % option)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_SECRET_FILE + 1)
    except OSError as e:
        raise UsageError("%s: cannot read %s: %s" % (option, path, e.strerror or e))
    if len(raw) > MAX_SECRET_FILE:
        raise UsageError("%s: %s is longer than %d bytes: not a password or key file"
                         % (option, path, MAX_SECRET_FILE))
    raw = raw.rstrip(b"\r\n")
    if not raw:
        raise UsageError("%s: %s is empty" % (option, path))
    if b"\n" in raw or b"\r" in raw:
        raise UsageError("%s: %s holds more than one line" % (option, path))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("%s: %s is not text" % (option, path))


def _secret(args, name, env, wanted):
    """The secret `name` from --NAME, --NAME-file or (when `wanted`) the
    environment variable `env`; None when none gives it."""
    opt = "--" + name.replace("_", "-")
    value, path = getattr(args, name, None), getattr(args, name + "_file", None)
    if value is not None and path is not None:
        raise UsageError("give %s or %s-file, not both" % (opt, opt))
    if path is not None:
        return read_secret_file(path, opt + "-file")
    if value is not None:
        return value
    if wanted and os.environ.get(env):
        return os.environ[env]
    return None


def resolve_secrets(args):
    """Fill args.password / args.session_key from their files or the environment."""
    args.password = _secret(args, "password", ENV_PASSWORD,
                            args.imei is not None or args.imsi is not None)
    args.session_key = _secret(args, "session_key", ENV_SESSION_KEY, args.alg is not None)


_PASSWORD_FORMS = "--password-file, %s or --password" % ENV_PASSWORD


def digest_key(args):
    """DigestKey from the options, or None when none of them is given."""
    names = ("imei", "imsi", "password")
    given = [n for n in names if getattr(args, n) is not None]
    if not given:
        if args.timestamp is not None:
            raise UsageError("--timestamp needs --imei, --imsi and the password (%s)"
                             % _PASSWORD_FORMS)
        return None
    missing = [("the password (%s)" % _PASSWORD_FORMS) if n == "password" else "--" + n
               for n in names if getattr(args, n) is None]
    if missing:
        raise UsageError("the digest needs --imei, --imsi and the password (missing %s)"
                         % ", ".join(missing))
    return D.DigestKey(args.imei, args.imsi, args.password, args.timestamp or 0)


def session_cipher(args):
    """(algorithm, key bytes) from --session-key (or its file / WMMP_SESSION_KEY)
    and --alg, or None."""
    if args.session_key is None:
        if args.alg is not None:
            raise UsageError("--alg needs --session-key (or --session-key-file, or %s)"
                             % ENV_SESSION_KEY)
        return None
    if args.alg is None:
        raise UsageError("--session-key needs --alg des|3des|aes")
    ci = J.optional("cipher")
    if ci is None:
        raise UsageError("decryption needs wmmp.crypto.cipher, which is not available")
    k = args.session_key
    if k.startswith("hex:"):
        key = J.parse_hex(k[4:], "--session-key")
    else:
        try:
            key = k.encode("ascii")
        except UnicodeEncodeError:
            raise UsageError("--session-key must be ASCII (or hex:...)")
    alg = ALGS[args.alg]
    check = getattr(ci, "check_key", None)
    if check is not None:
        try:
            check(alg, key)
        except WmmpError as e:
            raise UsageError("--session-key does not suit %s: %s" % (args.alg.upper(), e))
    return (alg, key)


# -- input -----------------------------------------------------------------------

def parse_hex_text(text):
    """Message bytes from hex text: whitespace, colons, commas and 0x prefixes ignored."""
    tokens = [t for t in re.split(r"[\s:,]+", text) if t]
    s = "".join(t[2:] if t[:2] in ("0x", "0X") else t for t in tokens)
    bad = re.search(r"[^0-9a-fA-F]", s)
    if bad:
        raise ValueError("bad hex: %r is not a hex digit" % bad.group(0))
    if not s:
        raise ValueError("no hex digits in the input")
    if len(s) % 2:
        raise ValueError("bad hex: odd number of hex digits (%d)" % len(s))
    return binascii.unhexlify(s)


def _read_bytes(path, limit, what):
    """At most `limit` bytes of PATH (- = standard input); ValueError beyond."""
    if path == "":
        raise UsageError("--file: empty path")
    if path == "-":
        if sys.stdin is None:
            raise ValueError("there is no standard input to read")
        stream = getattr(sys.stdin, "buffer", None)
        raw = stream.read(limit + 1) if stream is not None else \
            sys.stdin.read(limit + 1).encode("utf-8", "surrogateescape")
        where = "standard input"
    else:
        with open(path, "rb") as f:
            raw = f.read(limit + 1)
        where = path
    if len(raw) > limit:
        raise ValueError("%s holds more than %d bytes: too large for %s" % (where, limit, what))
    return raw, where


def _read(path, binary):
    """The message input of decode: raw bytes (binary) or hex text."""
    if binary:
        return _read_bytes(path, MAX_BINARY, "a WMMP-T message")[0]
    raw, where = _read_bytes(path, MAX_HEX_TEXT, "the hex of a WMMP-T message")
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("%s is not hex text (use --binary for a raw capture)" % where)


def _read_json(path):
    """The JSON text encode reads (UTF-8)."""
    raw, where = _read_bytes(path, MAX_JSON_TEXT, "the JSON of a WMMP-T message")
    try:
        text = raw.decode("utf-8-sig")
        if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", text):     # never in JSON text
            raise UnicodeDecodeError("utf-8", raw, 0, 1, "control character")
        return text
    except UnicodeDecodeError:
        raise ValueError(
            "%s is not JSON text: wmmp encode reads the JSON that `wmmp decode --json` prints "
            "(for a raw capture: wmmp decode --file PATH --binary --json --show-secrets, then "
            "encode that)" % where)


def read_message(args):
    if args.hex is not None and args.file is not None:
        raise UsageError("give the message as HEX or with --file, not both")
    if args.hex is None and args.file is None:
        raise UsageError("give the message as HEX or with --file PATH (- reads stdin)")
    if args.binary and args.file is None:
        raise UsageError("--binary needs --file")
    if args.file is not None:
        data = _read(args.file, args.binary)
        if args.binary:
            if not data:
                raise ValueError("the file is empty")
            return bytes(data)
        return parse_hex_text(data)
    if args.hex == "-":
        return parse_hex_text(_read("-", False))
    return parse_hex_text(args.hex)


# -- decode ----------------------------------------------------------------------

def _wrap_hex(text, width=64):
    if len(text) <= width or re.search(r"[^0-9a-f]", text):
        return [text]
    return [text[i:i + width] for i in range(0, len(text), width)]


def _serial_text(serial):
    t = J.printable_text(serial)
    s = '"%s"' % t if t is not None else J.hexstr(serial)
    if H.serial_is_unassigned(serial):
        s += ("  (bytes 9..16 are 0x00: not yet assigned, the terminal asks the "
              "platform for a serial; appendix G a, docs/PROTOCOL.md 1)")
    return s


def dump(data, msg, bearer_name, decrypted, show_secrets, verbose, notes, checked=False):
    """Lines of the readable dump."""
    hdr = H.unpack(data)
    out = []

    def row(label, text, pad=18):
        out.append("  %-*s %s" % (pad, label, text))

    out.append("WMMP-T %s (0x%04X), %d bytes, %s bearer" % (msg.name, msg.command, len(data),
                                                          bearer_name))
    out.append("Header (appendix A, table A-1)")
    tl = "%d" % hdr.total_length
    if msg.notice:
        tl += "  (of the echoed message; this notice is %d bytes)" % len(data)
    row("total_length", tl)
    row("serial", _serial_text(msg.serial))
    row("version", "%s (0x%04X)" % (J.version_text(hdr.version), hdr.version))
    row("command", "%s (0x%04X)" % (msg.name, msg.command))
    row("seq", "%d (0x%08X)" % (msg.seq, msg.seq))
    flags = H.flags_set(msg.security)
    row("security", "0x%02X%s" % (msg.security, ": " + ", ".join(flags) if flags else " (no flags)"))
    for f in flags:
        out.append("  %-18s   %s: %s" % ("", f, FLAG_MEANINGS.get(f, "")))
    if hdr.reserved:
        row("reserved", "0x%02X (should be 0x00)" % hdr.reserved)

    if msg.notice:
        out.append("Header echo (table A-2): the peer returns the header of a message it "
                   "could not process, with the result bits set; there is no body")
    if msg.encryption == codec.ENC_FULL and not decrypted:
        out.append("Content fully encrypted (E042, docs/PROTOCOL.md 5): give the session key "
                   "(--session-key-file or %s) and --alg to read the fixed part and TLVs"
                   % ENV_SESSION_KEY)
    elif msg.encryption == codec.ENC_FULL:
        out.append("Content fully encrypted (E042, docs/PROTOCOL.md 5), shown decrypted")
    elif msg.encryption == codec.ENC_PARTIAL:
        out.append("Some TLVs encrypted (E043, docs/PROTOCOL.md 5)%s" % (
            ", shown decrypted" if decrypted else ": give the session key (--session-key-file or "
            "%s) and --alg to read them" % ENV_SESSION_KEY))

    lay = C.layout(msg.command) or ()
    if msg.fields:
        out.append("Fixed part (appendix G)")
        codes = dict(lay)
        for fname, v in msg.fields.items():
            text = J.field_text(msg.command, fname, codes.get(fname), v)
            for i, line in enumerate(_wrap_hex(text)):
                row(fname if i == 0 else "", line)
    elif lay and not msg.notice and msg.subpacket is None and not (
            msg.encryption == codec.ENC_FULL and not decrypted):
        out.append("Fixed part: none")

    if msg.subpacket is not None:
        sp = msg.subpacket
        out.append("Sub-packet (appendix F, docs/PROTOCOL.md 6): %s" % (
            "encrypted, E044" if sp.encrypted else "clear, 0x4008"))
        row("trans_id", "%d (0x%04X)" % (sp.trans_id, sp.trans_id))
        row("index", "%d of %d" % (sp.index, sp.total))
        row("op", "0x%02X (%s)" % (sp.op, J.subpacket_op_text(sp.op)))
        tag = codec.TAG_ENC_SUBPACKET if sp.encrypted else codec.TAG_SUBPACKET
        if J.is_secret(tag) and not show_secrets:
            row("data", "<secret, %d bytes>" % len(sp.data))
        else:
            for i, line in enumerate(_wrap_hex(J.hexstr(sp.data) or "(none)")):
                row("data" if i == 0 else "", line)

    tlvs = J.wire_tlvs(msg)
    if msg.subpacket is not None:
        tlvs = [t for t in tlvs if t[0] not in J.CARRIER_TAGS]
    if tlvs or not msg.notice:
        out.append("TLVs (%d; appendix E)" % len(tlvs) if tlvs else "TLVs: none")
    for tag, v, enc in tlvs:
        text, _, problem = J.render_value(tag, v, show_secrets)
        head = "  0x%04X %s, %d byte%s%s: " % (tag, J.tag_name(tag), len(v), "" if len(v) == 1 else "s",
                                             " [from E043]" if enc else "")
        lines = _wrap_hex(text)
        if len(lines) == 1 and len(head) + len(text) <= 100:
            out.append(head + text)
        else:
            out.append(head.rstrip())
            for line in lines:
                out.append("      " + line)
        if verbose:
            desc = J.tag_description(tag)
            if desc:
                out.append("      # " + desc)
        if problem:
            out.append("      ! " + J.user_text(problem))

    if msg.digest is None:
        status = "none (security bit 0x20 clear)" if not msg.notice else "none"
    elif msg.digest_ok is None and checked:
        status = ("present, not checked: it is keyed with the CURTIME inside the encrypted "
                  "content; give the session key (--session-key-file or %s) and --alg too"
                  % ENV_SESSION_KEY)
    elif msg.digest_ok is None:
        status = ("present, not checked: give --imei, --imsi, the password (--password-file "
                  "or %s) and --timestamp to verify it" % ENV_PASSWORD)
    elif msg.digest_ok:
        status = "OK"
    else:
        status = "DOES NOT VERIFY (wrong IMEI/IMSI/password/timestamp, or altered message)"
    out.append("Digest (E021, docs/PROTOCOL.md 3): " + status)
    for n in notes:
        out.append("Note: " + n)
    return out


def cmd_decode(args):
    resolve_secrets(args)
    data = read_message(args)
    bearer = BEARERS[args.bearer]
    key = digest_key(args)
    cipher = session_cipher(args)
    notes = []
    try:
        msg = codec.decode(data, P.DEFAULT, bearer, key, cipher)
    except DigestMismatch:
        # Raised only when the content would not decrypt AND the digest failed:
        # show the message still encrypted, with the failed digest (exit 1).
        if cipher is None:
            raise
        msg = codec.decode(data, P.DEFAULT, bearer, key, None)
        notes.append("the session key does not decrypt this message")
    decrypted = cipher is not None and not notes and (
        (msg.encryption == codec.ENC_FULL and msg.ciphertext is None)
        or msg.encryption == codec.ENC_PARTIAL)
    if cipher is not None and msg.encryption == codec.ENC_NONE and msg.subpacket is None:
        notes.append("nothing in this message is encrypted")
    if args.json:
        doc = J.to_json(data, msg, args.show_secrets, decrypted)
        doc["bearer"] = args.bearer
        doc["notes"] = notes
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        sys.stdout.write("\n".join(dump(data, msg, args.bearer, decrypted, args.show_secrets,
                                        args.verbose, notes, key is not None)) + "\n")
    if msg.digest_ok is False:
        sys.stderr.write("wmmp: the digest of %s seq %d does not verify\n" % (msg.name, msg.seq))
        return EXIT_DIGEST
    return EXIT_OK


# -- encode ----------------------------------------------------------------------

def cmd_encode(args):
    resolve_secrets(args)
    if args.binary and _isatty(sys.stdout):
        raise UsageError("--binary writes raw bytes: redirect standard output to a file or a pipe")
    if args.file is None and _isatty(sys.stdin):
        sys.stderr.write("wmmp: reading the JSON from the terminal (end it with Ctrl-D; "
                         "or give --file PATH)\n")
    text = _read_json(args.file if args.file is not None else "-")
    if not text.strip():
        raise ValueError("no JSON in the input")
    try:
        doc = json.loads(text)
    except RecursionError:
        raise ValueError("bad JSON: nested too deeply")
    except ValueError as e:
        if re.fullmatch(r"[\s0-9a-fA-FxX:,]+", text):
            raise ValueError("this is hex, not JSON: wmmp encode reads the JSON that "
                             "`wmmp decode --json` prints (wmmp decode HEX --json --show-secrets)")
        raise ValueError("bad JSON: %s" % e)
    out = J.from_json(doc, P.DEFAULT, BEARERS[args.bearer], digest_key(args),
                      session_cipher(args))
    if args.binary:
        sys.stdout.flush()
        sys.stdout.buffer.write(out)
        sys.stdout.flush()
    else:
        sys.stdout.write(J.hexstr(out) + "\n")
    return EXIT_OK


# -- main ------------------------------------------------------------------------

def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


MAX_ERROR = 300        # characters of an error line: a huge value is not echoed whole


def _one_line(text):
    t = J.user_text(" ".join(str(text).split())) or "unknown error"
    return t if len(t) <= MAX_ERROR else t[:MAX_ERROR - 3] + "..."


def _fail(text):
    if sys.stderr is not None:
        sys.stderr.write("wmmp: error: %s\n" % _one_line(text))
    return EXIT_ERROR


def _wmmp_error_text(e):
    kind = "invalid message"
    for cls, name in _ERROR_KINDS:
        if isinstance(e, cls):
            kind = name
            break
    text = "%s: %s" % (kind, e) if str(e) else kind
    h = getattr(e, "header", None)
    if h is not None:
        text += " (in %s seq %d)" % (C.name(h.command), h.seq)
    return text


def main(argv=None):
    """Run the tool; returns the exit status (0, 1 or 2)."""
    with logfmt.setup("wmmp"):          # what the libraries log: the format of every host tool
        return _main(argv)


def _main(argv):
    if sys.stdout is None:
        return _fail("standard output is closed")
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "func", None) is None:
            raise UsageError("choose a command: decode or encode (wmmp --help)")
        rc = args.func(args)
        sys.stdout.flush()
        return rc
    except SystemExit as e:   # --help / --version
        return e.code if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_ERROR)
    except UsageError as e:
        return _fail(e)
    except WmmpError as e:
        return _fail(_wmmp_error_text(e))
    except KeyError as e:
        return _fail("missing key %s" % e)
    except UnicodeError as e:
        return _fail("bad text: %s" % e)
    except RecursionError:
        return _fail("input nested too deeply")
    except MemoryError:
        return _fail("out of memory: the input is too large")
    except ValueError as e:   # also FormError and JSON errors
        return _fail(e)
    except BrokenPipeError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return EXIT_ERROR
    except OSError as e:
        where = getattr(e, "filename", None)
        return _fail("%s: %s" % (where, e.strerror) if where else (e.strerror or e))
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        if os.environ.get("WMMP_TRACEBACK"):
            raise
        return _fail("internal error: %s: %s" % (type(e).__name__, e))


if __name__ == "__main__":
    sys.exit(main())
