"""SIM7600 driver (lib/wmmp/modem/sim7600.py) against the SIM7600 emulator
(tools/wmmp_tools/emu) in-process through HostPort, with real loopback UDP/TCP
peers and the real SMS centre (wmmp_tools.smsc).  Sections: "MODEMS SIM7600
<area>" are rows of shared/spec/MODEMS.md; "27.007" / "27.005" the 3GPP specs;
"PROTOCOL.md 9" the bearer rules; "4.4.1" the SIM rules of the standard.

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
from wmmp.modem import LinkLost, NetworkError, NotResponding, SimSnapshot, cell_tlv, frame_problem
from wmmp.modem.sim7600 import Sim7600, SmsBearer, TcpBearer, UdpBearer, parse_reg, signal_percent

from wmmp_tools.emu.sim7600 import Sim7600 as Emu
from wmmp_tools.emu.stream import HostPort
from wmmp_tools.smsc import SmsCentre, SmsClient

IMEI = "860000000000001"
IMSI = "460001234567890"
ICCID = "89860012345678901234"
MSISDN = "13800000001"
PLATFORM = "10658000"
STRANGER = "13900000009"

# bytes that look like AT output: CR/LF, a fake OK, a fake +IPD header, Ctrl-Z, ESC
NASTY = b"\r\nOK\r\n+IPD3\r\nRECV FROM:1.2.3.4:5\r\n\x1a\x1b\x03\x11\x13\x00>" + bytes(range(256))


def run(coro, timeout=30.0):
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
        self.emu = Emu(sim if sim is not None else card(), msisdn=MSISDN, smsc=smsc, **emu_opts)
        self.port = HostPort(self.emu)
        self.logs = []
        self.at = AtEngine(self.port, log=self.logs.append)
        self.at.start()
        await self.emu.start(power=power)
        self.m = Sim7600(self.at, **(driver_opts or {}))
        return self

    def written(self):
        return bytes(self.port.written)

    async def close(self):
        self.at.stop()
        await self.emu.close()


async def rig(**kw):
    return await Rig().start(**kw)


async def udp_echo():
    class Echo(asyncio.DatagramProtocol):
        def __init__(self):
            self.got = []

        def connection_made(self, t):
            self.t = t

        def datagram_received(self, data, addr):
            self.got.append(data)
            self.t.sendto(data, addr)

    t, proto = await asyncio.get_running_loop().create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    return t, proto, t.get_extra_info("sockname")[1]


async def eventually(cond, timeout=3.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not met in %s s" % timeout
        await asyncio.sleep(0.01)


class Pin:
    """A PWRKEY pin: the module powers on when the press is released."""

    def __init__(self, emu):
        self.emu = emu
        self.values = []

    def value(self, v):
        if self.values and self.values[-1] == 1 and v == 0:
            self.emu.power_on()
        self.values.append(v)


# -- power-on, identity --------------------------------------------------------------

def test_power_on_with_pwrkey_waits_for_rdy_and_reads_identity():
    """MODEMS SIM7600 boot (PWRKEY, RDY / +CPIN: READY / SMS DONE / PB DONE after
    a delay), health (AT retried, ATE0), identity (AT+CGSN bare digits, AT+CIMI,
    AT+CICCID -> +ICCID:, AT+CGMR -> +CGMR:).  A module that is already on gets no
    second PWRKEY press (a press could switch it off); one that never answers
    raises NotResponding."""
    async def main():
        r = await rig(power=False, boot_time=0.4, urc_gap=0.05)
        pin = Pin(r.emu)
        await r.m.power_on(pwrkey=pin, pulse=0.05)
        assert pin.values == [1, 0] and r.emu.boots == 1 and r.m.reboots == 1
        w = r.written()
        assert w.index(b"ATE0\r") < w.index(b"AT+CMEE=1\r") and b"AT+CIPSRIP=1\r" in w
        assert await r.m.identity() == {"imei": IMEI, "imsi": IMSI, "iccid": ICCID,
                                        "firmware": "LE11B08SIM7600CE-A"}
        assert r.m.ident["imsi"] == IMSI
        assert await r.m.pin_state() == S.READY
        await r.m.power_on(pwrkey=pin)                     # already on: no press
        assert pin.values == [1, 0] and r.emu.boots == 1
        await r.close()

        r = await rig(power=False, driver_opts={"at_wait": 0.5, "boot_wait": 0.2})
        dead = Pin(None)
        dead.value = lambda v: dead.values.append(v)       # the press does nothing
        with pytest.raises(NotResponding):
            await r.m.power_on(pwrkey=dead, pulse=0.01)
        assert dead.values == [1, 0]
        await r.close()
    run(main())


def test_power_on_tolerates_echo_and_a_slow_sms_service():
    """MODEMS SIM7600 health: the module boots with echo on (ATE1); the driver
    switches it off (ATE0) and its commands work either way; MODEMS boot: SMS
    DONE comes late, and until then SMS commands answer +CMS ERROR: 314 (27.005
    3.2.5 "SIM busy"): opening the SMS bearer waits for the SMS service."""
    async def main():
        out = bytearray()
        r = await rig(urc_gap=0.3, trace=lambda d, data: out.extend(data) if d == ">" else None)
        await eventually(lambda: r.m.reboots == 1)         # RDY
        await r.m.at.command("AT")                       # echo still on: "AT" echoed
        assert b"AT\r" in bytes(out)
        await r.m.power_on()
        assert r.emu.echo is False and not r.m.sms_ready
        b = SmsBearer(r.m, PLATFORM)
        await asyncio.wait_for(b.open(), 5)
        assert b"+CMS ERROR: 314" in bytes(out) and r.m.sms_ready and b.is_open
        await r.close()
    run(main())


# -- signal and cell -------------------------------------------------------------

def test_signal_mapping_table():
    """TLV 0x3007 (appendix E e: signal 0..100) from +CSQ <rssi> (27.007 8.5:
    0..31, 99 unknown): round(rssi * 100 / 31); 99 and 199 -> None; the SIMCom
    TD-SCDMA range 100..191 is scaled the same way over its 91 steps."""
    for rssi in range(32):
        assert signal_percent(rssi) == round(rssi * 100 / 31), rssi
    assert signal_percent(99) is None and signal_percent(199) is None
    assert signal_percent(100) == 0 and signal_percent(191) == 100
    assert signal_percent(145) == round(45 * 100 / 91)
    assert signal_percent(-1) is None and signal_percent(50) is None


def test_registration_parsing_quoted_and_unquoted():
    """MODEMS SIM7600 registration (n=2 form unconfirmed: quoted and unquoted
    hex, with or without AcT) and TLV 0x3006 (LAC high 16 bits, CI low 16)."""
    assert parse_reg(b'+CREG: 2,1,"1816","AC99201",7', b"+CREG:") == (1, 0x1816, 0xAC99201)
    assert parse_reg(b"+CREG: 2,5,1816,AC99201", b"+CREG:") == (5, 0x1816, 0xAC99201)
    assert parse_reg(b'+CEREG: 2,1,"0x00A1","0x0000BEEF"', b"+CEREG:") == (1, 0xA1, 0xBEEF)
    assert parse_reg(b"+CREG: 0,2", b"+CREG:") == (2, None, None)
    with pytest.raises(BadValue):
        parse_reg(b"+CREG: x", b"+CREG:")
    assert cell_tlv(0x1816, 0xAC99201) == bytes([0x18, 0x16, 0x92, 0x01])
    assert cell_tlv(0x1234, 0x5678) == struct.pack(">I", 0x1234 << 16 | 0x5678)


@pytest.mark.parametrize("quoted,act", [(True, True), (False, True), (True, False)])
def test_signal_and_cell_from_the_module(quoted, act):
    """MODEMS SIM7600 signal (AT+CSQ -> +CSQ: <rssi>,<ber>) and registration
    (AT+CREG=2, AT+CREG? -> +CREG: 2,<stat>,<lac>,<ci>[,<act>]); no signal
    (+CSQ: 99,99, registration lost) gives None for both.  update_radio() puts
    TLVs 0x3006/0x3007 into the parameters the engine sends at LOGIN."""
    async def main():
        r = await rig(reg_quoted=quoted, reg_act=act, lac=0x2A3B, ci=0x1C4D5E)
        await r.m.power_on()
        assert await r.m.signal() == round(23 * 100 / 31)
        assert await r.m.cell() == (0x2A3B, 0x1C4D5E)
        params = PM.Params()
        assert await r.m.update_radio(params) == (74, (0x2A3B, 0x1C4D5E))
        assert params.get(0x3007) == bytes([74])
        assert params.get(0x3006) == bytes([0x2A, 0x3B, 0x4D, 0x5E])
        r.emu.set_signal(31)
        assert await r.m.signal() == 100
        r.emu.set_signal(99)
        assert await r.m.signal() is None and await r.m.cell() is None
        assert await r.m.registered() is False
        r.emu.set_signal(10)
        assert await r.m.signal() == round(1000 / 31) and await r.m.registered() is True
        # the monitor task follows the signal
        task = asyncio.ensure_future(r.m.monitor_radio(params, period=0.05))
        await eventually(lambda: params.get(0x3007) == bytes([round(1000 / 31)]))
        r.emu.set_signal(20)
        await eventually(lambda: params.get(0x3007) == bytes([round(2000 / 31)]))
        task.cancel()
        await r.close()
    run(main())


# -- SIM -------------------------------------------------------------------------

def test_pin_entry_wrong_pin_reports_attempts_and_is_never_retried():
    """MODEMS SIM7600 PIN state (AT+CPIN?), PIN enter (AT+CPIN="1234"), attempts
    left (AT+SPIC), 27.007 +CME ERROR: 16 incorrect password: a wrong PIN raises
    WrongPin with the attempts left and exactly one PIN reached the card (the
    driver never retries); a malformed PIN raises BadValue before anything is
    sent; IMSI needs the PIN (PinRequired); the right PIN makes the card READY
    and the counter is reset (4.4.1.1)."""
    async def main():
        r = await rig(sim=card(pin_enabled=True))
        await r.m.power_on()
        sim = r.emu.sim
        assert await r.m.pin_state() == S.SIM_PIN
        assert await r.m.attempts() == (3, 10)
        with pytest.raises(S.PinRequired):
            await r.m.imsi()
        assert await r.m.iccid() == ICCID
        assert (await r.m.identity())["imsi"] is None
        with pytest.raises(BadValue):
            await r.m.enter_pin("12a4")
        assert sim.pin_commands == 0 and b'AT+CPIN="12a4"' not in r.written()
        with pytest.raises(S.WrongPin) as e:
            await r.m.enter_pin("0000")
        assert e.value.left == 2 and sim.pin_commands == 1
        assert "0000" not in str(e.value)
        assert r.written().count(b'AT+CPIN="0000"') == 1
        assert await r.m.attempts() == (2, 10)
        await r.m.enter_pin("1234")
        assert await r.m.pin_state() == S.READY and await r.m.attempts() == (3, 10)
        assert await r.m.imsi() == IMSI
        with pytest.raises(S.SimError):                    # no PIN request pending
            await r.m.enter_pin("1234")
        assert sim.pin_commands == 2
        await r.close()
    run(main())


def test_pin_enable_change_disable_and_puk():
    """MODEMS SIM7600 PIN lock (AT+CLCK="SC",1|0,"<pin>", query AT+CLCK="SC",2),
    PIN change (AT+CPWD="SC","<old>","<new>"), PUK (AT+CPIN="<puk>","<newpin>"):
    three wrong PINs -> SIM PUK (WrongPin left 0), a wrong PUK -> WrongPuk with
    the PUK attempts left, the right PUK -> READY with the new PIN.  Enabling an
    enabled PIN is refused without sending the PIN."""
    async def main():
        r = await rig()
        await r.m.power_on()
        sim = r.emu.sim
        assert await r.m.pin_enabled() is False
        with pytest.raises(S.SimError):                    # PIN1 disabled: no change
            await r.m.change_pin("1234", "4321")
        with pytest.raises(S.WrongPin) as e:
            await r.m.set_pin_enabled(True, "9999")
        assert e.value.left == 2
        await r.m.set_pin_enabled(True, "1234")
        assert await r.m.pin_enabled() is True
        n = sim.pin_commands
        with pytest.raises(S.SimError):
            await r.m.set_pin_enabled(True, "1234")
        assert sim.pin_commands == n                       # refused before the card
        with pytest.raises(S.WrongPin) as e:
            await r.m.change_pin("1111", "4321")
        assert e.value.left == 2
        await r.m.change_pin("1234", "4321")
        # a power cycle: the card asks for the new PIN
        r.emu.reboot()
        await eventually(lambda: r.m.reboots == 2)         # RDY seen
        await r.m.ensure_ready()
        # the driver re-entered the PIN it saw accepted (>= 2 attempts left): READY
        assert await r.m.pin_state() == S.READY
        await r.m.set_pin_enabled(False, "4321")
        assert await r.m.pin_enabled() is False
        await r.close()

        r = await rig(sim=card(pin_enabled=True))
        await r.m.power_on()
        for left in (2, 1, 0):
            with pytest.raises(S.WrongPin) as e:
                await r.m.enter_pin("0000")
            assert e.value.left == left
        assert await r.m.pin_state() == S.SIM_PUK
        with pytest.raises(S.PukRequired):
            await r.m.enter_pin("1234")
        with pytest.raises(S.WrongPuk) as e:
            await r.m.enter_puk("00000000", "5555")
        assert e.value.left == 9 and await r.m.attempts() == (0, 9)
        with pytest.raises(BadValue):
            await r.m.enter_puk("1234567", "5555")         # 7 digits: not a PUK
        await r.m.enter_puk("12345678", "5555")
        assert await r.m.pin_state() == S.READY and await r.m.attempts() == (3, 10)
        assert r.emu.sim.pin_commands == 5
        await r.close()
    run(main())


@pytest.mark.parametrize("order", ["pin1,puk1,pin2,puk2", "pin1,pin2,puk1,puk2"])
def test_spic_field_order_variants(order):
    """MODEMS SIM7600 attempts left: +SPIC field order is unconfirmed; counters
    above 3 can only be PUK counters, so the driver reads both orders right
    with its default setting."""
    async def main():
        r = await rig(sim=card(pin_enabled=True), spic_order=order)
        await r.m.power_on()
        assert await r.m.attempts() == (3, 10)
        with pytest.raises(S.WrongPin):
            await r.m.enter_pin("0000")
        assert await r.m.attempts() == (2, 10)
        await r.close()
    run(main())


def test_simguard_boots_and_changes_pin1_through_the_async_driver():
    """4.4.1.1 boot checks and a 4.4.1.2 PIN1 change run by wmmp.terminal.simguard on the
    driver itself (run_async: its SIM methods are coroutines): the stored PIN1
    is entered once; a wrong stored PIN1 is refused by the card once and never
    sent again (the next boot alarms without a PIN command); a change verifies
    the old PIN1 on the card, and the next boot enters the new one."""
    async def main():
        r = await rig(sim=card(pin_enabled=True))
        await r.m.power_on()
        assert r.m.sim_async is True
        store = PM.MemoryStorage({SR.KEY_PIN: b"1234"})
        res = await SG.run_async(SG.SimGuard(r.m, store).boot_job(), r.m)
        assert res.state == SG.WORKING and res.imsi == IMSI and res.imei == IMEI
        assert r.emu.sim.pin_commands == 1
        await SG.run_async(SG.change_pin_job(store, None, "8765"), r.m)
        assert bytes(store.load()[SR.KEY_PIN]) == b"8765"
        r.emu.reboot()
        await eventually(lambda: r.m.reboots == 2)
        r.m._pin = None                                 # the driver must not re-enter it itself
        res = await SG.run_async(SG.SimGuard(r.m, store).boot_job(), r.m)
        assert res.state == SG.WORKING and await r.m.pin_state() == S.READY
        await r.close()

        r = await rig(sim=card(pin_enabled=True))
        await r.m.power_on()
        store = PM.MemoryStorage({SR.KEY_PIN: b"9999"})
        res = await SG.run_async(SG.SimGuard(r.m, store).boot_job(), r.m)
        assert res.state == SG.ALARM and "refused" in res.reason
        assert r.emu.sim.pin_commands == 1 and await r.m.attempts() == (2, 10)
        res = await SG.run_async(SG.SimGuard(r.m, store).boot_job(), r.m)
        assert res.state == SG.ALARM and r.emu.sim.pin_commands == 1
        await r.close()
    run(main())


def test_simguard_over_a_snapshot_never_sends_a_pin():
    """SimSnapshot, the synchronous read-only view for code that cannot await:
    reads come from the module; with a READY card SimGuard finds the IMSI;
    with a card asking for PIN1 the snapshot refuses the PIN command, so the
    guard alarms and the card's counter is untouched (no attempt used)."""
    async def main():
        r = await rig()
        await r.m.power_on()
        snap = await r.m.sim_snapshot()
        assert isinstance(snap, SimSnapshot)
        assert (snap.pin_state(), snap.imsi(), snap.imei(), snap.iccid(), snap.attempts(),
                snap.pin_enabled()) == (S.READY, IMSI, IMEI, ICCID, (3, 10), False)
        res = SG.SimGuard(snap, PM.MemoryStorage()).boot()
        assert res.state == SG.WORKING and res.imsi == IMSI and res.imei == IMEI
        await r.close()

        r = await rig(sim=card(pin_enabled=True))
        await r.m.power_on()
        snap = await r.m.sim_snapshot()
        with pytest.raises(S.PinRequired):
            snap.imsi()
        store = PM.MemoryStorage({SR.KEY_PIN: b"1234"})
        res = SG.SimGuard(snap, store).boot()
        assert res.state == SG.ALARM
        assert r.emu.sim.pin_commands == 0 and await r.m.attempts() == (3, 10)
        # the PIN goes through the async driver, then a fresh snapshot boots
        await r.m.enter_pin(bytes(store.load()[SR.KEY_PIN]))
        res = SG.SimGuard(await r.m.sim_snapshot(), store).boot()
        assert res.state == SG.WORKING
        await r.close()
    run(main())


