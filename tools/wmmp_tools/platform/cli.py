"""The `wmmp-platform` command: run the WMMP-T platform simulator, and operate a
running one through its control socket (see wmmp_tools.platform.control).

    wmmp-platform serve --db FILE [--udp H:P] [--tcp H:P] [--smsc H:P] [--msisdn N]
                        [--no-security] [--control H:P] [--http H:P] [...]
                        [--apps FILE (--app-long H:P | --app-http H:P)...]
    wmmp-platform provision --imsi IMSI --msisdn N [--serial S] [--replace]
                        [--preset-uplink PW --preset-downlink PW] [--preset-key KEY]
                        [--force-sms] [--no-security]
    wmmp-platform list | show SERIAL | log [SERIAL]
    wmmp-platform get SERIAL TAG...                 CONFIG_GET, answer by tag name
    wmmp-platform set SERIAL TAG=VALUE... [--force] CONFIG_SET, ACK and 0x4010 reports
    wmmp-platform ctrl SERIAL CODE                  REMOTE_CTRL (restart, report-stats, ...)
    wmmp-platform security SERIAL OP [TLV=VALUE...] [--sms]   SECURITY_CONFIG 0x00-0x07
    wmmp-platform logout SERIAL REASON
    wmmp-platform flag SERIAL NAME=0|1...           keep-connected, fail-reply, ...
    wmmp-platform data send SERIAL (--hex H | --text T | --file F) [--ec CODE]
                                                    downlink data to a terminal's data port
    wmmp-platform data follow [--ec CODE] [--serial S] [--all]   uplink data, live
    wmmp-platform data result SERIAL RESULT [--count N]   answer uplink data with 0x01-0x04 (tests)
    wmmp-platform upgrade publish FILE --version V  store a software file (size, CRC16, CRC32)
    wmmp-platform upgrade push SERIAL [--http] [--force] [--version V]
                                                    DOWNLOAD_INFO; prints the terminal's ACK
    wmmp-platform upgrade status [SERIAL]           progress and outcome per terminal
    wmmp-platform upgrade files                     the published files

Values: a number (decimal or 0x..), text, or hex:0011AA; tags by name
(HEARTBEAT_PERIOD) or number (E025 or 0xE025: four hex digits are hex; else
decimal).  Secrets (passwords, keys, PINs) are hidden in what is printed, also
with --json, unless --show-secrets.  A secret given on the command line is seen
by other users of the machine (ps): every option taking one has a -file and an
-env form, and a secret TLV value may be file:PATH or env:NAME.  The database
(--db) is created 0600; one that other users may read is refused.

The application interface (section 5, appendices C and H; docs/APP_PLATFORM.md):
--apps names a JSON file of the applications (SERVICEID, user name, password,
base key, allowed addresses, terminals, remote controls; secrets may be
file:PATH or env:NAME; the file must be 0600 like --db), served on a long
connection (--app-long) and / or HTTP with its WSDL (--app-http).

Times are shown in UTC+8 (Beijing time, docs/PROTOCOL.md 8) with their offset,
and a stored time also as Unix time.  serve logs one line per event on stderr:
time (UTC+8), component (platform, platform.udp/.tcp/.sms, platform.control,
smsc.client), level, message; --verbose shows every event.

Exit status: 0 done (and the terminal answered 0x00); 1 the request failed, timed
out, or was answered with another result, or serve could not start; 2 bad input
(one line on stderr).
"""

import argparse
import asyncio
import json
import logging
import os
import sys

from wmmp_tools import logfmt, upload
from wmmp_tools.serving import until_stopped
from wmmp_tools.platform import control
from wmmp_tools.platform import options as O
from wmmp_tools.platform import values as V
from wmmp_tools.platform.model import parse_serial

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
DATA_FILE_MAX = 1 << 20       # bytes of `data send --file`
FOLLOW_WAIT = 10.0            # s one `data follow` request waits for data
DEFAULT_CONTROL = ("127.0.0.1", 7310)
FLAG_NAMES = ("keep-connected", "fail-reply", "session-required", "security")   # operator.FLAGS
SECRET_OPTIONS = (("preset_uplink", "PW", "preset uplink password (E025, 8 visible ASCII characters)"),
                  ("preset_downlink", "PW", "preset downlink password (E028, 8 visible ASCII characters)"),
                  ("preset_key", "KEY", "preset base key (E036, letters/digits: DES 8, 3DES 16/24, AES 16/24/32)"))


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


address = O.address(0)


