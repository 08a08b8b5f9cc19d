"""The And-link platform simulator (tools/andlink_tools, docs/ANDLINK_PLATFORM.md)
against a FAKE device written here on aiocoap -- the real client is written
elsewhere, and the simulator must check encodings, not share them: this file
has its own small TLV / link-format code, and the simulator's codec is checked
against the spec's own example bytes.

Everything runs on loopback UDP with ports from the OS, the CoAP timers of And-link
spec section 3.4 scaled down (ACK_TIMEOUT 0.3 s) so a lost datagram costs
a fraction of a second.  Sections cited are those of the And-link spec (LPWAN
devices, 1.2)."""

import asyncio
import json
import struct
import time

import aiocoap
import pytest
from aiocoap import resource as aioresource
from aiocoap.numbers.codes import Code
from aiocoap.numbers.constants import TransportTuning
from aiocoap.optiontypes import BlockOption

from andlink_tools import codec
from andlink_tools.devices import Queued
from andlink_tools.fota import Policy
from andlink_tools.platform import Config, Platform

HOST = "127.0.0.1"
IMEI = "869976032983322"          # the spec's example IMEI (4.1.2)
IMEI2 = "869976032983330"
DEVICE_TYPE, PRODUCT_TOKEN = "590001", "pt-4f1c9a7e2b"
CF_TEXT, CF_LINK, CF_OPAQUE, CF_SENML, CF_TLV = 0, 40, 42, 110, 11542


class _Fast(TransportTuning):
    ACK_TIMEOUT = 0.2           # the fake device retransmits quickly too


FAST = _Fast()


def run(coro, timeout=40):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def config(**kw):
    base = dict(coap=(HOST, 0), ack_timeout=0.3, request_timeout=3.0, awake=2.0,
                policy=Policy(stall=3.0, download=15.0, update=5.0))
    base.update(kw)
    return Config(**base)


async def wait_for(cond, timeout=5.0, what="condition"):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for %s" % what)
        await asyncio.sleep(0.02)


# == the fake device's own encodings (not the simulator's) ==========================

def tlv(kind, ident, value):
    """One TLV (LwM2M TS 1.0 6.4.3), the simplest header that fits."""
    t = kind << 6
    idb = bytes([ident]) if ident < 256 else struct.pack(">H", ident)
    if ident >= 256:
        t |= 0x20
    if len(value) < 8:
        return bytes([t | len(value)]) + idb + value
    if len(value) < 256:
        return bytes([t | 0x08]) + idb + bytes([len(value)]) + value
    return bytes([t | 0x10]) + idb + struct.pack(">H", len(value)) + value


def tlv_value(v):
    if isinstance(v, bool):
        return b"\x01" if v else b"\x00"
    if isinstance(v, int):
        for n in (1, 2, 4, 8):
            if -(1 << (8 * n - 1)) <= v < (1 << (8 * n - 1)):
                return v.to_bytes(n, "big", signed=True)
    if isinstance(v, bytes):
        return v
    return str(v).encode()


def parse_tlv(buf):
    """{id: value bytes | {id: ...}} of one level (enough for the bootstrap writes)."""
    out, i = {}, 0
    while i < len(buf):
        t = buf[i]
        i += 1
        n_id = 2 if t & 0x20 else 1
        ident = int.from_bytes(buf[i:i + n_id], "big")
        i += n_id
        lt = (t >> 3) & 3
        if lt:
            length = int.from_bytes(buf[i:i + lt], "big")
            i += lt
        else:
            length = t & 7
        val = buf[i:i + length]
        i += length
        out[ident] = parse_tlv(val) if (t >> 6) in (0, 2) else val
    return out


# == the fake device ================================================================

