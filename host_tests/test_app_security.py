"""Section 5.2 on the platform <-> application interface: the 3DES of section
5.2.1 (CBC, K1=K3, zero IV, PKCS#7), the MD5 digest over head, encrypted body,
user name and password, the base key and the session key, and the network
rules of section 5.2.2 (SERVICEID, address list).  Every rule is tried with a
request that breaks it: the answer carries the RESULTCODE appendix H gives
(security.REFUSAL_CODES), the backend is never called, and the refusal is
logged.  docs/APP.md decisions 8-13.

CPython only; loopback only."""
import base64
import hashlib
import logging

import pytest

from wmmp_app import messages as M
from wmmp_app import pdu as P
from wmmp_app import security as S
from wmmp_app import xmlform as X
from wmmp_app.gateway import AppConfig, Gateway

from test_app_support import (ACCOUNT, ACCT, OTHER, T1, Clock, FakeBackend, ask, gw_login, open_rsp, run, running,
                              seal_req)

LOGIN_BODY = {"USERNAME": "meterapp", "PASSWORD": "Pw0123456789"}
DOWN = ("TTransparentDataDownReq", {"TERMLIST": [T1], "DATA": b"\x01"})


def gateway(clock=None, **app):
    b = FakeBackend()
    cfg = dict(ACCT)
    cfg.update(app)
    gw = Gateway(b, [AppConfig(**cfg), AppConfig(**OTHER)], clock=clock or Clock())
    return gw, b


# -- 3DES and the digest (section 5.2.1) ----------------------------------------------------

def test_3des_is_ede_cbc_zero_iv_pkcs7():
    # K1 = K2 = K3 makes 3DES EDE single DES: the FIPS 46 example block.
    key = bytes.fromhex("133457799BBCDFF1") * 2
    c = S.encrypt(key, bytes.fromhex("0123456789ABCDEF"))
    assert len(c) == 16 and c[:8] == bytes.fromhex("85E813540F0AB405")
    assert S.decrypt(key, c) == bytes.fromhex("0123456789ABCDEF")
    # CBC with a zero IV: the second block is E(pad block XOR first ciphertext block)
    pad = bytes([8]) * 8
    assert S.encrypt(key, bytes(c[:8][i] ^ pad[i] for i in range(8)))[:8] == c[8:]


def test_3des_agrees_with_the_projects_own_implementation():
    from wmmp.crypto import cipher
    key = b"BaseKey0123456789ABCDEFG"
    for n in (0, 1, 7, 8, 9, 100):
        data = bytes(range(n))
        assert S.encrypt(key, data) == cipher.encrypt(cipher.ALG_3DES, key, data)
        assert S.decrypt(key, S.encrypt(key, data)) == data
    assert S.encrypt(b"K" * 8 + b"L" * 8, b"x") == cipher.encrypt(cipher.ALG_3DES, b"K" * 8 + b"L" * 8 + b"K" * 8, b"x")


def test_decrypting_with_the_wrong_key_or_a_broken_length_fails_cleanly():
    c = S.encrypt(b"A" * 16 + b"B" * 8, b"<BODY/>")
    with pytest.raises(S.BadBody):
        S.decrypt(b"C" * 16, c[:-1])
    with pytest.raises(S.BadBody):
        S.decrypt(b"C" * 8 + b"D" * 8, c + c)      # wrong key: the padding check fails (or the XML read does)


def test_the_digest_is_md5_of_head_values_body_bytes_user_and_password():
    msg = M.build(*DOWN, sid="0000000000000042", service_id="SVC0001", ts="202612061931070000")
    data = P.seal(msg, ACCOUNT, ACCOUNT.base_key)
    raw = X.decode_pdu(data)
    body = base64.b64decode(raw.body)
    want = hashlib.md5(b"0000000000000042" + b"202612061931070000" + b"SVC0001" + body + b"meterapp"
                       + b"Pw0123456789").digest()
    assert base64.b64decode(raw.hash) == want
    assert S.digest_matches(want.hex(), list(raw.head.values()), body, "meterapp", "Pw0123456789")   # hex read too
    assert S.decrypt(ACCOUNT.base_key, body) == M.body_xml(msg)


def test_keys_are_16_or_24_bytes():
    assert S.key_bytes("hex:" + "00" * 16) == bytes(16)
    for bad in ("short", "x" * 17, "hex:zz", b"\x00" * 8):
        with pytest.raises(ValueError):
            S.key_bytes(bad)
    k = S.new_session_key()
    assert len(k) == 16 and k.isalnum() and k != S.new_session_key()


