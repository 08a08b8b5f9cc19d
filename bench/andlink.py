"""`make bench-andlink`: the And-link client measured (figures, not pass/fail;
targets are reported as met or not).

  heap        bench/mp_andlink.py on MicroPython's unix port: the heap the
              running client adds in a steady registered state without DTLS
              (target <= 12 KB), the live state, the per-module resident
              sizes (lib/andlink/dtls among them) and the frozen-size proxy
              (its docstring says how); then its --dtls run: the same over
              DTLS 1.2 PSK (And-link spec 3.5, TLS_PSK_WITH_AES_128_CCM_8)
              behind the scripted DTLS server, the heap it adds (less the
              scripted server's session state, measured live), the peak
              bound, and what the session allocates per record
  first       registration to first notification, CPython over loopback UDP:
  notify      andlink-term's client (tools/andlink_tools/term.py: the
              lib/andlink client over asyncio) against the platform simulator
              (andlink-platform, in-process, product check on), which reads
              what 4.1.5 lists after the Register and then observes /3/0/11,
              /5/0/3, /5/0/5 (4.3.1.2) and the data /19/1/0; the board
              changes /19/1/0 every --change-ms from the start.  Time from the
              client's start (its Register leaves) to the first notification
              the simulator receives, median of --repeats runs, with the
              steps: 2.01 at the client, the reads and product check done,
              the first observation in place.  Also with the simulator's link
              shaping at --rtt (default 1.5 s, NB-IoT in normal coverage, as
              bench/andlink_bc95.py argues), one run.  CoAP parameters: And-link
              spec 3.4's.
  bytes per   a device reporting every 15 minutes, queue mode (UQ), lifetime
  day         86400 s: UDP payload bytes both ways over a simulated day, plus
              28 bytes of IPv4 (20) and UDP (8) headers per datagram (no
              radio-layer overhead, no header compression).  FAKE CLOCK: the
              sans-I/O client (lib/andlink/client) against the scripted
              platform of bench/mp_andlink.py (fakelwm2m's store; the same
              reads and observations as the simulator, its 2-byte tokens and
              options), 2 days in well under a second; the first day has the
              registration, the second is the steady state.  Two ways of
              reporting: a Send to /dp (CON, answered 2.04), or a NON
              notification of the observed /19/1/0.  The loopback run above
              prices the same exchanges with the simulator's own datagrams
              (registration phase, a Send): printed beside them.
              DTLS: the same days with the client's server account coaps
              (PSK, identity the IMEI) and the scripted platform behind the
              scripted DTLS server (bench/mp_andlink.py's ScriptedDtls): the
              bytes ON THE WIRE (the records: 13 B header, 8 B explicit nonce
              and 8 B tag around each CoAP message), the handshake's flights
              both ways as their own kind "dtls-handshake" (day 1: one
              handshake, no other; no session resumption), and the overhead
              over plain CoAP, bytes and percent, payload and with headers.
  BC95        bench/andlink_bc95.py when it exists (FOTA through the BC95
              emulator at NB-IoT rates): its own table and figures.

    .venv/bin/python bench/andlink.py [--no-mp] [--no-dtls] [--no-bc95] [--repeats 5]
        [--rtt 1.5] [--change-ms 1] [--mp-rounds 96] [--bc95-args "..."] [--json FILE]

--no-dtls leaves out both DTLS variants (MicroPython and bytes per day).
"""
import argparse
import asyncio
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools"), os.path.join(ROOT, "bench"),
                os.path.join(ROOT, "host_tests", "portable")]

from andlink import coap as C  # noqa: E402
from andlink_tools import term as T  # noqa: E402
from andlink_tools.platform import Config, Platform  # noqa: E402
from andlink_tools.rd import DEFAULT_OBSERVE  # noqa: E402
import mp_andlink as MA  # noqa: E402

HOST = "127.0.0.1"
IMEI = "869976032983322"
DTYPE, TOKEN = "590001", "pt-4f1c9a7e2b"
IP_UDP = 28                     # bytes of IPv4 (20) and UDP (8) headers per datagram
DAY = 86400
EVERY = 900                     # a report every 15 minutes


# == registration to first notification (loopback, the simulator) ====================

