"""`wmmp-tech` against a terminal running on the host with its service console
(wmmp.board.console) on a real pseudo-terminal: the local manual security resets of
sections 4.4.1.4 (SIM) and 4.4.4 (access passwords and base key), E020 bits of
appendix E g, identity and state checks, the persistent lockout (issue 4).
CPython only: os.openpty, pyserial, subprocess."""
import hashlib
import hmac
import os
import select
import subprocess
import sys
import threading
import time
import tty

import pytest

from wmmp.board import console as CO, store as ST, fsio
from wmmp.terminal import simcard as S, simguard as G
from wmmp.wire import codes as K
from wmmp.errors import WmmpError
from wmmp_tools import tech

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TECH = os.path.join(ROOT, ".venv", "bin", "wmmp-tech")

CRED = b"4f1c9e0a7b2d83e6c5a1f09d2b7e4c18"
UP = b"Up123456"
DOWN = b"Dn654321"
BASE = b"BaseKey3DES12345"
IMEI = "860000000000001"
IMSI = "460001234567890"
ICCID = "89860012345678901234"
PUK = "11223344"
PIN = "2468"


class _AsyncSim(S.SimulatedSim):
    """A SIM that says it is asynchronous, as the modem drivers do: the console
    hands its work out as SIM jobs."""
    sim_async = True


class PtyTerminal:
    """A terminal's service console served on a pseudo-terminal: a thread reads
    the master side, feeds wmmp.board.console.Console with a clock the test can move,
    and writes the replies back; the console's SIM jobs (an asynchronous SIM)
    are run there too.  `path` is the slave device wmmp-tech opens."""

    def __init__(self, store, sim=None, state=("online", []), **kw):
        self.state = state
        self.frozen = None
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.console = CO.Console(store, lambda: self.state, sim=sim, firmware="FW1.2", imei=IMEI, **kw)
        self.seen = bytearray()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def now(self):
        """The console's clock: real time, or `frozen` when a test holds it still."""
        return self.frozen if self.frozen is not None else time.monotonic()

    def _serve(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self.master], [], [], 0.05)
            if not r:
                continue
            try:
                data = os.read(self.master, 1024)
            except OSError:
                continue
            self.seen += data
            out = self.console.feed(data, self.now())
            out += self._sim_work()
            if out:
                os.write(self.master, out)

    def _sim_work(self):
        """What the firmware's console task does with SIM jobs (here on the
        synchronous card underneath an _AsyncSim)."""
        out = b""
        while True:
            jobs = self.console.sim_jobs()
            if not jobs:
                return out
            for job, done in jobs:
                try:
                    res, err = G.run(job, self.console.sim), None
                except WmmpError as e:
                    res, err = None, e
                out += self.console.sim_done(done, res, err, self.now())

    def close(self):
        self._stop.set()
        self._t.join(2)
        os.close(self.master)
        os.close(self.slave)


def _provisioned():
    return {"secret_service": CRED, "serial": b"M2MMAKER0000A1B2", "registered": b"\x01",
            "imsi": IMSI.encode(), 0xE025: UP, 0xE027: b"\x6a\x00\x00\x00", 0xE028: DOWN,
            0xE02A: b"\x6a\x00\x00\x00", 0xE036: BASE, 0xE038: b"\x6a\x00\x00\x00", 0xE039: b"\x01"}


@pytest.fixture
def flash(tmp_path):
    st = ST.FlashStorage(fsio.OsFS(), str(tmp_path / "state"))
    st.save(_provisioned())
    return st


@pytest.fixture
def cred_file(tmp_path):
    p = tmp_path / "cred"
    p.write_bytes(CRED + b"\n")
    p.chmod(0o600)
    return str(p)


@pytest.fixture
def wrong_file(tmp_path):
    p = tmp_path / "wrong"
    p.write_bytes(b"not-the-credential\n")
    p.chmod(0o600)
    return str(p)


@pytest.fixture
def term(flash):
    t = PtyTerminal(flash)
    yield t
    t.close()


class Run:
    def __init__(self, p):
        self.rc = p.returncode
        self.out = p.stdout
        self.err = p.stderr


