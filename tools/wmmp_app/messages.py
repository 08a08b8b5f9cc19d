"""The 26 messages of appendix H (platform <-> application interface) as data, and
the Message object built from them.

CATALOGUE maps each call name of appendix H ("调用名称": TAppLogin, TTermCtrl, ...)
to a Call: its appendix letter, its direction (A2P: the application asks the
platform; P2A: the platform asks the application), and the two PDUs, request and
response, each a Spec: root element name, head fields, body fields (fields.py)
and the names other spellings of the appendix use for the same element.

    msg = build("TTransparentDataDownReq", {"TERMLIST": ["M2MMAKER00000001"],
                                            "DATA": b"\\x01\\x02"}, sid="1")
    msg.call.name                -> "TTransparentDataDown"
    msg.body["DATA"]             -> b"\\x01\\x02"

build() and Message.check() raise MessageError naming the message and the
field.  Result codes keep the appendix's numbers; codes the appendix reserves
("其他") are let through.  The appendix's own misspellings (TAppLoginRsp for
the logout answer, TRemoteCtrlRsp, DownloadNotifyResultRsp, TERMINID,
PRODUTOR, ...) are read and never written: docs/APP.md, decisions 3-6.
"""

import datetime
import time
import xml.etree.ElementTree as ET

from wmmp_app.fields import (Code, Codes, Data, Field, FieldError, Filter, Flag, Group, Int, Invalidate,
                             Params, Range, Serial, TagList, TagTexts, TagValues, Text, TermList, visible)

A2P = "A2P"     # application -> platform
P2A = "P2A"     # platform -> application

HEAD = ("SID", "TIMESTAMP", "SERVICEID")
TZ_BEIJING = datetime.timezone(datetime.timedelta(hours=8))


class MessageError(ValueError):
    """A PDU or body that does not follow appendix H (one line)."""

    def __init__(self, text, name=None, field=None):
        super().__init__(text)
        self.name = name
        self.field = field


# -- result codes (the RESULTCODE tables of appendix H) -----------------------------

LOGIN_CODES = {0: "logged in", 1: "no such user name", 2: "password does not match the user name",
               3: "encrypted body is wrong"}
LOGOUT_CODES = {0: "logged out", 2: "no such user name", 3: "password does not match the user name",
                4: "encrypted body is wrong"}
ACCEPT_CODES = {0: "platform accepts the request", 1: "platform refuses the request",
                2: "the application is not logged in"}
DATA_CODES = {0: "data correct", 1: "data invalid"}
CTRL_RESULT_CODES = {0: "received and executed", 1: "data invalid", 2: "received, with invalid commands"}
DOWNLOAD_RESULT_CODES = {0: "already the latest version", 1: "updating now", 2: "terminal busy, update deferred",
                         3: "data invalid"}
SECURITY_RESULT_CODES = {0: "accepted", 1: "digest of the terminal's identity wrong", 2: "unsupported TLVs",
                         3: "enabling refused (operation 4 only)", 4: "terminal error"}
REGIST_CODES = {0: "registration accepted", 1: "accepted, configuration to be sent",
                2: "application refuses the terminal"}
LOGIN_NOTIFY_CODES = {0: "login accepted, no configuration to send", 1: "accepted, configuration to be sent",
                      2: "illegal MSISDN/IMSI", 3: "illegal serial", 4: "serial conflict",
                      5: "protocol version incompatible", 6: "terminal not registered"}
DATA_UP_CODES = {0: "application accepts", 1: "application refuses"}
DATA_DOWN_RESULT_CODES = {0: "delivered to the terminal", 1: "terminal offline", 2: "terminal did not answer",
                          3: "terminal reception error"}
FAULT_CODES = {1: "link to the platform down", 2: "terminal silent for a long time",
               3: "terminal message unparseable", 4: "serial conflict (serial does not match the MSISDN)"}
LOGOUT_REASONS = {0: "normal, wait for activation", 1: "preparing an upgrade", 2: "fault disconnection",
                  3: "applying a new configuration", 4: "heartbeat timeout", 5: "fault, wait for activation"}
