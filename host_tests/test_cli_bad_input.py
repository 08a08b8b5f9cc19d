"""Every option of `wmmp` and `wmmp-tech`, and every environment variable they
read a secret from, fed bad values: empty, huge, the wrong type, text that is
not UTF-8, a missing path, a directory, an endless file, no terminal.  Each
case is the installed command in a subprocess and must end with exit status 2
and exactly one line on stderr (no traceback, no usage block, no value echoed
whole), and touch nothing: no bytes to the terminal's serial line, no file
written, nothing on stdout.  A property test then feeds arbitrary text to each
option in-process.

CPython only (subprocess, os.openpty, hypothesis)."""
import concurrent.futures
import contextlib
import io
import os
import select
import subprocess
import sys
import tty

from hypothesis import HealthCheck, given, settings, strategies as st

from wmmp.wire import codec, commands as C
from wmmp_tools import cli, tech

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WMMP = os.path.join(ROOT, ".venv", "bin", "wmmp")
TECH = os.path.join(ROOT, ".venv", "bin", "wmmp-tech")

IMEI = "490154203237518"          # a valid check digit: no Luhn warning line
IMSI = "460001234567890"
CRED = "4f1c9e0a7b2d83e6c5a1f09d2b7e4c18"
HUGE = "9" * 100000               # below Linux's 128 KiB limit for one argument
HEARTBEAT = codec.encode(codec.Message(C.HEART_BEAT, serial=b"M2MMAKER0000A1B2", seq=4)).hex()

# Bad values by kind.  Path kinds are filled in per test (they need tmp_path).
EMPTY, LONG, WRONG, NOT_UTF8, NEGATIVE, NAN = "", HUGE, "x y\u00e9!", b"\xff\xfe", "-1", "nan"
TEXT_KINDS = {"empty": EMPTY, "huge": LONG, "wrong": WRONG, "not-utf8": NOT_UTF8}
NUMBER_KINDS = dict(TEXT_KINDS, negative=NEGATIVE, nan=NAN, float="1.5e300")


def _env(extra=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("WMMP_")}
    e.update(extra or {})
    return e


class Case:
    def __init__(self, name, argv, env=None, stdin=b"", pty_port=False, new_session=False, stdout_tty=False):
        self.name, self.argv, self.env, self.stdin = name, argv, env, stdin
        self.pty_port, self.new_session, self.stdout_tty = pty_port, new_session, stdout_tty


def _run(case, exe, port_slot="PORT"):
    """Run one case; returns (case, rc, stdout, stderr, bytes the serial line saw)."""
    master = slave = None
    argv = list(case.argv)
    if case.pty_port:
        master, slave = os.openpty()
        tty.setraw(slave)
        argv = [os.ttyname(slave) if a == port_slot else a for a in argv]
    out_master = out_slave = None
    if case.stdout_tty:
        out_master, out_slave = os.openpty()
    try:
        p = subprocess.run([exe] + argv, input=case.stdin, capture_output=not case.stdout_tty,
                           stdout=out_slave if case.stdout_tty else None,
                           stderr=subprocess.PIPE if case.stdout_tty else None,
                           env=_env(case.env), timeout=60, start_new_session=case.new_session)
        seen = b""
        for fd in (master, out_master):
            if fd is not None:
                while select.select([fd], [], [], 0.05)[0]:
                    try:
                        chunk = os.read(fd, 4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    seen += chunk
        return case, p.returncode, p.stdout or b"", p.stderr, seen
    finally:
        for fd in (master, slave, out_master, out_slave):
            if fd is not None:
                os.close(fd)


def _check_all(cases, exe, prefix):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda c: _run(c, exe), cases))
    bad = []
    for case, rc, out, err, seen in results:
        text = err.decode("utf-8", "replace")
        lines = text.splitlines()
        problems = []
        if rc != 2:
            problems.append("exit %s" % rc)
        if len(lines) != 1 or not lines[0].startswith(prefix):
            problems.append("stderr %r" % text[:300])
        if "Traceback" in text or "usage:" in text or "Warning" in text:
            problems.append("traceback/usage/warning")
        if len(text) > 400:
            problems.append("stderr of %d characters" % len(text))
        if out:
            problems.append("stdout %r" % out[:80])
        if seen:
            problems.append("the line/terminal saw %r" % seen[:80])
        if problems:
            bad.append((case.name, problems))
    assert bad == [], "\n".join("%s: %s" % b for b in bad)
    return results


