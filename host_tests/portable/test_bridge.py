"""The serial data bridge (4.3.11, appendix G j, PROTOCOL.md 11; PROTOCOL.md 11):
the engine side, sans-I/O, against the scripted platform.  Portable."""
import struct

from wmmp.terminal import engine as E
from wmmp.wire import commands as C, codes as K, crc
from wmmp.wire import profile as P
import fakeplatform as F

CAPS = {"bauds": (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400), "bits": (7, 8),
        "parity": ("N", "O", "E"), "stop": (1, 2), "extra": {11: 230400}}
EC = b"\x00\x00\x30\x39"


class Rig:
    """A terminal with a data port, logged in (or not) against the scripted platform."""

    def __init__(self, ec=EC, mode=None, up=None, down=None, login=True, port=CAPS, params=None, applies=None,
                 long_connection=True):
        self.clk, self.pf = F.Clock(), F.Platform()
        p = params if params is not None else F.provisioned_params()
        if ec:
            p.set(0x0028, ec)
        cfg = E.Config(F.IMEI, F.IMSI, serial=b"M2MMAKER0000A1B2", data_port=port, applies=applies,
                       long_connection=long_connection)
        if up:
            cfg.bridge_buffer = up
        if down:
            cfg.bridge_down = down
        self.t = E.Terminal(cfg, p, P.Profile(bridge_mode=mode))
        self.pf.serial = b"M2MMAKER0000A1B2"
        self.held = []          # messages of other commands seen by sent()
        if login:
            self.login()

    def login(self):
        t, pf = self.t, self.pf
        if t.state == E.S_OFF:
            t.start(self.clk.t)
        lg = [m for m in self.held if m.command == C.LOGIN]
        self.held = [m for m in self.held if m.command != C.LOGIN]
        lg += [pf.read(r, ts=0) for _, r in t.outgoing() if F.command(r) == C.LOGIN]
        t.receive(pf.login_ack(lg[-1]), 2, self.clk.advance(1))
        self.login_traps = self.sent(C.CONFIG_TRAP)
        for m in self.login_traps:
            t.receive(pf.ack(m, {"result": 0}), 2, self.clk.t)
        assert t.state == E.S_ONLINE

    def sent(self, cmd=C.TRANSPARENT_DATA):
        """Messages the terminal sent of command `cmd`, also those kept in .held by
        an earlier call (others are kept in .held)."""
        got = [m for m in self.held if m.command == cmd]
        self.held = [m for m in self.held if m.command != cmd]
        for _, raw in self.t.outgoing():
            m = self.pf.read(raw, ts=0) if F.command(raw) == C.LOGIN else self.pf.read(raw)
            if m.command == cmd:
                got.append(m)
            else:
                self.held.append(m)
        return got

    def feed(self, data, dt=0):
        self.t.bridge_feed(data, self.clk.advance(dt))

    def idle(self, dt):
        """Nothing on the port for `dt` s; the engine ticked whenever due."""
        end = self.clk.t + dt
        while True:
            d = self.t.deadline()
            if d is None or d > end:
                break
            self.clk.t = max(self.clk.t, d)
            self.t.tick(self.clk.t)
        self.clk.t = end

    def ack(self, m, result=K.TD_ACK_FORWARDED):
        self.t.receive(self.pf.ack(m, {"result": result}), 2, self.clk.t)

    def down(self, data, seq=None, good=True):
        raw = self.pf.make(C.TRANSPARENT_DATA, {"crc16": crc.crc16(data) if good else crc.crc16(data) ^ 1},
                           [(0x4015, b"EC9"), (0x4007, data)], seq=seq)
        self.t.receive(raw, 2, self.clk.advance(0))
        return raw

    def events(self, name=None):
        ev = self.t.events()
        return ev if name is None else [e for e in ev if e[0] == name]

    def traps(self):
        return self.sent(C.CONFIG_TRAP)


def _alarm_codes(traps, tag=0x300D):
    return [struct.unpack(">H", m.tlv(tag))[0] for m in traps if m.tlv(tag) is not None]


