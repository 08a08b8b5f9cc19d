"""BC95 driver (lib/wmmp/modem/bc95.py) against the BC95 emulator
(tools/wmmp_tools/emu/bc95.py) in-process through HostPort, with real loopback
UDP/TCP peers and the real SMS centre (wmmp_tools.smsc).  Sections: "MODEMS
BC95 <area>" are rows of shared/spec/MODEMS.md (BC95 part); "27.007" /
"27.005" the 3GPP specs; "PROTOCOL.md 9" the bearer rules; "4.4.1" the SIM rules
of the standard.

Messages are framed here with struct from the PROTOCOL.md 1 header layout (not with
the codec).  The last test runs the driver under MicroPython against a scripted
module.  CPython: asyncio.run inside plain tests.
"""

import asyncio
import struct
import time

import pytest

from wmmp.terminal import params as PM
from wmmp.wire import profile as P
from wmmp.terminal import simcard as S
from wmmp.terminal import simguard as SG, simrecord as SR
from wmmp.modem.at import AtEngine
from wmmp.errors import BadLength, BadValue, TooLongForBearer
from wmmp.modem import LinkLost, NetworkError, NotResponding, SimSnapshot, cell_tlv
from wmmp.modem.bc95 import (Bc95, SmsBearer, TcpBearer, UdpBearer, at_parser, parse_cereg, parse_nuestats,
                             signal_percent)
from wmmp.modem.bc95_net import SmsUnavailable, TcpUnavailable, parse_nsorf
from wmmp.modem.bc95_sim import PinUnsupported

from wmmp_tools.emu.bc95 import Bc95 as Emu
from wmmp_tools.emu.stream import HostPort
from wmmp_tools.smsc import SmsCentre, SmsClient

IMEI = "863703030000001"
IMSI = "460111176313522"
ICCID = "89860317492038271544"
MSISDN = "13800000002"
PLATFORM = "1065710001"
STRANGER = "13900000009"
TAC, CI = 0x5B0C, 0x0B8A9A12           # the emulator's defaults (Options.tac / ci)

# bytes that look like AT output: CR/LF, a fake OK, fake URCs, Ctrl-Z, ESC, every byte value
NASTY = b"\r\nOK\r\n+NSONMI:0,5\r\nNeul\r\n\x1a\x1b\x00>" + bytes(range(256))


def run(coro, timeout=20.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def message(body=b"", seq=1, command=0x0004):
    """One framed WMMP message: 28-byte header (PROTOCOL.md 1) + body."""
    total = 28 + len(body)
    return struct.pack(">H16sHHIBB", total, b"M2MMAKER00000001", 0x0300, command, seq, 0, 0) + body


def card(pin_enabled=False):
    return S.SimulatedSim(IMSI, ICCID, IMEI, pin="1234", puk="12345678", pin_enabled=pin_enabled)


class Rig:
    """The emulator on an in-process UART, the AT engine and the driver."""

    async def start(self, sim=None, smsc=None, power=True, driver_opts=None, **emu_opts):
        self.emu_out = bytearray()
        self.emu = Emu(sim if sim is not None else card(), msisdn=MSISDN, smsc=smsc,
                       trace=lambda d, data: self.emu_out.extend(data) if d == ">" else None, **emu_opts)
        self.port = HostPort(self.emu)
        self.logs = []
        self.at = AtEngine(self.port, parser=at_parser(), log=self.logs.append)
        self.at.start()
        await self.emu.start(power=power)
        opts = {"attach_poll": 0.1}
        opts.update(driver_opts or {})
        self.m = Bc95(self.at, **opts)
        return self

    def written(self):
        return bytes(self.port.written)

    async def close(self):
        assert self.at.stats()["handler_errors"] == 0, self.logs     # no URC handler broke
        self.at.stop()
        await self.emu.close()


async def rig(**kw):
    return await Rig().start(**kw)


class Peer(asyncio.DatagramProtocol):
    """The platform's UDP socket on loopback: records datagrams, optionally echoes."""

    def __init__(self, echo=True):
        self.echo = echo
        self.got = []

    def connection_made(self, t):
        self.t = t

    def datagram_received(self, data, addr):
        self.got.append((data, addr))
        if self.echo:
            self.t.sendto(data, addr)


async def udp_peer(echo=True):
    t, proto = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: Peer(echo), local_addr=("127.0.0.1", 0))
    return proto, t.get_extra_info("sockname")[1]


