"""The FOTA flow of And-link spec section 4.4 (Pull), from the platform's side,
one per device, recorded step by step:

    4.4.3 checks   Read /4/0/8 cell, /3/0/9 battery, /3/0/10 memory free (SOTA:
                   /3/0/26261), /4/0/2 signal; refused when memory < package,
                   battery or signal below the task's minimum, or too many devices
                   of the cell upgrading (--force skips them)
    SOTA           Execute /5/0/26550 (4.4.4) first
    subscribe      GET /5/0/3?pmax=10 with Observe=0, the form of the 4.4.2 table;
                   a device that refuses the query gets Write-Attributes pmax=10
                   and a plain Observe
    push           Write /5/0/1 = coap://.../fota/<id> (text/plain)
    follow         /5/0/3 notifications: 1 downloading, 2 downloaded -> Execute
                   /5/0/2, 3 updating; 0 after 1 -> the download failed: Read /5/0/5.
                   An observation of /5/0/3 that ends is observed again
                   (andlink_tools.devices), one silent for 2 x pmax too (the device
                   dropped it: its CON notification timed out, RFC 7641 4.5); the
                   first answer gives the state that may have been missed
    outcome        after Execute, once the device registered again (it reboots) and
                   its registration's reads are done, at an Update after that, or at
                   its return to state 0: Read /5/0/5 (1 = success, 2-9 failures)
                   and the version, /3/0/3 (FOTA) or /3/0/19 (SOTA), which must
                   be the package's.  Result 0 (a restarted device confirms the
                   update only when its Register is answered: a lost 2.01, a
                   Register sent twice) or a read without answer is too early:
                   read again every `recheck` s until the time limit
    end            Cancel Observation of /5/0/3 (GET Observe=1, same token)

Time limits, each ending the flow as failed with the reason (and, for a
download, Write /5/0/1 = "" to put the device back to idle, LwM2M TS 1.0
E.6): no block served and no notification for `stall` s (spec 3.4
BLOCKWISE_STATUS_LIFETIME, 300 s), no state 2 within `download` s, no outcome
within `update` s of the Execute.  An Execute /5/0/2 without an answer is no
failure by itself: the device may have taken it and restarted; the outcome
tells."""

import asyncio
import logging
import time

from andlink_tools import codec, coapio, objects
from andlink_tools.devices import DeviceError, Observation, Queued

log = logging.getLogger("andlink.platform.fota")

ACTIVE = ("checking", "subscribing", "uri-written", "downloading", "downloaded", "updating")
RECORDS_KEPT = 5              # finished flows kept per device


class FotaError(Exception):
    pass


def _result_text(r):
    return "/5/0/5 = %s (%s)" % (r, objects.FW_RESULTS.get(r, "no result") if r is not None else "not read")


class Policy:
    """recheck: seconds between reads of the outcome that came too early
    (default a tenth of `update`, at most 30)."""

    def __init__(self, min_battery=None, min_signal=None, max_per_cell=10, stall=300.0, download=3600.0,
                 update=600.0, pmax=10, recheck=None):
        self.min_battery = min_battery
        self.min_signal = min_signal
        self.max_per_cell = max_per_cell
        self.stall = stall
        self.download = download
        self.update = update
        self.pmax = pmax
        self.recheck = recheck if recheck is not None else min(30.0, update / 10.0)

    def to_json(self):
        return dict(vars(self))


