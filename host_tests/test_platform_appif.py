"""The platform simulator's application interface end to end (section 5,
appendices C and H; tools/wmmp_tools/platform/appif.py, docs/APP_PLATFORM.md):
the platform simulator and the SMS centre in this process, a real terminal
(`wmmp-term` serve() with a data port on a pty, the meter's end held by the
test, and an update directory), and applications written with wmmp_app's
AppClient on the long connection and on HTTP, all on loopback.

A meter's bytes reach the application (TTransparentDataUp) and its answer the
meter (TTransparentDataDown); remote controls and a forced logout run on the
terminal (TTermCtrl -> REMOTE_CTRL / LOGOUT -> TTermCtrlResult); registration,
login and logout are notified; an alarm arrives as PTermFaultNotify and
TTermInfoReport; TConfigSet and TConfigReq reach the terminal's parameters;
TTermInfoGet asks the terminal; the store answers PTermInfoQuery,
PStatisticQuery and PTermStatisticQuery; TDownloadNotify runs an update;
an application is refused a terminal not its own; a base key expires
(PKeyExpiration), before the application logs in or while it is logged in; an
application that does not answer holds up only its own notifications;
`wmmp-platform serve --apps`, its bad input and a port in use.
CPython only; generous timeouts, nothing timed."""

import asyncio
import datetime
import io
import json
import os
import re
import select
import socket
import subprocess
import sys
import time
import tty

import pytest

from wmmp.terminal import engine as E
from wmmp.wire import codes as K
from wmmp.wire import digest as D
from wmmp_app.client import AppClient, AppError, LoginFailed
from wmmp_app.gateway import AppConfig
from wmmp_tools import mkupdate, term as TERM
from wmmp_tools.platform import upgrade as UP
from wmmp_tools.platform.appif import AppInterface
from wmmp_tools.platform.model import Config
from wmmp_tools.platform.operator import Operator
from wmmp_tools.platform.server import Platform
from wmmp_tools.smsc import SmsCentre

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMEI, IMSI, MSISDN, PLATFORM_NUMBER = "860000000000001", "460001234567890", "13800000001", "10658000"
SERIAL = "M2MMAKER00000001"
SVC, USER, PW, KEY = "SVC0001", "meterapp", "Pw0123456789", "MeterAppBaseKey0"
OTHER = dict(service_id="SVC0002", username="other", password="OtherPw", base_key="OtherAppBaseKey1",
             terminals=["M2MMAKER99999999"])
WAIT = 30.0


