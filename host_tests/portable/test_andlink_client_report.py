"""The And-link client's information reporting (lib/andlink/client/report.py)
against a scripted server: Observe and notifications under the attributes
of Write-Attributes (And-link spec 4.3.1, 6.7, 6.9-6.11; RFC 7641), the
ways an observation ends, and Send to /dp (4.3.2).  OMA LwM2M
interoperability test IDs named where a test corresponds to one.
Portable."""

from andlink import coap as C
from andlink.lwm2m.codes import TEXT, TLV
from fakelwm2m import Link, client, make_store, SRV, IMEI


def _notes(L, token=None):
    return [m for m, p in L.sent() if m.code >> 5 in (2, 4) and m.mtype in (C.CON, C.NON)
            and (token is None or m.token == token)]


def test_observe_and_notify_on_change():
    # LightweightM2M-1.0-int-301 Observation and notification of parameter values;
    # 6.9.4: the response carries Observe; 6.11.4: NON 2.05 with Observe
    L = Link(client())
    L.register()
    r = L.ask(C.GET, "/3/0/9", observe=0, accept=TEXT, token=b"\xa9\xc5\x1b")
    assert r.code == C.CONTENT and r.has(C.OBSERVE) and bytes(r.payload) == b"80"
    L.advance(5)
    assert _notes(L) == []                  # nothing changed, no pmax
    L.c.store.set((3, 0, 9), 75)
    L.advance(0)
    n = _notes(L)
    assert len(n) == 1 and n[0].mtype == C.NON and n[0].token == b"\xa9\xc5\x1b"
    assert bytes(n[0].payload) == b"75" and n[0].observe > r.observe
    L.c.store.set((3, 0, 9), 75)            # the same value: nothing
    L.advance(1)
    assert _notes(L) == []


def test_pmin_pmax():
    # LightweightM2M-1.0-int-302 / -303 (notifications with pmin and pmax), 6.7
    L = Link(client())
    L.register()
    assert L.ask(C.PUT, "/3/0/9", queries=["pmin=10", "pmax=30"]).code == C.CHANGED
    L.ask(C.GET, "/3/0/9", observe=0, token=b"o1")
    L.c.store.set((3, 0, 9), 70)
    L.advance(9)
    assert _notes(L) == []                  # held back by pmin
    L.advance(1)
    assert [bytes(m.payload) for m in _notes(L)] == [b"70"]
    L.advance(29)
    assert _notes(L) == []
    L.advance(1)
    assert [bytes(m.payload) for m in _notes(L)] == [b"70"]      # pmax: the same value again


def test_gt_lt_st():
    # 6.7.3: greater than, less than, step
    L = Link(client())
    L.register()
    assert L.ask(C.PUT, "/3/0/9", queries=["gt=50", "lt=20"]).code == C.CHANGED
    L.ask(C.GET, "/3/0/9", observe=0, token=b"o2")
    s = L.c.store
    got = []
    for v in (70, 60, 40, 45, 10, 15, 55):
        s.set((3, 0, 9), v)
        L.advance(1)
        got += [int(bytes(m.payload)) for m in _notes(L)]
    assert got == [40, 10, 55]              # crossing 50 down, 20 down, 20 up and 50 up at once
    assert L.ask(C.PUT, "/3/0/9", queries=["gt", "lt", "st=5"]).code == C.CHANGED
    got = []
    for v in (57, 59, 61, 50):
        s.set((3, 0, 9), v)
        L.advance(1)
        got += [int(bytes(m.payload)) for m in _notes(L)]
    assert got == [61, 50]
    assert L.ask(C.PUT, "/3/0/9", queries=["gt=10", "lt=20"]).code == C.BAD_REQUEST     # lt >= gt


