"""The SIM7600 driver's bearers (the wmmp.board.runner interface: kind, async
open(), send(data), recv()): UdpBearer and TcpBearer on a link 0-9
(AT+CIPOPEN), UdpAnyBearer (UDP with every peer, not a WMMP bearer: And-link's
link, andlink.board.sim7600link), SmsBearer (binary SMS in PDU mode), and
route(links, src, data): which open link an +IPD goes to; on the bases both
drivers share (wmmp.modem.bearers: datagram check, TCP stream split, SMS send, PDU
check, AT+CMGR / AT+CMGD).  They work through the wmmp.modem.sim7600.Sim7600
driver given to them (open_link, send_link, close_link, sms_setup, at, gen,
log), whose URC handlers feed them.  The driver module imports this one and
re-exports the bearers; this module never imports the driver.

Receive queues are bounded (Inbox: oldest message dropped); the TCP stream
buffer never holds more than `max_message` bytes (longer messages are skipped
byte-exactly, the framing is kept).
"""

from micropython import const

from wmmp.modem.at import AtOverflow, CmsError
from wmmp.errors import BadValue, TooLongForBearer
from wmmp.modem import LinkLost, after as _after, ints as _ints
from wmmp.modem.bearers import PacketBase, SmsBase

LINKS = const(10)            # link numbers 0-9 (MODEMS "TCP")
SEND_MAX = const(1500)       # one AT+CIPSEND (MODEMS "send": chunk at <= 1500 bytes)


class _LinkBearer(PacketBase):
    """Common part of the socket bearers (wmmp.board.runner interface)."""

    tag = "sim7600"
    any_peer = False            # True: takes datagrams from every peer (UdpAnyBearer)

    def __init__(self, driver, link, host, port, max_queue=8):
        if not 0 <= link < LINKS:
            raise BadValue("link must be 0..9")
        super().__init__(driver, host, port, max_queue)
        self.link = link

    def __repr__(self):
        return "<%s link %d %s:%d %s>" % (self.proto, self.link, self.host, self.port,
                                          "open" if self.is_open else "closed")

    async def open(self):
        """Open the link (data service first); a no-op when open.  After a
        network loss or a reboot this reopens everything (NETOPEN?, NETCLOSE,
        NETOPEN, CIPOPEN)."""
        if self.is_open:
            return
        self._open = False
        self._reset()
        gen = await self.d.open_link(self)
        self._gen = gen
        self._open = True
        self.inbox.reset()

    async def recv(self):
        """The next whole message; LinkLost when the link is or goes down."""
        return await self.inbox.get()

    async def close(self):
        was = self._open
        self._open = False
        self.inbox.fail("closed")
        if was:
            await self.d.close_link(self)

    def _lost(self, why):
        if self._open:
            self.d.log("sim7600: link %d lost: %s" % (self.link, why))
        self._open = False
        self.inbox.fail(why)


class UdpBearer(_LinkBearer):
    """UDP to the platform at (host, port) on `link`; one datagram = one message
    (at most 1500 bytes: one AT+CIPSEND).  AT+CIPOPEN=<link>,"UDP",,,<local_port>."""

    proto = "UDP"
    send_max = SEND_MAX         # largest message one send() takes (see modem.packet_profile)

    def __init__(self, driver, link, host, port, local_port=None, max_queue=8):
        super().__init__(driver, link, host, port, max_queue)
        self.local_port = local_port if local_port is not None else 5000 + link

    async def send(self, data):
        data = self._check(data)
        if len(data) > SEND_MAX:
            raise TooLongForBearer("UDP message of %d bytes exceeds %d" % (len(data), SEND_MAX))
        if not self.is_open:
            raise LinkLost("UDP link %d not open" % self.link)
        await self.d.send_link(self, data, (self.host, self.port))


class UdpAnyBearer(_LinkBearer):
    """UDP with every peer on `link` (AT+CIPOPEN=<link>,"UDP",,,<local_port>):
    send(data, (ip, port)) names each datagram's destination, recv() -> (data,
    (ip, port)), the source of its RECV FROM line (None without one).  Any
    payload (not checked as WMMP).  The driver gives it the datagrams from the
    peers it sent to (knows(), the last `max_peers`) and those no other link
    takes (wmmp.modem.sim7600, "+IPD"); wants(data) -> True claims a datagram
    from a peer that a fixed-peer link (WMMP's) has too (default: never)."""

    any_peer = True
    send_max = SEND_MAX

    def __init__(self, driver, link, local_port, max_queue=8, max_peers=8):
        super().__init__(driver, link, None, None, max_queue)
        self.local_port = local_port
        self.max_peers = max_peers
        self.peers = []

    def __repr__(self):
        return "<UDP link %d any peer %s>" % (self.link, "open" if self.is_open else "closed")

    def knows(self, src):
        return src in self.peers

    def wants(self, data):
        return False

    async def send(self, data, peer):
        if len(data) > SEND_MAX:
            raise TooLongForBearer("UDP datagram of %d bytes exceeds %d" % (len(data), SEND_MAX))
        if not self.is_open:
            raise LinkLost(self.inbox.why or "UDP link %d not open" % self.link)
        peer = (peer[0], peer[1])
        if peer not in self.peers:
            if len(self.peers) >= self.max_peers:
                self.peers.pop(0)
            self.peers.append(peer)
        await self.d.send_link(self, bytes(data), peer)

    def _data(self, payload):
        self.inbox.put((bytes(payload), None))

    def _data_from(self, payload, src):
        self.inbox.put((bytes(payload), src))


