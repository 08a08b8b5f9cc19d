"""Block-wise transfers (RFC 7959 2.2-2.5, 3, 4) between two sans-I/O
endpoints: Block2 download with resume, ETag check and a smaller server
block size, Block1 upload with 2.31 Continue, serving Block2 and receiving
Block1; And-link spec section 3.4's 1024-byte payload limit, 512-byte
preferred block size and 5-minute block lifetime.  Portable."""

from andlink import coap as C, coapblock as B
from andlink.coapendpoint import Endpoint

BODY = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(3000))


def fill(b):
    return lambda n: bytes((b,)) * n


def _raises(exc, f, *args):
    try:
        f(*args)
    except exc as e:
        return e
    raise AssertionError("%s not raised" % exc.__name__)


class Net:
    """A client endpoint and a server endpoint wired together in memory;
    `drop(raw, to)` True loses a datagram."""

    def __init__(self, handler, cparams=C.ANDLINK, sparams=C.ANDLINK):
        self.client = Endpoint(rng=fill(0), params=cparams)
        self.server = Endpoint(handler, rng=fill(0x40), params=sparams)
        self.drop = None
        self.now = 0
        self.sent = 0

    def pump(self, helper):
        """Move datagrams and feed the client's events to `helper` until quiet;
        then advance time to the next deadline, until the helper finishes or
        nothing is due."""
        for _ in range(10000):
            moved = False
            for raw, _ in self.client.outgoing():
                moved = True
                self.sent += 1
                if not (self.drop and self.drop(raw, "server")):
                    self.server.receive(raw, self.now, "client")
            for raw, _ in self.server.outgoing():
                moved = True
                if not (self.drop and self.drop(raw, "client")):
                    self.client.receive(raw, self.now, "server")
            for ev in self.client.events():
                assert helper.handle(ev, self.now), ev
            self.server.events()
            if helper.state != B.RUNNING:
                return helper
            if not moved:
                ds = [d for d in (self.client.deadline(), self.server.deadline()) if d is not None]
                if not ds:
                    return helper
                self.now = min(ds)
                self.client.tick(self.now)
                self.server.tick(self.now)
        raise AssertionError("no end")


def serving(body, etag=b"v1", params=C.ANDLINK, seen=None):
    def handler(req, now):
        if seen is not None:
            seen.append(B.get_block(req, C.BLOCK2))
        resp = C.Message(code=C.CONTENT).add(C.ETAG, etag).add(C.CONTENT_FORMAT, C.OCTET_STREAM)
        return B.serve_block2(req, resp, body, params)
    return handler


def collect():
    got = []

    def sink(offset, data):
        assert offset == sum(len(g) for g in got)
        got.append(bytes(data))
    return got, sink


def test_szx_and_option_values():
    # RFC 7959 2.2: size 2 ** (SZX + 4), SZX 7 reserved; NUM 20 bits, M, SZX in a uint.
    assert [B.szx_size(s) for s in range(7)] == [16, 32, 64, 128, 256, 512, 1024]
    assert B.size_szx(512) == 5 and B.size_szx(1024) == 6 and B.size_szx(1000) == 5 and B.size_szx(5) == 0
    _raises(C.BadOption, B.szx_size, 7)
    assert B.encode_block(0, False, 0) == 0 and C.uint_bytes(0) == b""       # block 0/0/16: no bytes
    assert B.encode_block(1, True, 5) == 0x1D and B.decode_block(0x1D) == (1, True, 5)
    assert B.encode_block(0xFFFFF, False, 6) == 0xFFFFF6
    assert B.decode_block(b"\x0f\xff\xfe") == (0xFFFF, True, 6)
    _raises(C.BadOption, B.decode_block, 0x17)                                 # SZX 7
    _raises(C.BadOption, B.decode_block, b"\x00\x00\x00\x16")                  # 4 bytes
    _raises(C.CoapError, B.encode_block, 0x100000, False, 0)
    m = C.Message().add(C.BLOCK2, B.encode_block(3, False, 5))
    assert B.get_block(m, C.BLOCK2) == (3, False, 5) and B.get_block(m, C.BLOCK1) is None


