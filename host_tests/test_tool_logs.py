"""The host tools as someone who was not there reads them (wmmp_tools.logfmt):

* every log line of every tool is `time component level message`, the time in
  UTC+8 with its offset whatever the machine's zone, bearers named udp/tcp/sms;
* a warning that repeats with the same text is shown once, then as "repeated N
  times in the last M s" at most once a minute (and when the tool ends);
* serials are text, times ISO dates in UTC+8 with their Unix time, addresses
  host:port, never Python reprs (tuples, bytes, SessionKey(...));
* a wait of more than a second shows what it waits for, with a countdown, on a
  terminal (a pty here) and writes nothing at all when stderr is not one.

CPython only: subprocesses on loopback, os.openpty."""
import asyncio
import contextlib
import io
import json
import logging
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import tty

import pytest

from wmmp_tools import cli, logfmt, tech
from wmmp_tools.bearers import UdpBearer
from wmmp_tools.platform import cli as PCLI

from test_platform import Env, IMSI, MSISDN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")]))
for _k in [k for k in ENV if k.startswith("WMMP_")]:
    ENV.pop(_k)
ENV["TZ"] = "America/New_York"          # the machine's zone must not matter
PY = [sys.executable]

LINE = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2}) (?P<time>\d{2}:\d{2}:\d{2}\.\d{3}) \+08:00 "
                  r"(?P<component>[a-z][a-z0-9_.]*) (?P<level>DEBUG|INFO|NOTICE|WARNING|ERROR|CRITICAL) "
                  r"(?P<message>\S.*)$")
PYTHON_REPR = re.compile(r"\('\d+\.\d+\.\d+\.\d+', \d+\)|b'|b\"|\\x00|SessionKey\(")


def parse(text):
    """The log lines of `text`; fails on any line that is not one."""
    out = []
    for line in text.splitlines():
        m = LINE.match(line)
        assert m, "not a log line: %r\nin:\n%s" % (line, text)
        assert not PYTHON_REPR.search(line), line
        out.append(m.groupdict())
    return out


def _utc8_now_close(entry, slack=120):
    t = time.strptime(entry["date"] + " " + entry["time"][:8], "%Y-%m-%d %H:%M:%S")
    import calendar
    unix = calendar.timegm(t) - 8 * 3600
    return abs(unix - time.time()) < slack


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# == the format ==========================================================================

