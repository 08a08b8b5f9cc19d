"""The platform simulator's side of software upgrades (docs/PROTOCOL.md 9 and 12;
4.3.8, appendix G k, l, appendix E c, e): publish (size, CRC16 of the profile,
CRC32), push (one TRANS_ID per DOWNLOAD_INFO, the 0x1001 URL of section 9, 0x100B
when forced, the ACK result recorded), the FILE_REQ server (each request answered
by its own seq, so a window works; status 0x00-0x03; a block corrupted once), the
HTTP file server behind `push --http`, the outcome (FILE_REQ STATUS 0x02 / 0x03,
0x3012, the new version at LOGIN, a rollback) and `upgrade status` with its
progress bar.  Over loopback against the scripted terminal of test_platform;
CPython only; no timing assertions."""

import asyncio
import binascii
import io
import re
import struct
import zlib

import pytest

from wmmp.wire import codec
from wmmp.wire import commands as C

from wmmp_tools.platform import cli as PCLI
from wmmp_tools.platform import upgrade
from wmmp_tools.platform.values import InputError

from test_platform import IMEI2, IMSI2, MSISDN2, run

DATA = bytes((i * 31 + 7) & 0xFF for i in range(5000))
URL_RE = re.compile(r"^://127\.0\.0\.1:(\d+)/upgrade/([0-9A-F]{8})\?TRANS_ID=\2&FILE_SIZE=(\d+)&"
                    r"(CRC16=[0-9A-F]{4}|CRC32=[0-9A-F]{8})&VER_DSC=(.+)$")


def crc16(data):
    return binascii.crc_hqx(data, 0xFFFF)        # CRC-16/CCITT-FALSE (docs/PROTOCOL.md 7)


def _cli(env, *argv):
    out, err = io.StringIO(), io.StringIO()
    code = PCLI.main(list(argv) + ["--control", "127.0.0.1:%d" % env.ctl.port], out, err)
    return code, out.getvalue(), err.getvalue()


def cli(env, *argv):
    return asyncio.to_thread(_cli, env, *argv)


async def _online(env):
    await env.provision()
    t = env.terminal()
    await t.enroll()
    return t


async def _publish(env, data=DATA, version="V2.0"):
    return (await env.op.upgrade_publish({"data": data.hex(), "version": version}))["file"]


async def _push(env, t, result=0x01, **args):
    """push through the operator; the terminal answers DOWNLOAD_INFO with `result`."""
    task = asyncio.ensure_future(env.op.upgrade_push(dict(serial=t.serial_text, **args)))
    req, _ = await t.answer(result=result, timeout=10)
    assert req.command == C.DOWNLOAD_INFO
    a = await task
    return req, a


async def _file_req(t, tid, rp, bs, status=0x01):
    return await t.send(codec.Message(C.FILE_REQ, {"trans_id": tid, "status": status, "read_point": rp,
                                                   "block_size": bs}))


async def _ack(t):
    ans = t.decode(await t.recv())
    assert ans.command == C.FILE_REQ_ACK
    return ans


async def _ask(t, tid, rp, bs, status=0x01):
    await _file_req(t, tid, rp, bs, status)
    return await _ack(t)


def test_publish_computes_size_and_checks():
    async def scenario(env):
        f = await _publish(env)
        assert f["size"] == 5000 and f["crc16"] == crc16(DATA) and f["crc32"] == zlib.crc32(DATA)
        assert f["version"] == "V2.0"
        for bad in ("", "V12345678", "V2&x", "V 2", None):
            with pytest.raises(InputError, match="version"):
                await env.op.upgrade_publish({"data": "00", "version": bad})
        with pytest.raises(InputError, match="empty"):
            await env.op.upgrade_publish({"data": "", "version": "V1"})
    run(scenario)