class Record:
    def __init__(self, ep, pkg, uri, sota):
        self.ep, self.pkg_id, self.version, self.size, self.uri, self.sota = ep, pkg.id, pkg.version, pkg.size, uri, sota
        self.state = "checking"
        self.reason = None
        self.result = None
        self.fw_state = None
        self.new_version = None
        self.checks = {}
        self.progress = {"highest": 0, "served": 0, "blocks": 0}
        self.started = time.time()
        self.ended = None
        self.events = []

    def event(self, text):
        self.events.append({"time": time.time(), "event": text})
        del self.events[:-100]

    def to_json(self):
        d = {k: getattr(self, k) for k in ("ep", "pkg_id", "version", "size", "uri", "sota", "state", "reason",
                                           "result", "fw_state", "new_version", "checks", "progress", "started",
                                           "ended", "events")}
        d["result_text"] = objects.FW_RESULTS.get(self.result) if self.result is not None else None
        d["percent"] = round(100.0 * self.progress["highest"] / self.size, 1) if self.size else 0.0
        return d

    @classmethod
    def from_json(cls, d):
        r = cls.__new__(cls)
        for k, v in d.items():
            if k not in ("result_text", "percent"):
                setattr(r, k, v)
        if r.state in ACTIVE:
            r.state, r.reason, r.ended = "failed", "interrupted: the platform stopped during the flow", time.time()
        return r


class _Flow:
    """What a running flow keeps beside its record (times on the loop's clock)."""

    def __init__(self):
        self.t_write = self.activity = self.heard = 0.0
        self.t_exec = None            # the Execute of /5/0/2
        self.rebooted = False         # the device registered again after the Execute
        self.ready = False            # ... and the platform is done with that registration (4.1.5, 4.3.1.2)
        self.check_at = None          # when to read the outcome
        self.last_read = None         # what the last read of the outcome said
        self.pmax = True              # the device took pmax for /5/0/3: it notifies at least that often


