"""`wmmp-term`: the terminal engine (lib/wmmp, the code that runs on the board) on
CPython with host bearers, pointed at a platform (`wmmp-platform serve`) and an
SMS centre (`wmmp-smsc`), or driving a cellular module over a serial line.

    wmmp-term --udp 127.0.0.1:7301 --smsc 127.0.0.1:7400 --state DIR
    wmmp-term --sim7600 /dev/ttyUSB2 --udp 127.0.0.1:7301 --state DIR
    wmmp-term --bc95 /tmp/ttyBC95 --udp 127.0.0.1:7301 --state DIR
    wmmp-term --udp 127.0.0.1:7301 --data-port /tmp/ttyMETER --ec-code 1234

With --sim7600 DEVICE or --bc95 DEVICE (a real module, or the pty of
`wmmp-emu sim7600` / `wmmp-emu bc95`, e.g. its --link) the bearers are those of
the module's driver (lib/wmmp/modem): UDP/TCP through the module's sockets and
SMS in PDU mode through the module; IMEI and IMSI are read from the module, and
--smsc and --msisdn are not used.

With --data-port PATH (a serial device, or the pty of `wmmp-emu meter --pty`)
the terminal is a serial data bridge (docs/PROTOCOL.md 11): bytes from PATH go
to the platform as TRANSPARENT_DATA to the EC code 0x0028 (--ec-code presets
it), framed by the pause 0x0105; data from the platform is written to PATH;
0x0101-0x0104 set its line (baud, data bits, stop bits, parity) through
termios, live, and a setting termios cannot do is refused.

Prints a transcript line for every message both ways and every engine event.
--state DIR remembers the registration between runs (serial, passwords, keys,
parameters in DIR/params.json): without it every run registers afresh.  DIR
is created mode 0700 and its file 0600; state that other users can read is
refused (chmod 700 DIR; chmod 600 DIR/params.json).  Ctrl-C, SIGTERM or
SIGHUP log out (LOGOUT 0x00) and end with status 0.

With --update-dir DIR the terminal takes software updates (docs/PROTOCOL.md
12, docs/UPDATE.md): a DOWNLOAD_INFO starts the download (FILE_REQ blocks from
the platform, or HTTP with Range: the module's own HTTP client with --sim7600,
else the host's), staged in DIR; an update file built for board "host" (kind
mpy-app, wmmp_tools.mkupdate) that checks is applied in DIR (unpacked into a
slot there, recorded under its version) and the session restarts in place as
that version: LOGIN reports it.  It is confirmed once it has logged in; if not
(the run stopped before), the next start rolls it back and reports 0x3012
reason 0x05.  Stopping wmmp-term mid-download and starting it again with the
same --state and --update-dir resumes.  DIR is created mode 0700; a directory
other users can write is refused.

What this terminal carries out is declared to the engine, which refuses the
rest (4.3.9.3 "data invalid", 4.3.7 REMOTE_CTRL_ACK 0x01): of the parameters,
only the platform address (0x0009 IP, 0x000A ports: the packet bearer is
pointed there at the restart they cause), and with --data-port the EC code
0x0028 and the serial line 0x0101-0x0105; of the 0x4001 codes the engine's
own plus suspend/resume (the engine keeps the state and refuses application
data while suspended) and restart (the engine restarts in place and reports
0x4010 after its next login).  It has no APN to switch, no buffered
application data to upload and no peripheral outputs.
"""
import argparse
import asyncio
import fcntl
import os
import signal
import stat
import sys
import termios
import textwrap
import time
import tty

from wmmp.terminal import engine as E, params as PM
from wmmp.wire import codes as K, profile as P
from wmmp.board import runner as R
from wmmp.wire import codec, header as H
from wmmp.errors import WmmpError

from wmmp_tools.bearers import UdpBearer, TcpBearer, SmsBearer
from wmmp_tools import dataport as DP, logfmt
from wmmp_tools.emu import argcheck as A
from wmmp_tools.statedir import FileStorage, StateError

PROG = "wmmp-term"
BEARER_NAMES = {P.BEARER_SMS: "sms", P.BEARER_PACKET: "packet"}

# What wmmp-term carries out (Config.applies, Config.controls): see the docstring.
APPLIES = (0x0009, 0x000A)
DATA_APPLIES = (0x0028, 0x0101, 0x0102, 0x0103, 0x0104, 0x0105)     # with --data-port
CONTROLS = (K.RC_SUSPEND_SERVICE, K.RC_RESUME_SERVICE, K.RC_RESTART)

DEFAULT_PLATFORM_NUMBER = "10658000"
DEFAULT_IMEI = "860000000000001"
DEFAULT_IMSI = "460001234567890"
DEFAULT_MSISDN = "13800000001"
DEFAULT_SERIAL = "M2MMAKER"
DEFAULT_SOFTWARE = "WMMP0.1"
MODEM_BAUD = {"sim7600": 115200, "bc95": 9600}
UPDATE_BOARD = "host"         # the board name an update file for wmmp-term carries
UPDATE_CAPACITY = 16 << 20    # bytes of a staged update file
FILE_WINDOW_MAX = 16          # --file-window
HTTP_TIMEOUT = 30.0           # s one ranged GET of the host's HTTP fetch may take
HTTP_BODY_MAX = 64 << 20      # bytes read at most from a 200 (a server that ignored Range)
EXIT_AFTER_TIMEOUT = 60.0     # s --exit-after online waits by default
LOGOUT_WAIT = 5.0             # s a stop waits for the LOGOUT_ACK
STATE_FILES = ("params.json", "params.json.tmp")
KEY_PIN = "secret_pin1"       # wmmp.terminal.simrecord.KEY_PIN: the PIN1 the SIM guard enters
KEY_CREDENTIAL = "secret_service"   # wmmp.board.consoleauth.KEY_CREDENTIAL
TAG_EC_CODE = 0x0028


