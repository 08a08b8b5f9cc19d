"""The platform simulator put together: the LwM2M server's CoAP context (the
registration interface, /dp, the package files), the optional bootstrap server
and separate file server, device management, the FOTA flow, lifetimes, the
data feed, the --state file and the coaps fronts (andlink_tools.dtlsfront:
DTLS with a pre-shared key, 3.5, in front of the plain CoAP servers).  `Platform(Config(...))`, `await start()`,
`await close()`; the control socket (andlink_tools.control) and the tests drive
it through its attributes."""

import asyncio
import logging
import time

from aiocoap import resource

from andlink_tools import coapio, rd
from andlink_tools.bootstrap import BootstrapSite, Config as BsConfig
from andlink_tools.devices import DeviceOps
from andlink_tools.fota import Fota, Policy
from andlink_tools.packages import Packages
from andlink_tools.registry import Device, Feed, Registry
from andlink_tools.state import StateFile

log = logging.getLogger("andlink.platform")

SAVE_DELAY = 1.0              # s: the state file is written at most this often


class Config:
    """Everything `serve` can set (defaults: the spec's figures)."""

    def __init__(self, coap=("127.0.0.1", 5683), bootstrap=None, files=None, url_host=None, state=None,
                 products=None, known_devices=None, observe=rd.DEFAULT_OBSERVE, awake=coapio.REQUEST_TIMEOUT,
                 ack_timeout=coapio.ACK_TIMEOUT, request_timeout=coapio.REQUEST_TIMEOUT, lifetime_grace=0.0,
                 bs_lifetime=86400, bs_binding="U", bs_delete=False, loss=0.0, rtt=0.0, seed=None,
                 policy=None, block_size=coapio.PREFERRED_BLOCK, coaps=None, bootstrap_coaps=None, psk=None):
        self.coap, self.bootstrap, self.files, self.url_host, self.state = coap, bootstrap, files, url_host, state
        self.products, self.known_devices, self.observe = products, known_devices, tuple(observe)
        self.awake, self.ack_timeout, self.request_timeout = awake, ack_timeout, request_timeout
        self.lifetime_grace = lifetime_grace
        self.bs_lifetime, self.bs_binding, self.bs_delete = bs_lifetime, bs_binding, bs_delete
        self.loss, self.rtt, self.seed = loss, rtt, seed
        self.policy = policy or Policy()
        self.block_size = block_size
        self.coaps, self.bootstrap_coaps = coaps, bootstrap_coaps     # DTLS fronts (3.5), (host, port)
        self.psk = psk or {}                                          # {identity bytes: key bytes}


class _Files(resource.Resource):
    """The separate file server (--files): packages only."""

    def __init__(self, pf):
        super().__init__()
        self.pf = pf

    async def needs_blockwise_assembly(self, request):
        return False

    async def render(self, request):
        import aiocoap
        from aiocoap.numbers.codes import Code
        if request.opt.uri_path[:1] != ("fota",):
            return aiocoap.Message(code=Code.NOT_FOUND)
        return self.pf.packages.serve(request)


