"""Checks of `wmmp-platform` options at the edge (argparse types and helpers): a bad
value is one line naming the option and what is wrong, exit status 2, before
anything is sent, bound or written.  Also where secrets given on the command
line may come from instead: a file or an environment variable."""

import argparse
import errno
import ipaddress
import math
import os
import re
import socket
import stat

from wmmp_tools.platform import creds
from wmmp_tools.smsc import valid_msisdn

MAX_SECONDS = 86400.0
SECRET_FILE_MAX = 4096


class OptionError(Exception):
    """A bad option value found after parsing (exit 2)."""


class StartError(Exception):
    """`serve` cannot start: one line; code 2 (the options are wrong) or 1."""

    def __init__(self, text, code=1):
        super().__init__(text)
        self.code = code


# -- argparse types -------------------------------------------------------------------

def address(lo_port=0):
    """HOST:PORT ([IPv6]:PORT); ports lo_port..65535."""
    def parse(text):
        host, sep, port = (text or "").rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not sep or not host or not re.fullmatch(r"\d{1,5}", port):
            raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % _short(text))
        if len(host) > 253 or any(c.isspace() or ord(c) < 0x21 or c in "[]/" for c in host):
            raise argparse.ArgumentTypeError("bad host %r in %r" % (_short(host), _short(text)))
        if ":" in host:
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise argparse.ArgumentTypeError("bad IPv6 address %r (write [ADDRESS]:PORT)" % _short(host))
        n = int(port)
        if not lo_port <= n <= 65535:
            raise argparse.ArgumentTypeError("port %d out of range %d..65535" % (n, lo_port))
        return host, n
    return parse


def host(text):
    """A host name or address as it goes into a URL (--url-host)."""
    h = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if not h or len(h) > 253 or any(c.isspace() or ord(c) < 0x21 or ord(c) > 0x7E or c in "[]/?#@&=%" for c in h):
        raise argparse.ArgumentTypeError("expected a host name or address, got %r" % _short(text))
    if ":" in h:
        try:
            ipaddress.IPv6Address(h)
        except ValueError:
            raise argparse.ArgumentTypeError("bad IPv6 address %r" % _short(h))
    return h


def seconds(lo=0.0, hi=MAX_SECONDS, lo_open=False):
    def parse(text):
        try:
            x = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError("expected a number of seconds, got %r" % _short(text))
        if not math.isfinite(x) or x > hi or x < lo or (lo_open and x == lo):
            raise argparse.ArgumentTypeError("expected %s seconds, got %s" % (
                "more than %g and at most %g" % (lo, hi) if lo_open else "%g..%g" % (lo, hi), _short(text)))
        return x
    return parse


def integer(lo, hi):
    def parse(text):
        try:
            n = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError("expected a whole number, got %r" % _short(text))
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError("%d is out of range %d..%d" % (n, lo, hi))
        return n
    return parse


def choice_int(values):
    def parse(text):
        try:
            n = int(text, 0)
        except ValueError:
            n = None
        if n not in values:
            raise argparse.ArgumentTypeError("expected one of %s, got %r" % (
                ", ".join(map(str, values)), _short(text)))
        return n
    return parse


def alg(text):
    if len(text) > 20:
        raise argparse.ArgumentTypeError("unknown algorithm %r... (des, 3des, aes)" % text[:20])
    try:
        return creds.alg_code(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def msisdn(text):
    if not valid_msisdn(text):
        raise argparse.ArgumentTypeError("expected an MSISDN (1 to 20 digits, + allowed first), got %r"
                                         % _short(text))
    return text


def imsi(text):
    if not (text.isascii() and text.isdigit() and len(text) == 15):
        raise argparse.ArgumentTypeError("an IMSI is 15 digits, got %r" % _short(text))
    return text


def nonempty(text):
    if not text.strip() or "\x00" in text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _short(text, n=40):
    text = str(text)
    return text if len(text) <= n else text[:n] + "..."


# -- secrets from a file or the environment ----------------------------------------------

def read_secret_file(path, what):
    """A secret's text from the file `path`: its content without the final newline.
    OptionError when it cannot be read, is empty, too long or not ASCII, or when
    other users may read it (a secret kept in such a file is not kept)."""
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise OptionError("%s file %s is a directory" % (what, path))
        if not stat.S_ISREG(st.st_mode):
            raise OptionError("%s file %s is not a regular file" % (what, path))
        with open(path, "rb") as f:
            data = f.read(SECRET_FILE_MAX + 1)
    except OSError as e:
        raise OptionError("cannot read the %s file %s: %s" % (what, path, e.strerror or e))
    if len(data) > SECRET_FILE_MAX:
        raise OptionError("the %s file %s is too long" % (what, path))
    if data.endswith(b"\n"):
        data = data[:-1]
    if data.endswith(b"\r"):
        data = data[:-1]
    if not data:
        raise OptionError("the %s file %s is empty" % (what, path))
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise OptionError("the %s file %s is not ASCII text" % (what, path))
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise OptionError("the %s file %s is open to other users (mode %04o): chmod 600 %s"
                          % (what, path, stat.S_IMODE(st.st_mode), path))
    return text


def read_secret_env(name, what, environ=None):
    env = os.environ if environ is None else environ
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or ""):
        raise OptionError("%r is not an environment variable name" % _short(name))
    value = env.get(name)
    if value is None:
        raise OptionError("environment variable %s (the %s) is not set" % (name, what))
    if value == "":
        raise OptionError("environment variable %s (the %s) is empty" % (name, what))
    return value


def secret_value(text, what):
    """VALUE of a secret TAG=VALUE: file:PATH and env:NAME read it from there."""
    if text.startswith("file:"):
        return read_secret_file(text[5:], what)
    if text.startswith("env:"):
        return read_secret_env(text[4:], what)
    return text


# -- listening sockets of `serve` ----------------------------------------------------------

def bind(kind, addr, option, loopback_only=False):
    """A bound (TCP: listening) non-blocking socket for `serve`; StartError naming
    the option when it cannot be had."""
    host, port = addr
    where = "%s %s:%d (%s)" % (kind.upper(), host, port, option)
    stype = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    try:
        infos = socket.getaddrinfo(host, port, type=stype, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as e:
        raise StartError("cannot listen on %s: unknown host %r (%s)" % (
            where, host, getattr(e, "strerror", None) or e), 2)
    family, stype, proto, _, sa = infos[0]
    if loopback_only:
        try:
            local = ipaddress.ip_address(sa[0].split("%")[0]).is_loopback
        except ValueError:
            local = False
        if not local:
            raise StartError("%s must be a loopback address (127.0.0.1, [::1]): the control socket "
                             "has no authentication and shows and changes terminals' secrets" % option, 2)
    s = socket.socket(family, stype, proto)
    try:
        if kind == "tcp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(sa)
        if kind == "tcp":
            s.listen(128)
        s.setblocking(False)
    except OSError as e:
        s.close()
        if e.errno == errno.EADDRINUSE:
            raise StartError("cannot listen on %s: the port is in use (another program, or another "
                             "wmmp-platform serve; choose another with %s)" % (where, option))
        if e.errno == errno.EADDRNOTAVAIL:
            raise StartError("cannot listen on %s: %s is not an address of this machine" % (where, host), 2)
        if e.errno == errno.EACCES:
            raise StartError("cannot listen on %s: permission denied (ports below 1024 need privileges)"
                             % where)
        raise StartError("cannot listen on %s: %s" % (where, e.strerror or e))
    return s
