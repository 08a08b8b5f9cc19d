"""The sans-I/O CoAP endpoint (RFC 7252 4, 5; RFC 7641 3.6, 4) with And-link
spec section 3.4's parameters: ACK_TIMEOUT 5 s x [1, 1.5], doubling,
MAX_RETRANSMIT 4, MAX_TRANSMIT_WAIT 93 s, random first message ID and token.
Portable."""

from andlink import coap as C
from andlink.coapendpoint import Endpoint

S = "server"          # the peer our client talks to


def fill(b):
    """An rng returning `b` repeated: 0 gives ACK_TIMEOUT, 0xFF ACK_TIMEOUT * 1.5."""
    return lambda n: bytes((b,)) * n


def only(out):
    assert len(out) == 1, out
    return out[0]


def sent(ep):
    """The one datagram `ep` sent, decoded, and its peer."""
    raw, peer = only(ep.outgoing())
    return C.decode(raw), peer


def ack_for(m, code=C.EMPTY, payload=b""):
    if code == C.EMPTY:
        return C.encode(C.Message(C.ACK, C.EMPTY, m.mid))
    return C.encode(C.Message(C.ACK, code, m.mid, m.token, payload))


def get(path="/3/0/0"):
    return C.Message(code=C.GET).set_path(path)


def times_sent(ep, until, step=0.5):
    """Tick `ep` from 0 to `until`; the times at which it sent something and
    the events it raised."""
    out, ev = [], []
    t = 0
    while t <= until:
        ep.tick(t)
        if ep.outgoing():
            out.append(t)
        ev.extend(ep.events())
        t += step
    return out, ev


def test_piggybacked_response():
    # RFC 7252 5.2.1: the response in the ACK, same message ID and token.
    ep = Endpoint(rng=fill(0))
    tok = ep.request(get(), 0, S)
    m, peer = sent(ep)
    assert peer == S and m.mtype == C.CON and m.mid == 1 and m.token == tok == b"\x00\x00\x00\x01"
    assert ep.deadline() == 5
    ep.receive(ack_for(m, C.CONTENT, b"42"), 1, S)
    ev = only(ep.events())
    assert ev[0] == "response" and ev[1] == tok and ev[2].payload == b"42" and ev[3] == S
    assert ep.deadline() is None and not ep.outgoing() and ep.pending() == 0


def test_random_first_message_id_and_token():
    # And-link spec section 3.4: USE_RANDOM_MID_START, USE_RANDOM_TOKEN_START.
    a = Endpoint(rng=lambda n: bytes(range(0x12, 0x12 + n)))
    a.request(get(), 0, S)
    m = sent(a)[0]
    assert m.mid == 0x1214 and m.token == bytes((0x14, 0x15, 0x16, 0x18))
    a.request(get(), 0, "other")
    m2 = sent(a)[0]
    assert m2.mid == 0x1215 and m2.token == bytes((0x14, 0x15, 0x16, 0x19))
    b = Endpoint(rng=fill(0xFF))
    b.request(get(), 0, S)
    assert sent(b)[0].mid == 0                  # wraps at 16 bits
    c = Endpoint(params=C.Params(token_length=8), rng=fill(3))
    c.request(get(), 0, S)
    assert len(sent(c)[0].token) == 8


def test_retransmission_andlink_schedule_shortest_timeout():
    # And-link spec section 3.4 / RFC 7252 4.2: initial timeout 5 s (random factor at 1),
    # doubling: 5, 15, 35, 75; MAX_TRANSMIT_WAIT 93 s ends the wait.
    ep = Endpoint(rng=fill(0))
    tok = ep.request(get(), 0, S)
    ep.outgoing()
    out, ev = times_sent(ep, 100)
    assert out == [5, 15, 35, 75]
    assert ev == [("failed", tok, "timeout", S)]


