"""The asyncio runner drives the engine through bearers.  In-memory bearers stand
in for sockets; the platform is scripted.  CPython only: the MicroPython
WebAssembly port's asyncio is driven by the JavaScript event loop (it has no
asyncio.run), so it cannot run here; runner.py is compiled by mpy-cross and the
engine it drives is tested under MicroPython (test_engine_*)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "portable"))
import asyncio

from wmmp.terminal import engine as E, params as PM
from wmmp.board import runner as R
from wmmp.wire import commands as C
from wmmp.wire import profile as P
import fakeplatform as F


class MemBearer:
    def __init__(self, kind):
        self.kind = kind
        self.sent = []
        self.inq = []
        self.ev = asyncio.Event()
        self.fail_sends = 0

    async def open(self):
        return None

    async def send(self, data):
        if self.fail_sends:
            self.fail_sends -= 1
            raise OSError("link down")
        self.sent.append(data)

    async def recv(self):
        while not self.inq:
            self.ev.clear()
            await self.ev.wait()
        return self.inq.pop(0)

    def deliver(self, data):
        self.inq.append(data)
        self.ev.set()


async def _scenario():
    pf = F.Platform()
    pf.serial = b"M2MMAKER0000A1B2"
    clock = F.Clock(100)
    t = E.Terminal(E.Config(F.IMEI, F.IMSI), F.provisioned_params())
    pkt, sms = MemBearer(P.BEARER_PACKET), MemBearer(P.BEARER_SMS)
    pkt.fail_sends = 1                      # the first send fails: retransmission covers it
    events, log = [], []
    r = R.Runner(t, {P.BEARER_PACKET: pkt, P.BEARER_SMS: sms}, clock=lambda: clock.t,
                 on_event=events.append, log=log.append, poll=0.005)
    task = asyncio.create_task(r.run())
    for _ in range(400):
        await asyncio.sleep(0.002)
        if pkt.sent:
            break
        clock.advance(1)
    login = pf.read(pkt.sent[0], ts=0)
    assert login.command == C.LOGIN
    pkt.deliver(b"\x00\x01garbage")          # bad input never stops the loop
    pkt.deliver(pf.login_ack(login))
    for _ in range(200):
        await asyncio.sleep(0.002)
        if t.state == E.S_ONLINE and len(pkt.sent) >= 2:
            break
    r.stop()
    await asyncio.sleep(0)
    return t, events, log, pkt, pf


def test_runner_boots_logs_in_and_survives_errors():
    t, events, log, pkt, pf = asyncio.run(_scenario())
    assert t.state == E.S_ONLINE
    assert ("state", "online") in events
    assert any("send on bearer" in line for line in log)
    assert any(e[0] == "dropped" for e in events)
    assert pf.read(pkt.sent[1]).command == C.CONFIG_TRAP


async def _fallback_scenario():
    pf = F.Platform()
    pf.serial = b"M2MMAKER0000A1B2"
    clock = F.Clock(100)
    t = E.Terminal(E.Config(F.IMEI, F.IMSI), F.provisioned_params())
    pkt, sms = MemBearer(P.BEARER_PACKET), MemBearer(P.BEARER_SMS)
    pkt.fail_sends = 3                       # the packet link is down: three sends fail
    opens = []
    link_up = [False]

    async def open_counting():
        opens.append(clock.t)
        if len(opens) > 1 and not link_up[0]:
            raise OSError("no packet service")
    pkt.open = open_counting
    events = []
    r = R.Runner(t, {P.BEARER_PACKET: pkt, P.BEARER_SMS: sms}, clock=lambda: clock.t,
                 on_event=events.append, log=lambda s: None, poll=0.005, probe=5)
    task = asyncio.create_task(r.run())
    for _ in range(600):
        await asyncio.sleep(0.002)
        clock.advance(1)
        if sms.sent:
            link_up[0] = True                # the network comes back
        if ("bearer", "packet") in events:
            break
    r.stop()
    await asyncio.sleep(0.01)
    return events, sms, opens


def test_runner_falls_back_to_sms_and_probes_the_packet_bearer():
    # Issue 5 SMS fallback: send failures reported by the runner move the engine to
    # SMS (the login goes by SMS); the runner probes the packet bearer and the
    # engine returns to it once it opens.
    events, sms, opens = asyncio.run(_fallback_scenario())
    assert ("bearer", "sms") in events and ("bearer", "packet") in events
    assert sms.sent and F.command(sms.sent[0]) == C.LOGIN
    assert len(opens) >= 2                   # opened at start, then probed


class _OrderBearer(MemBearer):
    """Records when it was opened relative to the SIM's PIN1 entry."""

    def __init__(self, kind, trail):
        super().__init__(kind)
        self.trail = trail

    async def open(self):
        self.trail.append("open %d" % self.kind)


def test_runner_enters_pin1_before_opening_bearers_and_resumes():
    # 4.4.1.1: the PIN1 check comes first: a module cannot attach (so a packet
    # bearer cannot open) before PIN1 is entered, so the runner runs the engine's
    # SIM jobs before it opens the bearers.  run(resume=True) restarts a running
    # terminal in place (terminal.restarted: log in again) instead of booting it.
    from wmmp.terminal import simcard as S

    trail = []

    class Card:
        """A SimulatedSim behind coroutines (as a modem driver offers it)."""
        sim_async = True

        def __init__(self, card):
            self.card = card

        def __getattr__(self, name):
            f = getattr(self.card, name)

            async def call(*a):
                if name == "enter_pin":
                    trail.append("pin")
                return f(*a)
            return call

    async def main():
        p = F.provisioned_params()
        p.set("secret_pin1", b"1234")
        card = Card(S.SimulatedSim(F.IMSI, "89860000000000000001", F.IMEI))
        t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=b"M2MMAKER0000A1B2"), p, sim=card)
        pkt = _OrderBearer(P.BEARER_PACKET, trail)
        r = R.Runner(t, {P.BEARER_PACKET: pkt}, clock=lambda: 100.0, log=lambda s: None, poll=0.005)
        task = asyncio.create_task(r.run())
        for _ in range(200):
            await asyncio.sleep(0.002)
            if pkt.sent:
                break
        assert trail == ["pin", "open 2"]
        assert F.Platform().read(pkt.sent[0], ts=0).command == C.LOGIN
        r.stop()
        await task
        pkt.sent.clear()
        t.state = E.S_ONLINE                # as if online when the restart came
        r2 = R.Runner(t, {P.BEARER_PACKET: pkt}, clock=lambda: 200.0, log=lambda s: None, poll=0.005)
        task = asyncio.create_task(r2.run(resume=True))
        for _ in range(200):
            await asyncio.sleep(0.002)
            if pkt.sent:
                break
        assert trail.count("pin") == 1      # no second boot: no SIM checks again
        assert F.Platform().read(pkt.sent[0], ts=0).command == C.LOGIN
        r2.stop()
        await task
    asyncio.run(main())


def test_concurrent_opens_of_one_bearer_share_one_open():
    # A module cannot open the same socket twice at once (the BC95 answers the
    # second AT+NSOCR with +CME ERROR:3): the reader's reopen and the packet
    # probe arriving together share one open() and its outcome.
    class Slow(MemBearer):
        def __init__(self, kind, fail=False):
            super().__init__(kind)
            self.opens = 0
            self.fail = fail

        async def open(self):
            self.opens += 1
            await asyncio.sleep(0.05)
            if self.fail:
                raise OSError("attach failed")

    async def main():
        t = E.Terminal(E.Config(F.IMEI, F.IMSI), F.provisioned_params())
        ok, bad = Slow(P.BEARER_PACKET), Slow(P.BEARER_SMS, fail=True)
        r = R.Runner(t, {P.BEARER_PACKET: ok, P.BEARER_SMS: bad}, log=lambda s: None)
        await asyncio.gather(r._open_bearer(2, ok), r._open_bearer(2, ok))
        assert ok.opens == 1
        await r._open_bearer(2, ok)                  # a later open is a new one
        assert ok.opens == 2
        res = await asyncio.gather(r._open_bearer(1, bad), r._open_bearer(1, bad), return_exceptions=True)
        assert bad.opens == 1 and all(isinstance(e, OSError) for e in res)
    asyncio.run(main())