# -- wmmp ---------------------------------------------------------------------------------

def _wmmp_cases(tmp_path):
    bin_file = tmp_path / "capture.bin"
    bin_file.write_bytes(bytes.fromhex(HEARTBEAT) + b"\xff")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    paths = {"empty": "", "missing": str(tmp_path / "no" / "such"), "directory": str(tmp_path),
             "endless": "/dev/zero", "empty-file": str(empty), "not-utf8": NOT_UTF8}
    keys = ["--imei", "861234567890123", "--imsi", IMSI]
    json_doc = subprocess.run([WMMP, "decode", HEARTBEAT, "--json"], capture_output=True, env=_env(),
                              timeout=60).stdout
    cases = []
    for verb, base, stdin in (("decode", [HEARTBEAT], b""), ("encode", [], json_doc)):
        def add(opt, kinds, before=(), value_first=False):
            for kind, value in kinds.items():
                argv = [verb] + base + list(before) + ([value] if value_first else [opt, value])
                cases.append(Case("%s %s %s" % (verb, opt, kind), argv, stdin=stdin))
        add("--bearer", TEXT_KINDS)
        add("--imei", dict(TEXT_KINDS, negative=NEGATIVE), ["--imsi", IMSI, "--password", "Up#45678"])
        add("--imsi", dict(TEXT_KINDS, negative=NEGATIVE), ["--imei", "861234567890123", "--password", "Up#45678"])
        add("--password", dict(TEXT_KINDS, negative=NEGATIVE), keys)
        add("--password-file", paths, keys)
        add("--timestamp", NUMBER_KINDS, keys + ["--password", "Up#45678"])
        add("--session-key", dict(TEXT_KINDS, hex_garbage="hex:zz"), ["--alg", "des"])
        add("--session-key-file", paths, ["--alg", "des"])
        add("--alg", TEXT_KINDS, ["--session-key", "abcdefgh"])
        for flag in (["--binary", "--json", "--show-secrets", "--verbose"] if verb == "decode" else ["--binary"]):
            cases.append(Case("%s %s=value" % (verb, flag), [verb] + base + [flag + "=yes"], stdin=stdin))
        # secrets from the environment
        for kind, value in (("huge", "9" * 5000), ("wrong", WRONG)):
            cases.append(Case("%s WMMP_PASSWORD %s" % (verb, kind), [verb] + base + keys, stdin=stdin,
                              env={"WMMP_PASSWORD": value}))
            cases.append(Case("%s WMMP_SESSION_KEY %s" % (verb, kind), [verb] + base + ["--alg", "aes"],
                              stdin=stdin, env={"WMMP_SESSION_KEY": value}))
        cases.append(Case("%s --alg, WMMP_SESSION_KEY empty" % verb, [verb] + base + ["--alg", "aes"],
                          stdin=stdin, env={"WMMP_SESSION_KEY": ""}))
    # the message itself and its files
    for kind, value in dict(TEXT_KINDS, negative=NEGATIVE).items():
        cases.append(Case("decode HEX %s" % kind, ["decode", value]))
    for kind, value in paths.items():
        cases.append(Case("decode --file %s" % kind, ["decode", "--file", value]))
        cases.append(Case("decode --file %s --binary" % kind, ["decode", "--file", value, "--binary"]))
        cases.append(Case("encode --file %s" % kind, ["encode", "--file", value]))
    cases.append(Case("decode --file binary, no --binary", ["decode", "--file", str(bin_file)]))
    cases.append(Case("encode --file binary", ["encode", "--file", str(bin_file)]))
    cases.append(Case("decode - endless stdin", ["decode", "-"], stdin=b"00" * (1 << 20) + b"0"))
    cases.append(Case("encode, not UTF-8 on stdin", ["encode"], stdin=b"\xff\xfe{}"))
    cases.append(Case("encode, deeply nested JSON", ["encode"], stdin=b"[" * 100000))
    cases.append(Case("encode --binary to a terminal", ["encode", "--binary"], stdin=json_doc, stdout_tty=True))
    for kind, value in TEXT_KINDS.items():
        cases.append(Case("command %s" % kind, [value]))
    return cases