def test_cancel_by_observe_1_by_get_and_by_rst():
    # 6.10 Cancel Observation (Observe 1; also with a new token on the same path),
    # a GET without Observe on the token, RST to a notification (RFC 7641 3.6)
    L = Link(client())
    L.register()
    s = L.c.store
    L.ask(C.GET, "/3/0/9", observe=0, token=b"t1")
    r = L.ask(C.GET, "/3/0/9", observe=1, token=b"t1")
    assert r.code == C.CONTENT and not r.has(C.OBSERVE)
    s.set((3, 0, 9), 1)
    L.advance(1)
    assert _notes(L) == []
    L.ask(C.GET, "/3/0/9", observe=0, token=b"t2")
    L.ask(C.GET, "/3/0/9", observe=1, token=b"t3")          # another token, the same path
    s.set((3, 0, 9), 2)
    L.advance(1)
    assert _notes(L) == []
    L.ask(C.GET, "/3/0/9", observe=0, token=b"t4")
    L.ask(C.GET, "/3/0/9", token=b"t4")                     # a plain GET on its token
    s.set((3, 0, 9), 3)
    L.advance(1)
    assert _notes(L) == []
    L.ask(C.GET, "/3/0/9", observe=0, token=b"t5")
    s.set((3, 0, 9), 4)
    L.advance(1)
    n = _notes(L)
    assert len(n) == 1
    L.deliver(C.Message(C.RST, C.EMPTY, n[0].mid))
    s.set((3, 0, 9), 5)
    L.advance(1)
    assert _notes(L) == []
    assert [e[2] for e in L.events("cancel")] == ["server", "server", "server", "reset"]


def test_firmware_state_notifications_are_con_and_a_timeout_ends_them():
    # 4.3.1.2: /5/0/3 must be observable; CON so the FOTA flow hears every state
    L = Link(client())
    L.register()
    L.ask(C.GET, "/5/0/3", observe=0, token=b"fw")
    L.c.store.set((5, 0, 3), 1)
    L.advance(0)
    n = _notes(L)
    assert len(n) == 1 and n[0].mtype == C.CON and bytes(n[0].payload) == b"1"
    L.advance(94)                           # never acknowledged: given up (RFC 7641 4.5)
    L.sent()
    assert ("cancel", "/5/0/3", "timeout") in L.events()


def test_instance_observation_and_target_gone():
    # 6.9.4: observe an object instance (TLV); a deleted target ends it with 4.04
    L = Link(client())
    L.register()
    L.c.store.add(19, 3, {0: "{}"})
    r = L.ask(C.GET, "/19/3", observe=0, accept=TLV, token=b"in")
    assert r.code == C.CONTENT and r.content_format == TLV
    L.c.store.set((19, 3, 0), '{"a":1}')
    L.advance(0)
    n = _notes(L)
    assert len(n) == 1 and n[0].content_format == TLV
    L.c.store.remove(19, 3)
    L.advance(0)
    n = _notes(L)
    assert len(n) == 1 and n[0].code == C.NOT_FOUND
    assert ("cancel", "/19/3", "gone") in L.events()


def test_observations_bounded_and_cleared_by_a_new_registration():
    c = client()
    c.max_obs = 2
    L = Link(c)
    L.register()
    for i in range(3):
        r = L.ask(C.GET, "/3/0/%d" % (9, 10, 2)[i], observe=0, token=bytes((i + 1,)))
        assert r.code == C.CONTENT and r.has(C.OBSERVE) == (i < 2)
    L.c.reregister(L.t)
    L.answer(L.one(SRV), C.CREATED, opts=[(C.LOCATION_PATH, "rd"), (C.LOCATION_PATH, "x")])
    L.c.store.set((3, 0, 9), 1)
    L.advance(1)
    assert _notes(L) == []


def test_changed_tells_about_a_callback_value():
    s = make_store()
    box = [10]
    s.bind(3, 20, read=lambda iid: box[0])
    L = Link(client(store=s))
    L.register()
    L.ask(C.GET, "/3/0/20", observe=0, token=b"bs")
    box[0] = 11
    L.c.changed((3, 0, 20))
    assert L.c.deadline() <= L.t
    L.advance(0)
    assert [bytes(m.payload) for m in _notes(L)] == [b"11"]