def wmmp_tech(*args, timeout=20):
    p = subprocess.run([TECH] + list(args), capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return Run(p)


def _no_secret(*texts):
    for text in texts:
        for s in (CRED, UP, DOWN, BASE, PUK.encode(), PIN.encode()):
            assert s.decode() not in text
            assert s.hex() not in text.lower()


def test_console_script_is_installed():
    assert os.access(TECH, os.X_OK), "run: .venv/bin/pip install --no-deps --no-build-isolation -e ."


def test_status_ident_alarms_over_the_pty(term):
    term.state = ("alarm", [K.ALARM_SELF_TEST_FAULT, K.ALARM_MEMORY_ERROR])
    r = wmmp_tech("--port", term.path, "status")
    assert r.rc == 0, r.err
    assert "state" in r.out and " alarm\n" in r.out
    assert "0x0006 terminal self-test fault (hardware)" in r.out and "0x0011 memory error" in r.out
    assert "reset" in r.out and "allowed" in r.out and "registered     yes" in r.out
    r = wmmp_tech("--port", term.path, "ident")
    shown = dict(line.split(None, 1) for line in r.out.splitlines())
    assert r.rc == 0 and shown["serial"] == "M2MMAKER0000A1B2" and shown["imei"] == IMEI
    assert shown["cred_id"] == "-"
    r = wmmp_tech("--port", term.path, "alarms")
    assert r.rc == 0 and r.out.splitlines()[0].startswith("0x0006 terminal self-test fault")
    _no_secret(r.out, r.err, term.seen.decode())


def test_reset_refused_while_working_normally(term, cred_file, flash):
    # 4.4.4: in the normal (logged in) state the reset is refused even with the
    # right credential: exit 1, nothing cleared.
    r = wmmp_tech("--port", term.path, "--credential-file", cred_file, "reset-keys")
    assert r.rc == 1 and r.out == ""
    assert r.err.startswith("wmmp-tech: terminal refused the access passwords and base key reset: state ")
    assert len(r.err.splitlines()) == 1
    d = flash.load()
    assert d[0xE025] == UP and "cleared" not in d and d["registered"] == b"\x01"
    assert [e for _, e, _ in flash.audit_entries()][-2:] == ["console_auth_ok", "console_refused"]


def test_reset_keys_allowed_in_alarm_state(term, cred_file, flash):
    # 4.4.4 + appendix E g E020: uplink 0x08, downlink 0x04, base key 0x02 recorded
    # for REGISTER operation 0x04; the credential never crosses the line.
    term.state = ("alarm", [K.ALARM_PLATFORM_CONNECT_FAILED])
    r = wmmp_tech("--port", term.path, "--credential-file", cred_file, "reset-keys")
    assert r.rc == 0, r.err
    assert "access passwords and base key reset done" in r.out
    assert "0x0E (uplink access password cleared, downlink access password cleared, base key cleared)" in r.out
    d = flash.load()
    assert d["cleared"] == b"\x0e" and "registered" not in d
    assert not any(t in d for t in (0xE025, 0xE028, 0xE036))
    assert term.console.events() == [("reset", "keys", 0x0E)]
    sent = term.seen.decode()
    assert "AUTH " in sent and "BYE" in sent
    _no_secret(r.out, r.err, sent)


def test_reset_sim_allowed_in_alarm_state(tmp_path, cred_file):
    # 4.4.1.4 case 3: PIN1 locked; the PUK (from a file) unlocks it, the binding and
    # the PIN1 check are cleared; E020 = 0x80 recorded for the next LOGIN.
    flash = ST.FlashStorage(fsio.OsFS(), str(tmp_path / "state"))
    d = _provisioned()
    d["secret_pin1"] = b"2468"
    flash.save(d)
    G.bind(flash, IMSI, IMEI)
    sim = S.SimulatedSim(IMSI, ICCID, IMEI, pin="2468", puk=PUK)
    for bad in ("1111", "2222", "3333"):
        with pytest.raises(S.WrongPin):
            sim.enter_pin(bad)
    puk_file = tmp_path / "puk"
    puk_file.write_text(PUK + "\n")
    puk_file.chmod(0o600)
    term = PtyTerminal(flash, sim=sim, state=("alarm", [K.ALARM_SELF_TEST_FAULT]))
    try:
        r = wmmp_tech("--port", term.path, "--credential-file", cred_file, "reset-sim")
        assert r.rc == 1 and "need_puk" in r.err
        r = wmmp_tech("--port", term.path, "--credential-file", cred_file, "--puk-file", str(puk_file),
                      "reset-sim")
        assert r.rc == 0, r.err
        assert "SIM security reset done" in r.out and "0x80 (PIN1 cleared)" in r.out
        assert sim.pin_state() == S.READY and not sim.pin_enabled()
        assert flash.load()["cleared_login"] == b"\x80"
        assert G.read_tlvs(sim, flash, b"", [0xE00D]) == [(0xE00D, b"\x00")]
        _no_secret(r.out, r.err, "\n".join("%s %s" % e[1:] for e in flash.audit_entries()))
    finally:
        term.close()


def _secret(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text + "\n")
    p.chmod(0o600)
    return str(p)


def test_reset_sim_with_the_cards_pin1_from_a_file(tmp_path, cred_file):
    # 4.4.1.1 / 4.4.1.4: the card asks for PIN1 and refused the stored one (the
    # boot alarmed); the technician's PIN1 comes from --pin-file (never from the
    # command line): RESET SIM PIN1 recovers the card, then the binding and the
    # PIN1 check are cleared; E020 = 0x80 for the next LOGIN.  The console's SIM
    # is asynchronous here (SIM jobs), as on a board with a modem.
    flash = ST.FlashStorage(fsio.OsFS(), str(tmp_path / "state"))
    d = _provisioned()
    d["secret_pin1"] = b"1357"
    flash.save(d)
    G.bind(flash, IMSI, IMEI)
    sim = _AsyncSim(IMSI, ICCID, IMEI, pin=PIN, puk=PUK)
    assert G.SimGuard(sim, flash).boot().state == G.ALARM and sim.attempts() == (2, 10)
    wrong = _secret(tmp_path, "wrongpin", "8642")
    pin_file = _secret(tmp_path, "pin", PIN)
    term = PtyTerminal(flash, sim=sim, state=("alarm", [K.ALARM_SELF_TEST_FAULT]))
    try:
        r = wmmp_tech("--port", term.path, "status")
        assert r.rc == 0 and "SIM_PIN" in r.out and "pin1_left" in r.out, r.err
        r = wmmp_tech("--port", term.path, "--credential-file", cred_file, "reset-sim")
        assert r.rc == 1 and "need_pin" in r.err and "--pin-file" in r.err
        r = wmmp_tech("--port", term.path, "--credential-file", cred_file, "--pin-file", wrong, "reset-sim")
        assert r.rc == 1 and "WrongPin" in r.err and "left=1" in r.err and "8642" not in r.err
        assert sim.attempts() == (1, 10)
        r = wmmp_tech("--port", term.path, "--credential-file", cred_file, "--pin-file", pin_file,
                      "reset-sim")
        assert r.rc == 1 and "WouldLock" in r.err                  # 1 attempt left: nothing sent
        assert sim.attempts() == (1, 10) and sim.pin_state() == S.SIM_PIN
    finally:
        term.close()
    # again with a fresh card that refused the stored PIN1 once: the right PIN1 recovers it
    flash.save(d)
    G.bind(flash, IMSI, IMEI)
    sim = _AsyncSim(IMSI, ICCID, IMEI, pin=PIN, puk=PUK)
    assert G.SimGuard(sim, flash).boot().state == G.ALARM and sim.attempts() == (2, 10)
    term = PtyTerminal(flash, sim=sim, state=("alarm", [K.ALARM_SELF_TEST_FAULT]))
    try:
        r = wmmp_tech("--port", term.path, "--credential-file", cred_file, "--pin-file", pin_file,
                      "reset-sim")
        assert r.rc == 0, r.err
        assert "SIM security reset done" in r.out and "0x80 (PIN1 cleared)" in r.out
        assert sim.pin_state() == S.READY and not sim.pin_enabled() and sim.attempts() == (3, 10)
        assert flash.load()["cleared_login"] == b"\x80" and flash.load()["secret_pin1"] == PIN.encode()
        assert G.read_tlvs(sim, flash, b"", [0xE00D]) == [(0xE00D, b"\x00")]
        _no_secret(r.out, r.err, "\n".join("%s %s" % e[1:] for e in flash.audit_entries()),
                   term.seen.decode().replace("PIN1 " + PIN, ""))
        assert term.seen.count(PIN.encode()) == 1          # sent once, for RESET SIM PIN1
    finally:
        term.close()


def test_wrong_credential_then_lockout_delay(term, cred_file, wrong_file, flash):
    # Issue 4: a wrong answer raises the persistent counter and the next AUTH waits
    # 2 s (then 4, 8 ...); during the wait even the right credential is refused.
    term.state = ("alarm", [K.ALARM_PLATFORM_CONNECT_FAILED])
    term.frozen = 1000.0            # the console's clock moves only when the test says so
    r = wmmp_tech("--port", term.path, "--credential-file", wrong_file, "reset-keys")
    assert r.rc == 2
    assert r.err == "wmmp-tech: wrong credential: wrong answer: 1 failures, next AUTH in 2 s\n"
    assert flash.load()["console_fails"] == b"\x00\x01"
    r = wmmp_tech("--port", term.path, "--credential-file", cred_file, "reset-keys")
    assert r.rc == 2 and r.err.startswith("wmmp-tech: terminal locked after wrong credentials: wait ")
    assert flash.load()[0xE025] == UP
    term.frozen += 2.0
    r = wmmp_tech("--port", term.path, "--credential-file", wrong_file, "audit")
    assert r.rc == 2 and "2 failures, next AUTH in 4 s" in r.err
    term.frozen += 4.0
    r = wmmp_tech("--port", term.path, "--credential-file", cred_file, "reset-keys")
    assert r.rc == 0, r.err
    assert flash.load()["console_fails"] == b"\x00\x00"


def test_audit_export(term, cred_file):
    r = wmmp_tech("--port", term.path, "--credential-file", cred_file, "audit")
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert lines[-1] == "(%d entries)" % (len(lines) - 1)
    assert "console_auth_ok technician authenticated" in r.out
    _no_secret(r.out, r.err)


def test_credential_prompted_not_echoed(term, flash, monkeypatch, capsys):
    # No --credential-file: asked for with getpass (no echo), never printed.
    asked = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: asked.append(prompt) or CRED.decode())
    term.state = ("backoff", [])
    assert tech.main(["--port", term.path, "reset-keys"]) == 0
    out, err = capsys.readouterr()
    assert asked == ["service credential: "] and "reset done" in out
    _no_secret(out, err)
    assert flash.load()["cleared"] == b"\x0e"


