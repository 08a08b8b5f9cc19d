"""andlink-term's client (tools/andlink_tools/term.py over lib/andlink/client)
over loopback UDP against an LwM2M server written here on aiocoap (PyPI,
pinned in requirements.lock): an independent CoAP stack on the other side.
The server has the registration interface (/rd), the Send channel (/dp), a
Bootstrap-Server (/bs) and a Block2 package server (/fw) that counts the
blocks it serves, and sends the server's requests (Read, Write, Execute,
Discover, Observe) from the port the client registered with.

Scenarios, with the And-link spec section and the OMA LwM2M 1.0
interoperability test they correspond to:
  registration, the reads of 4.1.5, Update, De-register   int-101, int-102, int-103
  Read/Write/Execute/Discover (4.2, 6.5-6.8)               int-201, int-203, int-204, int-205
  Observe and notify, cancel (4.3.1, 6.9-6.11)             int-301, int-302, int-303
  Send to /dp (4.3.2)                                      (And-link only)
  queue mode (6.3.4's b=UQ; TS 1.0 8.3)                    int-104 (queue mode)
  client-initiated Bootstrap (4.1.1-4.1.3, 6.1, 6.2)       int-0 (bootstrap)
  FOTA by Pull (4.4): download, a lost datagram and a
  client restart mid-download each resume (<= 1 block
  fetched again per interruption), Execute, result 1      int-501..503, int-551 (firmware update)
The CoAP timers of 3.4 are scaled down (ACK_TIMEOUT 0.3 s).  The command
line itself (bad arguments, Ctrl-C de-registers) runs as a subprocess."""

import asyncio
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time

import aiocoap
import pytest
from aiocoap import resource as aioresource
from aiocoap.numbers.codes import Code
from aiocoap.numbers.constants import TransportTuning
from aiocoap.optiontypes import BlockOption

from andlink import coap as C
from andlink_tools import term as T
from wmmp.board import otaimage as I

HOST = "127.0.0.1"
IMEI = "869976032983322"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CF_TEXT, CF_LINK, CF_SENML, CF_TLV = 0, 40, 110, 11542
FAST_PARAMS = C.Params(ack_timeout=0.3, max_transmit_wait=3, ack_delay=0.1, block_lifetime=10)


class _Fast(TransportTuning):
    ACK_TIMEOUT = 0.3


FAST = _Fast()


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def wait_for(cond, timeout=5.0, what="condition"):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for %s" % what)
        await asyncio.sleep(0.01)


def tlv_res(rid, value):
    """One LwM2M TLV resource (TS 1.0 6.4.3), written here independently."""
    if isinstance(value, bool):
        v = b"\x01" if value else b"\x00"
    elif isinstance(value, int):
        v = value.to_bytes(4, "big", signed=True)
    else:
        v = value.encode() if isinstance(value, str) else value
    head = 0xC0 | (0x20 if rid > 255 else 0)
    idb = rid.to_bytes(2 if rid > 255 else 1, "big")
    if len(v) < 8:
        return bytes([head | len(v)]) + idb + v
    return bytes([head | 0x08]) + idb + bytes([len(v)]) + v


def update_file(payload, version="2.0.0"):
    body = I.archive_entry("app.py", payload)
    return I.build_header("host", version, "mpy-app", len(body), hashlib.sha256(body).digest()) + body


