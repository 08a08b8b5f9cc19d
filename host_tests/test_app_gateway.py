"""The platform's end of the interface (tools/wmmp_app/gateway.py): each request
of appendix H an application makes, accepted and refused, through
Gateway.handle with the fake backend; each request the platform makes, sent
to a logged-in AppClient over the long connection and answered as appendix H
prescribes.  Sections 5.1.x give the flows, appendix H a) to z) the messages.

CPython only; loopback only."""
import asyncio

import pytest

from wmmp_app import messages as M
from wmmp_app.gateway import AppConfig, Gateway, Refused

from test_app_support import (ACCOUNT, ACCT, OTHER, T1, T2, T9, FakeBackend, Clock, ask, gw_login, open_rsp, run,
                              running, seal_doc, seal_req)


def gateway(**app):
    b = FakeBackend()
    cfg = dict(ACCT)
    cfg.update(app)
    gw = Gateway(b, [AppConfig(**cfg)], clock=Clock())
    b.gateway = gw
    return gw, b


# -- a) TAppLogin, b) TAppLogout (sections 5.1.1, 5.1.2, 5.2.1) ------------------------------

@run
async def test_a_login_issues_a_session_key_under_the_base_key():
    gw, b = gateway(session_minutes=45)
    out = await gw.handle(seal_req("TAppLoginReq", {"USERNAME": "meterapp", "PASSWORD": "Pw0123456789"}), "127.0.0.1")
    r = open_rsp(out, keys=[ACCOUNT.base_key])
    assert (r.name, r.code, r.signed, r.how) == ("TAppLoginRsp", 0, True, "key0")
    key = r.body["CONVKEY"]
    assert len(key) == 16 and key.isalnum() and r.body["EXPIRATION"] == 45
    s = gw.session("SVC0001")
    assert s.key == key.encode() and s.expires == gw.clock() + 45 * 60
    assert b.calls == []


@run
async def test_a_login_with_an_empty_body_as_appendix_h_writes_it_is_authenticated_by_the_digest():
    gw, _ = gateway()
    out = await gw.handle(seal_req("TAppLoginReq", {}), "127.0.0.1")
    assert open_rsp(out, keys=[ACCOUNT.base_key]).code == 0


@pytest.mark.parametrize("body,code", [
    ({"USERNAME": "someone", "PASSWORD": "Pw0123456789"}, 1),     # a) 1: no such user name
    ({"USERNAME": "meterapp", "PASSWORD": "wrong"}, 2),           # a) 2: password does not match
])
@run
async def test_a_login_body_credentials_are_checked(body, code):
    gw, _ = gateway()
    r = open_rsp(await gw.handle(seal_req("TAppLoginReq", body), "127.0.0.1"), keys=[ACCOUNT.base_key])
    assert r.code == code and not gw.logged_in("SVC0001")


@run
async def test_a_login_body_that_does_not_follow_appendix_h_is_code_3():
    gw, _ = gateway()
    out = await gw.handle(seal_doc("TAppLoginReq", b"<BODY><USERNAME>meterapp</USERNAME><X/></BODY>"), "127.0.0.1")
    r = open_rsp(out, keys=[ACCOUNT.base_key])
    assert r.code == 3 and r.signed and r.how == "key0"


@run
async def test_b_logout_ends_the_session():
    gw, _ = gateway()
    key = await gw_login(gw)
    r = await ask(gw, "TAppLogoutReq", {"USERNAME": "meterapp", "PASSWORD": "Pw0123456789"}, key)
    assert (r.name, r.code) == ("TAppLogoutRsp", 0)
    assert not gw.logged_in("SVC0001")
    r = await ask(gw, "PStatisticQueryReq", {"TERMCOUNT": {}}, key)
    assert r.code == 2          # c)..v) 2: the application is not logged in


@pytest.mark.parametrize("body,code", [
    ({"USERNAME": "someone", "PASSWORD": "Pw0123456789"}, 2),     # b) 2: no such user name
    ({"USERNAME": "meterapp", "PASSWORD": "wrong"}, 3),           # b) 3: password does not match
])
@run
async def test_b_logout_codes_are_those_of_appendix_h_b(body, code):
    gw, _ = gateway()
    key = await gw_login(gw)
    r = await ask(gw, "TAppLogoutReq", body, key)
    assert r.code == code and gw.logged_in("SVC0001")


