"""`wmmp-platform` as a user meets it (issue "Host tools a user can trust: no
tracebacks, no lost data, secrets kept"): each defect found is run the way a
person runs it, as a program, and must end with its exit status, one line on
stderr, no traceback, and no file touched.  Then every option of every
subcommand is fed bad values (empty, huge, wrong type, missing path,
directory), and the database is checked to be its owner's only.

Everything on loopback, ports from the OS (port 0)."""

import asyncio
import contextlib
import hashlib
import io
import json
import os
import re
import socket
import sqlite3
import stat
import struct
import subprocess
import sys

import pytest

from wmmp.wire import codec
from wmmp.wire import commands as C

from wmmp_tools.platform import cli as PCLI
from wmmp_tools.platform import values as V
from wmmp_tools.platform.control import ControlServer

from test_platform import Env, IMSI, MSISDN, IMSI2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CMD = [sys.executable, "-m", "wmmp_tools.platform.cli"]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")]))
ENV.pop("WMMP_TRACEBACK", None)
ANY_PORTS = ["--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--control", "127.0.0.1:0"]
UP, DOWN, KEY = "Pre#up12", "Pre#dn34", "PresetKey0123456"


# -- helpers ------------------------------------------------------------------------------

def wp(*argv, cwd=None, env=None, timeout=20):
    """Run wmmp-platform as a program: (exit status, stdout, stderr)."""
    r = subprocess.run(CMD + list(argv), capture_output=True, text=True, cwd=cwd, env=env or ENV,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr


def assert_clean(code, err, want, *words):
    """Exit status `want`, exactly one line on stderr naming `words`, no traceback."""
    assert "Traceback" not in err, err
    assert code == want, (code, err)
    assert err.count("\n") == 1 and err.startswith("wmmp-platform: "), err
    for w in words:
        assert w in err, (w, err)


def snapshot(*roots):
    """Every file and directory under `roots`: mode, size, mtime and content hash."""
    out = {}
    for root in roots:
        if not os.path.exists(root):
            out[root] = None
            continue
        for d, dirs, files in os.walk(root):
            for name in [""] + files + dirs:
                p = os.path.join(d, name)
                st = os.lstat(p)
                digest = None
                if stat.S_ISREG(st.st_mode):
                    with open(p, "rb") as f:
                        digest = hashlib.sha256(f.read()).hexdigest()
                out[p] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(db, *extra):
    """A `wmmp-platform serve` program on ports from the OS; yields its control
    address."""
    proc = subprocess.Popen(CMD + ["serve", "--db", str(db)] + ANY_PORTS + list(extra),
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=ENV)
    try:
        line = proc.stderr.readline()
        m = re.search(r"control 127\.0\.0\.1:(\d+)", line)
        assert m, line + proc.stderr.read()
        yield "127.0.0.1:" + m.group(1)
    finally:
        proc.terminate()
        rest = proc.communicate(timeout=10)[1]
        assert "Traceback" not in rest, rest


def private_file(path, data):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)
    return path


# == the defects found ======================================================================

def test_serve_db_in_a_missing_directory(tmp_path):
    """--db /nonexistent/dir/x.sqlite: one line, exit 2, no directory made."""
    code, _, err = wp("serve", "--db", "/nonexistent/dir/x.sqlite", *ANY_PORTS)
    assert_clean(code, err, 2, "/nonexistent", "does not exist")
    assert not os.path.exists("/nonexistent")
    before = snapshot(tmp_path)
    code, _, err = wp("serve", "--db", str(tmp_path / "a" / "b" / "x.sqlite"), *ANY_PORTS, cwd=tmp_path)
    assert_clean(code, err, 2, "does not exist")
    assert snapshot(tmp_path) == before


def test_serve_db_naming_a_directory(tmp_path):
    (tmp_path / "d").mkdir()
    before = snapshot(tmp_path)
    code, _, err = wp("serve", "--db", str(tmp_path / "d"), *ANY_PORTS, cwd=tmp_path)
    assert_clean(code, err, 2, "is a directory")
    assert snapshot(tmp_path) == before