class Server(aioresource.Resource):
    """An LwM2M server, Bootstrap-Server and package server on one aiocoap context."""

    def __init__(self):
        super().__init__()
        self.ctx = None
        self.regs = []              # (ep, {query}, links, location)
        self.updates = []
        self.deletes = []
        self.sends = []
        self.bs_requests = []
        self.package = b""
        self.etag = b"p1"
        self.served = []            # block numbers served, in order
        self.bs_target = None       # "coap://..." the bootstrap writes into /0/1/0
        self.client_uri = None

    async def start(self):
        self.ctx = await aiocoap.Context.create_server_context(self, bind=(HOST, 0), transports=["udp6"])
        return self

    @property
    def port(self):
        from andlink_tools.coapio import local_address
        return local_address(self.ctx)[1]

    async def close(self):
        await self.ctx.shutdown()

    async def needs_blockwise_assembly(self, request):
        return False

    async def render(self, request):
        path = tuple(request.opt.uri_path)
        q = dict(x.split("=", 1) for x in request.opt.uri_query if "=" in x)
        if request.code == Code.POST and path == ("rd",):
            loc = ("rd", "r%d" % len(self.regs))
            self.client_uri = "coap://%s" % request.remote.hostinfo
            self.regs.append((q.get("ep"), q, request.payload.decode(), "/" + "/".join(loc)))
            return aiocoap.Message(code=Code.CREATED, location_path=loc)
        if path[:1] == ("rd",) and len(path) == 2:
            known = any(r[3] == "/" + "/".join(path) for r in self.regs)
            if request.code == Code.POST:
                self.updates.append((path, dict(q), request.payload))
                return aiocoap.Message(code=Code.CHANGED if known else Code.NOT_FOUND)
            if request.code == Code.DELETE:
                self.deletes.append(path)
                return aiocoap.Message(code=Code.DELETED)
        if request.code == Code.POST and path == ("dp",):
            self.sends.append((q.get("ep"), request.opt.content_format, request.payload))
            return aiocoap.Message(code=Code.CHANGED)
        if request.code == Code.POST and path == ("bs",):
            self.bs_requests.append(q.get("ep"))
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._bootstrap(request)))
            return aiocoap.Message(code=Code.CHANGED)
        if request.code == Code.GET and path == ("fw", "pkg"):
            return self._block(request)
        return aiocoap.Message(code=Code.NOT_FOUND)

    def _block(self, request):
        b2 = request.opt.block2
        num, szx = (b2.block_number, b2.size_exponent) if b2 is not None else (0, 5)
        size = 16 << szx
        off = num * size
        body = self.package
        self.served.append(num)
        chunk = body[off:off + size]
        m = aiocoap.Message(code=Code.CONTENT, payload=chunk, etag=self.etag)
        m.opt.block2 = BlockOption.BlockwiseTuple(num, off + size < len(body), szx)
        m.opt.size2 = len(body)
        return m

    async def _bootstrap(self, request):
        uri = "coap://%s" % request.remote.hostinfo
        sec = (tlv_res(0, self.bs_target) + tlv_res(1, False) + tlv_res(2, 3) + tlv_res(3, b"")
               + tlv_res(10, 1))
        srv = tlv_res(0, 1) + tlv_res(1, 300) + tlv_res(6, False) + tlv_res(7, "U")
        for path, payload in (("/0/1", sec), ("/1/0", srv)):
            r = await self.ask(Code.PUT, uri + path, payload, CF_TLV)
            assert r.code == Code.CHANGED, (path, r)
        r = await self.ask(Code.POST, uri + "/bs")
        assert r.code == Code.CHANGED

    async def ask(self, code, uri, payload=b"", cf=None, accept=None, observe=None):
        m = aiocoap.Message(code=code, uri=uri, payload=payload, transport_tuning=FAST)
        if cf is not None:
            m.opt.content_format = cf
        if accept is not None:
            m.opt.accept = accept
        if observe is not None:
            m.opt.observe = observe
        return await asyncio.wait_for(self.ctx.request(m).response, 10)

    async def get(self, path, accept=CF_TEXT):
        return await self.ask(Code.GET, self.client_uri + path, accept=accept)


def make_term(server_port, state, bootstrap=None, queue=False, update_dir=None, lifetime=300, server=True):
    cfg = T.Config((HOST, server_port) if server else None, IMEI, state, bootstrap=bootstrap, lifetime=lifetime,
                   queue=queue, update_dir=update_dir, product_token="pt-4f1c9a7e2b", device_type="590001",
                   params=FAST_PARAMS)
    lines = []
    t = T.Term(cfg, out=lines.append)
    t.lines = lines
    return t


def private_dir(tmp_path, name):
    d = tmp_path / name
    d.mkdir(mode=0o700)
    return str(d)


