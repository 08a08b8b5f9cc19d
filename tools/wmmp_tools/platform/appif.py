"""The platform simulator's application interface (section 5, appendices C and
H): the backend wmmp_app's Gateway calls, over the Platform and its Operator,
and the notifications the platform's events turn into.  Loaded only when
`wmmp-platform serve --apps FILE` asks for it.

    apps, expiry = load_apps("apps.json")            # the --apps file
    ai = AppInterface(pf, apps, expiry)
    await ai.start(long=("127.0.0.1", 9100), http=("127.0.0.1", 9180))
    ...
    await ai.close()

Requests of the applications (appendix H c-v) become the platform's own
requests to the terminals, as the operator makes them (operator.py): TTermCtrl
-> REMOTE_CTRL / LOGOUT, TTransparentDataDown -> TRANSPARENT_DATA to the data
port, TDownloadNotify -> an upgrade push of a published file, TConfigSet ->
CONFIG_SET, TTermInfoGet -> CONFIG_GET, TSecurityConfig -> SECURITY_CONFIG;
each terminal's answer comes back as the *Result of appendix H with the
request's SID.  PTermInfoQuery, PStatisticQuery and PTermStatisticQuery are
answered from the store.  The platform's events (pf.app_events: register,
login, logout, trap, data, fault, upgrade) become TRegist, TLogin, TLogout,
TTermInfoReport, PTermFaultNotify, TTransparentDataUp and the upgrade's
outcome; a terminal's CONFIG_REQ asks the applications first (TConfigReq,
pf.config_source).  Notifications of one terminal reach each application in
the order they happened, in a queue of its own: one application that does not
answer holds up no other.  An application whose base key expires is told
(PKeyExpiration) at the start of that date, or once its next login has been
answered (the gateway's login listener).  docs/APP_PLATFORM.md tells what each
message does here and the choices made where appendix H leaves a detail open.
"""

import asyncio
import datetime
import json
import logging
import os
import re
import socket
import stat
import struct

from wmmp.errors import WmmpError
from wmmp.wire import catalogue as CAT

from wmmp_app.gateway import AppConfig, Gateway, Refused, serve_http, serve_long

from wmmp_tools.platform import options as O
from wmmp_tools.platform import upgrade
from wmmp_tools.platform import values as V
from wmmp_tools.platform.model import PlatformError, parse_serial
from wmmp_tools.platform.operator import DATA_MAX, Operator

log = logging.getLogger("wmmp.platform.app")

TZ = datetime.timezone(datetime.timedelta(hours=8))      # Beijing time, as TIMESTAMP (appendix H)
APPS_FILE_MAX = 1 << 20
CONFIG_WAIT = 4.0                # s the applications have to answer a TConfigReq (flows waits 5 s in all)
UPGRADES_KEPT = 10000            # transactions of TDownloadNotify whose outcome may still come

# LOGIN_ACK / REGISTER_ACK results that mean "in" (appendix G a, b).
LOGIN_OK = (0x00, 0x01, 0x07, 0x08)
REGISTER_OK = (0x00, 0x01, 0x09, 0x13)
# Alarm codes of 0x300D (appendix E e) that say the link to the platform failed:
# PTermFaultNotify ERRCODE 01 (appendix H f).
LINK_ALARMS = (0x0001, 0x0002, 0x0003, 0x0004, 0x0007, 0x000C, 0x000E, 0x000F, 0x001C)
# Results when the terminal could not be reached (offline, no answer): the first
# code each table of appendix H leaves "other: failure, reason to be determined".
NOT_REACHED = {"ctrl": 3, "download": 4, "security": 5, "config": 2}
# DOWNLOAD_INFO_ACK (G k) -> TDownloadNotifyResult (appendix H l); the outcome after it.
DOWNLOAD_ACK = {0x00: 0, 0x01: 1, 0x02: 2}
DOWNLOAD_GAVE_UP, DOWNLOAD_SUPERSEDED, DOWNLOAD_TRAP = 5, 6, 0x10      # 0x10 + 0x3012 reason
# SECURITY_CONFIG_ACK (G m) -> TSecurityConfigResult (appendix H n).
SECURITY_ACK = {0x00: 0, 0x04: 1, 0x02: 2, 0x03: 3}


class AppsFileError(ValueError):
    """The --apps file cannot be used: one line (exit status 2)."""


# -- values as appendix H carries them (text) ---------------------------------------------

def value_text(tag, value):
    """A TLV value as the text of a <TAG id=...> (what values.parse_value reads back):
    a number in decimal, a tag list as 4-hex-digit tags, printable text as it is,
    anything else as hex:..."""
    v = bytes(value)
    if not v:
        return ""
    info = CAT.lookup(tag)
    if info is not None:
        try:
            d = CAT.decode_value(tag, v)
        except WmmpError:
            d = None
        if isinstance(d, int) and info[0] in (CAT.T_NUM, CAT.T_DATE):
            return str(d)
        if isinstance(d, list) and info[0] == CAT.T_TAGS:
            return ",".join("%04X" % x for x in d)
    text = all(0x20 <= c <= 0x7E for c in v) and v == v.strip() and v[:4].lower() != b"hex:"
    if text and (info is None or info[0] != CAT.T_BIN):      # (XML readers strip the spaces around)
        return v.decode("ascii")
    return "hex:" + v.hex()