def test_bad_input_is_one_line_and_exit_2(tmp_path, term, cred_file):
    # missing credential file
    r = wmmp_tech("--port", term.path, "--credential-file", str(tmp_path / "nope"), "reset-keys")
    assert r.rc == 2 and r.err.startswith("wmmp-tech: cannot read the credential file ") and \
        len(r.err.splitlines()) == 1
    # empty credential file
    empty = tmp_path / "empty"
    empty.write_bytes(b"\n")
    r = wmmp_tech("--port", term.path, "--credential-file", str(empty), "audit")
    assert r.rc == 2 and "is empty" in r.err
    # a PUK that is not 8 digits is refused before anything is sent
    bad = tmp_path / "badpuk"
    bad.write_text("1234\n")
    r = wmmp_tech("--port", term.path, "--credential-file", cred_file, "--puk-file", str(bad), "reset-sim")
    assert r.rc == 2 and "must be 8 digits" in r.err and "1234" not in r.err
    # a PIN1 that is not 4-8 digits, likewise; PIN and PUK files do not go together
    bad.write_text("123\n")
    r = wmmp_tech("--port", term.path, "--credential-file", cred_file, "--pin-file", str(bad), "reset-sim")
    assert r.rc == 2 and "must be 4 to 8 digits" in r.err and "123\n" not in r.err
    r = wmmp_tech("--port", term.path, "--credential-file", cred_file, "--pin-file", str(bad),
                  "--puk-file", str(bad), "reset-sim")
    assert r.rc == 2 and "do not go together" in r.err
    r = wmmp_tech("--port", term.path, "--pin-file", str(bad), "status")
    assert r.rc == 2 and "--pin-file is only for reset-sim" in r.err
    r = wmmp_tech("--port", term.path, "--pin", "2468", "reset-sim")
    assert r.rc == 2 and "2468" not in r.err
    assert b"RESET" not in term.seen
    # no such port
    r = wmmp_tech("--port", str(tmp_path / "ttyNONE"), "status")
    assert r.rc == 2 and r.err.startswith("wmmp-tech: cannot open ") and len(r.err.splitlines()) == 1
    # unknown command, and no way to put the credential on the command line
    assert wmmp_tech("--port", term.path, "frob").rc == 2
    r = wmmp_tech("--port", term.path, "--credential", CRED.decode(), "status")
    assert r.rc == 2 and CRED.decode() not in r.err


def test_world_readable_credential_file_warns(tmp_path, term):
    p = tmp_path / "open"
    p.write_bytes(CRED)
    p.chmod(0o644)
    r = wmmp_tech("--port", term.path, "--credential-file", str(p), "audit")
    assert r.rc == 0 and "warning: %s is readable by other users" % p in r.err


def test_no_answer_times_out():
    master, slave = os.openpty()
    try:
        tty.setraw(slave)
        t0 = time.monotonic()
        r = wmmp_tech("--port", os.ttyname(slave), "--timeout", "0.5", "status")
        assert r.rc == 2 and r.err == "wmmp-tech: no answer from the terminal within 0.5 s\n"
        assert time.monotonic() - t0 < 10
    finally:
        os.close(master)
        os.close(slave)


def test_terminal_text_is_sanitised():
    # A hostile line cannot send terminal control sequences to the technician's screen.
    assert tech._clean("OK \x1b[2Jx\x07") == "OK ?[2Jx?"


def test_answer_matches_the_terminal_side():
    # The tool's HMAC-MD5 (Python's hmac) and the terminal's (wmmp.crypto.md5) agree (RFC 2104).
    for cred, nonce in ((CRED, bytes(16)), (b"k" * 100, bytes(range(16)))):
        assert tech.answer(cred, nonce) == CO.response(cred, nonce)



