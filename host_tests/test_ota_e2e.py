"""Software updates end to end (docs/PROTOCOL.md 12, 4.3.8; docs/UPDATE.md):
`wmmp-term --update-dir` (its serve(), in this process) against the platform
simulator and the SMS centre on loopback.  A 64 KB update file for board "host"
(wmmp_tools.mkupdate) is published and pushed; the terminal downloads it
(FILE_REQ with a window of 1 and 4, or HTTP with Range from the platform's file
server), checks it, applies it in the update directory and logs in again as
the new version, which `upgrade status` shows as applied.  Also: a server that
ignores Range (the download starts again from 0 and is still right), a block
whose CRC16 the platform corrupts (asked for again), an image for another board
(refused with 0x3012 reason 0x04, nothing applied), and a download stopped
half-way that a new wmmp-term on the same --state and --update-dir resumes,
fetching at most one block again.  CPython only; generous timeouts, nothing
timed."""

import asyncio
import io
import os
import time

import pytest

from wmmp.board import ota, otaimage as I
from wmmp.board.fsio import OsFS
from wmmp.terminal import engine as E
from wmmp_tools import mkupdate, term as TERM
from wmmp_tools.platform import upgrade as UP
from wmmp_tools.platform.model import Config
from wmmp_tools.platform.operator import Operator
from wmmp_tools.platform.server import Platform
from wmmp_tools.smsc import SmsCentre

IMEI, IMSI, MSISDN, PLATFORM_NUMBER = "860000000000001", "460001234567890", "13800000001", "10658000"
ICCID = "89860012345678901234"
SIZE = 64 * 1024
NEW = "APP0.2"
WAIT = 60.0


def update_file(board="host", version=NEW, size=SIZE):
    """An mpy-app update file of exactly `size` bytes: one module, app.py."""
    body = bytes((i * 131 + 17 + (i >> 9)) & 0xFF for i in range(size - I.HEADER - 1 - len("app.py") - 4))
    data = mkupdate.build(board, version, "mpy-app", [("app.py", body)])
    assert len(data) == size
    return data, body


async def until(what, cond, timeout=WAIT):
    end = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < end:
        v = cond()
        if v:
            return v
        await asyncio.sleep(0.02)
    raise AssertionError("no %s within %g s" % (what, timeout))


class Term:
    """One wmmp-term run (TERM.serve) on the rig's state and update directory."""

    def __init__(self, rig, extra=(), modem=None):
        if modem is None:
            argv = ["--smsc", "127.0.0.1:%d" % rig.smsc.port, "--msisdn", MSISDN, "--imei", IMEI, "--imsi", IMSI]
        else:
            argv = ["--sim7600", modem]
        argv += ["--udp", "127.0.0.1:%d" % rig.pf.udp_port, "--platform-number", PLATFORM_NUMBER,
                 "--state", rig.state, "--update-dir", rig.upd] + list(extra)
        self.args = TERM.parser().parse_args(argv)
        TERM.check(self.args)
        self.sess = TERM.Session()
        self.tr = TERM.Transcript(out=io.StringIO())
        self.task = asyncio.ensure_future(TERM.serve(self.args, self.tr, self.sess))

    @property
    def t(self):
        return self.sess.term

    def seen(self, text):
        return any(text in line for line in self.tr.lines)

    def log(self):
        return "\n".join(self.tr.lines[-60:])

    async def online(self):
        await until("login", lambda: self.t is not None and self.t.state == E.S_ONLINE)
        return self.t.serial.rstrip(b"\x00").decode()

    async def kill(self):
        """Stop as a crash would: no LOGOUT, the session just ends."""
        self.sess.runner.stop()
        return await asyncio.wait_for(self.task, 10)

    async def stop(self):
        self.sess.on_signal("SIGTERM")
        return await asyncio.wait_for(self.task, 10)