def test_retransmission_longest_timeout_cut_by_max_transmit_wait():
    # Initial timeout 7.5 s (ACK_RANDOM_FACTOR 1.5): 7.5, 22.5, 52.5; the fourth
    # retransmission would be at 112.5 s, past MAX_TRANSMIT_WAIT 93 s.
    ep = Endpoint(rng=fill(0xFF))
    tok = ep.request(get(), 0, S)
    ep.outgoing()
    out, ev = times_sent(ep, 120)
    assert out == [7.5, 22.5, 52.5]
    assert ev == [("failed", tok, "timeout", S)]
    t = Endpoint(rng=fill(0xFF))
    t.request(get(), 0, S)
    t.outgoing()
    t.tick(92.9)
    t.outgoing()
    assert not t.events() and t.deadline() == 93


def test_retransmission_rfc_schedule_without_the_cap():
    # RFC 7252 4.2: MAX_RETRANSMIT 4 retransmissions, then give up after the fifth
    # timeout (31 x the initial one).
    ep = Endpoint(params=C.Params(max_transmit_wait=1000), rng=fill(0))
    tok = ep.request(get(), 0, S)
    ep.outgoing()
    out, ev = times_sent(ep, 160)
    assert out == [5, 15, 35, 75] and ev == [("failed", tok, "timeout", S)]
    ep2 = Endpoint(params=C.Params(max_transmit_wait=1000), rng=fill(0))
    ep2.request(get(), 0, S)
    ep2.outgoing()
    for t in (5, 15, 35, 75):
        ep2.tick(t)
    assert ep2.deadline() == 155


def test_retransmission_sends_the_same_bytes_and_ack_stops_it():
    ep = Endpoint(rng=fill(0))
    ep.request(get(), 0, S)
    first = only(ep.outgoing())
    ep.tick(5)
    assert only(ep.outgoing()) == first          # same message ID (RFC 7252 4.2)
    ep.receive(ack_for(C.decode(first[0]), C.CONTENT), 6, S)
    assert ep.events()[0][0] == "response"
    out, ev = times_sent(ep, 100)
    assert out == [] and ev == []


def test_empty_ack_then_separate_response():
    # RFC 7252 5.2.2: empty ACK, later the response as a CON with a new message ID and
    # the request's token, which we acknowledge; a duplicate of it gets the same ACK.
    ep = Endpoint(rng=fill(0))
    tok = ep.request(get(), 0, S)
    m = sent(ep)[0]
    ep.receive(ack_for(m), 1, S)
    assert ep.events() == [("acked", tok, None, S)]
    assert ep.deadline() == 1 + 93               # response_timeout: MAX_TRANSMIT_WAIT
    ep.tick(50)
    assert not ep.outgoing()                   # no retransmission once acknowledged
    sep = C.encode(C.Message(C.CON, C.CONTENT, 0x4000, tok, b"late"))
    ep.receive(sep, 60, S)
    a = sent(ep)[0]
    assert a.mtype == C.ACK and a.code == C.EMPTY and a.mid == 0x4000
    ev = only(ep.events())
    assert ev[0] == "response" and ev[2].payload == b"late" and ev[2].mtype == C.CON
    ep.receive(sep, 61, S)
    assert C.decode(only(ep.outgoing())[0]).mid == 0x4000 and not ep.events()


def test_separate_response_before_the_ack_and_as_non():
    ep = Endpoint(rng=fill(0))
    tok = ep.request(get(), 0, S)
    ep.outgoing()
    ep.receive(C.encode(C.Message(C.NON, C.CONTENT, 0x99, tok, b"x")), 1, S)
    assert ep.events()[0][0] == "response" and not ep.outgoing() and ep.deadline() is None


def test_separate_response_timeout():
    ep = Endpoint(rng=fill(0))
    tok = ep.request(get(), 0, S)
    ep.receive(ack_for(sent(ep)[0]), 1, S)
    ep.events()
    ep.tick(93.9)
    assert not ep.events()
    ep.tick(94)
    assert ep.events() == [("failed", tok, "timeout", S)]


def test_reset_fails_the_request():
    ep = Endpoint(rng=fill(0))
    tok = ep.request(get(), 0, S)
    m = sent(ep)[0]
    ep.receive(C.encode(C.Message(C.RST, C.EMPTY, m.mid)), 1, S)
    assert ep.events() == [("failed", tok, "reset", S)] and ep.deadline() is None