def test_serve_db_that_is_not_sqlite_or_not_ours(tmp_path):
    """A text file, and an SQLite database of another program: refused, untouched."""
    private_file(tmp_path / "notes.txt", b"these are my notes, not a database\n" * 20)
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE invoices (id INTEGER, amount REAL)")
    con.commit()
    con.close()
    os.chmod(other, 0o600)
    before = snapshot(tmp_path)
    code, _, err = wp("serve", "--db", str(tmp_path / "notes.txt"), *ANY_PORTS, cwd=tmp_path)
    assert_clean(code, err, 2, "not an SQLite database")
    code, _, err = wp("serve", "--db", str(other), *ANY_PORTS, cwd=tmp_path)
    assert_clean(code, err, 2, "something else", "invoices")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("option", ["--udp", "--tcp", "--control"])
def test_serve_on_a_busy_port_names_it(tmp_path, option):
    """A busy port: exit 1, the line names the option and the address; the
    database is not created (the ports are taken before anything is written)."""
    kind = socket.SOCK_DGRAM if option == "--udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as busy:
        busy.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            busy.listen()
        port = busy.getsockname()[1]
        argv = list(ANY_PORTS)
        argv[argv.index(option) + 1] = "127.0.0.1:%d" % port
        before = snapshot(tmp_path)
        code, _, err = wp("serve", "--db", str(tmp_path / "p.sqlite"), *argv, cwd=tmp_path)
    assert_clean(code, err, 1, "127.0.0.1:%d" % port, option, "in use")
    assert snapshot(tmp_path) == before


def test_provision_never_takes_an_msisdn_from_another_imsi(tmp_path):
    """The MSISDN of another IMSI: refused (exit 1, nothing changed), not silently
    deleted; --replace says it is meant, and the output says what was deleted.
    The same IMSI with other values is refused too; the same values again are fine."""
    with serving(tmp_path / "p.sqlite") as ctl:
        code, out, err = wp("provision", "--imsi", IMSI, "--msisdn", MSISDN, "--control", ctl)
        assert code == 0 and "provisioned IMSI %s" % IMSI in out, err
        code, out, err = wp("provision", "--imsi", IMSI2, "--msisdn", MSISDN, "--control", ctl)
        assert_clean(code, err, 1, MSISDN, IMSI, "--replace")
        code, out, err = wp("list", "--json", "--control", ctl)
        subs = json.loads(out)["unregistered_subscriptions"]
        assert [(s["imsi"], s["msisdn"]) for s in subs] == [(IMSI, MSISDN)]
        code, out, err = wp("provision", "--imsi", IMSI, "--msisdn", "13899999999", "--control", ctl)
        assert_clean(code, err, 1, "already provisioned", "--msisdn", "--replace")
        code, out, err = wp("provision", "--imsi", IMSI, "--msisdn", MSISDN, "--control", ctl)
        assert code == 0 and "already provisioned" in out
        code, out, err = wp("provision", "--imsi", IMSI2, "--msisdn", MSISDN, "--replace", "--control", ctl)
        assert code == 0 and "deleted the subscription IMSI %s" % IMSI in out, out
        code, out, err = wp("list", "--json", "--control", ctl)
        subs = json.loads(out)["unregistered_subscriptions"]
        assert [(s["imsi"], s["msisdn"]) for s in subs] == [(IMSI2, MSISDN)]


def test_nonsense_is_refused_at_the_edge(tmp_path):
    """A 1-character serial, --imsi abc, a bad port, an empty value: exit 2, one
    line, nothing sent (the control port has nobody behind it: had anything been
    sent, the exit status would be 1)."""
    dead = "127.0.0.1:%d" % free_port()
    for argv, words in (
            (["provision", "--imsi", IMSI, "--msisdn", MSISDN, "--serial", "A"], ["--serial", "16 characters"]),
            (["provision", "--imsi", "abc", "--msisdn", MSISDN], ["--imsi", "15 digits"]),
            (["provision", "--imsi", IMSI, "--msisdn", ""], ["--msisdn"]),
            (["list", "--control", "127.0.0.1:70000"], ["--control", "65535"]),
            (["get", "M2MMAKER00000001", "HEARTBEAT_PERIOD", "--timeout", "nan"], ["--timeout"]),
            (["show", "M2MMAKER00000001", "--limit", "-1"], ["--limit"])):
        code, _, err = wp(*(argv + ["--control", dead] if "--control" not in argv else argv), cwd=tmp_path)
        assert_clean(code, err, 2, *words)
    assert os.listdir(tmp_path) == []


