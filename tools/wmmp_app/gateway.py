"""The platform side of the application interface (section 5, appendix H),
independent of the transport: Gateway(backend, apps).

The gateway authenticates (section 5.2), decrypts, checks (appendix H), asks the
backend, and answers; and it sends the platform's own requests (notifications,
results, data up, link checks, key expiry) to the applications logged in.
serve.py puts it on the long connection and on HTTP.

Applications: AppConfig(service_id, username, password, base_key, allow=LOOPBACK,
terminals="*", remote_ctrl="*", url=None, session_minutes=None, soap=True)
    terminals    serials the application may use and hears about ("*": all)
    remote_ctrl  REMOTECTRL tags open to it, and "LOGOUT" for a forced logout ("*": all)
    url          its own HTTP endpoint, where platform requests go when it is not
                 on a long connection (section 5.2.2 item 1)

Backend: any object; the gateway calls these methods (sync or async), each with
a Context first (ctx.service_id, ctx.sid, ctx.peer, ctx.transport, ctx.message,
ctx.app, ctx.terminals -- None or the set of serials the application may use).
Raise gateway.Refused("why") to refuse (RESULTCODE 1, or Refused(text, code=n));
a missing method refuses the calls that need it.  Serials are text (TERMID).

    select(ctx, filter) -> [serial]                     FILTER of c) i) k) t) v):
        filter has TERMIDRANGE (start, end), MODEL, PRODUCTOR, REGISTDATE (start, end),
        AREA; the gateway keeps only the application's terminals.
    term_info_get(ctx, serials, monitor, alarm, config, statistic)          c)
        tags lists, alarm a bool; later: gateway.term_info_get_result(...)
    term_info_query(ctx, serial, monitor, alarm, config, statistic) -> dict   e)
        {"MONITOR": [(tag, text)], "ALARM": [code], "RECOVERY": [code],
         "CONFIG": [(tag, text)], "STATISTIC": [(tag, text)]}; None: unknown terminal
    statistics(ctx, termcount, termfault, termstatus) -> dict                g)
        each argument None or the dict of its filters; answer {"TERMCOUNT_RESULT":
        {"WORKING": "3", ...}, "TERMFAULT_RESULT": {...}, "TERMSTATUS_RESULT": {...}}
    term_statistics(ctx, serial, daterange, wanted) -> dict                   h)
        daterange None or (start, end); wanted a set of ALARMCOUNT, LOGINCOUNT,
        LASTLOGIN; answer {"ALARMCOUNT": n, "LOGINCOUNT": n, "LASTLOGIN": unix time}
    term_ctrl(ctx, serials, remote_ctrl, logout)                               i)
        remote_ctrl a list of tags ([] with a logout), logout None or the reason
    download_notify(ctx, serials, url)                                         k)
    security_config(ctx, serial, operation, security)                          m)
        operation 0..3, security [(tag, text)]
    transparent_down(ctx, serials, data)                                       t)
    config_set(ctx, serials, config)                                           v)

The asynchronous ones (c i k m t v) are only accepted by the answer; the
backend reports the outcome later with the result methods below, passing
ctx.service_id and ctx.sid back (appendix H: the result's SID is the request's).

Platform requests (coroutines): each returns a Delivery (service_id, message =
the application's answer or None, error = text or None, .result = its
RESULTCODE) or, for the notifications of a terminal, {service_id: Delivery}
for every application logged in that may use the terminal (to=[service_id,
...]: only those of them).

A platform request goes to a session only once the answer to its login has
gone out (before, the application cannot hold the session key CONVKEY the
request is encrypted with); it waits for that at most request_timeout.  The
listeners of gateway.login_listeners (on_login=cb adds one) are called then:
cb(service_id, session), a coroutine function's awaitable run as a task.

An application that has not answered (no answer in time, connection refused
or closed) is marked unreachable: until it answers again or logs in again its
requests wait at most unreachable_timeout seconds, so that a dead application
does not hold up for long whoever waits on its deliveries.
"""

import asyncio
import functools
import inspect
import logging
import time

from wmmp_app import fields as F
from wmmp_app import messages as M
from wmmp_app import pdu as P
from wmmp_app import security as S
from wmmp_app import transport as T
from wmmp_app import xmlform as X
from wmmp_app.security import (AddressRefused, BadPassword, Forbidden, InvalidBody, NotLoggedIn, Refusal, Refused,
                               SessionExpired, UnknownService, UnknownUser)