def test_no_sim():
    """27.007 +CME ERROR: 10 (SIM not inserted): pin_state() NO SIM, reads raise NoSim."""
    async def main():
        r = await rig()
        await r.m.power_on()
        r.emu.remove_sim()
        assert await r.m.pin_state() == S.NO_SIM
        with pytest.raises(S.NoSim):
            await r.m.imsi()
        with pytest.raises(S.NoSim):
            await r.m.attempts()
        assert (await r.m.sim_snapshot()).pin_state() == S.NO_SIM
        await r.close()
    run(main())


# -- UDP -------------------------------------------------------------------------

def test_udp_bearer_round_trip_with_cr_lf_inside():
    """MODEMS SIM7600 data service (AT+NETOPEN -> +NETOPEN: 0), UDP
    (AT+CIPOPEN=<l>,"UDP",,,<lport>), send (AT+CIPSEND=<l>,<len>,"<ip>",<port>,
    '>' prompt, raw bytes), push-mode receive (RECV FROM + +IPD<len> + raw
    bytes with CR/LF inside); PROTOCOL.md 9: one datagram = one message; the
    datagrams cross real loopback sockets; datagrams that are not one message
    are dropped; over 1500 bytes is too long for one AT+CIPSEND."""
    async def main():
        t, echo, eport = await udp_echo()
        r = await rig(driver_opts={"apn": "cmiot"})
        await r.m.power_on()
        b = UdpBearer(r.m, 0, "127.0.0.1", eport)
        assert b.kind == P.BEARER_PACKET
        with pytest.raises(LinkLost):                       # not open yet
            await b.recv()
        await b.open()
        assert b.is_open and r.emu.pdp[1] == ("IP", "cmiot")
        assert await r.m.ip_address() == "10.71.34.127"
        msgs = [message(NASTY, seq=1), message(b"\r\n" * 30, seq=2), message(seq=3)]
        for m in msgs:
            await b.send(m)
        got = [await asyncio.wait_for(b.recv(), 3) for _ in msgs]
        assert got == msgs and echo.got == msgs
        assert b'AT+CIPSEND=0,%d,"127.0.0.1",%d' % (len(msgs[0]), eport) in r.written()
        # a datagram that is not one message is dropped, the next one comes through
        echo.t.sendto(b"\x00\x40short", ("127.0.0.1", r.emu.links[0].sock.local_port))
        await eventually(lambda: b.bad_frames == 1)
        await b.send(message(b"x" * 1400, seq=4))
        assert await asyncio.wait_for(b.recv(), 3) == message(b"x" * 1400, seq=4)
        with pytest.raises(TooLongForBearer):
            await b.send(message(b"y" * 1500))
        with pytest.raises(BadLength):
            await b.send(b"\x00\x30" + bytes(30))
        await b.close()
        assert not b.is_open and r.emu.open_links() == []
        with pytest.raises(LinkLost):
            await b.recv()
        with pytest.raises(LinkLost):
            await b.send(message())
        await r.close()
        t.close()
    run(main())


def test_udp_routing_bad_frames_and_bounded_queue():
    """MODEMS SIM7600 receive (push mode): +IPD carries no link number, so the
    RECV FROM address picks the link; a datagram that is not one whole message
    (PROTOCOL.md 1 total_length) is dropped and counted; the receive queue is
    bounded (oldest dropped)."""
    async def main():
        t1, e1, p1 = await udp_echo()
        t2, e2, p2 = await udp_echo()
        r = await rig()
        await r.m.power_on()
        a = UdpBearer(r.m, 1, "127.0.0.1", p1, max_queue=2)
        b = UdpBearer(r.m, 2, "127.0.0.1", p2)
        await a.open()
        await b.open()
        await a.send(message(b"to-a"))
        await b.send(message(b"to-b"))
        assert await asyncio.wait_for(b.recv(), 3) == message(b"to-b")
        assert await asyncio.wait_for(a.recv(), 3) == message(b"to-a")
        # the peer sends a broken datagram straight to the module's socket
        e1.t.sendto(b"\x00\x99" + bytes(40), ("127.0.0.1", r.emu.links[1].sock.local_port))
        await eventually(lambda: a.bad_frames == 1)
        for i in range(4):
            await a.send(message(b"%d" % i, seq=i))
        await eventually(lambda: len(e1.got) >= 5)
        await eventually(lambda: a.dropped == 2)
        assert [await a.recv() for _ in range(2)] == [message(b"2", seq=2), message(b"3", seq=3)]
        assert r.m.unrouted == 0
        await r.close()
        t1.close()
        t2.close()
    run(main())


