"""FOTA in the And-link platform simulator (spec section 4.4, Pull): the Block2
file server (RFC 7959, section 3.4's block sizes), the whole flow with the fake
device of test_andlink_platform.py -- checks, /5/0/3 observed with pmax=10,
Write /5/0/1, Execute /5/0/2 at state 2, the outcome read after the device
re-registers -- and the exception handling of 4.4.3: refusals, failed and
stalled downloads, a failed update, a wrong version, a device that does not
take the observe query.  Loopback only, ports from the OS."""

import asyncio
import os

import aiocoap
import pytest
from aiocoap.numbers.codes import Code
from aiocoap.optiontypes import BlockOption

from andlink_tools.fota import FotaError, Policy

from test_andlink_platform import (HOST, FakeDevice, config, platform_and_device, registered, run,
                                   wait_for)
from andlink_tools.platform import Platform

PACKAGE = os.urandom(3000)                      # a few blocks of every size


async def get_block(ctx, uri, num=None, szx=None):
    m = aiocoap.Message(code=Code.GET, uri=uri)
    if num is not None:
        m.opt.block2 = BlockOption.BlockwiseTuple(num, False, szx)
    return await asyncio.wait_for(ctx.request(m, handle_blockwise=False).response, 5)


def test_block2_file_server_serves_any_block_size():
    async def main():
        pf = await Platform(config()).start()
        dev = await FakeDevice().start()
        try:
            pkg = pf.packages.publish(PACKAGE, "2.0.0", "fw.bin")
            uri = pf.packages.uri(pkg)
            assert uri == "coap://%s:%d/fota/%s" % (HOST, pf.coap_address[1], pkg.id)
            # no Block2 asked and the package is over 1024 bytes: block 0 of 512 (section 3.4)
            r = await get_block(dev.ctx, uri)
            assert r.code == Code.CONTENT and len(r.payload) == 512 and r.opt.block2.more
            assert r.opt.size2 == len(PACKAGE) and r.opt.etag == pkg.etag and r.opt.content_format == 42
            for szx in range(7):                                   # 16 .. 1024 bytes
                size = 16 << szx
                got, num = b"", 0
                while True:
                    r = await get_block(dev.ctx, uri, num, szx)
                    assert r.code == Code.CONTENT and r.opt.etag == pkg.etag
                    assert r.opt.block2.size_exponent == szx and len(r.payload) <= size
                    got += r.payload
                    if not r.opt.block2.more:
                        break
                    num += 1
                    if szx < 4 and num > 3:                        # small sizes: the last block directly
                        num = (len(PACKAGE) - 1) // size
                        got = PACKAGE[:num * size]
                assert got == PACKAGE, szx
            r = await get_block(dev.ctx, uri, 7, 0 + 6 + 1)        # szx 7: BERT, not on UDP
            assert r.code == Code.BAD_REQUEST
            r = await get_block(dev.ctx, uri, 3, 6)                # past the end (RFC 7959 2.2)
            assert r.code == Code.BAD_OPTION
            r = await get_block(dev.ctx, "coap://%s:%d/fota/00000000" % (HOST, pf.coap_address[1]))
            assert r.code == Code.NOT_FOUND
            small = pf.packages.publish(b"tiny", "0.1")
            r = await get_block(dev.ctx, pf.packages.uri(small))
            assert r.payload == b"tiny" and r.opt.block2 is None and r.opt.etag == small.etag
            d = [x for x in pf.packages.downloads.values() if x.pkg is pkg][0]
            assert d.highest == len(PACKAGE) and d.sizes >= {16, 1024}
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_files_on_their_own_port():
    async def main():
        pf = await Platform(config(files=(HOST, 0), url_host="127.0.0.1")).start()
        dev = await FakeDevice().start()
        try:
            assert pf.files_address != pf.coap_address
            pkg = pf.packages.publish(PACKAGE, "2.0.0")
            assert pf.packages.uri(pkg).startswith("coap://127.0.0.1:%d/fota/" % pf.files_address[1])
            r = await get_block(dev.ctx, pf.packages.uri(pkg), 0, 6)
            assert r.code == Code.CONTENT and len(r.payload) == 1024
            r = await get_block(dev.ctx, "coap://%s:%d/rd" % (HOST, pf.files_address[1]))
            assert r.code == Code.NOT_FOUND                           # only packages there
        finally:
            await dev.close()
            await pf.close()
    run(main())


