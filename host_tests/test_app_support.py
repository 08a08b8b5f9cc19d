"""Shared by the tests of the application interface (tools/wmmp_app; section 5,
appendices C and H): a fake platform backend, a gateway on loopback with both
transports, hand-made request PDUs, and a clock the tests move.  Its own tests
check the fake itself, so the other test files can trust it.

CPython only; loopback only."""
import asyncio
import base64
import contextlib
import functools
import itertools

from wmmp_app import messages as M
from wmmp_app import pdu as P
from wmmp_app import security as S
from wmmp_app import xmlform as X
from wmmp_app.client import AppClient
from wmmp_app.gateway import AppConfig, Gateway, Refused, serve_http, serve_long

ACCT = dict(service_id="SVC0001", username="meterapp", password="Pw0123456789", base_key="BaseKey0123456789ABCDEFG")
OTHER = dict(service_id="SVC0002", username="otherapp", password="OtherPw", base_key="OtherKey01234567")
ACCOUNT = S.Account(**ACCT)
T1, T2, T9 = "M2MMAKER00000001", "M2MMAKER00000002", "OTHERMKR00000009"


def run(fn):
    """Run an async test function on a fresh loop, 30 s at most."""
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        return asyncio.run(asyncio.wait_for(fn(*a, **kw), 30))
    return wrapper


class Clock:
    """A Unix clock the test moves by hand."""

    def __init__(self, t=1796556667.0):
        self.t = t

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds


class FakeBackend:
    """The platform's side, as gateway.py documents it: records every call as
    (method, service_id, sid, *args); with `auto`, answers each asynchronous
    request with its result notification after `delay` seconds."""

    def __init__(self, auto=False, delay=0.01):
        self.calls = []
        self.gateway = None
        self.auto, self.delay = auto, delay
        self.tasks = set()
        self.terminals = {T1: {"MODEL": "M1", "PRODUCTOR": "MAKER", "AREA": "010"},
                          T2: {"MODEL": "M2", "PRODUCTOR": "MAKER", "AREA": "021"},
                          T9: {"MODEL": "X9", "PRODUCTOR": "OTHER", "AREA": "010"}}

    def _rec(self, method, ctx, *args):
        self.calls.append((method, ctx.service_id, ctx.sid) + args)

    def methods(self):
        return [c[0] for c in self.calls]

    def _later(self, coro_fn):
        if not self.auto:
            return

        async def go():
            await asyncio.sleep(self.delay)
            await coro_fn()
        t = asyncio.get_running_loop().create_task(go())
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    def select(self, ctx, f):
        self._rec("select", ctx, f)
        out = []
        for s, t in self.terminals.items():
            if "TERMIDRANGE" in f and not f["TERMIDRANGE"][0] <= s <= f["TERMIDRANGE"][1]:
                continue
            if any(k in f and f[k] != t[k] for k in ("MODEL", "PRODUCTOR", "AREA")):
                continue
            out.append(s)
        return out

    async def term_info_get(self, ctx, serials, monitor, alarm, config, statistic):
        self._rec("term_info_get", ctx, serials, monitor, alarm, config, statistic)
        gw, sid, svc = self.gateway, ctx.sid, ctx.service_id
        for s in serials:
            self._later(lambda s=s: gw.term_info_get_result(svc, sid, s, monitor=[(t, "1") for t in monitor],
                                                            config=[(t, "60") for t in config]))

    def term_info_query(self, ctx, serial, monitor, alarm, config, statistic):
        self._rec("term_info_query", ctx, serial, monitor, alarm, config, statistic)
        if serial not in self.terminals:
            return None
        return {"MONITOR": [(t, "42") for t in monitor], "ALARM": ["0001"] if alarm else [],
                "CONFIG": [(t, "60") for t in config], "STATISTIC": [(t, "7") for t in statistic]}

    def statistics(self, ctx, termcount, termfault, termstatus):
        self._rec("statistics", ctx, termcount, termfault, termstatus)
        return {"TERMCOUNT_RESULT": {"WORKING": 2, "REGISTERED": 3, "TOTAL": 3},
                "TERMSTATUS_RESULT": {"NORMAL": 2, "EXCEPTION": 1, "FORBIDDEN": 0}}

    def term_statistics(self, ctx, serial, daterange, wanted):
        self._rec("term_statistics", ctx, serial, daterange, wanted)
        if serial not in self.terminals:
            raise Refused("terminal %s unknown" % serial)
        return {k: v for k, v in {"ALARMCOUNT": 4, "LOGINCOUNT": 9, "LASTLOGIN": 1796556667}.items() if k in wanted}

    async def term_ctrl(self, ctx, serials, remote_ctrl, logout):
        self._rec("term_ctrl", ctx, serials, remote_ctrl, logout)
        gw, sid, svc = self.gateway, ctx.sid, ctx.service_id
        for s in serials:
            self._later(lambda s=s: gw.term_ctrl_result(svc, sid, s, 0))

    async def download_notify(self, ctx, serials, url):
        self._rec("download_notify", ctx, serials, url)
        gw, sid, svc = self.gateway, ctx.sid, ctx.service_id
        for s in serials:
            self._later(lambda s=s: gw.download_result(svc, sid, s, 1))

    async def security_config(self, ctx, serial, operation, security):
        self._rec("security_config", ctx, serial, operation, security)
        gw, sid, svc = self.gateway, ctx.sid, ctx.service_id
        self._later(lambda: gw.security_config_result(svc, sid, serial, 0))

    async def transparent_down(self, ctx, serials, data):
        self._rec("transparent_down", ctx, serials, data)
        gw, sid, svc = self.gateway, ctx.sid, ctx.service_id
        for s in serials:
            self._later(lambda s=s: gw.transparent_down_result(svc, sid, s, 0))

    async def config_set(self, ctx, serials, config):
        self._rec("config_set", ctx, serials, config)
        gw, sid, svc = self.gateway, ctx.sid, ctx.service_id
        for s in serials:
            self._later(lambda s=s: gw.config_set_result(svc, sid, s, 0))