def describe(raw, kind):
    """One line about a message: command, seq, flags, fixed fields, TLV tags."""
    try:
        m = codec.decode(raw, P.DEFAULT, kind)
    except WmmpError as e:
        return "undecodable %d bytes (%s)" % (len(raw), e)
    if m.notice:
        return "%s header echo seq=%d flags=%s" % (m.name, m.seq, ",".join(H.flags_set(m.security)))
    parts = ["%s seq=%d" % (m.name, m.seq)]
    for k, v in m.fields.items():
        if isinstance(v, int):
            parts.append("%s=0x%X" % (k, v))
    if m.subpacket is not None:
        parts.append(repr(m.subpacket))
    if m.encryption == codec.ENC_FULL:
        parts.append("E042 encrypted")
    if m.tlvs:
        parts.append("tlvs=" + ",".join("%04X" % t for t, _ in m.tlvs))
    if m.digest is not None:
        parts.append("digest")
    return " ".join(parts)


class Transcript:
    """Transcript lines on `out`, kept in `lines` (the newest `keep`; None:
    all).  When `out` is a pipe whose reader went away (`wmmp-term | head`),
    printing stops and on_broken() is called once."""

    def __init__(self, name="terminal", out=sys.stdout, t0=None, keep=None, on_broken=None):
        self.name = name
        self.out = out
        self.t0 = time.monotonic() if t0 is None else t0
        self.lines = []
        self.keep = keep
        self.on_broken = on_broken
        self.broken = False

    def _w(self, text):
        line = "%7.2f %-9s %s" % (time.monotonic() - self.t0, self.name, text)
        self.lines.append(line)
        if self.keep is not None and len(self.lines) > self.keep:
            del self.lines[:-self.keep]
        if self.broken:
            return
        try:
            print(line, file=self.out, flush=True)
        except BrokenPipeError:
            self.broken = True
            try:              # no "Exception ignored" when Python flushes it at exit
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.out.fileno())
                os.close(devnull)
            except (OSError, AttributeError, ValueError):
                pass
            if self.on_broken is not None:
                self.on_broken()

    def message(self, direction, kind, raw):
        arrow = "->" if direction == "out" else "<-"
        self._w("%s %-6s %s" % (arrow, BEARER_NAMES.get(kind, kind), describe(raw, kind)))

    def event(self, ev):
        self._w("   event  %s" % " ".join(str(x) for x in ev))


class SerialStream(DP.FdStream):
    """A serial device (a real UART adapter or a pseudo-terminal) as the AT
    engine's stream: wmmp_tools.dataport's non-blocking stream in raw mode on
    the asyncio loop, opened at `baud`.  async read(n) -> bytes (waits for
    data), write(data) queues, async drain() waits until the kernel took
    everything."""

    what = "serial device"
    BAUDS = {9600: termios.B9600, 19200: termios.B19200, 38400: termios.B38400,
             57600: termios.B57600, 115200: termios.B115200}

    def __init__(self, path, baud=115200):
        super().__init__()
        self.path = path
        self.baud = baud

    def open(self):
        self._loop = asyncio.get_running_loop()
        self.fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        attrs = termios.tcgetattr(self.fd)
        speed = self.BAUDS.get(self.baud, termios.B115200)
        attrs[4] = attrs[5] = speed
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        return self

    def set_baud(self, rate):
        """The line's rate from now on (the SIM7600 driver's AT+IPR switch)."""
        speed = getattr(termios, "B%d" % rate, None)
        if speed is None:
            raise ValueError("serial device %s: no rate %d" % (self.path, rate))
        attrs = termios.tcgetattr(self.fd)
        attrs[4] = attrs[5] = speed
        termios.tcsetattr(self.fd, termios.TCSADRAIN, attrs)
        self.baud = rate


# The master side of a new pseudo-terminal as a stream (the service console's
# line): `path` is the slave a program such as wmmp-tech opens, `link` a symlink
# made to it (argcheck rules: only a link to a pty is replaced; removed at close
# while it is still ours).  The slave stays open here too, so a client may close
# and reopen it.
ConsolePty = DP.PtyStream


def modem_bearers(modem, args, kind="sim7600"):
    """{kind: bearer} of the modem driver `modem` (SIM7600: link 0 for UDP, 1
    for TCP; BC95) for --udp / --tcp and the platform numbers."""
    if kind == "bc95":
        from wmmp.modem import bc95 as M
        udp = lambda h, p: M.UdpBearer(modem, h, p)        # noqa: E731
        tcp = lambda h, p: M.TcpBearer(modem, h, p)        # noqa: E731
    else:
        from wmmp.modem import sim7600 as M
        udp = lambda h, p: M.UdpBearer(modem, 0, h, p)     # noqa: E731
        tcp = lambda h, p: M.TcpBearer(modem, 1, h, p)     # noqa: E731
    bearers = {}
    if args.tcp:
        bearers[P.BEARER_PACKET] = tcp(args.tcp[0], args.tcp[1])
    elif args.udp:
        bearers[P.BEARER_PACKET] = udp(args.udp[0], args.udp[1])
    bearers[P.BEARER_SMS] = M.SmsBearer(modem, list(_numbers(args)))
    return bearers


def _numbers(args):
    return args.platform_number or [DEFAULT_PLATFORM_NUMBER]


