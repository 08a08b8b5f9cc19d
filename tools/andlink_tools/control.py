"""Control socket of a running `andlink-platform serve`: line-delimited JSON over
TCP (default 127.0.0.1:7320; no authentication, so `serve` binds it to a
loopback address only), in the style of the WMMP simulator's.

Each request is one JSON object on one line (UTF-8, at most 64 KiB); each answer
one JSON object on one line, in order:

    -> {"op": "read", "ep": "869976032983322", "path": "/3/0/3", "timeout": 30}
    <- {"ok": true, "result": {"code": "2.05", "entries": [{"path": "/3/0/3", ...}]}}
    <- {"ok": true, "queued": true, "job": 7, "note": "..."}       (queue mode)
    <- {"ok": false, "kind": "input" | "failed", "error": "one line"}

Requests ("timeout": seconds to wait for the device, default 30; "show_secrets":
true shows product tokens and keys, hidden otherwise):

    list                                       devices, registrations, the platform
    show         ep, [limit]                   one device: registration, values, history
    read         ep, path, [format, param]     Read (param: ?p= of object 19, 4.2.2.2)
    write        ep, path, items: [..], [format, partial]   Write (values.encode_write)
    exec         ep, path, [args]              Execute
    discover     ep, path                      Discover
    attrs        ep, path, items: ["pmin=60", ...]           Write-Attributes
    create       ep, path, items, [instance]   Create
    delete       ep, path                      Delete
    observe      ep, path, [cancel]            Observe / Cancel Observation
    data         [ep, after, wait, all, limit] Send (/dp) rows and object 19 notifications
                 stored after row id `after` (without it: none, and the id to follow
                 from); `all`: every notification; waits up to `wait` s (<= 60)
    fota_upload  data: hex, [upload, offset]   a part of a package to publish
    fota_publish version, data: hex | upload, [name, sha256]
    fota_files   -
    fota_push    ep, [version, package, force, sota]   checks, subscription, Write /5/0/1
    fota_status  [ep]

"kind": "input" is a wrong request (the CLI exits 2); "failed" an understood one
that could not be carried out: unknown or unregistered device, no answer, a
refused FOTA (the CLI exits 1).  A device's error answer (4.04, ...) is a
result, with its code."""

import asyncio
import logging
import time

from andlink_tools import codec, coapio, objects, values as V
from wmmp_tools import serving
from wmmp_tools.serving import ControlSocket
from andlink_tools.devices import DeviceError, Queued
from andlink_tools.fota import FotaError
from andlink_tools.packages import PackageError, check_version

log = logging.getLogger("andlink.platform.control")

DEFAULT_TIMEOUT = 30.0
FOLLOW_WAIT_MAX = 60.0


class Failed(Exception):
    pass


def _need(req, name, kind=str):
    v = req.get(name)
    if not isinstance(v, kind) or isinstance(v, bool) and kind is not bool:
        raise V.InputError("%s: %s wanted" % (name, "text" if kind is str else kind.__name__))
    return v


def _items(req):
    items = req.get("items")
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise V.InputError("items: a list of text wanted")
    return items


