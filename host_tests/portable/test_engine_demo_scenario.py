"""The `make demo` scenario against the scripted platform, with a fake clock:
registration -> keys by SMS -> login with session key -> heartbeats -> CONFIG_SET
needing a restart -> REMOTE_CTRL -> logout (4.3.1-4.3.9, 4.4.3).  Portable: under
MicroPython the runner reports what it allocates (the engine's heap use during the
demo scenario, issue 3)."""
import struct

from wmmp.terminal import engine as E, params as PM
from wmmp.wire import commands as C, codes as K
from wmmp.wire import profile as P
import fakeplatform as F


def test_demo_scenario():
    clk, pf = F.Clock(), F.Platform()
    p = PM.Params()
    p.set(0x0011, struct.pack(">I", 3))
    t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=b"M2MMAKER"), p)
    t.start(clk.t)
    reg = pf.read(F.only(t.outgoing())[1])
    pf.serial = b"M2MMAKER00000001"
    t.receive(pf.ack(reg, {"result": 0, "terminal_id": pf.serial}, digest=False), 2, clk.advance(1))
    t.receive(pf.keys_sms(), P.BEARER_SMS, clk.advance(1))
    login = pf.read(t.outgoing()[1][1], ts=0)
    t.receive(pf.login_ack(login), 2, clk.advance(1))
    trap = pf.read(F.only(t.outgoing())[1])
    t.receive(pf.ack(trap, {"result": 0}), 2, clk.advance(1))
    assert t.state == E.S_ONLINE and t.session is not None
    for _ in range(2):
        clk.advance(3)
        t.tick(clk.t)
        hb = pf.read(F.only(t.outgoing())[1])
        t.receive(pf.ack(hb, digest=False), 2, clk.advance(0))
    t.receive(pf.make(C.CONFIG_SET, tlvs=[(0x0002, b"cmiot")]), 2, clk.advance(1))
    out = t.outgoing()
    lo = pf.read(out[1][1])
    t.receive(pf.ack(lo), 2, clk.advance(1))
    assert t.state == E.S_RESTARTING
    t.restarted(clk.advance(1))
    login = pf.read(F.only(t.outgoing())[1], ts=0)
    t.receive(pf.login_ack(login, curtime=F.CURTIME + 60), 2, clk.advance(1))
    for _, raw in t.outgoing():
        t.receive(pf.ack(pf.read(raw), {"result": 0}), 2, clk.advance(0))
    t.receive(pf.make(C.REMOTE_CTRL, tlvs=[(0x4001, bytes([K.RC_REPORT_STATISTICS]))]), 2, clk.advance(1))
    out = t.outgoing()
    assert pf.read(out[0][1]).fields["result"] == 0
    t.receive(pf.ack(pf.read(out[1][1]), {"result": 0}), 2, clk.advance(1))
    t.logout(K.LOGOUT_NORMAL, clk.t)
    t.receive(pf.ack(pf.read(F.only(t.outgoing())[1])), 2, clk.advance(1))
    assert t.state == E.S_IDLE and t.params.get(0x0002) == b"cmiot"
