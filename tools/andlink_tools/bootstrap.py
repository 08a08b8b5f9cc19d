"""The bootstrap server (And-link spec 4.1.1 "Client Initiated Bootstrap", 4.1.2,
4.1.3; appendix 6.1 Bootstrap-Request, 6.2 Bootstrap-Finish).

A device POSTs /bs?ep=IMEI and is answered 2.04; then the server writes, to the
address the request came from:

    PUT /0/1  (TLV)  0 LwM2M Server URI (an address, never a name: 4.1.3),
                     1 Bootstrap-Server false, 2 Security Mode (3 NoSec for
                     coap://, 0 PSK for coaps://), 10 Short Server ID
    PUT /1/0  (TLV)  0 Short Server ID, 1 Lifetime, 6 Notification Storing true,
                     7 Binding (U, or UQ for queue mode)
    POST /bs         Bootstrap-Finish

The PSK identity and key are not written: 4.1.3 has the device keep the ones
preset for the bootstrap server.  With `delete` the server first sends Delete /0
and Delete /1 (LwM2M TS 1.0 5.2.7.5; the spec does not ask for it).  Each step's
answer is logged and kept as the device's last bootstrap; a 4.xx, no answer,
or a 4.06 to the Finish (the device found the configuration inconsistent) ends
it as failed with that step named."""

import asyncio
import logging
import time

import aiocoap
from aiocoap import resource
from aiocoap.numbers.codes import Code

from andlink_tools import codec, coapio
from andlink_tools.coapio import CoapError
from andlink_tools.rd import BadRequest, check_ep, parse_query

log = logging.getLogger("andlink.platform.bootstrap")

SHORT_SERVER_ID = 1
START_DELAY = 0.1             # s between the 2.04 and the first write


class Config:
    """What the bootstrap server writes: server_uri, lifetime, binding, ssid; per
    device overrides (binding, lifetime) from the devices file."""

    def __init__(self, server_uri, lifetime=86400, binding="U", ssid=SHORT_SERVER_ID, delete=False):
        self.server_uri, self.lifetime, self.binding, self.ssid, self.delete = server_uri, lifetime, binding, ssid, delete


class BootstrapSite(resource.Resource):
    def __init__(self, pf, config):
        super().__init__()
        self.pf = pf
        self.config = config
        self.running = {}

    async def render(self, request):
        if request.opt.uri_path != ("bs",):
            return aiocoap.Message(code=Code.NOT_FOUND)
        if request.code != Code.POST:
            return aiocoap.Message(code=Code.METHOD_NOT_ALLOWED)
        try:
            q, _ = parse_query(request.opt.uri_query, ("ep", "pct"))
            ep = check_ep(q.get("ep"))
        except BadRequest as e:
            log.warning("Bootstrap-Request from %s refused: %s", request.remote.hostinfo, e)
            return aiocoap.Message(code=Code.BAD_REQUEST, payload=str(e).encode())
        if self.pf.known_devices is not None and ep not in self.pf.known_devices:
            log.warning("Bootstrap-Request of %s refused: not a known device (spec 3.5)", ep)
            return aiocoap.Message(code=Code.BAD_REQUEST, payload=b"unknown device")
        host, port = coapio.remote_address(request.remote)
        log.info("Bootstrap-Request of %s from %s", ep, coapio.hostport(host, port))
        old = self.running.get(ep)
        if old is not None and not old.done():
            old.cancel()
        self.running[ep] = self.pf.spawn(self.run(ep, host, port))
        return aiocoap.Message(code=Code.CHANGED)

    def _values(self, ep):
        c = self.config
        over = (self.pf.known_devices or {}).get(ep) or {}
        binding = over.get("binding", c.binding)
        lifetime = int(over.get("lifetime", c.lifetime))
        secure = c.server_uri.startswith("coaps://")
        security = {0: c.server_uri, 1: False, 2: 0 if secure else 3, 10: c.ssid}
        server = {0: c.ssid, 1: lifetime, 6: True, 7: binding}
        return security, server

    async def run(self, ep, host, port):
        await asyncio.sleep(START_DELAY)
        dev = self.pf.registry.device(ep)
        base = "coap://" + coapio.hostport(host, port)
        security, server = self._values(ep)
        rec = {"time": time.time(), "address": coapio.hostport(host, port), "state": "running", "steps": [],
               "server_uri": security[0], "binding": server[7], "lifetime": server[1]}
        dev.bootstrap = rec
        dev.event("Bootstrap-Request from %s" % rec["address"])
        steps = []
        if self.config.delete:
            steps += [("Delete /0", Code.DELETE, (0,), b"", None), ("Delete /1", Code.DELETE, (1,), b"", None)]
        steps += [("Write /0/1", Code.PUT, (0, 1), codec.encode_tlv(0, security), codec.TLV),
                  ("Write /1/0", Code.PUT, (1, 0), codec.encode_tlv(1, server), codec.TLV),
                  ("Bootstrap-Finish", Code.POST, ("bs",), b"", None)]
        for name, code, path, payload, cf in steps:
            msg = coapio.message(code, base, path, payload=payload, cf=cf, tuning=self.pf.tuning)
            try:
                resp = await coapio.send(self.pf.bs_ctx, msg, self.pf.request_timeout)
            except CoapError as e:
                return self._fail(dev, rec, name, str(e))
            rec["steps"].append({"step": name, "code": resp.code.dotted})
            if not resp.code.is_successful():
                why = coapio.code_text(resp.code)
                if name == "Bootstrap-Finish" and resp.code == Code.NOT_ACCEPTABLE:
                    why += " (the device found the configuration inconsistent)"
                if resp.payload:
                    why += ": " + resp.payload.decode("utf-8", "replace")[:100]
                return self._fail(dev, rec, name, why)
            log.info("%s: %s -> %s", ep, name, coapio.code_text(resp.code))
        rec["state"] = "finished"
        dev.event("bootstrap finished: server %s, binding %s, lifetime %d" % (security[0], server[7], server[1]))
        log.info("%s: bootstrap finished (server %s, binding %s, lifetime %d)", ep, security[0], server[7], server[1])
        self.pf.emit("bootstrapped", dev, None, [])
        self.pf.changed()

    def _fail(self, dev, rec, step, why):
        rec["state"] = "failed"
        rec["failed_step"] = step
        rec["reason"] = why
        dev.event("bootstrap failed at %s: %s" % (step, why))
        log.warning("%s: bootstrap failed at %s: %s", dev.ep, step, why)
        self.pf.emit("bootstrap-failed", dev, None, [])
        self.pf.changed()
