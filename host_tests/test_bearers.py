"""Tests of the host bearers (tools/wmmp_tools/bearers.py): UDP and TCP against small
in-test servers on loopback, SMS through the emulated SMS centre (PROTOCOL.md 9).

Messages are built here with struct from the header layout of PROTOCOL.md 1 (not with
the codec), so framing checks do not rest on the code under test.
CPython only: real sockets on port 0, asyncio via asyncio.run.
"""

import asyncio
import logging
import socket
import struct

import pytest

from wmmp.wire import profile as P
from wmmp_tools.bearers import UdpBearer, TcpBearer, SmsBearer, TCP_BUFFER_MAX
from wmmp_tools.smsc import SmsCentre, SmsClient

TERMINAL = "13800000001"
PLATFORM = ["1065710001", "1065710002"]
STRANGER = "13900000009"


def run(coro, timeout=10.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def message(body=b"", seq=1, command=0x0001):
    """One framed message: 28-byte header (PROTOCOL.md 1) + body, total_length = whole size."""
    total = 28 + len(body)
    return struct.pack(">H16sHHIBB", total, b"SERIAL0000000001", 0x0300, command, seq, 0, 0) + body


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# -- UDP --------------------------------------------------------------------------

class UdpServer(asyncio.DatagramProtocol):
    """Answers each datagram with the datagrams `reply(data)` returns (default: echo)."""

    def __init__(self, reply=None):
        self.reply = reply or (lambda data: [data])
        self.seen = []

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.seen.append((data, addr))
        for out in self.reply(data):
            self.transport.sendto(out, addr)


async def udp_server(reply=None):
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        lambda: UdpServer(reply), local_addr=("127.0.0.1", 0))
    return transport, proto, transport.get_extra_info("sockname")[1]


def test_udp_round_trip_one_datagram_per_message():
    async def main():
        transport, server, port = await udp_server()
        bearer = UdpBearer("127.0.0.1", port)
        assert bearer.kind == P.BEARER_PACKET and not bearer.is_open
        await bearer.open()
        assert bearer.is_open
        msgs = [message(b"x" * n, seq=n) for n in (0, 1, 100, 1400)]
        for m in msgs:
            await bearer.send(m)
            assert await bearer.recv() == m
        assert [d for d, _ in server.seen] == msgs        # one datagram each
        await bearer.close()
        assert not bearer.is_open
        transport.close()
    run(main())


def test_udp_local_port_is_used():
    async def main():
        transport, server, port = await udp_server()
        local = free_udp_port()
        bearer = UdpBearer("127.0.0.1", port, local_port=local)
        await bearer.open()
        assert bearer.local_address[1] == local
        await bearer.send(message())
        await bearer.recv()
        assert server.seen[0][1][1] == local
        await bearer.close()
        transport.close()
    run(main())


def test_udp_drops_bad_datagrams_and_keeps_going(caplog):
    """Datagrams shorter than the header, or whose total_length (PROTOCOL.md 1) disagrees
    with the datagram size, are dropped with a log line; recv() does not raise."""
    good = message(b"good")
    too_short = message()[:27]
    longer_than_said = message(b"abc") + b"extra"
    shorter_than_said = message(b"abcdef")[:-2]

    async def main():
        transport, _, port = await udp_server(
            lambda data: [too_short, longer_than_said, shorter_than_said, good])
        bearer = UdpBearer("127.0.0.1", port)
        await bearer.open()
        await bearer.send(message())
        assert await bearer.recv() == good
        await bearer.close()
        transport.close()
    with caplog.at_level(logging.WARNING, logger="wmmp.bearer.udp"):
        run(main())
    dropped = [r for r in caplog.records if r.name == "wmmp.bearer.udp" and "dropped" in r.getMessage()]
    assert len(dropped) == 3