# -- c) TTermInfoGet, e) PTermInfoQuery, g) PStatisticQuery, h) PTermStatisticQuery ----------

@run
async def test_c_term_info_get_is_accepted_and_passed_to_the_backend():
    gw, b = gateway()
    key = await gw_login(gw)
    r = await ask(gw, "TTermInfoGetReq", {"TERMLIST": [T1, T2, T1], "MONITOR": ["3001"], "ALARM": ["300D"],
                                          "CONFIG": ["0106"]}, key, sid="0000000000000777")
    assert (r.name, r.code, r.sid, r.how) == ("TTermInfoGetRsp", 0, "0000000000000777", "key0")
    assert b.calls == [("term_info_get", "SVC0001", "0000000000000777", [T1, T2], ["3001"], True, ["0106"], [])]


@run
async def test_c_filter_selects_only_the_applications_terminals():
    gw, b = gateway(terminals=[T1, T2])
    key = await gw_login(gw)
    r = await ask(gw, "TTermInfoGetReq", {"FILTER": {"AREA": "010"}, "STATISTIC": ["2001"]}, key)
    assert r.code == 0
    assert b.calls[-1][0] == "term_info_get" and b.calls[-1][3] == [T1]       # T9 is in 010 but not ours
    r = await ask(gw, "TTermInfoGetReq", {"FILTER": {"PRODUCTOR": "OTHER"}}, key)
    assert r.code == 1 and b.methods() == ["select", "term_info_get", "select"]


@run
async def test_c_termlist_and_filter_together_are_refused_before_the_backend():
    gw, b = gateway()
    key = await gw_login(gw)
    out = await gw.handle(seal_req("TTermInfoGetReq", {"TERMLIST": [T1], "FILTER": {"AREA": "010"}}, key=key,
                                   checked=False), "127.0.0.1")
    r = open_rsp(out, keys=[key])
    assert r.code == 1 and r.signed and r.how == "key0" and b.calls == []


@run
async def test_e_term_info_query_answers_from_the_platforms_records():
    gw, b = gateway()
    key = await gw_login(gw)
    r = await ask(gw, "PTermInfoQueryReq", {"TERMID": T1, "MONITOR": ["3001"], "ALARM": ["300D"],
                                            "STATISTIC": ["2001"]}, key)
    assert r.body == {"RESULTCODE": 0, "TERMID": T1, "MONITOR": [("3001", "42")], "ALARM": ["0001"],
                      "STATISTIC": [("2001", "7")]}
    r = await ask(gw, "PTermInfoQueryReq", {"TERMID": "NOSUCHTERMINAL"}, key)
    assert r.body == {"RESULTCODE": 1}


@run
async def test_g_statistics_query():
    gw, b = gateway()
    key = await gw_login(gw)
    r = await ask(gw, "PStatisticQueryReq", {"TERMCOUNT": {"AREA": "010"}, "TERMSTATUS": {"PRODUCER": "MAKER"}}, key)
    assert r.body == {"RESULTCODE": 0, "TERMCOUNT_RESULT": {"WORKING": "2", "REGISTERED": "3", "TOTAL": "3"},
                      "TERMSTATUS_RESULT": {"NORMAL": "2", "EXCEPTION": "1", "FORBIDDEN": "0"}}
    assert b.calls[-1][3:] == ({"AREA": "010"}, None, {"PRODUCER": "MAKER"})
    out = await gw.handle(seal_req("PStatisticQueryReq", {}, key=key, checked=False), "127.0.0.1")
    assert open_rsp(out, keys=[key]).code == 1


