"""wmmp-term declares honestly what it carries out (sections 4.3.9.3 and 4.3.7):
the platform address (0x0009, 0x000A: its packet bearer is pointed there at
the restart they cause), suspend/resume and restart; nothing else, so the
engine refuses the rest."""

import asyncio
import struct

from wmmp.terminal import engine as E
from wmmp.wire import codes as K, profile as P

from wmmp_tools import term as TERM


def _args(*extra):
    return TERM.parser().parse_args(["--platform-number", "10658000"] + list(extra))


def test_declares_only_what_it_does():
    term, runner = TERM.build(_args("--udp", "127.0.0.1:7301"))
    assert term.cfg.applies == (0x0009, 0x000A) and term.cfg.outputs == () and not term.cfg.tcp
    assert term.cfg.controls == (K.RC_SUSPEND_SERVICE, K.RC_RESUME_SERVICE, K.RC_RESTART)
    term, runner = TERM.build(_args("--tcp", "127.0.0.1:7302"))
    assert term.cfg.tcp
    term, runner = TERM.build(_args("--smsc", "127.0.0.1:7400"))     # no packet bearer: no address
    assert term.cfg.applies == ()


def test_restart_points_the_packet_bearer_at_the_new_address():
    """4.3.9.3: after LOGOUT 0x07 with a new 0x0009 / 0x000A, the restart
    reopens the packet bearer to that address, then the engine logs in."""
    async def main():
        term, runner = TERM.build(_args("--udp", "127.0.0.1:7301"))
        b = runner.bearers[P.BEARER_PACKET]
        await b.open()
        assert TERM.platform_address(term.params, runner_args) == ("127.0.0.1", 7301)
        term.params.set(0x0009, bytes([127, 0, 0, 2]))
        term.params.set(0x000A, struct.pack(">HH", 7311, 7312))
        term.set_state(E.S_RESTARTING)
        runner.on_restart()
        for _ in range(50):
            if term.state != E.S_RESTARTING:
                break
            await asyncio.sleep(0.02)
        assert (b.host, b.port) == ("127.0.0.2", 7311) and b.is_open
        assert term.state != E.S_RESTARTING
        await b.close()
    runner_args = _args("--udp", "127.0.0.1:7301")
    asyncio.run(main())


def test_modem_bearers_of_both_drivers():
    """--sim7600 and --bc95 get their driver's bearers (link 0 UDP / 1 TCP on
    the SIM7600), for --udp or --tcp and the platform numbers."""
    from wmmp.modem import bc95, sim7600

    class Driver:
        pass
    for kind, mod in (("sim7600", sim7600), ("bc95", bc95)):
        b = TERM.modem_bearers(Driver(), _args("--udp", "127.0.0.1:7301"), kind)
        assert isinstance(b[P.BEARER_PACKET], mod.UdpBearer) and isinstance(b[P.BEARER_SMS], mod.SmsBearer)
        b = TERM.modem_bearers(Driver(), _args("--tcp", "127.0.0.1:7302"), kind)
        assert isinstance(b[P.BEARER_PACKET], mod.TcpBearer)
        assert (b[P.BEARER_PACKET].host, b[P.BEARER_PACKET].port) == ("127.0.0.1", 7302)


def test_build_keeps_given_parameters():
    """A console reset restarts the engine over the same parameters (build's
    params=): nothing is read again from the state directory."""
    from wmmp.terminal import params as PM
    params = PM.Params(PM.MemoryStorage())
    params.set(0x0011, struct.pack(">I", 7))
    term, runner = TERM.build(_args("--udp", "127.0.0.1:7301"), params=params)
    assert term.params is params and term.params.get_int(0x0011) == 7
