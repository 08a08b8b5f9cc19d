"""wmmp.terminal.simguard jobs on an asynchronous SIM (the modem drivers' SIM methods are
coroutines): run_async serves the same 4.4.1 rules as run, and a SIM with a
sim_lock runs one job at a time, so two jobs (the engine's and the console's)
never interleave their commands on the card.  CPython asyncio."""
import asyncio

from wmmp.terminal import params as PM
from wmmp.terminal import simcard as S
from wmmp.terminal import simguard as SG, simrecord as SR
from wmmp.modem import DriverBase

IMSI = "460001234567890"
ICCID = "89860012345678901234"
IMEI = "860000000000001"


class AsyncCard(DriverBase):
    """A SimulatedSim behind coroutines that yield to the loop on every call,
    logging (job tag, method) so interleaving would show."""

    def __init__(self, card):
        self.card = card
        self.calls = []
        self.tag = None

    def __getattr__(self, name):
        f = getattr(self.card, name)

        async def call(*args):
            self.calls.append(name)
            await asyncio.sleep(0)
            return f(*args)
        return call


def test_run_async_applies_the_same_rules_as_run():
    # 4.4.1.1: the stored PIN1 is entered once; a refused one is never sent again.
    async def main():
        sim = AsyncCard(S.SimulatedSim(IMSI, ICCID, IMEI, pin="1234"))
        store = PM.MemoryStorage({SR.KEY_PIN: b"1234"})
        r = await SG.run_async(SG.SimGuard(sim, store).boot_job(), sim)
        assert r.state == SG.WORKING and sim.card.pin_commands == 1
        bad = AsyncCard(S.SimulatedSim(IMSI, ICCID, IMEI, pin="1234"))
        store = PM.MemoryStorage({SR.KEY_PIN: b"9999"})
        assert (await SG.run_async(SG.SimGuard(bad, store).boot_job(), bad)).state == SG.ALARM
        bad.card.power_cycle()
        assert (await SG.run_async(SG.SimGuard(bad, store).boot_job(), bad)).state == SG.ALARM
        assert bad.card.pin_commands == 1 and bad.card.attempts() == (2, 10)
    asyncio.run(main())


def test_jobs_on_one_driver_do_not_interleave():
    # 4.4.1.2 + 4.4.1.4: a platform PIN change and a console status read started
    # together run one after the other on the card (DriverBase.sim_lock).
    async def main():
        card = S.SimulatedSim(IMSI, ICCID, IMEI, pin="1234")
        card.enter_pin("1234")
        sim = AsyncCard(card)
        store = PM.MemoryStorage({SR.KEY_PIN: b"1234"})
        change = SG.change_pin_job(store, None, "5678")
        reads = SG.read_tlvs_job(store, b"M2MMAKER00000001", [0xE003, 0xE00D])
        ok, tlvs = await asyncio.gather(SG.run_async(change, sim), SG.run_async(reads, sim))
        assert ok is True and dict(tlvs)[0xE003] == b"\x01"
        seq = sim.calls
        # the change's commands form one unbroken run, then the read's one
        assert seq[-1] == "pin_enabled" and "change_pin" in seq
        assert seq.index("change_pin") < len(seq) - 1 and seq.count("pin_enabled") == 2
        assert seq[:seq.index("change_pin") + 1].count("pin_enabled") == 1
        assert bytes(store.load()[SR.KEY_PIN]) == b"5678"
    asyncio.run(main())


def test_outcome_async_never_raises():
    # The runner and the console task hand a job's outcome on and must not die
    # of a driver bug (the terminal's loop never dies): (result, None), (None,
    # WmmpError) as raised, or a logged WmmpError for any other fault.
    from wmmp.errors import WmmpError

    class Broken(AsyncCard):
        def __getattr__(self, name):
            if name.startswith("_"):
                raise AttributeError(name)

            async def call(*a):
                raise KeyError(name)
            return call

    async def main():
        card = S.SimulatedSim(IMSI, ICCID, IMEI, pin="1234", pin_enabled=False)
        store = PM.MemoryStorage()
        r, err = await SG.outcome_async(SG.read_tlvs_job(store, b"M2MMAKER00000001", [0xE003]),
                                        AsyncCard(card))
        assert err is None and r == [(0xE003, b"\x00")]
        r, err = await SG.outcome_async(SG.recover_job(store, "1234"), AsyncCard(card))
        assert r is None and isinstance(err, S.SimError)          # READY: nothing to recover
        logs = []
        r, err = await SG.outcome_async(SG.recover_job(store, "1234"), Broken(card), logs.append)
        assert r is None and type(err) is WmmpError and "KeyError" in str(err) and len(logs) == 1
    asyncio.run(main())
