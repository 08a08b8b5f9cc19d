"""What the simulator knows of devices: each device (by endpoint name, the IMEI of
And-link spec section 4.1.2) with its registration (4.1.4, appendix 6.3: id,
lifetime and when it runs out, binding and queue mode, the objects announced,
the address it registered from), the last value read or notified of each
resource, its observations and queued requests, and a history of what
happened; and the data feed -- Send (/dp) records and notifications -- that
`andlink-platform data` follows."""

import asyncio
import collections
import secrets
import time

from andlink_tools import codec, objects
from andlink_tools.coapio import hostport

HISTORY_MAX = 200             # events kept per device
FEED_MAX = 10000              # data rows kept in all
VALUES_MAX = 500              # resource values kept per device


class Registration:
    """One registration (appendix 6.3): `id` is the Location /rd/{id}."""

    def __init__(self, ep, lifetime, lwm2m, binding, sms, queue, links, host, port, now=None):
        now = time.time() if now is None else now
        self.id = None
        self.ep = ep
        self.lifetime = lifetime
        self.lwm2m = lwm2m
        self.binding = binding
        self.sms = sms
        self.queue = queue
        self.links = links                        # [(uri, attrs)] as registered
        self.objects = codec.link_objects(links)  # [(obj,) | (obj, inst)]
        self.host, self.port = host, port
        self.registered_at = now
        self.updated_at = now
        self.expires_at = now + lifetime
        self.notes = []                           # where the Register left the spec's form

    @property
    def base(self):
        return "coap://" + hostport(self.host, self.port)

    @property
    def location(self):
        return "/rd/" + self.id

    def announces(self, path):
        """True when the Register payload names the object instance of `path`
        (or the object without instances)."""
        return tuple(path[:2]) in self.objects or (path[0],) in self.objects

    def refresh(self, now=None):
        now = time.time() if now is None else now
        self.updated_at = now
        self.expires_at = now + self.lifetime

    def to_json(self):
        return {"id": self.id, "location": self.location, "ep": self.ep, "lifetime": self.lifetime,
                "lwm2m": self.lwm2m, "binding": self.binding, "sms": self.sms, "queue_mode": self.queue,
                "objects": [objects.path_text(p) for p in self.objects],
                "links": codec.encode_link(self.links).decode("utf-8", "replace"),
                "address": hostport(self.host, self.port), "registered_at": self.registered_at,
                "updated_at": self.updated_at, "expires_at": self.expires_at, "notes": list(self.notes)}

    @classmethod
    def from_json(cls, d):
        links = codec.decode_link(d["links"].encode())
        host, port = _split_address(d["address"])
        r = cls(d["ep"], int(d["lifetime"]), d["lwm2m"], d["binding"], d.get("sms"), bool(d["queue_mode"]),
                links, host, port, now=d["registered_at"])
        r.id = d["id"]
        r.updated_at = d["updated_at"]
        r.expires_at = d["expires_at"]
        r.notes = list(d.get("notes") or [])
        return r


def _split_address(text):
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    return host, int(port)


