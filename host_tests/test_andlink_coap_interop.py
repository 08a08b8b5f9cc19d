"""Interoperability of the sans-I/O CoAP layer (lib/andlink/coap*.py) with two
independent CoAP implementations on loopback UDP: aiocoap (PyPI, pinned in
requirements.lock) and libcoap's coap-client / coap-server (Debian's
libcoap3-bin, installed by `make setup`; the libcoap tests are skipped, with
the reason, where it is missing).

Our endpoint runs over an asyncio UDP socket (Runner below: datagrams in,
ticks at its deadline(), datagrams out), as a client against aiocoap's and
libcoap's servers and as a server for their clients: piggybacked and
separate responses (RFC 7252 5.2), a CON whose first datagram is dropped and
that is answered once (4.2, 4.5), Observe (RFC 7641), Block2 downloads of a
few KB and Block1 uploads (RFC 7959) both ways, with And-link spec section
3.4's 1024-byte payload limit and 512-byte preferred block size.  The codec
is also checked against aiocoap's on random messages."""
import asyncio
import random
import shutil
import socket
import subprocess
import time

import aiocoap               # pinned in requirements.lock: missing means `make setup` did not run
import pytest
from aiocoap import resource as aioresource
from aiocoap.numbers.codes import Code
from aiocoap.optiontypes import OpaqueOption

from andlink import coap as C, coapblock as B
from andlink.coapendpoint import Endpoint

BIG = bytes(random.Random(7).getrandbits(8) for _ in range(5000))     # a few KB
HOST = "127.0.0.1"
# The And-link parameters (section 3.4) but a 1 s ACK_TIMEOUT and a short empty-ACK
# delay, so a dropped datagram costs a second, not five; the schedule itself is
# checked with the real figures in host_tests/portable/test_coap_endpoint.py.
FAST = C.Params(ack_timeout=1, ack_delay=0.2)


def _tool(name):
    for n in (name, name + "-notls"):
        p = shutil.which(n)
        if p:
            return p
    return None


COAP_CLIENT = _tool("coap-client")
COAP_SERVER = _tool("coap-server")
needs_libcoap = pytest.mark.skipif(
    not (COAP_CLIENT and COAP_SERVER),
    reason="libcoap's coap-client/coap-server missing: run 'make setup' as root (apt-get install libcoap3-bin)")


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def zeros(n):
    return bytes(n)


class Runner(asyncio.DatagramProtocol):
    """Our Endpoint on an asyncio UDP socket.  `drop(raw, peer, "in"|"out")`
    True loses a datagram; .sent and .received log every datagram (decoded)."""

    def __init__(self, ep, drop=None):
        self.ep = ep
        self.drop = drop
        self.loop = asyncio.get_running_loop()
        self.sent, self.received, self.events = [], [], []
        self._waiting = {}          # token -> future of the final event
        self._helpers = []          # [(helper, future)]
        self._timer = None

    @classmethod
    async def open(cls, ep, port=0, drop=None):
        loop = asyncio.get_running_loop()
        tr, self = await loop.create_datagram_endpoint(lambda: cls(ep, drop), local_addr=(HOST, port))
        return self

    @property
    def port(self):
        return self.tr.get_extra_info("sockname")[1]

    def now(self):
        return self.loop.time()

    def connection_made(self, tr):
        self.tr = tr

    def close(self):
        if self._timer:
            self._timer.cancel()
        self.tr.close()

    def datagram_received(self, data, addr):
        if self.drop and self.drop(data, addr, "in"):
            return
        self.received.append(C.decode(data))
        self.ep.receive(data, self.now(), addr)
        self.flush()

    def flush(self):
        """Send what the endpoint has, hand its events out (a transfer helper
        sends its next request from there: again), rearm the timer."""
        busy = True
        while busy:
            busy = False
            for raw, peer in self.ep.outgoing():
                busy = True
                if self.drop and self.drop(raw, peer, "out"):
                    continue
                self.sent.append(C.decode(raw))
                self.tr.sendto(raw, peer)
            for ev in self.ep.events():
                busy = True
                self.events.append(ev)
                self._dispatch(ev)
        if self._timer:
            self._timer.cancel()
            self._timer = None
        d = self.ep.deadline()
        if d is not None:
            self._timer = self.loop.call_at(d, self._tick)

    def _tick(self):
        self._timer = None
        self.ep.tick(self.now())
        self.flush()

    def _dispatch(self, ev):
        for h, fut in list(self._helpers):
            if h.handle(ev, self.now()):
                if h.state != B.RUNNING and not fut.done():
                    self._helpers.remove((h, fut))
                    fut.set_result(h)
                return
        if ev[0] in ("response", "failed"):
            fut = self._waiting.pop((ev[1], ev[3]), None)
            if fut is not None and not fut.done():
                fut.set_result(ev)

    async def request(self, msg, peer, con=True, timeout=30):
        tok = self.ep.request(msg, self.now(), peer, con)
        fut = self.loop.create_future()
        self._waiting[(tok, peer)] = fut
        self.flush()
        return await asyncio.wait_for(fut, timeout)

    async def transfer(self, helper, timeout=60):
        fut = self.loop.create_future()
        self._helpers.append((helper, fut))
        helper.start(self.now())
        self.flush()
        return await asyncio.wait_for(fut, timeout)


