"""`wmmp-tech`: the technician's program for a terminal's service console on its
USB serial line (the local manual security resets of sections 4.4.1.4 and 4.4.4
of the standard; protocol in docs/CONSOLE.md).

    wmmp-tech --port /dev/ttyACM0 status | ident | alarms
    wmmp-tech --port /dev/ttyACM0 [--credential-file F] audit | reset-keys
    wmmp-tech --port /dev/ttyACM0 [--credential-file F] [--puk-file P | --pin-file P] reset-sim
    wmmp-tech credential --master-file M --imei IMEI [--generation N] --out FILE | --show
    wmmp-tech --port /dev/ttyACM0 provision --credential-file F [--cred-id ID]
    wmmp-tech --port /dev/ttyACM0 provision --master-file M [--imei IMEI] [--generation N]
    wmmp-tech --port /dev/ttyACM0 [--credential-file F] rekey --new-credential-file F2 [--cred-id ID]
    wmmp-tech --port /dev/ttyACM0 [--credential-file F] rekey --master-file M [--generation N]
    wmmp-tech --port /dev/ttyACM0 [--credential-file F] get TAG... | set TAG=VALUE...
    wmmp-tech --port /dev/ttyACM0 [--credential-file F] request-config TAG... |
                                                        request-security OP [TAG[=VALUE]...]

`get` and `set` are the local configuration of section 4.3.9.2 (the terminal
reports what was set to the platform with 0x4011); `request-config` and
`request-security` make the terminal ask the platform (CONFIG_REQ, 4.3.9.1;
SECURITY_CONFIG operations 0x04-0x07, 4.4.3.1.3.1).  Tags are names
(HEARTBEAT_PERIOD) or 4 hex digits (0011, 0x0011); values are typed as a
person reads them: numbers (60, 0x3c), IPv4 addresses (10.0.0.1), text
(cmnet), tag lists (APN,HEARTBEAT_PERIOD), "min,max" for the retry gaps,
"udp,tcp" for the port pairs, hex for binary values, or hex:... for any raw value.

Secrets are never taken from the command line (other users see it in `ps`, the
shell keeps it in its history) and never printed (`credential --show` excepted):
    the service credential   --credential-file FILE, else WMMP_CREDENTIAL, else
                             asked for without echo on the terminal (with no
                             terminal to ask on: an error, exit 2)
    rekey's new credential   --new-credential-file FILE, else WMMP_NEW_CREDENTIAL
                             (or derived with --master-file)
    the SIM's PUK1 / PIN1    --puk-file / --pin-file FILE, else WMMP_SIM_PUK /
                             WMMP_SIM_PIN (reset-sim only; one of the two)
    the operator's master    --master-file FILE (mode 0600)
An environment variable is used only when its value is not empty; a file option
given wins over it.  Authentication never sends the credential: the terminal's
CHALLENGE nonce is answered with HMAC-MD5(credential, nonce).  Only `provision`
and `rekey` send a credential, once, to be stored (docs/CONSOLE.md, "Provisioning").

Per-device credentials derive from the operator's master secret:
    credential = hex(HMAC-SHA256(master, "wmmp-service-credential|<IMEI>|<generation>"))[:32]
so the operator keeps one master instead of a credential per terminal, and a
credential that leaks reveals no other terminal's.

Exit status: 0 done; 1 the terminal refused (state check, SIM, provisioning
closed or done, unchanged credential, a setting or request the terminal
cannot take now); 2 bad input (also an unknown tag or a value the terminal
refuses), wrong credential or lockout, no answer, or the port cannot be opened.
"""
import argparse
import getpass
import hashlib
import hmac
import math
import os
import re
import stat
import sys
import time
import warnings

from wmmp_tools import logfmt

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_ERROR = 2

COMMANDS = ("status", "ident", "alarms", "audit", "reset-sim", "reset-keys", "credential", "provision",
            "rekey", "get", "set", "request-config", "request-security")
_CONFIG = ("get", "set", "request-config", "request-security")     # they take ARG words
_NEEDS_AUTH = ("audit", "reset-sim", "reset-keys", "rekey") + _CONFIG

DERIVE_LABEL = b"wmmp-service-credential|"
MASTER_MIN = 16                 # bytes of a master secret, at least
RESET_SIM_WAIT = 30.0           # s RESET SIM may take at least (a modem's SIM answers AT commands slowly)
GENERATION_MAX = 99999
BAUD_MIN, BAUD_MAX = 50, 4000000
TIMEOUT_MAX = 3600.0            # s, --timeout at most
SECRET_MAX = 4096               # bytes of a secret file or variable, at most
ERROR_MAX = 300                 # characters of an error line

# Environment variables a secret may come from (never the command line).
ENV_CREDENTIAL = "WMMP_CREDENTIAL"
ENV_NEW_CREDENTIAL = "WMMP_NEW_CREDENTIAL"
ENV_PUK = "WMMP_SIM_PUK"
ENV_PIN = "WMMP_SIM_PIN"


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
        from wmmp.board import consoleauth as console
        return console.hmac_md5(credential, nonce)