# == uplink framing ================================================================
def test_gap_ends_a_frame_at_several_baud_rates():
    """PROTOCOL.md 11 / 4.3.11: a frame ends after 0x0105 x 100 ms without a byte; bytes
    arriving closer than that (any baud rate) stay in one frame, never merged across
    a gap; the gap is an engine timer, so deadline() covers it."""
    for gap_units, baud in ((1, 9600), (3, 115200), (10, 1200)):
        r = Rig()
        r.t.params.set(0x0105, struct.pack(">H", gap_units))
        gap = gap_units / 10
        per_ms = baud / 10000                      # bytes per ms at 8N1
        chunk = max(1, int(per_ms * 20))           # what the UART hands over every 20 ms
        sent = bytearray()
        for i in range(min(10, 1000 // chunk)):     # under the 1024-byte limit
            piece = bytes((i + j) & 0xFF for j in range(chunk))
            sent += piece
            r.feed(piece, 0.02)
        assert r.sent() == []                      # the frame is still open
        assert abs(r.t.deadline() - (r.clk.t + gap)) < 1e-6
        r.idle(gap * 0.9)
        assert r.sent() == []
        r.idle(gap * 0.2)
        (m,) = r.sent()
        assert m.tlv(0x4007) == bytes(sent)
        r.ack(m)
        r.feed(b"second", 0)
        r.idle(gap + 0.01)
        assert [x.tlv(0x4007) for x in r.sent()] == [b"second"]


def test_frames_are_never_merged_across_a_gap_nor_reordered():
    """PROTOCOL.md 11: three bursts separated by pauses longer than the gap are three
    frames, sent in order (one in flight in ack mode, 4.3.11)."""
    r = Rig()
    for b in (b"AAA", b"BBBB", b"CC"):
        r.feed(b)
        r.idle(0.15)
    got = []
    for _ in range(3):
        (m,) = r.sent()
        got.append(m.tlv(0x4007))
        r.ack(m)
    assert got == [b"AAA", b"BBBB", b"CC"]
    assert r.t.bridge_counters()[:2] == (3, 9)


def test_limit_1024_on_packet_78_on_sms():
    """PROTOCOL.md 11 / appendix G j: a frame is split only at the bearer's user-data
    limit: 1024 bytes on the packet bearer, 78 on SMS."""
    r = Rig()
    data = bytes(i & 0xFF for i in range(2500))
    r.feed(data[:700])
    r.feed(data[700:])                             # one continuous burst
    out = []
    for _ in range(2):
        (m,) = r.sent()
        out.append(m.tlv(0x4007))
        r.ack(m)
    assert [len(x) for x in out] == [1024, 1024]
    r.idle(0.11)
    (m,) = r.sent()
    out.append(m.tlv(0x4007))
    r.ack(m)
    assert b"".join(out) == data and len(out[2]) == 452
    # the packet bearer fails: SMS fallback (PROTOCOL.md 9), frames of 78
    for _ in range(3):
        r.t.bearer_failed(P.BEARER_PACKET, r.clk.t)
    r.t.events()
    r.feed(bytes(200))
    sms = [r.pf.read(raw, P.BEARER_SMS) for b, raw in r.t.outgoing() if b == P.BEARER_SMS]
    assert [len(m.tlv(0x4007)) for m in sms] == [78]
    r.t.receive(r.pf.ack(sms[0], {"result": 0}, bearer=P.BEARER_SMS), P.BEARER_SMS, r.clk.t)
    sms = [r.pf.read(raw, P.BEARER_SMS) for b, raw in r.t.outgoing() if b == P.BEARER_SMS]
    assert [len(m.tlv(0x4007)) for m in sms] == [78]


def test_each_frame_is_one_transparent_data_with_crc16_and_ec_code():
    """PROTOCOL.md 11 / appendix G j: crc16 of the user data, 0x4014 = EC code 0x0028,
    0x4007 = the frame."""
    r = Rig()
    r.feed(b"meter 0042 kWh")
    r.idle(0.2)
    (m,) = r.sent()
    assert m.fields["crc16"] == crc.crc16(b"meter 0042 kWh")
    assert m.tlvs[0] == (0x4014, EC) and m.tlv(0x4007) == b"meter 0042 kWh"


# == uplink delivery ==================================================================
def test_without_ec_code_frames_wait_and_an_alarm_is_raised_once():
    """PROTOCOL.md 11: no 0x0028 -> frames wait in the buffer and a local-config alarm
    (0x0013, PROTOCOL.md 11) is raised once; setting 0x0028 lets them go, in order."""
    r = Rig(ec=None)
    for b in (b"one", b"two"):
        r.feed(b)
        r.idle(0.2)
    assert r.sent() == []
    assert r.events("bridge_alarm") == [("bridge_alarm", "no EC code")]
    traps = r.traps()
    assert _alarm_codes(traps) == [K.ALARM_APP_SERVER_UNREACHABLE]
    for m in traps:                     # the platform acknowledges the raise (4.3.5): the clear may follow
        r.ack(m, 0)
    assert r.t.bridge_busy()
    req = r.pf.make(C.CONFIG_SET, tlvs=[(0x0028, EC)])
    r.t.receive(req, 2, r.clk.advance(1))
    out = r.t.outgoing()
    assert r.pf.read(out[0][1]).command == C.CONFIG_SET_ACK        # the ACK first
    tds = [r.pf.read(x) for _, x in out if F.command(x) == C.TRANSPARENT_DATA]
    assert [m.tlv(0x4007) for m in tds] == [b"one"]
    r.ack(tds[0])
    (m,) = r.sent()
    assert m.tlv(0x4007) == b"two"
    assert _alarm_codes(r.traps(), 0x300E) == [K.ALARM_APP_SERVER_UNREACHABLE]


def test_ack_mode_one_frame_in_flight_result_0x00_delivered():
    """PROTOCOL.md 11 / 4.3.11 ack mode: every frame waits for its ACK; 0x00 delivered,
    then the next one goes."""
    r = Rig()
    r.feed(b"f1")
    r.idle(0.2)
    r.feed(b"f2")
    r.idle(0.2)
    (m1,) = r.sent()
    assert r.sent() == []                          # f2 waits for f1's ACK
    r.ack(m1, K.TD_ACK_FORWARDED)
    (m2,) = r.sent()
    assert m2.tlv(0x4007) == b"f2" and m2.seq != m1.seq
    r.ack(m2)
    assert r.t.bridge_counters() == (2, 4, 0, 0, 0, 0) and not r.t.bridge_busy()


def test_retransmitted_per_0x0107_0x0108_then_kept_and_sent_later():
    """PROTOCOL.md 11 / 4.4.6.1: no ACK -> same bytes, same seq (0x0107 10 s, 0x0108 3);
    when the retransmissions run out the frame is kept (nothing lost) and sent
    again after the 0x002A back-off."""
    r = Rig()
    r.feed(b"reading")
    r.idle(0.2)
    (m,) = r.sent()
    first = m.seq
    for _ in range(3):
        r.idle(10)
        (again,) = r.sent()
        assert again.seq == first
    r.idle(10)                                     # retries ran out
    assert r.sent() == [] and r.t.bridge_busy()
    r.idle(10)                                     # 0x002A min 10 s
    (m2,) = r.sent()
    assert m2.tlv(0x4007) == b"reading" and m2.seq != first
    r.ack(m2)
    assert r.t.bridge_counters()[:2] == (1, 7) and r.t.bridge_counters()[4:] == (0, 0)


def test_result_0x01_kept_and_resent_after_the_0x002a_backoff():
    """PROTOCOL.md 11: 0x01 destination offline -> kept, sent again after the 0x002A
    back-off, the gap doubling from min up to max (PROTOCOL.md 8)."""
    r = Rig()
    r.t.params.set(0x002A, struct.pack(">II", 5, 300))
    r.feed(b"x1")
    r.idle(0.2)
    (m,) = r.sent()
    r.ack(m, K.TD_ACK_DEST_OFFLINE)
    r.idle(4.9)
    assert r.sent() == []
    r.idle(0.2)
    (m,) = r.sent()
    r.ack(m, K.TD_ACK_DEST_OFFLINE)
    r.idle(9.9)
    assert r.sent() == []
    r.idle(0.2)
    (m,) = r.sent()
    assert m.tlv(0x4007) == b"x1"
    r.ack(m)
    assert r.t.bridge_counters()[0] == 1


def test_results_0x02_0x03_dropped_counted_alarm_raised():
    """PROTOCOL.md 11: 0x02 misaddressed / 0x03 not allowed -> the frame is dropped,
    counted (0x8001 frames/bytes dropped) and an alarm raised; the next frame goes."""
    r = Rig()
    for b in (b"aa", b"bbb", b"cccc"):
        r.feed(b)
        r.idle(0.2)
    (m,) = r.sent()
    r.ack(m, K.TD_ACK_BAD_DEST)
    (m,) = r.sent()
    assert m.tlv(0x4007) == b"bbb"
    r.ack(m, K.TD_ACK_NOT_ALLOWED)
    (m,) = r.sent()
    assert m.tlv(0x4007) == b"cccc"
    r.ack(m)
    assert r.t.bridge_counters() == (1, 4, 0, 0, 2, 5)
    assert r.events("bridge_alarm") == [("bridge_alarm", "refused 0x02")]      # raised once
    assert _alarm_codes(r.traps()) == [K.ALARM_APP_SERVER_UNREACHABLE]


def test_result_0x04_sent_again_at_once_once():
    """PROTOCOL.md 11: 0x04 CRC failure at the platform -> sent again at once, once; a
    second 0x04 drops and counts it."""
    r = Rig()
    r.feed(b"crc?")
    r.idle(0.2)
    (m,) = r.sent()
    r.ack(m, K.TD_ACK_PLATFORM_CRC_ERROR)
    (m2,) = r.sent()
    assert m2.tlv(0x4007) == b"crc?" and m2.seq != m.seq
    r.ack(m2, K.TD_ACK_PLATFORM_CRC_ERROR)
    assert r.sent() == []
    assert r.t.bridge_counters()[4:] == (1, 4) and not r.t.bridge_busy()
    r.feed(b"next")
    r.idle(0.2)
    (m3,) = r.sent()
    r.ack(m3, K.TD_ACK_PLATFORM_CRC_ERROR)       # a new frame has its own retry
    (m4,) = r.sent()
    assert m4.tlv(0x4007) == b"next"


def test_router_mode_no_ack_expected_or_sent():
    """PROTOCOL.md 11 / 4.3.11 router mode: frames go at once, one after the other, with
    no transaction (nothing retransmitted); downlink data is not acknowledged."""
    r = Rig(mode="router")
    for b in (b"r1", b"r2", b"r3"):
        r.feed(b)
        r.idle(0.2)
    got = [m.tlv(0x4007) for m in r.sent()]
    assert got == [b"r1", b"r2", b"r3"]
    assert r.t._txns == {}
    r.idle(60)
    assert r.sent() == []
    assert r.t.bridge_counters()[:2] == (3, 6)
    r.down(b"to meter")
    assert r.t.outgoing() == [] and r.t.bridge_take(100) == b"to meter"


def test_frames_wait_across_an_outage_and_go_in_order_after_login():
    """PROTOCOL.md 11 buffering: offline (before the login, or between sessions), frames
    wait in order; from the login on they are sent."""
    r = Rig(login=False)
    r.t.start(r.clk.t)
    for i in range(5):
        r.feed(b"frame %d" % i)
        r.idle(0.2)
    assert r.sent() == []
    r.login()
    got = []
    for _ in range(5):
        (m,) = r.sent()
        got.append(m.tlv(0x4007))
        r.ack(m)
    assert got == [b"frame %d" % i for i in range(5)]


def test_frame_in_flight_survives_a_relogin():
    """PROTOCOL.md 11: a frame in flight when the session ends is sent again in the new
    session (PROTOCOL.md 3: new seq), not lost and not duplicated by the bridge."""
    r = Rig()
    r.feed(b"inflight")
    r.idle(0.2)
    (m,) = r.sent()
    r.feed(b"queued")
    r.idle(0.2)
    r.t.login(r.clk.t)
    (lg,) = r.sent(C.LOGIN)
    r.t.receive(r.pf.login_ack(lg), 2, r.clk.advance(1))
    out = r.t.outgoing()
    tds = [r.pf.read(x) for _, x in out if F.command(x) == C.TRANSPARENT_DATA]
    assert [x.tlv(0x4007) for x in tds] == [b"inflight"]
    r.ack(tds[0])
    (m2,) = r.sent()
    assert m2.tlv(0x4007) == b"queued"


def test_short_connection_logs_in_for_waiting_frames():
    """PROTOCOL.md 11 / 4.2.1: on a short connection, idle (logged out), a frame makes the
    terminal log in; it is sent once online, then the connection ends again."""
    r = Rig(long_connection=False)
    r.idle(6)                                      # the short connection's idle time
    (lo,) = r.sent(C.LOGOUT)
    r.t.receive(r.pf.ack(lo), 2, r.clk.advance(1))
    assert r.t.state == E.S_IDLE
    r.feed(b"on demand")
    r.idle(0.2)
    assert r.sent() == []
    r.login()
    (m,) = r.sent()
    assert m.tlv(0x4007) == b"on demand"
    r.ack(m)
    r.idle(6)
    assert r.sent(C.LOGOUT)


# == buffering, counters =================================================================
def test_full_buffer_drops_whole_frames_counts_them_and_alarms_once_per_episode():
    """PROTOCOL.md 11 buffering: a bounded buffer; what does not fit is dropped (whole
    frames, never a frame cut short), counted, and the alarm (0x0011, PROTOCOL.md 11)
    raised once per overflow episode; the rest is delivered in order."""
    r = Rig(up=2048, login=False)
    r.t.start(r.clk.t)
    for i in range(30):                            # 30 x 100 bytes, 20 fit (102 each)
        r.feed(bytes([i]) * 100)
        r.idle(0.2)
    assert r.t.bridge_counters()[4:] == (10, 1000)
    assert r.events("bridge_alarm") == [("bridge_alarm", "overflow")]
    r.login()
    got = []
    traps = list(r.login_traps)
    for _ in range(20):
        (m,) = r.sent()
        traps += r.traps()
        got.append(m.tlv(0x4007))
        r.ack(m)
    assert got == [bytes([i]) * 100 for i in range(20)]
    traps += r.traps()
    assert _alarm_codes(traps) == [K.ALARM_MEMORY_ERROR]
    assert _alarm_codes(traps, 0x300E) == [K.ALARM_MEMORY_ERROR]      # over: the ring emptied
    assert not r.t.bridge_busy()
    # a second episode raises it again
    r.t.receive(r.pf.make(C.REMOTE_CTRL, tlvs=[(0x4001, bytes([K.RC_SUSPEND_SERVICE]))]), 2, r.clk.t)
    r.t.outgoing()
    for i in range(21):
        r.feed(bytes([i]) * 100)
        r.idle(0.2)
    assert r.events("bridge_alarm") == [("bridge_alarm", "overflow")]
    assert r.t.bridge_counters()[4:] == (11, 1100)


def test_a_frame_longer_than_the_free_room_is_dropped_whole():
    """PROTOCOL.md 11: bytes are never split other than at the limit: a frame that
    overflows is rolled back and the rest of it discarded up to its gap."""
    r = Rig(up=1100, login=False)
    r.t.start(r.clk.t)
    r.feed(b"A" * 900)
    r.idle(0.2)
    r.feed(b"B" * 150)          # 902 + 152 of 1100: fits so far
    r.feed(b"B" * 100)          # 250 in all: does not fit, rolled back
    r.feed(b"B" * 10, 0.05)     # the rest of that frame (no gap yet): discarded too
    r.idle(0.2)
    r.feed(b"C" * 50)
    r.idle(0.2)
    assert r.t.bridge_counters()[4:] == (1, 260)
    r.login()
    got = []
    for _ in range(2):
        (m,) = r.sent()
        got.append(m.tlv(0x4007))
        r.ack(m)
    assert got == [b"A" * 900, b"C" * 50]


def test_rings_wrap_round_without_losing_or_reordering_a_byte():
    """PROTOCOL.md 11: the preallocated rings wrap round their end (frame lengths, frame
    bytes, downlink bytes) with every byte in order."""
    r = Rig(up=1100, down=1024)
    frames = [bytes((k * 7 + j) & 0xFF for j in range(300 + k)) for k in range(12)]
    got = []
    flight = []
    for f in frames:                               # one in flight, one queued: the ring never empties
        r.feed(f[:100])
        r.feed(f[100:], 0.01)
        r.idle(0.2)
        for m in flight:
            r.ack(m)
        flight = r.sent()
        got += [m.tlv(0x4007) for m in flight]
    for m in flight:
        r.ack(m)
    got += [m.tlv(0x4007) for m in r.sent()]
    assert got == frames and r.t.bridge_counters()[:2] == (12, sum(len(f) for f in frames))
    out = bytearray()
    pattern = bytes(range(256)) * 8
    for k in range(6):
        r.down(pattern[k * 50:k * 50 + 700])
        r.t.outgoing()
        out += r.t.bridge_take(650)          # 50 more each time: never full, wraps
    out += r.t.bridge_take(5000)
    assert bytes(out) == b"".join(pattern[k * 50:k * 50 + 700] for k in range(6))


def test_counters_0x8001_by_config_get():
    """PROTOCOL.md 11 / PROTOCOL.md 11: maker TLV 0x8001, 6 x u32: frames/bytes up, down,
    dropped; answered by CONFIG_GET (4.3.6)."""
    r = Rig()
    r.feed(b"12345")
    r.idle(0.2)
    (m,) = r.sent()
    r.ack(m)
    r.down(b"abc")
    r.t.outgoing()
    r.t.receive(r.pf.make(C.CONFIG_GET, tlvs=[(0x8001, b"")]), 2, r.clk.advance(1))
    ans = r.pf.read(F.only(r.t.outgoing())[1])
    assert ans.fields["result"] == K.ACK_OK
    assert struct.unpack(">6I", ans.tlv(0x8001)) == (1, 5, 1, 3, 0, 0)


def test_suspend_holds_frames_resume_sends_them():
    """PROTOCOL.md 11 / 4.3.7: REMOTE_CTRL 0x4001 0x00 suspends: frames wait; 0x01
    resumes: they go."""
    r = Rig()
    r.t.receive(r.pf.make(C.REMOTE_CTRL, tlvs=[(0x4001, bytes([K.RC_SUSPEND_SERVICE]))]), 2, r.clk.t)
    r.t.outgoing()
    r.feed(b"held")
    r.idle(0.2)
    assert r.sent() == [] and r.t.bridge_busy()
    r.t.receive(r.pf.make(C.REMOTE_CTRL, tlvs=[(0x4001, bytes([K.RC_RESUME_SERVICE]))]), 2, r.clk.t)
    (m,) = r.sent()
    assert m.tlv(0x4007) == b"held"


def test_upload_0x07_ends_the_open_frame_and_sends_it():
    """4.3.7 / appendix E f 0x4001 0x07 (upload now) = bridge_flush: the open frame
    ends without waiting for its gap, and is sent."""
    r = Rig()
    r.t.params.set(0x0105, struct.pack(">H", 100))      # a 10 s gap
    r.feed(b"partial")
    r.t.receive(r.pf.make(C.REMOTE_CTRL, tlvs=[(0x4001, bytes([K.RC_UPLOAD_SERVICE_DATA]))]),
                2, r.clk.advance(1))
    (m,) = r.sent()
    assert m.tlv(0x4007) == b"partial"
    assert r.sent(C.REMOTE_CTRL_ACK)[0].fields["result"] == 0


def test_bridge_busy_while_frames_queued_or_in_flight():
    """PROTOCOL.md 12: the updater's "busy": frames queued or in flight (and downlink
    bytes not yet written to the port)."""
    r = Rig()
    assert not r.t.bridge_busy()
    r.feed(b"x")
    assert r.t.bridge_busy()
    r.idle(0.2)
    (m,) = r.sent()
    assert r.t.bridge_busy()
    r.ack(m)
    assert not r.t.bridge_busy()
    r.down(b"d")
    r.t.outgoing()
    assert r.t.bridge_busy()
    assert r.t.bridge_take(10) == b"d" and not r.t.bridge_busy()


# == downlink ==============================================================================
def test_downlink_written_in_order_and_acknowledged_0x05():
    """PROTOCOL.md 11 / appendix G j: CRC ok -> into the port's buffer, in arrival
    order, then ACK 0x05; the port writer is told with ("bridge_down",)."""
    r = Rig()
    r.down(b"first ")
    ack = r.pf.read(F.only(r.t.outgoing())[1])
    assert ack.command == C.TRANSPARENT_DATA_ACK and ack.fields["result"] == K.TD_ACK_TERMINAL_OK
    r.down(b"second")
    r.t.outgoing()
    assert r.events("bridge_down") == [("bridge_down",), ("bridge_down",)]
    assert r.t.bridge_waiting() == 12
    assert r.t.bridge_take(4) + r.t.bridge_take(100) == b"first second"
    assert r.t.bridge_take(100) == b"" and r.t.bridge_waiting() == 0
    assert r.t.bridge_counters()[2:4] == (2, 12)


def test_downlink_crc_failure_answered_0x06_not_written():
    """Appendix G j / PROTOCOL.md 11: a CRC16 failure is answered 0x06 and nothing is
    written to the port."""
    r = Rig()
    r.down(b"garbled", good=False)
    ack = r.pf.read(F.only(r.t.outgoing())[1])
    assert ack.fields["result"] == K.TD_ACK_TERMINAL_CRC_ERROR
    assert r.t.bridge_waiting() == 0 and r.events("bridge_down") == []


def test_downlink_flow_control_withholds_the_ack_until_there_is_room():
    """PROTOCOL.md 11: a full transmit buffer -> no ACK (the platform's retransmission is
    the flow control); the retransmission, once there is room, is written once and
    acknowledged 0x05."""
    r = Rig(down=1024)
    r.down(bytes(1000))
    assert F.only(r.t.outgoing())
    raw = r.down(b"Z" * 100)
    assert r.t.outgoing() == []                    # withheld
    assert r.events("bridge_held")
    r.t.receive(raw, 2, r.clk.advance(10))         # retransmitted, still no room
    assert r.t.outgoing() == []
    assert len(r.t.bridge_take(500)) == 500
    r.t.receive(raw, 2, r.clk.advance(10))         # retransmitted: now it fits
    ack = r.pf.read(F.only(r.t.outgoing())[1])
    assert ack.fields["result"] == K.TD_ACK_TERMINAL_OK
    r.t.receive(raw, 2, r.clk.advance(10))         # our ACK was lost: answered, not written again
    assert r.pf.read(F.only(r.t.outgoing())[1]).fields["result"] == K.TD_ACK_TERMINAL_OK
    assert r.t.bridge_take(2000) == bytes(500) + b"Z" * 100
    assert r.t.bridge_counters()[2:4] == (2, 1100)


def test_downlink_retransmission_never_written_twice_even_past_the_duplicate_cache():
    """PROTOCOL.md 11 / 4.4.6.1: a retransmitted message (same seq) is answered again
    but never written twice, also after more than the core's 8 cached answers."""
    r = Rig()
    raw = r.down(b"once")
    r.t.outgoing()
    for _ in range(10):                            # other requests fill the core's cache
        r.t.receive(r.pf.make(C.CONFIG_GET, tlvs=[(0x0011, b"")]), 2, r.clk.advance(1))
    r.t.outgoing()
    r.t.receive(raw, 2, r.clk.advance(1))
    ack = r.pf.read(F.only(r.t.outgoing())[1])
    assert ack.fields["result"] == K.TD_ACK_TERMINAL_OK
    assert r.t.bridge_take(100) == b"once"
    assert r.t.bridge_counters()[2] == 1


# == the data port's settings ================================================================
def test_config_set_port_settings_applied_live_after_the_ack():
    """PROTOCOL.md 11 / 4.3.9.3: 0x0101-0x0105 applied live, no restart; the port is
    told ("data_port", baud, bits, parity, stop) after the ACK."""
    r = Rig()
    assert r.t.data_port_settings() == (9600, 8, "N", 1)
    req = r.pf.make(C.CONFIG_SET, tlvs=[(0x0101, b"\x00\x0a"), (0x0102, b"\x07"), (0x0104, b"\x02"),
                                        (0x0103, b"\x02"), (0x0105, b"\x00\x03")])
    r.t.receive(req, 2, r.clk.advance(1))
    ack = r.pf.read(r.t.outgoing()[0][1])
    assert ack.command == C.CONFIG_SET_ACK and ack.fields["result"] == K.ACK_OK
    assert r.events("data_port") == [("data_port", 115200, 7, "E", 2)]
    assert r.t.state == E.S_ONLINE
    r.feed(b"gap")
    assert abs(r.t.deadline() - (r.clk.t + 0.3)) < 1e-6       # the new gap, at once
    r.t.receive(r.pf.make(C.CONFIG_SET, tlvs=[(0x0101, b"\x00\x0b")]), 2, r.clk.advance(1))
    assert r.events("data_port") == [("data_port", 230400, 7, "E", 2)]          # maker index 11


def test_config_set_a_setting_the_uart_cannot_do_is_data_invalid_nothing_applied():
    """PROTOCOL.md 8, 11 / appendix G h: a value the board's UART cannot do (mark
    parity, 1.5 stop bits, 6 data bits, a baud it lacks or an unmapped maker
    index) -> 0x01 with that tag at L=0, and nothing of that CONFIG_SET applied."""
    for bad in ((0x0104, b"\x03"), (0x0103, b"\x01"), (0x0102, b"\x06"), (0x0101, b"\x00\x01"),
                (0x0101, b"\x00\x0c")):
        r = Rig()
        req = r.pf.make(C.CONFIG_SET, tlvs=[(0x0101, b"\x00\x0a"), (0x0028, b"\x01"), bad])
        r.t.receive(req, 2, r.clk.advance(1))
        ack = r.pf.read(F.only(r.t.outgoing())[1])
        assert ack.fields["result"] == K.ACK_INVALID and ack.tlvs == [(bad[0], b"")], bad
        assert r.events("data_port") == []
        assert r.t.params.get(0x0101) == b"\x00\x00" and r.t.params.get(0x0028) == EC


def test_port_settings_by_hand_are_announced_too():
    """4.3.9.2 / PROTOCOL.md 11: set by hand (local config), applied live as well."""
    r = Rig()
    assert r.t.local_config([(0x0101, b"\x00\x08")], r.clk.t) == []
    assert r.events("data_port") == [("data_port", 38400, 8, "N", 1)]
    assert r.t.local_config([(0x0102, b"\x05")], r.clk.t) == [0x0102]


def test_a_board_that_applies_parameters_accepts_the_bridge_tags_with_a_data_port():
    """4.3.9.3 / PROTOCOL.md 11: with Config.applies set (a board), 0x0028 and
    0x0101-0x0105 are applied by the engine's bridge when there is a data port, and
    stay refused without one."""
    for port, result in ((CAPS, K.ACK_OK), (None, K.ACK_INVALID)):
        r = Rig(ec=None, port=port, applies=(0x0002,))
        r.t.receive(r.pf.make(C.CONFIG_SET, tlvs=[(0x0105, b"\x00\x02"), (0x0028, EC)]), 2, r.clk.advance(1))
        assert r.pf.read(r.t.outgoing()[0][1]).fields["result"] == result


# == without a data port ===========================================================================
def test_without_a_data_port_nothing_changes():
    """PROTOCOL.md 11: a board without a data port: TRANSPARENT_DATA stays the ("data", ...)
    event, the bridge calls answer None and do nothing, 0x8001 is not known."""
    r = Rig(port=None)
    r.t.bridge_feed(b"ignored", r.clk.t)
    assert not r.t.bridge_busy() and not r.t.bridge_take(10) and r.t.outgoing() == []
    r.down(b"open")
    assert r.pf.read(F.only(r.t.outgoing())[1]).fields["result"] == K.TD_ACK_TERMINAL_OK
    assert ("data", b"open", b"EC9") in r.t.events()
    r.t.receive(r.pf.make(C.CONFIG_GET, tlvs=[(0x8001, b"")]), 2, r.clk.advance(1))
    assert r.pf.read(F.only(r.t.outgoing())[1]).fields["result"] == K.ACK_INVALID
    try:
        r.t.no_such_thing
        assert False
    except AttributeError:
        pass
