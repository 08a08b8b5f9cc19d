"""And-link FOTA through the BC95 at NB-IoT rates: one firmware package
pulled block by block (RFC 7959 Block2, And-link spec 4.4) by the board's
And-link runner (lib/andlink/board, on wmmp.board.device with PROTOCOLS
("andlink",)) through the BC95 emulator's radio link, SHAPED
(wmmp_tools.emu.netsock.LinkShaper: --rtt, --loss, --bandwidth), from the
And-link platform simulator's file server, into the board's AppStager
(every block flushed to disk, the resume record written, the SHA-256 checked
at the end); then the platform's Execute, the restart in place, the new
version registering (result 1).  Figures, not pass/fail, plus the checks of
"ok" (the exit status): the download completes (state 2 reached, every block
served), is never restarted (block 0 served once, no block number going back
more than one), and blocks fetched again <= datagrams lost.  The platform's
verdict on the whole flow is printed beside it ("outcome").

    .venv/bin/python bench/andlink_bc95.py [--kb 1024] [--rtt 1.5] [--loss 0.10]
        [--bandwidth 3000] [--block 512] [--at-baud 0] [--seed 1] [--pmax 600] [--real]
        [--json FILE]

Defaults and why:
  --rtt 1.5 s        NB-IoT in normal coverage (ECL 0): the scheduling of
                     NPDCCH/NPDSCH and HARQ makes a round trip 1-2 s; deep
                     coverage (ECL 2, repetitions) is several times longer.
  --bandwidth 3000   B/s both ways, 24 kbit/s: Cat-NB1's single-process
                     downlink peaks near 26 kbit/s at the physical layer, so a
                     few KB/s of UDP payload is what an application sees.
  --loss 0.10        10 % of the datagrams dropped, each direction.
  --block 512        section 3.4's PREFERRED_BLOCK_SIZE (1024 is the largest).
  --pmax 600         the platform observes /5/0/3 with this pmax during the
                     flow (its own default is 10 s).  Object 5's notifications
                     are CON, and one that times out ends the observation (RFC
                     7641 4.5): at 10 % loss a CON exchange fails 0.19^4 of the
                     time within MAX_TRANSMIT_WAIT, so 900 notifications of a
                     2.5-hour download at pmax 10 end both observations of
                     /5/0/3 about half the time, and the platform then never
                     hears state 2 (it ends the flow as stalled).
  --kb 1024          1 MB, the task's package.  At 1.5 s a block it is
                     ~1.8 hours of NB-IoT time: the run uses VIRTUAL TIME (an
                     asyncio loop whose clock jumps to its next timer whenever
                     nothing is ready: every timer of the client, the
                     emulator's link shaping, the platform's CoAP stack runs
                     at its true time, the computer's own work adds to it), so
                     it takes about a minute.  --real runs in wall-clock time
                     (use a small --kb).  The CoAP parameters are section 3.4's
                     (ACK_TIMEOUT 5 s, x1.5, 4 retransmissions).
  --at-baud 0        the AT UART is not paced (a module at 115200 or more does
                     not limit a 3 KB/s link); --at-baud 9600 paces it at the
                     BC95's default rate: the hex of AT+NSORF (two characters
                     a byte) adds about 1.2 s of line time to every 512-byte
                     block, on top of the round trip.

The ceiling: a block's goodput at best is block / (block + overhead) x link
rate, overhead = the CoAP header and options of a block response (measured:
what the shaper carried down per block, less the block); and since Block2
is lock-step (one block per round trip), the time-bound figure is block /
(RTT + (response + request) / rate).  Both are printed with the measured
goodput, then one line `ANDLINK_BC95 {json}`.
"""

import argparse
import asyncio
import hashlib
import json
import os
import random
import selectors
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")]

from wmmp.board import device, ota  # noqa: E402
from wmmp.board import otaimage as I  # noqa: E402
from wmmp.board.fsio import OsFS  # noqa: E402
from wmmp.terminal.simcard import SimulatedSim  # noqa: E402
from andlink_tools.fota import Policy  # noqa: E402
from andlink_tools.platform import Config, Platform  # noqa: E402
from wmmp_tools.emu.bc95 import Bc95 as Bc95Emu  # noqa: E402
from wmmp_tools.emu.stream import HostPort  # noqa: E402

