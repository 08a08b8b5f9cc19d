"""The And-link platform simulator's FOTA flow and observations on a link that
loses things (spec 4.4, 4.3.1.2; RFC 7641), loopback only:

  * the outcome after the device restarts into the package is judged on the
    registration that follows, whatever happens around it: the 2.01 of the
    Register lost (the CON Register sent again, answered from aiocoap's
    duplicate cache), a second Register handled again, a read of /5/0/5 that
    gets no answer -- a read that comes too early (state 3, result 0) or fails
    is read again within --update-timeout; result 2-9, a wrong version or the
    time limit still end the flow as failed.  With the real client
    (lib/andlink/client through andlink-term, in-process) and with the fake
    device of test_andlink_platform.py;
  * an observation that ends -- aiocoap ends every observation of an address
    when a CON to it is given up after its retransmissions, the device ends
    one with an error notification, or (FOTA's /5/0/3 with pmax) it falls
    silent because the device dropped it -- is observed again with a bounded
    back-off while the device keeps its registration (FOTA's only while the
    flow runs); the first answer gives the state the flow may have missed."""

import asyncio
import os

import aiocoap
import pytest
from aiocoap.numbers.codes import Code

from andlink_tools import coapio
from andlink_tools.fota import ACTIVE, Policy
from andlink_tools.platform import Platform

from test_andlink_platform import FakeDevice, config, registered, run, wait_for
from test_andlink_e2e import IMEI, Rig, package

PACKAGE = os.urandom(3000)
CREATED = 0x41                                  # the code byte of 2.01


def ended(rec):
    return rec.state not in ACTIVE


async def push(pf, d):
    pkg = pf.packages.publish(PACKAGE, "2.0.0", "fw.bin")
    return await pf.fota.push(d, pkg)


def observes(dev, path, query=None):
    return [s for s in dev.requests("GET", path) if s[3] == 0 and (query is None or s[2] == query)]


def told(rec):
    return "%s: %s" % (rec.reason, "; ".join(e["event"] for e in rec.events))


def history(d, words):
    return [h["event"] for h in d.history if words in h["event"]]


class Device(FakeDevice):
    """The fake device with a link that loses things and the client's restart:

    deaf      the platform's requests are not heard (out of coverage): a CON to
              it is given up after its retransmissions; answers still arrive
    lose_2_01 that many 2.01 answers are lost (aiocoap sends the CON again)
    hold      the download waits for this event after the Write of /5/0/1
    restart   how the update ends: the device restarts without De-register
              and, like lib/andlink/client, says state 3 and result 0 until
              its Register is answered; then result 1 and the new version
              ("ok"), result 8 and the old one ("rolled-back") or nothing
              ever ("never").  None: FakeDevice's De-register and Register.
    again     after the restart a Register that gets no answer in 0.3 s is
              sent anew (a new message: the platform handles it again)
    mute      paths whose next plain Read is never answered"""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.deaf = False
        self.lose_2_01 = 0
        self.lost = 0
        self.hold = None
        self.restart = None
        self.again = False
        self.mute = set()

    async def start(self):
        await super().start()
        for _, mi in coapio._message_interfaces(self.ctx):
            received = mi.datagram_msg_received

            def filtered(data, ancdata, flags, address, received=received):
                if len(data) > 1 and self.deaf and 1 <= data[1] <= 31:           # a request
                    return
                if len(data) > 1 and data[1] == CREATED and self.lose_2_01 > 0:
                    self.lose_2_01 -= 1
                    self.lost += 1
                    return
                received(data, ancdata, flags, address)
            mi.datagram_msg_received = filtered
        return self

    async def render(self, request):
        path = "/" + "/".join(request.opt.uri_path)
        if path in self.mute and str(request.code).endswith("GET") and request.opt.observe is None:
            self.mute.discard(path)
            self.seen.append(("GET", path, (), None, request.token, None, b""))
            await asyncio.sleep(30)                                          # never answered
        return await super().render(request)

    async def _download(self, uri):
        if self.hold is not None:
            await self.hold.wait()
        await super()._download(uri)

    async def _update(self):
        if self.restart is None:
            return await super()._update()
        await asyncio.sleep(0.05)
        self.set((5, 0, 3), 3)
        await asyncio.sleep(0.1)
        self.observers.clear()                       # the restart: the device's observations are gone
        self.values[(5, 0, 5)] = 0                   # "trial" until registered (lib/andlink/client/fota.py)
        if self.again:
            self.lose_2_01 = 99
            try:
                await asyncio.wait_for(self.register(self.server), 0.3)
            except asyncio.TimeoutError:
                pass
            self.lose_2_01 = 0
        r = await self.register(self.server)
        assert r.code == Code.CREATED
        if self.restart == "ok":
            self.values[(3, 0, 3)] = self.next_version
            self.set((5, 0, 5), 1)
            self.set((5, 0, 3), 0)
        elif self.restart == "rolled-back":
            self.set((5, 0, 5), 8)
            self.set((5, 0, 3), 0)