class Operator:
    def __init__(self, pf):
        self.pf = pf

    async def run(self, op, req):
        fn = getattr(self, "op_" + op, None) if op.isidentifier() else None
        if fn is None:
            raise V.InputError("unknown op %r" % op[:40])
        return await fn(req)

    def _device(self, req, registered=True):
        ep = V.ep(req.get("ep"))
        dev = self.pf.registry.device(ep, create=False)
        if dev is None:
            raise Failed("%s is not known to the platform (never registered)" % ep)
        if registered and dev.reg is None:
            raise Failed("%s is not registered%s" % (ep, " (last seen %s)" % _ago(dev.last_seen) if dev.last_seen else ""))
        return dev

    def _timeout(self, req):
        t = req.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise V.InputError("timeout: seconds wanted")
        return V.seconds(t, 0.0, 86400.0, "timeout")

    async def _device_op(self, req, fn, *args, _seen=None, **kw):
        """fn's result as the reply; _seen: a list that gets the result's feed
        row (an Observe's first answer) when it has one."""
        secrets = bool(req.get("show_secrets"))
        try:
            res = await fn(*args, wait=self._timeout(req), **kw)
        except Queued as q:
            return {"queued": True, "job": q.job.id,
                    "note": "the device sleeps (queue mode): the request goes at its next uplink (job %d)" % q.job.id}
        except DeviceError as e:
            raise Failed(str(e))
        if _seen is not None and getattr(res, "feed_row", None) is not None:
            _seen.append(res.feed_row)
        return {"result": res.to_json(secrets)}

    # -- devices --------------------------------------------------------------------------

    async def op_list(self, req):
        secrets = bool(req.get("show_secrets"))
        devs = sorted(self.pf.registry.devices.values(), key=lambda d: d.ep)
        pf = self.pf
        return {"devices": [d.summary(secrets) for d in devs],
                "platform": {"coap": coapio.hostport(*pf.coap_address),
                             "bootstrap": coapio.hostport(*pf.bootstrap_address) if pf.bootstrap_address else None,
                             "files": coapio.hostport(*pf.files_address), "started": pf.started,
                             "products_checked": pf.products is not None,
                             "imei_checked": pf.known_devices is not None,
                             "shaping": pf.shaper.summary() if pf.shaper else None}}

    async def op_show(self, req):
        dev = self._device(req, registered=False)
        limit = req.get("limit", 20)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 10000:
            raise V.InputError("limit: 0..10000")
        rec = self.pf.fota.current(dev.ep)
        return {"device": dev.details(bool(req.get("show_secrets")), limit),
                "fota": rec.to_json() if rec else None}

    async def op_read(self, req):
        dev = self._device(req)
        p = V.path(_need(req, "path"))
        fmt = req.get("format")
        if fmt is not None and fmt not in codec.FORMATS:
            raise V.InputError("format: one of %s" % ", ".join(sorted(codec.FORMATS)))
        query = ()
        if req.get("param") is not None:
            if not V.is_params(p):
                raise V.InputError("param (?p=) is for object 19's parameters, /19/x/0 (spec 4.2.2.2)")
            query = ("p=%s" % _need(req, "param"),)
        return await self._device_op(req, self.pf.ops.read, dev, p, accept=codec.FORMATS.get(fmt), query=query)

    async def op_write(self, req):
        dev = self._device(req)
        p = V.path(_need(req, "path"), 2, 4)
        payload, cf = V.encode_write(p, _items(req), req.get("format"))
        return await self._device_op(req, self.pf.ops.write, dev, p, payload, cf, partial=bool(req.get("partial")))

    async def op_exec(self, req):
        dev = self._device(req)
        p = V.path(_need(req, "path"), 3, 3)
        args = V.exec_args(req.get("args"))
        return await self._device_op(req, self.pf.ops.execute, dev, p, args)

    async def op_discover(self, req):
        dev = self._device(req)
        return await self._device_op(req, self.pf.ops.discover, dev, V.path(_need(req, "path"), 1, 3))

    async def op_attrs(self, req):
        dev = self._device(req)
        p = V.path(_need(req, "path"), 1, 4)
        return await self._device_op(req, self.pf.ops.write_attributes, dev, p, V.attrs(_items(req)))

    async def op_create(self, req):
        dev = self._device(req)
        p = V.path(_need(req, "path"), 1, 1)
        inst = req.get("instance")
        if inst is not None and (isinstance(inst, bool) or not isinstance(inst, int) or not 0 <= inst <= 65534):
            raise V.InputError("instance: 0..65534")
        payload = codec.encode_tlv(p[0], V.assignments(p, _items(req)), instance=inst)
        return await self._device_op(req, self.pf.ops.create, dev, p, payload, codec.TLV)

    async def op_delete(self, req):
        dev = self._device(req)
        return await self._device_op(req, self.pf.ops.delete, dev, V.path(_need(req, "path"), 1, 2))

    async def op_observe(self, req):
        dev = self._device(req)
        p = V.path(_need(req, "path"), 1, 4)
        if req.get("cancel"):
            try:
                return await self._device_op(req, self.pf.ops.cancel, dev, p)
            except Failed as e:
                if "is not observed" in str(e):
                    raise V.InputError(str(e))
                raise
        rows = []
        out = await self._device_op(req, self.pf.ops.observe, dev, p, _seen=rows)
        # the row before the first answer's: the follower (observe --follow)
        # reads from there, whatever notifications came since
        out["after"] = (rows[0] if rows else self.pf.feed.last) - 1
        return out

    async def op_data(self, req):
        ep = V.ep(req["ep"]) if req.get("ep") is not None else None
        wait = req.get("wait", 0)
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= FOLLOW_WAIT_MAX:
            raise V.InputError("wait: 0..%d seconds" % FOLLOW_WAIT_MAX)
        limit = req.get("limit", 1000)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10000:
            raise V.InputError("limit: 1..10000")
        path = V.path(req["path"]) if req.get("path") is not None else None
        every = bool(req.get("all"))
        secrets = bool(req.get("show_secrets"))

        def kinds(row):
            if path is not None:
                return row["path"] is not None and objects.parse_path(row["path"])[:len(path)] == path
            return row["kind"] == "send" or every or (row["path"] or "").startswith("/19/")

        after = req.get("after")
        if after is None:
            return {"rows": [], "last": self.pf.feed.last}
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise V.InputError("after: a row id")
        rows = await self.pf.feed.follow(after, ep, kinds, wait, limit)
        last = rows[-1]["id"] if rows else max(after, 0)
        return {"rows": [_row(r, secrets) for r in rows], "last": last}

    # -- FOTA ----------------------------------------------------------------------------

    async def op_fota_upload(self, req):
        data = _hex(req)
        off = req.get("offset", 0)
        if isinstance(off, bool) or not isinstance(off, int) or off < 0:
            raise V.InputError("offset: a byte offset")
        try:
            token, size = self.pf.packages.upload(data, req.get("upload"), off)
        except PackageError as e:
            raise Failed(str(e))
        return {"upload": token, "size": size}

    async def op_fota_publish(self, req):
        try:
            version = check_version(req.get("version"))
        except PackageError as e:
            raise V.InputError("version: %s" % e)
        name = req.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            raise V.InputError("name: text of at most 200 characters")
        try:
            data = _hex(req) if req.get("upload") is None else self.pf.packages.take_upload(req["upload"])
            pkg = self.pf.packages.publish(data, version, name, req.get("sha256"))
        except PackageError as e:
            raise Failed(str(e))
        return {"package": dict(pkg.to_json(), uri=self.pf.packages.uri(pkg))}

    async def op_fota_files(self, req):
        pk = self.pf.packages
        return {"packages": [dict(p.to_json(), uri=pk.uri(p)) for p in sorted(pk.items.values(), key=lambda p: p.time)]}

    async def op_fota_push(self, req):
        dev = self._device(req)
        version = req.get("version")
        if version is not None:
            try:
                check_version(version)
            except PackageError as e:
                raise V.InputError("version: %s" % e)
        ident = req.get("package")
        if ident is not None and not isinstance(ident, str):
            raise V.InputError("package: an id")
        pkg = self.pf.packages.find(version, ident)
        if pkg is None:
            raise Failed("no package published%s: fota publish FILE --version V first" % (
                " with version %s" % version if version else " with id %s" % ident if ident else ""))
        timeout = self._timeout(req)

        async def push():
            try:
                return await self.pf.fota.push(dev, pkg, bool(req.get("force")), bool(req.get("sota")))
            except FotaError as e:
                return e
        task = self.pf.spawn(push())
        try:
            rec = await asyncio.wait_for(asyncio.shield(task), timeout)
        except asyncio.TimeoutError:          # the flow goes on (a sleeping device): it is in fota status
            return {"fota": self.pf.fota.current(dev.ep).to_json(), "pending": True}
        if isinstance(rec, FotaError):
            raise Failed(str(rec))
        return {"fota": rec.to_json()}

    async def op_fota_status(self, req):
        f = self.pf.fota
        if req.get("ep") is not None:
            eps = [V.ep(req["ep"])]
        else:
            eps = sorted(f.records)
        return {"fota": [f.current(ep).to_json() for ep in eps if f.current(ep) is not None],
                "policy": f.policy.to_json()}


def _hex(req):
    h = req.get("data")
    if not isinstance(h, str):
        raise V.InputError("data: hex wanted")
    try:
        return bytes.fromhex(h)
    except ValueError:
        raise V.InputError("data: not hex")


def _row(row, secrets):
    out = dict(row)
    out["entries"] = [e.to_json(secrets) for e in row["entries"]]
    return out


def _ago(t):
    return "%d s ago" % max(0, time.time() - t)


class ControlServer(ControlSocket):
    input_errors = V.InputError
    failed_errors = Failed
    log = log

    def __init__(self, pf, host="127.0.0.1", port=7320):
        super().__init__(host, port)
        self.pf = pf
        self.operator = Operator(pf)

    async def start(self):
        try:
            return await super().start()
        except OSError as e:
            raise coapio.CoapError("control socket %s: %s" % (coapio.hostport(self.host, self.port), e.strerror or e))


def call(address, req, timeout=60.0):
    """Client side (blocking): one request to the control socket at (host,
    port); the reply dict (wmmp_tools.serving.call)."""
    return serving.call(address, req, timeout, "an andlink-platform")
