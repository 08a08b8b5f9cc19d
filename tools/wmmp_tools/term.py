"""`wmmp-term`: the terminal engine (lib/wmmp) on CPython with host bearers, for
OEMs who want to point a terminal at their own platform.

    wmmp-term --udp 127.0.0.1:7301 [--tcp 127.0.0.1:7302] --smsc 127.0.0.1:7400 \\
              --msisdn 13800000001 --platform-number 10658000 --state DIR \\
              --imei 860000000000001 --imsi 460001234567890 [--serial M2MMAKER]

With `--sim7600 /dev/ttyUSB2` (a real module, or the emulator's pty from
`wmmp-emu sim7600 --pty`) the bearers are those of the SIM7600 driver
(lib/wmmp/modem): UDP/TCP through AT+CIPOPEN/AT+CIPSEND and SMS in PDU mode
through the module; IMEI and IMSI are read from the module; --smsc is not used.

Prints a transcript line for every message both ways and every engine event.
State (serial, passwords, keys, parameters) persists in DIR/params.json.

What this terminal carries out is declared to the engine, which refuses the
rest (4.3.9.3 "data invalid", 4.3.7 REMOTE_CTRL_ACK 0x01): of the parameters,
only the platform address (0x0009 IP, 0x000A ports: the packet bearer is
pointed there at the restart they cause); of the 0x4001 codes the engine's
own plus suspend/resume (the engine keeps the state and refuses application
data while suspended) and restart (the engine restarts in place and reports
0x4010 after its next login).  It has no APN to switch, no buffered
application data to upload and no peripheral outputs.
"""
import argparse
import asyncio
import errno
import logging
import os
import sys
import termios
import time
import tty

from wmmp.terminal import engine as E, params as PM
from wmmp.wire import codes as K, profile as P
from wmmp.board import runner as R
from wmmp.wire import codec, commands as C, header as H
from wmmp.errors import WmmpError

from wmmp_tools.bearers import UdpBearer, TcpBearer, SmsBearer
from wmmp_tools.statedir import FileStorage

BEARER_NAMES = {P.BEARER_SMS: "sms", P.BEARER_PACKET: "packet"}

# What wmmp-term carries out (Config.applies, Config.controls): see the docstring.
APPLIES = (0x0009, 0x000A)
CONTROLS = (K.RC_SUSPEND_SERVICE, K.RC_RESUME_SERVICE, K.RC_RESTART)


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
    def __init__(self, name="terminal", out=sys.stdout, t0=None):
        self.name = name
        self.out = out
        self.t0 = time.monotonic() if t0 is None else t0
        self.lines = []

    def _w(self, text):
        line = "%7.2f %-9s %s" % (time.monotonic() - self.t0, self.name, text)
        self.lines.append(line)
        print(line, file=self.out, flush=True)

    def message(self, direction, kind, raw):
        arrow = "->" if direction == "out" else "<-"
        self._w("%s %-6s %s" % (arrow, BEARER_NAMES.get(kind, kind), describe(raw, kind)))

    def event(self, ev):
        self._w("   event  %s" % " ".join(str(x) for x in ev))


def _addr(text):
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("want HOST:PORT, got %r" % text)
    return host, int(port)


