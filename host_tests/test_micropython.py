"""Runs every portable test module under the real MicroPython WebAssembly
interpreter with a 64 KiB heap (issue 2: "Runs on real MicroPython").

lib/ is loaded as .mpy files compiled by mpy-cross (as copied onto a device);
one extra run loads it from source.  A module fails here if any of its tests
fail or fewer ran than it defines.

Heap: this port's garbage collector reclaims nothing while Python code runs (it
grows the heap instead) and collects only between top-level calls, so the
runner executes one test per call and collects in between.  The figures are
  resident  live heap with every lib/wmmp module and every portable test module
            imported (after collection): must fit the 64 KiB pool (issue 2 target)
  alloc     bytes one test allocated: an upper bound on its extra peak
They go to build/micropython-heap.json for the closing notes.
"""
import ast
import json
import os

import pytest

import mp_harness as H

MODULES = sorted(f[:-3] for f in os.listdir(H.PORTABLE) if f.startswith("test_") and f.endswith(".py"))
_results = {}


def _count_tests(modname):
    tree = ast.parse(open(os.path.join(H.PORTABLE, modname + ".py")).read())
    return sum(1 for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_"))


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
    assert fig["passed"] == _count_tests(modname), "ran %d of %d:\n%s" % (
        fig["passed"], _count_tests(modname), out[-3000:])
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
    assert fig["passed"] == sum(_count_tests(m) for m in MODULES)


def test_whole_layer_and_suite_fit_64k(pool):
    """Import of the whole message layer plus the vector suite fits a 64 KiB heap
    (issue 2 target): resident size after loading everything < the 64 KiB pool."""
    p = H.run(os.path.join(H.PORTABLE, "mp_runner.py"), [])
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    fig = H.figures(p.stdout)
    assert fig["failed"] == 0, out[-4000:]
    assert fig["passed"] == sum(_count_tests(m) for m in MODULES)
    heap = H.heap_report(p.stdout)
    os.makedirs(H.BUILD, exist_ok=True)
    allocs = fig["alloc"]
    top = sorted(allocs.items(), key=lambda kv: -kv[1])[:5]
    report = {"heap_bytes": H.HEAP, "initial_pool": pool, "resident_whole_suite": fig["resident"],
              "resident_plus_largest_test_alloc": fig["peak"], "largest_test_allocs": top,
              "pool_at_end": heap["total"], "tests": fig["passed"], "modules": _results}
    with open(os.path.join(H.BUILD, "micropython-heap.json"), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    assert fig["resident"] < pool, "whole layer + suite need %d bytes, the 64 KiB pool has %d" % (
        fig["resident"], pool)
