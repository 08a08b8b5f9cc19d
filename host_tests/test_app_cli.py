"""The `wmmp-app` command (tools/wmmp_app/cli.py) against a gateway with the fake
backend running in a thread: login, watch, send, ctrl, query, get, stats,
term-stats, config-set, download, wsdl; bad options exit 2 and wrong
credentials exit 1, each with one line and never a traceback.

CPython only; loopback only."""
import asyncio
import json
import os
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET

import pytest

from wmmp_app import cli
from wmmp_app.gateway import AppConfig, Gateway, serve_http, serve_long

from test_app_support import ACCT, T1, FakeBackend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Platform:
    """A gateway on loopback in its own thread and loop."""

    def __enter__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.backend = FakeBackend(auto=True)
        self.gw = Gateway(self.backend, [AppConfig(**ACCT, remote_ctrl=["4001"])])
        self.backend.gateway = self.gw
        srv = self.call(serve_long(self.gw, "127.0.0.1", 0))
        self.http = self.call(serve_http(self.gw, "127.0.0.1", 0))
        self.long_port = srv.sockets[0].getsockname()[1]
        return self

    def call(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def later(self, seconds, coro_fn):
        async def go():
            for _ in range(int(seconds / 0.05)):
                if self.gw.logged_in("SVC0001"):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.05)
            return await coro_fn()
        return asyncio.run_coroutine_threadsafe(go(), self.loop)

    def __exit__(self, *exc):
        self.call(self.gw.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def platform():
    with Platform() as p:
        yield p


def args(p, *rest, transport="long", password=ACCT["password"]):
    port = p.long_port if transport == "long" else p.http.port
    return ["--platform", "127.0.0.1:%d" % port, "--transport", transport, "--service-id", ACCT["service_id"],
            "--user", ACCT["username"], "--password", password, "--base-key", ACCT["base_key"],
            "--timeout", "5"] + list(rest)


def one_error_line(err, code, words):
    lines = [x for x in err.splitlines() if x.startswith("wmmp-app: error:") or "Traceback" in x]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in err, err
    return code


@pytest.mark.parametrize("transport", ["long", "http"])
def test_login_and_wrong_credentials(platform, capsys, transport):
    assert cli.main(args(platform, "login", transport=transport)) == 0
    out = capsys.readouterr().out
    assert "logged in as meterapp (SERVICEID SVC0001) over %s; session key valid 30 min" % transport in out
    assert cli.main(args(platform, "login", transport=transport, password="wrong")) == 1
    one_error_line(capsys.readouterr().err, 1, "login refused: RESULTCODE 2")


def test_send_waits_for_the_delivery_result(platform, capsys):
    assert cli.main(args(platform, "send", T1, "--text", "hello meter", "--wait", "5")) == 0
    out = capsys.readouterr().out
    assert "11 bytes 68656c6c6f206d65746572 \"hello meter\" to %s" % T1 in out
    assert "TTransparentDataDownResult" in out and "RESULTCODE 0 (delivered to the terminal)" in out
    assert platform.backend.calls[-1][4] == b"hello meter"


def test_watch_prints_data_up_live(platform, capsys):
    fut = platform.later(5, lambda: platform.gw.transparent_up(T1, b"\x01\x02 up"))
    assert cli.main(args(platform, "--json", "watch", "--count", "1", "--seconds", "10")) == 0
    fut.result(5)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    n = [x for x in lines if x["event"] == "notification"]
    assert n and n[0]["call"] == "TTransparentDataUp" and n[0]["body"]["DATA"] == "01022075 70".replace(" ", "")
    assert n[0]["answer"] == {"RESULTCODE": 0}


def test_watch_over_http_with_its_own_endpoint(platform, capsys):
    import socket
    with socket.socket() as s:          # a free port for the application's endpoint, known to the platform
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    platform.gw.apps["SVC0001"].url = "http://127.0.0.1:%d/wmmp/app" % port
    fut = platform.later(5, lambda: platform.gw.transparent_up(T1, b"via http"))
    rc = cli.main(args(platform, "--listen", "127.0.0.1:%d" % port, "watch", "--count", "1", "--seconds", "10",
                       transport="http"))
    assert rc == 0 and fut.result(5)["SVC0001"].result == 0
    out = capsys.readouterr().out
    assert "platform requests are taken at http://127.0.0.1:%d/wmmp/app" % port in out
    assert 'DATA 8 bytes 766961206874747020 "via http"'.replace("7020", "70") in out


def test_ctrl_query_get_stats_config_download(platform, capsys):
    assert cli.main(args(platform, "ctrl", T1, "--tag", "4001", "--wait", "5")) == 0
    assert "TTermCtrlResult" in capsys.readouterr().out
    assert cli.main(args(platform, "ctrl", T1, "--tag", "4002", "--wait", "0")) == 1
    one_error_line(capsys.readouterr().err, 1, "TTermCtrl refused: RESULTCODE 1")
    assert cli.main(args(platform, "query", T1, "--monitor", "3001", "--alarm")) == 0
    assert "MONITOR [('3001', '42')]" in capsys.readouterr().out
    assert cli.main(args(platform, "get", T1, "--config", "0106", "--wait", "5")) == 0
    assert "TTermInfoGetResult" in capsys.readouterr().out
    assert cli.main(args(platform, "stats", "--area", "010")) == 0
    assert "TERMCOUNT_RESULT" in capsys.readouterr().out
    assert cli.main(args(platform, "term-stats", T1, "--from", "20260101", "--to", "20261231")) == 0
    assert "LOGINCOUNT 9" in capsys.readouterr().out
    assert cli.main(args(platform, "config-set", T1, "--set", "0106=90", "--wait", "5")) == 0
    assert "TConfigSetResult" in capsys.readouterr().out
    assert cli.main(args(platform, "download", "http://fw.invalid/x", T1, "--wait", "5")) == 0
    assert "RESULTCODE 1 (updating now)" in capsys.readouterr().out


@pytest.mark.parametrize("argv,words", [
    (["send", T1, "--hex", "zz"], "expected hex digits"),
    (["ctrl", T1, "--tag", "40001"], "not a tag"),
    (["config-set", T1, "--set", "0106"], "expected TAG=VALUE"),
    (["--platform", "nohost", "login"], "expected HOST:PORT"),
    (["login"], "--platform HOST:PORT is needed"),
    (["--platform", "127.0.0.1:9", "login"], "--service-id and --user are needed"),
    (["--platform", "127.0.0.1:9", "--service-id", "S", "--user", "u", "login"], "the password is needed"),
    (["--platform", "127.0.0.1:9", "--service-id", "S", "--user", "u", "--password", "p", "--base-key", "short",
      "login"], "16 or 24 bytes"),
    (["--platform", "127.0.0.1:9", "--service-id", "S", "--user", "u", "--password", "env:NO_SUCH_VAR_X",
      "--base-key", "k" * 16, "login"], "NO_SUCH_VAR_X"),
])
def test_bad_options_exit_2_with_one_line(argv, words, capsys, monkeypatch):
    for k in ("WMMP_APP_PASSWORD", "WMMP_APP_BASE_KEY", "WMMP_APP_SERVICE_ID", "WMMP_APP_USER"):
        monkeypatch.delenv(k, raising=False)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_a_platform_that_is_not_there_exits_1(capsys):
    assert cli.main(["--platform", "127.0.0.1:1", "--service-id", "S", "--user", "u", "--password", "p",
                     "--base-key", "k" * 16, "login"]) == 1
    one_error_line(capsys.readouterr().err, 1, "cannot connect to 127.0.0.1:1: Connection refused")


def test_wsdl_command_and_module_entry_point(capsys):
    assert cli.main(["wsdl", "--side", "application", "--location", "http://10.0.0.1:80/app"]) == 0
    root = ET.fromstring(capsys.readouterr().out.encode())
    assert root.get("name") == "WmmpApplication"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")]))
    p = subprocess.run([sys.executable, "-m", "wmmp_app", "--help"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert p.returncode == 0 and "TTransparentDataDown" in p.stdout
    p = subprocess.run([sys.executable, "-m", "wmmp_app", "send", T1], capture_output=True, text=True, env=env,
                       timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr
