"""`make bench-bridge`: the serial data bridge end to end, on loopback (issue 13,
docs/PROTOCOL.md 11).  Figures, not pass/fail: they go into the closing notes.

    emulated meter (wmmp-emu meter's Sender, on a pseudo-terminal at --baud)
      -> the terminal's data port (wmmp_tools.dataport.TtyStream, paced at the
         port's baud, + lib's DataPort)
      -> the engine's bridge (lib/wmmp/terminal/bridge.py)
      -> the SIM7600 driver over AT, the SIM7600 emulator PACED (AT UART raised
         to --at-baud with AT+IPR), or the BC95 driver and emulator paced at 9600
      -> UDP loopback -> the platform simulator (application data stored per EC)
and back: `wmmp-platform data send`'s path (Operator.data_send) -> ... -> the
data port -> the meter's Receiver.

Scenarios (--only NAME,...; every one by default, each on a fresh stack):
  uplink    frames of --frame-size bytes back to back (--gap-ms pauses) for
            --seconds through the SIM7600: bytes delivered / sent, order,
            frames split other than at the gap, goodput against the line rate
            (baud/10 B/s for 8N1), latency from a frame's last byte leaving the
            meter to the platform storing it (p50/p99).
  downlink  the platform sends 1024-byte messages, each after the previous
            one's ACK (0x05), for --down-seconds (default --seconds); the
            terminal's side of the data port is paced at --baud, so the
            goodput is that of the line: bytes out of the port, order, goodput.
  outage    the meter sends --outage-frame bytes --outage-rate times a second
            through a --outage s packet outage of the SIM7600 emulator
            (set_outage: the packet network goes, SMS stays), --lead s before
            and --tail s after it: frames sent / delivered / dropped, order,
            the bridge's counters 0x8001, the alarms, and the time from the
            network's return until every frame sent by then was delivered.
  overflow  the same with the bridge's uplink buffer set to --small-buffer
            bytes (Config.bridge_buffer): the drop count must equal sent -
            delivered (frames and bytes, counters 0x8001), the full-buffer alarm
            (0x0011) raised once, the rest delivered in order.
  bc95      through the BC95 emulator (AT UART paced at 9600, UDP datagrams up
            to the driver's udp_max), meter at --bc95-baud: first the drain
            rate (the meter well above what the link carries for
            --bc95-probe s into a buffer large enough to drop nothing), then
            --bc95-seconds at --bc95-margin of that rate with the board's
            default buffer: zero loss expected.

    .venv/bin/python bench/bridge.py [--only uplink,downlink,outage,overflow,bc95]
        [--seconds 60] [--baud 115200] [--frame-size 1024] [--gap-ms 0]
        [--down-seconds S] [--outage 60] [--outage-rate 1] [--outage-frame 100]
        [--small-buffer 2048] [--bc95-seconds 60] [--json FILE]
"""
import argparse
import asyncio
import io
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")]

import demo  # noqa: E402
from wmmp.board import runner as R  # noqa: E402
from wmmp.board.dataport import DataPort  # noqa: E402
from wmmp.terminal import engine as E  # noqa: E402
from wmmp.wire import codes as K, profile as P  # noqa: E402
from wmmp_tools import dataport as DP  # noqa: E402
from wmmp_tools.emu import meter as MT  # noqa: E402

EC = "BENCH01"
SCENARIOS = ("uplink", "downlink", "outage", "overflow", "bc95")
BAUD_INDEX = {b: i for i, b in enumerate(DP.STANDARD_BAUDS, 1)}        # 0x0101 index 1..10
OVERFLOW_ALARM = K.ALARM_MEMORY_ERROR          # bridge.py: a full uplink buffer raises 0x0011
DEFAULT_BUFFER = 8192                          # bridge.py: the uplink buffer without a board setting
DOWN_MESSAGE = 1024
PACKET_FRAME, SMS_FRAME = 1024, 78            # bridge.py: a frame ends at the bearer's user-data limit


def _fresh(d, name):
    """A state directory of its own for one more stack (a new platform knows
    nothing of a terminal registered with another)."""
    p = os.path.join(d, name)
    os.makedirs(p)
    return p


def _percent(x):
    return "-" if x is None else "%.1f %%" % (100.0 * x)