def test_register_read_write_execute_discover_update_deregister(tmp_path):
    async def go():
        srv = await Server().start()
        t = await make_term(srv.port, private_dir(tmp_path, "st")).open()
        try:
            await wait_for(lambda: t.client.registered, what="registration")
            ep, q, links, loc = srv.regs[0]
            assert ep == IMEI and q["lt"] == "300" and q["lwm2m"] == "1.0" and q["b"] == "U"   # 4.1.4
            assert '</>;rt="oma.lwm2m"' in links and "</3/0>" in links and "</0/" not in links
            want = {"/3/0/1": b"pt-4f1c9a7e2b", "/3/0/17": b"590001", "/3/0/3": b"host-fw-1.0",
                    "/3/0/19": b"0.1.0", "/4/0/8": b"1"}                                        # 4.1.5
            for path, value in want.items():
                r = await srv.get(path)
                assert r.code == Code.CONTENT and r.payload == value, path
            r = await srv.ask(Code.PUT, srv.client_uri + "/19/1/0", b'{"power":5}', CF_SENML)
            assert r.code == Code.CHANGED                                                       # 4.2.2.3
            r = await srv.ask(Code.GET, srv.client_uri + "/19/1/0?p=power")
            assert r.code == Code.CONTENT and json.loads(r.payload) == {"power": 5}             # 4.2.2.2
            r = await srv.get("/3/0", accept=CF_LINK)
            assert r.code == Code.CONTENT and b"</3/0/17>" in r.payload                         # Discover
            r = await srv.get("/3/0", accept=CF_TLV)
            assert r.code == Code.CONTENT and r.opt.content_format == CF_TLV
            r = await srv.ask(Code.PUT, srv.client_uri + "/1/0/1", b"120", CF_TEXT)
            assert r.code == Code.CHANGED
            await wait_for(lambda: srv.updates, what="Update after the lifetime changed")
            assert srv.updates[0][0] == ("rd", "r0") and srv.updates[0][1] == {"lt": "120"}     # 6.4
            r = await srv.ask(Code.POST, srv.client_uri + "/3/0/4")                             # Reboot
            assert r.code == Code.CHANGED
            await wait_for(lambda: len(srv.regs) == 2, what="registration after the reboot")
            await wait_for(lambda: t.client.registered)
        finally:
            await t.stop(deregister=True)
            assert srv.deletes == [("rd", "r1")]                                                # 3.3
            await srv.close()
    run(go())


def test_observe_notify_cancel_and_send(tmp_path):
    async def go():
        srv = await Server().start()
        t = await make_term(srv.port, private_dir(tmp_path, "st")).open()
        try:
            await wait_for(lambda: t.client.registered)
            m = aiocoap.Message(code=Code.GET, uri=srv.client_uri + "/3/0/9", observe=0, transport_tuning=FAST)
            req = srv.ctx.request(m)
            first = await asyncio.wait_for(req.response, 5)
            assert first.code == Code.CONTENT and first.opt.observe is not None and first.payload == b"100"
            got = []

            async def collect():
                async for n in req.observation:
                    got.append(n.payload)
            task = asyncio.ensure_future(collect())
            t.command("set /3/0/9 55")
            await wait_for(lambda: got == [b"55"], what="the notification")
            r = await srv.ask(Code.PUT, srv.client_uri + "/3/0/9?pmax=1")                      # 6.7
            assert r.code == Code.CHANGED
            await wait_for(lambda: len(got) >= 3, timeout=4, what="pmax notifications")
            assert set(got[1:]) == {b"55"}
            # 6.10: Cancel Observation, GET with Observe 1 (aiocoap draws a new token: the path decides)
            r = await srv.ask(Code.GET, srv.client_uri + "/3/0/9", observe=1)
            assert r.code == Code.CONTENT and r.opt.observe is None
            req.observation.cancel()
            task.cancel()
            assert any("cancel /3/0/9" in x for x in t.lines)
            await asyncio.sleep(1.2)
            n = len(got)
            t.command('send {"power":18,"temperature":"20.5"}')                               # 4.3.2
            await wait_for(lambda: srv.sends, what="Send")
            ep, cf, payload = srv.sends[0]
            assert ep == IMEI and cf == CF_SENML
            assert json.loads(payload) == [{"n": "/19/1/0", "vs": {"power": 18, "temperature": "20.5"}}]
            assert any("ev     sent" in x for x in t.lines) and len(got) == n
        finally:
            await t.stop()
            await srv.close()
    run(go())