def build(args, transcript=None, on_event=None, bearers=None, sim=None, params=None, ota=None):
    """(terminal, runner) from parsed arguments; `ota`: the software updater
    (HostUpdates.run, a wmmp.board.otarun.OtaRun: Config.stager, the running
    version for LOGIN, its events and its health check); `bearers` ({kind: bearer})
    replaces the host bearers (the modem drivers' bearers, which also bring the
    modem profile's packet limit); `sim` is the SIM interface (a modem driver:
    the PIN1 boot guard and the platform's SIM operations of 4.4.1 run on it);
    `params`: the parameters to use (default: from --state, or in memory)."""
    if params is None:
        storage = FileStorage(args.state) if args.state else PM.MemoryStorage()
        params = PM.Params(storage)
    packet = bearers.get(P.BEARER_PACKET) if bearers is not None else (args.tcp or args.udp)
    data_port = getattr(args, "data_port", None)
    applies = (APPLIES if packet else ()) + (DATA_APPLIES if data_port else ())
    software = args.software_version.encode()
    if ota is not None:
        software = ota.version(software)      # the update applied, when there is one
    cfg = E.Config(args.imei, args.imsi, serial=args.serial.encode(),
                   software_version=software,
                   platform_numbers=tuple(_numbers(args)),
                   session_key=not args.no_session_key,
                   applies=applies, controls=CONTROLS, outputs=(),
                   tcp=bool(args.tcp))
    # The board's data port: what the device keeps through termios (probed when
    # it was opened), else what termios can express; the bridge refuses the rest.
    if data_port:
        cfg.data_port = getattr(args, "data_caps", None) or DP.capabilities()
    else:
        cfg.data_port = None
    # Through a module one UDP datagram carries at most 1500 bytes (SIM7600) or
    # udp_max (BC95: 1358, 512 on old firmware): longer messages go as
    # sub-packets (appendix F), not as errors.
    if ota is not None:
        ota.configure(cfg)                    # Config.stager: the updater is loaded
    profile = P.DEFAULT
    if bearers is not None and P.BEARER_PACKET in bearers:
        from wmmp.modem import packet_profile
        profile = packet_profile(bearers[P.BEARER_PACKET])
    window = getattr(args, "file_window", None)
    if window is not None and ota is not None:
        import copy
        profile = copy.copy(profile)          # never the shared default's
        profile.file_window = window          # FILE_REQs outstanding at once (PROTOCOL.md 12)
    term = E.Terminal(cfg, params, profile, sim=sim)
    if bearers is None:
        bearers = {}
        if args.tcp:
            bearers[P.BEARER_PACKET] = TcpBearer(*args.tcp)
        elif args.udp:
            bearers[P.BEARER_PACKET] = UdpBearer(*args.udp)
        if args.smsc:
            bearers[P.BEARER_SMS] = SmsBearer(args.smsc[0], args.smsc[1], args.msisdn,
                                              list(_numbers(args)))
    tr = transcript or Transcript()

    def ev(e):
        tr.event(e)
        if on_event:
            on_event(e)
        if ota is not None:
            ota.on_event(e)
    log = lambda text: tr._w("   log    " + text)      # noqa: E731

    def on_restart():
        b = bearers.get(P.BEARER_PACKET)
        addr = platform_address(params, args)
        if b is None or addr is None or (b.host, b.port) == addr:
            term.restarted(runner.clock())          # same address: restart in place
            return
        log("platform address now %s:%d (0x0009/0x000A)" % addr)
        asyncio.ensure_future(_retarget(runner, term, b, addr, log))
    runner = R.Runner(term, bearers, on_event=ev, on_message=tr.message, on_restart=on_restart, log=log,
                      on_step=ota.step if ota is not None else None)
    return term, runner


def platform_address(params, args):
    """(host, port) of the platform for the packet bearer: --udp / --tcp, with
    0x0009 (IP, 0.0.0.0: none) and 0x000A (UDP << 16 | TCP; 0: keep) over them."""
    addr = args.tcp or args.udp
    if not addr:
        return None
    host, port = addr
    ip = params.get(0x0009)
    if ip is not None and len(ip) == 4 and ip != b"\x00\x00\x00\x00":
        host = "%d.%d.%d.%d" % tuple(ip)
    ports = params.get_int(0x000A, 0)
    p = ports & 0xFFFF if args.tcp else ports >> 16
    return host, p or port


async def _retarget(runner, term, b, addr, log):
    """Point the packet bearer at `addr` (closed, changed, opened again: its
    reader reopens the same object), then restart the engine there."""
    try:
        await b.close()
        b.host, b.port = addr
        await runner._open_bearer(P.BEARER_PACKET, b)
    except Exception as e:        # the engine retries; the reader reopens it
        log("packet bearer to %s:%d not open: %r" % (addr[0], addr[1], e))
    term.restarted(runner.clock())
    runner._wake.set()


# -- command line ------------------------------------------------------------------------

def _exit_after(text):
    """'online' or SECONDS."""
    if text.strip().lower() == "online":
        return "online"
    try:
        return A.seconds(text)
    except argparse.ArgumentTypeError:
        A.fail("expected 'online' or seconds within 0..%g, got %s" % (A.SECONDS_MAX, A.shown(text)))


def _wrap(text):
    return "\n\n".join(textwrap.fill(p, 79) for p in text.split("\n\n"))


