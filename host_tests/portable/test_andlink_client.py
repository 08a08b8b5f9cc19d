"""The And-link LwM2M client's registration and device management flows
(lib/andlink/client: register.py, dm.py) against a scripted server
(fakelwm2m.py), bytes in and out: Register, Update, De-register (And-link
spec 4.1.4, 6.3, 6.4), client-initiated Bootstrap (4.1.1-4.1.3, 6.1, 6.2),
the reads of 4.1.5, Write, Execute, Discover, Create, Delete (4.2, 6.5-6.8),
queue mode, bad input.  OMA LwM2M interoperability test IDs (the
LightweightM2M-1.0-int-* cases) are named where a test corresponds to one.
Portable."""

from andlink import coap as C
from andlink.lwm2m.codes import TLV, TEXT, LINK
from fakelwm2m import Link, client, make_store, MemPersist, SRV, BS, IMEI, TOKEN, DTYPE


def test_register_query_and_payload():
    # LightweightM2M-1.0-int-101 Initial Registration; And-link 4.1.4, 6.3.4
    L = Link(client())
    reg = L.register()
    assert reg.mtype == C.CON and reg.content_format == C.LINK_FORMAT
    assert sorted(reg.queries) == sorted(["ep=" + IMEI, "lt=86400", "lwm2m=1.0", "b=U"])
    links = bytes(reg.payload).decode().split(",")
    assert links[0] == '</>;rt="oma.lwm2m"'
    for inst in ("</1/0>", "</3/0>", "</4/0>", "</5/0>", "</6/0>", "</7/0>", "</19/1>"):
        assert inst in links, links
    assert not [x for x in links if x.startswith("</0")]        # the Security object is never listed
    assert L.c.location == "/rd/5a3f" and L.events("registered") == [("registered", "/rd/5a3f")]


def test_platform_reads_at_registration_before_the_201():
    # And-link 3.5 / 4.1.5: the platform authenticates by /3/0/17 and /3/0/1 and
    # reads the registration resources, possibly before it answers the Register.
    L = Link(client())
    L.c.start(0)
    reg = L.one(SRV)
    want = {"/3/0/1": TOKEN, "/3/0/17": DTYPE, "/3/0/2": "SN0001", "/3/0/3": "BC95-1.0", "/3/0/19": "1.0.0",
            "/4/0/8": "123456"}
    for path, value in want.items():
        r = L.ask(C.GET, path, accept=TEXT)
        assert r.code == C.CONTENT and bytes(r.payload).decode() == value, path
    r = L.ask(C.GET, "/19/1/0")
    assert r.code == C.CONTENT and r.content_format == C.SENML_JSON and bytes(r.payload) == b'{"power":200}'
    L.answer(reg, C.CREATED, opts=[(C.LOCATION_PATH, "rd"), (C.LOCATION_PATH, "7")])
    assert L.c.registered and L.c.location == "/rd/7"


def test_requests_ignored_before_registering_and_from_strangers():
    # 4.2.1.1: before registration the device ignores management requests (4.01 here)
    c = client()
    L = Link(c)
    assert L.ask(C.GET, "/3/0/1").code == C.UNAUTHORIZED
    L.register()
    assert L.ask(C.GET, "/3/0/1", peer=("203.0.113.9", 5683)).code == C.UNAUTHORIZED
    assert L.ask(C.GET, "/3/0/1").code == C.CONTENT


def test_update_before_the_lifetime_ends():
    # LightweightM2M-1.0-int-102 Registration Update; 6.4: POST /rd/5a3f, no payload
    L = Link(client(lifetime=300))
    L.register()
    L.clear()
    L.advance(300 - 93 - 1)         # due at lifetime - MAX_TRANSMIT_WAIT (93 s, 3.4)
    L.none()
    L.advance(1)
    upd = L.one(SRV)
    assert upd.code == C.POST and upd.path == "/rd/5a3f" and upd.queries == [] and not upd.payload
    L.answer(upd, C.CHANGED)
    assert L.events("updated")
    L.advance(300 - 93 - 1)
    L.none()
    L.advance(1)
    assert L.one(SRV).path == "/rd/5a3f"


def test_update_carries_what_changed():
    # TS 1.0 5.3.2: lt= after a Write of /1/0/1, the payload after a new instance
    L = Link(client())
    L.register()
    r = L.ask(C.PUT, "/1/0/1", payload=b"60", cf=TEXT)
    assert r.code == C.CHANGED
    L.advance(0)
    upd = L.one(SRV)
    assert upd.path == "/rd/5a3f" and upd.queries == ["lt=60"] and not upd.payload
    L.answer(upd, C.CHANGED)
    L.c.store.add(19, 2, {0: "{}"})
    L.advance(0)
    upd = L.one(SRV)
    assert upd.queries == [] and b"</19/2>" in bytes(upd.payload) and upd.content_format == LINK
    L.answer(upd, C.CHANGED)
    assert L.ask(C.POST, "/1/0/8").code == C.CHANGED     # Registration Update Trigger
    L.advance(0)
    assert L.one(SRV).path == "/rd/5a3f"


