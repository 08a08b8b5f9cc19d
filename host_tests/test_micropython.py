"""Runs every portable test module under the real MicroPython WebAssembly
interpreter with a 64 KiB heap (issue 2: "Runs on real MicroPython").

Each module runs in a fresh interpreter; a test fails if any of its functions
fail there, if fewer ran than the module defines, or if the GC heap had to grow
past its initial 64 KiB pool.  The whole suite also runs in ONE interpreter to
show the message layer plus the vector suite fits a 64 KiB heap.  Figures are
written to build/micropython-heap.json for the closing notes.
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


def _summary(out):
    for line in out.splitlines():
        if line.startswith("MPTESTS "):
            p, f = line.split()[1], line.split()[3]
            return int(p), int(f)
    raise AssertionError("no MPTESTS summary in output:\n" + out[-3000:])


def _peak(out):
    for line in out.splitlines():
        if line.startswith("MPPEAK "):
            return int(line.split()[1])
    return None


@pytest.fixture(scope="module")
def pool():
    return H.initial_pool()


def test_portable_modules_exist():
    assert len(MODULES) >= 3, MODULES


@pytest.mark.parametrize("modname", MODULES)
def test_module_under_micropython(modname, pool):
    p = H.run(os.path.join(H.PORTABLE, "mp_runner.py"), [modname])
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    passed, failed = _summary(p.stdout)
    assert failed == 0, out[-4000:]
    assert passed == _count_tests(modname), "ran %d of %d tests:\n%s" % (passed, _count_tests(modname), out[-3000:])
    heap = H.heap_report(p.stdout)
    _results[modname] = {"tests": passed, "peak_alloc": _peak(p.stdout), "pool": heap["total"]}
    assert heap["total"] == pool, "%s needed more than the 64 KiB heap (pool grew %d -> %d)" % (
        modname, pool, heap["total"])


def test_whole_suite_in_one_64k_heap(pool):
    """Import of the whole message layer plus the vector suite fits 64 KiB (issue 2)."""
    p = H.run(os.path.join(H.PORTABLE, "mp_runner.py"), [])
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    passed, failed = _summary(p.stdout)
    assert failed == 0, out[-4000:]
    assert passed == sum(_count_tests(m) for m in MODULES)
    heap = H.heap_report(p.stdout)
    os.makedirs(H.BUILD, exist_ok=True)
    report = {"heap_bytes": H.HEAP, "initial_pool": pool, "suite_pool_after": heap["total"],
              "suite_peak_alloc": _peak(p.stdout), "suite_tests": passed, "modules": _results}
    with open(os.path.join(H.BUILD, "micropython-heap.json"), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    assert heap["total"] == pool, "suite needed more than 64 KiB (pool grew %d -> %d)" % (pool, heap["total"])
