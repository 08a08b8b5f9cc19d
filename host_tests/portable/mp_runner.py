"""Runs portable test modules under MicroPython, on two ports:

  WebAssembly (driven by tools/mp/run.mjs; sys.platform "webassembly"): its GC
      only collects between top-level calls, so tests run one per mp_step()
      call and the driver collects before each.  Arguments come from
      /argv.json; lib/ is at /lib, the tests at /tests.
  unix (`micropython -X heapsize=N mp_runner.py ARG...`, or `-m mp_runner` for
      the .mpy; host_tests/mpu_harness.py):
      a real mark-and-sweep GC that collects whenever an allocation does not
      fit, inside a test as well; this script drives mp_step() itself with a
      collection before each step and exits 1 if anything failed.  Give
      --lib=DIR and --tests=DIR (defaults /lib and /tests).

First steps: import every lib/wmmp module (unless --no-lib) and every test
module named in the arguments (default: every test_*.py or .mpy in the tests
directory), one per step, then report the live heap that costs.  Each later step runs one
test_* function.  After the last test each test module's teardown_module(), if
it has one, runs (pytest calls the same function on CPython).
Options: --message-layer  import only the message layer of lib/wmmp
         --no-lib         import no lib/wmmp module beyond what the tests import
         --alloc          (unix) collection off inside each test call, so ALLOC
                          is every byte the call allocated, as on WebAssembly
Output:
    PASS/FAIL <module>.<test>  (+ traceback)
    ALLOC <module>.<test> <bytes>   bytes one test allocated (WebAssembly, or
                          unix with --alloc: collection impossible inside the
                          call, so an upper bound on the test's extra peak)
    MPRESIDENT <bytes>    live heap with the lib/wmmp and test modules loaded
    MPTESTS <n> passed, <n> failed
    MPPEAK <bytes>        resident + the largest single-test allocation (with ALLOC)
    MPPOOL <bytes>        (unix) the GC pool: gc.mem_alloc() + gc.mem_free()
"""
import gc
import json
import os
import sys

_WASM = sys.platform == "webassembly"
_args = json.load(open("/argv.json")) if _WASM else sys.argv[1:]
_opts = {}
for _a in _args:
    if _a.startswith("--"):
        _k, _, _v = _a[2:].partition("=")
        _opts[_k] = _v
_names = [a for a in _args if not a.startswith("--")]
_LIB = _opts.get("lib") or "/lib"
_TESTS = _opts.get("tests") or "/tests"
sys.path.insert(0, _TESTS)
sys.path.insert(0, _LIB)

# --message-layer: import only the message layer (issue 2): not the engine, the
# store or the modem drivers that build on it
_LAYER = ("wmmp.errors", "wmmp.wire", "wmmp.crypto")
_layer_only = "message-layer" in _opts
# with a GC that collects inside a call, "bytes allocated" is only known with collection off
_measure_alloc = _WASM or "alloc" in _opts
if not _names:
    _names = sorted(set(f.rsplit(".", 1)[0] for f in os.listdir(_TESTS)
                        if f.startswith("test_") and (f.endswith(".py") or f.endswith(".mpy"))))

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


_imports = [] if "no-lib" in _opts else [
    m for m in _walk(_LIB + "/wmmp", "wmmp", []) if m != "wmmp" and not (_layer_only and not _in_layer(m))]
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


def _teardown():
    for modname in _names:
        fn = getattr(sys.modules.get(modname), "teardown_module", None)
        if fn is None:
            continue
        try:
            fn()
        except Exception as e:
            _state["failed"] += 1
            print("FAIL %s.teardown_module" % modname)
            sys.print_exception(e)


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
        _teardown()
        print("MPTESTS %d passed, %d failed" % (st["passed"], st["failed"]))
        if _measure_alloc:
            print("MPPEAK %d" % (st["resident"] + st["max_alloc"]))
        if not _WASM:
            print("MPPOOL %d" % (gc.mem_alloc() + gc.mem_free()))
        return False
    modname, attr = st["queue"].pop(0)
    fn = getattr(sys.modules[modname], attr)
    if not _WASM and _measure_alloc:
        gc.disable()
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
    gc.enable()
    if _measure_alloc:
        print("ALLOC %s.%s %d" % (modname, attr, used))
        if used > st["max_alloc"]:
            st["max_alloc"] = used
    return True


def _main():
    """The unix port: no driver around the script, so it steps itself."""
    while True:
        gc.collect()
        if not mp_step():
            break
    sys.exit(1 if _state["failed"] else 0)


if not _WASM:
    _main()