@run
async def test_h_term_statistics_query():
    gw, b = gateway()
    key = await gw_login(gw)
    r = await ask(gw, "PTermStatisticQueryReq", {"TERMINID": T1, "DATERANGE": ("20260101", "20261231"),
                                                 "LOGINCOUNT": True, "LASTLOGIN": True}, key)
    assert r.body == {"RESULTCODE": 0, "TERMID": T1, "LOGINCOUNT": 9, "LASTLOGIN": 1796556667}
    assert b.calls[-1][3:] == (T1, ("20260101", "20261231"), {"LOGINCOUNT", "LASTLOGIN"})
    r = await ask(gw, "PTermStatisticQueryReq", {"TERMINID": "NOSUCHTERMINAL", "ALARMCOUNT": True}, key)
    assert r.body == {"RESULTCODE": 1}                 # the backend's Refused


# -- i) TTermCtrl, k) TDownloadNotify, m) TSecurityConfig, t) TTransparentDataDown, v) TConfigSet

@run
async def test_i_remote_control_open_to_the_application_is_accepted():
    gw, b = gateway(remote_ctrl=["4001", "LOGOUT"])
    key = await gw_login(gw)
    assert (await ask(gw, "TTermCtrlReq", {"TERMLIST": [T1], "REMOTECTRL": ["4001"]}, key)).code == 0
    assert (await ask(gw, "TTermCtrlReq", {"TERMLIST": [T2], "LOGOUT": 0}, key)).code == 0
    assert [c[3:] for c in b.calls] == [([T1], ["4001"], None), ([T2], [], 0)]


@run
async def test_i_remote_control_not_open_is_refused_naming_the_tags_section_5_1_6(caplog):
    gw, b = gateway(remote_ctrl=["4001"])
    key = await gw_login(gw)
    r = await ask(gw, "TTermCtrlReq", {"TERMLIST": [T1], "REMOTECTRL": ["4001", "4003"]}, key)
    assert r.body == {"RESULTCODE": 1, "REMOTECTRL": ["4003"]}
    assert (await ask(gw, "TTermCtrlReq", {"TERMLIST": [T1], "LOGOUT": 2}, key)).code == 1
    assert b.calls == []
    assert "4003 not open to SVC0001" in caplog.text


@run
async def test_k_download_notify():
    gw, b = gateway()
    key = await gw_login(gw)
    r = await ask(gw, "TDownloadNotifyReq", {"TERMLIST": [T1], "DOWNLOADURL": "http://fw.invalid/a"}, key)
    assert r.code == 0
    assert b.calls[-1][3:] == ([T1], "http://fw.invalid/a")
    out = await gw.handle(seal_req("TDownloadNotifyReq", {"TERMLIST": [T1]}, key=key, checked=False), "127.0.0.1")
    assert open_rsp(out, keys=[key]).code == 1 and len(b.calls) == 1


@run
async def test_m_security_config_takes_the_platforms_operations_only():
    gw, b = gateway()
    key = await gw_login(gw)
    r = await ask(gw, "TSecurityConfigReq", {"TERMID": T1, "OPERATION": 1, "SECURITY": [("E025", "x")]}, key)
    assert r.code == 0 and b.calls[-1][3:] == (T1, 1, [("E025", "x")])
    r = await ask(gw, "TSecurityConfigReq", {"TERMID": T1, "OPERATION": 4}, key)    # 0x04: the terminal's
    assert r.code == 1 and len(b.calls) == 1


@run
async def test_t_transparent_data_down_passes_the_bytes():
    gw, b = gateway()
    key = await gw_login(gw)
    data = bytes(range(256)) * 4
    r = await ask(gw, "TTransparentDataDownReq", {"TERMLIST": [T1, T2], "DATA": data}, key)
    assert r.code == 0 and b.calls == [("transparent_down", "SVC0001", r.sid, [T1, T2], data)]
    out = await gw.handle(seal_doc("TTransparentDataDownReq",
                                   b"<BODY><TERMLIST><TERMID>%s</TERMID></TERMLIST><DATA>not base64!</DATA></BODY>"
                                   % T1.encode(), key=key), "127.0.0.1")
    assert open_rsp(out, keys=[key]).code == 1 and len(b.calls) == 1


