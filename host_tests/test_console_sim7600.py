"""The service console (wmmp.board.console) over the SIM7600 driver and its emulator:
the driver's SIM methods are coroutines (simguard.is_async), so STATUS, IDENT
and RESET SIM reach the card as SIM jobs that the test runs the way a board's
console task does, with `await simguard.run_async(job, driver)`.  Sections
4.4.1.1 (PIN1 boot guard), 4.4.1.4 (local reset of the SIM security), appendix
E g E020/E00D/E018.  CPython: asyncio.run inside plain tests."""

import asyncio
from binascii import hexlify, unhexlify

from wmmp.board import console as CO, fsio, store as ST
from wmmp.terminal import params as PM, simguard as SG, simrecord as SR, simcard as S
from wmmp.wire import codes as K
from wmmp.errors import WmmpError

from test_sim7600_driver import ICCID, IMEI, IMSI, rig, run

CRED = b"3c9e51a7f0d24b86e1c5a9f3071b2d4e"
PIN = "2468"          # the card's PIN1: in no identity, so a leak is visible
WRONG = "9753"        # the PIN1 the terminal had stored


async def say(con, drv, line, now):
    """One console line; its SIM jobs run on the driver; the reply text."""
    out = con.feed(line.encode() + b"\r\n", now)
    while True:
        jobs = con.sim_jobs()
        if not jobs:
            return out.decode().strip()
        assert con.busy() and len(jobs) == 1
        for job, done in jobs:
            try:
                res, err = await SG.run_async(job, drv), None
            except WmmpError as e:
                res, err = None, e
            out += con.sim_done(done, res, err, now)


async def login(con, drv, now):
    r = await say(con, drv, "CHALLENGE", now)
    nonce = unhexlify(r.split()[2])
    return await say(con, drv, "AUTH " + hexlify(CO.response(CRED, nonce)).decode(), now)


def test_console_status_and_reset_sim_pin1_through_the_sim7600_driver(tmp_path):
    """4.4.1.1: the stored PIN1 is not the card's; the boot guard sends
    it once through the driver, the card refuses it (2 attempts left) and the
    terminal alarms.  The console's STATUS shows the card's real state read
    over AT (SIM PIN, PIN1 check on, 2/10 attempts, E018 1/3, bound); IDENT
    the module's IMEI and the ICCID.  4.4.1.4: RESET SIM alone is refused
    (need_pin); RESET SIM PIN1 with the card's real PIN1 enters it once
    (AT+CPIN), stores it, clears the error count, removes the binding and
    switches the check off (AT+CLCK "SC",0); E020 0x80 is kept for the next
    LOGIN.  No PIN in any reply or audit entry."""
    async def main():
        r = await rig(sim=S.SimulatedSim(IMSI, ICCID, IMEI, pin=PIN, puk="11223344", pin_enabled=True))
        await r.m.power_on()
        assert SG.is_async(r.m)
        flash = ST.FlashStorage(fsio.OsFS(), str(tmp_path / "state"))
        flash.save({"secret_service": CRED, "serial": b"M2MMAKER0000A1B2", "registered": b"\x01",
                    "imsi": IMSI.encode(), SR.KEY_PIN: WRONG.encode()})
        SG.bind(flash, IMSI, IMEI)
        res = await SG.run_async(SG.SimGuard(r.m, flash).boot_job(), r.m)
        assert res.state == SG.ALARM and await r.m.attempts() == (2, 10)
        con = CO.Console(flash, lambda: (res.state, [res.alarm]), sim=r.m, firmware="FW1", production=False)
        replies = []

        async def ask(line, now=10):
            replies.append(await say(con, r.m, line, now))
            return replies[-1]

        st = await ask("STATUS")
        assert "sim=SIM_PIN pin1=on pin1_left=2 puk1_left=10 pin1_errors=1/3 bind=1 " in st, st
        assert "reset=allowed" in st
        assert await ask("IDENT") == "OK IDENT serial=M2MMAKER0000A1B2 imei=%s imsi=%s iccid=%s fw=FW1 " \
            "cred_id=-" % (IMEI, IMSI, ICCID)
        assert (await login(con, r.m, 10)).startswith("OK AUTH")
        assert (await ask("RESET SIM")).startswith("ERR need_pin ")
        assert r.emu.sim.pin_commands == 1
        ok = "OK RESET SIM cleared=0x80 bind=0 pin1=off next=login-e020"
        assert await ask("RESET SIM PIN1 " + PIN) == ok
        assert con.events() == [("reset", "sim", K.CLEARED_PIN1)] and not con.busy()
        assert r.written().count(b'AT+CPIN="%s"' % PIN.encode()) == 1
        assert b'AT+CLCK="SC",0,"%s"' % PIN.encode() in r.written()
        assert await r.m.pin_state() == S.READY and await r.m.pin_enabled() is False
        d = flash.load()
        assert d[SR.KEY_PIN] == PIN.encode() and d["cleared_login"] == b"\x80"
        assert SG.pin1_errors(flash) == (3, 0)
        st = await ask("STATUS", 11)
        assert "sim=READY pin1=off pin1_left=3 puk1_left=10 pin1_errors=0/3 bind=0 " in st, st
        assert "cleared_login=0x80 " in st
        texts = replies + ["%s %s" % e[1:] for e in flash.audit_entries()]
        assert any(t.startswith("console_reset_sim ") for t in texts)
        for t in texts:
            assert PIN not in t and WRONG not in t, t
        # the next boot needs no PIN1 at all
        res = await SG.run_async(SG.SimGuard(r.m, flash).boot_job(), r.m)
        assert res.state == SG.WORKING
        await r.close()
    run(main())


def test_console_lines_wait_while_a_driver_job_is_on_the_wire():
    """While the console's SIM job is talking AT to the module, lines typed
    meanwhile wait and are answered in order once it is done (docs/CONSOLE.md,
    "Asynchronous SIM"); a line that needs the SIM again gets its own job."""
    async def main():
        r = await rig(sim=S.SimulatedSim(IMSI, ICCID, IMEI, pin=PIN, puk="11223344", pin_enabled=False))
        await r.m.power_on()
        store = PM.MemoryStorage({"secret_service": CRED, "imsi": IMSI.encode()})
        con = CO.Console(store, lambda: ("alarm", [K.ALARM_SELF_TEST_FAULT]), sim=r.m, production=False)
        assert con.feed(b"STATUS\r\n", 1) == b""
        (job, done), = con.sim_jobs()
        task = asyncio.ensure_future(SG.run_async(job, r.m))
        await asyncio.sleep(0)                         # the job has started its AT exchange
        assert con.feed(b"ALARMS\r\nIDENT\r\nHELP\r\n", 1) == b""
        out = con.sim_done(done, await task, None, 2).decode().split("\r\n")
        assert out[0].startswith("OK STATUS state=alarm alarms=0x0006 registered=no sim=READY pin1=off "
                                 "pin1_left=3 puk1_left=10 pin1_errors=0/3 bind=0 ")
        assert out[1:] == ["OK ALARMS n=1 0x0006", ""] and con.busy()
        (job, done), = con.sim_jobs()
        out = con.sim_done(done, await SG.run_async(job, r.m), None, 3).decode().split("\r\n")
        assert out[0] == "OK IDENT serial=- imei=%s imsi=%s iccid=%s fw=- cred_id=-" % (IMEI, IMSI, ICCID)
        assert out[1].startswith("OK HELP ") and not con.busy() and con.sim_jobs() == []
        await r.close()
    run(main())