# -- per-device credentials: derivation, provisioning, rotation (4.4.1.4, 4.4.4) ---

MASTER = b"operator-master-secret-for-tests-0123456789"
DERIVED = hmac.new(MASTER, b"wmmp-service-credential|%s|1" % IMEI.encode(), hashlib.sha256).hexdigest()[:32]


@pytest.fixture
def master_file(tmp_path):
    p = tmp_path / "master"
    p.write_bytes(MASTER + b"\n")
    p.chmod(0o600)
    return str(p)


@pytest.fixture
def factory(tmp_path):
    """A terminal fresh from the board test: no credential, never registered,
    firmware with the factory switch on."""
    st = ST.FlashStorage(fsio.OsFS(), str(tmp_path / "factory"))
    st.save({"imsi": IMSI.encode()})
    t = PtyTerminal(st, state=("idle", []), provisioning=True)
    t.flash = st
    yield t
    t.close()


def _secret_file(tmp_path, name, data, mode=0o600):
    p = tmp_path / name
    p.write_bytes(data)
    p.chmod(mode)
    return str(p)


def _no(secret, *texts):
    for text in texts:
        assert secret.lower() not in text.lower()


def test_derivation_known_answer():
    # The identity check of 4.4.1.4 / 4.4.4 relies on a per-device credential:
    # HMAC-SHA256(master, "wmmp-service-credential|<IMEI>|<generation>"), first
    # 128 bits in hex (the vector of docs/CONSOLE.md); one per IMEI and generation.
    assert tech.derive_credential(b"0123456789abcdef0123456789abcdef", "490154203237518") == \
        b"227a7db42e99e8541fbcda810b9fad80"
    assert tech.derive_credential(MASTER, IMEI).decode() == DERIVED
    others = {tech.derive_credential(MASTER, IMEI, 2), tech.derive_credential(MASTER, "860000000000002"),
              tech.derive_credential(MASTER + b"x", IMEI), tech.derive_credential(MASTER, IMEI)}
    assert len(others) == 4
    assert CO.parse_credential(DERIVED) == (DERIVED.encode(), None)
    assert tech.credential_id(IMEI, 3) == IMEI + "/3" and CO.valid_id(tech.credential_id(IMEI, 99999))


def test_credential_command_writes_a_0600_file_and_prints_nothing_secret(tmp_path, master_file):
    # 4.4.1.4 / 4.4.4 identity: the operator derives a terminal's credential; it
    # goes into a new file only its owner can read, never onto the screen.
    out = str(tmp_path / "cred")
    r = wmmp_tech("credential", "--master-file", master_file, "--imei", IMEI, "--out", out)
    assert r.rc == 0, r.err
    assert r.out == "service credential %s/1 written to %s (mode 0600)\n" % (IMEI, out)
    assert "fails its check digit (Luhn)" in r.err          # the test IMEI is not a real one
    assert os.stat(out).st_mode & 0o777 == 0o600
    assert open(out, "rb").read() == DERIVED.encode() + b"\n"
    _no(DERIVED, r.out, r.err)
    # never overwritten, never through a symlink
    r = wmmp_tech("credential", "--master-file", master_file, "--imei", IMEI, "--out", out)
    assert r.rc == 2 and r.err.endswith("\nwmmp-tech: %s exists: not overwritten\n" % out)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    r = wmmp_tech("credential", "--master-file", master_file, "--imei", IMEI, "--out", str(link))
    assert r.rc == 2 and not (tmp_path / "elsewhere").exists()
    # shown only when asked
    r = wmmp_tech("credential", "--master-file", master_file, "--imei", IMEI, "--generation", "2", "--show")
    assert r.rc == 0 and r.out == tech.derive_credential(MASTER, IMEI, 2).decode() + "\n"
    r = wmmp_tech("credential", "--master-file", master_file, "--imei", "490154203237518", "--show")
    assert r.rc == 0 and r.err == ""                         # a valid check digit: no warning


def test_credential_command_bad_input(tmp_path, master_file):
    # Bad input: one line on stderr, exit 2, nothing written, no secret shown.
    out = str(tmp_path / "cred")
    r = wmmp_tech("credential", "--master-file", master_file, "--imei", IMEI)
    assert r.rc == 2 and "give --out FILE (or --show" in r.err
    r = wmmp_tech("credential", "--master-file", master_file, "--imei", "86000000000000", "--out", out)
    assert r.rc == 2 and r.err == "wmmp-tech: an IMEI is 15 digits\n"
    r = wmmp_tech("credential", "--imei", IMEI, "--out", out)
    assert r.rc == 2 and "needs --master-file and --imei" in r.err
    r = wmmp_tech("credential", "--master-file", master_file, "--imei", IMEI, "--generation", "0", "--out", out)
    assert r.rc == 2 and "--generation is 1 to 99999" in r.err
    loose = _secret_file(tmp_path, "loose", MASTER, 0o640)
    r = wmmp_tech("credential", "--master-file", loose, "--imei", IMEI, "--out", out)
    assert r.rc == 2 and "is readable by other users: chmod 600 it" in r.err
    short = _secret_file(tmp_path, "short", b"0123456789\n")
    r = wmmp_tech("credential", "--master-file", short, "--imei", IMEI, "--out", out)
    assert r.rc == 2 and "fewer than 16 bytes" in r.err
    assert not os.path.exists(out)
    r = wmmp_tech("--port", "/dev/null", "--out", out, "status")
    assert r.rc == 2 and "--out is only for credential" in r.err
    r = wmmp_tech("status")
    assert r.rc == 2 and r.err == "wmmp-tech: status needs --port\n"
    _no(MASTER.decode(), r.err)