def test_serve_block2():
    # RFC 7959 2.4: the server picks the smaller of the client's and its own size;
    # And-link spec section 3.4: 512, and bodies over 1024 bytes only in blocks.
    req = C.Message(code=C.GET)
    r = B.serve_block2(req, C.Message(code=C.CONTENT), bytes(1024))
    assert len(r.payload) == 1024 and not r.has(C.BLOCK2)
    r = B.serve_block2(req, C.Message(code=C.CONTENT), BODY)
    assert B.get_block(r, C.BLOCK2) == (0, True, 5) and r.uint(C.SIZE2) == 3000 and bytes(r.payload) == BODY[:512]
    req = C.Message(code=C.GET).add(C.BLOCK2, B.encode_block(1, False, 6))    # 1024 asked: 512 served
    r = B.serve_block2(req, C.Message(code=C.CONTENT), BODY)
    assert B.get_block(r, C.BLOCK2) == (2, True, 5) and bytes(r.payload) == BODY[1024:1536]
    assert not r.has(C.SIZE2)
    req = C.Message(code=C.GET).add(C.BLOCK2, B.encode_block(11, False, 4)).add(C.SIZE2, 0)
    r = B.serve_block2(req, C.Message(code=C.CONTENT), BODY)
    assert B.get_block(r, C.BLOCK2) == (11, False, 4) and bytes(r.payload) == BODY[2816:] and r.uint(C.SIZE2) == 3000
    req = C.Message(code=C.GET).add(C.BLOCK2, B.encode_block(12, False, 4))   # past the end
    assert B.serve_block2(req, C.Message(code=C.CONTENT), BODY).code == C.BAD_OPTION
    req = C.Message(code=C.GET).add(C.BLOCK2, B.encode_block(0, False, 4))
    r = B.serve_block2(req, C.Message(code=C.CONTENT), b"tiny")
    assert B.get_block(r, C.BLOCK2) == (0, False, 4) and r.payload == b"tiny"


def test_block2_download_whole():
    # RFC 7959 3.2: block 0 asked with the preferred size (512) and Size2 0 (section 4).
    seen = []
    got, sink = collect()
    net = Net(serving(BODY, seen=seen))
    dl = B.Block2Download(net.client, C.Message(code=C.GET).set_path("/5/0/0"), sink, "server")
    dl.start(0)
    net.pump(dl)
    assert dl.state == B.DONE and b"".join(got) == BODY and dl.total == 3000 and dl.etag == b"v1"
    assert [len(g) for g in got] == [512] * 5 + [440] and net.sent == 6
    assert seen == [(n, False, 5) for n in range(6)]


def test_block2_download_resume_from_a_block():
    got, sink = collect()
    net = Net(serving(BODY))
    dl = B.Block2Download(net.client, C.Message(code=C.GET).set_path("/fw"), sink, "server", start=4, etag=b"v1")
    assert dl.offset == 2048 and dl.num == 4
    dl.start(0)
    got.insert(0, bytes(2048))                          # what was written before
    net.pump(dl)
    assert dl.state == B.DONE and b"".join(got)[2048:] == BODY[2048:] and net.sent == 2


def test_block2_download_etag_change_fails():
    # RFC 7959 2.4: the representation changed under the transfer.
    net = Net(serving(BODY, etag=b"v2"))
    dl = B.Block2Download(net.client, C.Message(code=C.GET), lambda o, d: None, "server", start=2, etag=b"v1")
    dl.start(0)
    net.pump(dl)
    assert dl.state == B.FAILED and "ETag" in dl.error


def test_block2_download_takes_a_smaller_server_size():
    got, sink = collect()
    net = Net(serving(BODY, params=C.Params(block_size=256)))
    dl = B.Block2Download(net.client, C.Message(code=C.GET), sink, "server")
    dl.start(0)
    net.pump(dl)
    assert dl.state == B.DONE and b"".join(got) == BODY and dl.szx == 4 and net.sent == 12