async def rig(**kw):
    pf = await Platform(config(**kw)).start()
    return pf, await Device().start()


# == the outcome after the restart (bug: judged too early) ==================================

def test_real_client_fota_survives_a_lost_2_01_after_the_restart(tmp_path):
    """lib/andlink/client answers requests once its Register is out, but
    confirms the update (result 1, the new /3/0/3) only at the 2.01: with that
    2.01 lost it says state 3, result 0 until its CON Register is answered."""
    async def go():
        r = await Rig(tmp_path, policy=Policy(stall=5.0, download=20.0, update=8.0)).start()
        try:
            t = await r.device(update=True)
            await r.ready(t)
            lost = []

            def drop(raw, peer, way):
                rec = r.pf.fota.current(IMEI)
                if way == "in" and not lost and len(raw) > 1 and raw[1] == CREATED and rec is not None \
                        and rec.state == "updating":
                    lost.append(raw)
                    return True
                return False
            t.drop = drop
            data = package("2.0.0")
            assert (await r.op(op="fota_publish", version="2.0.0", data=data.hex()))["ok"]
            res = await r.op(op="fota_push", ep=IMEI, version="2.0.0", timeout=10)
            assert res["ok"], res
            rec = r.pf.fota.current(IMEI)
            await wait_for(lambda: ended(rec), 20, "the end of the FOTA flow")
            assert lost, "the 2.01 after the restart was not lost"
            assert rec.state == "succeeded", told(rec)
            assert rec.result == 1 and rec.new_version == "2.0.0"
            assert t.client.fota_state() == (0, 1) and t.client.stager.version() == "2.0.0"
        finally:
            await r.close()
    run(go())


@pytest.mark.parametrize("how", ["lost-2.01", "registered-again", "read-unanswered"])
def test_fota_outcome_after_the_restart_is_read_again_until_it_is_known(how):
    async def main():
        pf, dev = await rig(request_timeout=1.0)
        try:
            d = await registered(pf, dev)
            dev.restart = "ok"
            if how == "lost-2.01":
                dev.lose_2_01 = 1                        # set now: the first 2.01 is the restart's
            elif how == "registered-again":
                dev.again = True
            else:
                dev.mute.add("/5/0/5")
            regs = d.counts["registrations"]
            rec = await push(pf, d)
            await wait_for(lambda: ended(rec), 15, "the end of the FOTA flow")
            assert rec.state == "succeeded", told(rec)
            assert rec.result == 1 and rec.new_version == "2.0.0"
            if how == "lost-2.01":
                assert dev.lost == 1 and d.counts["registrations"] == regs + 1    # answered from the cache
            elif how == "registered-again":
                assert d.counts["registrations"] == regs + 2 and history(d, "registered again")
            else:
                assert any("Read /5/0/5" in e["event"] and "no answer" in e["event"] for e in rec.events)
        finally:
            await dev.close()
            await pf.close()
    run(main())


@pytest.mark.parametrize("how, words", [
    ("rolled-back", "update failed: /5/0/5 = 8 (update failed)"),
    ("never", "no outcome within 2 s of the Execute"),
])
def test_fota_real_failures_after_the_restart_still_fail(how, words):
    async def main():
        pf, dev = await rig(policy=Policy(stall=3.0, download=15.0, update=2.0))
        try:
            d = await registered(pf, dev)
            dev.restart = how
            dev.lose_2_01 = 1
            rec = await push(pf, d)
            await wait_for(lambda: ended(rec), 15, "the end of the FOTA flow")
            assert rec.state == "failed" and words in rec.reason, told(rec)
            if how == "never":                           # read more than once, never judged on result 0
                assert len([s for s in dev.requests("GET", "/5/0/5") if s[3] is None]) >= 2
                assert "/5/0/5 = 0" in rec.reason
        finally:
            await dev.close()
            await pf.close()
    run(main())


