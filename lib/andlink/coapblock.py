"""Block-wise transfers (RFC 7959) over andlink.coapendpoint: the Block1 and
Block2 option values, a client's Block2 download and Block1 upload, and a
server's Block2 serving and Block1 reassembly.  And-link spec section 3.4:
payloads up to 1024 bytes, preferred block size 512, and at most 5 minutes
(BLOCKWISE_STATUS_LIFETIME) between two blocks of a transfer; block-wise
transfer is what the firmware download uses (section 3.2, the Pull method).

The client helpers are driven by the endpoint's events: start(now) sends the
first request, then every event whose token is the helper's goes to
handle(ev, now) (it returns True for those).  .state is RUNNING, DONE or
FAILED (.error says why).  A request that fails (timeout, RST) is sent again
while the last block is younger than the lifetime, so a download survives a
link outage of up to 5 minutes and can be resumed after that from .num.
"""

from micropython import const

from andlink import coap as C

RUNNING = const(0)
DONE = const(1)
FAILED = const(2)

MAX_NUM = const(0xFFFFF)        # 20 bits (RFC 7959 2.2)


def szx_size(szx):
    """Block size for SZX 0-6: 2 ** (SZX + 4) (RFC 7959 2.2)."""
    if not 0 <= szx <= 6:
        raise C.BadOption("SZX %d (7 is reserved)" % szx)
    return 1 << (szx + 4)


def size_szx(size):
    """The SZX of the largest block size <= `size` (16 to 1024)."""
    szx = 0
    while szx < 6 and (1 << (szx + 5)) <= size:
        szx += 1
    return szx


def encode_block(num, more, szx):
    """The Block1/Block2 option value (RFC 7959 2.2): NUM, M, SZX as a uint."""
    if not 0 <= num <= MAX_NUM or not 0 <= szx <= 6:
        raise C.CoapError("block number or SZX out of range")
    return (num << 4) | (8 if more else 0) | szx


def decode_block(v):
    """(num, more, szx) from an option value (int, or its raw bytes: at most 3)."""
    if not isinstance(v, int):
        if len(v) > 3:
            raise C.BadOption("Block option of %d bytes" % len(v))
        v = C.uint_value(v)
    szx = v & 7
    if szx == 7:
        raise C.BadOption("Block option with SZX 7 (reserved, RFC 7959 2.2)")
    return v >> 4, bool(v & 8), szx


def get_block(msg, num):
    """The Block option `num` (C.BLOCK1 or C.BLOCK2) of `msg`, decoded, or None."""
    v = msg.get(num)
    return None if v is None else decode_block(v)


def _copy(template):
    """A fresh request from `template`: its code and options (not its token)."""
    return C.Message(C.CON, template.code, options=list(template.options))


class _Client:
    """What Block2Download and Block1Upload share: the current request, the
    lifetime between blocks and the retry of a failed request."""

    error = None
    response = None

    def __init__(self, ep, template, peer, size, lifetime, con):
        self.ep = ep
        self.template = template
        self.peer = peer
        self.szx = size_szx(size or ep.p.block_size)
        self.lifetime = ep.p.block_lifetime if lifetime is None else lifetime
        self.con = con
        self.state = RUNNING
        self.token = None
        self.retries = 0            # requests sent again after a failure
        self._last = 0

    def start(self, now):
        """Send the first request; returns its token."""
        self._last = now
        self.state = RUNNING
        return self._send(now)

    def _fail(self, why):
        self.state = FAILED
        self.error = why
        self.token = None

    def handle(self, ev, now):
        """Feed one endpoint event; True when it was this transfer's."""
        kind, token = ev[0], ev[1]
        if self.state != RUNNING or token != self.token or ev[3] != self.peer:
            return False
        if kind == "failed":
            if ev[2] == "timeout" and now - self._last < self.lifetime:
                self.retries += 1
                self._send(now)
            else:
                self._fail("no block for %s s: %s" % (self.lifetime, ev[2]))
        elif kind == "response":
            try:
                self._response(ev[2], now)
            except C.CoapError as e:
                self._fail(str(e))
        return True