def test_udp_unreachable_is_logged_not_fatal(caplog):
    async def main():
        bearer = UdpBearer("127.0.0.1", free_udp_port())     # nobody listens there
        await bearer.open()
        for seq in range(3):
            await bearer.send(message(seq=seq))
            await asyncio.sleep(0.05)
        assert bearer.is_open
        await bearer.close()
    with caplog.at_level(logging.WARNING, logger="wmmp.bearer.udp"):
        run(main())
    assert any("UDP error" in r.getMessage() for r in caplog.records)


def test_udp_close_wakes_recv_and_reopen_works():
    async def main():
        transport, _, port = await udp_server()
        bearer = UdpBearer("127.0.0.1", port)
        await bearer.open()
        pending = asyncio.ensure_future(bearer.recv())
        await asyncio.sleep(0.01)
        await bearer.close()
        with pytest.raises(ConnectionError):
            await pending
        with pytest.raises(ConnectionError):
            await bearer.recv()
        with pytest.raises(ConnectionError):
            await bearer.send(message())
        await bearer.open()
        await bearer.send(message(b"again"))
        assert await bearer.recv() == message(b"again")
        await bearer.close()
        transport.close()
    run(main())


def test_send_refuses_what_is_not_one_message():
    async def main():
        transport, _, port = await udp_server()
        bearer = UdpBearer("127.0.0.1", port)
        await bearer.open()
        for bad in (b"", b"\x00" * 27, message(b"ab") + b"c", message(b"abc")[:-1]):
            with pytest.raises(ValueError):
                await bearer.send(bad)
        await bearer.close()
        transport.close()
    run(main())


# -- TCP --------------------------------------------------------------------------

class TcpServer:
    """Loopback TCP server running `handler(reader, writer)` per connection."""

    def __init__(self, handler):
        self.handler = handler
        self.connections = 0

    async def start(self):
        async def handle(reader, writer):
            self.connections += 1
            try:
                await self.handler(reader, writer)
            finally:
                writer.close()
        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self):
        self.server.close()
        await self.server.wait_closed()


async def read_message(reader):
    head = await reader.readexactly(2)
    (n,) = struct.unpack(">H", head)
    return head + await reader.readexactly(n - 2)


async def echo(reader, writer):
    try:
        while True:
            writer.write(await read_message(reader))
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass


def test_tcp_round_trip_including_largest_message():
    async def main():
        server = await TcpServer(echo).start()
        bearer = TcpBearer("127.0.0.1", server.port)
        assert bearer.kind == P.BEARER_PACKET
        await bearer.open()
        for m in (message(), message(b"\x01" * 1000, seq=2), message(b"\xaa" * (65535 - 28), seq=3)):
            await bearer.send(m)
            assert await bearer.recv() == m
        await bearer.close()
        await server.close()
    run(main())


def test_tcp_stream_split_by_total_length():
    """On TCP the stream is split using total_length (PROTOCOL.md 9): messages cut across
    segments (even inside the length field) and several in one segment."""
    msgs = [message(b"a" * i, seq=i) for i in (0, 5, 77, 300)]
    stream = b"".join(msgs)

    async def dribble(reader, writer):
        await reader.read(1)
        # byte by byte for the first message (length field split too), then odd cuts
        cuts = list(range(1, len(msgs[0]) + 1)) + [len(msgs[0]) + 3, len(stream) - 10, len(stream)]
        start = 0
        for cut in cuts:
            writer.write(stream[start:cut])
            await writer.drain()
            await asyncio.sleep(0.002)
            start = cut
        writer.write(stream)                    # all four merged in one write
        await writer.drain()
        await reader.read(1)

    async def main():
        server = await TcpServer(dribble).start()
        bearer = TcpBearer("127.0.0.1", server.port)
        await bearer.open()
        bearer._writer.write(b"!")              # start the server's sending
        got = [await bearer.recv() for _ in range(8)]
        assert got == msgs + msgs
        await bearer.close()
        await server.close()
    run(main())