def run(coro):
    return asyncio.run(coro)


async def until(cond, what, timeout=5.0):
    """Poll `cond` until true; AssertionError naming `what` after `timeout` s."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out (%g s) waiting for %s" % (timeout, what))
        await asyncio.sleep(0.01)


# == the codec against aiocoap's =================================================

def _random_message(r):
    m = C.Message(r.randrange(4), r.choice((1, 2, 3, 4, 0x45, 0x44, 0x84, 0x5F)), r.randrange(65536),
                  bytes(r.getrandbits(8) for _ in range(r.randrange(9))))
    for _ in range(r.randrange(6)):
        num = r.choice((C.URI_PATH, C.URI_QUERY, C.CONTENT_FORMAT, C.ACCEPT, C.OBSERVE, C.BLOCK1, C.BLOCK2,
                        C.SIZE1, C.SIZE2, C.ETAG, C.LOCATION_PATH, C.IF_MATCH, C.MAX_AGE))
        if num in (C.URI_PATH, C.URI_QUERY, C.LOCATION_PATH):
            m.add(num, "".join(r.choice("abc=/9") for _ in range(r.randrange(300))))
        elif num in (C.ETAG, C.IF_MATCH):
            m.add(num, bytes(r.getrandbits(8) for _ in range(1 + r.randrange(8))))
        else:
            m.add(num, r.randrange(1 << 24) if num != C.BLOCK1 and num != C.BLOCK2 else r.randrange(1 << 20) << 4 | r.randrange(7))
    if r.random() < 0.7:
        m.payload = bytes(r.getrandbits(8) for _ in range(1 + r.randrange(1024)))
    return m


@pytest.mark.filterwarnings("ignore::DeprecationWarning")    # aiocoap: mid, mtype, token set by hand
def test_codec_agrees_with_aiocoap_both_ways():
    r = random.Random(5683)
    for _ in range(400):
        m = _random_message(r)
        raw = C.encode(m)
        a = aiocoap.Message.decode(raw)
        assert (int(a.mtype), int(a.code), a.mid, a.token, a.payload) == (
            m.mtype, m.code, m.mid, m.token, m.payload)
        assert [(int(o.number), o.encode()) for o in a.opt.option_list()] == m.options
        # aiocoap's encoder over the same fields gives our bytes
        o = aiocoap.Message(mtype=aiocoap.numbers.types.Type(m.mtype), code=Code(m.code), mid=m.mid,
                            token=m.token, payload=m.payload)
        for n, v in m.options:
            o.opt.add_option(OpaqueOption(n, v))
        assert o.encode() == raw


# == our client against aiocoap's server =========================================

class _Text(aioresource.Resource):
    def __init__(self):
        super().__init__()
        self.hits = 0

    async def render_get(self, request):
        self.hits += 1
        return aiocoap.Message(payload=b"hello from aiocoap", content_format=0)


class _Slow(aioresource.Resource):
    async def render_get(self, request):
        await asyncio.sleep(1.0)            # aiocoap acknowledges first: a separate response
        return aiocoap.Message(payload=b"late")


class _Big(aioresource.Resource):
    async def render_get(self, request):
        return aiocoap.Message(payload=BIG, etag=b"e1")


class _Store(aioresource.Resource):
    def __init__(self):
        super().__init__()
        self.data = None

    async def render_put(self, request):
        self.data = request.payload
        return aiocoap.Message(code=Code.CHANGED)


class _Clock(aioresource.ObservableResource):
    def __init__(self):
        super().__init__()
        self.n = 0

    async def render_get(self, request):
        return aiocoap.Message(payload=b"%d" % self.n)

    def bump(self):
        self.n += 1
        self.updated_state()


async def _aiocoap_server():
    site = aioresource.Site()
    res = {"text": _Text(), "slow": _Slow(), "big": _Big(), "store": _Store(), "clock": _Clock()}
    for name, r in res.items():
        site.add_resource([name], r)
    port = free_port()
    ctx = await aiocoap.Context.create_server_context(site, bind=(HOST, port))
    return ctx, (HOST, port), res


def test_our_client_against_aiocoap_server():
    async def main():
        ctx, srv, res = await _aiocoap_server()
        us = await Runner.open(Endpoint(params=FAST))
        try:
            ev = await us.request(C.Message(code=C.GET).set_path("/text"), srv)
            assert ev[0] == "response" and ev[2].code == C.CONTENT and ev[2].payload == b"hello from aiocoap"
            assert us.received[-1].mtype == C.ACK                       # piggybacked (RFC 7252 5.2.1)
            ev = await us.request(C.Message(code=C.GET).set_path("/slow"), srv)
            assert ev[0] == "response" and ev[2].payload == b"late" and ev[2].mtype == C.CON
            assert ("acked", ev[1], None, srv) in us.events                # empty ACK first (5.2.2)
            assert us.sent[-1].mtype == C.ACK and us.sent[-1].mid == ev[2].mid    # we acked it
            ev = await us.request(C.Message(code=C.GET).set_path("/text"), srv, con=False)
            assert ev[0] == "response" and ev[2].mtype == C.NON               # 5.2.3
            ev = await us.request(C.Message(code=C.GET).set_path("/nothing"), srv)
            assert ev[2].code == C.NOT_FOUND
        finally:
            us.close()
            await ctx.shutdown()
    run(main())


def test_our_client_retransmits_a_dropped_con_answered_once_by_aiocoap():
    # RFC 7252 4.2: the first datagram is lost; the retransmission (same message ID)
    # after the initial timeout is answered, and the resource ran once.  Then the
    # first response is lost: the retransmitted CON is a duplicate for aiocoap, which
    # answers it from its cache (4.5) without running the resource again.
    async def main():
        ctx, srv, res = await _aiocoap_server()
        lost = {"out": 1}

        def drop(raw, peer, way):
            if lost.get(way):
                lost[way] -= 1
                return True
            return False
        us = await Runner.open(Endpoint(params=FAST, rng=zeros), drop=drop)
        try:
            t0 = us.now()
            ev = await us.request(C.Message(code=C.GET).set_path("/text"), srv)
            assert ev[0] == "response" and ev[2].payload == b"hello from aiocoap"
            assert 1.0 <= us.now() - t0 < 3                               # ACK_TIMEOUT (rng 0)
            assert len(us.sent) == 1 and res["text"].hits == 1             # only the 2nd left us
            lost["in"] = 1
            t0 = us.now()
            ev = await us.request(C.Message(code=C.GET).set_path("/text"), srv)
            assert ev[0] == "response" and us.now() - t0 >= 1.0
            assert [m.mid for m in us.sent[1:]] == [us.sent[1].mid] * 2 and res["text"].hits == 2
        finally:
            us.close()
            await ctx.shutdown()
    run(main())


def test_our_client_block2_download_block1_upload_and_observe_with_aiocoap():
    async def main():
        ctx, srv, res = await _aiocoap_server()
        us = await Runner.open(Endpoint(params=FAST))
        try:
            got = bytearray()
            dl = B.Block2Download(us.ep, C.Message(code=C.GET).set_path("/big"),
                                  lambda off, data: got.extend(data), srv)
            await us.transfer(dl)
            assert dl.state == B.DONE and bytes(got) == BIG and dl.etag == b"e1"
            blocks = [B.get_block(m, C.BLOCK2) for m in us.received if m.code == C.CONTENT]
            assert [b[0] for b in blocks] == list(range(10)) and {b[2] for b in blocks} == {5}   # 512
            # resume from block 7 with the ETag of the first part
            tail = bytearray()
            dl = B.Block2Download(us.ep, C.Message(code=C.GET).set_path("/big"),
                                  lambda off, data: tail.extend(data), srv, start=7, etag=b"e1")
            await us.transfer(dl)
            assert dl.state == B.DONE and bytes(tail) == BIG[7 * 512:]
            up = B.Block1Upload(us.ep, C.Message(code=C.PUT).set_path("/store"), BIG[:3000], srv)
            await us.transfer(up)
            assert up.state == B.DONE and up.response.code == C.CHANGED and res["store"].data == BIG[:3000]
            assert [len(m.payload) for m in us.sent if m.code == C.PUT] == [512] * 5 + [440]
            # Observe (RFC 7641): registration, then two notifications
            tok = us.ep.request(C.Message(code=C.GET).set_path("/clock").add(C.OBSERVE, 0), us.now(), srv)
            us.flush()

            def notes():
                return [e[2].payload for e in us.events if e[0] == "response" and e[1] == tok]
            await until(lambda: notes(), "the Observe registration's response")
            for i in range(3):
                res["clock"].bump()
                await until(lambda: len(notes()) >= i + 2, "notification %d" % (i + 1))
            assert notes()[:4] == [b"0", b"1", b"2", b"3"]
            us.ep.cancel(tok, srv)
            n = len(us.sent)
            res["clock"].bump()                       # the next one is rejected with RST
            await until(lambda: any(m.mtype == C.RST for m in us.sent[n:]), "the RST")
            assert us.sent[-1].mtype == C.RST
        finally:
            us.close()
            await ctx.shutdown()
    run(main())


# == aiocoap's client against our server =========================================

class _Device:
    """What our server endpoint serves: /3/0/0 (text), /big (Block2), /upload
    (Block1), /slow (answered later: a separate response), /obs (Observe)."""

    def __init__(self):
        self.hits = {}
        self.rx = B.Block1Receiver(max_size=16384)
        self.slow = []
        self.observers = []

    def __call__(self, req, now):
        p = req.path
        self.hits[p] = self.hits.get(p, 0) + 1
        if p == "/3/0/0":
            return C.Message(code=C.CONTENT, payload=b"China Mobile").add(C.CONTENT_FORMAT, C.TEXT_PLAIN)
        if p == "/big":
            return B.serve_block2(req, C.Message(code=C.CONTENT).add(C.ETAG, b"b1"), BIG)
        if p == "/upload":
            resp = self.rx.feed(req, now)
            return resp or self.rx.finish(C.Message(code=C.CHANGED))
        if p == "/slow":
            self.slow.append(req)
            return None
        if p == "/obs":
            resp = C.Message(code=C.CONTENT, payload=b"v0")
            if req.uint(C.OBSERVE) == 0:
                self.observers.append((req.peer, bytes(req.token)))
                resp.add(C.OBSERVE, 1)
            return resp
        return C.Message(code=C.NOT_FOUND)


def test_aiocoap_client_against_our_server():
    async def main():
        dev = _Device()
        lost = {"out": 0}

        def drop(raw, peer, way):
            if way == "out" and lost["out"]:
                lost["out"] -= 1
                return True
            return False
        us = await Runner.open(Endpoint(dev, params=FAST), drop=drop)
        base = "coap://%s:%d" % (HOST, us.port)
        ctx = await aiocoap.Context.create_client_context()
        try:
            r = await ctx.request(aiocoap.Message(code=Code.GET, uri=base + "/3/0/0")).response
            assert r.code == Code.CONTENT and r.payload == b"China Mobile"
            # Block2 served in 512-byte blocks (And-link spec section 3.4), reassembled by aiocoap
            r = await ctx.request(aiocoap.Message(code=Code.GET, uri=base + "/big")).response
            assert r.payload == BIG and dev.hits["/big"] == 10
            # Block1 upload: aiocoap's 1024-byte blocks, our 2.31 asks for 512 (RFC 7959 2.5)
            r = await ctx.request(aiocoap.Message(code=Code.PUT, uri=base + "/upload", payload=BIG)).response
            assert r.code == Code.CHANGED and bytes(dev.rx.body) == BIG
            sizes = [len(m.payload) for m in us.received if m.path == "/upload"]
            assert sizes == [1024] + [512] * 7 + [5000 - 1024 - 7 * 512]
            final = [m for m in us.sent if m.code == C.CHANGED][-1]
            assert B.get_block(final, C.BLOCK1) == (9, False, 5)             # finish(): M=0
            # separate response: empty ACK after ack_delay, then a CON response (RFC 7252 5.2.2)
            n = len(us.sent)
            fut = ctx.request(aiocoap.Message(code=Code.GET, uri=base + "/slow")).response
            await until(lambda: dev.slow and any(m.mtype == C.ACK and m.code == C.EMPTY for m in us.sent[n:]),
                        "the request and our empty ACK")
            us.ep.respond(dev.slow[0], C.Message(code=C.CONTENT, payload=b"later"), us.now())
            us.flush()
            r = await fut
            assert r.payload == b"later" and r.mtype == aiocoap.CON
            assert any(m.mtype == C.ACK and m.code == C.EMPTY for m in us.sent)
            # our first response is lost: aiocoap retransmits, we answer from the cache (RFC 7252 4.5)
            lost["out"] = 1
            r = await ctx.request(aiocoap.Message(code=Code.GET, uri=base + "/3/0/0")).response
            assert r.payload == b"China Mobile" and dev.hits["/3/0/0"] == 2
            dup = [m for m in us.received if m.path == "/3/0/0"]
            assert len(dup) == 3 and dup[1].mid == dup[2].mid
            # Observe: our notifications, NON and CON (RFC 7641 4.2, 4.5)
            req = ctx.request(aiocoap.Message(code=Code.GET, uri=base + "/obs", observe=0))
            first = await req.response
            assert first.payload == b"v0"
            peer, token = dev.observers[0]
            seen = []
            it = req.observation.__aiter__()
            for i, con in ((1, False), (2, True), (3, False)):
                us.ep.notify(peer, token, C.Message(code=C.CONTENT, payload=b"v%d" % i), us.now(), con=con)
                us.flush()
                seen.append((await asyncio.wait_for(it.__anext__(), 10)).payload)
            assert seen == [b"v1", b"v2", b"v3"]
            assert ("acked", token, None, peer) in us.events
            req.observation.cancel()
        finally:
            await ctx.shutdown()
            us.close()
    run(main())


# == libcoap ===================================================================

def _wait_bound(port, proc, seconds=10):
    """Until something (the coap-server) holds UDP `port` on HOST."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert proc.poll() is None, "coap-server exited: %s" % proc.returncode
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((HOST, port))
        except OSError:
            return
        finally:
            s.close()
        time.sleep(0.05)
    raise AssertionError("coap-server did not bind port %d" % port)


