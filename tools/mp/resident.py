"""Resident size of each lib/wmmp module under MicroPython, on two ports:

  WebAssembly (driven by tools/mp/run.mjs, 32-bit words): arguments in
      /argv.json, lib/ at /lib; the driver calls mp_step() and collects between.
  unix (`micropython -X heapsize=N resident.py --lib=DIR NAME...`, 64-bit words,
      real GC): the script drives mp_step() itself, collecting before each.

Imports the modules named in the arguments in that order (tools/mem.py passes
them dependencies first, so each figure is the module's own code and data),
one per step, then prints

    MPMODULE <bytes> <name>  what importing the module added
    MPMODULES <n>
    MPRESIDENT <bytes>     live heap with all of them imported

Run it with lib/ compiled to .mpy (what a device holds when the package is
copied rather than frozen): `make mem` does.
"""
import gc
import sys

_WASM = sys.platform == "webassembly"
if _WASM:
    import json
    _args = json.load(open("/argv.json"))
else:
    _args = sys.argv[1:]
_lib = "/lib"
for _a in _args:
    if _a.startswith("--lib="):
        _lib = _a[6:]
sys.path.insert(0, _lib)
_mods = [a for a in _args if not a.startswith("--")]
_count = len(_mods)
_base = [0]
_last = [0, None]


def mp_step():
    gc.collect()
    now = gc.mem_alloc()
    if not _base[0]:
        _base[0] = now or 1
        _last[0] = now
        return True
    if _last[1] is not None:
        print("MPMODULE %d %s" % (now - _last[0], _last[1]))
    _last[0] = now
    _last[1] = None
    if _mods:
        m = _mods.pop(0)
        _last[1] = m
        try:
            __import__(m)
        except Exception as e:
            print("FAIL %s" % m)
            sys.print_exception(e)
        return True
    print("MPMODULES %d" % _count)
    print("MPRESIDENT %d" % (gc.mem_alloc() - _base[0]))
    return False


if not _WASM:
    while mp_step():
        pass