class Env:
    def __init__(self, gw, backend, long_port, http_port, clock):
        self.gw, self.backend, self.long_port, self.http_port, self.clock = gw, backend, long_port, http_port, clock

    def client(self, transport="long", acct=ACCT, **kw):
        port = self.long_port if transport == "long" else self.http_port
        if transport == "http":
            kw.setdefault("listen", ("127.0.0.1", 0))
        kw.setdefault("timeout", 5.0)
        return AppClient(host="127.0.0.1", port=port, transport=transport, clock=self.clock, **dict(acct, **kw))

    async def connected(self, transport="long", acct=ACCT, **kw):
        """A logged-in client; over http the gateway learns its URL."""
        c = self.client(transport, acct, **kw)
        if transport == "http":
            await c.connect(login=False)
            self.gw.apps[acct["service_id"]].url = c.url
            await c.login()
        else:
            await c.connect()
        return c


@contextlib.asynccontextmanager
async def running(backend=None, apps=None, clock=None, **gwkw):
    """A Gateway with a FakeBackend on a long-connection port and an HTTP port."""
    backend = backend or FakeBackend()
    clock = clock or Clock()
    gwkw.setdefault("request_timeout", 3.0)
    gw = Gateway(backend, apps if apps is not None else [AppConfig(**ACCT)], clock=clock, **gwkw)
    backend.gateway = gw
    srv = await serve_long(gw, "127.0.0.1", 0)
    http = await serve_http(gw, "127.0.0.1", 0)
    try:
        yield Env(gw, backend, srv.sockets[0].getsockname()[1], http.port, clock)
    finally:
        for t in list(getattr(backend, "tasks", ())):
            t.cancel()
        await gw.close()


# -- hand-made PDUs ------------------------------------------------------------------------

_sids = itertools.count(1)


def seal_req(name, body=None, acct=ACCOUNT, key=None, sid=None, service_id=None, plain=False, signed=True,
             checked=True):
    """A request PDU; checked=False writes the body as given (for bodies appendix H refuses)."""
    sid = sid or "%016d" % next(_sids)
    svc = service_id or acct.service_id
    if checked:
        msg = M.build(name, body, sid=sid, service_id=svc)
    else:
        s = M.spec(name)
        msg = M.Message(s, {"SID": sid, "TIMESTAMP": M.timestamp(), "SERVICEID": svc}, body)
    return P.seal(msg, acct, key if key is not None else acct.base_key, plain=plain, signed=signed)


def seal_doc(name, doc, acct=ACCOUNT, key=None, sid=None):
    """A request PDU whose body document is the bytes `doc`, encrypted and signed."""
    sid = sid or "%016d" % next(_sids)
    head = {"SID": sid, "TIMESTAMP": M.timestamp(), "SERVICEID": acct.service_id}
    body = S.encrypt(key or acct.base_key, doc)
    h = S.digest(list(head.values()), body, acct.username, acct.password)
    return X.encode_pdu(name, head, base64.b64encode(body).decode(), h)


class Reply:
    def __init__(self, name, sid, body, signed, how):
        self.name, self.sid, self.body, self.signed, self.how = name, sid, body, signed, how

    @property
    def code(self):
        return (self.body or {}).get("RESULTCODE")


def open_rsp(data, acct=ACCOUNT, keys=()):
    """An answer PDU read as a client would: HASH checked when present."""
    raw = X.decode_pdu(data)
    spec, head = P.check(raw)
    signed = bool(raw.hash)
    if signed:
        P.verify(raw, spec, acct)
    body, how = P.open_body(raw, spec, list(keys), allow_plain=True)
    return Reply(raw.name, raw.sid, body, signed, how)


async def gw_login(gw, acct=ACCOUNT, peer="127.0.0.1"):
    """Log in through gateway.handle; the session key (bytes)."""
    out = await gw.handle(seal_req("TAppLoginReq", {"USERNAME": acct.username, "PASSWORD": acct.password}, acct),
                          peer)
    r = open_rsp(out, acct, [acct.base_key])
    assert r.code == 0, r.body
    return r.body["CONVKEY"].encode()


async def ask(gw, name, body, key, acct=ACCOUNT, peer="127.0.0.1", **kw):
    """One request through gateway.handle, its answer opened with `key`."""
    out = await gw.handle(seal_req(name, body, acct, key, **kw), peer)
    return open_rsp(out, acct, [key])


# -- the fake's own checks ----------------------------------------------------------------

@run
async def test_fake_backend_selects_by_filter_and_records_calls():
    b = FakeBackend()

    class Ctx:
        service_id, sid = "S", "1"
    assert b.select(Ctx, {"AREA": "010"}) == [T1, T9]
    assert b.select(Ctx, {"TERMIDRANGE": (T1, T2), "PRODUCTOR": "MAKER"}) == [T1, T2]
    assert b.methods() == ["select", "select"]


@run
async def test_env_logs_in_over_both_transports():
    async with running() as env:
        for tr in ("long", "http"):
            c = await env.connected(tr)
            assert c.session is not None and env.gw.logged_in("SVC0001")
            await c.close()
            assert not env.gw.logged_in("SVC0001")