def _serial_arg(text):
    try:
        return parse_serial(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def build_parser():
    p = _Parser(prog="wmmp-platform", description=__doc__.split("\n\n")[0],
                epilog="\n\n".join(__doc__.split("\n\n")[2:]),
                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", parser_class=_Parser)

    s = sub.add_parser("serve", help="run the platform",
                       description="Run the platform simulator until SIGINT/SIGTERM.")
    s.add_argument("--db", required=True, type=O.nonempty, metavar="FILE",
                   help="SQLite file (:memory: for a throwaway run); created 0600 (its directory, "
                   "when missing, 0700); refused when other users may read it, when it is not "
                   "SQLite or belongs to something else, or when another serve uses it")
    s.add_argument("--udp", type=address, default=("127.0.0.1", 7301), metavar="HOST:PORT",
                   help="UDP address (port 0: any free one; default 127.0.0.1:7301)")
    s.add_argument("--tcp", type=address, default=("127.0.0.1", 7302), metavar="HOST:PORT",
                   help="TCP address (default 127.0.0.1:7302)")
    s.add_argument("--smsc", type=O.address(1), default=None, metavar="HOST:PORT",
                   help="SMS centre (docs/SMSC.md); without it there is no SMS bearer")
    s.add_argument("--msisdn", type=O.msisdn, default="10658000", help="the platform's number (TLV 0x0007)")
    s.add_argument("--control", type=address, default=DEFAULT_CONTROL, metavar="HOST:PORT",
                   help="control socket, a loopback address (default 127.0.0.1:7310)")
    s.add_argument("--no-security", action="store_true",
                   help="no passwords, keys or digests for any terminal (REGISTER_ACK 0x13)")
    s.add_argument("--key-delay", type=O.seconds(0, 3600), default=2.0, metavar="S",
                   help="seconds between REGISTER_ACK and the key SMS (default 2)")
    s.add_argument("--base-alg", type=O.alg, default=O.alg("3des"), metavar="ALG",
                   help="base key algorithm: des, 3des (default), aes")
    s.add_argument("--session-alg", type=O.alg, default=O.alg("aes"), metavar="ALG",
                   help="session key algorithm: des, 3des, aes (default)")
    s.add_argument("--session-key-length", type=O.choice_int((16, 24, 32)), default=None, metavar="N",
                   help="AES session key length: 16 (default), 24, 32")
    s.add_argument("--session-keys-required", action="store_true",
                   help="LOGIN without E03A -> 0x09 for terminals with a base key")
    s.add_argument("--always-base-key", action="store_true",
                   help="send a base key even to terminals that do not announce encryption (bit 0x80)")
    s.add_argument("--sms-digest", action="store_true", help="digests on SMS too (4.4.2.1: off by default)")
    s.add_argument("--heartbeat-default", type=O.integer(1, 604800), default=30, metavar="S",
                   help="heartbeat period (s) of terminals that report none (default 30)")
    s.add_argument("--http", type=address, default=None, metavar="HOST:PORT",
                   help="HTTP file server for upgrades over HTTP (upgrade push --http); default: none. "
                   "It serves Range (206), ETag and If-Range (docs/PROTOCOL.md 12)")
    s.add_argument("--http-ignore-range", action="store_true",
                   help="the HTTP file server answers every GET 200 with the whole file (tests of a "
                   "server that ignores Range)")
    s.add_argument("--url-host", type=O.host, default=None, metavar="HOST",
                   help="this platform's address as terminals reach it, in upgrade URLs (default: the "
                   "--udp / --tcp / --http host; 127.0.0.1 when that is 0.0.0.0)")
    s.add_argument("--apps", metavar="FILE",
                   help="applications of the interface of section 5 (JSON, mode 0600: docs/APP_PLATFORM.md); "
                   "needs --app-long and / or --app-http")
    s.add_argument("--app-long", type=address, default=None, metavar="HOST:PORT",
                   help="the application interface on a long connection (appendix C)")
    s.add_argument("--app-http", type=address, default=None, metavar="HOST:PORT",
                   help="the application interface as an HTTP web service, WSDL at ?wsdl (appendix C)")
    s.add_argument("--verbose", "-v", action="store_true", help="log every event (and tracebacks of internal errors)")

    def client(name, help_text):
        c = sub.add_parser(name, help=help_text, description=help_text)
        c.add_argument("--control", type=O.address(1), default=DEFAULT_CONTROL, metavar="HOST:PORT",
                       help="the running platform's control socket (default 127.0.0.1:7310)")
        c.add_argument("--timeout", type=O.seconds(0, O.MAX_SECONDS, lo_open=True), default=30.0, metavar="S",
                       help="seconds to wait for the answer (default 30)")
        c.add_argument("--json", action="store_true", help="print the JSON reply")
        c.add_argument("--show-secrets", action="store_true",
                       help="show passwords, keys and PINs in clear (hidden otherwise, also in --json)")
        return c

    c = client("provision", "provision a SIM (IMSI <-> MSISDN) and optional preset secrets")
    c.add_argument("--imsi", required=True, type=O.imsi, help="15 digits")
    c.add_argument("--msisdn", required=True, type=O.msisdn, help="the SIM's number")
    c.add_argument("--serial", type=lambda t: _provision_serial(t), metavar="SERIAL",
                   help="the serial this SIM's terminal must have: 16 characters, an 8-character "
                   "maker prefix and 8 more (or hex: and 32 hex digits)")
    c.add_argument("--replace", action="store_true",
                   help="overwrite this IMSI's subscription when it has other values, and delete the "
                   "subscription of another IMSI holding this MSISDN (refused without it)")
    for name, metavar, what in SECRET_OPTIONS:
        opt = "--" + name.replace("_", "-")
        g = c.add_mutually_exclusive_group()
        g.add_argument(opt, metavar=metavar, type=O.nonempty,
                       help="%s; on the command line it is seen by other users (ps): prefer %s-file "
                       "or %s-env" % (what, opt, opt))
        g.add_argument(opt + "-file", metavar="PATH", dest=name + "_file", type=O.nonempty,
                       help="read the %s from the file PATH (a final newline is ignored; only its "
                       "owner may read it: chmod 600)" % what.split(" (")[0])
        g.add_argument(opt + "-env", metavar="NAME", dest=name + "_env", type=O.nonempty,
                       help="read the %s from the environment variable NAME" % what.split(" (")[0])
    c.add_argument("--preset-key-alg", metavar="ALG", type=O.alg, help="des, 3des (default), aes")
    c.add_argument("--preset-validity", metavar="UNIX_TIME", type=O.integer(1, 0xFFFFFFFF),
                   help="end of validity of the preset secrets (E027/E02A/E038; default 2100-01-01)")
    c.add_argument("--force-sms", action="store_true", help="REGISTER by packet -> 0x02 (use SMS)")
    c.add_argument("--no-security", action="store_true", help="this SIM's terminal works without security")
    client("list", "terminals with state, last seen, bearer")
    c = client("show", "identities, secrets (hidden unless --show-secrets), parameters and recent "
               "messages of a terminal")
    c.add_argument("serial", type=_serial_arg)
    c.add_argument("--limit", type=O.integer(1, 100000), default=20, metavar="N")
    c = client("log", "the message log")
    c.add_argument("serial", nargs="?", type=_serial_arg)
    c.add_argument("--limit", type=O.integer(1, 100000), default=50, metavar="N")
    c.add_argument("--hex", action="store_true",
                   help="show each message's bytes (secret values as * unless --show-secrets)")
    for name, h in (("get", "CONFIG_GET"), ("set", "CONFIG_SET"), ("ctrl", "REMOTE_CTRL"),
                    ("security", "SECURITY_CONFIG"), ("logout", "LOGOUT")):
        c = client(name, h + " to a terminal")
        c.add_argument("serial", type=_serial_arg)
        if name == "get":
            c.add_argument("tags", nargs="+", metavar="TAG", help="by name (HEARTBEAT_PERIOD) or number (0011, 0x0011)")
        elif name == "set":
            c.add_argument("assignments", nargs="+", metavar="TAG=VALUE",
                           help="VALUE: number, text or hex:...; for a secret tag also file:PATH or env:NAME")
            c.add_argument("--force", action="store_true", help="0x4009 = 1: apply at once")
            c.add_argument("--report-wait", type=O.seconds(0, O.MAX_SECONDS), default=10.0, metavar="S",
                           help="seconds to wait for the 0x4010 report")
        elif name == "ctrl":
            c.add_argument("code", help="number or " + ", ".join(sorted(V.CTRL_NAMES)))
        elif name == "security":
            c.add_argument("operation", help="0..7 or " + ", ".join(sorted(V.SECURITY_OPS)))
            c.add_argument("assignments", nargs="*", metavar="TLV=VALUE",
                           help='TLV: E025, 0xE025 or a name; VALUE: number, text, hex:..., "new" '
                           '(E025/E028/E036: the platform makes one), empty for L=0, or for a secret '
                           'file:PATH or env:NAME (kept off the command line)')
        elif name == "logout":
            c.add_argument("reason", help="number or " + ", ".join(sorted(V.LOGOUT_REASONS)))
        c.add_argument("--encrypt", choices=("full", "partial"),
                       help="encrypt with the session key (E042 / E043, PROTOCOL.md 5)")
        c.add_argument("--sms", action="store_true", help="send by SMS")
        c.add_argument("--packet", action="store_true", help="send by the last packet route")
    _data_parsers(sub, client)
    _upgrade_parsers(sub)
    c = client("flag", "per-terminal switches")
    c.add_argument("serial", type=_serial_arg)
    c.add_argument("flags", nargs="+", metavar="NAME=0|1", help=", ".join(FLAG_NAMES))
    return p


def _data_parsers(sub, client):
    """`data send | follow | result`: the serial data bridge (docs/PROTOCOL.md 11)."""
    d = sub.add_parser("data", help="the serial data bridge: downlink data, uplink data live",
                       description="Transparent data of the serial bridge (TRANSPARENT_DATA, "
                                   "docs/PROTOCOL.md 11).")
    dsub = d.add_subparsers(dest="data_cmd", parser_class=_Parser)

    def nested(name, help_text):
        c = dsub.add_parser(name, help=help_text, description=help_text)
        c.add_argument("--control", type=O.address(1), default=DEFAULT_CONTROL, metavar="HOST:PORT",
                       help="the running platform's control socket (default 127.0.0.1:7310)")
        c.add_argument("--json", action="store_true", help="print the JSON reply (follow: one line per data)")
        return c
    c = nested("send", "downlink TRANSPARENT_DATA to a terminal's data port (source EC code 0x4015); "
                       "prints the terminal's ACK: 0x05 received, 0x06 CRC failed, or no answer")
    c.add_argument("serial", type=_serial_arg)
    g = c.add_mutually_exclusive_group(required=True)
    g.add_argument("--hex", metavar="HEX", help="the data as hex digits (spaces and colons ignored)")
    g.add_argument("--text", metavar="TEXT", help="the data as text (UTF-8)")
    g.add_argument("--file", metavar="FILE", help="the data from FILE (at most %d bytes), sent as "
                   "messages of --chunk bytes, each after the previous one's ACK" % DATA_FILE_MAX)
    c.add_argument("--ec", metavar="CODE", type=_ec_arg,
                   help="source EC code, 0x4015 (default: the terminal's 0x0028 as last reported)")
    c.add_argument("--chunk", type=O.integer(1, 1024), default=1024, metavar="N",
                   help="bytes per message, 1..1024 (default 1024)")
    c.add_argument("--timeout", type=O.seconds(0, O.MAX_SECONDS, lo_open=True), default=30.0, metavar="S",
                   help="seconds to wait for each ACK (default 30)")
    c.add_argument("--sms", action="store_true", help="send by SMS")
    c.add_argument("--packet", action="store_true", help="send by the last packet route")
    c = nested("follow", "print uplink data as it arrives (time, terminal, EC code, hex and text) "
                         "until Ctrl-C")
    c.add_argument("--ec", metavar="CODE", type=_ec_arg, help="only data to this EC code (0x4014)")
    c.add_argument("--serial", type=_serial_arg, help="only data from this terminal")
    c.add_argument("--all", action="store_true", help="first the data already stored, then the new")
    c = nested("result", "answer the terminal's next uplink TRANSPARENT_DATA with RESULT instead "
                         "of storing it (1 destination offline, 2 wrong address, 3 not allowed, "
                         "4 CRC failed; 0 clears)")
    c.add_argument("serial", type=_serial_arg)
    c.add_argument("result", type=O.integer(0, 4), metavar="RESULT", help="0..4 (0: back to normal)")
    c.add_argument("--count", type=O.integer(0, 10 ** 9), default=1, metavar="N",
                   help="how many messages (0: every one until cleared; default 1)")
    c.add_argument("--timeout", type=O.seconds(0, O.MAX_SECONDS, lo_open=True), default=30.0, metavar="S",
                   help="seconds to wait for the platform (default 30)")


def _upgrade_parsers(sub):
    """`upgrade publish | push | status | files`: software upgrades (docs/PROTOCOL.md 12)."""
    u = sub.add_parser("upgrade", help="software upgrades: publish a file, push it, follow its progress",
                       description="Software upgrade transactions (DOWNLOAD_INFO, FILE_REQ, HTTP; "
                                   "docs/PROTOCOL.md 12).")
    usub = u.add_subparsers(dest="upgrade_cmd", parser_class=_Parser)

    def nested(name, help_text):
        c = usub.add_parser(name, help=help_text, description=help_text)
        c.add_argument("--control", type=O.address(1), default=DEFAULT_CONTROL, metavar="HOST:PORT",
                       help="the running platform's control socket (default 127.0.0.1:7310)")
        c.add_argument("--json", action="store_true", help="print the JSON reply")
        c.add_argument("--timeout", type=O.seconds(0, O.MAX_SECONDS, lo_open=True), default=30.0, metavar="S",
                       help="seconds to wait for the answer (default 30)")
        return c
    c = nested("publish", "store a software file on the platform: its size, CRC16 (profile variant), "
                          "CRC32 and SHA-256 are computed; push names it by its version")
    c.add_argument("file", metavar="FILE")
    c.add_argument("--version", required=True, metavar="V",
                   help="the software version it carries (VER_DSC, LOGIN): 1 to 8 visible ASCII characters")
    c = nested("push", "DOWNLOAD_INFO to a terminal: a new TRANS_ID, the URL of the file, 0x100B when "
                       "forced; prints the DOWNLOAD_INFO_ACK (exit 0: 0x00 up to date, 0x01 starts, "
                       "0x02 starts when idle; 1: refused or no answer)")
    c.add_argument("serial", type=_serial_arg)
    c.add_argument("--version", metavar="V", help="the published file of this version (default: the newest)")
    g = c.add_mutually_exclusive_group()
    g.add_argument("--http", action="store_const", const="http", dest="scheme",
                   help="download by HTTP GET with Range from the HTTP file server (serve --http)")
    g.add_argument("--wmmp", action="store_const", const="wmmp", dest="scheme",
                   help="download by FILE_REQ through this platform (default)")
    g = c.add_mutually_exclusive_group()
    g.add_argument("--crc16", action="store_const", const="crc16", dest="crc",
                   help="the URL gives the file's CRC16 (profile variant)")
    g.add_argument("--crc32", action="store_const", const="crc32", dest="crc",
                   help="the URL gives the file's CRC32 (default)")
    c.add_argument("--force", action="store_true", help="0x100B = 1: forced upgrade (even when busy)")
    c.add_argument("--file-window", type=O.integer(1, 1024), default=None, metavar="N",
                   help="answer only FILE_REQs less than N blocks beyond the first byte not yet served; "
                   "those further ahead go unanswered until the gap is filled (tests)")
    c.add_argument("--corrupt-at", type=O.integer(0, 0xFFFFFFFF), action="append", default=None,
                   metavar="READ_POINT", help="send the block at this read point once with a wrong CRC16 "
                   "(tests of a block asked for again); may be repeated")
    c.add_argument("--sms", action="store_true", help="send the DOWNLOAD_INFO by SMS")
    c.add_argument("--packet", action="store_true", help="send it by the last packet route")
    c = nested("status", "upgrade transactions with a progress bar: the newest of each terminal, or "
                         "every one of SERIAL")
    c.add_argument("serial", nargs="?", type=_serial_arg)
    c.add_argument("--all", action="store_true", help="every transaction, not only each terminal's newest")
    nested("files", "the published files")


def _ec_arg(text):
    if not (1 <= len(text) <= 32 and all("!" <= c <= "~" for c in text)):
        raise argparse.ArgumentTypeError("an EC code is 1 to 32 visible ASCII characters, got %r"
                                         % O._short(text))
    return text


def _provision_serial(text):
    try:
        return parse_serial(text, assigned=True)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


# -- serve ---------------------------------------------------------------------

# Log records as one line each in the format of every host tool (wmmp_tools.logfmt):
# an exception is its type and text, its traceback only with --verbose.
_OneLineFormatter = logfmt.LineFormatter


def _loop_errors(loop, context):
    exc = context.get("exception")
    logging.getLogger("wmmp.platform").error("%s%s", context.get("message", "error"),
                                             ": %s: %s" % (type(exc).__name__, exc) if exc else "",
                                             exc_info=exc if exc is not None and _loop_errors.verbose else None)


_loop_errors.verbose = False


async def _serve(args, err):
    from wmmp_tools.platform.db import Store, StoreError, check_path
    from wmmp_tools.platform.model import Config
    from wmmp_tools.platform.server import Platform
    from wmmp_tools.platform import upgrade
    asyncio.get_running_loop().set_exception_handler(_loop_errors)
    if args.session_key_length is not None and args.session_alg != O.alg("aes"):
        raise O.StartError("--session-key-length is for AES session keys (--session-alg aes)", 2)
    apps = None
    if args.apps is not None or args.app_long is not None or args.app_http is not None:
        if args.apps is None:
            raise O.StartError("--app-long and --app-http need --apps FILE (the applications)", 2)
        if args.app_long is None and args.app_http is None:
            raise O.StartError("--apps needs --app-long HOST:PORT and / or --app-http HOST:PORT", 2)
        from wmmp_tools.platform import appif
        try:
            apps = appif.load_apps(args.apps)
        except appif.AppsFileError as e:
            raise O.StartError(str(e), 2)
    try:
        check_path(args.db)      # nothing is touched before the ports are ours
    except StoreError as e:
        raise O.StartError(str(e), 2 if e.usage else 1)
    socks = []
    try:
        socks.append(O.bind("udp", args.udp, "--udp"))
        socks.append(O.bind("tcp", args.tcp, "--tcp"))
        socks.append(O.bind("tcp", args.control, "--control", loopback_only=True))
        if args.http is not None:
            socks.append(O.bind("tcp", args.http, "--http"))
        # The application interface's ports: bound here, before anything is touched,
        # and handed over to it (it listens on these very sockets).
        app_socks = [O.bind("tcp", a, o) if a is not None else None
                     for a, o in ((args.app_long, "--app-long"), (args.app_http, "--app-http"))]
        socks += [sk for sk in app_socks if sk is not None]
        try:
            store = Store(args.db, lock=True)
        except StoreError as e:
            raise O.StartError(str(e), 2 if e.usage else 1)
    except BaseException:
        for sk in socks:
            sk.close()
        raise
    cfg = Config(host=args.udp[0], udp_port=args.udp[1], tcp_port=args.tcp[1], smsc=args.smsc,
                 msisdn=args.msisdn, security=not args.no_security, key_delay=args.key_delay,
                 base_alg=args.base_alg, session_alg=args.session_alg,
                 session_key_length=args.session_key_length or 16,
                 session_keys_required=args.session_keys_required,
                 always_base_key=args.always_base_key, sms_digest=args.sms_digest,
                 heartbeat_default=args.heartbeat_default)
    cfg.tcp_host = args.tcp[0]
    cfg.url_host = args.url_host
    pf = Platform(cfg, store)
    ctl = ai = None
    app_socks_taken = False
    try:
        await pf.start(udp_sock=socks[0], tcp_sock=socks[1])
        ctl = control.ControlServer(pf, args.control[0], args.control[1])
        await ctl.start(sock=socks[2])
        if args.http is not None:
            await upgrade.start_http(pf, args.http[0], args.http[1], args.http_ignore_range, sock=socks[3])
        apptext = ""
        if apps is not None:
            app_socks_taken = True
            ai = await _start_apps(pf, apps, app_socks)
            apptext = " apps %d%s%s" % (len(apps[0]), " long %s:%d" % (args.app_long[0], ai.long_port)
                                        if ai.long is not None else "",
                                        " http %s:%d" % (args.app_http[0], ai.http_port) if ai.http is not None else "")
        logfmt.notice("wmmp.platform", "wmmp-platform listening on udp %s:%s tcp %s:%s control %s:%d sms %s%s%s",
                      cfg.host, pf.udp_port, cfg.tcp_host, pf.tcp_port, args.control[0], ctl.port,
                      "%s via %s:%d" % (cfg.msisdn, args.smsc[0], args.smsc[1]) if args.smsc else "off",
                      " http %s:%d%s" % (args.http[0], upgrade.state(pf).http.port,
                                         " (ignores Range)" if args.http_ignore_range else "")
                      if args.http is not None else "", apptext)
        await until_stopped()
    finally:
        if not app_socks_taken:
            for sk in app_socks:
                if sk is not None:
                    sk.close()
        if ai is not None:
            await ai.close()
        await upgrade.stop_http(pf)
        if ctl is not None:
            await ctl.close()
        await pf.close()
        pf.db.close()


async def _start_apps(pf, apps, socks):
    """The application interface (appif.py) on the sockets _serve bound for
    --app-long and --app-http (None: not asked for); they are its from here on."""
    from wmmp_tools.platform import appif
    long_sock, http_sock = socks
    ai = appif.AppInterface(pf, apps[0], apps[1])
    try:
        await ai.start(long=long_sock, http=http_sock)
    except OSError as e:
        await ai.close()
        for sk in socks:
            if sk is not None:
                sk.close()
        raise O.StartError("cannot listen for the applications: %s" % (e.strerror or e))
    return ai


def _run_serve(args, err):
    verbose = args.verbose
    logs = logfmt.setup("platform", verbose, stream=err)
    _loop_errors.verbose = verbose
    old_umask = os.umask(0o077)       # whatever serve creates is its user's only
    try:
        asyncio.run(_serve(args, err))
    except O.StartError as e:
        err.write("wmmp-platform: %s%s\n" % ("error: " if e.code == EXIT_INPUT else "cannot start: ", e))
        return e.code
    except KeyboardInterrupt:
        pass
    finally:
        os.umask(old_umask)
        logs.restore()
    return EXIT_OK


# -- client commands -------------------------------------------------------------

def _split_assignment(text, allow_new=False, allow_empty=False):
    if "=" not in text:
        if allow_empty:
            return V.parse_tag(text), ""
        raise V.InputError("expected TAG=VALUE, got %r" % O._short(text))
    name, value = text.split("=", 1)
    tag = V.parse_tag(name)
    if allow_new and value == "new":
        return tag, "new"
    if allow_empty and value == "":
        return tag, ""
    if V.is_secret(tag):
        try:
            value = O.secret_value(value, V.tag_name(tag))
        except O.OptionError as e:
            raise V.InputError(str(e))
    return tag, V.parse_value(tag, value).hex()


def _secret_option(args, name):
    """The value of a secret option given directly, by -file or by -env."""
    what = {"preset_uplink": "preset uplink password", "preset_downlink": "preset downlink password",
            "preset_key": "preset base key"}[name]
    if getattr(args, name + "_file", None) is not None:
        return O.read_secret_file(getattr(args, name + "_file"), what)
    if getattr(args, name + "_env", None) is not None:
        return O.read_secret_env(getattr(args, name + "_env"), what)
    return getattr(args, name)


def request_of(args):
    """The control request (dict) of parsed client arguments; InputError when bad."""
    cmd = args.cmd
    req = {"op": cmd}
    if hasattr(args, "serial") and args.serial is not None:
        req["serial"] = args.serial
    if getattr(args, "show_secrets", False):
        req["show_secrets"] = True
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
        try:
            for name, _, _ in SECRET_OPTIONS:
                v = _secret_option(args, name)
                if v is not None:
                    req[name] = v
        except O.OptionError as e:
            raise V.InputError(str(e))
        _check_provision(req, args)
        for k in ("imsi", "msisdn", "serial", "preset_key_alg", "preset_validity"):
            if getattr(args, k) is not None:
                req[k] = getattr(args, k)
        req["force_sms"] = args.force_sms
        req["no_security"] = args.no_security
        req["replace"] = args.replace
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
        if not req["tlvs"] and req["operation"] in (0x00, 0x01, 0x02, 0x03):
            raise V.InputError("security operation %s needs TLVs (TLV=VALUE, or TLV= to read)" % args.operation)
    elif cmd == "logout":
        req["reason"] = V.parse_code(args.reason, V.LOGOUT_REASONS, "logout reason")
    elif cmd == "flag":
        flags = {}
        for f in args.flags:
            name, _, value = f.partition("=")
            if name not in FLAG_NAMES:
                raise V.InputError("unknown flag %r (%s)" % (O._short(name), ", ".join(FLAG_NAMES)))
            if value not in ("0", "1"):
                raise V.InputError("flag %r: expected NAME=0 or NAME=1" % O._short(f))
            flags[name] = int(value)
        req["flags"] = flags
    return req


def _check_provision(req, args):
    """What the platform would refuse, said before anything is sent."""
    from wmmp.wire import digest as D
    from wmmp.errors import WmmpError
    from wmmp_tools.platform import creds
    for name in ("preset_uplink", "preset_downlink"):
        if name in req:
            try:
                D.password_field(req[name])
            except WmmpError:
                raise V.InputError("--%s must be 8 visible ASCII characters (PROTOCOL.md 8)" % name.replace("_", "-"))
    if ("preset_uplink" in req) != ("preset_downlink" in req):
        raise V.InputError("give both --preset-uplink and --preset-downlink")
    if "preset_key" in req:
        alg = args.preset_key_alg
        lengths = creds.VALID_KEY_LENGTHS[alg] if alg is not None else (8, 16, 24, 32)
        key = req["preset_key"]
        if not (key.isascii() and key.isalnum() and len(key) in lengths):
            raise V.InputError("--preset-key must be %s letters/digits%s" % (
                ", ".join(map(str, lengths[:-1])) + " or " + str(lengths[-1]) if len(lengths) > 1 else lengths[0], " for " + creds.alg_name(alg) if alg is not None else ""))
    elif args.preset_key_alg is not None:
        raise V.InputError("--preset-key-alg goes with --preset-key")
    if args.preset_validity is not None and "preset_uplink" not in req and "preset_key" not in req:
        raise V.InputError("--preset-validity goes with preset secrets")


def _safe(value):
    """Text for the screen: what a terminal reported may hold control characters
    (escape sequences): they are shown escaped, never sent to the terminal."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _when(t):
    """A time in a table: UTC+8 with its offset (wmmp_tools.logfmt)."""
    if not t:
        return "-"
    return logfmt.stamp(int(t))


# Fields of `show` that are Unix times: shown as UTC+8 and Unix time.
_TIME_FIELDS = ("registered", "last_seen", "up_valid", "down_valid", "base_valid", "curtime")
_YES_NO_FIELDS = ("logged_in",)


def _field_text(k, v):
    if k in _TIME_FIELDS:
        return logfmt.when(v)
    if k in _YES_NO_FIELDS:
        return "yes" if v else "no"
    return _safe(v)


def _print_tlvs(tlvs, out):
    for t in tlvs:
        out.write("  %s (0x%04X) = %s\n" % (t["name"], t["tag"], _safe(t["text"])))


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
            (m["command"] or "") + (" #%d" % m["seq"] if m["seq"] is not None else ""), _safe(m["note"] or ""))
        out.write(line.rstrip() + "\n")
        if show_hex and m["hex"]:
            out.write("    %s\n" % m["hex"])


def print_reply(cmd, args, reply, out):
    if cmd == "provision":
        s = reply["subscription"]
        for r in reply.get("replaced", []):
            if r["imsi"] != s["imsi"]:
                out.write("deleted the subscription IMSI %s <-> MSISDN %s (--replace)\n" % (r["imsi"], r["msisdn"]))
        out.write("%s IMSI %s <-> MSISDN %s%s%s\n" % (
            "provisioned" if reply.get("changed", True) else "already provisioned",
            s["imsi"], s["msisdn"], " (serial %s)" % s["serial"] if s.get("serial") else "",
            " (replaces its earlier subscription)" if any(r["imsi"] == s["imsi"] for r in reply.get("replaced", []))
            else ""))
    elif cmd == "flag":
        out.write("%s: %s\n" % (reply["terminal"], ", ".join("%s=%s" % kv for kv in reply["changed"].items())))
    elif cmd == "list":
        out.write("%-18s %-11s %-16s %-12s %-26s %s\n" % ("SERIAL", "STATE", "IMSI", "MSISDN", "LAST SEEN", "BEARER"))
        for t in reply["terminals"]:
            out.write("%-18s %-11s %-16s %-12s %-26s %s%s\n" % (
                t["serial"], t["state"], t["imsi"] or "-", t["msisdn"] or "-", _when(t["last_seen"]),
                t["address"] or "-", " [session key]" if t["session_key"] else ""))
        for s in reply.get("unregistered_subscriptions", []):
            out.write("%-18s %-11s %-16s %-12s\n" % (s.get("serial") or "-", "provisioned", s["imsi"], s["msisdn"]))
    elif cmd == "show":
        t = reply["terminal"]
        for k in ("serial", "state", "imei", "imsi", "msisdn", "software_version", "registered", "last_seen",
                  "last_address", "security", "up_pw", "up_valid", "down_pw", "down_valid", "base_key",
                  "base_alg_name", "base_valid", "session_alg_name", "logged_in", "curtime", "session_key",
                  "keep_connected", "fail_reply", "session_required", "pending_keys", "cleared"):
            if t.get(k) not in (None, ""):
                out.write("%-17s %s\n" % (k, _field_text(k, t[k])))
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
        return _main(argv, out, err)
    except KeyboardInterrupt:
        return 130
    except Exception as e:       # never a traceback for the user
        if os.environ.get("WMMP_TRACEBACK"):
            raise
        try:
            err.write("wmmp-platform: internal error: %s: %s\n" % (type(e).__name__, e))
        except Exception:
            pass
        return EXIT_FAILED


REQUESTS = {"get": "CONFIG_GET", "set": "CONFIG_SET", "ctrl": "REMOTE_CTRL", "security": "SECURITY_CONFIG",
            "logout": "LOGOUT"}


def _waiting(args, where, err):
    """What the command waits for, shown on a terminal (stderr) once it takes more
    than a second: a terminal's answer with a countdown of --timeout (and of
    --report-wait for set), else the platform itself."""
    if args.cmd in REQUESTS:
        seconds = args.timeout + (args.report_wait if args.cmd == "set" else 0.0)
        return logfmt.waiting("%s to answer %s" % (args.serial, REQUESTS[args.cmd]), seconds, err,
                              "wmmp-platform")
    return logfmt.waiting("the platform at %s" % where, None, err, "wmmp-platform")


def _main(argv, out, err):
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
        return _run_serve(args, err)
    if args.cmd == "data" and args.data_cmd is None:
        err.write("wmmp-platform: error: name a data command (send, follow, result)\n")
        return EXIT_INPUT
    if args.cmd == "upgrade" and args.upgrade_cmd is None:
        err.write("wmmp-platform: error: name an upgrade command (publish, push, status, files)\n")
        return EXIT_INPUT
    with logfmt.setup("platform", False, stream=err):
        if args.cmd == "data":
            return _data(args, out, err)
        if args.cmd == "upgrade":
            return _upgrade(args, out, err)
        return _client(args, out, err)


def _client(args, out, err):
    """An operator command: one request to the running platform, its answer printed."""
    try:
        req = request_of(args)
    except (V.InputError, O.OptionError) as e:
        err.write("wmmp-platform: error: %s\n" % e)
        return EXIT_INPUT
    where = "%s:%d" % args.control
    try:
        with _waiting(args, where, err):
            reply = control.call(args.control, req, timeout=args.timeout + 15.0)
    except TimeoutError:
        err.write("wmmp-platform: no answer from the platform at %s within %.0f s\n" % (where, args.timeout + 15.0))
        return EXIT_FAILED
    except ConnectionRefusedError:
        err.write("wmmp-platform: cannot reach the platform at %s: connection refused (is `wmmp-platform "
                  "serve` running with this --control?)\n" % where)
        return EXIT_FAILED
    except (OSError, ValueError, OverflowError) as e:
        err.write("wmmp-platform: cannot reach the platform at %s: %s\n" % (
            where, getattr(e, "strerror", None) or e))
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
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    if "result" in reply and reply["result"] != 0:
        return EXIT_FAILED
    return EXIT_OK


# -- data send / follow / result ---------------------------------------------------

class _Failed(Exception):
    """A request that could not be made: the line is already on stderr."""


def _call(args, req, err, timeout):
    where = "%s:%d" % args.control
    try:
        reply = control.call(args.control, req, timeout=timeout)
    except TimeoutError:
        err.write("wmmp-platform: no answer from the platform at %s within %.0f s\n" % (where, timeout))
        raise _Failed(EXIT_FAILED)
    except ConnectionRefusedError:
        err.write("wmmp-platform: cannot reach the platform at %s: connection refused (is `wmmp-platform "
                  "serve` running with this --control?)\n" % where)
        raise _Failed(EXIT_FAILED)
    except (OSError, ValueError, OverflowError) as e:
        err.write("wmmp-platform: cannot reach the platform at %s: %s\n" % (
            where, getattr(e, "strerror", None) or e))
        raise _Failed(EXIT_FAILED)
    if not reply.get("ok"):
        err.write("wmmp-platform: %s%s\n" % ("error: " if reply.get("kind") == "input" else "",
                                             reply.get("error", "failed")))
        raise _Failed(EXIT_INPUT if reply.get("kind") == "input" else EXIT_FAILED)
    return reply


def _data_bytes(args):
    """The data of `data send` (InputError when it cannot be had)."""
    if args.hex is not None:
        from wmmp_tools import jsonform as J
        try:
            data = J.parse_hex(args.hex, "--hex")
        except J.FormError as e:
            raise V.InputError(str(e))
    elif args.text is not None:
        data = args.text.encode("utf-8", "surrogateescape")
    else:
        try:
            with open(args.file, "rb") as f:
                data = f.read(DATA_FILE_MAX + 1)
        except OSError as e:
            raise V.InputError("--file %s: %s" % (O._short(args.file), e.strerror or e))
        if len(data) > DATA_FILE_MAX:
            raise V.InputError("--file %s is longer than %d bytes" % (O._short(args.file), DATA_FILE_MAX))
    if not data:
        raise V.InputError("no data to send (empty)")
    return data


def printable(data):
    """The bytes as text: printable ASCII as is, anything else as '.'."""
    return "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in bytes(data))


def data_line(row):
    """One uplink data row in the one log format (wmmp_tools.logfmt)."""
    data = bytes.fromhex(row["data"]) if isinstance(row["data"], str) else bytes(row["data"])
    rec = logging.makeLogRecord({"name": "wmmp.platform.data", "levelno": logging.INFO, "levelname": "INFO",
                                 "msg": "%s -> EC %s: %d bytes %s | %s" % (
                                     row.get("terminal") or "-", row.get("ec_code") or "-", len(data),
                                     data.hex(), printable(data)),
                                 "args": None, "created": row.get("time") or 0.0})
    return logfmt.LineFormatter(tool="platform").format(rec)


def _data(args, out, err):
    try:
        if args.data_cmd == "send":
            return _data_send(args, out, err)
        if args.data_cmd == "follow":
            return _data_follow(args, out, err)
        reply = _call(args, {"op": "data_result", "serial": args.serial, "result": args.result,
                             "count": args.count}, err, args.timeout + 15.0)
        if args.json:
            out.write(json.dumps(reply, sort_keys=True) + "\n")
        elif reply["result"] == 0:
            out.write("%s: uplink data answered normally again\n" % reply["terminal"])
        else:
            out.write("%s: the next %s uplink TRANSPARENT_DATA answered 0x%02X\n" % (
                reply["terminal"], reply["count"] or "(all, until cleared)", reply["result"]))
        return EXIT_OK
    except V.InputError as e:
        err.write("wmmp-platform: error: %s\n" % e)
        return EXIT_INPUT
    except _Failed as e:
        return e.args[0]
    except BrokenPipeError:
        if out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _data_send(args, out, err):
    """Each chunk waits for the ACK of the one before: 0 when all were answered
    0x05 (received), 1 at the first other answer or no answer."""
    if args.sms and args.packet:
        raise V.InputError("--sms and --packet exclude each other")
    data = _data_bytes(args)
    chunks = [data[i:i + args.chunk] for i in range(0, len(data), args.chunk)]
    for n, chunk in enumerate(chunks):
        req = {"op": "data_send", "serial": args.serial, "data": chunk.hex(), "timeout": args.timeout}
        if args.ec is not None:
            req["ec"] = args.ec
        if args.sms:
            req["via"] = "sms"
        elif args.packet:
            req["via"] = "packet"
        with logfmt.waiting("%s to acknowledge the data" % args.serial, args.timeout, err, "wmmp-platform"):
            try:
                reply = _call(args, req, err, args.timeout + 15.0)
            except _Failed as e:
                if len(chunks) > 1:
                    err.write("wmmp-platform: %d of %d messages acknowledged before\n" % (n, len(chunks)))
                raise e
        result = reply.get("result")
        if args.json:
            out.write(json.dumps(reply, sort_keys=True) + "\n")
        else:
            out.write("%s%d bytes to %s: ACK 0x%02X (%s)\n" % (
                "[%d/%d] " % (n + 1, len(chunks)) if len(chunks) > 1 else "", len(chunk), args.serial,
                result, reply.get("result_text") or "?"))
        out.flush()
        if result != 0x05:
            return EXIT_FAILED
    return EXIT_OK


def _data_follow(args, out, err):
    """Rows as they are stored, until Ctrl-C (exit 0) or the platform goes (1)."""
    base = {"op": "data_follow"}
    if args.ec is not None:
        base["ec"] = args.ec
    if args.serial is not None:
        base["serial"] = args.serial
    try:
        reply = _call(args, dict(base, all=bool(args.all), wait=0), err, 15.0)
        after = reply["last"]
        rows = reply["rows"]
        while True:
            for row in rows:
                out.write((json.dumps(row, sort_keys=True) if args.json else data_line(row)) + "\n")
            out.flush()
            reply = _call(args, dict(base, after=after, wait=FOLLOW_WAIT), err, FOLLOW_WAIT + 15.0)
            after, rows = reply["last"], reply["rows"]
    except KeyboardInterrupt:
        return EXIT_OK


# -- upgrade publish / push / status / files ------------------------------------------

BAR = 24                     # characters of a progress bar


def _upgrade(args, out, err):
    try:
        if args.upgrade_cmd == "publish":
            reply = _upgrade_publish(args, err)
        elif args.upgrade_cmd == "push":
            if args.sms and args.packet:
                raise V.InputError("--sms and --packet exclude each other")
            req = {"op": "upgrade_push", "serial": args.serial, "scheme": args.scheme or "wmmp",
                   "crc": args.crc or "crc32", "force": args.force, "timeout": args.timeout}
            for k, v in (("version", args.version), ("window", args.file_window), ("corrupt_at", args.corrupt_at)):
                if v is not None:
                    req[k] = v
            if args.sms or args.packet:
                req["via"] = "sms" if args.sms else "packet"
            with logfmt.waiting("%s to answer DOWNLOAD_INFO" % args.serial, args.timeout, err, "wmmp-platform"):
                reply = _call(args, req, err, args.timeout + 15.0)
        elif args.upgrade_cmd == "status":
            req = {"op": "upgrade_status", "all": args.all}
            if args.serial is not None:
                req["serial"] = args.serial
            reply = _call(args, req, err, args.timeout + 15.0)
        else:
            reply = _call(args, {"op": "upgrade_files"}, err, args.timeout + 15.0)
        if args.json:
            out.write(json.dumps(reply, indent=2, sort_keys=True) + "\n")
        else:
            print_upgrade(args.upgrade_cmd, reply, out)
        out.flush()
    except V.InputError as e:
        err.write("wmmp-platform: error: %s\n" % e)
        return EXIT_INPUT
    except _Failed as e:
        return e.args[0]
    except BrokenPipeError:
        if out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    if args.upgrade_cmd == "push" and reply.get("result") not in (0x00, 0x01, 0x02):
        return EXIT_FAILED
    return EXIT_OK


def _upgrade_publish(args, err):
    """The file in parts (wmmp_tools.upload), then published; its SHA-256
    checked by the platform."""
    from wmmp_tools.platform.upgrade import FILE_MAX, check_version
    try:
        check_version(args.version)
    except ValueError as e:
        raise V.InputError("--version: %s" % e)
    data = upload.read_file(args.file, FILE_MAX, V.InputError)
    return upload.publish(data, args.file, args.version, "upgrade_publish", "upgrade_upload",
                          lambda req: _call(args, req, err, args.timeout + 15.0))


_path_text = upload.short_path


def progress_bar(fraction, width=BAR):
    n = max(0, min(width, int(round(fraction * width))))
    return "[" + "#" * n + "-" * (width - n) + "]"


def _kb(n):
    return "%.1f KB" % (n / 1024.0) if n < 1 << 20 else "%.2f MB" % (n / 1048576.0)


def print_upgrade(cmd, reply, out):
    if cmd == "publish":
        f = reply["file"]
        out.write("published file %d: version %s, %d bytes, CRC16 %04X, CRC32 %08X, SHA-256 %s\n" % (
            f["id"], _safe(f["version"]), f["size"], f["crc16"], f["crc32"], f["sha256"]))
    elif cmd == "files":
        if not reply["files"]:
            out.write("no file published\n")
        for f in reply["files"]:
            out.write("%4d  %-8s %10d bytes  CRC16 %04X  CRC32 %08X  %s  %s\n" % (
                f["id"], _safe(f["version"]), f["size"], f["crc16"], f["crc32"], _when(f["time"]),
                _safe(f["name"] or "")))
    elif cmd == "push":
        u = reply.get("upgrade") or {}
        out.write("DOWNLOAD_INFO_ACK result 0x%02X (%s)\n" % (reply["result"], reply.get("result_text") or "?"))
        out.write("  transaction %s: version %s, %d bytes, %s, state %s\n  URL %s\n" % (
            u.get("trans_id_hex"), _safe(u.get("version")), u.get("size") or 0, u.get("scheme"),
            u.get("state"), _safe(u.get("url"))))
    else:
        rows = reply["upgrades"]
        if not rows:
            out.write("no upgrade transaction\n")
        for u in rows:
            size = u["size"] or 0
            out.write("%-16s %s %-8s %-4s %s %5.1f%% %s/%s  %s\n" % (
                u["terminal"], u["trans_id_hex"], _safe(u["version"]), u["scheme"],
                progress_bar(u["position"] / size if size else 0.0), u["percent"], _kb(u["position"]),
                _kb(size), u["state"]))
            extra = []
            if u.get("reason") is not None:
                extra.append("0x3012 reason 0x%02X: %s" % (u["reason"], u.get("reason_text") or "?"))
            if u["served"] > size and size:
                extra.append("%s served in all (blocks asked for again)" % _kb(u["served"]))
            if u.get("note") and u.get("reason") is None:
                extra.append(_safe(u["note"]))
            if extra:
                out.write("    %s\n" % "; ".join(extra))


if __name__ == "__main__":
    sys.exit(main())