def test_line_format_components_and_one_line():
    rec = logging.LogRecord("wmmp.platform.sms", logging.WARNING, __file__, 1,
                            "SMS to %s dropped\n\x1b[2Jhidden", ("13800000001",), None)
    rec.created = 1796556667.123
    line = logfmt.LineFormatter().format(rec)
    assert line == ("2026-12-06 19:31:07.123 +08:00 platform.sms WARNING SMS to 13800000001 dropped"
                    "\\n\\x1b[2Jhidden")
    for name, comp in (("wmmp.bearer.udp", "udp"), ("wmmp.bearer.tcp", "tcp"), ("wmmp.bearer.sms", "sms"),
                       ("wmmp.platform", "platform"), ("wmmp.smsc", "smsc"), ("wmmp.smsc.client", "smsc.client"),
                       ("wmmp.emu.sim7600", "emu.sim7600"), ("wmmp.term", "term"), ("asyncio", "asyncio")):
        assert logfmt.component_of(name) == comp
    assert logfmt.component_of("root", "tech") == "tech" and logfmt.component_of("wmmp", "smsc") == "smsc"
    # an exception: one line without --verbose, its traceback with it
    try:
        raise ValueError("boom")
    except ValueError:
        rec = logging.LogRecord("wmmp.platform", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    assert logfmt.LineFormatter(False).format(rec).endswith("platform ERROR failed: ValueError: boom")
    assert "\n" not in logfmt.LineFormatter(False).format(rec)
    assert "Traceback" in logfmt.LineFormatter(True).format(rec)


def test_times_are_utc8_whatever_the_zone():
    saved = os.environ.get("TZ")
    try:
        for zone in ("UTC", "America/New_York", "Asia/Kolkata"):
            os.environ["TZ"] = zone
            time.tzset()
            assert logfmt.when(1796556667) == "2026-12-06 19:31:07 +08:00 (unix 1796556667)"
            assert logfmt.stamp(1796556667.5, ms=True) == "2026-12-06 19:31:07.500 +08:00"
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()
    assert logfmt.when(None) == "-" and logfmt.when(0) == "-"
    assert logfmt.when(1 << 40) == "%d (not a valid date)" % (1 << 40)


def test_setup_levels_and_restore():
    root = logging.getLogger()
    before = (root.handlers[:], root.level)
    err = io.StringIO()
    with logfmt.setup("tech", stream=err):
        logging.getLogger("wmmp.x").info("not shown without --verbose")
        logfmt.notice("wmmp", "always shown")
        logging.getLogger().warning("from the root logger")
    assert (root.handlers, root.level) == before
    lines = parse(err.getvalue())
    assert [(e["component"], e["level"], e["message"]) for e in lines] == [
        ("tech", "NOTICE", "always shown"), ("tech", "WARNING", "from the root logger")]
    err = io.StringIO()
    with logfmt.setup("emu", True, stream=err, verbose_level=logging.DEBUG):
        logging.getLogger("wmmp.emu.sim7600").debug("AT+CSQ")
    assert parse(err.getvalue())[0]["level"] == "DEBUG"


# == every tool's entry point logs in the format ===============================================

def _logged_by_entry_point(monkeypatch, module, inner, argv):
    def fake(*a, **kw):
        logging.getLogger("wmmp.bearer.tcp").warning("TCP read failed: reset")
        return 0
    monkeypatch.setattr(module, inner, fake)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert module.main(argv) == 0
    (entry,) = parse(err.getvalue())
    assert entry["component"] == "tcp" and entry["level"] == "WARNING" and _utc8_now_close(entry)


def test_wmmp_and_wmmp_tech_log_in_the_format(monkeypatch):
    _logged_by_entry_point(monkeypatch, cli, "_main", ["decode", "00"])
    _logged_by_entry_point(monkeypatch, tech, "_main", ["status", "--port", "/dev/null"])


def test_platform_client_logs_in_the_format(monkeypatch):
    def fake(args, out, err):
        logging.getLogger("wmmp.platform.control").warning("something to say")
        return 0
    monkeypatch.setattr(PCLI, "_client", fake)
    err = io.StringIO()
    assert PCLI.main(["list"], io.StringIO(), err) == 0
    (entry,) = parse(err.getvalue())
    assert entry["component"] == "platform.control"


def test_host_bearer_lines_name_the_bearer_and_address():
    err = io.StringIO()

    async def main():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            b = UdpBearer("127.0.0.1", peer.getsockname()[1])
            await b.open()
            peer.sendto(b"\x00\x05short", b.local_address)
            await asyncio.sleep(0.2)
            await b.close()
            return peer.getsockname()[1]

    with logfmt.setup("term", True, stream=err):
        port = asyncio.run(main())
    lines = parse(err.getvalue())
    assert {e["component"] for e in lines} == {"udp"}
    assert any(e["level"] == "WARNING" and e["message"].startswith("UDP datagram from 127.0.0.1:%d dropped" % port)
               for e in lines), lines
    assert any(re.fullmatch(r"UDP open 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:%d" % port, e["message"]) for e in lines)


def _stop(proc):
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    return proc.returncode, err


def _read_until(proc, pattern, timeout=15):
    """Lines of proc.stderr until one matches `pattern`; (match, lines read)."""
    seen = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stderr.readline()
        assert line, "exited early:\n" + "".join(seen)
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            return m, seen
    raise AssertionError("no %r in:\n%s" % (pattern, "".join(seen)))


@contextlib.contextmanager
def _smsc(*extra):
    proc = subprocess.Popen(PY + ["-m", "wmmp_tools.smsc", "--listen", "127.0.0.1:0"] + list(extra),
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=ENV)
    try:
        m, seen = _read_until(proc, r"wmmp-smsc listening on 127\.0\.0\.1:(\d+)$")
        proc.first_lines = seen
        yield proc, int(m.group(1))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_smsc_lines_and_repeated_warnings():
    with _smsc("--verbose") as (proc, port):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b'{"op": "attach", "msisdn": "13800000001"}\n')
            s.sendall(b'{"op": "submit", "from": "13800000001", "to": "13800000002", "data_hex": "0102"}\n')
            s.sendall(b"not json\n" * 30)          # 30 identical warnings
            f = s.makefile("rb")
            errors = 0
            while errors < 30:
                errors += json.loads(f.readline()).get("op") == "error"
        rc, err = _stop(proc)
    assert rc == 0
    lines = parse("".join(proc.first_lines) + err)
    assert any(e["level"] == "NOTICE" and e["component"] == "smsc" and
               e["message"] == "wmmp-smsc listening on 127.0.0.1:%d" % port for e in lines)
    assert any(e["message"] == "SMS #1 13800000001 -> 13800000002 2 B queued" for e in lines)
    bad = [e for e in lines if e["message"].startswith("bad request from")]
    assert [e["level"] for e in bad] == ["WARNING", "WARNING"], bad
    assert bad[0]["message"].endswith(": not a JSON object")
    assert re.search(r": not a JSON object \(repeated 29 times in the last \d+ s\)$", bad[1]["message"]), bad
    assert any(e["message"] == "stopping (SIGTERM)" and e["component"] == "smsc" for e in lines)