def test_tcp_receive_buffer_is_bounded():
    """Two largest messages in one burst: never more than 65535 + 28 bytes buffered."""
    big = [message(bytes([i]) * (65535 - 28), seq=i) for i in (1, 2)]

    async def burst(reader, writer):
        writer.write(b"".join(big) + message(b"tail"))
        await writer.drain()
        await reader.read(1)

    class Recorder:
        def __init__(self, reader, bearer):
            self.reader, self.bearer, self.most = reader, bearer, 0

        async def read(self, n):
            data = await self.reader.read(n)
            self.most = max(self.most, len(self.bearer._buf) + len(data))
            return data

    async def main():
        server = await TcpServer(burst).start()
        bearer = TcpBearer("127.0.0.1", server.port)
        await bearer.open()
        rec = bearer._reader = Recorder(bearer._reader, bearer)
        assert [await bearer.recv() for _ in range(3)] == big + [message(b"tail")]
        assert 0 < rec.most <= TCP_BUFFER_MAX
        await bearer.close()
        await server.close()
    run(main())


def test_tcp_corrupt_length_closes_and_reopen_reconnects(caplog):
    """A total_length below the 28-byte header means the stream is corrupt: the bearer
    closes and recv raises ConnectionError; the next open() connects again."""
    connections = []

    async def handler(reader, writer):
        connections.append(writer)
        if len(connections) == 1:
            writer.write(message(b"first") + struct.pack(">H", 27) + b"\x00" * 40)
            await writer.drain()
            await reader.read(1)                # until the bearer hangs up
        else:
            await echo(reader, writer)

    async def main():
        server = await TcpServer(handler).start()
        bearer = TcpBearer("127.0.0.1", server.port)
        await bearer.open()
        assert await bearer.recv() == message(b"first")
        with pytest.raises(ConnectionError):
            await bearer.recv()
        assert not bearer.is_open
        with pytest.raises(ConnectionError):
            await bearer.send(message())
        await bearer.open()
        assert server.connections == 2
        await bearer.send(message(b"second"))
        assert await bearer.recv() == message(b"second")
        await bearer.close()
        await server.close()
    with caplog.at_level(logging.ERROR, logger="wmmp.bearer.tcp"):
        run(main())
    assert any("corrupt" in r.getMessage() for r in caplog.records)


def test_tcp_peer_close_mid_message_raises_connection_error():
    async def handler(reader, writer):
        writer.write(message(b"whole") + message(b"cut short")[:20])
        await writer.drain()

    async def main():
        server = await TcpServer(handler).start()
        bearer = TcpBearer("127.0.0.1", server.port)
        await bearer.open()
        assert await bearer.recv() == message(b"whole")
        with pytest.raises(ConnectionError):
            await bearer.recv()
        assert not bearer.is_open
        await server.close()
    run(main())


def test_tcp_close_wakes_pending_recv():
    async def handler(reader, writer):
        await reader.read(1)

    async def main():
        server = await TcpServer(handler).start()
        bearer = TcpBearer("127.0.0.1", server.port)
        await bearer.open()
        pending = asyncio.ensure_future(bearer.recv())
        await asyncio.sleep(0.01)
        await bearer.close()
        with pytest.raises(ConnectionError):
            await pending
        await server.close()
    run(main())


def test_tcp_open_failure_is_oserror():
    async def main():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with pytest.raises(OSError):
            await TcpBearer("127.0.0.1", port).open()
    run(main())


# -- SMS --------------------------------------------------------------------------

async def sms_setup():
    smsc = await SmsCentre("127.0.0.1", 0).start()
    platforms = [await SmsClient("127.0.0.1", smsc.port, n).connect() for n in PLATFORM]
    bearer = SmsBearer("127.0.0.1", smsc.port, TERMINAL, PLATFORM)
    await bearer.open()
    return smsc, platforms, bearer


async def sms_teardown(smsc, clients, bearer):
    await bearer.close()
    for c in clients:
        await c.close()
    await smsc.close()