def test_wmmp_every_option_bad_values_exit_2_one_line(tmp_path):
    cases = _wmmp_cases(tmp_path)
    _check_all(cases, WMMP, "wmmp: error: ")
    assert sorted(os.listdir(tmp_path)) == ["capture.bin", "empty"]          # nothing written


# -- wmmp-tech --------------------------------------------------------------------------------

def _tech_cases(tmp_path):
    def secret(name, text):
        p = tmp_path / name
        p.write_text(text)
        p.chmod(0o600)
        return str(p)
    cred = secret("cred", CRED + "\n")
    master = secret("master", "operator-master-secret-for-tests-0123456789\n")
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\xff\xfe\x00" * 10)
    garbage.chmod(0o600)
    paths = {"empty": "", "missing": str(tmp_path / "no" / "such"), "directory": str(tmp_path),
             "endless": "/dev/zero", "empty-file": "/dev/null", "not-utf8": NOT_UTF8}
    cases = []

    def add(name, argv, **kw):
        cases.append(Case(name, argv, pty_port="PORT" in argv, **kw))

    for kind, value in dict(TEXT_KINDS, missing=paths["missing"], directory=str(tmp_path), endless="/dev/zero",
                            null="/dev/null", regular_file=cred).items():
        add("--port %s" % kind, ["--port", value, "--timeout", "0.5", "status"])
    for kind, value in NUMBER_KINDS.items():
        add("--baud %s" % kind, ["--port", "PORT", "--baud", value, "status"])
        add("--timeout %s" % kind, ["--port", "PORT", "--timeout", value, "status"])
        add("--generation %s" % kind, ["credential", "--master-file", master, "--imei", IMEI,
                                      "--generation", value, "--show"])
    add("--baud 0", ["--port", "PORT", "--baud", "0", "status"])
    add("--timeout inf", ["--port", "PORT", "--timeout", "inf", "status"])
    for kind, value in paths.items():
        # any bytes are a current credential or a master secret: binary garbage only
        # where the content has a form (PIN, PUK, a credential to store)
        add("--credential-file %s" % kind, ["--port", "PORT", "--credential-file", value, "audit"])
        add("--master-file %s" % kind, ["credential", "--master-file", value, "--imei", IMEI, "--show"])
    for kind, value in dict(paths, garbage=str(garbage)).items():
        add("--puk-file %s" % kind, ["--port", "PORT", "--credential-file", cred, "--puk-file", value, "reset-sim"])
        add("--pin-file %s" % kind, ["--port", "PORT", "--credential-file", cred, "--pin-file", value, "reset-sim"])
        add("--new-credential-file %s" % kind, ["--port", "PORT", "--credential-file", cred,
                                                "--new-credential-file", value, "rekey"])
        add("provision --credential-file %s" % kind, ["--port", "PORT", "--credential-file", value, "provision"])
    short = secret("short-master", "0123456789\n")
    add("--master-file too short", ["credential", "--master-file", short, "--imei", IMEI, "--show"])
    for kind, value in dict(TEXT_KINDS, negative=NEGATIVE).items():
        add("--imei %s" % kind, ["credential", "--master-file", master, "--imei", value, "--show"])
        add("provision --imei %s" % kind, ["--port", "PORT", "--master-file", master, "--imei", value, "provision"])
        add("--cred-id %s" % kind if kind != "negative" else "--cred-id with a space",
            ["--port", "PORT", "--credential-file", cred, "--cred-id", value if kind != "negative" else "a b",
             "provision"])
        add("command %s" % kind, ["--port", "PORT", value])
        add("get TAG %s" % kind, ["--port", "PORT", "--credential-file", cred, "get", value])
        add("set VALUE %s" % kind, ["--port", "PORT", "--credential-file", cred, "set", "HEARTBEAT_PERIOD=" + (
            value if isinstance(value, str) else "\udcff")])
        add("set TAG %s" % kind, ["--port", "PORT", "--credential-file", cred, "set",
                                  (value if isinstance(value, str) else "\udcff") + "=1"])
        add("request-security OP %s" % kind, ["--port", "PORT", "--credential-file", cred, "request-security", value])
    for kind, value in {"empty": "", "missing dir": str(tmp_path / "no" / "such"), "directory": str(tmp_path),
                        "huge": HUGE}.items():
        add("--out %s" % kind, ["credential", "--master-file", master, "--imei", IMEI, "--out", value])
    for flag in ("--show",):
        add("%s=value" % flag, ["credential", "--master-file", master, "--imei", IMEI, flag + "=yes"])
    add("an option that does not exist", ["--port", "PORT", "--credential", CRED, "audit"])
    add("an option without its value", ["--port", "PORT", "status", "--timeout"])
    # secrets from the environment
    for kind, value in (("huge", "7" * 5000), ("wrong", "12a4"), ("too short", "1")):
        add("WMMP_SIM_PIN %s" % kind, ["--port", "PORT", "--credential-file", cred, "reset-sim"],
            env={"WMMP_SIM_PIN": value})
        add("WMMP_SIM_PUK %s" % kind, ["--port", "PORT", "--credential-file", cred, "reset-sim"],
            env={"WMMP_SIM_PUK": value})
        add("WMMP_NEW_CREDENTIAL %s" % kind, ["--port", "PORT", "--credential-file", cred, "rekey"],
            env={"WMMP_NEW_CREDENTIAL": value})
        add("provision WMMP_CREDENTIAL %s" % kind, ["--port", "PORT", "provision"], env={"WMMP_CREDENTIAL": value})
    add("WMMP_CREDENTIAL huge", ["--port", "PORT", "audit"], env={"WMMP_CREDENTIAL": "c" * 5000})
    add("WMMP_SIM_PIN and WMMP_SIM_PUK", ["--port", "PORT", "--credential-file", cred, "reset-sim"],
        env={"WMMP_SIM_PIN": "2468", "WMMP_SIM_PUK": "11223344"})
    # no terminal to ask the credential on
    for cmd in ("audit", "reset-keys", "reset-sim"):
        add("%s without a credential and without a terminal" % cmd, ["--port", "PORT", cmd], new_session=True)
        add("%s, WMMP_CREDENTIAL empty, no terminal" % cmd, ["--port", "PORT", cmd], new_session=True,
            env={"WMMP_CREDENTIAL": ""})
    return cases


