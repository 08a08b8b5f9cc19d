"""Runs portable test modules under MicroPython (driven by tools/mp/run.mjs).

Imports each test module named in /argv.json (default: every test_*.py in
/tests), calls every test_* function, prints PASS/FAIL per test, then
    MPTESTS <n> passed, <n> failed
    MPPEAK <bytes>    highest gc.mem_alloc() seen right after a test, before collection
Modules are dropped from sys.modules after their tests so RAM is given back.
"""
import gc
import json
import os
import sys

sys.path.insert(0, "/tests")
sys.path.insert(0, "/lib")

names = json.load(open("/argv.json"))
if not names:
    names = sorted(f[:-3] for f in os.listdir("/tests") if f.startswith("test_") and f.endswith(".py"))

passed = 0
failed = 0
peak = 0
for modname in names:
    gc.collect()
    try:
        mod = __import__(modname)
    except Exception as e:  # an import failure fails every test of the module
        print("FAIL %s (import)" % modname)
        sys.print_exception(e)
        failed += 1
        continue
    tests = [a for a in sorted(dir(mod)) if a.startswith("test_")]
    for attr in tests:
        fn = getattr(mod, attr)
        if not callable(fn):
            continue
        gc.collect()
        try:
            fn()
            passed += 1
            print("PASS %s.%s" % (modname, attr))
        except Exception as e:
            failed += 1
            print("FAIL %s.%s" % (modname, attr))
            sys.print_exception(e)
        used = gc.mem_alloc()
        if used > peak:
            peak = used
    del mod
    del sys.modules[modname]

print("MPTESTS %d passed, %d failed" % (passed, failed))
print("MPPEAK %d" % peak)
