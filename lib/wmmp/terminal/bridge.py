"""The serial data bridge (section 4.3.11, appendix G j, PROTOCOL.md 11): the bytes
of the data port (the OEM's meter or POS controller) framed and sent to the
platform as TRANSPARENT_DATA, and the platform's TRANSPARENT_DATA written back
to the port, sans-I/O.

Uplink: bytes from t.bridge_feed() go into a preallocated ring as frames (each
a 2-byte length, then the bytes).  A frame ends after 0x0105 x 100 ms without a
byte (timer "bridge_gap") or at the bearer's user-data limit (1024 bytes on
packet bearers, 78 on SMS, G j).  A frame that does not fit in the ring is
dropped whole (rolled back, the rest of it discarded up to its end), never cut
short: counted, and alarm 0x0011 raised once per overflow episode (until the
ring is empty again).  Frames go out in order, one TRANSPARENT_DATA each:
crc16, 0x4014 = the EC code 0x0028, 0x4007 = the frame.
  profile bridge_mode None or "ack": one frame in flight, retransmitted by the
    core per 0x0107/0x0108; ACK 0x00 delivered; 0x01 kept and sent again after
    the 0x002A back-off (timer "bridge_retry"), like a frame whose
    retransmissions ran out; 0x02/0x03 dropped, counted, alarm 0x0013; 0x04 sent
    again at once, once (a second 0x04 counts as a 0x02).
  "router": no ACK expected; every queued frame is sent at once.
Frames wait (nothing lost) while offline, suspended (0x4001 0x00), backing off,
or without an EC code (alarm 0x0013 raised once).

Per frame the bridge itself allocates little: a read that fits the ring in one
piece is copied in without a view of it; each frame goes out in the one
TRANSPARENT_DATA Message the bridge keeps (its fields, TLV list and security
state reset for every frame: one frame is in flight at a time, and in router
mode the message is encoded at once), with the frame as a view of the ring
(one bytearray when it wraps round the ring's end); each downlink message is
acknowledged with the one TRANSPARENT_DATA_ACK Message kept for that.

Downlink: user data whose CRC16 checks is put in the preallocated port ring
and acknowledged 0x05; without room the ACK is withheld (the platform's
retransmission is the flow control); CRC failure 0x06.  A written message
(seq, crc16) is remembered so a retransmission is never written twice, even
past the core's duplicate cache.  In router mode nothing is acknowledged and
what does not fit is dropped and counted.

Loaded only on a board with a data port (Config.data_port): the engine makes a
Bridge as t._bridge, which puts the application's calls (bridge_feed,
bridge_take, ...) on the terminal and its timers in the terminal's own TIMERS.
The other flows reach it through t._bridge with names they already use
(receive, tick, apply, check, current, flush), so that a terminal without a
data port carries none of this.
"""

import struct
from array import array
from micropython import const

from wmmp.wire import codec, codes as K, commands as C, crc, profile as P
from wmmp.terminal.core import S_ONLINE
from wmmp.errors import TooLongForBearer

# Codes (appendix G / E) that only this module reads: private, so MicroPython compiles
# them away; wmmp.wire.codes still answers to their names for tools and tests.
_TD_ACK_DEST_OFFLINE = const(0x01)
_TD_ACK_PLATFORM_CRC_ERROR = const(0x04)
_ALARM_APP_SERVER_UNREACHABLE = const(0x0013)
_ALARM_TYPE_SOFTWARE = const(0x03)

_PACKET_FRAME = const(1024)     # user data on packet bearers (G j)
_SMS_FRAME = const(78)          # user data on SMS (G j)
_SEEN = const(16)               # downlink messages remembered as written
_COUNTERS = const(0x8001)       # maker TLV: the six counters, u32 each

# alarm bits of Bridge.alarmed / .owned
_A_OVERFLOW = const(1)          # uplink ring full: ALARM_MEMORY_ERROR 0x0011
_A_EC = const(2)                # no EC code / refused destination: ALARM_APP_SERVER_UNREACHABLE 0x0013