# -- TCP -------------------------------------------------------------------------

def test_tcp_bearer_stream_split_by_total_length():
    """MODEMS SIM7600 TCP (AT+CIPOPEN=<l>,"TCP","<ip>",<port> -> OK then
    +CIPOPEN: <l>,0; AT+CIPSEND=<l>,<len>), PROTOCOL.md 9: the stream is split by
    total_length whatever the segment boundaries (coalesced and split); a
    message over max_message is skipped and the framing kept; a message over
    1500 bytes goes in several AT+CIPSEND chunks; the peer closing gives
    +IPCLOSE and recv raises LinkLost; open() connects again."""
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
        r = await rig()
        await r.m.power_on()
        b = TcpBearer(r.m, 3, "127.0.0.1", sport, max_message=2000)
        await b.open()
        await eventually(lambda: conns)
        big = message(bytes(range(256)) * 7 + NASTY, seq=9)   # > 1500: chunked
        m1, m2, m3 = message(NASTY, seq=1), message(b"\r\n", seq=2), message(seq=3)
        await b.send(m1)
        await b.send(big)
        await eventually(lambda: len(got) == len(m1) + len(big))
        assert bytes(got) == m1 + big
        assert r.written().count(b"AT+CIPSEND=3,") == 3
        w = conns[0]
        huge = message(b"h" * 2500, seq=4)
        w.write(m1 + m2[:5])                                # coalesced, then split
        await w.drain()
        await asyncio.sleep(0.05)
        w.write(m2[5:] + huge + m3)
        await w.drain()
        assert await asyncio.wait_for(b.recv(), 3) == m1
        assert await asyncio.wait_for(b.recv(), 3) == m2
        assert await asyncio.wait_for(b.recv(), 3) == m3        # huge was skipped
        assert b.oversize == 1
        w.close()                                           # the peer closes
        with pytest.raises(LinkLost):
            await asyncio.wait_for(b.recv(), 3)
        assert not b.is_open
        with pytest.raises(LinkLost):
            await b.send(m1)
        await b.open()
        await eventually(lambda: len(conns) == 2)
        conns[1].write(m3)
        assert await asyncio.wait_for(b.recv(), 3) == m3
        # a total_length below 28: the framing is lost, the link is dropped
        conns[1].write(b"\x00\x05abc")
        with pytest.raises(LinkLost):
            await asyncio.wait_for(b.recv(), 3)
        await b.open()                                      # closes the old link first
        await eventually(lambda: len(conns) == 3)
        await b.send(m2)
        await eventually(lambda: bytes(got).endswith(m2))
        await b.close()
        srv.close()
        await r.close()
    run(main())


