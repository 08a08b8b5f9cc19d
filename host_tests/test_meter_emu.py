"""`wmmp-emu meter`, the emulated meter / POS controller of the serial bridge
(wmmp_tools.emu.meter): its frames (sequence number, length, time, CRC-32)
are found in any byte stream and losses, duplicates, reordering and garbage
counted; on a pseudo-terminal it sends frames paced at the line rate with the
pauses asked and reports what came back; every bad option value is one line on
stderr and exit status 2, as with the other emulators.  Loopback only; CPython."""

import asyncio
import io
import json
import os
import random
import struct
import subprocess
import zlib

import pytest

from wmmp_tools import dataport as DP
from wmmp_tools.emu import cli as EMU_CLI
from wmmp_tools.emu import meter as M

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMU = os.path.join(ROOT, ".venv", "bin", "wmmp-emu")


def test_frame_layout_is_checkable_independently():
    f = M.make_frame(7, 64, 1700000000.25, seed=3)
    assert len(f) == 64 and f[:2] == b"\xa5\x4d"
    magic, seq, size, t_end = struct.unpack(">2sIHQ", f[:16])
    assert (seq, size, t_end) == (7, 64, 1700000000250000)
    assert struct.unpack(">I", f[-4:])[0] == zlib.crc32(f[:-4])
    assert f == M.make_frame(7, 64, 1700000000.25, seed=3)          # deterministic payload
    assert f[16:-4] != M.make_frame(8, 64, 1700000000.25, seed=3)[16:-4]
    for bad in (M.FRAME_MIN - 1, M.FRAME_MAX + 1):
        with pytest.raises(ValueError):
            M.make_frame(0, bad, 0)


def test_receiver_counts_loss_duplicates_order_and_garbage():
    frames = [M.make_frame(i, 20 + 13 * i, 1000.0 + i) for i in range(10)]
    order = [0, 1, 2, 4, 3, 5, 5, 7, 8, 9]         # 6 lost, 3/4 swapped, 5 twice
    stream = b"".join(b"junk" * (i == 2) + frames[i] for i in order)
    at = 20 + 33 + 4 + 30                           # inside frame 2 (after 4 bytes of junk): it is damaged
    stream = stream[:at] + b"\xa5" + stream[at:]
    rng = random.Random(1)
    r = M.Receiver()
    i = 0
    while i < len(stream):
        n = rng.randint(1, 40)
        r.feed(stream[i:i + n], 1001.0)
        i += n
    rep = r.report(expected=11)
    assert rep["missing_seqs"] == [2, 6, 10] and rep["missing"] == 3
    assert rep["duplicates"] == 1 and rep["out_of_order"] == 1 and not rep["in_order"]
    assert rep["frames"] == 9 and rep["unique"] == 8
    assert rep["garbage_bytes"] == 4 + 46 + 1       # the junk and the damaged frame, nothing else
    assert rep["latency_ms"]["max"] <= 1001000.0


def test_receiver_on_a_clean_stream_in_one_byte_pieces():
    frames = [M.make_frame(i, 30, 50.0) for i in range(5)]
    r = M.Receiver()
    for b in b"".join(frames):
        r.feed(bytes([b]), 50.5)
    rep = r.report()
    assert rep["frames"] == 5 and rep["missing"] == 0 and rep["in_order"] and rep["garbage_bytes"] == 0
    assert rep["latency_ms"]["p50"] == 500.0


def test_analyse_tells_frames_split_across_messages():
    frames = [M.make_frame(i, 40, 10.0) for i in range(4)]
    whole = [(10.1, f) for f in frames]
    rep = M.analyse(whole, expected=4)
    assert rep["frames"] == 4 and rep["split"] == 0 and rep["chunks"] == 4 and rep["missing"] == 0
    cut = [(10.1, frames[0]), (10.1, frames[1][:10]), (10.2, frames[1][10:] + frames[2]), (10.3, frames[3])]
    rep = M.analyse(cut, expected=4)
    assert rep["frames"] == 4 and rep["split"] == 1


def _args(*argv):
    return M.build_parser().parse_args(list(argv))