def test_messages_say_what_is_wrong():
    """`security S set E025=x` names the rule of E025 (not "unknown tag": E025 is
    how the help names tags); HEARTBEAT_PERIOD=abc is "not a number" (not
    "bad length 3")."""
    dead = "127.0.0.1:%d" % free_port()
    code, _, err = wp("security", "M2MMAKER00000001", "set", "E025=x", "--control", dead)
    assert_clean(code, err, 2, "UPLINK_PASSWORD", "8 visible ASCII characters")
    assert "unknown tag" not in err
    code, _, err = wp("set", "M2MMAKER00000001", "HEARTBEAT_PERIOD=abc", "--control", dead)
    assert_clean(code, err, 2, "HEARTBEAT_PERIOD", "takes a number")
    assert "length" not in err
    # E025, 0xE025 and the name are the same tag; a good value goes on to the platform.
    assert V.parse_tag("E025") == V.parse_tag("0xE025") == V.parse_tag("UPLINK_PASSWORD") == 0xE025
    code, _, err = wp("security", "M2MMAKER00000001", "set", "E025=Abcd#123", "--control", dead)
    assert_clean(code, err, 1, "cannot reach the platform")


def test_database_is_its_owners_only(tmp_path):
    """serve creates the database 0600 (and its missing directory 0700); one that
    other users may read is refused (exit 2) with the chmod that fixes it, and is
    left as it was."""
    db = tmp_path / "state" / "p.sqlite"
    with serving(db) as ctl:
        code, _, err = wp("provision", "--imsi", IMSI, "--msisdn", MSISDN, "--control", ctl)
        assert code == 0, err
        assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(db.parent).st_mode) == 0o700
        for name in os.listdir(db.parent):          # journals too
            assert not os.stat(db.parent / name).st_mode & 0o077, name
    os.chmod(db, 0o644)
    before = snapshot(tmp_path)
    code, _, err = wp("serve", "--db", str(db), *ANY_PORTS)
    assert_clean(code, err, 2, "other users", "chmod 600 %s" % db)
    assert snapshot(tmp_path) == before
    os.chmod(db, 0o600)
    with serving(db) as ctl:                        # fixed as told: it starts, the data is there
        code, out, err = wp("list", "--control", ctl)
        assert code == 0 and IMSI in out


def test_one_serve_per_database(tmp_path):
    db = tmp_path / "p.sqlite"
    with serving(db):
        before = snapshot(tmp_path)
        code, _, err = wp("serve", "--db", str(db), *ANY_PORTS)
        assert_clean(code, err, 1, "in use by another wmmp-platform serve")
        assert snapshot(tmp_path) == before


def test_control_socket_stays_on_loopback(tmp_path):
    """The control socket has no authentication and hands out secrets: serve
    refuses to bind it anywhere but loopback."""
    code, _, err = wp("serve", "--db", str(tmp_path / "p.sqlite"), "--udp", "127.0.0.1:0",
                      "--tcp", "127.0.0.1:0", "--control", "0.0.0.0:0", cwd=tmp_path)
    assert_clean(code, err, 2, "--control", "loopback")
    assert os.listdir(tmp_path) == []


