"""An OEM's application on the interface (section 5): AppClient.

    app = AppClient("SVC0001", "meterapp", "secret", "BaseKey0123456789abcdef",
                    host="127.0.0.1", port=9000)               # long connection
    await app.connect()                                          # and TAppLogin
    sid = await app.transparent_down(b"\\x01\\x03", serials=["M2MMAKER00000001"])
    async for n in app.notifications():                         # what the platform sends
        print(n.name, n.body)
    await app.close()                                            # TAppLogout

Keys (section 5.2.1): TAppLogin goes with the base key; the session key CONVKEY of
its answer encrypts everything after, until EXPIRATION minutes have passed.
A request made when the session is over (or within `relogin_margin` s of it)
logs in again first; an answer "2: not logged in" logs in again and repeats
the request once; a long connection that broke is reopened.

Platform requests (notifications, results, data up, link checks, key expiry)
are verified (HASH with this application's secrets, SERVICEID its own),
decrypted, answered, and queued for notifications() / wait_for().  A request
that arrives while a login is under way and does not decrypt with the key held
waits for that login and is read with its new key (the platform may use the
key as soon as the login's answer has gone out, before this end has read it).
The answer:
what handler(message) returns -- None for the default (RESULTCODE 0; for
TConfigReq every tag asked reported as one it cannot supply), an int RESULTCODE,
or a body dict.  A request that fails verification is not answered (HTTP: 403),
per section 5.2.2 item 4.

Transports (docs/APP.md decision 15): transport="long" -- one connection both
ways.  transport="http" -- requests are POSTed to http://host:port/path; the
platform's requests arrive on this application's own endpoint, an AppServer
started at `listen` (host, port), which the platform knows as the
application's URL (section 5.2.2 item 1).
"""

import asyncio
import logging
import time

from wmmp_app import messages as M
from wmmp_app import pdu as P
from wmmp_app import security as S
from wmmp_app import transport as T
from wmmp_app import wsdl as W
from wmmp_app import xmlform as X

log = logging.getLogger("wmmp.app.client")

XML = "text/xml; charset=utf-8"
# RESULTCODE an application answers when its handler fails
_REFUSE = {"TTermInfoGetResult": 1, "TTransparentDataUp": 1, "TConfigReq": 1, "TTermInfoReport": 1, "TRegist": 2}


class AppError(Exception):
    """A request that did not succeed (one line for the user)."""

    def __init__(self, text, code=None, message=None):
        super().__init__(text)
        self.code = code
        self.message = message


class LoginFailed(AppError):
    """TAppLogin refused (code: RESULTCODE of appendix H a)."""


class Unverified(AppError):
    """An answer without a valid HASH: only ever a refusal (docs/APP.md decision 11)."""


class Notification:
    """A platform request as heard: the Message and the answer body sent back."""

    def __init__(self, message, answer):
        self.message, self.answer = message, answer

    name = property(lambda self: self.message.call.name)
    body = property(lambda self: self.message.body or {})
    sid = property(lambda self: self.message.sid)

    def __repr__(self):
        return "<Notification %s SID %s>" % (self.name, self.sid)


def default_answer(msg):
    """The answer body an application gives when it has nothing to say."""
    r = msg.call.response
    if r.body is None:
        return None
    if msg.call.name == "TConfigReq":
        return {"RESULTCODE": 0, "CONFIG": [(t, "") for t in msg.body.get("CONFIG", [])] or None}
    return {"RESULTCODE": 0}