class FakeDevice(aioresource.ObservableResource):
    """A stand-in for the And-link LwM2M client: an object tree answering Read
    (text/plain for one resource, TLV for an instance), Write, Execute, Discover,
    Write-Attributes, Create, Delete and Observe; it registers, updates, sends
    (/dp), bootstraps and pulls a FOTA package block by block.  Every request
    it receives is in .seen: (method, path, query, observe, token, cf, payload)."""

    def __init__(self, imei=IMEI, binding="U", lifetime=86400, links=None, version="1.0.0"):
        super().__init__()
        self.imei, self.binding, self.lifetime = imei, binding, lifetime
        self.links = links or "</>;rt=\"oma.lwm2m\",</1/0>,</3/0>,</4/0>,</5/0>,</19/1>"
        self.values = {
            (1, 0, 0): 1, (1, 0, 1): lifetime, (1, 0, 7): binding,
            (3, 0, 0): "Fake Maker", (3, 0, 1): PRODUCT_TOKEN, (3, 0, 2): "SN0001", (3, 0, 3): version,
            (3, 0, 9): 90, (3, 0, 10): 512, (3, 0, 11): 0, (3, 0, 13): 0, (3, 0, 14): "+08", (3, 0, 16): "UQ",
            (3, 0, 17): DEVICE_TYPE, (3, 0, 19): "mcu-1.0", (3, 0, 26261): 64,
            (4, 0, 2): -85, (4, 0, 8): 123456,
            (5, 0, 1): "", (5, 0, 3): 0, (5, 0, 5): 0,
        }
        self.params = {"power": 200, "temperature": "18.5"}     # object 19 (spec 4.2.2)
        self.seen = []
        self.observers = {}
        self.location = None
        self.server = None
        self.bootstrap = {}
        self.bs_finished = asyncio.Event()
        self.executed = []
        self.ctx = None
        # behaviour switches for the exception paths
        self.reject_observe_query = False
        self.fota_block_szx = 4                    # 256-byte blocks
        self.fota_fail = None                      # "download" | "integrity" | "update" | "stall"
        self.next_version = "2.0.0"
        self.downloaded = None
        self.ignore = False                         # sleeping: answers nothing

    # -- aiocoap plumbing ------------------------------------------------------------

    async def start(self):
        self.ctx = await aiocoap.Context.create_server_context(self, bind=(HOST, 0), transports=["udp6"])
        return self

    async def close(self):
        if self.ctx is not None:
            await self.ctx.shutdown()
            self.ctx = None

    async def needs_blockwise_assembly(self, request):
        return True

    async def add_observation(self, request, serverobservation):
        path = tuple(int(p) for p in request.opt.uri_path)
        if self.reject_observe_query and request.opt.uri_query:
            return
        self.observers[path] = serverobservation
        serverobservation.accept(lambda p=path, o=serverobservation: self.observers.get(p) is o and self.observers.pop(p))

    def notify(self, path):
        obs = self.observers.get(path)
        if obs is not None:
            obs.trigger()

    def set(self, path, value, notify=True):
        self.values[path] = value
        if notify:
            self.notify(path)

    async def render(self, request):
        path = tuple(request.opt.uri_path)
        self.seen.append((str(request.code), "/" + "/".join(path), tuple(request.opt.uri_query),
                          request.opt.observe, request.token, request.opt.content_format, bytes(request.payload)))
        if self.ignore:
            await asyncio.sleep(60)
        if path == ("bs",):
            self.bs_finished.set()
            return aiocoap.Message(code=Code.CHANGED)
        try:
            p = tuple(int(x) for x in path)
        except ValueError:
            return aiocoap.Message(code=Code.NOT_FOUND)
        if self.reject_observe_query and request.opt.observe == 0 and request.opt.uri_query:
            return aiocoap.Message(code=Code.BAD_REQUEST, payload=b"no query here")
        m = getattr(self, "_" + str(request.code).split()[-1].lower(), None)
        return await m(request, p) if m else aiocoap.Message(code=Code.METHOD_NOT_ALLOWED)

    # -- the operations ------------------------------------------------------------------

    async def _get(self, request, p):
        if request.opt.accept == CF_LINK:                              # Discover
            inst = sorted({k[:3] for k in self.values if k[:len(p)] == p})
            body = ",".join("</%d/%d/%d>" % k for k in inst)
            return aiocoap.Message(code=Code.CONTENT, content_format=CF_LINK, payload=body.encode())
        if p == (19, 1, 0):                                            # spec 4.2.2.2
            want = dict(q.split("=", 1) for q in request.opt.uri_query if "=" in q)
            params = {want["p"]: self.params[want["p"]]} if "p" in want else self.params
            return aiocoap.Message(code=Code.CONTENT, content_format=CF_SENML, payload=json.dumps(params).encode())
        if len(p) == 3:
            if p not in self.values:
                return aiocoap.Message(code=Code.NOT_FOUND)
            if request.opt.accept not in (None, CF_TEXT):
                return aiocoap.Message(code=Code.NOT_ACCEPTABLE)
            return aiocoap.Message(code=Code.CONTENT, content_format=CF_TEXT, payload=str(self.values[p]).encode())
        if len(p) == 2:
            body = b"".join(tlv(3, k[2], tlv_value(v)) for k, v in sorted(self.values.items()) if k[:2] == p)
            if not body:
                return aiocoap.Message(code=Code.NOT_FOUND)
            return aiocoap.Message(code=Code.CONTENT, content_format=CF_TLV, payload=body)
        return aiocoap.Message(code=Code.NOT_FOUND)

    async def _put(self, request, p):
        if request.opt.uri_query and not request.payload:               # Write-Attributes
            return aiocoap.Message(code=Code.CHANGED)
        if p[:1] in ((0,), (1,)) and len(p) == 2:                        # bootstrap writes
            self.bootstrap[p] = parse_tlv(bytes(request.payload))
            return aiocoap.Message(code=Code.CHANGED)
        if p == (19, 1, 0):
            self.params.update(json.loads(bytes(request.payload)))
            return aiocoap.Message(code=Code.CHANGED)
        if p == (5, 0, 1):
            uri = bytes(request.payload).decode()
            self.values[p] = uri
            if not uri:
                self.set((5, 0, 3), 0)
                self.values[(5, 0, 5)] = 0
            else:
                asyncio.get_running_loop().create_task(self._download(uri))
            return aiocoap.Message(code=Code.CHANGED)
        if len(p) == 3 and p in self.values:
            text = bytes(request.payload).decode()
            self.values[p] = int(text) if isinstance(self.values[p], int) else text
            return aiocoap.Message(code=Code.CHANGED)
        if len(p) == 2 and request.opt.content_format == CF_TLV:
            for rid, raw in parse_tlv(bytes(request.payload)).items():
                self.values[p + (rid,)] = raw
            return aiocoap.Message(code=Code.CHANGED)
        return aiocoap.Message(code=Code.NOT_FOUND)

    async def _post(self, request, p):
        if len(p) == 1:                                                  # Create
            iid = 1 + max([k[1] for k in self.values if k[0] == p[0]] or [-1])
            for rid, raw in parse_tlv(bytes(request.payload)).items():
                self.values[(p[0], iid, rid)] = raw
            return aiocoap.Message(code=Code.CREATED, location_path=(str(p[0]), str(iid)))
        self.executed.append((p, bytes(request.payload)))
        if p == (5, 0, 2):
            if self.values[(5, 0, 3)] != 2:
                return aiocoap.Message(code=Code.METHOD_NOT_ALLOWED)
            asyncio.get_running_loop().create_task(self._update())
        return aiocoap.Message(code=Code.CHANGED)

    async def _delete(self, request, p):
        gone = [k for k in self.values if k[:len(p)] == p]
        for k in gone:
            del self.values[k]
        return aiocoap.Message(code=Code.DELETED if gone else Code.NOT_FOUND)

    # -- the client's side ------------------------------------------------------------------

    async def request(self, code, uri, payload=b"", cf=None):
        m = aiocoap.Message(code=code, uri=uri, payload=payload, transport_tuning=FAST)
        if cf is not None:
            m.opt.content_format = cf
        return await asyncio.wait_for(self.ctx.request(m).response, 10)

    async def register(self, port, query=None, lifetime=None):
        self.server = port
        q = query if query is not None else "ep=%s&lt=%d&lwm2m=1.0&b=%s" % (
            self.imei, lifetime or self.lifetime, self.binding)
        r = await self.request(Code.POST, "coap://%s:%d/rd?%s" % (HOST, port, q), self.links.encode(), CF_LINK)
        if r.code == Code.CREATED:
            self.location = "/" + "/".join(r.opt.location_path)
        return r

    async def update(self, query=""):
        return await self.request(Code.POST, "coap://%s:%d%s%s" % (HOST, self.server, self.location,
                                                                   "?" + query if query else ""))

    async def deregister(self):
        return await self.request(Code.DELETE, "coap://%s:%d%s" % (HOST, self.server, self.location))

    async def send(self, records, ep=True):
        q = "?ep=%s" % self.imei if ep else ""
        return await self.request(Code.POST, "coap://%s:%d/dp%s" % (HOST, self.server, q),
                                  json.dumps(records).encode(), CF_SENML)

    async def bootstrap_request(self, port):
        return await self.request(Code.POST, "coap://%s:%d/bs?ep=%s" % (HOST, port, self.imei))

    # -- FOTA (spec 4.4): Pull with Block2, then the update ------------------------------------

    async def _download(self, uri):
        self.set((5, 0, 3), 1)
        data, num, etag = b"", 0, None
        while True:
            m = aiocoap.Message(code=Code.GET, uri=uri)
            m.opt.block2 = BlockOption.BlockwiseTuple(num, False, self.fota_block_szx)
            try:
                r = await asyncio.wait_for(self.ctx.request(m, handle_blockwise=False).response, 10)
            except Exception:
                r = None
            if r is None or r.code != Code.CONTENT:
                self.values[(5, 0, 5)] = 4
                self.set((5, 0, 3), 0)
                return
            assert etag in (None, r.opt.etag), "the ETag changed during the download"
            etag = r.opt.etag
            data += r.payload
            if self.fota_fail == "stall" and num == 1:
                return                                    # silently stops (e.g. out of coverage)
            if self.fota_fail == "download" and num == 1:
                self.values[(5, 0, 5)] = 4                 # connection lost during download
                self.set((5, 0, 3), 0)
                return
            if not r.opt.block2.more:
                break
            num += 1
        self.downloaded = data
        if self.fota_fail == "integrity":
            self.values[(5, 0, 5)] = 5
            self.set((5, 0, 3), 0)
            return
        self.set((5, 0, 3), 2)

    async def _update(self):
        await asyncio.sleep(0.05)
        self.set((5, 0, 3), 3)
        await asyncio.sleep(0.1)
        if self.fota_fail == "update":
            self.values[(5, 0, 5)] = 8
            self.set((5, 0, 3), 0)
            return
        await self.deregister()                            # reboots into the new firmware
        self.observers.clear()
        sota = any(p == (5, 0, 26550) for p, _ in self.executed)      # spec 4.4.4: the MCU's version
        self.values[(3, 0, 19) if sota else (3, 0, 3)] = self.next_version
        self.values[(5, 0, 5)] = 1
        self.values[(5, 0, 3)] = 0
        await self.register(self.server)

    def requests(self, method=None, path=None):
        return [s for s in self.seen if (method is None or s[0].endswith(method)) and (path is None or s[1] == path)]


