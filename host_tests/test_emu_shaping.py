"""Link shaping in the modem emulators' packet path (issue 14 "Link shaping":
RTT, loss, bandwidth; tools/wmmp_tools/emu/netsock.py LinkShaper, modem.py
"Link shaping", `wmmp-emu --rtt MS --loss PCT --bandwidth BPS`), checked with
real loopback UDP/TCP peers behind the SIM7600 and BC95 emulators driven at
the AT level (MODEMS SIM7600 "UDP"/"send"/"receive (push mode)", MODEMS BC95
"UDP"/"UDP send").  Timing checks are lower bounds with loose upper bounds.

CPython: asyncio.run inside plain tests.
"""

import asyncio
import binascii
import random
import time

from wmmp.modem.at import AtEngine, AtException
from wmmp.modem.atparse import AtParser
from wmmp.terminal.simcard import SimulatedSim

from wmmp_tools.emu import cli
from wmmp_tools.emu.bc95 import Bc95, UDP_MAX
from wmmp_tools.emu.netsock import LinkShaper
from wmmp_tools.emu.sim7600 import Sim7600
from wmmp_tools.emu.stream import HostPort


def run(coro, timeout=30.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def card():
    return SimulatedSim("460001234567890", "89860012345678901234", "860000000000001",
                        pin_enabled=False)


class Peer(asyncio.DatagramProtocol):
    """A UDP peer recording (time, data); echo=True sends every datagram back."""

    def __init__(self, echo=False):
        self.echo = echo
        self.got = []

    def connection_made(self, t):
        self.t = t

    def datagram_received(self, data, addr):
        self.got.append((time.monotonic(), data))
        if self.echo:
            self.t.sendto(data, addr)


async def peer(echo=False):
    t, proto = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: Peer(echo), local_addr=("127.0.0.1", 0))
    return proto, t.get_extra_info("sockname")[1]


