"""MicroPython side of `make bench` (run by tools/mp/run.mjs with lib/ as .mpy).
One step per (case, operation): the driver collects garbage between steps, so
gc.mem_alloc() growth inside a step is exactly what the operation allocated.
Prints: BENCH <case>|<op>|<ops per s>|<bytes allocated per op>|<wire bytes>"""
import gc
import sys
import time

sys.path.insert(0, "/lib")
sys.path.insert(0, "/bench")
import fixtures  # noqa: E402

_cases = fixtures.cases()
_jobs = []
for _c in _cases:
    for _op in ("encode", "decode+verify", "decode"):
        _jobs.append((_c, _op))


def mp_step():
    if not _jobs:
        return False
    (name, enc, dec, dec_only), op = _jobs.pop(0)
    wires = enc()
    size = sum(len(w) for w in wires)
    fn = {"encode": lambda: enc(), "decode+verify": lambda: dec(wires), "decode": lambda: dec_only(wires)}[op]
    fn()   # warm (tables, cipher key schedule cache)
    gc.collect()
    a0 = gc.mem_alloc()
    fn()
    per_op = gc.mem_alloc() - a0
    # run for at least 300 ms: this port's clock ticks in milliseconds
    n = 0
    t0 = time.ticks_ms()
    while True:
        fn()
        n += 1
        dt = time.ticks_diff(time.ticks_ms(), t0)
        if dt >= 300 and n >= 3:
            break
    dt *= 1000
    print("BENCH %s|%s|%.1f|%d|%d" % (name, op, n * 1e6 / dt, per_op, size))
    return True