async def platform_and_device(**kw):
    dev_kw = {k[4:]: kw.pop(k) for k in list(kw) if k.startswith("dev_")}
    pf = await Platform(config(**kw)).start()
    dev = await FakeDevice(**dev_kw).start()
    return pf, dev


async def registered(pf, dev, **kw):
    r = await dev.register(pf.coap_address[1], **kw)
    assert r.code == Code.CREATED, r
    d = pf.registry.device(dev.imei)
    await wait_for(lambda: len(d.observations) == 3, what="the registration reads and observations")
    return d


# == the codec against the spec's own example bytes =================================

def test_codec_decodes_the_spec_examples():
    # appendix 6.5.4: Read /6/0 answered in TLV (the coordinates are 1.0-style strings)
    es = codec.decode(CF_TLV, bytes.fromhex("c400 32362e30 c501 3137312e30 c405 5a6e85f4".replace(" ", "")), (6, 0))
    assert [(e.path, e.value) for e in es] == [((6, 0, 0), "26.0"), ((6, 0, 1), "171.0"), ((6, 0, 5), 0x5A6E85F4)]
    # appendix 6.6.4: Write /3/0 current time and UTC offset; our encoder gives the same bytes
    es = codec.decode(CF_TLV, bytes.fromhex("c40d5a6e960bc30e2b3037"), (3, 0))
    assert [(e.path, e.value) for e in es] == [((3, 0, 13), 0x5A6E960B), ((3, 0, 14), "+07")]
    assert codec.encode_tlv(3, {13: 0x5A6E960B, 14: "+07"}).hex() == "c40d5a6e960bc30e2b3037"
    # appendix 6.9.4: the notification of /6/0
    es = codec.decode(CF_TLV, bytes.fromhex("c5002d31342e30c40137362e30c4055a6f193d"), (6, 0))
    assert [e.value for e in es] == ["-14.0", "76.0", 0x5A6F193D]
    # 4.3.2.2: a Send record whose vs is a JSON object; the text's form, a JSON string
    es = codec.decode(CF_SENML, b'[{"n":"/19/1/0", "vs":{"power":18,"temperature":"20.5"}}]', ())
    assert es[0].type == "andlink" and es[0].value == {"power": 18, "temperature": "20.5"}
    es = codec.decode(CF_SENML, json.dumps([{"n": "/19/1/0", "vs": '{"power":18}'}]).encode(), ())
    assert es[0].type == "andlink" and es[0].value == {"power": 18}
    # 4.2.2.2: a read answer that is a JSON object under senml+json
    assert codec.decode(CF_SENML, b'{"power":200}', (19, 1, 0))[0].value == {"power": 200}
    # appendix 6.3.4: the Register payload
    links = codec.decode_link(b'</>;rt="oma.lwm2m", </1/0>, </3/0>, </4/0>, </5/0>, </6/0>, </7/0>')
    assert codec.link_objects(links) == [(1, 0), (3, 0), (4, 0), (5, 0), (6, 0), (7, 0)]


