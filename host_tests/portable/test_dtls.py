"""DTLS 1.2 with a pre-shared key (andlink.dtls), And-link spec section 3.5:
port 5684, TLS_PSK_WITH_AES_128_CCM_8 and TLS_PSK_WITH_AES_128_CBC_SHA256,
identity the IMEI.  Against the scripted server of fakedtls.py; the same
session against OpenSSL and GnuTLS is in host_tests/test_dtls_interop.py.
Portable."""

from andlink.dtls import crypto as K
from andlink.dtls.session import Session, CCM8, CBC256, HANDSHAKE, CONNECTED, FAILED, CLOSED
from fakedtls import FakeDtlsServer

KEY = b"secretPSK"
IMEI = b"869976032983322"


def rng(n):
    return bytes((7,)) * n


def run(s, srv, now=0, drop=()):
    """Exchange datagrams until both sides are quiet; datagrams whose index
    (0, 1, ... in the order sent, both directions) is in `drop` are lost."""
    i = 0
    for _ in range(20):
        out = s.outgoing()
        if not out:
            break
        for d in out:
            i += 1
            if i - 1 in drop:
                continue
            for r in srv.receive(d):
                i += 1
                if i - 1 in drop:
                    continue
                for p in s.receive(r, now):
                    srv.app.append(b"<" + p)
    return s


def connect(srv, **kw):
    s = Session(IMEI, KEY, rng=rng, timeout=1, **kw)
    s.start(0)
    run(s, srv)
    return s


# == the primitives ===========================================================

