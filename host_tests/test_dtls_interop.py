"""The DTLS-PSK client of lib/andlink/dtls (And-link spec section 3.5) against
independent DTLS implementations on loopback UDP: OpenSSL's `openssl
s_server` and libcoap's coap-server built on OpenSSL and on GnuTLS (Debian's
libcoap3-bin, installed by `make setup`; skipped with the reason where
missing).  Both cipher suites of 3.5, the cookie exchange libcoap always
asks for, lost flights sent again, a wrong key, CoAP requests over the
session (the sans-I/O CoAP endpoint inside the DTLS session), and the same
session on the real MicroPython port."""
import os
import select
import shutil
import socket
import subprocess
import sys
import time

import pytest

from andlink import coap as C
from andlink.coapendpoint import Endpoint
from andlink.dtls.session import Session, CCM8, CBC256, CONNECTED, FAILED

HOST = "127.0.0.1"
KEY = b"secretPSK"
IMEI = b"869976032983322"
OPENSSL = shutil.which("openssl")
SERVERS = [b for b in ("openssl", "gnutls") if shutil.which("coap-server-" + b)]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_openssl = pytest.mark.skipif(not OPENSSL, reason="the openssl command is missing (apt-get install openssl)")


def free_port(pair=False):
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((HOST, 0))
        port = s.getsockname()[1]
        s.close()
        if not pair or port < 65000:
            return port