@needs_libcoap
def test_coap_client_against_our_server(tmp_path):
    async def main():
        dev = _Device()
        lost = {"out": 0}

        def drop(raw, peer, way):
            if way == "out" and lost["out"]:
                lost["out"] -= 1
                return True
            return False
        us = await Runner.open(Endpoint(dev, params=FAST), drop=drop)
        base = "coap://%s:%d" % (HOST, us.port)

        async def client(*args):
            p = await asyncio.create_subprocess_exec(COAP_CLIENT, *args, stdout=subprocess.PIPE,
                                                     stderr=subprocess.PIPE)
            out, err = await asyncio.wait_for(p.communicate(), 30)
            assert p.returncode == 0, err
            return out
        try:
            assert (await client("-m", "get", base + "/3/0/0")).strip() == b"China Mobile"
            await client("-m", "get", "-b", "512", "-o", str(tmp_path / "big"), base + "/big")
            assert (tmp_path / "big").read_bytes() == BIG
            (tmp_path / "up").write_bytes(BIG[:4000])
            await client("-m", "put", "-b", "512", "-f", str(tmp_path / "up"), base + "/upload")
            assert bytes(dev.rx.body) == BIG[:4000]
            blocks = [B.get_block(m, C.BLOCK1) for m in us.received if m.path == "/upload"]
            assert [b[0] for b in blocks] == list(range(8)) and blocks[-1][1] is False
            # our first response is lost: coap-client retransmits; the resource runs once
            lost["out"] = 1
            assert (await client("-m", "get", base + "/3/0/0")).strip() == b"China Mobile"
            assert dev.hits["/3/0/0"] == 2
            dup = [m for m in us.received if m.path == "/3/0/0"]
            assert len(dup) == 3 and dup[1].mid == dup[2].mid
        finally:
            us.close()
    run(main())


