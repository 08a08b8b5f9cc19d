"""Helpers for the tests that drive the MicroPython WebAssembly interpreter."""
import os
import re
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(ROOT, "tools", "mp", "run.mjs")
PKG = os.path.join(ROOT, "node_modules", "@micropython", "micropython-webassembly-pyscript")
PORTABLE = os.path.join(ROOT, "host_tests", "portable")
HEAP = 64 * 1024
BUILD = os.path.join(ROOT, "build")


def require_micropython():
    """Fail (never skip) with a clear message when Node or the package is missing."""
    node = shutil.which("node")
    assert node, "Node.js is not installed: the MicroPython tests need it (apt-get install nodejs)"
    assert os.path.isdir(PKG), (
        "MicroPython WebAssembly port missing: run 'npm ci' (make test does it) to install "
        "@micropython/micropython-webassembly-pyscript")
    return node


def run(script, args=(), heap=HEAP, mounts=None, timeout=600):
    node = require_micropython()
    if mounts is None:
        mounts = [(os.path.join(ROOT, "lib"), "/lib"), (PORTABLE, "/tests")]
    cmd = [node, RUNNER, "--heap", str(heap)]
    for host, dest in mounts:
        cmd += ["--mount", "%s=%s" % (host, dest)]
    cmd += [script] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    return p


def heap_report(out):
    m = re.search(r"MPHEAP heapsize=(\d+) total=(\d+) used=(\d+)", out)
    assert m, "no MPHEAP line in MicroPython output:\n" + out[-2000:]
    return {"heapsize": int(m.group(1)), "total": int(m.group(2)), "used": int(m.group(3))}


def initial_pool(heap=HEAP):
    """The GC pool MicroPython carves from `heap` bytes at start (the rest holds
    its allocation tables); measured once per heap size."""
    p = run(os.path.join(PORTABLE, "mp_empty.py"), heap=heap, mounts=[])
    assert p.returncode == 0, p.stderr
    return heap_report(p.stdout)["total"]