def test_tcp_connect_refused_is_a_network_error():
    """MODEMS SIM7600 <err> of CIPOPEN: 1 network failure (connection refused)."""
    async def main():
        s = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = s.sockets[0].getsockname()[1]
        s.close()
        await s.wait_closed()
        r = await rig()
        await r.m.power_on()
        b = TcpBearer(r.m, 0, "127.0.0.1", port)
        with pytest.raises(NetworkError) as e:
            await b.open()
        assert e.value.code == 1 and isinstance(e.value, ConnectionError)
        await r.close()
    run(main())


# -- SMS -------------------------------------------------------------------------

async def sms_rig(**kw):
    centre = await SmsCentre("127.0.0.1", 0).start()
    platform = await SmsClient("127.0.0.1", centre.port, PLATFORM).connect()
    stranger = await SmsClient("127.0.0.1", centre.port, STRANGER).connect()
    r = await rig(smsc=("127.0.0.1", centre.port), **kw)
    await eventually(lambda: MSISDN in centre.attached())
    return centre, platform, stranger, r


def test_sms_bearer_send_and_receive_through_the_sms_centre():
    """MODEMS SIM7600 SMS mode/send/receive and PROTOCOL.md 9: AT+CMGF=0,
    AT+CNMI=2,1,0,0,0; send AT+CMGS=<tpdu octets>, '> ', PDU hex, Ctrl-Z ->
    +CMGS: <mr>; the platform receives the message from the terminal's MSISDN;
    receive +CMTI -> AT+CMGR -> SMS-DELIVER (8-bit) -> AT+CMGD; only WMMP SMS
    from a platform number come out, others are deleted; an SMS stored while
    the bearer was closed is picked up when it opens (AT+CMGL=4); more than
    140 bytes is too long for one SMS."""
    async def main():
        centre, platform, stranger, r = await sms_rig()
        await r.m.power_on()
        await stranger.send(MSISDN, message(b"early", seq=7))  # before the bearer opens
        await platform.send(MSISDN, message(b"stored", seq=8))
        await eventually(lambda: len(r.emu.stored_sms()) == 2)
        b = SmsBearer(r.m, [PLATFORM, "10658001"])
        assert b.kind == P.BEARER_SMS
        await b.open()
        assert await asyncio.wait_for(b.recv(), 5) == message(b"stored", seq=8)
        assert b"AT+CMGL=4\r" in r.written() and r.emu.stored_sms() == {}
        up = message(b"\r\n\x1a\x1b" + bytes(range(100)), seq=1)
        await b.send(up)
        assert await asyncio.wait_for(platform.recv(), 3) == (MSISDN, up)
        down = message(b"\r\nOK\r\n" + bytes(range(90)), seq=2)
        await platform.send(MSISDN, down)
        assert await asyncio.wait_for(b.recv(), 5) == down
        assert b"AT+CMGR=" in r.written() and b"AT+CMGD=" in r.written()
        # from a stranger, a non-message and a WMMP one after them
        await stranger.send(MSISDN, message(b"spoof", seq=3))
        await platform.send(MSISDN, b"\x00\x50 not a framed message")
        await platform.send(MSISDN, message(b"good", seq=4))
        assert await asyncio.wait_for(b.recv(), 5) == message(b"good", seq=4)
        assert b.ignored == 3 and r.emu.stored_sms() == {}
        with pytest.raises(TooLongForBearer):
            await b.send(message(b"z" * 113))               # 141 bytes
        await b.send(message(b"z" * 112))                  # 140 bytes: fits
        assert (await asyncio.wait_for(platform.recv(), 3))[1] == message(b"z" * 112)
        await b.close()
        with pytest.raises(LinkLost):
            await b.recv()
        await r.close()
        for c in (platform, stranger):
            await c.close()
        await centre.close()
    run(main())