def parser():
    ap = A.Parser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[1],
        epilog=_wrap("Defaults: platform SMS number %s, IMEI %s, IMSI %s, MSISDN %s, serial %s "
               "(8 characters: the maker prefix; the platform assigns the rest at the first "
               "registration, docs/PROTOCOL.md 1), software version %s.  wmmp-platform serve "
               "listens on 127.0.0.1:7301 (UDP) and 127.0.0.1:7302 (TCP), wmmp-smsc on "
               "127.0.0.1:7400.\n\n"
               "--state DIR remembers the registration between runs (serial, passwords, keys, "
               "parameters); it is created mode 0700, its file 0600, and a state directory or "
               "file other users can read is refused (chmod 700 DIR; chmod 600 DIR/params.json).\n\n"
               "Secrets are never taken from the command line: the SIM's PIN1 from --pin-file, "
               "the service credential from --console-credential-file (files readable by you "
               "only: chmod 600).\n\n"
               "Ctrl-C, SIGTERM or SIGHUP log out (LOGOUT 0x00, docs/PROTOCOL.md 9) and stop.  "
               "Exit status: 0 stopped by a signal, or the --exit-after condition was met; 1 the "
               "condition was not met, or the module did not answer; 2 a bad option (one line "
               "on stderr)." % (DEFAULT_PLATFORM_NUMBER, DEFAULT_IMEI, DEFAULT_IMSI, DEFAULT_MSISDN,
                               DEFAULT_SERIAL, DEFAULT_SOFTWARE)))
    g = ap.add_argument_group("platform and bearers")
    g.add_argument("--udp", type=A.host_port, metavar="HOST:PORT",
                   help="the platform's UDP address (wmmp-platform serve: 127.0.0.1:7301)")
    g.add_argument("--tcp", type=A.host_port, metavar="HOST:PORT",
                   help="the platform's TCP address, instead of UDP (wmmp-platform serve: 127.0.0.1:7302)")
    g.add_argument("--smsc", type=A.host_port, metavar="HOST:PORT",
                   help="the emulated SMS centre (wmmp-smsc: 127.0.0.1:7400); host bearers only")
    g.add_argument("--msisdn", type=A.msisdn, default=DEFAULT_MSISDN,
                   help="this terminal's number at the SMS centre (default %(default)s)")
    g.add_argument("--platform-number", type=A.msisdn, action="append", default=None, metavar="NUMBER",
                   help="the platform's SMS number (TLV 0x0007); SMS are taken only from these; "
                        "repeatable (default %s)" % DEFAULT_PLATFORM_NUMBER)
    t = ap.add_argument_group("identity and state")
    t.add_argument("--state", metavar="DIR",
                   help="state directory: remembers the registration, passwords, keys and parameters "
                        "between runs (created mode 0700 if missing; default: nothing kept)")
    t.add_argument("--imei", type=A.digits(15, 15, "an IMEI"), default=DEFAULT_IMEI,
                   help="15 digits (default %(default)s; read from the module with --sim7600/--bc95)")
    t.add_argument("--imsi", type=A.digits(15, 15, "an IMSI"), default=DEFAULT_IMSI,
                   help="15 digits (default %(default)s; read from the module with --sim7600/--bc95)")
    t.add_argument("--serial", type=_serial, default=DEFAULT_SERIAL,
                   help="16 characters, or 8: the maker prefix, and the platform assigns the rest at "
                        "the first registration (default %(default)s)")
    t.add_argument("--software-version", type=A.visible(1, 8, "a software version"), default=DEFAULT_SOFTWARE,
                   help="1 to 8 characters, sent at login (default %(default)s)")
    t.add_argument("--no-session-key", action="store_true", help="do not ask for a session key at login")
    m = ap.add_argument_group("cellular module")
    m.add_argument("--sim7600", metavar="DEVICE",
                   help="use a SIM7600 on this serial device (or the pty of wmmp-emu sim7600)")
    m.add_argument("--bc95", metavar="DEVICE",
                   help="use a BC95 on this serial device (or the pty of wmmp-emu bc95)")
    m.add_argument("--baud", type=int, choices=sorted(SerialStream.BAUDS), default=None, metavar="BAUD",
                   help="serial speed: %s (default 115200 for the SIM7600, 9600 for the BC95)"
                        % ", ".join(str(b) for b in sorted(SerialStream.BAUDS)))
    m.add_argument("--apn", type=A.apn, help="APN of the module's data connection (AT+CGDCONT; "
                                             "default: the network's)")
    m.add_argument("--pin-file", metavar="FILE",
                   help="the SIM's PIN1 (4 to 8 digits) in FILE (chmod 600): kept in --state as the "
                        "PIN1 the terminal enters when the card asks (unless one is kept already)")
    r = ap.add_argument_group("running")
    r.add_argument("--exit-after", type=_exit_after, metavar="online|SECONDS",
                   help="online: log out and stop once logged in (exit 0; 1 when not online within "
                        "--timeout or in the alarm state); SECONDS: log out and stop after that "
                        "long (exit 0 when online then, else 1)")
    r.add_argument("--timeout", type=A.seconds_type(), default=None, metavar="SECONDS",
                   help="how long --exit-after online waits (default %g)" % EXIT_AFTER_TIMEOUT)
    r.add_argument("--console-pty", metavar="LINK",
                   help="serve the service console (docs/CONSOLE.md) on a new pseudo-terminal and make "
                        "LINK a symlink to it, for wmmp-tech --port LINK (LINK replaces only a "
                        "stale symlink to a pseudo-terminal)")
    r.add_argument("--console-credential-file", metavar="FILE",
                   help="the console's service credential (32 hex digits) in FILE (chmod 600): kept "
                        "in --state if none is kept yet (wmmp-tech credential makes one)")
    r.add_argument("--verbose", action="store_true", help="log the drivers' details too")
    u = ap.add_argument_group("software updates")
    u.add_argument("--update-dir", metavar="DIR",
                   help="take software updates (docs/PROTOCOL.md 12): downloads are staged in DIR "
                        "(created mode 0700 if missing; refused when other users can write it), an "
                        "update file for board %s that checks is applied there and the session "
                        "restarts as its version; a stopped download resumes at the next start "
                        "(default: DOWNLOAD_INFO answered 'not supported')" % UPDATE_BOARD)
    u.add_argument("--file-window", type=A.int_range(1, FILE_WINDOW_MAX), default=None, metavar="N",
                   help="with --update-dir: FILE_REQs kept outstanding at once in a download through "
                        "WMMP, 1 to %d (default 1: one block at a time)" % FILE_WINDOW_MAX)
    d = ap.add_argument_group("serial data bridge")
    d.add_argument("--data-port", metavar="PATH",
                   help="the data port: a serial device or pseudo-terminal (e.g. the --pty of wmmp-emu "
                        "meter) whose bytes go to the platform as TRANSPARENT_DATA and to which the "
                        "platform's data is written; 0x0101-0x0105 set its line through termios")
    d.add_argument("--ec-code", type=A.visible(1, 32, "an EC code"), metavar="CODE",
                   help="the EC code uplink data goes to (0x0028), kept in --state unless one is kept "
                        "already (the platform may set another); without it and without a kept one, "
                        "data waits and an alarm is raised")
    return ap


def _serial(text):
    if not (len(text) in (8, 16) and all("!" <= c <= "~" for c in text)):
        A.fail("a serial is 8 (the maker prefix, docs/PROTOCOL.md 1) or 16 visible ASCII characters, "
               "got %s" % A.shown(text))
    return text


def _secret(path, what, check):
    return A.read_secret(path, what, check)


