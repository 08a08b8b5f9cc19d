"""Whole-package resident size under MicroPython (driven by tools/mp/run.mjs).

Imports every module of /lib/wmmp (packages included, recursively), one per
mp_step() so compile and load garbage is collected in between, then prints

    MPMODULES <n>
    MPRESIDENT <bytes>     live heap with the whole package imported

Run it with lib/ compiled to .mpy (what a device holds when the package is
copied rather than frozen): `make mem` does.
"""
import gc
import os
import sys

sys.path.insert(0, "/lib")


def _walk(path, mod, out):
    names = sorted(os.listdir(path))
    for f in names:
        full = path + "/" + f
        if f.endswith(".py") or f.endswith(".mpy"):
            base = f.rsplit(".", 1)[0]
            out.append(mod if base == "__init__" else mod + "." + base)
    for f in names:
        full = path + "/" + f
        if os.stat(full)[0] & 0x4000:           # a sub-package
            _walk(full, mod + "." + f, out)


_mods = []
_walk("/lib/wmmp", "wmmp", _mods)
_count = len(_mods)
_base = [0]


def mp_step():
    if not _base[0]:
        _base[0] = gc.mem_alloc() or 1
        return True
    if _mods:
        m = _mods.pop(0)
        try:
            __import__(m)
        except Exception as e:
            print("FAIL %s" % m)
            sys.print_exception(e)
        return True
    print("MPMODULES %d" % _count)
    print("MPRESIDENT %d" % (gc.mem_alloc() - _base[0]))
    return False
