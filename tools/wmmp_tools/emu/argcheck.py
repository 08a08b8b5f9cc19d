"""Checks of command-line values for `wmmp-emu` and `wmmp-term`, done before
anything is opened, created or sent: each bad value is one line on stderr and
exit status 2, never a traceback and never a silent fallback.  Also the
symlink rules both tools follow for a pseudo-terminal's link (--link,
--console-pty): a link is created where nothing is, replaces only a stale
link to a pseudo-terminal (a previous run's, whose pty is gone), and is
removed at the end only while it still points at this run's pty; anything
else at that path (a file, a directory, a link elsewhere, a link to a pty in
use) is refused.

    p = Parser(prog="wmmp-emu", ...)    # argparse: an error is one line, exit 2
    p.add_argument("--rssi", type=int_range(0, 31, extra=(99,)))
    check_link(path)                    # raises UsageError before anything is created
    make_link(path, "/dev/pts/7"); ...; remove_link(path, "/dev/pts/7")
"""

import argparse
import ipaddress
import math
import os
import re
import stat
import sys

from wmmp_tools.smsc import valid_msisdn

EXIT_USAGE = 2
SECONDS_MAX = 1e6          # ~11.6 days: a longer delay or schedule is a typo
SECRET_FILE_MAX = 64       # bytes read at most from a PIN or PUK file


class UsageError(Exception):
    """A bad command-line value or combination: main prints it as one line, exit 2."""


def shown(text, limit=40):
    """`text` for an error message: printable ASCII only, cut to `limit` characters."""
    t = str(text)
    cut = len(t) > limit
    t = "".join(c if " " <= c <= "~" else "?" for c in t[:limit])
    return "'%s'%s" % (t, "..." if cut else "")