async def eventually(cond, timeout=3.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not met in %s s" % timeout
        await asyncio.sleep(0.01)


# -- boot and identity ------------------------------------------------------------------

def test_boot_with_early_errors_then_identity():
    """MODEMS BC95 preamble and reboot: the banner ends with `Neul` then `OK`
    (seen as a boot by the AT engine, its OK taken by no command); `ERROR`
    answers the first commands after boot (here 3): the driver retries AT,
    then AT+CMEE=1 (numeric +CME ERROR), and switches on the registration,
    RRC and PSM URCs.  MODEMS identity: AT+CGSN=1 -> +CGSN:<imei>, AT+CIMI
    bare, AT+NCCID -> +NCCID:<iccid>, AT+CGMR several lines.  MODEMS attach:
    AT+CFUN?, AT+CGDCONT=1,"IP",<apn>, AT+CGATT? -> +CGATT:1, AT+CGPADDR ->
    +CGPADDR:0,<ip>.  A module that never answers raises NotResponding."""
    async def main():
        r = await rig(boot_errors=3, boot_time=0.2, driver_opts={"apn": "cmnbiot"})
        await r.m.power_on()
        assert r.m.reboots == 1 and r.emu.boots == 1 and r.emu.cmee == 1
        w = r.written()
        unheard = r.emu.overruns // 3                       # "AT\r" sent while it booted
        assert unheard >= 1 and w.count(b"AT\r") == unheard + 4    # then 3 ERRORs, then OK
        assert w.index(b"AT+CMEE=1\r") < w.index(b"AT+CEREG=2\r") < w.index(b"AT+CSCON=1\r") \
            < w.index(b"AT+NPSMR=1\r")
        assert r.emu.cereg_n == 2 and r.emu.cscon_n == 1 and r.emu.npsmr_n == 1
        assert r.at.stats()["boot_oks"] == 1
        assert await r.m.identity() == {"imei": IMEI, "imsi": IMSI, "iccid": ICCID,
                                        "firmware": "V100R100C10B657SP3"}
        assert len(r.m.firmware_lines) == 6 and r.m.firmware_lines[0] == "SECURITY,V100R100C10B657SP3"
        assert b"AT+CGSN=1\r" in r.written() and b"AT+NCCID\r" in r.written()
        assert b"AT+CPIN" not in r.written()                # MODEMS: no AT+CPIN on the BC95
        assert await r.m.pin_state() == S.READY
        await r.m.attach()                                  # MODEMS BC95 attach: +CGATT:1, +CGPADDR
        assert r.m.attached() and await r.m.ip_address() == "10.169.241.248"
        assert r.emu.pdp[1] == ("IP", "cmnbiot") and b"AT+CFUN?\r" in r.written()
        await r.close()

        r = await rig(power=False, driver_opts={"at_wait": 0.5})
        with pytest.raises(NotResponding):
            await r.m.power_on()
        await r.close()
    run(main())


# -- signal and cell ----------------------------------------------------------------------

def test_signal_and_cell_parsing():
    """TLV 0x3007 (appendix E e: signal 0..100) from +CSQ <rssi> (27.007 8.5:
    0..31, 99 unknown); MODEMS BC95 registration (n=2 +CEREG tac/ci quoted or
    not, read form and URC form) and NUESTATS lines; TLV 0x3006 (TAC as the
    LAC in the high 16 bits, CI low 16 bits); AT+NSORF reply fields."""
    for rssi in range(32):
        assert signal_percent(rssi) == round(rssi * 100 / 31), rssi
    assert signal_percent(99) is None and signal_percent(-1) is None and signal_percent(100) is None
    assert parse_cereg(b'+CEREG:2,1,"5B0C","0B8A9A12",7') == (1, TAC, CI)
    assert parse_cereg(b"+CEREG:2,5,5B0C,0B8A9A12,7") == (5, TAC, CI)
    assert parse_cereg(b"+CEREG:0,2") == (2, None, None)
    assert parse_cereg(b'+CEREG:1,"00A1","0000BEEF",7', read_form=False) == (1, 0xA1, 0xBEEF)
    assert parse_cereg(b"+CEREG:2", read_form=False) == (2, None, None)
    with pytest.raises(BadValue):
        parse_cereg(b"+CEREG:x")
    assert parse_nuestats([b"Signal power:-820", b"Cell ID:193632786", b"ECL:0", b"junk"]) == \
        {"Signal power": -820, "Cell ID": 193632786, "ECL": 0}
    assert parse_nuestats([b"NUESTATS:RADIO,Cell ID,17", b"NUESTATS:CELL,2506,21,1,-820"]) == {"Cell ID": 17}
    assert cell_tlv(TAC, CI) == bytes([0x5B, 0x0C, 0x9A, 0x12])
    assert parse_nsorf([b"1,10.0.0.2,5683,3,41420A,0"], 1) == ("10.0.0.2", 5683, b"AB\n", 0)
    assert parse_nsorf([b"1,10.0.0.2,5683,3,41420A,7"], 0) is None
    assert parse_nsorf([], 0) is None
    with pytest.raises(BadValue):
        parse_nsorf([b"0,10.0.0.2,5683,4,4142,0"], 0)


@pytest.mark.parametrize("quoted", [True, False])
def test_signal_and_cell_from_the_module(quoted):
    """MODEMS BC95 signal / cell: AT+CSQ -> +CSQ:<rssi>,<ber>; AT+CEREG? in the
    n=2 form -> (TAC, CI); AT+NUESTATS 'Cell ID' is the same cell; no signal
    (+CSQ:99,99, registration lost) -> None for both; update_radio() puts TLVs
    0x3006/0x3007 into the parameters the engine sends at LOGIN."""
    async def main():
        r = await rig(reg_quoted=quoted, rssi=17)
        await r.m.power_on()
        assert await r.m.signal() == round(17 * 100 / 31)
        assert await r.m.cell() == (TAC, CI)
        assert (await r.m.nuestats())["Cell ID"] == CI
        params = PM.Params()
        assert await r.m.update_radio(params) == (55, (TAC, CI))
        assert params.get(0x3007) == bytes([55]) and params.get(0x3006) == cell_tlv(TAC, CI)
        r.emu.set_signal(99)
        assert await r.m.signal() is None and await r.m.cell() is None
        assert await r.m.registered() is False
        r.emu.set_signal(31)
        assert await r.m.signal() == 100 and await r.m.registered() is True
        await r.close()
    run(main())


# -- SIM (AT+NPIN) ------------------------------------------------------------------------------

@pytest.mark.parametrize("prefixed", [False, True])
def test_npin_counters_wrong_pin_puk_and_unblock(prefixed):
    """MODEMS BC95 PIN: AT+NPIN=<op>,<p1>[,<p2>] -> OK, then +NPIN:OK /
    +NPIN:ERROR wrong PIN (<left>) / ERROR PIN blocked (with or without the
    +NPIN: prefix: unconfirmed).  The state comes from AT+CIMI (+CME ERROR:11
    SIM PIN, 12 SIM PUK; no AT+CPIN).  Counters are only known from NPIN
    results (attempts() raises SimError before: nothing guessed); a wrong PIN
    gives WrongPin with the attempts left and exactly one PIN reached the card;
    three -> SIM PUK (PukRequired); a wrong PUK -> WrongPuk(9); the right PUK
    -> READY with both counters reset (4.4.1.1).  A malformed PIN is refused
    before anything is sent."""
    async def main():
        r = await rig(sim=card(pin_enabled=True), npin_prefixed=prefixed)
        await r.m.power_on()
        sim = r.emu.sim
        assert await r.m.pin_state() == S.SIM_PIN
        assert await r.m.pin_enabled() is True
        with pytest.raises(S.SimError):
            await r.m.attempts()                            # not reported yet
        with pytest.raises(S.PinRequired):
            await r.m.imsi()
        assert (await r.m.identity())["imsi"] is None
        with pytest.raises(BadValue):
            await r.m.enter_pin("12a4")
        assert sim.pin_commands == 0 and b"AT+NPIN=0" not in r.written()
        with pytest.raises(S.WrongPin) as e:
            await r.m.enter_pin("0000")
        assert e.value.left == 2 and sim.pin_commands == 1 and "0000" not in str(e.value)
        assert r.written().count(b'AT+NPIN=0,"0000"') == 1
        assert await r.m.attempts() == (2, None)
        with pytest.raises(S.WrongPin) as e:
            await r.m.enter_pin("1111")
        with pytest.raises(S.WrongPin) as e:
            await r.m.enter_pin("2222")
        assert e.value.left == 0
        assert await r.m.pin_state() == S.SIM_PUK
        with pytest.raises(S.PukRequired):
            await r.m.enter_pin("1234")                     # refused before the module
        with pytest.raises(S.PukRequired):
            await r.m._npin_cmd(0, "1234")                  # the module: ERROR PIN blocked
        assert (b"+NPIN:ERROR PIN blocked" in r.emu_out) == prefixed
        with pytest.raises(S.SimError):
            await r.m.attempts()                            # PUK1 counter not reported yet
        with pytest.raises(S.WrongPuk) as e:
            await r.m.enter_puk("00000000", "5555")
        assert e.value.left == 9 and await r.m.attempts() == (0, 9)
        with pytest.raises(BadValue):
            await r.m.enter_puk("1234567", "5555")
        await r.m.enter_puk("12345678", "5555")
        assert await r.m.pin_state() == S.READY and await r.m.attempts() == (3, 10)
        assert sim.pin_commands == 5 and await r.m.imsi() == IMSI
        with pytest.raises(S.SimError):                     # no PIN request pending
            await r.m.enter_pin("5555")
        assert sim.pin_commands == 5
        await r.close()
    run(main())


def test_npin_enable_change_disable_and_reentry_after_reboot():
    """MODEMS BC95 PIN ops 2 enable, 1 change, 3 disable: a card READY right
    after a boot the driver saw has PIN1 disabled; enabling it twice is
    refused without sending the PIN; a wrong PIN on change -> WrongPin; after
    a module reboot (Neul) the card asks for the new PIN and the driver enters
    the PIN it saw accepted (3 tries known); ERROR PIN disabled tells PIN1 is
    off.  SimGuard over a SimSnapshot (4.4.1.1) never sends a PIN."""
    async def main():
        r = await rig()
        await r.m.power_on()
        sim = r.emu.sim
        assert await r.m.pin_enabled() is False             # READY at the boot it saw
        with pytest.raises(S.SimError):
            await r.m.change_pin("1234", "4321")            # known disabled: nothing sent
        assert sim.pin_commands == 0
        with pytest.raises(S.WrongPin) as e:
            await r.m.set_pin_enabled(True, "9999")
        assert e.value.left == 2
        await r.m.set_pin_enabled(True, "1234")
        assert await r.m.pin_enabled() is True and await r.m.attempts() == (3, None)
        n = sim.pin_commands
        with pytest.raises(S.SimError):
            await r.m.set_pin_enabled(True, "1234")
        assert sim.pin_commands == n
        await r.m.change_pin("1234", "4321")
        r.emu.reboot()
        await eventually(lambda: r.m.reboots == 2)
        await r.m.ensure_ready()
        assert await r.m.pin_state() == S.READY             # re-entered by the driver
        assert r.written().count(b'AT+NPIN=0,"4321"') == 1
        snap = await r.m.sim_snapshot()
        assert isinstance(snap, SimSnapshot)
        assert (snap.pin_state(), snap.imsi(), snap.imei(), snap.iccid(), snap.attempts(),
                snap.pin_enabled()) == (S.READY, IMSI, IMEI, ICCID, (3, None), True)
        res = SG.SimGuard(snap, PM.MemoryStorage()).boot()
        assert res.state == SG.WORKING and res.imsi == IMSI
        with pytest.raises(S.SimError):
            snap.enter_pin("4321")
        await r.m.set_pin_enabled(False, "4321")
        assert await r.m.pin_enabled() is False
        await r.close()

        r = await rig(sim=card(pin_enabled=True))
        await r.m.power_on()
        snap = await r.m.sim_snapshot()
        with pytest.raises(S.PinRequired):
            snap.imsi()
        with pytest.raises(S.SimError):
            snap.attempts()                                 # unknown: not invented
        res = SG.SimGuard(snap, PM.MemoryStorage({SR.KEY_PIN: b"1234"})).boot()
        assert res.state == SG.ALARM and r.emu.sim.pin_commands == 0
        await r.close()
    run(main())


def test_module_without_npin_reports_pin_not_supported():
    """MODEMS BC95 PIN row: AT+NPIN is unconfirmed on the BC95.  On a module
    without it (AT+NPIN=? -> ERROR, probed once) every PIN command raises
    PinUnsupported (a SimError, "PIN not supported"), no PIN is ever sent, and
    the state is still read through AT+CIMI; MODEMS: no AT+CPIN either."""
    async def main():
        r = await rig(sim=card(pin_enabled=True), npin=False)
        await r.m.power_on()
        for call in (lambda: r.m.enter_pin("1234"), lambda: r.m.enter_puk("12345678", "1234"),
                     lambda: r.m.set_pin_enabled(False, "1234"), lambda: r.m.change_pin("1234", "4321")):
            with pytest.raises(PinUnsupported) as e:
                await call()
            assert isinstance(e.value, S.SimError) and "PIN not supported" in str(e.value)
        w = r.written()
        assert w.count(b"AT+NPIN=?") == 1 and b"AT+NPIN=0" not in w
        assert r.emu.sim.pin_commands == 0
        assert await r.m.pin_state() == S.SIM_PIN
        await r.close()
    run(main())


# -- UDP ------------------------------------------------------------------------------------------

def test_udp_round_trip_of_binary_messages():
    """MODEMS BC95 UDP: AT+NSOCR=DGRAM,17,<lport>,1 -> <socket>; send
    AT+NSOST=<s>,<ip>,<port>,<len>,<HEX> -> <s>,<len>; receive +NSONMI:<s>,<len>
    -> AT+NSORF=<s>,<max> -> <s>,<ip>,<port>,<len>,<HEX>,<remaining>.  Binary
    WMMP messages (CR/LF, fake URCs, every byte) cross a real loopback socket
    and come back whole (PROTOCOL.md 9: one datagram = one message); a datagram
    that is not one message is dropped; over udp_max bytes is too long; close
    -> AT+NSOCL.  The engine's parser must hold an NSORF line of 2 * rx_max."""
    async def main():
        peer, pport = await udp_peer()
        r = await rig()
        await r.m.power_on()
        b = UdpBearer(r.m, "127.0.0.1", pport)
        assert b.kind == P.BEARER_PACKET
        with pytest.raises(LinkLost):
            await b.recv()                                  # not open yet
        await b.open()
        assert b.is_open and r.emu.open_sockets() == [b.sid]
        assert b"AT+NSOCR=DGRAM,17,5000,1\r" in r.written()
        msgs = [message(NASTY, seq=1), message(b"\r\n" * 30, seq=2), message(b"x" * 1300, seq=3)]
        for m in msgs:
            await b.send(m)
            assert await asyncio.wait_for(b.recv(), 3) == m
        assert [g[0] for g in peer.got] == msgs
        hexed = msgs[0].hex().upper().encode()
        assert b"AT+NSOST=%d,127.0.0.1,%d,%d,%s\r" % (b.sid, pport, len(msgs[0]), hexed) in r.written()
        assert b"AT+NSORF=%d,1358\r" % b.sid in r.written()
        dev = peer.got[0][1]
        peer.t.sendto(b"\x00\x40short", dev)
        peer.t.sendto(message(b"after", seq=4), dev)
        assert await asyncio.wait_for(b.recv(), 3) == message(b"after", seq=4)
        assert b.bad_frames == 1
        with pytest.raises(TooLongForBearer):
            await b.send(message(b"y" * 1331))              # 1359 bytes
        with pytest.raises(BadLength):
            await b.send(b"\x00\x30" + bytes(30))
        await b.close()
        assert not b.is_open and r.emu.open_sockets() == []
        with pytest.raises(LinkLost):
            await b.recv()
        with pytest.raises(LinkLost):
            await b.send(message())
        await r.close()

        r = await rig(udp_max=512)                          # old firmware
        with pytest.raises(BadValue):
            Bc95(AtEngine(r.port), rx_max=1358)             # default parser: 512-char lines
        m = Bc95(r.at, udp_max=512, rx_max=512)
        b = UdpBearer(m, "127.0.0.1", pport, local_port=5683)
        await b.open()
        with pytest.raises(TooLongForBearer):
            await b.send(message(b"z" * 485))
        await b.send(message(b"z" * 484))
        assert await asyncio.wait_for(b.recv(), 3) == message(b"z" * 484)
        await r.close()
        peer.t.close()
    run(main())


@pytest.mark.parametrize("remaining,each", [("socket", False), ("datagram", False), ("socket", True)])
def test_two_datagrams_and_the_remaining_loop(remaining, each):
    """MODEMS BC95 UDP receive: 'loop while remaining > 0'.  Two datagrams wait
    in the module.  When <remaining> counts the socket, the first AT+NSORF
    says how much is left and the second one empties it (the driver learns
    the meaning and stops at 0); when it counts only the datagram (unconfirmed
    variant) and +NSONMI comes only for an empty socket, the driver reads on
    until an AT+NSORF returns nothing, so the second datagram is not
    stranded.  A flood is read in bounded rounds (max_reads)."""
    async def main():
        peer, pport = await udp_peer(echo=False)
        r = await rig(nsorf_remaining=remaining, nsonmi_each=each, driver_opts={"max_reads": 4})
        await r.m.power_on()
        b = UdpBearer(r.m, "127.0.0.1", pport)
        await b.open()
        await b.send(message(b"hello"))
        await eventually(lambda: peer.got)
        dev = peer.got[0][1]
        one, two = message(b"one", seq=1), message(b"two" * 50, seq=2)
        peer.t.sendto(one, dev)
        peer.t.sendto(two, dev)
        await eventually(lambda: sum(len(x[2]) for x in r.emu.socks[b.sid].rx) == len(one) + len(two))
        assert await asyncio.wait_for(b.recv(), 3) == one
        assert await asyncio.wait_for(b.recv(), 3) == two
        waiting = asyncio.ensure_future(b.recv())
        if remaining == "socket":
            await asyncio.sleep(0.1)
            assert r.m.rem_socket is True and b.reads == 2 and b.empty_reads == 0
        else:
            await eventually(lambda: b.empty_reads == 1)    # the confirming read
            assert r.m.rem_socket is None and b.reads == 3
        assert not waiting.done()
        # a flood of ten: read in runs of at most 4 reads, all delivered in order
        for i in range(10):
            peer.t.sendto(message(b"f", seq=10 + i), dev)
        got = [await asyncio.wait_for(waiting, 3)]
        got += [await asyncio.wait_for(b.recv(), 3) for _ in range(9)]
        assert got == [message(b"f", seq=10 + i) for i in range(10)]
        assert b.rounds >= 2 and b.dropped == 0
        await r.close()
        peer.t.close()
    run(main())


# -- TCP (BC95-G) ---------------------------------------------------------------------------------

def test_tcp_on_the_bc95g_and_not_on_old_firmware():
    """MODEMS BC95 TCP (BC95-G): AT+NSOCR=STREAM,6,<lport>,1, AT+NSOCO=<s>,<ip>,
    <port>, AT+NSOSD=<s>,<len>,<HEX>, receive through +NSONMI / AT+NSORF;
    PROTOCOL.md 9: the stream is split by total_length (coalesced and split
    segments); the peer closing gives +NSOCLI:<s> and recv raises LinkLost;
    open() connects again (the old socket closed).  Without TCP (only DGRAM,
    older firmware) open() raises TcpUnavailable."""
    async def main():
        got = bytearray()
        conns = []

        async def handle(rd, wr):
            conns.append(wr)
            while True:
                d = await rd.read(65536)
                if not d:
                    break
                got.extend(d)

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        sport = srv.sockets[0].getsockname()[1]
        r = await rig(tcp=True)
        await r.m.power_on()
        b = TcpBearer(r.m, "127.0.0.1", sport)
        await b.open()
        await eventually(lambda: conns)
        big = message(bytes(range(256)) * 6 + NASTY, seq=9)     # > 1358: two AT+NSOSD
        m1, m2, m3 = message(NASTY, seq=1), message(b"\r\n", seq=2), message(seq=3)
        await b.send(m1)
        await b.send(big)
        await eventually(lambda: len(got) == len(m1) + len(big))
        assert bytes(got) == m1 + big and r.written().count(b"AT+NSOSD=%d," % b.sid) == 3
        w = conns[0]
        w.write(m1 + m2[:5])
        await w.drain()
        await asyncio.sleep(0.05)
        w.write(m2[5:] + m3)
        await w.drain()
        assert [await asyncio.wait_for(b.recv(), 3) for _ in range(3)] == [m1, m2, m3]
        old = b.sid
        w.close()
        with pytest.raises(LinkLost):
            await asyncio.wait_for(b.recv(), 3)
        await b.open()
        assert b"AT+NSOCL=%d\r" % old in r.written()
        await eventually(lambda: len(conns) == 2)
        conns[1].write(m3)
        assert await asyncio.wait_for(b.recv(), 3) == m3
        await b.close()
        srv.close()
        await r.close()

        r = await rig()                                     # BC95 without TCP
        await r.m.power_on()
        with pytest.raises(TcpUnavailable) as e:
            await TcpBearer(r.m, "127.0.0.1", sport).open()
        assert isinstance(e.value, NetworkError)
        await r.close()
    run(main())


# -- SMS --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reply", ["error", "cme"])
def test_sms_unavailable_is_a_typed_error(reply):
    """MODEMS BC95 SMS: most NB-IoT operators offer none; SMS is optional and
    detected (AT+CSMS? answered ERROR or +CME ERROR:4, probed once): the SMS
    bearer's open() and send() raise SmsUnavailable (the runner logs it, the
    engine keeps to the packet bearer), recv() waits quietly (nothing can
    arrive) until close() -> LinkLost; the UDP bearer works meanwhile."""
    async def main():
        peer, pport = await udp_peer()
        r = await rig(sms_off_reply=reply)
        await r.m.power_on()
        sms = SmsBearer(r.m, PLATFORM)
        udp = UdpBearer(r.m, "127.0.0.1", pport)
        res = await asyncio.gather(sms.open(), udp.open(), return_exceptions=True)
        assert isinstance(res[0], SmsUnavailable) and res[1] is None
        assert "SMS not available" in str(res[0]) and r.m.sms_available is False
        with pytest.raises(SmsUnavailable):
            await sms.open()
        with pytest.raises(SmsUnavailable):
            await sms.send(message(b"alarm"))
        assert r.written().count(b"AT+CSMS?") == 1 and b"AT+CMGS" not in r.written()
        task = asyncio.ensure_future(sms.recv())
        await asyncio.sleep(0.2)
        assert not task.done()
        await udp.send(message(b"packet works"))
        assert await asyncio.wait_for(udp.recv(), 3) == message(b"packet works")
        await sms.close()
        with pytest.raises(LinkLost):
            await asyncio.wait_for(task, 1)
        await r.close()
        peer.t.close()
    run(main())


async def sms_rig(**kw):
    centre = await SmsCentre("127.0.0.1", 0).start()
    platform = await SmsClient("127.0.0.1", centre.port, PLATFORM).connect()
    stranger = await SmsClient("127.0.0.1", centre.port, STRANGER).connect()
    r = await rig(smsc=("127.0.0.1", centre.port), sms=True, **kw)
    await eventually(lambda: MSISDN in centre.attached())
    return centre, platform, stranger, r


async def sms_close(centre, platform, stranger, r):
    await r.close()
    for c in (platform, stranger):
        await c.close()
    await centre.close()


def test_sms_available_round_trip_through_the_sms_centre():
    """MODEMS BC95 SMS with a network that offers it (AT+CSMS? -> MT/MO 1):
    AT+CMGF=0, AT+CNMI=2,2,0,0,0; send AT+CMGS=<octets>, '> ', PDU hex,
    Ctrl-Z -> +CMGS:<mr> reaches the platform from the terminal's MSISDN;
    receive +CMT:,<len> + SMS-DELIVER PDU (8-bit, PROTOCOL.md 9); an SMS that came
    before the bearer opened is kept; only WMMP SMS from a platform number come
    out; the storage path (+CMTI -> AT+CMGR -> AT+CMGD) works as well; more
    than 140 bytes is too long for one SMS."""
    async def main():
        centre, platform, stranger, r = await sms_rig()
        await r.m.power_on()
        await platform.send(MSISDN, message(b"early", seq=7))
        await eventually(lambda: r.m._early)
        b = SmsBearer(r.m, [PLATFORM, "10658001"])
        assert b.kind == P.BEARER_SMS
        await b.open()
        assert r.m.sms_available is True and r.m.cnmi == "2,2,0,0,0"
        assert await asyncio.wait_for(b.recv(), 3) == message(b"early", seq=7)
        up = message(b"\r\n\x1a\x1b" + bytes(range(100)), seq=1)
        await b.send(up)
        assert await asyncio.wait_for(platform.recv(), 3) == (MSISDN, up)
        down = message(b"\r\nOK\r\n" + bytes(range(90)), seq=2)
        await platform.send(MSISDN, down)
        assert await asyncio.wait_for(b.recv(), 3) == down
        await stranger.send(MSISDN, message(b"spoof", seq=3))
        await platform.send(MSISDN, b"\x00\x50 not a framed message")
        await platform.send(MSISDN, message(b"good", seq=4))
        assert await asyncio.wait_for(b.recv(), 3) == message(b"good", seq=4)
        assert b.ignored == 2
        await r.at.command("AT+CNMI=2,1,0,0,0")             # storage instead of direct delivery
        await platform.send(MSISDN, message(b"stored", seq=5))
        assert await asyncio.wait_for(b.recv(), 3) == message(b"stored", seq=5)
        assert b"AT+CMGR=0\r" in r.written() and b"AT+CMGD=0\r" in r.written()
        assert r.emu.stored_sms() == {}
        with pytest.raises(TooLongForBearer):
            await b.send(message(b"z" * 113))
        await b.close()
        with pytest.raises(LinkLost):
            await b.recv()
        await sms_close(centre, platform, stranger, r)
    run(main())


# -- PSM ------------------------------------------------------------------------------------------------

def test_psm_platform_downlink_held_until_the_terminal_sends():
    """MODEMS BC95 power saving: a terminal in PSM receives nothing until it
    sends.  The driver follows the state from +NPSMR / +CSCON (psm, rrc,
    psm_entries, on_psm); a platform-initiated datagram sent while the module
    sleeps is held by the network: the bearer's recv() just waits; the
    terminal's next uplink (a heartbeat) wakes the module and the held
    message is delivered right after it.  set_psm / psm_settings use
    AT+CPSMS with 8-bit timer strings (27.007)."""
    async def main():
        peer, pport = await udp_peer(echo=False)
        changes = []
        r = await rig(psm_idle=0.4, rrc_idle=0.15, driver_opts={"on_psm": changes.append})
        await r.m.power_on()
        b = UdpBearer(r.m, "127.0.0.1", pport)
        await b.open()
        await b.send(message(b"login", seq=1))
        await eventually(lambda: peer.got)
        dev = peer.got[0][1]
        peer.t.sendto(message(b"ack", seq=1), dev)          # within the active time
        assert await asyncio.wait_for(b.recv(), 2) == message(b"ack", seq=1)
        await eventually(lambda: r.m.psm is True)
        assert r.m.rrc == 0 and r.m.psm_entries == 1 and changes == [True]
        assert await r.m.psm_state() is True
        waiting = asyncio.ensure_future(b.recv())
        down = message(b"platform-initiated CONFIG_GET", seq=77, command=0x0007)
        peer.t.sendto(down, dev)
        await asyncio.sleep(0.5)
        assert not waiting.done() and r.emu.held() == 1     # held by the network
        await b.send(message(b"heartbeat", seq=2))
        assert await asyncio.wait_for(waiting, 2) == down
        assert r.m.psm is False and changes == [True, False]
        assert [g[0] for g in peer.got][-1] == message(b"heartbeat", seq=2)
        await r.m.set_psm(True, "00100011", "00000101")
        assert await r.m.psm_settings() == (1, "00100011", "00000101")
        with pytest.raises(BadValue):
            await r.m.set_psm(True, "0010001", "00000101")
        await r.m.set_psm(False)
        assert (await r.m.psm_settings())[0] == 0
        await r.close()
        peer.t.close()
    run(main())


# -- recovery ---------------------------------------------------------------------------------------

def test_recovery_after_a_network_outage():
    """issue 5 fault injection "network outage": +CEREG:2 (searching) makes a
    waiting recv() raise LinkLost (a ConnectionError on CPython); sends fail
    (+CME ERROR:30 -> LinkLost); open() during the outage raises NetworkError
    after attach_wait (MODEMS BC95 attach: AT+CGATT? polled); after it, open()
    attaches, closes the old socket (AT+NSOCL) and opens a new one, and the
    round trip works."""
    async def main():
        peer, pport = await udp_peer()
        r = await rig(driver_opts={"attach_wait": 0.5})
        await r.m.power_on()
        b = UdpBearer(r.m, "127.0.0.1", pport)
        await b.open()
        await b.send(message(b"before"))
        assert await asyncio.wait_for(b.recv(), 3) == message(b"before")
        old = b.sid
        waiting = asyncio.ensure_future(b.recv())
        await asyncio.sleep(0.05)
        r.emu.set_outage(True)
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(waiting, 3)
        assert not b.is_open and r.m.reg_lost == 1
        with pytest.raises(LinkLost):
            await b.send(message(b"lost"))
        with pytest.raises(NetworkError):
            await b.open()
        r.emu.set_outage(False)
        mark = len(r.written())
        await b.open()
        w = r.written()[mark:]
        assert b"AT+NSOCL=%d\r" % old in r.written()
        assert w.index(b"AT+CGATT?") < w.index(b"AT+NSOCR=")
        await b.send(message(b"after"))
        assert await asyncio.wait_for(b.recv(), 3) == message(b"after")
        await r.close()
        peer.t.close()
    run(main())


def test_recovery_after_a_module_reboot():
    """issue 5 fault injection "a module reboot" (MODEMS BC95 reboot: banner,
    Neul, OK; ERROR to the first commands after it): every bearer's recv()
    raises LinkLost; the next open() runs the init sequence again with its
    retries (AT+CMEE=1 ...), attaches and opens a new socket; a reboot while
    the module handles AT+NSOST fails that send with LinkLost; AT+NRB through
    reboot() comes back the same way; the SMS bearer reopens after a reboot."""
    async def main():
        peer, pport = await udp_peer()
        centre, platform, stranger, r = await sms_rig(boot_errors=2, reboot_time=0.2)
        await r.m.power_on()
        udp = UdpBearer(r.m, "127.0.0.1", pport)
        sms = SmsBearer(r.m, PLATFORM)
        await udp.open()
        await sms.open()
        r1 = asyncio.ensure_future(udp.recv())
        r2 = asyncio.ensure_future(sms.recv())
        await asyncio.sleep(0.05)
        r.emu.reboot()
        for task in (r1, r2):
            with pytest.raises(LinkLost):
                await asyncio.wait_for(task, 3)
        assert r.m.reboots == 2 and not udp.is_open and not sms.is_open
        mark = len(r.written())
        await udp.open()
        await sms.open()
        w = r.written()[mark:]
        assert w.count(b"AT\r") >= 3 and w.index(b"AT+CMEE=1") < w.index(b"AT+NSOCR=")
        assert b"AT+CNMI=2,2,0,0,0" in w and b"AT+CSMS?" not in w   # probed once
        await udp.send(message(b"again"))
        assert await asyncio.wait_for(udp.recv(), 3) == message(b"again")
        await platform.send(MSISDN, message(b"sms again"))
        assert await asyncio.wait_for(sms.recv(), 3) == message(b"sms again")
        r.emu.reboot_on("AT+NSOST")
        with pytest.raises(LinkLost):
            await udp.send(message(b"never"))
        await udp.open()
        await r.m.reboot()                                  # AT+NRB
        assert r.m.reboots == 4 and b"AT+NRB\r" in r.written()
        await udp.open()
        await udp.send(message(b"third"))
        assert await asyncio.wait_for(udp.recv(), 3) == message(b"third")
        assert message(b"never") not in [g[0] for g in peer.got]
        await sms_close(centre, platform, stranger, r)
        peer.t.close()
    run(main())


# -- MicroPython -----------------------------------------------------------------------------------------

MP_HEAP = 64 * 1024


_MP_SCRIPT = r'''
import sys
sys.path.insert(0, "/lib")
import asyncio
import binascii
from wmmp.modem.at import AtEngine
from wmmp.modem import LinkLost
from wmmp.modem.bc95 import Bc95, UdpBearer, SmsBearer, at_parser
from wmmp.modem.bc95_net import SmsUnavailable

HDR = b"M2MMAKER00000001\x03\x00\x00\x04\x00\x00\x00\x01\x00\x00"


def message(body):
    n = 28 + len(body)
    return bytes([n >> 8, n & 255]) + HDR + body


FIXED = {b"AT+CMEE=1": b"", b"ATE0": b"", b"AT+CEREG=2": b"", b"AT+CSCON=1": b"",
         b"AT+NPSMR=1": b"", b"AT+CIMI": b"460111176313522", b"AT+CGSN=1": b"+CGSN:863703030000001",
         b"AT+CGMR": b"SECURITY,V1\r\n\r\nAPPLICATION,V100R100C10B657SP3",
         b"AT+NCCID": b"+NCCID:89860317492038271544", b"AT+CSQ": b"+CSQ:17,99",
         b"AT+CEREG?": b'+CEREG:2,1,5B0C,"0B8A9A12",7', b"AT+CFUN?": b"+CFUN:1",
         b"AT+CGATT?": b"+CGATT:1", b"AT+NSOCR=DGRAM,17,5000,1": b"1"}


class Module:
    """A scripted BC95: the banner with early ERRORs, canned replies, a UDP echo
    peer behind NSOST / NSONMI / NSORF, no SMS."""

    def __init__(self):
        self.rx = bytearray()
        self.ev = asyncio.Event()
        self.inb = bytearray()
        self.errors = 2
        self.queue = []

    def push(self, d):
        self.rx += d
        self.ev.set()

    def line(self, t):
        self.push(b"\r\n" + t + b"\r\n")

    def write(self, d):
        self.inb += d
        while True:
            k = self.inb.find(b"\r")
            if k < 0:
                return
            c = bytes(self.inb[:k])
            self.inb = self.inb[k + 1:]
            self.answer(c)

    def answer(self, c):
        if self.errors:
            self.errors -= 1
            self.line(b"ERROR")
        elif c == b"AT":
            self.line(b"OK")
        elif c in FIXED:
            if FIXED[c]:
                self.line(FIXED[c])
            self.line(b"OK")
        elif c.startswith(b"AT+NSOST=1,"):
            f = c.split(b",")
            self.line(b"1," + f[3])
            self.line(b"OK")
            self.queue.append(f[4])
            self.line(b"+NSONMI:1," + f[3])
        elif c == b"AT+NSORF=1,1358":
            if self.queue:
                h = self.queue.pop(0)
                self.line(b"1,10.0.0.2,7301," + str(len(h) // 2).encode() + b"," + h + b",0")
            self.line(b"OK")
        else:
            self.line(b"ERROR")

    async def read(self, n):
        while not self.rx:
            self.ev.clear()
            await self.ev.wait()
        out = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return out


async def main():
    try:
        mod = Module()
        mod.push(b"\r\nREBOOT_CAUSE_SECURITY_PMU_POWER_ON_RESET\r\nNeul \r\nOK\r\n")
        at = AtEngine(mod, parser=at_parser(), log=lambda *a: None)
        m = Bc95(at, attach_poll=0.05)
        await m.power_on()
        ident = await m.identity()
        print("IDENT", ident["imei"], ident["imsi"], ident["iccid"], ident["firmware"])
        print("RADIO", await m.signal(), await m.cell())
        udp = UdpBearer(m, "10.0.0.2", 7301)
        await udp.open()
        up = message(b"\r\n+NSONMI:1,9\r\nOK\r\n" + bytes(range(200)))
        await udp.send(up)
        print("UDP", await udp.recv() == up, m.gen)
        sms = SmsBearer(m, ["10658000"])
        try:
            await sms.open()
            print("SMS OPEN")
        except SmsUnavailable as e:
            print("SMS", m.sms_available)
        task = asyncio.create_task(udp.recv())
        await asyncio.sleep(0.05)
        mod.line(b"+CEREG:2")
        try:
            await asyncio.wait_for(task, 2)
            print("NOT LOST")
        except LinkLost:
            print("LOST", udp.is_open)
        at.stop()
        print("END")
    except Exception as e:
        print("FAIL", repr(e))
        sys.print_exception(e)

asyncio.create_task(main())
'''


def test_driver_runs_on_micropython_asyncio():
    """issue 5 "lib runs on MicroPython": the driver, the AT engine and the PDU
    codec compiled by mpy-cross, on MicroPython 1.27's asyncio, against a
    scripted BC95: banner + `Neul` + early ERRORs (MODEMS BC95 preamble),
    identity (AT+CGSN=1, AT+CIMI, AT+NCCID, AT+CGMR), signal (+CSQ:17 ->
    round(17*100/31)), cell (+CEREG n=2, bare TAC, quoted CI), a binary UDP
    round trip through AT+NSOST / +NSONMI / AT+NSORF, SMS detected as
    unavailable (SmsUnavailable), and +CEREG:2 making recv() raise LinkLost."""
    import mp_harness as H
    p = H.run_async_script("bc95_mp", _MP_SCRIPT, MP_HEAP)
    out = p.stdout.splitlines()
    assert p.returncode == 0, p.stdout + p.stderr
    assert out == ["IDENT 863703030000001 460111176313522 89860317492038271544 V100R100C10B657SP3",
                   "RADIO %d (23308, 193632786)" % round(17 * 100 / 31),
                   "UDP True 1", "SMS False", "LOST False", "END"], p.stdout + p.stderr


def test_packet_profile_follows_the_modules_datagram_limit():
    """MODEMS BC95 "UDP send" (max 512 bytes on old firmware, 1358 on current)
    and SIM7600 "send" (1500 per AT+CIPSEND): modem.packet_profile lowers the
    engine's packet message limit to the UDP bearer's send_max, so a 1 KB
    TRANSPARENT_DATA (4.3.11) leaves as appendix F sub-packets that each fit
    one AT+NSOST, instead of failing at the module.  TCP keeps the default."""
    from wmmp.wire import commands as C
    from wmmp.modem import packet_profile
    import fakeplatform as F
    from wmmp.modem import sim7600
    from test_engine_online import online

    at = AtEngine(HostPort(Emu(card())), parser=at_parser())     # never started
    old = Bc95(at, udp_max=512)
    udp = UdpBearer(old, "127.0.0.1", 7301)
    assert udp.send_max == 512
    prof = packet_profile(udp)
    assert prof.packet_message_max == 512 and prof.sms_message_max == P.DEFAULT.sms_message_max
    assert packet_profile(UdpBearer(Bc95(at), "127.0.0.1", 7301)).packet_message_max == 1358
    assert packet_profile(sim7600.UdpBearer(None, 0, "127.0.0.1", 7301)).packet_message_max == 1500
    assert packet_profile(TcpBearer(old, "127.0.0.1", 7302)) is P.DEFAULT

    t, pf, clk = online()
    t.profile = prof
    t.send_data(bytes(range(256)) * 4, clk.advance(1), dest_serial=b"M2MMAKER0000BEEF")
    raw = F.only(t.outgoing())[1]
    first = pf.read(raw)
    assert len(raw) <= 512 and first.command == C.TRANSPARENT_DATA
    assert first.subpacket is not None and first.subpacket.total >= 3