def read_secret_file(path, what, strict=False):
    """Bytes of a secret file without its trailing newline; never shown.
    strict: refuse (not only warn about) a file others may read."""
    try:
        st = os.stat(path)
        with open(path, "rb") as f:
            data = f.read(SECRET_MAX + 1)
    except OSError as e:
        raise TechError("cannot read the %s file %s: %s" % (what, path, e.strerror or e))
    if len(data) > SECRET_MAX:
        raise TechError("the %s file %s is too long" % (what, path))
    data = data.rstrip(b"\r\n")
    if not data.strip():
        raise TechError("the %s file %s is empty" % (what, path))
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        if strict:
            raise TechError("the %s file %s is readable by other users: chmod 600 it" % (what, path))
        print("wmmp-tech: warning: %s is readable by other users (chmod 600 it)" % path, file=sys.stderr)
    return data


def env_secret(name):
    """Bytes of the environment variable `name` without a final newline; None
    when it is unset or empty.  Its value is never shown."""
    environb = getattr(os, "environb", None)
    if environb is not None:
        value = environb.get(name.encode())
    else:
        value = os.environ.get(name)
        value = value.encode("utf-8", "surrogateescape") if value is not None else None
    if value is None:
        return None
    value = value.rstrip(b"\r\n")
    if not value.strip():
        return None
    if len(value) > SECRET_MAX:
        raise TechError("%s is longer than %d bytes" % (name, SECRET_MAX))
    return value


def _secret(path, env, what):
    """(bytes, where) of a secret from its file when `path` is given, else from
    the environment variable `env`; (None, None) when neither has it."""
    if path:
        return read_secret_file(path, what), path
    value = env_secret(env)
    return (value, env) if value is not None else (None, None)


NO_TERMINAL = ("no service credential: there is no terminal to ask for it on; give it with "
               "--credential-file FILE or in the environment variable %s" % ENV_CREDENTIAL)


def ask_secret(prompt):
    """A secret typed on the terminal without echo; TechError when there is no
    terminal that can hide it (getpass would read it in clear from stdin)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", getpass.GetPassWarning)
        try:
            return getpass.getpass(prompt)
        except getpass.GetPassWarning:
            raise TechError(NO_TERMINAL)
        except (EOFError, KeyboardInterrupt):
            raise TechError("no credential given")


def _canonical(cred):
    """A credential of 32 hex digits is used as the terminal stores it (lowercase);
    any other byte string as it is."""
    from wmmp.board import consoleauth as console
    try:
        value, _ = console.parse_credential(cred.decode("ascii"))
    except UnicodeError:
        value = None
    return value or cred


def load_credential(path, prompt="service credential: "):
    """The terminal's current service credential: --credential-file, else
    WMMP_CREDENTIAL, else asked for on the terminal."""
    data, _ = _secret(path, ENV_CREDENTIAL, "credential")
    if data is not None:
        return _canonical(data)
    c = ask_secret(prompt)
    if not c:
        raise TechError("no credential given")
    if len(c) > SECRET_MAX:
        raise TechError("the credential typed is longer than %d characters" % SECRET_MAX)
    return _canonical(c.encode("utf-8", "surrogateescape"))


def load_new_credential(path, env=ENV_NEW_CREDENTIAL):
    """A credential to be stored on a terminal, from the file `path` (else the
    environment variable `env`): 32 hex digits, not a placeholder."""
    from wmmp.board import consoleauth as console
    data, where = _secret(path, env, "credential")
    if data is None:
        raise TechError("no credential: give a credential file or set %s" % env)
    try:
        value, problem = console.parse_credential(data.strip().decode("ascii"))
    except UnicodeError:
        value, problem = None, "hex"
    if problem == "weak":
        raise TechError("the credential in %s looks like a placeholder (fewer than %d different digits)" % (
            where, console.CRED_MIN_DIGITS))
    if value is None:
        raise TechError("the credential in %s is not %d hex digits" % (where, console.CRED_HEX))
    return value


def load_master(path):
    """The operator's master secret: the file's bytes without the final newline,
    at least MASTER_MIN of them, in a file only its owner can read."""
    master = read_secret_file(path, "master", strict=True)
    if len(master) < MASTER_MIN:
        raise TechError("the master file %s holds fewer than %d bytes" % (path, MASTER_MIN))
    return master


def check_imei(imei):
    """15 digits, else TechError; a failed check digit (Luhn) only warns."""
    if len(imei) != 15 or not imei.isdigit() or not imei.isascii():
        raise TechError("an IMEI is 15 digits")
    total = 0
    for i, ch in enumerate(reversed(imei)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    if total % 10:
        print("wmmp-tech: warning: IMEI %s fails its check digit (Luhn): check it" % imei, file=sys.stderr)
    return imei


def derive_credential(master, imei, generation=1):
    """The per-device service credential (32 lowercase hex digits, as bytes):
    the first 128 bits of HMAC-SHA256(master, "wmmp-service-credential|<IMEI>|<generation>")."""
    msg = DERIVE_LABEL + imei.encode("ascii") + b"|" + str(generation).encode("ascii")
    return hmac.new(master, msg, hashlib.sha256).hexdigest()[:32].encode("ascii")


def credential_id(imei, generation):
    """The non-secret id stored next to a derived credential (IDENT cred_id=)."""
    return "%s/%d" % (imei, generation)


def write_secret_file(path, data):
    """Create `path` (it must not exist; a symlink is not followed) with mode 0600."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise TechError("%s exists: not overwritten" % path)
    except OSError as e:
        raise TechError("cannot create %s: %s" % (path, e.strerror or e))
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as e:
        os.close(fd)
        os.unlink(path)                     # no half-written credential left behind
        raise TechError("cannot write %s: %s" % (path, e.strerror or e))
    os.close(fd)