class Fota:
    def __init__(self, pf, policy=None):
        self.pf = pf
        self.policy = policy or Policy()
        self.records = {}            # ep -> [Record], the last one current
        self.queues = {}             # ep -> asyncio.Queue of the running flow's events

    def current(self, ep):
        rs = self.records.get(ep)
        return rs[-1] if rs else None

    def active(self, ep):
        r = self.current(ep)
        return r is not None and r.state in ACTIVE

    # -- events from the platform ---------------------------------------------------------

    def on_event(self, kind, dev, path, entries):
        q = self.queues.get(dev.ep)
        if q is not None:
            q.put_nowait((kind, path, entries))

    def on_download(self, d):
        dev = self.pf.registry.by_address(d.host, d.port) or self.pf.registry.by_address(d.host)
        if dev is None:
            return
        self.pf.ops.uplink(dev)
        r = self.current(dev.ep)
        if r is None or r.state not in ACTIVE or r.pkg_id != d.pkg.id:
            return
        r.progress = {"highest": d.highest, "served": d.served, "blocks": d.blocks, "block_sizes": sorted(d.sizes)}
        q = self.queues.get(dev.ep)
        if q is not None:
            q.put_nowait(("block", None, []))

    # -- the flow -------------------------------------------------------------------------

    async def push(self, dev, pkg, force=False, sota=False):
        """Checks, subscription and the URI write; then the rest runs on its own.
        The record; FotaError when the flow cannot start."""
        if dev.reg is None:
            raise FotaError("%s is not registered" % dev.ep)
        if self.active(dev.ep):
            raise FotaError("%s: a FOTA is running (state %s): wait for it or let it time out" % (
                dev.ep, self.current(dev.ep).state))
        rec = Record(dev.ep, pkg, self.pf.packages.uri(pkg), sota)
        self.records.setdefault(dev.ep, []).append(rec)
        del self.records[dev.ep][:-RECORDS_KEPT]
        q = self.queues[dev.ep] = asyncio.Queue()
        fl = _Flow()
        rec.event("push of package %s (version %s, %d bytes)%s" % (pkg.id, pkg.version, pkg.size,
                                                                  " as SOTA" if sota else ""))
        dev.event("FOTA: package %s version %s pushed" % (pkg.id, pkg.version))
        try:
            if not force and not await self._checks(dev, rec, pkg, sota):
                return rec
            if sota:
                res = await self.pf.ops.execute(dev, (5, 0, 26550), label="fota")
                rec.event("Execute /5/0/26550 (switch to MCU update) -> %s" % coapio.code_text(res.code))
                if not res.ok:
                    return self._end(dev, rec, "failed", "Execute /5/0/26550 answered %s" % coapio.code_text(res.code))
            rec.state = "subscribing"
            if not await self._subscribe(dev, rec, fl):
                return rec
            res = await self.pf.ops.write(dev, (5, 0, 1), rec.uri.encode(), codec.TEXT, label="fota")
            rec.event("Write /5/0/1 %s -> %s" % (rec.uri, coapio.code_text(res.code)))
            if not res.ok:
                return self._end(dev, rec, "failed", "Write /5/0/1 answered %s" % coapio.code_text(res.code))
        except (DeviceError, Queued) as e:
            return self._end(dev, rec, "failed", str(e))
        rec.state = "uri-written"
        self.pf.changed()
        self.pf.spawn(self._follow(dev, rec, q, fl))
        return rec

    async def _checks(self, dev, rec, pkg, sota):
        p = self.policy
        reads = (("cell", (4, 0, 8)), ("battery", (3, 0, 9)),
                 ("memory_free", (3, 0, 26261) if sota else (3, 0, 10)), ("signal", (4, 0, 2)))
        vals = {}
        for name, path in reads:
            if not dev.reg.announces(path):
                rec.checks[name] = "not announced: not checked"
                continue
            res = await self.pf.ops.read(dev, path, accept=codec.TEXT, label="fota")
            if res.ok and res.entries and isinstance(res.entries[0].value, (int, float)):
                vals[name] = res.entries[0].value
                rec.checks[name] = vals[name]
            else:
                rec.checks[name] = "Read %s -> %s: not checked" % (objects.path_text(path), coapio.code_text(res.code))
        why = None
        if "memory_free" in vals and vals["memory_free"] * 1024 < pkg.size:
            why = "memory free %s KB < package %.1f KB" % (vals["memory_free"], pkg.size / 1024.0)
        elif p.min_battery is not None and "battery" in vals and vals["battery"] < p.min_battery:
            why = "battery %s%% < %s%%" % (vals["battery"], p.min_battery)
        elif p.min_signal is not None and "signal" in vals and vals["signal"] < p.min_signal:
            why = "signal %s dBm < %s dBm" % (vals["signal"], p.min_signal)
        elif "cell" in vals:
            busy = [ep for ep, rs in self.records.items() if ep != dev.ep and rs and rs[-1].state in ACTIVE
                    and rs[-1].checks.get("cell") == vals["cell"]]
            if len(busy) >= p.max_per_cell:
                why = "%d devices of cell %s are upgrading (at most %d)" % (len(busy), vals["cell"], p.max_per_cell)
        if why:
            self._end(dev, rec, "refused", why + " (spec 4.4.3)")
            return False
        rec.event("checks passed: %s" % ", ".join("%s %s" % kv for kv in sorted(vals.items())) or "none possible")
        return True

    async def _subscribe(self, dev, rec, fl):
        p, path = self.policy, (5, 0, 3)
        res = await self.pf.ops.observe(dev, path, origin="fota", query=("pmax=%d" % p.pmax,), label="fota")
        rec.event("Observe /5/0/3?pmax=%d -> %s" % (p.pmax, coapio.code_text(res.code)))
        if not res.ok:
            wa = await self.pf.ops.write_attributes(dev, path, ("pmax=%d" % p.pmax,), label="fota")
            rec.event("Write-Attributes /5/0/3?pmax=%d -> %s" % (p.pmax, coapio.code_text(wa.code)))
            fl.pmax = wa.ok
            res = await self.pf.ops.observe(dev, path, origin="fota", label="fota")
            rec.event("Observe /5/0/3 -> %s" % coapio.code_text(res.code))
        if not res.ok or getattr(res, "not_observed", False):
            self._end(dev, rec, "failed", "/5/0/3 cannot be observed (%s; spec 4.3.1.2 requires it)" %
                      coapio.code_text(res.code))
            return False
        if res.entries:
            rec.fw_state = res.entries[0].value
        return True

    async def _follow(self, dev, rec, q, fl):
        p = self.policy
        loop = asyncio.get_running_loop()
        fl.t_write = fl.activity = fl.heard = loop.time()
        quiet = 2 * p.pmax + 2 * self.pf.tuning.ACK_TIMEOUT     # /5/0/3 silent this long: its observation is lost
        try:
            while rec.state in ACTIVE:
                now = loop.time()
                checking = rec.state == "updating" and fl.check_at is not None
                if checking and now >= fl.check_at:
                    fl.check_at = None
                    if not await self._outcome(dev, rec, fl, loop) and rec.state == "updating":
                        fl.check_at = loop.time() + p.recheck
                    continue
                watching = rec.state in ("uri-written", "downloading") and fl.pmax
                if watching and now >= fl.heard + quiet:
                    self._silent(dev, rec, now - fl.heard)
                    fl.heard = now
                    continue
                if rec.state in ("uri-written", "downloading"):
                    deadline = min(fl.activity + p.stall, fl.t_write + p.download)
                elif rec.state == "updating":
                    deadline = fl.t_exec + p.update
                else:
                    deadline = fl.t_write + p.download
                wake = min([deadline] + ([fl.check_at] if checking else []) + ([fl.heard + quiet] if watching else []))
                try:
                    kind, path, entries = await asyncio.wait_for(q.get(), max(0.0, wake - now))
                except asyncio.TimeoutError:
                    if loop.time() < deadline:
                        continue
                    await self._timed_out(dev, rec, fl, loop.time() - fl.activity >= p.stall)
                    break
                fl.activity = loop.time()
                await self._event(dev, rec, fl, loop, kind, path, entries)
                self.pf.changed()
        except (DeviceError, Queued) as e:
            self._end(dev, rec, "failed", str(e))
        finally:
            if self.queues.get(dev.ep) is q:
                del self.queues[dev.ep]
            await self._unsubscribe(dev, rec)

    async def _event(self, dev, rec, fl, loop, kind, path, entries):
        """One event of the platform for the flow's device."""
        res = tuple(path[:3]) if path is not None else None
        values = [e.value for e in entries if e.path == res and isinstance(e.value, int)]
        if kind in ("notify", "observed") and res == (5, 0, 3):
            fl.heard = fl.activity
            for v in values:
                if kind == "observed" and v == rec.fw_state:
                    continue                    # a first answer: news only when the state changed meanwhile
                await self._state(dev, rec, v, fl, loop, "notification" if kind == "notify" else "observed")
        elif kind in ("notify", "observed") and res == (5, 0, 5):
            for v in values:
                if kind == "notify":
                    self._result(dev, rec, v)
                if rec.state == "updating" and v != 0:
                    self._check_now(fl, loop)
        elif kind == "registered":
            rec.event("the device registered again")
            if rec.state == "updating":         # the outcome once the platform is done with its registration
                fl.rebooted, fl.ready, fl.check_at = True, False, None
        elif kind in ("ready", "update") and rec.state == "updating" and fl.rebooted:
            fl.ready = True
            self._check_now(fl, loop)
        elif kind == "block" and rec.state == "uri-written":
            rec.state = "downloading"

    async def _state(self, dev, rec, v, fl, loop, how="notification"):
        rec.fw_state = v
        rec.event("%s /5/0/3 = %d (%s)" % (how, v, objects.FW_STATES.get(v, "?")))
        if v == 1 and rec.state in ("uri-written", "downloading"):
            rec.state = "downloading"
        elif v == 2 and rec.state in ("uri-written", "downloading"):
            rec.state = "downloaded"
            try:
                res = await self.pf.ops.execute(dev, (5, 0, 2), label="fota")
            except (DeviceError, Queued) as e:   # it may have got there and the device restarted: the outcome tells
                rec.event("Execute /5/0/2: %s; the outcome tells" % e)
                res = None
            if res is not None:
                rec.event("Execute /5/0/2 -> %s" % coapio.code_text(res.code))
            if res is not None and not res.ok:
                self._end(dev, rec, "failed", "Execute /5/0/2 answered %s" % coapio.code_text(res.code))
            else:
                rec.state = "updating"
                fl.t_exec = loop.time()
        elif v == 3 and rec.state == "downloaded":
            rec.state = "updating"
        elif v == 0 and rec.state == "uri-written":
            # idle still (a pmax notification before the download starts) -- unless the
            # device refused the URI at once: Update Result 2-9 without state 1
            await self._read_result(dev, rec)
            if rec.result is not None and rec.result >= 2:
                self._end(dev, rec, "failed", "download failed: " + _result_text(rec.result))
        elif v == 0 and rec.state == "downloading":
            await self._read_result(dev, rec)
            self._end(dev, rec, "failed", "download failed: " + _result_text(rec.result))
        elif v == 0 and rec.state == "updating":
            self._check_now(fl, loop)

    def _check_now(self, fl, loop):
        """Read the outcome now -- after a restart only once the registration's
        reads and observations are done ("ready"): the device may not be either."""
        if fl.ready or not fl.rebooted:
            fl.check_at = loop.time()

    def _silent(self, dev, rec, silent):
        """No /5/0/3 for 2 x pmax: the device has dropped the flow's observation
        (its CON notification timed out, RFC 7641 4.5): observe it again."""
        obs = dev.observations.get("/5/0/3")
        if obs is not None and obs.origin != "fota":
            return                                # the registration's: no pmax, silence says nothing
        rec.event("no notification of /5/0/3 for %.1f s (pmax %d): observing it again" % (silent, self.policy.pmax))
        if obs is None:
            obs = Observation((5, 0, 3), "fota", None, b"", ("pmax=%d" % self.policy.pmax,), None, dev.reg)
        self.pf.ops.reobserve(dev, obs, "no notification for %.1f s" % silent)

    def _result(self, dev, rec, r):
        """A /5/0/5 notification: a failure code ends the flow at once."""
        rec.result = r
        rec.event("notification /5/0/5 = %d (%s)" % (r, objects.FW_RESULTS.get(r, "?")))
        if r >= 2 and rec.state in ("uri-written", "downloading", "downloaded"):
            self._end(dev, rec, "failed", "download failed: " + _result_text(r))
        elif r >= 2 and rec.state == "updating":
            self._end(dev, rec, "failed", "update failed: " + _result_text(r))

    async def _read_result(self, dev, rec, wait=None):
        """Read /5/0/5: the value (also in rec.result), None when not read."""
        try:
            res = await self.pf.ops.read(dev, (5, 0, 5), accept=codec.TEXT, wait=wait, label="fota")
        except (DeviceError, Queued) as e:
            rec.event("Read /5/0/5: %s" % e)
            return None
        rec.event("Read /5/0/5 -> %s" % coapio.code_text(res.code))
        if res.ok and res.entries and isinstance(res.entries[0].value, int):
            rec.result = res.entries[0].value
            return rec.result
        return None

    async def _outcome(self, dev, rec, fl, loop):
        """After the Execute: /5/0/5, then the version.  True when they tell the
        outcome (result 2-9, or 1 and the version); False when it is too early
        (result 0: not confirmed yet) or a read failed -- read again later."""
        if not self.pf.ops.awake(dev):        # not registered, or asleep (queue mode): at its next uplink
            fl.last_read = fl.last_read or "the device did not listen"
            return False
        wait = max(0.1, fl.t_exec + self.policy.update - loop.time())
        r = await self._read_result(dev, rec, wait)
        if r is not None and r >= 2:
            self._end(dev, rec, "failed", "update failed: " + _result_text(r))
            return True
        vpath = (3, 0, 19) if rec.sota else (3, 0, 3)
        version = None
        if r == 1:
            try:
                res = await self.pf.ops.read(dev, vpath, accept=codec.TEXT, wait=wait, label="fota")
                version = res.entries[0].value if res.ok and res.entries else None
                rec.event("Read %s -> %s %s" % (objects.path_text(vpath), coapio.code_text(res.code),
                                                 version if version is not None else ""))
            except (DeviceError, Queued) as e:
                rec.event("Read %s: %s" % (objects.path_text(vpath), e))
        if version is None:
            fl.last_read = _result_text(r) + (", %s not read" % objects.path_text(vpath) if r == 1 else "")
            rec.event("%s: too early to tell, read again in %g s" % (fl.last_read, self.policy.recheck))
            return False
        rec.new_version = version
        if version != rec.version:
            self._end(dev, rec, "failed", "/5/0/5 = 1 but %s is %r, the package is %r" % (
                objects.path_text(vpath), version, rec.version))
        else:
            self._end(dev, rec, "succeeded", None)
        return True

    async def _timed_out(self, dev, rec, fl, stalled):
        p = self.policy
        if rec.state in ("uri-written", "downloading"):
            why = ("download stalled: no block and no notification for %g s" % p.stall if stalled
                   else "not downloaded within %g s" % p.download)
            self._end(dev, rec, "failed", why)
            if dev.reg is not None:           # back to idle: an empty Package URI (LwM2M TS 1.0 E.6)
                try:
                    res = await self.pf.ops.write(dev, (5, 0, 1), b"", codec.TEXT, wait=p.stall, label="fota")
                    rec.event("Write /5/0/1 \"\" (cancel) -> %s" % coapio.code_text(res.code))
                except (DeviceError, Queued) as e:
                    rec.event("Write /5/0/1 \"\" (cancel): %s" % e)
        elif rec.state == "updating":
            self._end(dev, rec, "failed", "no outcome within %g s of the Execute%s" % (
                p.update, "; last read: " + fl.last_read if fl.last_read else ""))
        else:
            self._end(dev, rec, "failed", "the device did not go on from %s within %g s" % (rec.state, p.download))

    async def _unsubscribe(self, dev, rec):
        obs = dev.observations.get("/5/0/3")
        if obs is None or obs.origin != "fota" or dev.reg is None:
            return
        try:
            res = await self.pf.ops.cancel(dev, (5, 0, 3), wait=self.policy.stall, label="fota")
            rec.event("Cancel Observation /5/0/3 -> %s" % coapio.code_text(res.code))
        except (DeviceError, Queued) as e:
            rec.event("Cancel Observation /5/0/3: %s" % e)
        reg = dev.reg
        if reg is None or (5, 0, 3) not in self.pf.observe_paths or not reg.announces((5, 0, 3)):
            return
        try:                            # the standing observation of 4.3.1.2, as at registration
            res = await self.pf.ops.observe(dev, (5, 0, 3), origin="registration", wait=self.policy.stall)
            rec.event("Observe /5/0/3 again (4.3.1.2) -> %s" % coapio.code_text(res.code))
        except (DeviceError, Queued) as e:
            rec.event("Observe /5/0/3 again (4.3.1.2): %s" % e)

    def _end(self, dev, rec, state, reason):
        rec.state = state
        rec.reason = reason
        rec.ended = time.time()
        rec.event("%s%s" % (state, ": " + reason if reason else ""))
        dev.event("FOTA %s%s" % (state, ": " + reason if reason else " (version %s)" % rec.version))
        (log.info if state == "succeeded" else log.warning)("%s: FOTA to version %s %s%s", dev.ep, rec.version, state,
                                                             ": " + reason if reason else "")
        self.pf.changed()
        return rec

    def to_state(self):
        return {ep: [r.to_json() for r in rs] for ep, rs in self.records.items()}

    def load_state(self, d):
        for ep, rs in (d or {}).items():
            self.records[ep] = [Record.from_json(r) for r in rs]