# == observations that end (bug: never observed again) ======================================

async def cut_off(pf, dev, d, stay=False):
    """The device hears nothing until a Read is given up after its CON
    retransmissions: aiocoap then ends every observation of that address.
    `stay`: it goes on hearing nothing."""
    n = len(history(d, "ended"))
    dev.deaf = True
    with pytest.raises(Exception):
        await pf.ops.read(d, (3, 0, 9))
    await wait_for(lambda: len(history(d, "ended")) > n, 5, "the observations' end")
    dev.deaf = stay


def test_fota_state_observed_again_after_aiocoap_ends_the_observation():
    async def main():
        pf, dev = await rig(ack_timeout=0.03, request_timeout=5.0,
                            policy=Policy(stall=8.0, download=15.0, update=5.0))
        try:
            d = await registered(pf, dev)
            dev.hold = asyncio.Event()
            rec = await push(pf, d)
            assert rec.state == "uri-written" and len(observes(dev, "/5/0/3", ("pmax=10",))) == 1
            await cut_off(pf, dev, d)
            assert history(d, "observation /5/0/3 ended")
            dev.hold.set()                               # 1, 2 notified: the flow must learn of them
            await wait_for(lambda: ended(rec), 15, "the end of the FOTA flow")
            assert rec.state == "succeeded", told(rec)
            assert len(observes(dev, "/5/0/3", ("pmax=10",))) >= 2          # the flow's, observed again
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_fota_state_observed_again_when_the_device_fell_silent():
    """The device dropped the flow's /5/0/3 observation without a word (its CON
    notification timed out, RFC 7641 4.5): no notification for 2 x pmax and
    the flow observes it again; the answer says the download is done."""
    async def main():
        pf, dev = await rig(policy=Policy(stall=10.0, download=15.0, update=5.0, pmax=1))
        try:
            d = await registered(pf, dev)
            dev.hold = asyncio.Event()
            rec = await push(pf, d)
            assert rec.state == "uri-written"
            dev.observers.pop((5, 0, 3))                 # gone on the device's side only
            dev.hold.set()
            await wait_for(lambda: ended(rec), 15, "the end of the FOTA flow")
            assert rec.state == "succeeded", told(rec)
            assert len(observes(dev, "/5/0/3", ("pmax=1",))) >= 2
        finally:
            await dev.close()
            await pf.close()
    run(main())


def test_operator_and_registration_observations_are_observed_again():
    async def main():
        pf, dev = await rig(ack_timeout=0.03, request_timeout=5.0)
        try:
            d = await registered(pf, dev)
            r = await pf.ops.observe(d, (3, 0, 9))                     # the operator's (CLI observe)
            assert r.ok and d.observations["/3/0/9"].origin == "operator"
            # the device ends it: a notification that is not 2.xx (RFC 7641 3.2)
            first = d.observations["/3/0/9"]
            dev.observers[(3, 0, 9)].trigger(aiocoap.Message(code=Code.SERVICE_UNAVAILABLE))
            await wait_for(lambda: d.observations.get("/3/0/9") not in (None, first), 5, "the new observation")
            assert d.observations["/3/0/9"].origin == "operator" and history(d, "observation /3/0/9 ended")
            dev.set((3, 0, 9), 55)
            await wait_for(lambda: d.value((3, 0, 9)) == 55, 3, "a notification of the new observation")
            # every observation of the address ends at once: all come back with their origin
            await cut_off(pf, dev, d)
            want = ["/3/0/11", "/3/0/9", "/5/0/3", "/5/0/5"]
            await wait_for(lambda: sorted(d.observations) == want, 10, "the observations again")
            assert d.observations["/3/0/9"].origin == "operator"
            assert {d.observations[k].origin for k in want if k != "/3/0/9"} == {"registration"}
            dev.set((3, 0, 11), 4)
            await wait_for(lambda: d.value((3, 0, 11)) == 4, 3, "a notification of /3/0/11")
            # not while the device is unreachable and then gone: the retries stop
            await cut_off(pf, dev, d, stay=True)
            assert (await dev.deregister()).code == Code.DELETED
            await wait_for(lambda: not pf.ops.reobserving, 10, "the end of the retries")
            assert d.reg is None and not d.observations
        finally:
            await dev.close()
            await pf.close()
    run(main())
