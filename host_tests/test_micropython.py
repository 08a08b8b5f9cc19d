"""Runs every portable test module under the MicroPython WebAssembly interpreter
(issue 2: "Runs on real MicroPython"): a second port (32-bit words, the
pyscript variant: no asyncio streams), and the 32-bit resident figures.

lib/ is loaded as .mpy files compiled by mpy-cross (as copied onto a device);
one extra run loads it from source.  A module fails here if any of its tests
fail or fewer ran than it defines.

Heap: this port's garbage collector reclaims nothing while Python code runs (it
grows the heap instead) and collects only between top-level calls, so the heap
size given to it (64 KiB) is where it starts, NOT a bound: nothing here fails
for want of memory.  The runner executes one test per call and collects in
between; the figures this port measures truly are
  resident  live heap with every lib/wmmp module and the test module(s) imported,
            after a collection at the top level (32-bit words)
  alloc     bytes one test allocated (nothing is reclaimed inside the call): an
            upper bound on its extra peak
They go to build/micropython-heap.json for the closing notes.  Bounded heaps,
where a MemoryError fails the run, are tested on the unix port:
test_micropython_unix.py.
"""
import json
import os

import pytest

import mp_harness as H

MODULES = sorted(f[:-3] for f in os.listdir(H.PORTABLE) if f.startswith("test_") and f.endswith(".py"))
_results = {}


@pytest.fixture(scope="module")
def pool():
    return H.initial_pool()


def test_portable_modules_exist():
    assert len(MODULES) >= 5, MODULES


@pytest.mark.parametrize("modname", MODULES)
def test_module_under_micropython(modname):
    p = H.run(os.path.join(H.PORTABLE, "mp_runner.py"), [modname])
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    fig = H.figures(p.stdout)
    assert fig["failed"] == 0, out[-4000:]
    assert fig["passed"] == H.count_tests(modname), "ran %d of %d:\n%s" % (
        fig["passed"], H.count_tests(modname), out[-3000:])
    _results[modname] = {"tests": fig["passed"], "resident": fig["resident"],
                         "max_test_alloc": max(fig["alloc"].values()) if fig["alloc"] else 0}


def test_sources_run_under_micropython():
    """The .py sources themselves (not only their .mpy) run: whole suite, one
    interpreter, heap allowed to grow (compiling source costs RAM)."""
    p = H.run(os.path.join(H.PORTABLE, "mp_runner.py"), [], heap=1024 * 1024, source=True)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    fig = H.figures(p.stdout)
    assert fig["failed"] == 0, out[-4000:]
    assert fig["passed"] == sum(H.count_tests(m) for m in MODULES)


# Resident bytes the layer + vector suite may take before this guard fails: the
# figure measured when it was set (87.5 KB) plus ~10 %, so growth is noticed.
RESIDENT_BUDGET = 96 * 1024


@pytest.fixture(scope="module")
def vector_suite_run():
    p = H.run(os.path.join(H.PORTABLE, "mp_runner.py"), ["--message-layer", "test_vectors"])
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    fig = H.figures(p.stdout)
    assert fig["failed"] == 0, out[-4000:]
    assert fig["passed"] == H.count_tests("test_vectors")
    return fig, H.heap_report(p.stdout)


def test_vector_suite_resident_within_budget(vector_suite_run, pool):
    """Every message-layer module of lib/wmmp (.mpy; not the engine) and the vector
    suite imported and run under MicroPython; resident size after collection is
    reported and held to a budget."""
    fig, heap = vector_suite_run
    os.makedirs(H.BUILD, exist_ok=True)
    top = sorted(fig["alloc"].items(), key=lambda kv: -kv[1])[:5]
    report = {"port": "MicroPython WebAssembly (npm @micropython/micropython-webassembly-pyscript, 32-bit)",
              "heap_enforced": False, "heap_bytes": H.HEAP, "initial_pool": pool,
              "resident_lib_and_vectors": fig["resident"],
              "resident_plus_largest_test_alloc": fig["peak"], "largest_vector_test_allocs": top,
              "pool_at_end": heap["total"], "vector_tests": fig["passed"], "modules": _results}
    with open(os.path.join(H.BUILD, "micropython-heap.json"), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    assert fig["resident"] < RESIDENT_BUDGET, "lib + vector suite need %d bytes resident (budget %d)" % (
        fig["resident"], RESIDENT_BUDGET)


# Issue 2's target (the whole message layer and the vector suite in a 64 KiB heap)
# used to be a strict xfail here comparing the resident size above with the 64 KiB
# pool.  This port cannot check it: its heap is not enforced.  It is checked with
# an enforced heap on the unix port (test_micropython_unix.py,
# test_message_layer_and_vector_suite_within_budget): 158128 bytes needed there
# (64-bit), roughly 112 KB on 32 bits, so the 64 KiB target is not met; the
# resident figure alone (~87 KB, above) already exceeds it.
