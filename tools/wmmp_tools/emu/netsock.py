"""The network side of an emulated module's sockets: each socket opened by an
AT command is a real asyncio UDP or TCP socket on the host (the emulators'
network side is real).

    u = await UdpSocket.open(on_data, bind_host="127.0.0.1", port=0)
    u.send(data, (host, port)); u.local_port; u.close()
    t = await TcpSocket.connect(host, port, on_data, on_close, timeout=15)
    t.send(data); t.close()

on_data(data, (ip, port)) is called for every datagram / TCP chunk;
on_close() once when the peer closes or resets a TCP connection (not after
close()).  Errors of connect/bind are OSError (asyncio.TimeoutError for a
connect timeout).

Link shaping (the radio link the module's packets cross): a
LinkShaper gives both directions a one-way delay of rtt/2, a serialisation
time of len/bandwidth (bytes/s, one queue per direction shared by every
socket of the module) and a loss rate from its own seeded RNG.  A lost
datagram is gone; a lost TCP segment (per MSS of a chunk) is delivered one
retransmission timeout later (RTO = max(0.2 s, 2 * rtt), the Linux floor:
choice), in order; a TCP connect costs one RTT (plus an RTO per lost SYN).
Sockets take the shaper given to them, else the one of the module whose task
opens them (use_shaper(): wmmp_tools.emu.modem.Modem runs its tasks in a
context that names its shaper, so every emulated module is shaped without
passing it around).  Off (rtt 0, loss 0, bandwidth None): bytes go at once.
"""

import asyncio
import contextvars
import logging
import random

log = logging.getLogger("wmmp.emu.net")

UP = 0                      # module -> network
DOWN = 1                    # network -> module
MSS = 1460                  # bytes per TCP segment (loss is drawn per segment)
RTO_MIN = 0.2               # s: the smallest retransmission timeout (Linux)

_shaper = contextvars.ContextVar("wmmp_emu_shaper", default=None)


def use_shaper(shaper):
    """Sockets opened from the current context (and tasks created from it) are shaped by `shaper`."""
    _shaper.set(shaper)


def current_shaper():
    return _shaper.get()


class LinkShaper:
    """RTT (s), loss (fraction 0..1) and bandwidth (bytes/s, None: unlimited)
    of a module's radio link, both directions (see the module docstring).
    Counters: sent, lost (datagrams dropped), retransmits (TCP segments
    delayed by an RTO), bytes."""

    def __init__(self, rtt=0.0, loss=0.0, bandwidth=None, seed=1):
        self.rtt = 0.0
        self.loss = 0.0
        self.bandwidth = None
        self.set(rtt, loss, bandwidth)
        self.rng = random.Random(seed)
        self._free = [0.0, 0.0]     # loop time each direction's queue is free again
        self.sent = 0
        self.lost = 0
        self.retransmits = 0
        self.bytes = 0

    def set(self, rtt=None, loss=None, bandwidth=None, seed=None):
        """Change the figures (None keeps one); bandwidth 0 means unlimited."""
        if rtt is not None:
            if rtt < 0:
                raise ValueError("rtt must be >= 0")
            self.rtt = float(rtt)
        if loss is not None:
            if not 0.0 <= loss <= 1.0:
                raise ValueError("loss must be within 0..1")
            self.loss = float(loss)
        if bandwidth is not None:
            if bandwidth < 0:
                raise ValueError("bandwidth must be >= 0")
            self.bandwidth = float(bandwidth) or None
        if seed is not None:
            self.rng = random.Random(seed)

    @property
    def active(self):
        return bool(self.rtt or self.loss or self.bandwidth)

    @property
    def rto(self):
        return max(RTO_MIN, 2 * self.rtt)

    def _lose(self):
        return self.loss > 0 and self.rng.random() < self.loss

    def _due(self, direction, n, extra=0.0):
        """Loop time the last byte of an n-byte unit arrives at the far end."""
        now = asyncio.get_running_loop().time()
        start = max(now, self._free[direction])
        done = start + (n / self.bandwidth if self.bandwidth else 0.0)
        self._free[direction] = done
        self.sent += 1
        self.bytes += n
        return done + self.rtt / 2 + extra

    def datagram(self, direction, data, deliver):
        """One datagram: deliver(data) later, or never (lost); -> False when lost."""
        if not self.active:
            deliver(data)
            return True
        if self._lose():
            self.lost += 1
            return False
        asyncio.get_running_loop().call_at(self._due(direction, len(data)), deliver, data)
        return True

    def stream(self, direction, data, deliver, after=0.0):
        """A TCP chunk: deliver(data) once it arrived, never before `after` (the
        loop time of the chunk before it: order is kept); -> its due time."""
        extra = 0.0
        if self.loss:
            for _ in range(0, max(1, len(data)), MSS):
                if self._lose():
                    self.retransmits += 1
                    extra += self.rto
        due = max(self._due(direction, len(data), extra), after + 1e-6)   # strictly later:
        # timers due at the same instant may run in any order
        asyncio.get_running_loop().call_at(due, deliver, data)
        return due

    async def connect_delay(self):
        """What a TCP handshake costs: one RTT, an RTO more per lost SYN or SYN-ACK."""
        if not self.active:
            return
        wait = self.rtt
        while self._lose() and wait < 60:
            self.retransmits += 1
            wait += self.rto
        await asyncio.sleep(wait)

    def exchange_time(self, up, down):
        """Seconds one HTTP request/response takes on the link (used by the HTTP
        client of wmmp_tools.emu.httpat): handshake and request/response RTTs,
        both sizes at the bandwidth, an RTO per lost segment."""
        if not self.active:
            return 0.0
        t = 2 * self.rtt
        for n in (up, down):
            if self.bandwidth:
                t += n / self.bandwidth
            for _ in range(0, max(1, n), MSS):
                if self._lose():
                    self.retransmits += 1
                    t += self.rto
        self.sent += 2
        self.bytes += up + down
        return t


