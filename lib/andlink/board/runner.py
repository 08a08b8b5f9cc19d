"""The asyncio runner of the And-link client (andlink.client.core.Client, sans-
I/O) over a datagram link.  Portable: MicroPython and CPython asyncio.

    r = Runner(build, link, clock=monotonic, log=print, restart=None,
               on_event=None, stager=None, health=300, radio_period=300,
               restart_grace=10, counters=None)
    await r.run()                  serves until stop(); never raises but
                                   CancelledError

build() -> a new Client (the board's store, record and stager): called at the
first start and at every restart in place.  The link (andlink.board.bc95link
or sim7600link on a board; tests bring their own):

    async open(), async close(), async send(data, peer), async recv() ->
    (data, peer)  (raises when the link is down: it is opened again)
    async sleep() -> True when the link is down until the next open()
                     (optional: queue mode's sleep, the module's PSM or radio off)
    async radio() -> {"rssi_dbm", "cell", "ip"} (optional: /4/0/2, /4/0/8, /4/0/4)

The loop: datagrams read by a reader task go to client.receive(), the client
is ticked when its deadline() comes, what outgoing() holds is sent in order,
events() are handled:
  ("sleep",)          link.sleep(): a link that went down (radio off) is
                      opened again for the next uplink
  ("restart", why, v) once client.idle() (at most restart_grace s later)
                      and nothing came for MAX_TRANSMIT_SPAN (RFC 7252 4.8.2,
                      112.5 s with section 3.4's figures; restart_grace +
                      MAX_TRANSMIT_SPAN at the most): the server's
                      retransmission of the request just answered (an Execute
                      whose ACK was lost) still meets the old client, which
                      answers it from its duplicate cache, not a new one that
                      would refuse it (4.05); then restart(why, v) -> True
                      when the board resets (it does not come back on a
                      board: machine.reset()); otherwise, or without
                      restart, a new Client in place
  every event         on_event(ev)
The radio values are read at each link opening and every radio_period s
while the client is awake (not in queue mode's sleep: the module may be in
PSM).  After an update was applied the new software must register within
`health` s, else stager.rollback() and a restart (the client confirms the
update when it registers: andlink.client.fota).  later_restart(why) asks for
a restart (the board's Reboot /3/0/4).

A link opened again (after a failure, or after the radio was off) is a new
socket, and maybe a new address (a new PDN after the attach, the carrier's
NAT): a registered client Registers again (c.reregister), so that the server
talks to the new address and observes again.  An Update would move the
registration only: the server's observations would stay on the old address
and it would reset their notifications.  In PSM the socket and the address
stay: nothing is done.

Failures: an exception from the link, the client or the build is logged
(with its traceback) and the link is closed and opened again after a
back-off (1 s doubling to 60 s, from 1 s again after a session that served
for a minute); the client keeps its state across, CoAP retransmits what was
lost.  The client never raises on bad input (andlink.client.core).
"""

import asyncio

from wmmp.board.runner import monotonic
from wmmp.board.supervise import Backoff, describe, wait_event
from andlink.board import objects

_LOGGED = ("registered", "register_failed", "bootstrapped", "bootstrap_failed", "deregistered", "missing",
           "sleep", "awake", "fota", "restart", "bad", "update_failed")


def _print(text):
    print(text)


