"""Supervision of a board's long-running asyncio tasks (wmmp.board.device): a task that
raises (or returns) is logged and started again after a delay that doubles from
`first` up to `cap` seconds; a run that lasted `healthy` seconds starts the
delay again from `first`.  Portable (MicroPython and CPython asyncio).

    await supervise("engine", dev.engine_once, log, Backoff(1, 60))

Cancellation (asyncio.CancelledError) is never caught: cancelling the
supervising task stops it.  describe(e) gives an exception with its traceback
as text for a log sink (sys.print_exception on MicroPython).  await
wait_event(ev, timeout) waits for an asyncio.Event or `timeout` s without
losing a cancellation (CPython 3.11's wait_for can swallow one that meets the
event being set: there a timer sets the event instead).
"""

import asyncio


async def wait_event(ev, timeout):
    """Until `ev` is set or `timeout` s passed (ev is not cleared here)."""
    later = getattr(asyncio.get_event_loop(), "call_later", None)
    if later is None:                   # MicroPython: no call_later, and its wait_for keeps cancellations
        try:
            await asyncio.wait_for(ev.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        return
    h = later(timeout, ev.set)
    try:
        await ev.wait()
    finally:
        h.cancel()


class Backoff:
    """Delays first, 2*first, 4*first ... capped at `cap` (seconds)."""

    def __init__(self, first=1.0, cap=60.0, factor=2):
        self.first = first
        self.cap = cap
        self.factor = factor
        self.delay = first

    def next(self):
        d = self.delay
        self.delay = min(self.cap, self.delay * self.factor)
        return d

    def reset(self):
        self.delay = self.first


def describe(e):
    """`e` with its traceback as text (one string, lines joined by newlines)."""
    try:
        import io
        import sys
        buf = io.StringIO()
        sys.print_exception(e, buf)          # MicroPython
        return buf.getvalue().rstrip()
    except AttributeError:
        pass
    try:
        import traceback                     # CPython only, reached only there
        return "".join(traceback.format_exception(type(e), e, e.__traceback__)).rstrip()
    except ImportError:
        return repr(e)


async def supervise(name, factory, log, backoff=None, healthy=60.0, clock=None):
    """Run `await factory()` for ever.  Each failure (or return) is logged through
    log(text) and followed by a back-off sleep (`backoff`, a Backoff)."""
    if backoff is None:
        backoff = Backoff()
    if clock is None:
        from wmmp.board.runner import monotonic as clock
    while True:
        t0 = clock()
        try:
            await factory()
            why = "ended"
        except asyncio.CancelledError:
            raise
        except Exception as e:        # nothing may stop the supervisor
            why = "failed: " + describe(e)
        if clock() - t0 >= healthy:
            backoff.reset()
        delay = backoff.next()
        try:
            log("device: task %s %s; restarting in %s s" % (name, why, delay))
        except Exception:
            pass
        await asyncio.sleep(delay)