class Rig:
    def __init__(self, tmp_path):
        self.state = str(tmp_path / "state")
        self.upd = str(tmp_path / "updates")
        os.mkdir(self.state, 0o700)
        self.smsc = self.pf = self.op = self.emu = self.pty = None
        self.terms = []

    async def start(self):
        self.smsc = SmsCentre("127.0.0.1", 0)
        await self.smsc.start()
        self.pf = Platform(Config(udp_port=0, tcp_port=0, smsc=("127.0.0.1", self.smsc.port),
                                  msisdn=PLATFORM_NUMBER, key_delay=0.2))
        await self.pf.start()
        self.op = Operator(self.pf)
        await self.op.provision({"imsi": IMSI, "msisdn": MSISDN})
        return self

    def term(self, extra=(), modem=None):
        t = Term(self, extra, modem)
        self.terms.append(t)
        return t

    async def publish(self, data, version=NEW):
        return (await self.op.upgrade_publish({"data": data.hex(), "version": version}))["file"]

    async def push(self, serial, **kw):
        a = await self.op.upgrade_push(dict(serial=serial, **kw))
        return a

    async def status(self, serial):
        return (await self.op.upgrade_status({"serial": serial}))["upgrades"][0]

    async def wait_state(self, serial, *states):
        async def get():
            return await self.status(serial)
        end = asyncio.get_running_loop().time() + WAIT
        while True:
            st = await get()
            if st["state"] in states:
                return st
            if asyncio.get_running_loop().time() > end:
                raise AssertionError("upgrade state %s, not %s" % (st["state"], states))
            await asyncio.sleep(0.05)

    async def sim7600(self):
        """The SIM7600 emulator on a pty (its sockets, SMS and HTTP client reach
        the platform on loopback); the pty's path for --sim7600."""
        from wmmp.terminal.simcard import SimulatedSim
        from wmmp_tools.emu.ptyio import PtyPort
        from wmmp_tools.emu.sim7600 import Sim7600
        self.emu = Sim7600(SimulatedSim(IMSI, ICCID, IMEI, pin_enabled=False), msisdn=MSISDN,
                           smsc=("127.0.0.1", self.smsc.port))
        self.pty = PtyPort(self.emu).open()
        await self.emu.start()
        return self.pty.path

    def stager(self):
        return ota.AppStager(OsFS(), self.upd, "host")

    async def close(self):
        for t in self.terms:
            if not t.task.done():
                t.sess.on_signal("SIGTERM")
                try:
                    await asyncio.wait_for(t.task, 10)
                except Exception:
                    t.task.cancel()
        if self.emu is not None:
            self.pty.close()
            await self.emu.close()
        await UP.stop_http(self.pf)
        await self.pf.close()
        await self.smsc.close()


def run(tmp_path, scenario, timeout=240):
    async def main():
        rig = await Rig(tmp_path).start()
        try:
            return await asyncio.wait_for(scenario(rig), timeout)
        finally:
            await rig.close()
    return asyncio.run(main())


async def _applied(rig, term, serial, body):
    """The update applied: a new LOGIN as NEW, `upgrade status` applied, the
    module unpacked in the update directory, the new software confirmed."""
    st = await rig.wait_state(serial, "applied", "failed", "refused")
    assert st["state"] == "applied", (st, term.log())
    await until("the session as %s" % NEW, lambda: term.t.cfg.software_version == NEW.encode()
                and term.t.state == E.S_ONLINE)
    assert term.seen("LOGIN") and term.seen("restarting as software %s" % NEW)
    await until("the confirmation", lambda: rig.stager().pending() is None)
    s = rig.stager()
    assert s.version() == NEW
    with open(os.path.join(s.path(), "app.py"), "rb") as f:
        assert f.read() == body
    return st


# -- through WMMP (FILE_REQ) -----------------------------------------------------------------

@pytest.mark.parametrize("window", [1, 4])
def test_wmmp_download_applied_and_reported_at_login(tmp_path, window):
    """PROTOCOL.md 12: DOWNLOAD_INFO 0x01, FILE_REQ blocks (window 1 and 4), the
    whole-file CRC, STATUS 0x02, apply, LOGIN with the new version."""
    data, body = update_file()

    async def scenario(rig):
        term = rig.term(["--file-window", str(window)])
        serial = await term.online()
        assert term.t.cfg.software_version == b"WMMP0.1"
        await rig.publish(data)
        a = await rig.push(serial)
        assert a["result"] == 0x01, a
        st = await _applied(rig, term, serial, body)
        assert st["served"] == SIZE and st["position"] == SIZE, st
        assert term.seen("FILE_REQ") and term.seen("upgrade_ready")
        # requests outstanding at once: up to the window
        run_, most = 0, 0
        for line in term.tr.lines:
            if "-> packet FILE_REQ " in line and ("status=0x0 " in line or "status=0x1 " in line):
                run_ += 1
                most = max(most, run_)
            elif "<- packet FILE_REQ_ACK" in line:
                run_ = 0
        assert most == window, most
        assert await term.stop() == 0
        # the next start runs the update too (no --software-version needed)
        again = rig.term()
        await again.online()
        assert again.t.cfg.software_version == NEW.encode()
        assert again.seen("running the update %s" % NEW)
    run(tmp_path, scenario)