def test_block2_download_error_response():
    net = Net(lambda req, now: C.Message(code=C.NOT_FOUND))
    dl = B.Block2Download(net.client, C.Message(code=C.GET), lambda o, d: None, "server")
    dl.start(0)
    net.pump(dl)
    assert dl.state == B.FAILED and "4.04" in dl.error


def test_block2_download_survives_losses_within_the_lifetime():
    # And-link spec section 3.4: BLOCKWISE_STATUS_LIFETIME 5 min between blocks.  The
    # third block is lost for 150 s (every datagram to the server): the request fails
    # after MAX_TRANSMIT_WAIT and is sent again; the transfer completes.
    got, sink = collect()
    net = Net(serving(BODY))
    net.drop = lambda raw, to: to == "server" and 10 <= net.now < 160 and B.get_block(
        C.decode(raw), C.BLOCK2)[0] == 2
    dl = B.Block2Download(net.client, C.Message(code=C.GET), sink, "server")
    dl.start(0)
    net.now = 10
    net.pump(dl)
    assert dl.state == B.DONE and b"".join(got) == BODY and dl.retries == 0 and net.now > 160


def test_block2_download_gives_up_after_the_lifetime():
    net = Net(serving(BODY))
    # block 1 never reaches the server: its request fails every 93 s (MAX_TRANSMIT_WAIT)
    # and is sent again until 300 s have passed since block 0 (at 1 s)
    net.drop = lambda raw, to: to == "server" and B.get_block(C.decode(raw), C.BLOCK2)[0] >= 1
    dl = B.Block2Download(net.client, C.Message(code=C.GET), lambda o, d: None, "server")
    dl.start(0)
    net.now = 1
    net.pump(dl)
    assert dl.state == B.FAILED and "timeout" in dl.error and dl.num == 1
    assert net.now == 1 + 93 * 4 and dl.retries == 3


def test_block1_upload_with_continue_and_final_block1():
    # RFC 7959 2.5 / 3.3: 2.31 Continue after each block but the last, Block1 echoed;
    # Size1 on the first block (section 4); the final response carries Block1 M=0.
    rx = B.Block1Receiver(max_size=4096)
    log = []

    def handler(req, now):
        log.append((B.get_block(req, C.BLOCK1), req.uint(C.SIZE1)))
        resp = rx.feed(req, now)
        if resp is not None:
            return resp
        return rx.finish(C.Message(code=C.CHANGED))
    net = Net(handler)
    up = B.Block1Upload(net.client, C.Message(code=C.PUT).set_path("/19/0/0"), BODY, "server")
    up.start(0)
    net.pump(up)
    assert up.state == B.DONE and up.response.code == C.CHANGED and bytes(rx.body) == BODY
    assert B.get_block(up.response, C.BLOCK1) == (5, False, 5) and rx.size == 3000
    assert log == [((0, True, 5), 3000)] + [((n, n < 5, 5), None) for n in range(1, 6)]


def test_block1_upload_server_asks_a_smaller_size():
    # RFC 7959 3.3 figure 7: the 2.31 to block 0 names a smaller SZX; the client goes on
    # from the next offset in that size.
    rx = B.Block1Receiver(max_size=4096, params=C.Params(block_size=128))
    sizes = []

    def handler(req, now):
        sizes.append(len(req.payload))
        return rx.feed(req, now) or rx.finish(C.Message(code=C.CHANGED))
    net = Net(handler)
    up = B.Block1Upload(net.client, C.Message(code=C.POST), BODY[:1000], "server")
    up.start(0)
    net.pump(up)
    assert up.state == B.DONE and bytes(rx.body) == BODY[:1000]
    assert sizes == [512, 128, 128, 128, 104]


