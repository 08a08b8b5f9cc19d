"""A scripted LwM2M server, Bootstrap-Server and file server for the And-link
client's flow tests (portable): datagrams in and out of the sans-I/O client,
decoded and built with the project's CoAP codec.  No policy of its own:
each test says what the server answers and when.  Also the device's store
as a board fills it, and update files (wmmp.board.otaimage) for FOTA."""

from andlink import coap as C
from andlink.client.core import Client
from andlink.lwm2m.store import Store

IMEI = "869976032983322"            # the spec's example IMEI (4.1.2)
SRV = ("192.0.2.10", 5683)          # the LwM2M server (documentation addresses: no traffic, sans-I/O)
BS = ("192.0.2.20", 5683)           # the Bootstrap-Server
FILES = ("192.0.2.30", 5683)        # the package server
TOKEN = "pt-4f1c9a7e2b"             # product token -> /3/0/1 (3.5)
DTYPE = "590001"                    # device type -> /3/0/17


def fill(b):
    """An rng of one byte repeated: 0 gives ACK_TIMEOUT exactly."""
    return lambda n: bytes((b,)) * n


def make_store(binding="U"):
    s = Store()
    s.add(3, 0, {0: "ACME", 1: TOKEN, 2: "SN0001", 3: "BC95-1.0", 9: 80, 10: 512, 11: {0: 0},
                 16: binding, 17: DTYPE, 19: "1.0.0"})
    s.add(4, 0, {0: 7, 1: {0: 7}, 2: -85, 4: {0: "10.1.2.3"}, 8: 123456})
    s.add(5, 0, {1: "", 3: 0, 5: 0, 9: 0})
    s.add(6, 0, {0: "26.0", 1: "171.0", 5: 1700000000})
    s.add(7, 0, {2: 0, 3: 0})
    s.add(19, 1, {0: '{"power":200}'})
    s.bind(3, 4, execute=lambda iid, args: None)
    s.bind(7, 6, execute=lambda iid, args: None)
    s.bind(7, 7, execute=lambda iid, args: None)
    return s


def client(store=None, server=SRV, bootstrap=None, persist=None, stager=None, params=None, **kw):
    store = store or make_store(kw.get("binding", "U"))
    return Client(store, IMEI, server=server, bootstrap=bootstrap, persist=persist, stager=stager,
                  rng=fill(0), params=params or C.Params(ack_delay=1), **kw)


class MemPersist:
    """The client's persistent record in RAM (survives a new Client)."""

    def __init__(self):
        self.d = None
        self.saves = 0

    def load(self):
        return None if self.d is None else dict(self.d)

    def save(self, d):
        self.d = dict(d)
        self.saves += 1


