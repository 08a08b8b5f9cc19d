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


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_demo_scenario_end_to_end(transport, tmp_path):
    out = io.StringIO()
    d = demo.Demo(out=out, transport=transport)
    ok = asyncio.run(d.run(str(tmp_path)))
    text = out.getvalue()
    assert ok, text[-4000:]
    assert len(d.steps) == 8 and all(s for _, s in d.steps), d.steps
    # the transcript shows both directions and the SMS leg
    assert "-> %s REGISTER" % "packet" in text and "<- sms    SECURITY_CONFIG" in text
    assert "LOGIN_ACK" in text and "E040" in text and "HEART_BEAT_ACK" in text
    assert "LOGOUT seq=" in text and "reason=0x7" in text
    # the state directory persisted the registration
    assert (tmp_path / "params.json").exists()
