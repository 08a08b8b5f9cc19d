"""AppClient, an OEM's application (tools/wmmp_app/client.py): login and its
refusals (appendix H a)), the session key's lifetime and logging in again
(section 5.2.1), a long connection that breaks, the answers it gives to the
platform's requests (appendix H d) to z)) through its handler, and the
platform requests it refuses to answer (section 5.2.2 item 4).

CPython only; loopback only."""
import asyncio

import pytest

from wmmp_app.client import AppClient, AppError, LoginFailed, Unverified
from wmmp_app.gateway import AppConfig

from test_app_support import ACCT, OTHER, T1, run, running


@pytest.mark.parametrize("change,code,words", [
    ({"password": "WrongPass"}, 2, "unsigned"),                         # digest fails: a) 2
    ({"service_id": "SVC9999"}, 1, "could not identify"),               # unknown SERVICEID: a) 1
    ({"base_key": "WrongBaseKey0123"}, 3, "encrypted body is wrong"),   # undecryptable body: a) 3
])
@pytest.mark.parametrize("transport", ["long", "http"])
@run
async def test_a_login_refusals_reach_the_user_as_the_appendix_h_code(change, code, words, transport):
    async with running() as env:
        app = env.client(transport, acct=dict(ACCT, **change))
        with pytest.raises(LoginFailed) as e:
            await app.connect()
        assert e.value.code == code and words in str(e.value)
        assert env.backend.calls == [] and not env.gw.logged_in("SVC0001")
        await app.close()


@run
async def test_the_session_key_is_renewed_when_it_expires_section_5_2_1():
    async with running(apps=[AppConfig(**ACCT, session_minutes=5)]) as env:
        app = await env.connected()
        first = app.session.key
        assert app.session_left() == 300
        env.clock.advance(296)          # within the re-login margin (5 s): log in again first
        await app.transparent_down(b"a", serials=[T1])
        assert app.session.key != first and env.gw.session("SVC0001").key == app.session.key
        env.clock.advance(3600)
        await app.transparent_down(b"b", serials=[T1])
        assert [c[4] for c in env.backend.calls] == [b"a", b"b"]
        await app.close()


@run
async def test_not_logged_in_from_the_platform_makes_the_client_log_in_and_repeat_once():
    async with running() as env:
        app = await env.connected("http")
        env.gw.end_session("SVC0001", "test")
        sid = await app.transparent_down(b"again", serials=[T1])
        assert env.backend.calls == [("transparent_down", "SVC0001", sid, [T1], b"again")]
        await app.close()


@run
async def test_a_broken_long_connection_is_reopened_with_a_new_login():
    async with running() as env:
        app = await env.connected()
        old_key = app.session.key
        for link in list(env.gw.links):
            await link.close()
        await asyncio.wait_for(app.link.closed, 3)
        await app.transparent_down(b"after", serials=[T1])
        assert app.session.key != old_key and env.backend.calls[-1][4] == b"after"
        await app.close()


@run
async def test_an_answer_the_platform_does_not_sign_is_only_ever_a_refusal():
    async with running() as env:
        app = await env.connected("http")
        env.gw.apps["SVC0001"].allow = type(env.gw.apps["SVC0001"].allow)(["192.0.2.0/24"])
        with pytest.raises(Unverified) as e:
            await app.transparent_down(b"x", serials=[T1])
        assert e.value.code == 1 and env.backend.calls == []
        await app.close(logout=False)


@run
async def test_refusals_of_requests_raise_with_the_code_and_its_meaning():
    async with running(apps=[AppConfig(**ACCT, remote_ctrl=["4001"])]) as env:
        app = await env.connected()
        with pytest.raises(AppError) as e:
            await app.term_ctrl(serials=[T1], remote_ctrl=["4009"])
        assert e.value.code == 1 and "platform refuses the request" in str(e.value)
        assert e.value.message.body["REMOTECTRL"] == ["4009"]
        rsp = await app.request("TTermCtrl", {"TERMLIST": [T1], "REMOTECTRL": ["4001"]})
        assert rsp.result == 0 and rsp.name == "TTermCtrlRsp"
        with pytest.raises(ValueError):
            await app.request("TRegist", {})
        await app.close()


@run
async def test_the_handler_decides_the_answers():
    seen = []

    async def handler(msg):
        seen.append(msg.call.name)
        if msg.call.name == "TRegist":
            return 2                                   # o) 2: the application refuses the terminal
        if msg.call.name == "TTransparentDataUp":
            raise RuntimeError("database down")        # answered 1: refused
        if msg.call.name == "TTermInfoReport":
            return {"RESULTCODE": 1}                   # y) 1: data invalid
        if msg.call.name == "TLogout":
            return 5                                   # no body to put it in: ignored
    async with running() as env:
        app = await env.connected(handler=handler)
        assert (await env.gw.notify_regist(T1, "8" * 15, "4" * 15))["SVC0001"].result == 2
        assert (await env.gw.transparent_up(T1, b"x"))["SVC0001"].result == 1
        assert (await env.gw.term_info_report(T1, alarm=["0001"]))["SVC0001"].result == 1
        d = (await env.gw.notify_logout(T1, 0))["SVC0001"]
        assert d.ok and d.message.body is None
        assert seen == ["TRegist", "TTransparentDataUp", "TTermInfoReport", "TLogout"]
        names = []
        while not app.queue.empty():
            n = app.queue.get_nowait()
            names.append((n.name, (n.answer or {}).get("RESULTCODE")))
        assert names == [("TRegist", 2), ("TTransparentDataUp", 1), ("TTermInfoReport", 1), ("TLogout", None)]
        await app.close()


