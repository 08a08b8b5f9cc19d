"""Engine with a SIM (4.4.1; appendix B 6; appendix E g E001-E018): the PIN1 boot
guard before anything is sent, binding, and the platform's SIM operations through
SECURITY_CONFIG.  Portable; the SIM is wmmp.terminal.simcard.SimulatedSim with real counters."""
import struct

from wmmp.terminal import engine as E, simcard as S
from wmmp.wire import commands as C, codes as K, codec
from wmmp.wire import profile as P
import fakeplatform as F
from test_engine_online import online

ICCID = "89860000000000000001"


def _sim(**kw):
    return S.SimulatedSim(F.IMSI, ICCID, F.IMEI, **kw)


def _boot(sim, params):
    clk, pf = F.Clock(), F.Platform()
    pf.serial = b"M2MMAKER0000A1B2"
    t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=pf.serial), params, sim=sim)
    t.start(clk.t)
    return t, pf, clk


def test_boot_enters_stored_pin_then_logs_in():
    # 4.4.1.1: the stored PIN1 is sent to the SIM before the terminal works.
    sim = _sim()
    p = F.provisioned_params()
    p.set("secret_pin1", b"1234")
    t, pf, clk = _boot(sim, p)
    assert sim.pin_state() == "READY" and sim.pin_commands == 1
    assert pf.read(F.only(t.outgoing())[1], ts=0).command == C.LOGIN


def test_boot_never_sends_a_pin_that_could_lock():
    # 4.4.1.1: with one attempt left the PIN is not sent: alarm, wait for a technician.
    sim = _sim()
    for bad in ("1111", "2222"):
        try:
            sim.enter_pin(bad)
        except S.WrongPin:
            pass
    assert sim.attempts()[0] == 1
    p = F.provisioned_params()
    p.set("secret_pin1", b"1234")
    t, pf, clk = _boot(sim, p)
    assert t.state == E.S_ALARM and t.outgoing() == [] and sim.pin_commands == 2
    assert K.ALARM_SELF_TEST_FAULT in t.alarms


def test_foreign_sim_with_binding_is_an_alarm():
    # 4.4.1.3: binding enabled and another IMSI -> alarm state instead of working.
    from wmmp.terminal import simguard as SG
    p = F.provisioned_params()
    p.set("secret_pin1", b"1234")
    SG.bind(p, F.IMSI, F.IMEI)
    sim = S.SimulatedSim("460009999999999", ICCID, F.IMEI)
    t, pf, clk = _boot(sim, p)
    assert t.state == E.S_ALARM and t.outgoing() == []


def test_platform_changes_pin1_logout_0x0a_apply_login_report():
    # 4.4.1.2 / appendix B 6 (3): new PIN1 (E001) and enable (E003) by SMS in clear:
    # ACK, LOGOUT 0x0A, old PIN checked and the new one applied on the SIM, log in
    # again, report 0x4010.
    sim = _sim()
    p = F.provisioned_params()
    p.set("secret_pin1", b"1234")
    clk, pf = F.Clock(), F.Platform()
    pf.serial = b"M2MMAKER0000A1B2"
    t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=pf.serial), p, sim=sim)
    t.start(clk.t)
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    t.receive(pf.login_ack(login), 2, clk.advance(1))
    t.receive(pf.ack(pf.read(F.only(t.outgoing())[1]), {"result": 0}), 2, clk.advance(1))
    req = pf.make(C.SECURITY_CONFIG, {"operation": 0}, [(0xE001, b"56781234"), (0xE003, b"\x01")],
                  bearer=P.BEARER_SMS, digest=False)
    t.receive(req, P.BEARER_SMS, clk.advance(1))
    out = t.outgoing()
    assert pf.read(out[0][1], P.BEARER_SMS).fields["result"] == 0
    lo = pf.read(out[1][1])
    assert lo.fields["reason"] == K.LOGOUT_UPDATE_SIM_SECURITY
    t.receive(pf.ack(lo), 2, clk.advance(1))
    sim.power_cycle()
    sim.enter_pin("56781234")                       # the card now has the new PIN
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    t.receive(pf.login_ack(login, curtime=F.CURTIME + 99), 2, clk.advance(1))
    traps = [pf.read(r) for _, r in t.outgoing()]
    assert any(m.tlv(0x4010) is not None and m.tlv(0x4010)[0] == 0 for m in traps)


def test_pin_in_clear_on_packet_bearer_refused():
    # 4.3.10: a PIN in clear travels only by SMS (or inside E043).
    t, pf, clk = online()
    t.sim = _sim()
    t.receive(pf.make(C.SECURITY_CONFIG, {"operation": 0}, [(0xE001, b"56781234")]), 2, clk.advance(1))
    ack = pf.read(F.only(t.outgoing())[1])
    assert ack.fields["result"] == K.SEC_ACK_UNSUPPORTED_TLV and ack.tlvs == [(0xE001, b"")]


def test_bind_unbind_and_read_digests():
    # Appendix E g E00D 0x01 bind / 0x00 unbind; op 0x02 reads E003/E00D.
    t, pf, clk = online()
    t.sim = _sim()
    t.sim.enter_pin("1234")                          # as the boot guard left it
    t.params.set("secret_pin1", b"1234")
    t.receive(pf.make(C.SECURITY_CONFIG, {"operation": 0}, [(0xE00D, b"\x01")]), 2, clk.advance(1))
    assert pf.read(F.only(t.outgoing())[1]).fields["result"] == 0
    t.receive(pf.make(C.SECURITY_CONFIG, {"operation": 2}, [(0xE003, b""), (0xE00D, b"")]), 2, clk.advance(1))
    ack = pf.read(F.only(t.outgoing())[1])
    assert ack.fields["result"] == 0 and ack.tlv(0xE00D) == b"\x01" and ack.tlv(0xE003) == b"\x01"
    t.receive(pf.make(C.SECURITY_CONFIG, {"operation": 0}, [(0xE00D, b"\x00")]), 2, clk.advance(1))
    assert pf.read(F.only(t.outgoing())[1]).fields["result"] == 0