def test_block1_too_large_and_out_of_order():
    # RFC 7959 2.9.3: 4.13 with Size1 = what the server takes; 2.9.2: 4.08 for a block
    # of an unknown transfer or out of order.
    rx = B.Block1Receiver(max_size=1000)
    net = Net(lambda req, now: rx.feed(req, now) or C.Message(code=C.CHANGED))
    up = B.Block1Upload(net.client, C.Message(code=C.PUT), BODY, "server")
    up.start(0)
    net.pump(up)
    assert up.state == B.FAILED and up.response.code == C.REQUEST_ENTITY_TOO_LARGE
    assert up.response.uint(C.SIZE1) == 1000
    rx = B.Block1Receiver()
    req = C.Message(code=C.PUT, payload=bytes(512)).add(C.BLOCK1, B.encode_block(1, True, 5))
    assert rx.feed(req, 0).code == C.REQUEST_ENTITY_INCOMPLETE
    req0 = C.Message(code=C.PUT, payload=bytes(512)).add(C.BLOCK1, B.encode_block(0, True, 5))
    assert rx.feed(req0, 0).code == C.CONTINUE
    req2 = C.Message(code=C.PUT, payload=bytes(10)).add(C.BLOCK1, B.encode_block(2, False, 5))
    assert rx.feed(req2, 1).code == C.REQUEST_ENTITY_INCOMPLETE
    # the lifetime (And-link spec section 3.4) passed: block 1 belongs to no transfer
    assert rx.feed(req0, 0).code == C.CONTINUE
    assert rx.feed(req, 301).code == C.REQUEST_ENTITY_INCOMPLETE
    # without Block1: complete at once
    assert rx.feed(C.Message(code=C.PUT, payload=b"abc"), 302) is None and rx.body == b"abc"


def test_block1_upload_sink_streams_without_holding_the_body():
    parts = []
    rx = B.Block1Receiver(max_size=1 << 20, sink=lambda off, d: parts.append((off, bytes(d))))
    net = Net(lambda req, now: rx.feed(req, now) or rx.finish(C.Message(code=C.CHANGED)))
    up = B.Block1Upload(net.client, C.Message(code=C.PUT), BODY, "server", size=1024)
    up.start(0)
    net.pump(up)
    assert up.state == B.DONE and rx.body == bytearray() and b"".join(p for _, p in parts) == BODY
    # block 0 in the client's 1024 bytes, then the server's 512 (RFC 7959 2.5)
    assert [o for o, _ in parts] == [0, 1024, 1536, 2048, 2560]


def test_block1_receiver_repeated_block_and_bad_block2_option():
    # A block sent again in a new request (its 2.31 was lost for good) is acknowledged
    # again and not stored twice; a Block2 with SZX 7 (RFC 7959 2.2) answers 4.02.
    rx = B.Block1Receiver()
    blocks = [C.Message(code=C.PUT, payload=BODY[n * 512:(n + 1) * 512]).add(
        C.BLOCK1, B.encode_block(n, n < 2, 5)) for n in range(3)]
    assert rx.feed(blocks[0], 0).code == C.CONTINUE
    assert rx.feed(blocks[1], 1).code == C.CONTINUE
    r = rx.feed(blocks[1], 2)
    assert r.code == C.CONTINUE and B.get_block(r, C.BLOCK1) == (1, True, 5)
    assert rx.feed(blocks[2], 3) is None and bytes(rx.body) == BODY[:1536]
    req = C.Message(code=C.GET).add(C.BLOCK2, 0x17)
    assert B.serve_block2(req, C.Message(code=C.CONTENT), BODY).code == C.BAD_OPTION


def test_block2_download_reset_fails_at_once():
    # An RST is the server's refusal: no retry loop (only timeouts are retried).
    net = Net(serving(BODY))
    net.drop = lambda raw, to: False
    dl = B.Block2Download(net.client, C.Message(code=C.GET), lambda o, d: None, "server")
    dl.start(0)
    raw, _ = net.client.outgoing()[0]
    net.client.receive(C.encode(C.Message(C.RST, C.EMPTY, C.decode(raw).mid)), 0, "server")
    for ev in net.client.events():
        assert dl.handle(ev, 0)
    assert dl.state == B.FAILED and "reset" in dl.error and dl.retries == 0