def test_codec_json_forms_and_errors():
    es = codec.decode(11543, b'{"bn":"/3/0/","e":[{"n":"0","sv":"OMA"},{"n":"11/0","v":0},{"n":"9","v":95}]}', (3, 0))
    assert [(e.path, e.value) for e in es] == [((3, 0, 0), "OMA"), ((3, 0, 11, 0), 0), ((3, 0, 9), 95)]
    es = codec.decode(CF_SENML, b'[{"bn":"/3/0/","n":"9","v":80},{"n":"17","vs":"t"},{"bn":"","n":"/5/0/4","vb":true}]', ())
    assert [(e.path, e.value) for e in es] == [((3, 0, 9), 80), ((3, 0, 17), "t"), ((5, 0, 4), True)]
    multi = tlv(2, 11, tlv(1, 0, b"\x00") + tlv(1, 1, b"\x05"))
    assert [(e.path, e.value) for e in codec.decode(CF_TLV, multi, (3, 0))] == [((3, 0, 11, 0), 0), ((3, 0, 11, 1), 5)]
    for cf, payload, path, words in (
            (CF_TLV, b"\xc4\x00\x01", (3, 0), "announced"),               # cut short
            (CF_TLV, tlv(3, 1, b"x"), (3,), "object instances"),          # resource at object level
            (CF_SENML, b"[1]", (), "not an object"),
            (CF_SENML, b'[{"n":"/3/0/9"}]', (), "no value"),
            (CF_SENML, b'[{"n":"x","v":1}]', (), "not an LwM2M path"),
            (CF_TEXT, b"1", (3, 0), "one resource"),
            (60, b"\xa0", (3, 0, 1), "not decoded")):
        with pytest.raises(codec.DecodeError) as ei:
            codec.decode(cf, payload, path)
        assert words in str(ei.value), (words, str(ei.value))
    # a value that does not fit its type is shown with a note, never as something else
    e = codec.decode(CF_TLV, tlv(3, 9, b"abc"), (3, 0))[0]
    assert e.value == "abc" and "not a TLV integer" in e.note
    assert codec.decode(CF_TEXT, b"x9", (3, 0, 9))[0].note