class _UdpProto(asyncio.DatagramProtocol):
    def __init__(self, owner):
        self.owner = owner

    def datagram_received(self, data, addr):
        self.owner._data(data, addr)

    def error_received(self, exc):        # ICMP port unreachable and the like
        log.debug("udp error: %s", exc)


class UdpSocket:
    def __init__(self, on_data, shaper=None):
        self.on_data = on_data
        self.shaper = shaper if shaper is not None else current_shaper()
        self.transport = None
        self.local_port = None
        self.closed = False

    @classmethod
    async def open(cls, on_data, bind_host="127.0.0.1", port=0, shaper=None):
        self = cls(on_data, shaper)
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProto(self), local_addr=(bind_host, port))
        self.local_port = self.transport.get_extra_info("sockname")[1]
        return self

    def _data(self, data, addr):
        if self.closed:
            return
        src = (addr[0], addr[1])
        if self.shaper is None:
            self.on_data(bytes(data), src)
        else:
            self.shaper.datagram(DOWN, bytes(data), lambda d: self.closed or self.on_data(d, src))

    def send(self, data, addr):
        if self.closed:
            raise ConnectionError("socket closed")
        if self.shaper is None:
            self.transport.sendto(bytes(data), addr)
        else:
            self.shaper.datagram(UP, bytes(data), lambda d: self.closed or self.transport.sendto(d, addr))

    def close(self):
        if not self.closed:
            self.closed = True
            self.transport.close()


class TcpSocket:
    def __init__(self, on_data, on_close, shaper=None):
        self.on_data = on_data
        self.on_close = on_close
        self.shaper = shaper if shaper is not None else current_shaper()
        self.reader = None
        self.writer = None
        self.peer = None
        self.closed = False
        self._task = None
        self._due = [0.0, 0.0]      # shaped: due time of the last chunk each way

    @classmethod
    async def connect(cls, host, port, on_data, on_close, timeout=15.0, shaper=None):
        self = cls(on_data, on_close, shaper)
        if self.shaped():
            await asyncio.wait_for(self.shaper.connect_delay(), timeout)
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), timeout)
        peer = self.writer.get_extra_info("peername")
        self.peer = (peer[0], peer[1]) if peer else (host, port)
        self._task = asyncio.get_running_loop().create_task(self._read_loop())
        return self

    async def _read_loop(self):
        try:
            while True:
                data = await self.reader.read(4096)
                if not data:
                    break
                if self.closed:
                    return
                if self.shaped():
                    self._due[DOWN] = self.shaper.stream(DOWN, data, self._shaped_in, self._due[DOWN])
                else:
                    self.on_data(data, self.peer)
        except (ConnectionError, OSError) as e:
            log.debug("tcp read: %s", e)
        if self.shaped():               # the close follows the data still on the link
            wait = self._due[DOWN] - asyncio.get_running_loop().time()
            if wait > 0:
                await asyncio.sleep(wait)
        if not self.closed:
            self.closed = True
            self.writer.close()
            self.on_close()

    def shaped(self):
        return self.shaper is not None and self.shaper.active

    def _shaped_in(self, data):
        if not self.closed:
            self.on_data(data, self.peer)

    def _shaped_out(self, data):
        if not self.closed and not self.writer.is_closing():
            self.writer.write(data)

    def send(self, data):
        if self.closed or self.writer.is_closing():
            raise ConnectionError("socket closed")
        if self.shaped():
            self._due[UP] = self.shaper.stream(UP, bytes(data), self._shaped_out, self._due[UP])
        else:
            self.writer.write(bytes(data))

    def close(self):
        if not self.closed:
            self.closed = True
            self.writer.close()
            if self._task is not None and self._task is not asyncio.current_task():
                self._task.cancel()