def test_hmac_sha256_rfc4231_case_2():
    assert K.hmac_sha256(b"Jefe", b"what do ya want for nothing?") == bytes.fromhex(
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_tls12_prf_sha256_vector():
    # RFC 5246 5 P_SHA256; the vector published for TLS 1.2 implementations
    # (secret 9bbe..., label "test label", 100 bytes).
    out = K.prf(bytes.fromhex("9bbe436ba940f017b17652849a71db35"), b"test label",
                bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c"), 100)
    assert out == bytes.fromhex(
        "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af"
        "0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"
        "87347b66")


def test_ccm8_vector_and_tamper():
    # AES-128-CCM, 12-byte nonce, 8-byte tag (RFC 6655 3); the expected bytes
    # were computed with PyCryptodome's AES.MODE_CCM (mac_len=8).
    key = bytes(range(16))
    nonce = bytes(range(16, 28))
    aad = bytes(range(32, 45))
    plain = b"the quick brown fox jumps over"
    sealed = K.Ccm8(key).seal(nonce, aad, plain)
    assert sealed == bytes.fromhex(
        "57dddc80338144d1618c1db21b13b5a61dd8aa975f32675b85c8c826b65758ae946789696ad2")
    assert K.Ccm8(key).open(nonce, aad, sealed) == plain
    assert K.Ccm8(key).open(nonce, aad, sealed[:-1] + bytes((sealed[-1] ^ 1,))) is None
    assert K.Ccm8(key).open(nonce, aad[:-1] + b"\x00", sealed) is None
    assert K.Ccm8(key).open(nonce, aad, b"short") is None


def test_hmac_over_parts_is_hmac_of_the_joined_parts():
    # RFC 2104: the parts are hashed in order, never joined (the PRF's A(i) + label + seed)
    assert K.hmac_sha256(b"Jefe", b"what do ya ", b"", b"want for nothing?") == bytes.fromhex(
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    assert K.hmac_sha256(b"k" * 80, b"a", b"b") == K.hmac_sha256(b"k" * 80, b"ab")     # a key over 64 bytes


def _both_aes(fn):
    """fn() with the port's cryptolib (where it has one) and with the pure AES
    (a board built without cryptolib: the Pico's default)."""
    saved = K.cryptolib
    try:
        if saved is not None:
            fn()
        K.cryptolib = None
        fn()
    finally:
        K.cryptolib = saved


def test_ccm8_two_block_aad_and_seal_into_on_both_aes():
    # RFC 3610 2.2: the length-prefixed aad spans two blocks here (30 bytes);
    # the expected bytes come from PyCryptodome's AES.MODE_CCM (mac_len=8).
    key, nonce, aad = bytes(range(16)), bytes(range(16, 28)), bytes(range(32, 62))
    plain = b"the quick brown fox jumps over"
    want = bytes.fromhex("57dddc80338144d1618c1db21b13b5a61dd8aa975f32675b85c8c826b657ba2cba678a695e10")

    def check():
        c = K.Ccm8(key)
        assert c.seal(nonce, aad, plain) == want
        out = bytearray(len(plain) + 8 + 3)
        c.seal_into(nonce, aad, plain, memoryview(out)[2:-1])      # into the middle of a record
        assert out[:2] == b"\x00\x00" and out[-1:] == b"\x00" and bytes(out[2:-1]) == want
        assert c.open(nonce, aad, memoryview(want)) == plain
        assert c.open(nonce, aad[:-1], want) is None
    _both_aes(check)


def test_records_sealed_into_the_record_open_on_both_aes():
    # RFC 5246 6.2.3: what one side seals the other opens, both suites, with
    # the header written by the caller and the fragment sealed in place.
    from andlink.dtls.record import Protection, CBC256
    ms, cr, sr = bytes(range(48)), bytes(32), bytes(range(32))

    def check():
        for suite in (CCM8, CBC256):
            c = Protection(suite, ms, cr, sr, True, rng)
            s = Protection(suite, ms, cr, sr, False, rng)
            hdr = b"\x00\x01\x00\x00\x00\x00\x00\x07"
            for body in (b"", b"x", b"y" * 45, b"z" * 300):
                rec = bytearray(13 + c.sealed_len(len(body)))
                rec[3:11] = hdr
                c.seal_into(23, memoryview(rec), body)
                assert s.open(23, hdr, rec[13:]) == body
                assert s.open(23, hdr, bytes(rec[13:])) == body
                assert c.seal(23, hdr, body) == bytes(rec[13:])        # the same (rng fixed): seal is seal_into
                bad = bytearray(rec[13:])
                bad[-1] ^= 1
                assert s.open(23, hdr, bad) is None
                assert s.open(22, hdr, rec[13:]) is None                    # another content type
    _both_aes(check)


def test_cbc_fips197_block():
    # FIPS-197 appendix C.1: one block under a zero IV is the block cipher itself.
    key = bytes(range(16))
    ct = K.Cbc(key).encrypt(bytes(16), bytes.fromhex("00112233445566778899aabbccddeeff"))
    assert ct == bytes.fromhex("69c4e0d86a7b0430d8cdb78070b4c55a")
    assert K.Cbc(key).decrypt(bytes(16), ct) == bytes.fromhex("00112233445566778899aabbccddeeff")


# == the handshake (RFC 6347 4.2, RFC 4279 2) =================================

def test_handshake_ccm8_with_cookie_and_hint():
    srv = FakeDtlsServer(KEY, hint=b"andlink")
    s = connect(srv)
    assert s.state == CONNECTED and s.suite == CCM8
    assert s.events() == [("connected", "TLS_PSK_WITH_AES_128_CCM_8")]
    assert srv.identity == IMEI and srv.hellos == 2           # the cookie exchange (4.2.1)
    s.send(b"GET /3/0", 0)
    (d,) = s.outgoing()
    assert d[0] == 23 and d[3:5] == b"\x00\x01" and len(d) == 13 + 8 + 8 + 8   # explicit nonce + tag
    srv.receive(d)
    assert srv.app == [b"GET /3/0"]
    assert s.receive(srv.send_app(b"2.05"), 1) == [b"2.05"]
    assert s.deadline() is None


def test_handshake_cbc_sha256():
    srv = FakeDtlsServer(KEY, suite=CBC256)
    s = connect(srv)
    assert s.state == CONNECTED and s.events() == [("connected", "TLS_PSK_WITH_AES_128_CBC_SHA256")]
    s.send(b"x" * 40, 0)
    srv.receive(s.outgoing()[0])
    assert srv.app == [b"x" * 40]
    assert s.receive(srv.send_app(b"y" * 17), 1) == [b"y" * 17]


def test_handshake_without_cookie_exchange():
    srv = FakeDtlsServer(KEY, cookie=False)
    s = connect(srv)
    assert s.state == CONNECTED and srv.hellos == 1


def test_extended_master_secret_offered_and_used_or_not():
    # RFC 7627: offered always; the master secret from the session hash when
    # the server echoes it, the RFC 5246 one when it does not.
    srv = FakeDtlsServer(KEY)
    s = connect(srv)
    assert s.state == CONNECTED and s.ems and srv.used_ems
    srv = FakeDtlsServer(KEY, ems=False)
    s = connect(srv)
    assert s.state == CONNECTED and not s.ems and not srv.used_ems
    s.send(b"legacy", 0)
    srv.receive(s.outgoing()[0])
    assert srv.app == [b"legacy"]


def test_fragmented_reordered_server_flight():
    # 4.2.3: fragments reassembled; messages in separate datagrams, last first.
    srv = FakeDtlsServer(KEY, hint=b"h", split=True, fragment=True)
    s = connect(srv)
    assert s.state == CONNECTED


def test_wrong_key_fails_with_the_alert():
    srv = FakeDtlsServer(b"another key")
    s = connect(srv)
    assert s.state == FAILED and s.events() == [("failed", "alert 20 from the server")]   # bad_record_mac
    s.send(b"lost", 0)
    assert s.outgoing() == []


def test_server_choosing_an_unoffered_suite_fails():
    srv = FakeDtlsServer(KEY, suite=CBC256)
    s = connect(srv, suites=(CCM8,))
    assert s.state == FAILED and "not offered" in s.error


def test_lost_client_hello_is_sent_again_doubling_then_timeout():
    # 4.2.4: the flight again after 1 s, 2 s, 4 s ...; `tries` flights at most.
    s = Session(IMEI, KEY, rng=rng, timeout=1, max_timeout=4, tries=4)
    s.start(0)
    times = [0] if s.outgoing() else []
    t = 0
    while s.state == HANDSHAKE and t < 30:
        t += 0.5
        s.tick(t)
        if s.outgoing():
            times.append(t)
    assert times == [0, 1, 3, 7]
    assert s.state == FAILED and s.events() == [("failed", "timeout")]


def test_lost_final_flight_sent_again_on_the_servers_retransmission():
    srv = FakeDtlsServer(KEY, cookie=False)
    s = Session(IMEI, KEY, rng=rng, timeout=1)
    s.start(0)
    (hello,) = s.outgoing()
    (flight,) = srv.receive(hello)
    s.receive(flight, 0)
    (final,) = s.outgoing()                 # lost
    s.receive(flight, 0.5)                  # the server sends its flight again
    (again,) = s.outgoing()
    assert again[:13 + 20] != final[:13 + 20] or again != final    # new record numbers
    s.receive(flight, 0.6)                  # once per retransmission timeout
    assert s.outgoing() == []
    (answer,) = srv.receive(again)
    s.receive(answer, 0.7)
    assert s.state == CONNECTED


def test_lost_server_finished_retransmits_the_final_flight_on_timer():
    srv = FakeDtlsServer(KEY, cookie=False)
    s = Session(IMEI, KEY, rng=rng, timeout=1)
    s.start(0)
    s.receive(srv.receive(s.outgoing()[0])[0], 0)
    (final,) = s.outgoing()
    srv.receive(final)                      # the server's answer is lost
    s.tick(0.9)
    assert s.outgoing() == []
    s.tick(1)
    (again,) = s.outgoing()                 # CKE, CCS, Finished again, new record numbers
    assert again[0] == 22 and len(again) == len(final) and again != final
    assert s.state == HANDSHAKE and s.deadline() == 3


def test_application_data_queued_during_the_handshake():
    srv = FakeDtlsServer(KEY)
    s = Session(IMEI, KEY, rng=rng, timeout=1, max_queue=2)
    s.start(0)
    for m in (b"a", b"b", b"c"):
        s.send(m, 0)
    run(s, srv)
    assert s.state == CONNECTED
    assert srv.app == [b"b", b"c"]          # the oldest dropped past max_queue


def test_replays_tampering_and_unknown_epochs_are_dropped():
    srv = FakeDtlsServer(KEY)
    s = connect(srv)
    rec = srv.send_app(b"once")
    assert s.receive(rec, 1) == [b"once"]
    assert s.receive(rec, 1) == []          # replay window (4.1.2.6)
    bad = bytearray(srv.send_app(b"twice"))
    bad[-1] ^= 1
    assert s.receive(bytes(bad), 1) == []   # 4.1.2.7: dropped in silence
    e2 = bytearray(srv.send_app(b"e2"))
    e2[4] = 2
    assert s.receive(bytes(e2), 1) == []
    assert s.receive(srv.send_app(b"late") + srv.send_app(b"later"), 1) == [b"late", b"later"]
    assert s.state == CONNECTED


def test_old_records_inside_the_window_are_taken_once():
    srv = FakeDtlsServer(KEY)
    s = connect(srv)
    r1 = srv.send_app(b"1")
    r2 = srv.send_app(b"2")
    assert s.receive(r2, 1) == [b"2"]
    assert s.receive(r1, 1) == [b"1"]       # reordered, not a replay
    assert s.receive(r1, 1) == []


def test_close_notify_both_ways():
    srv = FakeDtlsServer(KEY)
    s = connect(srv)
    s.events()
    s.close()
    (d,) = s.outgoing()
    assert d[0] == 21 and s.state == CLOSED and s.events() == [("closed",)]
    srv2 = FakeDtlsServer(KEY)
    s2 = connect(srv2)
    s2.events()
    s2.receive(srv2.alert(1, 0), 1)
    assert s2.state == CLOSED and s2.events() == [("closed",)]


def test_garbage_never_raises():
    import random
    r = random.Random(5) if hasattr(random, "Random") else None
    rb = (lambda n: bytes(r.getrandbits(8) for _ in range(n))) if r else (lambda n: bytes(
        random.getrandbits(8) for _ in range(n)))
    for phase in range(3):
        srv = FakeDtlsServer(KEY, cookie=False)
        s = Session(IMEI, KEY, rng=rng, timeout=1)
        s.start(0)
        hello = s.outgoing()[0]
        if phase >= 1:
            s.receive(srv.receive(hello)[0], 0)
        if phase == 2:
            s.receive(srv.receive(s.outgoing()[0])[0], 0)
            assert s.state == CONNECTED
        for i in range(150):
            d = rb(i % 60)
            if i % 3 == 0 and len(d) > 13:
                d = bytes((22, 0xFE, 0xFD)) + d[3:]       # looks like DTLS
            s.receive(d, 0)
        assert s.state in (HANDSHAKE, CONNECTED, FAILED)
        if phase == 2:
            assert s.state == CONNECTED     # garbage does not end a session


def test_empty_key_is_refused():
    try:
        Session(IMEI, b"")
    except ValueError as e:
        assert "key" in str(e)
    else:
        raise AssertionError("an empty key was taken")