def test_push_sends_the_url_of_section_9_and_one_trans_id_per_push():
    async def scenario(env):
        t = await _online(env)
        f = await _publish(env)
        req, a = await _push(env, t)
        assert [tag for tag, _ in req.tlvs] == [0x1001]            # the URL first; not forced
        m = URL_RE.match(req.tlv(0x1001).decode())
        assert m, req.tlv(0x1001)
        assert int(m.group(1)) == env.pf.udp_port                 # FILE_REQ through this platform
        assert int(m.group(3)) == 5000 and m.group(4) == "CRC32=%08X" % f["crc32"] and m.group(5) == "V2.0"
        tid1 = int(m.group(2), 16)
        assert a["result"] == 0x01 and a["upgrade"]["trans_id"] == tid1 and a["upgrade"]["state"] == "downloading"
        # forced, with CRC16: 0x100B = 1 after the URL; a new TRANS_ID; the first is superseded
        req, a = await _push(env, t, force=True, crc="crc16")
        assert req.tlvs[0][0] == 0x1001 and req.tlv(0x100B) == b"\x01"
        m = URL_RE.match(req.tlv(0x1001).decode())
        assert m.group(4) == "CRC16=%04X" % crc16(DATA)
        tid2 = int(m.group(2), 16)
        assert tid2 != tid1
        assert env.pf.db.upgrade(tid1)["state"] == "superseded"
        # a superseded transaction's FILE_REQ: unknown TRANS_ID (G l 0x01)
        assert (await _ask(t, tid1, 0, 512, 0x00)).fields["status"] == 0x01
    run(scenario)


def test_download_info_ack_results_are_recorded_with_exit_codes():
    async def scenario(env):
        t = await _online(env)
        await _publish(env)
        for result, state, code in ((0x00, "up-to-date", 0), (0x01, "downloading", 0), (0x02, "deferred", 0),
                                    (0x03, "refused", 1), (0x04, "refused", 1), (0x05, "refused", 1)):
            task = asyncio.ensure_future(cli(env, "upgrade", "push", t.serial_text))
            await t.answer(result=result, timeout=10)
            rc, out, err = await task
            assert rc == code and "result 0x%02X" % result in out and state in out, (result, out, err)
        # no answer: exit 1, one line; the transaction says so
        rc, out, err = await cli(env, "upgrade", "push", t.serial_text, "--timeout", "1")
        assert rc == 1 and "no answer" in err and len(err.splitlines()) == 1, err
        assert env.pf.db.upgrades(t.serial_text)[0]["state"] == "no-answer"
    run(scenario)


def test_file_req_window_each_answered_by_its_own_seq():
    async def scenario(env):
        t = await _online(env)
        await _publish(env)
        _, a = await _push(env, t)
        tid = a["upgrade"]["trans_id"]
        seqs = {}
        for i, rp in enumerate((0, 1024, 2048, 3072, 4096)):     # five outstanding at once
            await _file_req(t, tid, rp, 1024, 0x00 if i == 0 else 0x01)
            seqs[t.seq] = rp
        got = {}
        for _ in range(5):
            ans = await _ack(t)
            got[ans.seq] = ans
        assert set(got) == set(seqs)
        for seq, ans in got.items():
            rp = seqs[seq]
            f = ans.fields
            assert f["trans_id"] == tid and f["status"] == 0x00 and f["read_point"] == rp
            assert f["block"] == DATA[rp:rp + 1024] and f["block_size"] == len(f["block"])
            assert f["crc16"] == crc16(f["block"])
        assert got[max(got)].fields["block_size"] == 5000 - 4096   # the last block is short
    run(scenario)


def test_file_req_status_codes():
    async def scenario(env):
        await env.provision(IMSI2, MSISDN2)
        other = env.terminal(IMEI2, IMSI2, MSISDN2)
        await other.enroll()
        t = await _online(env)
        await _publish(env)
        _, a = await _push(env, t)
        tid = a["upgrade"]["trans_id"]
        assert (await _ask(t, tid ^ 0x5A5A0000, 0, 512)).fields["status"] == 0x01     # unknown
        assert (await _ask(other, tid, 0, 512)).fields["status"] == 0x01              # another's
        ans = await _ask(t, tid, 5000, 512)                                           # beyond the file
        assert ans.fields["status"] == 0x02 and ans.fields["block_size"] == 0
        assert (await _ask(t, tid, 0, 0)).fields["status"] == 0x03                    # size 0
        assert (await _ask(t, tid, 0, 65535)).fields["status"] == 0x03                # cannot fit
        assert (await _ask(t, tid, 4999, 512)).fields["block"] == DATA[4999:]         # the last byte
    run(scenario)


def test_a_block_corrupted_once_is_right_when_asked_again():
    async def scenario(env):
        t = await _online(env)
        await _publish(env)
        _, a = await _push(env, t, corrupt_at=[1024])
        tid = a["upgrade"]["trans_id"]
        assert (await _ask(t, tid, 0, 1024, 0x00)).fields["crc16"] == crc16(DATA[:1024])
        bad = await _ask(t, tid, 1024, 1024)
        assert bad.fields["block"] == DATA[1024:2048] and bad.fields["crc16"] != crc16(DATA[1024:2048])
        again = await _ask(t, tid, 1024, 1024)
        assert again.fields["crc16"] == crc16(DATA[1024:2048])
        st = (await env.op.upgrade_status({"serial": t.serial_text}))["upgrades"][0]
        assert st["served"] == 3072 and st["position"] == 2048
    run(scenario)


def test_file_window_leaves_requests_beyond_a_gap_unanswered():
    async def scenario(env):
        t = await _online(env)
        await _publish(env)
        _, a = await _push(env, t, window=2)
        tid = a["upgrade"]["trans_id"]
        assert (await _ask(t, tid, 0, 1024, 0x00)).fields["read_point"] == 0
        # the request for 1024 was lost: 2048 is within 2 blocks, 3072 is not
        assert (await _ask(t, tid, 2048, 1024)).fields["block"] == DATA[2048:3072]
        await _file_req(t, tid, 3072, 1024)
        ahead = t.seq
        await t.silent()
        # the gap filled, the same request again (same seq) is answered
        assert (await _ask(t, tid, 1024, 1024)).fields["block"] == DATA[1024:2048]
        await t.send(codec.Message(C.FILE_REQ, {"trans_id": tid, "status": 0x01, "read_point": 3072,
                                                "block_size": 1024}), seq=ahead)
        ans = await _ack(t)
        assert ans.seq == ahead and ans.fields["block"] == DATA[3072:4096]
    run(scenario)


def test_outcome_downloaded_applied_failed_rolled_back():
    async def scenario(env):
        t = await _online(env)
        await _publish(env)
        _, a = await _push(env, t)
        tid = a["upgrade"]["trans_id"]
        ans = await _ask(t, tid, 0xFFFFFFFF, 0, 0x02)          # whole file received and checked
        assert ans.fields["status"] == 0x00
        assert env.pf.db.upgrade(tid)["state"] == "downloaded"
        ans, _ = await t.login(version="V2.0")                 # the new version at the next LOGIN
        assert ans.fields["result"] in (0x00, 0x01)
        assert env.pf.db.upgrade(tid)["state"] == "applied"
        # the new software failed its health check: rolled back, reported with 0x3012 reason 0x05
        ack, _ = await t.call(codec.Message(C.CONFIG_TRAP, tlvs=[(0x3012, struct.pack(">IB", tid, 0x05))]))
        assert ack.fields["result"] == 0x00
        row = env.pf.db.upgrade(tid)
        assert row["state"] == "rolled-back" and row["reason"] == 0x05
        # a download that failed its whole-file CRC: 0x3012 reason 0x04
        _, a = await _push(env, t)
        tid = a["upgrade"]["trans_id"]
        await t.call(codec.Message(C.CONFIG_TRAP, tlvs=[(0x3012, struct.pack(">IB", tid, 0x04))]))
        row = env.pf.db.upgrade(tid)
        assert row["state"] == "failed" and row["reason"] == 0x04
        # FILE_REQ STATUS 0x03: the terminal gave up
        _, a = await _push(env, t)
        tid = a["upgrade"]["trans_id"]
        await _ask(t, tid, 0xFFFFFFFF, 0, 0x03)
        assert env.pf.db.upgrade(tid)["state"] == "failed"
    run(scenario)


