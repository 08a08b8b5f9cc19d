"""The software update on a running board (section 12 of docs/PROTOCOL.md,
4.3.8): what wmmp.board.device does with the engine's upgrade events and the
board's stager (wmmp.board.ota).  Portable.

    OtaRun(dev, stager)     made by the device once its flash is open when the
                            board has ota_stager(); stager.boot() runs at once
                            (a trial counted, or an unconfirmed one rolled back)
    version(default)        the running software's version for LOGIN (Config)
    configure(cfg)          Config.stager
    on_event(ev)            ("upgrade_fetch", trans_id, url, offset, size, etag):
                            the HTTP fetch through the driver's http_get;
                            ("upgrade_ready", trans_id, version): apply, restart
    step()                  once a turn: confirm after the first login within
                            board.OTA_HEALTH_S (default 300 s), else roll back
                            and restart; after a rollback, 0x3012 reason 0x05
    await fetch(get, term, trans_id, url, offset, size, etag, clock)
                            the HTTP Range loop (the host's wmmp-term too)
"""

import asyncio

from wmmp.wire import codes as K

CHUNK = 4096                 # bytes asked for per HTTP range
HEALTH_S = 300


def _content_range(text):
    """(first, last, total) of "bytes a-b/n", or None."""
    try:
        t = text.decode() if isinstance(text, (bytes, bytearray)) else text
        unit, _, rest = t.strip().partition(" ")
        span, _, total = rest.partition("/")
        a, _, b = span.partition("-")
        if unit != "bytes":
            return None
        return int(a), int(b), (int(total) if total != "*" else None)
    except (ValueError, AttributeError, UnicodeError):
        return None


async def fetch(get, term, trans_id, url, offset, size, etag, clock, wake=None, log=None):
    """Fetch [offset, size) with `get(url, start, end, etag)` -> (status,
    content_range, etag, data), at most CHUNK bytes a range, into
    term().upgrade_data; a 206 is used only when its Content-Range is the
    range asked for; a 200 (Range ignored) starts again from byte 0; anything
    else ends with upgrade_fetch_failed.  True when all was fetched."""
    log = log or (lambda text: None)
    ignored = False                     # the server ignores Range: every answer is a 200
    while offset < size:
        end = min(offset + CHUNK, size) - 1
        try:
            status, crange, tag, data = await get(url, offset, end, etag)
        except Exception as e:          # the link or the module: the engine retries
            log("ota: HTTP fetch failed: %r" % (e,))
            status, crange, tag, data = None, None, None, None
        t = term()
        if t is None:
            return False
        now = clock()
        if status == 206 and _content_range(crange or "") is not None and \
                _content_range(crange)[:2] == (offset, offset + len(data) - 1) and data:
            t.upgrade_data(trans_id, offset, data, now, tag or etag)
            offset += len(data)
            etag = tag or etag
        elif status == 200 and data and len(data) > end - offset + 1:
            # the whole body (a host fetcher): Range ignored, from byte 0 again
            log("ota: the server ignored Range (200): from byte 0 again")
            offset = 0
            mv = memoryview(data)
            while offset < len(data) and offset < size:
                k = min(CHUNK, len(data) - offset, size - offset)
                t.upgrade_data(trans_id, offset, bytes(mv[offset:offset + k]), now, tag)
                offset += k
            etag = tag
        elif status == 200 and data and not ignored and offset != 0:
            # the driver gives the bytes asked for out of the whole body (a module
            # holds it): Range ignored, so the download starts again from byte 0
            log("ota: the server ignored Range (200): from byte 0 again")
            ignored = True
            offset = 0
            etag = None
            continue
        elif status == 200 and data:
            ignored = True                  # bytes offset.. of the whole body
            t.upgrade_data(trans_id, offset, bytes(data), now, tag)
            offset += len(data)
            etag = tag
        else:
            log("ota: HTTP status %s for bytes %d-%d" % (status, offset, end))
            t.upgrade_fetch_failed(trans_id, now)
            if wake is not None:
                wake()
            return False
        if wake is not None:
            wake()
        st = t.upgrade_state() if hasattr(t, "upgrade_state") else None
        if st is not None and st.get("trans_id") not in (None, trans_id):
            return False                # the engine moved on
        await asyncio.sleep(0)
    return True


class OtaRun:
    def __init__(self, dev, stager):
        self.dev = dev
        self.stager = stager
        self.health = getattr(dev.board, "OTA_HEALTH_S", HEALTH_S)
        self.task = None
        self.stale = None               # the session that applied an update in place
        self.status = self._boot()

    def _boot(self):
        try:
            st = self.stager.boot()
        except Exception as e:          # never keeps the terminal from starting
            self.dev.log("ota: boot check failed: %r" % (e,))
            return "ok"
        self.since = self.dev.clock()
        if st != "ok":
            self.dev.log("ota: %s (software %s)" % (
                "new software on trial" if st == "trial" else "rolled back", self.stager.version()))
        return st

    def version(self, default):
        v = self.stager.version()
        return v.encode() if v else default

    def configure(self, cfg):
        cfg.stager = self.stager

    def on_event(self, ev):
        name = ev[0]
        if name == "upgrade_fetch":
            get = getattr(self.dev.drv, "http_get", None)
            t = self.dev.term
            if get is None:
                self.dev.log("ota: this module has no HTTP: fetch refused")
                if t is not None:
                    t.upgrade_fetch_failed(ev[1], self.dev.clock())
                return
            if self.task is not None and not self.task.done():
                self.task.cancel()
            self.task = asyncio.create_task(fetch(
                get, lambda: self.dev.term, ev[1], ev[2], ev[3], ev[4], ev[5], self.dev.clock,
                self.dev._wake, self.dev.log))
        elif name == "upgrade_ready":
            self.apply(ev[1])

    def apply(self, trans_id):
        dev = self.dev
        try:
            v = self.stager.apply()
        except Exception as e:
            dev.log("ota: update not applied: %r" % (e,))
            if dev.term is not None and hasattr(dev.term, "upgrade_report"):
                dev.term.upgrade_report(trans_id, K.DL_FAIL_UPGRADE, dev.clock())
            return
        dev.log("ota: software %s applied: restarting" % (v,))
        dev.params.commit()
        if getattr(dev.board, "reset", None) is None:
            self.status = self._boot()       # a host: "restart" as the new software
            self.stale = dev.term            # its login is the old software's: not a health check
        dev._restart = "reset"
        if dev.runner is not None:
            dev.runner.stop()

    def step(self):
        t = self.dev.term
        if t is None or t is self.stale:
            return
        now = self.dev.clock()
        online = t.state_name == "online"
        if self.status == "trial":
            if online:
                self.stager.confirm()
                self.status = "ok"
                self.dev.log("ota: logged in: software %s confirmed" % (self.stager.version(),))
            elif now - self.since > self.health:
                self.dev.log("ota: no login within %s s: rolling back" % (self.health,))
                self.stager.rollback()
                self.status = self._boot()
                self.dev._restart = "reset"
                if self.dev.runner is not None:
                    self.dev.runner.stop()
                return
        if online:
            tid = self.stager.rolled_back()
            if tid is not None and hasattr(t, "upgrade_report"):
                t.upgrade_report(tid, K.DL_FAIL_UPGRADE, now)
                self.stager.reported()
