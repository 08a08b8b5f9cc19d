"""bench/andlink.py and bench/mp_andlink.py in short (`make bench-andlink`):
the MicroPython heap levels over 4 rounds instead of a day, plain and over
DTLS (--dtls), one loopback run of the first-notify time, the fake-clock
days, plain and over DTLS, no BC95 run.  Correctness of the figures' making,
never a figure itself: the levels grow in order, the scripted platform's day
has exactly the exchanges a 15-minute reporter with a 86400 s lifetime
makes, and its message sizes agree with the platform simulator's (the
scripted platform stands in for it when the day is simulated).  Over DTLS
(TLS_PSK_WITH_AES_128_CCM_8) the same exchanges, each CoAP message in one
record: exactly RECORD bytes more per datagram, the handshake's 3 flights
each way counted on day 1 as "dtls-handshake" and nowhere else."""
import importlib.util
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORD = 13 + 8 + 8        # a CCM-8 record around a message: header, explicit nonce, tag


def _load(name, filename):
    """bench/<filename> as module `name`: bench/andlink.py must not be imported as
    "andlink", the device package's name, and bench/ must not come before lib/
    on sys.path."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "bench", filename))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


MA = _load("mp_andlink", "mp_andlink.py")
B = _load("bench_andlink", "andlink.py")


def test_mp_andlink_levels_and_modules():
    r = MA.measure(rounds=4)
    heap, live = r["heap"], r["live"]
    assert heap["bare"] < heap["code"] < heap["idle"] < heap["client"], heap
    assert live["bare"] < live["code"] < live["idle"] < live["client"], live
    assert r["ballast_above_import_peak"], "the ballast no longer takes (a) past the import's peak"
    assert 0 < r["live_client_minus_idle"] <= r["client_minus_idle"] <= r["peak_above_idle"]["register"], r
    assert isinstance(r["target_met"], bool)
    lay = r["client_minus_idle_layouts"]      # the median of the heap layouts, with its range
    assert len(lay["each"]) == len(MA.SHIFTS) and lay["min"] <= r["client_minus_idle"] <= lay["max"], lay
    assert r["client_minus_idle"] == sorted(lay["each"])[len(lay["each"]) // 2]
    mods = [m["module"] for m in r["modules"]]
    assert mods.index("andlink.coap") < mods.index("andlink.coapendpoint") < mods.index("andlink.client.core")
    assert not [m for m in mods if m.startswith("andlink.board")]
    assert set(r["modules_loaded"]) - set(mods) == {"fakelwm2m"}
    assert {"andlink.dtls.crypto", "andlink.dtls.session"} <= set(mods)       # in the table, not loaded plain
    assert not [m for m in r["modules_loaded"] if m.startswith("andlink.dtls")] and not r["dtls"]
    t = r["modules_total"]
    assert 0 < t["reimport64"] < t["resident64"] and all(m["resident64"] > 0 for m in r["modules"])
    s = r["session"]["counts"]
    assert s["send"][0] == 4 and s["notify"][0] == 4 and s["read"][0] == 7 and s["observe"][0] == 4
    out = []
    MA.table(r, type("W", (), {"write": staticmethod(out.append)}))
    assert "(b) - (a)" in "".join(out)


def _plain_counts(rounds):
    """The plain session's counts on CPython (the same script as the port's)."""
    import fakelwm2m as F
    s = MA.Scripted(MA.new_client(F.make_store("UQ")))
    MA.register(s)
    for i in range(rounds):
        s.advance(s.t + MA.EVERY)
        MA.report(s, i)
    return s.counts


def test_mp_andlink_dtls_variant():
    r = MA.measure(rounds=4, dtls=True, modules=False)
    assert r["dtls"] and r["session"]["suite"] == "TLS_PSK_WITH_AES_128_CCM_8" and r["target_met"] is None
    heap, live = r["heap"], r["live"]
    assert heap["bare"] < heap["code"] < heap["idle"] < heap["client"], heap
    assert live["bare"] < live["code"] < live["idle"] < live["client"], live
    assert {"andlink.dtls.session", "andlink.dtls.crypto", "fakedtls", "fakelwm2m"} <= set(r["modules_loaded"])
    assert "modules" not in r
    # the scripted server's share is measured and taken off, leaving the client something
    assert 0 < r["live_server"] < r["live_client_minus_idle"], r
    assert r["live_client_minus_idle_less_server"] == r["live_client_minus_idle"] - r["live_server"] > 0
    assert r["client_minus_idle_less_server"] == r["client_minus_idle"] - r["live_server"] > 0
    assert 0 < r["live_client_minus_idle"] <= r["peak_above_idle"]["register"], r
    # on the wire: the plain exchanges, each one record longer, and the handshake
    counts, plain = dict(r["session"]["counts"]), _plain_counts(4)
    hs = counts.pop(MA.HANDSHAKE)
    assert hs[0] == 3 and hs[2] == 3 and hs[1] > 0 and hs[3] > 0, hs
    assert set(counts) == set(plain)
    for k, (nu, bu, nd, bd) in plain.items():
        assert counts[k] == [nu, bu + RECORD * nu, nd, bd + RECORD * nd], (k, counts[k], plain[k])
    assert r["session"]["notifies"] == 4
    # the session's allocation per record: 4 Sends and 4 notifications sealed, 4 answers opened
    rec = r["records"]
    assert rec["send"]["calls"] == rec["seal"]["calls"] == 8 and rec["receive"]["calls"] == rec["open"]["calls"] == 4
    for a, b in (("send", "seal"), ("receive", "open")):
        assert 0 < rec[b]["mean"] <= rec[a]["mean"] <= rec[a]["max"], rec
    # the budget (64-bit words): a record is built in one buffer of its final
    # size, so sealing allocates little more than the record, opening a copy
    # of the plaintext and some views (it was 2.3 KB and 1.7 KB)
    assert rec["send"]["max"] <= 768 and rec["receive"]["max"] <= 1024, rec
    assert rec["plain_sealed"] == plain["send"][1] + plain["notify"][1] and rec["plain_opened"] == 4 * 8, rec
    out = []
    MA.table(r, type("W", (), {"write": staticmethod(out.append)}))
    text = "".join(out)
    assert "DTLS 1.2 PSK" in text and "handshake" in text and "Resident RAM" not in text


def test_bench_andlink_smoke(tmp_path, capsys):
    path = str(tmp_path / "b.json")
    assert B.main(["--no-mp", "--no-bc95", "--rtt", "0", "--repeats", "1", "--json", path]) == 0
    res = json.load(open(path))
    lb = res["first_notify"]["loopback"]
    st = lb["steps_median_s"]
    assert lb["product_check"] == "ok"
    # (the simulator stamps the product check in wall time, the rest in the loop's: not compared)
    assert 0 < st["registered"] <= st["first_observed"] <= st["first_notify"] < 5 and st["reads_done"] > 0, st
    for way, per_exchange in (("send", 2), ("notify", 1)):
        day1, day2 = res["bytes_per_day"][way]
        # a report every 15 min (96) and one Update a day (lifetime 86400: due at 77760 s)
        assert day2["datagrams"] == 96 * per_exchange + 2, (way, day2)
        assert day2["by_kind"]["update"]["up_datagrams"] == 1 and "register" not in day2["by_kind"]
        assert day1["by_kind"]["register"]["up_datagrams"] == 1 and day1["by_kind"]["read"]["up_datagrams"] == 7
        assert day2["with_ip_udp"] == day2["payload"] + 28 * day2["datagrams"]
    # the scripted platform's messages are the simulator's, size for size
    fk = res["fake_clock_check"]
    assert fk["send_exchange"] == lb["send_exchange"], (fk, lb)
    assert fk["registration_phase"]["datagrams"] == lb["registration_phase"]["datagrams"]
    assert abs(fk["registration_phase"]["bytes"] - lb["registration_phase"]["bytes"]) <= 24, (fk, lb)
    # over DTLS: the same exchanges on the same days, one record each, the handshake once
    for way in ("send", "notify"):
        plain, dtls, over = res["bytes_per_day"][way], res["bytes_per_day_dtls"][way], res["dtls_overhead"][way]
        for p, d, o in zip(plain, dtls, over):
            hs = d["by_kind"].pop(MA.HANDSHAKE, None)
            if p["day"] == 1:
                assert hs["up_datagrams"] == hs["down_datagrams"] == 3 and hs["up"] > 0 and hs["down"] > 0, hs
                assert o["handshake"]["bytes"] == hs["up"] + hs["down"] and o["handshake"]["datagrams"] == 6
            else:
                assert hs is None and o["handshake"]["datagrams"] == 0
            assert set(d["by_kind"]) == set(p["by_kind"]), (way, d, p)
            for k, x in p["by_kind"].items():
                y = d["by_kind"][k]
                assert y["up_datagrams"] == x["up_datagrams"] and y["down_datagrams"] == x["down_datagrams"]
                assert y["up"] - x["up"] == RECORD * x["up_datagrams"], (way, k, x, y)
                assert y["down"] - x["down"] == RECORD * x["down_datagrams"], (way, k, x, y)
            n = p["datagrams"]
            extra = RECORD * n + (hs["up"] + hs["down"] if hs else 0)
            assert d["payload"] > p["payload"] and o["bytes"] == d["payload"] - p["payload"] == extra, (way, o)
            assert o["percent"] == round(100.0 * extra / p["payload"], 1) > 0
            assert o["datagrams_added"] == d["datagrams"] - n
            assert o["bytes_with_ip_udp"] == extra + 28 * o["datagrams_added"]
    out = capsys.readouterr().out
    assert "bytes/day" in out and "DTLS bytes/day" in out
