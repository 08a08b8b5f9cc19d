"""Requests per second the application-interface gateway (tools/wmmp_app) sustains
on loopback, over the long connection and over HTTP (SOAP and bare).

gateway:  the gateway runs in its own process with a backend that accepts
          everything; this process runs AppClients with N requests in flight
          (TTransparentDataDown of 64 bytes: decrypt, verify, check, backend
          call, encrypt, sign), after a warm-up.
platform: the same against the platform simulator's real backend (Platform and
          appif.AppInterface, as `wmmp-platform serve --apps` runs them) in its
          own process, its SQLite database (a file) holding --terminals
          registered terminals with their reported parameters and a message
          log; PStatisticQuery (all three groups) and PTermInfoQuery (every
          parameter of one terminal, a different one each time), answered from
          the store.  No terminal is connected.
push:     the platform's own requests (TTransparentDataUp pushed to one
          application, answered), gateway and application in one process.

    .venv/bin/python bench/appif.py [--seconds 2] [--concurrency 1,16] [--terminals 300]
                                    [--parts gateway,platform,push] [--pure-python]

Figures, not pass/fail: they depend on the machine; both ends are CPython.
"""
import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")]

from wmmp_app import security as S  # noqa: E402
from wmmp_app.client import AppClient  # noqa: E402
from wmmp_app.gateway import AppConfig, Gateway, serve_http, serve_long  # noqa: E402

APP = dict(service_id="BENCH01", username="bench", password="BenchPw01", base_key="BenchBaseKey0123456789AB")
SERIAL = "M2MMAKER00000001"
SERIALS = "M2MBENCH%08d"


class AcceptAll:
    def transparent_down(self, ctx, serials, data):
        return None


def _gateway_process(conn):
    async def main():
        gw = Gateway(AcceptAll(), [AppConfig(**APP)], link_check_interval=0)
        srv = await serve_long(gw, "127.0.0.1", 0)
        http = await serve_http(gw, "127.0.0.1", 0)
        conn.send((srv.sockets[0].getsockname()[1], http.port))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)       # until the parent says stop
        await gw.close()
    asyncio.run(main())


def _fill(db, n):
    """`n` terminals as the platform keeps them after a while in service: the
    subscription, the terminal (two in three online), the parameters its LOGIN and
    reports left (configuration, statistics, monitoring), and its messages logged
    (LOGIN_ACKs, heartbeats, an alarm report for one in ten)."""
    now = time.time()
    for i in range(n):
        db.provision("4600%011d" % i, "1390%07d" % i, serial=SERIALS % i)
    db.conn.execute("BEGIN")
    for i in range(n):
        serial = SERIALS % i
        db.save_terminal({"serial": serial, "imei": "8600%011d" % i, "imsi": "4600%011d" % i,
                          "msisdn": "1390%07d" % i, "state": "online" if i % 3 else "offline",
                          "last_seen": now - i, "software_version": "WMMP0.1", "registered": now - 86400 * (i % 40)})
        for tag, value in ((0x0105, b"\x00\x03"), (0x0106, b"\x00\x3c"), (0x0111, b"\x00\x00\x01\x2c"),
                           (0x2004, b"\x00\x00\x00\x05"), (0x2008, b"\x00\x00\x10\x00"),
                           (0x2009, b"\x00\x00\x20\x00"), (0x3001, b"\x01"), (0x3004, b"WMMP0.1"),
                           (0x300B, b"\x00")):
            db.set_param(serial, tag, value)
        for k in range(3):
            db.log_message(serial, "out", "udp", "LOGIN_ACK", k, b"", "result 0x00")
        for k in range(15):
            db.log_message(serial, "in", "udp", "HEARTBEAT", 10 + k, b"", "")
        if i % 10 == 0:
            db.log_message(serial, "out", "udp", "CONFIG_TRAP_ACK", 40, b"", "ALARM codes 0x0003")
    db.conn.execute("COMMIT")


def _platform_process(conn, terminals):
    from wmmp_tools.platform.appif import AppInterface
    from wmmp_tools.platform.db import Store
    from wmmp_tools.platform.model import Config
    from wmmp_tools.platform.server import Platform

    async def main(path):
        pf = Platform(Config(udp_port=0, tcp_port=0), Store(path, lock=True))
        await pf.start()
        _fill(pf.db, terminals)
        ai = AppInterface(pf, [AppConfig(**APP)], link_check_interval=0)
        await ai.start(long=("127.0.0.1", 0), http=("127.0.0.1", 0))
        conn.send((ai.long_port, ai.http_port))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await ai.close()
        await pf.close()
        pf.db.close()
    with tempfile.TemporaryDirectory() as d:
        asyncio.run(main(os.path.join(d, "platform.sqlite")))


def _data_down(app, i, data=bytes(range(64))):
    return app.transparent_down(data, serials=[SERIAL])


def _statistics(app, i):
    return app.statistics(termcount={}, termfault={}, termstatus={})


def _term_info(terminals):
    def query(app, i):
        return app.term_info_query(SERIALS % (i % terminals))
    return query


