"""`wmmp-emu`: run an emulated cellular module on a pseudo-terminal, so the
firmware's UART code or any pyserial program talks AT to it.

    wmmp-emu sim7600 --pty [--link /tmp/ttySIM7600] [--smsc 127.0.0.1:7400]
             [--msisdn 13800000001] [--imei ..] [--imsi ..] [--iccid ..] [--pin-file F]
             [--drop-rate P] [--corrupt-rate P] [--delay-ms N] [--seed S]
             [--reboot-at S] [--outage-at S[:DUR]] [--no-signal-at S[:DUR]]
             [--swap-at S:IMSI:ICCID] [--baud B] [--no-pace] [--trace]
             [--rtt MS] [--loss PCT] [--bandwidth BPS] ...
    wmmp-emu bc95 --pty [the same] [--tcp] [--udp-max N] [--boot-errors N]
             [--psm-idle S] [--rrc-idle S] [--no-autoconnect] [--no-npin]
             [--npin-prefixed] [--sms] [--sms-off-cme] [--echo]
             [--data-outage-at S[:DUR]] ...
    wmmp-emu meter --pty LINK | --port PATH [--baud B] [--format 8N1]
             [--frame-size N|MIN-MAX] [--gap-ms MS] [--rate F] [--count N]
             [--duration S] [--seed S] [--report json]   (wmmp-emu meter --help)

Prints the slave device path (e.g. /dev/pts/7) on stdout as its first line and
runs until SIGINT/SIGTERM/SIGHUP.  While it runs, SIGUSR1 reboots the module and
SIGUSR2 toggles a packet network outage.  Every option value is checked before
anything is opened: a bad one is one line on stderr and exit status 2.
`--link PATH` makes PATH a symlink to the pty; it never replaces anything but a
stale symlink to a pseudo-terminal (a previous run's) and is removed at the end.
Exit status: 0 stopped, 1 could not start (the pty, the link), 2 bad options.

`wmmp-emu meter` is an emulated meter or POS controller for the terminal's
data port (wmmp-term --data-port): numbered, checksummed frames at the line
rate with known pauses, and a report of loss, order and latency of what the
terminal writes back (wmmp_tools.emu.meter).
"""

import asyncio
import logging
import random
import signal
import socket
import sys

from wmmp.terminal import simcard as S
from wmmp.errors import WmmpError

from wmmp_tools import logfmt
from wmmp_tools.emu import argcheck as A
from wmmp_tools.emu import bc95 as BC95
from wmmp_tools.emu import sim7600 as SIM7600
from wmmp_tools.emu.ptyio import PtyPort

PROG = "wmmp-emu"
MODELS = ("sim7600", "bc95")

_host_port = A.host_port
_prob = A.probability
_seconds = A.seconds_type()


def _at_for(text):
    """'S' or 'S:DURATION' -> (start, duration or None)."""
    parts = text.split(":")
    if len(parts) > 2:
        A.fail("expected SECONDS[:DURATION], got %s" % A.shown(text))
    return _seconds(parts[0]), (_seconds(parts[1]) if len(parts) == 2 else None)


_imsi = A.digits(15, 15, "an IMSI")
_iccid = A.digits(18, 20, "an ICCID")


def _swap(text):
    parts = text.split(":")
    if len(parts) not in (3, 4):
        A.fail("expected SECONDS:IMSI:ICCID[:MSISDN], got %s" % A.shown(text))
    return (_seconds(parts[0]), _imsi(parts[1]), _iccid(parts[2]),
            A.msisdn(parts[3]) if len(parts) == 4 else None)


_count = A.int_range(0, 1000)


def _percent(text):
    try:
        v = float(text.strip())
    except ValueError:
        v = None
    if v is None or not 0.0 <= v <= 100.0:
        A.fail("expected a percentage within 0..100, got %s" % A.shown(text))
    return v