def test_sms_bearer_recv_waits_and_handles_many_notifications():
    """27.005 +CMTI: "SM",<idx> per stored SMS: a waiting recv() wakes on each;
    a burst larger than the pending list falls back to one AT+CMGL=4 sweep."""
    async def main():
        centre, platform, stranger, r = await sms_rig()
        await r.m.power_on()
        b = SmsBearer(r.m, PLATFORM, max_pending=2)
        await b.open()
        task = asyncio.ensure_future(b.recv())
        await asyncio.sleep(0.1)
        assert not task.done()
        await platform.send(MSISDN, message(b"one"))
        assert await asyncio.wait_for(task, 5) == message(b"one")
        for i in range(5):
            await platform.send(MSISDN, message(b"n", seq=i))
        got = [await asyncio.wait_for(b.recv(), 5) for _ in range(5)]
        assert sorted(got) == sorted(message(b"n", seq=i) for i in range(5))
        await eventually(lambda: r.emu.stored_sms() == {})
        await r.close()
        for c in (platform, stranger):
            await c.close()
        await centre.close()
    run(main())


# -- recovery ------------------------------------------------------------------

def test_recovery_after_a_network_outage():
    """issue 5 fault injection "network outage" and MODEMS SIM7600 close: the
    sockets die with +CIPEVENT: NETWORK CLOSED UNEXPECTEDLY; a waiting recv()
    raises LinkLost (a ConnectionError on CPython); open() during the outage
    raises NetworkError; after it, open() runs AT+NETOPEN? (still 1), AT+NETCLOSE,
    AT+NETOPEN and AT+CIPOPEN again and the round trip works."""
    async def main():
        t, echo, eport = await udp_echo()
        r = await rig(driver_opts={"attach_wait": 0.5})
        await r.m.power_on()
        b = UdpBearer(r.m, 0, "127.0.0.1", eport)
        await b.open()
        await b.send(message(b"before"))
        assert await asyncio.wait_for(b.recv(), 3) == message(b"before")
        waiting = asyncio.ensure_future(b.recv())
        await asyncio.sleep(0.05)
        r.emu.set_outage(True)
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(waiting, 3)
        assert not b.is_open and r.m.net_lost == 1
        with pytest.raises(LinkLost):
            await b.send(message(b"lost"))
        with pytest.raises(NetworkError):
            await b.open()
        r.emu.set_outage(False)
        mark = len(r.written())
        await b.open()
        w = r.written()[mark:]
        assert w.index(b"AT+NETOPEN?") < w.index(b"AT+NETCLOSE") < w.index(b"AT+NETOPEN\r") \
            < w.index(b"AT+CIPOPEN=0")
        await b.send(message(b"after"))
        assert await asyncio.wait_for(b.recv(), 3) == message(b"after")
        await r.close()
        t.close()
    run(main())