class Device:
    """One device: registration (None when not registered), values, observations,
    the queue of requests waiting for its next uplink (queue mode), history."""

    def __init__(self, ep):
        self.ep = ep
        self.reg = None
        self.values = collections.OrderedDict()     # path text -> {"entry": json, "time": t}
        self.history = collections.deque(maxlen=HISTORY_MAX)
        self.observations = {}                      # path text -> devices.Observation
        self.queue = collections.deque()            # devices.Job waiting for an uplink
        self.lock = asyncio.Lock()                  # one request in flight (RFC 7252 NSTART = 1)
        self.awake_until = 0.0                      # queue mode: requests go out until then
        self.auth = {"state": "unchecked"}          # spec section 3.5 / 4.1.5
        self.bootstrap = None                       # the last bootstrap: steps and outcome
        self.counts = collections.Counter()
        self.last_seen = None
        self.expiry = None                          # the asyncio timer of the registration's end

    def event(self, text, when=None):
        self.history.append({"time": time.time() if when is None else when, "event": text})

    def remember(self, entries, when=None):
        when = time.time() if when is None else when
        for e in entries:
            key = objects.path_text(e.path)
            self.values.pop(key, None)
            self.values[key] = {"entry": e, "time": when}
        while len(self.values) > VALUES_MAX:
            self.values.popitem(last=False)

    def value(self, path):
        v = self.values.get(objects.path_text(path))
        return v["entry"].value if v else None

    def summary(self, show_secrets=False):
        r = self.reg
        return {"ep": self.ep, "registered": r is not None, "location": r.location if r else None,
                "binding": r.binding if r else None, "queue_mode": r.queue if r else None,
                "lifetime": r.lifetime if r else None, "expires_at": r.expires_at if r else None,
                "address": hostport(r.host, r.port) if r else None, "last_seen": self.last_seen,
                "auth": self.auth.get("state"), "queued": len(self.queue),
                "observations": sorted(self.observations),
                "firmware": _plain(self.value((3, 0, 3))), "software": _plain(self.value((3, 0, 19)))}

    def details(self, show_secrets=False, limit=20):
        out = self.summary(show_secrets)
        out["registration"] = self.reg.to_json() if self.reg else None
        out["auth"] = dict(self.auth)
        out["bootstrap"] = self.bootstrap
        out["values"] = [dict(v["entry"].to_json(show_secrets), time=v["time"]) for v in self.values.values()]
        out["observations"] = [o.to_json() for o in self.observations.values()]
        out["queued"] = [j.to_json() for j in self.queue]
        out["counts"] = dict(self.counts)
        out["history"] = list(self.history)[-limit:] if limit else []
        return out

    def to_state(self):
        return {"ep": self.ep, "registration": self.reg.to_json() if self.reg else None,
                "values": [dict(v["entry"].to_json(True), time=v["time"], hex=isinstance(v["entry"].value, bytes))
                           for v in self.values.values()],
                "history": list(self.history), "auth": dict(self.auth), "bootstrap": self.bootstrap,
                "counts": dict(self.counts), "last_seen": self.last_seen}

    @classmethod
    def from_state(cls, d):
        dev = cls(d["ep"])
        if d.get("registration"):
            dev.reg = Registration.from_json(d["registration"])
        for v in d.get("values") or []:
            path = objects.parse_path(v["path"], 1, 4)
            val = bytes.fromhex(v["value"]) if v.get("hex") else v["value"]
            dev.values[v["path"]] = {"entry": codec.Entry(path, v["type"], val, v.get("note")), "time": v["time"]}
        dev.history.extend(d.get("history") or [])
        dev.auth = dict(d.get("auth") or {"state": "unchecked"})
        dev.bootstrap = d.get("bootstrap")
        dev.counts.update(d.get("counts") or {})
        dev.last_seen = d.get("last_seen")
        return dev


def _plain(v):
    return v if isinstance(v, (str, int, float)) else None


class Registry:
    """Devices by endpoint name, registrations by id."""

    def __init__(self):
        self.devices = {}
        self.by_id = {}

    def device(self, ep, create=True):
        d = self.devices.get(ep)
        if d is None and create:
            d = self.devices[ep] = Device(ep)
        return d

    def new_id(self):
        """A registration id like the spec's example "5a3f" (appendix 6.3.4)."""
        while True:
            i = secrets.token_hex(2)
            if i not in self.by_id:
                return i

    def add(self, dev, reg):
        if dev.reg is not None:
            self.by_id.pop(dev.reg.id, None)
        reg.id = reg.id or self.new_id()
        dev.reg = reg
        self.by_id[reg.id] = dev

    def remove(self, dev):
        if dev.reg is not None:
            self.by_id.pop(dev.reg.id, None)
            dev.reg = None

    def by_address(self, host, port=None):
        """The registered device at host:port; with port None the one at host when
        only one is."""
        hits = [d for d in self.devices.values() if d.reg is not None and d.reg.host == host
                and (port is None or d.reg.port == port)]
        return hits[0] if len(hits) == 1 else None


class Feed:
    """Data rows (Send records, notifications, reads of object 19) with ids, for
    followers (`data` of the control socket): the last FEED_MAX are kept."""

    def __init__(self, maxlen=FEED_MAX):
        self.rows = collections.deque(maxlen=maxlen)
        self.last = 0
        self._changed = None

    def add(self, ep, kind, path, entries, **extra):
        self.last += 1
        row = {"id": self.last, "time": time.time(), "ep": ep, "kind": kind,
               "path": objects.path_text(path) if path is not None else None, "entries": list(entries)}
        row.update(extra)
        self.rows.append(row)
        if self._changed is not None:
            self._changed.set()
            self._changed = None
        return row

    def select(self, after, ep=None, kinds=None, limit=1000):
        out = []
        for row in self.rows:
            if row["id"] <= after or (ep is not None and row["ep"] != ep):
                continue
            if kinds is not None and not kinds(row):
                continue
            out.append(row)
            if len(out) >= limit:
                break
        return out

    async def follow(self, after, ep=None, kinds=None, wait=0.0, limit=1000):
        """Rows after id `after`, waiting up to `wait` s for the first."""
        loop = asyncio.get_running_loop()
        end = loop.time() + wait
        while True:
            rows = self.select(after, ep, kinds, limit)
            left = end - loop.time()
            if rows or left <= 0:
                return rows
            if self._changed is None:
                self._changed = asyncio.Event()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass
