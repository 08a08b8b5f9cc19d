"""`wmmp-platform data send | follow | result`: the platform side of the serial
data bridge (docs/PROTOCOL.md 11, appendix G j), over the control socket and
loopback UDP, against the scripted terminal of test_platform: downlink
TRANSPARENT_DATA with the source EC code 0x4015 and the terminal's ACK (0x05,
0x06, no answer) as the exit status; uplink data printed live in the one log
format; the result the platform answers uplink data with, forced for tests.
CPython only."""

import asyncio
import binascii
import io
import os
import signal

from wmmp.wire import codec
from wmmp.wire import commands as C

from wmmp_tools.platform import cli as PCLI

from test_platform import run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WMMP_PLATFORM = os.path.join(ROOT, ".venv", "bin", "wmmp-platform")


def _cli(env, *argv, out=None):
    out = out if out is not None else io.StringIO()
    err = io.StringIO()
    argv = list(argv) + ["--control", "127.0.0.1:%d" % env.ctl.port]
    code = PCLI.main(argv, out, err)
    return code, out.getvalue() if isinstance(out, io.StringIO) else "", err.getvalue()


def cli(env, *argv, **kw):
    return asyncio.to_thread(_cli, env, *argv, **kw)


def crc16(data):
    return binascii.crc_hqx(data, 0xFFFF)        # CRC-16/CCITT-FALSE (docs/PROTOCOL.md 7)


async def _online(env):
    await env.provision()
    t = env.terminal()
    await t.enroll()
    return t


async def _uplink(t, data, ec=b"EC0001"):
    msg = codec.Message(C.TRANSPARENT_DATA, {"crc16": crc16(data)}, [(0x4014, ec), (0x4007, data)])
    ans, _ = await t.call(msg)
    return ans.fields["result"]


def test_data_send_reports_the_terminals_ack():
    async def scenario(env):
        t = await _online(env)
        # 0x05: received, exit 0; the source EC code and the CRC16 as the terminal checks them
        task = asyncio.ensure_future(cli(env, "data", "send", t.serial_text, "--text", "hello meter",
                                         "--ec", "EC9"))
        req, _ = await t.answer(result=0x05, timeout=10)
        assert req.command == C.TRANSPARENT_DATA
        assert req.tlv(0x4015) == b"EC9" and req.tlv(0x4007) == b"hello meter"
        assert req.fields["crc16"] == crc16(b"hello meter")
        code, out, err = await task
        assert code == 0 and "ACK 0x05" in out and "11 bytes" in out, (out, err)
        # without --ec: the terminal's 0x0028 as the platform last heard it
        env.pf.db.set_param(t.serial_text, 0x0028, b"4321")
        task = asyncio.ensure_future(cli(env, "data", "send", t.serial_text, "--hex", "00 ff:10"))
        req, _ = await t.answer(result=0x05, timeout=10)
        assert req.tlv(0x4015) == b"4321" and req.tlv(0x4007) == b"\x00\xff\x10"
        assert (await task)[0] == 0
        # 0x06: CRC failed at the terminal, exit 1
        task = asyncio.ensure_future(cli(env, "data", "send", t.serial_text, "--text", "x"))
        await t.answer(result=0x06, timeout=10)
        code, out, err = await task
        assert code == 1 and "ACK 0x06" in out
        # no answer: exit 1, one line saying so
        task = asyncio.ensure_future(cli(env, "data", "send", t.serial_text, "--text", "x", "--timeout", "1"))
        code, out, err = await task
        assert code == 1 and "no answer" in err and len(err.splitlines()) == 1, err
        while True:                       # the retransmissions nobody answered
            try:
                await t.recv(timeout=0.5)
            except asyncio.TimeoutError:
                break
        # --json: the reply
        task = asyncio.ensure_future(cli(env, "data", "send", t.serial_text, "--text", "j", "--json"))
        await t.answer(result=0x05, timeout=10)
        code, out, err = await task
        assert code == 0 and '"result": 5' in out
    run(scenario)


def test_data_send_a_file_in_chunks_in_order(tmp_path):
    data = bytes(range(256)) * 10                  # 2560 bytes: 1024 + 1024 + 512
    f = tmp_path / "blob"
    f.write_bytes(data)

    async def scenario(env):
        t = await _online(env)
        task = asyncio.ensure_future(cli(env, "data", "send", t.serial_text, "--file", str(f), "--ec", "E"))
        got = []
        for _ in range(3):
            req, _ = await t.answer(result=0x05, timeout=10)
            got.append(req.tlv(0x4007))
        code, out, err = await task
        assert code == 0 and [len(g) for g in got] == [1024, 1024, 512] and b"".join(got) == data
        assert "[3/3]" in out
        # a refusal stops the file there
        task = asyncio.ensure_future(cli(env, "data", "send", t.serial_text, "--file", str(f), "--chunk", "1000"))
        await t.answer(result=0x05, timeout=10)
        await t.answer(result=0x06, timeout=10)
        code, out, err = await task
        assert code == 1 and "[2/3]" in out and "[3/3]" not in out
    run(scenario)


def test_data_send_bad_input_is_one_line(tmp_path):
    async def scenario(env):
        t = await _online(env)
        for argv, word in (([t.serial_text, "--hex", "zz"], "hex digit"),
                           ([t.serial_text, "--hex", "abc"], "odd"),
                           ([t.serial_text, "--text", ""], "empty"),
                           ([t.serial_text, "--file", str(tmp_path / "missing")], "--file"),
                           ([t.serial_text, "--text", "x", "--chunk", "2000"], "--chunk"),
                           ([t.serial_text, "--text", "x", "--ec", ""], "EC code"),
                           ([t.serial_text], "required"),
                           ([t.serial_text, "--hex", "00", "--text", "x"], "not allowed"),
                           (["M2MMAKER99999999", "--text", "x"], "unknown terminal")):
            code, out, err = await cli(env, "data", "send", *argv)
            assert code == 2 and len(err.splitlines()) == 1 and word in err and out == "", (argv, err)
            assert "Traceback" not in err
    run(scenario)


