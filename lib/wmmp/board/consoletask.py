"""The service console task of a board (wmmp.board.device): bytes read from the
console line go to wmmp.board.console.Console.feed, its replies go back; each
("reset", what, bits) event it reports is handed to on_reset(what, bits) (the
device then starts the engine again, or resets the board).  Console SIM jobs
(an asynchronous SIM: the modem driver, console.sim) are run here with
simguard.run_async.  Portable.

`stream` has async read(n), write(data) and async drain() (wmmp.board.uartstream
ConsoleStream on a board); `clock` is the monotonic clock the engine uses
(docs/CONSOLE.md: the console must see the same time).

    await serve(stream, console, clock, on_reset)     # runs until cancelled
"""

import asyncio

CHUNK = 64      # bytes read at most at once (the console takes 512 a second)
IDLE = 1.0      # s between feed(b"", now) calls while the console waits for a SIM job


async def _sim_work(console, clock):
    """Run the console's SIM jobs (one at a time; a finished one may start the
    next waiting line's job); the replies."""
    from wmmp.terminal import simguard
    out = b""
    jobs = console.sim_jobs()
    while jobs:
        for job, done in jobs:
            r, err = await simguard.outcome_async(job, console.sim)   # never raises
            out += console.sim_done(done, r, err, clock())
        jobs = console.sim_jobs()
    return out


async def serve(stream, console, clock, on_reset, chunk=CHUNK):
    busy = getattr(console, "busy", None)
    while True:
        if busy is not None and busy():   # a job lost with an earlier task: let SIM_WAIT end it
            try:
                data = await asyncio.wait_for(stream.read(chunk), IDLE)
            except asyncio.TimeoutError:
                data = b""
        else:
            data = await stream.read(chunk)
            if not data:                # end of input on a host stream: do not spin
                await asyncio.sleep(0.05)
                continue
        out = console.feed(data, clock())        # never raises on any input
        if hasattr(console, "sim_jobs"):
            out += await _sim_work(console, clock)
        if out:
            stream.write(out)
            await stream.drain()
        for ev in console.events():
            if ev[0] == "reset":
                on_reset(ev[1], ev[2])
