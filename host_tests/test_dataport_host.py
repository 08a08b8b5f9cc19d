"""The host streams of the serial bridge's data port (wmmp_tools.dataport): a
tty or a new pseudo-terminal as the stream wmmp.board.dataport.DataPort uses
(async read, write, drain), with 0x0101-0x0104 applied through termios and
ValueError for what termios cannot do (docs/PROTOCOL.md 8, 11).  A pty pair,
loopback only; CPython only."""

import asyncio
import os
import termios
import tty

import pytest

from wmmp_tools import dataport as DP


def _pair():
    master, slave = os.openpty()
    tty.setraw(master)
    path = os.ttyname(slave)
    return master, slave, path


def _read_all(fd, n, timeout=10.0):
    """n bytes from a blocking-free fd within `timeout` s (loopback: generous)."""
    import select
    import time
    out = b""
    end = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            out += os.read(fd, n - len(out))
    return out


def test_capabilities_are_what_termios_can_do():
    caps = DP.capabilities()
    assert caps["bits"] == (5, 6, 7, 8) and caps["stop"] == (1, 2)
    assert set("NOE") <= set(caps["parity"])
    assert ("M" in caps["parity"]) == bool(DP.CMSPAR)
    for b in (300, 9600, 115200):
        assert b in caps["bauds"]
    for index, baud in caps["extra"].items():
        assert 11 <= index <= 254 and baud in caps["bauds"]


def test_tty_stream_reads_writes_and_configures():
    master, slave, path = _pair()

    async def main():
        s = DP.TtyStream(path).open()
        try:
            os.write(master, b"\x00hello\xff")
            got = b""
            while len(got) < 7:
                got += await asyncio.wait_for(s.read(64), 10)
            assert got == b"\x00hello\xff"          # raw: every byte as it is
            s.write(b"\r\nworld\x00" * 100)
            await asyncio.wait_for(s.drain(), 10)
            assert _read_all(master, 800) == b"\r\nworld\x00" * 100
            before = termios.tcgetattr(slave)
            caps = s.capabilities()                 # what this pty keeps, tried one by one
            assert termios.tcgetattr(slave) == before       # and the settings put back
            every = DP.capabilities()
            assert set(caps["bauds"]) <= set(every["bauds"]) and 9600 in caps["bauds"]
            assert 8 in caps["bits"] and "N" in caps["parity"] and 1 in caps["stop"]
            for baud in caps["bauds"]:
                s.configure(baud, 8, "N", 1)
                a = termios.tcgetattr(slave)
                assert a[4] == a[5] == DP.speed_of(baud)
            for bits in every["bits"]:
                if bits not in caps["bits"]:
                    with pytest.raises(ValueError):
                        s.configure(9600, bits, "N", 1)
                    continue
                s.configure(9600, bits, "N", 1)
                assert termios.tcgetattr(slave)[2] & termios.CSIZE == {
                    5: termios.CS5, 6: termios.CS6, 7: termios.CS7, 8: termios.CS8}[bits]
            for parity in every["parity"]:
                if parity not in caps["parity"]:
                    with pytest.raises(ValueError):
                        s.configure(9600, 8, parity, 1)
                    continue
                s.configure(9600, 8, parity, 1)
                a = termios.tcgetattr(slave)
                assert bool(a[2] & termios.PARENB) == (parity != "N")
                assert bool(a[2] & termios.PARODD) == (parity in "OM")
                assert bool(a[2] & DP.CMSPAR) == (parity in "MS")
            for stop in (1, 2):
                if stop in caps["stop"]:
                    s.configure(57600, 8, "N", stop)
                    assert bool(termios.tcgetattr(slave)[2] & termios.CSTOPB) == (stop == 2)
            s.configure(19200, 8, "N", caps["stop"][-1])
            assert s.settings == (19200, 8, "N", caps["stop"][-1])
            before = termios.tcgetattr(slave)
            for bad in ((12345, 8, "N", 1), (9600, 9, "N", 1), (9600, 4, "N", 1), (9600, 8, "X", 1),
                        (9600, 8, "N", 1.5), (9600, 8, "N", 3), (9600, 8, "N", 0)):
                with pytest.raises(ValueError):
                    s.configure(*bad)
                assert termios.tcgetattr(slave) == before       # nothing of it applied
            assert s.settings == (19200, 8, "N", caps["stop"][-1])
            # data still flows after reconfiguration
            os.write(master, b"after")
            got = b""
            while len(got) < 5:
                got += await asyncio.wait_for(s.read(64), 10)
            assert got == b"after"
        finally:
            s.close()
        with pytest.raises(ConnectionError):
            await s.read(1)
    try:
        asyncio.run(main())
    finally:
        os.close(master)
        os.close(slave)