def test_corrupted_block_is_asked_for_again(tmp_path):
    """PROTOCOL.md 12 "Each block": a FILE_REQ_ACK whose CRC16 fails is asked
    for again with a new seq; the file still arrives whole."""
    data, body = update_file()

    async def scenario(rig):
        term = rig.term()
        serial = await term.online()
        await rig.publish(data)
        a = await rig.push(serial, corrupt_at=[0, 8192])
        assert a["result"] == 0x01, a
        st = await _applied(rig, term, serial, body)
        assert term.seen("upgrade_bad_block 0 1") and term.seen("upgrade_bad_block 8192 1"), term.log()
        assert st["served"] == SIZE + 2 * 2048, st          # each asked for once more
    run(tmp_path, scenario)


def test_image_for_another_board_is_refused_and_nothing_applied(tmp_path):
    """PROTOCOL.md 12 "Outcome", docs/UPDATE.md: an update file for another
    board fails with 0x3012 reason 0x04 as soon as its header is in (the rest
    is not fetched); nothing is applied."""
    data, _ = update_file(board="pico_bc95")

    async def scenario(rig):
        term = rig.term()
        serial = await term.online()
        await rig.publish(data)
        assert (await rig.push(serial))["result"] == 0x01
        st = await rig.wait_state(serial, "failed", "applied")
        assert st["state"] == "failed" and st["reason"] == 0x04, st
        assert st["served"] < SIZE // 4, st                  # refused at its header, not at the end
        await until("the 0x3012", lambda: term.seen("tlvs=3012") and term.seen("upgrade_failed 1 4"))
        assert term.seen("FILE_REQ seq") and term.seen("status=0x3 ")          # FILE_REQ STATUS 0x03
        s = rig.stager()
        assert s.version() is None and s.path() is None
        for slot in ota.AppStager.SLOTS:
            p = os.path.join(rig.upd, slot)
            assert not os.path.exists(p) or not os.listdir(p)
        assert term.t.cfg.software_version == b"WMMP0.1" and term.t.state == E.S_ONLINE
    run(tmp_path, scenario)


def _stop_half_way(monkeypatch, rig, fired):
    """Stop the running wmmp-term (no LOGOUT) once half the file is staged."""
    orig = ota.AppStager.write

    def write(self, offset, data):
        orig(self, offset, data)
        if not fired and self.n >= SIZE // 2:
            t = rig.terms[-1]
            d = t.t._dl
            fired.append((self.n, d.block if d is not None else 0))
            t.sess.runner.stop()
            t.sess.updates.stop_fetch()      # an HTTP range in flight is lost too
    monkeypatch.setattr(ota.AppStager, "write", write)
    return orig


def test_wmmp_download_stopped_half_way_resumes(tmp_path, monkeypatch):
    """PROTOCOL.md 12 "Resume": wmmp-term stopped half-way through, a new one
    on the same --state and --update-dir goes on from the bytes staged; at
    most one block is fetched again."""
    data, body = update_file()

    async def scenario(rig):
        fired = []
        orig = _stop_half_way(monkeypatch, rig, fired)
        first = rig.term()
        serial = await first.online()
        await rig.publish(data)
        assert (await rig.push(serial))["result"] == 0x01
        assert await asyncio.wait_for(first.task, WAIT) == 1       # stopped, not logged out
        kept, block = fired[0]
        assert SIZE // 2 <= kept < SIZE and block > 0
        monkeypatch.setattr(ota.AppStager, "write", orig)
        second = rig.term()
        await second.online()
        assert second.seen("upgrade_resume"), second.log()
        st = await _applied(rig, second, serial, body)
        assert SIZE <= st["served"] <= SIZE + block, (st, block)
    run(tmp_path, scenario)


# -- through HTTP ----------------------------------------------------------------------------

