"""coaps for the And-link platform simulator: a UDP front that terminates DTLS
1.2 with a pre-shared key (And-link spec 3.5; the server side in
dtlsserver.py) and carries the CoAP inside to the simulator's plain CoAP
address, from one loopback socket per device, and back.  The simulator's
LwM2M server, its observations and its requests need no change: a device
on coaps is a device at its socket's address.

    front = await DtlsFront(backend, keys, log=print).start(("127.0.0.1", 5684))
    front.address                   (host, port) it listens on
    front.device_of(addr) -> (device address, identity) for a pipe's address
    front.sessions                  device address -> ServerSession
    await front.close()

keys(identity bytes) -> key bytes or None (unknown: the handshake fails with
unknown_psk_identity).  A ClientHello from an address is answered with a
HelloVerifyRequest until it brings the cookie (RFC 6347 4.2.1: no state for
spoofed addresses); one with the cookie from an address that has a session
starts a new one (4.2.8: the device lost its session or restarted).  At most
`max_sessions` at once (the least recently heard is dropped).
"""

import asyncio
import time

from andlink_tools.dtlsserver import Cookies, ServerSession, client_hello, hello_fields, HANDSHAKE, CONNECTED


class _Pipe(asyncio.DatagramProtocol):
    """The device's plaintext side: a loopback socket talking to the simulator."""

    def __init__(self, front, addr):
        self.front = front
        self.addr = addr
        self.tr = None

    def connection_made(self, tr):
        self.tr = tr

    def datagram_received(self, data, _):
        self.front._down(self.addr, data)

    def error_received(self, exc):
        pass


class DtlsFront(asyncio.DatagramProtocol):
    def __init__(self, backend, keys, log=print, max_sessions=1000):
        self.backend = backend
        self.keys = keys
        self.log = log
        self.max_sessions = max_sessions
        self.cookies = Cookies()
        self.sessions = {}
        self.cache = {}             # session id -> what resuming it takes (the newest max_sessions)
        self._pipes = {}            # device address -> _Pipe
        self._heard = {}            # device address -> time last heard
        self._pending = {}          # device address -> [plaintext] while its pipe opens
        self.tr = None
        self.loop = None

    async def start(self, addr):
        self.loop = asyncio.get_running_loop()
        await self.loop.create_datagram_endpoint(lambda: self, local_addr=addr)
        return self

    @property
    def address(self):
        return self.tr.get_extra_info("sockname")[:2]

    def connection_made(self, tr):
        self.tr = tr

    def error_received(self, exc):
        pass

    def device_of(self, pipe_addr):
        for addr, p in self._pipes.items():
            if p.tr is not None and p.tr.get_extra_info("sockname")[:2] == tuple(pipe_addr[:2]):
                s = self.sessions.get(addr)
                return addr, (s.identity if s is not None else None)
        return None

    def datagram_received(self, data, addr):
        addr = addr[:2]
        s = self.sessions.get(addr)
        ch = client_hello(data)
        if ch is not None and not self._same_handshake(s, ch[1]):
            hvr = self.cookies.check(data, addr)
            if hvr:
                self.tr.sendto(hvr, addr)
                return
            if hvr is None:
                s = self._new(addr)
        if s is None:
            return                          # records from an address without a session
        self._heard[addr] = time.monotonic()
        app = s.receive(data)
        self._flush(addr, s)
        for p in app:
            self._up(addr, p)

    def _same_handshake(self, s, body):
        if s is None or s.state != HANDSHAKE or getattr(s, "_cr", None) is None:
            return False
        try:
            return hello_fields(body)[0] == s._cr
        except (ValueError, IndexError):
            return False

    def _new(self, addr):
        if addr not in self.sessions and len(self.sessions) >= self.max_sessions:
            old = min(self._heard, key=self._heard.get)
            self._drop(old)
        self._drop(addr)
        while len(self.cache) > self.max_sessions:
            self.cache.pop(next(iter(self.cache)))
        s = self.sessions[addr] = ServerSession(self._key, cache=self.cache)
        return s

    def _key(self, identity):
        try:
            return self.keys(identity)
        except Exception as e:
            self.log("coaps: key lookup for %r failed: %r" % (identity, e))
            return None

    def _flush(self, addr, s):
        for d in s.outgoing():
            self.tr.sendto(d, addr)
        for ev in s.events():
            if ev[0] == "connected":
                self.log("coaps %s:%d %s: connected %s" % (addr[0], addr[1], s.identity.decode("ascii", "replace"),
                                                           ev[1]))
            else:
                self.log("coaps %s:%d: %s %s" % (addr[0], addr[1], ev[0], ev[1] if len(ev) > 1 else ""))
                if self.sessions.get(addr) is s and s.state not in (HANDSHAKE, CONNECTED):
                    self._drop(addr)

    def _up(self, addr, plain):
        p = self._pipes.get(addr)
        if p is not None and p.tr is not None:
            p.tr.sendto(plain)
            return
        q = self._pending.setdefault(addr, [])
        q.append(plain)
        if p is None:
            p = self._pipes[addr] = _Pipe(self, addr)
            self.loop.create_task(self._open_pipe(addr, p))

    async def _open_pipe(self, addr, p):
        host = "::1" if ":" in self.backend[0] else "127.0.0.1"
        try:
            await self.loop.create_datagram_endpoint(lambda: p, local_addr=(host, 0), remote_addr=self.backend)
        except OSError as e:
            self.log("coaps: no socket for %s:%d: %s" % (addr[0], addr[1], e))
            self._pipes.pop(addr, None)
            self._pending.pop(addr, None)
            return
        if self._pipes.get(addr) is not p:      # dropped meanwhile
            p.tr.close()
            return
        for plain in self._pending.pop(addr, ()):
            p.tr.sendto(plain)

    def _down(self, addr, data):
        s = self.sessions.get(addr)
        if s is None or s.state != CONNECTED:
            return
        s.send(data)
        self._flush(addr, s)

    def _drop(self, addr):
        self.sessions.pop(addr, None)
        self._heard.pop(addr, None)
        p = self._pipes.pop(addr, None)
        if p is not None and p.tr is not None:
            p.tr.close()

    async def close(self):
        for addr in list(self.sessions):
            s = self.sessions[addr]
            s.close()
            self._flush(addr, s)
            self._drop(addr)
        if self.tr is not None:
            self.tr.close()