def test_secrets_from_files_and_the_environment(tmp_path):
    """Every option taking a password or key also takes it from a file or an
    environment variable, and its help says so."""
    code, out, _ = wp("provision", "--help")
    for opt in ("--preset-uplink", "--preset-downlink", "--preset-key"):
        assert opt + "-file" in out and opt + "-env" in out
    code, out, _ = wp("security", "--help")
    assert "file:PATH" in out and "env:NAME" in out
    private_file(tmp_path / "up", (UP + "\n").encode())
    private_file(tmp_path / "key", KEY.encode())
    private_file(tmp_path / "open", UP.encode())
    os.chmod(tmp_path / "open", 0o644)
    env = dict(ENV, PF_DOWN=DOWN)
    with serving(tmp_path / "p.sqlite") as ctl:
        code, out, err = wp("provision", "--imsi", IMSI, "--msisdn", MSISDN, "--preset-uplink-file",
                            str(tmp_path / "up"), "--preset-downlink-env", "PF_DOWN", "--preset-key-file",
                            str(tmp_path / "key"), "--control", ctl, env=env)
        assert code == 0 and err == "", err
        code, out, err = wp("list", "--json", "--show-secrets", "--control", ctl)
        sub = json.loads(out)["unregistered_subscriptions"][0]
        assert (sub["preset_uplink"], sub["preset_downlink"], sub["preset_key"]) == (UP, DOWN, KEY)
        # ... and hidden without --show-secrets
        code, out, err = wp("list", "--json", "--control", ctl)
        assert UP not in out and DOWN not in out and KEY not in out
    # a missing file, a directory, an unset variable: one line, exit 2
    for argv, words in ((["--preset-uplink-file", str(tmp_path / "nope"), "--preset-downlink", DOWN],
                         ["nope", "No such file"]),
                        (["--preset-uplink-file", str(tmp_path), "--preset-downlink", DOWN], ["directory"]),
                        (["--preset-uplink-file", str(tmp_path / "open"), "--preset-downlink", DOWN],
                         ["open to other users", "chmod 600"]),
                        (["--preset-uplink", UP, "--preset-downlink-env", "PF_NOT_SET_ANYWHERE"],
                         ["PF_NOT_SET_ANYWHERE", "not set"])):
        code, _, err = wp("provision", "--imsi", IMSI, "--msisdn", MSISDN, *argv,
                          "--control", "127.0.0.1:%d" % free_port())
        assert_clean(code, err, 2, *words)


def test_secrets_hidden_unless_asked(tmp_path):
    """show, log --hex, security read-encrypted, --json: passwords and keys are
    hidden unless --show-secrets (the policy of `wmmp decode`)."""
    async def scenario(env):
        await env.provision()
        t = env.terminal()
        await t.enroll()
        serial = t.serial_text
        ctl = "127.0.0.1:%d" % env.ctl.port

        async def cli(*argv):
            return await asyncio.to_thread(wp, *argv, "--control", ctl)
        up_hex = t.up.encode().hex()
        for argv in (("show", serial), ("show", serial, "--json"), ("log", serial, "--hex", "--limit", "500"),
                     ("log", "--json", "--limit", "500")):
            code, out, err = await cli(*argv)
            assert code == 0, err
            for secret in (t.up, t.down, t.base_key, up_hex):
                assert secret not in out, (argv, secret)
        code, out, err = await cli("show", serial)
        assert re.search(r"up_pw\s+<secret", out), out
        code, out, err = await cli("log", serial, "--hex", "--limit", "500")
        assert "e0250008" + "*" * 16 in out, out          # the key SMS, its E025 value starred
        code, out, err = await cli("show", serial, "--show-secrets")
        assert t.up in out and t.down in out and t.base_key in out
        code, out, err = await cli("log", serial, "--hex", "--limit", "500", "--show-secrets")
        assert up_hex in out
        # SECURITY_CONFIG op 0x01 (read encrypted): the terminal's answer carries E025.
        for extra, shown in (((), False), (("--show-secrets",), True)):
            task = asyncio.ensure_future(cli("security", serial, "read-encrypted", "E025=", *extra))
            req, _ = await t.answer(tlvs=[(0xE025, t.up.encode())])
            assert req.fields["operation"] == 0x01
            code, out, err = await task
            assert code == 0 and "UPLINK_PASSWORD" in out, err
            assert (t.up in out) == shown, out
    run_env(scenario)


def run_env(scenario):
    async def main():
        env = await Env().start()
        try:
            await asyncio.wait_for(scenario(env), 40)
        finally:
            await env.stop()
    asyncio.run(main())


def test_log_of_an_unknown_serial_says_so():
    async def scenario(env):
        code, out, err = await asyncio.to_thread(wp, "log", "NOBODY00", "--control", "127.0.0.1:%d" % env.ctl.port)
        assert_clean(code, err, 2, "NOBODY00")
    run_env(scenario)


