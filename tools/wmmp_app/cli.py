"""`wmmp-app`: an application on the platform interface (section 5), from the shell.

    wmmp-app --platform 127.0.0.1:9100 --service-id SVC0001 --user meterapp \\
             --password env:APP_PW --base-key file:base.key COMMAND ...

    login                               log in, show the session, log out
    watch [--seconds S] [--count N]     print what the platform sends, live
    send SERIAL... --hex H | --text T   data to terminals (TTransparentDataDown)
    ctrl SERIAL... --tag T | --logout R remote control (TTermCtrl)
    query SERIAL [--monitor T] ...      the platform's records of a terminal (PTermInfoQuery)
    get SERIAL... [--config T] ...      ask terminals for information (TTermInfoGet)
    stats [--area A] [--producer P]     counts of terminals (PStatisticQuery)
    term-stats SERIAL                   one terminal's counts (PTermStatisticQuery)
    config-set SERIAL... TAG=VALUE...   set terminal parameters (TConfigSet)
    download URL SERIAL...              software update notice (TDownloadNotify)
    wsdl [--side application]           print the WSDL of the HTTP binding

Commands that start an asynchronous operation wait --wait seconds (default 10,
0: not at all) for the platform's result notifications and print them.
Secrets: --password and --base-key take the value, file:PATH (mode 600) or
env:NAME; without them WMMP_APP_PASSWORD / WMMP_APP_BASE_KEY are read.
Exit status: 0 done, 1 refused or unreachable (one line on stderr), 2 bad options.
"""

import argparse
import asyncio
import json
import logging
import os
import sys

from wmmp_tools import logfmt
from wmmp_tools.platform.options import OptionError, address, secret_value

from wmmp_app import messages as M
from wmmp_app import wsdl as W
from wmmp_app.client import AppClient, AppError
from wmmp_app.fields import FieldError, tag

PROG = "wmmp-app"
log = logging.getLogger("wmmp.app")

RESULT_CALLS = {"send": "TTransparentDataDownResult", "ctrl": "TTermCtrlResult", "get": "TTermInfoGetResult",
                "config-set": "TConfigSetResult", "download": "TDownloadNotifyResult"}


def _tag(text):
    try:
        return tag(text, "tag")
    except FieldError as e:
        raise argparse.ArgumentTypeError(str(e))


def _hex(text):
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected hex digits, got %r" % text[:40])


def _assignment(text):
    t, sep, v = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("expected TAG=VALUE, got %r" % text[:40])
    return _tag(t), v


def _seconds(text):
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected seconds, got %r" % text[:40])
    if not 0 <= x <= 86400:
        raise argparse.ArgumentTypeError("expected 0..86400 seconds, got %s" % text)
    return x


def _count(text):
    if not text.isdigit() or not 0 < int(text) < 10 ** 9:
        raise argparse.ArgumentTypeError("expected a positive count, got %r" % text[:40])
    return int(text)