def _shape(emu, args):
    """The radio link's shaping (netsock.LinkShaper) from --rtt / --loss / --bandwidth."""
    emu.shape(rtt=args.rtt / 1000.0, loss=args.loss / 100.0, bandwidth=args.bandwidth,
              seed=args.seed if args.seed is not None else 1)
_udp_max = A.int_range(1, BC95.UDP_MAX)


def _mapping(text):
    if "=" not in text:
        A.fail("expected ADDRESS=REAL_ADDRESS, got %s" % A.shown(text))
    a, b = text.split("=", 1)
    if not (1 <= len(a) <= 253 and all("!" <= c <= "~" and c not in "\",;=" for c in a)):
        A.fail("ADDRESS of ADDRESS=REAL_ADDRESS must be 1 to 253 visible characters without "
               "quotes or commas, got %s" % A.shown(text))
    return a, A.host(b)


def _pin(text):
    try:
        S.check_pin(text)
    except Exception:
        A.fail("PIN1 must be 4 to 8 digits (value not shown)")
    return text


def _puk(text):
    try:
        S.check_puk(text)
    except Exception:
        A.fail("PUK1 must be 8 digits (value not shown)")
    return text


# Options of one model only: dest -> (model, option); their defaults are set by
# the model's maker (None here tells "not given").
ONLY = {"netopen_delay": ("sim7600", "--netopen-delay"), "apn": ("sim7600", "--apn"),
        "spic_order": ("sim7600", "--spic-order"), "no_reg_act": ("sim7600", "--no-reg-act"),
        "no_echo": ("sim7600", "--no-echo"),
        "echo": ("bc95", "--echo"), "tcp": ("bc95", "--tcp"), "udp_max": ("bc95", "--udp-max"),
        "boot_errors": ("bc95", "--boot-errors"), "psm_idle": ("bc95", "--psm-idle"),
        "rrc_idle": ("bc95", "--rrc-idle"), "no_autoconnect": ("bc95", "--no-autoconnect"),
        "no_npin": ("bc95", "--no-npin"), "npin_prefixed": ("bc95", "--npin-prefixed"),
        "sms": ("bc95", "--sms"), "sms_off_cme": ("bc95", "--sms-off-cme"), "cmti": ("bc95", "--cmti"),
        "data_outage_at": ("bc95", "--data-outage-at"),
        "nsorf_remaining": ("bc95", "--nsorf-remaining")}