def test_provision_from_the_master_over_the_pty(tmp_path, factory, master_file):
    # 4.4.1.4 / 4.4.4 identity check set up at the factory: the tool reads the
    # IMEI from IDENT, derives, PROVISIONs (the one time the credential crosses
    # the line) and verifies it by challenge-response; the back office derives
    # the same credential later from the IMEI alone.
    r = wmmp_tech("--port", factory.path, "provision", "--master-file", master_file)
    assert r.rc == 0, r.err
    assert r.out == "service credential provisioned (id %s/1) and verified by challenge-response\n" % IMEI
    d = factory.flash.load()
    assert d["secret_service"] == DERIVED.encode() and d["service_cred_id"] == ("%s/1" % IMEI).encode()
    events = [e for _, e, _ in factory.flash.audit_entries()]
    assert events == ["console_provision", "console_auth_ok"]
    sent = factory.seen.decode()
    assert sent.count(DERIVED) == 1 and "BYE" in sent
    _no(DERIVED, r.out, r.err, "\n".join("%s %s" % e[1:] for e in factory.flash.audit_entries()))
    # the back office's derivation opens the console
    out = str(tmp_path / "cred")
    assert wmmp_tech("credential", "--master-file", master_file, "--imei", IMEI, "--out", out).rc == 0
    r = wmmp_tech("--port", factory.path, "--credential-file", out, "audit")
    assert r.rc == 0 and "console_provision service credential stored id=%s/1" % IMEI in r.out
    # a second provisioning is refused before the credential is sent again
    r = wmmp_tech("--port", factory.path, "provision", "--master-file", master_file)
    assert r.rc == 1 and r.err == "wmmp-tech: terminal refused provisioning: the terminal already has " \
        "a service credential (rekey replaces it after authentication)\n"
    assert factory.seen.decode().count(DERIVED) == 1
    shown = dict(line.split(None, 1) for line in wmmp_tech("--port", factory.path, "ident").out.splitlines())
    assert shown["cred_id"] == "%s/1" % IMEI


def test_provision_from_a_credential_file(tmp_path, factory):
    # 4.4.1.4 / 4.4.4: a credential made elsewhere (32 hex digits, any case) with
    # its id; stored lowercase, and the same file authenticates afterwards.
    upper = _secret_file(tmp_path, "c", CRED.upper() + b"\n")
    r = wmmp_tech("--port", factory.path, "provision", "--credential-file", upper, "--cred-id", "batch7/1")
    assert r.rc == 0, r.err
    d = factory.flash.load()
    assert d["secret_service"] == CRED and d["service_cred_id"] == b"batch7/1"
    factory.state = ("alarm", [K.ALARM_PLATFORM_CONNECT_FAILED])
    r = wmmp_tech("--port", factory.path, "--credential-file", upper, "audit")
    assert r.rc == 0, r.err
    _no(CRED.decode(), r.out, r.err)


def test_provision_refused_and_bad_input(tmp_path, factory, flash, master_file):
    # 4.4.1.4 / 4.4.4: PROVISION only in the factory state; each refusal is one
    # line, and the credential is not sent when it would not be stored.
    good = _secret_file(tmp_path, "good", CRED + b"\n")
    for data, msg in ((CRED[:31], "is not 32 hex digits"), (CRED[:31] + b"g", "is not 32 hex digits"),
                      (b"0" * 32, "looks like a placeholder")):
        bad = _secret_file(tmp_path, "bad", data)
        r = wmmp_tech("--port", factory.path, "provision", "--credential-file", bad)
        assert r.rc == 2 and msg in r.err and len(r.err.splitlines()) == 1
        os.unlink(bad)
    assert factory.seen.strip(b"\n") == b""                   # refused before the port was opened
    r = wmmp_tech("--port", factory.path, "provision", "--master-file", master_file, "--imei", "490154203237518")
    assert r.rc == 2 and r.err == "wmmp-tech: the terminal's IMEI is %s, not 490154203237518: nothing sent\n" % IMEI
    r = wmmp_tech("--port", factory.path, "provision")
    assert r.rc == 2 and "provision needs --credential-file or --master-file" in r.err
    r = wmmp_tech("--port", factory.path, "provision", "--master-file", master_file, "--cred-id", "x")
    assert r.rc == 2 and "--cred-id comes from the IMEI" in r.err
    r = wmmp_tech("--port", factory.path, "provision", "--credential-file", good, "--cred-id", "a b")
    assert r.rc == 2 and "--cred-id: 1-32 characters" in r.err
    assert "PROVISION" not in factory.seen.decode()
    # firmware without the factory switch
    factory.console.provisioning = False
    r = wmmp_tech("--port", factory.path, "provision", "--credential-file", good)
    assert r.rc == 1 and "provisioning is off in the terminal's firmware (factory switch)" in r.err
    # a terminal in service (registered, credential stored)
    t = PtyTerminal(flash, provisioning=True)
    try:
        r = wmmp_tech("--port", t.path, "provision", "--credential-file", good)
        assert r.rc == 1 and "already has a service credential" in r.err
        assert CRED.decode() not in t.seen.decode()
    finally:
        t.close()
    assert "PROVISION" not in factory.seen.decode() and "secret_service" not in factory.flash.load()


def test_rekey_with_a_new_credential_file(tmp_path, term, cred_file, flash):
    # 4.4.1.4 / 4.4.4 identity: rotation needs the current credential; the new one
    # is verified at once; the old one no longer opens the console.  REKEY is not
    # a local security setting of the standard: no state check (here online).
    new = _secret_file(tmp_path, "new", b"9c2f7a1e5b3d8046e1a7c9f20b6d4e83\n")
    r = wmmp_tech("--port", term.path, "--credential-file", cred_file, "rekey", "--new-credential-file", new,
                  "--cred-id", "%s/2" % IMEI)
    assert r.rc == 0, r.err
    assert r.out == "service credential replaced (id %s/2) and verified by challenge-response\n" % IMEI
    d = flash.load()
    assert d["secret_service"] == b"9c2f7a1e5b3d8046e1a7c9f20b6d4e83" and d["service_cred_id"] == b"%s/2" % IMEI.encode()
    assert [e for _, e, _ in flash.audit_entries()] == ["console_auth_ok", "console_rekey", "console_auth_ok"]
    term.frozen = time.monotonic()
    r = wmmp_tech("--port", term.path, "--credential-file", cred_file, "audit")
    assert r.rc == 2 and r.err.startswith("wmmp-tech: wrong credential: ")
    term.frozen += 2.0                       # past the wait after that wrong answer
    r = wmmp_tech("--port", term.path, "--credential-file", new, "rekey", "--new-credential-file", new)
    assert r.rc == 1 and "terminal refused the new credential: unchanged" in r.err
    assert "BYE" in term.seen.decode().rsplit("REKEY", 1)[1]
    _no("9c2f7a1e5b3d8046e1a7c9f20b6d4e83", r.out, r.err,
        "\n".join("%s %s" % e[1:] for e in flash.audit_entries()))


