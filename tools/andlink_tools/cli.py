"""The `andlink-platform` command: run the And-link LPWAN platform simulator (a
bootstrap server, an LwM2M server and a FOTA file server on aiocoap), and
operate a running one through its control socket (andlink_tools.control).

    andlink-platform serve [--coap H:P] [--bootstrap H:P] [--files H:P] [--state FILE]
                           [--coaps H:P] [--bootstrap-coaps H:P] [--psk FILE]
                           [--control H:P] [--products FILE] [--devices FILE] [...]
    andlink-platform list | show IMEI
    andlink-platform read IMEI PATH [--param NAME] [--format F]
    andlink-platform write IMEI PATH VALUE | RID=VALUE... | NAME=VALUE... [--format F] [--partial]
    andlink-platform exec IMEI PATH [ARGS]
    andlink-platform discover IMEI PATH | delete IMEI PATH
    andlink-platform attrs IMEI PATH pmin=N pmax=N ...      Write-Attributes
    andlink-platform create IMEI /OBJ RID=VALUE... [--instance N]
    andlink-platform observe IMEI PATH [--follow | --cancel]
    andlink-platform data [IMEI] [--all] [--history] [--count N]   Send (/dp) and /19 data, live
    andlink-platform fota publish FILE --version V
    andlink-platform fota push IMEI [--version V] [--force] [--sota] [--wait S]
    andlink-platform fota status [IMEI] | fota files

PATH is /object[/instance[/resource[/instance]]] (/3/0/3).  VALUE is typed by
the resource: 42, -1.5, true, text, hex:0011AA (bytes), str:007 (text that
looks like a number), O:I (object link); several resources of an instance are
RID=VALUE (sent as TLV, spec 3.6); object 19's parameters (spec 4.2.2) a JSON
object or NAME=VALUE pairs (sent as JSON, Content-Format 110, as the spec's
example).  A device in queue mode (binding UQ) gets the request at its next
uplink: the command says "queued" and exits 0.

Product tokens (/3/0/1, spec 3.5) and keys are hidden in what is printed, also
with --json, unless --show-secrets.  --products and --devices files hold them:
like --state, they must not be readable by other users (chmod 600); so must
--psk, the devices' pre-shared keys for coaps (DTLS 1.2, And-link spec 3.5).

Logs go to stderr, one line per event (time in UTC+8, component, level,
message); -v shows every request to a device.

Exit status: 0 done (and the device answered 2.xx); 1 the request failed, timed
out, was answered 4.xx/5.xx, or serve could not start; 2 bad input (one line
on stderr)."""

import argparse
import asyncio
import json
import logging
import os
import stat
import sys

from andlink_tools import cliprint as P, codec, coapio, control, objects, values as V
from wmmp_tools import upload

PROG = "andlink-platform"
EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2
DEFAULT_CONTROL = ("127.0.0.1", 7320)
FOLLOW_WAIT = 10.0


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _arg(fn, *a, **kw):
    def parse(text):
        try:
            return fn(text, *a, **kw)
        except V.InputError as e:
            raise argparse.ArgumentTypeError(str(e))
    return parse


def _paths(text):
    if text.strip().lower() == "none":
        return ()
    return tuple(V.path(p.strip(), 3, 4) for p in text.split(",") if p.strip())


