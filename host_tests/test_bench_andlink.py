"""bench/andlink.py and bench/mp_andlink.py in short (`make bench-andlink`):
the MicroPython heap levels over 4 rounds instead of a day, one loopback run
of the first-notify time, the fake-clock day, no BC95 run.  Correctness of
the figures' making, never a figure itself: the levels grow in order, the
scripted platform's day has exactly the exchanges a 15-minute reporter with
a 86400 s lifetime makes, and its message sizes agree with the platform
simulator's (the scripted platform stands in for it when the day is
simulated)."""
import importlib.util
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
    mods = [m["module"] for m in r["modules"]]
    assert mods.index("andlink.coap") < mods.index("andlink.coapendpoint") < mods.index("andlink.client.core")
    assert not [m for m in mods if m.startswith("andlink.board")]
    assert set(r["modules_loaded"]) - set(mods) == {"fakelwm2m"}
    t = r["modules_total"]
    assert 0 < t["reimport64"] < t["resident64"] and all(m["resident64"] > 0 for m in r["modules"])
    s = r["session"]["counts"]
    assert s["send"][0] == 4 and s["notify"][0] == 4 and s["read"][0] == 7 and s["observe"][0] == 4
    out = []
    MA.table(r, type("W", (), {"write": staticmethod(out.append)}))
    assert "(b) - (a)" in "".join(out)


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
    assert "bytes/day" in capsys.readouterr().out
