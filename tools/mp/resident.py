"""Whole-package resident size under MicroPython (driven by tools/mp/run.mjs).

Imports every module of /lib/wmmp (packages included, recursively), one per
mp_step() so compile and load garbage is collected in between, then prints

    MPMODULE <bytes> <name>  what importing each module added (its own code and
                           data, and any dependency not imported before it)
    MPMODULES <n>
    MPRESIDENT <bytes>     live heap with the whole package imported

Run it with lib/ compiled to .mpy (what a device holds when the package is
copied rather than frozen): `make mem` does.
"""
import gc
import os
import sys

sys.path.insert(0, "/lib")


_ORDER = ["crypto", "wire", "terminal", "modem", "board"]


def _walk(path, mod, out):
    names = sorted(os.listdir(path))
    for f in names:
        full = path + "/" + f
        if f.endswith(".py") or f.endswith(".mpy"):
            base = f.rsplit(".", 1)[0]
            out.append(mod if base == "__init__" else mod + "." + base)
    subs = [f for f in names if os.stat(path + "/" + f)[0] & 0x4000]
    # the layers bottom up, so that each figure is mostly the module's own
    subs.sort(key=lambda f: _ORDER.index(f) if f in _ORDER else len(_ORDER))
    for f in subs:                              # sub-packages
        _walk(path + "/" + f, mod + "." + f, out)


_mods = []
_walk("/lib/wmmp", "wmmp", _mods)
_count = len(_mods)
_base = [0]
_last = [0, None]


def mp_step():
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
