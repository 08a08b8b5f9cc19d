"""The And-link platform simulator's coaps front (tools/andlink_tools:
dtlsserver.py, dtlsfront.py; And-link spec 3.5: DTLS 1.2, pre-shared key,
identity the IMEI) against independent DTLS clients: OpenSSL's `openssl
s_client` and libcoap's coap-client on OpenSSL and on GnuTLS (Debian's
libcoap3-bin; skipped with the reason where missing), carrying CoAP to an
aiocoap server behind it; and the device's own client (lib/andlink/dtls)
both ways, a device-initiated and a server-initiated exchange, unknown
identities and wrong keys, the stateless cookie."""

import asyncio
import shutil
import socket

import aiocoap
import pytest
from aiocoap import resource as aioresource

from andlink.dtls.session import Session, CONNECTED, FAILED
from andlink_tools.dtlsfront import DtlsFront

HOST = "127.0.0.1"
IMEI = b"869976032983322"
KEY = b"secretPSK"
OPENSSL = shutil.which("openssl")
CLIENTS = [c for c in ("coap-client-openssl", "coap-client-gnutls") if shutil.which(c)]


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Echo(asyncio.DatagramProtocol):
    """A plain UDP backend: answers b"pong:" + what came; remembers who spoke."""

    def __init__(self):
        self.seen = []

    def connection_made(self, tr):
        self.tr = tr

    def datagram_received(self, data, addr):
        self.seen.append((data, addr))
        self.tr.sendto(b"pong:" + data, addr)


async def echo_backend():
    loop = asyncio.get_running_loop()
    tr, echo = await loop.create_datagram_endpoint(Echo, local_addr=(HOST, 0))
    return echo, tr.get_extra_info("sockname")[:2]


class Client(asyncio.DatagramProtocol):
    """lib/andlink/dtls's Session over an asyncio socket."""

    def __init__(self, session):
        self.s = session
        self.app = asyncio.Queue()

    def connection_made(self, tr):
        self.tr = tr

    def datagram_received(self, data, addr):
        for p in self.s.receive(data, asyncio.get_running_loop().time()):
            self.app.put_nowait(p)
        self.flush()

    def flush(self):
        for d in self.s.outgoing():
            self.tr.sendto(d)


async def device(front, key=KEY, identity=IMEI):
    loop = asyncio.get_running_loop()
    s = Session(identity, key, timeout=0.5, tries=3)
    tr, c = await loop.create_datagram_endpoint(lambda: Client(s), remote_addr=front.address)
    s.start(loop.time())
    c.flush()
    for _ in range(100):
        if s.state != 0:
            break
        await asyncio.sleep(0.02)
        s.tick(loop.time())
        c.flush()
    return c, tr


def test_device_session_both_ways():
    # 3.5: the device's DTLS client through the front; a device-initiated and
    # a server-initiated exchange (the simulator sends to the pipe's address).
    async def go():
        echo, backend = await echo_backend()
        logs = []
        front = await DtlsFront(backend, {IMEI: KEY}.get, log=logs.append).start((HOST, 0))
        c, tr = await device(front)
        assert c.s.state == CONNECTED and c.s.ems
        c.s.send(b"ping", 0)
        c.flush()
        assert await asyncio.wait_for(c.app.get(), 5) == b"pong:ping"
        pipe = echo.seen[-1][1]
        assert front.device_of(pipe) == (tr.get_extra_info("sockname")[:2], IMEI)
        echo.tr.sendto(b"request from the server", pipe)
        assert await asyncio.wait_for(c.app.get(), 5) == b"request from the server"
        assert any("connected TLS_PSK_WITH_AES_128_CCM_8" in x for x in logs)
        tr.close()
        await front.close()
    run(go())


def test_unknown_identity_and_wrong_key_fail_clearly():
    async def go():
        echo, backend = await echo_backend()
        logs = []
        front = await DtlsFront(backend, {IMEI: KEY}.get, log=logs.append).start((HOST, 0))
        c, tr = await device(front, identity=b"000000000000000")
        assert c.s.state == FAILED and c.s.error == "alert 115 from the server"     # unknown_psk_identity
        tr.close()
        c, tr = await device(front, key=b"wrong")
        assert c.s.state == FAILED and c.s.error == "alert 51 from the server"      # decrypt_error
        assert any("(a wrong key?)" in x for x in logs)
        assert not any("secretPSK" in x or "wrong'" in x for x in logs)
        assert front.sessions == {} and echo.seen == []
        tr.close()
        await front.close()
    run(go())