def load_puk(path, env=ENV_PUK):
    """The SIM's PUK1 (8 digits) from a file (else the environment variable
    `env`); None when neither gives it."""
    puk, where = _secret(path, env, "PUK")
    if puk is None:
        return None
    puk = puk.strip()
    if len(puk) != 8 or not puk.isdigit() or not puk.isascii():
        raise TechError("the PUK in %s must be 8 digits" % where)
    return puk.decode()


def load_pin(path, env=ENV_PIN):
    """The SIM's PIN1 (4-8 digits) from a file (else the environment variable
    `env`): RESET SIM PIN1 when the card asks for it and the terminal's stored
    PIN1 was refused or is missing.  None when neither gives it."""
    pin, where = _secret(path, env, "PIN")
    if pin is None:
        return None
    pin = pin.strip()
    if not 4 <= len(pin) <= 8 or not pin.isdigit() or not pin.isascii():
        raise TechError("the PIN1 in %s must be 4 to 8 digits" % where)
    return pin.decode()


def command_name(line):
    """The name of a console command, never its arguments (AUTH, PROVISION and
    REKEY carry secrets): STATUS, RESET SIM, REQUEST CONFIG, ..."""
    words = line.split()
    if not words:
        return "an empty line"
    if words[0] in ("RESET", "REQUEST") and len(words) > 1:
        return " ".join(words[:2])
    return words[0]


class Link:
    """The console line: send one command, read its reply."""

    def __init__(self, port, baud=115200, timeout=5.0, serial_factory=None):
        import serial
        self.timeout = timeout
        if os.path.isdir(port):
            raise TechError("cannot open %s: it is a directory, not a serial port" % port)
        try:
            factory = serial_factory or serial.Serial
            self.ser = factory(port, baudrate=baud, timeout=0.1, write_timeout=timeout)
        except (serial.SerialException, OSError, ValueError, OverflowError) as e:
            text = " ".join(str(e).split())
            if getattr(e, "errno", None) == 25 or "Inappropriate ioctl" in text:
                text = "not a serial port"
            raise TechError("cannot open %s: %s" % (port, _clean(text)))
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

    def _read_line(self, deadline, timeout):
        while b"\n" not in self._buf:
            if time.monotonic() > deadline:
                raise TechError("no answer from the terminal within %g s" % timeout)
            chunk = self.ser.read(256)
            self._buf += chunk
            if len(self._buf) > 65536:
                raise TechError("the terminal sent an overlong line")

    def ask(self, line, timeout=None):
        """(data lines, final line) of one command; TechError on no answer
        within `timeout` s (default: the link's)."""
        timeout = self.timeout if timeout is None else timeout
        self.ser.write(line.encode("ascii") + b"\n")
        self.ser.flush()
        data = []
        deadline = time.monotonic() + timeout
        what = "the terminal's answer to %s" % command_name(line)
        while True:
            if b"\n" not in self._buf:
                with logfmt.waiting(what, deadline - time.monotonic(), prog="wmmp-tech"):
                    self._read_line(deadline, timeout)
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


_RESET_HINTS = {
    "need_puk": " (give the card's PUK1 with --puk-file or %s)" % ENV_PUK,
    "need_pin": " (give the card's PIN1 with --pin-file or %s)" % ENV_PIN,
}


def _reset(link, command, out, what, timeout=None, hints=None):
    _, final = link.ask(command, timeout)
    if not final.startswith("OK RESET"):
        code, reason = _err_parts(final)
        raise TechError("terminal refused the %s reset: %s %s%s" % (
            what, code, reason, (hints or {}).get(code, "")), EXIT_REFUSED)
    pairs = _fields(final, "RESET")[1:]
    shown = [(k, _cleared_names(v) if k == "cleared" else v) for k, v in pairs if v]
    note = " ".join(k for k, v in pairs if not v)
    print("%s reset done%s" % (what, (": " + note) if note else ""), file=out)
    _show(shown, out)


# -- credentials: derivation, provisioning, rotation -------------------------------