def wait_udp_bound(port, proc, timeout=5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("server exited: %r" % (proc.communicate(timeout=1),))
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.bind((HOST, port))
        except OSError:
            return                      # taken: the server is up
        finally:
            probe.close()
        time.sleep(0.05)
    raise RuntimeError("server did not bind %d" % port)


def drive(s, peer, until, drop_in=(), limit=10.0, ep=None, sock=None):
    """Run session `s` (and the CoAP endpoint `ep` inside it) over the UDP
    socket `sock` (a new one when None, closed at the end) until `until(app)`
    is true, `app` the plaintext received; received datagrams whose index is
    in drop_in are lost.  A session not started yet is started."""
    u = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(0.05)
    t0 = time.monotonic()
    if s._cr is None:
        s.start(0)
    n = 0
    app = []
    try:
        while not until(app) and time.monotonic() - t0 < limit and s.state not in (FAILED,):
            now = time.monotonic() - t0
            if ep is not None:
                ep.tick(now)
                for d, _ in ep.outgoing():
                    s.send(d, now)
            s.tick(now)
            for d in s.outgoing():
                u.sendto(d, peer)
            try:
                d, _ = u.recvfrom(4096)
            except socket.timeout:
                continue
            n += 1
            if n - 1 in drop_in:
                continue
            for p in s.receive(d, time.monotonic() - t0):
                app.append(p)
                if ep is not None:
                    ep.receive(p, time.monotonic() - t0, peer)
    finally:
        if sock is None:
            u.close()
    return app


def output_until(proc, text, timeout=5.0):
    """What `proc` printed, read until `text` appears or `timeout` passes;
    then the process is killed.  Killing at once raced with s_server still
    reading the datagram that carries `text`."""
    fd = proc.stdout.fileno()
    out = b""
    end = time.monotonic() + timeout
    while text not in out and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            out += chunk
    proc.kill()
    return out + proc.communicate()[0]


@pytest.fixture
def s_server():
    procs = []

    def start(cipher):
        port = free_port()
        p = subprocess.Popen([OPENSSL, "s_server", "-dtls1_2", "-nocert", "-psk", KEY.hex(), "-cipher", cipher,
                              "-accept", "%s:%d" % (HOST, port), "-quiet"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(p)
        wait_udp_bound(port, p)
        return p, (HOST, port)
    yield start
    for p in procs:
        p.kill()
        p.wait()


@needs_openssl
@pytest.mark.parametrize("suite,cipher", [(CCM8, "PSK-AES128-CCM8"), (CBC256, "PSK-AES128-CBC-SHA256")])
def test_openssl_s_server_both_suites(s_server, suite, cipher):
    # 3.5: both suites; application data both ways.
    proc, peer = s_server(cipher)
    s = Session(IMEI, KEY, timeout=1)
    s.send(b"uplink over DTLS\n", 0)            # queued until the handshake ends
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        drive(s, peer, lambda app: s.state == CONNECTED, sock=u)
        assert s.state == CONNECTED and s.suite == suite, s.error
        proc.stdin.write(b"downlink\n")
        proc.stdin.flush()
        app = drive(s, peer, lambda app: app, sock=u)
    finally:
        u.close()
    assert app == [b"downlink\n"]
    assert b"uplink over DTLS" in output_until(proc, b"uplink over DTLS")


@pytest.fixture
def coap_server(tmp_path):
    procs = []

    def start(backend, key=KEY):
        port = free_port()
        while port >= 65534:
            port = free_port()
        p = subprocess.Popen(["coap-server-" + backend, "-A", HOST, "-p", str(port), "-k", key.decode(),
                              "-v", "4"], cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(p)
        wait_udp_bound(port + 1, p)
        return (HOST, port + 1)                 # libcoap: coaps on port + 1
    yield start
    for p in procs:
        p.kill()
        p.wait()


needs_coap_server = pytest.mark.skipif(
    not SERVERS, reason="libcoap's coap-server-openssl/-gnutls missing: run 'make setup' as root "
                        "(apt-get install libcoap3-bin)")


def coap_get(backend, coap_server, drop_in=(), suites=(CCM8, CBC256)):
    peer = coap_server(backend)
    s = Session(IMEI, KEY, timeout=0.5, suites=suites)
    ep = Endpoint(params=C.Params(ack_timeout=1))
    ep.request(C.Message(code=C.GET).set_path("/"), 0, peer)
    drive(s, peer, lambda app: app, drop_in=drop_in, ep=ep)
    assert s.state == CONNECTED, s.error
    ev = [e for e in ep.events() if e[0] == "response"]
    assert ev and ev[0][2].code == C.CONTENT
    return s, ev[0][2]


@needs_coap_server
@pytest.mark.parametrize("backend", SERVERS)
def test_coap_get_over_dtls_with_libcoap(backend, coap_server):
    # 3.5: CoAP over DTLS (coaps, the cookie exchange of RFC 6347 4.2.1).
    s, resp = coap_get(backend, coap_server)
    assert s.suite == CCM8                     # the first offered, the LwM2M mandatory suite
    assert b"libcoap" in resp.payload


@pytest.mark.skipif("gnutls" not in SERVERS, reason="coap-server-gnutls missing (apt-get install libcoap3-bin)")
def test_cbc_suite_with_libcoap_gnutls(coap_server):
    # libcoap's OpenSSL build refuses the CBC suite (alert 40, its cipher
    # list); its GnuTLS build and `openssl s_server` (above) take it.
    s, resp = coap_get("gnutls", coap_server, suites=(CBC256,))
    assert s.suite == CBC256


@needs_coap_server
@pytest.mark.parametrize("backend", SERVERS)
def test_lost_server_flights_are_recovered(backend, coap_server):
    # RFC 6347 4.2.4: the HelloVerifyRequest and the ServerHello flight lost;
    # our ClientHellos go again on the timer and the handshake completes.
    s, resp = coap_get(backend, coap_server, drop_in=(0, 1))
    assert resp.code == C.CONTENT


@needs_coap_server
@pytest.mark.parametrize("backend", SERVERS)
def test_wrong_key_fails_cleanly(backend, coap_server):
    peer = coap_server(backend)
    s = Session(IMEI, b"not the key", timeout=0.3, tries=3)
    drive(s, peer, lambda app: False, limit=8)
    assert s.state == FAILED
    (ev,) = s.events()
    assert ev[0] == "failed" and ("wrong key" in ev[1] or ev[1].startswith("alert"))


MP_SCRIPT = r"""
import sys, socket, time
sys.path.insert(0, %(lib)r)
from andlink.dtls.session import Session, CONNECTED
s = Session(b"869976032983322", b"secretPSK", timeout=1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
addr = socket.getaddrinfo("127.0.0.1", %(port)d)[0][-1]
u.settimeout(0.1)
s.start(0)
t0 = time.ticks_ms()
app = []
while not app and time.ticks_diff(time.ticks_ms(), t0) < 8000:
    now = time.ticks_diff(time.ticks_ms(), t0) / 1000
    s.tick(now)
    if s.state == CONNECTED and not app:
        s.send(b"\x40\x01\x12\x34", now)        # CoAP CON GET /, mid 0x1234
    for d in s.outgoing():
        u.sendto(d, addr)
    try:
        d = u.recv(2048)
    except OSError:
        continue
    app += s.receive(d, now)
print("STATE", s.state, s.suite, s.error)
print("APP", app[0][:4].hex() if app else None)
"""


@needs_coap_server
def test_the_same_session_on_micropython(coap_server, tmp_path):
    mp = os.path.join(os.path.dirname(sys.executable), "micropython")
    if not os.path.exists(mp):
        pytest.fail("the MicroPython unix port is missing from the venv (make setup)")
    peer = coap_server(SERVERS[-1])
    script = tmp_path / "mp_dtls.py"
    script.write_text(MP_SCRIPT % {"lib": os.path.join(ROOT, "lib"), "port": peer[1]})
    p = subprocess.run([mp, str(script)], capture_output=True, text=True, timeout=60)
    assert "STATE 1 49320 None" in p.stdout, p.stdout + p.stderr      # 49320 = 0xC0A8, CCM_8
    assert "APP 6045" in p.stdout                   # an ACK with 2.05 Content


@needs_openssl
def test_session_resumed_by_openssl(s_server):
    # RFC 5246 7.3: the second session offers the first one's id; OpenSSL
    # resumes it (abbreviated handshake: no key exchange, a round trip less).
    proc, peer = s_server("PSK-AES128-CCM8")
    s = Session(IMEI, KEY, timeout=1)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        drive(s, peer, lambda app: s.state == CONNECTED, sock=u)
        assert s.state == CONNECTED and not s.resumed
        r = s.resumable()
        assert r is not None and len(r[0]) == 32
        s.close()                               # s_server takes the next client once this one closed
        for d in s.outgoing():
            u.sendto(d, peer)
    finally:
        u.close()
    s2 = Session(IMEI, KEY, timeout=1, resume=r)
    s2.send(b"after resumption\n", 0)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        drive(s2, peer, lambda app: s2.state == CONNECTED, sock=u)
        for d in s2.outgoing():
            u.sendto(d, peer)
    finally:
        u.close()
    assert s2.state == CONNECTED and s2.resumed, s2.error
    assert b"after resumption" in output_until(proc, b"after resumption")