@pytest.mark.parametrize("transport", ["long", "http"])
@run
async def test_platform_requests_that_fail_verification_are_not_answered_section_5_2_2(transport, caplog):
    async with running(request_timeout=0.3) as env:
        app = await env.connected(transport)
        env.gw.apps["SVC0001"].password = "ChangedPw"      # the platform now signs with another password
        d = (await env.gw.transparent_up(T1, b"x"))["SVC0001"]
        assert not d.ok and app.queue.empty()
        assert "not answered" in caplog.text and "HASH does not match" in caplog.text
        await app.close(logout=False)


@run
async def test_two_applications_each_hear_only_their_own():
    apps = [AppConfig(**ACCT, terminals=[T1]), AppConfig(**OTHER, terminals=["M2MMAKER00000002"])]
    async with running(apps=apps) as env:
        a = await env.connected()
        b = await env.connected("http", acct=OTHER)
        await env.gw.transparent_up(T1, b"for a")
        await env.gw.transparent_up("M2MMAKER00000002", b"for b")
        na = await asyncio.wait_for(a.queue.get(), 3)
        nb = await asyncio.wait_for(b.queue.get(), 3)
        assert (na.body["DATA"], nb.body["DATA"]) == (b"for a", b"for b")
        assert a.queue.empty() and b.queue.empty()
        await a.close()
        await b.close()


@run
async def test_notifications_end_when_the_client_closes():
    async with running() as env:
        app = await env.connected()
        await env.gw.transparent_up(T1, b"1")
        await env.gw.transparent_up(T1, b"2")
        got = []

        async def consume():
            async for n in app.notifications():
                got.append(n.body["DATA"])
        task = asyncio.get_running_loop().create_task(consume())
        await asyncio.sleep(0.05)
        await app.close()
        await asyncio.wait_for(task, 3)
        assert got == [b"1", b"2"]


def test_bad_settings_are_refused_at_once():
    with pytest.raises(ValueError, match="16 or 24 bytes"):
        AppClient("SVC1", "u", "p", "short")
    with pytest.raises(ValueError, match="long or http"):
        AppClient("SVC1", "u", "p", "x" * 16, transport="udp")
    with pytest.raises(ValueError, match="at most|1 to 12"):
        AppClient("SVC1", "u" * 13, "p", "x" * 16)


@run
async def test_the_echo_example_of_docs_app_md_echoes_a_meters_data():
    import os
    import re
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    text = open(os.path.join(root, "docs", "APP.md"), encoding="utf-8").read()
    code = re.search(r"## Example.*?```python\n(.*?)```", text, re.S).group(1)
    assert len(code.strip().splitlines()) <= 12
    async with running() as env:
        code = code.replace("port=9100", "port=%d" % env.long_port).replace("asyncio.run(main())", "")
        space = {}
        exec(compile(code, "docs/APP.md", "exec"), space)
        task = asyncio.get_running_loop().create_task(space["main"]())
        for _ in range(100):
            if env.gw.logged_in("SVC0001"):
                break
            await asyncio.sleep(0.02)
        d = await env.gw.transparent_up(T1, b"\x68\x10meter reading")
        assert d["SVC0001"].result == 0
        for _ in range(100):
            if env.backend.calls:
                break
            await asyncio.sleep(0.02)
        assert [c[3:] for c in env.backend.calls] == [([T1], b"\x68\x10meter reading")]
        task.cancel()


@pytest.mark.parametrize("transport", ["long", "http"])
@run
async def test_a_platform_request_under_the_key_of_a_login_not_yet_read_waits_for_it_section_5_2_1(transport):
    """The platform may use the session key CONVKEY as soon as TAppLoginRsp has gone
    out (appendix H a)); the application may read a request under it before it has
    read that answer: it waits for its login and decrypts with the new key."""
    pushed = []

    async def on_login(service_id, session):        # the platform's request, at once
        pushed.append(await env.gw.transparent_up(T1, b"first"))
    async with running(on_login=on_login) as env:
        app = env.client(transport)
        exchange = app._exchange

        async def slow(msg, key, reply_keys):        # the login's answer read late
            rsp = await exchange(msg, key, reply_keys)
            if msg.call.name == "TAppLogin":
                await asyncio.sleep(0.3)
            return rsp
        app._exchange = slow
        for n in range(2):                           # a first login (no key yet), then a new one (an old key)
            if transport == "http" and n == 0:
                await app.connect(login=False)
                env.gw.apps["SVC0001"].url = app.url
            await app.login()
            got = await asyncio.wait_for(app.queue.get(), 3)
            assert (got.name, got.body["DATA"]) == ("TTransparentDataUp", b"first")
            while len(pushed) < n + 1:
                await asyncio.sleep(0.01)
            assert pushed[n]["SVC0001"].result == 0      # s): answered, not timed out (3 s)
        await app.close()