def meter_app(**kw):
    cfg = dict(service_id=SVC, username=USER, password=PW, base_key=KEY)
    cfg.update(kw)
    return AppConfig(**cfg)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def until(what, cond, timeout=WAIT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        await asyncio.sleep(0.02)
    raise AssertionError("no %s within %g s" % (what, timeout))


class Ear:
    """Everything an AppClient hears, kept; get() takes the first not yet taken
    that matches (call name, SID, body fields, a predicate on the body)."""

    def __init__(self, app):
        self.app = app
        self.got = []
        self.taken = set()
        self.task = asyncio.ensure_future(self._run())

    async def _run(self):
        async for n in self.app.notifications():
            self.got.append(n)

    def find(self, name, sid=None, pred=None, **body):
        for i, n in enumerate(self.got):
            if i in self.taken or n.name != name or (sid is not None and n.sid != sid):
                continue
            if all(n.body.get(k) == v for k, v in body.items()) and (pred is None or pred(n.body)):
                self.taken.add(i)
                return n
        return None

    async def get(self, name, sid=None, pred=None, timeout=WAIT, **body):
        try:
            return await until(name, lambda: self.find(name, sid, pred, **body), timeout)
        except AssertionError:
            raise AssertionError("no %s (sid %s, %s); heard %s" % (name, sid, body, [
                (n.name, n.sid, n.body) for n in self.got][-12:]))

    def names(self):
        return [n.name for n in self.got]


class Term:
    """`wmmp-term` (its serve()) with the rig's data port, state and update directory."""

    def __init__(self, rig):
        argv = ["--udp", "127.0.0.1:%d" % rig.pf.udp_port, "--smsc", "127.0.0.1:%d" % rig.smsc.port,
                "--msisdn", MSISDN, "--imei", IMEI, "--imsi", IMSI, "--platform-number", PLATFORM_NUMBER,
                "--state", rig.state, "--update-dir", rig.upd, "--data-port", rig.port, "--ec-code", "EC42"]
        self.args = TERM.parser().parse_args(argv)
        TERM.check(self.args)
        self.sess = TERM.Session()
        self.tr = TERM.Transcript(out=io.StringIO())
        self.task = asyncio.ensure_future(TERM.serve(self.args, self.tr, self.sess))

    @property
    def t(self):
        return self.sess.term

    def now(self):
        return self.sess.runner.clock()

    def wake(self):
        self.sess.runner.wake()

    async def online(self, version=b"WMMP0.1"):
        await until("login", lambda: self.t is not None and self.t.state == E.S_ONLINE
                    and self.t.cfg.software_version == version)
        return self.t.serial.rstrip(b"\x00").decode()

    async def stop(self):
        self.sess.on_signal("SIGTERM")
        return await asyncio.wait_for(self.task, 15)


class Rig:
    def __init__(self, tmp_path):
        self.state = str(tmp_path / "state")
        self.upd = str(tmp_path / "updates")
        os.mkdir(self.state, 0o700)
        self.meter, slave = os.openpty()        # the meter's end is `meter`; the terminal opens the slave
        tty.setraw(self.meter)
        self.slave = slave
        self.port = os.ttyname(slave)
        self.smsc = self.pf = self.ai = None
        self.apps, self.terms = [], []

    async def start(self, apps=None, expiry=None, clock=time.time, **gateway_kw):
        self.smsc = SmsCentre("127.0.0.1", 0)
        await self.smsc.start()
        self.pf = Platform(Config(udp_port=0, tcp_port=0, smsc=("127.0.0.1", self.smsc.port),
                                  msisdn=PLATFORM_NUMBER, key_delay=0.2), clock=clock)
        await self.pf.start()
        self.op = Operator(self.pf)
        await self.op.provision({"imsi": IMSI, "msisdn": MSISDN, "serial": SERIAL})
        self.ai = AppInterface(self.pf, apps or [meter_app()], expiry, op=self.op, **gateway_kw)
        long_sock = socket.socket()             # a port bound beforehand, as `serve` hands it over
        long_sock.bind(("127.0.0.1", 0))
        long_sock.listen(16)
        await self.ai.start(long=long_sock, http=("127.0.0.1", 0))
        assert self.ai.long_port == long_sock.getsockname()[1]
        return self

    async def app(self, service_id=SVC, username=USER, password=PW, base_key=KEY, **kw):
        kw.setdefault("port", self.ai.http_port if kw.get("transport") == "http" else self.ai.long_port)
        a = AppClient(service_id, username, password, base_key, host="127.0.0.1", **kw)
        self.apps.append(a)
        await a.connect()
        return a

    def terminal(self):
        t = Term(self)
        self.terms.append(t)
        return t

    async def read_meter(self, n, timeout=WAIT):
        out = b""
        end = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < end:
            if select.select([self.meter], [], [], 0)[0]:
                out += os.read(self.meter, 4096)
            else:
                await asyncio.sleep(0.02)
        return out

    async def close(self):
        for t in self.terms:
            if not t.task.done():
                t.sess.on_signal("SIGTERM")
                try:
                    await asyncio.wait_for(t.task, 10)
                except Exception:
                    t.task.cancel()
        for a in self.apps:
            try:
                await asyncio.wait_for(a.close(), 5)
            except Exception:
                pass
        if self.ai is not None:
            await self.ai.close()
        if self.pf is not None:
            await UP.stop_http(self.pf)
            await self.pf.close()
        if self.smsc is not None:
            await self.smsc.close()
        os.close(self.meter)
        os.close(self.slave)


def run(tmp_path, scenario, timeout=80, **start):
    async def main():
        rig = Rig(tmp_path)
        try:
            await rig.start(**start)
            return await asyncio.wait_for(scenario(rig), timeout)
        finally:
            await rig.close()
    return asyncio.run(main())


# -- the meter's data, notifications, remote control (long connection) ------------------------

def test_meter_data_both_ways_remote_control_and_notifications(tmp_path):
    async def scenario(rig):
        app = await rig.app()
        ear = Ear(app)
        term = rig.terminal()
        assert await term.online() == SERIAL
        # section 5.1.5.1, appendix H o): registration; 5.1.5.2, p): login, with its version and CRC
        n = await ear.get("TRegist", TERMID=SERIAL)
        assert (n.body["IMEI"], n.body["IMSI"]) == (IMEI, IMSI)
        n = await ear.get("TLogin", TERMID=SERIAL)
        assert (n.body["IMEI"], n.body["TERMVER"]) == (IMEI, "WMMP0.1")
        assert re.fullmatch(r"[0-9A-F]{8}", n.body["CONFIGCRC"])
        # section 5.1.9 / 4.3.11, appendix H s): the meter's bytes reach the application
        os.write(rig.meter, b"meter=1234 kWh\r\n")
        n = await ear.get("TTransparentDataUp", TERMID=SERIAL)
        assert n.body["DATA"] == b"meter=1234 kWh\r\n"
        # appendix H t) u): the application's answer comes out of the data port; 1500
        # bytes are two TRANSPARENT_DATA (G j: at most 1024), in order
        big = b"READ " + bytes(range(256)) * 5 + b"." * 215
        sid = await app.transparent_down(big, serials=[SERIAL])
        assert (await ear.get("TTransparentDataDownResult", sid=sid, TERMID=SERIAL)).body["RESULTCODE"] == 0
        assert await rig.read_meter(len(big)) == big
        # section 5.1.6, appendix H i) j): 0x4001 0x04 (report statistics) runs, 0x09 (an APN
        # switch) is one this terminal refuses: "received, with invalid commands"
        sid = await app.term_ctrl(filter={"TERMIDRANGE": ("M2MMAKER00000000", "M2MMAKER0000000F")},
                                  remote_ctrl=["0004", "0009"])
        n = await ear.get("TTermCtrlResult", sid=sid)
        assert (n.body["RESULTCODE"], n.body.get("REMOTECTRL")) == (2, ["0009"])
        n = await ear.get("TTermInfoReport", TERMID=SERIAL, pred=lambda b: "STATISTIC" in b)   # y)
        assert {t for t, _ in n.body["STATISTIC"]} >= {"2008", "2009", "200A", "200B", "2004"}
        # a tag that is no 0x4001 command is refused with the request, listed (appendix H i)
        with pytest.raises(AppError) as e:
            await app.term_ctrl(serials=[SERIAL], remote_ctrl=["4001"])
        assert e.value.code == 1 and e.value.message.body["REMOTECTRL"] == ["4001"]
        # a forced logout (reason 2: the terminal logs in again): q) then p) again
        sid = await app.term_ctrl(serials=[SERIAL], logout=2)
        assert (await ear.get("TTermCtrlResult", sid=sid)).body["RESULTCODE"] == 0
        assert (await ear.get("TLogout", TERMID=SERIAL)).body["LOGOUTREASON"] == 2
        await ear.get("TLogin", TERMID=SERIAL)
        # the terminal logs out by itself (LOGOUT 0x00), then data for it: u) 1 offline
        assert await term.stop() == 0
        assert (await ear.get("TLogout", TERMID=SERIAL)).body["LOGOUTREASON"] == 0
        sid = await app.transparent_down(b"anyone?", serials=[SERIAL])
        assert (await ear.get("TTransparentDataDownResult", sid=sid)).body["RESULTCODE"] == 1
        assert ear.names().count("TRegist") == 1 and ear.names().count("TLogin") == 2
    run(tmp_path, scenario)


# -- alarms, parameters, information, queries, refusals (HTTP) ---------------------------------

def test_alarm_parameters_information_queries_and_refusals(tmp_path):
    listen = free_port()
    url = "http://127.0.0.1:%d/wmmp/app" % listen
    apps = [meter_app(url=url, remote_ctrl=["0004", "LOGOUT"]), AppConfig(**OTHER)]

    def supply(msg):             # the application's values for a terminal's CONFIG_REQ (x)
        if msg.call.name == "TConfigReq":
            return {"RESULTCODE": 0, "CONFIG": [(t, "5" if t == "0105" else "") for t in msg.body["CONFIG"]]}
        return None

    async def scenario(rig):
        app = await rig.app(transport="http", listen=("127.0.0.1", listen), handler=supply)
        other = await rig.app(**{k: OTHER[k] for k in ("service_id", "username", "password", "base_key")})
        ear, other_ear = Ear(app), Ear(other)
        term = rig.terminal()
        await term.online()
        await ear.get("TLogin", TERMID=SERIAL)
        # section 5.1.4, appendix H f): the terminal's link alarm 0x0003 (4.3.5, CONFIG_TRAP
        # 0x300D) is a fault "link to the platform down"; 5.1.12, y): and an information report
        term.t.raise_alarm(K.ALARM_PACKET_CONNECT_FAILED, term.now(), K.ALARM_TYPE_COMM)
        term.wake()
        assert (await ear.get("PTermFaultNotify", TERMID=SERIAL)).body["ERRCODE"] == [1]
        n = await ear.get("TTermInfoReport", TERMID=SERIAL, pred=lambda b: "ALARM" in b)
        assert n.body["ALARM"] == ["0003"] and ("300B", "1") in n.body["MONITOR"]
        term.t.clear_alarm(K.ALARM_PACKET_CONNECT_FAILED, term.now())
        term.wake()
        n = await ear.get("TTermInfoReport", TERMID=SERIAL, pred=lambda b: "RECOVERY" in b)
        assert n.body["RECOVERY"] == ["0003"]
        # section 5.1.11.1, appendix H v) w): CONFIG_SET reaches the terminal
        sid = await app.config_set([("0105", "3")], serials=[SERIAL])
        assert (await ear.get("TConfigSetResult", sid=sid)).body["RESULTCODE"] == 0
        await until("0x0105 = 3", lambda: term.t.params.get(0x0105) == b"\x00\x03")
        sid = await app.config_set([("0002", "cmiot")], serials=[SERIAL])      # no APN on this terminal
        n = await ear.get("TConfigSetResult", sid=sid)
        assert (n.body["RESULTCODE"], n.body["CONFIG"]) == (1, ["0002"])
        sid = await app.config_set([("0105", "many")], serials=[SERIAL])       # not a value: nothing sent
        n = await ear.get("TConfigSetResult", sid=sid)
        assert (n.body["RESULTCODE"], n.body["CONFIG"]) == (1, ["0105"])
        # section 5.1.11.2, appendix H x): the terminal asks (CONFIG_REQ); the application answers
        term.t.request_config([0x0105], term.now())
        term.wake()
        n = await ear.get("TConfigReq", pred=lambda b: b["CONFIG"] == ["0105"])
        assert n.message.head["TERMINID"] == SERIAL
        await until("0x0105 = 5 from the application", lambda: term.t.params.get(0x0105) == b"\x00\x05")
        # section 5.1.3.1, appendix H c) d): asked of the terminal; a tag it lacks is INVALIDATE
        sid = await app.term_info_get(serials=[SERIAL], monitor=["3004", "3FFF"], alarm=True, config=["0105"],
                                      statistic=["2008"])
        n = await ear.get("TTermInfoGetResult", sid=sid, TERMID=SERIAL)
        assert ("3004", "WMMP0.1") in n.body["MONITOR"] and n.body["CONFIG"] == [("0105", "5")]
        assert [t for t, _ in n.body["STATISTIC"]] == ["2008"] and n.body["INVALIDATE"] == {"MONITOR": ["3FFF"]}
        # section 5.1.3.2, appendix H e) g) h): from the platform's store
        q = await app.term_info_query(SERIAL, config=["0105"], alarm=True)
        assert q["CONFIG"] == [("0105", "5")] and q["ALARM"] == ["0003"] and q["RECOVERY"] == ["0003"]
        s = await app.statistics(termcount={}, termfault={}, termstatus={})
        assert s["TERMCOUNT_RESULT"] == {"WORKING": "1", "REGISTERED": "1", "DATENEW": "1", "MONTHNEW": "1",
                                         "TOTAL": "1"}
        assert s["TERMFAULT_RESULT"] == {"DATENUM": "1", "MONTHNUM": "1", "TOTAL": "1"}
        assert s["TERMSTATUS_RESULT"] == {"NORMAL": "1", "EXCEPTION": "0", "FORBIDDEN": "0"}
        s = await app.statistics(termcount={"PRODUCER": "OTHERMKR"}, termfault={"ERRCODE": "02"})
        assert s["TERMCOUNT_RESULT"]["REGISTERED"] == "0" and s["TERMFAULT_RESULT"]["TOTAL"] == "0"
        ts = await app.term_statistics(SERIAL)
        assert (ts["ALARMCOUNT"], ts["LOGINCOUNT"]) == (1, 1) and abs(ts["LASTLOGIN"] - time.time()) < 120
        ts = await app.term_statistics(SERIAL, daterange=("20000101", "20000131"))
        assert (ts["ALARMCOUNT"], ts["LOGINCOUNT"]) == (0, 0) and "LASTLOGIN" not in ts
        # section 5.1.6: a remote control not open to the application, refused and named
        with pytest.raises(AppError) as e:
            await app.term_ctrl(serials=[SERIAL], remote_ctrl=["0002"])
        assert e.value.code == 1 and e.value.message.body["REMOTECTRL"] == ["0002"]
        # section 5.1.10, appendix H m) n): SECURITY_CONFIG operation 2 reads digests (the uplink
        # password's here, G m); a tag the terminal does not read is n) 2, named
        sid = await app.security_config(SERIAL, 2, [("E026", "")])
        n = await ear.get("TSecurityConfigResult", sid=sid)
        row = rig.pf.db.terminal(SERIAL)
        assert (n.body["RESULTCODE"], n.body["SECURITY"]) == (0, [
            ("E026", "hex:" + D.uplink_password_digest(row["up_pw"], row["up_valid"]).hex())])
        sid = await app.security_config(SERIAL, 2, [("E027", "")])
        n = await ear.get("TSecurityConfigResult", sid=sid)
        assert (n.body["RESULTCODE"], n.body["SECURITY"]) == (2, [("E027", "")])
        # section 5.2.2: the other application may not use this terminal: refused, hears nothing of it
        for call in (other.transparent_down(b"x", serials=[SERIAL]), other.term_info_query(SERIAL),
                     other.config_set([("0105", "1")], serials=[SERIAL])):
            with pytest.raises(AppError) as e:
                await call
            assert e.value.code == 1
        assert (await other.statistics(termcount={}))["TERMCOUNT_RESULT"]["REGISTERED"] == "0"
        os.write(rig.meter, b"for SVC0001 only")
        assert (await ear.get("TTransparentDataUp")).body["DATA"] == b"for SVC0001 only"
        assert not [n for n in other_ear.got if n.body.get("TERMID") == SERIAL or n.name != "PLinkCheck"]
        # section 5.1.4 f) 02: silent for three heartbeat periods (4.3.4): offline, q) reason 4
        rig.pf.db.update_terminal(SERIAL, last_seen=time.time() - 3600)
        rig.pf.sweep()
        assert (await ear.get("PTermFaultNotify", TERMID=SERIAL)).body["ERRCODE"] == [2]
        assert (await ear.get("TLogout", TERMID=SERIAL)).body["LOGOUTREASON"] == 4
        term.sess.runner.stop()          # gone as a crash goes (its LOGOUT would find no session)
        await asyncio.wait_for(term.task, 10)
    run(tmp_path, scenario, apps=apps)


# -- TDownloadNotify: an update run on the terminal ------------------------------------------

def test_download_notify_runs_an_update_and_reports_its_outcome(tmp_path):
    body = bytes((i * 131 + 17) & 0xFF for i in range(12000))
    image = mkupdate.build("host", "APP0.2", "mpy-app", [("app.py", body)])

    async def scenario(rig):
        await rig.op.upgrade_publish({"data": image.hex(), "version": "APP0.2"})
        app = await rig.app()
        ear = Ear(app)
        term = rig.terminal()
        await term.online()
        await ear.get("TLogin", TERMID=SERIAL)
        # section 5.1.7, appendix H k) l): DOWNLOAD_INFO_ACK 0x01 "updating now", then the
        # outcome with the same SID: the terminal runs the new version (0: the latest)
        sid = await app.download_notify("wmmp://platform/upgrade?VER_DSC=APP0.2", serials=[SERIAL])
        assert (await ear.get("TDownloadNotifyResult", sid=sid)).body["RESULTCODE"] == 1
        n = await ear.get("TDownloadNotifyResult", sid=sid, timeout=60)
        assert n.body["RESULTCODE"] == 0
        assert (await ear.get("TLogin", TERMID=SERIAL)).body["TERMVER"] == "APP0.2"
        assert rig.pf.db.upgrades(SERIAL)[0]["state"] == "applied"
        await term.online(b"APP0.2")
        # the same again: already the latest version, nothing follows
        sid = await app.download_notify("APP0.2", filter={"PRODUCTOR": "M2MMAKER"})
        assert (await ear.get("TDownloadNotifyResult", sid=sid)).body["RESULTCODE"] == 0
        # a version never published is refused with the request
        with pytest.raises(AppError) as e:
            await app.download_notify("wmmp://platform/upgrade?VER_DSC=APP9.9", serials=[SERIAL])
        assert e.value.code == 1
        await asyncio.sleep(0.5)
        assert ear.find("TDownloadNotifyResult", sid=sid) is None
    run(tmp_path, scenario)


# -- PKeyExpiration (section 5.1.13) --------------------------------------------------------

def test_base_key_expiry_is_notified_and_the_new_key_is_the_one(tmp_path):
    async def scenario(rig):
        app = await rig.app()
        n = await Ear(app).get("PKeyExpiration", timeout=10)         # z)
        assert n.body["DATE"] == "20000101"
        await app.close()
        with pytest.raises(LoginFailed):
            await rig.app()                                            # the old key no longer opens
        assert (await rig.app(base_key="NewBaseKey012345")).session is not None
    run(tmp_path, scenario, expiry={SVC: ("20000101", "NewBaseKey012345")})


def test_a_base_key_expiring_while_the_application_is_logged_in_is_notified_at_the_date(tmp_path):
    # the platform's clock 4 s before midnight, Beijing time (appendix H: TIMESTAMP): the
    # application logs in before its key's last day is over, and is told when the date comes
    bj = datetime.timezone(datetime.timedelta(hours=8))
    tomorrow = (datetime.datetime.now(bj) + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                                                microsecond=0)
    midnight = tomorrow.timestamp()
    offset = midnight - time.time() - 4.0
    heard = []

    async def scenario(rig):
        app = await rig.app(handler=lambda msg: heard.append((msg.call.name, rig.pf.clock())))
        assert rig.pf.clock() < midnight                               # logged in the day before
        n = await Ear(app).get("PKeyExpiration", timeout=10)
        assert n.body["DATE"] == tomorrow.strftime("%Y%m%d") and not rig.ai.expiry
        assert [t for name, t in heard if name == "PKeyExpiration"][0] >= midnight      # z) on the date
    run(tmp_path, scenario, expiry={SVC: (tomorrow.strftime("%Y%m%d"), None)},
        clock=lambda: time.time() + offset)


# -- an application that does not answer (appendix C 1)) -------------------------------------

def test_an_application_that_does_not_answer_holds_up_only_its_own_notifications(tmp_path):
    """Each application hears one terminal's notifications in order; one that does not
    answer is waited for (request_timeout, then unreachable_timeout) in its own queue."""
    deaf_app = dict(OTHER, terminals="*")

    def supply(msg):
        if msg.call.name == "TConfigReq":
            return {"RESULTCODE": 0, "CONFIG": [(t, "7") for t in msg.body["CONFIG"]]}

    async def deaf(data, link):
        await asyncio.sleep(30)

    async def scenario(rig):
        app = await rig.app(handler=supply)
        other = await rig.app(**{k: OTHER[k] for k in ("service_id", "username", "password", "base_key")})
        answer, other.link.on_request = other.link.on_request, deaf
        ear, other_ear = Ear(app), Ear(other)
        t0 = time.monotonic()
        for n in range(3):                                   # s) three times, as the meter sent them
            rig.ai.on_event("data", SERIAL, data=b"reading %d" % n, ec="EC42")
        for n in range(3):
            assert (await ear.get("TTransparentDataUp", timeout=5)).body["DATA"] == b"reading %d" % n
        assert time.monotonic() - t0 < 2.5                  # not held up by SVC0002 (request_timeout 5 s)
        await until("SVC0002 given up", lambda: (SERIAL, "SVC0002") not in rig.ai._last, 15)
        assert "SVC0002" in rig.ai.gateway.unreachable
        # section 5.1.11.2, x): a terminal's CONFIG_REQ does not wait for the one found unreachable
        t0 = time.monotonic()
        assert await rig.ai.config_values(SERIAL, [0x0105]) == {0x0105: b"\x00\x07"}
        assert time.monotonic() - t0 < 2.5                  # CONFIG_WAIT is 4 s
        other.link.on_request = answer                       # SVC0002 answers again
        rig.ai.on_event("data", SERIAL, data=b"reading 3", ec="EC42")
        assert (await other_ear.get("TTransparentDataUp", DATA=b"reading 3", timeout=5))
        await until("SVC0002 reachable", lambda: "SVC0002" not in rig.ai.gateway.unreachable, 5)
    run(tmp_path, scenario, apps=[meter_app(), AppConfig(**deaf_app)], request_timeout=5.0,
        unreachable_timeout=0.3)


# -- wmmp-platform serve --apps ---------------------------------------------------------------

def _cmd():
    exe = os.path.join(ROOT, ".venv", "bin", "wmmp-platform")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "wmmp_tools.platform.cli"]


