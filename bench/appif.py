"""Requests per second the application-interface gateway (tools/wmmp_app) sustains
on loopback, over the long connection and over HTTP (SOAP and bare).

The gateway runs in its own process with a backend that accepts everything;
this process runs AppClients with N requests in flight (TTransparentDataDown of
64 bytes: decrypt, verify, check, backend call, encrypt, sign), after a warm-up.
A last figure is the platform's own requests (TTransparentDataUp pushed to one
application, answered), gateway and application in one process.

    .venv/bin/python bench/appif.py [--seconds 2] [--concurrency 1,16] [--pure-python]

Figures, not pass/fail: they depend on the machine; both ends are CPython.
"""
import argparse
import asyncio
import multiprocessing
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")]

from wmmp_app import security as S  # noqa: E402
from wmmp_app.client import AppClient  # noqa: E402
from wmmp_app.gateway import AppConfig, Gateway, serve_http, serve_long  # noqa: E402

APP = dict(service_id="BENCH01", username="bench", password="BenchPw01", base_key="BenchBaseKey0123456789AB")
SERIAL = "M2MMAKER00000001"


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


async def _rate(transport, port, concurrency, seconds, soap=True):
    app = AppClient(**APP, host="127.0.0.1", port=port, transport=transport, soap=soap, timeout=30)
    await app.connect()
    if app.http is not None:
        app.http.pool = concurrency
    data = bytes(range(64))
    count = 0
    stop = False

    async def worker():
        nonlocal count
        while not stop:
            await app.transparent_down(data, serials=[SERIAL])
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--concurrency", default="1,16", help="requests in flight, comma-separated")
    p.add_argument("--pure-python", action="store_true", help="3DES of lib/wmmp/crypto even with pycryptodome")
    a = p.parse_args(argv)
    if a.pure_python:
        S._DES3 = None          # before the gateway process starts: it inherits the choice
    levels = [int(x) for x in a.concurrency.split(",")]
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.Process(target=_gateway_process, args=(child,), daemon=True)
    proc.start()
    long_port, http_port = parent.recv()
    print("application interface gateway on loopback, TTransparentDataDown 64 bytes, %s 3DES"
          % ("pycryptodome" if S._DES3 is not None else "pure-Python"))
    print("%-26s %12s %12s" % ("transport", "in flight", "requests/s"))
    try:
        for label, tr, port, soap in (("long connection", "long", long_port, True),
                                      ("HTTP, SOAP envelope", "http", http_port, True),
                                      ("HTTP, bare PDU", "http", http_port, False)):
            for c in levels:
                r = asyncio.run(_rate(tr, port, c, a.seconds, soap))
                print("%-26s %12d %12.0f" % (label, c, r), flush=True)
    finally:
        parent.send("stop")
        proc.join(5)
    for c in levels:
        r = asyncio.run(_push_rate(a.seconds, c))
        print("%-26s %12d %12.0f" % ("push TTransparentDataUp*", c, r), flush=True)
    print("* the platform's own request to one application on a long connection; gateway and "
          "application share one process")


if __name__ == "__main__":
    main()
