"""Host bearers (CPython, asyncio) that carry whole WMMP messages for a terminal
running on the host: UDP, TCP and SMS through the emulated SMS centre (docs/PROTOCOL.md 9).

Every bearer has the same interface; the terminal runner uses only this:

    class Bearer:
        kind                          # wmmp.wire.profile.BEARER_SMS (1) or BEARER_PACKET (2)
        async def open()              # connect / bind; raises OSError on failure;
                                      # a no-op when already open, reconnects after close()
        async def send(data: bytes)   # one whole WMMP message; ValueError if `data` is not
                                      # one framed message (>= 28 bytes, total_length ==
                                      # len(data)) or too long for the bearer; ConnectionError
                                      # (an OSError) when not open
        async def recv() -> bytes     # the next whole WMMP message received (waits);
                                      # ConnectionError when the bearer is or becomes closed
        async def close()             # idempotent
        is_open                       # property

    One task at a time calls recv(); send() may run while a recv() waits.

    UdpBearer(host, port, local_port=0)   one datagram = one message
    TcpBearer(host, port)                 a stream split by total_length
    SmsBearer(smsc_host, smsc_port, own_msisdn, platform_numbers)
                                          one binary SMS (<= 140 bytes) = one message

Input that is not a message is never returned: UDP datagrams and SMS that are
shorter than the 28-byte header or whose total_length (the first u16,
docs/PROTOCOL.md 1) disagrees with their size are dropped with a log line; on
TCP a total_length below 28 means the stream has lost its framing, so the bearer
closes.  Loggers:
"wmmp.bearer.udp", "wmmp.bearer.tcp", "wmmp.bearer.sms", shown as the components
udp, tcp and sms in the log format of the host tools (wmmp_tools.logfmt).
"""

import asyncio
import logging
import struct

from wmmp.wire import header as H
from wmmp.wire import profile as P

from wmmp_tools.smsc import SmsClient, valid_msisdn

HEADER_SIZE = H.HEADER_SIZE
MESSAGE_MAX = P.MESSAGE_MAX               # total_length is a u16 (docs/PROTOCOL.md 1)
SMS_MAX = P.SMS_MESSAGE_MAX               # one binary SMS (docs/PROTOCOL.md 9)
TCP_BUFFER_MAX = MESSAGE_MAX + HEADER_SIZE
UDP_BACKLOG = 256                         # datagrams waiting for recv(); more are dropped