def build_parser():
    p = argparse.ArgumentParser(prog=PROG, description="An application on the WMMP platform interface "
                                "(section 5, appendix H of the standard; docs/APP.md).")
    p.add_argument("--platform", type=address(1), metavar="HOST:PORT", help="the platform's interface address")
    p.add_argument("--transport", choices=("long", "http"), default="long",
                   help="long connection (default) or HTTP web service (appendix C)")
    p.add_argument("--path", default="/wmmp/app", help="HTTP path of the platform's service (default /wmmp/app)")
    p.add_argument("--bare", action="store_true", help="HTTP: POST the bare PDU, not a SOAP envelope")
    p.add_argument("--listen", type=address(0), metavar="HOST:PORT",
                   help="HTTP: this application's own endpoint, for what the platform sends")
    p.add_argument("--service-id", default=os.environ.get("WMMP_APP_SERVICE_ID"), help="SERVICEID (section 5.2.2)")
    p.add_argument("--user", default=os.environ.get("WMMP_APP_USER"), help="user name the platform assigned")
    p.add_argument("--password", help="password: VALUE, file:PATH or env:NAME (default env WMMP_APP_PASSWORD)")
    p.add_argument("--base-key", help="3DES base key, 16/24 characters or hex:...: VALUE, file:PATH or env:NAME "
                   "(default env WMMP_APP_BASE_KEY)")
    p.add_argument("--timeout", type=_seconds, default=10.0, help="seconds to wait for an answer (default 10)")
    p.add_argument("--json", action="store_true", help="one JSON object per line instead of text")
    p.add_argument("--verbose", action="store_true", help="log each step")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    sub.add_parser("login", help="log in, show the session, log out")
    w = sub.add_parser("watch", help="print what the platform sends, live (Ctrl-C ends)")
    w.add_argument("--seconds", type=_seconds, help="stop after S seconds")
    w.add_argument("--count", type=_count, help="stop after N notifications")
    w.add_argument("--refuse-data", action="store_true", help="answer data up with RESULTCODE 1 (refused)")

    def waiting(sp):
        sp.add_argument("--wait", type=_seconds, default=10.0, help="seconds to wait for the results (0: none)")
        return sp
    s = waiting(sub.add_parser("send", help="data to terminals (TTransparentDataDown)"))
    s.add_argument("serials", nargs="+", metavar="SERIAL")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--hex", type=_hex, help="the data as hex")
    g.add_argument("--text", help="the data as UTF-8 text")
    c = waiting(sub.add_parser("ctrl", help="remote control (TTermCtrl)"))
    c.add_argument("serials", nargs="+", metavar="SERIAL")
    g = c.add_mutually_exclusive_group(required=True)
    g.add_argument("--tag", type=_tag, action="append", help="remote control tag (appendix A (5)), repeatable")
    g.add_argument("--logout", type=int, choices=range(0, 6), help="force a logout with this reason (0-5)")
    for name, helptext in (("query", "the platform's records of a terminal (PTermInfoQuery)"),
                           ("get", "ask terminals for information (TTermInfoGet)")):
        q = sub.add_parser(name, help=helptext)
        if name == "get":
            waiting(q)
        q.add_argument("serials", nargs=1 if name == "query" else "+", metavar="SERIAL")
        for k in ("monitor", "config", "statistic"):
            q.add_argument("--" + k, type=_tag, action="append", default=[], help="%s tag, repeatable" % k)
        q.add_argument("--alarm", action="store_true", help="the alarm codes (0x300D)")
    st = sub.add_parser("stats", help="counts of terminals (PStatisticQuery)")
    for k in ("producer", "area", "model", "date", "month"):
        st.add_argument("--" + k, help="filter: " + k)
    ts = sub.add_parser("term-stats", help="one terminal's counts (PTermStatisticQuery)")
    ts.add_argument("serial")
    ts.add_argument("--from", dest="start", help="start of the period")
    ts.add_argument("--to", dest="end", help="end of the period")
    cs = waiting(sub.add_parser("config-set", help="set terminal parameters (TConfigSet)"))
    cs.add_argument("serials", nargs="+", metavar="SERIAL")
    cs.add_argument("--set", dest="assignments", type=_assignment, action="append", required=True,
                    metavar="TAG=VALUE", help="a parameter, repeatable")
    d = waiting(sub.add_parser("download", help="software update notice (TDownloadNotify)"))
    d.add_argument("url")
    d.add_argument("serials", nargs="+", metavar="SERIAL")
    ws = sub.add_parser("wsdl", help="print the WSDL of the HTTP binding")
    ws.add_argument("--side", choices=("platform", "application"), default="platform")
    ws.add_argument("--location", default="http://127.0.0.1:9100/wmmp/app", help="endpoint URL written in it")
    return p


def _fail(text, code=1):
    print("%s: error: %s" % (PROG, text), file=sys.stderr)
    return code


def _show_data(b):
    text = b.decode("utf-8", "replace")
    readable = all(c.isprintable() for c in text)
    return "%d bytes %s%s" % (len(b), b.hex(), ' "%s"' % text if readable and b else "")


def _jsonable(v):
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


class Out:
    def __init__(self, as_json):
        self.as_json = as_json

    def __call__(self, what, text, **fields):
        if self.as_json:
            print(json.dumps(dict({"event": what}, **_jsonable(fields)), sort_keys=True), flush=True)
        else:
            print(text, flush=True)

    def notification(self, n):
        b = n.body
        parts = []
        for k, v in b.items():
            if k == "DATA":
                parts.append("DATA %s" % _show_data(v))
            elif k == "RESULTCODE":
                parts.append("RESULTCODE %d (%s)" % (v, n.message.spec.codes.get(v, "reserved")))
            else:
                parts.append("%s %s" % (k, v if not isinstance(v, list) else " ".join(
                    "%s=%s" % x if isinstance(x, tuple) else str(x) for x in v)))
        answer = (n.answer or {}).get("RESULTCODE")
        self("notification", "%s SID %s: %s%s" % (n.name, n.sid, "; ".join(parts) or "(no body)",
                                                 "" if answer is None else " -> answered %d" % answer),
             call=n.name, sid=n.sid, body=b, answer=n.answer)


def _secret(arg, env, what):
    if arg is None:
        v = os.environ.get(env)
        if not v:
            raise OptionError("the %s is needed: --%s VALUE|file:PATH|env:NAME, or %s" % (
                what, "password" if what == "password" else "base-key", env))
        return v
    return secret_value(arg, what)


async def _wait_results(app, out, call, sid, serials, seconds):
    if not seconds:
        return 0
    left = set(serials)
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while left:
        try:
            n = await app.wait_for(call, sid=sid, timeout=max(0.0, end - loop.time()))
        except AppError:
            out("timeout", "no %s from %s within %g s" % (call, ", ".join(sorted(left)), seconds),
                call=call, waiting=sorted(left))
            return 1
        out.notification(n)
        left.discard(n.body.get("TERMID"))
    return 0


