"""The SIM7600 driver's bearers (the wmmp.board.runner interface: kind, async
open(), send(data), recv()): UdpBearer and TcpBearer on a link 0-9
(AT+CIPOPEN), SmsBearer (binary SMS in PDU mode).  They work through the
wmmp.modem.sim7600.Sim7600 driver given to them (open_link, send_link,
close_link, sms_setup, at, gen, log), whose URC handlers feed them.  The driver
module imports this one and re-exports the three bearers; this module never
imports the driver.

Receive queues are bounded (Inbox: oldest message dropped); the TCP stream
buffer never holds more than `max_message` bytes (longer messages are skipped
byte-exactly, the framing is kept).
"""

from micropython import const

from wmmp.modem import pdu as PDU
from wmmp.wire import profile as P
from wmmp.modem.at import AtReboot, AtOverflow, CmsError
from wmmp.errors import WmmpError, BadLength, BadValue, TooLongForBearer
from wmmp.modem import LinkLost, Inbox, frame_problem, after as _after, ints as _ints

LINKS = const(10)            # link numbers 0-9 (MODEMS "TCP")
SEND_MAX = const(1500)       # one AT+CIPSEND (MODEMS "send": chunk at <= 1500 bytes)
SMS_MAX = P.SMS_MESSAGE_MAX  # one binary SMS (INTEROP 9)


class _LinkBearer:
    """Common part of the socket bearers (wmmp.board.runner interface)."""

    kind = P.BEARER_PACKET
    proto = "UDP"

    def __init__(self, driver, link, host, port, max_queue=8):
        if not 0 <= link < LINKS:
            raise BadValue("link must be 0..9")
        self.d = driver
        self.link = link
        self.host = host
        self.port = port
        self.inbox = Inbox(max_queue)
        self._open = False
        self._gen = -1
        self.bad_frames = 0

    def __repr__(self):
        return "<%s link %d %s:%d %s>" % (self.proto, self.link, self.host, self.port,
                                          "open" if self.is_open else "closed")

    @property
    def is_open(self):
        return self._open and self._gen == self.d.gen

    @property
    def dropped(self):
        return self.inbox.dropped

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

    def _reset(self):
        pass

    def _check(self, data):
        data = bytes(data)
        why = frame_problem(data)
        if why is not None:
            raise BadLength("not one WMMP message: " + why)
        return data

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

    def _data(self, payload):
        why = frame_problem(payload)
        if why is not None:
            self.bad_frames += 1
            self.d.log("sim7600: UDP datagram dropped: %s" % why)
            return
        self.inbox.put(bytes(payload))


class TcpBearer(_LinkBearer):
    """TCP to the platform on `link`; the stream is split by total_length
    (INTEROP 9).  The buffer holds at most `max_message` bytes: a longer
    message is skipped byte-exactly (counted in `oversize`); a total_length
    below 28 means the framing is lost: the link is dropped and reopened."""

    proto = "TCP"

    def __init__(self, driver, link, host, port, max_message=16384, max_queue=8):
        super().__init__(driver, link, host, port, max_queue)
        self.max_message = max_message
        self._buf = bytearray()
        self._skip = 0
        self.oversize = 0

    def _reset(self):
        self._buf = bytearray()
        self._skip = 0

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

    def _data(self, payload):
        if not self._open:
            return
        mv = memoryview(payload)
        i = 0
        n = len(payload)
        if self._skip:
            k = min(self._skip, n)
            self._skip -= k
            i = k
        buf = self._buf
        while i < n:
            if len(buf) < 2:
                k = min(2 - len(buf), n - i)
                buf += mv[i:i + k]
                i += k
                if len(buf) < 2:
                    break
            total = (buf[0] << 8) | buf[1]
            if total < 28:
                self._framing_lost = True
                self._buf = bytearray()
                self._lost("TCP framing lost (total_length %d)" % total)
                return
            if total > self.max_message:
                self.oversize += 1
                self.d.log("sim7600: TCP message of %d bytes skipped (max %d)" % (total, self.max_message))
                skip = total - len(buf)
                buf = bytearray()
                k = min(skip, n - i)
                i += k
                self._skip = skip - k
                continue
            k = min(total - len(buf), n - i)
            buf += mv[i:i + k]
            i += k
            if len(buf) == total:
                self.inbox.put(bytes(buf))
                buf = bytearray()
        self._buf = buf