def test_http_download_with_range(tmp_path):
    """PROTOCOL.md 12 "Download over HTTP": the host's HTTP fetch asks ranges
    of 4 KB (206 + Content-Range) and the file is applied."""
    data, body = update_file()

    async def scenario(rig):
        srv = await UP.start_http(rig.pf)
        term = rig.term()
        serial = await term.online()
        await rig.publish(data)
        assert (await rig.push(serial, scheme="http"))["result"] == 0x01
        st = await _applied(rig, term, serial, body)
        assert st["scheme"] == "http" and st["served"] == SIZE, st
        assert srv.requests >= SIZE // 4096 and term.seen("upgrade_fetch")
        assert not term.seen("upgrade_restart")
    run(tmp_path, scenario)


def test_http_stopped_then_server_ignores_range(tmp_path, monkeypatch):
    """PROTOCOL.md 12: stopped half-way, the download resumes with a Range from
    the bytes staged; the server now ignores Range (200, the whole file), so the
    download starts again from 0 and the file is still right."""
    data, body = update_file()

    async def scenario(rig):
        srv = await UP.start_http(rig.pf)
        fired = []
        orig = _stop_half_way(monkeypatch, rig, fired)
        first = rig.term()
        serial = await first.online()
        await rig.publish(data)
        assert (await rig.push(serial, scheme="http"))["result"] == 0x01
        assert await asyncio.wait_for(first.task, WAIT) == 1
        monkeypatch.setattr(ota.AppStager, "write", orig)
        srv.ignore_range = True
        second = rig.term()
        await second.online()
        await _applied(rig, second, serial, body)
        assert second.seen("upgrade_resume") and second.seen("upgrade_restart"), second.log()
        assert second.seen("the server ignored Range")
    run(tmp_path, scenario)


def test_http_download_stopped_half_way_resumes(tmp_path, monkeypatch):
    """PROTOCOL.md 12 "Resume" over HTTP: at most one 4 KB range fetched again."""
    data, body = update_file()

    async def scenario(rig):
        await UP.start_http(rig.pf)
        fired = []
        orig = _stop_half_way(monkeypatch, rig, fired)
        first = rig.term()
        serial = await first.online()
        await rig.publish(data)
        assert (await rig.push(serial, scheme="http"))["result"] == 0x01
        assert await asyncio.wait_for(first.task, WAIT) == 1
        monkeypatch.setattr(ota.AppStager, "write", orig)
        second = rig.term()
        await second.online()
        st = await _applied(rig, second, serial, body)
        # the range in flight when it stopped is fetched again, nothing more
        assert SIZE <= st["served"] <= SIZE + 4096, st
        assert not second.seen("upgrade_restart")
    run(tmp_path, scenario)


def test_http_through_the_sim7600_http_client(tmp_path):
    """PROTOCOL.md 12 over HTTP with --sim7600: the ranges go through the
    module's own HTTP client (AT+HTTPINIT ... AT+HTTPREAD, the emulator's real
    HTTP to the platform's file server)."""
    data, body = update_file()

    async def scenario(rig):
        srv = await UP.start_http(rig.pf)
        term = rig.term(modem=await rig.sim7600())
        serial = await term.online()
        assert term.seen("HTTP through the module")
        await rig.publish(data)
        assert (await rig.push(serial, scheme="http"))["result"] == 0x01
        st = await _applied(rig, term, serial, body)
        assert st["served"] == SIZE and srv.requests >= SIZE // 4096, st
    run(tmp_path, scenario)


def test_http_through_the_sim7600_when_the_server_ignores_range(tmp_path):
    """PROTOCOL.md 12: through the module's HTTP client, a server that answers
    every ranged GET with 200: the download starts from 0 and still completes,
    verified (the driver reads each range out of the whole body the module
    holds), instead of restarting for ever."""
    data, body = update_file()

    async def scenario(rig):
        srv = await UP.start_http(rig.pf)
        srv.ignore_range = True
        term = rig.term(modem=await rig.sim7600())
        serial = await term.online()
        await rig.publish(data)
        assert (await rig.push(serial, scheme="http"))["result"] == 0x01
        await _applied(rig, term, serial, body)
    run(tmp_path, scenario)


# -- the health check ------------------------------------------------------------------------

def test_update_not_confirmed_is_rolled_back_at_the_next_start(tmp_path, monkeypatch):
    """PROTOCOL.md 12 "Outcome": the new software stops before its health
    check confirmed it; the next start runs the old one and reports 0x3012
    reason 0x05 (the platform: rolled-back)."""
    data, body = update_file()

    async def scenario(rig):
        def confirm(self):               # the new software dies before it confirms itself
            rig.terms[-1].sess.runner.stop()
        monkeypatch.setattr(ota.AppStager, "confirm", confirm)
        first = rig.term()
        serial = await first.online()
        await rig.publish(data)
        assert (await rig.push(serial))["result"] == 0x01
        await asyncio.wait([first.task], timeout=WAIT)
        assert first.task.done() and first.task.result() == 1, first.log()
        assert first.seen("restarting as software %s" % NEW)
        assert (await rig.status(serial))["state"] == "applied"          # it did log in as NEW
        monkeypatch.undo()
        second = rig.term()
        await second.online()
        assert second.t.cfg.software_version == b"WMMP0.1"
        st = await rig.wait_state(serial, "rolled-back")
        assert st["reason"] == 0x05, st
        assert rig.stager().version() is None and rig.stager().rolled_back() is None   # reported
    run(tmp_path, scenario)


# -- the command line ---------------------------------------------------------------------

def test_installed_wmmp_term_killed_mid_download_resumes(tmp_path):
    """The installed command: `wmmp-term --update-dir` killed (SIGKILL) during
    an HTTP download, started again on the same --state and --update-dir: the
    download resumes from what was staged (not from 0), the update is applied
    and the session runs as the new version."""
    import signal
    from test_term_emu_cli import Proc, Stack, TERM as EXE
    data, body = update_file(size=1 << 20)
    st = Stack()
    state, upd = str(tmp_path / "state"), str(tmp_path / "updates")
    procs = []
    try:
        st.call(UP.start_http(st.pf))
        argv = ["--udp", st.udp, "--smsc", st.sms, "--state", state, "--update-dir", upd]
        p = Proc(EXE, argv)
        procs.append(p)
        p.wait_for("state online", 60)
        assert oct(os.stat(upd).st_mode & 0o777) == "0o700"
        serial = [s for s, v in st.states().items() if v == "online"][0]
        st.call(st.op.upgrade_publish({"data": data.hex(), "version": NEW}))
        assert st.call(st.op.upgrade_push({"serial": serial, "scheme": "http"}))["result"] == 0x01
        p.wait_for("upgrade_fetch", 30)
        limit = time.monotonic() + 60
        while time.monotonic() < limit:        # some of it fetched (64 KB of 1 MB), then the kill
            pos = st.call(st.op.upgrade_status({"serial": serial}))["upgrades"][0]["position"]
            if pos >= 64 * 1024:
                break
            time.sleep(0.005)
        p.p.send_signal(signal.SIGKILL)
        p.p.wait(10)
        p = Proc(EXE, argv)
        procs.append(p)
        p.wait_for("restarting as software %s" % NEW, 120)
        up = st.call(st.op.upgrade_status({"serial": serial}))["upgrades"][0]
        limit = time.monotonic() + 60
        while up["state"] != "applied" and time.monotonic() < limit:
            time.sleep(0.1)
            up = st.call(st.op.upgrade_status({"serial": serial}))["upgrades"][0]
        assert up["state"] == "applied", up
        resumed = [ln.split() for ln in p.lines if "upgrade_resume" in ln]
        assert resumed and int(resumed[0][5]) > 0, resumed          # not from 0
        with open(os.path.join(ota.AppStager(OsFS(), upd, "host").path(), "app.py"), "rb") as f:
            assert f.read() == body
        rc, err = p.stop()
        assert rc == 0 and "Traceback" not in err, err[-3000:]
    finally:
        for q in procs:
            if q.p.poll() is None:
                q.p.kill()
                q.p.wait(10)
        st.close()


def test_update_dir_checks(tmp_path):
    udp = ["--udp", "127.0.0.1:7301"]
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o777)
    plain = tmp_path / "plain"
    plain.write_text("x")
    for argv, text in ((["--update-dir", str(open_dir)], "other users"),
                       (["--update-dir", str(plain)], "not a directory"),
                       (["--update-dir", str(tmp_path / "no" / "x")], "does not exist"),
                       (["--file-window", "4"], "--update-dir"),
                       (["--update-dir", str(tmp_path / "u"), "--file-window", "0"], "1..16")):
        err = io.StringIO()
        import contextlib
        with contextlib.redirect_stderr(err):
            assert TERM.main(udp + argv) == 2
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and text in lines[0], lines
    assert not (tmp_path / "u").exists()
    help_text = " ".join(TERM.parser().format_help().split())
    assert "--update-dir DIR" in help_text and "--file-window N" in help_text