def test_bytes_waiting_before_open_are_kept():
    """Opening the port does not flush what is already in its input queue."""
    master, slave, path = _pair()

    async def main():
        os.write(master, b"early")
        s = DP.TtyStream(path).open()
        try:
            got = b""
            while len(got) < 5:
                got += await asyncio.wait_for(s.read(64), 10)
            assert got == b"early"
        finally:
            s.close()
    try:
        asyncio.run(main())
    finally:
        os.close(master)
        os.close(slave)


def test_tty_stream_refuses_what_is_not_a_tty(tmp_path):
    f = tmp_path / "plain"
    f.write_text("x")

    async def main():
        with pytest.raises(OSError):
            DP.TtyStream(str(f)).open()
        with pytest.raises(OSError):
            DP.TtyStream(str(tmp_path / "missing")).open()
    asyncio.run(main())


def test_pty_stream_with_a_link_both_ways(tmp_path):
    link = tmp_path / "ttyDATA"

    async def main():
        p = DP.PtyStream(str(link)).open()
        try:
            assert os.readlink(link) == p.path
            t = DP.TtyStream(str(link)).open()     # the other program's side
            try:
                p.write(b"to the terminal" * 50)
                await asyncio.wait_for(p.drain(), 10)
                got = b""
                while len(got) < 15 * 50:
                    got += await asyncio.wait_for(t.read(4096), 10)
                assert got == b"to the terminal" * 50
                t.write(bytes(range(256)))
                await asyncio.wait_for(t.drain(), 10)
                got = b""
                while len(got) < 256:
                    got += await asyncio.wait_for(p.read(4096), 10)
                assert got == bytes(range(256))
                p.configure(115200, 8, "N", 1)        # the line's settings, seen from both sides
                a = termios.tcgetattr(t.fd)
                assert a[4] == termios.B115200
                assert p.capabilities() == t.capabilities()
                with pytest.raises(ValueError):
                    p.configure(9600, 8, "N", 1.5)
            finally:
                t.close()
            # the other side closed and reopened: the pty stays usable
            t = DP.TtyStream(str(link)).open()
            t.write(b"again")
            await t.drain()
            got = b""
            while len(got) < 5:
                got += await asyncio.wait_for(p.read(64), 10)
            assert got == b"again"
            t.close()
        finally:
            p.close()
        assert not os.path.lexists(link)              # our link, removed at close
    asyncio.run(main())


def test_a_read_waiting_ends_at_close():
    master, slave, path = _pair()

    async def main():
        s = DP.TtyStream(path).open()
        r = asyncio.ensure_future(s.read(10))
        await asyncio.sleep(0.05)
        s.close()
        with pytest.raises((asyncio.CancelledError, ConnectionError)):
            await asyncio.wait_for(r, 10)
    try:
        asyncio.run(main())
    finally:
        os.close(master)
        os.close(slave)


def test_char_bits():
    assert DP.char_bits(8, "N", 1) == 10
    assert DP.char_bits(7, "E", 2) == 11
