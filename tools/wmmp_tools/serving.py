"""Shared by the host servers (wmmp-platform serve, wmmp-smsc): wait until
SIGINT or SIGTERM asks the process to stop."""
import asyncio
import signal


async def until_stopped():
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):   # not the main thread / no signals here
            pass
    await stop.wait()