async def _rate(transport, port, concurrency, seconds, soap=True, request=_data_down):
    app = AppClient(**APP, host="127.0.0.1", port=port, transport=transport, soap=soap, timeout=30)
    await app.connect()
    if app.http is not None:
        app.http.pool = concurrency
    count = 0
    stop = False

    async def worker():
        nonlocal count
        while not stop:
            await request(app, count)
            count += 1
    tasks = [asyncio.get_running_loop().create_task(worker()) for _ in range(concurrency)]
    await asyncio.sleep(min(0.5, seconds / 4))        # warm-up
    c0, t0 = count, time.perf_counter()
    await asyncio.sleep(seconds)
    n, dt = count - c0, time.perf_counter() - t0
    stop = True
    await asyncio.gather(*tasks)
    await app.close()
    return n / dt


async def _push_rate(seconds, concurrency):
    gw = Gateway(AcceptAll(), [AppConfig(**APP)], link_check_interval=0)
    srv = await serve_long(gw, "127.0.0.1", 0)
    app = AppClient(**APP, host="127.0.0.1", port=srv.sockets[0].getsockname()[1], queue_size=1)
    await app.connect()
    count = 0
    end = time.perf_counter() + seconds

    async def worker():
        nonlocal count
        while time.perf_counter() < end:
            d = await gw.transparent_up(SERIAL, b"x" * 64)
            assert d[APP["service_id"]].ok
            count += 1
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    rate = count / (time.perf_counter() - t0)
    await app.close()
    await gw.close()
    return rate


def _server(target, *args):
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.Process(target=target, args=(child,) + args, daemon=True)
    proc.start()
    return proc, parent, parent.recv()


def _stop(proc, parent):
    parent.send("stop")
    proc.join(10)


def _gateway_part(a, levels):
    proc, pipe, (long_port, http_port) = _server(_gateway_process)
    print("gateway, accept-all backend: TTransparentDataDown 64 bytes")
    print("%-34s %10s %12s" % ("transport", "in flight", "requests/s"))
    try:
        for label, tr, port, soap in (("long connection", "long", long_port, True),
                                      ("HTTP, SOAP envelope", "http", http_port, True),
                                      ("HTTP, bare PDU", "http", http_port, False)):
            for c in levels:
                r = asyncio.run(_rate(tr, port, c, a.seconds, soap))
                print("%-34s %10d %12.0f" % (label, c, r), flush=True)
    finally:
        _stop(proc, pipe)


def _platform_part(a, levels):
    t0 = time.perf_counter()
    proc, pipe, (long_port, http_port) = _server(_platform_process, a.terminals)
    print("platform simulator backend (Platform + appif, SQLite file of %d terminals, ready in %.1f s): "
          "answered from the store" % (a.terminals, time.perf_counter() - t0))
    print("%-34s %10s %12s" % ("query, transport", "in flight", "requests/s"))
    try:
        for label, request in (("PStatisticQuery", _statistics), ("PTermInfoQuery", _term_info(a.terminals))):
            for tlabel, tr, port in (("long", "long", long_port), ("HTTP", "http", http_port)):
                for c in levels:
                    r = asyncio.run(_rate(tr, port, c, a.seconds, True, request))
                    print("%-34s %10d %12.0f" % ("%s, %s" % (label, tlabel), c, r), flush=True)
    finally:
        _stop(proc, pipe)


def _push_part(a, levels):
    print("the platform's own request, TTransparentDataUp to one application on a long connection "
          "(gateway and application in one process)")
    print("%-34s %10s %12s" % ("push", "in flight", "requests/s"))
    for c in levels:
        r = asyncio.run(_push_rate(a.seconds, c))
        print("%-34s %10d %12.0f" % ("TTransparentDataUp", c, r), flush=True)


PARTS = {"gateway": _gateway_part, "platform": _platform_part, "push": _push_part}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--concurrency", default="1,16", help="requests in flight, comma-separated")
    p.add_argument("--terminals", type=int, default=300, help="terminals in the platform's database (platform)")
    p.add_argument("--parts", default="gateway,platform,push", help="which runs, comma-separated: %s"
                   % ", ".join(PARTS))
    p.add_argument("--pure-python", action="store_true", help="3DES of lib/wmmp/crypto even with pycryptodome")
    a = p.parse_args(argv)
    parts = a.parts.split(",")
    unknown = [x for x in parts if x not in PARTS]
    if unknown or a.terminals < 1:
        p.error("unknown part %s" % unknown[0] if unknown else "--terminals must be at least 1")
    if a.pure_python:
        S._DES3 = None          # before the server processes start: they inherit the choice
    levels = [int(x) for x in a.concurrency.split(",")]
    print("application interface on loopback, %s 3DES, %g s a figure after a warm-up"
          % ("pycryptodome" if S._DES3 is not None else "pure-Python", a.seconds))
    for n, part in enumerate(parts):
        if n:
            print()
        PARTS[part](a, levels)


if __name__ == "__main__":
    main()