def build_parser():
    p = A.Parser(
        prog=PROG,
        description="Emulated cellular module on a pseudo-terminal (AT level, real loopback "
                    "sockets, SMS through wmmp-smsc).",
        epilog="Secrets: the card's PIN1 and PUK1 may come from files (--pin-file, --puk-file: "
               "readable by you only, chmod 600).  Exit status: 0 stopped by SIGINT/SIGTERM/SIGHUP, "
               "1 could not start, 2 a bad option value (one line on stderr).")
    p.add_argument("model", choices=MODELS,
                   help="module to emulate (or: wmmp-emu meter ..., the data-port meter; "
                        "wmmp-emu meter --help)")
    p.add_argument("--pty", action="store_true", default=True,
                   help="attach to a new pseudo-terminal (the default; its path is printed)")
    p.add_argument("--link", metavar="PATH",
                   help="also make PATH a symlink to the pty, removed at the end (replaces only a "
                        "stale symlink to a pseudo-terminal; its directory must exist)")
    p.add_argument("--smsc", type=_host_port, metavar="HOST:PORT",
                   help="SMS centre (wmmp-smsc) to send and receive SMS through")
    p.add_argument("--msisdn", type=A.msisdn, default="13800000001",
                   help="the SIM's number at the SMS centre (default %(default)s)")
    p.add_argument("--imei", type=A.digits(15, 15, "an IMEI"), default="860000000000001",
                   help="15 digits (default %(default)s)")
    p.add_argument("--imsi", type=_imsi, default="460001234567890", help="15 digits (default %(default)s)")
    p.add_argument("--iccid", type=_iccid, default="89860012345678901234",
                   help="18 to 20 digits (default %(default)s)")
    p.add_argument("--pin", type=_pin, metavar="PIN1",
                   help="PIN1 (the card asks for it at boot); without it and --pin-file PIN1 is off")
    p.add_argument("--pin-file", metavar="FILE",
                   help="read PIN1 (4 to 8 digits) from FILE (chmod 600) instead of --pin")
    p.add_argument("--puk", type=_puk, metavar="PUK1", help="PUK1, 8 digits (default 12345678)")
    p.add_argument("--puk-file", metavar="FILE", help="read PUK1 from FILE (chmod 600) instead of --puk")
    p.add_argument("--boot-time", type=_seconds, default=2.0, metavar="S",
                   help="seconds from power-on/reset to RDY (default 2)")
    p.add_argument("--reg-delay", type=_seconds, default=1.0, metavar="S",
                   help="seconds from SIM ready to registered (default 1)")
    p.add_argument("--netopen-delay", type=_seconds, default=None, metavar="S",
                   help="SIM7600: seconds from AT+NETOPEN to +NETOPEN: 0 (default 0.5)")
    p.add_argument("--rssi", type=A.int_range(0, 31, extra=(99,)),
                   help="+CSQ rssi at power-on, 0..31 or 99 for no signal (default 23 on the "
                        "SIM7600, 21 on the BC95)")
    p.add_argument("--bind", type=A.ip_address, default="127.0.0.1", metavar="ADDRESS",
                   help="address the module's sockets bind to (default %(default)s)")
    p.add_argument("--map", type=_mapping, action="append", default=[], metavar="ADDR=REAL",
                   help="send traffic for ADDR (as the firmware names it) to REAL")
    p.add_argument("--apn", type=A.apn, default=None,
                   help="SIM7600: fail AT+NETOPEN unless CID 1 has this APN")
    p.add_argument("--spic-order", choices=("pin1,puk1,pin2,puk2", "pin1,pin2,puk1,puk2"),
                   default=None, help="SIM7600: +SPIC field order (unconfirmed; default pin1,puk1,pin2,puk2)")
    p.add_argument("--reg-unquoted", action="store_true",
                   help="n=2 registration replies with unquoted LAC/CI or TAC/CI (unconfirmed)")
    p.add_argument("--no-reg-act", action="store_true", default=None,
                   help="SIM7600: n=2 registration replies without <AcT> (unconfirmed)")
    p.add_argument("--sms-first-index", type=A.int_range(0, 255), default=0,
                   help="first SM storage index, 0..255 (default 0)")
    p.add_argument("--no-echo", action="store_true", default=None, help="SIM7600: boot with ATE0")
    p.add_argument("--baud", type=A.int_range(300, 4000000), default=None, metavar="BAUD",
                   help="the module's UART rate at power-on, paced as a real line (default: "
                        "115200 on the SIM7600, which AT+IPR changes; 9600 on the BC95, "
                        "which AT+NATSPEED changes)")
    p.add_argument("--no-pace", action="store_true",
                   help="move bytes at once instead of at the UART's line rate (fast tests)")
    b = p.add_argument_group("bc95", "options of the BC95 model")
    b.add_argument("--echo", action="store_true", default=None, help="boot with ATE1 (default: no echo)")
    b.add_argument("--tcp", action="store_true", default=None,
                   help="BC95-G: TCP sockets (AT+NSOCR=STREAM,6 / NSOCO / NSOSD)")
    b.add_argument("--udp-max", type=_udp_max, default=None, metavar="N",
                   help="largest NSOST payload, 1..%d (default %d; 512 on old firmware)"
                        % (BC95.UDP_MAX, BC95.UDP_MAX))
    b.add_argument("--boot-errors", type=_count, default=None, metavar="N",
                   help="answer the first N commands after every boot with ERROR (0..1000, default 0)")
    b.add_argument("--psm-idle", type=_seconds, default=None, metavar="S",
                   help="power saving: PSM S seconds after the last radio activity; "
                        "downlink then waits for the next uplink (default: no PSM)")
    b.add_argument("--rrc-idle", type=_seconds, default=None, metavar="S",
                   help="RRC release (+CSCON:0) after S idle seconds (default 20)")
    b.add_argument("--no-autoconnect", action="store_true", default=None,
                   help="NV AUTOCONNECT FALSE: radio off at boot (AT+CFUN=1, AT+CGATT=1)")
    b.add_argument("--no-npin", action="store_true", default=None, help="no AT+NPIN (unconfirmed on BC95)")
    b.add_argument("--npin-prefixed", action="store_true", default=None,
                   help="'+NPIN:ERROR PIN blocked/disabled' instead of the bare form")
    b.add_argument("--sms", action="store_true", default=None,
                   help="module and network offer SMS (default: SMS commands fail)")
    b.add_argument("--sms-off-cme", action="store_true", default=None,
                   help="without --sms: +CME ERROR:4 instead of ERROR")
    b.add_argument("--cmti", action="store_true", default=None,
                   help="receive SMS into storage with +CMTI (default: +CMT direct delivery)")
    b.add_argument("--data-outage-at", type=_at_for, action="append", default=None, metavar="S[:DUR]",
                   help="from S seconds, for DUR seconds (or for good), the PDN alone is gone: "
                        "sockets fail, registration and SMS stay")
    b.add_argument("--nsorf-remaining", choices=("socket", "datagram"), default=None,
                   help="what NSORF's <remaining> counts (default socket: every unread byte)")
    # faults
    p.add_argument("--drop-rate", type=_prob, default=0.0, metavar="P",
                   help="lose each output line with probability P (0..1)")
    p.add_argument("--corrupt-rate", type=_prob, default=0.0, metavar="P",
                   help="flip a bit in each output line with probability P (0..1)")
    p.add_argument("--delay-ms", type=A.int_range(0, 60000), default=0, metavar="N",
                   help="hold every output line N ms (0..60000)")
    p.add_argument("--seed", type=A.int_range(0, 2 ** 63 - 1), help="seed for the random faults")
    p.add_argument("--reboot-at", type=_seconds, action="append", default=[], metavar="S",
                   help="the module reboots S seconds after start (repeatable)")
    p.add_argument("--outage-at", type=_at_for, action="append", default=[], metavar="S[:DUR]",
                   help="packet network outage from S seconds, for DUR seconds (or for good)")
    p.add_argument("--no-signal-at", type=_at_for, action="append", default=[],
                   metavar="S[:DUR]", help="no signal from S seconds, for DUR seconds")
    p.add_argument("--swap-at", type=_swap, action="append", default=[],
                   metavar="S:IMSI:ICCID[:MSISDN]", help="another SIM card at S seconds")
    p.add_argument("--rtt", type=A.int_range(0, 60000), default=0, metavar="MS",
                   help="radio link round trip time in ms added to the module's UDP/TCP/HTTP "
                        "traffic (0..60000, default 0)")
    p.add_argument("--loss", type=_percent, default=0.0, metavar="PCT",
                   help="radio link loss in percent (0..100; datagrams dropped, TCP segments "
                        "retransmitted; seeded by --seed)")
    p.add_argument("--bandwidth", type=A.int_range(0, 10 ** 9), default=0, metavar="BPS",
                   help="radio link rate in bytes per second each way (0: unlimited, the default)")
    p.add_argument("--trace", action="store_true", help="print every byte both ways on stderr")
    p.add_argument("--verbose", action="store_true", help="log emulator events on stderr")
    return p


