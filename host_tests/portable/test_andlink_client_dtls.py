"""The And-link client over DTLS with a pre-shared key (And-link spec 3.5:
coaps, PSK identity the IMEI, TLS_PSK_WITH_AES_128_CCM_8; OMA LwM2M TS 1.0
7.1): the flow andlink.client.secure between the client and a scripted DTLS
server (fakedtls.py) carrying the scripted LwM2M server (fakelwm2m.py).
Portable."""

from andlink import coap as C
from andlink.lwm2m.codes import TLV
from fakedtls import FakeDtlsServer
from fakelwm2m import Link, client, MemPersist, SRV, BS, IMEI

KEY = b"secretPSK"
PSK = (IMEI.encode(), KEY)


class SecureLink(Link):
    """Link whose peers in `servers` ({peer: FakeDtlsServer}) speak DTLS:
    what the client sends them is opened by their server before it is
    decoded, what the test delivers is sealed.  Peers in `lost` hear nothing."""

    def __init__(self, c, servers):
        Link.__init__(self, c)
        self.servers = servers
        self.lost = set()
        self.raw = []               # every (datagram, peer) the client sent

    def sent(self):
        out, self._held = self._held, []
        for _ in range(20):
            got = self.c.outgoing()
            if not got:
                break
            for raw, peer in got:
                self.raw.append((raw, peer))
                srv = self.servers.get(peer)
                if srv is None:
                    out.append((C.decode(raw), peer))
                    continue
                if peer in self.lost:
                    continue
                for r in srv.receive(raw):
                    self.c.receive(r, self.t, peer)
                for a in srv.app:
                    out.append((C.decode(a), peer))
                srv.app = []
        for m in out:
            self.log.append(m)
        self.ev.extend(self.c.events())
        return out

    def deliver(self, msg, peer=SRV):
        raw = C.encode(msg)
        srv = self.servers.get(peer)
        self.c.receive(srv.send_app(raw) if srv is not None else raw, self.t, peer)


def secure_client(**kw):
    return client(server_psk=PSK, **kw)


def test_register_over_dtls_with_the_imei_as_identity():
    # 3.5: coaps, PSK identity {IMEI}; LightweightM2M-1.0-int-101 over DTLS
    srv = FakeDtlsServer(KEY)
    L = SecureLink(secure_client(), {SRV: srv})
    reg = L.register()
    assert srv.identity == IMEI.encode()
    assert ("dtls", SRV, "connected", "TLS_PSK_WITH_AES_128_CCM_8") in L.events("dtls")
    assert "ep=" + IMEI in reg.queries
    assert all(raw[0] in (22, 20, 23) for raw, _ in L.raw)      # nothing in clear: handshake or records
    assert L.ask(C.GET, "/3/0/1").code == C.CONTENT             # the platform's reads (4.1.5) inside
    assert L.c.store.get((0, 0, 0)) == "coaps://192.0.2.10:5683" and L.c.store.get((0, 0, 2)) == 0


def test_server_losing_the_session_means_a_new_handshake():
    # RFC 6347 4.2.8 / LwM2M 7.1: the Update times out (the server lost its
    # session) -> the session is dropped; the Register that follows shakes hands again.
    srv = FakeDtlsServer(KEY)
    L = SecureLink(secure_client(lifetime=300), {SRV: srv})
    L.register()
    L.clear()
    L.lost.add(SRV)
    L.advance(300)
    assert L.events("dtls")[-1][2:] == ("failed", "a CoAP exchange timed out: a new handshake next")
    L.lost.discard(SRV)
    srv2 = L.servers[SRV] = FakeDtlsServer(KEY)
    L.advance(40)
    L.sent()
    reg = [m for m, p in L.log if m.code == C.POST and m.path == "/rd"]
    assert len({m.mid for m in reg}) == 2 and srv2.connected and srv2.hellos >= 2   # a new Register (and its retransmissions)


def test_coaps_account_without_psk_sends_nothing_in_clear():
    c = client(server=None, bootstrap=None)
    c.store.add(0, 0, {0: "coaps://192.0.2.10:5684", 1: False, 2: 3, 10: 1})     # NoSec on coaps
    c.srv_peer = ("192.0.2.10", 5684)

    c.start(0)
    assert c.outgoing() == []
    ev = [e for e in c.events() if e[0] == "dtls"]
    assert ev and ev[0][2] == "failed" and "not PSK" in ev[0][3]


