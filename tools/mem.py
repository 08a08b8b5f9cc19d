"""`make mem`: the whole package's resident size under MicroPython.

Compiles lib/ to .mpy (build/mp-lib, as the tests do), imports every module of
lib/wmmp into the WebAssembly MicroPython (tools/mp/resident.py: one module per
step, collected in between) and prints the live heap that costs.  The .mpy
bytecode and qstr tables are counted here; on a board that runs the package
frozen they sit in flash, so this figure is an upper bound of the frozen
package's RAM.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))

import mp_harness as H  # noqa: E402


def main():
    p = H.run(os.path.join(ROOT, "tools", "mp", "resident.py"), heap=4 * 1024 * 1024,
              mounts=[(H.compiled_lib(), "/lib")])
    fig = {}
    each = []
    for line in p.stdout.splitlines():
        if line.startswith("FAIL"):
            print(line)
        parts = line.split()
        if len(parts) == 3 and parts[0] == "MPMODULE":
            each.append((int(parts[1]), parts[2]))
        if len(parts) == 2 and parts[0] in ("MPMODULES", "MPRESIDENT"):
            fig[parts[0]] = int(parts[1])
    if p.returncode != 0 or len(fig) != 2:
        print("mem: the MicroPython run failed:\n" + p.stdout[-2000:] + p.stderr[-2000:])
        return 1
    print("resident bytes each import added (WebAssembly port, 32-bit, lib/ as .mpy; a module's "
          "figure includes dependencies not imported before it, in this order):")
    for n, name in each:
        print("  %7d  %s" % (n, name))
    print("whole package (lib/wmmp, %d modules as .mpy) resident under MicroPython: %d bytes"
          % (fig["MPMODULES"], fig["MPRESIDENT"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
