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
