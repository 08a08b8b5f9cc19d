"""SIM7600 emulator (tools/wmmp_tools/emu) driven by the project's AT engine
(wmmp.modem.at) over an in-process stream, and once over a real pseudo-terminal.
Sections: "MODEMS SIM7600 <area>" are rows of shared/spec/MODEMS.md;
"27.007 9.2" / "27.005 3.2.5" the error code lists; "PROTOCOL.md 9" binary SMS.

CPython only: asyncio.run inside plain tests, real loopback UDP/TCP sockets,
a real SMS centre (wmmp_tools.smsc) on port 0.
"""

import asyncio
import os
import signal
import subprocess
import time

import pytest

from wmmp.modem import pdu as PDU
from wmmp.modem.at import AtEngine, AtError, AtReboot, AtTimeout, CmeError, CmsError
from wmmp.terminal.simcard import SimulatedSim

from wmmp_tools.emu.ptyio import PtyPort
from wmmp_tools.emu.sim7600 import Sim7600
from wmmp_tools.emu.stream import HostPort
from wmmp_tools.smsc import SmsCentre, SmsClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMU_BIN = os.path.join(ROOT, ".venv", "bin", "wmmp-emu")

IMEI = "860000000000001"
IMSI = "460001234567890"
ICCID = "89860012345678901234"
MSISDN = "13800000001"
PLATFORM = "1065710001"

# what a SIM7600 prints after power-on with a card without PIN (MODEMS SIM7600 boot)
BOOT_TRANSCRIPT = b"\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n"

# a binary payload that looks like AT output: CR/LF, a fake OK, a fake +IPD header,
# Ctrl-Z, Ctrl-C, XON/XOFF and every byte value
NETWORK_CLOSED = b"+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY"

NASTY = b"\r\nOK\r\n+IPD3\r\n\x1a\x03\x11\x13\x00" + bytes(range(256))