SECURITY_OPERATIONS = {0: "set in clear (SMS only)", 1: "set encrypted", 2: "read", 3: "update notice (SMS mode)",
                       4: "terminal reports", 5: "terminal asks in clear", 6: "terminal asks encrypted",
                       7: "terminal enables"}
APP_SECURITY_OPERATIONS = (0, 1, 2, 3)      # 4-7 are the terminal's (appendix H m)


class Spec:
    """One PDU of appendix H: root name, head fields, body fields (None: no body)."""

    def __init__(self, name, body=None, head=HEAD, aliases=(), codes=None, rules=(), body_read_optional=False):
        self.name = name
        self.head = tuple(head)
        self.body = tuple(body) if body is not None else None
        self.aliases = tuple(aliases)
        self.codes = codes or next((f.meanings for f in body or () if f.name == "RESULTCODE"), {})
        self.rules = tuple(rules)
        self.body_read_optional = body_read_optional   # a sender may leave BODY out (or empty)
        self.call = None
        self.by_name = {}
        for f in self.body or ():
            self.by_name[f.name] = f
            for a in f.aliases:
                self.by_name[a] = f

    @property
    def is_request(self):
        return self is self.call.request

    @property
    def field_names(self):
        return [f.name for f in self.body or ()]


class Call:
    """One call of appendix H: letter, name, direction, request and response Spec."""

    def __init__(self, letter, name, direction, title, request, response):
        self.letter, self.name, self.direction, self.title = letter, name, direction, title
        self.request, self.response = request, response
        request.call = response.call = self

    @property
    def section(self):
        return "appendix H %s)" % self.letter


# -- cross-field rules ---------------------------------------------------------------

def _one_of(*names):
    def rule(body):
        n = sum(1 for k in names if k in body)
        if n != 1:
            raise FieldError("exactly one of %s is needed (they exclude each other), got %s"
                             % (" / ".join(names), "both" if n > 1 else "neither"))
    return rule


def _some_of(*names):
    def rule(body):
        if not any(k in body for k in names):
            raise FieldError("at least one of %s is needed" % " / ".join(names))
    return rule


def _login_key(body):
    if body.get("RESULTCODE") == 0 and ("CONVKEY" not in body or "EXPIRATION" not in body):
        raise FieldError("a successful login answer needs CONVKEY and EXPIRATION")


TARGET = (TermList("TERMLIST"), Filter("FILTER"))


def _asks():
    return [TagList("MONITOR"), TagList("ALARM", only="300D"), TagList("CONFIG"), TagList("STATISTIC")]


def _report():
    return [TagValues("MONITOR"), Codes("ALARM"), Codes("RECOVERY"), TagValues("CONFIG"), TagValues("STATISTIC")]


def _rc(codes, required=True):
    return Code("RESULTCODE", meanings=codes, required=required)


def _term(**kw):
    return Serial("TERMID", required=True, **kw)


