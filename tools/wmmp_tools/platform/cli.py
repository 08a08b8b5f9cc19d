"""The `wmmp-platform` command: run the WMMP-T platform simulator, and operate a
running one through its control socket (see wmmp_tools.platform.control).

    wmmp-platform serve --db FILE [--udp H:P] [--tcp H:P] [--smsc H:P] [--msisdn N]
                        [--no-security] [--control H:P] [...]
    wmmp-platform provision --imsi IMSI --msisdn N [--serial S] [--preset-uplink PW
                        --preset-downlink PW] [--preset-key KEY] [--force-sms] [--no-security]
    wmmp-platform list | show SERIAL | log [SERIAL]
    wmmp-platform get SERIAL TAG...                 CONFIG_GET, answer by tag name
    wmmp-platform set SERIAL TAG=VALUE... [--force] CONFIG_SET, ACK and 0x4010 reports
    wmmp-platform ctrl SERIAL CODE                  REMOTE_CTRL (restart, report-stats, ...)
    wmmp-platform security SERIAL OP [TLV=VALUE...] [--sms]   SECURITY_CONFIG 0x00-0x07
    wmmp-platform logout SERIAL REASON
    wmmp-platform flag SERIAL NAME=0|1...           keep-connected, fail-reply, ...

Values: a number (decimal or 0x..), text, or hex:0011AA; tags by name
(HEARTBEAT_PERIOD) or number (0x0011).  Exit status: 0 done (and the terminal
answered 0x00); 1 the request failed, timed out, or was answered with another
result; 2 bad input (one line on stderr).
"""

import argparse
import asyncio
import datetime
import json
import logging
import re
import sys

from wmmp_tools.serving import until_stopped
from wmmp_tools.platform import control
from wmmp_tools.platform import creds
from wmmp_tools.platform import values as V

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
DEFAULT_CONTROL = ("127.0.0.1", 7310)


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def address(text):
    m = re.match(r"^\[?([^\[\]]*?)\]?:(\d+)$", text or "")
    if not m or not m.group(1) or int(m.group(2)) > 65535:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    return m.group(1), int(m.group(2))