class AppClient:
    """One application, logged in to one platform (see the module text)."""

    def __init__(self, service_id, username, password, base_key, host="127.0.0.1", port=9000, transport="long",
                 path="/wmmp/app", soap=True, listen=None, listen_path="/wmmp/app", handler=None, timeout=10.0,
                 relogin_margin=5.0, clock=time.time, max_pdu=X.MAX_PDU, queue_size=1000,
                 platform_allow=S.LOOPBACK):
        if transport not in ("long", "http"):
            raise ValueError("transport is long or http, not %r" % (transport,))
        self.account = S.Account(service_id, username, password, base_key)
        self.host, self.port, self.transport, self.path, self.soap = host, port, transport, path, soap
        self.listen, self.listen_path = listen, listen_path
        self.handler = handler
        self.timeout, self.relogin_margin, self.clock, self.max_pdu = timeout, relogin_margin, clock, max_pdu
        self.platform_allow = S.AddressList(platform_allow)
        self.session = None
        self.link = None
        self.http = None
        self.server = None
        self.queue = asyncio.Queue(queue_size)
        self._waiters = []
        self._sid = int(time.time() * 1000) % 10 ** 12 * 1000
        self._login_lock = asyncio.Lock()
        self._logging_in = None      # a future done when the login under way has ended
        self._closed = False

    # -- connection and session --------------------------------------------------------

    @property
    def service_id(self):
        return self.account.service_id

    @property
    def url(self):
        """This application's own endpoint (transport http with listen)."""
        if self.server is None:
            return None
        h = self.listen[0]
        return "http://%s:%d%s" % ("[%s]" % h if ":" in h else h, self.server.port, self.listen_path)

    def next_sid(self):
        self._sid = (self._sid + 1) % 10 ** 16
        return "%016d" % self._sid

    async def connect(self, login=True):
        """Open the transport (and the AppServer for http with listen); log in."""
        if self.transport == "long":
            await self._open_long()
        else:
            if self.http is None:
                self.http = T.HttpClient("http://%s:%d%s" % ("[%s]" % self.host if ":" in self.host else self.host,
                                                             self.port, self.path), self.timeout, self.max_pdu)
            if self.listen is not None and self.server is None:
                self.server = T.HttpServer(self._http_request, self.listen_path,
                                           lambda hh: W.application_wsdl(self.url or ""), self.max_pdu, name="app")
                await self.server.start(*self.listen)
        if login:
            await self.login()
        return self

    async def _open_long(self):
        if self.link is None or self.link.is_closed:
            try:
                self.link = await T.open_long(self.host, self.port, self._long_request, self.max_pdu, "app",
                                              self.timeout)
            except T.TransportError as e:
                raise AppError(str(e))
            self.session = None         # a session lives on its connection (docs/APP.md decision 16)

    async def login(self):
        """TAppLogin with the base key; returns the answer.  LoginFailed / AppError."""
        async with self._login_lock:
            self._logging_in = asyncio.get_running_loop().create_future()
            try:
                return await self._login()
            finally:
                self._logging_in.set_result(None)

    async def _login(self):
        a = self.account
        msg = self._build("TAppLoginReq", {"USERNAME": a.username, "PASSWORD": a.password})
        try:
            rsp = await self._exchange(msg, a.base_key, [a.base_key])
        except Unverified as e:
            raise LoginFailed("login refused: %s" % e, e.code, e.message)
        if rsp.result != 0:
            raise LoginFailed("login refused: RESULTCODE %d (%s)" % (rsp.result, rsp.meaning()), rsp.result, rsp)
        now = self.clock()
        self.session = S.Session(rsp.body["CONVKEY"], now, rsp.body["EXPIRATION"], self.link, self.transport)
        log.info("%s logged in; session key valid %d min", a.service_id, rsp.body["EXPIRATION"])
        return rsp

    async def logout(self):
        """TAppLogout; returns its RESULTCODE (0: logged out)."""
        a = self.account
        key = self.session.key if self.session else a.base_key
        msg = self._build("TAppLogoutReq", {"USERNAME": a.username, "PASSWORD": a.password})
        try:
            rsp = await self._exchange(msg, key, [key, a.base_key])
        finally:
            self.session = None
        return rsp.result

    def session_left(self):
        """Seconds the session key has left (0 when there is none)."""
        return max(0.0, self.session.expires - self.clock()) if self.session else 0.0

    async def _ensure_session(self):
        if self.transport == "long" and (self.link is None or self.link.is_closed):
            await self._open_long()
        if self.session is None or self.session_left() <= self.relogin_margin:
            await self.login()

    # -- requests ----------------------------------------------------------------------

    def _build(self, name, body, sid=None):
        return M.build(name, body, sid=sid or self.next_sid(), service_id=self.service_id,
                       ts=M.timestamp(self.clock()))

    async def request(self, call, body=None):
        """Send any application request (call name, e.g. "TTermCtrl", or root
        name "TTermCtrlReq") and return the platform's answer Message."""
        name = call if call.endswith("Req") and call in M.SPECS else call + "Req"
        spec = M.spec(name)
        if spec.call.direction != M.A2P or not spec.is_request or spec.call.name in ("TAppLogin", "TAppLogout"):
            raise ValueError("%s is not a request an application sends (use login()/logout() for those)" % call)
        msg = self._build(name, body)
        for attempt in (0, 1):
            await self._ensure_session()
            try:
                rsp = await self._exchange(msg, self.session.key, [self.session.key, self.account.base_key])
            except Unverified as e:
                raise Unverified("%s refused: %s" % (spec.call.name, e), e.code)
            if rsp.result == 2 and attempt == 0:
                log.info("%s: platform says not logged in; logging in again", spec.call.name)
                self.session = None
                msg = self._build(name, body)
                continue
            return rsp

    async def _exchange(self, msg, key, reply_keys):
        data = P.seal(msg, self.account, key, namespace=X.NS if (self.transport == "http" and self.soap) else None)
        try:
            if self.transport == "long":
                if self.link is None or self.link.is_closed:
                    await self._open_long()
                answer = await self.link.request(data, msg.name, msg.sid, self.timeout)
            else:
                answer = await self._post(data, msg)
        except T.TransportError as e:
            raise AppError("%s: %s" % (msg.call.name, e))
        return self._open_answer(answer, msg, reply_keys)

    async def _post(self, data, msg):
        headers = {"Content-Type": XML}
        if self.soap:
            data = X.soap_wrap(data)
            headers["SOAPAction"] = '"%s"' % msg.call.name
        status, _, body = await self.http.post(data, headers)
        if status != 200:
            text = body.decode("utf-8", "replace").strip().splitlines()
            raise AppError("%s: HTTP %d from the platform: %s" % (msg.call.name, status, (text or [""])[0][:200]))
        return body

    def _open_answer(self, data, req, keys):
        try:
            raw = X.decode_pdu(data, self.max_pdu)
            spec, head = P.check_answer(raw, req)
        except M.MessageError as e:
            raise AppError("%s: unreadable answer: %s" % (req.call.name, e))
        try:
            P.verify(raw, spec, self.account)
        except S.DigestMismatch as e:
            code, why = None, str(e)
            try:
                b, _ = P.open_body(raw, spec, [], allow_plain=True)
                code = (b or {}).get("RESULTCODE")
            except S.Refusal:
                pass
            if code is not None:
                why = "RESULTCODE %d (%s), unsigned: the platform could not identify this application " \
                      "(SERVICEID, address, user name or password)" % (code, spec.codes.get(code, "reserved"))
            raise Unverified(why, code)
        try:
            body, _ = P.open_body(raw, spec, keys, allow_plain=True)
        except S.Refusal as e:
            raise AppError("%s: answer body unreadable: %s" % (req.call.name, e))
        return M.Message(spec, head, body)

    async def _checked(self, call, body):
        rsp = await self.request(call, body)
        if rsp.result not in (None, 0):
            raise AppError("%s refused: RESULTCODE %d (%s)" % (call, rsp.result, rsp.meaning()), rsp.result, rsp)
        return rsp

    # -- the calls of appendix H, one method each ------------------------------------------

    @staticmethod
    def _target(serials, filter_):
        return {"TERMLIST": list(serials) if serials else None, "FILTER": filter_}

    async def term_info_get(self, serials=None, filter=None, monitor=(), alarm=False, config=(), statistic=()):
        """TTermInfoGet (c): the SID; the TTermInfoGetResult notifications carry it."""
        b = self._target(serials, filter)
        b.update({"MONITOR": list(monitor) or None, "ALARM": ["300D"] if alarm else None,
                  "CONFIG": list(config) or None, "STATISTIC": list(statistic) or None})
        return (await self._checked("TTermInfoGet", b)).sid

    async def term_info_query(self, serial, monitor=(), alarm=False, config=(), statistic=()):
        """PTermInfoQuery (e): the answer body (TERMID, MONITOR, ALARM, ...)."""
        b = {"TERMID": serial, "MONITOR": list(monitor) or None, "ALARM": ["300D"] if alarm else None,
             "CONFIG": list(config) or None, "STATISTIC": list(statistic) or None}
        return (await self._checked("PTermInfoQuery", b)).body

    async def statistics(self, termcount=None, termfault=None, termstatus=None):
        """PStatisticQuery (g): the answer body (*_RESULT groups)."""
        b = {"TERMCOUNT": termcount, "TERMFAULT": termfault, "TERMSTATUS": termstatus}
        return (await self._checked("PStatisticQuery", b)).body

    async def term_statistics(self, serial, daterange=None, alarmcount=True, logincount=True, lastlogin=True):
        """PTermStatisticQuery (h): the answer body (ALARMCOUNT, LOGINCOUNT, LASTLOGIN)."""
        b = {"TERMINID": serial, "DATERANGE": daterange, "ALARMCOUNT": alarmcount or None,
             "LOGINCOUNT": logincount or None, "LASTLOGIN": lastlogin or None}
        return (await self._checked("PTermStatisticQuery", b)).body

    async def term_ctrl(self, serials=None, filter=None, remote_ctrl=(), logout=None):
        """TTermCtrl (i): the SID of the TTermCtrlResult notifications."""
        b = self._target(serials, filter)
        b.update({"REMOTECTRL": list(remote_ctrl) or None, "LOGOUT": logout})
        return (await self._checked("TTermCtrl", b)).sid

    async def download_notify(self, url, serials=None, filter=None):
        """TDownloadNotify (k): the SID of the TDownloadNotifyResult notifications."""
        b = self._target(serials, filter)
        b["DOWNLOADURL"] = url
        return (await self._checked("TDownloadNotify", b)).sid

    async def security_config(self, serial, operation, security=()):
        """TSecurityConfig (m): the SID of the TSecurityConfigResult notification."""
        b = {"TERMID": serial, "OPERATION": operation, "SECURITY": list(security) or None}
        return (await self._checked("TSecurityConfig", b)).sid

    async def transparent_down(self, data, serials=None, filter=None):
        """TTransparentDataDown (t): the SID of the TTransparentDataDownResult notifications."""
        b = self._target(serials, filter)
        b["DATA"] = data
        return (await self._checked("TTransparentDataDown", b)).sid

    async def config_set(self, config, serials=None, filter=None):
        """TConfigSet (v), config [(tag, value)]: the SID of the TConfigSetResult notifications."""
        b = self._target(serials, filter)
        b["CONFIG"] = list(config)
        return (await self._checked("TConfigSet", b)).sid

    # -- what the platform sends -------------------------------------------------------

    async def notifications(self):
        """Every platform request, answered, in arrival order (until close())."""
        while not self._closed:
            n = await self.queue.get()
            if n is None:
                return
            yield n

    async def wait_for(self, call, sid=None, serial=None, timeout=10.0):
        """The next platform request `call` (with this SID / TERMID) heard from now on."""
        fut = asyncio.get_running_loop().create_future()
        w = (call, sid, serial, fut)
        self._waiters.append(w)
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise AppError("no %s%s within %g s" % (call, " SID %s" % sid if sid else "", timeout))
        finally:
            if w in self._waiters:
                self._waiters.remove(w)

    async def _long_request(self, data, link):
        out, _ = await self._platform_request(data, link.peer)
        return out

    async def _http_request(self, body, peer, headers):
        if not self.platform_allow.allows(peer):
            log.warning("request from %s refused: not the platform's address (section 5.2.2)", peer)
            return 403, "text/plain; charset=utf-8", b"forbidden\n"
        try:
            root = X.parse(body, self.max_pdu, "request")
        except M.MessageError as e:
            return 400, "text/plain; charset=utf-8", ("bad request: %s\n" % e).encode()
        out, why = await self._platform_request(root, peer)
        if out is None:
            return 403 if why == "unverified" else 400, "text/plain; charset=utf-8", b"refused\n"
        return 200, XML, X.soap_wrap(out) if X.is_soap(root) else out

    async def _platform_request(self, data, peer):
        """(answer bytes or None, why) for one platform request."""
        try:
            raw = X.decode_pdu(data, self.max_pdu)
            spec, head = P.check(raw)
            if spec.call.direction != M.P2A or not spec.is_request:
                raise M.MessageError("%s is not a request the platform sends" % raw.name)
        except M.MessageError as e:
            log.warning("from %s: unreadable request dropped: %s", peer, e)
            return None, "bad"
        try:
            if head["SERVICEID"] != self.service_id:
                raise S.UnknownService("it names SERVICEID %s" % head["SERVICEID"])
            P.verify(raw, spec, self.account)
            body = await self._open_request(raw, spec)
        except S.Refusal as e:
            log.warning("%s SID %s from %s not answered: %s", raw.name, raw.sid, peer, e)
            return None, "unverified"
        msg = M.Message(spec, head, body)
        answer = default_answer(msg)
        if self.handler is not None and spec.call.response.body is None:
            await self._run_handler(msg)
        elif self.handler is not None:
            try:
                r = self.handler(msg)
                if asyncio.iscoroutine(r):
                    r = await r
                if isinstance(r, int) and not isinstance(r, bool):
                    answer = {"RESULTCODE": r}
                elif isinstance(r, dict):
                    answer = r
                M.check_body(spec.call.response, answer)
            except Exception as e:
                log.error("handler failed on %s: %s: %s", spec.call.name, type(e).__name__, e)
                answer = {"RESULTCODE": _REFUSE.get(spec.call.name, 0)} if spec.call.response.body else None
        rsp = M.Message(spec.call.response, {"SID": raw.sid, "TIMESTAMP": M.timestamp(self.clock()),
                                             "SERVICEID": self.service_id},
                        M.check_body(spec.call.response, answer) if spec.call.response.body else None)
        if spec.call.name != "PLinkCheck":         # answered, not queued: it only keeps the link
            self._heard(Notification(msg, rsp.body))
        key = self.session.key if self.session else self.account.base_key
        return P.seal(rsp, self.account, key, namespace=None), "ok"

    async def _open_request(self, raw, spec):
        """The body of a verified platform request, decrypted with the session
        key; during a login, with the key it brings when the one held fails."""
        s = self.session
        try:
            return P.open_body(raw, spec, [s.key] if s else [])[0]
        except S.BadBody:
            pending = self._logging_in
            if pending is None or pending.done():
                raise
        await asyncio.wait({pending}, timeout=self.timeout)
        if self.session is None or self.session is s:
            raise S.BadBody("%s: does not decrypt with the session key" % raw.name)
        log.debug("%s SID %s read with the key of the login under way", raw.name, raw.sid)
        return P.open_body(raw, spec, [self.session.key])[0]

    async def _run_handler(self, msg):
        try:
            r = self.handler(msg)
            if asyncio.iscoroutine(r):
                await r
        except Exception as e:
            log.error("handler failed on %s: %s: %s", msg.call.name, type(e).__name__, e)

    def _heard(self, n):
        for w in list(self._waiters):
            call, sid, serial, fut = w
            if call == n.name and (sid is None or sid == n.sid) and (serial is None or serial == n.body.get("TERMID")) \
                    and not fut.done():
                fut.set_result(n)
                self._waiters.remove(w)
                break
        if self.queue.full():
            dropped = self.queue.get_nowait()
            log.info("notification queue full: %r dropped", dropped)
        self.queue.put_nowait(n)

    async def close(self, logout=True):
        """TAppLogout (when logged in), then close every connection."""
        if logout and self.session is not None and not self._closed:
            try:
                await self.logout()
            except AppError as e:
                log.info("logout on close: %s", e)
        self._closed = True
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(None)
        if self.link is not None:
            await self.link.close()
        if self.http is not None:
            await self.http.close()
        if self.server is not None:
            await self.server.close()

    async def __aenter__(self):
        return await self.connect()

    async def __aexit__(self, *exc):
        await self.close()