IMEI, IMSI, ICCID = "869976032983322", "460001234567890", "89860012345678901234"
DEVICE_TYPE, TOKEN = "590001", "pt-4f1c9a7e2b"
VERSION = "2.0.0"


# == virtual time ======================================================================

class _WarpSelector(selectors.BaseSelector):
    """The loop's selector: nothing ready and no work in another thread -> the
    loop's clock jumps by the timeout instead of waiting."""

    def __init__(self, loop):
        self.sel = selectors.DefaultSelector()
        self.loop = loop

    def register(self, fileobj, events, data=None):
        return self.sel.register(fileobj, events, data)

    def unregister(self, fileobj):
        return self.sel.unregister(fileobj)

    def modify(self, fileobj, events, data=None):
        return self.sel.modify(fileobj, events, data)

    def get_key(self, fileobj):
        return self.sel.get_key(fileobj)

    def get_map(self):
        return self.sel.get_map()

    def close(self):
        self.sel.close()

    def select(self, timeout=None):
        ready = self.sel.select(0)
        if ready or timeout == 0:
            return ready
        if self.loop.threads or timeout is None:
            return self.sel.select(timeout)     # a resolver thread (or nothing scheduled): real time
        self.loop.skew += timeout
        self.loop.jumps += 1
        return []


class WarpLoop(asyncio.SelectorEventLoop):
    def __init__(self):
        self.skew = 0.0
        self.jumps = 0
        self.threads = 0
        super().__init__(_WarpSelector(self))

    def time(self):
        return time.monotonic() + self.skew

    def run_in_executor(self, executor, func, *args):
        self.threads += 1
        fut = super().run_in_executor(executor, func, *args)

        def done(_):
            self.threads -= 1
        fut.add_done_callback(done)
        return fut


# == the device ========================================================================

def update_file(size, version=VERSION, seed=7):
    """An AppStager update file of exactly `size` bytes (header + one archive entry)."""
    over = I.HEADER + len(I.archive_entry("app.py", b""))
    rnd = random.Random(seed)
    payload = bytes(rnd.getrandbits(8) for _ in range(size - over))
    body = I.archive_entry("app.py", payload)
    data = I.build_header("host", version, "mpy-app", len(body), hashlib.sha256(body).digest()) + body
    assert len(data) == size
    return data


class Board:
    MODEM = "bc95"
    PROTOCOLS = ("andlink",)
    PRODUCTION = False
    RADIO_PERIOD = 0
    FIRMWARE = "mcu-1.0.0"
    OTA_HEALTH_S = 3600
    MODEM_OPTIONS = {"attach_poll": 0.2}

    def __init__(self, emu, tmp, andlink, clock, capacity):
        self.ANDLINK = andlink
        self.STATE_DIR = os.path.join(tmp, "state")
        self.ota_dir = os.path.join(tmp, "ota")
        self.port = HostPort(emu)
        self.clock = clock
        self.capacity = capacity
        self.logs = []
        self.events = []

    def modem_stream(self):
        return self.port

    def filesystem(self):
        return OsFS()

    def log(self, text):
        self.logs.append((self.clock(), text))

    def battery(self):
        return 90

    def memory(self):
        return 150000, 262144

    def on_andlink_event(self, ev):
        self.events.append((self.clock(), ev))

    def ota_stager(self):
        return ota.AppStager(OsFS(), self.ota_dir, "host", capacity=self.capacity)


async def until(loop, cond, limit, what):
    end = loop.time() + limit
    while not cond():
        if loop.time() > end:
            raise TimeoutError("no %s within %s s" % (what, limit))
        await asyncio.sleep(0.5)