class SerialStream:
    """A serial device (a real UART adapter or a pseudo-terminal) as the AT
    engine's stream: non-blocking os.read/os.write in raw mode on the asyncio
    loop.  async read(n) -> bytes (waits for data), write(data) queues,
    async drain() waits until the kernel took everything."""

    BAUDS = {9600: termios.B9600, 19200: termios.B19200, 38400: termios.B38400,
             57600: termios.B57600, 115200: termios.B115200}

    def __init__(self, path, baud=115200):
        self.path = path
        self.baud = baud
        self.fd = None
        self._out = bytearray()
        self._drained = None
        self._rfut = None
        self._writing = False
        self._loop = None
        self.rx_bytes = 0
        self.tx_bytes = 0

    def open(self):
        self._loop = asyncio.get_running_loop()
        self.fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        attrs = termios.tcgetattr(self.fd)
        speed = self.BAUDS.get(self.baud, termios.B115200)
        attrs[4] = attrs[5] = speed
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        return self

    async def read(self, n):
        while True:
            if self.fd is None:
                raise ConnectionError("serial device %s closed" % self.path)
            try:
                data = os.read(self.fd, n)
            except BlockingIOError:
                data = None
            except OSError as e:          # EIO while a pty has no other end
                if e.errno != errno.EIO:
                    raise
                await asyncio.sleep(0.05)
                continue
            if data:
                self.rx_bytes += len(data)
                return data
            fut = self._rfut = self._loop.create_future()
            self._loop.add_reader(self.fd, lambda: fut.done() or fut.set_result(None))
            try:
                await fut
            finally:
                if self._rfut is fut:
                    self._rfut = None
                    self._loop.remove_reader(self.fd)

    def write(self, data):
        self._out += data
        self.tx_bytes += len(data)
        self._flush()

    def _flush(self):
        while self._out:
            try:
                n = os.write(self.fd, self._out)
            except BlockingIOError:
                n = 0
            if n <= 0:
                if not self._writing:
                    self._writing = True
                    self._loop.add_writer(self.fd, self._flush)
                return
            del self._out[:n]
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self.fd)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    async def drain(self):
        while self._out:
            self._drained = self._loop.create_future()
            await self._drained

    def close(self):
        if self.fd is not None:
            if self._writing:
                self._loop.remove_writer(self.fd)
            if self._rfut is not None:      # a read() is waiting: it ends (cancelled)
                self._loop.remove_reader(self.fd)
                self._rfut.cancel()
                self._rfut = None
            os.close(self.fd)
            self.fd = None


def modem_bearers(modem, args):
    """{kind: bearer} of the SIM7600 driver `modem` for --udp / --tcp and the
    platform numbers (link 0 for UDP, 1 for TCP)."""
    from wmmp.modem.sim7600 import UdpBearer as MUdp, TcpBearer as MTcp, SmsBearer as MSms
    bearers = {}
    if args.tcp:
        bearers[P.BEARER_PACKET] = MTcp(modem, 1, args.tcp[0], args.tcp[1])
    elif args.udp:
        bearers[P.BEARER_PACKET] = MUdp(modem, 0, args.udp[0], args.udp[1])
    bearers[P.BEARER_SMS] = MSms(modem, list(args.platform_number))
    return bearers


def build(args, transcript=None, on_event=None, bearers=None, sim=None):
    """(terminal, runner) from parsed arguments; `bearers` ({kind: bearer})
    replaces the host bearers (the modem drivers' bearers, which also bring the
    modem profile's packet limit); `sim` is the SIM interface (a modem driver:
    the PIN1 boot guard and the platform's SIM operations of 4.4.1 run on it)."""
    storage = FileStorage(args.state) if args.state else PM.MemoryStorage()
    params = PM.Params(storage)
    packet = bearers.get(P.BEARER_PACKET) if bearers is not None else (args.tcp or args.udp)
    cfg = E.Config(args.imei, args.imsi, serial=args.serial.encode(),
                   software_version=args.software_version.encode(),
                   platform_numbers=tuple(args.platform_number),
                   session_key=not args.no_session_key,
                   applies=APPLIES if packet else (), controls=CONTROLS, outputs=(),
                   tcp=bool(args.tcp))
    # Through a module one UDP datagram carries at most 1500 bytes (SIM7600) or
    # udp_max (BC95: 1358, 512 on old firmware): longer messages go as
    # sub-packets (appendix F), not as errors.
    profile = P.DEFAULT
    if bearers is not None and P.BEARER_PACKET in bearers:
        from wmmp.modem import packet_profile
        profile = packet_profile(bearers[P.BEARER_PACKET])
    term = E.Terminal(cfg, params, profile, sim=sim)
    if bearers is None:
        bearers = {}
        if args.tcp:
            bearers[P.BEARER_PACKET] = TcpBearer(*args.tcp)
        elif args.udp:
            bearers[P.BEARER_PACKET] = UdpBearer(*args.udp)
        if args.smsc:
            bearers[P.BEARER_SMS] = SmsBearer(args.smsc[0], args.smsc[1], args.msisdn,
                                              list(args.platform_number))
    tr = transcript or Transcript()

    def ev(e):
        tr.event(e)
        if on_event:
            on_event(e)
    log = lambda text: tr._w("   log    " + text)

    def on_restart():
        b = bearers.get(P.BEARER_PACKET)
        addr = platform_address(params, args)
        if b is None or addr is None or (b.host, b.port) == addr:
            term.restarted(runner.clock())          # same address: restart in place
            return
        log("platform address now %s:%d (0x0009/0x000A)" % addr)
        asyncio.ensure_future(_retarget(runner, term, b, addr, log))
    runner = R.Runner(term, bearers, on_event=ev, on_message=tr.message, on_restart=on_restart, log=log)
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


