"""The BC95 driver's bearers (the wmmp.board.runner interface: kind, async
open(), send(data), recv()): UdpBearer and TcpBearer on a module socket
(AT+NSO*), SmsBearer (binary SMS in PDU mode), on the bases both drivers
share (wmmp.modem.bearers: datagram check, TCP stream split, SMS send, PDU
check, AT+CMGR / AT+CMGD).  They work through the wmmp.modem.bc95.Bc95 driver
given to them (open_socket, send_socket, read_socket, close_socket,
probe_sms, sms_setup: wmmp.modem.bc95_net; at, gen, log, _cme), whose URC
handlers feed them.  The driver module imports this one and re-exports the
three bearers; this module never imports the driver.

Socket receive: +NSONMI:<s>,<len> -> AT+NSORF=<s>,<max> ->
`<s>,<ip>,<port>,<len>,<HEX>,<remaining>`, read again while remaining > 0.
Whether <remaining> counts the socket or the datagram is unconfirmed: until a
reply proves it counts the socket (remaining > 0 after a whole datagram), one
more AT+NSORF confirms the socket is empty.  A long run of reads (a flood)
pauses every max_reads reads; an empty or refused read ends the run.  The
NSONMI forms with inline data (AT+NSONMI=2/3) are taken as well.
+NSOCLI:<s>: the TCP peer closed.  In PSM the bearers need nothing special:
recv() just waits for the downlink the network holds until the next uplink.

SMS: when the module or the network offers none, SmsBearer.open() and send()
raise SmsUnavailable and recv() waits (nothing can arrive) until close().
Receive: direct delivery +CMT:,<len> + PDU (AT+CNMA when +CSMS service 1 asks
for an acknowledgement), or +CMTI -> AT+CMGR -> AT+CMGD.  +CMT PDUs arriving
before the SMS bearer opens are kept (bounded).  Send: AT+CMGS=<octets>,
'> ', PDU hex, Ctrl-Z.

Receive queues are bounded (Inbox).
"""

import asyncio

from wmmp.modem.at import AtError, AtReboot, CmeError, CmsError
from wmmp.errors import BadValue, TooLongForBearer
from wmmp.modem import LinkLost, after as _after, ints as _ints
from wmmp.modem.bearers import PacketBase, SmsBase
from wmmp.modem.bc95_sim import CME_NOT_ALLOWED
from wmmp.modem.bc95_net import SmsUnavailable


class _SocketBearer(PacketBase):
    """Common part of the socket bearers (wmmp.board.runner interface)."""

    tag = "bc95"
    # instance state, from these class defaults until first set
    sid = None
    _more = False                # data may wait in the module: AT+NSORF
    _reads = 0
    reads = 0                    # AT+NSORF commands sent
    empty_reads = 0              # ... that found nothing
    rounds = 0                   # pauses after max_reads reads in a row

    def __init__(self, driver, host, port, local_port=5000, max_queue=8):
        super().__init__(driver, host, port, max_queue)
        self.local_port = local_port

    def __repr__(self):
        return "<%s socket %s %s:%d %s>" % (self.proto, self.sid, self.host, self.port,
                                            "open" if self.is_open else "closed")

    async def open(self):
        """Open the socket (attach first); a no-op when open.  After a lost
        registration or a reboot this attaches again, closes the old socket
        and opens a new one."""
        if self.is_open:
            return
        self._open = False
        old = self.sid
        if old is not None and self._gen == self.d.gen:
            self.sid = None
            await self.d.close_socket(old)
        self.sid = None
        self._reset()
        self._more = False
        sid, gen = await self.d.open_socket(self)
        self.sid = sid
        self._gen = gen
        self._open = True
        self.inbox.reset()

    async def recv(self):
        """The next whole message; LinkLost when the socket is or goes down.  In
        PSM this simply waits: the network hands the held downlink over after
        the terminal's next send."""
        while True:
            if self.inbox.items:
                return self.inbox.items.pop(0)
            if not self.is_open:
                raise LinkLost(self.inbox.why or "socket not open")
            if self._more:
                await self._read()
                continue
            self.inbox.ev.clear()
            await self.inbox.ev.wait()

    async def _read(self):
        d = self.d
        try:
            rec = await d.read_socket(self)
        except AtReboot:
            self._lost("module rebooted during AT+NSORF")
            return
        except (AtError, CmeError) as e:
            self._more = False
            self._reads = 0
            d.log("bc95: AT+NSORF on socket %s refused: %s" % (self.sid, e))
            if isinstance(e, CmeError) and d._cme(e) == CME_NOT_ALLOWED:
                self._lost("socket %s unknown to the module" % self.sid)
            return
        except BadValue as e:
            self.bad_frames += 1
            d.log("bc95: %s" % e)
            rec = ()
        self.reads += 1
        if rec is None:
            self.empty_reads += 1
            self._more = False
            self._reads = 0
            return
        if rec:
            ip, port, data, left = rec
            if left > 0 and len(data) < d.rx_max:
                d.rem_socket = True          # <remaining> counts the whole socket
            self._data(data)
        else:
            left = 0
        self._reads += 1
        if self._reads >= d.max_reads:       # a long run (a flood): let others in
            self._reads = 0
            self.rounds += 1
            await asyncio.sleep(0.01)
        if left > 0:
            self._more = True
        elif d.rem_socket:
            self._more = False
            self._reads = 0
        else:
            self._more = True                # <remaining> may count only that datagram

    def _announce(self):
        """+NSONMI: data waits in the module."""
        self._more = True
        self.inbox.ev.set()

    async def close(self):
        held = self.sid is not None and self._gen == self.d.gen
        sid = self.sid
        self._open = False
        self.sid = None
        self.inbox.fail("closed")
        if held:
            await self.d.close_socket(sid)

    def _lost(self, why):
        if self._open:
            self.d.log("bc95: socket %s lost: %s" % (self.sid, why))
        self._open = False
        self._more = False
        self.inbox.fail(why)