async def _run(args, out):
    if args.command == "wsdl":
        side = W.platform_wsdl if args.side == "platform" else W.application_wsdl
        sys.stdout.write(side(args.location).decode("utf-8"))
        return 0
    if args.platform is None:
        raise OptionError("--platform HOST:PORT is needed")
    if not args.service_id or not args.user:
        raise OptionError("--service-id and --user are needed (or WMMP_APP_SERVICE_ID / WMMP_APP_USER)")
    password = _secret(args.password, "WMMP_APP_PASSWORD", "password")
    base_key = _secret(args.base_key, "WMMP_APP_BASE_KEY", "base key")
    if args.listen and args.transport != "http":
        raise OptionError("--listen is for --transport http")
    refuse = getattr(args, "refuse_data", False)

    def handler(msg):
        if refuse and msg.call.name == "TTransparentDataUp":
            return 1
        return None
    try:
        app = AppClient(args.service_id, args.user, password, base_key, host=args.platform[0], port=args.platform[1],
                        transport=args.transport, path=args.path, soap=not args.bare, listen=args.listen,
                        timeout=args.timeout, handler=handler)
    except ValueError as e:
        raise OptionError(str(e))
    await app.connect()
    try:
        return await _command(app, args, out)
    finally:
        await app.close()


async def _command(app, args, out):
    cmd = args.command
    if cmd == "login":
        out("login", "logged in as %s (SERVICEID %s) over %s; session key valid %d min" % (
            app.account.username, app.service_id, args.transport, app.session.minutes),
            service_id=app.service_id, minutes=app.session.minutes)
        if app.url:
            out("listen", "platform requests are taken at %s" % app.url, url=app.url)
        return 0
    if cmd == "watch":
        if app.url:
            out("listen", "platform requests are taken at %s" % app.url, url=app.url)
        out("watching", "watching %s; Ctrl-C ends" % app.service_id, service_id=app.service_id)
        n_seen = 0

        async def loop():
            nonlocal n_seen
            async for n in app.notifications():
                out.notification(n)
                n_seen += 1
                if args.count and n_seen >= args.count:
                    return
        try:
            await asyncio.wait_for(loop(), args.seconds)
        except asyncio.TimeoutError:
            pass
        return 0
    if cmd == "send":
        data = args.hex if args.hex is not None else args.text.encode("utf-8")
        sid = await app.transparent_down(data, serials=args.serials)
        out("accepted", "TTransparentDataDown SID %s accepted: %s to %s" % (
            sid, _show_data(data), ", ".join(args.serials)), sid=sid)
        return await _wait_results(app, out, RESULT_CALLS[cmd], sid, args.serials, args.wait)
    if cmd == "ctrl":
        sid = await app.term_ctrl(serials=args.serials, remote_ctrl=args.tag or (), logout=args.logout)
        out("accepted", "TTermCtrl SID %s accepted" % sid, sid=sid)
        return await _wait_results(app, out, RESULT_CALLS[cmd], sid, args.serials, args.wait)
    if cmd in ("query", "get"):
        kw = dict(monitor=args.monitor, config=args.config, statistic=args.statistic, alarm=args.alarm)
        if cmd == "query":
            body = await app.term_info_query(args.serials[0], **kw)
            out("answer", "; ".join("%s %s" % (k, v) for k, v in body.items()), body=body)
            return 0
        sid = await app.term_info_get(serials=args.serials, **kw)
        out("accepted", "TTermInfoGet SID %s accepted" % sid, sid=sid)
        return await _wait_results(app, out, RESULT_CALLS[cmd], sid, args.serials, args.wait)
    if cmd == "stats":
        f = {k.upper(): getattr(args, k) for k in ("producer", "area", "date", "month") if getattr(args, k)}
        status = {k: v for k, v in f.items() if k in ("PRODUCER", "AREA")}
        if args.model:
            status["TERMMODEL"] = args.model
        body = await app.statistics(termcount=f, termstatus=status)
        out("answer", "; ".join("%s %s" % (k, v) for k, v in body.items()), body=body)
        return 0
    if cmd == "term-stats":
        rng = (args.start, args.end) if args.start or args.end else None
        if rng and not all(rng):
            raise OptionError("--from and --to go together")
        body = await app.term_statistics(args.serial, daterange=rng)
        out("answer", "; ".join("%s %s" % (k, v) for k, v in body.items()), body=body)
        return 0
    if cmd == "config-set":
        sid = await app.config_set(args.assignments, serials=args.serials)
        out("accepted", "TConfigSet SID %s accepted" % sid, sid=sid)
        return await _wait_results(app, out, RESULT_CALLS[cmd], sid, args.serials, args.wait)
    if cmd == "download":
        sid = await app.download_notify(args.url, serials=args.serials)
        out("accepted", "TDownloadNotify SID %s accepted" % sid, sid=sid)
        return await _wait_results(app, out, RESULT_CALLS[cmd], sid, args.serials, args.wait)
    raise OptionError("unknown command %s" % cmd)


def main(argv=None):
    """Run one command; exit 0, 1 (refused / unreachable), 2 (bad options)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    logs = logfmt.setup("app", args.verbose)
    try:
        return asyncio.run(_run(args, Out(args.json)))
    except OptionError as e:
        return _fail(str(e), 2)
    except (AppError, M.MessageError) as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        return 130
    finally:
        logs.restore()


if __name__ == "__main__":
    sys.exit(main())
