"""`wmmp-tech`: the technician's program for a terminal's service console on its
USB serial line (issue 4, "Local manual security reset"; sections 4.4.1.4 and
4.4.4 of the standard; protocol in docs/CONSOLE.md).

    wmmp-tech --port /dev/ttyACM0 status | ident | alarms
    wmmp-tech --port /dev/ttyACM0 [--credential-file F] audit | reset-keys
    wmmp-tech --port /dev/ttyACM0 [--credential-file F] [--puk-file P] reset-sim

The per-device service credential is read from a file or asked for without
echo; it is never taken from the command line, never printed and never sent:
the terminal's CHALLENGE nonce is answered with HMAC-MD5(credential, nonce).

Exit status: 0 done; 1 the terminal refused the reset (state check, SIM); 2 bad
input, wrong credential or lockout, no answer, or the port cannot be opened.
"""
import argparse
import getpass
import hashlib
import hmac
import os
import re
import stat
import sys
import time

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_ERROR = 2

COMMANDS = ("status", "ident", "alarms", "audit", "reset-sim", "reset-keys")
_NEEDS_AUTH = ("audit", "reset-sim", "reset-keys")


class TechError(Exception):
    """A one-line failure: message and exit status."""

    def __init__(self, msg, code=EXIT_ERROR):
        super().__init__(msg)
        self.code = code


def _clean(text):
    """Terminal text safe to print: no control sequences from the line."""
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)


def answer(credential, nonce):
    """HMAC-MD5(credential, nonce) (RFC 2104), the AUTH answer."""
    try:
        return hmac.new(credential, nonce, hashlib.md5).digest()
    except ValueError:                 # a FIPS build refusing MD5: the pure one
        from wmmp import console
        return console.hmac_md5(credential, nonce)


def read_secret_file(path, what):
    """Bytes of a secret file without its trailing newline; never shown."""
    try:
        st = os.stat(path)
        with open(path, "rb") as f:
            data = f.read(4097)
    except OSError as e:
        raise TechError("cannot read the %s file %s: %s" % (what, path, e.strerror or e))
    if len(data) > 4096:
        raise TechError("the %s file %s is too long" % (what, path))
    data = data.rstrip(b"\r\n")
    if not data.strip():
        raise TechError("the %s file %s is empty" % (what, path))
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        print("wmmp-tech: warning: %s is readable by other users (chmod 600 it)" % path, file=sys.stderr)
    return data


def load_credential(path):
    if path:
        return read_secret_file(path, "credential")
    try:
        c = getpass.getpass("service credential: ")
    except (EOFError, KeyboardInterrupt):
        raise TechError("no credential given")
    if not c:
        raise TechError("no credential given")
    return c.encode("utf-8")


def load_puk(path):
    puk = read_secret_file(path, "PUK").strip()
    if len(puk) != 8 or not puk.isdigit():
        raise TechError("the PUK in %s must be 8 digits" % path)
    return puk.decode()


class Link:
    """The console line: send one command, read its reply."""

    def __init__(self, port, baud=115200, timeout=5.0, serial_factory=None):
        import serial
        self.timeout = timeout
        try:
            factory = serial_factory or serial.Serial
            self.ser = factory(port, baudrate=baud, timeout=0.1, write_timeout=timeout)
        except (serial.SerialException, OSError, ValueError) as e:
            raise TechError("cannot open %s: %s" % (port, e))
        self._buf = b""
        # end any half-typed line on the terminal side (an empty line gets no
        # reply), then forget whatever was waiting on our side
        self.ser.write(b"\n")
        self.ser.flush()
        time.sleep(0.05)
        self.ser.reset_input_buffer()

    def close(self):
        try:
            self.ser.close()
        except Exception:
            pass

    def ask(self, line):
        """(data lines, final line) of one command; TechError on no answer."""
        self.ser.write(line.encode("ascii") + b"\n")
        self.ser.flush()
        data = []
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\n" not in self._buf:
                if time.monotonic() > deadline:
                    raise TechError("no answer from the terminal within %g s" % self.timeout)
                chunk = self.ser.read(256)
                self._buf += chunk
                if len(self._buf) > 65536:
                    raise TechError("the terminal sent an overlong line")
            raw, self._buf = self._buf.split(b"\n", 1)
            text = _clean(raw.rstrip(b"\r").decode("ascii", "replace"))
            if text.startswith("* "):
                data.append(text[2:])
            elif text == "OK" or text.startswith("OK ") or text.startswith("ERR "):
                return data, text
            # anything else (boot messages, noise) is not part of the reply


def _fields(final, prefix):
    """key=value tokens of "OK <PREFIX> k=v ..."."""
    words = final.split()[2:]
    out = []
    for w in words:
        k, _, v = w.partition("=")
        out.append((k, v))
    return out


def _err_parts(final):
    """(code, reason) of "ERR <code> <reason>"."""
    parts = final.split(" ", 2)
    return (parts[1] if len(parts) > 1 else "?"), (parts[2] if len(parts) > 2 else "")


def _alarm_names(codes):
    from wmmp_tools import tagnames
    out = []
    for c in codes:
        try:
            n = int(c, 16)
            out.append("%s %s" % (c, tagnames.describe_code("alarm", n)))
        except ValueError:
            out.append(c)
    return out


def _cleared_names(text):
    from wmmp_tools import tagnames
    try:
        bits = int(text, 16)
    except ValueError:
        return text
    names = [tagnames.describe_code("cleared", b) for b in (0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02) if bits & b]
    return "0x%02X%s" % (bits, (" (" + ", ".join(names) + ")") if names else "")