@run
async def test_v_config_set_and_terminals_not_the_applications():
    gw, b = gateway(terminals=[T1])
    key = await gw_login(gw)
    assert (await ask(gw, "TConfigSetReq", {"TERMLIST": [T1], "CONFIG": [("0106", "60")]}, key)).code == 0
    assert b.calls[-1][3:] == ([T1], [("0106", "60")])
    r = await ask(gw, "TConfigSetReq", {"TERMLIST": [T1, T9], "CONFIG": [("0106", "60")]}, key)
    assert r.code == 1 and len(b.calls) == 1


@run
async def test_backend_without_a_method_and_backend_failures_refuse_with_code_1(caplog):
    class Partial:
        def transparent_down(self, ctx, serials, data):
            raise RuntimeError("disk full")
    gw = Gateway(Partial(), [AppConfig(**ACCT)], clock=Clock())
    key = await gw_login(gw)
    assert (await ask(gw, "TConfigSetReq", {"TERMLIST": [T1], "CONFIG": [("0106", "1")]}, key)).code == 1
    assert (await ask(gw, "TTransparentDataDownReq", {"TERMLIST": [T1], "DATA": b"x"}, key)).code == 1
    assert "does not support config_set" in caplog.text and "disk full" in caplog.text


@run
async def test_backend_refusal_with_its_own_code():
    class Busy(FakeBackend):
        def download_notify(self, ctx, serials, url):
            raise Refused("upgrade window closed", code=7)
    gw = Gateway(Busy(), [AppConfig(**ACCT)], clock=Clock())
    key = await gw_login(gw)
    assert (await ask(gw, "TDownloadNotifyReq", {"TERMLIST": [T1], "DOWNLOADURL": "http://x.invalid/"}, key)).code == 7


@run
async def test_a_platform_request_sent_to_the_platform_is_unanswerable():
    gw, _ = gateway()
    with pytest.raises(M.MessageError, match="not a request an application sends"):
        await gw.handle(seal_req("TRegistReq", {"TERMID": T1, "IMEI": "8" * 15, "IMSI": "4" * 15}), "127.0.0.1")


# -- the platform's requests, to a client on the long connection ---------------------------------

async def _until(cond):
    while not cond():
        await asyncio.sleep(0.01)


async def _heard(app, call):
    n = await asyncio.wait_for(app.queue.get(), 3)
    assert n.name == call
    return n


@run
async def test_notifications_about_a_terminal_reach_the_applications_that_may_use_it():
    apps = [AppConfig(**ACCT, terminals=[T1, T2]), AppConfig(**OTHER, terminals=[T9])]
    async with running(apps=apps) as env:
        a = await env.connected()
        o = await env.connected(acct=OTHER)
        d = await env.gw.notify_regist(T1, "860000000000001", "460001234567890")             # o)
        assert list(d) == ["SVC0001"] and d["SVC0001"].result == 0
        n = await _heard(a, "TRegist")
        assert n.body == {"TERMID": T1, "IMEI": "860000000000001", "IMSI": "460001234567890"}
        d = await env.gw.notify_login(T9, "860000000000009", "460009", termver="1.2", configcrc="0A0B0C0D",
                                      params=[("0106", "60")])                                # p)
        assert list(d) == ["SVC0002"]
        n = await _heard(o, "TLogin")
        assert n.body["PARAM"] == [("0106", "60")] and n.body["CONFIGCRC"] == "0A0B0C0D"
        d = await env.gw.notify_logout(T1, 4)                                                  # q)
        assert d["SVC0001"].ok and d["SVC0001"].message.body is None
        assert (await _heard(a, "TLogout")).body == {"TERMID": T1, "LOGOUTREASON": 4}
        d = await env.gw.notify_fault(T2, [1, 3])                                              # f)
        assert d["SVC0001"].ok and (await _heard(a, "PTermFaultNotify")).body["ERRCODE"] == [1, 3]
        d = await env.gw.transparent_up(T1, b"\x01\x03\x00\x10")                               # s)
        assert d["SVC0001"].result == 0 and (await _heard(a, "TTransparentDataUp")).body["DATA"] == b"\x01\x03\x00\x10"
        d = await env.gw.term_info_report(T1, monitor=[("3001", "9")], alarm=["0001"])          # y)
        assert d["SVC0001"].result == 0
        assert (await _heard(a, "TTermInfoReport")).body == {"TERMID": T1, "MONITOR": [("3001", "9")],
                                                             "ALARM": ["0001"]}
        await a.close()
        await o.close()
        assert await env.gw.notify_logout(T1, 0) == {}            # nobody logged in: nothing sent


