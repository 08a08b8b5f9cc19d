"""The LwM2M server's CoAP side: the registration interface (And-link spec 4.1.4,
appendix 6.3 Register, 6.4 Update, 3.3 De-register) and the Send channel
(4.3.2, POST /dp), then what the platform does once a device has registered
(4.1.5: the reads; 3.5: the product check of a plain-CoAP device; 4.3.1.2: the
observations).  GET /fota/... goes to the Block2 file server
(andlink_tools.packages).

Where the spec says two things the simulator takes both (docs/ANDLINK_PLATFORM.md):
sms is optional (4.1.4) although 6.3.3 calls it required; lt defaults to 86400
and lwm2m to 1.0 (6.3.3) although 4.1.4 calls them required -- each such
Register is accepted and noted in the registration.  The "<=" of the URIs in 3.3
and 6.3.2 is "&lt=" mangled: the lifetime is the Uri-Query option lt=.  The
Update's location is the Location-Path /rd/{id} the Register answer gave (6.4.3
calls it a Uri-Query; 3.3 writes it /location)."""

import logging
import re
import time

import aiocoap
from aiocoap import resource
from aiocoap.numbers.codes import Code

from andlink_tools import codec, coapio, objects
from andlink_tools.devices import DeviceError, Queued
from andlink_tools.registry import Registration

log = logging.getLogger("andlink.platform")

EP_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
IMEI_RE = re.compile(r"^[0-9]{15}$")
BINDING_RE = re.compile(r"^(?!.*(.).*\1)[UQSTN]{1,5}$")
VERSIONS = ("1.0", "1.1", "1.2")
DEFAULT_LIFETIME = 86400          # appendix 6.3.3
LIFETIME_MAX = 0x7FFFFFFF
# spec section 4.1.5: what the platform reads while a device registers, in its order
REGISTRATION_READS = ((3, 0, 1), (3, 0, 2), (3, 0, 17), (3, 0, 3), (3, 0, 19), (4, 0, 8), (19, 1, 0))
# section 4.3.1.2: the resources whose changes the platform observes
DEFAULT_OBSERVE = ((3, 0, 11), (5, 0, 3), (5, 0, 5))


def _answer(code, text=None):
    return aiocoap.Message(code=code, payload=text.encode("utf-8") if text else b"")


class BadRequest(Exception):
    def __init__(self, text, code=Code.BAD_REQUEST):
        super().__init__(text)
        self.code = code


def parse_query(items, allowed):
    """{name: value or None} of Uri-Query options; a repeated name is refused,
    unknown names are returned apart (noted, not refused)."""
    out, unknown = {}, []
    for item in items:
        k, eq, v = item.partition("=")
        if k in out:
            raise BadRequest("%s given twice" % k)
        if k not in allowed:
            unknown.append(k)
            continue
        out[k] = v if eq else None
    return out, unknown


def check_ep(ep):
    if ep is None or ep == "":
        raise BadRequest("no endpoint client name (ep=)")
    if not EP_RE.match(ep):
        if "<" in ep:
            raise BadRequest("ep=%s: the lifetime is its own Uri-Query option lt= (the spec's \"<=\" is \"&lt=\")" % ep[:40])
        raise BadRequest("ep=%s: 1-64 characters of letters, digits . _ : -" % ep[:40])
    return ep


def check_lifetime(text):
    if text is None or not text.isdigit() or not 1 <= int(text) <= LIFETIME_MAX:
        raise BadRequest("lt=%s: a lifetime is 1..%d seconds" % ((text or "")[:20], LIFETIME_MAX))
    return int(text)


def check_binding(text):
    if text is None or not BINDING_RE.match(text):
        raise BadRequest("b=%s: a binding is letters of U, Q, S, T, N (U, UQ, ...)" % (text or "")[:20])
    return text