def test_update_404_registers_again():
    # LightweightM2M-1.0-int-102 (failure path): 6.4 4.04 Not Found -> Register
    L = Link(client(lifetime=200))
    L.register()
    L.clear()
    L.advance(200 - 93)
    upd = L.one(SRV)
    L.answer(upd, C.NOT_FOUND)
    reg = L.one(SRV)
    assert reg.path == "/rd" and not L.c.registered
    assert ("update_failed", "4.04") in L.events()
    L.answer(reg, C.CREATED, opts=[(C.LOCATION_PATH, "rd"), (C.LOCATION_PATH, "b")])
    assert L.c.location == "/rd/b"


def test_update_timeout_registers_again():
    L = Link(client(lifetime=200))
    L.register()
    L.clear()
    L.advance(200 - 93)
    upd = L.one(SRV)
    L.advance(94)                   # 5 retransmissions within MAX_TRANSMIT_WAIT, then given up
    sent = L.sent()
    assert [m.path for m, _ in sent][:4] == ["/rd/5a3f"] * 4 and sent[-1][0].path == "/rd"
    assert upd is not None and L.events("update_failed")[0][1] == "timeout"


def test_deregister():
    # LightweightM2M-1.0-int-103 De-registration; 3.3: DELETE /location
    L = Link(client())
    L.register()
    assert L.c.deregister(L.t)
    d = L.one(SRV)
    assert d.code == C.DELETE and d.path == "/rd/5a3f"
    L.answer(d, C.DELETED)
    assert L.events("deregistered") == [("deregistered", "2.02")] and not L.c.registered
    assert L.c.deadline() is None
    assert not L.c.deregister(L.t)


def test_register_refused_backs_off_without_bootstrap():
    L = Link(client())
    L.c.start(0)
    L.answer(L.one(SRV), C.FORBIDDEN)
    assert L.events("register_failed") == [("register_failed", "4.03")]
    L.advance(29)
    L.none()
    L.advance(1)                    # retry_first 30 s, then 60 s
    L.answer(L.one(SRV), C.BAD_REQUEST)
    L.advance(59)
    L.none()
    L.advance(1)
    assert L.one(SRV).path == "/rd"


def _bootstrap(L, server="coap://192.0.2.10:5683", lifetime=120):
    """The Bootstrap-Server's side: answer the request, write /0/1 and /1/0, finish."""
    from andlink.lwm2m import tlv
    from andlink.lwm2m.codes import T_STRING, T_BOOL, T_INT, T_OPAQUE
    req = L.one(BS)
    assert req.code == C.POST and req.path == "/bs" and req.queries == ["ep=" + IMEI]    # 6.1.4
    L.answer(req, C.CHANGED, peer=BS)
    sec = tlv.encode([((0, 1, 0), T_STRING, server), ((0, 1, 1), T_BOOL, False), ((0, 1, 2), T_INT, 3),
                      ((0, 1, 3), T_OPAQUE, b""), ((0, 1, 10), T_INT, 1)], 2)
    assert L.ask(C.PUT, "/0/1", peer=BS, payload=sec, cf=TLV).code == C.CHANGED
    srv = tlv.encode([((1, 0, 0), T_INT, 1), ((1, 0, 1), T_INT, lifetime), ((1, 0, 6), T_BOOL, False),
                      ((1, 0, 7), T_STRING, "U")], 2)
    assert L.ask(C.PUT, "/1/0", peer=BS, payload=srv, cf=TLV).code == C.CHANGED
    return L.ask(C.POST, "/bs", peer=BS)


def test_client_initiated_bootstrap_then_register():
    # LightweightM2M-1.0-int-0 (Client Initiated Bootstrap); And-link 4.1.1-4.1.3, 6.1, 6.2
    p = MemPersist()
    L = Link(client(server=None, bootstrap=BS, persist=p))
    L.c.start(0)
    fin = _bootstrap(L, lifetime=120)
    assert fin.code == C.CHANGED
    reg = L.one(SRV)
    assert reg.path == "/rd" and "lt=120" in reg.queries
    L.answer(reg, C.CREATED, opts=[(C.LOCATION_PATH, "rd"), (C.LOCATION_PATH, "1")])
    assert L.c.registered and p.d["srv"] == "192.0.2.10:5683"
    # the Security object stays hidden from the server
    assert L.ask(C.GET, "/0/1/0").code == C.UNAUTHORIZED
    # a restart registers straight away with what the bootstrap gave (kept in the record)
    L2 = Link(client(server=None, bootstrap=BS, persist=p))
    L2.c.start(0)
    reg = L2.one(SRV)
    assert reg.path == "/rd" and "lt=120" in reg.queries


def test_bootstrap_after_failed_registration():
    # 4.1.1: registering to the server fails (its CoAP retransmissions ran out) -> Bootstrap
    L = Link(client(bootstrap=BS))
    L.c.start(0)
    assert L.one(SRV).path == "/rd"
    L.advance(94)
    sent = L.sent()
    assert [p for _, p in sent[:-1]] == [SRV] * 4 and sent[-1][1] == BS and sent[-1][0].path == "/bs"
    assert L.events("register_failed")[0][1] == "timeout"
    L.deliver(C.Message(C.ACK, C.CHANGED, sent[-1][0].mid, sent[-1][0].token), BS)
    from andlink.lwm2m import tlv
    from andlink.lwm2m.codes import T_STRING
    payload = tlv.encode([((0, 1, 0), T_STRING, "coap://192.0.2.11:5683")], 3)
    assert L.ask(C.PUT, "/0/1/0", peer=BS, payload=payload, cf=TLV).code == C.CHANGED
    assert L.ask(C.POST, "/bs", peer=BS).code == C.CHANGED
    assert L.one(("192.0.2.11", 5683)).path == "/rd"


def test_bootstrap_finish_without_a_server_is_not_acceptable():
    # 6.2.2: Bootstrap-Finish 4.06; the Bootstrap-Server's own account survives a Delete of "/"
    L = Link(client(server=None, bootstrap=BS))
    L.c.start(0)
    req = L.one(BS)
    L.answer(req, C.CHANGED, peer=BS)
    assert L.ask(C.DELETE, "/", peer=BS).code == C.DELETED
    assert L.c.store.instances(0) == [0] and L.c.store.instances(3) == [0]
    assert L.ask(C.POST, "/bs", peer=BS).code == C.NOT_ACCEPTABLE
    assert L.ask(C.DELETE, "/0/0", peer=BS).code == C.BAD_REQUEST


def test_bootstrap_without_finish_retries():
    L = Link(client(server=None, bootstrap=BS))
    L.c.start(0)
    L.answer(L.one(BS), C.CHANGED, peer=BS)
    L.advance(93)
    L.none()
    L.advance(1)
    assert L.events("bootstrap_failed") == [("bootstrap_failed", "no Bootstrap-Finish")]
    L.advance(30)
    assert L.one(BS).path == "/bs"


def test_write_execute_discover_create_delete():
    # LightweightM2M-1.0-int-201 Querying basic information (Read), -203 Write,
    # -204 Write-Attributes / Discover, -205 Execute (4.2.1, 6.5-6.8)
    hits = []
    s = make_store()
    s.bind(3, 4, execute=lambda iid, args: hits.append(("reboot", args)))
    L = Link(client(store=s))
    L.register()
    assert L.ask(C.PUT, "/3/0/13", payload=b"1700000000", cf=TEXT).code == C.CHANGED
    assert s.get((3, 0, 13)) == 1700000000
    # 6.6.4: /3/0 by TLV, two resources
    assert L.ask(C.PUT, "/3/0", payload=bytes.fromhex("c40d5a6e960bc30e2b3037"), cf=TLV).code == C.CHANGED
    assert s.get((3, 0, 14)) == "+07" and s.get((3, 0, 0)) == "ACME"
    assert L.ask(C.PUT, "/3/0/1", payload=b"x", cf=TEXT).code == C.METHOD_NOT_ALLOWED
    assert L.ask(C.POST, "/3/0/4").code == C.CHANGED and hits == [("reboot", [])]
    r = L.ask(C.GET, "/3/0", accept=LINK)
    assert r.code == C.CONTENT and r.content_format == LINK and b"</3/0/17>" in bytes(r.payload)
    assert L.ask(C.PUT, "/3/0/9", queries=["pmin=60", "pmax=120"], cf=TEXT).code == C.CHANGED     # 6.7.4
    assert b"pmin=60" in bytes(L.ask(C.GET, "/3/0/9", accept=LINK).payload)
    r = L.ask(C.POST, "/19", payload=bytes.fromhex("0800") + b"", cf=TLV)
    assert r.code in (C.CREATED, C.BAD_REQUEST)
    r = L.ask(C.POST, "/19", payload=b'{"a":1}', cf=C.SENML_JSON)
    assert r.code in (C.CREATED, C.BAD_REQUEST)
    from andlink.lwm2m import tlv
    from andlink.lwm2m.codes import T_JSON
    r = L.ask(C.POST, "/19", payload=tlv.encode([((19, 5, 0), T_JSON, '{"b":2}')], 1), cf=TLV)
    assert r.code == C.CREATED and r.get_all(C.LOCATION_PATH) == [b"19", b"5"]
    assert L.ask(C.DELETE, "/19/5").code == C.DELETED
    assert L.ask(C.DELETE, "/3/0").code == C.METHOD_NOT_ALLOWED
    assert L.ask(C.GET, "/9/0").code == C.NOT_FOUND
    assert L.ask(C.GET, "/3/0/abc").code == C.BAD_REQUEST
    ops = [e[1] for e in L.events("op")]
    assert "write" in ops and "execute" in ops and "discover" in ops and "create" in ops and "delete" in ops