@run
async def test_results_go_to_the_requesting_application_with_the_requests_sid():
    async with running(backend=FakeBackend(auto=True)) as env:
        a = await env.connected()
        sid = await a.term_info_get(serials=[T1], monitor=["3001"], config=["0106"])             # c) -> d)
        n = await a.wait_for("TTermInfoGetResult", sid=sid)
        assert n.body["MONITOR"] == [("3001", "1")] and n.body["CONFIG"] == [("0106", "60")]
        sid = await a.term_ctrl(serials=[T1], remote_ctrl=["4001"])                             # i) -> j)
        assert (await a.wait_for("TTermCtrlResult", sid=sid)).body == {"TERMID": T1, "RESULTCODE": 0}
        sid = await a.download_notify("http://fw.invalid/b", serials=[T2])                      # k) -> l)
        assert (await a.wait_for("TDownloadNotifyResult", sid=sid)).body == {"TERMID": T2, "RESULTCODE": 1}
        sid = await a.security_config(T1, 2, [("E025", "")])                                    # m) -> n)
        assert (await a.wait_for("TSecurityConfigResult", sid=sid)).body["RESULTCODE"] == 0
        sid = await a.transparent_down(b"ping", serials=[T1])                                   # t) -> u)
        assert (await a.wait_for("TTransparentDataDownResult", sid=sid)).body == {"TERMID": T1, "RESULTCODE": 0}
        sid = await a.config_set([("0106", "90")], serials=[T1])                                # v) -> w)
        assert (await a.wait_for("TConfigSetResult", sid=sid)).body == {"TERMID": T1, "RESULTCODE": 0}
        await a.close()


@run
async def test_x_config_req_carries_the_values_the_application_gives():
    def handler(msg):
        if msg.call.name == "TConfigReq":
            assert msg.head["TERMINID"] == T1
            return {"RESULTCODE": 0, "CONFIG": [("0106", "60"), ("0107", "")]}
    async with running() as env:
        a = await env.connected(handler=handler)
        d = await env.gw.config_req(T1, ["0106", "0107"])
        assert d["SVC0001"].message.body == {"RESULTCODE": 0, "CONFIG": [("0106", "60"), ("0107", "")]}
        await a.close()


@run
async def test_r_link_check_and_z_key_expiration():
    async with running() as env:
        a = await env.connected()
        assert await env.gw.link_check("SVC0001")                                               # r)
        d = await env.gw.key_expiration("SVC0001", "20261231", new_base_key="NewBaseKey0123456789ABCD")  # z)
        assert d.ok and d.message.body is None
        assert (await _heard(a, "PKeyExpiration")).body == {"DATE": "20261231"}
        await a.close()
        from wmmp_app.client import LoginFailed
        with pytest.raises(LoginFailed) as e:      # the old base key no longer logs in: a) 3
            await env.connected()
        assert e.value.code == 3
        b = await env.connected(base_key="NewBaseKey0123456789ABCD")
        await b.close()


@run
async def test_link_checks_unanswered_three_times_close_the_connection():
    async with running(link_check_interval=0.05, link_check_misses=3, request_timeout=0.05) as env:
        a = await env.connected()

        async def deaf(data, link):
            await asyncio.sleep(1)
        a.link.on_request = deaf
        await asyncio.wait_for(a.link.closed, 3)
        assert not env.gw.logged_in("SVC0001")


@run
async def test_a_request_to_an_application_not_logged_in_is_not_sent():
    async with running() as env:
        d = await env.gw.term_ctrl_result("SVC0001", "0000000000000001", T1, 0)
        assert not d.ok and d.error == "not logged in"
        d = await env.gw.send("NOSUCH", "PLinkCheckReq")
        assert d.error == "unknown application"