def route(links, src, data=b""):
    """The open link (of the driver's `links`) that an +IPD from `src`
    carrying `data` goes to, or None (wmmp.modem.sim7600, "+IPD")."""
    open_ = [b for b in links if b is not None and b.is_open]
    if src is not None:
        anys = [b for b in open_ if b.any_peer]
        known = [b for b in anys if b.knows(src)]
        for b in open_:
            if not b.any_peer and b.host == src[0] and b.port == src[1]:
                for a in known:             # one peer, two links: the content decides
                    if a.wants(data):
                        return a
                return b
        if known:
            return known[0]
        for b in open_:
            if not b.any_peer and b.port == src[1]:
                return b
        if anys:
            return anys[0]
    if len(open_) == 1:
        return open_[0]
    return None


class TcpBearer(_LinkBearer):
    """TCP to the platform on `link`; the stream is split by total_length
    (PROTOCOL.md 9).  The buffer holds at most `max_message` bytes: a longer
    message is skipped byte-exactly (counted in `oversize`); a total_length
    below 28 means the framing is lost: the link is dropped and reopened."""

    proto = "TCP"

    def __init__(self, driver, link, host, port, max_message=16384, max_queue=8):
        super().__init__(driver, link, host, port, max_queue)
        self.max_message = max_message
        self._buf = bytearray()
        self._skip = 0
        self.oversize = 0

    _reset = PacketBase._stream_reset
    _data = PacketBase._stream
    _framing_lost = False

    async def open(self):
        if self._framing_lost and not self.is_open:    # the module may still hold the link
            self._framing_lost = False
            await self.d.close_link(self)
        await super().open()

    async def send(self, data):
        data = self._check(data)
        if not self.is_open:
            raise LinkLost("TCP link %d not open" % self.link)
        await self.d.send_link(self, data)


class SmsBearer(SmsBase):
    """Binary SMS in PDU mode (PROTOCOL.md 9): one WMMP message (<= 140 bytes) per
    SMS, sent to the first platform number; only WMMP SMS (pdu.is_wmmp) from
    the platform numbers are returned, every received SMS is deleted.

    open(): AT+CMGF=0, AT+CNMI=2,1,0,0,0, AT+CPMS="SM","SM","SM", then the
    stored SMS are read (AT+CMGL=4: what arrived while nobody listened).
    send(): AT+CMGS=<TPDU octets> -> '> ', PDU hex, Ctrl-Z -> +CMGS: <mr>.
    recv(): +CMTI: "SM",<idx> -> AT+CMGR=<idx> -> pdu.decode -> AT+CMGD=<idx>
    -> filter.  +CMT (direct delivery, unconfirmed) is taken as well.
    smsc: an SMSC address for the PDU (None: the module's, +CSCA)."""

    tag = "sim7600"
    _sweep = True                # read the whole storage at the next chance

    async def open(self):
        if self.is_open:
            return
        await self.d.ensure_ready()
        gen = self.d.gen
        await self.d.sms_setup()
        self._gen = gen
        self._open = True
        self._sweep = True
        self.inbox.reset()
        self.inbox.ev.set()

    async def recv(self):
        while True:
            if self.inbox.items:
                return self.inbox.items.pop(0)
            if not self.is_open:
                raise LinkLost(self.inbox.why or "SMS bearer not open")
            if self._sweep:
                self._sweep = False
                await self._list()
                continue
            if self._idx:
                msg = await self._read(self._idx.pop(0))
                if msg is not None:
                    return msg
                continue
            self.inbox.ev.clear()
            await self.inbox.ev.wait()

    # -- from the driver's URC handlers --------------------------------------

    def _stored(self, idx):
        if idx in self._idx:
            return
        if len(self._idx) >= self.max_pending:
            self._sweep = True           # too many: read the whole storage later
        else:
            self._idx.append(idx)
        self.inbox.ev.set()

    def _direct(self, pdu_line, tpdu_len):
        msg = self._accept(pdu_line, tpdu_len, "+CMT")
        if msg is not None:
            self.inbox.put(msg)

    # -- reading (_accept, _read, _delete: SmsBase) ----------------------------

    async def _list(self):
        """AT+CMGL=4: every stored SMS (+CMGL: <idx>,<stat>,[<alpha>],<length> +
        PDU line), each taken and deleted.  A reply over the engine's bounds is
        handled in parts (another sweep follows)."""
        try:
            lines = await self.d.at.command("AT+CMGL=4", timeout=10)
        except AtOverflow as e:
            lines = e.lines
            self._sweep = True
        except CmsError as e:
            self.d.log("sim7600: AT+CMGL=4 failed: %s" % e)
            return
        for i in range(len(lines) - 1):
            ln = lines[i]
            if isinstance(ln, (bytes, bytearray)) and ln.startswith(b"+CMGL:"):
                v = _ints(_after(ln, b"+CMGL:"))
                if not v or v[0] is None:
                    continue
                if v[0] in self._idx:
                    self._idx.remove(v[0])
                msg = self._accept(lines[i + 1], v[-1], "%d" % v[0])
                await self._delete(v[0])
                if msg is not None:
                    self.inbox.put(msg)
