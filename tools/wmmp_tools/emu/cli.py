"""`wmmp-emu`: run an emulated cellular module on a pseudo-terminal, so the
firmware's UART code or any pyserial program talks AT to it (issue 5).

    wmmp-emu sim7600 --pty [--link /tmp/ttySIM7600] [--smsc 127.0.0.1:7400]
             [--msisdn 13800000001] [--imei ..] [--imsi ..] [--iccid ..] [--pin 1234]
             [--drop-rate P] [--corrupt-rate P] [--delay-ms N] [--seed S]
             [--reboot-at S] [--outage-at S[:DUR]] [--no-signal-at S[:DUR]]
             [--swap-at S:IMSI:ICCID] [--trace] ...
    wmmp-emu bc95 --pty [the same] [--tcp] [--udp-max N] [--boot-errors N]
             [--psm-idle S] [--rrc-idle S] [--no-autoconnect] [--no-npin]
             [--npin-prefixed] [--sms] [--sms-off-cme] [--echo]
             [--data-outage-at S[:DUR]] ...

Prints the slave device path (e.g. /dev/pts/7) on stdout as its first line and
runs until SIGINT/SIGTERM.  While it runs, SIGUSR1 reboots the module and
SIGUSR2 toggles a packet network outage.  Exit status: 0 stopped, 2 bad options.
"""

import argparse
import asyncio
import logging
import random
import re
import signal
import sys

from wmmp.terminal import simcard as S

from wmmp_tools.emu import bc95 as BC95
from wmmp_tools.emu import sim7600 as SIM7600
from wmmp_tools.emu.ptyio import PtyPort

MODELS = ("sim7600", "bc95")


def _host_port(text):
    m = re.match(r"^\[?([^\[\]]*?)\]?:(\d+)$", text)
    if not m or not m.group(1) or int(m.group(2)) > 65535:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    return m.group(1), int(m.group(2))


def _prob(text):
    try:
        p = float(text)
    except ValueError:
        p = -1.0
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError("expected a probability within 0..1")
    return p


def _seconds(text):
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if v < 0:
        raise argparse.ArgumentTypeError("expected seconds >= 0")
    return v


def _at_for(text):
    """'S' or 'S:DURATION' -> (start, duration or None)."""
    parts = text.split(":")
    if len(parts) > 2:
        raise argparse.ArgumentTypeError("expected SECONDS[:DURATION]")
    return _seconds(parts[0]), (_seconds(parts[1]) if len(parts) == 2 else None)


def _swap(text):
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise argparse.ArgumentTypeError("expected SECONDS:IMSI:ICCID[:MSISDN]")
    return (_seconds(parts[0]), parts[1], parts[2], parts[3] if len(parts) == 4 else None)


def _count(text):
    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError("expected a count >= 0")
    return v


def _udp_max(text):
    try:
        v = int(text)
    except ValueError:
        v = -1
    if not 1 <= v <= BC95.UDP_MAX:
        raise argparse.ArgumentTypeError("expected 1..%d" % BC95.UDP_MAX)
    return v