def check(args):
    """Every check across options and of what they name, before anything is
    created or opened for good (A.UsageError).  Fills in args.modem, args.device,
    args.baud, args.pin, args.credential and args.stored (the state's values)."""
    if args.udp and args.tcp:
        raise A.UsageError("give --udp or --tcp, not both")
    if args.sim7600 is not None and args.bc95 is not None:
        raise A.UsageError("give --sim7600 or --bc95, not both")
    args.modem = "sim7600" if args.sim7600 is not None else "bc95" if args.bc95 is not None else None
    args.device = args.sim7600 if args.modem == "sim7600" else args.bc95
    if args.modem is None:
        if not (args.udp or args.tcp or args.smsc):
            raise A.UsageError("give --udp, --tcp or --smsc (or --sim7600 / --bc95 DEVICE)")
        for opt, v in (("--baud", args.baud), ("--apn", args.apn), ("--pin-file", args.pin_file)):
            if v is not None:
                raise A.UsageError("%s goes with --sim7600 or --bc95 DEVICE" % opt)
    elif args.smsc:
        raise A.UsageError("--smsc is for the host bearers: through --%s the SMS go through the module"
                           % args.modem)
    if args.baud is None:
        args.baud = MODEM_BAUD.get(args.modem, 115200)
    if args.timeout is not None and args.exit_after != "online":
        raise A.UsageError("--timeout goes with --exit-after online")
    if args.console_credential_file is not None and args.console_pty is None:
        raise A.UsageError("--console-credential-file goes with --console-pty")
    args.pin = args.credential = None
    if args.pin_file is not None:
        from wmmp.terminal import simcard
        args.pin = _secret(args.pin_file, "PIN1", simcard.check_pin)
    if args.console_credential_file is not None:
        from wmmp.board import consoleauth

        def cred(data):
            v, problem = consoleauth.parse_credential(data.decode("ascii", "replace"))
            if v is None:
                raise ValueError("a service credential is 32 hex digits (%s)" % problem)
        args.credential = _secret(args.console_credential_file, "service credential", cred).lower()
    args.stored = check_state(args.state) if args.state is not None else {}
    stored = args.stored.get(KEY_CREDENTIAL)
    if args.credential is not None and stored and bytes(stored) != args.credential.encode():
        raise A.UsageError("the state in %s keeps another service credential: rotate it with wmmp-tech "
                           "rekey, or leave out --console-credential-file" % args.state)
    if args.console_pty is not None:
        A.check_link(args.console_pty, "--console-pty")
    if args.modem is not None:
        A.tty_device(args.device, "--" + args.modem)
    if args.update_dir is not None:
        check_update_dir(args.update_dir)
    elif args.file_window is not None:
        raise A.UsageError("--file-window goes with --update-dir")
    if args.ec_code is not None and args.data_port is None:
        raise A.UsageError("--ec-code goes with --data-port")
    if args.data_port is not None:
        A.tty_device(args.data_port, "--data-port")
        if args.modem is not None and os.path.realpath(args.data_port) == os.path.realpath(args.device):
            raise A.UsageError("--data-port %s is the module's serial line" % A.shown(args.data_port, 80))


def _mode(st):
    return "%04o" % stat.S_IMODE(st.st_mode)


def check_state(path):
    """Check --state DIR (read only): a directory of this user that other users
    cannot read, or nothing yet under an existing directory; its files regular,
    private and a readable state.  Returns what it keeps ({} when nothing)."""
    if not path:
        raise A.UsageError("--state: the directory name is empty")
    shown = A.shown(path, 80)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise A.UsageError("--state %s: its directory %s does not exist (only the state directory "
                               "itself is created)" % (shown, A.shown(parent, 80)))
        return {}
    except OSError as e:
        raise A.UsageError("--state %s: %s" % (shown, e.strerror or e))
    if not stat.S_ISDIR(st.st_mode):
        raise A.UsageError("--state %s is %s, not a directory: give a directory (created mode 0700 "
                           "if missing)" % (shown, A.describe(path) if A.describe(path) != "a symlink"
                                            else "a link to something else"))
    if st.st_uid != os.getuid():
        raise A.UsageError("--state %s belongs to another user: use a directory of your own" % shown)
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise A.UsageError("--state %s is open to other users (mode %s) and keeps passwords and keys: "
                           "chmod 700 %s" % (shown, _mode(st), path))
    for name in STATE_FILES:
        f = os.path.join(path, name)
        try:
            fst = os.lstat(f)
        except FileNotFoundError:
            continue
        except OSError as e:
            raise A.UsageError("--state %s: %s: %s" % (shown, name, e.strerror or e))
        if not stat.S_ISREG(fst.st_mode):
            raise A.UsageError("--state %s: %s is %s, not a state file: move it away"
                               % (shown, name, A.describe(f)))
        if fst.st_uid != os.getuid():
            raise A.UsageError("--state %s: %s belongs to another user" % (shown, name))
        if fst.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise A.UsageError("--state %s: %s is readable by other users (mode %s) and keeps passwords "
                               "and keys: chmod 600 %s" % (shown, name, _mode(fst), f))
    try:
        return FileStorage(path).load() or {}
    except StateError as e:
        raise A.UsageError("--state: %s; it is left as it is: move it away to start afresh" % e)
    except OSError as e:
        raise A.UsageError("--state %s: %s" % (shown, e.strerror or e))


def check_update_dir(path):
    """Check --update-dir DIR (read only): a directory of this user that other
    users cannot write (what it holds becomes the running software), or
    nothing yet under an existing directory."""
    if not path:
        raise A.UsageError("--update-dir: the directory name is empty")
    shown = A.shown(path, 80)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise A.UsageError("--update-dir %s: its directory %s does not exist (only the update "
                               "directory itself is created)" % (shown, A.shown(parent, 80)))
        return
    except OSError as e:
        raise A.UsageError("--update-dir %s: %s" % (shown, e.strerror or e))
    if not stat.S_ISDIR(st.st_mode):
        raise A.UsageError("--update-dir %s is %s, not a directory: give a directory (created mode "
                           "0700 if missing)" % (shown, A.describe(path)))
    if st.st_uid != os.getuid():
        raise A.UsageError("--update-dir %s belongs to another user: use a directory of your own" % shown)
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise A.UsageError("--update-dir %s can be written by other users (mode %s), and what it holds "
                           "becomes the running software: chmod 700 %s" % (shown, _mode(st), path))
    if not os.access(path, os.W_OK | os.X_OK):
        raise A.UsageError("--update-dir %s: not writable by you (mode %s)" % (shown, _mode(st)))