def _kind(raw, up):
    """What a datagram of the loopback run is, for the byte tally."""
    try:
        m = C.decode(raw)
    except C.CoapError:
        return "other"
    if m.code and m.code < 32:
        p = m.path
        if p == "/rd" or p.startswith("/rd/"):
            return "register"
        if p == "/dp":
            return "send"
        return "observe" if m.has(C.OBSERVE) else "read"
    if m.has(C.OBSERVE) and m.mtype == C.NON:
        return "notify"
    return "answer"


async def first_notify(a, rtt, d):
    """One run: the milestones (s from the client's start) and the datagrams."""
    loop = asyncio.get_running_loop()
    cfg = Config(coap=(HOST, 0), products={DTYPE: TOKEN}, observe=tuple(DEFAULT_OBSERVE) + ((19, 1, 0),),
                 rtt=rtt)
    pf = await Platform(cfg).start()
    marks = {}
    t0 = [None]

    def mark(name):
        if name not in marks and t0[0] is not None:
            marks[name] = loop.time() - t0[0]

    def listener(kind, dev, path, entries):
        if dev.ep != IMEI:
            return
        if kind == "observed":
            mark("first_observed")
        elif kind == "ready":
            mark("observes_done")
        elif kind == "notify":
            mark("first_notify")
        elif kind == "send":
            mark("send_received")
    pf.listeners.append(listener)
    dgrams = []                      # (s since start, "up"|"down", bytes, kind, before the first notify)

    def out(line):
        if line.startswith("   ev     registered"):
            mark("registered")

    state = os.path.join(d, "state")
    os.mkdir(state, 0o700)
    term = T.Term(T.Config((HOST, pf.coap_address[1]), IMEI, state, lifetime=DAY, queue=True,
                           product_token=TOKEN, device_type=DTYPE), out=out)

    def count(raw, peer, way):
        if t0[0] is not None:
            up = way == "out"
            dgrams.append((loop.time() - t0[0], up, len(raw), _kind(raw, up), "first_notify" not in marks))
        return False
    term.drop = count
    try:
        wall0 = time.time()
        t0[0] = loop.time()
        await term.open()                                    # boot(): the client starts, its Register leaves
        i = 0
        end = loop.time() + 30 + 20 * rtt
        while "first_notify" not in marks:
            if loop.time() > end:
                raise RuntimeError("bench-andlink: no notification within %d s (%s)" % (30 + 20 * rtt, marks))
            i += 1
            term.params["power"] = i                         # the board's reading changes
            term.client.changed((19, 1, 0))
            term.flush()
            await asyncio.sleep(a.change_ms / 1000.0)
        dev = pf.registry.device(IMEI, create=False)
        marks["product_check"] = dev.auth.get("state")
        marks["reads_done"] = dev.auth["time"] - wall0             # the simulator stamps it in wall time
        # one Send after it: its exchange priced with the simulator's datagrams
        n = len(dgrams)
        term.command('send {"power":18}')
        while "send_received" not in marks or len(dgrams) < n + 2:
            if loop.time() > end:
                raise RuntimeError("bench-andlink: the Send was not answered")
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05 + rtt)
    finally:
        await term.stop(deregister=False)
        await pf.close()
    reg = [x for x in dgrams if x[4] and x[3] != "notify"]
    send = [x for x in dgrams[n:] if x[3] == "send" or (x[3] == "answer" and not x[1])]
    return {"rtt": rtt, "marks": marks,
            "registration_phase": {"datagrams": len(reg), "bytes": sum(x[2] for x in reg),
                                   "up": sum(x[2] for x in reg if x[1]), "down": sum(x[2] for x in reg if not x[1])},
            "send_exchange": {"datagrams": len(send[:2]), "bytes": sum(x[2] for x in send[:2])}}