# == bootstrap (4.1.1-4.1.3, appendix 6.1, 6.2) =========================================

def test_bootstrap_writes_the_server_and_finishes():
    async def main():
        pf = await Platform(config(bootstrap=(HOST, 0), bs_binding="UQ", bs_lifetime=300)).start()
        dev = await FakeDevice().start()
        try:
            r = await dev.bootstrap_request(pf.bootstrap_address[1])
            assert r.code == Code.CHANGED                                   # 6.1.2
            await asyncio.wait_for(dev.bs_finished.wait(), 5)
            sec, srv = dev.bootstrap[(0, 1)], dev.bootstrap[(1, 0)]
            assert sec[0] == ("coap://%s:%d" % pf.coap_address).encode()      # an address, no name (4.1.3)
            assert sec[1] == b"\x00" and sec[2] == b"\x03" and 3 not in sec and 5 not in sec   # keys not sent
            assert srv[1] == (300).to_bytes(2, "big") and srv[7] == b"UQ" and srv[0] == sec[10]
            order = [(s[0], s[1]) for s in dev.seen]
            assert order == [("PUT", "/0/1"), ("PUT", "/1/0"), ("POST", "/bs")]
            await wait_for(lambda: (pf.registry.device(IMEI).bootstrap or {}).get("state") == "finished")
            # the device registers where it was told to
            port = int(sec[0].decode().rsplit(":", 1)[1])
            assert (await dev.register(port, lifetime=int.from_bytes(srv[1], "big"))).code == Code.CREATED
            assert pf.registry.device(IMEI).reg.lifetime == 300
            # refused: no ep (6.1.3: mandatory)
            r = await dev.request(Code.POST, "coap://%s:%d/bs" % (HOST, pf.bootstrap_address[1]))
            assert r.code == Code.BAD_REQUEST and b"ep" in r.payload
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_bootstrap_failures_are_recorded_with_the_step():
    async def main():
        pf = await Platform(config(bootstrap=(HOST, 0), request_timeout=1.0)).start()
        dev = await FakeDevice().start()
        try:
            async def refuse(request, p):
                return aiocoap.Message(code=Code.NOT_ACCEPTABLE)
            dev._put = refuse
            await dev.bootstrap_request(pf.bootstrap_address[1])
            d = pf.registry.device(IMEI)
            await wait_for(lambda: d.bootstrap and d.bootstrap["state"] == "failed")
            assert d.bootstrap["failed_step"] == "Write /0/1" and "4.06" in d.bootstrap["reason"]
            dev.ignore = True                                              # no answer at all
            await dev.bootstrap_request(pf.bootstrap_address[1])
            await wait_for(lambda: d.bootstrap["state"] == "running")
            await wait_for(lambda: d.bootstrap["state"] == "failed", 5)
            assert "no answer" in d.bootstrap["reason"]
        finally:
            await dev.close()
            await pf.close()
    run(main())


# == registration (4.1.4, 4.1.5, 3.5, appendix 6.3, 6.4) =================================

