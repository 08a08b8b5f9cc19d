"""Prints the figures the test run leaves in build/ (MicroPython heap use, .mpy
sizes) so they show at the end of `make test`."""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    heap = os.path.join(ROOT, "build", "micropython-heap.json")
    sizes = os.path.join(ROOT, "build", "mpy-sizes.json")
    if os.path.exists(heap):
        h = json.load(open(heap))
        print("MicroPython (WebAssembly, %d-byte heap, %d-byte pool): whole lib/ as .mpy + vector suite "
              "(%d tests) resident %d bytes; + largest single vector-test allocation %d bytes"
              % (h["heap_bytes"], h["initial_pool"], h["vector_tests"], h["resident_lib_and_vectors"],
                 h["resident_plus_largest_test_alloc"]))
        for m, r in sorted(h["modules"].items()):
            print("  %-20s %3d tests under MicroPython, resident with lib %6d B, largest test alloc %6d B"
                  % (m, r["tests"], r["resident"], r["max_test_alloc"]))
    if os.path.exists(sizes):
        s = json.load(open(sizes))
        t = s.pop("TOTAL", None)
        print("mpy-cross: %d files, %s" % (len(s), ", ".join(
            "%s %d B" % (k.split("/")[-1][:-3], v["mpy"]) for k, v in sorted(s.items()))))
        if t:
            print("mpy-cross total: %d bytes of .mpy from %d bytes of source" % (t["mpy"], t["py"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
