"""`make bench-bridge`: the serial data bridge end to end, on loopback (issue 13,
docs/PROTOCOL.md 11).  Figures, not pass/fail: they go into the closing notes.

    emulated meter (wmmp-emu meter's Sender, on a pseudo-terminal at --baud)
      -> the terminal's data port (wmmp_tools.dataport.TtyStream + lib's DataPort)
      -> the engine's bridge (lib/wmmp/terminal/bridge.py)
      -> the SIM7600 driver over AT, the SIM7600 emulator PACED at 115200
      -> UDP loopback -> the platform simulator (application data stored per EC)
and back: `wmmp-platform data send`'s path (Operator.data_send) -> ... -> the
data port -> the meter's Receiver.

Uplink: frames of --frame-size bytes back to back with --gap-ms pauses for
--seconds; reported: bytes delivered / sent, order, frames split other than at
the gap, goodput against the line rate (baud/10 B/s for 8N1), latency from a
frame's last byte leaving the meter to the platform storing it (p50/p99).
Downlink: --down-bytes sent by the platform in 1024-byte messages, each after
the previous one's ACK (0x05); reported: bytes out of the data port, order,
goodput.

    .venv/bin/python bench/bridge.py [--seconds 60] [--baud 115200] [--frame-size 1024]
                                     [--gap-ms 100] [--down-bytes 65536] [--json FILE]
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
from wmmp_tools import dataport as DP  # noqa: E402
from wmmp_tools.emu import meter as MT  # noqa: E402

EC = "BENCH01"


class Bench:
    def __init__(self, args, out):
        self.a = args
        self.out = out
        self.port = None

    def _event(self, ev):
        if ev[0] == "bridge_down" and self.port is not None:
            self.port.kick()
        elif ev[0] == "data_port" and self.port is not None:
            self.port.configure(*ev[1:5])

    async def run(self, state_dir):
        a = self.a
        st = demo.Stack(state_dir, out=self.out, modem="sim7600", emu={"pace": True}, heartbeat=60,
                        driver={"fast_baud": a.at_baud} if a.at_baud != 115200 else None,
                        on_event=self._event)
        meter_side = DP.PtyStream().open()
        term_side = None
        try:
            # the terminal's data port: build the engine with it (what wmmp-term --data-port does)
            orig_build = demo.TERM.build

            def build(args, *x, **k):
                args.data_port = meter_side.path
                return orig_build(args, *x, **k)
            demo.TERM.build = build
            try:
                await st.start()
            finally:
                demo.TERM.build = orig_build
            st.term.params.set(0x0028, EC.encode())
            st.term.params.set(0x0101, b"\x00\x0a")                   # index 10: 115200
            st.term.params.set(0x0105, b"\x00\x01")                   # frame gap 100 ms
            term_side = DP.TtyStream(meter_side.path).open()
            self.port = DataPort(term_side, lambda: st.term, R.monotonic, st.runner.wake, lambda s: None)
            st.run()
            port_task = asyncio.create_task(self.port.run())
            t0 = time.monotonic()
            while st.term.state_name.lower() != "online":
                if time.monotonic() - t0 > 60:
                    raise SystemExit("bench-bridge: the terminal did not log in within 60 s")
                await asyncio.sleep(0.1)
            meter_side.configure(a.baud, 8, "N", 1)
            sp = st.rig.modem.speed
            if sp.rate != st.rig.emu.baud and a.at_baud != 115200:
                # Over a pseudo-terminal the emulator cannot see the host's rate, so a
                # driver that found it "answering at the fast rate" (AT unanswered
                # while it booted, then answered) skips AT+IPR: send it here so that
                # both ends run at the rate the driver believes in.
                await st.rig.modem.at.command("AT+IPR=%d" % sp.rate, timeout=2)
            self.at_rate = st.rig.emu.baud
            print("bench-bridge: AT UART at %d baud (module side %d)" % (sp.rate, st.rig.emu.baud),
                  file=sys.stderr)
            up = await self.uplink(st, meter_side)
            down = await self.downlink(st, meter_side)
            port_task.cancel()
            return {"uplink": up, "downlink": down, "baud": a.baud, "at_baud": self.at_rate, "line_rate_Bps": a.baud / 10.0,
                    "counters": list(st.term.bridge_counters() or ())}
        finally:
            await st.close()
            for s in (term_side, meter_side):
                if s is not None:
                    s.close()

    async def uplink(self, st, meter_side):
        a = self.a
        sender = MT.Sender(meter_side, a.baud, 10, (a.frame_size, a.frame_size), a.gap_ms / 1000.0)
        await sender.run(duration=a.seconds)
        sent = sender.report()
        want = sent["bytes"]
        t_end = time.monotonic() + 30
        rows = []
        while time.monotonic() < t_end:
            rows = st.pf.db.app_data(EC)
            if sum(len(r["data"]) for r in rows) >= want:
                break
            await asyncio.sleep(0.2)
        rep = MT.analyse([(r["time"], r["data"]) for r in rows], expected=sent["frames"])
        got = sum(len(r["data"]) for r in rows)
        span = sent["seconds"]
        return {"sent_frames": sent["frames"], "sent_bytes": want, "delivered_bytes": got,
                "delivered_fraction": got / float(want) if want else None,
                "missing_frames": rep["missing"], "in_order": rep["in_order"], "duplicates": rep["duplicates"],
                "split": rep["split"], "messages": rep["chunks"], "latency_ms": rep["latency_ms"],
                "seconds": span, "goodput_Bps": round(want / span, 1) if span else None,
                "goodput_of_line": round(want / span / (a.baud / 10.0), 4) if span else None}

    async def downlink(self, st, meter_side):
        a = self.a
        recv = MT.Receiver()
        stop = asyncio.Event()

        async def reader():
            while not stop.is_set():
                try:
                    data = await asyncio.wait_for(meter_side.read(4096), 0.5)
                except asyncio.TimeoutError:
                    continue
                recv.feed(data, time.time())
        rt = asyncio.create_task(reader())
        frames, sent = [], 0
        while sent < a.down_bytes:
            f = MT.make_frame(len(frames), 1024, time.time())
            frames.append(f)
            sent += len(f)
        serial = bytes(st.term.serial).rstrip(b"\x00").decode()
        t0 = time.monotonic()
        acks = []
        for i in range(len(frames)):
            f = MT.make_frame(i, 1024, time.time())
            ans = await st.op.data_send({"serial": serial, "data": f.hex(), "ec": EC})
            acks.append(ans.get("result") if isinstance(ans, dict) else ans)
        t_sent = time.monotonic() - t0
        end = time.monotonic() + 20
        while recv.bytes < sent and time.monotonic() < end:
            await asyncio.sleep(0.1)
        span = time.monotonic() - t0
        stop.set()
        await rt
        rep = recv.report(expected=len(frames))
        return {"sent_bytes": sent, "received_bytes": recv.bytes, "missing_frames": rep["missing"],
                "in_order": rep["in_order"], "duplicates": rep["duplicates"], "seconds": round(span, 3),
                "platform_send_seconds": round(t_sent, 3),
                "goodput_Bps": round(recv.bytes / span, 1) if span else None,
                "goodput_of_line": round(recv.bytes / span / (a.baud / 10.0), 4) if span else None,
                "acks": sorted(set(str(x) for x in acks))}


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench-bridge", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--baud", type=int, default=115200, help="the data port (meter) line rate")
    p.add_argument("--at-baud", type=int, default=921600,
                   help="the AT UART rate the SIM7600 driver raises to with AT+IPR (115200: left as is)")
    p.add_argument("--frame-size", type=int, default=1024)
    p.add_argument("--gap-ms", type=int, default=0, help="pause after each meter frame (0: continuous)")
    p.add_argument("--down-bytes", type=int, default=65536)
    p.add_argument("--json", default=os.path.join(ROOT, "build", "bench-bridge.json"))
    p.add_argument("--verbose", action="store_true", help="print the terminal's transcript")
    a = p.parse_args(argv)
    out = sys.stdout if a.verbose else io.StringIO()
    with tempfile.TemporaryDirectory(prefix="bench-bridge-") as d:
        res = asyncio.run(Bench(a, out).run(d))
    print(json.dumps(res, indent=1, sort_keys=True))
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