def test_cookie_exchange_keeps_no_state_for_a_first_hello():
    # RFC 6347 4.2.1: a ClientHello without the cookie gets a HelloVerifyRequest, no session.
    async def go():
        echo, backend = await echo_backend()
        front = await DtlsFront(backend, {IMEI: KEY}.get, log=lambda t: None).start((HOST, 0))
        s = Session(IMEI, KEY)
        s.start(0)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(2)
        u.sendto(s.outgoing()[0], front.address)
        hvr = await asyncio.get_running_loop().run_in_executor(None, u.recv, 2048)
        assert hvr[0] == 22 and hvr[13] == 3 and front.sessions == {}
        u.close()
        await front.close()
    run(go())


class Hello(aioresource.Resource):
    async def render_get(self, request):
        return aiocoap.Message(payload=b"hello over coaps")


async def coap_backend():
    site = aioresource.Site()
    site.add_resource(["hello"], Hello())
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    ctx = await aiocoap.Context.create_server_context(site, bind=(HOST, port))
    return ctx, (HOST, port)


@pytest.mark.skipif(not CLIENTS, reason="libcoap's coap-client-openssl/-gnutls missing: run 'make setup' as root "
                                        "(apt-get install libcoap3-bin)")
@pytest.mark.parametrize("client", CLIENTS)
def test_libcoap_client_through_the_front(client):
    async def go():
        ctx, backend = await coap_backend()
        front = await DtlsFront(backend, {IMEI: KEY}.get, log=lambda t: None).start((HOST, 0))
        p = await asyncio.create_subprocess_exec(
            client, "-u", IMEI.decode(), "-k", KEY.decode(), "-m", "get",
            "coaps://%s:%d/hello" % front.address, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(p.communicate(), 20)
        await front.close()
        await ctx.shutdown()
        assert b"hello over coaps" in out, (out, err)
    run(go())


@pytest.mark.skipif(not OPENSSL, reason="the openssl command is missing (apt-get install openssl)")
@pytest.mark.parametrize("cipher", ["PSK-AES128-CCM8", "PSK-AES128-CBC-SHA256"])
def test_openssl_s_client_handshakes_with_the_front(cipher):
    async def go():
        echo, backend = await echo_backend()
        logs = []
        front = await DtlsFront(backend, {IMEI: KEY}.get, log=logs.append).start((HOST, 0))
        p = await asyncio.create_subprocess_exec(
            OPENSSL, "s_client", "-dtls1_2", "-psk", KEY.hex(), "-psk_identity", IMEI.decode(), "-cipher", cipher,
            "-connect", "%s:%d" % front.address, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        p.stdin.write(b"hello from s_client\n")
        for _ in range(200):
            if echo.seen:
                break
            await asyncio.sleep(0.05)
        p.kill()
        out = (await p.communicate())[0]
        await front.close()
        assert echo.seen and echo.seen[0][0] == b"hello from s_client\n", out[-2000:]
        assert any("connected" in x for x in logs), logs
    run(go())


def test_garbage_never_breaks_the_server_side():
    # Bad input from the network: logged or dropped, never raised; a good
    # handshake still works afterwards on the same front.
    import random
    from andlink_tools.dtlsserver import ServerSession, Cookies
    r = random.Random(11)
    cookies = Cookies()
    for i in range(400):
        d = bytes(r.getrandbits(8) for _ in range(r.randrange(0, 80)))
        if i % 3 == 0 and len(d) > 13:
            d = bytes((22, 0xFE, 0xFD)) + d[3:]
        cookies.check(d, ("127.0.0.1", 1))
        s = ServerSession({IMEI: KEY}.get)
        s.receive(d)
        s.outgoing()

    async def go():
        echo, backend = await echo_backend()
        front = await DtlsFront(backend, {IMEI: KEY}.get, log=lambda t: None).start((HOST, 0))
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(200):
            u.sendto(bytes(r.getrandbits(8) for _ in range(r.randrange(1, 60))), front.address)
        u.close()
        await asyncio.sleep(0.1)
        c, tr = await device(front)
        assert c.s.state == CONNECTED
        tr.close()
        await front.close()
    run(go())


def test_mutated_handshakes_never_raise():
    # Every byte of a real client's flights flipped in turn: the server side
    # fails the handshake or drops the record, and never raises.
    import random
    from andlink_tools.dtlsserver import ServerSession
    r = random.Random(3)
    cl = Session(IMEI, KEY, rng=lambda n: bytes(n))
    cl.start(0)
    hello = cl.outgoing()[0]
    srv = ServerSession({IMEI: KEY}.get, rng=lambda n: bytes(n))
    flight = srv.receive(hello) or srv.outgoing()
    cl.receive(srv.outgoing()[0] if not flight else flight[0], 0)
    final = cl.outgoing()
    for base in [hello] + final:
        for i in range(len(base)):
            for _ in range(2):
                m = bytearray(base)
                m[i] ^= 1 << r.randrange(8)
                s = ServerSession({IMEI: KEY}.get)
                s.receive(hello)
                s.outgoing()
                s.receive(bytes(m))
                s.outgoing()
                s.events()
