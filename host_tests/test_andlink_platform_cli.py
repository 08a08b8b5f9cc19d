"""`andlink-platform` as an operator meets it: run as a program (serve in a
subprocess, each command a subprocess) against the fake device of
test_andlink_platform.py; every bad input ends with exit status 2, one line on
stderr and no traceback, before any platform is needed; failures exit 1;
product tokens are hidden unless --show-secrets.  Loopback, ports from the OS."""

import asyncio
import json
import os
import re
import signal
import stat
import subprocess
import sys

import pytest

from test_andlink_platform import DEVICE_TYPE, IMEI, PRODUCT_TOKEN, FakeDevice, run, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CMD = [sys.executable, "-m", "andlink_tools.cli"]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")]))
NOWHERE = ["--control", "127.0.0.1:9"]             # nothing listens there


def ap(*argv, timeout=20):
    r = subprocess.run(CMD + list(argv), capture_output=True, text=True, env=ENV, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr


def assert_clean(code, err, want, *words):
    assert "Traceback" not in err, err
    assert code == want, (code, err)
    assert err.count("\n") == 1 and err.startswith("andlink-platform: error: "), err
    for w in words:
        assert w in err, (w, err)


BAD = [
    (("read", "12 34", "/3/0/3"), "endpoint name"),
    (("read", IMEI, "/3/0/x"), "'x' is not an id"),
    (("read", IMEI, "3/0/3"), "a path is"),
    (("read", IMEI, "/3/0/3/0/1"), "levels"),
    (("read", IMEI, "/70000"), "not an id"),
    (("write", IMEI, "/3/0/9", "abc"), "is integer"),
    (("write", IMEI, "/3", "1"), "levels"),
    (("write", IMEI, "/3/0", "13"), "RESOURCE=VALUE"),
    (("write", IMEI, "/3/0", "x=1"), "a resource id"),
    (("write", IMEI, "/3/0", "13=1", "13=2"), "twice"),
    (("write", IMEI, "/3/0/1", "a", "b"), "one VALUE"),
    (("write", IMEI, "/3/0/4", "1"), "executable"),
    (("write", IMEI, "/1/0/6", "maybe"), "boolean"),
    (("write", IMEI, "/19/1/0", "{bad"), "not a JSON object"),
    (("write", IMEI, "/3/0/14", "x", "--format", "opaque"), "hex:"),
    (("write", IMEI, "/3/0/14", "hex:zz"), "hex digits"),
    (("exec", IMEI, "/3/0"), "levels"),
    (("exec", IMEI, "/3/0/4", "\x01"), "printable"),
    (("attrs", IMEI, "/3/0/9", "foo=1"), "attribute"),
    (("attrs", IMEI, "/3/0/9", "pmin=x"), "integer"),
    (("create", IMEI, "/3/0", "1=a"), "levels"),
    (("read", IMEI, "/3/0/3", "--timeout", "-1"), "--timeout"),
    (("read", IMEI, "/3/0/3", "--control", "nohost"), "HOST:PORT"),
    (("observe", IMEI, "/3/0/9", "--follow", "--cancel"), "not allowed"),
    (("serve", "--coap", "x"), "HOST:PORT"),
    (("serve", "--control", "10.0.0.1:7320"), "loopback"),
    (("serve", "--loss", "1.5"), "--loss"),
    (("serve", "--block-size", "100"), "power of 2"),
    (("serve", "--products", "/nonexistent/p.json"), "No such file"),
    (("serve", "--observe", "/3/0"), "levels"),
    (("fota", "publish", "/nonexistent/fw.bin", "--version", "2"), "No such file"),
    (("fota", "publish", "/", "--version", "2"), "directory"),
    (("fota", "push", "not an imei"), "endpoint name"),
    (("fota",), "publish, push"),
    ((), "a command"),
    (("frobnicate",), "invalid choice"),
]


@pytest.mark.parametrize("argv, words", BAD, ids=[" ".join(a[:3]) for a, _ in BAD])
def test_bad_input_exits_2_with_one_line(argv, words):
    code, out, err = ap(*(list(argv) + (NOWHERE if argv and argv[0] not in ("serve", "fota") else [])))
    assert_clean(code, err, 2, words)
    assert out == ""


def test_bad_files_and_version(tmp_path):
    p = tmp_path / "products.json"
    p.write_text(json.dumps({DEVICE_TYPE: PRODUCT_TOKEN}))
    os.chmod(p, 0o644)
    assert_clean(*ap("serve", "--products", str(p))[::2], 2, "chmod 600")
    os.chmod(p, 0o600)
    p.write_text("[1, 2]")
    assert_clean(*ap("serve", "--products", str(p))[::2], 2, "DeviceType")
    d = tmp_path / "devices.json"
    d.write_text("{not json")
    os.chmod(d, 0o600)
    assert_clean(*ap("serve", "--devices", str(d))[::2], 2, "not JSON")
    f = tmp_path / "fw.bin"
    f.write_bytes(b"")
    assert_clean(*ap("fota", "publish", str(f), "--version", "2.0", *NOWHERE)[::2], 2, "empty")
    f.write_bytes(b"x")
    assert_clean(*ap("fota", "publish", str(f), "--version", " 2 ", *NOWHERE)[::2], 2, "version")
    assert_clean(*ap("list", *NOWHERE)[::2], 1, "no platform at 127.0.0.1:9")


# == a session against a running platform ==============================================

async def cli(*argv, timeout=20):
    p = await asyncio.create_subprocess_exec(*CMD, *argv, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                             stdin=subprocess.DEVNULL)
    out, err = await asyncio.wait_for(p.communicate(), timeout)
    out, err = out.decode(), err.decode()
    assert "Traceback" not in err and "internal error" not in err, err
    return p.returncode, out, err


async def start_serve(*extra):
    proc = await asyncio.create_subprocess_exec(
        *CMD, "serve", "--coap", "127.0.0.1:0", "--control", "127.0.0.1:0", "--ack-timeout", "0.3",
        "--request-timeout", "3", *extra, env=ENV, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    line = (await asyncio.wait_for(proc.stderr.readline(), 10)).decode()
    m = re.search(r"LwM2M server on coap://127\.0\.0\.1:(\d+).*control 127\.0\.0\.1:(\d+)", line)
    assert m, line
    return proc, int(m.group(1)), ["--control", "127.0.0.1:%s" % m.group(2)]


async def stop_serve(proc):
    proc.send_signal(signal.SIGINT)
    rest = (await asyncio.wait_for(proc.stderr.read(), 10)).decode()
    assert await proc.wait() == 0, rest
    assert "Traceback" not in rest, rest
    return rest


def test_a_session_through_the_cli(tmp_path):
    state = str(tmp_path / "pf" / "state.json")
    products = tmp_path / "products.json"
    products.write_text(json.dumps({DEVICE_TYPE: PRODUCT_TOKEN}))
    os.chmod(products, 0o600)
    fw = tmp_path / "fw.bin"
    fw.write_bytes(os.urandom(40000))                       # uploaded in two parts

    async def main():
        proc, port, ctl = await start_serve("--state", state, "--products", str(products), "--observe", "/5/0/3")
        dev = await FakeDevice().start()
        try:
            assert (await dev.register(port)).code.is_successful()
            code, out, err = await cli("show", IMEI, *ctl)
            for _ in range(50):
                if "product check: ok" in out:
                    break
                await asyncio.sleep(0.1)
                code, out, err = await cli("show", IMEI, *ctl)
            assert code == 0 and "product check: ok, device type %s" % DEVICE_TYPE in out, out + err
            assert PRODUCT_TOKEN not in out and "/3/0/1 = *** (hidden: --show-secrets)" in out
            code, out, _ = await cli("show", IMEI, "--json", *ctl)
            assert PRODUCT_TOKEN not in out
            code, out, _ = await cli("show", IMEI, "--show-secrets", *ctl)
            assert PRODUCT_TOKEN in out
            code, out, _ = await cli("list", *ctl)
            assert code == 0 and IMEI in out and "fw 1.0.0" in out and "auth ok" in out
            code, out, _ = await cli("read", IMEI, "/3/0/3", *ctl)
            assert code == 0 and '/3/0/3 = "1.0.0"  (Device / Firmware Version)' in out
            code, out, _ = await cli("read", IMEI, "/19/1/0", "--param", "power", *ctl)
            assert code == 0 and '{"power": 200}' in out
            code, out, err = await cli("read", IMEI, "/3/0/999", *ctl)
            assert code == 1 and "4.04 Not Found" in out and err == ""
            code, out, _ = await cli("write", IMEI, "/1/0/1", "60", *ctl)
            assert code == 0 and "2.04 Changed" in out and dev.values[(1, 0, 1)] == 60
            code, out, _ = await cli("write", IMEI, "/19/1/0", "power=100", *ctl)
            assert code == 0 and dev.params["power"] == 100
            code, out, _ = await cli("exec", IMEI, "/3/0/4", *ctl)
            assert code == 0 and dev.executed[-1][0] == (3, 0, 4)
            code, out, _ = await cli("attrs", IMEI, "/3/0/9", "pmin=10", "pmax=60", *ctl)
            assert code == 0 and dev.seen[-1][2] == ("pmin=10", "pmax=60")
            code, out, _ = await cli("discover", IMEI, "/3", *ctl)
            assert code == 0 and "</3/0/3>" in out
            # observe and follow one notification
            follow = asyncio.ensure_future(cli("observe", IMEI, "/3/0/9", "--follow", "--count", "1", *ctl))
            await wait_for(lambda: (3, 0, 9) in dev.observers, 10, "the observation")
            dev.set((3, 0, 9), 55)
            code, out, err = await follow
            assert code == 0 and "/3/0/9 = 90" in out and "/3/0/9 = 55" in out, out + err
            code, out, err = await cli("observe", IMEI, "/3/0/9", "--cancel", *ctl)
            assert code == 0, err
            code, out, err = await cli("observe", IMEI, "/3/0/9", "--cancel", *ctl)
            assert_clean(code, err, 2, "not observed")
            # Send (/dp) data, followed
            code, out, _ = await cli("data", IMEI, "--history", "--count", "1", *ctl)
            assert code == 0 and " read " in out and "/19/1/0 = {" in out          # the registration's read
            follow = asyncio.ensure_future(cli("data", IMEI, "--count", "1", *ctl))
            # The follower prints what arrives after it started; when it starts
            # late (a loaded machine) the Send is repeated until it has one.
            for _ in range(40):
                await dev.send([{"n": "/19/1/0", "vs": {"power": 18}}])
                done, _ = await asyncio.wait([follow], timeout=0.5)
                if done:
                    break
            code, out, _ = await follow
            assert code == 0 and " send " in out and '{"power": 18}' in out
            # FOTA
            code, out, err = await cli("fota", "publish", str(fw), "--version", "2.0.0", *ctl)
            assert code == 0 and "published package" in out and "40000 bytes" in out, err
            code, out, err = await cli("fota", "push", IMEI, "--wait", "20", *ctl, timeout=30)
            assert code == 0 and "succeeded" in out, out + err
            code, out, _ = await cli("fota", "status", *ctl)
            assert code == 0 and "succeeded" in out and "100.0%" in out
            code, out, err = await cli("fota", "push", IMEI, "--version", "9.9", *ctl)
            assert_clean(code, err, 1, "no package published with version 9.9")
            code, out, err = await cli("read", "869976032983999", "/3/0/3", *ctl)
            assert_clean(code, err, 1, "not known")
        finally:
            await dev.close()
            rest = await stop_serve(proc)
        assert "stopping (SIGINT)" in rest
        st = os.stat(state)
        assert stat.S_IMODE(st.st_mode) == 0o600
        assert PRODUCT_TOKEN in open(state).read()                  # kept, 0600
        # a second run with the same state knows the device and the package
        proc, port, ctl = await start_serve("--state", state)
        try:
            code, out, _ = await cli("fota", "files", *ctl)
            assert code == 0 and "2.0.0" in out
            code, out, _ = await cli("show", IMEI, *ctl)
            assert code == 0 and "FOTA" in out and "succeeded" in out
            proc2 = await asyncio.create_subprocess_exec(*CMD, "serve", "--coap", "127.0.0.1:0", "--control",
                                                         "127.0.0.1:0", "--state", state, env=ENV,
                                                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            err = (await asyncio.wait_for(proc2.stderr.read(), 10)).decode()
            assert await proc2.wait() == 1
            assert_clean(1, err, 1, "in use by another running andlink-platform")
        finally:
            await stop_serve(proc)
    run(main(), timeout=55)


def test_serve_refuses_a_port_in_use():
    async def main():
        proc, port, ctl = await start_serve()
        try:
            code, out, err = await cli("serve", "--coap", "127.0.0.1:%d" % port, "--control", "127.0.0.1:0")
            assert_clean(code, err, 1, "cannot listen on 127.0.0.1:%d" % port)
        finally:
            await stop_serve(proc)
    run(main())