async def flow(pf, dev, d, **push):
    pkg = pf.packages.publish(PACKAGE, "2.0.0", "fw.bin")
    rec = await pf.fota.push(d, pkg, **push)
    await wait_for(lambda: rec.state not in ("uri-written", "downloading", "downloaded", "updating"), 15,
                   "the end of the FOTA flow (state %s)" % rec.state)
    return rec


def test_fota_happy_path_with_a_block2_download():
    async def main():
        pf, dev = await platform_and_device()
        try:
            d = await registered(pf, dev)
            n = len(dev.seen)
            rec = await flow(pf, dev, d)
            assert rec.state == "succeeded", rec.to_json()
            assert dev.downloaded == PACKAGE and rec.result == 1 and rec.new_version == "2.0.0"
            assert rec.progress["highest"] == len(PACKAGE) and rec.progress["block_sizes"] == [256]
            steps = [(s[0], s[1], s[2], s[3]) for s in dev.seen[n:] if s[1] != "/fota"]
            # 4.4.2 table: the checks, the subscription with pmax=10, the URI, the Execute
            assert steps[:4] == [("GET", p, (), None) for p in ("/4/0/8", "/3/0/9", "/3/0/10", "/4/0/2")]
            assert steps[4] == ("GET", "/5/0/3", ("pmax=10",), 0)
            assert steps[5][:2] == ("PUT", "/5/0/1") and dev.seen[n + 5][6] == rec.uri.encode()
            assert ("POST", "/5/0/2", (), None) in steps
            # after the re-registration: the result and the version (4.4.1: kept through the reboot)
            assert steps[-1][1] in ("/5/0/5", "/3/0/3") or ("GET", "/3/0/3", (), None) in steps
            assert d.value((3, 0, 3)) == "2.0.0"
            with pytest.raises(FotaError):                       # not registered
                d2 = pf.registry.device("869976032983999")
                await pf.fota.push(d2, pf.packages.find())
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_fota_checks_refuse_per_4_4_3():
    async def main():
        pf, dev = await platform_and_device(policy=Policy(min_battery=30, min_signal=-100, stall=2, download=10,
                                                          update=5))
        try:
            d = await registered(pf, dev)
            dev.values[(3, 0, 9)] = 12                                  # battery 12 %
            rec = await pf.fota.push(d, pf.packages.publish(PACKAGE, "2.0.0"))
            assert rec.state == "refused" and "battery 12% < 30%" in rec.reason
            dev.values[(3, 0, 9)] = 80
            dev.values[(3, 0, 10)] = 2                                  # 2 KB free, the package is 2.9 KB
            rec = await pf.fota.push(d, pf.packages.find())
            assert rec.state == "refused" and "memory free 2 KB" in rec.reason
            dev.values[(3, 0, 10)] = 100
            dev.values[(4, 0, 2)] = -110
            rec = await pf.fota.push(d, pf.packages.find())
            assert rec.state == "refused" and "signal -110 dBm" in rec.reason
            assert not dev.requests("PUT", "/5/0/1")                     # nothing pushed
            rec = await pf.fota.push(d, pf.packages.find(), force=True)  # --force: no checks
            assert rec.state == "uri-written"
            with pytest.raises(FotaError) as ei:
                await pf.fota.push(d, pf.packages.find())
            assert "running" in str(ei.value)
            await wait_for(lambda: rec.state == "succeeded", 10)
        finally:
            await dev.close()
            await pf.close()
    run(main())