def parser():
    ap = argparse.ArgumentParser(prog="wmmp-term", description=__doc__.split("\n\n")[0])
    ap.add_argument("--udp", type=_addr, help="platform UDP address HOST:PORT")
    ap.add_argument("--tcp", type=_addr, help="platform TCP address HOST:PORT (instead of UDP)")
    ap.add_argument("--smsc", type=_addr, help="emulated SMS centre HOST:PORT")
    ap.add_argument("--msisdn", default="13800000001", help="this terminal's MSISDN")
    ap.add_argument("--platform-number", action="append", default=None,
                    help="platform SMS number (TLV 0x0007); repeatable")
    ap.add_argument("--state", help="state directory (persistent parameters)")
    ap.add_argument("--imei", default="860000000000001")
    ap.add_argument("--imsi", default="460001234567890")
    ap.add_argument("--serial", default="M2MMAKER", help="16-byte serial, or its first 8 to ask for one")
    ap.add_argument("--software-version", default="WMMP0.1")
    ap.add_argument("--no-session-key", action="store_true")
    ap.add_argument("--sim7600", metavar="DEVICE",
                    help="use a SIM7600 module on this serial device (or the emulator's pty)")
    ap.add_argument("--baud", type=int, default=115200, help="serial speed for --sim7600")
    ap.add_argument("--apn", help="APN for --sim7600 (AT+CGDCONT)")
    ap.add_argument("--verbose", action="store_true")
    return ap


async def run_with_sim7600(args, transcript=None):
    """Power the module on, read IMEI/IMSI from it, and run the terminal over
    its bearers until interrupted."""
    from wmmp.modem.at import AtEngine
    from wmmp.modem.sim7600 import Sim7600
    tr = transcript or Transcript()
    stream = SerialStream(args.sim7600, args.baud).open()
    at = AtEngine(stream, log=lambda text: tr._w("   modem  " + text))
    modem = Sim7600(at, apn=args.apn, log=lambda text: tr._w("   modem  " + text))
    try:
        await modem.power_on()
        ident = await modem.identity()
        tr._w("   modem  SIM7600 %s IMEI %s IMSI %s ICCID %s" % (
            ident["firmware"], ident["imei"], ident["imsi"], ident["iccid"]))
        args.imei = ident["imei"]
        if ident["imsi"]:
            args.imsi = ident["imsi"]
        term, runner = build(args, tr, bearers=modem_bearers(modem, args), sim=modem)
        await modem.update_radio(term.params)
        await runner.run()
    finally:
        at.stop()
        stream.close()


def main(argv=None):
    ap = parser()
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    if args.platform_number is None:
        args.platform_number = ["10658000"]
    if not (args.udp or args.tcp or args.smsc or args.sim7600):
        print("wmmp-term: error: give --udp, --tcp or --smsc", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    if args.sim7600:
        try:
            asyncio.run(run_with_sim7600(args))
        except KeyboardInterrupt:
            pass
        except (WmmpError, OSError) as e:
            print("wmmp-term: error: %s" % e, file=sys.stderr)
            return 1
        return 0
    try:
        term, runner = build(args)
    except (WmmpError, ValueError) as e:
        print("wmmp-term: error: %s" % e, file=sys.stderr)
        return 2
    try:
        asyncio.run(runner.run())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