def test_meter_on_a_pty_sends_paced_frames_and_reports_what_came_back(tmp_path):
    link = str(tmp_path / "ttyMETER")
    args = _args("--pty", link, "--baud", "9600", "--frame-size", "64", "--gap-ms", "150", "--count", "6",
                 "--start-after", "0.3", "--linger", "1.5", "--expect", "6", "--seed", "5", "--report", "json")
    M.check(args)
    out = io.StringIO()

    async def terminal_side():
        while not os.path.lexists(link):
            await asyncio.sleep(0.01)
        s = DP.TtyStream(link).open()
        got = bytearray()
        try:
            r = M.Receiver()
            while len(r.seqs) < 6:
                data = await asyncio.wait_for(s.read(4096), 30)
                got += data
                r.feed(data)
            assert r.seqs == list(range(6)) and len(got) == 6 * 64
            # what the "terminal" writes back: all but frame 2, and 4 twice
            frames = [bytes(got[i * 64:(i + 1) * 64]) for i in range(6)]
            s.write(b"".join(frames[i] for i in (0, 1, 3, 4, 4, 5)))
            await s.drain()
            await asyncio.sleep(0.2)
        finally:
            s.close()

    async def main():
        side = asyncio.ensure_future(terminal_side())
        rep = await asyncio.wait_for(M.run(args, out), 60)
        await side
        return rep
    rep = asyncio.run(main())
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("/dev/") and json.loads(lines[1]) == rep
    assert rep["sent"]["frames"] == 6 and rep["sent"]["bytes"] == 384
    # paced: 6 frames of 64 bytes of 10 bits at 9600 baud and 5 pauses take at least this long
    assert rep["sent"]["seconds"] >= 0.9 * (6 * 64 * 10 / 9600.0 + 5 * 0.150)
    r = rep["received"]
    assert r["frames"] == 6 and r["unique"] == 5 and r["missing_seqs"] == [2] and r["duplicates"] == 1
    assert r["in_order"] and r["garbage_bytes"] == 0 and r["latency_ms"]["p50"] >= 0
    assert not os.path.lexists(link)


def test_meter_text_report_and_receive_only(tmp_path):
    link = str(tmp_path / "ttyM")
    args = _args("--pty", link, "--count", "0", "--linger", "1.0")
    M.check(args)
    out = io.StringIO()

    async def side():
        while not os.path.lexists(link):
            await asyncio.sleep(0.01)
        s = DP.TtyStream(link).open()
        s.write(M.make_frame(0, 20, 0) + M.make_frame(1, 20, 0))
        await s.drain()
        s.close()

    async def main():
        t = asyncio.ensure_future(side())
        await asyncio.wait_for(M.run(args, out), 60)
        await t
    asyncio.run(main())
    text = out.getvalue()
    assert "sent     0 frames" in text and "received 2 frames" in text and "order    kept" in text
    assert "loss     0 missing" in text


def _in_process(argv, monkeypatch, capsys):
    ran = []

    async def stub(args, out=None):
        ran.append(args)
    monkeypatch.setattr(M, "run", stub)
    rc = EMU_CLI.main(["meter"] + argv)
    cap = capsys.readouterr()
    return ("ran" if ran else rc), cap.out, cap.err


def test_every_bad_option_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    plain = tmp_path / "plain"
    plain.write_text("x")
    pty = ["--pty", str(tmp_path / "tty")]
    cases = [[], ["--pty", str(tmp_path / "no" / "such")], ["--pty", str(plain)], ["--pty", ""],
             ["--port", str(plain)], ["--port", str(tmp_path / "missing")], ["--port", "/dev/null"],
             pty + ["--port", "/dev/null"], ["--bogus"], pty + ["extra"]]
    for opt, values in (("--baud", ["", "7", "abc", "-1", "1e9", "9600.5"]),
                        ("--format", ["", "9N1", "8X1", "8N3", "8N", "eight", "8N1.5x"]),
                        ("--frame-size", ["", "5", "70000", "abc", "100-50", "20-30-40", "-1"]),
                        ("--gap-ms", ["", "-1", "60001", "x", "1.5"]),
                        ("--rate", ["", "0", "-1", "nan", "inf", "x", "20000"]),
                        ("--count", ["", "-1", "x", "1.5"]),
                        ("--duration", ["", "-1", "nan", "x"]),
                        ("--start-after", ["", "-1", "nan", "99999"]),
                        ("--linger", ["", "-1", "inf"]),
                        ("--expect", ["-1", "x"]),
                        ("--seed", ["-1", "x", "9" * 40]),
                        ("--report", ["", "xml"])):
        for v in values:
            cases.append(pty + [opt, v])
    cases.append(pty + ["--rate", "5", "--count", "0"])
    bad = []
    for argv in cases:
        rc, out, err = _in_process(argv, monkeypatch, capsys)
        lines = err.splitlines()
        if rc != 2 or out or len(lines) != 1 or not lines[0].startswith("wmmp-emu: error: ") \
                or "Traceback" in err or len(err) > 400:
            bad.append("%r: %r %r %r" % (argv, rc, out, err))
    assert bad == [], "\n".join(bad)
    assert sorted(os.listdir(tmp_path)) == ["plain"]          # nothing created
    # good values are taken
    assert _in_process(pty + ["--baud", "115200", "--format", "8n2", "--frame-size", "20-1024",
                              "--rate", "2.5", "--duration", "3"], monkeypatch, capsys)[0] == "ran"


def test_as_a_program_bad_value_and_help():
    p = subprocess.run([EMU, "meter", "--gap-ms", "soon", "--pty", "/tmp/x"], capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    err = p.stderr.decode()
    assert p.returncode == 2 and p.stdout == b"" and len(err.splitlines()) == 1
    assert err.startswith("wmmp-emu: error: ") and "Traceback" not in err
    p = subprocess.run([EMU, "meter", "--help"], capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    text = p.stdout.decode()
    assert p.returncode == 0 and "--frame-size" in text and "--gap-ms" in text and "--report" in text
    p = subprocess.run([EMU, "--help"], capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 0 and b"meter" in p.stdout