_CLOSED = {
    "provisioned": "the terminal already has a service credential (rekey replaces it after authentication)",
    "closed-stored": "the terminal already has a service credential (rekey replaces it after authentication)",
    "closed-switch": "provisioning is off in the terminal's firmware (factory switch)",
    "closed-registered": "the terminal has registered: provisioning only before its first registration",
    "closed-window": "the provisioning window after boot is over (power-cycle it and provision at once)",
}


def do_credential(args, out):
    """Derive a terminal's credential from the master secret; write it to a 0600
    file, or print it only when --show asks for it."""
    if not args.out and not args.show:
        raise TechError("credential: give --out FILE (or --show to print the credential)")
    check_imei(args.imei)
    master = load_master(args.master_file)
    cred = derive_credential(master, args.imei, args.generation)
    cid = credential_id(args.imei, args.generation)
    if args.out:
        write_secret_file(args.out, cred + b"\n")
    if args.show:
        print(cred.decode(), file=out)
    else:
        print("service credential %s written to %s (mode 0600)" % (cid, args.out), file=out)


def _ident(link):
    _, final = link.ask("IDENT")
    _expect_ok(final, "IDENT")
    return dict(_fields(final, "IDENT"))


def _status(link):
    _, final = link.ask("STATUS")
    _expect_ok(final, "STATUS")
    return dict(_fields(final, "STATUS"))


def _terminal_imei(link, expected=None):
    imei = _ident(link).get("imei", "-")
    if imei == "-" or len(imei) != 15 or not imei.isdigit():
        raise TechError("the terminal reports no IMEI (modem not ready?): nothing sent")
    if expected is not None and expected != imei:
        raise TechError("the terminal's IMEI is %s, not %s: nothing sent" % (imei, expected))
    return imei


def _verify(link, cred, what):
    """Authenticate with the credential just stored (proves the terminal holds
    exactly it), then BYE."""
    try:
        authenticate(link, cred)
    except TechError as e:
        raise TechError("%s, but it did not verify: %s" % (what, e))
    finally:
        _bye(link)


def _bye(link):
    try:
        link.ask("BYE")                 # end the authorisation at once
    except TechError:
        pass


def do_provision(link, args, master, new, out):
    """PROVISION the credential from --credential-file (`new`) or derived from
    `master` and the IMEI the terminal reports, then verify it."""
    if master is not None:
        imei = _terminal_imei(link, args.imei)
        new = derive_credential(master, imei, args.generation)
        cid = credential_id(imei, args.generation)
    else:
        cid = args.cred_id
    # the credential goes over the line only when the terminal will store it
    prov = _status(link).get("provisioning", "?")
    if prov != "open":
        raise TechError("terminal refused provisioning: %s" % _CLOSED.get(
            prov, "it does not offer provisioning (provisioning=%s)" % prov), EXIT_REFUSED)
    _, final = link.ask("PROVISION " + new.decode() + (" " + cid if cid else ""))
    if not final.startswith("OK PROVISION"):
        code, reason = _err_parts(final)
        raise TechError("terminal refused provisioning: %s %s" % (code, reason),
                        EXIT_REFUSED if code in ("provisioned", "provision_closed") else EXIT_ERROR)
    _verify(link, new, "the credential was stored")
    print("service credential provisioned (id %s) and verified by challenge-response" % (cid or "-"),
          file=out)


def _next_generation(link, imei):
    """The generation after the one the terminal's cred_id names for this IMEI;
    1 when its credential was derived for another IMEI (a replaced modem)."""
    cid = _ident(link).get("cred_id", "-")
    owner, _, gen = cid.partition("/")
    if owner.isdigit() and len(owner) == 15 and gen.isdigit() and len(gen) <= 5:
        return int(gen) + 1 if owner == imei else 1
    raise TechError("the terminal's credential id is %s: give --generation" % cid)


def do_rekey(link, args, old, master, new, out):
    """Authenticate with the current credential, REKEY to the one from
    --new-credential-file (`new`) or derived from `master` (next generation),
    then verify the new one."""
    if master is not None:
        imei = _terminal_imei(link)
        gen = args.generation if args.generation_given else _next_generation(link, imei)
        if not 1 <= gen <= GENERATION_MAX:
            raise TechError("generation %d is out of range" % gen)
        new = derive_credential(master, imei, gen)
        cid = credential_id(imei, gen)
    else:
        cid = args.cred_id
    authenticate(link, old)
    try:
        _, final = link.ask("REKEY " + new.decode() + (" " + cid if cid else ""))
        if not final.startswith("OK REKEY"):
            code, reason = _err_parts(final)
            raise TechError("terminal refused the new credential: %s %s" % (code, reason),
                            EXIT_REFUSED if code == "unchanged" else EXIT_ERROR)
    except TechError:
        _bye(link)
        raise
    _verify(link, new, "the credential was replaced")
    print("service credential replaced (id %s) and verified by challenge-response" % (cid or "-"), file=out)


# -- local configuration (4.3.9.2) and requests to the platform (4.3.9.1, 4.4.3.1.3.1) --