def build_parser():
    p = _Parser(prog="wmmp-platform", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", parser_class=_Parser)

    s = sub.add_parser("serve", help="run the platform")
    s.add_argument("--db", required=True, help="SQLite file (:memory: for a throwaway run)")
    s.add_argument("--udp", type=address, default=("127.0.0.1", 7301), metavar="HOST:PORT")
    s.add_argument("--tcp", type=address, default=("127.0.0.1", 7302), metavar="HOST:PORT")
    s.add_argument("--smsc", type=address, default=None, metavar="HOST:PORT",
                   help="SMS centre (docs/SMSC.md); without it there is no SMS bearer")
    s.add_argument("--msisdn", default="10658000", help="the platform's number (TLV 0x0007)")
    s.add_argument("--control", type=address, default=DEFAULT_CONTROL, metavar="HOST:PORT")
    s.add_argument("--no-security", action="store_true",
                   help="no passwords, keys or digests for any terminal (REGISTER_ACK 0x13)")
    s.add_argument("--key-delay", type=float, default=2.0, metavar="S",
                   help="seconds between REGISTER_ACK and the key SMS (default 2)")
    s.add_argument("--base-alg", default="3des", help="base key algorithm: des, 3des, aes")
    s.add_argument("--session-alg", default="aes", help="session key algorithm: des, 3des, aes")
    s.add_argument("--session-key-length", type=int, default=16, help="AES session key length: 16, 24, 32")
    s.add_argument("--session-keys-required", action="store_true",
                   help="LOGIN without E03A -> 0x09 for terminals with a base key")
    s.add_argument("--always-base-key", action="store_true",
                   help="send a base key even to terminals that do not announce encryption (bit 0x80)")
    s.add_argument("--sms-digest", action="store_true", help="digests on SMS too (4.4.2.1: off by default)")
    s.add_argument("--heartbeat-default", type=int, default=30, metavar="S")
    s.add_argument("--verbose", "-v", action="store_true")

    def client(name, help_text):
        c = sub.add_parser(name, help=help_text)
        c.add_argument("--control", type=address, default=DEFAULT_CONTROL, metavar="HOST:PORT")
        c.add_argument("--timeout", type=float, default=30.0, metavar="S")
        c.add_argument("--json", action="store_true", help="print the raw JSON reply")
        return c

    c = client("provision", "provision a SIM (IMSI <-> MSISDN) and optional preset secrets")
    c.add_argument("--imsi", required=True)
    c.add_argument("--msisdn", required=True)
    c.add_argument("--serial")
    c.add_argument("--preset-uplink", metavar="PW")
    c.add_argument("--preset-downlink", metavar="PW")
    c.add_argument("--preset-key", metavar="KEY")
    c.add_argument("--preset-key-alg", metavar="ALG", help="des, 3des (default), aes")
    c.add_argument("--preset-validity", metavar="UNIX_TIME")
    c.add_argument("--force-sms", action="store_true", help="REGISTER by packet -> 0x02 (use SMS)")
    c.add_argument("--no-security", action="store_true", help="this SIM's terminal works without security")
    client("list", "terminals with state, last seen, bearer")
    c = client("show", "identities, secrets, parameters and recent messages of a terminal")
    c.add_argument("serial")
    c.add_argument("--limit", type=int, default=20)
    c = client("log", "the message log")
    c.add_argument("serial", nargs="?")
    c.add_argument("--limit", type=int, default=50)
    c.add_argument("--hex", action="store_true", help="show each message's bytes")
    for name, h in (("get", "CONFIG_GET"), ("set", "CONFIG_SET"), ("ctrl", "REMOTE_CTRL"),
                    ("security", "SECURITY_CONFIG"), ("logout", "LOGOUT")):
        c = client(name, h + " to a terminal")
        c.add_argument("serial")
        if name == "get":
            c.add_argument("tags", nargs="+", metavar="TAG")
        elif name == "set":
            c.add_argument("assignments", nargs="+", metavar="TAG=VALUE")
            c.add_argument("--force", action="store_true", help="0x4009 = 1: apply at once")
            c.add_argument("--report-wait", type=float, default=10.0, metavar="S",
                           help="seconds to wait for the 0x4010 report")
        elif name == "ctrl":
            c.add_argument("code", help="number or " + ", ".join(sorted(V.CTRL_NAMES)))
        elif name == "security":
            c.add_argument("operation", help="0..7 or " + ", ".join(sorted(V.SECURITY_OPS)))
            c.add_argument("assignments", nargs="*", metavar="TLV=VALUE",
                           help='VALUE: number, text, hex:..., "new" (E025/E028/E036), or empty for L=0')
        elif name == "logout":
            c.add_argument("reason", help="number or " + ", ".join(sorted(V.LOGOUT_REASONS)))
        c.add_argument("--encrypt", choices=("full", "partial"),
                       help="encrypt with the session key (E042 / E043, INTEROP 5)")
        c.add_argument("--sms", action="store_true", help="send by SMS")
        c.add_argument("--packet", action="store_true", help="send by the last packet route")
    c = client("flag", "per-terminal switches")
    c.add_argument("serial")
    c.add_argument("flags", nargs="+", metavar="NAME=0|1")
    return p


# -- serve ---------------------------------------------------------------------

async def _serve(args):
    from wmmp_tools.platform.db import Store
    from wmmp_tools.platform.model import Config
    from wmmp_tools.platform.server import Platform
    cfg = Config(host=args.udp[0], udp_port=args.udp[1], tcp_port=args.tcp[1], smsc=args.smsc,
                 msisdn=args.msisdn, security=not args.no_security, key_delay=args.key_delay,
                 base_alg=creds.alg_code(args.base_alg), session_alg=creds.alg_code(args.session_alg),
                 session_key_length=args.session_key_length,
                 session_keys_required=args.session_keys_required,
                 always_base_key=args.always_base_key, sms_digest=args.sms_digest,
                 heartbeat_default=args.heartbeat_default)
    cfg.tcp_host = args.tcp[0]
    pf = Platform(cfg, Store(args.db))
    await pf.start()
    ctl = control.ControlServer(pf, args.control[0], args.control[1])
    await ctl.start()
    print("wmmp-platform: udp %s:%s tcp %s:%s control %s:%d sms %s" % (
        cfg.host, pf.udp_port, cfg.tcp_host, pf.tcp_port, args.control[0], ctl.port,
        "%s via %s:%d" % (cfg.msisdn, args.smsc[0], args.smsc[1]) if args.smsc else "off"),
        file=sys.stderr, flush=True)
    try:
        await until_stopped()
    finally:
        await ctl.close()
        await pf.close()
        pf.db.close()


# -- client commands -------------------------------------------------------------

def _split_assignment(text, allow_new=False, allow_empty=False):
    if "=" not in text:
        if allow_empty:
            return V.parse_tag(text), ""
        raise V.InputError("expected TAG=VALUE, got %r" % text)
    name, value = text.split("=", 1)
    tag = V.parse_tag(name)
    if allow_new and value == "new":
        return tag, "new"
    if allow_empty and value == "":
        return tag, ""
    return tag, V.parse_value(tag, value).hex()


def request_of(args):
    """The control request (dict) of parsed client arguments; InputError when bad."""
    cmd = args.cmd
    req = {"op": cmd}
    if hasattr(args, "serial") and args.serial is not None:
        req["serial"] = args.serial
    if getattr(args, "sms", False) and getattr(args, "packet", False):
        raise V.InputError("--sms and --packet exclude each other")
    if getattr(args, "sms", False):
        req["via"] = "sms"
    elif getattr(args, "packet", False):
        req["via"] = "packet"
    if cmd in ("get", "set", "ctrl", "security", "logout"):
        req["timeout"] = args.timeout
        if args.encrypt:
            req["encrypt"] = args.encrypt
    if cmd == "provision":
        for k in ("imsi", "msisdn", "serial", "preset_uplink", "preset_downlink", "preset_key",
                  "preset_key_alg", "preset_validity"):
            if getattr(args, k) is not None:
                req[k] = getattr(args, k)
        req["force_sms"] = args.force_sms
        req["no_security"] = args.no_security
    elif cmd in ("show", "log"):
        req["limit"] = args.limit
    elif cmd == "get":
        req["tags"] = [V.parse_tag(t) for t in args.tags]
    elif cmd == "set":
        req["tlvs"] = [list(_split_assignment(a)) for a in args.assignments]
        req["force"] = args.force
        req["report_wait"] = args.report_wait
    elif cmd == "ctrl":
        req["code"] = V.parse_code(args.code, V.CTRL_NAMES, "control code")
    elif cmd == "security":
        req["operation"] = V.parse_code(args.operation, V.SECURITY_OPS, "security operation", 7)
        req["tlvs"] = [list(_split_assignment(a, allow_new=True, allow_empty=True)) for a in args.assignments]
    elif cmd == "logout":
        req["reason"] = V.parse_code(args.reason, V.LOGOUT_REASONS, "logout reason")
    elif cmd == "flag":
        flags = {}
        for f in args.flags:
            name, _, value = f.partition("=")
            if value not in ("0", "1"):
                raise V.InputError("flag %r: expected NAME=0 or NAME=1" % f)
            flags[name] = int(value)
        req["flags"] = flags
    return req


def _when(t):
    if not t:
        return "-"
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def _print_tlvs(tlvs, out):
    for t in tlvs:
        out.write("  %s (0x%04X) = %s\n" % (t["name"], t["tag"], t["text"]))


def _print_answer(reply, out):
    line = reply.get("command", "answer")
    if "result" in reply:
        line += " result 0x%02X" % reply["result"]
        if reply.get("result_text"):
            line += " (%s)" % reply["result_text"]
    if reply.get("encryption"):
        line += " [%s encryption]" % reply["encryption"]
    out.write(line + "\n")
    _print_tlvs(reply.get("tlvs", []), out)
    for r in reply.get("reports", []):
        out.write("  0x4010 report: %s\n" % r.get("text"))
    for n in reply.get("notes", []):
        out.write("  note: %s\n" % n)


def _print_messages(rows, out, show_hex=False):
    for m in rows:
        line = "%s %-15s %-4s %-4s %-22s %s" % (
            _when(m["time"]), m["terminal"] or "-", m["direction"], m["bearer"] or "-",
            (m["command"] or "") + (" #%d" % m["seq"] if m["seq"] is not None else ""), m["note"] or "")
        out.write(line.rstrip() + "\n")
        if show_hex and m["hex"]:
            out.write("    %s\n" % m["hex"])


def print_reply(cmd, args, reply, out):
    if cmd == "provision":
        s = reply["subscription"]
        out.write("provisioned IMSI %s <-> MSISDN %s%s\n" % (
            s["imsi"], s["msisdn"], " (serial %s)" % s["serial"] if s.get("serial") else ""))
    elif cmd == "flag":
        out.write("%s: %s\n" % (reply["terminal"], ", ".join("%s=%s" % kv for kv in reply["changed"].items())))
    elif cmd == "list":
        out.write("%-18s %-11s %-16s %-12s %-19s %s\n" % ("SERIAL", "STATE", "IMSI", "MSISDN", "LAST SEEN", "BEARER"))
        for t in reply["terminals"]:
            out.write("%-18s %-11s %-16s %-12s %-19s %s%s\n" % (
                t["serial"], t["state"], t["imsi"] or "-", t["msisdn"] or "-", _when(t["last_seen"]),
                t["address"] or "-", " [session key]" if t["session_key"] else ""))
        for s in reply.get("unregistered_subscriptions", []):
            out.write("%-18s %-11s %-16s %-12s\n" % (s.get("serial") or "-", "provisioned", s["imsi"], s["msisdn"]))
    elif cmd == "show":
        t = reply["terminal"]
        for k in ("serial", "state", "imei", "imsi", "msisdn", "software_version", "last_seen_text",
                  "last_address", "security", "up_pw", "up_valid", "down_pw", "down_valid", "base_key",
                  "base_alg_name", "base_valid", "session_alg_name", "logged_in", "curtime", "session_key",
                  "keep_connected", "fail_reply", "session_required", "pending_keys", "cleared"):
            if t.get(k) not in (None, ""):
                out.write("%-17s %s\n" % (k, t[k]))
        out.write("parameters:\n")
        _print_tlvs(reply["params"], out)
        out.write("recent messages:\n")
        _print_messages(reply["messages"], out)
    elif cmd == "log":
        _print_messages(reply["messages"], out, args.hex)
    else:
        _print_answer(reply, out)


def main(argv=None, out=None, err=None):
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except UsageError as e:
        err.write("wmmp-platform: error: %s\n" % e)
        return EXIT_INPUT
    except SystemExit as e:      # --help
        return e.code if isinstance(e.code, int) else EXIT_OK
    if args.cmd is None:
        err.write("wmmp-platform: error: name a command (serve, provision, list, show, get, set, ...)\n")
        return EXIT_INPUT
    if args.cmd == "serve":
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(asctime)s %(name)s %(message)s", stream=err)
        try:
            creds.alg_code(args.base_alg)
            creds.alg_code(args.session_alg)
            asyncio.run(_serve(args))
        except ValueError as e:
            err.write("wmmp-platform: error: %s\n" % e)
            return EXIT_INPUT
        except OSError as e:
            err.write("wmmp-platform: cannot start: %s\n" % e)
            return EXIT_FAILED
        except KeyboardInterrupt:
            pass
        return EXIT_OK
    try:
        req = request_of(args)
    except V.InputError as e:
        err.write("wmmp-platform: error: %s\n" % e)
        return EXIT_INPUT
    try:
        reply = control.call(args.control, req, timeout=args.timeout + 15.0)
    except (OSError, ValueError) as e:
        err.write("wmmp-platform: cannot reach the platform at %s:%d: %s\n" % (args.control[0], args.control[1], e))
        return EXIT_FAILED
    if not reply.get("ok"):
        err.write("wmmp-platform: %s%s\n" % ("error: " if reply.get("kind") == "input" else "",
                                             reply.get("error", "failed")))
        return EXIT_INPUT if reply.get("kind") == "input" else EXIT_FAILED
    try:
        if args.json:
            out.write(json.dumps(reply, indent=2, sort_keys=True) + "\n")
        else:
            print_reply(args.cmd, args, reply, out)
        out.flush()
    except BrokenPipeError:      # e.g. piped into head: the reader has gone
        if out is sys.stdout:
            import os
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    if "result" in reply and reply["result"] != 0:
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