class Rig:
    """One stack for one scenario: SMS centre, platform, a modem emulator and
    driver, the terminal, its data port on a pty (the terminal's side paced at
    the port's baud) and the meter's side of it."""

    def __init__(self, out, modem="sim7600", baud=115200, at_baud=115200, buffer=None, platform=None):
        self.out = out
        self.platform = platform
        self.modem = modem
        self.baud = baud
        self.at_baud = at_baud
        self.buffer = buffer
        self.events = []            # (monotonic, event) of the bridge
        self.port = self.port_task = None
        self.st = self.meter_side = self.term_side = None

    def _event(self, ev):
        if ev[0] == "bridge_down" and self.port is not None:
            self.port.kick()
        elif ev[0] == "data_port" and self.port is not None:
            self.port.configure(*ev[1:5])
        if ev[0].startswith("bridge") and ev[0] != "bridge_down":
            self.events.append((time.monotonic(), ev))

    async def start(self, state_dir):
        driver = None
        if self.modem == "sim7600" and self.at_baud != 115200:
            driver = {"fast_baud": self.at_baud}
        self.st = st = demo.Stack(state_dir, out=self.out, modem=self.modem, emu={"pace": True}, heartbeat=60,
                                  driver=driver, on_event=self._event, platform=self.platform)
        self.meter_side = DP.PtyStream().open()
        # the terminal's data port: build the engine with it (what wmmp-term --data-port
        # does) and the board's uplink buffer setting (Config.bridge_buffer) before the
        # Terminal is made
        orig_build = demo.TERM.build
        buffer = self.buffer

        def build(args, *x, **k):
            args.data_port = self.meter_side.path
            if buffer is not None:
                E.Config.bridge_buffer = buffer
            try:
                return orig_build(args, *x, **k)
            finally:
                if buffer is not None:
                    del E.Config.bridge_buffer
        demo.TERM.build = build
        try:
            await st.start()
        finally:
            demo.TERM.build = orig_build
        if buffer is not None:
            assert st.term._bridge.usize == max(buffer, 1026), st.term._bridge.usize
        st.term.params.set(0x0028, EC.encode())
        st.term.params.set(0x0101, bytes([0, BAUD_INDEX[self.baud]]))
        st.term.params.set(0x0105, b"\x00\x01")                   # frame gap 100 ms
        self.term_side = DP.TtyStream(self.meter_side.path, pace=True).open()
        self.port = DataPort(self.term_side, lambda: st.term, R.monotonic, st.runner.wake, lambda s: None)
        st.run()
        self.port_task = asyncio.create_task(self.port.run())
        t0 = time.monotonic()
        while st.term.state_name.lower() != "online":
            if time.monotonic() - t0 > 60:
                raise SystemExit("bench-bridge: the terminal did not log in within 60 s")
            await asyncio.sleep(0.1)
        self.meter_side.configure(self.baud, 8, "N", 1)
        if self.modem == "sim7600":
            sp = st.rig.modem.speed
            if sp.rate != st.rig.emu.baud and self.at_baud != 115200:
                # Over a pseudo-terminal the emulator cannot see the host's rate, so a
                # driver that found it "answering at the fast rate" (AT unanswered
                # while it booted, then answered) skips AT+IPR: send it here so that
                # both ends run at the rate the driver believes in.
                await st.rig.modem.at.command("AT+IPR=%d" % sp.rate, timeout=2)
        self.at_rate = st.rig.emu.baud
        return self

    async def close(self):
        if self.port_task is not None:
            self.port_task.cancel()
            try:
                await self.port_task
            except BaseException:
                pass
        try:
            if self.st is not None:
                await self.st.close()
        finally:
            for s in (self.term_side, self.meter_side):
                if s is not None:
                    s.close()

    # -- what the platform got ------------------------------------------------------

    def rows(self):
        return self.st.pf.db.app_data(EC)

    def delivered(self, expected=None):
        rows = self.rows()
        rep = MT.analyse([(r["time"], r["data"]) for r in rows], expected=expected)
        rep["bytes"] = sum(len(r["data"]) for r in rows)
        return rep

    def counters(self):
        c = list(self.st.term.bridge_counters() or ())
        return dict(zip(("frames_up", "bytes_up", "frames_down", "bytes_down", "frames_dropped",
                         "bytes_dropped"), c))

    def alarm_traps(self, code):
        """(raised, cleared, order): CONFIG_TRAPs the platform received raising /
        clearing alarm `code` (its answers note them: flows.on_config_trap), and
        "raise" / "clear" in the order the platform took them."""
        raised = cleared = 0
        order = []
        want = "0x%04X" % code
        for m in self.st.pf.db.messages(None, 100000):
            note = m.get("note") or ""
            if m["direction"] != "out" or "CONFIG_TRAP_ACK" not in str(m["command"]):
                continue
            for part in note.split(";"):
                part = part.strip()
                if part.startswith("ALARM codes") and want in part:
                    raised += 1
                    order.append("raise")
                elif part.startswith("alarms cleared") and want in part:
                    cleared += 1
                    order.append("clear")
        return raised, cleared, order

    def platform_alarms(self):
        """The alarm codes the platform holds as active for the terminal (its
        last 0x300D / 0x300E reports: the parameters it keeps)."""
        serial = bytes(self.st.term.serial).rstrip(b"\x00").decode()
        kept = {tag: bytes(v) for tag, v, _ in self.st.pf.db.params(serial)}
        return {"0x300D": kept.get(0x300D, b"").hex(), "0x300E": kept.get(0x300E, b"").hex()}

    def uplink_bearers(self):
        """TRANSPARENT_DATA the platform received, by bearer."""
        by = {}
        for m in self.st.pf.db.messages(None, 100000):
            if m["direction"] == "in" and "TRANSPARENT_DATA" in str(m["command"]) and "ACK" not in str(m["command"]):
                by[m["bearer"]] = by.get(m["bearer"], 0) + 1
        return by

    def bridge_events(self, what=None):
        return [ev for _, ev in self.events if ev[0] == "bridge_alarm" and (what is None or ev[1] == what)]

    async def wait_delivered(self, frames, timeout, poll=0.2):
        """Until `frames` distinct frames are at the platform; the monotonic time
        they were (None: not within timeout)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.delivered()["unique"] >= frames:
                return time.monotonic()
            await asyncio.sleep(poll)
        return None


# == the scenarios ====================================================================

async def uplink(a, out, d):
    rig = await Rig(out, "sim7600", a.baud, a.at_baud).start(d)
    try:
        sender = MT.Sender(rig.meter_side, a.baud, 10, (a.frame_size, a.frame_size), a.gap_ms / 1000.0)
        await sender.run(duration=a.seconds)
        sent = sender.report()
        await rig.wait_delivered(sent["frames"], 30)
        rep = rig.delivered(sent["frames"])
        got, want, span = rep["bytes"], sent["bytes"], sent["seconds"]
        return {"modem": "sim7600", "baud": a.baud, "at_baud": rig.at_rate, "line_rate_Bps": a.baud / 10.0,
                "sent_frames": sent["frames"], "sent_bytes": want, "delivered_bytes": got,
                "delivered_fraction": got / float(want) if want else None,
                "missing_frames": rep["missing"], "in_order": rep["in_order"], "duplicates": rep["duplicates"],
                "split": rep["split"], "messages": rep["chunks"], "latency_ms": rep["latency_ms"],
                "seconds": span, "goodput_Bps": round(want / span, 1) if span else None,
                "goodput_of_line": round(want / span / (a.baud / 10.0), 4) if span else None,
                "counters": rig.counters()}
    finally:
        await rig.close()


async def downlink(a, out, d):
    """Two phases on one stack: the platform's application offering data at the
    line rate (a message every 1024 / (baud/10) s, each after the previous
    one's ACK), then as fast as the ACKs come (the terminal's port ring fills
    and the ACK withheld is the flow control: the platform's retransmission)."""
    pf = {"packet_timeout": a.down_retransmit} if a.down_retransmit else None
    rig = await Rig(out, "sim7600", a.baud, a.at_baud, platform=pf).start(d)
    try:
        st, meter_side = rig.st, rig.meter_side
        cur = [None]
        stop = asyncio.Event()

        async def reader():
            while not stop.is_set():
                try:
                    data = await asyncio.wait_for(meter_side.read(4096), 0.5)
                except asyncio.TimeoutError:
                    continue
                if cur[0] is not None:
                    cur[0].feed(data, time.time())
        rt = asyncio.create_task(reader())
        serial = bytes(st.term.serial).rstrip(b"\x00").decode()
        line = a.baud / 10.0

        async def phase(seconds, interval):
            recv = cur[0] = MT.Receiver()
            held0 = sum(1 for _, ev in rig.events if ev[0] == "bridge_held")
            t0 = time.monotonic()
            acks, sent, n = {}, 0, 0
            while time.monotonic() - t0 < seconds:
                if interval:
                    due = t0 + n * interval
                    if due > time.monotonic():
                        await asyncio.sleep(due - time.monotonic())
                f = MT.make_frame(n, DOWN_MESSAGE, time.time())
                ans = await st.op.data_send({"serial": serial, "data": f.hex(), "ec": EC})
                r = str(ans.get("result") if isinstance(ans, dict) else ans)
                acks[r] = acks.get(r, 0) + 1
                sent += len(f)
                n += 1
            t_sent = time.monotonic() - t0
            end = time.monotonic() + 30
            while recv.bytes < sent and time.monotonic() < end:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            cur[0] = None
            span = (recv.last - recv.first) if recv.first is not None else 0
            rep = recv.report(expected=n)
            held = sum(1 for _, ev in rig.events if ev[0] == "bridge_held") - held0
            return {"offered_Bps": round(DOWN_MESSAGE / interval, 1) if interval else None,
                    "sent_messages": n, "sent_bytes": sent, "received_bytes": recv.bytes,
                    "delivered_fraction": recv.bytes / float(sent) if sent else None,
                    "missing_frames": rep["missing"], "in_order": rep["in_order"], "duplicates": rep["duplicates"],
                    "garbage_bytes": rep["garbage_bytes"],
                    "seconds": round(span, 3), "platform_send_seconds": round(t_sent, 3),
                    "goodput_Bps": round(recv.bytes / span, 1) if span else None,
                    "goodput_of_line": round(recv.bytes / span / line, 4) if span else None,
                    "latency_ms": rep["latency_ms"], "acks": acks, "acks_withheld": held}
        seconds = a.down_seconds if a.down_seconds is not None else a.seconds
        paced = await phase(seconds, DOWN_MESSAGE / (line * a.down_offer))
        burst = await phase(a.down_burst, None) if a.down_burst > 0 else None
        stop.set()
        await rt
        return dict(paced, modem="sim7600", baud=a.baud, at_baud=rig.at_rate, line_rate_Bps=line,
                    port_ring=st.term._bridge.dsize, on_ack=burst,
                    platform_retransmit_s=st.pf.config.packet_timeout, counters=rig.counters())
    finally:
        await rig.close()


class FeedLog:
    """Wraps the terminal's bridge_feed (what DataPort calls) and notes the bearer
    in use for each chunk: a frame fed while the terminal is on SMS is cut at
    the SMS user-data limit (78 bytes, PROTOCOL.md 11), so one meter frame may
    be two bridge frames, and the counters 0x8001 count bridge frames."""

    def __init__(self, term):
        self.chunks = []            # (bytes, limit of the bearer then)
        self.inner = term.bridge_feed
        term.bridge_feed = self

    def __call__(self, data, now):
        t = self.inner.__self__.t
        self.chunks.append((len(data), SMS_FRAME if t._bearer == P.BEARER_SMS else PACKET_FRAME))
        return self.inner(data, now)

    def bridge_frames(self, frame_size):
        """The bridge frames the fed bytes made, meter frames of frame_size
        bytes each ending at a pause (the framing rule of PROTOCOL.md 11:
        a frame also ends at the limit of the bearer in use)."""
        n = olen = infr = 0
        for size, lim in self.chunks:
            while size:
                if olen >= lim:             # the bearer changed under the frame
                    n += 1
                    olen = 0
                k = min(size, lim - olen, frame_size - infr)
                olen += k
                infr += k
                size -= k
                if olen >= lim:
                    n += 1
                    olen = 0
                if infr == frame_size:      # the meter's pause ends it
                    if olen:
                        n += 1
                    olen = infr = 0
        return n + (1 if olen else 0)


def _arrivals(rows):
    """{meter seq: platform time} of the frames whole at the platform."""
    r = MT.Receiver()
    out = {}
    for row in rows:
        k = len(r.seqs)
        r.feed(bytes(row["data"]), row["time"])
        for s in r.seqs[k:]:
            out.setdefault(s, row["time"])
    return out


async def outage(a, out, d, buffer=None, name="outage"):
    """A packet outage while the meter sends; `buffer`: the bridge's uplink
    buffer (None: the board's default)."""
    rig = await Rig(out, "sim7600", a.baud, a.at_baud, buffer=buffer).start(d)
    try:
        st = rig.st
        feeds = FeedLog(st.term)
        period = 1.0 / a.outage_rate
        sender = MT.Sender(rig.meter_side, a.baud, 10, (a.outage_frame, a.outage_frame), 0.0, rate=a.outage_rate)
        count = int(round((a.lead + a.outage + a.tail) / period))
        task = asyncio.create_task(sender.run(count=count))
        seen = {"packet_down": False, "sms": False, "peak": 0}

        async def watch():
            while True:
                seen["packet_down"] |= bool(st.term.packet_down)
                seen["sms"] |= st.term._bearer == P.BEARER_SMS
                seen["peak"] = max(seen["peak"], st.term._bridge.used)
                await asyncio.sleep(0.05)
        w = asyncio.create_task(watch())
        await asyncio.sleep(a.lead)
        st.rig.emu.set_outage(True)
        sent_before = sender.sent
        await asyncio.sleep(a.outage)
        delivered_during = rig.delivered()["unique"] - sent_before
        st.rig.emu.set_outage(False)
        t_up, wall_up = time.monotonic(), time.time()
        sent_by_up = sender.sent
        await task
        sent = sender.report()
        # until every byte the meter sent is delivered or counted dropped, and the
        # platform has stored every frame the bridge counts as delivered
        end = time.monotonic() + a.drain_timeout
        while time.monotonic() < end:
            c = rig.counters()
            if (c["bytes_up"] + c["bytes_dropped"] >= sent["bytes"] and not st.term.bridge_busy()
                    and len(rig.rows()) >= c["frames_up"] and not st.term._txns):     # alarm traps too
                break
            await asyncio.sleep(0.2)
        t_done = time.monotonic()
        w.cancel()
        rows = rig.rows()
        rep = rig.delivered(sent["frames"])
        c = rig.counters()
        raised, cleared, order = rig.alarm_traps(OVERFLOW_ALARM)
        arr = _arrivals(rows)
        backlog = [t for s, t in arr.items() if s < sent_by_up]
        last_backlog = max(backlog) if backlog else None
        made = feeds.bridge_frames(a.outage_frame)
        lost_meter = sent["frames"] - rep["unique"]
        return {"modem": "sim7600", "scenario": name, "buffer": st.term._bridge.usize, "buffer_peak": seen["peak"],
                "outage_s": a.outage, "lead_s": a.lead, "tail_s": a.tail,
                "meter": "%d bytes x %.3g/s at %d baud" % (a.outage_frame, a.outage_rate, a.baud),
                "sent_frames": sent["frames"], "sent_bytes": sent["bytes"],
                "sent_before_outage": sent_before, "sent_by_recovery": sent_by_up,
                "delivered_during_outage": delivered_during,
                "delivered_frames": rep["unique"], "delivered_bytes": rep["bytes"],
                "missing_frames": rep["missing"], "missing_seqs": rep["missing_seqs"][:20],
                "in_order": rep["in_order"], "duplicates": rep["duplicates"],
                "split_at_sms_limit": rep["split"], "messages": rep["chunks"],
                "bridge_frames_made": made, "platform_rows": len(rows),
                "dropped_frames": c["frames_dropped"], "dropped_bytes": c["bytes_dropped"],
                "lost_meter_frames": lost_meter,
                # 0x8001: bytes dropped = sent - delivered; frames dropped = bridge frames
                # made - delivered (= meter frames lost while no frame was cut at the SMS limit)
                "drop_accounting_exact": (c["bytes_dropped"] == sent["bytes"] - rep["bytes"]
                                          and c["bytes_up"] == rep["bytes"] and c["frames_up"] == len(rows)
                                          and c["frames_dropped"] == made - len(rows)),
                "overflow_alarm_traps": raised, "overflow_alarm_cleared": cleared,
                "overflow_alarm_order": order, "platform_alarms_after": rig.platform_alarms(),
                "overflow_alarm_events": len(rig.bridge_events("overflow")),
                "bridge_events": sorted(set(ev[1] for ev in rig.bridge_events())),
                "drain_s": round(max(0.0, last_backlog - wall_up), 2) if last_backlog is not None else None,
                "all_settled_s": round(t_done - t_up, 2),
                "engine_packet_down_seen": seen["packet_down"], "engine_on_sms_seen": seen["sms"],
                "transparent_data_by_bearer": rig.uplink_bearers(),
                "counters": c, "state": st.term.state_name}
    finally:
        await rig.close()


async def bc95(a, out, d):
    """The drain rate of the NB-IoT link, then zero loss below it."""
    res = {"modem": "bc95", "baud": a.bc95_baud, "frame_size": a.bc95_frame}
    rate = None if a.bc95_rate else await _bc95_probe(a, out, _fresh(d, "probe"), res)
    if rate or a.bc95_rate:
        await _bc95_sustained(a, out, _fresh(d, "sustained"), res, a.bc95_rate or rate * a.bc95_margin)
    return res


async def _bc95_probe(a, out, d, res):
    """The drain rate: the meter at its line rate (frames back to back, a 150 ms
    gap) into a buffer that holds all of it; the platform's arrivals give the rate."""
    line = a.bc95_baud / 10.0
    big = int(a.bc95_probe * line * 1.2) + 4096
    rig = await Rig(out, "bc95", a.bc95_baud, buffer=big).start(d)
    try:
        res["at_baud"] = rig.at_rate
        res["udp_max"] = rig.st.rig.modem.udp_max
        sender = MT.Sender(rig.meter_side, a.bc95_baud, 10, (a.bc95_frame, a.bc95_frame), 0.15)
        await sender.run(duration=a.bc95_probe)
        sent = sender.report()
        await rig.wait_delivered(sent["frames"], a.bc95_probe * 3 + 30)
        rows = rig.rows()
        times = [r["time"] for r in rows]
        nbytes = [len(r["data"]) for r in rows]
        # steady state: from the first delivery to the last, the first frame's bytes excluded
        rate = None
        if len(times) >= 3 and times[-1] > times[0]:
            rate = sum(nbytes[1:]) / (times[-1] - times[0])
        rep = rig.delivered(sent["frames"])
        res["probe"] = {"seconds": a.bc95_probe, "sent_frames": sent["frames"], "sent_bytes": sent["bytes"],
                        "offered_Bps": round(sent["bytes"] / sent["seconds"], 1) if sent["seconds"] else None,
                        "delivered_frames": rep["unique"], "in_order": rep["in_order"],
                        "buffer": big, "dropped_frames": rig.counters()["frames_dropped"],
                        "drain_Bps": round(rate, 1) if rate else None}
        return rate
    finally:
        await rig.close()


async def _bc95_sustained(a, out, d, res, target):
    """Zero loss at `target` B/s, with the board's default buffer."""
    fps = target / a.bc95_frame
    rig = await Rig(out, "bc95", a.bc95_baud).start(d)
    try:
        sender = MT.Sender(rig.meter_side, a.bc95_baud, 10, (a.bc95_frame, a.bc95_frame), 0.15, rate=fps)
        peak = [0]

        async def watch():
            while True:
                peak[0] = max(peak[0], rig.st.term._bridge.used)
                await asyncio.sleep(0.05)
        w = asyncio.create_task(watch())
        await sender.run(duration=a.bc95_seconds)
        sent = sender.report()
        t_stop = time.monotonic()
        t_done = await rig.wait_delivered(sent["frames"], 60)
        w.cancel()
        rep = rig.delivered(sent["frames"])
        c = rig.counters()
        rows = rig.rows()
        lat = rep["latency_ms"]
        res["at_baud"] = rig.at_rate
        res["udp_max"] = rig.st.rig.modem.udp_max
        res["sustained"] = {"seconds": a.bc95_seconds, "sent_Bps": round(sent["bytes"] / sent["seconds"], 1),
                            "frames_per_s": round(fps, 3), "target_Bps": round(target, 1),
                            "sent_frames": sent["frames"], "sent_bytes": sent["bytes"],
                            "delivered_frames": rep["unique"], "delivered_bytes": rep["bytes"],
                            "missing_frames": rep["missing"], "in_order": rep["in_order"],
                            "duplicates": rep["duplicates"], "split": rep["split"],
                            "dropped_frames": c["frames_dropped"], "buffer": rig.st.term._bridge.usize,
                            "buffer_peak": peak[0], "late_starts": sent["late_starts"],
                            "drain_after_stop_s": round(t_done - t_stop, 2) if t_done else None,
                            "latency_ms": lat, "messages": len(rows)}
    finally:
        await rig.close()


RUNNERS = {"uplink": uplink, "downlink": downlink, "outage": outage,
           "overflow": lambda a, out, d: outage(a, out, d, buffer=a.small_buffer, name="overflow"),
           "bc95": bc95}


# == the report =======================================================================

def summary(res):
    rows = []

    def row(what, figure, target=""):
        rows.append((what, figure, target))
    u = res.get("uplink")
    if u:
        lat = u["latency_ms"] or {}
        row("uplink %d baud, %.0f s (SIM7600, AT %d)" % (u["baud"], u["seconds"], u["at_baud"]),
            "%s delivered, order %s, %d split, %d dup" % (_percent(u["delivered_fraction"]),
                                                         "kept" if u["in_order"] else "BROKEN", u["split"],
                                                         u["duplicates"]), "100 %")
        row("  goodput", "%.0f B/s = %s of line" % (u["goodput_Bps"] or 0, _percent(u["goodput_of_line"])), ">= 98 %")
        row("  latency last byte -> platform", "p50 %s ms, p99 %s ms" % (lat.get("p50"), lat.get("p99")),
            "<= gap + 50 ms")
    dn = res.get("downlink")
    if dn:
        row("downlink %d baud, %.0f s (paced port)" % (dn["baud"], dn["seconds"]),
            "%s delivered, order %s, %d dup" % (_percent(dn["delivered_fraction"]),
                                                "kept" if dn["in_order"] else "BROKEN", dn["duplicates"]), "100 %")
        row("  goodput", "%.0f B/s = %s of line" % (dn["goodput_Bps"] or 0, _percent(dn["goodput_of_line"])), "")
        row("  offered by the platform", "%.0f B/s, ACKs withheld %d of %d" % (
            dn["offered_Bps"] or 0, dn["acks_withheld"], dn["sent_messages"]), "")
        ob = dn.get("on_ack")
        if ob:
            row("downlink, platform sending on each ACK, %.0f s" % ob["platform_send_seconds"],
                "%s delivered, order %s, %d dup" % (_percent(ob["delivered_fraction"]),
                                                    "kept" if ob["in_order"] else "BROKEN", ob["duplicates"]), "")
            row("  goodput (ring %d B, retransmit %g s)" % (dn["port_ring"], dn["platform_retransmit_s"]),
                "%.0f B/s = %s of line, ACKs withheld %d of %d" % (
                    ob["goodput_Bps"] or 0, _percent(ob["goodput_of_line"]), ob["acks_withheld"],
                    ob["sent_messages"]), "")
    for key in ("outage", "overflow"):
        o = res.get(key)
        if not o:
            continue
        row("%s %.0f s, buffer %d B (peak %d), %s" % (key, o["outage_s"], o["buffer"], o["buffer_peak"],
                                                     o["meter"]),
            "meter frames sent %d, delivered %d, lost %d" % (o["sent_frames"], o["delivered_frames"],
                                                            o["lost_meter_frames"]),
            "all" if key == "outage" else "exact count")
        row("  0x8001 dropped frames / bytes", "%d / %d (bridge frames made %d, delivered %d): %s" % (
            o["dropped_frames"], o["dropped_bytes"], o["bridge_frames_made"], o["platform_rows"],
            "exact" if o["drop_accounting_exact"] else "WRONG"), "")
        row("  order / duplicates / cut at SMS limit", "%s / %d / %d (by bearer %s)" % (
            "kept" if o["in_order"] else "BROKEN", o["duplicates"], o["split_at_sms_limit"],
            ", ".join("%s %d" % kv for kv in sorted(o["transparent_data_by_bearer"].items()))), "")
        row("  alarm 0x0011 traps raised / cleared", "%d / %d%s" % (
            o["overflow_alarm_traps"], o["overflow_alarm_cleared"],
            " (platform order: %s)" % ", ".join(o["overflow_alarm_order"]) if o["overflow_alarm_order"] else ""),
            "0" if key == "outage" else "1")
        row("  backlog delivered after recovery", "%s s (all settled %s s)" % (o["drain_s"], o["all_settled_s"]), "")
    b = res.get("bc95")
    if b:
        p = b.get("probe") or {}
        row("bc95 drain rate (AT 9600, udp_max %s)" % b.get("udp_max"),
            "%s B/s, %s-byte frames" % (p.get("drain_Bps"), b["frame_size"]), "")
        s = b.get("sustained")
        if s:
            row("  sustained %.0f s, meter at %.0f B/s" % (s["seconds"], s["target_Bps"]),
                "sent %d, delivered %d, dropped %d, order %s" % (s["sent_frames"], s["delivered_frames"],
                                                                s["dropped_frames"],
                                                                "kept" if s["in_order"] else "BROKEN"),
                "zero loss")
            row("  buffer peak / latency p50 p99", "%d of %d B / %s ms %s ms" % (
                s["buffer_peak"], s["buffer"], (s["latency_ms"] or {}).get("p50"),
                (s["latency_ms"] or {}).get("p99")), "")
    w0 = max(len(r[0]) for r in rows) if rows else 0
    w1 = max(len(r[1]) for r in rows) if rows else 0
    lines = ["%-*s  %-*s  %s" % (w0, "bench-bridge", w1, "measured", "target"), "-" * (w0 + w1 + 12)]
    lines += ["%-*s  %-*s  %s" % (w0, r[0], w1, r[1], r[2]) for r in rows]
    return "\n".join(lines)


def parser():
    p = argparse.ArgumentParser(prog="bench-bridge", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=",".join(SCENARIOS),
                   help="scenarios to run, comma-separated: %s (default all)" % ", ".join(SCENARIOS))
    p.add_argument("--seconds", type=float, default=60.0, help="uplink duration (default 60)")
    p.add_argument("--down-seconds", type=float, default=None, help="downlink duration (default --seconds)")
    p.add_argument("--baud", type=int, default=115200, choices=DP.STANDARD_BAUDS,
                   help="the data port (meter) line rate through the SIM7600")
    p.add_argument("--at-baud", type=int, default=921600,
                   help="the AT UART rate the SIM7600 driver raises to with AT+IPR (115200: left as is)")
    p.add_argument("--frame-size", type=int, default=1024)
    p.add_argument("--gap-ms", type=int, default=0, help="pause after each meter frame (0: continuous)")
    p.add_argument("--down-offer", type=float, default=1.0,
                   help="downlink: the platform offers this fraction of the line rate (default 1.0)")
    p.add_argument("--down-burst", type=float, default=25.0,
                   help="downlink: s of the platform sending on each ACK, no pacing (0: not run)")
    p.add_argument("--down-retransmit", type=float, default=None,
                   help="downlink: the platform's retransmission time, s (default the platform's 10)")
    p.add_argument("--outage", type=float, default=60.0, help="packet outage, s (default 60)")
    p.add_argument("--lead", type=float, default=5.0, help="meter sending before the outage, s")
    p.add_argument("--tail", type=float, default=10.0, help="meter sending after the outage, s")
    p.add_argument("--outage-rate", type=float, default=1.0, help="meter frames per second in the outage runs")
    p.add_argument("--outage-frame", type=int, default=100, help="meter frame bytes in the outage runs")
    p.add_argument("--small-buffer", type=int, default=2048,
                   help="the bridge's uplink buffer in the overflow run (>= 1026)")
    p.add_argument("--drain-timeout", type=float, default=400.0,
                   help="s to wait for the backlog after an outage (the 0x002A back-off is up to 300 s)")
    p.add_argument("--bc95-baud", type=int, default=9600, choices=DP.STANDARD_BAUDS,
                   help="the meter's line rate in the BC95 run")
    p.add_argument("--bc95-frame", type=int, default=1000, help="meter frame bytes in the BC95 run")
    p.add_argument("--bc95-probe", type=float, default=30.0, help="s of meter at full rate to measure the drain rate")
    p.add_argument("--bc95-rate", type=float, default=None,
                   help="B/s the meter sends in the sustained BC95 run (default: --bc95-margin of the "
                        "drain rate measured first; given: no probe)")
    p.add_argument("--bc95-seconds", type=float, default=60.0, help="s at the sustained rate")
    p.add_argument("--bc95-margin", type=float, default=0.9, help="fraction of the drain rate sent (default 0.9)")
    p.add_argument("--json", default=os.path.join(ROOT, "build", "bench-bridge.json"))
    p.add_argument("--verbose", action="store_true", help="print the terminals' transcripts")
    return p


async def run(a, out):
    res = {}
    for name in a.scenarios:
        t0 = time.monotonic()
        print("bench-bridge: %s ..." % name, file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-bridge-") as d:
            res[name] = await RUNNERS[name](a, out, d)
        res[name]["run_seconds"] = round(time.monotonic() - t0, 1)
    return res


def options(argv=None):
    """The parsed and checked options (argparse exits on a bad one)."""
    p = parser()
    a = p.parse_args(argv)
    a.scenarios = [s.strip() for s in a.only.split(",") if s.strip()]
    bad = [s for s in a.scenarios if s not in SCENARIOS]
    if bad:
        p.error("unknown scenario %s (have: %s)" % (", ".join(bad), ", ".join(SCENARIOS)))
    if 1.0 / a.outage_rate - a.outage_frame * 10.0 / a.baud < 0.15:
        p.error("--outage-rate / --outage-frame: the meter's pause between frames must be at least "
                "150 ms (the bridge's frame gap is 100 ms)")
    if a.small_buffer < 1026:
        p.error("--small-buffer: the bridge keeps at least 1026 bytes")
    return a


def main(argv=None):
    a = options(argv)
    out = sys.stdout if a.verbose else io.StringIO()
    res = asyncio.run(run(a, out))
    print(json.dumps(res, indent=1, sort_keys=True))
    print(summary(res))
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