def test_recovery_after_a_module_reboot():
    """issue 5 fault injection "a module reboot" mid-session (MODEMS SIM7600
    reset: boot URCs again, sockets and data service gone, echo back on): every
    bearer's recv() raises LinkLost, the next open() runs the init sequence
    again (ATE0, AT+CMEE=1, ...), the data service and the link, the SMS settings;
    a reboot during AT+CIPSEND fails that send with LinkLost; a card with PIN1
    gets the PIN it accepted this session again (it had 3 attempts left)."""
    async def main():
        t, echo, eport = await udp_echo()
        centre, platform, stranger, r = await sms_rig(sim=card(pin_enabled=True), reset_time=0.2)
        await r.m.power_on()
        await r.m.enter_pin("1234")
        udp = UdpBearer(r.m, 0, "127.0.0.1", eport)
        sms = SmsBearer(r.m, [PLATFORM])
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
        assert b"ATE0\r" in w and b"AT+CMEE=1\r" in w and b'AT+CPIN="1234"' in w
        assert w.index(b"AT+NETOPEN\r") < w.index(b"AT+CIPOPEN=0") and b"AT+CNMI=2,1,0,0,0" in w
        assert r.emu.sim.pin_commands == 2
        await udp.send(message(b"again"))
        assert await asyncio.wait_for(udp.recv(), 3) == message(b"again")
        await platform.send(MSISDN, message(b"sms again"))
        assert await asyncio.wait_for(sms.recv(), 5) == message(b"sms again")
        # a reboot while the module handles AT+CIPSEND
        r.emu.reboot_on("AT+CIPSEND")
        with pytest.raises(LinkLost):
            await udp.send(message(b"never"))
        await udp.open()
        await udp.send(message(b"third"))
        assert await asyncio.wait_for(udp.recv(), 3) == message(b"third")
        assert echo.got[-1] == message(b"third") and message(b"never") not in echo.got
        await r.close()
        for c in (platform, stranger):
            await c.close()
        await centre.close()
        t.close()
    run(main())


def test_frame_problem():
    """PROTOCOL.md 1: total_length (first u16) equals the message size; a 28-byte
    header echo with a feedback bit (table A-2) is whole as it is."""
    assert frame_problem(message(b"abc")) is None
    assert frame_problem(message(b"abc")[:-1]) is not None
    assert frame_problem(b"\x00\x1c" + bytes(26)) is None
    notice = bytearray(message(b"long body"))[:28]
    assert frame_problem(bytes(notice)) is not None
    notice[26] = 0x01
    assert frame_problem(bytes(notice)) is None
    assert frame_problem(b"\x00") is not None


# -- MicroPython -----------------------------------------------------------------

MP_HEAP = 64 * 1024         # heapsize given to the interpreter