def test_platform_serve_lines(tmp_path):
    with _smsc() as (smsc, smsc_port):
        proc = subprocess.Popen(
            PY + ["-m", "wmmp_tools.platform.cli", "serve", "--db", str(tmp_path / "p.db"), "--verbose",
                  "--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--control", "127.0.0.1:0",
                  "--smsc", "127.0.0.1:%d" % smsc_port],
            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=ENV)
        try:
            m, seen = _read_until(proc, r"wmmp-platform listening on udp 127\.0\.0\.1:(\d+) "
                                        r"tcp 127\.0\.0\.1:(\d+) control 127\.0\.0\.1:(\d+) sms 10658000 via")
            udp, tcp, ctl = (int(x) for x in m.groups())
            r = subprocess.run(PY + ["-m", "wmmp_tools.platform.cli", "provision", "--imsi", IMSI, "--msisdn",
                                     MSISDN, "--control", "127.0.0.1:%d" % ctl],
                               capture_output=True, text=True, env=ENV, timeout=20)
            assert r.returncode == 0 and r.stderr == "", r.stderr
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.sendto(b"\x00\x05garbage", ("127.0.0.1", udp))
            with socket.create_connection(("127.0.0.1", tcp)) as t:
                t.sendall(b"\x00\x05garbage")
                t.settimeout(5)
                assert t.recv(10) == b""            # the platform closes the stream
            time.sleep(0.3)
        finally:
            rc, err = _stop(proc)
    assert rc == 0
    lines = parse("".join(seen) + err)
    components = {e["component"] for e in lines}
    assert {"platform", "platform.udp", "platform.tcp", "platform.sms"} <= components, components
    assert any(e["level"] == "NOTICE" and e["message"].startswith("wmmp-platform listening on") for e in lines)
    assert any(e["component"] == "platform.tcp" and "TCP total_length 5 is impossible: closing" in e["message"]
               for e in lines)
    assert any(e["component"] == "platform.udp" and "unreadable header" in e["message"] for e in lines)
    assert lines[-1]["message"] == "stopping (SIGTERM)" and lines[-1]["component"] == "platform"


# == repeated lines ===========================================================================

