"""In-memory model of the platform: its configuration, the route a message came by
(UDP address, TCP connection or SMS number), the live state of each terminal's
logical connection (4.2: CURTIME, session key, feedback bits, sub-packet sets) and
the platform's own requests waiting for an answer."""

import itertools
import random

from wmmp.wire import header as H
from wmmp.wire import profile as P

from wmmp_tools.platform import creds


class PlatformError(Exception):
    """An operator request that cannot be carried out (unknown terminal, unreachable,
    timeout); the text is one line for the operator."""


def serial_key(serial):
    """Text form of a 16-byte serial: the ASCII without trailing 0x00 when it is
    printable, else "hex:" and the 32 hex digits of all 16 bytes."""
    b = H.pad_serial(bytes(serial))
    s = b.rstrip(b"\x00")
    if s and all(0x21 <= c <= 0x7E for c in s):
        return s.decode("ascii")
    return "hex:" + b.hex()


def parse_serial(text, assigned=False):
    """Canonical text (serial_key) of a serial the operator typed: up to 16 visible
    ASCII characters, or "hex:" and 32 hex digits.  assigned: it must be a whole
    serial, bytes 9..16 given (G a, PROTOCOL.md 1: an 8-byte maker prefix, then 8 bytes
    the platform assigns).  ValueError with a one-line reason."""
    if not isinstance(text, str) or not text:
        raise ValueError("a serial is needed")
    if text.startswith("hex:"):
        digits = text[4:]
        if len(digits) != 32 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise ValueError("a hex: serial is 32 hex digits (16 bytes), got %r" % text[:40])
        b = bytes.fromhex(digits)
    else:
        if len(text) > 16:
            raise ValueError("a serial is at most 16 characters, got %d" % len(text))
        if not all(0x21 <= ord(c) <= 0x7E for c in text):
            raise ValueError("a serial is visible ASCII characters (or hex:... for other bytes), got %r" % text)
        b = text.encode("ascii")
    b = H.pad_serial(b)
    if assigned and H.serial_is_unassigned(b):
        raise ValueError("a terminal's serial is 16 characters: an 8-character maker prefix and 8 more "
                         "(G a, PROTOCOL.md 1), got %r" % text)
    return serial_key(b)


def serial_bytes(text):
    """16-byte serial of its text form (see serial_key); ValueError if impossible."""
    if text.startswith("hex:"):
        b = bytes.fromhex(text[4:])
    else:
        b = text.encode("ascii")
    if len(b) > 16:
        raise ValueError("a serial is at most 16 bytes")
    return H.pad_serial(b)


class Config:
    """Every knob of the platform, with its default.

    security          global switch; False = "no-security" (REGISTER_ACK 0x13, no digests)
    key_delay         s between REGISTER_ACK 0x00 and the key SMS (4.4.3.1.2 d)
    base_alg          E039 code of generated base keys (0x01 = 3DES)
    session_alg       E03E code of session keys (0x02 = AES); sent with the keys as E03E
                      when it differs from base_alg, so the terminal can unwrap E040
    session_key_length  characters of a session key (AES: 16, 24 or 32)
    always_base_key   deliver a base key even when REGISTER's bit 0x80 is clear
    session_keys_required  LOGIN without E03A -> 0x09 for every terminal with a base key
    sms_digest        sign / require digests on SMS too (4.4.2.1: not by default)
    preset_validity   E027/E02A/E038 of preset secrets when the operator gives none
    packet_timeout, sms_timeout, retries   the platform's own ACK timers (PROTOCOL.md 8 defaults)
    heartbeat_default, offline_factor   silent for factor x 0x0011 (or default) -> offline (4.3.4)
    trap_timeout      s to wait for the security-verification CONFIG_TRAP (G b)
    tick              s between housekeeping passes
    url_host          the platform's address as terminals reach it, in upgrade URLs
                      (None: the address the bearer or HTTP file server is bound to)
    """

    def __init__(self, **kw):
        self.host = "127.0.0.1"           # UDP address
        self.tcp_host = None              # TCP address (None: same as host)
        self.udp_port = 7301
        self.tcp_port = 7302
        self.smsc = None                 # (host, port) or None
        self.msisdn = "10658000"
        self.security = True
        self.key_delay = 2.0
        self.base_alg = creds.KEY_ALG_CODES["3des"]
        self.session_alg = creds.KEY_ALG_CODES["aes"]
        self.session_key_length = 16
        self.always_base_key = False
        self.session_keys_required = False
        self.sms_digest = False
        self.password_lifetime = 365 * 86400
        self.key_lifetime = 365 * 86400
        self.session_lifetime = 86400
        self.preset_validity = 4102444800          # 2100-01-01T00:00:00Z
        self.packet_timeout = 10.0
        self.sms_timeout = 60.0
        self.retries = 3
        self.heartbeat_default = 30
        self.offline_factor = 3
        self.trap_timeout = 30.0
        self.tick = 1.0
        self.tcp_max_connections = 256
        self.url_host = None
        self.profile = P.DEFAULT
        for k, v in kw.items():
            if not hasattr(self, k):
                raise TypeError("unknown platform option %r" % k)
            setattr(self, k, v)