class Root(resource.Resource):
    """Every path the LwM2M server serves (the whole CoAP site)."""

    def __init__(self, pf):
        super().__init__()
        self.pf = pf

    async def needs_blockwise_assembly(self, request):
        return not (request.opt.uri_path[:1] == ("fota",))     # Block2 of packages served by hand

    async def render(self, request):
        path = request.opt.uri_path
        code = request.code
        try:
            if path[:1] == ("fota",) and self.pf.packages is not None:
                return self.pf.packages.serve(request)
            if path == ("rd",) and code == Code.POST:
                return await self.register(request)
            if len(path) == 2 and path[0] == "rd":
                if code == Code.POST:
                    return self.update(request, path[1])
                if code == Code.DELETE:
                    return self.deregister(request, path[1])
                return _answer(Code.METHOD_NOT_ALLOWED)
            if path == ("dp",) and code == Code.POST:
                return self.send(request)
            if path in (("rd",), ("dp",)):
                return _answer(Code.METHOD_NOT_ALLOWED)
        except BadRequest as e:
            log.warning("%s %s from %s refused: %s", code, "/" + "/".join(path), request.remote.hostinfo, e)
            return _answer(e.code, str(e))
        return _answer(Code.NOT_FOUND)

    # -- Register (appendix 6.3) ----------------------------------------------------------

    def _links(self, request, required):
        cf = request.opt.content_format
        if cf not in (None, codec.LINK):
            raise BadRequest("the object list is application/link-format (40), not %s" % codec.cf_name(cf))
        if not request.payload:
            if required:
                raise BadRequest("no object list (the payload, spec 4.1.4)")
            return None
        try:
            links = codec.decode_link(request.payload)
        except codec.DecodeError as e:
            raise BadRequest(str(e))
        if not codec.link_objects(links):
            raise BadRequest("the object list names no object")
        return links

    async def register(self, request):
        pf = self.pf
        q, unknown = parse_query(request.opt.uri_query, ("ep", "lt", "lwm2m", "b", "sms", "Q"))
        ep = check_ep(q.get("ep"))
        notes = []
        if "lt" in q:
            lifetime = check_lifetime(q["lt"])
        else:
            lifetime = DEFAULT_LIFETIME
            notes.append("lt missing: %d s (appendix 6.3.3)" % DEFAULT_LIFETIME)
        version = q.get("lwm2m")
        if version is None:
            version = "1.0"
            notes.append("lwm2m missing: 1.0 (appendix 6.3.3)")
        elif version not in VERSIONS:
            raise BadRequest("LwM2M version %s is not supported (%s)" % (version[:10], ", ".join(VERSIONS)),
                             Code.PRECONDITION_FAILED)
        binding = check_binding(q["b"]) if "b" in q else "U"
        if "b" not in q:
            notes.append("b missing: U")
        sms = q.get("sms")
        if sms is None:
            notes.append("sms missing (optional in 4.1.4, required in 6.3.3)")
        if unknown:
            notes.append("unknown parameters ignored: %s" % ", ".join(sorted(unknown))[:80])
        if not IMEI_RE.match(ep):
            notes.append("ep is not a 15-digit IMEI (4.1.2)")
        links = self._links(request, True)
        if pf.known_devices is not None and ep not in pf.known_devices:
            raise BadRequest("%s is not a known device (IMEI check, spec 3.5)" % ep, Code.FORBIDDEN)
        host, port = coapio.remote_address(request.remote)
        via = pf.dtls_peer(host, port)
        if via is not None:                 # coaps (3.5): the PSK identity is the endpoint name (the IMEI)
            identity = (via[1] or b"").decode("utf-8", "replace")
            if identity != ep:
                raise BadRequest("PSK identity %s is not the endpoint name %s (spec 3.5)" % (identity[:40], ep),
                                 Code.FORBIDDEN)
            notes.append("coaps from %s (PSK identity %s)" % (coapio.hostport(*via[0]), identity))
        queue = "Q" in binding or "Q" in q
        reg = Registration(ep, lifetime, version, binding, sms, queue, links, host, port)
        reg.notes = notes
        dev = pf.registry.device(ep)
        again = dev.reg is not None
        if again:
            for obs in list(dev.observations.values()):
                pf.ops._forget(dev, obs, "registered again")
        pf.registry.add(dev, reg)
        dev.last_seen = time.time()
        dev.counts["registrations"] += 1
        dev.event("registered%s at %s: lt %d s, lwm2m %s, b %s%s, objects %s%s" % (
            " again" if again else "", reg.location, lifetime, version, binding,
            ", sms %s" % sms if sms else "", " ".join(objects.path_text(p) for p in reg.objects),
            "; " + "; ".join(notes) if notes else ""))
        log.info("%s registered at %s from %s (lt %d, b %s, lwm2m %s)", ep, reg.location,
                 reg.base[7:], lifetime, binding, version)
        pf.schedule_expiry(dev)
        pf.ops.uplink(dev)
        pf.spawn(self.after_register(dev, reg))
        pf.emit("registered", dev, None, [])
        pf.changed()
        return aiocoap.Message(code=Code.CREATED, location_path=("rd", reg.id))

    async def after_register(self, dev, reg):
        """Spec 4.1.5 reads, the 3.5 product check, the 4.3.1.2 observations."""
        pf = self.pf
        read = {}
        for path in REGISTRATION_READS:
            if not reg.announces(path):
                dev.event("registration read %s skipped: object not in the Register payload" % objects.path_text(path))
                continue
            res = await self._read(dev, path)
            if dev.reg is not reg:
                return
            if res is not None and res.ok and res.entries:
                read[path] = res.entries[0].value
        if not self.check_product(dev, reg, read):
            return
        for path in pf.observe_paths:
            if dev.reg is not reg:
                return
            if not reg.announces(path):
                continue
            try:
                res = await pf.ops.observe(dev, path, origin="registration")
            except (DeviceError, Queued):
                continue
            if not res.ok:
                dev.event("registration observe %s refused: %s" % (objects.path_text(path), res.code.dotted))
        pf.emit("ready", dev, None, [])

    async def _read(self, dev, path):
        accept = codec.TEXT if path[0] != 19 else None   # appendix 6.5.4 asks text/plain for one resource
        try:
            res = await self.pf.ops.read(dev, path, accept=accept, label="registration")
            if res.code == Code.NOT_ACCEPTABLE and accept is not None:
                res = await self.pf.ops.read(dev, path, label="registration")
            return res
        except (DeviceError, Queued):
            return None

    def check_product(self, dev, reg, read):
        """Spec 3.5 (plain CoAP): Device Type /3/0/17 and Model Number /3/0/1 are the
        portal's DeviceType and ProductToken, checked together (4.1.5).  With no
        product table every pair passes (recorded as unchecked)."""
        pf = self.pf
        dtype, token = read.get((3, 0, 17)), read.get((3, 0, 1))
        auth = {"time": time.time(), "device_type": dtype if isinstance(dtype, str) else None}
        if pf.products is None:
            auth["state"] = "unchecked"
            dev.auth = auth
            return True
        reason = None
        if not isinstance(dtype, str):
            reason = "Device Type /3/0/17 could not be read"
        elif not isinstance(token, str):
            reason = "Model Number /3/0/1 (product token) could not be read"
        elif dtype not in pf.products:
            reason = "device type %s is not a known product" % dtype[:40]
        elif pf.products[dtype] != token:
            reason = "Model Number /3/0/1 is not the product token of device type %s" % dtype[:40]
        if reason is None:
            auth["state"] = "ok"
            dev.auth = auth
            dev.event("product check passed (device type %s)" % dtype)
            return True
        auth.update(state="failed", reason=reason)
        dev.auth = auth
        dev.event("product check failed: %s; registration %s removed" % (reason, reg.location))
        log.warning("%s: product check failed (spec 3.5): %s; registration removed", dev.ep, reason)
        pf.end_registration(dev, "product check failed")
        return False

    # -- Update (6.4), De-register --------------------------------------------------------

    def update(self, request, rid):
        pf = self.pf
        dev = pf.registry.by_id.get(rid)
        if dev is None:
            return _answer(Code.NOT_FOUND, "no registration /rd/%s" % rid[:16])
        q, unknown = parse_query(request.opt.uri_query, ("lt", "b", "sms", "Q"))
        reg = dev.reg
        lifetime = check_lifetime(q["lt"]) if "lt" in q else None
        binding = check_binding(q["b"]) if "b" in q else None
        links = self._links(request, False)
        if lifetime is not None:
            reg.lifetime = lifetime
        if binding is not None:
            reg.binding = binding
            reg.queue = "Q" in binding or "Q" in q
        if "sms" in q:
            reg.sms = q["sms"]
        if links is not None:
            reg.links = links
            reg.objects = codec.link_objects(links)
        self._moved(dev, request)
        reg.refresh()
        dev.last_seen = reg.updated_at
        dev.counts["updates"] += 1
        dev.event("update%s%s%s" % (" lt %d" % lifetime if lifetime else "", " b %s" % binding if binding else "",
                                    " with a new object list" if links else ""))
        log.info("%s: update of %s", dev.ep, reg.location)
        pf.schedule_expiry(dev)
        pf.ops.uplink(dev)
        pf.emit("update", dev, None, [])
        pf.changed()
        return _answer(Code.CHANGED)

    def _moved(self, dev, request):
        host, port = coapio.remote_address(request.remote)
        reg = dev.reg
        if (host, port) != (reg.host, reg.port):
            dev.event("address changed: %s:%d -> %s:%d" % (reg.host, reg.port, host, port))
            reg.host, reg.port = host, port

    def deregister(self, request, rid):
        dev = self.pf.registry.by_id.get(rid)
        if dev is None:
            return _answer(Code.NOT_FOUND, "no registration /rd/%s" % rid[:16])
        dev.last_seen = time.time()
        log.info("%s de-registered (%s)", dev.ep, dev.reg.location)
        self.pf.end_registration(dev, "de-registered")
        return _answer(Code.DELETED)

    # -- Send (4.3.2) -------------------------------------------------------------------------

    def send(self, request):
        pf = self.pf
        q, _ = parse_query(request.opt.uri_query, ("ep",))
        host, port = coapio.remote_address(request.remote)
        if q.get("ep"):
            dev = pf.registry.device(q["ep"], create=False)
            if dev is None or dev.reg is None:
                return _answer(Code.NOT_FOUND, "%s is not registered" % q["ep"][:64])
        else:                                       # LwM2M 1.1 Send names no ep: the sender's address
            dev = pf.registry.by_address(host, port)
            if dev is None:
                return _answer(Code.NOT_FOUND, "no registration from %s:%d (and no ep=)" % (host, port))
        cf = request.opt.content_format
        if cf not in (None, codec.SENML_JSON, codec.LWM2M_JSON, 1543):
            return _answer(Code.BAD_REQUEST, "Send data is application/senml+json (110), not %s" % codec.cf_name(cf))
        try:
            entries = codec.decode(cf if cf is not None else codec.SENML_JSON, request.payload, ())
        except codec.DecodeError as e:
            dev.event("Send refused: %s" % e)
            log.warning("%s: Send refused (4.00): %s", dev.ep, e)
            return _answer(Code.BAD_REQUEST, str(e))
        if not entries:
            return _answer(Code.BAD_REQUEST, "no record")
        self._moved(dev, request)
        now = time.time()
        dev.last_seen = now
        dev.counts["sends"] += 1
        dev.remember(entries, now)
        pf.feed.add(dev.ep, "send", None, entries, format=codec.cf_name(cf))
        shown = "; ".join(codec.show(e) for e in entries[:4])
        dev.event("Send: %s" % shown)
        log.info("%s: Send %s", dev.ep, shown)
        pf.ops.uplink(dev)
        pf.emit("send", dev, None, entries)
        return _answer(Code.CHANGED)