log = logging.getLogger("wmmp.app.gateway")

SESSION_MINUTES = 30
LINK_CHECK_INTERVAL = 60.0      # s between PLinkCheck on a long connection (appendix H r)
LINK_CHECK_MISSES = 3           # unanswered in a row: the link is dead (appendix H r)
UNREACHABLE_TIMEOUT = 2.0       # s an application found unreachable has to answer, until it answers again

__all__ = ["AppConfig", "Context", "Delivery", "Gateway", "Refused", "serve_http", "serve_long"]


class AppConfig(S.Account):
    """One application as the platform knows it (section 5.2)."""

    def __init__(self, service_id, username, password, base_key, allow=S.LOOPBACK, terminals="*",
                 remote_ctrl="*", url=None, session_minutes=None, soap=True):
        super().__init__(service_id, username, password, base_key)
        self.allow = S.AddressList(allow)
        self.terminals = None if terminals == "*" else frozenset(terminals)
        self.remote_ctrl = None if remote_ctrl == "*" else frozenset(
            "LOGOUT" if t == "LOGOUT" else F.tag(t, "remote_ctrl") for t in remote_ctrl)
        if url is not None:
            T.parse_url(url)
        self.url = url
        self.session_minutes = session_minutes
        self.soap = soap

    def may_use(self, serial):
        return self.terminals is None or serial in self.terminals


class Context:
    """What the backend is told with each call."""

    __slots__ = ("app", "service_id", "sid", "peer", "transport", "message")

    def __init__(self, app, message, peer, transport):
        self.app, self.message, self.peer, self.transport = app, message, peer, transport
        self.service_id = app.service_id
        self.sid = message.sid

    @property
    def terminals(self):
        return self.app.terminals


class Delivery:
    """The outcome of one platform request to one application."""

    def __init__(self, service_id, message=None, error=None, sid=None):
        self.service_id, self.message, self.error, self.sid = service_id, message, error, sid

    @property
    def ok(self):
        return self.error is None

    @property
    def result(self):
        return self.message.result if self.message is not None else None

    def __repr__(self):
        return "<Delivery %s %s>" % (self.service_id, self.error or (self.message and self.message.name))


async def _call(fn, *args):
    r = fn(*args)
    if inspect.isawaitable(r):
        r = await r
    return r