def test_control_requests_of_any_shape_are_answered_cleanly():
    """The control socket (what the CLI and any script speak) answers a field of
    the wrong type or value with "input" or "failed", never an internal error."""
    async def scenario(env):
        await env.provision()
        t = env.terminal()
        await t.enroll()
        s = t.serial_text
        bad = [None, "", 5, -1, 1.5, "abc", [], {}, True, "x" * 5000, ["a"], [[1]], [["0x0011", "zz"]],
               float("nan"), "nan", 1e300]
        base = {"provision": {"imsi": "460001234567899", "msisdn": "13800000009"},
                "flag": {"serial": s, "flags": {"keep-connected": 1}}, "list": {},
                "show": {"serial": s}, "log": {}, "app_data": {},
                "get": {"serial": s, "tags": ["0x0011"], "timeout": 0.01, "via": "packet"},
                "set": {"serial": s, "tlvs": [["0x0011", "0000001e"]], "timeout": 0.01},
                "ctrl": {"serial": s, "code": 4, "timeout": 0.01},
                "security": {"serial": s, "operation": 2, "tlvs": [["0xE026", ""]], "timeout": 0.01},
                "logout": {"serial": s, "reason": 0, "timeout": 0.01}}
        fields = {"provision": ["imsi", "msisdn", "serial", "preset_uplink", "preset_downlink", "preset_key",
                                "preset_key_alg", "preset_validity"], "flag": ["serial", "flags"],
                  "show": ["serial", "limit"], "log": ["serial", "limit"], "get": ["serial", "tags", "timeout"],
                  "set": ["serial", "tlvs", "report_wait", "timeout"], "ctrl": ["serial", "code", "tlvs"],
                  "security": ["serial", "operation", "tlvs"], "logout": ["serial", "reason"],
                  "app_data": ["ec"], "list": []}
        internal = []
        for op, keys in fields.items():
            for k in keys + ["via", "encrypt", "show_secrets", "replace"]:
                for v in bad:
                    if k == "timeout" and v in (None, 5, 1.5):
                        continue          # good values: they would only wait
                    r = await env.ctl.handle(dict(base[op], op=op, **{k: v}))
                    if not r["ok"] and r["kind"] not in ("input", "failed") or "internal" in r.get("error", ""):
                        internal.append((op, k, repr(v)[:30], r))
        assert internal == []
        for req in ("not json", [1], {"op": 5}, {"op": "explode"}):
            r = await env.ctl.handle(req)
            assert r["ok"] is False and r["kind"] == "input"
    run_env(scenario)


def test_server_logs_errors_as_one_line():
    """An internal error inside the running platform is logged as one line (its
    traceback only with --verbose)."""
    import logging
    rec = logging.LogRecord("wmmp.platform", logging.ERROR, __file__, 1, "handling %s failed", ("x",), None)
    try:
        raise ValueError("boom")
    except ValueError:
        rec.exc_info = sys.exc_info()
    line = PCLI._OneLineFormatter(False).format(rec)
    assert "\n" not in line and line.endswith("handling x failed: ValueError: boom")
    # the format of every host tool: time (UTC+8, its offset), component, level, message
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \+08:00 platform ERROR handling x failed", line), line
    assert "Traceback" in PCLI._OneLineFormatter(True).format(rec)


# == every option, bad values ===============================================================

