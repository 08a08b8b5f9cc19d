"""End to end over loopback: `wmmp-term --data-port PTY --ec-code CODE` against
the platform simulator (UDP, keys by SMS through the SMS centre).  Bytes written
into the data port arrive at the platform as TRANSPARENT_DATA to the EC code
(0x0028 preset by --ec-code), framed by the pause; `data send` from the
platform comes out of the data port, acknowledged 0x05; 0x0101-0x0105 are among
what the terminal applies, and a setting the pty cannot do is refused.  The
platform runs in this process (test_term_emu_cli's Stack), the terminal as the
installed command.  CPython only; generous timeouts, nothing timed."""

import os
import select
import time
import tty

import pytest

from test_term_emu_cli import Proc, Stack, TERM, run, assert_usage_error


@pytest.fixture
def stack():
    s = Stack()
    yield s
    s.close()


def _read(fd, n, timeout=30.0):
    out = b""
    end = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            out += os.read(fd, 4096)
    return out


def _rows(stack, ec=None):
    return stack.call(stack.op.app_data({"ec": ec}))["app_data"]


def _until(what, cond, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("no %s within %g s" % (what, timeout))


def test_bridge_both_ways_through_wmmp_term(stack, tmp_path):
    master, slave = os.openpty()          # the meter's end is `master`; wmmp-term opens the slave
    tty.setraw(master)
    path = os.ttyname(slave)
    term = Proc(TERM, ["--udp", stack.udp, "--smsc", stack.sms, "--data-port", path, "--ec-code", "EC42"])
    try:
        term.wait_for("state online", 60)
        serial = _until("terminal", lambda: [s for s, st in stack.states().items() if st == "online"])[0]
        assert "data   port %s 9600 8N1, EC code 'EC42'" % path in term.out, term.out[-3000:]
        # uplink: two frames separated by a pause well above the default gap (0x0105 = 1: 100 ms)
        os.write(master, b"first frame from the meter\r\n")
        _until("the first frame", lambda: _rows(stack, "EC42"))
        time.sleep(0.5)
        os.write(master, bytes(range(256)))
        rows = _until("both frames", lambda: len(_rows(stack, "EC42")) >= 2 and _rows(stack, "EC42"))
        assert [bytes.fromhex(r["data"]) for r in rows] == [b"first frame from the meter\r\n", bytes(range(256))]
        assert all(r["terminal"] == serial for r in rows)
        # downlink: the platform's data comes out of the port, ACK 0x05
        reply = stack.call(stack.op.data_send({"serial": serial, "data": b"to the meter\x00\xff".hex(),
                                               "ec": "EC42"}))
        assert reply["result"] == 0x05, reply
        assert _read(master, 14) == b"to the meter\x00\xff"
        big = bytes(range(256)) * 4
        reply = stack.call(stack.op.data_send({"serial": serial, "data": big.hex()}))
        assert reply["result"] == 0x05 and _read(master, len(big)) == big
        # the line settings are the terminal's to apply; what the pty cannot do is refused
        reply = stack.call(stack.op.set({"serial": serial, "tlvs": [[0x0101, "000a"]], "report_wait": 0}))
        assert reply["result"] == 0x00, reply                  # 115200 baud
        bad = stack.call(stack.op.set({"serial": serial, "tlvs": [[0x0103, "01"]], "report_wait": 0}))
        assert bad["result"] != 0x00, bad                       # 1.5 stop bits: not through termios
        _until("115200", lambda: "dataport: 115200 8N1" in term.out)
        os.write(master, b"after the change")
        _until("the third frame", lambda: len(_rows(stack, "EC42")) >= 3)
        assert bytes.fromhex(_rows(stack, "EC42")[-1]["data"]) == b"after the change"
    finally:
        rc, err = term.stop()
        os.close(master)
        os.close(slave)
    assert rc == 0 and "Traceback" not in err, err[-3000:]


def test_data_port_options_are_checked(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    udp = ["--udp", "127.0.0.1:7301"]
    assert "--data-port" in assert_usage_error(run(TERM, udp + ["--data-port", str(plain)]), "wmmp-term")
    assert "--data-port" in assert_usage_error(run(TERM, udp + ["--data-port", str(tmp_path / "no")]),
                                               "wmmp-term")
    assert "--data-port" in assert_usage_error(run(TERM, udp + ["--ec-code", "1234"]), "wmmp-term")
    master, slave = os.openpty()
    try:
        path = os.ttyname(slave)
        for bad in ("", "a b", "x" * 33):
            assert "EC code" in assert_usage_error(run(TERM, udp + ["--data-port", path, "--ec-code", bad]),
                                                   "wmmp-term")
    finally:
        os.close(master)
        os.close(slave)
    p = run(TERM, ["--help"])
    text = " ".join(p.stdout.decode().split())
    assert "--data-port" in text and "--ec-code" in text and "0x0028" in text