def test_rekey_from_the_master_takes_the_next_generation(tmp_path, factory, master_file):
    # 4.4.1.4 / 4.4.4: rotation by derivation: generation n+1 of the IMEI the
    # terminal reports, the id follows; the old generation stops working.
    assert wmmp_tech("--port", factory.path, "provision", "--master-file", master_file).rc == 0
    old = _secret_file(tmp_path, "old", DERIVED.encode())
    r = wmmp_tech("--port", factory.path, "--credential-file", old, "rekey", "--master-file", master_file)
    assert r.rc == 0, r.err
    assert "(id %s/2)" % IMEI in r.out
    d = factory.flash.load()
    assert d["secret_service"] == tech.derive_credential(MASTER, IMEI, 2)
    assert d["service_cred_id"] == b"%s/2" % IMEI.encode()
    r = wmmp_tech("--port", factory.path, "--credential-file", old, "rekey", "--master-file", master_file,
                  "--generation", "5")
    assert r.rc == 2 and "wrong credential" in r.err
    assert factory.flash.load()["secret_service"] == tech.derive_credential(MASTER, IMEI, 2)


def test_rekey_with_a_wrong_current_credential_sends_nothing_new(tmp_path, term, wrong_file, flash):
    # Identity check first: a wrong current credential stops the rotation; the
    # new credential never goes over the line.
    new = _secret_file(tmp_path, "new", b"9c2f7a1e5b3d8046e1a7c9f20b6d4e83")
    r = wmmp_tech("--port", term.path, "--credential-file", wrong_file, "rekey", "--new-credential-file", new)
    assert r.rc == 2 and r.err.startswith("wmmp-tech: wrong credential: ")
    assert "REKEY" not in term.seen.decode() and flash.load()["secret_service"] == CRED
    r = wmmp_tech("--port", term.path, "--credential-file", wrong_file, "rekey")
    assert r.rc == 2 and "rekey needs --new-credential-file or --master-file" in r.err
    r = wmmp_tech("--port", term.path, "--generation", "2", "rekey", "--new-credential-file", new)
    assert r.rc == 2 and "--generation goes with --master-file" in r.err


# -- local configuration (4.3.9.2) and requests to the platform (4.3.9.1, 4.4.3.1.3.1) --

@pytest.fixture
def engine(flash):
    """A real engine logged in with the fake platform over Params on the flash,
    and a console on a pty that reaches it (terminal=)."""
    import fakeplatform as F
    from wmmp.terminal import engine as E, params as PM
    p = PM.Params(flash)
    clk, pf = F.Clock(), F.Platform()
    pf.serial = b"M2MMAKER0000A1B2"
    t = E.Terminal(E.Config(IMEI, IMSI, serial=pf.serial), p)
    t.start(clk.t)
    req = pf.read(F.only(t.outgoing())[1], ts=0)
    t.receive(pf.login_ack(req), 2, clk.advance(1))
    trap = pf.read(F.only(t.outgoing())[1])
    t.receive(pf.ack(trap, {"result": 0}), 2, clk.advance(1))
    assert t.state == E.S_ONLINE
    pty = PtyTerminal(p, terminal=lambda: t)
    pty.frozen = float(clk.t)
    pty.engine, pty.pf = t, pf
    yield pty
    pty.close()


def _out(pty):
    return [pty.pf.read(raw) for _, raw in pty.engine.outgoing()]


def test_get_and_set_over_the_pty(engine, cred_file, flash):
    # 4.3.9.2: the technician reads and sets parameters by name or number, in
    # human form; the engine applies the setting and reports it to the platform
    # with CONFIG_TRAP 0x4011; secrets are never shown.
    from wmmp.wire import commands as C
    r = wmmp_tech("--port", engine.path, "--credential-file", cred_file, "get", "HEARTBEAT_PERIOD", "apn",
                  "0xE025", "0026")
    assert r.rc == 0, r.err
    shown = dict(line.split("  ", 1) for line in r.out.splitlines())
    assert shown["HEARTBEAT_PERIOD (0x0011)"].strip() == "30 (0x0000001E)"
    assert shown["APN (0x0002)"].strip() == "(not set)"
    assert shown["UPLINK_PASSWORD (0xE025)"].strip() == "(hidden: secret or security parameter)"
    assert shown["SMS_WAIT (0x0026)"].strip() == "120 (0x0078)"
    assert b"GET 0011 0002 E025 0026" in engine.seen
    r = wmmp_tech("--port", engine.path, "--credential-file", cred_file, "set", "HEARTBEAT_PERIOD=60",
                  "APP_SERVER_IP=10.0.0.1")
    assert r.rc == 0, r.err
    assert r.out.splitlines() == ["HEARTBEAT_PERIOD (0x0011) = 60 (0x0000003C)",
                                  "APP_SERVER_IP (0x000D) = 167772161 (0x0A000001): 10.0.0.1",
                                  "applied; the platform was told (CONFIG_TRAP 0x4011)"]
    trap, = _out(engine)
    assert trap.command == C.CONFIG_TRAP and trap.tlv(0x4011) == b""
    assert trap.tlv(0x0011) == b"\x00\x00\x00\x3c" and trap.tlv(0x000D) == b"\x0a\x00\x00\x01"
    assert flash.load()[0x0011] == b"\x00\x00\x00\x3c"
    r = wmmp_tech("--port", engine.path, "--credential-file", cred_file, "set", "0011=90")
    assert r.rc == 0 and engine.engine.params.get_int(0x0011) == 90
    assert "BYE" in engine.seen.decode().rsplit("SET", 1)[1]
    _no_secret(r.out, r.err, engine.seen.decode())
    assert "console_set 0011 0000003c>0000005a applied=now" in ["%s %s" % e[1:] for e in flash.audit_entries()]