_MP_SCRIPT = r'''
import sys
sys.path.insert(0, "/lib")
import asyncio
from wmmp.modem.at import AtEngine
from wmmp.modem import pdu as PDU
from wmmp.modem import LinkLost
from wmmp.modem.sim7600 import Sim7600, UdpBearer, SmsBearer

HDR = b"M2MMAKER00000001\x03\x00\x00\x04\x00\x00\x00\x01\x00\x00"


def message(body):
    n = 28 + len(body)
    return bytes([n >> 8, n & 255]) + HDR + body


DOWN = message(b"\r\nOK\r\n>\x1a")
DELIVER = PDU.encode_deliver("10658000", DOWN, (2024, 5, 6, 7, 8, 9, 32))

FIXED = {b"AT": b"", b"ATE0": b"", b"AT+CMEE=1": b"", b"AT+CIPSRIP=1": b"",
         b"AT+CPIN?": b"+CPIN: READY", b"AT+CGSN": b"860000000000001",
         b"AT+CGMR": b"+CGMR: LE11B08SIM7600CE-A", b"AT+CICCID": b"+ICCID: 89860012345678901234",
         b"AT+CIMI": b"460001234567890", b"AT+CSQ": b"+CSQ: 17,99", b"AT+CREG=2": b"",
         b"AT+CREG?": b'+CREG: 2,1,1A2B,"C3D4E5F",7', b"AT+CGATT?": b"+CGATT: 1",
         b"AT+NETOPEN?": b"+NETOPEN: 0", b"AT+CMGF=0": b"", b"AT+CNMI=2,1,0,0,0": b"",
         b'AT+CPMS="SM","SM","SM"': b"+CPMS: 0,20,0,20,0,20", b"AT+CMGL=4": b"",
         b"AT+CMGD=3": b""}


class Module:
    """A scripted SIM7600: canned replies, a UDP echo peer, one SMS."""

    def __init__(self):
        self.rx = bytearray()
        self.ev = asyncio.Event()
        self.inb = bytearray()
        self.mode = None           # ("data", n, header) or ("pdu",)
        self.cmds = []

    def push(self, d):
        self.rx += d
        self.ev.set()

    def line(self, t):
        self.push(b"\r\n" + t + b"\r\n")

    async def write(self, d):
        self.inb += d
        while True:
            if self.mode is not None and self.mode[0] == "data":
                n = self.mode[1]
                if len(self.inb) < n:
                    return
                data = bytes(self.inb[:n])
                self.inb = bytearray(self.inb[n:])
                self.mode = None
                self.line(b"OK")
                self.line(b"+CIPSEND: 0,%d,%d" % (n, n))
                # the peer echoes: push mode, the payload has CR/LF in it
                self.push(b"\r\nRECV FROM:10.0.0.2:7301\r\n+IPD%d\r\n" % n + data)
                continue
            if self.mode is not None:
                k = self.inb.find(b"\x1a")
                if k < 0:
                    return
                self.inb = bytearray(self.inb[k + 1:])
                self.mode = None
                self.line(b"+CMGS: 5")
                self.line(b"OK")
                continue
            k = self.inb.find(b"\r")
            if k < 0:
                return
            c = bytes(self.inb[:k])
            self.inb = bytearray(self.inb[k + 1:])
            self.cmds.append(c)
            self.answer(c)

    def answer(self, c):
        if c in FIXED:
            if FIXED[c]:
                self.line(FIXED[c])
            self.line(b"OK")
        elif c == b"AT+NETOPEN":
            self.line(b"OK")
            self.line(b"+NETOPEN: 0")
        elif c == b'AT+CIPOPEN=0,"UDP",,,5000':
            self.line(b"+CIPOPEN: 0,0")
            self.line(b"OK")
        elif c.startswith(b"AT+CIPSEND=0,"):
            self.mode = ("data", int(c.split(b",")[1]))
            self.push(b"\r\n>")
        elif c.startswith(b"AT+CMGS="):
            self.mode = ("pdu",)
            self.push(b"\r\n> ")
        elif c == b"AT+CMGR=3":
            self.line(b"+CMGR: 0,,%d" % DELIVER[1])
            self.line(PDU.to_hex(DELIVER[0]).encode())
            self.line(b"OK")
        else:
            self.line(b"ERROR")

    async def read(self, n):
        while not self.rx:
            self.ev.clear()
            await self.ev.wait()
        out = bytes(self.rx[:n])
        self.rx = bytearray(self.rx[n:])
        return out


async def main():
    try:
        mod = Module()
        at = AtEngine(mod, log=lambda *a: None)
        m = Sim7600(at)
        await m.power_on()
        ident = await m.identity()
        print("IDENT", ident["imei"], ident["imsi"], ident["iccid"], ident["firmware"])
        print("RADIO", await m.signal(), await m.cell())
        udp = UdpBearer(m, 0, "10.0.0.2", 7301)
        await udp.open()
        up = message(b"\r\n+IPD9\r\nOK\r\n" + bytes(range(40)))
        await udp.send(up)
        print("UDP", await udp.recv() == up)
        sms = SmsBearer(m, ["10658000"])
        await sms.open()
        task = asyncio.create_task(sms.recv())
        await asyncio.sleep(0.05)
        mod.line(b'+CMTI: "SM",3')
        print("SMS", await asyncio.wait_for(task, 2) == DOWN, sms.received)
        await sms.send(message(b"up by sms"))
        print("CMGS", sms.sent)
        mod.push(b"\r\n+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY\r\n")
        try:
            await asyncio.wait_for(udp.recv(), 2)
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
    scripted module: power-on sequence, identity (AT+CGSN, AT+CIMI, AT+CICCID,
    AT+CGMR), signal (+CSQ: 17 -> round(17*100/31)), cell (unquoted LAC, quoted
    CI), UDP open/send/push-mode receive with CR/LF in the payload, SMS +CMTI ->
    AT+CMGR -> AT+CMGD and AT+CMGS, and +CIPEVENT making recv() raise LinkLost."""
    import mp_harness as H
    p = H.run_async_script("sim7600_mp", _MP_SCRIPT, MP_HEAP)
    out = p.stdout.splitlines()
    assert p.returncode == 0, p.stdout + p.stderr
    assert out == ["IDENT 860000000000001 460001234567890 89860012345678901234 LE11B08SIM7600CE-A",
                   "RADIO %d (6699, 205344351)" % round(17 * 100 / 31),
                   "UDP True", "SMS True 1", "CMGS 1", "LOST False", "END"], p.stdout + p.stderr

