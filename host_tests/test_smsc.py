"""Tests of the emulated SMS centre (tools/wmmp_tools/smsc.py, interface docs/SMSC.md):
store-and-forward, the 64-SMS queue, the 140-byte limit (PROTOCOL.md 9), bad input,
re-attach, fault injection (loss, delay, pause/resume), concurrent clients and the
`wmmp-smsc` command.

CPython only: real loopback sockets on port 0, asyncio via asyncio.run.
"""

import asyncio
import json
import logging
import os
import random
import re
import signal
import socket
import subprocess
import time

import pytest

from wmmp_tools.smsc import SmsCentre, SmsClient, QUEUE_MAX, LINE_MAX

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMSC_BIN = os.path.join(ROOT, ".venv", "bin", "wmmp-smsc")

A, B, C = "13800000001", "13800000002", "13800000003"


def run(coro, timeout=10.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def centre(**kw):
    return await SmsCentre("127.0.0.1", 0, **kw).start()


async def client(smsc, msisdn):
    return await SmsClient("127.0.0.1", smsc.port, msisdn).connect()


async def nothing_arrives(c, seconds=0.15):
    """True if no SMS reaches client `c` within `seconds`."""
    try:
        await asyncio.wait_for(c.recv(), seconds)
    except asyncio.TimeoutError:
        return True
    return False


async def until(cond, what, timeout=5.0):
    """Wait until cond() holds; fail after `timeout` s."""
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "no %s within %s s" % (what, timeout)
        await asyncio.sleep(0.01)


class Raw:
    """A bare line-of-JSON connection, to send what SmsClient never would."""

    async def open(self, port):
        self.r, self.w = await asyncio.open_connection("127.0.0.1", port)
        return self

    async def send_line(self, raw):
        self.w.write(raw if raw.endswith(b"\n") else raw + b"\n")
        await self.w.drain()

    async def request(self, obj):
        await self.send_line(json.dumps(obj).encode())
        return await self.reply()

    async def reply(self):
        line = await asyncio.wait_for(self.r.readline(), 2.0)
        assert line.endswith(b"\n")
        return json.loads(line)

    async def close(self):
        self.w.close()
        await self.w.wait_closed()


def test_store_and_forward_to_attached_recipient():
    async def main():
        smsc = await centre()
        a, b = await client(smsc, A), await client(smsc, B)
        reply = await a.submit(B, b"\x00\x1chello")
        assert reply["status"] == "delivered" and reply["ref"] is not None
        assert await b.recv() == (A, b"\x00\x1chello")
        rec = smsc.log[-1]
        assert (rec["from"], rec["to"], rec["length"], rec["outcome"]) == (A, B, 7, "delivered")
        assert rec["id"] == reply["id"] and abs(rec["time"] - time.time()) < 5
        await a.close(); await b.close(); await smsc.close()
    run(main())


def test_deliver_line_fields():
    """A `deliver` carries id, from, to, data_hex and ts (Unix seconds) (docs/SMSC.md)."""
    async def main():
        smsc = await centre()
        raw = await Raw().open(smsc.port)
        assert await raw.request({"op": "attach", "msisdn": B}) == {"op": "attached", "msisdn": B, "queued": 0}
        a = await client(smsc, A)
        before = int(time.time())
        await a.send(B, b"\xde\xad")
        d = await raw.reply()
        assert d["op"] == "deliver" and d["from"] == A and d["to"] == B and d["data_hex"] == "dead"
        assert before <= d["ts"] <= int(time.time()) and isinstance(d["id"], int)
        await raw.close(); await a.close(); await smsc.close()
    run(main())


def test_queued_until_recipient_attaches_in_order():
    async def main():
        smsc = await centre()
        a = await client(smsc, A)
        assert await a.send(B, b"one") == "queued"
        assert await a.send(B, b"two") == "queued"
        assert smsc.queued(B) == 2
        b = await client(smsc, B)
        assert b.queued_at_attach == 2
        assert await b.recv() == (A, b"one")
        assert await b.recv() == (A, b"two")
        assert smsc.queued(B) == 0
        assert [r["outcome"] for r in smsc.log] == ["delivered", "delivered"]
        assert await nothing_arrives(b)        # delivered at most once
        await a.close(); await b.close(); await smsc.close()
    run(main())


def test_queue_holds_64_and_drops_oldest_first(caplog):
    async def main():
        smsc = await centre()
        a = await client(smsc, A)
        n = QUEUE_MAX + 6
        for i in range(n):
            assert await a.send(B, bytes([i])) == "queued"
        assert smsc.queued(B) == 64
        b = await client(smsc, B)
        assert b.queued_at_attach == 64
        got = [(await b.recv())[1][0] for _ in range(64)]
        assert got == list(range(6, n))
        outcomes = [r["outcome"] for r in smsc.log]
        assert outcomes[:6] == ["dropped: queue full"] * 6
        assert outcomes[6:] == ["delivered"] * 64
        await a.close(); await b.close(); await smsc.close()
    with caplog.at_level(logging.WARNING, logger="wmmp.smsc"):
        run(main())
    assert sum("queue for %s full" % B in r.getMessage() for r in caplog.records) == 6


def test_140_byte_limit():
    """One binary SMS carries at most 140 bytes (PROTOCOL.md 9); longer is rejected."""
    async def main():
        smsc = await centre()
        a, b = await client(smsc, A), await client(smsc, B)
        assert await a.send(B, bytes(range(140))) == "delivered"
        reply = await a.submit(B, bytes(141))
        assert reply["status"] == "rejected" and reply["reason"] == "too long"
        assert await b.recv() == (A, bytes(range(140)))
        assert await nothing_arrives(b)
        assert smsc.log[-1]["outcome"] == "rejected" and smsc.log[-1]["length"] == 141
        await a.close(); await b.close(); await smsc.close()
    run(main())


def test_bad_lines_get_error_and_connection_stays_open():
    async def main():
        smsc = await centre()
        raw = await Raw().open(smsc.port)
        for bad in (b"not json", b"[1, 2]", b'{"op": "fly"}', b"\xff\xfe{}", b'{"op": "attach"}',
                    b'{"op": "attach", "msisdn": "abc"}'):
            await raw.send_line(bad)
            reply = await raw.reply()
            assert reply["op"] == "error" and reply["reason"]
        assert await raw.request({"op": "attach", "msisdn": A}) == {"op": "attached", "msisdn": A, "queued": 0}
        # malformed submits: error, echoing the ref
        reply = await raw.request({"op": "submit", "ref": 9, "from": A, "to": B, "data_hex": "abc"})
        assert reply == {"op": "error", "reason": "bad data_hex", "ref": 9}
        reply = await raw.request({"op": "submit", "ref": "x", "from": A, "to": "", "data_hex": "00"})
        assert reply["op"] == "error" and reply["ref"] == "x"
        assert await raw.request({"op": "ping"}) == {"op": "pong"}
        assert smsc.log == []
        await raw.close(); await smsc.close()
    run(main())


def test_overlong_line_is_refused_and_skipped():
    """A line over 4096 bytes gets `error`; the next line is read normally."""
    async def main():
        smsc = await centre()
        raw = await Raw().open(smsc.port)
        long_line = json.dumps({"op": "ping", "pad": "x" * (LINE_MAX + 100)}).encode()
        # sent in pieces so the server sees it grow past the limit before the "\n"
        for i in range(0, len(long_line), 1000):
            raw.w.write(long_line[i:i + 1000])
            await raw.w.drain()
            await asyncio.sleep(0.005)
        await raw.send_line(b"")
        reply = await raw.reply()
        assert reply["op"] == "error" and "4096" in reply["reason"]
        overhead = len(json.dumps({"op": "ping", "pad": ""}))
        exact = json.dumps({"op": "ping", "pad": "y" * (LINE_MAX - overhead)}).encode()
        assert len(exact) == LINE_MAX
        await raw.send_line(exact)                  # exactly at the limit: accepted
        assert await raw.reply() == {"op": "pong"}
        await raw.send_line(exact[:-1] + b' }')     # one byte over, "\n" in the same read
        assert (await raw.reply())["op"] == "error"
        assert await raw.request({"op": "ping"}) == {"op": "pong"}
        await raw.close(); await smsc.close()
    run(main())


def test_submit_only_from_attached_msisdn():
    async def main():
        smsc = await centre()
        raw = await Raw().open(smsc.port)
        reply = await raw.request({"op": "submit", "ref": 1, "from": A, "to": B, "data_hex": "00"})
        assert reply["status"] == "rejected" and "not attached" in reply["reason"]
        await raw.request({"op": "attach", "msisdn": A})
        reply = await raw.request({"op": "submit", "ref": 2, "from": C, "to": B, "data_hex": "00"})
        assert reply["status"] == "rejected"
        reply = await raw.request({"op": "submit", "ref": 3, "from": A, "to": B, "data_hex": "00"})
        assert reply == {"op": "submitted", "ref": 3, "id": reply["id"], "status": "queued"}
        await raw.close(); await smsc.close()
    run(main())


def test_disconnect_detaches_and_reattach_gets_queue():
    async def main():
        smsc = await centre()
        a, b = await client(smsc, A), await client(smsc, B)
        await b.close()
        for _ in range(50):                     # the SMSC notices the disconnect
            if B not in smsc.attached():
                break
            await asyncio.sleep(0.01)
        assert smsc.attached() == [A]
        assert await a.send(B, b"while away") == "queued"
        b = await client(smsc, B)
        assert await b.recv() == (A, b"while away")
        await a.close(); await b.close(); await smsc.close()
    run(main())


def test_new_attach_replaces_old_connection():
    async def main():
        smsc = await centre()
        a = await client(smsc, A)
        old, new = await client(smsc, B), await client(smsc, B)
        assert await a.send(B, b"to new") == "delivered"
        assert await new.recv() == (A, b"to new")
        assert await nothing_arrives(old)
        reply = await old.submit(A, b"x")      # no longer attached as B
        assert reply["status"] == "rejected"
        await old.close()
        await asyncio.sleep(0.05)
        assert smsc.attached() == [A, B]        # closing the old one does not detach the new
        assert await a.send(B, b"again") == "delivered"
        assert await new.recv() == (A, b"again")
        await a.close(); await new.close(); await smsc.close()
    run(main())


def test_loss_one_drops_everything():
    async def main():
        smsc = await centre(loss=1.0)
        a, b = await client(smsc, A), await client(smsc, B)
        for i in range(5):
            assert await a.send(B, bytes([i])) == "delivered"   # the sender cannot tell
        assert await nothing_arrives(b)
        assert [r["outcome"] for r in smsc.log] == ["lost"] * 5
        smsc.set_faults(loss=0.0)
        await a.send(B, b"ok")
        assert await b.recv() == (A, b"ok")
        await a.close(); await b.close(); await smsc.close()
    run(main())


def test_lose_next_loses_exactly_the_matching_sms():
    """lose_next(count, sender, to, match) (docs/SMSC.md "lose next"): a certain
    loss of the next matching SMS only, for tests that need one lost message."""
    async def main():
        smsc = await centre()
        a, b, c = await client(smsc, A), await client(smsc, B), await client(smsc, C)
        smsc.lose_next(1, to=B, match=lambda data: data.startswith(b"key"))
        smsc.lose_next(2, sender=C)
        assert await a.send(B, b"first") == "delivered"       # does not match: delivered
        assert await b.recv() == (A, b"first")
        assert await a.send(B, b"key 1") == "delivered"       # the sender cannot tell
        assert await a.send(B, b"key 2") == "delivered"       # the rule is used up
        assert await b.recv() == (A, b"key 2")
        for i in range(3):
            await c.send(A, bytes([i]))
        assert await a.recv() == (C, b"\x02")
        assert [r["outcome"] for r in smsc.log] == ["delivered", "lost", "delivered", "lost", "lost",
                                                    "delivered"]
        with pytest.raises(ValueError):
            smsc.lose_next(0)
        await a.close(); await b.close(); await c.close(); await smsc.close()
    run(main())


def test_partial_loss_follows_the_rng():
    """Loss draws come from the given rng: a twin Random predicts which SMS are lost."""
    async def main():
        smsc = await centre(loss=0.5, rng=random.Random(1234))
        twin = random.Random(1234)
        expect_lost = [twin.random() < 0.5 for _ in range(30)]
        assert 0 < sum(expect_lost) < 30
        a, b = await client(smsc, A), await client(smsc, B)
        for i in range(30):
            await a.send(B, bytes([i]))
        kept = [i for i in range(30) if not expect_lost[i]]
        got = [(await b.recv())[1][0] for _ in kept]
        assert got == kept
        assert await nothing_arrives(b, 0.05)
        assert [r["outcome"] == "lost" for r in smsc.log] == expect_lost
        await a.close(); await b.close(); await smsc.close()
    run(main())


def test_delay_holds_each_sms_and_keeps_order():
    async def main():
        smsc = await centre(delay_ms=150)
        a, b = await client(smsc, A), await client(smsc, B)
        t0 = time.monotonic()
        for i in range(3):
            assert await a.send(B, bytes([i])) == "delivered"
        assert smsc.log[0]["outcome"] == "in transit"
        got = [(await b.recv())[1][0] for _ in range(3)]
        assert got == [0, 1, 2]
        assert time.monotonic() - t0 >= 0.14
        smsc.set_faults(delay_ms=0)
        await a.send(B, b"fast")
        assert smsc.log[-1]["outcome"] == "delivered"      # routed at once, not held in transit
        assert await b.recv() == (A, b"fast")
        await a.close(); await b.close(); await smsc.close()
    run(main())


def test_lowering_the_delay_does_not_overtake_sms_in_transit():
    async def main():
        smsc = await centre(delay_ms=200)
        a, b = await client(smsc, A), await client(smsc, B)
        await a.send(B, b"slow")
        smsc.set_faults(delay_ms=0)
        await a.send(B, b"fast")
        assert await b.recv() == (A, b"slow")
        assert await b.recv() == (A, b"fast")
        await a.close(); await b.close(); await smsc.close()
    run(main())


def test_delayed_sms_is_queued_if_recipient_leaves():
    async def main():
        smsc = await centre(delay_ms=1000)
        a, b = await client(smsc, A), await client(smsc, B)
        await a.send(B, b"late")
        await b.close()
        await until(lambda: B not in smsc.attached(), "B detached")
        assert smsc.log[0]["outcome"] == "in transit"      # B left while the SMS was held
        await until(lambda: smsc.queued(B) == 1, "the SMS queued for B")
        assert smsc.log[0]["outcome"] == "queued"
        b = await client(smsc, B)
        assert await b.recv() == (A, b"late")
        await a.close(); await b.close(); await smsc.close()
    run(main())


def test_pause_and_resume():
    async def main():
        smsc = await centre()
        a, b = await client(smsc, A), await client(smsc, B)
        smsc.pause(B)
        assert await a.send(B, b"held 1") == "queued"
        assert await a.send(B, b"held 2") == "queued"
        assert await nothing_arrives(b)
        c = await client(smsc, C)               # others are not held
        assert await a.send(C, b"free") == "delivered"
        assert await c.recv() == (A, b"free")
        smsc.resume(B)
        assert await b.recv() == (A, b"held 1")
        assert await b.recv() == (A, b"held 2")
        assert await a.send(B, b"after") == "delivered"
        assert await b.recv() == (A, b"after")
        for x in (a, b, c):
            await x.close()
        await smsc.close()
    run(main())


def test_concurrent_clients():
    async def main():
        smsc = await centre()
        numbers = ["1390000%04d" % i for i in range(12)]
        clients = await asyncio.gather(*(client(smsc, n) for n in numbers))

        async def talk(i):
            me, peer = clients[i], numbers[(i + 1) % len(numbers)]
            for k in range(5):
                await me.send(peer, b"%d:%d" % (i, k))

        async def listen(i):
            sender = numbers[(i - 1) % len(numbers)]
            src = (i - 1) % len(numbers)
            return [await clients[i].recv() for _ in range(5)], sender, src

        results = await asyncio.gather(*(listen(i) for i in range(len(numbers))),
                                       *(talk(i) for i in range(len(numbers))))
        for got, sender, src in results[:len(numbers)]:
            assert got == [(sender, b"%d:%d" % (src, k)) for k in range(5)]
        assert len(smsc.log) == 60 and all(r["outcome"] == "delivered" for r in smsc.log)
        for c in clients:
            await c.close()
        await smsc.close()
    run(main())


def test_client_sees_smsc_going_away():
    async def main():
        smsc = await centre()
        a = await client(smsc, A)
        pending = asyncio.ensure_future(a.recv())
        await asyncio.sleep(0.02)
        await smsc.close()
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(pending, 2.0)
        with pytest.raises(ConnectionError):
            await a.send(B, b"x")
        await a.close()
    run(main())


def test_fault_settings_are_checked():
    smsc = SmsCentre("127.0.0.1", 0)
    with pytest.raises(ValueError):
        smsc.set_faults(loss=1.5)
    with pytest.raises(ValueError):
        smsc.set_faults(delay_ms=-1)
    with pytest.raises(ValueError):
        SmsClient("127.0.0.1", 1, "not a number")


def test_command_line_service():
    proc = subprocess.Popen([SMSC_BIN, "--listen", "127.0.0.1:0", "--verbose"],
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        while "wmmp-smsc listening on" not in line:
            assert line, "wmmp-smsc exited early"
            line = proc.stderr.readline()
        port = int(line.rsplit(":", 1)[1])

        async def main():
            a = await SmsClient("127.0.0.1", port, A).connect()
            await a.ping()
            assert await a.send(B, b"\x01\x02\x03") == "queued"
            await a.close()
        run(main())
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert "SMS #1 %s -> %s 3 B queued" % (A, B) in err
    # a log line in the format of every host tool (time in UTC+8 with its offset, component, level)
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \+08:00 smsc INFO SMS #1 %s -> %s 3 B queued$"
                     % (A, B), err, re.M), err


def test_command_line_bad_options():
    for args in (["--loss", "2"], ["--listen", "nowhere"], ["--delay-ms", "-5"]):
        res = subprocess.run([SMSC_BIN] + args, capture_output=True, text=True, timeout=10)
        assert res.returncode == 2 and "wmmp-smsc" in res.stderr


def test_command_line_cannot_listen():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = subprocess.run([SMSC_BIN, "--listen", "127.0.0.1:%d" % port],
                             capture_output=True, text=True, timeout=10)
    assert res.returncode == 1 and "cannot listen" in res.stderr