def test_unmatched_responses_are_rejected_and_stray_acks_ignored():
    # RFC 7252 5.3.2 / 4.2: a response that matches no request -> RST.
    ep = Endpoint(rng=fill(0))
    ep.receive(C.encode(C.Message(C.CON, C.CONTENT, 0x55, b"zz")), 0, S)
    m = sent(ep)[0]
    assert m.mtype == C.RST and m.mid == 0x55
    ep.receive(C.encode(C.Message(C.ACK, C.EMPTY, 0x56)), 0, S)
    ep.receive(C.encode(C.Message(C.ACK, C.CONTENT, 0x57, b"zz")), 0, S)
    assert not ep.outgoing() and not ep.events()
    # a response from another peer does not match our request
    tok = ep.request(get(), 0, S)
    ep.outgoing()
    ep.receive(C.encode(C.Message(C.NON, C.CONTENT, 0x58, tok)), 0, "elsewhere")
    assert not ep.events() and sent(ep)[0].mtype == C.RST


def test_non_request():
    # RFC 7252 4.3 / 5.2.3: sent once, the response comes as NON.
    ep = Endpoint(rng=fill(0))
    tok = ep.request(get(), 0, S, con=False)
    m = sent(ep)[0]
    assert m.mtype == C.NON
    ep.tick(50)
    assert not ep.outgoing()
    ep.receive(C.encode(C.Message(C.NON, C.CONTENT, 0x1, tok, b"v")), 51, S)
    assert ep.events()[0][0] == "response"
    tok = ep.request(get(), 60, S, con=False)
    ep.outgoing()
    ep.tick(60 + 93)
    assert ep.events() == [("failed", tok, "timeout", S)]


def test_nstart_one_con_at_a_time_per_peer():
    # RFC 7252 4.7 (NSTART 1): a second CON to the same peer waits for the first's ACK.
    ep = Endpoint(rng=fill(0))
    t1 = ep.request(get("/a"), 0, S)
    t2 = ep.request(get("/b"), 0, S)
    t3 = ep.request(get("/c"), 0, "other")
    out = ep.outgoing()
    assert [C.decode(r).path for r, _ in out] == ["/a", "/c"]
    ep.tick(5)
    assert [C.decode(r).path for r, _ in ep.outgoing()] == ["/a", "/c"]
    ep.receive(ack_for(C.decode(out[0][0]), C.CONTENT), 6, S)
    m = sent(ep)[0]
    assert m.path == "/b" and m.token == t2
    assert [e[1] for e in ep.events()] == [t1]
    ep.cancel(t2, S)
    ep.cancel(t3, "other")
    assert ep.deadline() is None


def test_payload_limit_1024():
    # And-link spec section 3.4: MAX_MESSAGE_SIZE 1024 bytes of payload.
    ep = Endpoint(rng=fill(0))
    ep.request(C.Message(code=C.PUT, payload=bytes(1024)), 0, S)
    assert len(sent(ep)[0].payload) == 1024
    try:
        ep.request(C.Message(code=C.PUT, payload=bytes(1025)), 0, S)
    except C.CoapError:
        pass
    else:
        raise AssertionError("1025 bytes accepted")


def test_client_observe_notifications_until_cancel():
    # RFC 7641 3.2-3.6: the request with Observe 0 stays open; CON notifications are
    # acknowledged; after cancel() the next one is rejected with RST.
    ep = Endpoint(rng=fill(0))
    tok = ep.request(get().add(C.OBSERVE, 0), 0, S)
    m = sent(ep)[0]
    ep.receive(C.encode(C.Message(C.ACK, C.CONTENT, m.mid, tok, b"1").add(C.OBSERVE, 5)), 1, S)
    assert ep.events()[0][2].observe == 5 and ep.deadline() is None
    ep.receive(C.encode(C.Message(C.CON, C.CONTENT, 0x300, tok, b"2").add(C.OBSERVE, 6)), 30, S)
    assert sent(ep)[0].mtype == C.ACK and ep.events()[0][2].payload == b"2"
    ep.receive(C.encode(C.Message(C.NON, C.CONTENT, 0x301, tok, b"3").add(C.OBSERVE, 7)), 60, S)
    assert not ep.outgoing() and ep.events()[0][2].payload == b"3"
    assert ep.cancel(tok, S)
    ep.receive(C.encode(C.Message(C.NON, C.CONTENT, 0x302, tok, b"4").add(C.OBSERVE, 8)), 90, S)
    assert sent(ep)[0].mtype == C.RST and not ep.events()


