"""Device management and reporting from the platform's side (And-link spec 4.2,
4.3, appendix 6.5-6.11): Read, Write, Write-Attributes, Execute, Discover,
Create, Delete, Observe and Cancel Observation, each a CoAP request to the
address the device registered from; notifications decoded and kept.

An observation that ends without the platform asking -- an error notification
or one without Observe (RFC 7641 3.2), or aiocoap ending every observation of
an address when a CON to it is given up after its retransmissions -- is
observed again (same origin, query and Accept), after ACK_TIMEOUT and then
twice as long each time up to the request timeout, while the device keeps the
registration it was made under and nothing else observes the path; FOTA's own
only while its flow runs.  An answer other than 2.xx stops the retries.

One request per device is in flight at a time (RFC 7252 NSTART = 1: an NB-IoT
device has little room).  A device registered with binding UQ (queue mode,
LwM2M TS 1.0 5.3.2 / 1.1 6.5) is reachable only for a while after each uplink
(Register, Update, Send): `awake` s, by default MAX_TRANSMIT_WAIT (93 s, spec
3.4).  A request made while it sleeps waits in the device's queue and goes out,
in order, at its next uplink."""

import asyncio
import itertools
import logging
import time

from aiocoap.numbers.codes import Code

from andlink_tools import codec, coapio, objects
from andlink_tools.coapio import CoapError

log = logging.getLogger("andlink.platform")

_job_ids = itertools.count(1)


class DeviceError(Exception):
    """A request that could not be carried out: not registered, no answer, an
    error code from the device (one line)."""


class Queued(Exception):
    """The request waits for the device's next uplink (queue mode)."""

    def __init__(self, job):
        super().__init__("queued until the device's next uplink (job %d)" % job.id)
        self.job = job


class Result:
    """A device's answer: code (aiocoap Code), content format, payload, decoded
    entries (or the decoding error), Location-Path of a Create."""

    def __init__(self, op, path, response):
        self.op = op
        self.path = path
        self.code = response.code
        self.cf = response.opt.content_format
        self.payload = bytes(response.payload)
        self.observe = response.opt.observe
        self.location = "/" + "/".join(response.opt.location_path) if response.opt.location_path else None
        self.token = response.token
        self.entries, self.links, self.decode_error = [], None, None
        if self.ok and self.payload:
            try:
                if self.cf == codec.LINK:
                    self.links = codec.decode_link(self.payload)
                else:
                    self.entries = codec.decode(self.cf, self.payload, path)
            except codec.DecodeError as e:
                self.decode_error = str(e)

    @property
    def ok(self):
        return coapio.is_success(self.code)

    def to_json(self, show_secrets=False):
        out = {"op": self.op, "path": objects.path_text(self.path), "code": self.code.dotted,
               "code_text": coapio.code_text(self.code), "content_format": self.cf,
               "format": codec.cf_name(self.cf) if self.payload else None,
               "entries": [e.to_json(show_secrets) for e in self.entries]}
        if self.links is not None:
            out["links"] = [{"uri": u, "attrs": a} for u, a in self.links]
        if self.decode_error:
            out["decode_error"] = self.decode_error
            out["payload_hex"] = self.payload.hex() if show_secrets or not _has_secret(self.path) else "***"
        if self.location:
            out["location"] = self.location
        if not self.ok and self.payload:
            out["diagnostic"] = self.payload.decode("utf-8", "replace")[:200]
        return out


def _has_secret(path):
    return path[:1] == (0,) or path[:1] == (3,) and (len(path) < 3 or path[2] == 1)


class Job:
    """A request to a device: sent at once or queued (queue mode)."""

    def __init__(self, op, code, path, kw, label):
        self.id = next(_job_ids)
        self.op, self.code, self.path, self.kw, self.label = op, code, path, kw, label
        self.created = time.time()
        self.future = asyncio.get_running_loop().create_future()
        self.state = "new"

    def to_json(self):
        return {"job": self.id, "op": self.op, "path": objects.path_text(self.path), "state": self.state,
                "created": self.created, "label": self.label}


class Observation:
    """An observation the platform holds: its token (the Cancel repeats it), the
    aiocoap request, what started it (and its query, Accept and registration,
    to observe again), notifications seen."""

    def __init__(self, path, origin, request, token, query=(), accept=None, reg=None):
        self.path, self.origin, self.request, self.token = path, origin, request, token
        self.query, self.accept, self.reg = tuple(query), accept, reg
        self.started = time.time()
        self.count = 0
        self.last = None
        self.ended = None

    def to_json(self):
        return {"path": objects.path_text(self.path), "origin": self.origin, "token": self.token.hex(),
                "started": self.started, "notifications": self.count, "last": self.last, "ended": self.ended}


