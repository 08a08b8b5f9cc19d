"""End to end over real loopback sockets (issue 3): the engine in wmmp-term, the
platform simulator and the emulated SMS centre, through the `make demo` scenario
(4.3.1 registration with keys by SMS, 4.3.2 login with session key, 4.3.4
heartbeats, 4.3.9.3 CONFIG_SET with restart, 4.3.7 REMOTE_CTRL, 4.3.3 logout),
on UDP and on TCP."""
import asyncio
import io
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import demo  # noqa: E402


@pytest.mark.parametrize("transport,modem", [("udp", None), ("tcp", None), ("udp", "sim7600"),
                                             ("tcp", "sim7600"), ("udp", "bc95")])
def test_demo_scenario_end_to_end(transport, modem, tmp_path):
    """modem="sim7600" (issue 5 "Demonstrated", `make demo MODEM=sim7600`): the
    bearers are the SIM7600 driver's, talking AT over a pseudo-terminal to the
    emulator, whose sockets and SMS reach the platform and the SMS centre.
    modem="bc95" (`make demo MODEM=bc95`): the same with the BC95 driver and
    emulator (MODEMS BC95: UDP through AT+NSOCR / AT+NSOST / +NSONMI /
    AT+NSORF; a network that offers SMS: AT+CMGS out, +CMT in)."""
    out = io.StringIO()
    d = demo.Demo(out=out, transport=transport, modem=modem)
    ok = asyncio.run(asyncio.wait_for(d.run(str(tmp_path)), 60))
    text = out.getvalue()
    assert ok, text[-4000:]
    assert len(d.steps) == (9 if modem else 8) and all(s for _, s in d.steps), d.steps
    if modem:
        seen = d.rig.tally.seen
        # identity from the module, radio TLVs at login, the AT traffic of each bearer
        assert "IMEI 860000000000001, IMSI 460001234567890" in text
        assert "tlvs=0011,3006,3007" in text
        if modem == "sim7600":
            assert seen["AT+CIPOPEN"] >= 1 and seen["AT+CIPSEND"] >= 5 and seen["AT+CMGS"] >= 1
            assert seen["AT+CMGR"] + seen["AT+CMGL"] >= 1 and seen["AT+CMGD"] >= 1
        else:
            assert "cell TAC 0x5B0C CI 0xB8A9A12 (AT+CEREG=2)" in text
            assert seen["AT+NSOCR"] == 1 and seen["AT+NSOST"] >= 5 and seen["AT+NSORF"] >= 5
            assert seen["AT+CMGS"] >= 1 and seen["AT+CSMS"] == 1 and d.rig.sms.received >= 1
            assert seen["AT+CIPSEND"] == 0 and d.rig.emu.uplinks >= 5
        assert d.rig.emu.sms_sent and d.rig.emu.boots == 1
    # the transcript shows both directions and the SMS leg
    assert "-> %s REGISTER" % "packet" in text and "<- sms    SECURITY_CONFIG" in text
    assert "LOGIN_ACK" in text and "E040" in text and "HEART_BEAT_ACK" in text
    assert "LOGOUT seq=" in text and "reason=0x7" in text
    # the state directory persisted the registration
    assert (tmp_path / "params.json").exists()


def test_demo_scenario_through_a_bc95_in_power_saving(tmp_path):
    """Issue 5 BC95 "PSM awareness: a terminal in PSM hears nothing until it
    sends": the network grants PSM after 1 s idle (+NPSMR:1); the platform's
    CONFIG_SET (4.3.9.3) is held by the network until the terminal's next
    uplink (its heartbeat, 4.3.4, is the poll) and is then answered; silence
    while in PSM is not a failure (no LOGOUT 0x04, no fallback), and the whole
    scenario succeeds (`make demo MODEM=bc95 DEMO_ARGS=--psm`)."""
    out = io.StringIO()
    d = demo.Demo(out=out, transport="udp", modem="bc95", psm=True)
    ok = asyncio.run(asyncio.wait_for(d.run(str(tmp_path)), 90))
    text = out.getvalue()
    assert ok, text[-4000:]
    names = [n for n, _ in d.steps]
    assert len(d.steps) == 11 and all(s for _, s in d.steps), d.steps
    assert any("power saving" in n for n in names) and any("waited in the network" in n for n in names)
    assert "entered power saving (+NPSMR)" in text
    assert "reason=0x4" not in text and "event  bearer sms" not in text