class TcpConn:
    """One accepted TCP connection."""

    _ids = itertools.count(1)

    def __init__(self, writer, peer):
        self.id = next(self._ids)
        self.writer = writer
        self.peer = peer
        self.closed = False


class Route:
    """Where a message came from / goes to: kind "udp" (addr = (host, port)),
    "tcp" (conn = TcpConn) or "sms" (addr = MSISDN)."""

    def __init__(self, kind, addr, conn=None):
        self.kind = kind
        self.addr = addr
        self.conn = conn

    @property
    def bearer(self):
        return P.BEARER_SMS if self.kind == "sms" else P.BEARER_PACKET

    @property
    def alive(self):
        return self.kind != "tcp" or not self.conn.closed

    def text(self):
        if self.kind == "sms":
            return "sms:%s" % self.addr
        host, port = self.addr[:2]
        if self.kind == "tcp":
            return "tcp:%s:%d#%d" % (host, port, self.conn.id)
        return "udp:%s:%d" % (host, port)

    def __repr__(self):
        return "Route(%s)" % self.text()


class Runtime:
    """Live state of one terminal's logical connection (4.2)."""

    def __init__(self, serial):
        self.serial = serial
        self.route = None            # last packet route (UDP address / TCP connection)
        self.curtime = None          # CURTIME of the LOGIN_ACK that opened the connection
        self.session = None          # wmmp.wire.keys.SessionKey
        self.feedback = 0            # bits 0x08/0x04/0x02/0x01 for the next message (table A-2)
        self.seq = random.randrange(1, 1 << 16)
        self.reassemblers = {}       # (command, trans_id) -> [Reassembler, created]
        self.splitters = {}          # trans_id -> [Splitter, created]
        self.outstanding = {}        # seq -> Outstanding
        self.settled = {}            # seq -> Outstanding given up or superseded (late answers)
        self.key_generation = 0      # counts key SMS deliveries (flows.schedule_key_sms)
        self.key_what = ()           # which secrets the last key SMS carries
        self.awaiting_trap = False   # the security-verification CONFIG_TRAP (G b)
        self.expect_config = False   # LOGIN_ACK 0x01 sent: the next trap reports the core config
        self.login_at = None
        self.key_task = None         # delayed / retried key SMS

    def next_seq(self):
        s = self.seq
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        return s

    @property
    def logged_in(self):
        return self.curtime is not None


class Outstanding:
    """A platform request waiting for its ACK (matched by terminal and seq)."""

    def __init__(self, serial, msg, route, future, sign, cipher, retries, timeout):
        self.serial = serial
        self.msg = msg               # the whole request (its seq is the first one used)
        self.command = msg.command
        self.route = route
        self.future = future
        self.sign = sign
        self.cipher = cipher
        self.retries = retries
        self.timeout = timeout
        self.seq = msg.seq
        self.wire = None             # bytes last sent, for retransmission (same seq)
        self.timer = None
        self.splitter = None         # request sent as sub-packets
        self.reassembler = None      # answer arriving as sub-packets
        self.pid = None              # row of the pending table
        self.on_answer = None        # called with the answer when it comes (also a late one)
        self.given_up = None         # (time, why) once nobody waits for the answer