def test_sms_sends_to_first_platform_number():
    """Uplink goes to the platform number, TLV 0x0007 (PROTOCOL.md 9): the first configured."""
    async def main():
        smsc, (p1, p2), bearer = await sms_setup()
        assert bearer.kind == P.BEARER_SMS and bearer.is_open
        m = message(b"login")
        await bearer.send(m)
        assert await p1.recv() == (TERMINAL, m)
        assert smsc.log[-1]["to"] == PLATFORM[0] and smsc.log[-1]["from"] == TERMINAL
        await sms_teardown(smsc, [p1, p2], bearer)
    run(main())


def test_sms_receives_only_from_platform_numbers(caplog):
    """The terminal accepts WMMP SMS only from configured platform numbers (PROTOCOL.md 9)."""
    async def main():
        smsc, (p1, p2), bearer = await sms_setup()
        stranger = await SmsClient("127.0.0.1", smsc.port, STRANGER).connect()
        await stranger.send(TERMINAL, message(b"spoofed"))
        await p2.send(TERMINAL, message(b"from second number"))
        await p1.send(TERMINAL, message(b"from first number"))
        assert await bearer.recv() == message(b"from second number")
        assert await bearer.recv() == message(b"from first number")
        await sms_teardown(smsc, [p1, p2, stranger], bearer)
    with caplog.at_level(logging.WARNING, logger="wmmp.bearer.sms"):
        run(main())
    assert any(STRANGER in r.getMessage() and "ignored" in r.getMessage() for r in caplog.records)


def test_sms_drops_unframed_sms_from_platform(caplog):
    async def main():
        smsc, (p1, p2), bearer = await sms_setup()
        await p1.send(TERMINAL, b"hello, not WMMP")
        await p1.send(TERMINAL, message(b"abc")[:-1])
        await p1.send(TERMINAL, message(b"ok"))
        assert await bearer.recv() == message(b"ok")
        await sms_teardown(smsc, [p1, p2], bearer)
    with caplog.at_level(logging.WARNING, logger="wmmp.bearer.sms"):
        run(main())
    assert sum("dropped" in r.getMessage() for r in caplog.records) == 2


def test_sms_140_byte_limit_checked_before_sending():
    """One WMMP message per binary SMS of at most 140 bytes (PROTOCOL.md 9)."""
    async def main():
        smsc, (p1, p2), bearer = await sms_setup()
        at_limit = message(b"z" * (140 - 28))
        await bearer.send(at_limit)
        assert await p1.recv() == (TERMINAL, at_limit)
        n = len(smsc.log)
        with pytest.raises(ValueError):
            await bearer.send(message(b"z" * (141 - 28)))
        assert len(smsc.log) == n              # nothing reached the SMSC
        await sms_teardown(smsc, [p1, p2], bearer)
    run(main())


def test_sms_queued_downlink_arrives_after_open_and_reopen():
    async def main():
        smsc = await SmsCentre("127.0.0.1", 0).start()
        p1 = await SmsClient("127.0.0.1", smsc.port, PLATFORM[0]).connect()
        assert await p1.send(TERMINAL, message(b"while offline")) == "queued"
        bearer = SmsBearer("127.0.0.1", smsc.port, TERMINAL, PLATFORM)
        await bearer.open()
        assert await bearer.recv() == message(b"while offline")
        await bearer.close()
        assert not bearer.is_open
        with pytest.raises(ConnectionError):
            await bearer.recv()
        await bearer.open()
        await p1.send(TERMINAL, message(b"back"))
        assert await bearer.recv() == message(b"back")
        await sms_teardown(smsc, [p1], bearer)
    run(main())


def test_sms_open_failure_is_oserror_and_bad_numbers_refused():
    async def main():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with pytest.raises(OSError):
            await SmsBearer("127.0.0.1", port, TERMINAL, PLATFORM).open()
    run(main())
    with pytest.raises(ValueError):
        SmsBearer("127.0.0.1", 7400, TERMINAL, [])
    with pytest.raises(ValueError):
        SmsBearer("127.0.0.1", 7400, "terminal", PLATFORM)