class Gateway:
    """The platform's end of the interface; see the module text."""

    def __init__(self, backend, apps, clock=time.time, session_minutes=SESSION_MINUTES, request_timeout=10.0,
                 link_check_interval=LINK_CHECK_INTERVAL, link_check_misses=LINK_CHECK_MISSES, max_pdu=X.MAX_PDU,
                 on_login=None, unreachable_timeout=UNREACHABLE_TIMEOUT):
        self.backend = backend
        self.apps = {}
        for a in (apps.values() if isinstance(apps, dict) else apps):
            if a.service_id in self.apps:
                raise ValueError("two applications with SERVICEID %s" % a.service_id)
            self.apps[a.service_id] = a
        self.clock = clock
        self.session_minutes = session_minutes
        self.request_timeout = request_timeout
        self.link_check_interval = link_check_interval
        self.link_check_misses = link_check_misses
        self.max_pdu = max_pdu
        self.unreachable_timeout = unreachable_timeout
        self.login_listeners = [on_login] if on_login is not None else []
        self.unreachable = {}        # service_id -> when it was found unreachable (clock())
        self.sessions = {}
        self.links = set()
        self.servers = []
        self._http = {}
        self._sid = 0
        self._checker = None
        self._closing = set()

    # -- state ------------------------------------------------------------------------

    def next_sid(self):
        self._sid = (self._sid + 1) % 10 ** 16
        return "%016d" % self._sid

    def session(self, service_id):
        """The valid Session of an application, or None."""
        s = self.sessions.get(service_id)
        return s if s is not None and s.valid(self.clock()) else None

    def logged_in(self, service_id):
        return self.session(service_id) is not None

    def subscribers(self, serial):
        """SERVICEIDs logged in that may use terminal `serial`."""
        return [k for k, a in self.apps.items() if a.may_use(serial) and self.logged_in(k)]

    def end_session(self, service_id, why):
        s = self.sessions.pop(service_id, None)
        if s is not None:
            _drop(s)
            if s.link is not None and s.link.service_id == service_id:
                s.link.service_id = None
            log.info("application %s: session ended (%s)", service_id, why)

    def add_link(self, link):
        """A long connection accepted (serve.py); its session ends with it."""
        self.links.add(link)
        link.closed.add_done_callback(lambda _f, l=link: self._link_gone(l))
        if self._checker is None and self.link_check_interval:
            self._checker = asyncio.get_running_loop().create_task(self._link_checks())

    def _link_gone(self, link):
        self.links.discard(link)
        for k, s in list(self.sessions.items()):
            if s.link is link:
                self.end_session(k, "its long connection closed")

    # -- requests from applications ---------------------------------------------------

    async def handle(self, data, peer, link=None, transport="http"):
        """The answer (PDU bytes) to one request PDU (bytes or a parsed root
        Element) from address `peer`; `link` is its long connection, if any.
        MessageError when it cannot be answered at all (no usable SID or SERVICEID).
        The answer counts as delivered when this returns (see respond())."""
        out, sent = await self.respond(data, peer, link, transport)
        if sent is not None:
            sent()
        return out

    async def respond(self, data, peer, link=None, transport="http"):
        """(answer PDU bytes, sent): as handle(), for a transport that tells when
        the answer has gone out: `sent`, when not None, is to be called then (the
        answer to a login: the new session is used from that moment on)."""
        raw = X.decode_pdu(data, self.max_pdu)
        spec = M.SPECS.get(raw.name)
        if spec is None or not spec.is_request or spec.call.direction != M.A2P:
            raise M.MessageError("%s is not a request an application sends (appendix H)" % raw.name[:60], raw.name)
        call = spec.call.name
        sid, service_id = raw.head.get("SID"), raw.head.get("SERVICEID")
        try:
            F.visible(sid, "SID")
            F.visible(service_id, "SERVICEID")
        except F.FieldError as e:
            raise M.MessageError("%s: %s: cannot answer" % (raw.name, e), raw.name)
        app = self.apps.get(service_id)
        reply_key = None
        verified = False
        try:
            if app is None:
                raise UnknownService("SERVICEID %s is not configured" % service_id)
            if not app.allow.allows(peer):
                raise AddressRefused("address %s is not allowed for %s" % (peer, service_id))
            if link is not None and link.service_id not in (None, service_id):
                raise AddressRefused("this connection belongs to application %s" % link.service_id)
            P.verify(raw, spec, app)
            verified = True         # from here on the sender holds the password: answers are signed
            try:
                spec, head = P.check(raw)
            except M.MessageError as e:
                raise InvalidBody(str(e))
            keys, reply_key = self._keys(call, app, link)
            body, how = P.open_body(raw, spec, keys)
            reply_key = keys[int(how[3:])] if how.startswith("key") else reply_key
            msg = M.Message(spec, head, body)
            answer = await self._dispatch(call, msg, app, peer, link, transport)
            rsp = self._reply(spec, raw, answer)
            sent = None
            if call == "TAppLogin":
                sent = functools.partial(self._announce, app.service_id, self.sessions.get(app.service_id))
            return P.seal(rsp, app, reply_key), sent
        except Refusal as r:
            code = r.code_for(call)
            log.warning("refused %s SID %s from %s (SERVICEID %s): %s -> RESULTCODE %d",
                        raw.name, sid, peer, service_id, r, code)
            body = {"RESULTCODE": code}
            body.update(getattr(r, "extra", None) or {})
            rsp = self._reply(spec, raw, body)
            account = app if app is not None else S.Account(service_id, "-", "-", bytes(16))
            plain = r.plain or reply_key is None
            return P.seal(rsp, account, reply_key, plain=plain, signed=r.signed and verified), None

    def _keys(self, call, app, link):
        """(keys to try on the body, key of the answer if the body cannot be read)."""
        if call == "TAppLogin":
            return [app.base_key], app.base_key
        s = self.sessions.get(app.service_id)
        if call == "TAppLogout":
            return ([s.key, app.base_key] if s else [app.base_key]), (s.key if s else app.base_key)
        if s is None:
            raise NotLoggedIn("%s is not logged in" % app.service_id)
        if not s.valid(self.clock()):
            raise SessionExpired("the session of %s expired; log in again" % app.service_id)
        if link is not None and link.service_id != app.service_id:
            raise NotLoggedIn("%s has not logged in on this connection" % app.service_id)
        return [s.key], s.key

    def _reply(self, spec, raw, body):
        r = spec.call.response
        return M.Message(r, {"SID": raw.head["SID"], "TIMESTAMP": M.timestamp(self.clock()),
                             "SERVICEID": raw.head["SERVICEID"]}, M.check_body(r, body) if r.body else None)

    async def _dispatch(self, call, msg, app, peer, link, transport):
        b = msg.body
        if call == "TAppLogin":
            return self._login(msg, app, link, transport, peer)
        if call == "TAppLogout":
            self._check_creds(b, app)
            self.end_session(app.service_id, "TAppLogout from %s" % peer)
            return {"RESULTCODE": 0}
        ctx = Context(app, msg, peer, transport)
        if call == "TTermInfoGet":
            serials = await self._targets(ctx, b)
            await self._backend("term_info_get", ctx, serials, b.get("MONITOR", []), "ALARM" in b,
                                b.get("CONFIG", []), b.get("STATISTIC", []))
            return {"RESULTCODE": 0}
        if call == "PTermInfoQuery":
            serial = self._may(app, b["TERMID"])
            r = await self._backend("term_info_query", ctx, serial, b.get("MONITOR", []), "ALARM" in b,
                                    b.get("CONFIG", []), b.get("STATISTIC", []))
            if r is None:
                raise Refused("terminal %s is not known" % serial)
            out = {"RESULTCODE": 0, "TERMID": serial}
            out.update({k: v for k, v in r.items()
                        if v and k in ("MONITOR", "ALARM", "RECOVERY", "CONFIG", "STATISTIC")})
            return out
        if call == "PStatisticQuery":
            r = await self._backend("statistics", ctx, b.get("TERMCOUNT"), b.get("TERMFAULT"), b.get("TERMSTATUS"))
            out = {"RESULTCODE": 0}
            out.update({k: {n: str(x) for n, x in v.items()} for k, v in (r or {}).items()
                        if k in ("TERMCOUNT_RESULT", "TERMFAULT_RESULT", "TERMSTATUS_RESULT")})
            return out
        if call == "PTermStatisticQuery":
            serial = self._may(app, b["TERMINID"])
            wanted = {k for k in ("ALARMCOUNT", "LOGINCOUNT", "LASTLOGIN") if k in b}
            r = await self._backend("term_statistics", ctx, serial, b.get("DATERANGE"), wanted)
            if r is None:
                raise Refused("terminal %s is not known" % serial)
            out = {"RESULTCODE": 0, "TERMID": serial}
            out.update({k: v for k, v in r.items() if v is not None and k in ("ALARMCOUNT", "LOGINCOUNT", "LASTLOGIN")})
            return out
        if call == "TTermCtrl":
            tags, logout = b.get("REMOTECTRL", []), b.get("LOGOUT")
            if app.remote_ctrl is not None:
                shut = [t for t in tags if t not in app.remote_ctrl]
                if logout is not None and "LOGOUT" not in app.remote_ctrl:
                    shut.append("LOGOUT")
                if shut:
                    r = Forbidden("remote control %s not open to %s (section 5.1.6)"
                                  % (", ".join(shut), app.service_id))
                    r.extra = {"REMOTECTRL": [t for t in shut if t != "LOGOUT"]}
                    raise r
            serials = await self._targets(ctx, b)
            await self._backend("term_ctrl", ctx, serials, tags, logout)
            return {"RESULTCODE": 0}
        if call == "TDownloadNotify":
            serials = await self._targets(ctx, b)
            await self._backend("download_notify", ctx, serials, b["DOWNLOADURL"])
            return {"RESULTCODE": 0}
        if call == "TSecurityConfig":
            serial = self._may(app, b["TERMID"])
            if b["OPERATION"] not in M.APP_SECURITY_OPERATIONS:
                raise Refused("OPERATION %d is the terminal's, an application sends 0-3 (appendix H m)"
                              % b["OPERATION"])
            await self._backend("security_config", ctx, serial, b["OPERATION"], b.get("SECURITY", []))
            return {"RESULTCODE": 0}
        if call == "TTransparentDataDown":
            serials = await self._targets(ctx, b)
            await self._backend("transparent_down", ctx, serials, b["DATA"])
            return {"RESULTCODE": 0}
        if call == "TConfigSet":
            serials = await self._targets(ctx, b)
            await self._backend("config_set", ctx, serials, b["CONFIG"])
            return {"RESULTCODE": 0}
        raise Refused("%s is not handled" % call)

    def _login(self, msg, app, link, transport, peer):
        self._check_creds(msg.body, app, login=True)
        now = self.clock()
        minutes = app.session_minutes or self.session_minutes
        old = self.sessions.get(app.service_id)
        if old is not None:
            _drop(old)
        if old is not None and old.link is not None and old.link is not link:
            old.link.service_id = None
            t = asyncio.get_running_loop().create_task(old.link.close())
            self._closing.add(t)
            t.add_done_callback(self._closing.discard)
            log.info("application %s: its earlier long connection %s is closed by the new login",
                     app.service_id, old.link.peer_text)
        s = S.Session(S.new_session_key(), now, minutes, link, transport)
        s.announced = asyncio.get_running_loop().create_future()     # done when the answer has gone out
        self.sessions[app.service_id] = s
        self.unreachable.pop(app.service_id, None)
        if link is not None:
            link.service_id = app.service_id
            link.misses = 0
        log.info("application %s logged in from %s over %s; session of %d min", app.service_id, peer,
                 transport, minutes)
        return {"RESULTCODE": 0, "CONVKEY": s.key_text, "EXPIRATION": minutes}

    def _announce(self, service_id, s):
        """The answer to the login that opened session `s` has gone out: platform
        requests may use it, and the login listeners hear of it."""
        if s is None or s.announced is None or s.announced.done():
            return
        s.announced.set_result(True)
        if self.sessions.get(service_id) is not s:
            return
        for cb in list(self.login_listeners):
            try:
                r = cb(service_id, s)
                if inspect.isawaitable(r):
                    t = asyncio.ensure_future(r)
                    self._closing.add(t)
                    t.add_done_callback(self._listener_done)
            except Exception as e:
                log.error("login listener failed: %s: %s", type(e).__name__, e)

    def _listener_done(self, t):
        self._closing.discard(t)
        if not t.cancelled() and t.exception() is not None:
            e = t.exception()
            log.error("login listener failed: %s: %s", type(e).__name__, e)

    async def _announced(self, service_id):
        """The valid session of an application once the answer to its login has
        gone out (the application holds its key only from then on); None when it
        has none.  Waits at most request_timeout; TransportError after that."""
        loop = asyncio.get_running_loop()
        end = loop.time() + self.request_timeout
        while True:
            s = self.session(service_id)
            if s is None or s.announced is None or s.announced.done():
                return s
            left = end - loop.time()
            if left <= 0:
                raise T.TransportError("the answer to its login has not gone out within %g s"
                                       % self.request_timeout)
            await asyncio.wait({s.announced}, timeout=left)      # or the session ended / was replaced

    @staticmethod
    def _check_creds(body, app, login=False):
        if "USERNAME" in body and body["USERNAME"] != app.username:
            raise UnknownUser("no user %r for %s" % (body["USERNAME"], app.service_id))
        if "PASSWORD" in body and body["PASSWORD"] != app.password:
            raise BadPassword("password does not match the user name of %s" % app.service_id)

    @staticmethod
    def _may(app, serial):
        if not app.may_use(serial):
            raise Forbidden("terminal %s is not one of %s's" % (serial, app.service_id))
        return serial

    async def _targets(self, ctx, b):
        app = ctx.app
        if "TERMLIST" in b:
            shut = [s for s in b["TERMLIST"] if not app.may_use(s)]
            if shut:
                raise Forbidden("terminal%s %s not %s's" % ("s" if len(shut) > 1 else "", ", ".join(shut[:5]),
                                                             app.service_id))
            return list(dict.fromkeys(b["TERMLIST"]))
        found = await self._backend("select", ctx, b["FILTER"])
        serials = [s for s in dict.fromkeys(found or ()) if app.may_use(s)]
        if not serials:
            raise Refused("no terminal of %s matches the FILTER" % app.service_id)
        return serials

    async def _backend(self, method, ctx, *args):
        fn = getattr(self.backend, method, None)
        if fn is None:
            raise Refused("this platform does not support %s" % method)
        try:
            return await _call(fn, ctx, *args)
        except Refusal:
            raise
        except Exception as e:
            log.error("backend %s failed: %s: %s", method, type(e).__name__, e)
            log.debug("traceback", exc_info=True)
            raise Refused("platform error in %s" % method)

    # -- requests to applications ------------------------------------------------------

    async def send(self, service_id, name, body=None, sid=None, **head):
        """Send platform request `name` (e.g. "TRegistReq") to one application and
        return the Delivery; never raises for a failed delivery."""
        app = self.apps.get(service_id)
        if app is None or self.session(service_id) is None:
            return Delivery(service_id, error="not logged in" if app else "unknown application")
        sid = sid or self.next_sid()
        try:
            s = await self._announced(service_id)
            if s is None:
                return Delivery(service_id, error="not logged in", sid=sid)
            timeout = self.request_timeout
            if service_id in self.unreachable:
                timeout = min(timeout, self.unreachable_timeout)
            msg = M.build(name, body, sid=sid, service_id=service_id, ts=M.timestamp(self.clock()), **head)
            try:
                if s.link is not None:
                    data = await s.link.request(P.seal(msg, app, s.key), name, sid, timeout)
                elif app.url:
                    data = await self._post(app, P.seal(msg, app, s.key, namespace=X.NS if app.soap else None), msg,
                                            timeout)
                else:
                    return Delivery(service_id, error="not reachable: no long connection and no URL", sid=sid)
            except _HttpStatus:
                raise
            except T.TransportError as e:
                self._unreachable(service_id, e)
                raise
            self.unreachable.pop(service_id, None)       # it answered
            raw = X.decode_pdu(data, self.max_pdu)
            rspec, head_ = P.check_answer(raw, msg)
            P.verify(raw, rspec, app)
            rbody, _ = P.open_body(raw, rspec, [s.key], allow_plain=True)
            return Delivery(service_id, M.Message(rspec, head_, rbody), sid=sid)
        except (M.MessageError, Refusal, T.TransportError) as e:
            log.warning("%s SID %s to %s: %s", name, sid, service_id, e)
            return Delivery(service_id, error=str(e), sid=sid)

    def _unreachable(self, service_id, why):
        if service_id not in self.unreachable:
            self.unreachable[service_id] = self.clock()
            log.warning("application %s is unreachable (%s): its requests wait at most %g s until it answers "
                        "or logs in again", service_id, why, min(self.request_timeout, self.unreachable_timeout))

    async def _post(self, app, data, msg, timeout=None):
        c = self._http.get(app.service_id)
        if c is None or c.url != app.url:
            c = self._http[app.service_id] = T.HttpClient(app.url, self.request_timeout, self.max_pdu)
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if app.soap:
            data = X.soap_wrap(data)
            headers["SOAPAction"] = '"%s"' % msg.call.name
        status, _, body = await c.post(data, headers, timeout)
        if status != 200:
            raise _HttpStatus("HTTP %d from %s" % (status, app.url))
        return body

    async def _each(self, serial, name, body, to=None, **head):
        targets = [k for k in self.subscribers(serial) if to is None or k in to]
        got = await asyncio.gather(*(self.send(k, name, body, **head) for k in targets))
        return dict(zip(targets, got))

    # notifications about a terminal: to every application logged in that may use it
    # (to=[service_id, ...]: to those of them only)

    async def notify_regist(self, serial, imei, imsi, to=None):                      # o)
        return await self._each(serial, "TRegistReq", {"TERMID": serial, "IMEI": imei, "IMSI": imsi}, to)

    async def notify_login(self, serial, imei, imsi, termver=None, configcrc=None, params=(), to=None):  # p)
        return await self._each(serial, "TLoginReq", {"TERMID": serial, "IMEI": imei, "IMSI": imsi,
                                                      "TERMVER": termver, "CONFIGCRC": configcrc,
                                                      "PARAM": list(params) or None}, to)

    async def notify_logout(self, serial, reason, to=None):                           # q)
        return await self._each(serial, "TLogoutReq", {"TERMID": serial, "LOGOUTREASON": reason}, to)

    async def notify_fault(self, serial, errcodes, to=None):                          # f)
        return await self._each(serial, "PTermFaultNotifyReq", {"TERMID": serial, "ERRCODE": list(errcodes)}, to)

    async def transparent_up(self, serial, data, to=None):                            # s)
        return await self._each(serial, "TTransparentDataUpReq", {"TERMID": serial, "DATA": data}, to)

    async def term_info_report(self, serial, monitor=(), alarm=(), recovery=(), config=(), statistic=(),
                               to=None):                                              # y)
        return await self._each(serial, "TTermInfoReportReq", _info(serial, monitor, alarm, recovery, config,
                                                                     statistic), to)

    async def config_req(self, serial, tags, to=None):                                # x)
        """TConfigReq: the answers carry CONFIG [(tag, value)]; an empty value
        is a tag the application cannot supply (docs/APP.md decision 19)."""
        return await self._each(serial, "TConfigReqReq", {"CONFIG": list(tags)}, to, TERMINID=serial)

    # results of an application's earlier request: its SERVICEID and SID

    async def term_info_get_result(self, service_id, sid, serial, monitor=(), alarm=(), recovery=(), config=(),
                                   statistic=(), invalid=None):                       # d)
        body = _info(serial, monitor, alarm, recovery, config, statistic)
        body["INVALIDATE"] = invalid or None
        return await self.send(service_id, "TTermInfoGetResultReq", body, sid=sid)

    async def term_ctrl_result(self, service_id, sid, serial, result, invalid=()):     # j)
        return await self.send(service_id, "TTermCtrlResultReq", {"TERMID": serial, "RESULTCODE": result,
                                                                  "REMOTECTRL": list(invalid) or None}, sid=sid)

    async def download_result(self, service_id, sid, serial, result):                  # l)
        return await self.send(service_id, "TDownloadNotifyResultReq", {"TERMID": serial, "RESULTCODE": result},
                               sid=sid)

    async def security_config_result(self, service_id, sid, serial, result, security=()):  # n)
        return await self.send(service_id, "TSecurityConfigResultReq", {
            "TERMID": serial, "RESULTCODE": result, "SECURITY": list(security) or None}, sid=sid)

    async def transparent_down_result(self, service_id, sid, serial, result):          # u)
        return await self.send(service_id, "TTransparentDataDownResultReq", {"TERMID": serial, "RESULTCODE": result},
                               sid=sid)

    async def config_set_result(self, service_id, sid, serial, result, unsupported=()):  # w)
        return await self.send(service_id, "TConfigSetResultReq", {"TERMID": serial, "RESULTCODE": result,
                                                                   "CONFIG": list(unsupported) or None}, sid=sid)

    # the link and the keys

    async def link_check(self, service_id):                                            # r)
        """One PLinkCheck to an application on a long connection: True if answered."""
        s = self.session(service_id)
        if s is None or s.link is None:
            return False
        d = await self.send(service_id, "PLinkCheckReq")
        s.link.misses = 0 if d.ok else s.link.misses + 1
        return d.ok

    async def _link_checks(self):
        while True:
            await asyncio.sleep(self.link_check_interval)
            for k, s in list(self.sessions.items()):
                if s.link is None or s.link.is_closed:
                    continue
                if not await self.link_check(k) and s.link.misses >= self.link_check_misses:
                    log.warning("application %s: %d link checks unanswered, connection %s closed", k,
                                s.link.misses, s.link.peer_text)
                    await s.link.close()

    async def key_expiration(self, service_id, date, new_base_key=None):               # z)
        """PKeyExpiration: tell the application its base key expired on `date`
        (YYYYMMDD); with new_base_key, later logins must use that key (section 5.1.13)."""
        d = await self.send(service_id, "PKeyExpirationReq", {"DATE": date})
        if new_base_key is not None:
            self.apps[service_id].base_key = S.key_bytes(new_base_key, "base key")
            log.info("application %s: base key replaced", service_id)
        return d

    async def close(self):
        if self._checker is not None:
            self._checker.cancel()
        for srv in self.servers:
            if isinstance(srv, T.HttpServer):
                await srv.close()
            else:
                srv.close()
        for link in list(self.links):
            await link.close()
        self.servers = []
        for c in self._http.values():
            await c.close()


class _HttpStatus(T.TransportError):
    """The application's endpoint answered, with an HTTP status other than 200."""


def _drop(s):
    """Session `s` ends or is replaced: whoever waits for its login answer stops waiting."""
    if s.announced is not None and not s.announced.done():
        s.announced.set_result(False)


def _info(serial, monitor, alarm, recovery, config, statistic):
    return {"TERMID": serial, "MONITOR": list(monitor) or None, "ALARM": list(alarm) or None,
            "RECOVERY": list(recovery) or None, "CONFIG": list(config) or None, "STATISTIC": list(statistic) or None}


from wmmp_app.serve import serve_http, serve_long  # noqa: E402  (serve.py builds on Gateway)
