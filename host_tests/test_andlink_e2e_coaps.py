"""End to end over coaps (And-link spec 3.5: DTLS 1.2, pre-shared key,
identity the IMEI): andlink-term's client (lib/andlink/client with
lib/andlink/dtls, in-process) against andlink-platform with its coaps fronts
(tools/andlink_tools/dtlsfront.py; its server side is proved against OpenSSL
and libcoap in test_andlink_dtlsfront.py).  Registration with the 4.1.5
reads, the product check and the 4.3.1.2 observations all inside DTLS, a
Read and a notification; the client-initiated Bootstrap over coaps handing
out the coaps server, whose account reuses the Bootstrap-Server's key (4.1.3);
an identity that is not the endpoint name refused 4.03; the serve command's
checks of --coaps and --psk."""

import json
import os

from andlink_tools import cli
from andlink_tools import term as T
from test_andlink_e2e import Rig, HOST, IMEI, DTYPE, TOKEN, FAST, OBSERVED, run, wait_for, private_dir, events

KEY = b"secretPSK"


async def device(rig, bootstrap=False, identity=IMEI.encode(), key=KEY, name="st"):
    if bootstrap:
        srv, bs = None, rig.pf.bootstrap_coaps_address
        spsk, bpsk = None, (identity, key)
    else:
        srv, bs = rig.pf.coaps_address, None
        spsk, bpsk = (identity, key), None
    cfg = T.Config(srv, IMEI, private_dir(rig.tmp, name), bootstrap=bs, lifetime=300, product_token=TOKEN,
                   device_type=DTYPE, params=FAST, server_psk=spsk, bootstrap_psk=bpsk)
    lines = []
    t = T.Term(cfg, out=lines.append)
    t.lines = lines
    rig.terms.append(t)
    await t.open()
    return t


def test_register_read_and_notify_over_coaps(tmp_path):
    async def go():
        rig = await Rig(tmp_path, coaps=(HOST, 0), psk={IMEI.encode(): KEY}).start()
        try:
            t = await device(rig)
            d = await rig.ready(t)
            assert d.auth["state"] == "ok"                   # 3.5's product check, read inside DTLS
            assert sorted(d.observations) == OBSERVED
            assert any("coaps from" in h["event"] and "PSK identity %s" % IMEI in h["event"] for h in d.history)
            r = await rig.op(op="read", ep=IMEI, path="/3/0/17")
            assert r["ok"] and r["result"]["code"] == "2.05" and r["result"]["entries"][0]["value"] == DTYPE, r
            n = d.counts["notifications"]
            t.command("set /3/0/9 55")                       # a value changes: the observer hears it
            r = await rig.op(op="observe", ep=IMEI, path="/3/0/9")
            assert r["ok"], r
            t.command("set /3/0/9 56")
            await wait_for(lambda: d.counts["notifications"] > n, what="a notification over coaps")
            assert any("connected" in w for w in events(t, "dtls"))
            assert all(" DTLS " in x for x in t.lines if x.startswith("-> ") and "coaps:" not in x)
        finally:
            await rig.close()
    run(go())


def test_bootstrap_over_coaps_hands_out_the_coaps_server(tmp_path):
    # 4.1.1-4.1.3 over coaps: the server URI written is coaps://, without a key:
    # the client reuses the Bootstrap-Server's (4.1.3).
    async def go():
        rig = await Rig(tmp_path, coaps=(HOST, 0), bootstrap_coaps=(HOST, 0), psk={IMEI.encode(): KEY},
                        bs_lifetime=300).start()
        try:
            assert rig.pf.bootstrap_address is None and rig.pf.bootstrap_coaps_address is not None
            t = await device(rig, bootstrap=True)
            d = await rig.ready(t)
            assert d.auth["state"] == "ok"
            assert t.client.store.get((0, 1, 0)) == "coaps://%s:%d" % rig.pf.coaps_address
            assert len([w for w in events(t, "dtls") if "connected" in w]) == 2      # bootstrap, then server
        finally:
            await rig.close()
    run(go())


def test_identity_other_than_the_endpoint_name_is_refused(tmp_path):
    async def go():
        rig = await Rig(tmp_path, coaps=(HOST, 0), psk={b"dev-1": KEY}).start()
        try:
            t = await device(rig, identity=b"dev-1")
            await wait_for(lambda: events(t, "register_failed"), what="the Register's answer")
            assert events(t, "register_failed")[0][1] == "4.03"
            assert rig.dev() is None or rig.dev().reg is None
        finally:
            await rig.close()
    run(go())


def test_serve_checks_coaps_and_psk(tmp_path, capsys):
    assert cli.main(["serve", "--coaps", "127.0.0.1:0"]) == 2
    assert "need --psk" in capsys.readouterr().err
    p = tmp_path / "psk.json"
    p.write_text(json.dumps({IMEI: "zz-secret"}))
    os.chmod(str(p), 0o600)
    assert cli.main(["serve", "--coaps", "127.0.0.1:0", "--psk", str(p)]) == 2
    err = capsys.readouterr().err
    assert "not 1 to 64 bytes in hex" in err and "zz-secret" not in err
    os.chmod(str(p), 0o644)
    assert cli.main(["serve", "--coaps", "127.0.0.1:0", "--psk", str(p)]) == 2
    assert "chmod 600" in capsys.readouterr().err


def test_new_link_resumes_the_session(tmp_path):
    # A new link (the runner's reregister) starts a new session offering the
    # old one's id; the simulator's front resumes it (RFC 5246 7.3).
    async def go():
        rig = await Rig(tmp_path, coaps=(HOST, 0), psk={IMEI.encode(): KEY}).start()
        try:
            t = await device(rig)
            d = await rig.ready(t)
            regs = d.counts["registrations"]
            t.client.reregister(t.now())
            t.flush()
            await wait_for(lambda: any("resumed" in w for w in events(t, "dtls")), what="a resumed session")
            await wait_for(lambda: d.counts["registrations"] > regs and t.client.registered, what="registered again")
            assert [w for w in events(t, "dtls") if "connected" in w or "resumed" in w][-1][3] == "resumed"
        finally:
            await rig.close()
    run(go())