class SmsBearer:
    """Binary SMS in PDU mode (INTEROP 9): one WMMP message (<= 140 bytes) per
    SMS, sent to the first platform number; only WMMP SMS (pdu.is_wmmp) from
    the platform numbers are returned, every received SMS is deleted.

    open(): AT+CMGF=0, AT+CNMI=2,1,0,0,0, AT+CPMS="SM","SM","SM", then the
    stored SMS are read (AT+CMGL=4: what arrived while nobody listened).
    send(): AT+CMGS=<TPDU octets> -> '> ', PDU hex, Ctrl-Z -> +CMGS: <mr>.
    recv(): +CMTI: "SM",<idx> -> AT+CMGR=<idx> -> pdu.decode -> AT+CMGD=<idx>
    -> filter.  +CMT (direct delivery, unconfirmed) is taken as well.
    smsc: an SMSC address for the PDU (None: the module's, +CSCA)."""

    kind = P.BEARER_SMS

    def __init__(self, driver, platform_numbers, smsc=None, max_queue=8, max_pending=16):
        if isinstance(platform_numbers, str):
            platform_numbers = [platform_numbers]
        numbers = [n.strip() for n in platform_numbers if n and n.strip()]
        if not numbers:
            raise BadValue("at least one platform number (TLV 0x0007) is needed", 0x0007)
        self.d = driver
        self.numbers = numbers
        self.smsc = smsc
        self.inbox = Inbox(max_queue)
        self.max_pending = max_pending
        self._idx = []               # storage indices announced by +CMTI, not read yet
        self._sweep = True           # read the whole storage at the next chance
        self._open = False
        self._gen = -1
        self.ignored = 0             # SMS read and deleted that were not WMMP for us
        self.sent = 0
        self.received = 0
        driver._sms = self

    def __repr__(self):
        return "<SMS to %s %s>" % (self.numbers[0], "open" if self.is_open else "closed")

    @property
    def is_open(self):
        return self._open and self._gen == self.d.gen

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

    async def close(self):
        self._open = False
        self.inbox.fail("closed")

    def _lost(self, why):
        self._open = False
        self.inbox.fail(why)

    async def send(self, data):
        data = bytes(data)
        if len(data) > SMS_MAX:
            raise TooLongForBearer("message of %d bytes exceeds one SMS (%d)" % (len(data), SMS_MAX))
        why = frame_problem(data)
        if why is not None:
            raise BadLength("not one WMMP message: " + why)
        if not self.is_open:
            raise LinkLost("SMS bearer not open")
        pdu, n = PDU.encode_submit(self.numbers[0], data, smsc=self.smsc)
        try:
            await self.d.at.command_with_prompt("AT+CMGS=%d" % n, PDU.to_hex(pdu), timeout=self.d.sms_timeout,
                                                final="+CMGS:", ctrl_z=True)
        except AtReboot:
            self._lost("module rebooted during AT+CMGS")
            raise LinkLost("module rebooted during AT+CMGS")
        self.sent += 1

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

    # -- reading -------------------------------------------------------------

    def _accept(self, hexline, tpdu_len, where):
        """The WMMP message in one PDU line, or None (logged, counted)."""
        try:
            sms = PDU.decode(bytes(hexline).decode(), True, tpdu_len)
        except (WmmpError, ValueError) as e:
            self.ignored += 1
            self.d.log("sim7600: SMS %s undecodable: %s" % (where, e))
            return None
        if not PDU.is_wmmp(sms, self.numbers, SMS_MAX):
            self.ignored += 1
            self.d.log("sim7600: SMS %s from %s ignored: not WMMP from a platform number"
                       % (where, sms.address))
            return None
        why = frame_problem(sms.data)
        if why is not None:
            self.ignored += 1
            self.d.log("sim7600: SMS %s from %s dropped: %s" % (where, sms.address, why))
            return None
        self.received += 1
        return bytes(sms.data)

    async def _delete(self, idx):
        try:
            await self.d.at.command("AT+CMGD=%d" % idx, timeout=5)
        except CmsError as e:
            self.d.log("sim7600: AT+CMGD=%d failed: %s" % (idx, e))

    async def _read(self, idx):
        """AT+CMGR=<idx> -> +CMGR: <stat>,[<alpha>],<length> + PDU line; deleted
        whatever it holds."""
        try:
            lines = await self.d.at.command("AT+CMGR=%d" % idx, timeout=5)
        except CmsError as e:
            self.d.log("sim7600: AT+CMGR=%d failed: %s" % (idx, e))
            return None
        msg = None
        for i in range(len(lines) - 1):
            ln = lines[i]
            if isinstance(ln, (bytes, bytearray)) and ln.startswith(b"+CMGR:"):
                v = _ints(_after(ln, b"+CMGR:"))
                msg = self._accept(lines[i + 1], v[-1] if v else None, "%d" % idx)
                break
        await self._delete(idx)
        return msg

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