def test_address_lists():
    a = S.AddressList(["10.1.2.0/24", "::1"])
    assert a.allows("10.1.2.77") and a.allows("::1") and a.allows("::ffff:10.1.2.3")
    assert not a.allows("10.1.3.1") and not a.allows("garbage") and S.AddressList("*").allows("192.0.2.1")
    with pytest.raises(ValueError):
        S.AddressList(["10.1.2.0/33"])


# -- each rule broken: code, nothing executed, logged -----------------------------------------

async def _refused(gw, b, caplog, data, code, peer="127.0.0.1", keys=(), signed=True, words=""):
    caplog.clear()
    with caplog.at_level(logging.WARNING, "wmmp.app.gateway"):
        r = open_rsp(await gw.handle(data, peer), keys=keys)
    assert r.code == code, r.body
    assert r.signed is signed
    assert [c for c in b.calls] == []
    assert "refused" in caplog.text and "RESULTCODE %d" % code in caplog.text and words in caplog.text
    return r


@run
async def test_unknown_service_id_is_refused_unsigned_section_5_2_2(caplog):
    gw, b = gateway()
    stranger = S.Account("SVC9999", "meterapp", "Pw0123456789", ACCT["base_key"])
    r = await _refused(gw, b, caplog, seal_req("TAppLoginReq", LOGIN_BODY, stranger), 1, signed=False,
                       words="SVC9999 is not configured")       # a) 1
    assert r.how == "plain"
    await _refused(gw, b, caplog, seal_req("TAppLogoutReq", LOGIN_BODY, stranger), 2, signed=False)   # b) 2
    await _refused(gw, b, caplog, seal_req(*DOWN, acct=stranger), 1, signed=False)                     # t) 1


@run
async def test_an_address_not_on_the_list_is_refused_section_5_2_2(caplog):
    gw, b = gateway(allow=["192.0.2.0/24"])
    await _refused(gw, b, caplog, seal_req("TAppLoginReq", LOGIN_BODY), 1, peer="127.0.0.1", signed=False,
                   words="address 127.0.0.1 is not allowed")
    r = open_rsp(await gw.handle(seal_req("TAppLoginReq", LOGIN_BODY), "192.0.2.9"), keys=[ACCOUNT.base_key])
    assert r.code == 0


@run
async def test_a_wrong_digest_is_refused_unsigned_section_5_2_1(caplog):
    gw, b = gateway()
    wrong = S.Account("SVC0001", "meterapp", "NotThePass", ACCT["base_key"])
    await _refused(gw, b, caplog, seal_req("TAppLoginReq", LOGIN_BODY, wrong), 2, signed=False,
                   words="HASH does not match")                                  # a) 2
    key = await gw_login(gw)
    await _refused(gw, b, caplog, seal_req(*DOWN, acct=wrong, key=key), 1, signed=False)
    await _refused(gw, b, caplog, seal_req(*DOWN, key=key, signed=False), 1, signed=False, words="no HASH")
    # a body changed after signing
    data = seal_req(*DOWN, key=key)
    raw = X.decode_pdu(data)
    other = base64.b64encode(S.encrypt(key, M.body_xml(M.build(DOWN[0], {"TERMLIST": [T1], "DATA": b"\x02"},
                                                               sid="1", service_id="S")))).decode()
    tampered = data.replace(raw.body.encode(), other.encode())
    await _refused(gw, b, caplog, tampered, 1, signed=False)
    await _refused(gw, b, caplog, seal_req("TAppLogoutReq", LOGIN_BODY, wrong, key=key), 3, signed=False)  # b) 3
    assert gw.logged_in("SVC0001")


@run
async def test_a_body_under_the_wrong_key_is_refused_section_5_2_1(caplog):
    gw, b = gateway()
    r = await _refused(gw, b, caplog, seal_req("TAppLoginReq", LOGIN_BODY, key=b"WrongBaseKey0123"), 3,
                       keys=[ACCOUNT.base_key], words="")                          # a) 3
    assert r.how == "plain"               # the sender holds no key the platform knows: the answer is in clear
    key = await gw_login(gw)
    # after login, the base key is not the session key
    await _refused(gw, b, caplog, seal_req(*DOWN, key=ACCOUNT.base_key), 1, keys=[key])
    # a body not encrypted at all
    await _refused(gw, b, caplog, seal_req(*DOWN, key=key, plain=True), 1, keys=[key], words="not encrypted")
    await _refused(gw, b, caplog, seal_req("TAppLogoutReq", LOGIN_BODY, key=b"WrongSessKey0123"), 4, keys=[key])