def _codes(v):
    return [struct.unpack_from(">H", v, i)[0] for i in range(0, len(v) - 1, 2)]


def _part(tag):
    """Which part of a report of appendix H d) / y) a tag goes in, or None."""
    if tag == 0x300D:
        return "alarm"
    if tag == 0x300E:
        return "recovery"
    if CAT.is_secret(tag):
        return None
    return {1: "config", 3: "statistic", 4: "monitor"}.get(CAT.group(tag))


def report_parts(tlvs):
    """TLVs as the MONITOR / ALARM / RECOVERY / CONFIG / STATISTIC of appendix H
    d) and y) (keyword arguments of the gateway's term_info_report)."""
    out = {"monitor": [], "alarm": [], "recovery": [], "config": [], "statistic": []}
    for tag, v in tlvs:
        part = _part(tag)
        if part in ("alarm", "recovery"):
            out[part] += ["%04X" % c for c in _codes(v) if "%04X" % c not in out[part]]
        elif part is not None:
            out[part].append(("%04X" % tag, value_text(tag, v)))
    return out


def _tags(items):
    return [int(t, 16) for t in items]


# -- times (Beijing, appendix H) -------------------------------------------------------------

def _day(t, n=8):
    return datetime.datetime.fromtimestamp(t, TZ).strftime("%Y%m%d%H%M%S")[:n]


def _when(text, what, end=False):
    """Unix time of YYYYMM, YYYYMMDD or YYYYMMDDHHmmss (Beijing time; '-', '/',
    ':', ' ' ignored); with `end`, the end of that month / day / second."""
    digits = re.sub(r"[-/: T]", "", text or "")
    fmt = {6: "%Y%m", 8: "%Y%m%d", 14: "%Y%m%d%H%M%S"}.get(len(digits))
    try:
        if fmt is None or not digits.isdigit():
            raise ValueError
        d = datetime.datetime.strptime(digits, fmt).replace(tzinfo=TZ)
    except ValueError:
        raise Refused("%s %r is not a date (YYYYMMDD, YYYYMMDDHHmmss or YYYYMM)" % (what, (text or "")[:20]))
    if end:
        if len(digits) == 6:
            d = (d.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
        else:
            d += datetime.timedelta(days=1) if len(digits) == 8 else datetime.timedelta(seconds=1)
    return d.timestamp()


def _span(pair, what):
    """(since, until) of a (start, end) pair; None: no limit."""
    if pair is None:
        return None, None
    return _when(pair[0], what + " start"), _when(pair[1], what + " end", end=True)


# -- the --apps file ----------------------------------------------------------------------

APP_KEYS = ("service_id", "username", "password", "base_key", "allow", "terminals", "remote_ctrl", "url",
            "session_minutes", "soap", "base_key_expires", "new_base_key")
SECRETS = ("password", "base_key", "new_base_key")


def _remote_ctrl(v, what):
    """REMOTECTRL tags open to an application: "*", or a list of LOGOUT, 0x4001
    command names (values.CTRL_NAMES) or their tags 0000-000D."""
    if v == "*":
        return "*"
    if not isinstance(v, list):
        raise AppsFileError("%s: remote_ctrl must be \"*\" or a list" % what)
    out = []
    for x in v:
        if x == "LOGOUT":
            out.append(x)
            continue
        code = V.CTRL_NAMES.get(x.lower()) if isinstance(x, str) else None
        if code is None and isinstance(x, str) and re.fullmatch(r"[0-9A-Fa-f]{4}", x) and int(x, 16) <= 0x0D:
            code = int(x, 16)
        if code is None:
            raise AppsFileError("%s: remote control %r is not LOGOUT, a 0x4001 command name (%s) or its tag "
                                "0000-000D" % (what, str(x)[:20], ", ".join(sorted(set(V.CTRL_NAMES) - {"wakeup"}))))
        out.append("%04X" % code)
    return out


def _app(entry, n):
    what = "application %d" % n
    if not isinstance(entry, dict):
        raise AppsFileError("%s is not an object" % what)
    if isinstance(entry.get("service_id"), str):
        what = "application %s" % entry["service_id"][:16]
    extra = sorted(set(entry) - set(APP_KEYS))
    if extra:
        raise AppsFileError("%s: unknown key %s (known: %s)" % (what, str(extra[0])[:30], ", ".join(APP_KEYS)))
    for k in ("service_id", "username", "password", "base_key"):
        if not isinstance(entry.get(k), str):
            raise AppsFileError("%s: %s is required (text)" % (what, k))
    kw = {k: entry[k] for k in ("service_id", "username")}
    for k in SECRETS:
        if entry.get(k) is None:
            continue
        if not isinstance(entry[k], str):
            raise AppsFileError("%s: %s must be text (VALUE, file:PATH or env:NAME)" % (what, k))
        try:
            kw[k] = O.secret_value(entry[k], "%s of %s" % (k.replace("_", " "), what))
        except O.OptionError as e:
            raise AppsFileError(str(e))
    allow = entry.get("allow", ["127.0.0.0/8", "::1"])
    if not (allow == "*" or isinstance(allow, list) and allow and all(isinstance(a, str) for a in allow)):
        raise AppsFileError("%s: allow must be \"*\" or a list of addresses and networks" % what)
    kw["allow"] = allow
    terms = entry.get("terminals", "*")
    if terms != "*":
        if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
            raise AppsFileError("%s: terminals must be \"*\" or a list of serials" % what)
        try:
            terms = [parse_serial(t) for t in terms]
        except ValueError as e:
            raise AppsFileError("%s: terminals: %s" % (what, e))
    kw["terminals"] = terms
    kw["remote_ctrl"] = _remote_ctrl(entry.get("remote_ctrl", "*"), what)
    if entry.get("url") is not None and not isinstance(entry["url"], str):
        raise AppsFileError("%s: url must be text" % what)
    kw["url"] = entry.get("url")
    minutes = entry.get("session_minutes")
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 10080):
        raise AppsFileError("%s: session_minutes must be a whole number 1..10080" % what)
    kw["session_minutes"] = minutes
    if not isinstance(entry.get("soap", True), bool):
        raise AppsFileError("%s: soap must be true or false" % what)
    kw["soap"] = entry.get("soap", True)
    expires = entry.get("base_key_expires")
    if expires is not None:
        try:
            if not isinstance(expires, str) or not re.fullmatch(r"\d{8}", expires):
                raise ValueError
            datetime.datetime.strptime(expires, "%Y%m%d")
        except ValueError:
            raise AppsFileError("%s: base_key_expires must be a date YYYYMMDD" % what)
    elif "new_base_key" in kw:
        raise AppsFileError("%s: new_base_key goes with base_key_expires" % what)
    new_key = kw.pop("new_base_key", None)
    try:
        app = AppConfig(password=kw.pop("password"), base_key=kw.pop("base_key"), **kw)
        if new_key is not None:
            AppConfig(app.service_id, app.username, app.password, new_key)       # its form checked now
    except ValueError as e:
        raise AppsFileError("%s: %s" % (what, e))
    return app, ((expires, new_key) if expires else None)


