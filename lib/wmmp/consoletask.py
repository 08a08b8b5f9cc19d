"""The service console task of a board (wmmp.device): bytes read from the
console line go to wmmp.console.Console.feed, its replies go back; each
("reset", what, bits) event it reports is handed to on_reset(what, bits) (the
device then starts the engine again, or resets the board).  Portable.

    await serve(stream, console, clock, on_reset)     # runs until cancelled

`stream` has async read(n), write(data) and async drain() (wmmp.uartstream
ConsoleStream on a board); `clock` is the monotonic clock the engine uses
(docs/CONSOLE.md: the console must see the same time).
"""

import asyncio

CHUNK = 64      # bytes read at most at once (the console takes 512 a second)


async def serve(stream, console, clock, on_reset, chunk=CHUNK):
    while True:
        data = await stream.read(chunk)
        if not data:                # end of input on a host stream: do not spin
            await asyncio.sleep(0.05)
            continue
        out = console.feed(data, clock())        # never raises on any input
        if out:
            stream.write(out)
            await stream.drain()
        for ev in console.events():
            if ev[0] == "reset":
                on_reset(ev[1], ev[2])