class UdpBearer(_SocketBearer):
    """UDP to the platform at (host, port): AT+NSOCR=DGRAM,17,<local_port>,1;
    one datagram = one message, at most udp_max bytes (one AT+NSOST)."""

    proto = "UDP"

    @property
    def send_max(self):
        """Largest message one send() takes: the driver's udp_max (1358; 512 on
        old firmware), see modem.packet_profile."""
        return self.d.udp_max

    async def send(self, data):
        data = self._check(data)
        if len(data) > self.d.udp_max:
            raise TooLongForBearer("UDP message of %d bytes exceeds %d" % (len(data), self.d.udp_max))
        if not self.is_open:
            raise LinkLost("UDP socket not open")
        await self.d.send_socket(self, data)


class TcpBearer(_SocketBearer):
    """TCP to the platform (BC95-G): AT+NSOCR=STREAM,6,<local_port>,1 and
    AT+NSOCO; TcpUnavailable from open() on firmware without TCP.  The stream
    is split by total_length (PROTOCOL.md 9); the buffer holds at most
    `max_message` bytes (a longer message is skipped byte-exactly, counted in
    `oversize`); a total_length below 28 means the framing is lost: the
    socket is dropped and reopened.  +NSOCLI: the peer closed."""

    proto = "TCP"

    def __init__(self, driver, host, port, local_port=5001, max_message=16384, max_queue=8):
        super().__init__(driver, host, port, local_port, max_queue)
        self.max_message = max_message
        self._buf = bytearray()
        self._skip = 0
        self.oversize = 0

    _reset = PacketBase._stream_reset
    _data = PacketBase._stream

    async def send(self, data):
        data = self._check(data)
        if not self.is_open:
            raise LinkLost("TCP socket not open")
        await self.d.send_socket(self, data)


class SmsBearer(SmsBase):
    """Binary SMS in PDU mode (PROTOCOL.md 9), only when the module and the network
    offer SMS (Bc95.probe_sms): one WMMP message (<= 140 bytes) per SMS, sent
    to the first platform number; only WMMP SMS (pdu.is_wmmp) from the
    platform numbers are returned.

    open(): SmsUnavailable when there is no SMS (the runner logs it and the
    engine keeps to the packet bearer); else AT+CMGF=0 and AT+CNMI.
    send(): AT+CMGS=<TPDU octets> -> '> ', PDU hex, Ctrl-Z -> +CMGS:<mr>.
    recv(): +CMT:,<len> + PDU (AT+CNMA when the module wants an ack) or
    +CMTI -> AT+CMGR -> AT+CMGD; without SMS it waits until close().
    smsc: an SMSC address for the PDU (None: the module's, +CSCA)."""

    tag = "bc95"
    _at_errors = (CmsError, AtError)
    _acks = 0                    # +CMT to acknowledge (AT+CNMA)
    _none = False                # no SMS: recv() waits

    async def open(self):
        if self.is_open:
            return
        d = self.d
        await d.ensure_ready()
        gen = d.gen
        try:
            if not await d.probe_sms():
                raise SmsUnavailable("SMS not available: %s" % d.sms_why)
            await d.sms_setup()
        except SmsUnavailable:
            if d.sms_available is False:         # for good: recv() waits quietly
                self._none = True
                self.inbox.reset()
            raise
        self._none = False
        self._gen = gen
        self._open = True
        self.inbox.reset()
        early = d._early
        d._early = []
        for line, pdu in early:
            self._direct(line, pdu)
        self.inbox.ev.set()

    async def close(self):
        self._open = False
        self._none = False
        self.inbox.fail("closed")

    def _usable(self):
        if self.d.sms_available is False:
            raise SmsUnavailable("SMS not available: %s" % self.d.sms_why)

    async def recv(self):
        while True:
            if self.inbox.items:
                return self.inbox.items.pop(0)
            if self._none and self.inbox.why is None:
                self.inbox.ev.clear()            # no SMS on this module: nothing comes
                await self.inbox.ev.wait()
                continue
            if not self.is_open:
                raise LinkLost(self.inbox.why or "SMS bearer not open")
            if self._acks:
                self._acks -= 1
                try:
                    await self.d.at.command("AT+CNMA", timeout=5)
                except (AtError, CmeError, CmsError) as e:
                    self.d.log("bc95: AT+CNMA failed: %s" % e)
                continue
            if self._idx:
                msg = await self._read(self._idx.pop(0))
                if msg is not None:
                    return msg
                continue
            self.inbox.ev.clear()
            await self.inbox.ev.wait()

    # -- from the driver's URC handlers --------------------------------------

    def _direct(self, line, pdu_line):
        v = _ints(_after(line, b"+CMT:"))
        if self.d._sms_service == 1 and self._acks < self.max_pending:
            self._acks += 1
        msg = self._accept(pdu_line, v[-1] if v else None, "+CMT")
        if msg is not None:
            self.inbox.put(msg)
        else:
            self.inbox.ev.set()

    def _stored(self, idx):
        if idx not in self._idx and len(self._idx) < self.max_pending:
            self._idx.append(idx)
        self.inbox.ev.set()