# serial settings of 0x0101-0x0104 (PROTOCOL.md 8)
BAUDS = (9600, 300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
PARITY = "NOEMS"
STOP = (1, 1.5, 2)
PORT_TAGS = (0x0101, 0x0102, 0x0103, 0x0104)


def _setting(tag, v, caps):
    """The value of serial tag `tag` (0x0101-0x0104) as the port takes it, or
    None when it is not a valid setting or the board's UART cannot do it."""
    if not v:
        return None
    n = int.from_bytes(v, "big")
    if tag == 0x0101:
        x = BAUDS[n] if n <= 10 else (caps.get("extra") or {}).get(n)
        key = "bauds"
    elif tag == 0x0102:
        x = 8 if n == 0 else n
        key = "bits"
    elif tag == 0x0103:
        x = STOP[n] if n <= 2 else None
        key = "stop"
    else:
        x = PARITY[n] if n <= 4 else None
        key = "parity"
    if x is None or x not in caps.get(key, ()):
        return None
    return x


def settings(params, caps=None):
    """(baud, bits, parity, stop) from the parameters 0x0101-0x0104 (PROTOCOL.md 8)."""
    b = params.get_int(0x0101)
    bits = params.get_int(0x0102)
    s = params.get_int(0x0103)
    par = params.get_int(0x0104)
    extra = (caps or {}).get("extra") or {}
    return (BAUDS[b] if b <= 10 else extra.get(b), 8 if bits == 0 else bits,
            PARITY[par] if par <= 4 else None, STOP[s] if s <= 2 else None)


def init(t):
    """The bridge of a terminal with a data port (engine.Terminal)."""
    t._bridge = Bridge(t)


def _on_gap(t, now):
    t._bridge.gap(now)


def _on_retry(t, now):
    t._bridge.tick(now)


class Bridge:
    """The bridge of terminal `t`: its buffers (allocated once, here) and state."""

    def __init__(self, t):
        cfg = t.cfg
        up = max(getattr(cfg, "bridge_buffer", 0) or 8192, _PACKET_FRAME + 2)    # a whole frame always fits
        down = max(getattr(cfg, "bridge_down", 0) or 2048, _PACKET_FRAME)
        self.t = t
        self.caps = cfg.data_port
        self.up = bytearray(up)             # uplink ring: [len:u16][bytes] per frame
        self.upv = memoryview(self.up)
        self.usize = up
        self.head = 0                       # oldest frame
        self.used = 0                       # bytes in use, open frame included
        self.frames = 0                     # closed frames waiting
        self.open = -1                      # position of the open frame's length, -1: none
        self.olen = 0                       # bytes of the open (or discarded) frame so far
        self.dropping = False               # the current frame did not fit: discarded to its end
        self.inflight = False               # ack mode: the oldest frame waits for its ACK
        self.crc_retry = False              # it was sent again after a 0x04
        self.attempt = 0                    # back-off attempts (0x01 / retransmissions ran out)
        self.alarmed = 0                    # _A_* raised and not over
        self.owned = 0                      # of those, raised by the bridge (cleared by it)
        self.dn = bytearray(down)           # downlink ring (the port's transmit buffer)
        self.dnv = memoryview(self.dn)
        self.dsize = down
        self.dhead = 0
        self.dused = 0
        self.seen_seq = array("I", [0] * _SEEN)
        self.seen_crc = array("H", [0] * _SEEN)
        self.seen_n = 0
        self.seen_at = 0
        self.gap_p = -1                     # 0x0105 as last read, and the gap it gives (s)
        self.gap_s = 0.1
        # the messages reused for every frame and every downlink ACK (see above)
        self.msg = codec.Message(C.TRANSPARENT_DATA, {"crc16": 0}, [(0x4014, b""), (0x4007, b"")])
        self.ack = codec.Message(C.TRANSPARENT_DATA_ACK, {"result": 0})
        # frames_up, bytes_up, frames_down, bytes_down, frames_dropped, bytes_dropped
        self.fu = self.bu = self.fd = self.bd = self.fx = self.bx = 0
        # the application's calls (engine.Terminal documents them) and the timers
        t.bridge_feed = self.feed
        t.bridge_take = self.take
        t.bridge_waiting = self.waiting
        t.bridge_flush = self.flush
        t.bridge_busy = self.busy
        t.bridge_counters = self.counters
        t.data_port_settings = self.settings
        t.TIMERS = dict(t.TIMERS)
        t.TIMERS["bridge_gap"] = _on_gap        # 0x0105 x 100 ms without a byte: the frame ends
        t.TIMERS["bridge_retry"] = _on_retry    # a frame's back-off (0x002A) is over

    # == the data port's settings (0x0101-0x0105, PROTOCOL.md 8) =====================
    def check(self, tlvs):
        """Tags of `tlvs` among 0x0101-0x0104 whose value the board's UART cannot
        do (PROTOCOL.md 11: "data invalid", nothing of that CONFIG_SET applied)."""
        return [tag for tag, v in tlvs if tag in PORT_TAGS and _setting(tag, v, self.caps) is None]

    def settings(self):
        return settings(self.t.params, self.caps)

    def apply(self, tags, now):
        """Parameters `tags` were applied (CONFIG_SET after its ACK, CONFIG_REQ,
        or by hand): a new port setting is announced, a new EC code lets frames go."""
        for tag in PORT_TAGS:
            if tag in tags:
                self.t.event("data_port", *self.settings())
                break
        if 0x0028 in tags:
            self.tick(now)

    def current(self, tag):
        """CONFIG_GET value of maker tag 0x8001 (the counters), None for others."""
        if tag != _COUNTERS:
            return None
        return struct.pack(">6I", *[c & 0xFFFFFFFF for c in self.counters()])

    # == uplink: framing (PROTOCOL.md 11) ===========================================
    def feed(self, data, now):
        """Bytes read from the data port, in order (any chunk)."""
        t = self.t
        t._now = now
        mv = None                                   # a view of `data`, made only to cut it
        n = len(data)
        i = 0
        while i < n:
            lim = _SMS_FRAME if t._bearer == P.BEARER_SMS else _PACKET_FRAME
            if self.olen >= lim:                    # the bearer changed under the frame
                self._end(now)
            if self.open < 0 and not self.dropping:
                if self.usize - self.used >= 3:
                    self.open = (self.head + self.used) % self.usize
                    self.used += 2
                    self.olen = 0
                else:
                    self._overflow(now)
            k = n - i
            if k > lim - self.olen:
                k = lim - self.olen
            if not self.dropping and k > self.usize - self.used:
                # the frame does not fit: roll it back, discard the rest of it
                self.used -= 2 + self.olen
                self.open = -1
                self.bx += self.olen
                self._overflow(now)
            if self.dropping:
                self.bx += k
            elif k == n:
                self._put(data, k)                  # the whole read
            else:
                if mv is None:
                    mv = memoryview(data)
                self._put(mv[i:i + k], k)
            self.olen += k
            i += k
            if self.olen >= lim:
                self._end(now)
        if self.open >= 0 or self.dropping:
            g = t.params.get_int(0x0105, 1)
            if g != self.gap_p:
                self.gap_p = g
                self.gap_s = (g if g > 0 else 1) / 10
            t._timers["bridge_gap"] = now + self.gap_s
        self.tick(now)

    def _put(self, src, k):
        """The `k` bytes of `src` (bytes-like) at the ring's free end."""
        pos = (self.head + self.used) % self.usize
        first = self.usize - pos
        if first >= k:
            self.upv[pos:pos + k] = src
        else:
            if type(src) is not memoryview:
                src = memoryview(src)
            self.upv[pos:] = src[:first]
            self.upv[:k - first] = src[first:]
        self.used += k

    def _overflow(self, now):
        self.dropping = True
        self._alarm(_A_OVERFLOW, now, "overflow")

    def _end(self, now):
        """The open frame ends (gap or limit)."""
        if self.dropping:
            self.dropping = False
            self.fx += 1
        elif self.open >= 0:
            o = self.open
            self.up[o] = self.olen >> 8
            self.up[(o + 1) % self.usize] = self.olen & 0xFF
            self.frames += 1
        self.open = -1
        self.olen = 0
        self._drained(now)

    def gap(self, now):
        """0x0105 x 100 ms without a byte: the frame ends."""
        if self.open >= 0 or self.dropping:
            self._end(now)
            self.tick(now)

    def flush(self, now):
        """0x4001 0x07 (upload now): the open frame ends, the back-off is cut
        short and what is buffered is sent."""
        t = self.t
        t._now = now
        if self.open >= 0 or self.dropping:
            t._timers.pop("bridge_gap", None)
            self._end(now)
        if t._timers.pop("bridge_retry", None) is not None:
            self.attempt = 0
        self.tick(now)

    def _frame(self):
        """The oldest frame: a view of the ring (it stays there until its ACK),
        a copy (one bytearray) only when it wraps round the ring's end."""
        h = self.head
        s = self.usize
        n = self.up[h] << 8 | self.up[(h + 1) % s]
        a = (h + 2) % s
        if a + n <= s:
            return self.upv[a:a + n]
        out = bytearray(n)
        out[:s - a] = self.upv[a:]
        out[s - a:] = self.upv[:n - (s - a)]
        return out

    def _pop(self, n, now):
        self.head = (self.head + 2 + n) % self.usize
        self.used -= 2 + n
        self.frames -= 1
        self.inflight = False
        self.crc_retry = False
        if self.used == 0:
            self.head = 0
        self._drained(now)

    def _drained(self, now):
        """An overflow episode is over once the ring is empty again."""
        if self.used == 0 and not self.dropping and self.alarmed & _A_OVERFLOW:
            self._clear(_A_OVERFLOW, now)

    # == uplink: delivery (PROTOCOL.md 11) ==========================================
    def tick(self, now):
        """Send the waiting frames that may go now."""
        t = self.t
        if self.inflight or not self.frames or "bridge_retry" in t._timers:
            return
        if t.state != S_ONLINE:
            t.send_data(None, now)          # our turn once online (transparent; a short connection logs in)
            return
        if t.service_off():
            return                          # suspended (0x4001 0x00): held until resumed
        ec = t.params.get(0x0028)
        if not ec:
            self._alarm(_A_EC, now, "no EC code")
            return
        router = t.profile.bridge_mode == "router"
        msg = self.msg
        tl = msg.tlvs
        while self.frames and not self.inflight:
            data = self._frame()
            n = len(data)
            t.business_used(now)
            # the kept message as a new one: nothing of the last frame's sending stays
            msg.security = 0
            msg.encryption = codec.ENC_NONE
            msg.fields["crc16"] = crc.crc16(data, t.profile.crc16)
            if tl[0][1] is not ec:
                tl[0] = (0x4014, ec)
            tl[1] = (0x4007, data)
            if router:
                if self._one_way(msg):
                    self.fu += 1
                    self.bu += n
                else:
                    self.fx += 1
                    self.bx += n
                self._pop(n, now)
            else:
                self.inflight = True
                t.request(msg, on_ack=_acked, on_fail=_failed)

    def _one_way(self, msg):
        """Router mode: a TRANSPARENT_DATA with no ACK expected (no transaction)."""
        t = self.t
        msg.seq = t._next_seq()
        try:
            raw = t.encode(msg, t._bearer)
        except TooLongForBearer:            # no sub-packets without ACKs: counted as dropped
            return False
        t._emit(t._bearer, raw)
        return True

    def _acked(self, r, now):
        n = self.up[self.head] << 8 | self.up[(self.head + 1) % self.usize]
        if r == K.TD_ACK_FORWARDED:
            self.fu += 1
            self.bu += n
            self.attempt = 0
            self._pop(n, now)
            if self.alarmed & _A_EC:
                self._clear(_A_EC, now)
        elif r == _TD_ACK_DEST_OFFLINE:
            self._later(now)
            return
        elif r == _TD_ACK_PLATFORM_CRC_ERROR and not self.crc_retry:
            self.inflight = False
            self.crc_retry = True
        else:           # 0x02, 0x03, a second 0x04, a reserved code: dropped
            self.fx += 1
            self.bx += n
            self._pop(n, now)
            self._alarm(_A_EC, now, "refused 0x%02X" % r)
        self.tick(now)

    def _later(self, now):
        """Again after the 0x002A back-off: min, doubling up to max (PROTOCOL.md 8)."""
        self.inflight = False
        self.attempt += 1
        v = self.t.params.get(0x002A) or b"\x00\x00\x00\x0a\x00\x00\x01\x2c"
        lo, hi = struct.unpack(">II", v)
        gap = lo << (self.attempt - 1 if self.attempt < 16 else 15)
        self.t._timers["bridge_retry"] = now + (gap if gap < hi else hi)

    # == alarms ===================================================================
    def _alarm(self, bit, now, what):
        """Raised once until its condition is over (PROTOCOL.md 11): 0x0011 memory
        for a full buffer, 0x0013 application unreachable for frames that
        cannot be addressed or were refused."""
        if self.alarmed & bit:
            return
        self.alarmed |= bit
        t = self.t
        code = K.ALARM_MEMORY_ERROR if bit == _A_OVERFLOW else _ALARM_APP_SERVER_UNREACHABLE
        t.event("bridge_alarm", what)
        if code not in t.alarms:
            self.owned |= bit
            t.raise_alarm(code, now, _ALARM_TYPE_SOFTWARE)

    def _clear(self, bit, now):
        self.alarmed &= ~bit
        if self.owned & bit:
            self.owned &= ~bit
            self.t.clear_alarm(K.ALARM_MEMORY_ERROR if bit == _A_OVERFLOW else _ALARM_APP_SERVER_UNREACHABLE,
                               now)

    # == downlink (PROTOCOL.md 11) ====================================================
    def receive(self, msg, bearer, now):
        """A TRANSPARENT_DATA for the data port: 0x05 once written to the port
        ring, 0x06 on a CRC failure, nothing while the ring lacks room (router
        mode: never an ACK)."""
        t = self.t
        ud = msg.tlv(0x4007) or b""
        c = crc.crc16(ud, t.profile.crc16)
        ack = t.profile.bridge_mode != "router"
        if c != msg.fields["crc16"]:
            if ack:
                _answer(t, msg, bearer, K.TD_ACK_TERMINAL_CRC_ERROR)
            return
        for i in range(self.seen_n):
            if self.seen_seq[i] == msg.seq and self.seen_crc[i] == c:
                t.event("duplicate", "TRANSPARENT_DATA", msg.seq)
                if ack:
                    _answer(t, msg, bearer, K.TD_ACK_TERMINAL_OK)     # written already: not again
                return
        n = len(ud)
        if n > self.dsize - self.dused:
            if ack and n <= self.dsize:
                t.event("bridge_held", msg.seq)         # the retransmission is the flow control
                return
            self.fx += 1                                # router mode, or it can never fit
            self.bx += n
            t.event("bridge_alarm", "downlink dropped")
            return
        if n:
            pos = (self.dhead + self.dused) % self.dsize
            first = self.dsize - pos
            if first >= n:
                self.dnv[pos:pos + n] = ud
            else:
                src = memoryview(ud)
                self.dnv[pos:] = src[:first]
                self.dnv[:n - first] = src[first:]
            self.dused += n
        i = self.seen_at
        self.seen_seq[i] = msg.seq
        self.seen_crc[i] = c
        self.seen_at = (i + 1) % _SEEN
        if self.seen_n < _SEEN:
            self.seen_n += 1
        self.fd += 1
        self.bd += n
        if ack:
            _answer(t, msg, bearer, K.TD_ACK_TERMINAL_OK)
        if n:
            t.event("bridge_down",)

    def take(self, n):
        """Up to `n` bytes of downlink data for the port, removed from the ring."""
        if not self.dused:
            return b""
        if n > self.dused:
            n = self.dused
        h = self.dhead
        s = self.dsize
        if h + n <= s:
            out = bytes(self.dnv[h:h + n])
        else:
            out = bytes(self.dnv[h:]) + bytes(self.dnv[:n - (s - h)])
        self.dused -= n
        self.dhead = 0 if not self.dused else (h + n) % s
        return out

    def waiting(self):
        """Bytes of downlink data waiting for the port."""
        return self.dused

    def busy(self):
        """Uplink bytes buffered or a frame in flight, or downlink bytes not yet
        taken by the port (the updater's "busy", PROTOCOL.md 12)."""
        return self.used > 0 or self.inflight or self.dropping or self.dused > 0

    def counters(self):
        """(frames_up, bytes_up, frames_down, bytes_down, frames_dropped, bytes_dropped)."""
        return (self.fu, self.bu, self.fd, self.bd, self.fx, self.bx)


def _acked(t, ack, now):
    t._bridge._acked(ack.fields.get("result"), now)


def _failed(t, now):
    """Its retransmissions ran out: the frame is kept and sent again later."""
    t._bridge._later(now)


def _answer(t, msg, bearer, result):
    """TRANSPARENT_DATA_ACK `result` to `msg`, in the bridge's kept ACK message
    (respond() encodes it at once and keeps only the bytes)."""
    ack = t._bridge.ack
    ack.security = 0
    ack.encryption = codec.ENC_NONE
    ack.fields["result"] = result
    t.respond(msg, ack, bearer)
