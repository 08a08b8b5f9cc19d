"""Shared by the host servers (wmmp-platform serve, wmmp-smsc): wait until
SIGINT or SIGTERM asks the process to stop, and log (NOTICE, the tool's own
component: wmmp_tools.logfmt) which one did."""
import asyncio
import logging
import signal

from wmmp_tools import logfmt


async def until_stopped():
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    got = []

    def on_signal(sig):
        got.append(sig)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except (NotImplementedError, RuntimeError):   # not the main thread / no signals here
            pass
    await stop.wait()
    if got:
        logfmt.notice(logging.getLogger("wmmp"), "stopping (%s)", signal.Signals(got[0]).name)


async def json_lines(reader, writer, handle, encode):
    """One client of a JSON-lines control socket (wmmp-platform, andlink-platform):
    each line a request, `await handle(req)` its reply, written as `encode(reply)`;
    a line too long or not JSON is answered as bad input; the connection's end
    (or a broken one) ends the loop.  The caller closes the writer."""
    import json
    try:
        while True:
            try:
                line = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                writer.write(encode({"ok": False, "kind": "input", "error": "line too long"}))
                break
            if not line:
                break
            if not line.strip():
                continue
            try:
                req = json.loads(line)
            except ValueError:
                reply = {"ok": False, "kind": "input", "error": "not JSON"}
            else:
                reply = await handle(req)
            writer.write(encode(reply))
            await writer.drain()
    except (ConnectionError, OSError):
        pass