def test_register_reads_the_spec_resources_then_observes():
    async def main():
        pf, dev = await platform_and_device()
        try:
            d = await registered(pf, dev)
            assert dev.location.startswith("/rd/") and len(dev.location) == 8      # /rd/5a3f (6.3.4)
            reads = [s[1] for s in dev.requests("GET") if s[3] is None]
            assert reads == ["/3/0/1", "/3/0/2", "/3/0/17", "/3/0/3", "/3/0/19", "/4/0/8", "/19/1/0"]   # 4.1.5
            assert all(s[5] is None for s in dev.seen)
            observed = sorted(s[1] for s in dev.requests("GET") if s[3] == 0)
            assert observed == ["/3/0/11", "/5/0/3", "/5/0/5"]                                     # 4.3.1.2
            assert d.value((3, 0, 3)) == "1.0.0" and d.value((4, 0, 8)) == 123456
            assert d.value((19, 1, 0)) == {"power": 200, "temperature": "18.5"}
            assert d.auth["state"] == "unchecked" and d.auth["device_type"] == DEVICE_TYPE
            reg = d.reg.to_json()
            assert reg["lifetime"] == 86400 and reg["binding"] == "U" and reg["objects"][:2] == ["/1/0", "/3/0"]
            assert "sms missing (optional in 4.1.4, required in 6.3.3)" in reg["notes"]
            # the product token is hidden unless asked
            shown = [v for v in d.details()["values"] if v["path"] == "/3/0/1"][0]
            assert shown["value"] == "***" and PRODUCT_TOKEN not in json.dumps(d.details())
            assert PRODUCT_TOKEN in json.dumps(d.details(show_secrets=True))
            # Update (6.4): 2.04, new lifetime; an unknown location: 4.04
            r = await dev.update("lt=120&b=U")
            assert r.code == Code.CHANGED and d.reg.lifetime == 120
            dev.location = "/rd/zzzz"
            assert (await dev.update()).code == Code.NOT_FOUND
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_register_accepts_both_forms_and_refuses_bad_ones():
    async def main():
        pf, dev = await platform_and_device(observe=())
        port = pf.coap_address[1]
        try:
            # minimal: ep only; lt 86400 and lwm2m 1.0 by default (6.3.3), sms optional (4.1.4)
            r = await dev.register(port, query="ep=%s" % IMEI)
            assert r.code == Code.CREATED
            reg = pf.registry.device(IMEI).reg
            assert (reg.lifetime, reg.lwm2m, reg.binding, reg.sms) == (86400, "1.0", "U", None)
            # full: sms as 6.3.3 wants it, LwM2M 1.1
            r = await dev.register(port, query="ep=%s&lt=600&lwm2m=1.1&b=UQ&sms=460001234567890;13800000000" % IMEI)
            assert r.code == Code.CREATED and pf.registry.device(IMEI).reg.queue
            for query, code, words in (
                    ("lt=60", Code.BAD_REQUEST, b"ep"),
                    ("ep=%s<=86400" % IMEI, Code.BAD_REQUEST, b"lt="),
                    ("ep=%s&lt=0" % IMEI, Code.BAD_REQUEST, b"lifetime"),
                    ("ep=%s&lt=x" % IMEI, Code.BAD_REQUEST, b"lifetime"),
                    ("ep=%s&b=X" % IMEI, Code.BAD_REQUEST, b"binding"),
                    ("ep=%s&ep=1" % IMEI, Code.BAD_REQUEST, b"twice"),
                    ("ep=%s&lwm2m=2.0" % IMEI, Code.PRECONDITION_FAILED, b"2.0")):
                r = await dev.register(port, query=query)
                assert r.code == code and words in r.payload, (query, r, r.payload)
            dev.links = ""
            r = await dev.register(port)
            assert r.code == Code.BAD_REQUEST and b"object list" in r.payload
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_product_check_of_a_plain_coap_device():
    """Spec 3.5: on plain CoAP the device's /3/0/17 and /3/0/1 are the portal's
    DeviceType and ProductToken, read while it registers (4.1.5) and checked
    together; a wrong pair loses the registration (its Update: 4.04).  The
    optional IMEI check answers an unknown device 4.03 (6.3.2)."""
    async def main():
        pf, dev = await platform_and_device(products={DEVICE_TYPE: PRODUCT_TOKEN},
                                            known_devices={IMEI: {}, IMEI2: {}})
        bad = await FakeDevice(IMEI2).start()
        stranger = await FakeDevice("869976032983348").start()
        try:
            d = await registered(pf, dev)
            assert d.auth["state"] == "ok"
            bad.values[(3, 0, 1)] = "pt-wrong"
            assert (await bad.register(pf.coap_address[1])).code == Code.CREATED
            d2 = pf.registry.device(IMEI2)
            await wait_for(lambda: d2.auth["state"] == "failed")
            assert "product token" in d2.auth["reason"] and d2.reg is None
            assert (await bad.update()).code == Code.NOT_FOUND
            assert "pt-wrong" not in json.dumps(d2.details())
            r = await stranger.register(pf.coap_address[1])
            assert r.code == Code.FORBIDDEN
        finally:
            for x in (dev, bad, stranger):
                await x.close()
            await pf.close()
    run(main())


def test_deregister_and_lifetime_expiry():
    async def main():
        pf, dev = await platform_and_device(observe=())
        try:
            await dev.register(pf.coap_address[1])
            d = pf.registry.device(IMEI)
            assert (await dev.deregister()).code == Code.DELETED and d.reg is None
            assert (await dev.deregister()).code == Code.NOT_FOUND
            assert (await dev.send([{"n": "/19/1/0", "vs": {"power": 1}}])).code == Code.NOT_FOUND   # 4.3.2.2
            # lifetime 3 s: an Update within it keeps the registration past its first end,
            # silence ends it
            await dev.register(pf.coap_address[1], lifetime=3)
            reg, first_end = d.reg, d.reg.expires_at
            await asyncio.sleep(1.5)
            assert (await dev.update()).code == Code.CHANGED
            await asyncio.sleep(1.5)
            assert time.time() >= first_end and d.reg is reg          # past the Register's lifetime
            await wait_for(lambda: d.reg is None, 5.0, "the lifetime's end")
            assert "lifetime expired" in d.history[-1]["event"]
            assert (await dev.update()).code == Code.NOT_FOUND
        finally:
            await dev.close()
            await pf.close()
    run(main())


# == device management (4.2, appendix 6.5-6.10) ==========================================