class DeviceOps:
    """The requests of spec 4.2 / 4.3 to registered devices of platform `pf`
    (pf.registry, pf.ctx, pf.tuning, pf.request_timeout, pf.awake, pf.feed,
    pf.emit, pf.fota.active)."""

    def __init__(self, pf):
        self.pf = pf
        self._flushing = set()
        self.reobserving = {}         # (ep, path text) -> the task observing it again

    # -- the request path ------------------------------------------------------------

    def awake(self, dev):
        return dev.reg is not None and (not dev.reg.queue or time.time() < dev.awake_until)

    async def request(self, dev, op, code, path, wait=None, label=None, **kw):
        """Result of one request to `dev`.  `wait`: seconds the caller waits for a
        queued request (None: as long as it takes); Queued when it is still
        queued then; DeviceError when it cannot be done."""
        if dev.reg is None:
            raise DeviceError("%s is not registered" % dev.ep)
        job = Job(op, code, path, kw, label)
        if self.awake(dev) and not dev.queue:
            self.pf.spawn(self._run(dev, job))
        else:
            job.state = "queued"
            dev.queue.append(job)
            dev.event("%s %s queued: the device sleeps (queue mode) until its next uplink" % (
                op, objects.path_text(path)))
            log.info("%s: %s %s queued (queue mode, job %d)", dev.ep, op, objects.path_text(path), job.id)
            if self.awake(dev):
                self._flush(dev)
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), wait)
        except asyncio.TimeoutError:
            if job.state == "queued":
                raise Queued(job)
            raise DeviceError("%s: %s %s: no answer in %g s (still waiting for it: see show)" % (
                dev.ep, op, objects.path_text(path), wait))

    async def _run(self, dev, job):
        """Send `job`; its future gets the Result or the DeviceError (never raises:
        the caller may be gone)."""
        try:
            res = await self._send(dev, job)
        except Exception as e:
            if not isinstance(e, DeviceError):
                log.error("%s: %s %s: internal error: %s: %s", dev.ep, job.op, objects.path_text(job.path),
                          type(e).__name__, e, exc_info=e)
                e = DeviceError("%s: %s %s: internal error: %s" % (dev.ep, job.op, objects.path_text(job.path), e))
            if not job.future.done():
                job.future.set_exception(e)
                job.future.exception()        # marked retrieved
            return
        if not job.future.done():
            job.future.set_result(res)

    async def _send(self, dev, job):
        async with dev.lock:
            reg = dev.reg
            if reg is None:
                raise DeviceError("%s is not registered" % dev.ep)
            job.state = "sent"
            kw = dict(job.kw)
            blockwise = kw.pop("blockwise", True)
            msg = coapio.message(job.code, reg.base, job.path, tuning=self.pf.tuning, **kw)
            started = time.time()
            try:
                if kw.get("observe") == 0:
                    req = coapio.start(self.pf.ctx, msg, blockwise=blockwise)
                    job.request = req
                    try:
                        resp = await asyncio.wait_for(req.response, self.pf.request_timeout)
                    except Exception as e:
                        raise CoapError(coapio.failure_text(e, self.pf.request_timeout))
                else:
                    resp = await coapio.send(self.pf.ctx, msg, self.pf.request_timeout, blockwise=blockwise)
            except CoapError as e:
                job.state = "failed"
                dev.event("%s %s: %s" % (job.op, objects.path_text(job.path), e))
                log.warning("%s: %s %s: %s", dev.ep, job.op, objects.path_text(job.path), e)
                raise DeviceError("%s: %s %s: %s" % (dev.ep, job.op, objects.path_text(job.path), e))
            job.state = "answered"
            res = Result(job.op, job.path, resp)
            res.rtt = time.time() - started
            res.request = getattr(job, "request", None)
            dev.counts["requests"] += 1
            if res.ok and res.entries:
                dev.remember(res.entries)
                if job.path[:1] == (19,):
                    self.pf.feed.add(dev.ep, "read", job.path, res.entries)
            text = "%s %s -> %s" % (job.op, objects.path_text(job.path), coapio.code_text(res.code))
            if res.decode_error:
                text += " (payload not decoded: %s)" % res.decode_error
                log.warning("%s: %s", dev.ep, text)
            dev.event(text)
            log.info("%s: %s", dev.ep, text)
            return res

    def uplink(self, dev):
        """The device spoke (Register, Update, Send, a notification, a block of a
        package): in queue mode it listens for `awake` s now; queued requests go out."""
        dev.awake_until = time.time() + self.pf.awake
        if dev.queue:
            self._flush(dev)

    def _flush(self, dev):
        if dev.ep in self._flushing:
            return
        self._flushing.add(dev.ep)
        self.pf.spawn(self._flush_run(dev))

    async def _flush_run(self, dev):
        try:
            n = 0
            while dev.queue and self.awake(dev):
                job = dev.queue.popleft()
                n += 1
                await self._run(dev, job)     # the outcome goes to the job (and the history)
            if n:
                log.info("%s: %d queued request%s delivered after its uplink", dev.ep, n, "" if n == 1 else "s")
        finally:
            self._flushing.discard(dev.ep)

    def drop(self, dev, why):
        """The registration ended: observations forgotten, queued requests failed."""
        for obs in list(dev.observations.values()):
            self._forget(dev, obs, why)
        while dev.queue:
            job = dev.queue.popleft()
            job.state = "failed"
            if not job.future.done():
                job.future.set_exception(DeviceError("%s: %s %s not sent: %s" % (
                    dev.ep, job.op, objects.path_text(job.path), why)))
                job.future.exception()

    # -- the operations (appendix 6.5-6.10) --------------------------------------------------

    async def read(self, dev, path, accept=None, query=(), **kw):
        return await self.request(dev, "Read", Code.GET, path, accept=accept, query=query, **kw)

    async def write(self, dev, path, payload, cf, partial=False, **kw):
        return await self.request(dev, "Write", Code.POST if partial else Code.PUT, path, payload=payload,
                                  cf=cf, **kw)

    async def write_attributes(self, dev, path, attrs, **kw):
        return await self.request(dev, "Write-Attributes", Code.PUT, path, query=attrs, **kw)

    async def execute(self, dev, path, args=b"", **kw):
        return await self.request(dev, "Execute", Code.POST, path, payload=args, **kw)

    async def discover(self, dev, path, **kw):
        return await self.request(dev, "Discover", Code.GET, path, accept=codec.LINK, **kw)

    async def create(self, dev, path, payload, cf, **kw):
        return await self.request(dev, "Create", Code.POST, path, payload=payload, cf=cf, **kw)

    async def delete(self, dev, path, **kw):
        return await self.request(dev, "Delete", Code.DELETE, path, **kw)

    async def observe(self, dev, path, origin="operator", accept=None, query=(), **kw):
        """Observe (GET, Observe=0): the first answer; notifications go to the
        device's values, the data feed and pf.emit("notify", ...)."""
        try:
            res = await self.request(dev, "Observe", Code.GET, path, observe=0, accept=accept, query=query,
                                     blockwise=False, **kw)
        except Queued as q:             # queue mode: kept as an observation once the device answers it
            q.job.future.add_done_callback(lambda f: self._late_observe(dev, path, origin, accept, query, f))
            raise
        return self._observed(dev, path, origin, accept, query, res)

    def _late_observe(self, dev, path, origin, accept, query, fut):
        if fut.cancelled() or fut.exception() is not None:
            return
        try:
            self._observed(dev, path, origin, accept, query, fut.result())
        except Exception as e:
            log.error("%s: Observe %s: internal error: %s: %s", dev.ep, objects.path_text(path), type(e).__name__,
                      e, exc_info=e)

    def _observed(self, dev, path, origin, accept, query, res):
        """Record the observation an Observe's first answer `res` started."""
        key = objects.path_text(path)
        old = dev.observations.get(key)
        if not res.ok:
            return res
        if res.observe is None:
            res.not_observed = True
            dev.event("Observe %s: answered without Observe (not observable)" % key)
            return res
        if old is not None:             # RFC 7641 4.1: the device replaced it; ours ends quietly
            self._forget(dev, old, "observed again")
        obs = Observation(path, origin, res.request, res.token, query, accept, dev.reg)
        dev.observations[key] = obs
        dev.counts["observations"] += 1
        self._notified(dev, obs, res.entries, first=True)
        # the feed row of this first answer: a notification that came before the
        # callback is handed to it at once (aiocoap keeps the latest) and lands
        # after this row, so a follower starting here gets it
        res.feed_row = self.pf.feed.last
        coapio.on_notification(res.request.observation, lambda m: self._notification(dev, obs, m),
                               lambda e: self._ended(dev, obs, e))
        return res

    async def cancel(self, dev, path, **kw):
        """Cancel Observation (appendix 6.10): GET with Observe=1 and the
        observation's token; the observation is forgotten whatever the answer."""
        key = objects.path_text(path)
        obs = dev.observations.get(key)
        if obs is None:
            raise DeviceError("%s: %s is not observed" % (dev.ep, key))
        self._forget(dev, obs, "cancelled")
        return await self.request(dev, "Cancel Observation", Code.GET, path, observe=1, token=obs.token,
                                  blockwise=False, **kw)

    def _forget(self, dev, obs, why):
        if dev.observations.get(objects.path_text(obs.path)) is obs:
            del dev.observations[objects.path_text(obs.path)]
        obs.ended = why
        o = obs.request.observation
        if o is not None and not o.cancelled:
            o.cancel()

    def _notification(self, dev, obs, msg):
        if dev.observations.get(objects.path_text(obs.path)) is not obs:
            return
        if not coapio.is_success(msg.code):               # the device ends it (RFC 7641 3.2)
            self._ended(dev, obs, CoapError("the device notified %s" % coapio.code_text(msg.code)))
            return
        try:
            entries = codec.decode(msg.opt.content_format, msg.payload, obs.path)
        except codec.DecodeError as e:
            dev.event("notification %s not decoded: %s" % (objects.path_text(obs.path), e))
            log.warning("%s: notification of %s not decoded: %s", dev.ep, objects.path_text(obs.path), e)
            return
        self._notified(dev, obs, entries)
        self.uplink(dev)                      # a device that notifies is awake (queue mode)

    def _notified(self, dev, obs, entries, first=False):
        now = time.time()
        obs.count += 0 if first else 1
        obs.last = now
        dev.last_seen = now
        dev.remember(entries, now)
        if not first:
            dev.counts["notifications"] += 1
            shown = "; ".join(codec.show(e) for e in entries[:4])
            dev.event("notification %s: %s" % (objects.path_text(obs.path), shown or "(empty)"))
            log.info("%s: notification %s", dev.ep, shown or objects.path_text(obs.path))
        self.pf.feed.add(dev.ep, "notify" if not first else "observe", obs.path, entries, origin=obs.origin)
        self.pf.emit("notify" if not first else "observed", dev, obs.path, entries)

    def _ended(self, dev, obs, exc):
        if getattr(self.pf, "_closing", False):
            return
        if dev.observations.get(objects.path_text(obs.path)) is obs:
            del dev.observations[objects.path_text(obs.path)]
            obs.ended = str(exc) or type(exc).__name__
            dev.event("observation %s ended: %s" % (objects.path_text(obs.path), obs.ended))
            log.info("%s: observation of %s ended: %s", dev.ep, objects.path_text(obs.path), obs.ended)
            self.reobserve(dev, obs)

    # -- observing again ---------------------------------------------------------------------

    def reobserve(self, dev, obs, why=None):
        """Observe obs.path again, with back-off, while it is wanted (_wanted).
        `why`: obs is still held but given up (e.g. FOTA heard nothing for too
        long): forgotten first, for that reason."""
        if why is not None and dev.observations.get(objects.path_text(obs.path)) is obs:
            self._forget(dev, obs, why)
            dev.event("observation %s given up: %s" % (objects.path_text(obs.path), why))
        k = (dev.ep, objects.path_text(obs.path))
        if k not in self.reobserving and self._wanted(dev, obs):
            self.reobserving[k] = self.pf.spawn(self._reobserve(dev, obs, k))

    def _wanted(self, dev, obs, held=False):
        return (not getattr(self.pf, "_closing", False) and dev.reg is not None and dev.reg is obs.reg
                and (held or objects.path_text(obs.path) not in dev.observations)
                and (obs.origin != "fota" or self.pf.fota.active(dev.ep)))

    async def _reobserve(self, dev, obs, k):
        key = k[1]
        delay, n = self.pf.tuning.ACK_TIMEOUT, 0
        try:
            while True:
                await asyncio.sleep(delay)
                if not self._wanted(dev, obs):
                    return
                n += 1
                try:
                    res = await self.observe(dev, obs.path, origin=obs.origin, accept=obs.accept, query=obs.query,
                                             label="observe again")
                    why = "answered without Observe"
                except (DeviceError, Queued) as e:
                    res, why = None, str(e)
                new = dev.observations.get(key)
                if res is not None and not res.ok:
                    dev.event("observation %s not observed again: answered %s" % (key, coapio.code_text(res.code)))
                    return
                if new is not None and new.request is getattr(res, "request", None):
                    if not self._wanted(dev, obs, held=True):   # the registration or FOTA's flow ended meanwhile
                        self._forget(dev, new, "no longer wanted")  # its next notification gets an RST
                        return
                    dev.event("observation %s observed again (attempt %d)" % (key, n))
                    log.info("%s: %s observed again (attempt %d)", dev.ep, key, n)
                    return
                dev.event("observing %s again, attempt %d: %s" % (key, n, why))
                delay = min(delay * 2, max(self.pf.request_timeout, self.pf.tuning.ACK_TIMEOUT))
        finally:
            if self.reobserving.get(k) is asyncio.current_task():
                del self.reobserving[k]
