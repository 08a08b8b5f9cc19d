"""Bytes allocated by each call into the engine, on MicroPython's unix port
(issue "Memory that is measured, bounded and small": no engine call may
allocate more than 4 KB on a 32-bit board).

    micropython -X heapsize=N -m mp_calls [--pure-md5] MODULE...

(host_tests/mpu_harness.py call_allocs() runs it with lib/ and the tests as
.mpy).  Every call the runner or the application makes into a Terminal
(ENTRIES) is wrapped: a collection first, then the call with collection off,
so gc.mem_alloc() after it less before it is every byte the call allocated,
whatever it freed again (an upper bound of what the call adds to the peak).
Calls made from inside another wrapped call are counted in the outer one.
The serial bridge's calls (bridge_feed, bridge_take, ...) are not Terminal
attributes: wmmp.terminal.bridge sets them on each terminal with a data port,
so Terminal.__init__ is wrapped to wrap them on the instance.
Then every test_* function of the MODULEs runs.  --pure-md5 makes wmmp.crypto.md5
use PureMd5 although the port has hashlib.md5 (a board built without it).

Output: CALL <entry> <largest bytes> <calls> <test of the largest>, one line
per entry that ran, then CALLMAX <bytes> <entry> <test>.
"""
import gc
import sys

from wmmp.terminal import engine as E
from wmmp.crypto import md5

ENTRIES = ("start", "receive", "tick", "restarted", "logout", "outgoing", "events", "send_data",
           "report", "raise_alarm", "clear_alarm", "report_statistics", "request_config",
           "local_config", "security_request", "sim_done", "bearer_failed", "bearer_restored",
           "bridge_feed", "bridge_take", "bridge_flush", "bridge_waiting", "bridge_busy",
           "bridge_counters", "data_port_settings")

_worst = {}          # entry -> [largest, calls, test]
_state = {"depth": 0, "test": ""}


def _wrap(name, f):
    def call(*a, **k):
        if _state["depth"]:
            return f(*a, **k)
        _state["depth"] = 1
        gc.collect()
        gc.disable()
        m0 = gc.mem_alloc()
        try:
            return f(*a, **k)
        finally:
            n = gc.mem_alloc() - m0
            gc.enable()
            _state["depth"] = 0
            w = _worst.get(name)
            if w is None:
                w = _worst[name] = [0, 0, ""]
            w[1] += 1
            if _state.get("trace"):
                what = ""
                if name == "receive" and len(a) > 1:
                    what = "cmd %s len %d" % (bytes(a[1][2:4]).hex(), len(a[1]))
                print("TRACE", name, n, what)
            if n > w[0]:
                w[0] = n
                w[2] = _state["test"]
    return call


def _wrap_init(init):
    """Terminal.__init__, then the instance's own calls among ENTRIES (the
    bridge's, set by wmmp.terminal.bridge.init) wrapped as well."""
    def call(self, *a, **k):
        init(self, *a, **k)
        if self._bridge is not None:
            for name in ENTRIES:
                if name.startswith("bridge") or name.startswith("data_port"):
                    setattr(self, name, _wrap(name, getattr(self, name)))
    return call


def main(argv):
    _state["trace"] = "--trace" in argv
    if "--pure-md5" in argv:
        md5._md5 = None
    for name in ENTRIES:
        f = getattr(E.Terminal, name, None)
        if f is not None:
            setattr(E.Terminal, name, _wrap(name, f))
    E.Terminal.__init__ = _wrap_init(E.Terminal.__init__)
    failed = 0
    for modname in [a for a in argv if not a.startswith("--")]:
        mod = __import__(modname)
        for tname in sorted(n for n in dir(mod) if n.startswith("test_")):
            _state["test"] = modname + "." + tname
            try:
                getattr(mod, tname)()
            except Exception as e:
                failed += 1
                print("FAIL", _state["test"], repr(e))
    top = (0, "", "")
    for name in sorted(_worst):
        n, calls, test = _worst[name]
        print("CALL %s %d %d %s" % (name, n, calls, test))
        if n > top[0]:
            top = (n, name, test)
    print("CALLMAX %d %s %s" % top)
    return 1 if failed else 0


sys.exit(main(sys.argv[1:]))