def run(coro, timeout=20.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def card(pin_enabled=False, pin="1234", puk="12345678"):
    return SimulatedSim(IMSI, ICCID, IMEI, pin=pin, puk=puk, pin_enabled=pin_enabled)


async def rig(sim=None, smsc=None, **opts):
    """-> (emu, port, at, reboots): the emulator powered on, the engine on its UART."""
    emu = Sim7600(sim if sim is not None else card(), msisdn=MSISDN, smsc=smsc, **opts)
    port = HostPort(emu)
    at = AtEngine(port, log=lambda *a: None)
    reboots = []
    at.on_reboot(lambda line: reboots.append(bytes(line)))
    at.start()
    await emu.start()
    return emu, port, at, reboots


async def done(emu, at):
    at.stop()
    await emu.close()


async def urcs(at, wait=0.1):
    """Every URC queued within `wait` s of silence: [(prefix, line, extra)]."""
    out = []
    while True:
        try:
            out.append(await at.urc(wait))
        except AtTimeout:
            return out


async def wait_urc(at, prefix, timeout=3.0):
    """The next URC with `prefix` (others are skipped): (line, extra)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no %r URC" % prefix)
        p, line, extra = await at.urc(left)
        if p == prefix:
            return line, extra


async def until(cond, what, timeout=5.0):
    """Wait until cond() holds; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "no %s within %s s" % (what, timeout)
        await asyncio.sleep(0.01)


async def boot_urcs(at, reboots, n=3):
    """The boot URCs after RDY (MODEMS SIM7600 boot)."""
    got = [await at.urc(3.0) for _ in range(n)]
    assert reboots[-1:] == [b"RDY"]
    return [g[1] for g in got]


async def read_raw(port, token, timeout=3.0):
    """Bytes from the module up to and including `token` (no engine on the port)."""
    buf = b""
    deadline = time.monotonic() + timeout
    while token not in buf:
        left = deadline - time.monotonic()
        assert left > 0, "waited for %r, got %r" % (token, buf)
        buf += await asyncio.wait_for(port.read(4096), left)
    return buf


async def udp_echo_server():
    class Echo(asyncio.DatagramProtocol):
        def __init__(self):
            self.got = []

        def connection_made(self, t):
            self.t = t

        def datagram_received(self, data, addr):
            self.got.append((data, addr))
            self.t.sendto(data, addr)

    t, proto = await asyncio.get_running_loop().create_datagram_endpoint(
        Echo, local_addr=("127.0.0.1", 0))
    return t, proto, t.get_extra_info("sockname")[1]


async def net_open(at):
    """MODEMS SIM7600 data service: AT+NETOPEN -> OK then +NETOPEN: 0."""
    assert await at.command("AT+NETOPEN", timeout=3, final="+NETOPEN:") == [b"+NETOPEN: 0"]


# -- boot, framing, identity ---------------------------------------------------------

def test_boot_banner_echo_and_framing_raw():
    """MODEMS SIM7600 boot (RDY, +CPIN: READY, SMS DONE, PB DONE in that order),
    health (AT, ATE0) and the reply framing: echo on after boot, every line
    framed CR LF, a space after the colon (+CSQ: 23,99)."""
    async def main():
        emu = Sim7600(card(), msisdn=MSISDN, rssi=23, ber=99)
        port = HostPort(emu)
        await emu.start()
        assert await read_raw(port, b"PB DONE\r\n") == BOOT_TRANSCRIPT
        port.write(b"AT\r")
        assert await read_raw(port, b"OK\r\n") == b"AT\r\r\nOK\r\n"
        port.write(b"AT+CSQ\r")
        assert await read_raw(port, b"OK\r\n") == b"AT+CSQ\r\r\n+CSQ: 23,99\r\n\r\nOK\r\n"
        port.write(b"ATE0\r")
        assert await read_raw(port, b"OK\r\n") == b"ATE0\r\r\nOK\r\n"
        port.write(b"at+csq\r")                          # names are case-insensitive (V.250)
        assert await read_raw(port, b"OK\r\n") == b"\r\n+CSQ: 23,99\r\n\r\nOK\r\n"
        port.write(b"AT+NOSUCH\r")                       # unknown command -> ERROR
        assert await read_raw(port, b"ERROR\r\n") == b"\r\nERROR\r\n"
        port.write(b"garbage without the prefix\r")      # ignored, as the module does
        port.write(b"AT+CMGF=0;+CNMI=2,1,0,0,0\r")        # concatenated commands: one OK
        assert await read_raw(port, b"OK\r\n") == b"\r\nOK\r\n"
        await emu.close()
    run(main())


def test_identity_through_the_at_engine():
    """MODEMS SIM7600 identity: AT+CGSN (IMEI, bare), AT+CIMI (IMSI, bare),
    AT+CICCID -> +ICCID: <iccid>, AT+CGMR, ATI with an IMEI: line; signal,
    attach and APN; unknown command -> ERROR."""
    async def main():
        emu, port, at, reboots = await rig()
        assert await boot_urcs(at, reboots) == [b"+CPIN: READY", b"SMS DONE", b"PB DONE"]
        assert await at.command("ATE0") == []
        ati = await at.command("ATI")
        assert ("IMEI: " + IMEI).encode() in ati
        assert await at.command("AT+CGSN") == [IMEI.encode()]
        assert await at.command("AT+CIMI") == [IMSI.encode()]
        assert await at.command("AT+CICCID", expect="+ICCID:") == [b"+ICCID: " + ICCID.encode()]
        rev = await at.command("AT+CGMR")
        assert len(rev) == 1 and rev[0].startswith(b"+CGMR: ")
        assert await at.command("AT+CSQ") == [b"+CSQ: 23,99"]
        assert await at.command("AT+CGATT?") == [b"+CGATT: 1"]
        assert await at.command('AT+CGDCONT=1,"IP","cmnet"') == []
        assert await at.command("AT+CGDCONT?") == [b'+CGDCONT: 1,"IP","cmnet","0.0.0.0",0,0']
        with pytest.raises(AtError):
            await at.command("AT+NOSUCH")
        await done(emu, at)
    run(main())


def test_registration_n2_forms_quoted_and_unquoted():
    """MODEMS SIM7600 registration: n=2 -> +CREG: 2,<stat>,"<lac>","<ci>"[,<act>];
    the form is unconfirmed, so both quoted/unquoted hex and with/without <AcT>
    are produced on request; AT+CEREG?/AT+CGREG? likewise (stat 1 home, 5 roaming)."""
    async def main():
        emu, port, at, reboots = await rig(lac=0x1A2B, ci=0x0C3D4E5, act=7)
        await boot_urcs(at, reboots)
        assert await at.command("AT+CREG?") == [b"+CREG: 0,1"]
        await at.command("AT+CREG=2")
        assert await at.command("AT+CREG?") == [b'+CREG: 2,1,"1A2B","C3D4E5",7']
        await at.command("AT+CEREG=2")
        assert await at.command("AT+CEREG?") == [b'+CEREG: 2,1,"1A2B","C3D4E5",7']
        assert await at.command("AT+CGREG?") == [b"+CGREG: 0,1"]
        await done(emu, at)

        emu, port, at, reboots = await rig(lac=0x1A2B, ci=0x0C3D4E5, reg_quoted=False,
                                           reg_act=False, roaming=True)
        await boot_urcs(at, reboots)
        await at.command("AT+CREG=2")
        assert await at.command("AT+CREG?") == [b"+CREG: 2,5,1A2B,C3D4E5"]
        await done(emu, at)
    run(main())


# -- SIM: PIN, PUK, counters ----------------------------------------------------------

def test_pin_entry_locks_after_three_wrong_pins_and_puk_unblocks():
    """MODEMS SIM7600 PIN state / PIN enter / attempts left: boot stops at
    +CPIN: SIM PIN; 27.007 9.2 codes: 11 SIM PIN required before the PIN, 16
    incorrect password for each wrong PIN (+SPIC counts down 3, 2, 1, 0), then
    12 SIM PUK required; a wrong PUK costs one of 10; PUK + new PIN unblocks
    and the card reports ready (+CPIN: READY, SMS DONE, PB DONE)."""
    async def main():
        sim = card(pin_enabled=True, pin="4321", puk="87654321")
        emu, port, at, reboots = await rig(sim)
        assert await boot_urcs(at, reboots, n=1) == [b"+CPIN: SIM PIN"]
        assert await urcs(at) == []                      # no SMS DONE before the PIN
        assert await at.command("AT+CPIN?") == [b"+CPIN: SIM PIN"]
        with pytest.raises(CmeError) as e:
            await at.command("AT+CIMI")
        assert e.value.code == 11
        assert await at.command("AT+CICCID") == [b"+ICCID: " + ICCID.encode()]   # no PIN needed
        assert await at.command("AT+SPIC") == [b"+SPIC: 3,10,3,10"]
        with pytest.raises(CmeError) as e:
            await at.command('AT+CPIN="12"')             # malformed: no attempt spent
        assert e.value.code == 50
        for left in (2, 1, 0):
            with pytest.raises(CmeError) as e:
                await at.command('AT+CPIN="0000"')
            assert e.value.code == 16
            assert await at.command("AT+SPIC") == [("+SPIC: %d,10,3,10" % left).encode()]
        assert await at.command("AT+CPIN?") == [b"+CPIN: SIM PUK"]
        with pytest.raises(CmeError) as e:
            await at.command('AT+CPIN="4321"')           # the right PIN is too late now
        assert e.value.code == 12
        with pytest.raises(CmeError) as e:
            await at.command('AT+CPIN="00000000","1111"')
        assert e.value.code == 16
        assert await at.command("AT+SPIC") == [b"+SPIC: 0,9,3,10"]
        assert await at.command('AT+CPIN="87654321","1111"') == []
        assert [u[1] for u in await urcs(at)] == [b"+CPIN: READY", b"SMS DONE", b"PB DONE"]
        assert await at.command("AT+CIMI") == [IMSI.encode()]
        assert await at.command("AT+SPIC") == [b"+SPIC: 3,10,3,10"]
        assert sim.pin_state() == "READY"
        await done(emu, at)
    run(main())


def test_pin_lock_change_and_reboot_asks_for_the_new_pin():
    """MODEMS SIM7600 PIN lock (AT+CLCK="SC",0|1|2) and PIN change
    (AT+CPWD="SC"); 27.007 9.2 code 3 for a change while PIN1 is off; after
    AT+CRESET (MODEMS reset) the card asks for the (new) PIN again."""
    async def main():
        sim = card(pin_enabled=True, pin="1234")
        emu, port, at, reboots = await rig(sim)
        await boot_urcs(at, reboots, n=1)
        await at.command('AT+CPIN="1234"')
        await urcs(at)
        assert await at.command('AT+CLCK="SC",2') == [b"+CLCK: 1"]
        with pytest.raises(CmeError) as e:
            await at.command('AT+CLCK="SC",0,"9999"')
        assert e.value.code == 16
        assert await at.command('AT+CLCK="SC",0,"1234"') == []
        assert await at.command('AT+CLCK="SC",2') == [b"+CLCK: 0"]
        with pytest.raises(CmeError) as e:
            await at.command('AT+CPWD="SC","1234","5678"')
        assert e.value.code == 3
        await at.command('AT+CLCK="SC",1,"1234"')
        assert await at.command('AT+CPWD="SC","1234","5678"') == []
        assert await at.command("AT+SPIC") == [b"+SPIC: 3,10,3,10"]   # the wrong one was reset
        await at.command("AT+CRESET", reboot=True)
        assert await boot_urcs(at, reboots, n=1) == [b"+CPIN: SIM PIN"]
        assert emu.boots == 2
        with pytest.raises(CmeError):
            await at.command('AT+CPIN="1234"')
        assert await at.command('AT+CPIN="5678"') == []
        await done(emu, at)
    run(main())


def test_ten_wrong_puks_block_the_card_and_cme_modes():
    """MODEMS SIM7600 PIN enter: 10 wrong PUKs block the card for good
    (SimulatedSim BLOCKED, reported as 27.007 code 13 SIM failure); AT+CMEE=2
    gives verbose codes, AT+CMEE=0 plain ERROR; the +SPIC field order
    pin1,pin2,puk1,puk2 (unconfirmed) on request."""
    async def main():
        sim = card(pin_enabled=True)
        emu, port, at, reboots = await rig(sim, spic_order="pin1,pin2,puk1,puk2")
        await boot_urcs(at, reboots, n=1)
        with pytest.raises(CmeError):
            await at.command('AT+CPIN="0000"')
        assert await at.command("AT+SPIC") == [b"+SPIC: 2,3,10,10"]
        await at.command("AT+CMEE=2")
        with pytest.raises(CmeError) as e:
            await at.command("AT+CIMI")
        assert e.value.code == "SIM PIN required"
        await at.command("AT+CMEE=0")
        with pytest.raises(AtError):
            await at.command("AT+CIMI")
        await at.command("AT+CMEE=1")
        for _ in range(2):
            with pytest.raises(CmeError):
                await at.command('AT+CPIN="0000"')
        for left in range(9, -1, -1):
            with pytest.raises(CmeError) as e:
                await at.command('AT+CPIN="00000000","1111"')
            assert e.value.code == 16
        assert sim.pin_state() == "BLOCKED"
        with pytest.raises(CmeError) as e:
            await at.command("AT+CPIN?")
        assert e.value.code == 13
        with pytest.raises(CmeError) as e:
            await at.command('AT+CPIN="12345678","1111"')   # even the right PUK
        assert e.value.code == 13
        await done(emu, at)
    run(main())


# -- sockets --------------------------------------------------------------------------

def test_udp_open_send_receive_binary_and_close():
    """MODEMS SIM7600 data service (NETOPEN, NETOPEN?, IPADDR), UDP
    (AT+CIPOPEN=<l>,"UDP",,,<lport> -> +CIPOPEN: <l>,0), send with ip/port
    (> prompt, raw bytes, OK, +CIPSEND: <l>,<req>,<sent>), push-mode receive
    (RECV FROM:<ip>:<port>, +IPD<len>, raw bytes with CR/LF inside), AT+CIPSRIP=0,
    close (+CIPCLOSE: <l>,0).  The datagrams cross real loopback sockets."""
    async def main():
        t, server, sport = await udp_echo_server()
        emu, port, at, reboots = await rig()
        await boot_urcs(at, reboots)
        events = []
        at.on("RECV FROM:", lambda line, extra: events.append(bytes(line)))
        at.on("+IPD", lambda line, extra: events.append(bytes(extra)))
        with pytest.raises(AtError) as e:                # before NETOPEN: err 2
            await at.command('AT+CIPOPEN=1,"UDP",,,8080', final="+CIPOPEN:")
        assert e.value.lines == [b"+CIPOPEN: 1,2"]
        await net_open(at)
        assert await at.command("AT+NETOPEN?") == [b"+NETOPEN: 1"]
        with pytest.raises(AtError) as e:
            await at.command("AT+NETOPEN", final="+NETOPEN:")
        assert e.value.lines == [b"+IP ERROR: Network is already opened"]
        assert await at.command("AT+IPADDR") == [b"+IPADDR: 10.71.34.127"]
        assert await at.command('AT+CIPOPEN=1,"UDP",,,8080', final="+CIPOPEN:") == [b"+CIPOPEN: 1,0"]
        cmd = 'AT+CIPSEND=1,%d,"127.0.0.1",%d' % (len(NASTY), sport)
        assert await at.command_with_prompt(cmd, NASTY, final="+CIPSEND:") == [
            ("+CIPSEND: 1,%d,%d" % (len(NASTY), len(NASTY))).encode()]
        for _ in range(100):
            if len(events) == 2:
                break
            await asyncio.sleep(0.01)
        assert server.got[0][0] == NASTY
        assert events == [("RECV FROM:127.0.0.1:%d" % sport).encode(), NASTY]
        await at.command("AT+CIPSRIP=0")
        await at.command_with_prompt('AT+CIPSEND=1,3,"127.0.0.1",%d' % sport, b"a\r\n",
                                     final="+CIPSEND:")
        for _ in range(100):
            if len(events) == 3:
                break
            await asyncio.sleep(0.01)
        assert events[2:] == [b"a\r\n"]                  # no RECV FROM line this time
        assert await at.command("AT+CIPCLOSE?") == [b"+CIPCLOSE: 0,1,0,0,0,0,0,0,0,0"]
        assert await at.command("AT+CIPCLOSE=1", final="+CIPCLOSE:") == [b"+CIPCLOSE: 1,0"]
        assert emu.open_links() == []
        with pytest.raises(AtError) as e:                # send on a closed link
            await at.command_with_prompt('AT+CIPSEND=1,1,"127.0.0.1",%d' % sport, b"x")
        assert e.value.code == 4
        assert await at.command("AT+NETCLOSE", final="+NETCLOSE:") == [b"+NETCLOSE: 0"]
        await done(emu, at)
        t.close()
    run(main())


def test_udp_buffer_mode_ciprxget():
    """MODEMS SIM7600 receive (buffer mode): AT+CIPRXGET=1, URC +CIPRXGET: 1,<l>,
    AT+CIPRXGET=4 (left), AT+CIPRXGET=2,<l>,<n> -> +CIPRXGET: 2,<l>,<read>,<left>
    followed by the raw bytes."""
    async def main():
        t, server, sport = await udp_echo_server()
        emu, port, at, reboots = await rig()
        await boot_urcs(at, reboots)
        await net_open(at)
        await at.command("AT+CIPRXGET=1")
        await at.command('AT+CIPOPEN=2,"UDP",,,9000', final="+CIPOPEN:")
        await at.command_with_prompt('AT+CIPSEND=2,10,"127.0.0.1",%d' % sport, b"01234\r\n789",
                                     final="+CIPSEND:")
        line, extra = await wait_urc(at, b"+CIPRXGET:")
        assert line == b"+CIPRXGET: 1,2" and extra is None
        assert await at.command("AT+CIPRXGET=4,2") == [b"+CIPRXGET: 4,2,10"]
        assert await at.command("AT+CIPRXGET=2,2,6") == [b"+CIPRXGET: 2,2,6,4", bytearray(b"01234\r")]
        assert await at.command("AT+CIPRXGET=2,2") == [b"+CIPRXGET: 2,2,4,0", bytearray(b"\n789")]
        await done(emu, at)
        t.close()
    run(main())


def test_tcp_open_send_receive_remote_close_and_refused():
    """MODEMS SIM7600 TCP (AT+CIPOPEN=<l>,"TCP","<ip>",<port> -> OK then
    +CIPOPEN: <l>,0), send (AT+CIPSEND=<l>,<len>), push-mode receive of a
    binary echo, URC +IPCLOSE: <l>,1 when the peer closes, <err> 1 (network
    failure) for a refused connection, +CIPERROR: 4 for a link that is not open."""
    async def main():
        got = bytearray()
        closed = asyncio.Event()

        async def handle(r, w):
            while True:
                d = await r.read(4096)
                if not d:
                    break
                got.extend(d)
                if got.endswith(b"bye"):
                    break
                w.write(d)
                await w.drain()
            w.close()
            closed.set()

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        sport = srv.sockets[0].getsockname()[1]
        emu, port, at, reboots = await rig()
        await boot_urcs(at, reboots)
        rx = bytearray()
        at.on("+IPD", lambda line, extra: rx.extend(extra))
        await net_open(at)
        assert await at.command('AT+CIPOPEN=0,"TCP","127.0.0.1",%d' % sport, timeout=5,
                                final="+CIPOPEN:") == [b"+CIPOPEN: 0,0"]
        with pytest.raises(AtError) as e:                # the link is taken
            await at.command('AT+CIPOPEN=0,"TCP","127.0.0.1",%d' % sport, final="+CIPOPEN:")
        assert e.value.lines == [b"+CIPOPEN: 0,4"]
        assert await at.command_with_prompt("AT+CIPSEND=0,%d" % len(NASTY), NASTY,
                                            final="+CIPSEND:") == [
            ("+CIPSEND: 0,%d,%d" % (len(NASTY), len(NASTY))).encode()]
        for _ in range(200):
            if len(rx) >= len(NASTY):
                break
            await asyncio.sleep(0.01)
        assert bytes(rx) == NASTY and bytes(got) == NASTY
        await at.command_with_prompt("AT+CIPSEND=0,3", b"bye", final="+CIPSEND:")
        line, _ = await wait_urc(at, b"+IPCLOSE:")
        assert line == b"+IPCLOSE: 0,1"
        assert emu.open_links() == []
        with pytest.raises(AtError) as e:
            await at.command_with_prompt("AT+CIPSEND=0,1", b"x")
        assert e.value.code == 4
        srv.close()
        await srv.wait_closed()
        lines = await at.command('AT+CIPOPEN=3,"TCP","127.0.0.1",%d' % sport, timeout=5,
                                 final="+CIPOPEN:")
        assert lines == [b"+CIPOPEN: 3,1"]
        await done(emu, at)
    run(main())


# -- SMS -----------------------------------------------------------------------------

def test_sms_send_and_receive_through_the_sms_centre():
    """MODEMS SIM7600 SMS mode/send/receive and PROTOCOL.md 9: AT+CMGF=0,
    AT+CNMI=2,1,0,0,0, AT+CMGS=<tpdu octets> -> '> ', PDU hex, Ctrl-Z ->
    +CMGS: <mr>, OK (echo on: the PDU echo is skipped by the engine); the SMS
    reaches the platform's number from the module's MSISDN through a real SMS
    centre; the platform's answer is stored and announced with +CMTI: "SM",<idx>;
    AT+CMGR=<idx> -> +CMGR: <stat>,,<len> + an SMS-DELIVER PDU (8-bit, TP-DCS 04)
    that wmmp.modem.pdu decodes; AT+CMGD frees the slot."""
    async def main():
        centre = await SmsCentre("127.0.0.1", 0).start()
        platform = await SmsClient("127.0.0.1", centre.port, PLATFORM).connect()
        emu, port, at, reboots = await rig(smsc=("127.0.0.1", centre.port))
        await boot_urcs(at, reboots)
        for _ in range(100):
            if MSISDN in centre.attached():
                break
            await asyncio.sleep(0.01)
        await at.command("AT+CMGF=0")
        await at.command("AT+CNMI=2,1,0,0,0")
        up = b"\x00\x1c\x10\x01" + NASTY[:100]           # any binary message body
        pdu, n = PDU.encode_submit(PLATFORM, up)
        lines = await at.command_with_prompt("AT+CMGS=%d" % n, PDU.to_hex(pdu), timeout=5,
                                             final="+CMGS:", ctrl_z=True)
        assert lines == [b"+CMGS: 0"]
        sender, data = await asyncio.wait_for(platform.recv(), 3)
        assert (sender, data) == (MSISDN, up)
        lines = await at.command_with_prompt("AT+CMGS=%d" % n, PDU.to_hex(pdu), timeout=5,
                                             final="+CMGS:", ctrl_z=True)
        assert lines == [b"+CMGS: 1"]                      # TP-MR counts up
        await asyncio.wait_for(platform.recv(), 3)

        down = b"\x00\x1c\x80\x01\r\n" + bytes(range(120))
        assert await platform.send(MSISDN, down) == "delivered"
        line, _ = await wait_urc(at, b"+CMTI:")
        assert line == b'+CMTI: "SM",0'
        lines = await at.command("AT+CMGR=0")
        assert len(lines) == 2 and lines[0].startswith(b"+CMGR: 0,,")
        tlen = int(lines[0].split(b",")[-1])
        sms = PDU.decode(lines[1].decode(), tpdu_len=tlen)
        assert sms.type == PDU.DELIVER and sms.originator == PLATFORM
        assert sms.dcs == 0x04 and sms.data == down
        assert PDU.is_wmmp(sms, [PLATFORM])
        assert (await at.command("AT+CMGR=0"))[0].startswith(b"+CMGR: 1,,")   # now read
        await platform.send(MSISDN, b"second")
        line, _ = await wait_urc(at, b"+CMTI:")
        assert line == b'+CMTI: "SM",1'
        await at.command("AT+CMGD=0")
        assert await at.command("AT+CMGR=0") == []         # empty slot
        with pytest.raises(CmsError) as e:
            await at.command("AT+CMGR=99")
        assert e.value.code == 321
        deliver, dn = PDU.encode_deliver(PLATFORM, b"x", (2024, 1, 2, 3, 4, 5, 32))
        with pytest.raises(CmsError) as e:                 # not an SMS-SUBMIT
            await at.command_with_prompt("AT+CMGS=%d" % dn, PDU.to_hex(deliver), final="+CMGS:",
                                         ctrl_z=True)
        assert e.value.code == 304
        with pytest.raises(CmsError) as e:                 # length differs from the PDU
            await at.command_with_prompt("AT+CMGS=%d" % (n + 1), PDU.to_hex(pdu), final="+CMGS:",
                                         ctrl_z=True)
        assert e.value.code == 304
        assert [r["from"] for r in centre.log].count(MSISDN) == 2   # neither reached the centre
        await done(emu, at)
        await platform.close()
        await centre.close()
    run(main())


def test_sms_centre_loss_delay_and_direct_delivery():
    """Fault injection through SmsCentre.set_faults (docs/SMSC.md): a lost SMS
    is still acknowledged with +CMGS but never arrives; a delayed one is
    announced only after the delay; AT+CNMI=2,2 gives +CMT: ,<len> + PDU
    (direct delivery, unconfirmed on the SIM7600, MODEMS SIM7600 SMS receive);
    an SMS while out of coverage waits in the network (27.005 331 for sending)."""
    async def main():
        centre = await SmsCentre("127.0.0.1", 0).start()
        platform = await SmsClient("127.0.0.1", centre.port, PLATFORM).connect()
        emu, port, at, reboots = await rig(smsc=("127.0.0.1", centre.port))
        await boot_urcs(at, reboots)
        for _ in range(100):
            if MSISDN in centre.attached():
                break
            await asyncio.sleep(0.01)
        pdu, n = PDU.encode_submit(PLATFORM, b"lost")
        centre.set_faults(loss=1.0)
        assert await at.command_with_prompt("AT+CMGS=%d" % n, PDU.to_hex(pdu), timeout=5,
                                            final="+CMGS:", ctrl_z=True) == [b"+CMGS: 0"]
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(platform.recv(), 0.3)
        assert centre.log[-1]["outcome"] == "lost"

        centre.set_faults(loss=0.0, delay_ms=400)
        t0 = time.monotonic()
        await platform.send(MSISDN, b"late")
        await wait_urc(at, b"+CMTI:")
        assert time.monotonic() - t0 >= 0.35
        centre.set_faults(delay_ms=0)

        await at.command("AT+CNMI=2,2,0,0,0")
        await platform.send(MSISDN, b"direct")
        line, pdu_line = await wait_urc(at, b"+CMT:")
        assert line.startswith(b"+CMT: ,")
        sms = PDU.decode(pdu_line.decode(), tpdu_len=int(line.split(b",")[-1]))
        assert sms.data == b"direct" and sms.originator == PLATFORM
        await at.command("AT+CNMI=2,1,0,0,0")

        emu.set_signal(99)
        with pytest.raises(CmsError) as e:
            await at.command_with_prompt("AT+CMGS=%d" % n, PDU.to_hex(pdu), timeout=5,
                                         final="+CMGS:", ctrl_z=True)
        assert e.value.code == 331
        await platform.send(MSISDN, b"held")
        assert [u for u in await urcs(at, 0.2) if u[0] == b"+CMTI:"] == []
        emu.set_signal(20)
        line, _ = await wait_urc(at, b"+CMTI:")
        idx = int(line.split(b",")[-1])
        sms = PDU.decode((await at.command("AT+CMGR=%d" % idx))[1].decode())
        assert sms.data == b"held"
        await done(emu, at)
        await platform.close()
        await centre.close()
    run(main())


def test_other_commands_in_the_sim7600_format():
    """MODEMS SIM7600 rows not covered above: AT+CIPOPEN? per link, AT+CFUN=0
    (radio off: +CGATT: 0, +COPS: 0) and back, AT+CPSI? / AT+COPS? when
    registered, AT+CPMS? / AT+CSCA? / AT+CMGL=4 in PDU mode, AT+IPR / AT+IPREX /
    AT+CSCLK (accepted), SMS commands before the PIN (27.005 311), text mode
    not emulated (27.005 303), AT+CPOF (silent until the next power-on)."""
    async def main():
        t, server, sport = await udp_echo_server()
        emu, port, at, reboots = await rig(card(pin_enabled=True))
        await boot_urcs(at, reboots, n=1)
        with pytest.raises(CmsError) as e:
            await at.command("AT+CMGR=0")
        assert e.value.code == 311
        await at.command('AT+CPIN="1234"')
        await urcs(at)
        for c in ("AT+IPR=115200", "AT+IPREX=115200", "AT+CSCLK=1", "AT+CMEE=1"):
            assert await at.command(c) == []
        assert await at.command("AT+COPS?") == [b'+COPS: 0,0,"CHINA MOBILE",7']
        cpsi = await at.command("AT+CPSI?")
        assert cpsi[0].startswith(b"+CPSI: LTE,Online,460-00,0x1816,")
        await net_open(at)
        await at.command('AT+CIPOPEN=4,"UDP","127.0.0.1",%d,6000' % sport, final="+CIPOPEN:")
        listing = await at.command("AT+CIPOPEN?")
        assert len(listing) == 10 and listing[0] == b"+CIPOPEN: 0"
        assert listing[4] == ('+CIPOPEN: 4,"UDP","127.0.0.1",%d,-1' % sport).encode()
        # a UDP link opened with a peer sends there without naming it again
        await at.command_with_prompt("AT+CIPSEND=4,2", b"hi", final="+CIPSEND:")
        await wait_urc(at, b"+IPD")
        assert server.got[-1][0] == b"hi"
        assert await at.command("AT+CFUN=0") == []
        assert (await wait_urc(at, b"+CIPEVENT:"))[0] == NETWORK_CLOSED
        assert await at.command("AT+CGATT?") == [b"+CGATT: 0"]
        assert await at.command("AT+COPS?") == [b"+COPS: 0"]
        await at.command("AT+CFUN=1")
        assert await at.command("AT+CGATT?") == [b"+CGATT: 1"]
        assert await at.command("AT+CPMS?") == [b'+CPMS: "SM",0,20,"SM",0,20,"SM",0,20']
        assert await at.command("AT+CSCA?") == [b'+CSCA: "+8613800100500",145']
        assert await at.command("AT+CMGL=4") == []
        await at.command("AT+CMGF=1")
        with pytest.raises(CmsError) as e:
            await at.command("AT+CMGL=4")
        assert e.value.code == 303
        assert await at.command("AT+CPOF") == []
        with pytest.raises(AtTimeout):
            await at.command("AT", timeout=0.2)
        emu.power_on()
        assert await boot_urcs(at, reboots, n=1) == [b"+CPIN: SIM PIN"]
        await done(emu, at)
        t.close()
    run(main())


# -- faults ---------------------------------------------------------------------------

def test_reboot_mid_session_closes_sockets_and_boots_again():
    """issue 5 fault injection "a module reboot" and MODEMS SIM7600 reset: the
    module restarts while a command is in flight (no reply; the engine raises
    AtReboot on RDY), boot URCs come again, the data service and sockets are
    gone (the TCP peer sees the connection end) and the echo is back on."""
    async def main():
        eof = asyncio.Event()

        async def handle(r, w):
            while await r.read(4096):
                pass
            w.close()
            eof.set()

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        sport = srv.sockets[0].getsockname()[1]
        emu, port, at, reboots = await rig(reset_time=0.05)
        await boot_urcs(at, reboots)
        await at.command("ATE0")
        await net_open(at)
        await at.command('AT+CIPOPEN=0,"TCP","127.0.0.1",%d' % sport, timeout=5, final="+CIPOPEN:")
        emu.reboot_on("AT+CSQ")
        with pytest.raises(AtReboot):
            await at.command("AT+CSQ", timeout=3)
        assert [u[1] for u in await urcs(at)] == [b"+CPIN: READY", b"SMS DONE", b"PB DONE"]
        assert reboots == [b"RDY", b"RDY"] and emu.boots == 2
        await asyncio.wait_for(eof.wait(), 3)
        assert await at.command("AT+NETOPEN?") == [b"+NETOPEN: 0"]
        assert await at.command("AT+CIPCLOSE?") == [b"+CIPCLOSE: 0,0,0,0,0,0,0,0,0,0"]
        # AT+CFUN=1,1 reboots too (MODEMS SIM7600 reset), after its OK
        await at.command("AT+CFUN=1,1", reboot=True)
        assert await boot_urcs(at, reboots) == [b"+CPIN: READY", b"SMS DONE", b"PB DONE"]
        # a reboot at a chosen moment from outside
        emu.reboot_after(0.05)
        await until(lambda: emu.boots == 4 and len(reboots) == 4, "the 4th boot's RDY")
        assert reboots[-1] == b"RDY" and emu.boots == 4
        assert await at.command("AT") == []
        await done(emu, at)
        srv.close()
        await srv.wait_closed()
    run(main())


def test_network_outage_gives_cipevent_and_recovery():
    """issue 5 fault injection "network outage" and MODEMS SIM7600 close:
    open sockets die with +CIPEVENT: NETWORK CLOSED UNEXPECTEDLY (the peer sees
    the TCP connection end), +CGATT: 0, sends fail (+CIPERROR: 4); as MODEMS says,
    the driver then asks AT+NETOPEN? (still 1), closes with AT+NETCLOSE and
    reopens: +NETOPEN: 1 (network failure) during the outage, 0 after it."""
    async def main():
        eof = asyncio.Event()

        async def handle(r, w):
            while await r.read(4096):
                pass
            w.close()
            eof.set()

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        sport = srv.sockets[0].getsockname()[1]
        emu, port, at, reboots = await rig()
        await boot_urcs(at, reboots)
        await net_open(at)
        await at.command('AT+CIPOPEN=0,"TCP","127.0.0.1",%d' % sport, timeout=5, final="+CIPOPEN:")
        await at.command('AT+CIPOPEN=1,"UDP",,,7000', final="+CIPOPEN:")
        emu.set_outage(True)
        line, _ = await wait_urc(at, b"+CIPEVENT:")
        assert line == b"+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY"
        await asyncio.wait_for(eof.wait(), 3)
        assert await at.command("AT+CGATT?") == [b"+CGATT: 0"]
        assert await at.command("AT+CSQ") == [b"+CSQ: 23,99"]          # the radio is fine
        with pytest.raises(AtError) as e:
            await at.command_with_prompt("AT+CIPSEND=0,1", b"x")
        assert e.value.code == 4
        assert await at.command("AT+NETOPEN?") == [b"+NETOPEN: 1"]
        assert await at.command("AT+NETCLOSE", final="+NETCLOSE:") == [b"+NETCLOSE: 0"]
        assert await at.command("AT+NETOPEN", final="+NETOPEN:") == [b"+NETOPEN: 1"]
        emu.set_outage(False)
        await net_open(at)
        assert await at.command('AT+CIPOPEN=0,"TCP","127.0.0.1",%d' % sport, timeout=5,
                                final="+CIPOPEN:") == [b"+CIPOPEN: 0,0"]
        await done(emu, at)
        srv.close()
        await srv.wait_closed()
    run(main())


def test_no_signal_loses_registration():
    """issue 5 fault injection "no signal": +CSQ: 99,99, registration URCs
    (+CREG: 2 with n=1, +CEREG: 2 with n=2: searching), +CREG? stat 2,
    +COPS: 0; the signal back re-registers (+CREG: 1)."""
    async def main():
        emu, port, at, reboots = await rig()
        await boot_urcs(at, reboots)
        await at.command("AT+CREG=1")
        await at.command("AT+CEREG=2")
        emu.set_signal(99)
        assert await at.command("AT+CSQ") == [b"+CSQ: 99,99"]
        got = [u[1] for u in await urcs(at)]
        assert got == [b"+CREG: 2", b"+CEREG: 2"]
        assert await at.command("AT+CREG?") == [b"+CREG: 1,2"]
        assert await at.command("AT+COPS?") == [b"+COPS: 0"]
        assert await at.command("AT+CGATT?") == [b"+CGATT: 0"]
        emu.set_signal(18, 0)
        got = [u[1] for u in await urcs(at)]
        assert got == [b"+CREG: 1", b'+CEREG: 1,"1816","AC99201",7']
        assert await at.command("AT+CSQ") == [b"+CSQ: 18,0"]
        await done(emu, at)
    run(main())


def test_sim_swap_at_runtime():
    """issue 5 fault injection "a SIM swap (change IMSI at runtime)" through
    SimulatedSim.swap: the data service is lost (+CIPEVENT), the new card is
    reported (+CPIN: READY, SMS DONE, PB DONE), AT+CIMI / AT+CICCID give the new
    identity; a new card with PIN1 on reports +CPIN: SIM PIN and refuses AT+CIMI
    (27.007 9.2 code 11); a pulled card gives code 10 (SIM not inserted)."""
    async def main():
        emu, port, at, reboots = await rig()
        await boot_urcs(at, reboots)
        await net_open(at)
        emu.swap_sim("460009876543210", "89860098765432109876")
        got = [u[1] for u in await urcs(at)]
        assert got == [NETWORK_CLOSED, b"+CPIN: READY", b"SMS DONE", b"PB DONE"]
        assert await at.command("AT+CIMI") == [b"460009876543210"]
        assert await at.command("AT+CICCID") == [b"+ICCID: 89860098765432109876"]
        assert await at.command("AT+CGSN") == [IMEI.encode()]          # the module's own
        emu.swap_sim("460001111111111", "89860011111111111111", pin="2468", pin_enabled=True)
        assert [u[1] for u in await urcs(at)] == [b"+CPIN: SIM PIN"]
        with pytest.raises(CmeError) as e:
            await at.command("AT+CIMI")
        assert e.value.code == 11
        assert await at.command('AT+CPIN="2468"') == []
        assert await at.command("AT+CIMI") == [b"460001111111111"]
        emu.remove_sim()
        with pytest.raises(CmeError) as e:
            await at.command("AT+CPIN?")
        assert e.value.code == 10
        await done(emu, at)
    run(main())


def test_output_faults_drop_delay_corrupt_and_noise():
    """issue 5 fault injection "dropped or delayed lines, corrupted bytes": a
    dropped OK leaves the engine to time out, a delayed one arrives late, a
    corrupted +CSQ line is not the real one, noise on the line is counted as
    garbage; each time the next command works again."""
    async def main():
        emu, port, at, reboots = await rig()
        await boot_urcs(at, reboots)
        emu.faults.drop(1, prefix="OK")
        with pytest.raises(AtTimeout):
            await at.command("AT", timeout=0.3)
        assert await at.command("AT") == [] and emu.faults.dropped == 1
        emu.faults.delay(0.3, prefix="OK")
        t0 = time.monotonic()
        await at.command("AT")
        assert time.monotonic() - t0 >= 0.28
        emu.faults.corrupt(1, prefix="+CSQ")
        lines = await at.command("AT+CSQ")
        assert lines != [b"+CSQ: 23,99"] and emu.faults.corrupted == 1
        assert await at.command("AT+CSQ") == [b"+CSQ: 23,99"]
        before = at.stats()["garbage"]
        emu.inject(b"\xff\xfe\x00\x80ju\x81nk\r\n")
        await asyncio.sleep(0.05)
        assert await at.command("AT+CSQ") == [b"+CSQ: 23,99"]
        assert at.stats()["garbage"] > before
        emu.faults.set_rates(drop=1.0)
        with pytest.raises(AtTimeout):
            await at.command("AT", timeout=0.2)
        emu.faults.clear()
        assert await at.command("AT") == []
        await done(emu, at)
    run(main())


# -- pseudo-terminal ------------------------------------------------------------------

async def _pty_read_until(fd, token, timeout=3.0):
    buf = b""
    deadline = time.monotonic() + timeout
    while token not in buf:
        assert time.monotonic() < deadline, "waited for %r, got %r" % (token, buf)
        try:
            buf += os.read(fd, 4096)
        except BlockingIOError:
            await asyncio.sleep(0.005)
    return buf


def test_over_a_real_pty_with_os_read_write():
    """issue 5 "attach to a pseudo-terminal": a program opens the slave device
    and talks to the module with os.read/os.write: boot URCs (MODEMS SIM7600
    boot), AT/ATE0/AT+CGSN, and a UDP round trip of a payload with CR/LF,
    Ctrl-Z, Ctrl-C and XON/XOFF bytes, which the raw-mode pty must pass as is
    both ways (MODEMS SIM7600 send / receive)."""
    async def main():
        t, server, sport = await udp_echo_server()
        emu = Sim7600(card(), msisdn=MSISDN)
        pty = PtyPort(emu)
        pty.open()
        fd = os.open(pty.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            await emu.start()
            assert await _pty_read_until(fd, b"PB DONE\r\n") == BOOT_TRANSCRIPT
            os.write(fd, b"AT\r")
            assert await _pty_read_until(fd, b"OK\r\n") == b"AT\r\r\nOK\r\n"
            os.write(fd, b"ATE0\r")
            await _pty_read_until(fd, b"OK\r\n")
            os.write(fd, b"AT+CGSN\r")
            assert await _pty_read_until(fd, b"OK\r\n") == b"\r\n%s\r\n\r\nOK\r\n" % IMEI.encode()
            os.write(fd, b"AT+NETOPEN\r")
            await _pty_read_until(fd, b"+NETOPEN: 0\r\n")
            os.write(fd, b'AT+CIPOPEN=0,"UDP",,,5000\r')
            await _pty_read_until(fd, b"OK\r\n")
            os.write(fd, b'AT+CIPSEND=0,%d,"127.0.0.1",%d\r' % (len(NASTY), sport))
            assert await _pty_read_until(fd, b">") == b"\r\n>"
            os.write(fd, NASTY)
            head = b"\r\nRECV FROM:127.0.0.1:%d\r\n+IPD%d\r\n" % (sport, len(NASTY))
            buf = await _pty_read_until(fd, head)
            deadline = time.monotonic() + 3
            while len(buf) - buf.index(head) - len(head) < len(NASTY):
                assert time.monotonic() < deadline
                try:
                    buf += os.read(fd, 4096)
                except BlockingIOError:
                    await asyncio.sleep(0.005)
            sent = b"\r\nOK\r\n\r\n+CIPSEND: 0,%d,%d\r\n" % (len(NASTY), len(NASTY))
            assert buf == sent + head + NASTY
            assert server.got[0][0] == NASTY
        finally:
            os.close(fd)
            await emu.close()
            pty.close()
            t.close()
    run(main())


def test_wmmp_emu_command_prints_the_pty_path():
    """The `wmmp-emu sim7600 --pty` console script: the first stdout line is
    the pty path; the module answers AT there; SIGUSR1 reboots it (RDY again);
    SIGTERM stops it with status 0; a bad option exits with 2."""
    assert os.access(EMU_BIN, os.X_OK), "run: .venv/bin/pip install --no-deps --no-build-isolation -e ."
    proc = subprocess.Popen([EMU_BIN, "sim7600", "--pty", "--boot-time", "0", "--reg-delay", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/")
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            assert run(_pty_read_until(fd, b"PB DONE\r\n")).endswith(b"PB DONE\r\n")
            os.write(fd, b"AT+CIMI\r")
            assert run(_pty_read_until(fd, b"OK\r\n")) == b"AT+CIMI\r\r\n460001234567890\r\n\r\nOK\r\n"
            proc.send_signal(signal.SIGUSR1)
            assert b"RDY" in run(_pty_read_until(fd, b"PB DONE\r\n"))
        finally:
            os.close(fd)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    res = subprocess.run([EMU_BIN, "sim7600", "--drop-rate", "2"], capture_output=True,
                         text=True, timeout=10)
    assert res.returncode == 2 and "wmmp-emu" in res.stderr
