"""And-link as one of a board's protocols: what wmmp.board.device starts when
board.PROTOCOLS names "andlink" (a supervised task "andlink", beside the WMMP
engine's or alone).  Portable.

    svc = Service(dev)            dev: the wmmp.board.device.Device
    await svc.run_once()          the task: returns or raises only on failure
    svc.send(doc)                 the application's Send to /dp (4.3.2)
    svc.update_params(dict)       the application's parameters (/19/1/0) changed

It takes from the board module (wmmp.board.device documents the rest):
    ANDLINK            the settings (andlink.board.settings)
    battery()          -> /3/0/9 battery level, %, optional; without it,
                       supply_mv() with BATTERY_MV = (empty_mv, full_mv)
                       gives a straight line between the two
    memory()           -> (free, total) bytes for /3/0/10, /3/0/21 (default:
                       MicroPython's gc.mem_free, gc.mem_alloc)
    on_andlink_params(dict)   a Write of the parameters /19/1/0 (4.2.2)
    andlink_psk()      -> the pre-shared key (bytes) for coaps, optional:
                       without it the hex file of the psk_file setting
    ANDLINK_FALLBACK   {host name: "a.b.c.d"} the address of a name of the
                       settings that does not resolve (SIM7600 only; And-link
                       spec 4.1.2: the domain name first, then the IP address)
    on_andlink_event(ev)      every client event (LEDs, tests)
    ota_stager(), OTA_HEALTH_S, reset(), FIRMWARE, STATE_DIR, filesystem()

The module: with WMMP running too, the engine's task brings it up and this
one waits for its identity; alone, this task does (the same
wmmp.board.cellular steps, the APN of board.SETTINGS).  The link is
andlink.board.bc95link on a BC95 (addresses only: a host name in a setting
is refused, one in a URI the client gets fails there) and
andlink.board.sim7600link on a SIM7600 (its link 2, beside WMMP's 0 and 1;
host names allowed: resolve() hands them on as they are and the link
resolves them with AT+CDNSGIP at each opening and at the first send, since
the client's resolve callback cannot wait for the module; see there).  The
IMEI is the module's (AT+CGSN), /3/0/3 its firmware (AT+CGMR).

The record (bootstrap result, FOTA state) is a FlashStorage in
STATE_DIR/andlink (andlink.client.core.FlashPersist); RAM only when the
flash is unusable.  FOTA: the board's updater stager (board.ota_stager():
AppStager on the RP2040 and the host, Esp32Stager on the ESP32); with WMMP
running too it is the WMMP updater's own, whose boot() already ran at this
start (SharedStager hands that outcome to the client once): one stager, so
one update at a time (the last begin() wins).  A restart (FOTA applied,
Reboot /3/0/4, a rollback) commits the WMMP parameters and calls
board.reset(); a board without reset() (a host) starts a new client in place.
"""

import asyncio

from andlink.board import objects, settings as AS
from andlink.board.runner import Runner


class SharedStager:
    """The WMMP updater's stager: boot() gives the outcome its start already
    counted (wmmp.board.otarun.OtaRun.status) once, then counts again."""

    def __init__(self, stager, status):
        self._st = stager
        self._status = status

    def boot(self):
        s, self._status = self._status, None
        return self._st.boot() if s is None else s

    def __getattr__(self, name):
        return getattr(self._st, name)


class _RamPersist:
    def __init__(self):
        self.d = None

    def load(self):
        return self.d

    def save(self, d):
        self.d = dict(d)