class Block2Download(_Client):
    """GET a representation block by block (RFC 7959 2.4, 3.2): blocks from
    `start`, each given to sink(offset, data) in order (data may be a view:
    use it before the next receive).  The first response's ETag (or `etag`,
    when resuming) must stay the same in every block (RFC 7959 2.4: the
    representation must not change under the transfer); a block must be at
    the offset asked for.  A server's smaller block size is taken up.
    .total: the Size2 the server announced (RFC 7959 4), else None;
    .offset: bytes received (from the start block on: .num is the next)."""

    total = None

    def __init__(self, ep, template, sink, peer=None, start=0, etag=None, size=None, lifetime=None, con=True):
        _Client.__init__(self, ep, template, peer, size, lifetime, con)
        self.sink = sink
        self.etag = None if etag is None else bytes(etag)
        self.offset = start * szx_size(self.szx)

    @property
    def num(self):
        return self.offset >> (self.szx + 4)

    def _send(self, now):
        m = _copy(self.template)
        m.set(C.BLOCK2, encode_block(self.num, False, self.szx))
        if self.offset == 0:
            m.set(C.SIZE2, 0)           # ask for the total size (RFC 7959 4)
        self.token = self.ep.request(m, now, self.peer, self.con)
        return self.token

    def _response(self, msg, now):
        if msg.code != C.CONTENT:
            self._fail("response " + C.code_str(msg.code))
            return
        etag = msg.get(C.ETAG)
        if etag is not None:
            etag = bytes(etag)
        if self.etag is None:
            self.etag = etag
        elif etag != self.etag:
            self._fail("ETag changed: the resource changed under the transfer")
            return
        size2 = msg.uint(C.SIZE2)
        if size2 is not None:
            self.total = size2
        blk = get_block(msg, C.BLOCK2)
        if blk is None:                 # the whole representation at once
            self.sink(self.offset, memoryview(msg.payload)[self.offset:])
            self.offset = max(self.offset, len(msg.payload))
            self._done(now)
            return
        num, more, szx = blk
        if szx > self.szx or (num << (szx + 4)) != self.offset:
            self._fail("block %d/SZX %d is not the one asked for (offset %d)" % (num, szx, self.offset))
            return
        if more and len(msg.payload) != szx_size(szx):
            self._fail("block %d of %d bytes in a %d-byte block size" % (num, len(msg.payload), szx_size(szx)))
            return
        self.szx = szx
        self.sink(self.offset, msg.payload)
        self.offset += len(msg.payload)
        self._last = now
        if more:
            self.retries = 0
            self._send(now)
        else:
            self._done(now)

    def _done(self, now):
        self.state = DONE
        self.token = None


class Block1Upload(_Client):
    """PUT or POST `data` (bytes-like; sliced as memoryviews, never copied)
    block by block (RFC 7959 2.5, 3.3): Size1 on the first block (RFC 7959 4),
    2.31 Continue awaited after each block but the last, a server's smaller
    block size taken up.  .response is the final response (DONE), or the
    error response (FAILED: 4.13 carries the largest size the server takes in
    Size1)."""

    def __init__(self, ep, template, data, peer=None, size=None, lifetime=None, con=True):
        _Client.__init__(self, ep, template, peer, size, lifetime, con)
        self.data = memoryview(data)
        self.offset = 0                 # bytes acknowledged

    def _send(self, now):
        size = szx_size(self.szx)
        n = len(self.data)
        end = self.offset + size
        if end > n:
            end = n
        m = _copy(self.template)
        m.set(C.BLOCK1, encode_block(self.offset >> (self.szx + 4), end < n, self.szx))
        if self.offset == 0:
            m.set(C.SIZE1, n)
        m.payload = self.data[self.offset:end]
        self._sent = end
        self.token = self.ep.request(m, now, self.peer, self.con)
        return self.token

    def _response(self, msg, now):
        more = self._sent < len(self.data)
        blk = get_block(msg, C.BLOCK1)
        if msg.code >= C.BAD_REQUEST:
            self.response = msg
            self._fail("response " + C.code_str(msg.code))
            return
        if not more:
            self.offset = self._sent
            self.response = msg
            self.state = DONE
            self.token = None
            return
        if msg.code != C.CONTINUE or blk is None:
            self.response = msg
            self._fail("block %d answered %s, not 2.31 Continue" % (self.offset >> (self.szx + 4), C.code_str(msg.code)))
            return
        num, _, szx = blk
        if (num << (self.szx + 4)) != self.offset or szx > self.szx:
            self._fail("2.31 for block %d/SZX %d, not the block sent" % (num, szx))
            return
        self.offset = self._sent
        self._last = now
        self.retries = 0
        if szx < self.szx:
            self.szx = szx              # RFC 7959 2.5: the server's smaller size from now on
        self._send(now)


