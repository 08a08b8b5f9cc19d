"""`make bench`: encode+digest and decode+verify rates of the fixed message set
(bench/fixtures.py) on CPython and on MicroPython (WebAssembly port, lib/ as
.mpy), with heap bytes allocated per operation on MicroPython.  Prints a table
and writes build/bench.json.  Figures, not pass/fail: see the closing notes.
"""
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools"), os.path.join(ROOT, "bench"),
                os.path.join(ROOT, "host_tests")]

import fixtures  # noqa: E402
import mp_harness  # noqa: E402


def cpython_rates(seconds=0.3):
    out = []
    for name, enc, dec, dec_only in fixtures.cases():
        wires = enc()
        size = sum(len(w) for w in wires)
        for op, fn in (("encode", enc), ("decode+verify", lambda: dec(wires)), ("decode", lambda: dec_only(wires))):
            fn()
            n = 0
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                fn()
                n += 1
            out.append({"case": name, "op": op, "rate": n / (time.perf_counter() - t0), "wire": size})
    return out


def micropython_rates():
    p = mp_harness.run(os.path.join(ROOT, "bench", "mp_bench.py"), heap=256 * 1024,
                       mounts=[(mp_harness.compiled_lib(), "/lib"), (os.path.join(ROOT, "bench"), "/bench")])
    if p.returncode != 0:
        raise SystemExit("MicroPython bench failed:\n" + p.stdout[-2000:] + p.stderr[-2000:])
    out = []
    for line in p.stdout.splitlines():
        if line.startswith("BENCH "):
            name, op, rate, alloc, size = line[6:].split("|")
            out.append({"case": name, "op": op, "rate": float(rate), "alloc": int(alloc), "wire": int(size)})
    return out


def main():
    cp = cpython_rates()
    mp = micropython_rates()
    mpd = {(r["case"], r["op"]): r for r in mp}
    print("%-46s %-14s %6s %12s %12s %12s" % ("message", "operation", "bytes", "CPython/s", "MPy/s", "MPy B/op"))
    for r in cp:
        m = mpd.get((r["case"], r["op"]), {})
        print("%-46s %-14s %6d %12.0f %12.1f %12s" % (r["case"], r["op"], r["wire"], r["rate"],
                                                       m.get("rate", 0), m.get("alloc", "?")))
    td = mpd.get(("TRANSPARENT_DATA 1024B+digest", "decode"))
    if td:
        print("\ndecode of the %d-byte TRANSPARENT_DATA allocates %d bytes on MicroPython = %.2fx its size "
              "(target <= 3x)" % (td["wire"], td["alloc"], td["alloc"] / td["wire"]))
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "bench.json"), "w") as f:
        json.dump({"cpython": cp, "micropython": mp}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