class Service:
    def __init__(self, dev):
        self.dev = dev
        self.board = dev.board
        self.settings = None
        self.link = None
        self.runner = None
        self.persist = None
        self.stager = None
        self.params = {}            # the parameter document /19/1/0, kept across restarts
        self.psk = None             # (identity, key) for coaps accounts
        self.events = 0
        self._stagers = False

    def protocols(self):
        return getattr(self.board, "PROTOCOLS", ("wmmp",))

    async def run_once(self):
        dev = self.dev
        b = self.board
        try:
            self.settings = s = AS.resolve(getattr(b, "ANDLINK", None), ip_only=dev.kind != "sim7600")
        except ValueError as e:
            await self._park("settings: %s" % e)
        await self._modem()
        if s["secure"] and self.psk is None:
            try:
                self.psk = (s["psk_identity"] or dev.ident["imei"]).encode(), self._psk_key()
            except Exception as e:
                await self._park("coaps needs the pre-shared key: %s" % (e,))
        if dev.kind not in ("bc95", "sim7600"):
            await self._park("no datagram link for the %s here" % dev.kind)
        if self.link is None:
            self.link = self._link(s)
        if self.persist is None:
            self.persist = self._record()
        if not self._stagers:
            self._stagers = True
            self.stager = self._stager()
        self.hooks = objects.Hooks(self._reboot, self._battery(), getattr(b, "memory", None) or objects.memory,
                                   getattr(b, "on_andlink_params", None))
        self.hooks.params = self.params
        self.runner = Runner(self._build, self.link, clock=dev.clock, log=dev.log, restart=self._restart,
                             on_event=self._on_event, stager=self.stager, health=getattr(b, "OTA_HEALTH_S", 300),
                             radio_period=s["radio_period"], restart_grace=s["restart_grace"],
                             counters=self.hooks, backoff=getattr(b, "RESTART_BACKOFF", (1, 60)))
        dev.log("andlink: IMEI %s, server %s, bootstrap %s, binding %s" % (
            dev.ident.get("imei"), s["server"], s["bootstrap"], s["binding"]))
        await self.runner.run()

    def send(self, doc):
        """Send (4.3.2) the parameter document `doc` to /dp: the token, or
        None when not registered."""
        r = self.runner
        if r is None or r.client is None:
            return None
        tok = r.client.send(doc, self.dev.clock())
        r.wake()
        return tok

    def update_params(self, d):
        """The application changed parameters of /19/1/0: observers are told."""
        self.params.update(d)
        r = self.runner
        if r is not None and r.client is not None:
            r.client.changed((19, 1, 0))
            r.wake()

    # == inside ===============================================================
    async def _park(self, why):
        """A fault no retry mends: logged once, the task waits for ever."""
        self.dev.log("andlink: not started: " + why)
        await asyncio.Event().wait()

    async def _modem(self):
        dev = self.dev
        if "wmmp" in self.protocols():
            while dev.ident is None or dev.drv is None:     # the engine's task brings it up
                await asyncio.sleep(0.2)
            return
        from wmmp.board import cellular, settings as WS
        if dev.drv is None:
            stream = dev._call("modem_stream")
            if stream is None:
                raise OSError("board.modem_stream() gave no stream")
            apn = WS.resolve(getattr(self.board, "SETTINGS", None), dev.params)["apn"]
            dev.at, dev.drv = cellular.driver(dev.kind, stream, dev.log, apn,
                                              getattr(self.board, "MODEM_OPTIONS", None))
        if dev.ident is None:
            ident = await cellular.bring_up(dev.kind, dev.drv, dev._call("modem_power"), dev._not_ready)
            dev.alarms.module(True, dev.clock())
            dev.log("andlink: %s firmware %s IMEI %s" % (dev.kind, ident.get("firmware"), ident.get("imei")))
            if dev.console is not None:
                dev.console.imei = ident.get("imei")
                dev.console.sim = dev.drv
            dev.ident = ident

    def _record(self):
        dev = self.dev
        from wmmp.terminal.params import MemoryStorage
        if isinstance(dev.storage, MemoryStorage):
            return _RamPersist()            # the flash cannot be used: RAM, as the WMMP parameters
        try:
            from wmmp.board import fsio
            from wmmp.board.store import FlashStorage
            from andlink.client.core import FlashPersist
            fs = dev._call("filesystem") or fsio.OsFS()
            d = getattr(self.board, "STATE_DIR", "/state").rstrip("/") + "/andlink"
            p = FlashPersist(FlashStorage(fs, d, max_size=4096, audit_max=1))
            p.load()
            return p
        except Exception as e:
            dev.log("andlink: record on flash unusable (%r): RAM only" % (e,))
            return _RamPersist()

    def _stager(self):
        dev = self.dev
        ota = getattr(dev, "ota", None)
        if ota is not None:
            return SharedStager(ota.stager, ota.status)
        return dev._call("ota_stager")

    def _build(self):
        s = self.settings
        dev = self.dev
        st = self.stager
        version = None
        if st is not None:
            try:
                version = st.version()
            except Exception:
                version = None
        store = objects.build(s, dev.ident.get("firmware"), version or getattr(self.board, "FIRMWARE", None),
                              self.hooks, stager=st is not None)
        from andlink.client.core import Client
        c = Client(store, dev.ident["imei"], server=s["server_peer"], bootstrap=s["bootstrap_peer"],
                   lifetime=s["lifetime"], binding=s["binding"], persist=self.persist, stager=st,
                   params=s["params"], resolve=self._resolve,
                   server_psk=self.psk if s["server_secure"] else None,
                   bootstrap_psk=self.psk if s["bootstrap_secure"] else None)
        if s["queue_window"] is not None:
            c.queue_window = s["queue_window"]
        return c

    def _psk_key(self):
        fn = getattr(self.board, "andlink_psk", None)
        if fn is not None:
            key = fn()
            if not key:
                raise ValueError("board.andlink_psk() gave no key")
            return bytes(key)
        from wmmp.board import fsio
        path = self.settings["psk_file"] or getattr(self.board, "STATE_DIR", "/state").rstrip("/") + "/andlink.psk"
        fs = self.dev._call("filesystem") or fsio.OsFS()
        try:
            f = fs.open(path, "rb")
        except OSError:
            raise ValueError("no key file " + path)
        try:
            text = f.read(256)
        finally:
            f.close()
        return AS.psk_key(str(bytes(text), "utf-8"), path)

    def _link(self, s):
        dev = self.dev
        if dev.kind == "sim7600":
            from andlink.board.sim7600link import Sim7600Link
            if s["sleep"] == "off" or s["psm_timers"]:
                dev.log("andlink: sleep %r / psm_timers do not apply to the sim7600" % (s["sleep"],))
            names = [p[0] for p in (s["server_peer"], s["bootstrap_peer"]) if p]
            return Sim7600Link(dev.drv, s["local_port"], names=names,
                               fallback=getattr(self.board, "ANDLINK_FALLBACK", None))
        from andlink.board.bc95link import Bc95Link
        return Bc95Link(dev.drv, s["local_port"], s["sleep"], s["psm_timers"])

    def _resolve(self, host, port):
        """The client's peers: (host, port) as they are; the SIM7600's link
        resolves names (andlink.board.sim7600link), the BC95 has none."""
        if self.dev.kind != "sim7600" and not AS.is_ipv4(host):
            raise ValueError("%s: the %s resolves no names" % (host, self.dev.kind))
        return host, port

    def _battery(self):
        b = self.board
        fn = getattr(b, "battery", None)
        if fn is not None:
            return fn
        mv = getattr(b, "BATTERY_MV", None)
        if mv is None or getattr(b, "supply_mv", None) is None:
            return None

        def level():
            v = b.supply_mv()
            return max(0, min(100, (v - mv[0]) * 100 // (mv[1] - mv[0])))
        return level

    def _reboot(self):
        """Execute /3/0/4: 2.04 first, the restart once it went out."""
        self.runner.later_restart("reboot")

    def _restart(self, why, version):
        dev = self.dev
        dev.log("andlink: restarting (%s%s)" % (why, " to %s" % version if version else ""))
        if dev.params is not None:
            try:
                dev.params.commit()
            except Exception as e:
                dev.log("andlink: parameters not saved: %r" % (e,))
        reset = getattr(self.board, "reset", None)
        if reset is None:
            return False                    # a host: a new client in place
        reset()                             # machine.reset(): never returns on a board
        return True

    def _on_event(self, ev):
        self.events += 1
        hook = getattr(self.board, "on_andlink_event", None)
        if hook is not None:
            hook(ev)