def open_state(path):
    """Create --state DIR (0700) when missing and lock it for this process
    (two terminals on one state would overwrite each other's); the lock's
    descriptor, held until exit."""
    return _own_dir(path, "--state")


def _own_dir(path, option, lock=True):
    """Create the directory of `option` (0700) when missing; with `lock`, lock
    it for this process and return the lock's descriptor (else None)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise A.UsageError("%s %s: cannot create it: %s" % (option, A.shown(path, 80), e.strerror or e))
    if not lock:
        return None
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise A.UsageError("%s %s is in use by another wmmp-term" % (option, A.shown(path, 80)))
    return fd


# -- running ------------------------------------------------------------------------------

class _Audit:
    """The audit log of a host terminal (the console's and the SIM guard's
    entries): transcript lines, and the newest entries for the console's AUDIT."""

    MAX = 200

    def __init__(self, tr):
        self.tr = tr
        self.entries = []
        self.seq = 0

    def audit(self, event, detail=None):
        from wmmp.board.store import redact
        self.seq += 1
        text = redact(detail)
        self.entries.append((self.seq, str(event), text))
        del self.entries[:-self.MAX]
        self.tr._w("   audit  %s %s" % (event, text))
        return self.seq

    def audit_entries(self):
        return list(self.entries)


class Session:
    """What a run needs to stop well: the terminal and runner of the current
    engine session, why it is stopping, and the exit status."""

    def __init__(self):
        self.term = self.runner = None
        self.updates = None       # HostUpdates with --update-dir
        self.stop = asyncio.Event()
        self.reason = None        # "signal", "exit-after", "reset", "ended"
        self.status = 0
        self.signals = 0

    def finish(self, reason, status=0):
        if self.reason is None or (self.reason == "reset" and reason != "reset"):   # a stop wins over a restart
            self.reason, self.status = reason, status
        self.stop.set()

    def on_signal(self, name):
        self.signals += 1
        self.finish("signal", 0)
        if self.signals > 1 and self.runner is not None:    # a second one: do not wait for the LOGOUT_ACK
            self.runner.stop()


async def _bring_up(args, tr, log):
    """Open the module's serial line, power it and read its identity ->
    (stream, at, driver, ident); WmmpError / OSError when it does not answer."""
    from wmmp.board import cellular
    stream = SerialStream(args.device, args.baud).open()
    opts = {}
    if args.modem == "bc95":
        opts["on_psm"] = lambda on: log("bc95: %s power saving (+NPSMR)" % ("entered" if on else "left"))
    try:
        at, drv = cellular.driver(args.modem, stream, log, apn=args.apn, options=opts)
    except Exception:
        stream.close()
        raise
    try:
        with logfmt.waiting("the module to answer AT", None, prog="wmmp-term"):
            await drv.power_on()
            ident = await drv.identity()
    except BaseException:
        at.stop()
        stream.close()
        raise
    tr._w("   modem  %s %s IMEI %s IMSI %s ICCID %s" % (
        args.modem.upper(), ident["firmware"], ident["imei"], ident["imsi"], ident["iccid"]))
    return stream, at, drv, ident


async def _close_bearers(bearers, log):
    for b in bearers.values():
        close = getattr(b, "close", None)
        if close is None:
            continue
        try:
            await close()
        except Exception as e:        # a dead link cannot be closed: nothing to keep
            log("closing %r failed: %r" % (b, e))


async def _watch_exit(args, sess, tr):
    """--exit-after: finish with 0 when the condition is met, 1 when not."""
    loop = asyncio.get_running_loop()
    if args.exit_after == "online":
        limit = EXIT_AFTER_TIMEOUT if args.timeout is None else args.timeout
        with logfmt.waiting("the terminal to log in", limit, prog="wmmp-term"):
            await _wait_online(args, sess, tr, loop.time() + limit)
        return
    await asyncio.sleep(args.exit_after)
    t = sess.term
    online = t is not None and t.state == E.S_ONLINE
    tr._w("   exit   %g s: %s (--exit-after)" % (args.exit_after, "online" if online else
                                                 "not online (%s)" % (t.state_name if t else "not started")))
    sess.finish("exit-after", 0 if online else 1)


async def _wait_online(args, sess, tr, end):
    loop = asyncio.get_running_loop()
    while True:
        t = sess.term
        if t is not None and t.state == E.S_ONLINE:
            tr._w("   exit   online: stopping (--exit-after online)")
            sess.finish("exit-after", 0)
            return
        if t is not None and t.state == E.S_ALARM:
            tr._w("   exit   in the alarm state %s: not online (--exit-after online)" % (t.alarms,))
            sess.finish("exit-after", 1)
            return
        if loop.time() >= end:
            tr._w("   exit   not online after %g s (--exit-after online)" % (
                EXIT_AFTER_TIMEOUT if args.timeout is None else args.timeout))
            sess.finish("exit-after", 1)
            return
        await asyncio.sleep(0.05)


async def _logout(sess, tr):
    """LOGOUT 0x00 (4.3.3) when a session is open; wait for its answer, at
    most LOGOUT_WAIT s (a second signal ends the wait)."""
    term, runner = sess.term, sess.runner
    if term is None or runner is None or term.state != E.S_ONLINE:
        return
    tr._w("   log    logging out (LOGOUT 0x00)")
    term.logout(K.LOGOUT_NORMAL, runner.clock())
    runner._wake.set()
    end = time.monotonic() + LOGOUT_WAIT
    with logfmt.waiting("LOGOUT_ACK", LOGOUT_WAIT, prog="wmmp-term"):
        while term.state == E.S_LOGGING_OUT and time.monotonic() < end and sess.signals < 2:
            await asyncio.sleep(0.05)
    if term.state == E.S_LOGGING_OUT:
        tr._w("   log    no LOGOUT_ACK: stopping anyway")


async def _serve_console(args, sess, tr, params, modem, clock):
    """The service console (wmmp.board.console over wmmp.board.consoletask, as
    on a board) on a new pty linked at --console-pty."""
    from wmmp.board import consoletask
    from wmmp.board.console import Console
    line = ConsolePty(args.console_pty).open()

    def on_reset(what, bits):
        tr._w("   log    console RESET %s (E020 0x%02X): restarting the engine" % (what.upper(), bits))
        sess.finish("reset")
    console = Console(params, lambda: (sess.term.state_name, sess.term.alarms) if sess.term else
                      ("starting", []), sim=modem, firmware="wmmp-term", imei=args.imei,
                      production=False, provisioning=False, boot_time=clock(), terminal=lambda: sess.term)
    tr._w("   console on %s (%s): wmmp-tech --port %s status%s" % (
        args.console_pty, line.path, args.console_pty,
        "" if params.get(KEY_CREDENTIAL) else "; no service credential kept: give "
        "--console-credential-file for AUTH"))
    try:
        await consoletask.serve(line, console, clock, on_reset)
    finally:
        line.close()


def _text(value):
    if value is None:
        return "none (data waits: set 0x0028)"
    return A.shown(bytes(value).decode("ascii", "replace"))


def _open_data_port(args, sess, log):
    """--data-port: (stream, DataPort) beside the runner; the DataPort reads
    the port into the current engine's bridge and writes its downlink data."""
    from wmmp.board.dataport import DataPort
    stream = DP.TtyStream(args.data_port).open()

    def wake():
        if sess.runner is not None:
            sess.runner.wake()
    return stream, DataPort(stream, lambda: sess.term, R.monotonic, wake, log)


def _bridge_events(port):
    """on_event of the engine for the data port: downlink data to write, and
    new line settings (0x0101-0x0104) to apply (DataPort.configure logs what
    the port refuses: the engine checked them against its capabilities)."""
    def on_event(ev):
        if port is None or not ev:
            return
        if ev[0] == "bridge_down":
            port.kick()
        elif ev[0] == "data_port":
            port.configure(ev[1], ev[2], ev[3], ev[4])
    return on_event


# -- software updates (--update-dir) ------------------------------------------------------

class HostHttp:
    """The host's HTTP client as the driver's http_get (wmmp.modem.sim7600_http
    has the module's): one ranged GET in a thread (urllib), for
    wmmp.board.otarun.fetch, which asks at most 4 KB a range."""

    def __init__(self, timeout=HTTP_TIMEOUT):
        self.timeout = timeout

    async def http_get(self, url, start, end, etag=None):
        """GET bytes start..end (inclusive) of `url` with Range (and If-Range
        when `etag`) -> (status, content_range, etag, data); a 200 (Range
        ignored) gives the whole body, another status no data; OSError when
        the server cannot be reached."""
        return await asyncio.to_thread(self._get, url, start, end, etag)

    def _get(self, url, start, end, etag):
        import urllib.error
        import urllib.request
        req = urllib.request.Request(url, headers={"Range": "bytes=%d-%d" % (start, end)})
        if etag:
            req.add_header("If-Range", etag)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                status = r.status
                crange, tag = r.headers.get("Content-Range"), r.headers.get("ETag")
                if status == 206:
                    data = r.read(end - start + 1)
                elif status == 200:
                    data = r.read(HTTP_BODY_MAX)
                else:
                    data = b""
                return status, crange, tag, data
        except urllib.error.HTTPError as e:
            e.close()
            return e.code, None, None, b""


class _Board:
    """What wmmp.board.otarun asks of a board: no reset() (a host restarts the
    session in place) and the health time."""
    OTA_HEALTH_S = 300


class HostUpdates:
    """--update-dir: an AppStager (wmmp.board.ota) over DIR for board "host",
    run by wmmp.board.otarun.OtaRun exactly as on a board; this object is the
    device it sees (term, drv, params, clock, log, _wake, _restart).  "Apply"
    unpacks the verified update into a slot of DIR under its version, and the
    session restarts in place as that version (sess.finish("reset"))."""

    board = _Board()

    def __init__(self, directory, sess, params, log, drv=None, clock=R.monotonic):
        from wmmp.board import ota
        from wmmp.board.fsio import OsFS
        from wmmp.board.otarun import OtaRun
        self.sess = sess
        self.params = params
        self.log = log
        self.clock = clock
        http = getattr(drv, "http_get", None) if drv is not None else None
        self.drv = drv if http is not None else HostHttp()
        self.stager = ota.AppStager(OsFS(), os.path.abspath(directory), UPDATE_BOARD,
                                                capacity=UPDATE_CAPACITY, log=log)
        self.run = OtaRun(self, self.stager)

    @property
    def term(self):
        return self.sess.term

    @property
    def runner(self):
        return None                 # a restart goes through the Session, not runner.stop()

    @property
    def _restart(self):
        return None

    @_restart.setter
    def _restart(self, what):
        if what == "reset":
            self.sess.finish("reset")

    def _wake(self):
        if self.sess.runner is not None:
            self.sess.runner.wake()

    def version(self):
        return self.stager.version()

    def stop_fetch(self):
        """The session ends: its HTTP fetch with it (the next one resumes)."""
        task = self.run.task
        self.run.task = None
        if task is not None and not task.done():
            task.cancel()
        return task


def open_update_dir(path, lock=False):
    """Create --update-dir DIR (0700) when missing; with `lock`, lock it for
    this process (two terminals staging into one directory would overwrite
    each other's download) and return the lock's descriptor."""
    return _own_dir(path, "--update-dir", lock)