def _bad_cases(tmp):
    """(argv, why) pairs that must each be refused with exit 2."""
    missing = os.path.join(tmp, "no", "such", "file")
    directory = tmp
    huge = "9" * 5000
    empty_file = private_file(os.path.join(tmp, "empty"), b"")
    short_file = private_file(os.path.join(tmp, "short"), b"abc\n")
    open_secret = private_file(os.path.join(tmp, "open-secret"), (UP + "\n").encode())
    os.chmod(open_secret, 0o644)
    not_db = private_file(os.path.join(tmp, "notes.txt"), b"not a database\n")
    open_db = os.path.join(tmp, "open.sqlite")
    sqlite3.connect(open_db).close()
    os.chmod(open_db, 0o644)
    generic = ["", huge, "abc", missing, directory]
    cases = []

    def add(base, opt, values):
        for v in values:
            cases.append((base + ([opt, v] if opt else [v]), "%s %r" % (opt or "positional", v[:30])))

    # serve
    serve = ["serve", "--db", os.path.join(tmp, "p.sqlite")] + ANY_PORTS
    add(["serve"] + ANY_PORTS, "--db", ["", " ", missing, directory, not_db, open_db])
    for opt in ("--udp", "--tcp", "--control"):
        add(serve, opt, generic + ["127.0.0.1", "127.0.0.1:", ":7301", "127.0.0.1:-1", "127.0.0.1:65536",
                                   "127.0.0.1:x", "[zz]:1", "a b:1", "10.255.255.1:0"])
    add(serve, "--control", ["0.0.0.0:0"])
    add(serve, "--smsc", generic + ["127.0.0.1:0", "127.0.0.1:70000"])
    add(serve, "--msisdn", generic + ["+", "12 34", "9" * 21])
    add(serve, "--key-delay", generic + ["-1", "nan", "inf", "1e9"])
    for opt in ("--base-alg", "--session-alg"):
        add(serve, opt, generic + ["rsa", "3", "-1"])
    add(serve, "--session-key-length", generic + ["15", "64", "-16", "16.0"])
    add(serve + ["--session-alg", "des"], "--session-key-length", ["24"])
    add(serve, "--heartbeat-default", generic + ["0", "-5", "1.5", "nan"])
    cases.append((["serve"] + ANY_PORTS, "--db missing"))

    # client commands
    dead = "127.0.0.1:%d" % free_port()
    serial = "M2MMAKER00000001"
    clients = {
        "provision": ["provision", "--imsi", IMSI, "--msisdn", MSISDN],
        "list": ["list"], "show": ["show", serial], "log": ["log"],
        "get": ["get", serial, "0011"], "set": ["set", serial, "HEARTBEAT_PERIOD=60"],
        "ctrl": ["ctrl", serial, "restart"], "security": ["security", serial, "read-digests", "E026="],
        "logout": ["logout", serial, "normal"], "flag": ["flag", serial, "keep-connected=1"],
    }
    for name, base in clients.items():
        base = base + ["--control", dead]
        add(base[:-2], "--control", generic + ["127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1"])
        add(base, "--timeout", generic + ["0", "-1", "nan", "inf", "1e300"])
        if name in ("get", "set", "ctrl", "security", "logout"):
            add(base, "--encrypt", ["", "none"])
            cases.append((base + ["--sms", "--packet"], "--sms --packet"))
    prov = clients["provision"] + ["--control", dead]
    pw = ["--preset-uplink", UP, "--preset-downlink", DOWN]
    add(clients["provision"][:3] + ["--control", dead], "--msisdn", generic + ["9" * 21, "+"])
    add(["provision", "--msisdn", MSISDN, "--control", dead], "--imsi",
        generic + ["12345678901234", "1234567890123456", "\uff14" * 15, "46000123456789x"])
    add(prov, "--serial", generic + ["A", "M2MMAKER", "M2MMAKER000000001", "hex:zz", "hex:" + "00" * 16,
                                     "M2MMAKER 0000001", "M2MMAKER\u00e90000001"])
    for opt, other in (("--preset-uplink", ["--preset-downlink", DOWN]),
                       ("--preset-downlink", ["--preset-uplink", UP])):
        add(prov + other, opt, ["", huge, "abc", "pass wor", "toolongpassword", "p\u00e4sswort"])
        add(prov + other, opt + "-file", ["", missing, directory, empty_file, short_file, open_secret])
        add(prov + other, opt + "-env", ["", "PF_NOT_SET_ANYWHERE", "1BAD", "A-B"])
    add(prov, "--preset-key", ["", huge, "abc", "x" * 17, "key-with-dash-16"])
    add(prov, "--preset-key-file", ["", missing, directory, empty_file, short_file])
    add(prov, "--preset-key-env", ["", "PF_NOT_SET_ANYWHERE"])
    add(prov + ["--preset-key", KEY], "--preset-key-alg", generic + ["rsa"])
    add(prov + pw, "--preset-validity", generic + ["0", "-1", "1.5", "9" * 20])
    cases.append((prov + ["--preset-uplink", UP], "uplink without downlink"))
    cases.append((prov + ["--preset-key-alg", "aes"], "alg without key"))
    cases.append((prov + ["--preset-validity", "4102444800"], "validity without secrets"))
    cases.append((prov + ["--preset-key", KEY, "--preset-key-alg", "des"], "3DES key for DES"))
    bad_serials = ["", "x" * 17, "hex:zz", "a b", huge]
    for name in ("show", "get", "set", "ctrl", "security", "logout", "flag"):
        base = clients[name]
        for v in bad_serials:
            cases.append((base[:1] + [v] + base[2:] + ["--control", dead], "%s serial %r" % (name, v[:20])))
    for v in ["x" * 17, "hex:zz", "a b"]:
        cases.append((["log", v, "--control", dead], "log serial %r" % v))
    for name in ("show", "log"):
        add(clients[name] + ["--control", dead], "--limit", generic + ["0", "-1", "1.5", "9" * 30])
    for v in ["", "NO_SUCH_TAG", "0x10000", "-1", "0", huge, "E02"]:
        cases.append((["get", serial, v, "--control", dead], "tag %r" % v[:20]))
    for v in ["", "noequals", "=5", "HEARTBEAT_PERIOD=", "HEARTBEAT_PERIOD=abc", "HEARTBEAT_PERIOD=-1",
              "HEARTBEAT_PERIOD=99999999999", "HEARTBEAT_PERIOD=1.5", "APN=" + "x" * 5000, "0x0107=abc",
              "HEARTBEAT_PERIOD=hex:zz", "HEARTBEAT_PERIOD=hex:", "E025=file:" + missing,
              "E025=file:" + directory, "E025=file:" + open_secret, "E025=env:PF_NOT_SET_ANYWHERE",
              "E025=short", "APN=caf\u00e9"]:
        cases.append((["set", serial, v, "--control", dead], "set %r" % v[:30]))
    add(clients["set"] + ["--control", dead], "--report-wait", generic + ["-1", "nan", "inf"])
    for v in ["", "explode", "256", "-1", "1.5", huge]:
        cases.append((["ctrl", serial, v, "--control", dead], "ctrl %r" % v[:20]))
    for v in ["", "9", "bogus", "-1", huge]:
        cases.append((["security", serial, v, "E025=", "--control", dead], "security op %r" % v[:20]))
    for v in ["E025=x", "E025=file:" + missing, "E025=env:PF_NOT_SET_ANYWHERE", "E036=short", "NOPE=1",
              "E028=" + huge]:
        cases.append((["security", serial, "set", v, "--control", dead], "security %r" % v[:30]))
    cases.append((["security", serial, "set", "--control", dead], "security set without TLVs"))
    for v in ["", "bogus", "300", "-1"]:
        cases.append((["logout", serial, v, "--control", dead], "logout %r" % v))
    for v in ["", "bogus=1", "keep-connected=2", "keep-connected", "=1", "keep-connected=" + huge]:
        cases.append((["flag", serial, v, "--control", dead], "flag %r" % v[:30]))
    cases.append((["provision", "--msisdn", MSISDN, "--control", dead], "--imsi missing"))
    cases.append((["frobnicate"], "unknown command"))
    cases.append(([], "no command"))
    return cases