def load_apps(path):
    """([AppConfig], {service_id: (YYYYMMDD, new base key or None)}) of the --apps
    file: JSON, a list of applications or {"applications": [...]} (docs/APP_PLATFORM.md).
    The file holds secrets: one that other users may read is refused, as --db is.
    AppsFileError with one line otherwise."""
    where = "--apps %s" % path
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise AppsFileError("%s is not a regular file" % where)
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise AppsFileError("%s is open to other users (mode %04o) and holds the applications' passwords "
                                "and keys: run  chmod 600 %s  and start again" % (where, stat.S_IMODE(st.st_mode),
                                                                                path))
        with open(path, "rb") as f:
            data = f.read(APPS_FILE_MAX + 1)
    except OSError as e:
        raise AppsFileError("%s: %s" % (where, e.strerror or e))
    if len(data) > APPS_FILE_MAX:
        raise AppsFileError("%s is longer than %d bytes" % (where, APPS_FILE_MAX))
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise AppsFileError("%s is not UTF-8 text" % where)
    except ValueError as e:
        raise AppsFileError("%s is not JSON: %s" % (where, e))
    entries = doc.get("applications") if isinstance(doc, dict) else doc
    if isinstance(doc, dict) and set(doc) - {"applications"}:
        raise AppsFileError("%s: unknown key %s (the file is {\"applications\": [...]} or a list)"
                            % (where, str(sorted(set(doc) - {"applications"})[0])[:30]))
    if not isinstance(entries, list) or not entries:
        raise AppsFileError("%s names no application (a list, or {\"applications\": [...]})" % where)
    apps, expiry = [], {}
    for n, e in enumerate(entries, 1):
        try:
            app, exp = _app(e, n)
        except AppsFileError as err:
            raise AppsFileError("%s: %s" % (where, err))
        if any(a.service_id == app.service_id for a in apps):
            raise AppsFileError("%s: two applications with service_id %s" % (where, app.service_id))
        apps.append(app)
        if exp:
            expiry[app.service_id] = exp
    return apps, expiry


def _where(addr):
    """serve_long / serve_http arguments of a (host, port) or a bound socket."""
    if isinstance(addr, socket.socket):
        return {"sock": addr}
    return {"host": addr[0], "port": addr[1]}


# -- the backend -------------------------------------------------------------------------------

