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
        print("MicroPython (WebAssembly, %d-byte heap, %d-byte pool): whole lib + %d portable tests resident "
              "%d bytes; resident + largest single-test allocation %d bytes"
              % (h["heap_bytes"], h["initial_pool"], h["tests"], h["resident_whole_suite"],
                 h["resident_plus_largest_test_alloc"]))
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