def build_parser():
    doc = __doc__.split("\n\n")
    p = _Parser(prog=PROG, description=doc[0], epilog="\n\n".join(doc[1:]),
                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", parser_class=_Parser)
    s = sub.add_parser("serve", help="run the platform simulator", description="Run the platform until SIGINT/SIGTERM.")
    a = _arg(V.address)
    s.add_argument("--coap", type=a, default=("127.0.0.1", 5683), metavar="HOST:PORT",
                   help="the LwM2M server: registration, /dp, package files (default 127.0.0.1:5683, spec 3.5)")
    s.add_argument("--bootstrap", type=a, metavar="HOST:PORT", help="run the bootstrap server there (4.1.1)")
    s.add_argument("--files", type=a, metavar="HOST:PORT", help="serve packages on their own port (default: --coap's)")
    s.add_argument("--coaps", type=a, metavar="HOST:PORT", help="the LwM2M server on coaps too: DTLS, PSK (3.5; --psk)")
    s.add_argument("--bootstrap-coaps", type=a, metavar="HOST:PORT", help="the bootstrap server on coaps (--psk)")
    s.add_argument("--psk", metavar="FILE", help="JSON {\"IMEI\": \"hex key\", ...}: the devices' pre-shared keys "
                                                "(identity = IMEI, 3.5; chmod 600)")
    s.add_argument("--url-host", metavar="HOST", help="this platform's address as devices reach it, in the server URI "
                   "the bootstrap server writes and in package URIs (default: the bound one, 127.0.0.1 for 0.0.0.0)")
    s.add_argument("--state", metavar="FILE", help="keep devices, FOTA records and packages in FILE (created 0600)")
    s.add_argument("--control", type=_arg(V.address, loopback=True), default=DEFAULT_CONTROL, metavar="HOST:PORT",
                   help="control socket, a loopback address (default 127.0.0.1:7320)")
    s.add_argument("--products", metavar="FILE", help="JSON {\"DeviceType\": \"ProductToken\", ...}: check /3/0/17 and "
                   "/3/0/1 of plain-CoAP devices (spec 3.5); mode 0600")
    s.add_argument("--devices", metavar="FILE", help="JSON [\"IMEI\", ...] or {\"IMEI\": {\"binding\": \"UQ\", "
                   "\"lifetime\": 300}}: only these may bootstrap and register (4.03 otherwise, spec 3.5)")
    s.add_argument("--observe", type=_arg(_paths), default=None, metavar="PATHS",
                   help="what is observed after registration (default /3/0/11,/5/0/3,/5/0/5, spec 4.3.1.2; none)")
    s.add_argument("--awake", type=_arg(V.seconds, 0.0, 86400.0), default=coapio.REQUEST_TIMEOUT, metavar="S",
                   help="queue mode: seconds a device listens after its uplink (default 93)")
    s.add_argument("--ack-timeout", type=_arg(V.seconds, 0.05, 60.0), default=coapio.ACK_TIMEOUT, metavar="S",
                   help="CoAP ACK_TIMEOUT (default 5, spec 3.4)")
    s.add_argument("--request-timeout", type=_arg(V.seconds, 0.1, 3600.0), default=coapio.REQUEST_TIMEOUT,
                   metavar="S", help="a request to a device is given up after S (default 93, MAX_TRANSMIT_WAIT)")
    s.add_argument("--lifetime-grace", type=_arg(V.seconds, 0.0, 86400.0), default=0.0, metavar="S",
                   help="seconds a registration outlives its lifetime (default 0)")
    s.add_argument("--bs-lifetime", type=_arg(V.integer, 1, 0x7FFFFFFF, "--bs-lifetime"), default=86400,
                   metavar="S", help="lifetime the bootstrap server writes to /1/0/1 (default 86400)")
    s.add_argument("--bs-binding", choices=("U", "UQ"), default="U", help="binding written to /1/0/7 (UQ: queue mode)")
    s.add_argument("--bs-delete", action="store_true", help="Delete /0 and /1 before the bootstrap writes")
    s.add_argument("--loss", type=_arg(V.seconds, 0.0, 0.99, "--loss"), default=0.0, metavar="P",
                   help="link shaping: drop each datagram with probability P (0..0.99)")
    s.add_argument("--rtt", type=_arg(V.seconds, 0.0, 60000.0, "--rtt"), default=0.0, metavar="MS",
                   help="link shaping: add MS milliseconds of round trip")
    s.add_argument("--min-battery", type=_arg(V.integer, 0, 100, "--min-battery"), metavar="PCT",
                   help="FOTA: refuse below this battery level (4.4.3)")
    s.add_argument("--min-signal", type=_arg(V.integer, -200, 0, "--min-signal"), metavar="DBM",
                   help="FOTA: refuse below this signal strength (4.4.3)")
    s.add_argument("--max-per-cell", type=_arg(V.integer, 1, 100000, "--max-per-cell"), default=10, metavar="N",
                   help="FOTA: devices of one cell upgrading at once (default 10, 4.4.3)")
    s.add_argument("--stall", type=_arg(V.seconds, 1.0, 86400.0), default=300.0, metavar="S",
                   help="FOTA: a download without a block for S fails (default 300, spec 3.4)")
    s.add_argument("--download-timeout", type=_arg(V.seconds, 1.0, 7 * 86400.0), default=3600.0, metavar="S",
                   help="FOTA: no state 2 (downloaded) within S of the URI write fails (default 3600)")
    s.add_argument("--update-timeout", type=_arg(V.seconds, 1.0, 7 * 86400.0), default=600.0, metavar="S",
                   help="FOTA: no outcome within S of the Execute fails (default 600)")
    s.add_argument("--block-size", type=_arg(V.integer, 16, 1024, "--block-size"), default=512, metavar="N",
                   help="block size of a GET without Block2 (16..1024, a power of 2; default 512)")
    s.add_argument("--verbose", "-v", action="store_true", help="log every request and notification")

    def client(name, help_text, imei=True, path=None):
        c = sub.add_parser(name, help=help_text, description=help_text)
        if imei:
            c.add_argument("imei", type=_arg(V.ep), metavar="IMEI")
        if path is not None:
            c.add_argument("path", type=_arg(V.path, *path), metavar="PATH")
        _client_options(c)
        return c

    client("list", "devices with registration, binding, versions", imei=False)
    c = client("show", "one device: registration, values, observations, queue, history, FOTA")
    c.add_argument("--limit", type=_arg(V.integer, 0, 10000, "--limit"), default=20, metavar="N")
    c = client("read", "Read (appendix 6.5)", path=(1, 4))
    c.add_argument("--param", metavar="NAME", help="object 19: one parameter, ?p=NAME (spec 4.2.2.2)")
    c.add_argument("--format", choices=sorted(codec.FORMATS), help="ask for this format (Accept)")
    c = client("write", "Write (appendix 6.6)", path=(2, 4))
    c.add_argument("items", nargs="+", metavar="VALUE")
    c.add_argument("--format", choices=sorted(codec.FORMATS), help="send in this format")
    c.add_argument("--partial", action="store_true", help="partial update of an instance (POST)")
    c = client("exec", "Execute (appendix 6.8)", path=(3, 3))
    c.add_argument("args", nargs="?", metavar="ARGS", help="arguments, e.g. \"0=0,1='100'\" (spec 4.5.2)")
    client("discover", "Discover", path=(1, 3))
    c = client("attrs", "Write-Attributes (appendix 6.7)", path=(1, 4))
    c.add_argument("items", nargs="+", metavar="NAME=VALUE", help="pmin, pmax, gt, lt, st (NAME alone: remove)")
    c = client("create", "Create an object instance", path=(1, 1))
    c.add_argument("items", nargs="+", metavar="RID=VALUE")
    c.add_argument("--instance", type=_arg(V.integer, 0, 65534, "--instance"), metavar="N")
    client("delete", "Delete an object instance", path=(1, 2))
    c = client("observe", "Observe (appendix 6.9) and print the first value; --follow: the notifications too",
               path=(1, 4))
    g = c.add_mutually_exclusive_group()
    g.add_argument("--follow", action="store_true", help="print notifications until Ctrl-C")
    g.add_argument("--cancel", action="store_true", help="Cancel Observation (appendix 6.10)")
    c.add_argument("--count", type=_arg(V.integer, 1, 1000000, "--count"), metavar="N", help="--follow: stop after N")
    c = sub.add_parser("data", help="Send (/dp) records and object 19 notifications, live",
                       description="Data as devices send it (spec 4.3.2) and notifications of object 19.")
    c.add_argument("imei", nargs="?", type=_arg(V.ep), metavar="IMEI")
    c.add_argument("--all", action="store_true", help="every notification, not only object 19's")
    c.add_argument("--history", action="store_true", help="start with what the platform holds")
    c.add_argument("--count", type=_arg(V.integer, 1, 1000000, "--count"), metavar="N", help="stop after N rows")
    _client_options(c)
    f = sub.add_parser("fota", help="firmware packages and upgrades (spec 4.4)")
    fs = f.add_subparsers(dest="fota_cmd", parser_class=_Parser)
    c = fs.add_parser("publish", help="publish a package")
    c.add_argument("file", metavar="FILE")
    c.add_argument("--version", required=True, metavar="V")
    _client_options(c)
    c = fs.add_parser("push", help="upgrade a device: checks, Write /5/0/1, then Execute at state 2")
    c.add_argument("imei", type=_arg(V.ep), metavar="IMEI")
    c.add_argument("--version", metavar="V", help="the package (default: the latest published)")
    c.add_argument("--force", action="store_true", help="skip the checks of 4.4.3")
    c.add_argument("--sota", action="store_true", help="the MCU's software (4.4.4): Execute /5/0/26550 first")
    c.add_argument("--wait", type=_arg(V.seconds, 0.0, 86400.0), metavar="S", help="wait up to S for the outcome")
    _client_options(c)
    c = fs.add_parser("status", help="FOTA records: state, progress, result")
    c.add_argument("imei", nargs="?", type=_arg(V.ep), metavar="IMEI")
    _client_options(c)
    _client_options(fs.add_parser("files", help="the published packages"))
    return p


def _client_options(c):
    c.add_argument("--control", type=_arg(V.address, port0=False), default=DEFAULT_CONTROL, metavar="HOST:PORT",
                   help="the running platform's control socket (default 127.0.0.1:7320)")
    c.add_argument("--timeout", type=_arg(V.seconds, 0.1, 86400.0), default=30.0, metavar="S",
                   help="seconds to wait for the device (default 30)")
    c.add_argument("--json", action="store_true", help="print the JSON reply")
    c.add_argument("--show-secrets", action="store_true", help="show product tokens and keys (hidden otherwise)")


# -- talking to a running platform -------------------------------------------------------------

class _Failed(Exception):
    pass


def _call(args, req, err, timeout=None, what=None):
    """The platform's answer to `req`; while it is awaited a countdown naming
    `what` shows on a terminal (wmmp_tools.logfmt.waiting)."""
    from wmmp_tools import logfmt
    req = dict(req)
    req.setdefault("timeout", args.timeout)
    if args.show_secrets:
        req["show_secrets"] = True
    try:
        if what:
            with logfmt.waiting(what, timeout or args.timeout, err, PROG):
                reply = control.call(args.control, req, (timeout or args.timeout) + 15.0)
        else:
            reply = control.call(args.control, req, (timeout or args.timeout) + 15.0)
    except (OSError, ConnectionError) as e:
        err.write("%s: error: no platform at %s: %s\n" % (PROG, coapio.hostport(*args.control),
                                                         getattr(e, "strerror", None) or e))
        raise _Failed(EXIT_FAILED)
    if not reply.get("ok"):
        err.write("%s: error: %s\n" % (PROG, P.one_line(reply.get("error", "?"))))
        raise _Failed(EXIT_INPUT if reply.get("kind") == "input" else EXIT_FAILED)
    return reply


# -- the commands -----------------------------------------------------------------------------

def _device_cmd(args, out, err):
    req = {"op": args.cmd, "ep": args.imei, "path": objects.path_text(args.path)}
    if args.cmd == "read":
        if args.param is not None:
            req["param"] = args.param
        if args.format:
            req["format"] = args.format
    elif args.cmd == "write":
        V.encode_write(args.path, args.items, args.format)        # bad input: exit 2 before any call
        req.update(items=args.items, partial=args.partial)
        if args.format:
            req["format"] = args.format
    elif args.cmd == "exec":
        V.exec_args(args.args)
        if args.args is not None:
            req["args"] = args.args
    elif args.cmd == "attrs":
        V.attrs(args.items)
        req["items"] = args.items
    elif args.cmd == "create":
        V.assignments(args.path, args.items)
        req["items"] = args.items
        if args.instance is not None:
            req["instance"] = args.instance
    elif args.cmd == "observe" and args.cancel:
        req["cancel"] = True
    reply = _call(args, req, err, what="%s to answer %s %s" % (args.imei, args.cmd, req["path"]))
    if args.json:
        out.write(json.dumps(reply, sort_keys=True) + "\n")
        status = EXIT_OK if reply.get("queued") or reply["result"]["code"].startswith("2.") else EXIT_FAILED
    else:
        status = EXIT_OK if P.print_result(reply, out) else EXIT_FAILED
    out.flush()
    if args.cmd == "observe" and args.follow and status == EXIT_OK and not reply.get("queued"):
        return _follow(args, out, err, {"ep": args.imei, "path": req["path"], "all": True},
                       reply["after"] + 1, skip_first=True)
    return status


def _follow(args, out, err, base, after, skip_first=False):
    n = 0
    try:
        while True:
            reply = _call(args, dict(base, op="data", after=after, wait=FOLLOW_WAIT), err, FOLLOW_WAIT)
            for row in reply["rows"]:
                if skip_first and row["kind"] == "observe":
                    continue
                out.write(json.dumps(row, sort_keys=True) + "\n" if args.json else "")
                if not args.json:
                    P.print_row(row, out)
                n += 1
                if args.count and n >= args.count:
                    out.flush()
                    return EXIT_OK
            out.flush()
            after = reply["last"]
    except KeyboardInterrupt:
        return EXIT_OK


def _data(args, out, err):
    base = {"all": args.all}
    if args.imei:
        base["ep"] = args.imei
    after = 0 if args.history else _call(args, dict(base, op="data"), err)["last"]
    return _follow(args, out, err, base, after)


def _fota(args, out, err):
    if args.fota_cmd is None:
        raise UsageError("fota: publish, push, status or files")
    if args.fota_cmd == "publish":
        reply = _publish(args, err)
        text = "published package %s: version %s, %d bytes, SHA-256 %s\n  %s\n" % (
            reply["package"]["id"], reply["package"]["version"], reply["package"]["size"],
            reply["package"]["sha256"], reply["package"]["uri"])
    elif args.fota_cmd == "push":
        req = {"op": "fota_push", "ep": args.imei, "force": args.force, "sota": args.sota}
        if args.version:
            req["version"] = args.version
        reply = _call(args, req, err, what="%s: the FOTA checks and the package URI" % args.imei)
        f = reply["fota"]
        if args.wait and f["state"] not in ("refused", "failed", "succeeded"):
            f = _wait_fota(args, err, f)
            reply["fota"] = f
        text = ""
        for e in f["events"]:
            text += "  %s  %s\n" % (P.when(e["time"]), P.one_line(e["event"]))
        text = "FOTA of %s to version %s (package %s): %s%s\n%s" % (
            f["ep"], f["version"], f["pkg_id"], f["state"], ": " + f["reason"] if f.get("reason") else "", text)
        if reply.get("pending") and f["state"] not in ("refused", "failed", "succeeded"):
            text += "  (going on: the device has not answered yet; see fota status %s)\n" % f["ep"]
    elif args.fota_cmd == "status":
        req = {"op": "fota_status"}
        if args.imei:
            req["ep"] = args.imei
        reply = _call(args, req, err)
        text = None
    else:
        reply = _call(args, {"op": "fota_files"}, err)
        text = "".join("%s  %-10s %9d bytes  %s  %s\n" % (p["id"], p["version"], p["size"], P.when(p["time"]), p["uri"])
                       for p in reply["packages"]) or "no package published\n"
    if args.json:
        out.write(json.dumps(reply, sort_keys=True) + "\n")
    elif text is not None:
        out.write(text)
    else:
        if not reply["fota"]:
            out.write("no FOTA\n")
        P.print_fota(reply["fota"], out)
    if args.fota_cmd == "push" and reply["fota"]["state"] in ("refused", "failed"):
        return EXIT_FAILED
    return EXIT_OK


def _wait_fota(args, err, f):
    import time
    end = time.monotonic() + args.wait
    while f["state"] not in ("refused", "failed", "succeeded") and time.monotonic() < end:
        time.sleep(min(0.5, max(0.0, end - time.monotonic())))
        f = _call(args, {"op": "fota_status", "ep": args.imei}, err)["fota"][0]
    return f


def _publish(args, err):
    try:
        from andlink_tools.packages import FILE_MAX, check_version, PackageError
        check_version(args.version)
    except PackageError as e:
        raise V.InputError("--version: %s" % e)
    data = upload.read_file(args.file, FILE_MAX, V.InputError)
    return upload.publish(data, args.file, args.version, "fota_publish", "fota_upload",
                          lambda req: _call(args, req, err))


_short = upload.short_path


def _secret_file(path, what):
    """A JSON file that may hold secrets: its owner's only."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise V.InputError("%s %s is not a file" % (what, _short(path)))
        if st.st_mode & 0o077:
            raise V.InputError("%s %s may be read by other users: chmod 600 it" % (what, _short(path)))
        with open(path, "rb") as f:
            return json.loads(f.read(1 << 20).decode("utf-8"))
    except OSError as e:
        raise V.InputError("%s %s: %s" % (what, _short(path), e.strerror or e))
    except (UnicodeDecodeError, ValueError) as e:
        raise V.InputError("%s %s is not JSON: %s" % (what, _short(path), e))


def load_products(path):
    d = _secret_file(path, "--products")
    if not isinstance(d, dict) or not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in d.items()):
        raise V.InputError("--products: a JSON object {\"DeviceType\": \"ProductToken\", ...}")
    return d


def load_devices(path):
    d = _secret_file(path, "--devices")
    if isinstance(d, list):
        d = {x: {} for x in d} if all(isinstance(x, str) for x in d) else None
    if not isinstance(d, dict):
        raise V.InputError("--devices: a JSON list of IMEIs or an object {\"IMEI\": {...}}")
    for ep, o in d.items():
        V.ep(ep)
        if not isinstance(o, dict) or (o.get("binding") not in (None, "U", "UQ")) or \
                not isinstance(o.get("lifetime", 1), int) or isinstance(o.get("lifetime", 1), bool):
            raise V.InputError("--devices: %s: {\"binding\": \"U\" | \"UQ\", \"lifetime\": seconds}" % ep)
    return d


def load_psk(path):
    """{identity bytes: key bytes} of a --psk file {"IMEI": "hex key", ...}."""
    d = _secret_file(path, "--psk")
    if not isinstance(d, dict) or not d:
        raise V.InputError("--psk: a JSON object {\"IMEI\": \"hex key\", ...}")
    out = {}
    for ident, key in d.items():
        try:
            k = bytes.fromhex(key) if isinstance(key, str) else b""
        except ValueError:
            k = b""
        if not ident or not 1 <= len(k) <= 64:
            raise V.InputError("--psk: the key of %s is not 1 to 64 bytes in hex" % str(ident)[:40])
        out[ident.encode()] = k
    return out


def _serve(args, err):
    from wmmp_tools import logfmt
    from wmmp_tools.serving import until_stopped
    from andlink_tools.fota import Policy
    from andlink_tools.platform import Config, Platform
    from andlink_tools.state import StateError
    if args.block_size & (args.block_size - 1):
        raise V.InputError("--block-size: a power of 2 (16..1024)")
    if args.url_host is not None and (not args.url_host or any(c.isspace() or c in "/[]@" for c in args.url_host)):
        raise V.InputError("--url-host: an address or host name")
    if (args.coaps or args.bootstrap_coaps) and not args.psk:
        raise V.InputError("--coaps and --bootstrap-coaps need --psk FILE (the devices' keys)")
    cfg = Config(coap=args.coap, bootstrap=args.bootstrap, files=args.files, url_host=args.url_host, state=args.state,
                 coaps=args.coaps, bootstrap_coaps=args.bootstrap_coaps,
                 psk=load_psk(args.psk) if args.psk else None,
                 products=load_products(args.products) if args.products else None,
                 known_devices=load_devices(args.devices) if args.devices else None,
                 awake=args.awake, ack_timeout=args.ack_timeout, request_timeout=args.request_timeout,
                 lifetime_grace=args.lifetime_grace, bs_lifetime=args.bs_lifetime, bs_binding=args.bs_binding,
                 bs_delete=args.bs_delete, loss=args.loss, rtt=args.rtt / 1000.0, block_size=args.block_size,
                 policy=Policy(args.min_battery, args.min_signal, args.max_per_cell, args.stall,
                               args.download_timeout, args.update_timeout))
    if args.observe is not None:
        cfg.observe = args.observe
    setup = logfmt.setup(PROG, args.verbose)
    for name in ("coap-server", "andlink.platform.coap", "andlink.platform.files", "andlink.platform.bootstrap.coap"):
        logging.getLogger(name).setLevel(logging.INFO if args.verbose else logging.ERROR)

    async def main():
        pf = Platform(cfg)
        try:
            await pf.start()
        except (coapio.CoapError, StateError) as e:
            err.write("%s: error: %s\n" % (PROG, e))
            return EXIT_FAILED
        ctl = control.ControlServer(pf, *args.control)
        try:
            await ctl.start()
        except coapio.CoapError as e:
            err.write("%s: error: %s\n" % (PROG, e))
            await pf.close()
            return EXIT_FAILED
        log = logging.getLogger("andlink.platform")
        logfmt.notice(log, "LwM2M server on coap://%s%s%s%s%s, control %s", coapio.hostport(*pf.coap_address),
                      " and coaps://%s" % coapio.hostport(*pf.coaps_address) if pf.coaps_address else "",
                      ", bootstrap on coap://%s" % coapio.hostport(*pf.bootstrap_address) if pf.bootstrap_address else "",
                      ", bootstrap on coaps://%s" % coapio.hostport(*pf.bootstrap_coaps_address)
                      if pf.bootstrap_coaps_address else "",
                      ", files on coap://%s" % coapio.hostport(*pf.files_address) if pf.files_ctx else "",
                      coapio.hostport(ctl.host, ctl.port))
        try:
            await until_stopped()
        finally:
            await ctl.close()
            await pf.close()
        return EXIT_OK
    try:
        return asyncio.run(main())
    finally:
        setup.restore()


def main(argv=None, out=None, err=None):
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
        if args.cmd is None:
            raise UsageError("a command: serve, list, show, read, write, exec, discover, attrs, create, delete, "
                             "observe, data, fota (--help)")
        if args.cmd == "serve":
            return _serve(args, err)
        if args.cmd == "list":
            reply = _call(args, {"op": "list"}, err)
            out.write(json.dumps(reply, sort_keys=True) + "\n") if args.json else P.print_list(reply, out)
            return EXIT_OK
        if args.cmd == "show":
            reply = _call(args, {"op": "show", "ep": args.imei, "limit": args.limit}, err)
            out.write(json.dumps(reply, sort_keys=True) + "\n") if args.json else P.print_show(reply, out)
            return EXIT_OK
        if args.cmd == "data":
            return _data(args, out, err)
        if args.cmd == "fota":
            return _fota(args, out, err)
        return _device_cmd(args, out, err)
    except UsageError as e:
        err.write("%s: error: %s\n" % (PROG, P.one_line(e)))
        return EXIT_INPUT
    except V.InputError as e:
        err.write("%s: error: %s\n" % (PROG, P.one_line(e)))
        return EXIT_INPUT
    except _Failed as e:
        return e.args[0]
    except KeyboardInterrupt:
        return EXIT_FAILED
    except BrokenPipeError:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_OK
    except Exception as e:                  # a defect: one line, the traceback only when asked
        if os.environ.get("ANDLINK_TRACEBACK"):
            raise
        err.write("%s: internal error: %s: %s (ANDLINK_TRACEBACK=1 shows where)\n" % (
            PROG, type(e).__name__, P.one_line(e)))
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
