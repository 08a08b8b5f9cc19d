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
