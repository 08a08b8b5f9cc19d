"""Command-line syntax of the emulated modules (ITU-T V.250 as the SIM7600 and
BC95 apply it): split one AT command line into its commands and their
arguments.

    split_commands("E0")                    -> ["E0"]
    split_commands('+CMGF=0;+CNMI=2,1')     -> ["+CMGF=0", "+CNMI=2,1"]
    parse_extended("+CPIN?")                -> ("+CPIN", "read", "")
    split_args('1,"UDP",,,8080')            -> ["1", Quoted("UDP"), None, None, "8080"]
    split_basic("E0V1")                     -> [("E", "0"), ("V", "1")]

Spaces outside quotes are ignored and names are case-insensitive (V.250 5.3);
text inside quotes is kept as written.  Malformed input (an unclosed quote)
gives None: the emulator answers ERROR.
"""

EXEC = "exec"      # AT+CMD
READ = "read"      # AT+CMD?
TEST = "test"      # AT+CMD=?
SET = "set"        # AT+CMD=<args>


class Quoted(str):
    """An argument that was written in double quotes."""


def _strip_spaces(text):
    """Drop spaces outside quotes; None if a quote is left open."""
    out = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == " " and not quoted:
            continue
        out.append(ch)
    return None if quoted else "".join(out)


def split_commands(body):
    """The command line after 'AT' -> list of commands (';' separates them,
    outside quotes).  An empty body gives []; None if malformed."""
    body = _strip_spaces(body)
    if body is None:
        return None
    cmds = []
    cur = []
    quoted = False
    for ch in body:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            cmds.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    cmds.append("".join(cur))
    cmds = [c for c in cmds if c]
    # a basic command followed by an extended one without ';' ("E0+CMEE=1")
    out = []
    for c in cmds:
        if not c.startswith("+") and "+" in c and '"' not in c.split("+", 1)[0]:
            k = c.index("+")
            out.append(c[:k])
            out.append(c[k:])
        else:
            out.append(c)
    return out


def parse_extended(cmd):
    """'+NAME', '+NAME?', '+NAME=?', '+NAME=args' -> (NAME upper-case with '+',
    mode, argument text)."""
    end = 1
    while end < len(cmd) and cmd[end] not in "=?":
        end += 1
    name = cmd[:end].upper()
    rest = cmd[end:]
    if rest == "":
        return name, EXEC, ""
    if rest == "?":
        return name, READ, ""
    if rest == "=?":
        return name, TEST, ""
    if rest.startswith("="):
        return name, SET, rest[1:]
    return name, None, rest


def split_args(text):
    """Comma-separated arguments: Quoted for "..." values, None for empty
    ones, else the text as written.  None if a quote is left open."""
    args = []
    cur = []
    quoted = False
    was_quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            was_quoted = True
            continue
        if ch == "," and not quoted:
            args.append(_arg(cur, was_quoted))
            cur = []
            was_quoted = False
            continue
        cur.append(ch)
    if quoted:
        return None
    args.append(_arg(cur, was_quoted))
    return args


def _arg(chars, was_quoted):
    s = "".join(chars)
    if was_quoted:
        return Quoted(s)
    return s if s else None


def split_basic(cmd):
    """Basic commands 'E0V1', '&F0', 'I' -> [(letter or '&'+letter, digits)];
    None if something else is there."""
    out = []
    i = 0
    n = len(cmd)
    while i < n:
        if cmd[i] == "&":
            if i + 1 >= n:
                return None
            name = "&" + cmd[i + 1].upper()
            i += 2
        else:
            name = cmd[i].upper()
            i += 1
        if not name[-1].isalpha():
            return None
        j = i
        while j < n and cmd[j].isdigit():
            j += 1
        out.append((name, cmd[i:j]))
        i = j
    return out