class AppInterface:
    """The gateway over the platform `pf` (see the module text).  `gateway_kw`
    goes to wmmp_app's Gateway (session_minutes, request_timeout, ...)."""

    def __init__(self, pf, apps, expiry=None, op=None, **gateway_kw):
        self.pf = pf
        self.db = pf.db
        self.op = op or Operator(pf)
        self.gateway = Gateway(self, apps, clock=pf.clock, on_login=self._app_login, **gateway_kw)
        self.expiry = dict(expiry or {})
        self._telling = set()        # SERVICEIDs being told their base key expired
        self.upgrades = {}           # trans_id -> (service_id, SID) of the TDownloadNotify it answers
        self._early = {}             # trans_id -> outcome that came before the push was answered
        self._pushing = {}           # serial -> pushes of ours waiting for the DOWNLOAD_INFO_ACK
        self._last = {}              # (serial, service_id) -> the newest task of that queue (kept in order)
        self._checker = None
        self.long = self.http = None
        pf.app_events.append(self.on_event)
        pf.config_source = self.config_values

    async def start(self, long=None, http=None):
        """Listen on the long connection and / or HTTP: each a (host, port) or a
        socket already bound and listening (`serve` binds its ports before it
        touches anything, and hands them over); .long_port / .http_port tell
        the ports (0: any free one)."""
        if long is not None:
            self.long = await serve_long(self.gateway, **_where(long))
        if http is not None:
            self.http = await serve_http(self.gateway, **_where(http))
        if self.expiry:
            self._checker = self.pf.spawn(self._expiry_dates())
        return self

    @property
    def long_port(self):
        return self.long.sockets[0].getsockname()[1] if self.long is not None else None

    @property
    def http_port(self):
        return self.http.port if self.http is not None else None

    async def close(self):
        if self._checker is not None:
            self._checker.cancel()
        if self.on_event in self.pf.app_events:
            self.pf.app_events.remove(self.on_event)
        if self.pf.config_source == self.config_values:
            self.pf.config_source = None
        await self.gateway.close()

    # -- helpers ----------------------------------------------------------------------

    def _known(self, serials):
        unknown = [s for s in serials if self.db.terminal(s) is None]
        if unknown:
            raise Refused("terminal%s %s not known to this platform" % (
                "s" if len(unknown) > 1 else "", ", ".join(unknown[:5])))

    def _each(self, serials, fn, *args):
        for s in serials:
            self.pf.spawn(self._guard(fn, s, *args))

    async def _guard(self, fn, serial, *args):
        try:
            await fn(serial, *args)
        except Exception as e:      # one terminal's failure is logged, never the platform's
            log.error("application request for %s failed: %s: %s", serial, type(e).__name__, e)

    def _chain(self, serial, fn, *args):
        """Notification fn(serial, ...) (a gateway coroutine) to each application
        logged in that may use `serial`, after what was queued before for that
        terminal and that application: one terminal's notifications reach each
        application in order, and one that does not answer holds up only its own."""
        for service_id in self.gateway.subscribers(serial):
            self._queue((serial, service_id), fn, *args, to=[service_id])

    def _result(self, serial, fn, service_id, *args):
        """Result fn(service_id, ...) of an application's request about `serial`,
        in the same queue as that terminal's notifications to that application."""
        self._queue((serial, service_id), fn, service_id, *args)

    def _queue(self, key, fn, *args, **kw):
        prev = self._last.get(key)

        async def run():
            if prev is not None and not prev.done():
                await asyncio.wait([prev])
            try:
                d = await fn(*args, **kw)
            except Exception as e:
                log.error("%s for %s failed: %s: %s", fn.__name__, key[0], type(e).__name__, e)
                return
            for x in (d.values() if isinstance(d, dict) else [d]):
                if x is not None and not x.ok:
                    log.info("%s for %s not delivered to %s: %s", fn.__name__, key[0], x.service_id, x.error)
        task = self.pf.spawn(run())
        self._last[key] = task
        task.add_done_callback(lambda t: self._last.pop(key, None) if self._last.get(key) is t else None)
        return task

    # -- FILTER (appendix H c) i) k) t) v)) -------------------------------------------------

    def _matches(self, term, f):
        s = term["serial"]
        if "MODEL" in f or "AREA" in f:
            return False             # the simulator knows no model or area of a terminal
        if "TERMIDRANGE" in f and not f["TERMIDRANGE"][0] <= s <= f["TERMIDRANGE"][1]:
            return False
        if "PRODUCTOR" in f and s[:8] != f["PRODUCTOR"]:
            return False             # the maker prefix: the first 8 characters (docs/PROTOCOL.md 1)
        if "REGISTDATE" in f:
            since, until = _span(f["REGISTDATE"], "REGISTDATE")
            if term["registered"] is None or not since <= term["registered"] < until:
                return False
        return True

    def select(self, ctx, f):
        return [t["serial"] for t in self.db.terminals() if self._matches(t, f)]

    # -- c) TTermInfoGet -> CONFIG_GET -> d) TTermInfoGetResult -------------------------------

    def term_info_get(self, ctx, serials, monitor, alarm, config, statistic):
        self._known(serials)
        tags = _tags(monitor) + ([0x300D] if alarm else []) + _tags(config) + _tags(statistic)
        if not tags:
            raise Refused("name at least one MONITOR, ALARM, CONFIG or STATISTIC tag")
        self._each(serials, self._info_get, ctx.service_id, ctx.sid, list(dict.fromkeys(tags)))

    async def _info_get(self, serial, service_id, sid, tags):
        got, invalid = [], []
        ask = list(tags)
        try:
            while ask:
                a = await self.op.get({"serial": serial, "tags": ask})
                if a["result"] == 0x00:
                    got = [(x["tag"], bytes.fromhex(x["hex"])) for x in a["tlvs"]]
                    break
                bad = [x["tag"] for x in a["tlvs"]] if a["result"] == 0x01 else []
                if not bad or not set(bad) & set(ask):
                    invalid += ask      # refused without naming a tag it knows: nothing to ask again
                    break
                invalid += [t for t in ask if t in bad]
                ask = [t for t in ask if t not in bad]       # G g: the rest asked again
        except (PlatformError, V.InputError) as e:
            log.info("TTermInfoGet SID %s: %s not reached: %s", sid, serial, e)
        parts = report_parts(got)
        inv = {}
        for t in invalid:
            p = {"config": "CONFIG", "statistic": "STATISTIC", "monitor": "MONITOR"}.get(_part(t))
            if p:
                inv.setdefault(p, []).append("%04X" % t)
        self._result(serial, self.gateway.term_info_get_result, service_id, sid, serial, parts["monitor"],
                     parts["alarm"], parts["recovery"], parts["config"], parts["statistic"], inv or None)

    # -- e) PTermInfoQuery, g) PStatisticQuery, h) PTermStatisticQuery: the store -------------

    def term_info_query(self, ctx, serial, monitor, alarm, config, statistic):
        if self.db.terminal(serial) is None:
            return None
        stored = {t: v for t, v, _ in self.db.params(serial)}
        asked = set(_tags(monitor) + _tags(config) + _tags(statistic))
        everything = not asked and not alarm
        tlvs = [(t, v) for t, v in sorted(stored.items())
                if (everything or t in asked or alarm and t in (0x300D, 0x300E)) and _part(t)]
        if not alarm and not everything:
            tlvs = [(t, v) for t, v in tlvs if t not in (0x300D, 0x300E)]
        parts = report_parts(tlvs)
        return {k.upper(): v for k, v in parts.items() if v}

    def _alarm_reports(self, serial=None, since=None, until=None):
        """(serial, time, codes) of the alarm reports kept in the message log
        (the note flows.on_config_trap writes on each CONFIG_TRAP_ACK)."""
        out = []
        for term, t, note in self.db.logged("CONFIG_TRAP_ACK", "out", serial, since, until):
            m = re.search(r"ALARM codes ((?:0x[0-9A-F]{4}(?:, )?)+)", note or "")
            if m:
                out.append((term, t, [int(c, 16) for c in m.group(1).split(", ")]))
        return out

    def _logins(self, serial, since=None, until=None):
        """Times of the accepted LOGINs of `serial` (LOGIN_ACK result 0x00, 0x01,
        0x07, 0x08 as the message log notes it)."""
        ok = tuple("result 0x%02X" % r for r in LOGIN_OK)
        return [t for _, t, note in self.db.logged("LOGIN_ACK", "out", serial, since, until)
                if (note or "").startswith(ok)]

    def term_statistics(self, ctx, serial, daterange, wanted):
        if self.db.terminal(serial) is None:
            return None
        since, until = _span(daterange, "DATERANGE")
        out = {}
        if "ALARMCOUNT" in wanted:
            out["ALARMCOUNT"] = len(self._alarm_reports(serial, since, until))
        logins = self._logins(serial, since, until) if wanted & {"LOGINCOUNT", "LASTLOGIN"} else []
        if "LOGINCOUNT" in wanted:
            out["LOGINCOUNT"] = len(logins)
        if "LASTLOGIN" in wanted and logins:
            out["LASTLOGIN"] = int(logins[-1])
        return out

    def _rows(self, ctx, f, terms):
        """The terminals (of `terms`, the store's) an application may see, narrowed
        by PRODUCER / AREA / TERMMODEL / TS of appendix H g)."""
        rows = [t for t in terms if ctx.terminals is None or t["serial"] in ctx.terminals]
        if f.get("AREA") or f.get("TERMMODEL"):
            return []                # unknown to the simulator
        if f.get("PRODUCER"):
            rows = [t for t in rows if t["serial"][:8] == f["PRODUCER"]]
        if f.get("TS"):
            rows = [t for t in rows if t["serial"] == f["TS"]]
        return rows

    def _periods(self, f):
        now = self.pf.clock()
        day, month = f.get("DATE") or _day(now), f.get("MONTH") or _day(now, 6)
        return (_when(day, "DATE"), _when(day, "DATE", True)), (_when(month, "MONTH"), _when(month, "MONTH", True))

    def statistics(self, ctx, termcount, termfault, termstatus):
        out = {}
        terms = self.db.terminals()                      # read once for the three groups
        subscriptions = self.db.subscriptions() if termcount is not None or termstatus is not None else []
        if termcount is not None:
            rows = self._rows(ctx, termcount, terms)
            (d0, d1), (m0, m1) = self._periods(termcount)
            reg = [t["registered"] or 0 for t in rows]
            known = {t["imsi"] for t in terms if t["imsi"]}
            subs = [s for s in subscriptions if s["imsi"] not in known
                    and (ctx.terminals is None or s["serial"] in ctx.terminals)
                    and not termcount.get("AREA") and (not termcount.get("PRODUCER")
                                                       or (s["serial"] or "")[:8] == termcount["PRODUCER"])]
            out["TERMCOUNT_RESULT"] = {"WORKING": sum(1 for t in rows if t["state"] == "online"),
                                       "REGISTERED": len(rows), "DATENEW": sum(1 for r in reg if d0 <= r < d1),
                                       "MONTHNEW": sum(1 for r in reg if m0 <= r < m1), "TOTAL": len(rows) + len(subs)}
        if termfault is not None:
            mine = {t["serial"] for t in self._rows(ctx, termfault, terms)}
            (d0, d1), (m0, m1) = self._periods(termfault)
            reports = [(s, t, c) for s, t, c in self._alarm_reports() if s in mine]
            code = termfault.get("ERRCODE")
            if code is not None:
                link = code.lstrip("0") == "1"
                reports = [r for r in reports if link and set(r[2]) & set(LINK_ALARMS)]
            out["TERMFAULT_RESULT"] = {"DATENUM": sum(1 for _, t, _ in reports if d0 <= t < d1),
                                       "MONTHNUM": sum(1 for _, t, _ in reports if m0 <= t < m1),
                                       "TOTAL": len(reports)}
        if termstatus is not None:
            counts = {"NORMAL": 0, "EXCEPTION": 0, "FORBIDDEN": 0}
            by_imsi = {x["imsi"]: x for x in subscriptions}
            for t in self._rows(ctx, termstatus, terms):
                sub = by_imsi.get(t["imsi"]) if t["imsi"] else None
                if sub is None or sub["msisdn"] != t["msisdn"]:
                    counts["FORBIDDEN"] += 1          # no subscription lets it in any more
                elif t["state"] != "online" or self.db.param(t["serial"], 0x300B) == b"\x01":
                    counts["EXCEPTION"] += 1          # not online, or an alarm held (0x300B)
                else:
                    counts["NORMAL"] += 1
            out["TERMSTATUS_RESULT"] = counts
        return out

    # -- i) TTermCtrl -> REMOTE_CTRL / LOGOUT -> j) TTermCtrlResult --------------------------

    def term_ctrl(self, ctx, serials, remote_ctrl, logout):
        self._known(serials)
        bad = [t for t in remote_ctrl if int(t, 16) > 0x0D]
        if bad:
            r = Refused("REMOTECTRL %s: not a 0x4001 command 0000-000D (docs/APP_PLATFORM.md)" % ", ".join(bad))
            r.extra = {"REMOTECTRL": bad}
            raise r
        self._each(serials, self._ctrl, ctx.service_id, ctx.sid, list(remote_ctrl), logout)

    async def _ctrl(self, serial, service_id, sid, tags, logout):
        invalid, code = [], 0
        try:
            if logout is not None:
                await self.op.logout({"serial": serial, "reason": logout})
            for n, t in enumerate(tags):
                try:
                    a = await self.op.ctrl({"serial": serial, "code": int(t, 16)})
                except PlatformError:
                    if n == 0:
                        raise
                    invalid += tags[n:]      # the terminal went away (a restart before): not carried out
                    break
                if a["result"] != 0x00:
                    invalid.append(t)
        except PlatformError as e:
            log.info("TTermCtrl SID %s: %s not reached: %s", sid, serial, e)
            code, invalid = NOT_REACHED["ctrl"], list(tags)
        if code == 0 and invalid:
            code = 1 if len(invalid) == len(tags) else 2
        self._result(serial, self.gateway.term_ctrl_result, service_id, sid, serial, code, invalid)

    # -- k) TDownloadNotify -> DOWNLOAD_INFO -> l) TDownloadNotifyResult -----------------------

    def _download_file(self, url):
        """(version, scheme) a DOWNLOADURL names: VER_DSC=V in its query (the
        parameter of docs/PROTOCOL.md 9), or the whole text when it is a version;
        http:// asks for the HTTP file server (serve --http), else FILE_REQ."""
        m = re.search(r"[?&]VER_DSC=([^&#]+)", url)
        version = m.group(1) if m else (url if "://" not in url and "?" not in url else None)
        if version is None:
            raise Refused("DOWNLOADURL %r names no published version (VER_DSC=VERSION)" % url[:80])
        if self.db.upgrade_file_by_version(version) is None:
            raise Refused("no published file of version %r (wmmp-platform upgrade publish)" % version[:20])
        scheme = "http" if url.lower().startswith("http://") else "wmmp"
        if scheme == "http" and upgrade.state(self.pf).http is None:
            raise Refused("DOWNLOADURL is http:// but this platform runs no HTTP file server (serve --http)")
        return version, scheme

    def download_notify(self, ctx, serials, url):
        self._known(serials)
        version, scheme = self._download_file(url)
        self._each(serials, self._download, ctx.service_id, ctx.sid, version, scheme)

    async def _download(self, serial, service_id, sid, version, scheme):
        self._pushing[serial] = self._pushing.get(serial, 0) + 1
        try:
            a = await self.op.upgrade_push({"serial": serial, "version": version, "scheme": scheme})
        except (PlatformError, V.InputError) as e:
            log.info("TDownloadNotify SID %s: %s not reached: %s", sid, serial, e)
            self._result(serial, self.gateway.download_result, service_id, sid, serial, NOT_REACHED["download"])
            return
        finally:
            self._pushing[serial] -= 1
            if not self._pushing[serial]:
                del self._pushing[serial]
        tid, result = a["upgrade"]["trans_id"], a["result"]
        self._result(serial, self.gateway.download_result, service_id, sid, serial, DOWNLOAD_ACK.get(result, 3))
        early = self._early.pop(tid, None)
        if result in (0x01, 0x02):
            self.upgrades[tid] = (service_id, sid)
            if early is not None:
                self._outcome(serial, tid, *early)

    def _outcome(self, serial, tid, state, reason):
        # applied: kept, a rollback after it (0x3012 reason 0x05) is reported too
        asked = self.upgrades.get(tid) if state == "applied" else self.upgrades.pop(tid, None)
        while len(self.upgrades) > UPGRADES_KEPT:
            del self.upgrades[next(iter(self.upgrades))]
        if asked is None:
            if self._pushing.get(serial) and len(self._early) < 256:   # ours, its ACK not handled yet
                self._early[tid] = (state, reason)
            return
        code = {"applied": 0, "superseded": DOWNLOAD_SUPERSEDED}.get(state)
        if code is None:
            code = DOWNLOAD_TRAP + reason if reason is not None else DOWNLOAD_GAVE_UP
        self._result(serial, self.gateway.download_result, asked[0], asked[1], serial, code)

    # -- m) TSecurityConfig -> SECURITY_CONFIG -> n) TSecurityConfigResult ---------------------

    def security_config(self, ctx, serial, operation, security):
        self._known([serial])
        tlvs = []
        for t, text in security:
            tag = int(t, 16)
            if operation == 0 and text == "new" and tag in (0xE025, 0xE028, 0xE036):
                tlvs.append([tag, "new"])          # the platform makes it
            elif operation == 0:
                try:
                    tlvs.append([tag, V.parse_value(tag, text).hex()])
                except V.InputError as e:
                    raise Refused("SECURITY %s: %s" % (t, e))
            else:
                tlvs.append([tag, ""])              # read / update notice: the tags at L=0 (G m)
        if not tlvs:
            raise Refused("OPERATION %d needs SECURITY tags (appendix G m)" % operation)
        self._each([serial], self._security, ctx.service_id, ctx.sid, operation, tlvs)

    async def _security(self, serial, service_id, sid, operation, tlvs):
        found = []
        try:
            a = await self.op.security({"serial": serial, "operation": operation, "tlvs": tlvs})
            result = a["result"]
            code = SECURITY_ACK.get(result, 4)
            # the terminal's secrets themselves never go to an application (docs/APP_PLATFORM.md)
            found = [("%04X" % x["tag"], "" if x.get("secret") else value_text(x["tag"], bytes.fromhex(x["hex"])))
                     for x in a["tlvs"]]
        except PlatformError as e:
            log.info("TSecurityConfig SID %s: %s not reached: %s", sid, serial, e)
            code = NOT_REACHED["security"]
        except V.InputError as e:
            log.warning("TSecurityConfig SID %s for %s: %s", sid, serial, e)
            code = 4
        self._result(serial, self.gateway.security_config_result, service_id, sid, serial, code, found)

    # -- t) TTransparentDataDown -> TRANSPARENT_DATA -> u) TTransparentDataDownResult ----------

    def transparent_down(self, ctx, serials, data):
        self._known(serials)
        if not data:
            raise Refused("DATA is empty")
        self._each(serials, self._data_down, ctx.service_id, ctx.sid, data)

    async def _data_down(self, serial, service_id, sid, data):
        rt = self.pf.runtimes.get(serial)
        if self.db.terminal(serial)["state"] != "online" or rt is None or not rt.logged_in:
            code = 1                            # u) 1: terminal offline
        else:
            code = 0
            for i in range(0, len(data), DATA_MAX):      # G j: at most 1024 bytes a message, in order
                try:
                    a = await self.op.data_send({"serial": serial, "data": data[i:i + DATA_MAX].hex()})
                except PlatformError as e:
                    log.info("TTransparentDataDown SID %s: %s did not answer: %s", sid, serial, e)
                    code = 2                    # u) 2: no answer
                    break
                if a["result"] != 0x05:         # G j 0x05 received, 0x06 CRC failed
                    code = 3                    # u) 3: reception error
                    break
        self._result(serial, self.gateway.transparent_down_result, service_id, sid, serial, code)

    # -- v) TConfigSet -> CONFIG_SET -> w) TConfigSetResult --------------------------------

    def config_set(self, ctx, serials, config):
        self._known(serials)
        tlvs, bad = [], []
        for t, text in config:
            try:
                tlvs.append([int(t, 16), V.parse_value(int(t, 16), text).hex()])
            except V.InputError as e:
                log.info("TConfigSet SID %s: %s %r: %s", ctx.sid, t, text[:40], e)
                bad.append(t)
        self._each(serials, self._config_set, ctx.service_id, ctx.sid, tlvs, bad)

    async def _config_set(self, serial, service_id, sid, tlvs, bad):
        invalid = list(bad)
        if bad:
            code = 1                            # w) 1: data invalid; nothing sent (G h: all or nothing)
        else:
            try:
                a = await self.op.set({"serial": serial, "tlvs": tlvs, "report_wait": 0})
                code = 0 if a["result"] == 0x00 else 1
                invalid = ["%04X" % x["tag"] for x in a["tlvs"]] if code else []
            except PlatformError as e:
                log.info("TConfigSet SID %s: %s not reached: %s", sid, serial, e)
                code = NOT_REACHED["config"]
        self._result(serial, self.gateway.config_set_result, service_id, sid, serial, code, invalid)

    # -- x) TConfigReq: values for a terminal's CONFIG_REQ (section 5.1.11.2) ------------------

    async def config_values(self, serial, tags):
        """{tag: value} the applications supply for CONFIG_REQ `tags` of `serial`:
        the first that gives a tag a value it can carry wins.  Each application is
        asked on its own; those that have not answered within CONFIG_WAIT s are
        not waited for (the terminal's answer cannot wait for ever)."""
        got = {}
        asked = ["%04X" % t for t in tags]
        tasks = {k: asyncio.ensure_future(self.gateway.config_req(serial, asked, to=[k]))
                 for k in self.gateway.subscribers(serial)}
        if not tasks:
            return got
        _, late = await asyncio.wait(tasks.values(), timeout=CONFIG_WAIT)
        for t in late:
            t.cancel()
        if late:
            log.info("TConfigReq of %s: %s not answered within %g s", serial,
                     ", ".join(k for k, t in tasks.items() if t in late), CONFIG_WAIT)
        answers = {k: t.result().get(k) for k, t in tasks.items() if t not in late}
        for service_id, d in answers.items():
            if d is None or not d.ok or d.message is None or d.message.result != 0:
                continue
            for t, text in d.message.body.get("CONFIG", []):
                tag = int(t, 16)
                if tag in tags and tag not in got and text != "":
                    try:
                        got[tag] = V.parse_value(tag, text)
                    except V.InputError as e:
                        log.info("TConfigReq of %s: %s from %s not used: %s", serial, t, service_id, e)
        return got

    # -- the platform's events -> o) p) q) f) s) y) l) ---------------------------------------

    def on_event(self, kind, serial, **d):
        g = self.gateway
        if kind == "register":
            if d["result"] in REGISTER_OK:
                self._chain(serial, g.notify_regist, serial, d["imei"], d["imsi"])
            elif d["result"] == 0x06:                        # G a serial conflict: H f 04
                self._chain(serial, g.notify_fault, serial, [4])
        elif kind == "login":
            if d["result"] in LOGIN_OK:
                self._login(serial, d["msg"])
            elif d["result"] in (0x02, 0x04):                # G b bad mapping, serial conflict: H f 04
                self._chain(serial, g.notify_fault, serial, [4])
        elif kind == "logout":
            self._chain(serial, g.notify_logout, serial, d.get("reason") if d.get("reason") is not None else 0x02)
        elif kind == "trap":
            codes = [c for t, v in d["tlvs"] if t == 0x300D for c in _codes(v)]
            if set(codes) & set(LINK_ALARMS):
                self._chain(serial, g.notify_fault, serial, [1])
            parts = report_parts(d["tlvs"])
            if any(parts.values()):
                self._chain(serial, g.term_info_report, serial, parts["monitor"], parts["alarm"],
                            parts["recovery"], parts["config"], parts["statistic"])
        elif kind == "fault":
            self._chain(serial, g.notify_fault, serial, [d["errcode"]])
        elif kind == "data":
            self._chain(serial, g.transparent_up, serial, d["data"])
        elif kind == "upgrade":
            self._outcome(serial, d["trans_id"], d["state"], d.get("reason"))

    def _login(self, serial, msg):
        term = self.db.terminal(serial)
        if term is None or not term["imei"] or not term["imsi"]:
            return
        ver = bytes(msg.fields["software_version"]).rstrip(b"\x00").decode("latin-1")
        params = [("%04X" % t, value_text(t, v)) for t, v in msg.tlvs if v and _part(t) is not None]
        self._chain(serial, self.gateway.notify_login, serial, term["imei"], term["imsi"],
                    ver if ver and ver.isprintable() else None, "%08X" % msg.fields["config_crc32"], params)

    # -- z) PKeyExpiration (section 5.1.13) ------------------------------------------------

    def _app_login(self, service_id, session):
        """The gateway's login listener: the answer to an application's login has
        gone out (it holds its session key): tell it of a base key expired."""
        entry = self.expiry.get(service_id)
        if entry is not None and entry[0] <= _day(self.pf.clock()):
            self.pf.spawn(self._tell_expiry(service_id))

    async def _tell_expiry(self, service_id):
        if service_id in self._telling or service_id not in self.expiry:
            return
        self._telling.add(service_id)
        try:
            date, new_key = self.expiry[service_id]
            d = await self.gateway.key_expiration(service_id, date, new_key)
            if d.ok or new_key is not None:     # told, or its key is replaced: done
                del self.expiry[service_id]
                log.info("application %s told its base key expired on %s%s", service_id, date,
                         "" if d.ok else " (not answered)")
        finally:
            self._telling.discard(service_id)   # not answered and nothing replaced: again at its next login

    async def _expiry_dates(self):
        """At the start (Beijing time) of each expiry date, the applications then
        logged in are told; those that log in later are told at their login."""
        while self.expiry:
            today = _day(self.pf.clock())
            for service_id, (date, _) in list(self.expiry.items()):
                if date <= today and self.gateway.session(service_id) is not None:
                    self.pf.spawn(self._tell_expiry(service_id))
            later = [d for d, _ in self.expiry.values() if d > today]
            if not later:
                return
            await asyncio.sleep(max(1.0, _when(min(later), "date") - self.pf.clock()))