# -- the session key in use only once the application holds it (section 5.2.1) -----------------------

@run
async def test_a_platform_request_waits_until_the_answer_to_the_login_has_gone_out_section_5_2_1():
    """TAppLoginRsp carries the session key CONVKEY (appendix H a)): a platform request
    encrypted with it before that answer has gone out could not be read."""
    async with running() as env:
        app = await env.connected("http")
        heard = []
        env.gw.login_listeners.append(lambda svc, s: heard.append((svc, s.key)))
        # a second login whose answer the transport has not written yet (gateway.respond)
        out, sent = await env.gw.respond(seal_req("TAppLoginReq", {"USERNAME": "meterapp",
                                                                   "PASSWORD": "Pw0123456789"}), "127.0.0.1")
        key = open_rsp(out, keys=[ACCOUNT.base_key]).body["CONVKEY"].encode()
        push = asyncio.ensure_future(env.gw.transparent_up(T1, b"meter"))                      # s)
        await asyncio.sleep(0.3)
        assert not push.done() and app.queue.empty() and heard == []       # held back, nothing sent
        app.session.key = key                # the application reads its answer ...
        sent()                               # ... which the transport has written
        d = await asyncio.wait_for(push, 2)
        assert d["SVC0001"].result == 0 and (await _heard(app, "TTransparentDataUp")).body["DATA"] == b"meter"
        assert heard == [("SVC0001", key)]
        # an answer that never goes out: the request gives up after request_timeout
        env.gw.request_timeout = 0.3
        out, sent = await env.gw.respond(seal_req("TAppLoginReq", {}), "127.0.0.1")
        d = await env.gw.transparent_up(T1, b"late")
        assert "answer to its login has not gone out" in d["SVC0001"].error
        await app.close(logout=False)


@pytest.mark.parametrize("transport", ["long", "http"])
@run
async def test_the_login_listener_hears_each_login_once_its_answer_is_written(transport):
    """on_login: called when the answer to TAppLogin has gone out (over either
    transport, appendix C 1)); a platform request it makes at once reaches the
    application (here z) PKeyExpiration, section 5.1.13)."""
    told = []

    async def on_login(service_id, session):
        told.append(await env.gw.key_expiration(service_id, "20261231"))
    async with running(on_login=on_login) as env:
        app = await env.connected(transport)
        n = await _heard(app, "PKeyExpiration")
        assert n.body == {"DATE": "20261231"}
        await asyncio.wait_for(_until(lambda: told), 3)
        assert len(told) == 1 and told[0].ok and told[0].sid == n.sid
        await app.login()                                       # a new session: heard again
        assert (await _heard(app, "PKeyExpiration")).sid != n.sid
        await app.close()


# -- an application that does not answer (appendix C 1)) --------------------------------------------

@run
async def test_an_application_found_unreachable_is_given_less_time_until_it_answers_or_logs_in_again():
    async with running(request_timeout=1.0, unreachable_timeout=0.1) as env:
        a = await env.connected()
        answer = a.link.on_request

        async def deaf(data, link):
            await asyncio.sleep(5)
        a.link.on_request = deaf
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        d = await env.gw.notify_logout(T1, 0)                                                   # q)
        assert "no answer" in d["SVC0001"].error and loop.time() - t0 >= 0.9
        assert "SVC0001" in env.gw.unreachable
        t0 = loop.time()
        d = await env.gw.notify_logout(T1, 0)
        assert not d["SVC0001"].ok and loop.time() - t0 < 0.8          # found unreachable: 0.1 s, not 1 s
        a.link.on_request = answer
        assert (await env.gw.notify_logout(T1, 0))["SVC0001"].ok      # it answers again ...
        assert "SVC0001" not in env.gw.unreachable                    # ... and has its time back
        a.link.on_request = deaf
        await env.gw.notify_logout(T1, 0)
        assert "SVC0001" in env.gw.unreachable
        a.link.on_request = answer
        await a.login()                                                # a) a new login: the same
        assert "SVC0001" not in env.gw.unreachable
        await a.close()