@run
async def test_an_expired_session_is_refused_until_the_application_logs_in_again(caplog):
    clock = Clock()
    gw, b = gateway(clock=clock, session_minutes=10)
    key = await gw_login(gw)
    assert (await ask(gw, *DOWN, key)).code == 0
    b.calls.clear()
    clock.advance(10 * 60 + 1)
    r = await _refused(gw, b, caplog, seal_req(*DOWN, key=key), 2, keys=[key], words="expired")   # 2: not logged in
    assert r.how == "plain"
    key2 = await gw_login(gw)
    assert key2 != key and (await ask(gw, *DOWN, key2)).code == 0
    b.calls.clear()
    r = open_rsp(await gw.handle(seal_req(*DOWN, key=key), "127.0.0.1"), keys=[key2])      # the old key is gone
    assert r.code == 1 and b.calls == []


@run
async def test_requests_before_login_are_refused_not_logged_in(caplog):
    gw, b = gateway()
    await _refused(gw, b, caplog, seal_req(*DOWN, key=ACCOUNT.base_key), 2, keys=[ACCOUNT.base_key],
                   words="not logged in")


@run
async def test_one_applications_session_is_not_anothers():
    gw, b = gateway()
    key = await gw_login(gw)
    other = S.Account(**OTHER)
    r = open_rsp(await gw.handle(seal_req(*DOWN, acct=other, key=key), "127.0.0.1"), other, keys=[key])
    assert r.code == 2 and b.calls == []


@run
async def test_long_connection_belongs_to_the_application_that_logged_in_on_it():
    async with running(apps=[AppConfig(**ACCT), AppConfig(**OTHER)]) as env:
        a = await env.connected()
        # another application's PDU on this connection: refused (1), never passed on
        other = S.Account(**OTHER)
        raw = await a.link.request(seal_req(*DOWN, acct=other, key=other.base_key, sid="0000000000000900"),
                                   DOWN[0], "0000000000000900", 3)
        r = open_rsp(raw, other)
        assert r.code == 1 and not r.signed and env.backend.calls == []
        # a second connection of the same application that has not logged in: 2
        from wmmp_app import transport as T

        async def nothing(data, link):
            return None
        link = await T.open_long("127.0.0.1", env.long_port, nothing)
        raw = await link.request(seal_req(*DOWN, key=a.session.key, sid="0000000000000901"), DOWN[0],
                                 "0000000000000901", 3)
        assert open_rsp(raw, keys=[a.session.key]).code == 2 and env.backend.calls == []
        await link.close()
        await a.close()


@run
async def test_a_new_login_replaces_the_session_and_closes_the_earlier_long_connection():
    async with running() as env:
        a = await env.connected()
        first = a.link
        b = await env.connected()
        await first.closed
        assert env.gw.session("SVC0001").key == b.session.key
        sid = await b.transparent_down(b"x", serials=[T1])
        assert env.backend.calls[-1][2] == sid
        await b.close()
        await a.close(logout=False)


def test_refusal_codes_follow_appendix_h_per_call():
    assert S.DigestMismatch("x").code_for("TAppLogin") == 2 and S.DigestMismatch("x").code_for("TAppLogout") == 3
    assert S.BadBody("x").code_for("TAppLogin") == 3 and S.BadBody("x").code_for("TAppLogout") == 4
    assert S.UnknownService("x").code_for("TAppLogin") == 1 and S.UnknownService("x").code_for("TAppLogout") == 2
    assert S.SessionExpired("x").code_for("TConfigSet") == 2 and S.Forbidden("x").code_for("TTermCtrl") == 1
    assert S.Refused("x", code=5).code_for("TTermCtrl") == 5


@run
async def test_a_malformed_head_is_answered_signed_only_when_the_hash_is_right():
    gw, b = gateway()
    key = await gw_login(gw)
    for acct, signed in ((ACCOUNT, True), (S.Account("SVC0001", "meterapp", "Wrong", ACCT["base_key"]), False)):
        head = {"SID": "0000000000000050", "TIMESTAMP": "2026-12-06", "SERVICEID": "SVC0001"}
        body = S.encrypt(key, M.body_xml(M.build(*DOWN, sid="1", service_id="S")))
        h = S.digest(list(head.values()), body, acct.username, acct.password)
        data = X.encode_pdu(DOWN[0], head, base64.b64encode(body).decode(), h)
        r = open_rsp(await gw.handle(data, "127.0.0.1"))
        assert r.code == 1 and r.signed is signed and r.how == "plain" and b.calls == []


def test_application_settings_are_checked_when_configured():
    with pytest.raises(ValueError, match="not a tag"):
        AppConfig(**ACCT, remote_ctrl=["40001"])
    with pytest.raises(ValueError, match="not an IP"):
        AppConfig(**ACCT, allow=["localhost"])
    with pytest.raises(ValueError, match="http://"):
        AppConfig(**ACCT, url="ftp://x")
    with pytest.raises(ValueError, match="two applications"):
        Gateway(FakeBackend(), [AppConfig(**ACCT), AppConfig(**ACCT)])