_IP_TAGS = (0x0009, 0x000D, 0x0010, 0x0014)
_PORT_TAGS = (0x000A, 0x000E)           # u32: UDP port << 16 | TCP port
_PAIR_TAGS = (0x002A, 0x002B)           # two u32: min, max (s)
SECURITY_OPS = {"report": 0x04, "request-update-clear": 0x05, "request-update-encrypted": 0x06,
                "request-enable": 0x07}
_REFUSED = ("not_ready", "not_online", "storage")     # the terminal cannot take it now: exit 1


def tag_label(tag):
    from wmmp_tools import tagnames
    return "%s (0x%04X)" % (tagnames.name(tag), tag)


def parse_tag(text):
    """A tag from its name (HEARTBEAT_PERIOD, any case), 4 hex digits (0011) or
    0x and hex (0x0011, 0x11); TechError otherwise."""
    from wmmp_tools import tagnames
    t = text.strip()
    names = {n.upper(): tag for tag, n in tagnames.NAMES.items()}
    if t.upper() in names:
        return names[t.upper()]
    h = t[2:] if t[:2] in ("0x", "0X") else t
    if (len(h) == 4 or (h is not t and 1 <= len(h) <= 4)) and all(c in "0123456789abcdefABCDEF" for c in h) \
            and int(h, 16):
        return int(h, 16)
    raise TechError("unknown tag %s (a name like HEARTBEAT_PERIOD or 4 hex digits like 0011)" % _clean(t[:40]))


def _number(text, what):
    """A number typed in decimal (leading zeros allowed) or 0x hex, at least 0."""
    t = text.strip()
    try:
        if not t.isascii() or "_" in t:       # no other scripts' digits, no 1_000
            raise ValueError(t)
        n = int(t, 10) if t.isdigit() else int(t, 0)
    except ValueError:
        raise TechError("%s: expected a number" % what)
    if n < 0:
        raise TechError("%s: expected a number of at least 0" % what)
    return n


def parse_value(tag, text):
    """TLV value bytes for `tag` from what a person types (see the module
    docstring), checked against the appendix E catalogue; TechError (never
    showing the value) when it does not fit."""
    from wmmp.wire import catalogue as CAT
    from wmmp.errors import BadTlv, WmmpError
    what = "bad value for %s" % tag_label(tag)
    info = CAT.lookup(tag)
    ty, kind = (info[0], info[1]) if info else (None, None)
    if ty in (CAT.T_NONE, CAT.T_RESERVED):
        raise TechError("%s takes no value" % tag_label(tag))
    try:
        raw = text[:4].lower() == "hex:"
        if raw or (ty == CAT.T_BIN and not (tag in _PAIR_TAGS and "," in text)):
            try:
                value = bytes.fromhex(text[4:] if raw else text)
            except ValueError:
                raise TechError("%s: expected %shex digits" % (what, "min,max in seconds (e.g. 10,300) or "
                                                           if tag in _PAIR_TAGS else ""))
        elif tag in _IP_TAGS and text.count(".") == 3:
            parts = text.split(".")
            if not all(x.isdigit() and x.isascii() and len(x) <= 3 and int(x) <= 255 for x in parts):
                raise TechError("%s: expected an IPv4 address like 10.0.0.1" % what)
            value = bytes(int(x) for x in parts)
        elif (tag in _PORT_TAGS or tag in _PAIR_TAGS) and "," in text:
            a, _, b = text.partition(",")
            a, b = _number(a, what), _number(b, what)
            if tag in _PORT_TAGS:
                if a > 0xFFFF or b > 0xFFFF:
                    raise TechError("%s: ports are 0 to 65535" % what)
                value = CAT.encode_value(tag, (a << 16) | b)
            else:
                if a > 0xFFFFFFFF or b > 0xFFFFFFFF:
                    raise TechError("%s: out of range" % what)
                value = a.to_bytes(4, "big") + b.to_bytes(4, "big")
        elif ty in (CAT.T_NUM, CAT.T_DATE) and kind == CAT.L_FIXED:
            value = CAT.encode_value(tag, _number(text, what))
        elif ty == CAT.T_TAGS:
            value = CAT.encode_value(tag, [parse_tag(x) for x in text.replace(" ", ",").split(",") if x])
        else:
            try:
                value = CAT.encode_value(tag, text.encode("ascii"))
            except UnicodeEncodeError:
                raise TechError("%s: expected ASCII text (or hex:...)" % what)
        if not value:
            raise TechError("%s: empty" % what)
        if info is not None:
            CAT.validate(tag, value)
    except BadTlv:
        raise TechError("%s: wrong length for this tag" % what)
    except WmmpError:
        raise TechError("%s: not a value the standard allows (appendix E)" % what)
    return value


def _not_secret(tag):
    from wmmp.wire import catalogue as CAT
    if CAT.is_secret(tag):
        raise TechError("%s is a secret: it is never set from the console (the platform's security "
                        "procedures, reset-keys or reset-sim change it)" % tag_label(tag))


