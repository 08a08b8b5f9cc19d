"""Prints the figures the test run leaves in build/ (MicroPython heap use, .mpy
sizes) so they show at the end of `make test`.

Two ports, two kinds of figure:
  unix port (build/micropython-unix-heap.json, host_tests/test_micropython_unix.py):
      64-bit words, a real GC, an ENFORCED heap: each portable module ran in its
      budget, the smallest heap it passed in was measured offline.
  WebAssembly port (build/micropython-heap.json, host_tests/test_micropython.py):
      32-bit words; its heap size is NOT enforced (the port grows the heap and
      collects only between top-level calls), so only its resident sizes after
      import and per-call allocations mean anything.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _unix(u):
    print("MicroPython unix port (64-bit words, heap enforced: a MemoryError fails the run); "
          "each portable module alone, in the heap budget it ran in:")
    for m, r in sorted(u.get("modules", {}).items()):
        print("  %-28s %3d tests in %7d B (measured need %7d B), resident %7d B"
              % (m, r["tests"], r["budget"], r["measured"], r["resident"]))
    sc = u.get("scenario")
    if sc:
        print("  demo session (%s): ran in %d B (measured need %d B); resident %d B, its largest call "
              "allocates %d B (resident + that: %d B, more than the heap: the GC reclaimed inside the call)"
              % (sc["module"], sc["budget"], sc["measured"], sc["resident"], sc["largest_call_alloc"],
                 sc["resident_plus_largest_call_alloc"]))
    lv = u.get("message_layer_and_vectors")
    if lv:
        print("  message layer + vector suite (%d tests): ran in %d B (measured need %d B), resident %d B"
              % (lv["tests"], lv["budget"], lv["measured"], lv["resident"]))


def _wasm(h):
    print("MicroPython WebAssembly port (32-bit words; its %d-byte heap is NOT enforced, the port grows it): "
          "the message layer of lib/ as .mpy + vector suite (%d tests) resident %d bytes; + largest single "
          "vector-test allocation %d bytes"
          % (h["heap_bytes"], h["vector_tests"], h["resident_lib_and_vectors"],
             h["resident_plus_largest_test_alloc"]))
    for m, r in sorted(h["modules"].items()):
        print("  %-28s %3d tests, resident with the whole lib %6d B, largest test alloc %7d B"
              % (m, r["tests"], r["resident"], r["max_test_alloc"]))


def main():
    unix = os.path.join(ROOT, "build", "micropython-unix-heap.json")
    heap = os.path.join(ROOT, "build", "micropython-heap.json")
    sizes = os.path.join(ROOT, "build", "mpy-sizes.json")
    if os.path.exists(unix):
        _unix(json.load(open(unix)))
    if os.path.exists(heap):
        _wasm(json.load(open(heap)))
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