_CALLS = [
    Call("a", "TAppLogin", A2P, "application login (section 5.1.1, 5.2.1)",
         Spec("TAppLoginReq", [Text("USERNAME", hi=12), Text("PASSWORD", hi=12)], body_read_optional=True),
         Spec("TAppLoginRsp", [_rc(LOGIN_CODES), Text("CONVKEY", lo=16, hi=24, pattern="[0-9A-Za-z]+"),
                               Int("EXPIRATION", lo=1, hi=2 ** 31 - 1)], codes=LOGIN_CODES, rules=[_login_key])),
    Call("b", "TAppLogout", A2P, "application logout (section 5.1.2)",
         Spec("TAppLogoutReq", [Text("USERNAME", hi=12, required=True), Text("PASSWORD", hi=12, required=True)]),
         Spec("TAppLogoutRsp", [_rc(LOGOUT_CODES)], aliases=("TAppLoginRsp",), codes=LOGOUT_CODES)),
    Call("c", "TTermInfoGet", A2P, "terminal information, fetched from the terminal (section 5.1.3.1)",
         Spec("TTermInfoGetReq", list(TARGET) + _asks(), rules=[_one_of("TERMLIST", "FILTER")]),
         Spec("TTermInfoGetRsp", [_rc(ACCEPT_CODES)], codes=ACCEPT_CODES)),
    Call("d", "TTermInfoGetResult", P2A, "terminal information fetched (section 5.1.3.1)",
         Spec("TTermInfoGetResultReq", [_term()] + _report() + [Invalidate("INVALIDATE")]),
         Spec("TTermInfoGetResultRsp", [_rc(DATA_CODES)], codes=DATA_CODES)),
    Call("e", "PTermInfoQuery", A2P, "terminal information from the platform's records (section 5.1.3.2)",
         Spec("PTermInfoQueryReq", [_term(aliases=("TERMINID",))] + _asks()),
         Spec("PTermInfoQueryRsp", [_rc(ACCEPT_CODES, required=False), Serial("TERMID", aliases=("TERMINID",))]
              + _report(), codes=ACCEPT_CODES)),
    Call("f", "PTermFaultNotify", P2A, "terminal fault (section 5.1.4)",
         Spec("PTermFaultNotifyReq", [_term(), Code("ERRCODE", lo=0, hi=99, meanings=FAULT_CODES, repeated=True,
                                                    required=True)]),
         Spec("PTermFaultNotifyRsp", None)),
    Call("g", "PStatisticQuery", A2P, "statistics from the platform's records (section 5.1.3.2)",
         Spec("PStatisticQueryReq", [Group("TERMCOUNT", ("PRODUCER", "AREA", "DATE", "MONTH")),
                                     Group("TERMFAULT", ("PRODUCER", "AREA", "TERMMODEL", "ERRCODE", "DATE", "MONTH")),
                                     Group("TERMSTATUS", ("PRODUCER", "AREA", "TERMMODEL", "TS"))],
              rules=[_some_of("TERMCOUNT", "TERMFAULT", "TERMSTATUS")]),
         Spec("PStatisticQueryRsp", [_rc(ACCEPT_CODES, required=False),
                                     Group("TERMCOUNT_RESULT",
                                           ("WORKING", "REGISTERED", "DATENEW", "MONTHNEW", "TOTAL")),
                                     Group("TERMFAULT_RESULT", ("DATENUM", "MONTHNUM", "TOTAL")),
                                     Group("TERMSTATUS_RESULT", ("NORMAL", "EXCEPTION", "FORBIDDEN"))],
              codes=ACCEPT_CODES)),
    Call("h", "PTermStatisticQuery", A2P, "one terminal's statistics from the platform's records (section 5.1.3.2)",
         Spec("PTermStatisticQueryReq", [Serial("TERMINID", required=True, aliases=("TERMID",)), Range("DATERANGE"),
                                         Flag("ALARMCOUNT"), Flag("LOGINCOUNT"), Flag("LASTLOGIN")]),
         Spec("PTermStatisticQueryRsp", [_rc(ACCEPT_CODES, required=False), Serial("TERMID", aliases=("TERMINID",)),
                                         Int("ALARMCOUNT"), Int("LOGINCOUNT"), Int("LASTLOGIN")],
              codes=ACCEPT_CODES)),
    Call("i", "TTermCtrl", A2P, "remote control of terminals (section 5.1.6)",
         Spec("TTermCtrlReq", list(TARGET) + [TagList("REMOTECTRL"), Code("LOGOUT", meanings=LOGOUT_REASONS, hi=99)],
              rules=[_one_of("TERMLIST", "FILTER"), _one_of("REMOTECTRL", "LOGOUT")]),
         Spec("TTermCtrlRsp", [_rc(ACCEPT_CODES), TagList("REMOTECTRL")], aliases=("TRemoteCtrlRsp",),
              codes=ACCEPT_CODES)),
    Call("j", "TTermCtrlResult", P2A, "remote control executed (section 5.1.6)",
         Spec("TTermCtrlResultReq", [_term(), _rc(CTRL_RESULT_CODES), TagList("REMOTECTRL")]),
         Spec("TTermCtrlResultRsp", None, aliases=("TRemoteCtrlResultRsp",))),
    Call("k", "TDownloadNotify", A2P, "software update notice (section 5.1.7)",
         Spec("TDownloadNotifyReq", list(TARGET) + [Text("DOWNLOADURL", hi=1024, required=True)],
              rules=[_one_of("TERMLIST", "FILTER")]),
         Spec("TDownloadNotifyRsp", [_rc(ACCEPT_CODES)], codes=ACCEPT_CODES)),
    Call("l", "TDownloadNotifyResult", P2A, "software update notice answered (section 5.1.7)",
         Spec("TDownloadNotifyResultReq", [_term(), _rc(DOWNLOAD_RESULT_CODES)]),
         Spec("TDownloadNotifyResultRsp", None, aliases=("DownloadNotifyResultRsp",))),
    Call("m", "TSecurityConfig", A2P, "security parameters of a terminal (section 5.1.10)",
         Spec("TSecurityConfigReq", [_term(), Code("OPERATION", hi=7, required=True, meanings=SECURITY_OPERATIONS),
                                     TagValues("SECURITY")]),
         Spec("TSecurityConfigRsp", [_rc(ACCEPT_CODES)], codes=ACCEPT_CODES)),
    Call("n", "TSecurityConfigResult", P2A, "security parameters set (section 5.1.10)",
         Spec("TSecurityConfigResultReq", [_term(), _rc(SECURITY_RESULT_CODES), TagValues("SECURITY")]),
         Spec("TSecurityConfigResultRsp", None)),
    Call("o", "TRegist", P2A, "terminal registered (section 5.1.5.1)",
         Spec("TRegistReq", [_term(), Text("IMEI", lo=15, hi=16, required=True),
                             Text("IMSI", lo=1, hi=15, required=True)]),
         Spec("TRegistRsp", [_rc(REGIST_CODES)], codes=REGIST_CODES)),
    Call("p", "TLogin", P2A, "terminal logged in (section 5.1.5.2)",
         Spec("TLoginReq", [_term(), Text("IMEI", lo=15, hi=16, required=True),
                            Text("IMSI", lo=1, hi=15, required=True), Text("TERMVER", hi=8),
                            Text("CONFIGCRC", lo=8, hi=8, pattern="[0-9A-Fa-f]+"), Params("PARAM")]),
         Spec("TLoginRsp", [_rc(LOGIN_NOTIFY_CODES)], codes=LOGIN_NOTIFY_CODES)),
    Call("q", "TLogout", P2A, "terminal logged out (section 5.1.5.3)",
         Spec("TLogoutReq", [_term(), Code("LOGOUTREASON", hi=255, meanings=LOGOUT_REASONS, required=True)]),
         Spec("TLogoutRsp", None)),
    Call("r", "PLinkCheck", P2A, "link check of a long connection (section 5.1.8)",
         Spec("PLinkCheckReq", None), Spec("PLinkCheckRsp", None)),
    Call("s", "TTransparentDataUp", P2A, "data from a terminal (section 5.1.9, 4.3.11)",
         Spec("TTransparentDataUpReq", [_term(), Data("DATA", required=True)]),
         Spec("TTransparentDataUpRsp", [_rc(DATA_UP_CODES)], codes=DATA_UP_CODES)),
    Call("t", "TTransparentDataDown", A2P, "data to terminals (section 5.1.9, 4.3.11)",
         Spec("TTransparentDataDownReq", list(TARGET) + [Data("DATA", required=True)],
              rules=[_one_of("TERMLIST", "FILTER")]),
         Spec("TTransparentDataDownRsp", [_rc(ACCEPT_CODES)], codes=ACCEPT_CODES)),
    Call("u", "TTransparentDataDownResult", P2A, "data delivered to a terminal, or not (section 5.1.9)",
         Spec("TTransparentDataDownResultReq", [_term(), _rc(DATA_DOWN_RESULT_CODES)]),
         Spec("TTransparentDataDownResultRsp", None)),
    Call("v", "TConfigSet", A2P, "terminal parameters set by the application (section 5.1.11.1)",
         Spec("TConfigSetReq", list(TARGET) + [TagValues("CONFIG", required=True)],
              rules=[_one_of("TERMLIST", "FILTER")]),
         Spec("TConfigSetRsp", [_rc(ACCEPT_CODES)], codes=ACCEPT_CODES)),
    Call("w", "TConfigSetResult", P2A, "terminal parameters set, or not (section 5.1.11.1)",
         Spec("TConfigSetResultReq", [_term(), _rc(DATA_CODES), TagList("CONFIG")]),
         Spec("TConfigSetResultRsp", None)),
    Call("x", "TConfigReq", P2A, "a terminal asks for its parameters (section 5.1.11.2)",
         Spec("TConfigReqReq", [TagTexts("CONFIG", required=True)], head=HEAD + ("TERMINID",)),
         Spec("TConfigReqRsp", [_rc(DATA_CODES), TagValues("CONFIG")], codes=DATA_CODES)),
    Call("y", "TTermInfoReport", P2A, "information a terminal reported (section 5.1.12)",
         Spec("TTermInfoReportReq", [_term()] + _report()),
         Spec("TTermInfoReportRsp", [_rc(DATA_CODES)], codes=DATA_CODES)),
    Call("z", "PKeyExpiration", P2A, "base key expired (section 5.1.13)",
         Spec("PKeyExpirationReq", [Text("DATE", hi=14, pattern="[0-9]+", required=True)]),
         Spec("PKeyExpirationRsp", None)),
]