def _mapping(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError("expected ADDRESS=REAL_ADDRESS")
    a, b = text.split("=", 1)
    return a, b


def build_parser():
    p = argparse.ArgumentParser(
        prog="wmmp-emu",
        description="Emulated cellular module on a pseudo-terminal (AT level, real loopback "
                    "sockets, SMS through wmmp-smsc).")
    p.add_argument("model", choices=MODELS, help="module to emulate")
    p.add_argument("--pty", action="store_true", default=True,
                   help="attach to a new pseudo-terminal (the default; its path is printed)")
    p.add_argument("--link", metavar="PATH", help="also make PATH a symlink to the pty")
    p.add_argument("--smsc", type=_host_port, metavar="HOST:PORT",
                   help="SMS centre (wmmp-smsc) to send and receive SMS through")
    p.add_argument("--msisdn", default="13800000001", help="the SIM's number at the SMS centre")
    p.add_argument("--imei", default="860000000000001")
    p.add_argument("--imsi", default="460001234567890")
    p.add_argument("--iccid", default="89860012345678901234")
    p.add_argument("--pin", help="PIN1 (the card asks for it at boot); without it PIN1 is off")
    p.add_argument("--puk", default="12345678")
    p.add_argument("--boot-time", type=_seconds, default=2.0, metavar="S",
                   help="seconds from power-on/reset to RDY (default 2)")
    p.add_argument("--reg-delay", type=_seconds, default=1.0, metavar="S",
                   help="seconds from SIM ready to registered (default 1)")
    p.add_argument("--netopen-delay", type=_seconds, default=0.5, metavar="S")
    p.add_argument("--rssi", type=int, help="+CSQ rssi at power-on (99: no signal; default "
                                            "23 on the SIM7600, 21 on the BC95)")
    p.add_argument("--bind", default="127.0.0.1", metavar="HOST",
                   help="address the module's UDP sockets bind to")
    p.add_argument("--map", type=_mapping, action="append", default=[], metavar="ADDR=REAL",
                   help="send traffic for ADDR (as the firmware names it) to REAL")
    p.add_argument("--apn", help="fail AT+NETOPEN unless CID 1 has this APN")
    p.add_argument("--spic-order", choices=("pin1,puk1,pin2,puk2", "pin1,pin2,puk1,puk2"),
                   default="pin1,puk1,pin2,puk2", help="+SPIC field order (unconfirmed)")
    p.add_argument("--reg-unquoted", action="store_true",
                   help="n=2 registration replies with unquoted LAC/CI (unconfirmed)")
    p.add_argument("--no-reg-act", action="store_true",
                   help="n=2 registration replies without <AcT> (unconfirmed)")
    p.add_argument("--sms-first-index", type=int, default=0, help="first SM storage index")
    p.add_argument("--no-echo", action="store_true", help="boot with ATE0 (SIM7600)")
    # BC95 only (shared/spec/MODEMS.md, BC95 part)
    b = p.add_argument_group("bc95", "options of the BC95 model")
    b.add_argument("--echo", action="store_true", help="boot with ATE1 (default: no echo)")
    b.add_argument("--tcp", action="store_true",
                   help="BC95-G: TCP sockets (AT+NSOCR=STREAM,6 / NSOCO / NSOSD)")
    b.add_argument("--udp-max", type=_udp_max, default=BC95.UDP_MAX, metavar="N",
                   help="largest NSOST payload (default %d; 512 on old firmware)" % BC95.UDP_MAX)
    b.add_argument("--boot-errors", type=_count, default=0, metavar="N",
                   help="answer the first N commands after every boot with ERROR")
    b.add_argument("--psm-idle", type=_seconds, metavar="S",
                   help="power saving: PSM S seconds after the last radio activity; "
                        "downlink then waits for the next uplink (default: no PSM)")
    b.add_argument("--rrc-idle", type=_seconds, default=20.0, metavar="S",
                   help="RRC release (+CSCON:0) after S idle seconds (default 20)")
    b.add_argument("--no-autoconnect", action="store_true",
                   help="NV AUTOCONNECT FALSE: radio off at boot (AT+CFUN=1, AT+CGATT=1)")
    b.add_argument("--no-npin", action="store_true", help="no AT+NPIN (unconfirmed on BC95)")
    b.add_argument("--npin-prefixed", action="store_true",
                   help="'+NPIN:ERROR PIN blocked/disabled' instead of the bare form")
    b.add_argument("--sms", action="store_true",
                   help="module and network offer SMS (default: SMS commands fail)")
    b.add_argument("--sms-off-cme", action="store_true",
                   help="without --sms: +CME ERROR:4 instead of ERROR")
    b.add_argument("--cmti", action="store_true",
                   help="receive SMS into storage with +CMTI (default: +CMT direct delivery)")
    b.add_argument("--data-outage-at", type=_at_for, action="append", default=[], metavar="S[:DUR]",
                   help="from S seconds, for DUR seconds (or for good), the PDN alone is gone: "
                        "sockets fail, registration and SMS stay")
    b.add_argument("--nsorf-remaining", choices=("socket", "datagram"), default="socket",
                   help="what NSORF's <remaining> counts (default: every unread byte)")
    # faults
    p.add_argument("--drop-rate", type=_prob, default=0.0, metavar="P",
                   help="lose each output line with probability P")
    p.add_argument("--corrupt-rate", type=_prob, default=0.0, metavar="P",
                   help="flip a bit in each output line with probability P")
    p.add_argument("--delay-ms", type=int, default=0, metavar="N",
                   help="hold every output line N ms")
    p.add_argument("--seed", type=int, help="seed for the random faults")
    p.add_argument("--reboot-at", type=_seconds, action="append", default=[], metavar="S",
                   help="the module reboots S seconds after start (repeatable)")
    p.add_argument("--outage-at", type=_at_for, action="append", default=[], metavar="S[:DUR]",
                   help="packet network outage from S seconds, for DUR seconds (or for good)")
    p.add_argument("--no-signal-at", type=_at_for, action="append", default=[],
                   metavar="S[:DUR]", help="no signal from S seconds, for DUR seconds")
    p.add_argument("--swap-at", type=_swap, action="append", default=[],
                   metavar="S:IMSI:ICCID[:MSISDN]", help="another SIM card at S seconds")
    p.add_argument("--trace", action="store_true", help="print every byte both ways on stderr")
    p.add_argument("--verbose", action="store_true", help="log emulator events on stderr")
    return p


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
        reg_act=not args.no_reg_act, sms_first_index=args.sms_first_index)
    emu = SIM7600.Sim7600(sim, msisdn=args.msisdn, smsc=args.smsc, options=opts,
                          rng=random.Random(args.seed), trace=trace)
    emu.faults.set_rates(drop=args.drop_rate, corrupt=args.corrupt_rate, delay_ms=args.delay_ms)
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
        sms_first_index=args.sms_first_index)
    emu = BC95.Bc95(_sim(args), msisdn=args.msisdn, smsc=args.smsc, options=opts,
                    rng=random.Random(args.seed), trace=trace)
    emu.faults.set_rates(drop=args.drop_rate, corrupt=args.corrupt_rate, delay_ms=args.delay_ms)
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
    print(port.path, flush=True)
    print("wmmp-emu %s on %s%s" % (args.model, port.path,
                                  " (%s)" % args.link if args.link else ""),
          file=sys.stderr, flush=True)
    await emu.start()
    sched = asyncio.get_running_loop().create_task(_schedule(emu, args))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, emu.reboot)
    loop.add_signal_handler(signal.SIGUSR2, lambda: emu.set_outage(not emu.outage))
    try:
        await stop.wait()
    finally:
        sched.cancel()
        await emu.close()
        port.close()


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    if args.data_outage_at and args.model != "bc95":
        print("wmmp-emu: --data-outage-at is a BC95 option (a SIM7600 outage keeps SMS already)",
              file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(name)s: %(message)s", stream=sys.stderr)
    try:
        S.SimulatedSim(args.imsi, args.iccid, args.imei, pin=args.pin or "1234", puk=args.puk)
    except Exception as e:
        print("wmmp-emu: %s" % e, file=sys.stderr)
        return 2
    try:
        asyncio.run(_run(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