def parse_items(cmd, items):
    """The console line of a configuration command from its ARG words (each
    checked, nothing sent yet), e.g. "SET 0011=0000003c"."""
    if not items:
        raise TechError("%s needs %s" % (cmd, {"set": "TAG=VALUE ...", "request-security": "OP"}.get(
            cmd, "TAG ...")))
    if cmd == "request-security":
        op = items[0].strip().lower()
        op = SECURITY_OPS.get(op) if op in SECURITY_OPS else _number(op, "operation") if op[:1].isdigit() \
            else None
        if op not in SECURITY_OPS.values():
            raise TechError("request-security: OP is one of %s or 4-7" % ", ".join(SECURITY_OPS))
        words = []
        for item in items[1:]:
            name, eq, text = item.partition("=")
            tag = parse_tag(name)
            if eq:
                _not_secret(tag)
                words.append("%04X=%s" % (tag, parse_value(tag, text).hex()))
            else:
                words.append("%04X" % tag)
        return " ".join(["REQUEST SECURITY %02X" % op] + words)
    words = []
    for item in items:
        name, eq, text = item.partition("=")
        if (cmd == "set") != bool(eq):
            raise TechError("set takes TAG=VALUE words" if cmd == "set" else "%s takes TAG words" % cmd)
        tag = parse_tag(name)
        if eq:
            _not_secret(tag)
            words.append("%04X=%s" % (tag, parse_value(tag, text).hex()))
        else:
            words.append("%04X" % tag)
    head = {"get": "GET", "set": "SET", "request-config": "REQUEST CONFIG"}[cmd]
    return " ".join([head] + words)


def _config_refused(final, what):
    code, reason = _err_parts(final)
    raise TechError("terminal refused %s: %s %s" % (what, code, reason),
                    EXIT_REFUSED if code in _REFUSED else EXIT_ERROR)


def render(tag, text):
    """A GET value as a person reads it: "***" hidden, "-" none kept, else hex."""
    from wmmp_tools import jsonform
    if text == "***":
        return "(hidden: secret or security parameter)"
    if text == "-":
        return "(not set)"
    try:
        value = bytes.fromhex(text)
    except ValueError:
        return _clean(text)
    shown, _, problem = jsonform.render_value(tag, value)
    return shown + (" [%s]" % problem if problem else "")


def do_get(link, line, out):
    _, final = link.ask(line)
    if not final.startswith("OK GET "):
        _config_refused(final, "GET")
    pairs = []
    for k, v in _fields(final, "GET"):
        try:
            tag = int(k, 16)
        except ValueError:
            continue
        pairs.append((tag_label(tag), render(tag, v)))
    _show(pairs, out)


_SET_NOTES = {
    "applied=now": "applied",
    "applied=after-logout": "the terminal logs out (reason 0x03), applies it and restarts",
    "report=now": "the platform was told (CONFIG_TRAP 0x4011)",
    "report=next-login": "the platform is told (0x4011) after the next login",
    "link=next-restart": "connection settings take effect when the terminal restarts next",
}


def do_set(link, line, out):
    _, final = link.ask(line)
    if not final.startswith("OK SET "):
        _config_refused(final, "the setting")
    for word in line.split()[1:]:
        tag, _, hx = word.partition("=")
        tag = int(tag, 16)
        print("%s = %s" % (tag_label(tag), render(tag, hx)), file=out)
    notes = [_SET_NOTES[w] for w in final.split()[2:] if w in _SET_NOTES]
    print("; ".join(notes) or final[3:], file=out)


def do_request(link, line, out):
    _, final = link.ask(line)
    if not final.startswith("OK REQUEST "):
        _config_refused(final, "the request")
    fields = dict(_fields(final, "REQUEST")[1:])
    what = "CONFIG_REQ"
    if line.split()[1] == "SECURITY":
        op = int(line.split()[2], 16)
        names = [n for n, v in SECURITY_OPS.items() if v == op]
        what = "SECURITY_CONFIG operation 0x%02X (%s)" % (op, names[0] if names else "?")
    print("%s sent to the platform (seq %s); the terminal acts on its answer%s" % (
        what, fields.get("seq", "-"), " (see get)" if what == "CONFIG_REQ" else ""), file=out)


class _Parser(argparse.ArgumentParser):
    """No abbreviated options, and unrecognised arguments are not echoed: a
    credential typed on the command line by mistake must not be printed.
    An error is one line on stderr, exit 2."""

    def error(self, message):
        if message.startswith("unrecognized arguments"):
            message = ("unrecognized arguments (not shown; secrets are read from files or the "
                       "environment, or asked for)")
        message = re.sub(r": '[^']*'", "", message)        # values are never echoed
        self.exit(EXIT_ERROR, "wmmp-tech: error: %s (wmmp-tech --help)\n" % _clean(" ".join(message.split())))


