"""`make bench-ota`: the over-the-air updater measured end to end on loopback
(issue 14, docs/PROTOCOL.md 12).  Figures, not pass/fail (targets are reported
as met or not).

    platform simulator (upgrade publish + push: DOWNLOAD_INFO, FILE_REQ server)
      -> UDP loopback -> the SIM7600 emulator, SHAPED (--rtt, --loss, optional
         --bandwidth: wmmp_tools.emu.netsock.LinkShaper) and PACED (AT UART at
         --at-baud, raised by the driver's fast_baud with AT+IPR)
      -> the SIM7600 driver over AT -> the engine (lib/wmmp/terminal/download.py,
         filereq.py: the FILE_REQ window, profile file_window)
      -> the board's stager (wmmp.board.ota.AppStager over the host filesystem:
         every block flushed, the resume record written, the SHA-256 checked
         when the whole file is in, read back from the disk)

Scenarios (--only NAME,...):
  transfer   a --kb KB update file (72-byte header + "mpy-app" payload) for every
             window of --windows and loss of --losses: time from the push to
             "upgrade_ready", goodput (file bytes / time), and goodput as a
             fraction of the ceiling = block / (block + overhead) x link rate,
             overhead per block = FILE_REQ_ACK header 28 + fixed part 13 +
             digest TLV 20 + UDP header 8; link rate = --bandwidth (default
             20000 B/s, 160 kbit/s: a cellular IoT radio of the Cat-M1 / EDGE
             class, the links these terminals sit on), or with --bandwidth 0
             the AT UART the data must cross, --at-baud / 10 B/s (8N1).  At 300
             ms RTT a window of 8 x 1439-byte blocks carries at most 38 KB/s,
             so the 85 % target can only hold where the radio is slower than
             that; against the 92 KB/s UART window 8 reaches about 32 %.
             Also: blocks the platform served more than once, datagrams the
             shaper dropped.  Targets: window 8 >= 85 % of the ceiling at 0 %
             loss, >= 70 % at 5 % loss.
  linkloss   window --int-window, no loss: at --at of the file the packet
             network goes (emulator set_outage) for --outage s, then comes back;
             blocks fetched again (served by the platform more than once).
             Target <= 1.
  reboot     the same, but at --at the terminal is rebooted: its runner stopped,
             a NEW Terminal built from the same state directory (parameters
             read back from storage) with a NEW AppStager over the same staging
             directory (the resume record read back); blocks fetched again.

Every run checks the image: the staged file equals the published one, the
stager's own check (header, SHA-256, read back) passed, the platform recorded
"downloaded".

    .venv/bin/python bench/ota.py [--only transfer,linkloss,reboot] [--kb 256]
        [--rtt 0.3] [--losses 0,0.05] [--windows 1,8] [--bandwidth 20000]
        [--at-baud 921600] [--outage 15] [--at 0.4] [--json FILE]
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
from wmmp.board import ota as OTA  # noqa: E402
from wmmp.board.fsio import OsFS  # noqa: E402
from wmmp.terminal import engine as E, filereq as FR  # noqa: E402
from wmmp.wire import commands as C, header as H  # noqa: E402
from wmmp.wire.digest import DIGEST_TLV_SIZE  # noqa: E402
from wmmp_tools import mkupdate  # noqa: E402
from wmmp_tools.platform import upgrade as PU  # noqa: E402

SCENARIOS = ("transfer", "linkloss", "reboot")
BOARD = "host"
VERSION = "BENCH2"
UDP_HEADER = 8
TARGETS = {0.0: 0.85, 0.05: 0.70}       # window 8: fraction of the ceiling


def image(size, seed=11):
    """An update file of exactly `size` bytes: header + one-entry mpy-app archive."""
    entry_over = 1 + len("app.mpy") + 4
    n = size - 72 - entry_over
    if n < 1:
        raise ValueError("image too small")
    body = bytes(((i * seed) ^ (i >> 8) ^ (i >> 16)) & 0xFF for i in range(n))
    data = mkupdate.build(BOARD, VERSION, "mpy-app", [("app.mpy", body)])
    assert len(data) == size, (len(data), size)
    return data


class Served:
    """Every block the platform's FILE_REQ server hands out (upgrade.progress
    wrapped): [(monotonic, trans_id, start, end)]."""

    def __init__(self):
        self.blocks = []
        self._orig = None

    def __enter__(self):
        self._orig = orig = PU.progress

        def progress(pf, tr, end, nbytes):
            self.blocks.append((time.monotonic(), tr["trans_id"], end - nbytes, end))
            return orig(pf, tr, end, nbytes)
        PU.progress = progress
        return self

    def __exit__(self, *exc):
        PU.progress = self._orig

    def again(self, since=0.0):
        """Blocks served more than once (same read point), counting those served after `since`."""
        seen = set()
        n = 0
        for t, tid, start, end in self.blocks:
            key = (tid, start)
            if key in seen and t >= since:
                n += 1
            seen.add(key)
        return n


    def again_written(self, since, written):
        """Of those, blocks that start below `written` (bytes the terminal had
        durably written at the cut): data it already had, fetched again.  The
        rest were in flight at the cut (requested, maybe answered, never
        received or never written) and must be fetched again."""
        seen = set()
        n = 0
        for t, tid, start, end in self.blocks:
            key = (tid, start)
            if key in seen and t >= since and start < written:
                n += 1
            seen.add(key)
        return n


class Rig:
    """One stack: SMS centre, platform, SIM7600 emulator (shaped, paced) and
    driver, the terminal with an AppStager (Config.stager) and file_window."""

    def __init__(self, a, out, d, window, loss):
        self.a = a
        self.out = out
        self.d = d
        self.window = window
        self.loss = loss
        self.events = []
        self.args = None
        self.st = None
        self.stage_dir = os.path.join(d, "ota")

    def _event(self, ev):
        self.events.append((time.monotonic(), ev))

    def seen(self, name):
        return [(t, ev) for t, ev in self.events if ev[0] == name]

    def _build(self, orig):
        """TERM.build with the board's stager set before the Terminal is made
        (what a board with an updater does: cfg.stager), the args kept."""
        rig = self

        def build(args, *x, **k):
            rig.args = args
            rig.stager = OTA.AppStager(OsFS(), rig.stage_dir, BOARD, capacity=16 << 20)
            E.Config.stager = rig.stager
            try:
                term, runner = orig(args, *x, **k)
            finally:
                del E.Config.stager
            term.cfg.stager = rig.stager                # read at run time too
            term.profile.file_window = rig.window       # profile file_window (PROTOCOL.md 12)
            if rig.a.hold:
                term.cfg.upgrade_hold = rig.a.hold      # bytes held ahead of a lost block
            return term, runner
        return build

    async def start(self):
        a = self.a
        state = os.path.join(self.d, "state")
        os.makedirs(state)
        emu = {"rtt": a.rtt, "loss": 0.0, "pace": True}
        if a.bandwidth:
            emu["bandwidth"] = a.bandwidth
        driver = {"fast_baud": a.at_baud} if a.at_baud != 115200 else None
        self.st = st = demo.Stack(state, out=self.out, modem="sim7600", emu=emu, driver=driver, heartbeat=60,
                                  on_event=self._event)
        orig = demo.TERM.build
        demo.TERM.build = self._build(orig)
        try:
            await st.start()
        finally:
            demo.TERM.build = orig
        st.run()
        await self.online(90)
        sp = st.rig.modem.speed
        if sp.rate != st.rig.emu.baud and a.at_baud != 115200:
            # as bench/bridge.py: over a pty the emulator cannot see the host's rate
            await st.rig.modem.at.command("AT+IPR=%d" % sp.rate, timeout=2)
        self.at_rate = st.rig.emu.baud
        self.serial = bytes(st.term.serial).rstrip(b"\x00").decode()
        return self

    async def online(self, timeout):
        t0 = time.monotonic()
        while self.st.term.state != E.S_ONLINE:
            if time.monotonic() - t0 > timeout:
                raise RuntimeError("bench-ota: the terminal did not log in within %d s" % timeout)
            await asyncio.sleep(0.05)

    async def reboot(self):
        """A new Terminal (and runner) from the same state directory and staging
        directory, on the same modem and bearers: what a board's reset does to
        the engine (the module stays up)."""
        st = self.st
        old = st.runner
        old.stop()
        await asyncio.sleep(0.05)
        st.task.cancel()
        try:
            await st.task
        except BaseException:
            pass
        build = self._build(demo.TERM.build)
        st.term, st.runner = build(self.args, st.tr, on_event=self._event, bearers=old.bearers,
                                   sim=st.rig.modem)
        st.run()

    async def close(self):
        if self.st is not None:
            await self.st.close()


def ceiling(block, a, at_rate):
    over = H.HEADER_SIZE + C.fixed_size(C.FILE_REQ_ACK) + DIGEST_TLV_SIZE + UDP_HEADER
    if a.bandwidth:
        rate, what = float(a.bandwidth), "emulator bandwidth %d B/s" % a.bandwidth
    else:
        rate, what = at_rate / 10.0, "AT UART %d baud / 10 = %d B/s" % (at_rate, at_rate // 10)
    return block * rate / (block + over), over, rate, what


async def transfer(a, out, d, window, loss, interrupt=None, data=None):
    """One download of the image; `interrupt` None, "linkloss" or "reboot"
    (at --at of the file).  A dict of figures."""
    data = data if data is not None else image(a.kb * 1024)
    rig = Rig(a, out, d, window, loss)
    res = {"window": window, "loss": loss, "rtt": a.rtt, "size": len(data), "interrupt": interrupt}
    with Served() as served:
        try:
            await rig.start()
            st = rig.st
            await st.op.upgrade_publish({"data": data.hex(), "version": VERSION, "name": "bench.wup"})
            if loss:
                st.rig.emu.shape(loss=loss)
            shaper = st.rig.emu.shaper
            lost0 = shaper.lost
            t0 = time.monotonic()
            ans = await st.op.upgrade_push({"serial": rig.serial})
            res["download_info_ack"] = ans.get("result")
            if ans.get("result") != 0x01:
                raise RuntimeError("DOWNLOAD_INFO_ACK 0x%02X" % (ans.get("result") or 0))
            tid = ans["upgrade"]["trans_id"]
            res["block"] = FR.block_size(st.term)
            cut_t = None
            deadline = t0 + a.timeout
            while not rig.seen("upgrade_ready") and not rig.seen("upgrade_failed"):
                if time.monotonic() > deadline:
                    raise RuntimeError("no upgrade_ready within %d s (written %s)"
                                       % (a.timeout, (st.term.upgrade_state() or {}).get("written")))
                s = st.term.upgrade_state()
                if interrupt and cut_t is None and s and s["written"] >= a.at * len(data):
                    cut_t = time.monotonic()
                    res["cut_at_bytes"] = s["written"]
                    res["outstanding_at_cut"] = s["outstanding"]
                    if interrupt == "linkloss":
                        st.rig.emu.set_outage(True)
                        await asyncio.sleep(a.outage)
                        st.rig.emu.set_outage(False)
                        res["outage_s"] = a.outage
                    else:
                        await rig.reboot()
                    back = time.monotonic()
                    res["resumed_from"] = None
                    while True:
                        s = st.term.upgrade_state()
                        if rig.seen("upgrade_ready") or (s and s["written"] > res["cut_at_bytes"]):
                            break
                        if time.monotonic() > deadline:
                            break
                        await asyncio.sleep(0.05)
                    res["recovery_s"] = round(time.monotonic() - back, 2)
                    ev = rig.seen("upgrade_resume")
                    if ev:
                        res["resumed_from"] = ev[-1][1][2]
                await asyncio.sleep(0.02)
            t1 = (rig.seen("upgrade_ready") or rig.seen("upgrade_failed"))[0][0]
            ok = bool(rig.seen("upgrade_ready"))
            res["failed"] = None if ok else rig.seen("upgrade_failed")[0][1][2]
            res["seconds"] = round(t1 - t0, 2)
            res["goodput_Bps"] = round(len(data) / (t1 - t0), 1)
            ceil, over, rate, what = ceiling(res["block"], a, rig.at_rate)
            res.update({"ceiling_Bps": round(ceil, 1), "overhead_per_block": over, "link_rate_Bps": rate,
                        "link_rate_is": what})
            res["of_ceiling"] = round(res["goodput_Bps"] / ceil, 4)
            res["dropped_datagrams"] = shaper.lost - lost0
            res["served_blocks"] = sum(1 for b in served.blocks if b[1] == tid)
            res["unique_blocks"] = len({b[2] for b in served.blocks if b[1] == tid})
            res["fetched_again"] = served.again()
            res["fetched_again_after_cut"] = served.again(cut_t) if cut_t is not None else None
            res["written_fetched_again_after_cut"] = (served.again_written(cut_t, res["cut_at_bytes"])
                                                      if cut_t is not None else None)
            with open(os.path.join(rig.stage_dir, "dl.img"), "rb") as f:
                staged = f.read()
            res["staged_equal"] = staged == data
            row = st.pf.db.upgrade(tid)
            res["platform_state"] = row["state"]
            res["verified"] = bool(ok and res["staged_equal"] and row["state"] == "downloaded")
            res["stalls"] = len(rig.seen("upgrade_stall"))
            res["bad_blocks"] = len(rig.seen("upgrade_bad_block"))
        finally:
            await rig.close()
    return res


# == the report =======================================================================

def _pct(x):
    return "-" if x is None else "%.1f %%" % (100.0 * x)


def summary(res):
    rows = []
    for r in res.get("transfer", []):
        tgt = ""
        if r["window"] == 8 and r["loss"] in TARGETS:
            t = TARGETS[r["loss"]]
            tgt = ">= %d %%: %s" % (t * 100, "met" if r["of_ceiling"] >= t else "NOT met")
        rows.append(("%d KB, RTT %d ms, loss %g %%, window %d" % (r["size"] // 1024, r["rtt"] * 1000,
                                                                 r["loss"] * 100, r["window"]),
                     "%.1f s, %.0f B/s = %s of ceiling %.0f B/s%s; again %d, dropped %d%s" % (
                         r["seconds"], r["goodput_Bps"], _pct(r["of_ceiling"]), r["ceiling_Bps"],
                         "" if r["verified"] else " (NOT VERIFIED)", r["fetched_again"],
                         r["dropped_datagrams"], ", stalls %d" % r["stalls"] if r["stalls"] else ""),
                     tgt))
    for key in ("linkloss", "reboot"):
        r = res.get(key)
        if not r:
            continue
        what = "link loss %g s" % r.get("outage_s", 0) if key == "linkloss" else "reboot (new Terminal, new stager)"
        n = r.get("written_fetched_again_after_cut")
        rows.append(("%s at %d B, window %d" % (what, r.get("cut_at_bytes") or 0, r["window"]),
                     "written blocks fetched again %s; all re-served %s (in flight at the cut %s), "
                     "resumed from %s, back in %s s, total %.1f s%s" % (
                         n, r["fetched_again_after_cut"], r.get("outstanding_at_cut"), r.get("resumed_from"),
                                         r.get("recovery_s"), r["seconds"], "" if r["verified"] else
                                         " (NOT VERIFIED)"),
                     "<= 1: %s" % ("met" if n is not None and n <= 1 else "NOT met")))
    t = res.get("transfer") or [None]
    if t[0]:
        rows.append(("ceiling", "block %d B / (block + %d B overhead) x %s" % (
            t[0]["block"], t[0]["overhead_per_block"], t[0]["link_rate_is"]), ""))
    if not rows:
        return ""
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = ["%-*s  %-*s  %s" % (w0, "bench-ota", w1, "measured", "target"), "-" * (w0 + w1 + 14)]
    lines += ["%-*s  %-*s  %s" % (w0, r[0], w1, r[1], r[2]) for r in rows]
    return "\n".join(lines)


def parser():
    p = argparse.ArgumentParser(prog="bench-ota", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=",".join(SCENARIOS), help="scenarios: %s" % ", ".join(SCENARIOS))
    p.add_argument("--kb", type=int, default=256, help="update file size, KB (default 256)")
    p.add_argument("--rtt", type=float, default=0.3, help="round-trip time, s (default 0.3)")
    p.add_argument("--losses", default="0,0.05", help="loss rates (each direction), comma-separated")
    p.add_argument("--windows", default="1,8", help="file_window values, comma-separated")
    p.add_argument("--bandwidth", type=int, default=20000,
                   help="emulator link bandwidth, B/s (0: none; the ceiling is then the AT UART)")
    p.add_argument("--at-baud", type=int, default=921600, help="AT UART rate (driver fast_baud)")
    p.add_argument("--hold", type=int, default=0,
                   help="Config.upgrade_hold, bytes held ahead of a lost block (default: the engine's)")
    p.add_argument("--int-window", type=int, default=8, help="window of the interruption runs")
    p.add_argument("--outage", type=float, default=15.0, help="link loss duration, s")
    p.add_argument("--at", type=float, default=0.4, help="fraction of the file at which to interrupt")
    p.add_argument("--timeout", type=float, default=900.0, help="s per download before giving up")
    p.add_argument("--mp", action="store_true", default=True, help=argparse.SUPPRESS)
    p.add_argument("--no-mp", dest="mp", action="store_false",
                   help="skip the MicroPython figures (bench/mp_ota.py)")
    p.add_argument("--json", default=os.path.join(ROOT, "build", "bench-ota.json"))
    p.add_argument("--verbose", action="store_true", help="print the terminals' transcripts")
    return p


def options(argv=None):
    p = parser()
    a = p.parse_args(argv)
    a.scenarios = [s.strip() for s in a.only.split(",") if s.strip()]
    bad = [s for s in a.scenarios if s not in SCENARIOS]
    if bad:
        p.error("unknown scenario %s" % ", ".join(bad))
    a.loss_list = [float(x) for x in a.losses.split(",") if x.strip()]
    a.window_list = [int(x) for x in a.windows.split(",") if x.strip()]
    return a


async def run(a, out):
    res = {}
    data = image(a.kb * 1024)
    for name in a.scenarios:
        if name == "transfer":
            res["transfer"] = []
            for loss in a.loss_list:
                for w in a.window_list:
                    print("bench-ota: %d KB window %d loss %g ..." % (a.kb, w, loss), file=sys.stderr, flush=True)
                    with tempfile.TemporaryDirectory(prefix="bench-ota-") as d:
                        res["transfer"].append(await transfer(a, out, d, w, loss, data=data))
        else:
            print("bench-ota: %s ..." % name, file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory(prefix="bench-ota-") as d:
                res[name] = await transfer(a, out, d, a.int_window, 0.0, interrupt=name, data=data)
    return res


def micropython():
    """bench/mp_ota.py's figures (it prints them and a JSON line MPOTA {...})."""
    import subprocess
    p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "mp_ota.py")], capture_output=True,
                       text=True, timeout=1800)
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr[-3000:])
    for line in p.stdout.splitlines():
        if line.startswith("MPOTA "):
            return json.loads(line[6:])
    return {"error": "bench/mp_ota.py exit %d" % p.returncode}


def main(argv=None):
    a = options(argv)
    out = sys.stdout if a.verbose else io.StringIO()
    res = asyncio.run(run(a, out))
    if a.mp:
        res["micropython"] = micropython()
    print(json.dumps(res, indent=1, sort_keys=True))
    print(summary(res))
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