@pytest.mark.parametrize("fail, result, words", [
    ("download", 4, "download failed: /5/0/5 = 4 (connection lost during download)"),
    ("integrity", 5, "download failed: /5/0/5 = 5 (integrity check failure)"),
    ("update", 8, "update failed: /5/0/5 = 8 (update failed)"),
])
def test_fota_failures_reported_by_the_device(fail, result, words):
    async def main():
        pf, dev = await platform_and_device()
        try:
            d = await registered(pf, dev)
            dev.fota_fail = fail
            rec = await flow(pf, dev, d)
            assert rec.state == "failed" and rec.result == result and words in rec.reason, rec.to_json()
            # the flow's own subscription is cancelled at the end (4.4.2: GET /5/0/3 Observe=1),
            # and the standing observation of 4.3.1.2 made again
            await wait_for(lambda: any(s[3] == 1 for s in dev.requests("GET", "/5/0/3")), 3, "the cancel")
            await wait_for(lambda: "/5/0/3" in d.observations and d.observations["/5/0/3"].origin == "registration",
                           3, "the observation of 4.3.1.2 again")
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_fota_stalled_download_times_out_and_is_cancelled():
    async def main():
        pf, dev = await platform_and_device(policy=Policy(stall=1.0, download=10, update=5))
        try:
            d = await registered(pf, dev)
            dev.fota_fail = "stall"
            rec = await flow(pf, dev, d)
            assert rec.state == "failed" and "download stalled" in rec.reason
            await wait_for(lambda: any(s[6] == b"" for s in dev.requests("PUT", "/5/0/1")), 3, "the empty URI")
            assert dev.values[(5, 0, 3)] == 0                          # back to idle
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_fota_wrong_version_and_refused_write():
    async def main():
        pf, dev = await platform_and_device()
        try:
            d = await registered(pf, dev)
            dev.next_version = "1.9.9"
            rec = await flow(pf, dev, d)
            assert rec.state == "failed" and "'1.9.9', the package is '2.0.0'" in rec.reason
            await wait_for(lambda: len(d.observations) == 3)

            async def refuse(request, p):
                return aiocoap.Message(code=Code.BAD_REQUEST)
            dev._put = refuse
            rec = await pf.fota.push(d, pf.packages.find())
            assert rec.state == "failed" and "Write /5/0/1 answered 4.00" in rec.reason
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_fota_device_refusing_the_observe_query_gets_write_attributes():
    async def main():
        pf, dev = await platform_and_device()
        try:
            d = await registered(pf, dev)
            dev.reject_observe_query = True
            rec = await flow(pf, dev, d)
            assert rec.state == "succeeded", rec.to_json()
            wa = [s for s in dev.requests("PUT", "/5/0/3")]
            assert wa and wa[0][2] == ("pmax=10",) and not wa[0][6]
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_sota_switches_to_the_mcu_first():
    """Spec 4.4.4: Execute /5/0/26550 before the URI; memory of the MCU
    (/3/0/26261) checked; the version read is /3/0/19."""
    async def main():
        pf, dev = await platform_and_device()
        try:
            d = await registered(pf, dev)
            dev.values[(3, 0, 10)] = 1                                 # the module's memory does not matter
            rec = await flow(pf, dev, d, sota=True)
            assert rec.state == "succeeded", rec.to_json()
            assert dev.executed[0][0] == (5, 0, 26550) and rec.checks["memory_free"] == 64
            assert rec.new_version == "2.0.0" and dev.values[(3, 0, 19)] == "2.0.0"
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_fota_of_a_sleeping_queue_mode_device():
    """Binding UQ: the push waits for the device's next Update (the control
    socket answers "pending"); its notifications and block requests keep it
    awake until the flow ends."""
    from andlink_tools.control import ControlServer

    async def main():
        pf, dev = await platform_and_device(awake=2.0, dev_binding="UQ")
        ctl = ControlServer(pf, HOST, 0)
        try:
            d = await registered(pf, dev)
            pf.packages.publish(PACKAGE, "2.0.0")
            await wait_for(lambda: not pf.ops.awake(d), 5, "the awake window's end")     # asleep
            r = await ctl.handle({"op": "fota_push", "ep": d.ep, "timeout": 0.3})
            assert r["ok"] and r["pending"] and r["fota"]["state"] == "checking"
            assert d.queue and not dev.requests("PUT", "/5/0/1")
            await dev.update()
            rec = pf.fota.current(d.ep)
            await wait_for(lambda: rec.state == "succeeded", 10, "the FOTA of the queue-mode device")
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_a_device_that_does_not_answer_in_time():
    from andlink_tools.control import ControlServer

    async def main():
        pf, dev = await platform_and_device(observe=(), request_timeout=1.0)
        ctl = ControlServer(pf, HOST, 0)
        try:
            await dev.register(pf.coap_address[1])
            d = pf.registry.device(dev.imei)
            await wait_for(lambda: d.auth.get("time"), what="the registration reads")
            dev.ignore = True
            r = await ctl.handle({"op": "read", "ep": d.ep, "path": "/3/0/9", "timeout": 0.3})
            assert r["kind"] == "failed" and "no answer in 0.3 s" in r["error"]
            await wait_for(lambda: "no answer" in d.history[-1]["event"], 5, "the request's end")
            r = await ctl.handle({"op": "read", "ep": d.ep, "path": "/3/0/9", "timeout": 5})
            assert r["kind"] == "failed" and "no answer" in r["error"]
        finally:
            await dev.close()
            await pf.close()
    run(main())