def test_status_shows_a_progress_bar_per_terminal():
    async def scenario(env):
        t = await _online(env)
        await _publish(env)
        _, a = await _push(env, t)
        tid = a["upgrade"]["trans_id"]
        for rp in (0, 1024):
            await _ask(t, tid, rp, 1024)
        rc, out, err = await cli(env, "upgrade", "status")
        assert rc == 0, err
        line = [x for x in out.splitlines() if t.serial_text in x][0]
        assert "%08X" % tid in line and "downloading" in line and " 41.0%" in line
        assert re.search(r"\[#{10}-{14}\]", line), line
        rc, out, err = await cli(env, "upgrade", "status", t.serial_text, "--json")
        assert rc == 0 and '"position": 2048' in out
        rc, out, err = await cli(env, "upgrade", "files")
        assert rc == 0 and "V2.0" in out and "5000 bytes" in out
    run(scenario)


def test_cli_publish_in_parts_and_bad_input(tmp_path):
    big = bytes((i * 13) & 0xFF for i in range(60000))          # three upload parts
    f = tmp_path / "app-v3.bin"
    f.write_bytes(big)
    (tmp_path / "empty.bin").write_bytes(b"")

    async def scenario(env):
        t = await _online(env)
        rc, out, err = await cli(env, "upgrade", "publish", str(f), "--version", "V3.0")
        assert rc == 0 and "60000 bytes" in out and "CRC32 %08X" % zlib.crc32(big) in out, err
        assert upgrade.file_data(env.pf, 1) == big
        for argv, word in ((["publish", str(f), "--version", "TOO-LONG-9"], "version"),
                           (["publish", str(f), "--version", "a&b"], "version"),
                           (["publish", str(tmp_path / "missing.bin"), "--version", "V1"], "missing.bin"),
                           (["publish", str(tmp_path / "empty.bin"), "--version", "V1"], "empty"),
                           (["push", "M2MMAKER99999999"], "unknown terminal"),
                           (["push", t.serial_text, "--version", "V9.9"], "V9.9"),
                           (["push", t.serial_text, "--file-window", "0"], "--file-window"),
                           (["push", t.serial_text, "--http", "--wmmp"], "not allowed")):
            rc, out, err = await cli(env, "upgrade", *argv)
            assert rc == 2 and len(err.splitlines()) == 1 and word in err and out == "", (argv, err)
        # --http without an HTTP file server: understood, cannot be done (exit 1)
        rc, out, err = await cli(env, "upgrade", "push", t.serial_text, "--http")
        assert rc == 1 and "HTTP file server" in err and len(err.splitlines()) == 1, err
        out, err = io.StringIO(), io.StringIO()
        assert PCLI.main(["upgrade"], out, err) == 2 and "upgrade command" in err.getvalue()
    run(scenario)


def test_push_http_names_the_http_file_server_and_counts_bytes_served():
    async def scenario(env):
        t = await _online(env)
        await _publish(env)
        srv = await upgrade.start_http(env.pf, "127.0.0.1", 0)
        try:
            req, a = await _push(env, t, scheme="http")
            url = req.tlv(0x1001).decode()
            m = re.match(r"^http://127\.0\.0\.1:(\d+)(/upgrade/[0-9A-F]{8})\?TRANS_ID=", url)
            assert m and int(m.group(1)) == srv.port, url
            r, w = await asyncio.open_connection("127.0.0.1", srv.port)
            w.write(("GET %s HTTP/1.1\r\nHost: x\r\nRange: bytes=0-2499\r\n\r\n" % url[url.index("/upgrade"):])
                    .encode())
            raw = await r.read()
            w.close()
            head, _, body = raw.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 206") and body == DATA[:2500]
            assert b"Content-Range: bytes 0-2499/5000" in head and b"ETag: \"" in head
            st = (await env.op.upgrade_status({"serial": t.serial_text}))["upgrades"][0]
            assert st["position"] == 2500 and st["percent"] == 50.0 and st["state"] == "downloading"
        finally:
            await upgrade.stop_http(env.pf)
    run(scenario)