CATALOGUE = {c.name: c for c in _CALLS}
SPECS = {}          # every root name read, aliases included -> Spec
for _c in _CALLS:
    for _s in (_c.request, _c.response):
        SPECS[_s.name] = _s
        for _a in _s.aliases:
            SPECS.setdefault(_a, _s)
del _c, _s

# TTransparentDataDownResultRsp: its format shows a BODY, its text says "本消息无消息体"
# (no body): none is written, a BODY received is read and ignored (docs/APP.md decision 7).
SPECS["TTransparentDataDownResultRsp"].body_read_optional = True


def spec(name):
    """The Spec of a root element name (aliases too); MessageError if none."""
    s = SPECS.get(name)
    if s is None:
        raise MessageError("%r is not a message of appendix H" % (name[:60],), name=name)
    return s


def calls(direction=None):
    """The calls, in appendix order, of one direction (A2P / P2A) or all."""
    return [c for c in _CALLS if direction is None or c.direction == direction]


# -- head values ----------------------------------------------------------------------

def timestamp(t=None):
    """TIMESTAMP of appendix H: YYYYMMDDHHmmssnnnn, Beijing time, nnnn in 1/10000 s."""
    if t is None:
        t = time.time()
    d = datetime.datetime.fromtimestamp(t, TZ_BEIJING)
    return d.strftime("%Y%m%d%H%M%S") + "%04d" % (d.microsecond // 100)


def check_head(spec_, head):
    """The head dict checked against the spec: SID and SERVICEID 1-16 visible
    ASCII, TIMESTAMP 18 digits, TERMINID (TConfigReq) a serial."""
    out = {}
    for k in spec_.head:
        v = head.get(k)
        if v is None:
            raise MessageError("%s: HEAD lacks %s" % (spec_.name, k), spec_.name, k)
        try:
            if k == "TIMESTAMP":
                if not isinstance(v, str) or len(v) != 18 or not v.isdigit() or not v.isascii():
                    raise FieldError("TIMESTAMP must be 18 digits YYYYMMDDHHmmssnnnn, got %r" % (v,))
            else:
                visible(v, k)
        except FieldError as e:
            raise MessageError("%s: %s" % (spec_.name, e), spec_.name, k)
        out[k] = v
    extra = [k for k in head if k not in spec_.head]
    if extra:
        raise MessageError("%s: HEAD has an element %s it does not define" % (spec_.name, extra[0]),
                           spec_.name, extra[0])
    return out


# -- the message object ---------------------------------------------------------------

class Message:
    """One PDU: its Spec, its head (dict) and its body (dict, None when the PDU has none)."""

    __slots__ = ("spec", "head", "body")

    def __init__(self, spec_, head, body):
        self.spec = spec_
        self.head = head
        self.body = body

    name = property(lambda self: self.spec.name)
    call = property(lambda self: self.spec.call)
    sid = property(lambda self: self.head.get("SID"))
    service_id = property(lambda self: self.head.get("SERVICEID"))

    @property
    def result(self):
        """The RESULTCODE of the body (None when there is none)."""
        return (self.body or {}).get("RESULTCODE")

    def meaning(self):
        """The appendix's words for the RESULTCODE, in English."""
        r = self.result
        return None if r is None else self.spec.codes.get(r, "code %d (reserved in appendix H)" % r)

    def __repr__(self):
        return "<%s SID=%s>" % (self.name, self.sid)


def check_body(spec_, body):
    """The body checked and normalised against the spec (MessageError)."""
    if spec_.body is None:
        if body:
            raise MessageError("%s has no body (appendix H %s))" % (spec_.name, spec_.call.letter), spec_.name)
        return None
    body = body or {}
    if not isinstance(body, dict):
        raise MessageError("%s: the body must be a dict" % spec_.name, spec_.name)
    out = {}
    try:
        for k, v in body.items():
            f = spec_.by_name.get(k)
            if f is None:
                raise MessageError("%s has no body element %s (it has %s)" % (
                    spec_.name, str(k)[:40], ", ".join(spec_.field_names)), spec_.name, k)
            if v is None:
                continue
            out[f.name] = f.check(v)
        for f in spec_.body:
            if f.required and f.name not in out:
                raise MessageError("%s: body element %s is required" % (spec_.name, f.name), spec_.name, f.name)
        for rule in spec_.rules:
            rule(out)
    except FieldError as e:
        raise MessageError("%s: %s" % (spec_.name, e), spec_.name)
    return out


def build(name, body=None, sid=None, service_id=None, ts=None, **head):
    """A checked Message: root element `name`, body dict, head values (SID,
    SERVICEID, TIMESTAMP default now; TERMINID for TConfigReqReq)."""
    s = spec(name)
    if s.name != name:
        raise MessageError("%s is read as %s but never written; write %s" % (name, s.name, s.name), name)
    h = {"SID": sid, "TIMESTAMP": ts or timestamp(), "SERVICEID": service_id}
    h.update(head)
    return Message(s, check_head(s, h), check_body(s, body))


# -- body XML (the plain body document of appendix C 2.1) ------------------------------

def body_xml(msg):
    """The plain body document of a message: bytes (UTF-8), None when it has none."""
    if msg.body is None:
        return None
    root = ET.Element("BODY")
    for f in msg.spec.body:
        if f.name in msg.body:
            f.write(root, msg.body[f.name])
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode").encode("utf-8")


def read_body(spec_, root):
    """The body dict of a parsed <BODY> element (MessageError)."""
    if root.tag != "BODY":
        raise MessageError("%s: the body document's root is <%s>, not <BODY>" % (spec_.name, root.tag[:40]), spec_.name)
    groups = {}
    for el in root:
        f = spec_.by_name.get(el.tag)
        if f is None:
            raise MessageError("%s has no body element %s (it has %s)" % (
                spec_.name, el.tag[:40], ", ".join(spec_.field_names)), spec_.name, el.tag)
        groups.setdefault(f, []).append(el)
    raw = {}
    try:
        for f, els in groups.items():
            raw[f.name] = f.read(els)
    except FieldError as e:
        raise MessageError("%s: %s" % (spec_.name, e), spec_.name)
    return check_body(spec_, raw)


def response_names(request_name):
    """Root names that answer a request (the response's own and its aliases)."""
    r = spec(request_name).call.response
    return (r.name,) + r.aliases


__all__ = ["A2P", "P2A", "CATALOGUE", "SPECS", "Call", "Field", "Message", "MessageError", "Spec", "body_xml",
           "build", "calls", "check_body", "check_head", "read_body", "response_names", "spec", "timestamp"]