# == the server side ===========================================================

def lwm2m(req, now):
    if req.path == "/3/0/0":
        return C.Message(code=C.CONTENT, payload=b"China Mobile").add(C.CONTENT_FORMAT, C.TEXT_PLAIN)
    if req.path == "/later":
        return None
    if req.path == "/boom":
        raise ValueError("boom")
    return C.Message(code=C.NOT_FOUND)


def test_server_piggybacked_response_and_duplicates():
    # RFC 7252 5.2.1 and 4.5: a duplicate CON gets the same ACK, the handler runs once.
    calls = []

    def handler(req, now):
        calls.append(req.mid)
        return lwm2m(req, now)
    ep = Endpoint(handler, rng=fill(0))
    req = C.encode(C.Message(C.CON, C.GET, 0x2222, b"\xaa", b"").set_path("/3/0/0"))
    ep.receive(req, 0, ("10.0.0.1", 5683))
    raw, peer = only(ep.outgoing())
    m = C.decode(raw)
    assert peer == ("10.0.0.1", 5683) and (m.mtype, m.code, m.mid, m.token) == (C.ACK, C.CONTENT, 0x2222, b"\xaa")
    assert m.payload == b"China Mobile" and m.content_format == 0
    ep.receive(req, 3, ("10.0.0.1", 5683))
    assert only(ep.outgoing())[0] == raw and calls == [0x2222]
    # the same message ID from another peer is another message
    ep.receive(req, 3, ("10.0.0.2", 5683))
    assert len(ep.outgoing()) == 1 and calls == [0x2222, 0x2222]
    assert not ep.events() and ep.deadline() is None


def test_server_duplicate_cache_expires_after_exchange_lifetime():
    # RFC 7252 4.5 / 4.8.2: message IDs remembered for EXCHANGE_LIFETIME (317.5 s with
    # And-link's ACK_TIMEOUT 5 s); the cache is bounded.
    calls = []
    ep = Endpoint(lambda r, n: calls.append(n) or C.Message(code=C.CHANGED), rng=fill(0), cache=3)
    req = C.encode(C.Message(C.CON, C.PUT, 1).set_path("/1/0/1"))
    ep.receive(req, 0, S)
    ep.receive(req, 317, S)
    ep.receive(req, 318, S)
    assert calls == [0, 318]
    for mid in (2, 3, 4, 5):
        ep.receive(C.encode(C.Message(C.CON, C.PUT, mid)), 400, S)
    assert len(ep._seen) == 3


def test_server_separate_response_after_empty_ack():
    # RFC 7252 5.2.2: no response within ack_delay -> empty ACK; the response later as
    # a CON with a new message ID, retransmitted until acknowledged.
    ep = Endpoint(lwm2m, rng=fill(0))
    ep.receive(C.encode(C.Message(C.CON, C.POST, 0x10, b"tk").set_path("/later")), 0, S)
    assert not ep.outgoing() and ep.deadline() == 2
    ep.tick(2)
    a = sent(ep)[0]
    assert (a.mtype, a.code, a.mid) == (C.ACK, C.EMPTY, 0x10)
    # a duplicate now gets the empty ACK again
    ep.receive(C.encode(C.Message(C.CON, C.POST, 0x10, b"tk").set_path("/later")), 3, S)
    assert sent(ep)[0].code == C.EMPTY
    req = C.decode(C.encode(C.Message(C.CON, C.POST, 0x10, b"tk").set_path("/later")))
    req.peer = S
    ep.respond(req, C.Message(code=C.CHANGED, payload=b"done"), 10)
    r = sent(ep)[0]
    assert (r.mtype, r.code, r.token, r.payload) == (C.CON, C.CHANGED, b"tk", b"done") and r.mid != 0x10
    ep.tick(15)
    assert sent(ep)[0].mid == r.mid              # retransmitted
    ep.receive(C.encode(C.Message(C.ACK, C.EMPTY, r.mid)), 16, S)
    assert ep.events() == [("acked", b"tk", None, S)] and ep.deadline() is None