def build_parser():
    p = _Parser(
        prog="wmmp-tech", allow_abbrev=False,
        description="Technician's program for a WMMP terminal's service console (4.4.1.4, 4.4.4; "
                    "local configuration 4.3.9.2), and the provisioning of its per-device service "
                    "credential (docs/CONSOLE.md).",
        epilog="Secrets are never taken from the command line (other users see it in ps, the shell "
               "keeps it in its history): each comes from a file option or, when that is not given, "
               "from an environment variable (%s, %s, %s, %s); the current credential is "
               "otherwise asked for without echo, which needs a terminal.  "
               "Exit status: 0 done, 1 the terminal refused (the reset, provisioning, an unchanged "
               "credential, a setting or request it cannot take now), 2 bad input (also an unknown tag "
               "or a bad value, a missing secret), wrong credential, lockout or no answer."
               % (ENV_CREDENTIAL, ENV_NEW_CREDENTIAL, ENV_PUK, ENV_PIN))
    p.add_argument("--port", help="serial port of the terminal (e.g. /dev/ttyACM0); every command but "
                                  "credential needs it")
    p.add_argument("--baud", type=int, default=115200,
                   help="serial speed, %d to %d (default 115200)" % (BAUD_MIN, BAUD_MAX))
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for each answer, more than 0 and at most %d (default 5)"
                        % TIMEOUT_MAX)
    p.add_argument("--credential-file", metavar="FILE",
                   help="file holding the terminal's service credential; else the environment "
                        "variable %s; else asked for on the terminal, not echoed (provision: the "
                        "credential to store)" % ENV_CREDENTIAL)
    p.add_argument("--puk-file", metavar="FILE", help="reset-sim: file holding the SIM's PUK1 (8 digits), "
                                                      "needed when PIN1 is blocked; else %s" % ENV_PUK)
    p.add_argument("--pin-file", metavar="FILE", help="reset-sim: file holding the SIM's PIN1 (4-8 digits), "
                                                      "needed when the card asks for PIN1 and the terminal's "
                                                      "stored PIN1 was refused or is missing; else %s"
                                                      % ENV_PIN)
    p.add_argument("--master-file", metavar="FILE",
                   help="credential, provision, rekey: file holding the operator's master secret "
                        "(mode 0600, at least %d bytes)" % MASTER_MIN)
    p.add_argument("--imei", help="credential: the terminal's IMEI (15 digits); provision: checked "
                                  "against the IMEI the terminal reports")
    p.add_argument("--generation", type=int, metavar="N",
                   help="with --master-file: credential generation (default 1; rekey: the one after "
                        "the terminal's cred_id)")
    p.add_argument("--out", metavar="FILE", help="credential: write it to this new file (mode 0600)")
    p.add_argument("--show", action="store_true", help="credential: print it on standard output")
    p.add_argument("--new-credential-file", metavar="FILE",
                   help="rekey: file holding the new credential (32 hex digits); else %s"
                        % ENV_NEW_CREDENTIAL)
    p.add_argument("--cred-id", metavar="ID",
                   help="provision/rekey with a credential file: its non-secret id (e.g. <IMEI>/<generation>)")
    p.add_argument("command", choices=COMMANDS)
    p.add_argument("items", nargs="*", metavar="ARG",
                   help="get: TAG ...; set: TAG=VALUE ...; request-config: TAG ...; request-security: "
                        "OP [TAG[=VALUE] ...] (OP: %s or 4-7)" % ", ".join(SECURITY_OPS))
    return p


def check_args(args):
    """Options that do not fit the command: TechError before anything is read or sent."""
    from wmmp.board import consoleauth as console
    cmd = args.command
    for opt in ("port", "credential_file", "puk_file", "pin_file", "master_file", "imei", "out",
                "new_credential_file", "cred_id"):
        if getattr(args, opt) == "":
            raise TechError("--%s is empty" % opt.replace("_", "-"))
    if not BAUD_MIN <= args.baud <= BAUD_MAX:
        raise TechError("--baud is %d to %d" % (BAUD_MIN, BAUD_MAX))
    if not (math.isfinite(args.timeout) and 0 < args.timeout <= TIMEOUT_MAX):
        raise TechError("--timeout is a number of seconds more than 0 and at most %d" % TIMEOUT_MAX)
    args.generation_given = args.generation is not None
    if args.generation is None:
        args.generation = 1
    def only(opt, value, cmds):
        if value and cmd not in cmds:
            raise TechError("%s is only for %s" % (opt, " and ".join(cmds)))
    only("--puk-file", args.puk_file, ("reset-sim",))
    only("--pin-file", args.pin_file, ("reset-sim",))
    if args.puk_file and args.pin_file:
        raise TechError("--puk-file and --pin-file do not go together: the card needs one or the other")
    only("--master-file", args.master_file, ("credential", "provision", "rekey"))
    only("--imei", args.imei, ("credential", "provision"))
    only("--out", args.out, ("credential",))
    only("--show", args.show, ("credential",))
    only("--new-credential-file", args.new_credential_file, ("rekey",))
    only("--cred-id", args.cred_id, ("provision", "rekey"))
    if args.generation_given and not args.master_file:
        raise TechError("--generation goes with --master-file")
    if not 1 <= args.generation <= GENERATION_MAX:
        raise TechError("--generation is 1 to %d" % GENERATION_MAX)
    if args.cred_id and not console.valid_id(args.cred_id):
        raise TechError("--cred-id: 1-%d characters of A-Z a-z 0-9 . _ : / -" % console.ID_MAX)
    if getattr(args, "items", None) and cmd not in _CONFIG:
        raise TechError("%s takes no further arguments (not shown)" % cmd)
    if cmd == "credential":
        if not args.master_file or not args.imei:
            raise TechError("credential needs --master-file and --imei")
        return
    if not args.port:
        raise TechError("%s needs --port" % cmd)
    if cmd == "provision":
        if args.master_file and args.credential_file:
            raise TechError("provision needs --credential-file or --master-file (one of them, not both)")
        if not args.master_file and not args.credential_file and env_secret(ENV_CREDENTIAL) is None:
            raise TechError("provision needs --credential-file or --master-file (one of them; or the "
                            "credential in %s)" % ENV_CREDENTIAL)
        if args.master_file and args.cred_id:
            raise TechError("--cred-id comes from the IMEI and generation with --master-file")
        if args.imei and not args.master_file:
            raise TechError("--imei goes with --master-file")
    if cmd == "rekey":
        if args.master_file and args.new_credential_file:
            raise TechError("rekey needs --new-credential-file or --master-file (one of them, not both)")
        if not args.master_file and not args.new_credential_file and env_secret(ENV_NEW_CREDENTIAL) is None:
            raise TechError("rekey needs --new-credential-file or --master-file (one of them; or the new "
                            "credential in %s)" % ENV_NEW_CREDENTIAL)
        if args.master_file and args.cred_id:
            raise TechError("--cred-id comes from the IMEI and generation with --master-file")


