"""Runs portable test modules under MicroPython (driven by tools/mp/run.mjs).

This port's GC only collects between top-level calls, so tests run one per
mp_step() call and the driver collects before each.  First steps: import every
lib/wmmp module and every test module named in /argv.json (default: all
test_*.py in /tests), one per step, then report the live heap that costs.  Each later step
runs one test_* function and reports the bytes it allocated (with collection
impossible inside the call, this is an upper bound on the test's extra peak).
Output:
    PASS/FAIL <module>.<test>  (+ traceback)
    ALLOC <module>.<test> <bytes>
    MPRESIDENT <bytes>    live heap with the whole layer and test modules loaded
    MPTESTS <n> passed, <n> failed
    MPPEAK <bytes>        resident + the largest single-test allocation
"""
import gc
import json
import os
import sys

sys.path.insert(0, "/tests")
sys.path.insert(0, "/lib")

_args = json.load(open("/argv.json"))
_names = [a for a in _args if not a.startswith("--")]
# --message-layer: import only the message layer (issue 2): not the engine, the
# store or the modem drivers that build on it
_LAYER = ("wmmp.errors", "wmmp.wire", "wmmp.crypto")
_layer_only = "--message-layer" in _args
if not _names:
    _names = sorted(f[:-3] for f in os.listdir("/tests") if f.startswith("test_") and f.endswith(".py"))

_state = {"queue": None, "passed": 0, "failed": 0, "resident": 0, "max_alloc": 0}


# Import steps first (one module per step, so compile garbage is collected in
# between): every lib/wmmp module (.py or .mpy, sub-packages included), then
# the test modules.
def _walk(path, mod, out):
    names = sorted(os.listdir(path))
    for f in names:
        if f.endswith(".py") or f.endswith(".mpy"):
            base = f.rsplit(".", 1)[0]
            out.append(mod if base == "__init__" else mod + "." + base)
    for f in names:
        if os.stat(path + "/" + f)[0] & 0x4000:       # a sub-package
            _walk(path + "/" + f, mod + "." + f, out)
    return out


def _in_layer(m):
    for p in _LAYER:
        if m == p or m.startswith(p + "."):
            return True
    return False


_imports = [m for m in _walk("/lib/wmmp", "wmmp", []) if m != "wmmp" and not (_layer_only and not _in_layer(m))]
_imports += list(_names)


def _import_one(modname):
    try:
        mod = __import__(modname)
    except Exception as e:  # an import failure fails the module
        print("FAIL %s (import)" % modname)
        sys.print_exception(e)
        _state["failed"] += 1
        return
    if modname in _names:
        for attr in sorted(dir(mod)):
            if attr.startswith("test_") and callable(getattr(mod, attr)):
                _state["queue"].append((modname, attr))


def mp_step():
    st = _state
    if st["queue"] is None:
        st["queue"] = []
    if _imports:
        _import_one(_imports.pop(0))
        return True
    if not st["resident"]:
        st["resident"] = gc.mem_alloc()
        print("MPRESIDENT %d" % st["resident"])
    if not st["queue"]:
        print("MPTESTS %d passed, %d failed" % (st["passed"], st["failed"]))
        print("MPPEAK %d" % (st["resident"] + st["max_alloc"]))
        return False
    modname, attr = st["queue"].pop(0)
    fn = getattr(sys.modules[modname], attr)
    before = gc.mem_alloc()
    try:
        fn()
        st["passed"] += 1
        print("PASS %s.%s" % (modname, attr))
    except Exception as e:
        st["failed"] += 1
        print("FAIL %s.%s" % (modname, attr))
        sys.print_exception(e)
    used = gc.mem_alloc() - before
    print("ALLOC %s.%s %d" % (modname, attr, used))
    if used > st["max_alloc"]:
        st["max_alloc"] = used
    return True
