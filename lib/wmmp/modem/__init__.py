"""Cellular module drivers (issue 5): the errors, the bounded inbox and the WMMP
framing check their bearers share.  Portable (MicroPython and CPython).

Drivers: wmmp.modem.sim7600 (SIMCom SIM7600).  Their bearers implement the
interface wmmp.runner uses (kind, async open(), async send(data), async recv()).

Errors (all WmmpError subclasses, so one except clause keeps a caller alive):
    ModemError       the module did not do what was asked
    NotResponding    no answer to AT after power-on or a reboot
    LinkError        base of the two below; on CPython also a ConnectionError,
                     as the host bearers' interface promises (MicroPython has no
                     ConnectionError and cannot mix a WmmpError with OSError)
    NetworkError     attach / data service / socket open failed; `code` is the
                     module's <err> number (MODEMS.md: 1 network failure, 2 not
                     opened, ... 10 timeout, 11 DNS) or None
    LinkLost         the link is gone (network closed, peer closed, module
                     rebooted, framing lost) or was never opened: open() again
"""

import asyncio

from wmmp.errors import WmmpError
from wmmp.header import HEADER_SIZE, SEC_FEEDBACK


class ModemError(WmmpError):
    """The module did not do what was asked (unexpected reply)."""


class NotResponding(ModemError):
    """The module did not answer AT in time (off, booting, wrong baud rate)."""


try:
    class LinkError(ModemError, ConnectionError):     # CPython
        """A bearer's link failed or is not open."""
except (NameError, TypeError):                          # MicroPython
    class LinkError(ModemError):
        """A bearer's link failed or is not open."""


class NetworkError(LinkError):
    """Attach, data service or socket open failed; `code` is the module's <err>."""

    def __init__(self, msg, code=None):
        super().__init__(msg)
        self.code = code


class LinkLost(LinkError):
    """The link is gone or was never opened: the bearer must be opened again."""


def log_print(*args):
    print(*args)


def frame_problem(data):
    """Why `data` is not one whole WMMP message (INTEROP 1: total_length, the
    first u16, equals its size), or None.  A 28-byte header echo with a
    feedback bit set (table A-2) keeps the original total_length: accepted."""
    n = len(data)
    if n < HEADER_SIZE:
        return "%d bytes, shorter than the header" % n
    if n == HEADER_SIZE and data[26] & SEC_FEEDBACK:
        return None
    t = (data[0] << 8) | data[1]
    if t != n:
        return "total_length %d but %d bytes" % (t, n)
    return None


class Inbox:
    """Bounded queue of received messages with a failure state.

    put() drops the oldest item when `limit` are waiting (counted in
    `dropped`); fail(why) makes get() raise LinkLost(why) once the queued
    items are taken; reset() clears the failure (the bearer is open again)."""

    def __init__(self, limit=8, why="not open"):
        self.limit = limit
        self.items = []
        self.dropped = 0
        self.why = why
        self.ev = asyncio.Event()

    def put(self, item):
        if len(self.items) >= self.limit:
            self.items.pop(0)
            self.dropped += 1
        self.items.append(item)
        self.ev.set()

    def fail(self, why):
        self.why = why
        self.ev.set()

    def reset(self):
        self.why = None

    async def get(self):
        while True:
            if self.items:
                return self.items.pop(0)
            if self.why is not None:
                raise LinkLost(self.why)     # a fresh instance each time
            self.ev.clear()
            await self.ev.wait()
