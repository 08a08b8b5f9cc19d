"""The `make demo` session (test_engine_demo_scenario) on a board with a data
port: registration -> keys by SMS -> login -> heartbeats -> 8 KB from the meter
-> downlink to the meter -> CONFIG_SET needing a restart -> login -> 8 KB more
-> REMOTE_CTRL -> logout, the platform acknowledging every TRANSPARENT_DATA 0x00
as it arrives (INTEROP 11, PROTOCOL.md 11).  Portable: under MicroPython's unix
port its smallest heap, less the demo session's, is the bridge's addition to
the session's peak heap (issue 13: target <= 4 KB plus the configured buffers;
host_tests/test_micropython_unix.py).

The meter's bytes are never held whole by the test (that would be counted in
the peak): each 256-byte read is made in one reused buffer, and what the
platform receives is checked byte by byte against the same formula, in order."""
import struct

from wmmp.terminal import engine as E, params as PM
from wmmp.wire import commands as C, codes as K, crc
from wmmp.wire import profile as P
import fakeplatform as F

CAPS = {"bauds": (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200), "bits": (7, 8),
        "parity": ("N", "O", "E"), "stop": (1, 2)}
EC = b"\x00\x00\x30\x39"
CHUNK = 256                 # what the data UART hands over per read
CHUNK_S = 0.022             # 256 bytes at 115200 baud 8N1: the bytes keep coming (gap 100 ms)
BURST = 6                   # reads per burst: 1536 bytes -> a 1024 frame (limit) and a 512 (gap)
PAUSE_S = 0.15              # between bursts: longer than the gap (0x0105 = 1: 100 ms)
HALF = 8 * 1024             # forwarded before the restart, and again after it
DOWN_MSGS, DOWN_LEN, TAKE = 8, 512, 200


def _byte(o):
    """The meter's byte at stream offset `o`: the read number is mixed in, so a
    frame sent twice, lost or out of order fails the check."""
    return (o + 3 * (o // CHUNK)) & 0xFF


def _frames(total):
    """Frame lengths the bridge must make of `total` bytes sent as above."""
    out = []
    reads = total // CHUNK
    for first in range(0, reads, BURST):
        n = (min(first + BURST, reads) - first) * CHUNK
        while n:
            out.append(min(n, 1024))
            n -= out[-1]
    return out


class Session:
    def __init__(self):
        self.clk, self.pf = F.Clock(), F.Platform()
        self.up = 0                 # bytes the platform received and checked, in order
        self.lens = []              # their frames' lengths
        self.heartbeats = 0

    def timers(self):
        """Every engine timer due by now."""
        t = self.t
        while True:
            d = t.deadline()
            if d is None or d > self.clk.t:
                return
            t.tick(self.clk.t)

    def platform(self):
        """The platform's side: every TRANSPARENT_DATA checked (CRC16, EC code,
        the bytes in order) and acknowledged 0x00 delivered, heartbeats answered;
        until the terminal has nothing more to send."""
        t, pf = self.t, self.pf
        while True:
            out = t.outgoing()
            if not out:
                return
            for _, raw in out:
                m = pf.read(raw)
                if m.command == C.TRANSPARENT_DATA:
                    data = m.tlv(0x4007)
                    assert m.tlv(0x4014) == EC and m.fields["crc16"] == crc.crc16(data)
                    o = self.up
                    for i in range(len(data)):
                        assert data[i] == _byte(o + i), ("byte", o + i)
                    self.up += len(data)
                    self.lens.append(len(data))
                    t.receive(pf.ack(m, {"result": K.TD_ACK_FORWARDED}), 2, self.clk.t)
                elif m.command == C.HEART_BEAT:
                    self.heartbeats += 1
                    t.receive(pf.ack(m, digest=False), 2, self.clk.t)
                else:
                    assert False, C.name(m.command)

    def forward(self, n):
        """`n` bytes from the meter, `CHUNK` per read, in bursts of `BURST`
        reads, each handed to the platform (and acknowledged) as it is sent."""
        t, clk = self.t, self.clk
        buf = bytearray(CHUNK)
        start = self.up
        o = start
        for k in range(n // CHUNK):
            for j in range(CHUNK):
                buf[j] = _byte(o + j)
            o += CHUNK
            t.bridge_feed(buf, clk.advance(CHUNK_S))
            self.platform()
            self.timers()
            if (k + 1) % BURST == 0 or k + 1 == n // CHUNK:
                clk.advance(PAUSE_S)        # the meter pauses: the gap ends the frame
                self.timers()
                self.platform()
        assert self.up == start + n and not t.bridge_busy()

    def downlink(self):
        """DOWN_MSGS x DOWN_LEN bytes from the platform, each acknowledged 0x05
        once in the port's buffer, taken TAKE bytes at a time by the port
        writer, in order."""
        t, pf, clk = self.t, self.pf, self.clk
        got = 0
        buf = bytearray(DOWN_LEN)
        for k in range(DOWN_MSGS):
            for j in range(DOWN_LEN):
                buf[j] = (k * DOWN_LEN + j) * 7 & 0xFF
            t.receive(pf.make(C.TRANSPARENT_DATA, {"crc16": crc.crc16(buf)}, [(0x4015, b"EC9"), (0x4007, buf)]),
                      2, clk.advance(0.05))
            ack = pf.read(F.only(t.outgoing())[1])
            assert ack.command == C.TRANSPARENT_DATA_ACK and ack.fields["result"] == K.TD_ACK_TERMINAL_OK
            while t.bridge_waiting():
                piece = t.bridge_take(TAKE)
                for i in range(len(piece)):
                    assert piece[i] == (got + i) * 7 & 0xFF, ("down", got + i)
                got += len(piece)
        assert got == DOWN_MSGS * DOWN_LEN and not t.bridge_busy()


def test_demo_session_with_the_serial_bridge():
    s = Session()
    clk, pf = s.clk, s.pf
    p = PM.Params()
    p.set(0x0011, struct.pack(">I", 3))
    p.set(0x0028, EC)
    t = s.t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=b"M2MMAKER", data_port=CAPS), p)
    t.start(clk.t)
    reg = pf.read(F.only(t.outgoing())[1])
    pf.serial = b"M2MMAKER00000001"
    t.receive(pf.ack(reg, {"result": 0, "terminal_id": pf.serial}, digest=False), 2, clk.advance(1))
    t.receive(pf.keys_sms(), P.BEARER_SMS, clk.advance(1))
    login = pf.read(t.outgoing()[1][1], ts=0)
    t.receive(pf.login_ack(login), 2, clk.advance(1))
    trap = pf.read(F.only(t.outgoing())[1])
    t.receive(pf.ack(trap, {"result": 0}), 2, clk.advance(1))
    assert t.state == E.S_ONLINE and t.session is not None
    for _ in range(2):
        clk.advance(3)
        t.tick(clk.t)
        hb = pf.read(F.only(t.outgoing())[1])
        t.receive(pf.ack(hb, digest=False), 2, clk.advance(0))
    s.forward(HALF)
    s.downlink()
    t.receive(pf.make(C.CONFIG_SET, tlvs=[(0x0002, b"cmiot")]), 2, clk.advance(1))
    out = t.outgoing()
    lo = pf.read(out[1][1])
    t.receive(pf.ack(lo), 2, clk.advance(1))
    assert t.state == E.S_RESTARTING
    t.restarted(clk.advance(1))
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    t.receive(pf.login_ack(login, curtime=F.CURTIME + 60), 2, clk.advance(1))
    for _, raw in t.outgoing():
        t.receive(pf.ack(pf.read(raw), {"result": 0}), 2, clk.advance(0))
    s.forward(HALF)
    t.receive(pf.make(C.REMOTE_CTRL, tlvs=[(0x4001, bytes([K.RC_REPORT_STATISTICS]))]), 2, clk.advance(1))
    out = t.outgoing()
    assert pf.read(out[0][1]).fields["result"] == 0
    t.receive(pf.ack(pf.read(out[1][1]), {"result": 0}), 2, clk.advance(1))
    t.logout(K.LOGOUT_NORMAL, clk.t)
    t.receive(pf.ack(pf.read(F.only(t.outgoing())[1])), 2, clk.advance(1))
    assert t.state == E.S_IDLE and t.params.get(0x0002) == b"cmiot"
    # every byte delivered once, in order, split only at the 1024 limit or a gap
    assert s.up == 2 * HALF and s.lens == _frames(HALF) * 2
    assert t.bridge_counters() == (len(s.lens), 2 * HALF, DOWN_MSGS, DOWN_MSGS * DOWN_LEN, 0, 0)
