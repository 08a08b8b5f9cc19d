"""What the two cellular drivers' bearers share (the wmmp.board.runner
interface: kind, async open(), send(data), recv()): the bases PacketBase (UDP /
TCP on a module link or socket) and SmsBase (binary SMS in PDU mode), which the
bearers of wmmp.modem.sim7600_bearers and wmmp.modem.bc95_bearers inherit.
They keep to what is the same on both modules; opening, sending, receiving and
closing are the subclasses'.  `tag` (the driver's name) starts their log lines.
This module never imports a driver.

PacketBase: a datagram is one whole WMMP message (else dropped, counted in
bad_frames); a TCP stream is split by total_length (PROTOCOL.md 9, _stream): the
buffer holds at most `max_message` bytes (a longer message is skipped
byte-exactly, counted in `oversize`), a total_length below 28 means the
framing is lost (the link is dropped: _lost).

SmsBase: the platform numbers (TLV 0x0007), send() by AT+CMGS=<TPDU octets>,
'> ', PDU hex, Ctrl-Z; a received PDU is taken only when it is WMMP
(pdu.is_wmmp) from a platform number (_accept); a stored one is read with
AT+CMGR and deleted with AT+CMGD (failures in `_at_errors` are logged).
Receive queues are bounded (Inbox).
"""

from wmmp.modem import pdu as PDU
from wmmp.wire import profile as P
from wmmp.modem.at import AtReboot, CmsError
from wmmp.errors import WmmpError, BadLength, BadValue, TooLongForBearer
from wmmp.modem import LinkLost, Inbox, frame_problem, after as _after, ints as _ints

SMS_MAX = P.SMS_MESSAGE_MAX  # one binary SMS (PROTOCOL.md 9)


class PacketBase:
    """Base of the UDP and TCP bearers.  A TcpBearer takes _stream as its
    _data and _stream_reset as its _reset, and sets max_message, _buf, _skip
    and oversize."""

    kind = P.BEARER_PACKET
    proto = "UDP"
    tag = "modem"

    def __init__(self, driver, host, port, max_queue):
        self.d = driver
        self.host = host
        self.port = port
        self.inbox = Inbox(max_queue)
        self._open = False
        self._gen = -1
        self.bad_frames = 0

    @property
    def is_open(self):
        return self._open and self._gen == self.d.gen

    @property
    def dropped(self):
        return self.inbox.dropped

    def _reset(self):
        pass

    def _check(self, data):
        data = bytes(data)
        why = frame_problem(data)
        if why is not None:
            raise BadLength("not one WMMP message: " + why)
        return data

    def _data(self, payload):
        """A datagram from the module: one whole message, else dropped."""
        why = frame_problem(payload)
        if why is not None:
            self.bad_frames += 1
            self.d.log("%s: UDP datagram dropped: %s" % (self.tag, why))
            return
        self.inbox.put(bytes(payload))

    def _stream_reset(self):
        self._buf = bytearray()
        self._skip = 0

    def _stream(self, payload):
        """TCP bytes from the module: whole messages go to the inbox.  Lost
        framing sets _framing_lost (the SIM7600 bearer closes the link before
        it opens it again)."""
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
                self.d.log("%s: TCP message of %d bytes skipped (max %d)" % (self.tag, total, self.max_message))
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


class SmsBase:
    """Base of the SMS bearers: one WMMP message (<= 140 bytes) per SMS, sent
    to the first platform number.  smsc: an SMSC address for the PDU (None:
    the module's, +CSCA).  A subclass may refuse a send before the link
    checks (_usable)."""

    kind = P.BEARER_SMS
    tag = "modem"
    _at_errors = (CmsError,)     # AT+CMGR / AT+CMGD failures that are logged

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

    async def close(self):
        self._open = False
        self.inbox.fail("closed")

    def _lost(self, why):
        self._open = False
        self.inbox.fail(why)

    def _usable(self):
        pass

    async def send(self, data):
        data = bytes(data)
        if len(data) > SMS_MAX:
            raise TooLongForBearer("message of %d bytes exceeds one SMS (%d)" % (len(data), SMS_MAX))
        why = frame_problem(data)
        if why is not None:
            raise BadLength("not one WMMP message: " + why)
        self._usable()
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

    def _accept(self, hexline, tpdu_len, where):
        """The WMMP message in one PDU line, or None (logged, counted)."""
        try:
            sms = PDU.decode(bytes(hexline).decode(), True, tpdu_len)
        except (WmmpError, ValueError) as e:
            self.ignored += 1
            self.d.log("%s: SMS %s undecodable: %s" % (self.tag, where, e))
            return None
        if not PDU.is_wmmp(sms, self.numbers, SMS_MAX):
            self.ignored += 1
            self.d.log("%s: SMS %s from %s ignored: not WMMP from a platform number"
                       % (self.tag, where, sms.address))
            return None
        why = frame_problem(sms.data)
        if why is not None:
            self.ignored += 1
            self.d.log("%s: SMS %s from %s dropped: %s" % (self.tag, where, sms.address, why))
            return None
        self.received += 1
        return bytes(sms.data)

    async def _delete(self, idx):
        try:
            await self.d.at.command("AT+CMGD=%d" % idx, timeout=5)
        except self._at_errors as e:
            self.d.log("%s: AT+CMGD=%d failed: %s" % (self.tag, idx, e))

    async def _read(self, idx):
        """AT+CMGR=<idx> -> +CMGR: <stat>,[<alpha>],<length> + PDU line; deleted
        whatever it holds."""
        try:
            lines = await self.d.at.command("AT+CMGR=%d" % idx, timeout=5)
        except self._at_errors as e:
            self.d.log("%s: AT+CMGR=%d failed: %s" % (self.tag, idx, e))
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