class Link:
    """The client `c` and the other side: what it sent (decoded), what it is
    fed, the clock."""

    def __init__(self, c, t=0):
        self.c = c
        self.t = t
        self._mid = 0x7000
        self._tok = 0
        self.log = []               # every (Message, peer) the client sent
        self.ev = []                # every event
        self._held = []             # sent, not yet looked at (ask() takes only its answer)

    def sent(self):
        out, self._held = self._held, []
        for raw, peer in self.c.outgoing():
            m = C.decode(raw)
            out.append((m, peer))
            self.log.append((m, peer))
        self.ev.extend(self.c.events())
        return out

    def one(self, peer=None):
        out = self.sent()
        assert len(out) == 1, out
        if peer is not None:
            assert out[0][1] == peer, out
        return out[0][0]

    def none(self):
        out = self.sent()
        assert out == [], out

    def events(self, kind=None):
        self.sent()
        return [e for e in self.ev if kind is None or e[0] == kind]

    def clear(self):
        self.sent()
        self.ev = []

    def deliver(self, msg, peer=SRV):
        self.c.receive(C.encode(msg), self.t, peer)

    def answer(self, req, code, payload=b"", opts=(), peer=SRV):
        """A piggybacked response to the client's request `req`."""
        m = C.Message(C.ACK, code, req.mid, req.token, payload)
        for n, v in opts:
            m.add(n, v)
        self.deliver(m, peer)

    def ask(self, code, path, peer=SRV, payload=b"", cf=None, accept=None, observe=None, queries=(),
            token=None, opts=()):
        """A CON request from the server; returns the client's response."""
        self._mid += 1
        if token is None:
            self._tok += 1
            token = b"\xa0" + bytes((self._tok & 255,))
        m = C.Message(C.CON, code, self._mid, token, payload)
        m.set_path(path)
        if observe is not None:
            m.add(C.OBSERVE, observe)
        for q in queries:
            m.add(C.URI_QUERY, q)
        if cf is not None:
            m.add(C.CONTENT_FORMAT, cf)
        if accept is not None:
            m.add(C.ACCEPT, accept)
        for n, v in opts:
            m.add(n, v)
        self.deliver(m, peer)
        out = []
        for x in self.sent():
            if x[0].mtype == C.ACK and x[0].mid == self._mid:
                out.append(x)
            else:
                self._held.append(x)
        assert len(out) == 1, self.log[-3:]
        return out[0][0]

    def advance(self, dt):
        """Move the clock by dt, ticking at every deadline on the way."""
        end = self.t + dt
        for _ in range(100000):
            d = self.c.deadline()
            if d is None or d > end:
                break
            if d > self.t:
                self.t = d
            self.c.tick(self.t)
        else:
            raise AssertionError("the deadline does not move: %r" % (self.c.deadline(),))
        self.t = end
        self.c.tick(end)

    def register(self, location=("rd", "5a3f")):
        """Start the client and accept its Register; returns the Register."""
        self.c.start(self.t)
        reg = self.one(SRV)
        assert reg.code == C.POST and reg.path == "/rd", reg
        self.answer(reg, C.CREATED, opts=[(C.LOCATION_PATH, s) for s in location])
        assert self.c.registered
        return reg


def update_file(payload=b"x" * 3000, version="2.0.0", board="test-board", kind="mpy-app"):
    """An update file: the 72-byte header and an "mpy-app" archive."""
    from wmmp.board import otaimage as I
    from hashlib import sha256
    body = I.archive_entry("app.py", payload)
    return I.build_header(board, version, kind, len(body), sha256(body).digest()) + body


class Files:
    """A Block2 package server (RFC 7959) with an ETag; counts the blocks
    it served by number."""

    def __init__(self, body, etag=b"e1", block=512):
        self.body = body
        self.etag = etag
        self.block = block
        self.served = []

    def serve(self, link, req, peer=FILES):
        from andlink.coapblock import serve_block2, get_block
        if req.path != "/fw/pkg":
            link.answer(req, C.NOT_FOUND, peer=peer)
            return
        resp = C.Message(code=C.CONTENT)
        if self.etag is not None:
            resp.add(C.ETAG, self.etag)
        serve_block2(req, resp, self.body, C.Params(block_size=self.block))
        blk = get_block(resp, C.BLOCK2)
        self.served.append(blk[0] if blk else 0)
        link.answer(req, resp.code, bytes(resp.payload), resp.options, peer)

    def pump(self, link, limit=10000, drop=None):
        """Answer every block request the client sends until it stops; the
        other messages it sent.  drop(n): True loses the n-th request."""
        other = []
        k = 0
        for _ in range(limit):
            reqs = []
            acked = False
            for m, p in link.sent():
                if p == FILES and m.code == C.GET:
                    reqs.append(m)
                else:
                    other.append((m, p))
                    if p == SRV and m.mtype == C.CON and m.code >> 5 == 2:
                        link.deliver(C.Message(C.ACK, C.EMPTY, m.mid), SRV)     # a notification: ACK
                        acked = True
            if not reqs and not acked:
                return other
            for m in reqs:
                k += 1
                if drop is None or not drop(k):
                    self.serve(link, m)
        raise AssertionError("no end to the download")
