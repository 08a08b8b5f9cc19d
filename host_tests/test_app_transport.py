"""The two transports of appendix C 1): the long connection (frames of appendix
C 2.2: u32 big-endian total length, then the PDU; docs/APP.md decision 14) and
HTTP web service (SOAP 1.1 or bare XML POST, WSDL at ?wsdl, the configurable
HTTP session timeout; decisions 12, 15), tried with raw sockets for what a
broken or hostile peer sends, and with AppClient for a representative set of
appendix H messages over each transport.

CPython only; loopback only."""
import asyncio
import socket
import xml.etree.ElementTree as ET

import pytest

from wmmp_app import transport as T
from wmmp_app import xmlform as X
from wmmp_app.client import AppClient
from wmmp_app.gateway import AppConfig, Gateway, serve_http, serve_long

from test_app_support import ACCT, T1, FakeBackend, open_rsp, run, running, seal_req


def test_a_frame_counts_its_own_four_length_bytes():
    assert T.frame(b"<x/>") == b"\x00\x00\x00\x08<x/>"


async def _raw(port):
    return await asyncio.open_connection("127.0.0.1", port)


# -- long connection --------------------------------------------------------------------------

@run
async def test_long_frame_over_the_limit_or_under_four_ends_the_connection(caplog):
    async with running(max_pdu=4096) as env:
        for head in ((4096 + 5).to_bytes(4, "big"), (3).to_bytes(4, "big")):
            r, w = await _raw(env.long_port)
            w.write(head + b"x" * 16)
            assert await asyncio.wait_for(r.read(), 3) == b""
            w.close()
        assert "frame length" in caplog.text


@run
async def test_long_garbage_is_dropped_and_the_connection_goes_on(caplog):
    async with running() as env:
        r, w = await _raw(env.long_port)
        w.write(T.frame(b"this is not XML") + T.frame(b"<TRegistReq><HEAD/></TRegistReq>"))
        login = seal_req("TAppLoginReq", {"USERNAME": ACCT["username"], "PASSWORD": ACCT["password"]})
        w.write(T.frame(login))
        data = await asyncio.wait_for(T.read_frame(r), 3)
        assert open_rsp(data, keys=[ACCT["base_key"].encode()]).code == 0
        assert "unanswerable PDU dropped" in caplog.text
        w.close()


@run
async def test_read_frame_reports_a_stream_cut_inside_a_frame():
    reader = asyncio.StreamReader()
    reader.feed_data(b"\x00\x00\x00\x10abc")
    reader.feed_eof()
    with pytest.raises(T.TransportError, match="inside a frame"):
        await T.read_frame(reader)
    reader = asyncio.StreamReader()
    reader.feed_eof()
    assert await T.read_frame(reader) is None


# -- HTTP server -----------------------------------------------------------------------------

async def _http(port, raw, read_all=True):
    r, w = await _raw(port)
    w.write(raw)
    out = await asyncio.wait_for(r.read() if read_all else r.readuntil(b"\r\n\r\n"), 3)
    w.close()
    return out


def _status(resp):
    return int(resp.split(b" ", 2)[1])


def _post(body, path="/wmmp/app", extra=""):
    return ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n"
            % (path, len(body), extra)).encode() + body