def test_send_to_dp():
    # And-link 4.3.2 (Send, 6.x example): POST /dp?ep=IMEI, SenML JSON
    L = Link(client())
    assert L.c.send({"power": 18}, 0) is None           # not registered: nothing sent
    L.register()
    tok = L.c.send([("power", 18), ("temperature", "20.5")], L.t)
    m = L.one(SRV)
    assert m.code == C.POST and m.mtype == C.CON and m.path == "/dp" and m.queries == ["ep=" + IMEI]
    assert m.content_format == C.SENML_JSON
    assert bytes(m.payload) == b'[{"n":"/19/1/0","vs":{"power":18,"temperature":"20.5"}}]'
    L.answer(m, C.CHANGED)
    assert L.events("sent") == [("sent", tok)]
    tok = L.c.send('{"power":1}', L.t)
    L.answer(L.one(SRV), C.BAD_REQUEST)
    assert L.events("send_failed") == [("send_failed", tok, "4.00")]
    tok = L.c.send('{"power":2}', L.t)
    L.answer(L.one(SRV), C.NOT_FOUND)                   # 4.3.2: not registered -> Register again
    assert L.one(SRV).path == "/rd"


def test_send_over_the_payload_limit_goes_block1():
    # RFC 7959 Block1 when a Send is over MAX_MESSAGE_SIZE (3.4)
    L = Link(client())
    L.register()
    tok = L.c.send({"blob": "x" * 1500}, L.t)
    from andlink.coapblock import get_block
    m = L.one(SRV)
    assert get_block(m, C.BLOCK1) == (0, True, 5) and m.uint(C.SIZE1) > 1024
    L.answer(m, C.CONTINUE, opts=[(C.BLOCK1, 0x0D)])
    m = L.one(SRV)
    assert get_block(m, C.BLOCK1)[0] == 1
    L.answer(m, C.CONTINUE, opts=[(C.BLOCK1, 0x1D)])
    m = L.one(SRV)
    assert get_block(m, C.BLOCK1)[:2] == (2, False)
    L.answer(m, C.CHANGED, opts=[(C.BLOCK1, 0x25)])
    assert L.events("sent") == [("sent", tok)]


def test_attributes_in_the_observe_query_are_written_first():
    # And-link spec 4.4.2: the platform subscribes as GET /5/0/3?pmax=10 with Observe 0:
    # the query's attributes apply to the observation (a notification at pmax though
    # nothing changed); an attribute that is not valid refuses the Observe with 4.00
    L = Link(client())
    L.register()
    r = L.ask(C.GET, "/3/0/9", observe=0, accept=TEXT, queries=("pmax=10",), token=b"\x51")
    assert r.code == C.CONTENT and r.has(C.OBSERVE)
    assert L.c.store.attributes((3, 0, 9))[1] == 10
    L.advance(11)
    assert len(_notes(L, b"\x51")) == 1
    r = L.ask(C.GET, "/3/0/9", observe=0, accept=TEXT, queries=("pmax=soon",), token=b"\x52")
    assert r.code == C.BAD_REQUEST and not r.has(C.OBSERVE)


def test_observations_made_before_the_201_survive_it():
    # 4.1.5: the platform observes while its 2.01 is still on the way (or lost
    # and the Register retransmitted): those observations belong to the new
    # registration; only the old registration's end (TS 1.0 5.5).
    L = Link(client())
    L.register()
    assert L.ask(C.GET, "/3/0/9", observe=0).code == C.CONTENT       # the old registration's
    L.c.reregister(L.t)
    reg = L.one(SRV)
    assert L.ask(C.GET, "/3/0/11", observe=0).code == C.CONTENT      # before the 2.01
    L.answer(reg, C.CREATED, opts=[(C.LOCATION_PATH, "rd"), (C.LOCATION_PATH, "2")])
    assert L.c.registered
    assert [o.path for o in L.c._obs] == [(3, 0, 11)]