class Platform:
    def __init__(self, config):
        self.config = c = config
        self.registry = Registry()
        self.feed = Feed()
        self.ops = DeviceOps(self)
        self.tuning = coapio.Tuning(c.ack_timeout)
        self.request_timeout = c.request_timeout
        self.awake = c.awake
        self.products = c.products
        self.known_devices = c.known_devices
        self.observe_paths = c.observe
        self.shaper = coapio.Shaper(c.loss, c.rtt, c.seed) if (c.loss or c.rtt) else None
        self.state = StateFile(c.state) if c.state else None
        self.packages = Packages(self, self.state.packages_dir if self.state else None)
        self.packages.preferred = c.block_size
        self.fota = Fota(self, c.policy)
        self.listeners = [self.fota.on_event]
        self.tasks = set()
        self.ctx = self.bs_ctx = self.files_ctx = None
        self.coap_address = self.bootstrap_address = self.files_address = None
        self.front = self.bs_front = None
        self.coaps_address = self.bootstrap_coaps_address = None
        self.started = None
        self._save_handle = None
        self._closing = False

    # -- life ---------------------------------------------------------------------------

    async def start(self):
        c = self.config
        if self.state is not None:
            self._load(self.state.open())
        try:
            self.ctx = await coapio.open_context(rd.Root(self), c.coap[0], c.coap[1], "andlink.platform.coap",
                                                 self.shaper)
            self.coap_address = self._reachable(coapio.local_address(self.ctx))
            self.files_address = self.coap_address
            if c.coaps is not None:
                self.front = await self._front(self.coap_address, c.coaps)
                self.coaps_address = self._reachable(self.front.address)
            if c.files is not None:
                self.files_ctx = await coapio.open_context(_Files(self), c.files[0], c.files[1],
                                                           "andlink.platform.files", self.shaper)
                self.files_address = self._reachable(coapio.local_address(self.files_ctx))
            if c.bootstrap is not None or c.bootstrap_coaps is not None:
                if self.front is not None:          # the device prefers coaps (4.1.2)
                    uri = "coaps://" + coapio.hostport(*self.coaps_address)
                else:
                    uri = "coap://" + coapio.hostport(*self.coap_address)
                site = BootstrapSite(self, BsConfig(uri, c.bs_lifetime, c.bs_binding, delete=c.bs_delete))
                where = c.bootstrap or ("127.0.0.1", 0)         # coaps only: plain on loopback, behind the front
                self.bs_ctx = await coapio.open_context(site, where[0], where[1],
                                                        "andlink.platform.bootstrap.coap", self.shaper)
                bs = self._reachable(coapio.local_address(self.bs_ctx))
                self.bootstrap_address = bs if c.bootstrap is not None else None
                if c.bootstrap_coaps is not None:
                    self.bs_front = await self._front(bs, c.bootstrap_coaps)
                    self.bootstrap_coaps_address = self._reachable(self.bs_front.address)
        except BaseException:
            await self.close()
            raise
        self.started = time.time()
        for dev in self.registry.devices.values():
            if dev.reg is not None:
                self.schedule_expiry(dev)
        return self

    async def _front(self, backend, where):
        """A coaps front (andlink_tools.dtlsfront) at `where` for the plain CoAP server at `backend`."""
        from andlink_tools.dtlsfront import DtlsFront
        host = "::1" if ":" in backend[0] else "127.0.0.1"
        try:
            return await DtlsFront((host, backend[1]), self.config.psk.get,
                                   log=lambda t: log.info("%s", t)).start(where)
        except OSError as e:
            raise coapio.CoapError("cannot listen for coaps on %s: %s" % (coapio.hostport(*where), e.strerror or e))

    def dtls_peer(self, host, port):
        """(device address, PSK identity) when (host, port) is a coaps front's pipe, else None."""
        for f in (self.front, self.bs_front):
            if f is not None:
                r = f.device_of((host, port))
                if r is not None:
                    return r
        return None

    def _reachable(self, address):
        """The address devices use: --url-host, else the bound one (127.0.0.1 for a
        wildcard), written in URIs the platform hands out."""
        host, port = address
        if self.config.url_host:
            host = self.config.url_host
        elif host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return host, port

    async def close(self):
        self._closing = True
        for dev in self.registry.devices.values():
            if dev.expiry is not None:
                dev.expiry.cancel()
                dev.expiry = None
        for t in list(self.tasks):
            t.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        for name in ("front", "bs_front"):
            f = getattr(self, name)
            if f is not None:
                setattr(self, name, None)
                await f.close()
        for name in ("ctx", "bs_ctx", "files_ctx"):
            ctx = getattr(self, name)
            if ctx is not None:
                setattr(self, name, None)
                try:
                    await ctx.shutdown()
                except Exception as e:               # never let one context keep the others open
                    log.debug("shutting %s down: %s", name, e)
        if self._save_handle is not None:
            self._save_handle.cancel()
            self._save_handle = None
        if self.state is not None:
            self.save()
            self.state.close()

    def spawn(self, coro):
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task):
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            e = task.exception()
            log.error("internal error: %s: %s", type(e).__name__, e, exc_info=e)

    # -- events ----------------------------------------------------------------------------

    def emit(self, kind, dev, path, entries):
        for fn in list(self.listeners):
            try:
                fn(kind, dev, path, entries)
            except Exception as e:
                log.error("internal error in a listener: %s: %s", type(e).__name__, e, exc_info=e)

    def emit_download(self, d):
        self.fota.on_download(d)

    # -- registrations ---------------------------------------------------------------------

    def schedule_expiry(self, dev):
        if dev.expiry is not None:
            dev.expiry.cancel()
            dev.expiry = None
        if dev.reg is None or self._closing:
            return
        delay = dev.reg.expires_at + self.config.lifetime_grace - time.time()
        dev.expiry = asyncio.get_running_loop().call_later(max(0.0, delay), self._expire, dev, dev.reg)

    def _expire(self, dev, reg):
        dev.expiry = None
        if dev.reg is not reg:
            return
        left = reg.expires_at + self.config.lifetime_grace - time.time()
        if left > 0.01:
            self.schedule_expiry(dev)
            return
        log.info("%s: registration %s expired (lifetime %d s, last heard %.1f s ago)", dev.ep, reg.location,
                 reg.lifetime, time.time() - reg.updated_at)
        self.end_registration(dev, "lifetime expired")

    def end_registration(self, dev, why):
        reg = dev.reg
        if reg is None:
            return
        if dev.expiry is not None:
            dev.expiry.cancel()
            dev.expiry = None
        self.ops.drop(dev, why)
        self.registry.remove(dev)
        dev.event("registration %s ended: %s" % (reg.location, why))
        self.emit("deregistered", dev, None, [])
        self.changed()

    # -- the state file ----------------------------------------------------------------------

    def changed(self):
        if self.state is None or self._save_handle is not None or self._closing:
            return
        self._save_handle = asyncio.get_running_loop().call_later(SAVE_DELAY, self._save_now)

    def _save_now(self):
        self._save_handle = None
        self.save()

    def save(self):
        if self.state is None:
            return
        doc = {"devices": [d.to_state() for d in self.registry.devices.values()],
               "packages": self.packages.to_state(), "fota": self.fota.to_state()}
        try:
            self.state.save(doc)
        except OSError as e:
            log.error("state file %s not written: %s", self.state.path, e.strerror or e)

    def _load(self, doc):
        for d in doc.get("devices") or []:
            dev = Device.from_state(d)
            self.registry.devices[dev.ep] = dev
            if dev.reg is not None:
                self.registry.by_id[dev.reg.id] = dev
        self.packages.load_state(doc.get("packages"))
        self.fota.load_state(doc.get("fota"))