async def first_notify_runs(a):
    runs = []
    for rtt, n in [(0.0, a.repeats)] + ([(a.rtt, 1)] if a.rtt else []):
        for _ in range(n):
            with tempfile.TemporaryDirectory(prefix="bench-andlink-") as d:
                runs.append(await first_notify(a, rtt, d))
    out = {}
    for rtt in sorted(set(r["rtt"] for r in runs)):
        rs = [r for r in runs if r["rtt"] == rtt]
        fn = [r["marks"]["first_notify"] for r in rs]
        key = "loopback" if rtt == 0 else "rtt_%g" % rtt
        out[key] = {"rtt": rtt, "runs": len(rs), "first_notify_s": {"median": statistics.median(fn), "min": min(fn),
                                                                    "max": max(fn)},
                    "steps_median_s": {k: statistics.median(r["marks"][k] for r in rs) for k in
                                       ("registered", "reads_done", "first_observed", "observes_done",
                                        "first_notify")},
                    "product_check": rs[0]["marks"]["product_check"],
                    "registration_phase": rs[0]["registration_phase"], "send_exchange": rs[0]["send_exchange"]}
        if rtt:
            out[key]["round_trips"] = round(statistics.median(fn) / rtt, 1)
    return out


# == bytes per day (fake clock, the scripted platform) =================================

def day_bytes(way, days=2, dtls=False):
    """A device reporting every EVERY s by `way` ("send" or "notify") for
    `days` simulated days; per day: datagrams and bytes each way, by kind.
    dtls: over DTLS (bench/mp_andlink.py's ScriptedDtls), the records' bytes."""
    import fakelwm2m as F
    c = MA.new_client(F.make_store("UQ"), binding="UQ", lifetime=DAY, dtls=dtls)
    s = MA.ScriptedDtls(c) if dtls else MA.Scripted(c)
    MA.register(s, observe_data=(way == "notify"))
    out = []
    prev = {k: [0, 0, 0, 0] for k in s.counts}
    for day in range(days):
        base = day * DAY
        for k in range(DAY // EVERY):
            s.advance(base + EVERY // 2 + k * EVERY)
            MA.report(s, day * 1000 + k, send=way == "send", notify=way == "notify")
        s.advance(base + DAY)
        kinds = {}
        for name, v in s.counts.items():
            d = [v[i] - prev[name][i] for i in range(4)]
            if any(d):
                kinds[name] = {"up": d[1], "up_datagrams": d[0], "down": d[3], "down_datagrams": d[2]}
            prev[name] = list(v)
        up = sum(x["up"] for x in kinds.values())
        down = sum(x["down"] for x in kinds.values())
        n = sum(x["up_datagrams"] + x["down_datagrams"] for x in kinds.values())
        out.append({"day": day + 1, "up": up, "down": down, "payload": up + down, "datagrams": n,
                    "with_ip_udp": up + down + IP_UDP * n, "by_kind": kinds})
    assert c.registered
    return out


def dtls_overhead(plain, dtls):
    """{way: [per day: what DTLS adds to plain CoAP]} from two day_bytes() results."""
    out = {}
    for way in sorted(dtls):
        rows = []
        for p, d in zip(plain[way], dtls[way]):
            hs = d["by_kind"].get(MA.HANDSHAKE, {})
            add = d["payload"] - p["payload"]
            add_ip = d["with_ip_udp"] - p["with_ip_udp"]
            rows.append({"day": d["day"], "plain": p["payload"], "dtls": d["payload"], "bytes": add,
                         "percent": round(100.0 * add / p["payload"], 1),
                         "plain_with_ip_udp": p["with_ip_udp"], "dtls_with_ip_udp": d["with_ip_udp"],
                         "bytes_with_ip_udp": add_ip,
                         "percent_with_ip_udp": round(100.0 * add_ip / p["with_ip_udp"], 1),
                         "datagrams_added": d["datagrams"] - p["datagrams"],
                         "handshake": {"up": hs.get("up", 0), "down": hs.get("down", 0),
                                       "bytes": hs.get("up", 0) + hs.get("down", 0),
                                       "up_datagrams": hs.get("up_datagrams", 0),
                                       "down_datagrams": hs.get("down_datagrams", 0),
                                       "datagrams": hs.get("up_datagrams", 0) + hs.get("down_datagrams", 0)}})
        out[way] = rows
    return out


# == the other benches ===================================================================

def micropython(rounds, dtls=False):
    """bench/mp_andlink.py's figures (it prints them and a JSON line MPANDLINK {...});
    dtls: its --dtls run (without the per-module table: the plain run's)."""
    p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "mp_andlink.py"), "--rounds=%d" % rounds] +
                       (["--dtls", "--no-modules"] if dtls else []), capture_output=True, text=True, timeout=1800)
    sys.stdout.write("".join(x + "\n" for x in p.stdout.splitlines() if not x.startswith("MPANDLINK ")))
    sys.stderr.write(p.stderr[-3000:])
    for line in p.stdout.splitlines():
        if line.startswith("MPANDLINK "):
            return json.loads(line[10:])
    return {"error": "bench/mp_andlink.py%s exit %d" % (" --dtls" if dtls else "", p.returncode)}


def bc95(args):
    """bench/andlink_bc95.py when it exists: its output, its JSON line."""
    path = os.path.join(ROOT, "bench", "andlink_bc95.py")
    if not os.path.exists(path):
        return None
    print("bench-andlink: bench/andlink_bc95.py ...", file=sys.stderr, flush=True)
    p = subprocess.run([sys.executable, path] + shlex.split(args), capture_output=True, text=True, timeout=3600)
    sys.stdout.write("".join(x + "\n" for x in p.stdout.splitlines() if not x.startswith("ANDLINK_BC95 ")))
    sys.stderr.write(p.stderr[-3000:])
    for line in p.stdout.splitlines():
        if line.startswith("ANDLINK_BC95 "):
            return json.loads(line[13:])
    return {"error": "bench/andlink_bc95.py exit %d" % p.returncode}


# == the report ==========================================================================

def _t(s):
    return "%.1f ms" % (s * 1e3) if s < 1 else "%.2f s" % s


def summary(res):
    rows = []
    mp = res.get("micropython")
    if mp and "error" not in mp:
        if mp.get("heap"):
            rows.append(("heap the client adds, MicroPython (b) - (a)",
                         "%d B, median of %d heap layouts (%d to %d B; live steady %d B; peak bound %d B "
                         "registering, %d B reporting)" % (
                             mp["client_minus_idle"], len(mp["client_minus_idle_layouts"]["each"]),
                             mp["client_minus_idle_layouts"]["min"], mp["client_minus_idle_layouts"]["max"],
                             mp["live_client_minus_idle"],
                             mp["peak_above_idle"]["register"], mp["peak_above_idle"]["rounds"]),
                         "<= %d B: %s" % (mp["target_bytes"], "met" if mp["target_met"] else "NOT met")))
        t = mp["modules_total"]
        rows.append(("lib/andlink resident (.mpy, %d modules)" % len(mp["modules"]),
                     "%s B 32-bit, %d B 64-bit, %d B 64-bit re-imported (frozen proxy)" % (
                         t["resident32"] if t["resident32"] is not None else "-", t["resident64"], t["reimport64"]),
                     ""))
    elif mp:
        rows.append(("MicroPython", mp["error"], ""))
    md = res.get("micropython_dtls")
    if md and "error" not in md:
        r = md["records"]
        pk = md["peak_above_idle"]
        if md.get("heap"):
            rows.append(("heap the client adds over DTLS, MicroPython (b) - (a)",
                         "%d B, %d B less the scripted server's session state (%d B); plain %s B" % (
                             md["client_minus_idle"], md["client_minus_idle_less_server"], md["live_server"],
                             mp["client_minus_idle"] if mp and mp.get("heap") else "-"),
                         "no target set (plain's: <= %d B)" % md["target_bytes"]))
        rows.append(("DTLS live steady state, peak bound above idle",
                     "live %d B (%d B less the server's; plain %s B); peak %d B registering (%s), %d B reporting (%s)"
                     % (md["live_client_minus_idle"], md["live_client_minus_idle_less_server"],
                        mp["live_client_minus_idle"] if mp and "error" not in mp else "-",
                        pk["register"], pk["register_call"], pk["rounds"], pk["rounds_call"]), ""))
        rows.append(("DTLS allocation per record (garbage), MicroPython",
                     "seal %d B mean (%d in Ccm8.seal_into), open %d B mean (%d in Ccm8.open)" % (
                         r["send"]["mean"], r["seal"]["mean"], r["receive"]["mean"], r["open"]["mean"]), ""))
    elif md:
        rows.append(("MicroPython, DTLS", md["error"], ""))
    if mp and "error" not in mp and mp.get("modules"):
        dm = [m for m in mp["modules"] if m["module"].startswith("andlink.dtls")]
        if dm:
            rows.append(("lib/andlink/dtls resident (.mpy, %d modules)" % len(dm),
                         "%s B 32-bit, %d B 64-bit, %d B 64-bit re-imported (frozen proxy)" % (
                             sum(m["resident32"] for m in dm) if all(m["resident32"] is not None for m in dm)
                             else "-", sum(m["resident64"] for m in dm), sum(m["reimport64"] for m in dm)), ""))
    for key, r in sorted((res.get("first_notify") or {}).items()):
        st = r["steps_median_s"]
        fn = r["first_notify_s"]
        what = "registration -> first notify, %s" % ("loopback" if key == "loopback" else "RTT %g s" % r["rtt"])
        rows.append((what, "%s%s: 2.01 at %s, reads + check %s, 1st observe %s, 4 observes %s%s" % (
            _t(fn["median"]), " median of %d (%s to %s)" % (r["runs"], _t(fn["min"]), _t(fn["max"]))
            if r["runs"] > 1 else "", _t(st["registered"]), _t(st["reads_done"]), _t(st["first_observed"]),
            _t(st["observes_done"]), "; %.1f round trips" % r["round_trips"] if r.get("round_trips") else ""),
            "no target set"))
    for way, days in sorted((res.get("bytes_per_day") or {}).items()):
        for dd in days:
            rows.append(("bytes/day, %s every 15 min, UQ, lt 86400, day %d%s" % (
                "Send" if way == "send" else "notify", dd["day"], " (registers)" if dd["day"] == 1 else " (steady)"),
                "%d B payload (up %d, down %d) in %d datagrams; %d B with IP/UDP headers" % (
                    dd["payload"], dd["up"], dd["down"], dd["datagrams"], dd["with_ip_udp"]), "no target set"))
    for way, days in sorted((res.get("bytes_per_day_dtls") or {}).items()):
        over = {o["day"]: o for o in (res.get("dtls_overhead") or {}).get(way, ())}
        for dd in days:
            rows.append(("DTLS bytes/day, %s every 15 min, UQ, lt 86400, day %d%s" % (
                "Send" if way == "send" else "notify", dd["day"], " (handshake, registers)" if dd["day"] == 1
                else " (steady)"),
                "%d B on the wire (up %d, down %d) in %d datagrams; %d B with IP/UDP headers" % (
                    dd["payload"], dd["up"], dd["down"], dd["datagrams"], dd["with_ip_udp"]), "no target set"))
            o = over.get(dd["day"])
            if o:
                hs = o["handshake"]
                rows.append(("  DTLS over plain CoAP, that day", "+ %d B (%.1f %%); + %d B (%.1f %%) with headers%s" % (
                    o["bytes"], o["percent"], o["bytes_with_ip_udp"], o["percent_with_ip_udp"],
                    "; of it the handshake %d B (up %d, down %d) in %d datagrams" % (
                        hs["bytes"], hs["up"], hs["down"], hs["datagrams"]) if hs["datagrams"] else ""), ""))
    lb = (res.get("first_notify") or {}).get("loopback")
    fk = res.get("fake_clock_check")
    if lb and fk:
        rows.append(("cross-check: registration phase (Register, 4.1.5 reads, 4 observes)",
                     "simulator %d B in %d datagrams; scripted platform %d B in %d" % (
                         lb["registration_phase"]["bytes"], lb["registration_phase"]["datagrams"],
                         fk["registration_phase"]["bytes"], fk["registration_phase"]["datagrams"]), ""))
        rows.append(("cross-check: one Send exchange", "simulator %d B; scripted platform %d B" % (
            lb["send_exchange"]["bytes"], fk["send_exchange"]["bytes"]), ""))
    b = res.get("bc95")
    if b:
        if "error" in b:
            rows.append(("FOTA through the BC95 emulator (bench/andlink_bc95.py)", "error: " + b["error"], ""))
        else:
            g = b.get
            rows.append(("FOTA through the BC95 emulator (bench/andlink_bc95.py)",
                         "%s: %s KB, RTT %s s, loss %s, %s B/s: %s B/s goodput, download %s s (its table above)" % (
                             g("outcome"), g("kb"), g("rtt"), g("loss"), g("bandwidth"), g("goodput_Bps"),
                             g("download_s")), ""))
    if not rows:
        return ""
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = ["%-*s  %-*s  %s" % (w0, "bench-andlink", w1, "measured", "target"), "-" * (w0 + w1 + 16)]
    lines += ["%-*s  %-*s  %s" % (w0, r[0], w1, r[1], r[2]) for r in rows]
    lines.append("bytes: UDP payload both ways (over DTLS: the records, the handshake included); + %d B of IPv4 and "
                 "UDP headers per datagram in the last figure (fake clock: sans-I/O client + scripted platform)."
                 % IP_UDP)
    return "\n".join(lines)


def fake_clock_check():
    """The scripted platform's registration phase and one Send, to set beside
    the simulator's (observing /19/1/0 too, as the loopback run does)."""
    import fakelwm2m as F
    s = MA.Scripted(MA.new_client(F.make_store("UQ")))
    MA.register(s, observe_data=True)
    tot = s.totals()
    reg = {"bytes": tot[1] + tot[3], "datagrams": tot[0] + tot[2]}
    MA.report(s, 18, send=True, notify=False)
    t2 = s.totals()
    return {"registration_phase": reg, "send_exchange": {"bytes": t2[1] + t2[3] - reg["bytes"],
                                                         "datagrams": t2[0] + t2[2] - reg["datagrams"]}}


def parser():
    p = argparse.ArgumentParser(prog="bench-andlink", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="loopback runs of the first-notify time (default 5)")
    p.add_argument("--rtt", type=float, default=1.5, help="also one run at this round trip, s (0: none; default 1.5)")
    p.add_argument("--change-ms", type=float, default=1.0, help="the board's reading changes every so many ms")
    p.add_argument("--mp-rounds", type=int, default=MA.ROUNDS, help="bench/mp_andlink.py --rounds")
    p.add_argument("--mp", action="store_true", default=True, help=argparse.SUPPRESS)
    p.add_argument("--no-mp", dest="mp", action="store_false", help="skip the MicroPython figures")
    p.add_argument("--dtls", action="store_true", default=True, help=argparse.SUPPRESS)
    p.add_argument("--no-dtls", dest="dtls", action="store_false",
                   help="skip the DTLS variants (MicroPython --dtls, bytes per day over DTLS)")
    p.add_argument("--bc95", action="store_true", default=True, help=argparse.SUPPRESS)
    p.add_argument("--no-bc95", dest="bc95", action="store_false", help="skip bench/andlink_bc95.py")
    p.add_argument("--bc95-args", default="", help="arguments for bench/andlink_bc95.py (one string)")
    p.add_argument("--json", default=os.path.join(ROOT, "build", "bench-andlink.json"),
                   help="write the figures here ('' : nowhere; default build/bench-andlink.json)")
    return p


def run(a):
    res = {}
    if a.mp:
        print("bench-andlink: MicroPython (bench/mp_andlink.py) ...", file=sys.stderr, flush=True)
        res["micropython"] = micropython(a.mp_rounds)
        if a.dtls:
            print("bench-andlink: MicroPython over DTLS (bench/mp_andlink.py --dtls) ...", file=sys.stderr,
                  flush=True)
            res["micropython_dtls"] = micropython(a.mp_rounds, dtls=True)
    print("bench-andlink: registration to first notification ...", file=sys.stderr, flush=True)
    res["first_notify"] = asyncio.run(first_notify_runs(a))
    res["bytes_per_day"] = {way: day_bytes(way) for way in ("send", "notify")}
    if a.dtls:
        res["bytes_per_day_dtls"] = {way: day_bytes(way, dtls=True) for way in ("send", "notify")}
        res["dtls_overhead"] = dtls_overhead(res["bytes_per_day"], res["bytes_per_day_dtls"])
    res["fake_clock_check"] = fake_clock_check()
    res["ip_udp_header_bytes"] = IP_UDP
    if a.bc95:
        b = bc95(a.bc95_args)
        if b is not None:
            res["bc95"] = b
    return res


def main(argv=None):
    a = parser().parse_args(argv)
    res = run(a)
    print(summary(res))
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