def test_without_a_sim_interface_sim_operations_are_unsupported():
    t, pf, clk = online()
    t.receive(pf.make(C.SECURITY_CONFIG, {"operation": 0}, [(0xE00D, b"\x01")]), 2, clk.advance(1))
    assert pf.read(F.only(t.outgoing())[1]).fields["result"] == K.SEC_ACK_UNSUPPORTED_TLV


class _DeferredSim(S.SimulatedSim):
    """A SIM that says it is asynchronous (as the modem drivers do): the engine
    must queue its SIM work for the runner instead of calling it."""
    sim_async = True


def _serve(t, sim, now):
    """What the runner does with the engine's SIM jobs (here on the synchronous
    card underneath, so the test runs on every port)."""
    from wmmp.terminal import simguard as SG
    n = 0
    for job, done in t.sim_jobs():
        try:
            r, err = SG.run(job, sim), None
        except Exception as e:
            r, err = None, e
        t.sim_done(done, r, err, now)
        n += 1
    return n


def test_async_sim_boot_is_queued_and_nothing_is_sent_before_it():
    # 4.4.1.1: "before anything is sent": with an asynchronous SIM the boot
    # checks wait in sim_jobs(); only after they finish (stored PIN1 accepted)
    # does the terminal log in.
    sim = _DeferredSim(F.IMSI, ICCID, F.IMEI)
    p = F.provisioned_params()
    p.set("secret_pin1", b"1234")
    t, pf, clk = _boot(sim, p)
    assert t.outgoing() == [] and sim.pin_commands == 0
    assert _serve(t, sim, clk.t) == 1
    assert sim.pin_state() == "READY" and sim.pin_commands == 1
    assert ("sim", "working", "SIM ready") in t.events()
    assert pf.read(F.only(t.outgoing())[1], ts=0).command == C.LOGIN


def test_async_sim_failure_during_boot_is_an_alarm():
    # 4.4.1.1: a SIM that cannot be asked (the modem stopped answering) stops
    # the boot in the alarm state; nothing is sent.
    from wmmp.errors import WmmpError
    sim = _DeferredSim(F.IMSI, ICCID, F.IMEI)
    t, pf, clk = _boot(sim, F.provisioned_params())
    jobs = t.sim_jobs()
    assert len(jobs) == 1
    t.sim_done(jobs[0][1], None, WmmpError("modem not responding"), clk.t)
    assert t.state == E.S_ALARM and t.outgoing() == []
    assert K.ALARM_SELF_TEST_FAULT in t.alarms


def test_async_sim_read_answered_once_when_the_job_ends_duplicates_wait():
    # Appendix B 6 op 0x02 read (E003, E00D) needs the SIM: the ACK is sent when
    # the job ends; a repeated request (same seq, 4.4.6.1) arriving meanwhile is
    # neither executed again nor answered twice.
    t, pf, clk = online()
    sim = _DeferredSim(F.IMSI, ICCID, F.IMEI)
    sim.enter_pin("1234")
    t.sim = sim
    req = pf.make(C.SECURITY_CONFIG, {"operation": 2}, [(0xE003, b""), (0xE00D, b"")])
    t.receive(req, 2, clk.advance(1))
    assert t.outgoing() == []
    t.receive(req, 2, clk.advance(1))
    assert t.outgoing() == [] and ("duplicate", "SECURITY_CONFIG", pf.read(req).seq) in t.events()
    assert _serve(t, sim, clk.t) == 1
    ack = pf.read(F.only(t.outgoing())[1])
    assert ack.fields["result"] == 0 and ack.tlv(0xE003) == b"\x01" and ack.tlv(0xE00D) == b"\x00"
    t.receive(req, 2, clk.advance(1))            # now a plain duplicate: the same answer again
    assert pf.read(F.only(t.outgoing())[1]).seq == ack.seq


def test_async_sim_pin_change_after_logout_0x0a():
    # 4.4.1.2 / appendix B 6 (3) through a queued job: ACK, LOGOUT 0x0A, then the
    # job checks the old PIN1 and sets the new one; login again reports 0x4010.
    sim = _DeferredSim(F.IMSI, ICCID, F.IMEI)
    p = F.provisioned_params()
    p.set("secret_pin1", b"1234")
    t, pf, clk = _boot(sim, p)
    _serve(t, sim, clk.t)
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    t.receive(pf.login_ack(login), 2, clk.advance(1))
    t.receive(pf.ack(pf.read(F.only(t.outgoing())[1]), {"result": 0}), 2, clk.advance(1))
    req = pf.make(C.SECURITY_CONFIG, {"operation": 0}, [(0xE001, b"56781234")],
                  bearer=P.BEARER_SMS, digest=False)
    t.receive(req, P.BEARER_SMS, clk.advance(1))
    out = t.outgoing()
    assert pf.read(out[0][1], P.BEARER_SMS).fields["result"] == 0
    lo = pf.read(out[1][1])
    assert lo.fields["reason"] == K.LOGOUT_UPDATE_SIM_SECURITY
    t.receive(pf.ack(lo), 2, clk.advance(1))
    assert t.outgoing() == [] and _serve(t, sim, clk.t) == 1
    assert p.get("secret_pin1") == b"56781234"
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    assert login.command == C.LOGIN