def test_queue_mode_sleeps_and_wakes(tmp_path):
    async def go():
        srv = await Server().start()
        t = make_term(srv.port, private_dir(tmp_path, "st"), queue=True)
        await t.open()
        t.client.queue_window = 0.5
        try:
            await wait_for(lambda: t.client.registered)
            assert srv.regs[0][1]["b"] == "UQ"
            await wait_for(lambda: t.client.asleep, timeout=3, what="sleep")
            r = await srv.get("/3/0/1")                 # (a downlink the radio would not carry)
            assert r.code == Code.CONTENT
            t.command('send {"power":1}')
            assert not t.client.asleep
            await wait_for(lambda: srv.sends)
            await wait_for(lambda: t.client.asleep, timeout=3)
            assert [x.split()[1] for x in t.lines if x.startswith("   ev     ") and x.split()[1] in
                    ("sleep", "awake")][:3] == ["sleep", "awake", "sleep"]
        finally:
            await t.stop()
            await srv.close()
    run(go())


def test_client_initiated_bootstrap(tmp_path):
    async def go():
        srv = await Server().start()
        bs = await Server().start()
        bs.bs_target = "coap://%s:%d" % (HOST, srv.port)
        state = private_dir(tmp_path, "st")
        t = await make_term(None, state, bootstrap=(HOST, bs.port), server=False).open()
        try:
            await wait_for(lambda: t.client.registered, what="registration after bootstrap")
            assert bs.bs_requests == [IMEI] and srv.regs[0][1]["lt"] == "300"
            rec = json.load(open(os.path.join(state, T.STATE_FILE)))
            assert rec["srv"] == "%s:%d" % (HOST, srv.port)
            assert stat.S_IMODE(os.stat(os.path.join(state, T.STATE_FILE)).st_mode) == 0o600
        finally:
            await t.stop()
        t = await make_term(None, state, bootstrap=(HOST, bs.port), server=False).open()
        try:
            await wait_for(lambda: t.client.registered)
            assert bs.bs_requests == [IMEI]             # kept: no second bootstrap
        finally:
            await t.stop()
            await srv.close()
            await bs.close()
    run(go())


async def _fota_setup(srv, t, body):
    srv.package = body
    await wait_for(lambda: t.client.registered)
    m = aiocoap.Message(code=Code.GET, uri=srv.client_uri + "/5/0/3", observe=0, transport_tuning=FAST)
    req = srv.ctx.request(m)
    await asyncio.wait_for(req.response, 5)
    uri = "coap://%s:%d/fw/pkg" % (HOST, srv.port)
    r = await srv.ask(Code.PUT, srv.client_uri + "/5/0/1", uri.encode(), CF_TEXT)
    assert r.code == Code.CHANGED
    return req


def _fota(t):
    return t.client.fota_state()