class Runner:
    def __init__(self, build, link, clock=monotonic, log=_print, restart=None, on_event=None, stager=None,
                 health=300, radio_period=300, restart_grace=10, counters=None, backoff=(1, 60), poll=1.0,
                 max_inbox=16):
        self.build = build
        self.link = link
        self.clock = clock
        self.log = log
        self.restart = restart
        self.on_event = on_event
        self.stager = stager
        self.health = health
        self.radio_period = radio_period
        self.restart_grace = restart_grace
        self.counters = counters
        self.backoff = Backoff(backoff[0], backoff[1])
        self.poll = poll
        self.max_inbox = max_inbox
        self.client = None
        self.radio_values = None    # the link's last radio() readings
        self.sessions = 0           # link openings that served
        self.failures = 0           # sessions ended by an exception
        self.restarts = 0           # clients started again in place
        self.opens = 0              # link openings
        self.moves = 0              # registrations made again after the link opened again
        self.sleeps = 0
        self._inbox = []
        self._wake = asyncio.Event()
        self._reader = None
        self._rgen = 0
        self._err = None
        self._down = True           # the link is closed (at start, or asleep with the radio off)
        self._stop = False
        self._want_restart = None   # (why, version)
        self._restart_by = 0
        self._radio_due = 0
        self._trial_since = None
        self._opens_seen = 0
        self._last_rx = 0

    # == the board's calls ====================================================
    def stop(self):
        self._stop = True
        self._wake.set()

    def wake(self):
        self._wake.set()

    def later_restart(self, why, version=None):
        """Restart once the client is idle (what it queued went out)."""
        if self._want_restart is None:
            self._want_restart = (why, version)
            self._restart_by = self.clock() + self.restart_grace
        self._wake.set()

    async def run(self):
        while not self._stop:
            t0 = self.clock()
            try:
                await self._session()
            except asyncio.CancelledError:
                await self._drop()
                raise
            except Exception as e:          # the loop never dies
                self.failures += 1
                if self.clock() - t0 >= 60:
                    self.backoff.reset()
                d = self.backoff.next()
                self.log("andlink: %s; the link opens again in %s s" % (describe(e), d))
                await self._drop()
                await asyncio.sleep(d)
        await self._drop()

    # == inside ===============================================================
    async def _session(self):
        await self._open()
        self.sessions += 1
        if self.client is None:
            self._start()
        await self._radio()                 # before the first uplink: 4.1.5 reads /4/0/8
        while not self._stop:
            c = self.client
            now = self.clock()
            while self._inbox:
                data, peer = self._inbox.pop(0)
                self._last_rx = now
                c.receive(data, now, peer)
            d = c.deadline()
            if d is not None and now >= d:
                c.tick(now)
            await self._flush()
            if self._err is not None:
                e, self._err = self._err, None
                raise e
            await self._chores(self.clock())
            if self._stop or self._inbox:
                continue
            d = self.client.deadline()
            wait = self.poll if d is None else min(self.poll, d - self.clock())
            if wait > 0:
                await self._sleep(wait)
            else:
                await asyncio.sleep(0)
            self._wake.clear()

    async def _sleep(self, wait):
        """Until wake() or `wait` s (wait_event keeps a cancellation on CPython 3.11)."""
        await wait_event(self._wake, wait)

    def _start(self):
        self.client = None
        c = self.build()
        v = self.radio_values
        if v:                               # the last readings, until the next ones
            objects.set_radio(c.store, v.get("rssi_dbm"), v.get("cell"), v.get("ip"))
        c.start(self.clock())
        self.client = c
        self._trial_since = None

    async def _open(self):
        await self.link.open()
        self.opens += 1
        self._down = False
        self._err = None
        if self._reader is None:
            self._rgen += 1
            self._reader = asyncio.create_task(self._read(self._rgen))

    async def _drop(self):
        """Close the link (reader stopped); errors ignored: it may be gone."""
        self._down = True
        r, self._reader = self._reader, None
        if r is not None:
            r.cancel()
        try:
            await self.link.close()
        except Exception as e:
            self.log("andlink: closing the link: %r" % (e,))

    async def _read(self, gen):
        link = self.link
        try:
            while True:
                data, peer = await link.recv()
                if len(self._inbox) >= self.max_inbox:     # bounded: a flood cannot exhaust RAM
                    self._inbox.pop(0)
                self._inbox.append((data, peer))
                if self.counters is not None:
                    self.counters.rx += len(data)
                self._wake.set()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            if gen == self._rgen:
                self._reader = None         # the next _open() starts another
                if not self._down:
                    self._err = e
                    self._wake.set()

    async def _flush(self):
        c = self.client
        for raw, peer in c.outgoing():
            if self._down:
                self.log("andlink: the link opens for an uplink")
                await self._open()
            try:
                await self.link.send(raw, peer)
            except ValueError as e:         # a peer the link cannot reach (a name on the BC95)
                self.log("andlink: not sent to %s: %s" % (peer, e))
                continue
            if self.counters is not None:
                self.counters.tx += len(raw)
        for ev in c.events():
            await self._event(ev)

    async def _event(self, ev):
        name = ev[0]
        if name in _LOGGED:
            self.log("andlink: event " + " ".join(str(x) for x in ev))
        if self.on_event is not None:
            try:
                self.on_event(ev)
            except Exception as e:
                self.log("andlink: event handler failed: %r" % (e,))
        if name == "sleep":
            self.sleeps += 1
            sleep = getattr(self.link, "sleep", None)
            if sleep is not None:
                self._down = True           # the reader's "link lost" is expected now
                try:
                    down = await sleep()
                except Exception as e:
                    self.log("andlink: link sleep failed: %r" % (e,))
                    down = False
                if down:
                    r, self._reader = self._reader, None
                    if r is not None:
                        r.cancel()
                else:
                    self._down = False
        elif name == "awake":
            self._radio_due = 0
        elif name == "restart":
            self.later_restart(ev[1], ev[2] if len(ev) > 2 else None)

    async def _chores(self, now):
        c = self.client
        if self.opens > self._opens_seen:
            if self._opens_seen and c.registered:
                self.moves += 1             # a new socket, maybe a new address: Register again
                c.reregister(now)
            self._opens_seen = self.opens
        if self._want_restart is not None and (c.idle() or now >= self._restart_by) and \
                now >= min(self._last_rx, self._restart_by) + c.p.max_transmit_span():
            why, version = self._want_restart
            self._want_restart = None
            if self.restart is not None and self.restart(why, version):
                self.stop()                 # the board resets (a host's fake returns here)
                return
            self.restarts += 1
            self.log("andlink: restart (%s) in place" % why)
            self._start()
            return
        if not c.asleep and not self._down and now >= self._radio_due:
            await self._radio()
        self._health(now)

    async def _radio(self):
        self._radio_due = self.clock() + self.radio_period
        read = getattr(self.link, "radio", None)
        if read is None or self.client is None:
            return
        try:
            v = await read()
            self.radio_values = v
            objects.set_radio(self.client.store, v.get("rssi_dbm"), v.get("cell"), v.get("ip"))
        except Exception as e:              # readings are best effort
            self.log("andlink: radio values not read: %r" % (e,))

    def _health(self, now):
        c = self.client
        st = c.fota_state()
        if self.stager is None or not self.health or st is None or st[0] != 3 or c.registered:
            self._trial_since = None
            return
        if self._trial_since is None:
            self._trial_since = now
        elif now - self._trial_since > self.health:
            self.log("andlink: the new software did not register within %s s: rolling back" % self.health)
            self._trial_since = None
            try:
                self.stager.rollback()
            except Exception as e:
                self.log("andlink: rollback failed: %r" % (e,))
            self.later_restart("rollback")