MODEL_DEFAULTS = {
    "sim7600": {"netopen_delay": 0.5, "apn": None, "spic_order": "pin1,puk1,pin2,puk2",
                "no_reg_act": False, "no_echo": False},
    "bc95": {"echo": False, "tcp": False, "udp_max": BC95.UDP_MAX, "boot_errors": 0, "psm_idle": None,
             "rrc_idle": 20.0, "no_autoconnect": False, "no_npin": False, "npin_prefixed": False,
             "sms": False, "sms_off_cme": False, "cmti": False, "data_outage_at": [],
             "nsorf_remaining": "socket"},
}


def check(args):
    """Checks across options and of what options name (files, the bind
    address, the link); fills in the model's defaults.  Raises A.UsageError;
    creates and opens nothing that stays."""
    for dest, (model, opt) in ONLY.items():
        if getattr(args, dest) is not None and model != args.model:
            raise A.UsageError("%s is an option of the %s model, not of the %s" % (
                opt, model.upper(), args.model.upper()))
    for model in MODELS:
        for dest, v in MODEL_DEFAULTS[model].items():
            if getattr(args, dest) is None:
                setattr(args, dest, v)
    if args.pin is not None and args.pin_file is not None:
        raise A.UsageError("give --pin or --pin-file, not both")
    if args.puk is not None and args.puk_file is not None:
        raise A.UsageError("give --puk or --puk-file, not both")
    if args.pin_file is not None:
        args.pin = A.read_secret(args.pin_file, "PIN1", S.check_pin)
    if args.puk_file is not None:
        args.puk = A.read_secret(args.puk_file, "PUK1", S.check_puk)
    if args.puk is None:
        args.puk = "12345678"
    if args.sms_off_cme and args.sms:
        raise A.UsageError("--sms-off-cme is how a module without SMS answers: not with --sms")
    try:                      # the address the module's sockets bind to must be this host's
        s = socket.socket(socket.AF_INET6 if ":" in args.bind else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((args.bind, 0))
        finally:
            s.close()
    except OSError as e:
        raise A.UsageError("--bind %s: cannot bind there (%s)" % (args.bind, e.strerror or e))
    if args.link is not None:
        A.check_link(args.link, "--link")
    rates = SIM7600.IPR_RATES if args.model == "sim7600" else BC95.NATSPEED_RATES
    if args.baud is None:
        args.baud = 115200 if args.model == "sim7600" else 9600
    elif args.baud not in rates:
        raise A.UsageError("--baud %d: the %s takes %s" % (args.baud, args.model.upper(),
                                                            ", ".join(map(str, rates))))


def _sim(args):
    return S.SimulatedSim(args.imsi, args.iccid, args.imei, pin=args.pin or "1234",
                          puk=args.puk, pin_enabled=args.pin is not None)


def make_sim7600(args, trace=None):
    sim = _sim(args)
    opts = SIM7600.Options(
        echo=not args.no_echo, boot_time=args.boot_time, reset_time=args.boot_time,
        reg_delay=args.reg_delay, netopen_delay=args.netopen_delay,
        rssi=23 if args.rssi is None else args.rssi,
        bind_host=args.bind, address_map=dict(args.map), apn_required=args.apn,
        spic_order=args.spic_order, reg_quoted=not args.reg_unquoted,
        reg_act=not args.no_reg_act, sms_first_index=args.sms_first_index,
        baud=args.baud, pace=not args.no_pace)
    emu = SIM7600.Sim7600(sim, msisdn=args.msisdn, smsc=args.smsc, options=opts,
                          rng=random.Random(args.seed), trace=trace)
    emu.faults.set_rates(drop=args.drop_rate, corrupt=args.corrupt_rate, delay_ms=args.delay_ms)
    _shape(emu, args)
    return emu


def make_bc95(args, trace=None):
    opts = BC95.Options(
        echo=args.echo, boot_time=args.boot_time, reboot_time=args.boot_time,
        boot_errors=args.boot_errors, autoconnect=not args.no_autoconnect,
        reg_delay=args.reg_delay, rssi=21 if args.rssi is None else args.rssi,
        bind_host=args.bind, address_map=dict(args.map), reg_quoted=not args.reg_unquoted,
        tcp=args.tcp, udp_max=args.udp_max, nsorf_remaining=args.nsorf_remaining,
        rrc_idle=args.rrc_idle, psm_idle=args.psm_idle, npin=not args.no_npin,
        npin_prefixed=args.npin_prefixed, sms=args.sms,
        sms_off_reply="cme" if args.sms_off_cme else "error",
        cnmi=(2, 1, 0, 0, 0) if args.cmti else (2, 2, 0, 0, 0),
        sms_first_index=args.sms_first_index, baud=args.baud, pace=not args.no_pace)
    emu = BC95.Bc95(_sim(args), msisdn=args.msisdn, smsc=args.smsc, options=opts,
                    rng=random.Random(args.seed), trace=trace)
    emu.faults.set_rates(drop=args.drop_rate, corrupt=args.corrupt_rate, delay_ms=args.delay_ms)
    _shape(emu, args)
    return emu


MAKERS = {"sim7600": make_sim7600, "bc95": make_bc95}


def _trace(direction, data):
    print("%s %r" % (direction, data), file=sys.stderr, flush=True)


async def _schedule(emu, args):
    """The timed faults of the command line."""
    events = []
    for t in args.reboot_at:
        events.append((t, "reboot", None))
    for t, dur in args.outage_at:
        events.append((t, "outage", True))
        if dur is not None:
            events.append((t + dur, "outage", False))
    for t, dur in args.data_outage_at:
        events.append((t, "data-outage", True))
        if dur is not None:
            events.append((t + dur, "data-outage", False))
    for t, dur in args.no_signal_at:
        events.append((t, "signal", 99))
        if dur is not None:
            events.append((t + dur, "signal", emu.o.rssi))
    for t, imsi, iccid, msisdn in args.swap_at:
        events.append((t, "swap", (imsi, iccid, msisdn)))
    events.sort(key=lambda e: e[0])
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for t, what, arg in events:
        await asyncio.sleep(max(0.0, t0 + t - loop.time()))
        print("wmmp-emu: %s %s" % (what, "" if arg is None else arg), file=sys.stderr, flush=True)
        if what == "reboot":
            emu.reboot()
        elif what == "outage":
            emu.set_outage(arg)
        elif what == "data-outage":
            emu.set_outage(arg, data_only=True)
        elif what == "signal":
            emu.set_signal(arg)
        else:
            emu.swap_sim(arg[0], arg[1], msisdn=arg[2])


async def _run(args):
    emu = MAKERS[args.model](args, trace=_trace if args.trace else None)
    port = PtyPort(emu, link=args.link)
    port.open()
    try:
        # the handlers before the path is printed: a stop that follows at once
        # must still close the port (and remove the link it made)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, emu.reboot)
        loop.add_signal_handler(signal.SIGUSR2, lambda: emu.set_outage(not emu.outage))
        print(port.path, flush=True)
        print("wmmp-emu %s on %s%s" % (args.model, port.path,
                                      " (%s)" % args.link if args.link else ""),
              file=sys.stderr, flush=True)
        await emu.start()
        sched = loop.create_task(_schedule(emu, args))
        try:
            await stop.wait()
        finally:
            sched.cancel()
            await emu.close()
    finally:
        port.close()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["meter"]:
        from wmmp_tools.emu import meter
        return meter.main(argv[1:])
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    try:
        check(args)
        S.SimulatedSim(args.imsi, args.iccid, args.imei, pin=args.pin or "1234", puk=args.puk)
    except (A.UsageError, ValueError, WmmpError) as e:
        A.say(PROG, str(e))
        return 2
    logfmt.setup("emu", args.verbose, verbose_level=logging.DEBUG)
    try:
        asyncio.run(_run(args))
    except KeyboardInterrupt:
        pass
    except A.UsageError as e:         # the link path changed since the check
        A.say(PROG, str(e))
        return 1
    except BrokenPipeError:           # whoever read the pty path went away
        return 1
    except (OSError, ValueError, WmmpError) as e:
        A.say(PROG, "cannot start: %s" % (e,))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
