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
"""

import asyncio
import logging

log = logging.getLogger("wmmp.emu.net")


class _UdpProto(asyncio.DatagramProtocol):
    def __init__(self, owner):
        self.owner = owner

    def datagram_received(self, data, addr):
        self.owner._data(data, addr)

    def error_received(self, exc):        # ICMP port unreachable and the like
        log.debug("udp error: %s", exc)


class UdpSocket:
    def __init__(self, on_data):
        self.on_data = on_data
        self.transport = None
        self.local_port = None
        self.closed = False

    @classmethod
    async def open(cls, on_data, bind_host="127.0.0.1", port=0):
        self = cls(on_data)
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProto(self), local_addr=(bind_host, port))
        self.local_port = self.transport.get_extra_info("sockname")[1]
        return self

    def _data(self, data, addr):
        if not self.closed:
            self.on_data(bytes(data), (addr[0], addr[1]))

    def send(self, data, addr):
        if self.closed:
            raise ConnectionError("socket closed")
        self.transport.sendto(bytes(data), addr)

    def close(self):
        if not self.closed:
            self.closed = True
            self.transport.close()


class TcpSocket:
    def __init__(self, on_data, on_close):
        self.on_data = on_data
        self.on_close = on_close
        self.reader = None
        self.writer = None
        self.peer = None
        self.closed = False
        self._task = None

    @classmethod
    async def connect(cls, host, port, on_data, on_close, timeout=15.0):
        self = cls(on_data, on_close)
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
                self.on_data(data, self.peer)
        except (ConnectionError, OSError) as e:
            log.debug("tcp read: %s", e)
        if not self.closed:
            self.closed = True
            self.writer.close()
            self.on_close()

    def send(self, data):
        if self.closed or self.writer.is_closing():
            raise ConnectionError("socket closed")
        self.writer.write(bytes(data))

    def close(self):
        if not self.closed:
            self.closed = True
            self.writer.close()
            if self._task is not None and self._task is not asyncio.current_task():
                self._task.cancel()