def test_read_with_param_and_large_read_goes_blockwise():
    # 4.2.2.2: /19/1/0?p=power; RFC 7959 Block2 for a read over 1024 bytes
    s = make_store()
    seen = []
    s.bind(19, 0, read=lambda iid, p: seen.append(p) or '{"power":200}')
    s.set((3, 0, 18), "h" * 1500)
    L = Link(client(store=s))
    L.register()
    r = L.ask(C.GET, "/19/1/0", queries=["p=power"])
    assert r.code == C.CONTENT and seen[-1] == "power"
    r = L.ask(C.GET, "/3/0/18", accept=TEXT)
    from andlink.coapblock import get_block
    assert get_block(r, C.BLOCK2) == (0, True, 5) and len(r.payload) == 512 and r.uint(C.SIZE2) == 1500
    r = L.ask(C.GET, "/3/0/18", accept=TEXT, opts=[(C.BLOCK2, (2 << 4) | 5)])
    assert get_block(r, C.BLOCK2) == (2, False, 5) and len(r.payload) == 1500 - 1024


def test_queue_mode_sleeps_after_the_window_and_wakes_to_send():
    # LwM2M TS 1.0 8.3 (binding UQ); And-link 6.3.4's example registers with b=UQ
    L = Link(client(binding="UQ", lifetime=3600))
    reg = L.register()
    assert "b=UQ" in reg.queries
    L.advance(92)
    assert not L.c.asleep
    L.advance(1)
    assert L.c.asleep and L.events("sleep") == [("sleep",)]
    L.clear()
    L.advance(3600 - 360 - 93 - 1)      # nothing goes out while asleep, until the Update is due
    L.none()
    L.advance(1)
    upd = L.one(SRV)
    assert upd.path == "/rd/5a3f" and not L.c.asleep and L.events("awake") == [("awake",)]
    L.answer(upd, C.CHANGED)
    L.advance(93)
    assert L.c.asleep
    L.c.send({"power": 18}, L.t)        # an uplink wakes it
    assert not L.c.asleep and L.one(SRV).path == "/dp"


def test_never_crashes_on_bad_input():
    L = Link(client(bootstrap=BS))
    L.register()
    good = [C.encode(C.Message(C.CON, C.GET, 5, b"ab", options=[(C.URI_PATH, b"3"), (C.URI_PATH, b"0")])),
            C.encode(C.Message(C.CON, C.PUT, 6, b"ab", b"\xff\x00", [(C.URI_PATH, b"1"), (C.URI_PATH, b"0"),
                                                                     (C.CONTENT_FORMAT, b"\x2d\x16")])),
            C.encode(C.Message(C.ACK, C.CREATED, 7, b"x", options=[(C.LOCATION_PATH, b"\xff\xfe")]))]
    seed = 1
    for i in range(400):
        raw = bytearray(good[i % len(good)])
        for _ in range(1 + i % 3):
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            raw[seed % len(raw)] = (seed >> 8) & 255
        for peer in (SRV, BS):
            L.c.receive(bytes(raw), L.t, peer)
            L.c.receive(bytes(raw[:seed % (len(raw) + 1)]), L.t, peer)
        L.clear()
        L.log = []
    assert L.c.registered
    assert L.ask(C.GET, "/3/0/1").code == C.CONTENT


def test_server_written_lifetime_and_binding_outlive_a_restart():
    # TS 1.0 5.3 / E.2: /1/0/1 and /1/0/7 are the server's to write; the
    # Register after a restart carries what it wrote, until a new bootstrap.
    p = MemPersist()
    L = Link(client(persist=p, lifetime=86400))
    L.register()
    assert L.ask(C.PUT, "/1/0/1", payload=b"3600", cf=TEXT).code == C.CHANGED
    assert L.ask(C.PUT, "/1/0/7", payload=b"UQ", cf=TEXT).code == C.CHANGED
    L.advance(0.1)
    upd = L.one(SRV)
    assert "lt=3600" in upd.queries and "b=UQ" in upd.queries
    L2 = Link(client(persist=p, lifetime=86400))
    L2.c.start(0)
    reg = L2.one(SRV)
    assert "lt=3600" in reg.queries and "b=UQ" in reg.queries
    assert L2.c.store.get((1, 0, 1)) == 3600