def _asked(env):
    """An asyncio.Event set once a `data_follow` request has been answered (the
    control server runs in this process): a follower then knows the newest row
    id, so uplink data stored from then on reaches it."""
    asked = asyncio.Event()
    real = env.op.data_follow

    async def spy(args):
        reply = await real(args)
        asked.set()
        return reply
    env.op.data_follow = spy
    return asked


class _Until:
    """stdout of `data follow` that ends it (as Ctrl-C would) once `n` lines came."""

    def __init__(self, n):
        self.n = n
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        if self.text.count("\n") >= self.n:
            raise KeyboardInterrupt


def test_data_follow_prints_uplink_live():
    async def scenario(env):
        t = await _online(env)
        assert await _uplink(t, b"before") == 0x00            # stored before follow starts
        out = _Until(3)
        asked = _asked(env)
        task = asyncio.ensure_future(cli(env, "data", "follow", out=out))
        await asyncio.wait_for(asked.wait(), 15)         # it has the newest row id
        assert await _uplink(t, b"meter=1234\r\n") == 0x00
        assert await _uplink(t, b"\x00\x01binary", b"OTHER") == 0x00
        assert await _uplink(t, b"third") == 0x00
        code, _, err = await asyncio.wait_for(task, 30)
        assert code == 0, err
        lines = out.text.splitlines()
        assert len(lines) == 3 and "before" not in out.text
        # the one log format: time (UTC+8), component, level, message; hex and printable text
        assert " platform.data INFO " in lines[0] and "+08:00" in lines[0]
        assert t.serial_text in lines[0] and "EC EC0001" in lines[0] and "12 bytes" in lines[0]
        assert b"meter=1234\r\n".hex() in lines[0] and "| meter=1234.." in lines[0]
        assert "EC OTHER" in lines[1] and "| ..binary" in lines[1]
        # --ec, --serial, --all: filters, and what was stored before
        out = _Until(3)
        code, _, err = await cli(env, "data", "follow", "--all", "--ec", "EC0001", "--serial", t.serial_text,
                                 out=out)
        assert code == 0 and "before" in out.text and "OTHER" not in out.text
        out = _Until(1)
        code, _, err = await cli(env, "data", "follow", "--all", "--json", out=out)
        assert code == 0 and '"ec_code": "EC0001"' in out.text and '"data": "%s"' % b"before".hex() in out.text
        # the control op itself: no rows without `after`, a wait that ends empty
        r = await env.op.data_follow({})
        assert r["rows"] == [] and r["last"] >= 4
        r = await env.op.data_follow({"after": r["last"], "wait": 0.2})
        assert r["rows"] == []
    run(scenario)


def test_data_follow_ends_on_ctrl_c_as_a_program():
    async def scenario(env):
        t = await _online(env)
        asked = _asked(env)
        p = await asyncio.create_subprocess_exec(
            WMMP_PLATFORM, "data", "follow", "--control", "127.0.0.1:%d" % env.ctl.port,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
        await asyncio.wait_for(asked.wait(), 15)         # it started and asked for the newest row
        assert await _uplink(t, b"live data") == 0x00
        line = await asyncio.wait_for(p.stdout.readline(), 15)
        assert b"live data".hex().encode() in line and b"| live data" in line
        p.send_signal(signal.SIGINT)
        rc = await asyncio.wait_for(p.wait(), 15)
        err = await p.stderr.read()
        assert rc == 0 and b"Traceback" not in err, err
    run(scenario)


def test_data_result_forces_the_uplink_answer():
    async def scenario(env):
        t = await _online(env)
        code, out, err = await cli(env, "data", "result", t.serial_text, "1", "--count", "2")
        assert code == 0 and "0x01" in out, err
        before = len((await env.op.app_data({}))["app_data"])
        assert [await _uplink(t, b"x%d" % i) for i in range(3)] == [0x01, 0x01, 0x00]
        rows = (await env.op.app_data({}))["app_data"]
        assert len(rows) == before + 1 and rows[-1]["data"] == b"x2".hex()     # forced ones not stored
        for result in (2, 3, 4):
            assert (await cli(env, "data", "result", t.serial_text, str(result)))[0] == 0
            assert await _uplink(t, b"y") == result
            assert await _uplink(t, b"y") == 0x00
        # count 0: every one until cleared with result 0
        assert (await cli(env, "data", "result", t.serial_text, "1", "--count", "0"))[0] == 0
        assert [await _uplink(t, b"z") for _ in range(4)] == [0x01] * 4
        code, out, err = await cli(env, "data", "result", t.serial_text, "0")
        assert code == 0 and "normally" in out
        assert await _uplink(t, b"z") == 0x00
        # bad values: one line, exit 2
        for argv in ([t.serial_text, "5"], [t.serial_text, "x"], [t.serial_text, "1", "--count", "-1"],
                     ["M2MMAKER99999999", "1"]):
            code, out, err = await cli(env, "data", "result", *argv)
            assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, (argv, err)
        # the control op
        r = await env.op.data_result({"serial": t.serial_text, "result": "0x04", "count": 1})
        assert r == {"terminal": t.serial_text, "result": 4, "count": 1}
        assert await _uplink(t, b"w") == 0x04
    run(scenario)


def test_data_needs_a_command():
    code = PCLI.main(["data"], io.StringIO(), io.StringIO())
    assert code == 2
    out = io.StringIO()
    code = PCLI.main(["data", "send", "--help"], out, io.StringIO())
    assert code == 0