async def serve(args, tr=None, sess=None):
    """Run the terminal until a signal or the --exit-after condition; the exit
    status.  `sess`: the Session to use (tests look at its term and runner)."""
    tr = tr or Transcript(keep=200)
    log = lambda text: tr._w("   log    " + text)                  # noqa: E731
    mlog = lambda text: tr._w("   modem  " + text)                 # noqa: E731
    loop = asyncio.get_running_loop()
    sess = sess or Session()
    if tr.on_broken is None:         # nobody reads the transcript any more: log out and stop
        tr.on_broken = lambda: sess.on_signal("SIGPIPE")
    for sig, name in ((signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM"), (signal.SIGHUP, "SIGHUP")):
        loop.add_signal_handler(sig, sess.on_signal, name)
    stream = at = modem = updates = None
    tasks = []
    closers = []
    try:
        if args.modem is not None:
            up = asyncio.ensure_future(_bring_up(args, tr, mlog))
            stopped = asyncio.ensure_future(sess.stop.wait())
            await asyncio.wait([up, stopped], return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if not up.done():
                up.cancel()
                try:
                    await up
                except BaseException:
                    pass
                return 0
            try:
                stream, at, modem, ident = up.result()
            except (WmmpError, OSError) as e:
                A.say(PROG, "the module on %s does not answer: %s" % (args.device, e))
                return 1
            args.imei = ident["imei"]
            if ident["imsi"]:
                args.imsi = ident["imsi"]
        storage = FileStorage(args.state) if args.state else PM.MemoryStorage()
        audit = _Audit(tr)
        storage.audit, storage.audit_entries = audit.audit, audit.audit_entries
        params = PM.Params(storage)
        if args.pin is not None:
            if params.get(KEY_PIN) is None:
                params.set(KEY_PIN, args.pin.encode())
                params.commit()
                log("PIN1 from %s kept as the PIN1 to enter (4.4.1.1)" % args.pin_file)
            elif bytes(params.get(KEY_PIN)) != args.pin.encode():
                log("the state keeps another PIN1 (set by the platform or a technician): "
                    "--pin-file not used")
        if args.credential is not None and not params.get(KEY_CREDENTIAL):
            params.set(KEY_CREDENTIAL, args.credential.encode())
            params.commit()
            log("service credential from %s kept for the console" % args.console_credential_file)
        ec = getattr(args, "ec_code", None)
        if ec is not None:
            kept = params.get(TAG_EC_CODE)
            if kept is None:
                params.set(TAG_EC_CODE, ec.encode("ascii"))
                params.commit()
                log("EC code %s (0x0028) from --ec-code" % ec)
            elif bytes(kept) != ec.encode("ascii"):
                log("the state keeps another EC code (0x0028, set by the platform or a technician): "
                    "--ec-code not used")
        dport = None
        if getattr(args, "data_port", None) is not None:
            try:
                dstream, dport = _open_data_port(args, sess, log)
            except OSError as e:
                A.say(PROG, "cannot open the data port %s: %s" % (A.shown(args.data_port, 80),
                                                                  e.strerror or e))
                return 1
            closers.append(dstream.close)
            args.data_caps = dstream.capabilities()
            c = args.data_caps
            log("data port %s can do %s baud, %s data bits, parity %s, stop bits %s" % (
                args.data_port, ",".join(map(str, c["bauds"])), ",".join(map(str, c["bits"])),
                "".join(c["parity"]), ",".join(map(str, c["stop"]))))
            tasks.append(asyncio.ensure_future(dport.run()))
        if getattr(args, "update_dir", None) is not None:
            open_update_dir(args.update_dir)
            updates = sess.updates = HostUpdates(args.update_dir, sess, params, log, drv=modem)
            v = updates.version()
            log("updates staged in %s (board %s, %s)%s" % (
                args.update_dir, UPDATE_BOARD, "HTTP through the module" if updates.drv is modem
                else "HTTP from this host", "; running the update %s (not --software-version)" % v
                if v else ""))
        if args.console_pty is not None:
            tasks.append(asyncio.ensure_future(_serve_console(args, sess, tr, params, modem, R.monotonic)))
        if args.exit_after is not None:
            tasks.append(asyncio.ensure_future(_watch_exit(args, sess, tr)))
        while True:
            bearers = modem_bearers(modem, args, args.modem) if modem is not None else None
            term, runner = build(args, tr, bearers=bearers, sim=modem, params=params,
                                 on_event=_bridge_events(dport), ota=updates.run if updates else None)
            sess.term, sess.runner = term, runner
            if dport is not None:     # the DataPort sets the port from these when it sees `term`
                settings = term.data_port_settings()
                tr._w("   data   port %s %d %d%s%s, EC code %s" % (
                    args.data_port, settings[0], settings[1], settings[2], settings[3],
                    _text(term.params.get(TAG_EC_CODE))))
            if modem is not None:
                await modem.update_radio(term.params)
            run = asyncio.ensure_future(runner.run())
            waiter = asyncio.ensure_future(sess.stop.wait())
            await asyncio.wait([run, waiter], return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if run.done():
                sess.finish("ended", 1)
            elif sess.reason != "reset":
                await _logout(sess, tr)
            runner.stop()
            if updates is not None:
                updates.stop_fetch()
            await asyncio.sleep(0)
            if not run.done():
                try:
                    await asyncio.wait_for(run, 2)
                except (asyncio.TimeoutError, Exception):
                    pass
            await _close_bearers(runner.bearers, log)
            if sess.reason != "reset":
                return sess.status
            if updates is not None and updates.version():
                log("restarting as software %s" % updates.version())
            sess.reason = None
            sess.stop.clear()
    finally:
        if updates is not None:
            task = updates.stop_fetch()
            if task is not None:
                tasks.append(task)
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except BaseException:
                pass
        for close in closers:
            close()
        if at is not None:
            at.stop()
        if stream is not None:
            stream.close()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)


def main(argv=None):
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    lock = ulock = None
    try:
        check(args)
        if args.state is not None:
            lock = open_state(args.state)
        if args.update_dir is not None:
            same = args.state is not None and os.path.realpath(args.state) == os.path.realpath(args.update_dir)
            ulock = open_update_dir(args.update_dir, lock=not same)
    except A.UsageError as e:
        if lock is not None:
            os.close(lock)
        A.say(PROG, str(e))
        return 2
    logfmt.setup("term", args.verbose)
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:          # before the handlers were in place
        return 0
    except A.UsageError as e:          # the console link changed since the check
        A.say(PROG, str(e))
        return 1
    except BrokenPipeError:            # whoever read the transcript went away
        return 1
    finally:
        for fd in (lock, ulock):
            if fd is not None:
                os.close(fd)


if __name__ == "__main__":
    sys.exit(main())