def test_server_without_handler_request_events():
    ep = Endpoint(rng=fill(0))
    ep.receive(C.encode(C.Message(C.CON, C.GET, 0x31, b"t1").set_path("/3/0/1")), 0, S)
    ev = only(ep.events())
    assert ev[0] == "request" and ev[1] == b"t1" and ev[2].path == "/3/0/1" and ev[3] == S
    ep.respond(ev[2], C.Message(code=C.CONTENT, payload=b"M1"), 1)
    m = sent(ep)[0]
    assert m.mtype == C.ACK and m.mid == 0x31 and m.payload == b"M1"
    # NON request -> NON response (RFC 7252 5.2.3)
    ep.receive(C.encode(C.Message(C.NON, C.GET, 0x32, b"t2")), 2, S)
    ev = only(ep.events())
    ep.respond(ev[2], C.Message(code=C.CONTENT), 2)
    m = sent(ep)[0]
    assert m.mtype == C.NON and m.token == b"t2" and m.mid != 0x32
    ep.receive(C.encode(C.Message(C.NON, C.GET, 0x32, b"t2")), 3, S)
    assert not ep.events() and not ep.outgoing()


def test_server_handler_error_answers_5_00():
    ep = Endpoint(lwm2m, rng=fill(0))
    ep.receive(C.encode(C.Message(C.CON, C.GET, 0x40, b"e").set_path("/boom")), 0, S)
    assert sent(ep)[0].code == C.INTERNAL_SERVER_ERROR
    ev = only(ep.events())
    assert ev[0] == "bad" and "boom" in ev[2]


def test_ping_malformed_and_reserved_codes():
    # RFC 7252 4.3: an Empty CON (ping) -> RST.  4.2: a CON with a format error or a
    # reserved code class -> RST; a NON one is ignored; a bad version silently.
    ep = Endpoint(lwm2m, rng=fill(0))
    ep.receive(C.encode(C.Message(C.CON, C.EMPTY, 0x77)), 0, S)
    m = sent(ep)[0]
    assert m.mtype == C.RST and m.mid == 0x77
    ep.receive(bytes((0x49, 1, 0, 0x78)), 0, S)              # TKL 9
    assert sent(ep)[0].mid == 0x78 and only(ep.events())[0] == "bad"
    ep.receive(bytes((0x59, 1, 0, 0x79)), 0, S)              # NON with TKL 9
    assert not ep.outgoing() and ep.events()[0][0] == "bad"
    ep.receive(bytes((0x40, 0x21, 0, 0x7A)), 0, S)           # code 1.01: reserved class
    assert sent(ep)[0].mtype == C.RST
    ep.events()
    ep.receive(bytes((0x80, 1, 0, 0x7B)), 0, S)              # version 2
    ep.receive(C.encode(C.Message(C.NON, C.EMPTY, 0x7C)), 0, S)
    ep.receive(b"", 0, S)
    assert not ep.outgoing() and [e[0] for e in ep.events()] == ["bad", "bad"]


def test_observe_notifications_non_and_reset():
    # RFC 7641 4.2, 4.4: notifications carry the observer's token and an increasing
    # Observe value; an RST to one (CON or NON) ends the observation (3.6).
    ep = Endpoint(rng=fill(0))
    mids = []
    for v in (b"1", b"2"):
        mids.append(ep.notify(S, b"ob", C.Message(code=C.CONTENT, payload=v), 0))
    a, b = [C.decode(r) for r, _ in ep.outgoing()]
    assert a.mtype == C.NON and a.token == b"ob" and b.observe == a.observe + 1
    assert ep.deadline() is None
    ep.receive(C.encode(C.Message(C.RST, C.EMPTY, mids[0])), 1, S)
    assert ep.events() == [("failed", b"ob", "reset", S)]
    s = ep.observe_seq()
    assert s == b.observe + 1


