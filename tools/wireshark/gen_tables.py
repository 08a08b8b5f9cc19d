"""Write the protocol tables of the Wireshark dissector (tools/wireshark/wmmp.lua)
from the Python tables they mirror, so that the two never drift apart:

    commands      wmmp.wire.commands: appendix D names and every fixed part (appendix G)
    flags         wmmp.wire.header.FLAG_NAMES: the security byte (table A-2)
    tags          wmmp_tools.tagnames (names, descriptions) and wmmp.wire.catalogue
                  (type, length rule, secret flag) of every appendix E tag
    code tables   wmmp_tools.tagnames.CODE_DESCRIPTIONS and the fixed fields / TLVs
                  whose value is such a code (wmmp_tools.jsonform)

The tables go between the BEGIN and END markers of wmmp.lua (one file to install).

    python tools/wireshark/gen_tables.py            rewrite the block
    python tools/wireshark/gen_tables.py --check    exit 1 when the block is out of date
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LUA = os.path.join(HERE, "wmmp.lua")

BEGIN = "-- BEGIN GENERATED TABLES (tools/wireshark/gen_tables.py; do not edit by hand)"
END = "-- END GENERATED TABLES"

try:
    import wmmp.wire.commands  # noqa: F401
    import wmmp_tools.tagnames  # noqa: F401
except ImportError:         # run from a checkout without the package installed
    sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")]

from wmmp.wire import catalogue as CAT      # noqa: E402
from wmmp.wire import codec                 # noqa: E402
from wmmp.wire import commands as C         # noqa: E402
from wmmp.wire import digest as D           # noqa: E402
from wmmp.wire import header as H           # noqa: E402
from wmmp.wire import profile as P          # noqa: E402
from wmmp_tools import cli                  # noqa: E402
from wmmp_tools import jsonform as J        # noqa: E402
from wmmp_tools import tagnames as TN       # noqa: E402


def lua_str(text):
    """A Lua string literal of `text` (UTF-8 bytes; quotes, backslashes and
    control or non-ASCII bytes escaped)."""
    out = ['"']
    for b in str(text).encode("utf-8"):
        c = chr(b)
        if c in '"\\':
            out.append("\\" + c)
        elif 0x20 <= b < 0x7F:
            out.append(c)
        else:
            out.append("\\%03d" % b)
    out.append('"')
    return "".join(out)


def _hex(n, digits=4):
    return "0x%0*X" % (digits, n)


def _commands():
    lines = ["T.commands = {"]
    for cmd in sorted(C.all_commands()):
        lines.append("  [%s] = %s," % (_hex(cmd), lua_str(C.name(cmd))))
    lines.append("}")
    lines.append("-- fixed part of each command, in order: {field name, struct code}")
    lines.append("-- (B, H, I: u8, u16, u32 big-endian; Ns: N bytes); FILE_REQ_ACK is then")
    lines.append("-- followed by block_size bytes of block")
    lines.append("T.layouts = {")
    kinds = {}
    for cmd in sorted(C.all_commands()):
        items = []
        for fname, code in C.layout(cmd):
            if kinds.setdefault(fname, code) != code:
                raise SystemExit("field %s has two codes (%s, %s): the dissector needs one"
                                 % (fname, kinds[fname], code))
            items.append("{%s, %s}" % (lua_str(fname), lua_str(code)))
        lines.append("  [%s] = {%s}," % (_hex(cmd), ", ".join(items)))
    lines.append("}")
    lines.append("T.field_codes = {")
    for fname in sorted(kinds):
        lines.append("  %s = %s," % (fname, lua_str(kinds[fname])))
    lines.append("}")
    lines.append("-- fixed fields whose value is a code of T.codes (appendix G)")
    lines.append("T.field_tables = {")
    for cmd in sorted(C.all_commands()):
        items = []
        for fname, code in C.layout(cmd):
            t = J.field_table(cmd, fname)
            if t is not None:
                items.append("%s = %s" % (fname, lua_str(t)))
        if items:
            lines.append("  [%s] = {%s}," % (_hex(cmd), ", ".join(items)))
    lines.append("}")
    lines.append("T.hex_fields = {%s}" % ", ".join("%s = true" % f for f in J._HEX_FIELDS))
    lines.append("T.date_fields = {%s}" % ", ".join("%s = true" % f for f in J._DATE_FIELDS))
    return lines


def _flags():
    lines = ["-- security byte (table A-2), high bit first: {name, bit, meaning}", "T.flags = {"]
    for fname, bit in H.FLAG_NAMES:
        lines.append("  {%s, %s, %s}," % (lua_str(fname), _hex(bit, 2), lua_str(cli.FLAG_MEANINGS[fname])))
    lines.append("}")
    return lines


def _tags():
    lines = ["-- appendix E tags: {name, type, length kind, n, max count, flags, description}",
             "-- type S string, N number, D date, B binary, T u16 list, 0 none, R reserved;",
             "-- kind = exactly n bytes, < 1..n, * at least n, x a multiple of the unit n",
             "-- (at most `max count` of them, 0: no limit); flags 1 secret, 4 u16 code list",
             "T.tags = {"]
    known = set(CAT.tags())
    for tag in sorted(known | set(TN.NAMES)):
        info = CAT.lookup(tag)
        if info is None:
            ty, kind, n, fl, mc = "?", "?", 0, 0, 0
        else:
            ty, kind, n, fl = chr(info[0]), chr(info[1]), info[2], info[3]
            mc = CAT.max_count(tag) or 0
        lines.append("  [%s] = {%s, %s, %s, %d, %d, %d, %s}," % (
            _hex(tag), lua_str(TN.name(tag)), lua_str(ty), lua_str(kind), n, mc, fl,
            lua_str(J.user_text(TN.describe(tag)))))
    lines.append("}")
    lines.append("-- TLVs whose number is a code of T.codes (appendix E)")
    lines.append("T.tlv_tables = {")
    for tag in sorted(J._TLV_TABLES):
        lines.append("  [%s] = %s," % (_hex(tag), lua_str(J._TLV_TABLES[tag])))
    lines.append("}")
    lines.append("T.command_lists = {%s}" % ", ".join("[%s] = true" % _hex(t) for t in J._COMMAND_LISTS))
    lines.append("T.alarm_lists = {%s}" % ", ".join("[%s] = true" % _hex(t) for t in J._ALARM_LISTS))
    return lines


def _codes():
    lines = ["-- meanings of the codes (wmmp_tools.tagnames.CODE_DESCRIPTIONS)", "T.codes = {"]
    for table in sorted(TN.CODE_DESCRIPTIONS):
        lines.append("  %s = {" % table)
        codes = TN.CODE_DESCRIPTIONS[table]
        for code in sorted(codes):
            lines.append("    [%s] = %s," % (_hex(code, 2 if code < 0x100 else 4),
                                            lua_str(J.user_text(codes[code]))))
        lines.append("  },")
    lines.append("}")
    return lines


def _constants():
    return [
        "T.HEADER_SIZE = %d" % H.HEADER_SIZE,
        "T.TLV_HEADER = 4",
        "T.DIGEST_TAG = %s" % _hex(D.DIGEST_TAG),
        "T.DIGEST_SIZE = %d" % D.DIGEST_SIZE,
        "T.TAG_FULL = %s" % _hex(codec.TAG_FULL),
        "T.TAG_PARTIAL = %s" % _hex(codec.TAG_PARTIAL),
        "T.TAG_SUBPACKET = %s" % _hex(codec.TAG_SUBPACKET),
        "T.TAG_ENC_SUBPACKET = %s" % _hex(codec.TAG_ENC_SUBPACKET),
        "T.SUBPACKET_HEADER = %d" % codec.SUBPACKET_HEADER,
        "T.PACKET_TLV_MAX = %d" % P.PACKET_TLV_MAX,
        "T.SEC_DIGEST = %s" % _hex(H.SEC_DIGEST, 2),
        "T.SEC_FULL_OR_SUBPACKET = %s" % _hex(H.SEC_FULL_OR_SUBPACKET, 2),
        "T.SEC_FEEDBACK = %s" % _hex(H.SEC_FEEDBACK, 2),
        "T.REGISTER = %s" % _hex(C.REGISTER),
        "T.REGISTER_ACK = %s" % _hex(C.REGISTER_ACK),
        "T.LOGIN = %s" % _hex(C.LOGIN),
        "T.LOGIN_ACK = %s" % _hex(C.LOGIN_ACK),
        "T.FILE_REQ_ACK = %s" % _hex(C.FILE_REQ_ACK),
    ]


def render():
    """The generated block, markers included."""
    lines = [BEGIN, "local T = {}"]
    for part in (_constants(), _commands(), _flags(), _tags(), _codes()):
        lines.extend(part)
    lines.append(END)
    return "\n".join(lines) + "\n"


def splice(text, block):
    """`text` with the block between the markers replaced by `block`."""
    start = text.find(BEGIN)
    end = text.find(END)
    if start < 0 or end < start:
        raise SystemExit("%s has no %r ... %r block" % (LUA, BEGIN, END))
    end = text.index("\n", end) + 1
    return text[:start] + block + text[end:]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["--check"]):
        sys.stderr.write("usage: gen_tables.py [--check]\n")
        return 2
    with open(LUA, encoding="utf-8") as f:
        text = f.read()
    new = splice(text, render())
    if argv == ["--check"]:
        if new != text:
            sys.stderr.write("%s: the generated tables are out of date; run "
                             "python tools/wireshark/gen_tables.py\n" % LUA)
            return 1
        return 0
    if new != text:
        with open(LUA, "w", encoding="utf-8") as f:
            f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