def _addr(addr):
    """host:port of a socket address, as a person reads it (not a Python tuple)."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        return "%s:%s" % (addr[0], addr[1])
    return str(addr)


def total_length(data, offset=0):
    """The total_length field (first u16, big-endian) of the message at `offset`."""
    return struct.unpack_from(">H", data, offset)[0]


def frame_problem(data):
    """Why `data` is not one whole WMMP message, or None if it is one.  A 28-byte
    header echo with a feedback bit set (table A-2: overflow, digest or decrypt
    failure notice) keeps the original total_length and is accepted as is."""
    if len(data) < HEADER_SIZE:
        return "%d bytes, shorter than the %d-byte header" % (len(data), HEADER_SIZE)
    n = total_length(data)
    if len(data) == HEADER_SIZE and data[26] & H.SEC_FEEDBACK:
        return None
    if n != len(data):
        return "total_length %d but %d bytes" % (n, len(data))
    return None


def _check_outgoing(data, limit):
    data = bytes(data)
    why = frame_problem(data)
    if why is not None:
        raise ValueError("not one WMMP message: " + why)
    if len(data) > limit:
        raise ValueError("message of %d bytes exceeds the bearer limit of %d" % (len(data), limit))
    return data


class Bearer:
    """Common base: see the module docstring for the interface."""

    kind = P.BEARER_PACKET

    @property
    def is_open(self):
        raise NotImplementedError

    async def open(self):
        raise NotImplementedError

    async def send(self, data):
        raise NotImplementedError

    async def recv(self):
        raise NotImplementedError

    async def close(self):
        raise NotImplementedError

    async def __aenter__(self):
        await self.open()
        return self

    async def __aexit__(self, *exc):
        await self.close()


# -- UDP --------------------------------------------------------------------------

class _UdpProtocol(asyncio.DatagramProtocol):
    """One socket's protocol; it owns the queue recv() reads, so a late event of an
    old socket never reaches a reopened bearer."""

    def __init__(self, log):
        self.log = log
        self.inbox = asyncio.Queue()
        self.ended = False

    def datagram_received(self, data, addr):
        why = frame_problem(data)
        if why is not None:
            self.log.warning("UDP datagram from %s dropped: %s", _addr(addr), why)
        elif self.inbox.qsize() >= UDP_BACKLOG:
            self.log.warning("UDP datagram from %s dropped: %d waiting", _addr(addr), UDP_BACKLOG)
        else:
            self.inbox.put_nowait(data)

    def error_received(self, exc):
        # ICMP port/host unreachable and the like: the platform may come back.
        self.log.warning("UDP error (not fatal): %s", exc)

    def connection_lost(self, exc):
        if exc is not None:
            self.log.warning("UDP socket lost: %s", exc)
        self.end()

    def end(self):
        if not self.ended:
            self.ended = True
            self.inbox.put_nowait(None)     # wakes recv(); stays as the last item


class UdpBearer(Bearer):
    """UDP to the platform at (host, port); one datagram carries one message.

    The socket is connected to the platform address, so only its datagrams arrive;
    at most 256 wait for recv(), later ones are dropped with a log line."""

    kind = P.BEARER_PACKET

    def __init__(self, host, port, local_port=0):
        self.host = host
        self.port = port
        self.local_port = local_port
        self.log = logging.getLogger("wmmp.bearer.udp")
        self._transport = None
        self._protocol = None

    @property
    def is_open(self):
        return self._transport is not None and not self._transport.is_closing()

    @property
    def local_address(self):
        """(host, port) the socket is bound to, or None when closed."""
        return self._transport.get_extra_info("sockname")[:2] if self.is_open else None

    async def open(self):
        if self.is_open:
            return
        local = None
        if self.local_port:
            local = ("::" if ":" in self.host else "0.0.0.0", self.local_port)
        loop = asyncio.get_running_loop()
        self._transport, self._protocol = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self.log), remote_addr=(self.host, self.port), local_addr=local)
        self.log.info("UDP open %s -> %s:%d", _addr(self.local_address), self.host, self.port)

    async def send(self, data):
        data = _check_outgoing(data, MESSAGE_MAX)
        if not self.is_open:
            raise ConnectionError("UDP bearer not open")
        self._transport.sendto(data)

    async def recv(self):
        protocol = self._protocol
        if protocol is None:
            raise ConnectionError("UDP bearer not open")
        item = await protocol.inbox.get()
        if item is None:
            protocol.inbox.put_nowait(None)
            raise ConnectionError("UDP bearer closed")
        return item

    async def close(self):
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            self._protocol.end()
            self._protocol = None
            self.log.info("UDP closed")
            await asyncio.sleep(0)


# -- TCP --------------------------------------------------------------------------

class TcpBearer(Bearer):
    """TCP to the platform; the byte stream is split by total_length (docs/PROTOCOL.md 9).

    The receive buffer never holds more than 65535 + 28 bytes.  A total_length
    below 28 means the framing is lost: the bearer closes and recv() raises
    ConnectionError; the next open() connects again."""

    kind = P.BEARER_PACKET

    def __init__(self, host, port):
        self.host = host
        self.port = port
        self.log = logging.getLogger("wmmp.bearer.tcp")
        self._reader = None
        self._writer = None
        self._buf = bytearray()
        self._start = 0            # first unread byte in _buf

    @property
    def is_open(self):
        return self._writer is not None and not self._writer.is_closing()

    async def open(self):
        if self.is_open:
            return
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._buf = bytearray()
        self._start = 0
        self.log.info("TCP open to %s:%d", self.host, self.port)

    async def send(self, data):
        data = _check_outgoing(data, MESSAGE_MAX)
        if not self.is_open:
            raise ConnectionError("TCP bearer not open")
        self._writer.write(data)
        await self._writer.drain()

    async def recv(self):
        while True:
            reader = self._reader
            if reader is None:
                raise ConnectionError("TCP bearer not open")
            buf, start = self._buf, self._start
            have = len(buf) - start
            if have >= 2:
                n = total_length(buf, start)
                if n < HEADER_SIZE:
                    self.log.error("TCP stream corrupt: total_length %d < %d; closing", n, HEADER_SIZE)
                    await self.close()
                    raise ConnectionError("TCP stream corrupt (total_length %d)" % n)
                if have >= n:
                    msg = bytes(buf[start:start + n])
                    self._start = start + n
                    return msg
            if start:                      # compact before reading more: one copy per read
                del buf[:start]
                self._start = 0
            try:
                chunk = await reader.read(TCP_BUFFER_MAX - len(buf))
            except (ConnectionError, OSError) as e:
                self.log.warning("TCP read failed: %s", e)
                await self.close()
                raise ConnectionError("TCP connection lost: %s" % e) from e
            if self._reader is not reader:  # closed (and maybe reopened) while reading
                raise ConnectionError("TCP bearer closed")
            if not chunk:
                partial = len(buf)
                self.log.info("TCP closed by peer%s",
                              " mid-message (%d bytes dropped)" % partial if partial else "")
                await self.close()
                raise ConnectionError("TCP connection closed")
            buf += chunk

    async def close(self):
        writer = self._writer
        self._reader = None
        self._writer = None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            self.log.info("TCP closed")


# -- SMS --------------------------------------------------------------------------

class SmsBearer(Bearer):
    """Binary SMS through the SMS centre (wmmp_tools.smsc, docs/SMSC.md).

    Sends every message to the first platform number (TLV 0x0007); accepts WMMP
    SMS only from the configured platform numbers, others are logged and ignored
    (docs/PROTOCOL.md 9).  A message over 140 bytes raises ValueError before
    anything is sent: longer messages travel as sub-packets, never concatenated
    SMS."""

    kind = P.BEARER_SMS

    def __init__(self, smsc_host, smsc_port, own_msisdn, platform_numbers):
        if isinstance(platform_numbers, str):
            platform_numbers = [platform_numbers]
        numbers = [n.strip() for n in platform_numbers]
        if not numbers:
            raise ValueError("at least one platform number (TLV 0x0007) is needed")
        for n in numbers + [own_msisdn]:
            if not valid_msisdn(n):
                raise ValueError("bad MSISDN %r" % (n,))
        self.smsc_host = smsc_host
        self.smsc_port = smsc_port
        self.own_msisdn = own_msisdn
        self.platform_numbers = numbers
        self.log = logging.getLogger("wmmp.bearer.sms")
        self._client = None

    @property
    def is_open(self):
        return self._client is not None and self._client.is_connected

    async def open(self):
        if self.is_open:
            return
        client = SmsClient(self.smsc_host, self.smsc_port, self.own_msisdn)
        try:
            await client.connect()
        except ValueError as e:             # the SMSC refused the attach
            await client.close()
            raise ConnectionError(str(e)) from e
        except asyncio.TimeoutError as e:
            await client.close()
            raise ConnectionError("SMSC did not answer the attach") from e
        self._client = client
        self.log.info("SMS open as %s via %s:%d", self.own_msisdn, self.smsc_host, self.smsc_port)

    async def send(self, data):
        data = _check_outgoing(data, SMS_MAX)
        if not self.is_open:
            raise ConnectionError("SMS bearer not open")
        reply = await self._client.submit(self.platform_numbers[0], data)
        if reply.get("status") == "rejected":
            raise ConnectionError("SMSC rejected the SMS: %s" % reply.get("reason"))

    async def recv(self):
        while True:
            client = self._client
            if client is None:
                raise ConnectionError("SMS bearer not open")
            sender, data = await client.recv()
            if sender not in self.platform_numbers:
                self.log.warning("SMS from %s ignored: not a platform number", sender)
                continue
            why = frame_problem(data)
            if why is not None:
                self.log.warning("SMS from %s dropped: %s", sender, why)
                continue
            return data

    async def close(self):
        client, self._client = self._client, None
        if client is not None:
            await client.close()
            self.log.info("SMS closed")