def test_set_restart_tag_and_refusals_over_the_pty(engine, cred_file, flash, tmp_path):
    # 4.3.9.2: a restart-needing tag: LOGOUT 0x03 first.  A value the terminal
    # refuses exits 2; one it cannot take now (no engine) exits 1.  One line each.
    from wmmp.wire import commands as C
    r = wmmp_tech("--port", engine.path, "--credential-file", cred_file, "set", "E022=0")
    assert r.rc == 2 and r.err.startswith("wmmp-tech: terminal refused the setting: invalid E022:")
    assert len(r.err.splitlines()) == 1
    r = wmmp_tech("--port", engine.path, "--credential-file", cred_file, "set", "APN=cmiot")
    assert r.rc == 0, r.err
    assert r.out.splitlines()[-1] == ("the terminal logs out (reason 0x03), applies it and restarts; "
                                      "the platform is told (0x4011) after the next login")
    lo, = _out(engine)
    assert lo.command == C.LOGOUT and lo.fields["reason"] == 0x03
    r = wmmp_tech("--port", engine.path, "--credential-file", cred_file, "request-config", "HEARTBEAT_PERIOD")
    assert r.rc == 1 and "not_online terminal is logging-out" in r.err
    idle = PtyTerminal(ST.FlashStorage(fsio.OsFS(), flash.directory), terminal=lambda: None)
    try:
        r = wmmp_tech("--port", idle.path, "--credential-file", cred_file, "set", "HEARTBEAT_PERIOD=60")
        assert r.rc == 1 and r.err.startswith("wmmp-tech: terminal refused the setting: not_ready ")
    finally:
        idle.close()
    assert "Traceback" not in r.err


def test_requests_to_the_platform_over_the_pty(engine, cred_file):
    # 4.3.9.1 CONFIG_REQ and 4.4.3.1.3.1 SECURITY_CONFIG 0x04-0x07 started by the technician.
    from wmmp.wire import commands as C
    r = wmmp_tech("--port", engine.path, "--credential-file", cred_file, "request-config", "HEARTBEAT_PERIOD",
                  "SMS_WAIT")
    assert r.rc == 0, r.err
    req, = _out(engine)
    assert req.command == C.CONFIG_REQ and [t for t, _ in req.tlvs] == [0x0011, 0x0026]
    assert r.out == "CONFIG_REQ sent to the platform (seq %d); the terminal acts on its answer (see get)\n" % req.seq
    r = wmmp_tech("--port", engine.path, "--credential-file", cred_file, "request-security", "request-enable",
                  "ENCRYPTION_MODE=1")
    assert r.rc == 0, r.err
    m, = _out(engine)
    assert m.command == C.SECURITY_CONFIG and m.fields["operation"] == 7 and m.tlvs == [(0xE032, b"\x01")]
    r = wmmp_tech("--port", engine.path, "--credential-file", cred_file, "request-security", "5",
                  "UPLINK_PASSWORD")
    assert r.rc == 0 and r.out.startswith("SECURITY_CONFIG operation 0x05 (request-update-clear) sent to the "
                                          "platform (seq ")
    m, = _out(engine)
    assert m.fields["operation"] == 5 and m.tlvs == [(0xE025, b"")]


def test_config_bad_arguments_exit_2_without_a_traceback(engine, cred_file):
    # Bad input is one line on stderr, exit 2, checked before the port is opened
    # (nothing sent); a secret is never set from the console, its value never echoed.
    for args, text in ((["get"], "get needs TAG"), (["get", "FROB"], "unknown tag FROB"),
                       (["get", "0011=5"], "get takes TAG words"),
                       (["set", "HEARTBEAT_PERIOD"], "set takes TAG=VALUE words"),
                       (["set", "HEARTBEAT_PERIOD=abc"], "bad value for HEARTBEAT_PERIOD (0x0011): expected a number"),
                       (["set", "0011=99999999999"], "bad value for HEARTBEAT_PERIOD (0x0011): not a value"),
                       (["set", "SERIAL_PARITY=9"], "bad value for SERIAL_PARITY (0x0104)"),
                       (["set", "PLATFORM_IP=10.0.0.256"], "bad value for PLATFORM_IP (0x0009): expected an IPv4"),
                       (["set", "UPLINK_PASSWORD=Zz987654"], "UPLINK_PASSWORD (0xE025) is a secret"),
                       (["set", "NOSUCH=1"], "unknown tag NOSUCH"),
                       (["request-security", "frob"], "request-security: OP is one of"),
                       (["request-security"], "request-security needs OP"),
                       (["status", "0011"], "status takes no further arguments (not shown)")):
        r = wmmp_tech("--port", engine.path, "--credential-file", cred_file, *args)
        assert r.rc == 2 and r.err.startswith("wmmp-tech: " + text), (args, r.err)
        assert len(r.err.splitlines()) == 1 and "Traceback" not in r.err and "Zz987654" not in r.err
    seen = engine.seen.decode()
    assert "CHALLENGE" not in seen and "GET" not in seen and "SET" not in seen
    assert engine.engine.outgoing() == []


# -- secrets from files or the environment, never the command line; no terminal ----

