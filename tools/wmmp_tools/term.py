"""`wmmp-term`: the terminal engine (lib/wmmp) on CPython with host bearers, for
OEMs who want to point a terminal at their own platform.

    wmmp-term --udp 127.0.0.1:7301 [--tcp 127.0.0.1:7302] --smsc 127.0.0.1:7400 \\
              --msisdn 13800000001 --platform-number 10658000 --state DIR \\
              --imei 860000000000001 --imsi 460001234567890 [--serial M2MMAKER]

Prints a transcript line for every message both ways and every engine event.
State (serial, passwords, keys, parameters) persists in DIR/params.json.
"""
import argparse
import asyncio
import logging
import sys
import time

from wmmp import engine as E, params as PM, profile as P, runner as R
from wmmp import codec, commands as C, header as H
from wmmp.errors import WmmpError

from wmmp_tools.bearers import UdpBearer, TcpBearer, SmsBearer
from wmmp_tools.statedir import FileStorage

BEARER_NAMES = {P.BEARER_SMS: "sms", P.BEARER_PACKET: "packet"}


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


def build(args, transcript=None, on_event=None):
    """(terminal, runner) from parsed arguments."""
    storage = FileStorage(args.state) if args.state else PM.MemoryStorage()
    params = PM.Params(storage)
    cfg = E.Config(args.imei, args.imsi, serial=args.serial.encode(),
                   software_version=args.software_version.encode(),
                   platform_numbers=tuple(args.platform_number),
                   session_key=not args.no_session_key)
    term = E.Terminal(cfg, params)
    bearers = {}
    if args.tcp:
        bearers[P.BEARER_PACKET] = TcpBearer(*args.tcp)
    elif args.udp:
        bearers[P.BEARER_PACKET] = UdpBearer(*args.udp)
    if args.smsc:
        bearers[P.BEARER_SMS] = SmsBearer(args.smsc[0], args.smsc[1], args.msisdn, list(args.platform_number))
    tr = transcript or Transcript()

    def ev(e):
        tr.event(e)
        if on_event:
            on_event(e)
    runner = R.Runner(term, bearers, on_event=ev, on_message=tr.message,
                      log=lambda text: tr._w("   log    " + text))
    return term, runner


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
    ap.add_argument("--verbose", action="store_true")
    return ap


def main(argv=None):
    ap = parser()
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    if args.platform_number is None:
        args.platform_number = ["10658000"]
    if not (args.udp or args.tcp or args.smsc):
        print("wmmp-term: error: give --udp, --tcp or --smsc", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
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