def test_device_management_operations():
    async def main():
        pf, dev = await platform_and_device(observe=())
        try:
            await dev.register(pf.coap_address[1])
            d = pf.registry.device(IMEI)
            await wait_for(lambda: len(dev.requests("GET")) == 7)
            ops = pf.ops
            r = await ops.read(d, (3, 0))                                          # TLV for an instance
            assert r.ok and r.cf == CF_TLV and {(e.path, e.value) for e in r.entries} >= {((3, 0, 9), 90)}
            r = await ops.read(d, (19, 1, 0), query=("p=power",))                  # 4.2.2.2
            assert r.entries[0].value == {"power": 200} and dev.seen[-1][2] == ("p=power",)
            r = await ops.write(d, (1, 0, 1), b"60", CF_TEXT)                       # 6.6.4
            assert r.code == Code.CHANGED and dev.values[(1, 0, 1)] == 60
            r = await ops.write(d, (3, 0), codec.encode_tlv(3, {13: 0x5A6E960B, 14: "+07"}), CF_TLV)
            assert r.ok and dev.values[(3, 0, 14)] == b"+07"
            r = await ops.write(d, (19, 1, 0), b'{"power":100}', CF_SENML)           # 4.2.2.3
            assert r.ok and dev.params["power"] == 100
            r = await ops.write_attributes(d, (3, 0, 3), ("pmin=60", "pmax=120"))   # 6.7.4
            assert r.ok and dev.seen[-1][:3] == ("PUT", "/3/0/3", ("pmin=60", "pmax=120"))
            r = await ops.execute(d, (3, 0, 4))                                     # 6.8.4
            assert r.code == Code.CHANGED and dev.executed[-1] == ((3, 0, 4), b"")
            r = await ops.discover(d, (3,))
            assert r.ok and ("/3/0/1", {}) in r.links
            r = await ops.create(d, (19,), codec.encode_tlv(19, {0: {0: b"\x01"}}), CF_TLV)
            assert r.code == Code.CREATED and r.location == "/19/0"
            r = await ops.delete(d, (19, 0))
            assert r.code == Code.DELETED
            r = await ops.read(d, (3, 0, 999))
            assert not r.ok and r.code == Code.NOT_FOUND
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_observe_notifications_and_cancel_with_the_same_token():
    async def main():
        pf, dev = await platform_and_device()
        try:
            d = await registered(pf, dev)
            first = pf.feed.last
            dev.set((3, 0, 11), 4)                                        # low signal strength
            await wait_for(lambda: d.value((3, 0, 11)) == 4, what="the notification")
            rows = pf.feed.select(first)
            assert rows[-1]["kind"] == "notify" and rows[-1]["path"] == "/3/0/11"
            # Cancel Observation (6.10): GET with Observe=1 and the observation's token
            token = [s[4] for s in dev.requests("GET", "/3/0/11") if s[3] == 0][-1]
            r = await pf.ops.cancel(d, (3, 0, 11))
            assert r.ok
            cancel = dev.requests("GET", "/3/0/11")[-1]
            assert cancel[3] == 1 and cancel[4] == token
            assert "/3/0/11" not in d.observations
            await wait_for(lambda: (3, 0, 11) not in dev.observers, what="the device's side of the cancel")
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_send_to_dp_feeds_the_data():
    async def main():
        pf, dev = await platform_and_device(observe=())
        try:
            await dev.register(pf.coap_address[1])
            r = await dev.send([{"n": "/19/1/0", "vs": {"power": 18, "temperature": "20.5"}}])   # 4.3.2.2
            assert r.code == Code.CHANGED
            row = pf.feed.rows[-1]
            assert row["kind"] == "send" and row["ep"] == IMEI
            assert row["entries"][0].value == {"power": 18, "temperature": "20.5"}
            r = await dev.send([{"n": "/19/1/0", "vs": "{\"power\":19}"}], ep=False)     # LwM2M 1.1: no ep
            assert r.code == Code.CHANGED and pf.feed.rows[-1]["entries"][0].value == {"power": 19}
            r = await dev.request(Code.POST, "coap://%s:%d/dp?ep=%s" % (HOST, pf.coap_address[1], IMEI),
                                  b"{not json", CF_SENML)
            assert r.code == Code.BAD_REQUEST and b"not JSON" in r.payload                  # 4.3.2.2
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_queue_mode_requests_wait_for_the_next_update():
    """Binding UQ: after an uplink the device listens `awake` s; a request made
    later waits in its queue and goes out at its next Update (or Send)."""
    async def main():
        pf, dev = await platform_and_device(awake=2.0, observe=(), dev_binding="UQ")
        try:
            await dev.register(pf.coap_address[1])
            d = pf.registry.device(IMEI)
            assert d.reg.queue
            await wait_for(lambda: len(dev.requests("GET")) == 7, what="the registration reads")
            await wait_for(lambda: not pf.ops.awake(d), 5, "the awake window's end")      # asleep now
            n = len(dev.seen)
            task = asyncio.ensure_future(pf.ops.read(d, (3, 0, 9)))
            await asyncio.sleep(0.05)
            with pytest.raises(Queued):
                await pf.ops.read(d, (3, 0, 10), wait=0.2)
            await asyncio.sleep(0.3)
            assert len(dev.seen) == n and len(d.queue) == 2 and not task.done()
            assert (await dev.update()).code == Code.CHANGED
            r = await asyncio.wait_for(task, 3)
            assert r.entries[0].value == 90
            await wait_for(lambda: len(dev.seen) == n + 2, what="the queued read")
            assert [s[1] for s in dev.seen[n:]] == ["/3/0/9", "/3/0/10"]            # in order
            # a Send wakes it too
            await wait_for(lambda: not pf.ops.awake(d), 5, "the awake window's end")
            task = asyncio.ensure_future(pf.ops.execute(d, (3, 0, 4)))
            await asyncio.sleep(0.1)
            assert not task.done()
            await dev.send([{"n": "/19/1/0", "vs": {"power": 1}}])
            assert (await asyncio.wait_for(task, 3)).ok
            # de-registering fails what is still queued
            await wait_for(lambda: not pf.ops.awake(d), 5, "the awake window's end")
            task = asyncio.ensure_future(pf.ops.read(d, (3, 0, 9)))
            await asyncio.sleep(0.1)
            await dev.deregister()
            with pytest.raises(Exception) as ei:
                await asyncio.wait_for(task, 3)
            assert "de-registered" in str(ei.value)
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_control_socket_answers_queued_and_hides_secrets():
    """The control socket (what the CLI sends): a request to a sleeping
    queue-mode device is answered "queued" with its job; the product token
    shows only with show_secrets."""
    from andlink_tools.control import ControlServer

    async def main():
        pf, dev = await platform_and_device(awake=2.0, observe=(), dev_binding="UQ")
        ctl = ControlServer(pf, HOST, 0)
        try:
            await dev.register(pf.coap_address[1])
            d = pf.registry.device(IMEI)
            await wait_for(lambda: d.auth.get("time"), what="the registration reads")
            r = await ctl.handle({"op": "read", "ep": IMEI, "path": "/3/0/1"})
            assert r["ok"] and r["result"]["entries"][0]["value"] == "***"
            r = await ctl.handle({"op": "read", "ep": IMEI, "path": "/3/0/1", "show_secrets": True})
            assert r["result"]["entries"][0]["value"] == PRODUCT_TOKEN
            await wait_for(lambda: not pf.ops.awake(d), 5, "the awake window's end")   # asleep now
            r = await ctl.handle({"op": "read", "ep": IMEI, "path": "/3/0/9", "timeout": 0.2})
            assert r["ok"] and r["queued"] and "queue mode" in r["note"]
            r = await ctl.handle({"op": "show", "ep": IMEI})
            assert r["device"]["queued"][0]["path"] == "/3/0/9"
            await dev.update()
            await wait_for(lambda: not d.queue, what="the queued read to go")
            for bad, kind in (({"op": "read", "ep": IMEI, "path": "x"}, "input"),
                              ({"op": "nope"}, "input"), ({"op": "read"}, "input"),
                              ({"op": "read", "ep": IMEI2, "path": "/3/0/9"}, "failed"),
                              ({"op": "write", "ep": IMEI, "path": "/3/0/9", "items": ["x"]}, "input"),
                              ({"op": "data", "after": -1}, "input")):
                r = await ctl.handle(bad)
                assert not r["ok"] and r["kind"] == kind, (bad, r)
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_link_shaping_loss_is_retransmitted():
    """--loss / --rtt on the platform's socket: CON requests are retransmitted
    (ACK_TIMEOUT scaled down from section 3.4's 5 s) and still answered."""
    async def main():
        pf, dev = await platform_and_device(loss=0.25, rtt=0.02, seed=5, observe=(), ack_timeout=0.1,
                                            dev_links="</1/0>")          # no registration reads
        try:
            for _ in range(5):                                   # the fake device retries on its own too
                try:
                    r = await dev.register(pf.coap_address[1])
                    break
                except Exception:
                    continue
            assert r.code == Code.CREATED
            d = pf.registry.device(IMEI)
            ok = 0
            for _ in range(6):
                try:
                    ok += (await pf.ops.read(d, (3, 0, 9))).ok
                except Exception:
                    pass
            assert ok >= 4 and pf.shaper.dropped["in"] + pf.shaper.dropped["out"] > 0
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_observe_reply_starts_the_follow_before_an_early_notification():
    # RFC 7641 3.2 (and the operator CLI's `observe --follow`): a notification
    # the device sends right after its first answer can reach the platform
    # before the observation is recorded; it is handed over then and must come
    # after the reply's "after" row, or a follower never sees it.
    from andlink_tools.control import ControlServer

    async def main():
        pf, dev = await platform_and_device(observe=())
        ctl = ControlServer(pf, HOST, 0)
        real = pf.ops.request

        async def request_then_notify(d, op, code, path, **kw):
            res = await real(d, op, code, path, **kw)
            if op == "Observe":                 # the device notifies before _observed runs
                dev.set((3, 0, 9), 55)
                o = res.request.observation
                await wait_for(lambda: getattr(o, "_latest_response", None) is not None, 5,
                               "the early notification")
            return res
        pf.ops.request = request_then_notify
        try:
            await dev.register(pf.coap_address[1])
            d = pf.registry.device(IMEI)
            await wait_for(lambda: d.auth.get("time"), what="the registration reads")
            r = await ctl.handle({"op": "observe", "ep": IMEI, "path": "/3/0/9"})
            assert r["ok"] and r["result"]["code"].startswith("2.05"), r
            rows = pf.feed.select(r["after"] + 1, IMEI)          # what `observe --follow` reads
            assert [(x["kind"], x["entries"][0].value) for x in rows if x["path"] == "/3/0/9"] == [
                ("notify", 55)], pf.feed.select(0, IMEI)
        finally:
            await dev.close()
            await pf.close()
    run(main())