def _show(pairs, out):
    width = max([len(k) for k, _ in pairs] + [1])
    for k, v in pairs:
        print("%-*s  %s" % (width, k, v), file=out)


def _expect_ok(final, word):
    if not final.startswith("OK " + word) and final != "OK":
        code, reason = _err_parts(final)
        raise TechError("terminal refused %s: %s %s" % (word, code, reason))


def do_status(link, out):
    _, final = link.ask("STATUS")
    _expect_ok(final, "STATUS")
    pairs = []
    for k, v in _fields(final, "STATUS"):
        if k == "alarms":
            names = _alarm_names(v.split(",")) if v != "none" else ["none"]
            pairs.append((k, names[0]))
            pairs += [("", n) for n in names[1:]]
        elif k in ("cleared", "cleared_login"):
            pairs.append((k, _cleared_names(v)))
        else:
            pairs.append((k, v))
    _show(pairs, out)


def do_ident(link, out):
    _, final = link.ask("IDENT")
    _expect_ok(final, "IDENT")
    _show(_fields(final, "IDENT"), out)


def do_alarms(link, out):
    _, final = link.ask("ALARMS")
    _expect_ok(final, "ALARMS")
    codes = final.split()[3:]
    if not codes:
        print("no alarms", file=out)
    for line in _alarm_names(codes):
        print(line, file=out)


def authenticate(link, credential):
    _, final = link.ask("CHALLENGE")
    if not final.startswith("OK CHALLENGE "):
        code, reason = _err_parts(final)
        if code == "locked":
            raise TechError("terminal locked after wrong credentials: %s" % reason)
        raise TechError("no challenge from the terminal: %s %s" % (code, reason))
    try:
        nonce = bytes.fromhex(final.split()[2])
    except ValueError:
        raise TechError("the terminal sent a malformed challenge")
    _, final = link.ask("AUTH " + answer(credential, nonce).hex())
    if final.startswith("OK AUTH"):
        return
    code, reason = _err_parts(final)
    if code == "auth":
        raise TechError("wrong credential: %s" % reason)
    if code == "locked":
        raise TechError("terminal locked after wrong credentials: %s" % reason)
    raise TechError("authentication refused: %s %s" % (code, reason))


def do_audit(link, out):
    data, final = link.ask("AUDIT")
    _expect_ok(final, "AUDIT")
    for line in data:
        print(line, file=out)
    print("(%d entries)" % len(data), file=out)


def _reset(link, command, out, what):
    _, final = link.ask(command)
    if not final.startswith("OK RESET"):
        code, reason = _err_parts(final)
        raise TechError("terminal refused the %s reset: %s %s" % (what, code, reason), EXIT_REFUSED)
    pairs = _fields(final, "RESET")[1:]
    shown = [(k, _cleared_names(v) if k == "cleared" else v) for k, v in pairs if v]
    note = " ".join(k for k, v in pairs if not v)
    print("%s reset done%s" % (what, (": " + note) if note else ""), file=out)
    _show(shown, out)


class _Parser(argparse.ArgumentParser):
    """No abbreviated options, and unrecognised arguments are not echoed: a
    credential typed on the command line by mistake must not be printed."""

    def error(self, message):
        if message.startswith("unrecognized arguments"):
            message = "unrecognized arguments (not shown; the credential is read from a file or asked for)"
        message = re.sub(r": '[^']*'", "", message)        # values are never echoed
        super().error(message)


def build_parser():
    p = _Parser(
        prog="wmmp-tech", allow_abbrev=False,
        description="Technician's program for a WMMP terminal's service console (4.4.1.4, 4.4.4).",
        epilog="Exit status: 0 done, 1 the terminal refused the reset, 2 bad input, wrong "
               "credential, lockout or no answer.  The credential is never taken from the command line.")
    p.add_argument("--port", required=True, help="serial port of the terminal (e.g. /dev/ttyACM0)")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each answer")
    p.add_argument("--credential-file", metavar="FILE",
                   help="file holding the terminal's service credential (else asked for, not echoed)")
    p.add_argument("--puk-file", metavar="FILE", help="reset-sim: file holding the SIM's PUK1 (8 digits), "
                                                      "needed when PIN1 is blocked")
    p.add_argument("command", choices=COMMANDS)
    return p


def run(args, out=None):
    out = out or sys.stdout
    puk = load_puk(args.puk_file) if args.puk_file else None
    if puk is not None and args.command != "reset-sim":
        raise TechError("--puk-file is only for reset-sim")
    credential = load_credential(args.credential_file) if args.command in _NEEDS_AUTH else None
    link = Link(args.port, args.baud, args.timeout)
    try:
        if args.command == "status":
            do_status(link, out)
        elif args.command == "ident":
            do_ident(link, out)
        elif args.command == "alarms":
            do_alarms(link, out)
        else:
            authenticate(link, credential)
            try:
                if args.command == "audit":
                    do_audit(link, out)
                elif args.command == "reset-keys":
                    _reset(link, "RESET KEYS", out, "access passwords and base key")
                else:
                    _reset(link, "RESET SIM" + (" " + puk if puk else ""), out, "SIM security")
            finally:
                try:
                    link.ask("BYE")        # end the authorisation at once
                except TechError:
                    pass
    finally:
        link.close()
    return EXIT_OK


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else EXIT_ERROR
    try:
        return run(args)
    except TechError as e:
        print("wmmp-tech: %s" % e, file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        print("wmmp-tech: %s" % (e.strerror or e), file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