def run(args, out=None):
    out = out or sys.stdout
    check_args(args)
    if args.command == "credential":
        do_credential(args, out)
        return EXIT_OK
    # every secret is read and checked before the port is opened
    puk = pin = None
    if args.command == "reset-sim":
        if args.puk_file or args.pin_file:         # a file option wins over both variables
            puk = load_puk(args.puk_file, None) if args.puk_file else None
            pin = load_pin(args.pin_file, None) if args.pin_file else None
        else:
            if env_secret(ENV_PUK) is not None and env_secret(ENV_PIN) is not None:
                raise TechError("%s and %s are both set: the card needs one or the other (unset one)"
                                % (ENV_PUK, ENV_PIN))
            puk, pin = load_puk(None), load_pin(None)
    master = load_master(args.master_file) if args.master_file else None
    new = None
    if args.command == "provision" and not args.master_file:
        new = load_new_credential(args.credential_file, ENV_CREDENTIAL)
    elif args.command == "rekey" and not args.master_file:
        new = load_new_credential(args.new_credential_file)
    if args.imei:
        check_imei(args.imei)
    line = parse_items(args.command, getattr(args, "items", None) or []) if args.command in _CONFIG else None
    credential = load_credential(args.credential_file) if args.command in _NEEDS_AUTH else None
    link = Link(args.port, args.baud, args.timeout)
    try:
        if args.command == "provision":
            do_provision(link, args, master, new, out)
        elif args.command == "rekey":
            do_rekey(link, args, credential, master, new, out)
        elif args.command == "status":
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
                elif args.command == "get":
                    do_get(link, line, out)
                elif args.command == "set":
                    do_set(link, line, out)
                elif args.command in _CONFIG:
                    do_request(link, line, out)
                elif args.command == "reset-keys":
                    _reset(link, "RESET KEYS", out, "access passwords and base key")
                else:
                    arg = (" " + puk) if puk else (" PIN1 " + pin) if pin else ""
                    _reset(link, "RESET SIM" + arg, out, "SIM security",
                           max(args.timeout, RESET_SIM_WAIT), _RESET_HINTS)
            finally:
                _bye(link)
    finally:
        link.close()
    return EXIT_OK


def _error(text):
    """One line on stderr, cut to ERROR_MAX characters (a huge value is not echoed whole)."""
    t = " ".join(str(text).split()) or "unknown error"
    if len(t) > ERROR_MAX:
        t = t[:ERROR_MAX - 3] + "..."
    if sys.stderr is not None:
        print("wmmp-tech: %s" % t, file=sys.stderr)


def main(argv=None):
    try:
        args = build_parser().parse_intermixed_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else EXIT_ERROR
    with logfmt.setup("tech"):
        return _main(args)


def _main(args):
    if sys.stdout is None:
        _error("standard output is closed")
        return EXIT_ERROR
    try:
        rc = run(args)
        if sys.stdout is not None:
            sys.stdout.flush()
        return rc
    except TechError as e:
        _error(e)
        return e.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:                 # the reader of our output went away
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return EXIT_ERROR
    except OSError as e:
        _error(e.strerror or e)
        return EXIT_ERROR
    except Exception as e:
        if os.environ.get("WMMP_TRACEBACK"):
            raise
        _error("internal error: %s: %s" % (type(e).__name__, _clean(str(e))))
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
