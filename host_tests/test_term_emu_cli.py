"""`wmmp-term` and `wmmp-emu` as a user meets them: the installed commands in a
subprocess.  A bad value of any option is one line on stderr and exit status 2
(no traceback, no usage block, nothing on stdout, nothing created, nothing
opened for good); nothing that the tools did not create is deleted or replaced
(the emulator's --link, the console's pty link, the terminal's state); the
terminal's state directory keeps passwords and keys private (0700 / 0600, and
state that others can read is refused); --help tells the defaults; Ctrl-C and
SIGTERM log out (LOGOUT sent, exit 0); --exit-after ends a scripted run with a
meaningful status; the terminal drives both emulated modules (a PIN1 from a
file on both sides) and offers its service console on a pty for wmmp-tech.

The platform simulator and the SMS centre run in this process (a thread with
its own event loop, loopback, ports chosen by the system).  CPython only."""
import asyncio
import concurrent.futures
import contextlib
import io
import os
import re
import select
import signal
import socket
import stat
import subprocess
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".venv", "bin")
TERM = os.path.join(BIN, "wmmp-term")
EMU = os.path.join(BIN, "wmmp-emu")
TECH = os.path.join(BIN, "wmmp-tech")

IMSI = "460001234567890"
MSISDN = "13800000001"
PLATFORM_NUMBER = "10658000"
CRED = "4f1c9e0a7b2d83e6c5a1f09d2b7e4c18"
HUGE = "9" * 100000
NOT_UTF8 = b"\xff\xfe"
TEXT_KINDS = {"empty": "", "huge": HUGE, "wrong": "x y\u00e9!", "not-utf8": NOT_UTF8}
NUMBER_KINDS = dict(TEXT_KINDS, negative="-1", nan="nan", inf="inf", float="1.5e300")
NOT_IN_THE_REPOSITORY = re.compile(r"\bINTEROP\b|\bissue #?\d+|\.\./shared|\bshared/(seeds|spec)\b", re.I)


def _env(extra=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("WMMP_")}
    e.update(extra or {})
    return e


def run(exe, args, timeout=30, **kw):
    return subprocess.run([exe] + list(args), capture_output=True, timeout=timeout, env=_env(),
                          stdin=subprocess.DEVNULL, **kw)


def assert_usage_error(p, prog):
    err = p.stderr.decode("utf-8", "replace")
    lines = err.splitlines()
    assert p.returncode == 2, (p.returncode, err[-2000:])
    assert len(lines) == 1 and lines[0].startswith(prog + ": error: "), err[-2000:]
    assert "Traceback" not in err and "usage:" not in err and len(err) <= 400, err[-2000:]
    assert p.stdout == b"", p.stdout[-500:]
    return lines[0]


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _secret(path, text, mode=0o600):
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def _snapshot(d):
    """{relative path: (kind, mode, content or link target)} of everything under d."""
    out = {}
    for root, dirs, files in os.walk(d):
        for name in dirs + files:
            p = os.path.join(root, name)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                what = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    what = ("file", f.read())
            else:
                what = ("dir", None)
            out[os.path.relpath(p, d)] = (what[0], stat.S_IMODE(st.st_mode), what[1])
    return out


# -- an SMS centre and the platform simulator in this process --------------------------------

class Stack:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error = None
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()
        assert self.ready.wait(20) and self.error is None, self.error

    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except Exception as e:        # reported to the test
            self.error = e
        self.ready.set()
        if self.error is None:
            self.loop.run_forever()

    async def _start(self):
        from wmmp_tools.smsc import SmsCentre
        from wmmp_tools.platform.model import Config
        from wmmp_tools.platform.server import Platform
        from wmmp_tools.platform.operator import Operator
        self.smsc = SmsCentre("127.0.0.1", 0)
        await self.smsc.start()
        self.pf = Platform(Config(udp_port=0, tcp_port=0, smsc=("127.0.0.1", self.smsc.port),
                                  msisdn=PLATFORM_NUMBER, key_delay=0.2))
        await self.pf.start()
        self.op = Operator(self.pf)
        await self.op.provision({"imsi": IMSI, "msisdn": MSISDN})

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def states(self):
        """{serial: state} of the terminals the platform knows ("online" while logged in)."""
        return {t["serial"]: t["state"] for t in self.call(self.op.list({}))["terminals"]}

    def close(self):
        async def stop():
            await self.pf.close()
            await self.smsc.close()
        self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.t.join(5)

    @property
    def udp(self):
        return "127.0.0.1:%d" % self.pf.udp_port

    @property
    def sms(self):
        return "127.0.0.1:%d" % self.smsc.port