async def bench(a, tmp):
    loop = asyncio.get_running_loop()
    size = a.kb * 1024
    pf = await Platform(Config(coap=("127.0.0.1", 0), products={DEVICE_TYPE: TOKEN}, block_size=a.block,
                               policy=Policy(stall=3 * a.pmax, download=10 * 86400.0, update=900.0,
                                             pmax=a.pmax))).start()
    emu = Bc95Emu(SimulatedSim(IMSI, ICCID, IMEI, pin="1234", pin_enabled=False), pace=bool(a.at_baud),
                  baud=a.at_baud or 9600)
    await emu.start()
    emu.shape(rtt=a.rtt, loss=a.loss, bandwidth=a.bandwidth, seed=a.seed)
    sizes = {0: [], 1: []}
    shaper = emu.shaper
    datagram = shaper.datagram

    def counted(direction, data, deliver):
        sizes[direction].append(len(data))
        return datagram(direction, data, deliver)
    shaper.datagram = counted
    s = {"server": "coap://127.0.0.1:%d" % pf.coap_address[1], "product_token": TOKEN, "device_type": DEVICE_TYPE,
         "binding": "U", "lifetime": 86400, "coap": {"block_size": a.block}}
    board = Board(emu, tmp, s, loop.time, 2 * size + 65536)
    dev = device.Device(board)
    task = asyncio.ensure_future(dev.run())
    t0 = loop.time()
    res = {}
    try:
        await until(loop, lambda: dev.andlink is not None and dev.andlink.runner is not None
                    and dev.andlink.runner.client is not None and dev.andlink.runner.client.registered,
                    3600, "registration")
        d = pf.registry.devices[IMEI]
        await until(loop, lambda: d.auth.get("state") == "ok" and len(d.observations) >= 3, 3600,
                    "the platform's registration reads")
        t_reg = loop.time() - t0
        pkg = pf.packages.publish(update_file(size), VERSION, "mcu.bin")
        served = []
        serve = pf.packages.serve

        def counting(request):
            b2 = request.opt.block2
            served.append((loop.time(), b2.block_number if b2 is not None else 0))
            return serve(request)
        pf.packages.serve = counting
        lost0, down0 = shaper.lost, len(sizes[1])
        t_push = loop.time()
        wall0 = time.monotonic()
        rec = await pf.fota.push(d, pkg, sota=True)
        await until(loop, lambda: rec.state not in ("subscribing", "uri-written", "downloading", "downloaded",
                                                    "updating", "checking"), 10 * 86400, "the FOTA's end")
        wall = time.monotonic() - wall0
        t_end = loop.time()
        done = [t for t, ev in board.events if ev[:2] == ("fota", "downloaded")]
        t_first = served[0][0] if served else t_push
        t_dl = (done[0] - t_first) if done else None
        blocks = -(-size // a.block)
        nums = [n for _, n in served]
        resp = [n for n in sizes[1][down0:] if n > a.block // 2]
        overhead = (sum(resp) / len(resp) - a.block) if resp else 0.0
        req = sorted(sizes[0])[len(sizes[0]) // 2] if sizes[0] else 0
        ceiling = a.block / (a.block + overhead) * a.bandwidth
        lockstep = a.block / (a.rtt + (a.block + overhead + req) / a.bandwidth)
        lost = shaper.lost - lost0
        again = len(served) - blocks
        goodput = size / t_dl if t_dl else 0.0
        st = dev.andlink.runner.client.fota_state()
        res = {"kb": a.kb, "block": a.block, "pmax": a.pmax, "rtt": a.rtt, "loss": a.loss, "bandwidth": a.bandwidth,
               "at_baud": a.at_baud, "seed": a.seed, "virtual_time": not a.real,
               "outcome": rec.state, "reason": rec.reason, "fota_state": list(st) if st else None,
               "blocks": blocks, "served": len(served), "fetched_again": again, "datagrams_lost": lost,
               "restarted": nums.count(0) > 1 or any(y < x - 1 for x, y in zip(nums, nums[1:])),
               "complete": sorted(set(nums)) == list(range(blocks)),
               "registration_s": round(t_reg, 1), "download_s": round(t_dl, 1) if t_dl else None,
               "fota_total_s": round(t_end - t_push, 1), "goodput_Bps": round(goodput, 1),
               "overhead_B": round(overhead, 1), "request_B": req, "ceiling_Bps": round(ceiling, 1),
               "ceiling_s": round(size / ceiling, 1), "lockstep_Bps": round(lockstep, 1),
               "lockstep_s": round(size / lockstep, 1),
               "of_ceiling": round(goodput / ceiling, 4), "of_lockstep": round(goodput / lockstep, 4),
               "link_reopens": dev.andlink.runner.failures, "wall_s": round(wall, 1),
               "jumps": getattr(loop, "jumps", 0)}
        res["downloaded"] = bool(done)
        res["ok"] = bool(done) and res["complete"] and not res["restarted"] and again <= lost
    finally:
        task.cancel()
        try:
            await task
        except BaseException:
            pass
        await emu.close()
        await pf.close()
    return res


def table(r):
    rows = [("package", "%d KB in %d blocks of %d B" % (r["kb"], r["blocks"], r["block"])),
            ("link", "RTT %.2f s, loss %d %%, %d B/s%s" % (r["rtt"], round(r["loss"] * 100), r["bandwidth"],
                                                          ", AT UART %d baud" % r["at_baud"] if r["at_baud"]
                                                          else "")),
            ("outcome", "%s (state/result %s)%s" % (r["outcome"], r["fota_state"],
                                                    ": " + r["reason"] if r["reason"] else "")),
            ("download", "%s s (%.1f min, %.2f h)" % (r["download_s"], (r["download_s"] or 0) / 60,
                                                      (r["download_s"] or 0) / 3600)),
            ("whole FOTA", "%s s from the push to the new version registered" % r["fota_total_s"]),
            ("goodput", "%s B/s" % r["goodput_Bps"]),
            ("ceiling", "%s B/s = %d / (%d + %.1f) x %d B/s -> %s s; goodput %.1f %% of it" % (
                r["ceiling_Bps"], r["block"], r["block"], r["overhead_B"], r["bandwidth"], r["ceiling_s"],
                100 * r["of_ceiling"])),
            ("lock-step", "%s B/s = %d / (RTT + (%d + %.1f + %d) / rate) -> %s s; goodput %.1f %% of it" % (
                r["lockstep_Bps"], r["block"], r["block"], r["overhead_B"], r["request_B"], r["lockstep_s"],
                100 * r["of_lockstep"])),
            ("datagrams lost", str(r["datagrams_lost"])),
            ("fetched again", "%d (<= lost: %s)" % (r["fetched_again"], r["fetched_again"] <= r["datagrams_lost"])),
            ("restarted", "%s (complete: %s)" % (r["restarted"], r["complete"])),
            ("link reopened", str(r["link_reopens"])),
            ("run", "%s s of wall clock (%s)" % (r["wall_s"], "virtual time" if r["virtual_time"] else "real time"))]
    w = max(len(k) for k, _ in rows)
    return "\n".join("%-*s  %s" % (w, k, v) for k, v in rows)


def main(argv=None):
    p = argparse.ArgumentParser(description="And-link FOTA through the BC95 emulator at NB-IoT rates")
    p.add_argument("--kb", type=int, default=1024, help="package size, KB (default 1024)")
    p.add_argument("--rtt", type=float, default=1.5, help="round trip, s (default 1.5)")
    p.add_argument("--loss", type=float, default=0.10, help="datagram loss each way, 0..1 (default 0.10)")
    p.add_argument("--bandwidth", type=int, default=3000, help="B/s each way (default 3000)")
    p.add_argument("--block", type=int, default=512, choices=(16, 32, 64, 128, 256, 512, 1024))
    p.add_argument("--at-baud", type=int, default=0, choices=(0, 9600, 57600, 115200),
                   help="pace the AT UART at this rate (default 0: not paced)")
    p.add_argument("--seed", type=int, default=1, help="the loss draws' seed")
    p.add_argument("--pmax", type=int, default=600, help="the platform's pmax on /5/0/3, s (default 600)")
    p.add_argument("--real", action="store_true", help="wall-clock time instead of virtual time")
    p.add_argument("--json", help="also write the figures to this file")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if a.real:
            r = asyncio.run(bench(a, tmp))
        else:
            loop = WarpLoop()
            try:
                r = loop.run_until_complete(bench(a, tmp))
            finally:
                loop.close()
    print(table(r))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1, sort_keys=True)
    print("ANDLINK_BC95 " + json.dumps(r, sort_keys=True))
    return 0 if r.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