def test_every_option_refuses_bad_values(tmp_path, monkeypatch):
    """Property: each subcommand's options, fed empty, huge, wrong-type, missing-path
    and directory values, end with exit 2 and one line on stderr, before anything
    is sent (the control port has nobody behind it), bound (serve would stop the
    test if it started) or written (the directory is unchanged)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PF_NOT_SET_ANYWHERE", raising=False)

    async def started():
        raise AssertionError("serve started")
    monkeypatch.setattr(PCLI, "until_stopped", started)
    cases = _bad_cases(str(tmp_path))
    assert len(cases) > 300
    before = snapshot(tmp_path)
    failures = []
    for argv, why in cases:
        out, err = io.StringIO(), io.StringIO()
        code = PCLI.main(argv, out, err)
        e = err.getvalue()
        if code != 2 or e.count("\n") != 1 or not e.startswith("wmmp-platform: error: ") or "Traceback" in e:
            failures.append((why, code, e[:300]))
    assert failures == []
    assert snapshot(tmp_path) == before


def test_bad_values_as_a_program(tmp_path):
    """A sample of the above run as the program a person runs."""
    dead = "127.0.0.1:%d" % free_port()
    before = snapshot(tmp_path)
    for argv in (["serve", "--db", str(tmp_path)] + ANY_PORTS,
                 ["serve", "--db", str(tmp_path / "p.sqlite"), "--key-delay", "nan"] + ANY_PORTS[:4],
                 ["provision", "--imsi", "9" * 5000, "--msisdn", MSISDN, "--control", dead],
                 ["set", "M2MMAKER00000001", "APN=" + "x" * 5000, "--control", dead],
                 ["log", "--limit", "", "--control", dead]):
        code, out, err = wp(*argv, cwd=tmp_path)
        assert_clean(code, err, 2)
    assert snapshot(tmp_path) == before