class _Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_repeated_errors_are_rate_limited():
    clock = _Clock()
    err = io.StringIO()
    handler = logfmt.LineHandler(err, tool="platform", limiter=logfmt.RepeatLimiter(60.0, clock=clock),
                                 timer=False)
    log = logging.getLogger("wmmp.test.repeats")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        for _ in range(100):
            log.error("SMSC not connected: SMS to %s dropped", "13800000001")
            clock.t += 0.1
        log.error("SMSC not connected: SMS to %s dropped", "13800000002")   # another text: shown
        for _ in range(3):
            log.info("progress")                                          # below WARNING: never held back
        assert [e["message"] for e in parse(err.getvalue())] == [
            "SMSC not connected: SMS to 13800000001 dropped", "SMSC not connected: SMS to 13800000002 dropped",
            "progress", "progress", "progress"]
        clock.t = 1061.0                               # a minute after the first: one summary
        log.warning("unrelated")
        entries = parse(err.getvalue())
        assert entries[5]["message"] == ("SMSC not connected: SMS to 13800000001 dropped "
                                         "(repeated 99 times in the last 61 s)")
        assert entries[5]["level"] == "ERROR" and entries[6]["message"] == "unrelated"
        # still repeating: held back again, and summed up at the end of the run
        for _ in range(5):
            log.error("SMSC not connected: SMS to %s dropped", "13800000001")
            clock.t += 1
        assert len(parse(err.getvalue())) == 7
        handler.close()
        last = parse(err.getvalue())[-1]
        assert last["message"] == "SMSC not connected: SMS to 13800000001 dropped (repeated 5 times in the last 5 s)"
        # quiet for a whole minute: the next copy is shown as new
        clock.t += 200
        handler2 = logfmt.LineHandler(err, limiter=handler.limiter, timer=False)
        log.removeHandler(handler)
        log.addHandler(handler2)
        log.error("SMSC not connected: SMS to %s dropped", "13800000001")
        assert parse(err.getvalue())[-1]["message"] == "SMSC not connected: SMS to 13800000001 dropped"
    finally:
        for h in log.handlers[:]:
            log.removeHandler(h)
        log.propagate = True


def test_repeated_summary_comes_without_further_lines():
    """The summary is written when its window ends even if nothing else is logged."""
    err = io.StringIO()
    handler = logfmt.LineHandler(err, limiter=logfmt.RepeatLimiter(0.3))
    log = logging.getLogger("wmmp.test.timer")
    log.propagate = False
    log.addHandler(handler)
    try:
        for _ in range(4):
            log.warning("TCP read failed")
        assert len(parse(err.getvalue())) == 1
        time.sleep(0.8)
        lines = parse(err.getvalue())
        assert [e["message"] for e in lines] == ["TCP read failed", "TCP read failed (repeated 3 times in the last 1 s)"]
    finally:
        log.removeHandler(handler)
        handler.close()
        log.propagate = True


# == values as a person reads them =============================================================

def test_platform_shows_serials_and_times_as_text():
    err = io.StringIO()

    def _cli(env, *argv):
        out, e = io.StringIO(), io.StringIO()
        code = PCLI.main(list(argv) + ["--control", "127.0.0.1:%d" % env.ctl.port], out, e)
        assert code == 0, e.getvalue()
        return out.getvalue()

    async def scenario():
        env = await Env().start()
        try:
            await env.provision()
            t = env.terminal()
            await t.enroll()
            shown = [await asyncio.to_thread(_cli, env, *a)
                     for a in (("list",), ("show", t.serial_text), ("log", "--limit", "5"))]
            return t.serial_text, shown
        finally:
            await env.stop()

    with logfmt.setup("platform", True, stream=err):
        serial, (listed, shown, logged) = asyncio.run(asyncio.wait_for(scenario(), 25))
    iso = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+08:00"
    assert re.search(r"^%s +online +%s +%s +%s udp:127\.0\.0\.1:\d+ \[session key\]$" % (serial, IMSI, MSISDN, iso),
                     listed, re.M), listed
    for field in ("registered", "last_seen", "up_valid", "down_valid", "base_valid", "curtime"):
        assert re.search(r"^%s +%s \(unix \d+\)$" % (field, iso), shown, re.M), (field, shown)
    assert re.search(r"^session_key +aes, 16-byte key \(hidden\), valid until %s \(unix \d+\)$" % iso, shown, re.M)
    assert re.search(r"^logged_in +yes$", shown, re.M) and re.search(r"^serial +%s$" % serial, shown, re.M)
    assert all(re.match(r"%s %s " % (iso, serial), line) for line in logged.splitlines()), logged
    assert re.search(r"session key issued \(aes, valid to %s \(unix \d+\)\)" % iso, logged)
    for text in (listed, shown, logged):
        assert not PYTHON_REPR.search(text) and "True" not in text
    lines = parse(err.getvalue())
    mine = [e for e in lines if e["component"].startswith("platform")]
    assert {"platform.udp", "platform.sms"} <= {e["component"] for e in mine}
    assert any(e["message"].startswith("%s in LOGIN #" % serial) for e in mine), mine
    assert any(serial in e["message"] for e in mine if e["component"] == "platform.sms")