@pytest.fixture
def stack():
    s = Stack()
    yield s
    s.close()


class Proc:
    """A long-running command whose stdout is collected by a thread."""

    def __init__(self, exe, args):
        self.p = subprocess.Popen([exe] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, env=_env(), text=True)
        self.lines = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line)

    def wait_for(self, text, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(text in ln for ln in self.lines):
                return True
            if self.p.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError("no %r in %s\nstderr: %s" % (text, "".join(self.lines)[-3000:],
                                                        self.stop()[1][-2000:]))

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self._t.join(5)
        err = self.p.stderr.read()
        self.p.stderr.close()
        return rc, err

    @property
    def out(self):
        return "".join(self.lines)


class Emulator(Proc):
    def __init__(self, model, link, *extra):
        super().__init__(EMU, [model, "--link", str(link), "--boot-time", "0", "--reg-delay", "0"] + list(extra))
        end = time.monotonic() + 10
        while not self.lines and self.p.poll() is None and time.monotonic() < end:
            time.sleep(0.01)
        self.path = self.lines[0].strip() if self.lines else ""
        assert self.path.startswith("/dev/"), self.stop()


# -- the defects, one by one ---------------------------------------------------------------------

def test_term_state_naming_a_file_is_refused_and_the_file_kept(tmp_path):
    f = tmp_path / "README.md"
    f.write_text("keep me\n")
    before = _snapshot(tmp_path)
    line = assert_usage_error(run(TERM, ["--udp", "127.0.0.1:7301", "--state", str(f)]), "wmmp-term")
    assert "not a directory" in line
    assert _snapshot(tmp_path) == before


def test_term_bad_imei_and_imsi_are_usage_errors():
    for opt, value in (("--imei", "12"), ("--imsi", "abc"), ("--imsi", "46000123456789x")):
        line = assert_usage_error(run(TERM, ["--udp", "127.0.0.1:7301", opt, value]), "wmmp-term")
        assert "15 digits" in line


def test_term_modem_on_a_device_that_is_not_a_tty(tmp_path):
    f = tmp_path / "plain"
    f.write_text("x")
    for opt in ("--sim7600", "--bc95"):
        for dev, why in (("/dev/null", "not a tty"), (str(f), "not a serial device"),
                         (str(tmp_path / "none"), "No such file")):
            line = assert_usage_error(run(TERM, [opt, dev]), "wmmp-term")
            assert why in line, line
    assert f.read_text() == "x"


def test_term_udp_port_out_of_range():
    for value in ("127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:-1", "127.0.0.1", ":7301", "no host:1"):
        assert_usage_error(run(TERM, ["--udp", value]), "wmmp-term")


def test_emu_link_in_a_missing_directory_or_naming_a_directory(tmp_path):
    d = tmp_path / "dir"
    d.mkdir()
    (d / "inside").write_text("x")
    before = _snapshot(tmp_path)
    for link in (str(tmp_path / "nonexistent" / "tty"), str(d), str(tmp_path / "dir") + "/"):
        line = assert_usage_error(run(EMU, ["sim7600", "--link", link]), "wmmp-emu")
        assert "--link" in line
    assert _snapshot(tmp_path) == before


def test_emu_link_never_replaces_what_it_did_not_create(tmp_path):
    # a regular file, a symlink to it, a symlink to a directory: refused, kept as they were
    f = tmp_path / "FILE"
    f.write_text("precious data\n")
    (tmp_path / "to-file").symlink_to(f)
    (tmp_path / "to-dir").symlink_to(tmp_path)
    os.mkfifo(tmp_path / "fifo")
    master, slave = os.openpty()           # a link to a pty in use (another program's)
    (tmp_path / "live-pty").symlink_to(os.ttyname(slave))
    before = _snapshot(tmp_path)
    for name in ("FILE", "to-file", "to-dir", "fifo", "live-pty"):
        for model in ("sim7600", "bc95"):
            line = assert_usage_error(run(EMU, [model, "--link", str(tmp_path / name)]), "wmmp-emu")
            assert "only a link to a pseudo-terminal is replaced" in line or "in use" in line, line
    assert _snapshot(tmp_path) == before
    os.close(master)
    os.close(slave)
    assert f.read_text() == "precious data\n"


def test_emu_link_replaces_a_stale_pty_link_and_removes_only_its_own(tmp_path):
    link = tmp_path / "ttySIM"
    link.symlink_to("/dev/pts/999999")           # left by an emulator that was killed
    emu = Emulator("sim7600", link)
    try:
        assert os.readlink(link) == emu.path
    finally:
        rc, err = emu.stop()
    assert rc == 0, err
    assert not os.path.lexists(link)
    # a link another program put there since is left alone at the end
    emu = Emulator("sim7600", link)
    os.unlink(link)
    link.symlink_to("/dev/pts/999998")
    rc, err = emu.stop()
    assert rc == 0, err
    assert os.readlink(link) == "/dev/pts/999998"


def test_accepted_nonsense_is_now_refused(tmp_path):
    assert "15 digits" in assert_usage_error(run(EMU, ["sim7600", "--imsi", "abc"]), "wmmp-emu")
    assert "0..31 or 99" in assert_usage_error(run(EMU, ["sim7600", "--rssi", "500"]), "wmmp-emu")
    assert "0..31 or 99" in assert_usage_error(run(EMU, ["bc95", "--rssi", "-1"]), "wmmp-emu")
    assert "1..65535" in assert_usage_error(run(TERM, ["--udp", "127.0.0.1:99999"]), "wmmp-term")
    assert "phone number" in assert_usage_error(run(EMU, ["sim7600", "--msisdn", "abc"]), "wmmp-emu")
    assert "15 digits" in assert_usage_error(run(EMU, ["sim7600", "--swap-at", "1:abc:898600"]), "wmmp-emu")
    # an option of the other model is not silently ignored
    assert "BC95" in assert_usage_error(run(EMU, ["sim7600", "--tcp"]), "wmmp-emu")
    assert "SIM7600" in assert_usage_error(run(EMU, ["bc95", "--apn", "cmnet"]), "wmmp-emu")


# -- every option, bad values ----------------------------------------------------------------------

def _cases(tmp_path):
    """(name, exe, argv, prefix) of every option of both tools fed bad values."""
    plain = tmp_path / "plain"
    plain.write_text("x\n")
    open_pin = _secret(tmp_path / "open-pin", "1234\n", 0o644)
    bad_pin = _secret(tmp_path / "bad-pin", "12\n")
    bad_cred = _secret(tmp_path / "bad-cred", "00000000000000000000000000000000\n")
    paths = {"empty": "", "missing": str(tmp_path / "no" / "such"), "directory": str(tmp_path),
             "endless": "/dev/zero", "null": "/dev/null", "not-utf8": NOT_UTF8, "plain": str(plain)}
    cases = []
    udp = ["--udp", "127.0.0.1:7301"]

    def term(name, argv):
        cases.append(("wmmp-term " + name, TERM, argv, "wmmp-term"))

    def emu(name, argv):
        cases.append(("wmmp-emu " + name, EMU, argv, "wmmp-emu"))

    for opt in ("--udp", "--tcp", "--smsc"):
        for kind, v in dict(TEXT_KINDS, port0="127.0.0.1:0", port_huge="127.0.0.1:99999", no_port="127.0.0.1",
                            bad_host="a b:1", negative="127.0.0.1:-5").items():
            term("%s %s" % (opt, kind), [opt, v] + (udp if opt == "--smsc" else []))
    for opt in ("--msisdn", "--platform-number", "--imei", "--imsi", "--serial", "--software-version"):
        for kind, v in dict(TEXT_KINDS, negative="-1", letters="abcdefgh").items():
            if kind == "letters" and opt in ("--serial", "--software-version"):
                v = "abc def"
            if kind == "negative" and opt == "--software-version":
                v = "-1 ."
            term("%s %s" % (opt, kind), udp + [opt, v])
    term("--serial 10 characters", udp + ["--serial", "M2MMAKER12"])
    term("--software-version too long", udp + ["--software-version", "WMMP0.1.234"])
    for kind, v in dict(paths, file=str(plain), nested=str(plain / "x")).items():
        if kind in ("directory", "missing", "endless", "null", "not-utf8"):
            continue          # a directory is right; a missing one under an existing directory is created
        term("--state %s" % kind, udp + ["--state", v])
    term("--state missing parent", udp + ["--state", str(tmp_path / "no" / "such")])
    term("--state /dev/null", udp + ["--state", "/dev/null"])
    for opt in ("--sim7600", "--bc95"):
        for kind, v in paths.items():
            term("%s %s" % (opt, kind), [opt, v])
    term("--sim7600 and --bc95", ["--sim7600", "/dev/null", "--bc95", "/dev/null"])
    for kind, v in NUMBER_KINDS.items():
        term("--baud %s" % kind, ["--sim7600", "/dev/null", "--baud", v])
    term("--baud unknown speed", ["--sim7600", "/dev/null", "--baud", "12345"])
    for kind, v in dict(TEXT_KINDS, quote='cm"net', dot=".cmnet").items():
        term("--apn %s" % kind, ["--sim7600", "/dev/null", "--apn", v])
    for kind, v in dict(paths, open_to_others=open_pin, not_a_pin=bad_pin).items():
        term("--pin-file %s" % kind, ["--sim7600", "/dev/null", "--pin-file", v])
    term("--pin-file without a module", udp + ["--pin-file", _secret(tmp_path / "pin", "1234\n")])
    term("--apn without a module", udp + ["--apn", "cmnet"])
    term("--baud without a module", udp + ["--baud", "9600"])
    term("--smsc with a module", ["--sim7600", "/dev/null", "--smsc", "127.0.0.1:7400"])
    for kind, v in dict(NUMBER_KINDS, word="soon").items():
        term("--exit-after %s" % kind, udp + ["--exit-after", v])
        term("--timeout %s" % kind, udp + ["--exit-after", "online", "--timeout", v])
    term("--timeout without --exit-after online", udp + ["--timeout", "5"])
    links = {k: v for k, v in paths.items() if k != "not-utf8"}        # a valid name on POSIX
    for kind, v in dict(links, regular_file=str(plain), file_link=str(tmp_path / "file-link")).items():
        term("--console-pty %s" % kind, udp + ["--console-pty", v])
    (tmp_path / "file-link").symlink_to(plain)
    for kind, v in dict(paths, open_to_others=open_pin, weak=bad_cred).items():
        term("--console-credential-file %s" % kind,
             udp + ["--console-pty", str(tmp_path / "console"), "--console-credential-file", v])
    term("--console-credential-file without --console-pty",
         udp + ["--console-credential-file", _secret(tmp_path / "cred", CRED + "\n")])
    term("no bearer", [])
    term("--udp and --tcp", udp + ["--tcp", "127.0.0.1:7302"])
    for flag in ("--verbose", "--no-session-key"):
        term("%s=value" % flag, udp + [flag + "=yes"])
    for kind, v in TEXT_KINDS.items():
        term("argument %s" % kind, udp + [v] if v != "" else udp + ["--nope"])

    # wmmp-emu
    for kind, v in dict(TEXT_KINDS, other="sim800").items():
        emu("model %s" % kind, [v])
    for model in ("sim7600", "bc95"):
        def e(name, argv):
            emu("%s %s" % (model, name), [model] + argv)
        for kind, v in dict(links, regular_file=str(plain)).items():
            if kind == "missing":
                v = str(tmp_path / "no" / "such" / "tty")
            e("--link %s" % kind, ["--link", v])
        for kind, v in dict(TEXT_KINDS, port0="127.0.0.1:0", port_huge="127.0.0.1:99999").items():
            e("--smsc %s" % kind, ["--smsc", v])
        for opt in ("--msisdn", "--imei", "--imsi", "--iccid", "--pin", "--puk"):
            for kind, v in dict(TEXT_KINDS, negative="-1", short="12").items():
                if opt == "--msisdn" and kind == "short":
                    v = "+"
                e("%s %s" % (opt, kind), [opt, v])
        for opt in ("--pin-file", "--puk-file"):
            for kind, v in dict(paths, open_to_others=open_pin, not_a_pin=bad_pin).items():
                e("%s %s" % (opt, kind), [opt, v])
        e("--pin and --pin-file", ["--pin", "1234", "--pin-file", _secret(tmp_path / "pin2", "1234\n")])
        for opt in ("--boot-time", "--reg-delay", "--reboot-at", "--drop-rate", "--corrupt-rate", "--delay-ms",
                    "--seed", "--rssi", "--sms-first-index"):
            for kind, v in NUMBER_KINDS.items():
                if opt == "--seed" and kind == "negative":
                    continue
                e("%s %s" % (opt, kind), [opt, v])
        for opt in ("--outage-at", "--no-signal-at"):
            for kind, v in dict(NUMBER_KINDS, three_parts="1:2:3", bad_duration="1:x").items():
                e("%s %s" % (opt, kind), [opt, v])
        for kind, v in dict(TEXT_KINDS, short="1:460001234567890", bad_iccid="1:460001234567890:12",
                            bad_msisdn="1:460001234567890:89860012345678901234:abc").items():
            e("--swap-at %s" % kind, ["--swap-at", v])
        for kind, v in dict(TEXT_KINDS, not_local="192.0.2.1", name="localhost").items():
            e("--bind %s" % kind, ["--bind", v])
        for kind, v in dict(TEXT_KINDS, no_equals="10.0.0.1", bad_real="10.0.0.1=a b",
                            quote='"x"=127.0.0.1').items():
            e("--map %s" % kind, ["--map", v])
        for flag in ("--trace", "--verbose", "--reg-unquoted"):
            e("%s=value" % flag, [flag + "=yes"])
    for kind, v in dict(TEXT_KINDS, other="pin1,pin2").items():
        emu("sim7600 --spic-order %s" % kind, ["sim7600", "--spic-order", v])
        emu("sim7600 --apn %s" % kind, ["sim7600", "--apn", v])
    for opt in ("--udp-max", "--boot-errors", "--psm-idle", "--rrc-idle", "--data-outage-at"):
        for kind, v in NUMBER_KINDS.items():
            emu("bc95 %s %s" % (opt, kind), ["bc95", opt, v])
    emu("bc95 --nsorf-remaining x", ["bc95", "--nsorf-remaining", "x"])
    emu("bc95 --sms-off-cme with --sms", ["bc95", "--sms", "--sms-off-cme"])
    for opt in ("--netopen-delay", "--apn", "--spic-order", "--no-reg-act", "--no-echo"):
        emu("bc95 %s (a SIM7600 option)" % opt,
            ["bc95", opt] + ({"--netopen-delay": ["1"], "--apn": ["cmnet"],
                              "--spic-order": ["pin1,pin2,puk1,puk2"]}.get(opt, [])))
    for opt in ("--echo", "--tcp", "--udp-max", "--boot-errors", "--psm-idle", "--rrc-idle", "--no-autoconnect",
                "--no-npin", "--npin-prefixed", "--sms", "--sms-off-cme", "--cmti", "--data-outage-at",
                "--nsorf-remaining"):
        emu("sim7600 %s (a BC95 option)" % opt,
            ["sim7600", opt] + ({"--udp-max": ["512"], "--boot-errors": ["1"], "--psm-idle": ["1"],
                                 "--rrc-idle": ["1"], "--data-outage-at": ["1"],
                                 "--nsorf-remaining": ["datagram"]}.get(opt, [])))
    return cases


def _in_process(tool, argv, monkeypatch):
    """main(argv) of the tool in this process, with what would run after the
    checks replaced by a stub: (exit status, stdout, stderr); status "ran"
    when the values were accepted."""
    from wmmp_tools import term as T
    from wmmp_tools.emu import cli as C
    ran = []

    async def stub(args, *a, **kw):
        ran.append(args)
        return 0
    monkeypatch.setattr(T, "serve", stub)
    monkeypatch.setattr(C, "_run", stub)
    argv = [os.fsdecode(a) if isinstance(a, bytes) else a for a in argv]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = (T if tool == "wmmp-term" else C).main(argv)
    return ("ran" if ran else rc), out.getvalue(), err.getvalue()


def _problems(rc, out, err, prog):
    lines = err.splitlines()
    problems = []
    if rc != 2:
        problems.append("exit %s" % (rc,))
    if len(lines) != 1 or not lines[0].startswith(prog + ": error: "):
        problems.append("stderr %r" % err[:300])
    if "Traceback" in err or "usage:" in err or len(err) > 400:
        problems.append("traceback, usage or %d characters" % len(err))
    if out:
        problems.append("stdout %r" % out[:80])
    return problems


def test_every_option_of_both_tools_refuses_bad_values_in_one_line(tmp_path, monkeypatch):
    """Each bad value of each option of both tools: exit 2, one line on
    stderr starting with the tool's name (no traceback, no usage block, at
    most 400 characters: a huge value is never echoed whole), nothing on
    stdout, nothing created or changed.  Every case runs through main() in
    this process (the run itself replaced by a stub that fails the case), and
    one case of each option also as the installed command in a subprocess."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    cases = _cases(work)
    assert len(cases) > 300
    before = _snapshot(work)
    bad = []
    for name, exe, argv, prog in cases:
        problems = _problems(*_in_process(prog, argv, monkeypatch), prog)
        if problems:
            bad.append("%s: %s" % (name, "; ".join(problems)))
    assert bad == [], "\n".join(bad)
    assert _snapshot(work) == before
    # the installed commands: one value of each option (the huge one where there is one)
    sample = {}
    for case in cases:
        key = case[0].rsplit(" ", 1)[0]
        if key not in sample or case[0].endswith(" huge"):
            sample[key] = case

    def one(case):
        name, exe, argv, prog = case
        try:
            p = subprocess.run([exe] + argv, capture_output=True, timeout=20, env=_env(),
                               stdin=subprocess.DEVNULL, cwd=str(work))
        except subprocess.TimeoutExpired as e:      # it ran: the value was taken
            return name, ["still running after 20 s"]
        return name, _problems(p.returncode, p.stdout.decode("utf-8", "replace"),
                               p.stderr.decode("utf-8", "replace"), prog)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, sample.values()))
    bad = ["%s: %s" % (name, "; ".join(problems)) for name, problems in results if problems]
    assert bad == [], "\n".join(bad)
    assert _snapshot(work) == before


OPTIONS_TERM = ["--udp", "--tcp", "--smsc", "--msisdn", "--platform-number", "--imei", "--imsi", "--serial",
                "--software-version", "--baud", "--apn", "--exit-after", "--timeout"]
OPTIONS_EMU = ["--smsc", "--msisdn", "--imei", "--imsi", "--iccid", "--pin", "--puk", "--boot-time", "--reg-delay",
               "--netopen-delay", "--rssi", "--bind", "--map", "--apn", "--sms-first-index", "--drop-rate",
               "--corrupt-rate", "--delay-ms", "--seed", "--reboot-at", "--outage-at", "--no-signal-at", "--swap-at"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_text_for_any_option_is_taken_or_refused_in_one_line(data, monkeypatch, tmp_path):
    """Arbitrary text for a value-taking option: either accepted (the run
    would start) or exit 2 with one line; never an exception."""
    tool = data.draw(st.sampled_from(["wmmp-term", "wmmp-emu"]))
    opt = data.draw(st.sampled_from(OPTIONS_TERM if tool == "wmmp-term" else OPTIONS_EMU))
    value = data.draw(st.one_of(st.text(max_size=40), st.from_regex(r"[0-9.:+\-\[\]a-f]{0,24}", fullmatch=True)))
    if value.startswith("-"):
        value = " " + value           # argparse would take it for an option
    base = (["--sim7600", "/dev/null"] if opt in ("--baud", "--apn") else ["--udp", "127.0.0.1:7301"])
    if opt == "--timeout":
        base += ["--exit-after", "online"]
    argv = (base if tool == "wmmp-term" else ["bc95" if opt == "--map" else "sim7600"]) + [opt, value]
    monkeypatch.chdir(tmp_path)
    rc, out, err = _in_process(tool, argv, monkeypatch)
    if rc == "ran" or (tool == "wmmp-term" and opt in ("--baud", "--apn") and "/dev/null" in err):
        return
    assert _problems(rc, out, err, tool) == [], (argv, rc, err)


def test_help_of_both_tools_tells_the_defaults_and_cites_only_the_repository():
    p = run(TERM, ["--help"])
    assert p.returncode == 0 and p.stderr == b""
    text = " ".join(p.stdout.decode().split())
    for want in ("10658000", "860000000000001", "460001234567890", "13800000001", "M2MMAKER", "WMMP0.1",
                 "127.0.0.1:7301", "127.0.0.1:7302", "127.0.0.1:7400", "maker prefix", "platform assigns the rest",
                 "remembers the registration between runs", "--bc95", "--sim7600", "--exit-after",
                 "--console-pty", "--pin-file", "chmod 700", "LOGOUT", "Exit status", "docs/PROTOCOL.md"):
        assert want in text, want
    for model in ("", "sim7600"):
        p = run(EMU, ([model] if model else []) + ["--help"])
        assert p.returncode == 0, p.stderr
        text += " ".join(p.stdout.decode().split())
    assert "--pin-file" in text and "0..31 or 99" in text
    assert not NOT_IN_THE_REPOSITORY.search(text), NOT_IN_THE_REPOSITORY.search(text)


# -- the state directory: private, never overwritten, one terminal at a time ----------------------

def test_state_is_private_and_state_others_can_read_is_refused(stack, tmp_path):
    state = tmp_path / "state"
    p = run(TERM, ["--udp", stack.udp, "--smsc", stack.sms, "--state", str(state), "--exit-after", "online",
                   "--timeout", "20"])
    assert p.returncode == 0, p.stdout.decode()[-3000:] + p.stderr.decode()
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    files = os.listdir(state)
    assert files == ["params.json"]
    assert stat.S_IMODE(os.stat(state / "params.json").st_mode) == 0o600
    saved = _snapshot(tmp_path)
    # the registration is remembered: the next run logs in without registering
    p = run(TERM, ["--udp", stack.udp, "--smsc", stack.sms, "--state", str(state), "--exit-after", "online",
                   "--timeout", "20"])
    out = p.stdout.decode()
    assert p.returncode == 0 and "-> packet LOGIN" in out and "REGISTER" not in out, out[-3000:]
    saved = _snapshot(tmp_path)
    # open to others: refused with how to fix it, nothing changed
    os.chmod(state, 0o755)
    line = assert_usage_error(run(TERM, ["--udp", stack.udp, "--state", str(state)]), "wmmp-term")
    assert "chmod 700 %s" % state in line and "0755" in line
    os.chmod(state, 0o700)
    os.chmod(state / "params.json", 0o644)
    line = assert_usage_error(run(TERM, ["--udp", stack.udp, "--state", str(state)]), "wmmp-term")
    assert "chmod 600 %s" % (state / "params.json") in line
    os.chmod(state / "params.json", 0o600)
    assert _snapshot(tmp_path) == saved


def test_state_that_is_not_a_state_file_is_left_alone(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    for content in (b"not json", b"[1, 2]", b'{"0x0011": "zz"}', b"\xff\xfe", b"[" * 100000):
        (state / "params.json").write_bytes(content)
        os.chmod(state / "params.json", 0o600)
        line = assert_usage_error(run(TERM, ["--udp", "127.0.0.1:%d" % _free_port(), "--state", str(state)]),
                                  "wmmp-term")
        assert "not a state file" in line and "move it away" in line
        assert (state / "params.json").read_bytes() == content
        assert os.listdir(state) == ["params.json"]


def test_one_terminal_at_a_time_on_a_state_directory(stack, tmp_path):
    state = tmp_path / "state"
    first = Proc(TERM, ["--udp", stack.udp, "--smsc", stack.sms, "--state", str(state)])
    try:
        first.wait_for("state online")
        line = assert_usage_error(run(TERM, ["--udp", stack.udp, "--state", str(state)]), "wmmp-term")
        assert "in use by another wmmp-term" in line
    finally:
        rc, err = first.stop()
    assert rc == 0, err


# -- stopping: signals log out, --exit-after ends with a meaningful status ------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_logs_out_and_exits_0(stack, tmp_path, sig):
    term = Proc(TERM, ["--udp", stack.udp, "--smsc", stack.sms, "--state", str(tmp_path / "s")])
    try:
        term.wait_for("state online")
        assert list(stack.states().values()) == ["online"]
    finally:
        rc, err = term.stop(sig)
    assert rc == 0 and "Traceback" not in err, err
    out = term.out
    assert "-> packet LOGOUT seq=" in out and "reason=0x0" in out and "<- packet LOGOUT_ACK" in out, out[-2000:]
    assert "online" not in stack.states().values(), stack.states()


def test_exit_after(stack, tmp_path):
    # online: 0 once logged in (after logging out)
    p = run(TERM, ["--udp", stack.udp, "--smsc", stack.sms, "--exit-after", "online", "--timeout", "20"])
    assert p.returncode == 0, p.stdout.decode()[-2000:] + p.stderr.decode()
    assert b"-> packet LOGOUT" in p.stdout and p.stderr == b""
    # SECONDS: 0 when online at the end (time enough to log in on a loaded machine)
    p = run(TERM, ["--udp", stack.udp, "--smsc", stack.sms, "--exit-after", "6"])
    assert p.returncode == 0, p.stdout.decode()[-2000:]
    # nobody answers: 1, as soon as the timeout is over
    t0 = time.monotonic()
    p = run(TERM, ["--udp", "127.0.0.1:%d" % _free_port(), "--exit-after", "online", "--timeout", "1"])
    assert p.returncode == 1 and b"not online after 1 s" in p.stdout, p.stdout.decode()[-2000:]
    assert time.monotonic() - t0 < 10 and b"Traceback" not in p.stderr
    p = run(TERM, ["--udp", "127.0.0.1:%d" % _free_port(), "--exit-after", "0.5"])
    assert p.returncode == 1 and b"not online" in p.stdout


# -- the terminal drives both emulated modules; a PIN1 from files ---------------------------------

@pytest.mark.parametrize("model", ["sim7600", "bc95"])
def test_term_drives_the_emulated_module_with_a_pin_from_a_file(stack, tmp_path, model):
    """Both modules; on the SIM7600 the card asks for PIN1, given to both tools
    in a file.  (The BC95 does not tell how many PIN1 attempts are left, so
    the SIM guard never enters a PIN there: its card has PIN1 off.)"""
    pin = _secret(tmp_path / "pin", "2468\n")
    link = tmp_path / ("tty" + model)
    extra = ["--sms", "--tcp"] if model == "bc95" else ["--pin-file", pin]
    emu = Emulator(model, link, "--smsc", stack.sms, *extra)
    try:
        p = run(TERM, ["--" + model, str(link), "--udp", stack.udp, "--state", str(tmp_path / "s"),
                       "--exit-after", "online", "--timeout", "30"]
                + (["--pin-file", pin] if model == "sim7600" else []), timeout=60)
        out = p.stdout.decode()
        assert p.returncode == 0, out[-3000:] + p.stderr.decode()
        assert "modem  %s" % model.upper() in out and "IMEI 860000000000001" in out
        if model == "sim7600":
            assert "sim_pin_ok" in out and "2468" not in out
        assert "-> packet LOGOUT" in out and "<- packet LOGOUT_ACK" in out
    finally:
        rc, err = emu.stop()
    assert rc == 0, err
    assert not os.path.lexists(link)


def _read_pty_until(fd, token, proc, timeout=30):
    """Read the pty master `fd` until `token` came (what `proc` wrote on the slave)."""
    buf = b""
    end = time.monotonic() + timeout
    while token not in buf:
        left = end - time.monotonic()
        if left <= 0 or proc.p.poll() is not None:
            raise AssertionError("no %r on the pty, got %r\nstderr: %s" % (token, buf[-200:],
                                                                          proc.stop()[1][-2000:]))
        if select.select([fd], [], [], min(left, 0.2))[0]:
            buf += os.read(fd, 4096)
    return buf


def test_term_stops_on_a_signal_while_the_module_does_not_answer(tmp_path):
    # a pty nobody answers on: SIGTERM ends the wait for the module at once, exit 0
    master, slave = os.openpty()
    try:
        term = Proc(TERM, ["--sim7600", os.ttyname(slave), "--udp", "127.0.0.1:7301"])
        # its first AT (written once the signal handlers are in place): it waits for the module now
        _read_pty_until(master, b"AT\r", term)
        t0 = time.monotonic()
        rc, err = term.stop()
        assert rc == 0 and "Traceback" not in err, err
        assert time.monotonic() - t0 < 5
    finally:
        os.close(master)
        os.close(slave)


# -- the service console on a pty, for wmmp-tech --------------------------------------------------

def test_console_pty_serves_wmmp_tech(stack, tmp_path):
    cred = _secret(tmp_path / "cred", CRED + "\n")
    link = tmp_path / "console"
    state = tmp_path / "s"
    term = Proc(TERM, ["--udp", stack.udp, "--smsc", stack.sms, "--state", str(state),
                       "--console-pty", str(link), "--console-credential-file", cred])
    try:
        term.wait_for("state online")
        assert os.path.islink(link)
        p = run(TECH, ["--port", str(link), "status"])
        assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
        assert b"online" in p.stdout and b"credential" in p.stdout
        p = run(TECH, ["--port", str(link), "--credential-file", cred, "audit"])
        assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
        assert b"console_auth_ok" in p.stdout
    finally:
        rc, err = term.stop()
    assert rc == 0, err
    assert not os.path.lexists(link)
    assert CRED not in term.out
    assert stat.S_IMODE(os.stat(state / "params.json").st_mode) == 0o600


def test_term_stops_quietly_when_nobody_reads_its_transcript(stack, tmp_path):
    # `wmmp-term ... | head -1`: no BrokenPipeError, no "Exception ignored"; it
    # stops (logging out when online) with status 0 at its next line
    p = subprocess.Popen([TERM, "--udp", stack.udp, "--smsc", stack.sms, "--state", str(tmp_path / "s")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=_env())
    try:
        assert b"event  boot" in p.stdout.readline()
        p.stdout.close()
        rc = p.wait(20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = p.stderr.read()
    p.stderr.close()
    assert rc == 0 and err == b"", err


def test_console_reset_keys_restarts_the_engine(stack, tmp_path):
    """RESET KEYS through wmmp-tech while the terminal cannot reach its
    platform (backoff: an abnormal state): the terminal drops its passwords
    and base key and registers again with operation 0x04 (4.4.4)."""
    import json
    cred = _secret(tmp_path / "cred", CRED + "\n")
    state, link = tmp_path / "s", tmp_path / "console"
    p = run(TERM, ["--udp", stack.udp, "--smsc", stack.sms, "--state", str(state), "--exit-after", "online"])
    assert p.returncode == 0, p.stdout.decode()[-2000:]
    doc = json.loads((state / "params.json").read_text())
    doc["0x0107"] = "02000001"            # packet answers within 1 s: a quick LOGIN timeout
    (state / "params.json").write_text(json.dumps(doc))
    term = Proc(TERM, ["--udp", "127.0.0.1:%d" % _free_port(), "--state", str(state),
                       "--console-pty", str(link), "--console-credential-file", cred])
    try:
        term.wait_for("state backoff")
        r = run(TECH, ["--port", str(link), "--credential-file", cred, "reset-keys"])
        assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
        term.wait_for("-> packet REGISTER seq=0 operation=0x4")
    finally:
        rc, err = term.stop()
    assert rc == 0, err
    assert "console_reset_keys" in term.out and "restarting the engine" in term.out
    doc = json.loads((state / "params.json").read_text())
    assert "0xE025" not in doc and "0xE036" not in doc
    assert stat.S_IMODE(os.stat(state / "params.json").st_mode) == 0o600