def test_wmmp_tech_every_option_bad_values_exit_2_one_line(tmp_path):
    cases = _tech_cases(tmp_path)
    results = _check_all(cases, TECH, "wmmp-tech: ")
    assert sorted(os.listdir(tmp_path)) == ["cred", "garbage", "master", "short-master"]   # nothing written
    for case, rc, out, err, seen in results:                                  # no secret echoed
        assert CRED.encode() not in err and b"operator-master" not in err


# -- property: any text in any option -----------------------------------------------------------

_WMMP_OPTIONS = ["HEX", "--file", "--bearer", "--imei", "--imsi", "--password", "--password-file", "--timestamp",
                 "--session-key", "--session-key-file", "--alg"]


def _wmmp_in_process(argv, stdin=b""):
    out, err = io.BytesIO(), io.BytesIO()
    o = io.TextIOWrapper(out, encoding="utf-8", newline="")
    e = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace", newline="")
    saved = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"), o, e
    try:
        rc = cli.main(argv)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
    o.flush()
    e.flush()
    return rc, out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace")


_ANY_TEXT = st.one_of(st.text(max_size=60), st.text(alphabet="0123456789abcdefx:-. ", max_size=60),
                      st.sampled_from(["", "-", "--", "0", "-1", "nan", "inf", "1e999", "hex:", "hex:00",
                                       "/dev/null", "/", "\x00", "\udcff", HUGE]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_WMMP_OPTIONS), _ANY_TEXT, st.sampled_from(["decode", "encode"]))