async def until(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "not met in %s s" % timeout
        await asyncio.sleep(0.005)


async def sim7600(**opts):
    """The SIM7600 emulator with the data service open and UDP link 0."""
    emu = Sim7600(card(), **opts)
    at = AtEngine(HostPort(emu), log=lambda *a: None)
    reboots = []
    at.on_reboot(lambda line: reboots.append(line))
    at.start()
    await emu.start()
    await until(lambda: reboots)
    for _ in range(200):
        try:
            if b"+CGATT: 1" in await at.command("AT+CGATT?"):
                break
        except AtException:
            pass
        await asyncio.sleep(0.01)
    await at.command("AT+NETOPEN", timeout=5, final="+NETOPEN:")
    await at.command('AT+CIPOPEN=0,"UDP",,,5000', timeout=5, final="+CIPOPEN:")
    return emu, at


async def send(at, port, data):
    await at.command_with_prompt('AT+CIPSEND=0,%d,"127.0.0.1",%d' % (len(data), port), data,
                                 final="+CIPSEND:")


async def ipd(at, timeout=5.0):
    """The next +IPD payload (RECV FROM lines skipped)."""
    end = time.monotonic() + timeout
    while True:
        prefix, line, extra = await at.urc(max(0.01, end - time.monotonic()))
        if prefix == b"+IPD":
            return extra


async def close(emu, at):
    at.stop()
    await emu.close()


def test_rtt_delays_each_direction_by_half_and_the_round_trip_by_rtt():
    """Issue 14 link shaping, RTT: a datagram reaches the peer rtt/2 after the
    module sent it, the echo comes back a full rtt after (MODEMS SIM7600 send,
    receive (push mode))."""
    async def main():
        emu, at = await sim7600(rtt=0.4)
        p, port = await peer(echo=True)
        try:
            t0 = time.monotonic()
            await send(at, port, b"ping")
            got = await ipd(at)
            t1 = time.monotonic()
            assert bytes(got) == b"ping"
            assert p.got[0][0] - t0 >= 0.19
            assert 0.39 <= t1 - t0 < 3.0
        finally:
            await close(emu, at)
    run(main())


def test_no_shaping_by_default():
    """Issue 14 link shaping is off unless asked: the round trip is fast."""
    async def main():
        emu, at = await sim7600()
        p, port = await peer(echo=True)
        try:
            assert not emu.shaper.active
            t0 = time.monotonic()
            await send(at, port, b"ping")
            await ipd(at)
            assert time.monotonic() - t0 < 1.0           # loopback; generous for a loaded machine
        finally:
            await close(emu, at)
    run(main())


def test_loss_drops_exactly_the_seeded_fraction():
    """Issue 14 link shaping, loss: with a seed, the datagrams lost are the ones
    the seeded RNG picks (the same run gives the same losses)."""
    n, loss, seed = 120, 0.3, 7
    rng = random.Random(seed)
    expect = [i for i in range(n) if not rng.random() < loss]

    async def main():
        emu, at = await sim7600(loss=loss, shape_seed=seed)
        p, port = await peer()
        try:
            for i in range(n):
                await send(at, port, b"%03d" % i)
            await asyncio.sleep(0.2)
            got = [int(d) for _, d in p.got]
            assert got == expect
            assert emu.shaper.lost == n - len(expect)
            assert 0.15 * n < emu.shaper.lost < 0.45 * n
        finally:
            await close(emu, at)
    run(main())


def test_bandwidth_limits_the_rate():
    """Issue 14 link shaping, bandwidth: 10 datagrams of 1000 bytes through a
    10,000 B/s link take at least 1 s; the rate seen at the peer stays at or
    under the link's."""
    async def main():
        emu, at = await sim7600(bandwidth=10000)
        p, port = await peer()
        try:
            t0 = time.monotonic()
            for i in range(10):
                await send(at, port, bytes([i]) * 1000)
            await until(lambda: len(p.got) == 10)
            span = p.got[-1][0] - t0
            assert 0.95 <= span < 6.0
            assert p.got[-1][0] - p.got[0][0] >= 0.85       # 9 more datagrams at 1000 B / 0.1 s
        finally:
            await close(emu, at)
    run(main())


def test_tcp_is_delayed_never_dropped_and_keeps_order():
    """Issue 14 link shaping over TCP (MODEMS SIM7600 TCP): the connect costs an
    RTT, a lost segment is retransmitted later (never dropped), the stream
    arrives whole and in order."""
    async def main():
        got = bytearray()
        done = asyncio.Event()

        async def serve(r, w):
            while True:
                d = await r.read(4096)
                if not d:
                    break
                got.extend(d)
                if len(got) >= 15000:
                    done.set()
            w.close()
        srv = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        emu, at = await sim7600(rtt=0.1, loss=0.3, shape_seed=3)
        try:
            t0 = time.monotonic()
            await at.command('AT+CIPOPEN=1,"TCP","127.0.0.1",%d' % port, timeout=10, final="+CIPOPEN:")
            assert time.monotonic() - t0 >= 0.09
            blob = bytes((i * 13) & 0xFF for i in range(15000))
            for i in range(0, len(blob), 1500):
                part = blob[i:i + 1500]
                await at.command_with_prompt("AT+CIPSEND=1,%d" % len(part), part, final="+CIPSEND:")
            await asyncio.wait_for(done.wait(), 20)
            assert bytes(got) == blob
            assert emu.shaper.retransmits > 0 and emu.shaper.lost == 0
        finally:
            await close(emu, at)
            srv.close()
    run(main())


def test_bc95_sockets_are_shaped_too():
    """Issue 14 link shaping on the BC95 (MODEMS BC95 UDP, UDP send): shape()
    applies to the sockets its commands open (the module's task context)."""
    async def main():
        emu = Bc95(card())
        port = HostPort(emu)
        at = AtEngine(port, parser=AtParser(max_line=2 * UDP_MAX + 64), log=lambda *a: None)
        reboots = []
        at.on_reboot(lambda line: reboots.append(line))
        at.start()
        await emu.start()
        await until(lambda: reboots)
        emu.shape(rtt=0.4)
        p, pport = await peer()
        try:
            for _ in range(300):
                try:
                    if b"+CGATT:1" in await at.command("AT+CGATT?"):
                        break
                except AtException:
                    pass
                await asyncio.sleep(0.02)
            s = int((await at.command("AT+NSOCR=DGRAM,17,5683,1"))[0])
            data = b"hello"
            t0 = time.monotonic()
            await at.command("AT+NSOST=%d,127.0.0.1,%d,%d,%s" % (
                s, pport, len(data), binascii.hexlify(data).decode()))
            await until(lambda: p.got)
            assert p.got[0][1] == data
            assert 0.19 <= p.got[0][0] - t0 < 3.0
        finally:
            at.stop()
            await emu.close()
    run(main())


def test_shaper_unit_figures():
    """netsock.LinkShaper: bad figures refused; HTTP exchange time = 2 RTT + sizes
    at the bandwidth (no loss); the TCP retransmission timeout floor."""
    s = LinkShaper()
    assert not s.active and s.exchange_time(100, 1000) == 0.0
    s.set(rtt=0.3, bandwidth=1000)
    assert abs(s.exchange_time(100, 900) - 1.6) < 1e-9
    assert s.rto == 0.6
    s.set(rtt=0.01)
    assert s.rto == 0.2
    for bad in ({"rtt": -1}, {"loss": 1.5}, {"bandwidth": -3}):
        try:
            s.set(**bad)
        except ValueError:
            continue
        raise AssertionError(bad)
    s.set(bandwidth=0)
    assert s.bandwidth is None


def test_cli_flags_set_the_shaping():
    """`wmmp-emu sim7600|bc95 --rtt MS --loss PCT --bandwidth BPS` (issue 14 link
    shaping): ms, percent and bytes/s become the emulator's shaper figures; a
    value out of range is exit status 2."""
    for model in ("sim7600", "bc95"):
        args = cli.build_parser().parse_args([model, "--rtt", "300", "--loss", "5",
                                              "--bandwidth", "20000", "--seed", "9"])
        cli.check(args)
        emu = cli.MAKERS[model](args)
        assert emu.shaper.rtt == 0.3 and emu.shaper.loss == 0.05 and emu.shaper.bandwidth == 20000
    args = cli.build_parser().parse_args(["sim7600"])
    cli.check(args)
    assert not cli.MAKERS["sim7600"](args).shaper.active
    assert cli.main(["sim7600", "--loss", "150"]) == 2
    assert cli.main(["bc95", "--rtt", "-5"]) == 2