def wmmp_tech_env(*args, env=None, timeout=20, new_session=False):
    """wmmp-tech with extra environment variables (and none of the WMMP_* secret
    variables of the caller's environment); `new_session`: no controlling
    terminal, as under cron or in a pipeline started by a service."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("WMMP_")}
    e.update(env or {})
    p = subprocess.run([TECH] + list(args), capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, env=e, start_new_session=new_session)
    return Run(p)


def test_no_credential_and_no_terminal_is_one_clear_line(term, flash):
    # No --credential-file, no WMMP_CREDENTIAL and no terminal to ask on: not
    # Python's GetPassWarning and an echoed prompt, but one line saying how to
    # pass the credential; exit 2, nothing sent to the terminal.
    term.state = ("alarm", [K.ALARM_PLATFORM_CONNECT_FAILED])
    for cmd in ("audit", "reset-keys", "get"):
        r = wmmp_tech_env("--port", term.path, cmd, *(["APN"] if cmd == "get" else []), new_session=True)
        assert r.rc == 2, r.err
        assert len(r.err.splitlines()) == 1 and r.err.startswith("wmmp-tech: no service credential")
        assert "--credential-file" in r.err and "WMMP_CREDENTIAL" in r.err
        assert "GetPassWarning" not in r.err and "Traceback" not in r.err and "echoed" not in r.err
        assert r.out == ""
    assert term.seen == b""
    assert [e for _, e, _ in flash.audit_entries()] == []


def test_credential_pin_and_puk_from_the_environment(tmp_path, term, flash):
    # Every secret the tool asks for can come from an environment variable
    # (never only from a file or the command line); its value is never shown.
    term.state = ("alarm", [K.ALARM_PLATFORM_CONNECT_FAILED])
    r = wmmp_tech_env("--port", term.path, "audit", env={"WMMP_CREDENTIAL": CRED.decode()}, new_session=True)
    assert r.rc == 0, r.err
    assert "console_auth_ok technician authenticated" in r.out
    _no_secret(r.out, r.err)
    # a wrong one in the variable is a wrong credential; a file option wins over the variable
    wrong = _secret(tmp_path, "wrong", "not-the-credential")
    r = wmmp_tech_env("--port", term.path, "--credential-file", wrong, "audit",
                      env={"WMMP_CREDENTIAL": CRED.decode()})
    assert r.rc == 2 and r.err.startswith("wmmp-tech: wrong credential")
    # PIN1 / PUK1 from the environment are checked like the files, before the port is opened
    seen = len(term.seen)
    for env, text in (({"WMMP_SIM_PIN": "12a4"}, "the PIN1 in WMMP_SIM_PIN must be 4 to 8 digits"),
                      ({"WMMP_SIM_PUK": "1234"}, "the PUK in WMMP_SIM_PUK must be 8 digits"),
                      ({"WMMP_SIM_PIN": PIN, "WMMP_SIM_PUK": PUK}, "WMMP_SIM_PUK and WMMP_SIM_PIN are both set")):
        env["WMMP_CREDENTIAL"] = CRED.decode()
        r = wmmp_tech_env("--port", term.path, "reset-sim", env=env)
        assert r.rc == 2 and r.err.startswith("wmmp-tech: " + text), r.err
        assert len(r.err.splitlines()) == 1 and "12a4" not in r.err and PUK not in r.err
    assert len(term.seen) == seen
    # the variables are read only by reset-sim
    r = wmmp_tech_env("--port", term.path, "status", env={"WMMP_SIM_PIN": "x"})
    assert r.rc == 0, r.err


def test_reset_sim_with_the_cards_pin1_from_the_environment(tmp_path, cred_file):
    # As test_reset_sim_with_the_cards_pin1_from_a_file, with WMMP_SIM_PIN.
    flash = ST.FlashStorage(fsio.OsFS(), str(tmp_path / "state"))
    d = _provisioned()
    d["secret_pin1"] = b"1357"
    flash.save(d)
    G.bind(flash, IMSI, IMEI)
    sim = _AsyncSim(IMSI, ICCID, IMEI, pin=PIN, puk=PUK)
    assert G.SimGuard(sim, flash).boot().state == G.ALARM
    term = PtyTerminal(flash, sim=sim, state=("alarm", [K.ALARM_SELF_TEST_FAULT]))
    try:
        r = wmmp_tech_env("--port", term.path, "--credential-file", cred_file, "reset-sim")
        assert r.rc == 1 and "--pin-file or WMMP_SIM_PIN" in r.err
        r = wmmp_tech_env("--port", term.path, "--credential-file", cred_file, "reset-sim",
                          env={"WMMP_SIM_PIN": PIN})
        assert r.rc == 0, r.err
        assert "SIM security reset done" in r.out and sim.pin_state() == S.READY
        _no_secret(r.out, r.err)
    finally:
        term.close()


def test_provision_and_rekey_from_the_environment(tmp_path, factory):
    # provision: the credential to store in WMMP_CREDENTIAL; rekey: the current one
    # in WMMP_CREDENTIAL, the new one in WMMP_NEW_CREDENTIAL.
    r = wmmp_tech_env("--port", factory.path, "provision", "--cred-id", "batch7/1",
                      env={"WMMP_CREDENTIAL": CRED.decode()})
    assert r.rc == 0, r.err
    assert factory.flash.load()["secret_service"] == CRED
    new = "9c2f7a1e5b3d8046e1a7c9f20b6d4e83"
    r = wmmp_tech_env("--port", factory.path, "rekey", "--cred-id", "batch7/2",
                      env={"WMMP_CREDENTIAL": CRED.decode(), "WMMP_NEW_CREDENTIAL": "0" * 32})
    assert r.rc == 2 and "the credential in WMMP_NEW_CREDENTIAL looks like a placeholder" in r.err
    r = wmmp_tech_env("--port", factory.path, "rekey", "--cred-id", "batch7/2",
                      env={"WMMP_CREDENTIAL": CRED.decode(), "WMMP_NEW_CREDENTIAL": new})
    assert r.rc == 0, r.err
    assert factory.flash.load()["secret_service"] == new.encode()
    _no(new, r.out, r.err)
    _no(CRED.decode(), r.out, r.err)


def test_help_says_where_secrets_come_from():
    r = wmmp_tech_env("--help")
    assert r.rc == 0
    for word in ("--credential-file", "WMMP_CREDENTIAL", "--new-credential-file", "WMMP_NEW_CREDENTIAL",
                 "--puk-file", "WMMP_SIM_PUK", "--pin-file", "WMMP_SIM_PIN", "never taken from the command line"):
        assert word in " ".join(r.out.split()), word


def test_usage_errors_are_one_line(term):
    # argparse's usage block is not printed: one line, exit 2, values never echoed.
    for args in (["--port", term.path, "--baud", "fast", "status"], ["--port", term.path, "frob"],
                 ["--port", term.path, "--timeout"], ["--port", term.path, "--show=yes", "credential"],
                 ["--port", term.path, "--pin", "2468", "reset-sim"]):
        r = wmmp_tech_env(*args)
        assert r.rc == 2 and len(r.err.splitlines()) == 1, (args, r.err)
        assert r.err.startswith("wmmp-tech: error: ") and "usage:" not in r.err
        assert "2468" not in r.err and "fast" not in r.err and "frob" not in r.err
    assert term.seen == b""