@pytest.mark.parametrize("raw,status", [
    (_post(b"not xml at all"), 400),
    (_post(b'<!DOCTYPE x [<!ENTITY a "a">]><x>&a;</x>'), 400),
    (_post(X.soap_wrap(b"<TRegistReq><HEAD/></TRegistReq>")), 400),
    (_post(b"<x/>", path="/other"), 404),
    (b"PUT /wmmp/app HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
    (b"POST /wmmp/app HTTP/1.1\r\nHost: x\r\n\r\n", 411),
    (b"POST /wmmp/app HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 413),
    (b"POST /wmmp/app HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    (b"POST /wmmp/app HTTP/1.1\r\nHost: x\r\nContent-Length: 12x\r\n\r\n", 400),
    (b"BROKEN\r\n\r\n", 400),
    (b"POST /wmmp/app HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"POST /wmmp/app HTTP/1.1\r\nno colon here\r\n\r\n", 400),
    (b"GET /wmmp/app HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 200 + b"\r\n", 400),
    (b"GET /wmmp/app HTTP/1.1\r\nHost: x\r\n\r\n", 404),
])
@run
async def test_http_answers_bad_requests_with_a_status_and_no_traceback(raw, status, caplog):
    async with running() as env:
        resp = await _http(env.http_port, raw)
        assert _status(resp) == status
        if status == 400 and b"Envelope" in raw:
            assert b"soap:Fault" in resp
        assert "Traceback" not in caplog.text and "internal error" not in caplog.text


@run
async def test_http_serves_the_wsdl_and_keeps_connections_alive():
    async with running() as env:
        r, w = await _raw(env.http_port)
        w.write(b"GET /wmmp/app?wsdl HTTP/1.1\r\nHost: gw.example:8080\r\n\r\n")
        await r.readuntil(b"\r\n\r\n")
        body = await asyncio.wait_for(r.readuntil(b"</wsdl:definitions>\n"), 3)
        root = ET.fromstring(body)
        assert b'location="http://gw.example:8080/wmmp/app"' in body and root.get("name") == "WmmpPlatform"
        # the same connection takes a POST next (keep-alive)
        login = seal_req("TAppLoginReq", {"USERNAME": ACCT["username"], "PASSWORD": ACCT["password"]})
        w.write(b"POST /wmmp/app HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(login) + login)
        head = await r.readuntil(b"\r\n\r\n")
        n = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        assert open_rsp(await r.readexactly(n), keys=[ACCT["base_key"].encode()]).code == 0
        w.close()


@run
async def test_http_session_timeout_closes_an_idle_connection():
    async with running() as env:
        from wmmp_app.serve import serve_http
        srv = await serve_http(env.gw, "127.0.0.1", 0, idle_timeout=0.2)
        r, w = await _raw(srv.port)
        t0 = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(r.read(), 3) == b""
        assert 0.15 < asyncio.get_running_loop().time() - t0 < 2
        w.close()


@run
async def test_http_client_reopens_a_connection_the_server_closed_while_idle():
    async with running() as env:
        from wmmp_app.serve import serve_http
        srv = await serve_http(env.gw, "127.0.0.1", 0, idle_timeout=0.1)
        c = T.HttpClient("http://127.0.0.1:%d/wmmp/app" % srv.port)
        for _ in range(2):
            status, _, body = await c.post(seal_req("TAppLoginReq", {}))
            assert status == 200 and open_rsp(body, keys=[ACCT["base_key"].encode()]).code == 0
            await asyncio.sleep(0.3)
        await c.close()


def test_urls():
    assert T.parse_url("http://[::1]:8080/a/b") == ("::1", 8080, "/a/b")
    assert T.parse_url("http://host") == ("host", 80, "/")
    for bad in ("https://host/", "http://host:99999/", "ftp://x", "http://a b/"):
        with pytest.raises(ValueError):
            T.parse_url(bad)


# -- appendix H messages over each transport -------------------------------------------------------

@pytest.mark.parametrize("transport,soap", [("long", True), ("http", True), ("http", False)])
@run
async def test_representative_messages_over_each_transport(transport, soap):
    async with running(backend=FakeBackend(auto=True)) as env:
        app = await env.connected(transport, soap=soap)
        sid = await app.transparent_down(b"\x01\x03\x00\x00\x00\x02", serials=[T1])            # t) -> u)
        assert (await app.wait_for("TTransparentDataDownResult", sid=sid)).body["RESULTCODE"] == 0
        assert (await app.term_info_query(T1, monitor=["3001"]))["MONITOR"] == [("3001", "42")]   # e)
        assert (await app.statistics(termcount={"AREA": "010"}))["TERMCOUNT_RESULT"]["TOTAL"] == "3"  # g)
        d = await env.gw.transparent_up(T1, b"\xff\x00meter")                                   # s)
        assert d["SVC0001"].result == 0
        got = []
        async for n in app.notifications():
            got.append(n.name)
            if n.name == "TTransparentDataUp":
                assert n.body["DATA"] == b"\xff\x00meter"
                break
        assert got[-1] == "TTransparentDataUp"
        d = await env.gw.config_req(T1, ["0106"])                                                # x)
        assert d["SVC0001"].message.body == {"RESULTCODE": 0, "CONFIG": [("0106", "")]}
        assert await app.logout() == 0                                                          # b)
        await app.close()


@run
async def test_the_applications_endpoint_serves_its_wsdl_and_refuses_other_addresses(caplog):
    async with running(request_timeout=1.0) as env:
        app = await env.connected("http", platform_allow=["192.0.2.0/24"])
        resp = await _http(app.server.port, b"GET /wmmp/app?wsdl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert _status(resp) == 200 and b'name="WmmpApplication"' in resp
        d = await env.gw.notify_logout(T1, 0)
        assert not d["SVC0001"].ok and "HTTP 403" in d["SVC0001"].error
        assert "not the platform's address" in caplog.text
        await app.close()


@run
async def test_the_gateways_push_to_an_application_without_a_way_to_reach_it_is_an_error():
    async with running() as env:
        app = env.client("http", listen=None)
        await app.connect()
        d = await env.gw.transparent_up(T1, b"x")
        assert "not reachable" in d["SVC0001"].error
        await app.close()


# -- ports bound before the gateway starts (appendix C 1)) -------------------------------------------

def _listening():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    s.setblocking(False)
    return s


@run
async def test_both_transports_listen_on_sockets_bound_beforehand():
    """A program that binds its ports first (wmmp-platform serve) hands them over:
    the gateway listens on those very sockets, the port chosen for port 0 included."""
    long_sock, http_sock = _listening(), _listening()
    ports = long_sock.getsockname()[1], http_sock.getsockname()[1]
    gw = Gateway(FakeBackend(), [AppConfig(**ACCT)])
    try:
        srv = await serve_long(gw, sock=long_sock)
        http = await serve_http(gw, sock=http_sock)
        assert (srv.sockets[0].getsockname()[1], http.port) == ports
        for transport, port in zip(("long", "http"), ports):
            app = AppClient(host="127.0.0.1", port=port, transport=transport, timeout=5.0, **ACCT)
            await app.connect()
            assert (await app.statistics(termcount={}))["TERMCOUNT_RESULT"]["TOTAL"] == "3"      # g)
            await app.close()
        resp = await _http(ports[1], b"GET /wmmp/app?wsdl HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert _status(resp) == 200 and ("http://127.0.0.1:%d/wmmp/app" % ports[1]).encode() in resp
        for bad in ({}, {"host": "127.0.0.1", "port": 0, "sock": long_sock}):
            with pytest.raises(ValueError):
                await serve_long(gw, **bad)
    finally:
        await gw.close()