def serve_block2(req, resp, body, params=C.ANDLINK):
    """Fill `resp` (code, options already set: an ETag of the representation
    too) with the block of `body` that `req` asks for (RFC 7959 2.4): the
    whole `body` when it fits params.max_payload and no Block2 was asked for;
    else the requested block (block 0 unasked) in the client's size or
    params.block_size, whichever is smaller, as a memoryview of `body`, with
    Block2 and, on block 0 or when asked for, Size2 (RFC 7959 4).  A block past
    the end answers 4.02 Bad Option.  Returns `resp`."""
    try:
        blk = get_block(req, C.BLOCK2)
    except C.BadOption:
        resp.code = C.BAD_OPTION
        resp.payload = b""
        return resp
    n = len(body)
    if blk is None and n <= params.max_payload:
        resp.payload = body
        return resp
    num, szx = (0, 7) if blk is None else (blk[0], blk[2])
    mine = size_szx(params.block_size)
    offset = 0 if blk is None else num << (szx + 4)
    if szx > mine:
        szx = mine
    size = 1 << (szx + 4)
    if offset and offset >= n:
        resp.code = C.BAD_OPTION
        resp.payload = b""
        return resp
    end = offset + size if offset + size < n else n
    resp.set(C.BLOCK2, encode_block(offset >> (szx + 4), end < n, szx))
    if offset == 0 or req.has(C.SIZE2):
        resp.set(C.SIZE2, n)
    resp.payload = memoryview(body)[offset:end]
    return resp


class Block1Receiver:
    """A server's side of Block1 uploads to one resource (RFC 7959 2.5, 3.3),
    atomic: feed(req, now) every request to it; it answers a block that is
    not the last with the response to send (2.31 Continue, or 4.08 Request
    Entity Incomplete for a block out of order or of a transfer that is not
    known, 4.13 Request Entity Too Large past `max_size`, with Size1), and
    returns None when the request is complete: then .body (or, with a sink,
    what sink(offset, data) was given) is the whole payload and finish(resp)
    puts the Block1 option on the final response.  A request without Block1
    is complete at once.  A transfer idle for longer than the lifetime is
    forgotten; block 0 starts a new one."""

    def __init__(self, max_size=4096, sink=None, params=C.ANDLINK):
        self.max_size = max_size
        self.sink = sink
        self.szx = size_szx(params.block_size)
        self.lifetime = params.block_lifetime
        self.body = bytearray()
        self._peer = None
        self._next = 0              # bytes received
        self._prev = None           # offset of the last block stored
        self._last = None
        self._block = None

    def feed(self, req, now):
        self._block = blk = get_block(req, C.BLOCK1)
        if blk is None:
            self.body = req.payload
            self._next = len(req.payload)
            return None
        num, more, szx = blk
        offset = num << (szx + 4)
        size1 = req.uint(C.SIZE1)
        if self._last is not None and now - self._last > self.lifetime:
            self._last = None
        if offset == 0:
            self._peer = req.peer
            self._next = 0
            self.body = bytearray()
            self._last = now
        elif self._last is None or req.peer != self._peer:
            return C.Message(code=C.REQUEST_ENTITY_INCOMPLETE)
        elif offset != self._next:
            if more and offset == self._prev:       # the last block again (a new request after a
                return self._continue(num, szx)     # lost 2.31): acknowledged, not stored twice
            return C.Message(code=C.REQUEST_ENTITY_INCOMPLETE)
        if more and len(req.payload) != (1 << (szx + 4)):
            return C.Message(code=C.BAD_REQUEST)
        if offset + len(req.payload) > self.max_size or (size1 is not None and size1 > self.max_size):
            self._last = None
            return C.Message(code=C.REQUEST_ENTITY_TOO_LARGE).set(C.SIZE1, self.max_size)
        if self.sink is not None:
            self.sink(offset, req.payload)
        else:
            self.body += req.payload
        self._prev = offset
        self._next = offset + len(req.payload)
        self._last = now
        if not more:
            self._last = None
            return None
        return self._continue(num, szx)

    def _continue(self, num, szx):
        """2.31 echoing the block; on block 0 it may ask for a smaller size
        from the next block on (RFC 7959 2.5, figure 7 of section 3.3)."""
        resp = C.Message(code=C.CONTINUE)
        return resp.set(C.BLOCK1, encode_block(num, True, self.szx if num == 0 and self.szx < szx else szx))

    @property
    def size(self):
        return self._next

    def finish(self, resp):
        """Put the last block's Block1 (M=0) on the final response `resp`."""
        if self._block is not None:
            resp.set(C.BLOCK1, encode_block(self._block[0], False, self._block[2]))
        return resp