def test_fota_download_lost_datagram_execute_success(tmp_path):
    async def go():
        srv = await Server().start()
        upd = private_dir(tmp_path, "upd")
        t = make_term(srv.port, private_dir(tmp_path, "st"), update_dir=upd)
        lost = []

        def drop(raw, peer, way):       # the 6th block's response is lost once
            if way == "in" and peer[1] == srv.port and not lost:
                m = C.decode(raw)
                if m.uint(C.BLOCK2) is not None and m.uint(C.BLOCK2) >> 4 == 5:
                    lost.append(m.mid)
                    return True
            return False
        t.drop = drop
        await t.open()
        try:
            body = update_file(os.urandom(9000), "2.0.0")
            await _fota_setup(srv, t, body)
            await wait_for(lambda: _fota(t) == (2, 0), timeout=10, what="downloaded")
            blocks = -(-len(body) // 512)
            assert lost and sorted(set(srv.served)) == list(range(blocks))
            assert len(srv.served) - blocks <= 1                # the lost one at most, once
            r = await srv.get("/5/0/7")
            assert r.payload == b"2.0.0"
            r = await srv.ask(Code.POST, srv.client_uri + "/5/0/2")
            assert r.code == Code.CHANGED
            await wait_for(lambda: len(srv.regs) == 2 and t.client.registered, timeout=8, what="restart")
            await wait_for(lambda: _fota(t) == (0, 1), what="result 1")
            r = await srv.get("/5/0/5")
            assert r.payload == b"1"
            r = await srv.get("/3/0/19")
            assert r.payload == b"2.0.0"                        # the new version runs
        finally:
            await t.stop()
            await srv.close()
    run(go())


def test_fota_client_restart_mid_download_resumes(tmp_path):
    async def go():
        srv = await Server().start()
        upd = private_dir(tmp_path, "upd")
        state = private_dir(tmp_path, "st")
        t = make_term(srv.port, state, update_dir=upd)
        await t.open()
        body = update_file(os.urandom(12000), "2.1.0")
        blocks = -(-len(body) // 512)
        try:
            await _fota_setup(srv, t, body)
            await wait_for(lambda: len(srv.served) >= 8, timeout=10, what="some blocks")
        finally:
            t.close()                                           # the power goes: no De-register
        n = len(srv.served)
        assert n < blocks
        t = make_term(srv.port, state, update_dir=upd)
        await t.open()
        try:
            await wait_for(lambda: _fota(t) == (2, 0), timeout=10, what="downloaded after the restart")
            again = len(srv.served) - blocks
            assert sorted(set(srv.served)) == list(range(blocks)) and again <= 1, srv.served
            assert srv.served[n] >= n - 1                       # resumed, not from block 0
        finally:
            await t.stop()
            await srv.close()
    run(go())


# == the command line ===========================================================
def _cli(args, **kw):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")]))
    return subprocess.Popen([sys.executable, "-m", "andlink_tools.term"] + args, env=env, cwd=ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.parametrize("args, words", [
    ([], "required"),
    (["--server", "http://127.0.0.1:5683", "--imei", IMEI, "--state", "S"], "coap:// or coaps:// only"),
    (["--server", "coap://127.0.0.1:99999", "--imei", IMEI, "--state", "S"], "bad port"),
    (["--server", "coap://127.0.0.1:5683", "--imei", "12ab", "--state", "S"], "15 digits"),
    (["--server", "coap://127.0.0.1:5683", "--imei", IMEI, "--state", "S", "--lifetime", "soon"], "not a number"),
    (["--server", "coap://127.0.0.1:5683", "--imei", IMEI, "--state", "S", "--lifetime", "5"], "10 to"),
    (["--server", "coap://127.0.0.1:5683", "--imei", IMEI, "--state", "/nonexistent/x"], "does not exist"),
    (["--server", "coap://127.0.0.1:5683", "--imei", IMEI, "--state", "OPEN"], "open to other users"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, words):
    open_dir = tmp_path / "OPEN"
    open_dir.mkdir(mode=0o755)
    os.chmod(open_dir, 0o755)
    args = [str(tmp_path / a) if a in ("S", "OPEN") else a for a in args]
    p = _cli(args)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("andlink-term: error:") and words in lines[0], err
    assert "Traceback" not in err + out


def test_ctrl_c_deregisters(tmp_path):
    async def go():
        srv = await Server().start()
        state = str(tmp_path / "st")                   # created 0700 by the tool
        p = _cli(["--server", "coap://%s:%d" % (HOST, srv.port), "--imei", IMEI, "--state", state,
                  "--lifetime", "60", "--ack-timeout", "0.3"])
        try:
            await wait_for(lambda: srv.regs, timeout=10, what="registration")
            p.send_signal(signal.SIGINT)
            await wait_for(lambda: srv.deletes, timeout=10, what="De-register")
            for _ in range(200):
                if p.poll() is not None:
                    break
                await asyncio.sleep(0.02)
            out, err = p.communicate(timeout=5)
            assert p.returncode == 0 and "Traceback" not in err, err
            assert "registered /rd/r0" in out and "deregistered 2.02" in out
            assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
        finally:
            if p.poll() is None:
                p.kill()
            await srv.close()
    run(go(), timeout=40)