@needs_libcoap
def test_our_client_against_coap_server():
    port = free_port()
    proc = subprocess.Popen([COAP_SERVER, "-A", HOST, "-p", str(port), "-d", "4", "-v", "3"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def main():
        srv = (HOST, port)
        lost = {"out": 1}

        def drop(raw, peer, way):
            if lost.get(way):
                lost[way] -= 1
                return True
            return False
        us = await Runner.open(Endpoint(params=FAST, rng=zeros), drop=drop)
        try:
            ev = await us.request(C.Message(code=C.GET).set_path("/"), srv)
            assert ev[0] == "response" and b"libcoap" in ev[2].payload
            assert len(us.sent) == 1                 # the first was dropped, the retransmission went
            # Block1 upload then Block2 download of the same few KB (libcoap stores it)
            up = B.Block1Upload(us.ep, C.Message(code=C.PUT).set_path("/example_data"), BIG, srv)
            await us.transfer(up)
            assert up.state == B.DONE and up.response.code in (C.CHANGED, C.CREATED), up.error
            got = bytearray()
            dl = B.Block2Download(us.ep, C.Message(code=C.GET).set_path("/example_data"),
                                  lambda off, data: got.extend(data), srv)
            await us.transfer(dl)
            assert dl.state == B.DONE and bytes(got) == BIG
            assert dl.total == len(BIG) and dl.etag is not None                # Size2, ETag
            ev = await us.request(C.Message(code=C.GET).set_path("/async").add(C.URI_QUERY, "1"), srv)
            assert ev[0] == "response" and ev[2].mtype in (C.CON, C.NON)        # separate response
            assert ("acked", ev[1], None, srv) in us.events
        finally:
            us.close()
    try:
        _wait_bound(port, proc)
        run(main())
    finally:
        proc.terminate()
        proc.wait(10)