def test_observe_con_notification_replaced_while_in_flight():
    # RFC 7641 4.5.2: a newer CON notification takes the place of the unacknowledged
    # one (new message ID, the same retransmission state); a timeout ends it (4.5).
    ep = Endpoint(rng=fill(0))
    m1 = ep.notify(S, b"ob", C.Message(code=C.CONTENT, payload=b"1"), 0, con=True)
    assert sent(ep)[0].payload == b"1"
    ep.tick(5)
    ep.outgoing()
    m2 = ep.notify(S, b"ob", C.Message(code=C.CONTENT, payload=b"2"), 6, con=True)
    assert m2 != m1 and not ep.outgoing() and ep.deadline() == 15
    ep.tick(15)
    n = sent(ep)[0]
    assert n.payload == b"2" and n.mid == m2
    ep.receive(C.encode(C.Message(C.ACK, C.EMPTY, m1)), 16, S)    # the old one: no match
    assert not ep.events()
    ep.receive(C.encode(C.Message(C.ACK, C.EMPTY, m2)), 16, S)
    assert ep.events() == [("acked", b"ob", None, S)]
    ep.notify(S, b"ob", C.Message(code=C.CONTENT, payload=b"3"), 20, con=True)
    ep.outgoing()
    _, ev = times_sent(ep, 200)
    assert ev == [("failed", b"ob", "timeout", S)]


def test_views_decode_without_copies():
    ep = Endpoint(rng=fill(0), views=True)
    tok = ep.request(get(), 0, S)
    m = sent(ep)[0]
    buf = bytearray(64)
    raw = ack_for(m, C.CONTENT, b"abc")
    buf[:len(raw)] = raw
    ep.receive(memoryview(buf)[:len(raw)], 1, S)
    ev = only(ep.events())
    assert ev[1] == tok and isinstance(ev[2].payload, memoryview) and bytes(ev[2].payload) == b"abc"


def test_same_token_again_replaces_the_request():
    # RFC 7641 3.6: a deregistration (Observe 1) with the observation's token ends it.
    ep = Endpoint(rng=fill(0))
    tok = ep.request(get().add(C.OBSERVE, 0), 0, S)
    m = sent(ep)[0]
    ep.receive(C.encode(C.Message(C.ACK, C.CONTENT, m.mid, tok, b"1").add(C.OBSERVE, 5)), 1, S)
    ep.events()
    msg = get().add(C.OBSERVE, 1)
    msg.token = tok
    assert ep.request(msg, 2, S) == tok
    m2 = sent(ep)[0]
    assert m2.token == tok and m2.observe == 1 and ep.pending() == 1
    ep.receive(C.encode(C.Message(C.ACK, C.CONTENT, m2.mid, tok, b"2")), 3, S)
    assert only(ep.events())[2].payload == b"2" and ep.pending() == 0


def test_handler_response_over_the_limit_answers_5_00():
    ep = Endpoint(lambda r, n: C.Message(code=C.CONTENT, payload=bytes(2000)), rng=fill(0))
    ep.receive(C.encode(C.Message(C.CON, C.GET, 9, b"q")), 0, S)
    m = sent(ep)[0]
    assert m.code == C.INTERNAL_SERVER_ERROR and m.mid == 9
    assert only(ep.events())[0] == "bad"


def test_random_datagrams_never_raise():
    # Whatever arrives: no exception, and everything sent back is well-formed.
    s = 12345
    ep = Endpoint(lwm2m, rng=fill(0))
    ep.request(get(), 0, S)
    for i in range(1500):
        s = (s * 1103515245 + 12345) & 0x7FFFFFFF
        n = s % 24
        raw = bytearray()
        for _ in range(n):
            s = (s * 1103515245 + 12345) & 0x7FFFFFFF
            raw.append((s >> 16) & 0xFF)
        if n and i & 1:
            raw[0] = 0x40 | (raw[0] & 0x33)     # version 1, token length 0-3
        ep.receive(bytes(raw), i * 0.1, S)
        ep.tick(i * 0.1)
        for out, _ in ep.outgoing():
            C.decode(out)
        ep.events()