def test_wmmp_any_text_in_any_option(option, value, verb):
    if "\x00" in value and option in ("--file", "--password-file", "--session-key-file"):
        value = value.replace("\x00", "")           # a NUL cannot be in a real argv
    base = [verb] + ([HEARTBEAT] if verb == "decode" and option not in ("HEX", "--file") else [])
    if option == "HEX":
        argv = base + ([value] if verb == "decode" else ["--file", value])
    else:
        argv = base + [option, value]
    stdin = b'{"command": "HEART_BEAT", "serial": "M2MMAKER0000A1B2", "seq": 4}' if verb == "encode" else b""
    rc, out, err = _wmmp_in_process(argv, stdin)
    assert rc in (0, 1, 2), rc
    assert "Traceback" not in err and "internal error" not in err, err
    if rc == 2:
        assert len(err.splitlines()) == 1 and err.startswith("wmmp: error: ") and len(err) < 400, err


_TECH_OPTIONS = ["--port", "--baud", "--timeout", "--credential-file", "--puk-file", "--pin-file", "--master-file",
                 "--imei", "--generation", "--out", "--new-credential-file", "--cred-id", "command", "ARG"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.sampled_from(_TECH_OPTIONS), _ANY_TEXT,
       st.sampled_from(["status", "audit", "reset-sim", "rekey", "provision", "credential", "set", "get"]))
def test_wmmp_tech_any_text_in_any_option(tmp_path, option, value, command):
    # The port never exists here, so whatever the values the terminal is never
    # reached: every run ends with one line and exit 1 or 2, never a traceback.
    value = value.replace("\x00", "")
    cred = tmp_path / "cred"
    if not cred.exists():
        cred.write_text(CRED + "\n")
        cred.chmod(0o600)
    fixed = {"--port": str(tmp_path / "no-such-port"), "--timeout": "0.2", "--credential-file": str(cred)}
    argv = []
    for opt, v in fixed.items():
        if opt != option:
            argv += [opt, v]
    if option == "command":
        argv += [value]
    elif option == "ARG":
        argv += [command, value]
    else:
        argv += [option, value, command]
    err = io.StringIO()
    env = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("WMMP_")}
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()) as out, \
                contextlib.chdir(tmp_path):
            rc = tech.main(argv)
    finally:
        os.environ.update(env)
    text = err.getvalue()
    if rc == 0:                                  # a value such as -h asks for the help
        assert out.getvalue().startswith("usage: wmmp-tech") and text == "", (argv[:8], text)
        return
    assert rc in (1, 2), (argv[:8], rc, text)
    assert "Traceback" not in text and "internal error" not in text, text
    lines = [line for line in text.splitlines() if "warning:" not in line]
    assert len(lines) == 1 and lines[0].startswith("wmmp-tech: ") and len(lines[0]) < 400, (argv[:8], text)
    assert CRED not in text and CRED not in out.getvalue()