def _env(**kw):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")]))
    env.update(kw)
    return env


def _serve(tmp_path, *extra, env=None):
    return ["serve", "--db", ":memory:", "--udp", "127.0.0.1:0", "--tcp", "127.0.0.1:0",
            "--control", "127.0.0.1:0"] + list(extra)


def _apps_file(tmp_path, doc, mode=0o600, name="apps.json"):
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    os.chmod(p, mode)
    return str(p)


APP_ENTRY = {"service_id": SVC, "username": USER, "password": "env:METER_APP_PW", "base_key": "file:%s",
             "terminals": "*", "remote_ctrl": ["restart", "0004", "LOGOUT"]}


def test_serve_with_apps_on_both_transports_and_its_bad_input(tmp_path):
    keyfile = tmp_path / "base.key"
    keyfile.write_text(KEY + "\n")
    os.chmod(keyfile, 0o600)
    entry = dict(APP_ENTRY, base_key="file:%s" % keyfile)
    good = _apps_file(tmp_path, {"applications": [entry]})
    env = _env(METER_APP_PW=PW)
    bad = [
        (["--apps", _apps_file(tmp_path, [entry], 0o644, "open.json"), "--app-long", "127.0.0.1:0"], "chmod 600"),
        (["--apps", _apps_file(tmp_path, "{not json", name="x.json"), "--app-long", "127.0.0.1:0"], "not JSON"),
        (["--apps", _apps_file(tmp_path, [dict(entry, colour="red")], name="k.json"), "--app-long", "127.0.0.1:0"],
         "unknown key colour"),
        (["--apps", _apps_file(tmp_path, [dict(entry, remote_ctrl=["dance"])], name="r.json"),
          "--app-long", "127.0.0.1:0"], "remote control 'dance'"),
        (["--apps", _apps_file(tmp_path, [dict(entry, base_key="short")], name="b.json"),
          "--app-long", "127.0.0.1:0"], "base key"),
        (["--apps", str(tmp_path / "missing.json"), "--app-http", "127.0.0.1:0"], "missing.json"),
        (["--apps", good], "--app-long"),
        (["--app-long", "127.0.0.1:0"], "--apps FILE"),
    ]
    for extra, word in bad:
        p = subprocess.run(_cmd() + _serve(tmp_path, *extra), capture_output=True, text=True, env=env, timeout=30)
        assert p.returncode == 2 and word in p.stderr and len(p.stderr.splitlines()) == 1, (extra, p.stderr)
        assert "Traceback" not in p.stderr
    p = subprocess.run(_cmd() + _serve(tmp_path, "--apps", good, "--app-long", "127.0.0.1:0"),
                       capture_output=True, text=True, env=_env(), timeout=30)
    assert p.returncode == 2 and "METER_APP_PW" in p.stderr, p.stderr       # env: secret not set
    with socket.socket() as busy:                                            # a port in use: exit status 1
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        for opt in ("--app-long", "--app-http"):
            p = subprocess.run(_cmd() + _serve(tmp_path, "--apps", good, opt, "127.0.0.1:%d" % busy.getsockname()[1]),
                               capture_output=True, text=True, env=env, timeout=30)
            assert p.returncode == 1 and "in use" in p.stderr and opt in p.stderr, p.stderr
            assert len(p.stderr.splitlines()) == 1
    # the real thing: a long connection and HTTP with its WSDL
    proc = subprocess.Popen(_cmd() + _serve(tmp_path, "--apps", good, "--app-long", "127.0.0.1:0",
                                            "--app-http", "127.0.0.1:0"),
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stderr.readline()
        m = re.search(r"apps 1 long 127\.0\.0\.1:(\d+) http 127\.0\.0\.1:(\d+)", line)
        assert m, line
        long_port, http_port = int(m.group(1)), int(m.group(2))

        async def talk():
            for kw in ({"port": long_port}, {"port": http_port, "transport": "http"}):
                app = AppClient(SVC, USER, PW, KEY, host="127.0.0.1", **kw)
                await app.connect()
                s = await app.statistics(termcount={})
                assert s["TERMCOUNT_RESULT"]["TOTAL"] == "0"
                with pytest.raises(AppError):
                    await app.term_info_query(SERIAL)                  # not known to this platform
                await app.close()
            r, w = await asyncio.open_connection("127.0.0.1", http_port)
            w.write(b"GET /wmmp/app?wsdl HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = await asyncio.wait_for(r.read(), 10)
            w.close()
            assert data.startswith(b"HTTP/1.1 200") and b"TTermCtrl" in data and b"definitions" in data
        asyncio.run(talk())
    finally:
        proc.terminate()
        proc.wait(10)
    assert "Traceback" not in proc.stderr.read()