def test_bootstrap_over_dtls_then_register_over_dtls():
    # 4.1.1-4.1.3 over coaps: the preset /0/0 (coaps, PSK mode, identity the
    # IMEI, 4.1.2); the Bootstrap-Server writes a coaps server account with its key.
    from andlink.lwm2m import tlv
    from andlink.lwm2m.codes import T_STRING, T_BOOL, T_INT, T_OPAQUE
    bs, srv = FakeDtlsServer(b"bs-key"), FakeDtlsServer(b"server-key")
    p = MemPersist()
    L = SecureLink(client(server=None, bootstrap=BS, bootstrap_psk=(IMEI.encode(), b"bs-key"), persist=p),
                   {BS: bs, SRV: srv})
    L.c.start(0)
    req = L.one(BS)
    assert req.path == "/bs" and bs.identity == IMEI.encode()
    L.answer(req, C.CHANGED, peer=BS)
    acct = tlv.encode([((0, 1, 0), T_STRING, "coaps://192.0.2.10:5683"), ((0, 1, 1), T_BOOL, False),
                       ((0, 1, 2), T_INT, 0), ((0, 1, 3), T_OPAQUE, IMEI.encode()),
                       ((0, 1, 5), T_OPAQUE, b"server-key"), ((0, 1, 10), T_INT, 1)], 2)
    assert L.ask(C.PUT, "/0/1", peer=BS, payload=acct, cf=TLV).code == C.CHANGED
    srvobj = tlv.encode([((1, 0, 0), T_INT, 1), ((1, 0, 1), T_INT, 600), ((1, 0, 6), T_BOOL, False),
                         ((1, 0, 7), T_STRING, "U")], 2)
    assert L.ask(C.PUT, "/1/0", peer=BS, payload=srvobj, cf=TLV).code == C.CHANGED
    assert L.ask(C.POST, "/bs", peer=BS).code == C.CHANGED
    reg = L.one(SRV)
    assert reg.path == "/rd" and srv.identity == IMEI.encode()
    L.answer(reg, C.CREATED, opts=[(C.LOCATION_PATH, "rd"), (C.LOCATION_PATH, "1")])
    assert L.c.registered
    assert L.ask(C.GET, "/0/1/5").code == C.UNAUTHORIZED         # the key never reaches the server


def test_new_link_starts_new_sessions():
    srv = FakeDtlsServer(KEY)
    L = SecureLink(secure_client(), {SRV: srv})
    L.register()
    srv2 = L.servers[SRV] = FakeDtlsServer(KEY)
    L.c.reregister(L.t)                  # the runner, after opening the link again
    reg = L.one(SRV)
    assert reg.path == "/rd" and srv2.connected


def test_garbage_from_a_coaps_peer_is_dropped():
    srv = FakeDtlsServer(KEY)
    L = SecureLink(secure_client(), {SRV: srv})
    L.register()
    L.clear()
    for d in (b"", b"\x40\x01\x00\x01", bytes(range(60)), b"\x17\xfe\xfd" + bytes(30)):
        L.c.receive(d, L.t, SRV)
    L.none()
    assert L.c.registered and L.ask(C.GET, "/3/0/1").code == C.CONTENT


def test_server_account_reuses_the_bootstrap_servers_psk():
    # 4.1.3: Security Mode, identity and key are not written for the server:
    # the device reuses the Bootstrap-Server's presets (only /0/1/0 coaps:// is written).
    from andlink.lwm2m import tlv
    from andlink.lwm2m.codes import T_STRING, T_BOOL, T_INT
    bs, srv = FakeDtlsServer(KEY), FakeDtlsServer(KEY)
    L = SecureLink(client(server=None, bootstrap=BS, bootstrap_psk=PSK), {BS: bs, SRV: srv})
    L.c.start(0)
    L.answer(L.one(BS), C.CHANGED, peer=BS)
    acct = tlv.encode([((0, 1, 0), T_STRING, "coaps://192.0.2.10:5683"), ((0, 1, 1), T_BOOL, False),
                       ((0, 1, 10), T_INT, 1)], 2)
    assert L.ask(C.PUT, "/0/1", peer=BS, payload=acct, cf=TLV).code == C.CHANGED
    srvobj = tlv.encode([((1, 0, 0), T_INT, 1), ((1, 0, 1), T_INT, 600), ((1, 0, 6), T_BOOL, False),
                         ((1, 0, 7), T_STRING, "U")], 2)
    assert L.ask(C.PUT, "/1/0", peer=BS, payload=srvobj, cf=TLV).code == C.CHANGED
    assert L.ask(C.POST, "/bs", peer=BS).code == C.CHANGED
    assert L.one(SRV).path == "/rd" and srv.connected and srv.identity == IMEI.encode()