# == waits ===================================================================================

def _read_pty(fd, proc, timeout=20):
    """Everything written to the pty master `fd` until `proc` ends."""
    data = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:             # EIO: the slave side is closed
                break
            if not chunk:
                break
            data += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout)
    return data.decode("utf-8", "replace")


def _run_on(argv, stderr_tty, stdin=subprocess.DEVNULL):
    """(exit status, stderr text) of `argv` with stderr on a pty or a pipe."""
    if not stderr_tty:
        r = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=30, stdin=stdin)
        return r.returncode, r.stderr
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=slave, stdin=stdin, env=ENV)
        os.close(slave)
        slave = None
        text = _read_pty(master, proc).replace("\r\n", "\n")     # the pty's line discipline
        return proc.returncode, text
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)


class _SlowControl:
    """A control socket that answers each request after `delay` s."""

    def __init__(self, delay, reply):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.delay, self.reply = delay, reply
        self.requests = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.requests.append(json.loads(conn.makefile("rb").readline()))
                time.sleep(self.delay)
                conn.sendall((json.dumps(self.reply) + "\n").encode())

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("tty_err", [True, False])
def test_platform_request_wait_shows_a_countdown_only_on_a_terminal(tty_err):
    ctl = _SlowControl(2.2, {"ok": False, "kind": "failed",
                             "error": "M2MMAKER00000001 did not answer CONFIG_GET within 3 s"})
    try:
        rc, err = _run_on(PY + ["-m", "wmmp_tools.platform.cli", "get", "M2MMAKER00000001", "HEARTBEAT_PERIOD",
                                "--timeout", "3", "--control", "127.0.0.1:%d" % ctl.port], tty_err)
    finally:
        ctl.close()
    assert rc == 1 and "Traceback" not in err
    assert ctl.requests and ctl.requests[0]["op"] == "get" and ctl.requests[0]["timeout"] == 3
    final = "wmmp-platform: M2MMAKER00000001 did not answer CONFIG_GET within 3 s"
    if tty_err:
        assert "\rwmmp-platform: waiting for M2MMAKER00000001 to answer CONFIG_GET: 2 s left" in err, repr(err)
        shown, _, rest = err.rpartition("\r")
        assert rest.strip() == final, repr(err)     # the countdown erased before the answer
    else:
        assert err == final + "\n"


@pytest.mark.parametrize("tty_err", [True, False])
def test_tech_console_wait_shows_a_countdown_only_on_a_terminal(tty_err):
    port_master, port_slave = os.openpty()              # a serial line nobody answers on
    tty.setraw(port_slave)
    try:
        rc, err = _run_on(PY + ["-m", "wmmp_tools.tech", "--port", os.ttyname(port_slave), "--timeout", "2.5",
                                "status"], tty_err)
        seen = b""
        while select.select([port_master], [], [], 0.05)[0]:
            seen += os.read(port_master, 4096)
    finally:
        os.close(port_master)
        os.close(port_slave)
    assert b"STATUS" in seen
    assert rc == 2 and "Traceback" not in err
    final = "wmmp-tech: no answer from the terminal within 2.5 s"
    if tty_err:
        assert re.search(r"\rwmmp-tech: waiting for the terminal's answer to STATUS: [12] s left [|/\\-]", err), repr(err)
        assert err.rpartition("\r")[2].strip() == final, repr(err)
    else:
        assert err == final + "\n"


def test_waiting_writes_nothing_off_a_terminal_and_names_no_secret():
    out = io.StringIO()
    with logfmt.waiting("anything", 5, out, delay=0.0, interval=0.01):
        time.sleep(0.1)
    assert out.getvalue() == ""
    assert tech.command_name("AUTH 0123456789abcdef") == "AUTH"
    assert tech.command_name("PROVISION 4f1c9e0a7b2d83e6c5a1f09d2b7e4c18 id") == "PROVISION"
    assert tech.command_name("RESET SIM 11223344") == "RESET SIM"
    assert tech.command_name("REQUEST SECURITY 04 E025") == "REQUEST SECURITY"