def one_line(prog, message):
    """The error line: printable, no quoted value longer than 40 characters."""
    message = re.sub(r"'([^']{41,})'", lambda m: shown(m.group(1)), str(message))
    message = "".join(c if " " <= c <= "~" else "?" for c in " ".join(message.split()))
    if len(message) > 300:
        message = message[:300] + "..."
    return "%s: error: %s" % (prog, message)


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (no usage block), exit 2;
    no abbreviated options."""

    def __init__(self, *a, **kw):
        kw.setdefault("allow_abbrev", False)
        super().__init__(*a, **kw)

    def error(self, message):
        self.exit(EXIT_USAGE, one_line(self.prog, "%s (%s --help)" % (message, self.prog)) + "\n")


def fail(what):
    raise argparse.ArgumentTypeError(what)


# -- numbers ---------------------------------------------------------------------------

def _int(text):
    t = text.strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,19}", t):
        fail("expected a whole number, got %s" % shown(text))
    return int(t)


def int_range(lo, hi, extra=()):
    """type= for a whole number within lo..hi (or one of `extra`)."""
    def conv(text):
        v = _int(text)
        if not lo <= v <= hi and v not in extra:
            fail("expected %d..%d%s, got %s" % (lo, hi, "".join(" or %d" % x for x in extra), shown(text)))
        return v
    conv.__name__ = "number"
    return conv


def seconds(text, hi=SECONDS_MAX):
    """Seconds: a finite number within 0..hi."""
    try:
        v = float(text.strip())
    except ValueError:
        v = None
    if v is None or not math.isfinite(v) or not 0 <= v <= hi:
        fail("expected seconds within 0..%g, got %s" % (hi, shown(text)))
    return v


def seconds_type(hi=SECONDS_MAX):
    conv = lambda text: seconds(text, hi)     # noqa: E731
    conv.__name__ = "seconds"
    return conv


def probability(text):
    try:
        v = float(text.strip())
    except ValueError:
        v = None
    if v is None or not 0.0 <= v <= 1.0:          # nan fails both comparisons
        fail("expected a probability within 0..1, got %s" % shown(text))
    return v


# -- identities and names --------------------------------------------------------------

def digits(lo, hi, what):
    """type= for `what` of lo..hi ASCII digits."""
    def conv(text):
        if not (lo <= len(text) <= hi and text.isascii() and text.isdigit()):
            n = "%d" % lo if lo == hi else "%d to %d" % (lo, hi)
            fail("%s must be %s digits, got %s" % (what, n, shown(text)))
        return text
    conv.__name__ = what
    return conv


def msisdn(text):
    if not valid_msisdn(text):
        fail("expected a phone number (an optional + and 1 to 20 digits), got %s" % shown(text))
    return text


def visible(lo, hi, what):
    """type= for lo..hi visible ASCII characters (0x21-0x7E)."""
    def conv(text):
        if not (lo <= len(text) <= hi and all("!" <= c <= "~" for c in text)):
            n = "%d" % lo if lo == hi else "%d to %d" % (lo, hi)
            fail("%s must be %s visible ASCII characters, got %s" % (what, n, shown(text)))
        return text
    conv.__name__ = what
    return conv


def apn(text):
    """An APN (3GPP TS 23.003 9.1: labels of letters, digits and hyphens)."""
    if not (1 <= len(text) <= 100 and re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", text)):
        fail("expected an APN (letters, digits, '-' and '.', at most 100), got %s" % shown(text))
    return text


_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(r"(?=.{1,253}\Z)%s(\.%s)*\Z" % (_LABEL, _LABEL))


def host(text):
    """An IP address or a host name (letters, digits, '-', '.')."""
    t = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ipaddress.ip_address(t)
        return t
    except ValueError:
        pass
    if t is text and _HOSTNAME.match(text) and not re.fullmatch(r"[0-9.]+", text):
        return text
    fail("expected an IP address or a host name, got %s" % shown(text))


def ip_address(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        fail("expected an IP address, got %s" % shown(text))
    return text


def host_port(text):
    """'HOST:PORT' ('[v6]:PORT' for an IPv6 address) -> (host, port), port 1..65535."""
    m = re.fullmatch(r"(\[[^\[\]]*\]|[^:\[\]]*):([0-9]{1,5})", text)
    if not m or not m.group(1):
        fail("expected HOST:PORT, got %s" % shown(text))
    port = int(m.group(2))
    if not 1 <= port <= 65535:
        fail("port must be 1..65535, got %s" % shown(text))
    try:
        h = host(m.group(1))
    except argparse.ArgumentTypeError:
        fail("expected HOST:PORT with an IP address or a host name, got %s" % shown(text))
    return h, port


# -- files -----------------------------------------------------------------------------

def _kind(mode):
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISREG, "a regular file"),
                       (stat.S_ISLNK, "a symlink"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def describe(path):
    """What is at `path` ('nothing' when nothing is), without following a symlink."""
    try:
        return _kind(os.lstat(path).st_mode)
    except OSError:
        return "nothing"


def read_secret(path, what, check):
    """The value of a secret file (a PIN, a PUK) without its line end: the file
    must be a regular file readable only by its owner (chmod 600); `check(bytes)`
    validates it (raises wmmp.errors.BadValue).  Raises UsageError; the value is
    never shown."""
    if not path:
        raise UsageError("the %s file name is empty" % what)
    try:
        st = os.stat(path)
    except OSError as e:
        raise UsageError("cannot read the %s file %s: %s" % (what, shown(path, 80), e.strerror or e))
    if not stat.S_ISREG(st.st_mode):
        raise UsageError("the %s file %s is %s, not a regular file" % (what, shown(path, 80), _kind(st.st_mode)))
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsageError("the %s file %s is readable by other users: chmod 600 %s" % (what, shown(path, 80), path))
    try:
        with open(path, "rb") as f:
            data = f.read(SECRET_FILE_MAX + 1)
    except OSError as e:
        raise UsageError("cannot read the %s file %s: %s" % (what, shown(path, 80), e.strerror or e))
    if len(data) > SECRET_FILE_MAX:
        raise UsageError("the %s file %s is too long for a %s" % (what, shown(path, 80), what))
    data = data.rstrip(b"\r\n")
    try:
        check(data)
    except Exception as e:       # BadValue: the message never holds the value
        raise UsageError("the %s file %s: %s" % (what, shown(path, 80), e))
    return data.decode("ascii")


def tty_device(path, opt):
    """Check that `path` is a serial device (a tty) that can be opened for
    reading and writing; UsageError otherwise.  Opens and closes it once."""
    if not path:
        raise UsageError("%s: the device name is empty" % opt)
    try:
        st = os.stat(path)
    except OSError as e:
        raise UsageError("%s %s: %s" % (opt, shown(path, 80), e.strerror or e))
    if not stat.S_ISCHR(st.st_mode):
        raise UsageError("%s %s is %s, not a serial device" % (opt, shown(path, 80), _kind(st.st_mode)))
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as e:
        raise UsageError("%s %s: %s" % (opt, shown(path, 80), e.strerror or e))
    try:
        if not os.isatty(fd):
            raise UsageError("%s %s is not a serial device (not a tty)" % (opt, shown(path, 80)))
    finally:
        os.close(fd)


# -- links to a pseudo-terminal ----------------------------------------------------------

_PTY = re.compile(r"/dev/(pts/[0-9]+|ttys[0-9]+|pty[a-z0-9]+|tty[p-za-e][0-9a-f])\Z")


def is_pty_name(target):
    return bool(_PTY.match(target))


def check_link(path, opt="--link"):
    """May `path` become a symlink to a pty?  Yes when nothing is there (and its
    directory exists and is writable) or when a stale symlink to a pty is (a
    previous run's: that pty is gone); else UsageError saying what is there.
    Touches nothing."""
    if not path:
        raise UsageError("%s: the path is empty" % opt)
    if "\0" in path:
        raise UsageError("%s: the path holds a NUL byte" % opt)
    parent = os.path.dirname(os.path.abspath(path))
    try:
        pst = os.stat(parent)
    except OSError as e:
        raise UsageError("%s %s: its directory %s: %s" % (opt, shown(path, 80), shown(parent, 80),
                                                          e.strerror or e))
    if not stat.S_ISDIR(pst.st_mode):
        raise UsageError("%s %s: %s is not a directory" % (opt, shown(path, 80), shown(parent, 80)))
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise UsageError("%s %s: %s" % (opt, shown(path, 80), e.strerror or e))
    if st is not None:
        if not stat.S_ISLNK(st.st_mode):
            raise UsageError("%s %s: %s is there; only a link to a pseudo-terminal is replaced "
                             "(remove it or choose another path)" % (opt, shown(path, 80), _kind(st.st_mode)))
        target = os.readlink(path)
        if not is_pty_name(target):
            raise UsageError("%s %s: a link to %s is there; only a link to a pseudo-terminal is "
                             "replaced (remove it or choose another path)" % (opt, shown(path, 80),
                                                                               shown(target, 80)))
        if os.path.exists(target):
            raise UsageError("%s %s: a link to %s is there, a pseudo-terminal in use (another emulator "
                             "or console?); only a stale one is replaced: stop that program or choose "
                             "another path" % (opt, shown(path, 80), target))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError("%s %s: cannot create it in %s (permission denied)" % (opt, shown(path, 80),
                                                                                shown(parent, 80)))


def make_link(path, target):
    """Make `path` a symlink to `target` (a pty), replacing only a stale link to
    a pty (checked again here: the path may have changed since check_link).  The new
    link appears atomically (created aside, then renamed over)."""
    check_link(path)
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)),
                       ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
    os.symlink(target, tmp)
    try:
        os.replace(tmp, path)
    except OSError:
        os.unlink(tmp)
        raise


def remove_link(path, target):
    """Remove `path` only while it is still our link to `target`."""
    try:
        if os.path.islink(path) and os.readlink(path) == target:
            os.unlink(path)
    except OSError:
        pass


def say(prog, message):
    print(one_line(prog, message), file=sys.stderr, flush=True)
